"""Several server certificates on one listener, chosen by the client's SNI
(listeners[].tls.sni, src/net/sni.c): each name gets its own certificate (the
served certificate's DER compared with the file's), a one-label wildcard, any
case, no SNI and an unknown name get the listener's own certificate; curl
--resolve verifies each name against its certificate; HTTP/2 (ALPN h2) with
SNI; a Host that differs from the SNI and a session resumed under another
name reach nothing more than a full handshake would (every name of a listener
shares its client CAs, routes and mapping); a reload swaps a name's
certificate without dropping open connections; a bad entry is refused with
file:line:column by `certgate check` and by a reload (the old snapshot stays)."""

import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import unittest

import harness as H

TMP = H.module_tmp(__name__)


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def make_cert(name, sans, days=365):
    """A self-signed P-256 server certificate (CN=name) for the DNS names sans
    ("IP:..." entries as written), valid for days; (crt, key) paths."""
    crt, key = TMP.join(name + ".crt"), TMP.join(name + ".key")
    H.run_checked(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", crt, "-days", str(days), "-subj", "/CN=" + name,
                   "-addext", "subjectAltName=" + ",".join(s if s.startswith("IP:") else "DNS:" + s
                                                          for s in sans)])
    return crt, key


def der_sha256(crt):
    der = H.run_checked(["openssl", "x509", "-in", crt, "-outform", "DER"]).stdout
    return hashlib.sha256(der).hexdigest()


_certs = {}


def certs():
    """The certificates of this module, made once: a (a.example, *.b.example),
    c (c.example), a2 (a's names again: the reload's new certificate), plus the
    PKI's server certificate as "default"."""
    if not _certs:
        _certs["a"] = make_cert("sni-a", ["a.example", "*.b.example"])
        _certs["c"] = make_cert("sni-c", ["c.example"])
        _certs["a2"] = make_cert("sni-a2", ["a.example", "*.b.example"])
        _certs["default"] = (H.pki().server_crt, H.pki().server_key)
    return _certs


def sni_yaml(a="a", c="c"):
    k = certs()
    return ("\n"
            "        - server_names: [a.example, \"*.b.example\"]\n"
            "          certificate: %s\n"
            "          key: %s\n"
            "        - server_names: [C.Example]\n"
            "          certificate: %s\n"
            "          key: %s" % (k[a][0], k[a][1], k[c][0], k[c][1]))


def nocheck_context(cert):
    """TLS 1.2 with client certificate cert (None: none), accepting whatever
    certificate is served: the tests compare it themselves."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(*H.pki().client(cert))
    return ctx


def served(port, sni, cert="alice", alpn=None, request=True, host=None):
    """Handshake with SNI sni (None: no SNI extension); returns (sha256 of the
    served certificate's DER, ALPN, the HTTP status of GET /sni-probe or None)."""
    ctx = nocheck_context(cert)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=H.t(10))
    with ctx.wrap_socket(raw, server_hostname=sni) as s:
        fp = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
        proto = s.selected_alpn_protocol()
        status = None
        if request and proto != "h2":
            s.sendall(b"GET /sni-probe HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" %
                      (host or sni or "localhost").encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            m = re.match(rb"HTTP/1\.1 (\d{3})", data)
            status = int(m.group(1)) if m else None
        return fp, proto, status


def s_client_leaf(port, servername):
    """The certificate openssl s_client was served for -servername as given
    (no case folding, unlike Python's IDNA), as the sha256 of its DER."""
    k = H.pki()
    crt, key = k.client("alice")
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", servername,
                        "-tls1_2", "-cert", crt, "-key", key],
                       input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=H.t(15))
    out = p.stdout.decode("latin-1")
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    assert m, "no certificate in s_client's output:\n" + out[-2000:]
    der = H.run_checked(["openssl", "x509", "-outform", "DER"], input=m.group(0).encode()).stdout
    return hashlib.sha256(der).hexdigest()


