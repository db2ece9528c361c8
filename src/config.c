/* Configuration: YAML file -> immutable, reference-counted snapshot.
 *
 * The file is parsed with libyaml's document API and walked with one small
 * function per section of the schema (conf/certgate.yaml is the reference).
 * Every problem is reported with the position of the node it concerns, and
 * the walk goes on after an error wherever the rest still makes sense, so
 * one run shows every mistake in the file. A snapshot is only returned when
 * there were none.
 *
 * Messages have two shapes:
 *   unknown key "adress" in listener "main" (expected one of: ...)
 *   listeners[main].port: 70000 is out of range (expected 1 to 65535)
 * i.e. either "<problem> <where>" for keys, or "<key path>: <problem>
 * (<expectation>)" for values.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "chain_limits.h"
#include "config_limits.h"
#include "error_page.h"
#include "http1_write.h"
#include "mapping.h"
#include "target.h"
#include "tls.h"
#include "yaml_doc.h"

/* Schema bounds. Values outside are almost certainly typos, and some (a
 * 0-byte head limit) would make the proxy refuse everything. */
#define CG_WORKERS_MAX            1024u
#define CG_MAX_CONNECTIONS_MAX    1000000u
#define CG_REQUEST_HEAD_MIN       1024u
#define CG_REQUEST_HEAD_MAX       (1024u * 1024u)
#define CG_HEADER_LINE_MIN        256u
#define CG_HEADER_LINE_MAX        (1024u * 1024u)
#define CG_HEADERS_MAX            10000u
#define CG_RESPONSE_HEAD_MIN      1024u
#define CG_RESPONSE_HEAD_MAX      (1024u * 1024u)
#define CG_MAX_IDLE_MAX           1024u
#define CG_TIMEOUT_MAX_MS         (24u * 3600u * 1000u)
/* RFC 8446 4.6.1: a ticket lifetime must not exceed 7 days. */
#define CG_TICKET_LIFETIME_MAX_MS (7u * 24u * 3600u * 1000u)
/* Revocation (CRL) fetching. */
#define CG_CRL_FETCH_TIMEOUT_MIN_MS 1000u
#define CG_CRL_FETCH_TIMEOUT_MAX_MS (5u * 60u * 1000u)
#define CG_CRL_SIZE_MIN           1024u
#define CG_CRL_SIZE_MAX           (1024u * 1024u * 1024u)
#define CG_CRL_REDIRECTS_MAX      10u
#define CG_CRL_REFRESH_MAX_MS     (7u * 24u * 3600u * 1000u)   /* CRLs are rarely valid longer */
#define CG_STALE_GRACE_MAX_MS     (30u * 24u * 3600u * 1000u)
/* Listener chain depth: leaf + anchor at least; deeper PKIs do not exist in practice. */
#define CG_CHAIN_DEPTH_MIN        2u
#define CG_CHAIN_DEPTH_MAX        12u
/* Kerberos. A KDC answers in milliseconds; minutes means it is down. */
#define CG_KDC_TIMEOUT_MIN_MS     100u
#define CG_KDC_TIMEOUT_MAX_MS     (5u * 60u * 1000u)
#define CG_KRB_REFRESH_MAX_MS     (12u * 3600u * 1000u)       /* AD tickets live 10h */
#define CG_KRB_NEGATIVE_MAX_MS    (10u * 60u * 1000u)

/* snprintf that returns what it actually wrote, so lengths can be summed
 * safely; truncating long names in messages is intended. */
__attribute__((format(printf, 3, 4)))
static size_t fmt_into(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || cap == 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* ---- plain values: durations and sizes ---- */

typedef enum { CG_NUM_OK, CG_NUM_SYNTAX, CG_NUM_RANGE } cg_num;

/* Leading decimal digits of s into *v; *end points past them. Overflow is
 * remembered in *big rather than stopping, so "99999999999999999999x" is
 * still a syntax error and not a range error. */
static bool scan_digits(const char *s, uint64_t *v, bool *big, const char **end)
{
    const char *p = s;
    *v = 0;
    *big = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (*v > (UINT64_MAX - d) / 10)
            *big = true;
        else
            *v = *v * 10 + d;
    }
    *end = p;
    return p != s;
}

static cg_num parse_uint(const char *s, uint64_t *out)
{
    const char *end;
    bool big;
    if (!scan_digits(s, out, &big, &end) || *end)
        return CG_NUM_SYNTAX;
    return big ? CG_NUM_RANGE : CG_NUM_OK;
}

static cg_num parse_duration(const char *s, uint32_t *out_ms)
{
    uint64_t v, mult;
    const char *unit;
    bool big;
    if (!s || !scan_digits(s, &v, &big, &unit))
        return CG_NUM_SYNTAX;
    if (strcmp(unit, "ms") == 0)
        mult = 1;
    else if (*unit == '\0' || strcmp(unit, "s") == 0)
        mult = 1000;
    else if (strcmp(unit, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(unit, "h") == 0)
        mult = 3600 * 1000;
    else
        return CG_NUM_SYNTAX;
    if (big || v > UINT32_MAX / mult)
        return CG_NUM_RANGE;
    *out_ms = (uint32_t)(v * mult);
    return CG_NUM_OK;
}

static cg_num parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mult;
    const char *unit;
    bool big;
    if (!s || !scan_digits(s, &v, &big, &unit))
        return CG_NUM_SYNTAX;
    switch (unit[0]) {
    case '\0': mult = 1; break;
    case 'k': case 'K': mult = 1ull << 10; break;
    case 'm': case 'M': mult = 1ull << 20; break;
    case 'g': case 'G': mult = 1ull << 30; break;
    default: return CG_NUM_SYNTAX;
    }
    if (unit[0] && unit[1])
        return CG_NUM_SYNTAX;
    if (big || v > UINT64_MAX / mult)
        return CG_NUM_RANGE;
    *out = v * mult;
    return CG_NUM_OK;
}

bool cg_parse_duration_ms(const char *s, uint32_t *out_ms)
{
    uint32_t v;
    if (parse_duration(s, &v) != CG_NUM_OK)
        return false;
    *out_ms = v;
    return true;
}

bool cg_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    if (parse_size(s, &v) != CG_NUM_OK)
        return false;
    *out = v;
    return true;
}

/* The shortest exact spelling, for bounds in messages: 1048576 -> "1m". */
static const char *fmt_size(uint64_t v, char *buf, size_t cap)
{
    if (v && v % (1u << 30) == 0)
        fmt_into(buf, cap, "%llug", (unsigned long long)(v >> 30));
    else if (v && v % (1u << 20) == 0)
        fmt_into(buf, cap, "%llum", (unsigned long long)(v >> 20));
    else if (v && v % 1024 == 0)
        fmt_into(buf, cap, "%lluk", (unsigned long long)(v >> 10));
    else
        fmt_into(buf, cap, "%llu", (unsigned long long)v);
    return buf;
}

static const char *fmt_duration(uint32_t ms, char *buf, size_t cap)
{
    if (ms == 0)
        fmt_into(buf, cap, "0s");
    else if (ms % 3600000 == 0)
        fmt_into(buf, cap, "%uh", ms / 3600000);
    else if (ms && ms % 60000 == 0)
        fmt_into(buf, cap, "%um", ms / 60000);
    else if (ms && ms % 1000 == 0)
        fmt_into(buf, cap, "%us", ms / 1000);
    else
        fmt_into(buf, cap, "%ums", ms);
    return buf;
}

/* ---- the loader ---- */

typedef struct cg_loader {
    cg_yaml y;          /* the document, the file's name, the diagnostics */
    const char *dir;    /* relative paths are resolved against it */
    cg_config *cfg;
} cg_loader;

/* One mapping being walked, and how to name it in messages. */
typedef struct cg_map {
    yaml_node_t *node;
    char where[192];    /* "in listener \"main\"": for key problems */
    char path[192];     /* "listeners[main]": prefix of key paths, "" at top */
} cg_map;

typedef cg_yaml_got cg_got;

static char *xstrdup(cg_loader *ld, const char *s)
{
    char *p = strdup(s);
    if (!p)
        ld->y.oom = true;
    return p;
}

static void *xcalloc(cg_loader *ld, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        ld->y.oom = true;
    return p;
}

/* ---- nodes ---- */

/* "key:" with nothing after it, "~" and "null" are YAML's null; a quoted
 * "null" is the string. */
/* What a node is, for "expected X, got Y". */
static void key_path(const cg_map *m, const char *key, char *out, size_t cap)
{
    cg_yaml_key_path(m->path, key, out, cap);
}

/* The value of the first occurrence of key (later ones are reported as
 * duplicates by check_keys), or NULL. */
/* A usable name from an item, before its keys are checked: messages about
 * the item's other keys can then say which item they are about. */
static const char *peek_name(cg_loader *ld, yaml_node_t *map, const char *key)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, map, key, NULL);
    if (!n || n->type != YAML_SCALAR_NODE || cg_yaml_is_null(n) || n->data.scalar.length == 0 ||
        strlen(cg_yaml_text(n)) != n->data.scalar.length)
        return NULL;
    return cg_yaml_text(n);
}

/* Reports keys that are not scalars, not in keys, or repeated. */
static void check_keys(cg_loader *ld, const cg_map *m, const char *const keys[])
{
    cg_yaml_check_keys(&ld->y, m->node, m->where, keys);
}

/* Checks that n is a mapping; what is how its content is described in the
 * message ("keys: level, file"). */
static bool expect_map(cg_loader *ld, yaml_node_t *n, const char *path, const char *const keys[])
{
    if (n->type == YAML_MAPPING_NODE)
        return true;
    char d[96], list[256];
    cg_yaml_join(list, sizeof list, keys);
    cg_yaml_error(&ld->y, n, "%s: expected a mapping with keys %s, got %s", path, list,
                  cg_yaml_describe(n, d, sizeof d));
    return false;
}

static void missing(cg_loader *ld, const cg_map *m, const char *key, const char *expect)
{
    cg_yaml_error(&ld->y, m->node, "missing required key \"%s\" %s (expected %s)", key, m->where, expect);
}

/* ---- typed values ---- */

/* The text of scalar key; reports anything else (including null). */
static cg_got get_text(cg_loader *ld, const cg_map *m, const char *key, const char *expect,
                       yaml_node_t **vn, const char **out)
{
    return cg_yaml_get_text(&ld->y, m->node, m->path, key, expect, vn, out);
}

