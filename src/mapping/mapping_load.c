/* The mapping file loader (mapping_load.h). */
#include "mapping_load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"
#include "base/base.h"
#include "mapping_load_internal.h"
#include "mapping_text.h"

#define CG_PATTERN_MAX     1024    /* bytes of one rule pattern */
#define CG_RULES_MAX       32      /* rules in one many-to-one mapping */
#define CG_MAPPING_FILE_MAX (256u << 20) /* 1,000,000 entries fit */

/* ======================================================================
 * The loader
 *
 * libyaml's document API, one small function per part of the schema, and
 * every problem reported at the position of the node it concerns; the walk
 * goes on after an error so one run shows every mistake. Messages follow
 * the configuration loader's two shapes:
 *   unknown key "pattrn" in many_to_one[sales].rules[#1] (expected one of: ...)
 *   many_to_one[sales].rules[#1].pattern: "a\b" has '\' before ... (fix)
 * ====================================================================== */

static char *ld_strndup(cg_mload *ld, const char *s, size_t n)
{
    char *p = cg_mapping_strndup(ld->m, s, n);
    if (!p)
        ld->y.oom = true;
    return p;
}

static void *ld_calloc(cg_mload *ld, size_t n, size_t size)
{
    if (n && size > SIZE_MAX / n) {
        ld->y.oom = true;
        return NULL;
    }
    size_t bytes = n * size != 0 ? n * size : 1;
    void *p = cg_mapping_alloc(ld->m, bytes);
    if (!p)
        ld->y.oom = true;
    else
        memset(p, 0, bytes);
    return p;
}

static int nline(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }
static int ncol(const yaml_node_t *n) { return (int)n->start_mark.column + 1; }

static const char *where(const cg_mnode *m, char *buf, size_t cap)
{
    if (m->path[0])
        cg_fmt_into(buf, cap, "in %s", m->path);
    else
        cg_fmt_into(buf, cap, "at the top level");
    return buf;
}

/* Non-empty text that is valid UTF-8 without control characters. */
cg_yaml_got cg_mload_get_utf8(cg_mload *ld, const cg_mnode *m, const char *key, const char *expect,
                            yaml_node_t **vn, const char **out)
{
    cg_yaml_got got = cg_yaml_get_string(&ld->y, m->node, m->path, key, expect, vn, out);
    char path[256];
    size_t at;
    if (got != CG_YAML_SET)
        return got;
    const char *bad = text_problem(*out, cg_yaml_len(*vn), &at);
    if (bad) {
        cg_yaml_key_path(m->path, key, path, sizeof path);
        cg_yaml_error(&ld->y, *vn, "%s: %s at byte %zu (expected %s)", path, bad, at + 1, expect);
        return CG_YAML_BAD;
    }
    return CG_YAML_SET;
}

/* ---- templates ---- */

/* Splits a template into literal text and placeholders. "{{" and "}}"
 * are literal braces. */
static const char *template_split(cg_mload *ld, const char *src, size_t len, cg_template *t)
{
    cg_tpart parts[CG_TEMPLATE_PARTS];
    char lit[CG_TEMPLATE_MAX];
    size_t np = 0, nl = 0;
    for (size_t i = 0; i <= len; i++) {
        bool open = i < len && src[i] == '{' && !(i + 1 < len && src[i + 1] == '{');
        if (i < len && !open) {
            if (src[i] == '}' && !(i + 1 < len && src[i + 1] == '}'))
                return "has a '}' without '{' (write \"}}\" for a literal brace)";
            lit[nl++] = src[i];
            if (src[i] == '{' || src[i] == '}')
                i++; /* the second of "{{" or "}}" */
            continue;
        }
        if (nl) {
            if (np == CG_TEMPLATE_PARTS)
                return "has too many parts";
            parts[np] = (cg_tpart){ .lit = ld_strndup(ld, lit, nl), .litlen = nl, .slot = -1 };
            np++;
            nl = 0;
        }
        if (i == len)
            break;
        const char *close = memchr(src + i, '}', len - i);
        if (!close)
            return "has a '{' without '}'";
        if (np == CG_TEMPLATE_PARTS)
            return "has too many parts";
        const char *why = cg_template_part_parse(src + i + 1, (size_t)(close - src - i - 1), &parts[np]);
        if (why)
            return why;
        parts[np].lit = NULL;
        np++;
        t->has_fields = true;
        i = (size_t)(close - src);
    }
    t->parts = ld_calloc(ld, np, sizeof *t->parts);
    if (t->parts)
        memcpy(t->parts, parts, np * sizeof *parts);
    t->nparts = np;
    return NULL;
}

