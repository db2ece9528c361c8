/* The error catalogue of the Kerberos steps (kdc_steps.h): which step failed
 * and the krb5 error it returned -> a refusal kind (error.h) and an operator
 * sentence naming the principals and the KDC-side setting to change. The
 * same KDC error means different things in each step.
 */
#ifndef CG_KDC_ERRORS_H
#define CG_KDC_ERRORS_H

#include <stddef.h>

#include <krb5.h>

#include "error.h"

/* Which step failed. */
typedef enum {
    CG_KDC_PHASE_KEYTAB,     /* reading the proxy's keytab */
    CG_KDC_PHASE_PROXY_TGT,  /* AS exchange with the keytab: the proxy's own TGT */
    CG_KDC_PHASE_S4U2SELF,   /* ticket for the user to the proxy (protocol transition) */
    CG_KDC_PHASE_S4U2PROXY,  /* ticket for the user to the SPN (constrained delegation) */
    CG_KDC_PHASE_TOKEN,      /* GSSAPI SPNEGO token from the cached ticket (no KDC) */
} cg_kdc_phase;

const char *cg_kdc_phase_name(cg_kdc_phase p);

/* What the operator sentences name. */
typedef struct cg_kdc_names {
    const char *proxy;   /* "HTTP/proxy.example.test@EXAMPLE.TEST" */
    const char *user;    /* "alice@EXAMPLE.TEST" (may be NULL for the proxy steps) */
    const char *target;  /* "HTTP/backend.example.test@EXAMPLE.TEST" (may be NULL) */
    const char *realm;
    const char *keytab;
} cg_kdc_names;

/* Maps a krb5 error code of phase to a refusal kind and an operator sentence
 * naming the principals and the KDC-side setting to change. krb_msg is the
 * library's message for code (may be NULL). */
void cg_kdc_map_error(cg_kdc_phase phase, krb5_error_code code, const char *krb_msg, const cg_kdc_names *n,
                      cg_refusal *out);

/* The KDC refused S4U2Proxy for a non-forwardable S4U2Self ticket: the
 * refusal for it (neither protocol transition nor RBCD allowed it). */
void cg_kdc_not_forwardable(const cg_kdc_names *n, cg_refusal *out);

/* The krb5 error message for code (or a fallback; errno values too), into
 * out. ctx may be NULL. */
const char *cg_kdc_krb_message(krb5_context ctx, krb5_error_code code, char *out, size_t cap);

#endif
