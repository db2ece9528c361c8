/* The tunnel of an upgraded connection (tunnel.h): client plaintext <->
 * dedicated backend connection, bytes as they come, with backpressure.
 *
 *   client -> backend: the connection's plaintext buffer is written to the
 *     backend as it is (no copy); while that write is queued nothing more is
 *     read from the client (its ciphertext waits in TLS and the socket).
 *   backend -> client: each read is written to the client at once (TLS
 *     copies it) and the read buffer goes back to the worker; while the
 *     client's output is over the high-water mark the backend is not read.
 */
#include "tunnel.h"

#include <stdlib.h>
#include <string.h>

#include "access_log.h"
#include "base/base.h"
#include "http_proxy.h"

typedef struct cg_tunnel {
    cg_conn *c;
    cg_client *client;          /* borrowed from the HTTP/1.1 session; closed here */
    cg_exchange *ex;            /* the upgrade request: its log record and snapshot */
    cg_backend_conn *bc;        /* dedicated; NULL once released */
    size_t rcap;                /* the backend read buffer's size (the worker's spare_rbuf blocks) */
    uint32_t idle_ms;
    uint64_t last_ms;           /* loop time of the last byte either way */
    uint64_t opened_ns;
    const char *end;            /* why it ended, for the log */
    bool to_backend;            /* a write to the backend is queued: the client waits */
    bool from_pbuf;             /* it holds the client's bytes in pbuf (else the request's head) */
    bool backend_paused;        /* backend reads stopped: the client's output is full */
    bool client_ended;          /* its end went to the backend as a FIN */
    bool rejudging;             /* a revocation check is in flight */
    bool finished;
} cg_tunnel;

static cg_tunnel *tunnel_of(const cg_conn *c) { return c->data; }

static void end_tunnel(cg_tunnel *t, const char *why, bool graceful)
{
    if (!t->end)
        t->end = why;
    cg_conn_close(t->c, graceful);
}

static void touch(cg_tunnel *t) { t->last_ms = uv_now(&t->c->w->loop); }

/* ---- client -> backend ---- */

static void pump(cg_tunnel *t);

/* A queued write to the backend is done: the client's bytes it held in
 * pbuf, or the upgrade request's own head (queued when the 101 came). */
static void on_backend_written(cg_backend_conn *bc, int status)
{
    cg_conn *c = bc->owner;
    if (!c)
        return;
    cg_tunnel *t = tunnel_of(c);
    t->to_backend = false;
    if (status < 0) {
        end_tunnel(t, "the backend connection failed while bytes were sent to it", false);
        return;
    }
    if (t->from_pbuf)
        c->ppos = c->plen;
    pump(t);
}

/* The client ended its side (close_notify or FIN): the backend gets a FIN
 * after what was queued, and its remaining bytes still reach the client. */
static void client_ended(cg_tunnel *t)
{
    t->client_ended = true;
    if (!cg_backend_shutdown_write(t->bc))
        end_tunnel(t, "the client ended the connection", false);
}

static void pump(cg_tunnel *t)
{
    cg_conn *c = t->c;
    while (!c->closing && !c->lingering && !t->to_backend) {
        if (c->ppos < c->plen) {
            size_t n = c->plen - c->ppos;
            uv_buf_t b = uv_buf_init(c->pbuf + c->ppos, (unsigned)n);
            int r = cg_backend_write(t->bc, &b, 1, on_backend_written);
            if (r < 0) {
                end_tunnel(t, "the backend connection failed while the client's bytes were sent", false);
                return;
            }
            t->ex->bytes_in += n;
            touch(t);
            if (r == 1) {
                t->to_backend = t->from_pbuf = true; /* the bytes stay in pbuf until written */
                return;
            }
            c->ppos = c->plen;
            continue;
        }
        if (t->client_ended)
            return;
        cg_conn_compact(c);
        cg_tls_status st = cg_conn_read_plaintext(c);
        if (st == CG_TLS_OK)
            continue;
        if (st == CG_TLS_WANT_READ) {
            cg_conn_release_input(c); /* a quiet tunnel holds no plaintext buffer */
            return;
        }
        if (st == CG_TLS_CLOSED)
            client_ended(t);
        else
            end_tunnel(t, "the client's connection failed", false);
        return;
    }
}

