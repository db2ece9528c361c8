#include "yaml_doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cg_yaml_report(cg_yaml *y, cg_diag_severity sev, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = n ? (int)n->start_mark.line + 1 : 1;
    int col = n ? (int)n->start_mark.column + 1 : 1;
    cg_diag_add(y->diag, sev, y->name, line, col, "%s", msg);
}

size_t cg_yaml_errors(const cg_yaml *y) { return y->diag->errors - y->errors0; }

yaml_node_t *cg_yaml_node(cg_yaml *y, int index) { return yaml_document_get_node(&y->doc, index); }

bool cg_yaml_scalar_is(const yaml_node_t *n, const char *s)
{
    return n->type == YAML_SCALAR_NODE && cg_yaml_len(n) == strlen(s) &&
           memcmp(cg_yaml_text(n), s, cg_yaml_len(n)) == 0;
}

bool cg_yaml_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return cg_yaml_scalar_is(n, "") || cg_yaml_scalar_is(n, "~") || cg_yaml_scalar_is(n, "null") ||
           cg_yaml_scalar_is(n, "Null") || cg_yaml_scalar_is(n, "NULL");
}

const char *cg_yaml_describe(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (cg_yaml_is_null(n))
        return "no value";
    char shown[80];
    size_t k = 0, full = cg_yaml_len(n), len = full > 60 ? 57 : full;
    const char *t = cg_yaml_text(n);
    while (len < full && len > 0 && ((unsigned char)t[len] & 0xC0) == 0x80)
        len--; /* do not cut a UTF-8 sequence */
    for (size_t i = 0; i < len && k < sizeof shown - 1; i++) {
        unsigned char c = (unsigned char)t[i];
        shown[k++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    shown[k] = '\0';
    snprintf(buf, cap, "\"%s%s\"", shown, len < full ? "..." : "");
    return buf;
}

void cg_yaml_join(char *out, size_t cap, const char *const items[])
{
    size_t len = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; items[i] && len < cap; i++) {
        int k = snprintf(out + len, cap - len, "%s%s", i ? ", " : "", items[i]);
        if (k < 0)
            break;
        len += (size_t)k;
    }
}

yaml_node_t *cg_yaml_map_get(cg_yaml *y, yaml_node_t *map, const char *key, yaml_node_t **keynode)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cg_yaml_node(y, p->key);
        if (k && cg_yaml_scalar_is(k, key)) {
            if (keynode)
                *keynode = k;
            return cg_yaml_node(y, p->value);
        }
    }
    return NULL;
}

static void syntax_error(cg_yaml *y, const yaml_parser_t *p, const unsigned char *buf, size_t len,
                         const cg_yaml_words *w)
{
    int line = 1, col = 1;
    char ctx[200] = "";
    if (p->error == YAML_MEMORY_ERROR) {
        y->oom = true;
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (buf[i] == '\n')
                line++, col = 1;
            else
                col++;
        }
        if (p->problem_value != -1)
            snprintf(ctx, sizeof ctx, " (byte 0x%02x)", (unsigned)p->problem_value & 0xff);
    } else {
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
        if (p->context)
            snprintf(ctx, sizeof ctx, " (%s at line %d, column %d)", p->context, (int)p->context_mark.line + 1,
                     (int)p->context_mark.column + 1);
    }
    bool star = w->star_fix && p->problem_mark.index < len && buf[p->problem_mark.index] == '*';
    cg_diag_add(y->diag, CG_DIAG_ERROR, y->name, line, col, "YAML syntax error: %s%s%s",
                p->problem ? p->problem : "unknown problem", ctx, star ? w->star_fix : "");
}

static void reject_anchor(cg_yaml *y, const yaml_event_t *ev, const yaml_char_t *anchor, bool alias,
                          const cg_yaml_words *w)
{
    cg_diag_add(y->diag, CG_DIAG_ERROR, y->name, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                "YAML %s \"%c%s\" is not supported%s", alias ? "alias" : "anchor", alias ? '*' : '&',
                (const char *)anchor, alias ? w->alias_fix : w->anchor_fix);
}

/* The event pass: anchors, aliases, extra documents, syntax errors. */
static bool scan_events(cg_yaml *y, const unsigned char *buf, size_t len, const cg_yaml_words *w)
{
    yaml_parser_t p;
    yaml_event_t ev;
    size_t errors = cg_yaml_errors(y);
    int docs = 0;
    if (!yaml_parser_initialize(&p)) {
        y->oom = true;
        return false;
    }
    yaml_parser_set_input_string(&p, buf, len);
    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(y, &p, buf, len, w);
            break;
        }
        const yaml_char_t *anchor = NULL;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs == 2)
                cg_diag_add(y->diag, CG_DIAG_ERROR, y->name, (int)ev.start_mark.line + 1,
                            (int)ev.start_mark.column + 1, "a second YAML document %s", w->second_document);
            break;
        case YAML_ALIAS_EVENT: reject_anchor(y, &ev, ev.data.alias.anchor, true, w); break;
        case YAML_SCALAR_EVENT: anchor = ev.data.scalar.anchor; break;
        case YAML_SEQUENCE_START_EVENT: anchor = ev.data.sequence_start.anchor; break;
        case YAML_MAPPING_START_EVENT: anchor = ev.data.mapping_start.anchor; break;
        default: break;
        }
        if (anchor)
            reject_anchor(y, &ev, anchor, false, w);
        bool end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (end)
            break;
    }
    yaml_parser_delete(&p);
    return cg_yaml_errors(y) == errors && !y->oom;
}

