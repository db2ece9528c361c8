/* Client connections: socket <-> TLS <-> plaintext buffer. What runs above
 * is reached only through the connection's handler (conn.h).
 *
 * Ciphertext is read into the worker's shared read buffer and fed to mbedTLS
 * at once; what TLS has not consumed when the exchange stops asking for
 * plaintext (backpressure) is kept in `held` and socket reads stop. TLS
 * output goes straight to the socket with uv_try_write; only what the kernel
 * does not take is copied and queued.
 */
#include "conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdalign.h>
#include <stddef.h>

#include "base/base.h"
#include "proxy_protocol.h"
#include "tls_trim.h"
#include "x509/x509.h"

#define LINGER_MS 2000
/* Beyond max_connections, this many more get a 503 page; the rest are closed. */
#define OVERLOAD_PAGES 64
/* Connections closed at once are logged at most once per period: per
 * address for the per-address limits, per worker for max_connections. */
#define REFUSAL_LOG_EVERY_MS 10000

typedef struct out_chunk {
    uv_write_t req;
    cg_conn *c;
    size_t len;
    unsigned char data[];
} out_chunk;

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void proxy_input(cg_conn *c, const unsigned char *p, size_t n);
static void proxy_ended(cg_conn *c, const char *how);
static void start_own_timer(cg_conn *c, uv_timer_cb cb, uint64_t ms);
static bool flush_wire(cg_conn *c);

static cg_tls_server *listener_tls(const cg_conn *c) { return c->tls_cfg->listeners[c->listener].tls; }

/* ---- lifetime ---- */

static void on_closed(uv_handle_t *h)
{
    cg_conn *c = h->data;
    if (--c->handles > 0)
        return;
    cg_worker *w = c->w;
    CG_LIST_UNLINK(w->conns, c);
    w->nconns--;
    cg_counter_add(&w->stats.closed[cg_stats_listener(c->listener)], 1);
    atomic_fetch_sub(&cg_open_connections, 1);
    cg_admission_release(w->services->admission, &c->admit_key, c->admit_handshaking);
    if (c->tls_ready) {
        /* A connection released once gives the pages of its buffers back
         * (tls_trim.h): a mass disconnect of idle clients lowers memory. */
        cg_tls_trim_give_back(c->trimmed);
        cg_tls_conn_free(&c->tls);
        cg_tls_trim_give_back(false);
    }
    if (c->tls_cfg)
        cg_config_unref(c->tls_cfg);
    free(c->held);
    free(c->pp);
    cg_spares_put(&w->spare_pbuf, c->pbuf, c->pcap);
    free(c->switched);
    free(c);
    if (w->stopping && w->nconns == 0)
        uv_async_send(&w->wakeup); /* lets the worker finish */
}

static void close_now(cg_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->lingering = false;
    c->handler->on_close(c);
    if (c->w->stage_owner == c) {
        c->w->stage_owner = NULL;
        c->w->stage_len = 0;
    }
    if (c->w->wire_owner == c) {
        c->w->wire_owner = NULL;
        c->w->wire_len = 0;
    }
    uv_close((uv_handle_t *)&c->timer, on_closed);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_linger_timeout(uv_timer_t *t) { close_now(t->data); }

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

void cg_conn_close(cg_conn *c, bool graceful)
{
    if (c->closing || c->lingering)
        return;
    if (!graceful || c->eof || !c->tls_ready || c->handshaking) {
        close_now(c);
        return;
    }
    c->handler->on_close(c);
    /* The last records and the close_notify alert in one write. */
    c->gathering = true;
    cg_conn_flush(c);
    cg_tls_close_notify(&c->tls);
    c->gathering = false;
    if (!flush_wire(c)) {
        close_now(c);
        return;
    }
    /* Lingering close: send FIN after what is queued, then read and discard
     * what the client still sends for a moment, so that closing with unread
     * data does not reset the connection before it has read our response. */
    c->lingering = true;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        close_now(c);
        return;
    }
    free(c->held);
    c->held = NULL;
    c->held_len = 0;
    cg_tls_conn_feed(&c->tls, NULL, 0);
    /* Lingering reads no TLS: a connection released once (its buffers
     * allocated again for these last records) frees them now, not up to
     * LINGER_MS later, so that a mass disconnect of idle clients does not
     * hold them all at once. */
    if (c->trimmed)
        (void)cg_tls_trim_buffers(&c->tls.ssl);
    if (c->read_stopped) {
        c->read_stopped = false;
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
            close_now(c);
            return;
        }
    }
    start_own_timer(c, on_linger_timeout, LINGER_MS);
}

