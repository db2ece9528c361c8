#include "verify.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509.h>

int cg_verify_record(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    cg_verify_trace *t = p;
    if (depth < 0 || depth >= CG_VERIFY_MAX_DEPTH)
        return 0; /* deeper chains are refused by the depth check below */
    t->flags[depth] = *flags;
    t->crt[depth] = crt;
    if (depth + 1 > t->depth_count)
        t->depth_count = depth + 1;
    return 0;
}

void cg_cert_subject(const mbedtls_x509_crt *c, char *out, size_t cap)
{
    if (mbedtls_x509_dn_gets(out, cap, &c->subject) < 0 && cap)
        snprintf(out, cap, "(unprintable subject)");
}

void cg_cert_issuer(const mbedtls_x509_crt *c, char *out, size_t cap)
{
    if (mbedtls_x509_dn_gets(out, cap, &c->issuer) < 0 && cap)
        snprintf(out, cap, "(unprintable issuer)");
}

void cg_cert_serial(const mbedtls_x509_crt *c, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < c->serial.len && o + 3 <= cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02X", c->serial.p[i]);
    out[o] = '\0';
}

void cg_cert_sha256_hex(const mbedtls_x509_crt *c, char out[65])
{
    unsigned char d[32];
    static const char hex[] = "0123456789abcdef";
    mbedtls_sha256_ret(c->raw.p, c->raw.len, d, 0);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}

static void format_time(const mbedtls_x509_time *t, char *out, size_t cap)
{
    snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d UTC", t->year, t->mon, t->day, t->hour, t->min, t->sec);
}

static const char *depth_role(int depth)
{
    return depth == 0 ? "the client certificate" : "an issuing CA certificate";
}

/* "CN=..." (serial 0A, depth 1, an issuing CA certificate) */
static void describe(const mbedtls_x509_crt *c, int depth, char *out, size_t cap)
{
    char subject[256], serial[80];
    cg_cert_subject(c, subject, sizeof subject);
    cg_cert_serial(c, serial, sizeof serial);
    snprintf(out, cap, "\"%s\" (serial %s, depth %d, %s)", subject, serial, depth, depth_role(depth));
}

static void list_ekus(const mbedtls_x509_crt *c, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (const mbedtls_x509_sequence *s = &c->ext_key_usage; s && s->buf.p; s = s->next) {
        const char *desc = NULL;
        char oid[64];
        if (mbedtls_oid_get_extended_key_usage(&s->buf, &desc) != 0) {
            mbedtls_oid_get_numeric_string(oid, sizeof oid, &s->buf);
            desc = oid;
        }
        int k = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", desc);
        if (k < 0 || (size_t)k >= cap - o)
            break;
        o += (size_t)k;
    }
}

/* The problems mbedTLS can flag that make a chain untrusted or invalid. */
static const struct {
    uint32_t flag;
    const char *text;
} invalid_reasons[] = {
    { MBEDTLS_X509_BADCERT_NOT_TRUSTED, "its chain does not lead to a trusted client CA" },
    { MBEDTLS_X509_BADCERT_REVOKED, "it is revoked" },
    { MBEDTLS_X509_BADCERT_BAD_MD, "it is signed with a weak hash (MD5 or SHA-1, refused)" },
    { MBEDTLS_X509_BADCERT_BAD_PK, "its public key algorithm is not acceptable" },
    { MBEDTLS_X509_BADCERT_BAD_KEY, "its key is too weak (RSA under 2048 bits or an unsupported curve)" },
    { MBEDTLS_X509_BADCERT_KEY_USAGE, "its key usage does not allow digital signatures" },
    { MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "its Netscape certificate type does not allow client use" },
    { MBEDTLS_X509_BADCERT_OTHER, "it is invalid" },
};

static const char *first_invalid_reason(uint32_t flags)
{
    for (size_t i = 0; i < sizeof invalid_reasons / sizeof invalid_reasons[0]; i++)
        if (flags & invalid_reasons[i].flag)
            return invalid_reasons[i].text;
    return NULL;
}

/* Flags the EKU policy decides, not mbedTLS. */
#define EKU_FLAGS MBEDTLS_X509_BADCERT_EXT_KEY_USAGE
/* Flags meaningless for a client certificate. */
#define IGNORED_FLAGS (MBEDTLS_X509_BADCERT_CN_MISMATCH | MBEDTLS_X509_BADCERT_MISSING | MBEDTLS_X509_BADCERT_SKIP_VERIFY)

