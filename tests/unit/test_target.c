/* Unit tests for target.c: the canonical request target (every route bypass
 * of the hardening issue, targets kept exactly, refusals) and route matching
 * on segment boundaries, with and without case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

/* Normalizes s (length n) out of place and in place; both must agree. */
static bool norm(const char *s, size_t n, char *out, cg_target *t, cg_refusal *why)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    cg_target t2;
    cg_refusal why2;
    bool ok = cg_target_normalize(s, n, out, t, why);
    bool ok2 = cg_target_normalize(copy, n, copy, &t2, &why2);
    assert_int_equal(ok, ok2);
    if (ok) {
        assert_int_equal(t->target.n, t2.target.n);
        assert_memory_equal(t->target.p, t2.target.p, t->target.n);
        assert_int_equal(t->path.n, t2.path.n);
        assert_int_equal(t->changed, t2.changed);
        assert_ptr_equal(t2.target.p, copy);
    } else {
        assert_string_equal(why->detail, why2.detail);
    }
    free(copy);
    return ok;
}

/* ------------------------------------------------------------------------ */

static void test_bypasses_become_the_canonical_target(void **state)
{
    (void)state;
    static const struct {
        const char *sent, *canonical;
    } cases[] = {
        /* the attacker's list: each one is /admin */
        { "//admin", "/admin" },
        { "/./admin", "/admin" },
        { "/x/../admin", "/admin" },
        { "/%61dmin", "/admin" },
        { "/%61%64%6D%69%6e", "/admin" },
        { "///admin//x", "/admin/x" },
        { "/public/../admin/", "/admin/" },
        { "/a/b/c/../../../admin", "/admin" },
        { "/admin/.", "/admin/" },
        { "/admin/x/..", "/admin/" },
        { "/admin/./x/./", "/admin/x/" },
        { "/.//admin", "/admin" },
        { "/x//..//admin", "/admin" },
        { "/%7Euser/%5F%2D%2E%30", "/~user/_-.0" },
        { "/admin?x=/../y", "/admin?x=/../y" }, /* the query is kept as sent */
        { "//admin?%2f", "/admin?%2f" },
        { "/a/..", "/" },
        { "/.", "/" },
        { "/..a/a..b/...", "/..a/a..b/..." }, /* not dot-segments */
        { "/.%2e%2e/x", "/.../x" },
        /* percent-encodings that stay: uppercase hex */
        { "/a%20b", "/a%20b" },
        { "/a%2bb%3a", "/a%2Bb%3A" },
        { "/caf%c3%a9", "/caf%C3%A9" },
        { "/%25", "/%25" },
        { "/%3f?%3f", "/%3F?%3f" },
        { "*", "*" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        cg_target t;
        cg_refusal why;
        const char *s = cases[i].sent;
        if (!norm(s, strlen(s), out, &t, &why))
            fail_msg("\"%s\" refused: %s", s, why.detail);
        if (t.target.n != strlen(cases[i].canonical) || memcmp(t.target.p, cases[i].canonical, t.target.n))
            fail_msg("\"%s\" -> \"%.*s\", expected \"%s\"", s, (int)t.target.n, t.target.p, cases[i].canonical);
        const char *q = strchr(cases[i].canonical, '?');
        size_t plen = q ? (size_t)(q - cases[i].canonical) : strlen(cases[i].canonical);
        if (t.path.n != plen || t.path.p != t.target.p)
            fail_msg("\"%s\": path \"%.*s\"", s, (int)t.path.n, t.path.p);
        assert_int_equal(t.changed, strcmp(s, cases[i].canonical) != 0);
    }
}

static void test_valid_targets_kept_exactly(void **state)
{
    (void)state;
    static const char *const kept[] = {
        "/",
        "/admin",
        "/admin/",
        "/Admin/X.aspx",                      /* case is kept for the backend */
        "/a/b/c?x=1&y=2",
        "/a?",
        "/?",
        "/a?b?c",
        "/a;p=1/b",
        "/!$&'()*+,;=:@",
        "/a%20b/c%2Bd",
        "/%C3%A9t%C3%A9",
        "/search?q=a%2fb&r=%zz&s=%",          /* the query is not decoded or checked for % */
        "/a?x=../..&y=//&z=\\",
        "/~user/file-name_1.2",
        "/a|b{c}[d]^e`f\"g<h>",               /* kept as sent: no route can contain them */
        "/...",
        "/.a/..b/c./d..",
    };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        char out[256];
        cg_target t;
        cg_refusal why;
        const char *s = kept[i];
        if (!norm(s, strlen(s), out, &t, &why))
            fail_msg("\"%s\" refused: %s", s, why.detail);
        if (t.target.n != strlen(s) || memcmp(t.target.p, s, t.target.n) != 0)
            fail_msg("\"%s\" -> \"%.*s\", expected it unchanged", s, (int)t.target.n, t.target.p);
        assert_false(t.changed);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *sent;
        size_t len; /* 0: strlen */
        const char *detail; /* a part of the sentence */
    } cases[] = {
        /* encoded separators */
        { "/admin%2fx", 0, "an encoded slash (%2F): backends disagree on whether it separates path segments "
                           "(\"%2f\" at byte 6 of the target)" },
        { "/public%2F..%2Fadmin", 0, "an encoded slash (%2F)" },
        { "/admin%5cx", 0, "an encoded backslash (%5C)" },
        { "/admin%5C", 0, "an encoded backslash" },
        { "/public\\..\\admin", 0, "a backslash in the path: Windows servers read it as \"/\" and certgate does "
                                   "not (\"\\x5c\" at byte 7 of the target)" },
        /* encoded dot-segments */
        { "/public/%2e%2e/admin", 0, "a path segment that is \"..\" only once its percent-encoded dots (%2E) "
                                     "are decoded: certgate does not guess whether the backend removes it "
                                     "(\"%2e%2e\" at byte 8 of the target)" },
        { "/public/%2E%2E/admin", 0, "is \"..\" only once" },
        { "/public/.%2e/admin", 0, "is \"..\" only once" },
        { "/public/%2e./admin", 0, "is \"..\" only once" },
        { "/public/%2e/admin", 0, "is \".\" only once" },
        { "/public/%2e%2e", 0, "is \"..\" only once" },
        { "/public/%2e?x", 0, "is \".\" only once" },
        /* climbing */
        { "/..", 0, "\"..\" would climb above the root of the path (\"..\" at byte 1 of the target)" },
        { "/../admin", 0, "would climb above the root" },
        { "/a/../../admin", 0, "would climb above the root of the path (\"..\" at byte 6" },
        { "//../admin", 0, "would climb above the root" },
        /* NUL and control characters, raw and encoded */
        { "/admin\0x", 8, "a NUL byte in the path (\"\\x00\" at byte 6 of the target)" },
        { "/admin%00", 0, "an encoded NUL (%00)" },
        { "/admin\t", 0, "a TAB in the path: servers that split the request line on any whitespace would "
                         "read another target (\"\\x09\" at byte 6 of the target)" },
        { "/admin\tx HTTP/1.1", 0, "a TAB in the path" },
        { "/admin\r", 0, "the control character 0x0d in the path" },
        { "/admin\n", 0, "the control character 0x0a in the path" },
        { "/admin\x7f", 0, "the control character 0x7f in the path" },
        { "/admin\x01", 0, "the control character 0x01" },
        { "/admin%09", 0, "an encoded control character (\"%09\" at byte 6" },
        { "/admin%0d%0a", 0, "an encoded control character" },
        { "/admin%7F", 0, "an encoded control character" },
        { "/admin%1f", 0, "an encoded control character" },
        /* whitespace */
        { "/admin x", 0, "a space in the path: send it percent-encoded (%20)" },
        { "/admin?a b", 0, "a space in the query" },
        { "/admin?a\tb", 0, "a TAB in the query" },
        { "/admin?a\0", 9, "a NUL byte in the query" },
        { "/admin?a\r", 0, "the control character 0x0d in the query" },
        { "/admin?\x7f", 0, "the control character 0x7f in the query" },
        /* invalid percent-encodings */
        { "/admin%zz", 0, "an invalid percent-encoding (\"%\" must be followed by two hex digits) "
                          "(\"%zz\" at byte 6 of the target)" },
        { "/admin%4", 0, "an invalid percent-encoding" },
        { "/admin%", 0, "an invalid percent-encoding" },
        { "/%u0061dmin", 0, "an invalid percent-encoding" }, /* IIS's old %uXXXX */
        { "/a%4?", 0, "an invalid percent-encoding" },
        { "/a%%41", 0, "an invalid percent-encoding" },
        /* non-ASCII */
        { "/caf\xc3\xa9", 0, "the non-ASCII byte 0xc3 in the path: non-ASCII characters must be "
                             "percent-encoded (UTF-8)" },
        { "/a?\xff", 0, "the non-ASCII byte 0xff in the query" },
        /* overlong UTF-8 (the IIS "Unicode" traversal) */
        { "/%c0%af..%c0%afadmin", 0, "an overlong UTF-8 sequence (lead byte %C0 or %C1)" },
        { "/%C1%9C", 0, "an overlong UTF-8 sequence" },
        { "/%e0%80%af", 0, "an overlong UTF-8 sequence (%E0%80-%E0%9F or %F0%80-%F0%8F)" },
        { "/%F0%80%80%AF", 0, "an overlong UTF-8 sequence" },
        /* fragments, forms */
        { "/admin#x", 0, "a fragment (\"#\"), which clients must not send" },
        { "/a?b#c", 0, "a fragment" },
        { "admin", 0, "not a path starting with \"/\" (or \"*\" for OPTIONS)" },
        { "http://x/admin", 0, "not a path starting with \"/\"" },
        { "", 0, "not a path starting with \"/\"" },
        { "**", 0, "not a path starting with \"/\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        cg_target t;
        cg_refusal why;
        const char *s = cases[i].sent;
        size_t n = cases[i].len ? cases[i].len : strlen(s);
        if (norm(s, n, out, &t, &why))
            fail_msg("case %zu accepted as \"%.*s\", expected a refusal", i, (int)t.target.n, t.target.p);
        assert_int_equal(why.kind, CG_REFUSE_BAD_REQUEST);
        if (!strstr(why.detail, cases[i].detail))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, why.detail, cases[i].detail);
        assert_non_null(strstr(why.detail, "request target refused: "));
    }
}

