/* Unit tests of request ids (worker.c, cg_worker_request_id): the text is
 * "<boot>-<worker>-<seq>" exactly as the printf format of that shape gives
 * it, for every sequence number, across every carry (9 -> 10, 99 -> 100
 * ...), after request_seq is changed behind its back, and cut like
 * snprintf into a short buffer; and two workers never give the same id. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/worker.h"

/* What the id must be: the format the ids have always had. */
static void want_id(char *out, size_t cap, const char *boot, unsigned worker, uint64_t seq)
{
    snprintf(out, cap, "%s-%u-%" PRIu64, boot, worker, seq);
}

static void check_next(cg_worker *w, const char *boot)
{
    char got[48], want[48];
    uint64_t seq = w->request_seq + 1;
    size_t n = cg_worker_request_id(w, got, sizeof got);
    want_id(want, sizeof want, boot, w->id, seq);
    if (strcmp(got, want) != 0 || n != strlen(want)) {
        print_error("seq %" PRIu64 ": got \"%s\" (%zu), want \"%s\"\n", seq, got, n, want);
        fail();
    }
    assert_int_equal(w->request_seq, seq);
}

static void test_request_ids(void **state)
{
    (void)state;
    cg_worker_seed_request_ids();
    cg_worker *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->id = 3;
    char first[48];
    size_t first_len = cg_worker_request_id(w, first, sizeof first);
    assert_int_equal(first_len, strlen(first));
    /* the boot part: 8 lowercase hex digits, the same for every id */
    assert_true(strlen(first) > 9 && first[8] == '-');
    for (int i = 0; i < 8; i++)
        assert_non_null(strchr("0123456789abcdef", first[i]));
    char boot[9];
    memcpy(boot, first, 8);
    boot[8] = '\0';
    char want[48];
    want_id(want, sizeof want, boot, 3, 1);
    assert_string_equal(first, want);

    for (int i = 0; i < 120000; i++) /* 9, 99 ... 99999 carried */
        check_next(w, boot);
    /* changed behind its back: rebuilt, then counted on from there */
    uint64_t starts[] = { 0, 41, 98, 999999, 9999999999999999998u, 18446744073709551613u, 12345 };
    for (size_t k = 0; k < sizeof starts / sizeof *starts; k++) {
        w->request_seq = starts[k];
        for (int i = 0; i < 3; i++)
            check_next(w, boot);
    }
    /* a short buffer: cut like snprintf, and the sequence still moves on */
    char small[12], full[48];
    uint64_t seq = w->request_seq + 1;
    size_t n = cg_worker_request_id(w, small, sizeof small);
    want_id(full, sizeof full, boot, 3, seq);
    assert_int_equal(n, sizeof small - 1);
    assert_memory_equal(small, full, sizeof small - 1);
    assert_int_equal(small[sizeof small - 1], '\0');
    check_next(w, boot);

    /* another worker: another middle part, so never the same id */
    cg_worker *w2 = calloc(1, sizeof *w2);
    assert_non_null(w2);
    w2->id = 30;
    w->request_seq = 0;
    for (int i = 0; i < 1000; i++) {
        char a[48], b[48];
        cg_worker_request_id(w, a, sizeof a);
        cg_worker_request_id(w2, b, sizeof b);
        assert_string_not_equal(a, b);
    }
    free(w2);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
