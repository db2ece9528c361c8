/* Unit tests of the verification policy (verify.c): chains made in memory,
 * verified by mbedTLS under certgate's profile with cg_verify_record() as
 * the callback (as in the handshake), then judged by cg_verify_client().
 * Depth, weak signatures, basic constraints, path length, key usage, EKU,
 * validity of every certificate, untrusted and missing issuers, signature
 * failures, and resumed sessions (the chain pool).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>

#include "x509/verify.h"

#include "x509_kit.h"

#define KU_CA (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
#define KU_LEAF MBEDTLS_X509_KU_DIGITAL_SIGNATURE

static mbedtls_pk_context k_root, k_a, k_b, k_c, k_leaf, k_other, k_rsa;

static int setup(void **state)
{
    (void)state;
    tk_key(&k_root, 0);
    tk_key(&k_a, 0);
    tk_key(&k_b, 0);
    tk_key(&k_c, 0);
    tk_key(&k_leaf, 0);
    tk_key(&k_other, 0);
    tk_key(&k_rsa, 2048); /* MD5 signatures exist only with RSA */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mbedtls_pk_free(&k_root);
    mbedtls_pk_free(&k_a);
    mbedtls_pk_free(&k_b);
    mbedtls_pk_free(&k_c);
    mbedtls_pk_free(&k_leaf);
    mbedtls_pk_free(&k_other);
    mbedtls_pk_free(&k_rsa);
    return 0;
}

/* A chain under test: the anchors, what the client sends (leaf first), and
 * what mbedTLS and certgate made of it. */
typedef struct chain {
    mbedtls_x509_crt anchors, peer;
    cg_verify_trace trace;
    uint32_t flags;
    cg_verify_policy policy;
    cg_refusal why;
} chain;

static void chain_init(chain *c)
{
    memset(c, 0, sizeof *c);
    mbedtls_x509_crt_init(&c->anchors);
    mbedtls_x509_crt_init(&c->peer);
    c->policy.listener = "main";
    c->policy.anchors = &c->anchors;
    c->policy.require_client_auth_eku = true;
    c->policy.max_chain_depth = 6;
    c->policy.pool = cg_verify_pool_new();
}

static void chain_free(chain *c)
{
    mbedtls_x509_crt_free(&c->anchors);
    mbedtls_x509_crt_free(&c->peer);
    cg_verify_pool_free(c->policy.pool);
}

static void add(mbedtls_x509_crt *list, mbedtls_x509_crt *c)
{
    assert_int_equal(mbedtls_x509_crt_parse_der(list, c->raw.p, c->raw.len), 0);
    tk_cert_free(c);
}

/* Verifies as the handshake does, then judges. */
static bool judge(chain *c)
{
    memset(&c->trace, 0, sizeof c->trace);
    c->flags = 0;
    mbedtls_x509_crt_verify_with_profile(&c->peer, &c->anchors, NULL,
                                         cg_verify_profile(c->policy.allow_weak_signatures), NULL, &c->flags,
                                         cg_verify_record, &c->trace);
    memset(&c->why, 0, sizeof c->why);
    return cg_verify_client(&c->policy, &c->peer, c->flags, &c->trace, &c->why);
}

static void expect_refusal(chain *c, cg_refusal_kind kind, const char *needle)
{
    if (judge(c))
        fail_msg("accepted; expected a refusal containing \"%s\"", needle);
    if (c->why.kind != kind)
        fail_msg("refusal kind %d (%s), expected %d", c->why.kind, c->why.detail, kind);
    if (!strstr(c->why.detail, needle))
        fail_msg("detail \"%s\"\ndoes not contain \"%s\"", c->why.detail, needle);
}

static void expect_ok(chain *c)
{
    if (!judge(c))
        fail_msg("refused: %s", c->why.detail);
}

/* The usual shape: root (anchor) -> A -> leaf; opts tweak each level. */
typedef struct shape {
    tk_cert_opts root, a, leaf;
} shape;

