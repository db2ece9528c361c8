/* The TLS client certgate speaks to https backends (mbedTLS 3.6), bridged
 * to libuv by its caller without blocking: like tls.h's server side, it
 * never touches a socket. The caller puts ciphertext read from the socket
 * into the connection (cg_tls_client_in_space/_in_commit) and sends what it
 * finds in the connection's output (cg_tls_client_swap_out).
 *
 * cg_tls_client: one backend's client settings (trust anchors, the name
 * verified, the certificate presented), built once per configuration
 * snapshot and shared read-only by every worker, plus one resumable session
 * per worker (each worker touches only its own).
 *
 * Sessions are shared by every connection of a worker to that backend,
 * whatever identity a connection carries: a TLS session authenticates the
 * backend to certgate and certgate to the backend (the same certificate for
 * everyone); users are authenticated inside HTTP (Negotiate), per
 * connection. A resumed session derives fresh keys for each connection, and
 * a backend learns nothing from it that it does not already know (every
 * connection comes from certgate).
 */
#ifndef CG_TLS_CLIENT_H
#define CG_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"
#include "config/config.h"
#include "tls.h"

typedef struct cg_tls_client cg_tls_client;
typedef struct cg_tls_client_conn cg_tls_client_conn;

/* Opens b's tls files (the CA bundle, the client certificate and key);
 * errors in diag at the position of the key in cfg_file. */
cg_tls_client *cg_tls_client_new(const cg_backend_cfg *b, unsigned workers, const char *cfg_file, cg_diag *diag);
void cg_tls_client_free(cg_tls_client *t);

/* Why a handshake failed (cg_tls_client_failure_of). */
typedef enum cg_tls_client_failure {
    CG_TLS_CLIENT_OK = 0,
    CG_TLS_CLIENT_UNTRUSTED,     /* the certificate does not chain to a trusted CA, or is not valid now */
    CG_TLS_CLIENT_NAME_MISMATCH, /* it does not name server_name */
    CG_TLS_CLIENT_HANDSHAKE,     /* an alert, a protocol error, nothing in common */
} cg_tls_client_failure;

/* A connection of worker (below the workers given to cg_tls_client_new);
 * NULL on out-of-memory. It offers the worker's saved session. */
cg_tls_client_conn *cg_tls_client_conn_new(cg_tls_client *t, unsigned worker);
void cg_tls_client_conn_free(cg_tls_client_conn *c);

/* Room for at least one read of ciphertext from the socket (*n bytes at
 * the returned pointer, NULL on out-of-memory), then how many arrived. */
unsigned char *cg_tls_client_in_space(cg_tls_client_conn *c, size_t *n);
void cg_tls_client_in_commit(cg_tls_client_conn *c, size_t n);
/* Whether the connection holds received bytes not yet read as plaintext. */
bool cg_tls_client_in_pending(const cg_tls_client_conn *c);

/* Runs the handshake as far as the received bytes allow. OK when done
 * (certificate and name verified, or a session resumed). */
cg_tls_status cg_tls_client_handshake(cg_tls_client_conn *c);
/* Plaintext from what was received; *got bytes (0 unless OK). WANT_READ:
 * more ciphertext is needed. CLOSED: the backend sent close_notify. */
cg_tls_status cg_tls_client_read(cg_tls_client_conn *c, unsigned char *p, size_t cap, size_t *got);
/* Encrypts all n bytes into the output. */
cg_tls_status cg_tls_client_write(cg_tls_client_conn *c, const unsigned char *p, size_t n);
/* Puts close_notify into the output. */
void cg_tls_client_close_notify(cg_tls_client_conn *c);

/* Exchanges the connection's pending output with *b (which must be empty):
 * the caller owns those bytes until it hands an emptied buffer back the
 * same way. */
void cg_tls_client_swap_out(cg_tls_client_conn *c, cg_buf *b);
size_t cg_tls_client_out_len(const cg_tls_client_conn *c);

/* After ERROR: what failed, and the operator sentence naming it (the
 * certificate's subject, issuer, names; the alert or error). */
cg_tls_client_failure cg_tls_client_failure_of(const cg_tls_client_conn *c, char *why, size_t cap);
/* The stable code of a failure ("backend_tls_untrusted", ...). */
const char *cg_tls_client_failure_code(cg_tls_client_failure f);
/* Whether the handshake resumed the worker's saved session. */
bool cg_tls_client_resumed(const cg_tls_client_conn *c);
/* "TLSv1.3" and the suite, for logs ("-" before the handshake ends). */
const char *cg_tls_client_version(const cg_tls_client_conn *c);
const char *cg_tls_client_cipher(const cg_tls_client_conn *c);

#endif
