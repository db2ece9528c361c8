/* Unit tests of the OCSP queries (ocsp_fetch.c, ocsp_cache.c) on a real libuv loop and the CRL
 * fetcher's libcurl multi, against a responder on 127.0.0.1: a small HTTP server thread that
 * hands each POSTed request to `openssl ocsp -index ... -reqin ... -respout ...` (openssl's own
 * responder, which cannot bind to loopback only) with the fixtures of tests/data/ocsp/. Good,
 * revoked and unknown answers, the cache (no second request), one query for many checks of the
 * same certificate, the responder down (connection refused, the AIA's closed port), a forged
 * responder, a responder answering garbage, HTTP errors, the whole query's timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <psa/crypto.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#include "base/file.h"
#include "base/log.h"
#include "revocation/ocsp_fetch.h"
#include "revocation/ocsp_files.h"

#include "fixtures.h"

static mbedtls_x509_crt ca, good, revoked, unknown;

static void load_cert(mbedtls_x509_crt *c, const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "ocsp/%s", name);
    char *path = fx_data_file(rel);
    mbedtls_x509_crt_init(c);
    if (mbedtls_x509_crt_parse_file(c, path) != 0) {
        fprintf(stderr, "test_ocsp_fetch: %s is not a certificate\n", path);
        abort();
    }
    free(path);
}

static int setup(void **state)
{
    (void)state;
    load_cert(&ca, "ca.crt");
    load_cert(&good, "good.crt");
    load_cert(&revoked, "revoked.crt");
    load_cert(&unknown, "unknown.crt");
    return cg_log_open("/dev/null", CG_LOG_DEBUG) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&good);
    mbedtls_x509_crt_free(&revoked);
    mbedtls_x509_crt_free(&unknown);
    return 0;
}

/* ---- the responder ---- */

typedef enum { ANSWER_OPENSSL, ANSWER_FORGED, ANSWER_GARBAGE, ANSWER_503, ANSWER_HANG } answer_mode;

typedef struct responder {
    int fd, port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int requests;
    answer_mode mode;
    char dir[64];
    char content_type[128]; /* of the last request */
    char method[8];         /* of the last request */
    int hang_fd;
} responder;

