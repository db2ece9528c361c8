/* Certificate -> Kerberos principal mapping (docs/mapping.md).
 *
 * A mapping file has one-to-one entries (a certificate named by its
 * SHA-256, or by an AD-style strong key: issuer + serial, subject key
 * identifier, SHA-1 of the public key, issuer + subject, RFC 822 name), then
 * ordered many-to-one mappings (allow or deny, rules over subject / issuer /
 * SAN sub-fields with "*" and "?" wildcards). Precedence: the earliest
 * matching one-to-one entry, else the first matching many-to-one mapping,
 * else "no mapping" (401.2, or 403 if the file says so).
 *
 * Safety rests on one rule: certificate fields are compared as the text
 * their DER values decode to, never as mbedtls_x509_dn_gets() prints them
 * (it replaces bytes with '?' and stops at NUL). A value that does not
 * decode to UTF-8 free of control characters is "undecodable": it never
 * matches, never goes into a principal, and when certgate cannot tell
 * whether a mapping would have matched without it, mapping stops with "no
 * mapping" rather than fall through to a later (possibly allowing) mapping.
 *
 * Layout of this file: text utilities; certificate fields (decoding, the
 * per-certificate view, canonical DNs); wildcard patterns; principal
 * templates; the loaded structure and its hash table; the YAML loader;
 * mapping a certificate; explaining it.
 */
#include "mapping.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <yaml.h>

#include "dn.h"
#include "mapping_text.h"
#include "glob.h"
#include "cert_view.h"
#include "cert_key.h"
#include "principal.h"
#include "cert_text.h"
#include "mapping_table.h"
#include "mapping_load.h"
#include "mapping_priv.h"
#include "verify.h"
#include "yaml_doc.h"

/* Bounds. Each is far beyond real use; past them the input is a mistake or
 * an attack, and a fixed bound keeps mapping free of allocation. */
#define CG_DETAIL_MAPPINGS 3       /* many-to-one mappings explained in a 401 detail */

/* "#" + hex of the value's BER encoding, as RFC 4514 writes a value it
 * cannot show as text. */
static void sb_hex_value(cg_sb *b, const cg_value *x)
{
    unsigned char head[6];
    size_t h = 0, len = x->raw_len;
    char hex[3];
    head[h++] = x->tag;
    if (len < 0x80) {
        head[h++] = (unsigned char)len;
    } else {
        size_t nb = len > 0xFFFFFF ? 4 : len > 0xFFFF ? 3 : len > 0xFF ? 2 : 1;
        head[h++] = (unsigned char)(0x80 | nb);
        for (size_t i = nb; i > 0; i--)
            head[h++] = (unsigned char)(len >> (8 * (i - 1)));
    }
    sb_add(b, "#", 1);
    for (size_t i = 0; i < h; i++) {
        hex_lower(&head[i], 1, hex);
        sb_add(b, hex, 2);
    }
    for (size_t i = 0; i < len && !b->full; i++) {
        hex_lower(&x->raw[i], 1, hex);
        sb_add(b, hex, 2);
    }
}

static void sb_attr_type(cg_sb *b, const cg_value *x)
{
    const cg_attr_type *t = cg_attr_by_oid(x->oid, x->oid_len);
    char oid[64];
    if (t) {
        sb_puts(b, t->name);
    } else {
        cg_attr_oid_text(x->oid, x->oid_len, oid, sizeof oid);
        sb_puts(b, oid);
    }
}

/* ======================================================================
 * Mapping a certificate
 * ====================================================================== */

/* Rules and mappings evaluate to true, false, or unknown: unknown when an
 * undecodable value might have made the difference. */
typedef enum { TV_FALSE, TV_TRUE, TV_UNKNOWN } cg_tv;

/* True when any decodable value of the rule's sub-field matches. */
static cg_tv rule_eval(const cg_rule *r, const cg_view *v)
{
    for (int16_t i = v->first[r->slot]; i >= 0; i = v->v[i].next) {
        const cg_value *x = &v->v[i];
        if (x->problem == VP_OK && cg_glob_match(r->pat, r->patlen, r->cs, x->s, x->len))
            return TV_TRUE;
    }
    return (v->tainted >> r->slot) & 1 ? TV_UNKNOWN : TV_FALSE;
}

