/* A growable byte buffer and a borrowed byte slice. Header-only. */
#ifndef CG_BUF_H
#define CG_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct cg_slice {
    const char *p;
    size_t n;
} cg_slice;

#define CG_SLICE_LIT(s) ((cg_slice){ (s), sizeof(s) - 1 })

/* s into dst as a C string, cut to cap - 1 bytes (cap > 0). */
static inline void cg_slice_copy(char *dst, size_t cap, cg_slice s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(dst, s.p, n);
    dst[n] = '\0';
}

typedef struct cg_buf {
    char *data;
    size_t len, cap;
} cg_buf;

/* Grows the buffer so that `extra` more bytes fit. Returns false on OOM. */
static inline bool cg_buf_reserve(cg_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return false;
    b->data = d;
    b->cap = cap;
    return true;
}

static inline bool cg_buf_append(cg_buf *b, const void *p, size_t n)
{
    if (n == 0) /* memcpy from NULL is undefined even for 0 bytes; data may be NULL too */
        return true;
    if (!cg_buf_reserve(b, n))
        return false;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

static inline bool cg_buf_append_str(cg_buf *b, const char *s)
{
    return cg_buf_append(b, s, strlen(s));
}

static inline bool cg_buf_append_slice(cg_buf *b, cg_slice s)
{
    return cg_buf_append(b, s.p, s.n);
}

static inline void cg_buf_free(cg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

#endif
