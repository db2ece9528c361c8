/* The synchronous Kerberos steps (kdc_steps.h): the proxy's TGT from its
 * keytab, S4U2Self, S4U2Proxy, and the SPNEGO token from the ticket the last
 * one gives. Each step that reaches the KDC blocks: callers run them on a
 * thread pool (delegation.c) or in a command-line tool (cmd_doctor.c).
 */
#include "kdc_steps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include "base/base.h"
#include "kdc_errors.h"
#include "kdc_names.h"

/* S4U2Self. Exported by MIT libkrb5 since 1.8 (the GSSAPI library uses it)
 * and unchanged since, but declared only in its private k5-int.h. */
krb5_error_code KRB5_CALLCONV krb5_get_credentials_for_user(krb5_context context, krb5_flags options,
                                                            krb5_ccache ccache, krb5_creds *in_creds,
                                                            krb5_data *subject_cert, krb5_creds **out_creds);

/* ------------------------------------------------------------------------ */
/* Names                                                                    */

static bool bad_char(unsigned char c) { return c <= 0x20 || c == 0x7f; }

bool cg_kdc_user_name(const char *principal, const char *realm, char *out, size_t cap, char *err, size_t errcap)
{
    cg_kdc_realm_view v = { .default_realm = realm };
    cg_kdc_user u;
    if (!cg_kdc_user_resolve(principal, &v, &u, err, errcap))
        return false;
    if (strlen(u.name) >= cap) {
        snprintf(err, errcap, "the mapped principal \"%.60s...\" is too long", principal);
        return false;
    }
    memcpy(out, u.name, strlen(u.name) + 1);
    return true;
}

bool cg_kdc_target_name(const char *spn, const char *realm, char *out, size_t cap, char *err, size_t errcap)
{
    if (!spn || !*spn) {
        snprintf(err, errcap, "the backend's kerberos.spn is empty");
        return false;
    }
    const char *slash = strchr(spn, '/');
    const char *at = strchr(spn, '@');
    for (const char *p = spn; *p; p++) {
        if (bad_char((unsigned char)*p)) {
            snprintf(err, errcap, "SPN \"%.100s\" contains a space or control character", spn);
            return false;
        }
    }
    if (!slash || slash == spn || slash[1] == '\0' || slash[1] == '@' || (at && at < slash)) {
        snprintf(err, errcap, "SPN \"%.100s\" is not of the form service/host (e.g. HTTP/app.example.com)", spn);
        return false;
    }
    const char *host_end = at ? at : spn + strlen(spn);
    if (memchr(slash + 1, ':', (size_t)(host_end - slash - 1))) {
        snprintf(err, errcap, "SPN \"%.100s\" has a port: HTTP SPNs never carry one (HTTP/host for every port)", spn);
        return false;
    }
    if (at && (!at[1] || strchr(at + 1, '@'))) {
        snprintf(err, errcap, "SPN \"%.100s\" has an empty or doubled realm", spn);
        return false;
    }
    int n;
    if (at)
        n = snprintf(out, cap, "%s", spn);
    else if (realm && *realm)
        n = snprintf(out, cap, "%s@%s", spn, realm);
    else {
        snprintf(err, errcap, "SPN \"%.100s\" has no realm and kerberos.realm is not set", spn);
        return false;
    }
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errcap, "SPN \"%.60s...\" is too long", spn);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Keytab, ccaches and the KDC exchanges                                    */

void cg_kdc_keytab_name(const char *keytab, char *out, size_t cap)
{
    /* "TYPE:residual" has a colon before any '/'; a plain path has not. */
    const char *colon = strchr(keytab, ':');
    const char *slash = strchr(keytab, '/');
    if (colon && (!slash || colon < slash))
        snprintf(out, cap, "%s", keytab);
    else
        snprintf(out, cap, "FILE:%s", keytab);
}

