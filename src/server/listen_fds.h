/* Listening sockets handed over at start: systemd's socket activation
 * protocol (sd_listen_fds(3)), written out without libsystemd. A supervisor
 * (systemd's certgate.socket, or any other) opens the sockets, keeps them
 * across restarts and passes them as file descriptors 3, 4, ... with
 * $LISTEN_FDS (how many) and $LISTEN_PID (for which process). Connections
 * made while no certgate runs wait in the socket's queue instead of being
 * refused, and an old and a new certgate can serve the same socket while
 * the old one drains.
 *
 * Each passed socket serves the listener whose address and port it is bound
 * to; a listener without one opens its own sockets as usual.
 */
#ifndef CG_LISTEN_FDS_H
#define CG_LISTEN_FDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CG_LISTEN_FDS_START 3
#define CG_LISTEN_FDS_MAX 64

typedef struct cg_listen_fds {
    int fd[CG_LISTEN_FDS_MAX];
    bool used[CG_LISTEN_FDS_MAX];
    size_t n;
} cg_listen_fds;

/* Reads $LISTEN_FDS and $LISTEN_PID and removes them (and $LISTEN_FDNAMES)
 * from the environment; the sockets get FD_CLOEXEC. None when the variables
 * are absent or $LISTEN_PID names another process. false with err set when
 * they are set for this process but wrong (too many, not a listening TCP
 * socket); out then holds nothing. Call before any thread starts. */
bool cg_listen_fds_take(cg_listen_fds *out, char *err, size_t cap);

/* The passed socket bound to address (numeric) and port, marked used; -1
 * when none is. */
int cg_listen_fds_find(cg_listen_fds *fds, const char *address, uint16_t port);

/* Closes the sockets no listener used; returns how many. */
size_t cg_listen_fds_close_unused(cg_listen_fds *fds);

#endif