static cg_got get_string(cg_loader *ld, const cg_map *m, const char *key, const char *expect,
                         yaml_node_t **vn, const char **out)
{
    cg_got got = get_text(ld, m, key, expect, vn, out);
    if (got == CG_YAML_SET && **out == '\0') {
        char path[256];
        key_path(m, key, path, sizeof path);
        cg_yaml_error(&ld->y, *vn, "%s: must not be empty (expected %s)", path, expect);
        return CG_YAML_BAD;
    }
    return got;
}

static cg_got get_bool(cg_loader *ld, const cg_map *m, const char *key, bool *out)
{
    return cg_yaml_get_bool(&ld->y, m->node, m->path, key, out);
}

static cg_got get_uint(cg_loader *ld, const cg_map *m, const char *key, uint32_t min,
                       uint32_t max, uint32_t *out)
{
    yaml_node_t *n;
    const char *s;
    char expect[96], path[256], d[96];
    fmt_into(expect, sizeof expect, "a whole number from %u to %u", min, max);
    cg_got got = get_text(ld, m, key, expect, &n, &s);
    if (got != CG_YAML_SET)
        return got;
    key_path(m, key, path, sizeof path);
    uint64_t v;
    switch (parse_uint(s, &v)) {
    case CG_NUM_SYNTAX:
        cg_yaml_error(&ld->y, n, "%s: expected %s, got %s", path, expect, cg_yaml_describe(n, d, sizeof d));
        return CG_YAML_BAD;
    case CG_NUM_RANGE:
        v = UINT64_MAX;
        break;
    case CG_NUM_OK:
        break;
    }
    if (v < min || v > max) {
        cg_yaml_error(&ld->y, n, "%s: %s is out of range (expected %u to %u)", path, s, min, max);
        return CG_YAML_BAD;
    }
    *out = (uint32_t)v;
    return CG_YAML_SET;
}

static cg_got get_size(cg_loader *ld, const cg_map *m, const char *key, uint32_t min,
                       uint32_t max, uint32_t *out)
{
    yaml_node_t *n;
    const char *s;
    char path[256], d[96], lo[32], hi[32];
    cg_got got = get_text(ld, m, key, "a size such as 512, 16k or 1m", &n, &s);
    if (got != CG_YAML_SET)
        return got;
    key_path(m, key, path, sizeof path);
    uint64_t v;
    switch (parse_size(s, &v)) {
    case CG_NUM_SYNTAX:
        cg_yaml_error(&ld->y, n, "%s: %s is not a size (use e.g. 512, 16k, 1m; k, m, g are powers of 1024)",
                      path, cg_yaml_describe(n, d, sizeof d));
        return CG_YAML_BAD;
    case CG_NUM_RANGE:
        v = UINT64_MAX;
        break;
    case CG_NUM_OK:
        break;
    }
    if (v < min || v > max) {
        cg_yaml_error(&ld->y, n, "%s: %s is out of range (expected %s to %s)", path,
                      cg_yaml_describe(n, d, sizeof d), fmt_size(min, lo, sizeof lo), fmt_size(max, hi, sizeof hi));
        return CG_YAML_BAD;
    }
    *out = (uint32_t)v;
    return CG_YAML_SET;
}

static cg_got get_duration(cg_loader *ld, const cg_map *m, const char *key, uint32_t min_ms,
                           uint32_t max_ms, uint32_t *out_ms)
{
    yaml_node_t *n;
    const char *s;
    char path[256], d[96], lo[32], hi[32];
    cg_got got = get_text(ld, m, key, "a duration such as 500ms, 30s, 5m or 1h", &n, &s);
    if (got != CG_YAML_SET)
        return got;
    key_path(m, key, path, sizeof path);
    uint32_t v = 0;
    cg_num r = parse_duration(s, &v);
    if (r == CG_NUM_SYNTAX) {
        cg_yaml_error(&ld->y, n, "%s: %s is not a duration (use e.g. 500ms, 30s, 5m, 1h)", path,
                      cg_yaml_describe(n, d, sizeof d));
        return CG_YAML_BAD;
    }
    if (r == CG_NUM_RANGE || v < min_ms || v > max_ms) {
        cg_yaml_error(&ld->y, n, "%s: %s is out of range (expected %s to %s)", path,
                      cg_yaml_describe(n, d, sizeof d), fmt_duration(min_ms, lo, sizeof lo),
                      fmt_duration(max_ms, hi, sizeof hi));
        return CG_YAML_BAD;
    }
    *out_ms = v;
    return CG_YAML_SET;
}

/* A duration stored in whole seconds (the consumers count seconds). */
static cg_got get_seconds(cg_loader *ld, const cg_map *m, const char *key, uint32_t min_ms,
                          uint32_t max_ms, uint32_t *out_s)
{
    uint32_t ms;
    cg_got got = get_duration(ld, m, key, min_ms, max_ms, &ms);
    if (got != CG_YAML_SET)
        return got;
    if (ms % 1000) {
        char path[256];
        key_path(m, key, path, sizeof path);
        cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m->node, key, NULL), "%s: must be a whole number of seconds "
                      "(expected e.g. 30s or 5m)", path);
        return CG_YAML_BAD;
    }
    *out_s = ms / 1000;
    return CG_YAML_SET;
}

/* The key node of the first occurrence of key, or NULL. */
static yaml_node_t *map_key(cg_loader *ld, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cg_yaml_node(&ld->y, p->key);
        if (k && cg_yaml_scalar_is(k, key))
            return k;
    }
    return NULL;
}

/* names is NULL-terminated; *out is the index of the match. */
static cg_got get_enum(cg_loader *ld, const cg_map *m, const char *key, const char *const names[],
                       int *out)
{
    yaml_node_t *n;
    const char *s;
    char list[128], expect[160], path[256], d[96];
    cg_yaml_join(list, sizeof list, names);
    fmt_into(expect, sizeof expect, "one of: %s", list);
    cg_got got = get_text(ld, m, key, expect, &n, &s);
    if (got != CG_YAML_SET)
        return got;
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return CG_YAML_SET;
        }
    }
    key_path(m, key, path, sizeof path);
    cg_yaml_error(&ld->y, n, "%s: unknown value %s (expected %s)", path, cg_yaml_describe(n, d, sizeof d), expect);
    return CG_YAML_BAD;
}

/* dir + "/" + p unless p is absolute. */
static char *resolve_path(cg_loader *ld, const char *p)
{
    if (p[0] == '/' || !ld->dir)
        return xstrdup(ld, p);
    size_t dl = strlen(ld->dir), pl = strlen(p);
    bool slash = dl && ld->dir[dl - 1] != '/';
    char *out = malloc(dl + slash + pl + 1);
    if (!out) {
        ld->y.oom = true;
        return NULL;
    }
    memcpy(out, ld->dir, dl);
    if (slash)
        out[dl] = '/';
    memcpy(out + dl + slash, p, pl + 1);
    return out;
}

static cg_got get_path(cg_loader *ld, const cg_map *m, const char *key, char **out, cg_pos *pos)
{
    yaml_node_t *n;
    const char *s;
    cg_got got = get_string(ld, m, key, "a file path", &n, &s);
    if (got != CG_YAML_SET)
        return got;
    *out = resolve_path(ld, s);
    if (pos) {
        pos->line = (int)n->start_mark.line + 1;
        pos->column = (int)n->start_mark.column + 1;
    }
    return CG_YAML_SET;
}

/* The list under key; reports a non-list. */
static cg_got get_list(cg_loader *ld, const cg_map *m, const char *key, const char *expect,
                       yaml_node_t **out)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, m->node, key, NULL);
    if (!n)
        return CG_YAML_ABSENT;
    if (n->type != YAML_SEQUENCE_NODE) {
        char path[256], d[96];
        key_path(m, key, path, sizeof path);
        cg_yaml_error(&ld->y, n, "%s: expected %s (items starting with \"- \"), got %s", path, expect,
                      cg_yaml_describe(n, d, sizeof d));
        return CG_YAML_BAD;
    }
    *out = n;
    return CG_YAML_SET;
}

static size_t list_len(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static yaml_node_t *list_item(cg_loader *ld, const yaml_node_t *seq, size_t i)
{
    return cg_yaml_node(&ld->y, seq->data.sequence.items.start[i]);
}

/* A sub-mapping such as "logging" or "tls". false when absent or invalid. */
static bool open_section(cg_loader *ld, const cg_map *parent, const char *key,
                         const char *const keys[], const char *where, cg_map *m)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, parent->node, key, NULL);
    if (!n)
        return false;
    memset(m, 0, sizeof *m);
    m->node = n;
    key_path(parent, key, m->path, sizeof m->path);
    fmt_into(m->where, sizeof m->where, "%s", where);
    if (!expect_map(ld, n, m->path, keys))
        return false;
    check_keys(ld, m, keys);
    return true;
}

/* ---- top-level sections ---- */

static void parse_workers(cg_loader *ld, const cg_map *root)
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
        r = parse_uint(cg_yaml_text(n), &v);
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

static void parse_logging(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "level", "file", "format", "log_query", NULL };
    static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
    static const char *const formats[] = { "logfmt", "json", NULL };
    cg_map m;
    if (!open_section(ld, root, "logging", keys, "in logging", &m))
        return;

    int level;
    if (get_enum(ld, &m, "level", levels, &level) == CG_YAML_SET)
        ld->cfg->log_level = (cg_log_level)level;
    int format;
    if (get_enum(ld, &m, "format", formats, &format) == CG_YAML_SET)
        ld->cfg->log_format = (cg_log_format)format;
    get_bool(ld, &m, "log_query", &ld->cfg->log_query);

    yaml_node_t *n;
    const char *s;
    if (get_string(ld, &m, "file", "\"stderr\" or a file path", &n, &s) == CG_YAML_SET &&
        strcmp(s, "stderr") != 0)
        ld->cfg->log_file = resolve_path(ld, s);
}