krb5_error_code cg_kdc_keytab_keys(krb5_context ctx, const char *keytab, cg_kdc_key *out, size_t cap, size_t *n,
                                   char *err, size_t errcap)
{
    char name[1100], m[256];
    *n = 0;
    cg_kdc_keytab_name(keytab, name, sizeof name);
    if (!strncmp(name, "FILE:", 5)) {
        int fd = open(name + 5, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            snprintf(err, errcap, "cannot open the keytab %s: %s (running as uid %u)", name + 5, strerror(e),
                     (unsigned)geteuid());
            return e;
        }
        close(fd);
    }
    krb5_keytab kt;
    krb5_error_code rc = krb5_kt_resolve(ctx, name, &kt);
    if (rc) {
        snprintf(err, errcap, "cannot use the keytab %s: %s", keytab, cg_kdc_krb_message(ctx, rc, m, sizeof m));
        return rc;
    }
    krb5_kt_cursor cur;
    rc = krb5_kt_start_seq_get(ctx, kt, &cur);
    if (rc) {
        snprintf(err, errcap, "cannot read the keytab %s: %s", keytab, cg_kdc_krb_message(ctx, rc, m, sizeof m));
        krb5_kt_close(ctx, kt);
        return rc;
    }
    krb5_keytab_entry e;
    while ((rc = krb5_kt_next_entry(ctx, kt, &e, &cur)) == 0) {
        if (*n < cap) {
            cg_kdc_key *k = &out[*n];
            char *pn = NULL;
            if (krb5_unparse_name(ctx, e.principal, &pn) == 0) {
                snprintf(k->principal, sizeof k->principal, "%s", pn);
                krb5_free_unparsed_name(ctx, pn);
            } else {
                snprintf(k->principal, sizeof k->principal, "?");
            }
            k->kvno = e.vno;
            k->enctype = e.key.enctype;
            if (krb5_enctype_to_name(e.key.enctype, 1, k->enctype_name, sizeof k->enctype_name))
                snprintf(k->enctype_name, sizeof k->enctype_name, "enctype %d", (int)e.key.enctype);
        }
        (*n)++;
        krb5_free_keytab_entry_contents(ctx, &e);
    }
    krb5_kt_end_seq_get(ctx, kt, &cur);
    krb5_kt_close(ctx, kt);
    if (rc != KRB5_KT_END) {
        snprintf(err, errcap, "cannot read the keytab %s: %s", keytab, cg_kdc_krb_message(ctx, rc, m, sizeof m));
        return rc;
    }
    if (*n > cap)
        *n = cap;
    return 0;
}

bool cg_kdc_keytab_check(krb5_context ctx, const char *keytab, const char *principal, char *err, size_t errcap)
{
    cg_kdc_key keys[64];
    size_t n = 0;
    if (cg_kdc_keytab_keys(ctx, keytab, keys, 64, &n, err, errcap))
        return false;
    size_t mine = 0;
    char others[300] = "";
    size_t ol = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(keys[i].principal, principal))
            mine++;
        else if (ol < sizeof others - 1 && !strstr(others, keys[i].principal)) {
            int w = snprintf(others + ol, sizeof others - ol, "%s%s", ol ? ", " : "", keys[i].principal);
            if (w > 0)
                ol += (size_t)w < sizeof others - ol ? (size_t)w : sizeof others - ol - 1;
        }
    }
    if (n == 0) {
        snprintf(err, errcap, "%s holds no keys; export %s's key into it", keytab, principal);
        return false;
    }
    if (!mine) {
        snprintf(err, errcap, "%s holds no key for kerberos.principal %s (it holds keys for: %s)", keytab, principal,
                 others);
        return false;
    }
    return true;
}

void cg_kdc_ccache_name(const char *what, char *out, size_t cap)
{
    static atomic_uint counter;
    snprintf(out, cap, "MEMORY:certgate-%s-%ld-%u", what, (long)getpid(), atomic_fetch_add(&counter, 1) + 1);
}

void cg_kdc_destroy_ccache(krb5_context ctx, const char *ccname)
{
    krb5_ccache cc;
    if (ccname && *ccname && krb5_cc_resolve(ctx, ccname, &cc) == 0)
        krb5_cc_destroy(ctx, cc);
}

