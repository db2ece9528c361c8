/* The Kerberos delegation checklist (doctor.h): one table of checks run in
 * order on a configuration snapshot, each result a value handed to the
 * caller's report function.
 *
 * Checks, in order (a check that cannot run because an earlier one failed
 * is reported as "skip"):
 *   config       kerberos settings (the snapshot's, overridden); backends
 *                with kerberos
 *   krb5.conf    which file, the realm's KDCs
 *   keytab       readable, mode, key versions (kvno) and enctypes of the
 *                proxy principal (never the keys)
 *   proxy TGT    AS exchange with the keytab (the proxy's own credentials);
 *                clock: skew between this host and the KDC
 *   kvno         the KDC's key version for the proxy matches the keytab,
 *                and the keytab's key decrypts a ticket the KDC issued
 *   ad-name      Active Directory (a PAC in the tickets): the proxy
 *                principal's form, account name / UPN / SPN (doctor_ad.h)
 *   mapping      (cert) the principal the listener's mapping gives
 *   user         (user) the user's principal name
 *   backends     at least one SPN to delegate to
 *   s4u2self     per user: ticket for the user to the proxy; forwardable,
 *                or a warning (only RBCD on Windows AD accepts it)
 *   s4u2proxy    per user and SPN: ticket for the user to the SPN, asked
 *                even for non-forwardable evidence; when granted, the model
 *                (classic or resource-based, deleg_model.h); token: a
 *                SPNEGO token from that ticket; backend: (probe_path) what
 *                the backend answers to the token (GET PATH): 2xx accepted,
 *                401 rejected, 400/413/431 token too large
 */
#include "doctor.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <krb5.h>
#include <mbedtls/x509_crt.h>
#include <profile.h>

#include "kerberos/kerberos.h"
#include "doctor_ad.h"
#include "doctor_tls.h"
#include "mapping/mapping.h"
#include "http/http.h"

#define MAX_TARGETS 64
#define MAX_KEYS 128

typedef struct doctor_target {
    const char *name;   /* backend name or "--spn" */
    const char *spn;
    const char *url;    /* NULL: no probe possible */
    const cg_backend_cfg *b; /* NULL with --spn alone */
} doctor_target;

/* What the checks share, filled in as they run. */
typedef struct doctor_run {
    const cg_doctor_options *o;
    cg_doctor_tally *t;
    const cg_config *cfg;
    const char *config;         /* the file's name for sentences, or NULL */
    cg_kerberos_cfg kc;         /* the snapshot's, with the overrides */
    doctor_target targets[MAX_TARGETS];
    size_t ntargets;
    krb5_context ctx;           /* NULL until krb5.conf's check made it */
    char proxy[512];            /* principal@REALM */
    char ccname[96];            /* the proxy's credentials */
    cg_kdc_key keys[MAX_KEYS];
    size_t nkeys;
    bool keytab_ok, tgt_ok;
    krb5_error_code tgt_rc;     /* the proxy's AS exchange (0 when it worked or did not run) */
    cg_kdc_kind kdc_kind;       /* from the ticket the kvno check decrypts */
    cg_kdc_names names;
    char user[512];             /* the user to impersonate, "" when none */
    krb5_creds *evidence;       /* S4U2Self's ticket */
    bool s4u_tried, forwardable;
} doctor_run;

/* ---- results ---- */

const char *cg_doctor_status_name(cg_doctor_status s)
{
    switch (s) {
    case CG_DOCTOR_OK: return "ok";
    case CG_DOCTOR_WARN: return "warn";
    case CG_DOCTOR_FAIL: return "FAIL";
    case CG_DOCTOR_SKIP: return "skip";
    }
    return "?";
}

void cg_doctor_print(FILE *out, const cg_doctor_result *r)
{
    fprintf(out, "%-4s %-10s %s\n", cg_doctor_status_name(r->status), r->check, r->text);
    fflush(out);
}

void cg_doctor_print_tally(FILE *out, const cg_doctor_tally *t)
{
    fprintf(out, "%d ok, %d warning(s), %d failed, %d skipped\n", t->passed, t->warned, t->failed, t->skipped);
}

