/* One HTTP/2 stream, its backend half: the HTTP/1.1 exchange on the
 * identity-scoped pools, the request body from DATA frames (acknowledged
 * once written), the response head and body through nghttp2's data
 * provider with the stream's buffer as the bound (h2_stream.h). */
#include "h2_stream_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_conn.h"
#include "http1_write.h"
#include "retry.h"
#include "token_size.h"

static void process_response(cg_h2_stream *st);
static void pump_body(cg_h2_stream *st, bool progress);
static void send_request(cg_h2_stream *st);

/* ---- backend ---- */

static void backend_failed(cg_h2_stream *st, const char *what)
{
    bool reused = st->bc && st->bc->served > 0;
    cg_retry_facts f = {
        .method = st->req.method,
        .has_body = st->req.body != CG_BODY_NONE,
        .request_sent = st->head_written,
        .reused = reused,
        .response_started = st->res_started || (st->bc && st->bc->rlen > 0),
        .retried = st->retried,
    };
    cg_h2_drop_backend(st, false);
    if (cg_retry_after_lost_connection(&f) == CG_RETRY_AGAIN && !st->res_started) {
        /* A pooled connection the backend had already closed: once more on
         * a new one, with a new token if the lost one was authenticated. */
        cg_log(CG_LOG_DEBUG, "backend_retry", "id=%s backend=%s reason=\"%s on a reused connection\"", st->rid,
               backend_of(st)->name, what);
        st->retried = st->fresh = true;
        if (cg_admit_new_connection_needs_token(&st->admit, st->sent_token)) {
            cg_admit_token_again(&st->admit, false, false);
            return;
        }
        send_request(st);
        return;
    }
    if (st->res_started) {
        cg_log(CG_LOG_WARN, "backend_failed", "id=%s backend=%s detail=\"%s after the response started\"", st->rid,
               backend_of(st)->name, what);
        nghttp2_submit_rst_stream(session_of(st)->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        cg_h2_send(st->c);
        return;
    }
    cg_refusal why;
    cg_refuse(&why, CG_REFUSE_BACKEND_BAD_RESPONSE, "Backend \"%s\" (%s) %s before sending a complete response head.",
              backend_of(st)->name, backend_of(st)->url, what);
    cg_h2_refuse(st, &why);
}

static void on_backend_timeout(uv_timer_t *t)
{
    cg_backend_conn *bc = t->data;
    cg_h2_stream *st = bc->owner;
    if (!st)
        return;
    if (st->res_started) {
        backend_failed(st, "stalled");
        return;
    }
    cg_refusal why;
    cg_refuse(&why, CG_REFUSE_BACKEND_TIMEOUT,
              "Backend \"%s\" (%s) did not send a response within %u ms (timeouts.backend_response).",
              backend_of(st)->name, backend_of(st)->url, st->cfg->timeouts.backend_response);
    cg_h2_refuse(st, &why);
}

static void be_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cg_backend_conn *bc = h->data;
    cg_h2_stream *st = bc->owner;
    (void)suggested;
    if (!bc->rbuf) {
        bc->rcap = 16384;
        if (st && st->cfg->limits.max_response_head > bc->rcap)
            bc->rcap = st->cfg->limits.max_response_head;
        bc->rbuf = cg_spares_get(&bc->w->spare_rbuf, bc->rcap);
        if (!bc->rbuf)
            bc->rcap = 0;
    }
    buf->base = bc->rbuf + bc->rlen;
    buf->len = bc->rcap - bc->rlen;
}

static int res_on_body(http_parser *p, const char *at, size_t len)
{
    cg_h2_stream *st = p->data;
    memcpy(st->out + st->out_len, at, len); /* fed no more than the room left (process_response) */
    st->out_len += len;
    st->bytes_out += len;
    return 0;
}

