/* The process-wide CRL store (crl_store.h): CRLs by issuer with their
 * verification memo, the settings of the revocation section, the record of
 * fetches in flight and their outcomes (shared by the workers' fetchers),
 * and the background refresh schedule. One mutex guards it all.
 */
#include "crl_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "crl_files.h"
#include "ocsp_cache.h"
#include "ocsp_files.h"

/* Verified OCSP answers kept at most (one per client certificate seen until its nextUpdate). */
#define OCSP_CACHE_MAX 100000
#include "base/base.h"

#define REFRESH_RETRY_S 60      /* a failed background refresh is retried after */
/* Outcomes kept of shared transfers that are not CRL fetches (OCSP queries, one per certificate):
 * the oldest go first. A worker woken for one that went reads the OCSP cache instead. */
#define OTHER_OUTCOMES_MAX 256

static bool is_crl_key(const unsigned char key[33]) { return key[32] == 'B' || key[32] == 'D'; }

/* The result of the last fetch of one CRL (issuer id + kind), for fetchers
 * of other workers that waited for it. */
typedef struct outcome {
    unsigned char key[33];
    uint64_t seq;
    bool ok, cancelled;
    int nattempts;
    cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS];
    struct outcome *next;
    /* for cg_crl_store_issuers() */
    char issuer[256];
    uint64_t fetches, failures;
} outcome;

/* A fetch in progress on some worker; others subscribe instead of fetching
 * (their wake-up handles). */
typedef struct inflight {
    unsigned char key[33];
    const cg_crl_fetcher *owner;
    uv_async_t **subs;
    size_t nsubs, subs_cap;
    struct inflight *next;
} inflight;

struct cg_crl_store {
    pthread_mutex_t mu;
    crl **crls;
    size_t n, cap;
    _Atomic uint64_t generation;
    crl_store_settings set;
    bool persist;
    inflight *inflight;
    outcome *outcomes;
    uint64_t outcome_seq;
    bool curl_ready;
    cg_ocsp_cache *ocsp;
};

static void ocsp_dir_prune(const char *cache_dir);

static void settings_free(crl_store_settings *st) { free(st->cache_dir); }

static void settings_from(crl_store_settings *st, const cg_config *cfg)
{
    const cg_revocation_cfg *r = &cfg->revocation;
    memset(st, 0, sizeof *st);
    st->cache_dir = r->cache_dir ? strdup(r->cache_dir) : NULL;
    st->fetch_timeout_ms = r->fetch_timeout_ms ? r->fetch_timeout_ms : 10000;
    st->max_crl_size = r->max_crl_size ? r->max_crl_size : (64u << 20);
    st->max_redirects = r->max_redirects;
    st->allow_http = r->allow_http;
    st->allow_https = r->allow_https;
    st->allow_ldap = r->allow_ldap;
    if (!st->allow_http && !st->allow_https && !st->allow_ldap)
        st->allow_http = st->allow_ldap = true; /* the documented default */
    st->refresh_before_s = r->refresh_before_s;
    st->ocsp_timeout_ms = r->ocsp_timeout_ms ? r->ocsp_timeout_ms : 5000;
    st->ocsp_max_response = r->ocsp_max_response ? r->ocsp_max_response : (64u << 10);
    st->ocsp_nonce = r->ocsp_nonce;
}

cg_ocsp_cache *crl_store_ocsp_cache(cg_crl_store *s) { return s->ocsp; }

uint64_t cg_crl_store_generation(const cg_crl_store *s)
{
    return s ? atomic_load(&((cg_crl_store *)s)->generation) : 0;
}

void cg_crl_store_set_persist(cg_crl_store *s, bool on) { s->persist = on; }

void cg_crl_store_stats(cg_crl_store *s, size_t *total, size_t *from_files, size_t *from_cache_dir)
{
    size_t f = 0, c = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        f += s->crls[i]->origin == CRL_ORIGIN_FILE;
        c += s->crls[i]->origin == CRL_ORIGIN_CACHE;
    }
    *total = s->n;
    pthread_mutex_unlock(&s->mu);
    *from_files = f;
    *from_cache_dir = c;
}