void cg_conn_drain(cg_conn *c)
{
    c->draining = true;
    if (c->closing || c->lingering)
        return;
    /* A connection that has not had its first request yet (handshaking, or
     * accepted from the queue while stopping) gets it served, then closes
     * (the handler is not idle until then): during an overlapping restart
     * its client could not know to go elsewhere. timeouts.shutdown bounds
     * the wait. */
    if (c->handler->is_idle(c))
        cg_conn_close(c, true);
    else if (c->handler->on_draining)
        c->handler->on_draining(c);
}

void *cg_conn_switch_handler(cg_conn *c, const cg_conn_handler *to)
{
    if (c->switched || c->closing || c->lingering)
        return NULL;
    void *data = calloc(1, to->data_size ? to->data_size : 1);
    if (!data)
        return NULL;
    c->switched = c->data = data;
    c->handler = to;
    return data;
}

/* The handler's timer, kept lazily: a busy keep-alive connection asks for
 * it on every request (the idle timeout, stopped by the next request, the
 * header timeout...), and moving a libuv timer in the loop's heap each time
 * cost about 2% of the CPU of a keep-alive request. The libuv timer stays
 * at the earliest deadline asked for; when it fires, what was asked last
 * decides: run the callback (its deadline has come), wait for what remains
 * (a later deadline), or nothing (stopped). timer_cb NULL: stopped. */
static void on_conn_timer(uv_timer_t *t)
{
    cg_conn *c = t->data;
    uv_timer_cb cb = c->timer_cb;
    c->timer_fires = 0;
    if (!cb)
        return;
    uint64_t now = uv_now(&c->w->loop);
    if (now < c->timer_due) {
        c->timer_fires = c->timer_due;
        uv_timer_start(t, on_conn_timer, c->timer_due - now, 0);
        return;
    }
    c->timer_cb = NULL;
    cb(t);
}

/* The connection's own timers (handshake, lingering close) take the timer
 * from the handler's. */
static void start_own_timer(cg_conn *c, uv_timer_cb cb, uint64_t ms)
{
    c->timer_cb = NULL;
    c->timer_lazy = false;
    c->timer_fires = 0;
    uv_timer_start(&c->timer, cb, ms, 0);
}

void cg_conn_set_timer(cg_conn *c, uint64_t ms, uv_timer_cb cb)
{
    if (c->closing || c->lingering)
        return;
    if (ms == 0) {
        c->timer_cb = NULL;
        if (!c->timer_lazy)
            uv_timer_stop(&c->timer); /* the connection's own (handshake) timer */
        return;
    }
    uint64_t now = uv_now(&c->w->loop);
    c->timer_cb = cb;
    c->timer_due = now + ms;
    if (c->timer_lazy && c->timer_fires && c->timer_fires <= c->timer_due)
        return; /* fires earlier and waits for the rest (on_conn_timer) */
    c->timer_lazy = true;
    c->timer_fires = c->timer_due;
    uv_timer_start(&c->timer, on_conn_timer, ms, 0);
}

/* ---- output ---- */

static void on_written(uv_write_t *req, int status)
{
    out_chunk *ch = req->data;
    cg_conn *c = ch->c;
    bool was_high = c->out_queued > CG_OUT_LOW_WATER;
    c->out_queued -= ch->len;
    free(ch);
    if (c->closing || c->lingering)
        return;
    if (status < 0) {
        close_now(c);
        return;
    }
    if (was_high && c->out_queued <= CG_OUT_LOW_WATER)
        c->handler->on_drain(c);
}

