/* The pipeline of a request, in order (admit.h), and the client it judges. */
#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "revocation/revocation.h"
#include "kerberos/kerberos.h"
#include "x509/x509.h"
#include "cert_headers.h"
#include "identity.h"
#include "mapping/mapping.h"
#include "request_limits.h"

/* ---- the client ---- */

static const cg_listener_cfg *client_listener(const cg_client *cl)
{
    return &cl->conn->tls_cfg->listeners[cl->conn->listener];
}

static void judge_certificate(cg_client *cl)
{
    cg_conn *c = cl->conn;
    const mbedtls_x509_crt *peer = cg_tls_client_leaf(&c->tls, &cl->cert_present);
    uint32_t flags = cg_tls_verify_result(&c->tls);
    if (c->tls.refused) {
        /* Refused over the chain limits (chain_limits.h), whatever the
         * verification found. */
        cl->cert_ok = false;
        cg_refuse(&cl->cert_refusal, CG_REFUSE_CERT_UNTRUSTED, "%s", c->tls.refused->why);
    } else {
        cl->cert_ok = cg_verify_client(cg_tls_server_policy(client_listener(cl)->tls), peer, flags,
                                       c->tls.resumed ? NULL : &c->tls.trace, &cl->cert_refusal);
    }
    if (peer) {
        /* The text escapes every control character (dn.h): safe in log
         * lines and sentences as it is. The identity headers are rendered
         * from the certificate itself (identity.h). */
        free(cl->subject);
        cl->subject = cg_dn_text(peer->subject_raw.p, peer->subject_raw.len, 0);
        cg_cert_serial(peer, cl->serial, sizeof cl->serial);
        cg_cert_sha256_hex(peer, cl->fingerprint);
        cg_identity_format(cl->identity, "cert", cl->fingerprint); /* 70 bytes: always fits */
    } else {
        snprintf(cl->identity, sizeof cl->identity, "anonymous");
    }
    if (peer && !c->tls.refused) {
        if (c->tls.trace.depth_count > 0) {
            cl->chain_len = c->tls.trace.depth_count;
            memcpy(cl->chain, c->tls.trace.crt, (size_t)cl->chain_len * sizeof cl->chain[0]);
        } else {
            cl->chain[0] = peer; /* resumed: the revocation module finds the issuers */
            cl->chain_len = 1;
        }
    }
    memset(&c->tls.trace, 0, sizeof c->tls.trace);
}

static void on_revocation(void *ctx, cg_rev_status st, const cg_refusal *why)
{
    cg_client *cl = ctx;
    cl->crl_check = NULL;
    cl->verdict_pending = false;
    if (st != CG_REV_GOOD) {
        cl->cert_ok = false;
        if (why)
            cl->cert_refusal = *why;
        else
            cg_refuse(&cl->cert_refusal, st == CG_REV_REVOKED ? CG_REFUSE_CERT_REVOKED : CG_REFUSE_REVOCATION_UNKNOWN,
                      "The revocation status of the client certificate \"%s\" (serial %s) could not be established.",
                      cl->subject ? cl->subject : "?", cl->serial);
    }
    /* Only an answer that arrived later resumes the request: one given
     * during cg_crl_check_chain() is handled by whoever asked (re-entering
     * here would forward the request twice). */
    cg_admit *a = cl->waiting;
    if (!cl->checking && a) {
        cl->waiting = NULL;
        cg_admit_run(a);
    }
    if (!cl->checking && cl->rejudged) {
        void (*done)(void *) = cl->rejudged;
        cl->rejudged = NULL;
        done(cl->rejudged_ctx);
    }
}

/* (Re)checks the chain's revocation status; the verdict lands in cert_ok /
 * cert_refusal. True if it is known now, false if pending (on_revocation). */
static bool check_revocation(cg_client *cl)
{
    cg_conn *c = cl->conn;
    const cg_listener_cfg *l = client_listener(cl);
    if (l->revocation.mode == CG_REVOCATION_OFF || !cl->cert_ok || cl->chain_len == 0)
        return true;
    if (cl->verdict_pending)
        return false;
    cl->verdict_pending = true;
    cl->crl_generation = cg_crl_store_generation(c->w->services->crl);
    cg_crl_policy policy;
    cg_crl_policy_from(&policy, l, l->tls ? cg_tls_server_policy(l->tls) : NULL);
    policy.ocsp = c->w->ocsp;
    /* The callback may run before this returns (all CRLs cached). */
    cl->checking = true;
    cg_crl_check *chk = cg_crl_check_chain(c->w->crl, &policy, cl->chain, cl->chain_len, on_revocation, cl);
    cl->checking = false;
    if (cl->verdict_pending)
        cl->crl_check = chk;
    return !cl->verdict_pending;
}

