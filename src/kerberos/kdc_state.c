/* What KDC exchanges taught certgate (kdc_state.h): realms down, canonical
 * names. One mutex, held for a table lookup. */
#include "kdc_state.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define ALIAS_BUCKETS 4096u

typedef struct realm_down {
    char realm[256];
    int64_t until_ms;
    cg_refusal why;
} realm_down;

typedef struct alias {
    struct alias *next;
    char *name, *canonical;
} alias;

struct cg_kdc_state {
    pthread_mutex_t mu;
    realm_down down[CG_KDC_STATE_REALMS];
    size_t ndown;
    uint64_t seed;
    alias *buckets[ALIAS_BUCKETS];
    size_t naliases;
};

/* Mapped names come from certificates: a seeded hash, so that nobody can
 * choose names that share a bucket. */
static uint32_t name_hash(const cg_kdc_state *s, const char *name)
{
    uint64_t h = cg_keyed_hash_mix(s->seed);
    size_t n = strlen(name);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, name + i, n - i < 8 ? n - i : 8);
        h = cg_keyed_hash_mix(h ^ w);
    }
    return (uint32_t)(cg_keyed_hash_mix(h ^ n) % ALIAS_BUCKETS);
}

cg_kdc_state *cg_kdc_state_new(void)
{
    cg_kdc_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->seed = cg_keyed_hash_seed(s);
    return s;
}

static void aliases_clear_locked(cg_kdc_state *s)
{
    for (size_t b = 0; b < ALIAS_BUCKETS; b++) {
        for (alias *a = s->buckets[b], *nx; a; a = nx) {
            nx = a->next;
            free(a->name);
            free(a->canonical);
            free(a);
        }
        s->buckets[b] = NULL;
    }
    s->naliases = 0;
}

void cg_kdc_state_free(cg_kdc_state *s)
{
    if (!s)
        return;
    aliases_clear_locked(s);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static realm_down *find_down_locked(cg_kdc_state *s, const char *realm)
{
    for (size_t i = 0; i < s->ndown; i++)
        if (!strcmp(s->down[i].realm, realm))
            return &s->down[i];
    return NULL;
}

void cg_kdc_state_mark_down(cg_kdc_state *s, const char *realm, int64_t until_ms, const cg_refusal *why)
{
    if (strlen(realm) >= sizeof s->down[0].realm)
        return;
    pthread_mutex_lock(&s->mu);
    realm_down *d = find_down_locked(s, realm);
    if (!d) {
        /* reuse a slot whose time is over before growing */
        for (size_t i = 0; i < s->ndown && !d; i++)
            if (s->down[i].until_ms == 0)
                d = &s->down[i];
        if (!d && s->ndown < CG_KDC_STATE_REALMS)
            d = &s->down[s->ndown++];
    }
    if (d) {
        snprintf(d->realm, sizeof d->realm, "%s", realm);
        d->until_ms = until_ms;
        d->why = *why;
    }
    pthread_mutex_unlock(&s->mu);
}

void cg_kdc_state_realm_timed_out(cg_kdc_state *s, const char *realm, const char *how, uint32_t negative_cache_ms,
                                  int64_t now_ms)
{
    if (!negative_cache_ms)
        return;
    cg_refusal why;
    cg_refuse(&why, CG_REFUSE_KDC_UNREACHABLE,
              "the KDC of realm %s %s a moment ago: check that the KDC runs and is reachable (kerberos.realms "
              "kdcs, or krb5.conf [realms] %s kdc = ..., port 88); new tickets for names of realm %s are not "
              "requested for %ums (kerberos.negative_cache)", realm, how, realm, realm, negative_cache_ms);
    cg_kdc_state_mark_down(s, realm, now_ms + negative_cache_ms, &why);
}

bool cg_kdc_state_name_down(cg_kdc_state *s, const char *name, const char *proxy_realm, int64_t now_ms,
                            cg_refusal *why)
{
    const char *realm = cg_kdc_name_realm(name);
    return cg_kdc_state_is_down(s, realm, now_ms, why) ||
           (strcmp(realm, proxy_realm) && cg_kdc_state_is_down(s, proxy_realm, now_ms, why));
}

void cg_kdc_state_mark_up(cg_kdc_state *s, const char *realm)
{
    pthread_mutex_lock(&s->mu);
    realm_down *d = find_down_locked(s, realm);
    if (d)
        d->until_ms = 0;
    pthread_mutex_unlock(&s->mu);
}

bool cg_kdc_state_is_down(cg_kdc_state *s, const char *realm, int64_t now_ms, cg_refusal *why)
{
    pthread_mutex_lock(&s->mu);
    realm_down *d = find_down_locked(s, realm);
    bool down = d && d->until_ms > now_ms;
    if (down)
        *why = d->why;
    else if (d)
        d->until_ms = 0;
    pthread_mutex_unlock(&s->mu);
    return down;
}

void cg_kdc_state_clear_down(cg_kdc_state *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->ndown; i++)
        s->down[i].until_ms = 0;
    pthread_mutex_unlock(&s->mu);
}

bool cg_kdc_state_canonical(cg_kdc_state *s, const char *name, char *out, size_t cap)
{
    bool found = false;
    pthread_mutex_lock(&s->mu);
    for (alias *a = s->buckets[name_hash(s, name)]; a; a = a->next) {
        if (!strcmp(a->name, name)) {
            found = (size_t)snprintf(out, cap, "%s", a->canonical) < cap;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

void cg_kdc_state_set_canonical(cg_kdc_state *s, const char *name, const char *canonical)
{
    char *c = strdup(canonical);
    if (!c)
        return;
    pthread_mutex_lock(&s->mu);
    uint32_t b = name_hash(s, name);
    for (alias *a = s->buckets[b]; a; a = a->next) {
        if (!strcmp(a->name, name)) {
            free(a->canonical);
            a->canonical = c;
            pthread_mutex_unlock(&s->mu);
            return;
        }
    }
    if (s->naliases >= CG_KDC_STATE_ALIASES)
        aliases_clear_locked(s); /* only costs each name one more KDC exchange */
    alias *a = calloc(1, sizeof *a);
    if (a && (a->name = strdup(name))) {
        a->canonical = c;
        a->next = s->buckets[b];
        s->buckets[b] = a;
        s->naliases++;
        c = NULL;
    } else {
        free(a);
    }
    pthread_mutex_unlock(&s->mu);
    free(c);
}

bool cg_kdc_state_key(cg_kdc_state *s, const cg_kdc_realm_view *v, const char *mapped, char *key, size_t cap,
                      char *request, size_t rcap, char *err, size_t errcap)
{
    cg_kdc_user u;
    if (!cg_kdc_user_resolve(mapped, v, &u, err, errcap))
        return false;
    if (request)
        snprintf(request, rcap, "%s", u.name);
    if (!cg_kdc_state_canonical(s, u.name, key, cap))
        snprintf(key, cap, "%s", u.name);
    return true;
}

void cg_kdc_state_forget(cg_kdc_state *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    if (!name) {
        aliases_clear_locked(s);
    } else {
        for (alias **pp = &s->buckets[name_hash(s, name)]; *pp; pp = &(*pp)->next) {
            alias *a = *pp;
            if (!strcmp(a->name, name)) {
                *pp = a->next;
                free(a->name);
                free(a->canonical);
                free(a);
                s->naliases--;
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}
