"""Request smuggling and bypass suite: table-driven, both directions.

certgate sits between TLS clients and a scripted raw backend (raw_backend.py)
that records every byte it receives, split into requests by a strict parser.
Every case is written to the secure behaviour, not to what a given build
does; where several answers are secure (400 or 501 for an unknown coding,
refusing or normalising a lenient-but-unambiguous syntax), the row lists them.

  client -> backend  (TestRequestFraming, TestRequestHead): raw bytes over TLS
      with alice's certificate. Either refused (a certgate page with one of
      the statuses, the connection closed, nothing after it, and the backend
      received nothing of it: for a bad body, at most the head of a request
      it never completed, on a connection certgate then closed), or
      forwarded: the exact requests the backend received (request line, body,
      framing header, no smuggled header, request or trailer), one response
      per request on the client side, in order, and nothing after them.
  route bypasses (TestRouteBypass): "/" is client_cert: optional, "/admin"
      required. Without a certificate every spelling of /admin gets 400 or
      403.7 and reaches nothing; with one, the backend gets the canonical
      target.
  spoofed identity headers (TestSpoofedHeaders): none reaches the backend
      as the client sent it.
  backend -> client (TestBackendResponses): the backend answers with hostile
      bytes. A 502 page when nothing was sent to the client yet, an aborted
      connection once the head was, never a silently complete wrong
      response; the next request gets its own response, and a poisoned
      backend connection is never reused. A POST / PATCH the backend drops
      unanswered on a reused connection reaches it once (no replay).

Each case gets its own marker (H.unique) in its targets, so a case can only
match its own requests and responses.
"""

import re
import time
import unittest

import harness as H
from harness import t
from raw_backend import RawBackend, Reply, default_reply, parse_described

TMP = None
PKI = None

# "/" is open to clients without a certificate; "/admin" is not.
ROUTES = [("/", "app", "optional"), ("/admin", "app", "required")]


def setUpModule():
    global TMP, PKI
    TMP = H.module_tmp(__name__)
    PKI = H.pki()


def tearDownModule():
    H.cleanup_module_tmp(__name__)


# ===========================================================================
# Outcomes

class Refused:
    """A certgate refusal page with one of statuses, then the connection
    closed. at_head: refused before anything was forwarded (the backend
    received no byte); otherwise (a bad body) the backend may have received
    the start of a request it never completed, on a connection certgate
    then closed."""

    def __init__(self, *statuses, at_head=True, sub=None):
        self.statuses, self.at_head, self.sub = statuses, at_head, sub

    def __repr__(self):
        return "Refused%r%s" % (self.statuses, "" if self.at_head else " (body)")


class Fwd:
    """One request the backend must receive: exact request line and body;
    framing: None (no body header), ("length", n) or ("chunked",). host:
    the exact Host value expected (None: not checked beyond "exactly one").
    absent: header names that must not reach the backend."""

    def __init__(self, line, body=b"", framing=None, host=b"localhost", absent=()):
        self.line, self.body, self.framing, self.host = line, body, framing, host
        self.absent = absent
        self.method = line.split(b" ", 1)[0].decode()

    def __repr__(self):
        return "Fwd(%r, body=%r, %r)" % (self.line, self.body[:60], self.framing)


class Forwarded:
    """The client's bytes are these requests; closes: certgate closes the
    connection after the last response (HTTP/1.0 ...); interim: how many 1xx
    responses may precede each final one (certgate's own 100 Continue)."""

    def __init__(self, *reqs, closes=False, interim=0):
        self.reqs, self.closes, self.interim = reqs, closes, interim

    def __repr__(self):
        return "Forwarded%r" % (self.reqs,)


def refusal_of(resp):
    """(status, "403.7"-style text) when resp is a certgate page, else None."""
    if resp is None or not resp.header("X-Certgate-Error"):
        return None
    return resp.status, resp.header("X-Certgate-Status") or ""


# ===========================================================================
# Reading certgate's answers off a TLSClient without trusting them

def split_response(buf, method="GET", eof=False):
    """(Response, bytes used) for the first complete response in buf, 1xx
    responses collected in .interim; None while incomplete. Raises
    AssertionError on bytes that are not HTTP/1.1."""
    pos, interim = 0, []
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            return None
        r = H.parse_head(buf[pos:end])
        if r.status == 0:
            raise AssertionError("not an HTTP response head: %r" % buf[pos:pos + 300])
        pos = end + 4
        if 100 <= r.status < 200:
            interim.append(r)
            continue
        break
    r.interim = interim
    te = (r.header("Transfer-Encoding") or "").lower()
    cl = r.header("Content-Length")
    if method == "HEAD" or r.status in (204, 304):
        r.body = b""
        return r, pos
    if te:
        if te != "chunked":
            raise AssertionError("certgate sent Transfer-Encoding %r" % te)
        r.chunked = True
        body = b""
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(buf[pos:eol], 16)
            pos = eol + 2
            if size == 0:
                break
            if len(buf) < pos + size + 2:
                return None
            body += buf[pos:pos + size]
            if buf[pos + size:pos + size + 2] != b"\r\n":
                raise AssertionError("certgate's chunk not followed by CRLF: %r" % buf[pos:pos + 300])
            pos += size + 2
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            line, pos = buf[pos:eol], eol + 2
            if not line:
                break
        r.body = body
        return r, pos
    if cl is not None:
        n = int(cl)
        if len(buf) < pos + n:
            return None
        r.body = buf[pos:pos + n]
        return r, pos + n
    if not eof:
        return None
    r.body = buf[pos:]
    return r, len(buf)


def read_one(c, method="GET", timeout=4):
    """("complete", Response) | ("closed", bytes received of an incomplete
    response) | ("timeout", bytes): the next response on c, never trusting
    that it is well framed."""
    deadline = time.monotonic() + t(timeout)
    while True:
        got = split_response(c.buf, method, eof=c.eof)
        if got:
            resp, used = got
            c.buf = c.buf[used:]
            return "complete", resp
        if c.eof:
            return "closed", c.buf
        try:
            c._fill(deadline)
        except H.Closed:
            pass
        except TimeoutError:
            return "timeout", c.buf


def pct_upper(b):
    """Percent escapes with upper-case hex, to compare targets."""
    return re.sub(rb"%[0-9a-fA-F]{2}", lambda m: m.group(0).upper(), b)


# ===========================================================================
# A certgate in front of a raw backend, one per class