/* openssl ocsp answers req (DER) into *out; false if it failed. */
static bool openssl_answer(responder *r, const unsigned char *req, size_t len, unsigned char **out, size_t *out_len)
{
    char in[128], resp[128];
    snprintf(in, sizeof in, "%s/req.der", r->dir);
    snprintf(resp, sizeof resp, "%s/resp.der", r->dir);
    fx_write_file(in, req, len);
    unlink(resp);
    char *index = fx_data_file("ocsp/index.txt"), *cacrt = fx_data_file("ocsp/ca.crt");
    char *signer = fx_data_file(r->mode == ANSWER_FORGED ? "ocsp/rogue-resp.crt" : "ocsp/responder.crt");
    char *key = fx_data_file(r->mode == ANSWER_FORGED ? "ocsp/rogue.key" : "ocsp/responder.key");
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("openssl", "openssl", "ocsp", "-index", index, "-CA", cacrt, "-rsigner", signer, "-rkey", key,
               "-reqin", in, "-respout", resp, "-ndays", "1", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    free(index);
    free(cacrt);
    free(signer);
    free(key);
    cg_file_error e;
    *out = cg_file_read(resp, 1 << 20, 0, out_len, &e);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && *out;
}

static void *responder_main(void *arg)
{
    responder *r = arg;
    while (!atomic_load(&r->stop)) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            continue;
        if (atomic_load(&r->stop)) {
            close(c);
            break;
        }
        /* The head, then Content-Length bytes of body. */
        char buf[8192];
        size_t got = 0;
        char *body = NULL;
        size_t want = 0;
        while (got < sizeof buf - 1) {
            struct pollfd p = { .fd = c, .events = POLLIN };
            if (poll(&p, 1, 2000) <= 0)
                break;
            ssize_t n = recv(c, buf + got, sizeof buf - 1 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            body = end + 4;
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = cl ? strtoul(cl + 17, NULL, 10) : 0;
            if ((size_t)(buf + got - body) >= want)
                break;
        }
        atomic_fetch_add(&r->requests, 1);
        r->content_type[0] = '\0';
        char *ct = strcasestr(buf, "\r\nContent-Type:");
        if (ct)
            sscanf(ct + 15, " %127[^\r\n]", r->content_type);
        sscanf(buf, "%7s", r->method);
        /* GET /<url-encoded base64 of the DER request> (RFC 6960 A.1) */
        unsigned char get_req[1024];
        if (strcmp(r->method, "GET") == 0) {
            char b64[1024];
            size_t k = 0;
            for (const char *p = strchr(buf, '/') + 1; *p && *p != ' ' && k + 1 < sizeof b64; p++) {
                unsigned v;
                if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
                    b64[k++] = (char)v;
                    p += 2;
                } else {
                    b64[k++] = *p;
                }
            }
            size_t n = 0;
            if (mbedtls_base64_decode(get_req, sizeof get_req, &n, (unsigned char *)b64, k) == 0) {
                body = (char *)get_req;
                want = n;
            } else {
                body = NULL;
            }
        }
        char head[256];
        unsigned char *resp = NULL;
        size_t resp_len = 0;
        if (r->mode == ANSWER_HANG) {
            r->hang_fd = c;
            continue;
        }
        if (r->mode == ANSWER_503) {
            int k = snprintf(head, sizeof head, "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            send(c, head, (size_t)k, MSG_NOSIGNAL);
        } else if (r->mode == ANSWER_GARBAGE || !body ||
                   !openssl_answer(r, (unsigned char *)body, want, &resp, &resp_len)) {
            int k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
                             "<html>x</html>");
            send(c, head, (size_t)k, MSG_NOSIGNAL);
        } else {
            int k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n", resp_len);
            send(c, head, (size_t)k, MSG_NOSIGNAL);
            send(c, resp, resp_len, MSG_NOSIGNAL);
        }
        free(resp);
        close(c);
    }
    return NULL;
}

static void responder_start(responder *r, answer_mode mode)
{
    memset(r, 0, sizeof *r);
    r->mode = mode;
    r->hang_fd = -1;
    assert_non_null(fx_tmpdir(r->dir, sizeof r->dir, "ocsp"));
    r->fd = fx_listen_loopback(&r->port);
    pthread_create(&r->thread, NULL, responder_main, r);
}

static void responder_stop(responder *r)
{
    atomic_store(&r->stop, true);
    fx_poke_port(r->port); /* wakes accept() */
    pthread_join(r->thread, NULL);
    close(r->fd);
    if (r->hang_fd >= 0)
        close(r->hang_fd);
    fx_rm_rf(r->dir);
}

/* ---- certgate's side ---- */

typedef struct env {
    cg_config cfg;
    cg_listener_cfg l;
    cg_crl_store *store;
    uv_loop_t loop;
    cg_crl_fetcher *f;
    cg_ocsp_cache *cache;
    cg_ocsp_client *client;
    char url[64];
    cg_ocsp_settings set;
} env;

static void env_start(env *e, const responder *r)
{
    memset(e, 0, sizeof *e);
    atomic_init(&e->cfg.refs, 1);
    e->cfg.revocation.fetch_timeout_ms = 2000;
    e->cfg.revocation.max_crl_size = 1u << 20;
    e->cfg.revocation.allow_http = true;
    e->l.name = "test";
    e->cfg.listeners = &e->l;
    e->cfg.nlisteners = 1;
    cg_diag d;
    cg_diag_init(&d);
    e->store = cg_crl_store_new(&e->cfg, &d);
    cg_diag_free(&d);
    assert_non_null(e->store);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    e->f = cg_crl_fetcher_new(&e->loop, e->store);
    e->cache = cg_ocsp_cache_new(100);
    e->client = cg_ocsp_client_new(e->f, e->cache);
    assert_non_null(e->client);
    if (r)
        snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d/", r->port);
    e->set = (cg_ocsp_settings){ .responder = r ? e->url : NULL, .timeout_ms = 3000, .max_response = 64 * 1024,
                                 .nonce = true, .max_age_s = 3600 };
}

