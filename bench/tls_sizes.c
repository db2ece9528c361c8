/* cg-tls-sizes: the per-connection memory floor of the mbedTLS this was built
 * against, as one JSON line. bench/run prints it next to certgate's idle
 * RSS per connection.
 *
 * With MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH off (Debian's build), every
 * mbedtls_ssl_context allocates an input and an output record buffer when it
 * is set up, and keeps both for the life of the connection, idle or not.
 * mbedTLS 3.6 keeps their sizes (MBEDTLS_SSL_IN_BUFFER_LEN, ...) in a
 * private header, so they are measured: a server context is set up and the
 * two allocations' sizes read (their pointers are private fields too: a
 * benchmark may look, certgate does not).
 */
#include <malloc.h>
#include <stdio.h>

#include <mbedtls/psa_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

int main(void)
{
#if defined(MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH)
    const int variable = 1;
#else
    const int variable = 0;
#endif
#if defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
    const int keep_peer = 1;
#else
    const int keep_peer = 0;
#endif
#if defined(MBEDTLS_SSL_RELEASE_BUFFERS)
    const int release = 1; /* certgate's patch 0005: quiet connections' buffers freed */
#else
    const int release = 0;
#endif
    size_t in = 0, out = 0;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_init(&ssl);
    if (psa_crypto_init() == PSA_SUCCESS &&
        mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) == 0 &&
        (mbedtls_ssl_conf_rng(&conf, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE), 1) && /* 3.6: setup wants one */
        mbedtls_ssl_setup(&ssl, &conf) == 0) {
        in = malloc_usable_size(ssl.MBEDTLS_PRIVATE(in_buf));
        out = malloc_usable_size(ssl.MBEDTLS_PRIVATE(out_buf));
    }
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    printf("{\"mbedtls_version\":\"%s\",\"in_buffer\":%zu,\"out_buffer\":%zu,\"ssl_context\":%zu,"
           "\"ssl_session\":%zu,\"x509_crt\":%zu,\"variable_buffer_length\":%d,\"keep_peer_certificate\":%d,"
           "\"release_buffers\":%d}\n",
           MBEDTLS_VERSION_STRING_FULL, in, out, sizeof(mbedtls_ssl_context), sizeof(mbedtls_ssl_session),
           sizeof(mbedtls_x509_crt), variable, keep_peer, release);
    return in && out ? 0 : 1;
}
