/* HTTP/1.1 head writing (see http1_write.h): the heads certgate writes from
 * a parsed one (http1.h), each in one buffer reserved up front; which client
 * headers are forwarded is header_names.c's.
 */
#include "http1_write.h"

#include <stdio.h>
#include <string.h>

#include "base/base.h"

/* ------------------------------------------------------------------------ */
/* the heads                                                                */

/* Hop-by-hop fields of a response (RFC 9110 7.6.1), plus the framing and
 * X-Request-Id that the proxy writes itself, and WWW-Authenticate: the
 * client's Authorization never reaches a backend (certgate authenticates
 * to it, with Kerberos), so no challenge of a backend can be answered by
 * the client, and a Negotiate one (a 401, or the mutual-authentication
 * token of a 200) would only invite the browser into Kerberos with
 * certgate's host. */
static bool response_header_dropped(cg_slice name)
{
    switch (name.n) {
    case 2:  return CG_HEADER_NAME_IS(name, "te");
    case 7:  return CG_HEADER_NAME_IS(name, "trailer") || CG_HEADER_NAME_IS(name, "upgrade");
    case 10: return CG_HEADER_NAME_IS(name, "connection") || CG_HEADER_NAME_IS(name, "keep-alive");
    case 12: return CG_HEADER_NAME_IS(name, "x-request-id");
    case 14: return CG_HEADER_NAME_IS(name, "content-length");
    case 16: return CG_HEADER_NAME_IS(name, "proxy-connection") || CG_HEADER_NAME_IS(name, "www-authenticate");
    case 17: return CG_HEADER_NAME_IS(name, "transfer-encoding");
    case 18: return CG_HEADER_NAME_IS(name, "proxy-authenticate");
    case 19: return CG_HEADER_NAME_IS(name, "proxy-authorization");
    default: return false;
    }
}

/* Appends after the single up-front reserve: never reallocates then, and
 * stays correct (just slower) should the estimate ever be short. */
static bool put(cg_buf *b, const char *p, size_t n) { return cg_buf_append(b, p, n); }

static bool put_str(cg_buf *b, const char *s) { return put(b, s, strlen(s)); }

/* "name: value\r\n", one reserve for the four pieces (a head is mostly these). */
static bool put_header(cg_buf *b, cg_slice name, cg_slice value)
{
    size_t n = name.n + value.n + 4;
    if (!cg_buf_reserve(b, n))
        return false;
    char *p = b->data + b->len;
    if (name.n)
        memcpy(p, name.p, name.n);
    p += name.n;
    *p++ = ':';
    *p++ = ' ';
    if (value.n)
        memcpy(p, value.p, value.n);
    p += value.n;
    *p++ = '\r';
    *p = '\n';
    b->len += n;
    return true;
}

static bool put_u64(cg_buf *b, uint64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return put(b, p, (size_t)(tmp + sizeof tmp - p));
}

size_t cg_http_chunk_line(char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16], *p = tmp + sizeof tmp;
    do
        *--p = hex[len & 15];
    while ((len >>= 4) != 0);
    size_t n = (size_t)(tmp + sizeof tmp - p);
    memcpy(out, p, n);
    out[n] = '\r';
    out[n + 1] = '\n';
    return n + 2;
}

/* Extra headers come from certificates and configuration: a CR or LF in a
 * subject must not become a header of its own, so controls are replaced. */
static bool put_sanitized(cg_buf *b, cg_slice s)
{
    if (!cg_buf_reserve(b, s.n))
        return false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        b->data[b->len++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
    }
    return true;
}

static size_t headers_size(const cg_http_header *h, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += h[i].name.n + h[i].value.n + 4;
    return total;
}

