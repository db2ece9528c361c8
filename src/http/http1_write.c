/* HTTP/1.1 head writing (see http1_write.h): the heads certgate writes from
 * a parsed one (http1.h), each in one buffer reserved up front; which client
 * headers are forwarded is header_names.c's.
 */
#include "http1_write.h"

#include <string.h>

#include "base/base.h"

/* ------------------------------------------------------------------------ */
/* the heads                                                                */

/* Each head is sized once (an upper bound: every field of the message
 * counted, kept or not) and reserved in one cg_buf_reserve; then written
 * through a cursor with plain copies, no bounds checks per piece. */

/* Most pieces of a head are short (names, small values, whole field
 * lines): copied with two overlapping fixed-size moves, not a call to
 * memcpy each. */
/* Inlined wherever a head is written: a call per piece would cost about
 * as much as the copy. */
#define HOT static inline __attribute__((always_inline))

HOT char *put(char *p, const char *s, size_t n)
{
    if (n <= 16) {
        if (n >= 8) {
            memcpy(p, s, 8);
            memcpy(p + n - 8, s + n - 8, 8);
        } else if (n >= 4) {
            memcpy(p, s, 4);
            memcpy(p + n - 4, s + n - 4, 4);
        } else if (n) {
            p[0] = s[0];
            p[n / 2] = s[n / 2];
            p[n - 1] = s[n - 1];
        }
    } else if (n <= 32) {
        memcpy(p, s, 16);
        memcpy(p + n - 16, s + n - 16, 16);
    } else {
        memcpy(p, s, n);
    }
    return p + n;
}

/* A literal, its length known where it is written. */
#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/* "name: value\r\n". A field as most clients and servers write it has
 * exactly ": " between its name and its value in the head it was parsed
 * from: then "name: value" is one piece. */
HOT char *put_field(char *p, cg_slice name, cg_slice value)
{
    if (value.p == name.p + name.n + 2 && name.p[name.n] == ':' && name.p[name.n + 1] == ' ') {
        p = put(p, name.p, name.n + 2 + value.n);
    } else {
        p = put(p, name.p, name.n);
        *p++ = ':';
        *p++ = ' ';
        p = put(p, value.p, value.n);
    }
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

#define FIELD_SIZE(name, value) ((name).n + (value).n + 4)

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
static char *put_sanitized(char *p, cg_slice s)
{
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        *p++ = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
    }
    return p;
}

static size_t headers_size(const cg_http_header *h, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += FIELD_SIZE(h[i].name, h[i].value);
    return total;
}

/* Whether the message's Connection fields name name (it is hop-by-hop),
 * answered from what the parse found (connection, CG_CONNECTION_*) when it
 * can be: most name only close or keep-alive, and then no field needs its
 * own walk over them (cg_http_named_by_connection). A message with a
 * Connection field whose bits were not filled in (not from the parse) is
 * walked. */
HOT bool named_by_connection(unsigned connection, bool has_field, const cg_http_header *h, size_t n,
                                cg_slice name)
{
    if (!has_field)
        return false;
    if ((connection & CG_CONNECTION_OTHER) || !(connection & CG_CONNECTION_FIELD))
        return cg_http_named_by_connection(h, n, name);
    return ((connection & CG_CONNECTION_CLOSE) && cg_slice_ieq(name, "close")) ||
           ((connection & CG_CONNECTION_KEEP_ALIVE) && cg_slice_ieq(name, "keep-alive"));
}

