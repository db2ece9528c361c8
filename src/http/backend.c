#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/base.h"

bool cg_identity_format(char *out, const char *kind, const char *value)
{
    int n = snprintf(out, CG_IDENTITY_MAX, "%s:%s", kind, value);
    if (n < 0 || (size_t)n >= CG_IDENTITY_MAX) {
        out[0] = '\0';
        return false;
    }
    return true;
}

const char *cg_backend_strerror(int status)
{
    switch (status) {
    case UV_ECONNREFUSED: return "connection refused (nothing listens on that port)";
    case UV_ETIMEDOUT: return "timed out (timeouts.backend_connect)";
    case UV_EHOSTUNREACH: return "host unreachable";
    case UV_ENETUNREACH: return "network unreachable";
    case UV_EAI_NONAME: return "the host name does not resolve";
    case UV_EBUSY:
        return "every connection backends[].max_connections allows stayed busy for timeouts.backend_connect";
    case UV_ECANCELED: return "the backend pools were rebuilt (reload or shutdown) while the request waited";
    case CG_BACKEND_ETLS: return "the TLS handshake failed";
    case CG_BACKEND_ESTALE: return "the idle connection had unread bytes or an EOF";
    default: return uv_strerror(status);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    cg_backend_conn *bc = h->data;
    if (--bc->handles == 0) {
        if (bc->tls) {
            cg_tls_client_conn_free(bc->tls);
            cg_buf_free(&bc->tls_wbuf);
            free(bc->tls_failure);
            cg_config_unref(bc->tls_cfg);
        }
        free(bc->rbuf);
        free(bc);
    }
}

/* The pool's size for metrics (stats.h): the worker writes, the scrape reads. */
static void publish_idle(cg_worker *w, size_t backend, size_t nidle)
{
    if (backend < CG_STATS_BACKENDS)
        atomic_store_explicit(&w->stats.pool_idle[backend], (uint32_t)nidle, memory_order_relaxed);
}

static void unlink_idle(cg_backend_conn *bc)
{
    if (!bc->idle)
        return;
    cg_backend_pool *pool = &bc->w->pools[bc->backend];
    CG_LIST_UNLINK(pool->idle, bc);
    bc->idle = false;
    pool->nidle--;
    publish_idle(bc->w, bc->backend, pool->nidle);
}

static void unlink_waiting(cg_backend_conn *bc)
{
    if (!bc->waiting)
        return;
    cg_backend_pool *pool = &bc->w->pools[bc->backend];
    if (bc->prev)
        bc->prev->next = bc->next;
    else
        pool->wait_head = bc->next;
    if (bc->next)
        bc->next->prev = bc->prev;
    else
        pool->wait_tail = bc->prev;
    bc->next = bc->prev = NULL;
    bc->waiting = false;
    pool->nwaiting--;
}

/* The pool bc counts in, or NULL when the pools were rebuilt since it was
 * made (a busy connection of an old configuration counts nowhere). */
static cg_backend_pool *pool_of(cg_backend_conn *bc)
{
    cg_worker *w = bc->w;
    if (bc->generation != w->pool_generation || bc->backend >= w->npools)
        return NULL;
    return &w->pools[bc->backend];
}

static void serve_waiters(cg_worker *w, size_t backend);

static void close_conn(cg_backend_conn *bc)
{
    if (bc->closing)
        return;
    if (bc->tls && bc->connected && !bc->tls_writing && !bc->tls_read_error && !bc->tls_done) {
        /* Say goodbye when it costs nothing: close_notify if the socket takes
         * it now (never waited for). */
        cg_tls_client_close_notify(bc->tls);
        bc->tls_wbuf.len = 0;
        cg_tls_client_swap_out(bc->tls, &bc->tls_wbuf);
        uv_buf_t b = uv_buf_init(bc->tls_wbuf.data, (unsigned)bc->tls_wbuf.len);
        if (b.len)
            (void)uv_try_write((uv_stream_t *)&bc->tcp, &b, 1);
        bc->tls_wbuf.len = 0;
    }
    bc->closing = true;
    unlink_idle(bc);
    unlink_waiting(bc);
    bc->owner = NULL;
    uv_cancel((uv_req_t *)&bc->gai_req); /* harmless when not resolving */
    uv_close((uv_handle_t *)&bc->timer, on_handle_closed);
    if (bc->tls) {
        uv_close((uv_handle_t *)&bc->tls_idle, on_handle_closed);
    } else {
        uv_close((uv_handle_t *)&bc->hand_out, on_handle_closed);
        uv_close((uv_handle_t *)&bc->hand_out_poll, on_handle_closed);
    }
    uv_close((uv_handle_t *)&bc->tcp, on_handle_closed); /* cancels a pending connect */
    cg_backend_pool *pool = bc->counted ? pool_of(bc) : NULL;
    bc->counted = false;
    if (pool) {
        pool->nopen--;
        serve_waiters(bc->w, bc->backend); /* its slot is free */
    }
}

size_t cg_backend_worker_cap(const cg_worker *w, size_t backend)
{
    uint32_t max = w->cfg->backends[backend].max_connections;
    uint32_t n = w->cfg->workers ? w->cfg->workers : 1;
    size_t share = max / n + (w->id < max % n ? 1 : 0);
    return share ? share : 1;
}

void cg_backend_pools_reset(cg_worker *w)
{
    cg_backend_pools_free(w);
    w->pool_generation++;
    w->npools = w->cfg->nbackends;
    w->pools = calloc(w->npools ? w->npools : 1, sizeof *w->pools);
    if (!w->pools)
        w->npools = 0;
    for (size_t i = 0; i < w->npools; i++)
        w->pools[i].cap = cg_backend_worker_cap(w, i);
}

/* A connection's one timer serves its connect, wait, idle and response
 * timeouts in turn, and a pooled connection changes deadline at least twice
 * per request. Moving a libuv timer is a heap removal and insertion, so it
 * stays where it is when it fires no later than the new deadline; on firing
 * it waits for the rest (on_timer). Disarming only forgets the callback. */
static void on_timer(uv_timer_t *t)
{
    cg_backend_conn *bc = t->data;
    uv_timer_cb cb = bc->timer_cb;
    bc->timer_fires = 0;
    if (!cb)
        return;
    uint64_t now = uv_now(t->loop);
    if (bc->timer_due > now) {
        bc->timer_fires = bc->timer_due;
        uv_timer_start(t, on_timer, bc->timer_due - now, 0);
        return;
    }
    bc->timer_cb = NULL;
    cb(t);
}

static void arm_timer(cg_backend_conn *bc, uint64_t ms, uv_timer_cb cb)
{
    uint64_t now = uv_now(bc->timer.loop);
    bc->timer_cb = cb;
    bc->timer_due = now + ms;
    if (bc->timer_fires && bc->timer_fires <= bc->timer_due)
        return; /* (timer_fires: what uv_is_active and uv_timer_get_due_in would say, without the calls) */
    bc->timer_fires = bc->timer_due;
    uv_timer_start(&bc->timer, on_timer, ms, 0);
}

static void disarm_timer(cg_backend_conn *bc) { bc->timer_cb = NULL; }

static void on_connect_timeout(uv_timer_t *t);

void cg_backend_pools_free(cg_worker *w)
{
    for (size_t i = 0; i < w->npools; i++) {
        /* Waiting requests are told on the next loop turn, before their
         * pool goes (they would otherwise take the slots freed below). */
        while (w->pools[i].wait_head) {
            cg_backend_conn *bc = w->pools[i].wait_head;
            unlink_waiting(bc);
            bc->connect_error = UV_ECANCELED;
            arm_timer(bc, 0, on_connect_timeout);
        }
        while (w->pools[i].idle)
            close_conn(w->pools[i].idle);
    }
    free(w->pools);
    w->pools = NULL;
    w->npools = 0;
}

static void finish_connect(cg_backend_conn *bc, int status)
{
    disarm_timer(bc);
    if (status == 0)
        bc->connected = true;
    cg_backend_cb cb = bc->on_connect;
    bc->on_connect = NULL;
    if (bc->owner && cb)
        cb(bc, status);
}

static void on_connect_timeout(uv_timer_t *t)
{
    cg_backend_conn *bc = t->data;
    if (bc->connected || bc->closing)
        return;
    cg_backend_cb cb = bc->on_connect;
    bc->on_connect = NULL;
    void *owner = bc->owner;
    if (owner && cb)
        cb(bc, bc->connect_error ? bc->connect_error : UV_ETIMEDOUT); /* the owner releases (closes) it */
}

static void tls_start(cg_backend_conn *bc);

static void on_connected(uv_connect_t *req, int status)
{
    cg_backend_conn *bc = req->data;
    if (status == UV_ECANCELED || bc->closing)
        return;
    if (status == 0)
        uv_tcp_nodelay(&bc->tcp, 1);
    if (status == 0 && bc->tls) {
        tls_start(bc); /* on_connect once the backend is verified */
        return;
    }
    finish_connect(bc, status);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    cg_backend_conn *bc = req->data;
    if (status == UV_ECANCELED || bc->closing) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status == 0) {
        status = uv_tcp_connect(&bc->connect_req, &bc->tcp, res->ai_addr, on_connected);
    }
    uv_freeaddrinfo(res);
    if (status != 0)
        finish_connect(bc, status);
}

