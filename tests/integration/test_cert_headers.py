"""The client certificate for the application (forward_client_cert_der,
src/http/cert_headers.c): RFC 9440's Client-Cert / Client-Cert-Chain and IIS
ARR's X-ARR-ClientCert, byte-checked at a raw backend (raw_backend.py records
every byte) against the DER of the run's PKI (certs-dev/gen.sh):

  alice: root -> intermediate -> alice     (chain: the intermediate)
  deep:  root -> sub1 -> sub2 -> deep      (chain: sub2, then sub1)

The trust anchor (root) is never sent. Client-supplied copies of the three
headers never reach the backend, with the feature on or off, with or without
a certificate. A chain over max_size is refused (403 client_cert_too_large),
never sent cut. A resumed TLS session (same instance, and another instance
sharing the ticket keys) forwards the same bytes as its full handshake.
"""

import base64
import os

import harness as H
from raw_backend import RawBackend

TMP = None
PKI = None

NAMES = ("Client-Cert", "Client-Cert-Chain", "X-ARR-ClientCert")


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def der(path):
    """The DER of the first certificate in a PEM file."""
    return H.run_checked(["openssl", "x509", "-in", path, "-outform", "DER"]).stdout


def sf(data):
    """An RFC 8941 Byte Sequence: standard base64 with padding, between colons."""
    return b":" + base64.b64encode(data) + b":"


def ca(name):
    return os.path.join(PKI.dir, "ca", name + ".crt")


def expected_size(form, chain, leaf, inter):
    """The bytes of the certificate header lines certgate must write."""
    n = 0
    if form in ("rfc9440", "both"):
        n += len(b"Client-Cert: " + sf(leaf) + b"\r\n")
        if chain and inter:
            n += len(b"Client-Cert-Chain: " + b", ".join(sf(d) for d in inter) + b"\r\n")
    if form in ("arr", "both"):
        n += len(b"X-ARR-ClientCert: " + base64.b64encode(leaf) + b"\r\n")
    return n


def section(form, chain=False, max_size=None):
    lines = ["forward_client_cert_der:", "  form: %s" % form]
    if chain:
        lines.append("  chain: true")
    if max_size:
        lines.append("  max_size: %s" % max_size)
    return "\n".join(lines)


class CertHeaderCase(H.Base):
    """One raw backend, one certgate per configuration in `configs`
    ({name: listener YAML}); "/" takes clients without a certificate too."""

    configs = {}

    @classmethod
    def make_configs(cls):
        return cls.configs

    @classmethod
    def setUpClass(cls):
        cls.alice, cls.intermediate = der(PKI.client("alice")[0]), der(PKI.intermediate_crt)
        cls.deep, cls.sub1, cls.sub2 = der(PKI.client("deep")[0]), der(ca("sub1")), der(ca("sub2"))
        cls.root = der(PKI.root_crt)
        cls.raw = RawBackend().start()
        cls.cgs = {}
        try:
            for name, extra in cls.make_configs().items():
                cg = H.Certgate(TMP, name="%s-%s" % (cls.__name__, name))
                cg.configure(PKI, backends={"app": cls.raw.port}, routes=[("/", "app", "optional")],
                             listener_extra=extra)
                cg.start()
                cls.cgs[name] = cg
        except BaseException:
            cls._stop(check=False)
            raise

    @classmethod
    def _stop(cls, check):
        try:
            for cg in cls.__dict__.get("cgs", {}).values():
                cg.stop(check=check)
        finally:
            cls.raw.stop()

    @classmethod
    def tearDownClass(cls):
        cls._stop(check=True)

    def send(self, cg, cert="alice", headers=(), count=1):
        """count requests on one connection; returns (responses, what the
        backend received)."""
        m = H.unique("/cc")
        mark = self.raw.mark(m.encode())
        out = []
        with H.TLSClient(cg.port, cert) as c:
            for i in range(count):
                out.append(c.request("GET", "%s/%d" % (m, i), headers=headers))
        got = self.raw.wait_requests(mark, sum(1 for r in out if r.status == 200), H.t(5))
        return out, got

    def forward(self, cg, cert="alice", headers=(), count=1):
        out, got = self.send(cg, cert, headers, count)
        for r in out:
            self.assert_status(r, 200, cg)
        self.assertEqual(len(got), count, self.explain(out[0], cg))
        return got

    def values(self, req):
        return {n: req.header_values(n) for n in NAMES}

    def assert_values(self, req, want, cg, note=""):
        got = self.values(req)
        self.assertEqual(got, {n: want.get(n, []) for n in NAMES},
                         "%s\nthe backend received:\n%r\n%s" % (note, req.head, cg.log_tail()))
        # the anchor is never sent, in any form
        self.assertNotIn(base64.b64encode(self.root), req.head)