static void say(doctor_run *r, cg_doctor_status status, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say(doctor_run *r, cg_doctor_status status, const char *check, const char *fmt, ...)
{
    switch (status) {
    case CG_DOCTOR_FAIL: r->t->failed++; break;
    case CG_DOCTOR_WARN: r->t->warned++; break;
    case CG_DOCTOR_SKIP: r->t->skipped++; break;
    case CG_DOCTOR_OK: r->t->passed++; break;
    }
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    cg_doctor_result res = {.status = status, .check = check, .text = text ? text : "(out of memory)"};
    if (r->o->report)
        r->o->report(r->o->report_ud, &res);
    else
        cg_doctor_print(r->o->out ? r->o->out : stdout, &res);
    free(text);
}

/* A doctor_ad.h note as a result; a note with nothing to say is not one. */
static void say_note(doctor_run *r, const cg_doctor_note *n)
{
    if (!n->status)
        return;
    cg_doctor_status status = CG_DOCTOR_FAIL;
    for (cg_doctor_status s = CG_DOCTOR_OK; s <= CG_DOCTOR_SKIP; s++)
        if (!strcmp(cg_doctor_status_name(s), n->status))
            status = s;
    say(r, status, n->check, "%s", n->text);
}

/* ---- the probe: the token sent to the backend ---- */

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* What the backend answered to the probe. */
typedef struct {
    long status;               /* -1: no answer (err says why) */
    char status_line[128];     /* "HTTP/1.1 400 Bad Request", printable */
    char www_authenticate[160];/* the first challenge, printable, shortened */
    size_t header_bytes;       /* the Authorization header line we sent, CRLF included */
} probe_answer;

/* Copies a header value for a sentence: printable ASCII only, trimmed,
 * shortened with "..." (a challenge may carry a long token). */
static void copy_printable(char *out, size_t cap, const char *p, size_t n)
{
    while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++)
        out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
    if (o + 4 >= cap && n > o) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static size_t probe_header(char *p, size_t sz, size_t n, void *ud)
{
    probe_answer *a = ud;
    size_t len = sz * n;
    if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
        copy_printable(a->status_line, sizeof a->status_line, p, len); /* the last response's, after a 100 */
        a->www_authenticate[0] = '\0';
    } else if (len > 17 && !strncasecmp(p, "WWW-Authenticate:", 17) && !a->www_authenticate[0]) {
        size_t skip = 17;
        while (skip < len && p[skip] == ' ')
            skip++;
        copy_printable(a->www_authenticate, sizeof a->www_authenticate, p + skip, len - skip);
    }
    return len;
}

static void probe(const char *url, const cg_backend_cfg *b, const char *path, const char *token, probe_answer *a,
                  char *err, size_t errcap)
{
    memset(a, 0, sizeof *a);
    a->status = -1;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errcap, "cannot initialise libcurl");
        return;
    }
    char full[2048];
    snprintf(full, sizeof full, "%s%s", url, path);
    size_t hl = strlen(token) + 32;
    char *h = malloc(hl);
    if (!h) {
        curl_easy_cleanup(c);
        snprintf(err, errcap, "out of memory");
        return;
    }
    snprintf(h, hl, "Authorization: Negotiate %s", token);
    a->header_bytes = strlen(h) + 2;
    struct curl_slist *hs = curl_slist_append(NULL, h);
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, probe_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (b && b->https) { /* trust and present what the proxy does */
        curl_easy_setopt(c, CURLOPT_CAINFO, b->tls_ca_file);
        if (b->tls_cert_file) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, b->tls_cert_file);
            curl_easy_setopt(c, CURLOPT_SSLKEY, b->tls_key_file);
        }
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    else
        snprintf(err, errcap, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    free(h);
}

/* An Authorization header this long is over or near the usual limits of
 * backends (Apache's LimitRequestFieldSize is 8190 bytes): a 400 to it is
 * most likely about its size. */
#define PROBE_LARGE_HEADER 4096

