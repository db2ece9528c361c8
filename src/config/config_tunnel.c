/* routes[].upgrade and routes[].timeouts (config_tunnel.h). */
#include "config_tunnel.h"

#include <string.h>

#include "base/base.h"

/* Longest protocol name accepted ("websocket" is 9). */
#define UPGRADE_NAME_MAX 64

/* RFC 9110 7.8: protocol-name ["/" protocol-version], both tokens. */
static bool protocol_ok(const char *s)
{
    size_t n = strlen(s), slashes = 0;
    if (n == 0 || n > UPGRADE_NAME_MAX || s[0] == '/' || s[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/') {
            slashes++;
            continue;
        }
        if (!(cg_ascii_is_alpha(c) || cg_ascii_is_digit(c) || strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return slashes <= 1;
}

static void parse_upgrade(cg_loader *ld, const cg_map *m, cg_route *r)
{
    yaml_node_t *seq;
    char path[256], d[96];
    cg_got got = cg_loader_get_list(ld, m, "upgrade", "a list of protocols such as [websocket]", &seq);
    if (got != CG_YAML_SET)
        return;
    cg_yaml_key_path(m->path, "upgrade", path, sizeof path);
    size_t n = cg_yaml_list_len(seq);
    if (n == 0)
        return; /* upgrade: [] is the default spelled out */
    r->upgrade = cg_loader_calloc(ld, n, sizeof *r->upgrade);
    if (!r->upgrade)
        return;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cg_yaml_list_item(&ld->y, seq, i);
        if (!it || it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it)) {
            cg_yaml_error(&ld->y, it ? it : seq, "%s: expected a protocol name such as websocket, got %s", path,
                          it ? cg_yaml_describe(it, d, sizeof d) : "nothing");
            continue;
        }
        char name[UPGRADE_NAME_MAX + 1];
        const char *s = (const char *)it->data.scalar.value;
        if (!protocol_ok(s)) {
            cg_yaml_error(&ld->y, it, "%s: %s is not a protocol name (expected a token such as websocket, "
                          "RFC 9110 7.8)", path, cg_yaml_describe(it, d, sizeof d));
            continue;
        }
        cg_ascii_lower_copy(name, s, strlen(s) + 1);
        if (strcmp(name, "h2c") == 0 || strncmp(name, "http/", 5) == 0) {
            /* Another HTTP on the same connection would bypass every rule
             * certgate applies to HTTP/1.1 requests (h2c smuggling). */
            cg_yaml_error(&ld->y, it, "%s: %s cannot be allowed: certgate never lets a connection switch to "
                          "another HTTP version (expected a protocol such as websocket)", path,
                          cg_yaml_describe(it, d, sizeof d));
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < r->nupgrade && !dup; k++)
            dup = strcmp(r->upgrade[k], name) == 0;
        if (dup) {
            cg_yaml_error(&ld->y, it, "%s: \"%s\" is listed twice (expected each protocol once)", path, name);
            continue;
        }
        if (!(r->upgrade[r->nupgrade] = cg_loader_strdup(ld, name)))
            return;
        r->nupgrade++;
    }
}

void cg_config_parse_route_tunnel(cg_loader *ld, const cg_map *route, cg_route *r)
{
    static const char *const keys[] = { "backend_response", "tunnel_idle", NULL };
    parse_upgrade(ld, route, r);
    cg_map t;
    char where[300];
    cg_fmt_into(where, sizeof where, "in %s.timeouts", route->path);
    if (!cg_loader_open_section(ld, route, "timeouts", keys, where, &t))
        return;
    cg_loader_get_duration(ld, &t, "backend_response", 1, CG_TIMEOUT_MAX_MS, &r->backend_response_ms);
    if (cg_loader_get_duration(ld, &t, "tunnel_idle", 1, CG_TIMEOUT_MAX_MS, &r->tunnel_idle_ms) == CG_YAML_SET &&
        r->nupgrade == 0)
        cg_yaml_warning(&ld->y, cg_yaml_map_get(&ld->y, t.node, "tunnel_idle", NULL),
                        "%s.timeouts.tunnel_idle has no effect: the route allows no upgrade (add upgrade: "
                        "[websocket])", route->path);
}
