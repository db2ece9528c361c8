/* HTTP/1.1 head writing: the heads certgate sends, rewritten from the
 * parsed ones (http1.h): to the backend, and to the client, leaving out the
 * client headers header_names.h says. Pure functions over buffers; no I/O.
 */
#ifndef CG_HTTP1_WRITE_H
#define CG_HTTP1_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "http1.h"

typedef struct cg_forward_ctx {
    cg_slice client_ip;           /* textual address for X-Forwarded-For */
    cg_slice default_host;        /* Host to send when the client sent none (HTTP/1.0) */
    cg_slice request_id;          /* sent as X-Request-Id */
    const cg_http_header *extra;  /* added verbatim after the kept headers */
    size_t nextra;                /* (identity headers, Authorization: Negotiate ...) */
    cg_slice extra_block;         /* complete "Name: value\r\n" lines rendered (and
                                     sanitized) once per connection by the caller;
                                     appended as they are */
    const cg_header_policy *strip; /* the listener's changes; NULL: the defaults */
    cg_slice upgrade;             /* an upgrade the route allows, offered as "Connection:
                                     Upgrade" and "Upgrade: <this>"; empty: none */
} cg_forward_ctx;

/* Writes the head to send to the backend into out:
 *   "<METHOD> <target> HTTP/1.1\r\n"
 *   the client's headers minus those cg_http_request_header_stripped() says,
 *   minus any named in the client's Connection header,
 *   "Host" kept as sent (default_host added if there was none),
 *   "Connection: Upgrade" and "Upgrade: <ctx->upgrade>" when set,
 *   "X-Forwarded-For: <client_ip>", "X-Forwarded-Proto: https",
 *   "X-Request-Id: <id>", the extra headers,
 *   "Content-Length: N" or "Transfer-Encoding: chunked" per req->body,
 *   "\r\n".
 * Returns false only on out-of-memory. */
bool cg_http_write_backend_head(const cg_http_request *req, const cg_forward_ctx *ctx, cg_buf *out);

/* How the body is framed towards the client. */
typedef enum {
    CG_CLIENT_BODY_NONE,
    CG_CLIENT_BODY_LENGTH,  /* Content-Length passes through */
    CG_CLIENT_BODY_CHUNKED, /* re-chunked by the proxy */
    CG_CLIENT_BODY_CLOSE,   /* HTTP/1.0 client: delimited by closing */
} cg_client_body;

/* Writes the head to send to the client: "HTTP/1.1 <status> <reason>",
 * the backend's headers minus hop-by-hop ones (and those named in its
 * Connection header), minus WWW-Authenticate (the client cannot answer a
 * backend's challenge: its Authorization is never forwarded) and minus
 * Content-Length / Transfer-Encoding,
 * then framing: Content-Length when known, "Transfer-Encoding: chunked"
 * for chunked or until-close bodies when the client speaks HTTP/1.1
 * (CG_CLIENT_BODY_CLOSE for HTTP/1.0 clients), "Connection: close" when
 * !keep_client, "X-Request-Id: <id>". *framing says what the caller must do
 * with the body bytes. request_was_head: keep Content-Length as sent, no body.
 * Returns false only on out-of-memory. */
bool cg_http_write_client_head(const cg_http_response *res, bool request_was_head,
                               int client_version_minor, bool keep_client,
                               cg_slice request_id, cg_buf *out, cg_client_body *framing);

/* Writes the head of a switch of protocols to the client (a backend's 101
 * to an upgrade certgate offered): "HTTP/1.1 101 Switching Protocols", the
 * backend's headers minus those cg_http_write_client_head() leaves out
 * (hop-by-hop, framing, WWW-Authenticate), then "Connection: Upgrade",
 * "Upgrade: <protocol>", "X-Request-Id: <id>". False only on out-of-memory. */
bool cg_http_write_switch_head(const cg_http_response *res, cg_slice protocol, cg_slice request_id, cg_buf *out);

/* "<len in lowercase hex>\r\n", a chunk-size line, into out (at least 19
 * bytes); returns its length. Per chunk on the hot path: no printf. */
size_t cg_http_chunk_line(char *out, size_t len);

#endif