/* The verdict on the probe: what the backend really answered. */
static void report_probe(doctor_run *r, const char *label, const char *url, const char *path, const char *user,
                         const char *target, size_t token_len, const probe_answer *a, const char *err)
{
    long st = a->status;
    const char *sl = a->status_line[0] ? a->status_line : "(no status line)";
    if (st < 0) {
        say(r, CG_DOCTOR_FAIL, "backend", "%s%s: %s", url, path, err);
    } else if (st >= 200 && st < 300) {
        say(r, CG_DOCTOR_OK, "backend", "%s%s accepted the ticket for %s (HTTP %ld)", url, path, user, st);
    } else if (st == 401) {
        say(r, CG_DOCTOR_FAIL, "backend", "%s%s answered 401 to %s's ticket for %s: the backend rejected the ticket "
             "(its WWW-Authenticate: %s). The backend's keytab does not hold the key the KDC used for %s (re-export "
             "it: AD ktpass, MIT kadmin ktadd), or the backend expects another SPN", url, path, user, target,
             a->www_authenticate[0] ? a->www_authenticate : "none", target);
    } else if (st == 413 || st == 431 || (st == 400 && a->header_bytes >= PROBE_LARGE_HEADER)) {
        /* the proxy's words for it (token_size.h); a large 400 counts as one
         * that closes: the probe does not read on */
        cg_refusal big;
        cg_token_too_large(&(cg_token_answer){ (int)st, true, a->header_bytes, a->header_bytes, label, url, user },
                           &big);
        say(r, CG_DOCTOR_FAIL, "backend", "%s (\"%s\", a %zu-byte token to %s) [%s]", big.detail, sl, token_len,
            target, cg_refusal_code(big.kind));
    } else if (st >= 300 && st < 400) {
        say(r, CG_DOCTOR_WARN, "backend", "%s%s answered \"%s\" (a redirect): the ticket was not refused, but this says "
             "nothing more; probe a path that %s may read and that answers 200", url, path, sl, user);
    } else if (st == 403 || st == 404) {
        say(r, CG_DOCTOR_WARN, "backend", "%s%s answered \"%s\": not a 401, so the ticket was probably accepted, but %s "
             "cannot read this path; probe a path that %s may read", url, path, sl, user, user);
    } else {
        say(r, CG_DOCTOR_FAIL, "backend", "%s%s answered \"%s\" to the request with %s's ticket for %s (Authorization "
             "header %zu bytes): look at the backend's log for why", url, path, sl, user, target, a->header_bytes);
    }
}

/* The KDC's key version for the proxy, from a ticket to itself, and whether
 * the keytab's key decrypts that ticket; the KDC's kind from what that ticket
 * holds. */
static bool check_kvno(doctor_run *r)
{
    if (!r->tgt_ok) {
        say(r, CG_DOCTOR_SKIP, "kvno", "needs the proxy TGT");
        return true;
    }
    krb5_context ctx = r->ctx;
    const char *ccname = r->ccname, *proxy = r->proxy, *keytab = r->kc.keytab;
    const cg_kdc_key *keys = r->keys;
    size_t nkeys = r->nkeys;
    krb5_ccache cc = NULL;
    krb5_principal me = NULL;
    krb5_creds in, *out = NULL;
    krb5_ticket *tkt = NULL;
    krb5_keytab kt = NULL;
    char m[256], ktname[1100];
    memset(&in, 0, sizeof in);
    krb5_error_code rc = krb5_cc_resolve(ctx, ccname, &cc);
    if (!rc)
        rc = krb5_cc_get_principal(ctx, cc, &me);
    if (!rc) {
        in.client = me;
        in.server = me;
        rc = krb5_get_credentials(ctx, KRB5_GC_NO_STORE, cc, &in, &out);
    }
    if (rc) {
        say(r, CG_DOCTOR_FAIL, "kvno", "cannot get a ticket for %s to itself to read the KDC's key version: %s", proxy,
             cg_kdc_krb_message(ctx, rc, m, sizeof m));
        goto done;
    }
    rc = krb5_decode_ticket(&out->ticket, &tkt);
    if (rc) {
        say(r, CG_DOCTOR_FAIL, "kvno", "cannot decode the ticket the KDC issued: %s", cg_kdc_krb_message(ctx, rc, m, sizeof m));
        goto done;
    }
    unsigned kdc_kvno = tkt->enc_part.kvno;
    bool have = false;
    char kvnos[200] = "";
    size_t kl = 0;
    for (size_t i = 0; i < nkeys; i++) {
        if (strcmp(keys[i].principal, proxy))
            continue;
        if (keys[i].kvno == kdc_kvno)
            have = true;
        char one[16];
        snprintf(one, sizeof one, "%u", keys[i].kvno);
        if (!strstr(kvnos, one) && kl < sizeof kvnos - 16)
            kl += (size_t)snprintf(kvnos + kl, sizeof kvnos - kl, "%s%s", kl ? ", " : "", one);
    }
    if (!have) {
        say(r, CG_DOCTOR_FAIL, "kvno", "the KDC's key for %s is kvno %u but %s holds kvno %s: the account's password or key "
             "changed after the keytab was exported; export it again (AD: ktpass ... -kvno %u, or reset the "
             "password and ktpass; MIT: kadmin ktadd -k FILE %s)", proxy, kdc_kvno, keytab, kvnos, kdc_kvno, proxy);
        goto done;
    }
    cg_kdc_keytab_name(keytab, ktname, sizeof ktname);
    rc = krb5_kt_resolve(ctx, ktname, &kt);
    if (!rc)
        rc = krb5_server_decrypt_ticket_keytab(ctx, kt, tkt);
    if (rc) {
        say(r, CG_DOCTOR_FAIL, "kvno", "the keytab's kvno %u key for %s does not decrypt the KDC's ticket (%s): the key "
             "differs although the kvno matches (two accounts with this SPN, or the password was set twice); "
             "export the keytab again", kdc_kvno, proxy, cg_kdc_krb_message(ctx, rc, m, sizeof m));
        goto done;
    }
    say(r, CG_DOCTOR_OK, "kvno", "the KDC's key for %s is kvno %u; the keytab holds it and it decrypts the KDC's ticket",
         proxy, kdc_kvno);
    r->kdc_kind = cg_doctor_kdc_kind(ctx, tkt);
done:
    if (kt)
        krb5_kt_close(ctx, kt);
    if (tkt)
        krb5_free_ticket(ctx, tkt);
    if (out)
        krb5_free_creds(ctx, out);
    if (me)
        krb5_free_principal(ctx, me);
    if (cc)
        krb5_cc_close(ctx, cc);
    return true;
}

