#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "admin.h"
#include "net/net.h"
#include "http/http.h"
#include "revocation/revocation.h"
#include "kerberos/kerberos.h"
#include "listeners.h"
#include "base/base.h"
#include "metrics.h"
#include "notify.h"
#include "pidfile.h"
#include "privileges.h"

/* Blocks from here up get their own mapping (mallopt M_MMAP_THRESHOLD): just
 * above the 16 KiB request buffers (all request and response buffers are
 * reused through spares.h, never allocated per request). The bundled mbedTLS's two
 * record buffers per TLS connection (16,440 bytes each) stay below it, in
 * the heap: no mmap/munmap per connection; a quiet connection frees them
 * with their whole pages given back instead (net/tls_trim.h). Fixing the threshold also stops
 * glibc raising it on its own. */
#define MMAP_THRESHOLD (16 * 1024 + 128)
#define MMAP_MAX 40000 /* mappings glibc may make for large blocks: 20,000 TLS connections */

/* ---- what runs above each worker (worker.h) ---- */

static bool worker_parts_start(cg_worker *w, char *err, size_t errcap)
{
    cg_backend_pools_reset(w);
    w->crl = cg_crl_fetcher_new(&w->loop, w->services->crl);
    if (!w->crl) {
        snprintf(err, errcap, "cannot start the CRL fetcher");
        return false;
    }
    w->ocsp = cg_ocsp_client_new(w->crl, crl_store_ocsp_cache(w->services->crl));
    if (!w->ocsp) {
        snprintf(err, errcap, "cannot start the OCSP client");
        return false;
    }
    return true;
}

static void worker_parts_stop(cg_worker *w)
{
    cg_backend_pools_free(w);
    /* The fetcher first: closing it cancels the CRL jobs, whose checks may then ask OCSP (told at
     * once that certgate is stopping), and the OCSP queries; the client goes after, with nothing left. */
    if (w->crl)
        cg_crl_fetcher_close(w->crl);
    cg_ocsp_client_free(w->ocsp);
    w->ocsp = NULL;
    w->crl = NULL;
}

static const cg_worker_layers worker_layers = {
    .handler = &cg_http1_handler, /* HTTP/1.1 unless ALPN agreed on h2 */
    .h2_handler = &cg_h2_handler, /* listeners[].http2 */
    .start = worker_parts_start,
    .reconfigure = cg_backend_pools_reset,
    .stop = worker_parts_stop,
};

#define MAX_WATCHES 16
#define TICKET_KEYS_CHECK_MS 5000 /* tls.session_ticket_keys files are looked at this often */
#define WATCH_DEBOUNCE_MS 200

typedef struct file_watch {
    uv_fs_event_t ev;
    char *dir, *name;        /* watch the directory: editors replace files by rename */
    struct server *s;
} file_watch;

typedef struct server {
    const char *config_path;
    cg_config *cfg;
    cg_services services;
    file_watch *watches[MAX_WATCHES];
    size_t nwatches;
    uv_timer_t debounce;     /* a burst of file events -> one reload */
    uv_timer_t ticket_keys;  /* checks the session-ticket key files (ticket_keys.h) */
    unsigned reloads, reload_failures;
    uv_loop_t loop;
    uv_signal_t sighup, sigterm, sigint, sigusr1;
    cg_worker *workers;
    unsigned nworkers;
    bool stopping;

    /* Running as a service (docs/operations.md). */
    cg_priv_plan plan;
    char *pid_file;          /* process.pid_file at start (NULL: none): reloads do not move it */
    pid_t predecessor;       /* run --takeover: the certgate told to stop once this one is ready */
    uv_timer_t watchdog;     /* WATCHDOG=1, when every worker turned recently */
    uint64_t watchdog_ms;    /* systemd's WatchdogSec; 0: off */
    bool watchdog_withheld;  /* a stalled worker was logged */

    cg_admin *admin;         /* metrics and probes (admin.h); NULL: no admin section */
    cg_metrics_sources msrc; /* what they read, kept current here */
} server;

/* ---- signals: reload and stop ---- */

