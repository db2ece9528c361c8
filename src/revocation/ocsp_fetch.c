/* OCSP queries (ocsp_fetch.h): one per certificate in flight in the process (the other workers
 * wait for it through the store's registry of shared transfers), the persisted answer read and
 * every answer parsed and verified on the thread pool, transfers on the CRL fetcher's libcurl
 * multi (as a crl_transfer_owner), the answer cached and persisted.
 */
#include "ocsp_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "ocsp_files.h"
#include "ocsp_verify.h"
#include "base/base.h"

#define NONCE_LEN 16
/* RFC 5019 2.1.1: a request whose GET URL fits in 255 bytes goes by GET (HTTP caches, CDNs
 * in front of responders can answer it); a longer one by POST. */
#define GET_URL_MAX 255

struct ocsp_query {
    crl_transfer_owner owner;     /* first: CURLOPT_PRIVATE of its transfer */
    bool tracked;                 /* in the fetcher's list of owners */
    bool remote;                  /* another worker asks: this one waits for its outcome */
    bool working;                 /* a thread-pool job reads the query (disk, parse, verify) */
    bool orphan;                  /* it ended while working: the job's end frees it */
    cg_ocsp_client *c;
    unsigned char key[33];        /* cg_ocsp_certid_key + 'O': the query shared between workers */
    char *dir;                    /* persisted answers (ocsp_files.h), NULL: none */
    bool may_write;               /* false: certgate explain, which never writes them */
    bool from_disk;               /* the answer is the persisted one */
    ocsp_query *next, *prev;      /* the client's queries */
    cg_ocsp_certid id;
    mbedtls_x509_crt issuer;      /* a copy: the connection's chain may go first */
    char *urls[CG_OCSP_MAX_URLS];
    size_t nurls, next_url;
    cg_ocsp_settings set;         /* responder not kept */
    crl_store_settings fetch;     /* schemes and redirects of revocation: */
    unsigned char req[CG_OCSP_REQUEST_MAX];
    size_t req_len;
    unsigned char nonce[NONCE_LEN];
    size_t nonce_len;
    uint64_t deadline;            /* uv_now() ms */
    /* the transfer in progress */
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    crl_body body;
    /* the outcome */
    cg_ocsp_answer ans;
    size_t err_len;
    cg_crl_attempt att[CG_CRL_MAX_ATTEMPTS]; /* URL by URL, for the workers that waited */
    int natt;
    cg_ocsp_waiter *waiters;
};

struct cg_ocsp_client {
    cg_crl_fetcher *f;
    cg_ocsp_cache *cache;
    ocsp_query *queries;
    size_t nqueries;
};

cg_ocsp_client *cg_ocsp_client_new(cg_crl_fetcher *f, cg_ocsp_cache *cache)
{
    cg_ocsp_client *c = calloc(1, sizeof *c);
    if (c) {
        c->f = f;
        c->cache = cache;
    }
    return c;
}

size_t cg_ocsp_client_queries(const cg_ocsp_client *c) { return c->nqueries; }

/* ---- the end of a query ---- */

static void stop_transfer(ocsp_query *q)
{
    if (q->easy) {
        CURLM *multi = crl_fetcher_multi(q->c->f);
        if (multi)
            curl_multi_remove_handle(multi, q->easy);
        curl_easy_cleanup(q->easy);
        q->easy = NULL;
    }
    curl_slist_free_all(q->headers);
    q->headers = NULL;
}

static void query_free(ocsp_query *q)
{
    stop_transfer(q);
    for (size_t i = 0; i < q->nurls; i++)
        free(q->urls[i]);
    mbedtls_x509_crt_free(&q->issuer);
    free(q->body.p);
    free(q->dir);
    free(q);
}

/* "url: why" into the answer's error. */
static void note_failure(ocsp_query *q, const char *url, const char *why)
{
    q->err_len = cg_fmt_append(q->ans.error, sizeof q->ans.error, q->err_len, "%s%s: %s", q->err_len ? "; " : "",
                               url, why);
    if (q->natt < CG_CRL_MAX_ATTEMPTS) {
        cg_crl_attempt *a = &q->att[q->natt++];
        memset(a, 0, sizeof *a);
        snprintf(a->url, sizeof a->url, "%s", url);
        snprintf(a->result, sizeof a->result, "%s", why);
    }
}