static int res_on_message_complete(http_parser *p)
{
    cg_h2_stream *st = p->data;
    st->res_done = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings res_body_settings = {
    .on_body = res_on_body,
    .on_message_complete = res_on_message_complete,
};

static void be_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cg_backend_conn *bc = s->data;
    cg_h2_stream *st = bc->owner;
    (void)buf;
    if (!st || nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && st->res_started && st->res.body == CG_BODY_UNTIL_CLOSE) {
            cg_body_framing_eof(&st->res_frame, &st->res_parser, &res_body_settings);
            if (st->res_done) {
                cg_h2_drop_backend(st, false);
                pump_body(st, true);
                return;
            }
        }
        backend_failed(st, nread == UV_EOF ? "closed the connection" : uv_strerror((int)nread));
        return;
    }
    bc->rlen += (size_t)nread;
    process_response(st);
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    (void)src, (void)user;
    cg_h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = st->out_len - st->out_pos;
    if (n == 0 && !st->res_done) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n > len)
        n = len;
    memcpy(buf, st->out + st->out_pos, n);
    st->out_pos += n;
    st->client_ns = uv_hrtime(); /* the client's window took it */
    if (st->out_pos == st->out_len) {
        st->out_pos = st->out_len = 0;
        if (st->res_done)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (st->res_paused && st->bc) { /* room again: read on (process_response pauses) */
            st->res_paused = false;
            cg_backend_resume(st->bc);
            cg_backend_set_timer(st->bc, st->cfg->timeouts.backend_response, on_backend_timeout);
        }
    }
    return (ssize_t)n;
}

/* The response's body bytes are in out (or it ended): the data provider
 * goes on. progress: something new to send (a head, body bytes, the end);
 * without it no send round is asked for (a round calls
 * cg_h2_stream_after_send, which calls this). */
static void pump_body(cg_h2_stream *st, bool progress)
{
    if (st->deferred && (st->out_len > st->out_pos || st->res_done)) {
        st->deferred = false;
        nghttp2_session_resume_data(session_of(st)->ng, st->id);
    }
    if (st->res_done) {
        if (st->bc)
            cg_backend_answered(st->bc, st->sent_token, st->res.status);
        cg_h2_drop_backend(st, st->res.keep_alive && st->req_done && st->bc && !st->bc->write_pending &&
                             st->bc->rlen == 0);
    }
    if (progress || st->res_done)
        cg_h2_send(st->c);
}

static bool submit_head(cg_h2_stream *st)
{
    size_t n = st->res.nheaders, nnv = 0;
    nghttp2_nv *nv = calloc(n + 3, sizeof *nv);
    if (!nv)
        return false;
    char status3[8], len_text[24];
    snprintf(status3, sizeof status3, "%03d", st->res.status % 1000);
    nv[nnv++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status3, 7, 3, NGHTTP2_NV_FLAG_NONE };
    for (size_t i = 0; i < n; i++) {
        if (!cg_http_response_header_kept(&st->res, i, st->is_head))
            continue;
        const cg_http_header *h = &st->res.headers[i];
        /* HTTP/2 field names are lower case: nghttp2 lowers them (NO_COPY_NAME off). */
        nv[nnv++] = (nghttp2_nv){ (uint8_t *)h->name.p, (uint8_t *)h->value.p, h->name.n, h->value.n,
                                  NGHTTP2_NV_FLAG_NONE };
    }
    bool body = !(st->is_head || st->res.status == 204 || st->res.status == 304 || st->res.body == CG_BODY_NONE);
    if (body && st->res.body == CG_BODY_LENGTH) {
        snprintf(len_text, sizeof len_text, "%" PRIu64, st->res.content_length);
        nv[nnv++] = (nghttp2_nv){ (uint8_t *)"content-length", (uint8_t *)len_text, 14, strlen(len_text),
                                  NGHTTP2_NV_FLAG_NONE };
    }
    nv[nnv++] = (nghttp2_nv){ (uint8_t *)"x-request-id", (uint8_t *)st->rid, 12, strlen(st->rid),
                              NGHTTP2_NV_FLAG_NONE };
    for (size_t i = 0; i < nnv; i++) { /* field names: lower case in HTTP/2 */
        uint8_t *p = nv[i].name;
        for (size_t k = 0; k < nv[i].namelen; k++)
            if (p[k] >= 'A' && p[k] <= 'Z')
                p[k] = (uint8_t)(p[k] + 32);
    }
    nghttp2_data_provider dp = { .read_callback = read_body };
    st->status = st->res.status;
    st->res_started = true;
    int rv = nghttp2_submit_response(session_of(st)->ng, st->id, nv, nnv, body ? &dp : NULL);
    free(nv);
    if (!body)
        st->res_done = true;
    return rv == 0;
}

