/* certgate explain: what `certutil -verify -urlfetch` told IIS operators, but
 * readable. The chain, each certificate (subject, issuer, serial, validity,
 * key, EKU, CRL Distribution Points), the verification verdict, then for
 * every certificate but the anchor the revocation check as the server would
 * run it (each fetch: URL, HTTP status, time, size, result; the CRL used:
 * thisUpdate, nextUpdate, entries), the mapping when the listener has one,
 * and the final verdict with the 403.x code certgate would return.
 *
 *   certgate explain --cert FILE [--chain FILE] [-c CONFIG [--listener NAME]]
 *                    [--ca FILE] [--crl FILE|DIR]... [--offline] [-v]
 *
 * Exit status: 0 when the certificate would be accepted, 1 when refused,
 * 2 for usage, configuration or file errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>
#include <uv.h>

#include "commands.h"
#include "config/config.h"
#include "revocation/revocation.h"
#include "x509/x509.h"
#include "doctor.h"
#include "base/base.h"
#include "mapping/mapping.h"
#include "net/net.h"

#define MAX_CRL_ARGS 32

typedef struct opts {
    const char *cert, *chain, *config, *listener, *ca;
    const char *crls[MAX_CRL_ARGS];
    size_t ncrls;
    bool offline, verbose, delegate;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: certgate explain --cert FILE [--chain FILE] [-c CONFIG [--listener NAME]]\n"
            "                        [--ca FILE] [--crl FILE|DIR]... [--offline] [--delegate] [-v]\n"
            "\n"
            "Explains, step by step, whether certgate would accept a client certificate:\n"
            "the chain, each certificate, verification, revocation (fetching CRLs as the\n"
            "server would, unless --offline), the mapping, and the verdict (403.x code).\n"
            "\n"
            "  --cert FILE        the client certificate (PEM or DER; may hold its chain, leaf first)\n"
            "  --chain FILE       more intermediate certificates (PEM)\n"
            "  -c, --config FILE  certgate configuration: trust anchors and settings of its first\n"
            "                     listener (or --listener NAME)\n"
            "  --ca FILE          trust anchors (PEM) when there is no configuration\n"
            "  --crl FILE|DIR     more CRLs to use (like revocation.crl_files); repeatable\n"
            "  --offline          no network: only revocation.cache_dir and crl_files\n"
            "  --delegate         also check Kerberos delegation for the mapped principal to\n"
            "                     each backend with kerberos (as `certgate doctor` does)\n"
            "  -v, --verbose      also log what the revocation module does (stderr)\n"
            "\n"
            "Exit status: 0 accepted, 1 refused, 2 usage or file errors.\n");
}

static bool parse_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--cert"))
            slot = &o->cert;
        else if (!strcmp(a, "--chain"))
            slot = &o->chain;
        else if (!strcmp(a, "-c") || !strcmp(a, "--config"))
            slot = &o->config;
        else if (!strcmp(a, "--listener"))
            slot = &o->listener;
        else if (!strcmp(a, "--ca"))
            slot = &o->ca;
        else if (!strcmp(a, "--crl")) {
            if (o->ncrls == MAX_CRL_ARGS) {
                fprintf(stderr, "certgate explain: at most %d --crl options\n", MAX_CRL_ARGS);
                return false;
            }
            slot = &o->crls[o->ncrls++];
        } else if (!strcmp(a, "--offline")) {
            o->offline = true;
            continue;
        } else if (!strcmp(a, "--delegate")) {
            o->delegate = true;
            continue;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = true;
            continue;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "certgate explain: unknown argument \"%s\"\n\n", a);
            usage(stderr);
            return false;
        }
        if (++i >= argc) {
            fprintf(stderr, "certgate explain: %s needs a value\n", a);
            return false;
        }
        *slot = argv[i];
    }
    if (!o->cert) {
        fprintf(stderr, "certgate explain: --cert FILE is required\n\n");
        usage(stderr);
        return false;
    }
    if (!o->config && !o->ca) {
        fprintf(stderr, "certgate explain: give the configuration (-c FILE) or the trust anchors (--ca FILE)\n");
        return false;
    }
    if (o->listener && !o->config) {
        fprintf(stderr, "certgate explain: --listener needs -c FILE\n");
        return false;
    }
    return true;
}

/* ---- describing certificates ---- */

