"""Revocation integration tests: a real certgate fetching CRLs from a CRL
server on loopback (crl_server.py, which can misbehave on purpose) and from
a private slapd over LDAP (crl_ldap.py), for a 4-level chain
(root -> Sub CA 1 -> Sub CA 2 -> deep) and the intermediate's clients.

PKI A (made for this module by certs-dev/gen.sh):
  - every CDP is http://127.0.0.1:<SRV>/crl/<ca>.crl,
  - except the one in Sub CA 2's certificate (Sub CA 1's CRL), which is
    ldap://127.0.0.1:<slapd>/cn=Sub1,dc=example,dc=test?certificateRevocationList;binary.
PKI B: every CDP lists a dead URL first, then http://127.0.0.1:<SRV_B>/crl/.

The server side of the verdict (the first request of a connection waits for
cg_crl_check_chain; 403.13 with X-Certgate-Error client_cert_revoked or
revocation_status_unknown) is the pipeline's hook; `certgate explain` needs
no server at all (TestExplain).
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import unittest

import crl_ldap
import crl_pki
import harness as H
from crl_server import CRLServer
from harness import t

TMP = None
SRV = SRV_B = None
LDAP = None
A = B = None
BACKEND = None
NO_LDAP = None


def setUpModule():
    global TMP, SRV, SRV_B, LDAP, A, B, BACKEND, NO_LDAP
    TMP = H.module_tmp(__name__)
    SRV = CRLServer(TMP.join("pki-a", "crl")).start()
    args = ["--cdp-base", SRV.url().rstrip("/")]
    NO_LDAP = crl_ldap.available()
    if not NO_LDAP:
        LDAP = crl_ldap.Slapd(TMP.path)
        args += ["--ldap-cdp", LDAP.url("Sub1")]
    A = crl_pki.make(TMP.join("pki-a"), *args)
    if LDAP:
        LDAP.start()
        LDAP.publish("Sub1", A.crl_der("sub1"))
    SRV_B = CRLServer(TMP.join("pki-b", "crl")).start()
    dead = H.free_port()
    B = crl_pki.make(TMP.join("pki-b"), "--cdp-base", "http://127.0.0.1:%d/crl" % dead,
                     "--cdp-fallback", SRV_B.url().rstrip("/"))
    BACKEND = H.Backend(TMP, name="revocation-backend").start()


def tearDownModule():
    for stop in (lambda: BACKEND.stop(), lambda: SRV.stop(), lambda: SRV_B.stop(),
                 lambda: LDAP.stop()):
        try:
            stop()
        except Exception:
            pass
    H.cleanup_module_tmp(__name__)


def client_ctx(pki, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = H.client_tls_version()
    ctx.load_verify_locations(H.pki().root_crt)
    ctx.load_cert_chain(pki.crt(name), pki.key(name))
    return ctx


def s_client(port, pki, name, sess_out=None, sess_in=None):
    """openssl s_client with pki's certificate name (H.CLIENT_TLS, session
    files); returns (reused, HTTP status or None, output)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
           "-CAfile", H.pki().root_crt, "-tls1_3" if H.CLIENT_TLS == "1.3" else "-tls1_2", "-ign_eof", "-cert", pki.crt(name), "-key",
           pki.key(name), "-cert_chain", pki.crt(name)]
    if sess_out:
        cmd += ["-sess_out", sess_out]
    if sess_in:
        cmd += ["-sess_in", sess_in]
    req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % H.unique("/s")).encode()
    p = subprocess.run(cmd, input=req, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=t(20))
    out = p.stdout.decode("latin-1")
    m = re.search(r"HTTP/1\.[01] (\d{3})", out)  # not anchored: see H.s_client
    return bool(re.search(r"^Reused, ", out, re.M)), int(m.group(1)) if m else None, out


