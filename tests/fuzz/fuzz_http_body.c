/* libFuzzer target for request body framing: body_framing.h (a counted body,
 * or a chunked one through http-parser behind the strict check) driven the way
 * src/http/http_proxy.c drives it (its callbacks are static and tied to a live
 * connection, so this target reproduces them: the body is forwarded per
 * on_body call, re-chunked with cg_http_chunk_line when chunked, ended with
 * "0\r\n\r\n" on message complete, where the parser is paused because what
 * follows is the next request; a backend write that does not finish at once
 * pauses the parser until it does). Built and run by tests/fuzz/run.
 *
 * Input: one control byte, then what the client sends (head, body, maybe the
 * next request). Control: low 6 bits, the size of the pieces the bytes
 * arrive in (0: all at once); bit 0x40, every body write "blocks" (the
 * parser is paused in on_body and resumed afterwards, as on_body_written
 * does).
 *
 * Invariants: however the bytes arrive and whatever pauses, the body bytes,
 * the bytes consumed and the outcome equal those of one plain
 * cg_body_framing_execute over everything; and what the backend receives (the
 * rewritten head, then the body as forwarded) parses back to the same body
 * and ends exactly where the forwarded bytes end.
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

static const cg_http_limits lim = { .max_head = 8192, .max_line = 2048, .max_headers = MAXH };

typedef struct sink {
    cg_buf body;       /* body bytes as decoded */
    cg_buf wire;       /* what is forwarded to the backend */
    bool chunked;      /* re-chunk */
    bool block;        /* pause in on_body */
    bool complete;
    int calls;
} sink;

static int on_body(http_parser *p, const char *at, size_t len)
{
    sink *s = p->data;
    s->calls++;
    if (!cg_buf_append(&s->body, at, len))
        abort();
    if (s->chunked) {
        if (len == 0)
            abort(); /* a zero-length chunk would end the backend's body early */
        char line[24];
        size_t k = cg_http_chunk_line(line, len);
        if (!cg_buf_append(&s->wire, line, k) || !cg_buf_append(&s->wire, at, len) ||
            !cg_buf_append(&s->wire, "\r\n", 2))
            abort();
    } else if (!cg_buf_append(&s->wire, at, len)) {
        abort();
    }
    if (s->block)
        http_parser_pause(p, 1);
    return 0;
}