static bool template_compile(cg_mload *ld, yaml_node_t *n, const char *path, const char *src,
                             cg_template *t)
{
    size_t len = strlen(src);
    memset(t, 0, sizeof *t);
    t->src = ld_strndup(ld, src, len);
    if (len >= CG_TEMPLATE_MAX) {
        cg_yaml_error(&ld->y, n, "%s: the principal is longer than %d bytes", path, CG_TEMPLATE_MAX - 1);
        return false;
    }
    const char *why = template_split(ld, src, len, t);
    if (why) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" %s", path, src, why);
        return false;
    }
    char sample[CG_TEMPLATE_MAX + 300];
    cg_sb b;
    sb_init(&b, sample, sizeof sample);
    cg_template_sample(t, ld->m->default_realm, &b);
    const char *problem = cg_principal_problem(b.p, b.len);
    if (problem && !memchr(b.p, '@', b.len)) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" has no @REALM and default_realm is not set (write "
                      "\"user@REALM\", or set default_realm at the top of the file)", path, src);
        return false;
    }
    if (problem) {
        if (t->has_fields)
            cg_yaml_error(&ld->y, n, "%s: \"%s\" cannot give a valid principal: with typical values it "
                          "gives \"%s\", and %s", path, src, sample, problem);
        else
            cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a valid principal: %s (expected user@REALM)", path,
                          sample, problem);
        return false;
    }
    return true;
}

static void get_principal(cg_mload *ld, const cg_mnode *m, bool required, cg_template *t,
                          const char *required_why)
{
    yaml_node_t *n;
    const char *s;
    char path[256], w[200];
    cg_yaml_got got = cg_mload_get_utf8(ld, m, "principal", "a principal such as alice@EXAMPLE.TEST or "
                            "{subject.CN}@EXAMPLE.TEST", &n, &s);
    if (got == CG_YAML_ABSENT && required)
        cg_yaml_error(&ld->y, m->node, "missing required key \"principal\" %s (%s)", where(m, w, sizeof w),
                      required_why);
    if (got != CG_YAML_SET)
        return;
    cg_yaml_key_path(m->path, "principal", path, sizeof path);
    template_compile(ld, n, path, s, t);
}

/* ---- one-to-one entries ---- */

/* An entry's name, read before its keys are checked so that messages
 * about the entry can use it; NULL if it has no usable one. */
static const char *peek_entry_name(cg_mload *ld, yaml_node_t *item)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, item, "name", NULL);
    if (!n || n->type != YAML_SCALAR_NODE || cg_yaml_len(n) == 0 || cg_yaml_len(n) >= 64 ||
        !cg_mapping_text_ok(cg_yaml_text(n), cg_yaml_len(n)))
        return NULL;
    return cg_yaml_text(n);
}

static const char *const one_keys[] = { "name", "certificate", "certificate_file", "sha256", "issuer",
                                        "serial", "subject", "ski", "sha1_public_key", "rfc822",
                                        "principal", "enabled", NULL };

static void one_duplicate(cg_mload *ld, const cg_mnode *m, size_t i, size_t first)
{
    const cg_one *a = &ld->m->ones[first];
    char shown[96];
    cg_sb b;
    sb_init(&b, shown, sizeof shown);
    sb_clip(&b, a->key, strcspn(a->key, "\n"), 80);
    cg_yaml_error(&ld->y, m->node, "duplicate one-to-one entry: one_to_one[#%zu] maps the same certificate as "
                  "one_to_one[#%zu] (line %d), both by %s %s; remove one of them", i + 1, first + 1,
                  a->line, cg_kind_names[a->kind], shown);
}

