#include "sni.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "base/base.h"
#include "tls.h"
#include "x509/x509.h"

/* A server certificate this close to its end is warned about at every load. */
#define EXPIRY_WARNING_DAYS 30

typedef struct sni_cert {
    mbedtls_x509_crt chain; /* leaf first */
    mbedtls_pk_context key;
} sni_cert;

typedef struct sni_name {
    char *name;             /* lower case; wildcards as "*.rest" */
    size_t len;
    size_t cert;            /* index into certs */
} sni_name;

struct cg_sni_certs {
    bool strict;            /* tls.strict_sni */
    mbedtls_x509_crt *own_chain; /* the listener's certificate (tls.c's) */
    mbedtls_pk_context *own_key;
    sni_cert *certs;
    size_t ncerts;
    sni_name *names;        /* sorted by name (bytes): looked up by bsearch */
    size_t nnames;
};

static int name_cmp(const void *a, const void *b)
{
    const sni_name *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static long lookup(const cg_sni_certs *t, const char *name, size_t len)
{
    sni_name key = { (char *)name, len, 0 };
    const sni_name *hit = bsearch(&key, t->names, t->nnames, sizeof *t->names, name_cmp);
    return hit ? (long)hit->cert : -1;
}

long cg_sni_certs_find(const cg_sni_certs *t, const char *name, size_t len)
{
    char low[CG_DNS_NAME_MAX + 2];
    if (!t || t->nnames == 0 || len == 0 || len > CG_DNS_NAME_MAX)
        return -1;
    cg_ascii_lower_copy(low, name, len);
    if (memchr(low, '*', len))
        return -1; /* a client's name is never a pattern */
    long hit = lookup(t, low, len);
    if (hit >= 0)
        return hit;
    /* "*.rest" for "label.rest": the wildcard one label above. */
    const char *dot = memchr(low, '.', len);
    if (!dot || dot == low)
        return -1;
    size_t rest = len - (size_t)(dot - low); /* ".rest" */
    char wild[CG_DNS_NAME_MAX + 2];
    wild[0] = '*';
    memcpy(wild + 1, dot, rest);
    return lookup(t, wild, rest + 1);
}

static bool san_covers(const mbedtls_x509_crt *c, const char *name, size_t len);

/* mbedTLS's SNI callback: the entry's certificate for this handshake; an
 * unknown name keeps the listener's own (conf's) certificate, or with
 * strict_sni gets it only if it is one of its names. Non-zero: mbedTLS
 * sends unrecognized_name and ends the handshake. */
static int pick(void *p, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
    cg_sni_certs *t = p;
    long i = cg_sni_certs_find(t, (const char *)name, len);
    if (i >= 0)
        return mbedtls_ssl_set_hs_own_cert(ssl, &t->certs[i].chain, &t->certs[i].key);
    if (!t->strict)
        return 0;
    if (len <= CG_DNS_NAME_MAX && !memchr(name, '*', len) && san_covers(t->own_chain, (const char *)name, len))
        return mbedtls_ssl_set_hs_own_cert(ssl, t->own_chain, t->own_key);
    return MBEDTLS_ERR_SSL_UNRECOGNIZED_NAME;
}

int cg_sni_certs_install(cg_sni_certs *t, mbedtls_ssl_config *conf)
{
    if (!t->strict) {
        int err = mbedtls_ssl_conf_own_cert(conf, t->own_chain, t->own_key);
        if (err != 0)
            return err;
    }
    if (t->strict || t->nnames > 0)
        mbedtls_ssl_conf_sni(conf, pick, t);
    return 0;
}

/* A subjectAltName entry that is a dNSName ([2] IA5String). */
static bool is_dns_name(const mbedtls_x509_sequence *s)
{
    return (s->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) == MBEDTLS_X509_SAN_DNS_NAME &&
           (s->buf.tag & MBEDTLS_ASN1_CONTEXT_SPECIFIC);
}

/* The leaf's subjectAltName dNSNames, "a, b" for a message. */
static void san_list(const mbedtls_x509_crt *c, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (const mbedtls_x509_sequence *s = &c->subject_alt_names; s && s->buf.p; s = s->next)
        if (is_dns_name(s) && used < cap)
            used += cg_fmt_into(out + used, cap - used, "%s%.*s", used ? ", " : "", (int)s->buf.len, s->buf.p);
    if (!used)
        cg_fmt_into(out, cap, "no DNS names");
}

static bool san_covers(const mbedtls_x509_crt *c, const char *name, size_t len)
{
    for (const mbedtls_x509_sequence *s = &c->subject_alt_names; s && s->buf.p; s = s->next)
        if (is_dns_name(s) &&
            cg_dns_name_covers((const char *)s->buf.p, s->buf.len, name, len))
            return true;
    return false;
}

static bool has_dns_name(const mbedtls_x509_crt *c)
{
    for (const mbedtls_x509_sequence *s = &c->subject_alt_names; s && s->buf.p; s = s->next)
        if (is_dns_name(s))
            return true;
    return false;
}

static void file_error(cg_diag *diag, const char *cfg_file, cg_pos pos, const cg_listener_cfg *l, size_t i,
                       const char *key, const char *path, int err)
{
    char e[160];
    cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, pos.line, pos.column, "listeners[%s].tls.sni[#%zu].%s \"%s\": %s",
                l->name, i + 1, key, path, cg_tls_file_strerror(err, e, sizeof e));
}

