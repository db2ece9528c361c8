/* `certgate doctor`'s check of an https backend: one TLS handshake with the
 * backend through certgate's own TLS client (net's tls_client.h), so it
 * verifies exactly as the proxy does (the CA file, server_name, the client
 * certificate) and fails with the same codes and sentences. Blocks, for at
 * most timeout_ms: a command, never an event loop.
 */
#ifndef CG_DOCTOR_TLS_H
#define CG_DOCTOR_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* True when the handshake completed and the certificate verified; text is
 * the sentence either way (version and suite, or what failed, with its
 * code in brackets). */
bool cg_doctor_tls_check(const cg_backend_cfg *b, unsigned timeout_ms, char *text, size_t cap);

#endif
