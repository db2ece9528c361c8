"""Refusal pages in a real browser: Debian's chromium, headless, with the
client certificate in an NSS database (one HOME per identity) and the
AutoSelectCertificateForUrls managed policy, so no prompt appears.

TestBrowser   alice reaches the backend (and, with the Kerberos lab, /whoami
              shows her principal through delegation); the revoked
              certificate gets the 403.13 page (user's words, request id, no
              operator sentence); no certificate gets the 403.7 page with the
              accepted CA names; an expired certificate is not offered by
              chromium, so the user sees 403.7 too. Screenshots of every page,
              desktop and phone sized, are kept as artifacts under
              <build>/test-artifacts/browser/ (build: the directory of
              $CERTGATE) and their paths printed.

Needs root (the policy is machine-wide: /etc/chromium/policies/managed/; the
test writes one uniquely named file there and removes it, also on failure),
chromium, and certutil/pk12util (libnss3-tools). Skipped, with the reason,
without them. Every chromium run is bounded in time and runs in its own
process group, killed whole when it is done or late.
"""

import atexit
import html
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import harness as H
import kdc_lab
from test_tls13 import mbedtls_option

REALM = "EXAMPLE.TEST"
SPN = "HTTP/backend.example.test"
POLICY_DIR = "/etc/chromium/policies/managed"
SUPPORT = "Call the IT help desk at 555-0100"
CHROMIUM_TIMEOUT = 60  # seconds per run (x3 sanitized, by H.t)


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def missing_requirements():
    if os.geteuid() != 0:
        return "needs root: the chromium policy that selects the certificate lives in %s" % POLICY_DIR
    for tool, pkg in (("chromium", "chromium"), ("certutil", "libnss3-tools"), ("pk12util", "libnss3-tools")):
        if not shutil.which(tool):
            return "%s not found (install %s: bash scripts/install-deps test)" % (tool, pkg)
    return None


def artifacts_dir():
    """<build>/test-artifacts/browser: kept after the run (CI uploads it)."""
    build = os.path.dirname(os.path.abspath(H.CERTGATE))
    d = os.path.join(build, "test-artifacts", "browser")
    os.makedirs(d, exist_ok=True)
    return d


def lab_missing():
    try:
        kdc_lab.Lab(H.module_tmp(__name__).join("probe"))._check_tools()
    except kdc_lab.LabError as e:
        return str(e)
    return None


class Policy:
    """A uniquely named managed policy file auto-selecting the client
    certificate for one origin; removed by remove() (idempotent), and at
    exit should the process end without it."""

    def __init__(self, origin):
        self.created_dirs = []
        d = POLICY_DIR
        while not os.path.isdir(d):
            self.created_dirs.insert(0, d)
            d = os.path.dirname(d)
        for d in self.created_dirs:
            os.mkdir(d, 0o755)
        self.path = os.path.join(POLICY_DIR, "certgate-test-%d-%s.json" % (os.getpid(), H.unique("p")))
        atexit.register(self.remove)
        pattern = json.dumps({"pattern": origin, "filter": {}})
        with open(self.path, "w") as f:
            json.dump({"AutoSelectCertificateForUrls": [pattern]}, f)

    def remove(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        for d in reversed(self.created_dirs):  # only the directories this test made, if left empty
            try:
                os.rmdir(d)
            except OSError:
                pass
        self.created_dirs = []


class Identity:
    """A HOME with its own NSS database (trusting the dev root) and chromium
    profile; with a client certificate (leaf, key, intermediate) or none."""

    def __init__(self, pki, home, cert=None):
        self.home = home
        self.profile = os.path.join(home, "profile")
        db = os.path.join(home, ".pki", "nssdb")
        os.makedirs(db, exist_ok=True)
        os.makedirs(self.profile, exist_ok=True)
        H.run_checked(["certutil", "-N", "-d", "sql:" + db, "--empty-password"])
        H.run_checked(["certutil", "-A", "-d", "sql:" + db, "-n", "dev-root", "-t", "CT,C,C", "-i", pki.root_crt])
        if cert:
            crt, key = pki.client(cert)
            p12 = os.path.join(home, cert + ".p12")
            H.run_checked(["openssl", "pkcs12", "-export", "-in", crt, "-inkey", key, "-certfile",
                           pki.intermediate_crt, "-name", cert, "-passout", "pass:", "-out", p12])
            H.run_checked(["pk12util", "-d", "sql:" + db, "-i", p12, "-W", ""])


def run_chromium(ident, url, *args, timeout=CHROMIUM_TIMEOUT):
    """chromium --headless ARGS URL as ident, in its own process group:
    killed whole (crashpad and renderer children included) when it exits or
    after timeout seconds. Returns (exit status, stdout, stderr)."""
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--disable-background-networking", "--disable-sync",
           "--user-data-dir=" + ident.profile] + list(args) + [url]
    env = dict(os.environ, HOME=ident.home)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, start_new_session=True)
    H._register(p)
    try:
        out, err = p.communicate(timeout=H.t(timeout))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError("chromium did not finish within %ds: %s\n%s" % (
            H.t(timeout), " ".join(cmd), H.tail(err.decode(errors="replace"), 20)))
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # what it left behind
        except ProcessLookupError:
            pass
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def visible_text(dom):
    """The text a person reads: no <style>/<head>, tags dropped, entities
    decoded, spaces collapsed."""
    body = re.sub(r"(?is)<head>.*?</head>|<style.*?</style>", " ", dom)
    text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", body))
    return re.sub(r"\s+", " ", text).strip()