static void parse_limits(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "max_connections", "max_request_head", "max_header_line",
                                        "max_headers", "max_response_head",
                                        "max_requests_per_connection", "max_handshakes_per_address",
                                        "max_connections_per_address", "per_address_ipv6_prefix", NULL };
    cg_limits *lim = &ld->cfg->limits;
    cg_map m;
    if (!open_section(ld, root, "limits", keys, "in limits", &m))
        return;

    get_uint(ld, &m, "max_connections", 1, CG_MAX_CONNECTIONS_MAX, &lim->max_connections);
    cg_got head = get_size(ld, &m, "max_request_head", CG_REQUEST_HEAD_MIN, CG_REQUEST_HEAD_MAX,
                           &lim->max_request_head);
    cg_got line = get_size(ld, &m, "max_header_line", CG_HEADER_LINE_MIN, CG_HEADER_LINE_MAX,
                           &lim->max_header_line);
    get_uint(ld, &m, "max_headers", 1, CG_HEADERS_MAX, &lim->max_headers);
    get_size(ld, &m, "max_response_head", CG_RESPONSE_HEAD_MIN, CG_RESPONSE_HEAD_MAX,
             &lim->max_response_head);
    get_uint(ld, &m, "max_requests_per_connection", 0, UINT32_MAX,
             &lim->max_requests_per_connection);
    get_uint(ld, &m, "max_handshakes_per_address", 0, CG_MAX_CONNECTIONS_MAX, &lim->max_handshakes_per_address);
    get_uint(ld, &m, "max_connections_per_address", 0, CG_MAX_CONNECTIONS_MAX, &lim->max_connections_per_address);
    get_uint(ld, &m, "per_address_ipv6_prefix", 16, 128, &lim->per_address_ipv6_prefix);

    /* A line longer than the whole head could never be reached: the limit
     * meant is probably the other one. Only compare values that parsed. */
    if (head != CG_YAML_BAD && line != CG_YAML_BAD && lim->max_header_line > lim->max_request_head) {
        char a[32], b[32];
        yaml_node_t *at =
            cg_yaml_map_get(&ld->y, m.node, line == CG_YAML_SET ? "max_header_line" : "max_request_head", NULL);
        cg_yaml_error(&ld->y, at, "limits.max_header_line (%s) is larger than limits.max_request_head (%s); "
                      "a header line is part of the request head (expected max_header_line <= "
                      "max_request_head)", fmt_size(lim->max_header_line, a, sizeof a),
                      fmt_size(lim->max_request_head, b, sizeof b));
    }
}

static void parse_timeouts(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "handshake", "request_header", "client_body",
                                        "keepalive_idle", "backend_connect", "backend_response",
                                        "backend_idle", "shutdown", NULL };
    cg_timeouts *t = &ld->cfg->timeouts;
    uint32_t *fields[] = { &t->handshake, &t->request_header, &t->client_body, &t->keepalive_idle,
                           &t->backend_connect, &t->backend_response, &t->backend_idle,
                           &t->shutdown };
    cg_map m;
    if (!open_section(ld, root, "timeouts", keys, "in timeouts", &m))
        return;
    /* 0 would time out at once; over a day is a typo, not a timeout. */
    for (size_t i = 0; keys[i]; i++)
        get_duration(ld, &m, keys[i], 1, CG_TIMEOUT_MAX_MS, fields[i]);
}

/* ---- revocation and kerberos (shared by listeners and backends) ---- */

/* allowed_schemes: a list of http, https, ldap. Replaces the default set
 * only when the whole list is valid. */
static void parse_allowed_schemes(cg_loader *ld, const cg_map *m)
{
    static const char *const schemes[] = { "http", "https", "ldap", NULL };
    static const char expect[] = "one of: http, https, ldap";
    cg_revocation_cfg *r = &ld->cfg->revocation;
    yaml_node_t *seq = cg_yaml_map_get(&ld->y, m->node, "allowed_schemes", NULL);
    char path[256], d[96];
    if (!seq)
        return;
    key_path(m, "allowed_schemes", path, sizeof path);
    if (seq->type != YAML_SEQUENCE_NODE) {
        cg_yaml_error(&ld->y, seq, "%s: expected a list of schemes such as [http, ldap] (each %s), got %s",
                      path, expect, cg_yaml_describe(seq, d, sizeof d));
        return;
    }
    size_t n = list_len(seq);
    if (n == 0) {
        cg_yaml_error(&ld->y, seq, "%s: the list is empty (expected at least %s; a listener that should "
                      "not fetch CRLs uses revocation mode cache-only or off)", path, expect);
        return;
    }
    bool allow[3] = { false, false, false }, ok = true;
    yaml_node_t *first[3] = { NULL, NULL, NULL };
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = list_item(ld, seq, i);
        if (it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: expected a scheme (%s), got %s", path, i + 1, expect,
                          cg_yaml_describe(it, d, sizeof d));
            ok = false;
            continue;
        }
        size_t k = 0;
        while (schemes[k] && !cg_yaml_scalar_is(it, schemes[k]))
            k++;
        if (!schemes[k]) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: unknown scheme %s (expected %s)", path, i + 1,
                          cg_yaml_describe(it, d, sizeof d), expect);
            ok = false;
        } else if (first[k]) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: duplicate scheme \"%s\" (first at line %d, column %d; "
                          "expected each scheme once)", path, i + 1, schemes[k],
                          (int)first[k]->start_mark.line + 1, (int)first[k]->start_mark.column + 1);
            ok = false;
        } else {
            first[k] = it;
            allow[k] = true;
        }
    }
    if (ok) {
        r->allow_http = allow[0];
        r->allow_https = allow[1];
        r->allow_ldap = allow[2];
    }
}

static void parse_revocation(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "cache_dir", "fetch_timeout", "max_crl_size",
                                        "max_redirects", "allowed_schemes", "refresh_before", NULL };
    cg_revocation_cfg *r = &ld->cfg->revocation;
    cg_map m;
    if (!open_section(ld, root, "revocation", keys, "in revocation", &m))
        return;

    /* Not checked here: the revocation module creates it. */
    get_path(ld, &m, "cache_dir", &r->cache_dir, NULL);
    get_duration(ld, &m, "fetch_timeout", CG_CRL_FETCH_TIMEOUT_MIN_MS, CG_CRL_FETCH_TIMEOUT_MAX_MS,
                 &r->fetch_timeout_ms);
    uint32_t size;
    if (get_size(ld, &m, "max_crl_size", CG_CRL_SIZE_MIN, CG_CRL_SIZE_MAX, &size) == CG_YAML_SET)
        r->max_crl_size = size;
    get_uint(ld, &m, "max_redirects", 0, CG_CRL_REDIRECTS_MAX, &r->max_redirects);
    parse_allowed_schemes(ld, &m);
    get_seconds(ld, &m, "refresh_before", 0, CG_CRL_REFRESH_MAX_MS, &r->refresh_before_s);
}

/* Characters that never belong in a principal, realm or SPN as written
 * here (escapes are not supported). */
static bool krb_name_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == 0x7f || c == '\\')
            return false;
    }
    return true;
}

static void parse_kerberos(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "keytab", "principal", "realm", "krb5_config",
                                        "kdc_timeout", "refresh_before", "negative_cache", NULL };
    cg_kerberos_cfg *k = &ld->cfg->kerberos;
    cg_map m;
    yaml_node_t *pn = NULL, *rn = NULL;
    const char *principal = NULL, *realm = NULL;
    char path[256];

    /* Present, even if invalid: backends' kerberos sections then do not
     * also report it as missing. */
    k->enabled = cg_yaml_map_get(&ld->y, root->node, "kerberos", NULL) != NULL;
    if (!open_section(ld, root, "kerberos", keys, "in kerberos", &m))
        return;

    /* Readability is the delegation module's to check, with the krb5 library. */
    if (get_path(ld, &m, "keytab", &k->keytab, NULL) == CG_YAML_ABSENT)
        missing(ld, &m, "keytab", "the keytab file holding the proxy's own service key");

    cg_got gotp = get_string(ld, &m, "principal", "the proxy's principal, e.g. HTTP/proxy.example.test",
                             &pn, &principal);
    if (gotp == CG_YAML_ABSENT)
        missing(ld, &m, "principal", "the proxy's own principal (in the keytab), e.g. "
                "HTTP/proxy.example.test");
    if (gotp == CG_YAML_SET) {
        const char *at = strchr(principal, '@');
        key_path(&m, "principal", path, sizeof path);
        bool empty_part = principal[0] == '@' || (at && at[1] == '\0');
        if (!krb_name_ok(principal) || empty_part || (at && strchr(at + 1, '@'))) {
            cg_yaml_error(&ld->y, pn, "%s: \"%s\" is not a principal name (expected name or name@REALM "
                          "without spaces or backslashes, e.g. HTTP/proxy.example.test)", path, principal);
            gotp = CG_YAML_BAD;
        }
    }

    cg_got gotr = get_string(ld, &m, "realm", "a realm name such as EXAMPLE.TEST", &rn, &realm);
    if (gotr == CG_YAML_ABSENT)
        missing(ld, &m, "realm", "the default realm, e.g. EXAMPLE.TEST");
    if (gotr == CG_YAML_SET && (!krb_name_ok(realm) || strpbrk(realm, "@/"))) {
        key_path(&m, "realm", path, sizeof path);
        cg_yaml_error(&ld->y, rn, "%s: \"%s\" is not a realm name (expected e.g. EXAMPLE.TEST, without "
                      "\"@\", \"/\" or spaces)", path, realm);
        gotr = CG_YAML_BAD;
    }
    if (gotr == CG_YAML_SET)
        k->realm = xstrdup(ld, realm);
    if (gotp == CG_YAML_SET && strchr(principal, '@')) {
        k->principal = xstrdup(ld, principal);
    } else if (gotp == CG_YAML_SET && gotr == CG_YAML_SET) {
        if (asprintf(&k->principal, "%s@%s", principal, realm) < 0) {
            k->principal = NULL;
            ld->y.oom = true;
        }
    }

    get_path(ld, &m, "krb5_config", &k->krb5_config, NULL);
    get_duration(ld, &m, "kdc_timeout", CG_KDC_TIMEOUT_MIN_MS, CG_KDC_TIMEOUT_MAX_MS,
                 &k->kdc_timeout_ms);
    get_seconds(ld, &m, "refresh_before", 1000, CG_KRB_REFRESH_MAX_MS, &k->refresh_before_s);
    get_duration(ld, &m, "negative_cache", 0, CG_KRB_NEGATIVE_MAX_MS, &k->negative_cache_ms);
}

/* ---- backends ---- */

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

/* Splits "http://host[:port][/]" into b->host and b->port. Returns NULL or
 * what is wrong, to follow "<path>: " in a message. */