class TestForms(CertHeaderCase):
    configs = {
        "leaf": section("rfc9440"),
        "chain": section("rfc9440", chain=True),
        "arr": section("arr"),
        "both": section("both", chain=True),
        "off": "",
    }

    def test_rfc9440_leaf_only(self):
        cg = self.cgs["leaf"]
        for req in self.forward(cg, count=2):  # rendered once, the same on every request
            self.assert_values(req, {"Client-Cert": [sf(self.alice)]}, cg)
            # what an application decodes is the certificate the other headers describe
            value = req.header_values("Client-Cert")[0]
            self.assertTrue(value.startswith(b":") and value.endswith(b":"), value)
            body = base64.b64decode(value[1:-1], validate=True)
            self.assertEqual(body, self.alice)
            self.assertEqual(req.header_values("X-Client-Cert-SHA256"),
                             [PKI.cert_info("alice")["sha256"].encode()])

    def test_rfc9440_chain_without_leaf_and_anchor(self):
        cg = self.cgs["chain"]
        for req in self.forward(cg, "alice", count=2):
            self.assert_values(req, {"Client-Cert": [sf(self.alice)], "Client-Cert-Chain": [sf(self.intermediate)]},
                               cg, "alice")
        # four levels: the leaf's issuer first, then its issuer; ", " between items
        req = self.forward(cg, "deep")[0]
        self.assert_values(req, {"Client-Cert": [sf(self.deep)],
                                 "Client-Cert-Chain": [sf(self.sub2) + b", " + sf(self.sub1)]}, cg, "deep")

    def test_arr_is_the_leaf_in_plain_base64(self):
        cg = self.cgs["arr"]
        req = self.forward(cg, "deep")[0]
        self.assert_values(req, {"X-ARR-ClientCert": [base64.b64encode(self.deep)]}, cg)
        # what ASP.NET does with it: Convert.FromBase64String, then X509Certificate2
        self.assertEqual(base64.b64decode(req.header_values("X-ARR-ClientCert")[0], validate=True), self.deep)

    def test_both_forms(self):
        cg = self.cgs["both"]
        req = self.forward(cg, "alice")[0]
        self.assert_values(req, {"Client-Cert": [sf(self.alice)], "Client-Cert-Chain": [sf(self.intermediate)],
                                 "X-ARR-ClientCert": [base64.b64encode(self.alice)]}, cg)

    def test_no_certificate_no_headers(self):
        for name, cg in self.cgs.items():
            req = self.forward(cg, None)[0]
            self.assert_values(req, {}, cg, name)

    def test_off_by_default(self):
        cg = self.cgs["off"]
        req = self.forward(cg, "alice")[0]
        self.assert_values(req, {}, cg)

    def test_client_copies_never_reach_the_backend(self):
        spoof = H.unique("spoofed")
        fake = base64.b64encode(b"not a certificate " + spoof.encode()).decode()
        headers = [("Client-Cert", ":%s:" % fake), ("Client-Cert-Chain", ":%s:, :%s:" % (fake, fake)),
                   ("X-ARR-ClientCert", fake), ("client_cert", ":%s:" % fake), ("CLIENT-CERT-CHAIN", ":%s:" % fake),
                   ("X_ARR_ClientCert", fake)]
        for name, cg in self.cgs.items():
            for cert in ("alice", None):
                note = "%s, %s" % (name, cert or "no certificate")
                req = self.forward(cg, cert, headers)[0]
                self.assertNotIn(fake.encode(), req.raw, "%s: %r" % (note, req.head))
                self.assertNotIn(b"client_cert", req.head.lower(), note)
                self.assertNotIn(b"x_arr_clientcert", req.head.lower(), note)
                want = {}
                if cert and name in ("leaf", "chain", "both"):
                    want["Client-Cert"] = [sf(self.alice)]
                if cert and name in ("chain", "both"):
                    want["Client-Cert-Chain"] = [sf(self.intermediate)]
                if cert and name in ("arr", "both"):
                    want["X-ARR-ClientCert"] = [base64.b64encode(self.alice)]
                self.assert_values(req, want, cg, note)


