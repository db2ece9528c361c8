/* HTTP/1.1 message rules: everything about request and response heads that
 * can be decided from their bytes alone. Pure functions over buffers; no I/O.
 *
 * Flow for one request (http_proxy.c):
 *   1. cg_http_scan_head() on the bytes received so far, until the head is
 *      complete (or refused: over-long line, too many headers, obs-fold ...).
 *   2. cg_http_parse_request() parses that head with http-parser and applies
 *      the framing rules (Content-Length vs Transfer-Encoding ...). The same
 *      http_parser is then used by the caller for the body.
 *   3. cg_http_write_backend_head() writes the rewritten head for the backend.
 * Responses: scan, cg_http_parse_response(), cg_http_write_client_head().
 */
#ifndef CG_HTTP1_H
#define CG_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "buf.h"
#include "error.h"

typedef struct cg_http_header {
    cg_slice name, value; /* point into the head buffer; value has no surrounding OWS */
} cg_http_header;

typedef struct cg_http_limits {
    size_t max_head;     /* bytes, whole head including the final CRLF CRLF */
    size_t max_line;     /* bytes of one line, without its CRLF */
    size_t max_headers;  /* header fields */
} cg_http_limits;

typedef enum {
    CG_HEAD_INCOMPLETE, /* no end of head yet, and no limit exceeded */
    CG_HEAD_COMPLETE,   /* *head_len = bytes up to and including CRLF CRLF */
    CG_HEAD_INVALID,    /* why is filled: 400 or 431 (requests), 502 (responses) */
} cg_head_scan;

/* Scans buf[0..len) for the end of a head. Refuses: a line longer than
 * max_line, a head longer than max_head, more than max_headers fields, a line
 * starting with SP or HTAB after the start line (obs-fold), a bare CR or LF
 * not part of CRLF, NUL or other control characters except HTAB.
 * is_response selects the refusal kind (BACKEND_BAD_RESPONSE vs BAD_REQUEST /
 * HEAD_TOO_LARGE). Scans from byte 0: for a head that arrives in pieces, use
 * cg_http_scan_head_more. */
cg_head_scan cg_http_scan_head(const char *buf, size_t len, const cg_http_limits *lim,
                               bool is_response, size_t *head_len, cg_refusal *why);

/* Where an incomplete scan stopped, so that the next call looks only at the
 * bytes that arrived since: a head sent one byte per TLS record (or TCP
 * segment) costs linear time, not quadratic. All zero (CG_HEAD_SCANNER_INIT)
 * before a head's first bytes. */
typedef struct cg_head_scanner {
    size_t pos;        /* bytes of the head scanned so far */
    size_t line_start; /* offset of the current line */
    size_t nheaders;   /* header lines completed */
    unsigned line_no;  /* current line, from 1; 0 before the first call */
} cg_head_scanner;
#define CG_HEAD_SCANNER_INIT ((cg_head_scanner){ 0 })

/* cg_http_scan_head for a head whose bytes arrive in pieces: buf[0..len) is
 * the head so far (the same bytes as at the previous call, plus more), st
 * the state the previous call left. Same results and refusals as
 * cg_http_scan_head(buf, len) would give. */
cg_head_scan cg_http_scan_head_more(cg_head_scanner *st, const char *buf, size_t len, const cg_http_limits *lim,
                                    bool is_response, size_t *head_len, cg_refusal *why);

typedef enum {
    CG_BODY_NONE,        /* no body */
    CG_BODY_LENGTH,      /* Content-Length bytes */
    CG_BODY_CHUNKED,     /* Transfer-Encoding: chunked */
    CG_BODY_UNTIL_CLOSE, /* responses only: until the backend closes */
} cg_body_kind;

typedef struct cg_http_request {
    cg_slice method;
    cg_slice target;         /* origin-form, as sent: "/path?query"; http_proxy.c then
                                replaces it with the canonical target (target.h), which
                                routes match and cg_http_write_backend_head() sends */
    cg_slice path;           /* target up to '?' (likewise) */
    int version_minor;       /* HTTP/1.<minor>: 0 or 1 */
    cg_http_header *headers; /* caller's array */
    size_t nheaders;
    cg_body_kind body;
    uint64_t content_length; /* when body == CG_BODY_LENGTH */
    bool keep_alive;         /* the client wants the connection kept open */
    bool expect_continue;    /* Expect: 100-continue */
    bool message_complete;   /* no body: the parser already finished the message */
} cg_http_request;