static const char *split_url(cg_loader *ld, const char *url, cg_backend_cfg *b, char *why, size_t cap)
{
    static const char expect[] = "expected http://host[:port], e.g. http://127.0.0.1:8080";
    if (strncasecmp(url, "http://", 7) != 0) {
        if (strncasecmp(url, "https://", 8) == 0)
            fmt_into(why, cap, "https is not supported: certgate speaks plain HTTP to backends (%s)", expect);
        else if (strstr(url, "://"))
            fmt_into(why, cap, "unsupported scheme \"%.*s\" (%s)", (int)(strstr(url, "://") - url), url, expect);
        else
            fmt_into(why, cap, "\"%s\" is not a URL (%s)", url, expect);
        return why;
    }
    const char *auth = url + 7;
    size_t alen = strcspn(auth, "/?#");
    const char *aend = auth + alen, *rest = aend;
    /* A lone "/" is the empty path spelled out (RFC 3986 6.2.3). */
    if (rest[0] == '/' && rest[1] == '\0')
        rest++;
    if (rest[0] == '/') {
        fmt_into(why, cap, "has a path \"%s\"; requests are forwarded with their own path, so a "
                 "backend URL cannot have one (%s)", rest, expect);
        return why;
    }
    if (rest[0] == '?' || rest[0] == '#') {
        fmt_into(why, cap, "has a %s \"%s\", which is not supported (%s)",
                 rest[0] == '?' ? "query" : "fragment", rest, expect);
        return why;
    }
    if (memchr(auth, '@', alen)) {
        fmt_into(why, cap, "has user information (user@); credentials in backend URLs are not "
                 "supported (%s)", expect);
        return why;
    }

    const char *host = auth, *hend, *p;
    if (auth[0] == '[') {
        hend = memchr(auth, ']', alen);
        if (!hend) {
            fmt_into(why, cap, "has \"[\" without \"]\" (%s; IPv6 as http://[::1]:8080)", expect);
            return why;
        }
        host = auth + 1;
        p = hend + 1;
    } else {
        hend = auth + strcspn(auth, ":/?#");
        p = hend;
        if (*p == ':' && memchr(p + 1, ':', (size_t)(aend - p - 1))) {
            fmt_into(why, cap, "IPv6 addresses must be in brackets (%s; IPv6 as http://[::1]:8080)", expect);
            return why;
        }
    }
    size_t hlen = (size_t)(hend - host);
    char hostbuf[256];
    if (hlen == 0 || hlen >= sizeof hostbuf) {
        fmt_into(why, cap, "has %s host (%s)", hlen ? "an overlong" : "no", expect);
        return why;
    }
    memcpy(hostbuf, host, hlen);
    hostbuf[hlen] = '\0';
    if (auth[0] == '[') {
        unsigned char a6[16];
        if (inet_pton(AF_INET6, hostbuf, a6) != 1) {
            fmt_into(why, cap, "\"[%s]\" is not an IPv6 address (%s)", hostbuf, expect);
            return why;
        }
    } else {
        for (size_t i = 0; i < hlen; i++) {
            if (!host_char_ok(hostbuf[i])) {
                fmt_into(why, cap, "\"%s\" is not a host name or IPv4 address (%s)", hostbuf, expect);
                return why;
            }
        }
    }

    uint32_t port = 80;
    if (p < aend) {
        uint64_t v;
        char portbuf[16];
        size_t plen = (size_t)(aend - p - 1);
        if (*p != ':' || plen == 0 || plen >= sizeof portbuf) {
            fmt_into(why, cap, "has an invalid port (%s)", expect);
            return why;
        }
        memcpy(portbuf, p + 1, plen);
        portbuf[plen] = '\0';
        if (parse_uint(portbuf, &v) != CG_NUM_OK || v < 1 || v > 65535) {
            fmt_into(why, cap, "port \"%s\" is not a number from 1 to 65535 (%s)", portbuf, expect);
            return why;
        }
        port = (uint32_t)v;
    }

    b->host = xstrdup(ld, hostbuf);
    b->port = (uint16_t)port;
    char hh[300];
    const char *lb = auth[0] == '[' ? "[" : "", *rb = auth[0] == '[' ? "]" : "";
    if (port == 80)
        fmt_into(hh, sizeof hh, "%s%s%s", lb, hostbuf, rb);
    else
        fmt_into(hh, sizeof hh, "%s%s%s:%u", lb, hostbuf, rb, port);
    b->host_header = xstrdup(ld, hh);
    return NULL;
}

/* kerberos: under a backend. Present (even as {}) means delegation on. */
static void parse_backend_kerberos(cg_loader *ld, const cg_map *bm, cg_backend_cfg *b)
{
    static const char *const keys[] = { "spn", "send", "connection_bound", NULL };
    static const char *const sends[] = { "always", "on_401", NULL };
    static const char spn_expect[] = "service/host, e.g. HTTP/app.example.test";
    yaml_node_t *kn = cg_yaml_map_get(&ld->y, bm->node, "kerberos", NULL), *n;
    const char *s;
    char where[192], path[256], list[128];
    cg_map m;

    if (!kn)
        return;
    key_path(bm, "kerberos", path, sizeof path);
    if (cg_yaml_is_null(kn)) {
        cg_yaml_join(list, sizeof list, keys);
        cg_yaml_error(&ld->y, kn, "%s: expected a mapping with keys %s, got no value (write \"kerberos: {}\" "
                      "for the defaults, or remove the key to not delegate)", path, list);
        return;
    }
    fmt_into(where, sizeof where, "in kerberos of %.150s",
             strncmp(bm->where, "in ", 3) == 0 ? bm->where + 3 : bm->where);
    if (!open_section(ld, bm, "kerberos", keys, where, &m))
        return;
    b->kerberos = true;
    if (!ld->cfg->kerberos.enabled)
        cg_yaml_error(&ld->y, map_key(ld, bm->node, "kerberos"), "%s: delegation needs the top-level "
                      "kerberos section, which is missing (add kerberos: with keytab, principal and "
                      "realm; see conf/certgate.yaml)", path);

    cg_got got = get_string(ld, &m, "spn", spn_expect, &n, &s);
    if (got == CG_YAML_SET) {
        const char *slash = strchr(s, '/');
        char kp[256];
        key_path(&m, "spn", kp, sizeof kp);
        if (strpbrk(s, ":@")) {
            cg_yaml_error(&ld->y, n, "%s: \"%s\" has a %s; SPNs never carry a port, and the realm is added "
                          "from kerberos.realm (expected %s)", kp, s,
                          strchr(s, ':') ? "port (\":\")" : "realm (\"@\")", spn_expect);
        } else if (!krb_name_ok(s) || !slash || slash == s || !slash[1] || strchr(slash + 1, '/')) {
            cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a service principal name (expected %s)", kp, s,
                          spn_expect);
        } else {
            b->spn = xstrdup(ld, s);
        }
    } else if (got == CG_YAML_ABSENT && b->host) {
        /* Never canonicalized through DNS: the name in the URL is the name. */
        if (strchr(b->host, ':')) {
            cg_yaml_error(&ld->y, kn, "%s: the backend's host %s is an IPv6 address, which makes no SPN "
                          "(set kerberos.spn, e.g. HTTP/app.example.test)", path, b->host);
        } else if (asprintf(&b->spn, "HTTP/%s", b->host) < 0) {
            b->spn = NULL;
            ld->y.oom = true;
        }
    }

    int send;
    if (get_enum(ld, &m, "send", sends, &send) == CG_YAML_SET)
        b->send_on_401_only = send == 1;
    get_bool(ld, &m, "connection_bound", &b->connection_bound);
}

static void parse_backend(cg_loader *ld, const yaml_node_t *seq, size_t i)
{
    static const char *const keys[] = { "name", "url", "max_idle", "kerberos", NULL };
    cg_backend_cfg *b = &ld->cfg->backends[i];
    yaml_node_t *item = list_item(ld, seq, i), *n;
    const char *name = peek_name(ld, item, "name"), *s;
    cg_map m = { .node = item };

    b->max_idle = 32;
    if (name) {
        fmt_into(m.where, sizeof m.where, "in backend \"%s\"", name);
        fmt_into(m.path, sizeof m.path, "backends[%s]", name);
    } else {
        fmt_into(m.where, sizeof m.where, "in backends[#%zu]", i + 1);
        fmt_into(m.path, sizeof m.path, "backends[#%zu]", i + 1);
    }
    if (!expect_map(ld, item, m.path, keys))
        return;
    check_keys(ld, &m, keys);

    cg_got got = get_string(ld, &m, "name", "a name that routes refer to", &n, &s);
    if (got == CG_YAML_ABSENT)
        missing(ld, &m, "name", "a name that routes refer to");
    if (got == CG_YAML_SET) {
        for (size_t j = 0; j < i; j++) {
            if (ld->cfg->backends[j].name && strcmp(ld->cfg->backends[j].name, s) == 0) {
                yaml_node_t *first = cg_yaml_map_get(&ld->y, list_item(ld, seq, j), "name", NULL);
                cg_yaml_error(&ld->y, n, "duplicate backend name \"%s\" (first at line %d, column %d; "
                              "expected a unique name)", s, (int)first->start_mark.line + 1,
                              (int)first->start_mark.column + 1);
                break;
            }
        }
        b->name = xstrdup(ld, s);
    }

    got = get_string(ld, &m, "url", "http://host[:port]", &n, &s);
    if (got == CG_YAML_ABSENT)
        missing(ld, &m, "url", "http://host[:port], e.g. http://127.0.0.1:8080");
    if (got == CG_YAML_SET) {
        char why[512], path[256];
        b->url = xstrdup(ld, s);
        if (split_url(ld, s, b, why, sizeof why)) {
            key_path(&m, "url", path, sizeof path);
            cg_yaml_error(&ld->y, n, "%s: %s", path, why);
        }
    }

    get_uint(ld, &m, "max_idle", 0, CG_MAX_IDLE_MAX, &b->max_idle);
    parse_backend_kerberos(ld, &m, b);
}

