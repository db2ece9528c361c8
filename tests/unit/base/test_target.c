/* Unit tests for target.c: the canonical request target (every route bypass
 * of the hardening issue, targets kept exactly, refusals, the Windows
 * file-system aliases refused with windows_paths) and route matching on
 * segment boundaries, with and without case. Tables run under both rule
 * sets (CG_TARGET_POSIX and CG_TARGET_WINDOWS). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/target.h"

static const unsigned both_rules[] = { CG_TARGET_POSIX, CG_TARGET_WINDOWS };
#define RULES_NAME(r) ((r) & CG_TARGET_WINDOWS ? "windows" : "posix")

/* Normalizes s (length n) out of place and in place; both must agree. */
static bool norm(const char *s, size_t n, char *out, unsigned rules, cg_target *t, cg_refusal *why)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    cg_target t2;
    cg_refusal why2;
    bool ok = cg_target_normalize(s, n, out, rules, t, why);
    bool ok2 = cg_target_normalize(copy, n, copy, rules, &t2, &why2);
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
        bool windows_refuses; /* a Windows alias (test_windows_aliases) */
    } cases[] = {
        /* the attacker's list: each one is /admin */
        { "//admin", "/admin", false },
        { "/./admin", "/admin", false },
        { "/x/../admin", "/admin", false },
        { "/%61dmin", "/admin", false },
        { "/%61%64%6D%69%6e", "/admin", false },
        { "///admin//x", "/admin/x", false },
        { "/public/../admin/", "/admin/", false },
        { "/a/b/c/../../../admin", "/admin", false },
        { "/admin/.", "/admin/", false },
        { "/admin/x/..", "/admin/", false },
        { "/admin/./x/./", "/admin/x/", false },
        { "/.//admin", "/admin", false },
        { "/x//..//admin", "/admin", false },
        { "/%7Euser/%5F%2D%2E%30", "/~user/_-.0", false },
        { "/admin?x=/../y", "/admin?x=/../y", false }, /* the query is kept as sent */
        { "//admin?%2f", "/admin?%2f", false },
        { "/a/..", "/", false },
        { "/.", "/", false },
        { "/..a/a..b/...", "/..a/a..b/...", true }, /* not dot-segments ("..." ends in '.') */
        { "/..a/a..b/.c", "/..a/a..b/.c", false },
        { "/.%2e%2e/x", "/.../x", true },
        /* percent-encodings that stay: uppercase hex */
        { "/a%20b", "/a%20b", false },
        { "/a%2bb%3a", "/a%2Bb%3A", true },
        { "/a%2bb%3d", "/a%2Bb%3D", false },
        { "/caf%c3%a9", "/caf%C3%A9", false },
        { "/%25", "/%25", false },
        { "/%3f?%3f", "/%3F?%3f", false },
        { "*", "*", false },
    };
    for (size_t k = 0; k < 2 * (sizeof cases / sizeof cases[0]); k++) {
        size_t i = k / 2;
        unsigned rules = both_rules[k % 2];
        char out[256];
        cg_target t;
        cg_refusal why;
        const char *s = cases[i].sent;
        bool ok = norm(s, strlen(s), out, rules, &t, &why);
        if (cases[i].windows_refuses && (rules & CG_TARGET_WINDOWS)) {
            if (ok || !strstr(why.detail, "(windows_paths)"))
                fail_msg("\"%s\" (windows): expected a windows_paths refusal, got %s", s,
                         ok ? "accepted" : why.detail);
            continue;
        }
        if (!ok)
            fail_msg("\"%s\" (%s) refused: %s", s, RULES_NAME(rules), why.detail);
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
    /* Under both rule sets. */
    static const char *const kept[] = {
        "/",
        "/admin",
        "/admin/",
        "/Admin/X.aspx",                      /* case is kept for the backend */
        "/a/b/c?x=1&y=2",
        "/a?",
        "/?",
        "/a?b?c",
        "/a,p=1/b",
        "/!$&'()*+,=@",
        "/a%20b/c%2Bd",
        "/%C3%A9t%C3%A9",
        "/search?q=a%2fb&r=%zz&s=%",          /* the query is not decoded or checked for % */
        "/a?x=../..&y=//&z=\\",
        "/~user/file-name_1.2",
        "/a|b{c}[d]^e`f\"g<h>",               /* kept as sent: no route can contain them */
        "/.a/..b/c.d/d..e",
        "/a%3Bb",                             /* an encoded ';' is part of a name */
        "/admin%3B",
        /* what windows_paths lets through: no alias */
        "/~user/a~b/~/x~",                    /* '~' without a digit */
        "/v1.2/a.b/.c/a%20b/%20a",
        "/con/aux/nul.txt/com1",              /* device names: no route bypass */
        "/admin.aspx/admin.x.aspx",
        "/admin/",
        "/a?x=a.&y=~1:z%20&w=;",              /* the query is not a file name */
    };
    for (size_t k = 0; k < 2 * (sizeof kept / sizeof kept[0]); k++) {
        unsigned rules = both_rules[k % 2];
        char out[256];
        cg_target t;
        cg_refusal why;
        const char *s = kept[k / 2];
        if (!norm(s, strlen(s), out, rules, &t, &why))
            fail_msg("\"%s\" (%s) refused: %s", s, RULES_NAME(rules), why.detail);
        if (t.target.n != strlen(s) || memcmp(t.target.p, s, t.target.n) != 0)
            fail_msg("\"%s\" -> \"%.*s\", expected it unchanged", s, (int)t.target.n, t.target.p);
        assert_false(t.changed);
    }
    /* Kept only without windows_paths (test_windows_aliases has more). */
    static const char *const posix_kept[] = { "/...", "/.a/..b/c./d..", "/a:b", "/a~1" };
    for (size_t i = 0; i < sizeof posix_kept / sizeof posix_kept[0]; i++) {
        char out[256];
        cg_target t;
        cg_refusal why;
        const char *s = posix_kept[i];
        assert_true(norm(s, strlen(s), out, CG_TARGET_POSIX, &t, &why));
        assert_false(t.changed);
        assert_false(norm(s, strlen(s), out, CG_TARGET_WINDOWS, &t, &why));
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
        /* double encoding: "%2561" is "a" to a backend that decodes twice */
        { "/%2561dmin", 0, "a double percent-encoding (%25 followed by a hex digit, raw or encoded): a backend "
                           "that decodes twice reads another path (\"%25\" at byte 1 of the target)" },
        { "/x/%252e%252e/admin", 0, "a double percent-encoding" },
        { "/a%25%32%66", 0, "a double percent-encoding" },
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
        /* ';': Java path parameters ("/admin;x" is their "/admin"), on every listener */
        { "/admin;x", 0, "a ';' in the path: Java servers (Tomcat, Jetty) read what follows it as path "
                         "parameters, so \"/admin;x\" is their \"/admin\"; send %3B when it is part of a name "
                         "(\";\" at byte 6 of the target)" },
        { "/admin;jsessionid=1/x", 0, "a ';' in the path" },
        { "/public/..;/admin", 0, "part of a name (\";\" at byte 10 of the target)" },
        { "/admin/;", 0, "a ';' in the path" },
        { "/;/admin", 0, "a ';' in the path" },
        { "/a;", 0, "a ';' in the path" },
    };
    for (size_t k = 0; k < 2 * (sizeof cases / sizeof cases[0]); k++) {
        size_t i = k / 2;
        unsigned rules = both_rules[k % 2];
        char out[256];
        cg_target t;
        cg_refusal why;
        const char *s = cases[i].sent;
        size_t n = cases[i].len ? cases[i].len : strlen(s);
        if (norm(s, n, out, rules, &t, &why))
            fail_msg("case %zu (%s) accepted as \"%.*s\", expected a refusal", i, RULES_NAME(rules),
                     (int)t.target.n, t.target.p);
        assert_int_equal(why.kind, CG_REFUSE_BAD_REQUEST);
        if (!strstr(why.detail, cases[i].detail))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, why.detail, cases[i].detail);
        assert_non_null(strstr(why.detail, "request target refused: "));
    }
}

