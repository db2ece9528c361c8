/* libFuzzer target for request heads (src/http/http1.c): cg_http_scan_head,
 * cg_http_parse_request and cg_http_write_backend_head. Built and run by
 * tests/fuzz/run. The input is what a client sends (head, maybe more).
 *
 * Invariants, beyond "no crash, no leak, no UB":
 *   - the scanner is incremental: a prefix of a complete head is incomplete;
 *   - with the scanner's proof (cg_http_parse_request_scanned, no second
 *     scan) the verdict, refusal and framing are those of the plain parse;
 *   - a head the parser accepts is rewritten into a backend head that scans
 *     and parses again to the same method, target and body framing, with
 *     one Host, one of each header the proxy sets, and none of the hop-by-hop
 *     or proxy-owned headers a client could have smuggled through: a proxy
 *     must never hand its backend an ambiguous head.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1.h"
#include "http/http1_scan.h"
#include "http/http1_write.h"

#define MAXH 64

static const cg_http_limits lim = { .max_head = 8192, .max_line = 2048, .max_headers = MAXH };

static size_t count(const cg_http_header *h, size_t n, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += cg_slice_ieq(h[i].name, name);
    return k;
}

static bool same(cg_slice a, cg_slice b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

static void check_backend_head(const cg_http_request *req, const cg_buf *out)
{
    /* The backend head is complete, exactly as long as written. */
    cg_http_limits big = { .max_head = out->len, .max_line = out->len, .max_headers = MAXH + 16 };
    size_t head_len = 0;
    cg_refusal why;
    if (cg_http_scan_head(out->data, out->len, &big, false, &head_len, &why) != CG_HEAD_COMPLETE ||
        head_len != out->len) {
        fprintf(stderr, "backend head does not scan: %s\n", why.detail);
        abort();
    }
    http_parser p;
    cg_http_header h[MAXH + 16];
    cg_http_request r;
    if (!cg_http_parse_request(&p, out->data, out->len, h, MAXH + 16, &r, &why)) {
        fprintf(stderr, "backend head refused by certgate's own parser: %s\n", why.detail);
        abort();
    }
    if (!same(r.method, req->method) || !same(r.target, req->target) || r.version_minor != 1)
        abort();
    if (r.body != req->body || (r.body == CG_BODY_LENGTH && r.content_length != req->content_length))
        abort(); /* the framing changed on the way */
    if (count(h, r.nheaders, "host") != 1 || count(h, r.nheaders, "x-forwarded-for") != 1 ||
        count(h, r.nheaders, "x-forwarded-proto") != 1 || count(h, r.nheaders, "x-request-id") != 1 ||
        count(h, r.nheaders, "authorization") != 1 || count(h, r.nheaders, "x-client-cert-subject") != 1)
        abort(); /* only the proxy's own */
    static const char *const never[] = { "connection", "keep-alive", "proxy-connection", "te", "trailer",
                                         "upgrade", "expect", "proxy-authorization", "forwarded",
                                         "x-forwarded-host", "x-certgate-principal", NULL };
    for (int i = 0; never[i]; i++)
        if (count(h, r.nheaders, never[i]))
            abort();
    if (count(h, r.nheaders, "content-length") > 1 || count(h, r.nheaders, "transfer-encoding") > 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t head_len = 0;
    cg_refusal why;
    cg_head_scan st = cg_http_scan_head(buf, size, &lim, false, &head_len, &why);
    if (st == CG_HEAD_INVALID) {
        if (!why.detail[0] || (why.kind != CG_REFUSE_BAD_REQUEST && why.kind != CG_REFUSE_HEAD_TOO_LARGE))
            abort();
        return 0;
    }
    if (st == CG_HEAD_INCOMPLETE)
        return 0;
    if (head_len < 4 || head_len > size || memcmp(buf + head_len - 4, "\r\n\r\n", 4) != 0)
        abort();
    size_t shorter;
    if (cg_http_scan_head(buf, head_len - 1, &lim, false, &shorter, &why) != CG_HEAD_INCOMPLETE)
        abort(); /* no head ends before its CRLF CRLF */

    /* The parser reads exactly the head (the rest of the input is a body or
     * the next request). */
    char *head = malloc(head_len);
    memcpy(head, buf, head_len);
    http_parser p;
    cg_http_header hdrs[MAXH];
    cg_http_request req;
    bool ok = cg_http_parse_request(&p, head, head_len, hdrs, MAXH, &req, &why);
    /* With the scanner's proof for these bytes (no second scan): the same. */
    cg_head_scanner sc = CG_HEAD_SCANNER_INIT;
    size_t hl2 = 0;
    cg_refusal why2;
    if (cg_http_scan_head_more(&sc, head, head_len, &lim, false, &hl2, &why2) != CG_HEAD_COMPLETE || hl2 != head_len)
        abort();
    http_parser p2;
    cg_http_header hdrs2[MAXH];
    cg_http_request req2;
    bool ok2 = cg_http_parse_request_scanned(&p2, head, head_len, &sc, hdrs2, MAXH, &req2, &why2);
    if (sc.scanned_head || ok2 != ok || (!ok && (why.kind != why2.kind || strcmp(why.detail, why2.detail) != 0)) ||
        (ok && (req.nheaders != req2.nheaders || req.body != req2.body || req.content_length != req2.content_length ||
                req.keep_alive != req2.keep_alive || req.message_complete != req2.message_complete)))
        abort();
    if (ok) {
        if (req.nheaders > MAXH || req.method.n == 0 || req.target.n == 0 ||
            (req.version_minor != 0 && req.version_minor != 1))
            abort();
        static const cg_http_header extra[] = {
            { CG_SLICE_LIT("Authorization"), CG_SLICE_LIT("Negotiate YIIfuzz") },
            { CG_SLICE_LIT("X-Client-Cert-Subject"), CG_SLICE_LIT("CN=alice,O=Example\r\nX-Injected: 1") },
        };
        cg_forward_ctx ctx = {
            .client_ip = CG_SLICE_LIT("127.0.0.1"),
            .default_host = CG_SLICE_LIT("backend.test"),
            .request_id = CG_SLICE_LIT("0123456789abcdef"),
            .extra = extra,
            .nextra = 2,
        };
        cg_buf out = { 0 };
        if (!cg_http_write_backend_head(&req, &ctx, &out))
            abort();
        check_backend_head(&req, &out);
        cg_buf_free(&out);
    } else if (!why.detail[0] || (why.kind != CG_REFUSE_BAD_REQUEST && why.kind != CG_REFUSE_METHOD)) {
        abort();
    }
    free(head);
    return 0;
}
