/* Client request header names certgate treats on their own: those it
 * never forwards, those backends trust from a front end (stripped unless a
 * listener keeps one), and a listener's changes to that list
 * (strip_request_headers). Names are compared like header names: ASCII
 * case folded, '_' as '-'. Pure functions over names, no I/O: the
 * configuration validates strip_request_headers with them and the exchange
 * applies them to every request (http1_write.h).
 */
#ifndef CG_HEADER_NAMES_H
#define CG_HEADER_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "text.h"

/* Whether name is lit (lower case, litlen bytes), ASCII case folded and
 * '_' matching '-': CGI-style backends (and IIS server variables) map both
 * to '_', so "X_Client_Cert_Subject" would otherwise slip past as the
 * identity header. Inline: it runs for every header of every exchange. */
static inline bool cg_header_name_is(cg_slice name, const char *lit, size_t litlen)
{
    if (name.n != litlen)
        return false;
    for (size_t i = 0; i < litlen; i++) {
        unsigned char c = (unsigned char)cg_ascii_lower((unsigned char)name.p[i]);
        if (c == '_')
            c = '-';
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}
#define CG_HEADER_NAME_IS(name, lit) cg_header_name_is((name), (lit), sizeof(lit) - 1)

/* What a listener changes in the list of client headers stripped before a
 * request is forwarded (strip_request_headers in the configuration):
 * names compared like header names (case-insensitive, '_' as '-'). */
typedef struct cg_header_policy {
    char **strip;    /* removed too */
    size_t nstrip;
    char **keep;     /* passed although in cg_http_backend_trusted_headers */
    size_t nkeep;
} cg_header_policy;


/* True for a header a client must never be able to send to the backend:
 * hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Authorization, Proxy-Authenticate),
 * fields the proxy sets itself (Content-Length, Expect, Authorization,
 * X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded,
 * X-Request-Id), certgate's identity headers (prefixes "X-Client-Cert-"
 * and "X-Certgate-"; '_' counts as '-') and the certificate headers it may
 * set (Client-Cert, Client-Cert-Chain, X-ARR-ClientCert: removed whether
 * the listener sends them or not, RFC 9440 section 4).
 * Case-insensitive. */
bool cg_http_request_header_dropped(cg_slice name);

/* Headers that backends commonly trust as identity or routing statements
 * from a front end (X-Original-URL, X-Rewrite-URL, X-ARR-SSL,
 * X-Forwarded-Client-Cert, X-SSL-Client-Cert, Remote-User, X-Remote-User,
 * X-Real-IP, ...; see header_names.c): stripped from client requests unless a
 * listener keeps one. Lower-case; a family entry names a prefix (its text
 * ends in '*', len excludes it). The list ends with a NULL name. */
typedef struct cg_trusted_header {
    const char *name;
    size_t len;
    bool family;
} cg_trusted_header;
extern const cg_trusted_header cg_http_backend_trusted_headers[];
bool cg_http_backend_trusted_header(cg_slice name);

/* The one decision on a client request header: true when it is not
 * forwarded. Always for cg_http_request_header_dropped(); for the
 * backend-trusted list unless p keeps it; for names p strips. p may be
 * NULL (the defaults). */
bool cg_http_request_header_stripped(cg_slice name, const cg_header_policy *p);

#endif
