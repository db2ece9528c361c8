/* The process: listeners, worker threads (one event loop each), signals,
 * configuration reload and graceful shutdown.
 *
 * Each worker owns its loop, its listening sockets (SO_REUSEPORT when there
 * are several workers), its connections and its backend connection pools.
 * Workers share only immutable configuration snapshots and a few atomics.
 */
#ifndef CG_SERVER_H
#define CG_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "net/net.h"


/* Runs the server until SIGTERM/SIGINT. Returns the process exit status. */
int cg_server_run(const char *config_path);

typedef struct cg_run_options {
    /* `certgate run --takeover`: a live certgate in process.pid_file is not
     * a refusal but the predecessor: this process binds beside it
     * (SO_REUSEPORT) or serves the sockets passed to both, and once it is
     * ready tells the predecessor to stop (SIGTERM: it drains). */
    bool takeover;
} cg_run_options;
int cg_server_run_with(const char *config_path, const cg_run_options *opt);

/* The rest of the server wing's API (issue 12: one public header per wing). */
#include "pidfile.h"
#include "privileges.h"
#include "snapshot_builders.h"

#endif