static cg_crl_issuer_stats *issuer_slot(cg_crl_issuer_stats *out, size_t *n, size_t cap, const char *issuer)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(out[i].issuer, issuer))
            return &out[i];
    if (*n == cap)
        return NULL;
    cg_crl_issuer_stats *e = &out[(*n)++];
    memset(e, 0, sizeof *e);
    snprintf(e->issuer, sizeof e->issuer, "%s", issuer);
    return e;
}

size_t cg_crl_store_issuers(cg_crl_store *s, cg_crl_issuer_stats *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        const crl *c = s->crls[i];
        cg_crl_issuer_stats *e = c->is_delta ? NULL : issuer_slot(out, &n, cap, c->issuer);
        if (!e)
            continue;
        /* The one that lasts longest decides; none at all: never expires. */
        if (!e->held || (e->next_update && (!c->next_update || c->next_update > e->next_update)))
            e->next_update = c->next_update;
        e->held = true;
    }
    for (const outcome *o = s->outcomes; o; o = o->next) {
        cg_crl_issuer_stats *e = o->fetches && is_crl_key(o->key) ? issuer_slot(out, &n, cap, o->issuer) : NULL;
        if (!e)
            continue;
        e->fetches += o->fetches;
        e->fetch_failures += o->failures;
        if (o->key[32] == 'B') {
            e->fetched = true;
            e->last_fetch_ok = o->ok;
            e->last_error[0] = '\0';
            for (int k = o->nattempts - 1; k >= 0 && !o->ok; k--)
                if (!o->attempts[k].ok) {
                    snprintf(e->last_error, sizeof e->last_error, "%s: %s", o->attempts[k].url,
                             o->attempts[k].result);
                    break;
                }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Issued with the same key, as far as can be told without verifying. */
static bool same_signer(const crl *a, const crl *b)
{
    if (a->bound && b->bound)
        return memcmp(a->issuer_id, b->issuer_id, 32) == 0;
    for (int i = 0; i < a->ngood; i++)
        if (b->bound && memcmp(a->good[i], b->issuer_id, 32) == 0)
            return true;
    for (int i = 0; i < b->ngood; i++)
        if (a->bound && memcmp(b->good[i], a->issuer_id, 32) == 0)
            return true;
    return a->aki_len && a->aki_len == b->aki_len && memcmp(a->aki, b->aki, a->aki_len) == 0;
}

static void store_remove_at(cg_crl_store *s, size_t i)
{
    crl_unref(s->crls[i]);
    memmove(&s->crls[i], &s->crls[i + 1], (s->n - i - 1) * sizeof *s->crls);
    s->n--;
}

/* Adds c (taking its reference). Returns 1 when added, 0 when an identical
 * or newer CRL of the same issuer key is already there (c dropped), -1 out
 * of memory. The generation moves when c joins CRLs of the same issuer
 * name (it may say more than they did); a CRL for an issuer that had none
 * cannot change any verdict already given. Locked. */
static int store_insert_locked(cg_crl_store *s, crl *c)
{
    for (size_t i = 0; i < s->n; i++) {
        crl *e = s->crls[i];
        if (memcmp(e->content_hash, c->content_hash, 32) == 0) {
            /* The same CRL again: keep what we know about where it comes
             * from (a fetched one knows its URLs; a listed file outlives
             * the cache). */
            if ((c->origin == CRL_ORIGIN_FETCH && c->bound) ||
                (c->origin == CRL_ORIGIN_FILE && e->origin == CRL_ORIGIN_CACHE)) {
                memcpy(c->good, e->good, sizeof c->good);
                memcpy(c->bad, e->bad, sizeof c->bad);
                c->ngood = e->ngood;
                c->nbad = e->nbad;
                if (!c->bound && e->bound) {
                    memcpy(c->issuer_id, e->issuer_id, 32);
                    c->bound = true;
                }
                s->crls[i] = c;
                crl_unref(e);
            } else {
                crl_unref(c);
            }
            return 0;
        }
    }
    size_t same_dn = 0;
    bool known_issuer = false;
    for (size_t i = 0; i < s->n;) {
        crl *e = s->crls[i];
        if (memcmp(e->dn_hash, c->dn_hash, 32) != 0) {
            i++;
            continue;
        }
        known_issuer = true;
        if (e->is_delta == c->is_delta && e->idp == c->idp && same_signer(e, c)) {
            if (crl_newer(e, c)) {
                crl_unref(c);
                return 0;
            }
            /* A file the operator listed stays until the next reload. */
            if (e->origin != CRL_ORIGIN_FILE) {
                store_remove_at(s, i);
                continue;
            }
        }
        same_dn++;
        i++;
    }
    while (same_dn >= CRL_PER_ISSUER_MAX) {
        size_t oldest = SIZE_MAX;
        for (size_t i = 0; i < s->n; i++)
            if (memcmp(s->crls[i]->dn_hash, c->dn_hash, 32) == 0 && s->crls[i]->origin != CRL_ORIGIN_FILE &&
                (oldest == SIZE_MAX || crl_newer(s->crls[oldest], s->crls[i])))
                oldest = i;
        if (oldest == SIZE_MAX)
            break;
        store_remove_at(s, oldest);
        same_dn--;
    }
    if (!cg_vec_reserve(s->crls, s->cap, s->n + 1, 32)) {
        crl_unref(c);
        return -1;
    }
    s->crls[s->n++] = c;
    if (known_issuer)
        atomic_fetch_add(&s->generation, 1);
    return 1;
}

bool crl_store_add(cg_crl_store *s, crl *c)
{
    pthread_mutex_lock(&s->mu);
    int r = store_insert_locked(s, c);
    pthread_mutex_unlock(&s->mu);
    return r > 0;
}

/* The CRLs named after issuer (its subject DN), of one kind, each with its
 * signature checked against the issuer's key (once per CRL and key: the
 * result is memoized; a CRL's hash is computed when it is parsed, so this is
 * one public-key operation). Returns how many; the caller unrefs them. */
int crl_store_candidates(cg_crl_store *s, const mbedtls_x509_crt *issuer, const unsigned char id[32], bool delta,
                            crl_cand *out, bool verify)
{
    unsigned char dn[32];
    int n = 0;
    cg_sha256(issuer->subject_raw.p, issuer->subject_raw.len, dn);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n && n < CRL_STORE_MAX_CANDS; i++) {
        crl *c = s->crls[i];
        if (c->is_delta != delta || memcmp(c->dn_hash, dn, 32) != 0)
            continue;
        out[n].c = crl_ref(c);
        out[n].memo = crl_memo_get(c, id);
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    bool learned = false;
    for (int i = 0; i < n && verify; i++) {
        if (out[i].memo)
            continue;
        /* The issuer's DN matches by construction; the key decides. */
        out[i].memo = crl_check_signature(out[i].c, &issuer->pk) == 0 ? 1 : -1;
        learned = true;
    }
    if (learned) {
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n; i++)
            crl_memo_set(out[i].c, id, out[i].memo > 0);
        pthread_mutex_unlock(&s->mu);
    }
    return n;
}

void crl_store_memo_learn(cg_crl_store *s, crl *c, const unsigned char id[32], bool good)
{
    pthread_mutex_lock(&s->mu);
    crl_memo_set(c, id, good);
    pthread_mutex_unlock(&s->mu);
}

void crl_cands_free(crl_cand *v, int n)
{
    for (int i = 0; i < n; i++)
        crl_unref(v[i].c);
}

crl *crl_store_find_fresh(cg_crl_store *s, const mbedtls_x509_crt *issuer, bool delta, char *why, size_t why_cap)
{
    unsigned char id[32];
    crl_cand v[CRL_STORE_MAX_CANDS];
    crl_issuer_id(issuer, id);
    int n = crl_store_candidates(s, issuer, id, delta, v, true);
    int64_t now = (int64_t)time(NULL);
    crl *best = NULL;
    for (int i = 0; i < n; i++) {
        crl *c = v[i].c;
        if (v[i].memo > 0 && c->this_update <= now + CRL_SKEW_S && (!c->next_update || c->next_update > now) &&
            (!best || crl_newer(c, best)))
            best = c;
    }
    crl_ref(best);
    if (!best && why)
        snprintf(why, why_cap, "%d CRL(s) named after this issuer, none valid for its key now", n);
    crl_cands_free(v, n);
    return best;
}

static void store_adopt(cg_crl_store *s, crl_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        store_insert_locked(s, set->v[i]);
    free(set->v);
    set->v = NULL;
    set->n = set->cap = 0;
}

cg_crl_store *cg_crl_store_new(const cg_config *cfg, cg_diag *diag)
{
    cg_crl_store *s = calloc(1, sizeof *s);
    if (!s) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->persist = true;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "revocation: libcurl could not be initialized");
        cg_crl_store_free(s);
        return NULL;
    }
    s->curl_ready = true;
    s->ocsp = cg_ocsp_cache_new(OCSP_CACHE_MAX);
    if (!s->ocsp) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "out of memory");
        cg_crl_store_free(s);
        return NULL;
    }
    settings_from(&s->set, cfg);
    crl_set set = { 0 };
    if (s->set.cache_dir)
        crl_cache_load(s->set.cache_dir, &set, diag, cfg->file);
    if (!crl_files_load(cfg, &set, diag)) {
        crl_set_free(&set);
        cg_crl_store_free(s);
        return NULL;
    }
    store_adopt(s, &set);
    if (s->set.cache_dir)
        ocsp_dir_prune(s->set.cache_dir);
    size_t files = 0, cached = 0;
    for (size_t i = 0; i < s->n; i++) {
        files += s->crls[i]->origin == CRL_ORIGIN_FILE;
        cached += s->crls[i]->origin == CRL_ORIGIN_CACHE;
    }
    char dir[600];
    cg_log_quote(dir, sizeof dir, s->set.cache_dir ? s->set.cache_dir : "-",
                 strlen(s->set.cache_dir ? s->set.cache_dir : "-"));
    cg_log(CG_LOG_INFO, "crl_store", "crls=%zu from_crl_files=%zu from_cache_dir=%zu cache_dir=%s", s->n, files,
           cached, dir);
    return s;
}

