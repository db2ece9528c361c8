/* Request limits, per listener: the size of a request body (413) and the
 * rate of requests per client (429).
 *
 * Body: max_request_body on the listener, overridden by the route's (0:
 * unlimited). A Content-Length over it is refused before anything is
 * forwarded; a chunked body is counted as it streams (http_proxy.c) and
 * refused at the piece that would cross it.
 *
 * Rate: rate_limit.per_client, one token bucket per client certificate (its
 * SHA-256) or, for a request without a certificate, per address; and
 * rate_limit.per_address, one per address (IPv6 per
 * limits.per_address_ipv6_prefix, the admission key: admission.h). Buckets
 * live in the process's table (ratelimit.h) and are per listener. A refused
 * request is logged at most every 10 s per bucket, with the count since
 * the last line. See docs/proxy.md, "Request limits".
 */
#ifndef CG_REQUEST_LIMITS_H
#define CG_REQUEST_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "config/config.h"
#include "base/base.h"
#include "ratelimit.h"

/* The most body bytes a request on route r of listener l may send;
 * UINT64_MAX: no limit. */
uint64_t cg_request_body_max(const cg_listener_cfg *l, const cg_route *r);

/* The 413 for a body over max: length is the Content-Length (announced) or
 * the bytes received so far (a chunked body). */
void cg_request_body_refusal(cg_refusal *why, const cg_listener_cfg *l, const cg_route *r, uint64_t max,
                             uint64_t length, bool announced);

/* Whom a request is counted for. */
typedef struct cg_rate_client {
    const cg_admission_key *address; /* family 0: unknown, not counted per address */
    unsigned ipv6_prefix;            /* of the address key, for messages */
    const char *fingerprint;         /* the certificate's SHA-256 in hex; NULL without one */
    const char *peer;                /* "ip:port", for the log */
    const char *request_id;
} cg_rate_client;

/* Whether rate limiting is on for listener l (the check costs nothing otherwise). */
static inline bool cg_request_rate_enabled(const cg_listener_cfg *l)
{
    return l->rate_per_client.per_minute || l->rate_per_address.per_minute;
}

/* Takes a token from who's buckets on listener l (index li). True: go on.
 * False: over a limit; *why is the 429 and *retry_after_s the seconds until
 * a token is there (the Retry-After header). Logs rate-limited (see above). */
bool cg_request_rate_check(cg_ratelimit *t, const cg_listener_cfg *l, size_t li, const cg_rate_client *who,
                           uint64_t now_ns, cg_refusal *why, uint32_t *retry_after_s);

#endif
