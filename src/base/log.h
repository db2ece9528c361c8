/* Structured logging: one line per event, logfmt or JSON (logging.format;
 * log_format.h has the bytes of both):
 *   ts=2026-11-22T10:00:00.123Z level=info event=request id=... key=value ...
 *   {"ts":"2026-11-22T10:00:00.123Z","level":"info","event":"request","id":"...",...}
 * On stderr connected to the journal ($JOURNAL_STREAM names stderr's
 * device and inode), each line starts with its syslog priority ("<6>",
 * sd-daemon(3)) and has no ts field: journald stamps each line itself.
 * Lines are appended to an in-memory queue and written by a background
 * thread, so event loops never wait for the disk. If the queue is full
 * (the disk is slower than the traffic) lines are dropped and counted, and
 * the count is logged when there is room again.
 */
#ifndef CG_LOG_H
#define CG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CG_LOG_DEBUG, CG_LOG_INFO, CG_LOG_WARN, CG_LOG_ERROR } cg_log_level;
typedef enum { CG_LOG_LOGFMT, CG_LOG_JSON } cg_log_format; /* the line format (log_format.h) */

/* file NULL = stderr. Returns false (errno set) if the file can't be opened. */
bool cg_log_open(const char *file, cg_log_level level);
/* Reopens the file (log rotation) and applies a new level; on failure the
 * old file stays in use. */
bool cg_log_reopen(const char *file, cg_log_level level);
/* The format of the lines logged from now on (default logfmt). */
void cg_log_set_format(cg_log_format format);
/* Flushes everything and stops the writer. */
void cg_log_close(void);

bool cg_log_enabled(cg_log_level level);

/* Logs one line: ts, level, event, then fields (already "key=value ..."
 * formatted; use cg_log_quote for values that may contain spaces or come
 * from clients). The fields are read back strictly and written again in
 * the configured format (cg_logline_fields: a key written as one numeric
 * conversion, "n=%zu", is a JSON number). A line longer than 16 KiB is cut
 * (log_format.h). */
void cg_log(cg_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Typed fields, for the events operators parse most (request, refused,
 * tls_handshake, reload, listening, shutdown): no printf, every string
 * through the one quoting function of the format.
 *   cg_log_fields(CG_LOG_INFO, "reload", CG_LF_STR("result", "ok"), CG_LF_UINT("warnings", n));
 * Arguments are evaluated only when the level is enabled. A NULL string is
 * written "-". */
typedef enum { CG_LOGF_STR, CG_LOGF_UINT, CG_LOGF_INT, CG_LOGF_BOOL, CG_LOGF_MS } cg_log_ftype;
typedef struct cg_log_field {
    const char *key;
    cg_log_ftype type;
    size_t n; /* STR: length of s, or CG_LOG_STRLEN */
    union {
        const char *s;
        uint64_t u;
        int64_t i;
        bool b;
        double d; /* MS: milliseconds, written with three decimals */
    } v;
} cg_log_field;
#define CG_LOG_STRLEN ((size_t)-1)
#define CG_LF_STR(k, x) ((cg_log_field){ .key = (k), .type = CG_LOGF_STR, .n = CG_LOG_STRLEN, .v.s = (x) })
#define CG_LF_STRN(k, x, len) ((cg_log_field){ .key = (k), .type = CG_LOGF_STR, .n = (len), .v.s = (x) })
#define CG_LF_UINT(k, x) ((cg_log_field){ .key = (k), .type = CG_LOGF_UINT, .v.u = (x) })
#define CG_LF_INT(k, x) ((cg_log_field){ .key = (k), .type = CG_LOGF_INT, .v.i = (x) })
#define CG_LF_BOOL(k, x) ((cg_log_field){ .key = (k), .type = CG_LOGF_BOOL, .v.b = (x) })
#define CG_LF_MS(k, x) ((cg_log_field){ .key = (k), .type = CG_LOGF_MS, .v.d = (x) })
void cg_log_kv(cg_log_level level, const char *event, const cg_log_field *fields, size_t n);
#define cg_log_fields(level, event, ...)                                                                          \
    do {                                                                                                           \
        if (cg_log_enabled(level)) {                                                                               \
            const cg_log_field cg_lf_[] = { __VA_ARGS__ };                                                        \
            cg_log_kv((level), (event), cg_lf_, sizeof cg_lf_ / sizeof cg_lf_[0]);                                 \
        }                                                                                                          \
    } while (0)

/* Whether fd is the journal stream named by journal_stream, the value of
 * $JOURNAL_STREAM ("<device>:<inode>" in decimal, systemd.exec(5)): fd's
 * device and inode are those. NULL, malformed or another file: false. */
bool cg_log_journald_stream(int fd, const char *journal_stream);

/* Writes s as a logfmt value into out (cg_logfmt_value): bare when it is
 * made of safe characters, otherwise in double quotes with \" \\ \n \t \r
 * \xNN escapes, so client-controlled text can never forge a field or a
 * line. n is the length of s (it may contain NUL). Returns out. */
char *cg_log_quote(char *out, size_t cap, const char *s, size_t n);

#define CG_LOG_DEBUG_ON() cg_log_enabled(CG_LOG_DEBUG)

#endif
