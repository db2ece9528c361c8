/* One worker (worker.h): its loop, listening sockets, connections and
 * request ids, from start to a graceful stop.
 */
#include "worker.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "base/base.h"

#define READBUF_CAP (64u * 1024)
#define STAGE_CAP 16384 /* one full TLS record of plaintext */
#define WIRE_CAP 16384  /* a server handshake flight: certificates, key exchange, CA names */
#define LISTEN_DRAIN_MAX_MS 2000  /* stopping: a listener whose queue never empties is closed after this */

atomic_uint cg_open_connections;
static uint32_t boot_id;

void cg_worker_seed_request_ids(void) { uv_random(NULL, NULL, &boot_id, sizeof boot_id, 0, NULL); }

/* Once per request. The text of the last id is kept: "<boot>-<worker>-"
 * is written once, and the next id is the last with its sequence number
 * counted up in place, digit by digit (a carry past the first digit adds
 * one), instead of formatting the whole id again (snprintf, then the digit
 * loops, showed up in profiles). Rebuilt from request_seq whenever that is
 * not the number the text holds. */
size_t cg_worker_request_id(cg_worker *w, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t seq = ++w->request_seq;
    if (cap < sizeof w->rid_text) {
        int n = snprintf(out, cap, "%08" PRIx32 "-%u-%" PRIu64, boot_id, w->id, seq);
        return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
    }
    char *t = w->rid_text;
    if (w->rid_len && w->rid_seq + 1 == seq && seq != 0) { /* (0: wrapped, as the number does) */
        char *d = t + w->rid_len - 1;
        while (*d == '9') /* 9 -> 0, carried left; the prefix ends in '-' */
            *d-- = '0';
        if (*d == '-') {
            d[1] = '1';
            t[w->rid_len++] = '0'; /* 99 -> 100: one digit more, all others 0 */
            t[w->rid_len] = '\0';
        } else {
            (*d)++;
        }
    } else {
        char *p = t;
        for (int shift = 28; shift >= 0; shift -= 4)
            *p++ = hex[(boot_id >> shift) & 15];
        *p++ = '-';
        p = cg_put_dec(p, w->id);
        *p++ = '-';
        p = cg_put_dec(p, seq);
        *p = '\0';
        w->rid_len = (size_t)(p - t);
    }
    w->rid_seq = seq;
    memcpy(out, t, w->rid_len + 1);
    return w->rid_len;
}

static void on_connection(uv_stream_t *listener, int status)
{
    cg_worker *w = listener->data;
    if (status < 0)
        return; /* stopping: still accepted (and served as draining) until the queue is empty */
    size_t li = (size_t)((uv_tcp_t *)listener - w->listeners);
    cg_conn_accept(w, listener, li, w->layers->handler);
}

static void on_prepare(uv_prepare_t *p)
{
    /* Safety net for output coalescing: whatever is staged goes out
     * before the loop sleeps. */
    cg_worker *w = p->data;
    cg_conn *c = w->stage_owner;
    if (c && !cg_conn_flush(c))
        cg_conn_close(c, false);
}

static void on_shutdown_deadline(uv_timer_t *t)
{
    cg_worker *w = t->data;
    size_t n = w->nconns;
    if (n)
        cg_log(CG_LOG_WARN, "shutdown_deadline", "worker=%u connections_closed=%zu", w->id, n);
    for (cg_conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        cg_conn_close(c, false);
    }
}

/* The watchdog's proof that this loop turns: a stuck worker stops
 * updating it and the main thread stops telling systemd all is well. */
static void on_heartbeat(uv_timer_t *t)
{
    cg_worker *w = t->data;
    atomic_store_explicit(&w->heartbeat_ms, uv_hrtime() / 1000000u, memory_order_relaxed);
}

static void finish_stop(cg_worker *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->wakeup)) {
        uv_close((uv_handle_t *)&w->heartbeat_timer, NULL);
        uv_close((uv_handle_t *)&w->quiet_timer, NULL);
        w->layers->stop(w);
        uv_close((uv_handle_t *)&w->shutdown_timer, NULL);
        uv_close((uv_handle_t *)&w->flush_prepare, NULL);
        uv_close((uv_handle_t *)&w->listen_drain, NULL);
        uv_close((uv_handle_t *)&w->wakeup, NULL);
    }
}

static bool listeners_open(cg_worker *w)
{
    for (size_t i = 0; i < w->nlisteners; i++)
        if (w->listeners[i].type == UV_TCP && !uv_is_closing((uv_handle_t *)&w->listeners[i]))
            return true;
    return false;
}

/* Stopping. Closing a listening socket resets the connections in its accept
 * queue, and with SO_REUSEPORT the kernel queued some of the new ones for
 * this process's sockets: so each is closed only when its queue is empty,
 * checked right after the loop's accept pass (a check handle runs after
 * I/O). What remains is the kernel's window between that look and close(2),
 * and handshakes not yet completed (net.ipv4.tcp_migrate_req=1 moves those
 * to the successor's sockets; passed sockets, listen_fds.h, have none). */
