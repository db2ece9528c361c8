/* The verified-signature table of certgate's PSA driver (certgate_psa_driver.h).
 *
 * A set-associative table of digests: CG_SIG_CACHE_SETS sets of
 * CG_SIG_CACHE_WAYS entries, a fixed 256 KiB, allocated once (static), never
 * grown. A digest's set is given by its first bytes; the digest is keyed with
 * a random per-process key, so a client cannot choose signatures that crowd
 * one set.
 *
 * Eviction is CLOCK (second chance) within the set: a hit marks the entry
 * used; the set's hand skips (and unmarks) used entries and replaces the
 * first unused one. Entries that are never looked up again (the
 * CertificateVerify of each handshake: its transcript hash is new every time)
 * are the ones replaced, while a returning user's certificate signature,
 * found again at each of the user's handshakes, stays.
 *
 * Locks: one mutex per stripe of sets (CG_SIG_CACHE_SETS / STRIPES sets
 * each), held for a compare of at most eight digests. Counters are atomics.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "certgate_psa_driver.h"

#define STRIPES 64

typedef struct sig_set {
    uint8_t digest[CG_SIG_CACHE_WAYS][CG_SIG_CACHE_DIGEST];
    uint8_t valid; /* bit w: way w holds a digest */
    uint8_t used;  /* bit w: found since the hand last passed it */
    uint8_t hand;  /* next way the CLOCK hand looks at */
} sig_set;

_Static_assert(CG_SIG_CACHE_WAYS <= 8, "valid/used are 8-bit masks");
_Static_assert((CG_SIG_CACHE_SETS & (CG_SIG_CACHE_SETS - 1)) == 0, "sets: a power of two");
_Static_assert(CG_SIG_CACHE_SETS % STRIPES == 0, "stripes divide the sets");

static sig_set sets[CG_SIG_CACHE_SETS];
static pthread_mutex_t stripe_lock[STRIPES];
static uint8_t digest_key[crypto_generichash_KEYBYTES];
static bool ready;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static atomic_uint_fast64_t hits, misses, evictions;
static atomic_size_t entries;

static void start(void)
{
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&stripe_lock[i], NULL);
    if (sodium_init() < 0)
        return; /* no cache: every verification goes to mbedTLS */
    randombytes_buf(digest_key, sizeof digest_key);
    ready = true;
}

static void put_u64(crypto_generichash_state *st, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(st, b, sizeof b);
}

bool cg_sig_cache_digest(uint8_t out[CG_SIG_CACHE_DIGEST], psa_key_type_t type, size_t bits, psa_algorithm_t alg,
                         const uint8_t *key, size_t key_len, const uint8_t *hash, size_t hash_len,
                         const uint8_t *sig, size_t sig_len)
{
    pthread_once(&once, start);
    if (!ready)
        return false;
    crypto_generichash_state st;
    crypto_generichash_init(&st, digest_key, sizeof digest_key, CG_SIG_CACHE_DIGEST);
    /* Fixed-width fields, then each byte string after its length: no two
     * different inputs give the same byte stream. */
    put_u64(&st, type);
    put_u64(&st, bits);
    put_u64(&st, alg);
    put_u64(&st, key_len);
    put_u64(&st, hash_len);
    put_u64(&st, sig_len);
    crypto_generichash_update(&st, key, key_len);
    crypto_generichash_update(&st, hash, hash_len);
    crypto_generichash_update(&st, sig, sig_len);
    crypto_generichash_final(&st, out, CG_SIG_CACHE_DIGEST);
    return true;
}

static size_t set_of(const uint8_t d[CG_SIG_CACHE_DIGEST])
{
    uint32_t v = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
    return v & (CG_SIG_CACHE_SETS - 1);
}

static pthread_mutex_t *lock_of(size_t set)
{
    return &stripe_lock[set % STRIPES];
}

/* The way holding d in s, or -1. Under the set's lock. */
static int way_of(const sig_set *s, const uint8_t d[CG_SIG_CACHE_DIGEST])
{
    for (int w = 0; w < CG_SIG_CACHE_WAYS; w++)
        if ((s->valid & (1u << w)) && memcmp(s->digest[w], d, CG_SIG_CACHE_DIGEST) == 0)
            return w;
    return -1;
}

bool cg_sig_cache_find(const uint8_t digest[CG_SIG_CACHE_DIGEST])
{
    pthread_once(&once, start);
    size_t i = set_of(digest);
    sig_set *s = &sets[i];
    pthread_mutex_lock(lock_of(i));
    int w = way_of(s, digest);
    if (w >= 0)
        s->used |= (uint8_t)(1u << w);
    pthread_mutex_unlock(lock_of(i));
    atomic_fetch_add_explicit(w >= 0 ? &hits : &misses, 1, memory_order_relaxed);
    return w >= 0;
}

void cg_sig_cache_add(const uint8_t digest[CG_SIG_CACHE_DIGEST])
{
    pthread_once(&once, start);
    size_t i = set_of(digest);
    sig_set *s = &sets[i];
    bool evicted = false, added = false;
    pthread_mutex_lock(lock_of(i));
    if (way_of(s, digest) < 0) { /* another thread may have recorded it meanwhile */
        int w = -1;
        for (int f = 0; f < CG_SIG_CACHE_WAYS && w < 0; f++)
            if (!(s->valid & (1u << f)))
                w = f;
        /* Set full: at most two turns of the hand (the first unmarks all). */
        while (w < 0) {
            int h = s->hand;
            s->hand = (uint8_t)((h + 1) % CG_SIG_CACHE_WAYS);
            if (s->used & (1u << h))
                s->used &= (uint8_t)~(1u << h);
            else {
                w = h;
                evicted = true;
            }
        }
        memcpy(s->digest[w], digest, CG_SIG_CACHE_DIGEST);
        s->valid |= (uint8_t)(1u << w);
        s->used &= (uint8_t)~(1u << w); /* new entries earn their mark by a hit */
        added = !evicted;
    }
    pthread_mutex_unlock(lock_of(i));
    if (evicted)
        atomic_fetch_add_explicit(&evictions, 1, memory_order_relaxed);
    if (added)
        atomic_fetch_add_explicit(&entries, 1, memory_order_relaxed);
}

void cg_sig_cache_stats_get(cg_sig_cache_stats *out)
{
    out->hits = atomic_load_explicit(&hits, memory_order_relaxed);
    out->misses = atomic_load_explicit(&misses, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&evictions, memory_order_relaxed);
    out->entries = atomic_load_explicit(&entries, memory_order_relaxed);
}

void cg_sig_cache_clear(void)
{
    pthread_once(&once, start);
    for (int l = 0; l < STRIPES; l++) {
        pthread_mutex_lock(&stripe_lock[l]);
        for (size_t i = (size_t)l; i < CG_SIG_CACHE_SETS; i += STRIPES)
            memset(&sets[i], 0, sizeof sets[i]);
        pthread_mutex_unlock(&stripe_lock[l]);
    }
    atomic_store(&hits, 0);
    atomic_store(&misses, 0);
    atomic_store(&evictions, 0);
    atomic_store(&entries, 0);
}
