/* Unit tests for header_names.c: the client headers never forwarded, the
 * ones backends trust (stripped unless a listener keeps one), and a
 * listener's changes to that list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base/header_names.h"

static void test_header_dropped(void **state)
{
    (void)state;
    const char *dropped[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Proxy-Authorization", "Proxy-Authenticate", "Content-Length", "Expect",
        "Authorization", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded",
        "X-Request-Id", "X-Client-Cert-Subject", "x-client-cert-anything", "X-CLIENT-CERT-",
        "authorization", "AUTHORIZATION", "x-forwarded-for", "te", "tE",
        /* CGI-style backends map '_' and '-' to the same variable. */
        "X_Client_Cert_Subject", "x-client_cert-Issuer", "X_Forwarded_For", "X_Request_Id",
        "Proxy_Authorization", "Content_Length", "Transfer_Encoding",
        /* certgate's own identity headers (the mapped principal ...). */
        "X-Certgate-Principal", "x-certgate-anything", "X_Certgate_Principal",
        /* the certificate itself (RFC 9440, IIS ARR): always, whether the
         * listener sends it or not */
        "Client-Cert", "client-cert", "CLIENT_CERT", "Client-Cert-Chain", "client_cert_chain",
        "X-ARR-ClientCert", "x-arr-clientcert", "X_ARR_CLIENTCERT",
    };
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++) {
        if (!cg_http_request_header_dropped((cg_slice){ dropped[i], strlen(dropped[i]) })) {
            print_error("\"%s\" should be dropped\n", dropped[i]);
            fail();
        }
    }
    const char *kept[] = {
        "Host", "Cookie", "Content-Type", "Accept", "User-Agent", "X-Client-Cert", "X-Client-Cer",
        "Authorizations", "Authorizatio", "X-Forwarded-Fo", "X-Forwarded-Port", "TEE", "T",
        "Upgrade-Insecure-Requests", "Forwarded-For", "X-Request-Ids", "",
        "Client-Certs", "Client-Cert-Chains", "Client-Cer", "X-ARR-ClientCerts", "X-ARR-SSL",
    };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        if (cg_http_request_header_dropped((cg_slice){ kept[i], strlen(kept[i]) })) {
            print_error("\"%s\" should be kept\n", kept[i]);
            fail();
        }
    }
}

/* Headers backends trust from a front end: stripped by default, one kept
 * only when a listener says so, the fixed ones never; extra names stripped. */
static void test_header_stripped_policy(void **state)
{
    (void)state;
    const char *trusted[] = {
        "X-Original-URL", "X-Rewrite-URL", "X-ARR-ClientCert", "X-Forwarded-Client-Cert", "X-SSL-Client-Cert",
        "Remote-User", "X-Remote-User", "X-Real-IP", "x_original_url", "REMOTE_USER", "X-MS-CLIENT-PRINCIPAL-NAME",
        "X-Client-Cert", "X-Forwarded-Port", "X-SSL-Client-DN", "X-SSL-Client-Escaped-Cert", "X-ARR-Anything",
        "X_SSL_Client_S_DN", "SSL-Client-Verify", "X-MS-CLIENT-PRINCIPAL", "X-Auth-Request-Groups",
    };
    for (size_t i = 0; i < sizeof trusted / sizeof trusted[0]; i++) {
        cg_slice n = { trusted[i], strlen(trusted[i]) };
        if (!cg_http_backend_trusted_header(n) || !cg_http_request_header_stripped(n, NULL)) {
            print_error("\"%s\" should be stripped by default\n", trusted[i]);
            fail();
        }
    }
    for (const cg_trusted_header *t = cg_http_backend_trusted_headers; t->name; t++) {
        /* the lists do not overlap: a default can always be kept */
        assert_false(cg_http_request_header_dropped((cg_slice){ t->name, t->len }));
        /* a family's text is its prefix and a final '*' */
        assert_int_equal(strlen(t->name), t->len + t->family);
        /* each entry is found (the first-letter filter lets it through),
         * as a name and as a family member */
        char member[64];
        assert_true(t->len + 2 < sizeof member);
        memcpy(member, t->name, t->len);
        memcpy(member + t->len, "a", 2);
        assert_true(cg_http_backend_trusted_header((cg_slice){ t->name, t->len }) || t->family);
        assert_true(cg_http_backend_trusted_header((cg_slice){ member, t->len + 1 }) == t->family);
        member[0] = (char)(member[0] - 'a' + 'A');
        assert_true(cg_http_backend_trusted_header((cg_slice){ member, t->len + 1 }) == t->family);
        for (const char *c = t->name; *c; c++)
            assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                        (*c == '*' && !c[1] && t->family));
    }
    char *strip[] = { "x-tenant" }, *keep[] = { "x-real-ip", "authorization", "x-client-cert-subject" };
    cg_header_policy p = { strip, 1, keep, 3 };
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("X-Real-IP"), &p));
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("x_real_ip"), &p));
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("X-Remote-User"), &p));
    /* prefixes are families, not substrings */
    assert_false(cg_http_backend_trusted_header(CG_SLICE_LIT("X-ARR")));
    assert_false(cg_http_backend_trusted_header(CG_SLICE_LIT("X-SSL-Client")));
    assert_false(cg_http_backend_trusted_header(CG_SLICE_LIT("X-Real-IP-Hint")));
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("Authorization"), &p)); /* never kept */
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("X-Client-Cert-Subject"), &p));
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("X-Tenant"), &p));
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("x_TENANT"), &p));
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("X-Tenants"), &p));
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("X-Tenant"), NULL));
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("Cookie"), &p));
}

