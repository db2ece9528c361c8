#include "config_sections.h"

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_value.h"
#include "base/base.h"

#define CG_WORKERS_MAX            1024u
#define CG_MAX_CONNECTIONS_MAX    1000000u
#define CG_REQUEST_HEAD_MIN       1024u
#define CG_REQUEST_HEAD_MAX       (1024u * 1024u)
#define CG_HEADER_LINE_MIN        256u
#define CG_HEADER_LINE_MAX        (1024u * 1024u)
#define CG_HEADERS_MAX            10000u
#define CG_RESPONSE_HEAD_MIN      1024u
#define CG_RESPONSE_HEAD_MAX      (1024u * 1024u)

void cg_config_parse_workers(cg_loader *ld, const cg_map *root)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, root->node, "workers", NULL);
    if (!n)
        return;
    if (cg_yaml_scalar_is(n, "auto")) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ld->cfg->workers = cpus < 1 ? 1 : cpus > (long)CG_WORKERS_MAX ? CG_WORKERS_MAX : (uint32_t)cpus;
        return;
    }
    uint64_t v = 0;
    char d[96];
    cg_num r = CG_NUM_SYNTAX;
    if (n->type == YAML_SCALAR_NODE && strlen(cg_yaml_text(n)) == n->data.scalar.length)
        r = cg_value_parse_uint(cg_yaml_text(n), &v);
    if (r == CG_NUM_SYNTAX) {
        cg_yaml_error(&ld->y, n, "workers: expected a whole number from 1 to %u or auto, got %s",
                      CG_WORKERS_MAX, cg_yaml_describe(n, d, sizeof d));
        return;
    }
    if (r == CG_NUM_RANGE || v < 1 || v > CG_WORKERS_MAX) {
        cg_yaml_error(&ld->y, n, "workers: %s is out of range (expected 1 to %u, or auto for one per CPU)",
                      cg_yaml_text(n), CG_WORKERS_MAX);
        return;
    }
    ld->cfg->workers = (uint32_t)v;
}

void cg_config_parse_logging(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "level", "file", "format", "log_query", NULL };
    static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
    static const char *const formats[] = { "logfmt", "json", NULL };
    cg_map m;
    if (!cg_loader_open_section(ld, root, "logging", keys, "in logging", &m))
        return;

    int level;
    if (cg_loader_get_enum(ld, &m, "level", levels, &level) == CG_YAML_SET)
        ld->cfg->log_level = (cg_log_level)level;
    int format;
    if (cg_loader_get_enum(ld, &m, "format", formats, &format) == CG_YAML_SET)
        ld->cfg->log_format = (cg_log_format)format;
    cg_yaml_get_bool(&ld->y, m.node, m.path, "log_query", &ld->cfg->log_query);

    yaml_node_t *n;
    const char *s;
    if (cg_loader_get_string(ld, &m, "file", "\"stderr\" or a file path", &n, &s) == CG_YAML_SET &&
        strcmp(s, "stderr") != 0)
        ld->cfg->log_file = cg_loader_resolve_path(ld, s);
}

