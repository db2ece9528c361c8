/* Unit tests for upgrade.c (which upgrades pass, which 101s answer one) and
 * the heads that carry them (http1_write.c): the offer to the backend and the
 * switch to the client. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/http1.h"
#include "http/http1_write.h"
#include "http/upgrade.h"

#define MAXH 32

typedef struct msg {
    http_parser p;
    cg_http_header h[MAXH];
    cg_http_request req;
    cg_http_response res;
    cg_refusal why;
} msg;

static void parse_req(msg *m, const char *head)
{
    memset(m, 0, sizeof *m);
    if (!cg_http_parse_request(&m->p, head, strlen(head), m->h, MAXH, &m->req, &m->why))
        fail_msg("request refused: %s", m->why.detail);
}

static void parse_res(msg *m, const char *head)
{
    memset(m, 0, sizeof *m);
    if (!cg_http_parse_response(&m->p, head, strlen(head), false, m->h, MAXH, &m->res, &m->why))
        fail_msg("response refused: %s", m->why.detail);
}

static char *ws_only[] = { "websocket" };
static char *ws_and_chat[] = { "websocket", "x-chat/2" };
static const cg_route hub = { .path = "/hub", .upgrade = ws_only, .nupgrade = 1 };
static const cg_route hub2 = { .path = "/hub", .upgrade = ws_and_chat, .nupgrade = 2 };
static const cg_route plain = { .path = "/" };

#define WS_HEAD(method, version, conn, up, more) \
    method " /hub HTTP/" version "\r\nHost: a\r\nConnection: " conn "\r\nUpgrade: " up "\r\n" \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" more "\r\n"

static cg_upgrade_verdict offer(const char *head, const cg_route *r, char *out, const char **why)
{
    msg m;
    parse_req(&m, head);
    *why = NULL;
    return cg_upgrade_offer(&m.req, r, out, why);
}

static void test_offer(void **state)
{
    (void)state;
    char out[CG_UPGRADE_OFFER_MAX];
    const char *why;
    assert_int_equal(offer("GET /hub HTTP/1.1\r\nHost: a\r\n\r\n", &hub, out, &why), CG_UPGRADE_NONE);
    assert_string_equal(out, "");

    assert_int_equal(offer(WS_HEAD("GET", "1.1", "Upgrade", "websocket", ""), &hub, out, &why), CG_UPGRADE_OFFERED);
    assert_string_equal(out, "websocket");
    /* Case, other Connection tokens, a version: still the one allowed. */
    assert_int_equal(offer(WS_HEAD("GET", "1.1", "keep-alive, UPGRADE", "WebSocket/13", ""), &hub, out, &why),
                     CG_UPGRADE_OFFERED);
    assert_string_equal(out, "WebSocket/13");
    assert_int_equal(offer(WS_HEAD("GET", "1.1", "upgrade", "websocket, x-chat/2", ""), &hub2, out, &why),
                     CG_UPGRADE_OFFERED);
    assert_string_equal(out, "websocket, x-chat/2");

    /* Everything else is stripped, with the reason. */
    static const struct {
        const char *head;
        const cg_route *route;
        const char *why;
    } stripped[] = {
        { WS_HEAD("GET", "1.1", "Upgrade", "websocket", ""), &plain, "the route allows no upgrade" },
        { WS_HEAD("GET", "1.1", "Upgrade", "websocket", ""), NULL, "the route allows no upgrade" },
        { WS_HEAD("POST", "1.1", "Upgrade", "websocket", ""), &hub, "only a GET" },
        { WS_HEAD("GET", "1.0", "Upgrade", "websocket", ""), &hub, "HTTP/1.0" },
        { WS_HEAD("GET", "1.1", "Upgrade", "websocket", "Content-Length: 3\r\n"), &hub, "with a body" },
        { WS_HEAD("GET", "1.1", "Upgrade", "websocket", "Transfer-Encoding: chunked\r\n"), &hub, "with a body" },
        { WS_HEAD("GET", "1.1", "keep-alive", "websocket", ""), &hub, "Connection does not list \"upgrade\"" },
        { WS_HEAD("GET", "1.1", "Upgrade", "websocket", "Upgrade: websocket\r\n"), &hub, "several Upgrade headers" },
        { WS_HEAD("GET", "1.1", "Upgrade", "h2c", ""), &hub, "a protocol the route does not allow" },
        { WS_HEAD("GET", "1.1", "Upgrade", "websocket, h2c", ""), &hub, "a protocol the route does not allow" },
        { WS_HEAD("GET", "1.1", "Upgrade", "websocketx", ""), &hub, "a protocol the route does not allow" },
        { WS_HEAD("GET", "1.1", "Upgrade", "x-chat/3", ""), &hub2, "a protocol the route does not allow" },
        { WS_HEAD("GET", "1.1", "Upgrade", ",", ""), &hub, "empty" },
    };
    for (size_t i = 0; i < sizeof stripped / sizeof stripped[0]; i++) {
        if (offer(stripped[i].head, stripped[i].route, out, &why) != CG_UPGRADE_STRIPPED || !why ||
            !strstr(why, stripped[i].why) || out[0])
            fail_msg("case %zu: expected stripped (%s), got \"%s\" (%s)", i, stripped[i].why, out, why ? why : "-");
    }
    /* Too long to offer. */
    char head[600];
    char longv[300];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    snprintf(head, sizeof head, WS_HEAD("GET", "1.1", "Upgrade", "%s", ""), longv);
    assert_int_equal(offer(head, &hub, out, &why), CG_UPGRADE_STRIPPED);
    assert_non_null(strstr(why, "too long"));
}