/* ---- backend -> client ---- */

static void be_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cg_backend_conn *bc = h->data;
    cg_conn *c = bc->owner;
    (void)suggested;
    if (!bc->rbuf && c) {
        bc->rcap = tunnel_of(c)->rcap;
        bc->rbuf = cg_spares_get(&bc->w->spare_rbuf, bc->rcap);
    }
    buf->base = bc->rbuf;
    buf->len = bc->rbuf ? bc->rcap : 0; /* out of memory: libuv reports UV_ENOBUFS */
}

static void be_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cg_backend_conn *bc = s->data;
    cg_conn *c = bc->owner;
    (void)buf;
    if (!c || nread == 0)
        return;
    cg_tunnel *t = tunnel_of(c);
    if (nread < 0) {
        if (nread == UV_EOF)
            end_tunnel(t, t->client_ended ? "both sides ended" : "the backend ended the connection", true);
        else
            end_tunnel(t, "the backend connection failed", false);
        return;
    }
    t->ex->bytes_out += (uint64_t)nread;
    touch(t);
    bool ok = cg_conn_write(c, bc->rbuf, (size_t)nread) && cg_conn_flush(c);
    /* TLS has the bytes: a quiet tunnel holds no read buffer. */
    cg_spares_put(&bc->w->spare_rbuf, bc->rbuf, bc->rcap);
    bc->rbuf = NULL;
    if (!ok) {
        end_tunnel(t, "the client's connection failed", false);
        return;
    }
    if (c->out_queued > CG_OUT_HIGH_WATER && !t->backend_paused) {
        t->backend_paused = true;
        cg_backend_pause(bc);
    }
}

/* ---- timers: idle, revocation ---- */

static void on_idle_timer(uv_timer_t *tm)
{
    cg_conn *c = tm->data;
    cg_tunnel *t = tunnel_of(c);
    uint64_t quiet = uv_now(&c->w->loop) - t->last_ms;
    if (quiet >= t->idle_ms) {
        end_tunnel(t, "no byte either way within tunnel_idle", true);
        return;
    }
    cg_conn_set_timer(c, t->idle_ms - quiet, on_idle_timer);
}

static void on_rejudged(void *ctx)
{
    cg_tunnel *t = ctx;
    cg_conn *c = t->c;
    const cg_client *cl = t->client;
    t->rejudging = false;
    if (cl->cert_ok || c->closing || c->lingering)
        return;
    /* The line a request of this client would get now (cg_proxy_refuse's),
     * under the upgrade request's id; no page can be sent into a tunnel. */
    char st[24];
    cg_refusal_status_text(cl->cert_refusal.kind, st, sizeof st);
    cg_log_fields(CG_LOG_WARN, "refused", CG_LF_STR("id", t->ex->id), CG_LF_STR("client", c->peer),
                  CG_LF_STR("code", cg_refusal_code(cl->cert_refusal.kind)), CG_LF_STR("status", st),
                  CG_LF_STR("page", "none"), CG_LF_STR("detail", cl->cert_refusal.detail));
    end_tunnel(t, "the client certificate was judged again after a CRL changed, and refused", true);
}

static void on_rejudge_timer(uv_timer_t *tm)
{
    cg_backend_conn *bc = tm->data;
    cg_conn *c = bc->owner;
    if (!c)
        return;
    cg_tunnel *t = tunnel_of(c);
    if (!t->rejudging && cg_client_verdict_stale(t->client)) {
        t->rejudging = true;
        if (cg_client_rejudge(t->client, on_rejudged, t))
            on_rejudged(t);
    }
    if (t->bc)
        cg_backend_set_timer(t->bc, CG_TUNNEL_REJUDGE_MS, on_rejudge_timer);
}

/* ---- the connection's handler (conn.h) ---- */

static void tunnel_ready(cg_conn *c) { (void)c; /* never called: switched to after the handshake */ }

