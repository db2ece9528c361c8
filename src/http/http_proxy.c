/* One HTTP/1.1 exchange at a time per client connection:
 *
 *   IDLE --first byte--> HEAD --head parsed, checks passed--> CONNECTING
 *        --backend ready--> FORWARDING --response complete--> IDLE or close
 *
 * Request bodies are forwarded straight from the connection's plaintext
 * buffer (no copy); while a backend write is queued the parser is paused and
 * nothing more is read from the client. Response bodies are written to the
 * client as they arrive; when the client's output queue is over the
 * high-water mark, backend reads stop until it drains, and no new pipelined
 * request is started. This file is the request half; the response half is
 * http_response.c (what they share: http_proxy_internal.h).
 */
#include "http_proxy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_log.h"
#include "base/base.h"
#include "request_limits.h"
#include "http_proxy_internal.h"
#include "refusal_page.h"
#include "retry.h"
#include "tunnel.h"

static int req_on_body(http_parser *p, const char *at, size_t len);
static int req_on_message_complete(http_parser *p);

static const http_parser_settings req_body_settings = {
    .on_body = req_on_body,
    .on_message_complete = req_on_message_complete,
};

static void start_forwarding(cg_conn *c);
static void finish_exchange(cg_conn *c);
static bool retry_after_401(cg_conn *c);
static void backend_failed(cg_conn *c, const char *what);

static const cg_listener_cfg *listener_of(const cg_conn *c, const cg_config *cfg)
{
    return &cfg->listeners[c->listener];
}

static const cg_backend_cfg *backend_of(const cg_exchange *ex) { return &ex->cfg->backends[ex->backend]; }

/* ---- timers ---- */

static void on_header_timeout(uv_timer_t *t)
{
    cg_conn *c = t->data;
    const cg_exchange *ex = cg_http_ex(c);
    cg_refusal why;
    if (ex->phase == CG_EX_IDLE) {
        if (cg_http_session_of(c)->requests == 0 && c->ppos == c->plen) {
            cg_refuse(&why, CG_REFUSE_HEADER_TIMEOUT,
                      "No request arrived within %u ms of the TLS handshake (timeouts.request_header).",
                      c->tls_cfg->timeouts.request_header);
            cg_proxy_refuse(c, &why, true);
        } else {
            cg_conn_close(c, true); /* keep-alive idle timeout: just close */
        }
        return;
    }
    cg_refuse(&why, CG_REFUSE_HEADER_TIMEOUT,
              "The request head was not complete within %u ms (timeouts.request_header); the client is too "
              "slow or is holding the connection open (slowloris).",
              ex->cfg ? ex->cfg->timeouts.request_header : c->tls_cfg->timeouts.request_header);
    cg_proxy_refuse(c, &why, true);
}

static void on_body_timeout(uv_timer_t *t)
{
    cg_conn *c = t->data;
    cg_exchange *ex = cg_http_ex(c);
    if (ex->res_head_sent || ex->phase != CG_EX_FORWARDING || ex->req_done) {
        cg_log(CG_LOG_WARN, "client_stalled", "id=%s client=%s timeout_ms=%u", ex->id, c->peer,
               c->tls_cfg->timeouts.client_body);
        cg_conn_close(c, false);
        return;
    }
    cg_refusal why;
    cg_refuse(&why, CG_REFUSE_BODY_TIMEOUT,
              "The request body stalled: no data for %u ms (timeouts.client_body).", ex->cfg->timeouts.client_body);
    cg_proxy_refuse(c, &why, true);
}

/* ---- exchange lifecycle ---- */

static void begin_exchange(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    ex->phase = CG_EX_HEAD;
    ex->req_scan = CG_HEAD_SCANNER_INIT;
    ex->started_ns = uv_hrtime();
    ex->id_len = cg_worker_request_id(c->w, ex->id, sizeof ex->id);
    ex->header_timer = false;
}

/* The head's timeout counts from the exchange's start, but is armed only
 * when the head is not complete and accepted in the pump turn that began
 * the exchange (the usual keep-alive request, whose timer would be
 * stopped at once): the pump goes from begin_exchange to the head's scan
 * without leaving the loop's callback, so uv_now, and the deadline, are
 * the same. */
static void arm_header_timer(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    if (ex->header_timer)
        return;
    ex->header_timer = true;
    cg_conn_set_timer(c, c->tls_cfg->timeouts.request_header, on_header_timeout);
}

