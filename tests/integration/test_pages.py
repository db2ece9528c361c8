"""Refusal pages, end to end: what a person sees, and what it must never
show (docs/errors.md).

One configuration, two certgates: the default (user level; its
errors.operator_networks does not include 127.0.0.1), and one whose
errors.operator_networks is 127.0.0.1/32, so the same requests from the
tests' loopback address get the operator sentence. The names that must not
leak are made distinctive (listener, backends, mapping file, rule name and
text, bytes of a malformed backend response) so that a page showing any of
them is caught.
"""

import html
import os
import signal
import socket
import threading

import harness as H
from harness import t

TMP = None
PKI = None

LISTENER = "dmz-edge-listener-q7"
APP = "portal-app-k9"           # the real test backend
DOWN = "ledger-core-db-x4"      # a port nothing listens on
GARBAGE = "legacy-erp-z2"       # answers with a malformed response head
DENY_RULE = "secret-ops-deny-r5"
ALLOW_RULE = "hidden-admins-r6"
ALLOW_OU = "Top Secret Admins OU"
LEAK = "internal-token-9f3e"    # in the malformed response's bytes
SUPPORT = "Call the IT help desk at 555-0100 <ext. 7> & say \"certgate\""


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


class GarbageBackend:
    """Accepts connections on 127.0.0.1, reads a request head, answers with a
    response head whose second line has no colon (and carries LEAK), closes.
    Bounded: stops when asked, each wait has a timeout."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with c:
                c.settimeout(t(5))
                data = b""
                try:
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        more = c.recv(4096)
                        if not more:
                            break
                        data += more
                    c.sendall(b"HTTP/1.1 200 OK\r\nX-Secret " + LEAK.encode() +
                              b" without colon\r\nContent-Length: 2\r\n\r\nok")
                except OSError:
                    pass

    def stop(self):
        self.stopping = True
        self.thread.join(t(5))
        self.sock.close()


class PagesCases:
    """The cases, run by both classes below (a mixin: not a test class itself)."""
    OPERATOR = False

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name=cls.__name__ + "-backend").start()
        cls.garbage = GarbageBackend()
        cls.down_port = H.free_port()
        cls.cg = None
        try:
            cls.cg = H.Certgate(TMP, name=H.unique("pages-secret-cfg"))
            cls.mapping_path = TMP.join(cls.cg.name + "-secret-mapping.yaml")
            with open(cls.mapping_path, "w") as f:
                f.write("default_realm: EXAMPLE.TEST\n"
                        "many_to_one:\n"
                        "  - name: %s\n"
                        "    action: deny\n"
                        "    rules: [{field: subject, sub_field: CN, pattern: alice}]\n"
                        "  - name: %s\n"
                        "    principal: \"{subject.CN}@EXAMPLE.TEST\"\n"
                        "    rules: [{field: subject, sub_field: OU, pattern: \"%s\"}]\n"
                        % (DENY_RULE, ALLOW_RULE, ALLOW_OU))
            nets = ["127.0.0.1/32"] if cls.OPERATOR else ["10.0.0.0/8", "::1/128"]
            cls.cg.write_config(H.config_yaml(
                pki=PKI, port=cls.cg.port, log_file=cls.cg.log_path, listener=LISTENER,
                backends={APP: cls.backend.port, DOWN: cls.down_port, GARBAGE: cls.garbage.port},
                routes=[("/mapped", APP), ("/down", DOWN, "optional"),
                        ("/garbage", GARBAGE, "optional")],
                listener_extra="mapping: %s" % cls.mapping_path,
                errors={"operator_networks": nets,
                        "support": "'%s'" % SUPPORT}))
            cls.cg.start()
        except BaseException:
            if cls.cg:
                cls.cg.stop(check=False)
            cls.garbage.stop()
            cls.backend.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.__dict__.get("cg") is not None:
                cls.cg.stop(check=True)
        finally:
            cls.garbage.stop()
            cls.backend.stop()

    # What no user page may show; the operator sentence of each case names
    # some of them (checked per test).
    def secrets(self):
        return [LISTENER, APP, DOWN, GARBAGE, DENY_RULE, ALLOW_RULE, ALLOW_OU, LEAK,
                os.path.basename(self.mapping_path), self.mapping_path, TMP.join(""),
                self.cg.cfg_path, "127.0.0.1", ":%d" % self.down_port,
                ":%d" % self.garbage.port, ":%d" % self.backend.port, "EXAMPLE.TEST",
                "mapping:", "tls.", "backends[", "listeners["]

    def check(self, resp, status, code, sub=0, in_detail=()):
        """The refusal; its log line's detail names each of in_detail; the
        page shows none of the secrets (user level) or the detail, escaped
        (operator level); the support line, escaped, either way."""
        rid = self.assert_refusal(resp, status, code, sub=sub, operator=self.OPERATOR)
        detail = self.cg.wait_log(event="refused", id_=rid)[0]["detail"]
        msg = self.explain(resp, note="detail: %s" % detail)
        for piece in in_detail:
            self.assertIn(piece, detail, msg)
        raw = resp.text
        self.assertIn(html.escape(SUPPORT, quote=True).replace("&#x27;", "&#39;"), raw, msg)
        self.assertIn('<html lang="en">', raw, msg)
        self.assertIn('<meta name="viewport" content="width=device-width, initial-scale=1">', raw, msg)
        self.assertNotIn("<script", raw.lower(), msg)
        if self.OPERATOR:
            self.assertIn("For the operator", raw, msg)
            for piece in in_detail:
                self.assertIn(html.escape(piece, quote=True).replace("&#x27;", "&#39;"), raw, msg)
        else:
            for s in self.secrets():
                self.assertNotIn(s, raw, "%s\nthe user page shows %r" % (msg, s))
            self.assertNotIn(detail, html.unescape(raw), msg)
        return raw, detail

    # -- the cases --

    def test_mapping_deny(self):
        r = self.cg.curl("/mapped/" + H.unique("deny"), cert="alice")
        raw, _ = self.check(r, 403, "mapper_denied", sub=12,
                            in_detail=(DENY_RULE, os.path.basename(self.mapping_path)))
        self.assertIn("403.12 \u2014 Access denied", html.unescape(raw))

    def test_mapping_none(self):
        r = self.cg.curl("/mapped/" + H.unique("nomap"), cert="bob")
        raw, _ = self.check(r, 401, "no_mapping", sub=2, in_detail=(ALLOW_RULE, ALLOW_OU))
        self.assertIn("401.2 \u2014 Not authorised", html.unescape(raw))

    def test_backend_unreachable(self):
        r = self.cg.curl("/down/" + H.unique("down"), cert=None)
        raw, _ = self.check(r, 502, "backend_unreachable",
                            in_detail=(DOWN, "127.0.0.1:%d" % self.down_port))
        self.assertIn("Service unavailable", raw)

    def test_backend_malformed_response(self):
        r = self.cg.curl("/garbage/" + H.unique("garbage"), cert=None)
        self.check(r, 502, "backend_bad_response", in_detail=(GARBAGE, LEAK))

    def test_no_route_404(self):
        r = self.cg.curl("/nowhere/" + H.unique("noroute"), cert="alice")
        raw, _ = self.check(r, 404, "no_route", in_detail=(LISTENER,))
        self.assertIn("404 \u2014 Page not found", html.unescape(raw))

    def test_no_certificate_403_7_lists_the_accepted_cas(self):
        r = self.cg.curl("/mapped/" + H.unique("nocert"), cert=None)
        raw, _ = self.check(r, 403, "client_cert_missing", sub=7)
        page = html.unescape(raw)
        msg = self.explain(r)
        self.assertIn("403.7 \u2014 Certificate required", page, msg)
        self.assertIn("silently hold back a certificate that has expired", page, msg)
        # The name the handshake's CertificateRequest carries (tls.client_ca).
        root = PKI.cert_info(PKI.root_crt)
        self.assertIn("CN=" + root["subject_cn"], page, msg)
        self.assertIn("<li>", raw, msg)
        self.assertNotIn(" more</li>", raw, msg)

    def test_head_request_gets_headers_only(self):
        r = self.cg.curl("/nowhere/" + H.unique("head"), cert="alice", method="HEAD")
        self.assertEqual(r.status, 404, self.explain(r))
        self.assertEqual(r.body, b"", self.explain(r))
        for name, value in H.PAGE_HEADERS.items():
            self.assertEqual(r.header(name), value, self.explain(r))


class TestPagesUser(PagesCases, H.Base):
    OPERATOR = False


class TestPagesOperatorNetwork(PagesCases, H.Base):
    OPERATOR = True


class TestPageTemplates(H.Base):
    """errors.templates: the operator's pages, most specific first, values
    escaped, the operator sentence only for operators, read at load and
    again at reload (a broken one keeps the running pages)."""

    TEMPLATE = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{{status}} {{title}}"
                "</title></head>\n<body><h1>%s {{status}} \u2014 {{title}}</h1>\n<p>{{what_happened}}</p>"
                "<p>{{what_to_do}}</p>\n{{ca_names}}<p id=support>{{support}}</p>\n"
                "<p>Ref {{request_id}} ({{code}})</p><pre id=op>{{operator_detail}}</pre></body></html>\n")

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name="templates-backend").start()

    @classmethod
    def tearDownClass(cls):
        cls.backend.stop()

    def write_template(self, name, marker):
        path = TMP.join(name)
        with open(path, "w") as f:
            f.write(self.TEMPLATE % marker)
        return path

    def new_certgate(self, operator=False):
        tag = H.unique("tpl")
        self.paths = {k: self.write_template("%s-%s.html" % (tag, k), "[%s]" % k)
                      for k in ("403.7", "403", "default")}
        errors = {"support": "'%s'" % SUPPORT,
                  "templates": "{%s}" % ", ".join("\"%s\": %s" % kv for kv in self.paths.items())}
        if operator:
            errors["operator_networks"] = ["127.0.0.1/32"]
        cg = H.Certgate(TMP, name=tag)
        cg.write_config(H.config_yaml(pki=PKI, port=cg.port, log_file=cg.log_path,
                                      backends={"app": self.backend.port, "down": H.free_port()},
                                      routes=[("/", "app"), ("/down", "down")], errors=errors))
        self.cg = cg
        self.addCleanup(cg.stop)
        return cg.start()

    def get(self, path, cert="alice", status=None, code=None, sub=0, key=None, operator=False):
        r = self.cg.curl(path, cert=cert)
        rid = self.assert_refusal(r, status, code, sub=sub, operator=operator)
        raw = r.text
        msg = self.explain(r)
        self.assertIn("<h1>[%s] %s" % (key, H.status_text(status, sub)), raw, msg)
        self.assertIn("<p>Ref %s (%s)</p>" % (rid, code), raw, msg)
        self.assertIn("<p id=support>%s</p>" % html.escape(SUPPORT, quote=True).replace("&#x27;", "&#39;"), raw, msg)
        self.assertEqual(int(r.header("Content-Length")), len(r.body), msg)
        return r, raw, rid

    def test_most_specific_template_serves_each_refusal(self):
        self.new_certgate()
        _, raw, _ = self.get("/x", cert=None, status=403, code="client_cert_missing", sub=7, key="403.7")
        root = PKI.cert_info(PKI.root_crt)
        self.assertIn("<ul class=\"cas\">\n<li>CN=%s," % root["subject_cn"], raw)
        self.assertIn("<pre id=op></pre>", raw)  # the user level: empty
        self.get("/x", cert="expired", status=403, code="client_cert_expired", sub=17, key="403")
        self.get("/down/x", status=502, code="backend_unreachable", key="default")

    def test_operator_detail_only_for_operators(self):
        self.new_certgate(operator=True)
        _, raw, rid = self.get("/down/x", status=502, code="backend_unreachable", key="default", operator=True)
        detail = self.refusal_detail(rid)
        self.assertIn("<pre id=op>%s</pre>" % html.escape(detail, quote=True).replace("&#x27;", "&#39;"), raw)

    def test_reload_reads_the_templates_again(self):
        cg = self.new_certgate()
        broken = (self.TEMPLATE % "[changed]").replace("{{title}}</h1>", "{{title}} {{nope}}</h1>")
        with open(self.paths["default"], "w") as f:
            f.write(broken)
        cg.signal(signal.SIGHUP)
        cg.wait_log(event="reload", result="failed")
        # At the template's own line and column (in characters).
        line3 = broken.split("\n")[2]
        e = cg.wait_log(event="config", file=self.paths["default"])[0]
        self.assertEqual((e["line"], e["column"]), ("3", str(line3.index("{{nope}}") + 1)), e)
        self.assertIn("unknown placeholder {{nope}}", e["message"], e)
        self.get("/down/x", status=502, code="backend_unreachable", key="default")  # the running page kept
        self.write_template(os.path.basename(self.paths["default"]), "[changed]")
        cg.signal(signal.SIGHUP)
        cg.wait_log(event="reload", result="ok")
        self.get("/down/x", status=502, code="backend_unreachable", key="changed")


# The same cases with TLS 1.3 clients (harness.tls13): the verdicts, pages and
# resumption rules do not depend on the version.
TestPagesUserTLS13 = H.tls13(TestPagesUser)
