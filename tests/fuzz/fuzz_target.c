/* libFuzzer target for the request-target normalizer (src/base/target.c).
 *
 * The input is a request target, normalized under both rule sets
 * (CG_TARGET_POSIX and CG_TARGET_WINDOWS). Checked on every input, besides
 * the sanitizers:
 *   - in place and out of place give the same answer and the same bytes;
 *   - the canonical target is no longer than the input, starts with '/'
 *     (or is "*"), and its path holds no "//", no "." or ".." segment, no
 *     byte outside 0x21..0x7e, no '\', no ';', no %2F/%5C, no lowercase
 *     hex and no %XX of an unreserved character; its query is the input's,
 *     byte for byte;
 *   - with CG_TARGET_WINDOWS, no path segment ends in '.' or %20, holds ':'
 *     or %3A, or holds '~' followed by a digit;
 *   - the rules only add refusals: what CG_TARGET_WINDOWS accepts, POSIX
 *     accepts with the same result; what POSIX refuses, WINDOWS refuses
 *     (with the same sentence, or earlier in the target for a Windows
 *     alias); a refusal only WINDOWS makes is a windows_paths sentence;
 *   - normalizing it again gives it back, unchanged (idempotent);
 *   - "changed" is exactly "differs from the input";
 *   - a refusal is a 400 with a sentence;
 *   - route matching: a route that covers the canonical path covers it in
 *     either case when case-insensitive, and every prefix of the path that
 *     ends at a segment boundary covers it.
 * Build and run from the repository root (tests/fuzz/run builds
 * fuzz_mapping only):
 *   clang -g -O1 -std=c17 -D_GNU_SOURCE -Wall -Wextra \
 *       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *       -fno-omit-frame-pointer -Isrc tests/fuzz/fuzz_target.c src/base/target.c \
 *       src/base/http_excerpt.c src/base/error.c -o build-fuzz/fuzz_target
 *   cp -r tests/fuzz/corpus-target build-fuzz/corpus-target-run
 *   build-fuzz/fuzz_target -max_total_time=120 -max_len=4096 -timeout=10 \
 *       -detect_leaks=1 -artifact_prefix=build-fuzz/target- build-fuzz/corpus-target-run
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/target.h"

static bool unreserved(unsigned char c)
{
    unsigned char l = c | 0x20;
    return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lowercase is a failure too */
}

static void check_canonical_path(cg_slice p, unsigned rules)
{
    bool win = rules & CG_TARGET_WINDOWS;
    if (p.n == 1 && p.p[0] == '*')
        return;
    if (p.n == 0 || p.p[0] != '/')
        abort();
    size_t seg = 1;
    for (size_t i = 1; i <= p.n; i++) {
        unsigned char c = i < p.n ? (unsigned char)p.p[i] : '/';
        if (c == '/') {
            size_t len = i - seg;
            if (i < p.n && len == 0) /* "//" */
                abort();
            if ((len == 1 && p.p[seg] == '.') || (len == 2 && p.p[seg] == '.' && p.p[seg + 1] == '.'))
                abort();
            /* Windows: no trailing '.' or space (the space is %20 here). */
            if (win && len && (p.p[i - 1] == '.' || (len >= 3 && memcmp(p.p + i - 3, "%20", 3) == 0)))
                abort();
            seg = i + 1;
            continue;
        }
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '?' || c == '#' || c == ';')
            abort();
        if (win && (c == ':' || (c == '~' && i + 1 < p.n && p.p[i + 1] >= '0' && p.p[i + 1] <= '9')))
            abort();
        if (c == '%') {
            if (i + 2 >= p.n)
                abort();
            int hi = hexv((unsigned char)p.p[i + 1]), lo = hexv((unsigned char)p.p[i + 2]);
            if (hi < 0 || lo < 0)
                abort();
            int v = hi * 16 + lo;
            if (unreserved((unsigned char)v) || v == '/' || v == '\\' || v < 0x20 || v == 0x7f ||
                (win && v == ':'))
                abort();
            i += 2;
        }
    }
}

/* Normalizes the input under rules and checks everything above; returns
 * whether it was accepted, with the canonical target copied into keep
 * (room for size bytes) or the refusal into keep_why. */
