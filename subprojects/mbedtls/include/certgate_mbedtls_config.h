/* certgate's configuration of mbedTLS 3.6 LTS (-Dmbedtls=bundled).
 *
 * This file REPLACES mbedTLS's include/mbedtls/mbedtls_config.h
 * (MBEDTLS_CONFIG_FILE): every option certgate builds is listed here with the
 * reason, and an option of the 3.6 default configuration that is absent is
 * off on purpose (the list at the end says why). Everything that includes an
 * mbedTLS header must see the same file: subprojects/mbedtls/meson.build puts
 * the define into the dependency's compile arguments.
 *
 * What certgate does with mbedTLS: a TLS 1.2 and 1.3 server that requires and
 * verifies client certificates (RSA, ECDSA; chains with CRLs), session
 * tickets, a TLS client (bench/loadgen; HTTPS backends later), X.509 and
 * PK parsing, certificates written by the tests' kit, SHA-1/SHA-2 digests.
 * Speed options follow issue 13's measurements (bench/README.md).
 * Checked by tests/platform/check_mbedtls_config.c.
 */
#ifndef CERTGATE_MBEDTLS_CONFIG_H
#define CERTGATE_MBEDTLS_CONFIG_H

/* ---- System ------------------------------------------------------------ */
#define MBEDTLS_HAVE_ASM            /* bignum assembly; needed by AES-NI */
#define MBEDTLS_HAVE_TIME           /* ticket lifetimes, session ages */
#define MBEDTLS_HAVE_TIME_DATE      /* certificate and CRL validity dates */
#define MBEDTLS_PLATFORM_C          /* mbedtls_ms_time for TLS 1.3 ticket ages */
#define MBEDTLS_PLATFORM_MEMORY     /* net/tls_trim.c: released record buffers' pages given back as they are freed */
#define MBEDTLS_FS_IO               /* keys, certificates and CRLs read from files */
#define MBEDTLS_THREADING_C         /* the thread pool verifies chains while */
#define MBEDTLS_THREADING_PTHREAD   /* workers handshake: PSA's key store is shared */
/* No clock in ServerHello.random: 3.6 has no option for it, so the subproject
 * patches ssl_tls12_server.c (patches/0001-tls12-server-hello-random-without-time.patch);
 * TLS 1.3's random is all random already. */

/* ---- Random numbers ---------------------------------------------------- */
#define MBEDTLS_ENTROPY_C           /* getrandom(2) through entropy_poll.c */
#define MBEDTLS_CTR_DRBG_C          /* certgate's per-thread DRBG; PSA's RNG */
#define MBEDTLS_HMAC_DRBG_C         /* deterministic ECDSA (RFC 6979) */
#define MBEDTLS_ECDSA_DETERMINISTIC /* the server's signatures do not depend on the RNG */

/* ---- Symmetric crypto: AEAD only ---------------------------------------- */
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C             /* AES-NI and PCLMULQDQ (GCM) on x86-64, detected at run time */
#define MBEDTLS_AESCE_C             /* the same on arm64 (Armv8 crypto extensions) */
#define MBEDTLS_GCM_C               /* AES-GCM suites (TLS 1.2, 1.3), ticket encryption */
#define MBEDTLS_CHACHA20_C          /* CHACHA20-POLY1305 suites (TLS 1.2, 1.3), */
#define MBEDTLS_POLY1305_C          /* for clients without AES hardware */
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
/* PKCS#5 (PBES2) only so that an encrypted PKCS#8 key is recognised as such
 * and refused with "the key is encrypted" (net/tls.c), not "invalid format". */
#define MBEDTLS_PKCS5_C

/* ---- Digests ------------------------------------------------------------ */
#define MBEDTLS_MD_C
#define MBEDTLS_MD5_C               /* MD5-signed certificates, only with allow_weak_signatures */
#define MBEDTLS_SHA1_C              /* sha1_public_key mapping keys; SHA-1 signatures (opt-in) */
#define MBEDTLS_SHA224_C            /* certificate signatures: SHA-224 to SHA-512 */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HKDF_C              /* TLS 1.3 key schedule (PSA HKDF) */

/* ---- Public keys -------------------------------------------------------- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_GENPRIME            /* RSA keys made by the tests' certificate kit */
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15           /* RSA certificate signatures, TLS 1.2 signatures */
#define MBEDTLS_PKCS1_V21           /* RSA-PSS: TLS 1.3 CertificateVerify of RSA clients */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_NIST_OPTIM      /* fast reduction modulo the NIST primes */
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 1 /* precomputed generator tables: ECDSA sign, key generation */
#define MBEDTLS_ECP_WINDOW_SIZE 6   /* default 4: faster ECDH and ECDSA verify, a larger table per operation */
#define MBEDTLS_MPI_WINDOW_SIZE 6   /* default 3 (in 3.6's bignum.h): faster RSA private operations */
/* Everest's verified X25519 (Apache-2.0, certgate's license): ~5x the generic
 * code on the TLS 1.2 ECDHE path (issue 13's table). TLS 1.3 reaches X25519
 * through PSA, which does not use Everest: a PSA driver is the later step. */
#define MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED /* key exchange */
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED  /* key exchange, certificates */
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED  /* certificates (smart cards, CAs) */
#define MBEDTLS_ECP_DP_SECP521R1_ENABLED  /* certificates */
#define MBEDTLS_ECP_DP_BP256R1_ENABLED    /* certificates: Brainpool smart-card estates */
#define MBEDTLS_ECP_DP_BP384R1_ENABLED
#define MBEDTLS_ECP_DP_BP512R1_ENABLED
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C          /* mapping keys over the public key; the tests' kit */