static int start_connect(cg_backend_conn *bc, const cg_backend_cfg *b)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    bc->connect_req.data = bc;
    bc->gai_req.data = bc;
    if (uv_ip4_addr(b->host, b->port, &addr.in4) == 0 || uv_ip6_addr(b->host, b->port, &addr.in6) == 0)
        return uv_tcp_connect(&bc->connect_req, &bc->tcp, &addr.sa, on_connected);
    /* A name: resolve on the thread pool (getaddrinfo blocks), every time,
     * so DNS changes are followed. */
    char port[8];
    snprintf(port, sizeof port, "%u", b->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    return uv_getaddrinfo(&bc->w->loop, &bc->gai_req, on_resolved, b->host, port, &hints);
}

/* Whether an idle connection cannot be handed out now. A plain connection
 * is never looked at here: it is handed out after the loop's next poll
 * (hand_out_after_poll), after the loop has reported whatever its socket
 * held, so it costs no system call. An https connection is looked at: TLS
 * state first, then one non-blocking recv(MSG_PEEK) for a byte or an EOF
 * the loop may not have reported yet (its readiness can be queued behind the
 * client event being handled now). */
static bool idle_is_stale(cg_backend_conn *bc)
{
    if (!bc->tls)
        return false;
    if (cg_tls_client_in_pending(bc->tls) || bc->tls_read_error || bc->tls_done)
        return true;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&bc->tcp, &fd) != 0)
        return true;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
    return true; /* data, EOF (0) or an error */
}

