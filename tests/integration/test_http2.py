"""HTTP/2 to clients (listeners[].http2: ALPN h2 before http/1.1):

  - curl --http2 as alice and as bob: each stream admitted like an HTTP/1.1
    request, forwarded over HTTP/1.1 with the client's identity headers;
  - HTTP/1.1 clients on the same listener unaffected; a listener without
    http2 never agrees on h2;
  - streams in parallel on one connection (nghttp -m), each its own request
    id and access-log line (http=2);
  - a large download and a large upload through flow control, certgate's
    memory bounded;
  - refusal pages per stream (403.7 without a certificate, 404 without a
    route, 400 for a :path that escapes the root), the same codes and words;
  - the attacks, each bounded, with a small raw HTTP/2 frame writer over
    Python ssl (ALPN h2): rapid reset (GOAWAY ENHANCE_YOUR_CALM), a
    CONTINUATION flood, PING and SETTINGS floods, connection-specific
    fields (the stream is reset, the connection serves on);
  - graceful shutdown (SIGTERM) with streams in flight: GOAWAY NO_ERROR
    naming the last stream, the streams in flight answered whole, a newer
    stream refused with RST_STREAM REFUSED_STREAM, then the connection
    closes and certgate exits 0 (raw frames, and nghttp's requests in flight
    all answered); an idle HTTP/2 connection gets GOAWAY at once.
"""

import hashlib
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
import unittest

import crl_pki
import harness as H
from crl_server import CRLServer
from harness import t


def tearDownModule():
    H.cleanup_module_tmp(__name__)


# ---- a minimal HTTP/2 frame writer/reader (RFC 9113 4.1, RFC 7541 literals) ----

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENHANCE_YOUR_CALM = 0xB
NO_ERROR, REFUSED_STREAM = 0x0, 0x7


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(name, value):
    """Literal header field without indexing, new name (RFC 7541 6.2.2), no Huffman."""
    def s(b):
        b = b.encode() if isinstance(b, str) else b
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + s(name) + s(value)


def field_block(fields):
    return b"".join(hpack_literal(n, v) for n, v in fields)


def request_fields(path, method="GET", authority="localhost", extra=()):
    return [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)] + list(extra)


class H2Client:
    """Raw HTTP/2 over TLS with ALPN h2."""

    def __init__(self, port, cert="alice", ctx=None):
        ctx = ctx or H.client_context(cert)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=t(10))
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.alpn = self.sock.selected_alpn_protocol()
        self.buf = b""
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def frames(self, timeout=5):
        """Frames until the connection closes or timeout passes (a list of (type, flags, stream, payload))."""
        out = []
        deadline = time.monotonic() + t(timeout)
        while time.monotonic() < deadline:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                ftype, flags = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                out.append((ftype, flags, sid, self.buf[9:9 + n]))
                self.buf = self.buf[9 + n:]
                if ftype == SETTINGS and not flags & ACK:
                    try:
                        self.send(frame(SETTINGS, ACK, 0))
                    except (ssl.SSLError, OSError):
                        pass
            if out and out[-1][0] == GOAWAY:
                return out
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                break
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                break
            self.buf += data
        return out

    def until(self, pred, timeout=5):
        got = []
        deadline = time.monotonic() + t(timeout)
        while time.monotonic() < deadline:
            got += self.frames(timeout=0.3)
            if pred(got) or getattr(self, "closed", False):
                break
        return got


def goaway_code(frames):
    for ftype, _, _, payload in frames:
        if ftype == GOAWAY:
            return int.from_bytes(payload[4:8], "big")
    return None


def have_nghttp():
    return shutil.which("nghttp") is not None


