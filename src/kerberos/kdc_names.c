/* Which Kerberos name to ask for a mapped principal (kdc_names.h). */
#include "kdc_names.h"

#include <stdio.h>
#include <string.h>

#include "base/base.h"

static bool bad_char(unsigned char c) { return c <= 0x20 || c == 0x7f; }

const char *cg_kdc_realm_find(const cg_kdc_realm_view *v, const char *s, size_t len)
{
    if (v->default_realm && cg_ascii_ieq_str(s, len, v->default_realm))
        return v->default_realm;
    for (size_t i = 0; i < v->nrealms; i++)
        if (cg_ascii_ieq_str(s, len, v->realms[i].name))
            return v->realms[i].name;
    return NULL;
}

/* The realm whose upn_suffixes list s, or NULL. */
static const char *suffix_realm(const cg_kdc_realm_view *v, const char *s, size_t len)
{
    for (size_t i = 0; i < v->nrealms; i++)
        for (size_t j = 0; j < v->realms[i].nupn_suffixes; j++)
            if (cg_ascii_ieq_str(s, len, v->realms[i].upn_suffixes[j]))
                return v->realms[i].name;
    return NULL;
}

bool cg_kdc_user_resolve(const char *mapped, const cg_kdc_realm_view *v, cg_kdc_user *out, char *err,
                         size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (!mapped || !*mapped) {
        snprintf(err, errcap, "the mapped principal is empty");
        return false;
    }
    const char *at = NULL;
    for (const char *p = mapped; *p; p++) {
        if (bad_char((unsigned char)*p)) {
            snprintf(err, errcap, "the mapped principal \"%.100s\" contains a space or control character", mapped);
            return false;
        }
        if (*p == '/' || *p == '\\') {
            snprintf(err, errcap, "the mapped principal \"%.100s\" names a service or instance (contains '%c'); "
                     "only user principals are impersonated", mapped, *p);
            return false;
        }
        if (*p == '@') {
            if (at) {
                snprintf(err, errcap, "the mapped principal \"%.100s\" has more than one '@' (map to user@REALM "
                         "or to a UPN, user@suffix)", mapped);
                return false;
            }
            at = p;
        }
    }
    if (at == mapped) {
        snprintf(err, errcap, "the mapped principal \"%.100s\" has no user name before '@'", mapped);
        return false;
    }
    if (at && !at[1]) {
        snprintf(err, errcap, "the mapped principal \"%.100s\" has an empty realm after '@'", mapped);
        return false;
    }
    const char *dflt = v->default_realm && *v->default_realm ? v->default_realm : NULL;
    size_t ulen = at ? (size_t)(at - mapped) : strlen(mapped);
    const char *realm = at ? cg_kdc_realm_find(v, at + 1, strlen(at + 1)) : dflt;
    int n;
    if (!at && !realm) {
        snprintf(err, errcap, "the mapped principal \"%.100s\" has no realm and kerberos.realm is not set", mapped);
        return false;
    }
    if (realm) {
        out->kind = CG_KDC_NAME_PRINCIPAL;
        n = snprintf(out->name, sizeof out->name, "%.*s@%s", (int)ulen, mapped, realm);
    } else {
        /* not a realm served here: a UPN, asked as an enterprise name */
        const char *suffix = at + 1;
        const char *home = suffix_realm(v, suffix, strlen(suffix));
        out->suffix_listed = home != NULL;
        realm = home ? home : dflt;
        if (!realm) {
            snprintf(err, errcap, "the mapped principal \"%.100s\" is not in a configured realm and kerberos.realm "
                     "is not set to ask for it as an enterprise name", mapped);
            return false;
        }
        out->kind = CG_KDC_NAME_ENTERPRISE;
        snprintf(out->suffix, sizeof out->suffix, "%.255s", suffix);
        n = snprintf(out->name, sizeof out->name, "%.*s\\@%s@%s", (int)ulen, mapped, suffix, realm);
    }
    if (n < 0 || (size_t)n >= sizeof out->name || strlen(realm) >= sizeof out->realm) {
        snprintf(err, errcap, "the mapped principal \"%.60s...\" is too long", mapped);
        return false;
    }
    snprintf(out->realm, sizeof out->realm, "%s", realm);
    return true;
}

const char *cg_kdc_name_realm(const char *name)
{
    const char *r = "";
    for (const char *p = name; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '@')
            r = p + 1;
    }
    return r;
}

bool cg_kdc_user_from_request(const char *name, const cg_kdc_realm_view *v, cg_kdc_user *out)
{
    memset(out, 0, sizeof *out);
    const char *realm = cg_kdc_name_realm(name);
    if (!*realm || strlen(name) >= sizeof out->name || strlen(realm) >= sizeof out->realm)
        return false;
    snprintf(out->name, sizeof out->name, "%s", name);
    snprintf(out->realm, sizeof out->realm, "%s", realm);
    const char *esc = strstr(name, "\\@");
    if (esc && esc < realm) {
        size_t n = (size_t)(realm - 1 - (esc + 2));
        out->kind = CG_KDC_NAME_ENTERPRISE;
        snprintf(out->suffix, sizeof out->suffix, "%.*s", (int)(n < 255 ? n : 255), esc + 2);
        out->suffix_listed = suffix_realm(v, out->suffix, strlen(out->suffix)) != NULL;
    }
    return true;
}

const char *cg_kdc_name_display(const char *name, char *out, size_t cap)
{
    const char *realm = cg_kdc_name_realm(name);
    const char *esc = strstr(name, "\\@");
    if (esc && *realm && esc < realm)
        snprintf(out, cap, "%.*s@%.*s", (int)(esc - name), name, (int)(realm - 1 - (esc + 2)), esc + 2);
    else
        snprintf(out, cap, "%s", name);
    return out;
}

krb5_error_code cg_kdc_request_principal(krb5_context ctx, const char *name, krb5_principal *out)
{
    krb5_error_code rc = krb5_parse_name(ctx, name, out);
    if (rc)
        return rc;
    krb5_principal p = *out;
    if (p->length == 1 && memchr(p->data[0].data, '@', p->data[0].length))
        p->type = KRB5_NT_ENTERPRISE_PRINCIPAL;
    return 0;
}
