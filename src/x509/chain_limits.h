/* Bounded handshake work: the client's chain judged against the listener's
 * limits.
 *
 * mbedTLS builds the client's chain by trying, for each certificate, every
 * later certificate of the message whose subject matches its issuer name,
 * one signature verification each, until one is valid in time; then every
 * certificate of the trust list with that name. A message of fake CA
 * certificates named like a trusted CA (expired, so that each is tried)
 * costs one signature verification per fake; an RSA key with a huge public
 * exponent makes one verification as slow as a private-key operation.
 *
 * In TLS 1.2 that message is sent in the clear: tls.c finds it in the bytes
 * it hands mbedTLS (net/cert_msg.h) and judges it here before mbedTLS
 * verifies it (cg_chain_limits_check()). A message over the limits gets a
 * 403.16 refusal with the sentence written here; mbedTLS 3.6 cannot be told
 * to skip its verification (2.28 could, through its private ssl_internal.h),
 * so tls.c confines it to the message's own CA certificates. In TLS 1.3 the
 * message is encrypted: tls.c judges the chain mbedTLS parsed
 * (cg_chain_limits_check_chain()) in the bundled mbedTLS's hook before
 * verification (patch 0004, docs/platform.md), and with a system mbedTLS in
 * the verification callback, after it.
 *
 * The limits:
 *  - at most max_certificates certificates in the message
 *    (listeners[].tls.max_client_certificates);
 *  - at most CG_CHAIN_SAME_NAME_MAX certificates with the same subject name
 *    (compared as mbedTLS compares names: ASCII case folded, UTF8String and
 *    PrintableString alike), so a certificate has at most that many
 *    candidate parents in the message (a CA certificate and its
 *    cross-certificate share a name: two are legitimate);
 *  - the path mbedTLS would follow through the message by names is at most
 *    max_depth certificates long, the trust anchor included
 *    (listeners[].tls.max_chain_depth, which the verdict enforces anyway);
 *  - RSA public exponents of at most CG_CHAIN_RSA_EXPONENT_BITS bits.
 * Together: at most about 2 x max_chain_depth signature checks on keys the
 * client chose, each of bounded cost.
 */
#ifndef CG_CHAIN_LIMITS_H
#define CG_CHAIN_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/x509_crt.h>

/* CG_CHAIN_DEFAULT_MAX_CERTIFICATES, CG_CHAIN_MAX_CERTIFICATES_LIMIT: the
 * setting's default and bound, part of the schema. */
#include "config/config.h"

#define CG_CHAIN_SAME_NAME_MAX 2
#define CG_CHAIN_RSA_EXPONENT_BITS 64

typedef struct cg_chain_limits {
    const char *listener;           /* for the sentence */
    unsigned max_certificates;      /* certificates in the message */
    unsigned max_depth;             /* certificates on the path, trust anchor included */
    const mbedtls_x509_crt *trust;  /* the trust list: names for the sentence; a path ends at a copy */
} cg_chain_limits;

typedef enum {
    CG_CHAIN_WITHIN = 0, /* mbedTLS may verify it */
    CG_CHAIN_OVER,       /* do not verify; refuse with the sentence */
    CG_CHAIN_MALFORMED,  /* not a well-formed Certificate message: left to mbedTLS, which rejects it */
} cg_chain_verdict;

typedef struct cg_chain_span {
    size_t off, len;     /* one certificate's DER within the message */
} cg_chain_span;

/* msg, len: one whole TLS 1.2 Certificate handshake message, its 4-byte
 * header included. Stores the first cap certificates' spans in out and
 * returns how many certificates the message holds (counting on past cap), or
 * -1 if its lengths do not add up. Never reads outside [msg, msg + len). */
long cg_chain_msg_split(const unsigned char *msg, size_t len, cg_chain_span *out, size_t cap);

/* Judges the message against lim. On CG_CHAIN_OVER, why holds the operator
 * sentence and, when leaf is not NULL (an initialised, empty chain), the
 * message's first certificate is parsed into it (copied: msg may go), for
 * naming the client; it stays empty if that certificate does not parse. */
cg_chain_verdict cg_chain_limits_check(const unsigned char *msg, size_t len, const cg_chain_limits *lim,
                                       char *why, size_t why_cap, mbedtls_x509_crt *leaf);

/* Judges a chain as mbedTLS parsed it (the client's certificates in its
 * order, leaf first; mbedTLS leaves out those it cannot parse) against lim;
 * on CG_CHAIN_OVER why holds the operator sentence. Never
 * CG_CHAIN_MALFORMED. */
cg_chain_verdict cg_chain_limits_check_chain(const mbedtls_x509_crt *chain, const cg_chain_limits *lim, char *why,
                                             size_t why_cap);

/* True when mbedTLS would take a and b for the same name (see above); may
 * also say true for a few names mbedTLS tells apart, never the reverse. */
bool cg_chain_names_match(const mbedtls_x509_name *a, const mbedtls_x509_name *b);

#endif
