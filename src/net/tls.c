#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_time.h>
#include <mbedtls/sha256.h>
#include <psa/crypto.h>

#include "base/base.h"
#include "x509/x509.h"
#include "sni.h"
#include "ticket_keys.h"
#include "tls13_ticket.h"

struct cg_tls_server {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt own_chain; /* server leaf + chain */
    mbedtls_pk_context own_key;
    mbedtls_x509_crt anchors;   /* trusted client CAs */
    bool tickets_on;
    cg_ticket_keyring *shared_tickets; /* tls.session_ticket_keys; NULL: random keys of this process */
    cg_ticket_keyring *own_tickets;    /* the random keys, without a key file */
    cg_ticket_keyring *tickets;        /* the ring that seals and opens: one of the two */
    unsigned char ticket_context[CG_TICKET_CONTEXT_BYTES]; /* what a shared ticket is sealed for */
    uint32_t ticket_lifetime_s;
    cg_verify_policy policy;
    unsigned max_version;       /* CG_TLS_1_2 or CG_TLS_1_3 (conf_versions()) */
    unsigned max_client_certificates;
    cg_chain_cache *chains;     /* verified client chains, per worker */
    char *listener_name;
    char **ca_names;            /* subjects of the anchors sent in CertificateRequest */
    size_t nca_names;
    cg_sni_certs *sni;          /* tls.sni: certificates chosen by the client's SNI (sni.h) */
};

/* Forward secrecy and AEAD only. The TLS 1.3 suites (Mozilla's
 * "intermediate" profile) count only once a listener allows TLS 1.3. */
static const int ciphersuites[] = {
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

static const uint16_t groups[] = {
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};

/* One DRBG per thread: no lock on the handshake path, and the ticket
 * context may rotate keys from any worker. mbedTLS 3.6's entropy context
 * allocates (its hash runs through mbedtls_md), so each thread's pair lives
 * on the heap and is freed when the thread ends (a thread-specific key's
 * destructor). */
typedef struct thread_drbg {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} thread_drbg;

static pthread_key_t drbg_key;
static pthread_once_t drbg_key_once = PTHREAD_ONCE_INIT;

static void drbg_free(void *p)
{
    thread_drbg *t = p;
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

static void drbg_key_create(void) { (void)pthread_key_create(&drbg_key, drbg_free); }

static int thread_rng(void *unused, unsigned char *out, size_t len)
{
    static _Thread_local thread_drbg *t;
    (void)unused;
    if (!t) {
        static const char pers[] = "certgate";
        thread_drbg *n = calloc(1, sizeof *n);
        if (!n)
            return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
        mbedtls_entropy_init(&n->entropy);
        mbedtls_ctr_drbg_init(&n->drbg);
        if (mbedtls_ctr_drbg_seed(&n->drbg, mbedtls_entropy_func, &n->entropy, (const unsigned char *)pers,
                                  sizeof pers - 1) != 0) {
            drbg_free(n);
            return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
        }
        pthread_once(&drbg_key_once, drbg_key_create);
        (void)pthread_setspecific(drbg_key, n);
        t = n;
    }
    return mbedtls_ctr_drbg_random(&t->drbg, out, len);
}

const char *cg_tls_strerror(int err, char *buf, size_t cap)
{
    if (err == MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION) {
        /* mbedTLS's words ("Handshake protocol not within min/max
         * boundaries") do not say which setting decides. */
        snprintf(buf, cap, "the client offers no TLS version this listener accepts (tls.min_version, "
                           "tls.max_version)");
        return buf;
    }
    mbedtls_strerror(err, buf, cap);
    return buf;
}

const char *cg_tls_file_strerror(int err, char *buf, size_t cap)
{
    if (err == MBEDTLS_ERR_PK_FILE_IO_ERROR || err == MBEDTLS_ERR_X509_FILE_IO_ERROR)
        snprintf(buf, cap, "cannot read the file (missing or not readable by this user)");
    else if (err == MBEDTLS_ERR_PK_PASSWORD_REQUIRED)
        snprintf(buf, cap, "the key is encrypted; certgate needs an unencrypted key (protect it with file permissions)");
    else
        cg_tls_strerror(err, buf, cap);
    return buf;
}

static void load_error(cg_diag *diag, const char *cfg_file, cg_pos pos, const cg_listener_cfg *l, const char *what,
                       const char *path, int err)
{
    char e[160];
    cg_tls_file_strerror(err, e, sizeof e);
    cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, pos.line, pos.column, "listeners[%s].%s \"%s\": %s", l->name, what,
                path, e);
}

/* ---- session tickets sealed with shared keys (ticket_keys.h) ---- */

/* A shared ticket opens only on a listener of the same name that judges
 * client certificates the same way: the trust anchors and the settings that
 * decide a verdict during the handshake. A reload that changes them also
 * retires the tickets issued before, as a new random key would. */
static void ticket_context(const cg_listener_cfg *l, const mbedtls_x509_crt *anchors, unsigned char out[32])
{
    static const char label[] = "certgate session ticket v1";
    mbedtls_sha256_context h;
    mbedtls_sha256_init(&h);
    mbedtls_sha256_starts(&h, 0);
    mbedtls_sha256_update(&h, (const unsigned char *)label, sizeof label);
    mbedtls_sha256_update(&h, (const unsigned char *)l->name, strlen(l->name) + 1);
    for (const mbedtls_x509_crt *c = anchors; c && c->raw.p; c = c->next) {
        unsigned char len[4] = { (unsigned char)(c->raw.len >> 24), (unsigned char)(c->raw.len >> 16),
                                 (unsigned char)(c->raw.len >> 8), (unsigned char)c->raw.len };
        mbedtls_sha256_update(&h, len, sizeof len);
        mbedtls_sha256_update(&h, c->raw.p, c->raw.len);
    }
    unsigned char policy[11] = { l->allow_weak_signatures, l->require_client_auth_eku,
                                 (unsigned char)(l->max_chain_depth >> 24), (unsigned char)(l->max_chain_depth >> 16),
                                 (unsigned char)(l->max_chain_depth >> 8), (unsigned char)l->max_chain_depth,
                                 (unsigned char)(l->max_client_certificates >> 24),
                                 (unsigned char)(l->max_client_certificates >> 16),
                                 (unsigned char)(l->max_client_certificates >> 8),
                                 (unsigned char)l->max_client_certificates, 0 };
    mbedtls_sha256_update(&h, policy, sizeof policy);
    mbedtls_sha256_finish(&h, out);
    mbedtls_sha256_free(&h);
}

static void put24(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)(v >> 16);
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)v;
}

