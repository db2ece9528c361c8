"""OCSP integration tests: a real certgate asking a real responder (openssl's, behind a loopback
HTTP server: ocsp_responder.py) for the chain root -> intermediate -> client of a gen.sh PKI
whose CRLs a CRL server serves (the fallback), under each revocation.policy: good, revoked,
unknown, the responder down with and without the CRL fallback, a forged responder, the CRL
first then OCSP, answers cached until their nextUpdate, persisted in cache_dir across a restart
(and a tampered file refused), one query for many connections on several workers, and pages
that never name the responder.
"""

import concurrent.futures
import glob
import os
import time
import unittest

import crl_pki
import harness as H
from crl_server import CRLServer
from ocsp_responder import OCSPResponder

TMP = None
SRV = None
OCSP = None
A = None
BACKEND = None


def setUpModule():
    global TMP, SRV, OCSP, A, BACKEND
    TMP = H.module_tmp(__name__)
    SRV = CRLServer(TMP.join("pki", "crl")).start()
    A = crl_pki.make(TMP.join("pki"), "--cdp-base", SRV.url().rstrip("/"))
    OCSP = OCSPResponder(A, TMP.path).start()
    BACKEND = H.Backend(TMP, name="ocsp-backend").start()


def tearDownModule():
    for stop in (lambda: BACKEND.stop(), lambda: SRV.stop(), lambda: OCSP.stop()):
        try:
            stop()
        except Exception:
            pass
    H.cleanup_module_tmp(__name__)


class OCSPBase(H.Base):

    def setUp(self):
        SRV.reset()
        OCSP.reset()
        self.addCleanup(SRV.reset)
        self.addCleanup(OCSP.reset)

    def start_cg(self, policy, responder=None, workers=1, **more):
        cg = H.Certgate(TMP, name=H.unique(self._testMethodName[:40]))
        revocation = {"mode": "fetch", "policy": policy,
                      "ocsp_responder": '"%s"' % (responder or OCSP.url())}
        extra = "revocation:\n  fetch_timeout: 3s\n  ocsp_timeout: 3s\n  allowed_schemes: [http]\n"
        extra += "".join("  %s: %s\n" % kv for kv in more.items())
        cg.configure(A, backends={"app": BACKEND.port}, revocation=revocation, extra=extra, workers=workers)
        cg.start()
        self.addCleanup(cg.stop)
        self.cg = cg
        return cg

    def get(self, name):
        return H.curl(self.cg.port, H.unique("/ocsp"), cert=A.crt(name), key=A.key(name), timeout=20)

    def refused(self, resp, code):
        rid = self.assert_refusal(resp, 403, code, sub=13, cg=self.cg)
        return self.cg.find_log(event="refused", id_=rid)[0]["detail"]

    def assert_in(self, needle, detail):
        self.assertIn(needle, detail, "detail: %s" % detail)