/* The krb5.conf the settings name, the library's context, and the realm's
 * KDCs in it. */
static bool check_krb5_conf(doctor_run *r)
{
    const cg_kerberos_cfg *kc = &r->kc;
    if (kc->krb5_config && *kc->krb5_config) {
        if (access(kc->krb5_config, R_OK) != 0) {
            say(r, CG_DOCTOR_FAIL, "krb5.conf", "kerberos.krb5_config %s: %s", kc->krb5_config, strerror(errno));
            return false;
        }
        setenv("KRB5_CONFIG", kc->krb5_config, 1);
    }
    if (krb5_init_context(&r->ctx)) {
        r->ctx = NULL;
        say(r, CG_DOCTOR_FAIL, "krb5.conf", "cannot initialise Kerberos: check kerberos.krb5_config / KRB5_CONFIG");
        return false;
    }
    cg_kdc_ccache_name("doctor-proxy", r->ccname, sizeof r->ccname);
    krb5_context ctx = r->ctx;
    const char *realm = kc->realm;
    const char *file = getenv("KRB5_CONFIG");
    if (!file)
        file = "/etc/krb5.conf (default)";
    profile_t prof = NULL;
    char **kdcs = NULL;
    const char *names[] = {"realms", realm, "kdc", NULL};
    if (krb5_get_profile(ctx, &prof) == 0 && profile_get_values(prof, names, &kdcs) == 0 && kdcs && kdcs[0]) {
        char list[400] = "";
        size_t l = 0;
        for (int i = 0; kdcs[i] && l < sizeof list - 64; i++)
            l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", kdcs[i]);
        say(r, CG_DOCTOR_OK, "krb5.conf", "%s: realm %s, kdc = %s", file, realm, list);
    } else {
        int dns = 0;
        const char *dn[] = {"libdefaults", "dns_lookup_kdc", NULL};
        char **v = NULL;
        if (prof && profile_get_values(prof, dn, &v) == 0 && v && v[0])
            dns = !strcasecmp(v[0], "true") || !strcasecmp(v[0], "yes") || !strcmp(v[0], "1");
        else
            dns = 1; /* MIT's default */
        if (v)
            profile_free_list(v);
        say(r, dns ? CG_DOCTOR_WARN : CG_DOCTOR_FAIL, "krb5.conf", "%s: no \"kdc =\" for realm %s under [realms]%s",
            file, realm,
            dns ? "; the KDC is looked up in DNS (_kerberos._udp SRV records)"
                : " and dns_lookup_kdc is off: add the realm's KDCs (kerberos.krb5_config selects the file)");
    }
    if (kdcs)
        profile_free_list(kdcs);
    if (prof)
        profile_release(prof);
    return true;
}

/* ---- the checks ---- */

/* The kerberos settings (the snapshot's, overridden) and the SPNs to
 * delegate to. */
