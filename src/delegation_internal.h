/* Private to delegation.c, cmd_doctor.c and tests/unit/test_delegation.c:
 * the synchronous Kerberos steps behind the asynchronous cache of
 * delegation.h, and the pure helpers (names, base64, expiry, error mapping).
 *
 * The KDC steps use the krb5 API, not gss_acquire_cred_impersonate_name:
 * MIT's GSSAPI mechglue hands back "mapped" minor codes (100000 + n, assigned
 * in the order errors first occur), so a GSSAPI failure cannot be told apart
 * from another except by its (translatable) text; krb5 returns the KDC's
 * error code itself. The token is still made with GSSAPI (SPNEGO) from a
 * credential that holds only the S4U2Proxy ticket.
 */
#ifndef CG_DELEGATION_INTERNAL_H
#define CG_DELEGATION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gssapi/gssapi.h>
#include <krb5.h>

#include "error.h"

/* Which step failed: the same KDC error means different things in each. */
typedef enum {
    CG_PHASE_KEYTAB,     /* reading the proxy's keytab */
    CG_PHASE_PROXY_TGT,  /* AS exchange with the keytab: the proxy's own TGT */
    CG_PHASE_S4U2SELF,   /* ticket for the user to the proxy (protocol transition) */
    CG_PHASE_S4U2PROXY,  /* ticket for the user to the SPN (constrained delegation) */
    CG_PHASE_TOKEN,      /* GSSAPI SPNEGO token from the cached ticket (no KDC) */
} cg_deleg_phase;

const char *cg_deleg_phase_name(cg_deleg_phase p);

/* What the operator sentences name. */
typedef struct cg_deleg_names {
    const char *proxy;   /* "HTTP/proxy.example.test@EXAMPLE.TEST" */
    const char *user;    /* "alice@EXAMPLE.TEST" (may be NULL for the proxy steps) */
    const char *target;  /* "HTTP/backend.example.test@EXAMPLE.TEST" (may be NULL) */
    const char *realm;
    const char *keytab;
} cg_deleg_names;

/* Maps a krb5 error code of phase to a refusal kind and an operator sentence
 * naming the principals and the KDC-side setting to change. krb_msg is the
 * library's message for code (may be NULL). */
void cg_deleg_map_error(cg_deleg_phase phase, krb5_error_code code, const char *krb_msg,
                        const cg_deleg_names *n, cg_refusal *out);

/* The S4U2Self ticket is not forwardable: the refusal for it. */
void cg_deleg_not_forwardable(const cg_deleg_names *n, cg_refusal *out);

/* Standard base64 with padding. Returns the length written (without the
 * NUL), or 0 when cap is too small (cap must hold 4*ceil(len/3)+1). */
size_t cg_base64_encode(const void *in, size_t len, char *out, size_t cap);

/* "alice" / "alice@REALM" -> "alice@REALM" (the realm is added when absent).
 * Refused: empty, control characters or spaces, more than one '@', an empty
 * realm, and '/' (a service or instance principal is never impersonated). */
bool cg_deleg_user_name(const char *principal, const char *realm, char *out, size_t cap, char *err, size_t errcap);

/* "HTTP/host" or "HTTP/host@REALM" -> "HTTP/host@REALM". Refused: no
 * service or host, a port ("HTTP/host:8080"), spaces or control chars. */
bool cg_deleg_target_name(const char *spn, const char *realm, char *out, size_t cap, char *err, size_t errcap);

/* Cache timing, in unix seconds. A ticket valid [start, end) is refreshed in
 * the background from refresh_at() on (refresh_before before the end, but
 * never earlier than half its lifetime) and no longer used from
 * end - CG_DELEG_HARD_MARGIN_S on (the backend's clock may be a little ahead). */
#define CG_DELEG_HARD_MARGIN_S 30
int64_t cg_deleg_refresh_at(int64_t start, int64_t end, uint32_t refresh_before_s);
bool cg_deleg_usable(int64_t now, int64_t end);

/* One key in a keytab. Never holds the key itself. */
typedef struct cg_kt_key {
    char principal[256];
    unsigned kvno;
    int enctype;
    char enctype_name[48];
} cg_kt_key;

/* Lists the keys of keytab (a path or "TYPE:residual"). Returns 0 or a krb5
 * error / errno with a sentence in err. */
krb5_error_code cg_deleg_keytab_keys(krb5_context ctx, const char *keytab, cg_kt_key *out, size_t cap,
                                     size_t *n, char *err, size_t errcap);

/* "FILE:path" for a plain path, the name itself when it has a type prefix. */
void cg_deleg_keytab_name(const char *keytab, char *out, size_t cap);

/* AS exchange with the keytab: the proxy's TGT into the (new) ccache ccname.
 * *endtime and *kdc_time (the KDC's clock at issue, for skew) on success. */
krb5_error_code cg_deleg_get_tgt(krb5_context ctx, const char *keytab, const char *proxy, const char *ccname,
                                 int64_t *endtime, int64_t *kdc_time);

/* S4U2Self: a ticket for user to the proxy, from the proxy's TGT in ccname. */
krb5_error_code cg_deleg_s4u2self(krb5_context ctx, const char *ccname, const char *user, krb5_creds **evidence);

/* S4U2Proxy: with the evidence ticket, a ticket for the user to target. */
krb5_error_code cg_deleg_s4u2proxy(krb5_context ctx, const char *ccname, const krb5_creds *evidence,
                                   const char *target, krb5_creds **svc);

/* A GSSAPI initiator credential (krb5 + SPNEGO) holding only svc, in the new
 * memory ccache ccname. It has no TGT, so gss_init_sec_context with it can
 * never reach the KDC. */
krb5_error_code cg_deleg_user_cred(krb5_context ctx, const krb5_creds *svc, const char *ccname, gss_cred_id_t *out,
                                   char *err, size_t errcap);

/* A fresh SPNEGO token (base64, malloc'd) for target with cred. Never
 * contacts the KDC when cred came from cg_deleg_user_cred. */
bool cg_deleg_token(gss_cred_id_t cred, const char *target, char **b64, char *err, size_t errcap);

/* Destroys the memory ccache ccname (it outlives gss_release_cred). */
void cg_deleg_destroy_ccache(krb5_context ctx, const char *ccname);

/* A process-unique memory ccache name "MEMORY:certgate-<what>-<pid>-<n>". */
void cg_deleg_ccache_name(const char *what, char *out, size_t cap);

/* For tests and benchmarks: KDC exchanges started so far, in flight now,
 * cache entries. */
struct cg_kerberos;
void cg_deleg_stats(struct cg_kerberos *k, unsigned *exchanges, unsigned *inflight, size_t *entries);

/* The krb5 error message for code (or a fallback), into out. */
const char *cg_deleg_krb_message(krb5_context ctx, krb5_error_code code, char *out, size_t cap);

#endif
