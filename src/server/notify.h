/* systemd's service notification protocol (sd_notify(3)), written out
 * without libsystemd: one datagram per message to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 *
 * Used by the main thread only. Sends never block: the socket is
 * non-blocking and a message the receiver has no room for is dropped (and
 * logged once); systemd's socket is never full in practice.
 */
#ifndef CG_NOTIFY_H
#define CG_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and removes them
 * from the environment (certgate starts no children; nothing else should
 * answer for this process). Call before any thread starts: it changes the
 * environment. Returns false with err set when $NOTIFY_SOCKET is set but
 * unusable (notifications are then off); true otherwise. */
bool cg_notify_init(char *err, size_t errcap);

/* Whether $NOTIFY_SOCKET named a usable socket. */
bool cg_notify_enabled(void);

/* The watchdog interval systemd asked for, in microseconds, or 0: unset,
 * unparsable, or meant for another process ($WATCHDOG_PID). */
uint64_t cg_notify_watchdog_usec(void);

/* Sends "KEY=value\n..." as one datagram (a no-op when notifications are
 * off). Newlines inside a STATUS= text must be avoided by the caller
 * (cg_notify_status_text). Returns whether the datagram was sent. */
bool cg_notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The messages certgate sends. status is one line of free text. */
void cg_notify_ready(const char *status);      /* READY=1, MAINPID=, STATUS= */
void cg_notify_reloading(void);                 /* RELOADING=1, MONOTONIC_USEC= */
void cg_notify_stopping(const char *status);   /* STOPPING=1, STATUS= */
void cg_notify_watchdog(void);                  /* WATCHDOG=1 */

/* Copies text into out as one line (control characters become spaces). */
void cg_notify_status_text(char *out, size_t cap, const char *text);

/* Turns a $NOTIFY_SOCKET value into a struct sockaddr_un and its length:
 * "/path" (NUL-terminated in the address) or "@name" (abstract: a leading
 * NUL, no terminator). Returns false with err set for anything else or a
 * name too long for sun_path. */
bool cg_notify_parse_address(const char *value, void *sockaddr_un_out, unsigned *len_out, char *err,
                             size_t errcap);

#endif
