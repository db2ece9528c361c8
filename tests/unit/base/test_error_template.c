/* Operator page templates (errors.templates, error_page.h): placeholders
 * substituted and escaped, the operator sentence only for operators,
 * problems at the template's line:column, the size bounds, and which key
 * serves which refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/error_page.h"

static cg_error_template *parse_ok(const char *text)
{
    cg_diag d;
    cg_diag_init(&d);
    cg_error_template *t = cg_error_template_parse(text, strlen(text), "page.html", &d);
    if (!t || d.count)
        cg_diag_print(&d, stderr);
    assert_non_null(t);
    assert_int_equal(d.count, 0);
    cg_diag_free(&d);
    return t;
}

/* text must be refused with an error at line:col containing sub. */
static void check_refused(const char *text, size_t len, int line, int col, const char *sub, int at)
{
    cg_diag d;
    cg_diag_init(&d);
    cg_error_template *t = cg_error_template_parse(text, len, "page.html", &d);
    bool found = false;
    for (size_t i = 0; i < d.count; i++)
        if (d.items[i].severity == CG_DIAG_ERROR && d.items[i].line == line && d.items[i].column == col &&
            strstr(d.items[i].message, sub) && strcmp(d.items[i].file, "page.html") == 0)
            found = true;
    if (t || !found) {
        fprintf(stderr, "--- line %d: expected an error at %d:%d containing \"%s\"; got:\n", at, line, col, sub);
        cg_diag_print(&d, stderr);
        fail();
    }
    cg_diag_free(&d);
}
#define expect_refused(text, line, col, sub) check_refused((text), strlen(text), (line), (col), (sub), __LINE__)

/* Renders t into a buffer of exactly its page_max bytes (so a page that
 * needed more would show up under ASan), returned malloc'd. */
static char *render(const cg_error_template *t, const cg_page_values *v)
{
    size_t cap = cg_error_template_page_max(t);
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n = cg_error_template_render(t, v, out, cap);
    assert_true(n > 0);
    assert_int_equal(strlen(out), n);
    assert_true(n < cap);
    return out;
}

static const char every[] =
    "<h1>{{status}} {{title}}</h1>\n"
    "<p>{{what_happened}}</p><p>{{what_to_do}}</p>\n"
    "<p>id={{request_id}} code={{code}}</p>\n"
    "<p class=s>{{support}}</p>\n"
    "{{ca_names}}"
    "<pre>{{operator_detail}}</pre>\n";

static void substitutes_every_placeholder(void **state)
{
    (void)state;
    cg_error_template *t = parse_ok(every);
    cg_page_values v = { .kind = CG_REFUSE_CERT_REVOKED, .request_id = "5f3a9c1e-0-42",
                         .support = "Call 555-0100" };
    char *page = render(t, &v);
    const cg_refusal_words *w = cg_refusal_user(CG_REFUSE_CERT_REVOKED);
    char want[1024];
    snprintf(want, sizeof want, "<h1>403.13 %s</h1>\n<p>%s</p><p>%s</p>\n<p>id=5f3a9c1e-0-42 "
             "code=client_cert_revoked</p>\n<p class=s>Call 555-0100</p>\n<pre></pre>\n", w->title, w->what, w->todo);
    assert_string_equal(page, want);
    free(page);

    /* No request id: "-", as on the built-in page; no support line: empty;
     * ca_names only on 403.7. */
    const char *cas[] = { "CN=Root" };
    cg_page_values none = { .kind = CG_REFUSE_NO_ROUTE, .ca_names = cas, .nca_names = 1 };
    page = render(t, &none);
    assert_non_null(strstr(page, "<h1>404 Page not found</h1>"));
    assert_non_null(strstr(page, "id=- code=no_route"));
    assert_non_null(strstr(page, "<p class=s></p>"));
    assert_null(strstr(page, "CN=Root"));
    free(page);

    /* Spaces inside the braces are allowed, and a template without any
     * placeholder is a fixed page. */
    cg_error_template *spaced = parse_ok("<p>{{ code }}</p>{{title  }}");
    page = render(spaced, &v);
    assert_string_equal(page, "<p>client_cert_revoked</p>Your certificate has been revoked");
    free(page);
    cg_error_template_free(spaced);
    cg_error_template *fixed = parse_ok("<p>Sorry { not } a {placeholder}</p>");
    page = render(fixed, &v);
    assert_string_equal(page, "<p>Sorry { not } a {placeholder}</p>");
    free(page);
    cg_error_template_free(fixed);
    cg_error_template_free(t);
}