static bool same_listeners(const cg_config *a, const cg_config *b, char *why, size_t cap)
{
    if (a->nlisteners != b->nlisteners) {
        snprintf(why, cap, "the number of listeners changed (%zu -> %zu)", a->nlisteners, b->nlisteners);
        return false;
    }
    for (size_t i = 0; i < a->nlisteners; i++) {
        const cg_listener_cfg *x = &a->listeners[i], *y = &b->listeners[i];
        if (strcmp(x->name, y->name) || strcmp(x->address, y->address) || x->port != y->port) {
            snprintf(why, cap, "listener \"%s\" (%s:%u) changed to \"%s\" (%s:%u)", x->name, x->address, x->port,
                     y->name, y->address, y->port);
            return false;
        }
    }
    return true;
}

/* Revocation off is a choice an auditor must be able to see. */
static void log_revocation_modes(const cg_config *cfg)
{
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const cg_listener_cfg *l = &cfg->listeners[i];
        if (l->revocation.mode == CG_REVOCATION_OFF)
            cg_log(CG_LOG_WARN, "revocation_off",
                   "listener=%s detail=\"REVOCATION CHECKING IS OFF: revoked client certificates are accepted "
                   "(listeners[%s].revocation.mode: off)\"",
                   l->name, l->name);
    }
}

static void log_diag(const cg_diag *d)
{
    for (size_t i = 0; i < d->count; i++) {
        const cg_diag_item *it = &d->items[i];
        cg_log_fields(it->severity == CG_DIAG_ERROR ? CG_LOG_ERROR : CG_LOG_WARN, "config",
                      CG_LF_STR("severity", it->severity == CG_DIAG_ERROR ? "error" : "warning"),
                      CG_LF_STR("file", it->file), CG_LF_INT("line", it->line), CG_LF_INT("column", it->column),
                      CG_LF_STR("message", it->message));
    }
}

static void reload(server *s);

static void on_debounce(uv_timer_t *t)
{
    server *s = t->data;
    cg_log(CG_LOG_INFO, "reload", "trigger=mapping_file_changed");
    reload(s);
}

static void on_file_event(uv_fs_event_t *ev, const char *filename, int events, int status)
{
    file_watch *fw = ev->data;
    (void)events;
    if (status < 0 || (filename && strcmp(filename, fw->name) != 0))
        return;
    uv_timer_start(&fw->s->debounce, on_debounce, WATCH_DEBOUNCE_MS, 0);
}

static void on_watch_closed(uv_handle_t *h)
{
    file_watch *fw = h->data;
    free(fw->dir);
    free(fw->name);
    free(fw);
}

static void unwatch_all(server *s)
{
    for (size_t i = 0; i < s->nwatches; i++)
        uv_close((uv_handle_t *)&s->watches[i]->ev, on_watch_closed);
    s->nwatches = 0;
}

/* Watches the mapping files of the configuration in force. */
static void watch_mapping_files(server *s)
{
    unwatch_all(s);
    for (size_t i = 0; i < s->cfg->nlisteners && s->nwatches < MAX_WATCHES; i++) {
        const char *path = s->cfg->listeners[i].mapping_file;
        if (!path)
            continue;
        const char *slash = strrchr(path, '/');
        file_watch *fw = calloc(1, sizeof *fw);
        if (!fw)
            return;
        fw->s = s;
        fw->dir = slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
        fw->name = strdup(slash ? slash + 1 : path);
        fw->ev.data = fw;
        if (!fw->dir || !fw->name || uv_fs_event_init(&s->loop, &fw->ev) != 0) {
            free(fw->dir);
            free(fw->name);
            free(fw);
            return;
        }
        int r = uv_fs_event_start(&fw->ev, on_file_event, fw->dir, 0);
        if (r != 0) {
            char why[200];
            snprintf(why, sizeof why, "%s: changes need SIGHUP", uv_strerror(r));
            cg_log_fields(CG_LOG_WARN, "watch_failed", CG_LF_STR("file", path), CG_LF_STR("detail", why));
            uv_close((uv_handle_t *)&fw->ev, on_watch_closed);
            continue;
        }
        s->watches[s->nwatches++] = fw;
    }
}

static bool same_process(const cg_process_cfg *a, const cg_process_cfg *b)
{
    return a->uid == b->uid && a->gid == b->gid && a->allow_root == b->allow_root && !a->user == !b->user &&
           !a->pid_file == !b->pid_file && (!a->pid_file || !strcmp(a->pid_file, b->pid_file));
}

