/* Record buffers of quiet TLS connections given back (tls_trim.h). */
#include "tls_trim.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mbedtls/platform.h>

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
 * block owns (a heap block's neighbours and the allocator's own words lie
 * outside it), so the allocator never notices. */
static size_t give_back(unsigned char *p, size_t len)
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

/* Quiet-connection checks of fields with no accessor in mbedTLS 3.6: what
 * the buffers still hold that mbedtls_ssl_check_pending() does not count (a
 * record read in part, output not yet written). */
static bool holds_nothing(mbedtls_ssl_context *ssl)
{
    return mbedtls_ssl_is_handshake_over(ssl) && !mbedtls_ssl_check_pending(ssl) &&
           ssl->MBEDTLS_PRIVATE(in_left) == 0 && ssl->MBEDTLS_PRIVATE(out_left) == 0;
}

#if defined(MBEDTLS_SSL_RELEASE_BUFFERS) && defined(MBEDTLS_PLATFORM_MEMORY)
/* Set while mbedtls_ssl_release_buffers frees this thread's connection's
 * buffers: then their pages go back before the allocator keeps the blocks
 * (glibc keeps freed heap blocks resident; the next allocation that reuses
 * them gets zeroed pages, which it writes before reading). Busy and closing
 * connections free as usual: the next connection reuses the pages. */
static _Thread_local bool releasing;

static void trim_free(void *p)
{
    if (p && releasing)
        (void)give_back(p, malloc_usable_size(p));
    free(p);
}

bool cg_tls_trim_install(void)
{
    return mbedtls_platform_set_calloc_free(calloc, trim_free) == 0;
}

void cg_tls_trim_give_back(bool on)
{
    releasing = on;
}

size_t cg_tls_trim_buffers(mbedtls_ssl_context *ssl)
{
    if (ssl->MBEDTLS_PRIVATE(buffers_released) || !holds_nothing(ssl))
        return 0;
    size_t len = IN_LEN(ssl) + OUT_LEN(ssl);
    releasing = true;
    int ret = mbedtls_ssl_release_buffers(ssl);
    releasing = false;
    return ret == 0 ? len : 0;
}
#else
bool cg_tls_trim_install(void)
{
    return false;
}

void cg_tls_trim_give_back(bool on)
{
    (void)on;
}

size_t cg_tls_trim_buffers(mbedtls_ssl_context *ssl)
{
    if (!holds_nothing(ssl))
        return 0;
    return give_back(ssl->MBEDTLS_PRIVATE(in_buf), IN_LEN(ssl)) + give_back(ssl->MBEDTLS_PRIVATE(out_buf), OUT_LEN(ssl));
}
#endif
