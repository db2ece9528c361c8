"""Integration test harness for certgate: temp dirs, the dev PKI, free ports,
the backend and certgate processes, clients (curl, raw TLS, openssl
s_client), certgate's log and process memory.

Environment:
  CERTGATE        path to the certgate binary (default: <root>/build/certgate)
  CG_SOURCE_ROOT  repository root (default: two folders up from here)
  CG_SANITIZED=1  ASan/UBSan build: every timeout is multiplied by 3
  CG_KEEP_TMP=1   keep temp dirs (their paths are printed)
  CG_TEST_PKI     use this already generated PKI folder instead of running
                  certs-dev/gen.sh (for working on the tests themselves)
  CG_LOG_FORMAT   logfmt or json: logging.format of the configs config_yaml
                  writes (default: none written, certgate's default, logfmt).
                  Every line of every certgate log is checked at stop either way.

Standard library only.
"""

import atexit
import hashlib
import html
import http.client
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("CG_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
CERTGATE = os.environ.get("CERTGATE") or os.path.join(SOURCE_ROOT, "build", "certgate")
BACKEND_PY = os.path.join(HERE, "backend.py")
SANITIZED = os.environ.get("CG_SANITIZED", "") not in ("", "0")
KEEP_TMP = os.environ.get("CG_KEEP_TMP", "") not in ("", "0")
LOG_FORMAT = os.environ.get("CG_LOG_FORMAT", "")

# Every wait is multiplied by this: sanitized builds start and run slower.
SLOW = 3 if SANITIZED else 1

sys.path.insert(0, HERE)
import backend as _backend  # noqa: E402  (pattern_sha256 / pattern_bytes)

pattern_sha256 = _backend.pattern_sha256
pattern_bytes = _backend.pattern_bytes

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "ERROR: MemorySanitizer")


def t(seconds):
    """A timeout scaled for the build (x3 on sanitized builds)."""
    return seconds * SLOW


# CG_SKIP_LONG=1 (scripts/test --quick): skip the tests marked long_running.
SKIP_LONG = os.environ.get("CG_SKIP_LONG", "") not in ("", "0")


def long_running(seconds):
    """Marks a test that needs about `seconds` (more than CG_TEST_TIMEOUT
    allows): the runner gives it that long (scaled) beyond the usual limit
    and adds it to the whole run's guard. Skipped with CG_SKIP_LONG=1 (the
    quick suite); CI runs it."""
    def mark(fn):
        fn.cg_seconds = seconds
        return unittest.skipIf(SKIP_LONG, "a long-running test (CG_SKIP_LONG=1)")(fn)
    return mark


