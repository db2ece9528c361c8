/* Where a message body ends, and its bytes handed to the caller's
 * http_parser_settings callbacks.
 *
 * certgate frames every body itself (http1.c decides NONE, LENGTH, CHUNKED
 * or UNTIL_CLOSE from the head). A Content-Length body is counted here and
 * a body that ends with the connection is passed through until EOF:
 * http-parser never sees those heads or bodies. Only a chunked body goes
 * through http-parser (which decodes it), behind chunked.c's strict framing
 * check, exactly as cg_chunked_execute does.
 *
 * The contract is http_parser_execute's, so that the callers drive both the
 * same way: s->on_body and s->on_message_complete are called with p (p->data
 * is the caller's); a callback returning non-zero sets HPE_CB_body /
 * HPE_CB_message_complete; a paused parser (http_parser_pause, HPE_PAUSED)
 * consumes nothing; when on_body pauses or fails on a body's last bytes, the
 * last byte is left unconsumed and the completion comes with it once the
 * caller resumes and feeds it again; nothing after the end of the message is
 * consumed (the next message's bytes, or not ours).
 */
#ifndef CG_BODY_FRAMING_H
#define CG_BODY_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "chunked.h"
#include "http1.h"

typedef struct cg_body_framing {
    cg_body_kind kind;
    bool done;         /* on_message_complete was called (or there is no body) */
    uint64_t left;     /* LENGTH: body bytes still to come */
    cg_chunked chunks; /* CHUNKED: the strict framing state */
} cg_body_framing;

/* The framing of a body as the parsed head announced it: kind and, for
 * CG_BODY_LENGTH, content_length. A NONE or zero-length body is complete at
 * once (the head parse reported message_complete). */
void cg_body_framing_start(cg_body_framing *f, cg_body_kind kind, uint64_t content_length);

/* Feeds buf[0..len) of the body: returns the bytes consumed, as
 * http_parser_execute does (see above). *what is set when a chunked body
 * breaks the strict framing (a phrase for a refusal sentence), else NULL.
 * A body that is complete consumes nothing. */
size_t cg_body_framing_execute(cg_body_framing *f, http_parser *p, const http_parser_settings *s,
                               const char *buf, size_t len, const char **what);

/* The connection ended. An UNTIL_CLOSE body is complete now
 * (on_message_complete; not while p is paused or failed); a LENGTH or
 * chunked body that has not ended is cut short: HPE_INVALID_EOF_STATE.
 * Returns whether the message is complete. */
bool cg_body_framing_eof(cg_body_framing *f, http_parser *p, const http_parser_settings *s);

#endif
