/* The synchronous Kerberos steps behind the asynchronous ticket cache of
 * delegation.h (and `certgate doctor`): principal names, the keytab, the
 * proxy's TGT, S4U2Self, S4U2Proxy and the SPNEGO token. The steps that reach
 * the KDC block: run them on a thread pool, never on an event loop.
 *
 * The KDC steps use the krb5 API, not gss_acquire_cred_impersonate_name:
 * MIT's GSSAPI mechglue hands back "mapped" minor codes (100000 + n, assigned
 * in the order errors first occur), so a GSSAPI failure cannot be told apart
 * from another except by its (translatable) text; krb5 returns the KDC's
 * error code itself, which kdc_errors.h turns into an operator sentence. The
 * token is still made with GSSAPI (SPNEGO) from a credential that holds only
 * the S4U2Proxy ticket.
 */
#ifndef CG_KDC_STEPS_H
#define CG_KDC_STEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gssapi/gssapi.h>
#include <krb5.h>

/* The request name of a mapped principal with realm the only realm served
 * (kdc_names.h: cg_kdc_user_resolve): "alice" / "alice@realm" (any case) ->
 * "alice@REALM"; "carol@corp.example.com" -> the enterprise name
 * "carol\@corp.example.com@REALM". Refused: empty, control characters or
 * spaces, more than one '@', an empty realm, and '/' (a service or instance
 * principal is never impersonated). */
bool cg_kdc_user_name(const char *principal, const char *realm, char *out, size_t cap, char *err, size_t errcap);

/* "HTTP/host" or "HTTP/host@REALM" -> "HTTP/host@REALM". Refused: no
 * service or host, a port ("HTTP/host:8080"), spaces or control chars. */
bool cg_kdc_target_name(const char *spn, const char *realm, char *out, size_t cap, char *err, size_t errcap);

/* One key in a keytab. Never holds the key itself. */
typedef struct cg_kdc_key {
    char principal[256];
    unsigned kvno;
    int enctype;
    char enctype_name[48];
} cg_kdc_key;

/* Lists the keys of keytab (a path or "TYPE:residual"). Returns 0 or a krb5
 * error / errno with a sentence in err. */
krb5_error_code cg_kdc_keytab_keys(krb5_context ctx, const char *keytab, cg_kdc_key *out, size_t cap, size_t *n,
                                   char *err, size_t errcap);

/* Whether keytab is readable and holds a key for principal; false with a
 * sentence in err otherwise (naming the principals it holds keys for). */
bool cg_kdc_keytab_check(krb5_context ctx, const char *keytab, const char *principal, char *err, size_t errcap);

/* "FILE:path" for a plain path, the name itself when it has a type prefix. */
void cg_kdc_keytab_name(const char *keytab, char *out, size_t cap);

/* A process-unique memory ccache name "MEMORY:certgate-<what>-<pid>-<n>". */
void cg_kdc_ccache_name(const char *what, char *out, size_t cap);

/* Destroys the memory ccache ccname (it outlives gss_release_cred). */
void cg_kdc_destroy_ccache(krb5_context ctx, const char *ccname);

/* AS exchange with the keytab: the proxy's TGT into the (new) ccache ccname.
 * *endtime and *kdc_time (the KDC's clock at issue, for skew) on success. */
krb5_error_code cg_kdc_get_tgt(krb5_context ctx, const char *keytab, const char *proxy, const char *ccname,
                               int64_t *endtime, int64_t *kdc_time);

/* S4U2Self: a ticket for user to the proxy, from the proxy's TGT in ccname.
 * user is a request name (kdc_names.h): an enterprise name is asked as one,
 * with name canonicalization; (*evidence)->client is the KDC's canonical
 * name. */
krb5_error_code cg_kdc_s4u2self(krb5_context ctx, const char *ccname, const char *user, krb5_creds **evidence);

/* S4U2Proxy: with the evidence ticket, a ticket for the user to target. */
krb5_error_code cg_kdc_s4u2proxy(krb5_context ctx, const char *ccname, const krb5_creds *evidence,
                                 const char *target, krb5_creds **svc);

/* A GSSAPI initiator credential (krb5 + SPNEGO) holding only svc, in the new
 * memory ccache ccname. It has no TGT, so gss_init_sec_context with it can
 * never reach the KDC. */
krb5_error_code cg_kdc_user_cred(krb5_context ctx, const krb5_creds *svc, const char *ccname, gss_cred_id_t *out,
                                 char *err, size_t errcap);

/* A fresh SPNEGO token (base64, malloc'd) for target with cred. Never
 * contacts the KDC when cred came from cg_kdc_user_cred. */
bool cg_kdc_token(gss_cred_id_t cred, const char *target, char **b64, char *err, size_t errcap);

#endif
