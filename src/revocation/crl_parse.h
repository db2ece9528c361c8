/* CRL parsing: a CRL (DER, PEM, or libcurl's text rendering of an LDAP
 * answer) becomes an immutable, reference-counted `crl` with its entries in
 * a sorted serial table; the distribution points of a certificate (CRL
 * Distribution Points, Freshest CRL: crl_asn1.h, included) are read with the
 * same DistributionPoint parser as a CRL's own Freshest CRL extension. Pure:
 * no I/O, no lock.
 *
 * The revocation modules above it: crl_files (CRLs on disk), crl_store (the
 * process-wide cache), crl_fetch (transfers), crl_check (a chain's verdict).
 */
#ifndef CG_CRL_PARSE_H
#define CG_CRL_PARSE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "crl_asn1.h"

/* Clock skew tolerated on thisUpdate (a CRL issued "in the future"). */
#define CRL_SKEW_S 300

/* CRLReason (RFC 5280 5.3.1); CRL_REASON_NONE when an entry has none. */
enum {
    CRL_REASON_UNSPECIFIED = 0,
    CRL_REASON_KEY_COMPROMISE = 1,
    CRL_REASON_CA_COMPROMISE = 2,
    CRL_REASON_AFFILIATION_CHANGED = 3,
    CRL_REASON_SUPERSEDED = 4,
    CRL_REASON_CESSATION = 5,
    CRL_REASON_CERTIFICATE_HOLD = 6,
    CRL_REASON_REMOVE_FROM_CRL = 8,
    CRL_REASON_PRIVILEGE_WITHDRAWN = 9,
    CRL_REASON_AA_COMPROMISE = 10,
    CRL_REASON_NONE = 0xff,
};

/* issuingDistributionPoint scope bits. */
enum {
    CRL_IDP_PRESENT = 1u << 0,
    CRL_IDP_ONLY_USER = 1u << 1,
    CRL_IDP_ONLY_CA = 1u << 2,
    CRL_IDP_SOME_REASONS = 1u << 3,
    CRL_IDP_INDIRECT = 1u << 4,
    CRL_IDP_ONLY_ATTR = 1u << 5,
};

enum { CRL_ORIGIN_FETCH, CRL_ORIGIN_FILE, CRL_ORIGIN_CACHE };

/* One revoked certificate: 16 bytes, sorted by (len, serial bytes). */
typedef struct crl_entry {
    uint32_t off;     /* serial bytes at der + off (leading zero bytes stripped) */
    uint8_t len;
    uint8_t reason;   /* CRL_REASON_* */
    uint16_t pad;
    int64_t revoked;  /* revocationDate, seconds since the epoch */
} crl_entry;

#define CRL_MEMO 4

/* A parsed CRL. Immutable once in the store, except the verification memo
 * (under the store's lock); shared by reference count. */
typedef struct crl {
    atomic_int refs;
    unsigned char *der;            /* the CRL, DER */
    size_t der_len;
    unsigned char content_hash[32];/* SHA-256 of der */
    size_t issuer_off, issuer_len; /* issuer Name (DER) in der */
    unsigned char dn_hash[32];     /* SHA-256 of the issuer Name */
    char issuer[256];
    int64_t this_update, next_update; /* next_update 0: absent */
    unsigned char number[32];      /* cRLNumber (big-endian, no leading zeros) */
    size_t number_len;             /* 0: absent */
    bool is_delta;
    unsigned char base_number[32]; /* deltaCRLIndicator: the base CRL number */
    size_t base_len;
    unsigned idp;                  /* CRL_IDP_* */
    unsigned char aki[32];         /* authorityKeyIdentifier keyIdentifier */
    size_t aki_len;                /* 0: absent */
    char **freshest;               /* Freshest CRL URLs (for delta CRLs) */
    size_t nfreshest;
    mbedtls_md_type_t md;          /* signature */
    mbedtls_pk_type_t pk;
    void *sig_opts;
    unsigned char hash[MBEDTLS_MD_MAX_SIZE]; /* of tbsCertList, computed when parsed */
    size_t hash_len;
    size_t sig_off, sig_len;
    crl_entry *ents;
    size_t nents;

    /* provenance */
    int origin;                    /* CRL_ORIGIN_* */
    char source[600];
    int64_t obtained;
    /* fetched ones: how to fetch the next (background refresh) */
    char **urls;
    size_t nurls;
    unsigned char *spki;           /* the issuer's SubjectPublicKeyInfo */
    size_t spki_len;
    unsigned char issuer_id[32];   /* SHA-256(issuer Name || SPKI) once known */
    bool bound;
    int64_t refresh_tried;         /* last background refresh attempt */

    /* verification memo: issuer ids it verifies with / does not */
    unsigned char good[CRL_MEMO][32], bad[CRL_MEMO][32];
    int ngood, nbad;
} crl;

/* One CRL as a certificate's check used it (certgate explain, crl_check's
 * report). */
typedef struct cg_crl_info {
    bool present;
    char issuer[256];
    char source[600];         /* URL, crl_files path or cache file */
    char this_update[32];
    char next_update[32];     /* "" when the CRL has none */
    char number[72];          /* CRL number in hex, "" when absent */
    char signature[40];       /* "ECDSA with SHA-256" */
    size_t entries;
    bool stale;               /* used past nextUpdate, within stale_grace */
} cg_crl_info;

/* Parses a CRL (DER, PEM "X509 CRL", or several PEM blocks: the first).
 * Sorts its entries and hashes tbsCertList for verification. Returns NULL
 * with a sentence in err ("not a CRL: ...", "unsupported critical
 * extension ..."). */
crl *crl_parse(const unsigned char *buf, size_t len, char *err, size_t err_cap);
crl *crl_ref(crl *c);
void crl_unref(crl *c);
/* The entry for a certificate serial (DER INTEGER content), or NULL. */
const crl_entry *crl_find(const crl *c, const unsigned char *serial, size_t len);
/* 0 when the CRL's signature verifies with pk, else an mbedTLS error. */
int crl_check_signature(const crl *c, const mbedtls_pk_context *pk);
const char *crl_reason_name(int reason);
/* The CRL in libcurl's LDAP output ("DN: ...\n\tattr:: base64\n"): the first
 * value of an attribute named certificateRevocationList,
 * authorityRevocationList or deltaRevocationList (any ;binary option).
 * Returns a malloc'd buffer or NULL with err. */
unsigned char *crl_from_ldap_text(const char *text, size_t len, size_t *out_len, char *err, size_t err_cap);
/* SHA-256(subject Name || SubjectPublicKeyInfo) of an issuer certificate. */
void crl_issuer_id(const mbedtls_x509_crt *issuer, unsigned char out[32]);
void crl_info_fill(const crl *c, cg_crl_info *out);
/* a was issued after b (thisUpdate, then CRL number). */
bool crl_newer(const crl *a, const crl *b);
/* The verification memo: 1 c verifies with the issuer id, -1 it does not,
 * 0 unknown. Once c is shared (in the store), under the store's lock. */
int crl_memo_get(const crl *c, const unsigned char id[32]);
void crl_memo_set(crl *c, const unsigned char id[32], bool good);

#endif
