#!/usr/bin/env python3
"""certgate's demo and test backend: a small HTTP/1.1 (keep-alive) server.

    python3 backend.py --port 8080 [--host 127.0.0.1] [--verbose]
                       [--tls-cert CHAIN.pem --tls-key KEY.pem
                        [--tls-client-ca CA.pem] [--tls-max-version 1.2]]

With --tls-cert it speaks HTTPS (an https backend of certgate); with
--tls-client-ca it requires a client certificate issued by that CA.

Prints "backend listening on HOST:PORT" on stdout once it accepts
connections (--port 0 picks a free port, and the line tells which).

Endpoints (any method; the request body, if any, is always read):

  /download?size=N[&chunked=1]  N bytes of deterministic content (see
                                pattern_bytes), Content-Length or chunked
                                (64 KiB chunks); X-Body-Sha256: hex digest.
  /upload                       reads the body (Content-Length or chunked) and
                                answers {"length", "sha256", "chunked"}.
  /slow?ms=N                    sleeps N ms, then answers like the default.
  /status?code=N[&www=V...]     answers status N with a small body (and a
                                WWW-Authenticate: V header per www).
  /close                        answers with "Connection: close" and closes.
  /echo-auth                    {"authorization": <the header or null>}.
  /_backend/requests            (for tests, ask it directly, not through
                                certgate) every request seen so far:
                                [{"method","path","peer","n"}...]; add
                                ?reset=1 to clear the list afterwards.
  anything else                 200 JSON {"method", "path", "headers":
                                [[name, value], ...] in the order received,
                                "peer": "ip:port" of the TCP peer (certgate's
                                side), "connection_requests": requests served
                                on this TCP connection so far, this one
                                included, "body_length", over TLS "tls":
                                {"version", "resumed", "client_cert": the
                                subject of the certificate presented or
                                null}}. With an Accept
                                header containing text/html: the same as an
                                HTML page.

Standard library only. Binds to 127.0.0.1 unless told otherwise.
"""

import argparse
import hashlib
import html
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BLOCK_SIZE = 1 << 20
CHUNK_SIZE = 64 * 1024


