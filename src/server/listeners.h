/* Listening sockets: one per worker and listener, bound with SO_REUSEPORT
 * (so that each worker has its own, and a successor started with `certgate
 * run --takeover` binds beside a running certgate), or a descriptor of its own
 * for a socket passed by the supervisor (listen_fds.h); and the end of a
 * takeover, once the successor serves.
 */
#ifndef CG_LISTENERS_H
#define CG_LISTENERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"
#include "listen_fds.h"

/* Binds (or takes from the passed sockets) one socket per worker and
 * listener into fds[worker * cfg->nlisteners + listener]; closes the passed
 * sockets no listener uses. takeover: a predecessor runs (the refusal for a
 * port in use says what to do). false: logged and said on stderr; the
 * descriptors opened so far are in fds (the rest are -1). */
bool cg_listeners_open(const cg_config *cfg, unsigned nworkers, cg_listen_fds *passed, bool takeover, int *fds);

/* run --takeover, once this process serves: tells the predecessor to stop
 * (SIGTERM: it finishes what it has, including its accept queues). */
void cg_listeners_stop_predecessor(pid_t predecessor);

#endif
