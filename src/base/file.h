/* Reading a whole file, bounded: the one reader behind the configuration,
 * the mapping files, certificate files, CRL files, error page templates and
 * session-ticket key files. Each caller words its own message from what
 * failed (cg_file_error): the messages stay the caller's. Blocking: called
 * at load time and on the thread pool, never on a loop.
 * (Future wing: src/base/.)
 */
#ifndef CG_FILE_H
#define CG_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef enum cg_file_fail {
    CG_FILE_OK,
    CG_FILE_OPEN,        /* open failed (err) */
    CG_FILE_STAT,        /* fstat failed (err); CG_FILE_REGULAR only */
    CG_FILE_NOT_REGULAR, /* a directory, FIFO, device...; CG_FILE_REGULAR only */
    CG_FILE_TOO_LARGE,   /* its size (size) is over max, seen before reading; CG_FILE_REGULAR only */
    CG_FILE_OVER_MAX,    /* more than max bytes came (a stream, or a file that grew) */
    CG_FILE_NOMEM,
    CG_FILE_READ,        /* read failed (err) */
} cg_file_fail;

typedef struct cg_file_error {
    cg_file_fail fail;
    int err;       /* errno of OPEN, STAT and READ */
    uint64_t size; /* TOO_LARGE: the file's size */
} cg_file_error;

/* Only a regular file; opened O_NONBLOCK so that a FIFO never hangs the load. */
#define CG_FILE_REGULAR 1u
/* Key material: growing the buffer never leaves a copy in freed memory
 * (the caller wipes the result it gets). */
#define CG_FILE_SECRET 2u

/* The whole file at path, at most max bytes, followed by a NUL that *len
 * does not count (text parsers and mbedTLS's PEM parser want it). NULL on
 * failure, with e filled and errno set: EFBIG for TOO_LARGE and OVER_MAX,
 * EINVAL for NOT_REGULAR, ENOMEM, or the system's error. Streams (a pipe,
 * /dev/stdin) are read to their end unless CG_FILE_REGULAR. */
unsigned char *cg_file_read(const char *path, size_t max, unsigned flags, size_t *len, cg_file_error *e);

#endif