/* Ends the query: its outcome published to the other workers (or, when it waited for another
 * worker, nothing: that one logged), logged, waiters told, freed (by the thread-pool job's end
 * when one still runs). */
static void query_finish(ocsp_query *q, bool cancelled)
{
    cg_ocsp_client *c = q->c;
    CG_LIST_UNLINK(c->queries, q);
    c->nqueries--;
    if (q->tracked)
        crl_fetcher_untrack(c->f, &q->owner);
    q->tracked = false;
    bool shared = q->remote;
    if (q->remote) {
        q->remote = false;
        crl_fetcher_wait_others(c->f, false);
    } else {
        crl_fetcher_publish(c->f, q->key, q->ans.ok, cancelled, q->att, q->natt);
    }
    char uq[700];
    if (shared || cancelled) {
        /* the worker that asked logged it; a stop is no failure of the responder */
    } else if (q->ans.ok) {
        const cg_ocsp_entry *e = &q->ans.entry;
        char sq[300];
        cg_log_quote(uq, sizeof uq, e->responder, strlen(e->responder));
        cg_log_quote(sq, sizeof sq, e->signer, strlen(e->signer));
        cg_log(CG_LOG_INFO, "ocsp_answer", "responder=%s status=%s signer=%s this_update=%lld next_update=%lld "
               "source=%s", uq, cg_ocsp_status_name(e->status), sq, (long long)e->this_update,
               (long long)e->next_update, q->from_disk ? "cache_dir" : "responder");
    } else {
        cg_log_quote(uq, sizeof uq, q->ans.error, strlen(q->ans.error));
        cg_log(CG_LOG_WARN, "ocsp_failed", "attempts=%s", uq);
    }
    cg_ocsp_waiter *w;
    while ((w = q->waiters)) {
        q->waiters = w->next;
        w->q = NULL;
        w->next = NULL;
        w->done(w, &q->ans);
    }
    if (q->working)
        q->orphan = true;
    else
        query_free(q);
}

static void query_cancel(ocsp_query *q)
{
    stop_transfer(q);
    note_failure(q, q->next_url ? q->urls[q->next_url - 1] : "-", "cancelled: certgate is stopping");
    query_finish(q, true);
}

/* The fetcher closes: it has taken the query off its list already. */
static void on_cancel(crl_transfer_owner *o)
{
    ocsp_query *q = (ocsp_query *)o;
    q->tracked = false;
    query_cancel(q);
}

void cg_ocsp_client_free(cg_ocsp_client *c)
{
    if (!c)
        return;
    while (c->queries)
        query_cancel(c->queries);
    free(c);
}

