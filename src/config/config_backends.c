#include "config_backends.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "config_kerberos.h"
#include "config_value.h"

#define CG_MAX_IDLE_MAX           1024u
/* Open connections per backend, process-wide (idle and busy). The default
 * stays under what a stock Apache serves at once (MaxRequestWorkers: 150
 * with mpm_event and mpm_worker, 256 with prefork); IIS has no such limit. */
#define CG_MAX_CONNECTIONS_DEFAULT 128u
#define CG_MAX_CONNECTIONS_MAX     65535u

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

/* Splits "http[s]://host[:port][/]" into b->host, b->port and b->https.
 * Returns NULL or what is wrong, to follow "<path>: " in a message. */
static const char *split_url(cg_loader *ld, const char *url, cg_backend_cfg *b, char *why, size_t cap)
{
    static const char expect[] = "expected http://host[:port] or https://host[:port], e.g. http://127.0.0.1:8080";
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0) {
        skip = 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        skip = 8;
        b->https = true;
    } else {
        if (strstr(url, "://"))
            cg_fmt_into(why, cap, "unsupported scheme \"%.*s\" (%s)", (int)(strstr(url, "://") - url), url, expect);
        else
            cg_fmt_into(why, cap, "\"%s\" is not a URL (%s)", url, expect);
        return why;
    }
    const char *auth = url + skip;
    size_t alen = strcspn(auth, "/?#");
    const char *aend = auth + alen, *rest = aend;
    /* A lone "/" is the empty path spelled out (RFC 3986 6.2.3). */
    if (rest[0] == '/' && rest[1] == '\0')
        rest++;
    if (rest[0] == '/') {
        cg_fmt_into(why, cap, "has a path \"%s\"; requests are forwarded with their own path, so a "
                      "backend URL cannot have one (%s)", rest, expect);
        return why;
    }
    if (rest[0] == '?' || rest[0] == '#') {
        cg_fmt_into(why, cap, "has a %s \"%s\", which is not supported (%s)",
                      rest[0] == '?' ? "query" : "fragment", rest, expect);
        return why;
    }
    if (memchr(auth, '@', alen)) {
        cg_fmt_into(why, cap, "has user information (user@); credentials in backend URLs are not "
                      "supported (%s)", expect);
        return why;
    }

    const char *host = auth, *hend, *p;
    if (auth[0] == '[') {
        hend = memchr(auth, ']', alen);
        if (!hend) {
            cg_fmt_into(why, cap, "has \"[\" without \"]\" (%s; IPv6 as http://[::1]:8080)", expect);
            return why;
        }
        host = auth + 1;
        p = hend + 1;
    } else {
        hend = auth + strcspn(auth, ":/?#");
        p = hend;
        if (*p == ':' && memchr(p + 1, ':', (size_t)(aend - p - 1))) {
            cg_fmt_into(why, cap, "IPv6 addresses must be in brackets (%s; IPv6 as http://[::1]:8080)", expect);
            return why;
        }
    }
    size_t hlen = (size_t)(hend - host);
    char hostbuf[256];
    if (hlen == 0 || hlen >= sizeof hostbuf) {
        cg_fmt_into(why, cap, "has %s host (%s)", hlen ? "an overlong" : "no", expect);
        return why;
    }
    memcpy(hostbuf, host, hlen);
    hostbuf[hlen] = '\0';
    if (auth[0] == '[') {
        unsigned char a6[16];
        if (inet_pton(AF_INET6, hostbuf, a6) != 1) {
            cg_fmt_into(why, cap, "\"[%s]\" is not an IPv6 address (%s)", hostbuf, expect);
            return why;
        }
    } else {
        for (size_t i = 0; i < hlen; i++) {
            if (!host_char_ok(hostbuf[i])) {
                cg_fmt_into(why, cap, "\"%s\" is not a host name or IPv4 address (%s)", hostbuf, expect);
                return why;
            }
        }
    }

    uint32_t port = b->https ? 443 : 80;
    if (p < aend) {
        uint64_t v;
        char portbuf[16];
        size_t plen = (size_t)(aend - p - 1);
        if (*p != ':' || plen == 0 || plen >= sizeof portbuf) {
            cg_fmt_into(why, cap, "has an invalid port (%s)", expect);
            return why;
        }
        memcpy(portbuf, p + 1, plen);
        portbuf[plen] = '\0';
        if (cg_value_parse_uint(portbuf, &v) != CG_NUM_OK || v < 1 || v > 65535) {
            cg_fmt_into(why, cap, "port \"%s\" is not a number from 1 to 65535 (%s)", portbuf, expect);
            return why;
        }
        port = (uint32_t)v;
    }

    b->host = cg_loader_strdup(ld, hostbuf);
    b->port = (uint16_t)port;
    char hh[300];
    const char *lb = auth[0] == '[' ? "[" : "", *rb = auth[0] == '[' ? "]" : "";
    if (port == (b->https ? 443u : 80u))
        cg_fmt_into(hh, sizeof hh, "%s%s%s", lb, hostbuf, rb);
    else
        cg_fmt_into(hh, sizeof hh, "%s%s%s:%u", lb, hostbuf, rb, port);
    b->host_header = cg_loader_strdup(ld, hh);
    return NULL;
}

