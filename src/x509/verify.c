#include "verify.h"

#include "dn.h"

#include "base/base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>

/* ---- certificate profile ---- */

#define ID(md) MBEDTLS_X509_ID_FLAG(md)
#define SHA2_FLAGS (ID(MBEDTLS_MD_SHA224) | ID(MBEDTLS_MD_SHA256) | ID(MBEDTLS_MD_SHA384) | ID(MBEDTLS_MD_SHA512))

static const mbedtls_x509_crt_profile profile_strict = {
    .allowed_mds = SHA2_FLAGS,
    .allowed_pks = 0xFFFFFFF,
    .allowed_curves = 0xFFFFFFF,
    .rsa_min_bitlen = 2048,
};

static const mbedtls_x509_crt_profile profile_weak = {
    .allowed_mds = SHA2_FLAGS | ID(MBEDTLS_MD_MD5) | ID(MBEDTLS_MD_SHA1),
    .allowed_pks = 0xFFFFFFF,
    .allowed_curves = 0xFFFFFFF,
    .rsa_min_bitlen = 2048,
};

const mbedtls_x509_crt_profile *cg_verify_profile(bool allow_weak_signatures)
{
    return allow_weak_signatures ? &profile_weak : &profile_strict;
}

/* ---- small helpers ---- */

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
    cg_dn_text_into(c->subject_raw.p, c->subject_raw.len, out, cap);
}

void cg_cert_issuer(const mbedtls_x509_crt *c, char *out, size_t cap)
{
    cg_dn_text_into(c->issuer_raw.p, c->issuer_raw.len, out, cap);
}

void cg_cert_serial(const mbedtls_x509_crt *c, char *out, size_t cap)
{
    cg_hex_encode(c->serial.p, c->serial.len, out, cap, true);
}

/* The SHA-256 of a certificate's DER. One client's leaf is asked for up to
 * three times per handshake (its fingerprint, the pool's key when the chain
 * is remembered, and again when a resumed session's chain is looked up, by
 * the verdict and by the revocation check): the last certificate hashed on
 * this thread is remembered, matched by its whole DER (never by address). */
#define DIGEST_MEMO_MAX 4096
static _Thread_local struct {
    size_t len;
    unsigned char digest[32];
    unsigned char der[DIGEST_MEMO_MAX];
} digest_memo;

static void cert_digest(const mbedtls_x509_crt *c, unsigned char out[32])
{
    size_t n = c->raw.len;
    if (n > 0 && n == digest_memo.len && memcmp(c->raw.p, digest_memo.der, n) == 0) {
        memcpy(out, digest_memo.digest, 32);
        return;
    }
    cg_sha256(c->raw.p, n, out);
    if (n > 0 && n <= DIGEST_MEMO_MAX) {
        memcpy(digest_memo.der, c->raw.p, n);
        memcpy(digest_memo.digest, out, 32);
        digest_memo.len = n;
    }
}

void cg_cert_sha256_hex(const mbedtls_x509_crt *c, char out[65])
{
    unsigned char d[32];
    cert_digest(c, d);
    cg_hex_encode(d, sizeof d, out, 65, false);
}

void cg_x509_time_format(const mbedtls_x509_time *t, char *out, size_t cap)
{
    snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d UTC", t->year, t->mon, t->day, t->hour, t->min, t->sec);
}

static const char *depth_role(int depth)
{
    return depth == 0 ? "the client certificate" : "an issuing CA certificate";
}

void cg_cert_describe(const mbedtls_x509_crt *c, int depth, char *out, size_t cap)
{
    char subject[256], serial[80];
    cg_cert_subject(c, subject, sizeof subject);
    cg_cert_serial(c, serial, sizeof serial);
    if (depth >= 0)
        snprintf(out, cap, "\"%s\" (serial %s, depth %d, %s)", subject, serial, depth, depth_role(depth));
    else
        snprintf(out, cap, "\"%s\" (serial %s)", subject, serial);
}

