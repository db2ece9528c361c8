"""certgate as a service: systemd's notification protocol over a real
AF_UNIX datagram socket (path and abstract name), the watchdog (with a
worker thread really stopped by ptrace), the privilege drop (root only:
certgate started as root switches to nobody:nogroup), the refusal to serve
as root without saying so, key permission warnings, the pid file and the
`certgate reload` / `flush-tickets` commands that find the process through
it."""

import ctypes
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest
import uuid

import harness as H


def tearDownModule():
    H.cleanup_module_tmp(__name__)


IS_ROOT = os.geteuid() == 0


class NotifySocket:
    """The receiving end of $NOTIFY_SOCKET: a datagram socket bound to a path
    in the temp dir, or to an abstract name ("@...")."""

    def __init__(self, tmp, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "certgate-test-%s" % uuid.uuid4().hex[:12]
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = tmp.join(H.unique("notify") + ".sock")
            self.sock.bind(self.env)
        self.messages = []  # (monotonic time, {key: value}, raw)

    def close(self):
        self.sock.close()
        if not self.env.startswith("@"):
            try:
                os.unlink(self.env)
            except FileNotFoundError:
                pass

    def recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        fields = {}
        for line in data.decode(errors="replace").split("\n"):
            if "=" in line:
                k, _, v = line.partition("=")
                fields[k] = v
        msg = (time.monotonic(), fields, data)
        self.messages.append(msg)
        return msg

    def wait_for(self, key, value="1", timeout=10, what=None):
        """The next message with key=value (messages before it are kept in
        self.messages)."""
        deadline = time.monotonic() + H.t(timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s=%s on the notify socket within %ds%s; got: %r" % (
                    key, value, H.t(timeout), " (%s)" % what if what else "",
                    [m[2] for m in self.messages]))
            m = self.recv(left)
            if m and m[1].get(key) == value:
                return m

    def count(self, key, value, seconds):
        """How many key=value messages arrive within seconds."""
        n = 0
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return n
            m = self.recv(left)
            if m and m[1].get(key) == value:
                n += 1


def monotonic_usec():
    return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)


class ServiceBase(H.Base):
    @classmethod
    def setUpClass(cls):
        cls.tmp = H.module_tmp(__name__)
        cls.pki = H.pki()
        cls.backend = H.Backend(cls.tmp).start()

    @classmethod
    def tearDownClass(cls):
        cls.backend.stop()

    def new_certgate(self, **kw):
        cg = H.Certgate(self.tmp, name=H.unique("cg"))
        cg.configure(self.pki, {"app": self.backend.port}, **kw)
        self.addCleanup(cg.stop, check=False)
        return cg

    def notify_socket(self, abstract=False):
        ns = NotifySocket(self.tmp, abstract)
        self.addCleanup(ns.close)
        return ns


