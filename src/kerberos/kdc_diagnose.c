/* Probes that explain a Kerberos failure (kdc_diagnose.h). */
#include "kdc_diagnose.h"

#include <stdio.h>
#include <string.h>

#include "kdc_steps.h"

static bool key_code(krb5_error_code rc)
{
    switch (rc) {
    case KRB5_KT_NOTFOUND:
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
    case KRB5KRB_AP_ERR_MODIFIED:
    case KRB5KRB_AP_ERR_BADKEYVER:
    case KRB5_KT_KVNONOTFOUND:
    case KRB5_PREAUTH_FAILED:
    case KRB5KDC_ERR_ETYPE_NOSUPP:
        return true;
    default:
        return false;
    }
}

void cg_kdc_diagnose(krb5_context ctx, const char *ccname, cg_kdc_phase phase, krb5_error_code rc,
                     const krb5_creds *evidence, const cg_kdc_names *n, cg_refusal *out)
{
    cg_kdc_known k = n->known ? *n->known : (cg_kdc_known){ 0 };
    cg_kdc_names nn = *n;
    nn.known = &k;
    if (evidence)
        k.evidence_forwardable = (evidence->ticket_flags & TKT_FLG_FORWARDABLE) ? CG_KDC_YES : CG_KDC_NO;
    bool refused = rc == KRB5KDC_ERR_BADOPTION || rc == KRB5KDC_ERR_POLICY;
    if (phase == CG_KDC_PHASE_S4U2PROXY && refused && k.evidence_forwardable == CG_KDC_NO &&
        k.proxy_transition == CG_KDC_UNKNOWN && ccname)
        k.proxy_transition = cg_kdc_probe_transition(ctx, ccname, &nn);
    if ((phase == CG_KDC_PHASE_PROXY_TGT || phase == CG_KDC_PHASE_KEYTAB) && key_code(rc) && n->keytab && n->proxy &&
        k.enctypes_shared == CG_KDC_UNKNOWN)
        cg_kdc_probe_enctypes(ctx, n->keytab, n->proxy, &k);
    char m[256];
    cg_kdc_map_error(phase, rc, cg_kdc_krb_message(ctx, rc, m, sizeof m), &nn, out);
}

/* One S4U2Self for ref: YES/NO by its forwardable flag, UNKNOWN on error. */
static cg_kdc_answer transition_with(krb5_context ctx, const char *ccname, const char *ref)
{
    krb5_creds *ev = NULL;
    if (cg_kdc_s4u2self(ctx, ccname, ref, &ev) || !ev)
        return CG_KDC_UNKNOWN;
    cg_kdc_answer a = (ev->ticket_flags & TKT_FLG_FORWARDABLE) ? CG_KDC_YES : CG_KDC_NO;
    krb5_free_creds(ctx, ev);
    return a;
}

cg_kdc_answer cg_kdc_probe_transition(krb5_context ctx, const char *ccname, const cg_kdc_names *n)
{
    const char *refs[3];
    size_t nrefs = 0;
    if (n->target && strchr(n->target, '@'))
        refs[nrefs++] = n->target;
    if (n->proxy)
        refs[nrefs++] = n->proxy;
    cg_kdc_key keys[32];
    size_t nkeys = 0;
    char err[256];
    const char *other = NULL;
    if (n->keytab && cg_kdc_keytab_keys(ctx, n->keytab, keys, 32, &nkeys, err, sizeof err) == 0) {
        for (size_t i = 0; i < nkeys && !other; i++)
            if (!strchr(keys[i].principal, '/') && (!n->proxy || strcmp(keys[i].principal, n->proxy)))
                other = keys[i].principal;
    }
    if (other)
        refs[nrefs++] = other;
    for (size_t i = 0; i < nrefs; i++) {
        if (n->user && !strcmp(refs[i], n->user))
            continue;
        cg_kdc_answer a = transition_with(ctx, ccname, refs[i]);
        if (a != CG_KDC_UNKNOWN)
            return a;
    }
    return CG_KDC_UNKNOWN;
}

