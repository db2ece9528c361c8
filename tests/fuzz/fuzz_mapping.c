/* libFuzzer target for the certificate mapping (src/mapping/mapping.c): the YAML
 * loader, the matcher and explain. Built and run by tests/fuzz/run.
 *
 * The first byte of an input chooses what it exercises:
 *   'C'  the rest is a DER certificate, mapped (and explained) against a
 *        built-in mapping that uses every kind of rule, key and template;
 *   'G'  the rest is "pattern\0value": wildcard compile, match and cover;
 *   'D'  the rest is RFC 4514 text: DN parsing and canonical form;
 *   else the input is a mapping file, optionally followed by
 *        "\n#%%DER%%\n" and a DER certificate to map with it; without a
 *        certificate, the dev PKI's alice and bob are mapped (when
 *        CG_FUZZ_CERTS names certs-dev/client).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "mapping/cert_key.h"
#include "mapping/cert_view.h"
#include "mapping/glob.h"
#include "mapping/mapping.h"
#include "mapping/mapping_load.h"
#include "mapping/principal.h"

static const char builtin_yaml[] =
    "default_realm: EXAMPLE.TEST\n"
    "no_match: 401\n"
    "one_to_one:\n"
    "  - sha256: b09e5a3b09c4c8597aaae6d420cb4372b6e991026d2cf8dd3378e98f099c156e\n"
    "    principal: alice\n"
    "  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
    "    serial: 2BD2F8902BFD90D0F1\n"
    "    principal: \"{subject.CN}\"\n"
    "  - ski: 802dadf3fe00a0467f9c451d8cd23f57b022b751\n"
    "    principal: \"{san.upn}\"\n"
    "  - sha1_public_key: 8fabe1db0010c1189c62351051c45fa618f4f9f6\n"
    "    principal: x@EXAMPLE.TEST\n"
    "    enabled: false\n"
    "  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
    "    subject: \"CN=bob+OU=Sales,O=Example\"\n"
    "    principal: \"{san.email|local}\"\n"
    "  - rfc822: carol@example.test\n"
    "    principal: \"{san.email|local}@{san.email|domain|upper}\"\n"
    "many_to_one:\n"
    "  - name: deny-contractors\n"
    "    action: deny\n"
    "    rules:\n"
    "      - {field: subject, sub_field: OU, pattern: \"Contract*\", case_sensitive: false}\n"
    "  - name: upn\n"
    "    principal: \"{san.upn}\"\n"
    "    rules:\n"
    "      - {field: san, sub_field: upn, pattern: \"*@EXAMPLE.TEST\"}\n"
    "      - {field: issuer, sub_field: O, pattern: \"Ex?mple\"}\n"
    "  - name: dns\n"
    "    principal: \"{san.dns|lower}@EXAMPLE.TEST\"\n"
    "    rules: [{field: san, sub_field: dns, pattern: \"*.example.test\"},\n"
    "            {field: san, sub_field: uri, pattern: \"https://*\"}]\n"
    "  - name: people\n"
    "    principal: \"{subject.UID}\"\n"
    "    rules: [{field: subject, sub_field: DC, pattern: example}, {field: subject, sub_field: L, pattern: \"*\"},\n"
    "            {field: subject, sub_field: ST, pattern: \"?*\"}, {field: subject, sub_field: C, pattern: \"??\"},\n"
    "            {field: subject, sub_field: emailAddress, pattern: \"*@*\"},\n"
    "            {field: subject, sub_field: serialNumber, pattern: \"\\\\**\"}]\n"
    "  - name: everyone\n"
    "    principal: \"{subject.CN|lower}@EXAMPLE.TEST\"\n"
    "    rules: [{field: subject, sub_field: CN, pattern: \"*\"}, {field: subject, sub_field: O, pattern: \"*\"}]\n";

static cg_mapping *builtin;
static mbedtls_x509_crt dev_certs;
static bool have_dev_certs;
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cg_diag d;
    cg_diag_init(&d);
    builtin = cg_mapping_load_string(builtin_yaml, strlen(builtin_yaml), "builtin.yaml", NULL, &d);
    if (!builtin) {
        cg_diag_print(&d, stderr);
        abort();
    }
    cg_diag_free(&d);
    devnull = fopen("/dev/null", "w");
    mbedtls_x509_crt_init(&dev_certs);
    const char *dir = getenv("CG_FUZZ_CERTS");
    if (dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/alice.crt", dir);
        have_dev_certs = mbedtls_x509_crt_parse_file(&dev_certs, path) == 0;
        snprintf(path, sizeof path, "%s/bob.crt", dir);
        have_dev_certs = have_dev_certs && mbedtls_x509_crt_parse_file(&dev_certs, path) == 0;
    }
    return 0;
}

/* Maps and explains; checks the result's promises. */
static void map_one(const cg_mapping *m, const mbedtls_x509_crt *c)
{
    cg_map_result r;
    cg_mapping_map(m, c, &r);
    switch (r.outcome) {
    case CG_MAP_ALLOW:
        if (cg_principal_problem(r.principal, strlen(r.principal)))
            abort(); /* never hand on an invalid principal */
        break;
    case CG_MAP_DENY:
        if (r.why.kind != CG_REFUSE_MAP_DENIED || r.principal[0])
            abort();
        break;
    case CG_MAP_NONE:
        if ((r.why.kind != CG_REFUSE_MAP_NONE && r.why.kind != CG_REFUSE_MAP_NONE_403) || r.principal[0])
            abort();
        break;
    default: abort();
    }
    if (strlen(r.why.detail) >= sizeof r.why.detail || !cg_mapping_text_ok(r.why.detail, strlen(r.why.detail)))
        abort(); /* details go to logs and pages: valid text only */
    cg_mapping_explain(m, c, devnull);
}

