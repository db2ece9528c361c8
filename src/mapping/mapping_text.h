/* Text helpers shared by the parts of the certificate mapping (glob.c,
 * cert_view.c, principal.c, the loader, the matcher, explain): a bounded
 * string builder that never cuts a UTF-8 sequence, and the check that text
 * is UTF-8 without control characters. The ASCII, hex and formatting
 * helpers they use are text.h's. Internal to the mapping modules: header-only,
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

#include "x509/x509.h"
#include "base/base.h"

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

#endif
