#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/base.h"

_Static_assert(CG_RATE_BURST_MAX <= UINT64_MAX / CG_RATE_TOKEN, "a full bucket must fit 64 bits");

/* ---- one bucket ---- */

static uint64_t capacity_of(const cg_rate *r)
{
    uint64_t burst = r->burst ? r->burst : 1;
    if (burst > CG_RATE_BURST_MAX)
        burst = CG_RATE_BURST_MAX;
    return burst * CG_RATE_TOKEN;
}

cg_bucket cg_bucket_full(const cg_rate *r, uint64_t now_ns)
{
    return (cg_bucket){ .level = capacity_of(r), .at_ns = now_ns };
}

/* Adds the tokens earned since b->at_ns. */
static void refill(cg_bucket *b, const cg_rate *r, uint64_t now_ns)
{
    uint64_t cap = capacity_of(r);
    if (b->level > cap) /* the burst was lowered by a reload */
        b->level = cap;
    if (now_ns > b->at_ns) {
        uint64_t elapsed = now_ns - b->at_ns;
        /* Full after this long: also keeps elapsed * per_minute in range. */
        uint64_t to_full = r->per_minute ? (cap - b->level) / r->per_minute + 1 : UINT64_MAX;
        b->level = elapsed >= to_full ? cap : b->level + elapsed * r->per_minute;
        b->at_ns = now_ns;
    }
}

uint64_t cg_bucket_take(cg_bucket *b, const cg_rate *r, uint64_t now_ns)
{
    refill(b, r, now_ns);
    if (b->level >= CG_RATE_TOKEN) {
        b->level -= CG_RATE_TOKEN;
        return 0;
    }
    if (!r->per_minute)
        return UINT64_MAX;
    uint64_t missing = CG_RATE_TOKEN - b->level;
    return (missing + r->per_minute - 1) / r->per_minute;
}

uint32_t cg_rate_retry_after_s(uint64_t wait_ns)
{
    uint64_t s = wait_ns / 1000000000u + (wait_ns % 1000000000u != 0);
    if (s < 1)
        s = 1;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* ---- the table ---- */

#define SHARDS 16u      /* power of two */
#define NIL UINT32_MAX

typedef struct entry {
    cg_rate_key key;
    uint32_t next;           /* hash chain */
    uint32_t older, newer;   /* LRU list */
    cg_rate rate;            /* the rate it was last used with (to tell an idle bucket) */
    cg_bucket bucket;
    uint64_t refused;        /* refusals not yet logged */
    uint64_t logged_ns;      /* when a refusal was last logged; 0: never */
} entry;

typedef struct shard {
    uv_mutex_t lock;
    entry *entries;          /* cap of them, allocated on first use */
    uint32_t *heads;         /* nheads chains (power of two) */
    uint32_t cap, used, nheads;
    uint32_t newest, oldest; /* LRU ends */
    uint64_t evicted_active;
} shard;

struct cg_ratelimit {
    shard shards[SHARDS];
    uint32_t shard_cap;
    uint64_t seed;
};

cg_ratelimit *cg_ratelimit_new(size_t capacity)
{
    cg_ratelimit *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t per = (capacity + SHARDS - 1) / SHARDS;
    t->shard_cap = per < 4 ? 4 : per > (1u << 24) ? (1u << 24) : (uint32_t)per;
    for (unsigned i = 0; i < SHARDS; i++) {
        if (uv_mutex_init(&t->shards[i].lock) != 0) {
            while (i--)
                uv_mutex_destroy(&t->shards[i].lock);
            free(t);
            return NULL;
        }
    }
    t->seed = cg_keyed_hash_seed(t); /* a client cannot pick colliding addresses */
    return t;
}

void cg_ratelimit_free(cg_ratelimit *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < SHARDS; i++) {
        uv_mutex_destroy(&t->shards[i].lock);
        free(t->shards[i].entries);
        free(t->shards[i].heads);
    }
    free(t);
}

static uint64_t hash_of(const cg_ratelimit *t, const cg_rate_key *k)
{
    return cg_keyed_hash16(t->seed, (uint64_t)k->kind << 32 | (uint64_t)k->family << 16 | k->scope, k->id);
}

static bool same_key(const cg_rate_key *a, const cg_rate_key *b)
{
    return a->kind == b->kind && a->family == b->family && a->scope == b->scope &&
           memcmp(a->id, b->id, sizeof a->id) == 0;
}

