"""TLS 1.3 on listeners (net/tls.c, docs/tls.md): tls.min_version /
max_version enforced (a client outside them refused in the handshake, with a
log line that names the settings), the TLS 1.3 cipher suites of Mozilla's
"intermediate" profile and no others, TLS 1.2 still AEAD only, the key
exchange groups, no 0-RTT, the CA names CertificateRequest carries in each version, and
a testssl.sh scan (Debian's package) with no weak protocol, cipher or
renegotiation finding.

The verdicts, pages, revocation and resumption rules on TLS 1.3 are the
existing suites run again with TLS 1.3 clients (the *TLS13 classes of
test_core, test_revocation, test_ocsp, test_tickets, test_limits, test_pages,
test_cert_headers; harness.tls13)."""

import json
import os
import re
import shutil
import subprocess
import time
import unittest

import harness as H
from harness import t

TMP = H.module_tmp(__name__)


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def s_client(port, *args, cert="alice", request=None, timeout=15):
    """openssl s_client with the run's PKI and the given options; sends
    request (default: GET / with Connection: close). Returns the output."""
    k = H.pki()
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
           "-CAfile", k.root_crt, "-ign_eof"] + list(args)
    if cert:
        crt, key = k.client(cert)
        cmd += ["-cert", crt, "-key", key, "-cert_chain", crt]
    if request is None:
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    p = subprocess.run(cmd, input=request, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=t(timeout))
    return p.stdout.decode("latin-1")


def mbedtls_option():
    """-Dmbedtls= of the build the certgate under test comes from ("bundled",
    "system"), or "bundled" when that build is not found."""
    path = os.path.join(os.path.dirname(H.CERTGATE), "meson-info", "intro-buildoptions.json")
    try:
        with open(path) as f:
            return next((o["value"] for o in json.load(f) if o["name"] == "mbedtls"), "bundled")
    except (OSError, ValueError):
        return "bundled"


def negotiated(out):
    """(protocol, cipher) of s_client's summary line, or None (no handshake)."""
    m = re.search(r"^(?:New|Reused), (TLSv1\.[23]), Cipher is (\S+)", out, re.M)
    return (m.group(1), m.group(2)) if m and m.group(2) != "(NONE)" else None


def status_of(out):
    m = re.search(r"HTTP/1\.1 (\d{3})", out)  # not anchored: see H.s_client
    return int(m.group(1)) if m else None


class VersionCase(H.Base):
    """One certgate per test, its listener's versions set."""

    def start(self, **tls):
        be = getattr(self, "backend", None)
        if be is None:
            self.backend = be = H.Backend(TMP, name=H.unique("backend")).start()
            self.addCleanup(be.stop)
        cg = H.Certgate(TMP, name=H.unique("cg"))
        cg.configure(H.pki(), backends={"app": be.port},
                     tls_extra={k: '"%s"' % v for k, v in tls.items()})
        cg.start()
        self.addCleanup(cg.stop)
        self.cg = cg
        return cg

    def curl(self, cg, version, cert="alice"):
        return H.curl(cg.port, "/" + H.unique("v"), cert=cert,
                      extra_args=["--tlsv" + version, "--tls-max", version])

    def assert_served(self, cg, version):
        r = self.curl(cg, version)
        self.assert_status(r, 200, cg, note="a TLS %s client" % version)
        entry = cg.wait_log(event="request", id_=r.header("X-Request-Id"))[-1]
        self.assertEqual(entry.get("tls"), "TLSv" + version, entry["_raw"])

    def assert_refused(self, cg, version, reason):
        before = len(cg.find_log(event="tls_handshake_failed"))
        r = self.curl(cg, version)
        self.assertEqual(r.status, 0, self.explain(r, cg, "a TLS %s client was served" % version))
        self.assertNotEqual(r.curl_exit, 0, self.explain(r, cg))
        entry = cg.wait_log(event="tls_handshake_failed", count=before + 1)[-1]
        self.assertIn(reason, entry.get("reason", ""), entry["_raw"])


class TestVersions(VersionCase):
    def test_default_serves_both_versions(self):
        cg = self.start()
        self.assert_served(cg, "1.2")
        self.assert_served(cg, "1.3")

    def test_tls13_only_refuses_a_tls12_client(self):
        cg = self.start(min_version="1.3")
        self.assert_refused(cg, "1.2", "the client offers no TLS version this listener accepts "
                                       "(tls.min_version, tls.max_version)")
        self.assert_served(cg, "1.3")

    def test_tls12_only_refuses_a_tls13_client(self):
        cg = self.start(max_version="1.2")
        self.assert_refused(cg, "1.3", "this listener accepts TLS 1.2 only, tls.max_version")
        self.assert_served(cg, "1.2")

    def test_min_above_max_is_refused_at_load(self):
        cfg = H.config_yaml(pki=H.pki(), port=H.free_port(), log_file=TMP.join(H.unique("l")),
                            backends={"app": 1}, tls_extra={"min_version": '"1.3"', "max_version": '"1.2"'})
        path = TMP.write(H.unique("minmax") + ".yaml", cfg)
        p = H.run_certgate(["check", "-c", path])
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        m = re.search(r":(\d+):(\d+): error: listeners\[main\]\.tls\.min_version: min_version 1\.3 is above "
                      r"max_version 1\.2", p.stderr)
        self.assertTrue(m, p.stderr)
        line = cfg.splitlines()[int(m.group(1)) - 1]
        self.assertIn("min_version", line, (line, p.stderr))