/* Writes ciphertext now, queueing what the socket does not take. */
static bool send_ciphertext(cg_conn *c, const unsigned char *p, size_t n)
{
    size_t off = 0;
    if (c->out_queued == 0) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r < 0 && r != UV_EAGAIN)
            return false;
        off = r > 0 ? (size_t)r : 0;
        if (off == n)
            return true;
    }
    size_t rest = n - off;
    out_chunk *ch = malloc(sizeof *ch + rest);
    if (!ch)
        return false;
    ch->c = c;
    ch->len = rest;
    ch->req.data = ch;
    memcpy(ch->data, p + off, rest);
    uv_buf_t b = uv_buf_init((char *)ch->data, (unsigned)rest);
    if (uv_write(&ch->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        free(ch);
        return false;
    }
    c->out_queued += rest;
    return true;
}

/* Sends the handshake records gathered for c. */
static bool flush_wire(cg_conn *c)
{
    cg_worker *w = c->w;
    if (w->wire_owner != c)
        return true;
    size_t n = w->wire_len;
    w->wire_owner = NULL;
    w->wire_len = 0;
    return n == 0 || (!c->closing && send_ciphertext(c, w->wire, n));
}

/* mbedTLS's send callback: ciphertext out, without ever blocking. */
static bool tls_send(void *ctx, const unsigned char *p, size_t n)
{
    cg_conn *c = ctx;
    cg_worker *w = c->w;
    if (c->closing)
        return false;
    /* mbedTLS writes a handshake flight one record at a time: gather them
     * and send the flight in one write (flushed right after the handshake
     * step, by process_input); so are the last records and the alert of a
     * graceful close (cg_conn_close). */
    if ((c->handshaking || c->gathering) && (!w->wire_owner || w->wire_owner == c) && w->wire_len + n <= w->wire_cap) {
        memcpy(w->wire + w->wire_len, p, n);
        w->wire_len += n;
        w->wire_owner = c;
        return true;
    }
    if (!flush_wire(c)) /* what was gathered goes first */
        return false;
    return send_ciphertext(c, p, n);
}

bool cg_conn_flush(cg_conn *c)
{
    cg_worker *w = c->w;
    if (w->stage_owner != c)
        return !c->closing;
    size_t len = w->stage_len;
    w->stage_owner = NULL;
    w->stage_len = 0;
    if (len == 0)
        return true;
    if (c->closing)
        return false;
    c->plain_sent += len;
    return cg_tls_write(&c->tls, w->stage, len) == CG_TLS_OK;
}

void cg_conn_unstage(cg_conn *c)
{
    cg_worker *w = c->w;
    if (w->stage_owner == c) {
        w->stage_owner = NULL;
        w->stage_len = 0;
    }
}

bool cg_conn_write(cg_conn *c, const void *p, size_t n)
{
    cg_worker *w = c->w;
    if (c->closing)
        return false;
    if (w->stage_owner != c) {
        if (w->stage_owner && !cg_conn_flush(w->stage_owner))
            close_now(w->stage_owner);
        w->stage_owner = c;
        w->stage_len = 0;
    }
    if (w->stage_len + n > w->stage_cap) {
        if (!cg_conn_flush(c))
            return false;
        if (n >= w->stage_cap) { /* large: encrypt straight from the caller's buffer */
            c->plain_sent += n;
            return cg_tls_write(&c->tls, p, n) == CG_TLS_OK;
        }
        w->stage_owner = c;
    }
    memcpy(w->stage + w->stage_len, p, n);
    w->stage_len += n;
    return true;
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cg_conn *c = h->data;
    (void)suggested;
    buf->base = (char *)c->w->readbuf;
    buf->len = c->w->readbuf_cap;
}

/* Request backpressure: stop / restart delivering socket data. */
static void pause_reading(cg_conn *c)
{
    if (!c->read_stopped && !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->read_stopped = true;
    }
}

static void resume_reading(cg_conn *c)
{
    if (c->read_stopped && !c->closing && !c->eof && !c->held && c->tls.in_len == 0) {
        c->read_stopped = false;
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
            close_now(c);
    }
}

/* An idle connection holds no plaintext buffer: it goes back to the worker. */
static void release_pbuf(cg_conn *c)
{
    cg_spares_put(&c->w->spare_pbuf, c->pbuf, c->pcap);
    c->pbuf = NULL;
    c->pcap = c->ppos = c->plen = 0;
}

