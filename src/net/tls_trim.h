/* The record buffers of a quiet TLS connection given back.
 *
 * mbedTLS keeps two record buffers per connection for as long as it lives
 * (MBEDTLS_SSL_IN_BUFFER_LEN and OUT_BUFFER_LEN, about 16 KiB each: with no
 * max_fragment_length negotiated, MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH does not
 * shrink them after the handshake). A handshake and a request touch most of
 * their pages, so an idle keep-alive connection kept ~32 KiB resident that
 * held nothing. Between records they hold nothing but the incoming record
 * counter and header at their very start.
 *
 * With the bundled mbedTLS (patch 0005, MBEDTLS_SSL_RELEASE_BUFFERS) both
 * buffers are wiped and freed (mbedtls_ssl_release_buffers) and their whole
 * pages go back to the kernel as they are freed (the allocator hook below);
 * mbedTLS allocates them again at the connection's next record in or out,
 * and a released connection that closes touches nothing. With a system
 * mbedTLS, the whole pages past the counter are given back in place
 * (madvise MADV_DONTNEED; the next record that reaches them finds zeroed
 * pages, which mbedTLS overwrites before reading).
 */
#ifndef CG_TLS_TRIM_H
#define CG_TLS_TRIM_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/ssl.h>

/* Bytes at the start of each record buffer never released in place: the
 * record counter (TLS keeps the incoming one in the input buffer), the record
 * header and the explicit IV, with room to spare. Also the margin kept at
 * the start of a freed block (the allocator's free-list words). */
#define CG_TLS_TRIM_KEEP 64

/* Installs mbedTLS's allocator hook that gives the whole pages of freed
 * record buffers back to the kernel (only while cg_tls_trim_buffers frees
 * them: a closing connection's buffers stay for the next one to reuse).
 * Once per process, before the workers start. Returns false when the
 * library has no such hook (a system mbedTLS): nothing to install. */
bool cg_tls_trim_install(void);

/* While on, the whole pages of blocks this thread's mbedTLS frees go back
 * to the kernel, as while cg_tls_trim_buffers releases them. Around freeing
 * a connection that was released once: its buffers, allocated again to read
 * the peer's close_notify or to send ours, would otherwise stay resident in
 * the allocator, and a mass disconnect of idle connections would raise the
 * process's memory instead of lowering it. (No-op without the hook.) */
void cg_tls_trim_give_back(bool on);

/* Gives back ssl's record buffers (released, or their pages past
 * CG_TLS_TRIM_KEEP), when nothing is pending in them: no partial record
 * read, no plaintext or handshake message not yet consumed, no output not
 * yet sent. Never during a handshake. Returns the bytes given back (0: busy,
 * already released, or nothing to release). */
size_t cg_tls_trim_buffers(mbedtls_ssl_context *ssl);

#endif
