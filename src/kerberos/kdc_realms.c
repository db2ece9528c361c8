/* The realms certgate serves and a krb5 profile that knows their KDCs
 * (kdc_realms.h).
 *
 * The profile is a "vtable" profile (profile.h): libkrb5 asks it for
 * relations; "[realms] NAME kdc" of a configured realm with kdcs is
 * answered from the configuration, everything else by the krb5.conf files
 * themselves. krb5_init_context_profile copies the profile through the
 * copy method, which opens those files anew for each context, exactly as
 * krb5_init_context does: nothing is shared between contexts but the
 * immutable realm table (held by reference).
 */
#include "kdc_realms.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <profile.h>

#include "base/base.h"

struct cg_kdc_realms {
    atomic_uint refs;
    cg_kdc_realm_view view;
    char *default_realm;
    cg_kerberos_realm_cfg *realms;
    size_t nrealms;
    char *files;          /* the krb5.conf files, ':'-separated (profile_init_path) */
    profile_t profile;    /* the vtable profile contexts are made from */
};

typedef struct pdata {    /* a vtable profile's cbdata */
    cg_kdc_realms *r;
    bool counted;         /* holds a reference to r (copies do; r's own profile does not) */
    profile_t base;       /* the krb5.conf files */
} pdata;

static long open_base(const char *files, profile_t *out)
{
    long rc = profile_init_path(files, out);
    if (rc == ENOENT) /* no krb5.conf: an empty profile, as krb5_init_context does */
        rc = profile_init(NULL, out);
    return rc;
}

static const cg_kerberos_realm_cfg *realm_cfg(const cg_kdc_realms *r, const char *name)
{
    for (size_t i = 0; i < r->nrealms; i++)
        if (!strcmp(r->realms[i].name, name))
            return &r->realms[i];
    return NULL;
}

static long p_get_values(void *cb, const char *const *names, char ***ret)
{
    pdata *d = cb;
    const cg_kerberos_realm_cfg *rc = NULL;
    if (names[0] && !strcmp(names[0], "realms") && names[1] && names[2] && !strcmp(names[2], "kdc") && !names[3])
        rc = realm_cfg(d->r, names[1]);
    if (!rc || !rc->nkdcs)
        return profile_get_values(d->base, names, ret);
    char **v = calloc(rc->nkdcs + 1, sizeof *v);
    if (!v)
        return ENOMEM;
    for (size_t i = 0; i < rc->nkdcs; i++) {
        if (!(v[i] = strdup(rc->kdcs[i]))) {
            profile_free_list(v);
            return ENOMEM;
        }
    }
    *ret = v;
    return 0;
}

static void p_free_values(void *cb, char **values)
{
    (void)cb;
    profile_free_list(values);
}

static void p_cleanup(void *cb)
{
    pdata *d = cb;
    if (d->base)
        profile_release(d->base);
    if (d->counted)
        cg_kdc_realms_unref(d->r);
    free(d);
}

static long p_copy(void *cb, void **ret)
{
    pdata *d = cb, *c = calloc(1, sizeof *c);
    if (!c)
        return ENOMEM;
    long rc = open_base(d->r->files, &c->base);
    if (rc) {
        free(c);
        return rc;
    }
    c->r = cg_kdc_realms_ref(d->r);
    c->counted = true;
    *ret = c;
    return 0;
}

static long p_iterator_create(void *cb, const char *const *names, int flags, void **ret)
{
    return profile_iterator_create(((pdata *)cb)->base, names, flags, ret);
}

static long p_iterator(void *cb, void *iter, char **name, char **value)
{
    (void)cb;
    return profile_iterator(&iter, name, value);
}

static void p_iterator_free(void *cb, void *iter)
{
    (void)cb;
    profile_iterator_free(&iter);
}

static void p_free_string(void *cb, char *s)
{
    (void)cb;
    profile_release_string(s);
}

static struct profile_vtable vtable = {
    .minor_ver = 1,
    .get_values = p_get_values,
    .free_values = p_free_values,
    .cleanup = p_cleanup,
    .copy = p_copy,
    .iterator_create = p_iterator_create,
    .iterator = p_iterator,
    .iterator_free = p_iterator_free,
    .free_string = p_free_string,
};

static char **dup_list(char **src, size_t n, bool *oom)
{
    if (!n)
        return NULL;
    char **out = calloc(n, sizeof *out);
    if (!out) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!(out[i] = strdup(src[i])))
            *oom = true;
    return out;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        free(l[i]);
    free(l);
}

static void realms_free(cg_kdc_realms *r)
{
    if (r->profile)
        profile_release(r->profile);
    for (size_t i = 0; i < r->nrealms; i++) {
        free(r->realms[i].name);
        free_list(r->realms[i].kdcs, r->realms[i].nkdcs);
        free_list(r->realms[i].upn_suffixes, r->realms[i].nupn_suffixes);
    }
    free(r->realms);
    free(r->default_realm);
    free(r->files);
    free(r);
}

