"""The exchange and the backend pool under attack: a real certgate, real TLS
clients, and backends that misbehave on purpose.

  - a client that pipelines requests and does not read the responses makes
    certgate stop reading it (no unbounded response queue); once it reads,
    every response arrives, in order, and others are served meanwhile;
  - two users whose principals share a long prefix never share a pooled
    backend connection (the pool keys by the whole identity);
  - a request whose reused backend connection dies before an answer is sent
    again only when its method is safe (GET, HEAD, OPTIONS, TRACE); a POST or
    DELETE gets a 502 that says it was not sent again;
  - bytes a backend sends after a complete response never become another
    request's response;
  - chunked framing is strict both ways: 400 for a client, 502 for a backend
    whose body breaks before anything was sent, a truncated response (never a
    complete-looking one) when it breaks later;
  - a request head that arrives one byte per TLS record is served.

The misbehaving backends are RawBackend: a scripted HTTP/1.1 server on a
thread, on 127.0.0.1, recording every request it reads.
"""

import os
import signal
import socket
import ssl
import threading
import time

import harness as H
from harness import t

TMP = None


def setUpModule():
    global TMP
    TMP = H.module_tmp(__name__)


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def ok(body, extra=b""):
    if isinstance(body, str):
        body = body.encode()
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


class RawBackend:
    """handler(backend, conn_no, n, method, path, body, sock) -> bytes to send,
    or None to close the connection without answering. seen: every request
    read, as (conn_no, n, method, path), n counting from 1 per connection."""

    def __init__(self, handler):
        self.handler = handler
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.seen = []
        self.socks = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.nconns = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.nconns += 1
                no = self.nconns
                self.socks[no] = s
            threading.Thread(target=self._serve, args=(s, no), daemon=True).start()

    def _recv(self, s, buf):
        data = s.recv(65536)
        if not data:
            raise EOFError
        return buf + data

    def _serve(self, s, no):
        s.settimeout(t(20))
        buf, n = b"", 0
        try:
            while not self.stopping:
                while b"\r\n\r\n" not in buf:
                    buf = self._recv(s, buf)
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                method, path = lines[0].split(b" ")[:2]
                hdrs = {}
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    hdrs[k.strip().lower()] = v.strip()
                if hdrs.get(b"transfer-encoding", b"").lower() == b"chunked":
                    while b"0\r\n\r\n" not in buf:
                        buf = self._recv(s, buf)
                    body, buf = buf.split(b"0\r\n\r\n", 1)
                else:
                    cl = int(hdrs.get(b"content-length", b"0"))
                    while len(buf) < cl:
                        buf = self._recv(s, buf)
                    body, buf = buf[:cl], buf[cl:]
                n += 1
                with self.lock:
                    self.seen.append((no, n, method.decode(), path.decode()))
                out = self.handler(self, no, n, method.decode(), path.decode(), body, s)
                if out is None:
                    s.close()
                    return
                s.sendall(out)
        except (EOFError, OSError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass

    def requests(self, path_prefix):
        with self.lock:
            return [r for r in self.seen if r[3].startswith(path_prefix)]

    def stop(self):
        self.stopping = True
        self.lsock.close()
        with self.lock:
            for s in self.socks.values():
                try:
                    s.close()
                except OSError:
                    pass
        self.thread.join(5)


class Raw(H.Base):
    """One RawBackend and one certgate per class."""
    options = {}

    @classmethod
    def handle(cls, be, no, n, method, path, body, sock):
        return ok("%s %s conn=%d n=%d" % (method, path, no, n))

    @classmethod
    def setUpClass(cls):
        cls.backend = RawBackend(cls.handle)
        cls.cg = H.Certgate(TMP, name=cls.__name__)
        cls.cg.configure(H.pki(), backends={"app": cls.backend.port}, **cls.options)
        try:
            cls.cg.start()
        except BaseException:
            cls.backend.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.cg.stop(check=True)
        finally:
            cls.backend.stop()


# ===========================================================================
# (2) a pipelining client that does not read


class TestPipeliningBackpressure(Raw):
    """Small responses (each complete in one backend read, so no body ever
    streams and the old body backpressure never applied) to a client with a
    small receive buffer that pipelines requests and does not read."""
    N = 12000
    PAD = b"r" * 1000

    @classmethod
    def handle(cls, be, no, n, method, path, body, sock):
        return ok(path.encode() + b" " + cls.PAD)

    def pipelined(self, marker, n):
        return b"".join(b"GET %s/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % (marker.encode(), i)
                        for i in range(n))

    def client(self):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        raw.settimeout(t(20))
        raw.connect(("127.0.0.1", self.cg.port))
        c = H.TLSClient(self.cg.port, "alice", connect=False)
        c.sock = c.ctx.wrap_socket(raw, server_hostname="localhost")
        return c

    def send_in_background(self, c, data):
        # certgate stops reading this client: sendall may block until it reads.
        th = threading.Thread(target=lambda: c.sock.sendall(data), daemon=True)
        th.start()
        return th

    def wait_forwarding_stops(self, marker):
        last, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + t(30)
        while time.monotonic() < deadline:
            n = len(self.backend.requests(marker))
            if n != last:
                last, stable_since = n, time.monotonic()
            elif time.monotonic() - stable_since > 1.0:
                break
            time.sleep(0.05)
        return last

    def test_pipelining_client_that_does_not_read(self):
        marker = H.unique("/p")
        with self.client() as c:
            sender = self.send_in_background(c, self.pipelined(marker, self.N))
            forwarded = self.wait_forwarding_stops(marker)
            # certgate forwards requests only until the client's output is
            # over the high-water mark (256 KiB queued after the kernel's
            # buffers filled), then stops reading it.
            self.assertLess(forwarded, self.N // 2,
                            "certgate kept forwarding pipelined requests to a client that "
                            "does not read (%d of %d)" % (forwarded, self.N))
            # Other connections are served meanwhile.
            with self.cg.tls("bob") as other:
                r = other.request("GET", H.unique("/other"))
                self.assert_status(r, 200)
            # Now the client reads: every response, in order, complete.
            for i in range(self.N):
                r = c.read_response(timeout=30)
                self.assertEqual(r.status, 200, "response %d" % i)
                self.assertEqual(r.body, ("%s/%d " % (marker, i)).encode() + self.PAD,
                                 "response %d out of order or cut" % i)
            sender.join(t(10))
            self.assertEqual(len(self.backend.requests(marker)), self.N)
            # And the connection goes on.
            r = c.request("GET", H.unique("/after"))
            self.assert_status(r, 200)

    def test_pipelining_client_that_half_closes_gets_every_response(self):
        marker = H.unique("/h")
        n = 2000
        with self.client() as c:
            self.send_in_background(c, self.pipelined(marker, n)).join(t(20))
            self.wait_forwarding_stops(marker)
            # The end of what the client sends (TCP FIN; SSLSocket.shutdown
            # would drop the TLS state): certgate sees it only once it reads
            # again, and must answer what came before it.
            socket.socket.shutdown(c.sock, socket.SHUT_WR)
            for i in range(n):
                r = c.read_response(timeout=30)
                self.assertEqual(r.body, ("%s/%d " % (marker, i)).encode() + self.PAD, "response %d" % i)
            self.assertTrue(c.wait_closed(5))


# ===========================================================================
# (3) identities compared whole


class TestLongPrincipalsDoNotSharePool(H.Base):
    """alice and bob mapped to principals that share their first 120 bytes:
    each gets backend connections of its own (the pool used to key by the
    first 95 bytes of "user:<principal>")."""

    def test_long_principals_get_their_own_connections(self):
        backend = H.Backend(TMP, name="long-principal-backend").start()
        self.addCleanup(backend.stop)
        prefix = "u" * 120
        mapping = TMP.join("long-principal-mapping.yaml")
        with open(mapping, "w") as f:
            f.write("default_realm: EXAMPLE.TEST\n"
                    "many_to_one:\n"
                    "  - name: everyone\n"
                    "    principal: \"%s{subject.CN}@EXAMPLE.TEST\"\n"
                    "    rules: [{field: subject, sub_field: O, pattern: Example}]\n" % prefix)
        cg = H.Certgate(TMP, name="long-principal")
        cg.write_config(H.config_yaml(pki=H.pki(), port=cg.port, log_file=cg.log_path,
                                      backends={"app": backend.port},
                                      listener_extra="mapping: %s" % mapping))
        cg.start()
        self.addCleanup(cg.stop)
        peers = {}
        for user in ("alice", "bob", "alice", "bob"):
            r = cg.curl(H.unique("/who"), cert=user)
            self.assert_ok_json(r, cg)
            self.assertEqual(H.headers_named(r.backend_headers(), "X-Certgate-Principal"),
                             ["%s%s@EXAMPLE.TEST" % (prefix, user)], self.explain(r, cg))
            peers.setdefault(user, set()).add(r.json()["peer"])
        self.assertFalse(peers["alice"] & peers["bob"],
                         "alice and bob shared a backend connection: %r" % peers)
        # And each user's connection is reused (the truncated key used to
        # match nothing: a new backend connection for every request).
        self.assertEqual(len(peers["alice"]), 1, peers)
        self.assertEqual(len(peers["bob"]), 1, peers)


# ===========================================================================
# (6) replays after a lost pooled connection


class TestReplayOnlySafeMethods(Raw):
    """The backend answers the first request of each connection and closes
    a connection after reading a request to /die without answering."""

    @classmethod
    def handle(cls, be, no, n, method, path, body, sock):
        if path.startswith("/die") and n > 1:
            return None
        return ok("%s %s conn=%d n=%d" % (method, path, no, n))

    def lost_on_reused_connection(self, method, headers=()):
        path = H.unique("/die")
        with self.cg.tls("alice") as c:
            r = c.request("GET", H.unique("/warm"))  # leaves a pooled connection
            self.assert_status(r, 200)
            r = c.request(method, path, headers=headers)
        return r, self.backend.requests(path)

    def test_post_not_sent_twice(self):
        for headers in ((), ("Content-Length: 0",)):
            r, seen = self.lost_on_reused_connection("POST", headers)
            self.assertEqual(len(seen), 1, "the backend saw the POST %d times: %r" % (len(seen), seen))
            rid = self.assert_refusal(r, 502, "backend_bad_response")
            detail = self.refusal_detail(rid)
            self.assertIn("was not sent again", detail, self.explain(r))
            self.assertIn("POST", detail)

    def test_delete_and_patch_not_sent_twice(self):
        for method in ("DELETE", "PATCH"):
            r, seen = self.lost_on_reused_connection(method)
            self.assertEqual(len(seen), 1, "%s seen %r" % (method, seen))
            self.assert_refusal(r, 502, "backend_bad_response")

    def test_get_sent_again_on_a_new_connection(self):
        r, seen = self.lost_on_reused_connection("GET")
        self.assert_status(r, 200)
        self.assertEqual(len(seen), 2, seen)
        self.assertNotEqual(seen[0][0], seen[1][0], "retried on the same connection: %r" % seen)
        self.assertEqual(seen[1][1], 1)


# ===========================================================================
# (10) stray bytes from a backend


class TestBackendStrayBytes(Raw):
    """/stray answers, then (when the test says so) sends a second,
    unasked-for response on the same connection. /extra answers with
    garbage in the same write."""

    release = {}

    @classmethod
    def handle(cls, be, no, n, method, path, body, sock):
        if path.startswith("/stray"):
            ev = threading.Event()
            cls.release[path] = (ev, sock)
            return ok("own %s" % path)
        if path.startswith("/extra"):
            return ok("own %s" % path) + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"
        return ok("own %s conn=%d" % (path, no))

    def send_stray(self, path):
        _, sock = self.release[path]
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!")

    def check_own(self, r, path):
        self.assert_status(r, 200)
        self.assertTrue(r.body.startswith(b"own " + path.encode()), self.explain(r))

    def test_late_bytes_close_the_idle_connection(self):
        p1 = H.unique("/stray")
        with self.cg.tls("alice") as a:
            self.check_own(a.request("GET", p1), p1)
        self.send_stray(p1)
        time.sleep(0.3)
        p2 = H.unique("/next")
        with self.cg.tls("alice") as b:
            self.check_own(b.request("GET", p2), p2)
        (conn1,) = [r[0] for r in self.backend.requests(p1)]
        (conn2,) = [r[0] for r in self.backend.requests(p2)]
        self.assertNotEqual(conn1, conn2)

    def test_late_bytes_in_the_same_loop_turn_as_the_next_request(self):
        """certgate is stopped (SIGSTOP) while the next request and the stray
        bytes arrive, so both are ready when it resumes, in either order: the
        request may be handled first and find the idle connection with bytes
        waiting that the loop has not reported yet."""
        for _ in range(3):  # which of the two the loop reports first varies
            for stray_first in (False, True):
                self.stray_and_request_together(stray_first)

    def stray_and_request_together(self, stray_first):
        p1 = H.unique("/stray")
        with self.cg.tls("alice") as a:
            self.check_own(a.request("GET", p1), p1)
        p2 = H.unique("/next")
        with self.cg.tls("alice") as b:
            # The first request reuses /stray's pooled connection and puts it
            # back: it is the only idle one, and the TLS session is set up.
            b.request("GET", H.unique("/warm"))
            self.stray_while_stopped(p1, stray_first, lambda: b.request("GET", p2, read=False))
            r = b.read_response()
        self.check_own(r, p2)

    def stray_while_stopped(self, stray_path, stray_first, send_request):
        """While certgate is stopped (SIGSTOP), send_request() and the stray
        bytes of stray_path's connection arrive, in the order given."""
        self.cg.signal(signal.SIGSTOP)
        # kill() returns before the process is stopped: on a busy machine
        # certgate could still forward the next request before the stray
        # bytes exist, the one case no proxy can tell from a response.
        H.wait_until(lambda: stopped(self.cg.pid), timeout=5, what="certgate stopped by SIGSTOP")
        try:
            if stray_first:
                self.send_stray(stray_path)
                time.sleep(0.2)
            send_request()
            time.sleep(0.2)
            if not stray_first:
                self.send_stray(stray_path)
                time.sleep(0.2)
        finally:
            self.cg.signal(signal.SIGCONT)

    def test_extra_bytes_after_a_response_make_it_not_reusable(self):
        p1 = H.unique("/extra")
        with self.cg.tls("alice") as a:
            self.check_own(a.request("GET", p1), p1)
            p2 = H.unique("/next")
            self.check_own(a.request("GET", p2), p2)
        (conn1,) = [r[0] for r in self.backend.requests(p1)]
        (conn2,) = [r[0] for r in self.backend.requests(p2)]
        self.assertNotEqual(conn1, conn2)


class TestBackendStrayBytesH2(Raw):
    """HTTP/2 streams take pooled connections too (h2_backend.c): stray
    bytes reported in the same loop turn as a stream's request never answer
    that stream."""

    options = {"listener_extra": "http2: true"}
    release = {}
    handle = TestBackendStrayBytes.__dict__["handle"]
    send_stray = TestBackendStrayBytes.send_stray
    stray_while_stopped = TestBackendStrayBytes.stray_while_stopped

    def stream_body(self, c, sid):
        from test_http2 import DATA, END_STREAM
        got = c.until(lambda fs: any(f[0] == DATA and f[2] == sid and f[1] & END_STREAM for f in fs))
        return b"".join(f[3] for f in got if f[0] == DATA and f[2] == sid)

    def test_late_bytes_in_the_same_loop_turn_as_the_next_stream(self):
        from test_http2 import END_HEADERS, END_STREAM, HEADERS, H2Client, field_block, frame, request_fields
        for stray_first in (False, True, False, True):
            p1 = H.unique("/stray")
            with self.cg.tls("alice") as a:
                self.assertTrue(a.request("GET", p1).body.startswith(b"own " + p1.encode()))
            c = H2Client(self.cg.port, "alice")
            self.addCleanup(c.close)
            self.assertEqual(c.alpn, "h2")
            # The first stream reuses /stray's pooled connection and puts it back.
            warm = H.unique("/warm")
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, field_block(request_fields(warm))))
            self.assertTrue(self.stream_body(c, 1).startswith(b"own " + warm.encode()))
            p2 = H.unique("/next")
            self.stray_while_stopped(p1, stray_first,
                                     lambda: c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3,
                                                          field_block(request_fields(p2)))))
            body = self.stream_body(c, 3)
            self.assertTrue(body.startswith(b"own " + p2.encode()), body)
            c.close()


