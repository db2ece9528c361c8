/* HTTP/2 connections: nghttp2's server session over cg_conn's plaintext
 * (h2_conn.h). */
#include "h2_conn.h"

#include <string.h>

#include "base/base.h"
#include "h2_stream.h"

static cg_h2_stream *stream_of(nghttp2_session *ng, int32_t id) { return nghttp2_session_get_stream_user_data(ng, id); }

/* ---- timers ---- */

/* No stream open for timeouts.keepalive_idle (request_header before the
 * first): the connection ends with GOAWAY. */
static void arm_idle_timer(cg_conn *c);

static void on_idle_timeout(uv_timer_t *t)
{
    cg_conn *c = t->data;
    cg_h2_session *s = cg_h2_session_of(c);
    if (s->nstreams) { /* a stream sets the pace now */
        arm_idle_timer(c);
        return;
    }
    nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
    cg_h2_send(c);
    cg_conn_close(c, true);
}

/* Streams open: every timeouts.client_body the streams that wait for the
 * client are looked at (cg_h2_stream_check_stalled); the backend side has
 * its own timers. */
static void on_stream_sweep(uv_timer_t *t)
{
    cg_conn *c = t->data;
    cg_h2_session *s = cg_h2_session_of(c);
    uint64_t now = uv_hrtime();
    s->busy = true; /* ended streams only submit; freed when sent below */
    for (cg_h2_stream *st = s->streams; st; st = st->next)
        cg_h2_stream_check_stalled(st, now);
    s->busy = false;
    cg_h2_send(c);
    if (!c->closing && !c->lingering) {
        s->sweeping = false;
        arm_idle_timer(c); /* the next sweep, or the idle timeout */
    }
}

static void arm_idle_timer(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    if (s->nstreams) {
        if (!s->sweeping)
            cg_conn_set_timer(c, c->tls_cfg->timeouts.client_body, on_stream_sweep);
        s->sweeping = true;
    } else {
        s->sweeping = false;
        cg_conn_set_timer(c, s->requests ? c->tls_cfg->timeouts.keepalive_idle : c->tls_cfg->timeouts.request_header,
                          on_idle_timeout);
    }
}

/* ---- graceful shutdown ---- */

/* GOAWAY NO_ERROR (RFC 9113 6.8) naming the last stream nghttp2 took.
 * Written here rather than by nghttp2_submit_goaway: after its own GOAWAY
 * nghttp2 drops newer streams without a word, and they are to be refused
 * with REFUSED_STREAM (on_begin_headers) so the client knows at once that
 * they were not processed. Called between frames only: never while
 * send_round is taking frames from nghttp2. */
