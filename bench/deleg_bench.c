/* cg-deleg-bench: the delegation module (src/kerberos/delegation.c) against a real KDC.
 *
 *   cg-deleg-bench --keytab FILE --principal P --realm R --spn SPN
 *                  [--krb5-config FILE] [--users N] [--loops L] [--requests R]
 *                  [--cached N] [--check URL]
 *
 * Measures, with one process-wide cg_kerberos:
 *   first      latency of the first request of a new user (S4U2Self +
 *              S4U2Proxy on the thread pool + token), alice
 *   cached     per-request cost once the ticket is cached (the inline token)
 *   gss        gss_init_sec_context alone, from the cached credential
 *   fanout     L loops (threads) x N users (user001..) x R requests, all
 *              started at once: every callback on its own loop's thread,
 *              one KDC exchange per user (counted by the module's log)
 * --check URL: sends each user's first token to URL (Apache with
 * mod_auth_gssapi, e.g. the lab's /whoami) and checks it answers 200 with
 * "user@REALM" in the body.
 *
 * Use tests/integration/kdc_lab.py to start a KDC: see docs/delegation.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

#include "kerberos/delegation.h"

static double ms_since(uint64_t t0) { return (double)(uv_hrtime() - t0) / 1e6; }

typedef struct {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_thread_t owner; /* set by the thread itself */
    cg_kerberos *k;
    const char *spn;
    int first_user, nusers, requests;
    atomic_int outstanding;
    int ok, failed, wrong_thread;
    char **first_tokens; /* one per user (the first token), for --check */
} fan_loop;

typedef struct {
    fan_loop *fl;
    int user;
    int n;
} fan_ctx;

static void fan_cb(void *ctx, const char *token, const cg_refusal *why)
{
    fan_ctx *c = ctx;
    fan_loop *fl = c->fl;
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &fl->owner))
        fl->wrong_thread++;
    if (token) {
        fl->ok++;
        if (c->n == 0 && fl->first_tokens && !fl->first_tokens[c->user])
            fl->first_tokens[c->user] = strdup(token);
    } else {
        fl->failed++;
        if (fl->failed < 4)
            fprintf(stderr, "  user%03d: %s: %s\n", c->user, cg_refusal_code(why->kind), why->detail);
    }
    free(c);
    atomic_fetch_sub(&fl->outstanding, 1);
}

static void fan_thread(void *arg)
{
    fan_loop *fl = arg;
    fl->owner = uv_thread_self();
    /* interleave: request r of every user, then r+1 ... */
    for (int r = 0; r < fl->requests; r++) {
        for (int u = 0; u < fl->nusers; u++) {
            char name[64];
            snprintf(name, sizeof name, "user%03d", fl->first_user + u);
            fan_ctx *c = malloc(sizeof *c);
            c->fl = fl;
            c->user = fl->first_user + u;
            c->n = r;
            atomic_fetch_add(&fl->outstanding, 1);
            cg_delegation_token(fl->k, &fl->loop, name, fl->spn, fan_cb, c);
        }
    }
    uv_run(&fl->loop, UV_RUN_DEFAULT);
}

typedef struct {
    bool done;
    char *token;
    cg_refusal why;
} one_result;

static void one_cb(void *ctx, const char *token, const cg_refusal *why)
{
    one_result *r = ctx;
    r->done = true;
    r->token = token ? strdup(token) : NULL;
    if (why)
        r->why = *why;
}

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = sz * n;
    if (have + add < 4096) {
        memcpy(buf + have, p, add);
        buf[have + add] = '\0';
    }
    return sz * n;
}