/* A backend 401 to a delegating stream: the token is asked for again and
 * the request sent once more on a new connection, its body replayed from
 * the copy (the same decision as HTTP/1.1's: retry.h). */
static bool retry_after_401(cg_h2_stream *st)
{
    cg_retry_401_facts f = {
        .delegates = cg_admit_delegates(&st->admit),
        .retried = st->retried,
        .replayable = st->req.body == CG_BODY_NONE || st->replay_ok,
        .request_sent = st->req_done,
        .sent_token = st->sent_token,
        .res = &st->res,
    };
    if (!cg_retry_after_401(&f))
        return false;
    st->retried = st->fresh = true;
    st->replaying = st->req.body != CG_BODY_NONE;
    cg_h2_drop_backend(st, false);
    memset(&st->res, 0, sizeof st->res);
    st->res_scan = CG_HEAD_SCANNER_INIT;
    cg_admit_token_again(&st->admit, true, st->sent_token); /* logs backend_401; answers in on_admitted */
    return true;
}

static void process_response(cg_h2_stream *st)
{
    cg_backend_conn *bc = st->bc;
    size_t off = 0, out_before = st->out_len - st->out_pos;
    bool progress = false;
    while (!st->res_started) {
        size_t head_len = 0;
        cg_refusal why;
        cg_http_limits lim = { st->cfg->limits.max_response_head, st->cfg->limits.max_response_head,
                               st->cfg->limits.max_headers };
        cg_head_scan r = cg_http_scan_head_more(&st->res_scan, bc->rbuf, bc->rlen, &lim, true, &head_len, &why);
        if (r == CG_HEAD_INCOMPLETE) {
            if (bc->rlen < bc->rcap)
                return;
            cg_refuse(&why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                      "Backend \"%s\" sent a response head larger than %u bytes (limits.max_response_head).",
                      backend_of(st)->name, st->cfg->limits.max_response_head);
            r = CG_HEAD_INVALID;
        }
        size_t slots = cg_h2_field_slots(st->cfg);
        if (r == CG_HEAD_INVALID ||
            !cg_http_parse_response_scanned(&st->res_parser, bc->rbuf, head_len, &st->res_scan, st->is_head,
                                            st->hdrs + slots, slots, &st->res, &why)) {
            cg_refusal bad;
            cg_refuse(&bad, CG_REFUSE_BACKEND_BAD_RESPONSE, "Backend \"%s\" sent an invalid response: %.600s",
                      backend_of(st)->name, why.detail);
            cg_h2_refuse(st, &bad);
            return;
        }
        if (st->res.status < 200) { /* interim: dropped */
            memmove(bc->rbuf, bc->rbuf + head_len, bc->rlen - head_len);
            bc->rlen -= head_len;
            st->res_scan = CG_HEAD_SCANNER_INIT;
            continue;
        }
        if (st->res.status == 401 && retry_after_401(st))
            return;
        cg_refusal big; /* a 400/413/431 to the size of the token we added: say so (token_size.h) */
        if (st->sent_token &&
            cg_token_too_large(&(cg_token_answer){ st->res.status, !st->res.keep_alive,
                                                   st->head.len - st->head_base_len - 2, st->head.len,
                                                   backend_of(st)->name, backend_of(st)->url,
                                                   session_of(st)->client.principal },
                               &big)) {
            cg_h2_refuse(st, &big);
            return;
        }
        if (!st->out && !(st->out = malloc(CG_H2_STREAM_BUF))) {
            backend_failed(st, "could not be read (out of memory)");
            return;
        }
        st->res_parser.data = st;
        cg_body_framing_start(&st->res_frame, st->res.body, st->res.content_length);
        if (!submit_head(st)) {
            backend_failed(st, "sent a head that could not be passed on");
            return;
        }
        off = head_len;
        progress = true;
        if (st->res.message_complete)
            st->res_done = true;
    }
    if (st->res_done) {
        bc->rlen = off == bc->rlen ? 0 : bc->rlen;
        pump_body(st, true);
        return;
    }
    /* Body: parse no more than out has room for (chunked framing makes the
     * body no longer than its input); the rest waits in rbuf, reads paused. */
    if (st->out_pos == st->out_len)
        st->out_pos = st->out_len = 0;
    size_t room = CG_H2_STREAM_BUF - st->out_len, avail = bc->rlen - off;
    size_t feed = avail < room ? avail : room;
    if (feed) {
        const char *bad;
        size_t n = cg_body_framing_execute(&st->res_frame, &st->res_parser, &res_body_settings, bc->rbuf + off,
                                           feed, &bad);
        enum http_errno e = HTTP_PARSER_ERRNO(&st->res_parser);
        if (bad || (e != HPE_OK && e != HPE_PAUSED)) {
            char what[200];
            snprintf(what, sizeof what, "sent an invalid response body (%s)", bad ? bad : http_errno_description(e));
            backend_failed(st, what);
            return;
        }
        off += st->res_done ? avail : n;
        if (st->res_done && n < feed)
            st->res.keep_alive = false; /* bytes after the response: not reusable */
    }
    memmove(bc->rbuf, bc->rbuf + off, bc->rlen - off);
    bc->rlen -= off;
    if (!st->res_done) {
        if (bc->rlen > 0 || st->out_len == CG_H2_STREAM_BUF) {
            if (!st->res_paused) {
                st->res_paused = true; /* the data provider resumes it */
                cg_backend_pause(bc);
            }
            cg_backend_set_timer(bc, 0, NULL);
        } else {
            cg_backend_set_timer(bc, st->cfg->timeouts.backend_response, on_backend_timeout);
        }
    }
    pump_body(st, progress || st->out_len - st->out_pos != out_before);
}