class TestHttp2(H.Shared):
    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "routes": [("/", "app"), ("/secure", "app", "required")],
                "listener_extra": "http2: true"}

    def curl2(self, path, cert="alice", **kw):
        extra = ["--http2"] + list(kw.pop("extra_args", ()))
        return self.cg.curl(path, cert=cert, extra_args=extra, **kw)

    def test_alice_and_bob_over_h2(self):
        for who in ("alice", "bob"):
            m = H.unique("/h2-" + who)
            r = self.curl2(m, cert=who)
            self.assert_status(r, 200)
            self.assertEqual(r.version, "HTTP/2", self.explain(r))
            seen = r.json()
            self.assertEqual(seen["path"], m)
            subj = dict((k.lower(), v) for k, v in seen["headers"]).get("x-client-cert-subject", "")
            self.assertIn("CN=" + who, subj.replace(" ", ""), self.explain(r))
            rid = r.header("X-Request-Id")
            entry = self.cg.wait_log(event="request", id_=rid)[0]
            self.assertEqual(entry.get("http"), "2")
            self.assertEqual(entry.get("status"), "200")

    def test_http11_clients_unaffected(self):
        r = self.cg.curl(H.unique("/h1"), cert="alice")
        self.assert_status(r, 200)
        self.assertEqual(r.version, "HTTP/1.1")
        with H.TLSClient(self.cg.port, cert="alice") as c:   # no ALPN at all
            r = c.request("GET", H.unique("/h1-raw"))
            self.assert_status(r, 200)

    def test_refusal_pages_per_stream(self):
        r = self.curl2("/secure/x", cert=None)
        self.assertEqual(r.version, "HTTP/2", self.explain(r))
        self.assert_refusal(r, 403, "client_cert_missing", sub=7)
        r = self.curl2("/a/%2e%2e/%2e%2e/etc", cert="alice", extra_args=["--path-as-is"])
        self.assert_refusal(r, 400, "bad_request")

    def test_parallel_streams_one_connection(self):
        if not have_nghttp():
            self.skipTest("nghttp (nghttp2-client) is not installed")
        k = H.pki()
        crt, key = k.client("alice")
        m = H.unique("/par")
        urls = ["https://127.0.0.1:%d%s-%d" % (self.cg.port, m, i) for i in range(30)]
        p = subprocess.run(["nghttp", "-n", "-s", "--cert", crt, "--key", key, "-t", str(t(20))] + urls,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(30))
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace") + p.stdout.decode(errors="replace"))
        paths = [x for x in self.backend.seen_paths() if x.startswith(m)]
        self.assertEqual(sorted(paths), sorted("%s-%d" % (m, i) for i in range(30)))
        lines = self.cg.wait_log(event="request", count=30, path=lambda v: v.startswith(m))
        self.assertEqual(len({e["id"] for e in lines}), 30)
        self.assertTrue(all(e.get("http") == "2" for e in lines))
        self.assertEqual(len({e["client"] for e in lines}), 1, "one connection")

    def test_large_download_and_upload_flow_control(self):
        size = 24 * 1024 * 1024
        tmp = H.module_tmp(__name__)
        out = tmp.join("down.bin")
        before = self.cg.memory()["VmHWM"]
        r = self.curl2("/download?size=%d&chunked=1" % size, output=out, timeout=60)
        self.assert_status(r, 200)
        with open(out, "rb") as f:
            body = f.read()
        self.assertEqual(len(body), size)
        self.assertEqual(hashlib.sha256(body).hexdigest(), r.header("X-Body-Sha256"))
        up = tmp.join("up.bin")
        with open(up, "wb") as f:
            f.write(body)
        r = self.curl2("/upload", data_file=up, timeout=60)
        self.assert_status(r, 200)
        got = r.json()
        self.assertEqual(got["length"], size)
        self.assertEqual(got["sha256"], hashlib.sha256(body).hexdigest())
        grew = self.cg.memory()["VmHWM"] - before
        if os.environ.get("CG_SANITIZED"):
            return
        self.assertLess(grew, 8 * 1024, "certgate's peak memory grew %d kB for 24 MiB each way" % grew)

    # ---- raw frames ----

    def h2(self, cert="alice"):
        c = H2Client(self.cg.port, cert)
        self.addCleanup(c.close)
        self.assertEqual(c.alpn, "h2")
        return c

    def test_quiet_connection_is_released_and_goes_on(self):
        # An HTTP/2 connection quiet for over a quarter of a second has its TLS
        # record buffers released (net/tls_trim.c); the next streams are
        # served as before (within the initial window: no WINDOW_UPDATE).
        c = self.h2()
        watch = H.ReleaseWatch(self.cg, c.sock.getsockname()[1])
        for sid in (1, 3):
            watch.wait()
            size = 20000 + sid
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, field_block(request_fields("/download?size=%d" % size))))
            got = c.until(lambda fs: any(f[0] == DATA and f[2] == sid and f[1] & END_STREAM for f in fs))
            self.assertTrue(any(f[0] == HEADERS and f[2] == sid for f in got), got)
            body = b"".join(f[3] for f in got if f[0] == DATA and f[2] == sid)
            self.assertEqual(body, H.pattern_bytes(0, size))

    def test_connection_specific_field_resets_stream_only(self):
        c = self.h2()
        m = H.unique("/conn-field")
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1,
                     field_block(request_fields(m, extra=[("connection", "keep-alive")]))))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, field_block(request_fields(m + "-ok"))))
        got = c.until(lambda fs: any(f[0] == DATA and f[2] == 3 and f[1] & END_STREAM for f in fs))
        self.assertTrue(any(f[0] == RST_STREAM and f[2] == 1 for f in got), got)
        self.assertTrue(any(f[0] == HEADERS and f[2] == 3 for f in got), got)
        self.assertNotIn(m, self.backend.seen_paths())

    def test_too_many_fields_431_page(self):
        c = self.h2()
        m = H.unique("/fields")
        extra = [("x-f%d" % i, "v") for i in range(150)]   # over limits.max_headers (100)
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, field_block(request_fields(m, extra=extra))))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, field_block(request_fields(m + "-ok"))))
        got = c.until(lambda fs: {f[2] for f in fs if f[0] == DATA and f[1] & END_STREAM} >= {1, 3})
        self.assertEqual({f[2] for f in got if f[0] == DATA and f[1] & END_STREAM} & {1, 3}, {1, 3}, got)
        line = self.cg.wait_log(event="request", path=m)[0]
        self.assertEqual((line.get("status"), line.get("code")), ("431", "request_head_too_large"))
        self.assertNotIn(m, self.backend.seen_paths())
        self.assertIn(m + "-ok", self.backend.seen_paths())

    def test_rapid_reset_is_calmed(self):
        c = self.h2()
        m = H.unique("/rapid")
        batch = b""
        sid = 1
        for i in range(400):
            batch += frame(HEADERS, END_HEADERS | END_STREAM, sid, field_block(request_fields("%s-%d" % (m, i))))
            batch += frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
            sid += 2
        try:
            c.send(batch)
        except OSError:
            pass
        got = c.until(lambda fs: goaway_code(fs) is not None, timeout=10)
        self.assertEqual(goaway_code(got), ENHANCE_YOUR_CALM, got[-5:])
        self.cg.wait_log(event="h2_rapid_reset")
        self.assert_status(self.curl2(H.unique("/after-rapid")), 200)

    def test_continuation_flood_is_bounded(self):
        c = self.h2()
        before = self.cg.memory()["VmRSS"]
        c.send(frame(HEADERS, 0, 1, field_block(request_fields(H.unique("/cont")))))
        sent = 0
        try:
            for i in range(5000):
                c.send(frame(CONTINUATION, 0, 1, hpack_literal("x-f%d" % i, "v" * 60)))
                sent += 1
        except OSError:
            pass
        got = c.until(lambda fs: goaway_code(fs) is not None, timeout=5)
        self.assertIsNotNone(goaway_code(got), "no GOAWAY after %d CONTINUATION frames" % sent)
        grew = self.cg.memory()["VmRSS"] - before
        if not os.environ.get("CG_SANITIZED"):
            self.assertLess(grew, 4096, "RSS grew %d kB" % grew)
        self.assert_status(self.curl2(H.unique("/after-cont")), 200)

    def test_ping_flood_is_bounded(self):
        c = self.h2()
        before = self.cg.memory()["VmRSS"]
        c.sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + t(5)
        ping = frame(PING, 0, 0, b"12345678") * 1000
        while time.monotonic() < deadline and sent < 200_000:   # never read the acks
            try:
                c.sock.sendall(ping)
                sent += 1000
            except (BlockingIOError, ssl.SSLWantWriteError):
                time.sleep(0.01)
            except OSError:
                break
        grew = self.cg.memory()["VmRSS"] - before
        if not os.environ.get("CG_SANITIZED"):
            self.assertLess(grew, 8192, "RSS grew %d kB after %d PINGs" % (grew, sent))
        self.assert_status(self.curl2(H.unique("/after-ping")), 200)

    def test_settings_flood_is_bounded(self):
        c = self.h2()
        entry = struct.pack(">HI", 0x4, 65535)
        try:
            c.send(frame(SETTINGS, 0, 0, entry * 100))    # over max_settings entries
        except OSError:
            pass
        got = c.until(lambda fs: goaway_code(fs) is not None, timeout=5)
        self.assertIsNotNone(goaway_code(got), got)
        self.assert_status(self.curl2(H.unique("/after-settings")), 200)

    def test_too_many_streams_refused(self):
        c = self.h2()
        m = H.unique("/many")
        batch = b""
        for i in range(150):   # none ends its request: each stays open
            batch += frame(HEADERS, END_HEADERS, 1 + 2 * i,
                           field_block(request_fields("%s-%d" % (m, i), method="POST",
                                                      extra=[("content-length", "10")])))
        c.send(batch)
        got = c.until(lambda fs: sum(1 for f in fs if f[0] == RST_STREAM) >= 50, timeout=5)
        refused = [f for f in got if f[0] == RST_STREAM]
        self.assertGreaterEqual(len(refused), 50, got[-5:])
        self.assertTrue(all(int.from_bytes(f[3], "big") == 7 for f in refused), refused[:3])  # REFUSED_STREAM


