/* Rate limiting: token buckets per client, shared by every worker.
 *
 * A bucket holds up to `burst` tokens and gains `rate` tokens per unit of
 * time; a request takes one, or is refused with the time until one is there
 * (Retry-After). Tokens are kept in fixed point (one token is 60e9 units,
 * so a rate in requests per minute refills that many units per nanosecond:
 * exact, no division on the way in), so fractional rates such as 30/m work.
 *
 * One table for the process, not one per worker: a client's connections
 * land on any worker (SO_REUSEPORT), and per-worker buckets at rate/workers
 * would refuse a client whose connections happen to share a worker while
 * letting another through at `workers` times the burst. The table is split
 * into shards, each behind its own mutex held for one hash probe and a few
 * additions, so workers rarely wait for each other: O(1) per request.
 *
 * Bounded: at most `capacity` buckets, allocated per shard on first use. A
 * full shard reuses its least recently used bucket (an LRU list): a bucket
 * idle long enough to have refilled is the same as no bucket, and those are
 * the ones at the end of the list, so clients with many addresses or many
 * certificates cannot grow the table, and an active client keeps its bucket
 * unless more than `capacity` others were seen since its last request.
 * Keys are hashed with a per-process random seed.
 */
#ifndef CG_RATELIMIT_H
#define CG_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CG_RATE_TOKEN 60000000000ull /* fixed-point units of one token */

/* One bucket. level: tokens in CG_RATE_TOKEN units; at: when it was last
 * refilled (ns, monotonic). A new bucket is full: cg_bucket_full(). */
typedef struct cg_bucket {
    uint64_t level;
    uint64_t at_ns;
} cg_bucket;

cg_bucket cg_bucket_full(const cg_rate *r, uint64_t now_ns);
/* Refills b up to now_ns and takes one token: returns 0, or (nothing taken)
 * the nanoseconds until a token is there. A now_ns before the last refill
 * (another worker's clock read a moment earlier) refills nothing. */
uint64_t cg_bucket_take(cg_bucket *b, const cg_rate *r, uint64_t now_ns);
/* Retry-After for a wait: whole seconds, rounded up, at least 1. */
uint32_t cg_rate_retry_after_s(uint64_t wait_ns);

/* Who a bucket belongs to. Keys are compared whole: zero the unused bytes. */
typedef enum { CG_RATE_KEY_CLIENT = 1, CG_RATE_KEY_ADDRESS = 2 } cg_rate_key_kind;
typedef struct cg_rate_key {
    uint8_t id[16];   /* the certificate's SHA-256 (first 16 bytes), or an address (admission.h key) */
    uint8_t kind;     /* cg_rate_key_kind */
    uint8_t family;   /* 0 for a certificate; the address family (4 or 6) otherwise */
    uint16_t scope;   /* the listener (its index): buckets are per listener */
} cg_rate_key;

typedef struct cg_rate_verdict {
    bool allowed;
    uint32_t retry_after_s; /* refused: seconds until a token, rounded up */
    /* Refused and to be logged: the bucket's first refusal, or the first
     * after log_every_ns; refused counts those since the last logged one,
     * this one included. */
    bool log;
    uint64_t refused;
} cg_rate_verdict;

typedef struct cg_ratelimit cg_ratelimit;

#define CG_RATELIMIT_DEFAULT_CAPACITY 65536u

/* A table of at most capacity buckets (rounded to the shards). NULL: no memory. */
cg_ratelimit *cg_ratelimit_new(size_t capacity);
void cg_ratelimit_free(cg_ratelimit *t);

/* Takes a token from k's bucket at rate r (a new bucket starts full).
 * Thread-safe. Out of memory for a new bucket: allowed (a limiter must not
 * refuse service because it cannot count). */
void cg_ratelimit_take(cg_ratelimit *t, const cg_rate_key *k, const cg_rate *r, uint64_t now_ns,
                       uint64_t log_every_ns, cg_rate_verdict *v);

/* For tests and stats: buckets in use, the bound, and buckets reused while
 * not yet refilled (a sign the table is too small for the clients seen). */
void cg_ratelimit_stats(cg_ratelimit *t, size_t *entries, size_t *capacity, uint64_t *evicted_active);

#endif
