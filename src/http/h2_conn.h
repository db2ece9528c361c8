/* HTTP/2 to clients (RFC 9113) on a TLS connection whose handshake agreed
 * on ALPN "h2" (listeners[].http2; h2c is never offered): nghttp2's server
 * session driven with memory I/O only (frames in from the connection's
 * plaintext, out through cg_conn_write; nghttp2 never touches a socket), a
 * cg_conn_handler like HTTP/1.1's. Each stream is one request (h2_stream.h);
 * the streams share the connection's client (admit.h): the certificate's
 * verdict and the mapping are decided once per connection.
 *
 * Limits, each bounded whatever the client sends:
 *   - SETTINGS_MAX_CONCURRENT_STREAMS CG_H2_MAX_STREAMS, a stream's window
 *     CG_H2_STREAM_BUF, SETTINGS_MAX_HEADER_LIST_SIZE limits.max_request_head
 *     (nghttp2 refuses larger field blocks, CONTINUATION floods included);
 *   - rapid reset (CVE-2023-44487): streams the client resets before their
 *     response is complete are counted; over CG_H2_MAX_RESETS the
 *     connection ends with GOAWAY ENHANCE_YOUR_CALM;
 *   - PING and SETTINGS floods: at most CG_H2_MAX_OUTBOUND_ACK acks queued
 *     (nghttp2 then ends the session), and a SETTINGS frame carries at most
 *     CG_H2_MAX_SETTINGS entries;
 *   - output: nghttp2 is asked for frames only while the connection's
 *     queue is under CG_OUT_HIGH_WATER (a client that does not read stalls
 *     only itself).
 *
 * Graceful shutdown (cg_conn_drain): GOAWAY NO_ERROR naming the last stream
 * taken; the streams up to it finish, newer ones are reset with
 * REFUSED_STREAM (the client may send them elsewhere), then the connection
 * closes. A connection accepted while stopping gets its first stream served
 * (GOAWAY then names it), as HTTP/1.1 gets its first request.
 */
#ifndef CG_H2_CONN_H
#define CG_H2_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "admit.h"
#include "net/net.h"

#define CG_H2_MAX_STREAMS 100u
#define CG_H2_MAX_RESETS 200u
#define CG_H2_MAX_OUTBOUND_ACK 1000u
#define CG_H2_MAX_SETTINGS 32u
#define CG_H2_CONN_WINDOW (1 << 20)

struct cg_h2_stream;

/* The HTTP/2 handler's state on one connection (cg_conn.data). */
typedef struct cg_h2_session {
    bool ready;                    /* the handshake is done: client and session set up */
    nghttp2_session *ng;
    cg_client client;
    struct cg_h2_stream *streams;  /* open streams */
    /* Streams waiting for the client's certificate verdict behind the one
     * the client holds as waiting (admit.h: one per client), oldest first. */
    struct cg_h2_stream *verdict_queue;
    size_t nstreams;
    unsigned requests;             /* streams answered */
    unsigned resets;               /* streams the client reset before their response ended */
    bool sweeping;                 /* the connection timer looks at stalled streams */
    bool calm;                     /* GOAWAY ENHANCE_YOUR_CALM sent */
    bool goaway_sent;              /* graceful shutdown: GOAWAY naming goaway_last written */
    int32_t goaway_last;           /* streams above it are refused (REFUSED_STREAM) */
    bool busy;                     /* inside nghttp2 or a send round: sends wait (want_send) */
    bool want_send;
} cg_h2_session;

extern const cg_conn_handler cg_h2_handler;

static inline cg_h2_session *cg_h2_session_of(const cg_conn *c) { return c->data; }

/* Hands what nghttp2 has to send to the connection (while its output is
 * under the high-water mark) and flushes; closes the connection when the
 * session has ended. Any stream may call it after submitting. */
void cg_h2_send(cg_conn *c);

/* A stream ended before its response was complete because the client
 * reset it: counted for the rapid-reset limit. */
void cg_h2_count_reset(cg_conn *c);

#endif