class TestHttp2Stalls(H.Shared):
    """timeouts.client_body per stream: a stream that owes its body, or whose
    client keeps its window shut, ends; the connection's other streams go on."""

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port}, "listener_extra": "http2: true",
                "timeouts": {"client_body": "1s"}}

    def test_stalled_body_gets_408_others_served(self):
        c = H2Client(self.cg.port)
        self.addCleanup(c.close)
        m = H.unique("/stall-body")
        c.send(frame(HEADERS, END_HEADERS, 1, field_block(request_fields(m, method="POST",
                                                                         extra=[("content-length", "10")]))))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, field_block(request_fields(m + "-ok"))))
        got = c.until(lambda fs: any(f[0] == DATA and f[2] == 1 and f[1] & END_STREAM for f in fs), timeout=8)
        self.assertTrue(any(f[0] == HEADERS and f[2] == 3 for f in got), got)
        self.assertTrue(any(f[0] == DATA and f[2] == 1 and f[1] & END_STREAM for f in got), got)
        line = self.cg.wait_log(event="request", path=m)[0]
        self.assertEqual(line.get("status"), "408")
        self.assertEqual(line.get("code"), "request_body_timeout")
        self.assertEqual(line.get("http"), "2")

    def test_shut_window_stream_cancelled(self):
        c = H2Client(self.cg.port)
        self.addCleanup(c.close)
        c.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 0)))   # INITIAL_WINDOW_SIZE 0: no DATA
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1,
                     field_block(request_fields("/download?size=1000000&x=" + H.unique("w")))))
        got = c.until(lambda fs: any(f[0] == RST_STREAM and f[2] == 1 for f in fs), timeout=8)
        rst = [f for f in got if f[0] == RST_STREAM and f[2] == 1]
        self.assertTrue(rst, got)
        self.assertEqual(int.from_bytes(rst[0][3], "big"), 8)   # CANCEL
        self.cg.wait_log(event="client_stalled")
        self.assert_status(self.cg.curl(H.unique("/after-stall"), extra_args=["--http2"]), 200)


