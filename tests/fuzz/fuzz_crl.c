/* libFuzzer target for the CRL parser (src/crl.c): everything certgate does
 * with bytes a CRL distribution point, an LDAP server, a crl_files entry or
 * a cache file hands it. Built and run by tests/fuzz/run.
 *
 * The input is parsed as a CRL (DER, or PEM when it holds "-----BEGIN "),
 * and also as libcurl's LDAP text rendering ("DN: ...\n\tattr:: base64"),
 * whose CRL is then parsed too. A CRL that parses is searched (every entry
 * must find itself), described (certgate explain) and put in a store of its
 * own, where it is looked up for each dev CA (certs-dev/ca/, relative to
 * the source root), which checks its signature when the names match.
 */
#include <psa/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "revocation/crl_parse.h"
#include "revocation/crl_store.h"
#include "base/log.h"

static mbedtls_x509_crt cas;
static cg_config cfg;
static cg_listener_cfg listener;
static cg_crl_store *keeper; /* keeps libcurl initialized between the per-input stores */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* mbedTLS verifies signatures through PSA (MBEDTLS_USE_PSA_CRYPTO) */
    if (psa_crypto_init() != PSA_SUCCESS)
        abort();
    static const char *const files[] = { "certs-dev/ca/root.crt", "certs-dev/ca/intermediate.crt",
                                         "certs-dev/ca/sub1.crt", "certs-dev/ca/sub2.crt" };
    mbedtls_x509_crt_init(&cas);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (mbedtls_x509_crt_parse_file(&cas, files[i]) != 0)
            fprintf(stderr, "fuzz_crl: %s not loaded (run from the source root): fewer store lookups\n", files[i]);
    /* A store without files or cache directory: nothing but what is added. */
    atomic_init(&cfg.refs, 1);
    cfg.revocation.max_crl_size = 1u << 20;
    listener.name = "fuzz";
    listener.revocation.mode = CG_REVOCATION_CACHE_ONLY;
    cfg.listeners = &listener;
    cfg.nlisteners = 1;
    cg_diag d;
    cg_diag_init(&d);
    keeper = cg_crl_store_new(&cfg, &d);
    cg_diag_free(&d);
    /* Every log line is formatted, none is kept. */
    if (!keeper || !cg_log_open("/dev/null", CG_LOG_DEBUG))
        abort();
    return 0;
}

static void use_crl(crl *c)
{
    /* Entries are sorted and inside the DER: each one finds itself. */
    for (size_t i = 0; i < c->nents; i++) {
        const crl_entry *e = &c->ents[i];
        if ((size_t)e->off + e->len > c->der_len || e->len == 0)
            abort();
        const crl_entry *found = crl_find(c, c->der + e->off, e->len);
        if (!found || found->len != e->len || memcmp(c->der + found->off, c->der + e->off, e->len) != 0)
            abort();
        if (!crl_reason_name(e->reason))
            abort();
    }
    if (c->number_len > sizeof c->number || c->base_len > sizeof c->base_number || c->aki_len > sizeof c->aki)
        abort();
    for (size_t i = 0; i < c->nfreshest; i++)
        if (!c->freshest[i] || !c->freshest[i][0])
            abort();
    cg_crl_info info;
    crl_info_fill(c, &info);
    if (info.entries != c->nents)
        abort();

    char why[300];
    cg_diag d;
    cg_diag_init(&d);
    cg_crl_store *s = cg_crl_store_new(&cfg, &d);
    cg_diag_free(&d);
    if (!s)
        abort();
    crl_store_add(s, crl_ref(c));
    for (const mbedtls_x509_crt *ca = &cas; ca && ca->raw.p; ca = ca->next) {
        crl *found = crl_store_find_fresh(s, ca, c->is_delta, why, sizeof why);
        if (found && found != c)
            abort(); /* the store holds this CRL only */
        crl_unref(found);
    }
    cg_crl_store_free(s);
}

static void parse(const unsigned char *p, size_t n)
{
    char err[400] = "";
    crl *c = crl_parse(p, n, err, sizeof err);
    if (!c) {
        if (!err[0] || strlen(err) >= sizeof err)
            abort(); /* a refusal always says why */
        return;
    }
    use_crl(c);
    crl_unref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size);
    char err[400] = "";
    size_t len = 0;
    unsigned char *der = crl_from_ldap_text((const char *)data, size, &len, err, sizeof err);
    if (der) {
        parse(der, len);
        free(der);
    } else if (!err[0]) {
        abort();
    }
    return 0;
}
