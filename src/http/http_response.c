/* The response half of an exchange: backend bytes -> client. The response
 * head is scanned as it arrives (resuming where the last scan stopped),
 * parsed, rewritten and sent; the body is streamed with strict chunked
 * framing (chunked.h) and backpressure (backend reads stop while the
 * client's output is over the high-water mark); a response that fails after
 * its head was accepted becomes a 502 page while nothing of it has reached
 * the client, and an aborted connection afterwards. The request half, and
 * what both share, is http_proxy.c.
 */
#include "http_proxy_internal.h"

#include <stdio.h>
#include <string.h>

#include "access_log.h"
#include "base/base.h"
#include "token_size.h"

static int res_on_body(http_parser *p, const char *at, size_t len);
static int res_on_message_complete(http_parser *p);
static void process_response(cg_conn *c);

static const http_parser_settings res_body_settings = {
    .on_body = res_on_body,
    .on_message_complete = res_on_message_complete,
};

static void on_backend_timeout(uv_timer_t *t)
{
    cg_backend_conn *bc = t->data;
    cg_conn *c = bc->owner;
    if (!c)
        return;
    cg_exchange *ex = cg_http_ex(c);
    uint32_t ms = cg_exchange_response_timeout(ex);
    /* The setting in force: the route's own, or the top-level one. */
    char key[600];
    if (ex->route && ex->route->backend_response_ms)
        cg_fmt_into(key, sizeof key, "timeouts.backend_response of route \"%s\"", ex->route->path);
    else
        cg_fmt_into(key, sizeof key, "timeouts.backend_response");
    if (ex->res_head_sent) {
        cg_log(CG_LOG_WARN, "backend_timeout", "id=%s backend=%s detail=\"response body stalled for %u ms (%s)\"",
               ex->id, cg_exchange_backend(ex)->name, ms, key);
        cg_conn_close(c, false);
        return;
    }
    cg_refusal why;
    cg_refuse(&why, CG_REFUSE_BACKEND_TIMEOUT, "Backend \"%s\" (%s) did not send a response within %u ms (%s).",
              cg_exchange_backend(ex)->name, cg_exchange_backend(ex)->url, ms, key);
    cg_proxy_refuse(c, &why, true);
}

static void be_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cg_backend_conn *bc = h->data;
    (void)suggested;
    if (!bc->rbuf) {
        bc->rcap = 16384;
        cg_conn *c = bc->owner;
        const cg_config *cfg = c ? cg_http_ex(c)->cfg : NULL;
        if (cfg && cfg->limits.max_response_head > bc->rcap)
            bc->rcap = cfg->limits.max_response_head;
        bc->rbuf = cg_spares_get(&bc->w->spare_rbuf, bc->rcap);
        if (!bc->rbuf)
            bc->rcap = 0;
    }
    buf->base = bc->rbuf + bc->rlen;
    buf->len = bc->rcap - bc->rlen;
}

/* The response failed after its head was accepted. When nothing of it has
 * reached TLS yet, the head is taken back and the client gets a 502 page;
 * otherwise the connection is aborted (no close_notify), so the client sees
 * a truncated response, never one that looks complete. */
void cg_response_failed(cg_conn *c, const char *what)
{
    cg_exchange *ex = cg_http_ex(c);
    const cg_backend_cfg *b = cg_exchange_backend(ex);
    cg_proxy_drop_backend(ex, false);
    if (c->plain_sent == ex->res_mark) {
        cg_conn_unstage(c);
        ex->res_head_sent = false;
        ex->bytes_out = 0;
        cg_refusal why;
        cg_refuse(&why, CG_REFUSE_BACKEND_BAD_RESPONSE, "Backend \"%s\" (%s) %s.", b->name, b->url, what);
        cg_proxy_refuse(c, &why, true);
        return;
    }
    cg_log(CG_LOG_WARN, "backend_failed", "id=%s backend=%s detail=\"%s after the response started\"", ex->id,
           b->name, what);
    ex->keep_client = false;
    cg_conn_close(c, false);
}

static void be_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cg_backend_conn *bc = s->data;
    cg_conn *c = bc->owner;
    (void)buf;
    if (!c || nread == 0)
        return;
    cg_exchange *ex = cg_http_ex(c);
    if (nread < 0) {
        if (nread == UV_EOF && ex->res_head_sent && ex->res.body == CG_BODY_UNTIL_CLOSE) {
            bc->rlen = 0;
            cg_body_framing_eof(&ex->res_frame, &ex->res_parser, &res_body_settings); /* EOF ends the body */
            if (ex->res_done) {
                process_response(c);
                return;
            }
        }
        char what[160];
        snprintf(what, sizeof what, "closed the connection (%s)",
                 nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
        cg_proxy_backend_failed(c, what);
        return;
    }
    bc->rlen += (size_t)nread;
    process_response(c);
}

/* ---- response ---- */

