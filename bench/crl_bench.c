/* CRL benchmark (not a test): figures for docs/revocation.md.
 *
 *   cg-crl-bench [ENTRIES]        (default 100000)
 *
 * 1. parse a CRL of ENTRIES entries (DER -> sorted 16-byte index + hash of tbsCertList)
 * 2. look serials up in it (hits and misses), per lookup
 * 3. verify its signature (once per CRL and issuer key; memoized)
 * 4. check a cached 3-certificate chain (what every new connection costs once
 *    its CRLs are cached): cg_crl_check_chain answering synchronously
 * 5. fetch + parse it through the fetcher from an HTTP server on loopback,
 *    measuring how late a 1 ms timer on the same loop gets meanwhile (the
 *    loop must stay responsive: parsing runs on the thread pool)
 *
 * Everything is made in memory (tests/support/x509_kit.h); no files, no network
 * beyond 127.0.0.1.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "revocation/crl_check.h"
#include "revocation/crl_fetch.h"
#include "revocation/crl_parse.h"
#include "revocation/crl_store.h"
#include "x509_kit.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- a one-file HTTP server ---- */

typedef struct server {
    int fd, port;
    unsigned char *body;
    size_t len;
    pthread_t thread;
} server;

static void *serve(void *arg)
{
    server *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[2048];
        ssize_t n = recv(c, req, sizeof req, 0);
        if (n >= 4 && memcmp(req, "QUIT", 4) == 0) {
            close(c);
            return NULL;
        }
        char head[160];
        int k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         s->len);
        send(c, head, (size_t)k, MSG_NOSIGNAL);
        for (size_t off = 0; off < s->len;) {
            ssize_t w = send(c, s->body + off, s->len - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(c);
    }
}

static void server_start(server *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0)
        abort();
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(server *s)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(c, (struct sockaddr *)&a, sizeof a) == 0)
        send(c, "QUIT", 4, MSG_NOSIGNAL);
    close(c);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* ---- loop responsiveness probe ---- */

typedef struct probe {
    uv_timer_t t;
    double last, worst;
    int ticks;
} probe;

static void on_tick(uv_timer_t *t)
{
    probe *p = t->data;
    double now = now_ms();
    if (p->last > 0 && now - p->last - 1.0 > p->worst)
        p->worst = now - p->last - 1.0;
    p->last = now;
    p->ticks++;
}

typedef struct answer {
    bool done;
    cg_rev_status st;
    double at;
} answer;

static void on_answer(void *ctx, cg_rev_status st, const cg_refusal *why)
{
    answer *a = ctx;
    (void)why;
    a->done = true;
    a->st = st;
    a->at = now_ms();
}

