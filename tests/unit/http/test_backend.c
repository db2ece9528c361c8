/* Unit tests for backend.c's pool, with the real pool code on a real loop
 * and a real listening socket on 127.0.0.1: a pooled connection is handed
 * out again only for the very same identity, compared whole, and never when
 * something (late bytes, EOF) waits in its socket; max_connections holds
 * across identities (least recently used idle evicted, then a bounded
 * wait). */
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

#include "http/backend.h"
#include "config/config.h"

typedef struct fixture {
    cg_worker w;
    int listen_fd;
    int connects; /* on_connect calls with status 0 for a new connection */
    int handouts; /* on_connect calls with status 0 for a pooled one (handing_out) */
    bool handing_out;
    int failures; /* on_connect calls with an error */
    int last_error;
} fixture;

static fixture *fx;

static int setup_with(void **state, const char *backend_extra, const char *top_extra)
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
             "%sbackends:\n  - name: app\n    url: http://127.0.0.1:%u\n    max_idle: 8\n%s"
             "listeners:\n  - name: main\n    port: 8443\n    tls:\n      certificate: s.crt\n"
             "      key: s.key\n      client_ca: ca.crt\n    routes:\n      - path: /\n        backend: app\n",
             top_extra, ntohs(a.sin_port), backend_extra);
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

static int setup(void **state) { return setup_with(state, "", ""); }

/* Two connections in all, one worker; a short wait for a slot. */
static int setup_capped(void **state)
{
    return setup_with(state, "    max_connections: 2\n", "workers: 1\ntimeouts:\n  backend_connect: 300ms\n");
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
    if (fx->handing_out)
        fx->handouts++;
    else
        fx->connects++;
}

static void on_connect_any(cg_backend_conn *bc, int status)
{
    (void)bc;
    if (status == 0) {
        fx->connects++;
    } else {
        fx->failures++;
        fx->last_error = status;
    }
}

/* Acquires for identity: a new connection is connected, an idle one handed
 * out (loop run until on_connect), and a new one's server side accepted into
 * *server_fd. */