class TestTooLarge(CertHeaderCase):
    """max_size at the exact size of alice's lines admits her; one byte less
    refuses her, and 1k refuses the four-level chain of deep."""

    @classmethod
    def make_configs(cls):
        cls.alice_size = expected_size("rfc9440", True, cls.alice, [cls.intermediate])
        return {"exact": section("rfc9440", chain=True, max_size=cls.alice_size),
                "short": section("rfc9440", chain=True, max_size=cls.alice_size - 1),
                "small": section("rfc9440", chain=True, max_size="1k")}

    def assert_too_large(self, cg, who, size, limit, ninter):
        out, got = self.send(cg, who)
        rid = self.assert_refusal(out[0], 403, "client_cert_too_large", cg=cg, note=who)
        self.assertEqual(got, [], "%s: the backend received a request" % who)
        detail = self.refusal_detail(rid, cg)
        for piece in ("%d bytes of certificate headers" % size, "forward_client_cert_der.max_size",
                      "the %d of listener \"main\"" % limit, "%d intermediate" % ninter):
            self.assertIn(piece, detail, who)

    def test_the_limit_is_the_exact_size(self):
        self.assertGreater(self.alice_size, 1024)  # a size max_size accepts
        req = self.forward(self.cgs["exact"], "alice")[0]
        self.assert_values(req, {"Client-Cert": [sf(self.alice)], "Client-Cert-Chain": [sf(self.intermediate)]},
                           self.cgs["exact"])
        self.assert_too_large(self.cgs["short"], "alice", self.alice_size, self.alice_size - 1, 1)

    def test_over_max_size_refused_whole_never_cut(self):
        size = expected_size("rfc9440", True, self.deep, [self.sub2, self.sub1])
        self.assertGreater(size, 1024)
        self.assert_too_large(self.cgs["small"], "deep", size, 1024, 2)
        # other connections are unharmed: alice, on the listener sized for her
        self.forward(self.cgs["exact"], "alice")


class TestResumed(CertHeaderCase):
    """After resumption the TLS session holds the leaf only; the chain is the
    one the full handshake verified (remembered by the listener), or, on
    another instance sharing the ticket keys, rebuilt from the CA
    certificates the ticket carries (every signature checked)."""

    configs = {}

    def start_pair(self):
        p = H.run_certgate(["ticket-key", "generate"])
        self.assertEqual(p.returncode, 0, p.stderr)
        keys = TMP.join(H.unique("ticket") + ".keys")
        with open(keys, "w") as f:
            f.write(p.stdout.strip() + "\n")
        os.chmod(keys, 0o600)
        out = []
        for name in ("a", "b"):
            cg = H.Certgate(TMP, name=H.unique("resumed-" + name))
            cg.configure(PKI, backends={"app": self.raw.port}, routes=[("/", "app", "optional")],
                         tls_extra={"session_ticket_keys": keys}, listener_extra=section("both", chain=True))
            cg.start()
            self.addCleanup(cg.stop)
            out.append(cg)
        return out

    def s_client(self, cg, **kw):
        m = H.unique("/resumed")
        mark = self.raw.mark(m.encode())
        request = b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % m.encode()
        out, reused, r = H.s_client(cg.port, "alice", request=request, **kw)
        self.assertIsNotNone(r, out[-3000:] + cg.log_tail())
        self.assertEqual(r.status, 200, out[-3000:] + cg.log_tail())
        got = self.raw.wait_requests(mark, 1, H.t(5))
        self.assertEqual(len(got), 1, cg.log_tail())
        return reused, got[0], out

    def test_resumed_session_forwards_the_same_chain(self):
        a, b = self.start_pair()
        sess = TMP.join(H.unique("alice") + ".sess")
        want = {"Client-Cert": [sf(self.alice)], "Client-Cert-Chain": [sf(self.intermediate)],
                "X-ARR-ClientCert": [base64.b64encode(self.alice)]}
        reused, full, out = self.s_client(a, sess_out=sess)
        self.assertFalse(reused, out[-3000:])
        self.assert_values(full, want, a, "full handshake")
        # the same instance: the chain it remembered for this leaf
        reused, again, out = self.s_client(a, sess_in=sess)
        self.assertTrue(reused, "the session was not resumed:\n" + out[-3000:])
        self.assert_values(again, want, a, "resumed on the same instance")
        a.wait_log(event="tls_handshake", resumed="true")
        # another instance that never saw alice: rebuilt from the ticket's CA certificates
        reused, other, out = self.s_client(b, sess_in=sess)
        self.assertTrue(reused, "B did not resume A's session:\n" + out[-3000:] + b.log_tail())
        b.wait_log(event="tls_handshake", resumed="true")
        self.assert_values(other, want, b, "resumed on another instance")


# The same cases with TLS 1.3 clients (harness.tls13): the verdicts, pages and
# resumption rules do not depend on the version.
TestResumedTLS13 = H.tls13(TestResumed)
