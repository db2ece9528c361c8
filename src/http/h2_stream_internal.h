/* What the two halves of an HTTP/2 stream share: h2_stream.c (request,
 * pipeline, refusal pages) and h2_backend.c (the backend exchange). Not an
 * API: only these two include it.
 */
#ifndef CG_H2_STREAM_INTERNAL_H
#define CG_H2_STREAM_INTERNAL_H

#include "h2_conn.h"
#include "h2_stream.h"

static inline cg_h2_session *session_of(const cg_h2_stream *st) { return cg_h2_session_of(st->c); }
static inline const cg_backend_cfg *backend_of(const cg_h2_stream *st) { return &st->cfg->backends[st->backend]; }
static inline const cg_listener_cfg *listener_of(const cg_h2_stream *st)
{
    return &st->cfg->listeners[st->c->listener];
}

/* Field slots of a stream's request (and of its response): max_headers
 * plus the pseudo-header fields. */
static inline size_t cg_h2_field_slots(const cg_config *cfg) { return (size_t)cfg->limits.max_headers + 4; }

/* h2_stream.c */
/* The refusal page for the stream (the same status, codes and words as
 * HTTP/1.1's); a stream whose response began is reset instead. */
void cg_h2_refuse(cg_h2_stream *st, const cg_refusal *why);
/* Hands the backend connection back (reusable: to the pool). */
void cg_h2_drop_backend(cg_h2_stream *st, bool reusable);

/* h2_backend.c */
/* Builds the backend head (with Authorization: Negotiate when token) and
 * connects; the exchange runs from there. */
void cg_h2_forward(cg_h2_stream *st, const char *token);

#endif
