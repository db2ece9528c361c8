/* Backend connections, pooled per worker and per backend.
 *
 * A pooled connection carries the identity of the client it was first used
 * for ("cert:<sha256>", "user:<principal>" or "anonymous") and is only ever
 * handed out again for that very identity, compared whole: a backend that
 * authenticates per connection never sees one user's connection reused for
 * another. An idle connection that receives anything (data or EOF) is
 * closed, never handed out.
 *
 * Each pool holds at most its share of backends[].max_connections open
 * connections (connecting, busy and idle; the workers split the process-wide
 * number). A new connection at that cap first closes the least recently used
 * idle connection of any identity (closing is always safe: connections are
 * never shared); when none is idle, the request waits, first come first
 * served, for at most timeouts.backend_connect, then gets UV_EBUSY.
 *
 * An https backend's connection runs TLS (net's tls_client.h) under the same
 * API: on_connect is reported once the handshake verified the backend (or
 * with CG_BACKEND_ETLS: cg_backend_connect_refusal says why); writes are
 * encrypted and their on_write waits until the ciphertext reached the
 * socket; the owner's reader gets plaintext, read from the socket only while
 * the owner is not paused; EOF means the backend's close_notify (a bare TCP
 * close is reported as UV_EPROTO: the body may have been cut).
 */
#ifndef CG_BACKEND_H
#define CG_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/base.h"
#include "net/net.h"

/* Room for the longest identity: "user:" + a principal of up to 255 bytes
 * (cg_map_result.principal), NUL included. The client connection and the
 * pool hold identities in arrays of this size; an identity that does not fit
 * is refused (cg_identity_format), never truncated: two identities that
 * share a prefix must never share a connection. */
#define CG_IDENTITY_MAX 300

/* Writes "<kind>:<value>" into out (CG_IDENTITY_MAX bytes). False, with out
 * emptied, when it does not fit. */
bool cg_identity_format(char *out, const char *kind, const char *value);

/* on_connect's status when the TLS handshake with an https backend failed. */
#define CG_BACKEND_ETLS (-20001)
/* on_connect's status when the idle connection taken for the request turned
 * out to have unread bytes or an EOF waiting: release it and acquire again. */
#define CG_BACKEND_ESTALE (-20002)

typedef struct cg_backend_conn cg_backend_conn;
typedef void (*cg_backend_cb)(cg_backend_conn *bc, int status);

struct cg_backend_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;              /* the connect, wait, idle or response timeout: arm_timer() */
    uv_timer_cb timer_cb;          /* what runs at timer_due (loop time, ms); NULL: nothing */
    uint64_t timer_due;
    uint64_t timer_fires;          /* loop time the libuv timer fires at; 0: not active */
    uv_connect_t connect_req;
    uv_getaddrinfo_t gai_req;
    uv_write_t write_req;
    cg_worker *w;
    size_t backend;                /* index into the configuration's backends */
    cg_backend_conn *next, *prev;  /* idle list */
    char identity[CG_IDENTITY_MAX];
    uint64_t generation;           /* w->pool_generation when created */
    bool counted;                  /* holds one of the pool's max_connections */
    bool waiting;                  /* queued for a free slot (next/prev: wait list) */
    unsigned served;               /* requests completed on it */
    int handles;                   /* open libuv handles */
    int connect_error;             /* reported on the next loop turn */
    bool authenticated;            /* a Negotiate token was accepted on it (connection-bound auth) */
    bool reading;                  /* uv_read_start is in effect */
    bool paused;                   /* the owner asked to stop reading (backpressure) */
    bool reserved;                 /* taken from the idle pool, handed out after the loop's next poll */
    bool stale;                    /* bytes or EOF arrived while reserved: never handed out */
    uv_check_t hand_out;           /* plain connections: hands a reserved one out after the poll */
    uv_idle_t hand_out_poll;       /* keeps that poll from blocking while one is reserved */
    bool hand_out_polling;         /* ... started (not when reserved in a read callback: w->in_read_cb) */
    uv_alloc_cb owner_alloc;       /* the owner's reader; NULL while idle */
    uv_read_cb owner_read;
    bool connected, idle, closing, write_pending;
    void *owner;                   /* the exchange using it */
    cg_backend_cb on_connect;
    cg_backend_cb on_write;
    char *rbuf;                    /* response bytes */
    size_t rlen, rcap;

    /* https backends: the TLS client over the socket (NULL for http). */
    cg_tls_client_conn *tls;
    cg_config *tls_cfg;            /* holds the snapshot whose TLS client the connection uses */
    uv_idle_t tls_idle;            /* delivers buffered plaintext on the next loop turn */
    cg_buf tls_wbuf;               /* ciphertext in the socket's write queue */
    char *tls_failure;             /* the operator sentence of a failed handshake */
    int tls_failure_kind;          /* cg_tls_client_failure */
    int tls_read_error;            /* the socket's end (UV_EOF) or error; 0 before */
    bool tls_writing, tls_pumping, tls_done, tls_shutdown_wanted;
};