/* Clears per-request state; keeps the reusable buffers. */
static void reset_exchange(cg_exchange *ex)
{
    if (ex->cfg)
        cg_config_unref(ex->cfg);
    ex->cfg = NULL;
    ex->route = NULL;
    ex->bc = NULL;
    ex->phase = CG_EX_IDLE;
    ex->head.len = 0;
    ex->head_built = false;
    ex->head_base_len = 0;
    ex->id_len = 0;
    ex->id[0] = ex->method[0] = ex->path[0] = ex->target_sent[0] = ex->host[0] = ex->user_agent[0] = '\0';
    ex->status = 0;
    ex->refusal = CG_REFUSE_NONE;
    ex->bytes_in = ex->bytes_out = 0;
    ex->req_done = ex->res_head_sent = ex->res_done = false;
    ex->res_paused = ex->req_paused = ex->retried = ex->is_head = ex->sent_token = false;
    ex->replay_ok = ex->replaying = ex->fresh = false;
    ex->body_room = UINT64_MAX;
    ex->body_over = false;
    ex->retry_after_s = 0;
    ex->req_scan = ex->res_scan = CG_HEAD_SCANNER_INIT;
    cg_body_framing_start(&ex->req_frame, CG_BODY_NONE, 0);
    cg_body_framing_start(&ex->res_frame, CG_BODY_NONE, 0);
    cg_buf_free(&ex->replay);
    ex->upgrade[0] = '\0';
    ex->keep_client = true;
    memset(&ex->req, 0, sizeof ex->req);
    memset(&ex->res, 0, sizeof ex->res);
}

#define HEAD_BLOCK 1024 /* a backend request head usually fits */

/* Between requests a connection holds no header table and no head buffer:
 * they go back to the worker (spares.h). */
static void release_request_buffers(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    cg_spares_put(&c->w->spare_hdrs, ex->hdrs, 2 * ex->hdrs_cap * sizeof *ex->hdrs);
    ex->hdrs = NULL;
    ex->hdrs_cap = 0;
    cg_spares_put(&c->w->spare_head, ex->head.data, ex->head.cap);
    memset(&ex->head, 0, sizeof ex->head);
}

static void drop_backend(cg_exchange *ex, bool reusable)
{
    if (!ex->bc)
        return;
    cg_backend_conn *bc = ex->bc;
    ex->bc = NULL;
    bc->owner = NULL;
    cg_backend_release(bc, reusable); /* also detaches our reader */
}

static void abort_exchange(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    if (ex->phase != CG_EX_IDLE && ex->id[0] && ex->status == 0) {
        ex->status = 499; /* nginx's "client closed request": well known to operators */
        cg_access_log_request(c);
    }
    cg_admit_cancel(&ex->admit);
    drop_backend(ex, false);
    reset_exchange(ex);
    release_request_buffers(c);
}

void cg_proxy_refuse(cg_conn *c, const cg_refusal *why, bool close_after)
{
    cg_exchange *ex = cg_http_ex(c);
    if (!ex->id[0]) {
        ex->started_ns = uv_hrtime();
        ex->id_len = cg_worker_request_id(c->w, ex->id, sizeof ex->id);
    }
    if (ex->res_head_sent) { /* too late for a page */
        cg_conn_close(c, false);
        return;
    }
    int status = cg_refusal_status(why->kind);
    char st[24];
    cg_refusal_status_text(why->kind, st, sizeof st);

    char retry_after[40] = "";
    if (why->kind == CG_REFUSE_RATE_LIMITED) /* request_limits.c logs those, a line per bucket per 10 s */
        snprintf(retry_after, sizeof retry_after, "Retry-After: %u\r\n", ex->retry_after_s ? ex->retry_after_s : 1);
    else
        cg_log_fields(status >= 500 ? CG_LOG_ERROR : CG_LOG_WARN, "refused", CG_LF_STR("id", ex->id),
                      CG_LF_STR("client", c->peer), CG_LF_STR("code", cg_refusal_code(why->kind)),
                      CG_LF_STR("status", st), CG_LF_STR("detail", why->detail));

    /* A request whose body we have not read cannot be followed by another. */
    if (ex->phase != CG_EX_IDLE && !ex->req_done)
        close_after = true;
    if (c->draining)
        close_after = true;

    /* The user's words always; the operator sentence only for operators
     * (errors.detail, errors.operator_networks): it names files, rules,
     * backends and accounts. The snapshot of the request, or the
     * connection's before one was parsed. */
    char builtin[CG_ERROR_PAGE_MAX];
    size_t plen;
    char *page = cg_refusal_page(ex->cfg ? ex->cfg : c->tls_cfg, c, why, ex->id, builtin, &plen);
    char head[1024];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
                        CG_ERROR_PAGE_HEADERS "X-Request-Id: %s\r\nX-Certgate-Status: %s\r\n"
                        "X-Certgate-Error: %s\r\n%s%s\r\n",
                        status, cg_http_reason_phrase(status), ex->is_head ? (size_t)0 : plen, ex->id, st,
                        cg_refusal_code(why->kind), retry_after, close_after ? "Connection: close\r\n" : "");
    bool ok = cg_conn_write(c, head, (size_t)hlen);
    if (ok && !ex->is_head)
        ok = cg_conn_write(c, page, plen);
    cg_refusal_page_free(page, builtin);
    ok = ok && cg_conn_flush(c);

    ex->status = status;
    ex->refusal = why->kind;
    ex->bytes_out = plen;
    ex->res_head_sent = true;
    cg_access_log_request(c);
    drop_backend(ex, false);
    if (!ok || close_after) {
        reset_exchange(ex);
        cg_conn_close(c, ok);
        return;
    }
    finish_exchange(c);
}

