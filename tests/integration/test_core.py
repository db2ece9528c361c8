"""certgate core integration tests: a real certgate between real clients (curl,
Python ssl, openssl s_client) and the test backend (backend.py), on loopback.

Classes share one certgate + backend where the tests allow it; TestLifecycle
starts a certgate per test. See README.md for how to run a subset.
"""

import hashlib
import json
import os
import re
import signal
import socket
import ssl
import threading
import time
import unittest

import harness as H
from harness import t

TMP = None
PKI = None
Explain, Base, Shared = H.Explain, H.Base, H.Shared
_headers_named = H.headers_named

# A logfmt timestamp: 2026-11-22T10:00:00.123Z
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


# ===========================================================================
# CLI: check and version (no server)

class TestCli(Base):

    def write(self, name, text):
        return TMP.write(name, text)

    def good_config(self):
        return H.config_yaml(pki=PKI, port=H.free_port(), log_file=TMP.join("cli.log"),
                             backends={"app": 8080})

    def test_check_valid_config(self):
        path = self.write("cli-good.yaml", self.good_config())
        p = H.run_certgate(["check", "-c", path])
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, 0, msg)
        self.assertIn("configuration OK", p.stdout, msg)

    def test_check_unknown_key_reports_line_and_column(self):
        lines = self.good_config().splitlines()
        i = next(n for n, ln in enumerate(lines) if ln.strip() == "tls:")
        lines.insert(i + 1, "      bogus_option: true")
        path = self.write("cli-unknown-key.yaml", "\n".join(lines) + "\n")
        line, col = i + 2, 7  # 1-based: the inserted line, column of the key
        p = H.run_certgate(["check", "-c", path])
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s\nfile:\n%s" % (
            p.returncode, p.stdout, p.stderr, "\n".join(lines))
        self.assertEqual(p.returncode, 1, msg)
        self.assertNotIn("configuration OK", p.stdout, msg)
        want = "%s:%d:%d: error: " % (path, line, col)
        self.assertIn(want, p.stderr, msg)
        err_line = next(ln for ln in p.stderr.splitlines() if ln.startswith(want))
        self.assertIn("bogus_option", err_line, msg)

    def test_check_yaml_syntax_error(self):
        path = self.write("cli-syntax.yaml", self.good_config() + "limits: [1, 2\n")
        p = H.run_certgate(["check", "-c", path])
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, 1, msg)
        self.assertRegex(p.stderr, r"(?m)^%s:\d+:\d+: error: \S" % re.escape(path), msg)

    def test_check_route_to_unknown_backend(self):
        text = self.good_config().replace("backend: app", "backend: nosuch")
        path = self.write("cli-nosuch.yaml", text)
        line = next(n for n, ln in enumerate(text.splitlines(), 1) if "backend: nosuch" in ln)
        p = H.run_certgate(["check", "-c", path])
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, 1, msg)
        self.assertRegex(p.stderr, r"(?m)^%s:%d:\d+: error: .*nosuch" % (re.escape(path), line), msg)

    def test_check_missing_file(self):
        path = TMP.join("does-not-exist.yaml")
        p = H.run_certgate(["check", "-c", path])
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, 1, msg)
        self.assertIn("does-not-exist.yaml", p.stderr, msg)

    def test_version(self):
        with open(os.path.join(H.SOURCE_ROOT, "meson.build")) as f:
            m = re.search(r"version\s*:\s*'([^']+)'", f.read())
        p = H.run_certgate(["version"])
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, 0, msg)
        self.assertIn(m.group(1), p.stdout, msg)


# ===========================================================================
# Identity: forwarding, certificate verdicts, spoofing, backend reuse, resumption

