/* One HTTP/2 stream, its request half: fields -> rules -> pipeline, and
 * its refusal pages (h2_stream.h). The backend exchange is h2_backend.c. */
#include "h2_stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access_log.h"
#include "h2_conn.h"
#include "h2_stream_internal.h"
#include "refusal_page.h"



cg_h2_stream *cg_h2_stream_new(cg_conn *c, int32_t id)
{
    cg_h2_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->c = c;
    st->id = id;
    st->cfg = cg_config_ref(c->w->cfg); /* the newest snapshot serves each new request */
    st->started_ns = st->client_ns = uv_hrtime();
    cg_worker_request_id(c->w, st->rid, sizeof st->rid);
    size_t slots = cg_h2_field_slots(st->cfg);
    st->field_off = malloc(2 * slots * sizeof *st->field_off);
    st->hdrs = calloc(2 * slots, sizeof *st->hdrs); /* the request's, then the response's */
    if (!st->field_off || !st->hdrs) {
        free(st->field_off);
        free(st->hdrs);
        cg_config_unref(st->cfg);
        free(st);
        return NULL;
    }
    cg_h2_session *s = cg_h2_session_of(c);
    CG_LIST_PUSH(s->streams, st);
    s->nstreams++;
    return st;
}

/* ---- request fields ---- */

void cg_h2_stream_field(cg_h2_stream *st, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen)
{
    if (st->too_large || st->bad)
        return;
    const cg_limits *lim = &st->cfg->limits;
    /* The same bounds as an HTTP/1.1 head: its fields' bytes (plus ": " and
     * CRLF each), their number. */
    if (st->nfields >= cg_h2_field_slots(st->cfg) || st->fields.len + nlen + vlen + 4 > lim->max_request_head ||
        nlen + vlen + 2 > lim->max_header_line) {
        st->too_large = true;
        return;
    }
    st->field_off[2 * st->nfields] = (uint32_t)st->fields.len;
    if (!cg_buf_append(&st->fields, name, nlen)) {
        st->too_large = true;
        return;
    }
    st->field_off[2 * st->nfields + 1] = (uint32_t)st->fields.len;
    if (!cg_buf_append(&st->fields, value, vlen)) {
        st->too_large = true;
        return;
    }
    st->nfields++;
}

static cg_slice field_name(const cg_h2_stream *st, size_t i)
{
    uint32_t a = st->field_off[2 * i], b = st->field_off[2 * i + 1];
    return (cg_slice){ st->fields.data + a, b - a };
}

static cg_slice field_value(const cg_h2_stream *st, size_t i)
{
    uint32_t a = st->field_off[2 * i + 1];
    uint32_t b = i + 1 < st->nfields ? st->field_off[2 * (i + 1)] : (uint32_t)st->fields.len;
    return (cg_slice){ st->fields.data + a, b - a };
}