static bool shard_alloc(shard *s, uint32_t cap)
{
    uint32_t nheads = 1;
    while (nheads < cap)
        nheads <<= 1;
    s->entries = malloc((size_t)cap * sizeof *s->entries);
    s->heads = malloc((size_t)nheads * sizeof *s->heads);
    if (!s->entries || !s->heads) {
        free(s->entries);
        free(s->heads);
        s->entries = NULL;
        s->heads = NULL;
        return false;
    }
    for (uint32_t i = 0; i < nheads; i++)
        s->heads[i] = NIL;
    s->cap = cap;
    s->nheads = nheads;
    s->used = 0;
    s->newest = s->oldest = NIL;
    return true;
}

static void lru_unlink(shard *s, uint32_t i)
{
    entry *e = &s->entries[i];
    if (e->older != NIL)
        s->entries[e->older].newer = e->newer;
    else
        s->oldest = e->newer;
    if (e->newer != NIL)
        s->entries[e->newer].older = e->older;
    else
        s->newest = e->older;
}

static void lru_push_newest(shard *s, uint32_t i)
{
    entry *e = &s->entries[i];
    e->newer = NIL;
    e->older = s->newest;
    if (s->newest != NIL)
        s->entries[s->newest].newer = i;
    else
        s->oldest = i;
    s->newest = i;
}

static void chain_unlink(shard *s, uint32_t i, uint32_t chain)
{
    for (uint32_t *p = &s->heads[chain]; *p != NIL; p = &s->entries[*p].next) {
        if (*p == i) {
            *p = s->entries[i].next;
            return;
        }
    }
}

/* The index of k's entry in s, creating it (full) if absent; NIL without memory. */
static uint32_t find_or_add(cg_ratelimit *t, shard *s, const cg_rate_key *k, uint64_t h, const cg_rate *r,
                            uint64_t now_ns)
{
    if (!s->entries && !shard_alloc(s, t->shard_cap))
        return NIL;
    uint32_t chain = (uint32_t)(h >> 32) & (s->nheads - 1);
    for (uint32_t i = s->heads[chain]; i != NIL; i = s->entries[i].next) {
        if (same_key(&s->entries[i].key, k)) {
            if (s->newest != i) {
                lru_unlink(s, i);
                lru_push_newest(s, i);
            }
            return i;
        }
    }
    uint32_t i;
    if (s->used < s->cap) {
        i = s->used++;
    } else {
        /* Full: reuse the least recently used bucket. */
        i = s->oldest;
        entry *old = &s->entries[i];
        cg_bucket probe = old->bucket;
        refill(&probe, &old->rate, now_ns); /* refilled by now: then forgetting it changes nothing */
        if (probe.level < capacity_of(&old->rate))
            s->evicted_active++;
        lru_unlink(s, i);
        chain_unlink(s, i, (uint32_t)(hash_of(t, &old->key) >> 32) & (s->nheads - 1));
    }
    entry *e = &s->entries[i];
    *e = (entry){ .key = *k, .rate = *r, .bucket = cg_bucket_full(r, now_ns) };
    e->next = s->heads[chain];
    s->heads[chain] = i;
    lru_push_newest(s, i);
    return i;
}

void cg_ratelimit_take(cg_ratelimit *t, const cg_rate_key *k, const cg_rate *r, uint64_t now_ns,
                       uint64_t log_every_ns, cg_rate_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->allowed = true;
    if (!r->per_minute)
        return;
    uint64_t h = hash_of(t, k);
    shard *s = &t->shards[h & (SHARDS - 1)];
    uv_mutex_lock(&s->lock);
    uint32_t i = find_or_add(t, s, k, h, r, now_ns);
    if (i == NIL) {
        uv_mutex_unlock(&s->lock);
        return;
    }
    entry *e = &s->entries[i];
    e->rate = *r;
    uint64_t wait = cg_bucket_take(&e->bucket, r, now_ns);
    if (wait) {
        v->allowed = false;
        v->retry_after_s = cg_rate_retry_after_s(wait);
        e->refused++;
        if (!e->logged_ns || (now_ns > e->logged_ns && now_ns - e->logged_ns >= log_every_ns)) {
            v->log = true;
            v->refused = e->refused;
            e->refused = 0;
            e->logged_ns = now_ns ? now_ns : 1;
        }
    }
    uv_mutex_unlock(&s->lock);
}

void cg_ratelimit_stats(cg_ratelimit *t, size_t *entries, size_t *capacity, uint64_t *evicted_active)
{
    *entries = 0;
    *evicted_active = 0;
    *capacity = (size_t)t->shard_cap * SHARDS;
    for (unsigned i = 0; i < SHARDS; i++) {
        shard *s = &t->shards[i];
        uv_mutex_lock(&s->lock);
        *entries += s->used;
        *evicted_active += s->evicted_active;
        uv_mutex_unlock(&s->lock);
    }
}