/* A warning at load for a server certificate clients refuse or soon will:
 * expired, not yet valid, or ending within EXPIRY_WARNING_DAYS. Not an
 * error: the running configuration would not be better, and the renewed
 * certificate may be on its way. what: "listeners[main].tls.certificate". */
static void check_validity(cg_diag *diag, const char *cfg_file, cg_pos pos, const char *what, const char *path,
                           const mbedtls_x509_crt *c)
{
    char when[64];
    if (mbedtls_x509_time_is_future(&c->valid_from)) {
        cg_x509_time_format(&c->valid_from, when, sizeof when);
        cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, pos.line, pos.column, "%s \"%s\" is not valid before %s: "
                    "clients refuse it until then (check the clock, or the certificate's dates)", what, path, when);
        return;
    }
    cg_x509_time_format(&c->valid_to, when, sizeof when);
    if (mbedtls_x509_time_is_past(&c->valid_to)) {
        cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, pos.line, pos.column, "%s \"%s\" expired on %s: clients "
                    "refuse it; install a renewed certificate and reload", what, path, when);
        return;
    }
    struct tm end = { .tm_year = c->valid_to.year - 1900, .tm_mon = c->valid_to.mon - 1, .tm_mday = c->valid_to.day,
                      .tm_hour = c->valid_to.hour, .tm_min = c->valid_to.min, .tm_sec = c->valid_to.sec };
    double left = difftime(timegm(&end), time(NULL));
    if (left < EXPIRY_WARNING_DAYS * 86400.0)
        cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, pos.line, pos.column, "%s \"%s\" expires on %s (in %ld "
                    "day(s)): renew it and reload before then", what, path, when, (long)(left / 86400));
}

/* One entry's files, checked as the listener's own certificate is. */
static bool load_entry(cg_sni_certs *t, const cg_listener_cfg *l, size_t i, const char *cfg_file, cg_diag *diag,
                       cg_sni_rng_fn rng)
{
    const cg_sni_cfg *e = &l->sni[i];
    sni_cert *c = &t->certs[i];
    int err;
    bool ok = true;
    if ((err = mbedtls_x509_crt_parse_file(&c->chain, e->cert_file)) != 0) {
        file_error(diag, cfg_file, e->cert_pos, l, i, "certificate", e->cert_file, err);
        ok = false;
    }
    if (ok && e->chain_file && (err = mbedtls_x509_crt_parse_file(&c->chain, e->chain_file)) != 0) {
        file_error(diag, cfg_file, e->chain_pos, l, i, "chain", e->chain_file, err);
        ok = false;
    }
    if ((err = mbedtls_pk_parse_keyfile(&c->key, e->key_file, NULL, rng, NULL)) != 0) {
        file_error(diag, cfg_file, e->key_pos, l, i, "key", e->key_file, err);
        return false;
    }
    if (!ok)
        return false;
    char what[160];
    cg_fmt_into(what, sizeof what, "listeners[%s].tls.sni[#%zu].certificate", l->name, i + 1);
    check_validity(diag, cfg_file, e->cert_pos, what, e->cert_file, &c->chain);
    if (mbedtls_pk_check_pair(&c->chain.pk, &c->key, rng, NULL) != 0) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, e->key_pos.line, e->key_pos.column,
                    "listeners[%s].tls.sni[#%zu].key \"%s\" does not belong to the certificate in \"%s\" (the first "
                    "certificate of the file must be the one for these names)", l->name, i + 1, e->key_file,
                    e->cert_file);
        ok = false;
    }
    /* Refused, not warned: a client checks the name it asked for against
     * the certificate's subjectAltName (RFC 6125) and would drop the
     * connection, so the entry could only break those clients; refused at
     * load, a reload keeps the running snapshot instead. */
    for (size_t k = 0; k < e->nserver_names; k++) {
        if (san_covers(&c->chain, e->server_names[k], strlen(e->server_names[k])))
            continue;
        char sans[512];
        san_list(&c->chain, sans, sizeof sans);
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, e->names_pos.line, e->names_pos.column,
                    "listeners[%s].tls.sni[#%zu].server_names: \"%s\" is not a name of the certificate \"%s\" (its "
                    "subjectAltName: %s); clients asking for it would refuse the certificate: list only names it "
                    "covers, or use a certificate issued for it",
                    l->name, i + 1, e->server_names[k], e->cert_file, sans);
        ok = false;
    }
    return ok;
}

