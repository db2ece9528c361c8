/* check_mbedtls_config: the mbedTLS certgate is linked with does what
 * certgate needs of it (tests/meson.build, suite "platform"; built only with
 * -Dmbedtls=bundled or system, against the mbedTLS 3.6 API).
 *
 *   check_mbedtls_config VERSION [--bundled]
 *
 * VERSION: what mbedtls_version_get_string() must say (the pin's, or the
 * system library's). Always checked: the compiled-in options certgate needs
 * (mbedtls_version_check_feature reads the library's own table, so this is
 * the library as built, not a header), X25519 and P-256 key agreement through
 * PSA, and in-memory handshakes with client certificates: TLS 1.3 with X25519
 * (a session ticket issued), TLS 1.3 with P-256, TLS 1.2 ECDHE-ECDSA with
 * X25519 (through PSA, like TLS 1.3) and with P-256, the group read from the wire. --bundled adds certgate's own choices (subprojects/mbedtls/include/
 * certgate_mbedtls_config.h): Everest, the speed options, variable buffers,
 * what is off, and no clock in the TLS 1.2 ServerHello.random; and
 * certgate's PSA driver: X25519 of both TLS versions reaches it,
 * verifications of the handshakes go through its cache, and the records of an
 * AES-GCM suite (TLS 1.3 AES-128, TLS 1.2 AES-256) through its AES-GCM, those
 * of ChaCha20-Poly1305 (the other two runs) not.
 * Always: RFC 7748's X25519 test vector through PSA, and a small-order peer
 * point (an all-zero shared secret) refused.
 * Prints one line per check, "N passed, N failed"; exits 1 on a failure.
 */
#include <mbedtls/build_info.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>
#if defined(CERTGATE_PSA_DRIVER)
#include "certgate_psa_driver.h"
#include "certgate_psa_aead.h"
#include "certgate_record_key.h"
#include "gcm_fast.h"
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned passed, failed;

static void check(bool ok, const char *what, const char *detail)
{
    printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail && *detail ? ": " : "", detail ? detail : "");
    if (ok)
        passed++;
    else
        failed++;
}

static const char *err_text(int err)
{
    static char buf[160];
    char e[128];
    mbedtls_strerror(err, e, sizeof e);
    snprintf(buf, sizeof buf, "-0x%04x %s", (unsigned)-err, e);
    return buf;
}

/* ---- options compiled into the library ----------------------------------- */

static const char *const needed[] = {
    "MBEDTLS_SSL_PROTO_TLS1_2", "MBEDTLS_SSL_PROTO_TLS1_3", "MBEDTLS_SSL_SRV_C", "MBEDTLS_SSL_CLI_C",
    "MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED",
    "MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED",
    "MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED", "MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED",
    "MBEDTLS_SSL_SESSION_TICKETS", "MBEDTLS_SSL_TICKET_C", "MBEDTLS_SSL_EXTENDED_MASTER_SECRET",
    "MBEDTLS_SSL_KEEP_PEER_CERTIFICATE", "MBEDTLS_SSL_SERVER_NAME_INDICATION", "MBEDTLS_SSL_ALPN",
    "MBEDTLS_THREADING_C", "MBEDTLS_THREADING_PTHREAD", "MBEDTLS_PSA_CRYPTO_C",
    "MBEDTLS_HAVE_TIME", "MBEDTLS_HAVE_TIME_DATE", "MBEDTLS_FS_IO",
    "MBEDTLS_GCM_C", "MBEDTLS_CHACHAPOLY_C", "MBEDTLS_HKDF_C", "MBEDTLS_SHA1_C", "MBEDTLS_SHA512_C",
    "MBEDTLS_PKCS1_V15", "MBEDTLS_PKCS1_V21", "MBEDTLS_X509_RSASSA_PSS_SUPPORT",
    "MBEDTLS_X509_CRL_PARSE_C", "MBEDTLS_X509_CRT_WRITE_C", "MBEDTLS_PK_WRITE_C", "MBEDTLS_PEM_WRITE_C",
    "MBEDTLS_GENPRIME", "MBEDTLS_ECP_DP_CURVE25519_ENABLED", "MBEDTLS_ECP_DP_SECP256R1_ENABLED",
    "MBEDTLS_ECP_DP_SECP384R1_ENABLED", "MBEDTLS_ERROR_C",
};
/* certgate's configuration (--bundled) */
static const char *const bundled_on[] = {
    "MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED", "MBEDTLS_ECP_NIST_OPTIM", "MBEDTLS_AESNI_C",
    "MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH", "MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE", "MBEDTLS_USE_PSA_CRYPTO",
    "MBEDTLS_PSA_ASSUME_EXCLUSIVE_BUFFERS", "MBEDTLS_PLATFORM_MEMORY",
};
static const char *const bundled_off[] = {
    "MBEDTLS_SSL_RENEGOTIATION", "MBEDTLS_SSL_PROTO_DTLS", "MBEDTLS_SSL_EARLY_DATA", "MBEDTLS_CIPHER_MODE_CBC",
    "MBEDTLS_SSL_ENCRYPT_THEN_MAC", "MBEDTLS_KEY_EXCHANGE_RSA_ENABLED", "MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED",
    "MBEDTLS_KEY_EXCHANGE_PSK_ENABLED", "MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ENABLED", "MBEDTLS_DES_C",
    "MBEDTLS_DEBUG_C", "MBEDTLS_SELF_TEST", "MBEDTLS_PK_PARSE_EC_EXTENDED",
    "MBEDTLS_PSA_CRYPTO_STORAGE_C", "MBEDTLS_SSL_CACHE_C",
};