static size_t get24(const unsigned char *p) { return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2]; }

/* The connection whose handshake runs on this thread (cg_tls_handshake()):
 * mbedTLS gives the ticket callbacks the session only, and a TLS 1.3
 * ticket's certificate belongs to the connection (tls13_ticket.h). */
static _Thread_local cg_tls_conn *handshaking;

/* A TLS 1.3 session as the ticket carries it (tls13_ticket.h): from a full
 * handshake, the session's own certificate and result; from a resumed one
 * (no certificate, result 0), what the ticket that resumed it carried. */
static void tls13_ticket_source(const mbedtls_ssl_session *session, const mbedtls_x509_crt **chain, uint32_t *flags,
                                int64_t *started)
{
    *chain = session->MBEDTLS_PRIVATE(peer_cert);
    *flags = session->MBEDTLS_PRIVATE(verify_result);
    *started = (int64_t)session->MBEDTLS_PRIVATE(start);
    const cg_tls_conn *c = handshaking;
    if (!*chain && *flags == 0 && c && c->resumed13.present) {
        *chain = c->resumed13.chain;
        *flags = c->resumed13.flags;
        *started = c->resumed13.started;
    }
}

/* The payload: mbedTLS's own serialization of the session (for TLS 1.2 what
 * its tickets carry: the verification result, the client's leaf, the master
 * secret; for TLS 1.3 the resumption secret only, so the block of
 * tls13_ticket.h follows it), then the CA certificates the client sent
 * after its leaf, so that another instance can rebuild the chain for the
 * depth policy and revocation (verify.h: every signature is checked again
 * there). Layout: session length (3) | session | [TLS 1.3 block] | count (1)
 * | count x (length (3) | DER). Sealed with the listener's ring: the shared
 * keys of tls.session_ticket_keys, or the process's own random keys. */
static int ticket_write(void *p, const mbedtls_ssl_session *session, unsigned char *start, const unsigned char *end,
                        size_t *tlen, uint32_t *lifetime)
{
    cg_tls_server *s = p;
    /* The session's whole peer chain and its start: private fields with no
     * accessor in mbedTLS 3.6 (mbedtls_ssl_get_peer_cert() needs the
     * context, which a ticket callback is not given). */
    const mbedtls_x509_crt *peer_chain = session->MBEDTLS_PRIVATE(peer_cert);
    int64_t started = (int64_t)session->MBEDTLS_PRIVATE(start);
    size_t cap = (size_t)(end - start);
    if (cap < CG_TICKET_OVERHEAD + 4)
        return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
    unsigned char *payload = start + CG_TICKET_PAYLOAD_OFFSET;
    size_t room = cap - CG_TICKET_OVERHEAD, used = 0;
    int ret = mbedtls_ssl_session_save(session, payload + 3, room - 4, &used);
    if (ret != 0)
        return ret;
    put24(payload, used);
    size_t n = 3 + used;
    if (session->MBEDTLS_PRIVATE(tls_version) == MBEDTLS_SSL_VERSION_TLS1_3) {
        uint32_t flags;
        tls13_ticket_source(session, &peer_chain, &flags, &started);
        size_t block = cg_tls13_ticket_put(payload + n, room - n - 1, started, flags, peer_chain);
        if (block == 0) {
            mbedtls_platform_zeroize(payload, n);
            return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
        }
        n += block;
    }
    unsigned char *count = payload + n++;
    *count = 0;
    if (peer_chain) {
        for (const mbedtls_x509_crt *c = peer_chain->next; c && c->raw.p && *count < CG_VERIFY_MAX_DEPTH;
             c = c->next) {
            if (!cg_cert_is_ca(c) || c->raw.len > room - n || room - n - c->raw.len < 3)
                continue; /* only CAs can be issuers; one that does not fit is looked for in the pool */
            put24(payload + n, c->raw.len);
            memcpy(payload + n + 3, c->raw.p, c->raw.len);
            n += 3 + c->raw.len;
            (*count)++;
        }
    }
    cg_ticket_status st = cg_ticket_keyring_seal(s->tickets, s->ticket_context, (uint64_t)started, thread_rng, NULL,
                                                 start, cap, n, tlen);
    if (st != CG_TICKET_OK) {
        mbedtls_platform_zeroize(payload, n); /* the master secret, in the clear: sealing failed */
        return st == CG_TICKET_NO_ROOM ? MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    }
    *lifetime = s->ticket_lifetime_s;
    return 0;
}

