/* net/tls_client.c: the TLS client to https backends, against an mbedTLS
 * server in memory (no sockets): verification outcomes and their
 * sentences, TLS 1.2 and 1.3, a NewSessionTicket arriving with the
 * response's records, session resumption per worker, and the files a
 * backend's tls section names (errors at their position). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/pem.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <psa/crypto.h>

#include "fixtures.h"
#include "net/net.h"
#include "x509_kit.h"

static char dir[256];
static mbedtls_pk_context ca_key, other_ca_key, leaf_key, stray_key;
static mbedtls_x509_crt *ca, *other_ca, *leaf;
static char ca_path[300], other_ca_path[300], leaf_path[300], leaf_key_path[300], stray_key_path[300];

static void write_pem(const char *path, const char *what, const unsigned char *der, size_t len)
{
    char begin[64], end[64];
    snprintf(begin, sizeof begin, "-----BEGIN %s-----\n", what);
    snprintf(end, sizeof end, "-----END %s-----\n", what);
    unsigned char buf[8192];
    size_t olen = 0;
    assert_int_equal(mbedtls_pem_write_buffer(begin, end, der, len, buf, sizeof buf, &olen), 0);
    fx_write_file(path, buf, strlen((char *)buf));
}

static void write_key(const char *path, mbedtls_pk_context *pk)
{
    unsigned char buf[4096];
    assert_int_equal(mbedtls_pk_write_key_pem(pk, buf, sizeof buf), 0);
    fx_write_text(path, (char *)buf);
}

static int setup(void **state)
{
    (void)state;
    if (psa_crypto_init() != PSA_SUCCESS || !fx_tmpdir(dir, sizeof dir, "tls-client"))
        return -1;
    tk_key(&ca_key, 0);
    tk_key(&other_ca_key, 0);
    tk_key(&leaf_key, 0);
    tk_key(&stray_key, 0);
    ca = tk_cert(&(tk_cert_opts){ .subject = "CN=Backend Test CA,O=Test", .key = &ca_key, .ca = 1, .pathlen = -1,
                                  .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN });
    other_ca = tk_cert(&(tk_cert_opts){ .subject = "CN=Other CA,O=Test", .key = &other_ca_key, .ca = 1,
                                        .pathlen = -1, .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN });
    leaf = tk_cert(&(tk_cert_opts){ .subject = "CN=app.backend.test,O=Test", .issuer = "CN=Backend Test CA,O=Test",
                                    .key = &leaf_key, .issuer_key = &ca_key, .ca = 0, .serial = "7",
                                    .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE, .eku = "server" });
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
    snprintf(other_ca_path, sizeof other_ca_path, "%s/other-ca.pem", dir);
    snprintf(leaf_path, sizeof leaf_path, "%s/leaf.pem", dir);
    snprintf(leaf_key_path, sizeof leaf_key_path, "%s/leaf.key", dir);
    snprintf(stray_key_path, sizeof stray_key_path, "%s/stray.key", dir);
    write_pem(ca_path, "CERTIFICATE", ca->raw.p, ca->raw.len);
    write_pem(other_ca_path, "CERTIFICATE", other_ca->raw.p, other_ca->raw.len);
    write_pem(leaf_path, "CERTIFICATE", leaf->raw.p, leaf->raw.len);
    write_key(leaf_key_path, &leaf_key);
    write_key(stray_key_path, &stray_key);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tk_cert_free(ca);
    tk_cert_free(other_ca);
    tk_cert_free(leaf);
    mbedtls_pk_free(&ca_key);
    mbedtls_pk_free(&other_ca_key);
    mbedtls_pk_free(&leaf_key);
    mbedtls_pk_free(&stray_key);
    return fx_rm_rf(dir);
}

/* ---- the server: mbedTLS over two memory pipes ---- */

typedef struct pipe_buf {
    unsigned char data[1 << 17];
    size_t len;
} pipe_buf;

typedef struct server {
    mbedtls_ssl_config conf;
    mbedtls_ssl_ticket_context tickets;
    mbedtls_ssl_context ssl;
    pipe_buf in, out; /* client -> server, server -> client */
} server;

