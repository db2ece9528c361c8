/* A keyed hash for tables whose keys a client chooses (addresses,
 * certificate digests): with a random per-process seed, which keys share a
 * bucket or a probe sequence is unknowable from outside, so a client cannot
 * pick colliding ones. Not cryptographic: a mixer (splitmix64's finalizer)
 * over 64-bit words. */
#ifndef CG_KEYED_HASH_H
#define CG_KEYED_HASH_H

#include <stdint.h>
#include <string.h>

#include <uv.h>

/* A random seed (the clock and an address when the system has no entropy). */
static inline uint64_t cg_keyed_hash_seed(const void *salt)
{
    uint64_t seed;
    if (uv_random(NULL, NULL, &seed, sizeof seed, 0, NULL) != 0)
        seed = (uint64_t)(uintptr_t)salt ^ uv_hrtime();
    return seed;
}

static inline uint64_t cg_keyed_hash_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* seed and a tag word, then 16 key bytes. */
static inline uint64_t cg_keyed_hash16(uint64_t seed, uint64_t tag, const unsigned char key[16])
{
    uint64_t w0, w1;
    memcpy(&w0, key, 8);
    memcpy(&w1, key + 8, 8);
    uint64_t h = cg_keyed_hash_mix(seed ^ tag);
    h = cg_keyed_hash_mix(h ^ w0);
    return cg_keyed_hash_mix(h ^ w1);
}

#endif
