/* The chain check (crl_check.h): one per connection verdict. Each
 * certificate but the anchor is an item that asks its sources in the order of
 * revocation.policy: its CRL (and delta CRL) from the store, or waiting for
 * the fetcher to bring one; its OCSP responder (answer cached, or waiting for
 * the query). A source that cannot tell (unknown) hands over to the next; the
 * item decides good, revoked or unknown; the check answers once every item
 * has, or at once when a certificate is revoked. A CRL whose signature has not
 * been checked with the issuer's key yet (from crl_files or cache_dir) is
 * checked on the thread pool, the item waiting, then evaluated again.
 */
#include "crl_check.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

typedef enum { IT_EVAL, IT_WAIT, IT_GOOD, IT_REVOKED, IT_UNKNOWN } it_state;
typedef enum { SRC_CRL, SRC_OCSP } source;

/* Answers without nextUpdate are accepted (and cached) this long after their thisUpdate. */
#define OCSP_NO_NEXT_UPDATE_MAX_AGE_S 3600

typedef struct item item;
typedef struct sig_work sig_work;

struct item {
    cg_crl_check *chk;
    crl_waiter waiter;        /* on the job it waits for */
    sig_work *sig;            /* the signature checks it waits for */
    int sig_rounds;           /* of them so far (bounded: then checked here) */
    cg_ocsp_waiter ocsp_waiter; /* on the OCSP query it waits for */
    int step;                 /* chk->steps[step] is the source asked now */
    bool via_ocsp;            /* the verdict is ocsp's */
    cg_ocsp_entry ocsp;
    char before[700];         /* what the sources before this one said (they could not tell) */
    int depth;
    const mbedtls_x509_crt *cert, *issuer;
    unsigned char id[32];     /* the issuer's id: SHA-256(subject || key) */
    bool cert_is_ca;
    char *cdp[16], *fresh[16];
    size_t ncdp, nfresh;
    it_state st;
    bool fetched_base, fetched_delta;
    cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS];
    int nattempts;
    char reasons[700];        /* UNKNOWN: why no CRL could be used */
    /* the verdict (copied: the CRL may be replaced meanwhile) */
    int64_t revoked_at;
    int reason;
    bool via_delta, stale;
    cg_crl_info base, delta;
};

struct cg_crl_check {
    cg_crl_fetcher *f;
    cg_crl_cb cb;
    void *ctx;
    cg_crl_report *report;
    char listener[128];
    cg_revocation_mode mode;
    uint32_t stale_grace_s, refresh_before_s;
    bool allow_weak;
    cg_revocation_policy policy;
    source steps[2];
    int nsteps;
    cg_ocsp_client *ocsp;
    cg_ocsp_settings ocsp_set;
    char *ocsp_responder;
    const mbedtls_x509_crt *chain[CG_CRL_MAX_CHAIN];
    int busy; /* evaluating: completion waits */
    bool done;
    int nitems;
    item items[]; /* one per certificate but the anchor (an item is ~9.5 KiB) */
};

static const char *mode_name(cg_revocation_mode m)
{
    return m == CG_REVOCATION_FETCH ? "fetch" : m == CG_REVOCATION_CACHE_ONLY ? "cache-only" : "off";
}

static const char *policy_name(cg_revocation_policy p)
{
    switch (p) {
    case CG_REVPOLICY_CRL: return "crl";
    case CG_REVPOLICY_OCSP: return "ocsp";
    case CG_REVPOLICY_OCSP_THEN_CRL: return "ocsp_then_crl";
    case CG_REVPOLICY_CRL_THEN_OCSP: return "crl_then_ocsp";
    }
    return "?";
}

static int cmp_number(const unsigned char *a, size_t al, const unsigned char *b, size_t bl)
{
    if (al != bl)
        return al < bl ? -1 : 1;
    return memcmp(a, b, al);
}

static bool tried_url(const item *it, const char *url)
{
    for (int i = 0; i < it->nattempts; i++)
        if (strcmp(it->attempts[i].url, url) == 0)
            return true;
    return false;
}

/* Is c usable for it? 1 fresh, 2 expired but within stale_grace, 0 not
 * (reason appended), -1 not applicable (out of scope, superseded). */
