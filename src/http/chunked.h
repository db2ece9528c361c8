/* Strict chunked framing (RFC 9112 7.1), in both directions: request bodies
 * from clients and response bodies from backends.
 *
 * http-parser decodes the bodies, but Debian's build (without
 * HTTP_PARSER_STRICT) takes any byte for the LF that ends a chunk-size line,
 * any two bytes for the CRLF after chunk data and for the end of the trailer
 * section. A message that certgate frames one way and another parser on the
 * path frames another way is how requests are smuggled. So every body byte
 * is first checked here, and http-parser only ever sees the well-formed
 * prefix: a framing error stops the body right where it is (400 for a
 * client, 502 for a backend), nothing after it is forwarded.
 *
 * Accepted: chunk-size = 1*16HEXDIG, then optional whitespace and chunk
 * extensions (';' ... up to CRLF, no control characters but HTAB), CRLF;
 * chunk data; CRLF; ...; last-chunk "0" (same line rules); trailer fields
 * (lines of visible characters, not starting with whitespace) each ending in
 * CRLF; CRLF. A chunk-size or trailer line longer than CG_CHUNKED_MAX_LINE is
 * refused.
 */
#ifndef CG_CHUNKED_H
#define CG_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#define CG_CHUNKED_MAX_LINE 4096

typedef struct cg_chunked {
    uint8_t state;
    uint8_t digits;    /* hex digits of the chunk size so far */
    uint32_t line;     /* bytes of the current size or trailer line */
    uint64_t left;     /* chunk data bytes still to come (or the size being read) */
} cg_chunked;
#define CG_CHUNKED_INIT ((cg_chunked){ 0 })

/* Checks buf[0..len) as the continuation of a chunked body whose state is
 * *ck, and advances *ck over the bytes it accepts. Returns how many were
 * accepted: len, or fewer when the body ended (the final CRLF; then *what is
 * NULL and what follows is not this body's) or at the first byte that breaks
 * the framing (then *what says why, a phrase for a refusal sentence). */
size_t cg_chunked_scan(cg_chunked *ck, const char *buf, size_t len, const char **what);

/* True once the final CRLF has been accepted. */
bool cg_chunked_done(const cg_chunked *ck);

/* http_parser_execute(p, s, buf, len), except that when ck is not NULL
 * (a chunked body) the parser sees only the prefix cg_chunked_scan
 * accepts, and *ck follows the bytes the parser consumed. Returns the bytes
 * consumed. *what is set (the parser stopped at a framing error it would
 * have accepted) or NULL. Never calls the parser with zero bytes (that
 * would mean end of input to it). */
size_t cg_chunked_execute(cg_chunked *ck, http_parser *p, const http_parser_settings *s, const char *buf,
                          size_t len, const char **what);

#endif
