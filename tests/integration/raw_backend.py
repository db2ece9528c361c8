"""A scripted raw HTTP/1.1 backend for the smuggling tests (test_smuggling.py).

It records, per TCP connection, every byte certgate sends, and splits those
bytes into requests with a strict, minimal parser. certgate normalises the
framing of what it forwards (one request line, CRLF lines, exactly one of
Content-Length / "Transfer-Encoding: chunked", re-chunked bodies without
extensions), so anything ambiguous arriving here is itself a failure: the
parser records it in the connection's `errors` and the backend closes that
connection.

    be = RawBackend().start()            # 127.0.0.1, a free port: be.port
    be.responder = lambda req: Reply(b"HTTP/1.1 200 OK\\r\\n...", close=True)
    mark = be.mark()                     # then, after the exchange:
    be.requests_since(mark)              # [RawRequest], in arrival order
    be.stop()

A responder gets each complete RawRequest and returns the bytes to send, a
Reply (bytes plus: a delay before them, bytes to send later, close after),
or None (send nothing). The default, default_reply(), answers 200 with a
Content-Length body naming the request (method, target, connection number,
request number), so the client side can tell which request a response is
for. Standard library only; every wait is bounded.
"""

import re
import socket
import threading
import time

TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                  b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
MAX_HEAD = 64 * 1024
HEX = re.compile(rb"[0-9A-Fa-f]{1,16}\Z")


class ParseError(Exception):
    """Bytes certgate must never send to a backend."""


class RawRequest:
    """One complete request as the backend received it."""

    def __init__(self):
        self.conn = 0           # connection number (1, 2, ... per backend)
        self.index = 0          # request number on its connection (1, 2, ...)
        self.seq = 0            # arrival order over the whole backend
        self.raw = b""          # every byte of it, head and framed body
        self.head = b""         # request line and header lines, with the final CRLF CRLF
        self.request_line = b""
        self.method = self.target = self.version = b""
        self.headers = []       # [(name, value)] as bytes, value without surrounding OWS
        self.framing = None     # None, ("length", n) or ("chunked",)
        self.body = b""         # decoded body
        self.trailers = []      # [(name, value)] after the last chunk
        self.at = 0.0           # time.monotonic() when it was complete

    def header_values(self, name):
        n = name.lower().encode() if isinstance(name, str) else name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def describe(self):
        return "conn %d req %d: %r + body %r" % (self.conn, self.index, self.head, self.body[:300])

    def __repr__(self):
        return "<RawRequest conn=%d n=%d %r>" % (self.conn, self.index, self.request_line)


class RawConn:
    """One TCP connection from certgate."""

    def __init__(self, number, sock, peer):
        self.number = number
        self.sock = sock
        self.peer = peer
        self.data = bytearray()  # every byte received
        self.parsed = 0          # offset of the first byte not part of a complete request
        self.requests = []
        self.errors = []         # parser complaints: "offset N: ..."
        self.closed_by = None    # "peer" (certgate), "backend" (a reply or an error) or "stop"
        self.closed_at = None
        self.send_lock = threading.Lock()

    @property
    def leftover(self):
        """Bytes received after the last complete request (an incomplete one)."""
        return bytes(self.data[self.parsed:])

    def __repr__(self):
        return "<RawConn %d requests=%d bytes=%d closed_by=%s errors=%s>" % (
            self.number, len(self.requests), len(self.data), self.closed_by, self.errors)


class Reply:
    """What to send for one request: data after delay seconds; then, later
    seconds after that, the bytes of `later`; close the connection after
    data (close) or after the later bytes (close_later)."""

    def __init__(self, data=b"", *, delay=0.0, close=False, later=b"", later_delay=0.1,
                 close_later=False):
        self.data, self.delay, self.close = data, delay, close
        self.later, self.later_delay, self.close_later = later, later_delay, close_later


def describe_line(req):
    return b"raw-backend conn=%d req=%d method=%s target=%s\n" % (
        req.conn, req.index, req.method, req.target)


def default_reply(req):
    body = describe_line(req)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"X-Raw-Conn: %d\r\nX-Raw-Req: %d\r\n\r\n" % (len(body), req.conn, req.index) + body)


DESCRIBE_RE = re.compile(rb"\Araw-backend conn=(\d+) req=(\d+) method=(\S+) target=(.*)\n\Z",
                         re.S)


def parse_described(body):
    """(conn, index, method, target) from a default_reply body, or None."""
    m = DESCRIBE_RE.match(body)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)


# ---------------------------------------------------------------------------
# The strict parser

def _check_line(line, what):
    for i, c in enumerate(line):
        if c == 0x0A:
            raise ParseError("bare LF in %s at column %d" % (what, i + 1))
        if c == 0x0D:
            raise ParseError("bare CR in %s at column %d" % (what, i + 1))
        if (c < 0x20 and c != 0x09) or c == 0x7F:
            raise ParseError("control character 0x%02x in %s at column %d" % (c, what, i + 1))


