"""Overlapping restarts under load: a client makes new TLS connections with
a request each, continuously, while certgate is replaced; every connection
must succeed. Two ways:

- `certgate run --takeover`: the successor binds beside the running
  certgate (SO_REUSEPORT), and once it serves tells it to stop; the old one
  keeps accepting until its accept queues are empty, then closes them.
- socket activation (listen_fds.h): a fake systemd holds the listening
  socket and passes it (LISTEN_FDS, LISTEN_PID) to the old and the new
  certgate; also a plain stop-then-start (systemctl restart), where
  connections wait in the socket's queue instead of being refused.

The counts are printed (`restart under load: ...`)."""

import os
import signal
import socket
import sys
import threading
import time
import unittest

import harness as H

TMP = H.module_tmp(__name__)


def tearDownModule():
    H.cleanup_module_tmp(__name__)


class Load:
    """Threads making new TLS connections (a full handshake and GET each)
    until stopped; counts successes and failures (with their reasons)."""

    def __init__(self, port, threads=2):
        self.port = port
        self.ok = 0
        self.failed = []
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        ctx = H.client_context("alice")
        n = 0
        while not self.stop_flag.is_set():
            n += 1
            try:
                # Generous timeouts: a connection waiting in a queue during a
                # restart is slow, not failed.
                with H.TLSClient(self.port, "alice", timeout=10, context=ctx) as c:
                    r = c.request("GET", "/load/%d" % n, headers=[("Connection", "close")])
                    if r.status != 200:
                        raise AssertionError("status %d" % r.status)
                with self.lock:
                    self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted
                with self.lock:
                    self.failed.append("%s: %s" % (type(e).__name__, e))

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for th in self.threads:
            th.join(H.t(30))

    def wait_for(self, count, timeout=20):
        H.wait_until(lambda: self.ok >= count, timeout=timeout, what="%d successful connections" % count)

    def report(self, what):
        line = "restart under load (%s): %d connections, %d failed" % (what, self.ok + len(self.failed),
                                                                      len(self.failed))
        print("\n    " + line, file=sys.stderr, flush=True)
        return line


class RestartCase(H.Base):

    def setUp(self):
        self.backend = H.Backend(TMP, name=H.unique("backend")).start()
        self.addCleanup(self.backend.stop)
        self.port = H.free_port()
        self.pid_file = TMP.join(H.unique("run"), "certgate.pid")

    def instance(self, name, pid_file=True, workers=2):
        cg = H.Certgate(TMP, name=H.unique(name))
        cg.port = self.port
        process = {"allow_root": "true"}
        if pid_file:
            process["pid_file"] = self.pid_file
        cg.configure(H.pki(), backends={"app": self.backend.port}, workers=workers, level="info",
                     process=process, timeouts={"shutdown": "10s"})
        self.addCleanup(cg.stop, False)
        return cg


class TestTakeover(RestartCase):

    def test_takeover_under_load(self):
        old = self.instance("old").start()
        with Load(self.port) as load:
            load.wait_for(20)
            new = self.instance("new")
            new.start(wait=False, args=["--takeover"])
            new.wait_log(timeout=20, event="takeover")
            self.assertEqual(old.wait_exit(30), 0, old.diagnostics())
            old.check_exit()
            before = load.ok
            load.wait_for(before + 20)
        line = load.report("certgate run --takeover")
        self.assertEqual(load.failed, [], line)
        self.assertTrue(new.running(), new.diagnostics())
        self.assertEqual(int(open(self.pid_file).read()), new.pid)
        self.assertTrue(old.find_log(event="shutdown"), old.log_tail())
        # Both served some of the load.
        self.assertTrue(old.find_log(event="request", status="200"))
        self.assertTrue(new.find_log(event="request", status="200"))

    def test_takeover_without_a_running_certgate_just_starts(self):
        cg = self.instance("alone").start(args=["--takeover"])
        self.assertEqual(cg.curl("/x").status, 200)
        self.assertFalse(cg.find_log(event="takeover"))

    def test_second_instance_without_takeover_is_refused(self):
        self.instance("first").start()
        second = self.instance("second")
        p = H.run_certgate(["run", "-c", second.cfg_path])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("certgate is already running", p.stderr)

    def test_takeover_needs_a_pid_file(self):
        cg = self.instance("nopid", pid_file=False)
        p = H.run_certgate(["run", "-c", cg.cfg_path, "--takeover"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("process.pid_file", p.stderr)


class TestSocketActivation(RestartCase):

    def setUp(self):
        super().setUp()
        # The fake systemd: one listening socket, kept for the whole test.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(511)
        self.addCleanup(self.sock.close)

    def activated(self, cg):
        """Starts cg as systemd would: the socket as fd 3, LISTEN_FDS=1,
        LISTEN_PID=its pid (a shell sets it, then execs certgate)."""
        fd = self.sock.fileno()
        script = ('exec 3<&%d %d<&-; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$0" run -c "$1"' % (fd, fd))
        cg.start(wait=False, argv=["sh", "-c", script, H.CERTGATE, cg.cfg_path], pass_fds=(fd,))
        cg.wait_log(timeout=20, event="listening")
        self.assertTrue(cg.find_log(event="listen_fds"), cg.log_tail())
        return cg

    def test_overlapping_restart_on_a_passed_socket(self):
        old = self.activated(self.instance("old", pid_file=False))
        with Load(self.port) as load:
            load.wait_for(20)
            new = self.activated(self.instance("new", pid_file=False))
            old.signal(signal.SIGTERM)
            self.assertEqual(old.wait_exit(30), 0, old.diagnostics())
            old.check_exit()
            before = load.ok
            load.wait_for(before + 20)
        line = load.report("socket activation, overlapping")
        self.assertEqual(load.failed, [], line)
        self.assertTrue(new.find_log(event="request", status="200"))

    def test_stop_then_start_keeps_connections_waiting(self):
        # systemctl restart with certgate.socket: stop, then start; the socket
        # stays open in the supervisor, so connections made in between wait.
        first = self.activated(self.instance("first", pid_file=False))
        with Load(self.port) as load:
            load.wait_for(20)
            first.signal(signal.SIGTERM)
            self.assertEqual(first.wait_exit(30), 0, first.diagnostics())
            first.check_exit()
            gap_started = time.monotonic()
            time.sleep(0.5)  # nothing serves: clients wait in the queue
            served_in_gap = load.ok
            second = self.activated(self.instance("second", pid_file=False))
            gap = time.monotonic() - gap_started
            load.wait_for(served_in_gap + 20)
        line = load.report("socket activation, stop then start with a %.1f s gap" % gap)
        self.assertEqual(load.failed, [], line)
        self.assertTrue(second.find_log(event="request", status="200"))

    def test_wrong_passed_socket_is_refused(self):
        # A passed descriptor that is not a listening TCP socket: refused at start.
        cg = self.instance("bad", pid_file=False)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        script = 'exec 3<&%d; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$0" run -c "$1"' % r
        import subprocess
        p = subprocess.run(["sh", "-c", script, H.CERTGATE, cg.cfg_path], pass_fds=(r,),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=H.t(20))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("not a listening TCP socket", p.stderr)


if __name__ == "__main__":
    unittest.main()