static int judge(const item *it, const crl *c, int memo, const crl *base, int64_t now, char *rej, size_t cap,
                 size_t *rlen)
{
    const cg_crl_check *chk = it->chk;
    char when[40];
    bool say = !(c->origin == CRL_ORIGIN_FETCH && tried_url(it, c->source)); /* the attempt said it already */
#define REJECT(...) do { if (say) { *rlen = cg_fmt_append(rej, cap, *rlen, "%s%s: ", *rlen ? "; " : "", c->source); \
                                    *rlen = cg_fmt_append(rej, cap, *rlen, __VA_ARGS__); } return 0; } while (0)
    if (memo < 0)
        REJECT("bad signature (does not verify with the public key of the issuer)");
    if (!chk->allow_weak && (c->md == MBEDTLS_MD_MD5 || c->md == MBEDTLS_MD_SHA1))
        REJECT("signed with %s, a weak hash (tls.allow_weak_signatures is false)", cg_md_name(c->md));
    if (c->idp & (CRL_IDP_SOME_REASONS | CRL_IDP_INDIRECT | CRL_IDP_ONLY_ATTR))
        REJECT("a partial CRL (onlySomeReasons, indirectCRL or attribute certificates only), not supported");
    if (((c->idp & CRL_IDP_ONLY_USER) && it->cert_is_ca) || ((c->idp & CRL_IDP_ONLY_CA) && !it->cert_is_ca))
        return -1;
    if (base) {
        if (cmp_number(c->base_number, c->base_len, base->number, base->number_len) > 0) {
            char bn[72], dn[72];
            cg_hex_encode(c->base_number, c->base_len, dn, sizeof dn, true);
            cg_hex_encode(base->number, base->number_len, bn, sizeof bn, true);
            REJECT("a delta CRL for full CRL number %s, newer than the full CRL in use (number %s)", dn, bn);
        }
        if (cmp_number(c->number, c->number_len, base->number, base->number_len) <= 0)
            return -1; /* older than the full CRL: nothing new in it */
    }
    if (c->this_update > now + CRL_SKEW_S) {
        cg_fmt_time_utc(c->this_update, when, sizeof when);
        REJECT("not yet valid (thisUpdate %s is in the future)", when);
    }
    if (c->next_update && c->next_update <= now) {
        cg_fmt_time_utc(c->next_update, when, sizeof when);
        if (say) {
            *rlen = cg_fmt_append(rej, cap, *rlen, "%s%s: ", *rlen ? "; " : "", c->source);
            *rlen = cg_fmt_append(rej, cap, *rlen, "expired (nextUpdate %s has passed)", when);
        }
        return chk->stale_grace_s && now - c->next_update <= (int64_t)chk->stale_grace_s ? 2 : 0;
    }
    return 1;
#undef REJECT
}

static void item_unknown(item *it, const char *rej)
{
    size_t len = 0;
    it->st = IT_UNKNOWN;
    it->reasons[0] = '\0';
    for (int i = 0; i < it->nattempts; i++)
        len = cg_fmt_append(it->reasons, sizeof it->reasons, len, "%s%s: %s", len ? "; " : "", it->attempts[i].url,
                     it->attempts[i].result);
    if (rej && rej[0])
        len = cg_fmt_append(it->reasons, sizeof it->reasons, len, "%s%s", len ? "; " : "", rej);
    if (!len)
        snprintf(it->reasons, sizeof it->reasons, "no CRL found");
}

static void item_copy_attempts(item *it, const cg_crl_attempt *attempts, int nattempts)
{
    for (int i = 0; i < nattempts && it->nattempts < CG_CRL_MAX_ATTEMPTS; i++)
        it->attempts[it->nattempts++] = attempts[i];
}

/* Waits for issuer's CRL (or delta) from urls. false: no job (no memory). */
static bool item_fetch(item *it, bool delta, char *const *urls, size_t n)
{
    cg_crl_fetcher *f = it->chk->f;
    unsigned char key[33];
    memcpy(key, it->id, 32);
    key[32] = delta ? 'D' : 'B';
    char name[256];
    cg_cert_subject(it->issuer, name, sizeof name);
    bool start;
    crl_job *j = crl_job_start(f, key, urls, n, it->issuer->subject_raw.p, it->issuer->subject_raw.len,
                               it->issuer->pk_raw.p, it->issuer->pk_raw.len, name, true, &start);
    if (!j)
        return false;
    it->st = IT_WAIT;
    crl_job_wait(j, &it->waiter);
    if (start)
        crl_job_next(j); /* may finish at once (no URL usable): the waiter is told */
    return true;
}

