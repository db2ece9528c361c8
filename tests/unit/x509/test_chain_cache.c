/* Unit tests of the verified-chain cache (chain_cache.c): chains made in
 * memory, verified by mbedTLS against the worker's trust list (as tls.c
 * has each handshake do), completed, then judged by cg_verify_client(). The
 * cache must stop a repeated chain at its learned CA (saving the signature
 * checks above it) and never change a verdict: every refusal is compared
 * with the one a fresh cache gives.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x509/chain_cache.h"
#include "x509/verify.h"

#include "x509_kit.h"

#define KU_CA (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
#define KU_LEAF MBEDTLS_X509_KU_DIGITAL_SIGNATURE

static mbedtls_pk_context k_root, k_a, k_b, k_leaf, k_leaf2, k_rsa_root;

static int setup(void **state)
{
    (void)state;
    tk_key(&k_root, 0);
    tk_key(&k_a, 0);
    tk_key(&k_b, 0);
    tk_key(&k_leaf, 0);
    tk_key(&k_leaf2, 0);
    tk_key(&k_rsa_root, 2048);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mbedtls_pk_free(&k_root);
    mbedtls_pk_free(&k_a);
    mbedtls_pk_free(&k_b);
    mbedtls_pk_free(&k_leaf);
    mbedtls_pk_free(&k_leaf2);
    mbedtls_pk_free(&k_rsa_root);
    return 0;
}

static mbedtls_x509_crt *make_root(mbedtls_pk_context *key, int pathlen)
{
    return tk_cert(&(tk_cert_opts){ .subject = "CN=Root,O=Test", .key = key, .ca = 1, .pathlen = pathlen,
                                    .key_usage = KU_CA });
}

static mbedtls_x509_crt *make_ca(const char *subject, const char *issuer, mbedtls_pk_context *key,
                                 mbedtls_pk_context *issuer_key, const char *serial)
{
    return tk_cert(&(tk_cert_opts){ .subject = subject, .issuer = issuer, .key = key, .issuer_key = issuer_key,
                                    .serial = serial, .ca = 1, .pathlen = -1, .key_usage = KU_CA });
}

static mbedtls_x509_crt *make_leaf(const char *subject, const char *issuer, mbedtls_pk_context *key,
                                   mbedtls_pk_context *issuer_key, const char *serial)
{
    return tk_cert(&(tk_cert_opts){ .subject = subject, .issuer = issuer, .key = key, .issuer_key = issuer_key,
                                    .serial = serial, .ca = 0, .key_usage = KU_LEAF, .eku = "client" });
}

/* A list of DER copies (the client's Certificate message, or the anchors). */
static void list_of(mbedtls_x509_crt *list, mbedtls_x509_crt *const *certs, size_t n)
{
    mbedtls_x509_crt_init(list);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mbedtls_x509_crt_parse_der(list, certs[i]->raw.p, certs[i]->raw.len), 0);
}

typedef struct verdict {
    bool ok;
    cg_refusal why;
    int depth;                                  /* certificates in the completed trace */
    const mbedtls_x509_crt *top;                /* the last of them */
} verdict;

/* One handshake's verification on worker 0, as tls.c does it. */
static verdict handshake(cg_chain_cache *cc, const mbedtls_x509_crt *anchors, const mbedtls_x509_crt *peer)
{
    cg_verify_policy policy = { .listener = "main", .anchors = anchors, .require_client_auth_eku = true,
                                .max_chain_depth = 6 };
    cg_verify_trace trace;
    uint32_t flags = 0;
    memset(&trace, 0, sizeof trace);
    mbedtls_x509_crt *trust = cg_chain_cache_trust(cc, 0);
    assert_non_null(trust);
    mbedtls_x509_crt_verify_with_profile((mbedtls_x509_crt *)peer, trust, NULL, cg_verify_profile(false), NULL,
                                         &flags, cg_verify_record, &trace);
    cg_chain_cache_complete(cc, 0, peer, &trace);
    verdict v;
    memset(&v, 0, sizeof v);
    v.ok = cg_verify_client(&policy, peer, flags, &trace, &v.why);
    v.depth = trace.depth_count;
    v.top = trace.depth_count > 0 ? trace.crt[trace.depth_count - 1] : NULL;
    return v;
}

/* The verdict a cache that learned nothing gives. */
static verdict fresh_verdict(const mbedtls_x509_crt *anchors, const mbedtls_x509_crt *peer)
{
    cg_chain_cache *cc = cg_chain_cache_new(anchors, 1);
    verdict v = handshake(cc, anchors, peer);
    cg_chain_cache_free(cc);
    return v;
}