/* Every single byte after "/a", raw and percent-encoded, under both rule
 * sets: accepted ones are canonical and idempotent; nothing else slips
 * through. */
static void test_every_byte(void **state)
{
    (void)state;
    for (int k = 0; k < 512; k++) {
        int b = k / 2;
        unsigned rules = both_rules[k % 2];
        bool win = rules & CG_TARGET_WINDOWS;
        char in[8] = { '/', 'a', (char)b, 'z' }, out[16], again[16];
        cg_target t, t2;
        cg_refusal why;
        bool ok = norm(in, 4, out, rules, &t, &why);
        bool expect = b > 0x20 && b < 0x7f && b != '\\' && b != '#' && b != '%' && b != ';' && !(win && b == ':');
        if (ok != expect)
            fail_msg("raw byte 0x%02x (%s): %s", b, RULES_NAME(rules), ok ? "accepted" : why.detail);
        /* "/~<b>z": a short name when b is a digit */
        char tilde[8] = { '/', '~', (char)b, 'z' };
        if (b >= '0' && b <= '9')
            assert_int_equal(norm(tilde, 4, out, rules, &t, &why), !win);
        /* "/a<b>": the segment ends in b */
        ok = norm(in, 3, out, rules, &t, &why);
        expect = expect && !(win && b == '.');
        if (ok != expect)
            fail_msg("raw byte 0x%02x at the end (%s): %s", b, RULES_NAME(rules), ok ? "accepted" : why.detail);
        snprintf(in, sizeof in, "/a%%%02x", b);
        ok = norm(in, 5, out, rules, &t, &why);
        expect = b >= 0x20 && b != 0x7f && b != '/' && b != '\\' && b != 0xc0 && b != 0xc1 &&
                 !(win && (b == '.' || b == ' ' || b == ':'));
        if (ok != expect)
            fail_msg("%%%02x (%s): %s", b, RULES_NAME(rules), ok ? "accepted" : why.detail);
        if (!ok)
            continue;
        assert_true(cg_target_normalize(t.target.p, t.target.n, again, rules, &t2, &why));
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
        "/public/../admin", "///ADMIN//x", "/%41DMIN", "/admin/.", "/x/./../admin/y", "/admin/", "/admin//",
        "/admin/x/", "/admin?", "/admin/?x",
    };
    for (size_t i = 0; i < 2 * (sizeof forms / sizeof forms[0]); i++) {
        char out[64];
        cg_target t;
        cg_refusal why;
        assert_true(norm(forms[i / 2], strlen(forms[i / 2]), out, both_rules[i % 2], &t, &why));
        if (!cg_target_route_covers(CG_SLICE_LIT("/admin"), t.path, true))
            fail_msg("\"%s\" -> \"%.*s\" escapes route /admin", forms[i / 2], (int)t.path.n, t.path.p);
    }
}

