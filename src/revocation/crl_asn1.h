/* The DER readers of the CRL parser (crl_parse.h) and of the distribution points of certificates:
 * Time, Name well-formedness, signature AlgorithmIdentifiers (RSASSA-PSS parameters included), the
 * Extensions walk, and DistributionPoint lists (CRL Distribution Points, Freshest CRL). Pure: no
 * I/O, no lock, no allocation but the URLs a list collects and RSASSA-PSS options.
 *
 * mbedTLS 3.6 keeps its X.509 readers of names, times and signatures private: the few lines of
 * each are here, on mbedTLS's ASN.1 primitives.
 */
#ifndef CG_CRL_ASN1_H
#define CG_CRL_ASN1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

/* An OID's content bytes (a string literal) equal buf[0..len). */
#define CRL_OID_EQ(lit, buf, len) ((len) == sizeof(lit) - 1 && memcmp((buf), (lit), (len)) == 0)
#define CRL_OID_CDP "\x55\x1d\x1f"
#define CRL_OID_FRESHEST "\x55\x1d\x2e"

/* A UTCTime or GeneralizedTime tag. */
bool crl_asn1_is_time_tag(unsigned char t);
/* A Time (RFC 5280 4.1.2.5) at *p as Unix seconds; *p moves past it. 0 or an MBEDTLS_ERR_ASN1_*. */
int crl_asn1_time(unsigned char **p, const unsigned char *end, int64_t *out);
/* The content of a Name is well formed (what mbedTLS's own reader would accept). */
bool crl_asn1_name_ok(unsigned char *p, const unsigned char *end);
/* A signature AlgorithmIdentifier (its OID and parameters) as hash, key type and, for RSASSA-PSS,
 * options allocated with mbedtls_calloc into *opts (NULL otherwise). 0 or an MBEDTLS_ERR_ASN1_*. */
int crl_asn1_sig_alg(const mbedtls_asn1_buf *oid, const mbedtls_asn1_buf *params, mbedtls_md_type_t *md,
                     mbedtls_pk_type_t *pk, void **opts);
/* Skips the leading zero bytes of a DER INTEGER's content (they carry no information). */
void crl_asn1_strip_zeros(const unsigned char **p, size_t *n);

/* One extension; a non-zero return stops the walk and is its result. */
typedef int (*crl_asn1_ext_fn)(void *ctx, const unsigned char *oid, size_t oid_len, bool critical, unsigned char *val,
                               size_t val_len);
/* Extensions ::= SEQUENCE OF Extension, at p (the SEQUENCE tag): fn for each. */
int crl_asn1_extensions(unsigned char *p, const unsigned char *end, crl_asn1_ext_fn fn, void *ctx);

/* URLs collected into the caller's array v (cap entries; each malloc'd). */
typedef struct crl_url_list {
    char **v;
    size_t n, cap;
    bool indirect; /* a distribution point named a cRLIssuer (skipped) */
} crl_url_list;
/* CRLDistributionPoints / FreshestCRL ::= SEQUENCE OF DistributionPoint, at p: the URIs of the
 * fullNames into u. A malformed distribution point is an error (its URLs freed; those of the
 * points before it stay in u). */
int crl_asn1_dps(unsigned char *p, const unsigned char *end, crl_url_list *u);

/* The URIs of a certificate's CRL Distribution Points (freshest false) or of
 * its Freshest CRL extension (true), in order. Returns how many were written
 * to out (at most cap, each malloc'd: the caller frees them). */
size_t cg_crl_cert_urls(const mbedtls_x509_crt *c, bool freshest, char **out, size_t cap);

#endif
