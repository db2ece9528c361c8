"""scripts/demo, the README's quick start, run as a user runs it: the same
script, the committed certs-dev/ PKI and conf/demo.yaml, with free ports, a
temporary run directory (CG_DEMO_* variables), the binary under test
(CERTGATE) and no install or build step (CG_DEMO_NO_BUILD=1).

TestDemo.test_today         the demo as of now
TestDemo.test_a_year_ahead  the same under libfaketime, 365 days ahead, for
                            every process of the demo (it inherits LD_PRELOAD
                            and FAKETIME: openssl issuing the CRLs, slapd, the
                            KDC, Apache, the python helpers, certgate) and for
                            the curl clients. The committed CRLs (30 days) are
                            long expired then: this passes only when the demo
                            issues its own. The offset is relative, so every
                            process sees the same time and tickets and CRLs
                            agree.

Each starts `bash scripts/demo`, waits (bounded) for "certgate demo is
running" and the end of its printout, runs every curl command the demo printed and checks the answer it
printed beside it (alice, bob and deep reach Apache through Kerberos
delegation as themselves; revoked gets 403.13; ...), checks that the printout
names every certificate of certs-dev/client/, that the run's CRLs and
certgate's clock are at the expected time, then sends SIGTERM to the demo
script alone and checks that it exits 0 having stopped every process it
started (each is a session leader; none of its sessions may have a process
left), that certgate's log has no sanitizer report and that certs-dev/ was
not modified.
"""

import glob
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from datetime import datetime, timezone

import harness as H
import kdc_lab

YEAR = 365 * 86400
CERTS_DEV = os.path.join(H.SOURCE_ROOT, "certs-dev")
# "  curl ARGS...   # 403.13 why" : a command the demo printed and its answer
PRINTED = re.compile(r"^  (curl .*?)\s+# (\d{3})(?:\.(\d+))?(?: (.*))?$")


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def libfaketime():
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


