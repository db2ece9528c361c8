/* A client connection: socket <-> TLS <-> plaintext on a worker's loop,
 * with its timers, buffers, output queue, lingering close, the client's
 * address (PROXY protocol included) and its admission counts. Who the client
 * is and what it asks for belong to the handler above it (cg_conn_handler;
 * the HTTP/1.1 one is http_proxy.h).
 */
#ifndef CG_CONN_H
#define CG_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>
#include <uv.h>

#include "admission.h"
#include "config/config.h"
#include "tls.h"
#include "worker.h"

/* Client output queued beyond these marks pauses / resumes the producer. */
#define CG_OUT_HIGH_WATER (256u * 1024)
#define CG_OUT_LOW_WATER (64u * 1024)

typedef struct cg_conn cg_conn;

/* What runs above a connection (the HTTP/1.1 exchange today; an HTTP/2 or
 * WebSocket handler later), installed at accept (cg_worker_layers). The
 * connection calls it only through this table and knows nothing else of it.
 * Its state lives in c->data: data_size bytes, zeroed, allocated with the
 * connection and freed with it (so a handler's stack may still read it after
 * asking for a close). */
typedef struct cg_conn_handler {
    size_t data_size;
    void (*on_ready)(cg_conn *c);      /* the TLS handshake is done: the client may be judged */
    void (*on_input)(cg_conn *c);      /* plaintext may be available, or the client ended (c->eof) */
    void (*on_drain)(cg_conn *c);      /* queued output fell below CG_OUT_LOW_WATER */
    /* Closing: when a graceful close begins, and when the connection closes
     * (then c->closing is true). Nothing may call into the connection
     * afterwards (cancel timers of its own, requests in flight). Also runs
     * for a connection whose handshake never completed (on_ready not run). */
    void (*on_close)(cg_conn *c);
    /* Graceful shutdown (cg_conn_drain): nothing in progress, close now. */
    bool (*is_idle)(const cg_conn *c);
    /* Optional: graceful shutdown began on a connection that is not idle:
     * tell the client to open nothing new (HTTP/2 GOAWAY); what is in
     * progress finishes, then the handler closes (c->draining). */
    void (*on_draining)(cg_conn *c);
} cg_conn_handler;

struct cg_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    cg_worker *w;
    struct cg_conn *next, *prev;   /* w->conns */
    cg_config *tls_cfg;            /* snapshot whose TLS settings the connection uses */
    size_t listener;               /* index into cfg->listeners */
    cg_tls_conn tls;
    bool tls_ready;

    uint64_t accepted_ns;          /* uv_hrtime() at accept: handshake latency (stats.h) */
    cg_admission_key admit_key;    /* counted under this address (family 0: not counted) */
    bool admit_handshaking;        /* counted as handshaking */

    /* The client's address: the one field everything keyed by client reads
     * (logs, X-Forwarded-For, admission, errors.operator_networks, rate
     * limits). The socket's peer, or the client a trusted balancer named in
     * a PROXY protocol header (then set before any of those use it). */
    char peer_ip[INET6_ADDRSTRLEN];
    char peer[INET6_ADDRSTRLEN + 8]; /* "ip:port" */
    char via[INET6_ADDRSTRLEN + 8];  /* the balancer's "ip:port" when a PROXY header named the client, else "" */
    struct cg_pp_reader *pp;         /* PROXY header being read (proxy_protocol.h); NULL once read */

    unsigned char *held;           /* ciphertext received but not yet fed to TLS */
    size_t held_len;

    char *pbuf;                    /* plaintext: [ppos, plen) not yet processed */
    size_t ppos, plen, pcap;

    size_t out_queued;             /* ciphertext accepted but not yet written */
    uint64_t plain_sent;           /* plaintext handed to TLS so far (staged bytes not counted) */

    int handles;                   /* open libuv handles; freed at zero */
    bool handshaking, reading, read_stopped, eof;
    bool closing, lingering, draining;
    bool overloaded;               /* over limits.max_connections: the handler refuses it (503) */
    bool gathering;                /* closing: TLS output gathered into one write (conn.c) */
    uint8_t quiet;                 /* between requests, its record buffers given back in time (conn.c) */
    bool trimmed;                  /* ... which happened at least once (its buffers' pages go back at close) */
    bool timer_lazy;               /* timer runs the handler's (cg_conn_set_timer), kept lazily */
    uv_timer_cb timer_cb;          /* the handler's timer callback, NULL: stopped */
    uint64_t timer_due;            /* ... and when it is due (uv_now) */
    uint64_t timer_fires;          /* lazily: when the libuv timer fires (uv_now); 0: not active */

    const cg_conn_handler *handler;
    void *data;                    /* the handler's state (handler->data_size bytes) */
    void *switched;                /* the state of the handler switched to, if any (own block) */
};

/* Accepts a pending connection on listener index li, for handler. */
void cg_conn_accept(cg_worker *w, uv_stream_t *server, size_t li, const cg_conn_handler *handler);

/* Hands c to another handler, once in its life (a protocol upgrade: the
 * HTTP/1.1 handler switches to a tunnel): from now on only `to` is called
 * (never its on_ready: the handshake is long done). Returns its state,
 * to->data_size bytes zeroed, freed with the connection; NULL when out of
 * memory or already switched (c is unchanged). The previous handler's state
 * stays in place, untouched and no longer called, until the connection is
 * freed: the new handler may keep borrowing from it (the client). */
void *cg_conn_switch_handler(cg_conn *c, const cg_conn_handler *to);

/* Reads more plaintext into pbuf. Returns CG_TLS_OK if bytes were added,
 * CG_TLS_WANT_READ if it must wait for the socket, or CLOSED / ERROR. */
cg_tls_status cg_conn_read_plaintext(cg_conn *c);
/* Makes room in pbuf: drops processed bytes. */
void cg_conn_compact(cg_conn *c);
/* Between requests: an empty pbuf goes back to the worker (an idle
 * connection holds no plaintext buffer; the next read takes one), and once
 * the connection has stayed quiet for a while (a quarter to half a second)
 * its TLS record buffers go back (tls_trim.h). */
void cg_conn_release_input(cg_conn *c);

/* Queues plaintext for the client; coalesced into TLS records, sent at
 * cg_conn_flush() or when a record fills up. Returns false if broken. */
bool cg_conn_write(cg_conn *c, const void *p, size_t n);
bool cg_conn_flush(cg_conn *c);
/* Drops what cg_conn_write() staged for c and no flush has sent yet (a
 * response head to be replaced by an error page). */
void cg_conn_unstage(cg_conn *c);

/* (Re)arms the connection timer; 0 stops it. */
void cg_conn_set_timer(cg_conn *c, uint64_t ms, uv_timer_cb cb);

/* Closes: graceful = flush, close_notify, FIN, then drain the client's
 * remaining bytes for a moment so it can read the response (lingering
 * close); otherwise at once. Idempotent. */
void cg_conn_close(cg_conn *c, bool graceful);

/* Graceful shutdown of the worker: closes c now if its handler is idle;
 * else the handler closes it when its work is done (c->draining). */
void cg_conn_drain(cg_conn *c);

#endif
