/* Unit tests for src/base/log_format.c and src/base/log.c: logfmt and JSON values
 * (quotes, backslashes, newlines, control bytes, non-ASCII, invalid UTF-8,
 * very long and empty values), reading logfmt back strictly, printf-style
 * fields converted, the query redaction, and the journald stream check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "base/log_format.h"

static char line[16384];

/* One line with one string field, without ts; returns the line without "\n". */
static const char *one(cg_log_format f, const char *s, size_t n)
{
    cg_logline l;
    cg_logline_begin(&l, line, sizeof line, f, -1, NULL, "info", "e");
    cg_logline_str(&l, "v", s, n);
    size_t len = cg_logline_end(&l);
    assert_true(len > 0 && line[len - 1] == '\n');
    line[len - 1] = '\0';
    return line;
}

static void test_logfmt_values(void **state)
{
    (void)state;
    assert_string_equal(one(CG_LOG_LOGFMT, "plain-value_1.2/x:y@z", 21), "level=info event=e v=plain-value_1.2/x:y@z");
    assert_string_equal(one(CG_LOG_LOGFMT, "", 0), "level=info event=e v=\"\"");
    assert_string_equal(one(CG_LOG_LOGFMT, "a b", 3), "level=info event=e v=\"a b\"");
    assert_string_equal(one(CG_LOG_LOGFMT, "say \"hi\"", 8), "level=info event=e v=\"say \\\"hi\\\"\"");
    assert_string_equal(one(CG_LOG_LOGFMT, "a\\b", 3), "level=info event=e v=\"a\\\\b\"");
    assert_string_equal(one(CG_LOG_LOGFMT, "l1\nl2\r\t", 7), "level=info event=e v=\"l1\\nl2\\r\\t\"");
    assert_string_equal(one(CG_LOG_LOGFMT, "x\x01\x7f", 3), "level=info event=e v=\"x\\x01\\x7f\"");
    assert_string_equal(one(CG_LOG_LOGFMT, "nul\0here", 8), "level=info event=e v=\"nul\\x00here\"");
    assert_string_equal(one(CG_LOG_LOGFMT, "k=v", 3), "level=info event=e v=\"k=v\"");
    /* valid UTF-8 passes; bytes that are not part of it are \xNN */
    assert_string_equal(one(CG_LOG_LOGFMT, "Jos\xc3\xa9", 5), "level=info event=e v=\"Jos\xc3\xa9\"");
    assert_string_equal(one(CG_LOG_LOGFMT, "\xff\xc3(\xed\xa0\x80", 6),
                        "level=info event=e v=\"\\xff\\xc3(\\xed\\xa0\\x80\"");
    /* a NULL string is "-" */
    assert_string_equal(one(CG_LOG_LOGFMT, NULL, 0), "level=info event=e v=-");
}

static void test_json_values(void **state)
{
    (void)state;
    assert_string_equal(one(CG_LOG_JSON, "plain", 5), "{\"level\":\"info\",\"event\":\"e\",\"v\":\"plain\"}");
    assert_string_equal(one(CG_LOG_JSON, "", 0), "{\"level\":\"info\",\"event\":\"e\",\"v\":\"\"}");
    assert_string_equal(one(CG_LOG_JSON, "say \"hi\" \\", 10),
                        "{\"level\":\"info\",\"event\":\"e\",\"v\":\"say \\\"hi\\\" \\\\\"}");
    assert_string_equal(one(CG_LOG_JSON, "l1\nl2\r\t\x01\x1f\x7f", 10),
                        "{\"level\":\"info\",\"event\":\"e\",\"v\":\"l1\\nl2\\r\\t\\u0001\\u001f\\u007f\"}");
    assert_string_equal(one(CG_LOG_JSON, "a\0b", 3), "{\"level\":\"info\",\"event\":\"e\",\"v\":\"a\\u0000b\"}");
    assert_string_equal(one(CG_LOG_JSON, "\xe2\x82\xac \xf0\x9f\x94\x92", 8),
                        "{\"level\":\"info\",\"event\":\"e\",\"v\":\"\xe2\x82\xac \xf0\x9f\x94\x92\"}");
    /* invalid UTF-8: each byte not part of a valid sequence is U+FFFD;
     * overlong forms and surrogates are not valid */
    assert_string_equal(one(CG_LOG_JSON, "\xff" "a\xc0\xaf\xed\xa0\x80\xe2\x82", 9),
                        "{\"level\":\"info\",\"event\":\"e\",\"v\":\"\\ufffda\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
                        "\\ufffd\\ufffd\"}");
}

