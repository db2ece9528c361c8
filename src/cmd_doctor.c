/* certgate doctor: the Kerberos delegation checklist, automated.
 *
 *   certgate doctor [-c FILE] [--user NAME | --cert FILE] [--backend NAME]
 *                   [--keytab FILE] [--principal P] [--realm R]
 *                   [--krb5-config FILE] [--spn SPN] [--probe PATH]
 *
 * One line per check, "ok", "warn" or "FAIL", the check's name and what was
 * found; a failure says which setting to change and where (certgate's file,
 * the keytab, the KDC: AD or MIT). Exit status 0 only when nothing failed
 * (warnings do not fail), 1 when a check failed, 2 for usage errors.
 *
 * The options after -c override the configuration's kerberos section (or
 * replace it: doctor runs without a configuration file when --keytab,
 * --principal, --realm and --spn are given).
 *
 * Checks, in order (a check that cannot run because an earlier one failed
 * is reported as "skip"):
 *   config       the file loads; kerberos section; backends with kerberos
 *   krb5.conf    which file, the realm's KDCs
 *   keytab       readable, mode, key versions (kvno) and enctypes of the
 *                proxy principal (never the keys)
 *   proxy TGT    AS exchange with the keytab (the proxy's own credentials)
 *   clock        skew between this host and the KDC
 *   kvno         the KDC's key version for the proxy matches the keytab,
 *                and the keytab's key decrypts a ticket the KDC issued
 *   ad-name      Active Directory (a PAC in the tickets): the proxy
 *                principal's form, account name / UPN / SPN (doctor_ad.h)
 *   mapping      (--cert) the principal the listener's mapping gives
 *   s4u2self     per user: ticket for the user to the proxy; forwardable,
 *                or a warning (only RBCD on Windows AD accepts it)
 *   s4u2proxy    per user and SPN: ticket for the user to the SPN, asked
 *                even for non-forwardable evidence; when granted, the model
 *                (classic or resource-based, deleg_model.h)
 *   token        per user and SPN: a SPNEGO token from that ticket
 *   backend      (--probe PATH) what the backend answers to the token (GET
 *                PATH): 2xx accepted, 401 rejected, 400/413/431 token too large
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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

#include "commands.h"
#include "config.h"
#include "deleg_model.h"
#include "doctor_ad.h"
#include "kdc_errors.h"
#include "kdc_steps.h"
#include "mapping.h"

#define DEFAULT_CONFIG "/etc/certgate/certgate.yaml"

typedef struct {
    int failed, warned, passed, skipped;
} tally;

static void line(tally *t, const char *status, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void line(tally *t, const char *status, const char *check, const char *fmt, ...)
{
    if (!strcmp(status, "FAIL"))
        t->failed++;
    else if (!strcmp(status, "warn"))
        t->warned++;
    else if (!strcmp(status, "skip"))
        t->skipped++;
    else
        t->passed++;
    printf("%-4s %-10s ", status, check);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: certgate doctor [-c FILE] [--user NAME | --cert FILE] [--backend NAME]\n"
            "                       [--keytab FILE] [--principal P] [--realm R] [--krb5-config FILE]\n"
            "                       [--spn SPN] [--probe PATH]\n"
            "\n"
            "Checks the Kerberos delegation setup, one line per check (ok / warn / FAIL),\n"
            "each failure with the setting to change. Exit status 0 only if nothing failed.\n"
            "\n"
            "  -c, --config FILE   certgate configuration (default " DEFAULT_CONFIG ";\n"
            "                      not read when --keytab, --principal, --realm and --spn are all given)\n"
            "  --user NAME         the user to impersonate (alice or alice@REALM)\n"
            "  --cert FILE         ... or the principal this client certificate maps to\n"
            "  --backend NAME      only this backend (default: every backend with kerberos)\n"
            "  --keytab, --principal, --realm, --krb5-config\n"
            "                      override the configuration's kerberos section\n"
            "  --spn SPN           check this SPN instead of the backends'\n"
            "  --probe PATH        also send the token to the backend (GET PATH) and report its answer\n");
}

typedef struct {
    const char *name;   /* backend name or "--spn" */
    const char *spn;
    const char *url;    /* NULL: no probe possible */
} target_t;

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