static int res_on_body(http_parser *p, const char *at, size_t len)
{
    cg_conn *c = p->data;
    cg_exchange *ex = cg_http_ex(c);
    ex->bytes_out += len;
    if (ex->framing == CG_CLIENT_BODY_NONE)
        return 0;
    if (ex->framing == CG_CLIENT_BODY_CHUNKED) {
        size_t k = cg_http_chunk_line(ex->chunk_line, len);
        if (!cg_conn_write(c, ex->chunk_line, (size_t)k) || !cg_conn_write(c, at, len) ||
            !cg_conn_write(c, "\r\n", 2))
            return -1;
        return 0;
    }
    return cg_conn_write(c, at, len) ? 0 : -1;
}

static int res_on_message_complete(http_parser *p)
{
    cg_conn *c = p->data;
    cg_http_ex(c)->res_done = true;
    http_parser_pause(p, 1); /* anything after this is not ours to forward */
    return 0;
}

static void complete_response(cg_conn *c, bool backend_clean)
{
    cg_exchange *ex = cg_http_ex(c);
    if (ex->framing == CG_CLIENT_BODY_CHUNKED && !cg_conn_write(c, "0\r\n\r\n", 5)) {
        cg_conn_close(c, false);
        return;
    }
    if (ex->framing == CG_CLIENT_BODY_CLOSE)
        ex->keep_client = false;
    /* A response that ends the connection leaves with its close_notify
     * (the graceful close gathers both into one write, conn.c); a client
     * that already ended its side gets it now (that close is abrupt). */
    bool closes = !ex->keep_client || c->draining || !ex->req_done;
    if ((!closes || c->eof) && !cg_conn_flush(c)) {
        cg_conn_close(c, false);
        return;
    }
    cg_backend_conn *bc = ex->bc;
    /* The connection of an upgrade that did not happen stays its request's. */
    bool reusable = backend_clean && ex->res.keep_alive && ex->req_done && bc && !bc->write_pending &&
                    !ex->upgrade[0];
    if (bc)
        cg_backend_answered(bc, ex->sent_token, ex->res.status);
    cg_proxy_drop_backend(ex, reusable);
    cg_access_log_request(c);
    cg_proxy_finish_exchange(c);
}

/* A backend's 101: the switch it offers is the one certgate offered, or a
 * 502 (never a tunnel nobody asked for); then the connection is a tunnel. */
static void switch_protocols(cg_conn *c, size_t head_len)
{
    cg_exchange *ex = cg_http_ex(c);
    const cg_backend_cfg *b = cg_exchange_backend(ex);
    cg_slice proto;
    cg_refusal why;
    if (!ex->upgrade[0]) {
        cg_refuse(&why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "Backend \"%s\" (%s) answered 101 Switching Protocols to a request that offered no upgrade "
                  "(route \"%s\" %s).", b->name, b->url, ex->route->path,
                  ex->route->nupgrade ? "allows upgrades, but this request was no upgrade it allows"
                                      : "allows none: routes[].upgrade");
        cg_proxy_refuse(c, &why, true);
        return;
    }
    if (!cg_upgrade_accepted(ex->upgrade, ex->res.headers, ex->res.nheaders, &proto)) {
        cg_refuse(&why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "Backend \"%s\" (%s) answered 101 Switching Protocols without switching to the protocol offered "
                  "(\"%s\"): its 101 must have one Upgrade header naming it and Connection: upgrade.",
                  b->name, b->url, ex->upgrade);
        cg_proxy_refuse(c, &why, true);
        return;
    }
    ex->head.len = 0;
    if (!cg_http_write_switch_head(&ex->res, proto, (cg_slice){ ex->id, ex->id_len }, &ex->head) ||
        !cg_conn_write(c, ex->head.data, ex->head.len)) {
        cg_conn_close(c, false);
        return;
    }
    ex->status = 101;
    ex->res_head_sent = true;
    cg_backend_set_timer(ex->bc, 0, NULL);
    cg_proxy_switch_to_tunnel(c, head_len);
}

