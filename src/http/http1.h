/* HTTP/1.1 message rules: everything about request and response heads that
 * can be decided from their bytes alone. Pure functions over buffers; no I/O.
 *
 * Flow for one request (http_proxy.c):
 *   1. cg_http_scan_head() (http1_scan.h) on the bytes received so far, until
 *      the head is complete (or refused: over-long line, too many headers,
 *      obs-fold ...).
 *   2. cg_http_parse_request() (here) parses that head and applies the
 *      framing rules (Content-Length vs Transfer-Encoding ...). The caller
 *      then frames the body with body_framing.h and the same http_parser
 *      (which has parsed the head only when the body is chunked).
 *   3. cg_http_write_backend_head() (http1_write.h) writes the rewritten head
 *      for the backend.
 * Responses: scan, cg_http_parse_response(), cg_http_write_client_head().
 */
#ifndef CG_HTTP1_H
#define CG_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <http_parser.h>

#include "base/base.h"
#include "http1_scan.h"

typedef struct cg_http_header {
    cg_slice name, value; /* point into the head buffer; value has no surrounding OWS */
} cg_http_header;

typedef enum {
    CG_BODY_NONE,        /* no body */
    CG_BODY_LENGTH,      /* Content-Length bytes */
    CG_BODY_CHUNKED,     /* Transfer-Encoding: chunked */
    CG_BODY_UNTIL_CLOSE, /* responses only: until the backend closes */
} cg_body_kind;

/* The tokens of a message's Connection fields (RFC 9110 7.6.1), read once
 * by the parse: cg_http_request.connection, cg_http_response.connection. */
enum {
    CG_CONNECTION_FIELD = 1,      /* the message has a Connection field */
    CG_CONNECTION_CLOSE = 2,      /* "close" is among its tokens */
    CG_CONNECTION_KEEP_ALIVE = 4, /* "keep-alive" is */
    CG_CONNECTION_OTHER = 8,      /* another token: it names a hop-by-hop field */
};

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
    unsigned connection;     /* CG_CONNECTION_* */
    bool expect_continue;    /* Expect: 100-continue */
    bool message_complete;   /* no body (or an empty one): the message ends with its head */
} cg_http_request;

/* Parses a complete head (from cg_http_scan_head). p is initialized as an
 * HTTP_REQUEST parser; for a chunked body it also parses the head (and must
 * agree) and is left positioned at the start of the body; the caller feeds
 * the body through cg_body_framing_execute (body_framing.h) with p. hdrs has room for
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

typedef struct cg_http_response {
    int status;
    int version_minor;
    cg_slice reason;
    cg_http_header *headers;
    size_t nheaders;
    cg_body_kind body;
    uint64_t content_length;
    bool keep_alive;         /* the backend connection may be reused afterwards */
    unsigned connection;     /* CG_CONNECTION_* */
    bool message_complete;   /* no body (or an empty one): the message ends with its head */
} cg_http_response;

/* Parses a response head the same way (p initialized as HTTP_RESPONSE).
 * request_was_head: the response to a HEAD has no body whatever it says.
 * Refuses (BACKEND_BAD_RESPONSE) what http-parser rejects, Content-Length
 * together with Transfer-Encoding, conflicting Content-Lengths, a version
 * other than 1.0 / 1.1. 1xx parse fine (status < 200, no body): the caller
 * skips interim ones and judges a 101 against the upgrade it offered. */
bool cg_http_parse_response(http_parser *p, const char *head, size_t head_len,
                            bool request_was_head, cg_http_header *hdrs, size_t max_headers,
                            cg_http_response *res, cg_refusal *why);

/* The byte rules of the scan (CRLF only, no control characters, no
 * obs-fold) are what the tokenizer and the head writers rely on, so the two
 * functions above scan the head again first. These two skip that second
 * scan only when scanned proves that exactly head[0..head_len) was just
 * scanned whole: scanned is the cg_head_scanner whose
 * cg_http_scan_head_more call returned CG_HEAD_COMPLETE for these very
 * bytes; the proof is used up by the call. With any other scanner (another
 * head, another length, a proof already used) they scan again, as above. */
bool cg_http_parse_request_scanned(http_parser *p, const char *head, size_t head_len, cg_head_scanner *scanned,
                                   cg_http_header *hdrs, size_t max_headers,
                                   cg_http_request *req, cg_refusal *why);
bool cg_http_parse_response_scanned(http_parser *p, const char *head, size_t head_len, cg_head_scanner *scanned,
                                    bool request_was_head, cg_http_header *hdrs, size_t max_headers,
                                    cg_http_response *res, cg_refusal *why);

/* Case-insensitive ASCII comparison of a slice with a C string. Inline, so
 * that the length of a literal is known where it is called: most of the
 * comparisons a head costs (names looked for among its fields) end there. */
static inline bool cg_slice_ieq(cg_slice a, const char *b)
{
    return a.n == strlen(b) && cg_ascii_ieq(a.p, b, a.n);
}
/* The first header named name (case-insensitive), or NULL. Inline for the
 * same reason: the length of a literal name is then known. */
static inline const cg_http_header *cg_http_find_header(const cg_http_header *h, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (h[i].name.n == len && cg_ascii_ieq(h[i].name.p, name, len))
            return &h[i];
    return NULL;
}
/* List-valued fields (http1_lists.c). Iterates the comma-separated tokens
 * of a list-valued field (Connection, Upgrade, Transfer-Encoding), OWS
 * trimmed, empty elements skipped (RFC 9110 5.6.1): false when the list is
 * exhausted. */
bool cg_http_next_list_token(cg_slice *rest, cg_slice *tok);
/* True when a header named field of h lists token (case-insensitive). */
bool cg_http_list_has_token(const cg_http_header *h, size_t n, const char *field, const char *token);
/* True when a Connection header of h names the field `name` (RFC 9110 7.6.1:
 * those fields are hop-by-hop and must not be forwarded). */
bool cg_http_named_by_connection(const cg_http_header *h, size_t n, cg_slice name);

#endif
