/* libFuzzer target for the configuration loader (src/config.c, through its
 * in-memory entry point cg_config_load_string). Built and run by
 * tests/fuzz/run, from the source root: relative paths in a configuration
 * resolve against the working directory, so "certs-dev/server/server.crt"
 * names the dev PKI.
 *
 * The input is a configuration file. It is loaded without opening
 * certificate, key and mapping files (CG_CONFIG_SKIP_TLS), unless it starts
 * with "#tls\n": then those are loaded too (slower; the seeds that do point
 * at certs-dev/ and conf/).
 *
 * Invariants: NULL exactly when an error was reported; every diagnostic has
 * a message; a loaded snapshot's routes are found for their own paths; the
 * reference count works.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "server/snapshot_builders.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cg_snapshot_builders_install();
    devnull = fopen("/dev/null", "w");
    return devnull ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned flags = size >= 5 && memcmp(data, "#tls\n", 5) == 0 ? 0 : CG_CONFIG_SKIP_TLS;
    cg_diag d;
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load_string((const char *)data, size, "fuzz.yaml", flags, &d);
    if ((cfg == NULL) != (d.errors > 0))
        abort();
    for (size_t i = 0; i < d.count; i++)
        if (!d.items[i].message || !d.items[i].message[0])
            abort();
    cg_diag_print(&d, devnull);
    if (cfg) {
        for (size_t i = 0; i < cfg->nlisteners; i++) {
            const cg_listener_cfg *l = &cfg->listeners[i];
            for (size_t r = 0; r < l->nroutes; r++) {
                const cg_route *got = cg_config_route(l, l->routes[r].path, l->routes[r].path_len);
                if (!got || got->path_len < l->routes[r].path_len || got->backend >= cfg->nbackends)
                    abort(); /* a route's own path finds it, or a longer prefix */
            }
        }
        cg_config *again = cg_config_ref(cfg);
        cg_config_unref(again);
    }
    cg_config_unref(cfg);
    cg_diag_free(&d);
    return 0;
}