static void finish_exchange(cg_conn *c)
{
    release_request_buffers(c);
    cg_exchange *ex = cg_http_ex(c);
    bool keep = ex->keep_client && !c->draining && ex->req_done;
    cg_http_session_of(c)->requests++;
    reset_exchange(ex);
    if (!keep) {
        cg_conn_close(c, true);
        return;
    }
    cg_conn_set_timer(c, c->tls_cfg->timeouts.keepalive_idle, on_header_timeout);
    cg_conn_compact(c);
    cg_conn_release_input(c);
    cg_proxy_pump(c);
}

/* ---- request head ---- */

/* Replaces the request's target with its canonical form (target.h),
 * computed once, in place in the head (it is never longer): routes match
 * it and the backend receives it. The log keeps what was sent when it
 * differs. False if refused (400). */
static bool use_canonical_target(cg_conn *c, char *head)
{
    cg_exchange *ex = cg_http_ex(c);
    char *t = head + (ex->req.target.p - head);
    cg_target canon;
    cg_refusal why;
    unsigned rules = listener_of(c, ex->cfg)->windows_paths ? CG_TARGET_WINDOWS : CG_TARGET_POSIX;
    if (!cg_target_normalize(t, ex->req.target.n, t, rules, &canon, &why)) {
        arm_header_timer(c);
        cg_proxy_refuse(c, &why, true); /* the log line carries the target as sent */
        return false;
    }
    if (canon.changed) {
        cg_slice_copy(ex->target_sent, sizeof ex->target_sent, (cg_slice){ ex->path, strlen(ex->path) });
        cg_slice_copy(ex->path, sizeof ex->path, canon.target);
    }
    ex->req.target = canon.target;
    ex->req.path = canon.path;
    return true;
}

static void connect_backend(cg_conn *c, bool fresh);
static bool retry_after_401(cg_conn *c);

/* Parses the head_len bytes at c->ppos, a head ex->req_scan just found
 * complete; false if the exchange ended (refused). */
static bool on_request_head(cg_conn *c, size_t head_len)
{
    cg_exchange *ex = cg_http_ex(c);
    cg_refusal why;
    const cg_config *cfg;

    ex->cfg = cg_config_ref(c->w->cfg); /* the newest snapshot serves each new request */
    cfg = ex->cfg;
    if (ex->hdrs_cap < cfg->limits.max_headers) {
        /* Request headers, then response headers: the request's must stay
         * intact for a retry after the response. */
        cg_spares_put(&c->w->spare_hdrs, ex->hdrs, 2 * ex->hdrs_cap * sizeof *ex->hdrs);
        ex->hdrs = cg_spares_get(&c->w->spare_hdrs, 2 * (size_t)cfg->limits.max_headers * sizeof *ex->hdrs);
        ex->hdrs_cap = ex->hdrs ? cfg->limits.max_headers : 0;
        if (!ex->hdrs) {
            arm_header_timer(c);
            cg_conn_close(c, false);
            return false;
        }
    }
    char *head = c->pbuf + c->ppos;
    if (!cg_http_parse_request_scanned(&ex->req_parser, head, head_len, &ex->req_scan, ex->hdrs, ex->hdrs_cap,
                                       &ex->req, &why)) {
        arm_header_timer(c);
        cg_proxy_refuse(c, &why, true);
        return false;
    }
    cg_slice_copy(ex->method, sizeof ex->method, ex->req.method);
    cg_slice_copy(ex->path, sizeof ex->path, ex->req.target);
    cg_access_log_header(ex->host, sizeof ex->host, &ex->req, "Host");
    cg_access_log_header(ex->user_agent, sizeof ex->user_agent, &ex->req, "User-Agent");
    if (!use_canonical_target(c, head))
        return false;
    ex->is_head = cg_slice_ieq(ex->req.method, "HEAD");
    ex->bytes_in = head_len;
    ex->req_done = ex->req.message_complete;
    ex->req_parser.data = c;
    cg_body_framing_start(&ex->req_frame, ex->req.body, ex->req.content_length);
    /* The head's bytes stay in place (the request's slices point at them)
     * until the backend head is built: the pump neither compacts nor reads
     * into the buffer while the exchange is ADMITTING. */
    c->ppos += head_len;
    cg_conn_set_timer(c, 0, NULL);
    ex->phase = CG_EX_ADMITTING;
    return true;
}