void cg_ocsp_waiter_cancel(cg_ocsp_waiter *w)
{
    if (!w->q)
        return;
    for (cg_ocsp_waiter **pp = &w->q->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    w->q = NULL;
}

/* ---- transfers ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    ocsp_query *q = ud;
    return crl_body_append(&q->body, p, size * n, q->set.max_response);
}

/* Why url is not asked at all, or NULL when it may be. */
static const char *url_refusal(const crl_store_settings *s, const char *url)
{
    if (strncasecmp(url, "http://", 7) == 0)
        return s->allow_http ? NULL : "skipped: http is not in revocation.allowed_schemes";
    if (strncasecmp(url, "https://", 8) == 0)
        return s->allow_https ? NULL : "skipped: https is not in revocation.allowed_schemes";
    return "skipped: unsupported scheme (OCSP is asked over http or https)";
}

/* RFC 6960 A.1: GET {url}/{url-encoding of the base64 of the DER request} into out; false when
 * it would be longer than GET_URL_MAX. */
static bool get_url(const ocsp_query *q, const char *url, char *out, size_t cap)
{
    char b64[CG_OCSP_REQUEST_MAX * 4 / 3 + 8];
    if (strchr(url, '?'))
        return false; /* a path cannot follow a query: POST */
    size_t n = cg_base64_encode(q->req, q->req_len, b64, sizeof b64);
    size_t len = (size_t)snprintf(out, cap, "%s%s", url, url[0] && url[strlen(url) - 1] == '/' ? "" : "/");
    if (n == 0 || len >= cap)
        return false;
    for (size_t i = 0; i < n && len + 3 < cap; i++) {
        char c = b64[i];
        if (c == '+' || c == '/' || c == '=')
            len += (size_t)snprintf(out + len, cap - len, "%%%02X", (unsigned char)c);
        else
            out[len++] = c;
    }
    out[len] = '\0';
    return len <= GET_URL_MAX;
}

/* RFC 6960 A.1: GET for small requests, else POST with the DER request as the body. */
static bool start_transfer(ocsp_query *q, const char *url)
{
    uv_loop_t *loop = crl_fetcher_loop(q->c->f);
    CURLM *multi = crl_fetcher_multi(q->c->f);
    uint64_t now = uv_now(loop);
    long left = q->deadline > now ? (long)(q->deadline - now) : 1L;
    char protos[16] = "";
    if (q->fetch.allow_http)
        strcat(protos, "http,");
    if (q->fetch.allow_https)
        strcat(protos, "https,");
    if (!multi || !protos[0])
        return false;
    protos[strlen(protos) - 1] = '\0';
    CURL *e = curl_easy_init();
    if (!e)
        return false;
    char get[GET_URL_MAX + 8];
    bool by_get = get_url(q, url, get, sizeof get);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/ocsp-response");
    struct curl_slist *h2 = h && !by_get ? curl_slist_append(h, "Content-Type: application/ocsp-request") : h;
    if (!h2 || curl_easy_setopt(e, CURLOPT_URL, by_get ? get : url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protos) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protos) != CURLE_OK) {
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        return false;
    }
    q->errbuf[0] = '\0';
    q->body.len = 0;
    q->body.too_big = false;
    curl_easy_setopt(e, CURLOPT_PRIVATE, &q->owner);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h2);
    if (!by_get) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->req);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)q->req_len);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q->set.max_response);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, q->fetch.max_redirects > 0 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)q->fetch.max_redirects);
    curl_easy_setopt(e, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL); /* a redirected POST stays one */
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "certgate/" CG_VERSION " (OCSP)");
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        curl_slist_free_all(h2);
        curl_easy_cleanup(e);
        return false;
    }
    q->easy = e;
    q->headers = h2;
    return true;
}

/* Starts the next URL; false when none is left (the caller finishes the query). */
static bool next_url(ocsp_query *q)
{
    uv_loop_t *loop = crl_fetcher_loop(q->c->f);
    while (q->next_url < q->nurls && !crl_fetcher_closing(q->c->f)) {
        const char *url = q->urls[q->next_url++];
        const char *no = url_refusal(&q->fetch, url);
        if (no) {
            note_failure(q, url, no);
            continue;
        }
        if (uv_now(loop) >= q->deadline) {
            note_failure(q, url, "not tried: revocation.ocsp_timeout was used up by the URLs before it");
            continue;
        }
        if (start_transfer(q, url))
            return true;
        note_failure(q, url, "could not start the transfer (out of memory?)");
    }
    return false;
}

/* ---- answers: parsed and verified on the thread pool ---- */

/* One response believed or not, off the loop: the persisted one (from_disk: read first) or the
 * one a responder sent. The job reads the query's id, issuer, settings and nonce, which stay as
 * they are while it runs (q->working). */
typedef struct take_work {
    uv_work_t req;
    ocsp_query *q;
    bool from_disk;
    unsigned char *body;
    size_t len;
    int64_t now;
    /* the outcome */
    bool ok;
    bool absent;                  /* from_disk: no file */
    cg_ocsp_entry e;
    char err[400];
} take_work;