bool cg_crl_store_configure(cg_crl_store *s, const cg_config *cfg, cg_diag *diag)
{
    crl_set files = { 0 }, cached = { 0 };
    if (!crl_files_load(cfg, &files, diag)) {
        crl_set_free(&files);
        return false;
    }
    crl_store_settings next;
    settings_from(&next, cfg);
    bool new_dir = next.cache_dir && (!s->set.cache_dir || strcmp(next.cache_dir, s->set.cache_dir) != 0);
    if (new_dir) {
        crl_cache_load(next.cache_dir, &cached, diag, cfg->file);
        if (s->persist)
            ocsp_dir_prune(next.cache_dir);
    }

    pthread_mutex_lock(&s->mu);
    /* crl_files: drop those no longer listed (or changed), add the new ones. */
    bool changed = false;
    for (size_t i = 0; i < s->n;) {
        crl *e = s->crls[i];
        bool keep = e->origin != CRL_ORIGIN_FILE;
        for (size_t k = 0; k < files.n && !keep; k++)
            keep = memcmp(files.v[k]->content_hash, e->content_hash, 32) == 0;
        if (!keep) {
            store_remove_at(s, i);
            changed = true;
        } else {
            i++;
        }
    }
    size_t n_before = s->n;
    uint64_t before = atomic_load(&s->generation);
    store_adopt(s, &files);
    store_adopt(s, &cached);
    if ((changed || s->n != n_before) && atomic_load(&s->generation) == before)
        atomic_fetch_add(&s->generation, 1);
    settings_free(&s->set);
    s->set = next;
    pthread_mutex_unlock(&s->mu);
    return true;
}