static void check_features(bool bundled)
{
    char what[160];
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        snprintf(what, sizeof what, "built with %s", needed[i]);
        check(mbedtls_version_check_feature(needed[i]) == 0, what, NULL);
    }
    if (!bundled)
        return;
    for (size_t i = 0; i < sizeof bundled_on / sizeof bundled_on[0]; i++) {
        snprintf(what, sizeof what, "certgate's configuration: built with %s", bundled_on[i]);
        check(mbedtls_version_check_feature(bundled_on[i]) == 0, what, NULL);
    }
    for (size_t i = 0; i < sizeof bundled_off / sizeof bundled_off[0]; i++) {
        snprintf(what, sizeof what, "certgate's configuration: built without %s", bundled_off[i]);
        check(mbedtls_version_check_feature(bundled_off[i]) == -1, what, NULL);
    }
    /* Value options are not in the feature table: the dependency's define
     * (MBEDTLS_CONFIG_FILE) must carry them to every user of the headers. */
#if defined(MBEDTLS_ECP_FIXED_POINT_OPTIM) && MBEDTLS_ECP_FIXED_POINT_OPTIM == 1 && MBEDTLS_ECP_WINDOW_SIZE == 6
    check(true, "certgate's configuration seen by its users (fixed-point ECP, window 6)", NULL);
#else
    check(false, "certgate's configuration seen by its users (fixed-point ECP, window 6)",
          "MBEDTLS_CONFIG_FILE is not certgate_mbedtls_config.h here");
#endif
}

/* ---- PSA key agreement --------------------------------------------------- */

static bool psa_agree(psa_ecc_family_t family, size_t bits, const char *name)
{
    psa_key_id_t k[2] = { 0, 0 };
    uint8_t pub[2][160], secret[2][66];
    size_t pub_len[2], secret_len[2];
    char detail[96] = "";
    bool ok = true;
    for (int i = 0; i < 2 && ok; i++) {
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(family));
        psa_set_key_bits(&a, bits);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE);
        psa_set_key_algorithm(&a, PSA_ALG_ECDH);
        psa_status_t s = psa_generate_key(&a, &k[i]);
        if (s == PSA_SUCCESS)
            s = psa_export_public_key(k[i], pub[i], sizeof pub[i], &pub_len[i]);
        if (s != PSA_SUCCESS) {
            snprintf(detail, sizeof detail, "key %d: psa status %d", i, (int)s);
            ok = false;
        }
    }
    for (int i = 0; i < 2 && ok; i++) {
        psa_status_t s = psa_raw_key_agreement(PSA_ALG_ECDH, k[i], pub[1 - i], pub_len[1 - i], secret[i],
                                               sizeof secret[i], &secret_len[i]);
        if (s != PSA_SUCCESS) {
            snprintf(detail, sizeof detail, "agreement %d: psa status %d", i, (int)s);
            ok = false;
        }
    }
    if (ok && (secret_len[0] != secret_len[1] || secret_len[0] != PSA_BITS_TO_BYTES(bits) ||
               memcmp(secret[0], secret[1], secret_len[0]) != 0)) {
        snprintf(detail, sizeof detail, "the two sides computed different secrets");
        ok = false;
    }
    psa_destroy_key(k[0]);
    psa_destroy_key(k[1]);
    char what[96];
    snprintf(what, sizeof what, "%s key agreement through PSA", name);
    check(ok, what, detail);
    return ok;
}

/* ---- in-memory TLS ----------------------------------------------------------- */

static mbedtls_ctr_drbg_context drbg;

typedef struct pipe_buf {
    unsigned char data[64 * 1024];
    size_t len;
    unsigned char first[8192]; /* the first bytes ever written: the server's first flight */
    size_t first_len;
} pipe_buf;

/* One side's ends of the two pipes. */
typedef struct pipe_ends {
    pipe_buf *out, *in;
} pipe_ends;

static int pipe_send(void *ctx, const unsigned char *buf, size_t len)
{
    pipe_buf *p = ((pipe_ends *)ctx)->out;
    if (len > sizeof p->data - p->len)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    memcpy(p->data + p->len, buf, len);
    p->len += len;
    for (size_t i = 0; i < len && p->first_len < sizeof p->first; i++)
        p->first[p->first_len++] = buf[i];
    return (int)len;
}