static void shape_default(shape *s)
{
    memset(s, 0, sizeof *s);
    s->root = (tk_cert_opts){ .subject = "CN=Root,O=T", .key = &k_root, .ca = 1, .pathlen = -1, .key_usage = KU_CA };
    s->a = (tk_cert_opts){ .subject = "CN=Sub A,O=T", .issuer = "CN=Root,O=T", .key = &k_a, .issuer_key = &k_root,
                           .serial = "10", .ca = 1, .pathlen = -1, .key_usage = KU_CA };
    s->leaf = (tk_cert_opts){ .subject = "CN=alice,O=T", .issuer = "CN=Sub A,O=T", .key = &k_leaf,
                              .issuer_key = &k_a, .serial = "100", .ca = 0, .key_usage = KU_LEAF, .eku = "client" };
}

static void build(chain *c, const shape *s)
{
    add(&c->anchors, tk_cert(&s->root));
    add(&c->peer, tk_cert(&s->leaf));
    add(&c->peer, tk_cert(&s->a));
}

static void test_good_chain(void **state)
{
    (void)state;
    chain c;
    shape s;
    chain_init(&c);
    shape_default(&s);
    build(&c, &s);
    expect_ok(&c);
    assert_int_equal(c.trace.depth_count, 3);
    const mbedtls_x509_crt *out[CG_VERIFY_MAX_DEPTH];
    assert_int_equal(cg_verify_chain(&c.policy, &c.peer, &c.trace, out, CG_VERIFY_MAX_DEPTH, NULL, 0), 3);
    assert_ptr_equal(out[2], &c.anchors);
    size_t cas, chains;
    cg_verify_pool_stats(c.policy.pool, &cas, &chains);
    assert_int_equal(cas, 1);
    assert_int_equal(chains, 1);
    chain_free(&c);
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* root -> A -> B -> C -> leaf: 5 certificates. */
    chain c;
    chain_init(&c);
    add(&c.anchors, tk_cert(&(tk_cert_opts){ .subject = "CN=Root", .key = &k_root, .ca = 1, .pathlen = -1,
                                             .key_usage = KU_CA }));
    add(&c.peer, tk_cert(&(tk_cert_opts){ .subject = "CN=leaf", .issuer = "CN=C", .key = &k_leaf,
                                          .issuer_key = &k_c, .ca = 0, .eku = "client" }));
    add(&c.peer, tk_cert(&(tk_cert_opts){ .subject = "CN=C", .issuer = "CN=B", .key = &k_c, .issuer_key = &k_b,
                                          .ca = 1, .pathlen = -1, .key_usage = KU_CA }));
    add(&c.peer, tk_cert(&(tk_cert_opts){ .subject = "CN=B", .issuer = "CN=A", .key = &k_b, .issuer_key = &k_a,
                                          .ca = 1, .pathlen = -1, .key_usage = KU_CA }));
    add(&c.peer, tk_cert(&(tk_cert_opts){ .subject = "CN=A", .issuer = "CN=Root", .key = &k_a,
                                          .issuer_key = &k_root, .ca = 1, .pathlen = -1, .key_usage = KU_CA }));
    expect_ok(&c);
    c.policy.max_chain_depth = 4;
    expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, "has 5 certificates, more than the 4 allowed on listener \"main\" "
                                                 "(tls.max_chain_depth");
    assert_non_null(strstr(c.why.detail, "\"CN=leaf\""));
    assert_non_null(strstr(c.why.detail, "trust anchor \"CN=Root\""));
    c.policy.max_chain_depth = 0; /* default 6 */
    expect_ok(&c);

    /* The resumed session (leaf only) is held to the same limit. */
    mbedtls_x509_crt leaf_only;
    mbedtls_x509_crt_init(&leaf_only);
    assert_int_equal(mbedtls_x509_crt_parse_der(&leaf_only, c.peer.raw.p, c.peer.raw.len), 0);
    cg_refusal why;
    assert_true(cg_verify_client(&c.policy, &leaf_only, 0, NULL, &why));
    c.policy.max_chain_depth = 4;
    assert_false(cg_verify_client(&c.policy, &leaf_only, 0, NULL, &why));
    assert_non_null(strstr(why.detail, "resumed session"));
    mbedtls_x509_crt_free(&leaf_only);
    chain_free(&c);
}