static int srv_send(void *ctx, const unsigned char *p, size_t n)
{
    server *s = ctx;
    assert_true(s->out.len + n <= sizeof s->out.data);
    memcpy(s->out.data + s->out.len, p, n);
    s->out.len += n;
    return (int)n;
}

static int srv_recv(void *ctx, unsigned char *p, size_t n)
{
    server *s = ctx;
    if (s->in.len == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t k = n < s->in.len ? n : s->in.len;
    memcpy(p, s->in.data, k);
    memmove(s->in.data, s->in.data + k, s->in.len - k);
    s->in.len -= k;
    return (int)k;
}

/* One server configuration for a test (TLS version max_v), its connections
 * made anew each time (srv_reset). */
static void srv_init(server *s, mbedtls_ssl_protocol_version max_v)
{
    memset(s, 0, sizeof *s);
    mbedtls_ssl_config_init(&s->conf);
    mbedtls_ssl_ticket_init(&s->tickets);
    mbedtls_ssl_init(&s->ssl);
    assert_int_equal(mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT), 0);
    mbedtls_ssl_conf_rng(&s->conf, tk_rng, NULL);
    mbedtls_ssl_conf_max_tls_version(&s->conf, max_v);
    assert_int_equal(mbedtls_ssl_conf_own_cert(&s->conf, leaf, &leaf_key), 0);
    assert_int_equal(mbedtls_ssl_ticket_setup(&s->tickets, tk_rng, NULL, MBEDTLS_CIPHER_AES_256_GCM, 3600), 0);
    mbedtls_ssl_conf_session_tickets_cb(&s->conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &s->tickets);
    assert_int_equal(mbedtls_ssl_setup(&s->ssl, &s->conf), 0);
    mbedtls_ssl_set_bio(&s->ssl, s, srv_send, srv_recv, NULL);
}

static void srv_reset(server *s)
{
    assert_int_equal(mbedtls_ssl_session_reset(&s->ssl), 0);
    s->in.len = s->out.len = 0;
}

static void srv_free(server *s)
{
    mbedtls_ssl_free(&s->ssl);
    mbedtls_ssl_ticket_free(&s->tickets);
    mbedtls_ssl_config_free(&s->conf);
}

/* The client's output to the server, the server's to the client. */
static void shuttle(server *s, cg_tls_client_conn *c)
{
    cg_buf out = { 0 };
    cg_tls_client_swap_out(c, &out);
    assert_true(s->in.len + out.len <= sizeof s->in.data);
    if (out.len)
        memcpy(s->in.data + s->in.len, out.data, out.len);
    s->in.len += out.len;
    out.len = 0;
    cg_tls_client_swap_out(c, &out);
    cg_buf_free(&out);
    size_t room = 0;
    unsigned char *p = cg_tls_client_in_space(c, &room);
    assert_non_null(p);
    assert_true(room >= s->out.len);
    memcpy(p, s->out.data, s->out.len);
    cg_tls_client_in_commit(c, s->out.len);
    s->out.len = 0;
}

/* Runs both handshakes; the client's last status. */
static cg_tls_status handshake(server *s, cg_tls_client_conn *c)
{
    cg_tls_status st = CG_TLS_WANT_READ;
    bool server_done = false;
    for (int i = 0; i < 50; i++) {
        st = cg_tls_client_handshake(c);
        shuttle(s, c);
        if (!server_done) {
            int r = mbedtls_ssl_handshake(&s->ssl);
            server_done = r == 0;
            if (r != 0 && r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE &&
                st != CG_TLS_WANT_READ)
                break; /* the client gave up first */
        }
        shuttle(s, c);
        if (st == CG_TLS_ERROR || st == CG_TLS_CLOSED || (st == CG_TLS_OK && server_done))
            break;
    }
    return st;
}

static cg_backend_cfg backend(const char *ca_file, const char *server_name)
{
    return (cg_backend_cfg){ .name = "app", .url = "https://10.0.0.5", .host = "10.0.0.5", .port = 443,
                             .https = true, .tls_ca_file = (char *)ca_file, .tls_server_name = (char *)server_name,
                             .tls_min_version = 12, .tls_ca_pos = { 7, 16 }, .tls_key_pos = { 9, 20 },
                             .tls_cert_pos = { 8, 27 } };
}

