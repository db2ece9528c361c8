"""certgate's log as operators read it (src/base/log.c, src/base/log_format.h):
logging.format logfmt and json (every line parses: json.loads, and the
strict logfmt reader of harness.py), the reload line whose detail holds
quotes, the access line's fields, query redaction (logging.log_query), and
the journald priority prefixes.

Every certgate the harness stops also has each of its log lines checked
(harness.Certgate.check_log_lines), in every test module: run the whole
suite with CG_LOG_FORMAT=json to check every line in JSON too.
"""

import json
import os
import re
import signal

import harness as H
from harness import t

TMP = None
PKI = None

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UA = 'probe/1.0 (say "hi"\\ caf\u00e9) ' + "x" * 50


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


class LogBase(H.Base):

    @classmethod
    def setUpClass(cls):
        cls.backend = H.Backend(TMP, name=cls.__name__ + "-backend").start()

    @classmethod
    def tearDownClass(cls):
        be = cls.__dict__.get("backend")
        if be is not None:
            be.stop()

    def new_certgate(self, name, start=True, **opts):
        opts.setdefault("backends", {"app": self.backend.port})
        cg = H.Certgate(TMP, name=H.unique(name))
        cg.configure(PKI, **opts)
        self.addCleanup(cg.stop)
        return cg.start() if start else cg


class TestFormats(LogBase):
    """One run through many events (start, requests served and refused, a
    query, reloads good and bad, a CRL fetch that fails, shutdown), then
    every line read back in the configured format."""

    def exercise(self, fmt):
        cg = self.new_certgate("fmt-" + fmt, log_format=fmt, routes=[("/api", "app")])
        good = H.read_text(cg.cfg_path)
        self.assert_status(cg.curl("/api/ok?token=SECRET-%s&page=2" % fmt,
                                   headers=["User-Agent: " + UA]), 200, cg)
        self.assert_refusal(cg.curl("/nowhere"), 404, "no_route", cg=cg)
        self.assert_refusal(cg.curl("/api/x", cert=None), 403, "client_cert_missing", sub=7, cg=cg)
        with cg.tls("alice") as c:  # a target with bytes the request line refuses
            r = c.request("GET", "/api/%7e%2e%2e/\x7fctl?q=1")
            self.assertEqual(r.status, 400, r.describe())
        # a reload refused by the YAML loader: a message with quotes
        cg.write_config(good.replace("    routes:\n", '    "bo\\"gus": 1\n    routes:\n', 1))
        cg.signal(signal.SIGHUP)
        cg.wait_log(event="reload", result="failed")
        # a reload refused after loading: the listener changed (its reason quotes names)
        other = H.free_port()
        cg.write_config(good.replace("    port: %d\n" % cg.port, "    port: %d\n" % other, 1))
        cg.signal(signal.SIGHUP)
        cg.wait_log(event="reload", result="failed", count=2)
        cg.write_config(good)
        cg.signal(signal.SIGHUP)
        cg.wait_log(event="reload", result="ok")
        self.assert_status(cg.curl("/api/after"), 200, cg)

        # a CRL fetch that fails: the dev PKI's distribution points, nothing serves them
        crl = self.new_certgate("fmt-crl-" + fmt, log_format=fmt, revocation={"mode": "fetch"})
        r = crl.curl("/x")
        self.assertNotEqual(r.status, 200, r.describe())
        crl.wait_log(event="crl_fetch_failed", timeout=30)
        crl.stop()
        cg.stop()

        for who in (cg, crl):
            text = H.read_text(who.log_path)
            lines = H.complete_lines(text)
            self.assertTrue(lines and text.endswith("\n"), text[-2000:])
            for line in lines:
                if fmt == "json":
                    try:
                        obj = json.loads(line)
                    except ValueError as e:
                        self.fail("not JSON (%s): %r" % (e, line))
                    self.assertIsInstance(obj, dict, line)
                    self.assertEqual(list(obj)[:3], ["ts", "level", "event"], line)
                else:
                    self.assertFalse(line.startswith("{"), line)
                    obj = H.parse_logfmt(line)  # strict: raises on a malformed line
                    self.assertEqual(list(obj)[:3], ["ts", "level", "event"], line)
                self.assertRegex(obj["ts"], TS_RE, line)
                self.assertIn(obj["level"], ("debug", "info", "warn", "error"), line)
                self.assertNotIn("unparsed", obj, line)
                self.assertNotIn("truncated", obj, line)
        self.assertNotIn("SECRET-" + fmt, H.read_text(cg.log_path), "a query value reached the log")
        return cg, crl

    def typed(self, cg, fmt, **filters):
        """The first line matching filters, as its format gives it (JSON types kept)."""
        raw = cg.find_log(**filters)[0]["_raw"]
        return json.loads(raw) if fmt == "json" else H.parse_logfmt(raw)

    def check_events(self, cg, crl, fmt):
        events = {e["event"] for e in cg.log_entries()}
        for ev in ("listening", "tls_handshake", "request", "refused", "config", "reload", "shutdown",
                   "stopped"):
            self.assertIn(ev, events, cg.log_tail())
        req = self.typed(cg, fmt, event="request", path=lambda p: p.startswith("/api/ok"))
        self.assertEqual(req["path"], "/api/ok?token=[redacted]&page=[redacted]", req)
        self.assertEqual(req["user_agent"], UA, req)
        failed = [e for e in cg.find_log(event="reload", result="failed")]
        self.assertIn('unknown key "bo"gus"', failed[0]["first_error"], failed[0]["_raw"])
        self.assertRegex(failed[1]["detail"], r'^listener "main" \(127\.0\.0\.1:%d\) changed to "main" '
                         r'\(127\.0\.0\.1:\d+\): restart certgate' % cg.port, failed[1]["_raw"])
        cfg = [e for e in cg.find_log(event="config") if 'bo"gus' in e.get("message", "")]
        self.assertTrue(cfg, cg.log_tail())
        self.assertTrue(crl.find_log(event="crl_fetch_failed"), crl.log_tail())
        if fmt == "json":
            self.assertIsInstance(req["status"], int)
            self.assertIsInstance(req["bytes_out"], int)
            self.assertIsInstance(req["ms"], (int, float))
            self.assertIs(req["resumed"], False)
            self.assertIsInstance(req["serial"], str)
            ok = self.typed(cg, fmt, event="reload", result="ok")
            self.assertIsInstance(ok["reloads"], int)
            self.assertEqual(ok["reloads"], 3)
            listening = self.typed(cg, fmt, event="listening")
            self.assertIsInstance(listening["routes"], int)
        else:
            self.assertEqual(req["status"], "200")
            self.assertEqual(req["resumed"], "false")

    def test_json_every_line_parses(self):
        cg, crl = self.exercise("json")
        self.check_events(cg, crl, "json")

    def test_logfmt_every_line_parses_strictly(self):
        cg, crl = self.exercise("logfmt")
        self.check_events(cg, crl, "logfmt")