static void test_weak_signatures(void **state)
{
    (void)state;
    mbedtls_md_type_t weak[] = { MBEDTLS_MD_SHA1, MBEDTLS_MD_MD5 };
    const char *names[] = { "signed with SHA-1", "signed with MD5" };
    for (int i = 0; i < 2; i++) {
        chain c;
        shape s;
        chain_init(&c);
        shape_default(&s);
        s.leaf.md = weak[i];
        s.a.key = s.leaf.issuer_key = &k_rsa; /* an RSA intermediate signs the leaf */
        build(&c, &s);
        expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, names[i]);
        assert_non_null(strstr(c.why.detail, "tls.allow_weak_signatures"));
        assert_non_null(strstr(c.why.detail, "depth 0"));
        c.policy.allow_weak_signatures = true;
        expect_ok(&c);
        chain_free(&c);
    }
    /* An intermediate signed with SHA-1 names depth 1. */
    chain c;
    shape s;
    chain_init(&c);
    shape_default(&s);
    s.a.md = MBEDTLS_MD_SHA1;
    build(&c, &s);
    expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, "\"O=T,CN=Sub A\" (serial 0A, depth 1, an issuing CA certificate) "
                                                 "is refused: it is signed with SHA-1");
    chain_free(&c);
}

static void test_basic_constraints(void **state)
{
    (void)state;
    int variants[] = { 0, -1 }; /* CA:FALSE, and no basicConstraints at all */
    for (int i = 0; i < 2; i++) {
        chain c;
        shape s;
        chain_init(&c);
        shape_default(&s);
        s.a.ca = variants[i];
        build(&c, &s);
        expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, "is not a CA certificate (basicConstraints CA:TRUE missing)");
        assert_non_null(strstr(c.why.detail, "\"O=T,CN=alice\" (serial 64, depth 0"));
        assert_non_null(strstr(c.why.detail, "issuer certificate sent by the client \"O=T,CN=Sub A\""));
        chain_free(&c);
    }
}

static void test_path_length(void **state)
{
    (void)state;
    /* The root allows no CA below it (pathlen 0), but A is one. */
    chain c;
    shape s;
    chain_init(&c);
    shape_default(&s);
    s.root.pathlen = 0;
    build(&c, &s);
    expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, "allows at most 0 CA certificate(s) below it (basicConstraints "
                                                 "pathLenConstraint 0), and this chain has 1");
    assert_non_null(strstr(c.why.detail, "trusted client CA \"O=T,CN=Root\""));
    chain_free(&c);

    /* pathlen 1 on the root is enough. */
    chain_init(&c);
    shape_default(&s);
    s.root.pathlen = 1;
    build(&c, &s);
    expect_ok(&c);
    chain_free(&c);
}

static void test_key_usage(void **state)
{
    (void)state;
    /* An intermediate whose key usage does not allow signing certificates. */
    chain c;
    shape s;
    chain_init(&c);
    shape_default(&s);
    s.a.key_usage = MBEDTLS_X509_KU_CRL_SIGN;
    build(&c, &s);
    expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, "does not include keyCertSign");
    chain_free(&c);

    /* A leaf without digitalSignature: mbedTLS flags it in the session. */
    chain_init(&c);
    shape_default(&s);
    s.leaf.key_usage = MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
    build(&c, &s);
    expect_ok(&c); /* the chain itself is fine */
    cg_refusal why;
    assert_false(cg_verify_client(&c.policy, &c.peer, MBEDTLS_X509_BADCERT_KEY_USAGE, &c.trace, &why));
    assert_non_null(strstr(why.detail, "key usage does not allow digital signatures"));
    chain_free(&c);
}

static void test_eku(void **state)
{
    (void)state;
    const char *ekus[] = { "server", "email" };
    for (int i = 0; i < 2; i++) {
        chain c;
        shape s;
        chain_init(&c);
        shape_default(&s);
        s.leaf.eku = ekus[i];
        build(&c, &s);
        expect_refusal(&c, CG_REFUSE_CERT_EKU, "not Client Authentication (1.3.6.1.5.5.7.3.2)");
        assert_non_null(strstr(c.why.detail, i == 0 ? "TLS Web Server Authentication" : "E-mail Protection"));
        c.policy.require_client_auth_eku = false;
        expect_ok(&c);
        chain_free(&c);
    }
    /* No EKU extension: valid for every purpose. */
    chain c;
    shape s;
    chain_init(&c);
    shape_default(&s);
    s.leaf.eku = NULL;
    build(&c, &s);
    expect_ok(&c);
    chain_free(&c);
}