static void print_ekus(const mbedtls_x509_crt *c)
{
    if (!mbedtls_x509_crt_has_ext_type(c, MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE)) {
        printf("      EKU        (none: valid for every purpose)\n");
        return;
    }
    printf("      EKU        ");
    int k = 0;
    for (const mbedtls_x509_sequence *s = &c->ext_key_usage; s && s->buf.p; s = s->next) {
        const char *desc = NULL;
        char oid[64];
        cg_oid_text(s->buf.p, s->buf.len, oid, sizeof oid, "?");
        if (mbedtls_oid_get_extended_key_usage(&s->buf, &desc) == 0)
            printf("%s%s (%s)", k++ ? ", " : "", desc, oid);
        else
            printf("%s%s", k++ ? ", " : "", oid);
    }
    printf("\n");
}

static void print_key_usage(const mbedtls_x509_crt *c)
{
    static const struct {
        unsigned bit;
        const char *name;
    } bits[] = {
        { MBEDTLS_X509_KU_DIGITAL_SIGNATURE, "digitalSignature" }, { MBEDTLS_X509_KU_NON_REPUDIATION, "nonRepudiation" },
        { MBEDTLS_X509_KU_KEY_ENCIPHERMENT, "keyEncipherment" },   { MBEDTLS_X509_KU_DATA_ENCIPHERMENT, "dataEncipherment" },
        { MBEDTLS_X509_KU_KEY_AGREEMENT, "keyAgreement" },         { MBEDTLS_X509_KU_KEY_CERT_SIGN, "keyCertSign" },
        { MBEDTLS_X509_KU_CRL_SIGN, "cRLSign" },
    };
    if (!mbedtls_x509_crt_has_ext_type(c, MBEDTLS_X509_EXT_KEY_USAGE))
        return;
    printf("      key usage  ");
    int k = 0;
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (mbedtls_x509_crt_check_key_usage(c, bits[i].bit) == 0)
            printf("%s%s", k++ ? ", " : "", bits[i].name);
    printf("\n");
}

static void print_urls(const char *label, const mbedtls_x509_crt *c, bool freshest)
{
    char *urls[16];
    size_t n = cg_crl_cert_urls(c, freshest, urls, 16);
    if (n == 0) {
        if (!freshest)
            printf("      %-10s (none)\n", label);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        printf("      %-10s %s\n", i ? "" : label, urls[i]);
        free(urls[i]);
    }
}

static const char *validity_state(const mbedtls_x509_crt *c)
{
    if (mbedtls_x509_time_is_past(&c->valid_to))
        return "EXPIRED";
    if (mbedtls_x509_time_is_future(&c->valid_from))
        return "NOT YET VALID";
    return "valid now";
}

static void print_cert(const mbedtls_x509_crt *c, int depth, bool anchor)
{
    char serial[80], from[40], to[40], sig[64], fp[65];
    /* The whole names, in the text the headers and logs use (dn.h). */
    char *subject = cg_dn_text(c->subject_raw.p, c->subject_raw.len, 0);
    char *issuer = cg_dn_text(c->issuer_raw.p, c->issuer_raw.len, 0);
    cg_cert_serial(c, serial, sizeof serial);
    cg_x509_time_format(&c->valid_from, from, sizeof from);
    cg_x509_time_format(&c->valid_to, to, sizeof to);
    const char *sig_desc = NULL;
    if (mbedtls_oid_get_sig_alg_desc(&c->sig_oid, &sig_desc) != 0 || !sig_desc)
        sig_desc = "?";
    snprintf(sig, sizeof sig, "%s", sig_desc);
    cg_cert_sha256_hex(c, fp);
    printf("  [%d] %s%s\n", depth, subject ? subject : "(out of memory)",
           anchor ? "   (trust anchor)" : depth == 0 ? "   (client certificate)" : "");
    printf("      issuer     %s\n", issuer ? issuer : "(out of memory)");
    free(subject);
    free(issuer);
    printf("      serial     %s\n", serial);
    printf("      validity   %s .. %s (%s)\n", from, to, validity_state(c));
    printf("      key        %s, %zu bits; signed with %s\n", mbedtls_pk_get_name(&c->pk),
           mbedtls_pk_get_bitlen(&c->pk), sig);
    if (mbedtls_x509_crt_has_ext_type(c, MBEDTLS_X509_EXT_BASIC_CONSTRAINTS)) {
        if (cg_cert_is_ca(c) && cg_cert_max_pathlen(c) > 0)
            printf("      CA         yes, pathLenConstraint %d\n", cg_cert_max_pathlen(c) - 1);
        else
            printf("      CA         %s\n", cg_cert_is_ca(c) ? "yes" : "no");
    }
    print_key_usage(c);
    if (depth == 0 || !anchor)
        print_ekus(c);
    if (!anchor) {
        print_urls("CDP", c, false);
        print_urls("freshest", c, true);
    }
    printf("      sha256     %s\n", fp);
}