class TestAccessLine(LogBase):

    def test_fields_for_curl_over_tls12(self):
        cg = self.new_certgate("access", level="info")
        r = cg.curl("/fields", headers=["User-Agent: " + UA, "Host: app.example.test:8443"])
        self.assert_status(r, 200, cg)
        e = cg.wait_log(event="request", path="/fields")[0]
        self.assertEqual(e["host"], "app.example.test:8443", e["_raw"])
        self.assertEqual(e["user_agent"], UA, e["_raw"])
        self.assertEqual(e["http"], "1.1", e["_raw"])
        self.assertEqual(e["tls"], "TLSv1.2", e["_raw"])
        self.assertRegex(e["cipher"], r"^TLS-ECDHE-(ECDSA|RSA)-WITH-AES-\d+-GCM-SHA\d+$", e["_raw"])
        self.assertEqual(e["resumed"], "false", e["_raw"])
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["status"], "200")
        # HTTP/1.0 without Host; a long User-Agent is cut, still one value
        r = cg.curl("/ten", http10=True, headers=["Host:", "User-Agent: " + "u" * 500])
        self.assert_status(r, 200, cg)
        e = cg.wait_log(event="request", path="/ten")[0]
        self.assertEqual(e["http"], "1.0", e["_raw"])
        self.assertEqual(e["host"], "-", e["_raw"])
        self.assertTrue(e["user_agent"].endswith("...") and len(e["user_agent"]) < 200, e["_raw"])

    def test_resumed_session_flagged(self):
        cg = self.new_certgate("resume", level="info")
        sess = TMP.join(H.unique("sess"))
        req = b"GET /first HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        out1, reused1, r1 = H.s_client(cg.port, "alice", sess_out=sess, request=req)
        self.assertTrue(r1 is not None and r1.status == 200, out1[-3000:])
        req = b"GET /second HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        out2, reused2, r2 = H.s_client(cg.port, "alice", sess_in=sess, request=req)
        self.assertTrue(reused2 and r2 is not None and r2.status == 200, out2[-3000:])
        first = cg.wait_log(event="request", path="/first")[0]
        second = cg.wait_log(event="request", path="/second")[0]
        self.assertEqual(first["resumed"], "false", first["_raw"])
        self.assertEqual(second["resumed"], "true", second["_raw"])
        self.assertEqual(second["tls"], "TLSv1.2", second["_raw"])
        self.assertEqual(second["cipher"], first["cipher"], second["_raw"])
        # the identity survives resumption in the line too
        self.assertEqual(second["serial"], first["serial"], second["_raw"])


