/* Kerberos constrained delegation (delegation.h).
 *
 * Per (user principal, SPN), one cache entry. Its credential holds the
 * S4U2Proxy ticket for the user to the SPN (and nothing else: no TGT), so a
 * token from it never reaches the KDC:
 *
 *   proxy TGT    AS exchange with the proxy's keytab, kept in a private
 *                memory ccache "MEMORY:certgate-proxy-<pid>-<n>", replaced
 *                refresh_before its end (shared by all entries)
 *   S4U2Self     ticket for the user to the proxy (the evidence ticket);
 *                offered to S4U2Proxy even when not forwardable (RBCD
 *                accepts that: deleg_model.h)
 *   S4U2Proxy    ticket for the user to the SPN, stored alone in the
 *                entry's memory ccache; a GSSAPI (krb5 + SPNEGO) initiator
 *                credential is acquired from it
 *   token        gss_init_sec_context(SPNEGO) with a fresh context for every
 *                request (backends keep replay caches)
 *
 * Threading. The three KDC steps run on the libuv thread pool
 * (uv_queue_work on the loop of the request that needed them). Only the token
 * step runs on the caller's loop, inline: it is a local computation (about
 * 0.05-0.1 ms, see docs/delegation.md) and cannot block on the network
 * because the credential has no TGT to ask the KDC with.
 *
 * The cache is shared by all loops (mutex k->mu). A request that must wait
 * (no usable credential yet) joins the entry's waiter list; the first one
 * starts the exchange, later ones share it. Each waiting request owns a
 * uv_async_t and a uv_timer_t on its own loop: the exchange's completion
 * (after_work, on the loop that queued it) sets each waiter's result under
 * the mutex and wakes it with uv_async_send, so every callback runs on its
 * requesting loop's thread. The timer answers 503 after kdc_timeout even if
 * libkrb5 is still waiting for the KDC (the exchange's result, when it
 * comes, still fills the cache).
 *
 * Names (kdc_names.h): the mapped principal becomes a request name in a
 * realm served here, or an enterprise name; once the KDC named its
 * canonical principal, requests use the canonical name's entry
 * (kdc_state.h), so both names share one ticket.
 *
 * Failures: "KDC unreachable" marks that realm's KDC down (kdc_state.h)
 * for negative_cache: new exchanges for names of that realm fail fast with
 * 503 until it ends, with a sentence that names no user, while users with a
 * cached credential and users of other realms keep working. Other failures
 * (unknown user, realm not served, delegation denied, ...) are remembered
 * per entry for negative_cache. cg_delegation_flush() forgets credentials
 * and failures.
 *
 * The steps themselves are kdc_steps.c, their error sentences kdc_errors.c.
 */
#include "delegation.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <krb5.h>

#include "deleg_model.h"
#include "delegation_internal.h"
#include "kdc_diagnose.h"
#include "kdc_errors.h"
#include "kdc_names.h"
#include "kdc_state.h"
#include "kdc_steps.h"
#include "base/base.h"

/* ------------------------------------------------------------------------ */
/* Cache timing                                                             */

int64_t cg_deleg_refresh_at(int64_t start, int64_t end, uint32_t refresh_before_s)
{
    int64_t life = end - start;
    if (life <= 0)
        return end;
    int64_t before = refresh_before_s;
    if (before > life / 2)
        before = life / 2;
    return end - before;
}

bool cg_deleg_usable(int64_t now, int64_t end) { return now < end - CG_DELEG_HARD_MARGIN_S; }

/* ------------------------------------------------------------------------ */
/* The cache                                                                */

typedef struct cg_ucred {     /* one user's S4U2Proxy ticket to one SPN */
    atomic_uint refs;
    gss_cred_id_t cred;
    char ccname[96];
    int64_t start, end;       /* unix seconds */
} cg_ucred;

struct cg_deleg_req {
    cg_kerberos *k;
    uv_loop_t *loop;
    uv_async_t async;         /* woken by the exchange's completion (any loop) */
    uv_timer_t timer;         /* kdc_timeout */
    int open_handles;
    cg_deleg_cb cb;
    void *ctx;
    char *principal;          /* "user@REALM" */
    char *target;             /* "SPN@REALM" */
    unsigned gen;             /* entry generation when it started waiting */
    /* under k->mu: */
    cg_entry *entry;          /* non-NULL while in entry's waiter list */
    cg_deleg_req *next;
    bool answered;            /* result set (async sent or about to be) */
    bool cancelled;
    cg_ucred *cred;           /* result: credential (a reference) ... */
    cg_refusal why;           /* ... or refusal */
};