class RawCase(H.Base):
    routes = ROUTES

    @classmethod
    def setUpClass(cls):
        cls.raw = RawBackend().start()
        cls.cg = H.Certgate(TMP, name=cls.__name__)
        cls.cg.configure(PKI, backends={"app": cls.raw.port}, routes=cls.routes,
                         timeouts={"request_header": "2s", "client_body": "2s",
                                   "backend_response": "2s", "keepalive_idle": "10s"})
        cls.cg.start()

    @classmethod
    def tearDownClass(cls):
        cg, raw = cls.__dict__.get("cg"), cls.__dict__.get("raw")
        try:
            if cg is not None:
                cg.stop(check=True)
        finally:
            if raw is not None:
                raw.stop()

    def setUp(self):
        self.raw.responder = None

    def tearDown(self):
        self.raw.responder = None

    # -- failure messages --

    def describe_backend(self, mark, note=""):
        def fn():
            out = [note] if note else []
            out.append("--- raw backend since the case started ---")
            for n, data in self.raw.bytes_since(mark, marker=b"").items():
                out.append("conn %d (%s): %r" % (n, self.raw.conn(n).closed_by or "open", data[:1500]))
            for n, e in self.raw.errors_since(mark):
                out.append("conn %d parser: %s" % (n, e))
            out.append(self.cg.diagnostics(lines=25))
            return "\n".join(out)
        return H.Explain(fn)

    def assert_no_backend_errors(self, mark, note=""):
        errs = self.raw.errors_since(mark)
        self.assertEqual(errs, [], self.describe_backend(
            mark, "%s\nthe backend received bytes a normalising proxy must never send" % note))

    # -- the two client -> backend outcomes --

    def check_refused(self, c, first, outcomes, mark, note):
        ref = refusal_of(first)
        ok = [o for o in outcomes if isinstance(o, Refused) and first.status in o.statuses
              and (o.sub is None or ref[1] in o.sub)]
        self.assertTrue(ok, self.describe_backend(mark, "%s\nrefused with %s %s; expected one of %r"
                                                  "\n--- response ---\n%s" % (
                                                      note, first.status, ref[1], outcomes,
                                                      first.describe())))
        self.assertTrue(first.header("X-Request-Id"), first.describe())
        closed = c.wait_closed(3)
        self.assertTrue(closed, "%s: connection still open 3 s after the refusal" % note)
        self.assertEqual(c.buf, b"", "%s: bytes after the refusal: %r" % (note, c.buf[:500]))
        at_head = all(o.at_head for o in ok)
        got = self.raw.bytes_since(mark)
        if at_head:
            self.assertEqual(got, {}, self.describe_backend(
                mark, "%s: refused at the head, yet the backend received bytes" % note))
        else:
            reqs = self.raw.requests_since(mark)
            self.assertEqual(reqs, [], self.describe_backend(
                mark, "%s: refused for its body, yet the backend received complete requests" % note))
            for n in got:
                self.assertTrue(self.raw.wait_closed(n, t(3)), self.describe_backend(
                    mark, "%s: backend connection %d, which got part of a refused request, was "
                    "not closed" % (note, n)))
        self.assert_no_backend_errors(mark, note)

    def check_forwarded(self, c, first, outcome, mark, m, note):
        exp = list(outcome.reqs)
        responses = [first]
        for f in exp[1:]:
            try:
                responses.append(c.read_response(method=f.method, timeout=4))
            except H.Closed as e:
                self.fail(self.describe_backend(mark, "%s: closed after %d of %d responses (%s)" % (
                    note, len(responses), len(exp), e)))
        sentinel = b"GET /end-%s HTTP/1.1" % m
        if outcome.closes:
            self.assertTrue(c.wait_closed(3), "%s: certgate kept the connection open" % note)
            self.assertEqual(c.buf, b"", "%s: bytes after the last response: %r" % (note, c.buf[:500]))
        else:
            # One more request: if anything (a second response, a smuggled
            # one) were queued, it would come before the sentinel's.
            try:
                c.send(sentinel + b"\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                responses.append(c.read_response(timeout=4))
            except (H.Closed, OSError) as e:
                self.fail(self.describe_backend(mark, "%s: the connection did not take one more "
                                                "request after the case's (%s)" % (note, e)))
            exp.append(Fwd(sentinel))
            self.assertTrue(c.wait_closed(3), "%s: not closed after Connection: close" % note)
            self.assertEqual(c.buf, b"", "%s: bytes after the last response: %r" % (note, c.buf[:500]))

        reqs = self.raw.wait_requests(mark, len(exp), t(3))
        msg = self.describe_backend(mark, "%s: expected %r" % (note, exp))
        self.assert_no_backend_errors(mark, note)
        self.assertEqual([r.request_line for r in reqs], [f.line for f in exp], msg)
        for i, (f, r, resp) in enumerate(zip(exp, reqs, responses)):
            where = "%s, request %d (%r)" % (note, i + 1, f.line)
            self.assertEqual(r.body, f.body, msg)
            self.assertEqual(r.framing, f.framing, msg)
            self.assertEqual(r.trailers, [], "%s: trailers reached the backend: %r" % (where, r.trailers))
            hosts = r.header_values(b"host")
            self.assertEqual(len(hosts), 1, "%s: Host headers at the backend: %r" % (where, hosts))
            if f.host is not None:
                self.assertEqual(hosts[0], f.host, where)
            for name in f.absent:
                self.assertEqual(r.header_values(name), [], "%s: %s reached the backend:\n%s" % (
                    where, name, r.describe()))
            self.assertNotIn(b"smug-", r.head[len(r.request_line):],
                             "%s: a smuggled line is among the headers:\n%s" % (where, r.describe()))
            # one response per request, in order, each the backend's answer to it
            self.assertIsNone(refusal_of(resp), "%s: refused after all:\n%s" % (where, resp.describe()))
            self.assertEqual(resp.status, 200, "%s:\n%s" % (where, resp.describe()))
            self.assertLessEqual(len(resp.interim), outcome.interim, "%s: %d interim responses" % (
                where, len(resp.interim)))
            if f.method != "HEAD":
                d = parse_described(resp.body)
                self.assertEqual(d, (r.conn, r.index, r.method, r.target),
                                 "%s: the response is not the backend's answer to this request:\n%s"
                                 % (where, resp.describe()))

    def run_request_case(self, build, cert="alice"):
        m = H.unique("m").encode()
        raw, outcomes = build(m)
        note = "sent %r" % raw[:600]
        mark = self.raw.mark(m)
        with self.cg.tls(cert) as c:
            c.send(raw)
            first_method = raw.split(b" ", 1)[0].decode("latin-1")
            try:
                first = c.read_response(method=first_method if first_method == "HEAD" else "GET",
                                        timeout=5)
            except H.Closed as e:
                self.fail(self.describe_backend(mark, "%s\ncertgate closed without a response (%s)" % (
                    note, e)))
            except TimeoutError:
                self.fail(self.describe_backend(mark, "%s\nno response within 5 s" % note))
            if refusal_of(first):
                self.check_refused(c, first, outcomes, mark, note)
                return
            fwd = [o for o in outcomes if isinstance(o, Forwarded)]
            if not fwd:
                self.fail(self.describe_backend(mark, "%s\nforwarded (the client got %d %s); "
                                                "expected %r\n--- response ---\n%s" % (
                                                    note, first.status, first.reason, outcomes,
                                                    first.describe())))
            self.check_forwarded(c, first, fwd[0], mark, m, note)


def add_table(cls, table, prefix="test_"):
    for name, build in table.items():
        def test(self, build=build):
            self.run_request_case(build)
        test.__name__ = prefix + name
        test.__qualname__ = "%s.%s" % (cls.__name__, test.__name__)
        setattr(cls, test.__name__, test)


# ===========================================================================
# Client -> backend: the CL / TE desync family and chunked bodies

def smug(m):
    return b"GET /smug-%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % m


def post(m, headers, body=b"", version=b"HTTP/1.1", method=b"POST"):
    return (b"%s /c-%s %s\r\nHost: localhost\r\n" % (method, m, version)
            + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


def line(m, method=b"POST", prefix=b"c"):
    return b"%s /%s-%s HTTP/1.1" % (method, prefix, m)


def chunked(m, te=b"Transfer-Encoding: chunked", body=b"5\r\nhello\r\n0\r\n\r\n", extra=()):
    return post(m, [te] + list(extra), body)


def hello_chunked(m):
    return Forwarded(Fwd(line(m), b"hello", ("chunked",)))


def zero_then_smuggle(m):
    return b"0\r\n\r\n" + smug(m)


R400 = Refused(400)
R400_501 = Refused(400, 501)
BODY400 = Refused(400, at_head=False)

FRAMING = {
    "cl_and_te": lambda m: (post(m, [b"Content-Length: %d" % len(zero_then_smuggle(m)),
                                     b"Transfer-Encoding: chunked"], zero_then_smuggle(m)), [R400]),
    "te_and_cl": lambda m: (post(m, [b"Transfer-Encoding: chunked",
                                     b"Content-Length: %d" % len(zero_then_smuggle(m))],
                                 zero_then_smuggle(m)), [R400]),
    "te_and_cl_zero": lambda m: (post(m, [b"Transfer-Encoding: chunked", b"Content-Length: 0"],
                                      zero_then_smuggle(m)), [R400]),
    # identical duplicates may be merged (RFC 9112 6.3) or refused
    "cl_duplicate_same": lambda m: (post(m, [b"Content-Length: %d" % len(smug(m))] * 2, smug(m)),
                                    [R400, Forwarded(Fwd(line(m), smug(m), ("length", len(smug(m)))))]),
    "cl_duplicate_different": lambda m: (post(m, [b"Content-Length: 0",
                                                  b"Content-Length: %d" % len(smug(m))], smug(m)),
                                         [R400]),
    "cl_list_same": lambda m: (post(m, [b"Content-Length: 5, 5"], b"hello"),
                               [R400, Forwarded(Fwd(line(m), b"hello", ("length", 5)))]),
    "cl_list_different": lambda m: (post(m, [b"Content-Length: 0, %d" % len(smug(m))], smug(m)),
                                    [R400]),
    "cl_plus": lambda m: (post(m, [b"Content-Length: +%d" % len(smug(m))], smug(m)), [R400]),
    "cl_inner_space": lambda m: (post(m, [b"Content-Length: 1 0"], b"x" * 10 + smug(m)), [R400]),
    "cl_negative": lambda m: (post(m, [b"Content-Length: -1"], smug(m)), [R400]),
    "cl_hex": lambda m: (post(m, [b"Content-Length: 0x%x" % len(smug(m))], smug(m)), [R400]),
    "cl_huge_2_63": lambda m: (post(m, [b"Content-Length: 9223372036854775808"], smug(m)),
                               [Refused(400, 413)]),
    "cl_huge_2_64_plus_1": lambda m: (post(m, [b"Content-Length: 18446744073709551617"], smug(m)),
                                      [Refused(400, 413)]),
    "cl_empty": lambda m: (post(m, [b"Content-Length: "], smug(m)), [R400]),
    "cl_leading_zeros": lambda m: (post(m, [b"Content-Length: 005"], b"hello"),
                                   [R400, Forwarded(Fwd(line(m), b"hello", ("length", 5)))]),
    "cl_body_then_pipelined": lambda m: (post(m, [b"Content-Length: 5"], b"hello" + smug(m)),
                                         [Forwarded(Fwd(line(m), b"hello", ("length", 5)),
                                                    Fwd(b"GET /smug-%s HTTP/1.1" % m))]),
    # "Chunked" is chunked: codings are case-insensitive (RFC 9112 7)
    "te_chunked_capitalised": lambda m: (chunked(m, b"Transfer-Encoding: Chunked"), [hello_chunked(m)]),
    "te_chunked_upper": lambda m: (chunked(m, b"Transfer-Encoding: CHUNKED"), [hello_chunked(m)]),
    "te_name_lower": lambda m: (chunked(m, b"transfer-encoding: chunked"), [hello_chunked(m)]),
    "te_twice": lambda m: (chunked(m, extra=[b"Transfer-Encoding: chunked"]), [R400_501]),
    "te_chunked_chunked": lambda m: (chunked(m, b"Transfer-Encoding: chunked, chunked"), [R400_501]),
    "te_gzip_chunked": lambda m: (chunked(m, b"Transfer-Encoding: gzip, chunked"), [R400_501]),
    "te_chunked_gzip": lambda m: (chunked(m, b"Transfer-Encoding: chunked, gzip"), [R400_501]),
    "te_xchunked": lambda m: (chunked(m, b"Transfer-Encoding: xchunked"), [R400_501]),
    "te_chunked_suffix": lambda m: (chunked(m, b"Transfer-Encoding: chunkedx"), [R400_501]),
    "te_identity": lambda m: (post(m, [b"Transfer-Encoding: identity"], smug(m)), [R400_501]),
    "te_empty": lambda m: (post(m, [b"Transfer-Encoding: "], smug(m)), [R400_501]),
    "te_chunked_parameter": lambda m: (chunked(m, b"Transfer-Encoding: chunked;q=1"), [R400_501]),
    # OWS around a value is not part of it: normalise or refuse, never mis-frame
    "te_leading_space": lambda m: (chunked(m, b"Transfer-Encoding:   chunked"),
                                   [hello_chunked(m), R400]),
    "te_leading_tab": lambda m: (chunked(m, b"Transfer-Encoding:\tchunked"), [hello_chunked(m), R400]),
    "te_trailing_tab": lambda m: (chunked(m, b"Transfer-Encoding: chunked\t"), [hello_chunked(m), R400]),
    "te_vertical_tab": lambda m: (chunked(m, b"Transfer-Encoding: \x0bchunked"), [R400_501]),
    "te_line_folded_first": lambda m: (
        b"POST /c-%s HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: localhost\r\n"
        b"Content-Length: 5\r\n\r\n0\r\n\r\n" % m + smug(m), [R400]),
    "te_obs_fold_value": lambda m: (post(m, [b"Content-Length: %d" % len(zero_then_smuggle(m)),
                                             b"Transfer-Encoding:", b" chunked"],
                                         zero_then_smuggle(m)), [R400]),
    "te_name_space_before_colon": lambda m: (post(m, [b"Content-Length: %d" % len(zero_then_smuggle(m)),
                                                      b"Transfer-Encoding : chunked"],
                                                  zero_then_smuggle(m)), [R400]),
    "te_lookalike_name": lambda m: (post(m, [b"Transfer-Encodings: chunked"], b""), [R400]),
    "te_in_http10": lambda m: (chunked(m, extra=[]).replace(b"HTTP/1.1", b"HTTP/1.0", 1), [R400]),
    # chunk sizes
    "chunk_size_0x": lambda m: (chunked(m, body=b"0x5\r\nhello\r\n0\r\n\r\n"), [BODY400]),
    "chunk_size_leading_space": lambda m: (chunked(m, body=b" 5\r\nhello\r\n0\r\n\r\n"),
                                           [BODY400, hello_chunked(m)]),
    "chunk_size_trailing_space": lambda m: (chunked(m, body=b"5 \r\nhello\r\n0\r\n\r\n"),
                                            [BODY400, hello_chunked(m)]),
    "chunk_size_negative": lambda m: (chunked(m, body=b"-5\r\nhello\r\n0\r\n\r\n"), [BODY400]),
    "chunk_size_not_hex": lambda m: (chunked(m, body=b"zz\r\n" + smug(m)), [BODY400]),
    "chunk_size_overflow": lambda m: (chunked(m, body=b"ffffffffffffffffff\r\n" + smug(m)), [BODY400]),
    "chunk_size_2_64": lambda m: (chunked(m, body=b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
                                  [BODY400]),
    # chunk extensions: valid ones are dropped, invalid ones refused
    "chunk_ext_valid": lambda m: (chunked(m, body=b"5;name=value\r\nhello\r\n0;last=yes\r\n\r\n"),
                                  [hello_chunked(m)]),
    "chunk_ext_quoted": lambda m: (chunked(m, body=b'5;name="a b;c"\r\nhello\r\n0\r\n\r\n'),
                                   [hello_chunked(m), BODY400]),
    "chunk_ext_ctl": lambda m: (chunked(m, body=b"5;name=a\x01b\r\nhello\r\n0\r\n\r\n"), [BODY400]),
    "chunk_ext_nul": lambda m: (chunked(m, body=b"5;name=a\x00b\r\nhello\r\n0\r\n\r\n"), [BODY400]),
    "chunk_ext_bare_lf": lambda m: (chunked(m, body=b"5;a\n0\r\n\r\nhello\r\n0\r\n\r\n"), [BODY400]),
    "chunk_ext_bare_cr": lambda m: (chunked(m, body=b"5;a\rb\r\nhello\r\n0\r\n\r\n"), [BODY400]),
    # what follows chunk data must be CRLF, exactly
    "chunk_data_missing_crlf": lambda m: (chunked(m, body=b"5\r\nhello0\r\n\r\n"), [BODY400]),
    "chunk_data_other_two_bytes": lambda m: (chunked(m, body=b"5\r\nhelloXY0\r\n\r\n" + smug(m)),
                                             [BODY400]),
    "chunk_data_two_spaces": lambda m: (chunked(m, body=b"5\r\nhello  0\r\n\r\n"), [BODY400]),
    "chunk_data_lf_only": lambda m: (chunked(m, body=b"5\r\nhello\n0\r\n\r\n"), [BODY400]),
    "chunk_data_lf_lf": lambda m: (chunked(m, body=b"5\r\nhello\n\n0\r\n\r\n"), [BODY400]),
    "chunk_data_too_long": lambda m: (chunked(m, body=b"3\r\nhello\r\n0\r\n\r\n"), [BODY400]),
    "chunk_size_line_lf_only": lambda m: (chunked(m, body=b"5\nhello\r\n0\r\n\r\n"), [BODY400]),
    "chunk_last_lf_only": lambda m: (chunked(m, body=b"5\r\nhello\r\n0\n\n"), [BODY400]),
    # trailers: dropped (or the request refused), never forwarded as headers
    "chunk_trailers_framing": lambda m: (chunked(m, body=b"5\r\nhello\r\n0\r\nContent-Length: 99\r\n"
                                                   b"Transfer-Encoding: chunked\r\nX-Trailer: t\r\n\r\n"),
                                         [Forwarded(Fwd(line(m), b"hello", ("chunked",),
                                                        absent=(b"x-trailer",))), BODY400]),
    "chunk_trailer_host": lambda m: (chunked(m, body=b"5\r\nhello\r\n0\r\nHost: evil.example\r\n\r\n"),
                                     [hello_chunked(m), BODY400]),
    # the legitimate case: a complete chunked request, then a pipelined one
    "chunked_then_pipelined": lambda m: (chunked(m) + smug(m),
                                         [Forwarded(Fwd(line(m), b"hello", ("chunked",)),
                                                    Fwd(b"GET /smug-%s HTTP/1.1" % m))]),
    "chunked_many_chunks": lambda m: (chunked(m, body=b"1\r\nh\r\n2\r\nel\r\nA\r\nlo world!!\r\n0\r\n\r\n"),
                                      [Forwarded(Fwd(line(m), b"hello world!!", ("chunked",)))]),
    "chunked_empty": lambda m: (chunked(m, body=b"0\r\n\r\n"),
                                [Forwarded(Fwd(line(m), b"", ("chunked",)))]),
}


class TestRequestFraming(RawCase):
    """Client -> backend: CL / TE desync family, chunk sizes, extensions,
    CRLF after chunk data, trailers, pipelining."""


add_table(TestRequestFraming, FRAMING)


# ===========================================================================
# Client -> backend: request heads

def get(m, headers=(b"Host: localhost",), rl=None):
    rl = rl if rl is not None else b"GET /c-%s HTTP/1.1" % m
    return rl + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def get_ok(m, **kw):
    return Forwarded(Fwd(line(m, b"GET"), **kw))


HEAD = {
    "obs_fold": lambda m: (get(m, [b"Host: localhost", b"X-A: first", b" X-Smug: 1"]), [R400]),
    "obs_fold_tab": lambda m: (get(m, [b"Host: localhost", b"X-A: first", b"\tX-Smug: 1"]), [R400]),
    "space_before_colon": lambda m: (get(m, [b"Host: localhost", b"X-A : b"]), [R400]),
    "tab_before_colon": lambda m: (post(m, [b"Content-Length\t: 5"], b"hello"), [R400]),
    "bare_cr_in_value": lambda m: (get(m, [b"Host: localhost", b"X-A: a\rX-Smug: b"]), [R400]),
    "bare_cr_line_end": lambda m: (get(m, [b"Host: localhost\rX-Smug: b"]), [R400]),
    "bare_lf_in_head": lambda m: (get(m, [b"Host: localhost\nX-Smug: b"]), [R400]),
    "lf_only_lines": lambda m: (b"GET /c-%s HTTP/1.1\nHost: localhost\n\n" % m + smug(m).replace(
        b"\r\n", b"\n"), [R400]),
    "lf_only_head_end": lambda m: (b"GET /c-%s HTTP/1.1\r\nHost: localhost\r\n\n" % m + smug(m), [R400]),
    "nul_in_value": lambda m: (get(m, [b"Host: localhost", b"X-A: a\x00b"]), [R400]),
    "del_in_value": lambda m: (get(m, [b"Host: localhost", b"X-A: a\x7fb"]), [R400]),
    "ctl_in_name": lambda m: (get(m, [b"Host: localhost", b"X-\x01A: b"]), [R400]),
    "name_with_space": lambda m: (get(m, [b"Host: localhost", b"X A: b"]), [R400]),
    "name_with_paren": lambda m: (get(m, [b"Host: localhost", b"X(A): b"]), [R400]),
    "name_with_quote": lambda m: (get(m, [b"Host: localhost", b'X"A: b']), [R400]),
    "name_with_slash": lambda m: (get(m, [b"Host: localhost", b"X/A: b"]), [R400]),
    "name_with_at": lambda m: (get(m, [b"Host: localhost", b"X@A: b"]), [R400]),
    "name_non_ascii": lambda m: (get(m, [b"Host: localhost", b"X-\xc3\xa4: b"]), [R400]),
    "empty_name": lambda m: (get(m, [b"Host: localhost", b": b"]), [R400]),
    "no_colon": lambda m: (get(m, [b"Host: localhost", b"X-A b"]), [R400]),
    "request_line_two_spaces": lambda m: (get(m, rl=b"GET  /c-%s HTTP/1.1" % m), [R400]),
    "request_line_trailing_space": lambda m: (get(m, rl=b"GET /c-%s HTTP/1.1 " % m), [R400]),
    "request_line_leading_space": lambda m: (get(m, rl=b" GET /c-%s HTTP/1.1" % m), [R400]),
    "request_line_tab": lambda m: (get(m, rl=b"GET\t/c-%s\tHTTP/1.1" % m), [R400]),
    "request_line_three_parts_space_in_target": lambda m: (
        get(m, rl=b"GET /c-%s HTTP/1.1 /smug-%s HTTP/1.1" % (m, m)), [R400]),
    "absolute_form": lambda m: (get(m, rl=b"GET http://evil/c-%s HTTP/1.1" % m), [R400]),
    "absolute_form_https_same_host": lambda m: (get(m, rl=b"GET https://localhost/c-%s HTTP/1.1" % m),
                                                [R400]),
    "authority_form": lambda m: (get(m, rl=b"GET localhost:443 HTTP/1.1"), [R400]),
    "asterisk_with_get": lambda m: (get(m, rl=b"GET * HTTP/1.1"), [R400]),
    "target_fragment": lambda m: (get(m, rl=b"GET /c-%s#frag HTTP/1.1" % m), [R400]),
    "target_raw_utf8": lambda m: (get(m, rl=b"GET /c-%s/\xc3\xa4 HTTP/1.1" % m), [R400]),
    "http09_style": lambda m: (b"GET /c-%s\r\n\r\n" % m, [R400]),
    "http_1_2": lambda m: (get(m, rl=b"GET /c-%s HTTP/1.2" % m), [Refused(400, 505)]),
    "http_2_0": lambda m: (get(m, rl=b"GET /c-%s HTTP/2.0" % m), [Refused(400, 505)]),
    "http_lowercase": lambda m: (get(m, rl=b"GET /c-%s http/1.1" % m), [Refused(400, 505)]),
    "http_version_leading_zero": lambda m: (get(m, rl=b"GET /c-%s HTTP/01.1" % m), [Refused(400, 505)]),
    "http10_without_host": lambda m: (get(m, [], rl=b"GET /c-%s HTTP/1.0" % m),
                                      [Forwarded(Fwd(line(m, b"GET"), host=None), closes=True)]),
    "missing_host": lambda m: (get(m, [b"X-A: b"]), [R400]),
    "duplicate_host": lambda m: (get(m, [b"Host: localhost", b"Host: evil.example"]), [R400]),
    "duplicate_host_same": lambda m: (get(m, [b"Host: localhost", b"Host: localhost"]), [R400]),
    "host_list": lambda m: (get(m, [b"Host: localhost, evil.example"]), [R400]),
    "empty_host": lambda m: (get(m, [b"Host: "]), [R400, get_ok(m, host=b"")]),
    "host_with_ctl": lambda m: (get(m, [b"Host: local\x01host"]), [R400]),
    "host_with_space": lambda m: (get(m, [b"Host: local host"]), [R400]),
    "host_with_userinfo": lambda m: (get(m, [b"Host: evil@localhost"]), [R400]),
    "host_with_path": lambda m: (get(m, [b"Host: localhost/admin"]), [R400]),
    "expect_100_continue": lambda m: (post(m, [b"Expect: 100-continue", b"Content-Length: 5"], b"hello"),
                                      [Forwarded(Fwd(line(m), b"hello", ("length", 5),
                                                     absent=(b"expect",)), interim=1)]),
    "expect_100_continue_case": lambda m: (post(m, [b"Expect: 100-Continue", b"Content-Length: 5"],
                                                b"hello"),
                                           [Forwarded(Fwd(line(m), b"hello", ("length", 5),
                                                          absent=(b"expect",)), interim=1)]),
    "expect_unknown": lambda m: (post(m, [b"Expect: x-smuggle", b"Content-Length: 5"], b"hello"),
                                 [Refused(400, 417)]),
    "expect_list": lambda m: (post(m, [b"Expect: 100-continue, x-smuggle", b"Content-Length: 5"],
                                   b"hello"), [Refused(400, 417)]),
    "expect_twice": lambda m: (post(m, [b"Expect: 100-continue", b"Expect: x-smuggle",
                                        b"Content-Length: 5"], b"hello"), [Refused(400, 417)]),
    "method_lowercase": lambda m: (get(m, rl=b"get /c-%s HTTP/1.1" % m), [R400_501]),
    "method_mixed_case": lambda m: (get(m, rl=b"Get /c-%s HTTP/1.1" % m), [R400_501]),
    "method_unknown": lambda m: (get(m, rl=b"SMUGGLE /c-%s HTTP/1.1" % m), [R400_501]),
    "method_long": lambda m: (get(m, rl=b"G" * 200 + b" /c-%s HTTP/1.1" % m), [R400_501]),
    "method_very_long": lambda m: (get(m, rl=b"G" * 9000 + b" /c-%s HTTP/1.1" % m),
                                   [Refused(400, 414, 431, 501)]),
    "method_with_slash": lambda m: (get(m, rl=b"GET/ /c-%s HTTP/1.1" % m), [R400_501]),
    "connect": lambda m: (get(m, rl=b"CONNECT localhost:443 HTTP/1.1"), [R400_501]),
    # hop-by-hop names must not take certgate's own headers, or Host, away
    "connection_names_host": lambda m: (get(m, [b"Host: localhost", b"Connection: Host, keep-alive"]),
                                        [R400, get_ok(m)]),
    "upgrade_h2c": lambda m: (get(m, [b"Host: localhost", b"Connection: Upgrade, HTTP2-Settings",
                                      b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"]),
                              [R400, get_ok(m, absent=(b"upgrade", b"http2-settings"))]),
    "upgrade_websocket": lambda m: (get(m, [b"Host: localhost", b"Connection: Upgrade",
                                            b"Upgrade: websocket", b"Sec-WebSocket-Version: 13",
                                            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]) + smug(m),
                                    [R400, Refused(501), Forwarded(
                                        Fwd(line(m, b"GET"), absent=(b"upgrade",)),
                                        Fwd(b"GET /smug-%s HTTP/1.1" % m))]),
}


class TestRequestHead(RawCase):
    """Client -> backend: request line, header syntax, Host, Expect, methods."""


add_table(TestRequestHead, HEAD)


# ===========================================================================
# Route bypasses: "/" optional, "/admin" required

# name -> (target, targets the backend may receive with a certificate, 400
# acceptable with a certificate). Without a certificate each must be
# refused: 400, or 403.7 (client_cert_missing).
BYPASS = {
    "double_slash": (b"//admin", [b"/admin", b"//admin"], True),
    "triple_slash": (b"///admin/x", [b"/admin/x", b"///admin/x"], True),
    "dot_segment": (b"/./admin", [b"/admin"], False),
    "dot_dot_segment": (b"/x/../admin", [b"/admin"], False),
    "dot_dot_from_public": (b"/public/../admin", [b"/admin"], False),
    "dot_dot_above_root": (b"/../admin", [b"/admin"], True),
    "pct_unreserved": (b"/%61dmin", [b"/admin"], False),
    "pct_unreserved_upper": (b"/%41DMIN", [b"/ADMIN", b"/admin"], False),
    "pct_dot_dot": (b"/public/%2e%2e/admin", [b"/admin"], True),
    "pct_dot_segment": (b"/%2e/admin", [b"/admin"], True),
    "upper_case": (b"/ADMIN", [b"/ADMIN", b"/admin"], False),
    "mixed_case_below": (b"/Admin/x", [b"/Admin/x", b"/admin/x"], False),
    "encoded_slash_after": (b"/admin%2f", [b"/admin%2F", b"/admin/"], True),
    "encoded_slash_before": (b"/%2fadmin", [b"/%2Fadmin", b"/admin", b"//admin"], True),
    "encoded_backslash_before": (b"/%5cadmin", [b"/%5Cadmin", b"/admin"], True),
    "encoded_backslash_dot_dot": (b"/x%5c..%5cadmin", [b"/x%5C..%5Cadmin", b"/admin"], True),
    "semicolon_parameter": (b"/admin;x", [b"/admin;x"], True),
    "semicolon_dot_dot": (b"/x/..;/admin", [b"/x/..;/admin", b"/admin"], True),
    "encoded_nul": (b"/admin%00", [b"/admin%00"], True),
    "tab_in_target": (b"/admin\t", [], True),
    "backslash": (b"\\admin", [b"/admin"], True),
    "dot_dot_encoded_slash": (b"/admin/..%2f", [b"/admin/..%2F"], True),
    "encoded_trailing_dot": (b"/admin%2e", [b"/admin.", b"/admin%2E"], True),
    "trailing_dot": (b"/admin.", [b"/admin."], True),
    "encoded_trailing_space": (b"/admin%20", [b"/admin%20"], True),
    "double_encoding": (b"/%2561dmin", [b"/%2561dmin"], True),
    "trailing_dot_slash": (b"/admin/.", [b"/admin/", b"/admin"], False),
}


def name_of(header):
    """A test-name part for a header name: "X-A" -> "x_a", "X_A" ->
    "x_a_underscored", "x-a" -> "x_a_lower" (all three are tested)."""
    n = header.decode()
    suffix = "_underscored" if "_" in n else "_lower" if n == n.lower() and n != n.upper() else ""
    return n.lower().replace("-", "_") + suffix


def extract_admin_paths(reqs):
    """Targets the backend got whose decoded, lower-cased form mentions admin."""
    out = []
    for r in reqs:
        p = r.target.lower()
        for _ in range(3):  # undo up to three rounds of percent-encoding
            p = re.sub(rb"%([0-9a-f]{2})", lambda mm: bytes([int(mm.group(1), 16)]), p)
        if b"admin" in p:
            out.append(r.target)
    return out


class TestRouteBypass(RawCase):
    """Every spelling of /admin: refused without a certificate (400 or
    403.7, nothing forwarded), canonical at the backend with one."""

    def request(self, cert, target, headers=()):
        m = H.unique("b").encode()
        raw = (b"GET %s HTTP/1.1\r\nHost: localhost\r\nX-Case: %s\r\n" % (target, m)
               + b"".join(h + b"\r\n" for h in headers) + b"\r\n")
        mark = self.raw.mark(m)
        with self.cg.tls(cert) as c:
            c.send(raw)
            state, r = read_one(c)
            if state == "complete":
                closed = c.wait_closed(3) if refusal_of(r) else None
            else:
                closed = None
        reqs = self.raw.requests_since(mark)
        if not reqs:
            # a forwarded request is at the backend before its response is
            # at the client; give a late one a moment only when the client
            # was answered by the backend
            if state == "complete" and not refusal_of(r):
                reqs = self.raw.wait_requests(mark, 1, t(2))
        return raw, mark, state, r, closed, reqs

    def check_no_cert(self, name):
        target = BYPASS[name][0]
        raw, mark, state, r, closed, reqs = self.request(None, target)
        note = "no certificate, sent %r" % raw
        msg = self.describe_backend(mark, note + ("\n--- response ---\n" + r.describe()
                                                  if state == "complete" else "\n%s: %r" % (state, r)))
        self.assertEqual(state, "complete", msg)
        ref = refusal_of(r)
        self.assertTrue(ref and (ref[0] == 400 or ref[1] == "403.7"),
                        H.Explain(lambda: "expected 400 or 403.7, got %s %s (the backend received %r)%s"
                                  % (r.status, ref, extract_admin_paths(reqs), msg)))
        self.assertTrue(closed, "%s: connection still open after the refusal" % note)
        self.assertEqual(extract_admin_paths(reqs), [], msg)
        self.assertEqual(self.raw.bytes_since(mark), {}, msg)
        self.assert_no_backend_errors(mark, note)

    def check_cert(self, name):
        target, canon, may_400 = BYPASS[name]
        raw, mark, state, r, closed, reqs = self.request("alice", target)
        note = "alice, sent %r" % raw
        msg = self.describe_backend(mark, note + ("\n--- response ---\n" + r.describe()
                                                  if state == "complete" else "\n%s: %r" % (state, r)))
        self.assertEqual(state, "complete", msg)
        self.assert_no_backend_errors(mark, note)
        ref = refusal_of(r)
        if ref:
            self.assertTrue(may_400 and ref[0] == 400, H.Explain(
                lambda: "refused with %s; expected the backend to receive one of %r%s" % (
                    ref, canon, msg)))
            self.assertEqual(self.raw.bytes_since(mark), {}, msg)
            return
        self.assertEqual(r.status, 200, msg)
        self.assertEqual(len(reqs), 1, msg)
        self.assertIn(pct_upper(reqs[0].target), [pct_upper(x) for x in canon], H.Explain(
            lambda: "the backend received the target %r; canonical: one of %r%s" % (
                reqs[0].target, canon, msg)))

    def test_control_public_admin_is_not_admin(self):
        # /public/admin is under "/": forwarded as is, without a certificate.
        # (Shows that the checks above can tell a refusal from a forward.)
        raw, mark, state, r, closed, reqs = self.request(None, b"/public/admin")
        msg = self.describe_backend(mark, "sent %r" % raw)
        self.assertEqual((state, getattr(r, "status", None)), ("complete", 200), msg)
        self.assertEqual([x.target for x in reqs], [b"/public/admin"], msg)

    def check_rewrite_header(self, header, cert):
        raw, mark, state, r, closed, reqs = self.request(cert, b"/", [header + b": /admin"])
        note = "%s, sent %r" % (cert or "no certificate", raw)
        msg = self.describe_backend(mark, note)
        self.assertEqual(state, "complete", msg)
        self.assert_no_backend_errors(mark, note)
        ref = refusal_of(r)
        if ref:
            self.assertEqual(ref[0], 400, msg)
            self.assertEqual(self.raw.bytes_since(mark), {}, msg)
            return
        self.assertEqual(len(reqs), 1, msg)
        name = header.lower()
        leaked = [(k, v) for k, v in reqs[0].headers
                  if k.lower().replace(b"_", b"-") == name.replace(b"_", b"-") or b"/admin" in v]
        self.assertEqual(leaked, [], "%s: the backend received %r\n%s" % (note, leaked, reqs[0].describe()))


def _add_bypass_tests():
    for name in BYPASS:
        for kind in ("no_cert", "cert"):
            def test(self, name=name, kind=kind):
                (self.check_no_cert if kind == "no_cert" else self.check_cert)(name)
            test.__name__ = "test_%s_%s" % (kind, name)
            setattr(TestRouteBypass, test.__name__, test)
    for header in (b"X-Original-URL", b"X-Rewrite-URL", b"x-original-url", b"X_Original_URL",
                   b"X_Rewrite_URL"):
        for cert in (None, "alice"):
            def test(self, header=header, cert=cert):
                self.check_rewrite_header(header, cert)
            test.__name__ = "test_rewrite_header_%s_%s" % (
                name_of(header), "cert" if cert else "no_cert")
            setattr(TestRouteBypass, test.__name__, test)


_add_bypass_tests()


# ===========================================================================
# Spoofed identity headers

SPOOFED = [
    b"X-Client-Cert-Subject", b"X-Client-Cert-Issuer", b"X-Client-Cert-Serial",
    b"X-Client-Cert-SHA256", b"X-Client-Cert-Verified", b"x-client-cert-anything",
    b"X-Certgate-Principal", b"X-Certgate-User",
    b"X-ARR-ClientCert", b"X-ARR-SSL", b"X-Forwarded-Client-Cert", b"X-SSL-Client-Cert",
    b"X-SSL-Client-DN", b"X-Client-Cert", b"Remote-User", b"X-Remote-User", b"X-Real-IP",
    b"Forwarded", b"X-Forwarded-For", b"X-Forwarded-Host", b"X-Forwarded-Proto",
    b"Authorization", b"Proxy-Authorization",
    b"X_Client_Cert_Subject", b"X_Certgate_Principal", b"X_ARR_ClientCert", b"X_Forwarded_For",
    b"X_Real_IP", b"Remote_User", b"X_Remote_User",
    b"Client-Cert", b"Client-Cert-Chain", b"client_cert", b"CLIENT_CERT_CHAIN",
]


class TestSpoofedHeaders(RawCase):
    """No identity header reaches the backend as the client sent it, with a
    certificate (on /) or without one (on the optional route)."""

    def check_spoof(self, header, cert):
        m = H.unique("s").encode()
        spoof = H.unique("spoofed").encode()
        value = b"CN=mallory " + spoof
        raw = (b"GET /s-%s HTTP/1.1\r\nHost: localhost\r\n%s: %s\r\n\r\n" % (m, header, value))
        mark = self.raw.mark(m)
        with self.cg.tls(cert) as c:
            c.send(raw)
            state, r = read_one(c)
        note = "%s, sent %r" % (cert or "no certificate", raw)
        msg = self.describe_backend(mark, note)
        self.assertEqual(state, "complete", msg)
        self.assert_no_backend_errors(mark, note)
        ref = refusal_of(r)
        if ref:
            self.assertEqual(ref[0], 400, msg)
            self.assertEqual(self.raw.bytes_since(mark), {}, msg)
            return
        self.assertEqual(r.status, 200, msg)
        reqs = self.raw.wait_requests(mark, 1, t(2))
        self.assertEqual(len(reqs), 1, msg)
        self.assertNotIn(spoof.lower(), reqs[0].head.lower(), "%s: the spoofed value reached the backend:"
                         "\n%s" % (note, reqs[0].describe()))
        if cert:  # certgate's own identity is there, once
            subj = reqs[0].header_values(b"x-client-cert-subject")
            self.assertEqual(len(subj), 1, reqs[0].describe())
            self.assertIn(b"CN=alice", subj[0], reqs[0].describe())
        self.assertEqual(reqs[0].header_values(b"x-forwarded-for"), [b"127.0.0.1"], reqs[0].describe())

    def test_connection_cannot_remove_certgate_headers(self):
        # Hop-by-hop is the client's word about its own headers: it must not
        # take away the ones certgate adds.
        m = H.unique("hop").encode()
        raw = (b"GET /s-%s HTTP/1.1\r\nHost: localhost\r\nConnection: X-Forwarded-For, "
               b"X-Forwarded-Proto, X-Request-Id, X-Client-Cert-Subject, X-Client-Cert-SHA256\r\n\r\n" % m)
        mark = self.raw.mark(m)
        with self.cg.tls("alice") as c:
            c.send(raw)
            state, r = read_one(c)
        msg = self.describe_backend(mark, "sent %r" % raw)
        self.assertEqual((state, getattr(r, "status", None)), ("complete", 200), msg)
        req = self.raw.wait_requests(mark, 1, t(2))[0]
        d = req.describe()
        self.assertEqual(req.header_values(b"x-forwarded-for"), [b"127.0.0.1"], d)
        self.assertEqual(req.header_values(b"x-forwarded-proto"), [b"https"], d)
        self.assertEqual(req.header_values(b"x-request-id"), [r.header("X-Request-Id").encode()], d)
        self.assertEqual(len(req.header_values(b"x-client-cert-subject")), 1, d)
        self.assertEqual(req.header_values(b"x-client-cert-sha256"),
                         [PKI.cert_info("alice")["sha256"].encode()], d)


def _add_spoof_tests():
    for header in SPOOFED:
        def test(self, header=header):
            for cert in ("alice", None):
                with self.subTest(cert=cert or "none"):
                    self.check_spoof(header, cert)
        test.__name__ = "test_spoofed_" + name_of(header)
        setattr(TestSpoofedHeaders, test.__name__, test)


_add_spoof_tests()


# ===========================================================================
# Backend -> client: hostile responses

OK2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
EVIL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Evil: 1\r\n\r\nEVIL"
NEGOTIATE_TOKEN = b"oRQwEqADCgEAoQsGCSqGSIb3EgECAg=="


def chunked_head(extra=b""):
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + extra + b"\r\n"


FAIL = "fail"  # 502 page, or the connection aborted once the head was sent


class Ok:
    """A complete response: status, exact body; absent: byte strings no
    header may contain; also_502: a 502 page is acceptable too."""

    def __init__(self, status, body, absent=(), also_502=False):
        self.status, self.body, self.absent, self.also_502 = status, body, absent, also_502


# name -> (request method, Reply, expectation, poisoned: the backend
# connection must not be used again, cert)
RESPONSES = {
    "cl_and_te": ("GET", Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"5\r\nhello\r\n0\r\n\r\n" + EVIL), FAIL, True),
    "te_and_cl": ("GET", Reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n"
                               b"0\r\n\r\n" + EVIL), FAIL, True),
    "two_different_cls": ("GET", Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\n"
                                       b"okEVIL"), FAIL, True),
    "cl_negative": ("GET", Reply(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n" + EVIL), FAIL, True),
    "te_xchunked": ("GET", Reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n"
                                 b"5\r\nhello\r\n0\r\n\r\n"), FAIL, True),
    "invalid_chunk_size": ("GET", Reply(chunked_head() + b"zz\r\nhello\r\n0\r\n\r\n"), FAIL, True),
    "invalid_chunk_size_after_head": ("GET", Reply(chunked_head(), later=b"zz\r\nhello\r\n0\r\n\r\n"),
                                      FAIL, True),
    "chunk_size_overflow": ("GET", Reply(chunked_head() + b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
                            FAIL, True),
    "chunk_data_not_followed_by_crlf": ("GET", Reply(chunked_head() + b"5\r\nhelloXY0\r\n\r\n"),
                                        FAIL, True),
    "chunk_data_lf_only": ("GET", Reply(chunked_head() + b"5\r\nhello\n0\r\n\r\n"), FAIL, True),
    "chunk_ext_ctl": ("GET", Reply(chunked_head() + b"5;a=\x01\r\nhello\r\n0\r\n\r\n"), FAIL, True),
    "lf_only_head": ("GET", Reply(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"), FAIL, True),
    "obs_fold_header": ("GET", Reply(b"HTTP/1.1 200 OK\r\nX-A: a\r\n Content-Length: 4\r\n"
                                     b"Content-Length: 2\r\n\r\nok"), FAIL, True),
    "nul_in_header": ("GET", Reply(b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok"),
                      FAIL, True),
    "space_before_colon": ("GET", Reply(b"HTTP/1.1 200 OK\r\nContent-Length : 4\r\n"
                                        b"Content-Length: 2\r\n\r\nokEVIL"), FAIL, True),
    "status_101": ("GET", Reply(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                b"Upgrade: websocket\r\n\r\n" + EVIL), FAIL, True),
    "http_2_0": ("GET", Reply(b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), FAIL, True),
    "http_0_9_no_status_line": ("GET", Reply(b"hello, this is not HTTP\r\n", close=True), FAIL, True),
    "status_three_digits_plus": ("GET", Reply(b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok"),
                                 FAIL, True),
    "more_bytes_than_content_length": ("GET", Reply(OK2 + EVIL), Ok(200, b"ok", also_502=True), True),
    "head_response_with_body": ("HEAD", Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"),
                                Ok(200, b"", also_502=True), True),
    "status_204_with_body": ("GET", Reply(b"HTTP/1.1 204 No Content\r\n\r\n" + EVIL),
                             Ok(204, b"", also_502=True), True),
    "status_204_with_content_length": ("GET", Reply(b"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n"
                                                    b"\r\nEVIL"), Ok(204, b"", also_502=True), True),
    "status_304_with_body": ("GET", Reply(b"HTTP/1.1 304 Not Modified\r\n\r\n" + EVIL),
                             Ok(304, b"", also_502=True), True),
    "interim_100_then_200": ("GET", Reply(b"HTTP/1.1 100 Continue\r\n\r\n" + OK2), Ok(200, b"ok"), False),
    "interim_102_103_then_200": ("GET", Reply(b"HTTP/1.1 102 Processing\r\n\r\n"
                                              b"HTTP/1.1 103 Early Hints\r\n"
                                              b"Link: </x>; rel=preload\r\n\r\n" + OK2),
                                 Ok(200, b"ok"), False),
    "body_cut_short_content_length": ("GET", Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                                                   close=True), FAIL, True),
    "body_cut_short_chunked": ("GET", Reply(chunked_head() + b"5\r\nhello\r\n", close=True), FAIL, True),
    "body_cut_short_later": ("GET", Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                                          close_later=True), FAIL, True),
    "negotiate_401": ("GET", Reply(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate " +
                                   NEGOTIATE_TOKEN + b"\r\nContent-Length: 2\r\n\r\nno"),
                      Ok(401, b"no", absent=(NEGOTIATE_TOKEN,)), False),
    "negotiate_mutual_auth_200": ("GET", Reply(b"HTTP/1.1 200 OK\r\nWWW-Authenticate: Negotiate " +
                                               NEGOTIATE_TOKEN + b"\r\nContent-Length: 2\r\n\r\nok"),
                                  Ok(200, b"ok", absent=(NEGOTIATE_TOKEN,)), False),
}


class TestBackendResponses(RawCase):
    """Backend -> client: hostile response bytes; the next request is
    served correctly and a poisoned backend connection is never reused."""

    def hostile(self, m, reply):
        prefix = b"/b-" + m

        def responder(req):
            return reply if req.target.startswith(prefix) else default_reply(req)
        self.raw.responder = responder

    def check_followup(self, c, cert, m, mark, poisoned, note):
        """A next request (on c when it is still usable, else a new
        connection) gets its own response, from another backend connection
        when the case's was poisoned."""
        target = b"/f-" + m
        fresh = c is None
        if fresh:
            c = self.cg.tls(cert)
        try:
            c.send(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target)
            state, r = read_one(c)
        finally:
            c.close()
        msg = self.describe_backend(mark, "%s: the next request (%s connection)%s" % (
            note, "a new" if fresh else "the same",
            "\n--- response ---\n" + r.describe() if state == "complete" else ": %s %r" % (state, r)))
        self.assertEqual(state, "complete", msg)
        self.assertEqual(r.status, 200, msg)
        d = parse_described(r.body)
        self.assertTrue(d and d[2] == b"GET" and d[3] == target, msg)
        if poisoned is not None:
            poisoned_conn, poisoned_seq = poisoned.conn, poisoned.seq
            self.assertNotEqual(d[0], poisoned_conn, H.Explain(
                lambda: "the poisoned backend connection %d was reused%s" % (poisoned_conn, msg)))
            later = [x for x in self.raw.conn(poisoned_conn).requests if x.seq > poisoned_seq]
            self.assertEqual(later, [], H.Explain(
                lambda: "the poisoned backend connection %d carried more requests%s" % (
                    poisoned_conn, msg)))
            self.assertTrue(self.raw.wait_closed(poisoned_conn, t(3)), H.Explain(
                lambda: "the poisoned backend connection %d is still open%s" % (poisoned_conn, msg)))
        self.assert_no_backend_errors(mark, note)

    def run_response_case(self, name):
        method, reply, expect, poisoned = RESPONSES[name]
        self.run_hostile(name, method, reply, expect, poisoned, cert="alice")

    def run_hostile(self, name, method, reply, expect, poisoned, cert, followup_delay=0,
                    same_conn=True):
        m = H.unique("r").encode()
        self.hostile(m, reply)
        mark = self.raw.mark(m)
        raw = b"%s /b-%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % (method.encode(), m)
        note = "case %s, backend sent %r" % (name, (reply.data + reply.later)[:400])
        c = self.cg.tls(cert)
        keep = None
        try:
            c.send(raw)
            state, r = read_one(c, method=method, timeout=5)
            reqs = self.raw.requests_since(mark)
            desc = ("--- response ---\n" + r.describe()) if state == "complete" else "%s after %r" % (
                state, r[:600])
            msg = self.describe_backend(mark, "%s\n%s" % (note, desc))
            self.assertNotEqual(state, "timeout", msg)
            self.assertEqual(len(reqs), 1, msg)
            ref = refusal_of(r) if state == "complete" else None
            if expect == FAIL:
                if state == "complete":
                    self.assertTrue(ref and r.status == 502, H.Explain(
                        lambda: "a complete response was delivered for a broken one:%s" % msg))
                    self.assertTrue(c.wait_closed(3), msg)
                else:
                    self.assertTrue(r, H.Explain(lambda: "certgate closed the connection without a "
                                                 "502 although nothing had been sent to the client%s"
                                                 % msg))
            else:
                self.assertEqual(state, "complete", msg)
                if ref:
                    self.assertTrue(expect.also_502 and r.status == 502, msg)
                    self.assertTrue(c.wait_closed(3), msg)
                else:
                    self.assertEqual((r.status, r.body), (expect.status, expect.body), msg)
                    for bad in expect.absent:
                        hit = [h for h in r.headers if bad.decode() in h[1]]
                        self.assertEqual(hit, [], "%s: passed to the client" % msg)
                    self.assertTrue(all(i.status == 100 for i in r.interim), msg)
                    if same_conn and "close" not in (r.header("Connection") or "").lower():
                        keep = c
            if followup_delay:
                time.sleep(followup_delay)
            self.check_followup(keep, cert, m, mark, reqs[0] if poisoned else None, note)
        finally:
            c.close()

    def test_stray_bytes_after_complete_response(self):
        # 100 ms after a complete response, the backend sends a whole extra
        # response on the (pooled) connection. The next request, from another
        # client connection without a certificate on the optional route,
        # must get its own response from a fresh backend connection.
        reply = Reply(OK2, later=EVIL, later_delay=0.1)
        self.run_hostile("stray_bytes_later", "GET", reply, Ok(200, b"ok"), True, cert=None,
                         followup_delay=t(0.3), same_conn=False)

    def check_not_replayed(self, method):
        # The backend takes a request without a body on a reused connection,
        # then closes it without answering. A GET may be retried; a POST may
        # have had its effect already: it must reach the backend once, and
        # the client gets one answer (a 502 page).
        m = H.unique("once").encode()
        self.hostile(m, Reply(b"", close=True))
        with self.cg.tls("alice") as c:
            warm = c.request("GET", "/warm-" + m.decode())  # a pooled connection for alice
            self.assertEqual(warm.status, 200, warm.describe())
        mark = self.raw.mark(m)
        raw = b"%s /b-%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % (method, m)
        with self.cg.tls("alice") as c:
            c.send(raw)
            state, r = read_one(c, timeout=5)
            reqs = self.raw.requests_since(mark)
            msg = self.describe_backend(mark, "sent %r; %s" % (
                raw, r.describe() if state == "complete" else "%s %r" % (state, r)))
            self.assertEqual(len(reqs), 1, H.Explain(
                lambda: "the backend received the %s %d times%s" % (method.decode(), len(reqs), msg)))
            self.assertTrue(reqs[0].index > 1, H.Explain(
                lambda: "not sent on a reused connection: the case proves nothing%s" % msg))
            self.assertEqual(state, "complete", msg)
            self.assertEqual((r.status, bool(refusal_of(r))), (502, True), msg)

    def test_post_without_body_not_replayed(self):
        self.check_not_replayed(b"POST")

    def test_patch_not_replayed(self):
        self.check_not_replayed(b"PATCH")

    def test_stray_bytes_new_client_with_certificate(self):
        reply = Reply(OK2, later=EVIL, later_delay=0.1)
        self.run_hostile("stray_bytes_later_cert", "GET", reply, Ok(200, b"ok"), True, cert="alice",
                         followup_delay=t(0.3), same_conn=False)


def _add_response_tests():
    for name in RESPONSES:
        def test(self, name=name):
            self.run_response_case(name)
        test.__name__ = "test_" + name
        setattr(TestBackendResponses, test.__name__, test)


_add_response_tests()


if __name__ == "__main__":
    unittest.main()