static void env_free(env *e)
{
    cg_crl_fetcher_close(e->f);
    cg_ocsp_client_free(e->client);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    cg_ocsp_cache_free(e->cache);
    cg_crl_store_free(e->store);
}

typedef struct result {
    cg_ocsp_waiter w;
    int calls;
    cg_ocsp_answer a;
} result;

static void on_answer(cg_ocsp_waiter *w, const cg_ocsp_answer *a)
{
    result *r = (result *)w;
    r->calls++;
    r->a = *a;
}

static void on_timer_stop(uv_timer_t *t) { uv_stop(t->loop); }

/* Checks cert; runs the loop until the answer (or 10 s). */
static void check(env *e, const mbedtls_x509_crt *cert, result *r)
{
    memset(r, 0, sizeof *r);
    r->w.done = on_answer;
    if (cg_ocsp_check(e->client, cert, &ca, &e->set, &r->w, &r->a)) {
        r->calls = 1;
        return;
    }
    uv_timer_t t;
    uv_timer_init(&e->loop, &t);
    uint64_t deadline = uv_now(&e->loop) + 10000;
    while (r->calls == 0 && uv_now(&e->loop) < deadline) {
        uv_timer_start(&t, on_timer_stop, 20, 0);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        uv_update_time(&e->loop);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(r->calls, 1);
}

static void test_answers(void **state)
{
    (void)state;
    responder srv;
    responder_start(&srv, ANSWER_OPENSSL);
    env e;
    env_start(&e, &srv);
    result r;

    check(&e, &good, &r);
    assert_true(r.a.ok);
    assert_false(r.a.from_cache);
    assert_int_equal(r.a.entry.status, CG_OCSP_GOOD);
    assert_string_equal(r.a.entry.responder, e.url);
    assert_non_null(strstr(r.a.entry.signer, "OCSP Responder"));
    assert_non_null(strstr(r.a.entry.signer, "(delegated responder)"));
    assert_true(r.a.entry.next_update > r.a.entry.this_update);
    assert_string_equal(srv.method, "GET"); /* a small request: GET (RFC 5019 2.1.1) */
    assert_string_equal(srv.content_type, "");
    assert_int_equal(atomic_load(&srv.requests), 1);

    /* Cached until nextUpdate: no second request. */
    check(&e, &good, &r);
    assert_true(r.a.ok);
    assert_true(r.a.from_cache);
    assert_int_equal(atomic_load(&srv.requests), 1);

    check(&e, &revoked, &r);
    assert_true(r.a.ok);
    assert_int_equal(r.a.entry.status, CG_OCSP_REVOKED);
    assert_int_equal(r.a.entry.reason, 1);
    assert_int_equal(r.a.entry.revoked_at, 1704164645);

    check(&e, &unknown, &r);
    assert_true(r.a.ok);
    assert_int_equal(r.a.entry.status, CG_OCSP_UNKNOWN);
    assert_int_equal(atomic_load(&srv.requests), 3);
    assert_int_equal(cg_ocsp_cache_count(e.cache), 3);
    env_free(&e);

    /* A responder URL so long that the GET URL would pass 255 bytes: POST. */
    env_start(&e, &srv);
    char long_url[300];
    snprintf(long_url, sizeof long_url, "http://127.0.0.1:%d/%0150d", srv.port, 0);
    e.set.responder = long_url;
    check(&e, &good, &r);
    assert_true(r.a.ok);
    assert_int_equal(r.a.entry.status, CG_OCSP_GOOD);
    assert_string_equal(srv.method, "POST");
    assert_string_equal(srv.content_type, "application/ocsp-request");
    env_free(&e);

    /* A responder URL with a query: POST (a path cannot follow it). */
    env_start(&e, &srv);
    snprintf(long_url, sizeof long_url, "http://127.0.0.1:%d/ocsp?ca=1", srv.port);
    e.set.responder = long_url;
    check(&e, &revoked, &r);
    assert_true(r.a.ok);
    assert_int_equal(r.a.entry.status, CG_OCSP_REVOKED);
    assert_string_equal(srv.method, "POST");
    env_free(&e);
    responder_stop(&srv);
}

/* Ten checks of one certificate at once: one query, one request, ten answers. */
static void test_single_flight(void **state)
{
    (void)state;
    responder srv;
    responder_start(&srv, ANSWER_OPENSSL);
    env e;
    env_start(&e, &srv);
    result r[10];
    for (int i = 0; i < 10; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].w.done = on_answer;
        assert_false(cg_ocsp_check(e.client, &revoked, &ca, &e.set, &r[i].w, &r[i].a));
    }
    assert_int_equal(cg_ocsp_client_queries(e.client), 1);
    /* One waiter leaves before the answer. */
    cg_ocsp_waiter_cancel(&r[9].w);
    result last;
    check(&e, &revoked, &last); /* joins the same query, runs the loop */
    for (int i = 0; i < 9; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_true(r[i].a.ok);
        assert_int_equal(r[i].a.entry.status, CG_OCSP_REVOKED);
    }
    assert_int_equal(r[9].calls, 0);
    assert_int_equal(atomic_load(&srv.requests), 1);
    assert_int_equal(cg_ocsp_client_queries(e.client), 0);
    env_free(&e);
    responder_stop(&srv);
}

