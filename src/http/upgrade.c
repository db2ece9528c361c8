/* Which upgrades pass, and which 101s are the answer to one (upgrade.h). */
#include "upgrade.h"

#include <string.h>

static size_t count_named(const cg_http_header *h, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += cg_slice_ieq(h[i].name, name);
    return c;
}

/* "websocket" allows "websocket" and "websocket/13"; "x/1" allows only itself. */
static bool route_allows(const cg_route *r, cg_slice proto)
{
    for (size_t i = 0; i < r->nupgrade; i++) {
        const char *a = r->upgrade[i];
        size_t an = strlen(a);
        if (proto.n == an && cg_ascii_ieq(proto.p, a, an))
            return true;
        if (!strchr(a, '/') && proto.n > an && proto.p[an] == '/' && cg_ascii_ieq(proto.p, a, an))
            return true;
    }
    return false;
}

cg_upgrade_verdict cg_upgrade_offer(const cg_http_request *req, const cg_route *r, char out[CG_UPGRADE_OFFER_MAX],
                                    const char **why_not)
{
    out[0] = '\0';
    size_t count = count_named(req->headers, req->nheaders, "upgrade");
    if (count == 0)
        return CG_UPGRADE_NONE;
    *why_not = NULL;
    const cg_http_header *up = cg_http_find_header(req->headers, req->nheaders, "upgrade");
    if (!r || r->nupgrade == 0)
        *why_not = "the route allows no upgrade (routes[].upgrade)";
    else if (!cg_slice_ieq(req->method, "GET"))
        *why_not = "only a GET may ask for an upgrade";
    else if (req->version_minor < 1)
        *why_not = "HTTP/1.0 has no upgrades";
    else if (req->body != CG_BODY_NONE)
        *why_not = "a request with a body may not ask for an upgrade";
    else if (!cg_http_list_has_token(req->headers, req->nheaders, "connection", "upgrade"))
        *why_not = "Connection does not list \"upgrade\"";
    else if (count > 1)
        *why_not = "several Upgrade headers";
    else if (up->value.n >= CG_UPGRADE_OFFER_MAX)
        *why_not = "the Upgrade header is too long";
    if (!*why_not) {
        cg_slice rest = up->value, tok;
        size_t ntok = 0;
        while (!*why_not && cg_http_next_list_token(&rest, &tok)) {
            ntok++;
            if (!route_allows(r, tok))
                *why_not = "it lists a protocol the route does not allow (routes[].upgrade)";
        }
        if (!*why_not && ntok == 0)
            *why_not = "the Upgrade header is empty";
    }
    if (*why_not)
        return CG_UPGRADE_STRIPPED;
    cg_slice_copy(out, CG_UPGRADE_OFFER_MAX, up->value);
    return CG_UPGRADE_OFFERED;
}

bool cg_upgrade_accepted(const char *offered, const cg_http_header *h, size_t n, cg_slice *protocol)
{
    if (!offered[0] || count_named(h, n, "upgrade") != 1 || !cg_http_list_has_token(h, n, "connection", "upgrade"))
        return false;
    cg_slice rest = cg_http_find_header(h, n, "upgrade")->value, tok, chosen = { NULL, 0 };
    size_t ntok = 0;
    while (cg_http_next_list_token(&rest, &tok)) {
        chosen = tok;
        ntok++;
    }
    if (ntok != 1)
        return false;
    rest = (cg_slice){ offered, strlen(offered) };
    while (cg_http_next_list_token(&rest, &tok)) {
        if (tok.n == chosen.n && cg_ascii_ieq(tok.p, chosen.p, tok.n)) {
            *protocol = chosen;
            return true;
        }
    }
    return false;
}