/* The Windows file-system aliases of the hardening issue's follow-up: with
 * windows_paths each is refused, naming the segment and why; without it,
 * each is an ordinary path, kept (canonical) for the backend. */
static void test_windows_aliases(void **state)
{
    (void)state;
    static const char dot[] = "ends in '.': a path segment ending in '.' or ' ' is the same file as without "
                              "it on Windows (windows_paths)";
    static const char space[] = "ends in a space (%20): a path segment ending in '.' or ' ' is the same file "
                                "as without it on Windows (windows_paths)";
    static const char colon[] = "contains ':': on Windows \"name:stream\" is an NTFS alternate data stream of "
                                "\"name\" (\"admin::$DATA\" is \"admin\") (windows_paths)";
    static const char tilde[] = "has the shape of an 8.3 short name ('~' and a digit): Windows may resolve "
                                "it to a long name (\"ADMINI~1\" to \"administration\") (windows_paths)";
    static const struct {
        const char *sent, *segment; /* the segment named, as normalized */
        size_t at;                  /* its offset in the target as sent */
        const char *why, *posix;    /* the refusal's reason; the canonical target without windows_paths */
    } cases[] = {
        /* trailing dots and spaces */
        { "/admin.", "admin.", 1, dot, "/admin." },
        { "/admin./", "admin.", 1, dot, "/admin./" },
        { "/admin./x", "admin.", 1, dot, "/admin./x" },
        { "/admin..", "admin..", 1, dot, "/admin.." },
        { "/admin...?q", "admin...", 1, dot, "/admin...?q" },
        { "/admin%2e/x", "admin.", 1, dot, "/admin./x" },
        { "/admin%2E%2e", "admin..", 1, dot, "/admin.." },
        { "/admin%20", "admin%20", 1, space, "/admin%20" },
        { "/admin%20/", "admin%20", 1, space, "/admin%20/" },
        { "/admin%20?x", "admin%20", 1, space, "/admin%20?x" },
        { "/admin%20%20/x", "admin%20%20", 1, space, "/admin%20%20/x" },
        { "/admin.%20./", "admin.%20.", 1, dot, "/admin.%20./" },
        { "/admin%2e%20/", "admin.%20", 1, space, "/admin.%20/" },
        { "/admin%20.", "admin%20.", 1, dot, "/admin%20." },
        { "/ADMIN./x", "ADMIN.", 1, dot, "/ADMIN./x" },
        { "//x/admin.", "admin.", 4, dot, "/x/admin." },
        { "/x/../admin.", "admin.", 6, dot, "/admin." },
        { "/a/b./c", "b.", 3, dot, "/a/b./c" },
        { "/...", "...", 1, dot, "/..." },
        { "/a/.../b", "...", 3, dot, "/a/.../b" },
        { "/%20", "%20", 1, space, "/%20" },
        { "/a%20b%20/", "a%20b%20", 1, space, "/a%20b%20/" },
        /* 8.3 short names */
        { "/ADMINI~1/", "ADMINI~1", 1, tilde, "/ADMINI~1/" },
        { "/admini~1", "admini~1", 1, tilde, "/admini~1" },
        { "/ADMINI~1.ASP", "ADMINI~1.ASP", 1, tilde, "/ADMINI~1.ASP" },
        { "/admini%7e1/", "admini~1", 1, tilde, "/admini~1/" },
        { "/admini~%31/", "admini~1", 1, tilde, "/admini~1/" },
        { "/admini%7E%31/", "admini~1", 1, tilde, "/admini~1/" },
        { "/A~12", "A~12", 1, tilde, "/A~12" },
        { "/~9", "~9", 1, tilde, "/~9" },
        { "/x/AB~1CD", "AB~1CD", 3, tilde, "/x/AB~1CD" },
        /* NTFS streams */
        { "/admin::$DATA", "admin::$DATA", 1, colon, "/admin::$DATA" },
        { "/admin:$i30:$INDEX_ALLOCATION/", "admin:$i30:$INDEX_ALLOCATION", 1, colon,
          "/admin:$i30:$INDEX_ALLOCATION/" },
        { "/admin%3a%3a$DATA", "admin%3A%3A$DATA", 1, colon, "/admin%3A%3A$DATA" },
        { "/admin%3A/x", "admin%3A", 1, colon, "/admin%3A/x" },
        { "/a:", "a:", 1, colon, "/a:" },
        { "/:", ":", 1, colon, "/:" },
        { "/c:/windows", "c:", 1, colon, "/c:/windows" },
        { "/x/y:z?q", "y:z", 3, colon, "/x/y:z?q" },
        /* the first rule that a segment breaks is named */
        { "/ADMINI~1::$DATA.", "ADMINI~1::$DATA.", 1, dot, "/ADMINI~1::$DATA." },
        { "/ADMINI~1::$DATA", "ADMINI~1::$DATA", 1, colon, "/ADMINI~1::$DATA" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256], expect[512];
        cg_target t;
        cg_refusal why;
        const char *s = cases[i].sent;
        if (norm(s, strlen(s), out, CG_TARGET_WINDOWS, &t, &why))
            fail_msg("\"%s\" accepted as \"%.*s\" with windows_paths", s, (int)t.target.n, t.target.p);
        assert_int_equal(why.kind, CG_REFUSE_BAD_REQUEST);
        snprintf(expect, sizeof expect, "request target refused: the path segment \"%s\" (at byte %zu of the "
                 "target) %s", cases[i].segment, cases[i].at, cases[i].why);
        if (strcmp(why.detail, expect) != 0)
            fail_msg("\"%s\":\n  got      %s\n  expected %s", s, why.detail, expect);
        if (!norm(s, strlen(s), out, CG_TARGET_POSIX, &t, &why))
            fail_msg("\"%s\" refused without windows_paths: %s", s, why.detail);
        if (t.target.n != strlen(cases[i].posix) || memcmp(t.target.p, cases[i].posix, t.target.n) != 0)
            fail_msg("\"%s\" -> \"%.*s\", expected \"%s\"", s, (int)t.target.n, t.target.p, cases[i].posix);
    }
}