void cg_config_parse_limits(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "max_connections", "max_request_head", "max_header_line",
                                        "max_headers", "max_response_head",
                                        "max_requests_per_connection", "max_handshakes_per_address",
                                        "max_connections_per_address", "per_address_ipv6_prefix", NULL };
    cg_limits *lim = &ld->cfg->limits;
    cg_map m;
    if (!cg_loader_open_section(ld, root, "limits", keys, "in limits", &m))
        return;

    cg_loader_get_uint(ld, &m, "max_connections", 1, CG_MAX_CONNECTIONS_MAX, &lim->max_connections);
    cg_got head = cg_loader_get_size(ld, &m, "max_request_head", CG_REQUEST_HEAD_MIN, CG_REQUEST_HEAD_MAX,
                                     &lim->max_request_head);
    cg_got line = cg_loader_get_size(ld, &m, "max_header_line", CG_HEADER_LINE_MIN, CG_HEADER_LINE_MAX,
                                     &lim->max_header_line);
    cg_loader_get_uint(ld, &m, "max_headers", 1, CG_HEADERS_MAX, &lim->max_headers);
    cg_loader_get_size(ld, &m, "max_response_head", CG_RESPONSE_HEAD_MIN, CG_RESPONSE_HEAD_MAX,
                       &lim->max_response_head);
    cg_loader_get_uint(ld, &m, "max_requests_per_connection", 0, UINT32_MAX,
                       &lim->max_requests_per_connection);
    cg_loader_get_uint(ld, &m, "max_handshakes_per_address", 0, CG_MAX_CONNECTIONS_MAX,
                       &lim->max_handshakes_per_address);
    cg_loader_get_uint(ld, &m, "max_connections_per_address", 0, CG_MAX_CONNECTIONS_MAX,
                       &lim->max_connections_per_address);
    cg_loader_get_uint(ld, &m, "per_address_ipv6_prefix", 16, 128, &lim->per_address_ipv6_prefix);

    /* A line longer than the whole head could never be reached: the limit
     * meant is probably the other one. Only compare values that parsed. */
    if (head != CG_YAML_BAD && line != CG_YAML_BAD && lim->max_header_line > lim->max_request_head) {
        char a[32], b[32];
        yaml_node_t *at =
            cg_yaml_map_get(&ld->y, m.node, line == CG_YAML_SET ? "max_header_line" : "max_request_head", NULL);
        cg_yaml_error(&ld->y, at, "limits.max_header_line (%s) is larger than limits.max_request_head (%s); "
                      "a header line is part of the request head (expected max_header_line <= "
                      "max_request_head)", cg_value_fmt_size(lim->max_header_line, a, sizeof a),
                      cg_value_fmt_size(lim->max_request_head, b, sizeof b));
    }
}

void cg_config_parse_timeouts(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "handshake", "request_header", "client_body",
                                        "keepalive_idle", "backend_connect", "backend_response",
                                        "backend_idle", "shutdown", "tunnel_idle", NULL };
    cg_timeouts *t = &ld->cfg->timeouts;
    uint32_t *fields[] = { &t->handshake, &t->request_header, &t->client_body, &t->keepalive_idle,
                           &t->backend_connect, &t->backend_response, &t->backend_idle,
                           &t->shutdown, &t->tunnel_idle };
    cg_map m;
    if (!cg_loader_open_section(ld, root, "timeouts", keys, "in timeouts", &m))
        return;
    /* 0 would time out at once; over a day is a typo, not a timeout. */
    for (size_t i = 0; keys[i]; i++)
        cg_loader_get_duration(ld, &m, keys[i], 1, CG_TIMEOUT_MAX_MS, fields[i]);
}

/* Printable text only: the line is shown on every page. */
static bool support_text_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* "400, 431, 408, 403, 403.7, ...": every key a template can have, from
 * error.c's table. */
static void template_keys(char *out, size_t cap)
{
    char seen[2 * CG_REFUSE_KIND_COUNT][16];
    size_t nseen = 0, n = 0;
    out[0] = '\0';
    for (int k = CG_REFUSE_BAD_REQUEST; k < CG_REFUSE_KIND_COUNT; k++) {
        char forms[2][16];
        snprintf(forms[0], sizeof forms[0], "%d", cg_refusal_status(k));
        cg_refusal_status_text(k, forms[1], sizeof forms[1]);
        for (int f = 0; f < 2; f++) {
            bool dup = false;
            for (size_t i = 0; i < nseen && !dup; i++)
                dup = strcmp(seen[i], forms[f]) == 0;
            if (dup)
                continue;
            memcpy(seen[nseen++], forms[f], sizeof forms[f]);
            if (n < cap)
                n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", forms[f]);
        }
    }
}

/* errors.templates: {403.7: file, 403: file, default: file}. The files are
 * read after the parse (load_error_templates), positions kept for it. */
