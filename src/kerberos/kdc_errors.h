/* The error catalogue of the Kerberos steps (kdc_steps.h): which step failed
 * and the krb5 error it returned, read with what certgate knows besides the
 * code (cg_kdc_known: was the S4U2Self ticket forwardable, does the KDC give
 * the proxy forwardable S4U2Self tickets at all, which enctypes the keytab
 * and the account have) -> a refusal kind (error.h) and an operator sentence
 * naming the principals and the setting to change. The same KDC error means
 * different things in each step, and MIT and AD answer some situations with
 * different codes (docs/delegation.md, "What each KDC answers"): the
 * diagnosis is keyed on step + code + hints, never on the message's text.
 * The proxy, `certgate doctor` and `certgate explain --delegate` all take
 * their sentences from here.
 */
#ifndef CG_KDC_ERRORS_H
#define CG_KDC_ERRORS_H

#include <stddef.h>

#include <krb5.h>

#include "base/base.h"

/* Which step failed. */
typedef enum {
    CG_KDC_PHASE_KEYTAB,     /* reading the proxy's keytab */
    CG_KDC_PHASE_PROXY_TGT,  /* AS exchange with the keytab: the proxy's own TGT */
    CG_KDC_PHASE_S4U2SELF,   /* ticket for the user to the proxy (protocol transition) */
    CG_KDC_PHASE_S4U2PROXY,  /* ticket for the user to the SPN (constrained delegation) */
    CG_KDC_PHASE_TOKEN,      /* GSSAPI SPNEGO token from the cached ticket (no KDC) */
} cg_kdc_phase;

const char *cg_kdc_phase_name(cg_kdc_phase p);

/* An answer certgate may or may not know. */
typedef enum { CG_KDC_UNKNOWN = 0, CG_KDC_YES, CG_KDC_NO } cg_kdc_answer;

/* What certgate knows besides the KDC's code (zeroed: nothing). Filled by
 * kdc_diagnose.h's probes, only after a failure. */
typedef struct cg_kdc_known {
    cg_kdc_answer evidence_forwardable; /* the S4U2Self ticket of this exchange was forwardable */
    cg_kdc_answer proxy_transition;     /* the KDC gives the proxy forwardable S4U2Self tickets (a reference
                                           principal's), i.e. protocol transition is allowed */
    cg_kdc_answer enctypes_shared;      /* the keytab holds a key of an enctype the KDC has for the proxy */
    char keytab_enctypes[160];          /* "aes256-cts-hmac-sha1-96 (kvno 3)" for the proxy, "" unknown */
    char account_enctypes[160];         /* the enctypes the KDC has for the proxy's account, "" unknown */
} cg_kdc_known;

/* What the operator sentences name. */
typedef struct cg_kdc_names {
    const char *proxy;   /* "HTTP/proxy.example.test@EXAMPLE.TEST" */
    const char *user;    /* "alice@EXAMPLE.TEST" (may be NULL for the proxy steps) */
    const char *target;  /* "HTTP/backend.example.test@EXAMPLE.TEST" (may be NULL) */
    const char *realm;
    const char *keytab;
    const cg_kdc_known *known; /* may be NULL: nothing known besides the code */
} cg_kdc_names;

/* Maps a krb5 error code of phase to a refusal kind and an operator sentence
 * naming the principals and the KDC-side setting to change. krb_msg is the
 * library's message for code (may be NULL). */
void cg_kdc_map_error(cg_kdc_phase phase, krb5_error_code code, const char *krb_msg, const cg_kdc_names *n,
                      cg_refusal *out);

/* The catalogue as data, for `certgate doctor`, docs and tests: every
 * (step, code, hint) row and the refusal it gives. */
#define CG_KDC_PHASE_ANY ((cg_kdc_phase)-1)
typedef struct cg_kdc_row {
    cg_kdc_phase phase;    /* CG_KDC_PHASE_ANY: every step */
    krb5_error_code code;
    /* the hints the row needs (CG_KDC_UNKNOWN: any value) */
    cg_kdc_answer evidence_forwardable, proxy_transition, enctypes_shared;
    cg_refusal_kind kind;
    const char *situation; /* "the user's account is disabled or locked" */
    void (*say)(const struct cg_kdc_row *row, const void *ctx, cg_refusal *out); /* the operator sentence */
} cg_kdc_row;
const cg_kdc_row *cg_kdc_catalogue(size_t *n);

/* The krb5 error message for code (or a fallback; errno values too), into
 * out. ctx may be NULL. */
const char *cg_kdc_krb_message(krb5_context ctx, krb5_error_code code, char *out, size_t cap);

#endif
