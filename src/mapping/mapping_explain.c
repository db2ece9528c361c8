/* `certgate explain`: the certificate as the mapper sees it, every mapping
 * and why it matched or not, and the result (cg_mapping_explain, mapping.h).
 */
#include "mapping.h"

#include <stdio.h>
#include <string.h>

#include "cert_key.h"
#include "mapping_eval.h"
#include "mapping_table.h"
#include "mapping_text.h"
#include "base/base.h"
#include "x509/x509.h"

/* ======================================================================
 * Explaining (certgate explain)
 * ====================================================================== */

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
        cg_hex_encode(&head[i], 1, hex, sizeof hex, false);
        sb_add(b, hex, 2);
    }
    for (size_t i = 0; i < len && !b->full; i++) {
        cg_hex_encode(&x->raw[i], 1, hex, sizeof hex, false);
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
        cg_oid_text(x->oid, x->oid_len, oid, sizeof oid, "(unreadable OID)");
        sb_puts(b, oid);
    }
}

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
                cg_ascii_lower_copy(key, x->s, x->len);
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
        cg_tv tv = cg_rule_eval(r, v);
        cg_sb b;
        sb_init(&b, buf, sizeof buf);
        if (tv == TV_TRUE) {
            sb_printf(&b, "%s matches \"", cg_slot_name(r->slot, sn, sizeof sn));
            sb_clip(&b, r->src, strlen(r->src), 200);
            sb_printf(&b, "\"%s", r->cs ? "" : " (case-insensitive)");
        } else {
            cg_rule_miss(&b, r, v);
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
        cg_tv tv = cg_m2o_eval(e, v);
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
    bool one_decided = cg_mapping_one_find(m, &v, &unknown) != SIZE_MAX || unknown >= 0;
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
