/* Unit tests of the delegation module that need no KDC: base64, principal
 * and SPN names, cache timing, error mapping, keytab reading, and the
 * asynchronous paths that a closed or silent KDC port exercises (503, the
 * negative cache, one exchange shared by concurrent requests, kdc_timeout,
 * cancel, callbacks on the requesting loop's thread).
 *
 * Everything happens in a temporary folder with a private krb5.conf and a
 * keytab written here (random keys); the only sockets are on 127.0.0.1.
 * The tests against a real KDC are in tests/integration/test_delegation.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <krb5.h>
#include <uv.h>

#include "kerberos/delegation.h"
#include "base/base64.h"
#include "kerberos/kdc_errors.h"
#include "kerberos/kdc_steps.h"

#include "fixtures.h"

static char tmpdir[256];
static char keytab_path[300];
static char krb5conf_refused[300];
static char krb5conf_silent[300];
static int silent_fd = -1;

/* ---- fixtures ---- */

static int silent_listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 16); /* connections complete in the backlog; nothing is ever answered */
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return s;
}

static int group_setup(void **state)
{
    (void)state;
    if (!fx_tmpdir(tmpdir, sizeof tmpdir, "delegation"))
        return -1;
    snprintf(keytab_path, sizeof keytab_path, "%s/proxy.keytab", tmpdir);
    snprintf(krb5conf_refused, sizeof krb5conf_refused, "%s/krb5-refused.conf", tmpdir);
    snprintf(krb5conf_silent, sizeof krb5conf_silent, "%s/krb5-silent.conf", tmpdir);
    fx_write_krb5_conf(krb5conf_refused, fx_closed_port());
    int port;
    silent_fd = silent_listener(&port);
    fx_write_krb5_conf(krb5conf_silent, port);
    setenv("KRB5_CONFIG", krb5conf_refused, 1);
    fx_write_keytab(keytab_path, "HTTP/proxy.example.test@EXAMPLE.TEST", 7);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (silent_fd >= 0)
        close(silent_fd);
    return fx_rm_rf(tmpdir);
}

/* ---- base64 ---- */

static void test_base64_rfc4648(void **s)
{
    (void)s;
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char buf[32];
        size_t n = cg_base64_encode(in[i], strlen(in[i]), buf, sizeof buf);
        assert_int_equal(n, strlen(out[i]));
        assert_string_equal(buf, out[i]);
    }
    unsigned char bin[] = {0xfb, 0xff, 0x00, 0x3e, 0x3f};
    char buf[16];
    assert_int_equal(cg_base64_encode(bin, sizeof bin, buf, sizeof buf), 8);
    assert_string_equal(buf, "+/8APj8=");
}

static void test_base64_capacity(void **s)
{
    (void)s;
    char buf[9];
    assert_int_equal(cg_base64_encode("foobar", 6, buf, 8), 0); /* needs 8 + NUL */
    assert_int_equal(cg_base64_encode("foobar", 6, buf, 9), 8);
}

/* ---- names ---- */

