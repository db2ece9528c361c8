"""Limits against one client exhausting the server: bounded handshake work
(the client's chain is judged against the listener's limits:
src/x509/chain_limits.h) and fair admission (per-address connection limits:
src/net/admission.h).
"""

import os
import socket
import time

import harness as H
from harness import t
from test_admin import admin_yaml, scrape, value_of
from test_tls13 import mbedtls_option

TMP = None
PKI = None

INTERMEDIATE_DN = "/C=US/O=Example/CN=Example Dev Intermediate CA"
ROOT_DN = "/C=US/O=Example/CN=Example Dev Root CA"


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def _ec_key(path):
    H.run_checked(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-out", path])


def self_signed_ca(name, subject):
    """A self-made CA certificate (self-signed, its own key): (crt, key)."""
    key, crt = TMP.join(name + ".key"), TMP.join(name + ".crt")
    if not os.path.exists(crt):
        _ec_key(key)
        H.run_checked(["openssl", "req", "-x509", "-new", "-key", key, "-subj", subject, "-days", "30",
                       "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", crt])
    return crt, key


def leaf_signed_by(name, issuer_crt, issuer_key):
    """A client certificate issued by (issuer_crt, issuer_key): (crt, key)."""
    key, crt, csr = TMP.join(name + ".key"), TMP.join(name + ".crt"), TMP.join(name + ".csr")
    if not os.path.exists(crt):
        _ec_key(key)
        ext = TMP.write(name + ".ext", "basicConstraints=critical,CA:FALSE\n"
                        "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
        H.run_checked(["openssl", "req", "-new", "-key", key, "-subj", "/O=Attacker/CN=" + name, "-out", csr])
        H.run_checked(["openssl", "x509", "-req", "-in", csr, "-CA", issuer_crt, "-CAkey", issuer_key,
                       "-set_serial", "7", "-days", "30", "-extfile", ext, "-out", crt])
    return crt, key


def bundle(name, *pems):
    """One PEM file holding pems in order (what the client sends)."""
    return TMP.write(name + ".pem", "".join(H.read_text(p) for p in pems))


def fake_flood(name, count, subject):
    """A leaf plus count self-made CA certificates all named subject, the leaf
    issued (by name and by the first fake's key) under that name: (pem, key)."""
    fakes = [self_signed_ca("%s-fake%d" % (name, i), subject) for i in range(count)]
    leaf, key = leaf_signed_by(name + "-leaf", *fakes[0])
    return bundle(name, leaf, *[c for c, _ in fakes]), key


def unrelated_cas(name, count):
    return [self_signed_ca("%s-unrelated%d" % (name, i), "/O=Elsewhere/CN=Unrelated CA %d" % i)[0]
            for i in range(count)]


class TestChainLimits(H.Shared):
    LIMIT = 5

    @classmethod
    def certgate_options(cls, backend_port):
        cls.admin_port = H.free_port()
        return {"backends": {"app": backend_port},
                "tls_extra": {"max_client_certificates": cls.LIMIT},
                "extra": admin_yaml(cls.admin_port)}

    def signature_checks(self):
        """Signature verifications so far: the PSA driver's verified-signature
        cache is asked for each (docs/platform.md; a failed one is a miss), or
        None when certgate is built with a system mbedTLS (no driver)."""
        fams, _ = scrape(self.admin_port)
        if "certgate_signature_cache_misses_total" not in fams:
            return None
        return (value_of(fams, "certgate_signature_cache_hits_total") +
                value_of(fams, "certgate_signature_cache_misses_total"))

    def alice_plus(self, extra):
        crt, key = PKI.client("alice")  # alice's file: leaf + intermediate
        return bundle("alice-plus-%d" % len(extra), crt, *extra), key

    def refused_chain(self, pem, key, *pieces):
        r = self.cg.curl("/x", cert=pem, key=key)
        rid = self.assert_refusal(r, 403, "client_cert_untrusted", sub=16)
        entry = self.cg.wait_log(event="refused", id_=rid)[0]
        for p in pieces:
            self.assertIn(p, entry.get("detail", ""), entry["_raw"])
        return entry

    def test_flood_of_fake_cas_is_refused_unverified(self):
        # The attacker's message: a leaf + 10 self-made CAs with the trusted
        # intermediate's name: over the count before anything is parsed.
        pem, key = fake_flood("flood10", 10, INTERMEDIATE_DN)
        self.refused_chain(pem, key, "sent 11 certificates", "max_client_certificates", "not verified")

    def test_flood_costs_no_more_signature_checks_than_the_limits_allow(self):
        # 30 fakes named like the trusted intermediate, 3 named like the root
        # (within the count): each fake is a candidate issuer that would cost
        # a signature check. Refused before verification, the handshake costs
        # the client's CertificateVerify and whatever the path to the first
        # fake costs (TLS 1.2: the leaf's signature), not one check per fake.
        before = self.signature_checks()
        if before is None:
            self.skipTest("certgate is built with a system mbedTLS (no PSA driver to count signatures)")
        for name, count, subject in (("cost-flood30", 30, INTERMEDIATE_DN), ("cost-rootnamed3", 3, ROOT_DN)):
            pem, key = fake_flood(name, count, subject)
            start = self.signature_checks()
            self.refused_chain(pem, key, "not verified")
            spent = self.signature_checks() - start
            self.assertGreaterEqual(spent, 1, "the CertificateVerify was not counted: the count proves nothing")
            self.assertLessEqual(spent, 2, "%s: %d signature checks for a chain refused unverified" % (name, spent))
        # Other connections are served as usual, and verified as usual.
        start = self.signature_checks()
        self.assert_status(self.cg.curl("/x", cert="alice"), 200)
        self.assertGreaterEqual(self.signature_checks() - start, 2)

    def test_same_name_candidates_within_the_count_are_refused(self):
        # Within the count, but three certificates named like the trusted root.
        pem, key = fake_flood("rootnamed3", 3, ROOT_DN)
        self.refused_chain(pem, key, "3 certificates named like the trusted CA", "Example Dev Root CA")

    def test_two_same_named_candidates_are_verified_as_usual(self):
        # Two may share a name (a CA and its cross-certificate): mbedTLS
        # verifies the chain and the verdict is the usual untrusted one.
        pem, key = fake_flood("rootnamed2", 2, ROOT_DN)
        entry = self.refused_chain(pem, key)
        self.assertNotIn("not verified", entry.get("detail", ""), entry["_raw"])

    def test_four_level_chain_is_accepted(self):
        self.assert_status(self.cg.curl("/x", cert="deep"), 200)

    def test_chain_of_exactly_the_limit_is_accepted_one_more_refused(self):
        extra = unrelated_cas("limit", self.LIMIT - 1)
        pem, key = self.alice_plus(extra[:self.LIMIT - 2])  # leaf + intermediate + 3 = 5
        self.assert_status(self.cg.curl("/x", cert=pem, key=key), 200)
        pem, key = self.alice_plus(extra)                    # 6
        self.refused_chain(pem, key, "sent %d certificates" % (self.LIMIT + 1),
                           "accepts at most %d" % self.LIMIT)
        # The connection refused before verification did not hurt the next one.
        self.assert_status(self.cg.curl("/x", cert="alice"), 200)


class TestFairAdmission(H.Shared):
    HANDSHAKES = 4
    OPEN = 6

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "limits": {"max_handshakes_per_address": cls.HANDSHAKES,
                           "max_connections_per_address": cls.OPEN},
                "timeouts": {"handshake": "30s"}}

    def silent(self, source="127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.settimeout(t(5))
        s.connect(("127.0.0.1", self.cg.port))
        self.addCleanup(s.close)
        return s

    def closed_at_once(self, s, within=2.0):
        """True when certgate closed s (EOF or reset) within `within` s."""
        s.settimeout(t(within))
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def request_from(self, source, cert="alice"):
        with H.TLSClient(self.cg.port, cert=cert, timeout=t(10), source_address=(source, 0)) as c:
            return c.request("GET", "/x")

    def test_silent_connections_over_the_limit_are_closed_others_served(self):
        held = [self.silent() for _ in range(self.HANDSHAKES)]
        extra = [self.silent() for _ in range(5)]
        for s in extra:
            self.assertTrue(self.closed_at_once(s), "a connection over the per-address limit stayed open")
        for s in held:
            self.assertFalse(self.closed_at_once(s, within=0.2), "a connection within the limit was closed")
        # Another address is served at once.
        t0 = time.monotonic()
        r = self.request_from("127.0.0.2")
        self.assert_status(r, 200)
        self.assertLess(time.monotonic() - t0, t(5))
        # One log line for the address (rate-limited), counting the refusals.
        lines = self.cg.wait_log(event="connection_refused", address="127.0.0.1")
        self.assertIn("max_handshakes_per_address", lines[0].get("reason", ""), lines[0]["_raw"])
        time.sleep(0.3)
        self.assertEqual(len(self.cg.find_log(event="connection_refused", address="127.0.0.1")), 1,
                         self.cg.log_tail())
        # Freed: the first address can connect again and is served.
        for s in held:
            s.close()
        deadline = time.monotonic() + t(5)
        while True:
            try:
                r = self.request_from("127.0.0.1")
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.assert_status(r, 200)

    def test_open_connections_per_address_are_limited(self):
        # Finished handshakes no longer count as handshaking, but stay open.
        clients = []
        for _ in range(self.OPEN):
            c = H.TLSClient(self.cg.port, cert="alice", timeout=t(10), source_address=("127.0.0.3", 0))
            self.addCleanup(c.close)
            r = c.request("GET", "/x")
            self.assert_status(r, 200)
            clients.append(c)
        s = self.silent("127.0.0.3")
        self.assertTrue(self.closed_at_once(s), "the connection over max_connections_per_address stayed open")
        line = self.cg.wait_log(event="connection_refused", address="127.0.0.3")[0]
        self.assertIn("max_connections_per_address", line.get("reason", ""), line["_raw"])
        clients.pop().close()
        deadline = time.monotonic() + t(5)
        while True:
            s = self.silent("127.0.0.3")
            if not self.closed_at_once(s, within=0.3):
                break
            self.assertLess(time.monotonic(), deadline, "the address stayed refused after a connection closed")


class TestChainLimitsResumption(H.Shared):
    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port}}

    # The refused chain: over the count (TLS 1.2 refuses it from the message,
    # before mbedTLS verifies). TLS13 below uses one within the count.
    REFUSED = ("resume-flood", 10, INTERMEDIATE_DN)

    def test_session_of_a_refused_chain_stays_refused(self):
        pem, key = fake_flood(*self.REFUSED)
        ctx = H.client_context(None)
        ctx.load_cert_chain(pem, key)
        c1 = H.TLSClient(self.cg.port, context=ctx)
        r = c1.request("GET", "/x")
        self.assert_refusal(r, 403, "client_cert_untrusted", sub=16)
        session = c1.sock.session
        c1.close()
        self.assertIsNotNone(session)
        raw = socket.create_connection(("127.0.0.1", self.cg.port), timeout=t(10))
        s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        self.addCleanup(s.close)
        self.assertTrue(s.session_reused, "the refused handshake's session was not resumed")
        s.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
        self.assertTrue(data.startswith(b"HTTP/1.1 403"), data[:200])
        self.assertIn(b"X-Certgate-Error: client_cert_untrusted", data)
        # The page is the user's; the reason is in the log line of that request.
        rid = H.parse_head(data.split(b"\r\n\r\n", 1)[0]).header("X-Request-Id")
        entry = self.cg.wait_log(event="refused", id_=rid)[0]
        self.assertIn("resumed from a handshake whose client certificate chain was refused",
                      entry.get("detail", ""))
        self.assert_not_forwarded("/x")