/* The most recently used live idle connection for identity; stale ones met
 * on the way are closed. */
static cg_backend_conn *find_idle(cg_backend_pool *pool, const char *identity)
{
    cg_backend_conn *bc = pool->idle;
    while (bc) {
        cg_backend_conn *next = bc->next;
        if (strcmp(bc->identity, identity) == 0) {
            if (!idle_is_stale(bc))
                return bc;
            cg_log(CG_LOG_DEBUG, "backend_idle_closed", "detail=\"unread bytes or EOF on an idle connection\"");
            close_conn(bc);
        }
        bc = next;
    }
    return NULL;
}

/* A plain idle connection taken for a request is handed out like a new one
 * (connected is false until then), right after the loop's next poll. The
 * client's request may have been reported in the same poll as stray bytes or
 * an EOF on this connection, and handled first; once the poll's events are
 * all delivered (a check handle runs after them), dispatch_read has marked
 * the connection stale and the owner is told to take another one
 * (CG_BACKEND_ESTALE). An active idle handle keeps that poll from blocking
 * when the connection was taken outside the poll phase. Unlike a
 * recv(MSG_PEEK) per reuse, this costs no system call. */
static void on_hand_out(uv_check_t *h)
{
    cg_backend_conn *bc = h->data;
    uv_check_stop(&bc->hand_out);
    if (bc->hand_out_polling) /* (set by each hand_out_after_poll) */
        uv_idle_stop(&bc->hand_out_poll);
    if (!bc->reserved || bc->closing)
        return;
    bc->reserved = false;
    cg_backend_cb cb = bc->on_connect;
    bc->on_connect = NULL;
    if (bc->stale) {
        cg_log(CG_LOG_DEBUG, "backend_idle_closed", "detail=\"unread bytes or EOF on an idle connection\"");
        if (bc->owner && cb)
            cb(bc, CG_BACKEND_ESTALE); /* the owner releases (closes) it and acquires again */
        return;
    }
    bc->connected = true;
    if (bc->owner && cb)
        cb(bc, 0);
}

static void on_hand_out_poll(uv_idle_t *h) { (void)h; }

static void hand_out_after_poll(cg_backend_conn *bc, cg_backend_cb on_connect)
{
    bc->reserved = true;
    bc->connected = false;
    bc->on_connect = on_connect;
    uv_check_start(&bc->hand_out, on_hand_out);
    bc->hand_out_polling = !bc->w->in_read_cb; /* else the check phase comes without another poll */
    if (bc->hand_out_polling)
        uv_idle_start(&bc->hand_out_poll, on_hand_out_poll);
}

void cg_backend_answered(cg_backend_conn *bc, bool sent_token, int status)
{
    bc->served++;
    if (sent_token && status != 401)
        bc->authenticated = true;
}

bool cg_backend_idle_authenticated(cg_worker *w, size_t backend, const char *identity)
{
    if (backend >= w->npools)
        return false;
    /* The same connection cg_backend_acquire() takes. */
    cg_backend_conn *bc = find_idle(&w->pools[backend], identity);
    return bc && bc->authenticated;
}

static void begin_connect(cg_backend_conn *bc);
static void on_wait_timeout(uv_timer_t *t);

