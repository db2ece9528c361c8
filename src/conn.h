/* A client connection: TCP + TLS on a worker's loop, the verdict on its
 * client certificate, its timers, and the plaintext it has received. The
 * HTTP exchange on it lives in http_proxy.c.
 */
#ifndef CG_CONN_H
#define CG_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>
#include <uv.h>

#include "admission.h"
#include "config.h"
#include "error.h"
#include "http_proxy.h"
#include "server.h"
#include "tls.h"

/* Client output queued beyond these marks pauses / resumes the producer. */
#define CG_OUT_HIGH_WATER (256u * 1024)
#define CG_OUT_LOW_WATER (64u * 1024)

typedef struct cg_conn {
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

    /* The client certificate, judged once after the handshake. */
    bool cert_present, cert_ok;
    cg_refusal cert_refusal;
    char *subject;                 /* RFC 4514 text (dn.h), exactly allocated; NULL without a certificate */
    char serial[80], fingerprint[65];
    char identity[CG_IDENTITY_MAX]; /* backend pooling key: "cert:<sha256>", "user:<principal>"
                                       or "anonymous" (backend.h) */

    /* The verified chain (leaf first, anchor last), borrowed from the TLS
     * session and the configuration snapshot the connection holds; kept to
     * re-check revocation when a CRL changes. A resumed session has the leaf only. */
    const mbedtls_x509_crt *chain[CG_VERIFY_MAX_DEPTH];
    int chain_len;
    struct cg_crl_check *crl_check;  /* revocation check in flight */
    uint64_t crl_generation;         /* store generation the verdict is based on */
    bool verdict_pending;
    bool checking;                   /* inside cg_crl_check_chain: an answer given at
                                        once is the caller's to act on */

    /* Mapping: decided at the connection's first request, then kept (a
     * mapping reload does not change the user of an open connection). */
    bool mapped;
    char principal[256];
    char map_rule[128];

    struct cg_deleg_req *deleg;      /* Kerberos token request in flight */

    /* Identity headers for the backend, rendered once at the first request. */
    char *fwd_block;
    size_t fwd_block_len;
    bool fwd_block_ready;

    unsigned char *held;           /* ciphertext received but not yet fed to TLS */
    size_t held_len;

    char *pbuf;                    /* plaintext: [ppos, plen) not yet processed */
    size_t ppos, plen, pcap;

    size_t out_queued;             /* ciphertext accepted but not yet written */
    uint64_t plain_sent;           /* plaintext handed to TLS so far (staged bytes not counted) */
    unsigned requests;

    int handles;                   /* open libuv handles; freed at zero */
    bool handshaking, reading, read_stopped, eof;
    bool closing, lingering, draining, overloaded;

    cg_exchange ex;
} cg_conn;

/* Accepts a pending connection on listener index li. */
void cg_conn_accept(cg_worker *w, uv_stream_t *server, size_t li);

/* Reads more plaintext into pbuf. Returns CG_TLS_OK if bytes were added,
 * CG_TLS_WANT_READ if it must wait for the socket, or CLOSED / ERROR. */
cg_tls_status cg_conn_read_plaintext(cg_conn *c);
/* Makes room in pbuf: drops processed bytes (never those in [keep, plen)). */
void cg_conn_compact(cg_conn *c);

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

/* Graceful shutdown of the worker: closes c now if idle, else after its exchange. */
void cg_conn_drain(cg_conn *c);

/* (Re)checks the client chain's revocation status; the verdict lands in
 * cert_ok / cert_refusal. Returns true if it is known now, false if pending
 * (then cg_proxy_admit() runs when it arrives). */
bool cg_conn_check_revocation(cg_conn *c);

#endif
