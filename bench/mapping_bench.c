/* Certificate mapping benchmark: load time of a large mapping file and the
 * cost of mapping one certificate.
 *
 *   cg-mapping-bench [CERTS_DIR] [ITERATIONS]
 *
 * CERTS_DIR holds the dev PKI's client certificates (default
 * certs-dev/client, i.e. run from the repository root); ITERATIONS is the
 * number of mappings timed per case (default 200000).
 *
 * The mapping file is generated here: 10,000 one-to-one entries (9,000 by
 * SHA-256, 1,000 by issuer + serial; alice's real fingerprint sits in the
 * middle) and 1,000 many-to-one mappings with two rules each, the last one
 * matching bob. Cases:
 *   one-to-one hit       alice: one hash lookup per key kind in the file
 *   many-to-one, first   carol-like certificate matching mapping #1
 *   many-to-one, last    bob: every earlier mapping is evaluated first
 *   no match             untrusted: everything is evaluated, and the 401.2
 *                        detail (why the first mappings did not match) is built
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/x509_crt.h>

#include "mapping/mapping.h"
#include "mapping/mapping_load.h"
#include "mapping/mapping_table.h"
#include "x509/verify.h"

#define N_SHA256 9000
#define N_ISSUER_SERIAL 1000
#define N_M2O 1000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void load_cert(mbedtls_x509_crt *c, const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.crt", dir, name);
    mbedtls_x509_crt_init(c);
    if (mbedtls_x509_crt_parse_file(c, path) != 0) {
        fprintf(stderr, "cg-mapping-bench: cannot read %s (give the certs-dev/client directory)\n", path);
        exit(2);
    }
}

/* The generated mapping file; returns its size. */
static size_t write_mapping(FILE *f, const char *alice_sha)
{
    fprintf(f, "default_realm: EXAMPLE.TEST\none_to_one:\n");
    for (int i = 0; i < N_SHA256; i++) {
        if (i == N_SHA256 / 2)
            fprintf(f, "  - name: alice\n    sha256: %s\n    principal: alice\n", alice_sha);
        else
            fprintf(f, "  - sha256: %056x%08x\n    principal: user%d\n", i * 2654435761u, i, i);
    }
    for (int i = 0; i < N_ISSUER_SERIAL; i++)
        fprintf(f, "  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
                   "    serial: \"7F%08X\"\n    principal: \"{subject.CN}\"\n", i);
    fprintf(f, "many_to_one:\n");
    for (int i = 0; i < N_M2O - 1; i++)
        fprintf(f, "  - name: team-%d\n    principal: \"{subject.CN}\"\n    rules:\n"
                   "      - {field: subject, sub_field: OU, pattern: \"Team %d *\"}\n"
                   "      - {field: issuer, sub_field: CN, pattern: \"Example Dev * CA\"}\n", i, i);
    fprintf(f, "  - name: sales\n    principal: \"{subject.CN}\"\n    rules:\n"
               "      - {field: subject, sub_field: OU, pattern: Sales}\n"
               "      - {field: subject, sub_field: CN, pattern: \"b?b\", case_sensitive: false}\n");
    long size = ftell(f);
    return size > 0 ? (size_t)size : 0;
}

static cg_mapping *load(const char *path, double *secs)
{
    cg_diag d;
    cg_diag_init(&d);
    double t0 = now();
    cg_mapping *m = cg_mapping_load(path, &d);
    *secs = now() - t0;
    if (!m || d.warnings) {
        cg_diag_print(&d, stderr);
        if (!m)
            exit(1);
    }
    cg_diag_free(&d);
    return m;
}

static void bench(const char *label, const cg_mapping *m, const mbedtls_x509_crt *c, long iters,
                  cg_map_outcome want)
{
    cg_map_result r;
    cg_mapping_map(m, c, &r); /* warm up, and check the case is what it says */
    if (r.outcome != want) {
        fprintf(stderr, "cg-mapping-bench: %s: unexpected outcome %d (%s)\n", label, r.outcome, r.why.detail);
        exit(1);
    }
    double t0 = now();
    for (long i = 0; i < iters; i++)
        cg_mapping_map(m, c, &r);
    double per = (now() - t0) / (double)iters;
    printf("  %-22s %8.2f us/map  %10.0f maps/s   -> %s%s\n", label, per * 1e6, 1.0 / per,
           r.outcome == CG_MAP_ALLOW ? r.principal : "no mapping", r.outcome == CG_MAP_ALLOW ? "" : " (401.2)");
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "certs-dev/client";
    long iters = argc > 2 ? atol(argv[2]) : 200000;
    mbedtls_x509_crt alice, bob, untrusted;
    load_cert(&alice, dir, "alice");
    load_cert(&bob, dir, "bob");
    load_cert(&untrusted, dir, "untrusted");
    char alice_sha[65];
    cg_cert_sha256_hex(&alice, alice_sha);

    char path[] = "/tmp/cg-mapping-bench-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        perror("cg-mapping-bench: temporary file");
        return 2;
    }
    size_t size = write_mapping(f, alice_sha);
    fclose(f);

    double best = 1e9, secs;
    cg_mapping *m = NULL;
    for (int i = 0; i < 5; i++) { /* best of 5: the figure is the loader's, not the page cache's */
        cg_mapping *x = load(path, &secs);
        if (secs < best)
            best = secs;
        cg_mapping_unref(m);
        m = x;
    }
    unlink(path);
    size_t ones, m2o;
    cg_mapping_counts(m, &ones, &m2o);
    printf("mapping file: %zu one-to-one, %zu many-to-one, %.1f MiB\n", ones, m2o, (double)size / (1 << 20));
    printf("  %-22s %8.1f ms (best of 5)\n", "load + validate", best * 1e3);
    printf("mapping one certificate (%ld iterations each):\n", iters);
    bench("one-to-one hit", m, &alice, iters, CG_MAP_ALLOW);
    bench("many-to-one, last", m, &bob, iters / 10 ? iters / 10 : 1, CG_MAP_ALLOW);
    bench("no match (401.2)", m, &untrusted, iters / 10 ? iters / 10 : 1, CG_MAP_NONE);

    /* The same many-to-one walk when the matching mapping is first. */
    const char *small = "many_to_one:\n  - name: sales\n    principal: \"{subject.CN}@EXAMPLE.TEST\"\n"
                        "    rules: [{field: subject, sub_field: OU, pattern: Sales}]\n";
    cg_diag d;
    cg_diag_init(&d);
    cg_mapping *s = cg_mapping_load_string(small, strlen(small), "small.yaml", NULL, &d);
    bench("many-to-one, first", s, &bob, iters, CG_MAP_ALLOW);
    cg_mapping_unref(s);
    cg_diag_free(&d);

    cg_mapping_unref(m);
    mbedtls_x509_crt_free(&alice);
    mbedtls_x509_crt_free(&bob);
    mbedtls_x509_crt_free(&untrusted);
    return 0;
}
