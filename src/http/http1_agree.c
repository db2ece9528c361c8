/* http-parser over the same head, and the check that it agrees (http1_agree.h). */
#include "http1_agree.h"

static inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

static cg_refusal_kind head_bad(bool is_response)
{
    return is_response ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_BAD_REQUEST;
}

static const char *msg_noun(bool is_response) { return is_response ? "backend response" : "request"; }

/* Whether http-parser's view of a value [vstart, mark) is ours, modulo the
 * trailing whitespace it keeps. */
static bool value_agrees(const cg_http_agree *a)
{
    cg_slice ours = a->hdrs[a->idx].value;
    const char *start = a->last == CG_AGREE_VALUE ? a->vstart : NULL;
    const char *end = a->last == CG_AGREE_VALUE ? a->mark : NULL;
    if (ours.n == 0) {
        for (const char *p = start; p && p < end; p++)
            if (!is_ows(*p))
                return false;
        return true;
    }
    if (start != ours.p || end < ours.p + ours.n)
        return false;
    for (const char *p = ours.p + ours.n; p < end; p++)
        if (!is_ows(*p))
            return false;
    return true;
}

/* Closes the current field when a callback for something else arrives. */
static void finish_field(cg_http_agree *a)
{
    if (a->last == CG_AGREE_NONE)
        return;
    const cg_http_header *h = &a->hdrs[a->idx];
    if (a->last == CG_AGREE_FIELD && a->mark != h->name.p + h->name.n)
        a->disagree = true;
    if (!value_agrees(a))
        a->disagree = true;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    cg_http_agree *a = p->data;
    /* All head bytes are in one buffer, so pieces are adjacent. */
    if (!a->url.p)
        a->url = (cg_slice){ at, n };
    else if (at == a->url.p + a->url.n)
        a->url.n += n;
    else
        a->disagree = true;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    cg_http_agree *a = p->data;
    if (a->last == CG_AGREE_FIELD) {
        if (at != a->mark)
            a->disagree = true;
        a->mark = at + n;
        return 0;
    }
    finish_field(a);
    a->idx = a->last == CG_AGREE_NONE ? 0 : a->idx + 1;
    a->last = CG_AGREE_FIELD;
    if (a->idx >= a->n || at != a->hdrs[a->idx].name.p) {
        a->disagree = true;
        return 1; /* stop: nothing after this can be trusted */
    }
    a->mark = at + n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    cg_http_agree *a = p->data;
    if (a->last == CG_AGREE_VALUE) {
        if (at != a->mark && n)
            a->disagree = true;
        a->mark = at + n;
        return 0;
    }
    if (a->last != CG_AGREE_FIELD) {
        a->disagree = true;
        return 1;
    }
    const cg_http_header *h = &a->hdrs[a->idx];
    if (a->mark != h->name.p + h->name.n)
        a->disagree = true;
    a->last = CG_AGREE_VALUE;
    a->vstart = at;
    a->mark = at + n;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    cg_http_agree *a = p->data;
    finish_field(a);
    size_t seen = a->last == CG_AGREE_NONE ? 0 : a->idx + 1;
    if (seen != a->n)
        a->disagree = true;
    a->headers_done = true;
    return a->skip_body;
}

static int on_message_complete(http_parser *p)
{
    cg_http_agree *a = p->data;
    a->message_complete = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    /* The head bytes end with CRLF CRLF: no body can be among them. */
    (void)at;
    (void)n;
    cg_http_agree *a = p->data;
    a->disagree = true;
    return 1;
}

static const http_parser_settings agree_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Executes p over the head. On return p is positioned at the body and
 * p->data is NULL (the caller installs its own). */
bool cg_http_agree_run(http_parser *p, cg_http_agree *a, const char *head, size_t head_len, bool is_response,
                       cg_refusal *why)
{
    p->data = a;
    size_t done = http_parser_execute(p, &agree_settings, head, head_len);
    p->data = NULL;
    enum http_errno err = HTTP_PARSER_ERRNO(p);

    if (a->disagree) {
        cg_refuse(why, head_bad(is_response),
                  "%s head is ambiguous: http-parser splits its header fields differently "
                  "from certgate's own checks", msg_noun(is_response));
        return false;
    }
    if (err != HPE_OK) {
        cg_refuse(why, head_bad(is_response), "%s rejected by the HTTP parser: %s (%s)", msg_noun(is_response),
                  http_errno_description(err), http_errno_name(err));
        return false;
    }
    if (done != head_len || !a->headers_done) {
        cg_refuse(why, head_bad(is_response), "%s head was not fully parsed (%zu of %zu bytes)",
                  msg_noun(is_response), done, head_len);
        return false;
    }
    return true;
}

/* The framing http-parser is now set up for must be ours; otherwise the body
 * the caller forwards would be delimited differently from what the head we
 * forward announces. */
bool cg_http_agree_framing(const http_parser *p, const cg_http_agree *a, bool is_response, cg_body_kind body,
                           uint64_t length, cg_refusal *why)
{
    bool ok;
    switch (body) {
    case CG_BODY_NONE:
        ok = a->message_complete;
        break;
    case CG_BODY_LENGTH:
        ok = !(p->flags & F_CHUNKED) &&
             (length == 0 ? a->message_complete : (!a->message_complete && p->content_length == length));
        break;
    case CG_BODY_CHUNKED:
        ok = (p->flags & F_CHUNKED) && !a->message_complete;
        break;
    case CG_BODY_UNTIL_CLOSE:
    default:
        ok = !(p->flags & F_CHUNKED) && !a->message_complete && p->content_length == UINT64_MAX;
        break;
    }
    if (!ok)
        cg_refuse(why, head_bad(is_response),
                  "%s framing is ambiguous: http-parser and certgate disagree about where its body ends",
                  msg_noun(is_response));
    return ok;
}
