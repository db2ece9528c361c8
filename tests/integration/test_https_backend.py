"""HTTPS backends (backends[].url: https://, backends[].tls): certgate's TLS
client against real TLS servers (backend.py and the WebSocket backend wrapped
in Python's ssl, OpenSSL underneath).

TestHttpsBackend      one certgate, one route per backend:
  /                   a good backend (the run's server certificate, chain to
                      the root in tls.ca_file): requests, keep-alive reuse of
                      the pooled TLS connection, large upload and download
  /untrusted          the same backend, trusted CA the rogue root: 502
                      backend_tls_untrusted naming the issuer
  /wrongname          server_name app.example.test: 502 backend_tls_name_mismatch
                      naming the expected name and the certificate's names
  /needcert           a backend that requires a client certificate (TLS 1.2),
                      none configured: 502 backend_tls_handshake (the alert)
  /withcert           the same backend, tls.client_certificate set: presented
  /plainport          https:// to a plain HTTP port: 502 backend_tls_handshake
  /tls13only          min_version "1.3" to a TLS 1.2 backend: 502 backend_tls_handshake
  /ws                 a WebSocket tunnel to an https WebSocket backend
TestResumption        max_idle 0 (a new TLS connection per request): the
                      second and later handshakes resume the worker's session
TestConfigErrors      `certgate check` on bad tls sections: file:line:column
TestHttp2ToHttpsBackend  HTTP/2 streams over TLS backend connections
TestKerberosOverHttpsBackend  the Kerberos lab's Apache over HTTPS (mod_ssl):
                      delegation as alice and bob, doctor's backend-tls check
TestTruncation        a close-delimited body: complete with close_notify, a cut
                      response after a bare TCP close
TestSilentTlsBackend  no answer to the ClientHello: 502 within timeouts.backend_connect
"""

import os
import socket
import ssl

import harness as H

TMP = None
PKI = None


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def server_chain():
    """The run's server certificate with its intermediate after it."""
    path = TMP.join("backend-chain.pem")
    if not os.path.exists(path):
        with open(PKI.server_crt) as a, open(PKI.intermediate_crt) as b:
            TMP.write("backend-chain.pem", a.read() + b.read())
    return path


def tls_backend(name, *more):
    return H.Backend(TMP, name=name, args=["--tls-cert", server_chain(), "--tls-key", PKI.server_key]
                     + list(more)).start()