class TestOCSP(OCSPBase):

    def test_good_200_leaf_and_intermediate_asked_no_crl(self):
        self.start_cg("ocsp")
        self.assert_status(self.get("alice"), 200)
        self.assertEqual(OCSP.requests("intermediate"), ["intermediate"])
        self.assertEqual(OCSP.requests("root"), ["root"])
        self.assertEqual(OCSP.methods, ["GET", "GET"])  # small requests: GET (RFC 5019 2.1.1)
        self.assertEqual(SRV.requests("intermediate.crl"), [])
        self.cg.wait_log(event="ocsp_answer", responder=OCSP.url(), status="good")
        # Cached until nextUpdate: the next connection asks nobody.
        self.assert_status(self.get("alice"), 200)
        self.assertEqual(len(OCSP.requests()), 2)

    def test_revoked_403_13_names_responder(self):
        self.start_cg("ocsp")
        resp = self.get("revoked")
        detail = self.refused(resp, "client_cert_revoked")
        self.assert_in("CN=revoked", detail)
        self.assert_in("reason: keyCompromise", detail)
        self.assert_in("according to the OCSP responder %s" % OCSP.url(), detail)
        self.assert_in("answer signed by \"CN=Example Dev Intermediate CA", detail)
        self.cg.wait_log(event="ocsp_answer", status="revoked")
        self.assertNotIn(OCSP.url(), resp.text)
        self.assertNotIn("127.0.0.1", resp.text)

    def test_unknown_403_13(self):
        OCSP.mode = "unknown"
        self.start_cg("ocsp")
        detail = self.refused(self.get("alice"), "revocation_status_unknown")
        self.assert_in("OCSP: the responder %s answers \"unknown\"" % OCSP.url(), detail)
        self.assert_in("revocation.policy ocsp", detail)

    def test_unknown_then_crl_200(self):
        OCSP.mode = "unknown"
        self.start_cg("ocsp_then_crl")
        self.assert_status(self.get("alice"), 200)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 1)

    def test_responder_down_without_fallback_403_13(self):
        dead = "http://127.0.0.1:%d/" % H.free_port()
        self.start_cg("ocsp", responder=dead)
        resp = self.get("alice")
        detail = self.refused(resp, "revocation_status_unknown")
        self.assert_in("could not be established: OCSP: %s: connection refused" % dead, detail)
        self.cg.wait_log(event="ocsp_failed")
        # The page is the user's: no responder, no address, no reason of the operator's.
        for secret in (dead, "127.0.0.1", "connection refused", "OCSP"):
            self.assertNotIn(secret, resp.text)

    def test_responder_down_crl_fallback_200_and_revoked_by_crl(self):
        dead = "http://127.0.0.1:%d/" % H.free_port()
        self.start_cg("ocsp_then_crl", responder=dead)
        self.assert_status(self.get("alice"), 200)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 1)
        detail = self.refused(self.get("revoked"), "client_cert_revoked")
        self.assert_in(SRV.url("intermediate.crl"), detail)

    def test_responder_down_crl_down_403_13_says_both(self):
        dead = "http://127.0.0.1:%d/" % H.free_port()
        SRV.set_mode("404", "intermediate.crl")
        self.start_cg("ocsp_then_crl", responder=dead)
        detail = self.refused(self.get("alice"), "revocation_status_unknown")
        self.assert_in("OCSP: %s: connection refused; then %s: HTTP 404" % (dead, SRV.url("intermediate.crl")),
                       detail)

    def test_forged_response_refused(self):
        OCSP.mode = "forged"
        self.start_cg("ocsp")
        detail = self.refused(self.get("revoked"), "revocation_status_unknown")
        # The refusal names the certificate nearest the anchor; the leaf's answer was forged too.
        self.assert_in("OCSP: %s: the OCSP response's signature does not verify with the key of "
                       "\"CN=Example Dev Root CA" % OCSP.url(), detail)
        self.assert_in("other certificates of the chain are unknown too", detail)
        self.cg.wait_log(event="ocsp_failed", attempts=lambda v: "does not verify with the key of \"CN=Example "
                         "Dev Intermediate CA" in v)

    def test_crl_then_ocsp(self):
        SRV.set_mode("404", "intermediate.crl")
        self.start_cg("crl_then_ocsp")
        self.assert_status(self.get("alice"), 200)
        self.assertEqual(OCSP.requests("intermediate"), ["intermediate"])
        self.assertEqual(OCSP.requests("root"), [])  # the root's CRL answered for the intermediate


