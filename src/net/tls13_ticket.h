/* What certgate's session tickets carry for a TLS 1.3 session beyond
 * mbedTLS's own serialization of it.
 *
 * mbedTLS 3.6 serializes a TLS 1.3 session without the client's certificate
 * or its verification result, and when a ticket resumes a session it keeps
 * only the resumption secret: a resumed TLS 1.3 session would have no
 * client certificate at all. So tls.c's ticket payload carries, after the
 * session of a TLS 1.3 ticket, the full handshake's verification result,
 * when it happened, and the client's leaf; opening the ticket gives them
 * back (cg_tls13_resumed), and the connection that resumes holds them as
 * its peer certificate and verification result. A session resumed from a
 * resumed session carries them on, so the lifetime counts from the full
 * handshake, as for TLS 1.2.
 *
 * The block: started (8, big-endian seconds) | verification flags (4) |
 * leaf length (3) | leaf DER (length 0: the client sent no certificate).
 */
#ifndef CG_TLS13_TICKET_H
#define CG_TLS13_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

typedef struct cg_tls13_resumed {
    bool present;              /* a TLS 1.3 ticket was opened */
    uint32_t flags;            /* MBEDTLS_X509_BADCERT_* of the full handshake */
    int64_t started;           /* the full handshake (seconds since the epoch) */
    mbedtls_x509_crt *chain;   /* the leaf, then the CA certificates the ticket carries; NULL: none sent */
} cg_tls13_resumed;

/* Writes the block at p (room bytes). Returns its length, 0 when it does
 * not fit. leaf may be NULL. */
size_t cg_tls13_ticket_put(unsigned char *p, size_t room, int64_t started, uint32_t flags,
                           const mbedtls_x509_crt *leaf);

/* Reads the block at p (n bytes) into out (cleared first; out->chain is
 * allocated when a leaf is there). *used: its length. False when it is
 * truncated or the leaf does not parse (out is then cleared). */
bool cg_tls13_ticket_get(const unsigned char *p, size_t n, size_t *used, cg_tls13_resumed *out);

/* Frees the chain; present becomes false. */
void cg_tls13_resumed_clear(cg_tls13_resumed *r);

#endif