/* Refetch c in the background when its nextUpdate is within refresh_before. */
static void maybe_refresh(item *it, crl *c, bool delta, int64_t now)
{
    cg_crl_check *chk = it->chk;
    cg_crl_fetcher *f = chk->f;
    if (chk->mode != CG_REVOCATION_FETCH || crl_fetcher_closing(f) || !c->next_update ||
        now < c->next_update - (int64_t)chk->refresh_before_s)
        return;
    char *urls[32];
    size_t n = 0;
    if (delta) {
        for (size_t i = 0; i < it->nfresh && n < 32; i++)
            urls[n++] = it->fresh[i];
        for (size_t i = 0; i < c->nfreshest && n < 32; i++)
            urls[n++] = c->freshest[i];
    } else {
        for (size_t i = 0; i < it->ncdp && n < 32; i++)
            urls[n++] = it->cdp[i];
    }
    if (!n)
        return;
    if (!crl_store_refresh_due(crl_fetcher_store(f), c, now))
        return;
    unsigned char key[33];
    memcpy(key, it->id, 32);
    key[32] = delta ? 'D' : 'B';
    if (crl_job_find(f, key))
        return;
    char name[256];
    cg_cert_subject(it->issuer, name, sizeof name);
    bool start;
    crl_job *j = crl_job_start(f, key, urls, n, it->issuer->subject_raw.p, it->issuer->subject_raw.len,
                               it->issuer->pk_raw.p, it->issuer->pk_raw.len, name, false, &start);
    if (j && start)
        crl_job_next(j);
}

static void item_decide(item *it, crl *base, crl *delta)
{
    const unsigned char *serial = it->cert->serial.p;
    size_t len = it->cert->serial.len;
    const crl_entry *e = NULL;
    const crl_entry *de = delta ? crl_find(delta, serial, len) : NULL;
    bool via_delta = false;
    if (de) {
        e = de->reason == CRL_REASON_REMOVE_FROM_CRL ? NULL : de;
        via_delta = e != NULL;
    } else {
        e = crl_find(base, serial, len);
        if (e && e->reason == CRL_REASON_REMOVE_FROM_CRL)
            e = NULL;
    }
    /* The CRLs' descriptions (issuer, source, dates as text) are read by the
     * report and by a refusal only: a connection whose chain is not revoked
     * and that asks for no report (each resumption) skips the formatting. */
    int64_t now = (int64_t)time(NULL);
    bool describe = e || it->chk->report;
    if (describe) {
        crl_info_fill(base, &it->base);
        if (delta)
            crl_info_fill(delta, &it->delta);
    } else {
        it->base = (cg_crl_info){ .present = true };
        it->delta = (cg_crl_info){ .present = delta != NULL };
    }
    it->base.stale = base->next_update && base->next_update <= now;
    if (delta)
        it->delta.stale = delta->next_update && delta->next_update <= now;
    it->stale = it->base.stale || it->delta.stale;
    if (e) {
        it->st = IT_REVOKED;
        it->revoked_at = e->revoked;
        it->reason = e->reason;
        it->via_delta = via_delta;
    } else {
        it->st = IT_GOOD;
    }
}

/* ---- first signature checks, off the loop ---- */

static bool check_maybe_done(cg_crl_check *chk);
static void item_eval(item *it);
static void item_after(item *it);

/* The unchecked candidates of an item, checked with its issuer's key on the thread pool. */
struct sig_work {
    uv_work_t req;
    item *it;                 /* NULL once the item went */
    cg_crl_fetcher *f;        /* held until the end */
    mbedtls_pk_context pk;    /* a copy: the chain may go first */
    unsigned char id[32];
    crl *c[CRL_STORE_MAX_CANDS];
    int good[CRL_STORE_MAX_CANDS];
    int n;
};

static void sig_run(uv_work_t *req)
{
    sig_work *w = req->data;
    for (int i = 0; i < w->n; i++)
        w->good[i] = crl_check_signature(w->c[i], &w->pk) == 0;
}

static void sig_done(uv_work_t *req, int status)
{
    sig_work *w = req->data;
    cg_crl_store *s = crl_fetcher_store(w->f);
    for (int i = 0; i < w->n; i++) {
        if (status == 0)
            crl_store_memo_learn(s, w->c[i], w->id, w->good[i]);
        crl_unref(w->c[i]);
    }
    mbedtls_pk_free(&w->pk);
    item *it = w->it;
    cg_crl_fetcher *f = w->f;
    free(w);
    if (it) {
        cg_crl_check *chk = it->chk;
        it->sig = NULL;
        it->st = IT_EVAL;
        chk->busy++;
        item_eval(it); /* the memos are known now (a CRL that came meanwhile: another round) */
        item_after(it);
        chk->busy--;
        check_maybe_done(chk);
    }
    crl_fetcher_release(f);
}

/* True when the item now waits for the first signature checks of some of cands (memo 0) on the
 * thread pool; false when there are none, or they could not be queued (then checked here). */
