"""The admin listener (configuration section `admin`): /metrics in the
Prometheus text format, parsed here by a strict parser of format 0.0.4 and
checked against traffic made on purpose; /healthz; /readyz against the
CRLs of a CRL server (crl_server.py) and against the Kerberos lab
(kdc_lab.py); the listener's own refusals (non-GET, oversized heads,
timeouts, too many connections, clients outside admin.allow).
"""

import os
import re
import signal
import socket
import subprocess
import time
import unittest

import crl_pki
import harness as H
import kdc_lab
from crl_server import CRLServer
from harness import t

TMP = None
SRV = None
A = None
BACKEND = None

INTERMEDIATE = "CN=Example Dev Intermediate CA,O=Example,C=US"
ROOT = "CN=Example Dev Root CA,O=Example,C=US"


def setUpModule():
    global TMP, SRV, A, BACKEND
    TMP = H.module_tmp(__name__)
    SRV = CRLServer(TMP.join("pki-a", "crl")).start()
    A = crl_pki.make(TMP.join("pki-a"), "--cdp-base", SRV.url().rstrip("/"))
    BACKEND = H.Backend(TMP, name="admin-backend").start()


def tearDownModule():
    for stop in (lambda: BACKEND.stop(), lambda: SRV.stop()):
        try:
            stop()
        except Exception:
            pass
    H.cleanup_module_tmp(__name__)


# ---------------------------------------------------------------------------
# A strict parser of the text exposition format 0.0.4

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
# Nothing about a user may ever be a label.
FORBIDDEN_LABELS = {"principal", "user", "subject", "serial", "client", "ip", "peer", "address", "fingerprint"}


class ParseError(AssertionError):
    pass