class TestHttp2VerdictPending(H.Base):
    """Streams that arrive while the client's certificate verdict waits for a
    CRL fetch: the pipeline holds one waiting request per client, the others
    queue behind it; every one is answered once the CRL arrives."""

    def test_streams_wait_for_the_verdict_together(self):
        tmp = H.module_tmp(__name__)
        srv = CRLServer(tmp.join("pki-v", "crl")).start()
        self.addCleanup(srv.stop)
        pki = crl_pki.make(tmp.join("pki-v"), "--cdp-base", srv.url().rstrip("/"))
        srv.delay_ms = 700
        srv.set_mode("slow", "intermediate.crl")
        backend = H.Backend(tmp, name="verdict-backend").start()
        self.addCleanup(backend.stop)
        cg = H.Certgate(tmp, name="verdict")
        cg.configure(pki, backends={"app": backend.port}, revocation={"mode": "fetch"},
                     listener_extra="http2: true")
        cg.start()
        self.addCleanup(cg.stop)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(H.pki().root_crt)
        ctx.load_cert_chain(pki.crt("alice"), pki.key("alice"))
        ctx.set_alpn_protocols(["h2"])
        c = H2Client(cg.port, ctx=ctx)
        self.addCleanup(c.close)
        m = H.unique("/verdict")
        ids = [1, 3, 5, 7, 9]
        c.send(b"".join(frame(HEADERS, END_HEADERS | END_STREAM, i, field_block(request_fields("%s-%d" % (m, i))))
                        for i in ids))
        got = c.until(lambda fs: {f[2] for f in fs if f[0] in (DATA, HEADERS) and f[1] & END_STREAM} >= set(ids),
                      timeout=15)
        done = {f[2] for f in got if f[0] in (DATA, HEADERS) and f[1] & END_STREAM}
        self.assertEqual(done & set(ids), set(ids), got)
        self.assertEqual(sorted(p for p in backend.seen_paths() if p.startswith(m)),
                         sorted("%s-%d" % (m, i) for i in ids))
        self.assertEqual(len(srv.requests("intermediate.crl")), 1)