struct cg_entry {
    cg_entry *next;           /* hash chain */
    uint32_t hash;
    char *principal;          /* "user@REALM" */
    char *target;             /* "SPN@REALM" */
    cg_ucred *cred;           /* NULL until an exchange succeeded */
    int64_t refresh_at;
    bool exchanging;          /* an exchange (first or refresh) is in flight */
    unsigned gen;             /* bumped by flush */
    cg_deleg_req *waiters;
    int64_t fail_until_ms;    /* negative cache for this entry */
    cg_refusal fail;
};

typedef struct cg_xwork {     /* one KDC exchange on the thread pool */
    uv_work_t w;
    cg_kerberos *k;
    cg_entry *entry;
    unsigned gen;
    char *principal, *target; /* copies: the entry may be flushed meanwhile */
    cg_ucred *cred;           /* result */
    char *canonical;          /* the KDC's name for principal, when it differs */
    char down_realm[256];     /* the realm whose KDC did not answer */
    cg_refusal why;
    double ms;                /* how long it took */
} cg_xwork;

static int64_t now_ms(void) { return (int64_t)(uv_hrtime() / 1000000u); }
static int64_t now_s(void) { return (int64_t)time(NULL); }

static uint32_t hash2(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const unsigned char *p = (const unsigned char *)b; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static void ucred_release(cg_kerberos *k, cg_ucred *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    OM_uint32 minor;
    if (c->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &c->cred);
    pthread_mutex_lock(&k->kctx_mu);
    cg_kdc_destroy_ccache(k->kctx, c->ccname);
    pthread_mutex_unlock(&k->kctx_mu);
    free(c);
}

static cg_ucred *ucred_ref(cg_ucred *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

static void proxy_release_locked(cg_kerberos *k, cg_proxy *p)
{
    if (!p || --p->refs)
        return;
    pthread_mutex_lock(&k->kctx_mu);
    cg_kdc_destroy_ccache(k->kctx, p->ccname);
    pthread_mutex_unlock(&k->kctx_mu);
    free(p);
}

static void names_of(const cg_kerberos *k, const char *user, const char *target, const char *realm, cg_kdc_names *n)
{
    n->proxy = k->principal;
    n->user = user;
    n->target = target;
    n->realm = realm ? realm : k->realm;
    n->keytab = k->keytab;
    n->known = NULL;
}

cg_kdc_realms *cg_deleg_realms(cg_kerberos *k)
{
    pthread_mutex_lock(&k->realms_mu);
    cg_kdc_realms *r = cg_kdc_realms_ref(k->realms);
    pthread_mutex_unlock(&k->realms_mu);
    return r;
}

cg_proxy *cg_deleg_proxy_get(cg_kerberos *k, krb5_context ctx, cg_refusal *why, bool force)
{
    pthread_mutex_lock(&k->proxy_mu);
    cg_proxy *p = k->proxy;
    int64_t now = now_s();
    if (!force && p && now < p->end - (int64_t)k->refresh_before_s && now < p->end - CG_DELEG_HARD_MARGIN_S) {
        p->refs++;
        pthread_mutex_unlock(&k->proxy_mu);
        return p;
    }
    cg_proxy *np = calloc(1, sizeof *np);
    if (!np) {
        pthread_mutex_unlock(&k->proxy_mu);
        cg_refuse(why, CG_REFUSE_DELEGATION_FAILED, "out of memory");
        return NULL;
    }
    cg_kdc_ccache_name("proxy", np->ccname, sizeof np->ccname);
    int64_t kdc_time = 0;
    krb5_error_code rc = cg_kdc_get_tgt(ctx, k->keytab, k->principal, np->ccname, &np->end, &kdc_time);
    if (rc) {
        cg_kdc_names n;
        names_of(k, NULL, NULL, NULL, &n);
        cg_kdc_diagnose(ctx, NULL, CG_KDC_PHASE_PROXY_TGT, rc, NULL, &n, why);
        cg_kdc_destroy_ccache(ctx, np->ccname);
        free(np);
        /* an old TGT that is still valid is better than none */
        if (p && now < p->end - CG_DELEG_HARD_MARGIN_S) {
            p->refs++;
            pthread_mutex_unlock(&k->proxy_mu);
            return p;
        }
        pthread_mutex_unlock(&k->proxy_mu);
        return NULL;
    }
    np->refs = 2; /* k->proxy and the caller */
    k->proxy = np;
    atomic_store(&k->kdc_ok_s, now_s());
    atomic_store(&k->tgt_end_s, np->end);
    if (p)
        proxy_release_locked(k, p);
    pthread_mutex_unlock(&k->proxy_mu);
    cg_log_fields(CG_LOG_INFO, "kerberos_proxy_tgt", CG_LF_STR("principal", k->principal),
                  CG_LF_STR("ccache", np->ccname), CG_LF_INT("expires_in_s", (int64_t)(np->end - now_s())));
    return np;
}

void cg_deleg_proxy_put(cg_kerberos *k, cg_proxy *p)
{
    pthread_mutex_lock(&k->proxy_mu);
    proxy_release_locked(k, p);
    pthread_mutex_unlock(&k->proxy_mu);
}

/* Tells the operator which delegation model the KDC grants by, when it
 * changes (the first grant, or an AD admin moving to RBCD). On the pool. */
static void note_model(cg_kerberos *k, cg_deleg_model m)
{
    if (atomic_exchange(&k->model, (int)m) != (int)m)
        cg_log_fields(CG_LOG_INFO, "kerberos_delegation_model", CG_LF_STR("model", cg_deleg_model_name(m)),
                      CG_LF_STR("about", cg_deleg_model_text(m)));
}

/* The whole exchange for x's (user, target): proxy TGT, S4U2Self,
 * S4U2Proxy, credential. On the thread pool. */
static cg_ucred *exchange(cg_kerberos *k, cg_xwork *x)
{
    const char *user = x->principal, *target = x->target;
    cg_refusal *why = &x->why;
    cg_kdc_realms *realms = cg_deleg_realms(k);
    krb5_context ctx;
    krb5_error_code rc = cg_kdc_realms_context(realms, &ctx);
    if (rc) {
        cg_refuse(why, CG_REFUSE_DELEGATION_FAILED, "cannot initialise Kerberos (krb5_init_context: %s): check "
                  "kerberos.krb5_config / KRB5_CONFIG", strerror(rc < 4096 && rc > 0 ? (int)rc : EINVAL));
        cg_kdc_realms_unref(realms);
        return NULL;
    }
    cg_kdc_user u;
    if (!cg_kdc_user_from_request(user, cg_kdc_realms_view(realms), &u))
        snprintf(u.realm, sizeof u.realm, "%s", k->realm);
    cg_kdc_names n;
    names_of(k, user, target, u.realm, &n);
    cg_ucred *out = NULL;
    krb5_creds *evidence = NULL, *svc = NULL;
    snprintf(x->down_realm, sizeof x->down_realm, "%s", k->realm);
    cg_proxy *p = cg_deleg_proxy_get(k, ctx, why, false);
    if (!p)
        goto done;
    snprintf(x->down_realm, sizeof x->down_realm, "%s", u.realm);
    rc = cg_kdc_s4u2self(ctx, p->ccname, user, &evidence);
    if (rc) {
        char m[256];
        cg_kdc_krb_message(ctx, rc, m, sizeof m);
        if (!cg_kdc_realm_refusal(realms, &u, rc, m, why))
            cg_kdc_diagnose(ctx, p->ccname, CG_KDC_PHASE_S4U2SELF, rc, NULL, &n, why);
        goto done;
    }
    char *cname = NULL;
    if (krb5_unparse_name(ctx, evidence->client, &cname) == 0) {
        if (strcmp(cname, user))
            x->canonical = strdup(cname);
        krb5_free_unparsed_name(ctx, cname);
    }
    if (x->canonical)
        n.user = x->canonical;
    /* Non-forwardable evidence is still offered: RBCD may accept it. */
    bool fwd = cg_deleg_evidence_forwardable(evidence);
    snprintf(x->down_realm, sizeof x->down_realm, "%s", k->realm);
    n.realm = k->realm;
    rc = cg_kdc_s4u2proxy(ctx, p->ccname, evidence, target, &svc);
    if (rc) {
        cg_kdc_diagnose(ctx, p->ccname, CG_KDC_PHASE_S4U2PROXY, rc, evidence, &n, why);
        goto done;
    }
    note_model(k, cg_deleg_model_of(fwd));
    out = calloc(1, sizeof *out);
    if (!out) {
        cg_refuse(why, CG_REFUSE_DELEGATION_FAILED, "out of memory");
        goto done;
    }
    atomic_init(&out->refs, 1);
    cg_kdc_ccache_name("u", out->ccname, sizeof out->ccname);
    char err[600];
    rc = cg_kdc_user_cred(ctx, svc, out->ccname, &out->cred, err, sizeof err);
    if (rc) {
        cg_refuse(why, CG_REFUSE_DELEGATION_FAILED, "%s for %s to %s", err, n.user, target);
        cg_kdc_destroy_ccache(ctx, out->ccname);
        free(out);
        out = NULL;
        goto done;
    }
    out->start = (int64_t)(uint32_t)(svc->times.starttime ? svc->times.starttime : svc->times.authtime);
    out->end = (int64_t)(uint32_t)svc->times.endtime;
done:
    if (svc)
        krb5_free_creds(ctx, svc);
    if (evidence)
        krb5_free_creds(ctx, evidence);
    if (p)
        cg_deleg_proxy_put(k, p);
    krb5_free_context(ctx);
    cg_kdc_realms_unref(realms);
    return out;
}

/* ---- entries (under k->mu) ---- */

static cg_entry *entry_find(cg_kerberos *k, const char *principal, const char *target, bool create)
{
    uint32_t h = hash2(principal, target);
    cg_entry **pp = &k->buckets[h % NBUCKETS];
    int64_t now = now_s(), nms = now_ms();
    while (*pp) {
        cg_entry *e = *pp;
        if (e->hash == h && !strcmp(e->principal, principal) && !strcmp(e->target, target))
            return e;
        /* drop idle entries that hold nothing worth keeping */
        if (!e->exchanging && !e->waiters && (!e->cred || !cg_deleg_usable(now, e->cred->end)) &&
            e->fail_until_ms <= nms) {
            *pp = e->next;
            ucred_release(k, e->cred);
            free(e->principal);
            free(e->target);
            free(e);
            k->nentries--;
            continue;
        }
        pp = &e->next;
    }
    if (!create)
        return NULL;
    cg_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->principal = strdup(principal);
    e->target = strdup(target);
    if (!e->principal || !e->target) {
        free(e->principal);
        free(e->target);
        free(e);
        return NULL;
    }
    e->hash = h;
    e->next = k->buckets[h % NBUCKETS];
    k->buckets[h % NBUCKETS] = e;
    k->nentries++;
    return e;
}

static void xwork_run(uv_work_t *w);
static void xwork_done(uv_work_t *w, int status);

/* Starts an exchange for e on loop (the caller's). Under k->mu. */
static bool start_exchange_locked(cg_kerberos *k, uv_loop_t *loop, cg_entry *e)
{
    cg_xwork *x = calloc(1, sizeof *x);
    if (!x)
        return false;
    x->principal = strdup(e->principal);
    x->target = strdup(e->target);
    if (!x->principal || !x->target) {
        free(x->principal);
        free(x->target);
        free(x);
        return false;
    }
    x->k = k;
    x->entry = e;
    x->gen = e->gen;
    x->w.data = x;
    if (uv_queue_work(loop, &x->w, xwork_run, xwork_done) != 0) {
        free(x->principal);
        free(x->target);
        free(x);
        return false;
    }
    e->exchanging = true;
    atomic_fetch_add(&k->inflight, 1);
    atomic_fetch_add(&k->exchanges, 1);
    return true;
}

static void xwork_run(uv_work_t *w)
{
    cg_xwork *x = w->data;
    uint64_t t0 = uv_hrtime();
    x->cred = exchange(x->k, x);
    x->ms = (double)(uv_hrtime() - t0) / 1e6;
}

static void req_wake(cg_deleg_req *r)
{
    uv_async_send(&r->async);
}

static void xwork_done(uv_work_t *w, int status)
{
    cg_xwork *x = w->data;
    cg_kerberos *k = x->k;
    if (status == UV_ECANCELED && !x->cred)
        cg_refuse(&x->why, CG_REFUSE_DELEGATION_FAILED, "the Kerberos exchange was cancelled (shutting down)");
    if (x->cred) {
        atomic_store(&k->kdc_ok_s, now_s());
        cg_counter_add_shared(&k->s4u_ok, 1);
    } else {
        cg_counter_add_shared(&k->s4u_failed, 1);
    }
    cg_hist_observe_shared(&k->s4u_latency, (uint64_t)(x->ms * 1e6));
    char shown[512];
    cg_kdc_name_display(x->principal, shown, sizeof shown);
    if (x->cred && x->canonical)
        cg_log_fields(CG_LOG_INFO, "kerberos_canonical", CG_LF_STR("mapped", shown),
                      CG_LF_STR("canonical", x->canonical), CG_LF_STR("spn", x->target));
    if (x->cred)
        cg_log_fields(CG_LOG_DEBUG, "kerberos_s4u", CG_LF_STR("user", shown),
                      CG_LF_STR("canonical", x->canonical ? x->canonical : x->principal), CG_LF_STR("spn", x->target),
                      CG_LF_MS("ms", x->ms), CG_LF_INT("expires_in_s", (int64_t)(x->cred->end - now_s())));
    else
        cg_log_fields(CG_LOG_WARN, "kerberos_s4u_failed", CG_LF_STR("user", shown),
                      CG_LF_STR("spn", x->target), CG_LF_MS("ms", x->ms), CG_LF_STR("code", cg_refusal_code(x->why.kind)));

    cg_deleg_req *wake = NULL, **wake_tail = &wake;
    cg_ucred *old = NULL;
    pthread_mutex_lock(&k->mu);
    cg_entry *e = x->entry;
    e->exchanging = false;
    int64_t nms = now_ms();
    if (x->cred) {
        if (x->gen == e->gen) {
            old = e->cred;
            e->cred = ucred_ref(x->cred);
            e->refresh_at = cg_deleg_refresh_at(x->cred->start, x->cred->end, k->refresh_before_s);
            e->fail_until_ms = 0;
        }
        cg_kdc_state_mark_up(k->state, k->realm);
        cg_kdc_state_mark_up(k->state, cg_kdc_name_realm(x->principal));
    } else if (x->why.kind == CG_REFUSE_KDC_UNREACHABLE) {
        if (k->negative_cache_ms) {
            size_t dl = strlen(x->why.detail);
            snprintf(x->why.detail + dl, sizeof x->why.detail - dl, "; new tickets for names of realm %s are not "
                     "requested for %ums (kerberos.negative_cache)", x->down_realm, k->negative_cache_ms);
            cg_kdc_state_realm_timed_out(k->state, x->down_realm, "did not answer", k->negative_cache_ms, nms);
        }
    } else if (x->gen == e->gen && k->negative_cache_ms) {
        e->fail_until_ms = nms + k->negative_cache_ms;
        e->fail = x->why;
    }
    if (!x->cred && e->cred) {
        /* a failed background refresh: the old ticket still serves; retry
         * later, not at every request */
        int64_t wait_s = k->negative_cache_ms / 1000 > 5 ? k->negative_cache_ms / 1000 : 5;
        e->refresh_at = now_s() + wait_s;
    }
    /* answer the waiters that started waiting before (or at) this exchange */
    cg_deleg_req **pp = &e->waiters;
    while (*pp) {
        cg_deleg_req *r = *pp;
        if (r->gen > x->gen) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        r->entry = NULL;
        r->answered = true;
        if (x->cred)
            r->cred = ucred_ref(x->cred);
        else
            r->why = x->why;
        r->next = NULL;
        *wake_tail = r;
        wake_tail = &r->next;
    }
    /* waiters who came after a flush need an exchange of their own */
    if (e->waiters && !start_exchange_locked(k, w->loop, e)) {
        for (cg_deleg_req *r = e->waiters, *nx; r; r = nx) {
            nx = r->next;
            r->entry = NULL;
            r->answered = true;
            cg_refuse(&r->why, CG_REFUSE_DELEGATION_FAILED, "cannot start a Kerberos exchange (out of memory)");
            r->next = NULL;
            *wake_tail = r;
            wake_tail = &r->next;
        }
        e->waiters = NULL;
    }
    /* wake under the lock: a woken request is closed only on its own loop
     * after its async callback ran, so the handle is alive here */
    for (cg_deleg_req *r = wake, *nx; r; r = nx) {
        nx = r->next;
        req_wake(r);
    }
    /* the canonical name's entry gets the ticket too: later requests of
     * either name look it up under the canonical one (e is not used
     * after this: entry_find may drop it) */
    cg_ucred *old_canonical = NULL;
    if (x->cred && x->canonical && x->gen == e->gen) {
        cg_kdc_state_set_canonical(k->state, x->principal, x->canonical);
        cg_entry *ce = entry_find(k, x->canonical, x->target, true);
        if (ce && (!ce->cred || ce->cred->end < x->cred->end)) {
            old_canonical = ce->cred;
            ce->cred = ucred_ref(x->cred);
            ce->refresh_at = cg_deleg_refresh_at(x->cred->start, x->cred->end, k->refresh_before_s);
            ce->fail_until_ms = 0;
        }
    }
    pthread_mutex_unlock(&k->mu);
    ucred_release(k, old_canonical);
    ucred_release(k, old);
    ucred_release(k, x->cred);
    atomic_fetch_sub(&k->inflight, 1);
    free(x->principal);
    free(x->target);
    free(x->canonical);
    free(x);
}

/* ---- requests ---- */

static void req_close_cb(uv_handle_t *h)
{
    cg_deleg_req *r = h->data;
    if (--r->open_handles == 0) {
        ucred_release(r->k, r->cred);
        free(r->principal);
        free(r->target);
        free(r);
    }
}

static void req_close(cg_deleg_req *r)
{
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->async, req_close_cb);
    uv_close((uv_handle_t *)&r->timer, req_close_cb);
}

/* Makes a token with c and calls cb. On the caller's loop. */
static void answer_with_cred(cg_kerberos *k, cg_ucred *c, const char *principal, const char *target, cg_deleg_cb cb,
                             void *ctx)
{
    char *b64 = NULL;
    char err[600];
    if (cg_kdc_token(c->cred, target, &b64, err, sizeof err)) {
        cb(ctx, b64, NULL);
        free(b64);
        return;
    }
    cg_refusal why;
    cg_refuse(&why, CG_REFUSE_DELEGATION_FAILED, "cannot make a Kerberos token for %s to %s from the cached "
              "ticket: %s; the cached ticket is dropped and the next request asks the KDC again", principal, target, err);
    cg_delegation_flush(k, principal);
    cb(ctx, NULL, &why);
}

static void req_async_cb(uv_async_t *a)
{
    cg_deleg_req *r = a->data;
    cg_kerberos *k = r->k;
    pthread_mutex_lock(&k->mu);
    bool cancelled = r->cancelled;
    cg_ucred *c = r->cred;
    r->cred = NULL;
    cg_refusal why = r->why;
    pthread_mutex_unlock(&k->mu);
    if (!cancelled) {
        if (c) {
            answer_with_cred(k, c, r->principal, r->target, r->cb, r->ctx);
        } else {
            r->cb(r->ctx, NULL, &why);
        }
    }
    ucred_release(k, c);
    req_close(r);
}

static void req_timer_cb(uv_timer_t *t)
{
    cg_deleg_req *r = t->data;
    cg_kerberos *k = r->k;
    pthread_mutex_lock(&k->mu);
    if (r->answered || r->cancelled) { /* the async callback will answer */
        pthread_mutex_unlock(&k->mu);
        return;
    }
    cg_entry *e = r->entry;
    for (cg_deleg_req **pp = &e->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    r->entry = NULL;
    r->answered = true;
    cg_refusal why;
    const char *realm = cg_kdc_name_realm(e->principal);
    cg_refuse(&why, CG_REFUSE_KDC_UNREACHABLE,
              "the KDC of realm %s did not answer within kerberos.kdc_timeout (%ums) while getting a ticket for %s "
              "to %s: check that the KDC runs and is reachable (kerberos.realms kdcs, or krb5.conf [realms] %s kdc "
              "= ..., port 88); new tickets for names of realm %s are not requested for %ums "
              "(kerberos.negative_cache)", realm, k->kdc_timeout_ms, e->principal, e->target, realm, realm,
              k->negative_cache_ms);
    char how[96];
    snprintf(how, sizeof how, "did not answer within kerberos.kdc_timeout (%ums)", k->kdc_timeout_ms);
    cg_kdc_state_realm_timed_out(k->state, realm, how, k->negative_cache_ms, now_ms());
    pthread_mutex_unlock(&k->mu);
    r->cb(r->ctx, NULL, &why);
    req_close(r);
}

/* The cache key of a mapped principal (kdc_state.h), in the realms served now. */
static bool user_key(cg_kerberos *k, const char *principal, char *key, size_t cap, char *request, char *err,
                     size_t errcap)
{
    cg_kdc_realms *realms = cg_deleg_realms(k);
    bool ok = cg_kdc_state_key(k->state, cg_kdc_realms_view(realms), principal, key, cap, request, 512, err, errcap);
    cg_kdc_realms_unref(realms);
    return ok;
}

cg_deleg_req *cg_delegation_token(cg_kerberos *k, uv_loop_t *loop, const char *principal, const char *spn,
                                  cg_deleg_cb cb, void *ctx)
{
    cg_refusal why;
    char user[512], target[512], err[400];
    if (!k) {
        cg_refuse(&why, CG_REFUSE_DELEGATION_FAILED, "Kerberos delegation is not configured (no kerberos: section) "
                  "but a backend asks for it");
        cb(ctx, NULL, &why);
        return NULL;
    }
    if (!user_key(k, principal, user, sizeof user, NULL, err, sizeof err)) {
        cg_refuse(&why, CG_REFUSE_PRINCIPAL_UNKNOWN, "%s: it cannot be used for Kerberos delegation to %s", err,
                  spn ? spn : "the backend");
        cb(ctx, NULL, &why);
        return NULL;
    }
    if (!cg_kdc_target_name(spn, k->realm, target, sizeof target, err, sizeof err)) {
        cg_refuse(&why, CG_REFUSE_DELEGATION_FAILED, "%s: fix the backend's kerberos.spn", err);
        cb(ctx, NULL, &why);
        return NULL;
    }

    pthread_mutex_lock(&k->mu);
    cg_entry *e = entry_find(k, user, target, true);
    if (!e) {
        pthread_mutex_unlock(&k->mu);
        cg_refuse(&why, CG_REFUSE_DELEGATION_FAILED, "out of memory");
        cb(ctx, NULL, &why);
        return NULL;
    }
    int64_t now = now_s(), nms = now_ms();
    if (e->cred && cg_deleg_usable(now, e->cred->end)) {
        cg_counter_add_shared(&k->cache_hits, 1);
        cg_ucred *c = ucred_ref(e->cred);
        if (now >= e->refresh_at && !e->exchanging && !cg_kdc_state_name_down(k->state, user, k->realm, nms, &why))
            start_exchange_locked(k, loop, e); /* background refresh; failure: the next request retries */
        pthread_mutex_unlock(&k->mu);
        answer_with_cred(k, c, user, target, cb, ctx);
        ucred_release(k, c);
        return NULL;
    }
    cg_counter_add_shared(&k->cache_misses, 1);
    if (!e->exchanging && e->fail_until_ms > nms) {
        why = e->fail;
        pthread_mutex_unlock(&k->mu);
        cb(ctx, NULL, &why);
        return NULL;
    }
    if (!e->exchanging && cg_kdc_state_name_down(k->state, user, k->realm, nms, &why)) {
        pthread_mutex_unlock(&k->mu);
        cb(ctx, NULL, &why);
        return NULL;
    }
    cg_deleg_req *r = calloc(1, sizeof *r);
    char *tcopy = r ? strdup(target) : NULL;
    char *pcopy = r ? strdup(user) : NULL;
    if (!r || !tcopy || !pcopy || (!e->exchanging && !start_exchange_locked(k, loop, e))) {
        pthread_mutex_unlock(&k->mu);
        free(tcopy);
        free(pcopy);
        free(r);
        cg_refuse(&why, CG_REFUSE_DELEGATION_FAILED, "cannot start a Kerberos exchange (out of memory)");
        cb(ctx, NULL, &why);
        return NULL;
    }
    r->k = k;
    r->loop = loop;
    r->cb = cb;
    r->ctx = ctx;
    r->target = tcopy;
    r->principal = pcopy;
    r->gen = e->gen;
    r->entry = e;
    r->next = e->waiters;
    e->waiters = r;
    /* handles on the caller's loop (we are on its thread) */
    uv_async_init(loop, &r->async, req_async_cb);
    uv_timer_init(loop, &r->timer);
    r->async.data = r;
    r->timer.data = r;
    r->open_handles = 2;
    uv_timer_start(&r->timer, req_timer_cb, k->kdc_timeout_ms ? k->kdc_timeout_ms : 5000, 0);
    pthread_mutex_unlock(&k->mu);
    return r;
}

void cg_delegation_cancel(cg_deleg_req *r)
{
    if (!r)
        return;
    cg_kerberos *k = r->k;
    pthread_mutex_lock(&k->mu);
    r->cancelled = true;
    bool waiting = !r->answered;
    if (waiting) {
        cg_entry *e = r->entry;
        for (cg_deleg_req **pp = &e->waiters; *pp; pp = &(*pp)->next) {
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        }
        r->entry = NULL;
    }
    pthread_mutex_unlock(&k->mu);
    if (waiting)
        req_close(r); /* nobody else will touch it */
    /* else: its async callback is due; it sees cancelled and closes */
}

void cg_delegation_flush(cg_kerberos *k, const char *principal)
{
    if (!k)
        return;
    char user[512], err[200], request[512] = "";
    /* the key, and the request name when the key is its canonical name */
    if (principal && !user_key(k, principal, user, sizeof user, request, err, sizeof err))
        return;
    if (principal) {
        cg_kdc_state_forget(k->state, request);
    } else {
        cg_kdc_state_forget(k->state, NULL);
        cg_kdc_state_clear_down(k->state);
    }
    cg_ucred *drop[64];
    size_t ndrop = 0;
    pthread_mutex_lock(&k->mu);
    for (size_t b = 0; b < NBUCKETS; b++) {
        for (cg_entry *e = k->buckets[b]; e; e = e->next) {
            if (principal && strcmp(e->principal, user) && strcmp(e->principal, request))
                continue;
            e->gen++;
            e->fail_until_ms = 0;
            e->refresh_at = 0;
            if (e->cred) {
                if (ndrop == sizeof drop / sizeof *drop) {
                    pthread_mutex_unlock(&k->mu);
                    for (size_t i = 0; i < ndrop; i++)
                        ucred_release(k, drop[i]);
                    ndrop = 0;
                    pthread_mutex_lock(&k->mu);
                }
                drop[ndrop++] = e->cred;
                e->cred = NULL;
            }
        }
    }
    pthread_mutex_unlock(&k->mu);
    for (size_t i = 0; i < ndrop; i++)
        ucred_release(k, drop[i]);
    if (!principal) { /* a new proxy TGT too (its flags may have changed on the KDC) */
        pthread_mutex_lock(&k->proxy_mu);
        cg_proxy *p = k->proxy;
        k->proxy = NULL;
        if (p)
            proxy_release_locked(k, p);
        pthread_mutex_unlock(&k->proxy_mu);
    }
    char q[300];
    cg_log(CG_LOG_INFO, "kerberos_flush", "user=%s", principal ? cg_log_quote(q, sizeof q, user, strlen(user)) : "all");
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                */

cg_kerberos *cg_kerberos_new(const cg_kerberos_cfg *cfg, cg_diag *diag)
{
    if (!cfg || !cfg->keytab || !*cfg->keytab) {
        cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "kerberos.keytab is required for Kerberos delegation");
        return NULL;
    }
    if (!cfg->principal || !*cfg->principal) {
        cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "kerberos.principal is required for Kerberos delegation");
        return NULL;
    }
    if (cfg->krb5_config && *cfg->krb5_config) {
        if (access(cfg->krb5_config, R_OK) != 0) {
            cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "kerberos.krb5_config: cannot read %s: %s", cfg->krb5_config,
                        strerror(errno));
            return NULL;
        }
        /* before any krb5 call: libkrb5 reads KRB5_CONFIG at each context */
        setenv("KRB5_CONFIG", cfg->krb5_config, 1);
    }
    cg_kerberos *k = calloc(1, sizeof *k);
    if (!k) {
        cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->proxy_mu, NULL);
    pthread_mutex_init(&k->kctx_mu, NULL);
    pthread_mutex_init(&k->stats_mu, NULL);
    pthread_mutex_init(&k->realms_mu, NULL);
    k->state = cg_kdc_state_new();
    atomic_init(&k->inflight, 0);
    atomic_init(&k->exchanges, 0);
    k->kdc_timeout_ms = cfg->kdc_timeout_ms ? cfg->kdc_timeout_ms : 5000;
    k->refresh_before_s = cfg->refresh_before_s;
    k->negative_cache_ms = cfg->negative_cache_ms;
    k->keytab = strdup(cfg->keytab);
    k->realm = strdup(cfg->realm ? cfg->realm : "");
    const char *at = strrchr(cfg->principal, '@');
    if (at || !cfg->realm)
        k->principal = strdup(cfg->principal);
    else if (asprintf(&k->principal, "%s@%s", cfg->principal, cfg->realm) < 0)
        k->principal = NULL;
    krb5_error_code rc = krb5_init_context(&k->kctx);
    if (!k->keytab || !k->realm || !k->principal || !k->state || rc) {
        cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "%s",
                    rc ? "cannot initialise Kerberos (krb5_init_context): check kerberos.krb5_config" : "out of memory");
        if (rc)
            k->kctx = NULL;
        cg_kerberos_free(k);
        return NULL;
    }
    if (!*k->realm) { /* the realm of the proxy principal */
        const char *pat = strrchr(k->principal, '@');
        if (pat) {
            free(k->realm);
            k->realm = strdup(pat + 1);
        }
    }
    char err[800];
    if (!cg_kerberos_set_realms(k, cfg, diag)) {
        cg_kerberos_free(k);
        return NULL;
    }
    /* the keytab: readable, and holds the proxy's key (never logged) */
    if (!cg_kdc_keytab_check(k->kctx, k->keytab, k->principal, err, sizeof err)) {
        cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "kerberos.keytab: %s", err);
        cg_kerberos_free(k);
        return NULL;
    }
    return k;
}

