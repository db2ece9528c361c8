/* One HTTP/2 stream (RFC 9113 section 8): its request fields as they arrive,
 * the same request rules as HTTP/1.1 (method, canonical :path, :authority
 * against Host, no connection-specific fields), the pipeline (admit.h) with
 * the connection's client, then one exchange with the backend over
 * HTTP/1.1 on the identity-scoped pools (backend.h): the head written by
 * http1_write.h, the request body from DATA frames, the response head
 * parsed by http1.h and its body handed to nghttp2's data provider.
 *
 * Flow control is the backpressure, both ways: a request body's DATA is
 * acknowledged (WINDOW_UPDATE) only once written to the backend, and a
 * response body is read from the backend only while the stream's buffer
 * has room, which the data provider empties only as fast as the client's
 * window opens. No stream holds more than CG_H2_STREAM_BUF bytes of a body
 * in each direction, plus, for a stream to a Kerberos backend, a copy of its
 * request body of at most CG_REPLAY_MAX (for the retry after a 401).
 *
 * Kerberos: a token per stream from the pipeline; a backend 401 asks for a
 * fresh one once (retry.h, cg_admit_token_again), and a stream that lost an
 * authenticated connection-bound connection asks for one again, as HTTP/1.1
 * exchanges do. The backend connections are the client identity's pooled
 * ones, one stream at a time on each.
 */
#ifndef CG_H2_STREAM_H
#define CG_H2_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include "admit.h"
#include "backend.h"
#include "base/base.h"
#include "body_framing.h"
#include "config/config.h"
#include "http1.h"
#include "http1_scan.h"
#include "net/net.h"

/* Body bytes one stream holds at most in each direction; also the stream's
 * receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
#define CG_H2_STREAM_BUF (64u * 1024)

typedef struct cg_h2_stream cg_h2_stream;

struct cg_h2_stream {
    cg_conn *c;
    int32_t id;
    cg_h2_stream *next, *prev;     /* the session's open streams */

    cg_config *cfg;                /* snapshot for this request (reference) */
    char rid[48];                  /* request id */
    uint64_t started_ns;
    uint64_t client_ns;            /* the client's last progress on this stream (DATA in, body out) */

    /* The request's fields as they arrive: names and values copied into
     * fields (bounded by limits.max_request_head), then sliced. */
    cg_buf fields;
    size_t nfields;
    uint32_t *field_off;             /* name, value offsets into fields (2 * (max_headers + 4)) */
    bool too_large;                  /* over limits.max_request_head / max_headers: 431 */
    bool bad;                        /* a rule broken while they arrived: 400 */
    char bad_what[96];

    cg_http_request req;
    cg_http_header *hdrs;          /* limits.max_headers + 1 entries */
    char method[16];
    char path[512];                /* for the log: canonical target */
    char *target;                  /* :path, normalized in place */
    char host[128];                /* for the log: :authority (or host); cut with "..." */
    char user_agent[192];          /* for the log */
    bool is_head;
    bool req_ended;                /* END_STREAM received */
    bool req_done;                 /* the whole body reached the backend */
    bool admitted;                 /* the pipeline said forward */
    bool logged;                   /* the access-log line is written */
    bool sent_token;               /* the backend head carries Authorization: Negotiate */
    bool retried;                  /* sent again once already (a lost connection, a backend 401) */
    bool fresh;                    /* the next attempt takes a new backend connection */
    cg_admit admit;
    cg_h2_stream *queue_next;      /* the session's verdict_queue */
    bool queued;

    /* The backend exchange. */
    size_t backend;
    const cg_route *route;
    cg_backend_conn *bc;
    cg_buf head;                   /* the head for the backend: its base, then each attempt's token */
    size_t head_base_len;          /* the base without its final CRLF */
    bool head_built;
    bool head_written;
    bool writing;                  /* a backend write is queued */
    cg_buf body;                   /* request body received, not yet written */
    cg_buf wbody;                  /* request body being written (with its chunk framing) */
    size_t wbody_payload;          /* payload bytes of wbody, acknowledged once written */
    uint64_t body_room;
    char chunk_line[24];           /* the chunk-size line being written */
    /* A delegating request's body, kept (up to CG_REPLAY_MAX) to be sent
     * again with a fresh ticket after a backend 401 (retry.h). */
    cg_buf replay;
    bool replay_ok;                /* all of the body so far is in replay */
    bool replaying;                /* this attempt sends replay, not the client's DATA */

    http_parser res_parser;
    cg_http_response res;
    cg_head_scanner res_scan;
    cg_body_framing res_frame;     /* where the response body ends (body_framing.h) */
    bool res_started;              /* response head submitted */
    bool res_done;                 /* the backend's response ended */
    bool res_paused;               /* backend reads stopped: out is full */
    bool deferred;                 /* the data provider waits for out */
    char *out;                     /* response body bytes for the data provider */
    size_t out_pos, out_len;

    int status;
    cg_refusal_kind refusal;
    uint64_t bytes_in, bytes_out;
};

/* A new stream (HEADERS began) on connection c; NULL out of memory. */
cg_h2_stream *cg_h2_stream_new(cg_conn *c, int32_t id);
/* One request field; false: the stream is refused (its fields over the
 * limits, or a rule broken), which the request's end reports. */
void cg_h2_stream_field(cg_h2_stream *st, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen);
/* The request's fields are complete (end_stream: no body): checks them and
 * runs the pipeline, or refuses with a page. */
void cg_h2_stream_request(cg_h2_stream *st, bool end_stream);
/* DATA of the request body. */
void cg_h2_stream_data(cg_h2_stream *st, const uint8_t *p, size_t n);
/* END_STREAM after DATA. */
void cg_h2_stream_body_end(cg_h2_stream *st);
/* After frames were sent: a response whose body waits in the backend
 * buffer goes on when its data provider made room. */
void cg_h2_stream_after_send(cg_h2_stream *st);
/* A stream whose client has not moved it (sent none of the body it owes,
 * or not opened its window to the response) for timeouts.client_body: a
 * 408 page while nothing of the response was sent, else RST_STREAM CANCEL.
 * Returns true if it was ended. */
bool cg_h2_stream_check_stalled(cg_h2_stream *st, uint64_t now_ns);
/* nghttp2 closed the stream (answered, reset, or the session ends): frees
 * it with whatever it still holds. reset: the client reset it before its
 * response was complete. */
void cg_h2_stream_free(cg_h2_stream *st);

#endif