static void test_numbers_and_prefix(void **state)
{
    (void)state;
    cg_logline l;
    char buf[512];
    cg_logline_begin(&l, buf, sizeof buf, CG_LOG_JSON, 6, NULL, "info", "request");
    cg_logline_uint(&l, "status", 200);
    cg_logline_int(&l, "neg", -42);
    cg_logline_bool(&l, "resumed", true);
    cg_logline_fixed3(&l, "ms", 1.23456);
    cg_logline_uint(&l, "big", UINT64_MAX);
    size_t n = cg_logline_end(&l);
    buf[n] = '\0';
    assert_string_equal(buf, "<6>{\"level\":\"info\",\"event\":\"request\",\"status\":200,\"neg\":-42,\"resumed\":true,"
                             "\"ms\":1.235,\"big\":18446744073709551615}\n");
    cg_logline_begin(&l, buf, sizeof buf, CG_LOG_LOGFMT, 3, "2026-01-01T00:00:00.000Z", "error", "x");
    cg_logline_fixed3(&l, "ms", 0.0004);
    cg_logline_bool(&l, "ok", false);
    n = cg_logline_end(&l);
    buf[n] = '\0';
    assert_string_equal(buf, "<3>ts=2026-01-01T00:00:00.000Z level=error event=x ms=0.000 ok=false\n");
}

/* A minimal strict JSON object-of-scalars check: what the log writes. */
static bool json_string_ok(const char **pp)
{
    const unsigned char *p = (const unsigned char *)*pp;
    if (*p++ != '"')
        return false;
    for (;;) {
        unsigned char c = *p;
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return false;
                p += 5;
            } else if (*p && strchr("\"\\/bfnrt", *p)) {
                p++;
            } else {
                return false;
            }
            continue;
        }
        if (c >= 0x80) { /* UTF-8 lead + continuation bytes */
            int k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : -1;
            if (k < 0 || c > 0xf4)
                return false;
            for (int i = 1; i <= k; i++)
                if ((p[i] & 0xc0) != 0x80)
                    return false;
            p += k + 1;
            continue;
        }
        p++;
    }
    *pp = (const char *)p + 1;
    return true;
}

static bool json_line_ok(const char *s)
{
    if (*s++ != '{')
        return false;
    for (;;) {
        if (!json_string_ok(&s) || *s++ != ':')
            return false;
        if (*s == '"') {
            if (!json_string_ok(&s))
                return false;
        } else if (!strncmp(s, "true", 4) || !strncmp(s, "null", 4)) {
            s += 4;
        } else if (!strncmp(s, "false", 5)) {
            s += 5;
        } else {
            const char *st = s;
            while (*s == '-' || *s == '.' || (*s >= '0' && *s <= '9'))
                s++;
            if (s == st)
                return false;
        }
        if (*s == '}')
            return s[1] == '\n' && s[2] == '\0';
        if (*s++ != ',')
            return false;
    }
}

/* Reads a logfmt line back: every field well-formed; returns the decoded
 * value of key (NULL if absent) into out. */
static const char *logfmt_get(const char *l, const char *key, char *out, size_t cap)
{
    size_t n = strlen(l);
    if (n && l[n - 1] == '\n')
        n--;
    cg_logfmt_reader r = { l, l + n };
    cg_slice k, v;
    bool quoted;
    cg_logfmt_tok t;
    const char *found = NULL;
    while ((t = cg_logfmt_next(&r, &k, &v, &quoted)) == CG_LOGFMT_FIELD) {
        if (k.n == strlen(key) && !memcmp(k.p, key, k.n)) {
            size_t vn = quoted ? cg_logfmt_unquote(v, out, cap - 1) : (v.n < cap ? v.n : cap - 1);
            if (!quoted)
                memcpy(out, v.p, vn);
            out[vn] = '\0';
            found = out;
        }
    }
    assert_int_equal(t, CG_LOGFMT_END);
    return found;
}