static void test_responder_faults(void **state)
{
    (void)state;
    result r;
    /* Down: the AIA's URL (port 9 on loopback) refuses. */
    env e;
    env_start(&e, NULL);
    check(&e, &good, &r);
    assert_false(r.a.ok);
    assert_string_equal(r.a.error, "http://127.0.0.1:9/ocsp: connection refused");
    env_free(&e);

    /* A responder signing with another CA's key under the same names. */
    responder srv;
    responder_start(&srv, ANSWER_FORGED);
    env_start(&e, &srv);
    check(&e, &revoked, &r);
    assert_false(r.a.ok);
    assert_non_null(strstr(r.a.error, "does not verify with the issuer's key"));
    assert_int_equal(cg_ocsp_cache_count(e.cache), 0);
    env_free(&e);
    responder_stop(&srv);

    responder_start(&srv, ANSWER_GARBAGE);
    env_start(&e, &srv);
    check(&e, &good, &r);
    assert_false(r.a.ok);
    assert_non_null(strstr(r.a.error, "not an OCSP response: an HTML or XML document"));
    env_free(&e);
    responder_stop(&srv);

    responder_start(&srv, ANSWER_503);
    env_start(&e, &srv);
    check(&e, &good, &r);
    assert_false(r.a.ok);
    assert_non_null(strstr(r.a.error, ": HTTP 503"));
    env_free(&e);
    responder_stop(&srv);

    responder_start(&srv, ANSWER_HANG);
    env_start(&e, &srv);
    e.set.timeout_ms = 300;
    check(&e, &good, &r);
    assert_false(r.a.ok);
    assert_non_null(strstr(r.a.error, "timeout: no complete answer within 300 ms (revocation.ocsp_timeout)"));
    env_free(&e);
    responder_stop(&srv);

    /* An unsupported scheme, and no responder at all: answered at once. */
    env_start(&e, NULL);
    e.set.responder = "ldap://127.0.0.1/ocsp";
    memset(&r, 0, sizeof r);
    assert_true(cg_ocsp_check(e.client, &good, &ca, &e.set, &r.w, &r.a));
    assert_false(r.a.ok);
    assert_non_null(strstr(r.a.error, "unsupported scheme"));
    assert_true(cg_ocsp_check(e.client, &ca, &ca, &(cg_ocsp_settings){ .timeout_ms = 100 }, &r.w, &r.a));
    assert_non_null(strstr(r.a.error, "names no OCSP responder"));
    env_free(&e);
}