class HangingListener:
    """Accepts TCP connections on a port and never answers."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.conns = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        for c in self.conns:
            c.close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def global_revocation(fetch_timeout="3s", **more):
    lines = ["revocation:", "  fetch_timeout: %s" % fetch_timeout, "  max_redirects: 2",
             "  allowed_schemes: [http, ldap]"]
    lines += ["  %s: %s" % kv for kv in more.items()]
    return "\n".join(lines) + "\n"


class RevBase(H.Base):

    def setUp(self):
        SRV.reset()
        SRV_B.reset()
        self.addCleanup(SRV.reset)
        self.addCleanup(SRV_B.reset)

    def need_ldap(self):
        if NO_LDAP:
            self.skipTest(NO_LDAP)

    def start_cg(self, pki=None, revocation=None, workers=1, **global_opts):
        cg = H.Certgate(TMP, name=H.unique(self._testMethodName[:40]))
        cg.configure(pki or A, backends={"app": BACKEND.port},
                     revocation=revocation or {"mode": "fetch"},
                     extra=global_revocation(**global_opts), workers=workers)
        cg.start()
        self.addCleanup(cg.stop)
        self.cg = cg
        return cg

    def get(self, name, pki=None, cg=None, timeout=20):
        pki, cg = pki or A, cg or self.cg
        return H.curl(cg.port, H.unique("/rev"), cert=pki.crt(name), key=pki.key(name), timeout=timeout)

    def refused(self, resp, code, cg=None):
        """Asserts a 403.13 refusal with code; returns its detail sentence."""
        cg = cg or self.cg
        rid = self.assert_refusal(resp, 403, code, sub=13, cg=cg)
        return cg.find_log(event="refused", id_=rid)[0]["detail"]

    def assert_in_detail(self, needle, detail):
        self.assertIn(needle, detail, "detail: %s" % detail)


# ===========================================================================

class TestFetch(RevBase):

    def test_good_certificate_200(self):
        self.start_cg()
        r = self.get("alice")
        self.assert_status(r, 200)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 1)
        self.assertEqual(len(SRV.requests("root.crl")), 1)
        self.cg.wait_log(event="crl_updated", url=SRV.url("intermediate.crl"))

    def test_four_level_chain_200_with_ldap_cdp(self):
        self.need_ldap()
        self.start_cg()
        r = self.get("deep")
        self.assert_status(r, 200)
        self.assertEqual(len(SRV.requests("sub2.crl")), 1)
        self.assertEqual(len(SRV.requests("root.crl")), 1)
        self.assertEqual(SRV.requests("sub1.crl"), [])  # Sub CA 1's CRL came over LDAP
        self.cg.wait_log(event="crl_updated", url=LDAP.url("Sub1"))

    def test_leaf_revoked_403_13(self):
        self.start_cg()
        detail = self.refused(self.get("revoked"), "client_cert_revoked")
        serial = A.serial(A.crt("revoked"))
        self.assert_in_detail("CN=revoked", detail)
        self.assert_in_detail("serial %s, depth 0" % serial, detail)
        self.assert_in_detail("reason: keyCompromise", detail)
        self.assert_in_detail("was revoked on 20", detail)
        self.assert_in_detail(SRV.url("intermediate.crl"), detail)

    def test_intermediate_revoked_403_13(self):
        """Sub CA 2 revoked in Sub CA 1's CRL (published over LDAP)."""
        self.need_ldap()
        rev = A.copy(TMP.join("pki-a-sub2-revoked"))
        rev.revoke("sub2", reason="CACompromise")
        LDAP.publish("Sub1", rev.crl_der("sub1"))
        self.addCleanup(LDAP.publish, "Sub1", A.crl_der("sub1"))
        self.start_cg()
        detail = self.refused(self.get("deep"), "client_cert_revoked")
        self.assert_in_detail("CN=Example Dev Sub CA 2", detail)
        self.assert_in_detail("depth 1, an issuing CA certificate", detail)
        self.assert_in_detail("reason: cACompromise", detail)
        self.assert_in_detail(LDAP.url("Sub1"), detail)

    def test_sub_ca_cdp_down_403_13_names_ca_and_url(self):
        self.need_ldap()
        LDAP.stop()
        self.addCleanup(LDAP.start)
        self.start_cg()
        detail = self.refused(self.get("deep"), "revocation_status_unknown")
        self.assert_in_detail("for the certificate \"CN=Example Dev Sub CA 2,O=Example,C=US\"", detail)
        self.assert_in_detail("depth 1", detail)
        self.assert_in_detail("issued by \"CN=Example Dev Sub CA 1,O=Example,C=US\"", detail)
        self.assert_in_detail(LDAP.url("Sub1") + ": connection refused", detail)
        self.assert_in_detail("fail-closed", detail)

    def _unknown_for(self, mode_or_file, needle, name="intermediate.crl", **opts):
        if mode_or_file.startswith("/"):
            SRV.serve_file(name, mode_or_file)
        else:
            SRV.set_mode(mode_or_file, name)
        self.start_cg(**opts)
        detail = self.refused(self.get("alice"), "revocation_status_unknown")
        self.assert_in_detail("for the certificate \"CN=alice,OU=Engineering,O=Example,C=US\"", detail)
        self.assert_in_detail("%s: %s" % (SRV.url(name), needle), detail)
        return detail

    def test_cdp_404(self):
        self._unknown_for("404", "HTTP 404")

    def test_cdp_garbage(self):
        self._unknown_for("garbage", "not a CRL: an HTML or XML document")

    def test_crl_signed_by_wrong_key(self):
        forged = A.forged_crl("intermediate", TMP.join("forged-intermediate.crl"))
        self._unknown_for(forged, "bad signature: the CRL does not verify with the public key of "
                                  "\"CN=Example Dev Intermediate CA,O=Example,C=US\"")

    def test_expired_crl(self):
        exp = A.copy(TMP.join("pki-a-expired"))
        exp.reissue("expired")
        self._unknown_for(exp.crl("intermediate"), "expired: the CRL's nextUpdate")

    def test_oversize_crl(self):
        self._unknown_for("oversize", "too big: larger than 64 KiB (revocation.max_crl_size)",
                          max_crl_size="64k")

    def test_redirect_loop_and_redirect(self):
        self._unknown_for("redirect-loop", "too many redirects: more than 2 (revocation.max_redirects)")
        SRV.reset()
        SRV.set_mode("redirect", "intermediate.crl")
        self.start_cg()
        self.assert_status(self.get("alice"), 200)

    def test_hang_times_out_while_other_clients_are_served(self):
        self.need_ldap()
        SRV.set_mode("hang", "sub2.crl")
        self.start_cg(fetch_timeout="2s", workers=1)
        out = {}

        def deep():
            t0 = time.monotonic()
            out["resp"] = self.get("deep", timeout=30)
            out["secs"] = time.monotonic() - t0
        th = threading.Thread(target=deep)
        th.start()
        H.wait_until(lambda: SRV.requests("sub2.crl"), what="the fetch of sub2.crl")
        t0 = time.monotonic()
        r = self.get("alice")
        took = time.monotonic() - t0
        still_waiting = th.is_alive()
        th.join(t(30))
        self.assert_status(r, 200)
        self.assertLess(took, t(1.5), "alice waited %.2fs behind a hanging fetch" % took)
        self.assertTrue(still_waiting, "the deep request ended before alice's (%.2fs)" % out.get("secs", -1))
        detail = self.refused(out["resp"], "revocation_status_unknown")
        self.assert_in_detail(SRV.url("sub2.crl") + ": timeout: no complete answer within 2s "
                              "(revocation.fetch_timeout)", detail)
        self.assertGreater(out["secs"], 1.8)
        self.assertLess(out["secs"], t(8))

    def test_ldap_cdp_that_hangs_blocks_nobody(self):
        """libcurl's LDAP transfers run on the loop like HTTP ones."""
        self.need_ldap()
        LDAP.stop()
        self.addCleanup(LDAP.start)
        hang = HangingListener(LDAP.port)
        self.addCleanup(hang.close)
        self.start_cg(fetch_timeout="2s", workers=1)
        out = {}
        th = threading.Thread(target=lambda: out.update(resp=self.get("deep", timeout=30)))
        th.start()
        H.wait_until(lambda: hang.conns, what="the LDAP connection")
        t0 = time.monotonic()
        self.assert_status(self.get("alice"), 200)
        self.assertLess(time.monotonic() - t0, t(1.5))
        self.assertTrue(th.is_alive())
        th.join(t(30))
        detail = self.refused(out["resp"], "revocation_status_unknown")
        self.assert_in_detail(LDAP.url("Sub1") + ": timeout", detail)

    def test_connections_share_one_fetch(self):
        SRV.delay_ms = 1000
        self.addCleanup(setattr, SRV, "delay_ms", 2000)
        SRV.set_mode("slow", "intermediate.crl")
        self.start_cg(workers=1)
        results = []
        threads = [threading.Thread(target=lambda: results.append(self.get("alice"))) for _ in range(5)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(t(30))
        self.assertEqual([r.status for r in results], [200] * 5)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 1)

    def test_first_url_dead_second_good_200(self):
        self.start_cg(pki=B)
        self.assert_status(self.get("alice", pki=B), 200)
        self.cg.wait_log(event="crl_updated", url=SRV_B.url("intermediate.crl"))

    def test_first_url_dead_second_404_names_both(self):
        SRV_B.set_mode("404", "intermediate.crl")
        self.start_cg(pki=B)
        detail = self.refused(self.get("alice", pki=B), "revocation_status_unknown")
        self.assert_in_detail("/crl/intermediate.crl: connection refused", detail)
        self.assert_in_detail(SRV_B.url("intermediate.crl") + ": HTTP 404", detail)


