#include "retry.h"

#include <string.h>

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
