#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;
static uint64_t watchdog_usec;
static bool send_failure_logged;

bool cg_notify_parse_address(const char *value, void *out, unsigned *len_out, char *err, size_t errcap)
{
    struct sockaddr_un *a = out;
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(value);
    if (n < 2 || (value[0] != '/' && value[0] != '@')) {
        snprintf(err, errcap, "NOTIFY_SOCKET=\"%.100s\" is neither a path (/...) nor an abstract name (@...)",
                 value);
        return false;
    }
    /* A path needs its terminating NUL inside sun_path; an abstract name's
     * length is given by the address length and has none. */
    if (n + (value[0] == '/') > sizeof a->sun_path) {
        snprintf(err, errcap, "NOTIFY_SOCKET is %zu bytes long (at most %zu fit an AF_UNIX address)", n,
                 sizeof a->sun_path - (value[0] == '/'));
        return false;
    }
    memcpy(a->sun_path, value, n);
    if (value[0] == '@')
        a->sun_path[0] = '\0';
    *len_out = (unsigned)(offsetof(struct sockaddr_un, sun_path) + n + (value[0] == '/'));
    return true;
}

/* Whole decimal number without sign or junk. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

bool cg_notify_init(char *err, size_t errcap)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    const char *wd = getenv("WATCHDOG_USEC");
    const char *wd_pid = getenv("WATCHDOG_PID");
    bool ok = true;
    uint64_t usec = 0, pid = 0;
    if (notify_fd >= 0)
        close(notify_fd); /* called again (tests): start afresh */
    notify_fd = -1;
    watchdog_usec = 0;
    if (parse_u64(wd, &usec) && usec > 0 &&
        (!wd_pid || !*wd_pid || (parse_u64(wd_pid, &pid) && pid == (uint64_t)getpid())))
        watchdog_usec = usec;
    if (sock && *sock) {
        unsigned len = 0;
        ok = cg_notify_parse_address(sock, &notify_addr, &len, err, errcap);
        if (ok) {
            notify_addrlen = (socklen_t)len;
            notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (notify_fd < 0) {
                snprintf(err, errcap, "cannot create the notification socket: %s", strerror(errno));
                ok = false;
            }
        }
    }
    if (notify_fd < 0)
        watchdog_usec = 0; /* pings would go nowhere */
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    return ok;
}

bool cg_notify_enabled(void)
{
    return notify_fd >= 0;
}

uint64_t cg_notify_watchdog_usec(void)
{
    return watchdog_usec;
}

bool cg_notify_send(const char *fmt, ...)
{
    if (notify_fd < 0)
        return false;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    /* sendto each time rather than connect once: the manager may recreate
     * its socket (daemon-reexec) and a connected socket would then be dead. */
    ssize_t r;
    do
        r = sendto(notify_fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&notify_addr,
                   notify_addrlen);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (!send_failure_logged) {
            send_failure_logged = true;
            cg_log(CG_LOG_WARN, "notify_failed", "detail=\"cannot send to NOTIFY_SOCKET: %s (logged once)\"",
                   strerror(errno));
        }
        return false;
    }
    return true;
}

void cg_notify_status_text(char *out, size_t cap, const char *text)
{
    size_t i = 0;
    for (; text[i] && i + 1 < cap; i++)
        out[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? ' ' : text[i];
    if (cap)
        out[i] = '\0';
}

void cg_notify_ready(const char *status)
{
    char line[600];
    cg_notify_status_text(line, sizeof line, status);
    cg_notify_send("READY=1\nMAINPID=%ld\nSTATUS=%s\n", (long)getpid(), line);
}

void cg_notify_reloading(void)
{
    /* systemd (Type=notify-reload, 253+) wants the time the reload began,
     * to tell this reload from an older one. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    cg_notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration\n",
                   (unsigned long long)usec);
}

void cg_notify_stopping(const char *status)
{
    char line[600];
    cg_notify_status_text(line, sizeof line, status);
    cg_notify_send("STOPPING=1\nSTATUS=%s\n", line);
}

void cg_notify_watchdog(void)
{
    cg_notify_send("WATCHDOG=1\n");
}
