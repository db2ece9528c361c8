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

#include "base/error.h"
#include "base/error_page.h"
#include "base/log.h"

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

/* ---- the user's words ---- */

static void every_kind_has_user_words(void **state)
{
    (void)state;
    for (int k = CG_REFUSE_BAD_REQUEST; k < CG_REFUSE_KIND_COUNT; k++) {
        const cg_refusal_words *w = cg_refusal_user(k);
        assert_non_null(w);
        const char *parts[] = { w->title, w->what, w->todo };
        for (int i = 0; i < 3; i++) {
            assert_non_null(parts[i]);
            assert_true(strlen(parts[i]) > 5);
            /* Nothing of the inside: no setting names (they have '_' or
             * "tls." / "errors." prefixes), no quotes around names. */
            assert_null(strchr(parts[i], '_'));
            assert_null(strchr(parts[i], '"'));
            assert_null(strstr(parts[i], "certgate"));
            assert_null(strstr(parts[i], "tls."));
            assert_null(strstr(parts[i], "backend"));
            assert_null(strstr(parts[i], "KDC"));
        }
        /* Sentences the person can act on. */
        assert_int_equal(w->what[strlen(w->what) - 1], '.');
        assert_int_equal(w->todo[strlen(w->todo) - 1], '.');
        assert_true(w->title[0] >= 'A' && w->title[0] <= 'Z');
    }
    /* An unknown kind still has words. */
    assert_non_null(cg_refusal_user((cg_refusal_kind)999)->todo);
    assert_non_null(cg_refusal_user((cg_refusal_kind)-1)->todo);
}

/* ---- pages ---- */

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Well-formed enough for a browser: one document, closed, every element
 * we open closed, no tag cut. */
static void assert_whole_page(const char *page, size_t n)
{
    assert_int_equal(strlen(page), n);
    assert_true(strncmp(page, "<!DOCTYPE html>\n<html lang=\"en\">", 32) == 0);
    assert_true(n > 9 && strcmp(page + n - 8, "</html>\n") == 0);
    const char *tags[][2] = { { "<li>", "</li>" }, { "<p", "</p>" }, { "<ul", "</ul>" }, { "<h1>", "</h1>" },
                              { "<h2>", "</h2>" }, { "<code>", "</code>" }, { "<section", "</section>" },
                              { "<title>", "</title>" }, { "<style>", "</style>" } };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        assert_int_equal(count(page, tags[i][0]), count(page, tags[i][1]));
    assert_int_equal(count(page, "<"), count(page, ">")); /* no tag cut, no raw bracket in text */
    assert_null(strstr(page, "<script"));
    /* Self-contained: nothing loaded from anywhere. */
    assert_null(strstr(page, "src="));
    assert_null(strstr(page, "href="));
    assert_null(strstr(page, "url("));
    assert_null(strstr(page, "@import"));
}

static size_t render(cg_refusal_kind k, const char *detail, const char *support, char *out, size_t cap)
{
    cg_page_values v = { .kind = k, .request_id = "5f3a9c1e-0-42", .operator_detail = detail, .support = support };
    return cg_error_page_render(&v, out, cap);
}