static void take_run(uv_work_t *req)
{
    take_work *w = req->data;
    const ocsp_query *q = w->q;
    if (w->from_disk) {
        w->body = ocsp_file_read(q->dir, q->key, q->set.max_response, &w->len, &w->absent, w->err, sizeof w->err);
        if (!w->body && w->absent)
            return;
        if (!w->body)
            goto refused;
    }
    cg_ocsp_response r;
    if (!cg_ocsp_response_parse(w->body, w->len, &q->id, &r, w->err, sizeof w->err))
        goto refused;
    /* A persisted answer: the nonce of its own query was checked when it came. */
    cg_ocsp_verify_opts o = { .now = w->now, .skew_s = CG_OCSP_SKEW_S, .max_age_s = q->set.max_age_s,
                              .allow_sha1 = q->set.allow_sha1,
                              .nonce = q->nonce_len && !w->from_disk ? q->nonce : NULL,
                              .nonce_len = w->from_disk ? 0 : q->nonce_len };
    cg_ocsp_signer signer;
    if (cg_ocsp_verify(&r, &q->issuer, &o, &signer, w->err, sizeof w->err) != CG_OCSP_TRUSTED)
        goto refused;
    w->e.status = r.status;
    w->e.reason = r.reason;
    w->e.revoked_at = r.revoked_at;
    w->e.this_update = r.this_update;
    w->e.next_update = r.next_update;
    w->e.expires = r.next_update ? r.next_update : r.this_update + q->set.max_age_s;
    cg_fmt_append(w->e.signer, sizeof w->e.signer, 0, "%s%s", signer.subject,
                  signer.delegated ? " (delegated responder)" : "");
    w->ok = true;
    return;
refused:
    /* A persisted answer no longer (or never) believed goes; the responder's next one replaces it. */
    if (w->from_disk && q->may_write)
        ocsp_file_remove(q->dir, q->key);
}

/* A believed answer written to disk, off the loop; nobody waits for it. */
typedef struct persist_work {
    uv_work_t req;
    char *dir;
    unsigned char key[32];
    unsigned char *der;
    size_t len;
    int64_t expires;
    char err[300];
} persist_work;

static void persist_run(uv_work_t *req)
{
    persist_work *w = req->data;
    ocsp_file_write(w->dir, w->key, w->der, w->len, w->expires, w->err, sizeof w->err);
}

static void persist_done(uv_work_t *req, int status)
{
    persist_work *w = req->data;
    (void)status;
    if (w->err[0]) {
        char dq[700], eq[400];
        cg_log_quote(dq, sizeof dq, w->dir, strlen(w->dir));
        cg_log_quote(eq, sizeof eq, w->err, strlen(w->err));
        cg_log(CG_LOG_WARN, "ocsp_cache_write_failed", "dir=%s detail=%s", dq, eq);
    }
    free(w->dir);
    free(w->der);
    free(w);
}

/* Writes der (taken: the responder's answer, believed) next to the other persisted answers. */
static void persist(ocsp_query *q, unsigned char *der, size_t len)
{
    persist_work *w = q->dir && q->may_write ? calloc(1, sizeof *w) : NULL;
    if (!w || !(w->dir = strdup(q->dir))) {
        free(w);
        free(der);
        return;
    }
    w->req.data = w;
    memcpy(w->key, q->key, 32);
    w->der = der;
    w->len = len;
    w->expires = q->ans.entry.expires;
    if (uv_queue_work(crl_fetcher_loop(q->c->f), &w->req, persist_run, persist_done) != 0) {
        free(w->dir);
        free(w->der);
        free(w);
    }
}

static void take_done(uv_work_t *req, int status);

/* Queues the job (body taken): true when it runs, the query then waits for take_done. */
static bool take_start(ocsp_query *q, bool from_disk, unsigned char *body, size_t len)
{
    take_work *w = calloc(1, sizeof *w);
    if (!w) {
        free(body);
        return false;
    }
    w->req.data = w;
    w->q = q;
    w->from_disk = from_disk;
    w->body = body;
    w->len = len;
    w->now = (int64_t)time(NULL);
    if (uv_queue_work(crl_fetcher_loop(q->c->f), &w->req, take_run, take_done) != 0) {
        free(body);
        free(w);
        return false;
    }
    q->working = true;
    return true;
}

/* The persisted answer first, when there is a directory; else (or then) the responders. False
 * when nothing could start: the caller finishes the query. */
static bool query_begin(ocsp_query *q)
{
    if (q->dir && take_start(q, true, NULL, 0))
        return true;
    return next_url(q);
}