int main(int argc, char **argv)
{
    size_t entries = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    if (entries == 0)
        entries = 100000;
    mbedtls_pk_context root_key, int_key, leaf_key;
    tk_key(&root_key, 0);
    tk_key(&int_key, 0);
    tk_key(&leaf_key, 0);
    const char *ROOT = "CN=Bench Root", *INT = "CN=Bench Issuing CA";
    mbedtls_x509_crt *root = tk_cert(&(tk_cert_opts){ .subject = ROOT, .key = &root_key, .ca = 1, .pathlen = -1 });
    mbedtls_x509_crt *inter = tk_cert(&(tk_cert_opts){ .subject = INT, .issuer = ROOT, .key = &int_key,
                                                       .issuer_key = &root_key, .ca = 1, .pathlen = 0 });

    /* 8-byte serials; of the candidates looked up below, every third is revoked. */
    double t0 = now_ms();
    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = INT, .key = &int_key, .gen_count = entries,
                                                .gen_first = 0x1000000000000000ull, .gen_step = 3 },
                                &len);
    double t_make = now_ms() - t0;
    printf("CRL of %zu entries: %.1f MiB DER (made in %.0f ms)\n", entries, (double)len / (1 << 20), t_make);

    /* 1. parse */
    char err[300];
    int reps = 5;
    double best = 1e9;
    crl *c = NULL;
    for (int i = 0; i < reps; i++) {
        t0 = now_ms();
        crl *x = crl_parse(der, len, err, sizeof err);
        double d = now_ms() - t0;
        if (!x) {
            fprintf(stderr, "parse: %s\n", err);
            return 1;
        }
        if (d < best)
            best = d;
        if (c)
            crl_unref(c);
        c = x;
    }
    printf("parse (DER -> sorted index, tbs hashed):   %8.1f ms   (best of %d; %.0f ns per entry)\n", best, reps,
           best * 1e6 / (double)entries);

    /* 2. lookups */
    size_t n = 2000000;
    unsigned char (*keys)[8] = malloc(n * sizeof *keys);
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t v = 0x1000000000000000ull + (seed >> 20) % ((uint64_t)entries * 3);
        for (int k = 7; k >= 0; k--, v >>= 8)
            keys[i][k] = (unsigned char)v;
    }
    size_t hits = 0;
    t0 = now_ms();
    for (size_t i = 0; i < n; i++)
        hits += crl_find(c, keys[i], 8) != NULL;
    double t_look = now_ms() - t0;
    printf("lookup per serial (binary search):          %8.0f ns   (%zu lookups, %.0f%% hits)\n",
           t_look * 1e6 / (double)n, n, 100.0 * (double)hits / (double)n);
    free(keys);

    /* 3. signature (once per CRL and key) */
    t0 = now_ms();
    int ok = crl_check_signature(c, &int_key);
    printf("signature check (ECDSA P-256, hash precomputed): %5.2f ms %s\n", now_ms() - t0, ok == 0 ? "" : "FAILED");

    /* 4. a cached chain, checked the way every connection is */
    cg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cg_listener_cfg l;
    memset(&l, 0, sizeof l);
    l.name = "bench";
    l.revocation.mode = CG_REVOCATION_FETCH;
    cfg.revocation.fetch_timeout_ms = 30000;
    cfg.revocation.max_crl_size = 1u << 30;
    cfg.revocation.allow_http = true;
    cfg.listeners = &l;
    cfg.nlisteners = 1;
    cg_crl_policy policy;
    cg_crl_policy_from(&policy, &l, NULL);
    cg_diag d;
    cg_diag_init(&d);
    cg_crl_store *store = cg_crl_store_new(&cfg, &d);
    cg_diag_free(&d);
    uv_loop_t loop;
    uv_loop_init(&loop);
    cg_crl_fetcher *f = cg_crl_fetcher_new(&loop, store);
    crl_issuer_id(inter, c->issuer_id);
    c->bound = true;
    crl_store_add(store, c);
    size_t rlen;
    unsigned char *rder = tk_crl(&(tk_crl_opts){ .issuer = ROOT, .key = &root_key }, &rlen);
    crl_store_add(store, crl_parse(rder, rlen, err, sizeof err));
    free(rder);

    server srv = { .body = der, .len = len };
    server_start(&srv);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big.crl", srv.port);
    mbedtls_x509_crt *leaf = tk_cert(&(tk_cert_opts){ .subject = "CN=leaf", .issuer = INT, .key = &leaf_key,
                                                      .issuer_key = &int_key, .serial = "12345", .ca = 0,
                                                      .cdp = { url } });
    const mbedtls_x509_crt *chain[] = { leaf, inter, root };
    answer a = { 0 };
    cg_crl_check_chain(f, &policy, chain, 3, on_answer, &a); /* warms the verification memo */
    int checks = 20000;
    t0 = now_ms();
    for (int i = 0; i < checks; i++) {
        a.done = false;
        cg_crl_check_chain(f, &policy, chain, 3, on_answer, &a);
        if (!a.done || a.st != CG_REV_GOOD) {
            fprintf(stderr, "cached check did not answer GOOD at once\n");
            return 1;
        }
    }
    printf("cached chain check (3 certificates, 2 CRLs): %7.2f us  (per connection, %d checks)\n",
           (now_ms() - t0) * 1e3 / checks, checks);

    /* 5. fetch + parse through the fetcher, a 1 ms timer probing the loop */
    cg_crl_fetcher_close(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    cg_crl_store_free(store);
    cg_diag_init(&d);
    store = cg_crl_store_new(&cfg, &d);
    cg_diag_free(&d);
    f = cg_crl_fetcher_new(&loop, store);
    rder = tk_crl(&(tk_crl_opts){ .issuer = ROOT, .key = &root_key }, &rlen);
    crl_store_add(store, crl_parse(rder, rlen, err, sizeof err));
    free(rder);
    probe p = { 0 };
    uv_timer_init(&loop, &p.t);
    p.t.data = &p;
    uv_timer_start(&p.t, on_tick, 1, 1);
    memset(&a, 0, sizeof a);
    double start = now_ms();
    cg_crl_check_chain(f, &policy, chain, 3, on_answer, &a);
    while (!a.done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&p.t);
    uv_close((uv_handle_t *)&p.t, NULL);
    printf("fetch + parse over HTTP (loopback):         %8.1f ms   (answer %s)\n", a.at - start,
           a.st == CG_REV_GOOD ? "GOOD" : "not GOOD!");
    printf("loop responsiveness meanwhile: worst timer lateness %.2f ms over %d ticks\n", p.worst, p.ticks);

    cg_crl_fetcher_close(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cg_crl_store_free(store);
    server_stop(&srv);
    free(der);
    tk_cert_free(leaf);
    tk_cert_free(inter);
    tk_cert_free(root);
    mbedtls_pk_free(&root_key);
    mbedtls_pk_free(&int_key);
    mbedtls_pk_free(&leaf_key);
    return 0;
}
