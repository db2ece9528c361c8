"""Who the backend is told the client is, end to end.

- Names render faithfully (src/x509/dn.h): X-Client-Cert-Subject / -Issuer carry
  the RFC 4514 text with non-ASCII bytes as \\XX escapes (printable ASCII,
  lossless), the request log line the same text with UTF-8 kept; a leading
  space, a multi-valued RDN and a ~2,000-byte name come through exactly; a
  name over 4,096 bytes of text is sent as its SHA-256 with
  X-Client-Cert-Subject-Form: sha256.
- Mapping compares decoded values: "Jörg Müller" as UTF8String and as
  BMPString is one name, "Jürg Møller" another.
- Headers some backends trust from a front end (X-Original-URL, Remote-User,
  X-Real-IP, ...) never come from a client unless the listener keeps one;
  the backend's WWW-Authenticate never reaches the client.
"""

import hashlib
import os
import re

import harness as H

TMP = None
PKI = None
EXTRA = {}   # name -> (certificate path, key path)

LONG_OUS = ["unit %02d %s" % (i, "x" * 52) for i in range(32)]          # 32 x 60 bytes
HUGE_OUS = ["unit %02d %s" % (i, "y" * 52) for i in range(75)]          # > 4,096 bytes


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()
    ous = "".join("/OU=%s" % ou for ou in LONG_OUS)
    EXTRA["joerg"] = issue("joerg", "/C=US/O=Example, Inc.%s/CN= J\u00f6rg M\u00fcller+UID=jm" % ous)
    EXTRA["joerg-utf8"] = issue("joerg-utf8", "/O=Example/CN=J\u00f6rg M\u00fcller")
    EXTRA["joerg-bmp"] = issue("joerg-bmp", "/O=Example/CN=J\u00f6rg M\u00fcller", bmp=True)
    EXTRA["juerg"] = issue("juerg", "/O=Example/CN=J\u00fcrg M\u00f8ller")
    EXTRA["huge"] = issue("huge", "/O=Example%s/CN=huge" % "".join("/OU=%s" % ou for ou in HUGE_OUS))


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def issue(name, subject, bmp=False):
    """A client certificate (leaf + intermediate) from the run's intermediate
    CA; values are UTF8String, or BMPString with bmp."""
    env = dict(os.environ, OPENSSL_CONF="/dev/null")
    key, csr, crt = (TMP.join("%s.%s" % (name, ext)) for ext in ("key", "csr", "crt"))
    ext = TMP.write("%s.ext" % name, "[v3]\nbasicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n")
    H.run_checked(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-out", key], env=env)
    req = ["openssl", "req", "-new", "-key", key, "-utf8", "-multivalue-rdn", "-subj", subject, "-out", csr]
    if bmp:
        # string_mask MASK:0x800 = BMPString only
        req += ["-config", TMP.write("%s.cnf" % name, "[req]\ndistinguished_name = dn\n"
                                     "string_mask = MASK:0x800\n[dn]\n")]
    H.run_checked(req, env=env)
    H.run_checked(["openssl", "x509", "-req", "-in", csr, "-CA", PKI.intermediate_crt, "-CAkey",
                   PKI.intermediate_key, "-set_serial", "0x%x" % int.from_bytes(os.urandom(8), "big"),
                   "-days", "30", "-extfile", ext, "-extensions", "v3", "-out", crt], env=env)
    with open(crt, "a") as out, open(PKI.intermediate_crt) as chain:
        out.write(chain.read())
    return crt, key


def curl_as(cg, who, path, **kw):
    crt, key = EXTRA[who]
    return cg.curl(path, cert=crt, key=key, **kw)


def der_tlvs(b, pos, end):
    """(tag, start, content start, end) of the TLVs in b[pos:end]."""
    out = []
    while pos < end:
        tag, n = b[pos], b[pos + 1]
        c = pos + 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(b[c:c + k], "big")
            c += k
        out.append((tag, pos, c, c + n))
        pos = c + n
    return out


def subject_der(crt_path):
    """The DER Name of the first certificate's subject."""
    der = H.run_checked(["openssl", "x509", "-in", crt_path, "-outform", "DER"]).stdout
    cert = der_tlvs(der, 0, len(der))[0]
    tbs = der_tlvs(der, cert[2], cert[3])[0]
    fields = der_tlvs(der, tbs[2], tbs[3])
    if fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    s = fields[4]  # serial, signature, issuer, validity, subject
    return der[s[1]:s[3]]


def unescape_hex(text):
    """RFC 4514 \\XX escapes -> bytes, the rest as it is (UTF-8)."""
    return re.sub(rb"\\([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  text.encode()).decode("utf-8")


def request_log_subject(cg, marker):
    """subject= of the request line whose path holds marker, from the log
    file read as UTF-8 bytes (not through the locale)."""
    cg.wait_log(event="request", path=lambda p: marker in p)
    with open(cg.log_path, "rb") as f:
        for raw in f.read().decode("utf-8").splitlines():
            e = H.parse_log_line(raw)
            if e.get("event") == "request" and marker in e.get("path", ""):
                return e.get("subject"), raw
    raise AssertionError("no request line for " + marker)


class IdentityBase(H.Base):

    def start_certgate(self, name, listener_extra=""):
        cg = H.Certgate(TMP, name=H.unique(name))
        cg.write_config(H.config_yaml(pki=PKI, port=cg.port, log_file=cg.log_path,
                                      backends={"app": self.backend.port}, listener_extra=listener_extra))
        cg.start()
        return cg


class TestNames(IdentityBase):

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name="TestNames-backend").start()
        cls.cg = None
        try:
            cls.cg = IdentityBase.start_certgate(cls, "names")
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

    def test_non_ascii_leading_space_and_long_name_reach_the_backend_exactly(self):
        m = H.unique("/joerg")
        r = curl_as(self.cg, "joerg", m)
        self.assert_status(r, 200)
        msg = self.explain(r)
        hdrs = r.backend_headers()
        # RFC 4514 order (most specific first); openssl sorts the multi-valued
        # RDN's SET by encoding, UID first; the leading space and ',' escaped;
        # non-ASCII as \XX of its UTF-8 bytes.
        want = ("UID=jm+CN=\\ J\\C3\\B6rg M\\C3\\BCller," + ",".join("OU=" + ou for ou in reversed(LONG_OUS)) +
                ",O=Example\\, Inc.,C=US")
        self.assertGreater(len(want), 2000)
        self.assertEqual(H.headers_named(hdrs, "X-Client-Cert-Subject"), [want], msg)
        self.assertEqual(H.headers_named(hdrs, "X-Client-Cert-Subject-Form"), [], msg)
        # the issuer: what openssl prints in RFC 2253 form
        self.assertEqual(H.headers_named(hdrs, "X-Client-Cert-Issuer"),
                         [PKI.cert_info(PKI.intermediate_crt)["subject"]], msg)
        # the log line: the same text, UTF-8 kept
        logged, raw = request_log_subject(self.cg, m)
        self.assertEqual(logged, unescape_hex(want), raw)
        self.assertIn("UID=jm+CN=\\ J\u00f6rg M\u00fcller,OU=unit 31", logged, raw)

    def test_utf8_and_bmp_strings_render_the_same_and_differ_from_another_name(self):
        seen = {}
        for who in ("joerg-utf8", "joerg-bmp", "juerg"):
            r = curl_as(self.cg, who, H.unique("/" + who))
            self.assert_status(r, 200, note=who)
            seen[who] = H.headers_named(r.backend_headers(), "X-Client-Cert-Subject")
        self.assertEqual(seen["joerg-utf8"], ["CN=J\\C3\\B6rg M\\C3\\BCller,O=Example"])
        self.assertEqual(seen["joerg-bmp"], seen["joerg-utf8"])
        self.assertEqual(seen["juerg"], ["CN=J\\C3\\BCrg M\\C3\\B8ller,O=Example"])

    def test_a_name_too_long_for_a_header_is_sent_as_its_sha256(self):
        m = H.unique("/huge")
        r = curl_as(self.cg, "huge", m)
        self.assert_status(r, 200)
        hdrs = r.backend_headers()
        digest = hashlib.sha256(subject_der(EXTRA["huge"][0])).hexdigest()
        self.assertEqual(H.headers_named(hdrs, "X-Client-Cert-Subject"), [digest], self.explain(r))
        self.assertEqual(H.headers_named(hdrs, "X-Client-Cert-Subject-Form"), ["sha256"], self.explain(r))
        self.assertEqual(H.headers_named(hdrs, "X-Client-Cert-Issuer-Form"), [], self.explain(r))
        # the log keeps the whole text
        logged, raw = request_log_subject(self.cg, m)
        self.assertTrue(logged.startswith("CN=huge,OU=unit 74 "), raw)
        self.assertTrue(logged.endswith(",O=Example"), raw)
        self.assertGreater(len(logged), 4096, raw)

    def test_a_client_cannot_send_the_form_header(self):
        r = self.cg.curl(H.unique("/form"), headers=[("X-Client-Cert-Subject-Form", "sha256")])
        self.assert_status(r, 200)
        self.assertEqual(H.headers_named(r.backend_headers(), "X-Client-Cert-Subject-Form"), [], self.explain(r))


class TestMappingNonAscii(IdentityBase):

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name="TestMappingNonAscii-backend").start()
        cls.cg = None
        try:
            path = TMP.write("mapping-joerg.yaml",
                             "many_to_one:\n"
                             "  - name: joerg\n"
                             "    principal: joerg@EXAMPLE.TEST\n"
                             "    rules: [{field: subject, sub_field: CN, pattern: \"J\u00f6rg M\u00fcller\"}]\n")
            cls.cg = IdentityBase.start_certgate(cls, "mapping-nonascii", listener_extra="mapping: %s" % path)
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

    def test_utf8_and_bmp_match_the_rule_another_name_does_not(self):
        for who in ("joerg-utf8", "joerg-bmp"):
            r = curl_as(self.cg, who, H.unique("/" + who))
            self.assert_status(r, 200, note=who)
            self.assertEqual(H.headers_named(r.backend_headers(), "X-Certgate-Principal"), ["joerg@EXAMPLE.TEST"],
                             self.explain(r, note=who))
        m = H.unique("/juerg")
        r = curl_as(self.cg, "juerg", m)
        self.assert_refusal(r, 401, "no_mapping", sub=2)
        self.assert_not_forwarded(m)