def _label_value(s, i, lineno):
    """s[i] is just after the opening quote; returns (value, index after the closing quote)."""
    out = []
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                raise ParseError("line %d: bad escape in a label value" % lineno)
            out.append({"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        elif c == "\n":
            raise ParseError("line %d: raw line feed in a label value" % lineno)
        else:
            out.append(c)
            i += 1
    raise ParseError("line %d: unterminated label value" % lineno)


def _value(s, lineno):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        raise ParseError("line %d: %r is not a sample value" % (lineno, s))
    return float(s)


def parse_exposition(text):
    """Returns {family: {"type", "help", "samples": [(name, labels dict, value)]}}.
    Raises ParseError for anything the format does not allow, or that this
    exporter must not do: a sample before its family's HELP and TYPE, a
    family declared twice, a counter not named *_total, a repeated series,
    histogram buckets that are not cumulative or do not end with +Inf equal
    to _count, a label about a user."""
    if not text.endswith("\n"):
        raise ParseError("the text does not end with a line feed")
    fams = {}
    seen_series = set()
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (%s) (.*)" % METRIC_NAME, line)
            if not m:
                raise ParseError("line %d: bad comment line %r" % (lineno, line))
            kind, name, rest = m.groups()
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            if f["samples"]:
                raise ParseError("line %d: %s %s after its samples" % (lineno, kind, name))
            if kind == "HELP":
                if f["help"] is not None:
                    raise ParseError("line %d: second HELP for %s" % (lineno, name))
                if re.search(r"\\[^\\n]", rest.replace("\\\\", "")):
                    raise ParseError("line %d: bad escape in HELP" % lineno)
                f["help"] = rest
            else:
                if f["type"] is not None or rest not in TYPES:
                    raise ParseError("line %d: bad or second TYPE %r for %s" % (lineno, rest, name))
                f["type"] = rest
            continue
        if not line:
            raise ParseError("line %d: empty line" % lineno)
        m = re.match(METRIC_NAME, line)
        if not m:
            raise ParseError("line %d: no metric name in %r" % (lineno, line))
        name, i, labels = m.group(0), m.end(), {}
        if i < len(line) and line[i] == "{":
            i += 1
            while line[i] != "}":
                lm = re.compile(LABEL_NAME).match(line, i)
                if not lm or line[lm.end():lm.end() + 2] != '="':
                    raise ParseError("line %d: bad label at %r" % (lineno, line[i:]))
                lname = lm.group(0)
                if lname in labels:
                    raise ParseError("line %d: label %s twice" % (lineno, lname))
                labels[lname], i = _label_value(line, lm.end() + 2, lineno)
                if line[i] == ",":
                    i += 1
                elif line[i] != "}":
                    raise ParseError("line %d: expected , or } at %r" % (lineno, line[i:]))
            i += 1
        if line[i:i + 1] != " ":
            raise ParseError("line %d: expected one space before the value in %r" % (lineno, line))
        value = _value(line[i + 1:], lineno)
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and fams.get(base, {}).get("type") == "histogram":
                fam = base
        f = fams.get(fam)
        if not f or f["help"] is None or f["type"] is None:
            raise ParseError("line %d: sample %s before its family's HELP and TYPE" % (lineno, name))
        if f["type"] == "counter" and not fam.endswith("_total"):
            raise ParseError("line %d: counter %s is not named *_total" % (lineno, fam))
        bad = FORBIDDEN_LABELS & set(labels)
        if bad:
            raise ParseError("line %d: label(s) about a user: %s" % (lineno, bad))
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise ParseError("line %d: series repeated: %r" % (lineno, key))
        seen_series.add(key)
        f["samples"].append((name, labels, value))
    for fam, f in fams.items():
        if f["type"] is None or f["help"] is None:
            raise ParseError("family %s lacks HELP or TYPE" % fam)
        if f["type"] == "histogram":
            _check_histogram(fam, f["samples"])
    return fams


def _check_histogram(fam, samples):
    groups = {}
    for name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            if "le" not in labels:
                raise ParseError("%s: bucket without le" % fam)
            g["buckets"].append((_value(labels["le"], 0), value))
        elif name == fam + "_sum":
            g["sum"] = value
        elif name == fam + "_count":
            g["count"] = value
        else:
            raise ParseError("%s: unexpected sample %s in a histogram" % (fam, name))
    for rest, g in groups.items():
        b = g["buckets"]
        if not b or b[-1][0] != float("inf"):
            raise ParseError("%s%s: the buckets do not end with le=\"+Inf\"" % (fam, rest))
        if [x for x, _ in b] != sorted(x for x, _ in b):
            raise ParseError("%s%s: le not increasing" % (fam, rest))
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise ParseError("%s%s: buckets not cumulative: %r" % (fam, rest, b))
        if g["count"] is None or g["sum"] is None or g["count"] != b[-1][1]:
            raise ParseError("%s%s: _count %r is not the +Inf bucket %r (or _sum missing)" % (
                fam, rest, g["count"], b[-1][1]))


def value_of(fams, name, **labels):
    """The value of the one sample of name whose labels include labels; 0 when none."""
    fam = fams.get(name) or fams.get(re.sub(r"_(bucket|sum|count)$", "", name)) or {"samples": []}
    got = [v for n, lb, v in fam["samples"] if n == name and all(lb.get(k) == x for k, x in labels.items())]
    if len(got) > 1:
        raise AssertionError("%d samples of %s match %r" % (len(got), name, labels))
    return got[0] if got else 0


# ---------------------------------------------------------------------------
# The admin listener's HTTP, as raw as a scraper or kubelet would send it

def http_get(port, path, method="GET", source="127.0.0.1", raw=None, timeout=5):
    """(status, headers dict, body text) of one request on a new connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=t(timeout), source_address=(source, 0))
    try:
        s.sendall(raw if raw is not None else
                  ("%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n" % (method, path)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if not data:
        return 0, {}, ""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return status, headers, body.decode()


def healthz_ok(port):
    try:
        return http_get(port, "/healthz")[0] == 200
    except OSError:  # closed at accept while the bound is still reached
        return False


def scrape(port):
    status, headers, body = http_get(port, "/metrics")
    if status != 200:
        raise AssertionError("/metrics answered %d: %s" % (status, body[:500]))
    if headers.get("content-type") != "text/plain; version=0.0.4; charset=utf-8":
        raise AssertionError("content type %r" % headers.get("content-type"))
    return parse_exposition(body), body


def s_client(port, pki, name, sess_out=None, sess_in=None):
    """openssl s_client with pki's certificate name (TLS 1.2, session files);
    returns (reused, HTTP status or None, output)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
           "-CAfile", H.pki().root_crt, "-tls1_2", "-ign_eof", "-cert", pki.crt(name), "-key",
           pki.key(name), "-cert_chain", pki.crt(name)]
    if sess_out:
        cmd += ["-sess_out", sess_out]
    if sess_in:
        cmd += ["-sess_in", sess_in]
    req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % H.unique("/s")).encode()
    p = subprocess.run(cmd, input=req, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=t(20))
    out = p.stdout.decode("latin-1")
    m = re.search(r"^HTTP/1\.[01] (\d{3})", out, re.M)
    return bool(re.search(r"^Reused, ", out, re.M)), int(m.group(1)) if m else None, out


