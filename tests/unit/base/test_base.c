/* Unit tests for the base helpers: src/base/text.h, src/base/file.h, src/base/vec.h,
 * src/base/list.h, src/base/oid.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/file.h"
#include "base/list.h"
#include "base/oid.h"
#include "base/text.h"
#include "base/vec.h"

#include "fixtures.h"

/* ---- text.h ---- */

static void test_ascii(void **state)
{
    (void)state;
    assert_int_equal(cg_ascii_lower('A'), 'a');
    assert_int_equal(cg_ascii_lower('z'), 'z');
    assert_int_equal(cg_ascii_lower('@'), '@');
    assert_int_equal(cg_ascii_lower('['), '[');
    assert_int_equal(cg_ascii_upper('a'), 'A');
    assert_int_equal(cg_ascii_upper('`'), '`');
    /* Bytes outside ASCII are never letters, as char or as unsigned char. */
    assert_int_equal(cg_ascii_lower((char)0xC1), (char)0xC1);
    assert_int_equal(cg_ascii_lower(0xC1), 0xC1);
    assert_int_equal(cg_ascii_upper(0xE1), 0xE1);
    assert_false(cg_ascii_is_alpha((char)0xE9));
    assert_true(cg_ascii_is_digit('7'));
    assert_false(cg_ascii_is_digit('a'));

    assert_true(cg_ascii_ieq("Content-LENGTH", "content-length", 14));
    assert_false(cg_ascii_ieq("@", "`", 1)); /* 0x40 and 0x60 differ only by the case bit */
    assert_false(cg_ascii_ieq("\xC1", "\xE1", 1));
    char low[8];
    cg_ascii_lower_copy(low, "MiXeD\xC9!", 8); /* with the NUL */
    assert_string_equal(low, "mixed\xC9!");
    assert_true(cg_ascii_ieq_str("OID.", 4, "oid."));
    assert_false(cg_ascii_ieq_str("OID", 3, "oid."));
    assert_false(cg_ascii_ieq_str("OID.x", 5, "oid."));
}

static void test_hex(void **state)
{
    (void)state;
    assert_int_equal(cg_hex_value('0'), 0);
    assert_int_equal(cg_hex_value('9'), 9);
    assert_int_equal(cg_hex_value('a'), 10);
    assert_int_equal(cg_hex_value('F'), 15);
    assert_int_equal(cg_hex_value('g'), -1);
    assert_int_equal(cg_hex_value('G'), -1);
    assert_int_equal(cg_hex_value('/'), -1);
    assert_int_equal(cg_hex_value(0xE1), -1);    /* 0xC1 | 0x20 is not 'a' */
    assert_int_equal(cg_hex_value((char)0xC6), -1); /* negative char */
    for (int c = 0; c < 256; c++) {
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        assert_int_equal(cg_hex_value(c) >= 0, hex);
    }

    const unsigned char b[] = { 0x00, 0xAB, 0x7F, 0xF0 };
    char out[9];
    assert_int_equal(cg_hex_encode(b, 4, out, sizeof out, false), 8);
    assert_string_equal(out, "00ab7ff0");
    assert_int_equal(cg_hex_encode(b, 4, out, sizeof out, true), 8);
    assert_string_equal(out, "00AB7FF0");
    /* Cut to whole bytes that fit, always terminated. */
    assert_int_equal(cg_hex_encode(b, 4, out, 6, true), 4);
    assert_string_equal(out, "00AB");
    assert_int_equal(cg_hex_encode(b, 4, out, 1, true), 0);
    assert_string_equal(out, "");
    out[0] = 'x';
    assert_int_equal(cg_hex_encode(b, 4, out, 0, true), 0);
    assert_int_equal(out[0], 'x');
}

