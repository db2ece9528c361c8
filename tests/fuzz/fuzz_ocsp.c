/* libFuzzer target for the OCSP messages (src/revocation/ocsp_msg.c) and their verification
 * (ocsp_verify.c): everything certgate does with the bytes an OCSP responder answers. Built and
 * run by tests/fuzz/run.
 *
 * The input is an OCSPResponse (DER). It is parsed for the CertID of each test certificate of
 * tests/data/ocsp/ (good.crt, revoked.crt, unknown.crt under ca.crt; relative to the source root)
 * with SHA-1 and SHA-256; a response that parses is checked against the CA (signer search,
 * delegated responder certificates parsed and verified, signature, time window, nonce). The seed
 * corpus is the fixtures' responses (corpus-ocsp/, from tests/data/ocsp/resp-*.der).
 *
 * Invariants: a refusal always says why; every span of a parsed response lies inside the input;
 * a verdict other than trusted says why; a request built for each CertID parses as DER of the
 * length it claims.
 */
#include <psa/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "revocation/ocsp_msg.h"
#include "revocation/ocsp_verify.h"

static mbedtls_x509_crt ca;
static cg_ocsp_certid ids[6];
static size_t nids;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* mbedTLS verifies signatures through PSA (MBEDTLS_USE_PSA_CRYPTO) */
    if (psa_crypto_init() != PSA_SUCCESS)
        abort();
    static const char *const leaves[] = { "tests/data/ocsp/good.crt", "tests/data/ocsp/revoked.crt",
                                          "tests/data/ocsp/unknown.crt" };
    mbedtls_x509_crt_init(&ca);
    if (mbedtls_x509_crt_parse_file(&ca, "tests/data/ocsp/ca.crt") != 0) {
        fprintf(stderr, "fuzz_ocsp: tests/data/ocsp/ca.crt not loaded (run from the source root)\n");
        abort();
    }
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        mbedtls_x509_crt leaf;
        mbedtls_x509_crt_init(&leaf);
        char err[200];
        if (mbedtls_x509_crt_parse_file(&leaf, leaves[i]) != 0 ||
            !cg_ocsp_certid_make(&leaf, &ca, MBEDTLS_MD_SHA1, &ids[nids++], err, sizeof err) ||
            !cg_ocsp_certid_make(&leaf, &ca, MBEDTLS_MD_SHA256, &ids[nids++], err, sizeof err)) {
            fprintf(stderr, "fuzz_ocsp: %s not usable\n", leaves[i]);
            abort();
        }
        mbedtls_x509_crt_free(&leaf);
        unsigned char req[CG_OCSP_REQUEST_MAX];
        size_t n = cg_ocsp_request_build(&ids[nids - 1], (const unsigned char *)"0123456789abcdef", 16, req,
                                         sizeof req);
        if (n < 2 || req[0] != 0x30)
            abort();
    }
    return 0;
}

static void inside(const cg_ocsp_span *s, const uint8_t *data, size_t size)
{
    if (s->p && (s->p < data || s->p + s->len > data + size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < nids; i++) {
        cg_ocsp_response r;
        char err[400] = "";
        if (!cg_ocsp_response_parse(data, size, &ids[i], &r, err, sizeof err)) {
            if (!err[0] || strlen(err) >= sizeof err - 1)
                abort();
            continue;
        }
        inside(&r.tbs, data, size);
        inside(&r.sig, data, size);
        inside(&r.responder_name, data, size);
        inside(&r.responder_key, data, size);
        inside(&r.nonce, data, size);
        if (r.ncerts > CG_OCSP_CERTS_MAX || r.nresponses == 0 || (!r.responder_name.p && !r.responder_key.p))
            abort();
        for (size_t k = 0; k < r.ncerts; k++)
            inside(&r.certs[k], data, size);
        if (r.status != CG_OCSP_GOOD && r.status != CG_OCSP_REVOKED && r.status != CG_OCSP_UNKNOWN)
            abort();
        cg_ocsp_verify_opts o = { .now = r.this_update, .skew_s = CG_OCSP_SKEW_S, .max_age_s = 3600,
                                  .allow_sha1 = true, .nonce = (const unsigned char *)"0123456789abcdef",
                                  .nonce_len = 16 };
        cg_ocsp_signer signer;
        char why[400];
        cg_ocsp_fault f = cg_ocsp_verify(&r, &ca, &o, &signer, why, sizeof why);
        if (f != CG_OCSP_TRUSTED && !why[0])
            abort();
        if (!cg_ocsp_fault_name(f) || !cg_ocsp_status_name(r.status))
            abort();
    }
    return 0;
}