krb5_error_code cg_kdc_get_tgt(krb5_context ctx, const char *keytab, const char *proxy, const char *ccname,
                               int64_t *endtime, int64_t *kdc_time)
{
    char ktname[1100];
    cg_kdc_keytab_name(keytab, ktname, sizeof ktname);
    krb5_principal me = NULL;
    krb5_keytab kt = NULL;
    krb5_ccache cc = NULL;
    krb5_get_init_creds_opt *opt = NULL;
    krb5_creds creds;
    memset(&creds, 0, sizeof creds);
    bool have_creds = false;
    krb5_error_code rc = krb5_parse_name(ctx, proxy, &me);
    if (!rc)
        rc = krb5_kt_resolve(ctx, ktname, &kt);
    if (!rc)
        rc = krb5_get_init_creds_opt_alloc(ctx, &opt);
    if (!rc) {
        krb5_get_init_creds_opt_set_forwardable(opt, 1);
        rc = krb5_get_init_creds_keytab(ctx, &creds, me, kt, 0, NULL, opt);
        have_creds = rc == 0;
    }
    if (!rc)
        rc = krb5_cc_resolve(ctx, ccname, &cc);
    if (!rc)
        rc = krb5_cc_initialize(ctx, cc, me);
    if (!rc)
        rc = krb5_cc_store_cred(ctx, cc, &creds);
    if (!rc) {
        *endtime = (int64_t)(uint32_t)creds.times.endtime;
        *kdc_time = (int64_t)(uint32_t)creds.times.authtime;
    }
    if (cc)
        krb5_cc_close(ctx, cc);
    if (have_creds)
        krb5_free_cred_contents(ctx, &creds);
    if (opt)
        krb5_get_init_creds_opt_free(ctx, opt);
    if (kt)
        krb5_kt_close(ctx, kt);
    if (me)
        krb5_free_principal(ctx, me);
    return rc;
}

/* One TGS exchange with the proxy's TGT in ccname. S4U2Self (evidence NULL):
 * a ticket for the user `name` to the proxy itself. S4U2Proxy: with the
 * evidence ticket, a ticket for its user to the service `name`. */
static krb5_error_code s4u(krb5_context ctx, const char *ccname, const char *name, const krb5_creds *evidence,
                           krb5_creds **out)
{
    krb5_ccache cc = NULL;
    krb5_principal me = NULL, other = NULL;
    krb5_creds in;
    memset(&in, 0, sizeof in);
    *out = NULL;
    krb5_error_code rc = krb5_cc_resolve(ctx, ccname, &cc);
    if (!rc)
        rc = krb5_cc_get_principal(ctx, cc, &me);
    if (!rc)
        rc = evidence ? krb5_parse_name(ctx, name, &other) : cg_kdc_request_principal(ctx, name, &other);
    if (!rc && !evidence) {
        in.client = other;
        in.server = me;
        rc = krb5_get_credentials_for_user(ctx, KRB5_GC_CANONICALIZE | KRB5_GC_NO_STORE, cc, &in, NULL, out);
    } else if (!rc) {
        in.client = me;
        in.server = other;
        in.second_ticket = evidence->ticket;
        rc = krb5_get_credentials(ctx, KRB5_GC_CANONICALIZE | KRB5_GC_CONSTRAINED_DELEGATION | KRB5_GC_NO_STORE,
                                  cc, &in, out);
    }
    if (other)
        krb5_free_principal(ctx, other);
    if (me)
        krb5_free_principal(ctx, me);
    if (cc)
        krb5_cc_close(ctx, cc);
    return rc;
}

krb5_error_code cg_kdc_s4u2self(krb5_context ctx, const char *ccname, const char *user, krb5_creds **evidence)
{
    return s4u(ctx, ccname, user, NULL, evidence);
}

krb5_error_code cg_kdc_s4u2proxy(krb5_context ctx, const char *ccname, const krb5_creds *evidence,
                                 const char *target, krb5_creds **svc)
{
    return s4u(ctx, ccname, target, evidence, svc);
}

static gss_OID_desc spnego_oid_desc = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};