static void parse_error_templates(cg_loader *ld, const cg_map *m)
{
    yaml_node_t *map = cg_yaml_map_get(&ld->y, m->node, "templates", NULL);
    char d[96], list[512];
    if (!map)
        return;
    if (map->type != YAML_MAPPING_NODE) {
        cg_yaml_error(&ld->y, map, "errors.templates: expected a mapping such as {403: /etc/certgate/pages/403.html, "
                      "default: /etc/certgate/pages/error.html}, got %s", cg_yaml_describe(map, d, sizeof d));
        return;
    }
    size_t count = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    cg_errors_cfg *e = &ld->cfg->errors;
    if (!(e->templates = cg_loader_calloc(ld, count, sizeof *e->templates)))
        return;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cg_yaml_node(&ld->y, p->key), *v = cg_yaml_node(&ld->y, p->value);
        const char *key = k->type == YAML_SCALAR_NODE && !cg_yaml_is_null(k) ? cg_yaml_text(k) : NULL;
        bool applies = false;
        for (int kind = CG_REFUSE_BAD_REQUEST; key && kind < CG_REFUSE_KIND_COUNT; kind++)
            applies |= cg_error_template_match(key, kind) > 0;
        if (!applies) {
            template_keys(list, sizeof list);
            cg_yaml_error(&ld->y, k, "errors.templates: %s is not a status certgate refuses with (expected default "
                          "or one of: %s)", cg_yaml_describe(k, d, sizeof d), list);
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < e->ntemplates && !dup; i++)
            dup = strcmp(e->templates[i].key, key) == 0;
        if (dup) {
            cg_yaml_error(&ld->y, k, "errors.templates: duplicate key \"%s\"", key);
            continue;
        }
        if (v->type != YAML_SCALAR_NODE || cg_yaml_is_null(v) || cg_yaml_len(v) == 0 ||
            strlen(cg_yaml_text(v)) != cg_yaml_len(v)) {
            cg_yaml_error(&ld->y, v, "errors.templates.%s: expected the path of an HTML file, got %s", key,
                          cg_yaml_describe(v, d, sizeof d));
            continue;
        }
        cg_error_template_cfg *t = &e->templates[e->ntemplates++];
        t->key = cg_loader_strdup(ld, key);
        t->path = cg_loader_resolve_path(ld, cg_yaml_text(v));
        t->pos = (cg_pos){ (int)v->start_mark.line + 1, (int)v->start_mark.column + 1 };
    }
}

void cg_config_parse_errors(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "detail", "operator_networks", "support", "templates", NULL };
    static const char *const levels[] = { "user", "operator", NULL };
    cg_errors_cfg *e = &ld->cfg->errors;
    cg_map m;
    if (!cg_loader_open_section(ld, root, "errors", keys, "in errors", &m))
        return;

    int level;
    if (cg_loader_get_enum(ld, &m, "detail", levels, &level) == CG_YAML_SET) {
        e->operator_detail = level == 1;
        if (e->operator_detail)
            cg_yaml_warning(&ld->y, cg_yaml_map_get(&ld->y, m.node, "detail", NULL),
                            "errors.detail: operator shows every client the operator sentence of its refusal "
                            "(file paths, mapping rules, backend names and addresses, account names); use it "
                            "only while diagnosing, or list the admins' networks in errors.operator_networks");
    }

    yaml_node_t *n;
    const char *s;
    if (cg_loader_get_string(ld, &m, "support", "a line of text such as \"Call the IT help desk at 555-0100\"", &n,
                             &s) == CG_YAML_SET) {
        if (strlen(s) > CG_ERROR_SUPPORT_MAX)
            cg_yaml_error(&ld->y, n, "errors.support: %zu bytes is too long (expected at most %u)", strlen(s),
                          CG_ERROR_SUPPORT_MAX);
        else if (!support_text_ok(s))
            cg_yaml_error(&ld->y, n, "errors.support: contains a line break or control character (expected one "
                          "line of text)");
        else
            e->support = cg_loader_strdup(ld, s);
    }
    parse_error_templates(ld, &m);

    cg_loader_get_networks(ld, &m, "operator_networks",
                           "every client sees the operator sentence (as with errors.detail: operator)",
                           &e->operator_networks, &e->noperator_networks);
}

/* Looked up at load so a typo is a load error with its position rather than
 * a failure after binding. The ids are kept: the drop uses these. */