static bool item_check_signatures(item *it, crl_cand *cands, int n)
{
    int unknown = 0;
    for (int i = 0; i < n; i++)
        unknown += cands[i].memo == 0;
    if (!unknown)
        return false;
    cg_crl_fetcher *f = it->chk->f;
    /* A memo evicted meanwhile (more keys with this issuer's name than it holds) or CRLs coming
     * in while it waits could send it round again: after two rounds, checked here. */
    sig_work *w = it->sig_rounds < 2 ? calloc(1, sizeof *w) : NULL;
    if (w) {
        mbedtls_pk_init(&w->pk);
        w->req.data = w;
        w->it = it;
        w->f = f;
        memcpy(w->id, it->id, 32);
        for (int i = 0; i < n; i++)
            if (cands[i].memo == 0)
                w->c[w->n++] = crl_ref(cands[i].c);
        if (mbedtls_pk_parse_public_key(&w->pk, it->issuer->pk_raw.p, it->issuer->pk_raw.len) == 0 &&
            uv_queue_work(crl_fetcher_loop(f), &w->req, sig_run, sig_done) == 0) {
            crl_fetcher_hold(f);
            it->sig = w;
            it->sig_rounds++;
            it->st = IT_WAIT;
            return true;
        }
        for (int i = 0; i < w->n; i++)
            crl_unref(w->c[i]);
        mbedtls_pk_free(&w->pk);
        free(w);
    }
    cg_crl_store *s = crl_fetcher_store(f);
    for (int i = 0; i < n; i++)
        if (cands[i].memo == 0) {
            cands[i].memo = crl_check_signature(cands[i].c, &it->issuer->pk) == 0 ? 1 : -1;
            crl_store_memo_learn(s, cands[i].c, it->id, cands[i].memo > 0);
        }
    return false;
}

static void item_eval(item *it)
{
    cg_crl_check *chk = it->chk;
    cg_crl_fetcher *f = chk->f;
    cg_crl_store *s = crl_fetcher_store(f);
    int64_t now = (int64_t)time(NULL);
    char rej[600];
    size_t rlen = 0;
    rej[0] = '\0';
    crl_cand bc[CRL_STORE_MAX_CANDS], dc[CRL_STORE_MAX_CANDS];
    int nb = 0, nd = 0;

    if (mbedtls_x509_crt_check_key_usage(it->issuer, MBEDTLS_X509_KU_CRL_SIGN) != 0) {
        item_unknown(it, "the issuer's key usage does not include cRLSign, so no CRL signed by it is valid");
        return;
    }
    nb = crl_store_candidates(s, it->issuer, it->id, false, bc, false);
    if (item_check_signatures(it, bc, nb))
        goto out;
    crl *base = NULL, *stale = NULL;
    for (int i = 0; i < nb; i++) {
        int v = judge(it, bc[i].c, bc[i].memo, NULL, now, rej, sizeof rej, &rlen);
        if (v == 1 && (!base || crl_newer(bc[i].c, base)))
            base = bc[i].c;
        else if (v == 2 && (!stale || crl_newer(bc[i].c, stale)))
            stale = bc[i].c;
    }
    if (!base) {
        if (chk->mode == CG_REVOCATION_FETCH && !it->fetched_base && !crl_fetcher_closing(f) && it->ncdp) {
            if (item_fetch(it, false, it->cdp, it->ncdp))
                goto out;
        }
        if (stale) {
            base = stale;
        } else {
            if (chk->mode == CG_REVOCATION_FETCH && !it->ncdp)
                rlen = cg_fmt_append(rej, sizeof rej, rlen, "%sthe certificate has no CRL Distribution Point URL",
                              rlen ? "; " : "");
            else if (chk->mode == CG_REVOCATION_CACHE_ONLY && nb == 0)
                rlen = cg_fmt_append(rej, sizeof rej, rlen,
                              "%sno CRL of this issuer in crl_files or the cache (revocation.mode cache-only "
                              "does not fetch)", rlen ? "; " : "");
            else if (crl_fetcher_closing(f))
                rlen = cg_fmt_append(rej, sizeof rej, rlen, "%scertgate is stopping", rlen ? "; " : "");
            item_unknown(it, rej);
            goto out;
        }
    } else {
        maybe_refresh(it, base, false, now);
    }

    crl *delta = NULL;
    if (it->nfresh || base->nfreshest) {
        crl *dstale = NULL;
        nd = crl_store_candidates(s, it->issuer, it->id, true, dc, false);
        if (item_check_signatures(it, dc, nd))
            goto out;
        for (int i = 0; i < nd; i++) {
            int v = judge(it, dc[i].c, dc[i].memo, base, now, rej, sizeof rej, &rlen);
            if (v == 1 && (!delta || crl_newer(dc[i].c, delta)))
                delta = dc[i].c;
            else if (v == 2 && (!dstale || crl_newer(dc[i].c, dstale)))
                dstale = dc[i].c;
        }
        if (!delta) {
            char *urls[32];
            size_t n = 0;
            for (size_t i = 0; i < it->nfresh && n < 32; i++)
                urls[n++] = it->fresh[i];
            for (size_t i = 0; i < base->nfreshest && n < 32; i++)
                urls[n++] = base->freshest[i];
            if (chk->mode == CG_REVOCATION_FETCH && !it->fetched_delta && !crl_fetcher_closing(f) && n &&
                item_fetch(it, true, urls, n))
                goto out;
            if (dstale) {
                delta = dstale;
            } else {
                rlen = cg_fmt_append(rej, sizeof rej, rlen,
                              "%sno valid delta CRL, which the %s announces (Freshest CRL)", rlen ? "; " : "",
                              it->nfresh ? "certificate" : "full CRL");
                item_unknown(it, rej);
                goto out;
            }
        } else {
            maybe_refresh(it, delta, true, now);
        }
    }
    item_decide(it, base, delta);
out:
    crl_cands_free(bc, nb);
    crl_cands_free(dc, nd);
}

