#include "doctor_tls.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected socket to b, or -1 with why. */
static int dial(const cg_backend_cfg *b, char *why, size_t cap)
{
    char port[8];
    snprintf(port, sizeof port, "%u", b->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo(b->host, port, &hints, &res);
    if (rc != 0) {
        cg_fmt_into(why, cap, "%s does not resolve: %s", b->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        cg_fmt_into(why, cap, "cannot connect to %s port %u: %s", b->host, b->port, strerror(err));
    return fd;
}

static bool send_all(int fd, cg_tls_client_conn *tc)
{
    cg_buf out = { 0 };
    cg_tls_client_swap_out(tc, &out);
    size_t off = 0;
    while (off < out.len) {
        ssize_t n = send(fd, out.data + off, out.len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            cg_buf_free(&out);
            return false;
        }
        off += (size_t)n;
    }
    out.len = 0;
    cg_tls_client_swap_out(tc, &out); /* the buffer goes back, emptied */
    cg_buf_free(&out);
    return true;
}

static bool handshake(int fd, cg_tls_client_conn *tc, unsigned timeout_ms, char *text, size_t cap)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        cg_tls_status st = cg_tls_client_handshake(tc);
        if (!send_all(fd, tc)) {
            cg_fmt_into(text, cap, "the connection failed during the TLS handshake [backend_tls_handshake]");
            return false;
        }
        if (st == CG_TLS_OK)
            return true;
        if (st != CG_TLS_WANT_READ) {
            char why[768];
            cg_tls_client_failure f = cg_tls_client_failure_of(tc, why, sizeof why);
            cg_fmt_into(text, cap, "%s [%s]", why, cg_tls_client_failure_code(f));
            return false;
        }
        long long left = deadline - now_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            cg_fmt_into(text, cap, "no TLS answer within %u ms [backend_tls_handshake]", timeout_ms);
            return false;
        }
        size_t room = 0;
        unsigned char *in = cg_tls_client_in_space(tc, &room);
        ssize_t n = in ? recv(fd, in, room, 0) : -1;
        if (n <= 0) {
            cg_fmt_into(text, cap, "the backend closed the connection during the TLS handshake (is it an https "
                        "port?) [backend_tls_handshake]");
            return false;
        }
        cg_tls_client_in_commit(tc, (size_t)n);
    }
}

bool cg_doctor_tls_check(const cg_backend_cfg *b, unsigned timeout_ms, char *text, size_t cap)
{
    cg_diag d;
    cg_diag_init(&d);
    cg_tls_client *t = cg_tls_client_new(b, 1, "-", &d);
    if (!t) {
        cg_fmt_into(text, cap, "%s", d.count ? d.items[0].message : "the TLS client could not be set up");
        cg_diag_free(&d);
        return false;
    }
    cg_diag_free(&d);
    bool ok = false;
    cg_tls_client_conn *tc = cg_tls_client_conn_new(t, 0);
    int fd = tc ? dial(b, text, cap) : -1;
    if (!tc)
        cg_fmt_into(text, cap, "out of memory");
    if (fd >= 0 && handshake(fd, tc, timeout_ms, text, cap)) {
        ok = true;
        cg_fmt_into(text, cap, "%s: %s %s, the certificate chains to %s and names %s", b->url,
                    cg_tls_client_version(tc), cg_tls_client_cipher(tc),
                    b->tls_ca_system ? "a system CA" : b->tls_ca_file,
                    b->tls_server_name ? b->tls_server_name : b->host);
        cg_tls_client_close_notify(tc);
        (void)send_all(fd, tc);
    }
    if (fd >= 0)
        close(fd);
    cg_tls_client_conn_free(tc);
    cg_tls_client_free(t);
    return ok;
}
