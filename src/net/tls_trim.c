/* Record buffers of quiet TLS connections released (tls_trim.h). */
#include "tls_trim.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* The buffers' lengths: their fields exist with variable buffers; without
 * them (a system mbedTLS built otherwise) each buffer is at least its
 * content length, which is then all that is released from. */
#if defined(MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH)
#define IN_LEN(ssl) ((ssl)->MBEDTLS_PRIVATE(in_buf_len))
#define OUT_LEN(ssl) ((ssl)->MBEDTLS_PRIVATE(out_buf_len))
#else
#define IN_LEN(ssl) ((size_t)MBEDTLS_SSL_IN_CONTENT_LEN)
#define OUT_LEN(ssl) ((size_t)MBEDTLS_SSL_OUT_CONTENT_LEN)
#endif

/* The whole pages inside [p + CG_TLS_TRIM_KEEP, p + len): only bytes the
 * buffer owns (a heap block's neighbours and the allocator's own words lie
 * outside it), so the allocator never notices. */
static size_t release(unsigned char *p, size_t len)
{
    if (!p || len <= CG_TLS_TRIM_KEEP)
        return 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)p + CG_TLS_TRIM_KEEP + page - 1) & ~(page - 1);
    uintptr_t to = ((uintptr_t)p + len) & ~(page - 1);
    if (to <= from)
        return 0;
    if (madvise((void *)from, to - from, MADV_DONTNEED) != 0)
        return 0; /* nothing lost: the pages just stay */
    return to - from;
}

size_t cg_tls_trim_buffers(mbedtls_ssl_context *ssl)
{
    /* Private fields with no accessor in mbedTLS 3.6: the buffers and what
     * they still hold that mbedtls_ssl_check_pending() does not count (a
     * record read in part, output not yet written). */
    if (!mbedtls_ssl_is_handshake_over(ssl) || mbedtls_ssl_check_pending(ssl) ||
        ssl->MBEDTLS_PRIVATE(in_left) != 0 || ssl->MBEDTLS_PRIVATE(out_left) != 0)
        return 0;
    return release(ssl->MBEDTLS_PRIVATE(in_buf), IN_LEN(ssl)) + release(ssl->MBEDTLS_PRIVATE(out_buf), OUT_LEN(ssl));
}