static void same_verdict(const verdict *a, const verdict *b)
{
    assert_int_equal(a->ok, b->ok);
    assert_int_equal(a->why.kind, b->why.kind);
    assert_string_equal(a->why.detail, b->why.detail);
    assert_int_equal(a->depth, b->depth);
}

static bool same_der(const mbedtls_x509_crt *a, const mbedtls_x509_crt *b)
{
    return a && b && a->raw.len == b->raw.len && memcmp(a->raw.p, b->raw.p, a->raw.len) == 0;
}

typedef struct pki {
    mbedtls_x509_crt *root, *a, *leaf;
    mbedtls_x509_crt anchors, peer;
} pki;

static void pki_init(pki *p)
{
    p->root = make_root(&k_root, -1);
    p->a = make_ca("CN=Issuing A,O=Test", "CN=Root,O=Test", &k_a, &k_root, "2");
    p->leaf = make_leaf("CN=alice,O=Test", "CN=Issuing A,O=Test", &k_leaf, &k_a, "10");
    list_of(&p->anchors, &p->root, 1);
    list_of(&p->peer, (mbedtls_x509_crt *[]){ p->leaf, p->a }, 2);
}

static void pki_free(pki *p)
{
    mbedtls_x509_crt_free(&p->anchors);
    mbedtls_x509_crt_free(&p->peer);
    tk_cert_free(p->root);
    tk_cert_free(p->a);
    tk_cert_free(p->leaf);
}

/* The second handshake of a chain stops at the learned CA (only the leaf's
 * own signature is checked), and the verdict and the chain (anchor
 * included) are those of the first. */
static void test_repeated_chain_skips_signatures(void **state)
{
    (void)state;
    pki p;
    pki_init(&p);
    cg_chain_cache *cc = cg_chain_cache_new(&p.anchors, 1);
    cg_chain_cache_stats st;

    verdict first = handshake(cc, &p.anchors, &p.peer);
    assert_true(first.ok);
    assert_int_equal(first.depth, 3);
    cg_chain_cache_stats_get(cc, 0, &st);
    assert_int_equal(st.learned, 1);
    assert_int_equal(st.hits, 0);
    uint64_t misses = st.misses; /* verified up to the root */
    assert_int_equal(misses, 1);

    for (int i = 0; i < 3; i++) {
        verdict again = handshake(cc, &p.anchors, &p.peer);
        same_verdict(&again, &first);
        assert_true(same_der(again.top, p.root)); /* completed up to the anchor */
        cg_chain_cache_stats_get(cc, 0, &st);
        assert_int_equal(st.misses, misses);      /* nothing above Issuing A verified again */
        assert_int_equal(st.hits, (uint64_t)i + 1);
    }
    cg_chain_cache_free(cc);
    pki_free(&p);
}

/* A new leaf under a learned CA: it stops there too (its own signature
 * checked, every time), accepted. */
static void test_new_leaf_under_learned_ca(void **state)
{
    (void)state;
    pki p;
    pki_init(&p);
    cg_chain_cache *cc = cg_chain_cache_new(&p.anchors, 1);
    assert_true(handshake(cc, &p.anchors, &p.peer).ok);
    cg_chain_cache_stats before, after;
    cg_chain_cache_stats_get(cc, 0, &before);

    mbedtls_x509_crt *bob = make_leaf("CN=bob,O=Test", "CN=Issuing A,O=Test", &k_leaf2, &k_a, "11");
    mbedtls_x509_crt peer;
    list_of(&peer, (mbedtls_x509_crt *[]){ bob, p.a }, 2);
    verdict v = handshake(cc, &p.anchors, &peer);
    assert_true(v.ok);
    assert_int_equal(v.depth, 3);
    assert_true(same_der(v.top, p.root));
    cg_chain_cache_stats_get(cc, 0, &after);
    assert_int_equal(after.misses, before.misses);
    assert_int_equal(after.hits, before.hits + 1);
    /* and the time after, the same */
    assert_true(handshake(cc, &p.anchors, &peer).ok);
    cg_chain_cache_stats_get(cc, 0, &after);
    assert_int_equal(after.misses, before.misses);
    assert_int_equal(after.hits, before.hits + 2);

    mbedtls_x509_crt_free(&peer);
    tk_cert_free(bob);
    cg_chain_cache_free(cc);
    pki_free(&p);
}