static cg_backend_conn *acquire(const char *identity, int *server_fd)
{
    static int owner;
    cg_backend_conn *bc = cg_backend_acquire(&fx->w, 0, identity, false, &owner, on_connect);
    assert_non_null(bc);
    bool pooled = bc->reserved; /* an idle connection, handed out after the next poll */
    int *count = pooled ? &fx->handouts : &fx->connects;
    int before = *count;
    fx->handing_out = pooled;
    if (!bc->connected) {
        for (int i = 0; i < 1000 && *count == before; i++)
            uv_run(&fx->w.loop, pooled ? UV_RUN_NOWAIT : UV_RUN_ONCE);
        assert_int_equal(*count, before + 1);
        assert_true(bc->connected);
        if (server_fd && !pooled)
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

/* Connection-bound authentication (cg_backend_answered): a connection is
 * authenticated once a response to a request that carried a token was not a
 * 401, and only its own identity's next request finds it so (the streams of
 * one HTTP/2 client share it, another client never does). */
static void test_authenticated_once_answered_for_its_identity_only(void **state)
{
    (void)state;
    char a[CG_IDENTITY_MAX], b[CG_IDENTITY_MAX];
    principal_identity(a, '1');
    principal_identity(b, '2');
    int sa = -1;
    cg_backend_conn *ca = acquire(a, &sa);
    cg_backend_answered(ca, true, 401); /* our token refused: not authenticated */
    assert_int_equal(ca->served, 1);
    assert_false(ca->authenticated);
    cg_backend_answered(ca, false, 200); /* no token sent: proves nothing */
    assert_false(ca->authenticated);
    cg_backend_answered(ca, true, 200);
    assert_true(ca->authenticated);
    assert_int_equal(ca->served, 3);
    cg_backend_release(ca, true);
    assert_true(cg_backend_idle_authenticated(&fx->w, 0, a));
    assert_false(cg_backend_idle_authenticated(&fx->w, 0, b));
    assert_ptr_equal(acquire(a, NULL), ca);
    assert_false(cg_backend_idle_authenticated(&fx->w, 0, a)); /* busy now */
    cg_backend_release(ca, false);
    close(sa);
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

/* Bytes the backend sent after a response, or an EOF, not yet reported by
 * the loop when the next request takes the idle connection (its readiness
 * may be queued behind the client event being handled): the connection is
 * not handed out. Right after the loop's next poll (one non-blocking turn),
 * before anything could be written to it, on_connect says CG_BACKEND_ESTALE; the owner releases it (closed) and
 * its next acquire makes a new connection. */
static void test_idle_connection_with_late_bytes_not_reused(void **state)
{
    (void)state;
    static int owner;
    for (int eof = 0; eof < 2; eof++) {
        int s1 = -1, s2 = -1;
        cg_backend_conn *c1 = acquire("cert:abc", &s1);
        assert_true(s1 >= 0);
        cg_backend_release(c1, true);
        assert_int_equal(fx->w.pools[0].nidle, 1);
        if (eof)
            shutdown(s1, SHUT_WR);
        else
            assert_int_equal(write(s1, "HTTP/1.1 200 OK\r\n", 17), 17);
        usleep(20 * 1000); /* loopback: the bytes are in c1's socket now; the loop has not run */
        int failures = fx->failures, connects = fx->connects;
        cg_backend_conn *taken = cg_backend_acquire(&fx->w, 0, "cert:abc", false, &owner, on_connect_any);
        assert_ptr_equal(taken, c1);
        assert_false(taken->connected); /* not handed out yet */
        uv_run(&fx->w.loop, UV_RUN_NOWAIT); /* one poll: the bytes or the EOF, then the hand-out */
        assert_int_equal(fx->connects, connects);
        assert_int_equal(fx->failures, failures + 1);
        assert_int_equal(fx->last_error, CG_BACKEND_ESTALE);
        cg_backend_release(taken, true); /* reusable as far as the owner knows: closed all the same */
        assert_int_equal(fx->w.pools[0].nidle, 0);
        assert_false(cg_backend_idle_authenticated(&fx->w, 0, "cert:abc"));
        cg_backend_conn *c2 = acquire("cert:abc", &s2);
        assert_true(s2 >= 0); /* a new connection, accepted */
        assert_int_equal(fx->connects, connects + 1);
        cg_backend_release(c2, false);
        close(s1);
        close(s2);
    }
}

/* An idle connection given back by its owner before it was handed out (the
 * client went away in the same loop turn) goes back to the pool, connected,
 * and no on_connect runs for the owner that left. */
static void test_idle_connection_given_back_before_hand_out(void **state)
{
    (void)state;
    static int owner;
    int s1 = -1;
    cg_backend_conn *c1 = acquire("cert:abc", &s1);
    cg_backend_release(c1, true);
    int failures = fx->failures, connects = fx->connects, handouts = fx->handouts;
    cg_backend_conn *taken = cg_backend_acquire(&fx->w, 0, "cert:abc", false, &owner, on_connect_any);
    assert_ptr_equal(taken, c1);
    cg_backend_release(taken, true);
    for (int i = 0; i < 5; i++)
        uv_run(&fx->w.loop, UV_RUN_NOWAIT);
    assert_int_equal(fx->failures, failures);
    assert_int_equal(fx->connects, connects);
    assert_int_equal(fx->handouts, handouts);
    assert_int_equal(fx->w.pools[0].nidle, 1);
    assert_true(c1->connected);
    assert_ptr_equal(acquire("cert:abc", NULL), c1);
    cg_backend_release(c1, false);
    close(s1);
}

/* Where the hand-out waits for the loop's next poll. Taken outside a read
 * callback (a timer, an answer that came later): an idle handle keeps that
 * poll from blocking, so the hand-out comes at once even with nothing to
 * read. Taken in a read callback (w->in_read_cb, the poll phase): the
 * check phase of the same loop turn hands it out, no idle handle needed. */
static void on_guard(uv_timer_t *t) { (void)t; }

static void test_hand_out_never_waits_for_a_poll_with_nothing_to_read(void **state)
{
    (void)state;
    static int owner;
    int s1 = -1;
    cg_backend_conn *c1 = acquire("cert:abc", &s1);
    cg_backend_release(c1, true);
    static uv_timer_t guard; /* what a blocking poll would wait for, at worst */
    uv_timer_init(&fx->w.loop, &guard);
    for (int in_read_cb = 0; in_read_cb < 2; in_read_cb++) {
        int handouts = fx->handouts;
        fx->handing_out = true;
        uv_timer_start(&guard, on_guard, 3000, 0);
        fx->w.in_read_cb = in_read_cb;
        cg_backend_conn *taken = cg_backend_acquire(&fx->w, 0, "cert:abc", false, &owner, on_connect);
        fx->w.in_read_cb = false;
        assert_ptr_equal(taken, c1);
        assert_false(taken->connected);
        assert_int_equal(uv_is_active((uv_handle_t *)&taken->hand_out_poll), !in_read_cb);
        uint64_t t0 = uv_hrtime();
        uv_run(&fx->w.loop, in_read_cb ? UV_RUN_NOWAIT : UV_RUN_ONCE);
        assert_true(uv_hrtime() - t0 < 1000 * 1000000ull); /* not the guard's 3 s */
        assert_int_equal(fx->handouts, handouts + 1);
        assert_true(taken->connected);
        assert_false(uv_is_active((uv_handle_t *)&taken->hand_out_poll));
        cg_backend_release(taken, true);
    }
    uv_close((uv_handle_t *)&guard, NULL);
    assert_ptr_equal(acquire("cert:abc", NULL), c1);
    cg_backend_release(c1, false);
    close(s1);
}

/* The cap holds across identities: a third user, with both connections
 * idle, takes the least recently used one's place (that user's connection
 * is closed, never handed over); the pool never holds more than the cap. */
static void test_cap_evicts_least_recently_used_idle(void **state)
{
    (void)state;
    int sa = -1, sb = -1, sc = -1;
    cg_backend_pool *pool = &fx->w.pools[0];
    assert_int_equal(pool->cap, 2);
    cg_backend_conn *ca = acquire("cert:a", &sa);
    cg_backend_release(ca, true);
    cg_backend_conn *cb = acquire("cert:b", &sb);
    cg_backend_release(cb, true);
    assert_int_equal(pool->nopen, 2);
    assert_int_equal(pool->nidle, 2);

    cg_backend_conn *cc = acquire("cert:c", &sc); /* a is the least recently used */
    assert_true(cc->connected);
    assert_int_equal(fx->connects, 3);
    assert_int_equal(pool->nopen, 2);
    assert_int_equal(pool->nidle, 1);
    assert_int_equal(pool->nwaiting, 0);
    /* b's connection is still b's; a's is gone. */
    assert_ptr_equal(pool->idle, cb);
    assert_ptr_equal(acquire("cert:b", NULL), cb);
    assert_int_equal(fx->connects, 3);
    char byte;
    usleep(20 * 1000);
    assert_int_equal(recv(sa, &byte, 1, MSG_DONTWAIT), 0); /* the backend saw a's connection closed */
    cg_backend_release(cb, false);
    cg_backend_release(cc, false);
    assert_int_equal(pool->nopen, 0);
    close(sa);
    close(sb);
    close(sc);
}

/* Every slot busy: the next request waits (no connection made), and gets
 * the first slot freed, whoever freed it; the backend never sees more than
 * the cap. */
static void test_cap_busy_request_waits_for_a_slot(void **state)
{
    (void)state;
    static int owner;
    int sa = -1, sb = -1;
    cg_backend_pool *pool = &fx->w.pools[0];
    cg_backend_conn *ca = acquire("cert:a", &sa);
    cg_backend_conn *cb = acquire("cert:b", &sb);
    assert_int_equal(pool->nopen, 2);

    cg_backend_conn *cc = cg_backend_acquire(&fx->w, 0, "cert:c", false, &owner, on_connect_any);
    cg_backend_conn *cd = cg_backend_acquire(&fx->w, 0, "cert:d", false, &owner, on_connect_any);
    assert_non_null(cc);
    assert_non_null(cd);
    assert_false(cc->connected);
    assert_int_equal(pool->nwaiting, 2);
    for (int i = 0; i < 5; i++)
        uv_run(&fx->w.loop, UV_RUN_NOWAIT);
    assert_int_equal(fx->connects, 2);
    assert_int_equal(pool->nopen, 2);

    /* a's request ends, its connection reusable: it is closed for c, the
     * oldest waiter (an idle connection would hold the slot). */
    cg_backend_release(ca, true);
    assert_int_equal(pool->nidle, 0);
    assert_int_equal(pool->nwaiting, 1);
    for (int i = 0; i < 1000 && fx->connects < 3; i++)
        uv_run(&fx->w.loop, UV_RUN_ONCE);
    assert_int_equal(fx->connects, 3);
    assert_true(cc->connected);
    assert_false(cd->connected);
    assert_int_equal(pool->nopen, 2);

    /* d gives up (its client left): its place in line is gone, and a
     * freed slot stays free. */
    cg_backend_release(cd, false);
    assert_int_equal(pool->nwaiting, 0);
    cg_backend_release(cb, false);
    assert_int_equal(pool->nopen, 1);
    cg_backend_release(cc, false);
    assert_int_equal(pool->nopen, 0);
    assert_int_equal(fx->failures, 0);
    close(sa);
    close(sb);
}

/* No slot frees within timeouts.backend_connect: the waiter is told
 * UV_EBUSY, and nothing was connected for it. */
static void test_cap_wait_is_bounded(void **state)
{
    (void)state;
    static int owner;
    int sa = -1, sb = -1;
    cg_backend_pool *pool = &fx->w.pools[0];
    cg_backend_conn *ca = acquire("cert:a", &sa);
    cg_backend_conn *cb = acquire("cert:b", &sb);
    cg_backend_conn *cc = cg_backend_acquire(&fx->w, 0, "cert:c", false, &owner, on_connect_any);
    uint64_t t0 = uv_now(&fx->w.loop);
    for (int i = 0; i < 1000 && fx->failures == 0; i++)
        uv_run(&fx->w.loop, UV_RUN_ONCE);
    assert_int_equal(fx->failures, 1);
    assert_int_equal(fx->last_error, UV_EBUSY);
    assert_true(uv_now(&fx->w.loop) - t0 >= 300);
    assert_int_equal(pool->nwaiting, 0);
    assert_int_equal(pool->nopen, 2);
    assert_non_null(strstr(cg_backend_strerror(UV_EBUSY), "max_connections"));
    cg_backend_release(cc, false);
    cg_backend_release(ca, false);
    cg_backend_release(cb, false);
    assert_int_equal(pool->nopen, 0);
    close(sa);
    close(sb);
}

/* The pools rebuilt (reload) while a request waits: it is told, on the
 * next loop turn, not left waiting on a pool that is gone. */
static void test_cap_waiter_told_when_pools_rebuilt(void **state)
{
    (void)state;
    static int owner;
    int sa = -1, sb = -1;
    cg_backend_conn *ca = acquire("cert:a", &sa);
    cg_backend_conn *cb = acquire("cert:b", &sb);
    cg_backend_conn *cc = cg_backend_acquire(&fx->w, 0, "cert:c", false, &owner, on_connect_any);
    cg_backend_pools_reset(&fx->w);
    for (int i = 0; i < 1000 && fx->failures == 0; i++)
        uv_run(&fx->w.loop, UV_RUN_ONCE);
    assert_int_equal(fx->failures, 1);
    assert_int_equal(fx->last_error, UV_ECANCELED);
    cg_backend_release(cc, false);
    cg_backend_release(ca, true); /* an old configuration's: closed, counted nowhere */
    cg_backend_release(cb, false);
    assert_int_equal(fx->w.pools[0].nopen, 0);
    assert_int_equal(fx->w.pools[0].nidle, 0);
    close(sa);
    close(sb);
}

/* The connection's one timer, moved lazily (arm_timer): a later deadline
 * leaves the libuv timer where it is and waits for the rest when it fires,
 * an earlier one moves it, and a disarmed deadline never runs. */
static int timer_fired;
static uint64_t timer_fired_at;

static void on_test_timer(uv_timer_t *t)
{
    (void)t;
    timer_fired++;
    timer_fired_at = uv_now(&fx->w.loop);
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* Runs the loop for ms of its time (a timer of its own wakes it at the end). */
static void run_for(uint64_t ms)
{
    uint64_t end = uv_now(&fx->w.loop) + ms;
    uv_timer_t tick;
    uv_timer_init(&fx->w.loop, &tick);
    uv_timer_start(&tick, on_tick, ms, 0);
    while (uv_now(&fx->w.loop) < end)
        uv_run(&fx->w.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&fx->w.loop, UV_RUN_NOWAIT);
}

static int setup_timed(void **state) { return setup_with(state, "", "timeouts:\n  backend_idle: 200ms\n"); }

static void test_timer_later_deadline_waits_for_the_rest(void **state)
{
    (void)state;
    int s = -1;
    cg_backend_pool *pool = &fx->w.pools[0];
    cg_backend_conn *bc = acquire("cert:a", &s);
    cg_backend_release(bc, true); /* idle: closes in 200 ms unless taken */
    assert_int_equal(pool->nidle, 1);
    bc = acquire("cert:a", NULL);
    assert_int_equal(pool->nidle, 0);
    timer_fired = 0;
    uint64_t t0 = uv_now(&fx->w.loop);
    cg_backend_set_timer(bc, 600, on_test_timer); /* later than the idle deadline still pending */
    run_for(400);
    assert_int_equal(timer_fired, 0);           /* neither the idle close nor this, at 200 ms */
    assert_false(bc->closing);
    assert_int_equal(pool->nopen, 1);
    for (int i = 0; i < 1000 && !timer_fired; i++)
        uv_run(&fx->w.loop, UV_RUN_ONCE);
    assert_int_equal(timer_fired, 1);
    assert_true(timer_fired_at - t0 >= 600);
    cg_backend_release(bc, false);
    close(s);
}

static void test_timer_earlier_deadline_moves_it(void **state)
{
    (void)state;
    int s = -1;
    cg_backend_pool *pool = &fx->w.pools[0];
    cg_backend_conn *bc = acquire("cert:a", &s);
    cg_backend_set_timer(bc, 5000, on_test_timer);
    uint64_t t0 = uv_now(&fx->w.loop);
    cg_backend_release(bc, true); /* the idle deadline, 200 ms, is earlier */
    assert_int_equal(pool->nidle, 1);
    for (int i = 0; i < 1000 && pool->nopen > 0; i++)
        uv_run(&fx->w.loop, UV_RUN_ONCE);
    assert_int_equal(pool->nopen, 0);
    assert_int_equal(pool->nidle, 0);
    uint64_t took = uv_now(&fx->w.loop) - t0;
    assert_true(took >= 200 && took < 2000);
    close(s);
}

static void test_timer_disarmed_never_runs(void **state)
{
    (void)state;
    int s = -1;
    cg_backend_conn *bc = acquire("cert:a", &s);
    timer_fired = 0;
    cg_backend_set_timer(bc, 50, on_test_timer);
    cg_backend_set_timer(bc, 0, NULL);
    run_for(150);
    assert_int_equal(timer_fired, 0);
    cg_backend_set_timer(bc, 50, on_test_timer); /* armed again: runs once */
    run_for(150);
    assert_int_equal(timer_fired, 1);
    cg_backend_release(bc, false);
    close(s);
}

/* The process-wide number split across workers, each at least one. */
static void test_worker_share_of_max_connections(void **state)
{
    (void)state;
    cg_config *cfg = fx->w.cfg;
    uint32_t workers = cfg->workers, max = cfg->backends[0].max_connections;
    cfg->workers = 3;
    cfg->backends[0].max_connections = 8;
    size_t total = 0;
    for (unsigned id = 0; id < 3; id++) {
        fx->w.id = id;
        total += cg_backend_worker_cap(&fx->w, 0);
    }
    assert_int_equal(total, 8);
    fx->w.id = 0;
    assert_int_equal(cg_backend_worker_cap(&fx->w, 0), 3);
    cfg->backends[0].max_connections = 2;
    fx->w.id = 2;
    assert_int_equal(cg_backend_worker_cap(&fx->w, 0), 1); /* never 0 */
    fx->w.id = 0;
    cfg->workers = workers;
    cfg->backends[0].max_connections = max;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identities_compared_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authenticated_once_answered_for_its_identity_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_that_does_not_fit_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_with_late_bytes_not_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_given_back_before_hand_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hand_out_never_waits_for_a_poll_with_nothing_to_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_evicts_least_recently_used_idle, setup_capped, teardown),
        cmocka_unit_test_setup_teardown(test_cap_busy_request_waits_for_a_slot, setup_capped, teardown),
        cmocka_unit_test_setup_teardown(test_cap_wait_is_bounded, setup_capped, teardown),
        cmocka_unit_test_setup_teardown(test_cap_waiter_told_when_pools_rebuilt, setup_capped, teardown),
        cmocka_unit_test_setup_teardown(test_worker_share_of_max_connections, setup_capped, teardown),
        cmocka_unit_test_setup_teardown(test_timer_later_deadline_waits_for_the_rest, setup_timed, teardown),
        cmocka_unit_test_setup_teardown(test_timer_earlier_deadline_moves_it, setup_timed, teardown),
        cmocka_unit_test_setup_teardown(test_timer_disarmed_never_runs, setup_timed, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
