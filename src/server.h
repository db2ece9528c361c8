/* The process: listeners, worker threads (one event loop each), signals,
 * configuration reload and graceful shutdown.
 *
 * Each worker owns its loop, its listening sockets (SO_REUSEPORT when there
 * are several workers), its connections and its backend connection pools.
 * Workers share only immutable configuration snapshots and a few atomics.
 */
#ifndef CG_SERVER_H
#define CG_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "spares.h"
#include "stats.h"

struct cg_conn;
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

typedef struct cg_worker {
    unsigned id;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wakeup;               /* main -> worker: new config, stop */
    uv_timer_t shutdown_timer;       /* graceful-shutdown deadline */
    uv_timer_t heartbeat_timer;      /* systemd watchdog: proves this loop turns */
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

    struct cg_backend_pool *pools;   /* one per cfg->backends[i] */
    size_t npools;
    uint64_t pool_generation;        /* bumped when pools are rebuilt */
    uv_prepare_t flush_prepare;      /* flushes coalesced output before polling */

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
    uint64_t overload_log_ms;        /* last connection_refused line for limits.max_connections */
    uint64_t overload_refused;       /* closed at once since that line */

    cg_services *services;
    struct cg_crl_fetcher *crl;      /* this loop's CRL transfers */
    cg_worker_stats stats;           /* this loop's counters, read by metrics.c (stats.h) */
} cg_worker;

/* Connections open in the whole process (for limits.max_connections). */
extern atomic_uint cg_open_connections;

/* Runs the server until SIGTERM/SIGINT. Returns the process exit status. */
int cg_server_run(const char *config_path);

typedef struct cg_run_options {
    /* `certgate run --takeover`: a live certgate in process.pid_file is not
     * a refusal but the predecessor: this process binds beside it
     * (SO_REUSEPORT) or serves the sockets passed to both, and once it is
     * ready tells the predecessor to stop (SIGTERM: it drains). */
    bool takeover;
} cg_run_options;
int cg_server_run_with(const char *config_path, const cg_run_options *opt);

/* A request id unique in this process's lifetime: "<boot>-<worker>-<seq>". */
void cg_server_request_id(cg_worker *w, char *out, size_t cap);

#endif