def _make_block():
    # byte i = (i * 31 + 7) & 0xff; the period (256) divides the block size,
    # so repeating the block gives the same byte at every offset.
    period = bytes(((i * 31 + 7) & 0xFF) for i in range(256))
    return period * (BLOCK_SIZE // 256)


BLOCK = _make_block()


def pattern_bytes(offset, n):
    """n bytes of the download pattern starting at offset."""
    out = bytearray()
    while n > 0:
        start = offset % BLOCK_SIZE
        take = min(n, BLOCK_SIZE - start)
        out += BLOCK[start:start + take]
        offset += take
        n -= take
    return bytes(out)


def iter_pattern(size, piece=CHUNK_SIZE):
    off = 0
    while off < size:
        n = min(piece, size - off)
        start = off % BLOCK_SIZE
        if start + n <= BLOCK_SIZE:
            yield BLOCK[start:start + n]
        else:
            yield pattern_bytes(off, n)
        off += n


_digest_cache = {}
_digest_lock = threading.Lock()


def pattern_sha256(size):
    """Hex SHA-256 of the first size bytes of the pattern."""
    with _digest_lock:
        if size in _digest_cache:
            return _digest_cache[size]
    h = hashlib.sha256()
    full, rest = divmod(size, BLOCK_SIZE)
    for _ in range(full):
        h.update(BLOCK)
    h.update(BLOCK[:rest])
    d = h.hexdigest()
    with _digest_lock:
        _digest_cache[size] = d
    return d


class BodyError(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "certgate-test-backend"

    def version_string(self):
        return self.server_version

    # --- plumbing ---------------------------------------------------------

    def setup(self):
        self.tls = None
        if self.server.tls_ctx is not None:
            # The handshake in this connection's thread, not the accept loop's.
            self.request.settimeout(30)
            self.request = self.server.tls_ctx.wrap_socket(self.request, server_side=True)
            self.tls = self.request
        super().setup()
        # Headers and body are separate writes: without this, Nagle's algorithm
        # against a delayed ACK costs ~40 ms per small response.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.conn_requests = 0
        self.peer = "%s:%d" % (self.client_address[0], self.client_address[1])

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, socket.timeout, OSError):
            pass

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("backend: %s %s\n" % (self.peer, fmt % args))

    def __getattr__(self, name):
        # Every method (GET, POST, PUT, DELETE, PATCH, OPTIONS, FOO ...).
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    # --- request body -----------------------------------------------------

    def read_body(self, sink):
        """Reads the request body, passing the pieces to sink(bytes).
        Returns (length, chunked)."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise BodyError("unsupported Transfer-Encoding %r" % te)
            return self.read_chunked(sink), True
        cl = self.headers.get_all("Content-Length") or []
        if not cl:
            return 0, False
        if len(set(v.strip() for v in cl)) != 1 or not cl[0].strip().isdigit():
            raise BodyError("bad Content-Length %r" % cl)
        remaining = int(cl[0].strip())
        total = 0
        while remaining > 0:
            data = self.rfile.read(min(remaining, CHUNK_SIZE))
            if not data:
                raise BodyError("body ended early")
            sink(data)
            total += len(data)
            remaining -= len(data)
        return total, False

    def _readline(self):
        line = self.rfile.readline(65537)
        if not line.endswith(b"\n"):
            raise BodyError("chunked body ended early or line too long")
        return line

    def read_chunked(self, sink):
        total = 0
        while True:
            line = self._readline().rstrip(b"\r\n")
            size_txt = line.split(b";", 1)[0].strip()
            try:
                size = int(size_txt, 16)
            except ValueError:
                raise BodyError("bad chunk size %r" % size_txt)
            if size < 0:
                raise BodyError("bad chunk size %r" % size_txt)
            if size == 0:
                break
            remaining = size
            while remaining > 0:
                data = self.rfile.read(min(remaining, CHUNK_SIZE))
                if not data:
                    raise BodyError("chunk ended early")
                sink(data)
                total += len(data)
                remaining -= len(data)
            if self._readline() not in (b"\r\n", b"\n"):
                raise BodyError("missing CRLF after chunk data")
        # trailer section
        while self._readline() not in (b"\r\n", b"\n"):
            pass
        return total

    # --- responses --------------------------------------------------------

    def send_body(self, status, body, ctype, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        if status not in (204, 304) and not 100 <= status < 200:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body:
            self.wfile.write(body)

    def send_json(self, status, obj, extra=()):
        body = (json.dumps(obj, indent=1) + "\n").encode()
        self.send_body(status, body, "application/json", extra)

    def describe(self, body_length):
        return {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "peer": self.peer,
            "connection_requests": self.conn_requests,
            "body_length": body_length,
            **({"tls": self.tls_facts()} if self.tls is not None else {}),
        }

    def tls_facts(self):
        cert = self.tls.getpeercert()
        subject = None
        if cert:
            subject = ",".join("%s=%s" % kv for rdn in cert.get("subject", ()) for kv in rdn)
        return {"version": self.tls.version(), "resumed": self.tls.session_reused, "client_cert": subject}

    def send_describe(self, body_length):
        d = self.describe(body_length)
        if "text/html" in (self.headers.get("Accept") or ""):
            rows = "".join(
                "<tr><td>%s</td><td>%s</td></tr>\n" % (html.escape(k), html.escape(v))
                for k, v in d["headers"])
            page = (
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                "<title>certgate demo backend</title>\n"
                "<style>body{font-family:sans-serif;margin:2em}"
                "table{border-collapse:collapse}td{border:1px solid #ccc;"
                "padding:.2em .6em;font-family:monospace}</style></head>\n<body>\n"
                "<h1>Hello from the backend</h1>\n"
                "<p>certgate forwarded <code>%s %s</code> over backend connection "
                "<code>%s</code> (request %d on it).</p>\n"
                "<h2>Headers the backend received</h2>\n<table>\n%s</table>\n"
                "</body></html>\n" % (
                    html.escape(d["method"]), html.escape(d["path"]),
                    html.escape(d["peer"]), d["connection_requests"], rows))
            self.send_body(200, page.encode(), "text/html; charset=utf-8")
        else:
            self.send_json(200, d)

    # --- dispatch ---------------------------------------------------------

    def dispatch(self):
        self.conn_requests += 1
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        path = url.path
        self.server.record(self.command, self.path, self.peer, self.conn_requests)

        def qint(name, default):
            try:
                return int(q.get(name, [default])[0])
            except ValueError:
                return default

        h = hashlib.sha256()
        try:
            length, chunked = self.read_body(h.update)
        except BodyError as e:
            self.close_connection = True
            self.send_json(400, {"error": str(e)})
            return

        if path == "/download":
            size = max(0, qint("size", 0))
            use_chunked = q.get("chunked", ["0"])[0] not in ("0", "", "false")
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("X-Body-Sha256", pattern_sha256(size))
            if use_chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command == "HEAD":
                return
            for piece in iter_pattern(size):
                if use_chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
            if use_chunked:
                self.wfile.write(b"0\r\n\r\n")
        elif path == "/upload":
            self.send_json(200, {"length": length, "sha256": h.hexdigest(), "chunked": chunked})
        elif path == "/slow":
            time.sleep(max(0, qint("ms", 1000)) / 1000.0)
            self.send_describe(length)
        elif path == "/status":
            code = qint("code", 200)
            if not 100 <= code <= 999:
                code = 500
            self.send_body(code, b"status %d from the backend\n" % code,
                           "text/plain; charset=utf-8",
                           [("WWW-Authenticate", v) for v in q.get("www", [])])
        elif path == "/close":
            self.close_connection = True
            self.send_json(200, self.describe(length))
        elif path == "/echo-auth":
            self.send_json(200, {"authorization": self.headers.get("Authorization")})
        elif path == "/_backend/requests":
            seen = self.server.seen_requests(q.get("reset", ["0"])[0] not in ("0", ""))
            self.send_json(200, seen)
        else:
            self.send_describe(length)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, verbose, tls_ctx=None):
        self.verbose = verbose
        self.tls_ctx = tls_ctx
        self._seen = []
        self._seen_lock = threading.Lock()
        super().__init__(addr, Handler)

    def record(self, method, path, peer, n):
        with self._seen_lock:
            if len(self._seen) < 100000:
                self._seen.append({"method": method, "path": path, "peer": peer, "n": n})

    def seen_requests(self, reset):
        with self._seen_lock:
            out = list(self._seen)
            if reset:
                self._seen.clear()
        return out

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    ap.add_argument("--tls-cert", help="HTTPS: the server certificate, chain after it (PEM)")
    ap.add_argument("--tls-key", help="HTTPS: its key (PEM)")
    ap.add_argument("--tls-client-ca", help="HTTPS: require a client certificate from this CA")
    ap.add_argument("--tls-max-version", choices=("1.2", "1.3"), default="1.3")
    args = ap.parse_args(argv)
    tls_ctx = None
    if args.tls_cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        tls_ctx.maximum_version = (ssl.TLSVersion.TLSv1_2 if args.tls_max_version == "1.2"
                                   else ssl.TLSVersion.TLSv1_3)
        if args.tls_client_ca:
            tls_ctx.load_verify_locations(args.tls_client_ca)
            tls_ctx.verify_mode = ssl.CERT_REQUIRED

    def stop(signum, frame):
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    srv = Server((args.host, args.port), args.verbose, tls_ctx)
    host, port = srv.server_address[:2]
    print("backend listening on %s:%d" % (host, port), flush=True)
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