bool cg_cert_names_issuer(const mbedtls_x509_crt *child, const mbedtls_x509_crt *parent)
{
    return child->issuer_raw.len == parent->subject_raw.len &&
           memcmp(child->issuer_raw.p, parent->subject_raw.p, child->issuer_raw.len) == 0;
}

static bool self_issued(const mbedtls_x509_crt *c) { return cg_cert_names_issuer(c, c); }

static bool same_cert(const mbedtls_x509_crt *a, const mbedtls_x509_crt *b)
{
    return a == b || (a->raw.len == b->raw.len && memcmp(a->raw.p, b->raw.p, a->raw.len) == 0);
}

bool cg_cert_is_ca(const mbedtls_x509_crt *c) { return mbedtls_x509_crt_get_ca_istrue(c) == 1; }

/* Private in mbedTLS 3.6 with no accessor (see verify.h). */
int cg_cert_max_pathlen(const mbedtls_x509_crt *c) { return c->MBEDTLS_PRIVATE(max_pathlen); }

mbedtls_md_type_t cg_cert_sig_md(const mbedtls_x509_crt *c) { return c->MBEDTLS_PRIVATE(sig_md); }

int cg_cert_check_signature(const mbedtls_x509_crt *child, const mbedtls_x509_crt *parent)
{
    /* The signature's algorithm, parameters and value: private fields of
     * mbedTLS 3.6 with no accessor (mbedtls_x509_crt_verify() is the public
     * way, but it verifies a whole chain, not one given parent). */
    mbedtls_md_type_t md_type = child->MBEDTLS_PRIVATE(sig_md);
    mbedtls_pk_type_t pk_type = child->MBEDTLS_PRIVATE(sig_pk);
    const mbedtls_x509_buf *sig = &child->MBEDTLS_PRIVATE(sig);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(md_type);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    if (!md)
        return MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG;
    if (!mbedtls_pk_can_do(&parent->pk, pk_type))
        return MBEDTLS_ERR_PK_TYPE_MISMATCH;
    int err = mbedtls_md(md, child->tbs.p, child->tbs.len, hash);
    if (err)
        return err;
    return mbedtls_pk_verify_ext(pk_type, child->MBEDTLS_PRIVATE(sig_opts), (mbedtls_pk_context *)&parent->pk,
                                 md_type, hash, mbedtls_md_get_size(md), sig->p, sig->len);
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

const char *cg_md_name(mbedtls_md_type_t md)
{
    switch (md) {
    case MBEDTLS_MD_MD5: return "MD5";
    case MBEDTLS_MD_SHA1: return "SHA-1";
    case MBEDTLS_MD_SHA224: return "SHA-224";
    case MBEDTLS_MD_SHA256: return "SHA-256";
    case MBEDTLS_MD_SHA384: return "SHA-384";
    case MBEDTLS_MD_SHA512: return "SHA-512";
    default: return NULL;
    }
}

static const char *md_name(mbedtls_md_type_t md)
{
    const char *n = cg_md_name(md);
    return n ? n : "an unsupported hash";
}

static bool is_anchor(const cg_verify_policy *p, const mbedtls_x509_crt *c)
{
    for (const mbedtls_x509_crt *a = p->anchors; a && a->raw.p; a = a->next)
        if (same_cert(a, c))
            return true;
    return false;
}

static unsigned max_depth(const cg_verify_policy *p)
{
    unsigned d = p->max_chain_depth ? p->max_chain_depth : CG_VERIFY_DEFAULT_DEPTH;
    return d > CG_VERIFY_MAX_DEPTH ? CG_VERIFY_MAX_DEPTH : d;
}

/* ---- the pool: CA certificates and chains of full handshakes ---- */

#define POOL_MAX_CAS 1024  /* distinct CA certificates remembered per listener */
#define POOL_SLOTS 4096     /* leaf -> chain entries (power of two) */

typedef struct chain_slot {
    cg_digest_slot d;       /* key: SHA-256 of the leaf's DER */
    int n;                  /* certificates, leaf included */
    const mbedtls_x509_crt *crt[CG_VERIFY_MAX_DEPTH]; /* [0] unused (the caller has the leaf) */
} chain_slot;

struct cg_verify_pool {
    pthread_mutex_t mu;
    mbedtls_x509_crt **cas; /* POOL_MAX_CAS slots, append only */
    size_t ncas;
    chain_slot *slots;      /* POOL_SLOTS, allocated on first use */
    size_t nchains;
    uint64_t clock;
};

cg_verify_pool *cg_verify_pool_new(void)
{
    cg_verify_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->cas = calloc(POOL_MAX_CAS, sizeof *pool->cas);
    if (!pool->cas) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->mu, NULL);
    return pool;
}