cg_backend_conn *cg_backend_acquire(cg_worker *w, size_t backend, const char *identity, bool fresh, void *owner,
                                    cg_backend_cb on_connect)
{
    size_t idlen = strlen(identity);
    if (backend >= w->npools || idlen == 0 || idlen >= CG_IDENTITY_MAX)
        return NULL; /* a key that does not fit is never shortened */
    cg_backend_pool *pool = &w->pools[backend];
    if (!fresh) {
        cg_backend_conn *bc = find_idle(pool, identity);
        if (bc) {
            unlink_idle(bc);
            disarm_timer(bc);
            bc->owner = owner;
            if (!bc->tls)
                hand_out_after_poll(bc, on_connect);
            return bc;
        }
    }

    cg_backend_conn *bc = calloc(1, sizeof *bc);
    if (!bc)
        return NULL;
    bc->w = w;
    bc->backend = backend;
    bc->generation = w->pool_generation;
    bc->owner = owner;
    bc->on_connect = on_connect;
    memcpy(bc->identity, identity, idlen + 1);
    const cg_backend_cfg *b = &w->cfg->backends[backend];
    if (b->https) { /* never plain HTTP to an https url (a snapshot without its TLS client cannot serve it) */
        if (!b->tls || !(bc->tls = cg_tls_client_conn_new(b->tls, w->id))) {
            free(bc);
            return NULL;
        }
        bc->tls_cfg = cg_config_ref(w->cfg); /* the TLS client lives in it */
    }
    uv_tcp_init(&w->loop, &bc->tcp);
    uv_timer_init(&w->loop, &bc->timer);
    bc->tcp.data = bc->timer.data = bc;
    bc->handles = 2;
    if (bc->tls) {
        uv_idle_init(&w->loop, &bc->tls_idle);
        bc->tls_idle.data = bc;
        bc->handles++;
    } else {
        uv_check_init(&w->loop, &bc->hand_out);
        uv_idle_init(&w->loop, &bc->hand_out_poll);
        bc->hand_out.data = bc->hand_out_poll.data = bc;
        bc->handles += 2;
    }

    /* At the cap: the least recently used idle connection, of whoever,
     * makes way (an earlier waiter, if any, takes its slot first). */
    if (pool->nopen >= pool->cap && pool->idle) {
        cg_backend_conn *lru = pool->idle;
        while (lru->next)
            lru = lru->next;
        cg_log(CG_LOG_DEBUG, "backend_idle_evicted", "backend=%s detail=\"max_connections reached: the least "
               "recently used idle connection makes way\"", w->cfg->backends[backend].name);
        close_conn(lru);
    }
    if (pool->nopen >= pool->cap || pool->wait_head) {
        /* Every slot busy: wait in line (next/prev link the wait list). */
        bc->waiting = true;
        bc->prev = pool->wait_tail;
        if (pool->wait_tail)
            pool->wait_tail->next = bc;
        else
            pool->wait_head = bc;
        pool->wait_tail = bc;
        pool->nwaiting++;
        cg_log(CG_LOG_DEBUG, "backend_wait", "backend=%s open=%zu cap=%zu waiting=%zu",
               w->cfg->backends[backend].name, pool->nopen, pool->cap, pool->nwaiting);
        arm_timer(bc, w->cfg->timeouts.backend_connect, on_wait_timeout);
        return bc;
    }
    begin_connect(bc);
    return bc;
}

/* Counts bc against its pool's cap and connects it. */
static void begin_connect(cg_backend_conn *bc)
{
    cg_worker *w = bc->w;
    bc->counted = true;
    w->pools[bc->backend].nopen++;
    const cg_backend_cfg *b = &w->cfg->backends[bc->backend];
    arm_timer(bc, w->cfg->timeouts.backend_connect, on_connect_timeout);
    int r = start_connect(bc, b);
    if (r != 0) {
        /* Report asynchronously like every other failure: the caller is
         * still setting up. A zero timeout fires on the next loop turn. */
        bc->connect_error = r;
        disarm_timer(bc);
        cg_log(CG_LOG_DEBUG, "backend_connect_failed", "backend=%s error=\"%s\"", b->name, uv_strerror(r));
        arm_timer(bc, 0, on_connect_timeout);
    }
}

static void serve_waiters(cg_worker *w, size_t backend)
{
    if (backend >= w->npools)
        return;
    cg_backend_pool *pool = &w->pools[backend];
    while (pool->wait_head && pool->nopen < pool->cap) {
        cg_backend_conn *bc = pool->wait_head;
        unlink_waiting(bc);
        disarm_timer(bc);
        begin_connect(bc); /* a new connection: the freed one may be another identity's */
    }
}

static void on_wait_timeout(uv_timer_t *t)
{
    cg_backend_conn *bc = t->data;
    if (!bc->waiting || bc->closing)
        return;
    unlink_waiting(bc);
    cg_backend_cb cb = bc->on_connect;
    bc->on_connect = NULL;
    if (bc->owner && cb)
        cb(bc, UV_EBUSY); /* the owner releases (closes) it */
}

