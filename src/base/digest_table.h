/* Bounded tables keyed by a 32-byte digest (a SHA-256), for caches that
 * replace their least recently used entry. Header-only.
 *
 * A table is an array of nslots slots (a power of two) of stride bytes,
 * each starting with a cg_digest_slot. A key is looked for in
 * CG_DIGEST_PROBE consecutive slots from the one its first bytes name; a new
 * key takes the oldest (smallest stamp) of them. The caller stamps a slot
 * when it fills or uses it, from a clock of its own. Used by the chains of
 * the verify pool (verify.c). (Verified signatures are cached below mbedTLS,
 * in certgate's PSA driver: subprojects/mbedtls/driver/sig_cache.c.)
 */
#ifndef CG_DIGEST_TABLE_H
#define CG_DIGEST_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CG_DIGEST_PROBE 8

typedef struct cg_digest_slot {
    unsigned char key[32];
    uint64_t stamp; /* 0: empty */
} cg_digest_slot;

/* The slot holding key; or, when create, the slot to hold it: key copied,
 * stamp 0, the rest of the slot zeroed, *was_empty (if not NULL) whether it
 * held nothing before. NULL when key is absent and !create. */
static inline cg_digest_slot *cg_digest_find(void *slots, size_t stride, size_t nslots, const unsigned char key[32],
                                             bool create, bool *was_empty)
{
    size_t h;
    memcpy(&h, key, sizeof h);
    cg_digest_slot *victim = NULL;
    for (size_t k = 0; k < CG_DIGEST_PROBE; k++) {
        cg_digest_slot *s = (cg_digest_slot *)((char *)slots + ((h + k) & (nslots - 1)) * stride);
        if (s->stamp && memcmp(s->key, key, 32) == 0)
            return s;
        if (!victim || s->stamp < victim->stamp)
            victim = s;
    }
    if (!create)
        return NULL;
    if (was_empty)
        *was_empty = victim->stamp == 0;
    memset(victim, 0, stride);
    memcpy(victim->key, key, 32);
    return victim;
}

#endif