def unique(prefix="x"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def tail(text, lines=40):
    parts = text.splitlines()
    return "\n".join(parts[-lines:])


def read_text(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------
# Processes started by the harness: killed on exit, or by the runner's guard.

_procs = weakref.WeakSet()
_procs_lock = threading.Lock()


def _register(p):
    with _procs_lock:
        _procs.add(p)


def kill_all():
    """SIGKILL every process the harness started that is still running."""
    with _procs_lock:
        procs = list(_procs)
    for p in procs:
        try:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        except Exception:
            pass


atexit.register(kill_all)


# ---------------------------------------------------------------------------
# Temp dirs

class TempDir:
    """A temp dir (one per test module), removed by cleanup() unless
    CG_KEEP_TMP=1."""

    def __init__(self, tag="cg"):
        self.path = tempfile.mkdtemp(prefix="certgate-it-%s-" % tag)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def write(self, name, data):
        p = self.join(name)
        mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
        with open(p, mode) as f:
            f.write(data)
        return p

    def cleanup(self):
        if KEEP_TMP:
            sys.stderr.write("kept temp dir %s\n" % self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


_module_tmps = {}


def module_tmp(module_name):
    """The temp dir of a test module (made on first use)."""
    if module_name not in _module_tmps:
        _module_tmps[module_name] = TempDir(module_name.replace("test_", "", 1))
    return _module_tmps[module_name]


def cleanup_module_tmp(module_name):
    d = _module_tmps.pop(module_name, None)
    if d is not None:
        d.cleanup()


@atexit.register
def _cleanup_module_tmps():
    for name in list(_module_tmps):
        cleanup_module_tmp(name)


# ---------------------------------------------------------------------------
# Ports

def free_port():
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def connect_refused(port, timeout=1.0):
    """True when a TCP connect to the port is actively refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------
# The dev PKI (certs-dev/gen.sh), generated once per run.

CLIENTS = ("alice", "bob", "expired", "notyet", "noeku", "untrusted")


class PKI:
    def __init__(self, root):
        self.dir = root
        self.root_crt = os.path.join(root, "ca", "root.crt")
        self.root_key = os.path.join(root, "ca", "root.key")
        self.intermediate_crt = os.path.join(root, "ca", "intermediate.crt")
        self.intermediate_key = os.path.join(root, "ca", "intermediate.key")
        self.rogue_crt = os.path.join(root, "ca", "rogue.crt")
        self.server_crt = os.path.join(root, "server", "server.crt")
        self.server_key = os.path.join(root, "server", "server.key")
        self.root_crl = os.path.join(root, "crl", "root.crl")
        self.intermediate_crl = os.path.join(root, "crl", "intermediate.crl")
        self._info = {}

    def client(self, name):
        """(certificate, key) paths of a client: alice, bob, expired, notyet,
        noeku, untrusted."""
        return (os.path.join(self.dir, "client", name + ".crt"),
                os.path.join(self.dir, "client", name + ".key"))

    def expected_files(self):
        files = [self.root_crt, self.intermediate_crt, self.rogue_crt,
                 self.server_crt, self.server_key]
        for c in CLIENTS:
            files += list(self.client(c))
        return files

    def cert_info(self, name_or_path):
        """subject, issuer (RFC 2253), issuer_cn, subject_cn, serial (lowercase
        hex, no leading zeros) and sha256 (of the leaf's DER) of a client
        certificate (by name) or any PEM file (its first certificate)."""
        path = name_or_path if os.sep in name_or_path else self.client(name_or_path)[0]
        if path in self._info:
            return self._info[path]
        txt = run_checked(["openssl", "x509", "-in", path, "-noout", "-subject", "-issuer",
                           "-serial", "-nameopt", "RFC2253"]).stdout.decode()
        info = {}
        for line in txt.splitlines():
            k, _, v = line.partition("=")
            info[k.strip().lower()] = v.strip()
        der = run_checked(["openssl", "x509", "-in", path, "-outform", "DER"]).stdout
        info["sha256"] = hashlib.sha256(der).hexdigest()
        info["serial"] = normalize_serial(info.get("serial", ""))
        info["subject_cn"] = dn_cn(info.get("subject", ""))
        info["issuer_cn"] = dn_cn(info.get("issuer", ""))
        self._info[path] = info
        return info


def normalize_serial(s):
    s = s.strip().lower().replace(":", "")
    if s.startswith("0x"):
        s = s[2:]
    return s.lstrip("0") or "0"


def dn_cn(dn):
    m = re.search(r"(?:^|[,/]\s*)CN\s*=\s*((?:\\.|[^,/+])*)", dn)
    return m.group(1).strip() if m else ""


def run_checked(cmd, timeout=30, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=t(timeout), **kw)
    if p.returncode != 0:
        raise AssertionError("command failed (%d): %s\n%s" % (
            p.returncode, " ".join(cmd), p.stderr.decode(errors="replace")))
    return p


_pki = None
_pki_tmp = None
_pki_lock = threading.Lock()


def pki():
    """The run's PKI, generated on first use with certs-dev/gen.sh."""
    global _pki, _pki_tmp
    with _pki_lock:
        if _pki is not None:
            return _pki
        given = os.environ.get("CG_TEST_PKI")
        if given:
            root = os.path.abspath(given)
        else:
            gen = os.path.join(SOURCE_ROOT, "certs-dev", "gen.sh")
            if not os.path.exists(gen):
                raise AssertionError("cannot make the test PKI: %s does not exist" % gen)
            _pki_tmp = TempDir("pki")
            atexit.register(_pki_tmp.cleanup)
            root = _pki_tmp.join("pki")
            try:
                p = subprocess.run(["bash", gen, root], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=t(120))
            except subprocess.TimeoutExpired:
                raise AssertionError("%s %s did not finish within %ds" % (gen, root, t(120)))
            if p.returncode != 0:
                raise AssertionError("%s %s failed (exit %d):\n%s" % (
                    gen, root, p.returncode, tail(p.stdout.decode(errors="replace"))))
        k = PKI(root)
        missing = [f for f in k.expected_files() if not os.path.exists(f)]
        if missing:
            raise AssertionError("the test PKI in %s lacks: %s" % (root, ", ".join(missing)))
        _pki = k
        return k


# ---------------------------------------------------------------------------
# logfmt

class LogLineError(AssertionError):
    pass


# One logfmt field, strictly (src/base/log_format.h): key, '=', a bare value
# (only the characters certgate writes bare) or a quoted one with the escapes
# \" \\ \n \t \r \xNN only; fields separated by exactly one space.
_LOGFMT_FIELD = re.compile(r'([A-Za-z0-9_.-]+)=("(?:[^"\\\x00-\x1f\x7f]|\\["\\ntr]|\\x[0-9a-fA-F]{2})*"'
                           r'|[A-Za-z0-9_.\-/:@+,\[\]%~*!$();&?]+)')
_LOGFMT_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _logfmt_unquote(val):
    return re.sub(r'\\(x[0-9a-fA-F]{2}|.)', lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 3
                  else _LOGFMT_ESCAPES[m.group(1)], val[1:-1])


def parse_logfmt(line):
    """A logfmt line as certgate writes it -> {key: value}; raises
    LogLineError on anything else (an unquoted space or quote, a bad escape,
    a control byte, a field without '=', two spaces, a trailing space)."""
    line = line[:-1] if line.endswith("\n") else line
    out = {}
    pos = 0
    while True:
        m = _LOGFMT_FIELD.match(line, pos)
        if not m:
            raise LogLineError("not strict logfmt at byte %d: %r" % (pos, line))
        val = m.group(2)
        out[m.group(1)] = _logfmt_unquote(val) if val.startswith('"') else val
        pos = m.end()
        if pos == len(line):
            return out
        if line[pos] != " ":
            raise LogLineError("not strict logfmt at byte %d: %r" % (pos, line))
        pos += 1


def _json_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v)


def parse_log_line(line):
    """One log line in either format -> {key: value as text} (JSON numbers and
    booleans as their JSON text). Raises LogLineError when the line is not
    one JSON object of scalars, or not strict logfmt."""
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise LogLineError("not JSON (%s): %r" % (e, line))
        if not isinstance(obj, dict) or any(isinstance(v, (dict, list)) or v is None for v in obj.values()):
            raise LogLineError("not a JSON object of scalars: %r" % line)
        return {k: _json_text(v) for k, v in obj.items()}
    return parse_logfmt(line)


def complete_lines(text):
    """The lines the writer finished ("\\n"-terminated): one may be in progress."""
    lines = text.split("\n")
    return lines[:-1]


def _matches(entry, filters):
    for k, want in filters.items():
        k = k.rstrip("_")  # id_=..., so keywords can be used
        have = entry.get(k)
        if callable(want):
            if have is None or not want(have):
                return False
        elif have != str(want):
            return False
    return True


# ---------------------------------------------------------------------------
# /proc memory

def proc_status(pid):
    """Vm* fields of /proc/PID/status in kB, e.g. {"VmRSS": 5120, "VmHWM": 6000}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k.startswith("Vm"):
                parts = v.split()
                if parts and parts[0].isdigit():
                    out[k] = int(parts[0])
    return out


# ---------------------------------------------------------------------------
# The backend

class Backend:
    def __init__(self, tmp, name="backend", verbose=False, args=()):
        """args: more backend.py options (--tls-cert ... for an HTTPS backend)."""
        self.tmp, self.name, self.verbose, self.args = tmp, name, verbose, list(args)
        self.proc = None
        self.port = None
        self.stderr_path = tmp.join(name + ".stderr")

    def start(self, port=0):
        cmd = [sys.executable, BACKEND_PY, "--port", str(port)] + self.args
        if self.verbose:
            cmd.append("--verbose")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._err)
        _register(self.proc)
        deadline = time.monotonic() + t(10)
        line = b""
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.proc.kill()
                raise AssertionError("backend did not start: %r\n%s" % (
                    line, tail(read_text(self.stderr_path))))
            r, _, _ = select.select([fd], [], [], min(left, 0.2))
            if r:
                b = os.read(fd, 1)
                if not b:
                    continue
                line += b
        m = re.search(rb"listening on ([\d.]+):(\d+)", line)
        if not m:
            raise AssertionError("unexpected backend banner: %r" % line)
        self.port = int(m.group(2))
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def get(self, path, timeout=None):
        """A request straight to the backend (not through certgate)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout or t(10))
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def seen(self, reset=False):
        """Every request the backend has received: [{"method","path","peer","n"}]."""
        status, body = self.get("/_backend/requests" + ("?reset=1" if reset else ""))
        assert status == 200, "backend /_backend/requests: %d" % status
        return [r for r in json.loads(body) if not r["path"].startswith("/_backend/")]

    def seen_paths(self):
        return [r["path"] for r in self.seen()]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(t(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if getattr(self, "_err", None):
            self._err.close()
            self._err = None


# ---------------------------------------------------------------------------
# Configuration

def config_yaml(*, pki, port, log_file, backends, routes=None, level="debug", timeouts=None,
                limits=None, forward_client_cert=True, listener="main", tls_extra=None,
                workers=1, extra="", revocation=None, listener_extra="", errors=None,
                process=None, log_format=None, log_query=None):
    """certgate YAML with the common parts filled in.

    backends: {name: port or url, or {"url": ..., more keys of the backend}}; routes: [(path, backend[, client_cert][, {key:
    value} more keys of the route, written as is])], default [("/", first backend)]; timeouts / limits / tls_extra: {key: value}
    written as is. revocation: the listener's revocation section as
    {key: value} (lists written inline); default: cache-only with the run's
    CRLs, so every test passes through the revocation check without a CDP.
    listener_extra: raw YAML lines added to the listener (indented 4).
    errors: the errors section as {key: value} (lists written inline, strings
    as given: quote them yourself when YAML needs it). process: the process
    section as {key: value}; default {"allow_root": "true"}: the tests run
    certgate as whoever runs them, root on CI machines, and certgate refuses
    root unless told (an empty dict writes no section). log_format: logging.format
    (default: $CG_LOG_FORMAT, else none written); log_query: logging.log_query."""
    if revocation is None:
        revocation = {"mode": "cache-only", "crl_files": [os.path.join(pki.dir, "crl")]}
    if process is None:
        process = {"allow_root": "true"}
    names = list(backends)
    if routes is None:
        routes = [("/", names[0])]
    out = ["# written by tests/integration/harness.py",
           "workers: %s" % workers,
           "logging:",
           "  level: %s" % level,
           "  file: %s" % log_file]
    if log_format or LOG_FORMAT:
        out.append("  format: %s" % (log_format or LOG_FORMAT))
    if log_query is not None:
        out.append("  log_query: %s" % ("true" if log_query else "false"))
    if limits:
        out.append("limits:")
        out += ["  %s: %s" % kv for kv in limits.items()]
    if timeouts:
        out.append("timeouts:")
        out += ["  %s: %s" % kv for kv in timeouts.items()]
    if errors:
        out.append("errors:")
        for k, v in errors.items():
            if isinstance(v, (list, tuple)):
                v = "[" + ", ".join('"%s"' % x for x in v) + "]"
            out.append("  %s: %s" % (k, v))
    if process:
        out.append("process:")
        out += ["  %s: %s" % kv for kv in process.items()]
    out.append("backends:")
    for name, where in backends.items():
        more = {}
        if isinstance(where, dict):  # {"url": ..., more keys: values as is, a dict inline}
            more = dict(where)
            where = more.pop("url")
        url = where if isinstance(where, str) else "http://127.0.0.1:%d" % where
        out += ["  - name: %s" % name, "    url: %s" % url]
        for k, v in more.items():
            if isinstance(v, dict):
                v = "{" + ", ".join("%s: %s" % kv for kv in v.items()) + "}"
            out.append("    %s: %s" % (k, v))
    out += ["listeners:",
            "  - name: %s" % listener,
            "    address: 127.0.0.1",
            "    port: %d" % port,
            "    tls:",
            "      certificate: %s" % pki.server_crt,
            "      key: %s" % pki.server_key,
            "      client_ca: %s" % pki.root_crt]
    for k, v in (tls_extra or {}).items():
        out.append("      %s: %s" % (k, v))
    out.append("    forward_client_cert: %s" % ("true" if forward_client_cert else "false"))
    if revocation:
        out.append("    revocation:")
        for k, v in revocation.items():
            if isinstance(v, (list, tuple)):
                v = "[" + ", ".join(str(x) for x in v) + "]"
            out.append("      %s: %s" % (k, v))
    for line in listener_extra.splitlines():
        out.append("    " + line)
    out.append("    routes:")
    for r in routes:
        out += ["      - path: %s" % r[0], "        backend: %s" % r[1]]
        for more in r[2:]:
            if isinstance(more, dict):  # more keys of the route, values written as is
                out += ["        %s: %s" % kv for kv in more.items()]
            elif more:
                out.append("        client_cert: %s" % more)
    text = "\n".join(out) + "\n"
    if extra:
        text += extra if extra.endswith("\n") else extra + "\n"
    return text


# ---------------------------------------------------------------------------
# certgate

def run_certgate(args, timeout=20):
    """Runs `certgate ARGS...` to completion (check, version)."""
    try:
        return subprocess.run([CERTGATE] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=t(timeout), text=True,
                              errors="replace")
    except subprocess.TimeoutExpired:
        raise AssertionError("`certgate %s` did not finish within %ds" % (
            " ".join(args), t(timeout)))
    except FileNotFoundError:
        raise AssertionError("no certgate binary at %s (set CERTGATE)" % CERTGATE)


# What every page certgate generates carries (error_page.h).
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def _operator_pages(text):
    """Whether a config shows loopback clients (the tests' only ones) the
    operator sentence: errors.detail: operator, or an errors.operator_networks
    entry covering 127.0.0.1."""
    m = re.search(r"(?m)^errors:\n((?:[ #].*\n?)*)", text)
    if not m:
        return False
    section = m.group(1)
    if re.search(r"(?m)^\s+detail:\s*operator\s*$", section):
        return True
    nets = re.findall(r"(?:\d{1,3}\.){3}\d{1,3}/\d+|(?:\d{1,3}\.){3}\d{1,3}", section)
    for n in nets:
        try:
            if ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network(n, strict=False):
                return True
        except ValueError:
            pass
    return False


class Certgate:
    """One certgate process: its config file, its log (logging.file) and its
    stderr file, all in the test module's temp dir."""

    def __init__(self, tmp, name="certgate"):
        self.tmp, self.name = tmp, name
        self.cfg_path = tmp.join(name + ".yaml")
        self.log_path = tmp.join(name + ".log")
        self.stderr_path = tmp.join(name + ".stderr")
        self.port = free_port()
        self.proc = None
        self.returncode = None
        self._stopped_checked = False
        self.operator_pages = False

    def write_config(self, text):
        with open(self.cfg_path, "w") as f:
            f.write(text)
        self.operator_pages = _operator_pages(text)

    def configure(self, pki, backends, **kw):
        """Writes the config (see config_yaml) for this instance's port and log."""
        self.write_config(config_yaml(pki=pki, port=self.port, log_file=self.log_path,
                                      backends=backends, **kw))
        return self

    # -- lifecycle --

    def start(self, wait=True, env=None, args=(), argv=None, **popen):
        """env: variables added to the environment (e.g. NOTIFY_SOCKET);
        args: more arguments after `run -c FILE` (--takeover); argv: the whole
        command line instead (a wrapper that execs certgate);
        popen: more subprocess.Popen arguments (user=, group=, ...)."""
        if not os.path.exists(CERTGATE):
            raise AssertionError("no certgate binary at %s (set CERTGATE)" % CERTGATE)
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(argv or [CERTGATE, "run", "-c", self.cfg_path] + list(args),
                                     stdin=subprocess.DEVNULL, stdout=self._err,
                                     stderr=self._err,
                                     env=dict(os.environ, **env) if env else None, **popen)
        _register(self.proc)
        self.returncode = None
        self._stopped_checked = False
        if wait:
            self.wait_listening()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def wait_listening(self, timeout=10):
        deadline = time.monotonic() + t(timeout)
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self._close_err()
                raise AssertionError(
                    "certgate %s before listening on 127.0.0.1:%d\n%s" % (
                        describe_status(rc), self.port, self.diagnostics()))
            if port_accepts(self.port, timeout=0.5):
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    "certgate (pid %d) not accepting on 127.0.0.1:%d after %ds\n%s" % (
                        self.proc.pid, self.port, t(timeout), self.diagnostics()))
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=15):
        """Waits for the process to end; returns its exit status or None."""
        try:
            self.returncode = self.proc.wait(t(timeout))
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, check=True):
        """SIGTERM, wait (15 s), SIGKILL if needed; then check exit status 0 and
        no sanitizer report in the log or on stderr."""
        if self.proc is None:
            return
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(15) is None:
                self.proc.kill()
                self.proc.wait(10)
                killed = True
        self.returncode = self.proc.returncode
        self._close_err()
        if check:
            self.check_exit(killed=killed)

    def check_exit(self, killed=False, expect=0):
        """Fails when the process did not exit with `expect` after SIGTERM or a
        sanitizer reported something."""
        if self._stopped_checked:
            return
        self._stopped_checked = True
        problems = []
        try:
            self.check_log_lines()
        except LogLineError as e:
            problems.append(str(e))
        report = self.sanitizer_report()
        if report:
            problems.append("sanitizer report:\n" + report)
        if killed:
            problems.append("certgate did not exit within %ds of SIGTERM (SIGKILLed)" % t(15))
        elif self.returncode != expect:
            problems.append("certgate %s after SIGTERM (expected exit status %d)" % (
                describe_status(self.returncode), expect))
        if problems:
            raise AssertionError("\n".join(problems) + "\n" + self.diagnostics())

    def _close_err(self):
        if getattr(self, "_err", None):
            self._err.close()
            self._err = None

    def sanitizer_report(self):
        out = []
        for path in (self.stderr_path, self.log_path):
            text = read_text(path)
            for marker in SANITIZER_MARKERS:
                i = text.find(marker)
                if i >= 0:
                    start = text.rfind("\n", 0, max(0, i - 200)) + 1
                    out.append("%s:\n%s" % (os.path.basename(path), text[start:start + 6000]))
                    break
        return "\n".join(out)

    # -- log --

    def log_text(self):
        return read_text(self.log_path)

    def log_entries(self):
        return [dict(parse_log_line(line), _raw=line) for line in complete_lines(self.log_text())]

    def check_log_lines(self):
        """Every line of the log is one well-formed line (JSON or strict
        logfmt, src/base/log_format.h) starting with ts, level, event, and none
        holds a field certgate could not read back (unparsed=)."""
        for line in complete_lines(self.log_text()):
            e = parse_log_line(line)
            if list(e)[:3] != ["ts", "level", "event"]:
                raise LogLineError("a log line does not start with ts, level, event: %r" % line)
            if "unparsed" in e:
                raise LogLineError("a log call wrote malformed logfmt (unparsed=): %r" % line)

    def find_log(self, **filters):
        return [e for e in self.log_entries() if _matches(e, filters)]

    def wait_log(self, timeout=5, count=1, **filters):
        """Waits until `count` log lines match filters (key=value, or key=callable;
        a trailing _ on a key is dropped: id_=...). Returns the matching lines."""
        deadline = time.monotonic() + t(timeout)
        while True:
            found = self.find_log(**filters)
            if len(found) >= count:
                return found
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("certgate %s while waiting for %d log line(s) matching %s\n%s" % (
                    describe_status(self.proc.returncode), count, _describe_filters(filters),
                    self.diagnostics()))
            if time.monotonic() > deadline:
                raise AssertionError("certgate log: %d line(s) matching %s after %ds, wanted %d\n%s" % (
                    len(found), _describe_filters(filters), t(timeout), count,
                    self.diagnostics()))
            time.sleep(0.05)

    def diagnostics(self, lines=40):
        out = ["--- config %s ---" % self.cfg_path, read_text(self.cfg_path).rstrip(),
               "--- certgate log %s (last %d lines) ---" % (self.log_path, lines),
               tail(self.log_text(), lines),
               "--- certgate stderr %s (last %d lines) ---" % (self.stderr_path, lines),
               tail(read_text(self.stderr_path), lines)]
        return "\n".join(out)

    def log_tail(self, lines=40):
        return tail(self.log_text(), lines)

    # -- memory --

    def memory(self):
        return proc_status(self.proc.pid)

    # -- clients bound to this instance --

    def curl(self, path, cert="alice", **kw):
        return curl(self.port, path, cert=cert, **kw)

    def tls(self, cert="alice", **kw):
        return TLSClient(self.port, cert=cert, **kw)


def describe_status(rc):
    """'exited with status 1', 'was killed by SIGSEGV' ..."""
    if rc is None:
        return "is still running"
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = "signal %d" % -rc
        return "was killed by %s" % name
    return "exited with status %d" % rc


def _describe_filters(filters):
    return " ".join("%s=%s" % (k.rstrip("_"), "<pred>" if callable(v) else v)
                    for k, v in filters.items())


# ---------------------------------------------------------------------------
# Responses

class Response:
    def __init__(self, status=0, reason="", version="", headers=None, body=b"", raw_head=b""):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers or []   # [(name, value)] in order
        self.body = body
        self.raw_head = raw_head
        self.chunked = False
        self.interim = []              # 1xx responses seen before this one
        self.extra = {}

    def header(self, name, default=None):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def headers_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError("response body is not JSON:\n" + self.describe())

    def backend_headers(self):
        """The headers the backend saw (from its JSON echo)."""
        return [tuple(h) for h in self.json()["headers"]]

    def describe(self, limit=3000):
        body = self.text
        if len(body) > limit:
            body = body[:limit] + "\n... (%d bytes in all)" % len(self.body)
        lines = ["%s %d %s" % (self.version or "HTTP/?", self.status, self.reason)]
        lines += ["%s: %s" % kv for kv in self.headers]
        for k, v in self.extra.items():
            lines.append("[%s] %s" % (k, v))
        return "\n".join(lines) + "\n\n" + body

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.reason)


