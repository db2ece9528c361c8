"""Backend connections under backends[].max_connections: many distinct users
(identity-scoped connections, never shared) against a backend that serves
only a few connections at once, the way a small Apache prefork does.

TestSmallBackend   50 users in a row, each with a client certificate of its
                   own: none waits on the backend's keep-alive timeout, and
                   the backend never has more connections open than the cap;
                   every connection busy: a bounded wait, then a 503
"""

import os
import selectors
import socket
import ssl
import threading
import time

import harness as H

TMP = None
PKI = None
USERS = 50
SLOTS = 4            # connections the backend serves at once
KEEPALIVE = 5.0      # seconds the backend keeps an idle connection (Apache's default)


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def issue_clients(n):
    """n client certificates (leaf + intermediate in one PEM file) from the
    run's intermediate CA, sharing one key: each has its own SHA-256, so
    each is an identity of its own to certgate ("cert:<sha256>")."""
    env = dict(os.environ, OPENSSL_CONF="/dev/null")
    key = TMP.join("users.key")
    ext = TMP.write("users.ext", "[v3]\nbasicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n")
    H.run_checked(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-out", key], env=env)
    with open(PKI.intermediate_crt) as f:
        chain = f.read()
    out = []
    for i in range(n):
        csr, crt = TMP.join("user%d.csr" % i), TMP.join("user%d.crt" % i)
        H.run_checked(["openssl", "req", "-new", "-key", key, "-subj",
                       "/C=US/O=Example/OU=Pool/CN=user%d" % i, "-out", csr], env=env)
        H.run_checked(["openssl", "x509", "-req", "-in", csr, "-CA", PKI.intermediate_crt, "-CAkey",
                       PKI.intermediate_key, "-set_serial", "0x%x" % int.from_bytes(os.urandom(8), "big"),
                       "-days", "30", "-extfile", ext, "-extensions", "v3", "-out", crt], env=env)
        with open(crt, "a") as f:
            f.write(chain)
        out.append((crt, key))
    return out


class SmallBackend:
    """HTTP/1.1 on 127.0.0.1 that serves at most `slots` connections at once
    and keeps an idle one for `keepalive` seconds; further connections are
    accepted but not read until a slot frees (a prefork server's backlog).
    One thread, one selector; `max_open` is the most connections it ever
    had open at once (a connection closed by the peer is counted out before
    a new one is counted in: it looks for EOFs on every accept)."""

    def __init__(self, slots, keepalive):
        self.slots, self.keepalive = slots, keepalive
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.conns = {}      # socket -> {"n", "buf", "active", "last"}
        self.waiting = []    # accepted, not served yet
        self.max_open = 0
        self.accepted = 0
        self.hung = 0        # requests for /hang received (never answered)
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.lsock.setblocking(False)
        self.sel.register(self.lsock, selectors.EVENT_READ)
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag = True
        self.thread.join(H.t(5))
        for s in list(self.conns):
            s.close()
        self.lsock.close()

    def _close(self, s):
        st = self.conns.pop(s)
        if st["active"]:
            self.sel.unregister(s)
        else:
            self.waiting.remove(s)
        s.close()

    def _reap_closed(self):
        for s in list(self.conns):
            try:
                if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    self._close(s)
            except BlockingIOError:
                pass
            except OSError:
                self._close(s)

    def _activate(self):
        while self.waiting and sum(1 for st in self.conns.values() if st["active"]) < self.slots:
            s = self.waiting.pop(0)
            self.conns[s]["active"] = True
            self.conns[s]["last"] = time.monotonic()
            self.sel.register(s, selectors.EVENT_READ)

    def _serve(self, s):
        st = self.conns[s]
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(s)
            return
        st["buf"] += data
        st["last"] = time.monotonic()
        while b"\r\n\r\n" in st["buf"]:
            head, _, st["buf"] = st["buf"].partition(b"\r\n\r\n")  # GET only: no bodies
            if head.startswith(b"GET /hang "):
                self.hung += 1
                continue
            body = b"served on connection %d\n" % st["n"]
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(body), body))

    def _run(self):
        while not self.stop_flag:
            for key, _ in self.sel.select(0.05):
                s = key.fileobj
                if s is self.lsock:
                    while True:
                        try:
                            c, _ = self.lsock.accept()
                        except BlockingIOError:
                            break
                        self._reap_closed()
                        c.setblocking(False)
                        self.accepted += 1
                        self.conns[c] = {"n": self.accepted, "buf": b"", "active": False, "last": 0}
                        self.waiting.append(c)
                        self.max_open = max(self.max_open, len(self.conns))
                elif s in self.conns:
                    self._serve(s)
            now = time.monotonic()
            for s, st in list(self.conns.items()):
                if st["active"] and now - st["last"] > self.keepalive:
                    self._close(s)
            self._activate()


