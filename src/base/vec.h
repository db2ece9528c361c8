/* Growable arrays, the one way to make room in an array a module keeps as
 * (pointer, count, capacity):
 *
 *     if (!cg_vec_reserve(set->v, set->cap, set->n + 1, 16))
 *         return false;          // out of memory: the array is as it was
 *     set->v[set->n++] = c;
 *
 * The capacity doubles from `first` until `need` fits (a size_t lvalue:
 * another type does not compile). Header-only. And string vectors: the
 * (char **, count) lists of URLs and file names. (Future wing: src/base/.)
 */
#ifndef CG_VEC_H
#define CG_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* itemsp: the address of the array's pointer (any object pointer type). */
static inline bool cg_vec_grow_(void *itemsp, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : (first ? first : 1);
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return false;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / size)
        return false;
    void *old;
    memcpy(&old, itemsp, sizeof old);
    void *items = realloc(old, ncap * size);
    if (!items)
        return false;
    memcpy(itemsp, &items, sizeof items);
    *cap = ncap;
    return true;
}

/* Room for `need` elements in items (capacity in cap); false when out of
 * memory, with items and cap unchanged. */
#define cg_vec_reserve(items, cap, need, first) \
    cg_vec_grow_(&(items), &(cap), (need), sizeof *(items), (first))

/* Frees v[0..n) and v. */
static inline void cg_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A copy of v[0..n) (each string copied), or NULL when out of memory. */
static inline char **cg_strv_dup(char *const *v, size_t n)
{
    char **d = calloc(n ? n : 1, sizeof *d);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(d[i] = strdup(v[i]))) {
            cg_strv_free(d, i);
            return NULL;
        }
    return d;
}

#endif