/* Builds the head for the backend (with an Authorization header when a
 * Kerberos token is given) and connects. */
static void forward(cg_conn *c, const char *negotiate_token)
{
    cg_exchange *ex = cg_http_ex(c);
    const cg_listener_cfg *l = listener_of(c, ex->cfg);
    cg_slice identity_headers;
    if (!cg_client_forward_headers(&cg_http_session_of(c)->client, l, &identity_headers)) {
        cg_conn_close(c, false);
        return;
    }
    if (!ex->head_built) {
        /* Built once per request, while the request's header slices are
         * valid (the plaintext buffer is compacted as a body streams). */
        const cg_backend_cfg *b = backend_of(ex);
        cg_header_policy strip = { l->strip_headers, l->nstrip_headers, l->keep_headers, l->nkeep_headers };
        cg_forward_ctx fw = {
            .client_ip = { c->peer_ip, strlen(c->peer_ip) },
            .default_host = { b->host_header, strlen(b->host_header) },
            .request_id = { ex->id, ex->id_len },
            .extra_block = identity_headers,
            .strip = &strip,
        };
        /* admit.dedicated: the request has an Upgrade field (admit_request);
         * without one there is nothing to offer and ex->upgrade stays "". */
        const char *why_not;
        if (ex->admit.dedicated &&
            cg_upgrade_offer(&ex->req, ex->route, ex->upgrade, &why_not) == CG_UPGRADE_STRIPPED)
            cg_log_fields(CG_LOG_INFO, "upgrade_stripped", CG_LF_STR("id", ex->id), CG_LF_STR("client", c->peer),
                          CG_LF_STR("route", ex->route->path), CG_LF_STR("reason", why_not));
        fw.upgrade = (cg_slice){ ex->upgrade, ex->upgrade[0] ? strlen(ex->upgrade) : 0 };
        ex->head.len = 0;
        if (!ex->head.data && (ex->head.data = cg_spares_get(&c->w->spare_head, HEAD_BLOCK)))
            ex->head.cap = HEAD_BLOCK;
        if (!cg_http_write_backend_head(&ex->req, &fw, &ex->head)) {
            cg_conn_close(c, false);
            return;
        }
        ex->head_base_len = ex->head.len - 2;
        ex->head_built = true;
    }
    /* Each attempt: the base head, a fresh Authorization, the final CRLF. */
    ex->head.len = ex->head_base_len;
    ex->sent_token = negotiate_token != NULL;
    bool ok = true;
    if (negotiate_token)
        ok = cg_buf_append_str(&ex->head, "Authorization: Negotiate ") &&
             cg_buf_append_str(&ex->head, negotiate_token) && cg_buf_append(&ex->head, "\r\n", 2);
    if (!ok || !cg_buf_append(&ex->head, "\r\n", 2)) {
        cg_conn_close(c, false);
        return;
    }
    connect_backend(c, ex->fresh); /* pumps the request body once connected */
}

/* The pipeline's answer (admit.h). */
static void on_admitted(void *ctx, const cg_admit_answer *ans)
{
    cg_conn *c = ctx;
    cg_exchange *ex = cg_http_ex(c);
    if (!ans->again) {
        const cg_admit *a = &ex->admit;
        ex->route = a->route;
        ex->backend = a->backend;
        ex->body_room = a->body_room;
        ex->retry_after_s = a->retry_after_s;
        ex->replay_ok = a->replay_ok;
    }
    switch (ans->outcome) {
    case CG_ADMIT_FORWARD:
        forward(c, ans->token);
        return;
    case CG_ADMIT_REFUSED:
        cg_proxy_refuse(c, ans->why, ans->close_after);
        return;
    case CG_ADMIT_FAILED:
        cg_conn_close(c, false);
        return;
    }
}

/* Hands the parsed request to the pipeline (admit.h), which answers once. */
static void admit_request(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    cg_admit *a = &ex->admit;
    ex->phase = CG_EX_ADMITTING;
    a->client = &cg_http_session_of(c)->client;
    a->answer = on_admitted;
    a->ctx = c;
    a->cfg = ex->cfg;
    a->req = &ex->req;
    a->request_id = ex->id;
    /* An upgrade goes on a new connection (forward): decided with the route,
     * but a token must not be skipped for a pooled connection's sake. */
    a->dedicated = cg_http_find_header(ex->req.headers, ex->req.nheaders, "upgrade") != NULL;
    cg_admit_run(a);
}

