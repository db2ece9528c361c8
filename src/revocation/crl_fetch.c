/* CRL fetches (crl_fetch.h): per-worker jobs, libcurl's multi-socket API
 * driven by the worker's libuv loop, HTTP and LDAP answers parsed on the
 * thread pool, fetches shared between workers (through the store), the
 * background refresh timer, and the words of transfer errors.
 */
#include "crl_fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include "crl_files.h"
#include "base/base.h"

#define SWEEP_MS 15000          /* background refresh scan */

typedef crl_job job; /* the short name inside this file */

struct crl_job {
    crl_transfer_owner owner;     /* first: CURLOPT_PRIVATE of its transfers */
    cg_crl_fetcher *f;
    job *next;
    unsigned char key[33];        /* issuer id + 'B' (full CRL) or 'D' (delta) */
    bool delta;
    bool remote;                  /* another worker fetches it; we wait */
    bool orphan;                  /* the fetcher closed while it was parsing */
    char **urls;
    size_t nurls, next_url;
    unsigned char *issuer_dn;     /* the issuer's subject Name (DER) */
    size_t issuer_dn_len;
    unsigned char *spki;          /* the issuer's public key (DER) */
    size_t spki_len;
    char issuer_name[256];
    uint64_t deadline;            /* uv_now() ms */
    crl_store_settings set;       /* cache_dir not copied */
    /* the transfer in progress */
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    crl_body body;
    bool is_ldap, is_http;
    uint64_t started;
    bool working;                 /* parsing on the thread pool */
    /* results */
    cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS];
    int nattempts;
    bool ok;
    crl_waiter *waiters;
};

typedef struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    cg_crl_fetcher *f;
    struct sock *next, *prev;
} sock;

struct cg_crl_fetcher {
    uv_loop_t *loop;
    cg_crl_store *store;
    CURLM *multi;
    uv_timer_t curl_timer, sweep;
    uv_async_t wake;
    job *jobs;
    crl_transfer_owner *others;   /* transfers of other modules (ocsp_fetch.c) */
    sock *socks;
    int handles; /* open libuv handles */
    int work;    /* thread pool requests in flight */
    int remote;  /* jobs waiting for another worker: the wake-up keeps the loop alive */
    bool closing;
};

static void wake_waiters(job *j);

static void maybe_free_fetcher(cg_crl_fetcher *f)
{
    if (f->closing && f->handles == 0 && f->work == 0 && !f->jobs)
        free(f);
}

static void on_handle_closed(uv_handle_t *h)
{
    cg_crl_fetcher *f = h->data;
    f->handles--;
    maybe_free_fetcher(f);
}

/* ---- libcurl <-> libuv ---- */

static void process_completions(cg_crl_fetcher *f);

static void on_sock_closed(uv_handle_t *h)
{
    sock *sk = h->data;
    cg_crl_fetcher *f = sk->f;
    free(sk);
    f->handles--;
    maybe_free_fetcher(f);
}

static void sock_close(sock *sk)
{
    cg_crl_fetcher *f = sk->f;
    CG_LIST_UNLINK(f->socks, sk);
    uv_poll_stop(&sk->poll);
    uv_close((uv_handle_t *)&sk->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock *sk = h->data;
    cg_crl_fetcher *f = sk->f;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(f->multi, sk->fd, flags, &running);
    process_completions(f);
}

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    cg_crl_fetcher *f = userp;
    sock *sk = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            curl_multi_assign(f->multi, s, NULL);
            sock_close(sk);
        }
        return 0;
    }
    if (!sk) {
        sk = calloc(1, sizeof *sk);
        if (!sk)
            return -1;
        if (uv_poll_init_socket(f->loop, &sk->poll, s) != 0) {
            free(sk);
            return -1;
        }
        sk->fd = s;
        sk->f = f;
        sk->poll.data = sk;
        CG_LIST_PUSH(f->socks, sk);
        f->handles++;
        curl_multi_assign(f->multi, s, sk);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&sk->poll, ev, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    cg_crl_fetcher *f = t->data;
    int running;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process_completions(f);
}