/* The fetcher closes with a query in flight: its waiter is told. */
static void test_cancel(void **state)
{
    (void)state;
    responder srv;
    responder_start(&srv, ANSWER_HANG);
    env e;
    env_start(&e, &srv);
    result r;
    memset(&r, 0, sizeof r);
    r.w.done = on_answer;
    assert_false(cg_ocsp_check(e.client, &good, &ca, &e.set, &r.w, &r.a));
    uv_run(&e.loop, UV_RUN_NOWAIT);
    cg_crl_fetcher_close(e.f);
    assert_int_equal(r.calls, 1);
    assert_non_null(strstr(r.a.error, "cancelled"));
    cg_ocsp_client_free(e.client);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e.loop), 0);
    cg_ocsp_cache_free(e.cache);
    cg_crl_store_free(e.store);
    responder_stop(&srv);
}

static void test_cache_bounds(void **state)
{
    (void)state;
    cg_ocsp_cache *c = cg_ocsp_cache_new(2);
    cg_ocsp_certid ids[3];
    char err[200];
    assert_true(cg_ocsp_certid_make(&good, &ca, MBEDTLS_MD_SHA1, &ids[0], err, sizeof err));
    assert_true(cg_ocsp_certid_make(&revoked, &ca, MBEDTLS_MD_SHA1, &ids[1], err, sizeof err));
    assert_true(cg_ocsp_certid_make(&unknown, &ca, MBEDTLS_MD_SHA1, &ids[2], err, sizeof err));
    cg_ocsp_entry e = { .status = CG_OCSP_GOOD, .this_update = 100, .expires = 1000 }, out;
    cg_ocsp_cache_put(c, &ids[0], &e, 100);
    e.expires = 2000;
    cg_ocsp_cache_put(c, &ids[1], &e, 100);
    assert_true(cg_ocsp_cache_get(c, &ids[0], 1000, &out));
    assert_false(cg_ocsp_cache_get(c, &ids[0], 1001, &out)); /* past its nextUpdate */
    /* Full: the one expiring soonest goes. */
    e.expires = 3000;
    cg_ocsp_cache_put(c, &ids[2], &e, 100);
    assert_int_equal(cg_ocsp_cache_count(c), 2);
    assert_false(cg_ocsp_cache_get(c, &ids[0], 500, &out));
    assert_true(cg_ocsp_cache_get(c, &ids[1], 500, &out));
    assert_true(cg_ocsp_cache_get(c, &ids[2], 500, &out));
    /* An older answer does not replace a newer one. */
    e.this_update = 50;
    e.status = CG_OCSP_REVOKED;
    cg_ocsp_cache_put(c, &ids[2], &e, 100);
    assert_true(cg_ocsp_cache_get(c, &ids[2], 500, &out));
    assert_int_equal(out.status, CG_OCSP_GOOD);
    cg_ocsp_cache_free(c);
}

/* ---- persisted answers (ocsp_files.c) and queries shared between workers ---- */

