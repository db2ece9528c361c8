/* certgate doctor: the Kerberos delegation checklist, automated.
 *
 *   certgate doctor [-c FILE] [--user NAME | --cert FILE] [--backend NAME]
 *                   [--keytab FILE] [--principal P] [--realm R]
 *                   [--krb5-config FILE] [--spn SPN] [--probe PATH]
 *
 * One line per check, "ok", "warn" or "FAIL", the check's name and what was
 * found; a failure says which setting to change and where (certgate's file,
 * the keytab, the KDC: AD or MIT). Exit status 0 only when nothing failed
 * (warnings do not fail), 1 when a check failed, 2 for usage errors.
 *
 * The options after -c override the configuration's kerberos section (or
 * replace it: doctor runs without a configuration file when --keytab,
 * --principal, --realm and --spn are given).
 *
 * The checks and their order: doctor.c (the table), doctor.h (the API
 * `explain --delegate` calls too).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config/config.h"
#include "doctor.h"

#define DEFAULT_CONFIG "/etc/certgate/certgate.yaml"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: certgate doctor [-c FILE] [--user NAME | --cert FILE] [--backend NAME]\n"
            "                       [--keytab FILE] [--principal P] [--realm R] [--krb5-config FILE]\n"
            "                       [--spn SPN] [--probe PATH]\n"
            "\n"
            "Checks the Kerberos delegation setup, one line per check (ok / warn / FAIL),\n"
            "each failure with the setting to change. Exit status 0 only if nothing failed.\n"
            "\n"
            "  -c, --config FILE   certgate configuration (default " DEFAULT_CONFIG ";\n"
            "                      not read when --keytab, --principal, --realm and --spn are all given)\n"
            "  --user NAME         the user to impersonate (alice or alice@REALM)\n"
            "  --cert FILE         ... or the principal this client certificate maps to\n"
            "  --backend NAME      only this backend (default: every backend with kerberos)\n"
            "  --keytab, --principal, --realm, --krb5-config\n"
            "                      override the configuration's kerberos section\n"
            "  --spn SPN           check this SPN instead of the backends'\n"
            "  --probe PATH        also send the token to the backend (GET PATH) and report its answer\n");
}

int cg_cmd_doctor(int argc, char **argv)
{
    const char *config = NULL, *user_opt = NULL, *cert = NULL, *backend = NULL, *probe_path = NULL;
    const char *o_keytab = NULL, *o_principal = NULL, *o_realm = NULL, *o_krb5 = NULL, *o_spn = NULL;
    static struct option opts[] = {
        {"config", 1, 0, 'c'}, {"user", 1, 0, 'u'}, {"cert", 1, 0, 'C'}, {"backend", 1, 0, 'b'},
        {"keytab", 1, 0, 'k'}, {"principal", 1, 0, 'p'}, {"realm", 1, 0, 'r'}, {"krb5-config", 1, 0, 'K'},
        {"spn", 1, 0, 's'}, {"probe", 1, 0, 'P'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int o;
    while ((o = getopt_long(argc + 1, argv - 1, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'u': user_opt = optarg; break;
        case 'C': cert = optarg; break;
        case 'b': backend = optarg; break;
        case 'k': o_keytab = optarg; break;
        case 'p': o_principal = optarg; break;
        case 'r': o_realm = optarg; break;
        case 'K': o_krb5 = optarg; break;
        case 's': o_spn = optarg; break;
        case 'P': probe_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc + 1) {
        fprintf(stderr, "certgate doctor: unexpected argument \"%s\"\n\n", argv[optind - 1]);
        usage(stderr);
        return 2;
    }
    if (user_opt && cert) {
        fprintf(stderr, "certgate doctor: give --user or --cert, not both\n");
        return 2;
    }
    cg_config *cfg = NULL;
    bool standalone = o_keytab && o_principal && o_realm && o_spn && !config;
    if (!standalone) {
        if (!config)
            config = DEFAULT_CONFIG;
        cg_diag d;
        cg_diag_init(&d);
        /* --cert maps with the listeners' mapping files: load them (the
         * TLS files are not needed, and may be readable by root only). */
        cfg = cg_config_load(config, CG_CONFIG_SKIP_TLS | (cert ? CG_CONFIG_LOAD_MAPPINGS : 0), &d);
        if (!cfg) {
            char *text = NULL;
            if (asprintf(&text, "%s does not load (%zu error(s)); `certgate check -c %s` shows them:", config,
                         d.errors, config) < 0)
                text = NULL;
            cg_doctor_print(stdout, &(cg_doctor_result){CG_DOCTOR_FAIL, "config", text ? text : config});
            free(text);
            cg_diag_print(&d, stdout);
            cg_diag_free(&d);
            return 1;
        }
        cg_diag_free(&d);
    }
    cg_doctor_options opts_run = {
        .cfg = cfg, .config_path = config, .user = user_opt, .cert = cert, .backend = backend, .spn = o_spn,
        .probe_path = probe_path, .keytab = o_keytab, .principal = o_principal, .realm = o_realm,
        .krb5_config = o_krb5, .out = stdout,
    };
    cg_doctor_tally t;
    cg_doctor_run(&opts_run, &t);
    if (t.finished)
        cg_doctor_print_tally(stdout, &t);
    cg_config_unref(cfg);
    return t.failed ? 1 : 0;
}