def _field(line, what):
    _check_line(line, what)
    if line[:1] in (b" ", b"\t"):
        raise ParseError("obs-fold (line starting with whitespace) in %s: %r" % (what, line))
    name, colon, value = line.partition(b":")
    if not colon or not name:
        raise ParseError("%s %r is not name: value" % (what, line))
    bad = [c for c in name if c not in TCHAR]
    if bad:
        raise ParseError("%s name %r has the invalid byte 0x%02x" % (what, name, bad[0]))
    return name, value.strip(b" \t")


def _bare_lf_before(data, start, end):
    """Raises on a LF not preceded by CR, or a CR not followed by LF, in
    data[start:end] (a trailing CR may still get its LF)."""
    i = data.find(b"\n", start, end)
    while i >= 0:
        if i == start or data[i - 1] != 0x0D:
            raise ParseError("bare LF at offset %d" % i)
        i = data.find(b"\n", i + 1, end)
    i = data.find(b"\r", start, end)
    while i >= 0:
        if i + 1 < end and data[i + 1] != 0x0A:
            raise ParseError("bare CR at offset %d" % i)
        i = data.find(b"\r", i + 1, end)


def parse_request(data, pos):
    """(RawRequest, end offset) for the complete request at data[pos:], None
    when it is not complete yet; raises ParseError on anything a normalising
    proxy must not send."""
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        _bare_lf_before(data, pos, len(data))
        if len(data) - pos > MAX_HEAD:
            raise ParseError("no end of head within %d bytes" % MAX_HEAD)
        return None
    if pos == end:
        raise ParseError("empty line where a request line was expected")
    req = RawRequest()
    req.head = bytes(data[pos:end + 4])
    lines = req.head[:-4].split(b"\r\n")
    req.request_line = lines[0]
    _check_line(req.request_line, "the request line")
    parts = req.request_line.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise ParseError("request line %r is not METHOD SP target SP version" % req.request_line)
    req.method, req.target, req.version = parts
    if any(c not in TCHAR for c in req.method):
        raise ParseError("method %r is not a token" % req.method)
    if any(c <= 0x20 or c >= 0x7F for c in req.target):
        raise ParseError("request target %r has a space, a control or a non-ASCII byte" % req.target)
    if req.version != b"HTTP/1.1":
        raise ParseError("version %r: certgate always speaks HTTP/1.1 to backends" % req.version)
    for line in lines[1:]:
        req.headers.append(_field(line, "a header line"))

    cls = req.header_values(b"content-length")
    tes = req.header_values(b"transfer-encoding")
    if cls and tes:
        raise ParseError("both Content-Length and Transfer-Encoding")
    if len(cls) > 1:
        raise ParseError("%d Content-Length headers: %r" % (len(cls), cls))
    if len(tes) > 1:
        raise ParseError("%d Transfer-Encoding headers: %r" % (len(tes), tes))
    p = end + 4
    if tes:
        if tes[0] != b"chunked":
            raise ParseError("Transfer-Encoding %r (certgate writes exactly \"chunked\")" % tes[0])
        req.framing = ("chunked",)
        body = bytearray()
        while True:
            eol = data.find(b"\r\n", p)
            if eol < 0:
                _bare_lf_before(data, p, len(data))
                if len(data) - p > 32:
                    raise ParseError("chunk-size line longer than 32 bytes: %r" % data[p:p + 40])
                return None
            size_line = bytes(data[p:eol])
            if not HEX.match(size_line):
                raise ParseError("chunk-size line %r is not bare hex digits (an extension, "
                                 "spaces or garbage reached the backend)" % size_line)
            size = int(size_line, 16)
            p = eol + 2
            if size == 0:
                break
            if len(data) < p + size + 2:
                return None
            body += data[p:p + size]
            if data[p + size:p + size + 2] != b"\r\n":
                raise ParseError("chunk data not followed by CRLF but %r" % data[p + size:p + size + 2])
            p += size + 2
        while True:  # trailer section
            eol = data.find(b"\r\n", p)
            if eol < 0:
                _bare_lf_before(data, p, len(data))
                return None
            line = bytes(data[p:eol])
            p = eol + 2
            if not line:
                break
            req.trailers.append(_field(line, "a trailer line"))
        req.body = bytes(body)
    elif cls:
        if not re.match(rb"[0-9]{1,18}\Z", cls[0]):
            raise ParseError("Content-Length %r is not 1 to 18 digits" % cls[0])
        n = int(cls[0])
        req.framing = ("length", n)
        if len(data) < p + n:
            return None
        req.body = bytes(data[p:p + n])
        p += n
    req.raw = bytes(data[pos:p])
    return req, p


# ---------------------------------------------------------------------------
# The server