static int on_complete(http_parser *p)
{
    sink *s = p->data;
    s->complete = true;
    if (s->chunked && !cg_buf_append(&s->wire, "0\r\n\r\n", 5))
        abort();
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = { .on_body = on_body, .on_message_complete = on_complete };

typedef struct run {
    size_t consumed;   /* body bytes the parser took */
    bool error;        /* the parser refused the body */
} run;

/* Feeds body[0..n) to p as http_proxy.c's feed_request_body does, the bytes
 * arriving piece bytes at a time (0: all at once). */
static run feed(http_parser *p, cg_body_framing *f, sink *s, const char *body, size_t n, size_t piece)
{
    run r = { 0 };
    size_t avail = piece ? (piece < n ? piece : n) : n;
    for (int guard = 0; guard < 1000000; guard++) {
        /* like the pump: the parser is fed only when bytes are waiting */
        if (r.consumed < avail) {
            const char *bad;
            size_t got = cg_body_framing_execute(f, p, &settings, body + r.consumed, avail - r.consumed, &bad);
            r.consumed += got;
            enum http_errno e = HTTP_PARSER_ERRNO(p);
            if (bad || (e != HPE_OK && e != HPE_PAUSED)) {
                r.error = true;
                return r;
            }
            if (s->complete)
                return r;
            if (e == HPE_PAUSED) {
                http_parser_pause(p, 0); /* the backend write finished */
                continue;
            }
            if (r.consumed < avail)
                abort(); /* not paused, no error: everything offered is taken */
        }
        if (avail == n)
            return r; /* waiting for more */
        avail = piece && avail + piece < n ? avail + piece : n;
    }
    abort(); /* no progress */
}

/* The backend's view: the rewritten head and the forwarded body. */
static void check_backend(const cg_http_request *req, const sink *s)
{
    static const cg_http_header extra[] = { { CG_SLICE_LIT("Authorization"), CG_SLICE_LIT("Negotiate YIIfuzz") } };
    cg_forward_ctx ctx = { .client_ip = CG_SLICE_LIT("127.0.0.1"), .default_host = CG_SLICE_LIT("backend.test"),
                           .request_id = CG_SLICE_LIT("r1"), .extra = extra, .nextra = 1 };
    cg_buf msg = { 0 };
    if (!cg_http_write_backend_head(req, &ctx, &msg) ||
        (s->wire.len && !cg_buf_append(&msg, s->wire.data, s->wire.len)))
        abort();
    cg_http_limits big = { .max_head = msg.len, .max_line = msg.len, .max_headers = MAXH + 16 };
    size_t head_len = 0;
    cg_refusal why;
    if (cg_http_scan_head(msg.data, msg.len, &big, false, &head_len, &why) != CG_HEAD_COMPLETE)
        abort();
    http_parser p;
    cg_http_header h[MAXH + 16];
    cg_http_request r;
    if (!cg_http_parse_request(&p, msg.data, head_len, h, MAXH + 16, &r, &why))
        abort();
    sink back = { .chunked = false };
    p.data = &back;
    cg_body_framing f;
    cg_body_framing_start(&f, r.body, r.content_length);
    run br = { 0 };
    if (!r.message_complete)
        br = feed(&p, &f, &back, msg.data + head_len, msg.len - head_len, 0);
    else
        back.complete = true;
    if (br.error || back.complete != s->complete || back.body.len != s->body.len ||
        (s->body.len && memcmp(back.body.data, s->body.data, s->body.len) != 0))
        abort(); /* the backend would read another body than the client sent */
    if (back.complete && head_len + br.consumed != msg.len)
        abort(); /* bytes after the body: the backend would see another request */
    cg_buf_free(&back.body);
    cg_buf_free(&back.wire);
    cg_buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = data[0] & 0x3f;
    bool block = data[0] & 0x40;
    const char *buf = (const char *)data + 1;
    size -= 1;
    size_t head_len = 0;
    cg_refusal why;
    if (cg_http_scan_head(buf, size, &lim, false, &head_len, &why) != CG_HEAD_COMPLETE)
        return 0;
    /* Two parsers over the same head: one fed the way the proxy feeds it,
     * one the reference. */
    http_parser p1, p2;
    cg_http_header h1[MAXH], h2[MAXH];
    cg_http_request r1, r2;
    if (!cg_http_parse_request(&p1, buf, head_len, h1, MAXH, &r1, &why))
        return 0;
    if (!cg_http_parse_request(&p2, buf, head_len, h2, MAXH, &r2, &why))
        abort();
    const char *body = buf + head_len;
    size_t n = size - head_len;
    sink s1 = { .chunked = r1.body == CG_BODY_CHUNKED, .block = block };
    sink s2 = { .chunked = r1.body == CG_BODY_CHUNKED };
    run a = { 0 }, b = { 0 };
    if (r1.message_complete) {
        s1.complete = s2.complete = true; /* no body: nothing to feed */
    } else {
        p1.data = &s1;
        p2.data = &s2;
        cg_body_framing f1, f2;
        cg_body_framing_start(&f1, r1.body, r1.content_length);
        cg_body_framing_start(&f2, r2.body, r2.content_length);
        a = feed(&p1, &f1, &s1, body, n, piece);
        b = feed(&p2, &f2, &s2, body, n, 0);
    }
    if (a.error != b.error || s1.complete != s2.complete || s1.body.len != s2.body.len ||
        (s1.body.len && memcmp(s1.body.data, s2.body.data, s1.body.len) != 0))
        abort();
    if (!a.error && a.consumed != b.consumed)
        abort(); /* the next request would start elsewhere */
    if (!a.error)
        check_backend(&r1, &s1);
    cg_buf_free(&s1.body);
    cg_buf_free(&s1.wire);
    cg_buf_free(&s2.body);
    cg_buf_free(&s2.wire);
    return 0;
}
