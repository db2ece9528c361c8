"""PROXY protocol on listeners (listeners[].proxy_protocol, src/net/proxy_protocol.h,
docs/deployment.md).

127.0.0.1 plays the trusted balancer, 127.0.0.2 a client that reaches the
listener directly. A raw client sends a v1 line or a v2 header, then does TLS
on the same socket; the backend's X-Forwarded-For, certgate's log (client=),
the per-address limits and the operator level of error pages must all follow
the address of the header. Malformed headers are refused and closed with a
log line while other connections go on. Then a real HAProxy (TCP mode,
send-proxy and send-proxy-v2, health checks with the LOCAL command) in front
of certgate, with curl behind it.
"""

import ipaddress
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
import unittest

import harness as H
from harness import t

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def v1(src, sport, dst="127.0.0.1", dport=443):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(src=None, sport=0, dst=None, dport=443, tlvs=b"", local=False):
    """A v2 header: PROXY over TCP (IPv4 or IPv6 by src), or LOCAL."""
    if local:
        return SIG + bytes([0x20, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    a = ipaddress.ip_address(src)
    if dst is None:
        dst = "127.0.0.1" if a.version == 4 else "::1"
    fam = 0x11 if a.version == 4 else 0x21
    body = a.packed + ipaddress.ip_address(dst).packed + struct.pack("!HH", sport, dport) + tlvs
    return SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def raw_connect(port, source="127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", port), timeout=t(10), source_address=(source, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def send_header(s, header, mode):
    """whole: one write; bytes: one write per byte; with_hello: held back
    (MSG_MORE) so that it leaves in one segment with the ClientHello."""
    if mode == "bytes":
        for i in range(len(header)):
            s.send(header[i:i + 1])
            time.sleep(0.002)
    elif mode == "with_hello":
        s.send(header, socket.MSG_MORE)
    else:
        s.sendall(header)


def tls_after(port, s, cert="alice"):
    """TLS on an already connected socket s: a harness TLSClient."""
    c = H.TLSClient(port, cert, connect=False)
    c.sock = c.ctx.wrap_socket(s, server_hostname="localhost")
    return c


def read_to_end(s, timeout=5):
    """Every byte until certgate closes (a reset counts as closed)."""
    s.settimeout(t(timeout))
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


class ProxyBase(H.Shared):
    listener_lines = "proxy_protocol:\n  trusted: [127.0.0.1]\n"
    limits = {"max_connections_per_address": 2}

    @classmethod
    def certgate_options(cls, backend_port):
        return {"backends": {"app": backend_port},
                "listener_extra": cls.listener_lines,
                "timeouts": {"handshake": "3s"},
                "limits": cls.limits,
                "errors": {"operator_networks": ["192.0.2.0/26"]}}

    def via(self, header, *, mode="whole", cert="alice", source="127.0.0.1"):
        s = raw_connect(self.cg.port, source)
        try:
            send_header(s, header, mode)
            return tls_after(self.cg.port, s, cert)
        except BaseException:
            s.close()
            raise

    def request_via(self, header, **kw):
        """One request through a connection that starts with header: (the
        backend's JSON, the request's log line, the client's local port)."""
        marker = H.unique("/pp")
        with self.via(header, **kw) as c:
            port = c.local_port
            r = c.request("GET", marker)
        seen = self.assert_ok_json(r)
        entry = self.cg.wait_log(event="request", id_=r.header("X-Request-Id"))[0]
        return seen, entry, port

    def xff(self, seen):
        return H.headers_named(seen["headers"], "X-Forwarded-For")

    def assert_refused(self, s, reason, source_port=None):
        """s is closed by certgate without a byte, with a proxy_protocol_refused
        line naming the balancer's side of s and saying reason (s None: the
        TLS client already saw it fail; only the line is checked)."""
        port = source_port or s.getsockname()[1]
        if s is not None:
            self.assertEqual(read_to_end(s), b"", "certgate answered a refused connection")
        # The reason is part of the match: an ephemeral port can come round
        # again on the shared certgate, so an older line may name the same port.
        try:
            return self.cg.wait_log(event="proxy_protocol_refused", client="127.0.0.1:%d" % port,
                                    reason=lambda r: reason in r)[-1]
        except AssertionError:
            lines = self.cg.find_log(event="proxy_protocol_refused", client="127.0.0.1:%d" % port)
            self.fail("no proxy_protocol_refused line for port %d says %r; lines for that port: %s"
                      % (port, reason, [e["_raw"] for e in lines]))


class TestProxyProtocol(ProxyBase):

    def test_v1_ipv4(self):
        seen, entry, _ = self.request_via(v1("192.0.2.7", 40001))
        self.assertEqual(self.xff(seen), ["192.0.2.7"])
        self.assertEqual(entry["client"], "192.0.2.7:40001")

    def test_v1_ipv6(self):
        seen, entry, _ = self.request_via(v1("2001:db8::7", 40002, "2001:db8::1"))
        self.assertEqual(self.xff(seen), ["2001:db8::7"])
        self.assertEqual(entry["client"], "[2001:db8::7]:40002")

    def test_v2_ipv4_with_tlvs(self):
        hdr = v2("192.0.2.8", 40003, tlvs=tlv(0x01, b"http/1.1") + tlv(0x04, b"") + tlv(0xEA, b"\x01vpce-0123"))
        seen, entry, port = self.request_via(hdr)
        self.assertEqual(self.xff(seen), ["192.0.2.8"])
        self.assertEqual(entry["client"], "192.0.2.8:40003")
        # The debug line names the balancer's side.
        pp = self.cg.wait_log(event="proxy_protocol", via="127.0.0.1:%d" % port)[0]
        self.assertEqual((pp["client"], pp["version"], pp["local"]), ("192.0.2.8:40003", "2", "0"))

    def test_v2_ipv6(self):
        seen, entry, _ = self.request_via(v2("2001:db8::8", 40004))
        self.assertEqual(self.xff(seen), ["2001:db8::8"])
        self.assertEqual(entry["client"], "[2001:db8::8]:40004")

    def test_header_and_client_hello_in_one_segment(self):
        for hdr, ip in ((v2("192.0.2.9", 40005), "192.0.2.9"), (v1("192.0.2.10", 40006), "192.0.2.10")):
            with self.subTest(ip=ip):
                seen, entry, _ = self.request_via(hdr, mode="with_hello")
                self.assertEqual(self.xff(seen), [ip])

    def test_split_in_one_byte_writes(self):
        for hdr, ip in ((v1("192.0.2.11", 40007), "192.0.2.11"),
                        (v2("2001:db8::11", 40008, tlvs=tlv(0x05, b"unique-id-1234")), "2001:db8::11")):
            with self.subTest(ip=ip):
                seen, entry, _ = self.request_via(hdr, mode="bytes")
                self.assertEqual(self.xff(seen), [ip])

    def test_local_and_unknown_use_the_connection(self):
        """v2 LOCAL (health checks) and v1 UNKNOWN name no client: the
        connection's own address stands."""
        for hdr in (v2(local=True), v2(local=True, tlvs=tlv(0x04, b"xx")), b"PROXY UNKNOWN\r\n",
                    b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"):
            with self.subTest(hdr=hdr):
                seen, entry, port = self.request_via(hdr)
                self.assertEqual(self.xff(seen), ["127.0.0.1"])
                self.assertEqual(entry["client"], "127.0.0.1:%d" % port)
                pp = self.cg.wait_log(event="proxy_protocol", client="127.0.0.1:%d" % port)[0]
                self.assertEqual(pp["local"], "1")

    def test_malformed_headers_refused(self):
        """Each refused and closed with a log line; a connection opened
        before them still works after."""
        keep = self.via(v2("192.0.2.12", 40009))
        self.addCleanup(keep.close)
        self.assert_ok_json(keep.request("GET", H.unique("/before")))
        big_tlv = tlv(0xE0, b"x" * 3000)
        cases = [
            ("bad v2 signature", SIG[:11] + b"\r" + b"\x21\x11\x00\x0c" + b"\x00" * 12, "signature does not match"),
            ("v2 version 1", SIG + b"\x11\x11\x00\x0c" + b"\x00" * 12, "version 1"),
            ("v2 AF_UNIX", SIG + b"\x21\x31\x00\xd8" + b"\x00" * 216, "AF_UNIX"),
            ("v2 UDP", SIG + b"\x21\x12\x00\x0c" + b"\x00" * 12, "UDP"),
            ("v2 oversized TLVs", v2("192.0.2.13", 1, tlvs=big_tlv), "over certgate's limit of 2048"),
            ("v2 TLV overrun", v2("192.0.2.13", 1)[:14] + b"\x00\x11" + v2("192.0.2.13", 1)[16:] + b"\x01\x00\x09h2",
             "overruns"),
            ("v1 leading zero port", b"PROXY TCP4 192.0.2.13 127.0.0.1 040001 443\r\n", "source port \"040001\""),
            ("v1 wrong family", b"PROXY TCP4 2001:db8::13 127.0.0.1 1 443\r\n", "not an IPv4 address"),
            ("v1 bare LF", b"PROXY TCP4 192.0.2.13 127.0.0.1 1 443\n", "bare LF"),
            ("v1 without CRLF in 107 bytes", b"PROXY UNKNOWN " + b"a" * 120, "no CRLF within 107 bytes"),
            ("v1 double space", b"PROXY TCP4  192.0.2.13 127.0.0.1 1 443\r\n", "empty field"),
            ("HTTP instead", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "starts with byte 0x47"),
        ]
        for name, data, reason in cases:
            with self.subTest(name):
                s = raw_connect(self.cg.port)
                try:
                    try:
                        s.sendall(data)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # refused before it read everything
                    self.assert_refused(s, reason)
                finally:
                    s.close()
        # A TLS client that sends no header at all.
        s = raw_connect(self.cg.port)
        port = s.getsockname()[1]
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            tls_after(self.cg.port, s)
        s.close()
        self.assert_refused(None, "starts with a TLS handshake", source_port=port)
        # Nothing of them reached the backend; the first connection goes on.
        self.assertNotIn("192.0.2.13", str(self.backend.seen()))
        self.assert_ok_json(keep.request("GET", H.unique("/after")))

    def test_truncated_then_closed(self):
        s = raw_connect(self.cg.port)
        try:
            s.sendall(b"PROXY TCP4 192.0.2.14")
            s.shutdown(socket.SHUT_WR)
            self.assert_refused(s, "the connection ended after 21 bytes of an incomplete PROXY header")
        finally:
            s.close()
        s = raw_connect(self.cg.port)
        try:
            s.sendall(v2("192.0.2.14", 1)[:20])
            s.shutdown(socket.SHUT_WR)
            self.assert_refused(s, "after 20 bytes")
        finally:
            s.close()

    def test_incomplete_header_times_out(self):
        s = raw_connect(self.cg.port)
        try:
            s.sendall(SIG[:7])
            start = time.monotonic()
            self.assert_refused(s, "no complete PROXY header within timeouts.handshake after 7 bytes")
            self.assertGreater(time.monotonic() - start, 1.5)
        finally:
            s.close()

    def test_untrusted_source_refused(self):
        """direct_clients: refuse (the default): a connection from outside
        proxy_protocol.trusted is closed before anything is read, header or not."""
        for header in (v1("192.0.2.15", 40010), b""):
            with self.subTest(header=header):
                s = raw_connect(self.cg.port, "127.0.0.2")
                port = s.getsockname()[1]
                try:
                    if header:
                        send_header(s, header, "whole")
                        self.assertEqual(read_to_end(s), b"")
                    else:
                        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
                            tls_after(self.cg.port, s)
                finally:
                    s.close()
                if header:  # logged once per 10 s per worker: the first one
                    e = self.cg.wait_log(event="connection_refused", client="127.0.0.2:%d" % port)[0]
                    self.assertIn("not a trusted balancer", e["reason"])
        self.assertNotIn("192.0.2.15", str(self.backend.seen()))

    def test_admission_counts_the_real_client(self):
        """max_connections_per_address: 2 holds for the header's address; the
        balancer, carrying every client, is not one client."""
        a = self.via(v2("203.0.113.5", 1))
        b = self.via(v1("203.0.113.5", 2))
        for c in (a, b):
            self.addCleanup(c.close)
            self.assert_ok_json(c.request("GET", H.unique("/held")))
        s = raw_connect(self.cg.port)
        send_header(s, v2("203.0.113.5", 3), "whole")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            tls_after(self.cg.port, s)
        s.close()
        e = self.cg.wait_log(event="connection_refused", address="203.0.113.5")[0]
        self.assertEqual(e["client"], "203.0.113.5:3")
        self.assertIn("limits.max_connections_per_address", e["reason"])
        # A third and fourth connection from the balancer, for other clients.
        for ip in ("203.0.113.6", "203.0.113.7"):
            seen, _, _ = self.request_via(v2(ip, 4))
            self.assertEqual(self.xff(seen), [ip])

    def test_operator_networks_use_the_real_client(self):
        """errors.operator_networks (192.0.2.0/26) judge the header's
        address: the balancer's 127.0.0.1 is not in them."""
        for ip, operator in (("192.0.2.20", True), ("198.51.100.20", False)):
            with self.subTest(ip=ip):
                with self.via(v1(ip, 40011), cert=None) as c:
                    r = c.request("GET", H.unique("/nocert"))
                self.assert_refusal(r, 403, "client_cert_missing", sub=7, operator=operator)


class TestProxyProtocolDirectAllowed(ProxyBase):
    """direct_clients: allow: clients outside trusted are served as direct
    clients; a PROXY header from them is not read: TLS sees garbage."""
    listener_lines = "proxy_protocol:\n  trusted: [127.0.0.1]\n  direct_clients: allow\n"
    limits = {}  # 127.0.0.2 connects directly several times in a row

    def test_direct_client_keeps_its_address(self):
        s = raw_connect(self.cg.port, "127.0.0.2")
        with tls_after(self.cg.port, s) as c:
            port = c.local_port
            r = c.request("GET", H.unique("/direct"))
        seen = self.assert_ok_json(r)
        self.assertEqual(self.xff(seen), ["127.0.0.2"])
        entry = self.cg.wait_log(event="request", id_=r.header("X-Request-Id"))[0]
        self.assertEqual(entry["client"], "127.0.0.2:%d" % port)

    def test_header_from_untrusted_source_not_honoured(self):
        for header in (v1("192.0.2.30", 40020), v2("192.0.2.30", 40020)):
            with self.subTest(header=header):
                s = raw_connect(self.cg.port, "127.0.0.2")
                port = s.getsockname()[1]
                send_header(s, header, "whole")
                with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
                    tls_after(self.cg.port, s)
                s.close()
                self.cg.wait_log(event="tls_handshake_failed", client="127.0.0.2:%d" % port)
        self.assertNotIn("192.0.2.30", str(self.backend.seen()))
        self.assertEqual(self.cg.find_log(client=lambda v: v.startswith("192.0.2.30")), [])

    def test_trusted_source_still_needs_a_header(self):
        s = raw_connect(self.cg.port)
        port = s.getsockname()[1]
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            tls_after(self.cg.port, s)
        s.close()
        self.assert_refused(None, "starts with a TLS handshake", source_port=port)
        seen, _, _ = self.request_via(v1("192.0.2.31", 40021))
        self.assertEqual(self.xff(seen), ["192.0.2.31"])


HAPROXY = shutil.which("haproxy")


@unittest.skipIf(HAPROXY is None, "haproxy is not installed (scripts/install-deps test)")
class TestProxyProtocolHAProxy(ProxyBase):
    """A real balancer: HAProxy in TCP mode with send-proxy (v1) and
    send-proxy-v2, its health checks sending LOCAL, curl behind it from
    127.0.0.3 and ::1."""
    listener_lines = "proxy_protocol:\n  trusted: [127.0.0.1]\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.p1, cls.p2 = H.free_port(), H.free_port()
        tmp = H.module_tmp(__name__)
        cfg = tmp.write("haproxy.cfg", "\n".join([
            "global",
            "  maxconn 100",
            "defaults",
            "  mode tcp",
            "  timeout connect 5s",
            "  timeout client 30s",
            "  timeout server 30s",
            "frontend v1",
            "  bind 127.0.0.1:%d" % cls.p1,
            "  bind [::1]:%d" % cls.p1,
            "  default_backend certgate_v1",
            "frontend v2",
            "  bind 127.0.0.1:%d" % cls.p2,
            "  bind [::1]:%d" % cls.p2,
            "  default_backend certgate_v2",
            "backend certgate_v1",
            "  server cg 127.0.0.1:%d send-proxy" % cls.cg.port,
            "backend certgate_v2",
            # Health checks that send a PROXY v2 LOCAL header, then a TLS
            # handshake (check-ssl): a plain TCP check is closed with a reset
            # at once, and HAProxy 3.0 (Debian 13) sends header and reset so
            # close together that on a busy machine every check was gone
            # before certgate's accept (logged as connection_gone, no header
            # read): nothing to see. The handshake keeps it open until
            # certgate answers.
            "  server cg 127.0.0.1:%d send-proxy-v2 check check-send-proxy check-ssl verify none inter 300ms"
            % cls.cg.port,
            ""]))
        cls.haproxy_err = open(tmp.join("haproxy.err"), "w")
        cls.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=cls.haproxy_err,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + t(10)
        while not (H.port_accepts(cls.p1) and H.port_accepts(cls.p2)):
            if cls.haproxy.poll() is not None or time.monotonic() > deadline:
                cls.stop_haproxy()
                raise AssertionError("haproxy did not start:\n" + H.read_text(tmp.join("haproxy.err")))
            time.sleep(0.05)

    @classmethod
    def stop_haproxy(cls):
        if cls.haproxy.poll() is None:
            cls.haproxy.send_signal(signal.SIGTERM)
            try:
                cls.haproxy.wait(t(10))
            except subprocess.TimeoutExpired:
                cls.haproxy.kill()
                cls.haproxy.wait()
        cls.haproxy_err.close()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_haproxy()
        finally:
            super().tearDownClass()

    def curl_through(self, port, source, marker):
        if ":" in source:
            extra = ["--connect-to", "localhost:%d:[::1]:%d" % (port, port)]
        else:
            extra = ["--interface", source]
        r = H.curl(port, marker, cert="alice", extra_args=extra)
        seen = self.assert_ok_json(r)
        entry = self.cg.wait_log(event="request", id_=r.header("X-Request-Id"))[0]
        return seen, entry

    def test_send_proxy_v1_and_v2(self):
        for port, version in ((self.p1, "v1"), (self.p2, "v2")):
            for source, logged in (("127.0.0.3", "127.0.0.3:"), ("::1", "[::1]:")):
                with self.subTest(version=version, source=source):
                    seen, entry = self.curl_through(port, source, H.unique("/haproxy-" + version))
                    self.assertEqual(self.xff(seen), [source])
                    self.assertTrue(entry["client"].startswith(logged), entry["_raw"])
                    self.assertTrue(entry["subject"].endswith("CN=alice") or "alice" in entry["subject"],
                                    entry["_raw"])

    def test_health_checks_send_local(self):
        # HAProxy checks every 300 ms; a loaded machine may delay its first checks for seconds.
        e = self.cg.wait_log(timeout=t(20), event="proxy_protocol", local="1", version="2")[0]
        self.assertTrue(e["client"].startswith("127.0.0.1:"), e["_raw"])
        # Health checks are not refusals.
        self.assertEqual([x for x in self.cg.find_log(event="proxy_protocol_refused") if x["level"] != "debug"], [])