bool cg_http_write_backend_head(const cg_http_request *req, const cg_forward_ctx *ctx, cg_buf *out)
{
    const cg_http_header *h = req->headers;
    size_t n = req->nheaders;
    bool has_conn = cg_http_find_header(h, n, "connection") != NULL;
    bool has_host = cg_http_find_header(h, n, "host") != NULL;

    size_t need = req->method.n + 1 + req->target.n + sizeof " HTTP/1.1\r\n" +
                  headers_size(h, n) + headers_size(ctx->extra, ctx->nextra) + ctx->extra_block.n +
                  sizeof "Host: \r\n" + ctx->default_host.n +
                  sizeof "X-Forwarded-For: \r\n" + ctx->client_ip.n +
                  sizeof "X-Forwarded-Proto: https\r\n" +
                  sizeof "X-Request-Id: \r\n" + ctx->request_id.n +
                  sizeof "Transfer-Encoding: chunked\r\n" + sizeof "Content-Length: \r\n" + 20 +
                  sizeof "Connection: Upgrade\r\nUpgrade: \r\n" + ctx->upgrade.n + 2;
    if (!cg_buf_reserve(out, need))
        return false;

    bool ok = put(out, req->method.p, req->method.n) && put(out, " ", 1) &&
              put(out, req->target.p, req->target.n) && put_str(out, " HTTP/1.1\r\n");
    if (ok && !has_host && ctx->default_host.n)
        ok = put_header(out, CG_SLICE_LIT("Host"), ctx->default_host);
    for (size_t i = 0; ok && i < n; i++) {
        if (cg_http_request_header_stripped(h[i].name, ctx->strip))
            continue;
        /* Host stays even if Connection names it: the backend needs it
         * and a client must not be able to swap in the default host. */
        if (has_conn && !cg_slice_ieq(h[i].name, "host") && cg_http_named_by_connection(h, n, h[i].name))
            continue;
        ok = put_header(out, h[i].name, h[i].value);
    }
    /* The client's Connection and Upgrade never pass (hop-by-hop); an
     * upgrade the route allows is offered in certgate's own words. */
    if (ok && ctx->upgrade.n)
        ok = put_str(out, "Connection: Upgrade\r\n") && put_header(out, CG_SLICE_LIT("Upgrade"), ctx->upgrade);
    if (ok && ctx->client_ip.n)
        ok = put_header(out, CG_SLICE_LIT("X-Forwarded-For"), ctx->client_ip);
    if (ok)
        ok = put_str(out, "X-Forwarded-Proto: https\r\n");
    if (ok && ctx->request_id.n)
        ok = put_header(out, CG_SLICE_LIT("X-Request-Id"), ctx->request_id);
    if (ok && ctx->extra_block.n)
        ok = put(out, ctx->extra_block.p, ctx->extra_block.n);
    for (size_t i = 0; ok && i < ctx->nextra; i++)
        ok = put_sanitized(out, ctx->extra[i].name) && put(out, ": ", 2) &&
             put_sanitized(out, ctx->extra[i].value) && put(out, "\r\n", 2);
    if (ok && req->body == CG_BODY_LENGTH)
        ok = put_str(out, "Content-Length: ") && put_u64(out, req->content_length) && put(out, "\r\n", 2);
    else if (ok && req->body == CG_BODY_CHUNKED)
        ok = put_str(out, "Transfer-Encoding: chunked\r\n");
    return ok && put(out, "\r\n", 2);
}

static const char *reason_for(int status)
{
    const char *s = http_status_str((enum http_status)status);
    if (s && strcmp(s, "<unknown>") != 0)
        return s;
    switch (status / 100) {
    case 1:  return "Informational";
    case 2:  return "Success";
    case 3:  return "Redirection";
    case 4:  return "Client Error";
    default: return "Server Error";
    }
}

/* Whether the response's Connection fields name name (it is hop-by-hop),
 * answered from what the parse found (res->connection) when it can be: most
 * name only close or keep-alive, and then no field needs its own walk over
 * them (cg_http_named_by_connection). */
static bool named_by_connection(const cg_http_response *res, cg_slice name)
{
    unsigned c = res->connection;
    if (!(c & CG_CONNECTION_FIELD))
        return false;
    if (c & CG_CONNECTION_OTHER)
        return cg_http_named_by_connection(res->headers, res->nheaders, name);
    return ((c & CG_CONNECTION_CLOSE) && cg_slice_ieq(name, "close")) ||
           ((c & CG_CONNECTION_KEEP_ALIVE) && cg_slice_ieq(name, "keep-alive"));
}

static bool header_kept(const cg_http_response *res, size_t i, bool keep_cl)
{
    cg_slice name = res->headers[i].name;
    if (keep_cl && CG_HEADER_NAME_IS(name, "content-length"))
        return true;
    return !response_header_dropped(name) && !named_by_connection(res, name);
}

bool cg_http_response_header_kept(const cg_http_response *res, size_t i, bool request_was_head)
{
    return header_kept(res, i, request_was_head || res->status == 304);
}

