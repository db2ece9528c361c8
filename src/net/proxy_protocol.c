/* PROXY protocol headers, v1 and v2: see proxy_protocol.h. */
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const uint8_t V2_SIGNATURE[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
static const char V1_PREFIX[] = "PROXY ";
#define V1_PREFIX_LEN (sizeof V1_PREFIX - 1)

enum { V2_CMD_LOCAL = 0x0, V2_CMD_PROXY = 0x1 };
enum { V2_UNSPEC = 0x00, V2_TCP4 = 0x11, V2_TCP6 = 0x21 };
#define V2_TCP4_LEN 12 /* two addresses of 4 bytes, two ports */
#define V2_TCP6_LEN 36

__attribute__((format(printf, 3, 4))) static cg_pp_status bad(char *why, size_t cap, const char *fmt, ...)
{
    if (cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return CG_PP_BAD;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* ---- version 1: one text line ---- */

/* A decimal port, 0 to 65535, without leading zeros. */
static bool v1_port(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* A numeric address of family af (inet_pton: dotted quads of four decimal
 * parts without leading zeros; RFC 4291 text, no zone) with its port. */
static bool v1_address(int af, const char *s, size_t n, uint16_t port, struct sockaddr_storage *out)
{
    char text[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof text)
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    memset(out, 0, sizeof *out);
    if (af == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        return inet_pton(AF_INET, text, &in->sin_addr) == 1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1;
}

static cg_pp_status parse_v1(const uint8_t *p, size_t n, cg_pp_header *out, size_t *len, char *why, size_t cap)
{
    size_t lim = n < CG_PP_V1_MAX ? n : CG_PP_V1_MAX;
    if (memcmp(p, V1_PREFIX, lim < V1_PREFIX_LEN ? lim : V1_PREFIX_LEN) != 0)
        return bad(why, cap, "not a PROXY protocol header (v1 lines start with \"PROXY \")");
    size_t i;
    for (i = 0; i < lim; i++) {
        uint8_t ch = p[i];
        if (ch == '\n')
            break;
        if (ch == '\r') {
            if (i + 1 < lim && p[i + 1] != '\n')
                return bad(why, cap, "PROXY v1 header: a CR not followed by LF at byte %zu", i);
            continue;
        }
        if (ch < 0x20 || ch > 0x7e)
            return bad(why, cap, "PROXY v1 header: byte 0x%02x at offset %zu is not printable ASCII", ch, i);
    }
    if (i == lim) {
        if (lim == CG_PP_V1_MAX)
            return bad(why, cap, "PROXY v1 header: no CRLF within %d bytes", CG_PP_V1_MAX);
        return CG_PP_MORE;
    }
    if (p[i - 1] != '\r')
        return bad(why, cap, "PROXY v1 header: the line ends in a bare LF (expected CRLF)");

    /* The fields, each followed by exactly one space but the last. */
    const char *line = (const char *)p + V1_PREFIX_LEN;
    size_t line_len = i - 1 - V1_PREFIX_LEN;
    const char *f[5];
    size_t fl[5], nf = 0, start = 0;
    for (size_t k = 0; k <= line_len; k++) {
        if (k < line_len && line[k] != ' ')
            continue;
        if (nf == 0 && k - start == 7 && memcmp(line, "UNKNOWN", 7) == 0) {
            /* The spec: the rest of the line is to be ignored. */
            memset(out, 0, sizeof *out);
            out->version = 1;
            out->local = true;
            *len = i + 1;
            return CG_PP_DONE;
        }
        if (k == start)
            return bad(why, cap, "PROXY v1 header: an empty field (fields are separated by exactly one space)");
        if (nf == 5)
            return bad(why, cap, "PROXY v1 header: more than 5 fields after \"PROXY\"");
        f[nf] = line + start;
        fl[nf++] = k - start;
        start = k + 1;
    }
    int af;
    if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
        af = AF_INET;
    else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
        af = AF_INET6;
    else
        return bad(why, cap, "PROXY v1 header: unknown protocol \"%.*s\" (expected TCP4, TCP6 or UNKNOWN)",
                   (int)(fl[0] > 16 ? 16 : fl[0]), f[0]);
    if (nf != 5)
        return bad(why, cap, "PROXY v1 header: %zu fields after \"PROXY\" (expected 5: protocol, source and "
                   "destination addresses, source and destination ports)", nf);
    uint16_t sport, dport;
    if (!v1_port(f[3], fl[3], &sport) || !v1_port(f[4], fl[4], &dport)) {
        int which = v1_port(f[3], fl[3], &sport) ? 4 : 3;
        return bad(why, cap, "PROXY v1 header: %s port \"%.*s\" is not a port (expected 0 to 65535, no leading "
                   "zeros)", which == 3 ? "source" : "destination", (int)(fl[which] > 16 ? 16 : fl[which]), f[which]);
    }
    cg_pp_header h = { .version = 1 };
    for (int k = 1; k <= 2; k++) {
        if (!v1_address(af, f[k], fl[k], k == 1 ? sport : dport, k == 1 ? &h.src : &h.dst))
            return bad(why, cap, "PROXY v1 header: %s address \"%.*s\" is not an %s address",
                       k == 1 ? "source" : "destination", (int)(fl[k] > 45 ? 45 : fl[k]), f[k],
                       af == AF_INET ? "IPv4" : "IPv6");
    }
    *out = h;
    *len = i + 1;
    return CG_PP_DONE;
}

/* ---- version 2: binary ---- */

static void v2_address(int af, const uint8_t *addr, const uint8_t *port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (af == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, addr, 4);
        memcpy(&in->sin_port, port, 2); /* both in network order */
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, addr, 16);
        memcpy(&in6->sin6_port, port, 2);
    }
}

static cg_pp_status parse_v2(const uint8_t *p, size_t n, cg_pp_header *out, size_t *len, char *why, size_t cap)
{
    if (memcmp(p, V2_SIGNATURE, n < sizeof V2_SIGNATURE ? n : sizeof V2_SIGNATURE) != 0)
        return bad(why, cap, "not a PROXY protocol header (the v2 signature does not match)");
    if (n <= 12)
        return CG_PP_MORE;
    unsigned version = p[12] >> 4, cmd = p[12] & 0x0f;
    if (version != 2)
        return bad(why, cap, "PROXY v2 header: version %u (expected 2)", version);
    if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
        return bad(why, cap, "PROXY v2 header: unknown command 0x%x (expected LOCAL or PROXY)", cmd);
    if (n < CG_PP_V2_FIXED)
        return CG_PP_MORE;
    uint8_t fam = p[13];
    size_t plen = be16(p + 14);
    if (plen > CG_PP_V2_MAX_PAYLOAD)
        return bad(why, cap, "PROXY v2 header: %zu bytes of addresses and TLVs, over certgate's limit of %d",
                   plen, CG_PP_V2_MAX_PAYLOAD);
    size_t alen = 0;
    if (cmd == V2_CMD_PROXY) {
        switch (fam) {
        case V2_UNSPEC:
            break;
        case V2_TCP4:
            alen = V2_TCP4_LEN;
            break;
        case V2_TCP6:
            alen = V2_TCP6_LEN;
            break;
        case 0x12:
        case 0x22:
            return bad(why, cap, "PROXY v2 header: a UDP client (certgate serves TCP only)");
        case 0x31:
        case 0x32:
            return bad(why, cap, "PROXY v2 header: an AF_UNIX client (no network address to account for)");
        default:
            return bad(why, cap, "PROXY v2 header: unknown address family and protocol 0x%02x", fam);
        }
        if (plen < alen)
            return bad(why, cap, "PROXY v2 header: %zu bytes is too short for the addresses (expected at least %zu)",
                       plen, alen);
    }
    if (n < CG_PP_V2_FIXED + plen)
        return CG_PP_MORE;

    cg_pp_header h = { .version = 2 };
    /* LOCAL (the balancer's own connection, such as a health check): the
     * spec has the receiver ignore the whole block, family included. */
    if (cmd == V2_CMD_LOCAL || fam == V2_UNSPEC) {
        h.local = true;
    } else {
        const uint8_t *a = p + CG_PP_V2_FIXED;
        int af = fam == V2_TCP4 ? AF_INET : AF_INET6;
        size_t asz = af == AF_INET ? 4 : 16;
        v2_address(af, a, a + 2 * asz, &h.src);
        v2_address(af, a + asz, a + 2 * asz + 2, &h.dst);
        /* TLVs: type, 16-bit length, value; each must fit. */
        const uint8_t *t = a + alen, *end = p + CG_PP_V2_FIXED + plen;
        while (t < end) {
            if (end - t < 3)
                return bad(why, cap, "PROXY v2 header: a truncated TLV at offset %zu", (size_t)(t - p));
            size_t vlen = be16(t + 1);
            if ((size_t)(end - t - 3) < vlen)
                return bad(why, cap, "PROXY v2 header: TLV 0x%02x of %zu bytes overruns the header at offset %zu",
                           t[0], vlen, (size_t)(t - p));
            t += 3 + vlen;
            h.tlvs++;
        }
    }
    *out = h;
    *len = CG_PP_V2_FIXED + plen;
    return CG_PP_DONE;
}

cg_pp_status cg_pp_parse(const uint8_t *p, size_t n, cg_pp_header *out, size_t *len, char *why, size_t cap)
{
    if (cap)
        why[0] = '\0';
    if (n == 0)
        return CG_PP_MORE;
    if (p[0] == 'P')
        return parse_v1(p, n, out, len, why, cap);
    if (p[0] == V2_SIGNATURE[0])
        return parse_v2(p, n, out, len, why, cap);
    if (p[0] == 0x16) /* a TLS handshake record */
        return bad(why, cap, "no PROXY protocol header: the connection starts with a TLS handshake (is the "
                   "balancer set to send the header: HAProxy send-proxy or send-proxy-v2, AWS NLB proxy "
                   "protocol v2?)");
    return bad(why, cap, "no PROXY protocol header: the connection starts with byte 0x%02x", p[0]);
}

/* How many of q's m bytes may belong to the header, given what r holds:
 * never a byte past the header's end, wherever it is known. */
static size_t header_bound(const cg_pp_reader *r, const uint8_t *q, size_t m)
{
    uint8_t first = r->len ? r->buf[0] : q[0];
    size_t room;
    if (first == 'P') { /* v1: up to the first LF */
        room = CG_PP_V1_MAX - r->len;
        size_t lim = m < room ? m : room;
        const uint8_t *lf = memchr(q, '\n', lim);
        return lf ? (size_t)(lf - q) + 1 : lim;
    }
    if (r->len < CG_PP_V2_FIXED)
        room = CG_PP_V2_FIXED - r->len;
    else /* the length is known, and within CG_PP_MAX (or parsing said BAD) */
        room = CG_PP_V2_FIXED + be16(r->buf + 14) - r->len;
    return m < room ? m : room;
}

cg_pp_status cg_pp_reader_feed(cg_pp_reader *r, const uint8_t *p, size_t n, size_t *used, cg_pp_header *out,
                               char *why, size_t cap)
{
    *used = 0;
    if (cap)
        why[0] = '\0';
    while (*used < n) {
        size_t take = header_bound(r, p + *used, n - *used);
        if (take == 0 || r->len + take > sizeof r->buf)
            return bad(why, cap, "PROXY header: longer than %d bytes", CG_PP_MAX); /* unreachable: parse refuses first */
        memcpy(r->buf + r->len, p + *used, take);
        r->len += take;
        *used += take;
        size_t hl;
        cg_pp_status st = cg_pp_parse(r->buf, r->len, out, &hl, why, cap);
        if (st != CG_PP_MORE)
            return st;
    }
    return CG_PP_MORE;
}

bool cg_pp_address_text(const struct sockaddr_storage *sa, char *ip, size_t cap, unsigned *port)
{
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        *port = ntohs(in->sin_port);
        return inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)cap) != NULL;
    }
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        *port = ntohs(in6->sin6_port);
        return inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)cap) != NULL;
    }
    return false;
}