static int pipe_recv(void *ctx, unsigned char *buf, size_t len)
{
    pipe_buf *p = ((pipe_ends *)ctx)->in;
    if (p->len == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = len < p->len ? len : p->len;
    memcpy(buf, p->data, n);
    memmove(p->data, p->data + n, p->len - n);
    p->len -= n;
    return (int)n;
}

static bool retry(int ret)
{
    return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* A P-256 key and a self-signed certificate for it (CA:TRUE, so that the
 * other side can trust it as its anchor). */
typedef struct party {
    mbedtls_pk_context key;
    mbedtls_x509_crt crt;
} party;

static int make_party(party *pt, const char *subject)
{
    unsigned char der[2048];
    mbedtls_x509write_cert w;
    int ret;
    mbedtls_pk_init(&pt->key);
    mbedtls_x509_crt_init(&pt->crt);
    mbedtls_x509write_crt_init(&w);
    static const unsigned char serial[] = { 0x01, 0x23 };
    if ((ret = mbedtls_pk_setup(&pt->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
        (ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pt->key), mbedtls_ctr_drbg_random,
                                   &drbg)) != 0)
        goto out;
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &pt->key);
    mbedtls_x509write_crt_set_issuer_key(&w, &pt->key);
    if ((ret = mbedtls_x509write_crt_set_serial_raw(&w, (unsigned char *)serial, sizeof serial)) != 0 ||
        (ret = mbedtls_x509write_crt_set_subject_name(&w, subject)) != 0 ||
        (ret = mbedtls_x509write_crt_set_issuer_name(&w, subject)) != 0 ||
        (ret = mbedtls_x509write_crt_set_validity(&w, "20200101000000", "20491231235959")) != 0 ||
        (ret = mbedtls_x509write_crt_set_basic_constraints(&w, 1, -1)) != 0)
        goto out;
    ret = mbedtls_x509write_crt_der(&w, der, sizeof der, mbedtls_ctr_drbg_random, &drbg);
    if (ret < 0)
        goto out;
    ret = mbedtls_x509_crt_parse_der(&pt->crt, der + sizeof der - (size_t)ret, (size_t)ret);
out:
    mbedtls_x509write_crt_free(&w);
    return ret;
}

static void free_party(party *pt)
{
    mbedtls_pk_free(&pt->key);
    mbedtls_x509_crt_free(&pt->crt);
}

typedef struct hs_result {
    bool ok;
    char detail[200];
    int version;                  /* mbedtls_ssl_protocol_version */
    char suite[64];
    bool server_saw_client_cert;  /* verified, and kept for the mapping */
    bool client_got_ticket;
    unsigned char server_random[4]; /* ServerHello.random's first four bytes */
    uint16_t tls12_group;           /* of the TLS 1.2 ServerKeyExchange; 0: none */
    uint32_t server_verify_result;  /* mbedtls_ssl_get_verify_result() of the server */
} hs_result;

/* The server's verification callback counts its calls; a run may also give
 * the server a TLS 1.3 peer chain hook (certgate's patch 0004) that answers
 * hook_answer (-1: no hook) and checks it is handed the client's chain. */
static unsigned vrfy_calls;
#if defined(MBEDTLS_SSL_TLS13_PEER_CHAIN_HOOK)
static unsigned hook_calls, hook_wrong_chain;
static int hook_answer = -1;
static const mbedtls_x509_crt *hook_expect;
#endif

static int count_vrfy(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)p, (void)crt, (void)depth, (void)flags;
    vrfy_calls++;
    return 0;
}

#if defined(MBEDTLS_SSL_TLS13_PEER_CHAIN_HOOK)
static int answer_hook(void *p, mbedtls_ssl_context *ssl, const mbedtls_x509_crt *chain)
{
    (void)p, (void)ssl;
    hook_calls++;
    if (!chain || chain->raw.len != hook_expect->raw.len || memcmp(chain->raw.p, hook_expect->raw.p, chain->raw.len))
        hook_wrong_chain++;
    return hook_answer;
}
#endif

/* The named group of the TLS 1.2 ServerKeyExchange in the server's first
 * flight (plaintext handshake records), or 0. */
static uint16_t tls12_ske_group(const unsigned char *flight, size_t len)
{
    static unsigned char hs[8192];
    size_t n = 0;
    for (size_t at = 0; at + 5 <= len;) { /* handshake records, joined */
        size_t rlen = (size_t)flight[at + 3] << 8 | flight[at + 4];
        if (flight[at] != 22 || at + 5 + rlen > len || n + rlen > sizeof hs)
            break;
        memcpy(hs + n, flight + at + 5, rlen);
        n += rlen;
        at += 5 + rlen;
    }
    for (size_t at = 0; at + 4 <= n;) {
        size_t mlen = (size_t)hs[at + 1] << 16 | (size_t)hs[at + 2] << 8 | hs[at + 3];
        if (at + 4 + mlen > n)
            break;
        if (hs[at] == 12 && mlen >= 3 && hs[at + 4] == 3) /* server_key_exchange, named_curve */
            return (uint16_t)(hs[at + 5] << 8 | hs[at + 6]);
        at += 4 + mlen;
    }
    return 0;
}

/* Run after the request and its answer when set (check_release_buffers):
 * false with a detail fails the handshake's run. */
typedef bool after_exchange_fn(mbedtls_ssl_context *srv, mbedtls_ssl_context *cli, pipe_buf *to_srv,
                               char *detail, size_t cap);
static after_exchange_fn *after_exchange;
/* Both sides' cipher suites for the next handshake (the TLS 1.3 server of
 * mbedTLS follows the client's order); NULL: mbedTLS's defaults (ChaCha20
 * first). */
static const int *run_suites;

/* One handshake with client certificates, both sides on VERSION only and
 * the key exchange on GROUP, then one request and its answer. */
