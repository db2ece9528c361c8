/* Header names certgate treats on their own (see header_names.h).
 */
#include "header_names.h"

#include <string.h>

/* (cg_header_name_class's first look; the exact names are in the header.) */
#define L(n) (1u << (n))
#define FROM(n) (~0u << (n)) /* a family: its prefix's length and longer */
const uint32_t cg_header_name_lengths[32] = {
    ['a' & 31] = L(13),                               /* authorization */
    ['c' & 31] = L(10) | L(11) | L(14) | L(17),       /* connection, client-cert, content-length, -chain */
    ['e' & 31] = L(6),                                /* expect */
    ['f' & 31] = L(9) | L(15),                        /* forwarded, front-end-https */
    ['h' & 31] = L(4),                                /* host */
    ['k' & 31] = L(10),                               /* keep-alive */
    ['p' & 31] = L(16) | L(18) | L(19),               /* proxy-connection, -authenticate, -authorization */
    ['r' & 31] = L(11),                               /* remote-user */
    ['s' & 31] = FROM(11),                            /* ssl-client-* */
    ['t' & 31] = L(2) | L(7) | L(14) | L(17),         /* te, trailer, true-client-ip, transfer-encoding */
    ['u' & 31] = L(7),                                /* upgrade */
    ['w' & 31] = L(16),                               /* www-authenticate */
    ['x' & 31] = FROM(6),                             /* x-arr-* is the shortest */
};
#undef L
#undef FROM

bool cg_http_request_header_dropped(cg_slice name)
{
    return cg_header_name_class(name, CG_HEADER_DROPPED) != 0;
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
        if (t->family ? cg_header_name_starts(name, t->name, t->len) : cg_header_name_is(name, t->name, t->len))
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

bool cg_http_request_header_stripped_as(cg_slice name, unsigned cls, const cg_header_policy *p)
{
    if (cls & CG_HEADER_DROPPED)
        return true;
    if (cls & CG_HEADER_TRUSTED)
        return !p || !listed(name, p->keep, p->nkeep);
    return p && listed(name, p->strip, p->nstrip);
}

bool cg_http_request_header_stripped(cg_slice name, const cg_header_policy *p)
{
    return cg_http_request_header_stripped_as(
        name, cg_header_name_class(name, CG_HEADER_DROPPED | CG_HEADER_TRUSTED), p);
}
