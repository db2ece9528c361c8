/* The access log line of an exchange (access_log.h). */
#include "access_log.h"

#include <string.h>

#include "http_proxy.h"
#include "base/base.h"

void cg_access_log_request(cg_conn *c)
{
    cg_access_log_exchange(c, &cg_http_session_of(c)->client, cg_http_ex(c));
}

void cg_access_log_exchange(cg_conn *c, const cg_client *cl, const cg_exchange *ex)
{
    bool parsed = ex->method[0] != '\0'; /* the head parsed: method, version, headers known */
    cg_access_entry e = {
        .id = ex->id,
        .cfg = ex->cfg,
        .route = ex->route,
        .backend = ex->backend,
        .method = ex->method,
        .path = ex->path,
        .target_sent = ex->target_sent,
        .status = ex->status,
        .refusal = (int)ex->refusal,
        .bytes_in = ex->bytes_in,
        .bytes_out = ex->bytes_out,
        .started_ns = ex->started_ns,
        .host = parsed ? ex->host : "",
        .user_agent = parsed ? ex->user_agent : "",
        .http = !parsed ? "-" : ex->req.version_minor ? "1.1" : "1.0",
    };
    cg_access_log_entry(c, cl, &e);
}

void cg_access_log_entry(cg_conn *c, const cg_client *cl, const cg_access_entry *e)
{
    cg_refusal_kind refusal = (cg_refusal_kind)e->refusal;
    uint32_t series = e->route ? e->route->stats_series : CG_STATS_NO_ROUTE | cg_stats_listener(c->listener);
    cg_stats_request(&c->w->stats, series, e->status, refusal);
    if (!cg_log_enabled(CG_LOG_INFO))
        return;
    const cg_config *cfg = e->cfg ? e->cfg : c->tls_cfg;
    char path[700], sent[400];
    const char *p = e->path, *ts = e->target_sent;
    if (!cfg->log_query) {
        cg_log_redact_query(path, sizeof path, e->path, strlen(e->path));
        cg_log_redact_query(sent, sizeof sent, e->target_sent, strlen(e->target_sent));
        p = path;
        ts = sent;
    }
    cg_tls_session_info tls;
    cg_tls_session_info_get(&c->tls, &tls);
    bool parsed = e->method[0] != '\0';
    double ms = (double)(uv_hrtime() - e->started_ns) / 1e6;
    int sub = refusal != CG_REFUSE_NONE ? cg_refusal_substatus(refusal) : 0;
    const cg_log_field f[] = {
        CG_LF_STR("id", e->id),
        CG_LF_STR("listener", c->tls_cfg->listeners[c->listener].name),
        CG_LF_STR("client", c->peer),
        CG_LF_STR("subject", cl->cert_present && cl->subject ? cl->subject : "-"),
        CG_LF_STR("serial", cl->cert_present ? cl->serial : "-"),
        CG_LF_STR("principal", cl->mapped ? cl->principal : "-"),
        CG_LF_STR("method", parsed ? e->method : "-"),
        CG_LF_STR("path", e->path[0] ? p : "-"),
        CG_LF_INT("status", e->status),
        CG_LF_INT("sub", sub),
        CG_LF_STR("code", cg_refusal_code(refusal)),
        CG_LF_STR("backend", e->route && e->cfg ? e->cfg->backends[e->backend].name : "-"),
        CG_LF_UINT("bytes_in", e->bytes_in),
        CG_LF_UINT("bytes_out", e->bytes_out),
        CG_LF_MS("ms", ms),
        CG_LF_STR("host", parsed && e->host[0] ? e->host : "-"),
        CG_LF_STR("user_agent", parsed && e->user_agent[0] ? e->user_agent : "-"),
        CG_LF_STR("http", e->http),
        CG_LF_STR("tls", tls.version),
        CG_LF_STR("cipher", tls.cipher),
        CG_LF_BOOL("resumed", tls.resumed),
        CG_LF_STR("target_sent", ts), /* last: only when normalization changed the target */
    };
    cg_log_kv(CG_LOG_INFO, "request", f, sizeof f / sizeof f[0] - (e->target_sent[0] ? 0 : 1));
}

void cg_access_log_header(char *dst, size_t cap, const cg_http_request *req, const char *name)
{
    /* Only the access line (info) shows it: no lookup and copy per request otherwise. */
    const cg_http_header *h = cg_log_enabled(CG_LOG_INFO) ? cg_http_find_header(req->headers, req->nheaders, name)
                                                          : NULL;
    if (!h) {
        dst[0] = '\0';
        return;
    }
    cg_slice_copy(dst, cap, h->value);
    if (h->value.n > cap - 1)
        memcpy(dst + cap - 4, "...", 4);
}