static cg_tv m2o_eval(const cg_m2o *e, const cg_view *v)
{
    /* A rule on a sub-field the certificate lacks cannot match. */
    if (e->slots & ~v->present & ~v->tainted)
        return TV_FALSE;
    cg_tv res = TV_TRUE;
    for (size_t i = 0; i < e->nrules; i++) {
        cg_tv tv = rule_eval(&e->rules[i], v);
        if (tv == TV_FALSE)
            return TV_FALSE;
        if (tv == TV_UNKNOWN)
            res = TV_UNKNOWN;
    }
    return res;
}

/* ---- one-to-one lookup ---- */

static size_t lookup_enabled(const cg_mapping *m, cg_kind k, const char *key, size_t len)
{
    size_t i = cg_mapping_find(m, k, key, len);
    return i != SIZE_MAX && m->ones[i].enabled ? i : SIZE_MAX;
}

/* The first enabled entry of kind k naming this certificate, SIZE_MAX if
 * none. */
static size_t one_lookup_kind(const cg_mapping *m, cg_view *v, cg_kind k, bool *undecodable)
{
    char key[2 * CG_DN_MAX + 8];
    if (k != K_RFC822) {
        if (!cg_view_key(v, k, key, sizeof key, undecodable))
            return SIZE_MAX;
        return lookup_enabled(m, k, key, strlen(key));
    }
    int slot = cg_slot_of(FIELD_SAN, SAN_EMAIL);
    size_t best = SIZE_MAX;
    if ((v->tainted >> slot) & 1)
        *undecodable = true;
    for (int16_t i = v->first[slot]; i >= 0; i = v->v[i].next) {
        const cg_value *x = &v->v[i];
        if (x->problem != VP_OK || x->len >= sizeof key)
            continue;
        for (size_t c = 0; c < x->len; c++)
            key[c] = fold(x->s[c]);
        size_t hit = lookup_enabled(m, K_RFC822, key, x->len);
        if (hit < best)
            best = hit;
    }
    return best;
}

/* The earliest enabled one-to-one entry naming the certificate, across
 * key kinds. When a kind's key cannot be computed (undecodable name) and
 * an entry of that kind comes before the best hit, that entry might have
 * been the one: *unknown is set to the kind and SIZE_MAX returned. */
static size_t one_find(const cg_mapping *m, cg_view *v, int *unknown)
{
    size_t best = SIZE_MAX, unknown_first = SIZE_MAX;
    *unknown = -1;
    for (int k = 0; k < N_KINDS; k++) {
        if (m->kind_first[k] >= best)
            continue; /* no entry of this kind, or none that could come first */
        bool undecodable = false;
        size_t i = one_lookup_kind(m, v, (cg_kind)k, &undecodable);
        if (undecodable && m->kind_first[k] < unknown_first) {
            unknown_first = m->kind_first[k];
            *unknown = k;
        }
        if (i < best)
            best = i;
    }
    if (unknown_first < best)
        return SIZE_MAX;
    *unknown = -1;
    return best;
}

/* ---- the sentences of a result ---- */

/* 'certificate "CN=bob,..." (serial 2B..., issuer "CN=...")' */
static void sb_cert(cg_sb *b, const cg_view *v)
{
    char subj[512], iss[512], serial[80];
    cg_sb s;
    sb_init(&s, subj, sizeof subj);
    cg_view_dn_text(v, FIELD_SUBJECT, &s);
    sb_init(&s, iss, sizeof iss);
    cg_view_dn_text(v, FIELD_ISSUER, &s);
    cg_cert_serial(v->crt, serial, sizeof serial);
    sb_puts(b, "certificate \"");
    sb_clip(b, subj, strlen(subj), 140);
    sb_printf(b, "\" (serial %s, issuer \"", serial);
    sb_clip(b, iss, strlen(iss), 100);
    sb_puts(b, "\")");
}

static void sb_quoted(cg_sb *b, const cg_value *x, size_t max)
{
    char why[96];
    if (x->problem != VP_OK) {
        cg_vproblem_text((cg_vproblem)x->problem, x->detail, why, sizeof why);
        sb_printf(b, "(a value that %s)", why);
        return;
    }
    sb_add(b, "\"", 1);
    sb_clip(b, x->s, x->len, max);
    sb_add(b, "\"", 1);
}

