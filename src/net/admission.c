#include "admission.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/base.h"

#define INITIAL_CAP 1024 /* power of two */

typedef struct entry {
    cg_admission_key key;    /* family 0: free slot */
    uint32_t handshakes, open;
    bool logged;             /* a refusal of this address was logged at last_log_ms */
    uint64_t last_log_ms;
    uint64_t refused;        /* refusals not yet logged */
} entry;

struct cg_admission {
    uv_mutex_t lock;
    entry *slots;
    size_t cap, used;        /* cap: power of two; used < cap / 2 */
    uint64_t seed;
};

cg_admission *cg_admission_new(void)
{
    cg_admission *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->cap = INITIAL_CAP;
    a->slots = calloc(a->cap, sizeof *a->slots);
    if (!a->slots || uv_mutex_init(&a->lock) != 0) {
        free(a->slots);
        free(a);
        return NULL;
    }
    a->seed = cg_keyed_hash_seed(a); /* an IPv6 client cannot pick colliding prefixes */
    return a;
}

void cg_admission_free(cg_admission *a)
{
    if (!a)
        return;
    uv_mutex_destroy(&a->lock);
    free(a->slots);
    free(a);
}

cg_admission_key cg_admission_key_of(const struct sockaddr *sa, unsigned ipv6_prefix)
{
    cg_admission_key k = { .family = 0 };
    if (!sa)
        return k;
    if (sa->sa_family == AF_INET) {
        memcpy(k.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        k.family = 4;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(k.bytes, a6->s6_addr + 12, 4);
            k.family = 4;
            return k;
        }
        if (ipv6_prefix == 0 || ipv6_prefix > 128)
            ipv6_prefix = 128;
        memcpy(k.bytes, a6->s6_addr, 16);
        unsigned full = ipv6_prefix / 8, rest = ipv6_prefix % 8;
        if (rest)
            k.bytes[full++] &= (uint8_t)(0xff << (8 - rest));
        memset(k.bytes + full, 0, 16 - full);
        k.family = 6;
    }
    return k;
}

void cg_admission_key_format(const cg_admission_key *k, unsigned ipv6_prefix, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (k->family == 4 && inet_ntop(AF_INET, k->bytes, ip, sizeof ip))
        snprintf(out, cap, "%s", ip);
    else if (k->family == 6 && inet_ntop(AF_INET6, k->bytes, ip, sizeof ip))
        snprintf(out, cap, ipv6_prefix && ipv6_prefix < 128 ? "%s/%u" : "%s", ip, ipv6_prefix);
    else
        snprintf(out, cap, "-");
}

static size_t slot_of(const cg_admission *a, const cg_admission_key *k)
{
    return (size_t)cg_keyed_hash16(a->seed, k->family, k->bytes) & (a->cap - 1);
}

static bool same_key(const cg_admission_key *x, const cg_admission_key *y)
{
    return x->family == y->family && memcmp(x->bytes, y->bytes, 16) == 0;
}

/* The slot holding k, or the free slot where it would go. */
static entry *probe(const cg_admission *a, const cg_admission_key *k)
{
    for (size_t i = slot_of(a, k);; i = (i + 1) & (a->cap - 1)) {
        entry *e = &a->slots[i];
        if (e->key.family == 0 || same_key(&e->key, k))
            return e;
    }
}

static bool grow(cg_admission *a)
{
    entry *old = a->slots;
    size_t old_cap = a->cap;
    entry *slots = calloc(old_cap * 2, sizeof *slots);
    if (!slots)
        return false;
    a->slots = slots;
    a->cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key.family)
            *probe(a, &old[i].key) = old[i];
    free(old);
    return true;
}

/* Deletes e (linear probing, backward shift: no tombstones, so probes stay
 * short however many addresses came and went). */
static void delete(cg_admission *a, entry *e)
{
    size_t mask = a->cap - 1, hole = (size_t)(e - a->slots);
    for (size_t i = (hole + 1) & mask;; i = (i + 1) & mask) {
        entry *n = &a->slots[i];
        if (n->key.family == 0)
            break;
        size_t home = slot_of(a, &n->key);
        /* n may move into the hole if its home is not within (hole, i]. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            a->slots[hole] = *n;
            hole = i;
        }
    }
    memset(&a->slots[hole], 0, sizeof a->slots[hole]);
    a->used--;
}

cg_admit_result cg_admission_acquire(cg_admission *a, const cg_admission_key *k, const cg_admission_limits *lim,
                                     uint64_t now_ms, uint64_t log_every_ms, cg_admit_log *lg)
{
    memset(lg, 0, sizeof *lg);
    if (k->family == 0)
        return CG_ADMIT_OK;
    uv_mutex_lock(&a->lock);
    entry *e = probe(a, k);
    if (e->key.family) {
        cg_admit_result r = CG_ADMIT_OK;
        if (lim->max_handshakes && e->handshakes >= lim->max_handshakes)
            r = CG_ADMIT_HANDSHAKES;
        else if (lim->max_open && e->open >= lim->max_open)
            r = CG_ADMIT_OPEN;
        if (r != CG_ADMIT_OK) {
            e->refused++;
            if (!e->logged || now_ms - e->last_log_ms >= log_every_ms) {
                lg->log = true;
                lg->refused = e->refused;
                e->refused = 0;
                e->logged = true;
                e->last_log_ms = now_ms;
            }
            lg->handshakes = e->handshakes;
            lg->open = e->open;
            uv_mutex_unlock(&a->lock);
            return r;
        }
        e->handshakes++;
        e->open++;
        uv_mutex_unlock(&a->lock);
        return CG_ADMIT_OK;
    }
    if ((a->used + 1) * 2 > a->cap) {
        if (!grow(a)) {
            uv_mutex_unlock(&a->lock);
            return CG_ADMIT_NO_MEMORY;
        }
        e = probe(a, k);
    }
    *e = (entry){ .key = *k, .handshakes = 1, .open = 1 };
    a->used++;
    uv_mutex_unlock(&a->lock);
    return CG_ADMIT_OK;
}

void cg_admission_handshake_done(cg_admission *a, const cg_admission_key *k)
{
    if (k->family == 0)
        return;
    uv_mutex_lock(&a->lock);
    entry *e = probe(a, k);
    if (e->key.family && e->handshakes)
        e->handshakes--;
    uv_mutex_unlock(&a->lock);
}

void cg_admission_release(cg_admission *a, const cg_admission_key *k, bool handshaking)
{
    if (k->family == 0)
        return;
    uv_mutex_lock(&a->lock);
    entry *e = probe(a, k);
    if (e->key.family) {
        if (handshaking && e->handshakes)
            e->handshakes--;
        if (e->open)
            e->open--;
        if (e->open == 0)
            delete(a, e);
    }
    uv_mutex_unlock(&a->lock);
}

void cg_admission_counts(cg_admission *a, const cg_admission_key *k, uint32_t *handshakes, uint32_t *open)
{
    uv_mutex_lock(&a->lock);
    entry *e = probe(a, k);
    *handshakes = e->key.family ? e->handshakes : 0;
    *open = e->key.family ? e->open : 0;
    uv_mutex_unlock(&a->lock);
}

void cg_admission_size(cg_admission *a, size_t *entries, size_t *capacity)
{
    uv_mutex_lock(&a->lock);
    *entries = a->used;
    *capacity = a->cap;
    uv_mutex_unlock(&a->lock);
}