class TestBrowser(H.Base):
    @classmethod
    def setUpClass(cls):
        why = missing_requirements()
        if why:
            raise unittest.SkipTest(why)
        cls.pki = H.pki()
        if not os.path.exists(cls.pki.client("revoked")[0]):
            raise unittest.SkipTest("the test PKI has no revoked client certificate")
        tmp = H.module_tmp(__name__)
        cls.tmp = tmp
        cls.artifacts = artifacts_dir()
        cls.lab = None
        cls.lab_why = lab_missing()
        cls.backend = H.Backend(tmp).start()
        cls.cg = H.Certgate(tmp, name="browser")
        try:
            if not cls.lab_why:
                d = tmp.join("lab")
                os.makedirs(d, exist_ok=True)
                cls.lab = kdc_lab.Lab(d).start()
            cls.cg.write_config(cls.config())
            cls.cg.start()
            cls.idents = {name: Identity(cls.pki, tmp.join("home-" + (name or "none")), name)
                          for name in ("alice", "revoked", "expired", None)}
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.__dict__.get("cg") is not None and cls.cg.proc is not None:
                cls.cg.stop(check=True)
        finally:
            if cls.__dict__.get("backend") is not None:
                cls.backend.stop()
            if cls.__dict__.get("lab") is not None:
                cls.lab.stop()

    @classmethod
    def config(cls):
        """The echo backend on / (certificate required), and with the lab
        /whoami through Kerberos delegation with alice mapped to
        alice@EXAMPLE.TEST. Revocation from the run's CRLs (revoked is in
        them); the user level with a support line."""
        out = ["# written by tests/integration/test_browser.py",
               "process:", "  allow_root: true",
               "logging:", "  level: debug", "  file: %s" % cls.cg.log_path,
               "errors:", '  support: "%s"' % SUPPORT]
        if cls.lab:
            mapping = cls.tmp.join("browser-mapping.yaml")
            with open(mapping, "w") as f:
                f.write("default_realm: %s\none_to_one:\n  - name: alice\n    sha256: %s\n    principal: alice@%s\n"
                        % (REALM, cls.pki.cert_info("alice")["sha256"], REALM))
            out += ["kerberos:", "  keytab: %s" % cls.lab.proxy_keytab, "  principal: HTTP/proxy.example.test",
                    "  realm: %s" % REALM, "  krb5_config: %s" % cls.lab.krb5_conf, "  kdc_timeout: 5s"]
        out += ["backends:", "  - name: echo", "    url: http://127.0.0.1:%d" % cls.backend.port]
        if cls.lab:
            out += ["  - name: lab", "    url: %s" % cls.lab.backend_url, "    kerberos:", "      spn: %s" % SPN]
        client_ca = cls.pki.root_crt
        if mbedtls_option() == "system":
            # A system mbedTLS lists no CA names in TLS 1.3's CertificateRequest
            # (certgate's patch 0003 is not in it): Chromium then sends its leaf
            # alone, so the intermediate must be trusted too (docs/tls.md).
            client_ca = cls.tmp.join("browser-client-ca.pem")
            with open(client_ca, "w") as f:
                for ca in (cls.pki.root_crt, cls.pki.intermediate_crt):
                    with open(ca) as c:
                        f.write(c.read())
        out += ["listeners:", "  - name: main", "    address: 127.0.0.1", "    port: %d" % cls.cg.port,
                "    tls:", "      certificate: %s" % cls.pki.server_crt, "      key: %s" % cls.pki.server_key,
                "      client_ca: %s" % client_ca,
                "    forward_client_cert: true",
                "    revocation:", "      mode: cache-only", "      crl_files: [%s]" % os.path.join(cls.pki.dir, "crl")]
        if cls.lab:
            out += ["    mapping: %s" % mapping]
        out += ["    routes:", "      - path: /", "        backend: echo", "        client_cert: required"]
        if cls.lab:
            out += ["      - path: /whoami", "        backend: lab"]
        return "\n".join(out) + "\n"

    def setUp(self):
        self.origin = "https://127.0.0.1:%d" % self.cg.port
        policy = Policy(self.origin)
        self.addCleanup(policy.remove)

    # -- helpers --

    def load(self, who, path, shot, dark=False):
        """Loads path as who (a client name, None: no certificate): the
        rendered DOM, and screenshots (desktop and phone sized; dark: also
        the phone in dark mode) kept as artifacts. Returns (dom, visible
        text)."""
        ident = self.idents[who]
        url = self.origin + path
        rc, dom, err = run_chromium(ident, url, "--dump-dom", "--window-size=1200,900")
        msg = H.Explain(lambda: "chromium exit %d for %s\n--- stderr ---\n%s\n--- DOM ---\n%s\n%s" % (
            rc, url, H.tail(err, 20), dom[:3000], self.cg.diagnostics(20)))
        self.assertEqual(rc, 0, msg)
        self.assertIn("<html", dom, msg)
        shots = [("1200,900", "", ()), ("390,844", "-phone", ())]
        if dark:
            shots.append(("390,844", "-phone-dark", ("--force-dark-mode",)))
        for size, suffix, extra in shots:
            png = os.path.join(self.artifacts, "%s%s.png" % (shot, suffix))
            if os.path.exists(png):
                os.unlink(png)
            rc, _, err = run_chromium(ident, url, "--screenshot=" + png, "--window-size=" + size,
                                      "--hide-scrollbars", *extra)
            self.assertEqual(rc, 0, "chromium --screenshot exit %d\n%s" % (rc, H.tail(err, 20)))
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", png)
            print("    screenshot: %s" % png, flush=True)
        return dom, visible_text(dom)

    def refusal_in_log(self, text, code):
        """The request id the page shows, checked against certgate's log: a
        refusal with this code and id. Returns the log line's operator
        sentence."""
        m = re.search(r"Request id: (\S+)", text)
        self.assertIsNotNone(m, "no request id on the page:\n" + text)
        rid = m.group(1)
        entry = self.cg.wait_log(event="refused", id_=rid)[0]
        self.assertEqual(entry["code"], code, entry)
        return entry["detail"]

    def assert_user_page(self, dom, text, status, kind_title):
        msg = "--- page text ---\n" + text
        self.assertIn("%s \u2014 %s" % (status, kind_title), text, msg)
        self.assertIn("What you can do", text, msg)
        self.assertIn(SUPPORT, text, msg)
        self.assertNotIn("For the operator", text, msg)
        self.assertNotIn('class="operator"', dom, msg)

    # -- the cases --

    def test_alice_reaches_the_backend(self):
        """alice's certificate, chosen by the policy, reaches the echo
        backend: the page shows the subject certgate forwarded."""
        dom, text = self.load("alice", "/", "alice-echo")
        msg = "--- page text ---\n" + text[:3000]
        self.assertIn("X-Client-Cert-Subject", text, msg)
        self.assertIn("CN=alice", text, msg)
        self.assertEqual(self.cg.find_log(event="refused"), [], self.cg.diagnostics(20))

    def test_alice_whoami_through_delegation(self):
        """The issue's case: /whoami as alice shows alice@EXAMPLE.TEST, the
        user the backend (Apache, Negotiate) authenticated through S4U."""
        if not self.lab:
            self.skipTest("the Kerberos lab is not available: %s" % self.lab_why)
        dom, text = self.load("alice", "/whoami", "alice-whoami")
        self.assertIn('"remote_user": "alice@%s"' % REALM, text, "--- page text ---\n" + text[:3000]
                      + "\n" + self.cg.diagnostics(20))

    def test_revoked_certificate_page(self):
        dom, text = self.load("revoked", "/", "revoked-403.13")
        self.assert_user_page(dom, text, "403.13", "Your certificate has been revoked")
        detail = self.refusal_in_log(text, "client_cert_revoked")
        msg = "--- page text ---\n%s\n--- operator sentence ---\n%s" % (text, detail)
        self.assertTrue(detail, msg)
        self.assertNotIn(detail[:40], text, msg)
        self.assertNotIn("serial", text.lower(), msg)
        self.assertNotIn("CN=revoked", text, msg)
        self.assertIn("Error code: client_cert_revoked", text, msg)

    def test_no_certificate_page(self):
        dom, text = self.load(None, "/", "none-403.7", dark=True)
        self.assert_no_certificate_page(dom, text)

    def test_expired_certificate_is_not_offered(self):
        """chromium holds back an expired certificate: the person sees the
        403.7 page, whose text explains exactly that."""
        dom, text = self.load("expired", "/", "expired-403.7")
        self.assert_no_certificate_page(dom, text)
        self.assertIn("hold back a certificate that has expired", text)
        self.assertEqual(self.cg.find_log(code="client_cert_expired"), [], self.cg.diagnostics(20))

    def assert_no_certificate_page(self, dom, text):
        self.assert_user_page(dom, text, "403.7", "Certificate required")
        self.refusal_in_log(text, "client_cert_missing")
        root_cn = self.pki.cert_info(self.pki.root_crt)["subject_cn"]
        msg = "--- page text ---\n" + text
        self.assertIn("This site accepts certificates issued by:", text, msg)
        items = re.findall(r"(?s)<ul class=\"cas\">(.*?)</ul>", dom)
        self.assertEqual(len(items), 1, msg)
        self.assertIn("CN=" + root_cn, items[0], msg)


if __name__ == "__main__":
    unittest.main()