void cg_client_start(cg_client *cl, cg_conn *c)
{
    cl->conn = c;
    judge_certificate(cl);
    if (cl->cert_ok && cl->cert_present)
        check_revocation(cl);
}

bool cg_client_verdict_stale(const cg_client *cl)
{
    return cl->cert_ok && !cl->verdict_pending &&
           cl->crl_generation != cg_crl_store_generation(cl->conn->w->services->crl);
}

bool cg_client_rejudge(cg_client *cl, void (*done)(void *ctx), void *ctx)
{
    if (check_revocation(cl))
        return true;
    cl->rejudged = done;
    cl->rejudged_ctx = ctx;
    return false;
}

void cg_client_close(cg_client *cl)
{
    if (cl->crl_check) {
        cg_crl_check_cancel(cl->crl_check);
        cl->crl_check = NULL;
    }
    cl->waiting = NULL;
    cl->rejudged = NULL;
    free(cl->fwd_block);
    cl->fwd_block = NULL;
    cl->fwd_block_len = 0;
    cl->fwd_block_ready = false;
    free(cl->subject);
    cl->subject = NULL;
}

/* The intermediates of the client's verified chain, for Client-Cert-Chain:
 * the leaf and the trust anchor left out. A resumed session keeps the leaf
 * only: its chain is the one its full handshake verified, which the
 * listener's pool remembers by the leaf (or rebuilds from the CA
 * certificates a shared ticket carries, verify.h cg_verify_chain); once per
 * connection, and only when the chain is forwarded. */
static size_t chain_intermediates(const cg_client *cl, cg_der *out)
{
    const mbedtls_x509_crt *resumed[CG_VERIFY_MAX_DEPTH];
    const mbedtls_x509_crt *const *chain = cl->chain;
    int n = cl->chain_len;
    const cg_listener_cfg *tl = client_listener(cl);
    if (cl->conn->tls.resumed && n > 0 && tl->tls) {
        char why[400];
        n = cg_verify_chain(cg_tls_server_policy(tl->tls), cl->chain[0], NULL, resumed, CG_VERIFY_MAX_DEPTH, why,
                            sizeof why);
        chain = resumed;
    }
    size_t k = 0;
    for (int i = 1; i < n - 1; i++)
        out[k++] = (cg_der){ chain[i]->raw.p, chain[i]->raw.len };
    return k;
}

typedef enum { FWD_OK, FWD_TOO_LARGE, FWD_NO_MEMORY } fwd_result;

/* Renders the client's headers for the backends into cl->fwd_block, once:
 * who the client is does not change on a connection (the principal was
 * checked by the mapper). The certificate itself is sized before it is
 * written: over the listener's max_size the request is refused (why), never
 * sent cut. */
static fwd_result render_forward_headers(cg_client *cl, const cg_listener_cfg *l, cg_refusal *why)
{
    if (cl->fwd_block_ready)
        return FWD_OK;
    cg_buf b = { 0 };
    bool ok = true;
    const mbedtls_x509_crt *peer = cg_tls_peer_cert(&cl->conn->tls);
    if (l->forward_client_cert && cl->cert_present && peer)
        ok = cg_identity_cert_headers(&b, peer, cl->serial, cl->fingerprint);
    if (ok && l->forward_der.form != CG_CERT_DER_OFF && cl->cert_present && peer) {
        cg_der inter[CG_VERIFY_MAX_DEPTH];
        size_t ninter = l->forward_der.chain ? chain_intermediates(cl, inter) : 0;
        cg_der leaf = { peer->raw.p, peer->raw.len };
        size_t need = cg_cert_headers_size(&l->forward_der, leaf, inter, ninter);
        if (need > l->forward_der.max_size) {
            cg_buf_free(&b);
            cg_refuse(why, CG_REFUSE_CERT_TOO_LARGE,
                      "The client certificate \"%.200s\" (serial %s, %zu bytes) and the %zu intermediate CA "
                      "certificates of its chain make %zu bytes of certificate headers for the backend, more than "
                      "the %u of listener \"%s\" (forward_client_cert_der.max_size). Raise max_size if the "
                      "backends accept request heads that large (IIS/http.sys MaxFieldLength and MaxRequestBytes, "
                      "Apache LimitRequestFieldSize), or set forward_client_cert_der.chain: false.",
                      cl->subject ? cl->subject : "?", cl->serial, leaf.n, ninter, need, l->forward_der.max_size,
                      l->name);
            return FWD_TOO_LARGE;
        }
        ok = cg_cert_headers_append(&b, &l->forward_der, leaf, inter, ninter);
    }
    if (cl->mapped)
        ok = ok && cg_buf_append_str(&b, "X-Certgate-Principal: ") && cg_buf_append_str(&b, cl->principal) &&
             cg_buf_append(&b, "\r\n", 2);
    if (!ok) {
        cg_buf_free(&b);
        return FWD_NO_MEMORY;
    }
    cl->fwd_block = b.data;
    cl->fwd_block_len = b.len;
    cl->fwd_block_ready = true;
    return FWD_OK;
}

