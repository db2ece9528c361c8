/* cg-pk-floor: the public-key floor of a TLS 1.2 full handshake with mbedTLS on this machine.
 *
 * Times, with the library certgate links, each public-key operation a server-side mutual-TLS
 * handshake needs, done as cheaply as mbedTLS allows it in a server: a fresh ECDH context
 * and group per handshake (as the handshake must), the server's signature on its loaded key in
 * place (mbedtls_ecdsa_write_signature; mbedTLS 3.6's mbedtls_pk_sign does the same), the client's
 * CertificateVerify with a key parsed for it. Then their sum per profile. By default the process
 * has a second thread, as a server with worker and pool threads has: glibc's allocator then takes
 * its locked paths, which mbedTLS's bignum code exercises heavily (--single-threaded: not).
 * bench/run prints the floor next to the measured CPU per handshake; see bench/README.md. A
 * benchmark: no verdict. */
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

/* One ECDHE key exchange as the server does it: new context, group load, key generation
 * (ServerKeyExchange), then the shared secret from the client's point. */
static void ecdhe_once(mbedtls_ecp_group_id gid, const unsigned char *peer, size_t peer_len)
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

/* A client's public point for the curve, in TLS ClientKeyExchange form. */
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
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], sig_rsa[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len, sig_rsa_len;
    mbedtls_sha256((const unsigned char *)"certgate", 8, hash, 0);
    if (mbedtls_pk_sign(&ec_key, MBEDTLS_MD_SHA256, hash, 32, sig, sizeof sig, &sig_len, mbedtls_ctr_drbg_random, &rng))
        die("pk_sign", -1);
    if (mbedtls_pk_sign(&rsa_key, MBEDTLS_MD_SHA256, hash, 32, sig_rsa, sizeof sig_rsa, &sig_rsa_len, mbedtls_ctr_drbg_random, &rng))
        die("pk_sign rsa", -1);
    unsigned char pub_der[256];
    int pub_len_i = mbedtls_pk_write_pubkey_der(&ec_key, pub_der, sizeof pub_der);
    if (pub_len_i <= 0) die("pk_write_pubkey_der", pub_len_i);
    size_t pub_len = (size_t)pub_len_i;
    unsigned char p256[128], x25519[64];
    size_t p256_len = client_point(MBEDTLS_ECP_DP_SECP256R1, p256, sizeof p256);
    size_t x25519_len = client_point(MBEDTLS_ECP_DP_CURVE25519, x25519, sizeof x25519);

    enum { ECDSA_VERIFY, ECDSA_SIGN, ECDSA_PK_SIGN, RSA_VERIFY, ECDHE_P256, ECDHE_X25519, N_OPS };
    op_time ops[N_OPS] = {
        {"ECDSA P-256 verify (a new key)", 0}, {"ECDSA P-256 sign (server key, in place)", 0},
        {"ECDSA P-256 sign (through mbedtls_pk_sign)", 0}, {"RSA-2048 verify", 0},
        {"ECDHE P-256 (keygen + shared secret)", 0}, {"ECDHE X25519 (keygen + shared secret)", 0},
    };
    for (int op = 0; op < N_OPS; op++) {
        long n = 0;
        double start = now_us(), end;
        do {
            int err = 0;
            size_t l;
            switch (op) {
            case ECDSA_VERIFY: { /* a client's key is parsed for its handshake: no table yet */
                mbedtls_pk_context fresh;
                mbedtls_pk_init(&fresh);
                err = mbedtls_pk_parse_public_key(&fresh, pub_der + sizeof pub_der - pub_len, pub_len);
                if (!err)
                    err = mbedtls_pk_verify(&fresh, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len);
                mbedtls_pk_free(&fresh);
                break;
            }
            case ECDSA_SIGN:
                err = mbedtls_ecdsa_write_signature(mbedtls_pk_ec(ec_key), MBEDTLS_MD_SHA256, hash, 32, sig, sizeof sig, &l,
                                                    mbedtls_ctr_drbg_random, &rng);
                break;
            case ECDSA_PK_SIGN:
                err = mbedtls_pk_sign(&ec_key, MBEDTLS_MD_SHA256, hash, 32, sig, sizeof sig, &l, mbedtls_ctr_drbg_random, &rng);
                break;
            case RSA_VERIFY:
                err = mbedtls_pk_verify(&rsa_key, MBEDTLS_MD_SHA256, hash, 32, sig_rsa, sig_rsa_len);
                break;
            case ECDHE_P256: ecdhe_once(MBEDTLS_ECP_DP_SECP256R1, p256, p256_len); break;
            case ECDHE_X25519: ecdhe_once(MBEDTLS_ECP_DP_CURVE25519, x25519, x25519_len); break;
            }
            if (err) die(ops[op].name, err);
            n++;
            end = now_us();
        } while (end - start < seconds * 1e6);
        ops[op].us = (end - start) / n;
        if (!json)
            printf("%-40s %9.1f us  (%.0f/s)\n", ops[op].name, ops[op].us, 1e6 / ops[op].us);
    }
    if (json) {
        printf("{\"ecdsa_verify_us\": %.1f, \"ecdsa_sign_us\": %.1f, \"ecdsa_pk_sign_us\": %.1f, "
               "\"rsa_verify_us\": %.1f, \"ecdhe_p256_us\": %.1f, \"ecdhe_x25519_us\": %.1f, \"threaded\": %s}\n",
               ops[ECDSA_VERIFY].us, ops[ECDSA_SIGN].us, ops[ECDSA_PK_SIGN].us, ops[RSA_VERIFY].us,
               ops[ECDHE_P256].us, ops[ECDHE_X25519].us, threaded ? "true" : "false");
        goto out;
    }

    /* What a full handshake needs on the server (TLS 1.2, ECDHE-ECDSA, client certificate),
     * with the client chain already verified (cached) and without: CertificateVerify is always
     * checked, the chain signatures (leaf by intermediate, intermediate by root) only the first
     * time. The CAs are ECDSA P-256 in both bench profiles. */
    double base_p256 = ops[ECDHE_P256].us + ops[ECDSA_SIGN].us;
    double base_x = ops[ECDHE_X25519].us + ops[ECDSA_SIGN].us;
    double chain = 2 * ops[ECDSA_VERIFY].us;
    printf("\nfloor per full handshake (server side), cached chain / chain verified too:\n");
    printf("floor ecdsa  p256=%.0f x25519=%.0f  uncached_p256=%.0f uncached_x25519=%.0f\n",
           base_p256 + ops[ECDSA_VERIFY].us, base_x + ops[ECDSA_VERIFY].us,
           base_p256 + ops[ECDSA_VERIFY].us + chain, base_x + ops[ECDSA_VERIFY].us + chain);
    printf("floor rsa    p256=%.0f x25519=%.0f  uncached_p256=%.0f uncached_x25519=%.0f\n",
           base_p256 + ops[RSA_VERIFY].us, base_x + ops[RSA_VERIFY].us,
           base_p256 + ops[RSA_VERIFY].us + chain, base_x + ops[RSA_VERIFY].us + chain);
out:
    mbedtls_pk_free(&ec_key);
    mbedtls_pk_free(&rsa_key);
    mbedtls_ctr_drbg_free(&rng);
    mbedtls_entropy_free(&entropy);
    return 0;
}
