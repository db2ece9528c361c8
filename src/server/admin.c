#include "admin.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "base/base.h"
#include "health.h"
#include "http/http.h"

#define ADMIN_HEAD_MAX 4096u   /* a scraper's or a probe's request head is a few hundred bytes */
#define ADMIN_HEADERS_MAX 32u

typedef struct admin_conn admin_conn;

struct cg_admin {
    uv_loop_t *loop;
    uv_tcp_t listener;
    const cg_metrics_sources *src;
    admin_conn *conns;
    unsigned nconns;
    int handles;                 /* the listener's, then the connections' */
    bool closing;
};

struct admin_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    uv_shutdown_t sd;
    cg_admin *a;
    admin_conn *next, *prev;
    int handles;
    bool answered, closing;
    char ip[INET6_ADDRSTRLEN];
    char head[ADMIN_HEAD_MAX];
    size_t len;
    cg_head_scanner scan;
    cg_buf resp;
};

static void maybe_free_admin(cg_admin *a)
{
    if (a->closing && a->handles == 0)
        free(a);
}

static void on_conn_closed(uv_handle_t *h)
{
    admin_conn *c = h->data;
    if (--c->handles > 0)
        return;
    cg_admin *a = c->a;
    CG_LIST_UNLINK(a->conns, c);
    a->nconns--;
    a->handles--;
    cg_buf_free(&c->resp);
    free(c);
    maybe_free_admin(a);
}

static void conn_close(admin_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

#define LINGER_MS 1000 /* after the response: the client's unread bytes are drained this long */

static void on_linger_end(uv_timer_t *t) { conn_close(t->data); }

static void on_shutdown(uv_shutdown_t *sd, int status)
{
    admin_conn *c = sd->data;
    if (status != 0 || c->closing) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_linger_end, LINGER_MS, 0);
}

/* Response sent: FIN, then what the client still sends is read and
 * dropped until it closes (or LINGER_MS): closing with unread bytes would
 * reset the connection and could destroy the response before the client
 * reads it (a refused oversized head). */