/* ------------------------------------------------------------------------ */
/* the classification against the plain comparison                         */

/* The reference: one byte at a time, ASCII case folded and '_' as '-', the
 * way header names have always been compared. */
static bool plain_is(const char *name, size_t n, const char *lit)
{
    if (n != strlen(lit))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c == '_')
            c = '-';
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}

static bool plain_prefix(const char *name, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && plain_is(name, k, prefix);
}

/* The rules as header_names.h and http1_write.h state them, one list each. */
static const char *const never_forwarded[] = {
    "te", "expect", "trailer", "upgrade", "forwarded", "connection", "keep-alive", "client-cert",
    "x-request-id", "authorization", "content-length", "x-forwarded-for", "proxy-connection",
    "x-forwarded-host", "x-arr-clientcert", "transfer-encoding", "x-forwarded-proto", "client-cert-chain",
    "proxy-authenticate", "proxy-authorization",
};
static const char *const never_forwarded_prefixes[] = { "x-client-cert-", "x-certgate-" };
static const char *const never_returned[] = {
    "te", "trailer", "upgrade", "connection", "keep-alive", "x-request-id", "content-length",
    "proxy-connection", "www-authenticate", "transfer-encoding", "proxy-authenticate", "proxy-authorization",
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static unsigned plain_class(const char *name, size_t n)
{
    unsigned bits = 0;
    for (size_t i = 0; i < ARRAY_LEN(never_forwarded); i++)
        if (plain_is(name, n, never_forwarded[i]))
            bits |= CG_HEADER_DROPPED;
    for (size_t i = 0; i < ARRAY_LEN(never_forwarded_prefixes); i++)
        if (plain_prefix(name, n, never_forwarded_prefixes[i]))
            bits |= CG_HEADER_DROPPED;
    for (size_t i = 0; i < ARRAY_LEN(never_returned); i++)
        if (plain_is(name, n, never_returned[i]))
            bits |= CG_HEADER_NOT_RETURNED;
    for (const cg_trusted_header *t = cg_http_backend_trusted_headers; t->name; t++) {
        char lit[64];
        memcpy(lit, t->name, t->len);
        lit[t->len] = '\0';
        if (t->family ? plain_prefix(name, n, lit) : plain_is(name, n, lit))
            bits |= CG_HEADER_TRUSTED;
    }
    if (plain_is(name, n, "host"))
        bits |= CG_HEADER_HOST;
    if (plain_is(name, n, "content-length"))
        bits |= CG_HEADER_CONTENT_LENGTH;
    return bits;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint32_t rnd(uint32_t below)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % below);
}