class TestNotify(ServiceBase):
    def start_notified(self, abstract=False, env=None, **kw):
        ns = self.notify_socket(abstract)
        cg = self.new_certgate(**kw)
        cg.start(wait=False, env=dict({"NOTIFY_SOCKET": ns.env}, **(env or {})))
        return cg, ns

    def check_ready(self, abstract):
        cg, ns = self.start_notified(abstract)
        m = ns.wait_for("READY", what="start")
        # Ready means serving: a connection made now succeeds at once.
        self.assertTrue(H.port_accepts(cg.port, timeout=0.5),
                        "READY=1 arrived but 127.0.0.1:%d does not accept\n%s" % (cg.port, cg.diagnostics()))
        fields = m[1]
        self.assertEqual(fields.get("MAINPID"), str(cg.pid), m[2])
        self.assertIn("serving", fields.get("STATUS", ""), m[2])
        self.assertEqual([x for x in ns.messages if x[1].get("READY") == "1"], [m], "exactly one READY=1")
        r = cg.curl("/ready")
        self.assert_status(r, 200, cg)
        cg.signal(signal.SIGTERM)
        m = ns.wait_for("STOPPING", what="SIGTERM")
        self.assertIn("stopping", m[1].get("STATUS", ""), m[2])
        self.assertEqual(cg.wait_exit(15), 0, cg.diagnostics())
        cg.check_exit()

    def test_ready_and_stopping_path_socket(self):
        self.check_ready(abstract=False)

    def test_ready_and_stopping_abstract_socket(self):
        self.check_ready(abstract=True)

    def test_reload_good_and_refused(self):
        cg, ns = self.start_notified()
        ns.wait_for("READY", what="start")
        good = H.read_text(cg.cfg_path)

        before = monotonic_usec()
        cg.signal(signal.SIGHUP)
        m = ns.wait_for("RELOADING", what="SIGHUP with a good file")
        stamp = int(m[1].get("MONOTONIC_USEC", "0"))
        self.assertTrue(before - 1000000 <= stamp <= monotonic_usec(),
                        "MONOTONIC_USEC=%d is not CLOCK_MONOTONIC now (%d)" % (stamp, before))
        m = ns.wait_for("READY", what="end of the good reload")
        self.assertIn("reload applied", m[1].get("STATUS", ""), m[2])

        cg.write_config(good + "bogus_key: 1\n")
        cg.signal(signal.SIGHUP)
        ns.wait_for("RELOADING", what="SIGHUP with a broken file")
        m = ns.wait_for("READY", what="end of the refused reload")
        status = m[1].get("STATUS", "")
        self.assertIn("reload refused", status, m[2])
        self.assertIn("bogus_key", status, m[2])
        # still serving with the configuration in force
        self.assert_status(cg.curl("/after-refused"), 200, cg)
        cg.write_config(good)

    def test_watchdog_pings_at_half_the_interval(self):
        cg, ns = self.start_notified(env={"WATCHDOG_USEC": "400000"}, workers=2)
        ns.wait_for("READY", what="start")
        ns.wait_for("WATCHDOG", what="first ping")
        n = ns.count("WATCHDOG", "1", 2.0)
        # every 200 ms: 10 in 2 s; timers may slip on a loaded machine
        self.assertTrue(6 <= n <= 12, "%d WATCHDOG=1 in 2 s with WATCHDOG_USEC=400000 (expected about 10)" % n)
        cg.stop()  # the heartbeat timers do not keep the workers alive: exit 0

    def test_watchdog_for_another_pid_is_ignored(self):
        cg, ns = self.start_notified(env={"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
        ns.wait_for("READY", what="start")
        self.assertEqual(ns.count("WATCHDOG", "1", 1.0), 0, "WATCHDOG_PID names another process")

    def test_stuck_worker_withholds_the_watchdog(self):
        cg, ns = self.start_notified(env={"WATCHDOG_USEC": "600000"}, workers=2)
        ns.wait_for("READY", what="start")
        ns.wait_for("WATCHDOG", what="first ping")
        tids = {}
        for tid in os.listdir("/proc/%d/task" % cg.pid):
            tids[H.read_text("/proc/%d/task/%s/comm" % (cg.pid, tid)).strip()] = int(tid)
        self.assertIn("certgate-w1", tids, "worker threads are named certgate-wN: %r" % tids)
        tid = tids["certgate-w1"]
        libc = ctypes.CDLL(None, use_errno=True)
        PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
        if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
            self.skipTest("ptrace is not permitted here (errno %d): cannot stop one worker thread" %
                          ctypes.get_errno())
        try:
            # Stops that one thread only: its loop no longer turns.
            self.assertEqual(libc.ptrace(PTRACE_INTERRUPT, tid, None, None), 0)
            os.waitpid(tid, 0x40000000)  # __WALL
            stalled_at = time.monotonic()
            # A ping decided before the stall showed may still come (limit
            # 300 ms, checks every 300 ms); after that, none.
            while time.monotonic() < stalled_at + H.t(0.7):
                ns.recv(0.05)
            n = ns.count("WATCHDOG", "1", 1.5)
            self.assertEqual(n, 0, "WATCHDOG=1 sent while worker 1 is stopped")
            cg.wait_log(event="watchdog", worker="1")
        finally:
            libc.ptrace(PTRACE_DETACH, tid, None, 0)
        ns.wait_for("WATCHDOG", timeout=3, what="worker 1 runs again")
        cg.wait_log(event="watchdog", detail=lambda d: "resumed" in d)
        self.assert_status(cg.curl("/after-stall"), 200, cg)
        cg.stop()

    def test_unusable_notify_socket_is_logged(self):
        cg = self.new_certgate()
        cg.start(env={"NOTIFY_SOCKET": "relative/path"})
        cg.wait_log(event="notify_failed", detail=lambda d: "neither a path" in d)
        self.assert_status(cg.curl("/"), 200, cg)


class TestPidFile(ServiceBase):
    def with_pid_file(self, **kw):
        run = self.tmp.join(H.unique("run"))
        pid_file = os.path.join(run, "certgate.pid")
        cg = self.new_certgate(process={"allow_root": "true", "pid_file": pid_file}, **kw)
        return cg, pid_file

    def sleeper(self):
        p = subprocess.Popen(["sleep", "60"])
        self.addCleanup(lambda: (p.kill(), p.wait()))
        return p

    def test_written_used_and_removed(self):
        cg, pid_file = self.with_pid_file()
        cg.start()
        # The port accepts once it listens (the kernel's queue), a moment before
        # the pid file is written: wait for the file, as systemd waits for READY=1.
        H.wait_until(lambda: H.read_text(pid_file), what="pid file")
        self.assertEqual(H.read_text(pid_file), "%d\n" % cg.pid)
        status = pid_file[:-4] + ".status"
        H.wait_until(lambda: "reloads=0" in H.read_text(status), what="status file")

        p = H.run_certgate(["reload", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("certgate (pid %d) reloaded" % cg.pid, p.stdout)
        cg.wait_log(event="reload", result="ok")

        p = H.run_certgate(["flush-tickets", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("pid %d" % cg.pid, p.stdout)
        cg.wait_log(event="kerberos_flush")

        cg.stop()
        self.assertFalse(os.path.exists(pid_file), "pid file left after a clean exit")
        self.assertFalse(os.path.exists(status), "status file left after a clean exit")

    def test_reload_reports_refusals(self):
        cg, pid_file = self.with_pid_file()
        cg.start()
        good = H.read_text(cg.cfg_path)
        # Valid for `certgate reload`'s own check, refused by the process:
        # listeners cannot change without a restart.
        cg.write_config(good.replace("port: %d" % cg.port, "port: %d" % H.free_port()))
        p = H.run_certgate(["reload", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("refused the new configuration", p.stderr)
        self.assertIn("restart certgate to change listeners", p.stderr)

        # Invalid: reported by the command, the process is not signalled.
        cg.write_config(good + "bogus_key: 1\n")
        reloads = len(cg.find_log(event="reload"))
        p = H.run_certgate(["reload", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('unknown key "bogus_key"', p.stderr)
        self.assertIn("not reloading", p.stderr)
        time.sleep(0.3)
        self.assertEqual(len(cg.find_log(event="reload")), reloads, "certgate was signalled anyway")
        cg.write_config(good)
        self.assert_status(cg.curl("/"), 200, cg)

    def test_refuses_a_pid_that_is_not_certgate(self):
        cg, pid_file = self.with_pid_file()
        sleeper = self.sleeper()
        for pid, name in ((sleeper.pid, "sleep"), (os.getpid(), "python")):
            for cmd in (["reload"], ["flush-tickets"]):
                p = H.run_certgate(cmd + ["-c", cg.cfg_path, "--pid", str(pid)])
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("refusing to signal pid %d" % pid, p.stderr)
                self.assertIn(name, p.stderr)
        # the same through the pid file
        os.makedirs(os.path.dirname(pid_file), exist_ok=True)
        with open(pid_file, "w") as f:
            f.write("%d\n" % sleeper.pid)
        p = H.run_certgate(["reload", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("refusing to signal pid %d (from %s)" % (sleeper.pid, pid_file), p.stderr)
        self.assertIsNone(sleeper.poll(), "sleep was signalled")

    def test_no_pid_file_no_guess(self):
        cg = self.new_certgate()
        p = H.run_certgate(["reload", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("give --pid PID", p.stderr)

    def test_second_instance_refused_stale_file_replaced(self):
        cg, pid_file = self.with_pid_file()
        # A stale pid file (a process that is not certgate) is replaced.
        sleeper = self.sleeper()
        os.makedirs(os.path.dirname(pid_file), exist_ok=True)
        with open(pid_file, "w") as f:
            f.write("%d\n" % sleeper.pid)
        cg.start()
        H.wait_until(lambda: H.read_text(pid_file) == "%d\n" % cg.pid, what="the pid file replaced")
        cg.wait_log(event="pid_file", detail=lambda d: "stale" in d)

        second = self.new_certgate(process={"allow_root": "true", "pid_file": pid_file})
        second.start(wait=False)
        self.assertEqual(second.wait_exit(10), 1, second.diagnostics())
        err = H.read_text(second.stderr_path)
        self.assertIn("certgate is already running with pid %d" % cg.pid, err)
        self.assertFalse(H.port_accepts(second.port), "the second instance bound its port")
        self.assertEqual(H.read_text(pid_file), "%d\n" % cg.pid, "the running instance's pid file was changed")
        self.assertTrue(cg.running())


class TestPermissions(ServiceBase):
    def test_world_readable_key_warns(self):
        key = self.tmp.join(H.unique("key") + ".pem")
        shutil.copy(self.pki.server_key, key)
        os.chmod(key, 0o644)
        cg = self.new_certgate(tls_extra={})
        cg.write_config(H.read_text(cg.cfg_path).replace(self.pki.server_key, key))
        p = H.run_certgate(["check", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        line = [l for l in H.read_text(cg.cfg_path).splitlines() if key in l]
        m = re.search(r"%s:(\d+):(\d+): warning: tls\.key %s is readable by every user" %
                      (re.escape(cg.cfg_path), re.escape(key)), p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertEqual(int(m.group(1)), H.read_text(cg.cfg_path).splitlines().index(line[0]) + 1)
        self.assertIn("(1 warning(s))", p.stdout)
        cg.start()
        cg.wait_log(event="config", severity="warning", message=lambda s: "readable by every user" in s)
        os.chmod(key, 0o660)
        p = H.run_certgate(["check", "-c", cg.cfg_path])
        self.assertIn("writable by users other than its owner", p.stderr)
        os.chmod(key, 0o640)
        p = H.run_certgate(["check", "-c", cg.cfg_path])
        self.assertNotIn("tls.key", p.stderr)

    def test_unknown_user_and_group(self):
        cg = self.new_certgate(process={"user": "no-such-user-cg"})
        p = H.run_certgate(["check", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        lines = H.read_text(cg.cfg_path).splitlines()
        want = "%s:%d:9: error: process.user: no user \"no-such-user-cg\"" % (
            cg.cfg_path, lines.index("  user: no-such-user-cg") + 1)
        self.assertIn(want, p.stderr)
        cg = self.new_certgate(process={"user": "nobody", "group": "no-such-group-cg"})
        p = H.run_certgate(["check", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('process.group: no group "no-such-group-cg"', p.stderr)

    @unittest.skipUnless(IS_ROOT, "needs root: certgate refuses root only when started as root")
    def test_refuses_root_without_the_setting(self):
        cg = self.new_certgate(process={})
        cg.start(wait=False)
        self.assertEqual(cg.wait_exit(10), 1, cg.diagnostics())
        err = H.read_text(cg.stderr_path)
        self.assertIn("refusing to serve as root", err)
        self.assertIn("process.user", err)
        self.assertIn("process.allow_root: true", err)
        self.assertFalse(H.port_accepts(cg.port))
        p = H.run_certgate(["check", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("refuses root: no process.user", p.stdout)


def status_ids(path):
    out = {}
    for line in H.read_text(path).splitlines():
        k, _, v = line.partition(":")
        if k in ("Uid", "Gid", "Groups", "CapEff", "CapPrm"):
            out[k] = v.split()
    return out


@unittest.skipUnless(IS_ROOT, "needs root: the privilege drop is tested by starting certgate as root")
class TestPrivilegeDrop(ServiceBase):
    """certgate started as root with process.user: nobody, group: nogroup."""

    USER, GROUP = "nobody", "nogroup"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.uid = pwd.getpwnam(cls.USER).pw_uid
            cls.gid = grp.getgrnam(cls.GROUP).gr_gid
        except KeyError:
            raise unittest.SkipTest("no user %s or group %s on this system" % (cls.USER, cls.GROUP))
        # The module's temp dir is 0700: a directory nobody can read, with
        # copies of the files certgate needs, readable by the group only.
        cls.dir = H.TempDir("drop")
        os.chmod(cls.dir.path, 0o755)
        for src, name, mode in ((cls.pki.server_crt, "server.crt", 0o644),
                                (cls.pki.server_key, "server.key", 0o640),
                                (cls.pki.root_crt, "root.crt", 0o644)):
            shutil.copy(src, cls.dir.join(name))
            os.chown(cls.dir.join(name), 0, cls.gid)
            os.chmod(cls.dir.join(name), mode)
        shutil.copytree(os.path.join(cls.pki.dir, "crl"), cls.dir.join("crl"))
        for root, dirs, files in os.walk(cls.dir.join("crl")):
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()
        super().tearDownClass()

    def certgate_as_nobody(self, key_mode=0o640, workers=2, revocation=None, extra=""):
        os.chmod(self.dir.join("server.key"), key_mode)
        self.addCleanup(os.chmod, self.dir.join("server.key"), 0o640)
        name = H.unique("cg")
        cg = H.Certgate(self.dir, name=name)
        run = self.dir.join(H.unique("run"))
        cg.pid_file = os.path.join(run, "certgate.pid")
        text = H.config_yaml(pki=self.pki, port=cg.port, log_file=cg.log_path,
                             backends={"app": self.backend.port}, workers=workers,
                             process={"user": self.USER, "group": self.GROUP, "pid_file": cg.pid_file},
                             revocation=revocation or {"mode": "cache-only", "crl_files": [self.dir.join("crl")]},
                             extra=extra)
        text = (text.replace(self.pki.server_crt, self.dir.join("server.crt"))
                    .replace(self.pki.server_key, self.dir.join("server.key"))
                    .replace(self.pki.root_crt, self.dir.join("root.crt")))
        cg.write_config(text)
        os.chmod(cg.cfg_path, 0o644)
        self.addCleanup(cg.stop, check=False)
        return cg

    def test_serves_as_nobody_in_every_thread(self):
        cg = self.certgate_as_nobody()
        cg.start()
        self.assert_status(cg.curl("/as-nobody"), 200, cg)
        tasks = os.listdir("/proc/%d/task" % cg.pid)
        self.assertGreaterEqual(len(tasks), 3, "main thread and two workers at least")
        want_groups = sorted(str(g) for g in os.getgrouplist(self.USER, self.gid))
        for tid in tasks:
            ids = status_ids("/proc/%d/task/%s/status" % (cg.pid, tid))
            self.assertEqual(ids["Uid"], [str(self.uid)] * 4, "thread %s: %r" % (tid, ids))
            self.assertEqual(ids["Gid"], [str(self.gid)] * 4, "thread %s: %r" % (tid, ids))
            self.assertEqual(sorted(ids["Groups"]), want_groups, "thread %s: %r" % (tid, ids))
            self.assertEqual(int(ids["CapEff"][0], 16), 0, "thread %s keeps capabilities: %r" % (tid, ids))
            self.assertEqual(int(ids["CapPrm"][0], 16), 0, "thread %s keeps capabilities: %r" % (tid, ids))
        cg.wait_log(event="privileges", user=self.USER, uid=str(self.uid))
        st = os.stat(cg.pid_file)
        self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid), "pid file given to the user")
        # A reload re-reads every file as nobody, and the status file is
        # still writable: `certgate reload` reports the result.
        p = H.run_certgate(["reload", "-c", cg.cfg_path])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + cg.diagnostics())
        self.assertIn("reloaded", p.stdout)
        self.assert_status(cg.curl("/after-reload"), 200, cg)
        cg.stop()
        self.assertFalse(os.path.exists(cg.pid_file), "pid file removed by nobody at exit")

    def test_started_as_the_user_nothing_to_switch(self):
        """systemd's model: User=certgate starts it; certgate has nothing to
        switch, and `certgate reload` run as that user (ExecReload) works."""
        cg = self.certgate_as_nobody()
        run = os.path.dirname(cg.pid_file)
        os.mkdir(run, 0o755)  # what RuntimeDirectory= makes
        os.chown(run, self.uid, self.gid)
        open(cg.log_path, "w").close()
        os.chown(cg.log_path, self.uid, self.gid)
        as_user = dict(user=self.uid, group=self.gid, extra_groups=[])
        # The checkout may not be reachable by that user (a clone under
        # /root): run a copy of the binary from the class's directory, as an
        # installed /usr/sbin/certgate would be.
        bindir = self.dir.join(H.unique("sbin"))
        os.mkdir(bindir, 0o755)
        binary = os.path.join(bindir, "certgate")  # reload checks the process is a certgate
        shutil.copy(H.CERTGATE, binary)
        os.chmod(binary, 0o755)
        cg.start(argv=[binary, "run", "-c", cg.cfg_path], **as_user)
        self.assert_status(cg.curl("/started-as-nobody"), 200, cg)
        ids = status_ids("/proc/%d/status" % cg.pid)
        self.assertEqual(ids["Uid"], [str(self.uid)] * 4)
        self.assertEqual(cg.find_log(event="privileges"), [], "nothing to switch, nothing to say")
        p = subprocess.run([binary, "reload", "-c", cg.cfg_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=H.t(20), **as_user)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + cg.diagnostics())
        self.assertIn("certgate (pid %d) reloaded" % cg.pid, p.stdout)
        cg.stop()
        self.assertFalse(os.path.exists(cg.pid_file))

    def test_ocsp_answers_persisted_by_the_user(self):
        """revocation.cache_dir made at start (as root) and given to nobody; the OCSP answers'
        ocsp/ directory and files are nobody's: certgate never makes them before the drop."""
        from ocsp_responder import OCSPResponder
        pki_dir = self.pki.dir
        if not os.path.exists(os.path.join(pki_dir, "state", "intermediate", "index.txt")):
            self.skipTest("the run's PKI has no CA databases (CG_TEST_PKI without state/)")

        class GenPKI:  # what the responder reads of a gen.sh PKI
            dir = pki_dir

            def ca(self, name):
                return os.path.join(pki_dir, "ca", name + ".crt")

        responder = OCSPResponder(GenPKI(), self.dir.path).start()
        self.addCleanup(responder.stop)
        cache = self.dir.join(H.unique("cache"))
        cg = self.certgate_as_nobody(workers=1, revocation={
            "mode": "fetch", "policy": "ocsp", "ocsp_responder": '"%s"' % responder.url()},
            extra="revocation:\n  cache_dir: %s\n  allowed_schemes: [http]\n" % cache)
        cg.start()
        self.assert_status(cg.curl("/ocsp-as-nobody"), 200, cg)
        files, deadline = [], time.monotonic() + H.t(5)
        while len(files) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            files = sorted(f for f in os.listdir(os.path.join(cache, "ocsp")) if f.endswith(".ocsp")) \
                if os.path.isdir(os.path.join(cache, "ocsp")) else []
        self.assertEqual(len(files), 2, cg.diagnostics())
        for path in [cache, os.path.join(cache, "ocsp")] + [os.path.join(cache, "ocsp", f) for f in files]:
            st = os.stat(path)
            self.assertEqual(st.st_uid, self.uid, "%s is not %s's" % (path, self.USER))
        self.assertEqual(cg.find_log(event="ocsp_cache_write_failed"), [])
        cg.stop()

    def test_key_unreadable_after_the_drop_refused(self):
        cg = self.certgate_as_nobody(key_mode=0o600)
        cg.start(wait=False)
        self.assertEqual(cg.wait_exit(10), 1, cg.diagnostics())
        err = H.read_text(cg.stderr_path)
        self.assertIn("tls.key %s: not readable by nobody after the privilege drop" % self.dir.join("server.key"),
                      err)
        self.assertIn("chgrp nogroup %s" % self.dir.join("server.key"), err)
        self.assertFalse(os.path.exists(cg.pid_file), "pid file left by a refused start")


if __name__ == "__main__":
    unittest.main()