static bool check_token(const char *url, const char *token, const char *expect_user)
{
    CURL *c = curl_easy_init();
    char body[4096] = "";
    size_t hlen = strlen(token) + 64;
    char *h = malloc(hlen);
    snprintf(h, hlen, "Authorization: Negotiate %s", token);
    struct curl_slist *hs = curl_slist_append(NULL, h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    bool ok = rc == CURLE_OK && status == 200 && strstr(body, expect_user);
    if (!ok)
        fprintf(stderr, "  check %s as %s: curl %d, HTTP %ld, body %.200s\n", url, expect_user, (int)rc, status, body);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    free(h);
    return ok;
}

int main(int argc, char **argv)
{
    cg_kerberos_cfg cfg = {.enabled = true, .kdc_timeout_ms = 5000, .refresh_before_s = 300, .negative_cache_ms = 10000};
    const char *spn = NULL, *check = NULL;
    int users = 20, loops = 2, requests = 20, cached = 20000;
    static struct option opts[] = {
        {"keytab", 1, 0, 'k'}, {"principal", 1, 0, 'p'}, {"realm", 1, 0, 'r'}, {"spn", 1, 0, 's'},
        {"krb5-config", 1, 0, 'c'}, {"users", 1, 0, 'u'}, {"loops", 1, 0, 'l'}, {"requests", 1, 0, 'n'},
        {"cached", 1, 0, 'C'}, {"check", 1, 0, 'x'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'k': cfg.keytab = optarg; break;
        case 'p': cfg.principal = optarg; break;
        case 'r': cfg.realm = optarg; break;
        case 's': spn = optarg; break;
        case 'c': cfg.krb5_config = optarg; break;
        case 'u': users = atoi(optarg); break;
        case 'l': loops = atoi(optarg); break;
        case 'n': requests = atoi(optarg); break;
        case 'C': cached = atoi(optarg); break;
        case 'x': check = optarg; break;
        default:
            fprintf(stderr, "usage: cg-deleg-bench --keytab F --principal P --realm R --spn SPN [--krb5-config F] "
                            "[--users N] [--loops L] [--requests R] [--cached N] [--check URL]\n");
            return 2;
        }
    }
    if (!cfg.keytab || !cfg.principal || !cfg.realm || !spn) {
        fprintf(stderr, "cg-deleg-bench: --keytab, --principal, --realm and --spn are required\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cg_diag d;
    cg_diag_init(&d);
    cg_kerberos *k = cg_kerberos_new(&cfg, &d);
    cg_diag_print(&d, stderr);
    cg_diag_free(&d);
    if (!k)
        return 1;
    int status = 0;
    char expect[300];

    /* first request of a new user */
    uv_loop_t loop;
    uv_loop_init(&loop);
    one_result r = {0};
    uint64_t t0 = uv_hrtime();
    cg_deleg_req *req = cg_delegation_token(k, &loop, "alice", spn, one_cb, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    double first = ms_since(t0);
    if (!r.token) {
        fprintf(stderr, "first request failed: %s: %s\n", cg_refusal_code(r.why.kind), r.why.detail);
        return 1;
    }
    printf("first request (new user, proxy TGT + S4U2Self + S4U2Proxy + token): %.2f ms%s, token %zu bytes\n", first,
           req ? "" : " (answered inline?)", strlen(r.token));
    snprintf(expect, sizeof expect, "alice@%s", cfg.realm);
    if (check && !check_token(check, r.token, expect))
        status = 1;
    free(r.token);

    /* second user: the proxy TGT is cached now */
    r = (one_result){0};
    t0 = uv_hrtime();
    cg_delegation_token(k, &loop, "bob", spn, one_cb, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    printf("first request of another user (S4U2Self + S4U2Proxy + token): %.2f ms\n", ms_since(t0));
    snprintf(expect, sizeof expect, "bob@%s", cfg.realm);
    if (!r.token || (check && !check_token(check, r.token, expect)))
        status = 1;
    free(r.token);

    /* cached: every call answers inline */
    t0 = uv_hrtime();
    int inline_ok = 0;
    for (int i = 0; i < cached; i++) {
        r = (one_result){0};
        cg_deleg_req *q = cg_delegation_token(k, &loop, "alice", spn, one_cb, &r);
        if (!q && r.done && r.token)
            inline_ok++;
        free(r.token);
    }
    double per = ms_since(t0) / cached;
    printf("cached ticket: %.4f ms per request (%d/%d answered inline)\n", per, inline_ok, cached);
    if (inline_ok != cached)
        status = 1;

    /* fan-out */
    fan_loop *fl = calloc((size_t)loops, sizeof *fl);
    char **firsts = calloc((size_t)users + 1, sizeof *firsts);
    t0 = uv_hrtime();
    for (int i = 0; i < loops; i++) {
        uv_loop_init(&fl[i].loop);
        fl[i].k = k;
        fl[i].spn = spn;
        fl[i].first_user = 1;
        fl[i].nusers = users;
        fl[i].requests = requests;
        fl[i].first_tokens = i == 0 ? firsts : NULL;
        uv_thread_create(&fl[i].thread, fan_thread, &fl[i]);
    }
    int ok = 0, failed = 0, wrong = 0;
    for (int i = 0; i < loops; i++) {
        uv_thread_join(&fl[i].thread);
        ok += fl[i].ok;
        failed += fl[i].failed;
        wrong += fl[i].wrong_thread;
        uv_loop_close(&fl[i].loop);
    }
    double fan = ms_since(t0);
    printf("fan-out: %d loops x %d users x %d requests: %d tokens, %d failed, %d callbacks on a wrong thread, "
           "%.1f ms\n", loops, users, requests, ok, failed, wrong, fan);
    if (failed || wrong || ok != loops * users * requests)
        status = 1;
    if (check) {
        int good = 0;
        for (int u = 1; u <= users; u++) {
            snprintf(expect, sizeof expect, "user%03d@%s", u, cfg.realm);
            if (firsts[u] && check_token(check, firsts[u], expect))
                good++;
        }
        printf("check: %d/%d users' tokens accepted by %s as the right user\n", good, users, check);
        if (good != users)
            status = 1;
    }
    for (int u = 0; u <= users; u++)
        free(firsts[u]);
    free(firsts);
    free(fl);

    cg_delegation_flush(k, NULL);
    uv_loop_close(&loop);
    cg_kerberos_free(k);
    curl_global_cleanup();
    printf("%s\n", status ? "FAILED" : "ok");
    return status;
}