static void take_done(uv_work_t *req, int status)
{
    take_work *w = req->data;
    ocsp_query *q = w->q;
    q->working = false;
    if (q->orphan) {
        free(w->body);
        free(w);
        query_free(q);
        return;
    }
    const char *url = w->from_disk ? q->urls[0] : q->urls[q->next_url - 1];
    if (w->ok && status == 0) {
        cg_ocsp_entry *e = &q->ans.entry;
        *e = w->e;
        /* A persisted answer does not say which URL gave it: the first one asked now, marked. */
        snprintf(e->responder, sizeof e->responder, "%s%s", url, w->from_disk ? " (answer persisted in cache_dir)" : "");
        q->ans.ok = true;
        cg_ocsp_cache_put(q->c->cache, &q->id, e, w->now);
        if (w->from_disk)
            free(w->body);
        else
            persist(q, w->body, w->len);
        q->from_disk = w->from_disk;
        free(w);
        query_finish(q, false);
        return;
    }
    if (!w->from_disk) {
        note_failure(q, url, status == 0 ? w->err : "cancelled: certgate is stopping");
    } else if (!w->absent) {
        char eq[600], dq[700];
        cg_log_quote(eq, sizeof eq, w->err, strlen(w->err));
        cg_log_quote(dq, sizeof dq, q->dir, strlen(q->dir));
        cg_log(CG_LOG_WARN, "ocsp_cache_file_refused", "dir=%s detail=%s", dq, eq);
    }
    free(w->body);
    free(w);
    if (!next_url(q))
        query_finish(q, false);
}

static void on_transfer_done(crl_transfer_owner *o, CURLcode rc)
{
    ocsp_query *q = (ocsp_query *)o;
    const char *url = q->urls[q->next_url - 1];
    long status = 0, oserr = 0;
    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(q->easy, CURLINFO_OS_ERRNO, &oserr);
    stop_transfer(q);
    char why[300];
    if (rc == CURLE_WRITE_ERROR && !q->body.too_big) {
        note_failure(q, url, "out of memory while receiving the answer");
    } else if (rc != CURLE_OK) {
        crl_transfer_error(q->body.too_big ? CURLE_FILESIZE_EXCEEDED : rc, oserr, q->errbuf,
                           (long)q->fetch.max_redirects, q->set.timeout_ms, q->set.max_response, why, sizeof why);
        if (q->body.too_big || rc == CURLE_FILESIZE_EXCEEDED)
            snprintf(why, sizeof why, "too big: more than %zu bytes (revocation.ocsp_max_response_size)",
                     q->set.max_response);
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            snprintf(why, sizeof why, "timeout: no complete answer within %u ms (revocation.ocsp_timeout)",
                     q->set.timeout_ms);
        note_failure(q, url, why);
    } else if (status != 200) {
        snprintf(why, sizeof why, "HTTP %ld", status);
        note_failure(q, url, why);
    } else {
        unsigned char *body = q->body.p;
        size_t len = q->body.len;
        q->body = (crl_body){ 0 };
        if (take_start(q, false, body, len))
            return;
        note_failure(q, url, "could not queue the answer for verification (out of memory?)");
    }
    if (!next_url(q))
        query_finish(q, false);
}

/* ---- checks ---- */

static ocsp_query *find_query(cg_ocsp_client *c, const unsigned char key[33])
{
    for (ocsp_query *q = c->queries; q; q = q->next)
        if (memcmp(q->key, key, 33) == 0)
            return q;
    return NULL;
}

/* The outcome of another worker's query this one waited for (its answer is in the cache). */
static void take_shared(ocsp_query *q, bool ok, const cg_crl_attempt *att, int natt)
{
    if (cg_ocsp_cache_get(q->c->cache, &q->id, (int64_t)time(NULL), &q->ans.entry)) {
        q->ans.ok = true;
        return;
    }
    for (int i = 0; i < natt; i++)
        note_failure(q, att[i].url, att[i].result);
    if (!q->err_len)
        note_failure(q, q->urls[0], ok ? "the answer another worker obtained is no longer cached"
                                       : "the query of another worker ended without an answer");
}

/* The worker asking for this query's certificate published its outcome. */
static bool on_woken(crl_transfer_owner *o)
{
    ocsp_query *q = (ocsp_query *)o;
    if (!q->remote)
        return false;
    cg_crl_attempt att[CG_CRL_MAX_ATTEMPTS];
    bool ok = false;
    int natt = 0;
    int st = crl_fetcher_shared(q->c->f, q->key, &ok, att, &natt);
    if (st == CRL_SHARED_RUNNING)
        return false;
    if (st == CRL_SHARED_MINE) {
        /* That worker stopped: this one asks now. */
        q->remote = false;
        crl_fetcher_wait_others(q->c->f, false);
        q->deadline = uv_now(crl_fetcher_loop(q->c->f)) + q->set.timeout_ms;
        if (!query_begin(q))
            query_finish(q, false);
        return true;
    }
    take_shared(q, ok, att, natt);
    query_finish(q, false);
    return true;
}