class TestHook(RevBase):
    """The pipeline's side of the contract."""

    def test_crl_replaced_while_a_check_waits_is_admitted_once(self):
        """Regression test for a bug in the pipeline hook (today admit.c):
        the revocation check records the store generation when it starts;
        when a CRL replacement lands while it waits (a reload of crl_files
        here, or any background refresh), the revocation callback's
        cg_admit_run() sees a new generation and re-checks; that check
        answers synchronously, its callback admits (forwards) the request, and
        then the outer cg_admit_run() forwards it a second time: two backend
        connections, a 502. The callback now resumes only answers that arrive later."""
        files = TMP.join(H.unique("crlfiles"))
        os.makedirs(files)
        with open(A.crl("root"), "rb") as src, open(os.path.join(files, "root.crl"), "wb") as dst:
            dst.write(src.read())
        SRV.delay_ms = 1500
        self.addCleanup(setattr, SRV, "delay_ms", 2000)
        SRV.set_mode("slow", "intermediate.crl")
        cg = self.start_cg(revocation={"mode": "fetch", "crl_files": [files]})
        out = {}
        th = threading.Thread(target=lambda: out.update(resp=self.get("alice")))
        th.start()
        H.wait_until(lambda: SRV.requests("intermediate.crl"), what="the fetch of intermediate.crl")
        with open(A.crl("sub1"), "rb") as src, open(os.path.join(files, "sub1.crl"), "wb") as dst:
            dst.write(src.read())
        cg.signal(signal.SIGHUP)
        cg.wait_log(event="reload", result="ok")
        th.join(t(30))
        self.assert_status(out["resp"], 200)


