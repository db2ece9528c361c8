#include "tls_client.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

/* One read from the socket lands here at a time; the socket is read only
 * while the connection's owner takes plaintext, so this bounds the
 * ciphertext a connection holds. */
#define CG_TLS_CLIENT_READ_CHUNK 16384u

typedef struct saved_session {
    mbedtls_ssl_session s;
    bool valid;
} saved_session;

struct cg_tls_client {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt anchors;
    mbedtls_x509_crt own_chain;
    mbedtls_pk_context own_key;
    bool own_cert;
    char *server_name;
    char *ca_file;
    saved_session *sessions;   /* one per worker */
    unsigned workers;
};

struct cg_tls_client_conn {
    mbedtls_ssl_context ssl;
    cg_tls_client *t;
    unsigned worker;
    cg_buf in;                 /* ciphertext received; in_off of it consumed */
    size_t in_off;
    cg_buf out;                /* ciphertext to send */
    bool handshake_done, resumed, out_failed;
    int last_error;            /* mbedTLS error of the failure */
    int alert;                 /* the fatal alert the backend sent, or -1 */
    /* What verification met (verify_cb), for the operator sentence. */
    uint32_t flags;
    int top_depth;
    char leaf_subject[256], leaf_issuer[256], leaf_names[384], top_issuer[256];
};

/* Forward secrecy and AEAD only, as on the listeners (net/tls.c). */
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

static void file_error(cg_diag *diag, const char *cfg_file, cg_pos pos, const cg_backend_cfg *b, const char *key,
                       const char *path, int err)
{
    char e[160];
    if (err == MBEDTLS_ERR_PK_FILE_IO_ERROR || err == MBEDTLS_ERR_X509_FILE_IO_ERROR)
        snprintf(e, sizeof e, "cannot read the file (missing or not readable by this user)");
    else if (err == MBEDTLS_ERR_PK_PASSWORD_REQUIRED)
        snprintf(e, sizeof e, "the key is encrypted; certgate needs an unencrypted key (protect it with file permissions)");
    else if (err > 0)
        snprintf(e, sizeof e, "%d certificate(s) in the file could not be parsed", err);
    else
        mbedtls_strerror(err, e, sizeof e);
    cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, pos.line, pos.column, "backends[%s].tls.%s \"%s\": %s", b->name, key,
                path, e);
}

void cg_tls_client_free(cg_tls_client *t)
{
    if (!t)
        return;
    for (unsigned i = 0; t->sessions && i < t->workers; i++)
        mbedtls_ssl_session_free(&t->sessions[i].s);
    free(t->sessions);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->anchors);
    mbedtls_x509_crt_free(&t->own_chain);
    mbedtls_pk_free(&t->own_key);
    free(t->server_name);
    free(t->ca_file);
    free(t);
}