class RawBackend:
    def __init__(self, idle_timeout=60.0):
        self.idle_timeout = idle_timeout
        self.responder = None       # None: default_reply
        self.port = None
        self._lsock = None
        self._conns = []
        self._threads = []
        self._seq = 0
        self._cond = threading.Condition()
        self._stopping = False

    # -- lifecycle --

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        s.settimeout(0.2)
        self._lsock = s
        self.port = s.getsockname()[1]
        th = threading.Thread(target=self._accept_loop, name="raw-backend-accept", daemon=True)
        th.start()
        self._threads.append(th)
        return self

    def stop(self, timeout=5.0):
        self._stopping = True
        if self._lsock is not None:
            try:
                self._lsock.close()
            except OSError:
                pass
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            self._close(c, "stop")
        deadline = time.monotonic() + timeout
        for th in list(self._threads):
            th.join(max(0.0, deadline - time.monotonic()))

    # -- what was received --

    def connections(self):
        with self._cond:
            return list(self._conns)

    def conn(self, number):
        with self._cond:
            return self._conns[number - 1]

    def mark(self, marker=None):
        """The current state, for requests_since() / bytes_since(); with a
        marker, those count only requests (bytes) that contain it."""
        with self._cond:
            return {"seq": self._seq, "conns": len(self._conns),
                    "bytes": {c.number: len(c.data) for c in self._conns},
                    "errors": {c.number: len(c.errors) for c in self._conns},
                    "marker": marker}

    # marker: only what contains these bytes (a test's own marker, so that
    # a request a previous, failed test left in flight does not count).

    def _requests(self, mark, marker):
        marker = mark.get("marker") if marker is None else marker
        return sorted((r for c in self._conns for r in c.requests
                       if r.seq > mark["seq"] and (marker is None or marker in r.raw)),
                      key=lambda r: r.seq)

    def requests_since(self, mark, marker=None):
        with self._cond:
            return self._requests(mark, marker)

    def bytes_since(self, mark, marker=None):
        """{conn number: bytes received since mark} for connections that got
        any (containing marker)."""
        marker = mark.get("marker") if marker is None else marker
        with self._cond:
            out = {}
            for c in self._conns:
                new = bytes(c.data[mark["bytes"].get(c.number, 0):])
                if new and (marker is None or marker in new):
                    out[c.number] = new
            return out

    def errors_since(self, mark):
        """[(conn number, parser complaint)] since mark."""
        with self._cond:
            return [(c.number, e) for c in self._conns
                    for e in c.errors[mark["errors"].get(c.number, 0):]]

    def wait_requests(self, mark, count, timeout, marker=None):
        """Waits until `count` requests arrived since mark; returns them (maybe fewer)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self._requests(mark, marker)
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self._cond.wait(left)

    def wait_closed(self, number, timeout):
        """True when connection `number` is closed within timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                c = self._conns[number - 1]
                left = deadline - time.monotonic()
                if c.closed_by is not None or left <= 0:
                    return c.closed_by is not None
                self._cond.wait(left)

    # -- internals --

    def _accept_loop(self):
        while not self._stopping:
            try:
                sock, peer = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(0.2)
            with self._cond:
                c = RawConn(len(self._conns) + 1, sock, peer)
                self._conns.append(c)
                self._cond.notify_all()
            th = threading.Thread(target=self._serve, args=(c,), name="raw-backend-%d" % c.number,
                                  daemon=True)
            th.start()
            self._threads.append(th)

    def _close(self, c, who):
        with self._cond:
            if c.closed_by is None:
                c.closed_by = who
                c.closed_at = time.monotonic()
            self._cond.notify_all()
        with c.send_lock:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.sock.close()
            except OSError:
                pass

    def _send(self, c, data):
        with c.send_lock:
            if c.closed_by is not None:
                return False
            try:
                c.sock.sendall(data)
                return True
            except OSError:
                return False

    def _later(self, c, reply):
        if reply.later:
            self._send(c, reply.later)
        if reply.close_later:
            self._close(c, "backend")

    def _serve(self, c):
        last = time.monotonic()
        while not self._stopping and c.closed_by is None:
            try:
                data = c.sock.recv(65536)
            except socket.timeout:
                if time.monotonic() - last > self.idle_timeout:
                    self._close(c, "backend")
                    return
                continue
            except OSError:
                data = b""
            if not data:
                self._close(c, "peer")
                return
            last = time.monotonic()
            ready = []
            with self._cond:
                c.data += data
                try:
                    while c.parsed < len(c.data):
                        got = parse_request(c.data, c.parsed)
                        if got is None:
                            break
                        req, c.parsed = got
                        self._seq += 1
                        req.conn, req.index, req.seq = c.number, len(c.requests) + 1, self._seq
                        req.at = time.monotonic()
                        c.requests.append(req)
                        ready.append(req)
                except ParseError as e:
                    c.errors.append("offset %d: %s" % (c.parsed, e))
                    ready.append(None)
                self._cond.notify_all()
            for req in ready:
                if req is None:
                    self._close(c, "backend")
                    return
                reply = (self.responder or default_reply)(req)
                if reply is None:
                    continue
                if isinstance(reply, (bytes, bytearray)):
                    reply = Reply(bytes(reply))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.data:
                    self._send(c, reply.data)
                if reply.close:
                    self._close(c, "backend")
                    return
                if reply.later or reply.close_later:
                    t = threading.Timer(reply.later_delay, self._later, args=(c, reply))
                    t.daemon = True
                    t.start()
                    self._threads.append(t)