static void parse_backends(cg_loader *ld, const cg_map *root)
{
    yaml_node_t *seq;
    cg_got got = get_list(ld, root, "backends", "a list of backends", &seq);
    if (got == CG_YAML_ABSENT)
        missing(ld, root, "backends", "a list of backends, each with name and url");
    if (got != CG_YAML_SET)
        return;
    size_t n = list_len(seq);
    if (n == 0) {
        cg_yaml_error(&ld->y, seq, "backends: the list is empty (at least one backend is required)");
        return;
    }
    ld->cfg->backends = xcalloc(ld, n, sizeof *ld->cfg->backends);
    if (!ld->cfg->backends)
        return;
    ld->cfg->nbackends = n;
    for (size_t i = 0; i < n; i++)
        parse_backend(ld, seq, i);
}

/* ---- listeners ---- */

static void parse_tls(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l)
{
    static const char *const keys[] = { "certificate", "key", "chain", "client_ca",
                                        "client_ca_names", "require_client_auth_eku",
                                        "session_tickets", "session_ticket_lifetime",
                                        "max_chain_depth", "max_client_certificates",
                                        "allow_weak_signatures", "session_ticket_keys", NULL };
    char where[192];
    cg_map m;
    fmt_into(where, sizeof where, "in tls of %s", ldesc);
    if (!cg_yaml_map_get(&ld->y, lm->node, "tls", NULL)) {
        missing(ld, lm, "tls", "a mapping with at least certificate, key and client_ca");
        return;
    }
    if (!open_section(ld, lm, "tls", keys, where, &m))
        return;

    if (get_path(ld, &m, "certificate", &l->cert_file, &l->cert_pos) == CG_YAML_ABSENT)
        missing(ld, &m, "certificate", "the server certificate file (PEM, leaf first)");
    if (get_path(ld, &m, "key", &l->key_file, &l->key_pos) == CG_YAML_ABSENT)
        missing(ld, &m, "key", "the server private key file (PEM, unencrypted)");
    get_path(ld, &m, "chain", &l->chain_file, &l->chain_pos);
    if (get_path(ld, &m, "client_ca", &l->client_ca_file, &l->client_ca_pos) == CG_YAML_ABSENT)
        missing(ld, &m, "client_ca", "the PEM bundle of CAs trusted to issue client certificates");
    get_bool(ld, &m, "client_ca_names", &l->client_ca_names);
    get_bool(ld, &m, "require_client_auth_eku", &l->require_client_auth_eku);
    get_bool(ld, &m, "session_tickets", &l->session_tickets);

    uint32_t ms;
    if (get_duration(ld, &m, "session_ticket_lifetime", 1000, CG_TICKET_LIFETIME_MAX_MS, &ms) == CG_YAML_SET) {
        /* The TLS ticket_lifetime field counts whole seconds. */
        if (ms % 1000) {
            char path[256];
            key_path(&m, "session_ticket_lifetime", path, sizeof path);
            cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m.node, "session_ticket_lifetime", NULL),
                          "%s: must be a whole number of seconds (TLS counts ticket lifetimes in "
                          "seconds; expected e.g. 1h)", path);
        } else {
            l->session_ticket_lifetime_s = ms / 1000;
        }
    }
    get_uint(ld, &m, "max_chain_depth", CG_CHAIN_DEPTH_MIN, CG_CHAIN_DEPTH_MAX, &l->max_chain_depth);
    get_uint(ld, &m, "max_client_certificates", 1, CG_CHAIN_MAX_CERTIFICATES_LIMIT, &l->max_client_certificates);
    get_bool(ld, &m, "allow_weak_signatures", &l->allow_weak_signatures);
    if (get_path(ld, &m, "session_ticket_keys", &l->session_ticket_keys_file, &l->session_ticket_keys_pos) ==
            CG_YAML_SET &&
        !l->session_tickets) {
        char path[256];
        key_path(&m, "session_ticket_keys", path, sizeof path);
        cg_yaml_warning(&ld->y, cg_yaml_map_get(&ld->y, m.node, "session_ticket_keys", NULL),
                        "%s: session_tickets is false, so the key file is not used", path);
    }
}

static void parse_route(cg_loader *ld, const yaml_node_t *seq, size_t i, const char *ldesc,
                        const char *lpath, bool has_mapping, cg_listener_cfg *l)
{
    static const char *const keys[] = { "path", "backend", "client_cert", "max_request_body", NULL };
    static const char *const modes[] = { "required", "optional", NULL };
    cg_route *r = &l->routes[i];
    const cg_config *cfg = ld->cfg;
    yaml_node_t *item = list_item(ld, seq, i), *n;
    const char *path = peek_name(ld, item, "path"), *s;
    cg_map m = { .node = item };

    r->client_cert_required = true;
    if (path) {
        fmt_into(m.where, sizeof m.where, "in route \"%s\" of %s", path, ldesc);
        fmt_into(m.path, sizeof m.path, "%s.routes[%s]", lpath, path);
    } else {
        fmt_into(m.where, sizeof m.where, "in routes[#%zu] of %s", i + 1, ldesc);
        fmt_into(m.path, sizeof m.path, "%s.routes[#%zu]", lpath, i + 1);
    }
    if (!expect_map(ld, item, m.path, keys))
        return;
    check_keys(ld, &m, keys);

    char kp[256];
    cg_got got = get_string(ld, &m, "path", "a path prefix starting with \"/\"", &n, &s);
    if (got == CG_YAML_ABSENT)
        missing(ld, &m, "path", "a path prefix starting with \"/\"");
    if (got == CG_YAML_SET) {
        key_path(&m, "path", kp, sizeof kp);
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
                    yaml_node_t *first = cg_yaml_map_get(&ld->y, list_item(ld, seq, j), "path", NULL);
                    cg_yaml_error(&ld->y, n, "duplicate route path \"%s\" in %s (first at line %d, "
                                  "column %d; expected each path once per listener%s)", s, ldesc,
                                  (int)first->start_mark.line + 1, (int)first->start_mark.column + 1,
                                  l->case_insensitive_paths ? ", ignoring case: case_insensitive_paths" : "");
                    break;
                }
            }
            r->path = xstrdup(ld, s);
            r->path_len = strlen(s);
        }
    }

    got = get_string(ld, &m, "backend", "the name of a backend", &n, &s);
    if (got == CG_YAML_ABSENT)
        missing(ld, &m, "backend", "the name of a backend");
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
                    len += fmt_into(list + len, sizeof list - len, "%s%s", len ? ", " : "",
                                            cfg->backends[k].name);
            key_path(&m, "backend", kp, sizeof kp);
            cg_yaml_error(&ld->y, n, "%s: no backend named \"%s\" (%s%s)", kp, s,
                          len ? "defined backends: " : "no backends are defined", list);
        }
    }

    int mode;
    if (get_enum(ld, &m, "client_cert", modes, &mode) == CG_YAML_SET)
        r->client_cert_required = mode == 0;
    cg_config_parse_route_limits(&ld->y, item, m.path, r);
}

static void parse_routes(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l)
{
    yaml_node_t *seq;
    cg_got got = get_list(ld, lm, "routes", "a list of routes", &seq);
    if (got == CG_YAML_BAD)
        return;
    if (got == CG_YAML_ABSENT || list_len(seq) == 0) {
        /* Legal, but every request would get 404: almost surely unintended. */
        cg_yaml_warning(&ld->y, got == CG_YAML_ABSENT ? lm->node : seq,
                        "%s has no routes: every request will get 404 (add routes: with path and backend)",
                        ldesc);
        return;
    }
    size_t n = list_len(seq);
    l->routes = xcalloc(ld, n, sizeof *l->routes);
    if (!l->routes)
        return;
    l->nroutes = n;
    for (size_t i = 0; i < n; i++)
        parse_route(ld, seq, i, ldesc, lm->path, cg_yaml_map_get(&ld->y, lm->node, "mapping", NULL) != NULL, l);
}

typedef struct cg_sockaddr_key {
    int family;
    unsigned char addr[16];
} cg_sockaddr_key;

static bool address_key(const char *s, cg_sockaddr_key *k)
{
    memset(k, 0, sizeof *k);
    if (inet_pton(AF_INET, s, k->addr) == 1)
        k->family = AF_INET;
    else if (inet_pton(AF_INET6, s, k->addr) == 1)
        k->family = AF_INET6;
    return k->family != 0;
}

/* Two listeners on one address and port would fail at bind time, or worse,
 * with SO_REUSEPORT, silently share connections. Compared in binary so
 * "::1" and "0::1" are the same. */
static void check_listener_unique(cg_loader *ld, const yaml_node_t *seq, size_t i, yaml_node_t *name_node)
{
    const cg_listener_cfg *l = &ld->cfg->listeners[i];
    yaml_node_t *item = list_item(ld, seq, i);
    for (size_t j = 0; j < i; j++) {
        const cg_listener_cfg *o = &ld->cfg->listeners[j];
        yaml_node_t *oitem = list_item(ld, seq, j);
        if (name_node && o->name && l->name && strcmp(o->name, l->name) == 0) {
            yaml_node_t *first = cg_yaml_map_get(&ld->y, oitem, "name", NULL);
            first = first ? first : oitem;
            cg_yaml_error(&ld->y, name_node, "duplicate listener name \"%s\" (first at line %d, column %d; "
                          "expected a unique name)", l->name, (int)first->start_mark.line + 1,
                          (int)first->start_mark.column + 1);
        }
        cg_sockaddr_key a, b;
        if (l->address && o->address && l->port && l->port == o->port &&
            address_key(l->address, &a) && address_key(o->address, &b) && memcmp(&a, &b, sizeof a) == 0) {
            yaml_node_t *at = cg_yaml_map_get(&ld->y, item, "port", NULL);
            yaml_node_t *first = cg_yaml_map_get(&ld->y, oitem, "port", NULL);
            cg_yaml_error(&ld->y, at, "listener \"%s\" uses address %s port %u, already used by listener "
                          "\"%s\" (line %d; expected a different address or port)",
                          l->name ? l->name : "?", l->address, l->port, o->name ? o->name : "?",
                          (int)first->start_mark.line + 1);
        }
    }
}

/* crl_files: files or directories, which must exist now (a typo would
 * otherwise only show as refused clients). */
