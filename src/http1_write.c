/* HTTP/1.1 head writing (see http1_write.h): which client headers are
 * forwarded, and the heads certgate writes from a parsed one (http1.h), each
 * in one buffer reserved up front.
 */
#include "http1_write.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

static cg_slice slice(const char *p, size_t n) { return (cg_slice){ p, n }; }

/* ------------------------------------------------------------------------ */
/* which client headers are forwarded                                       */

/* Case-insensitive comparison with a lower-case literal in which '-' also
 * matches '_': CGI-style backends (and IIS server variables) map both to
 * '_', so "X_Client_Cert_Subject" would otherwise slip past as the identity
 * header. */
static bool name_is(cg_slice name, const char *lit, size_t litlen)
{
    if (name.n != litlen)
        return false;
    for (size_t i = 0; i < litlen; i++) {
        unsigned char c = cg_ascii_lower((unsigned char)name.p[i]);
        if (c == '_')
            c = '-';
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}

#define NAME_IS(name, lit) name_is((name), (lit), sizeof(lit) - 1)

static bool has_prefix(cg_slice name, const char *prefix, size_t n)
{
    return name.n >= n && name_is(slice(name.p, n), prefix, n);
}

/* certgate's identity headers: X-Client-Cert-* (the certificate) and
 * X-Certgate-* (the mapped principal ...): only certgate may set them. */
static bool is_identity_header(cg_slice name)
{
    static const char cert[] = "x-client-cert-", own[] = "x-certgate-";
    return has_prefix(name, cert, sizeof cert - 1) || has_prefix(name, own, sizeof own - 1);
}

bool cg_http_request_header_dropped(cg_slice name)
{
    if (name.n == 0)
        return false;
    if (is_identity_header(name))
        return true;
    /* Switch on length so that most headers cost one comparison at most. */
    switch (name.n) {
    case 2:  return NAME_IS(name, "te");
    case 6:  return NAME_IS(name, "expect");
    case 7:  return NAME_IS(name, "trailer") || NAME_IS(name, "upgrade");
    case 9:  return NAME_IS(name, "forwarded");
    case 10: return NAME_IS(name, "connection") || NAME_IS(name, "keep-alive");
    case 12: return NAME_IS(name, "x-request-id");
    case 13: return NAME_IS(name, "authorization");
    case 14: return NAME_IS(name, "content-length");
    case 15: return NAME_IS(name, "x-forwarded-for");
    case 16: return NAME_IS(name, "proxy-connection") || NAME_IS(name, "x-forwarded-host");
    case 17: return NAME_IS(name, "transfer-encoding") || NAME_IS(name, "x-forwarded-proto");
    case 18: return NAME_IS(name, "proxy-authenticate");
    case 19: return NAME_IS(name, "proxy-authorization");
    default: return false;
    }
}

/* Headers some backend or framework believes as a statement of who the
 * client is or which URL it asked for, when a front end sets them: IIS URL
 * Rewrite and ARR (X-Original-URL / X-Rewrite-URL replace the routed path),
 * client-certificate forwarding conventions of other proxies, "already
 * authenticated" users (Remote-User, Azure App Service, oauth2-proxy), and
 * client addresses other than X-Forwarded-For. A client is none of those
 * front ends. Stripped unless the listener keeps one (cg_header_policy). */
/* Lengths are computed by the compiler: the check runs for every header of
 * every request. An entry ending in '*' names a family by its prefix:
 * proxies invent new members (X-SSL-Client-DN, -Escaped-Cert, -Fingerprint
 * ...) faster than a list of exact names can follow. */
#define NAME(s) { s, sizeof s - 1, false }
#define FAMILY(s) { s "*", sizeof s - 1, true }
const cg_trusted_header cg_http_backend_trusted_headers[] = {
    NAME("x-original-url"), NAME("x-rewrite-url"),
    FAMILY("x-arr-"),
    NAME("x-forwarded-client-cert"), FAMILY("x-ssl-client-"), FAMILY("ssl-client-"), NAME("x-ssl-cert"),
    NAME("x-client-cert"), NAME("x-client-verify"), NAME("x-client-dn"),
    NAME("remote-user"), NAME("x-remote-user"), NAME("x-forwarded-user"), NAME("x-forwarded-email"),
    FAMILY("x-auth-request-"), FAMILY("x-ms-client-principal"),
    NAME("x-real-ip"), NAME("x-client-ip"), NAME("true-client-ip"), NAME("x-forwarded-server"),
    NAME("x-forwarded-port"), NAME("x-forwarded-prefix"), NAME("x-forwarded-ssl"), NAME("x-forwarded-scheme"),
    NAME("front-end-https"),
    { NULL, 0, false },
};
#undef NAME
#undef FAMILY

bool cg_http_backend_trusted_header(cg_slice name)
{
    for (const cg_trusted_header *t = cg_http_backend_trusted_headers; t->name; t++)
        if (t->family ? has_prefix(name, t->name, t->len) : name_is(name, t->name, t->len))
            return true;
    return false;
}

static bool listed(cg_slice name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (name_is(name, list[i], strlen(list[i])))
            return true;
    return false;
}

bool cg_http_request_header_stripped(cg_slice name, const cg_header_policy *p)
{
    if (cg_http_request_header_dropped(name))
        return true;
    if (cg_http_backend_trusted_header(name))
        return !p || !listed(name, p->keep, p->nkeep);
    return p && listed(name, p->strip, p->nstrip);
}

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
    case 2:  return NAME_IS(name, "te");
    case 7:  return NAME_IS(name, "trailer") || NAME_IS(name, "upgrade");
    case 10: return NAME_IS(name, "connection") || NAME_IS(name, "keep-alive");
    case 12: return NAME_IS(name, "x-request-id");
    case 14: return NAME_IS(name, "content-length");
    case 16: return NAME_IS(name, "proxy-connection") || NAME_IS(name, "www-authenticate");
    case 17: return NAME_IS(name, "transfer-encoding");
    case 18: return NAME_IS(name, "proxy-authenticate");
    case 19: return NAME_IS(name, "proxy-authorization");
    default: return false;
    }
}

/* Appends after the single up-front reserve: never reallocates then, and
 * stays correct (just slower) should the estimate ever be short. */
static bool put(cg_buf *b, const char *p, size_t n) { return cg_buf_append(b, p, n); }

static bool put_str(cg_buf *b, const char *s) { return put(b, s, strlen(s)); }

static bool put_header(cg_buf *b, cg_slice name, cg_slice value)
{
    return put(b, name.p, name.n) && put(b, ": ", 2) && put(b, value.p, value.n) && put(b, "\r\n", 2);
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
                  sizeof "Transfer-Encoding: chunked\r\n" + sizeof "Content-Length: \r\n" + 20 + 2;
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

bool cg_http_write_client_head(const cg_http_response *res, bool request_was_head,
                               int client_version_minor, bool keep_client,
                               cg_slice request_id, cg_buf *out, cg_client_body *framing)
{
    const cg_http_header *h = res->headers;
    size_t n = res->nheaders;
    bool has_conn = cg_http_find_header(h, n, "connection") != NULL;
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
    for (size_t i = 0; ok && i < n; i++) {
        cg_slice name = h[i].name;
        if (keep_cl && NAME_IS(name, "content-length")) {
            ok = put_header(out, name, h[i].value);
            continue;
        }
        if (response_header_dropped(name) || (has_conn && cg_http_named_by_connection(h, n, name)))
            continue;
        ok = put_header(out, name, h[i].value);
    }
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
