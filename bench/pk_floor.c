/* cg-pk-floor: the public-key floor of a TLS 1.2 and a TLS 1.3 full handshake with mbedTLS on this machine.
 *
 * Times, with the library certgate links, each public-key operation a server-side mutual-TLS
 * handshake needs, done the way mbedTLS 3.6 does it in certgate's server: with
 * MBEDTLS_USE_PSA_CRYPTO both TLS versions make their ECDHE key share through PSA (generate,
 * export, agree, destroy; X25519 in certgate's PSA driver with libsodium when the bundled mbedTLS
 * is linked), the server's signature through mbedtls_pk_sign, the client's CertificateVerify
 * with a key parsed for it (RSA: PKCS#1 v1.5 in TLS 1.2, PSS in TLS 1.3). A verification "first
 * time" uses a signature not verified before; "verified before" repeats one, which the driver's
 * verified-signature cache answers (a returning user's leaf signature). Legacy-API rows (no PSA:
 * Everest's X25519, in-place ECDSA) are there to compare. Then the sums per profile and TLS
 * version. By default the process has a second thread, as a server with worker and pool threads
 * has: glibc's allocator then takes its locked paths, which mbedTLS's bignum code exercises
 * heavily (--single-threaded: not). bench/run prints the floor next to the measured CPU per
 * handshake; see bench/README.md. A benchmark: no verdict. */
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <psa/crypto.h>
#include <pthread.h>
#if defined(CERTGATE_PSA_DRIVER)
#include "certgate_psa_driver.h" /* the driver's table, emptied to time first verifications */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static mbedtls_ctr_drbg_context rng;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "cg-pk-floor: %s failed: -0x%04x\n", what, (unsigned)-err);
    exit(1);
}

/* One ECDHE key exchange through mbedTLS's legacy ECDH API (TLS 1.2's path
 * before MBEDTLS_USE_PSA_CRYPTO; Everest for X25519): new context, group
 * load, key generation (ServerKeyExchange), then the shared secret from the
 * client's point. For comparison only: certgate's TLS no longer takes it. */
static void ecdhe_legacy_once(mbedtls_ecp_group_id gid, const unsigned char *peer, size_t peer_len)
{
    mbedtls_ecdh_context ecdh;
    unsigned char buf[256];
    size_t len;
    int err;
    mbedtls_ecdh_init(&ecdh);
    if ((err = mbedtls_ecdh_setup(&ecdh, gid)) != 0) die("ecdh_setup", err);
    if ((err = mbedtls_ecdh_make_params(&ecdh, &len, buf, sizeof buf, mbedtls_ctr_drbg_random, &rng)) != 0)
        die("ecdh_make_params", err);
    if ((err = mbedtls_ecdh_read_public(&ecdh, peer, peer_len)) != 0) die("ecdh_read_public", err);
    if ((err = mbedtls_ecdh_calc_secret(&ecdh, &len, buf, sizeof buf, mbedtls_ctr_drbg_random, &rng)) != 0)
        die("ecdh_calc_secret", err);
    mbedtls_ecdh_free(&ecdh);
}

/* A client's public point for the curve, in TLS ClientKeyExchange form (legacy API). */
static size_t client_point(mbedtls_ecp_group_id gid, unsigned char *out, size_t cap)
{
    mbedtls_ecdh_context ecdh;
    size_t len;
    int err;
    mbedtls_ecdh_init(&ecdh);
    if ((err = mbedtls_ecdh_setup(&ecdh, gid)) != 0) die("ecdh_setup", err);
    if ((err = mbedtls_ecdh_make_public(&ecdh, &len, out, cap, mbedtls_ctr_drbg_random, &rng)) != 0)
        die("ecdh_make_public", err);
    mbedtls_ecdh_free(&ecdh);
    return len;
}

#define NSIGS 64 /* distinct signatures per verification row */

static psa_key_attributes_t ecdh_attributes(psa_ecc_family_t family, size_t bits)
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(family));
    psa_set_key_bits(&a, bits);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE);
    psa_set_key_algorithm(&a, PSA_ALG_ECDH);
    return a;
}

/* One ECDHE key exchange as mbedTLS 3.6's TLS 1.2 (with MBEDTLS_USE_PSA_CRYPTO)
 * and TLS 1.3 servers do it: psa_generate_key, psa_export_public_key (the
 * key share / ServerKeyExchange), psa_raw_key_agreement with the client's
 * share, psa_destroy_key. */
