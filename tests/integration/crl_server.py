#!/usr/bin/env python3
"""A tiny HTTP server for CRL Distribution Points: serves the files of a
directory under a URL prefix, and can misbehave on purpose.

    python3 crl_server.py --dir certs-dev/crl [--port 8081] [--host 127.0.0.1]
                          [--prefix /crl] [--mode MODE] [--delay-ms 2000]
                          [--oversize-bytes 83886080] [--verbose]

GET <prefix>/NAME answers the file DIR/NAME (application/pkix-crl), or 404.
scripts/demo serves the CRLs it issued for its run (demo-run/pki/crl) this way
at the default CDP base of the dev PKI, http://127.0.0.1:8081/crl. It prints "crl_server listening on
HOST:PORT" once ready (--port 0 picks a free port).

Modes, for every path or per path:

    normal     the file (default)
    404        404 Not Found
    500        500 Internal Server Error
    garbage    200 with a body that is not a CRL
    hang       read the request, never answer (until the client gives up)
    slow       wait --delay-ms, then answer normally
    redirect   302 to the same file under /_redirected<prefix>/NAME
    redirect-loop  302 to itself, forever
    oversize   200 with --oversize-bytes of zeros (streamed)
    close      read the request, close without answering

Control (for tests driving a separate process, and for trying by hand):

    GET /_control?mode=MODE[&path=/crl/NAME]   set the mode (all paths when no path)
    GET /_control?reset=1                      back to normal everywhere, forget requests
    GET /_requests                             JSON list of the requests seen

Tests may also run it in-process: CRLServer(dir).start(), .set_mode(),
.serve_file() (another file for one path), .requests(), .reset(), .stop().
Standard library only.
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("normal", "404", "500", "garbage", "hang", "slow", "redirect", "redirect-loop", "oversize",
         "close")
GARBAGE = b"<html><body><h1>It works!</h1><p>This is not a CRL.</p></body></html>\n"


class CRLServer:
    def __init__(self, directory, host="127.0.0.1", port=0, prefix="/crl", mode="normal",
                 delay_ms=2000, oversize_bytes=80 << 20, verbose=False):
        self.dir = os.path.abspath(directory)
        self.host = host
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.default_mode = mode
        self.delay_ms = delay_ms
        self.oversize_bytes = oversize_bytes
        self.verbose = verbose
        self.modes = {}          # path -> mode
        self.files = {}          # path -> file served instead
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._requests = []
        self.httpd = _Server((host, port), _Handler)
        self.httpd.crl = self
        self.port = self.httpd.server_address[1]
        self.thread = None

    # -- control --

    def url(self, name=""):
        return "http://%s:%d%s/%s" % (self.host, self.port, self.prefix, name)

    def set_mode(self, mode, path=None):
        """Mode for one path (a file name or a full path) or, without path, all."""
        if mode not in MODES:
            raise ValueError("unknown mode %r (one of %s)" % (mode, ", ".join(MODES)))
        with self.lock:
            if path is None:
                self.default_mode = mode
                self.modes.clear()
            else:
                self.modes[self._full(path)] = mode

    def serve_file(self, path, filename):
        """Serve filename (absolute, or in the directory) for path (a name or a full path)."""
        with self.lock:
            self.files[self._full(path)] = filename if os.path.isabs(filename) else os.path.join(
                self.dir, filename)

    def reset(self):
        """Normal mode everywhere, no file overrides, no requests seen."""
        with self.lock:
            self.default_mode = "normal"
            self.modes.clear()
            self.files.clear()
            self._requests = []

    def requests(self, name=None):
        """[{"path", "mode", "time"}], optionally only for one file or path."""
        with self.lock:
            reqs = list(self._requests)
        if name is not None:
            full = self._full(name)
            reqs = [r for r in reqs if r["path"] == full]
        return reqs

    def mode_for(self, path):
        with self.lock:
            return self.modes.get(path, self.default_mode)

    def _full(self, name):
        return name if name.startswith("/") else "%s/%s" % (self.prefix, name)

    def _record(self, path, mode):
        with self.lock:
            self._requests.append({"path": path, "mode": mode, "time": time.time()})

    # -- lifecycle --

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True, name="crl-server")
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread:
            self.thread.join(5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    server_version = "crl_server/1"
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        if self.server.crl.verbose:
            sys.stderr.write("crl_server: %s\n" % (fmt % args))

    def do_GET(self):
        crl = self.server.crl
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/_control":
            return self._control(query)
        if url.path == "/_requests":
            return self._send(200, json.dumps(crl.requests()).encode(), "application/json")
        path = url.path
        redirected = path.startswith("/_redirected")
        if redirected:
            path = path[len("/_redirected"):]
        mode = "normal" if redirected else crl.mode_for(path)
        crl._record(url.path, mode)
        if mode == "hang":
            # Hold the connection until the client goes away or the server stops.
            self.close_connection = True
            self.connection.settimeout(0.2)
            while not crl.stopping.is_set():
                try:
                    if not self.connection.recv(1024):
                        return
                except OSError as e:
                    if "timed out" not in str(e):
                        return
            return
        if mode == "close":
            self.close_connection = True
            return
        if mode == "slow":
            crl.stopping.wait(crl.delay_ms / 1000.0)
        if mode == "404":
            return self._send(404, b"not found\n", "text/plain")
        if mode == "500":
            return self._send(500, b"internal error\n", "text/plain")
        if mode == "garbage":
            return self._send(200, GARBAGE, "text/html")
        if mode == "redirect":
            return self._redirect("/_redirected" + url.path)
        if mode == "redirect-loop":
            return self._redirect(url.path + ("?" + url.query if url.query else ""))
        if mode == "oversize":
            self.send_response(200)
            self.send_header("Content-Type", "application/pkix-crl")
            self.send_header("Content-Length", str(crl.oversize_bytes))
            self.end_headers()
            chunk = b"\0" * 65536
            left = crl.oversize_bytes
            try:
                while left > 0 and not crl.stopping.is_set():
                    n = min(left, len(chunk))
                    self.wfile.write(chunk[:n])
                    left -= n
            except OSError:
                pass
            return
        # normal
        if not path.startswith(crl.prefix + "/"):
            return self._send(404, b"not found\n", "text/plain")
        name = path[len(crl.prefix) + 1:]
        if not name or "/" in name or name.startswith("."):
            return self._send(404, b"not found\n", "text/plain")
        with crl.lock:
            filename = crl.files.get(path, os.path.join(crl.dir, name))
        try:
            with open(filename, "rb") as f:
                data = f.read()
        except OSError:
            return self._send(404, b"not found\n", "text/plain")
        return self._send(200, data, "application/pkix-crl")

    def _control(self, query):
        crl = self.server.crl
        try:
            if query.get("reset"):
                crl.reset()
            if query.get("mode"):
                crl.set_mode(query["mode"][0], query.get("path", [None])[0])
        except ValueError as e:
            return self._send(400, (str(e) + "\n").encode(), "text/plain")
        return self._send(200, b"ok\n", "text/plain")

    def _redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description="Serve CRLs (and misbehave on purpose).")
    ap.add_argument("--dir", required=True, help="directory of CRL files")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    ap.add_argument("--prefix", default="/crl", help="URL prefix of the files (default /crl)")
    ap.add_argument("--mode", default="normal", choices=MODES)
    ap.add_argument("--delay-ms", type=int, default=2000, help="slow mode delay")
    ap.add_argument("--oversize-bytes", type=int, default=80 << 20, help="oversize mode body size")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not os.path.isdir(args.dir):
        ap.error("--dir %s is not a directory" % args.dir)
    srv = CRLServer(args.dir, args.host, args.port, args.prefix, args.mode, args.delay_ms,
                    args.oversize_bytes, args.verbose)
    print("crl_server listening on %s:%d (serving %s at %s)" % (srv.host, srv.port, srv.dir,
                                                                 srv.url()), flush=True)
    try:
        srv.httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stopping.set()
        srv.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