void cg_verify_pool_free(cg_verify_pool *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; i < pool->ncas; i++) {
        mbedtls_x509_crt_free(pool->cas[i]);
        free(pool->cas[i]);
    }
    free(pool->cas);
    free(pool->slots);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

void cg_verify_pool_stats(cg_verify_pool *pool, size_t *cas, size_t *chains)
{
    pthread_mutex_lock(&pool->mu);
    *cas = pool->ncas;
    *chains = pool->nchains;
    pthread_mutex_unlock(&pool->mu);
}

static const mbedtls_x509_crt *pool_find(const cg_verify_pool *pool, const mbedtls_x509_crt *c)
{
    for (size_t i = 0; i < pool->ncas; i++)
        if (same_cert(pool->cas[i], c))
            return pool->cas[i];
    return NULL;
}

/* A stable copy of c in the pool, or NULL when the pool is full. Called
 * with the lock held; a new copy is parsed with it released, so other
 * workers' lookups do not wait. */
static const mbedtls_x509_crt *pool_intern(cg_verify_pool *pool, const mbedtls_x509_crt *c)
{
    const mbedtls_x509_crt *found = pool_find(pool, c);
    if (found || pool->ncas >= POOL_MAX_CAS)
        return found;
    pthread_mutex_unlock(&pool->mu);
    mbedtls_x509_crt *copy = malloc(sizeof *copy);
    if (copy) {
        mbedtls_x509_crt_init(copy);
        if (mbedtls_x509_crt_parse_der(copy, c->raw.p, c->raw.len) != 0) {
            mbedtls_x509_crt_free(copy);
            free(copy);
            copy = NULL;
        }
    }
    pthread_mutex_lock(&pool->mu);
    if (!copy)
        return NULL;
    found = pool_find(pool, c); /* another worker may have added it meanwhile */
    if (found || pool->ncas >= POOL_MAX_CAS) {
        mbedtls_x509_crt_free(copy);
        free(copy);
        return found;
    }
    pool->cas[pool->ncas++] = copy;
    return copy;
}

static chain_slot *pool_slot(cg_verify_pool *pool, const unsigned char key[32], bool create)
{
    if (!pool->slots) {
        if (!create)
            return NULL;
        pool->slots = calloc(POOL_SLOTS, sizeof *pool->slots);
        if (!pool->slots)
            return NULL;
    }
    bool was_empty = false;
    chain_slot *s = (chain_slot *)cg_digest_find(pool->slots, sizeof *pool->slots, POOL_SLOTS, key, create, &was_empty);
    if (s && was_empty)
        pool->nchains++;
    return s;
}

/* Remembers an anchored chain (chain[0] the leaf, chain[n-1] an anchor). */
static void pool_remember(const cg_verify_policy *p, const mbedtls_x509_crt *const *chain, int n)
{
    cg_verify_pool *pool = p->pool;
    if (!pool || n < 2 || n > CG_VERIFY_MAX_DEPTH)
        return;
    unsigned char key[32];
    cert_digest(chain[0], key);
    pthread_mutex_lock(&pool->mu);
    const mbedtls_x509_crt *kept[CG_VERIFY_MAX_DEPTH] = { 0 };
    bool ok = true;
    for (int i = 1; i < n && ok; i++) {
        kept[i] = i == n - 1 ? chain[i] : pool_intern(pool, chain[i]);
        ok = kept[i] != NULL;
    }
    chain_slot *s = ok ? pool_slot(pool, key, true) : NULL;
    if (s) {
        s->d.stamp = ++pool->clock;
        s->n = n;
        memcpy(s->crt, kept, sizeof kept);
    }
    pthread_mutex_unlock(&pool->mu);
}

