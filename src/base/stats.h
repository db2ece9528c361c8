/* Counters a module owns and increments on its own path, for metrics.c to
 * read at scrape time. Header-only.
 *
 * A cg_counter has one writer (a worker's loop, or code under its module's
 * lock): an increment is a relaxed load and store, a plain add on every
 * CPU certgate runs on, no lock prefix and no lock. Readers on other
 * threads load it relaxed and see a value at most a moment old, never a
 * torn one. Counters with several writers use cg_counter_add_shared().
 */
#ifndef CG_STATS_H
#define CG_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef _Atomic uint64_t cg_counter;

static inline void cg_counter_add(cg_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void cg_counter_add_shared(cg_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}
static inline uint64_t cg_counter_get(const cg_counter *c)
{
    return atomic_load_explicit((cg_counter *)c, memory_order_relaxed);
}

/* Latency histograms share one set of bounds (seconds): from a resumed
 * handshake on loopback (~0.2 ms) to a KDC that answers at its timeout. */
#define CG_HIST_BUCKETS 14
static const double cg_hist_bounds[CG_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

typedef struct cg_histogram {
    cg_counter bucket[CG_HIST_BUCKETS + 1]; /* per bucket, not cumulative; the last is +Inf */
    cg_counter sum_ns;
} cg_histogram;

static inline unsigned cg_hist_slot(uint64_t ns)
{
    double s = (double)ns / 1e9;
    unsigned i = 0;
    while (i < CG_HIST_BUCKETS && s > cg_hist_bounds[i])
        i++;
    return i;
}
static inline void cg_hist_observe(cg_histogram *h, uint64_t ns)
{
    cg_counter_add(&h->bucket[cg_hist_slot(ns)], 1);
    cg_counter_add(&h->sum_ns, ns);
}
static inline void cg_hist_observe_shared(cg_histogram *h, uint64_t ns)
{
    cg_counter_add_shared(&h->bucket[cg_hist_slot(ns)], 1);
    cg_counter_add_shared(&h->sum_ns, ns);
}

/* ---- a worker's counters (cg_worker.stats) ---- */

/* Listeners and backends a worker counts separately; the configuration
 * cannot have more listeners than that without later ones sharing the
 * last slot (reported as such). */
#define CG_STATS_LISTENERS 64
#define CG_STATS_BACKENDS 256

/* Requests by series (route, status, refusal): a fixed open-addressing
 * table the worker inserts into and others only read. A key is written
 * once (release) after its count slot is zero, so a reader that sees a
 * key reads a count of that key. */
#define CG_STATS_REQ_SLOTS 2048u
#define CG_STATS_REQ_MAX 1536u /* keys, then requests go to requests_unlabelled */

/* A route's series (cg_route.stats_series, assigned by the server before a
 * snapshot is used); requests with no route are counted per listener. */
#define CG_STATS_NO_ROUTE 0x8000u

typedef struct cg_stats_req_slot {
    _Atomic uint32_t key; /* 0: empty */
    cg_counter n;
} cg_stats_req_slot;

typedef struct cg_worker_stats {
    cg_counter accepted[CG_STATS_LISTENERS];
    cg_counter closed[CG_STATS_LISTENERS];  /* open = accepted - closed */
    cg_counter refused_limits;              /* limits.max_connections: closed at accept */
    cg_counter refused_admission;           /* per-address limits (admission.h) */
    cg_counter handshakes_full, handshakes_resumed, handshakes_failed;
    cg_histogram handshake;                 /* accept to handshake done, completed ones */
    _Atomic uint32_t pool_idle[CG_STATS_BACKENDS]; /* by backend index of the worker's snapshot */
    cg_stats_req_slot req[CG_STATS_REQ_SLOTS];
    uint32_t req_keys;                      /* worker-only */
    cg_counter requests_unlabelled;
} cg_worker_stats;

/* key: series (16 bits), status (10 bits, 0-1023), refusal kind (6 bits), plus 1 */
static inline uint32_t cg_stats_req_key(uint32_t series, int status, cg_refusal_kind kind)
{
    uint32_t st = status > 0 && status < 1024 ? (uint32_t)status : 0;
    return ((series & 0xffffu) << 16 | st << 6 | ((uint32_t)kind & 63u)) + 1u;
}
static inline void cg_stats_req_decode(uint32_t key, uint32_t *series, int *status, cg_refusal_kind *kind)
{
    key -= 1u;
    *series = key >> 16;
    *status = (int)((key >> 6) & 1023u);
    *kind = (cg_refusal_kind)(key & 63u);
}

/* One finished request. On the worker's loop; no lock, no allocation. */
static inline void cg_stats_request(cg_worker_stats *s, uint32_t series, int status, cg_refusal_kind kind)
{
    uint32_t key = cg_stats_req_key(series, status, kind);
    uint32_t i = (key * 2654435761u) & (CG_STATS_REQ_SLOTS - 1);
    for (;;) {
        uint32_t k = atomic_load_explicit(&s->req[i].key, memory_order_relaxed);
        if (k == key) {
            cg_counter_add(&s->req[i].n, 1);
            return;
        }
        if (k == 0) {
            if (s->req_keys >= CG_STATS_REQ_MAX) {
                cg_counter_add(&s->requests_unlabelled, 1);
                return;
            }
            s->req_keys++;
            atomic_store_explicit(&s->req[i].n, 1, memory_order_relaxed);
            atomic_store_explicit(&s->req[i].key, key, memory_order_release);
            return;
        }
        i = (i + 1) & (CG_STATS_REQ_SLOTS - 1);
    }
}

static inline unsigned cg_stats_listener(size_t li)
{
    return li < CG_STATS_LISTENERS ? (unsigned)li : CG_STATS_LISTENERS - 1;
}

#endif
