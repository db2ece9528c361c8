/* A backend that refuses the size of the Kerberos token certgate added: a
 * user in many groups carries a large PAC, and the Negotiate header grows
 * past the backend's header limits (IIS/http.sys MaxFieldLength and
 * MaxRequestBytes, Apache LimitRequestFieldSize, nginx
 * large_client_header_buffers). The backend then answers 400, 413 or 431,
 * which the user would see as a bare "Bad Request" from the application.
 *
 * Pure: the response path (http_response.c) passes what it knows and sends
 * the refusal instead of the backend's answer when this says so.
 */
#ifndef CG_TOKEN_SIZE_H
#define CG_TOKEN_SIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

typedef struct cg_token_answer {
    int status;               /* the backend's status */
    bool closes;              /* the backend closes the connection after it */
    size_t auth_header_bytes; /* the "Authorization: Negotiate ...\r\n" line certgate sent; 0: none */
    size_t head_bytes;        /* the whole request head certgate sent */
    const char *backend, *url, *principal;
} cg_token_answer;

/* True, with the refusal in out, when the answer refuses the token's size:
 * a 431 to a request that carried a token, or a 400/413 that also closes the
 * connection (a protocol-level refusal of the head, as http.sys and Apache
 * send it; an application's own 400 keeps the connection and is passed on). */
bool cg_token_too_large(const cg_token_answer *a, cg_refusal *out);

#endif