/* ---- OCSP ---- */

static void item_ocsp_answer(item *it, const cg_ocsp_answer *a)
{
    if (!a->ok) {
        it->st = IT_UNKNOWN;
        snprintf(it->reasons, sizeof it->reasons, "OCSP: %s", a->error);
        return;
    }
    it->ocsp = a->entry;
    if (a->entry.status == CG_OCSP_UNKNOWN) {
        it->st = IT_UNKNOWN;
        snprintf(it->reasons, sizeof it->reasons,
                 "OCSP: the responder %s answers \"unknown\" (it does not know the certificate; signed by \"%s\")",
                 a->entry.responder, a->entry.signer);
        return;
    }
    it->via_ocsp = true;
    if (a->entry.status == CG_OCSP_REVOKED) {
        it->st = IT_REVOKED;
        it->revoked_at = a->entry.revoked_at;
        it->reason = a->entry.reason < 0 ? CRL_REASON_NONE : a->entry.reason;
    } else {
        it->st = IT_GOOD;
    }
}

static void item_after(item *it);
static bool check_maybe_done(cg_crl_check *chk);

static void item_ocsp_done(cg_ocsp_waiter *w, const cg_ocsp_answer *a)
{
    item *it = (item *)((char *)w - offsetof(item, ocsp_waiter));
    cg_crl_check *chk = it->chk;
    chk->busy++;
    item_ocsp_answer(it, a);
    item_after(it);
    chk->busy--;
    check_maybe_done(chk);
}

static void item_ocsp(item *it)
{
    cg_crl_check *chk = it->chk;
    cg_ocsp_answer a;
    if (!chk->ocsp) {
        it->st = IT_UNKNOWN;
        snprintf(it->reasons, sizeof it->reasons, "OCSP: not asked (certgate explain --offline)");
        return;
    }
    it->ocsp_waiter.done = item_ocsp_done;
    if (!cg_ocsp_check(chk->ocsp, it->cert, it->issuer, &chk->ocsp_set, &it->ocsp_waiter, &a)) {
        it->st = IT_WAIT;
        return;
    }
    item_ocsp_answer(it, &a);
}

/* Asks the item's current source. */
static void item_ask(item *it)
{
    it->st = IT_EVAL;
    if (it->chk->steps[it->step] == SRC_OCSP)
        item_ocsp(it);
    else
        item_eval(it);
}

/* A source concluded: when it could not tell and another follows, that one is asked; the
 * reasons of the sources before stay in front of the last one's. */
static void item_after(item *it)
{
    cg_crl_check *chk = it->chk;
    while (it->st == IT_UNKNOWN && it->step + 1 < chk->nsteps) {
        size_t len = strlen(it->before);
        cg_fmt_append(it->before, sizeof it->before, len, "%s%s", len ? "; " : "", it->reasons);
        it->step++;
        item_ask(it);
    }
    if (it->st == IT_UNKNOWN && it->before[0]) {
        char last[sizeof it->reasons];
        snprintf(last, sizeof last, "%s", it->reasons);
        size_t len = cg_fmt_append(it->reasons, sizeof it->reasons, 0, "%s; then ", it->before);
        cg_fmt_append(it->reasons, sizeof it->reasons, len, "%s", last);
    }
}

static void item_release(item *it)
{
    crl_waiter_cancel(&it->waiter);
    if (it->sig) {
        it->sig->it = NULL; /* its end only records what it learned */
        it->sig = NULL;
    }
    cg_ocsp_waiter_cancel(&it->ocsp_waiter);
    for (size_t i = 0; i < it->ncdp; i++)
        free(it->cdp[i]);
    for (size_t i = 0; i < it->nfresh; i++)
        free(it->fresh[i]);
    it->ncdp = it->nfresh = 0;
}

