/* Base64 (RFC 4648, standard alphabet, with padding): the SPNEGO token of
 * "Authorization: Negotiate" (kdc_steps.h). */
#ifndef CG_BASE64_H
#define CG_BASE64_H

#include <stddef.h>

/* Standard base64 with padding. Returns the length written (without the
 * NUL), or 0 when cap is too small (cap must hold 4*ceil(len/3)+1). */
size_t cg_base64_encode(const void *in, size_t len, char *out, size_t cap);

#endif
