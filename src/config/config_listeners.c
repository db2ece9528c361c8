#include "config_listeners.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_limits.h"
#include "config_revocation.h"
#include "config_tunnel.h"
#include "config_tls.h"
#include "config_value.h"
#include "base/base.h"

static void parse_route(cg_loader *ld, const yaml_node_t *seq, size_t i, const char *ldesc,
                        const char *lpath, bool has_mapping, cg_listener_cfg *l)
{
    static const char *const keys[] = { "path",    "backend",  "client_cert", "max_request_body",
                                        "upgrade", "timeouts", NULL };
    static const char *const modes[] = { "required", "optional", NULL };
    cg_route *r = &l->routes[i];
    const cg_config *cfg = ld->cfg;
    yaml_node_t *item = cg_yaml_list_item(&ld->y, seq, i), *n;
    const char *path = cg_loader_peek_name(ld, item, "path"), *s;
    cg_map m = { .node = item };

    r->client_cert_required = true;
    if (path) {
        cg_fmt_into(m.where, sizeof m.where, "in route \"%s\" of %s", path, ldesc);
        cg_fmt_into(m.path, sizeof m.path, "%s.routes[%s]", lpath, path);
    } else {
        cg_fmt_into(m.where, sizeof m.where, "in routes[#%zu] of %s", i + 1, ldesc);
        cg_fmt_into(m.path, sizeof m.path, "%s.routes[#%zu]", lpath, i + 1);
    }
    if (!cg_loader_expect_map(ld, item, m.path, keys))
        return;
    cg_yaml_check_keys(&ld->y, m.node, m.where, keys);

    char kp[256];
    cg_got got = cg_loader_get_string(ld, &m, "path", "a path prefix starting with \"/\"", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "path", "a path prefix starting with \"/\"");
    if (got == CG_YAML_SET) {
        cg_yaml_key_path(m.path, "path", kp, sizeof kp);
        char why[512];
        if (s[0] != '/') {
            cg_yaml_error(&ld->y, n, "%s: \"%s\" does not start with \"/\" (expected a path prefix such as "
                          "/ or /api)", kp, s);
        } else if (!cg_target_route_path_ok(s, l->windows_paths ? CG_TARGET_WINDOWS : CG_TARGET_POSIX, why,
                                            sizeof why)) {
            cg_yaml_error(&ld->y, n, "%s: \"%s\" %s (docs/proxy.md, \"Request targets\")", kp, s, why);
        } else {
            for (size_t j = 0; j < i; j++) {
                /* With case_insensitive_paths, "/Admin" and "/admin" are one route. */
                if (l->routes[j].path && (l->case_insensitive_paths ? strcasecmp(l->routes[j].path, s)
                                                                    : strcmp(l->routes[j].path, s)) == 0) {
                    yaml_node_t *first = cg_yaml_map_get(&ld->y, cg_yaml_list_item(&ld->y, seq, j), "path", NULL);
                    cg_yaml_error(&ld->y, n, "duplicate route path \"%s\" in %s (first at line %d, "
                                  "column %d; expected each path once per listener%s)", s, ldesc,
                                  (int)first->start_mark.line + 1, (int)first->start_mark.column + 1,
                                  l->case_insensitive_paths ? ", ignoring case: case_insensitive_paths" : "");
                    break;
                }
            }
            r->path = cg_loader_strdup(ld, s);
            r->path_len = strlen(s);
        }
    }

    got = cg_loader_get_string(ld, &m, "backend", "the name of a backend", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "backend", "the name of a backend");
    if (got == CG_YAML_SET) {
        size_t j = 0;
        while (j < cfg->nbackends && !(cfg->backends[j].name && strcmp(cfg->backends[j].name, s) == 0))
            j++;
        if (j < cfg->nbackends) {
            r->backend = j;
            /* Delegation needs a user to delegate as. */
            if (cfg->backends[j].kerberos && !has_mapping)
                cg_yaml_error(&ld->y, item, "%s: the backend \"%s\" delegates as the mapped user: set mapping "
                              "on %s (a certificate -> Kerberos principal mapping file, see "
                              "docs/mapping.md)", m.path, s, ldesc);
        } else {
            char list[512] = "";
            size_t len = 0;
            for (size_t k = 0; k < cfg->nbackends && len < sizeof list; k++)
                if (cfg->backends[k].name)
                    len += cg_fmt_into(list + len, sizeof list - len, "%s%s", len ? ", " : "",
                                         cfg->backends[k].name);
            cg_yaml_key_path(m.path, "backend", kp, sizeof kp);
            cg_yaml_error(&ld->y, n, "%s: no backend named \"%s\" (%s%s)", kp, s,
                          len ? "defined backends: " : "no backends are defined", list);
        }
    }

    int mode;
    if (cg_loader_get_enum(ld, &m, "client_cert", modes, &mode) == CG_YAML_SET)
        r->client_cert_required = mode == 0;
    cg_config_parse_route_limits(&ld->y, item, m.path, r);
    cg_config_parse_route_tunnel(ld, &m, r);
}