static void probe(const char *url, const char *path, const char *token, probe_answer *a, char *err, size_t errcap)
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
static void report_probe(tally *t, const char *url, const char *path, const char *user, const char *target,
                         size_t token_len, const probe_answer *a, const char *err)
{
    long st = a->status;
    const char *sl = a->status_line[0] ? a->status_line : "(no status line)";
    if (st < 0) {
        line(t, "FAIL", "backend", "%s%s: %s", url, path, err);
    } else if (st >= 200 && st < 300) {
        line(t, "ok", "backend", "%s%s accepted the ticket for %s (HTTP %ld)", url, path, user, st);
    } else if (st == 401) {
        line(t, "FAIL", "backend", "%s%s answered 401 to %s's ticket for %s: the backend rejected the ticket "
             "(its WWW-Authenticate: %s). The backend's keytab does not hold the key the KDC used for %s (re-export "
             "it: AD ktpass, MIT kadmin ktadd), or the backend expects another SPN", url, path, user, target,
             a->www_authenticate[0] ? a->www_authenticate : "none", target);
    } else if (st == 413 || st == 431 || (st == 400 && a->header_bytes >= PROBE_LARGE_HEADER)) {
        line(t, "FAIL", "backend", "%s%s answered \"%s\" to a request whose Authorization header is %zu bytes "
             "(a %zu-byte token for %s: Kerberos tickets grow with the user's group memberships): the token is too "
             "large for the backend. Raise its limits: IIS (http.sys, HKLM\\SYSTEM\\CurrentControlSet\\Services\\"
             "HTTP\\Parameters) MaxFieldLength and MaxRequestBytes (e.g. 65534 and 16777216, then restart http.sys); "
             "Apache LimitRequestFieldSize (default 8190) above %zu", url, path, sl, a->header_bytes, token_len, user, a->header_bytes);
    } else if (st >= 300 && st < 400) {
        line(t, "warn", "backend", "%s%s answered \"%s\" (a redirect): the ticket was not refused, but this says "
             "nothing more; probe a path that %s may read and that answers 200", url, path, sl, user);
    } else if (st == 403 || st == 404) {
        line(t, "warn", "backend", "%s%s answered \"%s\": not a 401, so the ticket was probably accepted, but %s "
             "cannot read this path; probe a path that %s may read", url, path, sl, user, user);
    } else {
        line(t, "FAIL", "backend", "%s%s answered \"%s\" to the request with %s's ticket for %s (Authorization "
             "header %zu bytes): look at the backend's log for why", url, path, sl, user, target, a->header_bytes);
    }
}

/* The KDC's key version for the proxy, from a ticket to itself, and whether
 * the keytab's key decrypts that ticket; *kind from what that ticket holds. */
static void check_kvno(tally *t, krb5_context ctx, const char *ccname, const char *proxy, const char *keytab,
                       const cg_kdc_key *keys, size_t nkeys, cg_kdc_kind *kind)
{
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
        line(t, "FAIL", "kvno", "cannot get a ticket for %s to itself to read the KDC's key version: %s", proxy,
             cg_kdc_krb_message(ctx, rc, m, sizeof m));
        goto done;
    }
    rc = krb5_decode_ticket(&out->ticket, &tkt);
    if (rc) {
        line(t, "FAIL", "kvno", "cannot decode the ticket the KDC issued: %s", cg_kdc_krb_message(ctx, rc, m, sizeof m));
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
        line(t, "FAIL", "kvno", "the KDC's key for %s is kvno %u but %s holds kvno %s: the account's password or key "
             "changed after the keytab was exported; export it again (AD: ktpass ... -kvno %u, or reset the "
             "password and ktpass; MIT: kadmin ktadd -k FILE %s)", proxy, kdc_kvno, keytab, kvnos, kdc_kvno, proxy);
        goto done;
    }
    cg_kdc_keytab_name(keytab, ktname, sizeof ktname);
    rc = krb5_kt_resolve(ctx, ktname, &kt);
    if (!rc)
        rc = krb5_server_decrypt_ticket_keytab(ctx, kt, tkt);
    if (rc) {
        line(t, "FAIL", "kvno", "the keytab's kvno %u key for %s does not decrypt the KDC's ticket (%s): the key "
             "differs although the kvno matches (two accounts with this SPN, or the password was set twice); "
             "export the keytab again", kdc_kvno, proxy, cg_kdc_krb_message(ctx, rc, m, sizeof m));
        goto done;
    }
    line(t, "ok", "kvno", "the KDC's key for %s is kvno %u; the keytab holds it and it decrypts the KDC's ticket",
         proxy, kdc_kvno);
    *kind = cg_doctor_kdc_kind(ctx, tkt);
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
}