static cg_got parse_crl_files(cg_loader *ld, const cg_map *m, cg_listener_revocation *r)
{
    static const char expect[] = "a CRL file (PEM or DER) or a directory of them";
    yaml_node_t *seq;
    char path[256], d[96];
    cg_got got = get_list(ld, m, "crl_files", "a list of CRL files or directories", &seq);
    if (got != CG_YAML_SET)
        return got;
    size_t n = list_len(seq);
    if (n == 0)
        return CG_YAML_SET;
    r->crl_files = xcalloc(ld, n, sizeof *r->crl_files);
    if (!r->crl_files)
        return CG_YAML_BAD;
    key_path(m, "crl_files", path, sizeof path);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = list_item(ld, seq, i);
        if (it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it) || it->data.scalar.length == 0 ||
            strlen(cg_yaml_text(it)) != it->data.scalar.length) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: expected %s, got %s", path, i + 1, expect,
                          it->type == YAML_SCALAR_NODE && !cg_yaml_is_null(it) && it->data.scalar.length == 0
                         ? "an empty string" : cg_yaml_describe(it, d, sizeof d));
            got = CG_YAML_BAD;
            continue;
        }
        char *file = resolve_path(ld, cg_yaml_text(it));
        if (!file)
            continue;
        struct stat st;
        if (stat(file, &st) != 0) {
            if (errno == ENOENT)
                cg_yaml_error(&ld->y, it, "%s[#%zu]: %s does not exist (expected %s)", path, i + 1, file, expect);
            else
                cg_yaml_error(&ld->y, it, "%s[#%zu]: cannot access %s: %s (expected %s)", path, i + 1, file,
                              strerror(errno), expect);
            free(file);
            got = CG_YAML_BAD;
        } else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: %s is neither a file nor a directory (expected %s)", path,
                          i + 1, file, expect);
            free(file);
            got = CG_YAML_BAD;
        } else {
            r->crl_files[r->ncrl_files++] = file;
        }
    }
    return got;
}

static void parse_listener_revocation(cg_loader *ld, const cg_map *lm, const char *ldesc,
                                      cg_listener_cfg *l)
{
    static const char *const keys[] = { "mode", "crl_files", "stale_grace", NULL };
    static const char *const modes[] = { "fetch", "cache-only", "off", NULL };
    cg_listener_revocation *r = &l->revocation;
    char where[192], path[256];
    cg_map m;
    fmt_into(where, sizeof where, "in revocation of %s", ldesc);
    if (!open_section(ld, lm, "revocation", keys, where, &m))
        return;

    int mode;
    cg_got gotm = get_enum(ld, &m, "mode", modes, &mode);
    if (gotm == CG_YAML_SET)
        r->mode = (cg_revocation_mode)mode;
    yaml_node_t *mn = cg_yaml_map_get(&ld->y, m.node, "mode", NULL);
    cg_got gotf = parse_crl_files(ld, &m, r);
    get_seconds(ld, &m, "stale_grace", 0, CG_STALE_GRACE_MAX_MS, &r->stale_grace_s);

    key_path(&m, "mode", path, sizeof path);
    if (gotm == CG_YAML_SET && r->mode == CG_REVOCATION_CACHE_ONLY && gotf != CG_YAML_BAD && r->ncrl_files == 0)
        cg_yaml_error(&ld->y, mn, "%s: cache-only needs crl_files (without them no CRL can be obtained and "
                      "every client certificate is refused; expected crl_files: [file or directory, ...])",
                      path);
    if (gotm == CG_YAML_SET && r->mode == CG_REVOCATION_OFF)
        cg_yaml_warning(&ld->y, mn, "revocation checking is OFF for %s: revoked certificates will be "
                        "accepted", ldesc);
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
    if (get_list(ld, m, key, "a list of header names", &seq) != CG_YAML_SET || list_len(seq) == 0)
        return;
    size_t n = list_len(seq);
    if (!(*out = xcalloc(ld, n, sizeof **out)))
        return;
    key_path(m, key, path, sizeof path);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = list_item(ld, seq, i);
        if (it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it) ||
            !header_name_ok(cg_yaml_text(it), cg_yaml_len(it))) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: expected a header name (1 to 128 letters, digits or "
                          "!#$%%&'*+-.^_`|~), got %s", path, i + 1, cg_yaml_describe(it, d, sizeof d));
            continue;
        }
        const char *s = cg_yaml_text(it);
        cg_slice name = { s, cg_yaml_len(it) };
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
        char *c = xstrdup(ld, s);
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
    if (!open_section(ld, lm, "strip_request_headers", keys, ldesc, &m))
        return;
    parse_header_names(ld, &m, "add", ldesc, &l->strip_headers, &l->nstrip_headers);
    parse_header_names(ld, &m, "keep", ldesc, &l->keep_headers, &l->nkeep_headers);
}

/* ---- networks (CIDR lists): errors.operator_networks, proxy_protocol.trusted ---- */

/* The list of networks under key (cidr.h). Each bad item is reported at its
 * position and left out of *out; a network of every address gets a
 * warning ending with every (what that means where it is used). */
static cg_got get_networks(cg_loader *ld, const cg_map *m, const char *key, const char *every, cg_cidr **out,
                           size_t *nout)
{
    yaml_node_t *seq;
    char path[256];
    cg_got got = get_list(ld, m, key, "a list of networks such as 192.0.2.0/24 or 2001:db8::/32", &seq);
    if (got != CG_YAML_SET)
        return got;
    key_path(m, key, path, sizeof path);
    size_t count = list_len(seq);
    cg_cidr *nets = xcalloc(ld, count, sizeof *nets);
    if (!nets)
        return CG_YAML_BAD;
    size_t good = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = list_item(ld, seq, i);
        char d[96], why[200];
        if (!it || it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it) ||
            strlen(cg_yaml_text(it)) != cg_yaml_len(it)) {
            cg_yaml_error(&ld->y, it ? it : seq, "%s[%zu]: expected a network such as 192.0.2.0/24 or "
                          "2001:db8::/32, got %s", path, i, it ? cg_yaml_describe(it, d, sizeof d) : "nothing");
            continue;
        }
        if (!cg_cidr_parse(cg_yaml_text(it), &nets[good], why, sizeof why)) {
            cg_yaml_error(&ld->y, it, "%s[%zu]: %s", path, i, why);
            continue;
        }
        if (nets[good].bits == 0 || (nets[good].bits == 96 && strchr(cg_yaml_text(it), '.')))
            cg_yaml_warning(&ld->y, it, "%s[%zu]: %s is every address: %s", path, i, cg_yaml_text(it), every);
        good++;
    }
    *out = nets;
    *nout = good;
    return good == count ? CG_YAML_SET : CG_YAML_BAD;
}

/* ---- listeners[].proxy_protocol ---- */

static void parse_listener_proxy_protocol(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l)
{
    static const char *const keys[] = { "trusted", "direct_clients", NULL };
    static const char *const direct[] = { "refuse", "allow", NULL };
    char where[192];
    cg_map m;
    fmt_into(where, sizeof where, "in proxy_protocol of %s", ldesc);
    if (!open_section(ld, lm, "proxy_protocol", keys, where, &m))
        return;
    l->proxy_protocol.enabled = true;
    cg_got got = get_networks(ld, &m, "trusted",
                              "any client may send a PROXY header and claim any address (logs, "
                              "X-Forwarded-For, per-address limits); list the balancers' addresses",
                              &l->proxy_protocol.trusted, &l->proxy_protocol.ntrusted);
    if (got == CG_YAML_ABSENT)
        missing(ld, &m, "trusted", "the load balancers' networks, such as [10.0.1.0/24]");
    else if (got == CG_YAML_SET && l->proxy_protocol.ntrusted == 0) {
        char path[256];
        key_path(&m, "trusted", path, sizeof path);
        cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m.node, "trusted", NULL),
                      "%s: the list is empty (expected the load balancers' networks, such as [10.0.1.0/24])", path);
    }
    int d;
    if (get_enum(ld, &m, "direct_clients", direct, &d) == CG_YAML_SET)
        l->proxy_protocol.allow_direct = d == 1;
}

static void parse_listener(cg_loader *ld, const yaml_node_t *seq, size_t i)
{
    static const char *const keys[] = { "name", "address", "port", "tls", "revocation", "mapping",
                                        "forward_client_cert", "case_insensitive_paths", "windows_paths",
                                        "strip_request_headers", "routes", "proxy_protocol", "max_request_body",
                                        "rate_limit", NULL };
    cg_listener_cfg *l = &ld->cfg->listeners[i];
    yaml_node_t *item = list_item(ld, seq, i), *n, *name_node = NULL;
    const char *name = peek_name(ld, item, "name"), *s;
    char ldesc[160];
    cg_map m = { .node = item };

    l->client_ca_names = true;
    l->require_client_auth_eku = true;
    l->session_tickets = true;
    l->session_ticket_lifetime_s = 3600;
    l->max_chain_depth = 6;
    l->max_client_certificates = CG_CHAIN_DEFAULT_MAX_CERTIFICATES;
    l->revocation.mode = CG_REVOCATION_FETCH;
    l->case_insensitive_paths = true; /* the backends are IIS */
    l->windows_paths = true;
    if (name) {
        fmt_into(ldesc, sizeof ldesc, "listener \"%s\"", name);
        fmt_into(m.path, sizeof m.path, "listeners[%s]", name);
    } else {
        fmt_into(ldesc, sizeof ldesc, "listeners[#%zu]", i + 1);
        fmt_into(m.path, sizeof m.path, "listeners[#%zu]", i + 1);
    }
    fmt_into(m.where, sizeof m.where, "in %s", ldesc);
    if (!expect_map(ld, item, m.path, keys))
        return;
    check_keys(ld, &m, keys);

    if (get_string(ld, &m, "name", "a name for logs", &n, &s) == CG_YAML_SET) {
        l->name = xstrdup(ld, s);
        name_node = n;
    }

    cg_sockaddr_key key;
    cg_got got = get_string(ld, &m, "address", "a numeric IPv4 or IPv6 address", &n, &s);
    if (got == CG_YAML_ABSENT)
        s = "0.0.0.0";
    if (got == CG_YAML_SET && !address_key(s, &key)) {
        char kp[256];
        key_path(&m, "address", kp, sizeof kp);
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a numeric IPv4 or IPv6 address (expected e.g. 0.0.0.0, "
                      "127.0.0.1, :: or ::1, without brackets; host names are not resolved)", kp, s);
    } else if (got != CG_YAML_BAD) {
        l->address = xstrdup(ld, s);
    }

    uint32_t port = 0;
    got = get_uint(ld, &m, "port", 1, 65535, &port);
    if (got == CG_YAML_ABSENT)
        missing(ld, &m, "port", "the TCP port to listen on, 1 to 65535");
    l->port = (uint16_t)port;

    /* Unnamed listeners are called by what they listen on. */
    if (!cg_yaml_map_get(&ld->y, item, "name", NULL) && l->address && l->port) {
        char def[96];
        bool v6 = strchr(l->address, ':') != NULL;
        fmt_into(def, sizeof def, "%s%s%s:%u", v6 ? "[" : "", l->address, v6 ? "]" : "", l->port);
        l->name = xstrdup(ld, def);
    }

    parse_tls(ld, &m, ldesc, l);
    parse_listener_revocation(ld, &m, ldesc, l);
    /* Loaded (and opened) after the whole file validated: see load_mappings. */
    get_path(ld, &m, "mapping", &l->mapping_file, &l->mapping_pos);
    get_bool(ld, &m, "forward_client_cert", &l->forward_client_cert);
    get_bool(ld, &m, "case_insensitive_paths", &l->case_insensitive_paths); /* routes compare with it */
    get_bool(ld, &m, "windows_paths", &l->windows_paths);                   /* route paths are checked with it */
    parse_strip_headers(ld, &m, ldesc, l);
    parse_listener_proxy_protocol(ld, &m, ldesc, l);
    cg_config_parse_listener_limits(&ld->y, item, m.path, l);
    parse_routes(ld, &m, ldesc, l);
    check_listener_unique(ld, seq, i, name_node);
}