static void map_der(const cg_mapping *m, const uint8_t *der, size_t len)
{
    mbedtls_x509_crt c;
    mbedtls_x509_crt_init(&c);
    if (mbedtls_x509_crt_parse_der(&c, der, len) == 0)
        map_one(m, &c);
    mbedtls_x509_crt_free(&c);
}

static void fuzz_glob(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    const char *val = nul ? (const char *)nul + 1 : "";
    size_t vlen = nul ? size - plen - 1 : 0;
    char *pat = malloc(plen + 1), *pat2 = malloc(plen + 1);
    size_t n = 0, n2 = 0, at;
    for (int cs = 0; cs < 2; cs++) {
        if (cg_glob_compile((const char *)data, plen, cs, pat, &n, &at))
            continue;
        if (cg_mapping_text_ok(val, vlen)) {
            bool matched = cg_glob_match(pat, n, cs, val, vlen);
            /* a pattern covers itself, and "*" covers everything */
            if (!cg_glob_covers(pat, n, cs, pat, n, cs))
                abort();
            if (cg_glob_compile("*", 1, true, pat2, &n2, &at) || !cg_glob_covers(pat2, n2, true, pat, n, cs))
                abort();
            /* soundness of covers: if "*" covers p and p matches v, "*" matches v */
            if (matched && !cg_glob_match(pat2, n2, true, val, vlen))
                abort();
        }
    }
    free(pat);
    free(pat2);
}

static void fuzz_dn(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), out[1100], again[1100], why[256];
    memcpy(s, data, size);
    s[size] = '\0';
    /* the canonical form is a fixed point */
    if (cg_dn_canonical(s, out, sizeof out, why, sizeof why) &&
        (!cg_dn_canonical(out, again, sizeof again, why, sizeof why) || strcmp(out, again)))
        abort();
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n#%%DER%%\n";
    if (size && data[0] == 'C') {
        map_der(builtin, data + 1, size - 1);
        return 0;
    }
    if (size && data[0] == 'G') {
        fuzz_glob(data + 1, size - 1);
        return 0;
    }
    if (size && data[0] == 'D') {
        fuzz_dn(data + 1, size - 1);
        return 0;
    }
    const uint8_t *der = memmem(data, size, sep, sizeof sep - 1);
    size_t ylen = der ? (size_t)(der - data) : size;
    cg_diag d;
    cg_diag_init(&d);
    /* certificate_file paths resolve as in conf/ (CG_FUZZ_DIR), so the
     * example mapping loads. */
    cg_mapping *m = cg_mapping_load_string((const char *)data, ylen, "fuzz.yaml", getenv("CG_FUZZ_DIR"), &d);
    if ((m == NULL) != (d.errors > 0))
        abort(); /* NULL exactly when an error was reported */
    if (m && der) {
        der += sizeof sep - 1;
        map_der(m, der, size - (size_t)(der - data));
    } else if (m && have_dev_certs) {
        for (const mbedtls_x509_crt *c = &dev_certs; c && c->raw.p; c = c->next)
            map_one(m, c);
    }
    cg_mapping_unref(m);
    cg_diag_free(&d);
    return 0;
}
