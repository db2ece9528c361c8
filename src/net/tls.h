/* TLS termination with mbedTLS 3.6, bridged to libuv without blocking.
 *
 * cg_tls_server: everything one listener needs (certificate, key, client
 * trust anchors, cipher policy, session tickets). Built once per config
 * snapshot and shared read-only by every worker.
 *
 * cg_tls_conn: one connection's TLS state. The caller feeds it ciphertext
 * read from the socket and gives it a function that writes ciphertext out;
 * it never touches the socket itself, so it never blocks.
 */
#ifndef CG_TLS_H
#define CG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "cert_msg.h"
#include "config/config.h"
#include "tls13_ticket.h"
#include "x509/x509.h"

typedef struct cg_tls_server cg_tls_server;

/* Loads the listener's certificate, key, chain and client CA files. Errors
 * are reported in diag at the position of the offending key in cfg_file.
 * workers: how many workers (event loops) will use it, for per-worker state. */
cg_tls_server *cg_tls_server_new(const cg_listener_cfg *l, unsigned workers, const char *cfg_file, cg_diag *diag);
void cg_tls_server_free(cg_tls_server *s);

/* Writes ciphertext to the peer. Must accept all n bytes (queueing what it
 * cannot write now); returns false if the connection is broken. */
typedef bool (*cg_tls_send_fn)(void *ctx, const unsigned char *p, size_t n);

typedef enum {
    CG_TLS_OK = 0,       /* progress made / operation complete */
    CG_TLS_WANT_READ,    /* needs more ciphertext from the peer */
    CG_TLS_CLOSED,       /* peer sent close_notify or closed */
    CG_TLS_ERROR,        /* fatal; connection must be closed */
} cg_tls_status;

/* A client chain refused over the listener's limits (chain_limits.h). */
typedef struct cg_tls_refusal {
    char why[600];            /* the operator sentence */
} cg_tls_refusal;

typedef struct cg_tls_conn {
    mbedtls_ssl_context ssl;
    const cg_tls_server *server;
    cg_tls_send_fn send;
    void *send_ctx;
    const unsigned char *in;  /* ciphertext fed but not yet consumed */
    size_t in_len;
    unsigned worker;          /* index of the worker (event loop) that owns it */
    bool handshake_done;
    bool resumed;
    bool chain_cached;        /* the client's chain stopped at a learned CA (chain_cache.h) */
    cg_tls_refusal *refused;  /* set when the chain was refused over the limits (rare: allocated then) */
    bool chain_judged;        /* a TLS 1.3 full handshake's chain was judged before verification (patch 0004) */
    cg_cert_msg cert_msg;     /* the client's TLS 1.2 Certificate message, judged before mbedTLS verifies it */
    cg_tls13_resumed resumed13; /* what the TLS 1.3 ticket this connection resumed carried (tls13_ticket.h) */
    mbedtls_x509_crt *decoys; /* a refused message's CA certificates, the trust list its verification ends in */
    int last_error;           /* mbedtls error code of the last failure */
    cg_verify_trace trace;    /* per-certificate verification results */
} cg_tls_conn;

/* worker: the index of the calling worker, below the workers given to
 * cg_tls_server_new(); the connection stays on that worker. */
bool cg_tls_conn_init(cg_tls_conn *c, const cg_tls_server *s, unsigned worker, cg_tls_send_fn send, void *send_ctx);
void cg_tls_conn_free(cg_tls_conn *c);

/* Makes ciphertext available to mbedTLS. The bytes are borrowed until the
 * next call; cg_tls_conn_unconsumed() says how many are left. */
void cg_tls_conn_feed(cg_tls_conn *c, const unsigned char *p, size_t n);
static inline size_t cg_tls_conn_unconsumed(const cg_tls_conn *c) { return c->in_len; }