class TestModes(RevBase):

    def test_cache_only_with_preloaded_crls(self):
        self.start_cg(revocation={"mode": "cache-only", "crl_files": [os.path.join(A.dir, "crl")]})
        self.assert_status(self.get("alice"), 200)
        self.refused(self.get("revoked"), "client_cert_revoked")
        self.assertEqual(SRV.requests(), [])

    def test_cache_only_without_the_crl(self):
        self.start_cg(revocation={"mode": "cache-only", "crl_files": [A.crl("root")]})
        detail = self.refused(self.get("alice"), "revocation_status_unknown")
        self.assert_in_detail("no CRL of this issuer in crl_files or the cache", detail)
        self.assertEqual(SRV.requests(), [])

    def test_off_accepts_revoked_and_says_so(self):
        cg = self.start_cg(revocation={"mode": "off"})
        self.assert_status(self.get("revoked"), 200)
        cg.wait_log(event="revocation_off")
        self.assertEqual(SRV.requests(), [])


class TestRefresh(RevBase):

    def _short_lived(self, name, seconds):
        c = A.copy(TMP.join(name))
        c.reissue("%ds" % seconds)
        for ca in ("intermediate", "root"):
            SRV.serve_file(ca + ".crl", c.crl(ca))
        return c

    def test_next_update_passed_refetched_without_restart(self):
        c = self._short_lived("pki-a-4s", 4)
        t0 = time.monotonic()
        self.start_cg(refresh_before="0s")
        self.assert_status(self.get("alice"), 200)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 1)
        c.revoke("alice")  # the next CRL, valid 30 days, lists alice
        time.sleep(max(0, 5.2 - (time.monotonic() - t0)))  # nextUpdate has whole seconds
        detail = self.refused(self.get("alice"), "client_cert_revoked")
        self.assert_in_detail("CN=alice", detail)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 2)

    def test_refreshed_before_next_update_and_open_connection_closed(self):
        c = self._short_lived("pki-a-8s", 8)
        t0 = time.monotonic()
        cg = self.start_cg(refresh_before="5s")
        conn = H.TLSClient(cg.port, context=client_ctx(A, "alice"))
        self.addCleanup(conn.close)
        self.assert_status(conn.request("GET", H.unique("/first")), 200)
        c.revoke("alice")
        # Within refresh_before of nextUpdate: answered from the cache at once,
        # and refetched in the background.
        time.sleep(max(0, 3.5 - (time.monotonic() - t0)))
        self.assert_status(self.get("bob"), 200)
        H.wait_until(lambda: len(SRV.requests("intermediate.crl")) >= 2, what="the background refetch")
        cg.wait_log(event="crl_updated", url=SRV.url("intermediate.crl"), count=2)
        # The open connection's next request is judged again: revoked now.
        r = conn.request("GET", H.unique("/second"))
        self.refused(r, "client_cert_revoked")
        self.assertTrue(conn.wait_closed(5), "the revoked connection stayed open")

    def test_resumed_session_checked_against_current_crls(self):
        """A resumed TLS session holds only the leaf: its chain comes from the
        full handshake (the listener's verify pool), and its revocation
        status from the CRLs of now."""
        c = self._short_lived("pki-a-resume", 4)
        t0 = time.monotonic()
        cg = self.start_cg(refresh_before="0s")
        sess = TMP.join(H.unique("sess"))
        reused, status, out = s_client(cg.port, A, "alice", sess_out=sess)
        self.assertFalse(reused, out)
        self.assertEqual(status, 200, out)
        reused, status, out = s_client(cg.port, A, "alice", sess_in=sess)
        self.assertTrue(reused, out)
        self.assertEqual(status, 200, out)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 1)
        c.revoke("alice")
        time.sleep(max(0, 5.2 - (time.monotonic() - t0)))  # nextUpdate has whole seconds
        reused, status, out = s_client(cg.port, A, "alice", sess_in=sess)
        self.assertTrue(reused, out)
        self.assertEqual(status, 403, out)
        self.assertIn("X-Certgate-Error: client_cert_revoked", out)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 2)

    def test_restart_with_cdp_down_uses_persisted_crls(self):
        cache = TMP.join(H.unique("cache"))
        cg = self.start_cg(cache_dir=cache)
        self.assert_status(self.get("alice"), 200)
        cg.stop()
        self.assertTrue(any(f.endswith(".crl") for f in os.listdir(cache)), os.listdir(cache))
        SRV.set_mode("close")  # every CDP down
        seen = len(SRV.requests())
        cg2 = self.start_cg(cache_dir=cache)
        self.assert_status(self.get("alice", cg=cg2), 200)
        self.assertEqual(len(SRV.requests()), seen)