static void parse_listeners(cg_loader *ld, const cg_map *root)
{
    yaml_node_t *seq;
    cg_got got = get_list(ld, root, "listeners", "a list of listeners", &seq);
    if (got == CG_YAML_ABSENT)
        missing(ld, root, "listeners", "a list of listeners, each with port, tls and routes");
    if (got != CG_YAML_SET)
        return;
    size_t n = list_len(seq);
    if (n == 0) {
        cg_yaml_error(&ld->y, seq, "listeners: the list is empty (at least one listener is required)");
        return;
    }
    ld->cfg->listeners = xcalloc(ld, n, sizeof *ld->cfg->listeners);
    if (!ld->cfg->listeners)
        return;
    ld->cfg->nlisteners = n;
    for (size_t i = 0; i < n; i++)
        parse_listener(ld, seq, i);
}

/* ---- errors: what refusal pages show ---- */

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
    if (!(e->templates = xcalloc(ld, count, sizeof *e->templates)))
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
        t->key = xstrdup(ld, key);
        t->path = resolve_path(ld, cg_yaml_text(v));
        t->pos = (cg_pos){ (int)v->start_mark.line + 1, (int)v->start_mark.column + 1 };
    }
}

static void parse_errors(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "detail", "operator_networks", "support", "templates", NULL };
    static const char *const levels[] = { "user", "operator", NULL };
    cg_errors_cfg *e = &ld->cfg->errors;
    cg_map m;
    if (!open_section(ld, root, "errors", keys, "in errors", &m))
        return;

    int level;
    if (get_enum(ld, &m, "detail", levels, &level) == CG_YAML_SET) {
        e->operator_detail = level == 1;
        if (e->operator_detail)
            cg_yaml_warning(&ld->y, cg_yaml_map_get(&ld->y, m.node, "detail", NULL),
                            "errors.detail: operator shows every client the operator sentence of its refusal "
                            "(file paths, mapping rules, backend names and addresses, account names); use it "
                            "only while diagnosing, or list the admins' networks in errors.operator_networks");
    }

    yaml_node_t *n;
    const char *s;
    if (get_string(ld, &m, "support", "a line of text such as \"Call the IT help desk at 555-0100\"", &n, &s) ==
        CG_YAML_SET) {
        if (strlen(s) > CG_ERROR_SUPPORT_MAX)
            cg_yaml_error(&ld->y, n, "errors.support: %zu bytes is too long (expected at most %u)", strlen(s),
                          CG_ERROR_SUPPORT_MAX);
        else if (!support_text_ok(s))
            cg_yaml_error(&ld->y, n, "errors.support: contains a line break or control character (expected one "
                          "line of text)");
        else
            e->support = xstrdup(ld, s);
    }
    parse_error_templates(ld, &m);

    get_networks(ld, &m, "operator_networks",
                 "every client sees the operator sentence (as with errors.detail: operator)",
                 &e->operator_networks, &e->noperator_networks);
}

bool cg_config_operator_client(const cg_config *cfg, const char *ip)
{
    return cfg->errors.operator_detail ||
           cg_cidr_list_contains(cfg->errors.operator_networks, cfg->errors.noperator_networks, ip);
}

/* ---- process: user, group, allow_root, pid_file ---- */

/* Looked up at load so a typo is a load error with its position rather than
 * a failure after binding. The ids are kept: the drop uses these. */
static void parse_process(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "user", "group", "allow_root", "pid_file", NULL };
    cg_process_cfg *p = &ld->cfg->process;
    cg_map m;
    if (!open_section(ld, root, "process", keys, "in process", &m))
        return;
    get_bool(ld, &m, "allow_root", &p->allow_root);
    get_path(ld, &m, "pid_file", &p->pid_file, &p->pid_file_pos);

    yaml_node_t *un = NULL, *gn = NULL;
    const char *user = NULL, *group = NULL;
    cg_got gotu = get_string(ld, &m, "user", "a user name such as certgate", &un, &user);
    cg_got gotg = get_string(ld, &m, "group", "a group name such as certgate", &gn, &group);
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
    p->user = xstrdup(ld, user);
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
    p->group = xstrdup(ld, group);
    p->gid = (uint32_t)gr.gr_gid;
}

