/* Text helpers (text.h). */
#include "text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool cg_ascii_ieq_str(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && cg_ascii_ieq(a, b, alen);
}

size_t cg_hex_encode(const unsigned char *p, size_t n, char *out, size_t cap, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    if (cap == 0)
        return 0;
    if (n > (cap - 1) / 2)
        n = (cap - 1) / 2;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

size_t cg_fmt_into(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || cap == 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t cg_fmt_append(char *out, size_t cap, size_t len, const char *fmt, ...)
{
    if (len >= cap)
        return len;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + len, cap - len, fmt, ap);
    va_end(ap);
    if (k < 0)
        return len;
    if ((size_t)k >= cap - len) {
        if (cap >= 4)
            memcpy(out + cap - 4, "...", 4);
        return cap;
    }
    return len + (size_t)k;
}

void cg_fmt_time_utc(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(out, cap, "?");
        return;
    }
    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void cg_fmt_size_units(uint64_t v, char *out, size_t cap)
{
    if (v >= (1u << 30) && v % (1u << 30) == 0)
        snprintf(out, cap, "%" PRIu64 " GiB", v >> 30);
    else if (v >= (1u << 20) && v % (1u << 20) == 0)
        snprintf(out, cap, "%" PRIu64 " MiB", v >> 20);
    else if (v >= 1024 && v % 1024 == 0)
        snprintf(out, cap, "%" PRIu64 " KiB", v >> 10);
    else
        snprintf(out, cap, "%" PRIu64 " bytes", v);
}

void cg_fmt_ms(uint32_t ms, char *out, size_t cap)
{
    if (ms % 1000 == 0)
        snprintf(out, cap, "%us", ms / 1000);
    else
        snprintf(out, cap, "%ums", ms);
}
