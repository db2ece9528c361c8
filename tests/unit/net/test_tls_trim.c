/* Unit tests of the record buffers' trim (tls_trim.c): a real TLS 1.2
 * connection between two mbedTLS contexts in memory (server key and
 * certificate from the x509 kit). Records that fill the buffers make their
 * pages resident (mincore), the trim gives them back (the bundled mbedTLS:
 * the buffers freed, with their pages given back as they were freed; a
 * system one: the pages released in place), and the connection then
 * carries data both ways as before (record counters, keys and framing
 * intact); with a record read in part, plaintext not yet read or a
 * handshake in progress, the trim releases nothing and loses nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mbedtls/ssl.h>

#include "net/tls_trim.h"
#include "x509_kit.h"

/* One direction of the connection: bytes written, not yet read. */
typedef struct pipe_buf {
    unsigned char b[1 << 18];
    size_t head, tail;
    size_t budget; /* with budgeted: bytes that may still be read, then WANT_READ */
    bool budgeted;
} pipe_buf;

typedef struct pair {
    mbedtls_ssl_config scfg, ccfg;
    mbedtls_ssl_context srv, cli;
    mbedtls_x509_crt *ca, *cert;
    mbedtls_pk_context ca_key, key;
    pipe_buf to_srv, to_cli;
} pair;

static int pipe_send(void *ctx, const unsigned char *p, size_t n)
{
    pipe_buf *q = ctx;
    if (n > sizeof q->b - q->tail) {
        memmove(q->b, q->b + q->head, q->tail - q->head);
        q->tail -= q->head;
        q->head = 0;
    }
    if (n > sizeof q->b - q->tail)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    memcpy(q->b + q->tail, p, n);
    q->tail += n;
    return (int)n;
}

