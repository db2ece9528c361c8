/* The client certificate itself for the application (docs/proxy.md, "The
 * certificate for the application"), per listener (forward_client_cert_der):
 *
 *   Client-Cert: :<base64 of the leaf's DER>:
 *   Client-Cert-Chain: :<base64 DER>:, :<base64 DER>:
 *   X-ARR-ClientCert: <base64 of the leaf's DER>
 *
 * Client-Cert is an RFC 8941 Byte Sequence and Client-Cert-Chain a List of
 * them (RFC 9440 section 2): standard base64 alphabet with its padding,
 * between colons, items joined by ", ". The chain is the intermediates of
 * the verified chain, the leaf's issuer first, the leaf and the trust anchor
 * left out (RFC 9440 2.3: the anchor is the server's own knowledge); a chain
 * without intermediates sends no Client-Cert-Chain (an empty List is not
 * serialized). X-ARR-ClientCert is what IIS Application Request Routing and
 * Azure App Service send: the same base64 without colons, one line.
 *
 * Pure: sizes and bytes, rendered once per connection by the client's
 * identity headers (admit.h). The size is known before anything is written,
 * so a block over the listener's max_size is refused whole, never cut.
 */
#ifndef CG_CERT_HEADERS_H
#define CG_CERT_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"
#include "config/config.h"

/* One certificate's DER encoding (borrowed). */
typedef struct cg_der {
    const unsigned char *p;
    size_t n;
} cg_der;

/* Bytes of the Byte Sequence of n bytes: ":" base64 ":". */
size_t cg_sf_bytes_len(size_t n);
/* Appends the Byte Sequence of p[0..n-1]. False: out of memory. */
bool cg_sf_bytes_append(cg_buf *b, const void *p, size_t n);

/* Bytes of the header lines (each "Name: value\r\n") for the leaf and the
 * intermediates inter[0..ninter-1] under cfg; 0 when cfg sends none. */
size_t cg_cert_headers_size(const cg_cert_der_cfg *cfg, cg_der leaf, const cg_der *inter, size_t ninter);
/* Appends exactly cg_cert_headers_size() bytes. False: out of memory. */
bool cg_cert_headers_append(cg_buf *b, const cg_cert_der_cfg *cfg, cg_der leaf, const cg_der *inter,
                            size_t ninter);

#endif
