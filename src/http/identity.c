/* The identity headers certgate sends to backends (identity.h). */
#include "identity.h"

#include <string.h>

#include "x509/x509.h"
#include "base/base.h"

static bool line(cg_buf *b, const char *name, const char *value, size_t n)
{
    return cg_buf_append_str(b, name) && cg_buf_append(b, ": ", 2) && cg_buf_append(b, value, n) &&
           cg_buf_append(b, "\r\n", 2);
}

bool cg_identity_dn_header(cg_buf *b, const char *name, const unsigned char *der, size_t len)
{
    /* One rendering: whatever fits the limit is whole here (a longer name
     * is only measured). */
    char text[CG_IDENTITY_DN_MAX + 1];
    size_t n = cg_dn_format(der, len, CG_DN_ASCII, text, sizeof text);
    if (n != CG_DN_MALFORMED && n <= CG_IDENTITY_DN_MAX)
        return line(b, name, text, n);
    /* Too long for a header line, or not a Name (mbedTLS parsed it, so
     * never expected): the digest identifies it exactly. */
    unsigned char d[32];
    char hex[65], form[64];
    cg_sha256(der, len, d);
    cg_hex_encode(d, sizeof d, hex, sizeof hex, false);
    size_t k = strlen(name);
    if (k + sizeof "-Form" > sizeof form)
        return false;
    memcpy(form, name, k);
    memcpy(form + k, "-Form", sizeof "-Form");
    return line(b, name, hex, 64) && line(b, form, "sha256", 6);
}

bool cg_identity_cert_headers(cg_buf *b, const mbedtls_x509_crt *cert, const char *serial, const char *sha256)
{
    return cg_identity_dn_header(b, "X-Client-Cert-Subject", cert->subject_raw.p, cert->subject_raw.len) &&
           cg_identity_dn_header(b, "X-Client-Cert-Issuer", cert->issuer_raw.p, cert->issuer_raw.len) &&
           line(b, "X-Client-Cert-Serial", serial, strlen(serial)) &&
           line(b, "X-Client-Cert-SHA256", sha256, strlen(sha256));
}