static int pipe_recv(void *ctx, unsigned char *p, size_t n)
{
    pipe_buf *q = ctx;
    size_t have = q->tail - q->head;
    if (q->budgeted && have > q->budget)
        have = q->budget;
    if (have == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (n > have)
        n = have;
    memcpy(p, q->b + q->head, n);
    q->head += n;
    if (q->budgeted)
        q->budget -= n;
    return (int)n;
}

static const int suites[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0 };

static pair *pair_new(void)
{
    pair *t = calloc(1, sizeof *t);
    assert_non_null(t);
    mbedtls_pk_init(&t->ca_key);
    mbedtls_pk_init(&t->key);
    tk_key(&t->ca_key, 0);
    tk_key(&t->key, 0);
    t->ca = tk_cert(&(tk_cert_opts){ .subject = "CN=trim test CA", .key = &t->ca_key, .ca = 1, .pathlen = -1 });
    t->cert = tk_cert(&(tk_cert_opts){ .subject = "CN=localhost", .issuer = "CN=trim test CA", .key = &t->key,
                                       .issuer_key = &t->ca_key, .serial = "2", .ca = 0, .eku = "server" });
    mbedtls_ssl_config_init(&t->scfg);
    mbedtls_ssl_config_init(&t->ccfg);
    assert_int_equal(mbedtls_ssl_config_defaults(&t->scfg, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT), 0);
    assert_int_equal(mbedtls_ssl_config_defaults(&t->ccfg, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT), 0);
    for (int i = 0; i < 2; i++) {
        mbedtls_ssl_config *c = i ? &t->ccfg : &t->scfg;
        mbedtls_ssl_conf_rng(c, tk_rng, NULL);
        mbedtls_ssl_conf_min_tls_version(c, MBEDTLS_SSL_VERSION_TLS1_2);
        mbedtls_ssl_conf_max_tls_version(c, MBEDTLS_SSL_VERSION_TLS1_2);
        mbedtls_ssl_conf_ciphersuites(c, suites);
    }
    assert_int_equal(mbedtls_ssl_conf_own_cert(&t->scfg, t->cert, &t->key), 0);
    mbedtls_ssl_conf_authmode(&t->scfg, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_authmode(&t->ccfg, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->ccfg, t->ca, NULL);
    mbedtls_ssl_init(&t->srv);
    mbedtls_ssl_init(&t->cli);
    assert_int_equal(mbedtls_ssl_setup(&t->srv, &t->scfg), 0);
    assert_int_equal(mbedtls_ssl_setup(&t->cli, &t->ccfg), 0);
    assert_int_equal(mbedtls_ssl_set_hostname(&t->cli, "localhost"), 0);
    return t;
}

/* The server reads what the client sent and writes into what the client reads. */
static int srv_recv(void *ctx, unsigned char *p, size_t n) { return pipe_recv(&((pair *)ctx)->to_srv, p, n); }
static int srv_send(void *ctx, const unsigned char *p, size_t n) { return pipe_send(&((pair *)ctx)->to_cli, p, n); }
static int cli_recv(void *ctx, unsigned char *p, size_t n) { return pipe_recv(&((pair *)ctx)->to_cli, p, n); }
static int cli_send(void *ctx, const unsigned char *p, size_t n) { return pipe_send(&((pair *)ctx)->to_srv, p, n); }

static void handshake(pair *t)
{
    mbedtls_ssl_set_bio(&t->srv, t, srv_send, srv_recv, NULL);
    mbedtls_ssl_set_bio(&t->cli, t, cli_send, cli_recv, NULL);
    for (int i = 0; i < 100; i++) {
        int a = mbedtls_ssl_handshake(&t->cli);
        int b = mbedtls_ssl_handshake(&t->srv);
        if (a == 0 && b == 0)
            return;
        assert_true(a == 0 || a == MBEDTLS_ERR_SSL_WANT_READ || a == MBEDTLS_ERR_SSL_WANT_WRITE);
        assert_true(b == 0 || b == MBEDTLS_ERR_SSL_WANT_READ || b == MBEDTLS_ERR_SSL_WANT_WRITE);
        /* A handshake in progress is never trimmed. */
        if (b != 0)
            assert_int_equal(cg_tls_trim_buffers(&t->srv), 0);
    }
    fail_msg("the handshake did not finish");
}

static void pair_free(pair *t)
{
    mbedtls_ssl_free(&t->srv);
    mbedtls_ssl_free(&t->cli);
    mbedtls_ssl_config_free(&t->scfg);
    mbedtls_ssl_config_free(&t->ccfg);
    tk_cert_free(t->ca);
    tk_cert_free(t->cert);
    mbedtls_pk_free(&t->ca_key);
    mbedtls_pk_free(&t->key);
    free(t);
}

/* n bytes of a pattern from from to to, checked on arrival. */
static void carry(mbedtls_ssl_context *from, mbedtls_ssl_context *to, size_t n, unsigned char seed)
{
    unsigned char *out = malloc(n), *in = malloc(n);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(seed + i * 7);
    size_t sent = 0, got = 0;
    while (got < n) {
        if (sent < n) {
            int r = mbedtls_ssl_write(from, out + sent, n - sent);
            assert_true(r > 0);
            sent += (size_t)r;
        }
        int r = mbedtls_ssl_read(to, in + got, n - got);
        if (r == MBEDTLS_ERR_SSL_WANT_READ)
            continue;
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(in, out, n);
    free(out);
    free(in);
}

/* Resident pages among the whole pages past CG_TLS_TRIM_KEEP of [p, p + len). */
static size_t resident(const unsigned char *p, size_t len)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)p + CG_TLS_TRIM_KEEP + page - 1) & ~(page - 1);
    uintptr_t to = ((uintptr_t)p + len) & ~(page - 1);
    size_t pages = to > from ? (to - from) / page : 0, n = 0;
    unsigned char vec[16];
    assert_true(pages <= sizeof vec);
    if (pages == 0)
        return 0;
    assert_int_equal(mincore((void *)from, to - from, vec), 0);
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    return n;
}

/* Resident pages of the server's record buffers; of the blocks they were
 * before a release (which freed them: mincore only asks the kernel, and
 * nothing in this thread allocates in between). */
static size_t srv_resident_at(const unsigned char *in, const unsigned char *out)
{
    return resident(in, MBEDTLS_SSL_IN_CONTENT_LEN) + resident(out, MBEDTLS_SSL_OUT_CONTENT_LEN);
}

static size_t srv_resident(pair *t)
{
    mbedtls_ssl_context *s = &t->srv;
    if (!s->MBEDTLS_PRIVATE(in_buf))
        return 0; /* released */
    return srv_resident_at(s->MBEDTLS_PRIVATE(in_buf), s->MBEDTLS_PRIVATE(out_buf));
}

