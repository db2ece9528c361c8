#include "retry.h"

#include <string.h>
#include <strings.h>

static bool is(cg_slice m, const char *name)
{
    size_t n = strlen(name);
    return m.n == n && memcmp(m.p, name, n) == 0;
}

bool cg_retry_method_safe(cg_slice m)
{
    return is(m, "GET") || is(m, "HEAD") || is(m, "OPTIONS") || is(m, "TRACE");
}

cg_retry_verdict cg_retry_after_lost_connection(const cg_retry_facts *f)
{
    if (f->retried || !f->reused || f->response_started || f->has_body || !f->request_sent)
        return CG_RETRY_NO;
    return cg_retry_method_safe(f->method) ? CG_RETRY_AGAIN : CG_RETRY_NOT_SAFE;
}

bool cg_retry_after_401(const cg_retry_401_facts *f)
{
    if (!f->delegates || f->retried || !f->replayable || !f->request_sent)
        return false;
    if (f->sent_token)
        return true;
    const cg_http_header *h = cg_http_find_header(f->res->headers, f->res->nheaders, "WWW-Authenticate");
    return h && h->value.n >= 9 && strncasecmp(h->value.p, "Negotiate", 9) == 0;
}

void cg_retry_keep_body(cg_buf *copy, bool *keep, const void *p, size_t n, size_t max)
{
    if (!*keep)
        return;
    if (copy->len + n > max || !cg_buf_append(copy, p, n)) {
        *keep = false; /* too big to replay: a 401 then goes to the client */
        cg_buf_free(copy);
    }
}
