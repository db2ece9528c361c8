/* Object identifiers as text (oid.h). */
#include "oid.h"

#include <stdio.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509.h>

const char *cg_oid_text(const unsigned char *oid, size_t len, char *out, size_t cap, const char *fallback)
{
    mbedtls_x509_buf b = { .tag = MBEDTLS_ASN1_OID, .len = len, .p = (unsigned char *)oid };
    /* An empty OID: mbedTLS returns 0 without writing anything. */
    if (len == 0 || mbedtls_oid_get_numeric_string(out, cap, &b) <= 0)
        snprintf(out, cap, "%s", fallback);
    return out;
}