static void gss_message(OM_uint32 major, OM_uint32 minor, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        OM_uint32 code = pass ? minor : major, m, more = 0;
        if (pass && !minor)
            break;
        do {
            gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
            if (gss_display_status(&m, code, pass ? GSS_C_MECH_CODE : GSS_C_GSS_CODE, GSS_C_NO_OID, &more, &b))
                break;
            int w = snprintf(out + o, cap - o, "%s%.*s", o ? "; " : "", (int)b.length, (const char *)b.value);
            gss_release_buffer(&m, &b);
            if (w < 0 || (size_t)w >= cap - o) {
                o = cap - 1;
                break;
            }
            o += (size_t)w;
        } while (more);
    }
}

krb5_error_code cg_kdc_user_cred(krb5_context ctx, const krb5_creds *svc, const char *ccname, gss_cred_id_t *out,
                                 char *err, size_t errcap)
{
    krb5_ccache cc = NULL;
    char m[256];
    *out = GSS_C_NO_CREDENTIAL;
    krb5_error_code rc = krb5_cc_resolve(ctx, ccname, &cc);
    if (!rc)
        rc = krb5_cc_initialize(ctx, cc, svc->client);
    if (!rc)
        rc = krb5_cc_store_cred(ctx, cc, (krb5_creds *)svc);
    if (cc)
        krb5_cc_close(ctx, cc);
    if (rc) {
        snprintf(err, errcap, "cannot store the S4U2Proxy ticket in %s: %s", ccname,
                 cg_kdc_krb_message(ctx, rc, m, sizeof m));
        return rc;
    }
    gss_key_value_element_desc el[] = {{"ccache", ccname}};
    gss_key_value_set_desc store = {1, el};
    gss_OID_desc mechs_e[2] = {*gss_mech_krb5, spnego_oid_desc};
    gss_OID_set_desc mechs = {2, mechs_e};
    OM_uint32 minor;
    OM_uint32 major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE, &store,
                                            out, NULL, NULL);
    if (GSS_ERROR(major)) {
        char gm[512];
        gss_message(major, minor, gm, sizeof gm);
        snprintf(err, errcap, "cannot make a GSSAPI credential from the S4U2Proxy ticket: %s", gm);
        *out = GSS_C_NO_CREDENTIAL;
        return KRB5_CC_NOTFOUND;
    }
    return 0;
}

bool cg_kdc_token(gss_cred_id_t cred, const char *target, char **b64, char *err, size_t errcap)
{
    *b64 = NULL;
    OM_uint32 minor, m2;
    gss_name_t name = GSS_C_NO_NAME;
    gss_buffer_desc nb = {strlen(target), (void *)target};
    OM_uint32 major = gss_import_name(&minor, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
    if (GSS_ERROR(major)) {
        char gm[512];
        gss_message(major, minor, gm, sizeof gm);
        snprintf(err, errcap, "cannot use %s as a Kerberos principal name: %s", target, gm);
        return false;
    }
    gss_ctx_id_t gctx = GSS_C_NO_CONTEXT;
    gss_buffer_desc tok = GSS_C_EMPTY_BUFFER;
    major = gss_init_sec_context(&minor, cred, &gctx, name, &spnego_oid_desc, GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG,
                                 GSS_C_INDEFINITE, GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER, NULL, &tok, NULL, NULL);
    bool ok = false;
    if (GSS_ERROR(major) || tok.length == 0) {
        char gm[512];
        gss_message(major, minor, gm, sizeof gm);
        snprintf(err, errcap, "gss_init_sec_context for %s failed: %s", target, gm);
    } else {
        size_t cap = (tok.length + 2) / 3 * 4 + 1;
        char *out = malloc(cap);
        if (out && cg_base64_encode(tok.value, tok.length, out, cap)) {
            *b64 = out;
            ok = true;
        } else {
            free(out);
            snprintf(err, errcap, "out of memory");
        }
    }
    gss_release_buffer(&m2, &tok);
    if (gctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&m2, &gctx, GSS_C_NO_BUFFER);
    gss_release_name(&m2, &name);
    return ok;
}