static void tunnel_input(cg_conn *c) { pump(tunnel_of(c)); }

static void tunnel_drain(cg_conn *c)
{
    cg_tunnel *t = tunnel_of(c);
    if (t->backend_paused && t->bc) {
        t->backend_paused = false;
        cg_backend_resume(t->bc);
    }
}

static void tunnel_close(cg_conn *c)
{
    cg_tunnel *t = tunnel_of(c);
    if (!t->finished) {
        t->finished = true;
        if (t->bc) {
            t->bc->owner = NULL;
            cg_backend_release(t->bc, false); /* dedicated: never pooled */
            t->bc = NULL;
        }
        cg_exchange *ex = t->ex;
        cg_log_fields(CG_LOG_INFO, "tunnel_closed", CG_LF_STR("id", ex->id), CG_LF_STR("client", c->peer),
                      CG_LF_STR("principal", t->client->mapped ? t->client->principal : "-"),
                      CG_LF_STR("reason", t->end ? t->end : "the client connection closed"),
                      CG_LF_UINT("bytes_in", ex->bytes_in), CG_LF_UINT("bytes_out", ex->bytes_out),
                      CG_LF_MS("ms", (double)(uv_hrtime() - t->opened_ns) / 1e6));
        cg_access_log_exchange(c, t->client, ex);
        cg_config_unref(ex->cfg);
        ex->cfg = NULL;
        ex->route = NULL;
    }
    if (c->closing)
        cg_client_close(t->client);
}

/* Graceful shutdown: a tunnel has no request boundary to wait for, and may
 * last for hours; its client reconnects (to the successor). */
static bool tunnel_idle(const cg_conn *c)
{
    (void)c;
    return true;
}

const cg_conn_handler cg_tunnel_handler = {
    .data_size = sizeof(cg_tunnel),
    .on_ready = tunnel_ready,
    .on_input = tunnel_input,
    .on_drain = tunnel_drain,
    .on_close = tunnel_close,
    .is_idle = tunnel_idle,
};

bool cg_tunnel_start(cg_conn *c, cg_client *cl, cg_exchange *ex, cg_backend_conn *bc, size_t off)
{
    cg_tunnel *t = cg_conn_switch_handler(c, &cg_tunnel_handler);
    if (!t)
        return false;
    t->c = c;
    t->client = cl;
    t->ex = ex;
    t->bc = bc;
    t->rcap = bc->rcap;
    t->idle_ms = ex->route && ex->route->tunnel_idle_ms ? ex->route->tunnel_idle_ms : ex->cfg->timeouts.tunnel_idle;
    t->opened_ns = uv_hrtime();
    touch(t);
    bc->owner = c;
    if (bc->write_pending) { /* the request's head: its callback was the exchange's */
        t->to_backend = true;
        bc->on_write = on_backend_written;
    }
    if (CG_LOG_DEBUG_ON())
        cg_log_fields(CG_LOG_DEBUG, "tunnel_opened", CG_LF_STR("id", ex->id), CG_LF_STR("client", c->peer),
                      CG_LF_STR("backend", ex->cfg->backends[ex->backend].name),
                      CG_LF_UINT("idle_ms", t->idle_ms));
    cg_conn_set_timer(c, t->idle_ms, on_idle_timer);
    cg_backend_set_timer(bc, CG_TUNNEL_REJUDGE_MS, on_rejudge_timer);
    /* What the backend sent right after its 101 goes first, then the
     * client's bytes sent right after its request. */
    size_t early = bc->rlen > off ? bc->rlen - off : 0;
    bool ok = (!early || cg_conn_write(c, bc->rbuf + off, early)) && cg_conn_flush(c);
    ex->bytes_out += early;
    bc->rlen = 0;
    if (!ok) {
        end_tunnel(t, "the client's connection failed", false);
        return true;
    }
    cg_backend_set_reader(bc, be_alloc, be_read);
    if (c->draining) {
        end_tunnel(t, "the server is shutting down", true);
        return true;
    }
    pump(t);
    return true;
}