cg_tls_client *cg_tls_client_new(const cg_backend_cfg *b, unsigned workers, const char *cfg_file, cg_diag *diag)
{
    cg_tls_client *t = calloc(1, sizeof *t);
    if (!t) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0, "out of memory");
        return NULL;
    }
    (void)psa_crypto_init(); /* main() started it; this returns its result again */
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->anchors);
    mbedtls_x509_crt_init(&t->own_chain);
    mbedtls_pk_init(&t->own_key);
    t->workers = workers ? workers : 1;
    t->sessions = calloc(t->workers, sizeof *t->sessions);
    t->server_name = strdup(b->tls_server_name ? b->tls_server_name : b->host);
    t->ca_file = strdup(b->tls_ca_file ? b->tls_ca_file : "");
    if (!t->sessions || !t->server_name || !t->ca_file) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0, "out of memory");
        cg_tls_client_free(t);
        return NULL;
    }
    for (unsigned i = 0; i < t->workers; i++)
        mbedtls_ssl_session_init(&t->sessions[i].s);

    bool ok = true;
    int err;
    const char *ca_key = b->tls_ca_system ? "ca" : "ca_file";
    if ((err = mbedtls_x509_crt_parse_file(&t->anchors, t->ca_file)) != 0) {
        /* The system store holds some certificates mbedTLS cannot parse
         * (> 0: that many were skipped); the rest are usable. */
        if (!(err > 0 && b->tls_ca_system && t->anchors.raw.p)) {
            file_error(diag, cfg_file, b->tls_ca_pos, b, ca_key, t->ca_file, err);
            ok = false;
        }
    }
    if (ok && !t->anchors.raw.p) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, b->tls_ca_pos.line, b->tls_ca_pos.column,
                    "backends[%s].tls.%s \"%s\" holds no certificate", b->name, ca_key, t->ca_file);
        ok = false;
    }
    if (b->tls_cert_file && b->tls_key_file) {
        if ((err = mbedtls_x509_crt_parse_file(&t->own_chain, b->tls_cert_file)) != 0) {
            file_error(diag, cfg_file, b->tls_cert_pos, b, "client_certificate", b->tls_cert_file, err);
            ok = false;
        }
        if ((err = mbedtls_pk_parse_keyfile(&t->own_key, b->tls_key_file, NULL, mbedtls_psa_get_random,
                                            MBEDTLS_PSA_RANDOM_STATE)) != 0) {
            file_error(diag, cfg_file, b->tls_key_pos, b, "client_key", b->tls_key_file, err);
            ok = false;
        }
        if (ok && mbedtls_pk_check_pair(&t->own_chain.pk, &t->own_key, mbedtls_psa_get_random,
                                        MBEDTLS_PSA_RANDOM_STATE) != 0) {
            cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, b->tls_key_pos.line, b->tls_key_pos.column,
                        "backends[%s].tls.client_key \"%s\" does not belong to the certificate in \"%s\" (the first "
                        "certificate of client_certificate must be certgate's own)",
                        b->name, b->tls_key_file, b->tls_cert_file);
            ok = false;
        }
        t->own_cert = ok;
    }
    if (!ok) {
        cg_tls_client_free(t);
        return NULL;
    }

    if ((err = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
        goto fail_internal;
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
    mbedtls_ssl_conf_min_tls_version(&t->conf, b->tls_min_version == 13 ? MBEDTLS_SSL_VERSION_TLS1_3
                                                                         : MBEDTLS_SSL_VERSION_TLS1_2);
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
#else
    mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#endif
    mbedtls_ssl_conf_ciphersuites(&t->conf, ciphersuites);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    mbedtls_ssl_conf_renegotiation(&t->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->anchors, NULL);
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
    mbedtls_ssl_conf_session_tickets(&t->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    /* A TLS 1.3 ticket arrives after the handshake: told, it is saved. */
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&t->conf,
                                                             MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
#endif
#endif
    if (t->own_cert && (err = mbedtls_ssl_conf_own_cert(&t->conf, &t->own_chain, &t->own_key)) != 0)
        goto fail_internal;
    return t;

fail_internal: {
    char e[160];
    mbedtls_strerror(err, e, sizeof e);
    cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, b->tls_pos.line, b->tls_pos.column,
                "backend \"%s\": TLS client setup failed: %s", b->name, e);
}
    cg_tls_client_free(t);
    return NULL;
}

/* ---- one connection ---- */

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    cg_tls_client_conn *c = ctx;
    size_t have = c->in.len - c->in_off;
    if (have == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = len < have ? len : have;
    memcpy(buf, c->in.data + c->in_off, n);
    c->in_off += n;
    if (c->in_off == c->in.len)
        c->in.len = c->in_off = 0;
    return (int)n;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    cg_tls_client_conn *c = ctx;
    if (!cg_buf_append(&c->out, buf, len)) {
        c->out_failed = true;
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    return (int)len;
}

/* "DNS:a, DNS:b, IP:127.0.0.1" of a certificate, into out. */
static void cert_names(const mbedtls_x509_crt *crt, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
        mbedtls_x509_subject_alternative_name san;
        if (mbedtls_x509_parse_subject_alt_name(&s->buf, &san) != 0)
            continue;
        char one[300] = "";
        if (san.type == MBEDTLS_X509_SAN_DNS_NAME) {
            snprintf(one, sizeof one, "DNS:%.*s", (int)san.san.unstructured_name.len,
                     (const char *)san.san.unstructured_name.p);
        } else if (san.type == MBEDTLS_X509_SAN_IP_ADDRESS) {
            char ip[INET6_ADDRSTRLEN] = "?";
            int af = san.san.unstructured_name.len == 4 ? AF_INET : AF_INET6;
            if (san.san.unstructured_name.len == 4 || san.san.unstructured_name.len == 16)
                inet_ntop(af, san.san.unstructured_name.p, ip, sizeof ip);
            snprintf(one, sizeof one, "IP:%s", ip);
        }
        mbedtls_x509_free_subject_alt_name(&san);
        if (one[0])
            len = cg_fmt_append(out, cap, len, "%s%s", len ? ", " : "", one);
    }
    if (len)
        return;
    /* Without subjectAltName, mbedTLS matches the subject's CNs. */
    for (const mbedtls_x509_name *n = &crt->subject; n && n->oid.p; n = n->next)
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
            len = cg_fmt_append(out, cap, len, "%sCN:%.*s", len ? ", " : "", (int)n->val.len,
                                (const char *)n->val.p);
    cg_fmt_append(out, cap, len, "%s", len ? " (no subjectAltName)" : "no name (no subjectAltName, no CN)");
}

/* Records what verification met: the leaf (depth 0, reached last) and the
 * top of the chain the backend sent (the issuer that failed to chain). */
static int verify_cb(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    cg_tls_client_conn *c = p;
    c->flags |= *flags;
    if (depth >= c->top_depth) {
        c->top_depth = depth;
        cg_dn_text_into(crt->issuer_raw.p, crt->issuer_raw.len, c->top_issuer, sizeof c->top_issuer);
    }
    if (depth == 0) {
        cg_cert_subject(crt, c->leaf_subject, sizeof c->leaf_subject);
        cg_dn_text_into(crt->issuer_raw.p, crt->issuer_raw.len, c->leaf_issuer, sizeof c->leaf_issuer);
        cert_names(crt, c->leaf_names, sizeof c->leaf_names);
    }
    return 0;
}

cg_tls_client_conn *cg_tls_client_conn_new(cg_tls_client *t, unsigned worker)
{
    cg_tls_client_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->t = t;
    /* A worker beyond the snapshot's count (a reload lowered workers: it
     * takes effect at restart) resumes nothing: slots are never shared. */
    c->worker = worker;
    c->alert = -1;
    c->top_depth = -1;
    mbedtls_ssl_init(&c->ssl);
    if (mbedtls_ssl_setup(&c->ssl, &t->conf) != 0 || mbedtls_ssl_set_hostname(&c->ssl, t->server_name) != 0) {
        cg_tls_client_conn_free(c);
        return NULL;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    mbedtls_ssl_set_verify(&c->ssl, verify_cb, c);
    saved_session *saved = worker < t->workers ? &t->sessions[worker] : NULL;
    if (saved && saved->valid && mbedtls_ssl_set_session(&c->ssl, &saved->s) != 0)
        saved->valid = false; /* a full handshake then */
    return c;
}

void cg_tls_client_conn_free(cg_tls_client_conn *c)
{
    if (!c)
        return;
    mbedtls_ssl_free(&c->ssl);
    cg_buf_free(&c->in);
    cg_buf_free(&c->out);
    free(c);
}

unsigned char *cg_tls_client_in_space(cg_tls_client_conn *c, size_t *n)
{
    if (c->in_off > 0 && c->in_off == c->in.len)
        c->in.len = c->in_off = 0;
    if (c->in_off > 0 && c->in.cap - c->in.len < CG_TLS_CLIENT_READ_CHUNK) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    if (!cg_buf_reserve(&c->in, CG_TLS_CLIENT_READ_CHUNK)) {
        *n = 0;
        return NULL;
    }
    *n = c->in.cap - c->in.len;
    return (unsigned char *)c->in.data + c->in.len;
}

void cg_tls_client_in_commit(cg_tls_client_conn *c, size_t n) { c->in.len += n; }

bool cg_tls_client_in_pending(const cg_tls_client_conn *c)
{
    return c->in.len > c->in_off || mbedtls_ssl_check_pending(&c->ssl);
}

/* The worker's session for the next connection: after a TLS 1.2
 * handshake, or when a TLS 1.3 ticket arrived. */
static void save_session(cg_tls_client_conn *c)
{
    if (c->worker >= c->t->workers)
        return;
    saved_session *saved = &c->t->sessions[c->worker];
    mbedtls_ssl_session_free(&saved->s);
    mbedtls_ssl_session_init(&saved->s);
    saved->valid = mbedtls_ssl_get_session(&c->ssl, &saved->s) == 0;
}

/* Whether a WANT_READ is spurious: mbedTLS says it after handling a message
 * that is not application data (a TLS 1.3 NewSessionTicket), even with more
 * records received. Then the call is made again while it consumes bytes or
 * holds a message back (mbedtls_ssl_check_pending never counts a partial
 * record); *tries bounds the calls that consume nothing. */
#define CG_TLS_CLIENT_IDLE_RETRIES 8
static bool again(const cg_tls_client_conn *c, size_t unread_before, unsigned *tries)
{
    size_t unread = c->in.len - c->in_off;
    if (unread < unread_before && unread > 0)
        return true;
    return mbedtls_ssl_check_pending(&c->ssl) && ++*tries <= CG_TLS_CLIENT_IDLE_RETRIES;
}

static cg_tls_status failed(cg_tls_client_conn *c, int ret)
{
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return CG_TLS_WANT_READ;
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return CG_TLS_CLOSED;
    c->last_error = ret;
    /* The alert's description is the second byte of the record mbedTLS
     * just read (RFC 8446 6). */
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && c->ssl.MBEDTLS_PRIVATE(in_msg) &&
        c->ssl.MBEDTLS_PRIVATE(in_msgtype) == MBEDTLS_SSL_MSG_ALERT)
        c->alert = c->ssl.MBEDTLS_PRIVATE(in_msg)[1];
    return CG_TLS_ERROR;
}

cg_tls_status cg_tls_client_handshake(cg_tls_client_conn *c)
{
    unsigned tries = 0;
    while (!c->handshake_done) {
        size_t unread = c->in.len - c->in_off;
        int ret = mbedtls_ssl_handshake(&c->ssl);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ && again(c, unread, &tries))
            continue;
#if defined(MBEDTLS_SSL_PROTO_TLS1_3) && defined(MBEDTLS_SSL_SESSION_TICKETS)
        if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            save_session(c);
            continue;
        }
#endif
        if (ret != 0)
            return failed(c, ret);
        c->handshake_done = true;
        /* The verification callback runs only on a full handshake. */
        c->resumed = c->top_depth < 0;
        if (!c->resumed && mbedtls_ssl_get_version_number(&c->ssl) == MBEDTLS_SSL_VERSION_TLS1_2)
            save_session(c);
    }
    return CG_TLS_OK;
}