cg_sni_certs *cg_sni_certs_new(const cg_listener_cfg *l, mbedtls_x509_crt *own_chain, mbedtls_pk_context *own_key,
                               const char *cfg_file, cg_diag *diag, cg_sni_rng_fn rng)
{
    cg_sni_certs *t = calloc(1, sizeof *t);
    size_t nnames = 0;
    for (size_t i = 0; i < l->nsni; i++)
        nnames += l->sni[i].nserver_names;
    if (t && l->nsni) {
        t->certs = calloc(l->nsni, sizeof *t->certs);
        t->names = calloc(nnames ? nnames : 1, sizeof *t->names);
    }
    if (!t || (l->nsni && (!t->certs || !t->names))) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0, "out of memory");
        cg_sni_certs_free(t);
        return NULL;
    }
    t->strict = l->strict_sni;
    t->own_chain = own_chain;
    t->own_key = own_key;
    bool ok = true;
    for (size_t i = 0; i < l->nsni; i++) {
        mbedtls_x509_crt_init(&t->certs[i].chain);
        mbedtls_pk_init(&t->certs[i].key);
        t->ncerts++;
        ok = load_entry(t, l, i, cfg_file, diag, rng) && ok;
        for (size_t k = 0; k < l->sni[i].nserver_names; k++) {
            sni_name *n = &t->names[t->nnames];
            if (!(n->name = strdup(l->sni[i].server_names[k]))) {
                cg_diag_add(diag, CG_DIAG_ERROR, cfg_file, 0, 0, "out of memory");
                ok = false;
                break;
            }
            n->len = strlen(n->name);
            n->cert = i;
            t->nnames++;
        }
    }
    if (own_chain && own_chain->raw.p) {
        char what[160];
        cg_fmt_into(what, sizeof what, "listeners[%s].tls.certificate", l->name);
        check_validity(diag, cfg_file, l->cert_pos, what, l->cert_file, own_chain);
    }
    if (ok && t->strict && own_chain && own_chain->raw.p && !has_dns_name(own_chain)) {
        /* strict_sni serves the listener's certificate only to its own names. */
        cg_diag_add(diag, t->nnames ? CG_DIAG_WARNING : CG_DIAG_ERROR, cfg_file, l->cert_pos.line,
                    l->cert_pos.column, "listeners[%s].tls.strict_sni: tls.certificate \"%s\" has no DNS name in its "
                    "subjectAltName, so it serves no client%s", l->name, l->cert_file,
                    t->nnames ? "; only the names of tls.sni are served"
                              : " and every handshake would be refused: list names in tls.sni, or set strict_sni: false");
        ok = t->nnames > 0;
    }
    if (!ok) {
        cg_sni_certs_free(t);
        return NULL;
    }
    /* The loader refused names listed twice, so no two are equal. */
    if (t->nnames > 0) /* names is NULL without tls.sni */
        qsort(t->names, t->nnames, sizeof *t->names, name_cmp);
    return t;
}

void cg_sni_certs_free(cg_sni_certs *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncerts; i++) {
        mbedtls_x509_crt_free(&t->certs[i].chain);
        mbedtls_pk_free(&t->certs[i].key);
    }
    for (size_t i = 0; i < t->nnames; i++)
        free(t->names[i].name);
    free(t->certs);
    free(t->names);
    free(t);
}