static int pool_lookup(cg_verify_pool *pool, const mbedtls_x509_crt *leaf, const mbedtls_x509_crt **out, int cap)
{
    unsigned char key[32];
    int n = 0;
    cert_digest(leaf, key);
    pthread_mutex_lock(&pool->mu);
    chain_slot *s = pool_slot(pool, key, false);
    if (s && s->n <= cap) {
        s->d.stamp = ++pool->clock;
        n = s->n;
        out[0] = leaf;
        for (int i = 1; i < n; i++)
            out[i] = s->crt[i];
    }
    pthread_mutex_unlock(&pool->mu);
    return n;
}

static bool in_chain(const mbedtls_x509_crt *const *chain, int n, const mbedtls_x509_crt *c)
{
    for (int i = 0; i < n; i++)
        if (same_cert(chain[i], c))
            return true;
    return false;
}

/* Rebuilds leaf's chain from its own list, the anchors and the pool. */
static int rebuild_chain(const cg_verify_policy *p, const mbedtls_x509_crt *leaf, const mbedtls_x509_crt **out,
                         int cap, char *why, size_t why_cap)
{
    int n = 0;
    out[n++] = leaf;
    if (is_anchor(p, leaf))
        return 1;
    const mbedtls_x509_crt *cur = leaf;
    size_t npool = 0;
    mbedtls_x509_crt *const *pool_cas = NULL;
    if (p->pool) {
        pthread_mutex_lock(&p->pool->mu);
        npool = p->pool->ncas; /* entries below npool never change */
        pool_cas = p->pool->cas;
        pthread_mutex_unlock(&p->pool->mu);
    }
    while (n < cap) {
        const mbedtls_x509_crt *next = NULL;
        for (const mbedtls_x509_crt *a = p->anchors; a && a->raw.p && !next; a = a->next)
            if (cg_cert_names_issuer(cur, a) && cg_cert_check_signature(cur, a) == 0)
                next = a;
        if (next) {
            out[n++] = next;
            return n;
        }
        for (const mbedtls_x509_crt *c = leaf->next; c && c->raw.p && !next; c = c->next)
            if (cg_cert_is_ca(c) && cg_cert_names_issuer(cur, c) && !in_chain(out, n, c) &&
                cg_cert_check_signature(cur, c) == 0)
                next = c;
        for (size_t i = 0; i < npool && !next; i++)
            if (cg_cert_names_issuer(cur, pool_cas[i]) && !in_chain(out, n, pool_cas[i]) &&
                cg_cert_check_signature(cur, pool_cas[i]) == 0)
                next = pool_cas[i];
        if (!next)
            break;
        out[n++] = next;
        cur = next;
    }
    if (why && why_cap) {
        char who[400], issuer[256];
        cg_cert_describe(cur, n - 1, who, sizeof who);
        cg_cert_issuer(cur, issuer, sizeof issuer);
        if (n >= cap)
            snprintf(why, why_cap, "the chain of the certificate is longer than %d certificates", cap);
        else
            snprintf(why, why_cap,
                     "the issuer \"%s\" of %s is neither a trusted client CA nor a CA certificate seen in a "
                     "verified full handshake on listener \"%s\"",
                     issuer, who, p->listener ? p->listener : "?");
    }
    return 0;
}