/* A backend 401 to a delegating request: the ticket was refused (send:
 * always), or credentials are wanted (send: on_401). Retries once, with a
 * fresh ticket, when the request has no body to replay. */
static bool retry_after_401(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    cg_retry_401_facts f = {
        .delegates = cg_admit_delegates(&ex->admit),
        .retried = ex->retried,
        .replayable = ex->req.body == CG_BODY_NONE || ex->replay_ok,
        .request_sent = ex->req_done,
        .sent_token = ex->sent_token,
        .res = &ex->res,
    };
    if (!cg_retry_after_401(&f))
        return false;
    ex->retried = true;
    ex->replaying = ex->req.body != CG_BODY_NONE;
    drop_backend(ex, false);
    memset(&ex->res, 0, sizeof ex->res);
    ex->phase = CG_EX_ADMITTING;
    cg_admit_token_again(&ex->admit, true, ex->sent_token); /* logs backend_401 */
    return true;
}

/* ---- backend connection ---- */

/* The backend connection the request relied on is gone. When admission
 * sent no token because that connection was authenticated (connection
 * bound), the request goes back for one and then to a new connection
 * (true); otherwise the caller connects again (false). */
static bool readmit_with_token(cg_exchange *ex)
{
    if (!cg_admit_new_connection_needs_token(&ex->admit, ex->sent_token))
        return false;
    ex->fresh = true;
    ex->phase = CG_EX_ADMITTING;
    cg_admit_token_again(&ex->admit, false, false);
    return true;
}

static void on_backend_connected(cg_backend_conn *bc, int status)
{
    cg_conn *c = bc->owner;
    cg_exchange *ex = cg_http_ex(c);
    if (status == CG_BACKEND_ESTALE) { /* the pooled connection had ended: another one */
        ex->bc = NULL;
        cg_backend_release(bc, false);
        /* Admission sent no token because that connection was authenticated
         * (connection bound): a new one with a token, not a 401 round trip
         * on a connection that may be lost too. */
        if (!readmit_with_token(ex))
            connect_backend(c, false);
        return;
    }
    if (status < 0) {
        ex->bc = NULL;
        bc->owner = NULL;
        cg_refusal why;
        cg_backend_connect_refusal(bc, status, ex->cfg, &why); /* before release: a TLS failure is read from bc */
        cg_backend_release(bc, false);
        cg_proxy_refuse(c, &why, false);
        return;
    }
    start_forwarding(c);
}

static void connect_backend(cg_conn *c, bool fresh)
{
    cg_exchange *ex = cg_http_ex(c);
    ex->phase = CG_EX_CONNECTING;
    /* An upgrade's connection is its own: new, and never pooled afterwards. */
    cg_backend_conn *bc = cg_backend_acquire(c->w, ex->backend, cg_http_session_of(c)->client.identity,
                                             fresh || ex->upgrade[0], c, on_backend_connected);
    if (!bc) {
        cg_conn_close(c, false);
        return;
    }
    ex->bc = bc;
    if (bc->connected)
        start_forwarding(c);
}

static void backend_failed(cg_conn *c, const char *what)
{
    cg_exchange *ex = cg_http_ex(c);
    cg_retry_facts facts = {
        .method = ex->req.method,
        .has_body = ex->req.body == CG_BODY_CHUNKED || (ex->req.body == CG_BODY_LENGTH && ex->req.content_length),
        .request_sent = ex->req_done,
        .reused = ex->bc && ex->bc->served > 0,
        .response_started = ex->res_head_sent || (ex->bc && ex->bc->rlen > 0),
        .retried = ex->retried,
    };
    cg_retry_verdict retry = cg_retry_after_lost_connection(&facts);
    if (retry == CG_RETRY_AGAIN) {
        /* A pooled connection the backend had already closed: try once more
         * on a new one (retry.h says when). */
        cg_log(CG_LOG_DEBUG, "backend_retry", "id=%s backend=%s reason=\"%s on a reused connection\"", ex->id,
               backend_of(ex)->name, what);
        ex->retried = true;
        drop_backend(ex, false);
        if (!readmit_with_token(ex))
            connect_backend(c, true);
        return;
    }
    if (ex->res_head_sent) {
        cg_response_failed(c, what);
        return;
    }
    cg_refusal why;
    if (retry == CG_RETRY_NOT_SAFE)
        cg_refuse(&why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "Backend \"%s\" (%s) %s on a reused connection before answering. The %.20s request was not sent "
                  "again: %.20s is not a safe method (RFC 9110 9.2), and the backend may have executed it already. "
                  "The client may retry it.",
                  backend_of(ex)->name, backend_of(ex)->url, what, ex->method, ex->method);
    else
        cg_refuse(&why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "Backend \"%s\" (%s) %s before sending a complete response head.", backend_of(ex)->name,
                  backend_of(ex)->url, what);
    cg_proxy_refuse(c, &why, true);
}