class TestHttpsBackend(H.Base):
    @classmethod
    def setUpClass(cls):
        cls.backend = tls_backend("good")
        cls.needcert = tls_backend("needcert", "--tls-client-ca", PKI.root_crt, "--tls-max-version", "1.2")
        cls.plain = H.Backend(TMP, name="plain").start()
        cls.wsb = None
        try:
            import ws_backend as WS
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(server_chain(), PKI.server_key)
            cls.wsb = WS.WSBackend(ssl_ctx=ctx).start()
        except (ImportError, AssertionError) as e:
            cls.ws_missing = str(e)
        alice_crt, alice_key = PKI.client("alice")
        good = "https://127.0.0.1:%d" % cls.backend.port
        backends = {
            "app": {"url": good, "tls": {"ca_file": PKI.root_crt}},
            "untrusted": {"url": good, "tls": {"ca_file": PKI.rogue_crt}},
            "wrongname": {"url": good, "tls": {"ca_file": PKI.root_crt, "server_name": "app.example.test"}},
            # 127.0.0.1 named localhost (its certificate's name): "localhost" itself may
            # resolve to ::1 first (Debian 13's /etc/hosts), where nothing listens.
            "needcert": {"url": "https://127.0.0.1:%d" % cls.needcert.port,
                         "tls": {"ca_file": PKI.root_crt, "server_name": "localhost"}},
            "withcert": {"url": "https://127.0.0.1:%d" % cls.needcert.port,
                         "tls": {"ca_file": PKI.root_crt, "server_name": "localhost",
                                 "client_certificate": alice_crt, "client_key": alice_key}},
            "plainport": {"url": "https://127.0.0.1:%d" % cls.plain.port, "tls": {"ca_file": PKI.root_crt}},
            "tls13only": {"url": "https://127.0.0.1:%d" % cls.needcert.port,
                          "tls": {"ca_file": PKI.root_crt, "server_name": "localhost", "min_version": '"1.3"'}},
        }
        routes = [("/", "app"), ("/untrusted", "untrusted"), ("/wrongname", "wrongname"),
                  ("/needcert", "needcert"), ("/withcert", "withcert"), ("/plainport", "plainport"),
                  ("/tls13only", "tls13only")]
        if cls.wsb:
            backends["ws"] = {"url": "https://127.0.0.1:%d" % cls.wsb.port, "tls": {"ca_file": PKI.root_crt}}
            routes.append(("/ws", "ws", {"upgrade": "[websocket]"}))
        cls.cg = H.Certgate(TMP, name="https-backends")
        cls.cg.configure(PKI, backends, routes=routes)
        cls.cg.start()

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.__dict__.get("cg") is not None:
                cls.cg.stop(check=True)
        finally:
            for b in (cls.backend, cls.needcert, cls.plain):
                b.stop()
            if cls.wsb:
                cls.wsb.stop()

    def test_request_over_tls(self):
        marker = H.unique("/tls")
        r = self.cg.curl(marker, cert="alice")
        d = self.assert_ok_json(r)
        self.assertEqual(d["path"], marker)
        self.assertIn(d["tls"]["version"], ("TLSv1.2", "TLSv1.3"), d)
        self.assertIsNone(d["tls"]["client_cert"], d)
        # What certgate adds reaches the backend through TLS as over http.
        names = [h[0].lower() for h in d["headers"]]
        self.assertIn("x-client-cert-subject", names, d)

    def test_keepalive_reuses_the_pooled_tls_connection(self):
        with self.cg.tls("bob") as c:
            peers = []
            for i in range(3):
                r = c.request("GET", H.unique("/keep"))
                d = self.assert_ok_json(r)
                peers.append((d["peer"], d["connection_requests"]))
        self.assertEqual(len({p for p, _ in peers}), 1, peers)
        self.assertEqual([n for _, n in peers][-2:], [peers[0][1] + 1, peers[0][1] + 2], peers)

    def test_large_download_through_tls(self):
        size = 24 << 20
        for chunked in ("0", "1"):
            out = TMP.join("download-%s.bin" % chunked)
            r = self.cg.curl("/download?size=%d&chunked=%s" % (size, chunked), output=out, timeout=60)
            self.assert_status(r, 200)
            self.assertEqual(os.path.getsize(out), size)
            import hashlib
            with open(out, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), r.header("X-Body-Sha256"))

    def test_large_upload_through_tls(self):
        import hashlib
        body = os.urandom(1 << 20) * 20
        path = TMP.join("upload.bin")
        with open(path, "wb") as f:
            f.write(body)
        r = self.cg.curl("/upload", data_file=path, timeout=60)
        d = self.assert_ok_json(r)
        self.assertEqual(d["length"], len(body))
        self.assertEqual(d["sha256"], hashlib.sha256(body).hexdigest())

    def test_slow_client_stops_the_tls_backend(self):
        """Backpressure through TLS: a client that stops reading a 256 MiB
        download holds certgate's memory flat (the backend socket is no
        longer read, so nothing piles up in certgate's TLS client)."""
        import time
        size = 256 << 20
        with self.cg.tls("alice") as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            c.send(b"GET /download?size=%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % size)
            deadline = time.monotonic() + H.t(10)
            c._read_until(b"\r\n\r\n", deadline)
            c._read_exact(1 << 20, deadline)
            time.sleep(1)
            before = self.cg.memory()["VmRSS"]
            time.sleep(2)
            grew = self.cg.memory()["VmRSS"] - before
            if not os.environ.get("CG_SANITIZED"):
                self.assertLess(grew, 8192, "RSS grew %d kB while the client read nothing" % grew)
            # Reading again drains it: the rest arrives whole.
            got = 1 << 20
            while got < 8 << 20:
                got += len(c._read_exact(1 << 20, time.monotonic() + H.t(10)))
        self.assert_ok_json(self.cg.curl(H.unique("/after-slow")))

    def test_untrusted_backend_certificate(self):
        r = self.cg.curl(H.unique("/untrusted/x"))
        rid = self.assert_refusal(r, 502, "backend_tls_untrusted")
        detail = self.refusal_detail(rid)
        self.assertIn("does not chain to a CA in", detail)
        self.assertIn(PKI.rogue_crt, detail)
        self.assertIn("Root", detail)  # the issuer the chain ends at
        self.assertNotIn("localhost", r.text)
        line = self.cg.wait_log(event="backend_tls_failed", code="backend_tls_untrusted")[0]
        self.assertEqual(line["backend"], "untrusted")

    def test_wrong_name(self):
        r = self.cg.curl(H.unique("/wrongname/x"))
        rid = self.assert_refusal(r, 502, "backend_tls_name_mismatch")
        detail = self.refusal_detail(rid)
        self.assertIn('"app.example.test"', detail)
        self.assertIn("DNS:localhost", detail)
        self.assertIn("IP:127.0.0.1", detail)
        self.assertNotIn("app.example.test", r.text)

    def test_client_certificate_required_and_missing(self):
        r = self.cg.curl(H.unique("/needcert/x"))
        rid = self.assert_refusal(r, 502, "backend_tls_handshake")
        detail = self.refusal_detail(rid)
        self.assertIn("alert", detail)
        self.assertIn("client_certificate", detail)

    def test_client_certificate_presented(self):
        r = self.cg.curl(H.unique("/withcert/x"))
        d = self.assert_ok_json(r)
        self.assertIn("commonName=alice", d["tls"]["client_cert"], d)
        self.assertEqual(d["tls"]["version"], "TLSv1.2", d)

    def test_min_version_above_the_backend(self):
        r = self.cg.curl(H.unique("/tls13only/x"))
        rid = self.assert_refusal(r, 502, "backend_tls_handshake")
        self.assertIn("backend \"tls13only\"", self.refusal_detail(rid))

    def test_plain_http_port(self):
        r = self.cg.curl(H.unique("/plainport/x"))
        self.assert_refusal(r, 502, "backend_tls_handshake")

    def test_other_connections_unharmed_by_failures(self):
        for path in ("/untrusted/a", "/wrongname/b", "/plainport/c"):
            self.assertEqual(self.cg.curl(path).status, 502)
        self.assert_ok_json(self.cg.curl(H.unique("/after")))

    def test_websocket_tunnel_to_https_backend(self):
        if not self.wsb:
            self.skipTest(self.ws_missing)
        import ws_backend as WS
        from test_tunnel import raw_upgrade
        with self.cg.tls("alice") as c:
            r = raw_upgrade(c, "/ws/echo")
            self.assertEqual(r.status, 101, self.explain(r))
            big = os.urandom(3 << 20)
            c.send(WS.frame(big, opcode=0x2))
            op, payload = WS.read_frame(c, timeout=H.t(30))
            self.assertEqual(op, 0x2)
            self.assertEqual(payload, big)
            c.send(WS.frame("hello"))
            op, payload = WS.read_frame(c)
            self.assertEqual(payload, b"hello")


class OneHttpsBackend(H.Base):
    """One TLS backend.py and one certgate whose backend "app" is it."""
    NAME = None
    BACKEND_KEYS = {}  # more keys of the backend
    CERTGATE_KW = {}   # more config_yaml arguments

    @classmethod
    def setUpClass(cls):
        cls.backend = tls_backend(cls.NAME)
        cls.cg = H.Certgate(TMP, name="https-" + cls.NAME)
        cls.cg.configure(PKI, {"app": dict({"url": "https://127.0.0.1:%d" % cls.backend.port,
                                            "tls": {"ca_file": PKI.root_crt}}, **cls.BACKEND_KEYS)},
                         **cls.CERTGATE_KW)
        cls.cg.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.cg.stop(check=True)
        finally:
            cls.backend.stop()


class TestResumption(OneHttpsBackend):
    NAME = "resume"
    BACKEND_KEYS = {"max_idle": 0}

    def test_new_connections_resume_the_session(self):
        seen = []
        for i in range(4):
            d = self.assert_ok_json(self.cg.curl(H.unique("/r")))
            seen.append((d["peer"], d["tls"]["resumed"]))
        self.assertEqual(len({p for p, _ in seen}), 4, seen)  # a connection each (max_idle 0)
        self.assertFalse(seen[0][1], seen)
        self.assertTrue(all(r for _, r in seen[1:]), seen)
        self.cg.wait_log(event="backend_tls_connected", resumed="true")


class TestConfigErrors(H.Base):
    def check(self, backend_lines):
        cfg = H.config_yaml(pki=PKI, port=H.free_port(), log_file=TMP.join("check.log"),
                            backends={"app": 1})
        cfg = cfg.replace("  - name: app\n    url: http://127.0.0.1:1\n",
                          "  - name: app\n" + "".join("    %s\n" % l for l in backend_lines))
        path = TMP.write("check-%s.yaml" % H.unique("c").strip("/"), cfg)
        return H.run_certgate(["check", "-c", path]), path

    def assert_error(self, lines, at, *pieces):
        """at: the text of the line the error is reported on (file:line:)."""
        p, path = self.check(lines)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        out = p.stdout + p.stderr
        with open(path) as f:
            n = next(i for i, l in enumerate(f.read().splitlines(), 1) if at in l)
        self.assertIn("%s:%d:" % (path, n), out)
        for piece in pieces:
            self.assertIn(piece, out)
        return out

    def test_https_without_tls(self):
        self.assert_error(["url: https://127.0.0.1:8443"], "url: https", "needs a tls section")

    def test_tls_on_http(self):
        self.assert_error(["url: http://127.0.0.1:8080", "tls: {ca: system}"], "tls:",
                          "tls applies only to https")

    def test_unreadable_ca(self):
        self.assert_error(["url: https://127.0.0.1:8443", "tls:", "  ca_file: /nonexistent/ca.pem"],
                          "ca_file:", "cannot read the file")

    def test_key_not_matching_certificate(self):
        bob_crt, _ = PKI.client("bob")
        _, alice_key = PKI.client("alice")
        self.assert_error(["url: https://127.0.0.1:8443", "tls:", "  ca_file: %s" % PKI.root_crt,
                           "  client_certificate: %s" % bob_crt, "  client_key: %s" % alice_key],
                          "client_key:", "does not belong to the certificate")

    def test_key_without_certificate(self):
        _, alice_key = PKI.client("alice")
        self.assert_error(["url: https://127.0.0.1:8443", "tls:", "  ca_file: %s" % PKI.root_crt,
                           "  client_key: %s" % alice_key], "client_key:", "set client_certificate too")

    def test_both_ca_and_ca_file(self):
        self.assert_error(["url: https://127.0.0.1:8443", "tls:", "  ca_file: %s" % PKI.root_crt,
                           "  ca: system"], "ca: system", "not both")

    def test_bad_server_name_and_version(self):
        out = self.assert_error(["url: https://127.0.0.1:8443", "tls:", "  ca: system",
                                 "  server_name: \"a b\"", "  min_version: \"1.1\""], "server_name:",
                                "is not a host name")
        self.assertIn("min_version", out)

    def test_good_config_with_the_system_store(self):
        if not os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
            self.skipTest("no /etc/ssl/certs/ca-certificates.crt (ca-certificates)")
        p, _ = self.check(["url: https://127.0.0.1:8443", "tls: {ca: system, server_name: app.example.test, "
                           "min_version: \"1.3\"}"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class TestHttp2ToHttpsBackend(OneHttpsBackend):
    """HTTP/2 streams (h2_backend.c) over the same TLS backend connections."""
    NAME = "h2"
    CERTGATE_KW = {"listener_extra": "http2: true"}

    def test_streams_and_a_large_download(self):
        import hashlib
        r = self.cg.curl(H.unique("/h2"), extra_args=["--http2"])
        d = self.assert_ok_json(r)
        self.assertIn("tls", d)
        out = TMP.join("h2-download.bin")
        r = self.cg.curl("/download?size=%d" % (16 << 20), output=out, extra_args=["--http2"], timeout=60)
        self.assert_status(r, 200)
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), r.header("X-Body-Sha256"))
        self.cg.wait_log(event="request", http="2")

    def test_untrusted_on_a_stream(self):
        cg = H.Certgate(TMP, name="https-h2-untrusted")
        cg.configure(PKI, {"app": {"url": "https://127.0.0.1:%d" % self.backend.port,
                                   "tls": {"ca_file": PKI.rogue_crt}}}, listener_extra="http2: true")
        cg.start()
        self.addCleanup(cg.stop)
        r = cg.curl(H.unique("/h2u"), extra_args=["--http2"])
        self.assert_refusal(r, 502, "backend_tls_untrusted", cg=cg)


class TestKerberosOverHttpsBackend(H.Base):
    """The real IIS case: the Kerberos lab's Apache (mod_auth_gssapi) served
    over HTTPS (mod_ssl), certgate delegating as alice through TLS; and
    `certgate doctor` checking that backend's handshake and probing it."""

    @classmethod
    def setUpClass(cls):
        import test_delegation as D
        cls.D = D
        cls.lab = D.start_lab(D.MIT, "https")  # skips with the packages named when missing
        try:
            cls.url = cls.lab.enable_https(server_chain(), PKI.server_key)
            realm = cls.lab.realm
            cls.mapping = TMP.join("https-mapping.yaml")
            with open(cls.mapping, "w") as f:
                f.write(D.mapping_yaml({"alice": (PKI.cert_info("alice")["sha256"], "alice@" + realm),
                                        "bob": (PKI.cert_info("bob")["sha256"], "bob@" + realm)}, realm))
            cls.cg = H.Certgate(TMP, name="https-kerberos")
            cls.cfg_text = cls.config(cls.cg, cls.url, PKI.root_crt)
            cls.cg.write_config(cls.cfg_text)
            cls.cg.start()
        except BaseException:
            cls.lab.stop()
            raise

    @classmethod
    def config(cls, cg, url, ca):
        text = cls.D.certgate_yaml(PKI, cg, cls.lab, cls.mapping)
        plain = "    url: %s\n" % cls.lab.backend_url
        assert plain in text
        return text.replace(plain, "    url: %s\n    tls: {ca_file: %s, server_name: localhost}\n" % (url, ca))

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.__dict__.get("cg") is not None:
                cls.cg.stop(check=True)
        finally:
            cls.lab.stop()

    def test_whoami_as_alice_and_bob_over_https(self):
        for who in ("alice", "bob"):
            d = self.assert_ok_json(self.cg.curl("/whoami", cert=who))
            self.assertEqual(d["remote_user"], "%s@%s" % (who, self.lab.realm), d)
            self.assertEqual(d["authorization_sent"], "yes", d)
            # Connection-bound: the pooled TLS connection, authenticated once,
            # serves the next request of the same user without a token.
            with self.cg.tls(who) as c:
                sent = []
                for i in range(2):
                    d = self.assert_ok_json(c.request("GET", "/bound/whoami"))
                    self.assertEqual(d["remote_user"], "%s@%s" % (who, self.lab.realm), d)
                    sent.append(d["authorization_sent"])
            self.assertEqual(sent[1], "no", sent)
        self.cg.wait_log(event="backend_tls_connected")

    def test_doctor_checks_the_https_backend(self):
        cfg = TMP.write("https-doctor.yaml", self.cfg_text)
        p = H.run_certgate(["doctor", "-c", cfg, "--user", "alice", "--backend", "app", "--probe", "/whoami"])
        lines = self.D.doctor_lines(p)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(any(st == "ok" and "TLSv1." in text and "names localhost" in text for st, text in
                            lines.get("backend-tls", [])), p.stdout)
        self.assertTrue(any(st == "ok" and "HTTP 200" in text for st, text in lines.get("backend", [])), p.stdout)
        # The rogue CA: the doctor fails the way the proxy would.
        bad = TMP.write("https-doctor-rogue.yaml", self.config(H.Certgate(TMP, name="unused"), self.url,
                                                               PKI.rogue_crt))
        p = H.run_certgate(["doctor", "-c", bad, "--user", "alice", "--backend", "app"])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertTrue(any(st == "FAIL" and "[backend_tls_untrusted]" in text for st, text in
                            self.D.doctor_lines(p).get("backend-tls", [])), p.stdout)


class RawTlsBackend:
    """A TLS backend in a thread of the test process that answers every
    request with a close-delimited body and then ends the connection either
    with close_notify (graceful) or with a bare TCP close (truncate)."""

    def __init__(self, mode):
        self.mode = mode
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(server_chain(), PKI.server_key)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        import threading
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                continue
            try:
                s.settimeout(5)
                t = self.ctx.wrap_socket(s, server_side=True)
                data = b""
                while b"\r\n\r\n" not in data:
                    more = t.recv(4096)
                    if not more:
                        break
                    data += more
                t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                          b"first part of a close-delimited body, ")
                t.sendall(b"and its end\n")
                if self.mode == "graceful":
                    t.unwrap().close()
                else:
                    t.shutdown(socket.SHUT_RDWR)  # SSLSocket.shutdown: no close_notify
                    t.close()
            except (OSError, ssl.SSLError):
                s.close()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.lsock.close()