void cg_h2_stream_after_send(cg_h2_stream *st)
{
    /* Only once the data provider emptied out: then there is room for what
     * waits in rbuf (and each round makes progress or stops). */
    if (st->bc && st->res_started && !st->res_done && st->bc->rlen && st->out_len == 0)
        process_response(st);
}

static void on_body_written(cg_backend_conn *bc, int status);

/* Writes what the client sent of the request body (one write at a time);
 * the client's window reopens by what was written (nghttp2_session_consume). */
static void write_body(cg_h2_stream *st)
{
    if (!st->bc || !st->head_written || st->writing)
        return;
    bool chunked = st->req.body == CG_BODY_CHUNKED;
    if (!st->body.len && !(st->req_ended && !st->req_done))
        return;
    if (st->body.len > st->body_room) {
        /* A body without Content-Length crossing max_request_body (one
         * with it was judged at admission): none of it goes out. */
        cg_refusal why;
        cg_refuse(&why, CG_REFUSE_BODY_TOO_LARGE,
                  "The request body is larger than max_request_body (%" PRIu64 " bytes left for it).", st->body_room);
        cg_h2_refuse(st, &why);
        return;
    }
    st->body_room -= st->body.len;
    cg_retry_keep_body(&st->replay, &st->replay_ok, st->body.data, st->body.len, CG_REPLAY_MAX);
    cg_buf tmp = st->wbody;
    st->wbody = st->body;
    st->body = tmp;
    st->body.len = 0;
    st->wbody_payload = st->wbody.len;
    uv_buf_t b[3];
    unsigned nb = 0;
    if (chunked && st->wbody.len) /* in st: a queued write outlives this call */
        b[nb++] = uv_buf_init(st->chunk_line, (unsigned)cg_http_chunk_line(st->chunk_line, st->wbody.len));
    if (st->wbody.len)
        b[nb++] = uv_buf_init(st->wbody.data, (unsigned)st->wbody.len);
    if (st->req_ended) {
        st->req_done = true;
        if (chunked)
            b[nb++] = uv_buf_init(st->wbody.len ? "\r\n0\r\n\r\n" : "0\r\n\r\n", st->wbody.len ? 7 : 5);
    } else if (chunked && st->wbody.len) {
        b[nb++] = uv_buf_init("\r\n", 2);
    }
    if (!nb)
        return;
    int r = cg_backend_write(st->bc, b, nb, on_body_written);
    if (r < 0) {
        backend_failed(st, "refused the request body");
        return;
    }
    if (r == 1) {
        st->writing = true;
        return;
    }
    on_body_written(st->bc, 0);
}