TRUSTED = [
    ("X-Original-URL", "/admin"),
    ("X-Rewrite-URL", "/admin"),
    ("X-ARR-ClientCert", "MIIBspoofed"),
    ("X-Forwarded-Client-Cert", "Hash=spoofed;Subject=\"CN=admin\""),
    ("X-SSL-Client-Cert", "spoofed"),
    ("Remote-User", "admin-spoofed"),
    ("X-Remote-User", "admin-spoofed"),
    ("X-Real-IP", "6.6.6.6"),
    ("X-Client-IP", "6.6.6.7"),
    ("X-MS-CLIENT-PRINCIPAL-NAME", "admin-spoofed"),
    ("x_original_url", "/admin-underscore"),
    ("Forwarded", "for=6.6.6.8;proto=http"),
]


class TestHeaderHygiene(IdentityBase):

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name="TestHeaderHygiene-backend").start()
        cls.cg = cls.kept = None
        try:
            cls.cg = IdentityBase.start_certgate(cls, "hygiene")
            cls.kept = IdentityBase.start_certgate(
                cls, "hygiene-keep",
                listener_extra="strip_request_headers:\n  add: [X-Tenant]\n  keep: [X-Real-IP]")
        except BaseException:
            if cls.cg:
                cls.cg.stop(check=False)
            cls.backend.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for cg in (cls.__dict__.get("cg"), cls.__dict__.get("kept")):
                if cg is not None:
                    cg.stop(check=True)
        finally:
            cls.backend.stop()

    def test_headers_backends_trust_do_not_come_from_clients(self):
        r = self.cg.curl(H.unique("/public"), headers=TRUSTED + [("X-Innocent", "kept")])
        self.assert_status(r, 200)
        hdrs = r.backend_headers()
        names = [k.lower().replace("_", "-") for k, _ in hdrs]
        msg = self.explain(r)
        for k, _ in TRUSTED:
            self.assertNotIn(k.lower().replace("_", "-"), names, msg)
        self.assertNotIn("spoofed", repr(hdrs), msg)
        self.assertNotIn("6.6.6.", repr(hdrs), msg)
        self.assertEqual(H.headers_named(hdrs, "X-Innocent"), ["kept"], msg)
        self.assertEqual(H.headers_named(hdrs, "X-Forwarded-For"), ["127.0.0.1"], msg)
        # the path the backend routed is the one certgate routed
        self.assertTrue(r.json()["path"].startswith("/public"), msg)

    def test_a_listener_keeps_one_and_strips_more(self):
        r = self.kept.curl(H.unique("/kept"), headers=TRUSTED + [("X-Tenant", "7"), ("X-Innocent", "kept")])
        self.assert_status(r, 200, self.kept)
        hdrs = r.backend_headers()
        msg = self.explain(r, self.kept)
        self.assertEqual(H.headers_named(hdrs, "X-Real-IP"), ["6.6.6.6"], msg)
        self.assertEqual(H.headers_named(hdrs, "X-Tenant"), [], msg)
        self.assertEqual(H.headers_named(hdrs, "X-Remote-User"), [], msg)
        self.assertEqual(H.headers_named(hdrs, "X-Original-URL"), [], msg)
        self.assertEqual(H.headers_named(hdrs, "X-Innocent"), ["kept"], msg)

    def test_the_backends_challenges_do_not_reach_the_client(self):
        token = "oYGfMIGcoAMKAQChCwYJKoZIgvcSAQICooGHBIGE"
        r = self.cg.curl("/status?code=200&www=Negotiate%20" + token)
        self.assert_status(r, 200)
        self.assertEqual(r.headers_all("WWW-Authenticate"), [], self.explain(r))
        self.assertNotIn(token, r.raw_head.decode("latin-1"), self.explain(r))
        r = self.cg.curl("/status?code=401&www=Negotiate&www=NTLM&www=Basic%20realm%3D%22x%22")
        self.assert_status(r, 401)
        self.assertEqual(r.headers_all("WWW-Authenticate"), [], self.explain(r))
