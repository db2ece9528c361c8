/* The page a refused request gets, for HTTP/1.1 exchanges (http_proxy.c)
 * and HTTP/2 streams (h2_stream.c) alike: the operator's template for the
 * refusal's kind (errors.templates) or the built-in page, with the user's
 * words always and the operator sentence only for operators
 * (errors.detail, errors.operator_networks).
 */
#ifndef CG_REFUSAL_PAGE_H
#define CG_REFUSAL_PAGE_H

#include <stddef.h>

#include "base/base.h"
#include "config/config.h"
#include "net/net.h"

/* Renders the page of why for request_id on connection c under cfg (the
 * request's snapshot, or the connection's before a request was parsed).
 * Returns the page: builtin (CG_ERROR_PAGE_MAX bytes) or an allocation the
 * caller frees with cg_refusal_page_free; *len its length. */
char *cg_refusal_page(const cg_config *cfg, const cg_conn *c, const cg_refusal *why, const char *request_id,
                      char *builtin, size_t *len);
void cg_refusal_page_free(char *page, const char *builtin);

#endif
