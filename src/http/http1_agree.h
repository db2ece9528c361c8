/* Private to http1.c (the third step of its parse, see there): for a chunked
 * message, http-parser parses the very head certgate's own rules accepted,
 * because the caller continues with it for the body (it decodes the chunks). Its callbacks only verify that it sees the
 * same field boundaries, and the framing it decided must be ours; any
 * disagreement is a refusal.
 */
#ifndef CG_HTTP1_AGREE_H
#define CG_HTTP1_AGREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "http1.h"

enum { CG_AGREE_NONE, CG_AGREE_FIELD, CG_AGREE_VALUE };

typedef struct cg_http_agree {
    const cg_http_header *hdrs;
    size_t n;
    size_t idx;          /* index of the current field (once last != CG_AGREE_NONE) */
    int last;            /* CB_* */
    const char *mark;    /* end of the field name / value seen so far */
    const char *vstart;  /* start of the value seen so far */
    cg_slice url;        /* the request target as http-parser saw it */
    int skip_body;       /* on_headers_complete's answer */
    bool headers_done;
    bool disagree;
    bool message_complete;
} cg_http_agree;

/* Executes p (initialized) over head[0..head_len), whose fields certgate's
 * tokenizer found in a->hdrs. On return p is positioned at the body and
 * p->data is NULL (the caller installs its own). */
bool cg_http_agree_run(http_parser *p, cg_http_agree *a, const char *head, size_t head_len, bool is_response,
                       cg_refusal *why);

/* The framing http-parser is now set up for must be ours (body, length). */
bool cg_http_agree_framing(const http_parser *p, const cg_http_agree *a, bool is_response, cg_body_kind body,
                           uint64_t length, cg_refusal *why);

#endif
