/* EC key operations in place.
 *
 * mbedTLS 2.28 signs and verifies with an EC key through mbedtls_pk_sign()
 * and mbedtls_pk_verify() by first copying the key into a temporary ECDSA
 * context (pk_wrap.c: mbedtls_ecdsa_from_keypair), group included. The copy
 * loses the key's precomputed table for the curve's generator, so every
 * call rebuilds it: here an ECDSA P-256 signature costs about 750 us through
 * mbedtls_pk_sign() and 330 us with mbedtls_ecdsa_write_signature() on the
 * key itself; a verification 1,500 us against 1,080 us. The server signs
 * once per full handshake.
 *
 * cg_pk_in_place() gives a key an mbedtls_pk_info_t (copied from the key's
 * own, from mbedtls/pk_internal.h, which 2.28 installs) whose sign and
 * verify run mbedTLS's ECDSA functions on the key itself: the same
 * algorithms (deterministic nonces, RFC 6979, as before; blinding with the
 * caller's RNG), the same results and error codes, minus the copy. The key's
 * table must be computed before threads share it (cg_verify_warm_key()).
 */
#ifndef CG_PK_OPS_H
#define CG_PK_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>

/* Switches an EC key (public or private) to in-place operations. Returns
 * false, changing nothing, for any other key type. */
bool cg_pk_in_place(mbedtls_pk_context *pk);

/* The in-place verification, with the signature of mbedTLS's verify_func:
 * keypair is the key's mbedtls_ecp_keypair (its pk_ctx). */
int cg_pk_ecdsa_verify(void *keypair, mbedtls_md_type_t md, const unsigned char *hash, size_t hash_len,
                       const unsigned char *sig, size_t sig_len);

#endif