static void process_response(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    cg_backend_conn *bc = ex->bc;
    size_t off = 0;

    while (!ex->res_head_sent) {
        size_t head_len = 0;
        cg_refusal why;
        cg_http_limits lim = { ex->cfg->limits.max_response_head, ex->cfg->limits.max_response_head,
                               ex->cfg->limits.max_headers };
        cg_head_scan r = cg_http_scan_head_more(&ex->res_scan, bc->rbuf, bc->rlen, &lim, true, &head_len, &why);
        if (r == CG_HEAD_INCOMPLETE) {
            if (bc->rlen < bc->rcap)
                return; /* wait for more */
            cg_refuse(&why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                      "Backend \"%s\" sent a response head larger than %u bytes (limits.max_response_head).",
                      cg_exchange_backend(ex)->name, ex->cfg->limits.max_response_head);
            r = CG_HEAD_INVALID;
        }
        if (r == CG_HEAD_INVALID ||
            !cg_http_parse_response_scanned(&ex->res_parser, bc->rbuf, head_len, &ex->res_scan, ex->is_head,
                                            ex->hdrs + ex->hdrs_cap, ex->hdrs_cap, &ex->res, &why)) {
            cg_refusal bad;
            cg_refuse(&bad, CG_REFUSE_BACKEND_BAD_RESPONSE, "Backend \"%s\" sent an invalid response: %.600s",
                      cg_exchange_backend(ex)->name, why.detail);
            cg_proxy_refuse(c, &bad, true);
            return;
        }
        if (ex->res.status == 101) {
            switch_protocols(c, head_len);
            return;
        }
        if (ex->res.status < 200) {
            /* Interim responses (100 Continue ...): the proxy already
             * answered Expect itself; drop them. */
            memmove(bc->rbuf, bc->rbuf + head_len, bc->rlen - head_len);
            bc->rlen -= head_len;
            ex->res_scan = CG_HEAD_SCANNER_INIT;
            continue;
        }
        if (ex->res.status == 401 && cg_proxy_retry_after_401(c))
            return;
        cg_refusal big; /* a 400/413/431 to the size of the token we added: say so (token_size.h) */
        if (ex->sent_token && cg_token_too_large(&(cg_token_answer){ ex->res.status, !ex->res.keep_alive,
                ex->head.len - ex->head_base_len - 2, ex->head.len, cg_exchange_backend(ex)->name,
                cg_exchange_backend(ex)->url, cg_http_session_of(c)->client.principal }, &big)) {
            cg_proxy_drop_backend(ex, false);
            cg_proxy_refuse(c, &big, false);
            return;
        }
        bool keep = ex->req.keep_alive && !c->draining;
        uint32_t maxreq = ex->cfg->limits.max_requests_per_connection;
        if (maxreq && cg_http_session_of(c)->requests + 1 >= maxreq)
            keep = false;
        ex->keep_client = keep;
        ex->head.len = 0;
        if (!cg_http_write_client_head(&ex->res, ex->is_head, ex->req.version_minor, keep,
                                       (cg_slice){ ex->id, ex->id_len }, &ex->head, &ex->framing)) {
            cg_conn_close(c, false);
            return;
        }
        if (ex->framing == CG_CLIENT_BODY_CLOSE)
            ex->keep_client = false;
        ex->status = ex->res.status;
        ex->res_head_sent = true;
        ex->res_parser.data = c;
        cg_body_framing_start(&ex->res_frame, ex->res.body, ex->res.content_length);
        /* Until plain_sent moves, the head can still be taken back for a
         * 502 page (response_failed). */
        if (!cg_conn_flush(c)) {
            cg_conn_close(c, false);
            return;
        }
        ex->res_mark = c->plain_sent;
        if (!cg_conn_write(c, ex->head.data, ex->head.len)) {
            cg_conn_close(c, false);
            return;
        }
        off = head_len;
        if (ex->res.message_complete) {
            complete_response(c, bc->rlen == head_len);
            return;
        }
    }

    if (off < bc->rlen) {
        size_t avail = bc->rlen - off;
        const char *bad;
        size_t n = cg_body_framing_execute(&ex->res_frame, &ex->res_parser, &res_body_settings, bc->rbuf + off,
                                           avail, &bad);
        enum http_errno e = HTTP_PARSER_ERRNO(&ex->res_parser);
        if (bad || (e != HPE_OK && e != HPE_PAUSED)) {
            if (!bad && e == HPE_CB_body) { /* the client went away */
                cg_conn_close(c, false);
                return;
            }
            char what[200];
            snprintf(what, sizeof what, "sent an invalid response body (%s)", bad ? bad : http_errno_description(e));
            cg_response_failed(c, what);
            return;
        }
        bc->rlen = 0;
        if (ex->res_done) {
            complete_response(c, n == avail);
            return;
        }
    }
    bc->rlen = 0;
    if (ex->res_done) {
        complete_response(c, true);
        return;
    }
    if (!cg_conn_flush(c)) {
        cg_conn_close(c, false);
        return;
    }
    cg_backend_set_timer(bc, cg_exchange_response_timeout(ex), on_backend_timeout);
    if (c->out_queued > CG_OUT_HIGH_WATER && !ex->res_paused) {
        ex->res_paused = true;
        cg_backend_pause(bc);
        cg_backend_set_timer(bc, 0, NULL);
        /* The client now sets the pace; give up on one that stops reading. */
        cg_conn_set_timer(c, ex->cfg->timeouts.client_body, cg_proxy_on_body_timeout);
    }
}

void cg_proxy_on_drain(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    if (ex->out_blocked) {
        ex->out_blocked = false;
        cg_proxy_pump(c);
        return;
    }
    if (!ex->res_paused || !ex->bc)
        return;
    ex->res_paused = false;
    if (ex->req_done)
        cg_conn_set_timer(c, 0, NULL);
    cg_backend_resume(ex->bc);
    cg_backend_set_timer(ex->bc, cg_exchange_response_timeout(ex), on_backend_timeout);
}

void cg_response_start(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    cg_backend_set_reader(ex->bc, be_alloc, be_read);
    cg_backend_set_timer(ex->bc, cg_exchange_response_timeout(ex), on_backend_timeout);
}