void cg_crl_store_free(cg_crl_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        crl_unref(s->crls[i]);
    free(s->crls);
    for (inflight *f = s->inflight, *next; f; f = next) {
        next = f->next;
        free(f->subs);
        free(f);
    }
    for (outcome *o = s->outcomes, *next; o; o = next) {
        next = o->next;
        free(o);
    }
    settings_free(&s->set);
    cg_ocsp_cache_free(s->ocsp);
    pthread_mutex_destroy(&s->mu);
    if (s->curl_ready)
        curl_global_cleanup();
    free(s);
}

/* ---- fetches shared between workers ---- */

static inflight *find_inflight(cg_crl_store *s, const unsigned char key[33])
{
    for (inflight *i = s->inflight; i; i = i->next)
        if (memcmp(i->key, key, 33) == 0)
            return i;
    return NULL;
}

static outcome *find_outcome(cg_crl_store *s, const unsigned char key[33])
{
    for (outcome *o = s->outcomes; o; o = o->next)
        if (memcmp(o->key, key, 33) == 0)
            return o;
    return NULL;
}

/* Registers f as the fetcher of key, or (when another worker already is)
 * as a subscriber to its result. Returns true when f is to fetch. Locked. */
static bool claim_locked(cg_crl_store *s, const unsigned char key[33], const cg_crl_fetcher *f, uv_async_t *wake,
                         bool subscribe)
{
    inflight *i = find_inflight(s, key);
    if (!i) {
        i = calloc(1, sizeof *i);
        if (!i)
            return true; /* fetch anyway, unshared */
        memcpy(i->key, key, 33);
        i->owner = f;
        i->next = s->inflight;
        s->inflight = i;
        return true;
    }
    if (i->owner == f)
        return true;
    if (subscribe) {
        for (size_t k = 0; k < i->nsubs; k++)
            if (i->subs[k] == wake)
                return false;
        if (!cg_vec_reserve(i->subs, i->subs_cap, i->nsubs + 1, 4))
            return true;
        i->subs[i->nsubs++] = wake;
    }
    return false;
}