static void check_krb5_conf(tally *t, krb5_context ctx, const char *realm)
{
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
        line(t, "ok", "krb5.conf", "%s: realm %s, kdc = %s", file, realm, list);
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
        line(t, dns ? "warn" : "FAIL", "krb5.conf", "%s: no \"kdc =\" for realm %s under [realms]%s", file, realm,
             dns ? "; the KDC is looked up in DNS (_kerberos._udp SRV records)"
                 : " and dns_lookup_kdc is off: add the realm's KDCs (kerberos.krb5_config selects the file)");
    }
    if (kdcs)
        profile_free_list(kdcs);
    if (prof)
        profile_release(prof);
}

int cg_cmd_doctor(int argc, char **argv)
{
    const char *config = NULL, *user_opt = NULL, *cert = NULL, *backend = NULL, *probe_path = NULL;
    const char *o_keytab = NULL, *o_principal = NULL, *o_realm = NULL, *o_krb5 = NULL, *o_spn = NULL;
    static struct option opts[] = {
        {"config", 1, 0, 'c'}, {"user", 1, 0, 'u'}, {"cert", 1, 0, 'C'}, {"backend", 1, 0, 'b'},
        {"keytab", 1, 0, 'k'}, {"principal", 1, 0, 'p'}, {"realm", 1, 0, 'r'}, {"krb5-config", 1, 0, 'K'},
        {"spn", 1, 0, 's'}, {"probe", 1, 0, 'P'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int o;
    while ((o = getopt_long(argc + 1, argv - 1, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'u': user_opt = optarg; break;
        case 'C': cert = optarg; break;
        case 'b': backend = optarg; break;
        case 'k': o_keytab = optarg; break;
        case 'p': o_principal = optarg; break;
        case 'r': o_realm = optarg; break;
        case 'K': o_krb5 = optarg; break;
        case 's': o_spn = optarg; break;
        case 'P': probe_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc + 1) {
        fprintf(stderr, "certgate doctor: unexpected argument \"%s\"\n\n", argv[optind - 1]);
        usage(stderr);
        return 2;
    }
    if (user_opt && cert) {
        fprintf(stderr, "certgate doctor: give --user or --cert, not both\n");
        return 2;
    }
    tally t = {0};
    cg_config *cfg = NULL;
    bool standalone = o_keytab && o_principal && o_realm && o_spn && !config;
    cg_kerberos_cfg kc = {0};
    target_t targets[64];
    size_t ntargets = 0;

    if (!standalone) {
        if (!config)
            config = DEFAULT_CONFIG;
        cg_diag d;
        cg_diag_init(&d);
        /* --cert maps with the listeners' mapping files: load them (the
         * TLS files are not needed, and may be readable by root only). */
        cfg = cg_config_load(config, CG_CONFIG_SKIP_TLS | (cert ? CG_CONFIG_LOAD_MAPPINGS : 0), &d);
        if (!cfg) {
            line(&t, "FAIL", "config", "%s does not load (%zu error(s)); `certgate check -c %s` shows them:", config,
                 d.errors, config);
            cg_diag_print(&d, stdout);
            cg_diag_free(&d);
            return 1;
        }
        cg_diag_free(&d);
        kc = cfg->kerberos;
    }
    if (o_keytab)
        kc.keytab = (char *)o_keytab;
    if (o_principal)
        kc.principal = (char *)o_principal;
    if (o_realm)
        kc.realm = (char *)o_realm;
    if (o_krb5)
        kc.krb5_config = (char *)o_krb5;
    if (!kc.keytab || !kc.principal || !kc.realm) {
        line(&t, "FAIL", "config", "%s has no usable kerberos section (keytab, principal and realm are required; see "
             "conf/certgate.yaml) and no --keytab/--principal/--realm were given", config ? config : "the configuration");
        cg_config_unref(cfg);
        return 1;
    }
    if (o_spn) {
        targets[ntargets++] = (target_t){"--spn", o_spn, NULL};
        if (cfg && backend) {
            for (size_t i = 0; i < cfg->nbackends; i++)
                if (!strcmp(cfg->backends[i].name, backend))
                    targets[0].url = cfg->backends[i].url;
        }
    } else if (cfg) {
        for (size_t i = 0; i < cfg->nbackends && ntargets < 64; i++) {
            const cg_backend_cfg *b = &cfg->backends[i];
            if (backend && strcmp(b->name, backend))
                continue;
            if (!b->kerberos) {
                if (backend)
                    line(&t, "FAIL", "config", "backend \"%s\" has no kerberos section: nothing to delegate to", backend);
                continue;
            }
            targets[ntargets++] = (target_t){b->name, b->spn, b->url};
        }
        if (backend && ntargets == 0 && t.failed == 0)
            line(&t, "FAIL", "config", "no backend named \"%s\" in %s", backend, config);
    }
    if (cfg)
        line(&t, "ok", "config", "%s: kerberos principal %s, realm %s, %zu backend(s) with kerberos", config,
             kc.principal, kc.realm, ntargets);
    else
        line(&t, "ok", "config", "no configuration file: principal %s, realm %s, SPN %s", kc.principal, kc.realm, o_spn);

    if (kc.krb5_config && *kc.krb5_config) {
        if (access(kc.krb5_config, R_OK) != 0) {
            line(&t, "FAIL", "krb5.conf", "kerberos.krb5_config %s: %s", kc.krb5_config, strerror(errno));
            cg_config_unref(cfg);
            return 1;
        }
        setenv("KRB5_CONFIG", kc.krb5_config, 1);
    }
    char proxy[512], err[700], m[256];
    if (strchr(kc.principal, '@'))
        snprintf(proxy, sizeof proxy, "%s", kc.principal);
    else
        snprintf(proxy, sizeof proxy, "%s@%s", kc.principal, kc.realm);

    krb5_context ctx;
    if (krb5_init_context(&ctx)) {
        line(&t, "FAIL", "krb5.conf", "cannot initialise Kerberos: check kerberos.krb5_config / KRB5_CONFIG");
        cg_config_unref(cfg);
        return 1;
    }
    check_krb5_conf(&t, ctx, kc.realm);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* keytab */
    cg_kdc_key keys[128];
    size_t nkeys = 0;
    bool keytab_ok = false;
    krb5_error_code rc = cg_kdc_keytab_keys(ctx, kc.keytab, keys, 128, &nkeys, err, sizeof err);
    if (rc) {
        line(&t, "FAIL", "keytab", "%s: fix kerberos.keytab or the file's owner and mode (readable by the user "
             "certgate runs as)", err);
    } else {
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
            line(&t, "FAIL", "keytab", "%s holds no key for %s (it holds: %s): set kerberos.principal to the "
                 "principal the keytab was exported for, or export %s's key into it", kc.keytab, proxy,
                 ol ? others : "nothing", proxy);
        } else {
            keytab_ok = true;
            line(&t, "ok", "keytab", "%s: %s: %s", kc.keytab, proxy, list);
            struct stat st;
            const char *path = kc.keytab;
            if (!strncmp(path, "FILE:", 5))
                path += 5;
            if (stat(path, &st) == 0 && (st.st_mode & 0007))
                line(&t, "warn", "keytab", "%s is readable by every user (mode %04o): chmod o-rwx (it holds the "
                     "proxy's key)", path, (unsigned)(st.st_mode & 07777));
        }
    }

    /* proxy TGT, clock, kvno */
    char ccname[96];
    cg_kdc_ccache_name("doctor-proxy", ccname, sizeof ccname);
    bool tgt_ok = false;
    cg_kdc_names n = {.proxy = proxy, .realm = kc.realm, .keytab = kc.keytab};
    cg_refusal why;
    if (!keytab_ok) {
        line(&t, "skip", "proxy TGT", "needs a usable keytab");
    } else {
        int64_t end = 0, kdc_time = 0;
        rc = cg_kdc_get_tgt(ctx, kc.keytab, proxy, ccname, &end, &kdc_time);
        int64_t now = (int64_t)time(NULL);
        if (rc) {
            cg_kdc_map_error(CG_KDC_PHASE_PROXY_TGT, rc, cg_kdc_krb_message(ctx, rc, m, sizeof m), &n, &why);
            line(&t, "FAIL", "proxy TGT", "%s [%s]", why.detail, cg_refusal_code(why.kind));
            if (rc == KRB5KRB_AP_ERR_SKEW)
                line(&t, "FAIL", "clock", "this host's clock differs from the KDC's by more than the realm allows: "
                     "synchronise both with NTP");
            else
                line(&t, "skip", "clock", "needs an answer from the KDC");
        } else {
            tgt_ok = true;
            line(&t, "ok", "proxy TGT", "%s obtained a TGT with its keytab (valid for %lldh%02lldm)", proxy,
                 (long long)(end - now) / 3600, (long long)((end - now) % 3600) / 60);
            int64_t skew = kdc_time - now;
            int64_t as = skew < 0 ? -skew : skew;
            if (as <= 60)
                line(&t, "ok", "clock", "this host and the KDC agree within %llds", (long long)as);
            else if (as <= 300)
                line(&t, "warn", "clock", "this host's clock is %llds %s the KDC's (the realm allows 300s by default): "
                     "synchronise with NTP before it grows", (long long)as, skew > 0 ? "behind" : "ahead of");
            else
                line(&t, "FAIL", "clock", "this host's clock is %llds %s the KDC's, beyond the 300s Kerberos allows: "
                     "synchronise this host and the KDC with NTP", (long long)as, skew > 0 ? "behind" : "ahead of");
        }
    }
    cg_kdc_kind kdc_kind = CG_KDC_KIND_UNKNOWN;
    if (tgt_ok)
        check_kvno(&t, ctx, ccname, proxy, kc.keytab, keys, nkeys, &kdc_kind);
    else
        line(&t, "skip", "kvno", "needs the proxy TGT");
    if (keytab_ok) {
        cg_doctor_note note;
        cg_doctor_ad_naming(proxy, rc, kdc_kind, &note);
        if (note.status)
            line(&t, note.status, note.check, "%s", note.text);
    }

    /* the user */
    char user[512] = "";
    if (cert) {
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        int mrc = mbedtls_x509_crt_parse_file(&crt, cert);
        if (mrc != 0) {
            line(&t, "FAIL", "mapping", "cannot read the certificate %s (mbedTLS error -0x%04x): PEM or DER expected",
                 cert, (unsigned)-mrc);
        } else if (!cfg) {
            line(&t, "FAIL", "mapping", "--cert needs a configuration (-c) whose listeners have a mapping file");
        } else {
            bool found = false;
            for (size_t i = 0; i < cfg->nlisteners && !found; i++) {
                const cg_listener_cfg *l = &cfg->listeners[i];
                if (!l->mapping)
                    continue;
                cg_map_result r;
                memset(&r, 0, sizeof r);
                cg_mapping_map(l->mapping, &crt, &r);
                if (r.outcome == CG_MAP_ALLOW) {
                    found = true;
                    snprintf(user, sizeof user, "%s", r.principal);
                    line(&t, "ok", "mapping", "listener %s maps %s to %s (%s)", l->name, cert, r.principal, r.rule);
                } else {
                    line(&t, "FAIL", "mapping", "listener %s does not map %s to a principal: %s [%s]", l->name, cert,
                         r.why.detail, cg_refusal_code(r.why.kind));
                    found = true; /* reported */
                }
            }
            if (!found)
                line(&t, "FAIL", "mapping", "no listener of %s has a mapping file (listeners[].mapping)", config);
        }
        mbedtls_x509_crt_free(&crt);
    } else if (user_opt) {
        if (!cg_kdc_user_name(user_opt, kc.realm, user, sizeof user, err, sizeof err)) {
            line(&t, "FAIL", "user", "%s", err);
            user[0] = '\0';
        }
    }

    if (ntargets == 0)
        line(&t, cfg ? "FAIL" : "skip", "s4u2proxy", "no backend with a kerberos section%s%s",
             backend ? " named " : "", backend ? backend : "");
    if (!user[0]) {
        if (!cert && !user_opt)
            line(&t, "skip", "s4u2self", "no --user or --cert given: S4U2Self and S4U2Proxy not tried");
    } else if (!tgt_ok) {
        line(&t, "skip", "s4u2self", "needs the proxy TGT");
    } else {
        n.user = user;
        krb5_creds *evidence = NULL;
        rc = cg_kdc_s4u2self(ctx, ccname, user, &evidence);
        bool fwd = false;
        if (rc) {
            cg_kdc_map_error(CG_KDC_PHASE_S4U2SELF, rc, cg_kdc_krb_message(ctx, rc, m, sizeof m), &n, &why);
            line(&t, "FAIL", "s4u2self", "%s [%s]", why.detail, cg_refusal_code(why.kind));
        } else {
            fwd = cg_deleg_evidence_forwardable(evidence);
            cg_doctor_note note;
            cg_doctor_evidence(proxy, user, fwd, &note);
            line(&t, note.status, note.check, "%s", note.text);
        }
        for (size_t i = 0; i < ntargets; i++) {
            char target[512];
            const char *label = targets[i].name;
            if (!cg_kdc_target_name(targets[i].spn, kc.realm, target, sizeof target, err, sizeof err)) {
                line(&t, "FAIL", "s4u2proxy", "backend %s: %s: fix its kerberos.spn", label, err);
                continue;
            }
            if (!evidence) {
                line(&t, "skip", "s4u2proxy", "%s -> %s: needs an S4U2Self ticket", user, target);
                continue;
            }
            n.target = target;
            krb5_creds *svc = NULL;
            rc = cg_kdc_s4u2proxy(ctx, ccname, evidence, target, &svc);
            if (rc) {
                cg_deleg_s4u2proxy_refusal(rc, cg_kdc_krb_message(ctx, rc, m, sizeof m), fwd, &n, &why);
                line(&t, "FAIL", "s4u2proxy", "backend %s: %s [%s]", label, why.detail, cg_refusal_code(why.kind));
                continue;
            }
            line(&t, "ok", "s4u2proxy", "backend %s: %s may delegate %s to %s, by %s", label, proxy, user, target,
                 cg_deleg_model_text(cg_deleg_model_of(fwd)));
            char uc[96];
            cg_kdc_ccache_name("doctor-u", uc, sizeof uc);
            gss_cred_id_t gc = GSS_C_NO_CREDENTIAL;
            char *tok = NULL;
            if (cg_kdc_user_cred(ctx, svc, uc, &gc, err, sizeof err) != 0) {
                line(&t, "FAIL", "token", "backend %s: %s", label, err);
            } else if (!cg_kdc_token(gc, target, &tok, err, sizeof err)) {
                line(&t, "FAIL", "token", "backend %s: %s", label, err);
            } else {
                line(&t, "ok", "token", "backend %s: SPNEGO token for %s to %s (%zu bytes base64)", label, user, target,
                     strlen(tok));
                if (probe_path) {
                    if (!targets[i].url) {
                        line(&t, "skip", "backend", "--probe needs the backend's URL (from -c with --backend)");
                    } else {
                        probe_answer pa;
                        probe(targets[i].url, probe_path, tok, &pa, err, sizeof err);
                        report_probe(&t, targets[i].url, probe_path, user, target, strlen(tok), &pa, err);
                    }
                }
            }
            free(tok);
            OM_uint32 minor;
            if (gc != GSS_C_NO_CREDENTIAL)
                gss_release_cred(&minor, &gc);
            cg_kdc_destroy_ccache(ctx, uc);
            krb5_free_creds(ctx, svc);
        }
        if (evidence)
            krb5_free_creds(ctx, evidence);
    }
    cg_kdc_destroy_ccache(ctx, ccname);
    krb5_free_context(ctx);
    curl_global_cleanup();
    cg_config_unref(cfg);
    printf("%d ok, %d warning(s), %d failed, %d skipped\n", t.passed, t.warned, t.failed, t.skipped);
    return t.failed ? 1 : 0;
}
