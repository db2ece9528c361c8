/* Header names certgate treats on their own: client request fields it
 * never forwards, those backends trust from a front end (stripped unless a
 * listener keeps one), a listener's changes to that list
 * (strip_request_headers), and the backend response fields a client never
 * receives. Names are compared like header names: ASCII case folded, '_' as
 * '-'. Pure functions over names, no I/O: the configuration validates
 * strip_request_headers with them and the head writers apply them to every
 * field of every exchange (http1_write.h), through cg_header_name_class().
 */
#ifndef CG_HEADER_NAMES_H
#define CG_HEADER_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "text.h"

/* Eight bytes of a name as header names compare: 'A'..'Z' lowered, '_' as
 * '-', every other byte value as it is, all eight at once (exact for each
 * of the 256 values: no carry crosses a byte). */
static inline uint64_t cg_header_fold8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, high = ones * 0x80, low7 = ones * 0x7f;
    uint64_t x = w & low7;
    uint64_t upper = (x + ones * (0x80 - 'A')) & ~(x + ones * (0x80 - 'Z' - 1)) & ~w & high;
    w |= upper >> 2;
    uint64_t u = w ^ (ones * '_');
    uint64_t underscore = ~(((u & low7) + low7) | u) & high;
    return w ^ ((underscore >> 7) * ('_' ^ '-'));
}

/* n (1 to 8) bytes at p packed into a word, the same way for any p: two
 * overlapping loads, or three bytes for fewer than four. */
static inline uint64_t cg_header_load(const char *p, size_t n)
{
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        return lo | (uint64_t)hi << 32;
    }
    return (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[n / 2] << 8 |
           (uint64_t)(unsigned char)p[n - 1] << 16;
}

/* Whether name is lit (lower case, litlen bytes), ASCII case folded and
 * '_' matching '-': CGI-style backends (and IIS server variables) map both
 * to '_', so "X_Client_Cert_Subject" would otherwise slip past as the
 * identity header. Inline, and eight bytes at a time: it runs for every
 * header of every exchange. */
static inline bool cg_header_name_is(cg_slice name, const char *lit, size_t litlen)
{
    if (name.n != litlen)
        return false;
    if (litlen < 8)
        return litlen == 0 || cg_header_fold8(cg_header_load(name.p, litlen)) == cg_header_load(lit, litlen);
    uint64_t a, b;
    for (size_t i = 0; i + 8 < litlen; i += 8) {
        memcpy(&a, name.p + i, 8);
        memcpy(&b, lit + i, 8);
        if (cg_header_fold8(a) != b)
            return false;
    }
    memcpy(&a, name.p + litlen - 8, 8);
    memcpy(&b, lit + litlen - 8, 8);
    return cg_header_fold8(a) == b;
}
#define CG_HEADER_NAME_IS(name, lit) cg_header_name_is((name), (lit), sizeof(lit) - 1)

/* What a listener changes in the list of client headers stripped before a
 * request is forwarded (strip_request_headers in the configuration):
 * names compared like header names (case-insensitive, '_' as '-'). */
typedef struct cg_header_policy {
    char **strip;    /* removed too */
    size_t nstrip;
    char **keep;     /* passed although in cg_http_backend_trusted_headers */
    size_t nkeep;
} cg_header_policy;


/* True for a header a client must never be able to send to the backend:
 * hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Authorization, Proxy-Authenticate),
 * fields the proxy sets itself (Content-Length, Expect, Authorization,
 * X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded,
 * X-Request-Id), certgate's identity headers (prefixes "X-Client-Cert-"
 * and "X-Certgate-"; '_' counts as '-') and the certificate headers it may
 * set (Client-Cert, Client-Cert-Chain, X-ARR-ClientCert: removed whether
 * the listener sends them or not, RFC 9440 section 4).
 * Case-insensitive. */
bool cg_http_request_header_dropped(cg_slice name);

/* Headers that backends commonly trust as identity or routing statements
 * from a front end (X-Original-URL, X-Rewrite-URL, X-ARR-SSL,
 * X-Forwarded-Client-Cert, X-SSL-Client-Cert, Remote-User, X-Remote-User,
 * X-Real-IP, ...; see header_names.c): stripped from client requests unless a
 * listener keeps one. Lower-case; a family entry names a prefix (its text
 * ends in '*', len excludes it). The list ends with a NULL name. */
typedef struct cg_trusted_header {
    const char *name;
    size_t len;
    bool family;
} cg_trusted_header;
extern const cg_trusted_header cg_http_backend_trusted_headers[];
bool cg_http_backend_trusted_header(cg_slice name);

/* The one decision on a client request header: true when it is not
 * forwarded. Always for cg_http_request_header_dropped(); for the
 * backend-trusted list unless p keeps it; for names p strips. p may be
 * NULL (the defaults). */
bool cg_http_request_header_stripped(cg_slice name, const cg_header_policy *p);

/* What the head writers need to know of a field name, found once per field
 * (a switch on its first letter and length, then one comparison) instead
 * of a comparison per rule: the CG_HEADER_* bits of want that apply, each
 * exactly the answer of the rule it names (names compared like
 * CG_HEADER_NAME_IS). CG_HEADER_TRUSTED costs a walk over the trusted list
 * for names starting like one of its entries: ask for it only when needed. */