class TestSuitesAndGroups(H.Shared):
    """The default listener (1.2 and 1.3)."""

    def assert_handshake(self, out, version, cipher=None):
        got = negotiated(out)
        self.assertIsNotNone(got, out[-3000:])
        self.assertEqual(got[0], version, out[-3000:])
        if cipher:
            self.assertEqual(got[1], cipher, out[-3000:])
        self.assertEqual(status_of(out), 200, out[-3000:])

    def test_tls13_suites_are_mozilla_intermediate(self):
        for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"):
            with self.subTest(suite=suite):
                self.assert_handshake(s_client(self.cg.port, "-tls1_3", "-ciphersuites", suite), "TLSv1.3",
                                      suite)
        for suite in ("TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"):
            with self.subTest(suite=suite):
                out = s_client(self.cg.port, "-tls1_3", "-ciphersuites", suite)
                self.assertIsNone(negotiated(out), out[-3000:])

    def test_tls12_keeps_aead_only(self):
        self.assert_handshake(s_client(self.cg.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"),
                              "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
        for cipher in ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA", "AES128-GCM-SHA256"):
            with self.subTest(cipher=cipher):
                out = s_client(self.cg.port, "-tls1_2", "-cipher", cipher)
                self.assertIsNone(negotiated(out), out[-3000:])

    def test_groups(self):
        # OpenSSL 3.0 (Debian 12) says "Server Temp Key:", 3.5 (Debian 13) "Peer Temp Key:".
        for group, shown in (("X25519", "X25519"), ("P-256", "ECDH, prime256v1")):
            with self.subTest(group=group):
                out = s_client(self.cg.port, "-tls1_3", "-groups", group)
                self.assert_handshake(out, "TLSv1.3")
                self.assertRegex(out, r"(Server|Peer) Temp Key: %s\b" % re.escape(shown))
        # A finite-field group only: nothing in common (certgate has no DHE).
        out = s_client(self.cg.port, "-tls1_3", "-groups", "ffdhe2048")
        self.assertIsNone(negotiated(out), out[-3000:])
        # A client that guesses a group certgate does not take first is asked
        # again (HelloRetryRequest) and gets X25519.
        out = s_client(self.cg.port, "-tls1_3", "-groups", "ffdhe2048:X25519")
        self.assert_handshake(out, "TLSv1.3")

    def test_no_early_data(self):
        sess = TMP.join(H.unique("early") + ".sess")
        out = s_client(self.cg.port, "-tls1_3", "-sess_out", sess)
        self.assert_handshake(out, "TLSv1.3")
        text = H.run_checked(["openssl", "sess_id", "-in", sess, "-noout", "-text"]).stdout.decode()
        self.assertRegex(text, r"Max Early Data: 0\b", text)  # the ticket allows none
        early = TMP.write(H.unique("early") + ".txt", "GET /early-%s HTTP/1.1\r\nHost: localhost\r\n\r\n"
                          % H.unique("x"))
        out = s_client(self.cg.port, "-tls1_3", "-sess_in", sess, "-early_data", early)
        self.assertRegex(out, r"(?m)^Reused, TLSv1\.3", out[-3000:])
        self.assertNotIn("Early data was accepted", out)
        self.assert_not_forwarded("/early-")

    def test_certificate_request_names_per_version(self):
        # Both versions list the accepted CAs in the CertificateRequest
        # (tls.client_ca_names): TLS 1.2 in the message, TLS 1.3 in its
        # certificate_authorities extension, which mbedTLS 3.6 does not write
        # (certgate's patch 0002 does: a system mbedTLS sends none, and a TLS
        # 1.3 client then gets the names only on the 403.7 page; docs/tls.md).
        root_cn = H.pki().cert_info(H.pki().root_crt)["subject_cn"]
        for version in ("-tls1_2", "-tls1_3"):
            out = s_client(self.cg.port, version, cert=None)
            if version == "-tls1_3" and mbedtls_option() == "system":
                self.assertIn("No client certificate CA names sent", out, out[-3000:])
                continue
            self.assertIn("Acceptable client certificate CA names", out, out[-3000:])
            names = out.split("Acceptable client certificate CA names", 1)[1].split("---")[0]
            self.assertIn(root_cn, names, out[-3000:])
        r = H.curl(self.cg.port, "/", cert=None, extra_args=["--tlsv1.3", "--tls-max", "1.3"])
        self.assert_refusal(r, 403, "client_cert_missing", sub=7)
        self.assertIn(root_cn, r.text)

    def test_tls13_session_keeps_its_identity_across_resumptions(self):
        # A session resumed from a resumed session: the ticket each
        # resumption issues carries the full handshake's certificate on.
        sess1, sess2 = TMP.join(H.unique("r1") + ".sess"), TMP.join(H.unique("r2") + ".sess")
        s_client(self.cg.port, "-tls1_3", "-sess_out", sess1)
        out = s_client(self.cg.port, "-tls1_3", "-sess_in", sess1, "-sess_out", sess2)
        self.assertRegex(out, r"(?m)^Reused, TLSv1\.3", out[-3000:])
        out = s_client(self.cg.port, "-tls1_3", "-sess_in", sess2, cert="bob")  # bob's key: unused
        self.assertRegex(out, r"(?m)^Reused, TLSv1\.3", out[-3000:])
        self.assertEqual(status_of(out), 200, out[-3000:])
        self.assertIn(H.pki().cert_info("alice")["sha256"], out)  # the backend saw alice
        self.assertNotIn(H.pki().cert_info("bob")["sha256"], out)


@unittest.skipUnless(shutil.which("testssl"), "testssl.sh is not installed (scripts/install-deps test)")
class TestScan(H.Shared):
    """testssl.sh (Debian's 3.0.x, run with the system openssl) against the
    default listener: protocols, cipher categories, forward secrecy,
    renegotiation, each cipher per protocol. No client certificate: certgate
    completes the handshake without one (the verdict is a page)."""

    @H.long_running(120)
    def test_no_weak_protocol_cipher_or_renegotiation(self):
        js = TMP.join(H.unique("testssl") + ".json")
        t0 = time.monotonic()
        p = subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off", "--jsonfile", js,
                            "-p", "-s", "-f", "-R", "-E", "--ip", "127.0.0.1", "localhost:%d" % self.cg.port],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=t(240))
        out = p.stdout.decode(errors="replace")
        self.assertTrue(os.path.exists(js), "testssl.sh wrote no JSON (exit %d):\n%s" % (p.returncode, out[-3000:]))
        with open(js) as f:
            findings = {e["id"]: e for e in json.load(f)}
        scan_s = time.monotonic() - t0

        def finding(id_):
            self.assertIn(id_, findings, "testssl.sh has no %s finding:\n%s" % (id_, out[-3000:]))
            return findings[id_]["finding"]

        for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            self.assertEqual(finding(old), "not offered", old)
        self.assertEqual(finding("TLS1_2"), "offered")
        self.assertTrue(finding("TLS1_3").startswith("offered"), finding("TLS1_3"))
        # testssl.sh 3.0 (Debian 12) calls CBC suites AVERAGE; 3.2 (Debian 13)
        # OBSOLETED, and has a category for AEAD without forward secrecy.
        later = [w for w in ("cipherlist_AVERAGE", "cipherlist_OBSOLETED", "cipherlist_STRONG_NOFS") if w in findings]
        self.assertTrue({"cipherlist_AVERAGE", "cipherlist_OBSOLETED"} & set(later),
                        "testssl.sh has no CBC category:\n%s" % out[-3000:])
        for weak in ["cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                     "cipherlist_3DES_IDEA"] + later:
            self.assertEqual(finding(weak), "not offered", weak)
        self.assertIn("not vulnerable", finding("secure_client_renego"))
        self.assertEqual(finding("secure_renego"), "supported")  # RFC 5746's extension, no renegotiation
        # Every cipher offered, per protocol: AEAD with (EC)DHE only.
        offered = {e["id"]: e["finding"] for e in findings.values() if e["id"].startswith("cipher-tls")}
        self.assertTrue(offered, out[-3000:])
        tls13 = {v.split()[3] for k, v in offered.items() if k.startswith("cipher-tls1_3")}
        self.assertEqual(tls13, {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                 "TLS_CHACHA20_POLY1305_SHA256"}, offered)
        for k, v in offered.items():
            if k.startswith("cipher-tls1_2"):
                name = v.split()[3]
                self.assertRegex(name, r"^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$",
                                 v)
            else:
                self.assertTrue(k.startswith("cipher-tls1_3"), (k, v))
        # No finding above INFO/OK anywhere (the GOST engine note is about the scanner's openssl).
        bad = [(e["id"], e["severity"], e["finding"]) for e in findings.values()
               if e["severity"] not in ("OK", "INFO") and e["id"] != "engine_problem"]
        self.assertEqual(bad, [], "testssl.sh findings (scan %.0f s):\n%s" % (scan_s, out[-3000:]))
