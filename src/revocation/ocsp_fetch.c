/* OCSP queries (ocsp_fetch.h): one per certificate in flight on a worker, its transfers on the
 * CRL fetcher's libcurl multi (as a crl_transfer_owner), its answer verified and cached.
 */
#include "ocsp_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "ocsp_verify.h"
#include "base/base.h"

#define NONCE_LEN 16
/* RFC 5019 2.1.1: a request whose GET URL fits in 255 bytes goes by GET (HTTP caches, CDNs
 * in front of responders can answer it); a longer one by POST. */
#define GET_URL_MAX 255

struct ocsp_query {
    crl_transfer_owner owner;     /* first: CURLOPT_PRIVATE of its transfer */
    bool tracked;                 /* in the fetcher's list of owners */
    cg_ocsp_client *c;
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
    free(q);
}

/* "url: why" into the answer's error. */
static void note_failure(ocsp_query *q, const char *url, const char *why)
{
    q->err_len = cg_fmt_append(q->ans.error, sizeof q->ans.error, q->err_len, "%s%s: %s", q->err_len ? "; " : "",
                               url, why);
}

/* Ends the query: logged, waiters told, freed. */
static void query_finish(ocsp_query *q)
{
    cg_ocsp_client *c = q->c;
    CG_LIST_UNLINK(c->queries, q);
    c->nqueries--;
    if (q->tracked)
        crl_fetcher_untrack(c->f, &q->owner);
    q->tracked = false;
    char uq[700];
    if (q->ans.ok) {
        const cg_ocsp_entry *e = &q->ans.entry;
        char sq[300];
        cg_log_quote(uq, sizeof uq, e->responder, strlen(e->responder));
        cg_log_quote(sq, sizeof sq, e->signer, strlen(e->signer));
        cg_log(CG_LOG_INFO, "ocsp_answer", "responder=%s status=%s signer=%s this_update=%lld next_update=%lld",
               uq, cg_ocsp_status_name(e->status), sq, (long long)e->this_update, (long long)e->next_update);
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
    query_free(q);
}

static void query_cancel(ocsp_query *q)
{
    stop_transfer(q);
    note_failure(q, q->next_url ? q->urls[q->next_url - 1] : "-", "cancelled: certgate is stopping");
    query_finish(q);
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

/* The answer of url, parsed and verified: true when it is the query's outcome. */
static bool take_answer(ocsp_query *q, const char *url)
{
    cg_ocsp_response r;
    char err[400];
    if (!cg_ocsp_response_parse(q->body.p, q->body.len, &q->id, &r, err, sizeof err)) {
        note_failure(q, url, err);
        return false;
    }
    int64_t now = (int64_t)time(NULL);
    cg_ocsp_verify_opts o = { .now = now, .skew_s = CG_OCSP_SKEW_S, .max_age_s = q->set.max_age_s,
                              .allow_sha1 = q->set.allow_sha1, .nonce = q->nonce_len ? q->nonce : NULL,
                              .nonce_len = q->nonce_len };
    cg_ocsp_signer signer;
    cg_ocsp_fault f = cg_ocsp_verify(&r, &q->issuer, &o, &signer, err, sizeof err);
    if (f != CG_OCSP_TRUSTED) {
        note_failure(q, url, err);
        return false;
    }
    cg_ocsp_entry *e = &q->ans.entry;
    e->status = r.status;
    e->reason = r.reason;
    e->revoked_at = r.revoked_at;
    e->this_update = r.this_update;
    e->next_update = r.next_update;
    e->expires = r.next_update ? r.next_update : r.this_update + q->set.max_age_s;
    snprintf(e->responder, sizeof e->responder, "%s", url);
    cg_fmt_append(e->signer, sizeof e->signer, 0, "%s%s", signer.subject,
                  signer.delegated ? " (delegated responder)" : "");
    q->ans.ok = true;
    cg_ocsp_cache_put(q->c->cache, &q->id, e, now);
    return true;
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
    } else if (take_answer(q, url)) {
        query_finish(q);
        return;
    }
    if (!next_url(q))
        query_finish(q);
}

/* ---- checks ---- */

static ocsp_query *find_query(cg_ocsp_client *c, const cg_ocsp_certid *id)
{
    for (ocsp_query *q = c->queries; q; q = q->next)
        if (q->id.md == id->md && q->id.serial_len == id->serial_len &&
            memcmp(q->id.name_hash, id->name_hash, id->hash_len) == 0 &&
            memcmp(q->id.key_hash, id->key_hash, id->hash_len) == 0 &&
            memcmp(q->id.serial, id->serial, id->serial_len) == 0)
            return q;
    return NULL;
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
    ocsp_query *q = find_query(c, &id);
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
    q->set = *set;
    q->set.responder = NULL;
    q->owner.done = on_transfer_done;
    q->owner.cancel = on_cancel;
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
    q->deadline = uv_now(crl_fetcher_loop(c->f)) + set->timeout_ms;
    CG_LIST_PUSH(c->queries, q);
    c->nqueries++;
    if (!next_url(q)) {
        /* Nothing could even start: answered now, no waiter. */
        CG_LIST_UNLINK(c->queries, q);
        c->nqueries--;
        snprintf(a->error, sizeof a->error, "%s", q->ans.error);
        query_free(q);
        return true;
    }
    crl_fetcher_track(c->f, &q->owner);
    q->tracked = true;
    w->q = q;
    q->waiters = w;
    return false;
}