cg_tls_status cg_tls_client_read(cg_tls_client_conn *c, unsigned char *p, size_t cap, size_t *got)
{
    *got = 0;
    unsigned tries = 0;
    for (;;) {
        size_t unread = c->in.len - c->in_off;
        int ret = mbedtls_ssl_read(&c->ssl, p, cap);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ && again(c, unread, &tries))
            continue;
        if (ret > 0) {
            *got = (size_t)ret;
            return CG_TLS_OK;
        }
        if (ret == 0)
            return CG_TLS_CLOSED;
#if defined(MBEDTLS_SSL_PROTO_TLS1_3) && defined(MBEDTLS_SSL_SESSION_TICKETS)
        if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            save_session(c);
            continue;
        }
#endif
        return failed(c, ret);
    }
}

cg_tls_status cg_tls_client_write(cg_tls_client_conn *c, const unsigned char *p, size_t n)
{
    int ret = cg_tls_ssl_write_all(&c->ssl, p, n); /* the output buffer never asks to wait */
    if (ret == 0)
        return CG_TLS_OK;
    c->last_error = ret;
    return CG_TLS_ERROR;
}

void cg_tls_client_close_notify(cg_tls_client_conn *c)
{
    if (c->handshake_done)
        (void)mbedtls_ssl_close_notify(&c->ssl);
}

