/* cg-tls-sizes: the per-connection memory floor of the mbedTLS this was built
 * against, as one JSON line. bench/run prints it next to certgate's idle
 * RSS per connection.
 *
 * With MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH off (Debian's build), every
 * mbedtls_ssl_context allocates an input and an output record buffer of
 * MBEDTLS_SSL_IN_BUFFER_LEN / MBEDTLS_SSL_OUT_BUFFER_LEN bytes when it is set
 * up, and keeps both for the life of the connection, idle or not.
 */
#include <stdio.h>

#include <mbedtls/ssl.h>
#include <mbedtls/ssl_internal.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

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
    printf("{\"mbedtls_version\":\"%s\",\"in_buffer\":%d,\"out_buffer\":%d,\"ssl_context\":%zu,"
           "\"ssl_session\":%zu,\"x509_crt\":%zu,\"variable_buffer_length\":%d,\"keep_peer_certificate\":%d}\n",
           MBEDTLS_VERSION_STRING_FULL, (int)MBEDTLS_SSL_IN_BUFFER_LEN, (int)MBEDTLS_SSL_OUT_BUFFER_LEN,
           sizeof(mbedtls_ssl_context), sizeof(mbedtls_ssl_session), sizeof(mbedtls_x509_crt), variable,
           keep_peer);
    return 0;
}