class TestIdentity(Shared):

    def test_ok_forwarded_and_identity_headers(self):
        marker = H.unique("/fwd")
        r = self.cg.curl(marker + "?x=1", headers=[
            "X-Test-First: 1", "X-Test-Second: 2",
            "Connection: keep-alive, X-Hop", "X-Hop: must-not-pass", "Keep-Alive: timeout=5",
            "TE: trailers", "Proxy-Connection: keep-alive", "Upgrade-Insecure-Requests: 1"])
        body = self.assert_ok_json(r)
        msg = self.explain(r)
        hdrs = [tuple(h) for h in body["headers"]]
        names = [k.lower() for k, _ in hdrs]
        self.assertEqual(body["method"], "GET", msg)
        self.assertEqual(body["path"], marker + "?x=1", msg)

        # X-Request-Id: on the response, and the same one at the backend
        rid = r.header("X-Request-Id")
        self.assertTrue(rid, msg)
        self.assertEqual(_headers_named(hdrs, "X-Request-Id"), [rid], msg)
        self.assertEqual(_headers_named(hdrs, "X-Forwarded-For"), ["127.0.0.1"], msg)
        self.assertEqual(_headers_named(hdrs, "X-Forwarded-Proto"), ["https"], msg)
        self.assertEqual(len(_headers_named(hdrs, "Host")), 1, msg)

        # the client's own headers pass, in order; hop-by-hop ones do not
        self.assertEqual(_headers_named(hdrs, "X-Test-First"), ["1"], msg)
        self.assertEqual(_headers_named(hdrs, "X-Test-Second"), ["2"], msg)
        self.assertLess(names.index("x-test-first"), names.index("x-test-second"), msg)
        self.assertEqual(_headers_named(hdrs, "Upgrade-Insecure-Requests"), ["1"], msg)
        for hop in ("x-hop", "keep-alive", "te", "proxy-connection", "transfer-encoding",
                    "upgrade"):
            self.assertNotIn(hop, names, msg)
        for v in _headers_named(hdrs, "Connection"):
            self.assertNotIn("x-hop", v.lower(), msg)

        # identity of alice's certificate
        info = PKI.cert_info("alice")
        self.assert_identity_headers(hdrs, info, msg)

    def assert_identity_headers(self, hdrs, info, msg):
        subj = _headers_named(hdrs, "X-Client-Cert-Subject")
        iss = _headers_named(hdrs, "X-Client-Cert-Issuer")
        ser = _headers_named(hdrs, "X-Client-Cert-Serial")
        sha = _headers_named(hdrs, "X-Client-Cert-SHA256")
        for vals in (subj, iss, ser, sha):
            self.assertEqual(len(vals), 1, msg)
        # RFC 4514 text, exactly what `openssl x509 -nameopt RFC2253` prints
        # (for names without '=' in a value, which certgate also escapes)
        self.assertEqual(subj[0], info["subject"], msg)
        self.assertEqual(iss[0], info["issuer"], msg)
        self.assertEqual(H.normalize_serial(ser[0]), info["serial"], msg)
        self.assertEqual(sha[0], info["sha256"], msg)

    def test_identity_headers_follow_the_certificate(self):
        for who in ("bob", "alice", "bob"):
            r = self.cg.curl(H.unique("/who"), cert=who)
            body = self.assert_ok_json(r)
            self.assert_identity_headers([tuple(h) for h in body["headers"]],
                                         PKI.cert_info(who), self.explain(r, note=who))

    def test_request_log_line(self):
        marker = H.unique("/logline")
        r = self.cg.curl(marker + "?q=1", cert="alice")
        self.assert_status(r, 200)
        rid = r.header("X-Request-Id")
        e = self.cg.wait_log(event="request", id_=rid)[0]
        info = PKI.cert_info("alice")
        msg = Explain(lambda: "log line: %s\n%s" % (e["_raw"], self.cg.log_tail()))
        self.assertEqual(e.get("level"), "info", msg)
        self.assertRegex(e.get("ts", ""), TS_RE, msg)
        self.assertEqual(e.get("listener"), "main", msg)
        self.assertRegex(e.get("client", ""), r"^127\.0\.0\.1:\d+$", msg)
        self.assertEqual(e.get("method"), "GET", msg)
        self.assertTrue(e.get("path", "").startswith(marker), msg)
        self.assertEqual(e.get("status"), "200", msg)
        self.assertEqual(e.get("code"), "ok", msg)
        self.assertEqual(e.get("sub"), "0", msg)
        self.assertIn("CN=alice", e.get("subject", ""), msg)
        self.assertEqual(H.normalize_serial(e.get("serial", "")), info["serial"], msg)
        self.assertGreater(int(e.get("bytes_in", "0")), 0, msg)
        self.assertGreater(int(e.get("bytes_out", "0")), 0, msg)
        self.assertGreaterEqual(float(e.get("ms", "-1")), 0, msg)
        # the start-up line
        self.cg.wait_log(event="listening", listener="main",
                         address="127.0.0.1:%d" % self.cg.port)

    def refused_by_cert(self, cert, status, sub, code):
        marker = H.unique("/refused-%s" % (cert or "nocert"))
        r = self.cg.curl(marker, cert=cert)
        self.assert_refusal(r, status, code, sub)
        self.assert_not_forwarded(marker)
        return r

    def test_no_certificate_403_7(self):
        self.refused_by_cert(None, 403, 7, "client_cert_missing")

    def test_untrusted_certificate_403_16(self):
        self.refused_by_cert("untrusted", 403, 16, "client_cert_untrusted")

    def test_expired_certificate_403_17(self):
        self.refused_by_cert("expired", 403, 17, "client_cert_expired")

    def test_not_yet_valid_certificate_403_17(self):
        self.refused_by_cert("notyet", 403, 17, "client_cert_not_yet_valid")

    def test_certificate_without_client_auth_eku_403_16(self):
        self.refused_by_cert("noeku", 403, 16, "client_cert_eku")

    def test_refusal_page_and_log_carry_same_id(self):
        r1 = self.refused_by_cert(None, 403, 7, "client_cert_missing")
        r2 = self.refused_by_cert(None, 403, 7, "client_cert_missing")
        id1, id2 = r1.header("X-Request-Id"), r2.header("X-Request-Id")
        self.assertNotEqual(id1, id2, "two requests, one id")
        # a page shows the id the log line carries (checked in assert_refusal),
        # and the log has exactly one refusal line for it
        self.assertEqual(len(self.cg.find_log(event="refused", id_=id1)), 1, self.cg.log_tail())
        # proxied: the response's id is the backend's and the log's
        r = self.cg.curl(H.unique("/ids"))
        body = self.assert_ok_json(r)
        rid = r.header("X-Request-Id")
        self.assertEqual(_headers_named(body["headers"], "X-Request-Id"), [rid], self.explain(r))
        self.cg.wait_log(event="request", id_=rid, status="200")
        self.assertNotIn(rid, (id1, id2))

    def test_spoofed_identity_and_auth_headers_stripped(self):
        spoof = [
            ("Authorization", "Basic YWxpY2U6c2VjcmV0"),
            ("X-Client-Cert-Subject", "CN=mallory"),
            ("x-client-cert-sha256", "00" * 32),
            ("X-CLIENT-CERT-SERIAL", "01"),
            ("X-Client-Cert-Issuer", "CN=evil issuer"),
            ("X-Client-Cert-Verified", "SUCCESS-spoofed"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("x-forwarded-for", "6.6.6.7"),
            ("Forwarded", "for=6.6.6.6;proto=http"),
            ("X-Request-Id", "spoofed-request-id"),
            ("X-Forwarded-Proto", "http-spoofed"),
            ("X-Forwarded-Host", "evil.example"),
            ("Proxy-Authorization", "Basic c3Bvb2Y="),
            ("X-Innocent", "kept"),
        ]
        with self.cg.tls("alice") as c:
            r = c.request("GET", H.unique("/spoof"), headers=spoof)
            body = self.assert_ok_json(r)
            msg = self.explain(r)
            hdrs = [tuple(h) for h in body["headers"]]
            names = [k.lower() for k, _ in hdrs]
            self.assertNotIn("authorization", names, msg)
            self.assertNotIn("proxy-authorization", names, msg)
            self.assertNotIn("forwarded", names, msg)
            self.assertNotIn("x-forwarded-host", names, msg)
            self.assertNotIn("x-client-cert-verified", names, msg)
            self.assertEqual(_headers_named(hdrs, "X-Forwarded-For"), ["127.0.0.1"], msg)
            self.assertEqual(_headers_named(hdrs, "X-Forwarded-Proto"), ["https"], msg)
            self.assertEqual(_headers_named(hdrs, "X-Request-Id"), [r.header("X-Request-Id")], msg)
            self.assertEqual(_headers_named(hdrs, "X-Innocent"), ["kept"], msg)
            blob = json.dumps(hdrs)
            for bad in ("mallory", "6.6.6.", "evil", "spoofed", "YWxpY2U6c2VjcmV0", "0000000000"):
                self.assertNotIn(bad, blob, msg)
            self.assert_identity_headers(hdrs, PKI.cert_info("alice"), msg)

            r = c.request("GET", "/echo-auth", headers=[("Authorization", "Bearer spoofed")])
            self.assertEqual(self.assert_ok_json(r), {"authorization": None}, self.explain(r))

    def test_backend_reuse_scoped_to_identity(self):
        marker = H.unique("/reuse")
        peers = {"alice": [], "bob": []}
        for who in ("alice", "alice", "bob", "alice", "bob", "bob", "alice"):
            r = self.cg.curl("%s/%s" % (marker, who), cert=who)  # a new TLS connection each
            body = self.assert_ok_json(r)
            cn = _headers_named(body["headers"], "X-Client-Cert-Subject")
            self.assertTrue(cn and "CN=%s" % who in cn[0], self.explain(r, note=who))
            peers[who].append(body["peer"])
        shared = set(peers["alice"]) & set(peers["bob"])
        self.assertEqual(shared, set(), "backend connections served both alice and bob: %s "
                         "(alice %s, bob %s)" % (shared, peers["alice"], peers["bob"]))

    def test_tls_session_resumption(self):
        sess = TMP.join(H.unique("alice") + ".sess")
        out1, reused1, r1 = H.s_client(self.cg.port, "alice", sess_out=sess)
        self.assertTrue(r1 is not None and r1.status == 200, "first connection:\n" + out1[-4000:])
        self.assertFalse(reused1, out1[-4000:])
        self.assertTrue(os.path.exists(sess) and os.path.getsize(sess) > 0,
                        "s_client saved no session:\n" + out1[-4000:])
        out2, reused2, r2 = H.s_client(self.cg.port, "alice", sess_in=sess)
        self.assertTrue(reused2, "the session was not resumed:\n" + out2[-4000:])
        self.assertTrue(r2 is not None and r2.status == 200, "resumed connection:\n" + out2[-4000:])
        # the identity survives resumption (the certificate is not sent again)
        self.assertIn(PKI.cert_info("alice")["sha256"], out2, out2[-4000:])

    def test_resumed_sessions_keep_the_exact_refusal(self):
        # A resumed TLS session skips certificate verification in mbedTLS and
        # keeps only the leaf: certgate must still refuse, with the same code
        # as the full handshake. The second connection must really resume.
        cases = [("untrusted", "403.16", "client_cert_untrusted"),
                 ("expired", "403.17", "client_cert_expired"),
                 ("notyet", "403.17", "client_cert_not_yet_valid"),
                 ("noeku", "403.16", "client_cert_eku")]
        for name, status, code in cases:
            with self.subTest(cert=name):
                sess = TMP.join(H.unique(name) + ".sess")
                out1, _, r1 = H.s_client(self.cg.port, name, sess_out=sess)
                self.assertTrue(r1 is not None, "no HTTP response:\n" + out1[-4000:])
                self.assertEqual((r1.header("X-Certgate-Status"), r1.header("X-Certgate-Error")),
                                 (status, code), out1[-4000:])
                self.assertTrue(os.path.exists(sess) and os.path.getsize(sess) > 0,
                                "no session ticket saved:\n" + out1[-4000:])
                out2, reused2, r2 = H.s_client(self.cg.port, name, sess_in=sess)
                self.assertTrue(reused2, "the session was not resumed:\n" + out2[-4000:])
                self.assertTrue(r2 is not None, "no HTTP response:\n" + out2[-4000:])
                self.assertEqual((r2.status, r2.header("X-Certgate-Status"), r2.header("X-Certgate-Error")),
                                 (403, status, code), out2[-4000:])


# ===========================================================================
# Bodies: large transfers, chunked framing, keep-alive, memory

BIG = 20 * 1024 * 1024


class TestBodies(Shared):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.big_file = TMP.join("upload-20m.bin")
        data = os.urandom(BIG)
        with open(cls.big_file, "wb") as f:
            f.write(data)
        cls.big_sha = hashlib.sha256(data).hexdigest()
        del data
        # warm-up, then the memory baseline
        small = TMP.write("upload-1m.bin", os.urandom(1 << 20))
        for _ in range(2):
            r = cls.cg.curl("/upload", data_file=small)
            assert r.status == 200, r.describe() + cls.cg.diagnostics()
            r = cls.cg.curl("/download?size=%d" % (1 << 20))
            assert r.status == 200, r.describe()
            r = cls.cg.curl("/download?size=%d&chunked=1" % (1 << 20))
            assert r.status == 200, r.describe()
        cls.baseline = cls.cg.memory()

    def upload(self, chunked):
        headers = ["Transfer-Encoding: chunked"] if chunked else []
        r = self.cg.curl("/upload", data_file=self.big_file, headers=headers, timeout=60)
        body = self.assert_ok_json(r)
        self.assertEqual((body["length"], body["sha256"]), (BIG, self.big_sha), self.explain(r))

    def download(self, chunked):
        out = TMP.join(H.unique("download") + ".bin")
        try:
            r = self.cg.curl("/download?size=%d%s" % (BIG, "&chunked=1" if chunked else ""),
                             output=out, timeout=60)
            self.assert_status(r, 200)
            with open(out, "rb") as f:
                got = f.read()
            want = H.pattern_sha256(BIG)
            self.assertEqual(len(got), BIG, self.explain(r))
            self.assertEqual(hashlib.sha256(got).hexdigest(), want, self.explain(r))
            self.assertEqual(r.header("X-Body-Sha256"), want, self.explain(r))
        finally:
            if os.path.exists(out):
                os.unlink(out)

    def test_upload_20mb_content_length(self):
        self.upload(chunked=False)

    def test_upload_20mb_chunked(self):
        self.upload(chunked=True)

    def test_download_20mb_content_length(self):
        self.download(chunked=False)

    def test_download_20mb_chunked(self):
        self.download(chunked=True)

    def test_memory_bounded_during_large_transfers(self):
        for chunked in (False, True):
            self.upload(chunked)
            self.download(chunked)
        now = self.cg.memory()
        grew_kb = now["VmHWM"] - self.baseline["VmHWM"]
        if H.SANITIZED:
            self.skipTest("sanitized build: VmHWM grew %d kB (not asserted)" % grew_kb)
        self.assertLess(grew_kb, 8 * 1024,
                        "certgate's peak RSS grew by %d kB over the warm baseline (%s -> %s): "
                        "bodies are being buffered" % (grew_kb, self.baseline, now))

    def test_chunked_request_and_chunked_response(self):
        pieces = [b"hello ", os.urandom(70000), b"x" * 4095, os.urandom(1), os.urandom(300000)]
        whole = b"".join(pieces)
        with self.cg.tls("alice") as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: localhost\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n")
            for p in pieces:  # several writes: certgate sees partial chunks
                c.send(b"%x\r\n" % len(p) + p + b"\r\n")
                time.sleep(0.02)
            c.send(b"0\r\n\r\n")
            r = c.read_response()
            body = self.assert_ok_json(r)
            self.assertEqual((body["length"], body["sha256"]),
                             (len(whole), hashlib.sha256(whole).hexdigest()), self.explain(r))

            # chunked from the backend -> chunked to an HTTP/1.1 client
            size = 1000003
            r = c.request("GET", "/download?size=%d&chunked=1" % size)
            self.assert_status(r, 200)
            self.assertTrue(r.chunked, self.explain(r, note="expected a chunked response"))
            self.assertIsNone(r.header("Content-Length"), self.explain(r))
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), H.pattern_sha256(size),
                             self.explain(r))

            # and a Content-Length response on the same connection
            r = c.request("GET", "/download?size=1000")
            self.assert_status(r, 200)
            self.assertEqual(r.header("Content-Length"), "1000", self.explain(r))
            self.assertEqual(r.body, H.pattern_bytes(0, 1000))

    def test_http10_client_gets_body_delimited_by_close(self):
        size = 200001
        with self.cg.tls("alice") as c:
            c.send(b"GET /download?size=%d&chunked=1 HTTP/1.0\r\nHost: localhost\r\n\r\n" % size)
            r = c.read_response()
            self.assert_status(r, 200)
            self.assertIsNone(r.header("Transfer-Encoding"), self.explain(r))
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), H.pattern_sha256(size),
                             self.explain(r))

    def quiet_connection_goes_on(self, version):
        # A connection quiet long enough has its TLS record buffers released
        # (freed with the bundled mbedTLS, their pages given back with a
        # system one); what comes after on it, large records both ways
        # included, is carried exactly as before, and its close_notify
        # exchange is intact (record counters kept across the release).
        ctx = H.client_context("alice", tls_version=version)
        with self.cg.tls("alice", context=ctx) as c:
            released = H.ReleaseWatch(self.cg, c.local_port)
            for round_ in range(2):
                r = c.request("GET", "/download?size=40000")
                self.assert_status(r, 200)
                self.assertEqual(r.body, H.pattern_bytes(0, 40000))
                released.wait()
                body = bytes((i * 7 + round_) & 0xff for i in range(50000))
                r = c.request("POST", "/upload", body=body)
                got = self.assert_ok_json(r)
                self.assertEqual(got["length"], len(body), self.explain(r))
                self.assertEqual(got["sha256"], hashlib.sha256(body).hexdigest(), self.explain(r))
                released.wait()
            self.assertEqual(c.sock.version(), "TLSv1.3" if version == ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
            # close_notify both ways from a released connection: unwrap()
            # sends the client's and returns once certgate's has been read
            # and authenticated.
            c.sock.settimeout(t(10))
            plain = c.sock.unwrap()
            plain.close()
            c.sock = None

    def test_connection_idle_long_enough_to_be_trimmed_goes_on(self):
        self.quiet_connection_goes_on(ssl.TLSVersion.TLSv1_2)

    def test_tls13_connection_idle_long_enough_to_be_released_goes_on(self):
        self.quiet_connection_goes_on(ssl.TLSVersion.TLSv1_3)

    def test_connection_quiet_since_its_handshake_is_released_then_served(self):
        # No request yet after the handshake: the first read finds nothing
        # and takes no plaintext buffer (conn.c); the connection is quiet all
        # the same, and served as usual after the release.
        with self.cg.tls("alice") as c:
            released = H.ReleaseWatch(self.cg, c.local_port)
            released.wait()
            r = c.request("GET", "/download?size=40000")
            self.assert_status(r, 200)
            self.assertEqual(r.body, H.pattern_bytes(0, 40000))

    def test_many_released_connections_then_all_served(self):
        # Twenty connections released at once, then each served again in
        # turn (the buffers come back from the allocator one by one).
        conns = [self.cg.tls("alice") for _ in range(20)]
        try:
            watches = [H.ReleaseWatch(self.cg, c.local_port) for c in conns]
            for c in conns:
                self.assert_status(c.request("GET", "/download?size=1000"), 200)
            for w in watches:
                w.wait()
            for i, c in enumerate(conns):
                r = c.request("GET", "/download?size=%d" % (20000 + i))
                self.assert_status(r, 200)
                self.assertEqual(r.body, H.pattern_bytes(0, 20000 + i))
        finally:
            for c in conns:
                c.close()

    def test_100_requests_one_keepalive_connection(self):
        prefix = H.unique("/ka")
        ids = set()
        with self.cg.tls("alice") as c:
            local = "127.0.0.1:%d" % c.local_port
            for i in range(100):
                r = c.request("GET", "%s/%d" % (prefix, i))
                body = self.assert_ok_json(r)
                self.assertEqual(body["path"], "%s/%d" % (prefix, i), self.explain(r))
                self.assertNotIn("close", (r.header("Connection") or "").lower(), self.explain(r))
                ids.add(r.header("X-Request-Id"))
            self.assertEqual(len(ids), 100, "request ids are not unique")
            seen = [p for p in self.backend.seen_paths() if p.startswith(prefix + "/")]
            self.assertEqual(len(seen), 100, "the backend saw %d of the 100" % len(seen))
            lines = self.cg.wait_log(event="request", count=100,
                                     path=lambda p: p.startswith(prefix + "/"))
            self.assertEqual(len(lines), 100, self.cg.log_tail())
            self.assertEqual({e.get("client") for e in lines}, {local},
                             "not all on one TLS connection (client=%s)" % local)
            self.assertEqual({e.get("id") for e in lines}, ids)


# ===========================================================================
# HTTP rules: smuggling, limits, slow clients, idle connections

def _smuggled(m):
    return "GET /smuggled-%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % m


def _post(m, headers, body, version="HTTP/1.1"):
    return ("POST /outer-%s %s\r\nHost: localhost\r\n" % (m, version)
            + "".join(h + "\r\n" for h in headers) + "\r\n" + body)


def _chunked_then_smuggle(m):
    return "0\r\n\r\n" + _smuggled(m)


# name -> (request bytes for marker m, accepted statuses, refused at the head?)
# "refused at the head": the backend sees neither request; otherwise (a bad
# body) it may have received the outer request's head, never the smuggled one.
SMUGGLING = {
    "content_length_and_transfer_encoding": (lambda m: _post(m, [
        "Content-Length: %d" % len(_chunked_then_smuggle(m)), "Transfer-Encoding: chunked"],
        _chunked_then_smuggle(m)), (400,), True),
    "transfer_encoding_and_content_length": (lambda m: _post(m, [
        "Transfer-Encoding: chunked", "Content-Length: %d" % len(_chunked_then_smuggle(m))],
        _chunked_then_smuggle(m)), (400,), True),
    "two_different_content_lengths": (lambda m: _post(m, [
        "Content-Length: 0", "Content-Length: %d" % len(_smuggled(m))], _smuggled(m)),
        (400,), True),
    "two_same_content_lengths": (lambda m: _post(m, [
        "Content-Length: %d" % len(_smuggled(m)), "Content-Length: %d" % len(_smuggled(m))],
        _smuggled(m)), (400,), True),
    "content_length_not_a_number": (lambda m: _post(m, [
        "Content-Length: +%d" % len(_smuggled(m))], _smuggled(m)), (400,), True),
    "transfer_encoding_gzip_chunked": (lambda m: _post(m, [
        "Transfer-Encoding: gzip, chunked"], _chunked_then_smuggle(m)), (400, 501), True),
    "transfer_encoding_chunked_gzip": (lambda m: _post(m, [
        "Transfer-Encoding: chunked, gzip"], _chunked_then_smuggle(m)), (400, 501), True),
    "transfer_encoding_xchunked": (lambda m: _post(m, [
        "Transfer-Encoding: xchunked"], _chunked_then_smuggle(m)), (400, 501), True),
    "transfer_encoding_obs_fold": (lambda m: _post(m, [
        "Content-Length: %d" % len(_chunked_then_smuggle(m)), "Transfer-Encoding:", " chunked"],
        _chunked_then_smuggle(m)), (400,), True),
    "transfer_encoding_in_http10": (lambda m: _post(m, [
        "Transfer-Encoding: chunked"], _chunked_then_smuggle(m), version="HTTP/1.0"),
        (400,), True),
    "chunk_size_invalid": (lambda m: _post(m, [
        "Transfer-Encoding: chunked"], "zz\r\n" + _smuggled(m)), (400,), False),
    "chunk_size_overflow": (lambda m: _post(m, [
        "Transfer-Encoding: chunked"], "ffffffffffffffffff\r\n" + _smuggled(m)), (400,), False),
    "obs_fold_in_any_header": (lambda m: _post(m, [
        "X-Folded: first", " continued", "Content-Length: 0"], _smuggled(m)), (400,), True),
    "space_before_colon": (lambda m: _post(m, [
        "Content-Length: %d" % len(_chunked_then_smuggle(m)), "Transfer-Encoding : chunked"],
        _chunked_then_smuggle(m)), (400,), True),
    "missing_host_http11": (lambda m: "GET /outer-%s HTTP/1.1\r\nX-A: b\r\n\r\n%s" % (
        m, _smuggled(m)), (400,), True),
    "duplicate_host": (lambda m: "GET /outer-%s HTTP/1.1\r\nHost: localhost\r\n"
                       "Host: evil.example\r\n\r\n%s" % (m, _smuggled(m)), (400,), True),
    "lf_only_line_endings": (lambda m: "GET /outer-%s HTTP/1.1\nHost: localhost\n\n"
                             "GET /smuggled-%s HTTP/1.1\nHost: localhost\n\n" % (m, m),
                             (400,), True),
    "bare_lf_in_head": (lambda m: "GET /outer-%s HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n%s" % (
        m, _smuggled(m)), (400,), True),
    "bare_cr_in_header": (lambda m: "GET /outer-%s HTTP/1.1\r\nHost: localhost\r\n"
                          "X-A: a\rb\r\n\r\n%s" % (m, _smuggled(m)), (400,), True),
    "nul_in_header": (lambda m: "GET /outer-%s HTTP/1.1\r\nHost: localhost\r\n"
                      "X-Nul: a\x00b\r\n\r\n%s" % (m, _smuggled(m)), (400,), True),
}


class TestHttpRules(Shared):

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "limits": {"max_request_head": "16k", "max_header_line": "8k",
                           "max_headers": 100},
                "timeouts": {"request_header": "1s", "keepalive_idle": "1s",
                             "handshake": "5s"}}

    CODES = {400: "bad_request", 501: "not_implemented", 431: "request_head_too_large",
             408: "request_header_timeout"}

    def refused_and_closed(self, c, raw, statuses, note):
        c.send(raw)
        try:
            r = c.read_response(timeout=5)
        except H.Closed as e:
            self.fail("connection closed without a response (%s)\n%s" % (
                e, self.explain(note=note)))
        self.assertIn(r.status, statuses, self.explain(r, note=note))
        self.assert_refusal(r, r.status, self.CODES[r.status], note=note)
        closed = c.wait_closed(timeout=3)
        self.assertTrue(closed, self.explain(r, note=note + ": connection still open 3 s after "
                                             "the refusal"))
        self.assertEqual(c.buf, b"", "bytes after the refusal (a second response?): %r" % c.buf[:500])
        return r

    def run_smuggling_case(self, name):
        build, statuses, at_head = SMUGGLING[name]
        m = H.unique(name.replace("_", "-"))
        raw = build(m).encode("latin-1")
        with self.cg.tls("alice") as c:
            self.refused_and_closed(c, raw, statuses, "case %s, sent %r" % (name, raw))
        time.sleep(0.1)
        self.assert_not_forwarded("smuggled-" + m)
        if at_head:
            self.assert_not_forwarded("outer-" + m)

    def test_header_line_over_limit_431(self):
        m = H.unique("/big-line")
        raw = "GET %s HTTP/1.1\r\nHost: localhost\r\nX-Big: %s\r\n\r\n" % (m, "a" * 9000)
        with self.cg.tls("alice") as c:
            self.refused_and_closed(c, raw, (431,), "9000-byte header line")
        self.assert_not_forwarded(m)

    def test_too_many_headers_431(self):
        m = H.unique("/many")
        raw = "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (
            m, "".join("X-H%d: v\r\n" % i for i in range(150)))
        with self.cg.tls("alice") as c:
            self.refused_and_closed(c, raw, (431,), "151 header fields")
        self.assert_not_forwarded(m)

    def test_head_over_limit_431(self):
        m = H.unique("/big-head")
        raw = "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (
            m, "".join("X-H%d: %s\r\n" % (i, "b" * 800) for i in range(25)))
        with self.cg.tls("alice") as c:
            self.refused_and_closed(c, raw, (431,), "20 kB head, each line under 8k")
        self.assert_not_forwarded(m)

    def test_connect_method_501(self):
        with self.cg.tls("alice") as c:
            c.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
            r = c.read_response(timeout=5)
            self.assert_refusal(r, 501, "not_implemented")

    def test_slowloris_cut_off_while_others_served(self):
        state = {}

        def slow():
            try:
                c = self.cg.tls("alice")
            except Exception as e:
                state["error"] = "handshake: %r" % e
                return
            start = time.monotonic()
            try:
                c.send(b"GET /loris HTTP/1.1\r\n")
                payload = b"Host: localhost\r\nX-Slow: " + b"a" * 200
                i = 0
                while time.monotonic() - start < t(10):
                    if c.readable(0.3):
                        break
                    try:
                        c.send(payload[i % len(payload):i % len(payload) + 1])
                    except OSError as e:
                        state["send_error"] = repr(e)
                        break
                    i += 1
                state["bytes_sent"] = i
                try:
                    state["response"] = c.read_response(timeout=3)
                    state["closed"] = c.wait_closed(3)
                except H.Closed as e:
                    state["closed"] = True
                    state["close_reason"] = str(e)
                except TimeoutError:
                    state["closed"] = False
            except Exception as e:  # reported below
                state["error"] = repr(e)
            finally:
                state["cut_after"] = time.monotonic() - start
                state["cut_at"] = time.monotonic()
                c.close()

        th = threading.Thread(target=slow, daemon=True)
        th.start()
        time.sleep(0.4)
        r = self.cg.curl(H.unique("/while-loris"))
        normal_done = time.monotonic()
        self.assert_status(r, 200)
        th.join(t(20))
        self.assertFalse(th.is_alive(), "the slow client thread did not finish")
        desc = Explain(lambda: "slow client: %r\n%s" % (
            {k: v for k, v in state.items() if k != "response"}, self.cg.log_tail()))
        self.assertNotIn("error", state, desc)
        resp = state.get("response")
        if resp is not None:
            self.assert_refusal(resp, 408, "request_header_timeout")
        self.assertTrue(state.get("closed"), desc)
        self.assertGreaterEqual(state["cut_after"], 0.7, desc)
        self.assertLessEqual(state["cut_after"], t(1 + 3), desc)
        self.assertLess(normal_done, state["cut_at"],
                        "the normal request finished only after the slow client was cut off")
        self.assert_not_forwarded("/loris")

    def test_keepalive_idle_timeout_closes(self):
        with self.cg.tls("alice") as c:
            r = c.request("GET", H.unique("/idle"))
            self.assert_status(r, 200)
            start = time.monotonic()
            closed = c.wait_closed(timeout=1 + 4)
            waited = time.monotonic() - start
            self.assertTrue(closed, "idle connection still open after %.1fs (keepalive_idle 1s)"
                            % waited)
            self.assertGreaterEqual(waited, 0.7, "closed after %.2fs, before keepalive_idle" % waited)
            self.assertEqual(c.buf, b"", "unexpected bytes on an idle connection: %r" % c.buf[:300])

    def test_connection_close_response_then_close_notify(self):
        # A response that ends the connection leaves in one write with the
        # close_notify alert (conn.c gathers them): the client gets the
        # whole response, then a clean TLS end; small and large bodies,
        # Content-Length and chunked.
        for size, chunked in ((10, False), (300, True), (15000, False), (70000, True)):
            with self.cg.tls("alice") as c:
                r = c.request("GET", "/download?size=%d%s" % (size, "&chunked=1" if chunked else ""),
                              headers=[("Connection", "close")])
                self.assert_status(r, 200)
                self.assertEqual(r.body, H.pattern_bytes(0, size), "body of %d bytes" % size)
                self.assertTrue(c.wait_closed(timeout=5), "still open after Connection: close")
                # (Python's ssl reads a close_notify as a plain end: "EOF")
                self.assertIn(c.eof_reason, ("close_notify", "EOF"), "size %d" % size)
                self.assertEqual(c.buf, b"", "bytes after the response: %r" % c.buf[:200])

    def test_keepalive_idle_counts_from_the_last_request(self):
        # The idle timer is re-armed lazily (conn.c): requests spread over
        # twice keepalive_idle keep the connection open, and it closes one
        # keepalive_idle after the last of them, not after the first.
        with self.cg.tls("alice") as c:
            first = time.monotonic()
            while True:
                r = c.request("GET", H.unique("/busy"))
                self.assert_status(r, 200)
                last = time.monotonic()
                if last - first >= 2.2:
                    break
                time.sleep(0.4)
            closed = c.wait_closed(timeout=1 + 4)
            waited = time.monotonic() - last
            self.assertTrue(closed, "idle connection still open %.1fs after its last request (keepalive_idle 1s)"
                            % waited)
            self.assertGreaterEqual(waited, 0.7, "closed %.2fs after the last request, before keepalive_idle"
                                    % waited)

    def test_keepalive_idle_after_a_response_slower_than_it(self):
        # While the response is awaited the connection's lazy timer (conn.c)
        # comes due with nothing to run (the header timeout was stopped); the
        # keep-alive timeout armed after the response must still start it
        # again, and close the idle connection one keepalive_idle later.
        with self.cg.tls("alice") as c:
            r = c.request("GET", "/slow?ms=1600&%s" % H.unique("m"), timeout=10)
            self.assert_status(r, 200)
            last = time.monotonic()
            closed = c.wait_closed(timeout=1 + 4)
            waited = time.monotonic() - last
            self.assertTrue(closed, "idle connection still open %.1fs after a slow response (keepalive_idle 1s)"
                            % waited)
            self.assertGreaterEqual(waited, 0.7, "closed %.2fs after the response, before keepalive_idle" % waited)


