/* The HTML page of a refusal, for the person in front of the browser.
 *
 * A page is rendered from values (cg_page_values): the refusal's kind
 * gives the status, the sub-status and the user's words (error.h); the
 * request id, the support line and, on 403.7, the accepted CA names are
 * added; the operator sentence only when the caller decided this client
 * may see it (errors.detail, errors.operator_networks). Everything
 * variable is HTML-escaped. Operator-supplied templates (errors.templates)
 * take the same values through placeholders (below).
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
/* errors.support is at most this long (bytes); config_sections.c enforces it. */
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

/* ---- operator templates (errors.templates, docs/errors.md) ----
 *
 * An HTML file with {{placeholders}}, checked whole when the configuration
 * loads (readable, at most CG_ERROR_TEMPLATE_FILE_MAX bytes, UTF-8 without
 * NUL, every placeholder known) and kept in the snapshot: never read per
 * request. Every value is HTML-escaped ({{ca_names}} is a list whose items
 * are); {{operator_detail}} is empty unless v->operator_detail is set.
 * The longest page a template can make (its text plus each placeholder at
 * its longest value) is known at load and bounded by
 * CG_ERROR_TEMPLATE_PAGE_MAX: a buffer of cg_error_template_page_max()
 * bytes always holds the page, so it is never cut. */
#define CG_ERROR_TEMPLATE_FILE_MAX (64u * 1024)
#define CG_ERROR_TEMPLATE_PAGE_MAX (256u * 1024)

typedef struct cg_error_template cg_error_template;

/* The placeholder names, NULL-terminated: "status", "title", ... */
extern const char *const cg_error_template_placeholders[];

/* Checks and compiles len bytes of text; problems go to diag at name:line:
 * column (positions inside the text). NULL with at least one error. */
cg_error_template *cg_error_template_parse(const char *text, size_t len, const char *name, cg_diag *diag);
/* Reads and compiles the file at path. NULL when it cannot: the text's
 * problems are in diag (at path:line:column); a file that cannot be read,
 * is not a regular file, is empty or too large is described in why (for
 * the caller to report where the path was configured). */
cg_error_template *cg_error_template_load(const char *path, cg_diag *diag, char *why, size_t cap);
void cg_error_template_free(cg_error_template *t);
/* Bytes (NUL included) that always hold a page of t. */
size_t cg_error_template_page_max(const cg_error_template *t);
/* Renders t with v into out. Returns the page's length, or 0 (out set to
 * "" when cap > 0) when cap is below cg_error_template_page_max(t). */
size_t cg_error_template_render(const cg_error_template *t, const cg_page_values *v, char *out, size_t cap);

/* How well an errors.templates key fits kind k: 3 for "403.7" (status and
 * sub-status), 2 for "403" (the status, any sub-status), 1 for "default",
 * 0 when it does not apply, -1 when key is not one of those forms. The
 * most specific key wins. */
int cg_error_template_match(const char *key, cg_refusal_kind k);

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