/* The first error of a refused configuration, for STATUS= and `certgate reload`. */
static void first_error(const cg_diag *d, char *out, size_t cap)
{
    snprintf(out, cap, "the configuration has errors");
    for (size_t i = 0; i < d->count; i++) {
        const cg_diag_item *it = &d->items[i];
        if (it->severity == CG_DIAG_ERROR) {
            snprintf(out, cap, "%zu error(s), first: %s:%d:%d: %s", d->errors, it->file ? it->file : "-", it->line,
                     it->column, it->message);
            return;
        }
    }
}

static bool apply_reload(server *s, char *outcome, size_t outcap)
{
    s->reloads++;
    cg_diag d;
    cg_diag_init(&d);
    cg_config *next = cg_config_load(s->config_path, 0, &d);
    log_diag(&d);
    char why[300];
    if (!next) {
        first_error(&d, outcome, outcap);
        s->reload_failures++;
        cg_log_fields(CG_LOG_ERROR, "reload", CG_LF_STR("result", "failed"), CG_LF_UINT("errors", d.errors),
                      CG_LF_UINT("reloads", s->reloads), CG_LF_UINT("failed", s->reload_failures),
                      CG_LF_STR("first_error", outcome), CG_LF_STR("detail", "the configuration in force is kept"));
        cg_diag_free(&d);
        return false;
    }
    if (!same_listeners(s->cfg, next, why, sizeof why)) {
        s->reload_failures++;
        snprintf(outcome, outcap, "%s: restart certgate to change listeners", why);
        char detail[800];
        snprintf(detail, sizeof detail, "%s; the configuration in force is kept", outcome);
        cg_log_fields(CG_LOG_ERROR, "reload", CG_LF_STR("result", "failed"), CG_LF_UINT("reloads", s->reloads),
                      CG_LF_UINT("failed", s->reload_failures), CG_LF_STR("detail", detail));
        cg_config_unref(next);
        cg_diag_free(&d);
        return false;
    }
    cg_metrics_bind_routes(next); /* before any worker sees it */
    /* the realms served and their KDCs: built here, never per request */
    const char *not_applied = NULL;
    if (!cg_crl_store_configure(s->services.crl, next, &d))
        not_applied = "revocation settings could not be applied; the configuration in force is kept";
    else if (s->services.kerberos && next->kerberos.enabled &&
             !cg_kerberos_set_realms(s->services.kerberos, &next->kerberos, &d))
        not_applied = "kerberos realms could not be applied; the configuration in force is kept";
    if (not_applied) {
        log_diag(&d);
        s->reload_failures++;
        first_error(&d, outcome, outcap);
        cg_log_fields(CG_LOG_ERROR, "reload", CG_LF_STR("result", "failed"), CG_LF_UINT("reloads", s->reloads),
                      CG_LF_UINT("failed", s->reload_failures), CG_LF_STR("first_error", outcome),
                      CG_LF_STR("detail", not_applied));
        cg_config_unref(next);
        cg_diag_free(&d);
        return false;
    }
    if (next->kerberos.enabled != s->cfg->kerberos.enabled ||
        (next->kerberos.enabled && (strcmp(next->kerberos.keytab, s->cfg->kerberos.keytab) ||
                                    strcmp(next->kerberos.principal, s->cfg->kerberos.principal))))
        cg_log(CG_LOG_WARN, "reload", "detail=\"kerberos keytab or principal changed: takes effect at the next restart\"");
    if (!same_process(&next->process, &s->cfg->process))
        cg_log(CG_LOG_WARN, "reload", "detail=\"process settings (user, group, allow_root, pid_file) changed: take "
               "effect at the next restart\"");
    if (next->admin.enabled != s->cfg->admin.enabled ||
        (next->admin.enabled && (strcmp(next->admin.address, s->cfg->admin.address) || next->admin.port != s->cfg->admin.port)))
        cg_log(CG_LOG_WARN, "reload", "detail=\"admin listener (admin: address, port) changed: takes effect at the "
               "next restart\"");
    if (next->workers != s->nworkers)
        cg_log(CG_LOG_WARN, "reload", "detail=\"workers changed (%u -> %u): takes effect at the next restart\"",
               s->nworkers, next->workers);
    cg_log_set_format(next->log_format);
    if (!cg_log_reopen(next->log_file, next->log_level)) {
        char why[900];
        snprintf(why, sizeof why, "cannot open log file %s: %s; still logging to the old one", next->log_file,
                 strerror(errno));
        cg_log_fields(CG_LOG_ERROR, "reload", CG_LF_STR("detail", why));
    }
    for (unsigned i = 0; i < s->nworkers; i++) {
        cg_worker *w = &s->workers[i];
        cg_config *old = atomic_exchange(&w->next_cfg, cg_config_ref(next));
        if (old)
            cg_config_unref(old);
        uv_async_send(&w->wakeup);
    }
    cg_config_unref(s->cfg);
    s->cfg = next;
    log_revocation_modes(next);
    watch_mapping_files(s);
    cg_log_fields(CG_LOG_INFO, "reload", CG_LF_STR("result", "ok"), CG_LF_UINT("warnings", d.warnings),
                  CG_LF_UINT("reloads", s->reloads), CG_LF_UINT("failed", s->reload_failures));
    snprintf(outcome, outcap, "new configuration applied (%zu warning(s))", d.warnings);
    cg_diag_free(&d);
    return true;
}