static void on_head_written(cg_backend_conn *bc, int status);

static void start_forwarding(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    cg_backend_conn *bc = ex->bc;
    ex->phase = CG_EX_FORWARDING;
    bc->tcp.data = bc;
    bc->rlen = 0;
    ex->res_scan = CG_HEAD_SCANNER_INIT;
    cg_response_start(c);

    uv_buf_t b[4];
    unsigned nb = 0;
    b[nb++] = uv_buf_init(ex->head.data, (unsigned)ex->head.len);
    if (ex->replaying) {
        /* The client's body was forwarded already: send our copy. */
        if (ex->req.body == CG_BODY_CHUNKED) {
            size_t k = cg_http_chunk_line(ex->chunk_line, ex->replay.len);
            if (ex->replay.len) {
                b[nb++] = uv_buf_init(ex->chunk_line, (unsigned)k);
                b[nb++] = uv_buf_init(ex->replay.data, (unsigned)ex->replay.len);
                b[nb++] = uv_buf_init("\r\n0\r\n\r\n", 7);
            } else {
                b[nb++] = uv_buf_init("0\r\n\r\n", 5);
            }
        } else if (ex->replay.len) {
            b[nb++] = uv_buf_init(ex->replay.data, (unsigned)ex->replay.len);
        }
    }
    int r = cg_backend_write(bc, b, nb, on_head_written);
    if (r < 0) {
        backend_failed(c, "refused the request");
        return;
    }
    if (r == 1)
        ex->req_paused = true;
    if (ex->req.expect_continue && !ex->req_done && c->ppos == c->plen) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        cg_conn_write(c, cont, sizeof cont - 1);
        cg_conn_flush(c);
    }
    if (!ex->req_done)
        cg_conn_set_timer(c, ex->cfg->timeouts.client_body, on_body_timeout);
    cg_proxy_pump(c);
}

static void on_head_written(cg_backend_conn *bc, int status)
{
    cg_conn *c = bc->owner;
    if (!c)
        return;
    if (status < 0) {
        backend_failed(c, "closed the connection while the request was sent");
        return;
    }
    cg_http_ex(c)->req_paused = false;
    cg_proxy_pump(c);
}

/* ---- request body ---- */

static void on_body_written(cg_backend_conn *bc, int status)
{
    cg_conn *c = bc->owner;
    if (!c)
        return;
    cg_exchange *ex = cg_http_ex(c);
    if (status < 0) {
        backend_failed(c, "closed the connection while the request body was sent");
        return;
    }
    if (ex->req_paused) {
        ex->req_paused = false;
        http_parser_pause(&ex->req_parser, 0);
    }
    cg_proxy_pump(c);
}