class TestChainCache(RevBase):
    """A full handshake with a chain verified before stops at its learned CA
    (src/x509/chain_cache.h: the signatures above it are not checked again),
    and nothing else changes: the chain still reaches the revocation check
    whole, and a client that does not send its intermediate is refused as
    before."""

    def chain_states(self, name):
        serial = A.serial(A.crt(name))
        return [e.get("chain") for e in self.cg.log_entries()
                if e.get("event") == "tls_handshake" and e.get("cert") == serial]

    def test_second_full_handshake_uses_the_cache(self):
        cg = self.start_cg()
        for _ in range(3):
            self.assert_status(self.get("alice"), 200)  # a new TLS connection each (curl)
        cg.wait_log(event="tls_handshake", count=3)
        self.assertEqual(self.chain_states("alice"), ["verified", "cached", "cached"])
        # bob: same intermediate, new leaf: it stops at the learned
        # intermediate from the first handshake (its own signature checked)
        self.assert_status(self.get("bob"), 200)
        self.assert_status(self.get("bob"), 200)
        cg.wait_log(event="tls_handshake", count=5)
        self.assertEqual(self.chain_states("bob"), ["cached", "cached"])

    def test_cached_chain_still_checked_for_revocation(self):
        rev = A.copy(TMP.join(H.unique("pki-a-int-revoked")))
        rev.revoke("intermediate", reason="CACompromise")
        SRV.serve_file("root.crl", rev.crl("root"))
        cg = self.start_cg()
        for _ in range(2):
            detail = self.refused(self.get("alice"), "client_cert_revoked")
            self.assert_in_detail("depth 1, an issuing CA certificate", detail)
            self.assert_in_detail("reason: cACompromise", detail)
        cg.wait_log(event="tls_handshake", count=2)
        self.assertEqual(self.chain_states("alice"), ["verified", "cached"])

    def test_two_workers_each_verify_once(self):
        """Each worker has its own cache: at most one full verification each."""
        cg = self.start_cg(workers=2)
        for _ in range(8):
            self.assert_status(self.get("alice"), 200)
        cg.wait_log(event="tls_handshake", count=8)
        states = self.chain_states("alice")
        self.assertEqual(len(states), 8, states)
        self.assertLessEqual(states.count("verified"), 2, states)
        self.assertEqual(states.count("verified") + states.count("cached"), 8, states)

    def test_client_without_its_intermediate_refused_after_another_sent_it(self):
        leaf_only = TMP.join(H.unique("alice-leaf") + ".crt")
        H.run_checked(["openssl", "x509", "-in", A.crt("alice"), "-out", leaf_only])
        cg = self.start_cg()
        self.assert_status(self.get("alice"), 200)  # the intermediate is learned
        for _ in range(2):
            r = H.curl(cg.port, H.unique("/leaf"), cert=leaf_only, key=A.key("alice"))
            rid = self.assert_refusal(r, 403, "client_cert_untrusted", sub=16)
            detail = cg.find_log(event="refused", id_=rid)[0]["detail"]
            self.assert_in_detail("neither sent by the client", detail)
        self.assert_status(self.get("alice"), 200)

    def _altered_alice(self, what):
        """alice's certificate file (leaf, then her chain) with the leaf
        changed: "signature" flips a bit of the signature's last byte,
        "subject" changes one letter of the signed name (the signature kept)."""
        import base64
        pem = open(A.crt("alice")).read()
        blocks = re.findall(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----", pem, re.S)
        der = bytearray(base64.b64decode("".join(blocks[0].split())))
        if what == "signature":
            der[-1] ^= 0x01
        else:
            at = bytes(der).rfind(b"alice")
            self.assertGreater(at, 0)
            der[at + 4] ^= 0x02  # "alice" -> "alicg", same length
        out = TMP.join(H.unique("alice-" + what) + ".crt")
        with open(out, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n"
                    % base64.encodebytes(bytes(der)).decode().strip())
            for b in blocks[1:]:
                f.write("-----BEGIN CERTIFICATE-----\n%s-----END CERTIFICATE-----\n" % b)
        return out

    def test_altered_leaf_refused_after_the_genuine_one_was_verified(self):
        """The verified-signature cache of the PSA driver (docs/platform.md)
        answers only the exact signature verified before: once alice's
        genuine certificate was verified (its signature remembered, its
        intermediate learned), her certificate with another signature, or
        with her signature over other contents, is refused as before."""
        cg = self.start_cg()
        self.assert_status(self.get("alice"), 200)
        self.assert_status(self.get("alice"), 200)  # cached chain, remembered signature
        for what in ("signature", "subject"):
            r = H.curl(cg.port, H.unique("/altered"), cert=self._altered_alice(what), key=A.key("alice"))
            rid = self.assert_refusal(r, 403, "client_cert_untrusted", sub=16, note=what)
            detail = cg.find_log(event="refused", id_=rid)[0]["detail"]
            self.assertIn("signature", detail, "%s: %s" % (what, detail))
        self.assert_status(self.get("alice"), 200)

# ===========================================================================
# A client certificate whose CRL Distribution Points are malformed

def _tlv(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    if n < 0x100:
        return bytes([tag, 0x81, n]) + body
    return bytes([tag, 0x82, n >> 8, n & 0xFF]) + body


def malformed_cdp_value():
    """A good distribution point, then one whose long URI is followed
    by a cRLIssuer in BER's indefinite length: OpenSSL (the client here)
    accepts it, certgate's DER reader refuses it after taking the URIs. The
    shape the cert_ext fuzz target found: crl.c leaked those URIs on every
    connection."""
    good = _tlv(0x30, _tlv(0xA0, _tlv(0xA0, _tlv(0x86, b"http://127.0.0.1:9/crl/intermediate.crl"))))
    uri = _tlv(0x86, b"http://127.0.0.1:9/" + b"x" * 1900)  # a client chain over ~5 kB handshakes slowly
    cut = _tlv(0x30, _tlv(0xA0, _tlv(0xA0, uri)) + b"\xa2\x80\x82\x01x\x00\x00")
    return _tlv(0x30, good + cut)


class TestMalformedCdp(H.Base):
    """The revocation step of many connections presenting that certificate:
    each is answered (cache-only, the run's CRLs: 200) and certgate's memory
    does not grow with them; under ASan, certgate exits without a leak."""

    @classmethod
    def setUpClass(cls):
        k = H.pki()
        d = TMP.join(H.unique("cut-cdp"))
        os.makedirs(d)
        cls.key = os.path.join(d, "cut.key")
        cls.crt = os.path.join(d, "cut.crt")
        ext = os.path.join(d, "ext.cnf")
        with open(ext, "w") as f:
            f.write("[v3]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature\n"
                    "extendedKeyUsage = clientAuth\nsubjectKeyIdentifier = hash\n"
                    "authorityKeyIdentifier = keyid:always\n2.5.29.31 = DER:%s\n" % malformed_cdp_value().hex())
        csr = os.path.join(d, "cut.csr")
        H.run_checked(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-out", cls.key])
        H.run_checked(["openssl", "req", "-new", "-key", cls.key, "-subj", "/O=Example/CN=cut-cdp", "-out", csr])
        H.run_checked(["openssl", "x509", "-req", "-in", csr, "-CA", k.intermediate_crt, "-CAkey",
                       k.intermediate_key, "-set_serial", "0x7f01", "-days", "30", "-extfile", ext,
                       "-extensions", "v3", "-out", cls.crt])
        with open(cls.crt, "a") as out, open(k.intermediate_crt) as inter:
            out.write(inter.read())  # the chain, as the dev clients send it
        cls.backend = H.Backend(TMP, name=H.unique("cut-cdp-backend")).start()
        cls.cg = H.Certgate(TMP, name=H.unique("cut-cdp"))
        cls.cg.configure(k, backends={"app": cls.backend.port})
        cls.cg.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.cg.stop()
        finally:
            cls.backend.stop()

    def connections(self, n):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ctx.maximum_version = H.client_tls_version()
        ctx.load_verify_locations(H.pki().root_crt)
        ctx.load_cert_chain(self.crt, self.key)
        for _ in range(n):  # a new TLS session each time: a revocation check each
            with H.TLSClient(self.cg.port, context=ctx) as c:
                r = c.request("GET", "/cut", headers=["Connection: close"])
                self.assert_status(r, 200)

    def test_many_connections_memory_flat(self):
        self.connections(1)
        if H.SANITIZED:  # RSS means little under ASan: its leak check at exit is the test
            self.connections(5)
            self.cg.stop()  # raises on a sanitizer report
            return
        self.connections(50)  # warm-up: pools, caches, allocator
        before = self.cg.memory()["VmRSS"]
        n = 300
        self.connections(n)
        grew_kb = self.cg.memory()["VmRSS"] - before
        # The leak was about 2 kB per connection with this certificate.
        self.assertLess(grew_kb, 256, "RSS grew by %d kB over %d connections presenting a certificate "
                        "with malformed CRL Distribution Points" % (grew_kb, n))


# ===========================================================================
# certgate explain (no server)

class TestExplain(RevBase):

    def explain(self, *args, expect):
        p = H.run_certgate(["explain"] + list(args), timeout=60)
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, expect, msg)
        return p.stdout, msg

    def config(self, revocation=None, **global_opts):
        path = TMP.join(H.unique("explain") + ".yaml")
        with open(path, "w") as f:
            f.write(H.config_yaml(pki=A, port=H.free_port(), log_file=TMP.join("explain.log"),
                                  backends={"app": BACKEND.port},
                                  revocation=revocation or {"mode": "fetch"},
                                  extra=global_revocation(**global_opts)))
        return path

    def test_good(self):
        out, msg = self.explain("--cert", A.crt("alice"), "--ca", A.root_crt, expect=0)
        for piece in ("Chain (leaf first):", "CN=alice,OU=Engineering,O=Example,C=US   (client certificate)", "(trust anchor)",
                      "CDP        " + SRV.url("intermediate.crl"),
                      "EKU        TLS Web Client Authentication (1.3.6.1.5.5.7.3.2)",
                      "Verification: OK (3 certificates", "fetch     " + SRV.url("intermediate.crl"),
                      "-> ok (HTTP 200, ", "entries, CRL number", "result    not revoked",
                      "Verdict: ACCEPTED"):
            self.assertIn(piece, out, msg)

    def test_deep_chain_over_http_and_ldap(self):
        self.need_ldap()
        out, msg = self.explain("--cert", A.crt("deep"), "--ca", A.root_crt, expect=0)
        self.assertIn("Verification: OK (4 certificates", out, msg)
        self.assertIn("fetch     " + LDAP.url("Sub1"), out, msg)
        self.assertIn("fetch     " + SRV.url("sub2.crl"), out, msg)
        self.assertEqual(out.count("result    not revoked"), 3, msg)

    def test_self_signed_anchor_accepted(self):
        """A client certificate that is itself the trust anchor: nothing to
        check for revocation, and the verdict says so (explain used to fall
        into the resumed-session path and answer 403.13 while the server
        accepted the certificate)."""
        d = TMP.join(H.unique("selfsigned"))
        os.makedirs(d)
        crt, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        H.run_checked(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=selfsigned",
                       "-addext", "extendedKeyUsage=clientAuth",
                       "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
                       "-addext", "basicConstraints=critical,CA:TRUE"])
        out, msg = self.explain("--cert", crt, "--ca", crt, expect=0)
        self.assertIn("the certificate is itself a trust anchor: nothing to check", out, msg)
        self.assertIn("Verdict: ACCEPTED", out, msg)
        self.assertNotIn("resumed", out, msg)

    def test_revoked(self):
        out, msg = self.explain("--cert", A.crt("revoked"), "--ca", A.root_crt, expect=1)
        self.assertIn("REVOKED on 20", out, msg)
        self.assertIn("reason keyCompromise", out, msg)
        self.assertIn("Verdict: REFUSED 403.13 client_cert_revoked", out, msg)
        self.assertIn("serial %s" % A.serial(A.crt("revoked")), out, msg)

    def test_unknown_reasons(self):
        forged = A.forged_crl("intermediate", TMP.join("forged-explain.crl"))
        exp = A.copy(TMP.join("pki-a-expired-explain"))
        exp.reissue("expired")
        cases = [("404", "-> HTTP 404 (HTTP 404, "), ("garbage", "-> not a CRL: an HTML or XML document"),
                 (forged, "-> bad signature"), (exp.crl("intermediate"), "-> expired: the CRL's nextUpdate")]
        for what, needle in cases:
            with self.subTest(what=os.path.basename(what)):
                SRV.reset()
                if what.startswith("/"):
                    SRV.serve_file("intermediate.crl", what)
                else:
                    SRV.set_mode(what, "intermediate.crl")
                out, msg = self.explain("--cert", A.crt("alice"), "--ca", A.root_crt, expect=1)
                self.assertIn(needle, out, msg)
                self.assertIn("Verdict: REFUSED 403.13 revocation_status_unknown", out, msg)

    def test_cdp_down_then_fallback(self):
        out, msg = self.explain("--cert", B.crt("alice"), "--ca", B.root_crt, expect=0)
        self.assertIn("-> connection refused", out, msg)
        self.assertIn("fetch     " + SRV_B.url("intermediate.crl"), out, msg)

    def test_hang_times_out(self):
        SRV.set_mode("hang", "intermediate.crl")
        t0 = time.monotonic()
        out, msg = self.explain("--cert", A.crt("alice"), "-c", self.config(fetch_timeout="1s"), expect=1)
        self.assertIn("-> timeout: no complete answer within 1s (revocation.fetch_timeout)", out, msg)
        self.assertLess(time.monotonic() - t0, t(10))

    def test_offline(self):
        out, msg = self.explain("--cert", A.crt("alice"), "--ca", A.root_crt, "--offline", expect=1)
        self.assertIn("mode cache-only, --offline", out, msg)
        self.assertIn("no CRL of this issuer in crl_files or the cache", out, msg)
        out, msg = self.explain("--cert", A.crt("alice"), "--ca", A.root_crt, "--offline",
                                "--crl", os.path.join(A.dir, "crl"), expect=0)
        self.assertIn("from crl_files ", out, msg)
        self.assertEqual(SRV.requests(), [])
        out, msg = self.explain("--cert", A.crt("revoked"), "--ca", A.root_crt, "--offline",
                                "--crl", os.path.join(A.dir, "crl"), expect=1)
        self.assertIn("403.13 client_cert_revoked", out, msg)

    def test_with_config(self):
        cfg = self.config(revocation={"mode": "off"})
        out, msg = self.explain("--cert", A.crt("revoked"), "-c", cfg, expect=0)
        self.assertIn("listener \"main\" of %s" % cfg, out, msg)
        self.assertIn("Revocation: OFF on this listener", out, msg)
        cfg = self.config(revocation={"mode": "cache-only", "crl_files": [os.path.join(A.dir, "crl")]})
        out, msg = self.explain("--cert", A.crt("revoked"), "-c", cfg, expect=1)
        self.assertIn("403.13 client_cert_revoked", out, msg)
        self.explain("--cert", A.crt("alice"), "-c", cfg, "--listener", "nope", expect=2)

    def test_refused_before_revocation(self):
        out, msg = self.explain("--cert", A.crt("expired"), "--ca", A.root_crt, expect=1)
        self.assertIn("Verdict: REFUSED 403.17 client_cert_expired", out, msg)
        self.assertIn("Revocation: not checked", out, msg)
        out, msg = self.explain("--cert", A.crt("untrusted"), "--ca", A.root_crt, expect=1)
        self.assertIn("403.16 client_cert_untrusted", out, msg)
        self.assertIn("self-signed root", out, msg)
        out, msg = self.explain("--cert", A.crt("noeku"), "--ca", A.root_crt, expect=1)
        self.assertIn("403.16 client_cert_eku", out, msg)
        # The leaf alone: its intermediate is missing.
        leaf = TMP.join("alice-leaf-only.crt")
        with open(A.crt("alice")) as f:
            pem = f.read()
        with open(leaf, "w") as f:
            f.write(pem[:pem.index("-----END CERTIFICATE-----") + 26])
        out, msg = self.explain("--cert", leaf, "--ca", A.root_crt, expect=1)
        self.assertIn("neither sent by the client nor one of the trusted client CAs", out, msg)
        out, msg = self.explain("--cert", leaf, "--chain", A.intermediate_crt, "--ca", A.root_crt,
                                "--offline", "--crl", os.path.join(A.dir, "crl"), expect=0)

    def test_usage_errors(self):
        p = H.run_certgate(["explain"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--cert FILE is required", p.stderr)
        p = H.run_certgate(["explain", "--cert", A.crt("alice")])
        self.assertEqual(p.returncode, 2)
        self.assertIn("-c FILE", p.stderr)
        p = H.run_certgate(["explain", "--cert", TMP.join("missing.crt"), "--ca", A.root_crt])
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing.crt", p.stderr)


if __name__ == "__main__":
    unittest.main()


# The same cases with TLS 1.3 clients (harness.tls13): the verdicts, pages and
# resumption rules do not depend on the version.
TestFetchTLS13 = H.tls13(TestFetch)
TestHookTLS13 = H.tls13(TestHook)
TestModesTLS13 = H.tls13(TestModes)
TestRefreshTLS13 = H.tls13(TestRefresh)
TestChainCacheTLS13 = H.tls13(TestChainCache)
TestMalformedCdpTLS13 = H.tls13(TestMalformedCdp)
TestExplainTLS13 = H.tls13(TestExplain)
