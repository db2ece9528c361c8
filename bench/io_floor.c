/* cg-io-floor: the socket I/O floor of a keep-alive proxy (bench/README.md).
 *
 *     cg-io-floor LISTEN-PORT BACKEND-PORT
 *
 * A forwarder that does nothing but the system calls a proxy cannot avoid:
 * one thread, one epoll loop, one backend connection per client connection,
 * every byte read from one side written to the other, nothing parsed,
 * nothing encrypted. Per keep-alive request that is what certgate does at
 * the least (a read and a write on each side, epoll_wait shared by the
 * connections that are ready at once), so its CPU time per request is the
 * part of a proxy's that is the kernel's TCP work (loopback delivery, the
 * peer's wake-up) and not the proxy's own: bench/run prints certgate's and
 * nginx's keep-alive CPU against it. Listens on 127.0.0.1 only; runs until
 * killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
#define BUF_CAP 65536

/* One side of a pair: what was read from it and not yet written to its peer
 * waits here, and reading from it stops until the peer takes it. */
typedef struct side {
    int peer;
    size_t pending, off;
    char *buf;
} side;

static side *sides[MAX_FDS];
static int ep;

static int connect_backend(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void watch(int fd, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    epoll_ctl(ep, op, fd, &ev);
}

/* A pair ends (or could not be set up): whatever of it exists goes, each
 * descriptor closed once. */
static void abandon(int c, int b)
{
    int fds[2] = { c, b };
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0)
            continue;
        if (fds[i] < MAX_FDS && sides[fds[i]]) {
            free(sides[fds[i]]->buf);
            free(sides[fds[i]]);
            sides[fds[i]] = NULL;
        }
        close(fds[i]);
    }
}

static void drop_pair(int fd) { abandon(fd, sides[fd]->peer); }

static bool add_side(int fd, int peer)
{
    if (!(sides[fd] = calloc(1, sizeof *sides[fd])) || !(sides[fd]->buf = malloc(BUF_CAP)))
        return false; /* fd < MAX_FDS: the caller's check */
    sides[fd]->peer = peer;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    return true;
}

/* Writes what fd read and its peer has not taken; true when none is left. */
static bool flush(int fd)
{
    side *s = sides[fd];
    while (s->pending) {
        ssize_t w = send(s->peer, s->buf + s->off, s->pending, MSG_NOSIGNAL);
        if (w < 0)
            return false;
        s->off += (size_t)w;
        s->pending -= (size_t)w;
    }
    s->off = 0;
    return true;
}

static void on_readable(int fd)
{
    side *s = sides[fd];
    ssize_t r = read(fd, s->buf, BUF_CAP);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        drop_pair(fd);
        return;
    }
    if (r < 0)
        return;
    s->pending = (size_t)r;
    if (flush(fd))
        return;
    if (errno != EAGAIN) {
        drop_pair(fd);
        return;
    }
    /* The peer is full: stop reading here, wait until it can take more. */
    watch(fd, 0, EPOLL_CTL_MOD);
    watch(s->peer, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
}

static void on_writable(int fd)
{
    int src = sides[fd]->peer;
    if (!flush(src)) {
        if (errno != EAGAIN)
            drop_pair(fd);
        return;
    }
    watch(fd, EPOLLIN, EPOLL_CTL_MOD);
    watch(src, EPOLLIN, EPOLL_CTL_MOD);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cg-io-floor LISTEN-PORT BACKEND-PORT\n");
        return 2;
    }
    int listen_port = atoi(argv[1]), backend_port = atoi(argv[2]), one = 1;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1024) != 0) {
        perror("cg-io-floor: listen");
        return 1;
    }
    ep = epoll_create1(0);
    watch(l, EPOLLIN, EPOLL_CTL_ADD);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    /* Connected before the pair is watched: the floor is the
                     * keep-alive traffic, not connection set-up. */
                    int b = c < MAX_FDS ? connect_backend(backend_port) : -1;
                    if (b < 0 || b >= MAX_FDS || !add_side(c, b) || !add_side(b, c))
                        abandon(c, b);
                }
                continue;
            }
            if (!sides[fd])
                continue;
            if (evs[i].events & EPOLLOUT)
                on_writable(fd);
            else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(fd);
        }
    }
}