static int on_curl_timeout(CURLM *m, long timeout_ms, void *userp)
{
    cg_crl_fetcher *f = userp;
    (void)m;
    if (f->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&f->curl_timer);
    else
        uv_timer_start(&f->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- jobs ---- */

static void job_free(job *j)
{
    if (j->easy) {
        curl_multi_remove_handle(j->f->multi, j->easy);
        curl_easy_cleanup(j->easy);
    }
    cg_strv_free(j->urls, j->nurls);
    free(j->issuer_dn);
    free(j->spki);
    free(j->body.p);
    free(j);
}

static void job_unlink(job *j)
{
    cg_crl_fetcher *f = j->f;
    for (job **pp = &f->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    j->next = NULL;
}

void crl_fetcher_wait_others(cg_crl_fetcher *f, bool on)
{
    if (on && f->remote++ == 0)
        uv_ref((uv_handle_t *)&f->wake);
    if (!on && --f->remote == 0 && !f->closing)
        uv_unref((uv_handle_t *)&f->wake);
}

/* A job waits for another worker (or stops waiting): while any does, the
 * wake-up handle keeps this loop alive. */
static void set_remote(job *j, bool remote)
{
    if (j->remote == remote)
        return;
    j->remote = remote;
    crl_fetcher_wait_others(j->f, remote);
}

static cg_crl_attempt *attempt_add(job *j, const char *url)
{
    if (j->nattempts >= CG_CRL_MAX_ATTEMPTS)
        return NULL;
    cg_crl_attempt *a = &j->attempts[j->nattempts++];
    memset(a, 0, sizeof *a);
    snprintf(a->url, sizeof a->url, "%s", url);
    return a;
}

job *crl_job_find(cg_crl_fetcher *f, const unsigned char key[33])
{
    for (job *j = f->jobs; j; j = j->next)
        if (memcmp(j->key, key, 33) == 0)
            return j;
    return NULL;
}

/* A local job ends: record its outcome for subscribers and wake them. */
static void publish(job *j, bool cancelled)
{
    crl_store_publish(j->f->store, j->key, j->f, j->ok, cancelled, j->attempts, j->nattempts, j->issuer_name);
}

/* Ends a job: outcome published, waiters re-evaluated, job freed. */
static void job_finish(job *j)
{
    cg_crl_fetcher *f = j->f;
    job_unlink(j);
    if (!j->remote)
        publish(j, false);
    bool was_remote = j->remote;
    set_remote(j, false);
    if (!j->ok && !was_remote) {
        char urls[700];
        size_t len = 0;
        for (int i = 0; i < j->nattempts; i++)
            len = cg_fmt_append(urls, sizeof urls, len, "%s%s: %s", i ? "; " : "", j->attempts[i].url,
                         j->attempts[i].result);
        if (!len)
            urls[0] = '\0';
        char iq[300], uq[800];
        cg_log_quote(iq, sizeof iq, j->issuer_name, strlen(j->issuer_name));
        cg_log_quote(uq, sizeof uq, urls, strlen(urls));
        cg_log(CG_LOG_WARN, "crl_fetch_failed", "issuer=%s kind=%s attempts=%s", iq, j->delta ? "delta" : "full",
               uq);
    }
    wake_waiters(j);
    job_free(j);
    (void)f;
}

size_t crl_body_append(crl_body *b, const void *p, size_t n, uint64_t max)
{
    if (b->len + n > max) {
        b->too_big = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (!cg_vec_reserve(b->p, b->cap, b->len + n, 4096))
        return 0;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    job *j = ud;
    return crl_body_append(&j->body, p, size * n, j->set.max_crl_size);
}

static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Why a URL is not fetched at all, or NULL when it may be. */
static const char *url_refusal(const job *j, const char *url, bool *ldap, bool *http)
{
    *ldap = *http = false;
    if (starts_with_ci(url, "http://")) {
        *http = true;
        return j->set.allow_http ? NULL : "skipped: http is not in revocation.allowed_schemes";
    }
    if (starts_with_ci(url, "https://")) {
        *http = true;
        return j->set.allow_https ? NULL : "skipped: https is not in revocation.allowed_schemes";
    }
    if (starts_with_ci(url, "ldap://")) {
        *ldap = true;
        if (!j->set.allow_ldap)
            return "skipped: ldap is not in revocation.allowed_schemes";
        if (url[7] == '/' || url[7] == '\0')
            return "skipped: an LDAP URL without a server (ldap:///...) names the Windows domain's directory, "
                   "which certgate does not locate; publish the CRL at an http or ldap://host/ URL";
        return NULL;
    }
    return "skipped: unsupported scheme (certgate fetches http, https and ldap URLs)";
}

static bool start_transfer(job *j, const char *url)
{
    cg_crl_fetcher *f = j->f;
    uint64_t now = uv_now(f->loop);
    long left = j->deadline > now ? (long)(j->deadline - now) : 0;
    CURL *e = curl_easy_init();
    if (!e)
        return false;
    char protos[32] = "", redir[32] = "";
    if (j->set.allow_http) {
        strcat(protos, "http,");
        strcat(redir, "http,");
    }
    if (j->set.allow_https) {
        strcat(protos, "https,");
        strcat(redir, "https,");
    }
    if (j->set.allow_ldap)
        strcat(protos, "ldap,");
    if (protos[0])
        protos[strlen(protos) - 1] = '\0';
    if (redir[0])
        redir[strlen(redir) - 1] = '\0';
    j->errbuf[0] = '\0';
    j->body.len = 0;
    j->body.too_big = false;
    bool follow = j->set.max_redirects > 0 && redir[0];
    if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protos) != CURLE_OK ||
        (follow && curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, redir) != CURLE_OK)) {
        curl_easy_cleanup(e);
        return false;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, &j->owner);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left > 0 ? left : 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left > 0 ? left : 1L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)j->set.max_crl_size);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)j->set.max_redirects);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "certgate/" CG_VERSION " (CRL fetcher)");
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return false;
    }
    j->easy = e;
    j->started = now;
    return true;
}