static cg_pos pos_of(const yaml_node_t *n)
{
    return (cg_pos){ (int)n->start_mark.line + 1, (int)n->start_mark.column + 1 };
}

/* A server_name: a DNS name (letters, digits, '-', '.'), or an address. */
static bool server_name_ok(const char *s)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
        return true;
    size_t n = strlen(s);
    if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

/* backends[].tls: how certgate verifies an https backend (its CA, the name)
 * and what it presents to it. The files are opened after the parse
 * (cg_config_load_backend_tls), once per snapshot. */
static void parse_backend_tls(cg_loader *ld, const cg_map *bm, cg_backend_cfg *b)
{
    static const char *const keys[] = { "ca_file", "ca", "server_name", "client_certificate", "client_key",
                                        "min_version", NULL };
    static const char *const ca_values[] = { "system", NULL };
    static const char *const versions[] = { "1.2", "1.3", NULL };
    char path[256];
    yaml_node_t *tn = cg_yaml_map_get(&ld->y, bm->node, "tls", NULL);
    b->tls_min_version = 12;
    if (!tn) {
        if (b->https) {
            yaml_node_t *un = cg_yaml_map_get(&ld->y, bm->node, "url", NULL);
            cg_yaml_key_path(bm->path, "url", path, sizeof path);
            cg_yaml_error(&ld->y, un, "%s: an https backend needs a tls section saying which CAs to trust "
                          "(tls: {ca_file: /path/to/backend-ca.pem} or tls: {ca: system})", path);
        }
        return;
    }
    b->tls_pos = pos_of(tn);
    cg_yaml_key_path(bm->path, "tls", path, sizeof path);
    if (!b->https && b->url) {
        cg_yaml_error(&ld->y, tn, "%s: the backend's url \"%s\" is http://; tls applies only to https:// "
                      "backends (change the url to https://, or remove tls)", path, b->url);
        return;
    }
    char where[192];
    cg_map m;
    cg_fmt_into(where, sizeof where, "in tls of backend \"%s\"", b->name ? b->name : "?");
    if (!cg_loader_open_section(ld, bm, "tls", keys, where, &m))
        return;

    bool have_file = cg_loader_get_path(ld, &m, "ca_file", &b->tls_ca_file, &b->tls_ca_pos) == CG_YAML_SET;
    int ca;
    if (cg_loader_get_enum(ld, &m, "ca", ca_values, &ca) == CG_YAML_SET) {
        yaml_node_t *cn = cg_yaml_map_get(&ld->y, m.node, "ca", NULL);
        if (have_file) {
            cg_yaml_error(&ld->y, cn, "%s.ca: set either ca_file or ca: system, not both", path);
        } else {
            b->tls_ca_system = true;
            b->tls_ca_file = cg_loader_strdup(ld, CG_SYSTEM_CA_FILE);
            b->tls_ca_pos = pos_of(cn);
        }
    } else if (!have_file && !cg_yaml_map_get(&ld->y, m.node, "ca", NULL)) {
        cg_loader_missing(ld, &m, "ca_file", "the PEM bundle of the CAs that issue the backend's certificate "
                          "(or ca: system for the system's trusted CAs)");
    }

    const char *s;
    yaml_node_t *n;
    if (cg_loader_get_string(ld, &m, "server_name", "the backend's host name", &n, &s) == CG_YAML_SET) {
        if (!server_name_ok(s))
            cg_yaml_error(&ld->y, n, "%s.server_name: \"%s\" is not a host name or address (expected the name "
                          "in the backend's certificate, e.g. app.example.com)", path, s);
        else
            b->tls_server_name = cg_loader_strdup(ld, s);
    }

    bool have_cert = cg_loader_get_path(ld, &m, "client_certificate", &b->tls_cert_file, &b->tls_cert_pos) ==
                     CG_YAML_SET;
    bool have_key = cg_loader_get_path(ld, &m, "client_key", &b->tls_key_file, &b->tls_key_pos) == CG_YAML_SET;
    if (have_cert && !have_key)
        cg_loader_missing(ld, &m, "client_key", "the private key of client_certificate (PEM, unencrypted)");
    if (have_key && !have_cert)
        cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m.node, "client_key", NULL),
                      "%s.client_key: set client_certificate too (the key is used only with its certificate)",
                      path);

    int v;
    if (cg_loader_get_enum(ld, &m, "min_version", versions, &v) == CG_YAML_SET)
        b->tls_min_version = v == 0 ? 12 : 13;
}