static bool check_config(doctor_run *r)
{
    const cg_doctor_options *o = r->o;
    const cg_config *cfg = r->cfg;
    cg_kerberos_cfg *kc = &r->kc;
    if (cfg)
        *kc = cfg->kerberos;
    if (o->keytab)
        kc->keytab = (char *)o->keytab;
    if (o->principal)
        kc->principal = (char *)o->principal;
    if (o->realm)
        kc->realm = (char *)o->realm;
    if (o->krb5_config)
        kc->krb5_config = (char *)o->krb5_config;
    if (!kc->keytab || !kc->principal || !kc->realm) {
        say(r, CG_DOCTOR_FAIL, "config", "%s has no usable kerberos section (keytab, principal and realm are required; "
            "see conf/certgate.yaml) and no --keytab/--principal/--realm were given",
            r->config ? r->config : "the configuration");
        return false;
    }
    if (o->spn) {
        r->targets[r->ntargets++] = (doctor_target){"--spn", o->spn, NULL, NULL};
        if (cfg && o->backend) {
            for (size_t i = 0; i < cfg->nbackends; i++)
                if (!strcmp(cfg->backends[i].name, o->backend)) {
                    r->targets[0].url = cfg->backends[i].url;
                    r->targets[0].b = &cfg->backends[i];
                }
        }
    } else if (cfg) {
        for (size_t i = 0; i < cfg->nbackends && r->ntargets < MAX_TARGETS; i++) {
            const cg_backend_cfg *b = &cfg->backends[i];
            if (o->backend && strcmp(b->name, o->backend))
                continue;
            if (!b->kerberos) {
                if (o->backend)
                    say(r, CG_DOCTOR_FAIL, "config", "backend \"%s\" has no kerberos section: nothing to delegate to",
                        o->backend);
                continue;
            }
            r->targets[r->ntargets++] = (doctor_target){b->name, b->spn, b->url, b};
        }
        if (o->backend && r->ntargets == 0 && r->t->failed == 0)
            say(r, CG_DOCTOR_FAIL, "config", "no backend named \"%s\" in %s", o->backend, r->config);
    }
    if (cfg)
        say(r, CG_DOCTOR_OK, "config", "%s: kerberos principal %s, realm %s, %zu backend(s) with kerberos", r->config,
            kc->principal, kc->realm, r->ntargets);
    else
        say(r, CG_DOCTOR_OK, "config", "no configuration file: principal %s, realm %s, SPN %s", kc->principal,
            kc->realm, o->spn ? o->spn : "(none)");
    if (strchr(kc->principal, '@'))
        snprintf(r->proxy, sizeof r->proxy, "%s", kc->principal);
    else
        snprintf(r->proxy, sizeof r->proxy, "%s@%s", kc->principal, kc->realm);
    r->names = (cg_kdc_names){.proxy = r->proxy, .realm = kc->realm, .keytab = kc->keytab};
    return true;
}

static bool check_keytab(doctor_run *r)
{
    const char *keytab = r->kc.keytab, *proxy = r->proxy;
    char err[700];
    krb5_error_code rc = cg_kdc_keytab_keys(r->ctx, keytab, r->keys, MAX_KEYS, &r->nkeys, err, sizeof err);
    if (rc) {
        say(r, CG_DOCTOR_FAIL, "keytab", "%s: fix kerberos.keytab or the file's owner and mode (readable by the user "
            "certgate runs as)", err);
        return true;
    }
    const cg_kdc_key *keys = r->keys;
    size_t nkeys = r->nkeys;
    char list[600] = "";
    size_t l = 0;
    for (size_t i = 0; i < nkeys; i++)
        if (!strcmp(keys[i].principal, proxy) && l < sizeof list - 80)
            l += (size_t)snprintf(list + l, sizeof list - l, "%skvno %u %s", l ? ", " : "", keys[i].kvno,
                                  keys[i].enctype_name);
    if (!l) {
        char others[300] = "";
        size_t ol = 0;
        for (size_t i = 0; i < nkeys && ol < sizeof others - 80; i++)
            if (!strstr(others, keys[i].principal))
                ol += (size_t)snprintf(others + ol, sizeof others - ol, "%s%s", ol ? ", " : "", keys[i].principal);
        say(r, CG_DOCTOR_FAIL, "keytab", "%s holds no key for %s (it holds: %s): set kerberos.principal to the "
            "principal the keytab was exported for, or export %s's key into it", keytab, proxy,
            ol ? others : "nothing", proxy);
        return true;
    }
    r->keytab_ok = true;
    say(r, CG_DOCTOR_OK, "keytab", "%s: %s: %s", keytab, proxy, list);
    struct stat st;
    const char *path = keytab;
    if (!strncmp(path, "FILE:", 5))
        path += 5;
    if (stat(path, &st) == 0 && (st.st_mode & 0007))
        say(r, CG_DOCTOR_WARN, "keytab", "%s is readable by every user (mode %04o): chmod o-rwx (it holds the "
            "proxy's key)", path, (unsigned)(st.st_mode & 07777));
    return true;
}