/* Every byte value, in every position: logfmt decodes back to the same
 * bytes, JSON is well-formed. */
static void test_round_trip_all_bytes(void **state)
{
    (void)state;
    char v[300], got[2000];
    srand(7);
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(rand() % 40);
        for (size_t i = 0; i < n; i++)
            v[i] = (char)(round < 256 && i == 0 ? round : rand() % 256);
        cg_logline l;
        cg_logline_begin(&l, line, sizeof line, CG_LOG_LOGFMT, -1, "t", "info", "e");
        cg_logline_str(&l, "v", v, n);
        line[cg_logline_end(&l)] = '\0';
        const char *s = logfmt_get(line, "v", got, sizeof got);
        assert_non_null(s);
        if (n > 0 && memchr(v, '\0', n) == NULL)
            assert_memory_equal(got, v, n);
        assert_int_equal(strlen(got) <= n, 1);

        cg_logline_begin(&l, line, sizeof line, CG_LOG_JSON, -1, "t", "info", "e");
        cg_logline_str(&l, "v", v, n);
        line[cg_logline_end(&l)] = '\0';
        assert_true(json_line_ok(line));
    }
}

static void test_long_values_cut_well_formed(void **state)
{
    (void)state;
    static char big[40000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = "ab\"\\\n\x01\xc3\xa9 "[i % 10];
    char buf[1024], got[2000];
    for (int f = 0; f < 2; f++) {
        cg_logline l;
        cg_logline_begin(&l, buf, sizeof buf, f ? CG_LOG_JSON : CG_LOG_LOGFMT, -1, "t", "info", "e");
        cg_logline_uint(&l, "before", 1);
        cg_logline_str(&l, "v", big, sizeof big);
        cg_logline_uint(&l, "after", 2);
        size_t n = cg_logline_end(&l);
        assert_true(n < sizeof buf);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "...\""));
        assert_null(strstr(buf, "after"));
        if (f) {
            assert_true(json_line_ok(buf));
            assert_non_null(strstr(buf, ",\"truncated\":true}\n"));
        } else {
            assert_non_null(logfmt_get(buf, "truncated", got, sizeof got));
            assert_string_equal(got, "true");
            assert_non_null(logfmt_get(buf, "before", got, sizeof got));
        }
    }
    /* cg_log_quote into a small buffer: still one quoted value */
    char q[40];
    cg_log_quote(q, sizeof q, big, 100);
    assert_int_equal(q[0], '"');
    assert_int_equal(q[strlen(q) - 1], '"');
    assert_true(strlen(q) < sizeof q);
}

static void test_reader_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a=\"unterminated",  "a=\"x\"y",      "a=b\"c",      "=v",       "a b=c",       "a=\"\\q\"",
        "a=\"\\x4\"",        "a=\"tab\there\"", "a=\"\xff\"", "a=ok b=\"x", "a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cg_logfmt_reader r = { bad[i], bad[i] + strlen(bad[i]) };
        cg_slice k, v;
        bool q;
        cg_logfmt_tok t;
        while ((t = cg_logfmt_next(&r, &k, &v, &q)) == CG_LOGFMT_FIELD)
            ;
        if (t != CG_LOGFMT_BAD)
            fail_msg("read as logfmt: %s", bad[i]);
    }
    char got[100];
    assert_string_equal(logfmt_get("a=1 b=\"x \\\"y\\\" \\x41\\\\\" c=", "b", got, sizeof got), "x \"y\" A\\");
}