/* A leaf whose signature was altered is refused after its good twin was
 * learned: the cache answers only for the exact signature it verified. */
static void test_altered_signature_refused(void **state)
{
    (void)state;
    pki p;
    pki_init(&p);
    cg_chain_cache *cc = cg_chain_cache_new(&p.anchors, 1);
    assert_true(handshake(cc, &p.anchors, &p.peer).ok);

    unsigned char *der = malloc(p.leaf->raw.len);
    assert_non_null(der);
    memcpy(der, p.leaf->raw.p, p.leaf->raw.len);
    der[p.leaf->raw.len - 1] ^= 0x01; /* last byte of the signature's s */
    mbedtls_x509_crt peer;
    mbedtls_x509_crt_init(&peer);
    assert_int_equal(mbedtls_x509_crt_parse_der(&peer, der, p.leaf->raw.len), 0);
    assert_int_equal(mbedtls_x509_crt_parse_der(&peer, p.a->raw.p, p.a->raw.len), 0);
    free(der);

    verdict cached = handshake(cc, &p.anchors, &peer);
    assert_false(cached.ok);
    assert_int_equal(cached.why.kind, CG_REFUSE_CERT_UNTRUSTED);
    assert_non_null(strstr(cached.why.detail, "signature does not verify"));
    verdict fresh = fresh_verdict(&p.anchors, &peer);
    same_verdict(&cached, &fresh);
    /* and the good one is still accepted */
    assert_true(handshake(cc, &p.anchors, &p.peer).ok);

    mbedtls_x509_crt_free(&peer);
    cg_chain_cache_free(cc);
    pki_free(&p);
}

/* A client that does not send the intermediate is refused as before, even
 * though another client's chain taught the cache that intermediate. */
static void test_missing_intermediate_still_refused(void **state)
{
    (void)state;
    pki p;
    pki_init(&p);
    cg_chain_cache *cc = cg_chain_cache_new(&p.anchors, 1);
    assert_true(handshake(cc, &p.anchors, &p.peer).ok);

    mbedtls_x509_crt leaf_only;
    list_of(&leaf_only, &p.leaf, 1);
    verdict cached = handshake(cc, &p.anchors, &leaf_only);
    verdict fresh = fresh_verdict(&p.anchors, &leaf_only);
    assert_false(cached.ok);
    assert_non_null(strstr(cached.why.detail, "neither sent by the client"));
    same_verdict(&cached, &fresh);

    mbedtls_x509_crt_free(&leaf_only);
    cg_chain_cache_free(cc);
    pki_free(&p);
}

/* The root allows one CA below it. Learned: Root -> A -> alice. Then
 * Root -> A -> B -> carol stops at the learned A; the completion must apply
 * the root's path length and refuse it exactly as a full verification does. */
static void test_path_length_checked_on_completion(void **state)
{
    (void)state;
    mbedtls_x509_crt *root = make_root(&k_root, 1);
    mbedtls_x509_crt *a = make_ca("CN=Issuing A,O=Test", "CN=Root,O=Test", &k_a, &k_root, "2");
    mbedtls_x509_crt *b = make_ca("CN=Sub B,O=Test", "CN=Issuing A,O=Test", &k_b, &k_a, "3");
    mbedtls_x509_crt *alice = make_leaf("CN=alice,O=Test", "CN=Issuing A,O=Test", &k_leaf, &k_a, "10");
    mbedtls_x509_crt *carol = make_leaf("CN=carol,O=Test", "CN=Sub B,O=Test", &k_leaf2, &k_b, "12");
    mbedtls_x509_crt anchors, peer1, peer2;
    list_of(&anchors, &root, 1);
    list_of(&peer1, (mbedtls_x509_crt *[]){ alice, a }, 2);
    list_of(&peer2, (mbedtls_x509_crt *[]){ carol, b, a }, 3);

    cg_chain_cache *cc = cg_chain_cache_new(&anchors, 1);
    assert_true(handshake(cc, &anchors, &peer1).ok);
    verdict cached = handshake(cc, &anchors, &peer2);
    verdict fresh = fresh_verdict(&anchors, &peer2);
    assert_false(fresh.ok);
    assert_non_null(strstr(fresh.why.detail, "pathLenConstraint"));
    same_verdict(&cached, &fresh);

    cg_chain_cache_free(cc);
    mbedtls_x509_crt_free(&anchors);
    mbedtls_x509_crt_free(&peer1);
    mbedtls_x509_crt_free(&peer2);
    tk_cert_free(root);
    tk_cert_free(a);
    tk_cert_free(b);
    tk_cert_free(alice);
    tk_cert_free(carol);
}