bool crl_store_claim(cg_crl_store *s, const unsigned char key[33], const cg_crl_fetcher *f, uv_async_t *wake,
                     bool subscribe)
{
    pthread_mutex_lock(&s->mu);
    bool mine = claim_locked(s, key, f, wake, subscribe);
    pthread_mutex_unlock(&s->mu);
    return mine;
}

/* Keeps at most OTHER_OUTCOMES_MAX outcomes of other transfers, dropping the oldest. Locked. */
static void prune_other_outcomes_locked(cg_crl_store *s)
{
    size_t n = 0;
    for (outcome *o = s->outcomes; o; o = o->next)
        n += !is_crl_key(o->key);
    while (n > OTHER_OUTCOMES_MAX) {
        outcome **oldest = NULL;
        for (outcome **pp = &s->outcomes; *pp; pp = &(*pp)->next)
            if (!is_crl_key((*pp)->key) && (!oldest || (*pp)->seq < (*oldest)->seq))
                oldest = pp;
        outcome *o = *oldest;
        *oldest = o->next;
        free(o);
        n--;
    }
}

void crl_store_publish(cg_crl_store *s, const unsigned char key[33], const cg_crl_fetcher *f, bool ok, bool cancelled,
                       const cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS], int nattempts,
                       const char issuer_name[256])
{
    pthread_mutex_lock(&s->mu);
    outcome *o = find_outcome(s, key);
    if (!o && (o = calloc(1, sizeof *o))) {
        memcpy(o->key, key, 33);
        o->next = s->outcomes;
        s->outcomes = o;
    }
    if (o) {
        o->seq = ++s->outcome_seq;
        o->ok = ok;
        o->cancelled = cancelled;
        o->nattempts = nattempts;
        memcpy(o->attempts, attempts, sizeof o->attempts);
        if (!cancelled) {
            memcpy(o->issuer, issuer_name, sizeof o->issuer);
            o->fetches++;
            o->failures += !ok;
        }
        if (!is_crl_key(key))
            prune_other_outcomes_locked(s);
    }
    for (inflight **pp = &s->inflight; *pp; pp = &(*pp)->next) {
        inflight *i = *pp;
        if (memcmp(i->key, key, 33) != 0 || i->owner != f)
            continue;
        *pp = i->next;
        /* Under the lock: a subscriber unsubscribes under it before closing. */
        for (size_t k = 0; k < i->nsubs; k++)
            uv_async_send(i->subs[k]);
        free(i->subs);
        free(i);
        break;
    }
    pthread_mutex_unlock(&s->mu);
}


