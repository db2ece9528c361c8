"""Request limits (src/http/request_limits.h): the request body size
(max_request_body, 413) per listener and per route, and the request rate
(rate_limit, 429 with Retry-After) per client certificate or address.
Rates are small (1/s or 2/s, burst 3) so every wait is about a second; the
connections are opened (handshakes done) before the requests they carry,
so a slow (sanitized) build does not earn tokens between them.
"""

import re
import socket
import threading
import time

import harness as H


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def route_extra(text, path, *lines):
    """text with lines added to the route of path (harness writes routes as
    "      - path: P" then "        backend: B")."""
    marker = "      - path: %s\n" % path
    i = text.index(marker)
    j = text.index("\n", text.index("        backend:", i)) + 1
    return text[:j] + "".join("        %s\n" % line for line in lines) + text[j:]


class TestBodyLimit(H.Shared):
    """max_request_body: 1k on the listener; /big has 64k, /free none."""

    @classmethod
    def setUpClass(cls):
        tmp = H.module_tmp(cls.__module__)
        cls.backend = H.Backend(tmp, name=cls.__name__ + "-backend").start()
        cls.cg = H.Certgate(tmp, name=cls.__name__)
        text = H.config_yaml(pki=H.pki(), port=cls.cg.port, log_file=cls.cg.log_path,
                             backends={"app": cls.backend.port},
                             routes=[("/", "app"), ("/big", "app"), ("/free", "app")],
                             listener_extra="max_request_body: 1k")
        text = route_extra(text, "/big", "max_request_body: 64k")
        text = route_extra(text, "/free", "max_request_body: 0")
        cls.cg.write_config(text)
        cls.cg.start()

    def detail(self, rid):
        return self.refusal_detail(rid)

    def test_content_length_over_limit_nothing_forwarded(self):
        marker = H.unique("/cl-over")
        with self.cg.tls() as c:
            r = c.request("POST", marker, body=b"x" * 1025)
            self.assertTrue(c.wait_closed(), "the connection stays open after a 413 with an unread body")
        rid = self.assert_refusal(r, 413, "request_body_too_large")
        self.assertEqual(r.header("Connection"), "close", self.explain(r))
        d = self.detail(rid)
        self.assertIn("Content-Length: 1025", d)
        self.assertIn('max_request_body of listener "main" (1k = 1024 bytes)', d)
        self.assert_not_forwarded(marker)
        line = self.cg.wait_log(event="request", id_=rid)[0]
        self.assertEqual(line.get("status"), "413")
        self.assertEqual(line.get("code"), "request_body_too_large")

    def test_at_the_limit_passes(self):
        r = self.cg.tls().request("POST", "/exact", body=b"y" * 1024)
        self.assertEqual(self.assert_ok_json(r)["body_length"], 1024)
        # Chunked, 1024 bytes in all, in pieces.
        with self.cg.tls() as c:
            body = b"200\r\n" + b"a" * 512 + b"\r\n" + b"200\r\n" + b"b" * 512 + b"\r\n0\r\n\r\n"
            r = c.request("POST", "/exact-chunked", headers=["Transfer-Encoding: chunked"], body=body)
        self.assertEqual(self.assert_ok_json(r)["body_length"], 1024)

    def test_expect_100_continue_gets_413_without_100(self):
        marker = H.unique("/expect")
        with self.cg.tls() as c:
            c.send("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n"
                   "Expect: 100-continue\r\n\r\n" % marker)
            r = c.read_response()
        self.assertEqual(r.interim, [], "a 100 Continue was sent for a body that will be refused")
        self.assert_refusal(r, 413, "request_body_too_large")
        self.assert_not_forwarded(marker)

    def test_route_overrides_listener(self):
        r = self.cg.tls().request("POST", "/big/upload", body=b"z" * 10000)
        self.assertEqual(self.assert_ok_json(r)["body_length"], 10000)
        with self.cg.tls() as c:
            r = c.request("POST", "/big/over", body=b"z" * (64 * 1024 + 1))
        rid = self.assert_refusal(r, 413, "request_body_too_large")
        self.assertIn('max_request_body of route "/big" of listener "main" (64k', self.detail(rid))
        with self.cg.tls() as c:
            r = c.request("POST", "/other", body=b"z" * 10000)
        self.assert_refusal(r, 413, "request_body_too_large")
        # 0 on a route: unlimited there.
        r = self.cg.tls().request("POST", "/free/upload", body=b"f" * 200000)
        self.assertEqual(self.assert_ok_json(r)["body_length"], 200000)

    def test_chunked_body_crossing_limit(self):
        marker = H.unique("/chunked-over")
        with self.cg.tls() as c:
            c.send("POST %s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "258\r\n%s\r\n" % (marker, "a" * 600))
            # The backend has the head (and the first 600 bytes are on their way).
            H.wait_until(lambda: any(s["path"] == marker for s in self.backend.seen()),
                         what="the backend receiving the head")
            c.send("258\r\n%s\r\n" % ("b" * 600))
            try:
                r = c.read_response()
            except H.Closed:
                r = None
            closed = c.wait_closed()
        self.assertTrue(closed, "the client connection stays open after a body over the limit")
        if r is not None:  # a 413, or a closed connection
            rid = self.assert_refusal(r, 413, "request_body_too_large")
            d = self.detail(rid)
        else:
            d = self.cg.wait_log(event="refused", code="request_body_too_large")[-1]["detail"]
        self.assertIn("grew past", d)
        forwarded = int(re.search(r"after (\d+) bytes were forwarded", d).group(1))
        self.assertTrue(600 <= forwarded <= 1024, d)
        # The backend connection that had part of the body is never used again.
        aborted = [s for s in self.backend.seen() if s["path"] == marker][0]["peer"]
        for i in range(3):
            r = self.cg.tls().request("GET", H.unique("/after"))
            self.assertNotEqual(self.assert_ok_json(r)["peer"], aborted,
                                "a backend connection with half a request body was reused")

    def test_chunked_over_limit_after_the_response_started(self):
        """A backend that answers before reading the body: the response has
        started when the body crosses the limit, so no page; both connections
        are cut and the log says why."""
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        srv.settimeout(H.t(10))
        self.addCleanup(srv.close)
        got = {"closed": False}

        def serve():
            try:
                s, _ = srv.accept()
            except OSError:
                return
            with s:
                s.settimeout(H.t(10))
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = s.recv(4096)
                    if not d:
                        return
                    buf += d
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"r" * 100)
                try:
                    while s.recv(65536):
                        pass
                    got["closed"] = True
                except OSError:
                    got["closed"] = True

        th = threading.Thread(target=serve, daemon=True)
        th.start()
        cg = H.Certgate(H.module_tmp(__name__), name="early-answer")
        cg.configure(H.pki(), {"app": srv.getsockname()[1]}, listener_extra="max_request_body: 1k")
        cg.start()
        self.addCleanup(cg.stop)
        with cg.tls() as c:
            c.send("POST /early HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "258\r\n%s\r\n" % ("a" * 600))
            head = c._read_until(b"\r\n\r\n", time.monotonic() + H.t(5))
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            c.send("258\r\n%s\r\n" % ("b" * 600))
            self.assertTrue(c.wait_closed(), "the client connection stays open")
        th.join(H.t(10))
        self.assertTrue(got["closed"], "the backend connection was not closed")
        line = cg.wait_log(event="refused", code="request_body_too_large")[0]
        self.assertEqual(line.get("page"), "none")
        self.assertIn("grew past", line.get("detail", ""))
        req = cg.wait_log(event="request", id_=line["id"])[0]
        self.assertEqual(req.get("code"), "request_body_too_large")
        self.assertEqual(req.get("status"), "200")  # what the client was sent

    def test_head_request_and_get_unaffected(self):
        r = self.cg.tls().request("GET", "/plain")
        self.assert_ok_json(r)


def rate_limited_lines(cg, key_part):
    """The rate_limited lines naming key_part, once at least one is written
    (the log writer is a thread of its own: a line lands a moment after the 429)."""
    return cg.wait_log(event="rate_limited", key=lambda k: key_part in (k or ""))


class TestRatePerClient(H.Shared):
    """rate_limit.per_client: 1/s, burst 3, on two workers: a client is its
    certificate; without one, its address."""

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "workers": 2,
                "routes": [("/", "app"), ("/anon", "app", "optional")],
                "listener_extra": "rate_limit:\n  per_client: {rate: 1/s, burst: 3}"}

    def assert_429(self, r):
        msg = self.explain(r)
        self.assertEqual(r.status, 429, msg)
        self.assertEqual(r.header("X-Certgate-Error"), "rate_limited", msg)
        self.assertEqual(r.header("Retry-After"), "1", msg)
        self.assertIn("Too many requests", r.text, msg)

    def test_burst_then_429_other_certificate_unaffected_then_recovers(self):
        sha = H.pki().cert_info("alice")["sha256"]
        # Each request on its own connection: they land on either worker,
        # and the buckets are shared.
        conns = [self.cg.tls("alice") for _ in range(6)]
        bob = self.cg.tls("bob")
        try:
            for i in range(3):
                self.assert_ok_json(conns[i].request("GET", "/a%d" % i))
            r = conns[3].request("GET", "/a-refused")
            self.assert_429(r)
            # A GET refused with 429 keeps its connection.
            self.assert_429(conns[3].request("GET", "/a-refused-again"))
            for i in (4, 5):
                self.assert_429(conns[i].request("GET", "/a-more%d" % i))
            self.assert_ok_json(bob.request("GET", "/bob"))
        finally:
            for c in conns + [bob]:
                c.close()
        self.assert_not_forwarded("/a-refused", "/a-more")
        # Logged once for all of them (at most one line per 10 s per key),
        # and never as a per-request refused line; the access log has each.
        lines = rate_limited_lines(self.cg, sha)
        self.assertEqual(len(lines), 1, "\n".join(e["_raw"] for e in lines))
        self.assertEqual(lines[0].get("limit"), "per_client")
        self.assertEqual(lines[0].get("refused"), "1")
        self.assertEqual(self.cg.find_log(event="refused", code="rate_limited"), [])
        self.assertGreaterEqual(len(self.cg.find_log(event="request", status="429")), 4)
        # After Retry-After: allowed again.
        time.sleep(1.05)
        self.assert_ok_json(self.cg.tls("alice").request("GET", "/a-again"))

    def test_without_certificate_per_address(self):
        conns = [self.cg.tls(None) for _ in range(4)]
        other = H.TLSClient(self.cg.port, cert=None, source_address=("127.0.0.2", 0))
        try:
            for i in range(3):
                self.assert_ok_json(conns[i].request("GET", "/anon/%d" % i))
            self.assert_429(conns[3].request("GET", "/anon/refused"))
            # Another address: its own bucket.
            self.assert_ok_json(other.request("GET", "/anon/other"))
        finally:
            for c in conns + [other]:
                c.close()
        self.assertEqual(len(rate_limited_lines(self.cg, "address 127.0.0.1")), 1)


class TestRatePerAddress(H.Shared):
    """rate_limit.per_address: 1/s, burst 3: certificates behind one address share it."""

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "listener_extra": "rate_limit:\n  per_address: {rate: 1/s, burst: 3}"}

    def test_address_shared_by_certificates(self):
        alice, bob = self.cg.tls("alice"), self.cg.tls("bob")
        other = H.TLSClient(self.cg.port, cert="bob", source_address=("127.0.0.2", 0))
        try:
            for i in range(2):
                self.assert_ok_json(alice.request("GET", "/x%d" % i))
            self.assert_ok_json(bob.request("GET", "/y"))
            r = bob.request("GET", "/y-refused")
            self.assertEqual(r.status, 429, self.explain(r))
            self.assertEqual(r.header("Retry-After"), "1")
            self.assert_ok_json(other.request("GET", "/z"))
        finally:
            for c in (alice, bob, other):
                c.close()
        line = rate_limited_lines(self.cg, "address 127.0.0.1")
        self.assertEqual(len(line), 1)
        self.assertEqual(line[0].get("limit"), "per_address")