def tree_digest(top):
    """SHA-256 over every file name and content under top."""
    h = hashlib.sha256()
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(d, name)
            h.update(os.path.relpath(p, top).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def sessions_alive(sids):
    """{sid: [(pid, comm)]} of the processes (not zombies) in the given sessions."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        state, sid = fields[0], int(fields[3])
        if sid in sids and state != "Z":
            out.setdefault(sid, []).append((int(entry), comm))
    return out


def distinct_ports():
    """Free ports: the certgate listener, echo backend, CRL server and Apache
    (TCP), and the KDC (TCP and UDP)."""
    ports = []
    while len(ports) < 4:
        p = H.free_port()
        if p not in ports:
            ports.append(p)
    while True:
        kdc = kdc_lab._free_port_udp_tcp()
        if kdc not in ports:
            return ports + [kdc]


def demo_script_pid(demo):
    """The pid of scripts/demo's bash: demo itself, or its child under the
    faketime wrapper (which waits for it and exits with its status)."""
    try:
        with open("/proc/%d/cmdline" % demo.pid, "rb") as f:
            argv0 = f.read().split(b"\0")[0]
        if os.path.basename(argv0) != b"faketime":
            return demo.pid
        with open("/proc/%d/task/%d/children" % (demo.pid, demo.pid)) as f:
            children = f.read().split()
        return int(children[0]) if children else demo.pid
    except (OSError, ValueError):
        return demo.pid


def parse_utc(text, fmt):
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()


class TestDemo(H.Base):

    def run_demo(self, offset=0):
        """Starts the demo (offset seconds ahead when not 0), checks it, stops it."""
        why = self.lab_tools_missing()
        if why:
            self.skipTest(why)
        env = dict(os.environ)
        demo_cmd = ["bash", os.path.join(H.SOURCE_ROOT, "scripts", "demo")]
        demo_env = env
        if offset:
            lib = libfaketime()
            if not lib or not shutil.which("faketime"):
                self.skipTest("libfaketime is not installed (scripts/packages.txt, role test: "
                              "faketime libfaketime)")
            fake = "+%dd" % (offset // 86400)
            if H.SANITIZED:
                # ASan wants its runtime first in the library list; libfaketime
                # comes first through LD_PRELOAD, which is harmless here.
                env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                            "verify_asan_link_order=0"]))
            # The demo runs under the faketime wrapper, which owns libfaketime's
            # shared state for the whole run. Preloaded directly, the script's
            # bash would own it, and the first subshell that exits (a fork
            # that believes it owns it too) removes it: every process started
            # after that fails (sem_open ... No such file or directory).
            demo_env = dict(env)
            demo_cmd = ["faketime", "-f", fake] + demo_cmd
            # One-shot clients (curl, openssl) exit normally and clean up after
            # themselves: they can preload the library directly.
            env.update(LD_PRELOAD=lib, FAKETIME=fake)
        tmp = tempfile.mkdtemp(prefix="demo-", dir=H.module_tmp(__name__).path)
        run_dir = os.path.join(tmp, "run")
        listen, backend, cdp, kerb, kdc = distinct_ports()
        demo_env.update(CG_DEMO_PORT=str(listen), CG_DEMO_BACKEND_PORT=str(backend), CG_DEMO_CDP_PORT=str(cdp),
                   CG_DEMO_KDC_PORT=str(kdc), CG_DEMO_KERB_PORT=str(kerb), CG_DEMO_RUN_DIR=run_dir,
                   CG_DEMO_NO_BUILD="1", CERTGATE=os.path.abspath(H.CERTGATE),
                   CG_DEMO_START_TIMEOUT=str(int(H.t(15))))
        committed = tree_digest(CERTS_DEV)
        out_path = os.path.join(tmp, "demo.out")
        out = open(out_path, "wb")
        started = time.time()
        if demo_env is not env:
            for k in ("CG_DEMO_PORT", "CG_DEMO_BACKEND_PORT", "CG_DEMO_CDP_PORT", "CG_DEMO_KDC_PORT",
                      "CG_DEMO_KERB_PORT", "CG_DEMO_RUN_DIR", "CG_DEMO_NO_BUILD", "CERTGATE",
                      "CG_DEMO_START_TIMEOUT"):
                env[k] = demo_env[k]
        demo = subprocess.Popen(demo_cmd, cwd=H.SOURCE_ROOT, env=demo_env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        H._register(demo)
        self.addCleanup(self.kill_leftovers, demo, run_dir)

        def output():
            return H.read_text(out_path)

        def running():
            if demo.poll() is not None:
                raise AssertionError("scripts/demo exited (status %s) before running:\n%s"
                                     % (demo.returncode, H.tail(output(), 60)))
            text = output()  # the end of the printout: every command is there
            return "certgate demo is running" in text and "Press Ctrl-C to stop." in text
        H.wait_until(running, timeout=H.t(90), what="scripts/demo to print that it is running")

        printed = self.check_printed_commands(output(), listen, env)
        self.check_clock(run_dir, started + offset)

        os.kill(demo_script_pid(demo), signal.SIGTERM)  # the demo script alone: it stops the rest
        try:
            rc = demo.wait(H.t(40))
        except subprocess.TimeoutExpired:
            self.fail("scripts/demo did not exit within %ds of SIGTERM:\n%s" % (H.t(40), H.tail(output())))
        self.assertEqual(rc, 0, H.tail(output()))
        self.assertIn("demo: stopping", output())
        started_pids = self.started_pids(run_dir)
        # in the order started: the lab, the echo backend, the CRL server, certgate last
        self.assertEqual(list(started_pids), ["slapd", "krb5kdc", "apache2", "backend", "crl_server", "certgate"])
        left = sessions_alive(set(started_pids.values()))
        self.assertEqual(left, {}, "processes the demo started are still running after it stopped: %s" % left)
        log = H.read_text(os.path.join(run_dir, "certgate.log"))
        for marker in H.SANITIZER_MARKERS:
            self.assertNotIn(marker, log, H.tail(log, 80))
        self.assertEqual(tree_digest(CERTS_DEV), committed, "scripts/demo modified certs-dev/")
        return printed

    # -- the printed commands --------------------------------------------------

    def check_printed_commands(self, text, listen, env):
        """Runs every "curl ... # ANSWER" line; returns {(cert, path): answer}."""
        seen = {}
        lines = [m for m in map(PRINTED.match, text.splitlines()) if m]
        self.assertGreaterEqual(len(lines), 9, text)
        for m in lines:
            cmd, status, sub, note = m.group(1), int(m.group(2)), m.group(3), m.group(4) or ""
            argv = shlex.split(cmd)
            self.assertIn("https://127.0.0.1:%d/" % listen, argv[-1], cmd)
            cert = os.path.basename(argv[argv.index("--cert") + 1])[:-4] if "--cert" in argv else None
            path = argv[-1].split(str(listen), 1)[1]
            resp = self.curl(argv, env)
            what = "printed: %s\n  -> %s" % (m.group(0).strip(), resp.describe())
            self.assertEqual(resp.status, status, what)
            if sub:
                self.assertEqual(resp.header("X-Certgate-Status"), "%d.%s" % (status, sub), what)
            elif status == 200 and path == "/whoami":
                # Apache authenticated the user by Kerberos (S4U2Proxy ticket)
                got = resp.json()
                self.assertEqual(got["remote_user"], note.split()[0], what)
                self.assertEqual(got["auth_type"], "Negotiate", what)
            elif status == 200:
                headers = dict((k.lower(), v) for k, v in resp.json()["headers"])
                self.assertIn("x-certgate-principal", headers, what)
            seen[(cert, path)] = "%d%s %s" % (status, "." + sub if sub else "", note)
        # The list is complete: every client certificate of certs-dev, and no certificate.
        names = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(CERTS_DEV, "client", "*.crt")))
        self.assertEqual(sorted(set(c for c, _ in seen if c)), names, text)
        self.assertIn((None, "/"), seen, text)
        # What the quick start promises.
        self.assertEqual(seen.get(("alice", "/whoami")), "200 alice@EXAMPLE.TEST", text)
        self.assertEqual(seen.get(("deep", "/whoami")), "200 deep@EXAMPLE.TEST", text)
        self.assertTrue(seen.get(("revoked", "/"), "").startswith("403.13 "), text)
        return seen

    def curl(self, argv, env):
        with tempfile.TemporaryDirectory() as d:
            head, body = os.path.join(d, "head"), os.path.join(d, "body")
            cmd = [argv[0], "-sS", "-D", head, "-o", body, "--max-time", str(H.t(20))] + argv[1:]
            p = subprocess.run(cmd, cwd=H.SOURCE_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=H.t(20) + 10)
            resp = H.parse_head_file(H.read_bytes(head))
            resp.body = H.read_bytes(body)
            if p.returncode != 0:
                resp.extra["curl_exit"] = p.returncode
                resp.extra["curl_stderr"] = p.stderr.decode(errors="replace").strip()
            return resp

    # -- the clock ----------------------------------------------------------------

    def check_clock(self, run_dir, expected):
        """The run's CRLs were issued, and certgate logs, at the (faked) time."""
        crl = os.path.join(run_dir, "pki", "crl", "intermediate.crl")
        out = H.run_checked(["openssl", "crl", "-in", crl, "-noout", "-lastupdate"]).stdout.decode()
        issued = parse_utc(out.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y GMT")
        self.assertLess(abs(issued - expected), 600, "the run's CRL was issued at %s" % out)
        # certgate's stderr shares the file: warnings (the committed dev key is
        # world-readable) come before the first log line.
        lines = H.read_text(os.path.join(run_dir, "certgate.log")).splitlines()
        first = next((l for l in lines if l.startswith("ts=")), lines[0] if lines else "")
        ts = re.match(r"ts=(\S+?)(?:\.\d+)?Z ", first)
        self.assertTrue(ts, first)
        self.assertLess(abs(parse_utc(ts.group(1), "%Y-%m-%dT%H:%M:%S") - expected), 600,
                        "certgate's clock: %s" % first)

    # -- processes --------------------------------------------------------------------

    def started_pids(self, run_dir):
        pids = {}
        for line in H.read_text(os.path.join(run_dir, "pids")).splitlines():
            name, pid = line.split()
            pids[name] = int(pid)
        return pids

    def kill_leftovers(self, demo, run_dir):
        """After a failure: SIGTERM the demo, then SIGKILL whatever it left."""
        if demo.poll() is None:
            os.kill(demo_script_pid(demo), signal.SIGTERM)
            try:
                demo.wait(H.t(30))
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait(5)
        try:
            sids = set(self.started_pids(run_dir).values())
        except (OSError, ValueError):
            return
        for procs in sessions_alive(sids).values():
            for pid, _ in procs:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def lab_tools_missing(self):
        try:
            kdc_lab.Lab(H.module_tmp(__name__).join("probe"))._check_tools()
        except kdc_lab.LabError as e:
            return str(e)
        return None

    # -- tests ---------------------------------------------------------------------------

    def test_today(self):
        self.run_demo()

    def test_a_year_ahead(self):
        seen = self.run_demo(offset=YEAR)
        # certs-dev/client/notyet.crt is valid from a year after generation:
        # by then the demo says so, and certgate maps it to no one.
        nb = H.run_checked(["openssl", "x509", "-in", os.path.join(CERTS_DEV, "client", "notyet.crt"),
                            "-noout", "-startdate"]).stdout.decode().strip().split("=", 1)[1]
        if parse_utc(nb, "%b %d %H:%M:%S %Y GMT") <= time.time() + YEAR:
            self.assertTrue(seen[("notyet", "/")].startswith("401.2 "), seen)


if __name__ == "__main__":
    unittest.main()
