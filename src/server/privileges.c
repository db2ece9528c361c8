#include "privileges.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cg_privileges_plan(const cg_config *cfg, cg_priv_plan *plan, char *err, size_t cap)
{
    const cg_process_cfg *p = &cfg->process;
    uid_t euid = geteuid();
    memset(plan, 0, sizeof *plan);
    plan->uid = euid;
    plan->gid = getegid();
    plan->user = p->user;
    if (p->user && euid == 0 && p->uid != 0) {
        plan->drop = true;
        plan->uid = (uid_t)p->uid;
        plan->gid = (gid_t)p->gid;
        return true;
    }
    if (p->user && euid != 0 && (uid_t)p->uid != euid) {
        struct passwd *me = getpwuid(euid);
        snprintf(plan->note, sizeof plan->note, "process.user is %s but certgate was started as %s (uid %ld), "
                 "not as root: it cannot switch users and runs as %s", p->user, me ? me->pw_name : "?", (long)euid,
                 me ? me->pw_name : "that user");
    }
    if (euid != 0)
        return true;
    if (!p->allow_root) {
        snprintf(err, cap, "refusing to serve as root: set process.user to an unprivileged user (e.g. certgate) "
                 "to switch to it after binding the listeners and reading the keys, or process.allow_root: true "
                 "to serve as root on purpose (%s)", cfg->file);
        return false;
    }
    snprintf(plan->note, sizeof plan->note, "serving as root (process.allow_root: true): a flaw in certgate or its "
             "libraries would give a client the whole machine; prefer process.user");
    return true;
}

void cg_privileges_prepare_files(const cg_config *cfg, const cg_priv_plan *plan, cg_diag *diag)
{
    if (!plan->drop)
        return;
    struct stat st;
    if (cfg->log_file && lstat(cfg->log_file, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
        st.st_nlink == 1 && chown(cfg->log_file, plan->uid, plan->gid) != 0)
        cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0, "logging.file %s: cannot give it to %s: %s",
                    cfg->log_file, plan->user, strerror(errno));
    const char *dir = cfg->revocation.cache_dir;
    if (!dir)
        return;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0 || lstat(dir, &st) != 0) {
            cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0, "revocation.cache_dir %s: cannot create it: %s", dir,
                        strerror(errno));
            return;
        }
    }
    /* Only a directory root owns and nobody else may write to: never take
     * over a shared one such as /tmp or another user's. */
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
        return;
    if (chown(dir, plan->uid, plan->gid) != 0)
        cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0, "revocation.cache_dir %s: cannot give it to %s: %s", dir,
                    plan->user, strerror(errno));
}

bool cg_privileges_drop(const cg_priv_plan *plan, char *err, size_t cap)
{
    if (!plan->drop)
        return true;
    /* Groups first: after setuid there is no right to change them. */
    if (initgroups(plan->user, plan->gid) != 0) {
        snprintf(err, cap, "cannot set the groups of %s: %s", plan->user, strerror(errno));
        return false;
    }
    if (setgid(plan->gid) != 0) {
        snprintf(err, cap, "cannot switch to group id %ld: %s", (long)plan->gid, strerror(errno));
        return false;
    }
    if (setuid(plan->uid) != 0) {
        snprintf(err, cap, "cannot switch to user %s (uid %ld): %s", plan->user, (long)plan->uid, strerror(errno));
        return false;
    }
    uid_t ru = (uid_t)-1, eu = (uid_t)-1, su = (uid_t)-1; /* -1 in the message if a read fails */
    gid_t rg = (gid_t)-1, eg = (gid_t)-1, sg = (gid_t)-1;
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != plan->uid || eu != plan->uid ||
        su != plan->uid || rg != plan->gid || eg != plan->gid || sg != plan->gid) {
        snprintf(err, cap, "the switch to %s is incomplete (uids %ld/%ld/%ld, gids %ld/%ld/%ld)", plan->user,
                 (long)ru, (long)eu, (long)su, (long)rg, (long)eg, (long)sg);
        return false;
    }
    if (setuid(0) == 0 || setgid(0) == 0) {
        snprintf(err, cap, "after switching to %s the process could become root again: refusing to serve",
                 plan->user);
        return false;
    }
    return true;
}

const char *cg_privileges_keytab_path(const char *keytab)
{
    if (!keytab)
        return NULL;
    if (!strncmp(keytab, "FILE:", 5))
        return keytab + 5;
    const char *colon = strchr(keytab, ':'), *slash = strchr(keytab, '/');
    if (colon && (!slash || colon < slash))
        return NULL; /* another keytab type */
    return keytab;
}

typedef struct access_ctx {
    const cg_config *cfg;
    const cg_priv_plan *plan;
    cg_diag *diag;
    bool ok;
} access_ctx;

static void need_read(access_ctx *a, const char *what, const char *path, cg_pos pos)
{
    if (!path)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
        close(fd);
        return;
    }
    int e = errno;
    a->ok = false;
    struct group *g = getgrgid(a->plan->gid);
    char gname[64];
    if (g)
        snprintf(gname, sizeof gname, "%s", g->gr_name);
    else
        snprintf(gname, sizeof gname, "%ld", (long)a->plan->gid);
    cg_diag_add(a->diag, CG_DIAG_ERROR, a->cfg->file, pos.line, pos.column,
                "%s %s: not readable by %s after the privilege drop (%s); every reload reads it again as that "
                "user: chgrp %s %s; chmod g+r %s (and let it search the directories above)", what, path,
                a->plan->user, strerror(e), gname, path, path);
}