static void test_validity(void **state)
{
    (void)state;
    int64_t now = time(NULL);
    chain c;
    shape s;
    /* An expired intermediate: 403.17 naming it. */
    chain_init(&c);
    shape_default(&s);
    s.a.not_before = now - 400 * 86400;
    s.a.not_after = now - 86400;
    build(&c, &s);
    expect_refusal(&c, CG_REFUSE_CERT_EXPIRED, "\"O=T,CN=Sub A\" (serial 0A, depth 1, an issuing CA certificate) "
                                               "expired on");
    chain_free(&c);
    /* A leaf not yet valid. */
    chain_init(&c);
    shape_default(&s);
    s.leaf.not_before = now + 86400;
    s.leaf.not_after = now + 400 * 86400;
    build(&c, &s);
    expect_refusal(&c, CG_REFUSE_CERT_NOT_YET_VALID, "depth 0, the client certificate) is not valid before");
    chain_free(&c);
    /* An expired root (anchor). */
    chain_init(&c);
    shape_default(&s);
    s.root.not_before = now - 400 * 86400;
    s.root.not_after = now - 1;
    build(&c, &s);
    expect_refusal(&c, CG_REFUSE_CERT_EXPIRED, "depth 2");
    chain_free(&c);
}

static void test_untrusted_and_missing(void **state)
{
    (void)state;
    chain c;
    shape s;
    /* The client does not send A. */
    chain_init(&c);
    shape_default(&s);
    add(&c.anchors, tk_cert(&s.root));
    add(&c.peer, tk_cert(&s.leaf));
    expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, "issued by \"O=T,CN=Sub A\", which is neither sent by the client "
                                                 "nor one of the trusted client CAs of listener \"main\"");
    chain_free(&c);
    /* A self-signed root that is not an anchor. */
    chain_init(&c);
    shape_default(&s);
    add(&c.anchors, tk_cert(&(tk_cert_opts){ .subject = "CN=Other Root", .key = &k_other, .ca = 1, .pathlen = -1,
                                             .key_usage = KU_CA }));
    add(&c.peer, tk_cert(&s.leaf));
    add(&c.peer, tk_cert(&s.a));
    add(&c.peer, tk_cert(&s.root));
    expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, "ends at the self-signed root \"O=T,CN=Root\"");
    chain_free(&c);
    /* A signed by another key with the root's name. */
    chain_init(&c);
    shape_default(&s);
    s.a.issuer_key = &k_other;
    build(&c, &s);
    expect_refusal(&c, CG_REFUSE_CERT_UNTRUSTED, "signature does not verify with the public key of");
    assert_non_null(strstr(c.why.detail, "depth 1"));
    chain_free(&c);
    /* No certificate at all. */
    chain_init(&c);
    cg_refusal why;
    assert_false(cg_verify_client(&c.policy, NULL, 0, NULL, &why));
    assert_int_equal(why.kind, CG_REFUSE_CERT_MISSING);
    chain_free(&c);
}

static void test_resumed_chain_from_pool(void **state)
{
    (void)state;
    chain c;
    shape s;
    chain_init(&c);
    shape_default(&s);
    build(&c, &s);
    mbedtls_x509_crt leaf_only;
    mbedtls_x509_crt_init(&leaf_only);
    assert_int_equal(mbedtls_x509_crt_parse_der(&leaf_only, c.peer.raw.p, c.peer.raw.len), 0);
    const mbedtls_x509_crt *out[CG_VERIFY_MAX_DEPTH];
    char why[400];
    /* Before any full handshake: the intermediate is unknown. */
    assert_int_equal(cg_verify_chain(&c.policy, &leaf_only, NULL, out, CG_VERIFY_MAX_DEPTH, why, sizeof why), 0);
    assert_non_null(strstr(why, "\"O=T,CN=Sub A\""));
    /* After one, the resumed leaf gets its chain back (the pool's copy of A). */
    expect_ok(&c);
    assert_int_equal(cg_verify_chain(&c.policy, &leaf_only, NULL, out, CG_VERIFY_MAX_DEPTH, why, sizeof why), 3);
    assert_ptr_equal(out[0], &leaf_only);
    assert_memory_equal(out[1]->raw.p, c.peer.next->raw.p, c.peer.next->raw.len);
    assert_ptr_not_equal(out[1], c.peer.next);
    assert_ptr_equal(out[2], &c.anchors);

    /* Another leaf of the same CA, never seen: rebuilt from the pool, signatures checked. */
    mbedtls_x509_crt other;
    mbedtls_x509_crt_init(&other);
    mbedtls_x509_crt *bob = tk_cert(&(tk_cert_opts){ .subject = "CN=bob", .issuer = "CN=Sub A,O=T", .key = &k_leaf,
                                                     .issuer_key = &k_a, .serial = "101", .ca = 0 });
    add(&other, bob);
    assert_int_equal(cg_verify_chain(&c.policy, &other, NULL, out, CG_VERIFY_MAX_DEPTH, why, sizeof why), 3);
    /* A forged leaf with A's name as issuer but another key: no chain. */
    mbedtls_x509_crt forged;
    mbedtls_x509_crt_init(&forged);
    add(&forged, tk_cert(&(tk_cert_opts){ .subject = "CN=eve", .issuer = "CN=Sub A,O=T", .key = &k_leaf,
                                          .issuer_key = &k_other, .ca = 0 }));
    assert_int_equal(cg_verify_chain(&c.policy, &forged, NULL, out, CG_VERIFY_MAX_DEPTH, why, sizeof why), 0);
    /* A leaf that is itself an anchor. */
    assert_int_equal(cg_verify_chain(&c.policy, &c.anchors, NULL, out, CG_VERIFY_MAX_DEPTH, why, sizeof why), 1);
    mbedtls_x509_crt_free(&other);
    mbedtls_x509_crt_free(&forged);
    mbedtls_x509_crt_free(&leaf_only);
    chain_free(&c);
}

