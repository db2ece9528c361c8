/* Unit tests for retry.c: which requests are sent again after a pooled
 * backend connection was lost. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "http/retry.h"

static cg_slice s(const char *m) { return (cg_slice){ m, strlen(m) }; }

static void test_safe_methods(void **state)
{
    (void)state;
    const char *safe[] = { "GET", "HEAD", "OPTIONS", "TRACE" };
    const char *unsafe[] = { "POST", "PATCH", "DELETE", "PUT", "LOCK", "get", "GETX", "GE", "" };
    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        assert_true(cg_retry_method_safe(s(safe[i])));
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++)
        assert_false(cg_retry_method_safe(s(unsafe[i])));
}

static void test_lost_connection_verdicts(void **state)
{
    (void)state;
    cg_retry_facts f = { .method = s("GET"), .request_sent = true, .reused = true };
    assert_int_equal(cg_retry_after_lost_connection(&f), CG_RETRY_AGAIN);
    f.method = s("POST");
    assert_int_equal(cg_retry_after_lost_connection(&f), CG_RETRY_NOT_SAFE);
    f.method = s("DELETE");
    assert_int_equal(cg_retry_after_lost_connection(&f), CG_RETRY_NOT_SAFE);
    f.method = s("GET");
    cg_retry_facts g = f;
    g.retried = true;
    assert_int_equal(cg_retry_after_lost_connection(&g), CG_RETRY_NO);
    g = f;
    g.reused = false; /* a new connection failing is the backend's answer */
    assert_int_equal(cg_retry_after_lost_connection(&g), CG_RETRY_NO);
    g = f;
    g.response_started = true;
    assert_int_equal(cg_retry_after_lost_connection(&g), CG_RETRY_NO);
    g = f;
    g.has_body = true;
    assert_int_equal(cg_retry_after_lost_connection(&g), CG_RETRY_NO);
    g = f;
    g.request_sent = false;
    assert_int_equal(cg_retry_after_lost_connection(&g), CG_RETRY_NO);
}

static cg_http_header hdr(const char *name, const char *value)
{
    return (cg_http_header){ { name, strlen(name) }, { value, strlen(value) } };
}

static void test_after_401(void **state)
{
    (void)state;
    cg_http_header negotiate[] = { hdr("Content-Type", "text/html"), hdr("www-authenticate", "Negotiate") };
    cg_http_header basic[] = { hdr("WWW-Authenticate", "Basic realm=\"x\"") };
    cg_http_response res = { .status = 401 };
    cg_retry_401_facts f = { .delegates = true, .replayable = true, .request_sent = true, .sent_token = true,
                             .res = &res };
    /* Our ticket refused: once more, whatever the challenge. */
    assert_true(cg_retry_after_401(&f));
    cg_retry_401_facts g = f;
    g.retried = true;
    assert_false(cg_retry_after_401(&g));
    g = f;
    g.delegates = false; /* not ours to answer: the client gets the 401 */
    assert_false(cg_retry_after_401(&g));
    g = f;
    g.replayable = false; /* a body too big to keep */
    assert_false(cg_retry_after_401(&g));
    g = f;
    g.request_sent = false; /* answered before the body was all sent */
    assert_false(cg_retry_after_401(&g));
    /* No token sent (connection-bound, send_on_401_only): only when the
     * backend asks for Negotiate. */
    g = f;
    g.sent_token = false;
    assert_false(cg_retry_after_401(&g));
    res.headers = basic;
    res.nheaders = 1;
    assert_false(cg_retry_after_401(&g));
    res.headers = negotiate;
    res.nheaders = 2;
    assert_true(cg_retry_after_401(&g));
}

static void test_keep_body(void **state)
{
    (void)state;
    cg_buf copy = { 0 };
    bool keep = true;
    cg_retry_keep_body(&copy, &keep, "abc", 3, 8);
    cg_retry_keep_body(&copy, &keep, "defgh", 5, 8);
    assert_true(keep);
    assert_int_equal(copy.len, 8);
    assert_memory_equal(copy.data, "abcdefgh", 8);
    cg_retry_keep_body(&copy, &keep, "i", 1, 8); /* one byte over: nothing kept, for good */
    assert_false(keep);
    assert_null(copy.data);
    assert_int_equal(copy.len, 0);
    cg_retry_keep_body(&copy, &keep, "j", 1, 8);
    assert_null(copy.data);
    bool no = false;
    cg_retry_keep_body(&copy, &no, "k", 1, 8);
    assert_null(copy.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_methods),
        cmocka_unit_test(test_lost_connection_verdicts),
        cmocka_unit_test(test_after_401),
        cmocka_unit_test(test_keep_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