cg_kdc_realms *cg_kdc_realms_new(const cg_kerberos_cfg *cfg, char *err, size_t errcap)
{
    cg_kdc_realms *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    atomic_init(&r->refs, 1);
    bool oom = false;
    const char *files = cfg->krb5_config && *cfg->krb5_config ? cfg->krb5_config : getenv("KRB5_CONFIG");
    r->files = strdup(files && *files ? files : "/etc/krb5.conf");
    r->default_realm = cfg->realm ? strdup(cfg->realm) : NULL;
    oom = !r->files || (cfg->realm && !r->default_realm);
    if (cfg->nrealms && !(r->realms = calloc(cfg->nrealms, sizeof *r->realms)))
        oom = true;
    for (size_t i = 0; r->realms && i < cfg->nrealms; i++) {
        const cg_kerberos_realm_cfg *c = &cfg->realms[i];
        cg_kerberos_realm_cfg *d = &r->realms[i];
        r->nrealms++;
        if (!(d->name = strdup(c->name)))
            oom = true;
        d->kdcs = dup_list(c->kdcs, c->nkdcs, &oom);
        d->nkdcs = d->kdcs ? c->nkdcs : 0;
        d->upn_suffixes = dup_list(c->upn_suffixes, c->nupn_suffixes, &oom);
        d->nupn_suffixes = d->upn_suffixes ? c->nupn_suffixes : 0;
    }
    r->view = (cg_kdc_realm_view){ r->default_realm, r->realms, r->nrealms };
    pdata *d = oom ? NULL : calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errcap, "out of memory");
        realms_free(r);
        return NULL;
    }
    d->r = r;
    long rc = open_base(r->files, &d->base);
    if (!rc)
        rc = profile_init_vtable(&vtable, d, &r->profile);
    if (rc) {
        snprintf(err, errcap, "cannot read the Kerberos configuration %s: %s", r->files, error_message(rc));
        if (d->base)
            profile_release(d->base);
        free(d);
        r->profile = NULL;
        realms_free(r);
        return NULL;
    }
    return r;
}

cg_kdc_realms *cg_kdc_realms_ref(cg_kdc_realms *r)
{
    atomic_fetch_add(&r->refs, 1);
    return r;
}

void cg_kdc_realms_unref(cg_kdc_realms *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1)
        realms_free(r);
}

const cg_kdc_realm_view *cg_kdc_realms_view(const cg_kdc_realms *r) { return &r->view; }

krb5_error_code cg_kdc_realms_context(cg_kdc_realms *r, krb5_context *out)
{
    return krb5_init_context_profile(r->profile, 0, out);
}

const char *cg_kdc_realms_kdcs(const cg_kdc_realms *r, const char *realm, char *out, size_t cap)
{
    const cg_kerberos_realm_cfg *c = realm_cfg(r, realm);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; c && i < c->nkdcs; i++)
        len = cg_fmt_append(out, cap, len, "%s%s", i ? ", " : "", c->kdcs[i]);
    return out;
}

bool cg_kdc_realm_refusal(const cg_kdc_realms *r, const cg_kdc_user *u, krb5_error_code code, const char *krb_msg,
                          cg_refusal *out)
{
    /* the name as mapped: an enterprise name's UPN, unescaped */
    char mapped[512];
    cg_kdc_name_display(u->name, mapped, sizeof mapped);
    const char *msg = krb_msg && *krb_msg ? krb_msg : "unknown Kerberos error";
    const char *dflt = r->default_realm ? r->default_realm : "the proxy's realm";
    if (u->kind == CG_KDC_NAME_ENTERPRISE && !u->suffix_listed && code == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN) {
        char upper[256];
        size_t i = 0;
        for (; u->suffix[i] && i < sizeof upper - 1; i++)
            upper[i] = (char)cg_ascii_upper((unsigned char)u->suffix[i]);
        upper[i] = '\0';
        cg_refuse(out, CG_REFUSE_REALM_UNKNOWN,
                  "the mapped principal %s is in %s, which is not a realm served here (kerberos.realm %s, "
                  "kerberos.realms) and which the KDC of %s does not know as a UPN suffix (asked as the enterprise "
                  "name %s: %s): if %s is a realm this proxy should serve, add it to kerberos.realms (- name: %s, "
                  "kdcs: [...]); if it is a UPN suffix of a trusted forest, add it to that realm's upn_suffixes; "
                  "otherwise the certificate mapping gives a wrong name for this certificate",
                  mapped, u->suffix, dflt, u->realm, u->name, msg, upper, upper);
        return true;
    }
    bool foreign = r->default_realm && strcmp(u->realm, r->default_realm);
    if (foreign && code == KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN) {
        /* the proxy's KDC has no cross-realm key krbtgt/REALM@PROXY-REALM */
        cg_refuse(out, CG_REFUSE_REALM_UNKNOWN,
                  "realm %s, of the mapped principal %s, has no trust with %s (S4U2Self: %s, no cross-realm key "
                  "krbtgt/%s@%s): set up the trust (AD: a domain or forest trust; MIT: the same krbtgt/%s@%s key "
                  "in both realms), or fix the certificate mapping",
                  u->realm, mapped, dflt, msg, u->realm, dflt, u->realm, dflt);
        return true;
    }
    if (code == KRB5_REALM_UNKNOWN || code == KRB5_REALM_CANT_RESOLVE) {
        bool configured = cg_kdc_realm_find(&r->view, u->realm, strlen(u->realm)) != NULL;
        cg_refuse(out, CG_REFUSE_REALM_UNKNOWN,
                  "no KDC is known for realm %s, the realm of the mapped principal %s (S4U2Self: %s): %s",
                  u->realm, mapped, msg, configured
                  ? "give the realm its KDCs (kerberos.realms: - name: ..., kdcs: [host:88]) or add them under "
                    "[realms] in the krb5.conf certgate uses"
                  : "add the realm to kerberos.realms with its KDCs (- name: ..., kdcs: [host:88]), or fix the "
                    "certificate mapping");
        return true;
    }
    return false;
}
