#include "chain_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Flags that say something about a certificate's signature or its issuer. */
#define SIGNATURE_FLAGS                                                                                        \
    (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |            \
     MBEDTLS_X509_BADCERT_BAD_KEY)

typedef struct learned_ca {
    const mbedtls_x509_crt *node;                  /* its copy in the trust list */
    int nup;                                       /* certificates above it, the anchor last */
    const mbedtls_x509_crt *up[CG_VERIFY_MAX_DEPTH]; /* trust-list nodes */
} learned_ca;

typedef struct worker_cache {
    bool ready;
    mbedtls_x509_crt trust;  /* anchor copies, then learned CA copies */
    size_t nanchors;
    learned_ca learned[CG_CHAIN_CACHE_MAX_CAS];
    size_t nlearned;
    uint64_t hits, misses;
} worker_cache;

struct cg_chain_cache {
    const mbedtls_x509_crt *anchors;
    unsigned workers;
    worker_cache *w;
};

/* ---- the cache ---- */

cg_chain_cache *cg_chain_cache_new(const mbedtls_x509_crt *anchors, unsigned workers)
{
    cg_chain_cache *cc = calloc(1, sizeof *cc);
    if (!cc)
        return NULL;
    cc->anchors = anchors;
    cc->workers = workers;
    if (workers && !(cc->w = calloc(workers, sizeof *cc->w))) {
        free(cc);
        return NULL;
    }
    return cc;
}

void cg_chain_cache_free(cg_chain_cache *cc)
{
    if (!cc)
        return;
    for (unsigned i = 0; i < cc->workers; i++) {
        worker_cache *w = &cc->w[i];
        if (w->ready)
            mbedtls_x509_crt_free(&w->trust);
    }
    free(cc->w);
    free(cc);
}

static worker_cache *worker(cg_chain_cache *cc, unsigned i)
{
    if (!cc || i >= cc->workers)
        return NULL;
    worker_cache *w = &cc->w[i];
    if (w->ready)
        return w->nanchors ? w : NULL;
    w->ready = true;
    mbedtls_x509_crt_init(&w->trust);
    for (const mbedtls_x509_crt *a = cc->anchors; a && a->raw.p; a = a->next) {
        if (mbedtls_x509_crt_parse_der(&w->trust, a->raw.p, a->raw.len) != 0) {
            w->nanchors = 0; /* without every anchor the list would refuse good chains */
            return NULL;
        }
        w->nanchors++;
    }
    return w->nanchors ? w : NULL;
}

mbedtls_x509_crt *cg_chain_cache_trust(cg_chain_cache *cc, unsigned i)
{
    worker_cache *w = worker(cc, i);
    return w ? &w->trust : NULL;
}

void cg_chain_cache_stats_get(cg_chain_cache *cc, unsigned i, cg_chain_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!cc || i >= cc->workers)
        return;
    out->hits = cc->w[i].hits;
    out->misses = cc->w[i].misses;
    out->learned = cc->w[i].nlearned;
}

static bool same_der(const mbedtls_x509_crt *a, const mbedtls_x509_crt *b)
{
    return a == b || (a->raw.len == b->raw.len && memcmp(a->raw.p, b->raw.p, a->raw.len) == 0);
}

static const learned_ca *learned_by_node(const worker_cache *w, const mbedtls_x509_crt *node)
{
    for (size_t i = 0; i < w->nlearned; i++)
        if (w->learned[i].node == node)
            return &w->learned[i];
    return NULL;
}

static const mbedtls_x509_crt *anchor_node(const worker_cache *w, const mbedtls_x509_crt *c)
{
    size_t i = 0;
    for (const mbedtls_x509_crt *a = &w->trust; a && a->raw.p && i < w->nanchors; a = a->next, i++)
        if (same_der(a, c))
            return a;
    return NULL;
}

static bool is_node(const worker_cache *w, const mbedtls_x509_crt *c)
{
    if (learned_by_node(w, c))
        return true;
    size_t i = 0;
    for (const mbedtls_x509_crt *a = &w->trust; a && i < w->nanchors; a = a->next, i++)
        if (a == c)
            return true;
    return false;
}

static bool sent_by_client(const mbedtls_x509_crt *peer, const mbedtls_x509_crt *c)
{
    for (const mbedtls_x509_crt *p = peer ? peer->next : NULL; p && p->raw.p; p = p->next)
        if (same_der(p, c))
            return true;
    return false;
}

static uint32_t date_flags(const mbedtls_x509_crt *c)
{
    uint32_t f = 0;
    if (mbedtls_x509_time_is_past(&c->valid_to))
        f |= MBEDTLS_X509_BADCERT_EXPIRED;
    if (mbedtls_x509_time_is_future(&c->valid_from))
        f |= MBEDTLS_X509_BADCERT_FUTURE;
    return f;
}

