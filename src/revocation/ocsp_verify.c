/* Trust in an OCSP response (ocsp_verify.h).
 *
 * The signer is found by the responderID (a Name or the SHA-1 of a public key): the issuer
 * itself, or one of the response's own certificates, which then must be issued by the issuer
 * (same Name and a signature that verifies with the issuer's key: a responder certificate from
 * another CA under the same name is refused), carry id-kp-OCSPSigning in an extendedKeyUsage
 * (mbedtls_x509_crt_check_extended_key_usage() would accept a certificate without the
 * extension), and be within its validity. Only mbedTLS API common to 2.28 and 3.6.
 */
#include "ocsp_verify.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>

#include "x509/x509.h"

#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define OID_EQ(lit, buf, len) ((len) == sizeof(lit) - 1 && memcmp((buf), (lit), (len)) == 0)
#define OID_KP_OCSP_SIGNING "\x2b\x06\x01\x05\x05\x07\x03\x09" /* 1.3.6.1.5.5.7.3.9 */
#define OID_OCSP_NOCHECK "\x2b\x06\x01\x05\x05\x07\x30\x01\x05" /* 1.3.6.1.5.5.7.48.1.5 */

const char *cg_ocsp_fault_name(cg_ocsp_fault f)
{
    switch (f) {
    case CG_OCSP_TRUSTED: return "trusted";
    case CG_OCSP_NO_SIGNER: return "unknown signer";
    case CG_OCSP_SIGNER_NOT_AUTHORIZED: return "signer not authorized";
    case CG_OCSP_BAD_SIGNATURE: return "bad signature";
    case CG_OCSP_WEAK_SIGNATURE: return "SHA-1 signature";
    case CG_OCSP_NOT_YET_VALID: return "not yet valid";
    case CG_OCSP_EXPIRED: return "expired";
    case CG_OCSP_NONCE_MISMATCH: return "nonce mismatch";
    }
    return "?";
}

static int64_t x509_epoch(const mbedtls_x509_time *t)
{
    struct tm tm = { .tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                     .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec };
    return (int64_t)timegm(&tm);
}

static bool same_bytes(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    return alen == blen && alen > 0 && memcmp(a, b, alen) == 0;
}

/* The responderID names c: its subject (byName) or the SHA-1 of its public key (byKey). */
static bool is_responder(const cg_ocsp_response *r, const mbedtls_x509_crt *c)
{
    if (r->responder_name.p)
        return same_bytes(r->responder_name.p, r->responder_name.len, c->subject_raw.p, c->subject_raw.len);
    cg_ocsp_span key;
    unsigned char h[20];
    const mbedtls_md_info_t *sha1 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    return r->responder_key.p && cg_ocsp_spki_key(c->pk_raw.p, c->pk_raw.len, &key) && sha1 &&
           mbedtls_md(sha1, key.p, key.len, h) == 0 && same_bytes(r->responder_key.p, r->responder_key.len, h, 20);
}

/* 0 when sig over data verifies with pk under (md, type); an mbedTLS error otherwise. */
static int check_signature(const mbedtls_pk_context *pk, mbedtls_md_type_t md, mbedtls_pk_type_t type,
                           const unsigned char *data, size_t len, const unsigned char *sig, size_t sig_len)
{
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    if (!info || !mbedtls_pk_can_do(pk, type))
        return MBEDTLS_ERR_PK_TYPE_MISMATCH;
    int ret = mbedtls_md(info, data, len, hash);
    if (ret)
        return ret;
    return mbedtls_pk_verify((mbedtls_pk_context *)pk, md, hash, mbedtls_md_get_size(info), sig, sig_len);
}

/* The certificate c's own signature verifies with issuer's key. Read from c->raw: the signature
 * fields of mbedtls_x509_crt are private in mbedTLS 3.6. */
static bool cert_signed_by(const mbedtls_x509_crt *c, const mbedtls_x509_crt *issuer)
{
    unsigned char *p = c->raw.p, *end = p + c->raw.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 || mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        return false;
    p += len; /* tbsCertificate: c->tbs */
    unsigned char *alg = p;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        return false;
    p += len;
    mbedtls_md_type_t md;
    mbedtls_pk_type_t type;
    mbedtls_asn1_bitstring sig;
    if (!cg_ocsp_sig_alg(alg, (size_t)(p - alg), &md, &type) || mbedtls_asn1_get_bitstring(&p, end, &sig) != 0 ||
        sig.unused_bits != 0)
        return false;
    return check_signature(&issuer->pk, md, type, c->tbs.p, c->tbs.len, sig.p, sig.len) == 0;
}

static bool has_ocsp_signing(const mbedtls_x509_crt *c)
{
    for (const mbedtls_x509_sequence *s = &c->ext_key_usage; s && s->buf.p; s = s->next)
        if (OID_EQ(OID_KP_OCSP_SIGNING, s->buf.p, s->buf.len))
            return true;
    return false;
}

/* c has the id-pkix-ocsp-nocheck extension (reported, not required: RFC 6960 4.2.2.2.1). */
static bool has_nocheck(const mbedtls_x509_crt *c)
{
    unsigned char *p = c->v3_ext.p, *end = p + c->v3_ext.len;
    size_t len, oid_len;
    if (!p || mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        return false;
    end = p + len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
            return false;
        unsigned char *ext_end = p + len;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID) == 0 &&
            OID_EQ(OID_OCSP_NOCHECK, p, oid_len))
            return true;
        p = ext_end;
    }
    return false;
}

#define REFUSE(fault, ...)                                                                                            \
    do {                                                                                                              \
        snprintf(why, why_cap, __VA_ARGS__);                                                                          \
        return (fault);                                                                                               \
    } while (0)

