/* Unit tests for src/server/pidfile.c: the pid file, its status file, and the
 * check that a pid is a certgate (this test binary is not one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/pidfile.h"

#include "fixtures.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return fx_tmpdir(dir, sizeof dir, "pidfile") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return fx_rm_rf(dir);
}

static void test_write_read_remove(void **state)
{
    (void)state;
    char path[128], err[300], status[160];
    snprintf(path, sizeof path, "%s/run/certgate.pid", dir); /* run/ is created */
    assert_int_equal(cg_pidfile_read(path, err, sizeof err), 0);
    assert_true(cg_pidfile_write(path, (uid_t)-1, (gid_t)-1, err, sizeof err));
    assert_int_equal(cg_pidfile_read(path, err, sizeof err), getpid());
    bool stale = true;
    assert_true(cg_pidfile_check(path, &stale, err, sizeof err)); /* our own pid */
    assert_false(stale);

    cg_pidfile_status_path(path, status, sizeof status);
    assert_non_null(strstr(status, "/run/certgate.status"));
    cg_pidfile_status_path("/x/y", status, sizeof status);
    assert_string_equal(status, "/x/y.status");

    cg_pidfile_status st;
    assert_false(cg_pidfile_read_status(path, &st));
    assert_true(cg_pidfile_write_status(path, 3, 1, false, "t.yaml:2:1: error: unknown key \"x\" = \\ y"));
    assert_true(cg_pidfile_read_status(path, &st));
    assert_int_equal(st.pid, getpid());
    assert_int_equal(st.reloads, 3);
    assert_int_equal(st.failed, 1);
    assert_false(st.ok);
    assert_string_equal(st.detail, "t.yaml:2:1: error: unknown key \"x\" = \\ y");
    assert_true(cg_pidfile_write_status(path, 4, 1, true, "applied"));
    assert_true(cg_pidfile_read_status(path, &st));
    assert_true(st.ok);
    assert_int_equal(st.reloads, 4);

    assert_true(cg_pidfile_remove(path, err, sizeof err));
    assert_int_equal(access(path, F_OK), -1);
    cg_pidfile_status_path(path, status, sizeof status);
    assert_int_equal(access(status, F_OK), -1);

    /* Another process's pid file is not ours to remove. */
    fx_write_text(path, "1\n");
    assert_true(cg_pidfile_remove(path, err, sizeof err));
    assert_int_equal(access(path, F_OK), 0);
}

static void test_garbage_and_stale(void **state)
{
    (void)state;
    char path[128], err[300];
    snprintf(path, sizeof path, "%s/bad.pid", dir);
    const char *bad[] = { "", "abc\n", "-5\n", "0\n", "12x\n", "99999999999999999999\n" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fx_write_text(path, bad[i]);
        assert_int_equal(cg_pidfile_read(path, err, sizeof err), -1);
        assert_non_null(strstr(err, "holds no process id"));
        bool stale = false;
        assert_true(cg_pidfile_check(path, &stale, err, sizeof err));
        assert_true(stale);
    }
    /* A live process that is not certgate: stale. */
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    char text[32];
    snprintf(text, sizeof text, "%ld\n", (long)child);
    fx_write_text(path, text);
    bool stale = false;
    assert_true(cg_pidfile_check(path, &stale, err, sizeof err));
    assert_true(stale);
    char what[600];
    assert_int_equal(cg_pidfile_is_certgate(child, what, sizeof what), 0);
    assert_non_null(strstr(what, "test_pidfile"));
    assert_non_null(strstr(what, "not certgate"));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    /* Gone. */
    assert_int_equal(cg_pidfile_is_certgate(child, what, sizeof what), -1);
    assert_true(cg_pidfile_check(path, &stale, err, sizeof err));
    assert_true(stale);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_remove),
        cmocka_unit_test(test_garbage_and_stale),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
