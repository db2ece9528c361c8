"""Certificate -> principal mapping, end to end: a real certgate whose listener
has a `mapping:` file (docs/mapping.md), real clients, the test backend.

What the proxy is expected to do with a mapping (the contract these tests
check):
  - the mapping runs once per connection, at its first request;
  - ALLOW: the request goes to the backend with `X-Certgate-Principal:
    <principal>` (a client-supplied header of that name never passes), and
    the request log line has principal=<principal>;
  - DENY: the refusal page 403.12, X-Certgate-Error: mapper_denied;
  - no mapping: 401.2, X-Certgate-Error: no_mapping;
  - SIGHUP, and a change of the mapping file, reload the configuration:
    existing connections keep the principal they were mapped to, new
    connections get the new mapping; a mapping file with errors is logged
    (with its file:line:column) and the mapping in force is kept.
Plus `certgate import-iis` on the IIS examples (tests/data/mapping-iis-*.config,
extracted from the seeds), then `certgate check` on what it wrote.
"""

import os
import re
import signal
import subprocess
import time

import harness as H
from harness import t

TMP = None
PKI = None
EXTRA = {}   # name -> (certificate path, key path): clients issued here
DATA = os.path.join(H.SOURCE_ROOT, "tests", "data")
IIS_SEEDS = ("mapping-iis-web.config", "mapping-iis-subapp-good.config",
             "mapping-iis-subapp-not-good.config")


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()
    # Two more valid clients, from the run's intermediate CA: one the deny
    # mapping refuses, one no mapping matches.
    EXTRA["dave"] = issue_client("dave", "/C=US/O=Example/OU=Contractors/CN=dave")
    EXTRA["erin"] = issue_client("erin", "/C=US/O=Example/OU=Marketing/CN=erin")


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def issue_client(name, subject):
    """A client certificate (leaf + intermediate in one PEM file) issued by
    the run's intermediate CA, valid for client authentication."""
    env = dict(os.environ, OPENSSL_CONF="/dev/null")
    key, csr, crt = (TMP.join("%s.%s" % (name, ext)) for ext in ("key", "csr", "crt"))
    ext = TMP.write("%s.ext" % name, "[v3]\nbasicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n"
                    "subjectAltName = email:%s@example.test\n" % name)
    H.run_checked(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-out", key], env=env)
    H.run_checked(["openssl", "req", "-new", "-key", key, "-subj", subject, "-out", csr], env=env)
    H.run_checked(["openssl", "x509", "-req", "-in", csr, "-CA", PKI.intermediate_crt, "-CAkey",
                   PKI.intermediate_key, "-set_serial", "0x%x" % int.from_bytes(os.urandom(8), "big"),
                   "-days", "30", "-extfile", ext, "-extensions", "v3", "-out", crt], env=env)
    with open(crt, "a") as out, open(PKI.intermediate_crt) as chain:
        out.write(chain.read())
    return crt, key


def curl_as(cg, who, path, **kw):
    """curl with a dev PKI client (by name) or one issued here."""
    if who in EXTRA:
        crt, key = EXTRA[who]
        return cg.curl(path, cert=crt, key=key, **kw)
    return cg.curl(path, cert=who, **kw)


def mapping_yaml(bob_principal="{subject.CN}@EXAMPLE.TEST", extra=""):
    """alice one-to-one by SHA-256; contractors denied; Sales many-to-one."""
    return ("default_realm: EXAMPLE.TEST\n"
            "one_to_one:\n"
            "  - name: alice\n"
            "    sha256: %s\n"
            "    principal: alice@EXAMPLE.TEST\n"
            "many_to_one:\n"
            "  - name: contractors\n"
            "    action: deny\n"
            "    rules: [{field: subject, sub_field: OU, pattern: Contractors}]\n"
            "  - name: sales\n"
            "    principal: \"%s\"\n"
            "    rules:\n"
            "      - {field: subject, sub_field: OU, pattern: Sales}\n"
            "      - {field: issuer, sub_field: CN, pattern: \"* Intermediate CA\"}\n%s"
            % (PKI.cert_info("alice")["sha256"], bob_principal, extra))


def write_atomically(path, text):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def principals_seen(resp):
    """The X-Certgate-Principal headers the backend received."""
    return H.headers_named(resp.backend_headers(), "X-Certgate-Principal")


class MappingBase(H.Base):

    def start_certgate(self, name, mapping_text):
        """A certgate (stopped at cleanup) whose listener maps with a fresh
        mapping file; returns (certgate, mapping path)."""
        cg = H.Certgate(TMP, name=H.unique(name))
        path = TMP.join(cg.name + "-mapping.yaml")
        with open(path, "w") as f:
            f.write(mapping_text)
        cg.write_config(H.config_yaml(pki=PKI, port=cg.port, log_file=cg.log_path,
                                      backends={"app": self.backend.port},
                                      listener_extra="mapping: %s" % path))
        cg.start()
        return cg, path

    def assert_principal(self, resp, principal, cg=None, note=""):
        cg = cg or self.cg
        self.assert_status(resp, 200, cg, note)
        self.assertEqual(principals_seen(resp), [principal], self.explain(resp, cg, note))


# ===========================================================================
# One certgate, one mapping: each outcome

class TestMapping(MappingBase):

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name="TestMapping-backend").start()
        cls.cg = None
        try:
            cls.cg, cls.mapping_path = MappingBase.start_certgate(cls, "mapping", mapping_yaml())
        except BaseException:
            cls.backend.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.__dict__.get("cg") is not None:
                cls.cg.stop(check=True)
        finally:
            cls.backend.stop()

    def test_alice_one_to_one(self):
        m = H.unique("alice")
        r = self.cg.curl("/whoami/" + m, cert="alice")
        self.assert_principal(r, "alice@EXAMPLE.TEST")
        line = self.cg.wait_log(event="request", path=lambda p: m in p)[0]
        self.assertEqual(line.get("principal"), "alice@EXAMPLE.TEST", line["_raw"])

    def test_bob_many_to_one_with_template(self):
        m = H.unique("bob")
        r = self.cg.curl("/whoami/" + m, cert="bob")
        self.assert_principal(r, "bob@EXAMPLE.TEST")
        line = self.cg.wait_log(event="request", path=lambda p: m in p)[0]
        self.assertEqual(line.get("principal"), "bob@EXAMPLE.TEST", line["_raw"])

    def test_deny_mapping_is_403_12(self):
        m = H.unique("dave")
        r = curl_as(self.cg, "dave", "/denied/" + m)
        rid = self.assert_refusal(r, 403, "mapper_denied", sub=12)
        self.assert_not_forwarded(m)
        detail = self.cg.wait_log(event="refused", id_=rid)[0]["detail"]
        self.assertIn('"contractors"', detail)
        self.assertIn("CN=dave", detail)

    def test_no_mapping_is_401_2_and_says_why(self):
        m = H.unique("erin")
        r = curl_as(self.cg, "erin", "/nomap/" + m)
        rid = self.assert_refusal(r, 401, "no_mapping", sub=2)
        self.assert_not_forwarded(m)
        detail = self.cg.wait_log(event="refused", id_=rid)[0]["detail"]
        for piece in ("CN=erin,OU=Marketing,O=Example,C=US", "serial",
                      '"contractors": subject.OU "Marketing" does not match "Contractors"',
                      '"sales": subject.OU "Marketing" does not match "Sales"'):
            self.assertIn(piece, detail, detail)

    def test_every_request_of_a_connection_carries_the_principal(self):
        with self.cg.tls("bob") as c:
            for i in range(3):
                r = c.request("GET", "/keepalive/%d" % i)
                self.assert_principal(r, "bob@EXAMPLE.TEST", note="request %d" % i)

    def test_client_cannot_send_its_own_principal(self):
        r = self.cg.curl("/spoof", cert="bob",
                         headers=["X-Certgate-Principal: administrator@EXAMPLE.TEST"])
        self.assert_principal(r, "bob@EXAMPLE.TEST",
                              note="a client-supplied X-Certgate-Principal reached the backend")