/* Why a rule does not match: 'subject.OU "Sales" does not match "Eng*"'. */
static void sb_rule_miss(cg_sb *b, const cg_rule *r, const cg_view *v)
{
    char sn[40];
    cg_slot_name(r->slot, sn, sizeof sn);
    if (v->count[r->slot] == 0) {
        sb_printf(b, "the certificate has no %s", sn);
        return;
    }
    sb_printf(b, "%s ", sn);
    int shown = 0;
    for (int16_t i = v->first[r->slot]; i >= 0 && shown < 3; i = v->v[i].next, shown++) {
        if (shown)
            sb_puts(b, ", ");
        sb_quoted(b, &v->v[i], 40);
    }
    if (v->count[r->slot] > 3)
        sb_printf(b, " (and %u more)", v->count[r->slot] - 3u);
    sb_printf(b, " %s \"", v->count[r->slot] > 1 ? "do not match" : "does not match");
    sb_clip(b, r->src, strlen(r->src), 60);
    sb_printf(b, "\"%s", r->cs ? "" : " (case-insensitive)");
}

/* The first rule of e that decides it does not match (or is unknown). */
static const cg_rule *m2o_first_miss(const cg_m2o *e, const cg_view *v)
{
    for (size_t i = 0; i < e->nrules; i++)
        if (rule_eval(&e->rules[i], v) != TV_TRUE)
            return &e->rules[i];
    return NULL;
}

