/* Configuration: YAML file -> immutable, reference-counted snapshot.
 *
 * A snapshot is never modified after cg_config_load() returns it. Reload
 * builds a new one; whoever holds a reference keeps a consistent view until
 * it releases it. The schema is documented key by key in conf/certgate.yaml.
 */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_types.h"
#include "config_value.h" /* cg_parse_duration_ms, cg_parse_size */
#include "base/base.h"

enum {
    /* Parse and validate only: do not open certificate and key files.
     * For unit tests of the schema and for tools that only need the data. */
    CG_CONFIG_SKIP_TLS = 1u << 0,
    /* With CG_CONFIG_SKIP_TLS: still load the listeners' mapping files (a
     * tool that maps certificates without serving: `certgate doctor --cert`). */
    CG_CONFIG_LOAD_MAPPINGS = 1u << 1,
};

/* ---- what a snapshot carries that its owners build ----
 *
 * Besides plain values a snapshot holds runtime objects built from them:
 * each listener's TLS server context (tls.h) and certificate mapping
 * (mapping.h). Their modules sit above the configuration and are not known
 * to it: the process installs their constructors and destructors once at
 * start, before the first load and before any thread (certgate's come from
 * snapshot_builders.h); a load then builds them after a clean parse, and
 * the last unref frees them through the table that built them. A load
 * that needs one of them when none was installed is a program error: it
 * aborts. */
typedef struct cg_config_builders {
    /* l's certificate, key, chain and client CA files, opened; NULL with at
     * least one error in diag (positions in file, the configuration's). */
    struct cg_tls_server *(*tls_new)(const cg_listener_cfg *l, unsigned workers, const char *file,
                                     cg_diag *diag);
    void (*tls_free)(struct cg_tls_server *tls);
    /* The mapping file at path; NULL with its errors in diag (usually). */
    struct cg_mapping *(*mapping_load)(const char *path, cg_diag *diag);
    void (*mapping_unref)(struct cg_mapping *m);
    /* An https backend's TLS client (trust anchors, own certificate); NULL
     * with at least one error in diag. workers: for per-worker sessions. */
    struct cg_tls_client *(*backend_tls_new)(const cg_backend_cfg *b, unsigned workers, const char *file,
                                             cg_diag *diag);
    void (*backend_tls_free)(struct cg_tls_client *tls);
} cg_config_builders;

/* b must outlive every snapshot built with it; set at start. */
void cg_config_set_builders(const cg_config_builders *b);

/* Loads and validates path. Returns a snapshot holding one reference, or NULL
 * with at least one error in diag. Warnings may be added either way. */
cg_config *cg_config_load(const char *path, unsigned flags, cg_diag *diag);

/* Same, from a string; name is used as the file name in diagnostics. */
cg_config *cg_config_load_string(const char *yaml, size_t len, const char *name,
                                 unsigned flags, cg_diag *diag);

cg_config *cg_config_ref(cg_config *cfg);
void cg_config_unref(cg_config *cfg);

/* The route for path on listener l (the longest prefix that covers it, see
 * cg_target_route_covers), or NULL. path is a canonical path (target.h). */
const cg_route *cg_config_route(const cg_listener_cfg *l, const char *path, size_t path_len);

/* Whether a refusal page for a client at ip (numeric text) shows the
 * operator sentence: errors.detail is operator, or ip is in one of
 * errors.operator_networks. */
bool cg_config_operator_client(const cg_config *cfg, const char *ip);

/* The rest of the config wing's API (issue 12: one public header per wing). */
#include "config_limits.h"
#include "yaml_doc.h"

#endif
