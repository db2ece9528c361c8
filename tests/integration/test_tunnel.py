"""Upgrade tunnels and per-route backend timeouts (issue 15; docs/proxy.md,
"Upgrades and tunnels"): a real WebSocket client and server (Debian's
python3-websockets, ws_backend.py) through a real certgate, hand-made
WebSocket bytes where the test needs exact ones, raw_backend.py for hostile
or declining backends, backend.py for plain HTTP.

Routes of the shared certgate (TestTunnel):
  /           backend.py, no upgrade
  /ws         the WebSocket backend, upgrade: [websocket], tunnel_idle 30s
  /idle       the WebSocket backend, upgrade: [websocket], tunnel_idle 1s
  /raw        raw backend, upgrade: [websocket]
  /rawplain   raw backend, no upgrade
  /rawslow    raw backend, timeouts.backend_response 10s (the top level's is 3s)
"""

import asyncio
import json
import os
import signal
import socket
import time
import unittest

import harness as H
import raw_backend as RB
import ws_backend as WS
from harness import t

websockets = WS.websockets

TMP = None
WSB = APP = RAW = None


def setUpModule():
    global TMP, WSB, APP, RAW
    if WS.MISSING:
        raise unittest.SkipTest(WS.MISSING)
    TMP = H.module_tmp(__name__)
    WSB = WS.WSBackend().start()
    APP = H.Backend(TMP, name="tunnel-app").start()
    RAW = RB.RawBackend().start()


def tearDownModule():
    for stop in (lambda: WSB.stop(), lambda: APP.stop(), lambda: RAW.stop()):
        try:
            stop()
        except Exception:
            pass
    H.cleanup_module_tmp(__name__)


def ws_route(path, backend, **timeouts):
    more = {"upgrade": "[websocket]"}
    if timeouts:
        more["timeouts"] = "{%s}" % ", ".join("%s: %s" % kv for kv in timeouts.items())
    return (path, backend, None, more)


def header(headers, name):
    """A header's value from a {name: value} dict, the name without regard to case."""
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def ws_connect(cg, path, cert="alice"):
    """A websockets client connection to certgate, TLS 1.2 with cert."""
    sock = socket.create_connection(("127.0.0.1", cg.port), timeout=t(10))
    sock.setblocking(False)
    return websockets.connect("wss://localhost:%d%s" % (cg.port, path), sock=sock, ssl=H.client_context(cert),
                              server_hostname="localhost", compression=None, max_size=None,
                              ping_interval=None, open_timeout=t(10), close_timeout=t(5))


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, t(timeout)))


def raw_upgrade(c, path, extra=b"", headers=()):
    """Sends an upgrade request (and extra bytes in the same write); returns
    the response head read (its body too, unless it is a 101)."""
    key = WS.new_key()
    c.send(WS.handshake_request(path, key, headers) + extra)
    deadline = time.monotonic() + t(10)
    head = c._read_until(b"\r\n\r\n", deadline)
    r = H.parse_head(head[:-4])
    r.key = key
    if r.status != 101:
        cl = r.header("Content-Length")
        r.body = c._read_exact(int(cl), deadline) if cl else b""
    return r


class TunnelBase(H.Base):

    def tunnel_lines(self, cg, marker):
        """The upgrade request's access log line and its tunnel_closed line."""
        req = cg.wait_log(event="request", path=lambda p: marker in p)[0]
        closed = cg.wait_log(event="tunnel_closed", id_=req["id"])[0]
        return req, closed


