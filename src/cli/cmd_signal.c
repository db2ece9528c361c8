/* certgate reload and certgate flush-tickets: find the running certgate (its
 * pid file, --pid, or systemd's $MAINPID), make sure the process is a
 * certgate, and signal it. reload waits for the result in the status file
 * (pidfile.h) when there is one. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config/config.h"
#include "base/base.h"
#include "server/server.h"

#define DEFAULT_CONFIG "/etc/certgate/certgate.yaml"
#define RELOAD_WAIT_S 30

static bool parse_pid(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 1) {
        fprintf(stderr, "certgate: --pid needs a process id, got \"%s\"\n", s);
        return false;
    }
    *out = v;
    return true;
}

/* The pid to signal, checked to be a certgate; 0 after printing why not. */
static long find_certgate(const char *config, long given, const cg_config *cfg)
{
    char err[700];
    long pid = given;
    const char *from = "--pid";
    if (!pid && cfg && cfg->process.pid_file) {
        pid = cg_pidfile_read(cfg->process.pid_file, err, sizeof err);
        if (pid < 0) {
            fprintf(stderr, "certgate: %s\n", err);
            return 0;
        }
        if (pid == 0) {
            fprintf(stderr, "certgate: no pid file %s (process.pid_file in %s): certgate is not running, or was "
                    "started with another configuration\n", cfg->process.pid_file, config);
            return 0;
        }
        from = cfg->process.pid_file;
    }
    const char *mainpid = getenv("MAINPID"); /* systemd sets it for ExecReload= */
    if (!pid && mainpid && *mainpid) {
        if (!parse_pid(mainpid, &pid))
            return 0;
        from = "$MAINPID";
    }
    if (!pid) {
        fprintf(stderr, "certgate: which certgate? %s sets no process.pid_file; give --pid PID (or set "
                "process.pid_file)\n", config);
        return 0;
    }
    int r = cg_pidfile_is_certgate((pid_t)pid, err, sizeof err);
    if (r != 1) {
        fprintf(stderr, "certgate: refusing to signal pid %ld (from %s): %s\n", pid, from, err);
        return 0;
    }
    return pid;
}

static void usage_reload(void)
{
    fprintf(stderr, "usage: certgate reload [-c FILE] [--pid PID] [--timeout SECONDS]\n"
                    "  checks the configuration, sends SIGHUP to the running certgate (found through\n"
                    "  process.pid_file, --pid or $MAINPID) and waits for the result of the reload\n");
}

int cg_cmd_reload(int argc, char **argv)
{
    const char *config = DEFAULT_CONFIG;
    long pid = 0, timeout_s = RELOAD_WAIT_S;
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--pid") && i + 1 < argc) {
            if (!parse_pid(argv[++i], &pid))
                return 2;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            char *end;
            timeout_s = strtol(argv[++i], &end, 10);
            if (*end || timeout_s < 0 || timeout_s > 3600) {
                fprintf(stderr, "certgate: --timeout needs seconds from 0 to 3600\n");
                return 2;
            }
        } else {
            usage_reload();
            return 2;
        }
    }
    /* Like nginx -s reload after nginx -t: a file that would be refused is
     * reported here, with its errors, and the running process is left alone. */
    cg_diag d;
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load(config, 0, &d);
    cg_diag_print(&d, stderr);
    cg_diag_free(&d);
    if (!cfg) {
        fprintf(stderr, "certgate: %s is not valid: not reloading (the running certgate keeps its "
                "configuration)\n", config);
        return 1;
    }
    pid = find_certgate(config, pid, cfg);
    char *pid_file = cfg->process.pid_file ? strdup(cfg->process.pid_file) : NULL;
    cg_config_unref(cfg);
    if (!pid) {
        free(pid_file);
        return 1;
    }
    cg_pidfile_status before;
    bool track = pid_file && cg_pidfile_read_status(pid_file, &before) && before.pid == pid;
    if (kill((pid_t)pid, SIGHUP) != 0) {
        fprintf(stderr, "certgate: cannot signal certgate (pid %ld): %s\n", pid, strerror(errno));
        free(pid_file);
        return 1;
    }
    if (!track) {
        printf("sent SIGHUP to certgate (pid %ld); its log says whether the reload was applied (no status file: "
               "process.pid_file is %s)\n", pid, pid_file ? "set but its status file is missing" : "not set");
        free(pid_file);
        return 0;
    }
    /* Any reload that ends after our signal read the files after we checked
     * them (a mapping-file reload racing with ours reads the same files). */
    struct timespec step = { 0, 50 * 1000 * 1000 };
    for (long waited_ms = 0; waited_ms <= timeout_s * 1000; waited_ms += 50) {
        cg_pidfile_status now;
        if (cg_pidfile_read_status(pid_file, &now) && now.pid == pid && now.reloads > before.reloads) {
            free(pid_file);
            if (now.ok) {
                printf("certgate (pid %ld) reloaded: %s\n", pid, now.detail);
                return 0;
            }
            fprintf(stderr, "certgate (pid %ld) refused the new configuration and keeps the one in force: %s\n", pid,
                    now.detail);
            return 1;
        }
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            fprintf(stderr, "certgate: certgate (pid %ld) exited during the reload\n", pid);
            free(pid_file);
            return 1;
        }
        nanosleep(&step, NULL);
    }
    fprintf(stderr, "certgate: sent SIGHUP to certgate (pid %ld) but saw no reload result within %ld s; see its "
            "log\n", pid, timeout_s);
    free(pid_file);
    return 1;
}

/* certgate flush-tickets [-c FILE] [--pid PID] [--user NAME]... */
int cg_cmd_flush_tickets(int argc, char **argv)
{
    const char *config = DEFAULT_CONFIG;
    long pid = 0;
    const char *users[64];
    int nusers = 0;
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--pid") && i + 1 < argc) {
            if (!parse_pid(argv[++i], &pid))
                return 2;
        } else if (!strcmp(argv[i], "--user") && i + 1 < argc && nusers < 64) {
            users[nusers++] = argv[++i];
        } else {
            fprintf(stderr, "usage: certgate flush-tickets [-c FILE] [--pid PID] [--user NAME]...\n"
                            "  drops cached Kerberos credentials of the named users (all without --user)\n");
            return 2;
        }
    }
    cg_config *cfg = NULL;
    if (!pid) {
        /* Only the pid file is needed: certificates and mappings are not read. */
        cg_diag d;
        cg_diag_init(&d);
        cfg = cg_config_load(config, CG_CONFIG_SKIP_TLS, &d);
        if (!cfg) {
            cg_diag_print(&d, stderr);
            fprintf(stderr, "certgate: cannot find the running certgate through %s; give --pid PID\n", config);
            cg_diag_free(&d);
            return 1;
        }
        cg_diag_free(&d);
    }
    pid = find_certgate(config, pid, cfg);
    cg_config_unref(cfg);
    if (!pid)
        return 1;
    if (nusers) {
        char path[4096];
        snprintf(path, sizeof path, "%s.flush", config);
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "certgate: cannot write %s: %s\n", path, strerror(errno));
            return 1;
        }
        for (int i = 0; i < nusers; i++)
            fprintf(f, "%s\n", users[i]);
        fclose(f);
    }
    if (kill((pid_t)pid, SIGUSR1) != 0) {
        fprintf(stderr, "certgate: cannot signal process %ld: %s\n", pid, strerror(errno));
        return 1;
    }
    printf("asked certgate (pid %ld) to flush %s\n", pid, nusers ? "the named users' tickets" : "all tickets");
    return 0;
}