static void parse_one(cg_mload *ld, yaml_node_t *item, size_t i)
{
    cg_mapping *m = ld->m;
    cg_one *e = &m->ones[i];
    cg_mnode mn = { .node = item };
    const char *s;
    yaml_node_t *n;
    char d[96], w[200], key[2 * CG_DN_MAX + 8];
    const char *name = peek_entry_name(ld, item);

    e->line = nline(item);
    e->column = ncol(item);
    e->enabled = true;
    if (name)
        cg_fmt_into(mn.path, sizeof mn.path, "one_to_one[%s]", name);
    else
        cg_fmt_into(mn.path, sizeof mn.path, "one_to_one[#%zu]", i + 1);
    if (item->type != YAML_MAPPING_NODE) {
        cg_yaml_error(&ld->y, item, "%s: expected a mapping with principal and one of " ONE_SELECTORS_TEXT
                      ", got %s", mn.path, cg_yaml_describe(item, d, sizeof d));
        return;
    }
    cg_yaml_check_keys(&ld->y, mn.node, where(&mn, w, sizeof w), one_keys);
    if (cg_mload_get_utf8(ld, &mn, "name", "a name for logs", &n, &s) == CG_YAML_SET)
        e->name = ld_strndup(ld, s, strlen(s));
    cg_yaml_get_bool(&ld->y, mn.node, mn.path, "enabled", &e->enabled);
    get_principal(ld, &mn, true, &e->principal, "the Kerberos principal this certificate maps to");
    int sel = cg_mload_selector(ld, &mn);
    if (sel < 0 || !cg_mload_key(ld, &mn, sel, e, key, sizeof key))
        return;
    e->keylen = strlen(key);
    e->key = ld_strndup(ld, key, e->keylen);
    e->hash = cg_mapping_key_hash(e->kind, key, e->keylen);
    if (!e->key)
        return;
    size_t first = cg_mapping_insert(m, i);
    if (first != i)
        one_duplicate(ld, &mn, i, first);
    else if (e->enabled && m->kind_first[e->kind] == SIZE_MAX)
        m->kind_first[e->kind] = i;
}

static void parse_one_to_one(cg_mload *ld, const cg_mnode *root)
{
    yaml_node_t *seq;
    if (cg_yaml_get_list(&ld->y, root->node, root->path, "one_to_one", "a list of one-to-one entries", &seq) != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq), cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    cg_mapping *m = ld->m;
    m->ones = ld_calloc(ld, n, sizeof *m->ones);
    m->table = ld_calloc(ld, cap, sizeof *m->table);
    if (!m->ones || !m->table || n >= UINT32_MAX)
        return;
    m->tmask = cap - 1;
    m->nones = n;
    for (size_t i = 0; i < n; i++)
        parse_one(ld, cg_yaml_list_item(&ld->y, seq, i), i);
}

/* ---- many-to-one mappings ---- */

static const char *const m2o_keys[] = { "name", "description", "enabled", "action", "principal", "rules",
                                        NULL };
static const char *const rule_keys[] = { "field", "sub_field", "pattern", "case_sensitive", NULL };

static int rule_field(cg_mload *ld, const cg_mnode *m)
{
    yaml_node_t *n;
    const char *s;
    char path[256], w[200];
    cg_yaml_got got = cg_mload_get_utf8(ld, m, "field", "subject, issuer or san", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, m->node, "missing required key \"field\" %s (expected subject, issuer or san)",
                      where(m, w, sizeof w));
    if (got != CG_YAML_SET)
        return -1;
    int f = cg_field_by_name(s, strlen(s));
    if (f < 0) {
        cg_yaml_key_path(m->path, "field", path, sizeof path);
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a certificate field (expected subject, issuer or san)", path, s);
    }
    return f;
}

