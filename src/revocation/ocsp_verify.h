/* Whether a parsed OCSP response (ocsp_msg.h) is to be believed, RFC 6960 3.2 and 4.2.2.2: signed
 * by the certificate's issuer itself, or by a delegated responder whose certificate the response
 * carries, issued by that issuer, with id-kp-OCSPSigning and valid now; current (thisUpdate not
 * in the future, nextUpdate not past, both with a small clock skew); with the nonce we sent when
 * we sent one and require it. Pure: the clock is a parameter, nothing is fetched or cached.
 *
 * The delegated responder's certificate is not itself checked for revocation (RFC 6960 4.2.2.2.1
 * leaves it to the CA; id-pkix-ocsp-nocheck says so explicitly and is reported).
 */
#ifndef CG_OCSP_VERIFY_H
#define CG_OCSP_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "ocsp_msg.h"

/* Clock skew tolerated on thisUpdate and nextUpdate. */
#define CG_OCSP_SKEW_S 300

typedef enum cg_ocsp_fault {
    CG_OCSP_TRUSTED = 0,          /* believe the answer */
    CG_OCSP_NO_SIGNER,            /* neither the issuer nor an included certificate is the responderID */
    CG_OCSP_SIGNER_NOT_AUTHORIZED,/* the signer's certificate is not a delegated responder of the issuer */
    CG_OCSP_BAD_SIGNATURE,        /* the signature does not verify (a forged or damaged response) */
    CG_OCSP_WEAK_SIGNATURE,       /* SHA-1 without allow_sha1 */
    CG_OCSP_NOT_YET_VALID,        /* thisUpdate in the future */
    CG_OCSP_EXPIRED,              /* past nextUpdate; or, without one, older than max_age_s */
    CG_OCSP_NONCE_MISMATCH,       /* another nonce, or none when one was required */
} cg_ocsp_fault;

typedef struct cg_ocsp_verify_opts {
    int64_t now;                  /* seconds since the epoch */
    int skew_s;                   /* CG_OCSP_SKEW_S unless a test says otherwise */
    int64_t max_age_s;            /* for answers without nextUpdate */
    bool allow_sha1;              /* SHA-1 signatures (old responders) */
    const unsigned char *nonce;   /* the nonce we sent, or NULL */
    size_t nonce_len;
    bool nonce_required;          /* a response without our nonce is refused */
} cg_ocsp_verify_opts;

typedef struct cg_ocsp_signer {
    bool delegated;               /* a responder certificate, not the issuer itself */
    bool nocheck;                 /* its certificate has id-pkix-ocsp-nocheck */
    char subject[256];            /* the signer's subject, for logs and explain */
} cg_ocsp_signer;

/* The verdict on r (parsed for a certificate issued by issuer). CG_OCSP_TRUSTED fills signer;
 * any other value comes with a sentence for the operator in why. */
cg_ocsp_fault cg_ocsp_verify(const cg_ocsp_response *r, const mbedtls_x509_crt *issuer, const cg_ocsp_verify_opts *o,
                             cg_ocsp_signer *signer, char *why, size_t why_cap);

const char *cg_ocsp_fault_name(cg_ocsp_fault f);

#endif
