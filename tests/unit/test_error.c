/* Refusal values, error pages, configuration diagnostics and log quoting:
 * the text operators and clients actually read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"

static void refusal_table_is_complete(void **state)
{
    (void)state;
    for (int k = CG_REFUSE_BAD_REQUEST; k < CG_REFUSE_KIND_COUNT; k++) {
        assert_true(cg_refusal_status(k) >= 400);
        assert_non_null(cg_refusal_code(k));
        assert_true(strlen(cg_refusal_code(k)) > 2);
        assert_true(strlen(cg_refusal_title(k)) > 2);
        /* Codes are stable identifiers: lowercase, digits and underscores. */
        for (const char *p = cg_refusal_code(k); *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
        /* One reason, one code: only the configurable 401/403 pair shares one. */
        for (int j = CG_REFUSE_BAD_REQUEST; j < k; j++)
            if (!(j == CG_REFUSE_MAP_NONE && k == CG_REFUSE_MAP_NONE_403))
                assert_string_not_equal(cg_refusal_code(j), cg_refusal_code(k));
    }
}

static void iis_substatuses(void **state)
{
    (void)state;
    assert_int_equal(cg_refusal_status(CG_REFUSE_CERT_MISSING), 403);
    assert_int_equal(cg_refusal_substatus(CG_REFUSE_CERT_MISSING), 7);
    assert_int_equal(cg_refusal_substatus(CG_REFUSE_CERT_UNTRUSTED), 16);
    assert_int_equal(cg_refusal_substatus(CG_REFUSE_CERT_EKU), 16);
    assert_int_equal(cg_refusal_substatus(CG_REFUSE_CERT_EXPIRED), 17);
    assert_int_equal(cg_refusal_substatus(CG_REFUSE_CERT_NOT_YET_VALID), 17);
    assert_int_equal(cg_refusal_status(CG_REFUSE_BACKEND_TIMEOUT), 504);
    assert_int_equal(cg_refusal_status(CG_REFUSE_BACKEND_UNREACHABLE), 502);
    assert_int_equal(cg_refusal_status(CG_REFUSE_HEAD_TOO_LARGE), 431);
    assert_string_equal(cg_refusal_code(CG_REFUSE_CERT_EXPIRED), "client_cert_expired");
    assert_string_equal(cg_http_reason_phrase(403), "Forbidden");
}

static void page_names_status_code_id_and_escapes(void **state)
{
    (void)state;
    cg_refusal r;
    cg_refuse(&r, CG_REFUSE_CERT_EXPIRED, "The certificate \"CN=<script>alert(1)</script>\" expired on %s.", "2020-01-01");
    char page[4096];
    size_t n = cg_refusal_page(&r, "abc-0-1", page, sizeof page);
    assert_int_equal(n, strlen(page));
    assert_non_null(strstr(page, "403.17"));
    assert_non_null(strstr(page, "client_cert_expired"));
    assert_non_null(strstr(page, "abc-0-1"));
    assert_non_null(strstr(page, "expired on 2020-01-01"));
    assert_null(strstr(page, "<script>"));
    assert_non_null(strstr(page, "&lt;script&gt;"));
}

static void page_without_substatus_and_truncation(void **state)
{
    (void)state;
    cg_refusal r;
    cg_refuse(&r, CG_REFUSE_NO_ROUTE, "No route.");
    char page[4096];
    cg_refusal_page(&r, NULL, page, sizeof page);
    assert_non_null(strstr(page, "<h1>404 "));
    assert_null(strstr(page, "404."));
    /* A small buffer truncates but stays a C string. */
    char small[40];
    size_t n = cg_refusal_page(&r, "id", small, sizeof small);
    assert_true(n < sizeof small);
    assert_int_equal(strlen(small), n);
}

static void diag_formats_like_a_compiler(void **state)
{
    (void)state;
    cg_diag d;
    cg_diag_init(&d);
    cg_diag_add(&d, CG_DIAG_ERROR, "a.yaml", 3, 7, "unknown key \"%s\"", "adress");
    cg_diag_add(&d, CG_DIAG_WARNING, "a.yaml", 0, 0, "just a warning");
    cg_diag_add(&d, CG_DIAG_ERROR, NULL, 0, 0, "no file");
    assert_int_equal(d.errors, 2);
    assert_int_equal(d.warnings, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cg_diag_print(&d, f);
    fclose(f);
    assert_non_null(strstr(buf, "a.yaml:3:7: error: unknown key \"adress\"\n"));
    assert_non_null(strstr(buf, "a.yaml: warning: just a warning\n"));
    assert_non_null(strstr(buf, "error: no file\n"));
    free(buf);
    cg_diag_free(&d);
}

static void log_quote_keeps_safe_values_bare(void **state)
{
    (void)state;
    char out[128];
    assert_string_equal(cg_log_quote(out, sizeof out, "/api/v1?x=1", 11), "\"/api/v1?x=1\"");
    assert_string_equal(cg_log_quote(out, sizeof out, "/api/v1", 7), "/api/v1");
    assert_string_equal(cg_log_quote(out, sizeof out, "", 0), "\"\"");
}

static void log_quote_cannot_forge_fields_or_lines(void **state)
{
    (void)state;
    char out[128];
    const char evil[] = "/x status=200\n level=info \"q\" \\ \x01";
    cg_log_quote(out, sizeof out, evil, sizeof evil - 1);
    assert_string_equal(out, "\"/x status=200\\n level=info \\\"q\\\" \\\\ \\x01\"");
    assert_null(strchr(out, '\n'));
    /* NUL inside the value is shown, not a terminator. */
    cg_log_quote(out, sizeof out, "a\0b", 3);
    assert_string_equal(out, "\"a\\x00b\"");
}

static void log_quote_truncates_safely(void **state)
{
    (void)state;
    char out[8];
    cg_log_quote(out, sizeof out, "a b c d e f g h", 15);
    assert_true(strlen(out) < sizeof out);
    char bare[4];
    cg_log_quote(bare, sizeof bare, "abcdef", 6);
    assert_string_equal(bare, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refusal_table_is_complete),
        cmocka_unit_test(iis_substatuses),
        cmocka_unit_test(page_names_status_code_id_and_escapes),
        cmocka_unit_test(page_without_substatus_and_truncation),
        cmocka_unit_test(diag_formats_like_a_compiler),
        cmocka_unit_test(log_quote_keeps_safe_values_bare),
        cmocka_unit_test(log_quote_cannot_forge_fields_or_lines),
        cmocka_unit_test(log_quote_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