static int rule_sub(cg_mload *ld, const cg_mnode *m, int field)
{
    yaml_node_t *n;
    const char *s;
    char path[256], w[200];
    const char *expect = field == FIELD_SAN ? "upn, email, dns or uri"
                         : "CN, O, OU, L, ST, C, DC, UID, emailAddress or serialNumber";
    cg_yaml_got got = cg_mload_get_utf8(ld, m, "sub_field", expect, &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, m->node, "missing required key \"sub_field\" %s (expected %s)", where(m, w, sizeof w),
                      field >= 0 ? expect : "a sub-field of the field");
    if (got != CG_YAML_SET || field < 0)
        return -1;
    int sub = cg_sub_by_name(field, s, strlen(s));
    if (sub < 0) {
        cg_yaml_key_path(m->path, "sub_field", path, sizeof path);
        bool other = cg_sub_by_name(field == FIELD_SAN ? FIELD_SUBJECT : FIELD_SAN, s, strlen(s)) >= 0;
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a sub-field of %s (expected %s)%s", path, s,
                      cg_field_names[field], expect,
                      !other ? "" : field == FIELD_SAN ? "; it is a subject/issuer sub-field"
                                                  : "; it is a san sub-field (field: san)");
    }
    return sub;
}

static void parse_rule(cg_mload *ld, const cg_mnode *parent, yaml_node_t *item, size_t i, cg_rule *r)
{
    cg_mnode mn = { .node = item };
    yaml_node_t *n;
    const char *s;
    char d[96], path[256], w[200];
    cg_fmt_into(mn.path, sizeof mn.path, "%s.rules[#%zu]", parent->path, i + 1);
    r->line = nline(item);
    r->column = ncol(item);
    r->cs = true; /* as IIS: compareCaseSensitive defaults to true */
    r->slot = -1;
    if (item->type != YAML_MAPPING_NODE) {
        cg_yaml_error(&ld->y, item, "%s: expected a mapping with keys field, sub_field, pattern (and "
                      "case_sensitive), got %s", mn.path, cg_yaml_describe(item, d, sizeof d));
        return;
    }
    cg_yaml_check_keys(&ld->y, mn.node, where(&mn, w, sizeof w), rule_keys);
    cg_yaml_get_bool(&ld->y, mn.node, mn.path, "case_sensitive", &r->cs);
    int field = rule_field(ld, &mn), sub = rule_sub(ld, &mn, field);
    if (field >= 0 && sub >= 0)
        r->slot = cg_slot_of(field, sub);
    cg_yaml_got got = cg_mload_get_utf8(ld, &mn, "pattern", "a value to match, with * and ? wildcards", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, item, "missing required key \"pattern\" %s (expected the value to match, with "
                      "* and ? wildcards; \"*\" matches any value)", where(&mn, w, sizeof w));
    if (got != CG_YAML_SET)
        return;
    cg_yaml_key_path(mn.path, "pattern", path, sizeof path);
    size_t len = strlen(s), at = 0, plen = 0;
    char *pat = cg_mapping_alloc(ld->m, len + 1);
    if (!pat) {
        ld->y.oom = true;
        return;
    }
    if (len > CG_PATTERN_MAX) {
        cg_yaml_error(&ld->y, n, "%s: longer than %d bytes", path, CG_PATTERN_MAX);
        return;
    }
    const char *why = cg_glob_compile(s, len, r->cs, pat, &plen, &at);
    if (why) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" %s (at byte %zu)", path, s, why, at + 1);
        return;
    }
    r->src = ld_strndup(ld, s, len);
    r->pat = pat;
    r->patlen = plen;
}

static void parse_rules(cg_mload *ld, const cg_mnode *mn, cg_m2o *e)
{
    yaml_node_t *seq;
    char w[200];
    cg_yaml_got got = cg_yaml_get_list(&ld->y, mn->node, mn->path, "rules", "a list of rules", &seq);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, mn->node, "missing required key \"rules\" %s (expected a list of rules, each "
                      "with field, sub_field and pattern; all must match)", where(mn, w, sizeof w));
    if (got != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq);
    if (n == 0 || n > CG_RULES_MAX) {
        cg_yaml_error(&ld->y, seq, "%s.rules: %s (expected 1 to %d rules; to match every certificate of a "
                      "CA, use a rule such as field: issuer, sub_field: CN, pattern: \"Example CA\")",
                      mn->path, n ? "too many rules" : "the list is empty", CG_RULES_MAX);
        return;
    }
    e->rules = ld_calloc(ld, n, sizeof *e->rules);
    if (!e->rules)
        return;
    e->nrules = n;
    for (size_t i = 0; i < n; i++) {
        parse_rule(ld, mn, cg_yaml_list_item(&ld->y, seq, i), i, &e->rules[i]);
        if (e->rules[i].slot >= 0)
            e->slots |= 1u << e->rules[i].slot;
    }
}

