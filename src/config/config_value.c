#include "config_value.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>


/* Leading decimal digits of s into *v; *end points past them. Overflow is
 * remembered in *big rather than stopping, so "99999999999999999999x" is
 * still a syntax error and not a range error. */
static bool scan_digits(const char *s, uint64_t *v, bool *big, const char **end)
{
    const char *p = s;
    *v = 0;
    *big = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (*v > (UINT64_MAX - d) / 10)
            *big = true;
        else
            *v = *v * 10 + d;
    }
    *end = p;
    return p != s;
}

cg_num cg_value_parse_uint(const char *s, uint64_t *out)
{
    const char *end;
    bool big;
    if (!scan_digits(s, out, &big, &end) || *end)
        return CG_NUM_SYNTAX;
    return big ? CG_NUM_RANGE : CG_NUM_OK;
}

cg_num cg_value_parse_duration(const char *s, uint32_t *out_ms)
{
    uint64_t v, mult;
    const char *unit;
    bool big;
    if (!s || !scan_digits(s, &v, &big, &unit))
        return CG_NUM_SYNTAX;
    if (strcmp(unit, "ms") == 0)
        mult = 1;
    else if (*unit == '\0' || strcmp(unit, "s") == 0)
        mult = 1000;
    else if (strcmp(unit, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(unit, "h") == 0)
        mult = 3600 * 1000;
    else
        return CG_NUM_SYNTAX;
    if (big || v > UINT32_MAX / mult)
        return CG_NUM_RANGE;
    *out_ms = (uint32_t)(v * mult);
    return CG_NUM_OK;
}

cg_num cg_value_parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mult;
    const char *unit;
    bool big;
    if (!s || !scan_digits(s, &v, &big, &unit))
        return CG_NUM_SYNTAX;
    switch (unit[0]) {
    case '\0': mult = 1; break;
    case 'k': case 'K': mult = 1ull << 10; break;
    case 'm': case 'M': mult = 1ull << 20; break;
    case 'g': case 'G': mult = 1ull << 30; break;
    default: return CG_NUM_SYNTAX;
    }
    if (unit[0] && unit[1])
        return CG_NUM_SYNTAX;
    if (big || v > UINT64_MAX / mult)
        return CG_NUM_RANGE;
    *out = v * mult;
    return CG_NUM_OK;
}

bool cg_parse_duration_ms(const char *s, uint32_t *out_ms)
{
    uint32_t v;
    if (cg_value_parse_duration(s, &v) != CG_NUM_OK)
        return false;
    *out_ms = v;
    return true;
}

bool cg_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    if (cg_value_parse_size(s, &v) != CG_NUM_OK)
        return false;
    *out = v;
    return true;
}

/* The shortest exact spelling, for bounds in messages: 1048576 -> "1m". */
const char *cg_value_fmt_size(uint64_t v, char *buf, size_t cap)
{
    if (v && v % (1u << 30) == 0)
        snprintf(buf, cap, "%llug", (unsigned long long)(v >> 30));
    else if (v && v % (1u << 20) == 0)
        snprintf(buf, cap, "%llum", (unsigned long long)(v >> 20));
    else if (v && v % 1024 == 0)
        snprintf(buf, cap, "%lluk", (unsigned long long)(v >> 10));
    else
        snprintf(buf, cap, "%llu", (unsigned long long)v);
    return buf;
}

const char *cg_value_fmt_duration(uint32_t ms, char *buf, size_t cap)
{
    if (ms == 0)
        snprintf(buf, cap, "0s");
    else if (ms % 3600000 == 0)
        snprintf(buf, cap, "%uh", ms / 3600000);
    else if (ms && ms % 60000 == 0)
        snprintf(buf, cap, "%um", ms / 60000);
    else if (ms && ms % 1000 == 0)
        snprintf(buf, cap, "%us", ms / 1000);
    else
        snprintf(buf, cap, "%ums", ms);
    return buf;
}

bool cg_value_address_key(const char *s, cg_sockaddr_key *k)
{
    memset(k, 0, sizeof *k);
    if (inet_pton(AF_INET, s, k->addr) == 1)
        k->family = AF_INET;
    else if (inet_pton(AF_INET6, s, k->addr) == 1)
        k->family = AF_INET6;
    return k->family != 0;
}