def admin_yaml(port, **more):
    lines = ["admin:", "  address: 127.0.0.1", "  port: %d" % port]
    for k, v in more.items():
        lines.append("  %s: %s" % (k, v))
    return "\n".join(lines) + "\n"


def revocation_yaml():
    return "revocation:\n  fetch_timeout: 3s\n  allowed_schemes: [http]\n"


# ===========================================================================

class TestParser(unittest.TestCase):
    """The test's parser refuses what the format does not allow (so that a
    clean parse of certgate's text means something)."""

    def test_rejects(self):
        good = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\\\"\"} 1\n"
        parse_exposition(good)
        bad = [
            "a_total 1\n",                                           # no HELP/TYPE
            "# HELP a x\n# TYPE a counter\na 1\n",                   # counter without _total
            "# HELP a x\n# TYPE a gauge\na{l=\"v} 1\n",              # unterminated
            "# HELP a x\n# TYPE a gauge\na{l=\"\\x\"} 1\n",          # bad escape
            "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                # repeated series
            "# HELP a x\n# TYPE a gauge\na{principal=\"alice\"} 1\n",  # about a user
            "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
            "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 0\nh_count 1\n",
            "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 3\n",
            "# HELP a x\n# TYPE a gauge\na  1\n",
            "# HELP a x\n# TYPE a gauge\na 1",
        ]
        for text in bad:
            with self.assertRaises(ParseError, msg=text):
                parse_exposition(text)