void cg_config_parse_process(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "user", "group", "allow_root", "pid_file", NULL };
    cg_process_cfg *p = &ld->cfg->process;
    cg_map m;
    if (!cg_loader_open_section(ld, root, "process", keys, "in process", &m))
        return;
    cg_yaml_get_bool(&ld->y, m.node, m.path, "allow_root", &p->allow_root);
    cg_loader_get_path(ld, &m, "pid_file", &p->pid_file, &p->pid_file_pos);

    yaml_node_t *un = NULL, *gn = NULL;
    const char *user = NULL, *group = NULL;
    cg_got gotu = cg_loader_get_string(ld, &m, "user", "a user name such as certgate", &un, &user);
    cg_got gotg = cg_loader_get_string(ld, &m, "group", "a group name such as certgate", &gn, &group);
    if (gotg == CG_YAML_SET && gotu != CG_YAML_SET) {
        if (gotu == CG_YAML_ABSENT)
            cg_yaml_error(&ld->y, gn, "process.group: needs process.user (the user certgate switches to after "
                          "binding; group only replaces that user's primary group)");
        return;
    }
    if (gotu != CG_YAML_SET)
        return;
    char buf[4096];
    struct passwd pw, *pwr = NULL;
    int e = getpwnam_r(user, &pw, buf, sizeof buf, &pwr);
    if (!pwr) {
        cg_yaml_error(&ld->y, un, "process.user: no user \"%s\" on this system%s%s (create it, e.g. useradd "
                      "--system --user-group --no-create-home --shell /usr/sbin/nologin %s)", user,
                      e ? ": " : "", e ? strerror(e) : "", user);
        return;
    }
    p->user = cg_loader_strdup(ld, user);
    p->uid = (uint32_t)pw.pw_uid;
    p->gid = (uint32_t)pw.pw_gid;
    p->user_pos = (cg_pos){ (int)un->start_mark.line + 1, (int)un->start_mark.column + 1 };
    if (gotg != CG_YAML_SET)
        return;
    struct group gr, *grr = NULL;
    e = getgrnam_r(group, &gr, buf, sizeof buf, &grr);
    if (!grr) {
        cg_yaml_error(&ld->y, gn, "process.group: no group \"%s\" on this system%s%s (expected an existing group, "
                      "or no process.group for %s's primary group)", group, e ? ": " : "", e ? strerror(e) : "",
                      user);
        return;
    }
    p->group = cg_loader_strdup(ld, group);
    p->gid = (uint32_t)gr.gr_gid;
}

#define CG_ADMIN_PORT_DEFAULT 9180u
#define CG_ADMIN_CONNECTIONS_MAX 1024u

static bool loopback_address(const char *s)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, s, a) == 1)
        return a[0] == 127;
    static const unsigned char v6lo[16] = { [15] = 1 };
    return inet_pton(AF_INET6, s, a) == 1 && memcmp(a, v6lo, 16) == 0;
}

/* Plain HTTP without authentication: loopback unless asked otherwise, and
 * then preferably with allow. Its port must not be a listener's. */