static void append(char *buf, size_t cap, const char *s)
{
    size_t l = strlen(buf);
    if (l < cap)
        snprintf(buf + l, cap - l, "%s%s", l ? ", " : "", s);
}

void cg_kdc_probe_enctypes(krb5_context ctx, const char *keytab, const char *proxy, cg_kdc_known *k)
{
    static const krb5_enctype candidates[] = {
        ENCTYPE_AES256_CTS_HMAC_SHA1_96, ENCTYPE_AES128_CTS_HMAC_SHA1_96, ENCTYPE_AES256_CTS_HMAC_SHA384_192,
        ENCTYPE_AES128_CTS_HMAC_SHA256_128, ENCTYPE_ARCFOUR_HMAC,
    };
    cg_kdc_key keys[32];
    size_t nkeys = 0;
    char err[256];
    k->keytab_enctypes[0] = k->account_enctypes[0] = '\0';
    bool in_keytab[sizeof candidates / sizeof candidates[0]] = { false };
    bool other_key = false;
    if (cg_kdc_keytab_keys(ctx, keytab, keys, 32, &nkeys, err, sizeof err) == 0) {
        for (size_t i = 0; i < nkeys; i++) {
            if (strcmp(keys[i].principal, proxy))
                continue;
            char one[96];
            snprintf(one, sizeof one, "%s (kvno %u)", keys[i].enctype_name, keys[i].kvno);
            append(k->keytab_enctypes, sizeof k->keytab_enctypes, one);
            bool known = false;
            for (size_t c = 0; c < sizeof candidates / sizeof candidates[0]; c++)
                if (keys[i].enctype == candidates[c])
                    in_keytab[c] = known = true;
            other_key |= !known;
        }
        if (!k->keytab_enctypes[0])
            snprintf(k->keytab_enctypes, sizeof k->keytab_enctypes, "no key");
    }
    krb5_principal me = NULL;
    krb5_get_init_creds_opt *opt = NULL;
    if (krb5_parse_name(ctx, proxy, &me) || krb5_get_init_creds_opt_alloc(ctx, &opt))
        goto done;
    /* The enctype the KDC picks for the account when asked for any: the AS
     * exchange fails when the keytab has no key of it (MIT's client then
     * says "no key table entry", Samba's exchange "preauthentication
     * failed"), even if the account also has a key of the keytab's. */
    krb5_enctype choice = 0;
    krb5_data salt = { 0 }, params = { 0 };
    krb5_error_code rc = krb5_get_etype_info(ctx, me, NULL, &choice, &salt, &params);
    krb5_free_data_contents(ctx, &salt);
    krb5_free_data_contents(ctx, &params);
    if (rc || !choice)
        goto done; /* no answer: nothing to learn */
    for (size_t c = 0; c < sizeof candidates / sizeof candidates[0]; c++) {
        krb5_enctype want = candidates[c], got = 0;
        krb5_get_init_creds_opt_set_etype_list(opt, &want, 1);
        rc = krb5_get_etype_info(ctx, me, opt, &got, &salt, &params);
        krb5_free_data_contents(ctx, &salt);
        krb5_free_data_contents(ctx, &params);
        if (rc || got != want)
            continue; /* the account has none, or this host may not use it (permitted_enctypes) */
        char name[48], one[80];
        if (krb5_enctype_to_name(want, 1, name, sizeof name))
            snprintf(name, sizeof name, "enctype %d", (int)want);
        snprintf(one, sizeof one, "%s%s", name, want == choice ? " (the KDC's choice)" : "");
        append(k->account_enctypes, sizeof k->account_enctypes, one);
    }
    bool have_choice = false;
    for (size_t c = 0; c < sizeof candidates / sizeof candidates[0]; c++)
        have_choice |= candidates[c] == choice && in_keytab[c];
    if (k->keytab_enctypes[0] && (have_choice || !other_key))
        k->enctypes_shared = have_choice ? CG_KDC_YES : CG_KDC_NO;
done:
    if (opt)
        krb5_get_init_creds_opt_free(ctx, opt);
    if (me)
        krb5_free_principal(ctx, me);
}