/* Every single byte after "/a", raw and percent-encoded: accepted ones are
 * canonical and idempotent; nothing else slips through. */
static void test_every_byte(void **state)
{
    (void)state;
    for (int b = 0; b < 256; b++) {
        char in[8] = { '/', 'a', (char)b, 'z' }, out[16], again[16];
        cg_target t, t2;
        cg_refusal why;
        bool ok = norm(in, 4, out, &t, &why);
        bool expect = b > 0x20 && b < 0x7f && b != '\\' && b != '#' && b != '%';
        if (ok != expect)
            fail_msg("raw byte 0x%02x: %s", b, ok ? "accepted" : why.detail);
        snprintf(in, sizeof in, "/a%%%02x", b);
        ok = norm(in, 5, out, &t, &why);
        expect = b >= 0x20 && b != 0x7f && b != '/' && b != '\\' && b != 0xc0 && b != 0xc1;
        if (ok != expect)
            fail_msg("%%%02x: %s", b, ok ? "accepted" : why.detail);
        if (!ok)
            continue;
        assert_true(cg_target_normalize(t.target.p, t.target.n, again, &t2, &why));
        assert_false(t2.changed);
        bool unreserved = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                          b == '-' || b == '.' || b == '_' || b == '~';
        assert_int_equal(t.target.n, unreserved ? 3 : 5);
    }
}