# The same cases with TLS 1.3 clients (harness.tls13): the verdicts, pages and
# resumption rules do not depend on the version.
# TLS 1.3 encrypts the client's Certificate message: the bundled mbedTLS's
# patch 0004 hands certgate the parsed chain before verifying it
# (docs/platform.md), so the pages and costs are TLS 1.2's.
class TestChainLimitsTLS13(H.tls13(TestChainLimits)):
    def test_flood_of_fake_cas_is_refused_unverified(self):
        if mbedtls_option() != "system":
            return super().test_flood_of_fake_cas_is_refused_unverified()
        # A system mbedTLS has no such hook: certgate judges the chain after
        # mbedTLS verified it, and mbedTLS gives up on the flood itself (its
        # chain is too long for it): the handshake is refused, with the
        # reason in the log (docs/tls.md).
        pem, key = fake_flood("flood10", 10, INTERMEDIATE_DN)
        r = self.cg.curl("/x", cert=pem, key=key)
        self.assertEqual(r.status, 0, self.explain(r))
        self.assertNotEqual(r.curl_exit, 0, self.explain(r))
        entry = self.cg.wait_log(event="tls_handshake_failed")[-1]
        self.assertIn("chain is too long", entry.get("reason", ""), entry["_raw"])
        self.assert_status(self.cg.curl("/x", cert="alice"), 200)


class TestChainLimitsResumptionTLS13(H.tls13(TestChainLimitsResumption)):
    # Within the count but three certificates named like the root: refused
    # by the verification callback (tls.c verify_cb) in either version.
    REFUSED = ("resume-rootnamed3", 3, ROOT_DN)