static void test_route_path_ok(void **state)
{
    (void)state;
    static const char *const good[] = { "/", "/admin", "/admin/", "/a/b.c/d-e_f~g", "/My%20Docs",
                                        "/caf%C3%A9", "/a%3Fb", "/a%23b", "/a%25" };
    char why[512];
    for (size_t i = 0; i < 2 * (sizeof good / sizeof good[0]); i++)
        if (!cg_target_route_path_ok(good[i / 2], both_rules[i % 2], why, sizeof why))
            fail_msg("\"%s\" (%s): %s", good[i / 2], RULES_NAME(both_rules[i % 2]), why);
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
    for (size_t i = 0; i < 2 * (sizeof bad / sizeof bad[0]); i++) {
        why[0] = '\0';
        if (cg_target_route_path_ok(bad[i / 2].path, both_rules[i % 2], why, sizeof why))
            fail_msg("\"%s\" accepted", bad[i / 2].path);
        if (!strstr(why, bad[i / 2].why))
            fail_msg("\"%s\": \"%s\" does not contain \"%s\"", bad[i / 2].path, why, bad[i / 2].why);
    }
    /* With windows_paths, a route that every request for is refused could
     * never match; without it, these are ordinary routes. */
    static const struct {
        const char *path, *why;
    } never[] = {
        { "/admin.", "can never match: every request for it is refused, because the path segment \"admin.\" "
                     "(at byte 1 of the target) ends in '.'" },
        { "/a/b./c", "the path segment \"b.\" (at byte 3 of the target) ends in '.'" },
        { "/admin%20", "ends in a space (%20)" },
        { "/ADMINI~1", "has the shape of an 8.3 short name" },
        { "/a/~1/", "has the shape of an 8.3 short name" },
    };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        why[0] = '\0';
        if (cg_target_route_path_ok(never[i].path, CG_TARGET_WINDOWS, why, sizeof why))
            fail_msg("\"%s\" accepted with windows_paths", never[i].path);
        if (!strstr(why, never[i].why))
            fail_msg("\"%s\": \"%s\" does not contain \"%s\"", never[i].path, why, never[i].why);
        if (!cg_target_route_path_ok(never[i].path, CG_TARGET_POSIX, why, sizeof why))
            fail_msg("\"%s\" refused without windows_paths: %s", never[i].path, why);
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
        cmocka_unit_test(test_windows_aliases),
        cmocka_unit_test(test_route_path_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
