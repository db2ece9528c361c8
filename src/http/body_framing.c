#include "body_framing.h"

void cg_body_framing_start(cg_body_framing *f, cg_body_kind kind, uint64_t content_length)
{
    *f = (cg_body_framing){ .kind = kind, .chunks = CG_CHUNKED_INIT };
    f->left = kind == CG_BODY_LENGTH ? content_length : 0;
    f->done = kind == CG_BODY_NONE || (kind == CG_BODY_LENGTH && content_length == 0);
}

static size_t complete(cg_body_framing *f, http_parser *p, const http_parser_settings *s, size_t consumed)
{
    f->done = true;
    if (s->on_message_complete && s->on_message_complete(p) != 0)
        p->http_errno = HPE_CB_message_complete;
    return consumed;
}

size_t cg_body_framing_execute(cg_body_framing *f, http_parser *p, const http_parser_settings *s,
                               const char *buf, size_t len, const char **what)
{
    *what = NULL;
    if (f->kind == CG_BODY_CHUNKED) {
        size_t n = cg_chunked_execute(&f->chunks, p, s, buf, len, what);
        f->done = cg_chunked_done(&f->chunks); /* the final CRLF went through http-parser */
        return n;
    }
    if (f->done || len == 0 || HTTP_PARSER_ERRNO(p) != HPE_OK)
        return 0;
    if (f->kind == CG_BODY_LENGTH && f->left == 0) /* the byte held back below */
        return complete(f, p, s, 1);
    size_t n = len;
    if (f->kind == CG_BODY_LENGTH && f->left < n)
        n = (size_t)f->left;
    if (f->kind == CG_BODY_LENGTH)
        f->left -= n;
    if (s->on_body && s->on_body(p, buf, n) != 0)
        p->http_errno = HPE_CB_body;
    if (f->kind != CG_BODY_LENGTH || f->left > 0)
        return n;
    if (HTTP_PARSER_ERRNO(p) != HPE_OK)
        return n - 1; /* paused (or failed) on the last bytes: the completion comes with the last one */
    return complete(f, p, s, n);
}

bool cg_body_framing_eof(cg_body_framing *f, http_parser *p, const http_parser_settings *s)
{
    if (f->done)
        return true;
    if (HTTP_PARSER_ERRNO(p) != HPE_OK)
        return false;
    if (f->kind != CG_BODY_UNTIL_CLOSE) {
        p->http_errno = HPE_INVALID_EOF_STATE;
        return false;
    }
    complete(f, p, s, 0);
    return HTTP_PARSER_ERRNO(p) == HPE_OK || HTTP_PARSER_ERRNO(p) == HPE_PAUSED;
}
