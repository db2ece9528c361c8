/* The record buffers of a quiet TLS connection given back to the kernel.
 *
 * mbedTLS keeps two record buffers per connection for as long as it lives
 * (MBEDTLS_SSL_IN_BUFFER_LEN and OUT_BUFFER_LEN, about 16 KiB each: with no
 * max_fragment_length negotiated, MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH does not
 * shrink them after the handshake). A handshake and a request touch most of
 * their pages, so an idle keep-alive connection kept ~32 KiB resident that
 * held nothing. Between records the buffers hold nothing but the incoming
 * record counter and header at their very start: the whole pages after that
 * can be released (madvise MADV_DONTNEED; the next record that reaches them
 * finds zeroed pages, which mbedTLS overwrites before reading).
 */
#ifndef CG_TLS_TRIM_H
#define CG_TLS_TRIM_H

#include <stddef.h>

#include <mbedtls/ssl.h>

/* Bytes at the start of each record buffer never released: the record
 * counter (TLS keeps the incoming one in the input buffer), the record header
 * and the explicit IV, with room to spare. */
#define CG_TLS_TRIM_KEEP 64

/* Releases the whole pages of ssl's record buffers past CG_TLS_TRIM_KEEP,
 * when nothing is pending in them: no partial record read, no plaintext or
 * handshake message not yet consumed, no output not yet sent. Never during
 * a handshake. Returns the bytes released (0: busy, or nothing to release). */
size_t cg_tls_trim_buffers(mbedtls_ssl_context *ssl);

#endif