/* The flags a server's handshake adds for the leaf (mbedtls_ssl_check_cert_usage). */
static uint32_t leaf_usage_flags(const mbedtls_x509_crt *leaf)
{
    uint32_t f = 0;
    if (mbedtls_x509_crt_check_key_usage(leaf, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0)
        f |= MBEDTLS_X509_BADCERT_KEY_USAGE;
    if (mbedtls_x509_crt_check_extended_key_usage(leaf, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0)
        f |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
    return f;
}

static void print_refusal(const char *what, const cg_refusal *r)
{
    char code[16];
    cg_refusal_status_text(r->kind, code, sizeof code);
    printf("%s%sREFUSED %s %s (%s)\n  %s\n", what ? what : "", what ? ": " : "", code, cg_refusal_code(r->kind),
           cg_refusal_title(r->kind), r->detail);
}

/* ---- revocation ---- */

typedef struct rev_wait {
    bool done;
    cg_rev_status st;
    cg_refusal why;
} rev_wait;

static void on_rev(void *ctx, cg_rev_status st, const cg_refusal *why)
{
    rev_wait *w = ctx;
    w->done = true;
    w->st = st;
    if (why)
        w->why = *why;
}

static void print_crl(const char *label, const cg_crl_info *c)
{
    if (!c->present)
        return;
    printf("      %-9s issuer \"%s\"\n", label, c->issuer);
    printf("      %-9s thisUpdate %s, nextUpdate %s%s\n", "", c->this_update,
           c->next_update[0] ? c->next_update : "(none)", c->stale ? "  PAST nextUpdate (stale_grace)" : "");
    printf("      %-9s %zu entr%s, CRL number %s, %s\n", "", c->entries, c->entries == 1 ? "y" : "ies",
           c->number[0] ? c->number : "(none)", c->signature);
    printf("      %-9s from %s\n", "", c->source);
}

static void print_report(const cg_crl_report *r, const mbedtls_x509_crt *const *chain)
{
    for (int i = 0; i < r->n; i++) {
        const cg_crl_report_cert *c = &r->certs[i];
        char *subject = cg_dn_text(chain[c->depth]->subject_raw.p, chain[c->depth]->subject_raw.len, 0);
        printf("  [%d] %s\n", c->depth, subject ? subject : "(out of memory)");
        free(subject);
        for (int k = 0; k < c->nattempts; k++) {
            const cg_crl_attempt *a = &c->attempts[k];
            printf("      fetch     %s\n", a->url);
            bool ran = strncmp(a->result, "skipped", 7) != 0 && strncmp(a->result, "not tried", 9) != 0 &&
                       strncmp(a->result, "cancelled", 9) != 0;
            if (ran) {
                char st[24] = "";
                if (a->status)
                    snprintf(st, sizeof st, "HTTP %d, ", a->status);
                printf("      %-9s -> %s (%s%u ms, %llu bytes)\n", "", a->result, st, a->ms,
                       (unsigned long long)a->bytes);
            } else {
                printf("      %-9s -> %s\n", "", a->result);
            }
        }
        print_crl("CRL", &c->base);
        print_crl("delta CRL", &c->delta);
        if (c->ocsp.responder[0]) {
            char tu[40], nu[40];
            cg_fmt_time_utc(c->ocsp.this_update, tu, sizeof tu);
            if (c->ocsp.next_update)
                cg_fmt_time_utc(c->ocsp.next_update, nu, sizeof nu);
            else
                snprintf(nu, sizeof nu, "(none)");
            printf("      OCSP      responder %s answers %s\n", c->ocsp.responder, cg_ocsp_status_name(c->ocsp.status));
            printf("      %-9s signed by \"%s\", thisUpdate %s, nextUpdate %s\n", "", c->ocsp.signer, tu, nu);
        }
        printf("      result    %s\n", c->summary);
    }
}

/* ---- the command ---- */

int cg_cmd_explain(int argc, char **argv)
{
    opts o;
    if (!parse_args(argc, argv, &o))
        return 2;
    cg_log_open(NULL, o.verbose ? CG_LOG_DEBUG : CG_LOG_ERROR);

    int rc = 2;
    cg_diag d;
    cg_diag_init(&d);
    cg_config *cfg = NULL;
    const cg_listener_cfg *lsrc = NULL;
    mbedtls_x509_crt anchors, peer;
    mbedtls_x509_crt_init(&anchors);
    mbedtls_x509_crt_init(&peer);
    cg_verify_policy local_policy;
    const cg_verify_policy *policy = NULL;
    cg_listener_cfg l;
    cg_config shadow;
    char **crl_files = NULL;
    cg_crl_store *store = NULL;
    uv_loop_t loop;
    bool loop_ready = false;
    cg_crl_fetcher *f = NULL;
    cg_ocsp_client *ocsp = NULL;
    int err;

    /* The listener and its settings. */
    if (o.config) {
        cfg = cg_config_load(o.config, 0, &d);
        cg_diag_print(&d, stderr);
        if (!cfg) {
            fprintf(stderr, "certgate explain: %s: configuration not valid\n", o.config);
            goto out;
        }
        for (size_t i = 0; i < cfg->nlisteners && !lsrc; i++)
            if (!o.listener || !strcmp(cfg->listeners[i].name, o.listener))
                lsrc = &cfg->listeners[i];
        if (!lsrc) {
            fprintf(stderr, "certgate explain: %s has no listener named \"%s\"\n", o.config,
                    o.listener ? o.listener : "?");
            goto out;
        }
        policy = cg_tls_server_policy(lsrc->tls);
        l = *lsrc;
    } else {
        if ((err = mbedtls_x509_crt_parse_file(&anchors, o.ca)) != 0) {
            char e[160];
            fprintf(stderr, "certgate explain: --ca %s: %s\n", o.ca,
                    err > 0 ? "some certificates could not be parsed" : cg_tls_strerror(err, e, sizeof e));
            goto out;
        }
        memset(&local_policy, 0, sizeof local_policy);
        local_policy.listener = "(--ca)";
        local_policy.anchors = &anchors;
        local_policy.require_client_auth_eku = true;
        local_policy.max_chain_depth = CG_VERIFY_DEFAULT_DEPTH;
        policy = &local_policy;
        memset(&l, 0, sizeof l);
        l.name = "(--ca)";
        l.client_ca_file = (char *)o.ca;
        l.require_client_auth_eku = true;
        l.max_chain_depth = CG_VERIFY_DEFAULT_DEPTH;
        l.revocation.mode = CG_REVOCATION_FETCH;
    }
    /* The listener as explain runs it: --crl added, --offline. */
    crl_files = calloc(l.revocation.ncrl_files + o.ncrls + 1, sizeof *crl_files);
    if (!crl_files)
        goto out;
    for (size_t i = 0; i < l.revocation.ncrl_files; i++)
        crl_files[i] = l.revocation.crl_files[i];
    for (size_t i = 0; i < o.ncrls; i++)
        crl_files[l.revocation.ncrl_files + i] = (char *)o.crls[i];
    l.revocation.crl_files = crl_files;
    l.revocation.ncrl_files += o.ncrls;
    cg_revocation_mode configured_mode = l.revocation.mode;
    if (o.offline && l.revocation.mode == CG_REVOCATION_FETCH)
        l.revocation.mode = CG_REVOCATION_CACHE_ONLY;
    memset(&shadow, 0, sizeof shadow);
    shadow.file = cfg ? cfg->file : NULL;
    if (cfg) {
        shadow.revocation = cfg->revocation;
    } else {
        shadow.revocation.fetch_timeout_ms = 10000;
        shadow.revocation.max_crl_size = 64u << 20;
        shadow.revocation.max_redirects = 3;
        shadow.revocation.allow_http = shadow.revocation.allow_ldap = true;
        shadow.revocation.refresh_before_s = 600;
    }
    shadow.listeners = &l;
    shadow.nlisteners = 1;

    /* The certificate and its chain. */
    if ((err = mbedtls_x509_crt_parse_file(&peer, o.cert)) != 0 || !peer.raw.p) {
        char e[160];
        fprintf(stderr, "certgate explain: --cert %s: %s\n", o.cert,
                err > 0 ? "some certificates could not be parsed" : cg_tls_strerror(err, e, sizeof e));
        goto out;
    }
    if (o.chain && (err = mbedtls_x509_crt_parse_file(&peer, o.chain)) != 0) {
        char e[160];
        fprintf(stderr, "certgate explain: --chain %s: %s\n", o.chain,
                err > 0 ? "some certificates could not be parsed" : cg_tls_strerror(err, e, sizeof e));
        goto out;
    }

    printf("certgate explain %s\n", o.cert);
    if (cfg)
        printf("listener \"%s\" of %s; trust anchors %s\n", l.name, cfg->file, l.client_ca_file);
    else
        printf("trust anchors %s (no configuration: default settings)\n", o.ca);
    printf("policy: Client Authentication EKU %s, at most %u certificates, %s signatures\n",
           l.require_client_auth_eku ? "required" : "not required",
           l.max_chain_depth ? l.max_chain_depth : CG_VERIFY_DEFAULT_DEPTH,
           l.allow_weak_signatures ? "MD5/SHA-1 accepted" : "SHA-2");

    /* Verification, as the handshake and cg_verify_client do it. */
    cg_verify_trace trace;
    memset(&trace, 0, sizeof trace);
    uint32_t flags = 0;
    mbedtls_x509_crt_verify_with_profile(&peer, (mbedtls_x509_crt *)policy->anchors, NULL,
                                         cg_verify_profile(l.allow_weak_signatures), NULL, &flags, cg_verify_record,
                                         &trace);
    flags |= leaf_usage_flags(&peer);
    cg_refusal why;
    bool verified = cg_verify_client(policy, &peer, flags, &trace, &why);

    printf("\nChain (leaf first):\n");
    const mbedtls_x509_crt *chain[CG_VERIFY_MAX_DEPTH];
    int n = 0;
    if (trace.depth_count > 0) {
        for (int i = 0; i < trace.depth_count && trace.crt[i]; i++)
            chain[n++] = trace.crt[i];
    }
    bool anchored = n > 0 && !(trace.flags[n - 1] & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
    for (int i = 0; i < n; i++)
        print_cert(chain[i], i, anchored && i == n - 1);
    if (!anchored) {
        /* Show what else the client would send. */
        int extra = 0;
        for (const mbedtls_x509_crt *c = &peer; c && c->raw.p; c = c->next) {
            bool shown = false;
            for (int i = 0; i < n && !shown; i++)
                shown = chain[i] == c;
            if (!shown) {
                if (!extra++)
                    printf("  not in the chain:\n");
                print_cert(c, n + extra - 1, false);
            }
        }
    }

    printf("\n");
    if (!verified) {
        print_refusal("Verification", &why);
        printf("\nRevocation: not checked (the certificate is refused before)\n");
        printf("\nVerdict: ");
        print_refusal(NULL, &why);
        rc = 1;
        goto out;
    }
    printf("Verification: OK (%d certificate%s up to a trusted client CA)\n", n, n == 1 ? "" : "s");

    /* Revocation, as the server would check it. */
    cg_rev_status rst = CG_REV_GOOD;
    cg_refusal rwhy;
    memset(&rwhy, 0, sizeof rwhy);
    if (l.revocation.mode == CG_REVOCATION_OFF) {
        printf("\nRevocation: OFF on this listener (revocation.mode: off): revoked certificates are accepted\n");
    } else {
        store = cg_crl_store_new(&shadow, &d);
        if (d.count)
            cg_diag_print(&d, stderr);
        if (!store) {
            fprintf(stderr, "certgate explain: the CRL cache and crl_files could not be loaded\n");
            goto out;
        }
        cg_crl_store_set_persist(store, false); /* explain observes; it never writes the cache */
        size_t total, from_files, from_cache;
        cg_crl_store_stats(store, &total, &from_files, &from_cache);
        printf("\nRevocation (mode %s%s; %zu CRL%s loaded: %zu from crl_files, %zu from cache_dir%s%s):\n",
               l.revocation.mode == CG_REVOCATION_FETCH ? "fetch" : "cache-only",
               o.offline && configured_mode == CG_REVOCATION_FETCH ? ", --offline" : "", total, total == 1 ? "" : "s",
               from_files, from_cache, shadow.revocation.cache_dir ? " " : "",
               shadow.revocation.cache_dir ? shadow.revocation.cache_dir : "");
        if (uv_loop_init(&loop) != 0)
            goto out;
        loop_ready = true;
        f = cg_crl_fetcher_new(&loop, store);
        if (!f)
            goto out;
        static cg_crl_report report;
        rev_wait w = { .done = false };
        cg_crl_policy rpolicy;
        /* The verify policy explain judged the chain with (the listener's, or
         * the one --ca built): a one-certificate chain is rebuilt with it. */
        cg_crl_policy_from(&rpolicy, &l, policy);
        /* OCSP is asked like the server asks it, unless --offline. */
        if (!o.offline && l.revocation.policy != CG_REVPOLICY_CRL)
            ocsp = cg_ocsp_client_new(f, crl_store_ocsp_cache(store));
        rpolicy.ocsp = ocsp;
        cg_crl_check_chain_report(f, &rpolicy, chain, n, on_rev, &w, &report);
        /* Transfers, timers and thread-pool work keep the loop alive until the answer. */
        while (!w.done && uv_run(&loop, UV_RUN_ONCE))
            ;
        if (!w.done) {
            fprintf(stderr, "certgate explain: the revocation check did not finish\n");
            goto out;
        }
        rst = w.st;
        rwhy = w.why;
        if (n < 2)
            printf("  (the certificate is itself a trust anchor: nothing to check)\n");
        print_report(&report, chain);
    }

    /* Mapping, when the listener has one. */
    cg_map_result map;
    memset(&map, 0, sizeof map);
    bool mapped_ok = true;
    if (l.mapping) {
        printf("\nMapping (%s):\n", l.mapping_file ? l.mapping_file : "?");
        fflush(stdout);
        cg_mapping_explain(l.mapping, &peer, stdout);
        cg_mapping_map(l.mapping, &peer, &map);
        mapped_ok = map.outcome == CG_MAP_ALLOW;
        fflush(stdout);
        if (mapped_ok)
            printf("  -> principal %s (%s)\n", map.principal, map.rule);
    }

    printf("\nVerdict: ");
    if (rst != CG_REV_GOOD) {
        print_refusal(NULL, &rwhy);
        rc = 1;
    } else if (!mapped_ok) {
        print_refusal(NULL, &map.why);
        rc = 1;
    } else {
        printf("ACCEPTED (the request would go to the backend%s%s)\n", l.mapping ? " as " : "",
               l.mapping ? map.principal : "");
        rc = 0;
    }

    /* Delegation: the principal through S4U2Self + S4U2Proxy to each SPN. */
    if (o.delegate) {
        printf("\nDelegation:\n");
        if (!o.config || !l.mapping || rc != 0 || !mapped_ok) {
            printf("  skipped: needs -c CONFIG, a listener with a mapping, and an accepted certificate\n");
            if (rc == 0)
                rc = 1;
        } else {
            fflush(stdout);
            cg_doctor_options dopts = { .cfg = cfg, .config_path = o.config, .user = map.principal, .out = stdout };
            cg_doctor_tally tally;
            bool delegates = cg_doctor_run(&dopts, &tally);
            if (tally.finished)
                cg_doctor_print_tally(stdout, &tally);
            fflush(stdout);
            if (!delegates) {
                printf("\nVerdict with delegation: REFUSED (a delegation check failed above)\n");
                rc = 1;
            } else {
                printf("\nVerdict with delegation: ACCEPTED (tickets for %s can be obtained)\n", map.principal);
            }
        }
    }

out:
    if (f) {
        cg_crl_fetcher_close(f);
        cg_ocsp_client_free(ocsp); /* after its fetcher (server.c says why) */
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    if (loop_ready)
        uv_loop_close(&loop);
    cg_crl_store_free(store);
    free(crl_files);
    mbedtls_x509_crt_free(&peer);
    mbedtls_x509_crt_free(&anchors);
    if (cfg)
        cg_config_unref(cfg);
    cg_diag_free(&d);
    fflush(stdout);
    cg_log_close();
    return rc;
}