/* A delegated responder's certificate, checked against the issuer; CG_OCSP_TRUSTED or why not. */
static cg_ocsp_fault check_delegate(const mbedtls_x509_crt *c, const mbedtls_x509_crt *issuer,
                                    const cg_ocsp_verify_opts *o, const char *name, char *why, size_t why_cap)
{
    if (!same_bytes(c->issuer_raw.p, c->issuer_raw.len, issuer->subject_raw.p, issuer->subject_raw.len))
        REFUSE(CG_OCSP_SIGNER_NOT_AUTHORIZED,
               "the OCSP response is signed by \"%s\", whose certificate is not issued by the certificate's issuer",
               name);
    if (!cert_signed_by(c, issuer))
        REFUSE(CG_OCSP_SIGNER_NOT_AUTHORIZED,
               "the OCSP response is signed by \"%s\", whose certificate does not verify with the issuer's key "
               "(a responder of another CA under the same name)",
               name);
    if (!has_ocsp_signing(c))
        REFUSE(CG_OCSP_SIGNER_NOT_AUTHORIZED,
               "the OCSP response is signed by \"%s\", whose certificate lacks id-kp-OCSPSigning "
               "(extendedKeyUsage OCSPSigning)",
               name);
    if (x509_epoch(&c->valid_from) > o->now + o->skew_s || x509_epoch(&c->valid_to) < o->now - o->skew_s)
        REFUSE(CG_OCSP_SIGNER_NOT_AUTHORIZED,
               "the OCSP response is signed by \"%s\", whose certificate is outside its validity period", name);
    return CG_OCSP_TRUSTED;
}

cg_ocsp_fault cg_ocsp_verify(const cg_ocsp_response *r, const mbedtls_x509_crt *issuer, const cg_ocsp_verify_opts *o,
                             cg_ocsp_signer *signer, char *why, size_t why_cap)
{
    memset(signer, 0, sizeof *signer);
    why[0] = '\0';
    if (r->sig_md == MBEDTLS_MD_SHA1 && !o->allow_sha1)
        REFUSE(CG_OCSP_WEAK_SIGNATURE, "the OCSP response is signed with SHA-1, which this listener does not accept");

    const mbedtls_pk_context *key = NULL;
    mbedtls_x509_crt delegate;
    mbedtls_x509_crt_init(&delegate);
    cg_ocsp_fault fault = CG_OCSP_NO_SIGNER;
    if (is_responder(r, issuer)) {
        key = &issuer->pk;
        cg_dn_text_into(issuer->subject_raw.p, issuer->subject_raw.len, signer->subject, sizeof signer->subject);
    } else {
        for (size_t i = 0; i < r->ncerts && !key; i++) {
            mbedtls_x509_crt_free(&delegate);
            mbedtls_x509_crt_init(&delegate);
            if (mbedtls_x509_crt_parse_der(&delegate, r->certs[i].p, r->certs[i].len) != 0 ||
                !is_responder(r, &delegate))
                continue;
            cg_dn_text_into(delegate.subject_raw.p, delegate.subject_raw.len, signer->subject,
                            sizeof signer->subject);
            fault = check_delegate(&delegate, issuer, o, signer->subject, why, why_cap);
            if (fault != CG_OCSP_TRUSTED)
                goto out;
            key = &delegate.pk;
            signer->delegated = true;
            signer->nocheck = has_nocheck(&delegate);
        }
    }
    if (!key) {
        fault = CG_OCSP_NO_SIGNER;
        snprintf(why, why_cap,
                 "the OCSP response is signed by neither the certificate's issuer nor a responder certificate it "
                 "carries (%zu certificate%s)",
                 r->ncerts, r->ncerts == 1 ? "" : "s");
        goto out;
    }
    if (check_signature(key, r->sig_md, r->sig_pk, r->tbs.p, r->tbs.len, r->sig.p, r->sig.len) != 0) {
        fault = CG_OCSP_BAD_SIGNATURE;
        snprintf(why, why_cap, "the OCSP response's signature does not verify with the key of \"%s\"",
                 signer->subject);
        goto out;
    }
    fault = CG_OCSP_TRUSTED;
    if (r->this_update > o->now + o->skew_s) {
        fault = CG_OCSP_NOT_YET_VALID;
        snprintf(why, why_cap, "the OCSP response's thisUpdate is %lld s in the future (clock skew?)",
                 (long long)(r->this_update - o->now));
    } else if (r->next_update && o->now > r->next_update + o->skew_s) {
        fault = CG_OCSP_EXPIRED;
        snprintf(why, why_cap, "the OCSP response expired %lld s ago (nextUpdate)",
                 (long long)(o->now - r->next_update));
    } else if (!r->next_update && o->now - r->this_update > o->max_age_s) {
        fault = CG_OCSP_EXPIRED;
        snprintf(why, why_cap, "the OCSP response has no nextUpdate and is %lld s old (at most %lld)",
                 (long long)(o->now - r->this_update), (long long)o->max_age_s);
    } else if (o->nonce_len && r->nonce.p &&
               !same_bytes(r->nonce.p, r->nonce.len, o->nonce, o->nonce_len)) {
        fault = CG_OCSP_NONCE_MISMATCH;
        snprintf(why, why_cap, "the OCSP response carries another nonce than the request (a replayed answer)");
    } else if (o->nonce_len && !r->nonce.p && o->nonce_required) {
        fault = CG_OCSP_NONCE_MISMATCH;
        snprintf(why, why_cap, "the OCSP response carries no nonce, and this listener requires one");
    }
out:
    mbedtls_x509_crt_free(&delegate);
    if (fault != CG_OCSP_TRUSTED)
        signer->delegated = signer->nocheck = false;
    return fault;
}
#undef REFUSE