static bool check_rules(const uint8_t *data, size_t size, unsigned rules, char *keep, size_t *keep_n,
                        cg_refusal *keep_why)
{
    const char *in = (const char *)data;
    char *out = malloc(size ? size : 1), *inplace = malloc(size ? size : 1);
    if (!out || !inplace)
        abort();
    if (size)
        memcpy(inplace, data, size);
    cg_target t, t2;
    cg_refusal why, why2;
    bool ok = cg_target_normalize(in, size, out, rules, &t, &why);
    bool ok2 = cg_target_normalize(inplace, size, inplace, rules, &t2, &why2);
    if (ok != ok2)
        abort();
    if (!ok) {
        if (why.kind != CG_REFUSE_BAD_REQUEST || !why.detail[0] || strcmp(why.detail, why2.detail) != 0)
            abort();
        *keep_why = why;
        goto done;
    }
    memcpy(keep, t.target.p, t.target.n);
    *keep_n = t.target.n;
    if (t.target.n > size || t.target.p != out || t.path.p != out || t.path.n > t.target.n ||
        t2.target.n != t.target.n || memcmp(t2.target.p, t.target.p, t.target.n) != 0 ||
        t2.path.n != t.path.n || t2.changed != t.changed)
        abort();
    if (t.changed != (t.target.n != size || memcmp(t.target.p, in, size) != 0))
        abort();
    check_canonical_path(t.path, rules);
    /* The query is the input's tail, as sent. */
    size_t qn = t.target.n - t.path.n;
    if (qn && (t.target.p[t.path.n] != '?' || qn > size ||
               memcmp(t.target.p + t.path.n, in + size - qn, qn) != 0))
        abort();
    for (size_t i = t.path.n; i < t.target.n; i++) {
        unsigned char c = (unsigned char)t.target.p[i];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            abort();
    }

    /* Idempotent. */
    char *again = malloc(t.target.n ? t.target.n : 1);
    if (!again)
        abort();
    cg_target t3;
    if (!cg_target_normalize(t.target.p, t.target.n, again, rules, &t3, &why) || t3.changed ||
        t3.target.n != t.target.n || memcmp(again, t.target.p, t.target.n) != 0)
        abort();
    free(again);

    /* Route matching: every segment-boundary prefix of the path covers it,
     * in the path's own case and folded. */
    if (t.path.p[0] == '/') {
        for (size_t k = 1; k <= t.path.n; k++) {
            if (k < t.path.n && t.path.p[k] != '/' && t.path.p[k - 1] != '/')
                continue;
            cg_slice prefix = { t.path.p, k };
            if (!cg_target_route_covers(prefix, t.path, false) || !cg_target_route_covers(prefix, t.path, true))
                abort();
            char folded[64];
            if (k <= sizeof folded) {
                for (size_t j = 0; j < k; j++) {
                    char c = t.path.p[j];
                    folded[j] = (char)((c >= 'a' && c <= 'z') ? c - 32 : (c >= 'A' && c <= 'Z') ? c + 32 : c);
                }
                if (!cg_target_route_covers((cg_slice){ folded, k }, t.path, true))
                    abort();
            }
        }
    }
    /* A canonical path accepted as a route path is its own canonical form,
     * accepted in requests under the same rules. */
    char *route = malloc(t.path.n + 1);
    if (!route)
        abort();
    memcpy(route, t.path.p, t.path.n);
    route[t.path.n] = '\0';
    char rwhy[512];
    if (cg_target_route_path_ok(route, rules, rwhy, sizeof rwhy)) {
        cg_target t4;
        char r4[512];
        if (t.path.n > sizeof r4 || !cg_target_normalize(route, t.path.n, r4, rules, &t4, &why) || t4.changed)
            abort();
    }
    free(route);
done:
    /* The route-path check on the raw input (up to a NUL), for crashes. */
    {
        char *s = malloc(size + 1), rw[512];
        if (!s)
            abort();
        memcpy(s, data, size);
        s[size] = '\0';
        (void)cg_target_route_path_ok(s, rules, rw, sizeof rw);
        free(s);
    }
    free(out);
    free(inplace);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *posix = malloc(size ? size : 1), *win = malloc(size ? size : 1);
    if (!posix || !win)
        abort();
    size_t posix_n = 0, win_n = 0;
    cg_refusal posix_why, win_why;
    bool posix_ok = check_rules(data, size, CG_TARGET_POSIX, posix, &posix_n, &posix_why);
    bool win_ok = check_rules(data, size, CG_TARGET_WINDOWS, win, &win_n, &win_why);
    /* windows_paths only refuses more, and never changes a canonical form. */
    if (win_ok && (!posix_ok || win_n != posix_n || memcmp(win, posix, win_n) != 0))
        abort();
    static const char win_tail[] = " (windows_paths)";
    size_t wl = win_ok ? 0 : strlen(win_why.detail);
    bool win_sentence = wl >= sizeof win_tail - 1 && strcmp(win_why.detail + wl - (sizeof win_tail - 1), win_tail) == 0;
    if (!posix_ok && (win_ok || (strcmp(posix_why.detail, win_why.detail) != 0 && !win_sentence)))
        abort();
    if (posix_ok && !win_ok && !win_sentence)
        abort();
    free(posix);
    free(win);
    return 0;
}