# ===========================================================================
# Reloads: a certgate per test

class TestMappingReload(MappingBase):

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name="TestMappingReload-backend").start()

    @classmethod
    def tearDownClass(cls):
        if cls.__dict__.get("backend") is not None:
            cls.backend.stop()

    def new(self, name, text=None):
        cg, path = self.start_certgate(name, text or mapping_yaml())
        self.cg = cg
        self.addCleanup(cg.stop)
        return cg, path

    def test_sighup_changes_principal_for_new_connections_only(self):
        cg, path = self.new("sighup")
        with cg.tls("bob") as keep:
            self.assert_principal(keep.request("GET", "/before"), "bob@EXAMPLE.TEST")
            write_atomically(path, mapping_yaml(bob_principal="sales-{subject.CN}@EXAMPLE.TEST"))
            cg.signal(signal.SIGHUP)
            cg.wait_log(event="reload", result="ok")
            try:
                r = keep.request("GET", "/after-on-old-connection")
            except H.Closed as e:
                self.fail("the reload dropped an existing connection (%s)\n%s" % (e, cg.diagnostics()))
            self.assert_principal(r, "bob@EXAMPLE.TEST",
                                  note="an existing connection keeps the principal it was mapped to")
        self.assert_principal(cg.curl("/after", cert="bob"), "sales-bob@EXAMPLE.TEST",
                              note="a new connection uses the reloaded mapping")
        self.assert_principal(cg.curl("/after", cert="alice"), "alice@EXAMPLE.TEST")

    def test_changing_the_mapping_file_reloads(self):
        cg, path = self.new("fswatch")
        self.assert_principal(cg.curl("/before", cert="bob"), "bob@EXAMPLE.TEST")
        # rewritten in place, as an editor without backup files does
        with open(path, "w") as f:
            f.write(mapping_yaml(bob_principal="{subject.CN|upper}@EXAMPLE.TEST"))
        cg.wait_log(timeout=10, event="reload", result="ok")
        self.assert_principal(cg.curl("/after", cert="bob"), "BOB@EXAMPLE.TEST")
        # replaced by rename, as most editors and configuration tools do
        write_atomically(path, mapping_yaml(bob_principal="{san.email|local}@EXAMPLE.TEST"))
        cg.wait_log(timeout=10, count=2, event="reload", result="ok")
        self.assert_principal(cg.curl("/after-rename", cert="bob"), "bob@EXAMPLE.TEST")
        self.assertTrue(cg.find_log(event="reload", trigger="mapping_file_changed"), cg.log_tail())

    def test_broken_mapping_keeps_the_mapping_in_force(self):
        cg, path = self.new("broken")
        good = H.read_text(path)
        broken = mapping_yaml(bob_principal="nobody@EXAMPLE.TEST",
                              extra="    bogus_mapping_key: 1\n")
        lineno = broken.splitlines().index("    bogus_mapping_key: 1") + 1
        write_atomically(path, broken)
        cg.signal(signal.SIGHUP)
        cg.wait_log(timeout=10, event="reload", result="failed")
        # the mapping file's own error, with its position, is in the log
        errs = cg.wait_log(event="config", severity="error",
                           file=lambda f: f.endswith(os.path.basename(path)))
        self.assertTrue(any(e.get("line") == str(lineno) and e.get("column") == "5" and
                            "bogus_mapping_key" in e.get("message", "") for e in errs),
                        "no error for %s:%d:5 in the log\n%s" % (path, lineno, cg.log_tail()))
        self.assertTrue(cg.running(), cg.diagnostics())
        self.assert_principal(cg.curl("/still", cert="bob"), "bob@EXAMPLE.TEST",
                              note="the old mapping must stay in force")
        self.assert_principal(cg.curl("/still", cert="alice"), "alice@EXAMPLE.TEST")
        # fixing the file brings the new mapping in
        write_atomically(path, good.replace("{subject.CN}@EXAMPLE.TEST", "fixed-{subject.CN}@EXAMPLE.TEST"))
        cg.signal(signal.SIGHUP)
        cg.wait_log(timeout=10, event="reload", result="ok")
        self.assert_principal(cg.curl("/fixed", cert="bob"), "fixed-bob@EXAMPLE.TEST")

    def test_imported_iis_mapping_serves(self):
        """An IIS one-to-one mapping of alice (certificate as base64 on one
        line, DOMAIN\\user), imported and used as is."""
        b64 = "".join(H.read_text(PKI.client("alice")[0]).split("-----BEGIN CERTIFICATE-----")[1]
                      .split("-----END CERTIFICATE-----")[0].split())
        xml = TMP.write(H.unique("iis") + ".config", (
            '<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n <system.webServer>\n'
            '  <security>\n   <authentication>\n'
            '    <iisClientCertificateMappingAuthentication enabled="true">\n'
            '     <oneToOneMappings>\n'
            '      <add userName="EXAMPLE.TEST\\alice" password="[enc:AesProvider:x:enc]" '
            'certificate="%s" />\n'
            '     </oneToOneMappings>\n    </iisClientCertificateMappingAuthentication>\n'
            '   </authentication>\n  </security>\n </system.webServer>\n</configuration>\n' % b64))
        out = xml + ".yaml"
        p = H.run_certgate(["import-iis", "-o", out, xml])
        self.assertEqual(p.returncode, 0, "import-iis: exit %d\n%s" % (p.returncode, p.stderr))
        self.assertIn("password", p.stderr)  # the dropped password is reported
        cg, _ = self.new("imported", H.read_text(out))
        self.assert_principal(cg.curl("/iis", cert="alice"), "alice@EXAMPLE.TEST")
        self.assert_refusal(cg.curl("/iis", cert="bob"), 401, "no_mapping", sub=2, cg=cg)


