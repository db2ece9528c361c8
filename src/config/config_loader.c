#include "config_loader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_value.h"

char *cg_loader_strdup(cg_loader *ld, const char *s)
{
    char *p = strdup(s);
    if (!p)
        ld->y.oom = true;
    return p;
}

void *cg_loader_calloc(cg_loader *ld, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        ld->y.oom = true;
    return p;
}

/* The value of the first occurrence of key (later ones are reported as
 * duplicates by check_keys), or NULL. */
/* A usable name from an item, before its keys are checked: messages about
 * the item's other keys can then say which item they are about. */
const char *cg_loader_peek_name(cg_loader *ld, yaml_node_t *map, const char *key)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, map, key, NULL);
    if (!n || n->type != YAML_SCALAR_NODE || cg_yaml_is_null(n) || n->data.scalar.length == 0 ||
        strlen(cg_yaml_text(n)) != n->data.scalar.length)
        return NULL;
    return cg_yaml_text(n);
}

/* Checks that n is a mapping; what is how its content is described in the
 * message ("keys: level, file"). */
bool cg_loader_expect_map(cg_loader *ld, yaml_node_t *n, const char *path, const char *const keys[])
{
    if (n->type == YAML_MAPPING_NODE)
        return true;
    char d[96], list[256];
    cg_yaml_join(list, sizeof list, keys);
    cg_yaml_error(&ld->y, n, "%s: expected a mapping with keys %s, got %s", path, list,
                  cg_yaml_describe(n, d, sizeof d));
    return false;
}

void cg_loader_missing(cg_loader *ld, const cg_map *m, const char *key, const char *expect)
{
    cg_yaml_error(&ld->y, m->node, "missing required key \"%s\" %s (expected %s)", key, m->where, expect);
}

cg_got cg_loader_get_string(cg_loader *ld, const cg_map *m, const char *key, const char *expect,
                            yaml_node_t **vn, const char **out)
{
    cg_got got = cg_yaml_get_text(&ld->y, m->node, m->path, key, expect, vn, out);
    if (got == CG_YAML_SET && **out == '\0') {
        char path[256];
        cg_yaml_key_path(m->path, key, path, sizeof path);
        cg_yaml_error(&ld->y, *vn, "%s: must not be empty (expected %s)", path, expect);
        return CG_YAML_BAD;
    }
    return got;
}