/* The fingerprint is the SHA-256 of the DER, however often and in whatever
 * order certificates are hashed on a thread (verify.c remembers the last
 * one): two certificates alternately, and one whose bytes change in place
 * (same address, same length), as a freed and reused certificate would. */
static void expect_fingerprint(const mbedtls_x509_crt *c)
{
    unsigned char d[32];
    char want[65], got[65];
    assert_int_equal(mbedtls_sha256(c->raw.p, c->raw.len, d, 0), 0);
    for (int i = 0; i < 32; i++)
        snprintf(want + 2 * i, 3, "%02x", d[i]);
    cg_cert_sha256_hex(c, got);
    assert_string_equal(got, want);
}

static void test_fingerprint(void **state)
{
    (void)state;
    chain c;
    shape s;
    chain_init(&c);
    shape_default(&s);
    build(&c, &s);
    for (int i = 0; i < 3; i++) {
        expect_fingerprint(&c.peer);
        expect_fingerprint(&c.peer);
        expect_fingerprint(c.peer.next);
    }
    /* The same certificate object, other bytes: a new digest. */
    unsigned char *der = malloc(c.peer.raw.len);
    assert_non_null(der);
    memcpy(der, c.peer.raw.p, c.peer.raw.len);
    mbedtls_x509_crt fake = c.peer;
    fake.raw.p = der;
    expect_fingerprint(&fake);
    der[c.peer.raw.len - 1] ^= 1;
    expect_fingerprint(&fake);
    der[10] ^= 0x80;
    expect_fingerprint(&fake);
    free(der);
    /* The serial in capitals, cut to what fits. */
    char serial[80];
    cg_cert_serial(&c.peer, serial, sizeof serial);
    assert_int_equal(strlen(serial), 2 * c.peer.serial.len);
    char small[4];
    cg_cert_serial(&c.peer, small, sizeof small);
    assert_int_equal(strlen(small), 2);
    assert_memory_equal(small, serial, 2);
    chain_free(&c);
}

static void test_profile(void **state)
{
    (void)state;
    const mbedtls_x509_crt_profile *strict = cg_verify_profile(false), *weak = cg_verify_profile(true);
    assert_false(strict->allowed_mds & MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA1));
    assert_false(strict->allowed_mds & MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_MD5));
    assert_true(strict->allowed_mds & MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA256));
    assert_true(weak->allowed_mds & MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA1));
    assert_true(weak->allowed_mds & MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_MD5));
    assert_int_equal(strict->rsa_min_bitlen, 2048);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_chain),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_weak_signatures),
        cmocka_unit_test(test_basic_constraints),
        cmocka_unit_test(test_path_length),
        cmocka_unit_test(test_key_usage),
        cmocka_unit_test(test_eku),
        cmocka_unit_test(test_validity),
        cmocka_unit_test(test_untrusted_and_missing),
        cmocka_unit_test(test_resumed_chain_from_pool),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