/* The proxy's own TGT with its keytab, and the clock the KDC answered with. */
static bool check_proxy_tgt(doctor_run *r)
{
    if (!r->keytab_ok) {
        say(r, CG_DOCTOR_SKIP, "proxy TGT", "needs a usable keytab");
        return true;
    }
    cg_refusal why;
    int64_t end = 0, kdc_time = 0;
    krb5_error_code rc = cg_kdc_get_tgt(r->ctx, r->kc.keytab, r->proxy, r->ccname, &end, &kdc_time);
    int64_t now = (int64_t)time(NULL);
    r->tgt_rc = rc;
    if (rc) {
        cg_kdc_diagnose(r->ctx, NULL, CG_KDC_PHASE_PROXY_TGT, rc, NULL, &r->names, &why);
        say(r, CG_DOCTOR_FAIL, "proxy TGT", "%s [%s]", why.detail, cg_refusal_code(why.kind));
        if (rc == KRB5KRB_AP_ERR_SKEW)
            say(r, CG_DOCTOR_FAIL, "clock", "this host's clock differs from the KDC's by more than the realm allows: "
                "synchronise both with NTP");
        else
            say(r, CG_DOCTOR_SKIP, "clock", "needs an answer from the KDC");
        return true;
    }
    r->tgt_ok = true;
    say(r, CG_DOCTOR_OK, "proxy TGT", "%s obtained a TGT with its keytab (valid for %lldh%02lldm)", r->proxy,
        (long long)(end - now) / 3600, (long long)((end - now) % 3600) / 60);
    int64_t skew = kdc_time - now;
    int64_t as = skew < 0 ? -skew : skew;
    if (as <= 60)
        say(r, CG_DOCTOR_OK, "clock", "this host and the KDC agree within %llds", (long long)as);
    else if (as <= 300)
        say(r, CG_DOCTOR_WARN, "clock", "this host's clock is %llds %s the KDC's (the realm allows 300s by default): "
            "synchronise with NTP before it grows", (long long)as, skew > 0 ? "behind" : "ahead of");
    else
        say(r, CG_DOCTOR_FAIL, "clock", "this host's clock is %llds %s the KDC's, beyond the 300s Kerberos allows: "
            "synchronise this host and the KDC with NTP", (long long)as, skew > 0 ? "behind" : "ahead of");
    return true;
}

/* Active Directory: the proxy principal's form (account name, UPN, SPN), from
 * the AS exchange's answer and the KDC's kind (doctor_ad.h). */
static bool check_ad_name(doctor_run *r)
{
    if (!r->keytab_ok)
        return true; /* the keytab check said why */
    cg_doctor_note note;
    cg_doctor_ad_naming(r->proxy, r->tgt_rc, r->kdc_kind, &note);
    say_note(r, &note);
    return true;
}

/* The user a client certificate maps to, with the listeners' mappings. */
static bool check_mapping(doctor_run *r)
{
    const char *cert = r->o->cert;
    const cg_config *cfg = r->cfg;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int mrc = mbedtls_x509_crt_parse_file(&crt, cert);
    if (mrc != 0) {
        say(r, CG_DOCTOR_FAIL, "mapping", "cannot read the certificate %s (mbedTLS error -0x%04x): PEM or DER expected",
            cert, (unsigned)-mrc);
    } else if (!cfg) {
        say(r, CG_DOCTOR_FAIL, "mapping", "--cert needs a configuration (-c) whose listeners have a mapping file");
    } else {
        bool found = false;
        for (size_t i = 0; i < cfg->nlisteners && !found; i++) {
            const cg_listener_cfg *l = &cfg->listeners[i];
            if (!l->mapping)
                continue;
            cg_map_result m;
            memset(&m, 0, sizeof m);
            cg_mapping_map(l->mapping, &crt, &m);
            found = true; /* the first listener with a mapping answers */
            if (m.outcome == CG_MAP_ALLOW) {
                snprintf(r->user, sizeof r->user, "%s", m.principal);
                say(r, CG_DOCTOR_OK, "mapping", "listener %s maps %s to %s (%s)", l->name, cert, m.principal, m.rule);
            } else {
                say(r, CG_DOCTOR_FAIL, "mapping", "listener %s does not map %s to a principal: %s [%s]", l->name, cert,
                    m.why.detail, cg_refusal_code(m.why.kind));
            }
        }
        if (!found)
            say(r, CG_DOCTOR_FAIL, "mapping", "no listener of %s has a mapping file (listeners[].mapping)", r->config);
    }
    mbedtls_x509_crt_free(&crt);
    return true;
}