cg_got cg_loader_get_uint(cg_loader *ld, const cg_map *m, const char *key, uint32_t min,
                          uint32_t max, uint32_t *out)
{
    yaml_node_t *n;
    const char *s;
    char expect[96], path[256], d[96];
    cg_fmt_into(expect, sizeof expect, "a whole number from %u to %u", min, max);
    cg_got got = cg_yaml_get_text(&ld->y, m->node, m->path, key, expect, &n, &s);
    if (got != CG_YAML_SET)
        return got;
    cg_yaml_key_path(m->path, key, path, sizeof path);
    uint64_t v;
    switch (cg_value_parse_uint(s, &v)) {
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

cg_got cg_loader_get_size(cg_loader *ld, const cg_map *m, const char *key, uint32_t min,
                          uint32_t max, uint32_t *out)
{
    yaml_node_t *n;
    const char *s;
    char path[256], d[96], lo[32], hi[32];
    cg_got got = cg_yaml_get_text(&ld->y, m->node, m->path, key, "a size such as 512, 16k or 1m", &n, &s);
    if (got != CG_YAML_SET)
        return got;
    cg_yaml_key_path(m->path, key, path, sizeof path);
    uint64_t v;
    switch (cg_value_parse_size(s, &v)) {
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
                      cg_yaml_describe(n, d, sizeof d), cg_value_fmt_size(min, lo, sizeof lo),
                      cg_value_fmt_size(max, hi, sizeof hi));
        return CG_YAML_BAD;
    }
    *out = (uint32_t)v;
    return CG_YAML_SET;
}

cg_got cg_loader_get_duration(cg_loader *ld, const cg_map *m, const char *key, uint32_t min_ms,
                              uint32_t max_ms, uint32_t *out_ms)
{
    yaml_node_t *n;
    const char *s;
    char path[256], d[96], lo[32], hi[32];
    cg_got got = cg_yaml_get_text(&ld->y, m->node, m->path, key, "a duration such as 500ms, 30s, 5m or 1h", &n, &s);
    if (got != CG_YAML_SET)
        return got;
    cg_yaml_key_path(m->path, key, path, sizeof path);
    uint32_t v = 0;
    cg_num r = cg_value_parse_duration(s, &v);
    if (r == CG_NUM_SYNTAX) {
        cg_yaml_error(&ld->y, n, "%s: %s is not a duration (use e.g. 500ms, 30s, 5m, 1h)", path,
                      cg_yaml_describe(n, d, sizeof d));
        return CG_YAML_BAD;
    }
    if (r == CG_NUM_RANGE || v < min_ms || v > max_ms) {
        cg_yaml_error(&ld->y, n, "%s: %s is out of range (expected %s to %s)", path,
                      cg_yaml_describe(n, d, sizeof d), cg_value_fmt_duration(min_ms, lo, sizeof lo),
                      cg_value_fmt_duration(max_ms, hi, sizeof hi));
        return CG_YAML_BAD;
    }
    *out_ms = v;
    return CG_YAML_SET;
}

/* A duration stored in whole seconds (the consumers count seconds). */
cg_got cg_loader_get_seconds(cg_loader *ld, const cg_map *m, const char *key, uint32_t min_ms,
                             uint32_t max_ms, uint32_t *out_s)
{
    uint32_t ms;
    cg_got got = cg_loader_get_duration(ld, m, key, min_ms, max_ms, &ms);
    if (got != CG_YAML_SET)
        return got;
    if (ms % 1000) {
        char path[256];
        cg_yaml_key_path(m->path, key, path, sizeof path);
        cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m->node, key, NULL), "%s: must be a whole number of seconds "
                      "(expected e.g. 30s or 5m)", path);
        return CG_YAML_BAD;
    }
    *out_s = ms / 1000;
    return CG_YAML_SET;
}

/* The key node of the first occurrence of key, or NULL. */
yaml_node_t *cg_loader_key_node(cg_loader *ld, yaml_node_t *map, const char *key)
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
cg_got cg_loader_get_enum(cg_loader *ld, const cg_map *m, const char *key, const char *const names[],
                          int *out)
{
    yaml_node_t *n;
    const char *s;
    char list[128], expect[160], path[256], d[96];
    cg_yaml_join(list, sizeof list, names);
    cg_fmt_into(expect, sizeof expect, "one of: %s", list);
    cg_got got = cg_yaml_get_text(&ld->y, m->node, m->path, key, expect, &n, &s);
    if (got != CG_YAML_SET)
        return got;
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return CG_YAML_SET;
        }
    }
    cg_yaml_key_path(m->path, key, path, sizeof path);
    cg_yaml_error(&ld->y, n, "%s: unknown value %s (expected %s)", path, cg_yaml_describe(n, d, sizeof d), expect);
    return CG_YAML_BAD;
}

