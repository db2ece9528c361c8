/* Small text helpers of the HTTP/1.1 head code (http1.c, http1_lists.c):
 * optional whitespace, slices. Internal to src/http. */
#ifndef CG_HTTP1_TEXT_H
#define CG_HTTP1_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

static inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

static inline cg_slice slice(const char *p, size_t n) { return (cg_slice){ p, n }; }

/* s without leading and trailing SP and HTAB */
static inline cg_slice trim_ows(cg_slice s)
{
    while (s.n && is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && is_ows(s.p[s.n - 1]))
        s.n--;
    return s;
}

static inline bool slices_ieq(cg_slice a, cg_slice b) { return a.n == b.n && cg_ascii_ieq(a.p, b.p, a.n); }

#endif