/* ------------------------------------------------------------------------ */

static void test_route_covers_segments(void **state)
{
    (void)state;
    static const struct {
        const char *route, *path;
        bool sensitive, insensitive;
    } cases[] = {
        { "/admin", "/admin", true, true },
        { "/admin", "/admin/", true, true },
        { "/admin", "/admin/x", true, true },
        { "/admin", "/administrator", false, false },
        { "/admin", "/admin.aspx", false, false },
        { "/admin", "/admin%20", false, false },
        { "/admin", "/adm", false, false },
        { "/admin", "/", false, false },
        { "/admin", "/ADMIN", false, true },
        { "/admin", "/Admin/x", false, true },
        { "/admin", "/ADMINistrator", false, false },
        { "/Admin", "/admin", false, true },
        { "/admin/", "/admin/", true, true },
        { "/admin/", "/admin/x/y", true, true },
        { "/admin/", "/admin", false, false },
        { "/admin/", "/ADMIN/x", false, true },
        { "/", "/", true, true },
        { "/", "/anything/at/all", true, true },
        { "/caf%C3%A9", "/caf%C3%A9/x", true, true },
        { "/a-b", "/A-B", false, true },
        /* only letters fold: '@' (0x40) is not '`' (0x60), '[' is not '{' */
        { "/a[", "/a{", false, false },
        { "/a@", "/a`", false, false },
        { "/a^", "/a~", false, false },
        { "/*", "*", false, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cg_slice r = { cases[i].route, strlen(cases[i].route) }, p = { cases[i].path, strlen(cases[i].path) };
        if (cg_target_route_covers(r, p, false) != cases[i].sensitive)
            fail_msg("case-sensitive: \"%s\" covers \"%s\": expected %d", cases[i].route, cases[i].path,
                     cases[i].sensitive);
        if (cg_target_route_covers(r, p, true) != cases[i].insensitive)
            fail_msg("case-insensitive: \"%s\" covers \"%s\": expected %d", cases[i].route, cases[i].path,
                     cases[i].insensitive);
    }
    /* Only path.n bytes count. */
    assert_false(cg_target_route_covers(CG_SLICE_LIT("/admin"), (cg_slice){ "/admin/x", 4 }, false));
    assert_true(cg_target_route_covers(CG_SLICE_LIT("/adm"), (cg_slice){ "/admin/x", 4 }, false));
}

/* The normalizer and the matcher together: every bypass form lands on the
 * route that protects the backend's /admin. */
static void test_bypasses_reach_the_admin_route(void **state)
{
    (void)state;
    static const char *const forms[] = {
        "/admin", "//admin", "/./admin", "/x/../admin", "/%61dmin", "/ADMIN", "/Admin/", "/aDmIn/x?q",
        "/public/../admin", "///ADMIN//x", "/%41DMIN", "/admin/.", "/x/./../admin/y",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char out[64];
        cg_target t;
        cg_refusal why;
        assert_true(norm(forms[i], strlen(forms[i]), out, &t, &why));
        if (!cg_target_route_covers(CG_SLICE_LIT("/admin"), t.path, true))
            fail_msg("\"%s\" -> \"%.*s\" escapes route /admin", forms[i], (int)t.path.n, t.path.p);
    }
}

static void test_route_path_ok(void **state)
{
    (void)state;
    static const char *const good[] = { "/", "/admin", "/admin/", "/a/b.c/d-e_f~g", "/My%20Docs",
                                        "/caf%C3%A9", "/a%3Fb", "/a%23b", "/a%25" };
    char why[512];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!cg_target_route_path_ok(good[i], why, sizeof why))
            fail_msg("\"%s\": %s", good[i], why);
    static const struct {
        const char *path, *why;
    } bad[] = {
        { "", "does not start with \"/\"" },
        { "admin", "does not start with \"/\"" },
        { "//admin", "write \"/admin\"" },
        { "/a/./b", "write \"/a/b\"" },
        { "/a/..", "write \"/\"" },
        { "/..", "\"..\" above the root" },
        { "/%61", "encodes the unreserved character 'a'" },
        { "/%2e%2e", "has a \"%\" at byte 1 not followed by two uppercase hex digits" },
        { "/%2E%2E", "encodes the unreserved character '.'" },
        { "/%2F", "has %2F, which certgate refuses" },
        { "/%5C", "has %5C, which certgate refuses" },
        { "/%00", "has %00, which certgate refuses" },
        { "/%C0", "has %C0, which certgate refuses" },
        { "/a%3B", "has %3B, which IIS reads like its raw character" },
        { "/a%40", "has %40, which IIS reads like its raw character" },
        { "/a;b", "contains ';' at byte 2" },
        { "/a:b", "contains ':' at byte 2" },
        { "/admin*", "contains '*' at byte 6" },
        { "/a?b", "contains '?'" },
        { "/a#b", "contains '#'" },
        { "/a b", "contains the byte 0x20 at byte 2" },
        { "/a\tb", "contains the byte 0x09" },
        { "/caf\xc3\xa9", "contains the byte 0xc3" },
        { "/a%", "has a \"%\" at byte 2" },
        { "/a%4", "has a \"%\" at byte 2" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        if (cg_target_route_path_ok(bad[i].path, why, sizeof why))
            fail_msg("\"%s\" accepted", bad[i].path);
        if (!strstr(why, bad[i].why))
            fail_msg("\"%s\": \"%s\" does not contain \"%s\"", bad[i].path, why, bad[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bypasses_become_the_canonical_target),
        cmocka_unit_test(test_valid_targets_kept_exactly),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_route_covers_segments),
        cmocka_unit_test(test_bypasses_reach_the_admin_route),
        cmocka_unit_test(test_route_path_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
