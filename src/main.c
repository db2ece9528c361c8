/* certgate: a TLS reverse proxy that turns client certificates into
 * Kerberos identities for legacy Windows-authenticated web applications.
 *
 *   certgate run   -c FILE     serve (--takeover: replace the running one, overlapping)
 *   certgate check -c FILE     validate the configuration (exit 1 on errors)
 *   certgate reload -c FILE    reload the running certgate (cmd_signal.c)
 *   certgate version
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/version.h>
#include <psa/crypto.h>
#include <uv.h>

#include "cli/cli.h"
#include "config/config.h"
#include "base/base.h"
#include "server/server.h"

#define DEFAULT_CONFIG "/etc/certgate/certgate.yaml"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: certgate <command> [options]\n"
            "\n"
            "commands:\n"
            "  run   -c FILE [--takeover]\n"
            "                  run the proxy (SIGHUP reloads, SIGTERM stops gracefully); --takeover:\n"
            "                  serve beside the certgate in process.pid_file, then make it stop\n"
            "  check -c FILE   validate a configuration and its certificates; exit 1 on errors\n"
            "  explain --cert FILE [--chain FILE] [-c FILE] [--offline]\n"
            "                  why a certificate would be accepted or refused, step by step\n"
            "  import-iis FILE convert IIS client certificate mappings to certgate's mapping YAML\n"
            "  doctor [-c FILE] [--user NAME]\n"
            "                  check the Kerberos delegation setup, one line per check\n"
            "  reload [-c FILE] [--pid PID] [--timeout SECONDS]\n"
            "                  check the configuration, make the running certgate reload it\n"
            "                  (found through process.pid_file) and report the result\n"
            "  flush-tickets [-c FILE] [--pid PID] [--user NAME]...\n"
            "                  drop cached Kerberos credentials (SIGUSR1 flushes all)\n"
            "  ticket-key generate\n"
            "                  print a new TLS session-ticket key line (tls.session_ticket_keys)\n"
            "  version         print the version\n"
            "\n"
            "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
            "\n"
            "The configuration reference is conf/certgate.yaml; see also docs/.\n");
}

static int cmd_check(const char *path)
{
    cg_diag d;
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load(path, 0, &d);
    if (cfg)
        cg_privileges_check_modes(cfg, &d); /* keys others can read: warnings */
    cg_diag_print(&d, stderr);
    if (!cfg) {
        fprintf(stderr, "%s: %zu error(s), %zu warning(s): configuration NOT valid\n", path, d.errors, d.warnings);
        cg_diag_free(&d);
        return 1;
    }
    printf("configuration OK: %s (%zu warning(s))\n", path, d.warnings);
    printf("workers: %u\n", cfg->workers);
    const cg_process_cfg *p = &cfg->process;
    if (p->user)
        printf("process: switches to user %s (uid %u, gid %u) after binding, when started as root\n", p->user, p->uid,
               p->gid);
    else
        printf("process: runs as the user that starts it (%s)\n",
               p->allow_root ? "root allowed: process.allow_root" : "refuses root: no process.user");
    if (p->pid_file)
        printf("pid file: %s\n", p->pid_file);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const cg_listener_cfg *l = &cfg->listeners[i];
        printf("listener %s on %s:%u (client CAs: %s)\n", l->name, l->address, l->port, l->client_ca_file);
        /* Which certificate serves which name (tls.sni, tls.strict_sni). */
        printf("  certificate %s: %s\n", l->cert_file,
               l->strict_sni ? "the names of its subjectAltName only (strict_sni: other names and no SNI refused)"
               : l->nsni    ? "clients without SNI and names no sni entry lists"
                            : "every client");
        for (size_t k = 0; k < l->nsni; k++) {
            printf("  certificate %s: SNI", l->sni[k].cert_file);
            for (size_t n = 0; n < l->sni[k].nserver_names; n++)
                printf("%s %s", n ? "," : "", l->sni[k].server_names[n]);
            printf("\n");
        }
        for (size_t r = 0; r < l->nroutes; r++) {
            const cg_route *rt = &l->routes[r];
            const cg_backend_cfg *b = &cfg->backends[rt->backend];
            printf("  route %-20s -> backend %s (%s), client certificate %s\n", rt->path, b->name, b->url,
                   rt->client_cert_required ? "required" : "optional");
        }
    }
    cg_config_unref(cfg);
    cg_diag_free(&d);
    return 0;
}

int main(int argc, char **argv)
{
    /* mbedTLS 3.6 runs parts of TLS and of key handling on PSA crypto. */
    psa_status_t psa = psa_crypto_init();
    if (psa != PSA_SUCCESS) {
        fprintf(stderr, "certgate: the crypto library did not start (psa_crypto_init: %d)\n", (int)psa);
        return 1;
    }
    /* Before any command loads a configuration. */
    cg_snapshot_builders_install();
    /* Tools with options of their own get the rest of the command line. */
    if (argc >= 2) {
        if (!strcmp(argv[1], "explain"))
            return cg_cmd_explain(argc - 2, argv + 2);
        if (!strcmp(argv[1], "import-iis"))
            return cg_cmd_import_iis(argc - 2, argv + 2);
        if (!strcmp(argv[1], "doctor"))
            return cg_cmd_doctor(argc - 2, argv + 2);
        if (!strcmp(argv[1], "flush-tickets"))
            return cg_cmd_flush_tickets(argc - 2, argv + 2);
        if (!strcmp(argv[1], "reload"))
            return cg_cmd_reload(argc - 2, argv + 2);
        if (!strcmp(argv[1], "ticket-key"))
            return cg_cmd_ticket_key(argc - 2, argv + 2);
    }
    const char *cmd = NULL, *config = DEFAULT_CONFIG;
    cg_run_options run = { 0 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--takeover")) {
            run.takeover = true;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            if (++i >= argc) {
                fprintf(stderr, "certgate: %s needs a file name\n", a);
                return 2;
            }
            config = argv[i];
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help")) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !cmd) {
            cmd = a;
        } else {
            fprintf(stderr, "certgate: unknown argument \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!cmd)
        cmd = "run";
    if (run.takeover && strcmp(cmd, "run") != 0) {
        fprintf(stderr, "certgate: --takeover belongs to run\n");
        return 2;
    }
    if (!strcmp(cmd, "run"))
        return cg_server_run_with(config, &run);
    if (!strcmp(cmd, "check"))
        return cmd_check(config);
    if (!strcmp(cmd, "version")) {
        printf("certgate %s (mbedTLS %s, libuv %s)\n", CG_VERSION, MBEDTLS_VERSION_STRING, uv_version_string());
        return 0;
    }
    fprintf(stderr, "certgate: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