static void on_body_written(cg_backend_conn *bc, int status)
{
    cg_h2_stream *st = bc->owner;
    if (!st)
        return;
    st->writing = false;
    if (status < 0) {
        backend_failed(st, "closed the connection while the request body was sent");
        return;
    }
    if (st->wbody_payload) {
        nghttp2_session_consume(session_of(st)->ng, st->id, st->wbody_payload);
        st->wbody_payload = 0;
    }
    st->wbody.len = 0;
    cg_conn *c = st->c;
    write_body(st); /* may end the stream */
    cg_h2_send(c);
}

static void on_replay_written(cg_backend_conn *bc, int status)
{
    cg_h2_stream *st = bc->owner;
    if (!st)
        return;
    st->writing = false;
    if (status < 0)
        backend_failed(st, "closed the connection while the request body was sent again");
}

/* The retry after a 401: the body the client sent (and was acknowledged
 * for) goes again from its copy, framed as the first time. */
static void write_replay(cg_h2_stream *st)
{
    bool chunked = st->req.body == CG_BODY_CHUNKED;
    uv_buf_t b[3];
    unsigned nb = 0;
    if (chunked && st->replay.len)
        b[nb++] = uv_buf_init(st->chunk_line, (unsigned)cg_http_chunk_line(st->chunk_line, st->replay.len));
    if (st->replay.len)
        b[nb++] = uv_buf_init(st->replay.data, (unsigned)st->replay.len);
    if (chunked)
        b[nb++] = uv_buf_init(st->replay.len ? "\r\n0\r\n\r\n" : "0\r\n\r\n", st->replay.len ? 7 : 5);
    if (!nb)
        return;
    int r = cg_backend_write(st->bc, b, nb, on_replay_written);
    if (r < 0) {
        backend_failed(st, "refused the request body");
        return;
    }
    if (r == 1)
        st->writing = true;
}

static void on_head_written(cg_backend_conn *bc, int status)
{
    cg_h2_stream *st = bc->owner;
    if (!st)
        return;
    st->writing = false;
    if (status < 0) {
        backend_failed(st, "closed the connection while the request was sent");
        return;
    }
    st->head_written = true;
    if (st->replaying)
        write_replay(st);
    else
        write_body(st);
}

static void start_forwarding(cg_h2_stream *st)
{
    cg_backend_conn *bc = st->bc;
    bc->tcp.data = bc;
    bc->rlen = 0;
    st->res_scan = CG_HEAD_SCANNER_INIT;
    cg_backend_set_reader(bc, be_alloc, be_read);
    cg_backend_set_timer(bc, st->cfg->timeouts.backend_response, on_backend_timeout);
    uv_buf_t b = uv_buf_init(st->head.data, (unsigned)st->head.len);
    int r = cg_backend_write(bc, &b, 1, on_head_written);
    if (r < 0) {
        backend_failed(st, "refused the request");
        return;
    }
    if (r == 1) {
        st->writing = true;
        return;
    }
    on_head_written(bc, 0);
}

