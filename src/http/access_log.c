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
    uint32_t series = ex->route ? ex->route->stats_series : CG_STATS_NO_ROUTE | cg_stats_listener(c->listener);
    cg_stats_request(&c->w->stats, series, ex->status, ex->refusal);
    if (!cg_log_enabled(CG_LOG_INFO))
        return;
    const cg_config *cfg = ex->cfg ? ex->cfg : c->tls_cfg;
    char path[700], sent[400];
    const char *p = ex->path, *ts = ex->target_sent;
    if (!cfg->log_query) {
        cg_log_redact_query(path, sizeof path, ex->path, strlen(ex->path));
        cg_log_redact_query(sent, sizeof sent, ex->target_sent, strlen(ex->target_sent));
        p = path;
        ts = sent;
    }
    cg_tls_session_info tls;
    cg_tls_session_info_get(&c->tls, &tls);
    bool parsed = ex->method[0] != '\0'; /* the head parsed: method, version, headers known */
    double ms = (double)(uv_hrtime() - ex->started_ns) / 1e6;
    int sub = ex->refusal != CG_REFUSE_NONE ? cg_refusal_substatus(ex->refusal) : 0;
    const cg_log_field f[] = {
        CG_LF_STR("id", ex->id),
        CG_LF_STR("listener", c->tls_cfg->listeners[c->listener].name),
        CG_LF_STR("client", c->peer),
        CG_LF_STR("subject", cl->cert_present && cl->subject ? cl->subject : "-"),
        CG_LF_STR("serial", cl->cert_present ? cl->serial : "-"),
        CG_LF_STR("principal", cl->mapped ? cl->principal : "-"),
        CG_LF_STR("method", parsed ? ex->method : "-"),
        CG_LF_STR("path", ex->path[0] ? p : "-"),
        CG_LF_INT("status", ex->status),
        CG_LF_INT("sub", sub),
        CG_LF_STR("code", cg_refusal_code(ex->refusal)),
        CG_LF_STR("backend", ex->route && ex->cfg ? ex->cfg->backends[ex->backend].name : "-"),
        CG_LF_UINT("bytes_in", ex->bytes_in),
        CG_LF_UINT("bytes_out", ex->bytes_out),
        CG_LF_MS("ms", ms),
        CG_LF_STR("host", parsed && ex->host[0] ? ex->host : "-"),
        CG_LF_STR("user_agent", parsed && ex->user_agent[0] ? ex->user_agent : "-"),
        CG_LF_STR("http", !parsed ? "-" : ex->req.version_minor ? "1.1" : "1.0"),
        CG_LF_STR("tls", tls.version),
        CG_LF_STR("cipher", tls.cipher),
        CG_LF_BOOL("resumed", tls.resumed),
        CG_LF_STR("target_sent", ts), /* last: only when normalization changed the target */
    };
    cg_log_kv(CG_LOG_INFO, "request", f, sizeof f / sizeof f[0] - (ex->target_sent[0] ? 0 : 1));
}

void cg_access_log_header(char *dst, size_t cap, const cg_http_request *req, const char *name)
{
    const cg_http_header *h = cg_http_find_header(req->headers, req->nheaders, name);
    if (!h) {
        dst[0] = '\0';
        return;
    }
    cg_slice_copy(dst, cap, h->value);
    if (h->value.n > cap - 1)
        memcpy(dst + cap - 4, "...", 4);
}