static void send_goaway(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    if (s->goaway_sent || !s->ng || c->closing || c->lingering)
        return;
    s->goaway_sent = true;
    s->goaway_last = nghttp2_session_get_last_proc_stream_id(s->ng);
    uint8_t f[9 + 8] = { 0, 0, 8, NGHTTP2_GOAWAY, 0, 0, 0, 0, 0 };
    uint32_t last = (uint32_t)s->goaway_last;
    for (int i = 0; i < 4; i++)
        f[9 + i] = (uint8_t)(last >> (24 - 8 * i)); /* error code (13..16): NO_ERROR */
    cg_log_fields(CG_LOG_DEBUG, "h2_goaway", CG_LF_STR("client", c->peer), CG_LF_UINT("last_stream", last),
                  CG_LF_UINT("open_streams", s->nstreams));
    if (!cg_conn_write(c, f, sizeof f))
        cg_conn_close(c, false);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    cg_conn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    cg_h2_session *s = cg_h2_session_of(c);
    if (s->goaway_sent && f->hd.stream_id > s->goaway_last) {
        /* Shutting down: not processed. Without a cg_h2_stream its fields
         * and DATA are ignored until the reset goes out. */
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    cg_h2_stream *st = cg_h2_stream_new(c, f->hd.stream_id);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
    nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, st);
    arm_idle_timer(c);
    if (c->draining)
        send_goaway(c); /* accepted while stopping: this stream is served, no newer one */
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    (void)flags, (void)user;
    cg_h2_stream *st = stream_of(ng, f->hd.stream_id);
    if (st && f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        cg_h2_stream_field(st, name, nlen, value, vlen);
    return 0; /* trailer fields are not forwarded */
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    cg_conn *c = user;
    cg_h2_stream *st = f->hd.stream_id ? stream_of(ng, f->hd.stream_id) : NULL;
    bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (!st)
            return 0;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST)
            cg_h2_stream_request(st, end);
        else if (end) /* trailers end the body */
            cg_h2_stream_body_end(st);
        return 0;
    case NGHTTP2_DATA:
        if (st && end)
            cg_h2_stream_body_end(st);
        return 0;
    case NGHTTP2_RST_STREAM:
        if (st && !(st->res_done && st->out_pos == st->out_len))
            cg_h2_count_reset(c);
        return 0;
    default:
        return 0;
    }
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user)
{
    (void)flags, (void)user;
    cg_h2_stream *st = stream_of(ng, id);
    if (st)
        cg_h2_stream_data(st, data, len);
    else
        nghttp2_session_consume(ng, id, len);
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    (void)user;
    cg_h2_stream *st = f->hd.stream_id ? stream_of(ng, f->hd.stream_id) : NULL;
    /* The response is complete but the client still sends a body nobody
     * wants (a refused upload): RST_STREAM NO_ERROR tells it to stop
     * (RFC 9113 8.1). */
    if (st && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->req_ended &&
        (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS))
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user)
{
    (void)error_code;
    cg_conn *c = user;
    cg_h2_stream *st = stream_of(ng, id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    cg_h2_stream_free(st);
    if (!c->closing)
        arm_idle_timer(c);
    return 0;
}

/* ---- the session ---- */

void cg_h2_count_reset(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    s->resets++;
    /* Rapid reset: a client that opens streams and resets them at once
     * costs the server each stream's admission and backend work while
     * never being bound by the concurrency limit. Browsers reset some
     * streams (navigation away); more than CG_H2_MAX_RESETS, and more than
     * the streams answered, is an attack. */
    if (!s->calm && s->resets > CG_H2_MAX_RESETS && s->resets > s->requests) {
        s->calm = true;
        cg_log_fields(CG_LOG_WARN, "h2_rapid_reset", CG_LF_STR("client", c->peer), CG_LF_UINT("resets", s->resets),
                      CG_LF_UINT("answered", s->requests));
        nghttp2_session_terminate_session(s->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

/* One round: frames out, then the streams whose data providers made room
 * read their backends on. */
static bool send_round(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    bool ok = true;
    /* Over the high-water mark the client is not reading: nghttp2 keeps
     * the frames (and its own acks, bounded by max_outbound_ack) until
     * on_drain. */
    while (ok && c->out_queued <= CG_OUT_HIGH_WATER) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(s->ng, &data);
        if (n < 0) {
            ok = false;
            break;
        }
        if (n == 0)
            break;
        ok = cg_conn_write(c, data, (size_t)n);
    }
    if (!(ok && cg_conn_flush(c))) {
        cg_conn_close(c, false);
        return false;
    }
    /* Streams are freed only inside nghttp2 (on_stream_close) or when the
     * connection closes: not while this loop runs (s->busy defers sends). */
    for (cg_h2_stream *st = s->streams; st; st = st->next) {
        cg_h2_stream_after_send(st);
        if (c->closing)
            return false;
    }
    return true;
}

void cg_h2_send(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    if (!s->ng || c->closing || c->lingering)
        return;
    /* Inside nghttp2 (a callback of mem_recv or mem_send) or inside a
     * round: nghttp2 must not be re-entered; the running caller sends. */
    if (s->busy) {
        s->want_send = true;
        return;
    }
    s->busy = true;
    bool ok;
    do {
        s->want_send = false;
        ok = send_round(c);
    } while (ok && s->want_send);
    s->busy = false;
    if (!ok)
        return;
    if (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng))
        cg_conn_close(c, true); /* GOAWAY sent, or the client's ended, and nothing left */
    else if (c->draining && s->goaway_sent && !s->nstreams)
        cg_conn_close(c, true); /* shutting down: the last stream taken is answered */
}

static bool session_start(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return false;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return false;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);

    const cg_limits *lim = &c->tls_cfg->limits;
    /* A request body's window reopens as it reaches the backend. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, CG_H2_MAX_OUTBOUND_ACK);
    nghttp2_option_set_max_settings(opt, CG_H2_MAX_SETTINGS);
    /* A field block split into more CONTINUATION frames than this is a
     * flood, whatever their size (CVE-2024-27316 and kin). */
    nghttp2_option_set_max_continuations(opt, 8);
    /* Field blocks nghttp2 decodes at most: the head limit with room for
     * HPACK's per-field overhead; cg_h2_stream_field applies the exact one. */
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
    int rv = nghttp2_session_server_new2(&s->ng, cb, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        s->ng = NULL;
        return false;
    }
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, CG_H2_MAX_STREAMS },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, CG_H2_STREAM_BUF },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim->max_request_head + 32u * lim->max_headers },
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
    };
    if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
        return false;
    /* The connection's window: uploads on several streams at once (each
     * still bounded by its own CG_H2_STREAM_BUF). */
    return nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, CG_H2_CONN_WINDOW) == 0;
}

