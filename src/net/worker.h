/* A worker: one thread running one libuv loop with its own listening
 * sockets (SO_REUSEPORT, or its own descriptor of a passed socket), its
 * connections, its buffers and request ids. Workers share only immutable
 * configuration snapshots, the process-wide services and a few atomics.
 *
 * The main thread (server.c) starts them and talks to them through two
 * fields: next_cfg (a new snapshot) and stop_requested, each followed by
 * uv_async_send(&wakeup). What runs above a worker (the handler of its
 * connections, the upper layers' per-worker parts such as backend pools and
 * CRL transfers) is handed to it at init (cg_worker_layers): the worker calls
 * them and includes none of their headers.
 */
#ifndef CG_WORKER_H
#define CG_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "base/base.h"

struct cg_conn;
struct cg_conn_handler;
struct cg_backend_pool;
struct cg_crl_store;
struct cg_crl_fetcher;
struct cg_kerberos;

/* Process-wide services shared by every worker (each is thread-safe). */
typedef struct cg_services {
    struct cg_crl_store *crl;       /* revocation cache */
    struct cg_kerberos *kerberos;   /* NULL when no backend delegates */
    struct cg_admission *admission; /* per-address connection counts (admission.h) */
    struct cg_ratelimit *ratelimit; /* per-client request rate buckets (ratelimit.h) */
} cg_services;

/* Connections open in the whole process (for limits.max_connections). */
extern atomic_uint cg_open_connections;

typedef struct cg_worker cg_worker;

/* What the process (server.c) puts above each worker. */
typedef struct cg_worker_layers {
    /* The handler of every listener's connections (HTTP/1.1 today; conn.h). */
    const struct cg_conn_handler *handler;
    /* The handler of connections whose handshake agreed on ALPN "h2"
     * (listeners[].http2): it takes over from handler when the handshake
     * is done, before on_ready. NULL: HTTP/2 is not offered. */
    const struct cg_conn_handler *h2_handler;
    /* The upper layers' per-worker parts: started once the loop exists,
     * before listening (false: err says why); told that w->cfg was
     * replaced; stopped (handles closed) when the worker finishes. stop also
     * runs after a start that failed part way. */
    bool (*start)(cg_worker *w, char *err, size_t errcap);
    void (*reconfigure)(cg_worker *w);
    void (*stop)(cg_worker *w);
} cg_worker_layers;

struct cg_worker {
    unsigned id;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wakeup;               /* main -> worker: new config, stop */
    uv_timer_t shutdown_timer;       /* graceful-shutdown deadline */
    uv_timer_t heartbeat_timer;      /* systemd watchdog: proves this loop turns */
    uv_timer_t quiet_timer;          /* gives quiet connections' record buffers back (conn.c) */
    _Atomic uint64_t heartbeat_ms;   /* uv_hrtime() in ms at its last tick, read by the main thread */
    uint64_t heartbeat_every_ms;     /* 0: no watchdog */

    cg_config *cfg;                  /* snapshot for new requests (worker's reference) */
    _Atomic(cg_config *) next_cfg;   /* handed over by the main thread */
    atomic_bool stop_requested;
    bool stopping;

    uv_tcp_t *listeners;             /* one per cfg->listeners[i] */
    int *listen_fds;
    size_t nlisteners;
    uv_check_t listen_drain;         /* stopping: closes each listener once its accept queue is empty */
    uint64_t stop_began_ms;

    struct cg_conn *conns;           /* intrusive list of open client connections */
    size_t nconns;

    const cg_worker_layers *layers;

    /* The upper layers' per-worker parts (cg_worker_layers), opaque here. */
    struct cg_backend_pool *pools;   /* one per cfg->backends[i] (backend.h) */
    size_t npools;
    uint64_t pool_generation;        /* bumped when pools are rebuilt */
    struct cg_crl_fetcher *crl;      /* this loop's CRL transfers (crl_fetch.h) */
    struct cg_ocsp_client *ocsp;     /* this loop's OCSP queries, on crl's transfers (ocsp_fetch.h) */

    uv_prepare_t flush_prepare;      /* flushes coalesced output before polling */
    bool in_read_cb;                 /* in a read callback, so in the loop's poll phase (backend.c) */

    unsigned char *readbuf;          /* ciphertext reads land here, consumed at once */
    size_t readbuf_cap;
    unsigned char *stage;            /* plaintext coalesced into TLS records */
    size_t stage_len, stage_cap;
    struct cg_conn *stage_owner;
    unsigned char *wire;             /* ciphertext of a handshake flight, sent in one write */
    size_t wire_len, wire_cap;
    struct cg_conn *wire_owner;
    /* Request buffers of idle connections, for the next requests (spares.h). */
    cg_spares spare_pbuf, spare_hdrs, spare_head, spare_rbuf;

    uint64_t request_seq;
    char rid_text[48];               /* the last request id (cg_worker_request_id) */
    size_t rid_len;                  /* its length; 0: none yet */
    uint64_t rid_seq;                /* the sequence number it holds */
    uint64_t overload_log_ms;        /* last connection_refused line for limits.max_connections */
    uint64_t overload_refused;       /* closed at once since that line */

    cg_services *services;
    cg_worker_stats stats;           /* this loop's counters, read by metrics.c (stats.h) */
};

/* Sets up w (loop, handles, buffers, then the layers' parts) and listens on
 * fds[0..cfg->nlisteners), which it then owns. false: err says why; free w
 * with cg_worker_close_unstarted() and cg_worker_free(). */
bool cg_worker_init(cg_worker *w, unsigned id, cg_config *cfg, cg_services *services,
                    const cg_worker_layers *layers, int *fds, char *err, size_t errcap);

/* Once per process, before any request id: picks the boot part of the ids. */
void cg_worker_seed_request_ids(void);
/* A request id unique in this process's lifetime: "<boot>-<worker>-<seq>"
 * (boot: 8 hex digits, worker and seq in decimal, seq counting from 1 per
 * worker), at most 47 bytes, NUL-terminated in out (cut to cap like
 * snprintf). Returns its length. */
size_t cg_worker_request_id(cg_worker *w, char *out, size_t cap);

/* The thread's body (uv_thread_create): runs the loop until the worker has
 * stopped and every connection is closed. */
void cg_worker_main(void *arg);

/* Proves to the watchdog (heartbeat_ms) that the loop turns, every every_ms. */
void cg_worker_start_heartbeat(cg_worker *w, uint64_t every_ms);

/* A worker whose thread never started: closes its handles so that its loop
 * can be freed. */
void cg_worker_close_unstarted(cg_worker *w);

/* After the thread ended (or never started). */
void cg_worker_free(cg_worker *w);

#endif