void cg_conn_compact(cg_conn *c)
{
    if (c->ppos == 0)
        return;
    size_t rest = c->plen - c->ppos;
    if (rest)
        memmove(c->pbuf, c->pbuf + c->ppos, rest);
    c->plen = rest;
    c->ppos = 0;
}

/* ---- quiet connections: their record buffers given back (tls_trim.h) ----
 *
 * A connection becomes quiet when its handler has nothing left of a request
 * (cg_conn_release_input) and stops being quiet at its next read. One timer
 * per worker looks at them every QUIET_SWEEP_MS: a connection still quiet
 * at two looks in a row (quiet for one whole period at least) has its record
 * buffers given back, once per quiet spell (freed with the bundled mbedTLS,
 * allocated again at its next record). A busy keep-alive connection is read
 * long before that and never pays the free, the allocation and the page
 * faults after it. The timer runs only while some connection waits. */
#define QUIET_SWEEP_MS 250
enum { QUIET_NO, QUIET_MARKED, QUIET_SEEN, QUIET_TRIMMED };

static void on_quiet_sweep(uv_timer_t *t)
{
    cg_worker *w = t->data;
    bool waiting = false;
    for (cg_conn *c = w->conns; c; c = c->next) {
        if (c->quiet == QUIET_MARKED) {
            c->quiet = QUIET_SEEN;
            waiting = true;
        } else if (c->quiet == QUIET_SEEN) {
            c->quiet = QUIET_TRIMMED;
            if (c->tls_ready && !c->handshaking && !c->closing && !c->lingering && !c->held &&
                c->tls.in_len == 0) {
                size_t n = cg_tls_trim_buffers(&c->tls.ssl);
                if (n > 0) {
                    c->trimmed = true;
                    if (CG_LOG_DEBUG_ON())
                        cg_log(CG_LOG_DEBUG, "tls_buffers_released", "client=%s bytes=%zu", c->peer, n);
                }
            }
        }
    }
    if (!waiting)
        uv_timer_stop(t);
}

static void mark_quiet(cg_conn *c)
{
    cg_worker *w = c->w;
    if (c->quiet == QUIET_MARKED)
        return; /* the sweep timer runs (it stops only when none is marked) */
    c->quiet = QUIET_MARKED;
    if (!uv_is_active((uv_handle_t *)&w->quiet_timer) && !uv_is_closing((uv_handle_t *)&w->quiet_timer))
        uv_timer_start(&w->quiet_timer, on_quiet_sweep, QUIET_SWEEP_MS, QUIET_SWEEP_MS);
}

void cg_conn_release_input(cg_conn *c)
{
    if (c->pbuf && c->ppos == c->plen) {
        release_pbuf(c);
        if (c->tls_ready && !c->handshaking)
            mark_quiet(c);
    }
}

cg_tls_status cg_conn_read_plaintext(cg_conn *c)
{
    if (!c->pbuf && !c->held && !c->eof && cg_tls_nothing_to_read(&c->tls)) {
        /* Nothing to read and no buffer (once per keep-alive request, after
         * the response): not one taken for nothing. Every caller releases
         * the input after such a WANT_READ (plen is 0), which marks the
         * connection quiet; done here, as no buffer is left to release. */
        if (c->tls_ready && !c->handshaking)
            mark_quiet(c);
        resume_reading(c);
        return CG_TLS_WANT_READ;
    }
    if (!c->pbuf) {
        /* Room for a head one byte over the limit, so the scanner (not a
         * full buffer) decides that it is too large. */
        size_t cap = (size_t)c->tls_cfg->limits.max_request_head + 1;
        if (cap < 16384)
            cap = 16384;
        c->pbuf = cg_spares_get(&c->w->spare_pbuf, cap);
        if (!c->pbuf)
            return CG_TLS_ERROR;
        c->pcap = cap;
        c->ppos = c->plen = 0;
    }
    if (c->plen == c->pcap)
        return CG_TLS_ERROR; /* callers compact first; a full buffer here is a bug */
    if (c->tls.in_len == 0 && c->held) {
        if (c->held_len) {
            cg_tls_conn_feed(&c->tls, c->held, c->held_len);
            c->held_len = 0; /* now owned by the TLS input pointer */
        }
    }
    size_t got = 0;
    cg_tls_status st = cg_tls_read(&c->tls, (unsigned char *)c->pbuf + c->plen, c->pcap - c->plen, &got);
    if (st == CG_TLS_OK) {
        c->plen += got;
        return st;
    }
    if (st == CG_TLS_WANT_READ) {
        if (c->tls.in_len == 0) {
            free(c->held);
            c->held = NULL;
            if (c->eof)
                return CG_TLS_CLOSED;
            resume_reading(c);
        }
    }
    return st;
}