static void parse_routes(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l)
{
    yaml_node_t *seq;
    cg_got got = cg_loader_get_list(ld, lm, "routes", "a list of routes", &seq);
    if (got == CG_YAML_BAD)
        return;
    if (got == CG_YAML_ABSENT || cg_yaml_list_len(seq) == 0) {
        /* Legal, but every request would get 404: almost surely unintended. */
        cg_yaml_warning(&ld->y, got == CG_YAML_ABSENT ? lm->node : seq,
                        "%s has no routes: every request will get 404 (add routes: with path and backend)",
                        ldesc);
        return;
    }
    size_t n = cg_yaml_list_len(seq);
    l->routes = cg_loader_calloc(ld, n, sizeof *l->routes);
    if (!l->routes)
        return;
    l->nroutes = n;
    for (size_t i = 0; i < n; i++)
        parse_route(ld, seq, i, ldesc, lm->path, cg_yaml_map_get(&ld->y, lm->node, "mapping", NULL) != NULL, l);
}

/* Two listeners on one address and port would fail at bind time, or worse,
 * with SO_REUSEPORT, silently share connections. Compared in binary so
 * "::1" and "0::1" are the same. */
static void check_listener_unique(cg_loader *ld, const yaml_node_t *seq, size_t i, const cg_listener_cfg *all,
                                  yaml_node_t *name_node)
{
    const cg_listener_cfg *l = &all[i];
    yaml_node_t *item = cg_yaml_list_item(&ld->y, seq, i);
    for (size_t j = 0; j < i; j++) {
        const cg_listener_cfg *o = &all[j];
        yaml_node_t *oitem = cg_yaml_list_item(&ld->y, seq, j);
        if (name_node && o->name && l->name && strcmp(o->name, l->name) == 0) {
            yaml_node_t *first = cg_yaml_map_get(&ld->y, oitem, "name", NULL);
            first = first ? first : oitem;
            cg_yaml_error(&ld->y, name_node, "duplicate listener name \"%s\" (first at line %d, column %d; "
                          "expected a unique name)", l->name, (int)first->start_mark.line + 1,
                          (int)first->start_mark.column + 1);
        }
        cg_sockaddr_key a, b;
        if (l->address && o->address && l->port && l->port == o->port &&
            cg_value_address_key(l->address, &a) && cg_value_address_key(o->address, &b) &&
            memcmp(&a, &b, sizeof a) == 0) {
            yaml_node_t *at = cg_yaml_map_get(&ld->y, item, "port", NULL);
            yaml_node_t *first = cg_yaml_map_get(&ld->y, oitem, "port", NULL);
            cg_yaml_error(&ld->y, at, "listener \"%s\" uses address %s port %u, already used by listener "
                          "\"%s\" (line %d; expected a different address or port)",
                          l->name ? l->name : "?", l->address, l->port, o->name ? o->name : "?",
                          (int)first->start_mark.line + 1);
        }
    }
}