static void test_user_names(void **s)
{
    (void)s;
    char out[64], err[256];
    assert_true(cg_kdc_user_name("alice", "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
    assert_string_equal(out, "alice@EXAMPLE.TEST");
    /* a realm not served here: an enterprise name in the proxy's realm */
    assert_true(cg_kdc_user_name("bob@OTHER.TEST", "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
    assert_string_equal(out, "bob\\@OTHER.TEST@EXAMPLE.TEST");
    /* the realm matched without regard to case, written as configured */
    assert_true(cg_kdc_user_name("bob@example.test", "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
    assert_string_equal(out, "bob@EXAMPLE.TEST");
    static const char *bad[] = {"", "al ice", "alice/admin", "krbtgt/EXAMPLE.TEST", "a@b@C", "@EXAMPLE.TEST",
                                "alice@", "ali\tce", "ali\\ce", "al\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_false(cg_kdc_user_name(bad[i], "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
        assert_true(strlen(err) > 10);
    }
    assert_false(cg_kdc_user_name(NULL, "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
    assert_false(cg_kdc_user_name("alice", "", out, sizeof out, err, sizeof err));
    assert_non_null(strstr(err, "kerberos.realm"));
    char longname[100];
    memset(longname, 'a', sizeof longname - 1);
    longname[99] = '\0';
    assert_false(cg_kdc_user_name(longname, "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
    assert_non_null(strstr(err, "too long"));
    assert_false(cg_kdc_user_name("alice/admin", "R", out, sizeof out, err, sizeof err));
    assert_non_null(strstr(err, "service or instance"));
}

static void test_target_names(void **s)
{
    (void)s;
    char out[80], err[256];
    assert_true(cg_kdc_target_name("HTTP/backend.example.test", "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
    assert_string_equal(out, "HTTP/backend.example.test@EXAMPLE.TEST");
    assert_true(cg_kdc_target_name("HTTP/b.other.test@OTHER.TEST", "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
    assert_string_equal(out, "HTTP/b.other.test@OTHER.TEST");
    assert_true(cg_kdc_target_name("MSSQLSvc/db.example.test", "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
    static const char *bad[] = {"", "HTTP", "/host", "HTTP/", "HTTP/@R", "HTTP/host:8080", "HTTP/host:443@R",
                                "HTTP/ho st", "HTTP/host@", "HTTP/host@A@B", "a@b/c"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_false(cg_kdc_target_name(bad[i], "EXAMPLE.TEST", out, sizeof out, err, sizeof err));
        assert_true(strlen(err) > 10);
    }
    assert_false(cg_kdc_target_name("HTTP/host:8080", "R", out, sizeof out, err, sizeof err));
    assert_non_null(strstr(err, "port"));
    assert_false(cg_kdc_target_name("HTTP/a-very-long-host-name.example.test", "EXAMPLE.TEST", out, 20, err,
                                    sizeof err));
}

static void test_keytab_name(void **s)
{
    (void)s;
    char out[128];
    cg_kdc_keytab_name("/etc/certgate/proxy.keytab", out, sizeof out);
    assert_string_equal(out, "FILE:/etc/certgate/proxy.keytab");
    cg_kdc_keytab_name("FILE:/x/y", out, sizeof out);
    assert_string_equal(out, "FILE:/x/y");
    cg_kdc_keytab_name("MEMORY:kt", out, sizeof out);
    assert_string_equal(out, "MEMORY:kt");
    cg_kdc_keytab_name("/odd:dir/k", out, sizeof out);
    assert_string_equal(out, "FILE:/odd:dir/k");
}

/* ---- cache timing ---- */

static void test_refresh_at(void **s)
{
    (void)s;
    assert_int_equal(cg_deleg_refresh_at(1000, 1000 + 36000, 300), 1000 + 36000 - 300);
    /* short tickets: never earlier than half the lifetime */
    assert_int_equal(cg_deleg_refresh_at(1000, 1400, 300), 1200);
    assert_int_equal(cg_deleg_refresh_at(1000, 1000, 300), 1000);
    assert_int_equal(cg_deleg_refresh_at(1000, 900, 300), 900);
    assert_int_equal(cg_deleg_refresh_at(0, 600, 0), 600);
}

static void test_usable(void **s)
{
    (void)s;
    assert_true(cg_deleg_usable(1000, 2000));
    assert_true(cg_deleg_usable(2000 - CG_DELEG_HARD_MARGIN_S - 1, 2000));
    assert_false(cg_deleg_usable(2000 - CG_DELEG_HARD_MARGIN_S, 2000));
    assert_false(cg_deleg_usable(3000, 2000));
}

/* The error catalogue (kdc_errors.h) has its own tests: test_kdc_errors.c. */

/* ---- keytab ---- */

static void test_keytab_keys(void **s)
{
    (void)s;
    krb5_context ctx;
    assert_int_equal(krb5_init_context(&ctx), 0);
    cg_kdc_key keys[8];
    size_t n = 0;
    char err[512];
    assert_int_equal(cg_kdc_keytab_keys(ctx, keytab_path, keys, 8, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].principal, "HTTP/proxy.example.test@EXAMPLE.TEST");
    assert_int_equal(keys[0].kvno, 7);
    assert_int_equal(keys[0].enctype, ENCTYPE_AES256_CTS_HMAC_SHA1_96);
    assert_non_null(strstr(keys[0].enctype_name, "aes256"));

    char missing[400];
    snprintf(missing, sizeof missing, "%s/none.keytab", tmpdir);
    assert_int_equal(cg_kdc_keytab_keys(ctx, missing, keys, 8, &n, err, sizeof err), ENOENT);
    assert_non_null(strstr(err, "none.keytab"));
    assert_non_null(strstr(err, "No such file"));

    char garbage[400];
    snprintf(garbage, sizeof garbage, "%s/garbage.keytab", tmpdir);
    fx_write_text(garbage, "this is not a keytab");
    assert_int_not_equal(cg_kdc_keytab_keys(ctx, garbage, keys, 8, &n, err, sizeof err), 0);
    assert_non_null(strstr(err, "garbage.keytab"));
    krb5_free_context(ctx);
}

/* ---- cg_kerberos_new ---- */

static cg_kerberos_cfg base_cfg(const char *krb5conf)
{
    return (cg_kerberos_cfg){.enabled = true,
                             .keytab = keytab_path,
                             .principal = "HTTP/proxy.example.test@EXAMPLE.TEST",
                             .realm = "EXAMPLE.TEST",
                             .krb5_config = (char *)krb5conf,
                             .kdc_timeout_ms = 2000,
                             .refresh_before_s = 300,
                             .negative_cache_ms = 10000};
}

static void test_new_checks_keytab(void **s)
{
    (void)s;
    cg_diag d;
    cg_kerberos_cfg c = base_cfg(krb5conf_refused);
    cg_diag_init(&d);
    cg_kerberos *k = cg_kerberos_new(&c, &d);
    assert_non_null(k);
    assert_int_equal(d.errors, 0);
    cg_kerberos_free(k);
    cg_diag_free(&d);

    char missing[400];
    snprintf(missing, sizeof missing, "%s/none.keytab", tmpdir);
    c.keytab = missing;
    cg_diag_init(&d);
    assert_null(cg_kerberos_new(&c, &d));
    assert_int_equal(d.errors, 1);
    assert_non_null(strstr(d.items[0].message, "kerberos.keytab"));
    assert_non_null(strstr(d.items[0].message, "No such file"));
    cg_diag_free(&d);

    c = base_cfg(krb5conf_refused);
    c.principal = "HTTP/other.example.test@EXAMPLE.TEST";
    cg_diag_init(&d);
    assert_null(cg_kerberos_new(&c, &d));
    assert_int_equal(d.errors, 1);
    assert_non_null(strstr(d.items[0].message, "no key for kerberos.principal HTTP/other.example.test@EXAMPLE.TEST"));
    assert_non_null(strstr(d.items[0].message, "HTTP/proxy.example.test@EXAMPLE.TEST"));
    cg_diag_free(&d);

    c = base_cfg(krb5conf_refused);
    c.principal = "HTTP/proxy.example.test"; /* the realm is added */
    cg_diag_init(&d);
    k = cg_kerberos_new(&c, &d);
    assert_non_null(k);
    cg_kerberos_free(k);
    cg_diag_free(&d);

    c = base_cfg("/nonexistent/krb5.conf");
    cg_diag_init(&d);
    assert_null(cg_kerberos_new(&c, &d));
    assert_non_null(strstr(d.items[0].message, "kerberos.krb5_config"));
    cg_diag_free(&d);

    c = base_cfg(krb5conf_refused);
    c.keytab = NULL;
    cg_diag_init(&d);
    assert_null(cg_kerberos_new(&c, &d));
    assert_non_null(strstr(d.items[0].message, "kerberos.keytab is required"));
    cg_diag_free(&d);
}

/* ---- asynchronous paths ---- */

typedef struct {
    int calls;
    bool has_token;
    cg_refusal why;
    uv_thread_t thread;
} answer;

static void on_answer(void *ctx, const char *token, const cg_refusal *why)
{
    answer *a = ctx;
    a->calls++;
    a->has_token = token != NULL;
    a->thread = uv_thread_self();
    if (why)
        a->why = *why;
}

static cg_kerberos *new_k(const char *krb5conf, uint32_t timeout_ms, uint32_t negative_ms)
{
    cg_kerberos_cfg c = base_cfg(krb5conf);
    c.kdc_timeout_ms = timeout_ms;
    c.negative_cache_ms = negative_ms;
    cg_diag d;
    cg_diag_init(&d);
    cg_kerberos *k = cg_kerberos_new(&c, &d);
    cg_diag_free(&d);
    assert_non_null(k);
    return k;
}

static void test_bad_names_answer_at_once(void **s)
{
    (void)s;
    cg_kerberos *k = new_k(krb5conf_refused, 2000, 10000);
    uv_loop_t loop;
    uv_loop_init(&loop);
    answer a = {0};
    assert_null(cg_delegation_token(k, &loop, "alice/admin", "HTTP/backend.example.test", on_answer, &a));
    assert_int_equal(a.calls, 1);
    assert_false(a.has_token);
    assert_int_equal(a.why.kind, CG_REFUSE_PRINCIPAL_UNKNOWN);
    assert_int_equal(cg_refusal_status(a.why.kind), 403);
    memset(&a, 0, sizeof a);
    assert_null(cg_delegation_token(k, &loop, "alice", "HTTP/backend.example.test:8080", on_answer, &a));
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.why.kind, CG_REFUSE_DELEGATION_FAILED);
    assert_non_null(strstr(a.why.detail, "kerberos.spn"));
    memset(&a, 0, sizeof a);
    assert_null(cg_delegation_token(NULL, &loop, "alice", "HTTP/b", on_answer, &a));
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.why.kind, CG_REFUSE_DELEGATION_FAILED);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    cg_kerberos_free(k);
}

static void test_kdc_refused_503_and_negative_cache(void **s)
{
    (void)s;
    cg_kerberos *k = new_k(krb5conf_refused, 3000, 60000);
    uv_loop_t loop;
    uv_loop_init(&loop);
    answer a[3] = {{0}};
    /* three concurrent requests, two users: one exchange per (user, SPN) */
    cg_deleg_req *r0 = cg_delegation_token(k, &loop, "alice", "HTTP/backend.example.test", on_answer, &a[0]);
    cg_deleg_req *r1 = cg_delegation_token(k, &loop, "alice", "HTTP/backend.example.test", on_answer, &a[1]);
    cg_deleg_req *r2 = cg_delegation_token(k, &loop, "bob", "HTTP/backend.example.test", on_answer, &a[2]);
    assert_non_null(r0);
    assert_non_null(r1);
    assert_non_null(r2);
    assert_int_equal(a[0].calls + a[1].calls + a[2].calls, 0);
    uint64_t t0 = uv_hrtime();
    uv_run(&loop, UV_RUN_DEFAULT);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    uv_thread_t self = uv_thread_self();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_false(a[i].has_token);
        assert_int_equal(a[i].why.kind, CG_REFUSE_KDC_UNREACHABLE);
        assert_int_equal(cg_refusal_status(a[i].why.kind), 503);
        assert_non_null(strstr(a[i].why.detail, "EXAMPLE.TEST"));
        assert_true(uv_thread_equal(&a[i].thread, &self));
    }
    assert_true(ms < 2500); /* a refused port fails at once, well within kdc_timeout */
    unsigned ex, infl;
    size_t entries;
    cg_deleg_stats(k, &ex, &infl, &entries);
    assert_true(ex <= 2); /* alice's two requests shared one exchange */
    assert_int_equal(infl, 0);

    /* negative cache: answered at once, no new exchange */
    answer b = {0};
    assert_null(cg_delegation_token(k, &loop, "carol", "HTTP/backend.example.test", on_answer, &b));
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.why.kind, CG_REFUSE_KDC_UNREACHABLE);
    unsigned ex2;
    cg_deleg_stats(k, &ex2, &infl, &entries);
    assert_int_equal(ex2, ex);

    /* flush clears it: the next request tries again */
    cg_delegation_flush(k, NULL);
    answer c = {0};
    assert_non_null(cg_delegation_token(k, &loop, "carol", "HTTP/backend.example.test", on_answer, &c));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.why.kind, CG_REFUSE_KDC_UNREACHABLE);
    assert_int_equal(uv_loop_close(&loop), 0);
    cg_kerberos_free(k);
}

static void test_no_negative_cache_when_zero(void **s)
{
    (void)s;
    cg_kerberos *k = new_k(krb5conf_refused, 3000, 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    for (int i = 0; i < 2; i++) {
        answer a = {0};
        assert_non_null(cg_delegation_token(k, &loop, "alice", "HTTP/backend.example.test", on_answer, &a));
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(a.calls, 1);
        assert_int_equal(a.why.kind, CG_REFUSE_KDC_UNREACHABLE);
    }
    unsigned ex, infl;
    size_t entries;
    cg_deleg_stats(k, &ex, &infl, &entries);
    assert_int_equal(ex, 2);
    assert_int_equal(uv_loop_close(&loop), 0);
    cg_kerberos_free(k);
}

typedef struct {
    uv_timer_t t;
    int fd;
} closer;

static void close_silent(uv_timer_t *t)
{
    closer *c = t->data;
    /* closing the listener resets the connections libkrb5 waits on */
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    uv_close((uv_handle_t *)t, NULL);
}

static void test_kdc_timeout_and_cancel(void **s)
{
    (void)s;
    cg_kerberos *k = new_k(krb5conf_silent, 300, 60000);
    uv_loop_t loop;
    uv_loop_init(&loop);
    answer a = {0}, b = {0};
    uint64_t t0 = uv_hrtime();
    cg_deleg_req *ra = cg_delegation_token(k, &loop, "alice", "HTTP/backend.example.test", on_answer, &a);
    cg_deleg_req *rb = cg_delegation_token(k, &loop, "alice", "HTTP/backend.example.test", on_answer, &b);
    assert_non_null(ra);
    assert_non_null(rb);
    cg_delegation_cancel(rb); /* never answered */
    closer c = {.fd = silent_fd};
    silent_fd = -1;
    uv_timer_init(&loop, &c.t);
    c.t.data = &c;
    uv_timer_start(&c.t, close_silent, 1500, 0);
    while (a.calls == 0 && uv_run(&loop, UV_RUN_ONCE))
        ;
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.why.kind, CG_REFUSE_KDC_UNREACHABLE);
    assert_non_null(strstr(a.why.detail, "kdc_timeout (300ms)"));
    assert_true(ms >= 250 && ms < 1400);
    uv_run(&loop, UV_RUN_DEFAULT); /* the exchange ends once the socket is closed */
    assert_int_equal(b.calls, 0);
    unsigned ex, infl;
    size_t entries;
    cg_deleg_stats(k, &ex, &infl, &entries);
    assert_int_equal(ex, 1);
    assert_int_equal(infl, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    cg_kerberos_free(k);
}

typedef struct {
    cg_kerberos *k;
    uv_loop_t loop;
    uv_thread_t owner;
    answer a[4];
} loop_thread;

static void loop_main(void *arg)
{
    loop_thread *lt = arg;
    lt->owner = uv_thread_self();
    for (int i = 0; i < 4; i++)
        cg_delegation_token(lt->k, &lt->loop, i % 2 ? "dave" : "erin", "HTTP/backend.example.test", on_answer, &lt->a[i]);
    uv_run(&lt->loop, UV_RUN_DEFAULT);
}

static void test_callbacks_on_requesting_loop(void **s)
{
    (void)s;
    cg_kerberos *k = new_k(krb5conf_refused, 3000, 0);
    loop_thread lt[3];
    memset(lt, 0, sizeof lt);
    for (int i = 0; i < 3; i++) {
        lt[i].k = k;
        uv_loop_init(&lt[i].loop);
    }
    uv_thread_t th[3];
    for (int i = 0; i < 3; i++)
        uv_thread_create(&th[i], loop_main, &lt[i]);
    for (int i = 0; i < 3; i++)
        uv_thread_join(&th[i]);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 4; j++) {
            assert_int_equal(lt[i].a[j].calls, 1);
            assert_int_equal(lt[i].a[j].why.kind, CG_REFUSE_KDC_UNREACHABLE);
            assert_true(uv_thread_equal(&lt[i].a[j].thread, &lt[i].owner));
        }
        assert_int_equal(uv_loop_close(&lt[i].loop), 0);
    }
    cg_kerberos_free(k);
}

static void test_flush_edge_cases(void **s)
{
    (void)s;
    cg_delegation_flush(NULL, NULL);
    cg_delegation_cancel(NULL);
    cg_kerberos *k = new_k(krb5conf_refused, 3000, 1000);
    cg_delegation_flush(k, "nobody");
    cg_delegation_flush(k, "not a principal");
    cg_delegation_flush(k, NULL);
    cg_kerberos_free(k);
    cg_kerberos_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_base64_capacity),
        cmocka_unit_test(test_user_names),
        cmocka_unit_test(test_target_names),
        cmocka_unit_test(test_keytab_name),
        cmocka_unit_test(test_refresh_at),
        cmocka_unit_test(test_usable),
        cmocka_unit_test(test_keytab_keys),
        cmocka_unit_test(test_new_checks_keytab),
        cmocka_unit_test(test_bad_names_answer_at_once),
        cmocka_unit_test(test_kdc_refused_503_and_negative_cache),
        cmocka_unit_test(test_no_negative_cache_when_zero),
        cmocka_unit_test(test_kdc_timeout_and_cancel),
        cmocka_unit_test(test_callbacks_on_requesting_loop),
        cmocka_unit_test(test_flush_edge_cases),
    };
    return cmocka_run_group_tests_name("delegation", tests, group_setup, group_teardown);
}
