/* The HTML page of a refusal, for the person in front of the browser.
 *
 * A page is rendered from values (cg_page_values): the refusal's kind
 * gives the status, the sub-status and the user's words (error.h); the
 * request id, the support line and, on 403.7, the accepted CA names are
 * added; the operator sentence only when the caller decided this client
 * may see it (errors.detail, errors.operator_networks). Everything
 * variable is HTML-escaped. Operator-supplied templates per status can
 * later take the same values.
 *
 * Bounded: the page is written into the caller's buffer and is either
 * complete or not written at all; never cut inside a tag. CG_ERROR_PAGE_MAX
 * bytes always hold a page with the longest detail, support line and
 * request id; the CA list takes what room is left (and says how many names
 * it left out).
 */
#ifndef CG_ERROR_PAGE_H
#define CG_ERROR_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* A buffer this large always holds a page (CA list aside, see above). */
#define CG_ERROR_PAGE_MAX (16u * 1024)
/* At most this many CA names are listed on a 403.7 page. */
#define CG_ERROR_PAGE_MAX_CAS 20u
/* A CA name longer than this (bytes) is cut, at a character boundary, with "...". */
#define CG_ERROR_PAGE_CA_NAME_MAX 200u
/* errors.support is at most this long (bytes); config.c enforces it. */
#define CG_ERROR_SUPPORT_MAX 512u

typedef struct cg_page_values {
    cg_refusal_kind kind;
    const char *request_id;          /* NULL: "-" */
    const char *operator_detail;     /* the operator sentence, or NULL at the user level */
    const char *support;             /* errors.support, or NULL */
    const char *const *ca_names;     /* 403.7: the CA names of the CertificateRequest */
    size_t nca_names;
} cg_page_values;

/* Renders the page into out (cap bytes). Returns its length, or 0 (out
 * set to "" when cap > 0) when cap cannot hold it. */
size_t cg_error_page_render(const cg_page_values *v, char *out, size_t cap);

/* The response headers every certgate page carries (after Content-Type),
 * each line ending in CRLF: no caching, no sniffing, no scripts or outside
 * content, no framing. */
#define CG_ERROR_PAGE_HEADERS                                                                               \
    "Cache-Control: no-store\r\n"                                                                           \
    "X-Content-Type-Options: nosniff\r\n"                                                                   \
    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "             \
    "form-action 'none'; frame-ancestors 'none'\r\n"                                                        \
    "Referrer-Policy: no-referrer\r\n"

#endif