bool cg_ocsp_check(cg_ocsp_client *c, const mbedtls_x509_crt *cert, const mbedtls_x509_crt *issuer,
                   const cg_ocsp_settings *set, cg_ocsp_waiter *w, cg_ocsp_answer *a)
{
    memset(a, 0, sizeof *a);
    w->q = NULL;
    w->next = NULL;
    cg_ocsp_certid id;
    /* SHA-1 CertIDs: what every responder understands (RFC 5019 2.1.1); not a signature. */
    if (!cg_ocsp_certid_make(cert, issuer, MBEDTLS_MD_SHA1, &id, a->error, sizeof a->error))
        return true;
    if (cg_ocsp_cache_get(c->cache, &id, (int64_t)time(NULL), &a->entry)) {
        a->ok = a->from_cache = true;
        return true;
    }
    unsigned char key[33];
    cg_ocsp_certid_key(&id, key);
    key[32] = 'O';
    ocsp_query *q = find_query(c, key);
    if (q) {
        w->q = q;
        w->next = q->waiters;
        q->waiters = w;
        return false;
    }
    if (crl_fetcher_closing(c->f)) {
        snprintf(a->error, sizeof a->error, "cancelled: certgate is stopping");
        return true;
    }
    q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(a->error, sizeof a->error, "out of memory");
        return true;
    }
    q->c = c;
    q->id = id;
    memcpy(q->key, key, 33);
    q->set = *set;
    q->set.responder = NULL;
    q->owner.done = on_transfer_done;
    q->owner.cancel = on_cancel;
    q->owner.woken = on_woken;
    mbedtls_x509_crt_init(&q->issuer);
    crl_fetcher_settings(c->f, &q->fetch);
    if (set->responder && set->responder[0]) {
        q->urls[0] = strdup(set->responder);
        q->nurls = q->urls[0] ? 1 : 0;
    } else {
        q->nurls = cg_ocsp_cert_urls(cert, q->urls, CG_OCSP_MAX_URLS);
    }
    if (q->nurls == 0) {
        snprintf(a->error, sizeof a->error, "the certificate names no OCSP responder (Authority Information Access) "
                 "and revocation.ocsp_responder is not set");
        query_free(q);
        return true;
    }
    if (set->nonce && getrandom(q->nonce, NONCE_LEN, GRND_NONBLOCK) == NONCE_LEN)
        q->nonce_len = NONCE_LEN;
    q->req_len = cg_ocsp_request_build(&id, q->nonce_len ? q->nonce : NULL, q->nonce_len, q->req, sizeof q->req);
    if (q->req_len == 0 || mbedtls_x509_crt_parse_der(&q->issuer, issuer->raw.p, issuer->raw.len) != 0) {
        snprintf(a->error, sizeof a->error, "could not build the OCSP request");
        query_free(q);
        return true;
    }
    q->dir = crl_store_ocsp_dir(crl_fetcher_store(c->f), &q->may_write);
    q->deadline = uv_now(crl_fetcher_loop(c->f)) + set->timeout_ms;
    CG_LIST_PUSH(c->queries, q);
    c->nqueries++;
    crl_fetcher_track(c->f, &q->owner);
    q->tracked = true;
    w->q = q;
    q->waiters = w;
    if (!crl_fetcher_claim(c->f, key)) {
        /* Another worker asks for this certificate: its outcome is this one's. */
        q->remote = true;
        crl_fetcher_wait_others(c->f, true);
        return false;
    }
    /* That worker may have just finished: its answer is in the cache, no need to ask again. */
    if (cg_ocsp_cache_get(c->cache, &id, (int64_t)time(NULL), &q->ans.entry))
        q->ans.ok = true;
    if (q->ans.ok || !query_begin(q)) {
        /* Answered now: the waiter is told through a, not called. */
        q->waiters = NULL;
        w->q = NULL;
        *a = q->ans;
        a->from_cache = q->ans.ok;
        query_finish(q, false);
        return true;
    }
    return false;
}
