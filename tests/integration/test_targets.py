"""Request targets: routes that cannot be walked around (docs/proxy.md,
"Request targets"). A listener with "/" client_cert: optional and "/admin"
required: every spelling of /admin without a certificate is refused (403.7
or 400) and the backend receives nothing; with a certificate the backend
receives the canonical target byte for byte."""

import json
import unittest

import harness as H

TMP = None
PKI = None


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


# (sent, canonical): each names the backend's /admin/<marker>.
BYPASSES = [
    ("//admin/{m}", "/admin/{m}"),
    ("/./admin/{m}", "/admin/{m}"),
    ("/x/../admin/{m}", "/admin/{m}"),
    ("/%61dmin/{m}", "/admin/{m}"),
    ("/%61%64%6d%69%6e/{m}", "/admin/{m}"),
    ("/ADMIN/{m}", "/ADMIN/{m}"),           # IIS: the same directory; the case is kept
    ("/Admin/{m}?q=1", "/Admin/{m}?q=1"),
    ("///admin//{m}", "/admin/{m}"),
    ("/public/../admin/{m}", "/admin/{m}"),
    ("/admin/./{m}", "/admin/{m}"),
    ("/admin/{m}/x/..", "/admin/{m}/"),
    ("/admin/{m}?x=/../%2f", "/admin/{m}?x=/../%2f"),   # the query as sent
    ("/admin/{m}%3a%7e", "/admin/{m}%3A~"),
]

# Refused whoever asks: 400, closed, nothing forwarded.
REFUSED = [
    ("/public/%2e%2e/admin/{m}", "a path segment that is \"..\" only once its percent-encoded dots"),
    ("/public/%2E%2E/admin/{m}", "only once its percent-encoded dots"),
    ("/public/.%2e/admin/{m}", "only once its percent-encoded dots"),
    ("/public%2f..%2fadmin/{m}", "an encoded slash (%2F)"),
    ("/public%5c..%5cadmin/{m}", "an encoded backslash (%5C)"),
    ("/public\\..\\admin/{m}", "a backslash in the path"),
    ("/../admin/{m}", "would climb above the root"),
    ("/admin/{m}%00", "an encoded NUL (%00)"),
    ("/admin/{m}%09", "an encoded control character"),
    ("/admin/{m}%zz", "an invalid percent-encoding"),
    ("/admin/{m}%4", "an invalid percent-encoding"),
    ("/%c0%afadmin/{m}", "an overlong UTF-8 sequence"),
]