class TestTunnel(TunnelBase):

    @classmethod
    def setUpClass(cls):
        cls.cg = H.Certgate(TMP, name="tunnel")
        cls.cg.configure(H.pki(), backends={"app": APP.port, "ws": WSB.port, "raw": RAW.port},
                         routes=[("/", "app"), ws_route("/ws", "ws", tunnel_idle="30s"),
                                 ws_route("/idle", "ws", tunnel_idle="1s"), ws_route("/raw", "raw"),
                                 ("/rawplain", "raw"),
                                 ("/rawslow", "raw", None, {"timeouts": "{backend_response: 10s}"})],
                         timeouts={"backend_response": "3s"})
        cls.cg.start()

    @classmethod
    def tearDownClass(cls):
        cls.cg.stop(check=True)

    def setUp(self):
        RAW.responder = RB.default_reply

    # -- the WebSocket itself --

    def test_echo_as_alice_and_bob_at_once(self):
        marks = {"alice": H.unique("a"), "bob": H.unique("b")}

        async def session(cert):
            async with ws_connect(self.cg, "/ws/%s/echo" % marks[cert], cert) as ws:
                await ws.send("whoami")
                who = json.loads(await ws.recv())
                for i in range(50):
                    msg = "%s says %d" % (cert, i)
                    await ws.send(msg)
                    self.assertEqual(await ws.recv(), msg)
                    await ws.send(msg.encode())
                    self.assertEqual(await ws.recv(), msg.encode())
                return who

        async def both():
            return await asyncio.gather(session("alice"), session("bob"))
        alice, bob = run(both())
        for who, name in ((alice, "alice"), (bob, "bob")):
            info = H.pki().cert_info(name)
            self.assertEqual(header(who["headers"], "X-Client-Cert-Subject"), info["subject"], who)
            self.assertEqual(header(who["headers"], "X-Client-Cert-Sha256"), info["sha256"], who)
            self.assertEqual(header(who["headers"], "Upgrade"), "websocket", who)
            self.assertIn("upgrade", header(who["headers"], "Connection").lower(), who)
            self.assertEqual(header(who["headers"], "X-Forwarded-For"), "127.0.0.1", who)
        self.assertNotEqual(alice["peer"], bob["peer"], "the two tunnels shared a backend connection")
        for name in ("alice", "bob"):
            req, closed = self.tunnel_lines(self.cg, marks[name])
            self.assertEqual(req["status"], "101", req)
            self.assertGreater(int(req["bytes_in"]), 50 * 2 * 10, req)
            self.assertGreater(int(req["bytes_out"]), 50 * 2 * 10, req)
            self.assertIn(H.pki().cert_info(name)["subject_cn"], req["subject"])

    def test_large_messages_both_ways(self):
        big = os.urandom(8 << 20)

        async def go():
            async with ws_connect(self.cg, "/ws/echo") as ws:
                for _ in range(2):
                    await ws.send(big)
                    self.assertEqual(await ws.recv(), big)
        run(go(), timeout=60)

    def test_tunnel_quiet_long_enough_to_be_released_goes_on(self):
        # A tunnel quiet for over a quarter of a second has its TLS record buffers
        # released (net/tls_trim.c); messages both ways after that, large
        # ones included, and the closing handshake go through as before.
        big = os.urandom(300000)

        async def go():
            async with ws_connect(self.cg, "/ws/echo") as ws:
                watch = H.ReleaseWatch(self.cg, ws.local_address[1])
                await ws.send("before")
                self.assertEqual(await ws.recv(), "before")
                loop = asyncio.get_running_loop()
                for n in (1, 2):
                    await loop.run_in_executor(None, watch.wait)
                    await ws.send(big)
                    self.assertEqual(await ws.recv(), big)
                    await ws.send("after %d" % n)
                    self.assertEqual(await ws.recv(), "after %d" % n)
        run(go(), timeout=60)

    def test_frames_sent_right_after_the_request_are_forwarded_after_the_101(self):
        with self.cg.tls("alice") as c:
            r = raw_upgrade(c, "/ws/echo", extra=WS.frame("early") + WS.frame(b"\x00\x01", opcode=0x2))
            self.assertEqual(r.status, 101, r.raw_head)
            self.assertEqual(r.header("Sec-WebSocket-Accept"), WS.accept_for(r.key))
            self.assertEqual(r.header("Upgrade"), "websocket")
            self.assertTrue(r.header("X-Request-Id"))
            self.assertEqual(WS.read_frame(c), (0x1, b"early"))
            self.assertEqual(WS.read_frame(c), (0x2, b"\x00\x01"))
            c.send(WS.frame("later"))
            self.assertEqual(WS.read_frame(c), (0x1, b"later"))

    def test_slow_reader_does_not_grow_certgate(self):
        """The backend floods 64 MiB at a client that reads nothing for a
        while: certgate stops reading the backend (its RSS stays flat) and
        serves other clients meanwhile; then every byte arrives."""
        mb = 64
        before = self.cg.memory()["VmRSS"]
        with self.cg.tls("alice", timeout=30) as c:
            r = raw_upgrade(c, "/ws/flood?mb=%d" % mb)
            self.assertEqual(r.status, 101, r.raw_head)
            WSB.wait_conns(1)
            time.sleep(t(2))  # the backend fills every buffer on the way
            grown = self.cg.memory()["VmRSS"] - before
            self.assert_status(self.cg.curl(H.unique("/other")), 200, note="another client while the tunnel is full")
            if not H.SANITIZED:
                self.assertLess(grown, 24 * 1024, "certgate grew by %d kB behind a client that does not read" % grown)
            got = 0
            while True:
                op, payload = WS.read_frame(c, timeout=30)
                if op == 0x1:
                    self.assertEqual(payload, b"done")
                    break
                self.assertEqual(op, 0x2)
                got += len(payload)
            self.assertEqual(got, mb << 20)

    # -- its end --

    def test_idle_timeout_closes_both_sides(self):
        marker = H.unique("idle")
        n = WSB.count()

        async def go():
            async with ws_connect(self.cg, "/idle/%s/echo" % marker) as ws:
                await ws.send("ping")
                self.assertEqual(await ws.recv(), "ping")
                t0 = time.monotonic()
                with self.assertRaises(websockets.exceptions.ConnectionClosed):
                    await ws.recv()
                return time.monotonic() - t0
        quiet = run(go())
        self.assertGreaterEqual(quiet, 0.9)
        self.assertLess(quiet, t(5))
        self.assertTrue(WSB.conn(n).closed.wait(t(5)), "the backend side stayed open")
        req, closed = self.tunnel_lines(self.cg, marker)
        self.assertIn("tunnel_idle", closed["reason"])
        self.assertEqual(req["status"], "101")

    def test_close_from_the_client_passes_to_the_backend(self):
        marker = H.unique("cclose")
        n = WSB.count()

        async def go():
            ws = await ws_connect(self.cg, "/ws/%s/echo" % marker)
            await ws.send("x")
            await ws.recv()
            await ws.close(1000, "done here")
        run(go())
        self.assertTrue(WSB.conn(n).closed.wait(t(5)))
        self.assertEqual(WSB.conn(n).close_code, 1000)
        self.tunnel_lines(self.cg, marker)

    def test_client_end_without_a_close_frame_ends_the_backend(self):
        """close_notify from the client: the backend sees its end (FIN)."""
        marker = H.unique("tlsclose")
        n = WSB.count()
        c = self.cg.tls("alice")
        try:
            self.assertEqual(raw_upgrade(c, "/ws/%s/echo" % marker).status, 101)
            WSB.wait_conns(n + 1)
            c.sock = c.sock.unwrap()  # sends close_notify, keeps the TCP connection
        finally:
            c.close()
        self.assertTrue(WSB.conn(n).closed.wait(t(5)), "the backend never saw the client's end")
        self.assertEqual(WSB.conn(n).close_code, 1006)  # no close frame: the TCP end
        self.tunnel_lines(self.cg, marker)

    def test_close_from_the_backend_reaches_the_client(self):
        marker = H.unique("bclose")

        async def go():
            async with ws_connect(self.cg, "/ws/%s/close" % marker) as ws:
                with self.assertRaises(websockets.exceptions.ConnectionClosed):
                    await ws.recv()
                await ws.wait_closed()
                return ws.close_code, ws.close_reason
        self.assertEqual(run(go()), (4000, "bye"))
        req, closed = self.tunnel_lines(self.cg, marker)
        self.assertIn("backend", closed["reason"])

    # -- what is not a tunnel --

    def test_route_without_upgrade_strips_it(self):
        marker = H.unique("/plain")
        with self.cg.tls("alice") as c:
            r = raw_upgrade(c, marker)
            self.assertEqual(r.status, 200, r.raw_head)
            seen = json.loads(r.body)
            names = [h[0].lower() for h in seen["headers"]]
            self.assertNotIn("upgrade", names)
            self.assertNotIn("connection", names)
            self.assertIn("sec-websocket-key", names)  # the rest passes as on any request
            # The connection goes on as HTTP/1.1.
            self.assert_status(c.request("GET", H.unique("/next")), 200)
        line = self.cg.wait_log(event="upgrade_stripped", id_=r.header("X-Request-Id"))[0]
        self.assertEqual(line["route"], "/")
        self.assertIn("allows no upgrade", line["reason"])

    def test_h2c_is_never_offered(self):
        marker = H.unique("/raw/h2c").encode()
        mark = RAW.mark(marker)
        with self.cg.tls("alice") as c:
            c.send(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                   b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" % marker)
            self.assertEqual(c.read_response().status, 200)
        req = RAW.wait_requests(mark, 1, t(5))[0]
        self.assertEqual(req.header_values("upgrade"), [])
        self.assertEqual(req.header_values("http2-settings"), [])
        self.assertEqual([v for v in req.header_values("connection") if b"pgrade" in v.lower()], [])

    def test_101_to_a_request_that_offered_none_is_502(self):
        marker = H.unique("/rawplain/x").encode()
        mark = RAW.mark(marker)
        RAW.responder = lambda req: RB.Reply(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                             b"Upgrade: websocket\r\n\r\n\x81\x04EVIL")
        with self.cg.tls("alice") as c:
            r = raw_upgrade(c, marker.decode())
            self.assertTrue(c.wait_closed(5))
        self.assertEqual(r.status, 502, r.raw_head)
        self.assertNotIn(b"EVIL", r.body)
        detail = self.refusal_detail(r.header("X-Request-Id"), cg=self.cg)
        self.assertIn("offered no upgrade", detail)
        self.assertIn("allows none: routes[].upgrade", detail)
        conn = RAW.wait_requests(mark, 1, t(5))[0].conn
        self.assertTrue(RAW.wait_closed(conn, t(5)), "the backend connection was kept")

    def test_101_to_another_protocol_is_502(self):
        marker = H.unique("/raw/other").encode()
        RAW.mark(marker)
        RAW.responder = lambda req: RB.Reply(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                             b"Upgrade: h2c\r\n\r\n")
        with self.cg.tls("alice") as c:
            r = raw_upgrade(c, marker.decode())
        self.assertEqual(r.status, 502, r.raw_head)
        self.assertIn("without switching to the protocol offered",
                      self.refusal_detail(r.header("X-Request-Id"), cg=self.cg))

    def test_declined_upgrade_then_raw_bytes_do_not_desync(self):
        """The backend answers 200 to the upgrade and the client goes on with
        WebSocket bytes: certgate reads them as HTTP (400, close); nothing of
        them reaches a backend, and the upgrade's connection is not reused."""
        marker = H.unique("/raw/decline").encode()
        mark = RAW.mark(marker)
        RAW.responder = lambda req: RB.Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        # The frame's bytes end with an empty line: whether the (random) mask
        # makes a control byte or not, certgate then has a whole "head" to
        # judge (without one, bytes that happen to be all printable are an
        # incomplete head, waited for until the head timeout: the test then
        # failed about one run in ten).
        with self.cg.tls("alice") as c:
            r = raw_upgrade(c, marker.decode(), extra=WS.frame("GET /rawplain/smuggled HTTP/1.1") + b"\r\n\r\n")
            self.assertEqual((r.status, r.body), (200, b"ok"))
            second = c.read_response()
            self.assertEqual(second.status, 400)
            self.assertTrue(c.wait_closed(5))
        got = RAW.wait_requests(mark, 1, t(5))
        self.assertEqual(len(got), 1, got)
        self.assertEqual(RAW.errors_since(mark), [])
        self.assertTrue(RAW.wait_closed(got[0].conn, t(5)), "the declined upgrade's connection was kept")
        self.assertFalse(any(b"smuggled" in b for b in RAW.bytes_since(mark, marker=b"").values()))

    def test_declined_upgrade_then_a_request_goes_through_the_pipeline(self):
        """A whole request after a declined upgrade is just the next request:
        parsed, routed and forwarded on its own backend connection."""
        marker = H.unique("/raw/decline2").encode()
        follow = H.unique("/rawplain/follow").encode()
        mark = RAW.mark()
        RAW.responder = lambda req: (RB.Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                     if marker in req.target else RB.default_reply(req))
        with self.cg.tls("alice") as c:
            r = raw_upgrade(c, marker.decode(),
                            extra=b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % follow)
            self.assertEqual(r.status, 200)
            self.assertEqual(c.read_response().status, 200)
        got = RAW.wait_requests(mark, 2, t(5))
        self.assertEqual([g.target for g in got], [marker, follow])
        self.assertNotEqual(got[0].conn, got[1].conn, "the upgrade's backend connection was reused")

    # -- per-route backend_response --

    def test_route_backend_response_timeout(self):
        """The top level's 3s is the 504 on /rawplain; /rawslow's own 10s
        lets a 5 s answer through."""
        RAW.responder = lambda req: RB.Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", delay=5)
        r = self.cg.curl(H.unique("/rawplain/slow"), timeout=20)
        rid = self.assert_refusal(r, 504, "backend_timeout")
        self.assertIn("(timeouts.backend_response)", self.refusal_detail(rid, cg=self.cg))
        r = self.cg.curl(H.unique("/rawslow/x"), timeout=20)
        self.assert_status(r, 200)
        RAW.responder = lambda req: RB.Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", delay=11)
        r = self.cg.curl(H.unique("/rawslow/y"), timeout=30)
        rid = self.assert_refusal(r, 504, "backend_timeout")
        self.assertIn("timeouts.backend_response of route \"/rawslow\"", self.refusal_detail(rid, cg=self.cg))


class TestLongPoll(TunnelBase):
    """SignalR's long polling: a 2-minute poll on a route that allows it."""

    @H.long_running(130)
    def test_two_minute_long_poll(self):
        cg = H.Certgate(TMP, name="longpoll")
        cg.configure(H.pki(), backends={"app": APP.port},
                     routes=[("/", "app"), ("/slow", "app", None, {"timeouts": "{backend_response: 150s}"})])
        cg.start()
        self.addCleanup(cg.stop)
        t0 = time.monotonic()
        r = cg.curl("/slow?ms=120000", timeout=170)
        self.assert_status(r, 200, cg=cg)
        self.assertGreaterEqual(time.monotonic() - t0, 119)


class TestTunnelRevocation(TunnelBase):
    """A CRL that revokes the client closes its open tunnel (checked again
    within a second of the change, as a request would be at its next one)."""

    def test_revoked_after_a_crl_reload_closes_the_tunnel(self):
        import crl_pki
        run_pki = H.pki()
        files = TMP.join(H.unique("crlfiles"))
        os.makedirs(files)
        for name in ("root.crl", "intermediate.crl"):
            with open(os.path.join(run_pki.dir, "crl", name), "rb") as src, \
                    open(os.path.join(files, name), "wb") as dst:
                dst.write(src.read())
        revoked = crl_pki.PKI(run_pki.dir).copy(TMP.join(H.unique("pki-revoked")))
        revoked.revoke("alice")
        cg = H.Certgate(TMP, name=H.unique("tunnel-rev"))
        cg.configure(run_pki, backends={"ws": WSB.port}, routes=[ws_route("/", "ws")],
                     revocation={"mode": "cache-only", "crl_files": [files]})
        cg.start()
        self.addCleanup(cg.stop)
        marker = H.unique("rev")
        n = WSB.count()
        with cg.tls("alice") as c, cg.tls("bob") as other:
            self.assertEqual(raw_upgrade(c, "/%s/echo" % marker).status, 101)
            self.assertEqual(raw_upgrade(other, "/%s-bob/echo" % marker).status, 101)
            c.send(WS.frame("before"))
            self.assertEqual(WS.read_frame(c), (0x1, b"before"))
            with open(revoked.crl("intermediate"), "rb") as src, \
                    open(os.path.join(files, "intermediate.crl"), "wb") as dst:
                dst.write(src.read())
            cg.signal(signal.SIGHUP)
            cg.wait_log(event="reload", result="ok")
            self.assertTrue(c.wait_closed(5), "the revoked client's tunnel stayed open")
            self.assertTrue(WSB.conn(n).closed.wait(t(5)))
            # bob's tunnel is unharmed.
            other.send(WS.frame("still here"))
            self.assertEqual(WS.read_frame(other), (0x1, b"still here"))
        req = cg.wait_log(event="request", path=lambda p: marker in p and "-bob" not in p)[0]
        line = cg.wait_log(event="refused", id_=req["id"])[0]
        self.assertEqual(line["code"], "client_cert_revoked")
        self.assertIn("CN=alice", line["detail"])
        self.assertIn("CRL changed", cg.wait_log(event="tunnel_closed", id_=req["id"])[0]["reason"])
        # And a new connection is refused as usual.
        self.assert_refusal(cg.curl("/ws/echo"), 403, "client_cert_revoked", sub=13, cg=cg)


class TestTunnelKerberos(TunnelBase):
    """alice and bob at once through tunnels to a backend reached as the
    mapped user (S4U2Self + S4U2Proxy, the MIT Kerberos lab, kdc_lab.py):
    each upgrade request carries its own user's token, checked by the
    WebSocket backend with the lab's backend keytab."""

    SPN = "HTTP/backend.example.test"

    @classmethod
    def setUpClass(cls):
        import kdc_lab
        if WS.debian_module("gssapi") is None:
            raise unittest.SkipTest("python3-gssapi is not installed (bash scripts/install-deps test)")
        d = TMP.join("kdc")
        os.makedirs(d, exist_ok=True)
        cls.lab = kdc_lab.Lab(d)
        try:
            cls.lab._check_tools()
        except kdc_lab.LabError as e:
            raise unittest.SkipTest(str(e))
        cls.lab.start()
        # The backend reads its krb5 settings (realm, enctypes) like Apache does.
        cls.old_krb5 = os.environ.get("KRB5_CONFIG")
        os.environ["KRB5_CONFIG"] = cls.lab.krb5_conf
        cls.wsb = WS.WSBackend(keytab=cls.lab.backend_keytab).start()
        pki = H.pki()
        realm = cls.lab.realm
        mapping = TMP.join("tunnel-mapping.yaml")
        with open(mapping, "w") as f:
            f.write("default_realm: %s\none_to_one:\n" % realm)
            for name in ("alice", "bob"):
                f.write("  - name: %s\n    sha256: %s\n    principal: %s@%s\n" % (
                    name, pki.cert_info(name)["sha256"], name, realm))
        cls.cg = cg = H.Certgate(TMP, name="tunnel-kerberos")
        cg.write_config("\n".join([
            "process:",
            "  allow_root: true",
            "logging:",
            "  level: debug",
            "  file: %s" % cg.log_path,
            "kerberos:",
            "  keytab: %s" % cls.lab.proxy_keytab,
            "  principal: %s" % cls.lab.proxy_name,
            "  realm: %s" % realm,
            "  krb5_config: %s" % cls.lab.krb5_conf,
            "  kdc_timeout: 5s",
            "backends:",
            "  - name: ws",
            "    url: http://127.0.0.1:%d" % cls.wsb.port,
            "    kerberos:",
            "      spn: %s" % cls.SPN,
            "listeners:",
            "  - name: main",
            "    address: 127.0.0.1",
            "    port: %d" % cg.port,
            "    tls:",
            "      certificate: %s" % pki.server_crt,
            "      key: %s" % pki.server_key,
            "      client_ca: %s" % pki.root_crt,
            "    revocation:",
            "      mode: off",
            "    mapping: %s" % mapping,
            "    routes:",
            "      - path: /",
            "        backend: ws",
            "        upgrade: [websocket]",
            ""]))
        cg.start()

    @classmethod
    def tearDownClass(cls):
        for stop in (lambda: cls.cg.stop(check=True), lambda: cls.wsb.stop(), lambda: cls.lab.stop()):
            try:
                stop()
            except Exception:
                pass
        if getattr(cls, "old_krb5", None) is None:
            os.environ.pop("KRB5_CONFIG", None)
        else:
            os.environ["KRB5_CONFIG"] = cls.old_krb5

    def test_each_tunnel_is_its_own_kerberos_user(self):
        async def session(cert):
            async with ws_connect(self.cg, "/ws/echo", cert) as ws:
                await ws.send("whoami")
                who = json.loads(await ws.recv())
                await ws.send(cert * 1000)
                self.assertEqual(await ws.recv(), cert * 1000)
                return who

        async def both():
            return await asyncio.gather(*(session(n) for n in ("alice", "bob", "alice", "bob")))
        whos = run(both(), timeout=60)
        realm = self.lab.realm
        for who, name in zip(whos, ("alice", "bob", "alice", "bob")):
            self.assertEqual(who["kerberos_user"], "%s@%s" % (name, realm), who)
            self.assertEqual(header(who["headers"], "X-Certgate-Principal"), "%s@%s" % (name, realm), who)
        self.assertEqual(len({w["peer"] for w in whos}), 4, "tunnels shared backend connections")
