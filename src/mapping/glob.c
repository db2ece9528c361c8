/* Wildcard patterns (glob.h). */
#include "glob.h"

#include <stdint.h>

#include "mapping_text.h"

/* ======================================================================
 * Wildcard patterns
 *
 * Compiled form: literal UTF-8 with '*' as GLOB_STAR and '?' as GLOB_ANY
 * (control bytes, which neither valid patterns nor valid values contain),
 * and, for case-insensitive patterns, ASCII letters already lowered, so a
 * match folds only the value, byte by byte, without allocating. ASCII
 * folding is byte-safe in UTF-8: no byte of a multi-byte sequence is ASCII.
 * ====================================================================== */

#define GLOB_STAR '\x01'
#define GLOB_ANY  '\x02'

const char *cg_glob_compile(const char *src, size_t len, bool case_sensitive, char *out,
                            size_t *out_len, size_t *at)
{
    size_t o = 0;
    *at = 0;
    if (len == 0)
        return "is empty (write \"*\" to match any value)";
    const char *bad = text_problem(src, len, at);
    if (bad)
        return bad;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        *at = i;
        if (c == '\\') {
            if (i + 1 == len)
                return "ends with a lone '\\' (write \"\\\\\" for a backslash)";
            c = src[++i];
            if (c != '*' && c != '?' && c != '\\')
                return "has '\\' before a character other than '*', '?' or '\\' (write \"\\\\\" for a "
                       "backslash)";
            out[o++] = case_sensitive ? c : cg_ascii_lower(c);
        } else if (c == '*') {
            if (o == 0 || out[o - 1] != GLOB_STAR) /* "**" is "*" */
                out[o++] = GLOB_STAR;
        } else if (c == '?') {
            out[o++] = GLOB_ANY;
        } else {
            out[o++] = case_sensitive ? c : cg_ascii_lower(c);
        }
    }
    *out_len = o;
    return NULL;
}

/* Bytes of the UTF-8 sequence starting at s[0] (s is valid UTF-8). */
static size_t cp_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Iterative matching with one backtrack point (the last '*'): linear in
 * practice, O(len(pattern) * len(value)) at worst, no recursion. '?' and
 * '*' work on code points, so "?" matches "é" (two bytes). */
bool cg_glob_match(const char *pat, size_t plen, bool case_sensitive, const char *val, size_t vlen)
{
    size_t p = 0, v = 0, star = SIZE_MAX, mark = 0;
    while (v < vlen) {
        if (p < plen && pat[p] == GLOB_ANY) {
            v += cp_len((unsigned char)val[v]);
            p++;
        } else if (p < plen && pat[p] == GLOB_STAR) {
            star = ++p;
            mark = v;
        } else if (p < plen && pat[p] == (case_sensitive ? val[v] : cg_ascii_lower(val[v]))) {
            p++;
            v++;
        } else if (star != SIZE_MAX) {
            p = star;
            mark += cp_len((unsigned char)val[mark]);
            v = mark;
        } else {
            return false;
        }
    }
    while (p < plen && pat[p] == GLOB_STAR)
        p++;
    return p == plen && v == vlen;
}

/* One token of a compiled pattern: a wildcard or one literal code point. */
static size_t tok_len(const char *p)
{
    return *p == GLOB_STAR || *p == GLOB_ANY ? 1 : cp_len((unsigned char)*p);
}

/* Whether token a (not a star) matches every character token b can. */
static bool tok_covers(const char *a, bool a_cs, const char *b, bool b_cs)
{
    if (*b == GLOB_STAR)
        return false;
    if (*a == GLOB_ANY)
        return true;
    if (*b == GLOB_ANY)
        return false;
    size_t n = tok_len(a);
    if (n != tok_len(b))
        return false;
    if (a_cs) {
        /* A case-insensitive letter in b stands for two characters. */
        if (!b_cs && n == 1 && cg_ascii_is_alpha(*b))
            return false;
        return memcmp(a, b, n) == 0;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != cg_ascii_lower(b[i]))
            return false;
    return true;
}

/* Matches pattern a against pattern b's tokens as if they were text, where
 * a's '*' may swallow any tokens of b (wildcards included), a's '?' any one
 * character token, and a literal only the same literal. Each string b
 * matches is then matched by a: sound. Not complete ("*?" covers "?*" but
 * this says no); the shadow warning only needs soundness. */
bool cg_glob_covers(const char *a, size_t alen, bool a_cs, const char *b, size_t blen, bool b_cs)
{
    size_t i = 0, j = 0, star = SIZE_MAX, mark = 0;
    while (j < blen) {
        if (i < alen && a[i] == GLOB_STAR) {
            star = ++i;
            mark = j;
        } else if (i < alen && tok_covers(a + i, a_cs, b + j, b_cs)) {
            i += tok_len(a + i);
            j += tok_len(b + j);
        } else if (star != SIZE_MAX) {
            i = star;
            mark += tok_len(b + mark);
            j = mark;
        } else {
            return false;
        }
    }
    while (i < alen && a[i] == GLOB_STAR)
        i++;
    return i == alen;
}
