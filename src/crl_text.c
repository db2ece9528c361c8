/* Text helpers of the revocation modules (crl_text.h). */
#include "crl_text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t crl_now(void) { return (int64_t)time(NULL); }

void crl_fmt_time(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(out, cap, "?");
        return;
    }
    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void crl_fmt_size(uint64_t v, char *out, size_t cap)
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

void crl_fmt_ms(uint32_t ms, char *out, size_t cap)
{
    if (ms % 1000 == 0)
        snprintf(out, cap, "%us", ms / 1000);
    else
        snprintf(out, cap, "%ums", ms);
}

void crl_hex(const unsigned char *p, size_t n, char *out, size_t cap)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!cap)
        return;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        out[o++] = digits[p[i] >> 4];
        out[o++] = digits[p[i] & 15];
    }
    out[o] = '\0';
}

void crl_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char **crl_strv_dup(char *const *v, size_t n)
{
    char **d = calloc(n ? n : 1, sizeof *d);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(d[i] = strdup(v[i]))) {
            crl_strv_free(d, i);
            return NULL;
        }
    return d;
}

size_t crl_append(char *out, size_t cap, size_t len, const char *fmt, ...)
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