class TestSni(H.Shared):

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "tls_extra": {"sni": sni_yaml(), "session_tickets": "true"},
                "routes": [("/", "app"), ("/open", "app", "optional")],
                "listener_extra": "http2: true"}

    def fp(self, name):
        return der_sha256(certs()[name][0])

    def test_each_name_gets_its_certificate(self):
        cases = [("a.example", "a"), ("c.example", "c"), ("x.b.example", "a"), ("b-2.b.example", "a"),
                 (None, "default"), ("unknown.example", "default"), ("y.x.b.example", "default"),
                 ("b.example", "default"), ("localhost", "default")]
        for sni, want in cases:
            fp, _, status = served(self.cg.port, sni)
            self.assertEqual(fp, self.fp(want), "SNI %r: expected the %s certificate\n%s" % (
                sni, want, self.cg.log_tail()))
            self.assertEqual(status, 200, "SNI %r: GET /sni-probe as alice\n%s" % (sni, self.cg.log_tail()))

    def test_names_ignore_case(self):
        for sni, want in [("A.EXAMPLE", "a"), ("c.example", "c"), ("X.B.Example", "a"), ("c.EXAMPLE", "c")]:
            self.assertEqual(s_client_leaf(self.cg.port, sni), self.fp(want), "-servername %s" % sni)

    def test_curl_verifies_each_name(self):
        """A real client checks the name it asked for against the certificate it got."""
        for host, want in [("a.example", "a"), ("c.example", "c"), ("w.b.example", "a")]:
            k = H.pki()
            crt, key = k.client("alice")
            p = subprocess.run(["curl", "-sS", "--http1.1", "--resolve", "%s:%d:127.0.0.1" % (host, self.cg.port),
                                "--cacert", certs()[want][0], "--cert", crt, "--key", key,
                                "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(H.t(20)),
                                "https://%s:%d/curl-sni" % (host, self.cg.port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=H.t(30))
            self.assertEqual(p.returncode, 0, "%s: curl failed: %s" % (host, p.stderr.decode(errors="replace")))
            self.assertEqual(p.stdout.decode(), "200")
        # The default certificate is not one of c.example's: curl trusting only c's certificate
        # refuses it for a name the listener does not list.
        p = subprocess.run(["curl", "-sS", "--resolve", "d.example:%d:127.0.0.1" % self.cg.port,
                            "--cacert", certs()["c"][0], "-o", "/dev/null", "--max-time", str(H.t(20)),
                            "https://d.example:%d/" % self.cg.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=H.t(30))
        self.assertNotEqual(p.returncode, 0, "curl accepted the default certificate as d.example's")

    def test_http2_with_sni(self):
        fp, proto, _ = served(self.cg.port, "c.example", alpn=["h2", "http/1.1"])
        self.assertEqual((fp, proto), (self.fp("c"), "h2"))
        fp, proto, status = served(self.cg.port, "a.example", alpn=["http/1.1"])
        self.assertEqual((fp, proto, status), (self.fp("a"), "http/1.1", 200))
        # curl over HTTP/2, verifying the name against c's certificate.
        crt, key = H.pki().client("bob")
        p = subprocess.run(["curl", "-sS", "--http2", "--resolve", "c.example:%d:127.0.0.1" % self.cg.port,
                            "--cacert", certs()["c"][0], "--cert", crt, "--key", key, "-o", "/dev/null",
                            "-w", "%{http_version} %{http_code}", "--max-time", str(H.t(20)),
                            "https://c.example:%d/h2-sni" % self.cg.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=H.t(30))
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        self.assertEqual(p.stdout.decode(), "2 200")

    def test_host_other_than_sni_gets_nothing_more(self):
        """Routes, client CAs and mapping are the listener's, not a name's: a Host
        that differs from the SNI is served as any Host on this listener, and the
        certificate requirement of a route holds whatever the names say."""
        _, _, status = served(self.cg.port, "a.example", host="c.example")
        self.assertEqual(status, 200)
        _, _, status = served(self.cg.port, "a.example", cert=None, host="c.example")
        self.assertEqual(status, 403, "no client certificate on a route that requires one (SNI a, Host c)")
        with H.TLSClient(self.cg.port, cert=None, server_hostname="c.example",
                         context=nocheck_context(None)) as c:
            r = c.request("GET", "/", host="a.example")
            self.assert_refusal(r, 403, "client_cert_missing", sub=7, cg=self.cg)
        with H.TLSClient(self.cg.port, cert="bob", server_hostname="c.example",
                         context=nocheck_context("bob")) as c:
            r = c.request("GET", "/who", host="a.example")
            self.assert_status(r, 200, self.cg)
            seen = dict((k.lower(), v) for k, v in r.json()["headers"])
            self.assertEqual(H.dn_cn(seen.get("x-client-cert-subject", "")), "bob")

    def test_resumed_under_another_name(self):
        """A session made under a.example and resumed under c.example (a ticket
        the client offers anyway) carries the same client verdict: alice stays
        alice, and a session without a certificate stays without one."""
        k = H.pki()
        for cert, want in [("alice", 200), (None, 403)]:
            sess = TMP.join(H.unique("sni") + ".sess")
            cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.cg.port, "-tls1_2", "-ign_eof"]
            if cert:
                crt, key = k.client(cert)
                cmd += ["-cert", crt, "-key", key, "-cert_chain", crt]  # the leaf's file holds its chain
            req = b"GET /resume HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
            p1 = subprocess.run(cmd + ["-servername", "a.example", "-sess_out", sess], input=req,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=H.t(15))
            p2 = subprocess.run(cmd + ["-servername", "c.example", "-sess_in", sess], input=req,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=H.t(15))
            for p in (p1, p2):
                out = p.stdout.decode("latin-1")
                m = re.search(r"^HTTP/1\.1 (\d{3})", out, re.M)
                self.assertTrue(m, out[-2000:])
                self.assertEqual(int(m.group(1)), want, "cert %s:\n%s" % (cert, out[-2000:]))
            out2 = p2.stdout.decode("latin-1")
            if cert:
                self.assertIn("x-client-cert-subject", out2.lower())
            if cert:
                # The ticket from a.example's handshake did resume under c.example (mbedTLS does not
                # tie tickets to names: every name of a listener is one security context).
                self.cg.wait_log(event="request", path="/resume", resumed="true")

class TestStrictSni(H.Shared):
    """tls.strict_sni: true: no SNI, or a name neither tls.sni nor the listener's
    own certificate (its subjectAltName: localhost) serves, ends the handshake."""

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "tls_extra": {"sni": sni_yaml(), "strict_sni": "true"}}

    def test_known_names_served(self):
        for sni, want in [("a.example", "a"), ("x.b.example", "a"), ("c.example", "c"),
                          ("localhost", "default"), ("LOCALHOST", "default")]:
            if sni.isupper():
                self.assertEqual(s_client_leaf(self.cg.port, sni), der_sha256(certs()[want][0]))
                continue
            fp, _, status = served(self.cg.port, sni)
            self.assertEqual((fp, status), (der_sha256(certs()[want][0]), 200), "SNI %r" % sni)

    def test_unknown_or_no_name_refused(self):
        before = len(self.cg.find_log(event="tls_handshake_failed"))
        with self.assertRaisesRegex(ssl.SSLError, "UNRECOGNIZED_NAME"):
            served(self.cg.port, "unknown.example")
        with self.assertRaisesRegex(ssl.SSLError, "UNRECOGNIZED_NAME"):
            served(self.cg.port, "y.x.b.example")
        with self.assertRaisesRegex(ssl.SSLError, "HANDSHAKE_FAILURE"):
            served(self.cg.port, None)
        self.cg.wait_log(event="tls_handshake_failed", count=before + 3)
        # Other connections are unharmed.
        self.assertEqual(served(self.cg.port, "c.example")[2], 200)


class TestSniReloadAndRefusals(H.Base):

    def start(self, sni):
        be = H.Backend(TMP, name=H.unique("backend")).start()
        self.addCleanup(be.stop)
        cg = H.Certgate(TMP, name=H.unique("sni"))
        self.backend = be
        cg.configure(H.pki(), backends={"app": be.port}, tls_extra={"sni": sni})
        cg.start()
        self.addCleanup(cg.stop)
        return cg

    def test_reload_swaps_certificates_without_dropping_connections(self):
        cg = self.start(sni_yaml())
        a, a2 = der_sha256(certs()["a"][0]), der_sha256(certs()["a2"][0])
        self.assertEqual(served(cg.port, "a.example")[0], a)
        with H.TLSClient(cg.port, server_hostname="a.example", context=nocheck_context("alice")) as keep:
            self.assert_status(keep.request("GET", "/before", host="a.example"), 200, cg)
            cg.configure(H.pki(), backends={"app": self.backend.port}, tls_extra={"sni": sni_yaml(a="a2")})
            cg.signal(signal.SIGHUP)
            cg.wait_log(event="reload", result="ok")
            try:
                r = keep.request("GET", "/after", host="a.example")
            except H.Closed as e:
                self.fail("the connection was dropped by the reload (%s)\n%s" % (e, cg.diagnostics()))
            self.assert_status(r, 200, cg, "on the connection opened before the reload")
            self.assertEqual(served(cg.port, "a.example")[0], a2, "a.example after the reload")
            self.assertEqual(served(cg.port, "c.example")[0], der_sha256(certs()["c"][0]))

        # A reload with a bad entry keeps the running snapshot, with file:line:column.
        k = certs()
        bad = ("\n        - server_names: [d.example]\n          certificate: %s\n          key: %s" %
               (k["c"][0], k["c"][1]))
        cg.configure(H.pki(), backends={"app": self.backend.port}, tls_extra={"sni": bad})
        cg.signal(signal.SIGHUP)
        failed = cg.wait_log(event="reload", result="failed")
        self.assertRegex(failed[-1]["first_error"],
                         r"%s:2\d:25: listeners\[main\]\.tls\.sni\[#1\]\.server_names: \"d\.example\" is not a name "
                         r"of the certificate" % re.escape(cg.cfg_path))
        self.assertEqual(served(cg.port, "a.example")[0], a2, "the old snapshot keeps serving")

    def check(self, sni, own=None):
        cfg = TMP.join(H.unique("check") + ".yaml")
        text = H.config_yaml(pki=H.pki(), port=H.free_port(), log_file=TMP.join("check.log"),
                             backends={"app": 1}, tls_extra={"sni": sni})
        if own:
            text = text.replace(H.pki().server_crt, own[0]).replace(H.pki().server_key, own[1])
        with open(cfg, "w") as f:
            f.write(text)
        p = H.run_certgate(["check", "-c", cfg])
        return cfg, p.returncode, p.stdout + p.stderr

    def test_check_refuses_bad_entries(self):
        k = certs()
        entry = "\n        - server_names: [%s]\n          certificate: %s\n          key: %s"
        # The key of another certificate.
        cfg, rc, out = self.check(entry % ("a.example", k["a"][0], k["c"][1]))
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"%s:\d+:16: error: listeners\[main\]\.tls\.sni\[#1\]\.key .* does not belong to "
                         r"the certificate" % re.escape(cfg))
        # A name the certificate does not cover.
        cfg, rc, out = self.check(entry % ("c.example", k["a"][0], k["a"][1]))
        self.assertEqual(rc, 1, out)
        self.assertIn("\"c.example\" is not a name of the certificate", out)
        # A name twice.
        cfg, rc, out = self.check((entry % ("a.example", k["a"][0], k["a"][1])) +
                                  (entry % ("A.example", k["a2"][0], k["a2"][1])))
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"%s:\d+:\d+: error: listeners\[main\]\.tls\.sni: \"a\.example\" is listed twice"
                         % re.escape(cfg))
        # strict_sni with a listener certificate that has no DNS name and nothing in tls.sni.
        ip_crt, ip_key = make_cert("ip-only", ["IP:127.0.0.1"])
        cfg, rc, out = self.check("[]\n      strict_sni: true", own=(ip_crt, ip_key))
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"%s:\d+:\d+: error: listeners\[main\]\.tls\.strict_sni: tls\.certificate .* has no "
                         r"DNS name in its subjectAltName, so it serves no client and every handshake would be "
                         r"refused" % re.escape(cfg))
        cfg, rc, out = self.check(sni_yaml() + "\n      strict_sni: true", own=(ip_crt, ip_key))
        self.assertEqual(rc, 0, out)
        self.assertIn("  certificate %s: the names of its subjectAltName only (strict_sni: other names and no SNI "
                      "refused)\n" % ip_crt, out)
        self.assertIn("only the names of tls.sni are served", out)
        # A good one passes, without a word.
        cfg, rc, out = self.check(sni_yaml())
        self.assertEqual(rc, 0, out)
        self.assertIn("(0 warning(s))", out)
        # check says which certificate serves which name.
        self.assertIn("  certificate %s: clients without SNI and names no sni entry lists\n" % H.pki().server_crt, out)
        self.assertIn("  certificate %s: SNI a.example, *.b.example\n" % certs()["a"][0], out)
        self.assertIn("  certificate %s: SNI c.example\n" % certs()["c"][0], out)
        # A key every user can read: a warning naming the entry's key at its position.
        open_key = TMP.join(H.unique("open") + ".key")
        with open(certs()["c"][1], "rb") as f, open(open_key, "wb") as g:
            g.write(f.read())
        os.chmod(open_key, 0o644)
        cfg, rc, out = self.check(entry % ("c.example", certs()["c"][0], open_key))
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"%s:\d+:16: warning: tls\.sni key %s is readable by every user" %
                         (re.escape(cfg), re.escape(open_key)))
        # A certificate near its end loads, with a warning at its position.
        soon = make_cert("soon", ["soon.example"], days=5)
        cfg, rc, out = self.check(entry % ("soon.example", soon[0], soon[1]))
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"%s:\d+:24: warning: listeners\[main\]\.tls\.sni\[#1\]\.certificate \"%s\" "
                         r"expires on .* \(in [45] day\(s\)\): renew it" % (re.escape(cfg), re.escape(soon[0])))


if __name__ == "__main__":
    unittest.main()