static bool header_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128 || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

/* strip_request_headers.add / .keep: header names, stored as compared
 * (lower case, '_' as '-'). */
static void parse_header_names(cg_loader *ld, const cg_map *m, const char *key, const char *ldesc, char ***out,
                               size_t *nout)
{
    yaml_node_t *seq;
    char path[256], d[96];
    bool keep = strcmp(key, "keep") == 0;
    if (cg_loader_get_list(ld, m, key, "a list of header names", &seq) != CG_YAML_SET || cg_yaml_list_len(seq) == 0)
        return;
    size_t n = cg_yaml_list_len(seq);
    if (!(*out = cg_loader_calloc(ld, n, sizeof **out)))
        return;
    cg_yaml_key_path(m->path, key, path, sizeof path);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cg_yaml_list_item(&ld->y, seq, i);
        if (it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it) ||
            !header_name_ok(cg_yaml_text(it), cg_yaml_len(it))) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: expected a header name (1 to 128 letters, digits or "
                          "!#$%%&'*+-.^_`|~), got %s", path, i + 1, cg_yaml_describe(it, d, sizeof d));
            continue;
        }
        const char *s = cg_yaml_text(it);
        cg_slice name = { s, cg_yaml_len(it) };
        if (keep && CG_HEADER_NAME_IS(name, "x-arr-clientcert")) {
            /* Kept before certgate could set it; now always removed: a
             * client could put any certificate in it. A warning, not an
             * error, so that such a configuration still loads. */
            cg_yaml_warning(&ld->y, it, "%s[#%zu]: X-ARR-ClientCert is always removed from client requests (a "
                            "client could put any certificate in it); certgate sets it itself with "
                            "forward_client_cert_der: {form: arr}. This entry has no effect", path, i + 1);
            continue;
        }
        if (keep && cg_http_request_header_dropped(name)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: %s is always removed from client requests (hop-by-hop, set by "
                          "certgate itself, or one of certgate's identity headers) and cannot be kept", path,
                          i + 1, s);
            continue;
        }
        if (keep && !cg_http_backend_trusted_header(name)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: %s is not stripped by default, so there is nothing to keep "
                          "(keep takes names of the built-in list in docs/proxy.md, e.g. X-Real-IP)", path, i + 1,
                          s);
            continue;
        }
        if (keep)
            cg_yaml_warning(&ld->y, it, "%s: %s sent by clients now reaches the backends of %s unchecked: a "
                            "client can claim anything in it; keep it only for a backend that does not trust it",
                            path, s, ldesc);
        else if (cg_http_request_header_stripped(name, NULL))
            cg_yaml_warning(&ld->y, it, "%s[#%zu]: %s is stripped by default; listing it changes nothing", path,
                            i + 1, s);
        char *c = cg_loader_strdup(ld, s);
        if (!c)
            return;
        for (char *p = c; *p; p++)
            *p = *p == '_' ? '-' : (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32) : *p;
        (*out)[(*nout)++] = c;
    }
}

/* strip_request_headers: { add: [...], keep: [...] } (docs/proxy.md). */
static void parse_strip_headers(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l)
{
    static const char *const keys[] = { "add", "keep", NULL };
    cg_map m;
    if (!cg_loader_open_section(ld, lm, "strip_request_headers", keys, ldesc, &m))
        return;
    parse_header_names(ld, &m, "add", ldesc, &l->strip_headers, &l->nstrip_headers);
    parse_header_names(ld, &m, "keep", ldesc, &l->keep_headers, &l->nkeep_headers);
}

/* forward_client_cert_der: { form, chain, max_size } (docs/proxy.md, "The
 * certificate for the application"). Absent: off. */