bool cg_yaml_load(cg_yaml *y, const unsigned char *buf, size_t len, const cg_yaml_words *w)
{
    if (!scan_events(y, buf, len, w))
        return false;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        y->oom = true;
        return false;
    }
    yaml_parser_set_input_string(&parser, buf, len);
    bool have_doc = yaml_parser_load(&parser, &y->doc);
    if (!have_doc) /* the scan found no syntax error, so this is memory */
        syntax_error(y, &parser, buf, len, w);
    yaml_parser_delete(&parser);
    return have_doc;
}

void cg_yaml_key_path(const char *prefix, const char *key, char *out, size_t cap)
{
    if (prefix[0])
        snprintf(out, cap, "%s.%s", prefix, key);
    else
        snprintf(out, cap, "%s", key);
}

void cg_yaml_check_keys(cg_yaml *y, yaml_node_t *map, const char *where, const char *const keys[])
{
    yaml_node_pair_t *start = map->data.mapping.pairs.start;
    for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cg_yaml_node(y, p->key);
        char d[96], list[400];
        if (k->type != YAML_SCALAR_NODE || cg_yaml_is_null(k)) {
            cg_yaml_join(list, sizeof list, keys);
            cg_yaml_error(y, k, "expected a key name %s, got %s (expected one of: %s)", where,
                          cg_yaml_describe(k, d, sizeof d), list);
            continue;
        }
        size_t i = 0;
        while (keys[i] && !cg_yaml_scalar_is(k, keys[i]))
            i++;
        if (!keys[i]) {
            cg_yaml_join(list, sizeof list, keys);
            cg_yaml_error(y, k, "unknown key %s %s (expected one of: %s)", cg_yaml_describe(k, d, sizeof d), where,
                          list);
            continue;
        }
        for (yaml_node_pair_t *q = start; q < p; q++) {
            yaml_node_t *first = cg_yaml_node(y, q->key);
            if (cg_yaml_scalar_is(first, keys[i])) {
                cg_yaml_error(y, k, "duplicate key \"%s\" %s (first at line %d, column %d)", keys[i], where,
                              (int)first->start_mark.line + 1, (int)first->start_mark.column + 1);
                break;
            }
        }
    }
}

cg_yaml_got cg_yaml_get_text(cg_yaml *y, yaml_node_t *map, const char *prefix, const char *key, const char *expect,
                             yaml_node_t **vn, const char **out)
{
    yaml_node_t *n = cg_yaml_map_get(y, map, key, NULL);
    char path[256], d[96];
    *vn = n;
    if (!n)
        return CG_YAML_ABSENT;
    cg_yaml_key_path(prefix, key, path, sizeof path);
    if (n->type != YAML_SCALAR_NODE || cg_yaml_is_null(n)) {
        cg_yaml_error(y, n, "%s: expected %s, got %s", path, expect, cg_yaml_describe(n, d, sizeof d));
        return CG_YAML_BAD;
    }
    if (strlen(cg_yaml_text(n)) != cg_yaml_len(n)) {
        cg_yaml_error(y, n, "%s: contains a NUL character (expected %s)", path, expect);
        return CG_YAML_BAD;
    }
    *out = cg_yaml_text(n);
    return CG_YAML_SET;
}

cg_yaml_got cg_yaml_get_string(cg_yaml *y, yaml_node_t *map, const char *prefix, const char *key,
                               const char *expect, yaml_node_t **vn, const char **out)
{
    cg_yaml_got got = cg_yaml_get_text(y, map, prefix, key, expect, vn, out);
    if (got == CG_YAML_SET && **out == '\0') {
        char path[256];
        cg_yaml_key_path(prefix, key, path, sizeof path);
        cg_yaml_error(y, *vn, "%s: must not be empty (expected %s)", path, expect);
        return CG_YAML_BAD;
    }
    return got;
}

cg_yaml_got cg_yaml_get_list(cg_yaml *y, yaml_node_t *map, const char *prefix, const char *key,
                             const char *expect, yaml_node_t **out)
{
    yaml_node_t *n = cg_yaml_map_get(y, map, key, NULL);
    char path[256], d[96];
    *out = n;
    if (!n)
        return CG_YAML_ABSENT;
    if (n->type == YAML_SEQUENCE_NODE)
        return CG_YAML_SET;
    cg_yaml_key_path(prefix, key, path, sizeof path);
    cg_yaml_error(y, n, "%s: expected %s, got %s", path, expect, cg_yaml_describe(n, d, sizeof d));
    return CG_YAML_BAD;
}

cg_yaml_got cg_yaml_get_bool(cg_yaml *y, yaml_node_t *map, const char *prefix, const char *key, bool *out)
{
    yaml_node_t *n;
    const char *s;
    cg_yaml_got got = cg_yaml_get_text(y, map, prefix, key, "true or false", &n, &s);
    if (got != CG_YAML_SET)
        return got;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        *out = s[0] == 't';
        return CG_YAML_SET;
    }
    char path[256], d[96];
    cg_yaml_key_path(prefix, key, path, sizeof path);
    cg_yaml_error(y, n, "%s: expected true or false, got %s", path, cg_yaml_describe(n, d, sizeof d));
    return CG_YAML_BAD;
}
