/* The x509 test kit: keys, certificates and CRLs made in memory with
 * mbedTLS, for the verification and revocation tests (tests/unit/revocation/test_crl.c,
 * test_verify.c, test_chain_cache.c, test_chain_limits.c) and
 * the CRL benchmark (bench/crl_bench.c). Not part of certgate: compiled into
 * the test-support library (tests/support/meson.build).
 *
 * Every function aborts on failure: a test kit that fails is a broken test.
 */
#ifndef CG_X509_KIT_H
#define CG_X509_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

/* A random generator for mbedTLS calls (seeded once; f_rng shape). */
int tk_rng(void *unused, unsigned char *out, size_t len);

/* An EC P-256 key, or RSA of rsa_bits when rsa_bits > 0. */
void tk_key(mbedtls_pk_context *pk, int rsa_bits);

/* CRLDistributionPoints / FreshestCRL value for urls (NULL-terminated),
 * one DistributionPoint with every URL as a fullName. Into out (cap bytes);
 * returns the length. */
size_t tk_dp_value(const char *const *urls, unsigned char *out, size_t cap);

/* ---- certificates ---- */

typedef struct tk_cert_opts {
    const char *subject;             /* "CN=leaf,O=Test" */
    const char *issuer;              /* NULL: self-signed */
    mbedtls_pk_context *key;         /* the subject's key */
    mbedtls_pk_context *issuer_key;  /* NULL: self-signed */
    const char *serial;              /* decimal; default "1" */
    int64_t not_before, not_after;   /* default: now - 1 day .. now + 365 days */
    int ca;                          /* -1: no basicConstraints; 0 CA:FALSE; 1 CA:TRUE */
    int pathlen;                     /* -1: none (with ca 1) */
    unsigned key_usage;              /* MBEDTLS_X509_KU_*; 0: no extension */
    const char *eku;                 /* NULL: none; "client", "server", "email" */
    const char *cdp[4];              /* CRL Distribution Point URLs */
    const char *freshest[4];         /* Freshest CRL URLs */
    const unsigned char *cdp_raw;    /* instead of cdp: this CRL Distribution Points value as is */
    size_t cdp_raw_len;
    mbedtls_md_type_t md;            /* default SHA-256 */
    const char *san_dns[4];          /* subjectAltName dNSNames (server certificates) */
} tk_cert_opts;

/* A parsed certificate (free with tk_cert_free). */
mbedtls_x509_crt *tk_cert(const tk_cert_opts *o);
void tk_cert_free(mbedtls_x509_crt *c);

/* ---- CRLs ---- */

typedef struct tk_crl_entry {
    uint64_t serial;     /* used when serial_bytes is NULL */
    const unsigned char *serial_bytes;
    size_t serial_len;
    int64_t when;        /* default: now - 1 hour */
    int reason;          /* CRLReason, or -1: no reasonCode */
} tk_crl_entry;

typedef struct tk_crl_opts {
    const char *issuer;             /* Name */
    mbedtls_pk_context *key;        /* signs it */
    mbedtls_md_type_t md;           /* default SHA-256 */
    int64_t this_update;            /* default now - 1 hour */
    int64_t next_update;            /* default now + 1 day; -1: none */
    uint64_t number;                /* cRLNumber when > 0 */
    bool delta;                     /* deltaCRLIndicator = base_number */
    uint64_t base_number;
    unsigned idp;                   /* 1 onlyUser, 2 onlyCA, 4 someReasons, 8 indirect */
    const char *freshest[4];        /* FreshestCRL URLs */
    const unsigned char *freshest_raw; /* instead: this FreshestCRL value as is */
    size_t freshest_raw_len;
    bool unknown_critical;          /* an unsupported critical extension */
    int pss;                        /* RSASSA-PSS (RSA key): 1 its parameters for md, 2 with another MGF1 hash */
    const tk_crl_entry *entries;    /* or generated: */
    size_t nentries;
    uint64_t gen_count;             /* entries with serials gen_first, gen_first + gen_step, ... */
    uint64_t gen_first, gen_step;
} tk_crl_opts;

/* A DER CRL (malloc'd; *len set). */
unsigned char *tk_crl(const tk_crl_opts *o, size_t *out_len);

#endif