/* dir + "/" + p unless p is absolute. */
char *cg_loader_resolve_path(cg_loader *ld, const char *p)
{
    if (p[0] == '/' || !ld->dir)
        return cg_loader_strdup(ld, p);
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

cg_got cg_loader_get_path(cg_loader *ld, const cg_map *m, const char *key, char **out, cg_pos *pos)
{
    yaml_node_t *n;
    const char *s;
    cg_got got = cg_loader_get_string(ld, m, key, "a file path", &n, &s);
    if (got != CG_YAML_SET)
        return got;
    *out = cg_loader_resolve_path(ld, s);
    if (pos) {
        pos->line = (int)n->start_mark.line + 1;
        pos->column = (int)n->start_mark.column + 1;
    }
    return CG_YAML_SET;
}

/* The list under key; reports a non-list. */
cg_got cg_loader_get_list(cg_loader *ld, const cg_map *m, const char *key, const char *expect,
                          yaml_node_t **out)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, m->node, key, NULL);
    if (!n)
        return CG_YAML_ABSENT;
    if (n->type != YAML_SEQUENCE_NODE) {
        char path[256], d[96];
        cg_yaml_key_path(m->path, key, path, sizeof path);
        cg_yaml_error(&ld->y, n, "%s: expected %s (items starting with \"- \"), got %s", path, expect,
                      cg_yaml_describe(n, d, sizeof d));
        return CG_YAML_BAD;
    }
    *out = n;
    return CG_YAML_SET;
}

/* A sub-mapping such as "logging" or "tls". false when absent or invalid. */
bool cg_loader_open_section(cg_loader *ld, const cg_map *parent, const char *key,
                            const char *const keys[], const char *where, cg_map *m)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, parent->node, key, NULL);
    if (!n)
        return false;
    memset(m, 0, sizeof *m);
    m->node = n;
    cg_yaml_key_path(parent->path, key, m->path, sizeof m->path);
    cg_fmt_into(m->where, sizeof m->where, "%s", where);
    if (!cg_loader_expect_map(ld, n, m->path, keys))
        return false;
    cg_yaml_check_keys(&ld->y, m->node, m->where, keys);
    return true;
}

/* The list of networks under key (cidr.h). Each bad item is reported at its
 * position and left out of *out; a network of every address gets a
 * warning ending with every (what that means where it is used). */
cg_got cg_loader_get_networks(cg_loader *ld, const cg_map *m, const char *key, const char *every, cg_cidr **out,
                              size_t *nout)
{
    yaml_node_t *seq;
    char path[256];
    cg_got got = cg_loader_get_list(ld, m, key, "a list of networks such as 192.0.2.0/24 or 2001:db8::/32", &seq);
    if (got != CG_YAML_SET)
        return got;
    cg_yaml_key_path(m->path, key, path, sizeof path);
    size_t count = cg_yaml_list_len(seq);
    cg_cidr *nets = cg_loader_calloc(ld, count, sizeof *nets);
    if (!nets)
        return CG_YAML_BAD;
    size_t good = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = cg_yaml_list_item(&ld->y, seq, i);
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

void *cg_loader_parse_list(cg_loader *ld, const cg_map *root, const cg_loader_list *list, size_t *n)
{
    yaml_node_t *seq;
    *n = 0;
    cg_got got = cg_loader_get_list(ld, root, list->key, list->expect, &seq);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, root, list->key, list->missing);
    if (got != CG_YAML_SET)
        return NULL;
    size_t count = cg_yaml_list_len(seq);
    if (count == 0) {
        cg_yaml_error(&ld->y, seq, "%s: the list is empty (at least one %s is required)", list->key, list->noun);
        return NULL;
    }
    char *items = cg_loader_calloc(ld, count, list->item_size);
    if (!items)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = cg_yaml_list_item(&ld->y, seq, i);
        const char *name = cg_loader_peek_name(ld, item, "name");
        cg_map m = { .node = item };
        if (name) {
            cg_fmt_into(m.where, sizeof m.where, "in %s \"%s\"", list->noun, name);
            cg_fmt_into(m.path, sizeof m.path, "%s[%s]", list->key, name);
        } else {
            cg_fmt_into(m.where, sizeof m.where, "in %s[#%zu]", list->key, i + 1);
            cg_fmt_into(m.path, sizeof m.path, "%s[#%zu]", list->key, i + 1);
        }
        if (!cg_loader_expect_map(ld, item, m.path, list->keys))
            continue;
        cg_yaml_check_keys(&ld->y, m.node, m.where, list->keys);
        list->parse_item(ld, seq, i, &m, items);
    }
    *n = count;
    return items;
}
