/* Server certificates chosen by the client's SNI (listeners[].tls.sni): one
 * listener, several certificates, each for its server_names; a client that
 * sends no SNI, or a name none of them lists, gets the listener's own
 * certificate (tls.certificate), or with tls.strict_sni is refused unless
 * that certificate is for the name. Built with the listener's TLS context
 * (tls.c), once per configuration snapshot, read-only after.
 *
 * The choice is made by mbedTLS's SNI callback, which 3.6 calls while it
 * reads the ClientHello in TLS 1.2 and in TLS 1.3 alike. It changes only
 * the certificate shown: every name of a listener shares its client CAs,
 * verification policy, session tickets, routes and mapping, so a client
 * that resumes a session under another name, or sends a Host that differs
 * from its SNI, gets nothing a full handshake with that name would not give
 * it (docs/proxy.md, "Several host names on one listener").
 */
#ifndef CG_SNI_H
#define CG_SNI_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/ssl.h>

#include "config/config.h"

typedef struct cg_sni_certs cg_sni_certs;

typedef int (*cg_sni_rng_fn)(void *ctx, unsigned char *out, size_t len);

/* Opens each tls.sni entry's certificate, chain and key, and checks that
 * the key belongs to the certificate and that the certificate's
 * subjectAltName covers every one of its server_names (a client would
 * refuse it otherwise). Every server certificate of the listener, its own
 * included, is warned about when expired, not yet valid, or ending within
 * 30 days. Errors go to diag at the entry's keys in cfg_file;
 * NULL then. A listener without tls.sni gets an empty table (never NULL
 * for that). own_chain, own_key: the listener's own certificate (loaded,
 * checked), borrowed for the table's life. */
cg_sni_certs *cg_sni_certs_new(const cg_listener_cfg *l, mbedtls_x509_crt *own_chain, mbedtls_pk_context *own_key,
                               const char *cfg_file, cg_diag *diag, cg_sni_rng_fn rng);
void cg_sni_certs_free(cg_sni_certs *t);

/* Gives conf its certificates: the listener's own as conf's, and the SNI
 * callback when the table has entries. With tls.strict_sni conf has no
 * certificate of its own: the callback gives the listener's certificate
 * only to names its subjectAltName covers, refuses any other name (alert
 * unrecognized_name), and a ClientHello without SNI finds no certificate
 * (alert handshake_failure). t must outlive conf's connections. 0 or an
 * mbedTLS error. */
int cg_sni_certs_install(cg_sni_certs *t, mbedtls_ssl_config *conf);

/* The tls.sni entry whose certificate serves name[0..len) (any case): an
 * exact name first, then a wildcard one label above; -1: none, the
 * listener's own certificate. */
long cg_sni_certs_find(const cg_sni_certs *t, const char *name, size_t len);

#endif
