/* Who certgate runs as: the refusal to serve as root without saying so,
 * the privilege drop after binding (process.user / process.group), the
 * files that must stay readable after it (a reload re-reads them as the
 * unprivileged user), and the warnings about keys others can read.
 *
 * Order in `certgate run` (server.c): load the configuration and its keys,
 * cg_privileges_plan, bind the listeners, write the pid file,
 * cg_privileges_prepare_files, cg_privileges_drop, cg_privileges_check_access,
 * then start the workers. Kerberos keytabs are read from their path at each
 * ticket renewal (MIT krb5), so the keytab is one of those files.
 */
#ifndef CG_PRIVILEGES_H
#define CG_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"

typedef struct cg_priv_plan {
    bool drop;          /* started as root with process.user: switch after binding */
    uid_t uid;          /* the ids served with (after the drop, if any) */
    gid_t gid;
    const char *user;   /* cfg->process.user, or NULL */
    char note[300];     /* something worth a warning (root on purpose, cannot switch), or "" */
} cg_priv_plan;

/* Decides from the configuration and the ids this process has. Refuses
 * (false, err says how to fix it) to serve as uid 0 unless
 * process.allow_root is true. */
bool cg_privileges_plan(const cg_config *cfg, cg_priv_plan *plan, char *err, size_t cap);

/* Before the drop: revocation.cache_dir is created, or given to the target
 * user when root owns it (so CRLs can still be persisted after the drop),
 * and so is logging.file (so a reopen after log rotation works). Never a
 * directory others may write to, nor a file with other links. Problems are
 * warnings in diag. */
void cg_privileges_prepare_files(const cg_config *cfg, const cg_priv_plan *plan, cg_diag *diag);

/* setgroups (the user's supplementary groups), setgid, setuid; then checks
 * that every id changed (real, effective, saved) and that setuid(0) fails.
 * glibc applies these to every thread of the process. */
bool cg_privileges_drop(const cg_priv_plan *plan, char *err, size_t cap);

/* After the drop: every file a reload reads (the configuration, certificates,
 * keys, CA bundles, mapping files, CRL files, keytab, krb5.conf) can be
 * opened: errors in diag otherwise, with the fix. Log file and cache
 * directory that are not writable are warnings. */
bool cg_privileges_check_access(const cg_config *cfg, const char *config_path, const cg_priv_plan *plan,
                                cg_diag *diag);

/* Warnings for server keys and the keytab readable by every user or
 * writable by anyone but their owner (`certgate run` logs them, `certgate
 * check` prints them). */
void cg_privileges_check_modes(const cg_config *cfg, cg_diag *diag);

/* The kerberos.keytab setting as a file path: "FILE:" removed; NULL for
 * other keytab types (MEMORY:, ...). */
const char *cg_privileges_keytab_path(const char *keytab);

#endif
