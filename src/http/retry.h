/* When a request may be sent to a backend a second time.
 *
 * A pooled backend connection can die under a request: the backend closed
 * it (its keep-alive timeout) while the request was on its way. Nothing says
 * whether the backend read and executed the request before closing, so the
 * request is sent again on a new connection only when doing it twice is
 * harmless: no body, not retried already, nothing of a response received,
 * and a method that is safe (RFC 9110 9.2.1: GET, HEAD, OPTIONS, TRACE).
 *
 * That is stricter than RFC 9110 9.2.2, which also lets PUT and DELETE be
 * retried automatically, and than nginx (proxy_next_upstream retries PUT and
 * DELETE; only POST, LOCK and PATCH need "non_idempotent"): the backends
 * behind certgate are applications, whose DELETE or PUT handlers are often
 * not idempotent, and a repeated DELETE that worked the first time answers
 * 404 to a client whose request succeeded. Such a request gets a 502 that
 * says it was not retried; the client, which knows what it asked, decides.
 *
 * The other retry, after a backend 401 (Kerberos ticket refused or asked
 * for), is not this one: the backend answered, so it refused the request
 * rather than executing it, and any method is sent again, with its body when
 * a copy of it was kept (cg_retry_keep_body). HTTP/1.1 exchanges
 * (http_proxy.c) and HTTP/2 streams (h2_backend.c) both decide here.
 */
#ifndef CG_RETRY_H
#define CG_RETRY_H

#include <stdbool.h>

#include "base/base.h"
#include "http1.h"

typedef enum {
    CG_RETRY_NO,          /* not a lost pooled connection, or retried already: fail */
    CG_RETRY_AGAIN,       /* send it again on a new connection */
    CG_RETRY_NOT_SAFE,    /* would qualify, but the method is not safe: 502, say so */
} cg_retry_verdict;

/* What is known about the request when its backend connection failed. */
typedef struct cg_retry_facts {
    cg_slice method;        /* as sent (methods are case-sensitive) */
    bool has_body;          /* Content-Length or chunked body */
    bool request_sent;      /* the whole request was handed to the connection */
    bool reused;            /* the connection had served requests before */
    bool response_started;  /* any byte of a response arrived */
    bool retried;           /* this request was already sent again once */
} cg_retry_facts;

cg_retry_verdict cg_retry_after_lost_connection(const cg_retry_facts *f);

/* What is known about a delegating request when its backend answered 401. */
typedef struct cg_retry_401_facts {
    bool delegates;          /* it goes as the mapped user (cg_admit_delegates) */
    bool retried;            /* this request was already sent again once */
    bool replayable;         /* no body, or all of it kept (cg_retry_keep_body) */
    bool request_sent;       /* the whole request reached the backend */
    bool sent_token;         /* it carried our Negotiate token */
    const cg_http_response *res; /* the 401 */
} cg_retry_401_facts;

/* Whether to ask for a token again and send the request once more: our
 * ticket was refused (sent_token), or the backend asks for Negotiate
 * credentials we did not send (a connection-bound backend that forgot the
 * connection, send_on_401_only). */
bool cg_retry_after_401(const cg_retry_401_facts *f);

/* Keeps a copy of a request body piece for a replay after a 401, as long as
 * the whole body stays within max bytes; past it (or out of memory) the copy
 * is freed, *keep becomes false and later pieces are not kept. */
void cg_retry_keep_body(cg_buf *copy, bool *keep, const void *p, size_t n, size_t max);

/* GET, HEAD, OPTIONS or TRACE, exactly (case-sensitive). */
bool cg_retry_method_safe(cg_slice method);

#endif
