/* The bytes of one log line, in either format (logging.format):
 *
 *   logfmt  ts=2026-11-22T10:00:00.123Z level=info event=request id=... key=value ...
 *   json    {"ts":"2026-11-22T10:00:00.123Z","level":"info","event":"request","id":"...",...}
 *
 * Same keys in the same order in both. Every value goes through one writer
 * per format (cg_logline_str and friends), so no client byte can forge a
 * field or a line:
 *   - logfmt: bare when made of safe characters, otherwise in double quotes
 *     with \" \\ \n \t \r and \xNN (other control bytes, and bytes that are
 *     not part of valid UTF-8); an empty value is "".
 *   - JSON: \" \\ \n \t \r, \u00XX for the other control characters, and
 *     U+FFFD (\ufffd) for each byte that is not part of valid UTF-8.
 * A line never exceeds the buffer it is built in: a value that does not fit
 * is cut and ends in "...", later fields are left out, and the line ends
 * with truncated=true, still one well-formed line.
 *
 * cg_logline_fields() reads back the "key=value ..." text that printf-style
 * call sites (cg_log) produce and writes it again through the same writers:
 * strictly (cg_logfmt_next), so that a malformed value cannot break the line
 * in either format. Pure functions; no I/O, no allocation, no locks.
 */
#ifndef CG_LOG_FORMAT_H
#define CG_LOG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "log.h"

typedef struct cg_logline {
    char *p;
    size_t len, cap;    /* cap includes the room kept for the end of the line */
    cg_log_format format;
    bool cut;           /* something was cut or left out */
} cg_logline;

/* Starts a line in out[0..cap) (cap >= 256). prio >= 0: the journald
 * priority prefix "<prio>" (sd-daemon(3)). ts NULL: no ts field. */
void cg_logline_begin(cg_logline *l, char *out, size_t cap, cg_log_format format, int prio, const char *ts,
                      const char *level, const char *event);
/* One field. key: [A-Za-z0-9_] (anything else is replaced by '_'). */
void cg_logline_str(cg_logline *l, const char *key, const char *s, size_t n);
void cg_logline_uint(cg_logline *l, const char *key, uint64_t v);
void cg_logline_int(cg_logline *l, const char *key, int64_t v);
void cg_logline_bool(cg_logline *l, const char *key, bool v);
/* v >= 0 with three decimals (milliseconds). */
void cg_logline_fixed3(cg_logline *l, const char *key, double v);
/* The fields of text[0..n) ("k=v k=\"v\" ..."), read with cg_logfmt_next.
 * fmt: the printf format text came from, or NULL: a key written there as
 * exactly one integer or floating conversion ("ms=%.3f") is a number in
 * JSON when its value reads as one. Text that does not read as fields
 * (a bare value with a space, a quote inside a bare value, a bad escape)
 * is kept whole, from that point on, as the string field "unparsed".
 * Quoted values are decoded in place: text is overwritten. */
void cg_logline_fields(cg_logline *l, char *text, size_t n, const char *fmt);
/* Ends the line with "\n" (after truncated=true if l->cut); returns its length. */
size_t cg_logline_end(cg_logline *l);

/* Reading logfmt, strictly: fields separated by spaces, key = [A-Za-z0-9_.-]+,
 * value bare (bytes above 0x20 other than '"') or quoted ('"', printable
 * bytes and UTF-8, the escapes \" \\ \n \t \r \xNN, '"'). */
typedef struct cg_logfmt_reader {
    const char *p, *end;
} cg_logfmt_reader;
typedef enum { CG_LOGFMT_END, CG_LOGFMT_FIELD, CG_LOGFMT_BAD } cg_logfmt_tok;
/* The next field: key, and its value as written (quotes included when
 * *quoted). CG_LOGFMT_BAD leaves r->p at the start of the bad field. */
cg_logfmt_tok cg_logfmt_next(cg_logfmt_reader *r, cg_slice *key, cg_slice *value, bool *quoted);
/* Decodes a quoted value (with its quotes) into out[0..cap); returns the
 * length (cut at cap). out may be quoted.p (decoding in place). */
size_t cg_logfmt_unquote(cg_slice quoted, char *out, size_t cap);

/* s as one logfmt value (bare or quoted, see above) into out[0..cap);
 * returns its length. Cut values end in "..." (inside the quotes; a bare
 * value stays bare); with no room for a character, "". */
size_t cg_logfmt_value(char *out, size_t cap, const char *s, size_t n);

/* The request target t[0..n) with its query redacted (logging.log_query:
 * false): the path as it is, then for each '&'-separated parameter its name
 * and "=[redacted]" (an empty value stays empty); a parameter without '=',
 * or whose name is longer than 32 bytes, becomes "[redacted]" whole.
 * "/a?user=bob&x=&flag" -> "/a?user=[redacted]&x=&[redacted]".
 * Into out[0..cap) (NUL-terminated, cut with "..."); returns the length. */
size_t cg_log_redact_query(char *out, size_t cap, const char *t, size_t n);

#endif