static void on_handshake_failed(cg_conn *c)
{
    char err[300];
    cg_tls_failure(&c->tls, err, sizeof err);
    cg_log_fields(CG_LOG_INFO, "tls_handshake_failed", CG_LF_STR("client", c->peer),
                  CG_LF_STR("listener", c->tls_cfg->listeners[c->listener].name), CG_LF_STR("reason", err));
    cg_counter_add(&c->w->stats.handshakes_failed, 1);
    close_now(c);
}

/* ALPN decides what runs above the connection (cg_worker_layers): "h2"
 * selects the HTTP/2 handler, anything else keeps the default. Its state was
 * sized for either at accept (handler_data_size). */
static void choose_handler(cg_conn *c)
{
    const cg_conn_handler *h2 = c->w->layers->h2_handler;
    if (h2 && c->tls_cfg->listeners[c->listener].http2 && strcmp(cg_tls_alpn(&c->tls), CG_TLS_ALPN_H2) == 0)
        c->handler = h2;
}

static void process_input(cg_conn *c)
{
    if (c->handshaking) {
        cg_tls_status st = cg_tls_handshake(&c->tls);
        if (!flush_wire(c)) {
            close_now(c);
            return;
        }
        cg_conn_flush(c);
        if (st == CG_TLS_WANT_READ)
            return;
        if (st != CG_TLS_OK) {
            on_handshake_failed(c);
            return;
        }
        c->handshaking = false;
        if (c->admit_handshaking) {
            c->admit_handshaking = false;
            cg_admission_handshake_done(c->w->services->admission, &c->admit_key);
        }
        cg_counter_add(c->tls.resumed ? &c->w->stats.handshakes_resumed : &c->w->stats.handshakes_full, 1);
        cg_hist_observe(&c->w->stats.handshake, uv_hrtime() - c->accepted_ns);
        if (CG_LOG_DEBUG_ON()) {
            cg_tls_session_info tls;
            cg_tls_session_info_get(&c->tls, &tls);
            bool sent;
            const mbedtls_x509_crt *leaf = cg_tls_client_leaf(&c->tls, &sent);
            char serial[80] = "";
            if (leaf)
                cg_cert_serial(leaf, serial, sizeof serial);
            cg_log_fields(CG_LOG_DEBUG, "tls_handshake", CG_LF_STR("client", c->peer), CG_LF_BOOL("resumed", tls.resumed),
                          CG_LF_STR("tls", tls.version), CG_LF_STR("cipher", tls.cipher),
                          CG_LF_STR("cert", sent ? serial : "-"),
                          CG_LF_STR("chain", c->tls.refused            ? "refused"
                                             : !sent || c->tls.resumed ? "-"
                                             : c->tls.chain_cached     ? "cached"
                                                                       : "verified"));
        }
        choose_handler(c);
        c->handler->on_ready(c);
        if (c->closing || c->lingering)
            return;
    }
    c->handler->on_input(c);
}

static void feed_tls(cg_conn *c, const unsigned char *p, size_t n);

static void read_input(cg_conn *c, ssize_t nread, const uv_buf_t *buf);

/* Read callbacks run in the loop's poll phase, its check phase next
 * (w->in_read_cb: what backend.c's hand-out of an idle connection needs). */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cg_worker *w = ((cg_conn *)s->data)->w;
    w->in_read_cb = true; /* (libuv never nests read callbacks) */
    read_input(s->data, nread, buf);
    w->in_read_cb = false;
}