/* Starts the next URL of the job, or finishes it when none is left. */
void crl_job_next(job *j)
{
    cg_crl_fetcher *f = j->f;
    while (!j->ok && j->next_url < j->nurls && !f->closing) {
        const char *url = j->urls[j->next_url++];
        cg_crl_attempt *a = attempt_add(j, url);
        const char *no = url_refusal(j, url, &j->is_ldap, &j->is_http);
        if (no) {
            if (a)
                snprintf(a->result, sizeof a->result, "%s", no);
            continue;
        }
        if (uv_now(f->loop) >= j->deadline) {
            char t[32];
            cg_fmt_ms(j->set.fetch_timeout_ms, t, sizeof t);
            if (a)
                snprintf(a->result, sizeof a->result,
                         "not tried: revocation.fetch_timeout (%s) was used up by the URLs before it", t);
            continue;
        }
        if (start_transfer(j, url))
            return;
        if (a)
            snprintf(a->result, sizeof a->result, "could not start the transfer (out of memory?)");
    }
    job_finish(j);
}

typedef struct parse_work {
    uv_work_t req;
    job *j;
    unsigned char *body;
    size_t len;
    crl *result;
    char err[300];
} parse_work;

static void parse_run(uv_work_t *req)
{
    parse_work *w = req->data;
    job *j = w->j;
    const unsigned char *buf = w->body;
    size_t len = w->len;
    unsigned char *ldap = NULL;
    if (j->is_ldap) {
        ldap = crl_from_ldap_text((const char *)w->body, w->len, &len, w->err, sizeof w->err);
        if (!ldap)
            return;
        buf = ldap;
    }
    crl *c = crl_parse(buf, len, w->err, sizeof w->err);
    free(ldap);
    if (!c)
        return;
    if (c->issuer_len != j->issuer_dn_len || memcmp(c->der + c->issuer_off, j->issuer_dn, c->issuer_len) != 0) {
        snprintf(w->err, sizeof w->err, "wrong issuer: the CRL is issued by \"%.120s\", not by \"%.120s\"",
                 c->issuer, j->issuer_name);
        crl_unref(c);
        return;
    }
    if (c->is_delta != j->delta) {
        snprintf(w->err, sizeof w->err, "%s", j->delta ? "a full CRL where a delta CRL was expected (Freshest CRL)"
                                                         : "a delta CRL where a full CRL was expected");
        crl_unref(c);
        return;
    }
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int ret = mbedtls_pk_parse_public_key(&pk, j->spki, j->spki_len);
    if (ret == 0)
        ret = crl_check_signature(c, &pk);
    mbedtls_pk_free(&pk);
    if (ret != 0) {
        snprintf(w->err, sizeof w->err,
                 "bad signature: the CRL does not verify with the public key of \"%.120s\" (forged, corrupted, or "
                 "signed by another key with the same name)",
                 j->issuer_name);
        crl_unref(c);
        return;
    }
    w->result = c;
}


