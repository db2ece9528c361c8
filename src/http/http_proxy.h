/* The HTTP/1.1 exchange between a client connection and a backend
 * connection: one request at a time per client connection, head parsed and
 * rewritten (http1.h), admitted by the pipeline (admit.h), bodies streamed
 * in both directions with backpressure, never buffered whole. The connection
 * reaches it only through cg_http1_handler (conn.h).
 */
#ifndef CG_HTTP_PROXY_H
#define CG_HTTP_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include <http_parser.h>

#include "admit.h"
#include "backend.h"
#include "base/base.h"
#include "body_framing.h"
#include "config/config.h"
#include "net/net.h"
#include "http1.h"
#include "http1_scan.h"
#include "http1_write.h"
#include "upgrade.h"

typedef enum {
    CG_EX_IDLE,       /* between requests: nothing of the next one received */
    CG_EX_HEAD,       /* receiving a request head */
    CG_EX_ADMITTING,  /* head parsed, waiting for a verdict (revocation) or a Kerberos token */
    CG_EX_CONNECTING, /* head accepted, waiting for a backend connection */
    CG_EX_FORWARDING, /* streaming: request body out, response in */
} cg_exchange_phase;

typedef struct cg_exchange {
    cg_exchange_phase phase;
    cg_config *cfg;              /* snapshot for this request (reference) */
    const cg_route *route;
    size_t backend;
    cg_backend_conn *bc;

    http_parser req_parser, res_parser;
    cg_http_request req;
    cg_http_response res;
    cg_http_header *hdrs;        /* max_headers entries, reused across requests */
    size_t hdrs_cap;
    cg_buf head;                 /* rewritten head being sent */
    size_t head_base_len;        /* head up to (not including) its final CRLF, built once
                                    per request: an attempt appends its Authorization */
    bool head_built;
    bool header_timer;           /* timeouts.request_header armed for this head (arm_header_timer) */

    char id[48];                 /* the request id (cg_worker_request_id); "": none yet */
    size_t id_len;               /* strlen(id) */
    uint64_t started_ns;
    char method[16];
    char path[512];              /* for the log: the canonical target (as sent when it was
                                    refused); truncated */
    char target_sent[256];       /* for the log: the target as sent, when normalization
                                    changed it; truncated */
    char host[128];              /* for the log: Host as sent; cut with "..." */
    char user_agent[192];        /* for the log: User-Agent as sent; cut with "..." */
    int status;                  /* sent to the client, for the log */
    cg_refusal_kind refusal;
    uint64_t bytes_in, bytes_out;

    bool req_done;               /* request body fully forwarded */
    bool res_head_sent;
    bool res_done;
    bool res_paused;             /* backend reads stopped: client output full */
    bool req_paused;             /* request parsing paused on a backend write */
    bool keep_client;            /* keep the client connection afterwards */
    bool retried;                /* already retried (stale connection or backend 401) */
    bool sent_token;             /* the request carried Authorization: Negotiate */
    /* A delegating request's body, kept (up to CG_REPLAY_MAX) so that it can
     * be sent again with a fresh ticket after a backend 401. */
    cg_buf replay;
    bool replay_ok;              /* the body so far fits in replay */
    bool replaying;              /* this attempt sends replay, not the client's stream */
    bool fresh;                  /* the next attempt must use a new backend connection */
    bool is_head;                /* HEAD request */
    cg_client_body framing;
    char chunk_line[24];
    /* Heads arrive in pieces: each scan resumes where the last one stopped. */
    cg_head_scanner req_scan, res_scan;
    /* Where the request and response bodies end (body_framing.h). */
    cg_body_framing req_frame, res_frame;
    uint64_t res_mark;           /* c->plain_sent when the response head was staged: while
                                    unchanged, nothing of the response reached the client */
    bool out_blocked;            /* no new request: the client's output queue is over the
                                    high-water mark (a pipelining client that does not read) */
    /* Request limits (request_limits.h). */
    uint64_t body_room;          /* body bytes the request may still send (UINT64_MAX: no limit) */
    bool body_over;              /* a chunked body crossed max_request_body: refuse, close */
    uint32_t retry_after_s;      /* a 429's Retry-After */
    cg_admit admit;              /* the request's way through the pipeline */
    /* The upgrade offered to the backend ("": none; upgrade.h): its backend
     * connection is a new one of its own, never pooled afterwards, and a 101
     * to it switches the connection to a tunnel (tunnel.h). */
    char upgrade[CG_UPGRADE_OFFER_MAX];
} cg_exchange;

/* The HTTP/1.1 handler's state on one connection (cg_conn.data). */
typedef struct cg_http_session {
    bool ready;                  /* the handshake is done: client and exchange set up */
    unsigned requests;           /* completed on this connection */
    cg_client client;            /* who the client is (admit.h) */
    cg_exchange ex;              /* one at a time */
} cg_http_session;

/* The handler of HTTP/1.1 connections (every listener's today). */
extern const cg_conn_handler cg_http1_handler;

static inline cg_http_session *cg_http_session_of(const cg_conn *c) { return c->data; }
static inline cg_exchange *cg_http_ex(const cg_conn *c) { return &cg_http_session_of(c)->ex; }

/* Sends a refusal page for c's current or next request and logs it. */
void cg_proxy_refuse(cg_conn *c, const cg_refusal *why, bool close_after);

#endif
