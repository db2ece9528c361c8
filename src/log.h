/* Structured logging: one logfmt line per event,
 *   ts=2026-11-22T10:00:00.123Z level=info event=request id=... key=value ...
 * Lines are appended to an in-memory queue and written by a background
 * thread, so event loops never wait for the disk. If the queue is full
 * (the disk is slower than the traffic) lines are dropped and counted, and
 * the count is logged when there is room again.
 */
#ifndef CG_LOG_H
#define CG_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* file NULL = stderr. Returns false (errno set) if the file can't be opened. */
bool cg_log_open(const char *file, cg_log_level level);
/* Reopens the file (log rotation) and applies a new level; on failure the
 * old file stays in use. */
bool cg_log_reopen(const char *file, cg_log_level level);
/* Flushes everything and stops the writer. */
void cg_log_close(void);

bool cg_log_enabled(cg_log_level level);

/* Logs one line: ts, level, event, then fields (already "key=value ..."
 * formatted; use cg_log_quote for values that may contain spaces or come
 * from clients). A line longer than 16 KiB is cut and ends in "...". */
void cg_log(cg_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes s as a logfmt value into out: bare when it is made of safe
 * characters, otherwise in double quotes with \" \\ \n \t \xNN escapes, so
 * client-controlled text can never forge a field or a line. n is the
 * length of s (it may contain NUL). Returns out. */
char *cg_log_quote(char *out, size_t cap, const char *s, size_t n);

#define CG_LOG_DEBUG_ON() cg_log_enabled(CG_LOG_DEBUG)

#endif