class TestHeaderTimeoutAfterKeepAlive(Shared):
    """timeouts.request_header shorter than keepalive_idle: a head begun on
    a keep-alive connection has the shorter deadline, from its first byte."""

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "timeouts": {"request_header": "1s", "keepalive_idle": "5s"}}

    def test_second_head_incomplete_refused_at_request_header(self):
        # The head's timer is armed only when the head is not complete in
        # the pump turn that began it (http_proxy.c, arm_header_timer): an
        # incomplete second head must not wait for the keep-alive timeout.
        with self.cg.tls("alice") as c:
            self.assert_status(c.request("GET", H.unique("/first")), 200)
            c.send(b"GET /second HTTP/1.1\r\nHost: localhost\r\n")
            start = time.monotonic()
            resp = c.read_response(timeout=t(10))
            took = time.monotonic() - start
            self.assert_refusal(resp, 408, "request_header_timeout")
            self.assertGreaterEqual(took, 0.7, "refused %.2fs after the head began" % took)
            self.assertLess(took, t(3), "refused %.2fs after the head began: the keep-alive timeout's (5s)?" % took)


def _add_smuggling_tests():
    for name in SMUGGLING:
        def test(self, name=name):
            self.run_smuggling_case(name)
        test.__name__ = "test_smuggling_" + name
        test.__doc__ = "smuggling: %s -> refused, closed, never forwarded" % name
        setattr(TestHttpRules, test.__name__, test)