/* Every value is escaped; the CA list is markup whose items are. */
static void escapes_every_value(void **state)
{
    (void)state;
    cg_error_template *t = parse_ok(every);
    const char *cas[] = { "CN=<script>alert(1)</script>, O=\"A&B\"", "O='x'" };
    cg_page_values v = { .kind = CG_REFUSE_CERT_MISSING, .request_id = "<id>",
                         .support = "Help <b>desk</b> & \"co\" 'x'", .operator_detail = "file </pre><script>",
                         .ca_names = cas, .nca_names = 2 };
    char *page = render(t, &v);
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<b>"));
    assert_non_null(strstr(page, "id=&lt;id&gt;"));
    assert_non_null(strstr(page, "Help &lt;b&gt;desk&lt;/b&gt; &amp; &quot;co&quot; &#39;x&#39;"));
    assert_non_null(strstr(page, "<pre>file &lt;/pre&gt;&lt;script&gt;</pre>"));
    assert_non_null(strstr(page, "<ul class=\"cas\">\n<li>CN=&lt;script&gt;alert(1)&lt;/script&gt;, "
                                 "O=&quot;A&amp;B&quot;</li>\n<li>O=&#39;x&#39;</li>\n</ul>\n"));
    free(page);
    cg_error_template_free(t);
}

/* The user/operator rule holds for templates: the sentence renders only
 * when the caller passed it (operator level). */
static void operator_detail_only_for_operators(void **state)
{
    (void)state;
    cg_error_template *t = parse_ok("<p>{{title}}</p><p>{{operator_detail}}</p>");
    const char *detail = "backend \"payroll\" at http://10.1.2.3:8080 refused";
    for (int k = CG_REFUSE_BAD_REQUEST; k < CG_REFUSE_KIND_COUNT; k++) {
        cg_page_values user = { .kind = k, .request_id = "r" };
        char *page = render(t, &user);
        assert_null(strstr(page, "payroll"));
        assert_non_null(strstr(page, "<p></p>"));
        free(page);
        cg_page_values op = user;
        op.operator_detail = detail;
        page = render(t, &op);
        assert_non_null(strstr(page, "backend &quot;payroll&quot; at http://10.1.2.3:8080 refused"));
        free(page);
    }
    cg_error_template_free(t);
}

/* Problems at the template's own line:column (columns in characters). */
static void unknown_placeholder_at_its_position(void **state)
{
    (void)state;
    expect_refused("<p>{{titel}}</p>", 1, 4,
                   "unknown placeholder {{titel}} (expected one of {{status}}, {{title}}, {{what_happened}}, "
                   "{{what_to_do}}, {{request_id}}, {{code}}, {{support}}, {{ca_names}}, {{operator_detail}})");
    expect_refused("<html>\n<p>\xc3\xa9t\xc3\xa9 {{request-id}}</p>\n", 2, 8, "unknown placeholder {{request-id}}");
    expect_refused("line\n\n  {{}}", 3, 3, "unknown placeholder {{}}");
    expect_refused("<p>{{Status}}</p>", 1, 4, "unknown placeholder {{Status}}");
    /* "{{" that starts nothing: unclosed, across a line, with markup inside. */
    expect_refused("<p>{{title</p>", 1, 4, "\"{{\" does not start a placeholder such as {{title}}");
    expect_refused("<p>{{title\n}}</p>", 1, 4, "does not start a placeholder");
    expect_refused("ok {{status}}\nx {{<b>}}", 2, 3, "does not start a placeholder");
    expect_refused("{{{title}}}", 1, 1, "does not start a placeholder");
    /* Every problem is reported, up to a bound. */
    cg_diag d;
    cg_diag_init(&d);
    char many[4096] = "";
    for (int i = 0; i < 50; i++)
        strcat(many, "{{nope}}\n");
    assert_null(cg_error_template_parse(many, strlen(many), "page.html", &d));
    assert_int_equal(d.errors, 11); /* 10, then "40 more problems" */
    assert_int_equal(d.items[9].line, 10);
    assert_non_null(strstr(d.items[10].message, "40 more problems"));
    cg_diag_free(&d);
}