typedef struct cg_backend_pool {
    cg_backend_conn *idle;         /* most recently used first */
    size_t nidle;
    size_t nopen;                  /* connections counted against cap */
    size_t cap;                    /* this worker's share of max_connections */
    cg_backend_conn *wait_head, *wait_tail; /* requests waiting for a slot, oldest first */
    size_t nwaiting;
} cg_backend_pool;

/* (Re)builds the worker's pools for w->cfg; idle connections of the old
 * configuration are closed, busy ones are closed when released. */
void cg_backend_pools_reset(cg_worker *w);
/* Closes every idle connection and frees the pools (shutdown). */
void cg_backend_pools_free(cg_worker *w);

/* An idle connection for identity (returned with connected = true, and
 * on_connect is not called), or a new one being connected (always new when
 * fresh): on_connect runs with 0 or a libuv error (timeout: UV_ETIMEDOUT;
 * no slot under max_connections freed within timeouts.backend_connect:
 * UV_EBUSY; the pools were rebuilt while it waited: UV_ECANCELED).
 * An idle connection with unread bytes or an EOF waiting in its socket is
 * never handed out. A plain (http) idle connection is handed
 * out like a new one, through on_connect right after the loop's next poll
 * (never blocking), once the loop has reported what its socket holds:
 * status 0, or CG_BACKEND_ESTALE
 * when it turned out to hold bytes or an EOF (the owner releases it and
 * acquires again). An https one is returned connected (it is looked at
 * now). NULL on out-of-memory, or when identity is empty or longer than
 * CG_IDENTITY_MAX - 1 bytes. */
cg_backend_conn *cg_backend_acquire(cg_worker *w, size_t backend, const char *identity, bool fresh,
                                    void *owner, cg_backend_cb on_connect);

/* This worker's share of backends[backend].max_connections: the workers
 * split the number, each holding at least one. */
size_t cg_backend_worker_cap(const cg_worker *w, size_t backend);

/* A readable reason for a libuv error from this module ("connection refused",
 * "timed out after 5000 ms (timeouts.backend_connect)"). */
const char *cg_backend_strerror(int status);

/* Whether cg_backend_acquire(w, backend, identity, false, ...) would now
 * return an idle connection that is already authenticated. */
bool cg_backend_idle_authenticated(cg_worker *w, size_t backend, const char *identity);

/* Writes bufs: returns 0 if all was written at once, 1 if the rest was
 * queued (the buffers must stay valid until on_write runs), or a negative
 * libuv error. One queued write at a time. */
int cg_backend_write(cg_backend_conn *bc, const uv_buf_t *bufs, unsigned nbufs, cg_backend_cb on_write);

/* A response on bc is complete: counted, and a connection whose request
 * carried a Negotiate token (sent_token) that the backend did not refuse
 * (status not 401) is authenticated from now on (connection-bound auth). */
void cg_backend_answered(cg_backend_conn *bc, bool sent_token, int status);

/* Hands the connection back: to the idle pool when reusable (and the pool
 * is not full, no request waits for a slot and the configuration is
 * unchanged), closed otherwise. */
void cg_backend_release(cg_backend_conn *bc, bool reusable);

/* The owner's reader. A connection reads continuously from connect to close
 * (no epoll changes per request); data goes to the owner's callbacks, or,
 * while idle, ends the connection. */
void cg_backend_set_reader(cg_backend_conn *bc, uv_alloc_cb alloc, uv_read_cb read);
/* Backpressure: stop / restart reading for the owner. */
void cg_backend_pause(cg_backend_conn *bc);
void cg_backend_resume(cg_backend_conn *bc);

/* Half-closes: FIN to the backend after what is queued, reading goes on (a
 * tunnel whose client ended its side). False if it could not be asked; such a
 * connection must not be released as reusable. */
bool cg_backend_shutdown_write(cg_backend_conn *bc);

/* The refusal for an on_connect that reported status < 0, in the operator's
 * words, naming the backend of cfg (the snapshot the request runs on):
 * CG_BACKEND_ETLS -> backend_tls_untrusted / backend_tls_name_mismatch /
 * backend_tls_handshake; UV_EBUSY -> overloaded (max_connections); else
 * backend_unreachable. Call before cg_backend_release. */
void cg_backend_connect_refusal(const cg_backend_conn *bc, int status, const cg_config *cfg, cg_refusal *out);

/* Arms the connection's timer (response timeout); 0 stops it. */
void cg_backend_set_timer(cg_backend_conn *bc, uint64_t ms, uv_timer_cb cb);

#endif