bool cg_http_write_client_head(const cg_http_response *res, bool request_was_head,
                               int client_version_minor, bool keep_client,
                               cg_slice request_id, cg_buf *out, cg_client_body *framing)
{
    const cg_http_header *h = res->headers;
    size_t n = res->nheaders;
    bool informational = res->status < 200;
    /* HEAD and 304 describe the representation: their Content-Length is
     * passed on as sent. 204 must not carry one at all (RFC 9110 8.6). */
    bool keep_cl = request_was_head || res->status == 304;

    cg_client_body fr;
    if (informational || request_was_head || res->status == 204 || res->status == 304)
        fr = CG_CLIENT_BODY_NONE;
    else if (res->body == CG_BODY_LENGTH)
        fr = CG_CLIENT_BODY_LENGTH;
    else if (res->body == CG_BODY_CHUNKED || res->body == CG_BODY_UNTIL_CLOSE)
        fr = client_version_minor >= 1 ? CG_CLIENT_BODY_CHUNKED : CG_CLIENT_BODY_CLOSE;
    else
        fr = CG_CLIENT_BODY_NONE;
    *framing = fr;
    if (fr == CG_CLIENT_BODY_CLOSE)
        keep_client = false; /* the close is the end of the body */

    int code = res->status % 1000;
    char status[4] = { (char)('0' + code / 100), (char)('0' + code / 10 % 10), (char)('0' + code % 10), '\0' };
    const char *reason = res->reason.n ? NULL : reason_for(res->status);

    size_t need = sizeof "HTTP/1.1 000 \r\n" + (reason ? strlen(reason) : res->reason.n) +
                  headers_size(h, n) + sizeof "Content-Length: \r\n" + 20 +
                  sizeof "Transfer-Encoding: chunked\r\n" + sizeof "Connection: keep-alive\r\n" +
                  sizeof "X-Request-Id: \r\n" + request_id.n + 2;
    if (!cg_buf_reserve(out, need))
        return false;

    bool ok = put_str(out, "HTTP/1.1 ") && put_str(out, status) && put(out, " ", 1) &&
              (reason ? put_str(out, reason) : put(out, res->reason.p, res->reason.n)) &&
              put(out, "\r\n", 2);
    for (size_t i = 0; ok && i < n; i++)
        if (header_kept(res, i, keep_cl))
            ok = put_header(out, h[i].name, h[i].value);
    if (ok && fr == CG_CLIENT_BODY_LENGTH)
        ok = put_str(out, "Content-Length: ") && put_u64(out, res->content_length) && put(out, "\r\n", 2);
    else if (ok && fr == CG_CLIENT_BODY_CHUNKED)
        ok = put_str(out, "Transfer-Encoding: chunked\r\n");
    if (ok && !informational) {
        if (!keep_client)
            ok = put_str(out, "Connection: close\r\n");
        else if (client_version_minor == 0)
            ok = put_str(out, "Connection: keep-alive\r\n"); /* 1.0 closes by default */
    }
    if (ok && request_id.n)
        ok = put_header(out, CG_SLICE_LIT("X-Request-Id"), request_id);
    return ok && put(out, "\r\n", 2);
}

bool cg_http_write_switch_head(const cg_http_response *res, cg_slice protocol, cg_slice request_id, cg_buf *out)
{
    const cg_http_header *h = res->headers;
    size_t n = res->nheaders;
    size_t need = sizeof "HTTP/1.1 101 Switching Protocols\r\n" + headers_size(h, n) +
                  sizeof "Connection: Upgrade\r\nUpgrade: \r\n" + protocol.n + sizeof "X-Request-Id: \r\n" +
                  request_id.n + 2;
    if (!cg_buf_reserve(out, need))
        return false;
    bool ok = put_str(out, "HTTP/1.1 101 Switching Protocols\r\n");
    for (size_t i = 0; ok && i < n; i++) {
        cg_slice name = h[i].name;
        if (response_header_dropped(name) || named_by_connection(res, name))
            continue;
        ok = put_header(out, name, h[i].value);
    }
    ok = ok && put_str(out, "Connection: Upgrade\r\n") && put_header(out, CG_SLICE_LIT("Upgrade"), protocol);
    if (ok && request_id.n)
        ok = put_header(out, CG_SLICE_LIT("X-Request-Id"), request_id);
    return ok && put(out, "\r\n", 2);
}
