/* HTTP/1.1 head scanning: where a request or response head ends, checked
 * byte by byte as it arrives (limits, line endings, control characters,
 * obs-fold), before anything parses it (http1.h). Pure functions; no I/O.
 */
#ifndef CG_HTTP1_SCAN_H
#define CG_HTTP1_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

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
#define CG_HEAD_LINE_ENDS 32
typedef struct cg_head_scanner {
    size_t pos;        /* bytes of the head scanned so far */
    size_t line_start; /* offset of the current line */
    size_t nheaders;   /* header lines completed */
    unsigned line_no;  /* current line, from 1; 0 before the first call */
    /* Set only by cg_http_scan_head_more when it returns CG_HEAD_COMPLETE:
     * the bytes it found to be a whole, valid head. cg_http_parse_request /
     * _response take it as the proof that spares them scanning the same
     * bytes again, and use it up. Never set these by hand. */
    const char *scanned_head;
    size_t scanned_len;
    bool scanned_response;
    /* Where the head's first lines end, found on the way: line_end[j] is
     * the offset of the CR that ends line j + 1 (the start line is line
     * 1), for the first nline_ends lines, at most CG_HEAD_LINE_ENDS and
     * only below 65536. The parse trusts them with the proof above, so
     * that it does not search for them again; past them it searches. */
    uint16_t nline_ends;
    uint16_t line_end[CG_HEAD_LINE_ENDS];
} cg_head_scanner;
#define CG_HEAD_SCANNER_INIT ((cg_head_scanner){ 0 })

/* cg_http_scan_head for a head whose bytes arrive in pieces: buf[0..len) is
 * the head so far (the same bytes as at the previous call, plus more), st
 * the state the previous call left. Same results and refusals as
 * cg_http_scan_head(buf, len) would give. On CG_HEAD_COMPLETE, st records
 * buf[0..*head_len) as scanned (see above): pass st to the parse function
 * right away, before anything changes those bytes. */
cg_head_scan cg_http_scan_head_more(cg_head_scanner *st, const char *buf, size_t len, const cg_http_limits *lim,
                                    bool is_response, size_t *head_len, cg_refusal *why);

#endif
