/* Verified OCSP answers (ocsp_cache.h): a hash table of CertIDs (the SHA-256 of hash algorithm,
 * issuer hashes and serial) in fixed buckets, under one mutex.
 */
#include "ocsp_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#define NBUCKETS 1024

typedef struct node {
    struct node *next;
    unsigned char key[32];
    cg_ocsp_entry e;
} node;

struct cg_ocsp_cache {
    pthread_mutex_t lock;
    node *buckets[NBUCKETS];
    size_t count, max;
};

void cg_ocsp_certid_key(const cg_ocsp_certid *id, unsigned char key[32])
{
    const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    unsigned char md = (unsigned char)id->md;
    if (!sha256 || mbedtls_md_setup(&ctx, sha256, 0) != 0 || mbedtls_md_starts(&ctx) != 0 ||
        mbedtls_md_update(&ctx, &md, 1) != 0 || mbedtls_md_update(&ctx, id->name_hash, id->hash_len) != 0 ||
        mbedtls_md_update(&ctx, id->key_hash, id->hash_len) != 0 ||
        mbedtls_md_update(&ctx, id->serial, id->serial_len) != 0 || mbedtls_md_finish(&ctx, key) != 0)
        memset(key, 0, 32); /* cannot happen with SHA-256 compiled in; a miss, never a wrong hit */
    mbedtls_md_free(&ctx);
}

static size_t bucket_of(const unsigned char key[32])
{
    return ((size_t)key[0] | (size_t)key[1] << 8) % NBUCKETS;
}

cg_ocsp_cache *cg_ocsp_cache_new(size_t max_entries)
{
    cg_ocsp_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->max = max_entries ? max_entries : 1;
    return c;
}

void cg_ocsp_cache_free(cg_ocsp_cache *c)
{
    if (!c)
        return;
    for (size_t b = 0; b < NBUCKETS; b++)
        for (node *n = c->buckets[b], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

bool cg_ocsp_cache_get(cg_ocsp_cache *c, const cg_ocsp_certid *id, int64_t now, cg_ocsp_entry *out)
{
    unsigned char key[32];
    cg_ocsp_certid_key(id, key);
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (node *n = c->buckets[bucket_of(key)]; n; n = n->next)
        if (memcmp(n->key, key, 32) == 0) {
            if (n->e.expires >= now) {
                *out = n->e;
                found = true;
            }
            break;
        }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Under the lock: frees the expired entries, or else the one expiring soonest. */
static void make_room(cg_ocsp_cache *c, int64_t now)
{
    node **soonest = NULL;
    for (size_t b = 0; b < NBUCKETS; b++)
        for (node **pp = &c->buckets[b]; *pp;) {
            node *n = *pp;
            if (n->e.expires < now) {
                *pp = n->next;
                free(n);
                c->count--;
                continue;
            }
            if (!soonest || n->e.expires < (*soonest)->e.expires)
                soonest = pp;
            pp = &n->next;
        }
    if (c->count >= c->max && soonest) {
        node *n = *soonest;
        *soonest = n->next;
        free(n);
        c->count--;
    }
}

void cg_ocsp_cache_put(cg_ocsp_cache *c, const cg_ocsp_certid *id, const cg_ocsp_entry *e, int64_t now)
{
    unsigned char key[32];
    cg_ocsp_certid_key(id, key);
    pthread_mutex_lock(&c->lock);
    node **head = &c->buckets[bucket_of(key)];
    for (node *n = *head; n; n = n->next)
        if (memcmp(n->key, key, 32) == 0) {
            if (e->this_update >= n->e.this_update)
                n->e = *e;
            pthread_mutex_unlock(&c->lock);
            return;
        }
    if (c->count >= c->max)
        make_room(c, now);
    node *n = malloc(sizeof *n);
    if (n) {
        memcpy(n->key, key, 32);
        n->e = *e;
        n->next = *head;
        *head = n;
        c->count++;
    }
    pthread_mutex_unlock(&c->lock);
}

size_t cg_ocsp_cache_count(cg_ocsp_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}