bool cg_http_write_backend_head(const cg_http_request *req, const cg_forward_ctx *ctx, cg_buf *out)
{
    const cg_http_header *h = req->headers;
    size_t n = req->nheaders;
    const cg_header_policy *policy = ctx->strip;
    bool has_conn = (req->connection & CG_CONNECTION_FIELD) != 0, has_host = false;
    size_t need = req->method.n + 1 + req->target.n + sizeof " HTTP/1.1\r\n" - 1 + ctx->extra_block.n +
                  headers_size(ctx->extra, ctx->nextra) + sizeof "\r\n" - 1;
    /* ("host" and "connection" have no '-': CG_HEADER_NAME_IS is then the
     * plain case-insensitive comparison.) */
    for (size_t i = 0; i < n; i++) {
        need += FIELD_SIZE(h[i].name, h[i].value);
        if (h[i].name.n == 4)
            has_host = has_host || CG_HEADER_NAME_IS(h[i].name, "host");
        else if (h[i].name.n == 10 && !has_conn)
            has_conn = (h[i].name.p[0] | 0x20) == 'c' && CG_HEADER_NAME_IS(h[i].name, "connection");
    }
    bool add_host = !has_host && ctx->default_host.n;
    if (add_host)
        need += sizeof "Host: \r\n" - 1 + ctx->default_host.n;
    if (ctx->upgrade.n)
        need += sizeof "Connection: Upgrade\r\nUpgrade: \r\n" - 1 + ctx->upgrade.n;
    if (ctx->client_ip.n)
        need += sizeof "X-Forwarded-For: \r\n" - 1 + ctx->client_ip.n;
    need += sizeof "X-Forwarded-Proto: https\r\n" - 1;
    if (ctx->request_id.n)
        need += sizeof "X-Request-Id: \r\n" - 1 + ctx->request_id.n;
    need += sizeof "Content-Length: \r\n" - 1 + 20; /* longer than "Transfer-Encoding: chunked\r\n" */
    if (!cg_buf_reserve(out, need))
        return false;

    char *start = out->data + out->len, *p = start;
    p = put(p, req->method.p, req->method.n);
    *p++ = ' ';
    p = put(p, req->target.p, req->target.n);
    p = PUT_LIT(p, " HTTP/1.1\r\n");
    if (add_host)
        p = put_field(p, CG_SLICE_LIT("Host"), ctx->default_host);
    /* Only a listener that strips names of its own asks about every
     * field; otherwise an ordinary name (class 0) simply passes. */
    bool ask_policy = policy && policy->nstrip;
    for (size_t i = 0; i < n; i++) {
        cg_slice name = h[i].name;
        unsigned cls = cg_header_name_class(name, CG_HEADER_DROPPED | CG_HEADER_TRUSTED | CG_HEADER_HOST);
        if ((cls & (CG_HEADER_DROPPED | CG_HEADER_TRUSTED)) || ask_policy)
            if (cg_http_request_header_stripped_as(name, cls, policy))
                continue;
        /* Host stays even if Connection names it: the backend needs it
         * and a client must not be able to swap in the default host. */
        if (!(cls & CG_HEADER_HOST) && named_by_connection(req->connection, has_conn, h, n, name))
            continue;
        p = put_field(p, name, h[i].value);
    }
    /* The client's Connection and Upgrade never pass (hop-by-hop); an
     * upgrade the route allows is offered in certgate's own words. */
    if (ctx->upgrade.n) {
        p = PUT_LIT(p, "Connection: Upgrade\r\n");
        p = put_field(p, CG_SLICE_LIT("Upgrade"), ctx->upgrade);
    }
    if (ctx->client_ip.n)
        p = put_field(p, CG_SLICE_LIT("X-Forwarded-For"), ctx->client_ip);
    p = PUT_LIT(p, "X-Forwarded-Proto: https\r\n");
    if (ctx->request_id.n)
        p = put_field(p, CG_SLICE_LIT("X-Request-Id"), ctx->request_id);
    p = put(p, ctx->extra_block.p, ctx->extra_block.n);
    for (size_t i = 0; i < ctx->nextra; i++) {
        p = put_sanitized(p, ctx->extra[i].name);
        *p++ = ':';
        *p++ = ' ';
        p = put_sanitized(p, ctx->extra[i].value);
        *p++ = '\r';
        *p++ = '\n';
    }
    if (req->body == CG_BODY_LENGTH) {
        p = PUT_LIT(p, "Content-Length: ");
        p = cg_put_dec(p, req->content_length);
        p = PUT_LIT(p, "\r\n");
    } else if (req->body == CG_BODY_CHUNKED) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    p = PUT_LIT(p, "\r\n");
    out->len += (size_t)(p - start);
    return true;
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

/* Hop-by-hop fields of a response (RFC 9110 7.6.1), plus the framing and
 * X-Request-Id that the proxy writes itself, and WWW-Authenticate: the
 * client's Authorization never reaches a backend (certgate authenticates
 * to it, with Kerberos), so no challenge of a backend can be answered by
 * the client, and a Negotiate one (a 401, or the mutual-authentication
 * token of a 200) would only invite the browser into Kerberos with
 * certgate's host. Those are CG_HEADER_NOT_RETURNED (header_names.h); then
 * the fields the backend's Connection fields name. */
HOT bool header_kept(const cg_http_response *res, size_t i, bool keep_cl)
{
    cg_slice name = res->headers[i].name;
    unsigned cls = cg_header_name_class(name, CG_HEADER_NOT_RETURNED | CG_HEADER_CONTENT_LENGTH);
    if (keep_cl && (cls & CG_HEADER_CONTENT_LENGTH))
        return true;
    return !(cls & CG_HEADER_NOT_RETURNED) &&
           !named_by_connection(res->connection, res->connection != 0, res->headers, res->nheaders, name);
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
    cg_slice reason = res->reason;
    if (!reason.n) {
        const char *r = reason_for(res->status);
        reason = (cg_slice){ r, strlen(r) };
    }
    size_t need = sizeof "HTTP/1.1 000 \r\n" - 1 + reason.n + headers_size(h, n) +
                  sizeof "Content-Length: \r\n" - 1 + 20 + /* longer than "Transfer-Encoding: chunked\r\n" */
                  sizeof "Connection: keep-alive\r\n" - 1 + /* longer than "Connection: close\r\n" */
                  sizeof "X-Request-Id: \r\n" - 1 + request_id.n + sizeof "\r\n" - 1;
    if (!cg_buf_reserve(out, need))
        return false;

    char *start = out->data + out->len, *p = start;
    p = PUT_LIT(p, "HTTP/1.1 ");
    *p++ = (char)('0' + code / 100);
    *p++ = (char)('0' + code / 10 % 10);
    *p++ = (char)('0' + code % 10);
    *p++ = ' ';
    p = put(p, reason.p, reason.n);
    p = PUT_LIT(p, "\r\n");
    for (size_t i = 0; i < n; i++)
        if (header_kept(res, i, keep_cl))
            p = put_field(p, h[i].name, h[i].value);
    if (fr == CG_CLIENT_BODY_LENGTH) {
        p = PUT_LIT(p, "Content-Length: ");
        p = cg_put_dec(p, res->content_length);
        p = PUT_LIT(p, "\r\n");
    } else if (fr == CG_CLIENT_BODY_CHUNKED) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    if (!informational) {
        if (!keep_client)
            p = PUT_LIT(p, "Connection: close\r\n");
        else if (client_version_minor == 0)
            p = PUT_LIT(p, "Connection: keep-alive\r\n"); /* 1.0 closes by default */
    }
    if (request_id.n)
        p = put_field(p, CG_SLICE_LIT("X-Request-Id"), request_id);
    p = PUT_LIT(p, "\r\n");
    out->len += (size_t)(p - start);
    return true;
}

bool cg_http_write_switch_head(const cg_http_response *res, cg_slice protocol, cg_slice request_id, cg_buf *out)
{
    const cg_http_header *h = res->headers;
    size_t n = res->nheaders;
    size_t need = sizeof "HTTP/1.1 101 Switching Protocols\r\n" - 1 + headers_size(h, n) +
                  sizeof "Connection: Upgrade\r\nUpgrade: \r\n" - 1 + protocol.n + sizeof "X-Request-Id: \r\n" - 1 +
                  request_id.n + sizeof "\r\n" - 1;
    if (!cg_buf_reserve(out, need))
        return false;
    char *start = out->data + out->len, *p = start;
    p = PUT_LIT(p, "HTTP/1.1 101 Switching Protocols\r\n");
    for (size_t i = 0; i < n; i++)
        if (header_kept(res, i, false))
            p = put_field(p, h[i].name, h[i].value);
    p = PUT_LIT(p, "Connection: Upgrade\r\n");
    p = put_field(p, CG_SLICE_LIT("Upgrade"), protocol);
    if (request_id.n)
        p = put_field(p, CG_SLICE_LIT("X-Request-Id"), request_id);
    p = PUT_LIT(p, "\r\n");
    out->len += (size_t)(p - start);
    return true;
}
