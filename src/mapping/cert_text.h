/* Certificates given as text: a one-to-one entry's `certificate:` and what
 * `certgate import-iis` reads (a PEM block, or base64 DER on one line as
 * IIS stores it). Part of the certificate mapping (mapping.h).
 */
#ifndef CG_CERT_TEXT_H
#define CG_CERT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/x509_crt.h>

/* Parses text into crt (initialised by the caller); false with the reason
 * (naming IIS' error codes for broken base64). */
bool cg_mapping_cert_text(const char *text, size_t len, mbedtls_x509_crt *crt, char *why, size_t wcap);

#endif