static void read_input(cg_conn *c, ssize_t nread, const uv_buf_t *buf)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        c->eof = true;
        uv_read_stop(s);
        if (c->pp) {
            proxy_ended(c, "the connection ended");
            return;
        }
        if (c->lingering || c->handshaking) {
            close_now(c);
            return;
        }
        c->handler->on_input(c); /* lets the handler see the end */
        return;
    }
    if (c->lingering)
        return; /* discard */
    c->quiet = QUIET_NO;
    if (c->pp) {
        proxy_input(c, (const unsigned char *)buf->base, (size_t)nread);
        return;
    }
    feed_tls(c, (const unsigned char *)buf->base, (size_t)nread);
}

/* Hands ciphertext to TLS; what backpressure leaves is kept in held. */
static void feed_tls(cg_conn *c, const unsigned char *p, size_t n)
{
    cg_tls_conn_feed(&c->tls, p, n);
    process_input(c);
    if (c->closing)
        return;
    size_t left = cg_tls_conn_unconsumed(&c->tls);
    if (left && !c->lingering) {
        /* Backpressure: keep what TLS did not take and stop reading. */
        unsigned char *h = malloc(left);
        if (!h) {
            close_now(c);
            return;
        }
        memcpy(h, c->tls.in, left);
        free(c->held);
        c->held = h;
        c->held_len = left;
        pause_reading(c);
    }
    cg_tls_conn_feed(&c->tls, NULL, 0);
    cg_conn_flush(c);
}

static void on_handshake_timeout(uv_timer_t *t)
{
    cg_conn *c = t->data;
    if (c->pp) {
        proxy_ended(c, "no complete PROXY header within timeouts.handshake");
        return;
    }
    cg_log(CG_LOG_INFO, "tls_handshake_failed", "client=%s listener=%s reason=\"no complete handshake within %u ms (timeouts.handshake)\"",
           c->peer, c->tls_cfg->listeners[c->listener].name, c->tls_cfg->timeouts.handshake);
    cg_counter_add(&c->w->stats.handshakes_failed, 1);
    close_now(c);
}

/* Sets c's client address (peer_ip, peer) from sa. */
static void set_peer(cg_conn *c, const struct sockaddr_storage *sa)
{
    unsigned port = 0;
    if (!cg_pp_address_text(sa, c->peer_ip, sizeof c->peer_ip, &port)) {
        c->peer_ip[0] = '\0';
        snprintf(c->peer, sizeof c->peer, "-");
    } else if (sa->ss_family == AF_INET) {
        snprintf(c->peer, sizeof c->peer, "%s:%u", c->peer_ip, port);
    } else {
        snprintf(c->peer, sizeof c->peer, "[%s]:%u", c->peer_ip, port);
    }
}

/* Formats the peer's address into c; returns it in ss (family AF_UNSPEC if unknown). */
static void format_peer(cg_conn *c, struct sockaddr_storage *out)
{
    int len = sizeof *out;
    memset(out, 0, sizeof *out);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)out, &len) != 0)
        out->ss_family = AF_UNSPEC;
    set_peer(c, out);
}

/* Counts c under its address, or says why not (a rate-limited log line):
 * a connection over the per-address limits is closed before any TLS work. */
static bool admit(cg_conn *c, const struct sockaddr *sa)
{
    const cg_limits *lim = &c->tls_cfg->limits;
    cg_admission_key key = cg_admission_key_of(sa, lim->per_address_ipv6_prefix);
    cg_admission_limits al = { .max_handshakes = lim->max_handshakes_per_address,
                               .max_open = lim->max_connections_per_address };
    cg_admit_log lg;
    cg_admit_result r = cg_admission_acquire(c->w->services->admission, &key, &al, uv_now(&c->w->loop),
                                             REFUSAL_LOG_EVERY_MS, &lg);
    if (r == CG_ADMIT_OK) {
        c->admit_key = key;
        c->admit_handshaking = true;
        return true;
    }
    if (lg.log || r == CG_ADMIT_NO_MEMORY) {
        char addr[INET6_ADDRSTRLEN + 8];
        cg_admission_key_format(&key, lim->per_address_ipv6_prefix, addr, sizeof addr);
        const char *why = r == CG_ADMIT_HANDSHAKES ? "limits.max_handshakes_per_address"
                          : r == CG_ADMIT_OPEN     ? "limits.max_connections_per_address"
                                                   : "out of memory for the per-address table";
        cg_log(CG_LOG_WARN, "connection_refused",
               "client=%s address=%s refused=%" PRIu64 " handshaking=%u open=%u reason=\"%s (%u) reached: "
               "closed before the handshake; further refusals of this address are counted, logged at most every %u s\"",
               c->peer, addr, lg.refused, lg.handshakes, lg.open, why,
               r == CG_ADMIT_HANDSHAKES ? al.max_handshakes : al.max_open, REFUSAL_LOG_EVERY_MS / 1000);
    }
    return false;
}