cg_tls_status cg_tls_handshake(cg_tls_conn *c);
/* Reads plaintext; *got is set to the number of bytes read (0 unless OK). */
cg_tls_status cg_tls_read(cg_tls_conn *c, unsigned char *p, size_t cap, size_t *got);
/* Whether cg_tls_read() would give WANT_READ without a look at anything:
 * nothing fed, the handshake over, no record begun or left in mbedTLS. */
static inline bool cg_tls_nothing_to_read(cg_tls_conn *c)
{
    return c->in_len == 0 && mbedtls_ssl_is_handshake_over(&c->ssl) && !mbedtls_ssl_check_pending(&c->ssl);
}
/* Encrypts and sends all n bytes (through send). */
cg_tls_status cg_tls_write(cg_tls_conn *c, const unsigned char *p, size_t n);
/* mbedtls_ssl_write until all n bytes are taken: 0, or mbedTLS's error. For
 * contexts whose send callback never asks to wait (the server's here, the
 * TLS client's to backends), so a partial write only means a record ended. */
int cg_tls_ssl_write_all(mbedtls_ssl_context *ssl, const unsigned char *p, size_t n);
/* Sends close_notify. */
void cg_tls_close_notify(cg_tls_conn *c);

/* The client's certificate chain (leaf first), or NULL. A resumed TLS 1.3
 * session's is the one its ticket carried. */
const mbedtls_x509_crt *cg_tls_peer_cert(const cg_tls_conn *c);
/* The verification result (MBEDTLS_X509_BADCERT_*) of the session's full
 * handshake, the one a resumed session was made by included. */
uint32_t cg_tls_verify_result(const cg_tls_conn *c);
/* The certificate the client sent (its chain's leaf), or NULL; *sent says
 * whether it sent one (true for a refused chain, c->refused, even when a
 * resumed session no longer holds it). */
const mbedtls_x509_crt *cg_tls_client_leaf(const cg_tls_conn *c, bool *sent);

/* What the access log says about a connection's session (static strings:
 * no allocation). version "TLSv1.2" or "TLSv1.3", cipher the IANA-style mbedTLS name;
 * "-" before the handshake completed. */
typedef struct cg_tls_session_info {
    const char *version, *cipher;
    bool resumed;                 /* abbreviated handshake (session cache or ticket) */
} cg_tls_session_info;
void cg_tls_session_info_get(const cg_tls_conn *c, cg_tls_session_info *out);

/* The protocol the client and the listener agreed on by ALPN: CG_TLS_ALPN_H2,
 * "http/1.1", or "" (none; also before the handshake completed). */
#define CG_TLS_ALPN_H2 "h2"
const char *cg_tls_alpn(const cg_tls_conn *c);

/* A short human description of an mbedTLS error code. */
const char *cg_tls_strerror(int err, char *buf, size_t cap);
/* The same for an error opening a certificate or key file, in the
 * operator's words (unreadable, encrypted key). */
const char *cg_tls_file_strerror(int err, char *buf, size_t cap);

/* Why the connection's handshake failed, for the log: its last error, with
 * what the listener's TLS versions have to do with it when they may. */
const char *cg_tls_failure(const cg_tls_conn *c, char *buf, size_t cap);

/* Listener settings the verifier needs. */
const cg_verify_policy *cg_tls_server_policy(const cg_tls_server *s);
/* The subjects of the client CAs this listener names in its
 * CertificateRequest (tls.client_ca_names), in that order; none when it
 * names none. For the 403.7 page. */
const char *const *cg_tls_server_ca_names(const cg_tls_server *s, size_t *n);
/* The shared session-ticket keys of this listener (tls.session_ticket_keys,
 * ticket_keys.h), or NULL when it uses random keys of its own. */
struct cg_ticket_keyring *cg_tls_server_ticket_keys(const cg_tls_server *s);
/* What the verified-chain cache of one worker did (chain_cache.h). */
void cg_tls_server_chain_stats(const cg_tls_server *s, unsigned worker, cg_chain_cache_stats *out);

#endif