static void handshake(party *srv_pt, party *cli_pt, mbedtls_ssl_protocol_version version, uint16_t group,
                      hs_result *r)
{
    static pipe_buf to_srv, to_cli;
    mbedtls_ssl_config sconf, cconf;
    mbedtls_ssl_context srv, cli;
    mbedtls_ssl_ticket_context tickets;
    /* Both sides name GROUP first and the other one second. TLS 1.2 needs
     * P-256 in both lists whatever the key exchange: each side refuses a peer
     * certificate on a curve outside its own group list (mbedTLS's
     * mbedtls_ssl_check_curve), and the TLS 1.2 server takes the first group
     * of its own list the client offers. TLS 1.3 offers GROUP alone. */
    const uint16_t other = group == MBEDTLS_SSL_IANA_TLS_GROUP_X25519 ? MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1
                                                                      : MBEDTLS_SSL_IANA_TLS_GROUP_X25519;
    const uint16_t groups[] = { group, version == MBEDTLS_SSL_VERSION_TLS1_2 ? other : MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
                                MBEDTLS_SSL_IANA_TLS_GROUP_NONE };
    int ret = 0;
    memset(r, 0, sizeof *r);
    memset(&to_srv, 0, sizeof to_srv);
    memset(&to_cli, 0, sizeof to_cli);
    mbedtls_ssl_config_init(&sconf);
    mbedtls_ssl_config_init(&cconf);
    mbedtls_ssl_init(&srv);
    mbedtls_ssl_init(&cli);
    mbedtls_ssl_ticket_init(&tickets);

    struct { mbedtls_ssl_config *conf; int endpoint; party *own, *peer; } side[2] = {
        { &sconf, MBEDTLS_SSL_IS_SERVER, srv_pt, cli_pt },
        { &cconf, MBEDTLS_SSL_IS_CLIENT, cli_pt, srv_pt },
    };
    for (int i = 0; i < 2; i++) {
        if ((ret = mbedtls_ssl_config_defaults(side[i].conf, side[i].endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                               MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
            snprintf(r->detail, sizeof r->detail, "config_defaults: %s", err_text(ret));
            goto out;
        }
        mbedtls_ssl_conf_rng(side[i].conf, mbedtls_ctr_drbg_random, &drbg);
        mbedtls_ssl_conf_min_tls_version(side[i].conf, version);
        mbedtls_ssl_conf_max_tls_version(side[i].conf, version);
        mbedtls_ssl_conf_groups(side[i].conf, groups);
        mbedtls_ssl_conf_authmode(side[i].conf, MBEDTLS_SSL_VERIFY_REQUIRED);
        mbedtls_ssl_conf_ca_chain(side[i].conf, &side[i].peer->crt, NULL);
        if ((ret = mbedtls_ssl_conf_own_cert(side[i].conf, &side[i].own->crt, &side[i].own->key)) != 0) {
            snprintf(r->detail, sizeof r->detail, "own_cert: %s", err_text(ret));
            goto out;
        }
    }
    if ((ret = mbedtls_ssl_ticket_setup(&tickets, mbedtls_ctr_drbg_random, &drbg, MBEDTLS_CIPHER_AES_256_GCM,
                                        3600)) != 0) {
        snprintf(r->detail, sizeof r->detail, "ticket_setup: %s", err_text(ret));
        goto out;
    }
    mbedtls_ssl_conf_session_tickets_cb(&sconf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &tickets);
    if (run_suites) {
        mbedtls_ssl_conf_ciphersuites(&sconf, run_suites);
        mbedtls_ssl_conf_ciphersuites(&cconf, run_suites);
    }
#if MBEDTLS_VERSION_NUMBER >= 0x03060100
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&cconf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
#endif
    if ((ret = mbedtls_ssl_setup(&srv, &sconf)) != 0 || (ret = mbedtls_ssl_setup(&cli, &cconf)) != 0 ||
        (ret = mbedtls_ssl_set_hostname(&cli, "server.certgate.test")) != 0) {
        snprintf(r->detail, sizeof r->detail, "setup: %s", err_text(ret));
        goto out;
    }
    mbedtls_ssl_set_verify(&srv, count_vrfy, NULL);
#if defined(MBEDTLS_SSL_TLS13_PEER_CHAIN_HOOK)
    if (hook_answer != -1)
        mbedtls_ssl_set_tls13_peer_chain_hook(&srv, answer_hook, NULL);
#endif
    pipe_ends srv_io = { &to_cli, &to_srv }, cli_io = { &to_srv, &to_cli };
    mbedtls_ssl_set_bio(&srv, &srv_io, pipe_send, pipe_recv, NULL);
    mbedtls_ssl_set_bio(&cli, &cli_io, pipe_send, pipe_recv, NULL);

    int sret = 1, cret = 1;
    for (int round = 0; round < 64 && (sret != 0 || cret != 0); round++) {
        if (cret != 0 && (cret = mbedtls_ssl_handshake(&cli)) != 0 && !retry(cret)) {
            snprintf(r->detail, sizeof r->detail, "client handshake: %s", err_text(cret));
            goto out;
        }
        if (sret != 0 && (sret = mbedtls_ssl_handshake(&srv)) != 0 && !retry(sret)) {
            snprintf(r->detail, sizeof r->detail, "server handshake: %s", err_text(sret));
            goto out;
        }
    }
    if (sret != 0 || cret != 0) {
        snprintf(r->detail, sizeof r->detail, "the handshake did not finish in 64 rounds");
        goto out;
    }
    if (to_cli.first_len >= 15)
        memcpy(r->server_random, to_cli.first + 11, 4); /* record 5, handshake 4, version 2 */
    r->tls12_group = tls12_ske_group(to_cli.first, to_cli.first_len);
    r->version = (int)mbedtls_ssl_get_version_number(&srv);
    snprintf(r->suite, sizeof r->suite, "%s", mbedtls_ssl_get_ciphersuite(&srv));
    r->server_verify_result = mbedtls_ssl_get_verify_result(&srv);
    r->server_saw_client_cert = r->server_verify_result == 0 && mbedtls_ssl_get_peer_cert(&srv) != NULL;
    if (mbedtls_ssl_get_verify_result(&cli) != 0) {
        snprintf(r->detail, sizeof r->detail, "the client did not verify the server's certificate");
        goto out;
    }

    /* A request and its answer; the client meets the TLS 1.3 ticket on the way. */
    unsigned char buf[16];
    if ((ret = mbedtls_ssl_write(&cli, (const unsigned char *)"ping", 4)) != 4) {
        snprintf(r->detail, sizeof r->detail, "client write: %s", err_text(ret));
        goto out;
    }
    ret = MBEDTLS_ERR_SSL_WANT_READ;
    for (int round = 0; round < 8 && retry(ret); round++)
        ret = mbedtls_ssl_read(&srv, buf, sizeof buf);
    if (ret != 4 || memcmp(buf, "ping", 4) != 0) {
        snprintf(r->detail, sizeof r->detail, "server read: %s", ret < 0 ? err_text(ret) : "wrong bytes");
        goto out;
    }
    if ((ret = mbedtls_ssl_write(&srv, (const unsigned char *)"pong", 4)) != 4) {
        snprintf(r->detail, sizeof r->detail, "server write: %s", err_text(ret));
        goto out;
    }
    ret = MBEDTLS_ERR_SSL_WANT_READ;
    for (int round = 0; round < 8 && (retry(ret) || ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET); round++) {
        ret = mbedtls_ssl_read(&cli, buf, sizeof buf);
        if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            r->client_got_ticket = true;
    }
    if (ret != 4 || memcmp(buf, "pong", 4) != 0) {
        snprintf(r->detail, sizeof r->detail, "client read: %s", ret < 0 ? err_text(ret) : "wrong bytes");
        goto out;
    }
    if (after_exchange && !after_exchange(&srv, &cli, &to_srv, r->detail, sizeof r->detail))
        goto out;
    r->ok = true;
out:
    mbedtls_ssl_free(&srv);
    mbedtls_ssl_free(&cli);
    mbedtls_ssl_config_free(&sconf);
    mbedtls_ssl_config_free(&cconf);
    mbedtls_ssl_ticket_free(&tickets);
}

/* |a - b| is within a day either side */
static bool near_now(const unsigned char b[4], time_t now)
{
    uint32_t t = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    int64_t d = (int64_t)t - (int64_t)(uint32_t)now;
    return d > -86400 && d < 86400;
}

/* certgate's patch 0004: the TLS 1.3 server hands the parsed client chain
 * to the hook before verifying it, and verifies it (0), does not (SKIP_VERIFY:
 * the result says so, the callback is not called, the handshake completes),
 * or fails the handshake (a negative answer). */
static void check_peer_chain_hook(bool bundled, party *srv_pt, party *cli_pt)
{
#if defined(MBEDTLS_SSL_TLS13_PEER_CHAIN_HOOK)
    (void)bundled;
    static const struct {
        int answer;
        const char *what;
    } runs[] = {
        { 0, "certgate's patch 0004: TLS 1.3 chain hook answering 0, the chain verified as usual" },
        { MBEDTLS_SSL_TLS13_PEER_CHAIN_SKIP_VERIFY,
          "certgate's patch 0004: TLS 1.3 chain hook answering SKIP_VERIFY, the handshake completes unverified" },
        { MBEDTLS_ERR_SSL_INTERNAL_ERROR, "certgate's patch 0004: TLS 1.3 chain hook answering an error fails the handshake" },
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        hs_result r;
        char detail[300];
        hook_answer = runs[i].answer;
        hook_expect = &cli_pt->crt;
        vrfy_calls = hook_calls = hook_wrong_chain = 0;
        handshake(srv_pt, cli_pt, MBEDTLS_SSL_VERSION_TLS1_3, MBEDTLS_SSL_IANA_TLS_GROUP_X25519, &r);
        hook_answer = -1;
        bool ok = hook_calls == 1 && hook_wrong_chain == 0;
        if (runs[i].answer == 0)
            ok = ok && r.ok && vrfy_calls > 0 && r.server_saw_client_cert;
        else if (runs[i].answer > 0)
            ok = ok && r.ok && vrfy_calls == 0 && r.server_verify_result == MBEDTLS_X509_BADCERT_SKIP_VERIFY;
        else
            ok = ok && !r.ok && vrfy_calls == 0 && strstr(r.detail, "server handshake") != NULL;
        snprintf(detail, sizeof detail, "hook calls %u (wrong chain %u), verify callbacks %u, result 0x%x, %s",
                 hook_calls, hook_wrong_chain, vrfy_calls, (unsigned)r.server_verify_result,
                 r.ok ? "handshake completed" : r.detail);
        check(ok, runs[i].what, detail);
    }
#else
    (void)srv_pt, (void)cli_pt;
    if (bundled)
        check(false, "certgate's patch 0004: the TLS 1.3 chain hook", "MBEDTLS_SSL_TLS13_PEER_CHAIN_HOOK is not defined");
#endif
}

/* certgate's patch 0005: mbedtls_ssl_release_buffers() frees a quiet
 * connection's record buffers; the next read, write or alert allocates them
 * again, with the record counters and keys intact. */
#if defined(MBEDTLS_SSL_RELEASE_BUFFERS)
#define RELEASED(ssl) ((ssl)->MBEDTLS_PRIVATE(in_buf) == NULL && (ssl)->MBEDTLS_PRIVATE(out_buf) == NULL)

/* n bytes of a pattern from one side to the other, checked on arrival. */
static int carry(mbedtls_ssl_context *from, mbedtls_ssl_context *to, size_t n, unsigned seed)
{
    static unsigned char out[40000], in[40000];
    size_t sent = 0, got = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(seed + i * 7);
    for (int round = 0; round < 200 && got < n; round++) {
        if (sent < n) {
            int w = mbedtls_ssl_write(from, out + sent, n - sent);
            if (w < 0 && !retry(w))
                return w;
            if (w > 0)
                sent += (size_t)w;
        }
        int r = mbedtls_ssl_read(to, in + got, n - got);
        if (r < 0 && !retry(r) && r != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            return r;
        if (r > 0)
            got += (size_t)r;
    }
    return got == n && memcmp(in, out, n) == 0 ? 0 : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

#if defined(MBEDTLS_PLATFORM_MEMORY)
static void *failing_calloc(size_t n, size_t size)
{
    (void)n, (void)size;
    return NULL;
}
#endif

static bool release_round_trip(mbedtls_ssl_context *srv, mbedtls_ssl_context *cli, pipe_buf *to_srv, char *detail,
                               size_t cap)
{
    static unsigned char stash[sizeof to_srv->data];
    unsigned char b[8000];
    int ret;
#define FAIL(...) do { snprintf(detail, cap, __VA_ARGS__); return false; } while (0)
    if ((ret = mbedtls_ssl_release_buffers(srv)) != 0 || !RELEASED(srv))
        FAIL("release after the handshake: %s", err_text(ret));
    if ((ret = mbedtls_ssl_release_buffers(srv)) != 0)
        FAIL("a second release: %s", err_text(ret));
    if (mbedtls_ssl_check_pending(srv) != 0 || mbedtls_ssl_get_bytes_avail(srv) != 0)
        FAIL("a released context reports something pending");
    if ((ret = mbedtls_ssl_release_buffers(cli)) != 0)
        FAIL("release of the client: %s", err_text(ret));
    /* Full records both ways, released again between them. */
    for (unsigned round = 0; round < 2; round++) {
        if ((ret = carry(cli, srv, 33000, 1 + round)) != 0)
            FAIL("client to server after a release: %s", err_text(ret));
        if ((ret = mbedtls_ssl_release_buffers(srv)) != 0)
            FAIL("release after reading: %s", err_text(ret));
        if ((ret = carry(srv, cli, 33000, 2 + round)) != 0)
            FAIL("server to client after a release: %s", err_text(ret));
        if ((ret = mbedtls_ssl_release_buffers(srv)) != 0 || (ret = mbedtls_ssl_release_buffers(cli)) != 0)
            FAIL("release after writing: %s", err_text(ret));
    }
    /* A record read in part: refused, then the record arrives whole. */
    memset(b, 0x5a, sizeof b);
    if ((ret = mbedtls_ssl_write(cli, b, 5000)) != 5000)
        FAIL("client write: %s", err_text(ret));
    size_t rest = to_srv->len - 100;
    memcpy(stash, to_srv->data + 100, rest);
    to_srv->len = 100;
    if ((ret = mbedtls_ssl_read(srv, b, sizeof b)) != MBEDTLS_ERR_SSL_WANT_READ)
        FAIL("a partial record read: %s", err_text(ret));
    if ((ret = mbedtls_ssl_release_buffers(srv)) != MBEDTLS_ERR_SSL_BAD_INPUT_DATA || RELEASED(srv))
        FAIL("release with a record read in part was not refused: %s", err_text(ret));
    memcpy(to_srv->data + to_srv->len, stash, rest);
    to_srv->len += rest;
    size_t got = 0;
    while (got < 5000 && (ret = mbedtls_ssl_read(srv, b + got, 5000 - got)) > 0)
        got += (size_t)ret;
    if (got != 5000 || b[0] != 0x5a || b[4999] != 0x5a)
        FAIL("the partial record after a refused release: %s", ret < 0 ? err_text(ret) : "wrong bytes");
    /* Plaintext not yet read: refused. */
    if ((ret = mbedtls_ssl_write(cli, b, 3000)) != 3000 || (ret = mbedtls_ssl_read(srv, b, 100)) != 100)
        FAIL("write and read in part: %s", err_text(ret));
    if ((ret = mbedtls_ssl_release_buffers(srv)) != MBEDTLS_ERR_SSL_BAD_INPUT_DATA || RELEASED(srv))
        FAIL("release with plaintext not yet read was not refused: %s", err_text(ret));
    if ((ret = mbedtls_ssl_read(srv, b, sizeof b)) != 2900)
        FAIL("the rest of the plaintext: %s", err_text(ret));
#if defined(MBEDTLS_PLATFORM_MEMORY)
    /* No memory to allocate them again: an error, nothing lost. */
    if ((ret = mbedtls_ssl_release_buffers(srv)) != 0)
        FAIL("release: %s", err_text(ret));
    if ((ret = mbedtls_ssl_write(cli, (const unsigned char *)"late", 4)) != 4)
        FAIL("client write: %s", err_text(ret));
    mbedtls_platform_set_calloc_free(failing_calloc, free);
    int r1 = mbedtls_ssl_read(srv, b, sizeof b), w1 = mbedtls_ssl_write(srv, b, 1);
    mbedtls_platform_set_calloc_free(calloc, free);
    if (r1 != MBEDTLS_ERR_SSL_ALLOC_FAILED || w1 != MBEDTLS_ERR_SSL_ALLOC_FAILED || !RELEASED(srv))
        FAIL("read and write without memory: %s, %d", err_text(r1), w1);
    if ((ret = mbedtls_ssl_read(srv, b, sizeof b)) != 4 || memcmp(b, "late", 4) != 0)
        FAIL("read once memory is back: %s", ret < 0 ? err_text(ret) : "wrong bytes");
#endif
    /* close_notify from a released context, with the right record counter. */
    if ((ret = mbedtls_ssl_release_buffers(srv)) != 0 || (ret = mbedtls_ssl_close_notify(srv)) != 0)
        FAIL("close_notify after a release: %s", err_text(ret));
    ret = MBEDTLS_ERR_SSL_WANT_READ;
    for (int round = 0; round < 4 && retry(ret); round++)
        ret = mbedtls_ssl_read(cli, b, sizeof b);
    if (ret != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        FAIL("the client read after close_notify: %s", err_text(ret));
    /* Freed released (handshake()'s end): nothing touched, nothing leaked. */
    if ((ret = mbedtls_ssl_release_buffers(srv)) != 0)
        FAIL("release before freeing: %s", err_text(ret));
#undef FAIL
    return true;
}
#endif

static void check_release_buffers(bool bundled, party *srv_pt, party *cli_pt)
{
#if defined(MBEDTLS_SSL_RELEASE_BUFFERS)
    (void)bundled;
    static const mbedtls_ssl_protocol_version versions[] = { MBEDTLS_SSL_VERSION_TLS1_2, MBEDTLS_SSL_VERSION_TLS1_3 };
    for (size_t i = 0; i < 2; i++) {
        hs_result r;
        char what[200];
        after_exchange = release_round_trip;
        handshake(srv_pt, cli_pt, versions[i], MBEDTLS_SSL_IANA_TLS_GROUP_X25519, &r);
        after_exchange = NULL;
        snprintf(what, sizeof what,
                 "certgate's patch 0005: TLS 1.%d record buffers released, data both ways, refusals, close_notify, free",
                 versions[i] == MBEDTLS_SSL_VERSION_TLS1_2 ? 2 : 3);
        check(r.ok, what, r.detail);
    }
#else
    (void)srv_pt, (void)cli_pt;
    if (bundled)
        check(false, "certgate's patch 0005: release of the record buffers", "MBEDTLS_SSL_RELEASE_BUFFERS is not defined");
#endif
}

static void check_tls(bool bundled)
{
    party srv_pt, cli_pt;
    int ret;
    if ((ret = make_party(&srv_pt, "CN=server.certgate.test")) != 0 ||
        (ret = make_party(&cli_pt, "CN=client.certgate.test")) != 0) {
        check(false, "P-256 keys and self-signed certificates made with mbedTLS", err_text(ret));
        return;
    }
    check(true, "P-256 keys and self-signed certificates made with mbedTLS", NULL);

    /* AES-GCM first, as certgate's server and backend client (net/tls.c, tls_client.c) */
    static const int tls13_aes128[] = { MBEDTLS_TLS1_3_AES_128_GCM_SHA256, MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, 0 };
    static const int tls12_aes256[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                                        MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0 };
    struct {
        const char *name;
        mbedtls_ssl_protocol_version version;
        uint16_t group;
        const int *suites; /* both sides'; NULL: mbedTLS's defaults */
    } runs[] = {
        { "TLS 1.3, X25519", MBEDTLS_SSL_VERSION_TLS1_3, MBEDTLS_SSL_IANA_TLS_GROUP_X25519, tls13_aes128 },
        { "TLS 1.3, P-256", MBEDTLS_SSL_VERSION_TLS1_3, MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1, NULL },
        { "TLS 1.2, X25519", MBEDTLS_SSL_VERSION_TLS1_2, MBEDTLS_SSL_IANA_TLS_GROUP_X25519, tls12_aes256 },
        { "TLS 1.2, P-256", MBEDTLS_SSL_VERSION_TLS1_2, MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1, NULL },
    };
    int hello_times_near_now = 0, tls12_runs = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        hs_result r;
        char what[160], detail[240];
#if defined(CERTGATE_PSA_DRIVER)
        cg_psa_driver_counts before, after;
        cg_sig_cache_stats sig_before, sig_after;
        cg_psa_aead_counts aead_before, aead_after;
        cg_record_key_counts rk_before, rk_after;
        cg_psa_driver_counts_get(&before);
        cg_sig_cache_stats_get(&sig_before);
        cg_psa_aead_counts_get(&aead_before);
        cg_record_key_counts_get(&rk_before);
#endif
        run_suites = runs[i].suites;
        handshake(&srv_pt, &cli_pt, runs[i].version, runs[i].group, &r);
        run_suites = NULL;
#if defined(CERTGATE_PSA_DRIVER)
        cg_psa_driver_counts_get(&after);
        cg_sig_cache_stats_get(&sig_after);
        cg_psa_aead_counts_get(&aead_after);
        cg_record_key_counts_get(&rk_after);
        if (bundled) {
            /* Each side seals and opens at least its Finished, the request
             * or the answer (TLS 1.3: its encrypted handshake messages too)
             * with the record keys its transform holds (patch 0009), not
             * through PSA: no record reaches the driver's PSA entry points
             * for decryption (the session ticket is one PSA encryption). All
             * keys made are freed with the contexts (handshake() frees
             * them). */
            uint64_t enc = rk_after.seals - rk_before.seals, dec = rk_after.opens - rk_before.opens,
                     keys = rk_after.keys - rk_before.keys, freed = rk_after.keys_freed - rk_before.keys_freed,
                     bad = rk_after.open_failures - rk_before.open_failures,
                     fast = rk_after.fast_keys - rk_before.fast_keys,
                     psa_dec = aead_after.decrypts - aead_before.decrypts;
            bool fast_cpu = cg_gcm_fast_available();
            snprintf(detail, sizeof detail,
                     "%llu records sealed, %llu opened (%llu bad) with %llu record keys (%llu freed, %llu gcm_fast's), "
                     "%llu decrypted through PSA (%s)",
                     (unsigned long long)enc, (unsigned long long)dec, (unsigned long long)bad,
                     (unsigned long long)keys, (unsigned long long)freed, (unsigned long long)fast,
                     (unsigned long long)psa_dec, r.suite);
            if (runs[i].suites) {
                snprintf(what, sizeof what,
                         "%s, AES-GCM: the records went through the transform's record keys (%s), not PSA",
                         runs[i].name, fast_cpu ? "gcm_fast" : "nettle");
                /* TLS 1.2: two keys per side; TLS 1.3: handshake and
                 * application keys, per side; every one gcm_fast's where
                 * the CPU has AES-NI and PCLMULQDQ */
                check(strstr(r.suite, "GCM") && enc >= 4 && dec >= 4 && bad == 0 && keys >= 4 && freed == keys &&
                          fast == (fast_cpu ? keys : 0) && psa_dec == 0,
                      what, detail);
            } else {
                snprintf(what, sizeof what, "%s, ChaCha20-Poly1305: the records stayed with mbedTLS's code", runs[i].name);
                check(strstr(r.suite, "CHACHA20") && dec == 0 && keys == 0 && psa_dec == 0, what, detail);
            }
        }
        if (bundled && runs[i].group == MBEDTLS_SSL_IANA_TLS_GROUP_X25519) {
            /* client and server, in this process: two key pairs, two secrets */
            snprintf(what, sizeof what, "%s: the key exchange ran in certgate's PSA driver (libsodium)", runs[i].name);
            snprintf(detail, sizeof detail, "%llu key pairs, %llu shared secrets",
                     (unsigned long long)(after.x25519_keys - before.x25519_keys),
                     (unsigned long long)(after.x25519_agreements - before.x25519_agreements));
            check(after.x25519_keys - before.x25519_keys == 2 && after.x25519_agreements - before.x25519_agreements == 2,
                  what, detail);
        }
        if (bundled) {
            snprintf(what, sizeof what, "%s: the handshake's signatures went through the driver's cache", runs[i].name);
            check(sig_after.hits + sig_after.misses > sig_before.hits + sig_before.misses, what, NULL);
        }
#endif
        snprintf(what, sizeof what, "%s handshake with client certificates, request and answer", runs[i].name);
        check(r.ok, what, r.detail);
        if (!r.ok)
            continue;
        snprintf(detail, sizeof detail, "negotiated 0x%04x %s", (unsigned)r.version, r.suite);
        snprintf(what, sizeof what, "%s: the version asked for, an AEAD suite", runs[i].name);
        check(r.version == (int)runs[i].version && (strstr(r.suite, "GCM") || strstr(r.suite, "CHACHA20")), what,
              detail);
        snprintf(what, sizeof what, "%s: the server verified and kept the client's certificate", runs[i].name);
        check(r.server_saw_client_cert, what, NULL);
        if (runs[i].version == MBEDTLS_SSL_VERSION_TLS1_3) {
#if MBEDTLS_VERSION_NUMBER >= 0x03060100
            snprintf(what, sizeof what, "%s: the server issued a session ticket", runs[i].name);
            check(r.client_got_ticket, what, NULL);
#endif
        } else {
            snprintf(what, sizeof what, "%s: the ServerKeyExchange names the group", runs[i].name);
            snprintf(detail, sizeof detail, "0x%04x", (unsigned)r.tls12_group);
            check(r.tls12_group == runs[i].group, what, detail);
            tls12_runs++;
            if (near_now(r.server_random, time(NULL)))
                hello_times_near_now++;
        }
    }
    if (bundled && tls12_runs == 2) {
        /* Unpatched, both carry the clock; random bytes fall within a day of
         * it with a probability of 4e-5 each. */
        check(hello_times_near_now < 2, "certgate's configuration: no clock in the TLS 1.2 ServerHello.random",
              hello_times_near_now == 2 ? "both ServerHello.random began with the current time" : NULL);
    }
    check_peer_chain_hook(bundled, &srv_pt, &cli_pt);
    check_release_buffers(bundled, &srv_pt, &cli_pt);
    free_party(&srv_pt);
    free_party(&cli_pt);
}

static psa_status_t x25519_agree(const uint8_t priv[32], const uint8_t peer[32], uint8_t out[32], uint8_t pub[32])
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
    psa_set_key_bits(&attr, 255);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_DERIVE);
    psa_set_key_algorithm(&attr, PSA_ALG_ECDH);
    mbedtls_svc_key_id_t id;
    psa_status_t s = psa_import_key(&attr, priv, 32, &id);
    if (s != PSA_SUCCESS)
        return s;
    size_t len = 0;
    s = psa_export_public_key(id, pub, 32, &len);
    if (s == PSA_SUCCESS)
        s = psa_raw_key_agreement(PSA_ALG_ECDH, id, peer, 32, out, 32, &len);
    psa_destroy_key(id);
    return s;
}

static void hex32(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

/* RFC 7748 section 6.1 (Alice's private key, her public key, Bob's public
 * key, their shared secret), then the all-zero u-coordinate, a small-order
 * point whose shared secret is all zeros: refused. */
static void x25519_vectors(void)
{
    uint8_t a_priv[32], a_pub[32], b_pub[32], shared[32], out[32], pub[32], zero[32] = { 0 };
    hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a_priv);
    hex32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", a_pub);
    hex32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", b_pub);
    hex32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", shared);
    psa_status_t s = x25519_agree(a_priv, b_pub, out, pub);
    check(s == PSA_SUCCESS && memcmp(pub, a_pub, 32) == 0 && memcmp(out, shared, 32) == 0,
          "X25519 through PSA: RFC 7748's test vector (public key, shared secret)", NULL);
    s = x25519_agree(a_priv, zero, out, pub);
    check(s != PSA_SUCCESS, "X25519 through PSA: a small-order peer point (all-zero secret) is refused", NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--bundled") != 0)) {
        fprintf(stderr, "usage: check_mbedtls_config VERSION [--bundled]\n");
        return 2;
    }
    bool bundled = argc == 3;
    char full[32];
    mbedtls_version_get_string_full(full); /* "Mbed TLS 3.6.6": 18 bytes at most */
    printf("linked with %s%s\n", full, bundled ? " (certgate's configuration)" : "");
    char what[96];
    snprintf(what, sizeof what, "mbedtls_version_get_string() is %s", argv[1]);
    char got[32];
    mbedtls_version_get_string(got);
    check(strcmp(got, argv[1]) == 0, what, got);
    check(MBEDTLS_VERSION_NUMBER == mbedtls_version_get_number(), "headers and library are the same release", NULL);
    check_features(bundled);

    psa_status_t s = psa_crypto_init();
    check(s == PSA_SUCCESS, "psa_crypto_init", NULL);
    if (s != PSA_SUCCESS)
        goto done;
    psa_agree(PSA_ECC_FAMILY_MONTGOMERY, 255, "X25519");
    psa_agree(PSA_ECC_FAMILY_SECP_R1, 256, "P-256");
    x25519_vectors();

    mbedtls_entropy_context entropy;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    int ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *)"check", 5);
    check(ret == 0, "CTR-DRBG seeded from the system's entropy", ret ? err_text(ret) : NULL);
    if (ret == 0)
        check_tls(bundled);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    mbedtls_psa_crypto_free();
done:
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