static void test_trim_releases_and_connection_goes_on(void **state)
{
    (void)state;
    pair *t = pair_new();
    handshake(t);
    /* Full records both ways: every page of both buffers touched. */
    carry(&t->cli, &t->srv, 40000, 1);
    carry(&t->srv, &t->cli, 40000, 2);
    assert_true(srv_resident(t) >= 4);
    const unsigned char *in = t->srv.MBEDTLS_PRIVATE(in_buf), *out = t->srv.MBEDTLS_PRIVATE(out_buf);
    size_t released = cg_tls_trim_buffers(&t->srv);
    assert_true(released >= 4 * (size_t)sysconf(_SC_PAGESIZE));
#if defined(MBEDTLS_SSL_RELEASE_BUFFERS)
    /* Freed, and their pages went back before the allocator kept them. */
    assert_null(t->srv.MBEDTLS_PRIVATE(in_buf));
    assert_null(t->srv.MBEDTLS_PRIVATE(out_buf));
#endif
    assert_int_equal(srv_resident_at(in, out), 0);
    /* Nothing left to release: the second trim finds the same pages gone
     * (it may release them again: they are not resident either way). */
    (void)cg_tls_trim_buffers(&t->srv);
    assert_int_equal(srv_resident(t), 0);
    /* The connection carries small and full records both ways, trimmed
     * again between them. */
    for (int round = 0; round < 3; round++) {
        carry(&t->cli, &t->srv, 100, (unsigned char)(10 + round));
        carry(&t->srv, &t->cli, 200, (unsigned char)(20 + round));
        carry(&t->cli, &t->srv, 33000, (unsigned char)(30 + round));
        carry(&t->srv, &t->cli, 33000, (unsigned char)(40 + round));
        assert_true(cg_tls_trim_buffers(&t->srv) > 0);
    }
    /* A clean close still works: the alert goes out with the right counter. */
    assert_int_equal(mbedtls_ssl_close_notify(&t->srv), 0);
    unsigned char b[16];
    assert_int_equal(mbedtls_ssl_read(&t->cli, b, sizeof b), MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    pair_free(t);
}

static void test_busy_buffers_are_kept(void **state)
{
    (void)state;
    pair *t = pair_new();
    handshake(t);
    /* Plaintext of a record not read yet: nothing released, all of it read after. */
    unsigned char out[9000], in[9000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (unsigned char)(i * 13);
    assert_int_equal(mbedtls_ssl_write(&t->cli, out, sizeof out), (int)sizeof out);
    assert_int_equal(mbedtls_ssl_read(&t->srv, in, 100), 100);
    assert_int_equal(cg_tls_trim_buffers(&t->srv), 0);
    size_t got = 100;
    while (got < sizeof out) {
        int r = mbedtls_ssl_read(&t->srv, in + got, sizeof in - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(in, out, sizeof out);

    /* A record read in part (the rest still in the network): nothing released. */
    assert_int_equal(mbedtls_ssl_write(&t->cli, out, 5000), 5000);
    t->to_srv.budgeted = true;
    t->to_srv.budget = 1000;
    assert_int_equal(mbedtls_ssl_read(&t->srv, in, sizeof in), MBEDTLS_ERR_SSL_WANT_READ);
    assert_int_equal(cg_tls_trim_buffers(&t->srv), 0);
    t->to_srv.budgeted = false;
    got = 0;
    while (got < 5000) {
        int r = mbedtls_ssl_read(&t->srv, in + got, 5000 - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(in, out, 5000);
    /* Quiet now: released, and the connection goes on. */
    assert_true(cg_tls_trim_buffers(&t->srv) > 0);
    carry(&t->srv, &t->cli, 20000, 5);
    carry(&t->cli, &t->srv, 20000, 6);
    pair_free(t);
}

int main(void)
{
    /* meson test sets MALLOC_PERTURB_: glibc would then fill each freed
     * block, faulting its pages back in; certgate runs without it. */
    mallopt(M_PERTURB, 0);
    /* As certgate does at start (server.c): the page give-back of freed buffers. */
#if defined(MBEDTLS_SSL_RELEASE_BUFFERS) && defined(MBEDTLS_PLATFORM_MEMORY)
    assert_true(cg_tls_trim_install());
#else
    assert_false(cg_tls_trim_install());
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_releases_and_connection_goes_on),
        cmocka_unit_test(test_busy_buffers_are_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
