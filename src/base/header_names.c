/* Client request header names certgate treats on their own (see
 * header_names.h).
 */
#include "header_names.h"

#include <string.h>

static bool has_prefix(cg_slice name, const char *prefix, size_t n)
{
    return name.n >= n && cg_header_name_is((cg_slice){ name.p, n }, prefix, n);
}

/* certgate's identity headers: X-Client-Cert-* (the certificate) and
 * X-Certgate-* (the mapped principal ...): only certgate may set them. */
static bool is_identity_header(cg_slice name)
{
    static const char cert[] = "x-client-cert-", own[] = "x-certgate-";
    return has_prefix(name, cert, sizeof cert - 1) || has_prefix(name, own, sizeof own - 1);
}

bool cg_http_request_header_dropped(cg_slice name)
{
    if (name.n == 0)
        return false;
    if (is_identity_header(name))
        return true;
    /* Switch on length so that most headers cost one comparison at most. */
    switch (name.n) {
    case 2:  return CG_HEADER_NAME_IS(name, "te");
    case 6:  return CG_HEADER_NAME_IS(name, "expect");
    case 7:  return CG_HEADER_NAME_IS(name, "trailer") || CG_HEADER_NAME_IS(name, "upgrade");
    case 9:  return CG_HEADER_NAME_IS(name, "forwarded");
    case 10: return CG_HEADER_NAME_IS(name, "connection") || CG_HEADER_NAME_IS(name, "keep-alive");
    case 11: return CG_HEADER_NAME_IS(name, "client-cert");
    case 12: return CG_HEADER_NAME_IS(name, "x-request-id");
    case 13: return CG_HEADER_NAME_IS(name, "authorization");
    case 14: return CG_HEADER_NAME_IS(name, "content-length");
    case 15: return CG_HEADER_NAME_IS(name, "x-forwarded-for");
    case 16: return CG_HEADER_NAME_IS(name, "proxy-connection") || CG_HEADER_NAME_IS(name, "x-forwarded-host") ||
                    CG_HEADER_NAME_IS(name, "x-arr-clientcert");
    case 17: return CG_HEADER_NAME_IS(name, "transfer-encoding") || CG_HEADER_NAME_IS(name, "x-forwarded-proto") ||
                    CG_HEADER_NAME_IS(name, "client-cert-chain");
    case 18: return CG_HEADER_NAME_IS(name, "proxy-authenticate");
    case 19: return CG_HEADER_NAME_IS(name, "proxy-authorization");
    default: return false;
    }
}

/* Headers some backend or framework believes as a statement of who the
 * client is or which URL it asked for, when a front end sets them: IIS URL
 * Rewrite and ARR (X-Original-URL / X-Rewrite-URL replace the routed path),
 * client-certificate forwarding conventions of other proxies, "already
 * authenticated" users (Remote-User, Azure App Service, oauth2-proxy), and
 * client addresses other than X-Forwarded-For. A client is none of those
 * front ends. Stripped unless the listener keeps one (cg_header_policy). */
/* Lengths are computed by the compiler: the check runs for every header of
 * every request. An entry ending in '*' names a family by its prefix:
 * proxies invent new members (X-SSL-Client-DN, -Escaped-Cert, -Fingerprint
 * ...) faster than a list of exact names can follow. */
#define NAME(s) { s, sizeof s - 1, false }
#define FAMILY(s) { s "*", sizeof s - 1, true }
const cg_trusted_header cg_http_backend_trusted_headers[] = {
    NAME("x-original-url"), NAME("x-rewrite-url"),
    FAMILY("x-arr-"),
    NAME("x-forwarded-client-cert"), FAMILY("x-ssl-client-"), FAMILY("ssl-client-"), NAME("x-ssl-cert"),
    NAME("x-client-cert"), NAME("x-client-verify"), NAME("x-client-dn"),
    NAME("remote-user"), NAME("x-remote-user"), NAME("x-forwarded-user"), NAME("x-forwarded-email"),
    FAMILY("x-auth-request-"), FAMILY("x-ms-client-principal"),
    NAME("x-real-ip"), NAME("x-client-ip"), NAME("true-client-ip"), NAME("x-forwarded-server"),
    NAME("x-forwarded-port"), NAME("x-forwarded-prefix"), NAME("x-forwarded-ssl"), NAME("x-forwarded-scheme"),
    NAME("front-end-https"),
    { NULL, 0, false },
};
#undef NAME
#undef FAMILY

bool cg_http_backend_trusted_header(cg_slice name)
{
    /* Every name of the table starts with one of these letters (the unit
     * test holds the table to it): most headers are decided by their first
     * byte instead of a walk over the whole table. */
    if (name.n == 0)
        return false;
    switch (cg_ascii_lower((unsigned char)name.p[0])) {
    case 'f': case 'r': case 's': case 't': case 'x': break;
    default: return false;
    }
    for (const cg_trusted_header *t = cg_http_backend_trusted_headers; t->name; t++)
        if (t->family ? has_prefix(name, t->name, t->len) : cg_header_name_is(name, t->name, t->len))
            return true;
    return false;
}

static bool listed(cg_slice name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cg_header_name_is(name, list[i], strlen(list[i])))
            return true;
    return false;
}

bool cg_http_request_header_stripped(cg_slice name, const cg_header_policy *p)
{
    if (cg_http_request_header_dropped(name))
        return true;
    if (cg_http_backend_trusted_header(name))
        return !p || !listed(name, p->keep, p->nkeep);
    return p && listed(name, p->strip, p->nstrip);
}