# ===========================================================================
# certgate import-iis and certgate check (no server)

class TestImportIIS(H.Base):

    def import_iis(self, fixture, *args):
        src = os.path.join(DATA, fixture)
        out = TMP.join(H.unique(fixture) + ".yaml")
        p = H.run_certgate(["import-iis"] + list(args) + ["-o", out, src])
        return p, src, out

    def check_with_mapping(self, mapping_path):
        cfg = TMP.join(H.unique("check") + ".yaml")
        with open(cfg, "w") as f:
            f.write(H.config_yaml(pki=PKI, port=H.free_port(), log_file=TMP.join("check.log"),
                                  backends={"app": 8080}, listener_extra="mapping: %s" % mapping_path))
        return H.run_certgate(["check", "-c", cfg])

    def msg(self, p, out=None):
        return "exit %d\nstderr:\n%s\noutput:\n%s" % (p.returncode, p.stderr, H.read_text(out) if out else "")

    def test_seed_examples_convert_and_check(self):
        for fixture in IIS_SEEDS:
            with self.subTest(fixture=fixture):
                p, src, out = self.import_iis(fixture)
                # The seeds' certificates are placeholders: reported with their line,
                # kept commented out, exit status 1; the output is still written.
                self.assertEqual(p.returncode, 1, self.msg(p, out))
                bad = [ln for ln in p.stderr.splitlines()
                       if re.match(re.escape(src) + r":\d+: error: one-to-one mapping not converted: "
                                   r"certificate \"(MIIFwjD|BASE-64-Cert)", ln)]
                self.assertTrue(bad, self.msg(p, out))
                self.assertTrue(all("0x80093102" in ln for ln in bad), self.msg(p))
                text = H.read_text(out)
                self.assertIn("# NOT CONVERTED", text)
                self.assertNotIn("[enc:", text, "a password reached the output")
                self.assertIn("dropped", p.stderr)
                c = self.check_with_mapping(out)
                self.assertEqual(c.returncode, 0, self.msg(c, out))
                self.assertIn("configuration OK", c.stdout)

    def test_seed_locations_are_reported(self):
        p, src, _ = self.import_iis("mapping-iis-subapp-not-good.config")
        self.assertIn('found <location path="Client-Cert-Mapping-IIS-App">', p.stderr)
        self.assertIn('found <location path="Client-Cert-Mapping-IIS-App/Sub-Application">', p.stderr)
        # the wall of that seed: IIS ignores the section below site level
        self.assertRegex(p.stderr, r"Sub-Application\"> is below site level: IIS ignores")

    def test_application_host_every_kind(self):
        p, src, out = self.import_iis("mapping-iis-applicationHost.config",
                                      "--domain", "EXAMPLE=EXAMPLE.TEST", "--domain", "OTHER=OTHER.TEST")
        self.assertEqual(p.returncode, 1, self.msg(p, out))
        text = H.read_text(out)
        for piece in ('principal: "alice@EXAMPLE.TEST"', 'name: "Contractors"', "action: deny",
                      'principal: "sales-svc@EXAMPLE.TEST"', 'sub_field: ST', 'pattern: "What\\\\?"',
                      'principal: "partner@OTHER.TEST"', "enabled: false", "case_sensitive: false"):
            self.assertIn(piece, text, self.msg(p, out))
        for piece in ("the same certificate as the entry at line 34", 'certificateField "Thumbprint"',
                      'certificate "MIIFwjDwAwggEKAo...O5U="', 'certificate "BASE-64-Cert"',
                      'logonMethod="ClearText" dropped'):
            self.assertIn(piece, p.stderr, self.msg(p))
        self.assertRegex(p.stderr, re.escape(src) + r":73: error: one-to-one mapping not converted")
        c = self.check_with_mapping(out)
        self.assertEqual(c.returncode, 0, self.msg(c, out))

    def test_stdout_and_realm(self):
        src = os.path.join(DATA, "mapping-iis-web.config")
        p = H.run_certgate(["import-iis", "--realm", "EXAMPLE.TEST", src])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("default_realm: \"EXAMPLE.TEST\"", p.stdout)
        self.assertIn("one_to_one: []", p.stdout)

    def test_unreadable_input(self):
        p = H.run_certgate(["import-iis", os.path.join(DATA, "does-not-exist.config")])
        self.assertEqual(p.returncode, 2, p.stderr)
        notxml = TMP.write("not-xml.config", "<configuration><unclosed></configuration>\n")
        p = H.run_certgate(["import-iis", notxml])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("%s:1: error: XML:" % notxml, p.stderr)
        p = H.run_certgate(["import-iis"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage:", p.stderr)

    def test_check_reports_mapping_errors_with_position(self):
        path = TMP.write(H.unique("bad-mapping") + ".yaml",
                         "one_to_one:\n  - certificate: \"MIIFwjDwAwggEKAo...O5U=\"\n"
                         "    principal: x@EXAMPLE.TEST\n")
        c = self.check_with_mapping(path)
        self.assertEqual(c.returncode, 1, c.stderr)
        self.assertIn("%s:2:18: error: one_to_one[#1].certificate:" % path, c.stderr)
        self.assertIn("0x80093102", c.stderr)

    def test_demo_and_example_mappings_check(self):
        for name in ("demo-mapping.yaml", "mapping.example.yaml"):
            with self.subTest(name=name):
                c = self.check_with_mapping(os.path.join(H.SOURCE_ROOT, "conf", name))
                self.assertEqual(c.returncode, 0, c.stderr)
                self.assertNotIn("warning", c.stderr)
