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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_methods),
        cmocka_unit_test(test_lost_connection_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