def stopped(pid):
    """Every thread of pid is in the stopped state (T)."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
        for tid in tids:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "T":
                    return False
        return True
    except OSError:
        return False


# ===========================================================================
# (13) strict chunked framing, both ways


class TestChunkedFraming(Raw):

    @classmethod
    def handle(cls, be, no, n, method, path, body, sock):
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        if path.startswith("/bad-chunk-early"):
            return head + b"5\r\nhelloXX0\r\n\r\n"
        if path.startswith("/bad-size-line"):
            return head + b"5\rXhello\r\n0\r\n\r\n"
        if path.startswith("/bad-chunk-late"):
            sock.sendall(head + b"4000\r\n" + b"a" * 0x4000 + b"\r\n")
            time.sleep(0.3)  # the client has the head and 16 KiB by now
            return b"5\r\nhelloXX0\r\n\r\n"
        if path.startswith("/good-chunked"):
            return head + b"5\r\nhello\r\n0\r\n\r\n"
        return ok("%s %s body=%r" % (method, path, body))

    def test_client_chunk_without_crlf_400(self):
        for body in (b"5\r\nhelloXX0\r\n\r\n", b"5\rXhello\r\n0\r\n\r\n", b"0\r\n\r\r",
                     b"5\r\nhello\r\n0\r\nA: b\rX\r\n\r\n"):
            path = H.unique("/upload")
            with self.cg.tls("alice") as c:
                c.send(b"POST %s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n%s"
                       % (path.encode(), body))
                r = c.read_response()
                rid = self.assert_refusal(r, 400, "bad_request")
                self.assertIn("chunked", self.refusal_detail(rid))
                self.assertTrue(c.wait_closed(5))
            self.assertEqual(self.backend.requests(path), [],
                             "the backend got a complete request for %r" % body)

    def test_client_good_chunked_still_forwarded(self):
        path = H.unique("/upload")
        with self.cg.tls("alice") as c:
            c.send(b"POST %s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;x=y\r\nhello\r\n0\r\nTrailer: v\r\n\r\n" % path.encode())
            r = c.read_response()
        self.assert_status(r, 200)
        self.assertIn(b"body=b'5\\r\\nhello\\r\\n", r.body)

    def test_backend_bad_chunk_before_anything_sent_502(self):
        for p in ("/bad-chunk-early", "/bad-size-line"):
            with self.cg.tls("alice") as c:
                r = c.request("GET", H.unique(p))
            rid = self.assert_refusal(r, 502, "backend_bad_response")
            self.assertIn("invalid response body", self.refusal_detail(rid))

    def test_backend_bad_chunk_after_data_sent_truncates(self):
        with self.cg.tls("alice") as c:
            with self.assertRaises((H.Closed, AssertionError)):
                c.request("GET", H.unique("/bad-chunk-late"))
            # No terminating chunk ever came, and no close_notify either.
            self.assertNotIn(b"\r\n0\r\n\r\n", c.buf)
            self.assertNotEqual(c.eof_reason, "close_notify")

    def test_backend_good_chunked(self):
        with self.cg.tls("alice") as c:
            r = c.request("GET", H.unique("/good-chunked"))
        self.assert_status(r, 200)
        self.assertEqual(r.body, b"hello")


# ===========================================================================
# (4) a head in one-byte records


class TestHeadInTinyRecords(H.Shared):

    def test_head_sent_one_byte_per_record(self):
        path = H.unique("/tiny")
        head = ("GET %s HTTP/1.1\r\nHost: localhost\r\nX-Pad: %s\r\n\r\n" % (path, "p" * 2000)).encode()
        with self.cg.tls("alice") as c:
            for i in range(len(head)):
                c.send(head[i:i + 1])  # one TLS record each
            r = c.read_response()
        self.assert_ok_json(r)
        self.assertEqual(r.json()["path"], path)
