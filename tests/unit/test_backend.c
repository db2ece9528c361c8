/* Unit tests for backend.c's pool, with the real pool code on a real loop
 * and a real listening socket on 127.0.0.1: a pooled connection is handed
 * out again only for the very same identity, compared whole, and never when
 * something (late bytes, EOF) waits in its socket. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"

typedef struct fixture {
    cg_worker w;
    int listen_fd;
    int connects; /* on_connect calls with status 0 */
} fixture;

static fixture *fx;

static int setup(void **state)
{
    fx = calloc(1, sizeof *fx);
    fx->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fx->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fx->listen_fd, 16), 0);
    assert_int_equal(getsockname(fx->listen_fd, (struct sockaddr *)&a, &alen), 0);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "backends:\n  - name: app\n    url: http://127.0.0.1:%u\n    max_idle: 8\n"
             "listeners:\n  - name: main\n    port: 8443\n    tls:\n      certificate: s.crt\n"
             "      key: s.key\n      client_ca: ca.crt\n    routes:\n      - path: /\n        backend: app\n",
             ntohs(a.sin_port));
    cg_diag d;
    cg_diag_init(&d);
    fx->w.cfg = cg_config_load_string(yaml, strlen(yaml), "t.yaml", CG_CONFIG_SKIP_TLS, &d);
    if (!fx->w.cfg)
        cg_diag_print(&d, stderr);
    cg_diag_free(&d);
    assert_non_null(fx->w.cfg);
    assert_int_equal(uv_loop_init(&fx->w.loop), 0);
    cg_backend_pools_reset(&fx->w);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cg_backend_pools_free(&fx->w);
    for (int i = 0; i < 100 && uv_run(&fx->w.loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&fx->w.loop), 0);
    cg_spares_clear(&fx->w.spare_rbuf);
    cg_config_unref(fx->w.cfg);
    close(fx->listen_fd);
    free(fx);
    return 0;
}

static void on_connect(cg_backend_conn *bc, int status)
{
    (void)bc;
    assert_int_equal(status, 0);
    fx->connects++;
}

/* Acquires for identity; a new connection is connected (loop run until it
 * is) and its server side accepted into *server_fd. */
static cg_backend_conn *acquire(const char *identity, int *server_fd)
{
    static int owner;
    int before = fx->connects;
    cg_backend_conn *bc = cg_backend_acquire(&fx->w, 0, identity, false, &owner, on_connect);
    assert_non_null(bc);
    if (!bc->connected) {
        for (int i = 0; i < 1000 && fx->connects == before; i++)
            uv_run(&fx->w.loop, UV_RUN_ONCE);
        assert_int_equal(fx->connects, before + 1);
        if (server_fd)
            *server_fd = accept(fx->listen_fd, NULL, NULL);
    }
    return bc;
}

static void principal_identity(char *out, char last)
{
    char principal[256];
    memset(principal, 'p', 254);
    principal[254] = last;
    principal[255] = '\0';
    assert_true(cg_identity_format(out, "user", principal));
    assert_int_equal(strlen(out), 5 + 255);
}

static void test_identities_compared_whole(void **state)
{
    (void)state;
    char a[CG_IDENTITY_MAX], b[CG_IDENTITY_MAX];
    principal_identity(a, '1');
    principal_identity(b, '2');

    int sa = -1, sb = -1;
    cg_backend_conn *ca = acquire(a, &sa);
    assert_true(sa >= 0);
    cg_backend_release(ca, true);
    assert_int_equal(fx->w.pools[0].nidle, 1);

    /* The second user, whose principal differs only in its 255th byte,
     * gets a connection of its own ... */
    assert_false(cg_backend_idle_authenticated(&fx->w, 0, b));
    cg_backend_conn *cb = acquire(b, &sb);
    assert_ptr_not_equal(cb, ca);
    assert_int_equal(fx->connects, 2);
    cg_backend_release(cb, true);
    assert_int_equal(fx->w.pools[0].nidle, 2);

    /* ... and each gets its own back. */
    assert_ptr_equal(acquire(a, NULL), ca);
    assert_ptr_equal(acquire(b, NULL), cb);
    assert_int_equal(fx->connects, 2);
    cg_backend_release(ca, false);
    cg_backend_release(cb, false);
    close(sa);
    close(sb);
}

static void test_identity_that_does_not_fit_is_refused(void **state)
{
    (void)state;
    char too_long[CG_IDENTITY_MAX + 10];
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    char out[CG_IDENTITY_MAX];
    assert_false(cg_identity_format(out, "user", too_long));
    assert_string_equal(out, "");
    static int owner;
    assert_null(cg_backend_acquire(&fx->w, 0, too_long, false, &owner, on_connect));
    assert_null(cg_backend_acquire(&fx->w, 0, "", false, &owner, on_connect));
}

/* Bytes the backend sent after a response, not yet seen by the loop (its
 * readiness may be queued behind the client event being handled), or an
 * EOF: the idle connection is closed at reuse, a new one is made. */
static void test_idle_connection_with_late_bytes_not_reused(void **state)
{
    (void)state;
    for (int eof = 0; eof < 2; eof++) {
        int s1 = -1, s2 = -1;
        cg_backend_conn *c1 = acquire("cert:abc", &s1);
        cg_backend_release(c1, true);
        if (eof)
            shutdown(s1, SHUT_WR);
        else
            assert_int_equal(write(s1, "HTTP/1.1 200 OK\r\n", 17), 17);
        usleep(20 * 1000); /* loopback: the bytes are in c1's socket now; the loop has not run */
        assert_false(cg_backend_idle_authenticated(&fx->w, 0, "cert:abc"));
        assert_int_equal(fx->w.pools[0].nidle, 0); /* closed on sight */
        cg_backend_conn *c2 = acquire("cert:abc", &s2);
        assert_false(c2 == c1 && c2->connected && c2->served); /* a new connection */
        cg_backend_release(c2, false);
        close(s1);
        close(s2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identities_compared_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_that_does_not_fit_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_with_late_bytes_not_reused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