class TestTruncation(H.Base):
    """A close-delimited body ends complete only with the backend's
    close_notify: a bare TCP close (what an attacker on the way can forge)
    is a cut response, never passed off as whole."""

    @classmethod
    def setUpClass(cls):
        cls.graceful = RawTlsBackend("graceful")
        cls.truncate = RawTlsBackend("truncate")
        cls.cg = H.Certgate(TMP, name="https-truncation")
        cls.cg.configure(PKI, {
            "graceful": {"url": "https://127.0.0.1:%d" % cls.graceful.port, "tls": {"ca_file": PKI.root_crt}},
            "truncate": {"url": "https://127.0.0.1:%d" % cls.truncate.port, "tls": {"ca_file": PKI.root_crt}},
        }, routes=[("/graceful", "graceful"), ("/truncate", "truncate")])
        cls.cg.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.cg.stop(check=True)
        finally:
            cls.graceful.stop()
            cls.truncate.stop()

    def test_close_notify_ends_the_body(self):
        r = self.cg.curl("/graceful/x")
        self.assert_status(r, 200)
        self.assertEqual(r.curl_exit, 0, r.curl_stderr)
        self.assertEqual(r.body, b"first part of a close-delimited body, and its end\n")

    def test_bare_close_is_a_cut_response(self):
        r = self.cg.curl("/truncate/x")
        # The head went out already: the client sees the connection cut before the
        # body's end (curl 18 or 56), never a complete response.
        self.assertIn(r.curl_exit, (18, 56), (r.curl_exit, r.curl_stderr, r.body))
        self.cg.wait_log(event="backend_failed")
        self.assert_status(self.cg.curl("/graceful/after"), 200)


class TestSilentTlsBackend(H.Base):
    """A backend that accepts the TCP connection and never answers the
    ClientHello: the handshake counts in timeouts.backend_connect."""

    def test_handshake_within_backend_connect(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # never accepted: the kernel completes TCP, nobody speaks TLS
        self.addCleanup(silent.close)
        cg = H.Certgate(TMP, name="https-silent")
        cg.configure(PKI, {"app": {"url": "https://127.0.0.1:%d" % silent.getsockname()[1],
                                   "tls": {"ca_file": PKI.root_crt}}}, timeouts={"backend_connect": "1s"})
        cg.start()
        self.addCleanup(cg.stop)
        r = cg.curl(H.unique("/silent"))
        rid = self.assert_refusal(r, 502, "backend_unreachable", cg=cg)
        self.assertIn("timed out (timeouts.backend_connect)", self.refusal_detail(rid, cg=cg))