static void test_accepted(void **state)
{
    (void)state;
    msg m;
    cg_slice proto = { 0 };
    parse_res(&m, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n");
    assert_true(cg_upgrade_accepted("websocket", m.res.headers, m.res.nheaders, &proto));
    assert_int_equal(proto.n, 9);
    assert_memory_equal(proto.p, "WebSocket", 9);
    assert_true(cg_upgrade_accepted("x-chat/2, websocket", m.res.headers, m.res.nheaders, &proto));
    /* Nothing offered, another protocol, several, none, no Connection: upgrade. */
    assert_false(cg_upgrade_accepted("", m.res.headers, m.res.nheaders, &proto));
    assert_false(cg_upgrade_accepted("x-chat/2", m.res.headers, m.res.nheaders, &proto));
    parse_res(&m, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket, h2c\r\nConnection: Upgrade\r\n\r\n");
    assert_false(cg_upgrade_accepted("websocket", m.res.headers, m.res.nheaders, &proto));
    parse_res(&m, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
    assert_false(cg_upgrade_accepted("websocket", m.res.headers, m.res.nheaders, &proto));
    parse_res(&m, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    assert_false(cg_upgrade_accepted("websocket", m.res.headers, m.res.nheaders, &proto));
    parse_res(&m, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n");
    assert_false(cg_upgrade_accepted("websocket", m.res.headers, m.res.nheaders, &proto));
    parse_res(&m, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    assert_false(cg_upgrade_accepted("websocket", m.res.headers, m.res.nheaders, &proto));
}

static void assert_buf(const cg_buf *b, const char *want)
{
    if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
        fail_msg("got:\n%.*s\nwant:\n%s", (int)b->len, b->data, want);
}

static bool buf_has(const cg_buf *b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, needle, n) == 0)
            return true;
    return false;
}

static void test_heads(void **state)
{
    (void)state;
    msg m;
    parse_req(&m, WS_HEAD("GET", "1.1", "Upgrade", "websocket", "Sec-WebSocket-Protocol: chat\r\n"));
    cg_forward_ctx ctx = {
        .client_ip = CG_SLICE_LIT("192.0.2.7"),
        .request_id = CG_SLICE_LIT("req-1"),
        .upgrade = CG_SLICE_LIT("websocket"),
    };
    cg_buf out = { 0 };
    assert_true(cg_http_write_backend_head(&m.req, &ctx, &out));
    assert_buf(&out, "GET /hub HTTP/1.1\r\nHost: a\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: chat\r\n"
                     "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                     "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nX-Request-Id: req-1\r\n\r\n");
    /* Not offered: neither the client's Connection nor its Upgrade passes. */
    ctx.upgrade = (cg_slice){ NULL, 0 };
    out.len = 0;
    assert_true(cg_http_write_backend_head(&m.req, &ctx, &out));
    assert_false(buf_has(&out, "pgrade"));
    assert_false(buf_has(&out, "Connection"));
    assert_true(buf_has(&out, "Sec-WebSocket-Key")); /* the rest passes as on any request */
    cg_buf_free(&out);

    parse_res(&m, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Hop\r\nX-Hop: 1\r\n"
                  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nContent-Length: 0\r\n"
                  "WWW-Authenticate: Negotiate abc\r\nX-Request-Id: backend\r\n\r\n");
    assert_true(cg_http_write_switch_head(&m.res, CG_SLICE_LIT("websocket"), CG_SLICE_LIT("req-1"), &out));
    assert_buf(&out, "HTTP/1.1 101 Switching Protocols\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                     "Connection: Upgrade\r\nUpgrade: websocket\r\nX-Request-Id: req-1\r\n\r\n");
    cg_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offer),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_heads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
