/* The list-valued fields of HTTP/1.1 heads (see http1.h): the tokens of
 * Connection, Upgrade, Transfer-Encoding, for the rules and the writers.
 * Apart from http1.c, which has enough to do with the heads themselves. */
#include "http1.h"
#include "http1_text.h"

#include <string.h>

/* Whether a field name is name (len bytes): the length first, so that most
 * names cost one comparison. */
static inline bool name_is(cg_slice field, const char *name, size_t len)
{
    return field.n == len && cg_ascii_ieq(field.p, name, len);
}

/* Iterates the comma-separated tokens of a list-valued field (Connection,
 * Transfer-Encoding): returns false when the list is exhausted. Empty list
 * elements ("a,,b") are skipped, as RFC 9110 5.6.1 asks of recipients. */
bool cg_http_next_list_token(cg_slice *rest, cg_slice *tok)
{
    while (rest->n) {
        const char *comma = memchr(rest->p, ',', rest->n);
        size_t n = comma ? (size_t)(comma - rest->p) : rest->n;
        *tok = trim_ows(slice(rest->p, n));
        rest->p += comma ? n + 1 : n;
        rest->n -= comma ? n + 1 : n;
        if (tok->n)
            return true;
    }
    return false;
}

bool cg_http_list_has_token(const cg_http_header *h, size_t n, const char *field, const char *token)
{
    size_t len = strlen(field);
    for (size_t i = 0; i < n; i++) {
        if (!name_is(h[i].name, field, len))
            continue;
        cg_slice rest = h[i].value, tok;
        while (cg_http_next_list_token(&rest, &tok))
            if (cg_slice_ieq(tok, token))
                return true;
    }
    return false;
}

bool cg_http_named_by_connection(const cg_http_header *h, size_t n, cg_slice name)
{
    for (size_t i = 0; i < n; i++) {
        if (!cg_slice_ieq(h[i].name, "connection"))
            continue;
        cg_slice rest = h[i].value, tok;
        while (cg_http_next_list_token(&rest, &tok))
            if (slices_ieq(tok, name))
                return true;
    }
    return false;
}
