/* Is a backend's 400/413/431 a refusal of the token's size (token_size.h). */
#include "token_size.h"

bool cg_token_too_large(const cg_token_answer *a, cg_refusal *out)
{
    if (!a->auth_header_bytes)
        return false;
    if (a->status != 431 && !((a->status == 400 || a->status == 413) && a->closes))
        return false;
    size_t rest = a->head_bytes > a->auth_header_bytes ? a->head_bytes - a->auth_header_bytes : 0;
    cg_refuse(out, CG_REFUSE_TOKEN_TOO_LARGE,
              "Backend \"%s\" (%s) answered %d%s to a request head of %zu bytes whose Authorization header (the "
              "Kerberos token for %s) is %zu bytes: the token is too large for the backend (tickets grow with the "
              "user's group memberships). Raise the backend's limits above %zu bytes for one header and %zu for the "
              "head: IIS/http.sys MaxFieldLength and MaxRequestBytes (HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP"
              "\\Parameters, e.g. 65534 and 16777216, then restart http.sys); Apache LimitRequestFieldSize (default "
              "8190); nginx large_client_header_buffers; or reduce the user's groups%s",
              a->backend ? a->backend : "?", a->url ? a->url : "?", a->status,
              a->closes ? " and closed the connection" : "", a->head_bytes, a->principal ? a->principal : "the user",
              a->auth_header_bytes, a->auth_header_bytes, a->head_bytes,
              rest > a->auth_header_bytes ? " (the rest of the head, cookies included, is larger still: look there "
                                            "too)" : "");
    return true;
}
