/* The Kerberos delegation checklist as an API: `certgate doctor` (cmd_doctor.c)
 * and `certgate explain --delegate` (cmd_explain.c) run it on a configuration
 * snapshot they loaded.
 *
 * The checks form one table in doctor.c, run in its order. Each row is a
 * check: its name, its function, and which options it needs (a row whose
 * options were not given does not run, or says "skip" and why). A check
 * reports results as values (cg_doctor_result: ok / warn / FAIL / skip, the
 * check's name, and the operator sentence: what was found and, for warn and
 * FAIL, which setting to change and where: certgate's file, the keytab, the
 * KDC). A check that cannot run because an earlier one failed says "skip".
 *
 * Adding a check (enctypes ...) is one row: write
 * `static bool check_NAME(doctor_run *r)` in doctor.c beside the others (it
 * reads the run's state: krb5 context, proxy principal, keytab keys, user,
 * targets; reports with say()), return false only when no later check can
 * run, and add
 *     { "NAME", check_NAME, NEEDS, "why it is skipped without them" or NULL },
 * to checks[] where it belongs in the order. The Active Directory checks'
 * findings (ad-name, the s4u2self line) are computed in doctor_ad.c from
 * values the row passes it, and said by the row. When doctor.c nears 1,000
 * lines, a group of checks moves to its own file with the run's state in a
 * private header; the table stays here.
 */
#ifndef CG_DOCTOR_H
#define CG_DOCTOR_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"

typedef enum {
    CG_DOCTOR_OK,
    CG_DOCTOR_WARN, /* works, but fix it before it fails; does not fail the run */
    CG_DOCTOR_FAIL,
    CG_DOCTOR_SKIP, /* could not run: an earlier check failed or an option is missing */
} cg_doctor_status;

/* One result. The strings live until the report callback returns. */
typedef struct cg_doctor_result {
    cg_doctor_status status;
    const char *check; /* "keytab", "s4u2proxy", ... (a check may report under several names: "clock") */
    const char *text;  /* the operator sentence: what was found, then what to change */
} cg_doctor_result;

typedef void (*cg_doctor_report_fn)(void *ud, const cg_doctor_result *r);

typedef struct cg_doctor_options {
    const cg_config *cfg;     /* the snapshot (with the listeners' mappings for .cert); NULL: none, the
                                 kerberos settings and .spn come from the overrides below */
    const char *config_path;  /* named in sentences (NULL: cfg->file) */
    const char *user;         /* impersonate this user (alice or alice@REALM) ... */
    const char *cert;         /* ... or the principal this certificate file maps to (not both) */
    const char *backend;      /* only this backend (NULL: every backend with kerberos) */
    const char *spn;          /* check this SPN instead of the backends' */
    const char *probe_path;   /* also send each token to its backend (GET path) */
    /* Override the configuration's kerberos section (NULL: keep). */
    const char *keytab, *principal, *realm, *krb5_config;
    /* Where results go; NULL: printed to out (NULL: stdout) with cg_doctor_print. */
    cg_doctor_report_fn report;
    void *report_ud;
    FILE *out;
} cg_doctor_options;

typedef struct cg_doctor_tally {
    int passed, warned, failed, skipped;
    bool finished; /* false: a check every later one needs failed, and the run stopped there */
} cg_doctor_tally;

/* Runs the checks in order; true when nothing failed. Blocks (KDC
 * exchanges, the probe): a command's job, never an event loop's. Sets
 * KRB5_CONFIG when the settings name a krb5.conf. */
bool cg_doctor_run(const cg_doctor_options *o, cg_doctor_tally *t);

/* "ok", "warn", "FAIL", "skip". */
const char *cg_doctor_status_name(cg_doctor_status s);

/* The command's line for a result: status, check, sentence (flushed, so the
 * lines interleave with a caller's own output). */
void cg_doctor_print(FILE *out, const cg_doctor_result *r);

/* The command's last line: "N ok, N warning(s), N failed, N skipped". */
void cg_doctor_print_tally(FILE *out, const cg_doctor_tally *t);

#endif