static void parse_action(cg_mload *ld, const cg_mnode *mn, cg_m2o *e)
{
    yaml_node_t *n;
    const char *s;
    char path[256], d[96];
    if (cg_yaml_get_text(&ld->y, mn->node, mn->path, "action", "allow or deny", &n, &s) != CG_YAML_SET)
        return;
    if (!strcmp(s, "allow") || !strcmp(s, "deny")) {
        e->deny = s[0] == 'd';
        return;
    }
    cg_yaml_key_path(mn->path, "action", path, sizeof path);
    cg_yaml_error(&ld->y, n, "%s: expected allow or deny, got %s", path, cg_yaml_describe(n, d, sizeof d));
}

/* Names are unique: logs and 403 pages name the mapping that decided. */
static void m2o_name(cg_mload *ld, cg_mnode *mn, size_t i)
{
    yaml_node_t *n;
    const char *s;
    char w[200];
    cg_m2o *e = &ld->m->m2o[i];
    cg_yaml_got got = cg_mload_get_utf8(ld, mn, "name", "a name for logs, unique in the file", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, mn->node, "missing required key \"name\" %s (expected a name, unique in the file, "
                      "that logs and refusal pages show)", where(mn, w, sizeof w));
    if (got != CG_YAML_SET)
        return;
    e->name = ld_strndup(ld, s, strlen(s));
    if (strlen(s) < 64)
        cg_fmt_into(mn->path, sizeof mn->path, "many_to_one[%s]", s);
    for (size_t j = 0; j < i; j++) {
        const cg_m2o *o = &ld->m->m2o[j];
        if (o->name && e->name && !strcmp(o->name, e->name)) {
            cg_yaml_error(&ld->y, n, "duplicate many-to-one name \"%s\" (first at line %d): names must be unique",
                          s, o->line);
            break;
        }
    }
}

static void parse_m2o(cg_mload *ld, yaml_node_t *item, size_t i)
{
    cg_m2o *e = &ld->m->m2o[i];
    cg_mnode mn = { .node = item };
    yaml_node_t *n;
    const char *s;
    char d[96], path[256], w[200];
    cg_fmt_into(mn.path, sizeof mn.path, "many_to_one[#%zu]", i + 1);
    e->line = nline(item);
    e->column = ncol(item);
    e->enabled = true;
    if (item->type != YAML_MAPPING_NODE) {
        cg_yaml_error(&ld->y, item, "%s: expected a mapping with keys name, action, principal and rules, got %s",
                      mn.path, cg_yaml_describe(item, d, sizeof d));
        return;
    }
    m2o_name(ld, &mn, i);
    cg_yaml_check_keys(&ld->y, mn.node, where(&mn, w, sizeof w), m2o_keys);
    if (cg_mload_get_utf8(ld, &mn, "description", "text", &n, &s) == CG_YAML_SET)
        e->description = ld_strndup(ld, s, strlen(s));
    cg_yaml_get_bool(&ld->y, mn.node, mn.path, "enabled", &e->enabled);
    parse_action(ld, &mn, e);
    if (e->deny && (n = cg_yaml_map_get(&ld->y, item, "principal", NULL)) != NULL) {
        cg_yaml_key_path(mn.path, "principal", path, sizeof path);
        cg_yaml_error(&ld->y, n, "%s: a deny mapping refuses the certificate (403.12) and maps it to no one: "
                      "remove principal, or make the action allow", path);
    } else {
        get_principal(ld, &mn, !e->deny, &e->principal, "the principal for certificates this mapping "
                      "allows; or action: deny");
    }
    parse_rules(ld, &mn, e);
}

/* ---- shadowed mappings ---- */