# ---------------------------------------------------------------------------
# The TLS version clients use

# "1.2" or "1.3": what curl(), client_context() and s_client() offer unless
# told otherwise. A test class sets `client_tls = "1.3"`; the runner (run.py)
# applies it to the class's fixtures and tests. The suites that must hold on
# both versions are run twice: `TestX13 = tls13(TestX)` in their module.
CLIENT_TLS = "1.2"


def use_client_tls(version):
    global CLIENT_TLS
    CLIENT_TLS = version or "1.2"


def client_tls_version():
    return ssl.TLSVersion.TLSv1_3 if CLIENT_TLS == "1.3" else ssl.TLSVersion.TLSv1_2


class ReleaseWatch:
    """Counts certgate's releases of one client connection's TLS record
    buffers (net/tls_trim.c: a connection quiet for 0.25-0.5 s; log event
    tls_buffers_released at debug level). Made right after connecting, so
    that an earlier connection from the same port does not count."""

    def __init__(self, cg, local_port):
        self.cg = cg
        self.client = "127.0.0.1:%d" % local_port
        self.n = len(cg.find_log(event="tls_buffers_released", client=self.client))

    def wait(self, timeout=10):
        """Waits for the next release."""
        self.n += 1
        return self.cg.wait_log(event="tls_buffers_released", count=self.n, client=self.client,
                                timeout=timeout)