class TestHttp2Shutdown(H.Base):
    """SIGTERM while HTTP/2 streams are in flight (each test its own certgate)."""

    def start(self, name):
        tmp = H.module_tmp(__name__)
        self.backend = H.Backend(tmp, name=H.unique(name + "-backend")).start()
        self.addCleanup(self.backend.stop)
        self.cg = H.Certgate(tmp, name=H.unique(name))
        self.cg.configure(H.pki(), backends={"app": self.backend.port}, listener_extra="http2: true",
                          timeouts={"shutdown": "20s"})
        self.cg.start()
        self.addCleanup(self.cg.stop, False)

    def wait_backend(self, prefix, n=1, timeout=5):
        deadline = time.monotonic() + t(timeout)
        while time.monotonic() < deadline:
            if len([p for p in self.backend.seen_paths() if p.startswith(prefix)]) >= n:
                return
            time.sleep(0.02)
        self.fail("the backend did not see %d request(s) %s..." % (n, prefix))

    def test_goaway_in_flight_finish_newer_refused_then_close(self):
        self.start("h2-shutdown")
        c = H2Client(self.cg.port)
        self.addCleanup(c.close)
        m = H.unique("/slow")
        # Streams 1 and 3 in flight (the backend answers after 1.5 s).
        c.send(b"".join(frame(HEADERS, END_HEADERS | END_STREAM, i,
                              field_block(request_fields("/slow?ms=1500&m=%s-%d" % (m, i)))) for i in (1, 3)))
        self.wait_backend("/slow", 2)
        self.cg.proc.send_signal(signal.SIGTERM)
        got = c.until(lambda fs: any(f[0] == GOAWAY for f in fs), timeout=5)
        goaway = [f for f in got if f[0] == GOAWAY]
        self.assertEqual(len(goaway), 1, got)
        payload = goaway[0][3]
        self.assertEqual(int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF, 3, "the last stream taken")
        self.assertEqual(int.from_bytes(payload[4:8], "big"), NO_ERROR)
        # A newer stream: refused, never sent to the backend.
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 5, field_block(request_fields("%s-late" % m))))
        got += c.until(lambda fs: getattr(c, "closed", False), timeout=10)
        resets = {f[2]: int.from_bytes(f[3][:4], "big") for f in got if f[0] == RST_STREAM}
        self.assertEqual(resets, {5: REFUSED_STREAM}, got)
        for sid in (1, 3):
            heads = [f for f in got if f[0] == HEADERS and f[2] == sid]
            ends = [f for f in got if f[0] in (DATA, HEADERS) and f[2] == sid and f[1] & END_STREAM]
            body = b"".join(f[3] for f in got if f[0] == DATA and f[2] == sid)
            self.assertEqual(len(heads), 1, got)
            self.assertEqual(len(ends), 1, got)
            self.assertIn(("%s-%d" % (m, sid)).encode(), body, "the answer of stream %d, whole" % sid)
        self.assertTrue(getattr(c, "closed", False), "the connection closes once its streams are answered")
        self.assertNotIn("%s-late" % m, self.backend.seen_paths())
        self.assertEqual(self.cg.wait_exit(15), 0)
        self.cg.stop(check=True)
        lines = self.cg.find_log(event="request", path=lambda v: v.startswith("/slow"))
        self.assertEqual(sorted(e["status"] for e in lines), ["200", "200"])
        self.cg.wait_log(event="h2_goaway", last_stream="3")

    def test_nghttp_requests_in_flight_all_answered(self):
        if not have_nghttp():
            self.skipTest("nghttp (nghttp2-client) is not installed")
        self.start("h2-shutdown-nghttp")
        crt, key = H.pki().client("alice")
        m = H.unique("")
        urls = ["https://127.0.0.1:%d/slow?ms=1000&m=%s-%d" % (self.cg.port, m, i) for i in range(8)]
        p = subprocess.Popen(["nghttp", "-s", "--cert", crt, "--key", key, "-t", str(t(20))] + urls,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.wait_backend("/slow", 8)
        self.cg.proc.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=t(30))
        self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
        text = out.decode(errors="replace")
        for i in range(8):
            self.assertIn("%s-%d" % (m, i), text)
        self.assertEqual(self.cg.wait_exit(15), 0)

    def test_idle_connection_gets_goaway_at_once(self):
        self.start("h2-shutdown-idle")
        c = H2Client(self.cg.port)
        self.addCleanup(c.close)
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, field_block(request_fields(H.unique("/idle")))))
        got = c.until(lambda fs: any(f[0] == DATA and f[1] & END_STREAM for f in fs), timeout=5)
        self.assertTrue(any(f[0] == DATA and f[1] & END_STREAM and f[2] == 1 for f in got), got)
        t0 = time.monotonic()
        self.cg.proc.send_signal(signal.SIGTERM)
        got = c.until(lambda fs: getattr(c, "closed", False), timeout=10)
        goaway = [f for f in got if f[0] == GOAWAY]
        self.assertEqual(len(goaway), 1, got)
        self.assertEqual(int.from_bytes(goaway[0][3][0:4], "big") & 0x7FFFFFFF, 1)
        self.assertEqual(int.from_bytes(goaway[0][3][4:8], "big"), NO_ERROR)
        self.assertEqual(self.cg.wait_exit(15), 0)
        self.assertLess(time.monotonic() - t0, 5)


class TestHttp2Off(H.Shared):
    def test_no_h2_without_the_key(self):
        c = H.client_context("alice")
        c.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", self.cg.port), timeout=t(10)) as raw:
            with c.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertIsNone(s.selected_alpn_protocol())
        r = self.cg.curl(H.unique("/off"), cert="alice", extra_args=["--http2"])
        self.assert_status(r, 200)
        self.assertEqual(r.version, "HTTP/1.1")


if __name__ == "__main__":
    unittest.main()