static void invalid_text_refused(void **state)
{
    (void)state;
    expect_refused("<p>ok</p>\n<p>caf\xe9</p>", 2, 7, "not valid UTF-8");
    expect_refused("a\xc0\xaf", 1, 2, "not valid UTF-8");       /* overlong '/' */
    expect_refused("a\xed\xa0\x80", 1, 2, "not valid UTF-8");   /* a surrogate */
    expect_refused("a\xf4\x90\x80\x80", 1, 2, "not valid UTF-8"); /* past U+10FFFF */
    expect_refused("ab\xe2\x82", 1, 3, "not valid UTF-8");      /* cut at the end */
    check_refused("ab\0cd", 5, 1, 3, "a NUL byte", __LINE__);
    /* Four-byte characters are fine. */
    cg_error_template *t = parse_ok("\xf0\x9f\x94\x92 {{code}}");
    cg_error_template_free(t);
}

static void oversize_template_refused(void **state)
{
    (void)state;
    size_t n = CG_ERROR_TEMPLATE_FILE_MAX + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_error_template_parse(big, n, "page.html", &d));
    assert_non_null(strstr(d.items[0].message, "the template is 65537 bytes (expected at most 65536)"));
    cg_diag_free(&d);
    /* Exactly at the bound is fine. */
    cg_error_template *t = parse_ok((big[n - 1] = '\0', big));
    assert_int_equal(cg_error_template_page_max(t), CG_ERROR_TEMPLATE_FILE_MAX + 1);
    cg_error_template_free(t);
    free(big);
}

/* A page can never outgrow the buffer its load sized: every kind, every
 * value at its longest and full of characters that expand when escaped. */
static void longest_values_fit_the_page_max(void **state)
{
    (void)state;
    char support[CG_ERROR_SUPPORT_MAX + 1], detail[sizeof((cg_refusal *)0)->detail], id[200], ca[300];
    memset(support, '"', sizeof support - 1);
    support[sizeof support - 1] = '\0';
    memset(detail, '"', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    memset(id, '"', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    memset(ca, '"', sizeof ca - 1);
    ca[sizeof ca - 1] = '\0';
    const char *cas[1000];
    for (size_t i = 0; i < 1000; i++)
        cas[i] = ca;
    cg_error_template *t = parse_ok(every);
    size_t max = cg_error_template_page_max(t);
    for (int k = CG_REFUSE_BAD_REQUEST; k < CG_REFUSE_KIND_COUNT; k++) {
        cg_page_values v = { .kind = k, .request_id = id, .support = support, .operator_detail = detail,
                             .ca_names = cas, .nca_names = 1000 };
        char *page = render(t, &v);
        assert_true(strlen(page) < max);
        if (k == CG_REFUSE_CERT_MISSING) {
            assert_int_equal(strstr(page, "</ul>") != NULL, 1);
            assert_non_null(strstr(page, "<li>and 980 more</li>"));
            /* One byte short of the bound: nothing at all, never a cut page. */
            char *small = malloc(max - 1);
            assert_non_null(small);
            assert_int_equal(cg_error_template_render(t, &v, small, max - 1), 0);
            assert_string_equal(small, "");
            free(small);
        }
        free(page);
    }
    cg_error_template_free(t);

    /* A template whose longest page would pass CG_ERROR_TEMPLATE_PAGE_MAX
     * is refused at the placeholder that crosses it. */
    char many[4096] = "";
    for (int i = 0; i < 20; i++)
        strcat(many, "{{ca_names}}\n");
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_error_template_parse(many, strlen(many), "page.html", &d));
    assert_int_equal(d.errors, 1);
    assert_true(d.items[0].line > 1 && d.items[0].line <= 20);
    assert_int_equal(d.items[0].column, 1);
    assert_non_null(strstr(d.items[0].message, "the page can reach more than 262144 bytes"));
    cg_diag_free(&d);
}

/* Files: read and checked once; what is wrong with the file itself comes
 * back in why, for the configuration's position. */
static void load_from_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/cg-tpl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], why[512];
    cg_diag d;
    cg_diag_init(&d);

    snprintf(path, sizeof path, "%s/ok.html", dir);
    FILE *f = fopen(path, "w");
    fputs("<p>{{status}}</p>\n", f);
    fclose(f);
    cg_error_template *t = cg_error_template_load(path, &d, why, sizeof why);
    assert_non_null(t);
    assert_string_equal(why, "");
    cg_page_values v = { .kind = CG_REFUSE_CERT_MISSING };
    char *page = render(t, &v);
    assert_string_equal(page, "<p>403.7</p>\n");
    free(page);
    cg_error_template_free(t);

    snprintf(path, sizeof path, "%s/bad.html", dir);
    f = fopen(path, "w");
    fputs("<p>\n  {{oops}}</p>\n", f);
    fclose(f);
    assert_null(cg_error_template_load(path, &d, why, sizeof why));
    assert_string_equal(why, "");
    assert_int_equal(d.errors, 1);
    assert_string_equal(d.items[0].file, path);
    assert_int_equal(d.items[0].line, 2);
    assert_int_equal(d.items[0].column, 3);

    snprintf(path, sizeof path, "%s/big.html", dir);
    f = fopen(path, "w");
    for (unsigned i = 0; i <= CG_ERROR_TEMPLATE_FILE_MAX; i++)
        fputc('x', f);
    fclose(f);
    assert_null(cg_error_template_load(path, &d, why, sizeof why));
    assert_non_null(strstr(why, "is 65537 bytes (expected at most 65536)"));
    unlink(path);

    snprintf(path, sizeof path, "%s/empty.html", dir);
    fclose(fopen(path, "w"));
    assert_null(cg_error_template_load(path, &d, why, sizeof why));
    assert_non_null(strstr(why, "is empty"));
    unlink(path);

    assert_null(cg_error_template_load(dir, &d, why, sizeof why));
    assert_non_null(strstr(why, "is not a regular file"));
    snprintf(path, sizeof path, "%s/missing.html", dir);
    assert_null(cg_error_template_load(path, &d, why, sizeof why));
    assert_non_null(strstr(why, "No such file or directory"));
    assert_int_equal(d.errors, 1); /* file problems are not in diag */

    snprintf(path, sizeof path, "%s/ok.html", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/bad.html", dir);
    unlink(path);
    rmdir(dir);
    cg_diag_free(&d);
}