class TestMetrics(H.Base):
    """Known traffic, then /metrics parsed and compared exactly."""

    @classmethod
    def setUpClass(cls):
        cls.admin_port = H.free_port()
        cls.cg = H.Certgate(TMP, name="metrics")
        cls.cg.configure(A, backends={"app": BACKEND.port}, routes=[("/", "app"), ("/api", "app")],
                         revocation={"mode": "fetch"},
                         extra=revocation_yaml() + admin_yaml(cls.admin_port, allow="[127.0.0.1/32, \"::1\"]",
                                                              timeout="1s", max_connections=3))
        cls.cg.start()

    @classmethod
    def tearDownClass(cls):
        cls.cg.stop(check=True)

    def get(self, path, name="alice"):
        return H.curl(self.cg.port, path, cert=A.crt(name) if name else None,
                      key=A.key(name) if name else None)

    def test_counts_match_known_traffic(self):
        # The start-up probe (harness.wait_listening: one TCP connection that
        # the kernel completed, maybe before a worker's loop ran) is accepted
        # and closed first: it must not fall between the two scrapes.
        H.wait_until(lambda: (lambda f: value_of(f, "certgate_connections_accepted_total", listener="main") >= 1 and
                              value_of(f, "certgate_connections_open", listener="main") == 0)(scrape(self.admin_port)[0]),
                     what="the start-up probe accepted and closed")
        fams0, _ = scrape(self.admin_port)
        base = lambda name, **lb: value_of(fams0, name, **lb)
        SRV.reset()
        for _ in range(5):
            self.assert_status(self.get(H.unique("/api/ok")), 200)
        self.assert_refusal(self.get("/nocert", name=None), 403, "client_cert_missing", sub=7)
        for _ in range(2):
            self.assert_refusal(self.get(H.unique("/api/r"), name="revoked"), 403, "client_cert_revoked", sub=13)
        sess = TMP.join(H.unique("sess"))
        reused1, status1, out1 = s_client(self.cg.port, A, "alice", sess_out=sess)
        reused2, status2, out2 = s_client(self.cg.port, A, "alice", sess_in=sess)
        self.assertTrue(status1 == 200 and not reused1, out1[-2000:])
        self.assertTrue(status2 == 200 and reused2, out2[-2000:])

        # every connection closed: the gauge comes back to where it was
        H.wait_until(lambda: value_of(scrape(self.admin_port)[0], "certgate_connections_open", listener="main") == 0,
                     what="connections_open back to 0")
        fams, text = scrape(self.admin_port)
        d = lambda name, **lb: value_of(fams, name, **lb) - base(name, **lb)
        req = "certgate_requests_total"
        self.assertEqual(d(req, listener="main", route="/api", backend="app", status="200", substatus="0",
                           code="ok"), 5, text)
        self.assertEqual(d(req, listener="main", route="/", backend="app", status="200", substatus="0",
                           code="ok"), 2, text)   # the two s_client requests
        self.assertEqual(d(req, listener="main", route="/", backend="app", status="403", substatus="7",
                           code="client_cert_missing"), 1, text)
        # the certificate verdict comes before routing: no route
        self.assertEqual(d(req, listener="main", route="-", backend="-", status="403", substatus="13",
                           code="client_cert_revoked"), 2, text)
        total = sum(v for n, lb, v in fams[req]["samples"]) - sum(v for n, lb, v in fams0[req]["samples"])
        self.assertEqual(total, 10, text)
        self.assertEqual(d("certgate_tls_handshakes_total", result="full"), 9, text)
        self.assertEqual(d("certgate_tls_handshakes_total", result="resumed"), 1, text)
        self.assertEqual(d("certgate_tls_handshakes_total", result="failed"), 0, text)
        self.assertEqual(d("certgate_tls_handshake_duration_seconds_count"), 10, text)
        self.assertEqual(d("certgate_connections_accepted_total", listener="main"), 10, text)
        self.assertEqual(d("certgate_connections_refused_total", reason="limits"), 0, text)
        self.assertEqual(d("certgate_connections_refused_total", reason="admission"), 0, text)
        self.assertGreaterEqual(value_of(fams, "certgate_backend_idle_connections", backend="app"), 1, text)
        self.assertEqual(value_of(fams, "certgate_build_info", version=H.run_certgate(["version"]).stdout.split()[1]),
                         1, text)

    def test_signature_cache_counted(self):
        """The PSA driver's verified-signature cache (docs/platform.md): a
        returning user's leaf signature is answered from it; each
        handshake's CertificateVerify (a new transcript) is verified."""
        fams, text = scrape(self.admin_port)
        if "certgate_signature_cache_hits_total" not in fams:
            self.skipTest("certgate is built with a system mbedTLS (no PSA driver)")
        self.assert_status(self.get(H.unique("/sig")), 200)  # alice's signature known from here on
        fams0, _ = scrape(self.admin_port)
        for _ in range(3):
            self.assert_status(self.get(H.unique("/sig")), 200)  # a new full handshake each (curl)
        fams, text = scrape(self.admin_port)
        d = lambda name: value_of(fams, name) - value_of(fams0, name)
        self.assertGreaterEqual(d("certgate_signature_cache_hits_total"), 3, text)
        self.assertGreaterEqual(d("certgate_signature_cache_misses_total"), 3, text)
        self.assertGreaterEqual(value_of(fams, "certgate_signature_cache_entries"), 1, text)
        self.assertLessEqual(value_of(fams, "certgate_signature_cache_entries"), 8192, text)

    def test_crl_fetch_counted_per_issuer(self):
        # A certgate of its own: the CRLs are fetched by its first request.
        SRV.reset()
        port = H.free_port()
        cg = H.Certgate(TMP, name=H.unique("crlcount"))
        cg.configure(A, backends={"app": BACKEND.port}, revocation={"mode": "fetch"},
                     extra=revocation_yaml() + admin_yaml(port))
        cg.start()
        self.addCleanup(cg.stop)
        fams, text = scrape(port)
        self.assertEqual(value_of(fams, "certgate_crl_fetches_total", issuer=INTERMEDIATE), 0, text)
        for _ in range(3):
            self.assert_status(H.curl(cg.port, H.unique("/c"), cert=A.crt("alice"), key=A.key("alice")), 200)
        fams, text = scrape(port)
        self.assertEqual(len(SRV.requests("intermediate.crl")), 1)
        self.assertEqual(value_of(fams, "certgate_crl_fetches_total", issuer=INTERMEDIATE), 1, text)
        self.assertEqual(value_of(fams, "certgate_crl_fetches_total", issuer=ROOT), 1, text)
        self.assertEqual(value_of(fams, "certgate_crl_fetch_failures_total", issuer=INTERMEDIATE), 0, text)
        left = value_of(fams, "certgate_crl_next_update_seconds", issuer=INTERMEDIATE)
        self.assertTrue(29 * 86400 < left <= 30 * 86400, text)

    def test_reloads_counted(self):
        fams0, _ = scrape(self.admin_port)
        n0 = value_of(fams0, "certgate_reloads_total")
        f0 = value_of(fams0, "certgate_reload_failures_total")
        ts0 = value_of(fams0, "certgate_last_reload_success_timestamp_seconds")
        time.sleep(1.1)  # the timestamp has whole seconds
        self.cg.signal(signal.SIGHUP)
        self.cg.wait_log(event="reload", result="ok", count=int(n0 - f0) + 1)
        with open(self.cg.cfg_path) as fh:
            good = fh.read()
        self.addCleanup(lambda: self.cg.write_config(good))
        self.cg.write_config(good + "workers: [not, a, number]\n")
        self.cg.signal(signal.SIGHUP)
        self.cg.wait_log(event="reload", result="failed", count=int(f0) + 1)
        self.cg.write_config(good)
        fams, text = scrape(self.admin_port)
        self.assertEqual(value_of(fams, "certgate_reloads_total"), n0 + 2, text)
        self.assertEqual(value_of(fams, "certgate_reload_failures_total"), f0 + 1, text)
        self.assertGreater(value_of(fams, "certgate_last_reload_success_timestamp_seconds"), ts0, text)
        # still ready: the configuration in force is kept, and the detail says so
        status, _, body = http_get(self.admin_port, "/readyz")
        self.assertEqual(status, 200, body)
        self.assertIn("reload(s) refused", body)

    def test_healthz(self):
        status, headers, body = http_get(self.admin_port, "/healthz")
        self.assertEqual((status, body), (200, "ok\n"))
        self.assertEqual(headers.get("connection"), "close")

    def test_refusals(self):
        status, headers, _ = http_get(self.admin_port, "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET")
        self.assertEqual(http_get(self.admin_port, "/metrics", method="HEAD")[0], 405)
        self.assertEqual(http_get(self.admin_port, "/metrics", method="DELETE")[0], 405)
        self.assertEqual(http_get(self.admin_port, "/nothing")[0], 404)
        big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 5000 + b"\r\n\r\n"
        self.assertEqual(http_get(self.admin_port, None, raw=big)[0], 431)
        self.assertEqual(http_get(self.admin_port, None, raw=b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: 3\r\n\r\nabc")[0], 400)
        self.assertEqual(http_get(self.admin_port, None, raw=b"GET /metrics HTTP/9.9\r\n\r\n")[0], 400)
        # outside admin.allow (127.0.0.1/32): 127.0.0.2 is loopback too
        self.assertEqual(http_get(self.admin_port, "/metrics", source="127.0.0.2")[0], 403)
        self.cg.wait_log(event="admin_refused", client="127.0.0.2")
        # and the listener still serves
        self.assertEqual(http_get(self.admin_port, "/healthz")[0], 200)

    def test_slow_client_times_out_and_connections_are_bounded(self):
        # A connection of an earlier request still counted when the idle ones
        # arrive, or a loaded machine on which the three idle connections reach
        # admin.timeout (1 s) before the fourth is even answered, frees a slot
        # under the fourth, and the round proves nothing. Such a round is done
        # again (three at most); a round answered in time must show the limit.
        for _ in range(3):
            H.wait_until(lambda: healthz_ok(self.admin_port), what="the admin listener")
            time.sleep(0.3)  # the admin side of earlier requests' connections closes after ours
            t0 = time.monotonic()
            idle = [socket.create_connection(("127.0.0.1", self.admin_port), timeout=t(5)) for _ in range(3)]
            try:
                time.sleep(0.2)
                # a fourth is closed at once: admin.max_connections is 3
                extra = socket.create_connection(("127.0.0.1", self.admin_port), timeout=t(5))
                answer = extra.recv(100)
                extra.close()
                if answer and time.monotonic() - t0 > 0.8:
                    continue
                self.assertEqual(answer, b"")
                # admin.timeout (1s): a 408, then the connection closes
                data = b""
                while True:
                    chunk = idle[0].recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data)
                self.assertGreater(time.monotonic() - t0, 0.9)
            finally:
                for s in idle:
                    s.close()
            H.wait_until(lambda: healthz_ok(self.admin_port), what="the admin listener again")
            return
        self.fail("three rounds in a row were too slow to see admin.max_connections before admin.timeout")


class TestReadyCRL(H.Base):
    """/readyz follows the usability of a CA's CRL."""

    def test_expired_crl_not_ready_then_ready(self):
        SRV.reset()
        self.addCleanup(SRV.reset)
        c = A.copy(TMP.join("pki-short"))
        c.reissue("3s")
        for ca in ("intermediate", "root"):
            SRV.serve_file(ca + ".crl", c.crl(ca))
        t0 = time.monotonic()
        port = H.free_port()
        cg = H.Certgate(TMP, name="ready-crl")
        cg.configure(c, backends={"app": BACKEND.port}, revocation={"mode": "fetch"},
                     extra=revocation_yaml() + admin_yaml(port))
        cg.start()
        self.addCleanup(cg.stop)
        status, _, body = http_get(port, "/readyz")
        self.assertEqual(status, 200, body)
        self.assert_status(H.curl(cg.port, "/x", cert=c.crt("alice"), key=c.key("alice")), 200)
        status, headers, body = http_get(port, "/readyz")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("content-type"), "application/json")
        import json
        doc = json.loads(body)
        self.assertTrue(doc["ready"])
        crl = [x for x in doc["checks"] if x["name"] == "crl" and x.get("issuer") == INTERMEDIATE]
        self.assertTrue(crl and crl[0]["ok"], body)
        # the CRL server goes away and the CRL expires (stale_grace 0)
        SRV.set_mode("404")
        time.sleep(max(0, 4.5 - (time.monotonic() - t0)))
        status, _, body = http_get(port, "/readyz")
        self.assertEqual(status, 503, body)
        doc = json.loads(body)
        self.assertFalse(doc["ready"])
        bad = [x for x in doc["checks"] if not x["ok"]]
        self.assertIn(INTERMEDIATE, [x.get("issuer") for x in bad], body)
        self.assertTrue(all(x["name"] == "crl" for x in bad), body)
        self.assertIn("expired", bad[0]["detail"])
        self.assertNotIn("alice", body)
        fams, text = scrape(port)
        self.assertLess(value_of(fams, "certgate_crl_next_update_seconds", issuer=INTERMEDIATE), 0, text)
        # a client of that CA is refused meanwhile (fail closed)
        self.assert_refusal(H.curl(cg.port, "/y", cert=c.crt("alice"), key=c.key("alice")), 403,
                            "revocation_status_unknown", sub=13, cg=cg)
        fams, text = scrape(port)
        self.assertGreaterEqual(value_of(fams, "certgate_crl_fetch_failures_total", issuer=INTERMEDIATE), 1, text)
        # the CA publishes again: the next fetch makes it usable
        c.reissue("30d")
        SRV.set_mode("normal")
        self.assert_status(H.curl(cg.port, "/z", cert=c.crt("alice"), key=c.key("alice")), 200)
        status, _, body = http_get(port, "/readyz")
        self.assertEqual(status, 200, body)