void cg_tls_client_swap_out(cg_tls_client_conn *c, cg_buf *b)
{
    cg_buf t = c->out;
    c->out = *b;
    c->out.len = 0;
    *b = t;
}

size_t cg_tls_client_out_len(const cg_tls_client_conn *c) { return c->out.len; }

bool cg_tls_client_resumed(const cg_tls_client_conn *c) { return c->handshake_done && c->resumed; }

const char *cg_tls_client_version(const cg_tls_client_conn *c)
{
    return c->handshake_done ? mbedtls_ssl_get_version(&c->ssl) : "-";
}

const char *cg_tls_client_cipher(const cg_tls_client_conn *c)
{
    const char *s = c->handshake_done ? mbedtls_ssl_get_ciphersuite(&c->ssl) : NULL;
    return s ? s : "-";
}

const char *cg_tls_client_failure_code(cg_tls_client_failure f)
{
    switch (f) {
    case CG_TLS_CLIENT_UNTRUSTED: return "backend_tls_untrusted";
    case CG_TLS_CLIENT_NAME_MISMATCH: return "backend_tls_name_mismatch";
    case CG_TLS_CLIENT_HANDSHAKE: return "backend_tls_handshake";
    default: return "ok";
    }
}

static const char *alert_name(int a)
{
    switch (a) {
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 109: return "missing_extension";
    case 112: return "unrecognized_name";
    case 116: return "certificate_required";
    case 120: return "no_application_protocol";
    default: return "alert";
    }
}

