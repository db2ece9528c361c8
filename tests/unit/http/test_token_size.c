/* token_size.h: which backend answers refuse the size of the token certgate
 * added, and the operator sentence naming the sizes and the limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "http/token_size.h"

static cg_token_answer answer(int status, bool closes, size_t auth)
{
    return (cg_token_answer){ .status = status, .closes = closes, .auth_header_bytes = auth, .head_bytes = auth + 300,
                              .backend = "app", .url = "http://iis.example.test", .principal = "alice@EXAMPLE.TEST" };
}

static void test_which_answers(void **s)
{
    (void)s;
    cg_refusal r;
    cg_token_answer a = answer(431, false, 9700);
    assert_true(cg_token_too_large(&a, &r));
    a = answer(400, true, 9700); /* http.sys and Apache close after refusing a head */
    assert_true(cg_token_too_large(&a, &r));
    a = answer(413, true, 9700);
    assert_true(cg_token_too_large(&a, &r));
    a = answer(400, false, 9700); /* the application's own 400 keeps the connection: passed on */
    assert_false(cg_token_too_large(&a, &r));
    a = answer(413, false, 9700);
    assert_false(cg_token_too_large(&a, &r));
    a = answer(431, true, 0); /* no token sent: not ours to explain */
    assert_false(cg_token_too_large(&a, &r));
    for (int st = 200; st < 600; st++) {
        if (st == 400 || st == 413 || st == 431)
            continue;
        a = answer(st, true, 9700);
        assert_false(cg_token_too_large(&a, &r));
    }
}

static void test_sentence_names_sizes_and_limits(void **s)
{
    (void)s;
    cg_refusal r;
    cg_token_answer a = answer(400, true, 9658);
    assert_true(cg_token_too_large(&a, &r));
    assert_int_equal(r.kind, CG_REFUSE_TOKEN_TOO_LARGE);
    assert_int_equal(cg_refusal_status(r.kind), 502);
    assert_string_equal(cg_refusal_code(r.kind), "backend_token_too_large");
    static const char *const needles[] = { "\"app\"", "http://iis.example.test", "400", "9658 bytes", "9958 bytes",
                                           "alice@EXAMPLE.TEST", "MaxFieldLength", "MaxRequestBytes",
                                           "LimitRequestFieldSize", "group" };
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        if (!strstr(r.detail, needles[i]))
            fail_msg("\"%s\" not in: %s", needles[i], r.detail);
    assert_true(strlen(r.detail) < sizeof r.detail - 1);
    assert_null(strstr(r.detail, "cookies")); /* the token is most of the head */
    a.head_bytes = 9658 + 12000;
    assert_true(cg_token_too_large(&a, &r));
    assert_non_null(strstr(r.detail, "cookies"));
    /* the user's words name the cause, nothing inside */
    const cg_refusal_words *w = cg_refusal_user(r.kind);
    assert_non_null(strstr(w->what, "groups"));
    assert_null(strstr(w->what, "Kerberos"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_which_answers),
        cmocka_unit_test(test_sentence_names_sizes_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
