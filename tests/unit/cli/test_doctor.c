/* Unit tests of the doctor's checklist (doctor.h) that need no KDC: the
 * table's order, which checks run for which options, the skips that follow
 * a failure, stopping when no later check can run, results as values
 * (collected here, never parsed from printed text) and the printed line.
 *
 * A temporary folder holds a private krb5.conf whose KDC port is closed and
 * a keytab with a random key; the checks against a real KDC are in
 * tests/integration/test_delegation.py (DoctorCases).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/doctor.h"

#include "fixtures.h"

static char tmpdir[256], krb5conf[300], keytab[300];

#define MAX_RESULTS 32

typedef struct results {
    size_t n;
    cg_doctor_status status[MAX_RESULTS];
    char check[MAX_RESULTS][32];
    char text[MAX_RESULTS][1024];
} results;

static void collect(void *ud, const cg_doctor_result *r)
{
    results *rs = ud;
    assert_true(rs->n < MAX_RESULTS);
    rs->status[rs->n] = r->status;
    snprintf(rs->check[rs->n], sizeof rs->check[0], "%s", r->check);
    snprintf(rs->text[rs->n], sizeof rs->text[0], "%s", r->text);
    rs->n++;
}

/* The results' "status check" pairs, one per line, to compare in one go. */
static void assert_sequence(const results *rs, const char *want)
{
    char got[2048] = "";
    size_t l = 0;
    for (size_t i = 0; i < rs->n; i++)
        l += (size_t)snprintf(got + l, sizeof got - l, "%s %s\n", cg_doctor_status_name(rs->status[i]), rs->check[i]);
    assert_string_equal(got, want);
}

static const char *text_of(const results *rs, const char *check)
{
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->check[i], check))
            return rs->text[i];
    fail_msg("no result for %s", check);
    return NULL;
}

/* Options for the lab of this file: no configuration file, the settings
 * given as overrides, results collected into rs. */
static cg_doctor_options lab_options(results *rs)
{
    memset(rs, 0, sizeof *rs);
    return (cg_doctor_options){.keytab = keytab, .principal = "HTTP/proxy.example.test", .realm = "EXAMPLE.TEST",
                               .krb5_config = krb5conf, .spn = "HTTP/backend.example.test", .report = collect,
                               .report_ud = rs};
}

/* Without kerberos settings nothing else can run: one FAIL, and the run
 * stops (the command prints no tally then). */
static void test_no_settings_stops(void **state)
{
    (void)state;
    results rs = {0};
    cg_doctor_options o = {.config_path = "x.yaml", .report = collect, .report_ud = &rs};
    cg_doctor_tally t;
    assert_false(cg_doctor_run(&o, &t));
    assert_sequence(&rs, "FAIL config\n");
    assert_non_null(strstr(text_of(&rs, "config"), "x.yaml has no usable kerberos section"));
    assert_false(t.finished);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.passed + t.warned + t.skipped, 0);
}

static void test_unreadable_krb5_conf_stops(void **state)
{
    (void)state;
    results rs;
    cg_doctor_options o = lab_options(&rs);
    char missing[320];
    snprintf(missing, sizeof missing, "%s/none.conf", tmpdir);
    o.krb5_config = missing;
    cg_doctor_tally t;
    assert_false(cg_doctor_run(&o, &t));
    assert_sequence(&rs, "ok config\nFAIL krb5.conf\n");
    assert_non_null(strstr(text_of(&rs, "krb5.conf"), "none.conf: No such file or directory"));
    assert_false(t.finished);
}

/* A keytab that cannot be read: the checks that need it say "skip". */
static void test_missing_keytab_skips_what_needs_it(void **state)
{
    (void)state;
    results rs;
    cg_doctor_options o = lab_options(&rs);
    char missing[320];
    snprintf(missing, sizeof missing, "%s/none.keytab", tmpdir);
    o.keytab = missing;
    cg_doctor_tally t;
    assert_false(cg_doctor_run(&o, &t));
    assert_sequence(&rs, "ok config\nok krb5.conf\nFAIL keytab\nskip proxy TGT\nskip kvno\nskip s4u2self\n");
    assert_non_null(strstr(text_of(&rs, "krb5.conf"), "realm EXAMPLE.TEST, kdc = 127.0.0.1:"));
    assert_non_null(strstr(text_of(&rs, "keytab"), "fix kerberos.keytab"));
    assert_string_equal(text_of(&rs, "s4u2self"), "no --user or --cert given: S4U2Self and S4U2Proxy not tried");
    assert_true(t.finished);
    assert_int_equal(t.passed, 2);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.skipped, 3);
}