cg_tls_client_failure cg_tls_client_failure_of(const cg_tls_client_conn *c, char *why, size_t cap)
{
    const cg_tls_client *t = c->t;
    uint32_t flags = c->flags | mbedtls_ssl_get_verify_result(&c->ssl);
    if (c->last_error == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && (flags & ~MBEDTLS_X509_BADCERT_CN_MISMATCH)) {
        char info[512];
        int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", flags & ~MBEDTLS_X509_BADCERT_CN_MISMATCH);
        for (int i = 0; i < n; i++)
            if (info[i] == '\n')
                info[i] = (i == n - 1) ? '\0' : ';';
        if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
            cg_fmt_into(why, cap, "the certificate \"%s\" (issued by \"%s\") does not chain to a CA in \"%s\": the "
                        "chain the backend sent ends at a certificate issued by \"%s\", which is not there (%s). "
                        "Add the backend's issuing CA to tls.ca_file, or give the backend a certificate from a "
                        "trusted CA.", c->leaf_subject, c->leaf_issuer, t->ca_file, c->top_issuer, info);
        else
            cg_fmt_into(why, cap, "the certificate \"%s\" (issued by \"%s\") failed verification against \"%s\": %s.",
                        c->leaf_subject, c->leaf_issuer, t->ca_file, info);
        return CG_TLS_CLIENT_UNTRUSTED;
    }
    if (c->last_error == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        cg_fmt_into(why, cap, "the certificate \"%s\" is not for \"%s\" (the name certgate expects: tls.server_name, "
                    "or the URL's host): it names %s. Set tls.server_name to one of those names, or give the backend "
                    "a certificate for \"%s\".", c->leaf_subject, t->server_name, c->leaf_names, t->server_name);
        return CG_TLS_CLIENT_NAME_MISMATCH;
    }
    char e[160];
    mbedtls_strerror(c->last_error, e, sizeof e);
    if (c->alert >= 0)
        cg_fmt_into(why, cap, "the backend ended the TLS handshake with alert %d (%s)%s", c->alert,
                    alert_name(c->alert),
                    (c->alert == 116 || c->alert == 40 || c->alert == 42) && !t->own_cert
                        ? "; if it requires a client certificate, set tls.client_certificate and tls.client_key"
                    : c->alert == 48 || c->alert == 42 || c->alert == 46 || c->alert == 116
                        ? "; it did not accept the certificate tls.client_certificate presents"
                        : "");
    else
        cg_fmt_into(why, cap, "the TLS handshake failed: %s (mbedTLS %d)", e, c->last_error);
    return CG_TLS_CLIENT_HANDSHAKE;
}