/* Whether a matches every certificate b matches: each rule of a covers a
 * rule of b on the same sub-field. Then b's matching value for that rule
 * also matches a's rule (whatever other values the field has), so a
 * matches too, and comes first. */
static bool m2o_covers(const cg_m2o *a, const cg_m2o *b)
{
    if (a->slots & ~b->slots)
        return false;
    for (size_t i = 0; i < a->nrules; i++) {
        const cg_rule *ra = &a->rules[i];
        bool covered = false;
        for (size_t j = 0; j < b->nrules && !covered; j++) {
            const cg_rule *rb = &b->rules[j];
            covered = ra->slot == rb->slot &&
                      cg_glob_covers(ra->pat, ra->patlen, ra->cs, rb->pat, rb->patlen, rb->cs);
        }
        if (!covered)
            return false;
    }
    return true;
}

static bool m2o_complete(const cg_m2o *e)
{
    if (!e->name || !e->rules)
        return false;
    for (size_t i = 0; i < e->nrules; i++)
        if (!e->rules[i].pat || e->rules[i].slot < 0)
            return false;
    return true;
}

static void check_shadowing(cg_mload *ld, yaml_node_t *seq)
{
    const cg_mapping *m = ld->m;
    for (size_t j = 0; j < m->nm2o; j++) {
        const cg_m2o *b = &m->m2o[j];
        if (!b->enabled || !m2o_complete(b))
            continue;
        for (size_t i = 0; i < j; i++) {
            const cg_m2o *a = &m->m2o[i];
            if (!a->enabled || !m2o_complete(a) || !m2o_covers(a, b))
                continue;
            cg_yaml_warning(&ld->y, cg_yaml_list_item(&ld->y, seq, j), "many_to_one[%s] can never match: many_to_one[%s] "
                            "(line %d) comes first and matches every certificate it matches (each of its "
                            "rules covers one of [%s]'s rules); move it before [%s], or remove it",
                            b->name, a->name, a->line, b->name, a->name);
            break;
        }
    }
}

static void parse_many_to_one(cg_mload *ld, const cg_mnode *root)
{
    yaml_node_t *seq;
    if (cg_yaml_get_list(&ld->y, root->node, root->path, "many_to_one", "a list of many-to-one mappings", &seq) != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq);
    ld->m->m2o = ld_calloc(ld, n, sizeof *ld->m->m2o);
    if (!ld->m->m2o)
        return;
    ld->m->nm2o = n;
    for (size_t i = 0; i < n; i++)
        parse_m2o(ld, cg_yaml_list_item(&ld->y, seq, i), i);
    check_shadowing(ld, seq);
}

/* ---- the top level ---- */

static void parse_default_realm(cg_mload *ld, const cg_mnode *root)
{
    yaml_node_t *n;
    const char *s;
    if (cg_mload_get_utf8(ld, root, "default_realm", "a Kerberos realm such as EXAMPLE.TEST", &n, &s) != CG_YAML_SET)
        return;
    const char *why = cg_principal_realm_problem(s, strlen(s));
    if (why) {
        cg_yaml_error(&ld->y, n, "default_realm: \"%s\" is not a Kerberos realm: %s (expected e.g. EXAMPLE.TEST)",
                      s, why);
        return;
    }
    if (strlen(s) > 200) {
        cg_yaml_error(&ld->y, n, "default_realm: longer than 200 bytes");
        return;
    }
    ld->m->default_realm = ld_strndup(ld, s, strlen(s));
}

static void parse_no_match(cg_mload *ld, const cg_mnode *root)
{
    yaml_node_t *n;
    const char *s;
    char d[96];
    if (cg_yaml_get_text(&ld->y, root->node, root->path, "no_match", "401 or 403", &n, &s) != CG_YAML_SET)
        return;
    if (!strcmp(s, "401") || !strcmp(s, "403")) {
        ld->m->no_match_403 = s[2] == '3';
        return;
    }
    cg_yaml_error(&ld->y, n, "no_match: expected 401 (\"logon failed\", 401.2, as IIS) or 403, got %s",
                  cg_yaml_describe(n, d, sizeof d));
}