static void page_shows_status_title_words_and_id(void **state)
{
    (void)state;
    char page[CG_ERROR_PAGE_MAX];
    size_t n = render(CG_REFUSE_CERT_UNTRUSTED, NULL, NULL, page, sizeof page);
    assert_true(n > 0);
    assert_whole_page(page, n);
    assert_non_null(strstr(page, "<h1>403.16 \xe2\x80\x94 Your certificate was not accepted</h1>"));
    assert_non_null(strstr(page, "<title>403.16 \xe2\x80\x94 Your certificate was not accepted</title>"));
    assert_non_null(strstr(page, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
    assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(page, "What you can do"));
    assert_non_null(strstr(page, "5f3a9c1e-0-42"));
    assert_non_null(strstr(page, "client_cert_untrusted"));
    assert_null(strstr(page, "For the operator"));
    assert_null(strstr(page, "class=\"support\""));
    /* A status without a sub-status. */
    n = render(CG_REFUSE_NO_ROUTE, NULL, NULL, page, sizeof page);
    assert_whole_page(page, n);
    assert_non_null(strstr(page, "<h1>404 \xe2\x80\x94 Page not found</h1>"));
    assert_null(strstr(page, "404."));
}

/* Every kind, with a detail naming everything an attacker should not
 * learn: absent at the user level, present and escaped for operators. */
static void user_page_never_shows_the_detail(void **state)
{
    (void)state;
    const char *detail = "Mapping file /etc/certgate/secret-mapping.yaml line 12 rule \"ou=Ops<admin>\" "
                         "backend \"payroll-db\" at http://payroll.internal.example:8443 listener \"dmz-main\" "
                         "keytab /etc/krb5/proxy.keytab account svc-proxy@CORP.EXAMPLE user bob@CORP.EXAMPLE "
                         "tls.client_ca O'Brien & co";
    const char *markers[] = { "secret-mapping", "/etc/", "ou=Ops", "payroll", "internal.example", "8443",
                              "dmz-main", "proxy.keytab", "svc-proxy", "bob@", "CORP.EXAMPLE", "O'Brien",
                              "O&#39;Brien", "&lt;admin&gt;", "tls.client_ca" };
    char page[CG_ERROR_PAGE_MAX];
    for (int k = CG_REFUSE_BAD_REQUEST; k < CG_REFUSE_KIND_COUNT; k++) {
        size_t n = render(k, NULL, NULL, page, sizeof page);
        assert_true(n > 0);
        assert_whole_page(page, n);
        for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
            if (strstr(page, markers[i])) {
                print_error("kind %s: user page shows \"%s\"\n", cg_refusal_code(k), markers[i]);
                fail();
            }
        n = render(k, detail, NULL, page, sizeof page);
        assert_true(n > 0);
        assert_whole_page(page, n);
        assert_non_null(strstr(page, "For the operator"));
        assert_non_null(strstr(page, "/etc/certgate/secret-mapping.yaml line 12 rule &quot;ou=Ops&lt;admin&gt;&quot;"));
        assert_non_null(strstr(page, "bob@CORP.EXAMPLE"));
        assert_non_null(strstr(page, "O&#39;Brien &amp; co"));
        assert_null(strstr(page, "<admin>"));
    }
}

static void support_line_escaped_on_every_page(void **state)
{
    (void)state;
    char page[CG_ERROR_PAGE_MAX];
    for (int k = CG_REFUSE_BAD_REQUEST; k < CG_REFUSE_KIND_COUNT; k++) {
        size_t n = render(k, NULL, "Call <b>IT</b> & \"ask\" for Jo's desk at 555-0100", page, sizeof page);
        assert_whole_page(page, n);
        assert_non_null(strstr(page, "<p class=\"support\">Call &lt;b&gt;IT&lt;/b&gt; &amp; &quot;ask&quot; for "
                                     "Jo&#39;s desk at 555-0100</p>"));
        assert_null(strstr(page, "<b>"));
    }
    /* Control characters in a detail cannot break the page. */
    size_t n = render(CG_REFUSE_BAD_REQUEST, "a\r\nb\x01" "c\x7f", NULL, page, sizeof page);
    assert_whole_page(page, n);
    assert_non_null(strstr(page, "a  b c "));
}

/* The longest request id, support line and detail, all made of the
 * characters that grow most when escaped, fit the documented buffer. */
static void longest_page_fits_the_buffer(void **state)
{
    (void)state;
    char detail[sizeof ((cg_refusal *)0)->detail], support[CG_ERROR_SUPPORT_MAX + 1], id[48];
    memset(detail, '"', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    memset(support, '"', sizeof support - 1);
    support[sizeof support - 1] = '\0';
    memset(id, '"', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    char page[CG_ERROR_PAGE_MAX];
    for (int k = CG_REFUSE_BAD_REQUEST; k < CG_REFUSE_KIND_COUNT; k++) {
        cg_page_values v = { .kind = k, .request_id = id, .operator_detail = detail, .support = support };
        size_t n = cg_error_page_render(&v, page, sizeof page);
        assert_true(n > 0);
        assert_whole_page(page, n);
        assert_int_equal(count(page, "&quot;"), sizeof detail - 1 + sizeof support - 1 + sizeof id - 1);
    }
    /* A buffer too small for a page gets none, not half of one. */
    char small[512];
    memset(small, 'x', sizeof small);
    assert_int_equal(render(CG_REFUSE_NO_ROUTE, NULL, NULL, small, sizeof small), 0);
    assert_string_equal(small, "");
    assert_int_equal(render(CG_REFUSE_NO_ROUTE, NULL, NULL, small, 0), 0);
}

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0)
            return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return 0;
    }
    return 1;
}