static void parse_forward_der(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l)
{
    static const char *const keys[] = { "form", "chain", "max_size", NULL };
    static const char *const forms[] = { "off", "rfc9440", "arr", "both", NULL };
    char where[192];
    cg_map m;
    l->forward_der = (cg_cert_der_cfg){ .form = CG_CERT_DER_OFF, .max_size = CG_CERT_DER_DEFAULT_MAX_SIZE };
    cg_fmt_into(where, sizeof where, "in forward_client_cert_der of %s", ldesc);
    if (!cg_loader_open_section(ld, lm, "forward_client_cert_der", keys, where, &m))
        return;
    int form = 0;
    cg_got got = cg_loader_get_enum(ld, &m, "form", forms, &form);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "form", "rfc9440 (Client-Cert), arr (X-ARR-ClientCert), both or off");
    l->forward_der.form = (cg_cert_der_form)form;
    cg_got chain = cg_yaml_get_bool(&ld->y, m.node, m.path, "chain", &l->forward_der.chain);
    cg_loader_get_size(ld, &m, "max_size", CG_CERT_DER_MIN_SIZE, CG_CERT_DER_MAX_SIZE, &l->forward_der.max_size);
    if (got == CG_YAML_SET && chain == CG_YAML_SET && l->forward_der.chain &&
        (l->forward_der.form == CG_CERT_DER_ARR || l->forward_der.form == CG_CERT_DER_OFF)) {
        char path[256];
        cg_yaml_key_path(m.path, "chain", path, sizeof path);
        cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m.node, "chain", NULL),
                      "%s: true needs form: rfc9440 or both (the chain is sent as Client-Cert-Chain; "
                      "X-ARR-ClientCert carries the client's certificate only)", path);
    }
}

static void parse_listener_proxy_protocol(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l)
{
    static const char *const keys[] = { "trusted", "direct_clients", NULL };
    static const char *const direct[] = { "refuse", "allow", NULL };
    char where[192];
    cg_map m;
    cg_fmt_into(where, sizeof where, "in proxy_protocol of %s", ldesc);
    if (!cg_loader_open_section(ld, lm, "proxy_protocol", keys, where, &m))
        return;
    l->proxy_protocol.enabled = true;
    cg_got got = cg_loader_get_networks(ld, &m, "trusted",
                                        "any client may send a PROXY header and claim any address (logs, "
                                        "X-Forwarded-For, per-address limits); list the balancers' addresses",
                                        &l->proxy_protocol.trusted, &l->proxy_protocol.ntrusted);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "trusted", "the load balancers' networks, such as [10.0.1.0/24]");
    else if (got == CG_YAML_SET && l->proxy_protocol.ntrusted == 0) {
        char path[256];
        cg_yaml_key_path(m.path, "trusted", path, sizeof path);
        cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m.node, "trusted", NULL),
                      "%s: the list is empty (expected the load balancers' networks, such as [10.0.1.0/24])", path);
    }
    int d;
    if (cg_loader_get_enum(ld, &m, "direct_clients", direct, &d) == CG_YAML_SET)
        l->proxy_protocol.allow_direct = d == 1;
}