static void on_persisted(void *ud)
{
    cg_crl_fetcher *f = ud;
    f->work--;
    maybe_free_fetcher(f);
}

static void persist(cg_crl_fetcher *f, crl *c, const unsigned char key[33])
{
    char *dir = crl_store_cache_dir(f->store);
    if (dir && crl_cache_persist(f->loop, dir, c, key, on_persisted, f))
        f->work++;
}

static void parse_done(uv_work_t *req, int status)
{
    parse_work *w = req->data;
    job *j = w->j;
    cg_crl_fetcher *f = j->f;
    crl *c = w->result;
    f->work--;
    j->working = false;
    free(w->body);
    if (j->orphan || status == UV_ECANCELED) {
        if (c)
            crl_unref(c);
        free(w);
        job_free(j);
        maybe_free_fetcher(f);
        return;
    }
    cg_crl_attempt *a = j->nattempts ? &j->attempts[j->nattempts - 1] : NULL;
    if (!c) {
        if (a)
            snprintf(a->result, sizeof a->result, "%s", w->err);
        free(w);
        crl_job_next(j);
        return;
    }
    free(w);
    int64_t now = (int64_t)time(NULL);
    const char *url = j->urls[j->next_url - 1];
    c->origin = CRL_ORIGIN_FETCH;
    snprintf(c->source, sizeof c->source, "%s", url);
    c->obtained = now;
    c->urls = cg_strv_dup(j->urls, j->nurls);
    c->nurls = c->urls ? j->nurls : 0;
    if ((c->spki = malloc(j->spki_len))) {
        memcpy(c->spki, j->spki, j->spki_len);
        c->spki_len = j->spki_len;
    }
    memcpy(c->issuer_id, j->key, 32);
    c->bound = true;
    crl_memo_set(c, j->key, true);
    char when[40];
    if (c->this_update > now + CRL_SKEW_S) {
        cg_fmt_time_utc(c->this_update, when, sizeof when);
        if (a)
            snprintf(a->result, sizeof a->result,
                     "not yet valid: its thisUpdate (%s) is in the future (check the clocks of this server and the CA)",
                     when);
        crl_unref(c);
        crl_job_next(j);
        return;
    }
    bool fresh = !c->next_update || c->next_update > now;
    if (!fresh && a) {
        cg_fmt_time_utc(c->next_update, when, sizeof when);
        snprintf(a->result, sizeof a->result, "expired: the CRL's nextUpdate (%s) has passed (the CDP serves an "
                 "outdated CRL)", when);
    }
    char tu[40], nu[40], iq[300], uq[600];
    cg_fmt_time_utc(c->this_update, tu, sizeof tu);
    if (c->next_update)
        cg_fmt_time_utc(c->next_update, nu, sizeof nu);
    else
        snprintf(nu, sizeof nu, "none");
    size_t nents = c->nents;
    cg_log_quote(iq, sizeof iq, c->issuer, strlen(c->issuer));
    cg_log_quote(uq, sizeof uq, url, strlen(url));
    if (crl_store_add(f->store, crl_ref(c))) {
        cg_log(CG_LOG_INFO, "crl_updated", "issuer=%s kind=%s url=%s this_update=\"%s\" next_update=\"%s\" "
               "entries=%zu bytes=%zu ms=%u%s", iq, j->delta ? "delta" : "full", uq, tu, nu, nents, c->der_len,
               a ? a->ms : 0, fresh ? "" : " stale=1");
        persist(f, c, j->key);
    }
    crl_unref(c);
    if (!fresh) {
        crl_job_next(j);
        return;
    }
    if (a) {
        a->ok = true;
        snprintf(a->result, sizeof a->result, "ok");
    }
    j->ok = true;
    job_finish(j);
}