static void no_certificate_page_lists_the_accepted_cas(void **state)
{
    (void)state;
    const char *cas[] = { "C=US, O=Example, CN=Example Root <R1>", "CN=Smart Card CA & Co" };
    cg_page_values v = { .kind = CG_REFUSE_CERT_MISSING, .request_id = "id-1", .ca_names = cas, .nca_names = 2 };
    char page[CG_ERROR_PAGE_MAX];
    size_t n = cg_error_page_render(&v, page, sizeof page);
    assert_whole_page(page, n);
    assert_non_null(strstr(page, "403.7 \xe2\x80\x94 Certificate required"));
    assert_non_null(strstr(page, "silently hold back a certificate that has expired"));
    assert_non_null(strstr(page, "<li>C=US, O=Example, CN=Example Root &lt;R1&gt;</li>"));
    assert_non_null(strstr(page, "<li>CN=Smart Card CA &amp; Co</li>"));
    assert_null(strstr(page, " more</li>"));
    /* Other kinds never list them. */
    v.kind = CG_REFUSE_CERT_UNTRUSTED;
    n = cg_error_page_render(&v, page, sizeof page);
    assert_whole_page(page, n);
    assert_null(strstr(page, "Example Root"));
    /* None configured to be sent: the explanation without a list. */
    v.kind = CG_REFUSE_CERT_MISSING;
    v.nca_names = 0;
    n = cg_error_page_render(&v, page, sizeof page);
    assert_whole_page(page, n);
    assert_non_null(strstr(page, "silently hold back"));
    assert_null(strstr(page, "<ul"));
}

/* 1,000 CAs with long names that grow when escaped, and multi-byte
 * characters where a name is cut: the list stops at the cap (or earlier
 * when the buffer is small), says how many it left out, and the page
 * stays whole. */
static void many_cas_stay_bounded_and_well_formed(void **state)
{
    (void)state;
    enum { N = 1000 };
    static char names[N][400];
    static const char *cas[N];
    for (int i = 0; i < N; i++) {
        int len = snprintf(names[i], sizeof names[i], "CN=CA %d <&> ", i);
        while (len + 2 < (int)sizeof names[i] - 1) { /* "é" to the end: a cut lands inside one */
            names[i][len++] = '\xc3';
            names[i][len++] = '\xa9';
        }
        names[i][len] = '\0';
        cas[i] = names[i];
    }
    cg_page_values v = { .kind = CG_REFUSE_CERT_MISSING, .request_id = "id-2", .ca_names = cas, .nca_names = N };
    static char page[CG_ERROR_PAGE_MAX];
    size_t n = cg_error_page_render(&v, page, sizeof page);
    assert_true(n > 0 && n < sizeof page);
    assert_whole_page(page, n);
    assert_true(valid_utf8(page));
    size_t shown = count(page, "<li>CN=CA ");
    assert_int_equal(shown, CG_ERROR_PAGE_MAX_CAS);
    char more[64];
    snprintf(more, sizeof more, "<li>and %d more</li>", N - (int)shown);
    assert_non_null(strstr(page, more));
    assert_non_null(strstr(page, "\xe2\x80\xa6</li>")); /* cut names end with an ellipsis */
    assert_non_null(strstr(page, "&lt;&amp;&gt;"));

    /* A buffer with room for only part of the list: fewer names, the
     * rest counted, never a cut tag. Every size from "no room for the
     * list" up. */
    static char small[CG_ERROR_PAGE_MAX];
    cg_page_values none = v;
    none.nca_names = 0;
    size_t base = cg_error_page_render(&none, small, sizeof small);
    for (size_t cap = base; cap < base + 3000; cap += 97) {
        n = cg_error_page_render(&v, small, cap);
        if (n == 0)
            continue; /* too small for the "and N" line as well */
        assert_true(n < cap);
        assert_whole_page(small, n);
        assert_true(valid_utf8(small));
        shown = count(small, "<li>CN=CA ");
        if (shown)
            snprintf(more, sizeof more, "<li>and %d more</li>", N - (int)shown);
        else
            snprintf(more, sizeof more, "<li>and %d authorities</li>", N);
        assert_non_null(strstr(small, more));
    }
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
    assert_string_equal(out, "\"\""); /* no room for a character: still one value */
    char out2[24];
    cg_log_quote(out2, sizeof out2, "a b c d e f g h i j k l", 23);
    assert_string_equal(out2, "\"a b c d e f ...\"");
    /* a bare value cut ends in "...", still bare */
    char bare[8];
    cg_log_quote(bare, sizeof bare, "abcdefghij", 10);
    assert_string_equal(bare, "abcd...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refusal_table_is_complete),
        cmocka_unit_test(iis_substatuses),
        cmocka_unit_test(every_kind_has_user_words),
        cmocka_unit_test(page_shows_status_title_words_and_id),
        cmocka_unit_test(user_page_never_shows_the_detail),
        cmocka_unit_test(support_line_escaped_on_every_page),
        cmocka_unit_test(longest_page_fits_the_buffer),
        cmocka_unit_test(no_certificate_page_lists_the_accepted_cas),
        cmocka_unit_test(many_cas_stay_bounded_and_well_formed),
        cmocka_unit_test(diag_formats_like_a_compiler),
        cmocka_unit_test(log_quote_keeps_safe_values_bare),
        cmocka_unit_test(log_quote_cannot_forge_fields_or_lines),
        cmocka_unit_test(log_quote_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