static bool judge_trace(const cg_verify_policy *p, const cg_verify_trace *t, cg_refusal *why)
{
    char who[400];

    /* Untrusted first: the dates of a certificate nobody vouches for mean nothing. */
    for (int d = t->depth_count - 1; d >= 0; d--) {
        uint32_t f = t->flags[d] & ~(EKU_FLAGS | IGNORED_FLAGS);
        const char *reason = first_invalid_reason(f);
        if (!reason || !t->crt[d])
            continue;
        describe(t->crt[d], d, who, sizeof who);
        if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
            const mbedtls_x509_crt *top = t->crt[d];
            bool self_signed = top->subject_raw.len == top->issuer_raw.len &&
                               memcmp(top->subject_raw.p, top->issuer_raw.p, top->issuer_raw.len) == 0;
            if (self_signed) {
                cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                          "The client certificate chain ends at the self-signed root %s, which is not one of the "
                          "trusted client CAs of listener \"%s\" (tls.client_ca). Add that root to "
                          "tls.client_ca, or use a certificate issued by a trusted CA.",
                          who, p->listener);
            } else {
                char issuer[256];
                cg_cert_issuer(top, issuer, sizeof issuer);
                cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                          "The client certificate chain ends at %s, issued by \"%s\", which is neither sent by "
                          "the client nor one of the trusted client CAs of listener \"%s\" (tls.client_ca). "
                          "Add that CA to tls.client_ca, or make the client send its intermediate certificates.",
                          who, issuer, p->listener);
            }
        } else {
            cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED, "The certificate %s is refused: %s.", who, reason);
        }
        return false;
    }
    for (int d = 0; d < t->depth_count; d++) {
        uint32_t f = t->flags[d];
        if (!t->crt[d] || !(f & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)))
            continue;
        char when[40];
        describe(t->crt[d], d, who, sizeof who);
        if (f & MBEDTLS_X509_BADCERT_EXPIRED) {
            format_time(&t->crt[d]->valid_to, when, sizeof when);
            cg_refuse(why, CG_REFUSE_CERT_EXPIRED, "The certificate %s expired on %s.", who, when);
        } else {
            format_time(&t->crt[d]->valid_from, when, sizeof when);
            cg_refuse(why, CG_REFUSE_CERT_NOT_YET_VALID,
                      "The certificate %s is not valid before %s (check the clocks of this server and the CA).",
                      who, when);
        }
        return false;
    }
    return true;
}

/* A resumed session keeps the verification flags of its full handshake but
 * only the leaf certificate (not the chain), so verifying again would say
 * "untrusted" for want of the intermediates. Judge from the flags. */
static bool judge_resumed(const cg_verify_policy *p, const mbedtls_x509_crt *leaf, uint32_t flags, cg_refusal *why)
{
    char who[400], when[40];
    describe(leaf, 0, who, sizeof who);
    const char *reason = first_invalid_reason(flags);
    if (reason) {
        cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED, "The certificate %s is refused: %s (listener \"%s\", resumed session).",
                  who, reason, p->listener);
        return false;
    }
    if (flags & MBEDTLS_X509_BADCERT_EXPIRED) {
        if (mbedtls_x509_time_is_past(&leaf->valid_to)) {
            format_time(&leaf->valid_to, when, sizeof when);
            cg_refuse(why, CG_REFUSE_CERT_EXPIRED, "The certificate %s expired on %s.", who, when);
        } else {
            cg_refuse(why, CG_REFUSE_CERT_EXPIRED, "A CA certificate in the chain of %s has expired.", who);
        }
        return false;
    }
    if (flags & MBEDTLS_X509_BADCERT_FUTURE) {
        if (mbedtls_x509_time_is_future(&leaf->valid_from)) {
            format_time(&leaf->valid_from, when, sizeof when);
            cg_refuse(why, CG_REFUSE_CERT_NOT_YET_VALID,
                      "The certificate %s is not valid before %s (check the clocks of this server and the CA).", who,
                      when);
        } else {
            cg_refuse(why, CG_REFUSE_CERT_NOT_YET_VALID, "A CA certificate in the chain of %s is not valid yet.",
                      who);
        }
        return false;
    }
    return true;
}

bool cg_verify_client(const cg_verify_policy *p, const mbedtls_x509_crt *peer, uint32_t session_flags,
                      const cg_verify_trace *trace, cg_refusal *why)
{
    if (!peer || !peer->raw.p) {
        cg_refuse(why, CG_REFUSE_CERT_MISSING,
                  "No client certificate was sent. This site requires one issued by a CA trusted by "
                  "listener \"%s\"; browsers only offer certificates from the CAs the server lists in "
                  "the TLS handshake.",
                  p->listener);
        return false;
    }

    uint32_t chain_flags = session_flags & ~(EKU_FLAGS | IGNORED_FLAGS | MBEDTLS_X509_BADCERT_KEY_USAGE);
    if (trace && trace->depth_count > 0) {
        if (!judge_trace(p, trace, why))
            return false;
    } else if (chain_flags && !judge_resumed(p, peer, chain_flags, why)) {
        return false;
    }
    if (session_flags & MBEDTLS_X509_BADCERT_KEY_USAGE) {
        char who[400];
        describe(peer, 0, who, sizeof who);
        cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                  "The certificate %s is refused: its key usage does not allow digital signatures.", who);
        return false;
    }
    if (p->require_client_auth_eku &&
        mbedtls_x509_crt_check_extended_key_usage(peer, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0) {
        char who[400], ekus[256];
        describe(peer, 0, who, sizeof who);
        list_ekus(peer, ekus, sizeof ekus);
        cg_refuse(why, CG_REFUSE_CERT_EKU,
                  "The certificate %s is not valid for client authentication: its extended key usage lists "
                  "%s but not Client Authentication (1.3.6.1.5.5.7.3.2). Issue a certificate with that usage, "
                  "or set tls.require_client_auth_eku: false on listener \"%s\".",
                  who, ekus[0] ? ekus : "nothing", p->listener);
        return false;
    }
    return true;
}