static void on_write_done(uv_write_t *req, int status)
{
    cg_backend_conn *bc = req->data;
    bc->write_pending = false;
    cg_backend_cb cb = bc->on_write;
    bc->on_write = NULL;
    if (status == UV_ECANCELED || bc->closing)
        return;
    if (bc->owner && cb)
        cb(bc, status);
}

static int tls_write(cg_backend_conn *bc, const uv_buf_t *bufs, unsigned nbufs, cg_backend_cb on_write);

int cg_backend_write(cg_backend_conn *bc, const uv_buf_t *bufs, unsigned nbufs, cg_backend_cb on_write)
{
    if (bc->closing)
        return UV_EPIPE;
    if (bc->tls)
        return tls_write(bc, bufs, nbufs, on_write);
    uv_buf_t rest[8];
    unsigned nrest = 0;
    if (!bc->write_pending) {
        int n = uv_try_write((uv_stream_t *)&bc->tcp, bufs, nbufs);
        if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS)
            return n;
        size_t written = n > 0 ? (size_t)n : 0;
        for (unsigned i = 0; i < nbufs; i++) {
            if (written >= bufs[i].len) {
                written -= bufs[i].len;
                continue;
            }
            rest[nrest++] = uv_buf_init(bufs[i].base + written, (unsigned)(bufs[i].len - written));
            written = 0;
        }
        if (nrest == 0)
            return 0;
    } else {
        return UV_EBUSY; /* callers wait for on_write before writing again */
    }
    bc->write_req.data = bc;
    bc->on_write = on_write;
    int r = uv_write(&bc->write_req, (uv_stream_t *)&bc->tcp, rest, nrest, on_write_done);
    if (r < 0)
        return r;
    bc->write_pending = true;
    return 1;
}

static void dispatch_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static _Thread_local char scratch[64];
    cg_backend_conn *bc = h->data;
    if (bc->owner_alloc) {
        bc->owner_alloc(h, suggested, buf);
        return;
    }
    buf->base = scratch;
    buf->len = sizeof scratch;
}

static void dispatch_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cg_backend_conn *bc = s->data;
    if (bc->owner_read) {
        cg_worker *w = bc->w;
        w->in_read_cb = true; /* (as conn.c's on_read) */
        bc->owner_read(s, nread, buf);
        w->in_read_cb = false;
        return;
    }
    /* Idle: a backend has nothing to say between requests; data or EOF
     * means this connection is done (taken but not yet handed out: its
     * owner is told, on_hand_out). */
    if (nread != 0 && bc->reserved)
        bc->stale = true;
    else if (nread != 0)
        close_conn(bc);
}

static void tls_raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void tls_raw_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void tls_pump_later(cg_backend_conn *bc);

static void start_reading(cg_backend_conn *bc)
{
    if (bc->reading || bc->closing || !bc->connected)
        return;
    if (bc->tls) {
        tls_pump_later(bc); /* plaintext already received goes first */
        if (!bc->tls_read_error && uv_read_start((uv_stream_t *)&bc->tcp, tls_raw_alloc, tls_raw_read) == 0)
            bc->reading = true;
        return;
    }
    if (uv_read_start((uv_stream_t *)&bc->tcp, dispatch_alloc, dispatch_read) == 0)
        bc->reading = true;
}

void cg_backend_set_reader(cg_backend_conn *bc, uv_alloc_cb alloc, uv_read_cb read)
{
    bc->owner_alloc = alloc;
    bc->owner_read = read;
    if (!bc->paused)
        start_reading(bc);
}

void cg_backend_pause(cg_backend_conn *bc)
{
    bc->paused = true;
    if (bc->reading) {
        uv_read_stop((uv_stream_t *)&bc->tcp);
        bc->reading = false;
    }
}

void cg_backend_resume(cg_backend_conn *bc)
{
    bc->paused = false;
    start_reading(bc);
}

static void on_shutdown_done(uv_shutdown_t *req, int status)
{
    (void)status; /* a failure shows as a read error or EOF to the owner */
    free(req);
}

static bool tls_shutdown_write(cg_backend_conn *bc);

bool cg_backend_shutdown_write(cg_backend_conn *bc)
{
    if (bc->closing || !bc->connected)
        return false;
    if (bc->tls)
        return tls_shutdown_write(bc);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req)
        return false;
    if (uv_shutdown(req, (uv_stream_t *)&bc->tcp, on_shutdown_done) != 0) {
        free(req);
        return false;
    }
    return true;
}

static void on_idle_timeout(uv_timer_t *t) { close_conn(t->data); }