_add_smuggling_tests()


# ===========================================================================
# Backend failures

class TestBackendErrors(Shared):

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port, "down": H.free_port()},
                "routes": [("/", "app"), ("/down", "down")],
                "timeouts": {"backend_connect": "2s", "backend_response": "1s"},
                "forward_client_cert": False}

    def test_backend_down_502(self):
        start = time.monotonic()
        r = self.cg.curl("/down/x")
        self.assert_refusal(r, 502, "backend_unreachable")
        self.assertLess(time.monotonic() - start, t(5))

    def test_backend_timeout_504(self):
        m = H.unique("m")
        start = time.monotonic()
        r = self.cg.curl("/slow?ms=3000&%s" % m)
        took = time.monotonic() - start
        self.assert_refusal(r, 504, "backend_timeout", note="took %.2fs" % took)
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, t(2.9), "504 only after %.2fs (backend_response: 1s)" % took)
        # and the next request is fine
        self.assert_status(self.cg.curl("/after-timeout"), 200)

    def test_backend_status_passes_through(self):
        for code in (404, 418, 503):
            r = self.cg.curl("/status?code=%d" % code)
            self.assert_status(r, code)
            self.assertIsNone(r.header("X-Certgate-Error"), self.explain(r))
            self.assertIn(b"from the backend", r.body, self.explain(r))
            self.assertTrue(r.header("X-Request-Id"), self.explain(r))

    def test_served_again_after_backend_errors(self):
        self.assert_status(self.cg.curl("/down/again"), 502)
        self.assert_status(self.cg.curl("/fine"), 200)

    def test_spoofed_identity_stripped_without_forward_client_cert(self):
        with self.cg.tls("alice") as c:
            r = c.request("GET", "/nofwd", headers=[("X-Client-Cert-Subject", "CN=mallory"),
                                                    ("x-client-cert-sha256", "ab" * 32)])
            body = self.assert_ok_json(r)
            names = [k.lower() for k, _ in body["headers"]]
            self.assertEqual([n for n in names if n.startswith("x-client-cert-")], [],
                             self.explain(r))