static void check_free(cg_crl_check *chk)
{
    for (int i = 0; i < chk->nitems; i++)
        item_release(&chk->items[i]);
    free(chk->ocsp_responder);
    free(chk);
}

static void item_summary(const item *it, char *out, size_t cap)
{
    char when[40];
    if (it->via_ocsp && it->st == IT_GOOD) {
        snprintf(out, cap, "not revoked: the OCSP responder %s answers good (signed by \"%s\")%s%s",
                 it->ocsp.responder, it->ocsp.signer, it->before[0] ? "; before: " : "", it->before);
        return;
    }
    if (it->via_ocsp && it->st == IT_REVOKED) {
        cg_fmt_time_utc(it->revoked_at, when, sizeof when);
        snprintf(out, cap, "REVOKED on %s, reason %s (OCSP responder %s, signed by \"%s\")", when,
                 crl_reason_name(it->reason), it->ocsp.responder, it->ocsp.signer);
        return;
    }
    switch (it->st) {
    case IT_GOOD:
        snprintf(out, cap, "not revoked: not listed in the CRL of \"%s\"%s%s%s", it->base.issuer,
                 it->delta.present ? " nor in its delta CRL" : "",
                 it->stale ? " (a CRL past its nextUpdate, accepted within revocation.stale_grace)" : "", "");
        break;
    case IT_REVOKED:
        cg_fmt_time_utc(it->revoked_at, when, sizeof when);
        snprintf(out, cap, "REVOKED on %s, reason %s (%sCRL of \"%s\", from %s)", when, crl_reason_name(it->reason),
                 it->via_delta ? "delta " : "", it->via_delta ? it->delta.issuer : it->base.issuer,
                 it->via_delta ? it->delta.source : it->base.source);
        break;
    case IT_UNKNOWN:
        snprintf(out, cap, "UNKNOWN: %s", it->reasons);
        break;
    default:
        snprintf(out, cap, "not checked (the verdict was decided by another certificate of the chain)");
        break;
    }
}

static void fill_report(cg_crl_check *chk)
{
    cg_crl_report *r = chk->report;
    r->n = chk->nitems;
    for (int i = 0; i < chk->nitems; i++) {
        const item *it = &chk->items[i];
        cg_crl_report_cert *rc = &r->certs[i];
        rc->depth = it->depth;
        rc->status = it->st == IT_GOOD ? CG_REV_GOOD : it->st == IT_REVOKED ? CG_REV_REVOKED : CG_REV_UNKNOWN;
        item_summary(it, rc->summary, sizeof rc->summary);
        rc->base = it->base;
        rc->delta = it->delta;
        rc->via_ocsp = it->via_ocsp;
        rc->ocsp = it->ocsp;
        rc->nattempts = it->nattempts;
        memcpy(rc->attempts, it->attempts, sizeof rc->attempts);
    }
}

static void refusal_revoked(const cg_crl_check *chk, const item *it, cg_refusal *why)
{
    char who[400], when[40];
    (void)chk;
    cg_cert_describe(it->cert, it->depth, who, sizeof who);
    cg_fmt_time_utc(it->revoked_at, when, sizeof when);
    if (it->via_ocsp) {
        char tu[40];
        cg_fmt_time_utc(it->ocsp.this_update, tu, sizeof tu);
        cg_refuse(why, CG_REFUSE_CERT_REVOKED,
                  "The certificate %s was revoked on %s (reason: %s), according to the OCSP responder %s "
                  "(answer signed by \"%s\", thisUpdate %s).",
                  who, when, crl_reason_name(it->reason), it->ocsp.responder, it->ocsp.signer, tu);
        return;
    }
    const cg_crl_info *src = it->via_delta ? &it->delta : &it->base;
    cg_refuse(why, CG_REFUSE_CERT_REVOKED,
              "The certificate %s was revoked on %s (reason: %s), according to the %sCRL of \"%s\" (thisUpdate %s, "
              "from %s).",
              who, when, crl_reason_name(it->reason), it->via_delta ? "delta " : "", src->issuer, src->this_update,
              src->source);
}

static void refusal_unknown(const cg_crl_check *chk, const item *it, int others, cg_refusal *why)
{
    char who[400], issuer[256], tail[300];
    cg_cert_describe(it->cert, it->depth, who, sizeof who);
    cg_cert_subject(it->issuer, issuer, sizeof issuer);
    char pol[48] = "";
    if (chk->policy != CG_REVPOLICY_CRL)
        snprintf(pol, sizeof pol, ", revocation.policy %s", policy_name(chk->policy));
    snprintf(tail, sizeof tail, ". Revocation is checked fail-closed (listener \"%s\", revocation.mode %s%s)%s.",
             chk->listener, mode_name(chk->mode), pol,
             others ? "; other certificates of the chain are unknown too" : "");
    why->kind = CG_REFUSE_REVOCATION_UNKNOWN;
    size_t cap = sizeof why->detail, tl = strlen(tail), len = 0;
    if (chk->policy == CG_REVPOLICY_CRL)
        len = cg_fmt_append(why->detail, cap - tl, len,
                            "No valid CRL could be obtained for the certificate %s, issued by \"%s\": %s", who, issuer,
                            it->reasons);
    else
        len = cg_fmt_append(why->detail, cap - tl, len,
                            "The revocation status of the certificate %s, issued by \"%s\", could not be "
                            "established: %s",
                            who, issuer, it->reasons);
    if (len > cap - tl - 1)
        len = cap - tl - 1;
    memcpy(why->detail + len, tail, tl + 1);
}