int cg_verify_chain(const cg_verify_policy *p, const mbedtls_x509_crt *leaf, const cg_verify_trace *trace,
                    const mbedtls_x509_crt **out, int cap, char *why, size_t why_cap)
{
    if (why && why_cap)
        why[0] = '\0';
    if (!leaf || !leaf->raw.p || cap < 1) {
        if (why && why_cap)
            snprintf(why, why_cap, "no client certificate");
        return 0;
    }
    if (trace && trace->depth_count > 0 && trace->crt[0]) {
        int n = trace->depth_count < cap ? trace->depth_count : cap;
        for (int i = 0; i < n; i++)
            out[i] = trace->crt[i];
        return n;
    }
    if (p->pool) {
        int n = pool_lookup(p->pool, leaf, out, cap);
        if (n > 0)
            return n;
    }
    int n = rebuild_chain(p, leaf, out, cap, why, why_cap);
    if (n > 1)
        pool_remember(p, out, n);
    return n;
}

/* ---- verdicts ---- */

/* The problems mbedTLS can flag that make a chain untrusted or invalid. */
static const struct {
    uint32_t flag;
    const char *text;
} invalid_reasons[] = {
    { MBEDTLS_X509_BADCERT_NOT_TRUSTED, "its chain does not lead to a trusted client CA" },
    { MBEDTLS_X509_BADCERT_REVOKED, "it is revoked" },
    { MBEDTLS_X509_BADCERT_BAD_MD, "it is signed with a weak hash (MD5 or SHA-1), refused unless "
                                   "tls.allow_weak_signatures is true" },
    { MBEDTLS_X509_BADCERT_BAD_PK, "it is signed with a public key algorithm that is not acceptable" },
    { MBEDTLS_X509_BADCERT_BAD_KEY, "it is signed with a key that is too weak (RSA under 2048 bits or an "
                                    "unsupported curve)" },
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

/* Why no acceptable issuer was found for the certificate at depth d of the
 * trace (mbedTLS only says "not trusted"): the first candidate with the
 * right name that fails, and how. Returns false when there is no candidate
 * at all (the issuer is unknown). */
static bool diagnose_issuer(const cg_verify_policy *p, const mbedtls_x509_crt *peer, const cg_verify_trace *t, int d,
                            cg_refusal *why)
{
    const mbedtls_x509_crt *child = t->crt[d];
    char who[400], cand[400];
    cg_cert_describe(child, d, who, sizeof who);

    /* A parent in the trace: mbedTLS took it, so only its signature failed. */
    if (d + 1 < t->depth_count && t->crt[d + 1]) {
        const mbedtls_x509_crt *parent = t->crt[d + 1];
        if (cg_cert_check_signature(child, parent) != 0) {
            cg_cert_describe(parent, d + 1, cand, sizeof cand);
            cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                      "The certificate %s is refused: its signature does not verify with the public key of its "
                      "issuer %s (altered, or signed by another key with the same name).",
                      who, cand);
            return true;
        }
    }

    /* Non-self-issued intermediates between a parent of child and the leaf. */
    int below = 0;
    for (int i = 1; i <= d; i++)
        if (t->crt[i] && !self_issued(t->crt[i]))
            below++;

    const mbedtls_x509_crt *lists[2] = { p->anchors, peer };
    for (int li = 0; li < 2; li++) {
        for (const mbedtls_x509_crt *c = lists[li]; c && c->raw.p; c = c->next) {
            if (same_cert(c, child) || !cg_cert_names_issuer(child, c))
                continue;
            bool anchor = li == 0;
            cg_cert_describe(c, -1, cand, sizeof cand);
            const char *role = anchor ? "trusted client CA" : "issuer certificate sent by the client";
            if (!cg_cert_is_ca(c) && !(anchor && c->version < 3)) {
                cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                          "The certificate %s is refused: its %s %s is not a CA certificate (basicConstraints "
                          "CA:TRUE missing), so it may not issue certificates.",
                          who, role, cand);
                return true;
            }
            if (mbedtls_x509_crt_check_key_usage(c, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0) {
                cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                          "The certificate %s is refused: the key usage of its %s %s does not include keyCertSign, "
                          "so it may not sign certificates.",
                          who, role, cand);
                return true;
            }
            int max_pathlen = cg_cert_max_pathlen(c);
            if (max_pathlen > 0 && max_pathlen - 1 < below) {
                cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                          "The certificate %s is refused: its %s %s allows at most %d CA certificate(s) below it "
                          "(basicConstraints pathLenConstraint %d), and this chain has %d.",
                          who, role, cand, max_pathlen - 1, max_pathlen - 1, below);
                return true;
            }
            if (cg_cert_check_signature(child, c) != 0) {
                cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                          "The certificate %s is refused: its signature does not verify with the public key of "
                          "its %s %s (altered, or signed by another key with the same name).",
                          who, role, cand);
                return true;
            }
        }
    }
    return false;
}