static void test_fmt(void **state)
{
    (void)state;
    char b[8];
    assert_int_equal(cg_fmt_into(b, sizeof b, "%s", "abc"), 3);
    assert_string_equal(b, "abc");
    assert_int_equal(cg_fmt_into(b, sizeof b, "%s", "abcdefghij"), 7); /* what it wrote, not what it wanted */
    assert_string_equal(b, "abcdefg");
    assert_int_equal(cg_fmt_into(b, 0, "%s", "abc"), 0);

    char a[12];
    size_t n = cg_fmt_append(a, sizeof a, 0, "%s", "one");
    n = cg_fmt_append(a, sizeof a, n, ", %s", "two");
    assert_string_equal(a, "one, two");
    n = cg_fmt_append(a, sizeof a, n, ", %s", "three");
    assert_int_equal(n, sizeof a);
    assert_string_equal(a, "one, two...");
    assert_int_equal(cg_fmt_append(a, sizeof a, n, "more"), sizeof a); /* full: unchanged */

    char s[32];
    cg_fmt_size_units(64u << 20, s, sizeof s);
    assert_string_equal(s, "64 MiB");
    cg_fmt_size_units(1u << 30, s, sizeof s);
    assert_string_equal(s, "1 GiB");
    cg_fmt_size_units(1536, s, sizeof s);
    assert_string_equal(s, "1536 bytes");
    cg_fmt_ms(10000, s, sizeof s);
    assert_string_equal(s, "10s");
    cg_fmt_ms(1500, s, sizeof s);
    assert_string_equal(s, "1500ms");
    cg_fmt_time_utc(0, s, sizeof s);
    assert_string_equal(s, "1970-01-01 00:00:00 UTC");
}

/* ---- file.h ---- */

static char tmpdir[64];

static char *write_tmp(const char *name, const void *data, size_t len)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fx_write_file(path, data, len);
    return path;
}

static void test_file_read(void **state)
{
    (void)state;
    cg_file_error e;
    size_t len = 99;

    const char *p = write_tmp("ok", "hello\n", 6);
    unsigned char *b = cg_file_read(p, 6, CG_FILE_REGULAR, &len, &e);
    assert_non_null(b);
    assert_int_equal(len, 6);
    assert_int_equal(e.fail, CG_FILE_OK);
    assert_memory_equal(b, "hello\n", 7); /* NUL-terminated */
    free(b);

    /* Empty: a buffer of one NUL. */
    p = write_tmp("empty", "", 0);
    b = cg_file_read(p, 10, CG_FILE_REGULAR | CG_FILE_SECRET, &len, &e);
    assert_non_null(b);
    assert_int_equal(len, 0);
    assert_int_equal(b[0], 0);
    free(b);

    /* Larger than a first buffer: grows (plain and secret). */
    size_t big = 100000;
    char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    write_tmp("big", data, big);
    char path_big[128];
    snprintf(path_big, sizeof path_big, "%s/big", tmpdir);
    for (unsigned fl = 0; fl < 4; fl++) {
        b = cg_file_read(path_big, big, fl, &len, &e);
        assert_non_null(b);
        assert_int_equal(len, big);
        assert_memory_equal(b, data, big);
        assert_int_equal(b[big], 0);
        free(b);
    }
    /* One byte over the bound: seen before reading (regular), or while reading. */
    b = cg_file_read(path_big, big - 1, CG_FILE_REGULAR, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_TOO_LARGE);
    assert_int_equal(e.size, big);
    assert_int_equal(errno, EFBIG);
    b = cg_file_read(path_big, big - 1, 0, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_OVER_MAX);
    assert_int_equal(errno, EFBIG);
    b = cg_file_read(path_big, 10, CG_FILE_SECRET, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_OVER_MAX);
    free(data);

    /* Missing. */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing", tmpdir);
    b = cg_file_read(missing, 10, CG_FILE_REGULAR, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_OPEN);
    assert_int_equal(e.err, ENOENT);
    assert_int_equal(errno, ENOENT);

    /* A directory: refused as not regular; without the flag, read fails. */
    b = cg_file_read(tmpdir, 10, CG_FILE_REGULAR, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_NOT_REGULAR);
    b = cg_file_read(tmpdir, 10, 0, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_READ);
    assert_int_equal(e.err, EISDIR);

    /* A FIFO with no writer: refused at once, never waited on. */
    char fifo[128];
    snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    b = cg_file_read(fifo, 10, CG_FILE_REGULAR, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_NOT_REGULAR);
    unlink(fifo);

    /* A device read as a stream: bounded by max. */
    b = cg_file_read("/dev/zero", 50000, 0, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_OVER_MAX);
    b = cg_file_read("/dev/zero", 50000, CG_FILE_REGULAR, &len, &e);
    assert_null(b);
    assert_int_equal(e.fail, CG_FILE_NOT_REGULAR);
}