static void fill_none(const cg_mapping *m, cg_map_result *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fill_none(const cg_mapping *m, cg_map_result *out, const char *fmt, ...)
{
    char detail[sizeof out->why.detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    out->outcome = CG_MAP_NONE;
    out->principal[0] = '\0';
    cg_refuse(&out->why, m->no_match_403 ? CG_REFUSE_MAP_NONE_403 : CG_REFUSE_MAP_NONE, "%s", detail);
}

/* No entry matched: name the certificate and say, for the one-to-one table
 * and the first few enabled many-to-one mappings, why not. */
static void fill_no_match(const cg_mapping *m, cg_view *v, cg_map_result *out)
{
    char detail[sizeof out->why.detail];
    cg_sb b;
    sb_init(&b, detail, sizeof detail - 120); /* room kept for the advice */
    sb_printf(&b, "No mapping in %s matches the ", m->file);
    sb_cert(&b, v);
    sb_puts(&b, ".");
    if (m->nones == 1)
        sb_printf(&b, " One-to-one: the one entry does not name it (SHA-256 %.16s...).",
                  cg_view_key_sha256(v));
    else if (m->nones)
        sb_printf(&b, " One-to-one: none of the %zu entries names it (SHA-256 %.16s...).", m->nones,
                  cg_view_key_sha256(v));
    size_t shown = 0, enabled = 0;
    for (size_t i = 0; i < m->nm2o; i++) {
        const cg_m2o *e = &m->m2o[i];
        if (!e->enabled)
            continue;
        if (enabled++ >= CG_DETAIL_MAPPINGS)
            continue;
        sb_printf(&b, "%s\"%s\": ", shown++ ? "; " : " Many-to-one: ", e->name);
        const cg_rule *r = m2o_first_miss(e, v);
        if (r)
            sb_rule_miss(&b, r, v);
    }
    if (enabled > CG_DETAIL_MAPPINGS)
        sb_printf(&b, "; and %zu more", enabled - CG_DETAIL_MAPPINGS);
    if (shown)
        sb_puts(&b, ".");
    if (!m->nones && !enabled)
        sb_puts(&b, " The file has no enabled mapping.");
    b.cap = sizeof detail; /* now the advice may use the room kept */
    b.full = false;
    sb_puts(&b, " Add a one-to-one entry or a many-to-one rule for it; `certgate explain --cert` "
                "shows every field the rules can use.");
    fill_none(m, out, "%s", detail);
}

/* A one-to-one entry or an allow mapping decided: build the principal. */
static void fill_allow(const cg_mapping *m, cg_view *v, const cg_template *t, const char *label,
                       cg_map_result *out)
{
    char why[400], cert[600];
    cg_sb b;
    fmt_into(out->rule, sizeof out->rule, "%s", label);
    if (cg_template_eval(t, v, m->default_realm, out->principal, sizeof out->principal, why, sizeof why)) {
        out->outcome = CG_MAP_ALLOW;
        return;
    }
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    fill_none(m, out, "The %s matches %s in %s, but no principal can be made for it: %s. "
              "Nothing else is tried: fix the principal template or the certificate.",
              cert, label, m->file, why);
}

static void fill_deny(const cg_mapping *m, cg_view *v, const cg_m2o *e, cg_map_result *out)
{
    char cert[600];
    cg_sb b;
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    out->outcome = CG_MAP_DENY;
    out->principal[0] = '\0';
    fmt_into(out->rule, sizeof out->rule, "many-to-one \"%s\"", e->name);
    cg_refuse(&out->why, CG_REFUSE_MAP_DENIED, "The mapper denied access: the %s matches the deny "
              "mapping \"%s\" (%s, line %d).", cert, e->name, m->file, e->line);
}

/* An undecodable value stands where a decision was needed. */
static void fill_unknown_m2o(const cg_mapping *m, cg_view *v, const cg_m2o *e, cg_map_result *out)
{
    char cert[600], sn[40] = "a field", why[96] = "cannot be decoded";
    cg_sb b;
    const cg_rule *r = m2o_first_miss(e, v);
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    if (r) {
        cg_slot_name(r->slot, sn, sizeof sn);
        for (int16_t i = v->first[r->slot]; i >= 0; i = v->v[i].next)
            if (v->v[i].problem != VP_OK)
                cg_vproblem_text((cg_vproblem)v->v[i].problem, v->v[i].detail, why, sizeof why);
    }
    fmt_into(out->rule, sizeof out->rule, "many-to-one \"%s\"", e->name);
    fill_none(m, out, "The %s has a %s value that %s, so certgate cannot tell whether many-to-one "
              "\"%s\" (%s, line %d) matches it; it refuses rather than guess. Reissue the "
              "certificate with a proper %s.", cert, sn, why, e->name, m->file, e->line, sn);
}

static void fill_unknown_one(const cg_mapping *m, cg_view *v, int kind, cg_map_result *out)
{
    char cert[600];
    cg_sb b;
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    fill_none(m, out, "The %s has a name with a value that cannot be decoded, so its %s key cannot "
              "be computed and one-to-one entry #%zu of %s might have named it; certgate refuses "
              "rather than guess.", cert, cg_kind_names[kind], m->kind_first[kind] + 1, m->file);
}

static void mapping_decide(const cg_mapping *m, cg_view *v, cg_map_result *out)
{
    char label[128];
    int unknown;
    size_t i = one_find(m, v, &unknown);
    if (unknown >= 0) {
        fill_unknown_one(m, v, unknown, out);
        return;
    }
    if (i != SIZE_MAX) {
        cg_mapping_one_label(m, i, label, sizeof label);
        fill_allow(m, v, &m->ones[i].principal, label, out);
        return;
    }
    for (size_t j = 0; j < m->nm2o; j++) {
        const cg_m2o *e = &m->m2o[j];
        if (!e->enabled)
            continue;
        cg_tv tv = m2o_eval(e, v);
        if (tv == TV_FALSE)
            continue;
        if (tv == TV_UNKNOWN) {
            fill_unknown_m2o(m, v, e, out);
        } else if (e->deny) {
            fill_deny(m, v, e, out);
        } else {
            fmt_into(label, sizeof label, "many-to-one \"%s\"", e->name);
            fill_allow(m, v, &e->principal, label, out);
        }
        return;
    }
    fill_no_match(m, v, out);
}

void cg_mapping_map(const cg_mapping *m, const mbedtls_x509_crt *leaf, cg_map_result *out)
{
    cg_view v;
    out->outcome = CG_MAP_NONE;
    out->principal[0] = '\0';
    out->rule[0] = '\0';
    out->why.kind = CG_REFUSE_NONE;
    out->why.detail[0] = '\0';
    if (!m || !leaf || !leaf->raw.p) {
        cg_refuse(&out->why, CG_REFUSE_MAP_NONE, "No certificate to map (no mapping file loaded, "
                  "or no client certificate).");
        return;
    }
    cg_view_init(&v, leaf);
    mapping_decide(m, &v, out);
}

/* ======================================================================
 * Explaining (certgate explain)
 * ====================================================================== */

static void explain_value(FILE *f, const char *label, const cg_value *x)
{
    char buf[1200], why[96];
    cg_sb b;
    sb_init(&b, buf, sizeof buf);
    if (x->problem == VP_OK) {
        sb_add(&b, "\"", 1);
        sb_clip(&b, x->s, x->len, 400);
        sb_add(&b, "\"", 1);
    } else {
        cg_vproblem_text((cg_vproblem)x->problem, x->detail, why, sizeof why);
        sb_hex_value(&b, x);
        sb_printf(&b, "  UNDECODABLE: %s; it never matches a rule and never goes into a principal", why);
    }
    fprintf(f, "    %-22s %s\n", label, buf);
}

static void explain_dn(FILE *f, const cg_view *v, int field)
{
    char buf[2048], label[96];
    cg_sb b;
    sb_init(&b, buf, sizeof buf);
    cg_view_dn_text(v, field, &b);
    fprintf(f, "  %-24s %s\n", cg_field_names[field], buf);
    for (uint16_t i = v->dn_begin[field]; i < v->dn_end[field]; i++) {
        const cg_value *x = &v->v[i];
        if (x->slot != SLOT_OTHER) {
            cg_slot_name(x->slot, label, sizeof label);
        } else {
            cg_sb t;
            sb_init(&t, label, sizeof label);
            sb_printf(&t, "%s ", cg_field_names[field]);
            sb_attr_type(&t, x);
            sb_puts(&t, " (no rule)");
        }
        explain_value(f, label, x);
    }
}

static void explain_fields(FILE *f, cg_view *v)
{
    char label[40], serial[80];
    fprintf(f, "The certificate as the mapper sees it (values decoded from DER):\n");
    explain_dn(f, v, FIELD_SUBJECT);
    explain_dn(f, v, FIELD_ISSUER);
    for (int sub = 0; sub < N_SAN_SUBS; sub++) {
        int slot = cg_slot_of(FIELD_SAN, sub);
        for (int16_t i = v->first[slot]; i >= 0; i = v->v[i].next)
            explain_value(f, cg_slot_name(slot, label, sizeof label), &v->v[i]);
    }
    if (v->san_malformed)
        fprintf(f, "  the SubjectAltName extension is malformed: san.* rules cannot be decided\n");
    if (v->overflow)
        fprintf(f, "  the certificate has more than %d name values: only the first are shown, and "
                "no rule can be decided\n", CG_VIEW_MAX_VALUES);
    cg_cert_serial(v->crt, serial, sizeof serial);
    const char *ski = cg_view_key_ski(v);
    fprintf(f, "  %-24s %s\n", "serial", serial);
    fprintf(f, "  %-24s %s\n", "subject key identifier", ski ? ski : "(none)");
    fprintf(f, "  %-24s %s\n", "SHA-1 of public key", cg_view_key_sha1pk(v));
    fprintf(f, "  %-24s %s\n", "SHA-256", cg_view_key_sha256(v));
}

static bool kind_used(const cg_mapping *m, cg_kind k)
{
    for (size_t i = 0; i < m->nones; i++)
        if (m->ones[i].kind == k)
            return true;
    return false;
}

static void explain_entry(FILE *f, const cg_mapping *m, cg_view *v, size_t i, const char *by)
{
    char label[128], principal[256], why[400];
    const cg_one *e = &m->ones[i];
    cg_mapping_one_label(m, i, label, sizeof label);
    if (!e->enabled) {
        fprintf(f, "    by %s: %s (line %d) names it, but is disabled\n", by, label, e->line);
    } else if (cg_template_eval(&e->principal, v, m->default_realm, principal, sizeof principal, why,
                             sizeof why)) {
        fprintf(f, "    by %s: %s (line %d) names it -> %s\n", by, label, e->line, principal);
    } else {
        fprintf(f, "    by %s: %s (line %d) names it, but %s\n", by, label, e->line, why);
    }
}

static void explain_one(FILE *f, const cg_mapping *m, cg_view *v)
{
    char key[2 * CG_DN_MAX + 8];
    fprintf(f, "One-to-one (%zu %s, checked first; the earliest entry that names the "
            "certificate wins):\n", m->nones, m->nones == 1 ? "entry" : "entries");
    for (int k = 0; k < N_KINDS; k++) {
        if (!kind_used(m, (cg_kind)k))
            continue;
        bool undecodable = false, found = false;
        if (k == K_RFC822) {
            int slot = cg_slot_of(FIELD_SAN, SAN_EMAIL);
            for (int16_t i = v->first[slot]; i >= 0; i = v->v[i].next) {
                const cg_value *x = &v->v[i];
                if (x->problem != VP_OK || x->len >= sizeof key)
                    continue;
                for (size_t c = 0; c < x->len; c++)
                    key[c] = fold(x->s[c]);
                size_t hit = cg_mapping_find(m, K_RFC822, key, x->len);
                if (hit != SIZE_MAX) {
                    explain_entry(f, m, v, hit, "rfc822");
                    found = true;
                }
            }
            undecodable = (v->tainted >> slot) & 1;
        } else if (cg_view_key(v, (cg_kind)k, key, sizeof key, &undecodable)) {
            size_t hit = cg_mapping_find(m, (cg_kind)k, key, strlen(key));
            if (hit != SIZE_MAX) {
                explain_entry(f, m, v, hit, cg_kind_names[k]);
                found = true;
            }
        }
        if (undecodable)
            fprintf(f, "    by %s: cannot be computed (a name value cannot be decoded)\n", cg_kind_names[k]);
        else if (!found)
            fprintf(f, "    by %s: no entry%s\n", cg_kind_names[k],
                    k == K_SKI && !v->ski ? " (the certificate has no subject key identifier)" : "");
    }
}

static void explain_rules(FILE *f, const cg_m2o *e, const cg_view *v)
{
    char sn[40], buf[600];
    for (size_t i = 0; i < e->nrules; i++) {
        const cg_rule *r = &e->rules[i];
        cg_tv tv = rule_eval(r, v);
        cg_sb b;
        sb_init(&b, buf, sizeof buf);
        if (tv == TV_TRUE) {
            sb_printf(&b, "%s matches \"", cg_slot_name(r->slot, sn, sizeof sn));
            sb_clip(&b, r->src, strlen(r->src), 200);
            sb_printf(&b, "\"%s", r->cs ? "" : " (case-insensitive)");
        } else {
            sb_rule_miss(&b, r, v);
            if (tv == TV_UNKNOWN)
                sb_puts(&b, " [undecided: a value cannot be decoded]");
        }
        fprintf(f, "        rule %zu: %s\n", i + 1, buf);
    }
}

static void explain_m2o(FILE *f, const cg_mapping *m, const cg_view *v, bool decided)
{
    fprintf(f, "Many-to-one (%zu %s, in order; the first whose rules all match wins):\n", m->nm2o,
            m->nm2o == 1 ? "mapping" : "mappings");
    for (size_t j = 0; j < m->nm2o; j++) {
        const cg_m2o *e = &m->m2o[j];
        fprintf(f, "  [%zu] \"%s\" (line %d, %s%s%s): ", j + 1, e->name, e->line, e->deny ? "deny" : "allow",
                e->deny ? "" : " -> ", e->deny ? "" : e->principal.src);
        if (!e->enabled) {
            fprintf(f, "disabled\n");
            continue;
        }
        cg_tv tv = m2o_eval(e, v);
        fprintf(f, "%s%s\n", tv == TV_TRUE ? "MATCHES" : tv == TV_FALSE ? "no match" : "UNDECIDED",
                decided ? " (not reached)" : "");
        explain_rules(f, e, v);
        if (tv != TV_FALSE)
            decided = true;
    }
}

void cg_mapping_explain(const cg_mapping *m, const mbedtls_x509_crt *leaf, void *stdio_file)
{
    FILE *f = stdio_file;
    cg_view v;
    cg_map_result r;
    if (!leaf || !leaf->raw.p) {
        fprintf(f, "No certificate to map.\n");
        return;
    }
    cg_view_init(&v, leaf);
    explain_fields(f, &v);
    if (!m) {
        fprintf(f, "No mapping file: the certificate itself is the identity.\n");
        return;
    }
    fprintf(f, "Mapping file %s%s%s\n", m->file, m->default_realm ? ", default_realm " : "",
            m->default_realm ? m->default_realm : "");
    explain_one(f, m, &v);
    int unknown;
    bool one_decided = one_find(m, &v, &unknown) != SIZE_MAX || unknown >= 0;
    explain_m2o(f, m, &v, one_decided);
    cg_mapping_map(m, leaf, &r);
    switch (r.outcome) {
    case CG_MAP_ALLOW: fprintf(f, "Result: ALLOW as %s (%s)\n", r.principal, r.rule); break;
    case CG_MAP_DENY:
        fprintf(f, "Result: DENY, %d.%d %s (%s)\n  %s\n", cg_refusal_status(r.why.kind),
                cg_refusal_substatus(r.why.kind), cg_refusal_title(r.why.kind), r.rule, r.why.detail);
        break;
    case CG_MAP_NONE:
        fprintf(f, "Result: NO MAPPING, %d%s%.0d %s\n  %s\n", cg_refusal_status(r.why.kind),
                cg_refusal_substatus(r.why.kind) ? "." : "", cg_refusal_substatus(r.why.kind),
                cg_refusal_title(r.why.kind), r.why.detail);
        break;
    }
}