/* printf-style fields: read back, written again; numbers typed from the format. */
static void test_printf_fields(void **state)
{
    (void)state;
    char text[256], buf[1024];
    cg_logline l;
    const char *fmt = "status=%d ms=%.3f serial=%s name=%s detail=\"%s\" size=%zu x=%ds";
    snprintf(text, sizeof text, fmt, 200, 1.5, "0123", "42", "ok", (size_t)7, 3);
    cg_logline_begin(&l, buf, sizeof buf, CG_LOG_JSON, -1, NULL, "info", "e");
    cg_logline_fields(&l, text, strlen(text), fmt);
    buf[cg_logline_end(&l)] = '\0';
    assert_string_equal(buf, "{\"level\":\"info\",\"event\":\"e\",\"status\":200,\"ms\":1.500,\"serial\":\"0123\","
                             "\"name\":\"42\",\"detail\":\"ok\",\"size\":7,\"x\":\"3s\"}\n");

    /* a value with a raw quote inside: the rest is kept whole, still one
     * well-formed line in both formats */
    fmt = "result=failed detail=\"%s\" n=%d";
    snprintf(text, sizeof text, fmt, "listener \"main\" changed", 3);
    char copy[256];
    strcpy(copy, text);
    cg_logline_begin(&l, buf, sizeof buf, CG_LOG_JSON, -1, NULL, "error", "reload");
    cg_logline_fields(&l, text, strlen(text), fmt);
    buf[cg_logline_end(&l)] = '\0';
    assert_true(json_line_ok(buf));
    assert_non_null(strstr(buf, "\"unparsed\":\"detail=\\\"listener \\\"main\\\" changed\\\" n=3\""));
    cg_logline_begin(&l, buf, sizeof buf, CG_LOG_LOGFMT, -1, NULL, "error", "reload");
    cg_logline_fields(&l, copy, strlen(copy), fmt);
    buf[cg_logline_end(&l)] = '\0';
    char got[200];
    assert_string_equal(logfmt_get(buf, "result", got, sizeof got), "failed");
    assert_string_equal(logfmt_get(buf, "unparsed", got, sizeof got), "detail=\"listener \"main\" changed\" n=3");

    /* empty bare values and odd bytes in bare values are re-quoted */
    strcpy(text, "a= b=x=y c=caf\xc3\xa9");
    cg_logline_begin(&l, buf, sizeof buf, CG_LOG_LOGFMT, -1, NULL, "info", "e");
    cg_logline_fields(&l, text, strlen(text), NULL);
    buf[cg_logline_end(&l)] = '\0';
    assert_string_equal(buf, "level=info event=e a=\"\" b=\"x=y\" c=\"caf\xc3\xa9\"\n");
}

static void test_redact_query(void **state)
{
    (void)state;
    char out[200];
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "/a/b", "/a/b" },
        { "/a?", "/a?" },
        { "/a?user=bob&x=&flag", "/a?user=[redacted]&x=&[redacted]" },
        { "/s?q=secret+stuff&page=2", "/s?q=[redacted]&page=[redacted]" },
        { "/t?eyJhbGciOiJIUzI1NiJ9", "/t?[redacted]" },
        { "/t?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", "/t?[redacted]" },
        { "/t?a=1&&b=2", "/t?a=[redacted]&&b=[redacted]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cg_log_redact_query(out, sizeof out, cases[i].in, strlen(cases[i].in));
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    char small[16];
    cg_log_redact_query(small, sizeof small, "/path?a=1&b=2&c=3", 17);
    assert_true(strlen(small) < sizeof small);
    assert_non_null(strstr(small, "..."));
    assert_null(strchr(small, '1'));
}

static void test_journald_stream(void **state)
{
    (void)state;
    char path[] = "/tmp/cg-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char env[64];
    snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    assert_true(cg_log_journald_stream(fd, env));
    snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + 1);
    assert_false(cg_log_journald_stream(fd, env));
    snprintf(env, sizeof env, "%llu:%llux", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    assert_false(cg_log_journald_stream(fd, env));
    assert_false(cg_log_journald_stream(fd, NULL));
    assert_false(cg_log_journald_stream(fd, ""));
    assert_false(cg_log_journald_stream(fd, ":"));
    assert_false(cg_log_journald_stream(fd, "8:-1"));
    assert_false(cg_log_journald_stream(-1, "1:2"));
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_values),
        cmocka_unit_test(test_json_values),
        cmocka_unit_test(test_numbers_and_prefix),
        cmocka_unit_test(test_round_trip_all_bytes),
        cmocka_unit_test(test_long_values_cut_well_formed),
        cmocka_unit_test(test_reader_strict),
        cmocka_unit_test(test_printf_fields),
        cmocka_unit_test(test_redact_query),
        cmocka_unit_test(test_journald_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
