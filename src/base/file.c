/* Whole-file reads (file.h). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned char *fail(cg_file_error *e, cg_file_fail why, int err, int fd, unsigned char *buf, size_t wipe,
                           unsigned flags)
{
    e->fail = why;
    e->err = err;
    if (fd >= 0)
        close(fd);
    if (buf && (flags & CG_FILE_SECRET))
        explicit_bzero(buf, wipe);
    free(buf);
    errno = why == CG_FILE_TOO_LARGE || why == CG_FILE_OVER_MAX ? EFBIG
            : why == CG_FILE_NOT_REGULAR                       ? EINVAL
            : why == CG_FILE_NOMEM                             ? ENOMEM
                                                               : err;
    return NULL;
}

/* A buffer for `want` data bytes plus the NUL, never more than one byte
 * past max (which is how "over max" is seen). */
static size_t room_for(size_t want, size_t max)
{
    if (max < SIZE_MAX - 2 && want > max + 1)
        want = max + 1;
    return want < SIZE_MAX - 1 ? want + 1 : SIZE_MAX;
}

unsigned char *cg_file_read(const char *path, size_t max, unsigned flags, size_t *len, cg_file_error *e)
{
    *e = (cg_file_error){ .fail = CG_FILE_OK };
    int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | ((flags & CG_FILE_REGULAR) ? O_NONBLOCK : 0);
    int fd = open(path, oflags);
    if (fd < 0)
        return fail(e, CG_FILE_OPEN, errno, -1, NULL, 0, flags);
    size_t first = 16384;
    if (flags & CG_FILE_REGULAR) {
        struct stat st;
        if (fstat(fd, &st) != 0)
            return fail(e, CG_FILE_STAT, errno, fd, NULL, 0, flags);
        if (!S_ISREG(st.st_mode))
            return fail(e, CG_FILE_NOT_REGULAR, 0, fd, NULL, 0, flags);
        if ((uint64_t)st.st_size > (uint64_t)max) {
            e->size = (uint64_t)st.st_size;
            return fail(e, CG_FILE_TOO_LARGE, 0, fd, NULL, 0, flags);
        }
        first = (size_t)st.st_size + 1; /* + 1: the read that sees the end */
    }
    size_t cap = room_for(first, max), n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return fail(e, CG_FILE_NOMEM, 0, fd, NULL, 0, flags);
    for (;;) {
        if (n == cap - 1) {
            size_t ncap = room_for(cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2, max);
            unsigned char *nb;
            if (flags & CG_FILE_SECRET) {
                nb = malloc(ncap);
                if (nb) {
                    memcpy(nb, buf, n);
                    explicit_bzero(buf, n);
                    free(buf);
                }
            } else {
                nb = realloc(buf, ncap);
            }
            if (!nb)
                return fail(e, CG_FILE_NOMEM, 0, fd, buf, n, flags);
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fail(e, CG_FILE_READ, errno, fd, buf, n, flags);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max)
            return fail(e, CG_FILE_OVER_MAX, 0, fd, buf, n, flags);
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}