/* Parses a complete head (from cg_http_scan_head) with p, which the function
 * initializes as an HTTP_REQUEST parser; afterwards p is positioned at the
 * start of the body and the caller feeds it the body bytes. hdrs has room for
 * max_headers entries. Refuses with 400 (or 501 for CONNECT / unsupported
 * Transfer-Encoding): any request http-parser rejects; HTTP versions other
 * than 1.0 and 1.1; a target not in origin-form (or "*" for OPTIONS), or with a
 * control character (TAB included), a byte >= 0x7f or a "#"; a
 * missing or repeated Host in HTTP/1.1; Content-Length together with
 * Transfer-Encoding; several or non-numeric Content-Length values;
 * Transfer-Encoding other than exactly "chunked", or in HTTP/1.0; an empty
 * header name or whitespace before the colon; an Expect other than
 * 100-continue (417 is not worth it: 400). */
bool cg_http_parse_request(http_parser *p, const char *head, size_t head_len,
                           cg_http_header *hdrs, size_t max_headers,
                           cg_http_request *req, cg_refusal *why);

/* What a listener changes in the list of client headers stripped before a
 * request is forwarded (strip_request_headers in the configuration):
 * names compared like header names (case-insensitive, '_' as '-'). */
typedef struct cg_header_policy {
    char **strip;    /* removed too */
    size_t nstrip;
    char **keep;     /* passed although in cg_http_backend_trusted_headers */
    size_t nkeep;
} cg_header_policy;

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
} cg_forward_ctx;

/* True for a header a client must never be able to send to the backend:
 * hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Authorization, Proxy-Authenticate),
 * fields the proxy sets itself (Content-Length, Expect, Authorization,
 * X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded,
 * X-Request-Id) and certgate's identity headers (prefixes "X-Client-Cert-"
 * and "X-Certgate-"; '_' counts as '-').
 * Case-insensitive. */
bool cg_http_request_header_dropped(cg_slice name);

/* Lower-case names (NULL-terminated list) of headers that backends
 * commonly trust as identity or routing statements from a front end
 * (X-Original-URL, X-Rewrite-URL, X-ARR-ClientCert, X-Forwarded-Client-Cert,
 * X-SSL-Client-Cert, Remote-User, X-Remote-User, X-Real-IP, ...; see
 * http1.c): stripped from client requests unless a listener keeps one. */
extern const char *const cg_http_backend_trusted_headers[];
bool cg_http_backend_trusted_header(cg_slice name);

/* The one decision on a client request header: true when it is not
 * forwarded. Always for cg_http_request_header_dropped(); for the
 * backend-trusted list unless p keeps it; for names p strips. p may be
 * NULL (the defaults). */
bool cg_http_request_header_stripped(cg_slice name, const cg_header_policy *p);

/* Writes the head to send to the backend into out:
 *   "<METHOD> <target> HTTP/1.1\r\n"
 *   the client's headers minus those cg_http_request_header_stripped() says,
 *   minus any named in the client's Connection header,
 *   "Host" kept as sent (default_host added if there was none),
 *   "X-Forwarded-For: <client_ip>", "X-Forwarded-Proto: https",
 *   "X-Request-Id: <id>", the extra headers,
 *   "Content-Length: N" or "Transfer-Encoding: chunked" per req->body,
 *   "\r\n".
 * Returns false only on out-of-memory. */
bool cg_http_write_backend_head(const cg_http_request *req, const cg_forward_ctx *ctx, cg_buf *out);

typedef struct cg_http_response {
    int status;
    int version_minor;
    cg_slice reason;
    cg_http_header *headers;
    size_t nheaders;
    cg_body_kind body;
    uint64_t content_length;
    bool keep_alive;         /* the backend connection may be reused afterwards */
    bool message_complete;   /* no body: the parser already finished the message */
} cg_http_response;

/* Parses a response head the same way (p initialized as HTTP_RESPONSE).
 * request_was_head: the response to a HEAD has no body whatever it says.
 * Refuses (BACKEND_BAD_RESPONSE) what http-parser rejects, Content-Length
 * together with Transfer-Encoding, conflicting Content-Lengths, status 101
 * (upgrades are not supported), a version other than 1.0 / 1.1. 1xx other
 * than 101 parse fine (status < 200): the caller skips them. */
bool cg_http_parse_response(http_parser *p, const char *head, size_t head_len,
                            bool request_was_head, cg_http_header *hdrs, size_t max_headers,
                            cg_http_response *res, cg_refusal *why);

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

/* "<len in lowercase hex>\r\n", a chunk-size line, into out (at least 19
 * bytes); returns its length. Per chunk on the hot path: no printf. */
size_t cg_http_chunk_line(char *out, size_t len);
/* s as a short excerpt for a refusal sentence (at most 60 bytes of s;
 * quotes, backslashes and bytes outside printable ASCII as \xNN), into
 * out[0..cap); returns out. Client bytes never reach a log or page raw. */
const char *cg_http_excerpt(char *out, size_t cap, cg_slice s);
/* Case-insensitive ASCII comparison of a slice with a C string. */
bool cg_slice_ieq(cg_slice a, const char *b);
/* The first header named name (case-insensitive), or NULL. */
const cg_http_header *cg_http_find_header(const cg_http_header *h, size_t n, const char *name);

#endif