void cg_backend_release(cg_backend_conn *bc, bool reusable)
{
    cg_worker *w = bc->w;
    bc->owner = NULL;
    bc->on_connect = NULL;
    bc->on_write = NULL;
    bc->owner_alloc = NULL;
    bc->owner_read = NULL;
    if (bc->closing)
        return;
    if (bc->reserved) { /* given back before it was handed out */
        bc->reserved = false;
        uv_check_stop(&bc->hand_out);
        uv_idle_stop(&bc->hand_out_poll);
        bc->connected = !bc->stale;
    }
    if (!reusable || bc->stale || !bc->connected || bc->write_pending || bc->generation != w->pool_generation ||
        bc->backend >= w->npools || w->stopping) {
        close_conn(bc);
        return;
    }
    cg_backend_pool *pool = &w->pools[bc->backend];
    const cg_backend_cfg *b = &w->cfg->backends[bc->backend];
    if (pool->wait_head) {
        close_conn(bc); /* its slot goes to the oldest waiting request */
        return;
    }
    if (pool->nidle >= b->max_idle) {
        if (!pool->idle) {
            close_conn(bc); /* max_idle: 0 */
            return;
        }
        /* Full: evict the least recently used (of any identity), keep this
         * one; otherwise one client's connections could fill the pool and
         * every other client would connect anew for each request. */
        cg_backend_conn *lru = pool->idle;
        while (lru->next)
            lru = lru->next;
        close_conn(lru);
    }
    /* Most recently used first: it is the least likely to have been closed. */
    CG_LIST_PUSH(pool->idle, bc);
    pool->nidle++;
    publish_idle(w, bc->backend, pool->nidle);
    bc->idle = true;
    bc->rlen = 0;
    cg_spares_put(&w->spare_rbuf, bc->rbuf, bc->rcap); /* idle connections hold no buffers */
    bc->rbuf = NULL;
    bc->rcap = 0;
    bc->paused = false;
    start_reading(bc); /* already reading unless paused: then no syscall */
    arm_timer(bc, w->cfg->timeouts.backend_idle, on_idle_timeout);
}

void cg_backend_set_timer(cg_backend_conn *bc, uint64_t ms, uv_timer_cb cb)
{
    if (bc->closing)
        return;
    if (ms == 0) {
        disarm_timer(bc);
        return;
    }
    arm_timer(bc, ms, cb);
}

/* ---- https backends: TLS between the socket and the owner ----
 *
 * The socket's bytes go into the TLS client (tls_raw_read); the owner gets
 * plaintext through its own alloc/read callbacks as it would from the socket
 * (tls_pump), never while paused, so a paused owner stops the socket as for
 * http. The ciphertext to send sits in the TLS client's output until the
 * socket takes it: one uv_write at a time (tls_flush), and the owner's
 * on_write runs when all of it is written. */

static void tls_fail(cg_backend_conn *bc, const char *fallback)
{
    char why[768];
    cg_tls_client_failure f = fallback ? CG_TLS_CLIENT_HANDSHAKE : cg_tls_client_failure_of(bc->tls, why, sizeof why);
    if (fallback)
        cg_fmt_into(why, sizeof why, "%s", fallback);
    free(bc->tls_failure);
    bc->tls_failure = strdup(why);
    bc->tls_failure_kind = (int)f;
    const cg_backend_cfg *b = bc->backend < bc->tls_cfg->nbackends ? &bc->tls_cfg->backends[bc->backend] : NULL;
    char q[1000];
    cg_log(CG_LOG_WARN, "backend_tls_failed", "backend=%s code=%s detail=%s", b ? b->name : "-",
           cg_tls_client_failure_code(f), cg_log_quote(q, sizeof q, why, strlen(why)));
    finish_connect(bc, CG_BACKEND_ETLS); /* the owner releases (closes) it */
}

static void on_tls_written(uv_write_t *req, int status);

static void tls_flush(cg_backend_conn *bc)
{
    if (bc->closing || bc->tls_writing)
        return;
    if (cg_tls_client_out_len(bc->tls) > 0) {
        bc->tls_wbuf.len = 0;
        cg_tls_client_swap_out(bc->tls, &bc->tls_wbuf);
        uv_buf_t b = uv_buf_init(bc->tls_wbuf.data, (unsigned)bc->tls_wbuf.len);
        int n = uv_try_write((uv_stream_t *)&bc->tcp, &b, 1);
        if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) {
            bc->tls_read_error = bc->tls_read_error ? bc->tls_read_error : n;
            bc->tls_wbuf.len = 0;
            return;
        }
        size_t done = n > 0 ? (size_t)n : 0;
        if (done < bc->tls_wbuf.len) {
            b = uv_buf_init(bc->tls_wbuf.data + done, (unsigned)(bc->tls_wbuf.len - done));
            bc->write_req.data = bc;
            if (uv_write(&bc->write_req, (uv_stream_t *)&bc->tcp, &b, 1, on_tls_written) == 0) {
                bc->tls_writing = true;
                return;
            }
            bc->tls_read_error = bc->tls_read_error ? bc->tls_read_error : UV_EPIPE;
        }
        bc->tls_wbuf.len = 0;
    }
    if (bc->tls_shutdown_wanted) {
        bc->tls_shutdown_wanted = false;
        uv_shutdown_t *req = malloc(sizeof *req);
        if (req && uv_shutdown(req, (uv_stream_t *)&bc->tcp, on_shutdown_done) != 0)
            free(req);
    }
}