static void on_listen_drain(uv_check_t *h)
{
    cg_worker *w = h->data;
    bool late = uv_now(&w->loop) - w->stop_began_ms >= LISTEN_DRAIN_MAX_MS;
    for (size_t i = 0; i < w->nlisteners; i++) {
        uv_tcp_t *l = &w->listeners[i];
        uv_os_fd_t fd;
        if (l->type != UV_TCP || uv_is_closing((uv_handle_t *)l))
            continue;
        struct pollfd p = { .events = POLLIN };
        if (!late && uv_fileno((uv_handle_t *)l, &fd) == 0 && (p.fd = fd, poll(&p, 1, 0) == 1))
            continue; /* queued connections: the next accept pass takes them */
        uv_close((uv_handle_t *)l, NULL);
    }
    if (!listeners_open(w)) {
        uv_check_stop(h);
        if (w->nconns == 0)
            uv_async_send(&w->wakeup);
    }
}

static void begin_stop(cg_worker *w)
{
    w->stopping = true;
    w->stop_began_ms = uv_now(&w->loop);
    uv_check_start(&w->listen_drain, on_listen_drain);
    on_listen_drain(&w->listen_drain);
    for (cg_conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        cg_conn_drain(c);
    }
    uv_timer_start(&w->shutdown_timer, on_shutdown_deadline, w->cfg->timeouts.shutdown, 0);
}

static void on_wakeup(uv_async_t *a)
{
    cg_worker *w = a->data;
    cg_config *next = atomic_exchange(&w->next_cfg, NULL);
    if (next) {
        cg_config_unref(w->cfg);
        w->cfg = next;
        w->layers->reconfigure(w);
    }
    if (atomic_load(&w->stop_requested) && !w->stopping)
        begin_stop(w);
    if (w->stopping && w->nconns == 0 && !listeners_open(w))
        finish_stop(w);
}

void cg_worker_main(void *arg)
{
    cg_worker *w = arg;
    char name[16]; /* the kernel's limit; "certgate-w1023" fits: top -H and /proc/PID/task show it */
    snprintf(name, sizeof name, "certgate-w%u", w->id);
    pthread_setname_np(pthread_self(), name);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

bool cg_worker_init(cg_worker *w, unsigned id, cg_config *cfg, cg_services *services,
                    const cg_worker_layers *layers, int *fds, char *err, size_t errcap)
{
    w->id = id;
    w->services = services;
    w->layers = layers;
    w->cfg = cg_config_ref(cfg);
    atomic_init(&w->next_cfg, NULL);
    atomic_init(&w->stop_requested, false);
    w->readbuf_cap = READBUF_CAP;
    w->readbuf = malloc(READBUF_CAP);
    w->stage_cap = STAGE_CAP;
    w->stage = malloc(STAGE_CAP);
    w->wire_cap = WIRE_CAP;
    w->wire = malloc(WIRE_CAP);
    w->nlisteners = cfg->nlisteners;
    w->listeners = calloc(cfg->nlisteners, sizeof *w->listeners);
    if (!w->readbuf || !w->stage || !w->wire || !w->listeners) {
        snprintf(err, errcap, "out of memory");
        return false;
    }
    uv_loop_init(&w->loop);
    w->loop.data = w;
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    uv_timer_init(&w->loop, &w->shutdown_timer);
    w->shutdown_timer.data = w;
    uv_timer_init(&w->loop, &w->heartbeat_timer);
    w->heartbeat_timer.data = w;
    uv_timer_init(&w->loop, &w->quiet_timer);
    w->quiet_timer.data = w;
    atomic_init(&w->heartbeat_ms, uv_hrtime() / 1000000u);
    uv_check_init(&w->loop, &w->listen_drain);
    w->listen_drain.data = w;
    uv_prepare_init(&w->loop, &w->flush_prepare);
    w->flush_prepare.data = w;
    uv_prepare_start(&w->flush_prepare, on_prepare);
    if (!layers->start(w, err, errcap))
        return false;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        uv_tcp_init(&w->loop, &w->listeners[i]);
        w->listeners[i].data = w;
        int r = uv_tcp_open(&w->listeners[i], fds[i]);
        if (r == 0)
            r = uv_listen((uv_stream_t *)&w->listeners[i], 511, on_connection);
        if (r != 0) {
            snprintf(err, errcap, "listener \"%s\": %s", cfg->listeners[i].name, uv_strerror(r));
            return false;
        }
    }
    return true;
}

void cg_worker_free(cg_worker *w)
{
    uv_loop_close(&w->loop);
    cg_config *pending = atomic_exchange(&w->next_cfg, NULL);
    if (pending)
        cg_config_unref(pending);
    if (w->cfg)
        cg_config_unref(w->cfg);
    free(w->listeners);
    free(w->readbuf);
    free(w->stage);
    free(w->wire);
    cg_spares_clear(&w->spare_pbuf);
    cg_spares_clear(&w->spare_hdrs);
    cg_spares_clear(&w->spare_head);
    cg_spares_clear(&w->spare_rbuf);
}

void cg_worker_start_heartbeat(cg_worker *w, uint64_t every_ms)
{
    uv_timer_start(&w->heartbeat_timer, on_heartbeat, every_ms, every_ms);
}

void cg_worker_close_unstarted(cg_worker *w)
{
    /* Never ran: close its handles so the loop can be freed. */
    for (size_t li = 0; li < w->nlisteners; li++)
        if (w->listeners[li].type == UV_TCP && !uv_is_closing((uv_handle_t *)&w->listeners[li]))
            uv_close((uv_handle_t *)&w->listeners[li], NULL);
    w->stopping = true;
    finish_stop(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}
