/* Listening sockets (listeners.h): bound here, or taken from a supervisor
 * (listen_fds.h), one descriptor per worker and listener; and the end of an
 * overlapping restart (`certgate run --takeover`).
 */
#include "listeners.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "base/base.h"
#include "pidfile.h"

/* SO_REUSEPORT always: each worker has its own socket, and a successor
 * (`certgate run --takeover`) binds beside a running certgate. The kernel
 * lets only sockets of the same user share the port. */
static int open_listener(const cg_listener_cfg *l, char *err, size_t errcap)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    socklen_t alen;
    if (uv_ip4_addr(l->address, l->port, &addr.in4) == 0) {
        alen = sizeof addr.in4;
    } else if (uv_ip6_addr(l->address, l->port, &addr.in6) == 0) {
        alen = sizeof addr.in6;
    } else {
        snprintf(err, errcap, "\"%s\" is not a numeric address", l->address);
        return -1;
    }
    int fd = socket(addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (addr.sa.sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, &addr.sa, alen) != 0 || listen(fd, 511) != 0) {
        snprintf(err, errcap, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

bool cg_listeners_open(const cg_config *cfg, unsigned nworkers, cg_listen_fds *passed, bool takeover, int *fds)
{
    char err[300];
    for (size_t li = 0; li < cfg->nlisteners; li++) {
        const cg_listener_cfg *l = &cfg->listeners[li];
        int shared = cg_listen_fds_find(passed, l->address, l->port);
        for (unsigned wi = 0; wi < nworkers; wi++) {
            /* A passed socket: every worker accepts from it (its own descriptor). */
            int fd = shared >= 0 ? fcntl(shared, F_DUPFD_CLOEXEC, 0) : open_listener(l, err, sizeof err);
            if (fd < 0) {
                if (shared >= 0)
                    snprintf(err, sizeof err, "dup: %s", strerror(errno));
                else if (takeover && strstr(err, "in use"))
                    strncat(err, " (the running certgate does not share its port: it was started by a version "
                            "without SO_REUSEPORT; stop it, then start this one)", sizeof err - strlen(err) - 1);
                char addr[300];
                snprintf(addr, sizeof addr, "%s:%u", l->address, l->port);
                cg_log_fields(CG_LOG_ERROR, "listen_failed", CG_LF_STR("listener", l->name),
                              CG_LF_STR("address", addr), CG_LF_STR("detail", err));
                fprintf(stderr, "certgate: listener \"%s\": cannot listen on %s:%u: %s\n", l->name, l->address,
                        l->port, err);
                return false;
            }
            fds[wi * cfg->nlisteners + li] = fd;
        }
        if (shared >= 0) {
            close(shared); /* the workers' copies keep it open; the supervisor has its own */
            cg_log(CG_LOG_INFO, "listen_fds", "listener=%s address=%s:%u detail=\"serving the socket passed by "
                   "the supervisor (LISTEN_FDS)\"", l->name, l->address, l->port);
        }
    }
    size_t unused = cg_listen_fds_close_unused(passed);
    if (unused)
        cg_log(CG_LOG_WARN, "listen_fds", "unused=%zu detail=\"passed sockets bound to no listener's address and "
               "port: closed\"", unused);
    return true;
}

/* run --takeover, once this process serves: the predecessor is told to
 * stop (it finishes what it has, including its accept queues). */
void cg_listeners_stop_predecessor(pid_t predecessor)
{
    char what[600];
    if (cg_pidfile_is_certgate(predecessor, what, sizeof what) != 1) {
        cg_log(CG_LOG_WARN, "takeover", "predecessor=%ld detail=\"no longer a running certgate: nothing to stop\"",
               (long)predecessor);
        return;
    }
    if (kill(predecessor, SIGTERM) != 0) {
        cg_log(CG_LOG_ERROR, "takeover", "predecessor=%ld detail=\"cannot signal it (%s): stop it yourself "
               "(kill -TERM %ld); both serve until then\"", (long)predecessor, strerror(errno),
               (long)predecessor);
        return;
    }
    cg_log(CG_LOG_INFO, "takeover", "predecessor=%ld detail=\"serving; the predecessor was told to stop (SIGTERM): "
           "it drains its connections\"", (long)predecessor);
}