/* Runs e's loop until *calls is set (or 10 s). */
static void run_until(env *e, const int *calls)
{
    uv_timer_t t;
    uv_timer_init(&e->loop, &t);
    uint64_t deadline = uv_now(&e->loop) + 10000;
    while (*calls == 0 && uv_now(&e->loop) < deadline) {
        uv_timer_start(&t, on_timer_stop, 20, 0);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        uv_update_time(&e->loop);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The file of cert's answer under dir/ocsp. */
static void answer_path(const char *dir, const mbedtls_x509_crt *cert, char *out, size_t cap)
{
    cg_ocsp_certid id;
    char err[200], name[80];
    unsigned char key[32];
    assert_true(cg_ocsp_certid_make(cert, &ca, MBEDTLS_MD_SHA1, &id, err, sizeof err));
    cg_ocsp_certid_key(&id, key);
    ocsp_file_name(key, name);
    snprintf(out, cap, "%s/ocsp/%s", dir, name);
}

/* Runs the loop until path exists (the write is on the thread pool, after the answer). */
static void wait_file(env *e, const char *path)
{
    for (int i = 0; i < 500 && !exists(path); i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    assert_true(exists(path));
}

static void copy_fixture(const char *name, const char *to)
{
    char rel[128];
    size_t len;
    cg_file_error fe;
    snprintf(rel, sizeof rel, "ocsp/%s", name);
    char *from = fx_data_file(rel);
    unsigned char *der = cg_file_read(from, 1 << 20, 0, &len, &fe);
    assert_non_null(der);
    unlink(to);
    fx_write_file(to, der, len);
    free(der);
    free(from);
}

/* e again, its store with revocation.cache_dir dir (what a start reads). */
static void env_cache_dir(env *e, const char *dir)
{
    cg_crl_fetcher_close(e->f);
    cg_ocsp_client_free(e->client);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    cg_crl_store_free(e->store);
    e->cfg.revocation.cache_dir = (char *)dir;
    cg_diag d;
    cg_diag_init(&d);
    e->store = cg_crl_store_new(&e->cfg, &d);
    cg_diag_free(&d);
    assert_non_null(e->store);
    e->f = cg_crl_fetcher_new(&e->loop, e->store);
    e->client = cg_ocsp_client_new(e->f, e->cache);
}

/* A restart answers from the persisted answer without asking; what is on disk is verified again
 * (forged, for another certificate, garbage, too big, expired, not a regular file: refused,
 * removed, the responder asked). */
static void test_persisted(void **state)
{
    (void)state;
    char dir[64], path[300];
    assert_non_null(fx_tmpdir(dir, sizeof dir, "ocsp-cache"));
    responder srv;
    responder_start(&srv, ANSWER_OPENSSL);
    env e;
    env_start(&e, &srv);
    env_cache_dir(&e, dir);
    result r;
    check(&e, &revoked, &r);
    assert_true(r.a.ok);
    assert_int_equal(r.a.entry.status, CG_OCSP_REVOKED);
    assert_int_equal(atomic_load(&srv.requests), 1);
    answer_path(dir, &revoked, path, sizeof path);
    wait_file(&e, path);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal((int64_t)st.st_mtime, r.a.entry.expires); /* the expiry: pruning needs no parse */
    char url[64];
    snprintf(url, sizeof url, "%s", e.url);
    env_free(&e);
    responder_stop(&srv); /* down from now on: connection refused */

    /* "Restart": a new store and cache on the same directory answer from disk. */
    env_start(&e, NULL);
    e.set.responder = url;
    env_cache_dir(&e, dir);
    check(&e, &revoked, &r);
    assert_true(r.a.ok);
    assert_false(r.a.from_cache);
    assert_int_equal(r.a.entry.status, CG_OCSP_REVOKED);
    assert_int_equal(r.a.entry.reason, 1);
    char persisted[128];
    snprintf(persisted, sizeof persisted, "%s (answer persisted in cache_dir)", url);
    assert_string_equal(r.a.entry.responder, persisted);
    assert_non_null(strstr(r.a.entry.signer, "(delegated responder)"));
    check(&e, &revoked, &r); /* then from memory */
    assert_true(r.a.from_cache);

    /* A persisted answer of the CA itself for good (a fixture valid for a century): believed. */
    answer_path(dir, &good, path, sizeof path);
    copy_fixture("resp-ca-good.der", path);
    check(&e, &good, &r);
    assert_true(r.a.ok);
    assert_int_equal(r.a.entry.status, CG_OCSP_GOOD);

    /* Hostile or stale files: refused, removed, and the (dead) responder asked. */
    struct {
        const char *fixture;     /* or one of the shapes below */
        const mbedtls_x509_crt *cert;
        int64_t max_age_s;
        const char *why;         /* in the log: not checked here; the file goes */
    } cases[] = {
        { "resp-forged-name.der", &revoked, 3600, "forged under the CA's name" },
        { "resp-ca-revoked.der", &unknown, 3600, "an answer for another certificate" },
        { "resp-ca-good-no-next.der", &good, 1, "expired: no nextUpdate, older than max_age_s" },
        { "garbage", &unknown, 3600, "not DER" },
        { "big", &unknown, 3600, "larger than ocsp_max_response_size" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cg_ocsp_cache_free(e.cache); /* nothing in memory: the disk is asked */
        e.cache = cg_ocsp_cache_new(100);
        cg_ocsp_client_free(e.client);
        e.client = cg_ocsp_client_new(e.f, e.cache);
        answer_path(dir, cases[i].cert, path, sizeof path);
        if (strcmp(cases[i].fixture, "garbage") == 0) {
            unlink(path);
            fx_write_text(path, "<html>not an answer</html>");
        } else if (strcmp(cases[i].fixture, "big") == 0) {
            static unsigned char big[70 * 1024];
            unlink(path);
            fx_write_file(path, big, sizeof big);
        } else {
            copy_fixture(cases[i].fixture, path);
        }
        e.set.max_age_s = cases[i].max_age_s;
        check(&e, cases[i].cert, &r);
        if (r.a.ok)
            fail_msg("case %s (%s): believed", cases[i].fixture, cases[i].why);
        assert_non_null(strstr(r.a.error, "connection refused"));
        assert_false(exists(path));
    }
    e.set.max_age_s = 3600;

    /* Not a regular file: a symbolic link to a good answer, a directory; refused, left alone. */
    char good_path[300];
    answer_path(dir, &good, good_path, sizeof good_path);
    copy_fixture("resp-ca-good.der", good_path);
    answer_path(dir, &unknown, path, sizeof path);
    assert_int_equal(symlink(good_path, path), 0);
    check(&e, &unknown, &r);
    assert_false(r.a.ok);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    check(&e, &unknown, &r);
    assert_false(r.a.ok);
    assert_int_equal(rmdir(path), 0);
    env_free(&e);
    fx_rm_rf(dir);
}

/* ocsp_files_prune: expired answers (by modification time) and interrupted writes go; other names stay. */
static void test_prune(void **state)
{
    (void)state;
    char dir[64], path[300];
    assert_non_null(fx_tmpdir(dir, sizeof dir, "ocsp-prune"));
    unsigned char key[32];
    char name[80];
    const char *names[4];
    char store[4][80];
    for (int i = 0; i < 4; i++) {
        memset(key, i + 1, sizeof key);
        ocsp_file_name(key, store[i]);
        names[i] = store[i];
    }
    int64_t now = 2000000000;
    char err[200];
    memset(key, 1, sizeof key);
    assert_true(ocsp_file_write(dir, key, (const unsigned char *)"x", 1, now + 10, err, sizeof err));
    memset(key, 2, sizeof key);
    assert_true(ocsp_file_write(dir, key, (const unsigned char *)"x", 1, now - 10, err, sizeof err));
    snprintf(path, sizeof path, "%s/.%s.123.tmp", dir, names[2]);
    fx_write_text(path, "half");
    snprintf(path, sizeof path, "%s/README", dir);
    fx_write_text(path, "not ours");
    size_t kept = 0;
    assert_int_equal(ocsp_files_prune(dir, now, &kept), 2);
    assert_int_equal(kept, 1);
    snprintf(path, sizeof path, "%s/%s", dir, names[0]);
    assert_true(exists(path));
    snprintf(path, sizeof path, "%s/%s", dir, names[1]);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/README", dir);
    assert_true(exists(path));
    /* Reading: the written bytes; an absent file is no error. */
    size_t len;
    bool absent;
    memset(key, 1, sizeof key);
    unsigned char *p = ocsp_file_read(dir, key, 100, &len, &absent, err, sizeof err);
    assert_non_null(p);
    assert_int_equal(len, 1);
    free(p);
    assert_null(ocsp_file_read(dir, key, 0, &len, &absent, err, sizeof err)); /* over the bound */
    assert_false(absent);
    assert_non_null(strstr(err, "larger than"));
    memset(key, 4, sizeof key);
    assert_null(ocsp_file_read(dir, key, 100, &len, &absent, err, sizeof err));
    assert_true(absent);
    (void)name;
    fx_rm_rf(dir);
}

/* Another env on e's store and cache: a second worker. */
static void env_join(env *b, env *a)
{
    memset(b, 0, sizeof *b);
    b->store = a->store;
    b->cache = a->cache;
    assert_int_equal(uv_loop_init(&b->loop), 0);
    b->f = cg_crl_fetcher_new(&b->loop, b->store);
    b->client = cg_ocsp_client_new(b->f, b->cache);
    snprintf(b->url, sizeof b->url, "%s", a->url);
    b->set = a->set;
    b->set.responder = b->url;
}

static void env_leave(env *b)
{
    cg_crl_fetcher_close(b->f);
    cg_ocsp_client_free(b->client);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&b->loop), 0);
}

/* Two workers checking one certificate: one request; the second is woken with the answer. A
 * worker that stops hands its query over to the one waiting. */
static void test_single_flight_workers(void **state)
{
    (void)state;
    responder srv;
    responder_start(&srv, ANSWER_OPENSSL);
    env a, b;
    env_start(&a, &srv);
    env_join(&b, &a);
    result ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    ra.w.done = rb.w.done = on_answer;
    assert_false(cg_ocsp_check(a.client, &revoked, &ca, &a.set, &ra.w, &ra.a));
    assert_false(cg_ocsp_check(b.client, &revoked, &ca, &b.set, &rb.w, &rb.a));
    assert_int_equal(cg_ocsp_client_queries(b.client), 1); /* waiting for a */
    run_until(&a, &ra.calls);
    assert_int_equal(ra.calls, 1);
    assert_true(ra.a.ok);
    run_until(&b, &rb.calls);
    assert_int_equal(rb.calls, 1);
    assert_true(rb.a.ok);
    assert_int_equal(rb.a.entry.status, CG_OCSP_REVOKED);
    assert_string_equal(rb.a.entry.responder, a.url);
    assert_int_equal(atomic_load(&srv.requests), 1);
    assert_int_equal(cg_ocsp_client_queries(b.client), 0);

    /* a stops before its transfer ran: b asks instead, once. */
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    ra.w.done = rb.w.done = on_answer;
    assert_false(cg_ocsp_check(a.client, &good, &ca, &a.set, &ra.w, &ra.a));
    assert_false(cg_ocsp_check(b.client, &good, &ca, &b.set, &rb.w, &rb.a));
    cg_crl_fetcher_close(a.f);
    assert_int_equal(ra.calls, 1);
    assert_non_null(strstr(ra.a.error, "cancelled"));
    run_until(&b, &rb.calls);
    assert_int_equal(rb.calls, 1);
    assert_true(rb.a.ok);
    assert_int_equal(rb.a.entry.status, CG_OCSP_GOOD);
    assert_int_equal(atomic_load(&srv.requests), 2);
    env_leave(&b);
    env_free(&a);
    responder_stop(&srv);
}

int main(void)
{
    /* mbedTLS verifies signatures through PSA (MBEDTLS_USE_PSA_CRYPTO) */
    if (psa_crypto_init() != PSA_SUCCESS)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_responder_faults),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cache_bounds),
        cmocka_unit_test(test_persisted),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_single_flight_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