/* ---- the connection's handler (conn.h) ---- */

static void h2_input(cg_conn *c);

static void h2_ready(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    s->ready = true;
    cg_client_start(&s->client, c);
    if (!session_start(c)) {
        cg_conn_close(c, false);
        return;
    }
    arm_idle_timer(c);
    cg_h2_send(c); /* our SETTINGS: the server's connection preface */
}

static void h2_input(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    if (!s->ng)
        return;
    while (!c->closing && !c->lingering) {
        if (c->ppos < c->plen) {
            s->busy = true; /* streams answering at once only submit */
            ssize_t n = nghttp2_session_mem_recv(s->ng, (const uint8_t *)c->pbuf + c->ppos, c->plen - c->ppos);
            s->busy = false;
            if (c->closing || c->lingering)
                return;
            if (n < 0) {
                /* Fatal for the session (a flood, too many CONTINUATION
                 * frames, not HTTP/2 at all): GOAWAY says why, then the
                 * connection closes (lingering, so the client can read it). */
                cg_log_fields(CG_LOG_WARN, "h2_closed", CG_LF_STR("client", c->peer),
                              CG_LF_STR("reason", nghttp2_strerror((int)n)));
                nghttp2_session_terminate_session(s->ng, n == NGHTTP2_ERR_FLOODED ||
                                                                 n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                                                             ? NGHTTP2_ENHANCE_YOUR_CALM
                                                             : NGHTTP2_PROTOCOL_ERROR);
                cg_h2_send(c);
                cg_conn_close(c, true);
                return;
            }
            c->ppos += (size_t)n;
            cg_h2_send(c);
            continue;
        }
        if (c->eof) {
            cg_conn_close(c, false);
            return;
        }
        /* A client that does not read what it asked for is not read either
         * (PING floods meet TCP backpressure); on_drain reads on. */
        if (c->out_queued > CG_OUT_HIGH_WATER)
            return;
        cg_conn_compact(c);
        cg_tls_status st = cg_conn_read_plaintext(c);
        if (st == CG_TLS_WANT_READ) {
            if (c->plen == 0)
                cg_conn_release_input(c);
            return;
        }
        if (st != CG_TLS_OK) {
            cg_conn_close(c, st == CG_TLS_CLOSED);
            return;
        }
    }
}

static void h2_drain(cg_conn *c)
{
    cg_h2_send(c);
    h2_input(c);
}

static void h2_close(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    if (!s->ready)
        return;
    if (!c->closing) {
        /* A graceful close begins: GOAWAY, unless nghttp2 ended the
         * session with its own (idle, a flood). */
        if (s->ng && nghttp2_session_want_read(s->ng))
            send_goaway(c);
        return;
    }
    while (s->streams) {
        cg_h2_stream *st = s->streams;
        if (s->ng)
            nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
        cg_h2_stream_free(st);
    }
    if (s->ng)
        nghttp2_session_del(s->ng);
    s->ng = NULL;
    cg_client_close(&s->client);
}

/* Graceful shutdown with streams in flight: they finish, no new ones. */
static void h2_draining(cg_conn *c)
{
    cg_h2_session *s = cg_h2_session_of(c);
    if (!s->ready || !s->ng || s->busy)
        return; /* not yet ready: its first stream sends GOAWAY (on_begin_headers) */
    send_goaway(c);
    cg_h2_send(c);
}

static bool h2_idle(const cg_conn *c)
{
    const cg_h2_session *s = cg_h2_session_of(c);
    return s->ready && s->nstreams == 0;
}

const cg_conn_handler cg_h2_handler = {
    .data_size = sizeof(cg_h2_session),
    .on_ready = h2_ready,
    .on_input = h2_input,
    .on_drain = h2_drain,
    .on_close = h2_close,
    .is_idle = h2_idle,
    .on_draining = h2_draining,
};
