/* The access log: one `request` line per exchange (typed fields, log.h),
 * with the request's counters bumped first (stats.h); and the header values
 * the line quotes, copied when the head is parsed.
 */
#ifndef CG_ACCESS_LOG_H
#define CG_ACCESS_LOG_H

#include <stddef.h>

#include "http1.h"

struct cg_conn;
struct cg_client;
struct cg_exchange;

/* Counts the exchange of c and writes its line (the query redacted unless
 * logging.log_query). No printf and no allocation. */
void cg_access_log_request(struct cg_conn *c);
/* The same for an exchange and client no longer the connection's HTTP/1.1
 * handler's: an upgrade request, logged when its tunnel closes (tunnel.h). */
void cg_access_log_exchange(struct cg_conn *c, const struct cg_client *cl, const struct cg_exchange *ex);

/* The value of header `name` of req into dst ("" when absent), cut with
 * "..." when longer than dst. */
void cg_access_log_header(char *dst, size_t cap, const cg_http_request *req, const char *name);

#endif