void cg_config_parse_admin(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "address", "port", "expose", "allow", "max_connections", "timeout",
                                        "kdc_window", NULL };
    cg_admin_cfg *a = &ld->cfg->admin;
    a->port = CG_ADMIN_PORT_DEFAULT;
    a->max_connections = 8;
    a->timeout_ms = 5000;
    a->kdc_window_s = 300;
    cg_map m;
    if (!cg_loader_open_section(ld, root, "admin", keys, "in admin", &m))
        return;
    a->enabled = true;
    cg_yaml_get_bool(&ld->y, m.node, m.path, "expose", &a->expose);
    uint32_t port;
    if (cg_loader_get_uint(ld, &m, "port", 1, 65535, &port) == CG_YAML_SET)
        a->port = (uint16_t)port;
    cg_loader_get_uint(ld, &m, "max_connections", 1, CG_ADMIN_CONNECTIONS_MAX, &a->max_connections);
    cg_loader_get_duration(ld, &m, "timeout", 100, 60u * 1000u, &a->timeout_ms);
    cg_loader_get_seconds(ld, &m, "kdc_window", 1000, 24u * 3600u * 1000u, &a->kdc_window_s);

    yaml_node_t *n = NULL;
    const char *s = NULL;
    cg_got got = cg_loader_get_string(ld, &m, "address", "a numeric IPv4 or IPv6 address such as 127.0.0.1", &n, &s);
    if (got == CG_YAML_ABSENT)
        s = "127.0.0.1";
    cg_sockaddr_key key;
    if (got == CG_YAML_SET && !cg_value_address_key(s, &key)) {
        cg_yaml_error(&ld->y, n, "admin.address: \"%s\" is not a numeric IPv4 or IPv6 address (expected e.g. "
                      "127.0.0.1 or ::1, without brackets)", s);
        return;
    }
    if (got == CG_YAML_BAD)
        return;
    a->address = cg_loader_strdup(ld, s);
    if (n)
        a->address_pos = (cg_pos){ (int)n->start_mark.line + 1, (int)n->start_mark.column + 1 };
    if (!loopback_address(s) && !a->expose)
        cg_yaml_error(&ld->y, n, "admin.address: %s is not a loopback address: the admin listener is plain HTTP "
                      "without authentication (metrics, probes); to bind it there on purpose set admin.expose: "
                      "true, and list the scrapers' networks in admin.allow", s);

    yaml_node_t *seq;
    if (cg_loader_get_list(ld, &m, "allow", "a list of networks such as 10.0.0.0/8 or 2001:db8::/32", &seq) ==
        CG_YAML_SET) {
        size_t count = cg_yaml_list_len(seq);
        a->allow = cg_loader_calloc(ld, count, sizeof *a->allow);
        for (size_t i = 0; a->allow && i < count; i++) {
            yaml_node_t *it = cg_yaml_list_item(&ld->y, seq, i);
            char d[96], why[200];
            if (!it || it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it) ||
                strlen(cg_yaml_text(it)) != cg_yaml_len(it)) {
                cg_yaml_error(&ld->y, it ? it : seq, "admin.allow[%zu]: expected a network such as 10.0.0.0/8 or "
                              "2001:db8::/32, got %s", i, it ? cg_yaml_describe(it, d, sizeof d) : "nothing");
                continue;
            }
            if (!cg_cidr_parse(cg_yaml_text(it), &a->allow[a->nallow], why, sizeof why)) {
                cg_yaml_error(&ld->y, it, "admin.allow[%zu]: %s", i, why);
                continue;
            }
            a->nallow++;
        }
        if (count == 0)
            cg_yaml_error(&ld->y, seq, "admin.allow: an empty list would refuse every scraper (expected networks, "
                          "or no admin.allow for any client that reaches the address)");
    }
}

/* The admin port against the listeners': both would bind. */
void cg_config_check_admin_port(cg_loader *ld, yaml_node_t *root)
{
    const cg_admin_cfg *a = &ld->cfg->admin;
    if (!a->enabled || !a->address)
        return;
    cg_sockaddr_key ak, lk;
    cg_value_address_key(a->address, &ak);
    for (size_t i = 0; i < ld->cfg->nlisteners; i++) {
        const cg_listener_cfg *l = &ld->cfg->listeners[i];
        if (!l->address || l->port != a->port || !cg_value_address_key(l->address, &lk))
            continue;
        static const unsigned char any[16];
        bool overlap = (ak.family == lk.family && !memcmp(ak.addr, lk.addr, 16)) ||
                       (lk.family == ak.family && (!memcmp(lk.addr, any, 16) || !memcmp(ak.addr, any, 16)));
        if (overlap) {
            yaml_node_t *sec = cg_yaml_map_get(&ld->y, root, "admin", NULL);
            yaml_node_t *pn = sec ? cg_yaml_map_get(&ld->y, sec, "port", NULL) : NULL;
            cg_yaml_error(&ld->y, pn ? pn : sec, "admin.port: %u is also listener \"%s\"'s port on %s (expected "
                          "another port)", a->port, l->name ? l->name : "?", l->address);
        }
    }
}