class TestRequestTargets(H.Shared):
    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "routes": [("/", "app", "optional"), ("/admin", "app", "required")]}

    def raw(self, target, cert):
        """Sends GET target (bytes or str) on a new connection; returns the response."""
        if isinstance(target, str):
            target = target.encode("latin-1")
        with self.cg.tls(cert) as c:
            c.send(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
            return c.read_response()

    def backend_saw(self, marker):
        return [r["path"] for r in self.backend.seen() if marker in r["path"]]

    def test_bypass_forms_without_certificate_are_refused(self):
        for sent, _ in BYPASSES + [("/admin/{m}", "")]:
            m = H.unique("nocert")
            target = sent.format(m=m)
            with self.subTest(target=target):
                r = self.raw(target, None)
                self.assert_refusal(r, 403, "client_cert_missing", sub=7, note=target)
                self.assertEqual(self.backend_saw(m), [], target)

    def test_bypass_forms_with_certificate_reach_backend_canonical(self):
        for sent, canonical in BYPASSES:
            m = H.unique("cert")
            target, expect = sent.format(m=m), canonical.format(m=m)
            with self.subTest(target=target):
                r = self.raw(target, "alice")
                self.assert_status(r, 200, note=target)
                self.assertEqual(json.loads(r.body)["path"], expect, target)
                self.assertEqual(self.backend_saw(m), [expect], target)

    def test_refused_forms_get_400_and_nothing_is_forwarded(self):
        for sent, detail in REFUSED:
            for cert in (None, "alice"):
                m = H.unique("refused")
                target = sent.format(m=m)
                with self.subTest(target=target, cert=cert):
                    r = self.raw(target, cert)
                    self.assert_refusal(r, 400, "bad_request", note=target)
                    # The operator sentence is in the log (pages may hide it).
                    entry = self.cg.wait_log(event="refused", id_=r.header("X-Request-Id"))[0]
                    self.assertIn(detail, entry.get("detail", ""), target)
                    self.assertEqual(self.backend_saw(m), [], target)

    def test_tab_and_control_characters_in_target(self):
        # "GET /admin<TAB> HTTP/1.1": a backend splitting on whitespace reads
        # "/admin"; certgate must not forward it under any route.
        for ctl in (b"\t", b"\x0b", b"\x0c", b"\x01", b"\x7f", b"\x00"):
            for cert in (None, "alice"):
                m = H.unique("ctl").encode()
                for target in (b"/admin/" + m + ctl, b"/public/" + m + ctl + b"x", b"/public/" + m + b"?a" + ctl):
                    with self.subTest(target=target, cert=cert):
                        r = self.raw(target, cert)
                        self.assert_refusal(r, 400, "bad_request", note=repr(target))
                        self.assertEqual(self.backend_saw(m.decode()), [], target)
        # A TAB between the target and the version: the request line is not
        # "METHOD SP target SP version", or the target has a TAB.
        m = H.unique("tabv")
        r = self.raw("/public/%s\tHTTP/1.1" % m, "alice")
        self.assertEqual(r.status, 400)
        self.assertEqual(self.backend_saw(m), [])

    def test_log_carries_canonical_and_sent_target(self):
        m = H.unique("log")
        r = self.raw("//admin/./%s/%%7e" % m, "alice")
        self.assert_status(r, 200)
        line = self.cg.wait_log(event="request", id_=r.header("X-Request-Id"))[0]
        self.assertEqual(line["path"], "/admin/%s/~" % m, line)
        self.assertEqual(line["target_sent"], "//admin/./%s/%%7e" % m, line)
        # Unchanged: no target_sent.
        r = self.raw("/admin/%s" % m, "alice")
        line = self.cg.wait_log(event="request", id_=r.header("X-Request-Id"))[0]
        self.assertEqual(line["path"], "/admin/%s" % m, line)
        self.assertNotIn("target_sent", line)
        # Refused: path= is what was sent.
        r = self.raw("/public/%%2e%%2e/admin/%s" % m, None)
        line = self.cg.wait_log(event="request", id_=r.header("X-Request-Id"))[0]
        self.assertEqual(line["path"], "/public/%%2e%%2e/admin/%s" % m, line)

    def test_segment_boundary_and_options_star(self):
        m = H.unique("seg")
        r = self.raw("/administrator/%s" % m, None)   # not under /admin: the optional route
        self.assert_status(r, 200)
        self.assertEqual(self.backend_saw(m), ["/administrator/%s" % m])
        with self.cg.tls("alice") as c:
            c.send(b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n")
            r = c.read_response()
        self.assert_refusal(r, 404, "no_route")  # as before: no route covers "*"


class TestCaseSensitivePaths(H.Base):
    """case_insensitive_paths: false: "/ADMIN" is another path (for
    case-sensitive backends), so it takes the "/" route."""

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name="TestCaseSensitivePaths-backend").start()

    @classmethod
    def tearDownClass(cls):
        be = cls.__dict__.get("backend")
        if be is not None:
            be.stop()

    def test_case_counts_when_disabled(self):
        cg = H.Certgate(TMP, name=H.unique("casesens"))
        cg.configure(PKI, backends={"app": self.backend.port},
                     routes=[("/", "app", "optional"), ("/admin", "app", "required")],
                     listener_extra="case_insensitive_paths: false")
        self.cg = cg
        self.addCleanup(cg.stop)
        cg.start()
        m = H.unique("ADMIN")
        r = cg.curl("/ADMIN/%s" % m, cert=None)
        self.assert_status(r, 200)
        self.assertEqual(json.loads(r.body)["path"], "/ADMIN/%s" % m)
        r = cg.curl("/admin/%s" % m, cert=None)
        self.assert_refusal(r, 403, "client_cert_missing", sub=7)
        # Normalization still applies.
        r = cg.curl("/%61dmin/" + m, cert=None, extra_args=["--path-as-is"])
        self.assert_refusal(r, 403, "client_cert_missing", sub=7)


if __name__ == "__main__":
    unittest.main()
