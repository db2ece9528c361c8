/* The identity headers certgate sends to backends (docs/proxy.md):
 * X-Client-Cert-Subject / -Issuer / -Serial / -SHA256 and
 * X-Certgate-Principal, rendered once per connection.
 *
 * Subject and issuer are RFC 4514 text from dn.h in its ASCII form: every
 * byte of a non-ASCII character as a \XX escape of its UTF-8 encoding, so
 * a backend that reads header bytes as Latin-1 (IIS) still gets one exact,
 * lossless, unambiguous string. A name whose text would be longer than
 * CG_IDENTITY_DN_MAX bytes (backends limit header lines: IIS 16 KiB for the
 * whole head, Apache 8 KiB a line) is sent as the SHA-256 of its DER
 * encoding (64 lowercase hex digits) instead, and X-Client-Cert-Subject-Form
 * (-Issuer-Form) says "sha256"; it is absent when the value is the text.
 */
#ifndef CG_IDENTITY_H
#define CG_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/x509_crt.h>

#include "base/base.h"

#define CG_IDENTITY_DN_MAX 4096

/* Appends the "Name: value\r\n" lines of a DN header (name without the
 * colon, e.g. "X-Client-Cert-Subject") for the DER Name at der. */
bool cg_identity_dn_header(cg_buf *b, const char *name, const unsigned char *der, size_t len);

/* Appends the X-Client-Cert-* lines for cert (serial in hex, sha256 the
 * certificate's fingerprint in lowercase hex). Returns false when out of
 * memory. */
bool cg_identity_cert_headers(cg_buf *b, const mbedtls_x509_crt *cert, const char *serial, const char *sha256);

#endif
