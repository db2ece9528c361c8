/* Text helpers shared by the parts of the certificate mapping (glob.c,
 * cert_view.c, principal.c, the loader, the matcher, explain): snprintf
 * that says what it wrote, a bounded string builder that never cuts a UTF-8
 * sequence, ASCII case and digit helpers, and the check that text is UTF-8
 * without control characters. Internal to the mapping modules: header-only,
 * static inline, nothing else includes it.
 */
#ifndef CG_MAPPING_TEXT_H
#define CG_MAPPING_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dn.h"

/* snprintf that returns what it wrote (never more than cap - 1). */
__attribute__((format(printf, 3, 4)))
static inline size_t fmt_into(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || cap == 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* A bounded string being built. Truncation never splits a UTF-8 sequence,
 * so a truncated detail sentence is still valid text for logs and pages. */
typedef struct cg_sb {
    char *p;
    size_t cap, len;
    bool full;
} cg_sb;

static inline void sb_init(cg_sb *b, char *p, size_t cap)
{
    b->p = p;
    b->cap = cap;
    b->len = 0;
    b->full = cap == 0;
    if (cap)
        p[0] = '\0';
}

static inline void sb_add(cg_sb *b, const char *s, size_t n)
{
    if (b->full)
        return;
    size_t room = b->cap - 1 - b->len;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* s[n] continues the sequence that would be cut */
        b->full = true;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void sb_puts(cg_sb *b, const char *s) { sb_add(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3)))
static inline void sb_printf(cg_sb *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Appends at most max bytes of s ("..." when cut), for quoting values. */
static inline void sb_clip(cg_sb *b, const char *s, size_t n, size_t max)
{
    if (n <= max) {
        sb_add(b, s, n);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    sb_add(b, s, max);
    sb_puts(b, "...");
}

static inline void hex_lower(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static inline char fold(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }
static inline char upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 32) : c; }

static inline bool ascii_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (fold(a[i]) != fold(b[i]))
            return false;
    return true;
}

/* ---- UTF-8 ---- */

/* C0 controls (NUL included), DEL and C1 controls. */
static inline bool is_control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

/* Why s is not acceptable text (NULL when it is); *at is the byte offset. */
static inline const char *text_problem(const char *s, size_t len, size_t *at)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = cg_utf8_next(p + i, len - i, &cp);
        *at = i;
        if (k == 0)
            return "is not valid UTF-8";
        if (cp == 0)
            return "contains a NUL character";
        if (is_control(cp))
            return "contains a control character";
        i += k;
    }
    return NULL;
}

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static inline int hexval(char c)
{
    if (is_digit(c))
        return c - '0';
    c = fold(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#endif