bool cg_client_forward_headers(cg_client *cl, const cg_listener_cfg *l, cg_slice *out)
{
    cg_refusal why;
    if (render_forward_headers(cl, l, &why) != FWD_OK)
        return false; /* a request admitted has its block: not reached */
    *out = (cg_slice){ cl->fwd_block, cl->fwd_block_len };
    return true;
}

/* ---- answers ---- */

static void forward(cg_admit *a, const char *token)
{
    cg_admit_answer ans = { .outcome = CG_ADMIT_FORWARD, .token = token, .again = a->again };
    a->answer(a->ctx, &ans);
}

static void refuse(cg_admit *a, const cg_refusal *why, bool close_after)
{
    cg_admit_answer ans = { .outcome = CG_ADMIT_REFUSED, .why = why, .close_after = close_after, .again = a->again };
    a->answer(a->ctx, &ans);
}

static void fail(cg_admit *a)
{
    cg_admit_answer ans = { .outcome = CG_ADMIT_FAILED };
    a->answer(a->ctx, &ans);
}

/* ---- the stages ---- */

static const cg_backend_cfg *backend_of(const cg_admit *a) { return &a->cfg->backends[a->backend]; }

/* Takes a token from the client's rate-limit buckets, or refuses (429). */
static bool rate_ok(cg_admit *a, const cg_listener_cfg *l)
{
    cg_client *cl = a->client;
    cg_conn *c = cl->conn;
    cg_rate_client who = {
        .address = &c->admit_key,
        .ipv6_prefix = c->tls_cfg->limits.per_address_ipv6_prefix,
        .fingerprint = cl->cert_present ? cl->fingerprint : NULL,
        .peer = c->peer,
        .request_id = a->request_id,
    };
    cg_refusal why;
    if (cg_request_rate_check(c->w->services->ratelimit, l, c->listener, &who, uv_hrtime(), &why,
                              &a->retry_after_s))
        return true;
    refuse(a, &why, false);
    return false;
}

/* Maps the certificate to a principal, once per client. False if refused. */
static bool map_identity(cg_admit *a, const cg_listener_cfg *l)
{
    cg_client *cl = a->client;
    if (cl->mapped || !l->mapping || !cl->cert_present)
        return true;
    cg_map_result r;
    cg_mapping_map(l->mapping, cl->chain[0] ? cl->chain[0] : cg_tls_peer_cert(&cl->conn->tls), &r);
    if (r.outcome != CG_MAP_ALLOW) {
        refuse(a, &r.why, true);
        return false;
    }
    cl->mapped = true;
    snprintf(cl->principal, sizeof cl->principal, "%s", r.principal);
    snprintf(cl->map_rule, sizeof cl->map_rule, "%s", r.rule);
    /* Backend connections follow the user, not the certificate: the whole
     * principal is the key (it always fits; never shortened). */
    _Static_assert(CG_IDENTITY_MAX >= sizeof "user:" + sizeof r.principal - 1, "identity room");
    if (!cg_identity_format(cl->identity, "user", cl->principal)) {
        fail(a);
        return false;
    }
    return true;
}

static void on_token(void *ctx, const char *token_b64, const cg_refusal *why)
{
    cg_admit *a = ctx;
    a->deleg = NULL;
    if (!token_b64) {
        refuse(a, why, false);
        return;
    }
    a->token_flushes = a->client->tickets_flushed;
    forward(a, token_b64);
}

static void request_token(cg_admit *a)
{
    cg_conn *c = a->client->conn;
    a->deleg = cg_delegation_token(c->w->services->kerberos, &c->w->loop, a->client->principal, backend_of(a)->spn,
                                   on_token, a);
    /* on_token answers, possibly already done */
}

