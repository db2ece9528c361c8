/* Revocation of one client chain: a CRL for every certificate of a verified
 * chain except the trust anchor, from the store (crl_store.h) when fresh,
 * otherwise fetched from the certificate's CRL Distribution Points by the
 * worker's fetcher (crl_fetch.h); or an OCSP answer (ocsp_fetch.h), or one
 * then the other, as revocation.policy says. Answers revoked, good or
 * unknown (fail closed) with the operator's sentence. Never blocks a loop.
 *
 * The check takes what it needs as values (cg_crl_policy): it does not look
 * into the listener's TLS context or the configuration.
 *
 * docs/revocation.md describes the behaviour.
 */
#ifndef CG_CRL_CHECK_H
#define CG_CRL_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "config/config.h"
#include "crl_fetch.h"
#include "crl_parse.h"
#include "crl_store.h"
#include "ocsp_fetch.h"
#include "base/base.h"
#include "x509/x509.h"

typedef struct cg_crl_check cg_crl_check;

typedef enum {
    CG_REV_GOOD,     /* every certificate has a valid CRL and is not on it */
    CG_REV_REVOKED,  /* 403.13 "client certificate revoked" */
    CG_REV_UNKNOWN,  /* 403.13 "revocation status unknown" (fail closed) */
} cg_rev_status;

/* What a listener asks of the check. */
typedef struct cg_crl_policy {
    const char *listener;           /* named in the UNKNOWN sentence ("?" when NULL) */
    cg_revocation_mode mode;        /* revocation.mode */
    uint32_t stale_grace_s;         /* revocation.stale_grace */
    bool allow_weak_signatures;     /* tls.allow_weak_signatures: MD5/SHA-1 signed CRLs accepted */
    const cg_verify_policy *verify; /* remembers the chains of resumed sessions; NULL: none */
    cg_revocation_policy policy;    /* revocation.policy: CRL, OCSP, or one then the other */
    const char *ocsp_responder;     /* revocation.ocsp_responder, or NULL: the AIA */
    cg_ocsp_client *ocsp;           /* the worker's OCSP client (set by the caller); NULL: none */
} cg_crl_policy;

/* The policy of listener l, whose verify policy is verify (ocsp left NULL). */
void cg_crl_policy_from(cg_crl_policy *p, const cg_listener_cfg *l, const cg_verify_policy *verify);

/* why is filled for REVOKED and UNKNOWN: the certificate (subject, serial,
 * depth), and for UNKNOWN each URL tried and why it failed. */
typedef void (*cg_crl_cb)(void *ctx, cg_rev_status st, const cg_refusal *why);

/* Checks chain[0 .. n-2] (chain[0] the leaf, chain[n-1] the trust anchor, as
 * verified) under p and the store's global settings.
 * n == 1 with a leaf that is not itself a trust anchor means a resumed TLS
 * session (which keeps only the leaf): the chain is then the one remembered
 * from the full handshake by p->verify (verify.h, cg_verify_chain), and
 * UNKNOWN when there is none. The certificates must stay valid until cb runs
 * or the check is cancelled.
 * When the answer is known at once (all CRLs cached and fresh, or mode off)
 * cb runs before this returns and the result is NULL; otherwise cb runs
 * later on the fetcher's loop, unless cancelled first. */
cg_crl_check *cg_crl_check_chain(cg_crl_fetcher *f, const cg_crl_policy *p, const mbedtls_x509_crt *const *chain,
                                 int n, cg_crl_cb cb, void *ctx);
void cg_crl_check_cancel(cg_crl_check *c);

/* ---- details, for `certgate explain` ---- */

#define CG_CRL_MAX_CHAIN 12

typedef struct cg_crl_report_cert {
    int depth;
    cg_rev_status status;
    char summary[768];        /* one sentence: not revoked / revoked on ... / why unknown */
    bool via_ocsp;            /* the verdict is an OCSP answer (ocsp holds it) */
    cg_ocsp_entry ocsp;
    cg_crl_info base, delta;
    cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS]; /* fetches made for it (full CRL, then delta) */
    int nattempts;
} cg_crl_report_cert;

typedef struct cg_crl_report {
    int n;                    /* certificates checked (the chain minus its anchor) */
    cg_crl_report_cert certs[CG_CRL_MAX_CHAIN];
} cg_crl_report;

/* cg_crl_check_chain that also fills report (zeroed first; it must stay
 * valid until cb runs). */
cg_crl_check *cg_crl_check_chain_report(cg_crl_fetcher *f, const cg_crl_policy *p,
                                        const mbedtls_x509_crt *const *chain, int n, cg_crl_cb cb, void *ctx,
                                        cg_crl_report *report);

#endif