static void on_tls_written(uv_write_t *req, int status)
{
    cg_backend_conn *bc = req->data;
    bc->tls_writing = false;
    bc->tls_wbuf.len = 0;
    if (status == UV_ECANCELED || bc->closing)
        return;
    if (status == 0)
        tls_flush(bc);
    else if (!bc->tls_read_error)
        bc->tls_read_error = status; /* the connection is done: reads and writes end */
    if (bc->tls_writing)
        return; /* more ciphertext queued meanwhile */
    if (status == 0 && bc->tls_read_error && bc->tls_read_error != UV_EOF)
        status = bc->tls_read_error; /* the flush above failed */
    if (bc->write_pending) {
        bc->write_pending = false;
        cg_backend_cb cb = bc->on_write;
        bc->on_write = NULL;
        if (bc->owner && cb)
            cb(bc, status);
    }
}

static int tls_write(cg_backend_conn *bc, const uv_buf_t *bufs, unsigned nbufs, cg_backend_cb on_write)
{
    if (bc->write_pending)
        return UV_EBUSY; /* callers wait for on_write before writing again */
    if (!bc->connected)
        return UV_ENOTCONN;
    for (unsigned i = 0; i < nbufs; i++)
        if (bufs[i].len && cg_tls_client_write(bc->tls, (const unsigned char *)bufs[i].base, bufs[i].len) != CG_TLS_OK)
            return UV_EPROTO;
    tls_flush(bc);
    if (!bc->tls_writing)
        return bc->tls_read_error && bc->tls_read_error != UV_EOF ? bc->tls_read_error : 0;
    bc->on_write = on_write;
    bc->write_pending = true;
    return 1;
}

static bool tls_shutdown_write(cg_backend_conn *bc)
{
    cg_tls_client_close_notify(bc->tls);
    bc->tls_shutdown_wanted = true; /* the FIN after the close_notify */
    tls_flush(bc);
    return true;
}

/* Plaintext to the owner while it reads; an idle connection that receives
 * any ends (as for http). A TCP close without close_notify is UV_EPROTO. */
static void tls_pump(cg_backend_conn *bc)
{
    if (bc->tls_pumping || !bc->connected)
        return; /* the loop below goes on with what the owner changed */
    bc->tls_pumping = true;
    uv_stream_t *s = (uv_stream_t *)&bc->tcp;
    while (!bc->closing && !bc->paused && !bc->tls_done) {
        size_t got = 0;
        cg_tls_status st;
        if (!bc->owner_read) {
            unsigned char scratch[64];
            st = cg_tls_client_read(bc->tls, scratch, sizeof scratch, &got);
            if (st != CG_TLS_WANT_READ || bc->tls_read_error)
                close_conn(bc);
            break;
        }
        uv_buf_t buf = uv_buf_init(NULL, 0);
        bc->owner_alloc((uv_handle_t *)s, 65536, &buf);
        if (!buf.base || buf.len == 0) {
            bc->owner_read(s, UV_ENOBUFS, &buf);
            break;
        }
        st = cg_tls_client_read(bc->tls, (unsigned char *)buf.base, buf.len, &got);
        if (st == CG_TLS_OK) {
            bc->owner_read(s, (ssize_t)got, &buf);
            continue;
        }
        if (st == CG_TLS_WANT_READ && !bc->tls_read_error) {
            bc->owner_read(s, 0, &buf); /* nothing yet: the buffer goes back, as libuv does */
            break;
        }
        bc->tls_done = true;
        ssize_t end = UV_EOF;
        if (st == CG_TLS_ERROR) {
            char why[768];
            (void)cg_tls_client_failure_of(bc->tls, why, sizeof why);
            char q[1000];
            cg_log(CG_LOG_WARN, "backend_tls_error", "backend=%s detail=%s", bc->tls_cfg->backends[bc->backend].name,
                   cg_log_quote(q, sizeof q, why, strlen(why)));
            end = UV_EPROTO;
        } else if (st == CG_TLS_WANT_READ) {
            /* The socket ended without close_notify: what came may be cut short. */
            cg_log(CG_LOG_DEBUG, "backend_tls_truncated", "backend=%s detail=\"the connection closed without "
                   "close_notify\"", bc->tls_cfg->backends[bc->backend].name);
            end = bc->tls_read_error == UV_EOF ? UV_EPROTO : bc->tls_read_error;
        }
        bc->owner_read(s, end, &buf);
    }
    if (!bc->closing)
        tls_flush(bc); /* reading may answer (alerts, key updates) */
    bc->tls_pumping = false;
}