static cg_tls_client *client_for(const cg_backend_cfg *b)
{
    cg_diag d;
    cg_diag_init(&d);
    cg_tls_client *t = cg_tls_client_new(b, 2, "certgate.yaml", &d);
    if (!t)
        cg_diag_print(&d, stderr);
    assert_non_null(t);
    assert_int_equal(d.count, 0);
    cg_diag_free(&d);
    return t;
}

/* A request and a response over an established connection: the response's
 * records come in one piece with whatever the server queued before them
 * (a TLS 1.3 NewSessionTicket), and the client must read them all. */
static void exchange(server *s, cg_tls_client_conn *c)
{
    static const char req[] = "GET / HTTP/1.1\r\n\r\n", res[] = "HTTP/1.1 204 No Content\r\n\r\n";
    assert_int_equal(cg_tls_client_write(c, (const unsigned char *)req, sizeof req - 1), CG_TLS_OK);
    shuttle(s, c);
    unsigned char buf[256];
    int n;
    do
        n = mbedtls_ssl_read(&s->ssl, buf, sizeof buf);
    while (n == MBEDTLS_ERR_SSL_WANT_READ && s->in.len);
    assert_int_equal(n, (int)sizeof req - 1);
    assert_int_equal(mbedtls_ssl_write(&s->ssl, (const unsigned char *)res, sizeof res - 1), (int)sizeof res - 1);
    shuttle(s, c);
    size_t got = 0;
    assert_int_equal(cg_tls_client_read(c, buf, sizeof buf, &got), CG_TLS_OK);
    assert_int_equal(got, sizeof res - 1);
    assert_memory_equal(buf, res, got);
    assert_false(cg_tls_client_in_pending(c));
}

static void verified_and_resumed(mbedtls_ssl_protocol_version v, const char *version)
{
    server s;
    srv_init(&s, v);
    cg_backend_cfg b = backend(ca_path, "app.backend.test");
    cg_tls_client *t = client_for(&b);

    cg_tls_client_conn *c = cg_tls_client_conn_new(t, 1);
    assert_int_equal(handshake(&s, c), CG_TLS_OK);
    assert_string_equal(cg_tls_client_version(c), version);
    assert_false(cg_tls_client_resumed(c));
    exchange(&s, c);
    cg_tls_client_conn_free(c);

    /* The next connection of that worker resumes the session. */
    srv_reset(&s);
    c = cg_tls_client_conn_new(t, 1);
    assert_int_equal(handshake(&s, c), CG_TLS_OK);
    assert_true(cg_tls_client_resumed(c));
    exchange(&s, c);
    cg_tls_client_conn_free(c);

    /* Another worker has no session of its own yet: a full handshake. */
    srv_reset(&s);
    c = cg_tls_client_conn_new(t, 0);
    assert_int_equal(handshake(&s, c), CG_TLS_OK);
    assert_false(cg_tls_client_resumed(c));
    cg_tls_client_conn_free(c);

    /* A worker beyond the snapshot's count resumes nothing (no shared slot). */
    srv_reset(&s);
    c = cg_tls_client_conn_new(t, 5);
    assert_int_equal(handshake(&s, c), CG_TLS_OK);
    assert_false(cg_tls_client_resumed(c));
    cg_tls_client_conn_free(c);

    cg_tls_client_free(t);
    srv_free(&s);
}

static void test_tls12_verified_and_resumed(void **state)
{
    (void)state;
    verified_and_resumed(MBEDTLS_SSL_VERSION_TLS1_2, "TLSv1.2");
}

static void test_tls13_ticket_then_response(void **state)
{
    (void)state;
    verified_and_resumed(MBEDTLS_SSL_VERSION_TLS1_3, "TLSv1.3");
}

static void expect_failure(const char *ca_file, const char *server_name, cg_tls_client_failure want,
                           const char *const pieces[])
{
    server s;
    srv_init(&s, MBEDTLS_SSL_VERSION_TLS1_3);
    cg_backend_cfg b = backend(ca_file, server_name);
    cg_tls_client *t = client_for(&b);
    cg_tls_client_conn *c = cg_tls_client_conn_new(t, 0);
    assert_int_equal(handshake(&s, c), CG_TLS_ERROR);
    char why[768];
    assert_int_equal(cg_tls_client_failure_of(c, why, sizeof why), want);
    for (size_t i = 0; pieces[i]; i++)
        if (!strstr(why, pieces[i]))
            fail_msg("\"%s\" not in: %s", pieces[i], why);
    cg_tls_client_conn_free(c);
    cg_tls_client_free(t);
    srv_free(&s);
}

