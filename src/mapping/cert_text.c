/* Certificates given as text (cert_text.h). */
#include "cert_text.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/error.h>

#include "mapping_text.h"

/* ======================================================================
 * Certificates given as text (one-to-one `certificate:`, import-iis)
 * ====================================================================== */

static bool is_b64(char c)
{
    return cg_ascii_is_alpha(c) || cg_ascii_is_digit(c) || c == '+' || c == '/';
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

#define IIS_B64_HINT "IIS reports a certificate pasted like this as 0x80093102 or 0x8009310b"

/* Base64 (whitespace ignored) -> malloc'ed bytes. */
static unsigned char *b64_decode(const char *s, size_t len, size_t *out_len, char *why, size_t wcap)
{
    char *clean = malloc(len + 1);
    size_t n = 0, pad = 0;
    if (!clean) {
        cg_fmt_into(why, wcap, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (is_ws(c))
            continue;
        if (c == '=' ) {
            pad++;
        } else if (!is_b64(c) || pad) {
            char shown[8];
            if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7F)
                cg_fmt_into(shown, sizeof shown, "'%c'", c);
            else
                cg_fmt_into(shown, sizeof shown, "0x%02x", (unsigned char)c);
            cg_fmt_into(why, wcap, "is not base64: %s at position %zu %s (%s; paste the whole "
                     "certificate, or give certificate_file or sha256)", shown, i + 1,
                     pad ? "follows the '=' padding" : "is not a base64 character", IIS_B64_HINT);
            free(clean);
            return NULL;
        }
        clean[n++] = c;
    }
    if (n == 0 || n % 4 || pad > 2) {
        cg_fmt_into(why, wcap, "is not complete base64: %zu characters, not a multiple of 4 (the text was "
                 "cut or lines were lost; %s)", n, IIS_B64_HINT);
        free(clean);
        return NULL;
    }
    size_t olen = 0;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out || mbedtls_base64_decode(out, n / 4 * 3 + 1, &olen, (unsigned char *)clean, n) != 0) {
        cg_fmt_into(why, wcap, "is not valid base64 (%s)", IIS_B64_HINT);
        free(out);
        free(clean);
        return NULL;
    }
    free(clean);
    *out_len = olen;
    return out;
}

/* The base64 body of a single PEM CERTIFICATE block. */
static bool pem_body(const char *s, size_t len, const char **body, size_t *blen, char *why, size_t wcap)
{
    static const char begin[] = "-----BEGIN ", end_cert[] = "-----END CERTIFICATE-----";
    const char *b = memmem(s, len, begin, sizeof begin - 1);
    const char *label = b + sizeof begin - 1;
    const char *lend = memmem(label, len - (size_t)(label - s), "-----", 5);
    if (!lend) {
        cg_fmt_into(why, wcap, "has a PEM \"-----BEGIN\" line without its closing dashes");
        return false;
    }
    if ((size_t)(lend - label) != 11 || memcmp(label, "CERTIFICATE", 11) != 0) {
        /* Never echo the block: it may be a private key. */
        cg_fmt_into(why, wcap, "is a PEM block labelled \"%.*s\", not CERTIFICATE", (int)((lend - label) > 40 ? 40 : lend - label), label);
        return false;
    }
    const char *start = lend + 5;
    const char *e = memmem(start, len - (size_t)(start - s), end_cert, sizeof end_cert - 1);
    if (!e) {
        cg_fmt_into(why, wcap, "has no \"-----END CERTIFICATE-----\" line");
        return false;
    }
    const char *after = e + sizeof end_cert - 1;
    if (memmem(after, len - (size_t)(after - s), begin, sizeof begin - 1)) {
        cg_fmt_into(why, wcap, "holds more than one PEM block; a one-to-one entry names exactly one "
                 "certificate (the client's own, not its chain)");
        return false;
    }
    *body = start;
    *blen = (size_t)(e - start);
    return true;
}

/* A certificate given as a PEM block or as base64 DER (IIS' one-line
 * form), parsed into crt (initialised by the caller). */
bool cg_mapping_cert_text(const char *text, size_t len, mbedtls_x509_crt *crt, char *why, size_t wcap)
{
    const char *body = text;
    size_t blen = len;
    if (memmem(text, len, "-----BEGIN ", 11) && !pem_body(text, len, &body, &blen, why, wcap))
        return false;
    size_t der_len = 0;
    unsigned char *der = b64_decode(body, blen, &der_len, why, wcap);
    if (!der)
        return false;
    int ret = mbedtls_x509_crt_parse_der(crt, der, der_len);
    if (ret != 0) {
        char err[128];
        mbedtls_strerror(ret, err, sizeof err);
        cg_fmt_into(why, wcap, "decodes to %zu bytes that are not a DER certificate (%s; %s)", der_len,
                 err, IIS_B64_HINT);
    }
    free(der);
    return ret == 0;
}
