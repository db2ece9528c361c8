/* Spare blocks: a worker's stack of free blocks of one size. Header-only.
 *
 * A connection needs its request buffers (plaintext, header table, backend
 * head) only while a request is in flight. It takes them from its worker's
 * spares when a request starts and gives them back when it goes idle, so an
 * idle keep-alive connection holds none of them, and a busy one allocates
 * nothing per request. Single-threaded: each worker owns its spares. A block
 * of another size (the configuration changed) is freed, not kept.
 */
#ifndef CG_SPARES_H
#define CG_SPARES_H

#include <stddef.h>
#include <stdlib.h>

#define CG_SPARES_MAX 64 /* blocks kept per worker and kind: about the busy connections */

typedef struct cg_spares {
    void *blk[CG_SPARES_MAX];
    unsigned n;
    size_t size; /* of every block kept */
} cg_spares;

static inline void cg_spares_clear(cg_spares *s);

/* A block of size bytes (uninitialised), or NULL when out of memory. */
static inline void *cg_spares_get(cg_spares *s, size_t size)
{
    if (s->n && s->size == size)
        return s->blk[--s->n];
    if (s->n) /* another size is asked for: the configuration changed */
        cg_spares_clear(s);
    return malloc(size);
}

/* Gives back a block of size bytes (NULL: nothing). Kept when there is room
 * and it has the size of the blocks kept; freed otherwise. */
static inline void cg_spares_put(cg_spares *s, void *p, size_t size)
{
    if (!p)
        return;
    if (s->n < CG_SPARES_MAX && (s->n == 0 || s->size == size)) {
        s->size = size;
        s->blk[s->n++] = p;
    } else {
        free(p);
    }
}

static inline void cg_spares_clear(cg_spares *s)
{
    while (s->n)
        free(s->blk[--s->n]);
}

#endif