static void warn_if_empty(cg_mload *ld, yaml_node_t *root)
{
    const cg_mapping *m = ld->m;
    for (size_t i = 0; i < m->nones; i++)
        if (m->ones[i].enabled)
            return;
    for (size_t i = 0; i < m->nm2o; i++)
        if (m->m2o[i].enabled)
            return;
    cg_yaml_warning(&ld->y, root, "no enabled mapping: every certificate will be refused with %s",
                    m->no_match_403 ? "403" : "401.2");
}

static void parse_root(cg_mload *ld, yaml_node_t *root)
{
    static const char *const keys[] = { "default_realm", "no_match", "one_to_one", "many_to_one", NULL };
    cg_mnode m = { .node = root, .path = "" };
    char d[96], list[256], w[200];
    if (!root || cg_yaml_is_null(root)) {
        cg_yaml_error(&ld->y, root, "the mapping file is empty (expected a mapping with one_to_one and/or "
                      "many_to_one; see conf/mapping.example.yaml)");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        cg_yaml_join(list, sizeof list, keys);
        cg_yaml_error(&ld->y, root, "expected a mapping at the top level (keys: %s), got %s", list,
                      cg_yaml_describe(root, d, sizeof d));
        return;
    }
    cg_yaml_check_keys(&ld->y, m.node, where(&m, w, sizeof w), keys);
    /* Before the entries, whatever the order in the file: principals use it. */
    parse_default_realm(ld, &m);
    parse_no_match(ld, &m);
    parse_one_to_one(ld, &m);
    parse_many_to_one(ld, &m);
    if (!cg_yaml_errors(&ld->y))
        warn_if_empty(ld, root);
}

static cg_mapping *load(const unsigned char *buf, size_t len, const char *name, const char *dir,
                        cg_diag *diag)
{
    cg_mload ld = { .y = { .name = name, .diag = diag, .errors0 = diag->errors }, .dir = dir };
    size_t first_item = diag->count;
    bool have_doc = false;
    ld.m = calloc(1, sizeof *ld.m);
    if (!ld.m || !(ld.m->file = cg_mapping_strndup(ld.m, name, strlen(name)))) {
        ld.y.oom = true;
        goto done;
    }
    atomic_init(&ld.m->refs, 1);
    for (int k = 0; k < N_KINDS; k++)
        ld.m->kind_first[k] = SIZE_MAX;
    static const cg_yaml_words words = {
        .second_document = "(a mapping file holds exactly one; remove this \"---\" and what follows)",
        .alias_fix = ": if this is a wildcard pattern, quote it (pattern: \"*...\")",
        .anchor_fix = ": write every value out in full",
        .star_fix = "; a value that starts with '*' must be quoted: pattern: \"*\"",
    };
    have_doc = cg_yaml_load(&ld.y, buf, len, &words);
    if (have_doc)
        parse_root(&ld, yaml_document_get_root_node(&ld.y.doc));
    cg_diag_sort(diag, first_item);
done:
    if (have_doc)
        yaml_document_delete(&ld.y.doc);
    if (ld.y.oom)
        cg_diag_add(diag, CG_DIAG_ERROR, name, 0, 0, "out of memory while loading the mapping file");
    if (cg_yaml_errors(&ld.y) || ld.y.oom) {
        cg_mapping_free(ld.m);
        return NULL;
    }
    return ld.m;
}

cg_mapping *cg_mapping_load_string(const char *yaml, size_t len, const char *name, const char *dir,
                                   cg_diag *diag)
{
    return load((const unsigned char *)yaml, len, name ? name : "<string>", dir, diag);
}

cg_mapping *cg_mapping_load(const char *path, cg_diag *diag)
{
    size_t len = 0;
    cg_file_error fe;
    unsigned char *buf = cg_file_read(path, CG_MAPPING_FILE_MAX, 0, &len, &fe);
    if (!buf) {
        cg_diag_add(diag, CG_DIAG_ERROR, path, 0, 0, "cannot read the mapping file: %s",
                    errno == EFBIG ? "larger than 256 MiB" : strerror(errno));
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    cg_mapping *m = load(buf, len, path, dir, diag);
    free(dir);
    free(buf);
    return m;
}
