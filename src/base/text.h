/* Text helpers every module may use: ASCII case (bytes only, never the
 * locale), hex digits in and out, bounded formatting, and the human
 * spellings of times, sizes and durations in operator sentences. The small
 * ones are inline: target.c, chunked.c and http1.c call them per byte.
 * (Their future wing is src/base/.)
 */
#ifndef CG_TEXT_H
#define CG_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- ASCII ---- */

/* Like tolower/toupper/isdigit/isalpha in the C locale, on a char or an
 * unsigned char alike: bytes outside ASCII are never letters or digits. */
static inline int cg_ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static inline int cg_ascii_upper(int c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }
static inline bool cg_ascii_is_digit(int c) { return c >= '0' && c <= '9'; }
static inline bool cg_ascii_is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* a[0..n) and b[0..n) equal but for ASCII case. */
static inline bool cg_ascii_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cg_ascii_lower((unsigned char)a[i]) != cg_ascii_lower((unsigned char)b[i]))
            return false;
    return true;
}

/* dst[0..n) = src[0..n) in ASCII lower case (dst may be src). */
static inline void cg_ascii_lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)cg_ascii_lower(src[i]);
}

/* a[0..alen) and the string b equal but for ASCII case. */
bool cg_ascii_ieq_str(const char *a, size_t alen, const char *b);

/* ---- hex ---- */

/* The value of a hex digit (either case), -1 for any other byte. */
static inline int cg_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* a negative char stays negative */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Hex of p[0..n) (two digits a byte, lower or upper case) into out, cut
 * to whole bytes that fit cap; always NUL-terminated when cap > 0. Returns
 * the length written. out[2n + 1] always fits the whole of it. */
size_t cg_hex_encode(const unsigned char *p, size_t n, char *out, size_t cap, bool upper);

/* ---- bounded formatting ---- */

/* snprintf that returns what it actually wrote (never more than cap - 1),
 * so lengths can be summed safely; cutting long values is intended. */
size_t cg_fmt_into(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends at out + len; when it does not fit, the end of out becomes "..."
 * and cap is returned. Returns the new length. */
size_t cg_fmt_append(char *out, size_t cap, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- human spellings, for sentences ---- */

/* "2026-01-31 12:00:00 UTC" ("?" when t cannot be represented). */
void cg_fmt_time_utc(int64_t t, char *out, size_t cap);
/* "64 MiB", "1 KiB", "1000 bytes": the largest unit that divides v. */
void cg_fmt_size_units(uint64_t v, char *out, size_t cap);
/* "10s", "1500ms". */
void cg_fmt_ms(uint32_t ms, char *out, size_t cap);

/* v in decimal at p (at most 20 bytes, no NUL); returns the end. One or two
 * digits, the usual lengths and worker numbers, without the loop. */
static inline char *cg_put_dec(char *p, uint64_t v)
{
    if (v < 100) {
        if (v >= 10)
            *p++ = (char)('0' + v / 10);
        *p++ = (char)('0' + v % 10);
        return p;
    }
    char tmp[20];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = tmp[--n];
    return p;
}

#endif