static void test_untrusted_names_the_issuer(void **state)
{
    (void)state;
    expect_failure(other_ca_path, "app.backend.test", CG_TLS_CLIENT_UNTRUSTED,
                   (const char *const[]){ "does not chain to a CA in", other_ca_path,
                                          "ends at a certificate issued by \"O=Test,CN=Backend Test CA\"",
                                          "the certificate \"O=Test,CN=app.backend.test\"", NULL });
    assert_string_equal(cg_tls_client_failure_code(CG_TLS_CLIENT_UNTRUSTED), "backend_tls_untrusted");
}

static void test_name_mismatch_names_both(void **state)
{
    (void)state;
    expect_failure(ca_path, "other.backend.test", CG_TLS_CLIENT_NAME_MISMATCH,
                   (const char *const[]){ "is not for \"other.backend.test\"",
                                          "it names CN:app.backend.test (no subjectAltName)", NULL });
    /* The default name is the URL's host: an address the certificate lacks. */
    expect_failure(ca_path, NULL, CG_TLS_CLIENT_NAME_MISMATCH, (const char *const[]){ "\"10.0.0.5\"", NULL });
    assert_string_equal(cg_tls_client_failure_code(CG_TLS_CLIENT_NAME_MISMATCH), "backend_tls_name_mismatch");
}

static void test_server_gone_mid_handshake(void **state)
{
    (void)state;
    cg_backend_cfg b = backend(ca_path, "app.backend.test");
    cg_tls_client *t = client_for(&b);
    cg_tls_client_conn *c = cg_tls_client_conn_new(t, 0);
    assert_int_equal(cg_tls_client_handshake(c), CG_TLS_WANT_READ);
    assert_true(cg_tls_client_out_len(c) > 0); /* the ClientHello */
    /* Garbage instead of a ServerHello: a protocol error, never a crash. */
    size_t room = 0;
    unsigned char *p = cg_tls_client_in_space(c, &room);
    memcpy(p, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
    cg_tls_client_in_commit(c, 28);
    assert_int_equal(cg_tls_client_handshake(c), CG_TLS_ERROR);
    char why[768];
    assert_int_equal(cg_tls_client_failure_of(c, why, sizeof why), CG_TLS_CLIENT_HANDSHAKE);
    assert_non_null(strstr(why, "the TLS handshake failed"));
    cg_tls_client_conn_free(c);
    cg_tls_client_free(t);
}

static void expect_load_error(const cg_backend_cfg *b, int line, int col, const char *piece)
{
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_tls_client_new(b, 1, "certgate.yaml", &d));
    assert_true(d.errors >= 1);
    assert_int_equal(d.items[0].line, line);
    assert_int_equal(d.items[0].column, col);
    if (!strstr(d.items[0].message, piece))
        fail_msg("\"%s\" not in: %s", piece, d.items[0].message);
    cg_diag_free(&d);
}

static void test_files_checked_at_load(void **state)
{
    (void)state;
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.pem", dir);
    cg_backend_cfg b = backend(missing, NULL);
    expect_load_error(&b, 7, 16, "backends[app].tls.ca_file");
    expect_load_error(&b, 7, 16, "cannot read the file");

    b = backend(leaf_key_path, NULL); /* a key where CAs are expected */
    expect_load_error(&b, 7, 16, "backends[app].tls.ca_file");

    b = backend(ca_path, NULL);
    b.tls_cert_file = leaf_path;
    b.tls_key_file = stray_key_path;
    expect_load_error(&b, 9, 20, "does not belong to the certificate");

    b.tls_key_file = leaf_key_path;
    cg_tls_client *t = client_for(&b); /* a matching pair loads */
    cg_tls_client_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls12_verified_and_resumed),
        cmocka_unit_test(test_tls13_ticket_then_response),
        cmocka_unit_test(test_untrusted_names_the_issuer),
        cmocka_unit_test(test_name_mismatch_names_both),
        cmocka_unit_test(test_server_gone_mid_handshake),
        cmocka_unit_test(test_files_checked_at_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