class TestSmallBackend(H.Base):

    @classmethod
    def setUpClass(cls):
        cls.users = issue_clients(USERS)

    def start(self, max_connections, backend_connect="3s", backend_response="30s"):
        be = SmallBackend(SLOTS, KEEPALIVE).start()
        self.addCleanup(be.stop)
        cg = H.Certgate(TMP, name=H.unique("pool"))
        cg.configure(PKI, backends={"app": be.port}, timeouts={"backend_connect": backend_connect,
                                                                 "backend_response": backend_response})
        with open(cg.cfg_path) as f:
            text = f.read()
        url = "    url: http://127.0.0.1:%d\n" % be.port
        self.assertIn(url, text)
        cg.write_config(text.replace(url, url + "    max_connections: %d\n" % max_connections))
        self.addCleanup(cg.stop)
        cg.start()
        return be, cg

    @staticmethod
    def context(user):
        crt, key = user
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(PKI.root_crt)
        ctx.load_cert_chain(crt, key)
        return ctx

    def request_as(self, cg, user):
        with H.TLSClient(cg.port, context=self.context(user), timeout=15) as c:
            started = time.monotonic()
            r = c.request("GET", "/pool")
            return r, time.monotonic() - started

    def test_fifty_new_users_in_a_row_never_wait_for_the_backend(self):
        be, cg = self.start(SLOTS)
        times = []
        for i, user in enumerate(self.users):
            r, took = self.request_as(cg, user)
            self.assertEqual(r.status, 200, "user %d: %s\n%s" % (i, r.describe(), cg.log_tail()))
            times.append(took)
        # Without the cap, user SLOTS+1 waits for the backend's keep-alive
        # timeout (KEEPALIVE s) behind the idle connections of the others.
        # (A bound on waiting, half the keep-alive timeout, not a speed test.)
        slow = [(i, round(x, 2)) for i, x in enumerate(times) if x >= KEEPALIVE / 2]
        self.assertEqual(slow, [], "requests that waited %.1f s or more: %s" % (KEEPALIVE / 2, slow))
        self.assertLessEqual(be.max_open, SLOTS, "the backend had %d connections open at once" % be.max_open)
        self.assertEqual(be.accepted, USERS)  # one connection per user: never shared
        evicted = cg.find_log(event="backend_idle_evicted")
        self.assertGreaterEqual(len(evicted), USERS - SLOTS, cg.log_tail())

    def test_all_busy_at_the_cap_waits_then_503(self):
        # One connection in all, held by a request the backend never
        # answers: the next user waits timeouts.backend_connect for a slot,
        # then gets a 503 naming max_connections; no connection is made.
        be, cg = self.start(1, backend_connect="500ms", backend_response="2s")
        self.cg = cg
        hang = H.TLSClient(cg.port, context=self.context(self.users[0]), timeout=15)
        self.addCleanup(hang.close)
        hang.request("GET", "/hang", read=False)
        H.wait_until(lambda: be.hung == 1, timeout=H.t(5), what="the backend got the first request")
        r, took = self.request_as(cg, self.users[1])
        rid = self.assert_refusal(r, 503, "overloaded", cg=cg)
        self.assertGreaterEqual(took, 0.45, r.describe())
        detail = cg.wait_log(event="refused", id_=rid)[0].get("detail", "")
        self.assertIn("backends[].max_connections: 1", detail)
        self.assertIn("timeouts.backend_connect", detail)
        self.assertEqual(be.accepted, 1)
        self.assertLessEqual(be.max_open, 1)
        # The slot frees when the first request ends (here: the backend's
        # response timeout, 504): the next user is served.
        first = hang.read_response(timeout=10)
        self.assertEqual(first.status, 504, first.describe())
        r, _ = self.request_as(cg, self.users[2])
        self.assertEqual(r.status, 200, r.describe())