bool cg_kerberos_set_realms(cg_kerberos *k, const cg_kerberos_cfg *cfg, cg_diag *diag)
{
    cg_kerberos_cfg c = *cfg;
    c.realm = k->realm; /* the proxy's realm stays what it was at start */
    char err[600];
    if (cfg->krb5_config && *cfg->krb5_config && access(cfg->krb5_config, R_OK) != 0) {
        cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "kerberos.krb5_config: cannot read %s: %s", cfg->krb5_config,
                    strerror(errno));
        return false;
    }
    cg_kdc_realms *r = cg_kdc_realms_new(&c, err, sizeof err);
    if (!r) {
        cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "kerberos: %s", err);
        return false;
    }
    pthread_mutex_lock(&k->realms_mu);
    cg_kdc_realms *old = k->realms;
    k->realms = r;
    pthread_mutex_unlock(&k->realms_mu);
    cg_kdc_realms_unref(old); /* exchanges in flight hold their own reference */
    return true;
}

void cg_kerberos_free(cg_kerberos *k)
{
    if (!k)
        return;
    /* callers free it once no loop runs any more: nothing is in flight */
    for (size_t b = 0; b < NBUCKETS; b++) {
        for (cg_entry *e = k->buckets[b], *nx; e; e = nx) {
            nx = e->next;
            ucred_release(k, e->cred);
            free(e->principal);
            free(e->target);
            free(e);
        }
    }
    if (k->proxy) {
        k->proxy->refs = 1;
        proxy_release_locked(k, k->proxy);
    }
    if (k->kctx)
        krb5_free_context(k->kctx);
    cg_kdc_realms_unref(k->realms);
    cg_kdc_state_free(k->state);
    pthread_mutex_destroy(&k->realms_mu);
    pthread_mutex_destroy(&k->mu);
    pthread_mutex_destroy(&k->proxy_mu);
    pthread_mutex_destroy(&k->kctx_mu);
    pthread_mutex_destroy(&k->stats_mu);
    free(k->keytab);
    free(k->principal);
    free(k->realm);
    free(k);
}