static char random_tchar(void)
{
    static const char tchars[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    return tchars[rnd(sizeof tchars - 1)];
}

/* A near miss of base (or base itself): its letters' case and '-'/'_'
 * changed, a byte replaced (a letter, a tchar, or any byte value: the
 * comparison works on words), one added or removed, cut or extended. */
static size_t mutate(const char *base, char *out, size_t cap)
{
    size_t n = strlen(base);
    memcpy(out, base, n);
    int changes = (int)rnd(3);
    for (int k = 0; k < changes || (k == 0 && rnd(4) == 0); k++) {
        switch (rnd(8)) {
        case 0: /* case flips */
            for (size_t i = 0; i < n; i++)
                if (rnd(2) && ((out[i] | 0x20) >= 'a' && (out[i] | 0x20) <= 'z'))
                    out[i] ^= 0x20;
            break;
        case 1: /* '-' <-> '_' */
            for (size_t i = 0; i < n; i++)
                if (out[i] == '-' || out[i] == '_')
                    out[i] = rnd(2) ? '-' : '_';
            break;
        case 2: /* one letter off */
            if (n)
                out[rnd((uint32_t)n)] = rnd(2) ? (char)('a' + rnd(26)) : random_tchar();
            break;
        case 3: /* any byte, the ones next to the letters ('@', '[', '`', '{', DEL, 0x80 ...) too */
            if (n) {
                static const unsigned char edges[] = { '@', 'A' - 1, 'Z' + 1, '`', '{', 0x7f, 0x80, 0xc1, 0xdf,
                                                       0x0d, 0x2d | 0x80, '_' | 0x80, 0x00, 0xff };
                out[rnd((uint32_t)n)] = (char)(rnd(2) ? edges[rnd(sizeof edges)] : rnd(256));
            }
            break;
        case 4: /* one byte fewer */
            if (n) {
                size_t at = rnd((uint32_t)n);
                memmove(out + at, out + at + 1, n - at - 1);
                n--;
            }
            break;
        case 5: /* one more */
            if (n + 1 < cap) {
                size_t at = rnd((uint32_t)n + 1);
                memmove(out + at + 1, out + at, n - at);
                out[at] = random_tchar();
                n++;
            }
            break;
        case 6: /* cut */
            n = n ? rnd((uint32_t)n + 1) : 0;
            break;
        default: /* extended (a family member, a suffix) */
            for (uint32_t k2 = rnd(12); k2 && n + 1 < cap; k2--)
                out[n++] = random_tchar();
            break;
        }
    }
    return n;
}

static void check_class(const char *name, size_t n)
{
    cg_slice s = { name, n };
    unsigned all = CG_HEADER_DROPPED | CG_HEADER_TRUSTED | CG_HEADER_NOT_RETURNED | CG_HEADER_HOST |
                   CG_HEADER_CONTENT_LENGTH;
    unsigned want = plain_class(name, n), got = cg_header_name_class(s, all);
    if (got != want) {
        print_error("\"%.*s\" (%zu bytes): class %#x, the plain comparison says %#x\n", (int)n, name, n, got, want);
        fail();
    }
    /* each bit asked alone is the same bit */
    for (unsigned b = 1; b <= CG_HEADER_CONTENT_LENGTH; b <<= 1)
        assert_int_equal(cg_header_name_class(s, b), want & b);
    assert_int_equal(cg_http_request_header_dropped(s), (want & CG_HEADER_DROPPED) != 0);
    assert_int_equal(cg_http_backend_trusted_header(s), (want & CG_HEADER_TRUSTED) != 0);
    assert_int_equal(cg_http_request_header_stripped(s, NULL), (want & (CG_HEADER_DROPPED | CG_HEADER_TRUSTED)) != 0);
}

/* The classification found in one switch equals the rules' lists compared
 * one by one, for the names of the rules and many near misses of them. */
static void test_class_against_plain_comparison(void **state)
{
    (void)state;
    const char *bases[64 + ARRAY_LEN(never_forwarded) + ARRAY_LEN(never_returned)];
    size_t nb = 0;
    for (size_t i = 0; i < ARRAY_LEN(never_forwarded); i++)
        bases[nb++] = never_forwarded[i];
    for (size_t i = 0; i < ARRAY_LEN(never_forwarded_prefixes); i++)
        bases[nb++] = never_forwarded_prefixes[i];
    for (size_t i = 0; i < ARRAY_LEN(never_returned); i++)
        bases[nb++] = never_returned[i];
    static char family_names[40][64];
    size_t nf = 0;
    for (const cg_trusted_header *t = cg_http_backend_trusted_headers; t->name && nf < 40; t++, nf++) {
        memcpy(family_names[nf], t->name, t->len);
        family_names[nf][t->len] = '\0';
        bases[nb++] = family_names[nf];
    }
    static const char *const ordinary[] = { "host", "content-length", "content-type", "user-agent", "accept",
                                            "server", "date", "cookie", "set-cookie", "x-a", "a", "" };
    for (size_t i = 0; i < ARRAY_LEN(ordinary); i++)
        bases[nb++] = ordinary[i];
    assert_true(nb <= ARRAY_LEN(bases));

    for (size_t i = 0; i < nb; i++) /* the names themselves */
        check_class(bases[i], strlen(bases[i]));
    char name[96];
    for (int round = 0; round < 400000; round++) {
        size_t n = mutate(bases[rnd((uint32_t)nb)], name, sizeof name);
        check_class(name, n);
    }
    for (int round = 0; round < 100000; round++) { /* anything at all */
        size_t n = rnd(40);
        for (size_t i = 0; i < n; i++)
            name[i] = (char)rnd(256);
        check_class(name, n);
    }
}

/* The word-wise comparison against the byte-wise one, for every length up
 * to 40 and every byte value at every position. */
static void test_name_is_against_plain_comparison(void **state)
{
    (void)state;
    char lit[41], name[41];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t i = 0; i < len; i++)
            lit[i] = (char)(rnd(5) == 0 ? '-' : 'a' + rnd(26));
        lit[len] = '\0';
        for (size_t at = 0; at < len; at++)
            for (int v = 0; v < 256; v++) {
                for (size_t i = 0; i < len; i++) /* the literal in some spelling it matches */
                    name[i] = lit[i] == '-' ? (rnd(2) ? '-' : '_') : (char)(rnd(2) ? lit[i] - 32 : lit[i]);
                name[at] = (char)v;
                bool want = plain_is(name, len, lit);
                if (cg_header_name_is((cg_slice){ name, len }, lit, len) != want) {
                    print_error("\"%.*s\" vs \"%s\": byte %#x at %zu\n", (int)len, name, lit, v, at);
                    fail();
                }
            }
        assert_false(cg_header_name_is((cg_slice){ name, len }, lit, len + 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_dropped),
        cmocka_unit_test(test_header_stripped_policy),
        cmocka_unit_test(test_class_against_plain_comparison),
        cmocka_unit_test(test_name_is_against_plain_comparison),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