static bool self_issued(const mbedtls_x509_crt *c)
{
    return c->issuer_raw.len == c->subject_raw.len && memcmp(c->issuer_raw.p, c->subject_raw.p, c->issuer_raw.len) == 0;
}

/* mbedTLS's path length rule for parent as issuer of t->crt[child]: the CA
 * certificates below parent (self-issued ones not counted) must fit. */
static bool path_length_ok(const cg_verify_trace *t, int child, const mbedtls_x509_crt *parent)
{
    int self_cnt = 0;
    for (int i = 1; i < child; i++)
        if (self_issued(t->crt[i]))
            self_cnt++;
    int max_pathlen = cg_cert_max_pathlen(parent);
    return !(max_pathlen > 0 && max_pathlen < 1 + child - self_cnt);
}

static void complete_path(worker_cache *w, const mbedtls_x509_crt *peer, cg_verify_trace *t)
{
    int top = t->depth_count - 1;
    if (top < 1 || !t->crt[top])
        return;
    const learned_ca *l = learned_by_node(w, t->crt[top]);
    if (!l)
        return;
    if (!sent_by_client(peer, t->crt[top])) {
        /* Without the learned copy, mbedTLS finds no issuer for the certificate below. */
        t->crt[top] = NULL;
        t->flags[top] = 0;
        t->depth_count = top;
        t->flags[top - 1] |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
        return;
    }
    for (int k = 0; k < l->nup; k++) {
        int j = top + 1 + k;
        const mbedtls_x509_crt *parent = l->up[k];
        bool anchor = k == l->nup - 1;
        if (j >= CG_VERIFY_MAX_DEPTH) {
            t->flags[j - 1] |= MBEDTLS_X509_BADCERT_OTHER; /* longer than any depth policy allows */
            return;
        }
        if ((!anchor && !sent_by_client(peer, parent)) || !path_length_ok(t, j - 1, parent)) {
            t->flags[j - 1] |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
            return;
        }
        t->crt[j] = parent;
        t->flags[j] = date_flags(parent);
        t->depth_count = j + 1;
    }
}

/* The trust-list node for CA certificate c, learning it with the path above
 * it (nodes[1..nup]) when new. NULL when the list is full. */
static const mbedtls_x509_crt *learn_ca(worker_cache *w, const mbedtls_x509_crt *c, const mbedtls_x509_crt *const *up,
                                        int nup)
{
    for (size_t i = 0; i < w->nlearned; i++)
        if (same_der(w->learned[i].node, c))
            return w->learned[i].node;
    if (w->nlearned >= CG_CHAIN_CACHE_MAX_CAS)
        return NULL;
    mbedtls_x509_crt *tail = &w->trust;
    while (tail->next)
        tail = tail->next;
    if (mbedtls_x509_crt_parse_der(&w->trust, c->raw.p, c->raw.len) != 0)
        return NULL;
    mbedtls_x509_crt *node = tail->next ? tail->next : tail;
    learned_ca *l = &w->learned[w->nlearned++];
    l->node = node;
    l->nup = nup;
    memcpy(l->up, up, (size_t)nup * sizeof up[0]);
    return node;
}

static void learn(worker_cache *w, const cg_verify_trace *t)
{
    int n = t->depth_count;
    if (n < 2 || n > CG_VERIFY_MAX_DEPTH || !t->crt[0] || (t->flags[0] & SIGNATURE_FLAGS))
        return;
    for (int i = 1; i < n; i++)
        if (!t->crt[i] || t->flags[i] != 0)
            return;
    const mbedtls_x509_crt *nodes[CG_VERIFY_MAX_DEPTH] = { 0 };
    if (!(nodes[n - 1] = anchor_node(w, t->crt[n - 1])))
        return;
    for (int i = n - 2; i >= 1; i--)
        if (!(nodes[i] = learn_ca(w, t->crt[i], &nodes[i + 1], n - 1 - i)))
            break;
}

bool cg_chain_cache_complete(cg_chain_cache *cc, unsigned i, const mbedtls_x509_crt *peer, cg_verify_trace *t)
{
    worker_cache *w = worker(cc, i);
    if (!w || !t || t->depth_count <= 0)
        return false;
    /* A leaf whose issuer is in the trust list: nothing above it is new. */
    bool known = t->depth_count >= 2 && t->crt[1] && is_node(w, t->crt[1]);
    const mbedtls_x509_crt *top = t->crt[t->depth_count - 1];
    bool hit = t->depth_count >= 2 && top && learned_by_node(w, top);
    if (hit)
        w->hits++;
    else if (t->depth_count >= 2 && top && anchor_node(w, top) == top)
        w->misses++;
    complete_path(w, peer, t);
    if (!known)
        learn(w, t);
    return hit;
}
