#include "health.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "revocation/revocation.h"
#include "kerberos/kerberos.h"
#include "net/net.h"

static void put(cg_prom *p, const char *s)
{
    if (!p->oom && !cg_buf_append_str(&p->out, s))
        p->oom = true;
}

void cg_health_json_string(cg_prom *p, const char *s)
{
    put(p, "\"");
    char esc[8];
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f)
            continue;
        if (!p->oom && !cg_buf_append(&p->out, run, (size_t)(s - run)))
            p->oom = true;
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        put(p, esc);
        run = s + 1;
    }
    if (!p->oom && !cg_buf_append(&p->out, run, (size_t)(s - run)))
        p->oom = true;
    put(p, "\"");
}

typedef struct checks {
    cg_prom *p;
    unsigned n;
    bool ready;
} checks;

static void check(checks *c, const char *name, const char *issuer, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void check(checks *c, const char *name, const char *issuer, bool ok, const char *fmt, ...)
{
    char detail[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    put(c->p, c->n++ ? ",{\"name\":" : "{\"name\":");
    cg_health_json_string(c->p, name);
    if (issuer) {
        put(c->p, ",\"issuer\":");
        cg_health_json_string(c->p, issuer);
    }
    put(c->p, ok ? ",\"ok\":true,\"detail\":" : ",\"ok\":false,\"detail\":");
    cg_health_json_string(c->p, detail);
    put(c->p, "}");
    c->ready = c->ready && ok;
}

static void utc(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

#define ISSUERS_MAX 256

static void check_crl(checks *c, const cg_metrics_sources *src, int64_t now)
{
    const cg_config *cfg = src->cfg;
    bool any = false;
    uint32_t grace = UINT32_MAX;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const cg_listener_revocation *r = &cfg->listeners[i].revocation;
        if (r->mode == CG_REVOCATION_OFF)
            continue;
        any = true;
        if (r->stale_grace_s < grace)
            grace = r->stale_grace_s;
    }
    if (!any) {
        check(c, "crl", NULL, true, "revocation is off on every listener");
        return;
    }
    cg_crl_issuer_stats *is = calloc(ISSUERS_MAX, sizeof *is);
    if (!is) {
        check(c, "crl", NULL, false, "out of memory");
        return;
    }
    size_t n = src->services->crl ? cg_crl_store_issuers(src->services->crl, is, ISSUERS_MAX) : 0;
    if (n == 0)
        check(c, "crl", NULL, true, "no CRL held or fetched yet: each CA's CRL is fetched for the first client "
              "certificate it issued (or loaded from revocation.crl_files)");
    char when[40];
    for (size_t i = 0; i < n; i++) {
        const cg_crl_issuer_stats *e = &is[i];
        if (e->held && e->next_update && now > e->next_update + (int64_t)grace) {
            utc(e->next_update, when, sizeof when);
            check(c, "crl", e->issuer, false, "its CRL expired at %s (nextUpdate), beyond revocation.stale_grace "
                  "(%us): certificates it issued are refused (403.13)%s%s", when, grace,
                  e->last_error[0] ? "; last fetch: " : "", e->last_error);
        } else if (!e->held && e->fetched && !e->last_fetch_ok) {
            check(c, "crl", e->issuer, false, "no CRL held and the last fetch failed: certificates it issued are "
                  "refused (403.13); last fetch: %s", e->last_error[0] ? e->last_error : "no URL answered");
        } else if (!e->held) {
            check(c, "crl", e->issuer, true, "no full CRL held yet");
        } else if (!e->next_update) {
            check(c, "crl", e->issuer, true, "CRL held (no nextUpdate)");
        } else {
            utc(e->next_update, when, sizeof when);
            check(c, "crl", e->issuer, true, "CRL held, nextUpdate %s%s", when,
                  now > e->next_update ? " (past it, within revocation.stale_grace)" : "");
        }
    }
    free(is);
}

static void check_kerberos(checks *c, const cg_metrics_sources *src, uv_loop_t *loop, int64_t now)
{
    cg_kerberos *k = src->services->kerberos;
    if (!k)
        return;
    cg_kerberos_stats ks;
    cg_kerberos_read_stats(k, &ks);
    int64_t window = src->cfg->admin.kdc_window_s;
    int64_t age = ks.kdc_ok_s ? now - ks.kdc_ok_s : -1;
    /* Half the window without news: ask the KDC (an AS exchange for the
     * proxy itself), so the answer is fresh before it matters. */
    if (age < 0 || age * 2 >= window)
        cg_kerberos_probe(k, loop);
    if (age >= 0 && age <= window) {
        check(c, "kerberos", NULL, true, "the KDC answered %" PRId64 "s ago (admin.kdc_window %" PRId64 "s)", age,
              window);
        return;
    }
    char when[40] = "never";
    if (ks.kdc_ok_s)
        utc(ks.kdc_ok_s, when, sizeof when);
    check(c, "kerberos", NULL, false, "no KDC exchange succeeded within admin.kdc_window (%" PRId64 "s; last: %s)%s%s",
          window, when, ks.probe_error[0] ? ": " : (ks.probing ? ": a check is under way" : ""), ks.probe_error);
}

bool cg_health_ready(const cg_metrics_sources *src, uv_loop_t *loop, cg_prom *p)
{
    cg_prom list = { 0 };
    checks c = { .p = &list, .ready = true };
    int64_t now = (int64_t)time(NULL);
    if (!src->cfg)
        check(&c, "config", NULL, false, "no configuration loaded");
    else if (src->reload_failures)
        check(&c, "config", NULL, true, "%s loaded; %u of %u reload(s) refused (the configuration in force is "
              "kept: see the reload log lines)", src->cfg->file, src->reload_failures, src->reloads);
    else
        check(&c, "config", NULL, true, "%s loaded", src->cfg->file);
    if (src->stopping)
        check(&c, "listeners", NULL, false, "stopping: finishing the requests in flight");
    else if (!src->serving)
        check(&c, "listeners", NULL, false, "the workers are not listening yet");
    else
        check(&c, "listeners", NULL, true, "%zu listener(s) on %u worker(s)", src->cfg->nlisteners, src->nworkers);
    if (src->cfg) {
        check_crl(&c, src, now);
        check_kerberos(&c, src, loop, now);
    }
    put(p, c.ready ? "{\"ready\":true,\"checks\":[" : "{\"ready\":false,\"checks\":[");
    if (!p->oom && list.out.len && !cg_buf_append(&p->out, list.out.data, list.out.len))
        p->oom = true;
    p->oom = p->oom || list.oom;
    put(p, "]}\n");
    cg_buf_free(&list.out);
    return c.ready;
}
