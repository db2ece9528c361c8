/* Unit tests for src/server/notify.c: $NOTIFY_SOCKET addresses, and real datagrams
 * received on an abstract and a path socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/notify.h"

static void test_addresses(void **state)
{
    (void)state;
    struct sockaddr_un a;
    unsigned len = 0;
    char err[300];
    assert_true(cg_notify_parse_address("/run/systemd/notify", &a, &len, err, sizeof err));
    assert_string_equal(a.sun_path, "/run/systemd/notify");
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);

    assert_true(cg_notify_parse_address("@cg-test", &a, &len, err, sizeof err));
    assert_int_equal(a.sun_path[0], '\0');
    assert_memory_equal(a.sun_path + 1, "cg-test", 7);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 8); /* no terminator */

    assert_false(cg_notify_parse_address("relative", &a, &len, err, sizeof err));
    assert_non_null(strstr(err, "neither a path"));
    assert_false(cg_notify_parse_address("@", &a, &len, err, sizeof err));
    assert_false(cg_notify_parse_address("", &a, &len, err, sizeof err));
    assert_false(cg_notify_parse_address("vsock:2:1234", &a, &len, err, sizeof err));

    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    assert_false(cg_notify_parse_address(longp, &a, &len, err, sizeof err));
    assert_non_null(strstr(err, "fit an AF_UNIX address"));
    /* Exactly the room there is: 107 bytes and the NUL for a path, 108 for a name. */
    longp[sizeof a.sun_path - 1] = '\0';
    assert_true(cg_notify_parse_address(longp, &a, &len, err, sizeof err));
    longp[0] = '@';
    longp[sizeof a.sun_path - 1] = 'a';
    longp[sizeof a.sun_path] = '\0';
    assert_true(cg_notify_parse_address(longp, &a, &len, err, sizeof err));
    assert_int_equal(len, sizeof a);
}

static void test_status_text_is_one_line(void **state)
{
    (void)state;
    char out[16]; /* 15 characters and the NUL */
    cg_notify_status_text(out, sizeof out, "a\nb\rc\x7f" "d and more text");
    assert_string_equal(out, "a b c d and mor");
}

static int receiver(const char *name, bool abstract)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    socklen_t len;
    if (abstract) {
        memcpy(a.sun_path + 1, name, strlen(name));
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    } else {
        snprintf(a.sun_path, sizeof a.sun_path, "%s", name);
        unlink(name);
        len = sizeof a;
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char buf[1100];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

/* cg_notify_init is once per process: one test does the whole sequence. */
static void test_datagrams(void **state)
{
    (void)state;
    char name[64], path[128], err[300], want[200];
    snprintf(name, sizeof name, "cg-unit-notify-%ld", (long)getpid());
    int fd = receiver(name, true);
    char env[80];
    snprintf(env, sizeof env, "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);
    setenv("WATCHDOG_USEC", "30000000", 1);
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_true(cg_notify_init(err, sizeof err));
    assert_true(cg_notify_enabled());
    assert_int_equal(cg_notify_watchdog_usec(), 30000000);
    /* Removed: nothing this process starts answers for it. */
    assert_null(getenv("NOTIFY_SOCKET"));
    assert_null(getenv("WATCHDOG_USEC"));
    assert_null(getenv("WATCHDOG_PID"));

    cg_notify_ready("serving\nsecond line");
    snprintf(want, sizeof want, "READY=1\nMAINPID=%ld\nSTATUS=serving second line\n", (long)getpid());
    expect_datagram(fd, want);
    cg_notify_watchdog();
    expect_datagram(fd, "WATCHDOG=1\n");
    cg_notify_stopping("bye");
    expect_datagram(fd, "STOPPING=1\nSTATUS=bye\n");
    cg_notify_reloading();
    char buf[200];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_true(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
    assert_true(strtoull(buf + 27, NULL, 10) > 0);
    close(fd);

    /* A receiver that went away: the send fails at once, never blocks. */
    assert_false(cg_notify_send("WATCHDOG=1\n"));

    /* Again, for a path socket and a watchdog meant for another process. */
    snprintf(path, sizeof path, "/tmp/cg-unit-notify-%ld.sock", (long)getpid());
    fd = receiver(path, false);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    assert_true(cg_notify_init(err, sizeof err));
    assert_int_equal(cg_notify_watchdog_usec(), 0);
    assert_true(cg_notify_send("STATUS=%s\n", "on a path"));
    expect_datagram(fd, "STATUS=on a path\n");
    close(fd);
    unlink(path);

    /* Garbage: notifications off, and said so. */
    setenv("NOTIFY_SOCKET", "notify", 1);
    setenv("WATCHDOG_USEC", "soon", 1);
    assert_false(cg_notify_init(err, sizeof err));
    assert_false(cg_notify_enabled());
    assert_int_equal(cg_notify_watchdog_usec(), 0);
    assert_false(cg_notify_send("READY=1\n"));

    /* Unset: off, silently. */
    assert_true(cg_notify_init(err, sizeof err));
    assert_false(cg_notify_enabled());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_status_text_is_one_line),
        cmocka_unit_test(test_datagrams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