static bool judge_untrusted(const cg_verify_policy *p, const mbedtls_x509_crt *peer, const cg_verify_trace *t, int d,
                            cg_refusal *why)
{
    char who[400];
    if (diagnose_issuer(p, peer, t, d, why))
        return false;
    const mbedtls_x509_crt *top = t->crt[d];
    cg_cert_describe(top, d, who, sizeof who);
    if (self_issued(top)) {
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
    return false;
}

static bool judge_trace(const cg_verify_policy *p, const mbedtls_x509_crt *peer, const cg_verify_trace *t,
                        cg_refusal *why)
{
    char who[400];

    /* Untrusted first: the dates of a certificate nobody vouches for mean nothing. */
    for (int d = t->depth_count - 1; d >= 0; d--) {
        uint32_t f = t->flags[d] & ~(EKU_FLAGS | IGNORED_FLAGS);
        const char *reason = first_invalid_reason(f);
        if (!reason || !t->crt[d])
            continue;
        if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
            return judge_untrusted(p, peer, t, d, why);
        cg_cert_describe(t->crt[d], d, who, sizeof who);
        if (f & MBEDTLS_X509_BADCERT_BAD_MD) {
            cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                      "The certificate %s is refused: it is signed with %s, a weak hash refused by listener \"%s\" "
                      "(tls.allow_weak_signatures: false). Reissue it with SHA-256, or set "
                      "tls.allow_weak_signatures: true.",
                      who, md_name(cg_cert_sig_md(t->crt[d])), p->listener);
        } else {
            cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED, "The certificate %s is refused: %s.", who, reason);
        }
        return false;
    }

    unsigned limit = max_depth(p);
    if ((unsigned)t->depth_count > limit && t->crt[0]) {
        char top[400];
        cg_cert_describe(t->crt[0], 0, who, sizeof who);
        cg_cert_describe(t->crt[t->depth_count - 1], t->depth_count - 1, top, sizeof top);
        cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                  "The certificate %s is refused: its chain to the trust anchor %s has %d certificates, more than "
                  "the %u allowed on listener \"%s\" (tls.max_chain_depth, leaf and anchor included).",
                  who, top, t->depth_count, limit, p->listener);
        return false;
    }

    for (int d = 0; d < t->depth_count; d++) {
        uint32_t f = t->flags[d];
        if (!t->crt[d] || !(f & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)))
            continue;
        char when[40];
        cg_cert_describe(t->crt[d], d, who, sizeof who);
        if (f & MBEDTLS_X509_BADCERT_EXPIRED) {
            cg_x509_time_format(&t->crt[d]->valid_to, when, sizeof when);
            cg_refuse(why, CG_REFUSE_CERT_EXPIRED, "The certificate %s expired on %s.", who, when);
        } else {
            cg_x509_time_format(&t->crt[d]->valid_from, when, sizeof when);
            cg_refuse(why, CG_REFUSE_CERT_NOT_YET_VALID,
                      "The certificate %s is not valid before %s (check the clocks of this server and the CA).",
                      who, when);
        }
        return false;
    }
    return true;
}

/* A resumed session keeps the verification flags of its full handshake but
 * only the leaf certificate (not the chain): judge from the flags, and the
 * depth from the chain remembered in the pool. */