def tls13(cls):
    """A subclass of the test class cls whose clients speak TLS 1.3 only
    (named cls's name + "TLS13"); assign it to a module-level name."""
    sub = type(cls.__name__ + "TLS13", (cls,), {"client_tls": "1.3", "__module__": cls.__module__})
    sub.__qualname__ = sub.__name__
    return sub


# ---------------------------------------------------------------------------
# curl

def curl(port, path, cert="alice", *, method=None, headers=(), data_file=None, data=None,
         output=None, timeout=20, http10=False, extra_args=(), tmpdir=None, key=None):
    """curl https://localhost:PORT/PATH with the run's PKI; cert is a client
    name, a path, or None for no certificate. Returns a Response whose body is
    the bytes received (or b"" with output=path: the body went to that file)."""
    k = pki()
    workdir = tempfile.mkdtemp(prefix="curl-", dir=tmpdir)
    try:
        head_file = os.path.join(workdir, "head")
        body_file = output or os.path.join(workdir, "body")
        cmd = ["curl", "-sS", "--resolve", "localhost:%d:127.0.0.1" % port,
               "--cacert", k.root_crt, "-D", head_file, "-o", body_file,
               "--max-time", str(t(timeout)), "--connect-timeout", str(t(10)),
               "-w", "%{http_code} %{time_total}"]
        if cert:
            crt, ckey = k.client(cert) if os.sep not in cert else (cert, key)
            cmd += ["--cert", crt, "--key", ckey]
        if method:
            cmd += ["-X", method]
        for h in headers:
            cmd += ["-H", h if isinstance(h, str) else "%s: %s" % h]
        if data_file is not None:
            cmd += ["--data-binary", "@" + data_file]
        elif data is not None:
            cmd += ["--data-binary", "@-"]
        if http10:
            cmd.append("--http1.0")
        else:
            cmd.append("--http1.1")
        if not any(str(a).startswith(("--tls", "--ssl")) for a in extra_args):
            cmd += ["--tlsv" + CLIENT_TLS, "--tls-max", CLIENT_TLS]
        cmd += list(extra_args)
        cmd.append("https://localhost:%d%s" % (port, path))
        try:
            p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=t(timeout) + 10)
        except subprocess.TimeoutExpired:
            raise AssertionError("curl did not finish: %s" % " ".join(cmd))
        resp = parse_head_file(read_bytes(head_file))
        if output is None:
            resp.body = read_bytes(body_file)
        w = p.stdout.decode(errors="replace").split()
        resp.extra["curl_exit"] = p.returncode
        if p.stderr:
            resp.extra["curl_stderr"] = p.stderr.decode(errors="replace").strip()
        resp.curl_exit = p.returncode
        resp.curl_stderr = p.stderr.decode(errors="replace")
        resp.time_total = float(w[1]) if len(w) > 1 else None
        if w and w[0].isdigit() and resp.status == 0:
            resp.status = int(w[0])
        return resp
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def parse_head_file(data):
    """The last response head in a curl -D file (skips 1xx)."""
    blocks = [b for b in re.split(rb"\r?\n\r?\n", data) if b.strip()]
    resp = Response()
    interim = []
    for b in blocks:
        r = parse_head(b)
        if 100 <= r.status < 200:
            interim.append(r)
        else:
            resp = r
    resp.interim = interim
    return resp