static void ecdhe_psa_once(psa_ecc_family_t family, size_t bits, const unsigned char *peer, size_t peer_len)
{
    psa_key_attributes_t a = ecdh_attributes(family, bits);
    mbedtls_svc_key_id_t id;
    unsigned char pub[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE], secret[PSA_RAW_KEY_AGREEMENT_OUTPUT_MAX_SIZE];
    size_t len;
    psa_status_t s = psa_generate_key(&a, &id);
    if (s != PSA_SUCCESS) die("psa_generate_key", s);
    if ((s = psa_export_public_key(id, pub, sizeof pub, &len)) != PSA_SUCCESS) die("psa_export_public_key", s);
    if ((s = psa_raw_key_agreement(PSA_ALG_ECDH, id, peer, peer_len, secret, sizeof secret, &len)) != PSA_SUCCESS)
        die("psa_raw_key_agreement", s);
    psa_destroy_key(id);
}

/* A client's key share for the curve (PSA's format: the point). */
static size_t client_share(psa_ecc_family_t family, size_t bits, unsigned char *out, size_t cap)
{
    psa_key_attributes_t a = ecdh_attributes(family, bits);
    mbedtls_svc_key_id_t id;
    size_t len;
    if (psa_generate_key(&a, &id) != PSA_SUCCESS || psa_export_public_key(id, out, cap, &len) != PSA_SUCCESS)
        die("client key share", -1);
    psa_destroy_key(id);
    return len;
}

/* Forget verified signatures (certgate's PSA driver), so that the next
 * verification is a first one, as a CertificateVerify always is. */
static void forget_signatures(void)
{
#if defined(CERTGATE_PSA_DRIVER)
    cg_sig_cache_clear();
#endif
}

static void gen_key(mbedtls_pk_context *pk, int rsa)
{
    int err;
    mbedtls_pk_init(pk);
    if (rsa) {
        if ((err = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA))) != 0) die("pk_setup", err);
        if ((err = mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), mbedtls_ctr_drbg_random, &rng, 2048, 65537)) != 0)
            die("rsa_gen_key", err);
    } else {
        if ((err = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0) die("pk_setup", err);
        if ((err = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &rng)) != 0)
            die("ecp_gen_key", err);
    }
}

static void *idle_thread(void *unused)
{
    (void)unused;
    return NULL;
}