/* A keytab for another principal names the one it holds. */
static void test_keytab_for_another_principal(void **state)
{
    (void)state;
    results rs;
    cg_doctor_options o = lab_options(&rs);
    o.principal = "HTTP/other.example.test@EXAMPLE.TEST";
    cg_doctor_tally t;
    assert_false(cg_doctor_run(&o, &t));
    assert_sequence(&rs, "ok config\nok krb5.conf\nFAIL keytab\nskip proxy TGT\nskip kvno\nskip s4u2self\n");
    assert_non_null(strstr(text_of(&rs, "keytab"), "(it holds: HTTP/proxy.example.test@EXAMPLE.TEST)"));
}

/* The KDC does not answer: the TGT fails, the clock and everything that
 * needs the TGT says "skip"; a user that is no principal fails its own
 * check and S4U is not tried (silently: the user check said why). */
static void test_kdc_down_and_bad_user(void **state)
{
    (void)state;
    results rs;
    cg_doctor_options o = lab_options(&rs);
    cg_doctor_tally t;
    assert_false(cg_doctor_run(&o, &t));
    assert_sequence(&rs, "ok config\nok krb5.conf\nok keytab\nFAIL proxy TGT\nskip clock\nskip kvno\nskip s4u2self\n");
    assert_non_null(strstr(text_of(&rs, "keytab"), "kvno 3 aes256-cts"));

    o = lab_options(&rs);
    o.user = "a@b@c";
    assert_false(cg_doctor_run(&o, &t));
    assert_sequence(&rs, "ok config\nok krb5.conf\nok keytab\nFAIL proxy TGT\nskip clock\nskip kvno\nFAIL user\n");

    o = lab_options(&rs);
    o.user = "alice";
    assert_false(cg_doctor_run(&o, &t));
    assert_sequence(&rs,
                    "ok config\nok krb5.conf\nok keytab\nFAIL proxy TGT\nskip clock\nskip kvno\nskip s4u2self\n");
    assert_string_equal(rs.text[rs.n - 1], "needs the proxy TGT");
    assert_int_equal(t.failed, 1);
    assert_true(t.finished);
}

/* A certificate needs a configuration with a mapping. */
static void test_cert_without_configuration(void **state)
{
    (void)state;
    results rs;
    cg_doctor_options o = lab_options(&rs);
    char cert[400];
    snprintf(cert, sizeof cert, "%s/not-a-cert.pem", tmpdir);
    fx_write_text(cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    o.cert = cert;
    cg_doctor_tally t;
    assert_false(cg_doctor_run(&o, &t));
    assert_sequence(&rs, "ok config\nok krb5.conf\nok keytab\nFAIL proxy TGT\nskip clock\nskip kvno\nFAIL mapping\n");
    assert_non_null(strstr(text_of(&rs, "mapping"), "PEM or DER expected"));
}

/* The command's line and tally, as `certgate doctor` prints them. */
static void test_printed_line(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cg_doctor_print(f, &(cg_doctor_result){CG_DOCTOR_FAIL, "keytab", "it is gone"});
    cg_doctor_print(f, &(cg_doctor_result){CG_DOCTOR_OK, "proxy TGT", "fine"});
    cg_doctor_print_tally(f, &(cg_doctor_tally){.passed = 1, .failed = 1, .warned = 0, .skipped = 2});
    fclose(f);
    assert_string_equal(buf, "FAIL keytab     it is gone\n"
                             "ok   proxy TGT  fine\n"
                             "1 ok, 0 warning(s), 1 failed, 2 skipped\n");
    free(buf);
    assert_string_equal(cg_doctor_status_name(CG_DOCTOR_WARN), "warn");
    assert_string_equal(cg_doctor_status_name(CG_DOCTOR_SKIP), "skip");
}

static int group_setup(void **state)
{
    (void)state;
    if (!fx_tmpdir(tmpdir, sizeof tmpdir, "doctor"))
        return -1;
    snprintf(krb5conf, sizeof krb5conf, "%s/krb5.conf", tmpdir);
    snprintf(keytab, sizeof keytab, "%s/proxy.keytab", tmpdir);
    fx_write_krb5_conf(krb5conf, fx_closed_port());
    setenv("KRB5_CONFIG", krb5conf, 1);
    fx_write_keytab(keytab, "HTTP/proxy.example.test@EXAMPLE.TEST", 3);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return fx_rm_rf(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_settings_stops),
        cmocka_unit_test(test_unreadable_krb5_conf_stops),
        cmocka_unit_test(test_missing_keytab_skips_what_needs_it),
        cmocka_unit_test(test_keytab_for_another_principal),
        cmocka_unit_test(test_kdc_down_and_bad_user),
        cmocka_unit_test(test_cert_without_configuration),
        cmocka_unit_test(test_printed_line),
    };
    return cmocka_run_group_tests_name("doctor", tests, group_setup, group_teardown);
}