def parse_head(block):
    lines = block.replace(b"\r\n", b"\n").split(b"\n")
    first = lines[0].decode("latin-1")
    parts = first.split(" ", 2)
    r = Response(raw_head=block)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        r.version, r.status = parts[0], int(parts[1])
        r.reason = parts[2] if len(parts) > 2 else ""
    for ln in lines[1:]:
        if not ln:
            continue
        name, _, value = ln.decode("latin-1").partition(":")
        r.headers.append((name, value.strip()))
    return r


# ---------------------------------------------------------------------------
# Raw HTTP over TLS (Python ssl)

class Closed(Exception):
    """The peer closed the connection (or reset it)."""


def client_context(cert="alice", tls_version=None):
    k = pki()
    tls_version = tls_version or client_tls_version()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = tls_version
    ctx.maximum_version = tls_version
    ctx.load_verify_locations(k.root_crt)
    ctx.check_hostname = True
    if cert:
        crt, key = k.client(cert)
        ctx.load_cert_chain(crt, key)
    return ctx


class TLSClient:
    """One TLS connection to certgate for sending exact bytes.

        with TLSClient(port, cert="alice") as c:
            r = c.request("GET", "/x")
            c.send(b"GET / HTTP/1.1\\r\\n...")
            r = c.read_response()
    """

    def __init__(self, port, cert="alice", *, timeout=10, server_hostname="localhost",
                 connect=True, context=None, source_address=None):
        self.port = port
        self.source_address = source_address  # (ip, port): e.g. ("127.0.0.2", 0), another client address
        self.cert = cert
        self.timeout = t(timeout)
        self.server_hostname = server_hostname
        self.ctx = context or client_context(cert)
        self.sock = None
        self.buf = b""
        self.eof = False
        self.eof_reason = None
        if connect:
            self.connect()

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout,
                                       source_address=self.source_address)
        try:
            self.sock = self.ctx.wrap_socket(raw, server_hostname=self.server_hostname)
        except BaseException:
            raw.close()
            raise
        return self

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def request(self, method, target, headers=(), body=None, host="localhost",
                version="HTTP/1.1", read=True, timeout=None):
        """Sends a well-formed request (Host first unless host=None; a
        Content-Length for a body unless headers set the framing) and reads the
        response."""
        lines = ["%s %s %s" % (method, target, version)]
        if host is not None:
            lines.append("Host: %s" % host)
        names = set()
        for h in headers:
            name, value = (h.split(":", 1) if isinstance(h, str) else h)
            lines.append("%s: %s" % (name.strip(), value.strip()))
            names.add(name.strip().lower())
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body:
            data += body if isinstance(body, bytes) else body.encode()
        self.send(data)
        if read:
            return self.read_response(method=method, timeout=timeout)

    # -- reading --

    def _fill(self, deadline):
        """Reads more bytes into self.buf; raises Closed at EOF, TimeoutError
        at the deadline."""
        if self.eof:
            raise Closed(self.eof_reason)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for data from certgate")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise TimeoutError("timed out waiting for data from certgate")
        except ssl.SSLZeroReturnError:
            data, self.eof_reason = b"", "close_notify"
        except ssl.SSLEOFError:
            data, self.eof_reason = b"", "EOF without close_notify"
        except ConnectionResetError:
            data, self.eof_reason = b"", "connection reset"
        except ssl.SSLError as e:
            data, self.eof_reason = b"", "TLS error: %s" % e
        except OSError as e:
            data, self.eof_reason = b"", "socket error: %s" % e
        if not data:
            self.eof = True
            self.eof_reason = self.eof_reason or "EOF"
            raise Closed(self.eof_reason)
        self.buf += data

    def _read_until(self, marker, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            if len(self.buf) > limit:
                raise AssertionError("no %r within %d bytes" % (marker, limit))
            self._fill(deadline)

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method="GET", timeout=None):
        """Reads one response: status line, headers, body (Content-Length,
        chunked or until close). Raises Closed if the connection ends before a
        complete head arrived."""
        deadline = time.monotonic() + (t(timeout) if timeout else self.timeout)
        interim = []
        while True:
            try:
                head = self._read_until(b"\r\n\r\n", deadline)
            except Closed as e:
                if self.buf:
                    raise Closed("%s after %d bytes of an incomplete head: %r" % (
                        e, len(self.buf), self.buf[:500]))
                raise
            r = parse_head(head[:-4])
            if r.status == 0:
                raise AssertionError("not an HTTP response head: %r" % head[:500])
            if 100 <= r.status < 200:
                interim.append(r)
                continue
            break
        r.interim = interim
        te = (r.header("Transfer-Encoding") or "").lower()
        cl = r.header("Content-Length")
        if method == "HEAD" or r.status in (204, 304):
            r.body = b""
        elif te:
            if te != "chunked":
                raise AssertionError("response with Transfer-Encoding %r" % te)
            r.chunked = True
            r.body = self._read_chunked(deadline)
        elif cl is not None:
            r.body = self._read_exact(int(cl), deadline)
        else:
            body = b""
            try:
                while True:
                    self._fill(deadline)
                    body += self.buf
                    self.buf = b""
            except Closed:
                body += self.buf
                self.buf = b""
            r.body = body
        return r

    def _read_chunked(self, deadline):
        parts = []
        while True:
            line = self._read_until(b"\r\n", deadline)[:-2]
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            parts.append(self._read_exact(size, deadline))
            if self._read_exact(2, deadline) != b"\r\n":
                raise AssertionError("chunk not followed by CRLF")
        while self._read_until(b"\r\n", deadline) != b"\r\n":
            pass  # trailers
        return b"".join(parts)

    def wait_closed(self, timeout=5):
        """True when certgate closes the connection within timeout (any bytes
        received meanwhile are kept in self.buf); False on timeout."""
        deadline = time.monotonic() + t(timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            return True
        except TimeoutError:
            return False

    def readable(self, timeout):
        """True when data (or EOF) is waiting within timeout seconds."""
        if self.buf or self.eof or self.sock.pending():
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)