class TestQueryRedaction(LogBase):

    def test_default_redacts_every_place_a_target_is_logged(self):
        cg = self.new_certgate("redact")
        self.assertEqual(cg.curl("/r/q?user=SECRET1&flag").status, 200)
        with cg.tls("alice") as c:  # normalized by certgate: target_sent= (curl would do it itself)
            self.assertEqual(c.request("GET", "/r/./n?token=SECRET2").status, 200)
        with cg.tls("alice") as c:
            r = c.request("GET", "/r/bad?token=SECRET3\xff")  # refused by the request-line rules
            self.assertEqual(r.status, 400, r.describe())
        with cg.tls("alice") as c:  # a request line refused whole
            c.send(b"GET /r/line?token=SECRET6 HTTP/1.1 extra\r\nHost: localhost\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 400, r.describe())
        with cg.tls("alice") as c:
            r = c.request("GET", "/r/x%2fy?token=SECRET4")  # refused by the target rules (path)
            self.assertEqual(r.status, 400, r.describe())
        with cg.tls("alice") as c:
            r = c.request("GET", "/r/z?token=SEC%00RET5")  # a target refusal in the query
            self.assertIn(r.status, (200, 400), r.describe())
        e = cg.wait_log(event="request", path=lambda p: p.startswith("/r/q"))[0]
        self.assertEqual(e["path"], "/r/q?user=[redacted]&[redacted]", e["_raw"])
        e = cg.wait_log(event="request", path=lambda p: p.startswith("/r/n"))[0]
        self.assertEqual(e["target_sent"], "/r/./n?token=[redacted]", e["_raw"])
        cg.wait_log(event="refused", count=3)
        text = cg.log_text()
        for s in ("SECRET1", "SECRET2", "SECRET3", "SECRET4", "SEC%00RET5", "SEC\\x00RET5", "SECRET6"):
            self.assertNotIn(s, text, "a query value reached the log:\n" + cg.log_tail())
        refused = cg.find_log(event="refused", code="bad_request")
        details = [e["detail"] for e in refused]
        self.assertTrue(any('target "/r/bad?[redacted]" contains the byte 0xff' in d for d in details), details)
        self.assertTrue(any('request line "GET /r/line?[redacted]" is not' in d for d in details), details)

    def test_log_query_true_logs_verbatim(self):
        cg = self.new_certgate("verbatim", log_query=True)
        with cg.tls("alice") as c:
            self.assertEqual(c.request("GET", '/v?user=bob&q=a%20b"c').status, 200)
        e = cg.wait_log(event="request", path=lambda p: p.startswith("/v"))[0]
        self.assertEqual(e["path"], '/v?user=bob&q=a%20b"c', e["_raw"])
        quoted = '"path":"/v?user=bob&q=a%20b\\"c"' if e["_raw"].startswith("{") else 'path="/v?user=bob&q=a%20b\\"c"'
        self.assertIn(quoted, e["_raw"])


class TestJournald(LogBase):
    """stderr connected to the journal: systemd sets JOURNAL_STREAM to its
    device:inode (systemd.exec(5)); here stderr is the harness's file."""

    def start_on_stderr(self, name, journal_stream, log_format="logfmt"):
        cg = self.new_certgate(name, start=False, level="info", log_format=log_format)
        cg.write_config(H.read_text(cg.cfg_path).replace("  file: %s\n" % cg.log_path, "  file: stderr\n", 1))
        open(cg.stderr_path, "ab").close()
        st = os.stat(cg.stderr_path)
        env = {"JOURNAL_STREAM": journal_stream(st)}
        cg.start(env=env)
        self.assertEqual(cg.curl("/j").status, 200)
        self.assertEqual(cg.curl("/nocert", cert=None).status, 403)  # a refused line: warn
        H.wait_until(lambda: re.search(r'event(=|":")request', H.read_text(cg.stderr_path)),
                     what="the request line on stderr")
        cg.stop()
        # stderr also has the configuration's diagnostics, as `certgate check` prints them
        return [l for l in H.complete_lines(H.read_text(cg.stderr_path)) if re.search(r'event(=|":")', l)]

    def test_priority_prefixes_and_no_timestamp(self):
        for fmt in ("logfmt", "json"):
            lines = self.start_on_stderr("journal", lambda st: "%d:%d" % (st.st_dev, st.st_ino), fmt)
            prio = {"debug": "7", "info": "6", "warn": "4", "error": "3"}
            seen = set()
            for line in lines:
                m = re.match(r"^<([0-7])>(.*)$", line)
                self.assertTrue(m, "no priority prefix: %r" % line)
                e = json.loads(m.group(2)) if fmt == "json" else H.parse_logfmt(m.group(2))
                self.assertNotIn("ts", e, line)
                self.assertEqual(list(e)[:2], ["level", "event"], line)
                self.assertEqual(m.group(1), prio[e["level"]], line)
                seen.add((e["level"], e["event"]))
            self.assertIn(("info", "request"), seen, lines)
            self.assertIn(("warn", "refused"), seen, lines)

    def test_unrelated_journal_stream_ignored(self):
        for value in (lambda st: "%d:%d" % (st.st_dev, st.st_ino + 1), lambda st: "garbage"):
            lines = self.start_on_stderr("nojournal", value, "logfmt")
            self.assertTrue(lines)
            for line in lines:
                self.assertFalse(line.startswith("<"), line)
                e = H.parse_logfmt(line)
                self.assertRegex(e["ts"], TS_RE, line)