static bool judge_resumed(const cg_verify_policy *p, const mbedtls_x509_crt *leaf, uint32_t flags, cg_refusal *why)
{
    /* The leaf described only for a refusal: a session that passes (every
     * resumption) does not pay for the text. */
    char who[400], when[40];
    const char *reason = first_invalid_reason(flags);
    if (reason) {
        cg_cert_describe(leaf, 0, who, sizeof who);
        cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED, "The certificate %s is refused: %s (listener \"%s\", resumed session).",
                  who, reason, p->listener);
        return false;
    }
    if (p->pool) {
        const mbedtls_x509_crt *chain[CG_VERIFY_MAX_DEPTH];
        char err[400];
        int n = cg_verify_chain(p, leaf, NULL, chain, CG_VERIFY_MAX_DEPTH, err, sizeof err);
        if (n == 0) {
            cg_cert_describe(leaf, 0, who, sizeof who);
            cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                      "The TLS session of the certificate %s was resumed, but its chain can no longer be "
                      "established on listener \"%s\": %s. Connect again without resuming the session.",
                      who, p->listener, err);
            return false;
        }
        unsigned limit = max_depth(p);
        if ((unsigned)n > limit) {
            cg_cert_describe(leaf, 0, who, sizeof who);
            cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                      "The certificate %s is refused: its chain has %d certificates, more than the %u allowed on "
                      "listener \"%s\" (tls.max_chain_depth, leaf and anchor included; resumed session).",
                      who, n, limit, p->listener);
            return false;
        }
    }
    if (flags & MBEDTLS_X509_BADCERT_EXPIRED) {
        if (mbedtls_x509_time_is_past(&leaf->valid_to)) {
            cg_x509_time_format(&leaf->valid_to, when, sizeof when);
            cg_cert_describe(leaf, 0, who, sizeof who);
            cg_refuse(why, CG_REFUSE_CERT_EXPIRED, "The certificate %s expired on %s.", who, when);
        } else {
            cg_cert_describe(leaf, 0, who, sizeof who);
            cg_refuse(why, CG_REFUSE_CERT_EXPIRED, "A CA certificate in the chain of %s has expired.", who);
        }
        return false;
    }
    if (flags & MBEDTLS_X509_BADCERT_FUTURE) {
        if (mbedtls_x509_time_is_future(&leaf->valid_from)) {
            cg_x509_time_format(&leaf->valid_from, when, sizeof when);
            cg_cert_describe(leaf, 0, who, sizeof who);
            cg_refuse(why, CG_REFUSE_CERT_NOT_YET_VALID,
                      "The certificate %s is not valid before %s (check the clocks of this server and the CA).", who,
                      when);
        } else {
            cg_cert_describe(leaf, 0, who, sizeof who);
            cg_refuse(why, CG_REFUSE_CERT_NOT_YET_VALID, "A CA certificate in the chain of %s is not valid yet.",
                      who);
        }
        return false;
    }
    return true;
}

/* Remembers a full handshake's chain when it ends at a trust anchor. */
static void remember_trace(const cg_verify_policy *p, const cg_verify_trace *t)
{
    int n = t->depth_count;
    if (!p->pool || n < 2 || !t->crt[0] || !t->crt[n - 1] || !is_anchor(p, t->crt[n - 1]))
        return;
    for (int d = 0; d < n; d++)
        if (!t->crt[d] || (t->flags[d] & MBEDTLS_X509_BADCERT_NOT_TRUSTED))
            return;
    pool_remember(p, t->crt, n);
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
        remember_trace(p, trace);
        if (!judge_trace(p, peer, trace, why))
            return false;
    } else if (!judge_resumed(p, peer, chain_flags, why)) {
        return false;
    }
    if (session_flags & MBEDTLS_X509_BADCERT_KEY_USAGE) {
        char who[400];
        cg_cert_describe(peer, 0, who, sizeof who);
        cg_refuse(why, CG_REFUSE_CERT_UNTRUSTED,
                  "The certificate %s is refused: its key usage does not allow digital signatures.", who);
        return false;
    }
    if (p->require_client_auth_eku &&
        mbedtls_x509_crt_check_extended_key_usage(peer, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0) {
        char who[400], ekus[256];
        cg_cert_describe(peer, 0, who, sizeof who);
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