# ---------------------------------------------------------------------------
# openssl s_client (session resumption)

def s_client(port, cert="alice", *, sess_out=None, sess_in=None, request=None, timeout=15):
    """openssl s_client with the run's PKI and CLIENT_TLS; sends request (default:
    GET / with Connection: close) and reads until certgate closes. Returns
    (output text, reused: bool, Response or None)."""
    k = pki()
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
           "-CAfile", k.root_crt, "-tls1_3" if CLIENT_TLS == "1.3" else "-tls1_2", "-ign_eof"]
    if cert:
        crt, key = k.client(cert)
        # -cert_chain: s_client sends only the first certificate of -cert
        cmd += ["-cert", crt, "-key", key, "-cert_chain", crt]
    if sess_out:
        cmd += ["-sess_out", sess_out]
    if sess_in:
        cmd += ["-sess_in", sess_in]
    if request is None:
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    try:
        p = subprocess.run(cmd, input=request, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=t(timeout))
    except subprocess.TimeoutExpired as e:
        raise AssertionError("openssl s_client did not finish within %ds (did certgate close "
                             "after Connection: close?)\n%s" % (
                                 t(timeout), (e.stdout or b"").decode(errors="replace")[-3000:]))
    out = p.stdout.decode("latin-1")
    reused = bool(re.search(r"^Reused, ", out, re.M))
    resp = None
    # Not anchored: with TLS 1.3, s_client's print of the ticket that arrives
    # with the first bytes may run into the response's first line.
    m = re.search(r"HTTP/1\.[01] \d{3}.*?(?:\r?\n\r?\n|\Z)", out, re.S)
    if m:
        resp = parse_head(m.group(0).strip().encode("latin-1"))
        resp.body = out[m.end():].encode("latin-1")
    return out, reused, resp


