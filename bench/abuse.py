#!/usr/bin/env python3
"""certgate under two abusive clients (a benchmark, not a test: nothing here
passes or fails; run by `bench/run --only abuse`, or alone:
`python3 bench/abuse.py [--certgate build/certgate] [--requests N]`).

  pipelining  One TLS connection sends N pipelined GETs (default 100,000,
              about 6 MB) and reads nothing for a while (its receive buffer
              is 16 KiB), then reads every response. certgate's RSS is
              sampled from /proc each 0.5 s: it must stay flat (certgate
              stops reading a client whose output queue is over the
              high-water mark), not grow with the requests.
  head-scan   A 64 KiB request head (limits.max_request_head: 64k) sent
              in one TLS record each byte, then the same head in records of
              16 KiB, four times each. certgate's CPU (utime + stime from
              /proc) per head byte for each (TLS decryption included): constant when the head scanner resumes where it
              stopped, growing with the head when it rescans from byte 0.

The backend is a small single-threaded server here that answers every
request with 32 bytes at once. Everything listens on 127.0.0.1 on free
ports; every process started is stopped by PID; every wait is bounded.
Prints one table and, last, the line
  abuse pipelining_rss_growth_mb=X head_cpu_ns_per_byte_1b=X head_cpu_ns_per_byte_16k=X
"""

import argparse
import os
import selectors
import socket
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness as H  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n" + b"x" * 32


class FastBackend:
    """Answers each request head (no bodies) at once, single-threaded."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.stopping = False
        self.served = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        bufs = {}
        while not self.stopping:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    try:
                        s, _ = self.lsock.accept()
                    except OSError:
                        continue
                    s.setblocking(True)
                    s.settimeout(10)
                    bufs[s] = b""
                    self.sel.register(s, selectors.EVENT_READ, "c")
                    continue
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(s)
                    s.close()
                    bufs.pop(s, None)
                    continue
                buf = bufs[s] + data
                n = buf.count(b"\r\n\r\n")
                if n:
                    buf = buf[buf.rfind(b"\r\n\r\n") + 4:]
                    try:
                        s.sendall(RESPONSE * n)
                    except OSError:
                        pass
                    self.served += n
                bufs[s] = buf

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.lsock.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid):
    return H.proc_status(pid)["VmRSS"] / 1024.0


def pipelining(cg, backend, n):
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    raw.settimeout(60)
    raw.connect(("127.0.0.1", cg.port))
    c = H.TLSClient(cg.port, "alice", connect=False, timeout=60)
    c.sock = c.ctx.wrap_socket(raw, server_hostname="localhost")
    reqs = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: 0123456789\r\n\r\n" * n
    before = rss_mb(cg.pid)
    served0 = backend.served
    sender = threading.Thread(target=lambda: c.sock.sendall(reqs), daemon=True)
    t0 = time.monotonic()
    sender.start()
    samples = []
    last_served, stable = -1, 0
    while time.monotonic() - t0 < 40:  # bounded: at most 40 s without reading
        time.sleep(0.5)
        samples.append(rss_mb(cg.pid))
        s = backend.served - served0
        stable = stable + 1 if s == last_served else 0
        last_served = s
        if s >= n or stable >= 6:  # all forwarded, or nothing more for 3 s
            break
    held = time.monotonic() - t0
    forwarded_unread = backend.served - served0
    peak = max(samples)
    # Now read everything (counts only: the responses are all the same).
    got, need = 0, len(RESPONSE) * n
    deadline = time.monotonic() + 120
    c.sock.settimeout(30)
    while got < need and time.monotonic() < deadline:
        data = c.sock.recv(1 << 20)
        if not data:
            break
        got += len(data)
    sender.join(10)
    c.close()
    return {"rss_before": before, "rss_peak": peak, "held_s": held,
            "forwarded_unread": forwarded_unread, "responses_read": got // len(RESPONSE), "requests": n}


def head_cpu(cg, record):
    head = b"GET / HTTP/1.1\r\nHost: localhost\r\n"
    while len(head) < 65536 - 4200:
        head += b"X-Pad: " + b"p" * 4000 + b"\r\n"
    head += b"\r\n"
    c = H.TLSClient(cg.port, "alice", timeout=120)
    c.request("GET", "/warm")  # handshake and first request out of the measurement
    reps = 4  # CPU is counted in 10 ms ticks: several heads for a readable figure
    cpu0 = cpu_seconds(cg.pid)
    for _ in range(reps):
        for i in range(0, len(head), record):
            c.send(head[i:i + record])  # one TLS record per send
        r = c.read_response(timeout=120)
    cpu = cpu_seconds(cg.pid) - cpu0
    c.close()
    return {"status": r.status, "bytes": len(head), "cpu_s": cpu / reps, "ns_per_byte": cpu * 1e9 / reps / len(head)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--certgate", default=os.path.join(ROOT, "build", "certgate"))
    ap.add_argument("--requests", type=int, default=100000)
    args = ap.parse_args()
    H.CERTGATE = os.path.abspath(args.certgate)
    tmp = H.TempDir("abuse")
    backend = FastBackend()
    cg = H.Certgate(tmp, name="abuse")
    cg.configure(H.pki(), backends={"app": backend.port}, level="warn",
                 limits={"max_request_head": "64k", "max_header_line": "8k"},
                 timeouts={"keepalive_idle": "120s", "client_body": "120s"})
    try:
        cg.start()
        p = pipelining(cg, backend, args.requests)
        one = head_cpu(cg, 1)
        big = head_cpu(cg, 16384)
    finally:
        cg.stop(check=False)
        backend.stop()
        tmp.cleanup()
    print("certgate: %s" % H.CERTGATE)
    print("pipelining, %d GETs sent, not read for %.1f s:" % (p["requests"], p["held_s"]))
    print("  RSS before %.1f MB, peak while not reading %.1f MB (growth %.1f MB)"
          % (p["rss_before"], p["rss_peak"], p["rss_peak"] - p["rss_before"]))
    print("  forwarded to the backend while not reading: %d; responses read afterwards: %d"
          % (p["forwarded_unread"], p["responses_read"]))
    print("head scan, %d-byte head:" % one["bytes"])
    print("  1-byte records:  status %d, certgate CPU %.3f s, %.0f ns per head byte"
          % (one["status"], one["cpu_s"], one["ns_per_byte"]))
    print("  16 KiB records:  status %d, certgate CPU %.3f s, %.0f ns per head byte"
          % (big["status"], big["cpu_s"], big["ns_per_byte"]))
    print("  (CPU per head, from /proc over 4 heads, in 10 ms clock ticks: 0.0025 s is one tick)")
    print("abuse pipelining_rss_growth_mb=%.1f head_cpu_ns_per_byte_1b=%.0f head_cpu_ns_per_byte_16k=%.0f"
          % (p["rss_peak"] - p["rss_before"], one["ns_per_byte"], big["ns_per_byte"]))


if __name__ == "__main__":
    main()