static bool slice_eq(cg_slice a, cg_slice b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* ---- answers ---- */

static void access_log(cg_h2_stream *st)
{
    cg_access_entry e = {
        .id = st->rid,
        .cfg = st->cfg,
        .route = st->route,
        .backend = st->backend,
        .method = st->method,
        .path = st->path,
        .target_sent = "",
        .status = st->status,
        .refusal = st->refusal,
        .bytes_in = st->bytes_in,
        .bytes_out = st->bytes_out,
        .started_ns = st->started_ns,
        .host = st->host,
        .user_agent = st->user_agent,
        .http = "2",
    };
    cg_access_log_entry(st->c, &session_of(st)->client, &e);
}

static ssize_t read_page(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    (void)ng, (void)id, (void)user;
    cg_h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
    (void)src;
    if (!st) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    size_t n = st->out_len - st->out_pos;
    if (n > len)
        n = len;
    memcpy(buf, st->out + st->out_pos, n);
    st->out_pos += n;
    if (st->out_pos == st->out_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

void cg_h2_drop_backend(cg_h2_stream *st, bool reusable)
{
    if (!st->bc)
        return;
    st->bc->owner = NULL;
    cg_backend_set_timer(st->bc, 0, NULL);
    cg_backend_release(st->bc, reusable);
    st->bc = NULL;
}

/* The refusal page for the stream, with the same status, codes and words
 * as HTTP/1.1's (cg_proxy_refuse); a stream whose response began is reset. */
void cg_h2_refuse(cg_h2_stream *st, const cg_refusal *why)
{
    cg_conn *c = st->c;
    cg_h2_session *s = session_of(st);
    cg_h2_drop_backend(st, false);
    if (st->res_started) {
        nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        cg_h2_send(c);
        return;
    }
    int status = cg_refusal_status(why->kind);
    char st_text[24];
    cg_refusal_status_text(why->kind, st_text, sizeof st_text);
    if (why->kind != CG_REFUSE_RATE_LIMITED)
        cg_log_fields(status >= 500 ? CG_LOG_ERROR : CG_LOG_WARN, "refused", CG_LF_STR("id", st->rid),
                      CG_LF_STR("client", c->peer), CG_LF_STR("code", cg_refusal_code(why->kind)),
                      CG_LF_STR("status", st_text), CG_LF_STR("detail", why->detail));
    char builtin[CG_ERROR_PAGE_MAX];
    size_t plen;
    char *page = cg_refusal_page(st->cfg, c, why, st->rid, builtin, &plen);
    free(st->out);
    st->out = NULL;
    st->out_pos = st->out_len = 0;
    if (!st->is_head && plen && (st->out = malloc(plen))) {
        memcpy(st->out, page, plen);
        st->out_len = plen;
    }
    cg_refusal_page_free(page, builtin);

    char status3[8], len_text[24], retry_after[16];
    snprintf(status3, sizeof status3, "%03d", status % 1000);
    snprintf(len_text, sizeof len_text, "%zu", st->is_head ? plen : st->out_len);
    snprintf(retry_after, sizeof retry_after, "%u", st->admit.retry_after_s ? st->admit.retry_after_s : 1);
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }
    nghttp2_nv nv[16] = {
        NV(":status", status3),
        NV("content-type", "text/html; charset=utf-8"),
        NV("content-length", len_text),
        NV("x-request-id", st->rid),
        NV("x-certgate-status", st_text),
        NV("x-certgate-error", cg_refusal_code(why->kind)),
    };
    size_t nnv = 6;
    if (why->kind == CG_REFUSE_RATE_LIMITED)
        nv[nnv++] = (nghttp2_nv)NV("retry-after", retry_after);
    /* The pages' security headers (error_page.h), as HTTP/2 fields. */
    char page_fields[sizeof CG_ERROR_PAGE_HEADERS];
    memcpy(page_fields, CG_ERROR_PAGE_HEADERS, sizeof page_fields);
    for (char *line = page_fields, *eol; nnv < 16 && (eol = strstr(line, "\r\n")); line = eol + 2) {
        char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon)
            break;
        *eol = *colon = '\0';
        for (char *k = line; *k; k++)
            *k = (char)cg_ascii_lower((unsigned char)*k);
        nv[nnv++] = (nghttp2_nv)NV(line, colon + 2);
    }
#undef NV
    nghttp2_data_provider dp = { .read_callback = read_page };
    st->status = status;
    st->refusal = why->kind;
    st->bytes_out = st->out_len;
    st->res_started = true;
    st->res_done = true;
    if (nghttp2_submit_response(s->ng, st->id, nv, nnv, st->out_len ? &dp : NULL) != 0)
        nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    access_log(st);
    st->logged = true;
    cg_h2_send(c); /* a body the client still sends is discarded, then the stream reset (h2_conn.c) */
}

static void refuse_kind(cg_h2_stream *st, cg_refusal_kind k, const char *detail)
{
    cg_refusal why;
    cg_refuse(&why, k, "%s", detail);
    cg_h2_refuse(st, &why);
}

/* ---- request ---- */

/* The request's fields into an HTTP/1.1 request for the pipeline and the
 * head writer: pseudo-header fields checked and taken out, :authority as
 * Host (a Host that differs is refused), cookie fields joined (RFC 9113
 * 8.2.3). False: refused. */
static bool build_request(cg_h2_stream *st, bool end_stream)
{
    cg_slice method = { 0 }, scheme = { 0 }, authority = { 0 }, path = { 0 }, host = { 0 };
    size_t ncookies = 0;
    const char *bad = NULL;
    for (size_t i = 0; i < st->nfields && !bad; i++) {
        cg_slice n = field_name(st, i), v = field_value(st, i);
        if (n.n && n.p[0] == ':') {
            if (cg_slice_ieq(n, ":method"))
                method = v;
            else if (cg_slice_ieq(n, ":scheme"))
                scheme = v;
            else if (cg_slice_ieq(n, ":authority"))
                authority = v;
            else if (cg_slice_ieq(n, ":path"))
                path = v;
            else
                bad = "an unknown pseudo-header field";
        } else if (cg_slice_ieq(n, "host")) {
            if (host.p)
                bad = "two host fields";
            host = v;
        } else if (cg_slice_ieq(n, "cookie")) {
            ncookies++;
        }
    }
    if (!bad && cg_slice_ieq(method, "CONNECT")) {
        refuse_kind(st, CG_REFUSE_METHOD, "The client sent CONNECT over HTTP/2; certgate does not tunnel.");
        return false;
    }
    if (!bad && !method.n)
        bad = "no :method";
    else if (!bad && !cg_slice_ieq(scheme, "https"))
        bad = ":scheme is not https";
    else if (!bad && !(path.n && (path.p[0] == '/' || (path.n == 1 && path.p[0] == '*' &&
                                                       cg_slice_ieq(method, "OPTIONS")))))
        bad = ":path is not origin-form";
    else if (!bad && authority.n && host.p && !(authority.n == host.n && strncasecmp(authority.p, host.p, host.n) == 0))
        bad = ":authority and host differ";
    else if (!bad && !authority.n && !host.n)
        bad = "neither :authority nor host";
    if (bad) {
        char d[200];
        snprintf(d, sizeof d, "The HTTP/2 request is malformed: %s (RFC 9113 8.3).", bad);
        refuse_kind(st, CG_REFUSE_BAD_REQUEST, d);
        return false;
    }
    cg_slice_copy(st->method, sizeof st->method, method);
    cg_slice_copy(st->path, sizeof st->path, path);
    st->is_head = slice_eq(method, CG_SLICE_LIT("HEAD"));

    /* Offsets survive the buffer's growth; the slices are taken after. */
    size_t method_off = (size_t)(method.p - st->fields.data), path_off = (size_t)(path.p - st->fields.data);
    size_t auth_off = authority.n ? (size_t)(authority.p - st->fields.data) : 0;
    size_t cookie_off = st->fields.len;
    if (ncookies > 1) {
        bool first = true;
        for (size_t i = 0; i < st->nfields; i++) {
            if (!cg_slice_ieq(field_name(st, i), "cookie"))
                continue;
            cg_slice v = field_value(st, i);
            size_t at = (size_t)(v.p - st->fields.data);
            if ((!first && !cg_buf_append(&st->fields, "; ", 2)) || !cg_buf_append(&st->fields, st->fields.data + at, v.n))
                return refuse_kind(st, CG_REFUSE_HEAD_TOO_LARGE, "Out of memory for the request's cookies."), false;
            first = false;
        }
    }
    size_t cookie_len = st->fields.len - cookie_off;

    cg_http_request *req = &st->req;
    memset(req, 0, sizeof *req);
    req->method = (cg_slice){ st->fields.data + method_off, method.n };
    req->version_minor = 1;
    req->headers = st->hdrs;
    req->keep_alive = true;
    size_t nh = 0;
    if (authority.n && !host.p)
        st->hdrs[nh++] = (cg_http_header){ CG_SLICE_LIT("Host"), { st->fields.data + auth_off, authority.n } };
    bool cookie_done = false;
    for (size_t i = 0; i < st->nfields; i++) {
        cg_slice n = field_name(st, i), v = field_value(st, i);
        if (n.n && n.p[0] == ':')
            continue;
        if (cg_slice_ieq(n, "content-length")) {
            uint64_t cl = 0;
            for (size_t k = 0; k < v.n; k++)
                cl = cl * 10 + (uint64_t)(v.p[k] - '0'); /* nghttp2 checked the digits and the DATA total */
            req->body = CG_BODY_LENGTH;
            req->content_length = cl;
            continue; /* the head writer frames the body itself */
        }
        if (ncookies > 1 && cg_slice_ieq(n, "cookie")) {
            if (cookie_done)
                continue;
            cookie_done = true;
            v = (cg_slice){ st->fields.data + cookie_off, cookie_len };
        }
        st->hdrs[nh++] = (cg_http_header){ n, v };
    }
    req->nheaders = nh;
    cg_access_log_header(st->host, sizeof st->host, req, "Host");
    cg_access_log_header(st->user_agent, sizeof st->user_agent, req, "User-Agent");
    if (end_stream) {
        req->body = CG_BODY_NONE;
        req->message_complete = true;
    } else if (req->body != CG_BODY_LENGTH) {
        req->body = CG_BODY_CHUNKED; /* HTTP/2 frames the body; the backend gets chunks */
    }

    /* The canonical target (target.h), as HTTP/1.1 requests get it. */
    if (!(st->target = malloc(path.n + 1)))
        return refuse_kind(st, CG_REFUSE_HEAD_TOO_LARGE, "Out of memory for the request target."), false;
    memcpy(st->target, st->fields.data + path_off, path.n);
    st->target[path.n] = '\0';
    cg_target canon;
    cg_refusal why;
    unsigned rules = listener_of(st)->windows_paths ? CG_TARGET_WINDOWS : CG_TARGET_POSIX;
    if (!cg_target_normalize(st->target, path.n, st->target, rules, &canon, &why)) {
        cg_h2_refuse(st, &why);
        return false;
    }
    if (canon.changed)
        cg_slice_copy(st->path, sizeof st->path, canon.target);
    req->target = canon.target;
    req->path = canon.path;
    return true;
}

/* The pipeline holds one request per client waiting for a pending
 * certificate verdict (admit.h); the connection's other streams queue here
 * behind it and run once it is answered (or gone). */
static void run_admit(cg_h2_stream *st)
{
    cg_h2_session *s = session_of(st);
    cg_client *cl = &s->client;
    if (cl->verdict_pending && cl->waiting && cl->waiting != &st->admit) {
        cg_h2_stream **pp = &s->verdict_queue;
        while (*pp)
            pp = &(*pp)->queue_next;
        *pp = st;
        st->queue_next = NULL;
        st->queued = true;
        return;
    }
    cg_admit_run(&st->admit); /* may answer at once */
}

static void run_verdict_queue(cg_h2_session *s)
{
    while (s->verdict_queue && !(s->client.verdict_pending && s->client.waiting)) {
        cg_h2_stream *st = s->verdict_queue;
        s->verdict_queue = st->queue_next;
        st->queued = false;
        cg_admit_run(&st->admit);
    }
}

static void on_admitted(void *ctx, const cg_admit_answer *ans)
{
    cg_h2_stream *st = ctx;
    cg_h2_session *s = session_of(st);
    if (s->verdict_queue) {
        /* The verdict is known: the queued streams go on first, only
         * submitting (busy); then their frames go out. This stream has
         * submitted nothing yet, so sending cannot end it. */
        bool was_busy = s->busy;
        s->busy = true;
        run_verdict_queue(s);
        s->busy = was_busy;
        if (!was_busy)
            cg_h2_send(st->c);
    }
    if (!ans->again) {
        st->route = st->admit.route;
        st->backend = st->admit.backend;
        st->body_room = st->admit.body_room;
        st->replay_ok = st->admit.replay_ok;
    }
    switch (ans->outcome) {
    case CG_ADMIT_FORWARD:
        cg_h2_forward(st, ans->token);
        return;
    case CG_ADMIT_REFUSED:
        cg_h2_refuse(st, ans->why);
        return;
    case CG_ADMIT_FAILED:
        nghttp2_submit_rst_stream(session_of(st)->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        cg_h2_send(st->c);
        return;
    }
}

/* :method and :path as sent, for the log line of a request refused before
 * its rules ran (pseudo-header fields come first: they were kept). */
static void names_for_log(cg_h2_stream *st)
{
    for (size_t i = 0; i < st->nfields; i++) {
        cg_slice n = field_name(st, i);
        if (cg_slice_ieq(n, ":method"))
            cg_slice_copy(st->method, sizeof st->method, field_value(st, i));
        else if (cg_slice_ieq(n, ":path"))
            cg_slice_copy(st->path, sizeof st->path, field_value(st, i));
    }
}

void cg_h2_stream_request(cg_h2_stream *st, bool end_stream)
{
    names_for_log(st);
    st->req_ended = end_stream;
    st->req_done = end_stream;
    if (st->c->overloaded) {
        cg_refusal why;
        cg_refuse(&why, CG_REFUSE_OVERLOADED,
                  "This server already has %u connections open (limits.max_connections); try again later.",
                  st->c->tls_cfg->limits.max_connections);
        cg_h2_refuse(st, &why);
        return;
    }
    if (st->too_large) {
        cg_refusal why;
        cg_refuse(&why, CG_REFUSE_HEAD_TOO_LARGE,
                  "The HTTP/2 request's fields are over the limits (limits.max_request_head %u bytes, "
                  "max_header_line %u, max_headers %u).",
                  st->cfg->limits.max_request_head, st->cfg->limits.max_header_line, st->cfg->limits.max_headers);
        cg_h2_refuse(st, &why);
        return;
    }
    if (!build_request(st, end_stream))
        return;
    cg_admit *a = &st->admit;
    a->client = &session_of(st)->client;
    a->answer = on_admitted;
    a->ctx = st;
    a->cfg = st->cfg;
    a->req = &st->req;
    a->request_id = st->rid;
    run_admit(st);
}

bool cg_h2_stream_check_stalled(cg_h2_stream *st, uint64_t now_ns)
{
    /* Not while certgate holds the body's window shut (a body not yet
     * written to the backend). */
    bool owes_body = st->admitted && !st->req_ended && !st->res_done && !st->body.len && !st->wbody.len;
    bool window_shut = st->res_started && st->out_len > st->out_pos;
    uint32_t limit_ms = st->cfg->timeouts.client_body;
    if (!(owes_body || window_shut) || now_ns - st->client_ns < (uint64_t)limit_ms * 1000000u)
        return false;
    if (!st->res_started) {
        cg_refusal why;
        cg_refuse(&why, CG_REFUSE_BODY_TIMEOUT, "The request body stalled: no data for %u ms (timeouts.client_body).",
                  limit_ms);
        cg_h2_refuse(st, &why);
        return true;
    }
    cg_log(CG_LOG_WARN, "client_stalled", "id=%s client=%s timeout_ms=%u", st->rid, st->c->peer, limit_ms);
    cg_h2_drop_backend(st, false);
    nghttp2_submit_rst_stream(session_of(st)->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    return true;
}

void cg_h2_stream_free(cg_h2_stream *st)
{
    cg_h2_session *s = cg_h2_session_of(st->c);
    if (!st->logged && st->res_started)
        access_log(st); /* answered by the backend: the line when the stream ends (bytes sent) */
    if (st->queued) {
        cg_h2_stream **pp = &s->verdict_queue;
        while (*pp != st)
            pp = &(*pp)->queue_next;
        *pp = st->queue_next;
    }
    /* DATA received and never written: the connection's window gets it back
     * (the stream's is gone with it). */
    size_t unconsumed = st->body.len + st->wbody_payload;
    if (unconsumed && s->ng && !st->c->closing)
        nghttp2_session_consume_connection(s->ng, unconsumed);
    cg_admit_cancel(&st->admit);
    if (s->verdict_queue && !s->client.waiting && !st->c->closing) {
        /* The next queued stream becomes the waiting one. Called from inside
         * nghttp2 (on_stream_close): answers only submit; the caller sends. */
        bool was_busy = s->busy;
        s->busy = true;
        run_verdict_queue(s);
        s->busy = was_busy;
    }
    cg_h2_drop_backend(st, false);
    CG_LIST_UNLINK(s->streams, st);
    s->nstreams--;
    if (st->res_done && st->out_pos == st->out_len)
        s->requests++;
    cg_buf_free(&st->fields);
    cg_buf_free(&st->body);
    cg_buf_free(&st->wbody);
    cg_buf_free(&st->head);
    cg_buf_free(&st->replay);
    free(st->field_off);
    free(st->hdrs);
    free(st->target);
    free(st->out);
    cg_config_unref(st->cfg);
    free(st);
}
