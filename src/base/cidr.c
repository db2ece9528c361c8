#include "cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Numeric address text -> 16 bytes; *is_v4 says which family it was. */
static bool parse_addr(const char *s, uint8_t out[16], bool *is_v4)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memcpy(out, v4_prefix, 12);
        memcpy(out + 12, &a4, 4);
        *is_v4 = true;
        return true;
    }
    *is_v4 = false;
    return inet_pton(AF_INET6, s, out) == 1;
}

static bool in_range(const cg_cidr *c, const uint8_t a[16])
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a, c->addr, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == c->addr[full];
}

bool cg_cidr_parse(const char *s, cg_cidr *out, char *why, size_t cap)
{
    char text[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof text) {
        snprintf(why, cap, "expected an address such as 10.0.0.0/8 or 2001:db8::/32");
        return false;
    }
    memcpy(text, s, alen);
    text[alen] = '\0';
    bool v4;
    cg_cidr c = { 0 };
    if (!parse_addr(text, c.addr, &v4)) {
        snprintf(why, cap, "\"%s\" is not a numeric IPv4 or IPv6 address", text);
        return false;
    }
    unsigned max = v4 ? 32 : 128, prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t nd = strspn(p, "0123456789");
        if (nd == 0 || nd > 3 || p[nd] != '\0' || (nd > 1 && p[0] == '0')) {
            snprintf(why, cap, "the prefix length after '/' must be a number from 0 to %u", max);
            return false;
        }
        prefix = 0;
        for (size_t i = 0; i < nd; i++)
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        if (prefix > max) {
            snprintf(why, cap, "prefix length /%u is longer than an %s address (at most /%u)", prefix,
                     v4 ? "IPv4" : "IPv6", max);
            return false;
        }
    }
    c.bits = (uint8_t)(v4 ? prefix + 96 : prefix);
    cg_cidr net = c;
    unsigned full = net.bits / 8, rest = net.bits % 8;
    if (full < 16) {
        if (rest)
            net.addr[full] &= (uint8_t)(0xff << (8 - rest));
        memset(net.addr + full + (rest ? 1 : 0), 0, 16 - full - (rest ? 1 : 0));
    }
    if (memcmp(net.addr, c.addr, 16) != 0) {
        char canon[64];
        snprintf(why, cap, "\"%s\" has bits set after the /%u prefix: write the network (%s) or one address (%s/%u)",
                 s, prefix, cg_cidr_format(&net, canon, sizeof canon), text, max);
        return false;
    }
    *out = net;
    return true;
}

bool cg_cidr_list_contains(const cg_cidr *list, size_t n, const char *ip)
{
    uint8_t a[16];
    bool v4;
    if (!ip || !parse_addr(ip, a, &v4))
        return false;
    for (size_t i = 0; i < n; i++)
        if (in_range(&list[i], a))
            return true;
    return false;
}

const char *cg_cidr_format(const cg_cidr *c, char *out, size_t cap)
{
    char text[INET6_ADDRSTRLEN];
    if (c->bits >= 96 && memcmp(c->addr, v4_prefix, 12) == 0) {
        inet_ntop(AF_INET, c->addr + 12, text, sizeof text);
        snprintf(out, cap, "%s/%u", text, c->bits - 96u);
    } else {
        inet_ntop(AF_INET6, c->addr, text, sizeof text);
        snprintf(out, cap, "%s/%u", text, (unsigned)c->bits);
    }
    return out;
}