typedef struct {
    const char *name;
    double us;
} op_time;

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int json = 0, threaded = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--single-threaded") == 0)
            threaded = 0;
        else if (atof(argv[i]) > 0)
            seconds = atof(argv[i]);
        else {
            fprintf(stderr, "usage: cg-pk-floor [SECONDS per operation, default 1] [--json] [--single-threaded]\n");
            return 2;
        }
    }
    if (threaded) { /* the process stays multi-threaded for glibc once a thread was created */
        pthread_t t;
        if (pthread_create(&t, NULL, idle_thread, NULL) == 0)
            pthread_join(t, NULL);
    }
    if (psa_crypto_init() != PSA_SUCCESS)
        die("psa_crypto_init", -1);
    mbedtls_entropy_context entropy;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&rng);
    if (mbedtls_ctr_drbg_seed(&rng, mbedtls_entropy_func, &entropy, (const unsigned char *)"pk", 2) != 0)
        die("ctr_drbg_seed", -1);

    mbedtls_pk_context ec_key, rsa_key;
    gen_key(&ec_key, 0);
    gen_key(&rsa_key, 1);
    /* NSIGS different hashes and their signatures: a first-time verification
     * takes the next one, and the driver's table is emptied (untimed) each
     * time they have all been used. */
    static unsigned char hashes[NSIGS][32], sigs[NSIGS][MBEDTLS_PK_SIGNATURE_MAX_SIZE],
        sigs_rsa[NSIGS][MBEDTLS_PK_SIGNATURE_MAX_SIZE], sigs_pss[NSIGS][MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_lens[NSIGS], sig_rsa_len = mbedtls_pk_get_len(&rsa_key), sig_pss_len = sig_rsa_len;
    for (int i = 0; i < NSIGS; i++) {
        unsigned char seed[2] = { 'c', (unsigned char)i };
        mbedtls_sha256(seed, sizeof seed, hashes[i], 0);
        size_t l;
        if (mbedtls_pk_sign(&ec_key, MBEDTLS_MD_SHA256, hashes[i], 32, sigs[i], sizeof sigs[i], &sig_lens[i],
                            mbedtls_ctr_drbg_random, &rng) ||
            mbedtls_pk_sign(&rsa_key, MBEDTLS_MD_SHA256, hashes[i], 32, sigs_rsa[i], sizeof sigs_rsa[i], &l,
                            mbedtls_ctr_drbg_random, &rng))
            die("pk_sign", -1);
        if (mbedtls_rsa_set_padding(mbedtls_pk_rsa(rsa_key), MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA256) ||
            mbedtls_rsa_rsassa_pss_sign(mbedtls_pk_rsa(rsa_key), mbedtls_ctr_drbg_random, &rng, MBEDTLS_MD_SHA256, 32,
                                        hashes[i], sigs_pss[i]) ||
            mbedtls_rsa_set_padding(mbedtls_pk_rsa(rsa_key), MBEDTLS_RSA_PKCS_V15, MBEDTLS_MD_NONE))
            die("rsassa_pss_sign", -1);
    }
    unsigned char *hash = hashes[0], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    const mbedtls_pk_rsassa_pss_options pss = { MBEDTLS_MD_SHA256, MBEDTLS_RSA_SALT_LEN_ANY };
    unsigned char pub_der[256];
    int pub_len_i = mbedtls_pk_write_pubkey_der(&ec_key, pub_der, sizeof pub_der);
    if (pub_len_i <= 0) die("pk_write_pubkey_der", pub_len_i);
    size_t pub_len = (size_t)pub_len_i;
    unsigned char rsa_der[600];
    int rsa_der_len_i = mbedtls_pk_write_pubkey_der(&rsa_key, rsa_der, sizeof rsa_der);
    if (rsa_der_len_i <= 0) die("pk_write_pubkey_der rsa", rsa_der_len_i);
    size_t rsa_der_len = (size_t)rsa_der_len_i;
    unsigned char p256[128], x25519[64], p256_share[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE],
        x25519_share[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE];
    size_t p256_len = client_point(MBEDTLS_ECP_DP_SECP256R1, p256, sizeof p256);
    size_t x25519_len = client_point(MBEDTLS_ECP_DP_CURVE25519, x25519, sizeof x25519);
    size_t p256_share_len = client_share(PSA_ECC_FAMILY_SECP_R1, 256, p256_share, sizeof p256_share);
    size_t x25519_share_len = client_share(PSA_ECC_FAMILY_MONTGOMERY, 255, x25519_share, sizeof x25519_share);

    /* The server key as a PSA key, for the randomized-ECDSA row. */
    mbedtls_svc_key_id_t psa_ec_key;
    {
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
        psa_set_key_bits(&a, 256);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_HASH);
        psa_set_key_algorithm(&a, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
        if (psa_generate_key(&a, &psa_ec_key) != PSA_SUCCESS)
            die("psa_generate_key p256", -1);
    }
    enum {
        ECDSA_VERIFY, ECDSA_VERIFY_CACHED, ECDSA_VERIFY_LEGACY, ECDSA_PK_SIGN, ECDSA_SIGN, ECDSA_PSA_SIGN, RSA_VERIFY,
        RSA_VERIFY_LEGACY, RSA_PSS_VERIFY, ECDHE_X25519, ECDHE_P256, ECDHE_X25519_LEGACY, ECDHE_P256_LEGACY, N_OPS
    };
    op_time ops[N_OPS] = {
        {"ECDSA P-256 verify, first time (a new key)", 0},
        {"ECDSA P-256 verify, verified before", 0},
        {"ECDSA P-256 verify, legacy API (no PSA)", 0},
        {"ECDSA P-256 sign (mbedtls_pk_sign: TLS)", 0},
        {"ECDSA P-256 sign (legacy, in place)", 0},
        {"ECDSA P-256 sign, PSA key, randomized ECDSA", 0},
        {"RSA-2048 verify PKCS#1 v1.5, first time", 0},
        {"RSA-2048 verify PKCS#1 v1.5, legacy API", 0},
        {"RSA-2048 verify PSS, first time", 0},
        {"ECDHE X25519 via PSA (TLS 1.2 + 1.3)", 0},
        {"ECDHE P-256 via PSA (TLS 1.2 + 1.3)", 0},
        {"ECDHE X25519, legacy ECDH API", 0},
        {"ECDHE P-256, legacy ECDH API", 0},
    };
    /* A verification "first time" (a CertificateVerify, a chain not seen
     * before) takes a signature not verified before; "verified before" is
     * the same signature again (the leaf of a returning user's chain). */
    for (int op = 0; op < N_OPS; op++) {
        long n = 0;
        double start = now_us(), end, untimed = 0;
        int first_time = op == ECDSA_VERIFY || op == RSA_VERIFY || op == RSA_PSS_VERIFY;
        do {
            int err = 0, i = (int)(n % NSIGS);
            size_t l;
            if (first_time && i == 0) {
                double t0 = now_us();
                forget_signatures();
                untimed += now_us() - t0;
            }
            switch (op) {
            case ECDSA_VERIFY:
            case ECDSA_VERIFY_CACHED:
            case ECDSA_VERIFY_LEGACY: { /* a client's key is parsed for its handshake */
                mbedtls_pk_context fresh;
                mbedtls_pk_init(&fresh);
                err = mbedtls_pk_parse_public_key(&fresh, pub_der + sizeof pub_der - pub_len, pub_len);
                if (err)
                    ;
                else if (op == ECDSA_VERIFY_LEGACY)
                    err = mbedtls_ecdsa_read_signature(mbedtls_pk_ec(fresh), hashes[i], 32, sigs[i], sig_lens[i]);
                else if (op == ECDSA_VERIFY)
                    err = mbedtls_pk_verify(&fresh, MBEDTLS_MD_SHA256, hashes[i], 32, sigs[i], sig_lens[i]);
                else
                    err = mbedtls_pk_verify(&fresh, MBEDTLS_MD_SHA256, hashes[0], 32, sigs[0], sig_lens[0]);
                mbedtls_pk_free(&fresh);
                break;
            }
            case ECDSA_SIGN:
                err = mbedtls_ecdsa_write_signature(mbedtls_pk_ec(ec_key), MBEDTLS_MD_SHA256, hash, 32, sig, sizeof sig, &l,
                                                    mbedtls_ctr_drbg_random, &rng);
                break;
            case ECDSA_PSA_SIGN: /* what p256-m does (it has no deterministic ECDSA) */
                err = psa_sign_hash(psa_ec_key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, sizeof sig, &l) ==
                              PSA_SUCCESS ? 0 : -1;
                break;
            case ECDSA_PK_SIGN:
                err = mbedtls_pk_sign(&ec_key, MBEDTLS_MD_SHA256, hash, 32, sig, sizeof sig, &l, mbedtls_ctr_drbg_random, &rng);
                break;
            case RSA_VERIFY:
            case RSA_VERIFY_LEGACY:
            case RSA_PSS_VERIFY: { /* the client certificate's key, parsed for its handshake */
                mbedtls_pk_context fresh;
                mbedtls_pk_init(&fresh);
                err = mbedtls_pk_parse_public_key(&fresh, rsa_der + sizeof rsa_der - rsa_der_len, rsa_der_len);
                if (err)
                    ;
                else if (op == RSA_VERIFY)
                    err = mbedtls_pk_verify(&fresh, MBEDTLS_MD_SHA256, hashes[i], 32, sigs_rsa[i], sig_rsa_len);
                else if (op == RSA_VERIFY_LEGACY)
                    err = mbedtls_rsa_pkcs1_verify(mbedtls_pk_rsa(fresh), MBEDTLS_MD_SHA256, 32, hashes[i], sigs_rsa[i]);
                else
                    err = mbedtls_pk_verify_ext(MBEDTLS_PK_RSASSA_PSS, &pss, &fresh, MBEDTLS_MD_SHA256, hashes[i], 32,
                                                sigs_pss[i], sig_pss_len);
                mbedtls_pk_free(&fresh);
                break;
            }
            case ECDHE_X25519: ecdhe_psa_once(PSA_ECC_FAMILY_MONTGOMERY, 255, x25519_share, x25519_share_len); break;
            case ECDHE_P256: ecdhe_psa_once(PSA_ECC_FAMILY_SECP_R1, 256, p256_share, p256_share_len); break;
            case ECDHE_X25519_LEGACY: ecdhe_legacy_once(MBEDTLS_ECP_DP_CURVE25519, x25519, x25519_len); break;
            case ECDHE_P256_LEGACY: ecdhe_legacy_once(MBEDTLS_ECP_DP_SECP256R1, p256, p256_len); break;
            }
            if (err) die(ops[op].name, err);
            n++;
            end = now_us();
        } while (end - start - untimed < seconds * 1e6);
        ops[op].us = (end - start - untimed) / n;
        if (!json)
            printf("%-44s %9.1f us  (%.0f/s)\n", ops[op].name, ops[op].us, 1e6 / ops[op].us);
    }

    /* What a full handshake needs on the server (ECDSA server key, client
     * certificate), TLS 1.2 and 1.3 alike: ECDHE X25519 through PSA, the
     * server's signature (ServerKeyExchange / CertificateVerify), the client's
     * CertificateVerify (RSA: PKCS#1 v1.5 in TLS 1.2, PSS in TLS 1.3). Then
     * the client's chain (ECDSA P-256 CAs in both bench profiles): a
     * returning user's chain stops at its learned CA (src/x509/chain_cache.h)
     * and its leaf's signature was verified before; a first visit verifies
     * leaf and intermediate. */
    double base = ops[ECDHE_X25519].us + ops[ECDSA_PK_SIGN].us;
    double returning = ops[ECDSA_VERIFY_CACHED].us, first = 2 * ops[ECDSA_VERIFY].us;
    double f12_ec = base + ops[ECDSA_VERIFY].us, f12_rsa = base + ops[RSA_VERIFY].us;
    double f13_ec = base + ops[ECDSA_VERIFY].us, f13_rsa = base + ops[RSA_PSS_VERIFY].us;
    /* No quote in these: bench/run embeds the JSON in a single-quoted string. */
    const char *driver =
#if defined(CERTGATE_PSA_DRIVER)
        "certgate";
#else
        "none";
#endif
    if (json) {
        printf("{\"ecdsa_verify_us\": %.1f, \"ecdsa_verify_cached_us\": %.1f, \"ecdsa_sign_us\": %.1f, "
               "\"ecdsa_pk_sign_us\": %.1f, \"ecdsa_legacy_sign_us\": %.1f, \"ecdsa_psa_sign_us\": %.1f, \"rsa_verify_us\": %.1f, "
               "\"rsa_pss_verify_us\": %.1f, \"ecdhe_p256_us\": %.1f, \"ecdhe_x25519_us\": %.1f, "
               "\"ecdhe_p256_legacy_us\": %.1f, \"ecdhe_x25519_legacy_us\": %.1f, "
               "\"floor_tls12\": {\"ecdsa\": %.1f, \"rsa\": %.1f}, \"floor_tls13\": {\"ecdsa\": %.1f, \"rsa\": %.1f}, "
               "\"returning_chain_us\": %.1f, \"first_chain_us\": %.1f, \"driver\": \"%s\", \"p256m\": %s, "
               "\"threaded\": %s}\n",
               ops[ECDSA_VERIFY].us, ops[ECDSA_VERIFY_CACHED].us, ops[ECDSA_PK_SIGN].us, ops[ECDSA_PK_SIGN].us,
               ops[ECDSA_SIGN].us, ops[ECDSA_PSA_SIGN].us, ops[RSA_VERIFY].us, ops[RSA_PSS_VERIFY].us, ops[ECDHE_P256].us,
               ops[ECDHE_X25519].us, ops[ECDHE_P256_LEGACY].us, ops[ECDHE_X25519_LEGACY].us, f12_ec, f12_rsa, f13_ec,
               f13_rsa, returning, first, driver,
#if defined(MBEDTLS_PSA_P256M_DRIVER_ENABLED)
               "true",
#else
               "false",
#endif
               threaded ? "true" : "false");
        goto out;
    }
    printf("\nfloor per full handshake (server side, ECDSA server key, PSA driver: %s), returning user / first visit:\n",
           driver);
    const char *x25519_by =
#if defined(CERTGATE_PSA_DRIVER)
        "libsodium in the driver";
#else
        "mbedTLS";
#endif
    printf("floor tls1.2 ecdsa=%.0f rsa=%.0f  first_visit ecdsa=%.0f rsa=%.0f"
           "  (ECDHE X25519 via PSA: %s; ECDSA sign; CertificateVerify ECDSA / RSA PKCS#1 v1.5)\n",
           f12_ec + returning, f12_rsa + returning, f12_ec + first, f12_rsa + first, x25519_by);
    printf("floor tls1.3 ecdsa=%.0f rsa=%.0f  first_visit ecdsa=%.0f rsa=%.0f"
           "  (ECDHE X25519 via PSA: %s; ECDSA sign; CertificateVerify ECDSA / RSA-PSS)\n",
           f13_ec + returning, f13_rsa + returning, f13_ec + first, f13_rsa + first, x25519_by);
out:
    psa_destroy_key(psa_ec_key);
    mbedtls_pk_free(&ec_key);
    mbedtls_pk_free(&rsa_key);
    mbedtls_ctr_drbg_free(&rng);
    mbedtls_entropy_free(&entropy);
    return 0;
}