/* The most specific key wins: "403.7" over "403" over "default". */
static void most_specific_key(void **state)
{
    (void)state;
    assert_int_equal(cg_error_template_match("403.7", CG_REFUSE_CERT_MISSING), 3);
    assert_int_equal(cg_error_template_match("403", CG_REFUSE_CERT_MISSING), 2);
    assert_int_equal(cg_error_template_match("default", CG_REFUSE_CERT_MISSING), 1);
    assert_int_equal(cg_error_template_match("403.13", CG_REFUSE_CERT_MISSING), 0);
    assert_int_equal(cg_error_template_match("503", CG_REFUSE_CERT_MISSING), 0);
    assert_int_equal(cg_error_template_match("403", CG_REFUSE_MAP_NONE_403), 2);
    assert_int_equal(cg_error_template_match("403.0", CG_REFUSE_MAP_NONE_403), -1);
    assert_int_equal(cg_error_template_match("401.2", CG_REFUSE_MAP_NONE), 3);
    assert_int_equal(cg_error_template_match("401", CG_REFUSE_MAP_NONE), 2);
    assert_int_equal(cg_error_template_match("503", CG_REFUSE_OVERLOADED), 2);
    assert_int_equal(cg_error_template_match("503", CG_REFUSE_KDC_UNREACHABLE), 2);
    assert_int_equal(cg_error_template_match("503.1", CG_REFUSE_OVERLOADED), 0);
    const char *bad[] = { "", "4", "40", "4031", "403.", "403.07", "403.x", "403.7.1", "+403", " 403", "Default",
                          "403.12345", "600", "abc" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cg_error_template_match(bad[i], CG_REFUSE_CERT_MISSING) != -1)
            fail_msg("\"%s\" should be malformed", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(substitutes_every_placeholder),
        cmocka_unit_test(escapes_every_value),
        cmocka_unit_test(operator_detail_only_for_operators),
        cmocka_unit_test(unknown_placeholder_at_its_position),
        cmocka_unit_test(invalid_text_refused),
        cmocka_unit_test(oversize_template_refused),
        cmocka_unit_test(longest_values_fit_the_page_max),
        cmocka_unit_test(load_from_files),
        cmocka_unit_test(most_specific_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