static void on_backend_connected(cg_backend_conn *bc, int status)
{
    cg_h2_stream *st = bc->owner;
    if (status == CG_BACKEND_ESTALE) { /* the pooled connection had ended: another one */
        st->bc = NULL;
        cg_backend_release(bc, false);
        if (cg_admit_new_connection_needs_token(&st->admit, st->sent_token)) {
            /* it was authenticated (connection bound): a new one, with a token */
            st->fresh = true;
            cg_admit_token_again(&st->admit, false, false);
            return;
        }
        send_request(st);
        return;
    }
    if (status < 0) {
        st->bc = NULL;
        bc->owner = NULL;
        cg_refusal why;
        cg_backend_connect_refusal(bc, status, st->cfg, &why); /* before release: a TLS failure is read from bc */
        cg_backend_release(bc, false);
        cg_h2_refuse(st, &why);
        return;
    }
    start_forwarding(st);
}

/* One attempt: the head as built, on a pooled connection of the client's
 * identity or (fresh) a new one. */
static void send_request(cg_h2_stream *st)
{
    cg_conn *c = st->c;
    st->head_written = false;
    st->res_scan = CG_HEAD_SCANNER_INIT;
    cg_backend_conn *bc = cg_backend_acquire(c->w, st->backend, session_of(st)->client.identity, st->fresh, st,
                                             on_backend_connected);
    if (!bc) {
        cg_conn_close(c, false);
        return;
    }
    st->bc = bc;
    if (bc->connected)
        start_forwarding(st);
}

/* Builds the head for the backend (the same writer as HTTP/1.1's) once,
 * then each attempt's Authorization header when a Kerberos token is given,
 * and sends it. */
void cg_h2_forward(cg_h2_stream *st, const char *token)
{
    cg_conn *c = st->c;
    if (!st->head_built) {
        const cg_listener_cfg *l = listener_of(st);
        const cg_backend_cfg *b = backend_of(st);
        cg_slice identity_headers;
        if (!cg_client_forward_headers(&session_of(st)->client, l, &identity_headers)) {
            cg_conn_close(c, false);
            return;
        }
        cg_header_policy strip = { l->strip_headers, l->nstrip_headers, l->keep_headers, l->nkeep_headers };
        cg_forward_ctx fw = {
            .client_ip = { c->peer_ip, strlen(c->peer_ip) },
            .default_host = { b->host_header, strlen(b->host_header) },
            .request_id = { st->rid, strlen(st->rid) },
            .extra_block = identity_headers,
            .strip = &strip,
        };
        st->head.len = 0;
        if (!cg_http_write_backend_head(&st->req, &fw, &st->head)) {
            cg_conn_close(c, false);
            return;
        }
        st->head_base_len = st->head.len - 2;
        st->head_built = true;
    }
    st->head.len = st->head_base_len;
    st->sent_token = token != NULL;
    bool ok = true;
    if (token)
        ok = cg_buf_append_str(&st->head, "Authorization: Negotiate ") && cg_buf_append_str(&st->head, token) &&
             cg_buf_append(&st->head, "\r\n", 2);
    if (!ok || !cg_buf_append(&st->head, "\r\n", 2)) {
        cg_conn_close(c, false);
        return;
    }
    st->admitted = true;
    send_request(st);
}

/* ---- request body ---- */

void cg_h2_stream_data(cg_h2_stream *st, const uint8_t *p, size_t n)
{
    st->bytes_in += n;
    st->client_ns = uv_hrtime();
    if (st->res_done || (st->res_started && !st->admitted)) {
        nghttp2_session_consume(session_of(st)->ng, st->id, n); /* refused: discarded */
        return;
    }
    /* The stream's window bounds what can arrive unacknowledged. */
    if (!cg_buf_append(&st->body, p, n)) {
        nghttp2_submit_rst_stream(session_of(st)->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    write_body(st);
}

void cg_h2_stream_body_end(cg_h2_stream *st)
{
    st->req_ended = true;
    write_body(st);
}


