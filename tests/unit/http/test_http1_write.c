/* Unit tests for http1_write.c: the exact bytes of the backend request head,
 * the client response head and the 101 head, for requests and responses
 * that exercise every rule of which fields pass (hop-by-hop names, names a
 * Connection field lists, the fields certgate sets itself, its identity
 * headers, the headers backends trust and a listener's changes to them,
 * WWW-Authenticate, framing), in every spelling the rules fold ('_' for '-',
 * any case) and their near misses (one letter off, a letter more or less).
 * The expected heads are pinned byte for byte: a rewrite of the writers must
 * reproduce them exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1.h"
#include "http/http1_write.h"

#define MAXH 96

/* "\n" in the literals below stands for CRLF. */
static char *crlf(const char *s)
{
    size_t n = strlen(s), lf = 0;
    for (size_t i = 0; i < n; i++)
        lf += s[i] == '\n';
    char *out = malloc(n + lf + 1), *o = out;
    assert_non_null(out);
    for (; *s; s++) {
        if (*s == '\n')
            *o++ = '\r';
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* Fails with both heads shown, the one written as a C literal (what a
 * deliberate change of the rules would paste here). */
static void assert_head(const cg_buf *out, const char *want_lf, const char *what)
{
    char *want = crlf(want_lf);
    if (out->len == strlen(want) && memcmp(out->data, want, out->len) == 0) {
        free(want);
        return;
    }
    print_error("%s: head differs; written:\n\"", what);
    for (size_t i = 0; i < out->len; i++) {
        char ch = out->data[i];
        if (ch == '\r')
            continue;
        if (ch == '\n')
            print_error("\\n\"\n\"");
        else if (ch == '"' || ch == '\\')
            print_error("\\%c", ch);
        else
            print_error("%c", ch);
    }
    print_error("\"\nexpected:\n%s\n", want_lf);
    free(want);
    fail();
}

typedef struct parsed_req {
    char *text;
    http_parser p;
    cg_http_header h[MAXH];
    cg_http_request r;
} parsed_req;

static void parse_req(parsed_req *t, const char *head_lf)
{
    memset(t, 0, sizeof *t);
    t->text = crlf(head_lf);
    cg_refusal why;
    if (!cg_http_parse_request(&t->p, t->text, strlen(t->text), t->h, MAXH, &t->r, &why)) {
        print_error("request refused: %s\n", why.detail);
        fail();
    }
}

typedef struct parsed_res {
    char *text;
    http_parser p;
    cg_http_header h[MAXH];
    cg_http_response r;
} parsed_res;

static void parse_res(parsed_res *t, const char *head_lf, bool was_head)
{
    memset(t, 0, sizeof *t);
    t->text = crlf(head_lf);
    cg_refusal why;
    if (!cg_http_parse_response(&t->p, t->text, strlen(t->text), was_head, t->h, MAXH, &t->r, &why)) {
        print_error("response refused: %s\n", why.detail);
        fail();
    }
}

/* ------------------------------------------------------------------------ */
/* the backend head                                                         */

static const cg_http_header extra[] = {
    { CG_SLICE_LIT("X-Client-Cert-Subject"), CG_SLICE_LIT("CN=x\r\nX-Admin: true") },
    { CG_SLICE_LIT("X-Certgate-Principal"), CG_SLICE_LIT("alice@EXAMPLE.COM\x7f") },
};

enum { CTX_PLAIN, CTX_FULL, CTX_POLICY, CTX_UPGRADE, CTX_BARE };

static cg_forward_ctx ctx_of(int kind)
{
    /* as the configuration holds them: lower case, '-' (config_listeners.c) */
    static char *strip[] = { "x-tenant", "cookie", "x-strip-me" };
    static char *keep[] = { "x-real-ip", "x-arr-ssl", "authorization", "x-ms-client-principal-name" };
    static const cg_header_policy policy = { strip, 3, keep, 4 };
    cg_forward_ctx c = {
        .client_ip = CG_SLICE_LIT("192.0.2.7"),
        .default_host = CG_SLICE_LIT("app.internal"),
        .request_id = CG_SLICE_LIT("5f3a9c1e-0-42"),
    };
    switch (kind) {
    case CTX_FULL:
        c.extra = extra;
        c.nextra = 2;
        c.extra_block = CG_SLICE_LIT("X-Client-Cert-Serial: 01AB\r\nX-Client-Cert-SHA256: 00ff\r\n");
        break;
    case CTX_POLICY:
        c.strip = &policy;
        break;
    case CTX_UPGRADE:
        c.upgrade = CG_SLICE_LIT("websocket");
        break;
    case CTX_BARE:
        c.client_ip = c.default_host = c.request_id = (cg_slice){ "", 0 };
        break;
    default:
        break;
    }
    return c;
}

typedef struct backend_case {
    const char *what;
    int ctx;
    const char *request;
    const char *head;
} backend_case;

/* Every field name the request rules name, in the spellings they fold
 * together, and near misses of each that must pass. */
#define NEVER_FORWARDED                                                                                       \
    "Connection: keep-alive\nKeep-Alive: timeout=5\nkeep_alive: 1\nProxy-Connection: x\nPROXY_CONNECTION: y\n" \
    "TE: trailers\nte: x\nT_E: kept\nTrailer: X-T\nTRAILER: y\nUpgrade: h2c\nupgrade: x\n"                   \
    "Proxy-Authorization: Basic eDp5\nproxy_authorization: y\nProxy-Authenticate: z\n"                       \
    "Expect: 100-continue\nAuthorization: Basic YQ==\nauthorization: x\nAUTHORIZATION: y\n"                  \
    "X-Forwarded-For: 10.0.0.1\nx_forwarded_for: 10.0.0.2\nX-Forwarded-Proto: http\n"                       \
    "X-Forwarded-Host: evil\nForwarded: for=10.0.0.1\nFORWARDED: y\nX-Request-Id: spoofed\n"               \
    "x_request_id: z\nX-Client-Cert-Subject: CN=admin\nx-client-cert-anything: 1\n"                        \
    "X_Client_Cert_Serial: 00\nX-CLIENT-CERT-: 2\nX-Certgate-Principal: root@X\nx_certgate_: 3\n"           \
    "Client-Cert: :MIIB:\nclient_cert: x\nClient-Cert-Chain: :MIIB:\nX-ARR-ClientCert: MIIB\n"             \
    "x_arr_clientcert: y\n"

#define NEAR_MISSES                                                                                           \
    "Tee: 1\nT: 2\nTrailers: 3\nUpgrades: 4\nUpgrad: 5\nExpects: 6\nExpec: 7\nConnections: 8\n"            \
    "Keep-Alivee: 9\nKeep-Aliv: 10\nAuthorizations: 11\nAuthorisation: 12\nX-Forwarded: 13\n"              \
    "X-Forwarded-Fo: 14\nX-Forwarded-Fors: 15\nForwarded-For: 16\nX-Request-Ids: 17\nX-Request: 18\n"     \
    "X-Client-Cert-X: kept? no\nX-Client-Cer: 19\nX-Certgate: 20\nX-Certgat-E: 21\nClient-Certs: 22\n"    \
    "Client-Cert-Chains: 23\nClient-Cer: 24\nX-Arr: 25\nProxy-Connectio: 26\nProxy-Authorizatio: 27\n"    \
    "Proxy-Authenticat: 28\nContent-Lengths: 29\nContent-Lengt: 30\nHost-Name: 31\nHos: 32\n"             \
    "Y-Forwarded-For: 33\nX-Forwarded-Fot: 34\n"

#define TRUSTED                                                                                               \
    "X-Original-URL: /admin\nX_Rewrite_URL: /admin\nX-ARR-SSL: 1\nx-arr-log-id: 2\n"                        \
    "X-Forwarded-Client-Cert: Hash=00\nX-SSL-Client-Cert: x\nSSL-Client-Verify: SUCCESS\nssl_client_s_dn: y\n" \
    "X-SSL-Cert: z\nX-Client-Cert: c\nX-Client-Verify: SUCCESS\nX-Client-DN: CN=a\nRemote-User: admin\n"   \
    "X-Remote-User: admin\nX-Forwarded-User: u\nX-Forwarded-Email: e\nX-Auth-Request-User: u\n"             \
    "X-MS-Client-Principal: p\nx-ms-client-principal-name: n\nX-MS-CLIENT-PRINCIPALX: q\nX-Real-IP: 10.0.0.1\n" \
    "X-Client-IP: i\nTrue-Client-IP: t\nX-Forwarded-Server: s\nX-Forwarded-Port: 80\n"                       \
    "X-Forwarded-Prefix: /p\nX-Forwarded-SSL: on\nX-Forwarded-Scheme: http\nFront-End-Https: on\n"          \
    "X-ARR: not a member\nX-SSL-Client: not a member\nSSL-Client: not a member\nX-Auth-Request: not one\n"  \
    "X-MS-Client-Principa: not one\nX-Real-IP-Hint: kept\nX-Real-I: kept\nRemote-Users: kept\n"             \
    "X-Tenant: 7\nx_tenant: 8\nX-Tenants: 9\nCookie: c=1\nX-Strip-Me: s\n"

static const backend_case backend_cases[] = {
    { "never forwarded and near misses", CTX_PLAIN,
      "POST /api/v1?x=1 HTTP/1.1\nHost: app.example.com\nUser-Agent: curl/7.88\n" NEVER_FORWARDED NEAR_MISSES
      "Content-Type: application/json\nContent-Length: 2\n\n",
      "POST /api/v1?x=1 HTTP/1.1\n"
      "Host: app.example.com\n"
      "User-Agent: curl/7.88\n"
      "T_E: kept\n"
      "Tee: 1\n"
      "T: 2\n"
      "Trailers: 3\n"
      "Upgrades: 4\n"
      "Upgrad: 5\n"
      "Expects: 6\n"
      "Expec: 7\n"
      "Connections: 8\n"
      "Keep-Alivee: 9\n"
      "Keep-Aliv: 10\n"
      "Authorizations: 11\n"
      "Authorisation: 12\n"
      "X-Forwarded: 13\n"
      "X-Forwarded-Fo: 14\n"
      "X-Forwarded-Fors: 15\n"
      "Forwarded-For: 16\n"
      "X-Request-Ids: 17\n"
      "X-Request: 18\n"
      "X-Client-Cer: 19\n"
      "X-Certgate: 20\n"
      "X-Certgat-E: 21\n"
      "Client-Certs: 22\n"
      "Client-Cert-Chains: 23\n"
      "Client-Cer: 24\n"
      "X-Arr: 25\n"
      "Proxy-Connectio: 26\n"
      "Proxy-Authorizatio: 27\n"
      "Proxy-Authenticat: 28\n"
      "Content-Lengths: 29\n"
      "Content-Lengt: 30\n"
      "Host-Name: 31\n"
      "Hos: 32\n"
      "Y-Forwarded-For: 33\n"
      "X-Forwarded-Fot: 34\n"
      "Content-Type: application/json\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "Content-Length: 2\n"
      "\n" },
    { "trusted by backends, default policy", CTX_PLAIN,
      "GET /public HTTP/1.1\nHost: a\n" TRUSTED "\n",
      "GET /public HTTP/1.1\n"
      "Host: a\n"
      "X-ARR: not a member\n"
      "X-SSL-Client: not a member\n"
      "SSL-Client: not a member\n"
      "X-Auth-Request: not one\n"
      "X-MS-Client-Principa: not one\n"
      "X-Real-IP-Hint: kept\n"
      "X-Real-I: kept\n"
      "Remote-Users: kept\n"
      "X-Tenant: 7\n"
      "x_tenant: 8\n"
      "X-Tenants: 9\n"
      "Cookie: c=1\n"
      "X-Strip-Me: s\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "\n" },
    { "trusted by backends, a listener's policy", CTX_POLICY,
      "GET /public HTTP/1.1\nHost: a\n" TRUSTED "Authorization: kept? never\n\n",
      "GET /public HTTP/1.1\n"
      "Host: a\n"
      "X-ARR-SSL: 1\n"
      "x-ms-client-principal-name: n\n"
      "X-Real-IP: 10.0.0.1\n"
      "X-ARR: not a member\n"
      "X-SSL-Client: not a member\n"
      "SSL-Client: not a member\n"
      "X-Auth-Request: not one\n"
      "X-MS-Client-Principa: not one\n"
      "X-Real-IP-Hint: kept\n"
      "X-Real-I: kept\n"
      "Remote-Users: kept\n"
      "X-Tenants: 9\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "\n" },
    { "fields a Connection field names", CTX_PLAIN,
      "GET / HTTP/1.1\nHost: a\nConnection: x-one , X-TWO,,host, cookie\nX-One: 1\nx-two: 2\nx_two: 2b\n"
      "Cookie: c=1\nX-Three: 3\nConnection: close\nClose: 4\nKeep-Alive: 5\n\n",
      "GET / HTTP/1.1\n"
      "Host: a\n"
      "x_two: 2b\n"
      "X-Three: 3\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "\n" },
    { "Connection: close and keep-alive only", CTX_PLAIN,
      "GET / HTTP/1.1\nHost: a\nClose: 1\nCLOSE: 2\nClosed: 3\nKeep-Alive: 4\nconnection: Close, keep-alive\n\n",
      "GET / HTTP/1.1\n"
      "Host: a\n"
      "Closed: 3\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "\n" },
    { "an upgrade the route allows", CTX_UPGRADE,
      "GET /ws HTTP/1.1\nHost: a\nConnection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Key: k\n\n",
      "GET /ws HTTP/1.1\n"
      "Host: a\n"
      "Sec-WebSocket-Key: k\n"
      "Connection: Upgrade\n"
      "Upgrade: websocket\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "\n" },
    { "identity headers (sanitized), chunked", CTX_FULL,
      "PUT /f HTTP/1.1\nTransfer-Encoding: chunked\nHost: h\nAccept: */*\n\n",
      "PUT /f HTTP/1.1\n"
      "Host: h\n"
      "Accept: */*\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "X-Client-Cert-Serial: 01AB\n"
      "X-Client-Cert-SHA256: 00ff\n"
      "X-Client-Cert-Subject: CN=x??X-Admin: true\n"
      "X-Certgate-Principal: alice@EXAMPLE.COM?\n"
      "Transfer-Encoding: chunked\n"
      "\n" },
    { "HTTP/1.0 without Host: the default one", CTX_FULL,
      "GET /old HTTP/1.0\nAccept: */*\nContent-Length: 999999999999999999\n\n",
      "GET /old HTTP/1.1\n"
      "Host: app.internal\n"
      "Accept: */*\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "X-Client-Cert-Serial: 01AB\n"
      "X-Client-Cert-SHA256: 00ff\n"
      "X-Client-Cert-Subject: CN=x??X-Admin: true\n"
      "X-Certgate-Principal: alice@EXAMPLE.COM?\n"
      "Content-Length: 999999999999999999\n"
      "\n" },
    { "two digits of length", CTX_PLAIN, "POST /n HTTP/1.1\nHost: h\nContent-Length: 10\n\n",
      "POST /n HTTP/1.1\n"
      "Host: h\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "Content-Length: 10\n"
      "\n" },
    { "three digits of length", CTX_PLAIN, "POST /n HTTP/1.1\nHost: h\nContent-Length: 00100\n\n",
      "POST /n HTTP/1.1\n"
      "Host: h\n"
      "X-Forwarded-For: 192.0.2.7\n"
      "X-Forwarded-Proto: https\n"
      "X-Request-Id: 5f3a9c1e-0-42\n"
      "Content-Length: 100\n"
      "\n" },
    { "no default host, no address, no id", CTX_BARE,
      "OPTIONS * HTTP/1.0\nX-A: \nContent-Length: 0\n\n",
      "OPTIONS * HTTP/1.1\n"
      "X-A: \n"
      "X-Forwarded-Proto: https\n"
      "Content-Length: 0\n"
      "\n" },
};

static void test_backend_heads_pinned(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof backend_cases / sizeof *backend_cases; i++) {
        const backend_case *bc = &backend_cases[i];
        parsed_req *t = malloc(sizeof *t);
        assert_non_null(t);
        parse_req(t, bc->request);
        cg_forward_ctx ctx = ctx_of(bc->ctx);
        cg_buf out = { 0 };
        assert_true(cg_http_write_backend_head(&t->r, &ctx, &out));
        assert_head(&out, bc->head, bc->what);
        /* Appended after what the buffer already holds, and the same again. */
        cg_buf two = { 0 };
        assert_true(cg_buf_append(&two, "prefix", 6));
        assert_true(cg_http_write_backend_head(&t->r, &ctx, &two));
        assert_int_equal(two.len, 6 + out.len);
        assert_memory_equal(two.data + 6, out.data, out.len);
        cg_buf_free(&two);
        cg_buf_free(&out);
        free(t->text);
        free(t);
    }
}

/* ------------------------------------------------------------------------ */
/* the client head                                                          */

typedef struct client_case {
    const char *what;
    const char *response;
    bool was_head;
    int client_minor;
    bool keep;
    cg_client_body framing;
    const char *head;
} client_case;

#define RES_DROPPED                                                                                           \
    "Connection: keep-alive, X-Internal\nX-Internal: secret\nx_internal: secret2\nKeep-Alive: timeout=5\n"  \
    "KEEP_ALIVE: 1\nProxy-Connection: x\nTE: t\nTrailer: X-T\nUpgrade: h2c\nupgrade: x\n"                  \
    "X-Request-Id: backend-id\nx_request_id: b\nWWW-Authenticate: Negotiate oYGf\nwww_authenticate: NTLM\n" \
    "Proxy-Authenticate: Basic\nProxy-Authorization: p\n"

#define RES_NEAR_MISSES                                                                                       \
    "Server: app\nDate: Sun, 06 Dec 2026 19:00:00 GMT\nTe-: 1\nTrailers: 2\nUpgrades: 3\nConnectio: 4\n"   \
    "Keep-Alive-: 5\nX-Request-Ids: 6\nWWW-Authenticat: 7\nWWW-Authenticate-Info: 8\n"                     \
    "Proxy-Authenticate-: 9\nProxy-Connections: 10\nAuthorization: 11\nX-Forwarded-For: 12\n"              \
    "Content-Lengt: 13\nContent-Type: text/plain\nSet-Cookie: s=1\n"

static const client_case client_cases[] = {
    { "dropped and near misses, Content-Length", "HTTP/1.1 200 OK\n" RES_DROPPED RES_NEAR_MISSES
      "Content-Length: 5\n\n", false, 1, true, CG_CLIENT_BODY_LENGTH,
      "HTTP/1.1 200 OK\n"
      "x_internal: secret2\n"
      "Server: app\n"
      "Date: Sun, 06 Dec 2026 19:00:00 GMT\n"
      "Te-: 1\n"
      "Trailers: 2\n"
      "Upgrades: 3\n"
      "Connectio: 4\n"
      "Keep-Alive-: 5\n"
      "X-Request-Ids: 6\n"
      "WWW-Authenticat: 7\n"
      "WWW-Authenticate-Info: 8\n"
      "Proxy-Authenticate-: 9\n"
      "Proxy-Connections: 10\n"
      "Authorization: 11\n"
      "X-Forwarded-For: 12\n"
      "Content-Lengt: 13\n"
      "Content-Type: text/plain\n"
      "Set-Cookie: s=1\n"
      "Content-Length: 5\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "chunked to an HTTP/1.1 client that closes", "HTTP/1.1 201 Created\n" RES_DROPPED
      "Transfer-Encoding: chunked\nLocation: /x\n\n", false, 1, false, CG_CLIENT_BODY_CHUNKED,
      "HTTP/1.1 201 Created\n"
      "x_internal: secret2\n"
      "Location: /x\n"
      "Transfer-Encoding: chunked\n"
      "Connection: close\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "chunked to an HTTP/1.0 client", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nX: 1\n\n", false, 0, true,
      CG_CLIENT_BODY_CLOSE,
      "HTTP/1.1 200 OK\n"
      "X: 1\n"
      "Connection: close\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "until close from an HTTP/1.0 backend", "HTTP/1.0 200 OK\nContent-Type: text/html\n\n", false, 1, true,
      CG_CLIENT_BODY_CHUNKED,
      "HTTP/1.1 200 OK\n"
      "Content-Type: text/html\n"
      "Transfer-Encoding: chunked\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "lengths of one, two and three digits", "HTTP/1.1 200 OK\nContent-Length: 099\n\n", false, 1, true,
      CG_CLIENT_BODY_LENGTH,
      "HTTP/1.1 200 OK\n"
      "Content-Length: 99\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "HTTP/1.0 client kept alive", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, 0, true,
      CG_CLIENT_BODY_LENGTH,
      "HTTP/1.1 200 OK\n"
      "Content-Length: 0\n"
      "Connection: keep-alive\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "HEAD: Content-Length as sent", "HTTP/1.1 200 OK\nContent-Length: 1234\ncontent_length: 99\nETag: \"x\"\n"
      "Connection: close\nClose: 1\n\n", true, 1, true, CG_CLIENT_BODY_NONE,
      "HTTP/1.1 200 OK\n"
      "Content-Length: 1234\n"
      "content_length: 99\n"
      "ETag: \"x\"\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "304: Content-Length as sent", "HTTP/1.1 304 Not Modified\nContent-Length: 10\nETag: \"y\"\n\n", false, 1,
      true, CG_CLIENT_BODY_NONE,
      "HTTP/1.1 304 Not Modified\n"
      "Content-Length: 10\n"
      "ETag: \"y\"\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "204: no Content-Length", "HTTP/1.1 204 No Content\nContent-Length: 0\nX-B: 1\n\n", false, 1, true,
      CG_CLIENT_BODY_NONE,
      "HTTP/1.1 204 No Content\n"
      "X-B: 1\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "Connection: close and keep-alive only", "HTTP/1.1 200 OK\nClose: 1\nkeep-alive: 2\nClosed: 3\n"
      "Connection: close, Keep-Alive\nContent-Length: 1\n\n", false, 1, true, CG_CLIENT_BODY_LENGTH,
      "HTTP/1.1 200 OK\n"
      "Closed: 3\n"
      "Content-Length: 1\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "a status without a reason phrase", "HTTP/1.1 299 \nContent-Length: 0\n\n", false, 1, true,
      CG_CLIENT_BODY_LENGTH,
      "HTTP/1.1 299 Success\n"
      "Content-Length: 0\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "a known status without a reason phrase", "HTTP/1.1 404 \nContent-Length: 0\n\n", false, 1, false,
      CG_CLIENT_BODY_LENGTH,
      "HTTP/1.1 404 Not Found\n"
      "Content-Length: 0\n"
      "Connection: close\n"
      "X-Request-Id: req-42\n"
      "\n" },
    { "an interim response", "HTTP/1.1 103 Early Hints\nLink: </s.css>\nConnection: x\n\n", false, 1, false,
      CG_CLIENT_BODY_NONE,
      "HTTP/1.1 103 Early Hints\n"
      "Link: </s.css>\n"
      "X-Request-Id: req-42\n"
      "\n" },
};

static void test_client_heads_pinned(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof client_cases / sizeof *client_cases; i++) {
        const client_case *cc = &client_cases[i];
        parsed_res *t = malloc(sizeof *t);
        assert_non_null(t);
        parse_res(t, cc->response, cc->was_head);
        cg_buf out = { 0 };
        cg_client_body fr = (cg_client_body)-1;
        assert_true(cg_http_write_client_head(&t->r, cc->was_head, cc->client_minor, cc->keep,
                                              CG_SLICE_LIT("req-42"), &out, &fr));
        assert_head(&out, cc->head, cc->what);
        assert_int_equal(fr, cc->framing);
        /* HTTP/2 responses keep the same fields (h2_backend.c). */
        size_t kept = 0;
        for (size_t k = 0; k < t->r.nheaders; k++)
            if (cg_http_response_header_kept(&t->r, k, cc->was_head)) {
                char line[512];
                int n = snprintf(line, sizeof line, "\r\n%.*s: %.*s\r\n", (int)t->r.headers[k].name.n,
                                 t->r.headers[k].name.p, (int)t->r.headers[k].value.n, t->r.headers[k].value.p);
                assert_true(n > 0 && (size_t)n < sizeof line);
                /* in the HTTP/1.1 head, after the status line */
                assert_non_null(memmem(out.data, out.len, line, (size_t)n));
                kept++;
            }
        assert_true(kept <= t->r.nheaders);
        cg_buf_free(&out);
        free(t->text);
        free(t);
    }
}

static void test_switch_head_pinned(void **state)
{
    (void)state;
    parsed_res *t = malloc(sizeof *t);
    assert_non_null(t);
    parse_res(t, "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade, X-Hop\n"
                 "X-Hop: 1\nSec-WebSocket-Accept: abc=\nWWW-Authenticate: Negotiate x\nContent-Length: 0\n"
                 "X-Request-Id: b\nX-Other: 2\n\n", false);
    cg_buf out = { 0 };
    assert_true(cg_http_write_switch_head(&t->r, CG_SLICE_LIT("websocket"), CG_SLICE_LIT("req-42"), &out));
    assert_head(&out, "HTTP/1.1 101 Switching Protocols\n"
                      "Sec-WebSocket-Accept: abc=\n"
                      "X-Other: 2\n"
                      "Connection: Upgrade\n"
                      "Upgrade: websocket\n"
                      "X-Request-Id: req-42\n"
                      "\n", "101");
    cg_buf_free(&out);
    free(t->text);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_heads_pinned),
        cmocka_unit_test(test_client_heads_pinned),
        cmocka_unit_test(test_switch_head_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
