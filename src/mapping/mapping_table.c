/* The loaded mapping as data (mapping_table.h). */
#include "mapping_table.h"

#include <stdlib.h>
#include <string.h>

#include "mapping_text.h"

/* ======================================================================
 * The loaded mapping
 * ====================================================================== */

void *cg_mapping_alloc(cg_mapping *m, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!m->arena || m->arena->cap - m->arena->used < n) {
        size_t cap = n > 60000 ? n : 60000;
        cg_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = m->arena;
        b->used = 0;
        b->cap = cap;
        m->arena = b;
    }
    void *p = (char *)m->arena->data + m->arena->used;
    m->arena->used += n;
    return p;
}

char *cg_mapping_strndup(cg_mapping *m, const char *s, size_t n)
{
    char *p = cg_mapping_alloc(m, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* FNV-1a: keys come from the operator's file, so collisions cannot be
 * forced into the table; lookups only read it. */
uint64_t cg_mapping_key_hash(cg_kind kind, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Index of the entry with this key, or SIZE_MAX. */
size_t cg_mapping_find(const cg_mapping *m, cg_kind kind, const char *key, size_t len)
{
    if (!m->table)
        return SIZE_MAX;
    uint64_t h = cg_mapping_key_hash(kind, key, len);
    for (size_t i = (size_t)h & m->tmask;; i = (i + 1) & m->tmask) {
        uint32_t slot = m->table[i];
        if (slot == 0)
            return SIZE_MAX;
        const cg_one *e = &m->ones[slot - 1];
        if (e->hash == h && e->kind == kind && e->keylen == len && memcmp(e->key, key, len) == 0)
            return slot - 1;
    }
}

/* Inserts entry idx; returns the index of an entry with the same key
 * instead when there is one. */
size_t cg_mapping_insert(cg_mapping *m, size_t idx)
{
    const cg_one *e = &m->ones[idx];
    for (size_t i = (size_t)e->hash & m->tmask;; i = (i + 1) & m->tmask) {
        uint32_t slot = m->table[i];
        if (slot == 0) {
            m->table[i] = (uint32_t)idx + 1;
            return idx;
        }
        const cg_one *o = &m->ones[slot - 1];
        if (o->hash == e->hash && o->kind == e->kind && o->keylen == e->keylen &&
            memcmp(o->key, e->key, e->keylen) == 0)
            return slot - 1;
    }
}

void cg_mapping_counts(const cg_mapping *m, size_t *one_to_one, size_t *many_to_one)
{
    *one_to_one = m ? m->nones : 0;
    *many_to_one = m ? m->nm2o : 0;
}

/* "one-to-one #3" or "one-to-one \"alice\"" (for cg_map_result.rule). */
void cg_mapping_one_label(const cg_mapping *m, size_t i, char *out, size_t cap)
{
    if (m->ones[i].name)
        cg_fmt_into(out, cap, "one-to-one \"%s\"", m->ones[i].name);
    else
        cg_fmt_into(out, cap, "one-to-one #%zu", i + 1);
}

/* ---- lifetime ---- */

void cg_mapping_free(cg_mapping *m)
{
    if (!m)
        return;
    for (cg_block *b = m->arena, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(m);
}

cg_mapping *cg_mapping_ref(cg_mapping *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void cg_mapping_unref(cg_mapping *m)
{
    /* acq_rel: the last owner must see every other owner's reads done. */
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        cg_mapping_free(m);
}