def lab_tools_missing():
    try:
        kdc_lab.Lab(H.module_tmp(__name__).join("probe"))._check_tools()
    except kdc_lab.LabError as e:
        return str(e)
    return None


class TestReadyKerberos(H.Base):
    """With Kerberos configured, /readyz needs a KDC exchange within
    admin.kdc_window; /readyz itself asks the KDC (an AS exchange for the
    proxy) once half the window has passed."""

    WINDOW = 4

    @classmethod
    def setUpClass(cls):
        why = lab_tools_missing()
        if why:
            raise unittest.SkipTest(why)
        d = H.module_tmp(__name__).join("lab")
        os.makedirs(d, exist_ok=True)
        cls.lab = kdc_lab.Lab(d).start(users=0)

    @classmethod
    def tearDownClass(cls):
        cls.lab.stop()

    def ready(self, port):
        status, _, body = http_get(port, "/readyz")
        import json
        doc = json.loads(body)
        kerb = [x for x in doc["checks"] if x["name"] == "kerberos"]
        self.assertEqual(len(kerb), 1, body)
        self.assertEqual(status == 200, doc["ready"], body)
        return status, kerb[0], body

    def test_kdc_stopped_not_ready_after_window(self):
        pki = H.pki()
        port = H.free_port()
        cg = H.Certgate(TMP, name="ready-krb")
        cg.write_config("\n".join([
            "process:", "  allow_root: true",
            "logging:", "  level: debug", "  file: %s" % cg.log_path,
            "kerberos:",
            "  keytab: %s" % self.lab.proxy_keytab,
            "  principal: HTTP/proxy.example.test",
            "  realm: EXAMPLE.TEST",
            "  krb5_config: %s" % self.lab.krb5_conf,
            "  kdc_timeout: 2s",
            "backends:",
            "  - name: app",
            "    url: %s" % self.lab.backend_url,
            "listeners:",
            "  - name: main",
            "    address: 127.0.0.1",
            "    port: %d" % cg.port,
            "    tls:",
            "      certificate: %s" % pki.server_crt,
            "      key: %s" % pki.server_key,
            "      client_ca: %s" % pki.root_crt,
            "    revocation:",
            "      mode: off",
            "    routes:",
            "      - path: /",
            "        backend: app",
            admin_yaml(port, kdc_window="%ds" % self.WINDOW)]))
        cg.start()
        self.addCleanup(cg.stop)
        self.addCleanup(lambda: self.lab.kdc_running() or self.lab.start_kdc())
        H.wait_until(lambda: self.ready(port)[0] == 200, timeout=10, what="ready with the KDC up")
        fams, text = scrape(port)
        self.assertGreater(value_of(fams, "certgate_kerberos_last_success_timestamp_seconds"), 0, text)
        self.assertGreater(value_of(fams, "certgate_kerberos_proxy_tgt_expiry_timestamp_seconds"), time.time(), text)
        self.lab.stop_kdc()
        t0 = time.monotonic()
        H.wait_until(lambda: self.ready(port)[0] == 503, timeout=self.WINDOW + 8, interval=0.25,
                     what="not ready once the KDC is down for the window")
        self.assertGreaterEqual(time.monotonic() - t0, self.WINDOW / 2 - 0.5)
        status, kerb, body = self.ready(port)
        self.assertFalse(kerb["ok"], body)
        self.assertIn("admin.kdc_window", kerb["detail"])
        self.lab.start_kdc()
        H.wait_until(lambda: self.ready(port)[0] == 200, timeout=15, interval=0.25, what="ready again")