static int req_on_body(http_parser *p, const char *at, size_t len)
{
    cg_conn *c = p->data;
    cg_exchange *ex = cg_http_ex(c);
    uv_buf_t bufs[3];
    unsigned n = 0;
    if (len > ex->body_room) {
        /* A chunked body crossing max_request_body (a Content-Length one was
         * judged at admission): none of this piece goes out. */
        ex->body_over = true;
        http_parser_pause(p, 1);
        return 0;
    }
    ex->body_room -= len;
    ex->bytes_in += len;
    cg_retry_keep_body(&ex->replay, &ex->replay_ok, at, len, CG_REPLAY_MAX);
    if (ex->req.body == CG_BODY_CHUNKED) {
        size_t k = cg_http_chunk_line(ex->chunk_line, len);
        bufs[n++] = uv_buf_init(ex->chunk_line, (unsigned)k);
        bufs[n++] = uv_buf_init((char *)at, (unsigned)len);
        bufs[n++] = uv_buf_init("\r\n", 2);
    } else {
        bufs[n++] = uv_buf_init((char *)at, (unsigned)len);
    }
    int r = cg_backend_write(ex->bc, bufs, n, on_body_written);
    if (r < 0)
        return -1;
    if (r == 1) {
        ex->req_paused = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int req_on_message_complete(http_parser *p)
{
    cg_conn *c = p->data;
    cg_exchange *ex = cg_http_ex(c);
    ex->req_done = true;
    if (ex->req.body == CG_BODY_CHUNKED) {
        uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
        if (cg_backend_write(ex->bc, &b, 1, on_body_written) < 0)
            return -1;
    }
    /* Stop here: bytes after the body belong to the next request. */
    http_parser_pause(p, 1);
    return 0;
}

/* Feeds buffered request body bytes to the parser. Returns false if the
 * exchange ended (refused or connection closed). */
static bool feed_request_body(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    size_t avail = c->plen - c->ppos;
    const char *bad;
    size_t n = cg_body_framing_execute(&ex->req_frame, &ex->req_parser, &req_body_settings, c->pbuf + c->ppos,
                                       avail, &bad);
    c->ppos += n;
    enum http_errno e = HTTP_PARSER_ERRNO(&ex->req_parser);
    if (ex->body_over) {
        /* The backend has part of the body: cg_proxy_refuse drops its
         * connection (never pooled again); the rest of the body cannot be
         * skipped reliably, so the client connection closes after the 413. */
        cg_refusal why;
        const cg_listener_cfg *l = listener_of(c, ex->cfg);
        uint64_t max = cg_request_body_max(l, ex->route);
        cg_request_body_refusal(&why, l, ex->route, max, max - ex->body_room, false);
        if (ex->res_head_sent) {
            /* The backend answered before the body ended: too late for a
             * page, the connection is cut; the log says why. */
            char detail[1000];
            cg_log(CG_LOG_WARN, "refused", "id=%s client=%s code=%s status=413 page=none detail=%s", ex->id,
                   c->peer, cg_refusal_code(why.kind), cg_log_quote(detail, sizeof detail, why.detail,
                                                                    strlen(why.detail)));
            ex->refusal = why.kind;
            cg_access_log_request(c);
            cg_conn_close(c, false);
            return false;
        }
        cg_proxy_refuse(c, &why, true);
        return false;
    }
    if (bad) {
        cg_refusal why;
        cg_refuse(&why, CG_REFUSE_BAD_REQUEST, "Invalid chunked request body: %s.", bad);
        cg_proxy_refuse(c, &why, true);
        return false;
    }
    if (e == HPE_OK || e == HPE_PAUSED) {
        if (ex->req_done) {
            if (ex->req_parser.http_errno == HPE_PAUSED)
                http_parser_pause(&ex->req_parser, 0);
            cg_conn_set_timer(c, 0, NULL);
        } else {
            cg_conn_set_timer(c, ex->cfg->timeouts.client_body, on_body_timeout);
        }
        return true;
    }
    if (e == HPE_CB_body) {
        backend_failed(c, "closed the connection while the request body was sent");
        return false;
    }
    cg_refusal why;
    cg_refuse(&why, CG_REFUSE_BAD_REQUEST, "Invalid request body: %s.", http_errno_description(e));
    cg_proxy_refuse(c, &why, true);
    return false;
}

/* ---- for the response half (http_proxy_internal.h) ---- */

void cg_proxy_switch_to_tunnel(cg_conn *c, size_t off)
{
    cg_http_session *s = cg_http_session_of(c);
    cg_exchange *ex = &s->ex;
    cg_backend_conn *bc = ex->bc;
    ex->bc = NULL;
    ex->phase = CG_EX_IDLE;
    s->requests++;
    cg_admit_cancel(&ex->admit);
    release_request_buffers(c); /* ex->req's and ex->res's headers are gone with them */
    /* From here c->data is the tunnel's: the session stays where it is, and
     * its client and exchange record are the tunnel's (tunnel.h). */
    if (!cg_tunnel_start(c, &s->client, ex, bc, off)) { /* out of memory: still the HTTP/1.1 handler's */
        ex->bc = bc;
        cg_conn_close(c, false);
    }
}

void cg_proxy_drop_backend(cg_exchange *ex, bool reusable) { drop_backend(ex, reusable); }
void cg_proxy_finish_exchange(cg_conn *c) { finish_exchange(c); }
void cg_proxy_backend_failed(cg_conn *c, const char *what) { backend_failed(c, what); }
bool cg_proxy_retry_after_401(cg_conn *c) { return retry_after_401(c); }
void cg_proxy_on_body_timeout(uv_timer_t *t) { on_body_timeout(t); }

/* ---- the pump: drives the exchange from the client's plaintext ---- */

static bool handle_read_status(cg_conn *c, cg_tls_status st)
{
    cg_exchange *ex = cg_http_ex(c);
    switch (st) {
    case CG_TLS_OK:
        return true;
    case CG_TLS_WANT_READ:
        return false;
    case CG_TLS_CLOSED:
    case CG_TLS_ERROR:
        if (ex->phase == CG_EX_IDLE && c->ppos == c->plen) {
            cg_conn_close(c, st == CG_TLS_CLOSED); /* a normal end between requests */
        } else if (ex->phase == CG_EX_FORWARDING && ex->req_done) {
            /* The client may half-close after its request; keep waiting
             * for the response. */
            c->eof = true;
            return false;
        } else {
            cg_conn_close(c, false);
        }
        return false;
    }
    return false;
}

void cg_proxy_pump(cg_conn *c)
{
    cg_exchange *ex = cg_http_ex(c);
    while (!c->closing && !c->lingering) {
        switch (ex->phase) {
        case CG_EX_IDLE:
            /* A client that sends requests and does not read the responses:
             * start no new one and read nothing more (TCP backpressure
             * reaches it) until its output drains below the low-water mark;
             * cg_proxy_on_drain() continues. */
            ex->out_blocked = c->out_queued > CG_OUT_HIGH_WATER;
            if (ex->out_blocked)
                return;
            if (c->ppos < c->plen) {
                begin_exchange(c);
                break;
            }
            if (c->draining && cg_http_session_of(c)->requests > 0) { /* the first request is still awaited (cg_conn_drain) */
                cg_conn_close(c, true);
                return;
            }
            cg_tls_status st = cg_conn_read_plaintext(c);
            if (st == CG_TLS_WANT_READ && c->plen == 0)
                cg_conn_release_input(c); /* nothing came: an idle keep-alive connection */
            if (!handle_read_status(c, st))
                return;
            break;

        case CG_EX_HEAD: {
            size_t head_len = 0;
            cg_refusal why;
            const cg_limits *lim = &c->tls_cfg->limits;
            cg_http_limits hl = { lim->max_request_head, lim->max_header_line, lim->max_headers };
            cg_head_scan r = cg_http_scan_head_more(&ex->req_scan, c->pbuf + c->ppos, c->plen - c->ppos, &hl, false,
                                                    &head_len, &why);
            if (r == CG_HEAD_COMPLETE) {
                if (!on_request_head(c, head_len))
                    return;
                admit_request(c);
                return; /* the admission's answer continues the pump when the exchange may proceed */
            }
            arm_header_timer(c);
            if (r == CG_HEAD_INVALID) {
                cg_proxy_refuse(c, &why, true);
                return;
            }
            if (c->ppos > 0)
                cg_conn_compact(c);
            if (!handle_read_status(c, cg_conn_read_plaintext(c)))
                return;
            break;
        }

        case CG_EX_ADMITTING:
        case CG_EX_CONNECTING:
            return; /* the client's next bytes wait in TLS and the socket */

        case CG_EX_FORWARDING:
            if (ex->req_done || ex->req_paused)
                return; /* pipelined bytes wait until the response is done */
            if (c->ppos < c->plen) {
                if (!feed_request_body(c))
                    return;
                break;
            }
            if (c->eof) {
                cg_conn_close(c, false);
                return;
            }
            cg_conn_compact(c);
            if (!handle_read_status(c, cg_conn_read_plaintext(c)))
                return;
            break;
        }
    }
}

/* ---- the connection's handler (conn.h) ---- */

static void http_ready(cg_conn *c)
{
    cg_http_session *s = cg_http_session_of(c);
    cg_exchange *ex = &s->ex;
    s->ready = true;
    reset_exchange(ex);
    /* The first request must follow the handshake promptly. */
    cg_conn_set_timer(c, c->tls_cfg->timeouts.request_header, on_header_timeout);
    cg_client_start(&s->client, c);
    if (c->overloaded) {
        cg_refusal why;
        cg_refuse(&why, CG_REFUSE_OVERLOADED,
                  "This server already has %u connections open (limits.max_connections); try again later.",
                  c->tls_cfg->limits.max_connections);
        cg_proxy_refuse(c, &why, true);
    }
}

static void http_input(cg_conn *c)
{
    cg_proxy_pump(c);
    /* The client's end between requests closes, unless responses to
     * pipelined requests still wait for the client to read (out_blocked). */
    cg_exchange *ex = cg_http_ex(c);
    if (c->eof && !c->closing && !c->lingering && ex->phase == CG_EX_IDLE && !ex->out_blocked)
        cg_conn_close(c, false);
}

static void http_close(cg_conn *c)
{
    cg_http_session *s = cg_http_session_of(c);
    if (!s->ready)
        return;
    abort_exchange(c);
    if (c->closing)
        cg_client_close(&s->client);
}

/* Graceful shutdown: idle once a request was served and none is in
 * progress; otherwise the connection closes after the exchange. */
static bool http_idle(const cg_conn *c)
{
    const cg_http_session *s = cg_http_session_of(c);
    return s->ready && s->requests > 0 && s->ex.phase == CG_EX_IDLE && c->ppos == c->plen;
}

const cg_conn_handler cg_http1_handler = {
    .data_size = sizeof(cg_http_session),
    .on_ready = http_ready,
    .on_input = http_input,
    .on_drain = cg_proxy_on_drain,
    .on_close = http_close,
    .is_idle = http_idle,
};