/* The user named on the command line, as a principal of the realm. */
static bool check_user(doctor_run *r)
{
    char err[700];
    if (!cg_kdc_user_name(r->o->user, r->kc.realm, r->user, sizeof r->user, err, sizeof err)) {
        say(r, CG_DOCTOR_FAIL, "user", "%s", err);
        r->user[0] = '\0';
    }
    return true;
}

static bool check_backends(doctor_run *r)
{
    if (r->ntargets == 0)
        say(r, r->cfg ? CG_DOCTOR_FAIL : CG_DOCTOR_SKIP, "s4u2proxy", "no backend with a kerberos section%s%s",
            r->o->backend ? " named " : "", r->o->backend ? r->o->backend : "");
    /* An https backend: the handshake and verification the proxy would do. */
    for (size_t i = 0; i < r->ntargets; i++) {
        const cg_backend_cfg *b = r->targets[i].b;
        if (!b || !b->https)
            continue;
        char text[1024];
        bool ok = cg_doctor_tls_check(b, 10000, text, sizeof text);
        say(r, ok ? CG_DOCTOR_OK : CG_DOCTOR_FAIL, "backend-tls", "backend %s: %s", b->name, text);
    }
    return true;
}

/* A ticket for the user to the proxy (S4U2Self): forwardable (protocol
 * transition), or one only resource-based delegation accepts; the KDC's
 * answer to S4U2Proxy decides (deleg_model.h). */
static bool check_s4u2self(doctor_run *r)
{
    if (!r->user[0])
        return true; /* the mapping or user check said why */
    if (!r->tgt_ok) {
        say(r, CG_DOCTOR_SKIP, "s4u2self", "needs the proxy TGT");
        return true;
    }
    cg_refusal why;
    r->s4u_tried = true;
    r->names.user = r->user;
    krb5_error_code rc = cg_kdc_s4u2self(r->ctx, r->ccname, r->user, &r->evidence);
    if (rc) {
        cg_kdc_diagnose(r->ctx, r->ccname, CG_KDC_PHASE_S4U2SELF, rc, NULL, &r->names, &why);
        say(r, CG_DOCTOR_FAIL, "s4u2self", "%s [%s]", why.detail, cg_refusal_code(why.kind));
    } else {
        r->forwardable = cg_deleg_evidence_forwardable(r->evidence);
        cg_doctor_note note;
        cg_doctor_evidence(r->proxy, r->user, r->forwardable, &note);
        say_note(r, &note);
    }
    return true;
}

/* Per target: a ticket for the user to its SPN, a SPNEGO token from it, and
 * (probe_path) what the backend answers to the token. */