# ---------------------------------------------------------------------------
# Misc

def wait_until(pred, timeout=5, interval=0.05, what="condition"):
    deadline = time.monotonic() + t(timeout)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ds waiting for %s" % (t(timeout), what))
        time.sleep(interval)


def headers_named(pairs, name):
    """Values of the headers called name (case-insensitive) in [(name, value)]."""
    n = name.lower()
    return [v for k, v in pairs if k.lower() == n]


# ---------------------------------------------------------------------------
# TestCase bases

class Explain:
    """A failure message computed only when an assertion fails."""

    def __init__(self, fn):
        self.fn = fn

    def __str__(self):
        try:
            return "\n" + self.fn()
        except Exception as e:  # never hide the real failure
            return "(could not describe: %r)" % e


def status_text(status, sub=0):
    return "%d.%d" % (status, sub) if sub else "%d" % status


class Base(unittest.TestCase):
    """Helpers shared by every class; `cg` is the certgate under test."""

    maxDiff = None
    cg = None
    backend = None

    # -- failure messages --

    def explain(self, resp=None, cg=None, note=""):
        cg = cg or self.cg

        def fn():
            parts = []
            if note:
                parts.append(note)
            if resp is not None:
                parts.append("--- response ---\n" + resp.describe())
            if cg is not None:
                parts.append(cg.diagnostics(lines=30))
            return "\n".join(parts)
        return Explain(fn)

    # -- assertions --

    def assert_status(self, resp, status, cg=None, note=""):
        self.assertEqual(resp.status, status, self.explain(resp, cg, note))

    def assert_refusal(self, resp, status, code, sub=0, cg=None, note="", operator=None):
        """A page certgate generated itself: status line, X-Certgate-Status,
        X-Certgate-Error, X-Request-Id, the security headers; an HTML body with
        the status, the code and the id; and an event=refused log line with the
        same id, code and status and an operator sentence (detail). The page
        shows that sentence only at the operator level (operator=True, or
        cg.operator_pages by default), and never otherwise. Returns the id."""
        cg = cg or self.cg
        if operator is None:
            operator = cg.operator_pages
        st = status_text(status, sub)
        msg = self.explain(resp, cg, note)
        self.assertEqual(resp.status, status, msg)
        self.assertEqual(resp.header("X-Certgate-Status"), st, msg)
        self.assertEqual(resp.header("X-Certgate-Error"), code, msg)
        for name, value in PAGE_HEADERS.items():
            self.assertEqual(resp.header(name), value, msg)
        rid = resp.header("X-Request-Id")
        self.assertTrue(rid, msg)
        page = html.unescape(resp.text)
        for piece in (st, code, rid):
            self.assertIn(piece, page, msg)
        entry = cg.wait_log(event="refused", id_=rid)[0]
        self.assertEqual(entry.get("code"), code, msg)
        self.assertEqual(entry.get("status"), st, msg)
        detail = entry.get("detail", "")
        self.assertGreaterEqual(len(detail), 10, Explain(
            lambda: "log line has no detail sentence: %s" % entry["_raw"]))
        if operator:
            self.assertIn(detail, page, Explain(
                lambda: "the operator page lacks the log line's detail %r\n%s" % (detail, resp.describe())))
        else:
            self.assertNotIn(detail, page, Explain(
                lambda: "a user page shows the operator sentence %r\n%s" % (detail, resp.describe())))
            self.assertNotIn("For the operator", page, msg)
        return rid

    def refusal_detail(self, rid, cg=None):
        """The operator sentence of the refusal with request id rid (its log line)."""
        return (cg or self.cg).wait_log(event="refused", id_=rid)[0].get("detail", "")

    def assert_not_forwarded(self, *markers, backend=None):
        backend = backend or self.backend
        seen = backend.seen_paths()
        for m in markers:
            hits = [p for p in seen if m in p]
            self.assertEqual(hits, [], "the backend received %s (it must not have)" % hits)

    def assert_ok_json(self, resp, cg=None):
        self.assert_status(resp, 200, cg)
        return resp.json()


class Shared(Base):
    """One backend and one certgate for the whole class (in the test module's
    temp dir); override certgate_options() to change the configuration."""

    @classmethod
    def certgate_options(cls, backend_port):
        """config_yaml keyword arguments (backends included)."""
        return {"backends": {"app": backend_port}}

    @classmethod
    def setUpClass(cls):
        cls.backend = Backend(module_tmp(cls.__module__), name=cls.__name__ + "-backend").start()
        cls.cg = Certgate(module_tmp(cls.__module__), name=cls.__name__)
        opts = cls.certgate_options(cls.backend.port)
        cls.cg.configure(pki(), **opts)
        cls.cg.start()

    @classmethod
    def tearDownClass(cls):
        cg, be = cls.__dict__.get("cg"), cls.__dict__.get("backend")
        try:
            if cg is not None:
                cg.stop(check=True)
        finally:
            if be is not None:
                be.stop()