/* SIGHUP or a mapping file change. systemd sees RELOADING=1 then READY=1
 * with what happened; `certgate reload` reads the status file. */
static void reload(server *s)
{
    cg_notify_reloading();
    char outcome[700], status[800];
    bool ok = apply_reload(s, outcome, sizeof outcome);
    s->msrc.cfg = s->cfg;
    s->msrc.reloads = s->reloads;
    s->msrc.reload_failures = s->reload_failures;
    if (ok)
        s->msrc.last_reload_ok_s = (int64_t)time(NULL);
    snprintf(status, sizeof status, "%s: %s (reloads %u, refused %u)",
             ok ? "serving; reload applied" : "serving the previous configuration; reload refused", outcome,
             s->reloads, s->reload_failures);
    cg_notify_ready(status);
    if (s->pid_file)
        cg_pidfile_write_status(s->pid_file, s->reloads, s->reload_failures, ok, outcome);
}

/* ---- shared session-ticket keys ---- */

/* A key file that changed is loaded and put in force for new handshakes;
 * one that does not load leaves the keys in force (ticket_keys.h). A stat
 * per listener every few seconds, on the main thread: workers only see the
 * new set at their next ticket. */
static void on_ticket_keys_timer(uv_timer_t *t)
{
    server *s = t->data;
    for (size_t i = 0; i < s->cfg->nlisteners; i++) {
        const cg_listener_cfg *l = &s->cfg->listeners[i];
        cg_ticket_keyring *ring = cg_tls_server_ticket_keys(l->tls);
        if (!ring)
            continue;
        char err[400], q[500], f[600];
        size_t nkeys;
        cg_keyring_result r = cg_ticket_keyring_refresh(ring, false, &nkeys, err, sizeof err);
        const char *path = cg_ticket_keyring_path(ring);
        cg_log_quote(f, sizeof f, path, strlen(path));
        if (r == CG_KEYRING_REPLACED)
            cg_log(CG_LOG_INFO, "ticket_keys", "listener=%s file=%s keys=%zu detail=\"the changed key file is in "
                   "force: its first key seals new tickets\"", l->name, f, nkeys);
        else if (r == CG_KEYRING_KEPT)
            cg_log(CG_LOG_ERROR, "ticket_keys", "listener=%s file=%s keys=%zu detail=%s", l->name, f, nkeys,
                   cg_log_quote(q, sizeof q, err, strlen(err)));
    }
}

/* ---- systemd watchdog ---- */

static void on_watchdog(uv_timer_t *t)
{
    server *s = t->data;
    uint64_t now = uv_hrtime() / 1000000u, limit = s->watchdog_ms / 2;
    for (unsigned i = 0; i < s->nworkers; i++) {
        uint64_t last = atomic_load_explicit(&s->workers[i].heartbeat_ms, memory_order_relaxed);
        if (now > last && now - last > limit) {
            if (!s->watchdog_withheld)
                cg_log(CG_LOG_ERROR, "watchdog", "worker=%u stalled_ms=%" PRIu64 " detail=\"worker %u has not turned "
                       "its event loop for %" PRIu64 " ms: WATCHDOG=1 withheld until it does (systemd restarts "
                       "certgate when WatchdogSec passes without one)\"", i, now - last, i, now - last);
            s->watchdog_withheld = true;
            return;
        }
    }
    if (s->watchdog_withheld)
        cg_log(CG_LOG_INFO, "watchdog", "detail=\"every worker turns again: WATCHDOG=1 resumed\"");
    s->watchdog_withheld = false;
    cg_notify_watchdog();
}

