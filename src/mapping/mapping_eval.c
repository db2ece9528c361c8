/* Evaluating a mapping against a certificate (mapping_eval.h). */
#include "mapping_eval.h"

#include <stdint.h>
#include <string.h>

#include "cert_key.h"
#include "glob.h"
#include "mapping_text.h"

/* True when any decodable value of the rule's sub-field matches. */
cg_tv cg_rule_eval(const cg_rule *r, const cg_view *v)
{
    for (int16_t i = v->first[r->slot]; i >= 0; i = v->v[i].next) {
        const cg_value *x = &v->v[i];
        if (x->problem == VP_OK && cg_glob_match(r->pat, r->patlen, r->cs, x->s, x->len))
            return TV_TRUE;
    }
    return (v->tainted >> r->slot) & 1 ? TV_UNKNOWN : TV_FALSE;
}

cg_tv cg_m2o_eval(const cg_m2o *e, const cg_view *v)
{
    /* A rule on a sub-field the certificate lacks cannot match. */
    if (e->slots & ~v->present & ~v->tainted)
        return TV_FALSE;
    cg_tv res = TV_TRUE;
    for (size_t i = 0; i < e->nrules; i++) {
        cg_tv tv = cg_rule_eval(&e->rules[i], v);
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
        cg_ascii_lower_copy(key, x->s, x->len);
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
size_t cg_mapping_one_find(const cg_mapping *m, cg_view *v, int *unknown)
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

/* ---- why a rule does not match ---- */

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
void cg_rule_miss(cg_sb *b, const cg_rule *r, const cg_view *v)
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
const cg_rule *cg_m2o_first_miss(const cg_m2o *e, const cg_view *v)
{
    for (size_t i = 0; i < e->nrules; i++)
        if (cg_rule_eval(&e->rules[i], v) != TV_TRUE)
            return &e->rules[i];
    return NULL;
}
