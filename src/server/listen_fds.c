#include "listen_fds.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool parse_ulong(const char *s, unsigned long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

bool cg_listen_fds_take(cg_listen_fds *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
    unsigned long pid = 0, n = 0;
    bool ours = pid_s && n_s && parse_ulong(pid_s, &pid) && pid == (unsigned long)getpid();
    bool set = n_s != NULL;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!set || !ours)
        return true; /* none, or meant for another process (a parent's) */
    if (!parse_ulong(n_s, &n) || n > CG_LISTEN_FDS_MAX) {
        snprintf(err, cap, "LISTEN_FDS=%s: expected a number of sockets up to %d", n_s, CG_LISTEN_FDS_MAX);
        return false;
    }
    for (unsigned long i = 0; i < n; i++) {
        int fd = CG_LISTEN_FDS_START + (int)i;
        int type = 0, listening = 0;
        socklen_t len = sizeof type;
        struct sockaddr_storage ss;
        socklen_t slen = sizeof ss;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
            (len = sizeof listening, getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) != 0 ||
            getsockname(fd, (struct sockaddr *)&ss, &slen) != 0 || type != SOCK_STREAM || !listening ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
            snprintf(err, cap, "LISTEN_FDS: file descriptor %d is not a listening TCP socket (certgate serves "
                     "TCP only: ListenStream= with an address and port)", fd);
            return false;
        }
        out->fd[out->n++] = fd;
    }
    return true;
}

static bool bound_to(int fd, const char *address, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    unsigned char want[16];
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        return ntohs(in->sin_port) == port && inet_pton(AF_INET, address, want) == 1 &&
               memcmp(&in->sin_addr, want, 4) == 0;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        return ntohs(in6->sin6_port) == port && inet_pton(AF_INET6, address, want) == 1 &&
               memcmp(&in6->sin6_addr, want, 16) == 0;
    }
    return false;
}

int cg_listen_fds_find(cg_listen_fds *fds, const char *address, uint16_t port)
{
    for (size_t i = 0; i < fds->n; i++) {
        if (!fds->used[i] && bound_to(fds->fd[i], address, port)) {
            fds->used[i] = true;
            return fds->fd[i];
        }
    }
    return -1;
}

size_t cg_listen_fds_close_unused(cg_listen_fds *fds)
{
    size_t closed = 0;
    for (size_t i = 0; i < fds->n; i++) {
        if (!fds->used[i]) {
            close(fds->fd[i]);
            fds->used[i] = true;
            closed++;
        }
    }
    return closed;
}
