#!/usr/bin/env python3
"""Handshake CPU of certgate for legitimate and hostile client chains (a
measurement, not a test: nothing passes or fails).

Starts one certgate (workers: 1) and the test backend on loopback, then for
each client chain does N full handshakes (+ one request each) with Python's
ssl and reads certgate's CPU time (utime + stime, /proc/PID/stat) around
them. Prints milliseconds of certgate CPU per handshake:

  legit-alice     leaf + intermediate (the chain cache's case)
  legit-deep      the 4-level chain: leaf + sub CA 2 + sub CA 1
  flood-11        leaf + 10 self-made CAs named like the trusted intermediate
  flood-9         leaf + 8 such fakes (within the default count of 10)
  path-distinct   leaf + 9 self-made CAs of distinct names forming a path

    bench/chain_flood.py [--certgate build/certgate] [-n 200] [--keep]
"""

import argparse
import os
import ssl
import sys
import socket
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness as H  # noqa: E402

INTERMEDIATE_DN = "/C=US/O=Example/CN=Example Dev Intermediate CA"


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def make_chains(tmp):
    def key(path):
        H.run_checked(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-out", path])

    def ca(name, subject, issuer=None):
        k, c = tmp.join(name + ".key"), tmp.join(name + ".crt")
        key(k)
        if issuer is None:
            H.run_checked(["openssl", "req", "-x509", "-new", "-key", k, "-subj", subject, "-days", "30",
                           "-addext", "basicConstraints=critical,CA:TRUE",
                           "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", c])
        else:
            csr = tmp.join(name + ".csr")
            ext = tmp.write(name + ".ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
            H.run_checked(["openssl", "req", "-new", "-key", k, "-subj", subject, "-out", csr])
            H.run_checked(["openssl", "x509", "-req", "-in", csr, "-CA", issuer[0], "-CAkey", issuer[1],
                           "-set_serial", "9", "-days", "30", "-extfile", ext, "-out", c])
        return c, k

    def leaf(name, issuer):
        k, c, csr = tmp.join(name + ".key"), tmp.join(name + ".crt"), tmp.join(name + ".csr")
        key(k)
        ext = tmp.write(name + ".ext", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=clientAuth\n")
        H.run_checked(["openssl", "req", "-new", "-key", k, "-subj", "/CN=" + name, "-out", csr])
        H.run_checked(["openssl", "x509", "-req", "-in", csr, "-CA", issuer[0], "-CAkey", issuer[1],
                       "-set_serial", "7", "-days", "30", "-extfile", ext, "-out", c])
        return c, k

    def bundle(name, parts):
        return tmp.write(name + ".pem", "".join(H.read_text(p) for p in parts))

    pki = H.pki()
    chains = {"legit-alice": pki.client("alice"), "legit-deep": pki.client("deep")}
    fakes = [ca("fake%d" % i, INTERMEDIATE_DN) for i in range(10)]
    lf = leaf("flood-leaf", fakes[0])
    chains["flood-11"] = (bundle("flood-11", [lf[0]] + [c for c, _ in fakes]), lf[1])
    chains["flood-9"] = (bundle("flood-9", [lf[0]] + [c for c, _ in fakes[:8]]), lf[1])
    # A path of distinct names: leaf <- p0 <- p1 <- ... <- p8 (self-signed top).
    path = [ca("p8", "/CN=Path CA 8")]
    for i in range(7, -1, -1):
        path.insert(0, ca("p%d" % i, "/CN=Path CA %d" % i, issuer=path[0]))
    pl = leaf("path-leaf", path[0])
    chains["path-distinct"] = (bundle("path-distinct", [pl[0]] + [c for c, _ in path]), pl[1])
    return chains


def handshakes(port, pem, key, n):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.options |= ssl.OP_NO_TICKET  # every handshake a full one
    ctx.load_cert_chain(pem, key)
    statuses = {}
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            try:
                c = ctx.wrap_socket(s, server_hostname="localhost")
            except (ssl.SSLError, OSError):
                statuses["tls-fail"] = statuses.get("tls-fail", 0) + 1
                continue
            with c:
                c.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                head = b""
                try:
                    while b"\r\n" not in head:
                        got = c.recv(4096)
                        if not got:
                            break
                        head += got
                except (ssl.SSLError, OSError):
                    pass
                code = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "tls-fail"
                statuses[code] = statuses.get(code, 0) + 1
    return statuses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certgate", default=os.path.join(HERE, "..", "build", "certgate"))
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    H.CERTGATE = os.path.abspath(a.certgate)
    tmp = H.TempDir("chain-flood")
    backend = cg = None
    try:
        chains = make_chains(tmp)
        backend = H.Backend(tmp).start()
        cg = H.Certgate(tmp)
        cg.configure(H.pki(), backends={"app": backend.port}, level="info")
        cg.start()
        hz = os.sysconf("SC_CLK_TCK")
        print("certgate %s, %d handshakes each" % (H.CERTGATE, a.n))
        for name, (pem, key) in chains.items():
            handshakes(cg.port, pem, key, 5)  # warm up (the chain cache learns alice's CAs)
            before, t0 = cpu_ticks(cg.proc.pid), time.monotonic()
            st = handshakes(cg.port, pem, key, a.n)
            ms = (cpu_ticks(cg.proc.pid) - before) * 1000.0 / hz / a.n
            print("%-14s %7.2f ms CPU/handshake  wall %5.2f ms  %s" % (
                name, ms, (time.monotonic() - t0) * 1000 / a.n, st))
    finally:
        if cg:
            cg.stop(check=False)
        if backend:
            backend.stop()
        if a.keep:
            print("kept", tmp.join(""))
        else:
            tmp.cleanup()


if __name__ == "__main__":
    main()
