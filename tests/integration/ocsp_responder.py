"""An OCSP responder on 127.0.0.1 for the tests: openssl's own responder (`openssl ocsp -index
... -reqin ... -respout ...`, which as a server binds every address) behind a small HTTP server
bound to loopback only.

    r = OCSPResponder(pki, tmp_dir).start()
    r.url(), r.requests("intermediate"), r.mode = "forged" | "unknown" | "normal", r.delay = 0.5, r.stop()

Each request (GET /<url-encoded base64> or POST, RFC 6960 A.1) is answered by the CA it names (its CertID's issuer name and key hashes, one
of pki's CAs, found by comparing with a request openssl made for that CA), signed by that CA
itself from its openssl database (state/CA/index.txt of certs-dev/gen.sh), valid 1 day.
delay: seconds each answer waits (many checks arrive while one query is in flight). Modes: normal; forged (signed by the PKI's rogue key under a certificate with the CA's very
name: what an attacker on the path would answer); unknown (an empty index: every certificate
unknown). Standard library only; needs the openssl command.
"""

import base64
import os
import subprocess
import urllib.parse
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness as H

SHA1_ALG = bytes.fromhex("06052b0e03021a0500")  # AlgorithmIdentifier sha1 with NULL, as openssl writes it


def _run(cmd, cwd=None, data=None):
    p = subprocess.run(cmd, cwd=cwd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=H.t(30), env=dict(os.environ, OPENSSL_CONF="/dev/null"))
    if p.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(cmd), p.stderr.decode(errors="replace")))
    return p.stdout


class OCSPResponder:
    def __init__(self, pki, tmp, cas=("intermediate", "root")):
        self.pki = pki
        self.tmp = tempfile.mkdtemp(prefix="ocsp-", dir=tmp)
        self.mode = "normal"
        self.delay = 0
        self.lock = threading.Lock()
        self._requests = []
        self.methods = []
        self.hashes = {}
        for ca in cas:
            req = os.path.join(self.tmp, "probe-%s.der" % ca)
            _run(["openssl", "ocsp", "-issuer", pki.ca(ca), "-serial", "0x1", "-no_nonce", "-reqout", req])
            with open(req, "rb") as f:
                der = f.read()
            at = der.index(SHA1_ALG) + len(SHA1_ALG)
            self.hashes[ca] = der[at:at + 44]  # OCTET STRING nameHash, OCTET STRING keyHash
        open(os.path.join(self.tmp, "empty-index.txt"), "w").close()
        self.forged = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.responder = self
        self.port = self.httpd.server_address[1]
        self.thread = None

    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def requests(self, ca=None):
        with self.lock:
            return [c for c in self._requests if ca is None or c == ca]

    def reset(self):
        with self.lock:
            self._requests = []
            self.methods = []
        self.mode = "normal"
        self.delay = 0

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def _forged_signer(self, ca):
        """A self-signed certificate with ca's subject and the rogue key."""
        if ca not in self.forged:
            subject = _run(["openssl", "x509", "-in", self.pki.ca(ca), "-noout", "-subject", "-nameopt",
                            "compat"]).decode().strip().split("=", 1)[1]
            out = os.path.join(self.tmp, "forged-%s.crt" % ca)
            _run(["openssl", "req", "-new", "-x509", "-key", os.path.join(self.pki.dir, "ca", "rogue.key"),
                  "-subj", subject, "-days", "30", "-config", "/dev/null", "-out", out])
            self.forged[ca] = out
        return self.forged[ca], os.path.join(self.pki.dir, "ca", "rogue.key")

    def answer(self, body):
        ca = next((c for c, h in self.hashes.items() if h in body), None)
        with self.lock:
            self._requests.append(ca)
        if ca is None:
            return b"\x30\x03\x0a\x01\x06"  # unauthorized: not one of our CAs
        signer, key = self.pki.ca(ca), os.path.join(self.pki.dir, "ca", ca + ".key")
        index = os.path.join(self.pki.dir, "state", ca, "index.txt")
        if self.mode == "forged":
            signer, key = self._forged_signer(ca)
        elif self.mode == "unknown":
            index = os.path.join(self.tmp, "empty-index.txt")
        fd, req = tempfile.mkstemp(dir=self.tmp, suffix=".req")
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        resp = req[:-4] + ".resp"
        try:
            _run(["openssl", "ocsp", "-index", index, "-CA", self.pki.ca(ca), "-rsigner", signer, "-rkey", key,
                  "-reqin", req, "-respout", resp, "-ndays", "1", "-resp_no_certs"])
            with open(resp, "rb") as f:
                return f.read()
        finally:
            for p in (req, resp):
                if os.path.exists(p):
                    os.unlink(p)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        try:
            body = base64.b64decode(urllib.parse.unquote(self.path.rsplit("/", 1)[-1]), validate=True)
        except ValueError:
            body = b""
        self._answer("GET", body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.headers.get("Content-Type") != "application/ocsp-request":
            self.send_response(415)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._answer("POST", body)

    def _answer(self, method, body):
        with self.server.responder.lock:
            self.server.responder.methods.append(method)
        out = self.server.responder.answer(body)
        if self.server.responder.delay:
            time.sleep(self.server.responder.delay)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # certgate stopped waiting (a verdict decided by another certificate)

    def log_message(self, *args):
        pass
