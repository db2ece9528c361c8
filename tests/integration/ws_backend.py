"""A WebSocket backend for the tunnel tests (test_tunnel.py): Debian's
python3-websockets (its asyncio server: the legacy one of 10.x on Debian 12,
websockets.asyncio.server of 15.x on Debian 13) on 127.0.0.1, in a thread of the
test process, on a free port; and the few raw WebSocket pieces (RFC 6455) the
tests need to speak it by hand over a harness TLSClient.

Paths (by their last segment, so that any route prefix reaches them):
  /ws/echo            every message back as it came; the text "whoami" is
                      answered with a JSON object of what this connection's
                      upgrade request carried: {headers: {name: value}, path,
                      peer (certgate's side of the backend connection), conn}
  /ws/flood?mb=N      N MiB in 1 MiB binary messages, then the text "done"
  /ws/close           closes at once with code 4000 "bye"

Every connection is recorded (`conns`: headers, peer, when it closed, by
whom, its close code); `wait_closed(n)` waits for connection n's end.
"""

import asyncio
import base64
import hashlib
import importlib
import json
import os
import struct
import sys
import threading
import time
import urllib.parse

DEBIAN_PACKAGES = "/usr/lib/python3/dist-packages"


def debian_module(name):
    """Imports name, also from Debian's packages (scripts/packages.txt installs
    python3-websockets and python3-gssapi there) when the Python running the
    tests is not Debian's own (a pyenv one does not look there): that folder
    then comes last on sys.path. None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    if not os.path.isdir(os.path.join(DEBIAN_PACKAGES, name.split(".")[0])):
        return None
    if DEBIAN_PACKAGES not in sys.path:
        sys.path.append(DEBIAN_PACKAGES)
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


websockets = debian_module("websockets")
if websockets is not None:
    debian_module("websockets.exceptions")
# The server API: websockets >= 13 has websockets.asyncio.server (whose
# connections carry .request); 10.x has only the legacy server (.path,
# .request_headers). Both are awaited inside the loop.
_asyncio_server = debian_module("websockets.asyncio.server") if websockets is not None else None
serve = _asyncio_server.serve if _asyncio_server is not None else getattr(websockets, "serve", None)
MISSING = None if websockets else "python3-websockets is not installed (bash scripts/install-deps test)"

import harness as H

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Conn:
    def __init__(self, n, path, headers, peer):
        self.kerberos_user = None
        self.kerberos_error = None
        self.n = n
        self.path = path
        self.headers = headers
        self.peer = peer
        self.closed = threading.Event()
        self.close_code = None
        self.received = 0  # message bytes received


class WSBackend:
    def __init__(self, keytab=None, ssl_ctx=None):
        """keytab: check each upgrade request's Authorization: Negotiate
        against it (python3-gssapi) and answer "whoami" with the Kerberos
        user it names (kerberos_user; null without a token)."""
        self.keytab = keytab
        self.ssl_ctx = ssl_ctx  # an ssl.SSLContext: wss (an https backend of certgate)
        self.port = None
        self.conns = []
        self.lock = threading.Lock()
        self.loop = None
        self.server = None
        self.thread = None

    def start(self):
        if MISSING:
            raise AssertionError(MISSING)
        ready = threading.Event()
        err = []

        async def open_server():
            # In a coroutine: websockets 15's serve() wants the running loop.
            return await serve(self._handler, "127.0.0.1", 0, max_size=None, compression=None,
                               ping_interval=None, max_queue=4, ssl=self.ssl_ctx)

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            try:
                self.server = self.loop.run_until_complete(open_server())
                self.port = self.server.sockets[0].getsockname()[1]
            except Exception as e:  # reported by start()
                err.append(e)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=run, name="ws-backend", daemon=True)
        self.thread.start()
        if not ready.wait(H.t(10)) or err:
            raise AssertionError("the WebSocket backend did not start: %s" % (err or "timeout"))
        return self

    def stop(self):
        if not self.loop:
            return

        async def shutdown():
            self.server.close()
            await asyncio.wait_for(self.server.wait_closed(), 5)
        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(H.t(10))
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(H.t(10))

    def conn(self, n):
        with self.lock:
            return self.conns[n]

    def count(self):
        with self.lock:
            return len(self.conns)

    def wait_conns(self, n, timeout=5):
        H.wait_until(lambda: self.count() >= n, timeout=timeout, what="%d WebSocket connection(s)" % n)

    async def _handler(self, ws, path=None):
        request = getattr(ws, "request", None)       # websockets >= 13
        if request is not None:
            path, headers = request.path, request.headers
        else:                                        # the legacy server (10.x)
            path, headers = path or ws.path, ws.request_headers
        with self.lock:
            c = Conn(len(self.conns), path, dict(headers.raw_items()),
                     "%s:%d" % ws.remote_address[:2])
            self.conns.append(c)
        if self.keytab:
            self._kerberos(c)
        url = urllib.parse.urlsplit(path)
        q = urllib.parse.parse_qs(url.query)
        name = url.path.rsplit("/", 1)[-1]
        try:
            if name == "echo":
                async for msg in ws:
                    c.received += len(msg)
                    if msg == "whoami":
                        await ws.send(json.dumps({"headers": c.headers, "path": path, "peer": c.peer,
                                                  "conn": c.n, "kerberos_user": c.kerberos_user,
                                                  "kerberos_error": c.kerberos_error}))
                    else:
                        await ws.send(msg)
            elif name == "flood":
                block = os.urandom(1 << 20)
                for _ in range(int(q.get("mb", ["1"])[0])):
                    await ws.send(block)
                await ws.send("done")
                async for msg in ws:
                    c.received += len(msg)
            elif name == "close":
                await ws.close(4000, "bye")
            else:
                await ws.close(4004, "no such path")
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            c.close_code = ws.close_code
            c.closed.set()


    def _kerberos(self, c):
        """Accepts the upgrade request's SPNEGO token with the keytab (no KDC
        is asked: the service ticket in it is checked with the keytab's key)."""
        auth = next((v for k, v in c.headers.items() if k.lower() == "authorization"), None)
        if not auth or not auth.startswith("Negotiate "):
            c.kerberos_error = "no Negotiate token"
            return
        try:
            gssapi = debian_module("gssapi")
            creds = gssapi.Credentials(usage="accept", store={"keytab": self.keytab})
            ctx = gssapi.SecurityContext(creds=creds, usage="accept")
            ctx.step(base64.b64decode(auth.split(None, 1)[1]))
            c.kerberos_user = str(ctx.initiator_name)
        except Exception as e:
            c.kerberos_error = "%s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------------------
# RFC 6455 by hand, over a harness TLSClient

def handshake_request(path, key, extra_headers=()):
    lines = ["GET %s HTTP/1.1" % path, "Host: localhost", "Connection: Upgrade", "Upgrade: websocket",
             "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: %s" % key]
    lines += list(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def _mask(payload, mask):
    n = len(payload)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big") if n else 0
    return (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big") if n else b""


def frame(payload, opcode=0x1, fin=True, masked=True):
    """One frame as a client sends it (masked)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + _mask(payload, mask)


def read_frame(c, timeout=10):
    """(opcode, payload) of the next frame from the server (unmasked)."""
    deadline = time.monotonic() + H.t(timeout)
    b0, b1 = c._read_exact(2, deadline)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", c._read_exact(2, deadline))[0]
    elif n == 127:
        n = struct.unpack("!Q", c._read_exact(8, deadline))[0]
    mask = c._read_exact(4, deadline) if b1 & 0x80 else None
    payload = c._read_exact(n, deadline)
    if mask:
        payload = _mask(payload, mask)
    return b0 & 0x0F, payload
