/* Client bytes quoted in refusal sentences: those end up in logs and on
 * error pages, so client bytes never reach them raw. */
#ifndef CG_HTTP_EXCERPT_H
#define CG_HTTP_EXCERPT_H

#include <stddef.h>

#include "buf.h"

/* s as a short excerpt for a refusal sentence (at most 60 bytes of s;
 * quotes, backslashes and bytes outside printable ASCII as \xNN), into
 * out[0..cap); returns out. Client bytes never reach a log or page raw. */
const char *cg_http_excerpt(char *out, size_t cap, cg_slice s);
/* The same for a request line or target, cut at its query ("?[redacted]"):
 * queries carry tokens and personal data. cap must exceed 12. */
const char *cg_http_excerpt_no_query(char *out, size_t cap, cg_slice s);

#endif