/* A leaf issued by the root itself, with an RSA root: nothing to learn,
 * every handshake verified up to the anchor, with the same verdict. */
static void test_leaf_under_rsa_anchor(void **state)
{
    (void)state;
    mbedtls_x509_crt *root = make_root(&k_rsa_root, -1);
    mbedtls_x509_crt *leaf = make_leaf("CN=dave,O=Test", "CN=Root,O=Test", &k_leaf, &k_rsa_root, "20");
    mbedtls_x509_crt anchors, peer;
    list_of(&anchors, &root, 1);
    list_of(&peer, &leaf, 1);
    cg_chain_cache *cc = cg_chain_cache_new(&anchors, 1);
    cg_chain_cache_stats st;
    verdict first = handshake(cc, &anchors, &peer);
    assert_true(first.ok);
    assert_int_equal(first.depth, 2);
    cg_chain_cache_stats_get(cc, 0, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.learned, 0);
    verdict again = handshake(cc, &anchors, &peer);
    same_verdict(&again, &first);
    cg_chain_cache_stats_get(cc, 0, &st);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.learned, 0);
    cg_chain_cache_free(cc);
    mbedtls_x509_crt_free(&anchors);
    mbedtls_x509_crt_free(&peer);
    tk_cert_free(root);
    tk_cert_free(leaf);
}

/* More CAs than the cache holds: the ones beyond are verified every time,
 * and every verdict stays right. */
static void test_full_cache_stays_correct(void **state)
{
    (void)state;
    enum { N = CG_CHAIN_CACHE_MAX_CAS + 6 };
    mbedtls_x509_crt *root = make_root(&k_root, -1);
    mbedtls_x509_crt anchors;
    list_of(&anchors, &root, 1);
    cg_chain_cache *cc = cg_chain_cache_new(&anchors, 1);
    for (int i = 0; i < N; i++) {
        char subject[64], serial[16];
        snprintf(subject, sizeof subject, "CN=Issuing %d,O=Test", i);
        snprintf(serial, sizeof serial, "%d", 100 + i);
        mbedtls_x509_crt *ca = make_ca(subject, "CN=Root,O=Test", &k_a, &k_root, serial);
        mbedtls_x509_crt *leaf = make_leaf("CN=alice,O=Test", subject, &k_leaf, &k_a, serial);
        mbedtls_x509_crt peer;
        list_of(&peer, (mbedtls_x509_crt *[]){ leaf, ca }, 2);
        for (int round = 0; round < 2; round++) {
            verdict v = handshake(cc, &anchors, &peer);
            assert_true(v.ok);
            assert_int_equal(v.depth, 3);
        }
        mbedtls_x509_crt_free(&peer);
        tk_cert_free(ca);
        tk_cert_free(leaf);
    }
    cg_chain_cache_stats st;
    cg_chain_cache_stats_get(cc, 0, &st);
    assert_int_equal(st.learned, CG_CHAIN_CACHE_MAX_CAS);
    cg_chain_cache_free(cc);
    mbedtls_x509_crt_free(&anchors);
    tk_cert_free(root);
}

/* A worker the cache was not made for gets no trust list (tls.c then keeps
 * the configured anchors) and completion leaves the trace alone. */
static void test_unknown_worker(void **state)
{
    (void)state;
    pki p;
    pki_init(&p);
    cg_chain_cache *cc = cg_chain_cache_new(&p.anchors, 2);
    assert_non_null(cg_chain_cache_trust(cc, 1));
    assert_null(cg_chain_cache_trust(cc, 2));
    assert_null(cg_chain_cache_trust(NULL, 0));
    cg_verify_trace t;
    memset(&t, 0, sizeof t);
    t.depth_count = 1;
    t.crt[0] = &p.peer;
    cg_chain_cache_complete(cc, 7, &p.peer, &t);
    assert_int_equal(t.depth_count, 1);
    cg_chain_cache_free(cc);
    pki_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeated_chain_skips_signatures),
        cmocka_unit_test(test_new_leaf_under_learned_ca),
        cmocka_unit_test(test_altered_signature_refused),
        cmocka_unit_test(test_missing_intermediate_still_refused),
        cmocka_unit_test(test_path_length_checked_on_completion),
        cmocka_unit_test(test_leaf_under_rsa_anchor),
        cmocka_unit_test(test_full_cache_stays_correct),
        cmocka_unit_test(test_unknown_worker),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
