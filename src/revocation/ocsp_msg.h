/* OCSP messages (RFC 6960): the request for one certificate and the BasicOCSPResponse that
 * answers it. Pure: no I/O, no clock, no lock; the parsed response points into the caller's
 * bytes. Whether a response is to be believed (its signer, its time window) is ocsp_verify's job.
 *
 * Only mbedTLS API that is the same in 2.28 and 3.6: ASN.1 read/write, mbedtls_md, the public
 * fields of mbedtls_x509_crt (tbs, serial, subject_raw, pk_raw).
 */
#ifndef CG_OCSP_MSG_H
#define CG_OCSP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

/* OCSPResponseStatus. */
enum {
    CG_OCSP_SUCCESSFUL = 0,
    CG_OCSP_MALFORMED_REQUEST = 1,
    CG_OCSP_INTERNAL_ERROR = 2,
    CG_OCSP_TRY_LATER = 3,
    CG_OCSP_SIG_REQUIRED = 5,
    CG_OCSP_UNAUTHORIZED = 6,
};

/* CertStatus. */
typedef enum cg_ocsp_status { CG_OCSP_GOOD = 0, CG_OCSP_REVOKED = 1, CG_OCSP_UNKNOWN = 2 } cg_ocsp_status;

/* Bounds: a serial is at most 20 octets (RFC 5280 4.1.2.2; 64 tolerated as for CRLs' 255), a
 * nonce 1..32 octets (RFC 8954), a response carries a few certificates. */
#define CG_OCSP_SERIAL_MAX 64
#define CG_OCSP_NONCE_MAX 32
#define CG_OCSP_CERTS_MAX 4
/* Requests we build fit here (one CertID with SHA-256 hashes, a 64-octet serial, a nonce). */
#define CG_OCSP_REQUEST_MAX 256

/* CertID: which certificate a request asks about and a SingleResponse answers. */
typedef struct cg_ocsp_certid {
    mbedtls_md_type_t md;                 /* MBEDTLS_MD_SHA1 or MBEDTLS_MD_SHA256 */
    unsigned char name_hash[32];          /* of the issuer's Name (DER) */
    unsigned char key_hash[32];           /* of the issuer's subjectPublicKey BIT STRING value */
    size_t hash_len;
    unsigned char serial[CG_OCSP_SERIAL_MAX]; /* INTEGER content, leading zero octets stripped */
    size_t serial_len;
} cg_ocsp_certid;

/* A byte range of the parsed response. */
typedef struct cg_ocsp_span {
    const unsigned char *p;
    size_t len;
} cg_ocsp_span;

/* A parsed OCSPResponse. Spans point into the buffer given to cg_ocsp_response_parse. */
typedef struct cg_ocsp_response {
    int response_status;                  /* CG_OCSP_SUCCESSFUL ...; the rest only when successful */
    cg_ocsp_span tbs;                     /* tbsResponseData, DER: what the signature covers */
    mbedtls_md_type_t sig_md;
    mbedtls_pk_type_t sig_pk;             /* MBEDTLS_PK_RSA or MBEDTLS_PK_ECDSA */
    cg_ocsp_span sig;                     /* the signature BIT STRING's octets */
    cg_ocsp_span responder_name;          /* responderID byName: the Name, DER; or */
    cg_ocsp_span responder_key;           /* byKey: SHA-1 of the responder's subjectPublicKey */
    int64_t produced_at;
    cg_ocsp_span nonce;                   /* the nonce extension's octets, when present */
    cg_ocsp_span certs[CG_OCSP_CERTS_MAX];/* the certs field, DER certificates, in order */
    size_t ncerts;
    size_t nresponses;                    /* SingleResponses in the response */
    /* The SingleResponse for the CertID asked about. */
    cg_ocsp_status status;
    int64_t revoked_at;                   /* CG_OCSP_REVOKED: revocationTime */
    int reason;                           /* CRLReason, -1 when absent */
    int64_t this_update;
    int64_t next_update;                  /* 0 when absent */
} cg_ocsp_response;

/* The CertID of cert issued by issuer, with hash md (SHA-1 or SHA-256). Returns false, with a
 * sentence in err, for another hash, an unreadable issuer or a serial over CG_OCSP_SERIAL_MAX. */
bool cg_ocsp_certid_make(const mbedtls_x509_crt *cert, const mbedtls_x509_crt *issuer, mbedtls_md_type_t md,
                         cg_ocsp_certid *out, char *err, size_t err_cap);

/* An OCSPRequest (DER, unsigned) for id into out; with a nonce extension when nonce_len > 0
 * (1..CG_OCSP_NONCE_MAX octets). Returns its length, 0 when it does not fit or the nonce is out
 * of bounds. */
size_t cg_ocsp_request_build(const cg_ocsp_certid *id, const unsigned char *nonce, size_t nonce_len,
                             unsigned char *out, size_t cap);

/* Parses an OCSPResponse (DER) and finds the SingleResponse for id. Returns false with a
 * sentence in err when the bytes are not a well-formed response, the responseStatus is not
 * successful (out->response_status says which), the response is not a BasicOCSPResponse, has an
 * unsupported critical extension or signature algorithm, or answers for other certificates only.
 * Strict DER lengths; work and memory bounded by len (nothing is allocated). */
bool cg_ocsp_response_parse(const unsigned char *der, size_t len, const cg_ocsp_certid *id, cg_ocsp_response *out,
                            char *err, size_t err_cap);

/* "good", "revoked", "unknown"; "tryLater" ... for a responseStatus. */
const char *cg_ocsp_status_name(cg_ocsp_status s);
const char *cg_ocsp_response_status_name(int response_status);

/* The SubjectPublicKey BIT STRING value (no unused-bits octet) inside a SubjectPublicKeyInfo, for
 * CertID key hashes and byKey responder ids. False when spki is not one. */
bool cg_ocsp_spki_key(const unsigned char *spki, size_t len, cg_ocsp_span *key);

/* The OCSP responder URLs of a certificate's Authority Information Access (id-ad-ocsp, URIs of
 * printable ASCII), in order: how many were written to out (at most cap, each malloc'd: the
 * caller frees them). */
size_t cg_ocsp_cert_urls(const mbedtls_x509_crt *c, char **out, size_t cap);

/* A signature AlgorithmIdentifier (DER, whole) as the digest and key type mbedtls_pk_verify()
 * takes: RSA PKCS#1 v1.5 or ECDSA with SHA-1/256/384/512. False for any other (RSASSA-PSS ...). */
bool cg_ocsp_sig_alg(const unsigned char *der, size_t len, mbedtls_md_type_t *md, mbedtls_pk_type_t *pk);

/* GeneralizedTime content "YYYYMMDDHHMMSS[.f]Z" as seconds since the epoch; false otherwise. */
bool cg_ocsp_time(const unsigned char *p, size_t len, int64_t *out);

#endif
