/* The access log: one `request` line per exchange (typed fields, log.h),
 * with the request's counters bumped first (stats.h); and the header values
 * the line quotes, copied when the head is parsed.
 */
#ifndef CG_ACCESS_LOG_H
#define CG_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "http1.h"

struct cg_conn;
struct cg_client;
struct cg_exchange;

struct cg_client;
struct cg_config;
struct cg_route;

/* One exchange as the line tells it: an HTTP/1.1 exchange or an HTTP/2 stream. */
typedef struct cg_access_entry {
    const char *id;
    const struct cg_config *cfg;     /* the request's snapshot, or NULL (the connection's) */
    const struct cg_route *route;    /* NULL: none chosen */
    size_t backend;
    const char *method;              /* "" when the head did not parse */
    const char *path, *target_sent;  /* "" when none */
    int status;
    int refusal;                     /* cg_refusal_kind */
    uint64_t bytes_in, bytes_out;
    uint64_t started_ns;
    const char *host, *user_agent;   /* "" when absent */
    const char *http;                /* "1.0", "1.1", "2" */
} cg_access_entry;

/* Counts the exchange of c and writes its line (the query redacted unless
 * logging.log_query). No printf and no allocation. */
void cg_access_log_request(struct cg_conn *c);
/* The same for an exchange and client no longer the connection's HTTP/1.1
 * handler's: an upgrade request, logged when its tunnel closes (tunnel.h). */
void cg_access_log_exchange(struct cg_conn *c, const struct cg_client *cl, const struct cg_exchange *ex);
/* The same for an entry of client cl on c. */
void cg_access_log_entry(struct cg_conn *c, const struct cg_client *cl, const cg_access_entry *e);

/* The value of header `name` of req into dst ("" when absent, or when the
 * access line, written at info level, is off), cut with "..." when longer
 * than dst. */
void cg_access_log_header(char *dst, size_t cap, const cg_http_request *req, const char *name);

#endif