/* Completes chk when its verdict is known. Returns true when it finished
 * (chk is then freed). */
static bool check_maybe_done(cg_crl_check *chk)
{
    if (chk->done || chk->busy)
        return false;
    const item *revoked = NULL, *unknown = NULL;
    int nunknown = 0;
    bool waiting = false;
    for (int i = chk->nitems - 1; i >= 0; i--) { /* from the CA nearest the anchor down */
        const item *it = &chk->items[i];
        if (it->st == IT_REVOKED && !revoked)
            revoked = it;
        if (it->st == IT_UNKNOWN) {
            if (!unknown)
                unknown = it;
            nunknown++;
        }
        if (it->st == IT_WAIT || it->st == IT_EVAL)
            waiting = true;
    }
    if (!revoked && waiting)
        return false;
    chk->done = true;
    for (int i = 0; i < chk->nitems; i++)
        item_release(&chk->items[i]);
    cg_refusal why;
    cg_rev_status st = revoked ? CG_REV_REVOKED : unknown ? CG_REV_UNKNOWN : CG_REV_GOOD;
    if (revoked)
        refusal_revoked(chk, revoked, &why);
    else if (unknown)
        refusal_unknown(chk, unknown, nunknown - 1, &why);
    if (chk->report)
        fill_report(chk);
    chk->cb(chk->ctx, st, st == CG_REV_GOOD ? NULL : &why);
    check_free(chk);
    return true;
}

/* A job the item waited for ended (its attempts are the job's). */
static void item_job_done(crl_waiter *w, bool delta, const cg_crl_attempt *attempts, int nattempts)
{
    item *it = (item *)((char *)w - offsetof(item, waiter));
    cg_crl_check *chk = it->chk;
    item_copy_attempts(it, attempts, nattempts);
    if (delta)
        it->fetched_delta = true;
    else
        it->fetched_base = true;
    it->st = IT_EVAL;
    chk->busy++;
    item_eval(it);
    item_after(it);
    chk->busy--;
    check_maybe_done(chk);
}

static void immediate(cg_crl_cb cb, void *ctx, cg_rev_status st, cg_refusal_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void immediate(cg_crl_cb cb, void *ctx, cg_rev_status st, cg_refusal_kind kind, const char *fmt, ...)
{
    cg_refusal why;
    why.kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why.detail, sizeof why.detail, fmt, ap);
    va_end(ap);
    cb(ctx, st, st == CG_REV_GOOD ? NULL : &why);
}

void cg_crl_policy_from(cg_crl_policy *p, const cg_listener_cfg *l, const cg_verify_policy *verify)
{
    memset(p, 0, sizeof *p);
    p->listener = l->name;
    p->policy = l->revocation.policy;
    p->ocsp_responder = l->revocation.ocsp_responder;
    p->mode = l->revocation.mode;
    p->stale_grace_s = l->revocation.stale_grace_s;
    p->allow_weak_signatures = l->allow_weak_signatures;
    p->verify = verify;
}