class TestOCSPShared(OCSPBase):

    def test_persisted_answers_serve_a_restart_responder_down(self):
        cache = TMP.join(H.unique("ocsp-cache"))
        self.start_cg("ocsp", cache_dir='"%s"' % cache)
        self.assert_status(self.get("alice"), 200)
        self.assertEqual(len(OCSP.requests()), 2)  # the leaf's and the intermediate's
        files, deadline = [], time.monotonic() + H.t(5)
        while len(files) < 2 and time.monotonic() < deadline:  # written on the thread pool, after the answer
            time.sleep(0.05)
            files = sorted(glob.glob(os.path.join(cache, "ocsp", "*.ocsp")))
        self.assertEqual(len(files), 2, files)
        self.cg.stop()

        # Restarted, its responder down: both answers come from disk, verified again.
        dead = "http://127.0.0.1:%d/" % H.free_port()
        self.start_cg("ocsp", responder=dead, cache_dir='"%s"' % cache)
        self.assert_status(self.get("alice"), 200)
        self.cg.wait_log(event="ocsp_answer", source="cache_dir", count=2)
        self.assertEqual(len(OCSP.requests()), 2)
        self.assertEqual(self.cg.find_log(event="ocsp_failed"), [])
        self.cg.stop()

        # A persisted file tampered with (one signature byte) is refused, not believed. The file's
        # mtime is its expiry (ocsp_files.c): keep it, or start-up prunes the file as expired once
        # the clock has passed the second of the write, and the signature is never checked.
        st = os.stat(files[0])
        with open(files[0], "r+b") as f:
            der = bytearray(f.read())
            der[-5] ^= 0x01
            f.seek(0)
            f.write(der)
        os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns))
        self.start_cg("ocsp", responder=dead, cache_dir='"%s"' % cache)
        detail = self.refused(self.get("alice"), "revocation_status_unknown")
        self.assert_in("OCSP: %s: connection refused" % dead, detail)
        self.cg.wait_log(event="ocsp_cache_file_refused")
        self.assertFalse(os.path.exists(files[0]))

    def test_one_query_for_many_connections_on_several_workers(self):
        OCSP.delay = 0.5  # every connection arrives while the first query is in flight
        self.start_cg("ocsp", workers=4)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda _: self.get("alice").status, range(16)))
        self.assertEqual(statuses, [200] * 16)
        self.assertEqual(OCSP.requests("intermediate"), ["intermediate"])
        self.assertEqual(OCSP.requests("root"), ["root"])
        self.assertEqual(len(self.cg.find_log(event="ocsp_answer")), 2)


class TestExplainOCSP(OCSPBase):

    def config(self, policy, responder=None):
        path = TMP.join(H.unique("explain") + ".yaml")
        revocation = {"mode": "fetch", "policy": policy, "ocsp_responder": '"%s"' % (responder or OCSP.url())}
        with open(path, "w") as f:
            f.write(H.config_yaml(pki=A, port=H.free_port(), log_file=TMP.join("explain.log"),
                                  backends={"app": BACKEND.port}, revocation=revocation,
                                  extra="revocation:\n  allowed_schemes: [http]\n"))
        return path

    def test_explain_names_responder_answer_and_signer(self):
        p = H.run_certgate(["explain", "--cert", A.crt("revoked"), "-c", self.config("ocsp")], timeout=60)
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, 1, msg)
        for piece in ("OCSP      responder %s answers revoked" % OCSP.url(),
                      "signed by \"CN=Example Dev Intermediate CA,O=Example,C=US\"",
                      "result    REVOKED on ", "(OCSP responder %s" % OCSP.url()):
            self.assertIn(piece, p.stdout, msg)
        p = H.run_certgate(["explain", "--cert", A.crt("alice"), "-c", self.config("ocsp_then_crl")], timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("OCSP      responder %s answers good" % OCSP.url(), p.stdout)
        self.assertIn("result    not revoked: the OCSP responder %s answers good (signed by \"CN=Example Dev "
                      "Root CA" % OCSP.url(), p.stdout)
        # --offline asks no responder.
        n = len(OCSP.requests())
        p = H.run_certgate(["explain", "--offline", "--cert", A.crt("alice"), "-c", self.config("ocsp")], timeout=60)
        self.assertIn("OCSP: not asked (certgate explain --offline)", p.stdout + p.stderr)
        self.assertEqual(len(OCSP.requests()), n)

    def test_explain_names_why_the_responder_failed(self):
        dead = "http://127.0.0.1:%d/" % H.free_port()
        p = H.run_certgate(["explain", "--cert", A.crt("alice"), "-c", self.config("ocsp", dead)], timeout=60)
        msg = "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, 1, msg)
        self.assertIn("OCSP: %s: connection refused" % dead, p.stdout, msg)
        self.assertIn("403.13", p.stdout, msg)


if __name__ == "__main__":
    unittest.main()


# The same cases with TLS 1.3 clients (harness.tls13): the verdicts, pages and
# resumption rules do not depend on the version.
TestOCSPTLS13 = H.tls13(TestOCSP)