static void parse_backend(cg_loader *ld, const yaml_node_t *seq, size_t i, const cg_map *m, void *items)
{
    cg_backend_cfg *all = items, *b = &all[i];
    yaml_node_t *n;
    const char *s;

    b->max_idle = 32;
    b->max_connections = CG_MAX_CONNECTIONS_DEFAULT;
    cg_got got = cg_loader_get_string(ld, m, "name", "a name that routes refer to", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, m, "name", "a name that routes refer to");
    if (got == CG_YAML_SET) {
        for (size_t j = 0; j < i; j++) {
            if (all[j].name && strcmp(all[j].name, s) == 0) {
                yaml_node_t *first = cg_yaml_map_get(&ld->y, cg_yaml_list_item(&ld->y, seq, j), "name", NULL);
                cg_yaml_error(&ld->y, n, "duplicate backend name \"%s\" (first at line %d, column %d; "
                              "expected a unique name)", s, (int)first->start_mark.line + 1,
                              (int)first->start_mark.column + 1);
                break;
            }
        }
        b->name = cg_loader_strdup(ld, s);
    }

    got = cg_loader_get_string(ld, m, "url", "http://host[:port]", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, m, "url", "http://host[:port], e.g. http://127.0.0.1:8080");
    if (got == CG_YAML_SET) {
        char why[512], path[256];
        b->url = cg_loader_strdup(ld, s);
        if (split_url(ld, s, b, why, sizeof why)) {
            cg_yaml_key_path(m->path, "url", path, sizeof path);
            cg_yaml_error(&ld->y, n, "%s: %s", path, why);
        }
    }

    cg_loader_get_uint(ld, m, "max_idle", 0, CG_MAX_IDLE_MAX, &b->max_idle);
    cg_loader_get_uint(ld, m, "max_connections", 1, CG_MAX_CONNECTIONS_MAX, &b->max_connections);
    cg_config_parse_backend_kerberos(ld, m, b);
    parse_backend_tls(ld, m, b);
}

void cg_config_parse_backends(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "name", "url", "max_idle", "max_connections", "kerberos", "tls", NULL };
    static const cg_loader_list list = {
        .key = "backends",
        .noun = "backend",
        .expect = "a list of backends",
        .missing = "a list of backends, each with name and url",
        .keys = keys,
        .item_size = sizeof(cg_backend_cfg),
        .parse_item = parse_backend,
    };
    ld->cfg->backends = cg_loader_parse_list(ld, root, &list, &ld->cfg->nbackends);
}

bool cg_config_load_backend_tls(cg_config *cfg, cg_diag *diag)
{
    bool ok = true;
    for (size_t i = 0; i < cfg->nbackends; i++) {
        cg_backend_cfg *b = &cfg->backends[i];
        if (!b->https)
            continue;
        size_t errors = diag->errors;
        b->tls = cg_loader_builders(cfg)->backend_tls_new(b, cfg->workers, cfg->file, diag);
        if (!b->tls) {
            ok = false;
            if (diag->errors == errors) /* keep the promise of "NULL with at least one error" */
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, b->tls_pos.line, b->tls_pos.column,
                            "backend \"%s\": TLS client setup failed", b->name);
        }
    }
    return ok;
}