enum {
    CG_HEADER_DROPPED = 1,        /* cg_http_request_header_dropped() */
    CG_HEADER_TRUSTED = 2,        /* cg_http_backend_trusted_header() */
    CG_HEADER_NOT_RETURNED = 4,   /* a backend's response field the client never receives: hop-by-hop
                                     (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade,
                                     Transfer-Encoding, Proxy-Authenticate, Proxy-Authorization), framing
                                     (Content-Length), X-Request-Id (certgate's own), WWW-Authenticate */
    CG_HEADER_HOST = 8,           /* Host */
    CG_HEADER_CONTENT_LENGTH = 16 /* Content-Length */
};

/* Which lengths (bit min(length, 31)) a name of the rules starting with a
 * letter has, by that letter (its low five bits, either case): a name
 * whose bit is clear is none of them, without looking further. The unit
 * test holds it to the rules. */
extern const uint32_t cg_header_name_lengths[32];

/* Whether name starts with prefix (lower case, n bytes), compared the same way. */
static inline bool cg_header_name_starts(cg_slice name, const char *prefix, size_t n)
{
    return name.n >= n && cg_header_name_is((cg_slice){ name.p, n }, prefix, n);
}

/* The exact names (and certgate's prefixes) of the rules but the trusted
 * list, by first letter then length, so that most names cost a switch or
 * two and no comparison, and a name of the rules one comparison. Inline
 * with cg_header_name_class(): the head writers call it for every field. */
static inline unsigned cg_header_name_exact_class(cg_slice name)
{
    static const char cert[] = "x-client-cert-", own[] = "x-certgate-";
    if (name.n < 2)
        return 0;
#define CG_HN_DROPPED CG_HEADER_DROPPED
#define CG_HN_BOTH (CG_HEADER_DROPPED | CG_HEADER_NOT_RETURNED) /* hop-by-hop, or set by certgate both ways */
#define CG_HN_IS(lit, bits) (CG_HEADER_NAME_IS(name, lit) ? (unsigned)(bits) : 0u)
    switch (cg_ascii_lower((unsigned char)name.p[0])) {
    case 'a': return CG_HN_IS("authorization", CG_HN_DROPPED);
    case 'c':
        switch (name.n) {
        case 10: return CG_HN_IS("connection", CG_HN_BOTH);
        case 11: return CG_HN_IS("client-cert", CG_HN_DROPPED);
        case 14: return CG_HN_IS("content-length", CG_HN_BOTH | CG_HEADER_CONTENT_LENGTH);
        case 17: return CG_HN_IS("client-cert-chain", CG_HN_DROPPED);
        default: return 0;
        }
    case 'e': return CG_HN_IS("expect", CG_HN_DROPPED);
    case 'f': return CG_HN_IS("forwarded", CG_HN_DROPPED);
    case 'h': return CG_HN_IS("host", CG_HEADER_HOST);
    case 'k': return CG_HN_IS("keep-alive", CG_HN_BOTH);
    case 'p':
        switch (name.n) {
        case 16: return CG_HN_IS("proxy-connection", CG_HN_BOTH);
        case 18: return CG_HN_IS("proxy-authenticate", CG_HN_BOTH);
        case 19: return CG_HN_IS("proxy-authorization", CG_HN_BOTH);
        default: return 0;
        }
    case 't':
        switch (name.n) {
        case 2:  return CG_HN_IS("te", CG_HN_BOTH);
        case 7:  return CG_HN_IS("trailer", CG_HN_BOTH);
        case 17: return CG_HN_IS("transfer-encoding", CG_HN_BOTH);
        default: return 0;
        }
    case 'u': return CG_HN_IS("upgrade", CG_HN_BOTH);
    case 'w': return CG_HN_IS("www-authenticate", CG_HEADER_NOT_RETURNED);
    case 'x':
        /* certgate's identity headers: X-Client-Cert-* (the certificate)
         * and X-Certgate-* (the mapped principal ...): only certgate may
         * set them. */
        if (cg_header_name_starts(name, cert, sizeof cert - 1) || cg_header_name_starts(name, own, sizeof own - 1))
            return CG_HN_DROPPED;
        switch (name.n) {
        case 12: return CG_HN_IS("x-request-id", CG_HN_BOTH);
        case 15: return CG_HN_IS("x-forwarded-for", CG_HN_DROPPED);
        case 16: return CG_HN_IS("x-forwarded-host", CG_HN_DROPPED) | CG_HN_IS("x-arr-clientcert", CG_HN_DROPPED);
        case 17: return CG_HN_IS("x-forwarded-proto", CG_HN_DROPPED);
        default: return 0;
        }
    default: return 0;
    }
#undef CG_HN_IS
#undef CG_HN_DROPPED
#undef CG_HN_BOTH
}

static inline unsigned cg_header_name_class(cg_slice name, unsigned want)
{
    if (name.n == 0 ||
        !(cg_header_name_lengths[((unsigned char)name.p[0] | 0x20) & 31] >> (name.n < 31 ? name.n : 31) & 1))
        return 0;
    unsigned bits = cg_header_name_exact_class(name);
    if ((want & CG_HEADER_TRUSTED) && cg_http_backend_trusted_header(name))
        bits |= CG_HEADER_TRUSTED;
    return bits & want;
}

/* cg_http_request_header_stripped() for a name whose class is known. */
bool cg_http_request_header_stripped_as(cg_slice name, unsigned cls, const cg_header_policy *p);

#endif