static void parse_listener(cg_loader *ld, const yaml_node_t *seq, size_t i, const cg_map *m, void *items)
{
    cg_listener_cfg *all = items, *l = &all[i];
    yaml_node_t *item = m->node, *n, *name_node = NULL;
    const char *s;
    char ldesc[160];

    l->client_ca_names = true;
    l->require_client_auth_eku = true;
    l->session_tickets = true;
    l->session_ticket_lifetime_s = 3600;
    l->max_chain_depth = 6;
    l->max_client_certificates = CG_CHAIN_DEFAULT_MAX_CERTIFICATES;
    l->revocation.mode = CG_REVOCATION_FETCH;
    l->case_insensitive_paths = true; /* the backends are IIS */
    l->windows_paths = true;
    /* "listener \"main\"" or "listeners[#2]": m->where without its "in ". */
    cg_fmt_into(ldesc, sizeof ldesc, "%s", m->where + 3);

    if (cg_loader_get_string(ld, m, "name", "a name for logs", &n, &s) == CG_YAML_SET) {
        l->name = cg_loader_strdup(ld, s);
        name_node = n;
    }

    cg_sockaddr_key key;
    cg_got got = cg_loader_get_string(ld, m, "address", "a numeric IPv4 or IPv6 address", &n, &s);
    if (got == CG_YAML_ABSENT)
        s = "0.0.0.0";
    if (got == CG_YAML_SET && !cg_value_address_key(s, &key)) {
        char kp[256];
        cg_yaml_key_path(m->path, "address", kp, sizeof kp);
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a numeric IPv4 or IPv6 address (expected e.g. 0.0.0.0, "
                      "127.0.0.1, :: or ::1, without brackets; host names are not resolved)", kp, s);
    } else if (got != CG_YAML_BAD) {
        l->address = cg_loader_strdup(ld, s);
    }

    uint32_t port = 0;
    got = cg_loader_get_uint(ld, m, "port", 1, 65535, &port);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, m, "port", "the TCP port to listen on, 1 to 65535");
    l->port = (uint16_t)port;

    /* Unnamed listeners are called by what they listen on. */
    if (!cg_yaml_map_get(&ld->y, item, "name", NULL) && l->address && l->port) {
        char def[96];
        bool v6 = strchr(l->address, ':') != NULL;
        cg_fmt_into(def, sizeof def, "%s%s%s:%u", v6 ? "[" : "", l->address, v6 ? "]" : "", l->port);
        l->name = cg_loader_strdup(ld, def);
    }

    cg_config_parse_tls(ld, m, ldesc, l);
    cg_config_parse_listener_revocation(ld, m, ldesc, l);
    /* Loaded (and opened) after the whole file validated: see load_mappings. */
    cg_loader_get_path(ld, m, "mapping", &l->mapping_file, &l->mapping_pos);
    cg_yaml_get_bool(&ld->y, m->node, m->path, "forward_client_cert", &l->forward_client_cert);
    parse_forward_der(ld, m, ldesc, l);
    /* Routes compare with it. */
    cg_yaml_get_bool(&ld->y, m->node, m->path, "case_insensitive_paths", &l->case_insensitive_paths);
    /* Route paths are checked with it. */
    cg_yaml_get_bool(&ld->y, m->node, m->path, "windows_paths", &l->windows_paths);
    /* HTTP/2 over TLS only (ALPN h2, tls.c); clients that do not ask keep HTTP/1.1. */
    cg_yaml_get_bool(&ld->y, m->node, m->path, "http2", &l->http2);
    parse_strip_headers(ld, m, ldesc, l);
    parse_listener_proxy_protocol(ld, m, ldesc, l);
    cg_config_parse_listener_limits(&ld->y, item, m->path, l);
    parse_routes(ld, m, ldesc, l);
    check_listener_unique(ld, seq, i, all, name_node);
}

void cg_config_parse_listeners(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "name", "address", "port", "tls", "revocation", "mapping",
                                        "forward_client_cert", "forward_client_cert_der", "case_insensitive_paths", "windows_paths", "http2",
                                        "strip_request_headers", "routes", "proxy_protocol", "max_request_body",
                                        "rate_limit", NULL };
    static const cg_loader_list list = {
        .key = "listeners",
        .noun = "listener",
        .expect = "a list of listeners",
        .missing = "a list of listeners, each with port, tls and routes",
        .keys = keys,
        .item_size = sizeof(cg_listener_cfg),
        .parse_item = parse_listener,
    };
    ld->cfg->listeners = cg_loader_parse_list(ld, root, &list, &ld->cfg->nlisteners);
}