# ===========================================================================
# Lifecycle: signals, reload, connection limit (a certgate per test)

class TestLifecycle(Base):

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name="TestLifecycle-backend").start()

    @classmethod
    def tearDownClass(cls):
        be = cls.__dict__.get("backend")
        if be is not None:
            be.stop()

    def new_certgate(self, name, **opts):
        opts.setdefault("backends", {"app": self.backend.port})
        cg = H.Certgate(TMP, name=H.unique(name))
        cg.configure(PKI, **opts)
        self.cg = cg
        self.addCleanup(cg.stop)
        return cg.start()

    def test_optional_route_serves_without_certificate_but_refuses_bad_ones(self):
        cg = self.new_certgate("optional", routes=[("/", "app", "required"), ("/public", "app", "optional")])
        r = cg.curl("/public/x", cert=None)
        self.assertEqual(r.status, 200, r.body[:500])
        seen = json.loads(r.body)
        names = [h[0].lower() for h in seen["headers"]]
        self.assertFalse([n for n in names if n.startswith("x-client-cert-")], names)
        # The same listener still requires a certificate elsewhere ...
        r = cg.curl("/private", cert=None)
        self.assertEqual((r.status, r.header("X-Certgate-Error")), (403, "client_cert_missing"))
        # ... and a certificate that is presented but bad is refused even on the optional route.
        r = cg.curl("/public/x", cert="expired")
        self.assertEqual((r.status, r.header("X-Certgate-Error")), (403, "client_cert_expired"))
        r = cg.curl("/public/x", cert="alice")
        self.assertEqual(r.status, 200)
        self.assertIn("CN=alice", r.body.decode())

    def test_full_pool_evicts_least_recently_used(self):
        # max_idle 1: alice's idle connection must make way for bob's, or every
        # request of bob's would open (and close) a new backend connection.
        cg = H.Certgate(TMP, name=H.unique("lru"))
        cg.configure(PKI, backends={"app": self.backend.port})
        with open(cg.cfg_path) as f:
            text = f.read()
        url = "    url: http://127.0.0.1:%d\n" % self.backend.port
        self.assertIn(url, text)
        cg.write_config(text.replace(url, url + "    max_idle: 1\n"))
        self.cg = cg
        self.addCleanup(cg.stop)
        cg.start()
        seen = {}
        for who in ("alice", "bob", "bob"):
            r = cg.curl("/lru", cert=who)
            self.assertEqual(r.status, 200, r.body[:300])
            seen.setdefault(who, []).append(json.loads(r.body))
        self.assertEqual(seen["bob"][1]["peer"], seen["bob"][0]["peer"], seen)
        self.assertEqual(seen["bob"][1]["connection_requests"], 2, seen)

    def test_handshake_timeout_closes_silent_connection(self):
        cg = self.new_certgate("hstimeout", timeouts={"handshake": "1s"})
        s = socket.create_connection(("127.0.0.1", cg.port), timeout=H.t(10))
        started = time.monotonic()
        try:
            s.settimeout(H.t(5))
            data = s.recv(1)  # we send nothing: certgate must close
            elapsed = time.monotonic() - started
            self.assertEqual(data, b"")
        finally:
            s.close()
        self.assertGreaterEqual(elapsed, 0.8)
        self.assertLess(elapsed, H.t(4))
        entry = cg.wait_log(event="tls_handshake_failed")
        self.assertIn("timeouts.handshake", entry[0].get("reason", ""))
        # The server is still fine.
        self.assertEqual(cg.curl("/").status, 200)

    def test_client_ca_names_in_certificate_request(self):
        cg = self.new_certgate("canames")
        out, _, _ = H.s_client(cg.port, "alice")
        self.assertIn("Acceptable client certificate CA names", out)
        self.assertIn("Example Dev Root CA", out.split("Acceptable client certificate CA names")[1][:400])
        cg.stop()
        cg2 = self.new_certgate("nocanames", tls_extra={"client_ca_names": "false"})
        out, _, r = H.s_client(cg2.port, "alice")
        self.assertIn("No client certificate CA names sent", out)
        self.assertEqual(r.status, 200)  # the certificate is still requested and verified

    def test_sigterm_drains_in_flight_request(self):
        cg = self.new_certgate("sigterm", timeouts={"shutdown": "10s"})
        m = H.unique("drain")
        result = {}

        def inflight():
            try:
                with cg.tls("alice") as c:
                    result["resp"] = c.request("GET", "/slow?ms=1500&%s" % m, timeout=15)
            except Exception as e:
                result["error"] = repr(e)

        th = threading.Thread(target=inflight, daemon=True)
        th.start()
        H.wait_until(lambda: any(m in p for p in self.backend.seen_paths()), timeout=5,
                     what="the slow request to reach the backend")
        cg.signal(signal.SIGTERM)
        sent = time.monotonic()

        # new connections are refused: the listening socket closes promptly
        refused = False
        while time.monotonic() - sent < t(1.2):
            if H.connect_refused(cg.port, timeout=0.5):
                refused = True
                break
            time.sleep(0.05)
        if not refused:
            # still accepting: then a new connection must at least not be served
            try:
                with cg.tls("alice", timeout=2) as c:
                    r = c.request("GET", "/after-sigterm", timeout=2)
                self.assertEqual((r.status, r.header("X-Certgate-Error")), (503, "shutting_down"),
                                 self.explain(r, cg, "a new connection after SIGTERM was served"))
            except (H.Closed, ssl.SSLError, ConnectionResetError, BrokenPipeError,
                    ConnectionRefusedError):
                pass
            except (socket.timeout, TimeoutError):
                self.fail("%.1fs after SIGTERM a new connection is neither refused nor "
                          "answered\n%s" % (time.monotonic() - sent, cg.diagnostics()))
        self.assert_not_forwarded("/after-sigterm")

        th.join(t(15))
        self.assertFalse(th.is_alive(), "the in-flight request did not finish")
        self.assertNotIn("error", result, "in-flight request: %s\n%s" % (
            result.get("error"), cg.diagnostics()))
        r = result["resp"]
        self.assert_status(r, 200, cg, "the in-flight request was not completed")
        self.assertIn(m, r.json()["path"])
        rc = cg.wait_exit(15)
        self.assertIsNotNone(rc, "certgate still running %ds after SIGTERM\n%s" % (
            t(15), cg.diagnostics()))
        cg.check_exit()

    def test_sighup_reload_applies_without_dropping_connections(self):
        cfg = {"routes": [("/api", "app")]}
        cg = self.new_certgate("reload", **cfg)
        with cg.tls("alice") as keep:
            self.assert_status(keep.request("GET", "/api/1"), 200, cg)
            r = cg.curl("/other")
            self.assert_refusal(r, 404, "no_route", cg=cg)

            cg.configure(PKI, backends={"app": self.backend.port},
                         routes=[("/api", "app"), ("/other", "app")])
            cg.signal(signal.SIGHUP)
            cg.wait_log(event="reload", result="ok")

            try:
                r = keep.request("GET", "/api/2")
            except H.Closed as e:
                self.fail("the keep-alive connection was dropped by the reload (%s)\n%s" % (
                    e, cg.diagnostics()))
            self.assert_status(r, 200, cg, "on the connection opened before the reload")
            r = cg.curl("/other/x")
            self.assert_status(r, 200, cg, "new route after the reload")
        self.assertTrue(cg.running())

    def test_sighup_broken_config_keeps_old_one(self):
        cg = self.new_certgate("badreload", routes=[("/api", "app")])
        good = H.read_text(cg.cfg_path)
        broken = good.replace("    routes:\n", "    bogus_reload_key: 1\n    routes:\n      - path: "
                              "/other\n        backend: app\n", 1)
        self.assertNotEqual(good, broken)
        cg.write_config(broken)
        cg.signal(signal.SIGHUP)
        cg.wait_log(event="reload", result="failed")
        self.assertIn("bogus_reload_key", cg.log_text(), "the reload errors are not logged\n" +
                      cg.log_tail())
        self.assertTrue(cg.running(), cg.diagnostics())
        self.assert_status(cg.curl("/api/still"), 200, cg)
        self.assert_refusal(cg.curl("/other"), 404, "no_route", cg=cg)

    def test_max_connections_overloaded(self):
        cg = self.new_certgate("maxconn", limits={"max_connections": 2})
        a = cg.tls("alice")
        b = cg.tls("bob")
        try:
            self.assert_status(a.request("GET", "/a/1"), 200, cg)
            self.assert_status(b.request("GET", "/b/1"), 200, cg)
            outcome = None
            try:
                with cg.tls("alice", timeout=5) as c:
                    r = c.request("GET", "/third", timeout=5)
                    self.assert_refusal(r, 503, "overloaded", cg=cg)
                    outcome = "503"
            except (H.Closed, ssl.SSLError, ConnectionResetError, BrokenPipeError,
                    ConnectionRefusedError) as e:
                outcome = "closed: %r" % e
            except (socket.timeout, TimeoutError):
                self.fail("the third connection neither refused nor closed within %ds\n%s"
                          % (t(5), cg.diagnostics()))
            self.assertIsNotNone(outcome)
            self.assert_not_forwarded("/third")
            # the two are still served
            self.assert_status(a.request("GET", "/a/2"), 200, cg)
            self.assert_status(b.request("GET", "/b/2"), 200, cg)
        finally:
            a.close()
        try:
            # a slot is free again
            def served():
                try:
                    return cg.curl("/after-close", timeout=5).status == 200
                except AssertionError:
                    return False
            H.wait_until(served, timeout=5, what="a new connection to be served after one closed")
        finally:
            b.close()


if __name__ == "__main__":
    unittest.main()


# The same cases with TLS 1.3 clients (harness.tls13): the verdicts, pages and
# resumption rules do not depend on the version.
TestIdentityTLS13 = H.tls13(TestIdentity)
