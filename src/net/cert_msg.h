/* The client's TLS 1.2 Certificate message, found in the bytes it sends.
 *
 * A TLS 1.2 client sends its first flight in the clear: ClientHello, then
 * (answering a CertificateRequest) Certificate, ClientKeyExchange,
 * CertificateVerify, then ChangeCipherSpec. tls.c hands this watcher every
 * byte it gives mbedTLS, in order, so that the Certificate message is whole
 * here the moment mbedTLS has read it, before mbedTLS verifies the chain in
 * it (chain_limits.h: the message is judged first). mbedTLS 3.6 has no
 * public hook at that point; the bytes are what the client sent, read from
 * the transport certgate owns.
 *
 * The watcher reads TLS records (type, version, length) and the handshake
 * messages in them, which may span records. It keeps only the Certificate
 * message (at most max_len bytes, header included) and stops watching at
 * the first sign that the plaintext flight is over or holds no Certificate:
 * a record other than a handshake one (ChangeCipherSpec, an alert, TLS 1.3's
 * encrypted records), a handshake message other than ClientHello before it,
 * or a message over max_len (which mbedTLS refuses itself). Anything it
 * cannot follow it leaves to mbedTLS, which judges the bytes anyway.
 *
 * TLS 1.3 encrypts the client's Certificate message (after the ServerHello
 * every handshake record is application_data): the watcher sees the
 * ClientHello (a second one after a HelloRetryRequest too), then the first
 * encrypted record, and is DONE. tls.c judges a TLS 1.3 chain in its
 * verification callback instead (docs/tls.md).
 */
#ifndef CG_CERT_MSG_H
#define CG_CERT_MSG_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CG_CERT_MSG_WATCHING = 0, /* more bytes wanted */
    CG_CERT_MSG_COMPLETE,     /* the message is in buf[0..len) (returned once) */
    CG_CERT_MSG_DONE,         /* nothing more to find: the watcher holds no memory */
} cg_cert_msg_state;

typedef struct cg_cert_msg {
    uint8_t state;            /* cg_cert_msg_state */
    uint8_t hdr_have;         /* bytes of the record header read */
    uint8_t mhdr_have;        /* bytes of the handshake message header read */
    uint8_t collecting;       /* the current message is the Certificate message */
    unsigned char hdr[5];     /* type, version (2), length (2) */
    unsigned char mhdr[4];    /* type, length (3) */
    size_t rec_left;          /* body bytes of the current record still to come */
    size_t msg_left;          /* body bytes of the current message still to come */
    unsigned char *buf;       /* the Certificate message, its 4-byte header included */
    size_t len;
} cg_cert_msg;

/* A zeroed cg_cert_msg is ready to watch. Feeds the next n bytes the client
 * sent; returns the state after them. After COMPLETE the caller reads buf
 * and len, then calls cg_cert_msg_free(). Bytes after the message's last
 * one are not looked at. Allocates only the message (returns DONE when
 * that fails: mbedTLS judges alone). */
cg_cert_msg_state cg_cert_msg_feed(cg_cert_msg *m, const unsigned char *p, size_t n, size_t max_len);

/* Frees the message; the watcher is DONE. */
void cg_cert_msg_free(cg_cert_msg *m);

#endif
