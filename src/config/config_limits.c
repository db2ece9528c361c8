#include "config_limits.h"

#include <stdio.h>
#include <string.h>

#define BODY_MAX (1024ull << 30) /* 1024g: above that, a typo */
#define RATE_MAX_PER_MINUTE (1000000u * 60u)

bool cg_parse_rate(const char *s, uint32_t *per_minute)
{
    uint64_t v = 0;
    const char *p = s;
    if (!s || *p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > RATE_MAX_PER_MINUTE)
            return false;
    }
    if (*p == '\0' || strcmp(p, "/s") == 0)
        v *= 60;
    else if (strcmp(p, "/m") != 0)
        return false;
    if (v < 1 || v > RATE_MAX_PER_MINUTE)
        return false;
    *per_minute = (uint32_t)v;
    return true;
}

const char *cg_rate_format(uint32_t per_minute, char *out, size_t cap)
{
    if (per_minute % 60 == 0)
        snprintf(out, cap, "%u/s", per_minute / 60);
    else
        snprintf(out, cap, "%u/m", per_minute);
    return out;
}

static void parse_body_max(cg_yaml *y, yaml_node_t *map, const char *prefix, uint64_t *out, bool *set)
{
    yaml_node_t *n;
    const char *s;
    char path[256], d[96];
    if (cg_yaml_get_text(y, map, prefix, "max_request_body", "a size such as 0 (unlimited), 512k, 10m or 1g", &n,
                         &s) != CG_YAML_SET)
        return;
    cg_yaml_key_path(prefix, "max_request_body", path, sizeof path);
    uint64_t v;
    if (!cg_parse_size(s, &v)) {
        cg_yaml_error(y, n, "%s: %s is not a size (use e.g. 0 for unlimited, 512k, 10m, 1g; k, m, g are powers "
                      "of 1024)", path, cg_yaml_describe(n, d, sizeof d));
        return;
    }
    if (v > BODY_MAX) {
        cg_yaml_error(y, n, "%s: %s is out of range (expected 0 for unlimited, or up to 1024g)", path,
                      cg_yaml_describe(n, d, sizeof d));
        return;
    }
    *out = v;
    if (set)
        *set = true;
}

/* rate_limit.per_client or .per_address: {rate, burst}. */
static void parse_rate(cg_yaml *y, yaml_node_t *section, const char *sprefix, const char *key, cg_rate *out)
{
    static const char *const keys[] = { "rate", "burst", NULL };
    char path[256], where[300], d[96];
    yaml_node_t *m = cg_yaml_map_get(y, section, key, NULL);
    if (!m)
        return;
    cg_yaml_key_path(sprefix, key, path, sizeof path);
    if (m->type != YAML_MAPPING_NODE) {
        cg_yaml_error(y, m, "%s: expected a mapping with keys rate, burst (e.g. {rate: 20/s, burst: 100}), got %s",
                      path, cg_yaml_describe(m, d, sizeof d));
        return;
    }
    snprintf(where, sizeof where, "in %s", path);
    cg_yaml_check_keys(y, m, where, keys);

    yaml_node_t *n;
    const char *s;
    char kp[300];
    cg_rate r = { 0, 0 };
    cg_yaml_got got = cg_yaml_get_text(y, m, path, "rate", "a rate such as 20/s or 30/m", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(y, m, "missing required key \"rate\" %s (expected a rate such as 20/s or 30/m)", where);
    if (got != CG_YAML_SET)
        return;
    cg_yaml_key_path(path, "rate", kp, sizeof kp);
    if (!cg_parse_rate(s, &r.per_minute)) {
        cg_yaml_error(y, n, "%s: %s is not a rate from 1/m to 1000000/s (expected requests per second such as 20 "
                      "or 20/s, or per minute such as 30/m)", kp, cg_yaml_describe(n, d, sizeof d));
        return;
    }
    /* Default: one second's worth, at least one request. */
    r.burst = (r.per_minute + 59) / 60;
    got = cg_yaml_get_text(y, m, path, "burst", "a whole number of requests", &n, &s);
    if (got == CG_YAML_BAD)
        return;
    if (got == CG_YAML_SET) {
        cg_yaml_key_path(path, "burst", kp, sizeof kp);
        uint64_t v = 0;
        const char *p = s;
        for (; *p >= '0' && *p <= '9' && v <= CG_RATE_BURST_MAX; p++)
            v = v * 10 + (uint64_t)(*p - '0');
        if (p == s || *p || v < 1 || v > CG_RATE_BURST_MAX) {
            cg_yaml_error(y, n, "%s: expected a whole number from 1 to %u (requests a client may send at once), "
                          "got %s", kp, CG_RATE_BURST_MAX, cg_yaml_describe(n, d, sizeof d));
            return;
        }
        r.burst = (uint32_t)v;
    }
    *out = r;
}

void cg_config_parse_listener_limits(cg_yaml *y, yaml_node_t *listener, const char *prefix, cg_listener_cfg *l)
{
    static const char *const keys[] = { "per_client", "per_address", NULL };
    parse_body_max(y, listener, prefix, &l->max_request_body, NULL);

    yaml_node_t *sec = cg_yaml_map_get(y, listener, "rate_limit", NULL);
    if (!sec)
        return;
    char path[256], where[300], d[96];
    cg_yaml_key_path(prefix, "rate_limit", path, sizeof path);
    if (sec->type != YAML_MAPPING_NODE) {
        cg_yaml_error(y, sec, "%s: expected a mapping with keys per_client, per_address, got %s", path,
                      cg_yaml_describe(sec, d, sizeof d));
        return;
    }
    snprintf(where, sizeof where, "in %s", path);
    cg_yaml_check_keys(y, sec, where, keys);
    parse_rate(y, sec, path, "per_client", &l->rate_per_client);
    parse_rate(y, sec, path, "per_address", &l->rate_per_address);
}

void cg_config_parse_route_limits(cg_yaml *y, yaml_node_t *route, const char *prefix, cg_route *r)
{
    parse_body_max(y, route, prefix, &r->max_request_body, &r->has_max_request_body);
}