static int ticket_parse(void *p, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
    cg_tls_server *s = p;
    unsigned char *payload;
    size_t n;
    cg_tls13_resumed r13 = { 0 };
    cg_ticket_status st = cg_ticket_keyring_open(s->tickets, s->ticket_context, (uint64_t)mbedtls_time(NULL),
                                                 s->ticket_lifetime_s, buf, len, &payload, &n);
    if (st == CG_TICKET_EXPIRED)
        return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
    if (st != CG_TICKET_OK)
        return MBEDTLS_ERR_SSL_INVALID_MAC; /* unknown key, altered: a full handshake follows */
    int ret = MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    size_t slen = n >= 4 ? get24(payload) : 0;
    if (n < 4 || slen > n - 4)
        goto out;
    if ((ret = mbedtls_ssl_session_load(session, payload + 3, slen)) != 0)
        goto out;
    size_t pos = 3 + slen;
    /* Private fields with no accessor (see ticket_write()). */
    mbedtls_x509_crt *peer_chain = session->MBEDTLS_PRIVATE(peer_cert);
    mbedtls_time_t started = session->MBEDTLS_PRIVATE(start);
    ret = MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    if (session->MBEDTLS_PRIVATE(tls_version) == MBEDTLS_SSL_VERSION_TLS1_3) {
        /* Only a TLS 1.3 handshake resumes a TLS 1.3 session: mbedTLS's TLS
         * 1.2 code would take its session (no master secret) as it is. */
        const cg_tls_conn *c = handshaking;
        size_t used;
        if (!c || mbedtls_ssl_get_version_number(&c->ssl) != MBEDTLS_SSL_VERSION_TLS1_3 ||
            !cg_tls13_ticket_get(payload + pos, n - pos, &used, &r13)) {
            ret = MBEDTLS_ERR_SSL_INVALID_MAC;
            goto out;
        }
        pos += used;
        peer_chain = r13.chain;
        started = (mbedtls_time_t)r13.started;
    }
    if (pos >= n)
        goto out;
    unsigned count = payload[pos++];
    if (count > CG_VERIFY_MAX_DEPTH || (count && !peer_chain))
        goto out;
    for (unsigned i = 0; i < count; i++) {
        if (n - pos < 3 || get24(payload + pos) > n - pos - 3)
            goto out;
        size_t dlen = get24(payload + pos);
        if (mbedtls_x509_crt_parse_der(peer_chain, payload + pos + 3, dlen) != 0)
            goto out;
        pos += 3 + dlen;
    }
    ret = pos == n ? 0 : MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    /* As mbedTLS's own tickets: the lifetime counts from the full handshake. */
    mbedtls_time_t now = mbedtls_time(NULL);
    if (ret == 0 && (now < started - CG_TICKET_CLOCK_SKEW_S ||
                     (now > started && (uint64_t)(now - started) > s->ticket_lifetime_s)))
        ret = MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
    if (ret == 0 && r13.present) {
        /* The connection keeps what the last ticket it opened carried:
         * mbedTLS tries a client's tickets in order and resumes the first
         * it can use (cg_tls_handshake() decides whether one was). */
        cg_tls13_resumed_clear(&handshaking->resumed13);
        handshaking->resumed13 = r13;
        r13 = (cg_tls13_resumed){ 0 };
    }
out:
    cg_tls13_resumed_clear(&r13);
    mbedtls_platform_zeroize(payload, n);
    return ret; /* on an error mbedTLS frees what was loaded */
}

cg_ticket_keyring *cg_tls_server_ticket_keys(const cg_tls_server *s) { return s ? s->shared_tickets : NULL; }

/* ---- ALPN (HTTP/2) ----
 * listeners[].http2 offers "h2" before "http/1.1"; without it no ALPN is
 * offered at all (as before HTTP/2 existed). Never "h2c": that is HTTP/2
 * without TLS. A client that offers neither gets no ALPN answer and speaks
 * HTTP/1.1. */
static const char *const alpn_h2_first[] = { CG_TLS_ALPN_H2, "http/1.1", NULL };

static int conf_alpn(mbedtls_ssl_config *conf, const cg_listener_cfg *l)
{
    if (!l->http2)
        return 0;
    return mbedtls_ssl_conf_alpn_protocols(conf, (const char **)alpn_h2_first);
}

