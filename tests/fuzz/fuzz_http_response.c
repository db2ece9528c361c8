/* libFuzzer target for backend responses (src/http/http1.c):
 * cg_http_scan_head (responses), cg_http_parse_response and
 * cg_http_write_client_head, then the body re-framed for the client the way
 * src/http/http_proxy.c's res_on_body does (passed through, re-chunked, or
 * delimited by closing for HTTP/1.0 clients). Built and run by
 * tests/fuzz/run.
 *
 * Input: one control byte, then what the backend sends (head, body; the end
 * of the input is the backend closing). Control: bit 0, the request was a
 * HEAD; bit 1, the client speaks HTTP/1.0; bit 2, keep the client
 * connection; the high 5 bits, the size of the pieces the bytes arrive in
 * (0: all at once).
 *
 * The body is framed as src/http/http_response.c frames it: body_framing.h
 * (counted, until EOF, or chunked through http-parser behind the strict
 * check).
 *
 * Invariants: the client head scans and parses with certgate's own parser
 * to the same status and the framing the writer announced; it has none of
 * the backend's hop-by-hop headers and at most one framing header; and the
 * client, reading that head and the body as written, gets exactly the body
 * the backend sent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body_framing.h"
#include "http/http1.h"
#include "http/http1_scan.h"
#include "http/http1_write.h"

#define MAXH 64

static const cg_http_limits lim = { .max_head = 8192, .max_line = 4096, .max_headers = MAXH };

typedef struct sink {
    cg_buf body;           /* decoded body */
    cg_buf wire;           /* as written to the client */
    cg_client_body framing;
    bool complete;
} sink;

static int on_body(http_parser *p, const char *at, size_t len)
{
    sink *s = p->data;
    if (!cg_buf_append(&s->body, at, len))
        abort();
    if (s->framing == CG_CLIENT_BODY_NONE)
        return 0;
    if (s->framing == CG_CLIENT_BODY_CHUNKED) {
        if (len == 0)
            abort(); /* would end the client's body early */
        char line[24];
        size_t k = cg_http_chunk_line(line, len);
        if (!cg_buf_append(&s->wire, line, k) || !cg_buf_append(&s->wire, at, len) ||
            !cg_buf_append(&s->wire, "\r\n", 2))
            abort();
        return 0;
    }
    if (!cg_buf_append(&s->wire, at, len))
        abort();
    return 0;
}

