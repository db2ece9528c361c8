#include "pk_ops.h"

#include <pthread.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/pk_internal.h>

static pthread_mutex_t info_mu = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_pk_info_t in_place_info; /* mbedTLS's EC key info, sign and verify replaced */
static const mbedtls_pk_info_t *ec_info; /* the one it was copied from */

int cg_pk_ecdsa_verify(void *keypair, mbedtls_md_type_t md, const unsigned char *hash, size_t hash_len,
                       const unsigned char *sig, size_t sig_len)
{
    (void)md; /* the hash is given; its length is what ECDSA uses */
    int ret = mbedtls_ecdsa_read_signature(keypair, hash, hash_len, sig, sig_len);
    /* As pk_wrap.c reports it. */
    return ret == MBEDTLS_ERR_ECP_SIG_LEN_MISMATCH ? MBEDTLS_ERR_PK_SIG_LEN_MISMATCH : ret;
}

static int ecdsa_sign(void *keypair, mbedtls_md_type_t md, const unsigned char *hash, size_t hash_len,
                      unsigned char *sig, size_t *sig_len, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    return mbedtls_ecdsa_write_signature(keypair, md, hash, hash_len, sig, sig_len, f_rng, p_rng);
}

bool cg_pk_in_place(mbedtls_pk_context *pk)
{
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY || !pk->pk_info->verify_func)
        return false;
    bool ok;
    pthread_mutex_lock(&info_mu);
    if (!ec_info) {
        ec_info = pk->pk_info;
        in_place_info = *pk->pk_info;
        in_place_info.verify_func = cg_pk_ecdsa_verify;
        in_place_info.sign_func = ecdsa_sign;
    }
    /* Only keys of the very kind the copy was made from (same context
     * allocation and release, so the key is freed as mbedTLS made it). */
    ok = pk->pk_info == ec_info || pk->pk_info == &in_place_info;
    if (ok)
        pk->pk_info = &in_place_info;
    pthread_mutex_unlock(&info_mu);
    return ok;
}