static bool start_tls(cg_conn *c)
{
    if (!cg_tls_conn_init(&c->tls, listener_tls(c), c->w->id, tls_send, c))
        return false;
    c->tls_ready = true;
    return true;
}

/* ---- PROXY protocol (listeners[].proxy_protocol; docs/deployment.md) ----
 *
 * A connection from a trusted balancer must start with a header; until it
 * is whole, the connection has no TLS state and is not counted per address
 * (its address is the balancer's, shared by every client behind it): its
 * client is, once named, and the TLS handshake starts with the bytes after
 * the header. One timer, timeouts.handshake from accept, bounds both. */

/* Direct clients refused, logged at most once per period per worker
 * (each worker is a thread). */
static _Thread_local uint64_t direct_log_ms, direct_refused;

static void refuse_direct(cg_conn *c)
{
    uint64_t now = uv_now(&c->w->loop);
    direct_refused++;
    if (direct_log_ms == 0 || now - direct_log_ms >= REFUSAL_LOG_EVERY_MS) {
        cg_log(CG_LOG_WARN, "connection_refused",
               "client=%s listener=%s refused=%" PRIu64 " reason=\"not a trusted balancer "
               "(proxy_protocol.trusted) and proxy_protocol.direct_clients is refuse: closed before the handshake; "
               "further refusals are counted, logged at most every %u s\"",
               c->peer, c->tls_cfg->listeners[c->listener].name, direct_refused, REFUSAL_LOG_EVERY_MS / 1000);
        direct_log_ms = now ? now : 1;
        direct_refused = 0;
    }
    close_now(c);
}

static void proxy_refuse(cg_conn *c, cg_log_level level, const char *why)
{
    char q[400];
    cg_log(level, "proxy_protocol_refused", "client=%s listener=%s reason=%s", c->peer,
           c->tls_cfg->listeners[c->listener].name, cg_log_quote(q, sizeof q, why, strlen(why)));
    close_now(c);
}

/* The header did not arrive whole: the end of the connection or the timeout. */
static void proxy_ended(cg_conn *c, const char *how)
{
    char why[160];
    size_t got = c->pp->len;
    snprintf(why, sizeof why, "%s after %zu bytes of an incomplete PROXY header", how, got);
    /* Nothing at all then the end: a balancer's TCP health check. */
    proxy_refuse(c, got == 0 && c->eof ? CG_LOG_DEBUG : CG_LOG_INFO, why);
}

static void proxy_input(cg_conn *c, const unsigned char *p, size_t n)
{
    size_t used;
    cg_pp_header h;
    char why[256];
    cg_pp_status st = cg_pp_reader_feed(c->pp, p, n, &used, &h, why, sizeof why);
    if (st == CG_PP_MORE)
        return;
    if (st == CG_PP_BAD) {
        proxy_refuse(c, CG_LOG_WARN, why);
        return;
    }
    free(c->pp);
    c->pp = NULL;
    if (!h.local) { /* LOCAL, UNKNOWN: the balancer's own connection, not counted */
        snprintf(c->via, sizeof c->via, "%s", c->peer);
        set_peer(c, &h.src);
        if (!admit(c, (const struct sockaddr *)&h.src)) {
            cg_counter_add(&c->w->stats.refused_admission, 1);
            close_now(c);
            return;
        }
    }
    if (CG_LOG_DEBUG_ON())
        cg_log(CG_LOG_DEBUG, "proxy_protocol", "client=%s via=%s version=%u local=%d", c->peer,
               c->via[0] ? c->via : "-", h.version, h.local);
    if (!start_tls(c)) {
        close_now(c);
        return;
    }
    if (used < n)
        feed_tls(c, p + used, n - used); /* the ClientHello's first bytes */
}