static void on_tls_idle(uv_idle_t *h)
{
    cg_backend_conn *bc = h->data;
    uv_idle_stop(h);
    if (!bc->closing && !bc->paused)
        tls_pump(bc);
}

/* On the next loop turn: never inside the owner's call that asked. */
static void tls_pump_later(cg_backend_conn *bc)
{
    if (!bc->closing && (cg_tls_client_in_pending(bc->tls) || bc->tls_read_error) && !bc->tls_done)
        uv_idle_start(&bc->tls_idle, on_tls_idle);
}

static void tls_handshake_step(cg_backend_conn *bc)
{
    cg_tls_status st = cg_tls_client_handshake(bc->tls);
    tls_flush(bc);
    if (bc->closing)
        return;
    if (st == CG_TLS_OK) {
        const cg_backend_cfg *b = &bc->tls_cfg->backends[bc->backend];
        cg_log(CG_LOG_DEBUG, "backend_tls_connected", "backend=%s version=%s cipher=%s resumed=%s", b->name,
               cg_tls_client_version(bc->tls), cg_tls_client_cipher(bc->tls),
               cg_tls_client_resumed(bc->tls) ? "true" : "false");
        finish_connect(bc, 0);
        return;
    }
    if (st == CG_TLS_WANT_READ) {
        if (bc->tls_read_error)
            tls_fail(bc, bc->tls_read_error == UV_EOF
                             ? "the backend closed the connection during the TLS handshake (is it an https port? "
                               "does it accept TLS 1.2 or 1.3 with an ECDHE AEAD suite?)"
                             : "the connection failed during the TLS handshake");
        return;
    }
    tls_fail(bc, st == CG_TLS_CLOSED ? "the backend sent close_notify during the TLS handshake" : NULL);
}

static void tls_raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cg_backend_conn *bc = h->data;
    size_t n = 0;
    unsigned char *p = cg_tls_client_in_space(bc->tls, &n);
    (void)suggested;
    *buf = uv_buf_init((char *)p, p ? (unsigned)n : 0);
}

static void tls_raw_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cg_backend_conn *bc = s->data;
    (void)buf;
    if (nread == 0 || bc->closing)
        return;
    if (nread > 0) {
        cg_tls_client_in_commit(bc->tls, (size_t)nread);
    } else {
        bc->tls_read_error = (int)nread;
        uv_read_stop(s);
        bc->reading = false;
    }
    if (!bc->connected)
        tls_handshake_step(bc);
    else
        tls_pump(bc);
}

static void tls_start(cg_backend_conn *bc)
{
    if (uv_read_start((uv_stream_t *)&bc->tcp, tls_raw_alloc, tls_raw_read) != 0) {
        tls_fail(bc, "the connection's socket could not be read");
        return;
    }
    bc->reading = true;
    tls_handshake_step(bc); /* the ClientHello */
}

static bool tls_refusal(const cg_backend_conn *bc, const cg_backend_cfg *b, cg_refusal *out)
{
    if (!bc->tls || !bc->tls_failure)
        return false;
    cg_refusal_kind k = bc->tls_failure_kind == CG_TLS_CLIENT_UNTRUSTED     ? CG_REFUSE_BACKEND_TLS_UNTRUSTED
                        : bc->tls_failure_kind == CG_TLS_CLIENT_NAME_MISMATCH ? CG_REFUSE_BACKEND_TLS_NAME
                                                                              : CG_REFUSE_BACKEND_TLS_HANDSHAKE;
    cg_refuse(out, k, "TLS with backend \"%s\" (%s) failed: %s", b->name, b->url, bc->tls_failure);
    return true;
}

void cg_backend_connect_refusal(const cg_backend_conn *bc, int status, const cg_config *cfg, cg_refusal *out)
{
    const cg_backend_cfg *b = &cfg->backends[bc->backend];
    if (status == CG_BACKEND_ETLS && tls_refusal(bc, b, out))
        return;
    if (status == UV_EBUSY)
        cg_refuse(out, CG_REFUSE_OVERLOADED,
                  "Every connection this worker may open to backend \"%s\" (its share of "
                  "backends[].max_connections: %u, split across %u worker(s)) stayed busy for %u ms "
                  "(timeouts.backend_connect). Raise max_connections if the backend accepts more connections, "
                  "or find out why its requests are slow.",
                  b->name, (unsigned)b->max_connections, (unsigned)cfg->workers,
                  (unsigned)cfg->timeouts.backend_connect);
    else
        cg_refuse(out, CG_REFUSE_BACKEND_UNREACHABLE,
                  "Could not connect to backend \"%s\" at %s: %s. Check that the backend is running and that "
                  "backends[].url is right.",
                  b->name, b->url, cg_backend_strerror(status));
}
