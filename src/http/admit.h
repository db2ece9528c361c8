/* Admission of a request: THE pipeline a request goes through before it may
 * reach a backend, in this order:
 *
 *   certificate verdict (waiting for a revocation answer still pending)
 *   -> revocation again when a CRL changed since the verdict
 *   -> request rate (rate_limit) -> route -> certificate required
 *   -> request body size (max_request_body) -> mapping (once per client)
 *   -> the client's headers for the backend (once per client; a certificate
 *      over forward_client_cert_der.max_size is refused here)
 *   -> Kerberos token (per request, or none on an authenticated
 *      connection-bound backend connection)
 *
 * It owns who the client is (cg_client: the certificate's verdict and
 * names, the verified chain, the mapped principal, the identity headers),
 * made once per connection after the handshake and kept for its life; an
 * HTTP/2 stream or a WebSocket tunnel would share its connection's client.
 * The exchange hands it a request (cg_admit) and gets one answer by callback:
 * forward (with a Negotiate token or none), refused (a cg_refusal), or
 * failed (close at once). Nothing here allocates per request.
 */
#ifndef CG_ADMIT_H
#define CG_ADMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "backend.h"
#include "config/config.h"
#include "net/net.h"
#include "base/base.h"
#include "http1.h"
#include "x509/x509.h"

struct cg_crl_check;
struct cg_deleg_req;
struct cg_admit;

/* Largest request body kept for a retry after a backend 401 (Kerberos). */
#define CG_REPLAY_MAX (64u * 1024)

/* The client on one connection. */
typedef struct cg_client {
    cg_conn *conn;                  /* the transport it came on (address, TLS session, worker) */

    /* The certificate, judged once after the handshake. */
    bool cert_present, cert_ok;
    cg_refusal cert_refusal;
    char *subject;                  /* RFC 4514 text (dn.h), exactly allocated; NULL without a certificate */
    char serial[80], fingerprint[65];
    char identity[CG_IDENTITY_MAX]; /* backend pooling key: "cert:<sha256>", "user:<principal>"
                                       or "anonymous" (backend.h) */

    /* The verified chain (leaf first, anchor last), borrowed from the TLS
     * session and the configuration snapshot the connection holds; kept to
     * re-check revocation when a CRL changes. A resumed session has the leaf only. */
    const mbedtls_x509_crt *chain[CG_VERIFY_MAX_DEPTH];
    int chain_len;
    struct cg_crl_check *crl_check; /* revocation check in flight */
    uint64_t crl_generation;        /* store generation the verdict is based on */
    bool verdict_pending;
    bool checking;                  /* inside cg_crl_check_chain: an answer given at
                                       once is the caller's to act on */
    struct cg_admit *waiting;       /* the request waiting for the verdict */
    void (*rejudged)(void *ctx);    /* cg_client_rejudge's caller, waiting for the verdict */
    void *rejudged_ctx;

    /* Mapping: decided at the first request that needs it, then kept (a
     * mapping reload does not change the user of an open connection). */
    bool mapped;
    char principal[256];
    char map_rule[128];
    /* Tickets of this user flushed after a backend refused one (a 401): a
     * request whose token predates the last flush does not flush again (the
     * parallel streams of one HTTP/2 client share one fresh ticket). */
    unsigned tickets_flushed;

    /* Identity headers for the backend, rendered once at the first request. */
    char *fwd_block;
    size_t fwd_block_len;
    bool fwd_block_ready;
} cg_client;

/* After the handshake: judges c's certificate into cl and starts its
 * revocation check (the answer is waited for by the first request). */
void cg_client_start(cg_client *cl, cg_conn *c);
/* Cancels what is in flight and frees cl's text; idempotent. */
void cg_client_close(cg_client *cl);

/* Whether a CRL changed since cl's verdict. A connection's requests are
 * judged again at their next one (cg_admit_run); what has no next request
 * (a tunnel) asks here now and then. */
bool cg_client_verdict_stale(const cg_client *cl);
/* Judges cl's chain again against the CRLs of now. True when the verdict is
 * known at return (cert_ok, cert_refusal); false when done(ctx) runs once it
 * is (never before this returns; not after cg_client_close). */
bool cg_client_rejudge(cg_client *cl, void (*done)(void *ctx), void *ctx);

/* The identity headers for the backends (X-Client-Cert-*, the certificate
 * itself as Client-Cert / Client-Cert-Chain / X-ARR-ClientCert
 * (cert_headers.h), X-Certgate-Principal), rendered once per client for
 * listener l by the pipeline. False: out of memory, or a request the
 * pipeline did not admit. */
bool cg_client_forward_headers(cg_client *cl, const cg_listener_cfg *l, cg_slice *out);

typedef enum {
    CG_ADMIT_FORWARD, /* go on to the backend (token: Authorization: Negotiate, or NULL) */
    CG_ADMIT_REFUSED, /* why; close_after: the connection closes after the page */
    CG_ADMIT_FAILED,  /* out of memory: close at once */
} cg_admit_outcome;

typedef struct cg_admit_answer {
    cg_admit_outcome outcome;
    const char *token;              /* FORWARD: base64 SPNEGO token, valid during the callback; or NULL */
    const cg_refusal *why;          /* REFUSED */
    bool close_after;               /* REFUSED */
    /* An answer to cg_admit_token_again: route, backend, body_room and
     * replay_ok are those of the request's first answer, not decided again. */
    bool again;
} cg_admit_answer;

typedef void (*cg_admit_cb)(void *ctx, const cg_admit_answer *a);

/* One request's way through the pipeline; lives in the exchange. */
typedef struct cg_admit {
    cg_client *client;
    cg_admit_cb answer;
    void *ctx;

    /* The request, set by the exchange before cg_admit_run. */
    const cg_config *cfg;           /* the request's snapshot */
    const cg_http_request *req;
    const char *request_id;
    bool dedicated;                 /* it goes on a new backend connection of its own (an
                                       upgrade): a pooled connection's authentication
                                       does not spare it a Kerberos token */

    /* What the stages decided (set as far as the pipeline went, refused or not). */
    const cg_route *route;
    size_t backend;                 /* index into cfg->backends (route->backend) */
    uint64_t body_room;             /* body bytes the request may send (UINT64_MAX: no limit) */
    uint32_t retry_after_s;         /* a 429's Retry-After */
    bool replay_ok;                 /* a delegating request: keep its body for a retry after a 401 */

    struct cg_deleg_req *deleg;     /* Kerberos token request in flight */
    bool again;                     /* the token is asked again (cg_admit_token_again) */
    unsigned token_flushes;         /* client->tickets_flushed when the token was given */
} cg_admit;

/* Runs the pipeline for a's request. The answer comes once, possibly before
 * this returns. */
void cg_admit_run(cg_admit *a);

/* Whether the request goes to its backend as the mapped user (Kerberos). */
bool cg_admit_delegates(const cg_admit *a);

/* Asks for a Kerberos token again and answers like cg_admit_run: a new
 * backend connection needs one (the lost one was authenticated as a
 * connection), or the backend answered 401 (after_401; sent_token: our
 * ticket was refused, so it is forgotten first, unless the client's tickets
 * were flushed since this token was given). */
void cg_admit_token_again(cg_admit *a, bool after_401, bool sent_token);

/* A request sent without a token (its backend connection was authenticated:
 * connection-bound) lost that connection: whether the new one needs a token
 * (cg_admit_token_again) rather than the request sent again as it was. */
bool cg_admit_new_connection_needs_token(const cg_admit *a, bool sent_token);

/* The request is going away: no answer comes afterwards. */
void cg_admit_cancel(cg_admit *a);

#endif