/* SIGUSR1: drop cached Kerberos credentials. `certgate flush-tickets`
 * lists users in "<config>.flush" first (the config directory belongs to the
 * administrator); without that file, everything is flushed. */
static void flush_tickets(server *s)
{
    cg_kerberos *k = s->services.kerberos;
    if (!k) {
        cg_log(CG_LOG_WARN, "kerberos_flush", "detail=\"no backend delegates: nothing to flush\"");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.flush", s->config_path);
    FILE *f = fopen(path, "r");
    if (!f) {
        cg_delegation_flush(k, NULL);
        return;
    }
    char line[512];
    unsigned n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        char user[600];
        if (!strchr(line, '@') && s->cfg->kerberos.realm)
            snprintf(user, sizeof user, "%s@%s", line, s->cfg->kerberos.realm);
        else
            snprintf(user, sizeof user, "%s", line);
        cg_delegation_flush(k, user);
        n++;
    }
    fclose(f);
    unlink(path);
    if (n == 0)
        cg_delegation_flush(k, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    server *s = h->data;
    if (signum == SIGHUP) {
        reload(s);
        return;
    }
    if (signum == SIGUSR1) {
        flush_tickets(s);
        return;
    }
    if (s->stopping) {
        cg_log(CG_LOG_WARN, "shutdown", "detail=\"second signal: closing all connections now\"");
        exit(1);
    }
    s->stopping = true;
    s->msrc.stopping = true;
    cg_admin_close(s->admin);
    s->admin = NULL;
    cg_log_fields(CG_LOG_INFO, "shutdown", CG_LF_STR("signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"),
                  CG_LF_UINT("deadline_ms", s->cfg->timeouts.shutdown));
    cg_notify_stopping("stopping: finishing the requests in flight");
    if (s->watchdog_ms)
        uv_close((uv_handle_t *)&s->watchdog, NULL);
    for (unsigned i = 0; i < s->nworkers; i++) {
        atomic_store(&s->workers[i].stop_requested, true);
        uv_async_send(&s->workers[i].wakeup);
    }
    /* Keep SIGINT/SIGTERM watched (second signal = now); only SIGHUP goes. */
    uv_close((uv_handle_t *)&s->sighup, NULL);
    uv_close((uv_handle_t *)&s->sigusr1, NULL);
    unwatch_all(s);
    uv_close((uv_handle_t *)&s->debounce, NULL);
    uv_close((uv_handle_t *)&s->ticket_keys, NULL);
    uv_unref((uv_handle_t *)&s->sigterm);
    uv_unref((uv_handle_t *)&s->sigint);
}

/* Before the workers start: pid file, cache directory and log file for the
 * target user, the privilege drop, and the proof that reloads will still
 * be able to read every file. false: do not serve. */
static bool become_service(server *s)
{
    char err[600];
    bool ok = true;
    if (s->pid_file && !cg_pidfile_write(s->pid_file, s->plan.drop ? s->plan.uid : (uid_t)-1,
                                         s->plan.drop ? s->plan.gid : (gid_t)-1, err, sizeof err)) {
        free(s->pid_file);
        s->pid_file = NULL;
        ok = false;
    }
    cg_diag d;
    cg_diag_init(&d);
    if (ok) {
        cg_privileges_prepare_files(s->cfg, &s->plan, &d);
        ok = cg_privileges_drop(&s->plan, err, sizeof err);
    }
    if (ok && !cg_privileges_check_access(s->cfg, s->config_path, &s->plan, &d)) {
        snprintf(err, sizeof err, "%s cannot read every file it needs (see the errors above)", s->plan.user);
        ok = false;
    }
    cg_diag_print(&d, stderr);
    log_diag(&d);
    cg_diag_free(&d);
    if (!ok) {
        fprintf(stderr, "certgate: %s\n", err);
        char q[700];
        cg_log(CG_LOG_ERROR, "start_failed", "detail=%s", cg_log_quote(q, sizeof q, err, strlen(err)));
        return false;
    }
    if (s->plan.drop) {
        gid_t groups[64];
        int n = getgroups(64, groups);
        char list[400] = "";
        size_t len = 0;
        for (int i = 0; i < n && len < sizeof list - 16; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%ld", i ? "," : "", (long)groups[i]);
        cg_log_fields(CG_LOG_INFO, "privileges", CG_LF_STR("user", s->plan.user), CG_LF_INT("uid", (long)getuid()),
                      CG_LF_INT("gid", (long)getgid()), CG_LF_STR("groups", len ? list : "-"),
                      CG_LF_STR("detail", "switched after binding"));
    }
    return true;
}

int cg_server_run(const char *config_path)
{
    cg_run_options opt = { 0 };
    return cg_server_run_with(config_path, &opt);
}

int cg_server_run_with(const char *config_path, const cg_run_options *opt)
{
    server s = { .config_path = config_path };
    /* First, while this is the only thread: it edits the environment. */
    char notify_err[300];
    bool notify_ok = cg_notify_init(notify_err, sizeof notify_err);
    cg_listen_fds passed;
    char lerr[300];
    if (!cg_listen_fds_take(&passed, lerr, sizeof lerr)) {
        fprintf(stderr, "certgate: %s\n", lerr);
        return 1;
    }
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    /* Two mappings per TLS connection: past this many, glibc serves the
     * buffers from the heap instead, well before vm.max_map_count (65530 by
     * default) could make an allocation fail. */
    mallopt(M_MMAP_MAX, MMAP_MAX);
    /* Still the only thread: quiet connections' record buffers freed with
     * their pages given back (net/tls_trim.h; a system mbedTLS has no hook). */
    (void)cg_tls_trim_install();
    cg_diag d;
    cg_diag_init(&d);
    s.cfg = cg_config_load(config_path, 0, &d);
    cg_diag_print(&d, stderr);
    cg_diag_free(&d);
    if (!s.cfg)
        return 1;
    cg_metrics_bind_routes(s.cfg);
    char perr[600];
    bool stale = false;
    if (opt->takeover && !s.cfg->process.pid_file) {
        fprintf(stderr, "certgate: --takeover finds the running certgate through process.pid_file: set it\n");
        cg_config_unref(s.cfg);
        return 1;
    }
    if (opt->takeover && !cg_pidfile_check(s.cfg->process.pid_file, &stale, perr, sizeof perr))
        s.predecessor = (pid_t)cg_pidfile_read(s.cfg->process.pid_file, perr, sizeof perr);
    if (!cg_privileges_plan(s.cfg, &s.plan, perr, sizeof perr) ||
        (s.cfg->process.pid_file && !s.predecessor &&
         !cg_pidfile_check(s.cfg->process.pid_file, &stale, perr, sizeof perr))) {
        fprintf(stderr, "certgate: %s\n", perr);
        cg_config_unref(s.cfg);
        return 1;
    }
    if (s.cfg->process.pid_file && !(s.pid_file = strdup(s.cfg->process.pid_file))) {
        cg_config_unref(s.cfg);
        return 1;
    }
    cg_log_set_format(s.cfg->log_format);
    if (!cg_log_open(s.cfg->log_file, s.cfg->log_level)) {
        fprintf(stderr, "certgate: cannot open log file %s: %s (logging.file)\n", s.cfg->log_file, strerror(errno));
        cg_config_unref(s.cfg);
        free(s.pid_file);
        return 1;
    }
    s.services.admission = cg_admission_new();
    s.services.ratelimit = cg_ratelimit_new(CG_RATELIMIT_DEFAULT_CAPACITY);
    if (!s.services.admission || !s.services.ratelimit) {
        fprintf(stderr, "certgate: out of memory\n");
        cg_admission_free(s.services.admission);
        cg_ratelimit_free(s.services.ratelimit);
        cg_config_unref(s.cfg);
        cg_log_close();
        free(s.pid_file);
        return 1;
    }
    char q[700];
    if (!notify_ok) {
        strncat(notify_err, ": systemd notifications are off", sizeof notify_err - strlen(notify_err) - 1);
        cg_log(CG_LOG_WARN, "notify_failed", "detail=%s", cg_log_quote(q, sizeof q, notify_err, strlen(notify_err)));
    }
    if (s.plan.note[0])
        cg_log(CG_LOG_WARN, "privileges", "detail=%s", cg_log_quote(q, sizeof q, s.plan.note, strlen(s.plan.note)));
    if (stale)
        cg_log(CG_LOG_INFO, "pid_file", "file=%s detail=\"stale pid file (no certgate runs with its pid): replaced\"",
               cg_log_quote(q, sizeof q, s.pid_file, strlen(s.pid_file)));
    cg_diag_init(&d);
    cg_privileges_check_modes(s.cfg, &d);
    s.services.crl = cg_crl_store_new(s.cfg, &d);
    if (s.cfg->kerberos.enabled && s.services.crl)
        s.services.kerberos = cg_kerberos_new(&s.cfg->kerberos, &d);
    cg_diag_print(&d, stderr);
    log_diag(&d);
    cg_diag_free(&d);
    if (!s.services.crl || (s.cfg->kerberos.enabled && !s.services.kerberos)) {
        cg_log(CG_LOG_ERROR, "start_failed", "detail=\"see the errors above\"");
        if (s.services.crl)
            cg_crl_store_free(s.services.crl);
        cg_admission_free(s.services.admission);
        cg_ratelimit_free(s.services.ratelimit);
        cg_config_unref(s.cfg);
        cg_log_close();
        free(s.pid_file);
        return 1;
    }
    log_revocation_modes(s.cfg);
    signal(SIGPIPE, SIG_IGN);
    /* http-parser has its own process-wide head cap (80 KiB); keep it above
     * the largest head the configuration may allow, so our limits decide. */
    http_parser_set_max_header_size(2u << 20);
    cg_worker_seed_request_ids();

    int rc = 1;
    s.nworkers = s.cfg->workers;
    s.workers = calloc(s.nworkers, sizeof *s.workers);
    int *fds = calloc(s.nworkers * s.cfg->nlisteners, sizeof *fds);
    unsigned started = 0, inited = 0;
    bool loop_inited = false;
    if (!s.workers || !fds)
        goto out;
    for (size_t i = 0; i < s.nworkers * s.cfg->nlisteners; i++)
        fds[i] = -1;

    char err[300];
    if (!cg_listeners_open(s.cfg, s.nworkers, &passed, s.predecessor != 0, fds))
        goto out;
    for (unsigned wi = 0; wi < s.nworkers; wi++) {
        if (!cg_worker_init(&s.workers[wi], wi, s.cfg, &s.services, &worker_layers, &fds[wi * s.cfg->nlisteners],
                            err, sizeof err)) {
            fprintf(stderr, "certgate: %s\n", err);
            inited = wi + 1;
            goto out;
        }
        inited = wi + 1;
    }
    /* The admin listener binds before the privilege drop, like the others. */
    uv_loop_init(&s.loop);
    loop_inited = true;
    s.msrc = (cg_metrics_sources){ .cfg = s.cfg, .workers = s.workers, .nworkers = s.nworkers,
                                   .services = &s.services, .start_s = (int64_t)time(NULL),
                                   .last_reload_ok_s = (int64_t)time(NULL) };
    if (s.cfg->admin.enabled) {
        if (!(s.admin = cg_admin_start(&s.loop, &s.msrc, err, sizeof err))) {
            cg_log(CG_LOG_ERROR, "listen_failed", "listener=admin detail=\"%s\"", err);
            fprintf(stderr, "certgate: %s\n", err);
            goto out;
        }
        cg_log(CG_LOG_INFO, "listening", "listener=admin address=%s:%u detail=\"metrics, healthz, readyz (plain "
               "HTTP)\"", s.cfg->admin.address, s.cfg->admin.port);
    }
    if (!become_service(&s))
        goto out;
    for (size_t li = 0; li < s.cfg->nlisteners; li++) {
        const cg_listener_cfg *l = &s.cfg->listeners[li];
        char addr[300];
        snprintf(addr, sizeof addr, "%s:%u", l->address, l->port);
        cg_log_fields(CG_LOG_INFO, "listening", CG_LF_STR("listener", l->name), CG_LF_STR("address", addr),
                      CG_LF_UINT("workers", s.nworkers), CG_LF_UINT("routes", l->nroutes));
    }

    uv_signal_init(&s.loop, &s.sighup);
    uv_signal_init(&s.loop, &s.sigterm);
    uv_signal_init(&s.loop, &s.sigint);
    uv_signal_init(&s.loop, &s.sigusr1);
    s.sighup.data = s.sigterm.data = s.sigint.data = s.sigusr1.data = &s;
    uv_signal_start(&s.sigusr1, on_signal, SIGUSR1);
    uv_signal_start(&s.sighup, on_signal, SIGHUP);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_timer_init(&s.loop, &s.debounce);
    s.debounce.data = &s;
    watch_mapping_files(&s);
    uv_timer_init(&s.loop, &s.ticket_keys);
    s.ticket_keys.data = &s;
    uv_timer_start(&s.ticket_keys, on_ticket_keys_timer, TICKET_KEYS_CHECK_MS, TICKET_KEYS_CHECK_MS);
    uv_timer_init(&s.loop, &s.watchdog);
    s.watchdog.data = &s;
    s.watchdog_ms = cg_notify_watchdog_usec() / 1000u;
    if (s.watchdog_ms) {
        /* Ping at half the interval; workers tick four times as often, so a
         * healthy one is never older than half the interval either. */
        s.watchdog_ms = s.watchdog_ms < 4 ? 4 : s.watchdog_ms;
        for (unsigned i = 0; i < s.nworkers; i++)
            cg_worker_start_heartbeat(&s.workers[i], s.watchdog_ms / 8 + 1);
        uv_timer_start(&s.watchdog, on_watchdog, s.watchdog_ms / 2, s.watchdog_ms / 2);
    } else {
        uv_close((uv_handle_t *)&s.watchdog, NULL);
    }

    for (; started < s.nworkers; started++)
        if (uv_thread_create(&s.workers[started].thread, cg_worker_main, &s.workers[started]) != 0)
            break;
    if (started == s.nworkers) {
        rc = 0;
        s.msrc.serving = true;
        /* Every listening socket had listen() before the threads started: a
         * connection made from now on is queued and served. */
        char status[200];
        snprintf(status, sizeof status, "serving: %zu listener(s), %u worker(s)", s.cfg->nlisteners, s.nworkers);
        cg_notify_ready(status);
        if (s.pid_file)
            cg_pidfile_write_status(s.pid_file, 0, 0, true, "started");
        if (s.predecessor)
            cg_listeners_stop_predecessor(s.predecessor);
    } else {
        on_signal(&s.sigterm, SIGTERM);
    }

    /* Runs until a stop signal: then only unref'ed handles remain. */
    uv_run(&s.loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < started; i++)
        uv_thread_join(&s.workers[i].thread);
    uv_close((uv_handle_t *)&s.sigterm, NULL);
    uv_close((uv_handle_t *)&s.sigint, NULL);
    if (!uv_is_closing((uv_handle_t *)&s.sighup))
        uv_close((uv_handle_t *)&s.sighup, NULL);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    uv_loop_close(&s.loop);
    loop_inited = false;
    cg_log(CG_LOG_INFO, "stopped", "detail=\"all connections finished\"");

out:
    if (loop_inited) { /* did not serve: let the admin listener's handles close */
        cg_admin_close(s.admin);
        uv_run(&s.loop, UV_RUN_DEFAULT);
        uv_loop_close(&s.loop);
    }
    for (unsigned i = 0; i < inited; i++) {
        if (i >= started)
            cg_worker_close_unstarted(&s.workers[i]);
        cg_worker_free(&s.workers[i]);
    }
    if (s.workers && fds)
        for (unsigned wi = inited; wi < s.nworkers; wi++)
            for (size_t li = 0; li < s.cfg->nlisteners; li++)
                if (fds[wi * s.cfg->nlisteners + li] >= 0)
                    close(fds[wi * s.cfg->nlisteners + li]);
    free(fds);
    free(s.workers);
    if (s.services.kerberos)
        cg_kerberos_free(s.services.kerberos);
    cg_crl_store_free(s.services.crl);
    cg_admission_free(s.services.admission);
    cg_ratelimit_free(s.services.ratelimit);
    cg_config_unref(s.cfg);
    if (s.pid_file && !cg_pidfile_remove(s.pid_file, perr, sizeof perr)) {
        char q2[700];
        strncat(perr, ": give its directory to the user certgate runs as (systemd: RuntimeDirectory=certgate)",
                sizeof perr - strlen(perr) - 1);
        cg_log(CG_LOG_WARN, "pid_file", "detail=%s", cg_log_quote(q2, sizeof q2, perr, strlen(perr)));
    }
    free(s.pid_file);
    cg_log_close();
    return rc;
}
