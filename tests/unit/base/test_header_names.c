/* Unit tests for header_names.c: the client headers never forwarded, the
 * ones backends trust (stripped unless a listener keeps one), and a
 * listener's changes to that list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base/header_names.h"

static void test_header_dropped(void **state)
{
    (void)state;
    const char *dropped[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Proxy-Authorization", "Proxy-Authenticate", "Content-Length", "Expect",
        "Authorization", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded",
        "X-Request-Id", "X-Client-Cert-Subject", "x-client-cert-anything", "X-CLIENT-CERT-",
        "authorization", "AUTHORIZATION", "x-forwarded-for", "te", "tE",
        /* CGI-style backends map '_' and '-' to the same variable. */
        "X_Client_Cert_Subject", "x-client_cert-Issuer", "X_Forwarded_For", "X_Request_Id",
        "Proxy_Authorization", "Content_Length", "Transfer_Encoding",
        /* certgate's own identity headers (the mapped principal ...). */
        "X-Certgate-Principal", "x-certgate-anything", "X_Certgate_Principal",
        /* the certificate itself (RFC 9440, IIS ARR): always, whether the
         * listener sends it or not */
        "Client-Cert", "client-cert", "CLIENT_CERT", "Client-Cert-Chain", "client_cert_chain",
        "X-ARR-ClientCert", "x-arr-clientcert", "X_ARR_CLIENTCERT",
    };
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++) {
        if (!cg_http_request_header_dropped((cg_slice){ dropped[i], strlen(dropped[i]) })) {
            print_error("\"%s\" should be dropped\n", dropped[i]);
            fail();
        }
    }
    const char *kept[] = {
        "Host", "Cookie", "Content-Type", "Accept", "User-Agent", "X-Client-Cert", "X-Client-Cer",
        "Authorizations", "Authorizatio", "X-Forwarded-Fo", "X-Forwarded-Port", "TEE", "T",
        "Upgrade-Insecure-Requests", "Forwarded-For", "X-Request-Ids", "",
        "Client-Certs", "Client-Cert-Chains", "Client-Cer", "X-ARR-ClientCerts", "X-ARR-SSL",
    };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        if (cg_http_request_header_dropped((cg_slice){ kept[i], strlen(kept[i]) })) {
            print_error("\"%s\" should be kept\n", kept[i]);
            fail();
        }
    }
}

/* Headers backends trust from a front end: stripped by default, one kept
 * only when a listener says so, the fixed ones never; extra names stripped. */
static void test_header_stripped_policy(void **state)
{
    (void)state;
    const char *trusted[] = {
        "X-Original-URL", "X-Rewrite-URL", "X-ARR-ClientCert", "X-Forwarded-Client-Cert", "X-SSL-Client-Cert",
        "Remote-User", "X-Remote-User", "X-Real-IP", "x_original_url", "REMOTE_USER", "X-MS-CLIENT-PRINCIPAL-NAME",
        "X-Client-Cert", "X-Forwarded-Port", "X-SSL-Client-DN", "X-SSL-Client-Escaped-Cert", "X-ARR-Anything",
        "X_SSL_Client_S_DN", "SSL-Client-Verify", "X-MS-CLIENT-PRINCIPAL", "X-Auth-Request-Groups",
    };
    for (size_t i = 0; i < sizeof trusted / sizeof trusted[0]; i++) {
        cg_slice n = { trusted[i], strlen(trusted[i]) };
        if (!cg_http_backend_trusted_header(n) || !cg_http_request_header_stripped(n, NULL)) {
            print_error("\"%s\" should be stripped by default\n", trusted[i]);
            fail();
        }
    }
    for (const cg_trusted_header *t = cg_http_backend_trusted_headers; t->name; t++) {
        /* the lists do not overlap: a default can always be kept */
        assert_false(cg_http_request_header_dropped((cg_slice){ t->name, t->len }));
        /* a family's text is its prefix and a final '*' */
        assert_int_equal(strlen(t->name), t->len + t->family);
        /* each entry is found (the first-letter filter lets it through),
         * as a name and as a family member */
        char member[64];
        assert_true(t->len + 2 < sizeof member);
        memcpy(member, t->name, t->len);
        memcpy(member + t->len, "a", 2);
        assert_true(cg_http_backend_trusted_header((cg_slice){ t->name, t->len }) || t->family);
        assert_true(cg_http_backend_trusted_header((cg_slice){ member, t->len + 1 }) == t->family);
        member[0] = (char)(member[0] - 'a' + 'A');
        assert_true(cg_http_backend_trusted_header((cg_slice){ member, t->len + 1 }) == t->family);
        for (const char *c = t->name; *c; c++)
            assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                        (*c == '*' && !c[1] && t->family));
    }
    char *strip[] = { "x-tenant" }, *keep[] = { "x-real-ip", "authorization", "x-client-cert-subject" };
    cg_header_policy p = { strip, 1, keep, 3 };
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("X-Real-IP"), &p));
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("x_real_ip"), &p));
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("X-Remote-User"), &p));
    /* prefixes are families, not substrings */
    assert_false(cg_http_backend_trusted_header(CG_SLICE_LIT("X-ARR")));
    assert_false(cg_http_backend_trusted_header(CG_SLICE_LIT("X-SSL-Client")));
    assert_false(cg_http_backend_trusted_header(CG_SLICE_LIT("X-Real-IP-Hint")));
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("Authorization"), &p)); /* never kept */
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("X-Client-Cert-Subject"), &p));
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("X-Tenant"), &p));
    assert_true(cg_http_request_header_stripped(CG_SLICE_LIT("x_TENANT"), &p));
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("X-Tenants"), &p));
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("X-Tenant"), NULL));
    assert_false(cg_http_request_header_stripped(CG_SLICE_LIT("Cookie"), &p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_dropped),
        cmocka_unit_test(test_header_stripped_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