void cg_admit_run(cg_admit *a)
{
    cg_client *cl = a->client;
    cg_conn *c = cl->conn;
    cg_refusal why;

    /* A CRL changed since this client's verdict: check again. */
    if (cl->cert_ok && !cl->verdict_pending && cl->crl_generation != cg_crl_store_generation(c->w->services->crl))
        check_revocation(cl);
    if (cl->verdict_pending) {
        cl->waiting = a; /* on_revocation runs us again */
        return;
    }

    a->again = false;
    a->route = NULL;
    a->body_room = UINT64_MAX;
    a->retry_after_s = 0;
    a->replay_ok = false;
    if (cl->cert_present && !cl->cert_ok) {
        refuse(a, &cl->cert_refusal, true);
        return;
    }
    const cg_listener_cfg *l = &a->cfg->listeners[c->listener];
    if (cg_request_rate_enabled(l) && !rate_ok(a, l))
        return;
    a->route = cg_config_route(l, a->req->path.p, a->req->path.n);
    if (!a->route) {
        char p[300];
        cg_slice_copy(p, sizeof p, a->req->path);
        cg_refuse(&why, CG_REFUSE_NO_ROUTE, "No route of listener \"%s\" matches the path \"%s\".", l->name, p);
        refuse(a, &why, false);
        return;
    }
    a->backend = a->route->backend;
    if (!cl->cert_present && a->route->client_cert_required) {
        refuse(a, &cl->cert_refusal, true);
        return;
    }
    a->body_room = cg_request_body_max(l, a->route);
    if (a->req->body == CG_BODY_LENGTH && a->req->content_length > a->body_room) {
        /* Before any backend connection: also before a 100 Continue. */
        cg_request_body_refusal(&why, l, a->route, a->body_room, a->req->content_length, true);
        refuse(a, &why, true);
        return;
    }
    if (!map_identity(a, l))
        return;
    /* The headers that say who the client is, rendered now (once per
     * client) so that a certificate too large to forward is refused with a
     * page rather than sent cut. */
    switch (render_forward_headers(cl, l, &why)) {
    case FWD_OK:
        break;
    case FWD_TOO_LARGE:
        refuse(a, &why, true);
        return;
    case FWD_NO_MEMORY:
        fail(a);
        return;
    }

    const cg_backend_cfg *b = backend_of(a);
    if (b->kerberos) {
        if (!cl->mapped) {
            cg_refuse(&why, CG_REFUSE_CERT_MISSING,
                      "Backend \"%s\" is reached as the mapped user, and this request has no client certificate "
                      "to map (route \"%s\" has client_cert: optional).",
                      b->name, a->route->path);
            refuse(a, &why, true);
            return;
        }
        a->replay_ok = a->req->body == CG_BODY_CHUNKED ||
                       (a->req->body == CG_BODY_LENGTH && a->req->content_length <= CG_REPLAY_MAX);
        /* Connection-bound backends (IIS, mod_auth_gssapi GssapiConnectionBound)
         * authenticate a connection once; ours never changes user. */
        bool bound = b->connection_bound && !a->dedicated &&
                     cg_backend_idle_authenticated(c->w, a->backend, cl->identity);
        if (!b->send_on_401_only && !bound) {
            request_token(a);
            return;
        }
    }
    forward(a, NULL);
}

bool cg_admit_delegates(const cg_admit *a) { return backend_of(a)->kerberos && a->client->mapped; }

void cg_admit_token_again(cg_admit *a, bool after_401, bool sent_token)
{
    if (after_401) {
        cg_log_fields(CG_LOG_INFO, "backend_401", CG_LF_STR("id", a->request_id),
                      CG_LF_STR("backend", backend_of(a)->name), CG_LF_STR("principal", a->client->principal),
                      CG_LF_STR("detail", sent_token ? "ticket refused: retrying once with a fresh one"
                                                     : "credentials requested"));
        /* The refused ticket is dropped once: streams whose tokens came from
         * it and were refused too join the exchange for the fresh one. */
        if (sent_token && a->token_flushes == a->client->tickets_flushed) {
            cg_delegation_flush(a->client->conn->w->services->kerberos, a->client->principal);
            a->client->tickets_flushed++;
        }
    }
    a->again = true;
    request_token(a);
}

bool cg_admit_new_connection_needs_token(const cg_admit *a, bool sent_token)
{
    /* It relied on the dead connection being authenticated (connection
     * bound); a send_on_401_only backend asks for the token itself. */
    return cg_admit_delegates(a) && !sent_token && !backend_of(a)->send_on_401_only;
}

void cg_admit_cancel(cg_admit *a)
{
    if (a->deleg) {
        cg_delegation_cancel(a->deleg);
        a->deleg = NULL;
    }
    if (a->client && a->client->waiting == a)
        a->client->waiting = NULL;
}