static void check_target(doctor_run *r, const doctor_target *tg)
{
    char target[512], err[700];
    cg_refusal why;
    const char *label = tg->name, *user = r->user;
    if (!cg_kdc_target_name(tg->spn, r->kc.realm, target, sizeof target, err, sizeof err)) {
        say(r, CG_DOCTOR_FAIL, "s4u2proxy", "backend %s: %s: fix its kerberos.spn", label, err);
        return;
    }
    if (!r->evidence) {
        say(r, CG_DOCTOR_SKIP, "s4u2proxy", "%s -> %s: needs an S4U2Self ticket", user, target);
        return;
    }
    r->names.target = target;
    krb5_creds *svc = NULL;
    krb5_error_code rc = cg_kdc_s4u2proxy(r->ctx, r->ccname, r->evidence, target, &svc);
    if (rc) {
        cg_kdc_diagnose(r->ctx, r->ccname, CG_KDC_PHASE_S4U2PROXY, rc, r->evidence, &r->names, &why);
        say(r, CG_DOCTOR_FAIL, "s4u2proxy", "backend %s: %s [%s]", label, why.detail, cg_refusal_code(why.kind));
        return;
    }
    say(r, CG_DOCTOR_OK, "s4u2proxy", "backend %s: %s may delegate %s to %s, by %s", label, r->proxy, user, target,
        cg_deleg_model_text(cg_deleg_model_of(r->forwardable)));
    char uc[96];
    cg_kdc_ccache_name("doctor-u", uc, sizeof uc);
    gss_cred_id_t gc = GSS_C_NO_CREDENTIAL;
    char *tok = NULL;
    if (cg_kdc_user_cred(r->ctx, svc, uc, &gc, err, sizeof err) != 0) {
        say(r, CG_DOCTOR_FAIL, "token", "backend %s: %s", label, err);
    } else if (!cg_kdc_token(gc, target, &tok, err, sizeof err)) {
        say(r, CG_DOCTOR_FAIL, "token", "backend %s: %s", label, err);
    } else {
        say(r, CG_DOCTOR_OK, "token", "backend %s: SPNEGO token for %s to %s (%zu bytes base64)", label, user, target,
            strlen(tok));
        const char *path = r->o->probe_path;
        if (path) {
            if (!tg->url) {
                say(r, CG_DOCTOR_SKIP, "backend", "--probe needs the backend's URL (from -c with --backend)");
            } else {
                probe_answer pa;
                probe(tg->url, tg->b, path, tok, &pa, err, sizeof err);
                report_probe(r, label, tg->url, path, user, target, strlen(tok), &pa, err);
            }
        }
    }
    free(tok);
    OM_uint32 minor;
    if (gc != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &gc);
    cg_kdc_destroy_ccache(r->ctx, uc);
    krb5_free_creds(r->ctx, svc);
}

static bool check_s4u2proxy(doctor_run *r)
{
    if (!r->s4u_tried)
        return true; /* s4u2self said why */
    for (size_t i = 0; i < r->ntargets; i++)
        check_target(r, &r->targets[i]);
    return true;
}

/* ---- the table ---- */

/* Which options a check needs: it runs when one of them was given. */
enum { NEEDS_USER = 1u << 0, NEEDS_CERT = 1u << 1 };

typedef struct doctor_check {
    const char *name;
    bool (*run)(doctor_run *r); /* false: stop, no later check can run */
    unsigned needs;             /* 0: always runs */
    const char *skipped;        /* said ("skip") when none of needs was given; NULL: silent */
} doctor_check;

static const doctor_check checks[] = {
    {"config", check_config, 0, NULL},
    {"krb5.conf", check_krb5_conf, 0, NULL},
    {"keytab", check_keytab, 0, NULL},
    {"proxy TGT", check_proxy_tgt, 0, NULL},
    {"kvno", check_kvno, 0, NULL},
    {"ad-name", check_ad_name, 0, NULL},
    {"mapping", check_mapping, NEEDS_CERT, NULL},
    {"user", check_user, NEEDS_USER, NULL},
    {"backends", check_backends, 0, NULL},
    {"s4u2self", check_s4u2self, NEEDS_USER | NEEDS_CERT,
     "no --user or --cert given: S4U2Self and S4U2Proxy not tried"},
    {"s4u2proxy", check_s4u2proxy, NEEDS_USER | NEEDS_CERT, NULL},
};

bool cg_doctor_run(const cg_doctor_options *o, cg_doctor_tally *t)
{
    memset(t, 0, sizeof *t);
    doctor_run *r = calloc(1, sizeof *r);
    if (!r) {
        cg_doctor_result res = {CG_DOCTOR_FAIL, "doctor", "out of memory"};
        t->failed++;
        if (o->report)
            o->report(o->report_ud, &res);
        else
            cg_doctor_print(o->out ? o->out : stdout, &res);
        return false;
    }
    r->o = o;
    r->t = t;
    r->cfg = o->cfg;
    r->config = o->config_path ? o->config_path : o->cfg ? o->cfg->file : NULL;
    unsigned given = (o->user ? NEEDS_USER : 0) | (o->cert ? NEEDS_CERT : 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    t->finished = true;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const doctor_check *c = &checks[i];
        if (c->needs && !(c->needs & given)) {
            if (c->skipped)
                say(r, CG_DOCTOR_SKIP, c->name, "%s", c->skipped);
            continue;
        }
        if (!c->run(r)) {
            t->finished = false;
            break;
        }
    }
    if (r->evidence)
        krb5_free_creds(r->ctx, r->evidence);
    if (r->ctx) {
        cg_kdc_destroy_ccache(r->ctx, r->ccname);
        krb5_free_context(r->ctx);
    }
    curl_global_cleanup();
    free(r);
    return t->failed == 0;
}