/* ---- PSA crypto --------------------------------------------------------- */
/* PSA is built from the settings above (no MBEDTLS_PSA_CRYPTO_CONFIG);
 * certgate calls psa_crypto_init() before any handshake. No persistent keys,
 * so no key storage. */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC /* the key store grows with the connections */
/* PSA's callers here are mbedTLS and certgate in one process, no caller
 * across a trust boundary: so PSA works on the caller's buffers instead of
 * copying each into a fresh heap block and wiping it after (for a TLS record,
 * the copy and the wipe of a 16 KiB output block cost more than the AES-GCM).
 * mbedTLS's own CI runs its whole suite, TLS included, with this option. */
#define MBEDTLS_PSA_ASSUME_EXCLUSIVE_BUFFERS
/* TLS 1.2 (ECDHE, signatures), X.509 and PK go through PSA too, as TLS 1.3
 * does: so both TLS versions and the chain verification reach certgate's
 * driver (the next option). */
#define MBEDTLS_USE_PSA_CRYPTO
/* certgate's PSA transparent driver (subprojects/mbedtls/driver/, dispatched
 * by patches/0002-psa-dispatch-certgate-driver.patch): the verified-signature
 * cache (a returning user's certificate signature is not verified again) and
 * X25519 through libsodium, in TLS 1.2 and 1.3. */
#define CERTGATE_PSA_DRIVER

/* ---- Encodings, X.509 --------------------------------------------------- */
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_OID_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PEM_WRITE_C         /* the tests' kit writes PEM files */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CRL_PARSE_C
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT /* RSA-PSS-signed client certificates */
#define MBEDTLS_X509_CREATE_C       /* the tests' certificate kit (tests/support) */
#define MBEDTLS_X509_CRT_WRITE_C

/* ---- TLS ------------------------------------------------------------------ */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_CLI_C           /* bench/loadgen; HTTPS backends later */
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE /* middlebox compatibility (RFC 8446 D.4), as clients expect */
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED     /* full handshakes */
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED /* resumption, with a fresh (EC)DHE */
/* TLS 1.2: ECDHE and AEAD only (net/tls.c's list). No RSA key transport, no
 * static ECDH, no DHE, no PSK: no forward secrecy or not used. */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET /* RFC 7627 */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE  /* required by 3.6's TLS 1.3; mapping reads the peer's certificate */
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_TICKET_C        /* net/ticket_keys.c wraps mbedTLS's ticket code */
#define MBEDTLS_SSL_SERVER_NAME_INDICATION /* clients send it; the TLS client sends it */
#define MBEDTLS_SSL_ALPN            /* listeners[].http2: "h2" before "http/1.1" (net/tls.c) */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES     /* tell the peer why a handshake failed */
/* Buffers shrink to what the connection needs after the handshake: idle
 * connections cost less (issue 13's target: <= 0.5x nginx's RSS). */
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH    /* required by the next one */
#define MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH
#define MBEDTLS_NET_C               /* bench/loadgen's sockets (certgate itself uses libuv) */
#define MBEDTLS_ERROR_C             /* mbedtls_strerror in configuration diagnostics */
#define MBEDTLS_VERSION_C
#define MBEDTLS_VERSION_FEATURES    /* mbedtls_version_check_feature: the build is checked for these options */

/* ---- Off on purpose (on in the 3.6 defaults) -------------------------------
 * CBC, CFB, OFB, XTS modes and their paddings, ENCRYPT_THEN_MAC: no CBC suites.
 * DES, CAMELLIA, ARIA, CCM, CMAC, NIST_KW, RIPEMD160, SHA3, PADLOCK: no suite
 * or certificate certgate accepts uses them.
 * Curves secp192r1, secp224r1, the Koblitz curves, Curve448: not in X.509 use.
 * PK_PARSE_EC_EXTENDED (explicit curve parameters: the "Curveball" class of
 * mistakes), PK_PARSE_EC_COMPRESSED, PK_RSA_ALT_SUPPORT, PKCS12, PKCS7, DHM,
 * ECJPAKE, LMS, X509_CSR_*: not used.
 * Key exchanges RSA, DHE_RSA, ECDH_*, *PSK, TLS 1.3 pure PSK: no forward
 * secrecy, or no PSKs. SSL_RENEGOTIATION: refused (CVE-2009-3555 class).
 * SSL_EARLY_DATA (0-RTT) is off in the defaults and stays off: replayable.
 * SSL_PROTO_DTLS and all DTLS options, SSL_COOKIE_C, TIMING_C: no DTLS.
 * SSL_CACHE_C: tickets, not a session-ID cache. SSL_CONTEXT_SERIALIZATION,
 * SSL_KEYING_MATERIAL_EXPORT, SSL_DTLS_CONNECTION_ID: not used.
 * PSA_CRYPTO_STORAGE_C, PSA_ITS_FILE_C: no persistent keys.
 * DEBUG_C: no debug callback is installed; SELF_TEST: not run.
 * PSA_P256M_DRIVER_ENABLED (p256-m for P-256 through PSA): off until
 * bench/ has measured it (issue 13); its sources are built either way.
 */

#endif /* CERTGATE_MBEDTLS_CONFIG_H */