const char *cg_tls_alpn(const cg_tls_conn *c)
{
    const char *p = c->handshake_done ? mbedtls_ssl_get_alpn_protocol(&c->ssl) : NULL;
    return p ? p : "";
}

/* ---- TLS versions ----
 * tls.min_version / max_version (1.2 and 1.3 by default). TLS 1.3: full
 * handshakes with (EC)DHE, resumption only with a fresh (EC)DHE too
 * (psk_dhe_ke: forward secrecy for resumed sessions), no 0-RTT data (early
 * data is replayable, and certgate's verdict comes after the handshake).
 * A system mbedTLS built without TLS 1.3 serves TLS 1.2 alone. */
static bool conf_versions(cg_tls_server *s, const cg_listener_cfg *l, const char *cfg_file, cg_diag *diag)
{
    mbedtls_ssl_config *conf = &s->conf;
    unsigned min = l->tls_min_version ? l->tls_min_version : CG_TLS_1_2;
    unsigned max = l->tls_max_version ? l->tls_max_version : CG_TLS_1_3;
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    mbedtls_ssl_conf_tls13_key_exchange_modes(conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL |
                                                        MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL);
#if defined(MBEDTLS_SSL_EARLY_DATA)
    mbedtls_ssl_conf_early_data(conf, MBEDTLS_SSL_EARLY_DATA_DISABLED);
#endif
#else
    if (min == CG_TLS_1_3) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0,
                    "listeners[%s].tls.min_version 1.3: this build's mbedTLS has no TLS 1.3 "
                    "(MBEDTLS_SSL_PROTO_TLS1_3); build with -Dmbedtls=bundled or set min_version: \"1.2\"",
                    l->name);
        return false;
    }
    max = CG_TLS_1_2;
#endif
    (void)cfg_file;
    (void)diag;
    s->max_version = max;
    mbedtls_ssl_conf_min_tls_version(conf, min == CG_TLS_1_3 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(conf, max == CG_TLS_1_3 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2);
    return true;
}