/* A transfer ended (libcurl's verdict in rc). */
static void transfer_done(job *j, CURLcode rc)
{
    cg_crl_fetcher *f = j->f;
    long status = 0, oserr = 0;
    curl_off_t us = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(j->easy, CURLINFO_OS_ERRNO, &oserr);
    curl_easy_getinfo(j->easy, CURLINFO_TOTAL_TIME_T, &us);
    curl_multi_remove_handle(f->multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    cg_crl_attempt *a = j->nattempts ? &j->attempts[j->nattempts - 1] : NULL;
    if (a) {
        a->ms = (uint32_t)(us / 1000);
        a->bytes = j->body.len;
        a->status = j->is_http ? (int)status : 0;
    }
    char why[300];
    if (rc == CURLE_WRITE_ERROR && !j->body.too_big) {
        if (a)
            snprintf(a->result, sizeof a->result, "out of memory while receiving the CRL");
        crl_job_next(j);
        return;
    }
    if (rc != CURLE_OK) {
        if (j->body.too_big)
            rc = CURLE_FILESIZE_EXCEEDED;
        crl_transfer_error(rc, oserr, j->errbuf, (long)j->set.max_redirects, j->set.fetch_timeout_ms,
                           j->set.max_crl_size, why, sizeof why);
        if (a)
            snprintf(a->result, sizeof a->result, "%s", why);
        crl_job_next(j);
        return;
    }
    if (j->is_http && status != 200) {
        if (a) {
            if (status >= 300 && status < 400)
                snprintf(a->result, sizeof a->result, "HTTP %ld: a redirect, not followed (revocation.max_redirects "
                         "is %u, or the target's scheme is not allowed)", status, j->set.max_redirects);
            else
                snprintf(a->result, sizeof a->result, "HTTP %ld", status);
        }
        crl_job_next(j);
        return;
    }
    parse_work *w = calloc(1, sizeof *w);
    if (!w) {
        if (a)
            snprintf(a->result, sizeof a->result, "out of memory");
        crl_job_next(j);
        return;
    }
    w->req.data = w;
    w->j = j;
    w->body = j->body.p;
    w->len = j->body.len;
    j->body = (crl_body){ 0 };
    if (uv_queue_work(f->loop, &w->req, parse_run, parse_done) != 0) {
        free(w->body);
        free(w);
        if (a)
            snprintf(a->result, sizeof a->result, "could not queue the CRL for parsing");
        crl_job_next(j);
        return;
    }
    f->work++;
    j->working = true;
}

static void job_transfer_done(crl_transfer_owner *o, CURLcode rc)
{
    transfer_done((job *)o, rc);
}

static void process_completions(cg_crl_fetcher *f)
{
    CURLMsg *m;
    int left;
    while (f->multi && (m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv) {
            crl_transfer_owner *o = (crl_transfer_owner *)priv;
            o->done(o, rc);
        }
    }
}

/* The job for issuer's CRL (or delta CRL) from urls: an existing one, a new
 * one this fetcher runs (*start set: call crl_job_next() once the waiter is
 * attached), or one that waits for the worker already fetching it. NULL
 * when out of memory, or when !wait_for_others and another worker fetches. */
job *crl_job_start(cg_crl_fetcher *f, const unsigned char key[33], char *const *urls, size_t nurls,
                   const unsigned char *dn, size_t dn_len, const unsigned char *spki, size_t spki_len,
                   const char *issuer_name, bool wait_for_others, bool *start)
{
    *start = false;
    job *j = crl_job_find(f, key);
    if (j)
        return j;
    j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->f = f;
    j->owner.done = job_transfer_done;
    memcpy(j->key, key, 33);
    j->delta = key[32] == 'D';
    j->urls = cg_strv_dup(urls, nurls);
    j->nurls = nurls;
    j->issuer_dn = malloc(dn_len ? dn_len : 1);
    j->issuer_dn_len = dn_len;
    j->spki = malloc(spki_len ? spki_len : 1);
    j->spki_len = spki_len;
    if (!j->urls || !j->issuer_dn || !j->spki) {
        if (!j->urls)
            j->nurls = 0;
        job_free(j);
        return NULL;
    }
    memcpy(j->issuer_dn, dn, dn_len);
    memcpy(j->spki, spki, spki_len);
    snprintf(j->issuer_name, sizeof j->issuer_name, "%s", issuer_name);
    crl_store_settings_get(f->store, &j->set);
    bool mine = crl_store_claim(f->store, key, f, &f->wake, wait_for_others);
    if (!mine && !wait_for_others) {
        job_free(j); /* someone else refreshes it */
        return NULL;
    }
    j->deadline = uv_now(f->loop) + j->set.fetch_timeout_ms;
    j->next = f->jobs;
    f->jobs = j;
    set_remote(j, !mine);
    *start = mine;
    return j;
}

/* Another worker published results: finish the jobs that waited for them. */
static void on_wake(uv_async_t *h)
{
    cg_crl_fetcher *f = h->data;
    /* Other owners first (OCSP queries): each that moves on may change the list. */
    for (bool again = true; again;) {
        again = false;
        for (crl_transfer_owner *o = f->others; o; o = o->next)
            if (o->woken && o->woken(o)) {
                again = true; /* o may be gone: start over */
                break;
            }
    }
    for (;;) {
        job *ready = NULL;
        bool retry = false;
        for (job *j = f->jobs; j && !ready; j = j->next) {
            if (!j->remote)
                continue;
            int st = crl_store_shared(f->store, j->key, f, &f->wake, !f->closing, &j->ok, j->attempts, &j->nattempts);
            if (st == CRL_SHARED_RUNNING)
                continue;
            if (st == CRL_SHARED_MINE) {
                retry = true;
                set_remote(j, false);
            }
            ready = j;
        }
        if (!ready)
            return;
        if (retry) {
            ready->deadline = uv_now(f->loop) + ready->set.fetch_timeout_ms;
            crl_job_next(ready);
        } else {
            job_finish(ready);
        }
    }
}

/* Background refresh: CRLs fetched by this process whose nextUpdate is
 * within refresh_before, refetched before they are needed. */
static void on_sweep(uv_timer_t *t)
{
    cg_crl_fetcher *f = t->data;
    crl_refresh list[8];
    int n = crl_store_due(f->store, (int64_t)time(NULL), list, 8);
    for (int i = 0; i < n; i++) {
        crl_refresh *d = &list[i];
        bool start = false;
        job *j = f->closing ? NULL
                            : crl_job_start(f, d->key, d->urls, d->nurls, d->dn, d->dn_len, d->spki, d->spki_len,
                                            d->name, false, &start);
        if (j && start)
            crl_job_next(j);
        cg_strv_free(d->urls, d->nurls);
        free(d->dn);
        free(d->spki);
    }
}

cg_crl_fetcher *cg_crl_fetcher_new(uv_loop_t *loop, cg_crl_store *s)
{
    cg_crl_fetcher *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->loop = loop;
    f->store = s;
    f->multi = curl_multi_init();
    if (!f->multi) {
        free(f);
        return NULL;
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    uv_timer_init(loop, &f->curl_timer);
    uv_timer_init(loop, &f->sweep);
    uv_async_init(loop, &f->wake, on_wake);
    f->curl_timer.data = f->sweep.data = f->wake.data = f;
    f->handles = 3;
    uv_timer_start(&f->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    /* Neither keeps a loop alive on its own (certgate explain). */
    uv_unref((uv_handle_t *)&f->sweep);
    uv_unref((uv_handle_t *)&f->wake);
    return f;
}

void cg_crl_fetcher_close(cg_crl_fetcher *f)
{
    if (!f || f->closing)
        return;
    f->closing = true;
    /* No more wake-ups from other workers. */
    crl_store_unsubscribe(f->store, &f->wake);
    /* Cancel every job: waiters get UNKNOWN. */
    while (f->jobs) {
        job *j = f->jobs;
        job_unlink(j);
        if (j->easy) {
            curl_multi_remove_handle(f->multi, j->easy);
            curl_easy_cleanup(j->easy);
            j->easy = NULL;
        }
        cg_crl_attempt *a = attempt_add(j, j->next_url && j->next_url <= j->nurls ? j->urls[j->next_url - 1] : "-");
        if (a)
            snprintf(a->result, sizeof a->result, "cancelled: certgate is stopping");
        j->ok = false;
        if (!j->remote)
            publish(j, true);
        set_remote(j, false);
        wake_waiters(j);
        if (j->working)
            j->orphan = true; /* parse_done frees it */
        else
            job_free(j);
    }
    while (f->others) {
        crl_transfer_owner *o = f->others;
        CG_LIST_UNLINK(f->others, o);
        o->cancel(o);
    }
    curl_multi_cleanup(f->multi);
    f->multi = NULL;
    while (f->socks)
        sock_close(f->socks);
    uv_close((uv_handle_t *)&f->curl_timer, on_handle_closed);
    uv_close((uv_handle_t *)&f->sweep, on_handle_closed);
    uv_close((uv_handle_t *)&f->wake, on_handle_closed);
}

/* ---- waiting for a job ---- */

void crl_job_wait(job *j, crl_waiter *w)
{
    w->job = j;
    w->next = j->waiters;
    j->waiters = w;
}

void crl_waiter_cancel(crl_waiter *w)
{
    if (w->job) {
        for (crl_waiter **pp = &w->job->waiters; *pp; pp = &(*pp)->next)
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        w->job = NULL;
    }
}

/* A job ended: each waiter is told, with the job's attempts. */
static void wake_waiters(job *j)
{
    crl_waiter *w;
    while ((w = j->waiters)) {
        j->waiters = w->next;
        w->job = NULL;
        w->next = NULL;
        w->done(w, j->delta, j->attempts, j->nattempts);
    }
}

bool crl_fetcher_closing(const cg_crl_fetcher *f) { return f->closing; }

void crl_fetcher_track(cg_crl_fetcher *f, crl_transfer_owner *o) { CG_LIST_PUSH(f->others, o); }

void crl_fetcher_untrack(cg_crl_fetcher *f, crl_transfer_owner *o) { CG_LIST_UNLINK(f->others, o); }

CURLM *crl_fetcher_multi(const cg_crl_fetcher *f) { return f->multi; }

uv_loop_t *crl_fetcher_loop(const cg_crl_fetcher *f) { return f->loop; }

void crl_fetcher_settings(const cg_crl_fetcher *f, crl_store_settings *out) { crl_store_settings_get(f->store, out); }

cg_crl_store *crl_fetcher_store(const cg_crl_fetcher *f) { return f->store; }

void crl_fetcher_hold(cg_crl_fetcher *f) { f->work++; }

void crl_fetcher_release(cg_crl_fetcher *f)
{
    f->work--;
    maybe_free_fetcher(f);
}

bool crl_fetcher_claim(cg_crl_fetcher *f, const unsigned char key[33])
{
    return crl_store_claim(f->store, key, f, &f->wake, true);
}

void crl_fetcher_publish(cg_crl_fetcher *f, const unsigned char key[33], bool ok, bool cancelled,
                         const cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS], int nattempts)
{
    static const char no_issuer[256]; /* not a CRL: no issuer statistics */
    crl_store_publish(f->store, key, f, ok, cancelled, attempts, nattempts, no_issuer);
}

int crl_fetcher_shared(cg_crl_fetcher *f, const unsigned char key[33], bool *ok,
                       cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS], int *nattempts)
{
    return crl_store_shared(f->store, key, f, &f->wake, !f->closing, ok, attempts, nattempts);
}

/* ---- transfer errors ---- */

void crl_transfer_error(CURLcode code, long os_errno, const char *errbuf, long redirects_max, uint32_t timeout_ms,
                        uint64_t max_size, char *out, size_t cap)
{
    char t[32], sz[32];
    const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(code);
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, cap, "DNS: %s", detail);
        break;
    case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED)
            snprintf(out, cap, "connection refused");
        else if (os_errno == ENETUNREACH || os_errno == EHOSTUNREACH)
            snprintf(out, cap, "network or host unreachable");
        else
            snprintf(out, cap, "cannot connect: %s", detail);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        cg_fmt_ms(timeout_ms, t, sizeof t);
        snprintf(out, cap, "timeout: no complete answer within %s (revocation.fetch_timeout)", t);
        break;
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_WRITE_ERROR:
        cg_fmt_size_units(max_size, sz, sizeof sz);
        snprintf(out, cap, "too big: larger than %s (revocation.max_crl_size)", sz);
        break;
    case CURLE_TOO_MANY_REDIRECTS:
        snprintf(out, cap, "too many redirects: more than %ld (revocation.max_redirects)", redirects_max);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(out, cap, "scheme not allowed (revocation.allowed_schemes): %s", detail);
        break;
    case CURLE_LDAP_SEARCH_FAILED:
        snprintf(out, cap, "LDAP search failed: %s", detail);
        break;
    case CURLE_LDAP_CANNOT_BIND:
        snprintf(out, cap, "LDAP bind failed: %s", detail);
        break;
    case CURLE_GOT_NOTHING:
        snprintf(out, cap, "the server closed the connection without answering");
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        snprintf(out, cap, "TLS: %s", detail);
        break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        snprintf(out, cap, "connection broken: %s", detail);
        break;
    default:
        snprintf(out, cap, "%s", detail);
        break;
    }
}