static int on_complete(http_parser *p)
{
    sink *s = p->data;
    s->complete = true;
    if (s->framing == CG_CLIENT_BODY_CHUNKED && !cg_buf_append(&s->wire, "0\r\n\r\n", 5))
        abort();
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = { .on_body = on_body, .on_message_complete = on_complete };

/* Feeds a body in pieces, then EOF (the peer closed). false: refused. */
static bool feed(http_parser *p, cg_body_framing *f, sink *s, const char *b, size_t n, size_t piece)
{
    size_t off = 0;
    while (off < n && !s->complete) {
        size_t k = piece && piece < n - off ? piece : n - off;
        const char *bad;
        size_t got = cg_body_framing_execute(f, p, &settings, b + off, k, &bad);
        enum http_errno e = HTTP_PARSER_ERRNO(p);
        if (bad || (e != HPE_OK && e != HPE_PAUSED))
            return false;
        if (e == HPE_OK && got != k)
            abort();
        off += got;
        if (e == HPE_PAUSED && !s->complete)
            abort(); /* only message complete pauses */
    }
    if (!s->complete) {
        cg_body_framing_eof(f, p, &settings);
        enum http_errno e = HTTP_PARSER_ERRNO(p);
        if (e != HPE_OK && e != HPE_PAUSED)
            return false;
    }
    return true;
}

static size_t count(const cg_http_header *h, size_t n, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += cg_slice_ieq(h[i].name, name);
    return k;
}

static void check_client(const cg_http_response *res, bool was_head, int minor, const cg_buf *head,
                         const sink *s)
{
    cg_http_limits big = { .max_head = head->len, .max_line = head->len, .max_headers = MAXH + 8 };
    size_t head_len = 0;
    cg_refusal why;
    if (cg_http_scan_head(head->data, head->len, &big, true, &head_len, &why) != CG_HEAD_COMPLETE ||
        head_len != head->len) {
        fprintf(stderr, "client head does not scan: %s\n", why.detail);
        abort();
    }
    http_parser p;
    cg_http_header h[MAXH + 8];
    cg_http_response r;
    if (!cg_http_parse_response(&p, head->data, head->len, was_head, h, MAXH + 8, &r, &why)) {
        fprintf(stderr, "client head refused by certgate's own parser: %s\n", why.detail);
        abort();
    }
    if (r.status != res->status || r.version_minor != 1)
        abort();
    static const char *const never[] = { "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                                         "proxy-authenticate", NULL };
    for (int i = 0; never[i]; i++)
        if (count(h, r.nheaders, never[i]))
            abort();
    if (count(h, r.nheaders, "transfer-encoding") > 1 || count(h, r.nheaders, "connection") > 1 ||
        count(h, r.nheaders, "x-request-id") != 1)
        abort();
    switch (s->framing) {
    case CG_CLIENT_BODY_LENGTH:
        if (r.body != CG_BODY_LENGTH || r.content_length != res->content_length)
            abort();
        break;
    case CG_CLIENT_BODY_CHUNKED:
        if (r.body != CG_BODY_CHUNKED || minor != 1)
            abort();
        break;
    case CG_CLIENT_BODY_CLOSE:
        if (r.body != CG_BODY_UNTIL_CLOSE || r.keep_alive)
            abort();
        break;
    case CG_CLIENT_BODY_NONE:
        if (count(h, r.nheaders, "transfer-encoding"))
            abort();
        return; /* nothing is written after the head */
    }
    if (!s->complete)
        return; /* cut short: the client connection is closed */
    /* The client reads the body as written. */
    sink c = { .framing = CG_CLIENT_BODY_LENGTH };
    p.data = &c;
    cg_body_framing f;
    cg_body_framing_start(&f, r.body, r.content_length);
    if (r.message_complete)
        c.complete = true;
    else if (!feed(&p, &f, &c, s->wire.data, s->wire.len, 0))
        abort();
    if (!c.complete || c.body.len != s->body.len || (c.body.len && memcmp(c.body.data, s->body.data, c.body.len)))
        abort(); /* the client would read another body than the backend sent */
    cg_buf_free(&c.body);
    cg_buf_free(&c.wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool was_head = data[0] & 1;
    int minor = data[0] & 2 ? 0 : 1;
    bool keep = data[0] & 4;
    size_t piece = data[0] >> 3;
    const char *buf = (const char *)data + 1;
    size -= 1;

    size_t head_len = 0;
    cg_refusal why;
    cg_head_scan st = cg_http_scan_head(buf, size, &lim, true, &head_len, &why);
    if (st == CG_HEAD_INVALID && (why.kind != CG_REFUSE_BACKEND_BAD_RESPONSE || !why.detail[0]))
        abort();
    if (st != CG_HEAD_COMPLETE)
        return 0;
    http_parser p;
    cg_http_header hdrs[MAXH];
    cg_http_response res;
    if (!cg_http_parse_response(&p, buf, head_len, was_head, hdrs, MAXH, &res, &why)) {
        if (why.kind != CG_REFUSE_BACKEND_BAD_RESPONSE || !why.detail[0])
            abort();
        return 0;
    }
    if (res.status < 100 || res.status > 999)
        abort();
    if (res.status < 200)
        return 0; /* 1xx: skipped by the proxy, the final response follows */
    cg_buf out = { 0 };
    sink s = { 0 };
    if (!cg_http_write_client_head(&res, was_head, minor, keep, CG_SLICE_LIT("0123456789abcdef"), &out, &s.framing))
        abort();
    p.data = &s;
    cg_body_framing f;
    cg_body_framing_start(&f, res.body, res.content_length);
    bool ok = res.message_complete ? (s.complete = true) : feed(&p, &f, &s, buf + head_len, size - head_len, piece);
    if (ok)
        check_client(&res, was_head, minor, &out, &s);
    cg_buf_free(&out);
    cg_buf_free(&s.body);
    cg_buf_free(&s.wire);
    return 0;
}