/* The handler's state follows the connection in the same block. */
#define DATA_OFFSET ((sizeof(cg_conn) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

/* Room for the state of whichever handler the handshake chooses (choose_handler). */
static size_t handler_data_size(const cg_worker *w, size_t li, const cg_conn_handler *handler)
{
    const cg_conn_handler *h2 = w->layers->h2_handler;
    if (h2 && w->cfg->listeners[li].http2 && h2->data_size > handler->data_size)
        return h2->data_size;
    return handler->data_size;
}

void cg_conn_accept(cg_worker *w, uv_stream_t *server, size_t li, const cg_conn_handler *handler)
{
    cg_conn *c = calloc(1, DATA_OFFSET + handler_data_size(w, li, handler));
    if (!c)
        return;
    c->handler = handler;
    c->data = (char *)c + DATA_OFFSET;
    c->w = w;
    c->listener = li;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    CG_LIST_PUSH(w->conns, c);
    w->nconns++;
    cg_counter_add(&w->stats.accepted[cg_stats_listener(li)], 1);
    c->accepted_ns = uv_hrtime();
    unsigned open = atomic_fetch_add(&cg_open_connections, 1) + 1;
    c->tls_cfg = cg_config_ref(w->cfg);

    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        close_now(c);
        return;
    }
    struct sockaddr_storage ss;
    format_peer(c, &ss);
    if (ss.ss_family == AF_UNSPEC) {
        /* Reset before we got to it (a balancer's health check that
         * connects and hangs up): nothing to serve, and no address to judge
         * it by; calling it an untrusted client would mislead the operator. */
        if (CG_LOG_DEBUG_ON())
            cg_log(CG_LOG_DEBUG, "connection_gone", "listener=%s detail=\"the peer closed the connection before it "
                   "was accepted\"", c->tls_cfg->listeners[li].name);
        close_now(c);
        return;
    }
    const cg_limits *lim = &c->tls_cfg->limits;
    uint32_t max = lim->max_connections;
    if (open > max) {
        cg_counter_add(&w->stats.refused_limits, 1);
        if (open > max + OVERLOAD_PAGES) {
            uint64_t now = uv_now(&w->loop);
            w->overload_refused++;
            if (w->overload_log_ms == 0 || now - w->overload_log_ms >= REFUSAL_LOG_EVERY_MS) {
                cg_log(CG_LOG_WARN, "connection_refused",
                       "client=%s worker=%u refused=%" PRIu64 " reason=\"limits.max_connections (%u) reached\"",
                       c->peer, w->id, w->overload_refused, max);
                w->overload_log_ms = now ? now : 1;
                w->overload_refused = 0;
            }
            close_now(c);
            return;
        }
        c->overloaded = true;
    }
    /* From here to the end of the TLS handshake (a PROXY header included). */
    c->handshaking = true;
    c->draining = w->stopping;
    const cg_listener_cfg *l = &c->tls_cfg->listeners[li];
    if (l->proxy_protocol.enabled &&
        cg_cidr_list_contains(l->proxy_protocol.trusted, l->proxy_protocol.ntrusted, c->peer_ip)) {
        c->pp = calloc(1, sizeof *c->pp);
        if (!c->pp) {
            close_now(c);
            return;
        }
    } else if (l->proxy_protocol.enabled && !l->proxy_protocol.allow_direct) {
        refuse_direct(c);
        return;
    } else if (!admit(c, (const struct sockaddr *)&ss)) {
        cg_counter_add(&w->stats.refused_admission, 1);
        close_now(c);
        return;
    } else if (!start_tls(c)) {
        close_now(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    start_own_timer(c, on_handshake_timeout, c->tls_cfg->timeouts.handshake);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        close_now(c);
}