/* dirname(path) into out. */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

bool cg_privileges_check_access(const cg_config *cfg, const char *config_path, const cg_priv_plan *plan,
                                cg_diag *diag)
{
    if (!plan->drop)
        return true;
    access_ctx a = { .cfg = cfg, .plan = plan, .diag = diag, .ok = true };
    cg_pos none = { 0, 0 };
    need_read(&a, "the configuration", config_path, none);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const cg_listener_cfg *l = &cfg->listeners[i];
        need_read(&a, "tls.certificate", l->cert_file, l->cert_pos);
        need_read(&a, "tls.key", l->key_file, l->key_pos);
        need_read(&a, "tls.chain", l->chain_file, l->chain_pos);
        need_read(&a, "tls.client_ca", l->client_ca_file, l->client_ca_pos);
        for (size_t j = 0; j < l->nsni; j++) {
            need_read(&a, "tls.sni certificate", l->sni[j].cert_file, l->sni[j].cert_pos);
            need_read(&a, "tls.sni key", l->sni[j].key_file, l->sni[j].key_pos);
            need_read(&a, "tls.sni chain", l->sni[j].chain_file, l->sni[j].chain_pos);
        }
        if (l->session_tickets)
            need_read(&a, "tls.session_ticket_keys", l->session_ticket_keys_file, l->session_ticket_keys_pos);
        need_read(&a, "mapping", l->mapping_file, l->mapping_pos);
        for (size_t j = 0; j < l->revocation.ncrl_files; j++)
            need_read(&a, "revocation.crl_files", l->revocation.crl_files[j], none);
    }
    for (size_t i = 0; i < cfg->errors.ntemplates; i++)
        need_read(&a, "errors.templates", cfg->errors.templates[i].path, cfg->errors.templates[i].pos);
    if (cfg->kerberos.enabled) {
        need_read(&a, "kerberos.keytab", cg_privileges_keytab_path(cfg->kerberos.keytab), none);
        need_read(&a, "kerberos.krb5_config", cfg->kerberos.krb5_config, none);
    }
    char dir[4096];
    if (cfg->log_file) {
        dir_of(cfg->log_file, dir, sizeof dir);
        if (access(cfg->log_file, W_OK) != 0 || access(dir, W_OK | X_OK) != 0)
            cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0,
                        "logging.file %s: %s cannot reopen it after log rotation (SIGHUP) unless the file and its "
                        "directory %s are writable by it (or logrotate creates the new file for it: create 0640 %s)",
                        cfg->log_file, plan->user, dir, plan->user);
    }
    if (cfg->revocation.cache_dir && access(cfg->revocation.cache_dir, W_OK | X_OK) != 0)
        cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0,
                    "revocation.cache_dir %s: not writable by %s: fetched CRLs are kept in memory only (chown %s %s)",
                    cfg->revocation.cache_dir, plan->user, plan->user, cfg->revocation.cache_dir);
    if (cfg->process.pid_file) {
        dir_of(cfg->process.pid_file, dir, sizeof dir);
        if (access(dir, W_OK | X_OK) != 0)
            cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, cfg->process.pid_file_pos.line,
                        cfg->process.pid_file_pos.column,
                        "process.pid_file: its directory %s is not writable by %s: the pid file stays after exit and "
                        "`certgate reload` cannot report results; use a directory it owns (systemd: "
                        "RuntimeDirectory=certgate, pid_file: /run/certgate/certgate.pid)", dir, plan->user);
    }
    return a.ok;
}

static void check_mode(const cg_config *cfg, cg_diag *diag, const char *what, const char *path, cg_pos pos)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return;
    const char *problem = (st.st_mode & S_IROTH) ? "is readable by every user of this machine"
                          : (st.st_mode & (S_IWGRP | S_IWOTH)) ? "is writable by users other than its owner"
                                                               : NULL;
    if (problem)
        cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, pos.line, pos.column,
                    "%s %s %s (mode %04o): chmod 640 %s, owned by root and the group certgate runs as", what, path,
                    problem, (unsigned)(st.st_mode & 07777), path);
}

void cg_privileges_check_modes(const cg_config *cfg, cg_diag *diag)
{
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        check_mode(cfg, diag, "tls.key", cfg->listeners[i].key_file, cfg->listeners[i].key_pos);
        for (size_t j = 0; j < cfg->listeners[i].nsni; j++)
            check_mode(cfg, diag, "tls.sni key", cfg->listeners[i].sni[j].key_file, cfg->listeners[i].sni[j].key_pos);
        /* Whoever reads the ticket keys decrypts every session resumed with them. */
        check_mode(cfg, diag, "tls.session_ticket_keys", cfg->listeners[i].session_ticket_keys_file,
                   cfg->listeners[i].session_ticket_keys_pos);
    }
    if (cfg->kerberos.enabled)
        check_mode(cfg, diag, "kerberos.keytab", cg_privileges_keytab_path(cfg->kerberos.keytab), (cg_pos){ 0, 0 });
}