int crl_store_shared(cg_crl_store *s, const unsigned char key[33], const cg_crl_fetcher *f, uv_async_t *wake,
                     bool may_claim, bool *ok, cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS], int *nattempts)
{
    int r = CRL_SHARED_DONE;
    pthread_mutex_lock(&s->mu);
    if (find_inflight(s, key)) {
        r = CRL_SHARED_RUNNING;
    } else {
        outcome *o = find_outcome(s, key);
        if (o && o->cancelled && may_claim) {
            /* Its worker stopped: fetch it here. */
            r = claim_locked(s, key, f, wake, true) ? CRL_SHARED_MINE : CRL_SHARED_RUNNING;
        } else if (o) {
            *ok = o->ok;
            *nattempts = o->nattempts;
            memcpy(attempts, o->attempts, sizeof o->attempts);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

void crl_store_unsubscribe(cg_crl_store *s, uv_async_t *wake)
{
    pthread_mutex_lock(&s->mu);
    for (inflight *i = s->inflight; i; i = i->next)
        for (size_t k = 0; k < i->nsubs;)
            if (i->subs[k] == wake)
                i->subs[k] = i->subs[--i->nsubs];
            else
                k++;
    pthread_mutex_unlock(&s->mu);
}

/* ---- settings and background refresh ---- */

void crl_store_settings_get(cg_crl_store *s, crl_store_settings *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->set;
    out->cache_dir = NULL;
    pthread_mutex_unlock(&s->mu);
}

char *crl_store_ocsp_dir(cg_crl_store *s, bool *writable)
{
    char *dir = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->set.cache_dir)
        dir = ocsp_files_dir(s->set.cache_dir);
    *writable = s->persist;
    pthread_mutex_unlock(&s->mu);
    return dir;
}

/* At start and when cache_dir changes: expired persisted OCSP answers go (unless certgate explain
 * reads the directory: it never writes). */
static void ocsp_dir_prune(const char *cache_dir)
{
    char *dir = ocsp_files_dir(cache_dir);
    if (!dir)
        return;
    size_t kept = 0, removed = ocsp_files_prune(dir, (int64_t)time(NULL), &kept);
    char q[600];
    cg_log_quote(q, sizeof q, dir, strlen(dir));
    cg_log(CG_LOG_INFO, "ocsp_store", "answers=%zu removed_expired=%zu dir=%s", kept, removed, q);
    free(dir);
}

char *crl_store_cache_dir(cg_crl_store *s)
{
    char *dir = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->persist && s->set.cache_dir)
        dir = strdup(s->set.cache_dir);
    pthread_mutex_unlock(&s->mu);
    return dir;
}

bool crl_store_refresh_due(cg_crl_store *s, crl *c, int64_t now)
{
    bool due;
    pthread_mutex_lock(&s->mu);
    due = now - c->refresh_tried >= REFRESH_RETRY_S;
    if (due)
        c->refresh_tried = now;
    pthread_mutex_unlock(&s->mu);
    return due;
}

int crl_store_due(cg_crl_store *s, int64_t now, crl_refresh *list, int cap)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    uint32_t before = s->set.refresh_before_s;
    for (size_t i = 0; i < s->n && n < cap; i++) {
        crl *c = s->crls[i];
        if (c->origin != CRL_ORIGIN_FETCH || !c->nurls || !c->spki || !c->bound || !c->next_update ||
            now < c->next_update - (int64_t)before || now - c->refresh_tried < REFRESH_RETRY_S)
            continue;
        unsigned char key[33];
        memcpy(key, c->issuer_id, 32);
        key[32] = c->is_delta ? 'D' : 'B';
        if (find_inflight(s, key))
            continue;
        crl_refresh *d = &list[n];
        memcpy(d->key, key, 33);
        d->urls = cg_strv_dup(c->urls, c->nurls);
        d->nurls = c->nurls;
        d->dn = malloc(c->issuer_len);
        d->dn_len = c->issuer_len;
        d->spki = malloc(c->spki_len);
        d->spki_len = c->spki_len;
        if (!d->urls || !d->dn || !d->spki) {
            if (d->urls)
                cg_strv_free(d->urls, d->nurls);
            free(d->dn);
            free(d->spki);
            continue;
        }
        memcpy(d->dn, c->der + c->issuer_off, c->issuer_len);
        memcpy(d->spki, c->spki, c->spki_len);
        snprintf(d->name, sizeof d->name, "%s", c->issuer);
        c->refresh_tried = now;
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}