cg_tls_server *cg_tls_server_new(const cg_listener_cfg *l, unsigned workers, const char *cfg_file, cg_diag *diag)
{
    cg_tls_server *s = calloc(1, sizeof *s);
    if (!s) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0, "out of memory");
        return NULL;
    }
    /* mbedTLS 3.6 needs PSA for TLS 1.3 and some key operations; main()
     * initialises it, this call only returns the first result again. */
    psa_status_t psa = psa_crypto_init();
    mbedtls_ssl_config_init(&s->conf);
    mbedtls_x509_crt_init(&s->own_chain);
    mbedtls_pk_init(&s->own_key);
    mbedtls_x509_crt_init(&s->anchors);
    s->listener_name = strdup(l->name ? l->name : "");

    int err;
    bool ok = true;
    if ((err = mbedtls_x509_crt_parse_file(&s->own_chain, l->cert_file)) != 0) {
        load_error(diag, cfg_file, l->cert_pos, l, "tls.certificate", l->cert_file, err);
        ok = false;
    }
    if (ok && l->chain_file && (err = mbedtls_x509_crt_parse_file(&s->own_chain, l->chain_file)) != 0) {
        load_error(diag, cfg_file, l->chain_pos, l, "tls.chain", l->chain_file, err);
        ok = false;
    }
    if ((err = mbedtls_pk_parse_keyfile(&s->own_key, l->key_file, NULL, thread_rng, NULL)) != 0) {
        load_error(diag, cfg_file, l->key_pos, l, "tls.key", l->key_file, err);
        ok = false;
    }
    if (ok && (err = mbedtls_pk_check_pair(&s->own_chain.pk, &s->own_key, thread_rng, NULL)) != 0) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, l->key_pos.line, l->key_pos.column,
                    "listeners[%s].tls.key \"%s\" does not belong to the certificate in \"%s\" (the first certificate "
                    "of tls.certificate must be the server's own)",
                    l->name, l->key_file, l->cert_file);
        ok = false;
    }
    if ((err = mbedtls_x509_crt_parse_file(&s->anchors, l->client_ca_file)) != 0) {
        /* > 0: some certificates in the bundle failed to parse. */
        if (err > 0)
            cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, l->client_ca_pos.line, l->client_ca_pos.column,
                        "listeners[%s].tls.client_ca \"%s\": %d certificate(s) in the bundle could not be parsed",
                        l->name, l->client_ca_file, err);
        else
            load_error(diag, cfg_file, l->client_ca_pos, l, "tls.client_ca", l->client_ca_file, err);
        ok = false;
    }
    if (ok) {
        for (const mbedtls_x509_crt *c = &s->anchors; c && c->raw.p; c = c->next) {
            if (!cg_cert_is_ca(c)) {
                char subject[256];
                cg_cert_subject(c, subject, sizeof subject);
                cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, l->client_ca_pos.line, l->client_ca_pos.column,
                            "listeners[%s].tls.client_ca \"%s\" contains \"%s\", which is not a CA certificate "
                            "(basicConstraints CA:TRUE); list only the CAs that issue client certificates",
                            l->name, l->client_ca_file, subject);
                ok = false;
            }
        }
    }
    /* tls.sni's certificates, checked as the listener's own is (sni.h). */
    if (!(s->sni = cg_sni_certs_new(l, &s->own_chain, &s->own_key, cfg_file, diag, thread_rng)))
        ok = false;
    if (ok && l->session_tickets && l->session_ticket_keys_file) {
        char terr[300];
        if (!(s->shared_tickets = cg_ticket_keyring_new(l->session_ticket_keys_file, terr, sizeof terr))) {
            cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, l->session_ticket_keys_pos.line,
                        l->session_ticket_keys_pos.column, "listeners[%s].tls.session_ticket_keys \"%s\": %s", l->name,
                        l->session_ticket_keys_file, terr);
            ok = false;
        }
    }
    if (!ok)
        goto fail;
    if (psa != PSA_SUCCESS) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0,
                    "listener \"%s\": TLS setup failed: the crypto library did not start (psa_crypto_init: %d)",
                    l->name, (int)psa);
        goto fail;
    }

    /* The names CertificateRequest carries, as text for the 403.7 page. */
    if (l->client_ca_names) {
        size_t n = 0;
        for (const mbedtls_x509_crt *c = &s->anchors; c && c->raw.p; c = c->next)
            n++;
        if (!(s->ca_names = calloc(n ? n : 1, sizeof *s->ca_names))) {
            err = MBEDTLS_ERR_X509_ALLOC_FAILED;
            goto fail_internal;
        }
        for (const mbedtls_x509_crt *c = &s->anchors; c && c->raw.p; c = c->next) {
            char subject[512];
            cg_cert_subject(c, subject, sizeof subject);
            if (!(s->ca_names[s->nca_names] = strdup(subject))) {
                err = MBEDTLS_ERR_X509_ALLOC_FAILED;
                goto fail_internal;
            }
            s->nca_names++;
        }
    }

    if ((err = mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
        goto fail_internal;
    mbedtls_ssl_conf_rng(&s->conf, thread_rng, NULL);
    if (!conf_versions(s, l, cfg_file, diag))
        goto fail;
    mbedtls_ssl_conf_ciphersuites(&s->conf, ciphersuites);
    mbedtls_ssl_conf_groups(&s->conf, groups);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    /* certgate's own mbedTLS has no renegotiation at all; a system build may. */
    mbedtls_ssl_conf_renegotiation(&s->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    /* Judge the certificate after the handshake: refusals become pages. */
    mbedtls_ssl_conf_authmode(&s->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
    mbedtls_ssl_conf_ca_chain(&s->conf, &s->anchors, NULL);
    /* CertificateRequest names the configured anchors, whatever trust list
     * a handshake verifies with (the worker's, chain_cache.h). */
    mbedtls_ssl_conf_dn_hints(&s->conf, &s->anchors);
    /* Signature hashes and key sizes accepted in client chains (verify.h). */
    mbedtls_ssl_conf_cert_profile(&s->conf, cg_verify_profile(l->allow_weak_signatures));
    mbedtls_ssl_conf_cert_req_ca_list(&s->conf, l->client_ca_names ? MBEDTLS_SSL_CERT_REQ_CA_LIST_ENABLED
                                                                   : MBEDTLS_SSL_CERT_REQ_CA_LIST_DISABLED);
    /* The listener's certificate, and tls.sni's by the client's SNI (sni.h). */
    if ((err = cg_sni_certs_install(s->sni, &s->conf)) != 0)
        goto fail_internal;
    if ((err = conf_alpn(&s->conf, l)) != 0)
        goto fail_internal;
    if (l->session_tickets) {
        /* One ticket format for both versions (ticket_write()): sealed with
         * the shared keys, or with random keys of this process that rotate
         * every ticket lifetime, as mbedTLS's own would. */
        char terr[160];
        if (!s->shared_tickets &&
            !(s->own_tickets = cg_ticket_keyring_new_random(l->session_ticket_lifetime_s, thread_rng, NULL, terr,
                                                            sizeof terr))) {
            cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0, "listener \"%s\": TLS setup failed: %s", l->name, terr);
            goto fail;
        }
        s->tickets = s->shared_tickets ? s->shared_tickets : s->own_tickets;
        ticket_context(l, &s->anchors, s->ticket_context);
        s->ticket_lifetime_s = l->session_ticket_lifetime_s;
        mbedtls_ssl_conf_session_tickets_cb(&s->conf, ticket_write, ticket_parse, s);
        s->tickets_on = true;
    }
    s->policy.listener = s->listener_name;
    s->policy.anchors = &s->anchors;
    s->policy.require_client_auth_eku = l->require_client_auth_eku;
    s->policy.max_chain_depth = l->max_chain_depth;
    s->policy.allow_weak_signatures = l->allow_weak_signatures;
    s->max_client_certificates = l->max_client_certificates;
    /* Chains of full handshakes, for resumed sessions (verify.h). */
    if (!(s->policy.pool = cg_verify_pool_new())) {
        err = MBEDTLS_ERR_X509_ALLOC_FAILED;
        goto fail_internal;
    }
    /* Repeated client chains skip their signature checks (chain_cache.h). */
    if (!(s->chains = cg_chain_cache_new(&s->anchors, workers))) {
        err = MBEDTLS_ERR_X509_ALLOC_FAILED;
        goto fail_internal;
    }
    return s;

fail_internal: {
    char e[160];
    cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0, "listener \"%s\": TLS setup failed: %s", l->name,
                cg_tls_strerror(err, e, sizeof e));
}
fail:
    cg_tls_server_free(s);
    return NULL;
}

void cg_tls_server_free(cg_tls_server *s)
{
    if (!s)
        return;
    mbedtls_ssl_config_free(&s->conf);
    mbedtls_x509_crt_free(&s->own_chain);
    mbedtls_pk_free(&s->own_key);
    mbedtls_x509_crt_free(&s->anchors);
    cg_ticket_keyring_free(s->shared_tickets);
    cg_ticket_keyring_free(s->own_tickets);
    mbedtls_platform_zeroize(s->ticket_context, sizeof s->ticket_context);
    cg_verify_pool_free(s->policy.pool);
    cg_chain_cache_free(s->chains);
    free(s->listener_name);
    for (size_t i = 0; i < s->nca_names; i++)
        free(s->ca_names[i]);
    free(s->ca_names);
    cg_sni_certs_free(s->sni);
    free(s);
}

const char *const *cg_tls_server_ca_names(const cg_tls_server *s, size_t *n)
{
    *n = s ? s->nca_names : 0;
    return s ? (const char *const *)s->ca_names : NULL;
}

const cg_verify_policy *cg_tls_server_policy(const cg_tls_server *s) { return &s->policy; }

void cg_tls_server_chain_stats(const cg_tls_server *s, unsigned worker, cg_chain_cache_stats *out)
{
    cg_chain_cache_stats_get(s->chains, worker, out);
}

/* ---- per connection ---- */

static void chain_limits_of(const cg_tls_conn *c, cg_chain_limits *lim)
{
    mbedtls_x509_crt *trust = cg_chain_cache_trust(c->server->chains, c->worker);
    *lim = (cg_chain_limits){
        .listener = c->server->listener_name,
        .max_certificates = c->server->max_client_certificates,
        .max_depth = c->server->policy.max_chain_depth,
        .trust = trust ? trust : &c->server->anchors,
    };
}

static bool refuse(cg_tls_conn *c, const char *why)
{
    if (!c->refused && !(c->refused = calloc(1, sizeof *c->refused)))
        return false;
    snprintf(c->refused->why, sizeof c->refused->why, "%s", why);
    return true;
}

/* The client's Certificate message is whole and mbedTLS is about to parse
 * and verify it (cert_msg.h). Over the limits it is refused now, and the
 * handshake's trust list becomes the message's own CA certificates: the
 * verification mbedTLS 3.6 cannot be told to skip then ends at the first of
 * them that issued the leaf (one signature check for the floods the limits
 * are about) instead of climbing through every same-named fake; its result
 * is not used. Returns 0 or an mbedTLS error. */
static int judge_certificate_message(cg_tls_conn *c)
{
    cg_chain_limits lim;
    chain_limits_of(c, &lim);
    char why[sizeof c->refused->why];
    const unsigned char *msg = c->cert_msg.buf;
    size_t len = c->cert_msg.len;
    int ret = 0;
    if (cg_chain_limits_check(msg, len, &lim, why, sizeof why, NULL) == CG_CHAIN_OVER) {
        cg_chain_span spans[CG_CHAIN_MAX_CERTIFICATES_LIMIT];
        long n = cg_chain_msg_split(msg, len, spans, CG_CHAIN_MAX_CERTIFICATES_LIMIT);
        if (!refuse(c, why) || !(c->decoys = calloc(1, sizeof *c->decoys))) {
            ret = MBEDTLS_ERR_SSL_ALLOC_FAILED;
        } else {
            mbedtls_x509_crt_init(c->decoys);
            for (long i = 1; i < n && i < CG_CHAIN_MAX_CERTIFICATES_LIMIT; i++) {
                mbedtls_x509_crt one;
                mbedtls_x509_crt_init(&one);
                if (mbedtls_x509_crt_parse_der_nocopy(&one, msg + spans[i].off, spans[i].len) == 0 &&
                    cg_cert_is_ca(&one))
                    (void)mbedtls_x509_crt_parse_der(c->decoys, msg + spans[i].off, spans[i].len);
                mbedtls_x509_crt_free(&one);
            }
            mbedtls_ssl_set_hs_ca_chain(&c->ssl, c->decoys, NULL);
        }
    }
    cg_cert_msg_free(&c->cert_msg);
    return ret;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    cg_tls_conn *c = ctx;
    if (c->in_len == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = len < c->in_len ? len : c->in_len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    if (c->cert_msg.state == CG_CERT_MSG_WATCHING &&
        cg_cert_msg_feed(&c->cert_msg, buf, n, MBEDTLS_SSL_IN_CONTENT_LEN) == CG_CERT_MSG_COMPLETE) {
        int ret = judge_certificate_message(c);
        if (ret != 0)
            return ret;
    }
    return (int)n;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    cg_tls_conn *c = ctx;
    if (!c->send(c->send_ctx, buf, len))
        return MBEDTLS_ERR_NET_SEND_FAILED;
    return (int)len;
}

#if defined(MBEDTLS_SSL_TLS13_PEER_CHAIN_HOOK)
/* TLS 1.3 (the bundled mbedTLS's patch 0004, docs/platform.md): the
 * client's chain, parsed from its encrypted Certificate message, before
 * mbedTLS verifies it. The same judge as TLS 1.2's message watcher; over the
 * limits the chain is refused now and not verified at all: mbedTLS records
 * SKIP_VERIFY as its result (which the session and its tickets keep), the
 * handshake completes and the request gets the 403.16 page. */
static int peer_chain_hook(void *p, mbedtls_ssl_context *ssl, const mbedtls_x509_crt *chain)
{
    (void)ssl;
    cg_tls_conn *c = p;
    c->chain_judged = true;
    cg_chain_limits lim;
    chain_limits_of(c, &lim);
    char why[sizeof c->refused->why];
    if (cg_chain_limits_check_chain(chain, &lim, why, sizeof why) != CG_CHAIN_OVER)
        return 0;
    if (!refuse(c, why))
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return MBEDTLS_SSL_TLS13_PEER_CHAIN_SKIP_VERIFY;
}
#endif

/* The verification callback (mbedtls_ssl_set_verify): records what
 * mbedTLS found for each certificate (verify.h). At the leaf, which mbedTLS
 * reaches last with the client's whole chain behind it (crt->next), a chain
 * nothing judged before (neither the TLS 1.2 message watcher,
 * judge_certificate_message(), nor the TLS 1.3 hook, peer_chain_hook(): a
 * TLS 1.3 handshake with a system mbedTLS) is judged against the listener's
 * limits now. A chain over them is refused whatever the verification found,
 * and flagged SKIP_VERIFY (a flag mbedTLS never sets when it verifies),
 * which the session keeps: a session resumed from it stays refused. */
static int verify_cb(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    cg_tls_conn *c = p;
    if (depth == 0 && !c->chain_judged) {
        cg_chain_limits lim;
        chain_limits_of(c, &lim);
        char why[sizeof c->refused->why];
        if (!c->refused && cg_chain_limits_check_chain(crt, &lim, why, sizeof why) == CG_CHAIN_OVER &&
            !refuse(c, why))
            return MBEDTLS_ERR_SSL_ALLOC_FAILED;
        if (c->refused)
            *flags |= MBEDTLS_X509_BADCERT_SKIP_VERIFY;
    }
    return cg_verify_record(&c->trace, crt, depth, flags);
}

bool cg_tls_conn_init(cg_tls_conn *c, const cg_tls_server *s, unsigned worker, cg_tls_send_fn send, void *send_ctx)
{
    memset(c, 0, sizeof *c);
    c->server = s;
    c->worker = worker;
    c->send = send;
    c->send_ctx = send_ctx;
    mbedtls_ssl_init(&c->ssl);
    if (mbedtls_ssl_setup(&c->ssl, &s->conf) != 0) {
        mbedtls_ssl_free(&c->ssl);
        return false;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    mbedtls_ssl_set_verify(&c->ssl, verify_cb, c);
#if defined(MBEDTLS_SSL_TLS13_PEER_CHAIN_HOOK)
    mbedtls_ssl_set_tls13_peer_chain_hook(&c->ssl, peer_chain_hook, c);
#endif
    /* This worker's trust list: the anchors and the CAs it learned
     * (chain_cache.h); the CA names sent stay the anchors' (dn_hints). */
    mbedtls_x509_crt *trust = cg_chain_cache_trust(s->chains, worker);
    if (trust)
        mbedtls_ssl_set_hs_ca_chain(&c->ssl, trust, NULL);
    return true;
}

void cg_tls_conn_free(cg_tls_conn *c)
{
    mbedtls_ssl_free(&c->ssl);
    free(c->refused);
    c->refused = NULL;
    cg_tls13_resumed_clear(&c->resumed13);
    cg_cert_msg_free(&c->cert_msg);
    if (c->decoys) {
        mbedtls_x509_crt_free(c->decoys);
        free(c->decoys);
        c->decoys = NULL;
    }
}

void cg_tls_conn_feed(cg_tls_conn *c, const unsigned char *p, size_t n)
{
    c->in = p;
    c->in_len = n;
}

const char *cg_tls_failure(const cg_tls_conn *c, char *buf, size_t cap)
{
    cg_tls_strerror(c->last_error, buf, cap);
    /* A TLS 1.3-only client meets a TLS 1.2-only listener as a ClientHello
     * with no suite in common: mbedTLS calls it a negotiation failure. */
    if (c->last_error == MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE && !c->handshake_done &&
        c->server->max_version == CG_TLS_1_2)
        cg_fmt_append(buf, cap, strlen(buf),
                      " (this listener accepts TLS 1.2 only, tls.max_version: a client that offers only TLS 1.3 "
                      "has nothing in common with it)");
    return buf;
}

static cg_tls_status map_error(cg_tls_conn *c, int ret)
{
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return CG_TLS_WANT_READ;
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return CG_TLS_CLOSED;
    c->last_error = ret;
    return CG_TLS_ERROR;
}

/* Whether a TLS 1.3 handshake resumed a session. A full one asks for a
 * certificate: the verification callback ran, or the client sent none
 * (BADCERT_MISSING). A resumed one (pre-shared key) asks for none, and
 * mbedTLS calls its result 0; the ticket it used is the last one opened
 * (ticket_parse()). What a ticket brought is dropped when it was not used. */
static bool tls13_resumed(cg_tls_conn *c)
{
    if (mbedtls_ssl_get_version_number(&c->ssl) != MBEDTLS_SSL_VERSION_TLS1_3)
        return false;
    bool resumed = c->resumed13.present && c->trace.depth_count == 0 && !mbedtls_ssl_get_peer_cert(&c->ssl) &&
                   mbedtls_ssl_get_verify_result(&c->ssl) == 0;
    if (!resumed)
        cg_tls13_resumed_clear(&c->resumed13);
    return resumed;
}

cg_tls_status cg_tls_handshake(cg_tls_conn *c)
{
    if (c->handshake_done)
        return CG_TLS_OK;
    handshaking = c;
    int ret = mbedtls_ssl_handshake(&c->ssl);
    handshaking = NULL;
    if (ret != 0)
        return map_error(c, ret);
    c->handshake_done = true;
    /* The verification callback runs on every full handshake that carried a
     * certificate (but one whose chain the TLS 1.3 hook refused unverified);
     * a session with a certificate but no trace was resumed. */
    bool resumed13 = tls13_resumed(c); /* first: drops an unused ticket's certificate */
    const mbedtls_x509_crt *peer = cg_tls_peer_cert(c);
    c->resumed = resumed13 || (c->trace.depth_count == 0 && peer != NULL && !c->chain_judged);
    if (c->resumed && (cg_tls_verify_result(c) & MBEDTLS_X509_BADCERT_SKIP_VERIFY)) {
        /* Resumed from a handshake whose chain was refused (verify_cb()). */
        if (!refuse(c, "This TLS session was resumed from a handshake whose client certificate chain was refused "
                       "before verification (over the listener's chain limits); the client must start a new "
                       "session with an acceptable chain."))
            return map_error(c, MBEDTLS_ERR_SSL_ALLOC_FAILED);
    }
    if (c->trace.depth_count > 0 && !c->refused)
        c->chain_cached = cg_chain_cache_complete(c->server->chains, c->worker, peer, &c->trace);
    return CG_TLS_OK;
}

cg_tls_status cg_tls_read(cg_tls_conn *c, unsigned char *p, size_t cap, size_t *got)
{
    *got = 0;
    /* Nothing fed and nothing held: mbedtls_ssl_read would only ask bio_recv
     * for a record header and get WANT_READ. Reading until WANT_READ is how
     * every caller ends a burst, once per request on a keep-alive connection.
     * mbedTLS reads a stream record exactly (header, then its length), so no
     * later record can sit in its buffer; a partial one needs more bytes. */
    if (cg_tls_nothing_to_read(c))
        return CG_TLS_WANT_READ;
    int ret = mbedtls_ssl_read(&c->ssl, p, cap);
    if (ret > 0) {
        *got = (size_t)ret;
        return CG_TLS_OK;
    }
    if (ret == 0)
        return CG_TLS_CLOSED;
    return map_error(c, ret);
}

int cg_tls_ssl_write_all(mbedtls_ssl_context *ssl, const unsigned char *p, size_t n)
{
    while (n > 0) {
        int ret = mbedtls_ssl_write(ssl, p, n);
        if (ret < 0)
            return ret;
        p += ret;
        n -= (size_t)ret;
    }
    return 0;
}

cg_tls_status cg_tls_write(cg_tls_conn *c, const unsigned char *p, size_t n)
{
    int ret = cg_tls_ssl_write_all(&c->ssl, p, n);
    if (ret == 0)
        return CG_TLS_OK;
    c->last_error = ret;
    return CG_TLS_ERROR;
}

void cg_tls_close_notify(cg_tls_conn *c)
{
    if (c->handshake_done)
        mbedtls_ssl_close_notify(&c->ssl);
}

const mbedtls_x509_crt *cg_tls_peer_cert(const cg_tls_conn *c)
{
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);
    return peer ? peer : c->resumed13.chain;
}

uint32_t cg_tls_verify_result(const cg_tls_conn *c)
{
    return c->resumed13.present ? c->resumed13.flags : mbedtls_ssl_get_verify_result(&c->ssl);
}

const mbedtls_x509_crt *cg_tls_client_leaf(const cg_tls_conn *c, bool *sent)
{
    const mbedtls_x509_crt *peer = cg_tls_peer_cert(c);
    *sent = peer != NULL || c->refused != NULL;
    return peer;
}

void cg_tls_session_info_get(const cg_tls_conn *c, cg_tls_session_info *out)
{
    const char *cipher = c->handshake_done ? mbedtls_ssl_get_ciphersuite(&c->ssl) : NULL;
    out->version = c->handshake_done ? mbedtls_ssl_get_version(&c->ssl) : "-";
    out->cipher = cipher ? cipher : "-";
    out->resumed = c->handshake_done && c->resumed;
}