/* ---- admin: the metrics and probes listener (admin.h) ---- */

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
static void parse_admin(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "address", "port", "expose", "allow", "max_connections", "timeout",
                                        "kdc_window", NULL };
    cg_admin_cfg *a = &ld->cfg->admin;
    a->port = CG_ADMIN_PORT_DEFAULT;
    a->max_connections = 8;
    a->timeout_ms = 5000;
    a->kdc_window_s = 300;
    cg_map m;
    if (!open_section(ld, root, "admin", keys, "in admin", &m))
        return;
    a->enabled = true;
    get_bool(ld, &m, "expose", &a->expose);
    uint32_t port;
    if (get_uint(ld, &m, "port", 1, 65535, &port) == CG_YAML_SET)
        a->port = (uint16_t)port;
    get_uint(ld, &m, "max_connections", 1, CG_ADMIN_CONNECTIONS_MAX, &a->max_connections);
    get_duration(ld, &m, "timeout", 100, 60u * 1000u, &a->timeout_ms);
    get_seconds(ld, &m, "kdc_window", 1000, 24u * 3600u * 1000u, &a->kdc_window_s);

    yaml_node_t *n = NULL;
    const char *s = NULL;
    cg_got got = get_string(ld, &m, "address", "a numeric IPv4 or IPv6 address such as 127.0.0.1", &n, &s);
    if (got == CG_YAML_ABSENT)
        s = "127.0.0.1";
    cg_sockaddr_key key;
    if (got == CG_YAML_SET && !address_key(s, &key)) {
        cg_yaml_error(&ld->y, n, "admin.address: \"%s\" is not a numeric IPv4 or IPv6 address (expected e.g. "
                      "127.0.0.1 or ::1, without brackets)", s);
        return;
    }
    if (got == CG_YAML_BAD)
        return;
    a->address = xstrdup(ld, s);
    if (n)
        a->address_pos = (cg_pos){ (int)n->start_mark.line + 1, (int)n->start_mark.column + 1 };
    if (!loopback_address(s) && !a->expose)
        cg_yaml_error(&ld->y, n, "admin.address: %s is not a loopback address: the admin listener is plain HTTP "
                      "without authentication (metrics, probes); to bind it there on purpose set admin.expose: "
                      "true, and list the scrapers' networks in admin.allow", s);

    yaml_node_t *seq;
    if (get_list(ld, &m, "allow", "a list of networks such as 10.0.0.0/8 or 2001:db8::/32", &seq) == CG_YAML_SET) {
        size_t count = list_len(seq);
        a->allow = xcalloc(ld, count, sizeof *a->allow);
        for (size_t i = 0; a->allow && i < count; i++) {
            yaml_node_t *it = list_item(ld, seq, i);
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
static void check_admin_port(cg_loader *ld, yaml_node_t *root)
{
    const cg_admin_cfg *a = &ld->cfg->admin;
    if (!a->enabled || !a->address)
        return;
    cg_sockaddr_key ak, lk;
    address_key(a->address, &ak);
    for (size_t i = 0; i < ld->cfg->nlisteners; i++) {
        const cg_listener_cfg *l = &ld->cfg->listeners[i];
        if (!l->address || l->port != a->port || !address_key(l->address, &lk))
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

static void parse_root(cg_loader *ld, yaml_node_t *root)
{
    static const char *const keys[] = { "workers", "logging", "limits", "timeouts", "revocation",
                                        "kerberos", "errors", "process", "backends", "listeners",
                                        "admin", NULL };
    cg_map m = { .node = root, .where = "at top level", .path = "" };
    char d[96], list[256];

    if (!root || cg_yaml_is_null(root)) {
        cg_yaml_error(&ld->y, root, "the configuration is empty (expected a mapping with at least "
                      "backends and listeners; see conf/certgate.yaml)");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        cg_yaml_join(list, sizeof list, keys);
        cg_yaml_error(&ld->y, root, "expected a mapping at the top level (keys: %s), got %s", list,
                      cg_yaml_describe(root, d, sizeof d));
        return;
    }
    check_keys(ld, &m, keys);
    parse_workers(ld, &m);
    parse_logging(ld, &m);
    parse_limits(ld, &m);
    parse_timeouts(ld, &m);
    parse_revocation(ld, &m);
    /* Before backends: a backend's kerberos section needs this one. */
    parse_kerberos(ld, &m);
    parse_errors(ld, &m);
    parse_process(ld, &m);
    parse_admin(ld, &m);
    /* Before listeners, whatever the order in the file: routes name backends. */
    parse_backends(ld, &m);
    parse_listeners(ld, &m);
    check_admin_port(ld, root);
}

/* ---- YAML syntax ---- */

/* ---- snapshot lifetime ---- */

static void free_listener(cg_listener_cfg *l)
{
    if (l->tls)
        cg_tls_server_free(l->tls);
    for (size_t i = 0; i < l->nroutes; i++)
        free(l->routes[i].path);
    free(l->routes);
    free(l->name);
    free(l->address);
    free(l->cert_file);
    free(l->key_file);
    free(l->chain_file);
    free(l->client_ca_file);
    free(l->session_ticket_keys_file);
    for (size_t i = 0; i < l->revocation.ncrl_files; i++)
        free(l->revocation.crl_files[i]);
    free(l->revocation.crl_files);
    free(l->mapping_file);
    for (size_t i = 0; i < l->nstrip_headers; i++)
        free(l->strip_headers[i]);
    free(l->strip_headers);
    for (size_t i = 0; i < l->nkeep_headers; i++)
        free(l->keep_headers[i]);
    free(l->keep_headers);
    free(l->proxy_protocol.trusted);
    if (l->mapping)
        cg_mapping_unref(l->mapping);
}

static void config_free(cg_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        free_listener(&cfg->listeners[i]);
    free(cfg->listeners);
    for (size_t i = 0; i < cfg->nbackends; i++) {
        cg_backend_cfg *b = &cfg->backends[i];
        free(b->name);
        free(b->url);
        free(b->host);
        free(b->host_header);
        free(b->spn);
    }
    free(cfg->backends);
    free(cfg->revocation.cache_dir);
    free(cfg->kerberos.keytab);
    free(cfg->kerberos.principal);
    free(cfg->kerberos.realm);
    free(cfg->kerberos.krb5_config);
    free(cfg->errors.operator_networks);
    free(cfg->errors.support);
    for (size_t i = 0; i < cfg->errors.ntemplates; i++) {
        free(cfg->errors.templates[i].key);
        free(cfg->errors.templates[i].path);
        cg_error_template_free(cfg->errors.templates[i].tpl);
    }
    free(cfg->errors.templates);
    free(cfg->process.user);
    free(cfg->process.group);
    free(cfg->process.pid_file);
    free(cfg->admin.address);
    free(cfg->admin.allow);
    free(cfg->log_file);
    free(cfg->file);
    free(cfg);
}

cg_config *cg_config_ref(cg_config *cfg)
{
    if (cfg)
        atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

void cg_config_unref(cg_config *cfg)
{
    /* acq_rel: the last owner must see every other owner's accesses done. */
    if (cfg && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
        config_free(cfg);
}

static cg_config *config_new(void)
{
    cg_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    atomic_init(&cfg->refs, 1);
    cfg->workers = 1;
    cfg->log_level = CG_LOG_INFO;
    cfg->limits = (cg_limits){
        .max_connections = 10000,
        .max_request_head = 16 * 1024,
        .max_header_line = 8 * 1024,
        .max_headers = 100,
        .max_response_head = 32 * 1024,
        .max_requests_per_connection = 0,
        .max_handshakes_per_address = 256,
        .max_connections_per_address = 4096,
        .per_address_ipv6_prefix = 64,
    };
    cfg->timeouts = (cg_timeouts){
        .handshake = 10000,
        .request_header = 10000,
        .client_body = 60000,
        .keepalive_idle = 60000,
        .backend_connect = 5000,
        .backend_response = 60000,
        .backend_idle = 30000,
        .shutdown = 30000,
    };
    cfg->revocation = (cg_revocation_cfg){
        .cache_dir = NULL,
        .fetch_timeout_ms = 10000,
        .max_crl_size = 64u << 20,
        .max_redirects = 3,
        .allow_http = true,
        .allow_https = false,
        .allow_ldap = true,
        .refresh_before_s = 600,
    };
    /* Used only when the section is present (enabled). */
    cfg->kerberos = (cg_kerberos_cfg){
        .enabled = false,
        .kdc_timeout_ms = 5000,
        .refresh_before_s = 300,
        .negative_cache_ms = 10000,
    };
    return cfg;
}

static bool load_tls(cg_config *cfg, cg_diag *diag)
{
    bool ok = true;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        cg_listener_cfg *l = &cfg->listeners[i];
        size_t errors = diag->errors;
        l->tls = cg_tls_server_new(l, cfg->workers, cfg->file, diag);
        if (!l->tls) {
            ok = false;
            /* Keep the promise of "NULL with at least one error". */
            if (diag->errors == errors)
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, l->cert_pos.line, l->cert_pos.column,
                            "listener \"%s\": TLS setup failed", l->name);
        }
    }
    return ok;
}

/* After TLS: each listener's certificate mapping file. The mapping loader
 * reports its own errors with the mapping file's name and positions. */
static bool load_mappings(cg_config *cfg, cg_diag *diag)
{
    bool ok = true;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        cg_listener_cfg *l = &cfg->listeners[i];
        if (!l->mapping_file)
            continue;
        size_t errors = diag->errors;
        l->mapping = cg_mapping_load(l->mapping_file, diag);
        if (!l->mapping) {
            ok = false;
            if (diag->errors == errors)
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, l->mapping_pos.line,
                            l->mapping_pos.column, "listener \"%s\": the certificate mapping %s "
                            "could not be loaded", l->name, l->mapping_file);
        }
    }
    return ok;
}

/* errors.templates: every file read and checked now, kept in the snapshot
 * (a reload reads them again); then each refusal kind gets its most
 * specific one. A template's own problems are reported at its
 * file:line:column, a file that cannot be used where its path is set. */
static bool load_error_templates(cg_config *cfg, cg_diag *diag)
{
    cg_errors_cfg *e = &cfg->errors;
    bool ok = true;
    for (size_t i = 0; i < e->ntemplates; i++) {
        cg_error_template_cfg *t = &e->templates[i];
        char why[512];
        size_t errors = diag->errors;
        if (!t->key || !t->path) {
            ok = false; /* out of memory at parse: already reported */
            continue;
        }
        t->tpl = cg_error_template_load(t->path, diag, why, sizeof why);
        if (!t->tpl) {
            ok = false;
            if (diag->errors == errors || why[0])
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, t->pos.line, t->pos.column, "errors.templates.%s: %s",
                            t->key, why[0] ? why : "the template could not be loaded");
        }
    }
    for (int k = CG_REFUSE_BAD_REQUEST; ok && k < CG_REFUSE_KIND_COUNT; k++) {
        int best = 0;
        for (size_t i = 0; i < e->ntemplates; i++) {
            int fit = cg_error_template_match(e->templates[i].key, k);
            if (fit > best) {
                best = fit;
                e->template_for[k] = e->templates[i].tpl;
            }
        }
    }
    return ok;
}

static cg_config *load(const unsigned char *buf, size_t len, const char *name, const char *dir,
                       unsigned flags, cg_diag *diag)
{
    cg_loader ld = { .y = { .name = name, .diag = diag, .errors0 = diag->errors }, .dir = dir };
    size_t first_item = diag->count;
    bool have_doc = false;

    ld.cfg = config_new();
    if (!ld.cfg || !(ld.cfg->file = strdup(name))) {
        ld.y.oom = true;
        goto done;
    }
    static const cg_yaml_words words = {
        .second_document = "(expected exactly one document per configuration file; remove this \"---\" and "
                           "what follows)",
        .alias_fix = ": write the value out in full (anchors and aliases are rejected to keep every setting "
                     "explicit where it applies)",
        .anchor_fix = ": write the value out in full (anchors and aliases are rejected to keep every setting "
                      "explicit where it applies)",
    };
    if (!(have_doc = cg_yaml_load(&ld.y, buf, len, &words)))
        goto done;

    parse_root(&ld, yaml_document_get_root_node(&ld.y.doc));
    cg_diag_sort(diag, first_item);

done:
    if (have_doc)
        yaml_document_delete(&ld.y.doc);
    if (ld.y.oom)
        cg_diag_add(diag, CG_DIAG_ERROR, name, 0, 0, "out of memory while loading the configuration");
    if (cg_yaml_errors(&ld.y) || ld.y.oom || !load_error_templates(ld.cfg, diag)) {
        config_free(ld.cfg);
        return NULL;
    }
    if (!(flags & CG_CONFIG_SKIP_TLS) && (!load_tls(ld.cfg, diag) || !load_mappings(ld.cfg, diag))) {
        config_free(ld.cfg);
        return NULL;
    }
    return ld.cfg;
}

/* The directory relative paths are resolved against, made absolute so the
 * snapshot means the same files whatever the working directory is later. */
static char *base_dir(const char *file)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    char *dir = slash ? strndup(file, slash == file ? 1 : (size_t)(slash - file)) : strdup(".");
    if (!dir || dir[0] == '/')
        return dir;
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return dir; /* relative still works while the cwd does not change */
    char *abs = NULL;
    if (strcmp(dir, ".") == 0) {
        abs = cwd;
        cwd = NULL;
    } else if (asprintf(&abs, "%s/%s", cwd, dir) < 0) {
        abs = NULL;
    }
    free(cwd);
    free(dir);
    return abs;
}

cg_config *cg_config_load_string(const char *yaml, size_t len, const char *name,
                                 unsigned flags, cg_diag *diag)
{
    char *dir = base_dir(NULL);
    cg_config *cfg = load((const unsigned char *)yaml, len, name ? name : "<string>", dir, flags, diag);
    free(dir);
    return cfg;
}

/* Reads with fread rather than stat + one read so pipes work too. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    *len = n;
    return buf;
}

cg_config *cg_config_load(const char *path, unsigned flags, cg_diag *diag)
{
    size_t len = 0;
    char *buf = read_all(path, &len);
    if (!buf) {
        cg_diag_add(diag, CG_DIAG_ERROR, path, 0, 0, "cannot read the configuration file: %s",
                    strerror(errno));
        return NULL;
    }
    char *dir = base_dir(path);
    cg_config *cfg = load((const unsigned char *)buf, len, path, dir, flags, diag);
    free(dir);
    free(buf);
    return cfg;
}

/* ---- routes ---- */

const cg_route *cg_config_route(const cg_listener_cfg *l, const char *path, size_t path_len)
{
    /* Routes are few: a linear scan is simpler than a trie and fast enough. */
    const cg_route *best = NULL;
    for (size_t i = 0; i < l->nroutes; i++) {
        const cg_route *r = &l->routes[i];
        if (cg_target_route_covers((cg_slice){ r->path, r->path_len }, (cg_slice){ path, path_len },
                                   l->case_insensitive_paths) &&
            (!best || r->path_len > best->path_len))
            best = r;
    }
    return best;
}