/* ---- vec.h ---- */

static void test_vec(void **state)
{
    (void)state;
    int *v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 1000; i++) {
        assert_true(cg_vec_reserve(v, cap, n + 1, 4));
        assert_true(cap >= n + 1);
        v[n++] = i;
    }
    assert_int_equal(cap, 1024); /* 4, doubled */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(v[i], i);
    assert_true(cg_vec_reserve(v, cap, 10, 4)); /* already room */
    assert_int_equal(cap, 1024);
    /* Too many to count in bytes: refused, the array as it was. */
    int *before = v;
    assert_false(cg_vec_reserve(v, cap, SIZE_MAX / 2, 4));
    assert_false(cg_vec_reserve(v, cap, SIZE_MAX, 4));
    assert_ptr_equal(v, before);
    assert_int_equal(cap, 1024);
    assert_int_equal(v[999], 999);
    free(v);

    char *words[] = { "a", "bc", "" };
    char **d = cg_strv_dup(words, 3);
    assert_non_null(d);
    assert_string_equal(d[1], "bc");
    assert_ptr_not_equal(d[1], words[1]);
    cg_strv_free(d, 3);
    d = cg_strv_dup(NULL, 0);
    assert_non_null(d);
    cg_strv_free(d, 0);
}

/* ---- list.h ---- */

typedef struct node {
    struct node *prev, *next;
    int id;
} node;

static void expect(node *head, const int *ids, size_t n)
{
    node *prev = NULL;
    size_t i = 0;
    for (node *x = head; x; prev = x, x = x->next, i++) {
        assert_true(i < n);
        assert_int_equal(x->id, ids[i]);
        assert_ptr_equal(x->prev, prev);
    }
    assert_int_equal(i, n);
}

static void test_list(void **state)
{
    (void)state;
    node a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
    node *head = NULL;
    CG_LIST_PUSH(head, &a);
    CG_LIST_PUSH(head, &b);
    CG_LIST_PUSH(head, &c);
    expect(head, (int[]){ 3, 2, 1 }, 3);
    CG_LIST_UNLINK(head, &b); /* middle */
    expect(head, (int[]){ 3, 1 }, 2);
    assert_null(b.prev);
    assert_null(b.next);
    CG_LIST_UNLINK(head, &c); /* first */
    expect(head, (int[]){ 1 }, 1);
    CG_LIST_PUSH(head, &b);
    CG_LIST_UNLINK(head, &a); /* last */
    expect(head, (int[]){ 2 }, 1);
    CG_LIST_UNLINK(head, &b); /* only */
    assert_null(head);
}

/* ---- oid.h ---- */

static void test_oid(void **state)
{
    (void)state;
    const unsigned char cn[] = { 0x55, 0x04, 0x03 };
    char out[64];
    assert_string_equal(cg_oid_text(cn, sizeof cn, out, sizeof out, "?"), "2.5.4.3");
    /* Empty: mbedTLS writes nothing at all for it. */
    memset(out, 'x', sizeof out);
    assert_string_equal(cg_oid_text(cn, 0, out, sizeof out, "(unreadable OID)"), "(unreadable OID)");
    char small[4];
    assert_string_equal(cg_oid_text(cn, sizeof cn, small, sizeof small, "?"), "?");
}

static int setup(void **state)
{
    (void)state;
    return fx_tmpdir(tmpdir, sizeof tmpdir, "base") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = { "ok", "empty", "big", "fifo" };
    char p[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii), cmocka_unit_test(test_hex),  cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_file_read), cmocka_unit_test(test_vec), cmocka_unit_test(test_list),
        cmocka_unit_test(test_oid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