static void on_written(uv_write_t *wr, int status)
{
    admin_conn *c = wr->data;
    c->sd.data = c;
    if (status != 0 || c->closing || uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

static const char *reason(int status)
{
    switch (status) {
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    default: return cg_http_reason_phrase(status);
    }
}

/* One response, then the connection closes. */
static void respond(admin_conn *c, int status, const char *ctype, const char *body, size_t blen, const char *extra)
{
    if (c->answered || c->closing)
        return;
    c->answered = true;
    uv_timer_stop(&c->timer);
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n%s\r\n",
                      status, reason(status), ctype, blen, extra ? extra : "");
    cg_buf out = { 0 };
    if (!cg_buf_append(&out, head, (size_t)hl) || !cg_buf_append(&out, body, blen)) {
        cg_buf_free(&out);
        conn_close(c);
        return;
    }
    cg_buf_free(&c->resp);
    c->resp = out;
    uv_buf_t b = uv_buf_init(c->resp.data, (unsigned)c->resp.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        conn_close(c);
}

static void respond_text(admin_conn *c, int status, const char *text, const char *extra)
{
    respond(c, status, "text/plain; charset=utf-8", text, strlen(text), extra);
}

static void on_timeout(uv_timer_t *t)
{
    admin_conn *c = t->data;
    respond_text(c, 408, "request not received within admin.timeout\n", NULL);
}

static void serve(admin_conn *c, const cg_http_request *req)
{
    cg_admin *a = c->a;
    if (req->method.n != 3 || memcmp(req->method.p, "GET", 3) != 0) {
        respond_text(c, 405, "only GET is served here\n", "Allow: GET\r\n");
        return;
    }
    if (req->body != CG_BODY_NONE) {
        respond_text(c, 400, "a GET request has no body here\n", NULL);
        return;
    }
    cg_slice path = req->path;
    cg_prom p = { 0 };
    if (path.n == 8 && !memcmp(path.p, "/metrics", 8)) {
        cg_metrics_render(a->src, &p);
        if (p.oom)
            respond_text(c, 500, "out of memory\n", NULL);
        else
            respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", p.out.data, p.out.len, NULL);
    } else if (path.n == 8 && !memcmp(path.p, "/healthz", 8)) {
        respond_text(c, 200, "ok\n", NULL);
    } else if (path.n == 7 && !memcmp(path.p, "/readyz", 7)) {
        bool ready = cg_health_ready(a->src, a->loop, &p);
        if (p.oom)
            respond_text(c, 500, "out of memory\n", NULL);
        else
            respond(c, ready ? 200 : 503, "application/json", p.out.data, p.out.len, NULL);
    } else {
        respond_text(c, 404, "not found: /metrics, /healthz and /readyz are served here\n", NULL);
    }
    cg_buf_free(&p.out);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    admin_conn *c = h->data;
    if (c->answered) /* draining */
        c->len = 0;
    *buf = uv_buf_init(c->head + c->len, (unsigned)(sizeof c->head - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    admin_conn *c = s->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->answered)
        return;
    c->len += (size_t)nread;
    cg_http_limits lim = { .max_head = ADMIN_HEAD_MAX, .max_line = ADMIN_HEAD_MAX, .max_headers = ADMIN_HEADERS_MAX };
    size_t head_len = 0;
    cg_refusal why;
    switch (cg_http_scan_head_more(&c->scan, c->head, c->len, &lim, false, &head_len, &why)) {
    case CG_HEAD_INCOMPLETE:
        if (c->len == sizeof c->head)
            respond_text(c, 431, "request head over 4 KiB\n", NULL);
        return;
    case CG_HEAD_INVALID:
        respond_text(c, cg_refusal_status(why.kind), "malformed request\n", NULL);
        return;
    case CG_HEAD_COMPLETE:
        break;
    }
    http_parser parser;
    cg_http_header hdrs[ADMIN_HEADERS_MAX];
    cg_http_request req;
    if (!cg_http_parse_request(&parser, c->head, head_len, hdrs, ADMIN_HEADERS_MAX, &req, &why)) {
        int st = cg_refusal_status(why.kind);
        respond_text(c, st == 501 ? 405 : st, "malformed request\n", st == 501 ? "Allow: GET\r\n" : NULL);
        return;
    }
    serve(c, &req);
}

static void peer_ip(admin_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    c->ip[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->ip, sizeof c->ip);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->ip, sizeof c->ip);
}

static void on_connection(uv_stream_t *server, int status)
{
    cg_admin *a = server->data;
    if (status < 0 || a->closing)
        return;
    admin_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->a = a;
    uv_tcp_init(a->loop, &c->tcp);
    uv_timer_init(a->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    CG_LIST_PUSH(a->conns, c);
    a->nconns++;
    a->handles++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    const cg_admin_cfg *cfg = &a->src->cfg->admin;
    if (a->nconns > cfg->max_connections) {
        conn_close(c); /* a scraper retries; the bound is what matters */
        return;
    }
    peer_ip(c);
    uv_timer_start(&c->timer, on_timeout, cfg->timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    if (cfg->nallow && !cg_cidr_list_contains(cfg->allow, cfg->nallow, c->ip)) {
        cg_log(CG_LOG_WARN, "admin_refused", "client=%s detail=\"not in admin.allow\"", c->ip[0] ? c->ip : "-");
        respond_text(c, 403, "not allowed (admin.allow)\n", NULL);
    }
}

static void on_listener_closed(uv_handle_t *h)
{
    cg_admin *a = h->data;
    a->handles--;
    maybe_free_admin(a);
}

cg_admin *cg_admin_start(uv_loop_t *loop, const cg_metrics_sources *src, char *err, size_t errcap)
{
    const cg_admin_cfg *cfg = &src->cfg->admin;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    if (uv_ip4_addr(cfg->address, cfg->port, &addr.in4) != 0 && uv_ip6_addr(cfg->address, cfg->port, &addr.in6) != 0) {
        snprintf(err, errcap, "admin.address \"%s\" is not a numeric address", cfg->address);
        return NULL;
    }
    cg_admin *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->src = src;
    uv_tcp_init(loop, &a->listener);
    a->listener.data = a;
    a->handles = 1;
    int r = uv_tcp_bind(&a->listener, &addr.sa, addr.sa.sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&a->listener, 64, on_connection);
    if (r != 0) {
        snprintf(err, errcap, "cannot listen on %s%s%s:%u (admin): %s", strchr(cfg->address, ':') ? "[" : "",
                 cfg->address, strchr(cfg->address, ':') ? "]" : "", cfg->port, uv_strerror(r));
        a->closing = true;
        uv_close((uv_handle_t *)&a->listener, on_listener_closed);
        return NULL;
    }
    return a;
}

void cg_admin_close(cg_admin *a)
{
    if (!a || a->closing)
        return;
    a->closing = true;
    for (admin_conn *c = a->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&a->listener, on_listener_closed);
}