cg_crl_check *cg_crl_check_chain_report(cg_crl_fetcher *f, const cg_crl_policy *p,
                                        const mbedtls_x509_crt *const *chain, int n, cg_crl_cb cb, void *ctx,
                                        cg_crl_report *report)
{
    if (report)
        memset(report, 0, sizeof *report);
    if (p->mode == CG_REVOCATION_OFF || n <= 0) {
        cb(ctx, CG_REV_GOOD, NULL);
        return NULL;
    }
    const cg_verify_policy *policy = p->verify;
    const mbedtls_x509_crt *full[CG_CRL_MAX_CHAIN];
    if (n > CG_CRL_MAX_CHAIN)
        n = CG_CRL_MAX_CHAIN;
    for (int i = 0; i < n; i++)
        full[i] = chain[i];
    if (n == 1) {
        /* A resumed session: only the leaf. The chain it was verified with
         * is remembered by the listener's verify policy. */
        char err[400] = "";
        int m = policy ? cg_verify_chain(policy, chain[0], NULL, full, CG_CRL_MAX_CHAIN, err, sizeof err) : 0;
        if (m <= 0) {
            char who[400];
            cg_cert_describe(chain[0], 0, who, sizeof who);
            immediate(cb, ctx, CG_REV_UNKNOWN, CG_REFUSE_REVOCATION_UNKNOWN,
                      "The revocation status of the certificate %s cannot be checked: the TLS session was resumed "
                      "and its certificate chain is not known (%s). Connect again without resuming the session.",
                      who, err[0] ? err : "listener without a verify policy");
            return NULL;
        }
        n = m;
    }
    /* Sized for this chain: a check per connection must not cost a 100 KiB
     * allocation (every item of the longest chain). */
    cg_crl_check *chk = calloc(1, sizeof *chk + (size_t)(n > 1 ? n - 1 : 0) * sizeof(item));
    if (!chk) {
        immediate(cb, ctx, CG_REV_UNKNOWN, CG_REFUSE_REVOCATION_UNKNOWN,
                  "The revocation status could not be checked: out of memory.");
        return NULL;
    }
    memcpy(chk->chain, full, (size_t)n * sizeof full[0]);
    chk->f = f;
    chk->cb = cb;
    chk->ctx = ctx;
    chk->report = report;
    snprintf(chk->listener, sizeof chk->listener, "%s", p->listener ? p->listener : "?");
    chk->mode = p->mode;
    chk->stale_grace_s = p->stale_grace_s;
    chk->allow_weak = p->allow_weak_signatures;
    crl_store_settings set;
    crl_store_settings_get(crl_fetcher_store(f), &set);
    chk->refresh_before_s = set.refresh_before_s;
    chk->policy = p->policy;
    chk->ocsp = p->ocsp;
    switch (p->policy) {
    case CG_REVPOLICY_OCSP: chk->steps[0] = SRC_OCSP; chk->nsteps = 1; break;
    case CG_REVPOLICY_OCSP_THEN_CRL: chk->steps[0] = SRC_OCSP; chk->steps[1] = SRC_CRL; chk->nsteps = 2; break;
    case CG_REVPOLICY_CRL_THEN_OCSP: chk->steps[0] = SRC_CRL; chk->steps[1] = SRC_OCSP; chk->nsteps = 2; break;
    default: chk->steps[0] = SRC_CRL; chk->nsteps = 1; break;
    }
    if (p->ocsp_responder && !(chk->ocsp_responder = strdup(p->ocsp_responder))) {
        free(chk);
        immediate(cb, ctx, CG_REV_UNKNOWN, CG_REFUSE_REVOCATION_UNKNOWN,
                  "The revocation status could not be checked: out of memory.");
        return NULL;
    }
    chk->ocsp_set = (cg_ocsp_settings){ .responder = chk->ocsp_responder, .timeout_ms = set.ocsp_timeout_ms,
                                        .max_response = set.ocsp_max_response, .nonce = set.ocsp_nonce,
                                        .allow_sha1 = p->allow_weak_signatures,
                                        .max_age_s = OCSP_NO_NEXT_UPDATE_MAX_AGE_S };
    chk->nitems = n - 1;
    chk->busy = 1;
    for (int i = 0; i < chk->nitems; i++) {
        item *it = &chk->items[i];
        it->chk = chk;
        it->depth = i;
        it->cert = chk->chain[i];
        it->issuer = chk->chain[i + 1];
        it->cert_is_ca = cg_cert_is_ca(it->cert);
        crl_issuer_id(it->issuer, it->id);
        it->ncdp = cg_crl_cert_urls(it->cert, false, it->cdp, 16);
        it->nfresh = cg_crl_cert_urls(it->cert, true, it->fresh, 16);
        it->st = IT_EVAL;
        it->waiter.done = item_job_done;
        it->ocsp_waiter.done = item_ocsp_done;
    }
    for (int i = 0; i < chk->nitems && !chk->done; i++) {
        item_ask(&chk->items[i]);
        item_after(&chk->items[i]);
        /* A revoked CA decides at once: no need to fetch the others. */
        if (chk->items[i].st == IT_REVOKED)
            break;
    }
    chk->busy = 0;
    if (check_maybe_done(chk))
        return NULL;
    return chk;
}

cg_crl_check *cg_crl_check_chain(cg_crl_fetcher *f, const cg_crl_policy *p, const mbedtls_x509_crt *const *chain,
                                 int n, cg_crl_cb cb, void *ctx)
{
    return cg_crl_check_chain_report(f, p, chain, n, cb, ctx, NULL);
}

void cg_crl_check_cancel(cg_crl_check *c)
{
    if (!c || c->done)
        return;
    c->done = true;
    check_free(c);
}
