/* libFuzzer target for the distinguished-name renderer (src/x509/dn.c).
 *
 * The first byte of an input chooses what it exercises:
 *   'C'  the rest is a DER certificate: when mbedTLS parses it, its subject
 *        and issuer are rendered (what certgate does with a client's);
 *   'V'  the next byte is an ASN.1 tag, the rest a value's content:
 *        cg_dn_value_decode;
 *   else the whole input is a DER Name, rendered in both forms.
 *
 * Invariants checked on every rendering (abort() on a violation):
 *   - the length returned is the length written when the buffer is big
 *     enough; nothing is written past cap; a cut output is a prefix of the
 *     whole text that never ends inside an escape;
 *   - no byte below 0x20 and no DEL; valid UTF-8; the ASCII form is
 *     printable ASCII;
 *   - both forms are the same text: with their \XX escapes decoded they
 *     are byte-for-byte equal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "x509/dn.h"

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_dn: invariant failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* \XX escapes decoded, everything else (other escapes included) as it is. */
static size_t unhex(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '\\' && i + 1 < n) {
            out[o++] = s[i++];
            out[o++] = s[i];
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

static void check_text(const char *s, size_t n, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = cg_utf8_next(p + i, n - i, &cp);
        CHECK(k > 0);
        CHECK(cp >= 0x20 && cp != 0x7F && !(cp >= 0x80 && cp <= 0x9F));
        if (flags & CG_DN_ASCII)
            CHECK(cp < 0x80);
        i += k;
    }
}

/* Renders der in one form; returns the text (malloc'd) or NULL if malformed. */
static char *render(const unsigned char *der, size_t len, unsigned flags, uint8_t cut)
{
    size_t n = cg_dn_format(der, len, flags, NULL, 0);
    if (n == CG_DN_MALFORMED)
        return NULL;
    char *s = malloc(n + 1 + 16);
    CHECK(s);
    memset(s, 'Z', n + 1 + 16);
    CHECK(cg_dn_format(der, len, flags, s, n + 1) == n);
    CHECK(s[n] == '\0' && strlen(s) == n);
    CHECK(s[n + 1] == 'Z');
    check_text(s, n, flags);
    /* a cut rendering: a prefix of whole pieces, nothing past cap */
    size_t cap = n ? (size_t)cut % (n + 1) + 1 : 1;
    char *c = malloc(cap + 16);
    CHECK(c);
    memset(c, 'Z', cap + 16);
    CHECK(cg_dn_format(der, len, flags, c, cap) == n);
    size_t k = strlen(c);
    CHECK(k < cap && c[cap] == 'Z');
    CHECK(memcmp(c, s, k) == 0);
    if (k < n) {
        /* s[k] starts a piece: not the middle of "\XX" or "\c" */
        size_t bs = 0;
        for (size_t i = k; i > 0 && s[i - 1] == '\\'; i--)
            bs++;
        CHECK(bs % 2 == 0);
        CHECK(!(k >= 2 && s[k - 2] == '\\' && hexval(s[k - 1]) >= 0 && hexval(s[k]) >= 0 &&
                (k < 3 || s[k - 3] != '\\')));
    }
    free(c);
    return s;
}

static void render_both(const unsigned char *der, size_t len, uint8_t cut)
{
    char *u = render(der, len, 0, cut), *a = render(der, len, CG_DN_ASCII, cut);
    CHECK((u == NULL) == (a == NULL));
    if (u) {
        size_t nu = strlen(u), na = strlen(a);
        char *du = malloc(nu + 1), *da = malloc(na + 1);
        CHECK(du && da);
        size_t mu = unhex(u, nu, du), ma = unhex(a, na, da);
        CHECK(mu == ma && memcmp(du, da, mu) == 0);
        free(du);
        free(da);
    }
    free(u);
    free(a);
    char small[48];
    cg_dn_text_into(der, len, small, sizeof small);
    CHECK(strlen(small) < sizeof small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 1 && data[0] == 'C') {
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        if (mbedtls_x509_crt_parse_der(&crt, data + 1, size - 1) == 0) {
            render_both(crt.subject_raw.p, crt.subject_raw.len, (uint8_t)size);
            render_both(crt.issuer_raw.p, crt.issuer_raw.len, (uint8_t)(size >> 3));
        }
        mbedtls_x509_crt_free(&crt);
        return 0;
    }
    if (size >= 2 && data[0] == 'V') {
        size_t len = size - 2, olen = 0, at = 0;
        char *out = malloc(4 * len + 1);
        CHECK(out);
        cg_dn_value_status st = cg_dn_value_decode(data[1], data + 2, len, out, 4 * len, &olen, &at);
        CHECK(st != CG_DN_VALUE_ROOM);
        if (st == CG_DN_VALUE_OK) {
            CHECK(olen <= 4 * len);
            for (size_t i = 0; i < olen;) {
                uint32_t cp;
                size_t k = cg_utf8_next((const unsigned char *)out + i, olen - i, &cp);
                CHECK(k > 0);
                i += k;
            }
        } else if (st == CG_DN_VALUE_UTF8) {
            CHECK(at < len);
        }
        free(out);
        return 0;
    }
    render_both(data, size, size ? data[size - 1] : 0);
    return 0;
}
