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
 * The mapping is several modules, lowest first: mapping_text.h (text
 * helpers), cert_view.c (the certificate's fields), cert_key.c (one-to-one
 * keys, canonical DNs), glob.c (wildcards), principal.c (principals and
 * templates), cert_text.c (certificates given as text), mapping_table.c (the
 * loaded structure), mapping_load.c + mapping_load_keys.c (the YAML loader),
 * mapping_eval.c (rules and keys against a certificate), this file (the
 * decision and its sentences) and mapping_explain.c (certgate explain).
 */
#include "mapping.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cert_key.h"
#include "mapping_eval.h"
#include "mapping_table.h"
#include "mapping_text.h"
#include "principal.h"
#include "x509/x509.h"

#define CG_DETAIL_MAPPINGS 3       /* many-to-one mappings explained in a 401 detail */

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
        const cg_rule *r = cg_m2o_first_miss(e, v);
        if (r)
            cg_rule_miss(&b, r, v);
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
    cg_fmt_into(out->rule, sizeof out->rule, "%s", label);
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
    cg_fmt_into(out->rule, sizeof out->rule, "many-to-one \"%s\"", e->name);
    cg_refuse(&out->why, CG_REFUSE_MAP_DENIED, "The mapper denied access: the %s matches the deny "
              "mapping \"%s\" (%s, line %d).", cert, e->name, m->file, e->line);
}

/* An undecodable value stands where a decision was needed. */
static void fill_unknown_m2o(const cg_mapping *m, cg_view *v, const cg_m2o *e, cg_map_result *out)
{
    char cert[600], sn[40] = "a field", why[96] = "cannot be decoded";
    cg_sb b;
    const cg_rule *r = cg_m2o_first_miss(e, v);
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    if (r) {
        cg_slot_name(r->slot, sn, sizeof sn);
        for (int16_t i = v->first[r->slot]; i >= 0; i = v->v[i].next)
            if (v->v[i].problem != VP_OK)
                cg_vproblem_text((cg_vproblem)v->v[i].problem, v->v[i].detail, why, sizeof why);
    }
    cg_fmt_into(out->rule, sizeof out->rule, "many-to-one \"%s\"", e->name);
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
    size_t i = cg_mapping_one_find(m, v, &unknown);
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
        cg_tv tv = cg_m2o_eval(e, v);
        if (tv == TV_FALSE)
            continue;
        if (tv == TV_UNKNOWN) {
            fill_unknown_m2o(m, v, e, out);
        } else if (e->deny) {
            fill_deny(m, v, e, out);
        } else {
            cg_fmt_into(label, sizeof label, "many-to-one \"%s\"", e->name);
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
