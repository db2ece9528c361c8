#!/usr/bin/env python3
"""A private Samba AD DC lab for certgate's delegation tests.

The Active Directory counterpart of kdc_lab.py (same CLI shape, same Apache
backend): everything lives inside one folder DIR and listens on loopback only.

  samba        Debian's Samba AD DC, provisioned into DIR/samba (--targetdir,
               an empty -s file: Debian's /etc/samba is never read or written),
               only its KDC service (`server services = kdc`), on
               127.0.0.1:<free port> (UDP and TCP), `interfaces = 127.0.0.1`,
               `bind interfaces only = yes`; tickets carry a PAC as AD's do
  apache2      mod_auth_gssapi on 127.0.0.1:<free port>, exactly as in
               kdc_lab.py: /whoami shows REMOTE_USER

Realm AD.EXAMPLE.TEST (NetBIOS domain AD). Accounts, made with Samba's own
Python API (what samba-tool runs, in one process: about 20 ms per account
instead of a second per samba-tool call):

  alice, bob (+ user001..userNNN with --users N)   ordinary users
  proxysvc   the proxy's service account: SPN HTTP/proxy.example.test, UPN
             HTTP/proxy.example.test@REALM (what ktpass sets), "trusted to
             authenticate for delegation" (protocol transition: samba-tool
             delegation for-any-protocol) and msDS-AllowedToDelegateTo
             HTTP/backend.example.test (samba-tool delegation add-service)
  backendsvc the backend's account: SPN HTTP/backend.example.test; with
             set-rbcd its msDS-AllowedToActOnBehalfOfOtherIdentity names
             proxysvc (resource-based constrained delegation, Samba >= 4.19;
             Samba's KDC, unlike Windows, still wants a forwardable S4U2Self
             ticket for it, so protocol transition stays on)

Keytabs (samba-tool domain exportkeytab): DIR/proxy.keytab (principals
HTTP/proxy.example.test and proxysvc), DIR/backend.keytab
(HTTP/backend.example.test, readable by Apache's www-data).

    python3 tests/integration/samba_lab.py start DIR [--users N] [--kdc-port P] [--http-port P]
    python3 tests/integration/samba_lab.py stop DIR
    python3 tests/integration/samba_lab.py status DIR
    python3 tests/integration/samba_lab.py verify DIR [USER]   # kinit -k, kvno -U, curl --negotiate
    python3 tests/integration/samba_lab.py add-user DIR NAME
    python3 tests/integration/samba_lab.py deny-delegation|allow-delegation DIR
    python3 tests/integration/samba_lab.py clear-ok-to-auth|set-ok-to-auth DIR
    python3 tests/integration/samba_lab.py set-rbcd DIR [ACCOUNT] | clear-rbcd DIR
    python3 tests/integration/samba_lab.py stop-kdc|start-kdc DIR
    python3 tests/integration/samba_lab.py rekey-backend DIR
    python3 tests/integration/samba_lab.py s4u-count DIR [USER]

Provisioning (samba-tool domain provision, ~10 s) is the slow part: `start`
keeps a provisioned copy in DIR/template (per realm) and a later `start` of the
same DIR, or `start --template T`, copies it instead of provisioning again.
`stop` kills by PID (SIGTERM, then SIGKILL) and leaves the files.

Needs Debian's samba packages (scripts/packages.txt, role test): samba,
samba-ad-dc, samba-ad-provision, samba-dsdb-modules, samba-vfs-modules,
python3-samba, from bookworm-backports (4.22: RBCD; 4.17 runs the rest).
Standard library only on the test side; the account operations run in a
child `python3 samba_lab.py _admin` that imports Samba's modules.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kdc_lab  # noqa: E402  (the Apache backend, process and port helpers)
from kdc_lab import LabError, _kill, _pid_alive, _tcp_accepts  # noqa: E402

REALM = "AD.EXAMPLE.TEST"
DOMAIN = "AD"
ADMIN_PW = "Lab-Admin-Secret-1"   # a throwaway lab; nothing here is a real secret
USER_PW = "Lab-User-Passw0rd"     # alice and bob can kinit with it (by hand); AD's complexity rules
PROXY_ACCOUNT = "proxysvc"
BACKEND_ACCOUNT = "backendsvc"
PROXY_SVC = kdc_lab.PROXY_SVC
BACKEND_SVC = kdc_lab.BACKEND_SVC
SAMBA_TOOLS = ("samba", "samba-tool", "kinit", "kvno", "apache2")
# Samba's Python modules are built for Debian's python3, which may not be the
# one running the tests (a pyenv, a venv)
SYSTEM_PYTHON = "/usr/bin/python3"


def _which(tool):
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


class SambaLab(kdc_lab.Lab):
    """One Samba AD lab in one folder. SambaLab(dir).start(users=N); .stop().

    Shares kdc_lab.Lab's Apache backend, env file and checks by hand; the KDC,
    the accounts and the delegation settings are Samba's."""

    kind = "samba"
    proxy_name = PROXY_SVC  # certgate's kerberos.principal (the UPN ktpass sets)

    def __init__(self, dir, realm=REALM):
        super().__init__(dir, realm=realm)

    # -- paths -----------------------------------------------------------

    @property
    def smb_conf(self):
        return self.path("samba", "etc", "smb.conf")

    @property
    def sam_ldb(self):
        return self.path("samba", "private", "sam.ldb")

    @property
    def kdc_log_path(self):
        return self.path("samba.log")

    @property
    def proxy_dn(self):  # not an LDAP DN here: the account
        return PROXY_ACCOUNT

    def krb5_env(self):
        e = super().krb5_env()
        e.pop("KRB5_KDC_PROFILE", None)
        return e

    def _write_env(self):
        super()._write_env()
        with open(self.path("env"), "a") as f:
            f.write("export CG_LAB_KIND=samba\nexport CG_LAB_SMB_CONF=%s\n" % shlex.quote(self.smb_conf))

    # -- status --------------------------------------------------------------

    def running(self):
        return (_pid_alive(self.pids["kdc"]) and _pid_alive(self.pids["apache"])
                and _tcp_accepts(self.kdc_port) and _tcp_accepts(self.http_port))

    # -- start / stop --------------------------------------------------------

    def _check_tools(self):
        missing = [t for t in SAMBA_TOOLS if not _which(t)]
        if not os.path.isdir("/usr/lib/python3/dist-packages/samba"):
            missing.append("python3-samba")
        if not os.path.exists("/usr/share/samba/setup/provision.ldif"):
            missing.append("samba-ad-provision")
        if not os.path.exists(os.path.join(kdc_lab.APACHE_MODULES, "mod_auth_gssapi.so")):
            missing.append("mod_auth_gssapi (libapache2-mod-auth-gssapi)")
        if missing:
            raise LabError("the Samba AD lab needs: %s (scripts/packages.txt: samba samba-ad-provision "
                           "samba-dsdb-modules samba-vfs-modules python3-samba krb5-user apache2 "
                           "libapache2-mod-auth-gssapi)" % ", ".join(missing))

    def _wipe(self):
        for name in ("samba", "ccache", "rcache", "apache"):
            shutil.rmtree(self.path(name), ignore_errors=True)
        for name in ("krb5.conf", "proxy.keytab", "backend.keytab", "samba.log", "env", "empty.conf"):
            try:
                os.unlink(self.path(name))
            except FileNotFoundError:
                pass

    def start(self, users=0, kdc_port=0, http_port=0, template=None):
        if os.path.exists(self.path("env")):
            self._load_env()
            if self.running():
                if users > self.users:
                    self.admin([{"op": "user", "name": "user%03d" % i}
                                for i in range(self.users + 1, users + 1)])
                    self.users = users
                    self._write_env()
                return self
            self.stop()
        t0 = time.monotonic()
        self._check_tools()
        self._wipe()
        for d in ("ccache", "rcache", "apache", "apache/htdocs", "apache/htdocs/bound", "apache/run",
                  "apache/logs"):
            os.makedirs(self.path(d), exist_ok=True)
        self.users = users
        self.kdc_port = kdc_port or kdc_lab._free_port_udp_tcp()
        self.http_port = http_port or kdc_lab._free_port_tcp(avoid=(self.kdc_port,))
        kpasswd_port = kdc_lab._free_port_udp_tcp()
        try:
            self._provision(template or self.path("template-" + self.realm))
            self.timings["provision"] = time.monotonic() - t0
            self._write_smb_conf(kpasswd_port)
            self._write_krb5_conf()
            self._create_accounts(users)
            self.timings["accounts"] = time.monotonic() - t0
            self.start_kdc()
            self.timings["kdc"] = time.monotonic() - t0
            self._start_apache()
            self.timings["apache"] = time.monotonic() - t0
            self._wait_kinit()
            self.timings["kinit"] = time.monotonic() - t0
        except BaseException:
            self._write_env()
            self.stop()
            raise
        self._write_env()
        self.timings["total"] = time.monotonic() - t0
        return self

    def stop(self):
        for k in ("apache", "kdc"):
            pid = self.pids.get(k) or self._pidfile_pid(k)
            if pid:
                _kill(pid)
            self.pids[k] = 0
        if os.path.exists(self.path("env")):
            self._write_env()

    def _pidfile_pid(self, k):
        f = {"kdc": "samba/run/samba.pid", "apache": "apache/run/httpd.pid"}.get(k)
        try:
            with open(self.path(f)) as fh:
                return int(fh.read().strip() or 0)
        except (OSError, ValueError, TypeError):
            return 0

    # -- provisioning ----------------------------------------------------------

    def _provision(self, template):
        """samba-tool domain provision into `template` once; copied into
        DIR/samba (paths inside smb.conf are rewritten by _write_smb_conf)."""
        if not os.path.exists(os.path.join(template, "private", "sam.ldb")):
            shutil.rmtree(template, ignore_errors=True)
            empty = self.path("empty.conf")
            open(empty, "w").close()
            t0 = time.monotonic()
            self.run(["samba-tool", "domain", "provision", "-s", empty, "--realm=" + self.realm,
                      "--domain=" + DOMAIN, "--server-role=dc", "--dns-backend=NONE", "--host-name=dc1",
                      "--host-ip=127.0.0.1", "--adminpass=" + ADMIN_PW, "--targetdir=" + template,
                      "--option=interfaces = 127.0.0.1", "--option=bind interfaces only = yes"],
                     timeout=300)
            self.timings["samba-tool provision"] = time.monotonic() - t0
        shutil.copytree(template, self.path("samba"), symlinks=True)
        self.template = template

    def _write_smb_conf(self, kpasswd_port):
        """The provisioned smb.conf, its paths moved to DIR/samba, only the KDC."""
        with open(os.path.join(self.template, "etc", "smb.conf")) as f:
            text = f.read()
        text = text.replace(os.path.abspath(self.template), self.path("samba"))
        extra = """
\tserver services = kdc
\tkrb5 port = {kdc}
\tkpasswd port = {kpasswd}
\ttls enabled = no
\tpid directory = {d}/run
\tncalrpc dir = {d}/run/ncalrpc
\twinbindd socket directory = {d}/run/winbindd
\tlog level = 3 kerberos:3 auth:3
\tldap server require strong auth = no
""".format(kdc=self.kdc_port, kpasswd=kpasswd_port, d=self.path("samba"))
        # provision wrote its own "server services" (and may write others of
        # ours): drop them, a later line would win
        ours = {ln.split("=")[0].strip().lower() for ln in extra.strip().splitlines()}
        text = "".join(ln for ln in text.splitlines(True)
                       if "=" not in ln or ln.split("=")[0].strip().lower() not in ours)
        text = re.sub(r"(\[global\]\n)", lambda m: m.group(1) + extra.lstrip("\n"), text, count=1)
        os.makedirs(self.path("samba", "run"), exist_ok=True)
        with open(self.smb_conf, "w") as f:
            f.write(text)

    def _write_krb5_conf(self):
        with open(self.krb5_conf, "w") as f:
            f.write("""# certgate Samba AD lab: no DNS anywhere; TCP first (PAC-sized tickets)
[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    forwardable = true
    udp_preference_limit = 0
    ticket_lifetime = 10h
    kdc_timeout = 2000
    max_retries = 1

[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
    }}

[domain_realm]
    {backend} = {realm}
    {proxy} = {realm}
    .example.test = {realm}
""".format(realm=self.realm, port=self.kdc_port, backend=kdc_lab.BACKEND_HOST, proxy=kdc_lab.PROXY_HOST))

    # -- accounts (Samba's Python API in a child process) ------------------------

    def admin(self, ops, timeout=120):
        """Runs account operations in one `python3 samba_lab.py _admin` child;
        returns its JSON answer (a list, one item per op)."""
        p = self.run([SYSTEM_PYTHON, os.path.abspath(__file__), "_admin", self.dir],
                     input=json.dumps({"smb_conf": self.smb_conf, "realm": self.realm, "ops": ops}),
                     timeout=timeout)
        try:
            return json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise LabError("samba admin: no answer:\n%s\n%s" % (p.stdout[-2000:], p.stderr[-2000:]))

    def _create_accounts(self, users):
        ops = [{"op": "user", "name": "alice", "password": USER_PW},
               {"op": "user", "name": "bob", "password": USER_PW},
               {"op": "user", "name": PROXY_ACCOUNT, "spn": PROXY_SVC,
                "upn": "%s@%s" % (PROXY_SVC, self.realm)},
               {"op": "user", "name": BACKEND_ACCOUNT, "spn": BACKEND_SVC},
               {"op": "flag", "name": PROXY_ACCOUNT, "flag": "TRUSTED_TO_AUTH_FOR_DELEGATION", "on": True},
               {"op": "delegate_to", "name": PROXY_ACCOUNT, "add": [BACKEND_SVC]}]
        ops += [{"op": "user", "name": "user%03d" % i} for i in range(1, users + 1)]
        ops += [{"op": "keytab", "file": self.proxy_keytab, "principals": [PROXY_SVC, PROXY_ACCOUNT]},
                {"op": "keytab", "file": self.backend_keytab, "principals": [BACKEND_SVC]}]
        self.admin(ops)
        self._backend_keytab_perms(self.backend_keytab)
        os.chmod(self.proxy_keytab, 0o600)

    def samba_tool(self, *args, check=True):
        return self.run(["samba-tool"] + list(args) + ["-s", self.smb_conf], check=check, timeout=120)

    # -- KDC ---------------------------------------------------------------------

    def kdc_running(self):
        return _pid_alive(self.pids["kdc"]) and _tcp_accepts(self.kdc_port)

    def start_kdc(self):
        """samba -i -M single with only its KDC; returns when the port answers."""
        if self.kdc_running():
            return
        log = open(self.kdc_log_path, "ab")  # -i: the log goes to stdout
        env = self.env()
        env.pop("KRB5_TRACE", None)
        p = subprocess.Popen(["samba", "-s", self.smb_conf, "-i", "-M", "single"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env)
        log.close()
        self.pids["kdc"] = p.pid
        self._write_env()
        deadline = time.monotonic() + 30
        while not _tcp_accepts(self.kdc_port):
            if p.poll() is not None:
                raise LabError("samba exited (%s):\n%s" % (p.returncode, self._tail("samba.log")))
            if time.monotonic() > deadline:
                raise LabError("samba's KDC did not listen on 127.0.0.1:%d within 30 s" % self.kdc_port)
            time.sleep(0.02)

    def stop_kdc(self):
        _kill(self.pids["kdc"])
        self.pids["kdc"] = 0
        self._write_env()

    def _wait_kinit(self):
        """The KDC answers a real AS exchange (bounded: 30 s)."""
        cc = self.path("ccache", "ready")
        env = self.env({"KRB5CCNAME": "FILE:" + cc})
        deadline = time.monotonic() + 30
        while True:
            p = self.run(["kinit", "-k", "-t", self.proxy_keytab, PROXY_SVC], env=env, check=False)
            if p.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise LabError("kinit -k %s did not succeed within 30 s: %s\n%s" % (
                    PROXY_SVC, p.stderr.strip(), self._tail("samba.log")))
            time.sleep(0.1)

    # -- KDC-side settings ------------------------------------------------------------

    def allow_delegation(self, target=None):
        self.admin([{"op": "delegate_to", "name": PROXY_ACCOUNT, "add": [target or BACKEND_SVC]}])

    def deny_delegation(self):
        self.admin([{"op": "delegate_to", "name": PROXY_ACCOUNT, "clear": True}])

    def clear_ok_to_auth_as_delegate(self):
        self.admin([{"op": "flag", "name": PROXY_ACCOUNT, "flag": "TRUSTED_TO_AUTH_FOR_DELEGATION",
                     "on": False}])

    def set_ok_to_auth_as_delegate(self):
        self.admin([{"op": "flag", "name": PROXY_ACCOUNT, "flag": "TRUSTED_TO_AUTH_FOR_DELEGATION",
                     "on": True}])

    def rbcd_supported(self):
        """None when this Samba's KDC implements resource-based constrained
        delegation (4.19 and later), else why not."""
        p = self.run(["samba", "--version"], check=False)
        m = re.search(r"Version (\d+)\.(\d+)", p.stdout)
        if not m:
            return "cannot tell Samba's version from %r" % p.stdout.strip()
        if (int(m.group(1)), int(m.group(2))) < (4, 19):
            return ("Samba %s.%s's KDC does not implement resource-based constrained delegation (4.19 does: "
                    "scripts/packages.txt takes Samba from bookworm-backports)" % (m.group(1), m.group(2)))
        return None

    def set_rbcd(self, allow=None):
        """The backend account's msDS-AllowedToActOnBehalfOfOtherIdentity
        names the accounts in allow (default: the proxy's), RBCD; () removes it."""
        allow = (PROXY_ACCOUNT,) if allow is None else allow
        self.admin([{"op": "rbcd", "name": BACKEND_ACCOUNT, "allow": list(allow)}])

    def set_proxy_upn(self, upn):
        """proxysvc's UPN: "HTTP/proxy.example.test@REALM" (what ktpass sets,
        the lab's default) or None (an account given only its SPN, e.g. with
        setspn: it then authenticates only as proxysvc@REALM)."""
        self.admin([{"op": "upn", "name": PROXY_ACCOUNT, "upn": upn}])

    def set_user_delegable(self, name, delegable):
        """AD's "Account is sensitive and cannot be delegated" (NOT_DELEGATED)."""
        self.admin([{"op": "flag", "name": name, "flag": "NOT_DELEGATED", "on": not delegable}])

    def add_user(self, name, password=None):
        self.admin([{"op": "user", "name": name, "password": password}])

    def add_users(self, names):
        self.admin([{"op": "user", "name": n} for n in names])

    def add_upn_user(self, name, upn):
        """A user whose UPN suffix is not the realm (name@corp.example.com):
        the suffix added to the forest, reached as an enterprise name."""
        self.admin([{"op": "upn_suffix", "suffix": upn.split("@", 1)[1]},
                    {"op": "user", "name": name, "upn": upn}])

    def disable_user(self, name):
        self.admin([{"op": "flag", "name": name, "flag": "ACCOUNTDISABLE", "on": True}])

    def expire_user(self, name, expired):
        """accountExpires in the past (1 January 1970), or never (0)."""
        self.admin([{"op": "attr", "name": name, "attr": "accountExpires",
                     "values": [116444736000000000 if expired else 0]}])

    def add_aes_only_service(self, spn, password):
        """A service account (sAMAccountName = the SPN's host label) holding
        spn as SPN and UPN, with msDS-SupportedEncryptionTypes AES only
        (0x18): what "This account supports Kerberos AES 128/256 bit
        encryption" sets. Returns the principal to use."""
        name = spn.split("/", 1)[1].split(".", 1)[0]
        self.admin([{"op": "user", "name": name, "password": password, "spn": spn,
                     "upn": "%s@%s" % (spn, self.realm)},
                    {"op": "attr", "name": name, "attr": "msDS-SupportedEncryptionTypes", "values": [24]}])
        return spn

    def enable_user(self, name):
        self.admin([{"op": "flag", "name": name, "flag": "ACCOUNTDISABLE", "on": False}])

    def rekey_backend(self):
        """A new password for backendsvc, backend.keytab re-exported (only the
        new key): tickets cached with the old key get 401 from Apache."""
        new = self.path("backend.keytab.new")
        try:
            os.unlink(new)
        except FileNotFoundError:
            pass
        self.admin([{"op": "reset", "name": BACKEND_ACCOUNT},
                    {"op": "keytab", "file": new, "principals": [BACKEND_SVC]}])
        self._backend_keytab_perms(new)
        os.replace(new, self.backend_keytab)

    def rekey_proxy_keytab_only(self, path):
        """path gets the proxy's current key, then the account's password is
        reset and proxy.keytab re-exported: path is stale (kvno mismatch)."""
        shutil.copy(self.proxy_keytab, path)
        new = self.path("proxy.keytab.new")
        try:
            os.unlink(new)
        except FileNotFoundError:
            pass
        self.admin([{"op": "reset", "name": PROXY_ACCOUNT},
                    {"op": "keytab", "file": new, "principals": [PROXY_SVC, PROXY_ACCOUNT]}])
        os.chmod(new, 0o600)
        os.replace(new, self.proxy_keytab)

    # -- KDC log ------------------------------------------------------------------------

    def s4u_counts(self, text=None):
        """{user: {"s4u2self": n, "s4u2proxy": n, ...}} from Samba's log.

        Samba's KDC (Heimdal's, log level 3, `samba -M single`: one request
        at a time) logs "TGS-REQ CLIENT from ADDR for SERVER", then
        "s4u2self PROXY impersonating USER@REALM to service ..." (S4U2Self) or
        "constrained delegation for USER@REALM from ..." (S4U2Proxy), then
        "TGS-REQ SUCCESS ADDR ..." when it issued the ticket, or an error; an
        S4U2Proxy refused early logs only "TGS-REQ ERR_... impersonatee=USER"."""
        text = self.kdc_log() if text is None else text
        out = {}
        pending = None  # (kind, user) of the TGS-REQ being handled
        for line in text.splitlines():
            m = re.search(r"s4u2self (\S+) impersonating (\S+?)(?:@\S+)? to service", line)
            if m:
                pending = ("s4u2self", m.group(2))
                continue
            m = re.search(r"constrained delegation for (\S+?)(?:@\S+)? from ", line)
            if m:
                pending = ("s4u2proxy", m.group(1))
                continue
            if "TGS-REQ " in line and " from " in line and " for " in line:
                pending = None  # the next request
                continue
            m = re.search(r"TGS-REQ ERR_\S+ .* impersonatee=(\S+?)(?:@\S+)? ", line)
            if m and not pending:
                # an S4U2Proxy the KDC refused before logging "constrained
                # delegation for" (e.g. non-forwardable evidence)
                d = out.setdefault(m.group(1), {"s4u2self": 0, "s4u2proxy": 0, "s4u2self_failed": 0,
                                                "s4u2proxy_failed": 0})
                d["s4u2proxy_failed"] += 1
            elif pending and re.search(r"TGS-REQ (SUCCESS|.*(KDC_ERR|failed|denied|not allowed))", line, re.I):
                kind, user = pending
                d = out.setdefault(user, {"s4u2self": 0, "s4u2proxy": 0, "s4u2self_failed": 0,
                                          "s4u2proxy_failed": 0})
                d[kind if "TGS-REQ SUCCESS" in line else kind + "_failed"] += 1
                pending = None
        return out


# ---------------------------------------------------------------------------
# The account operations, in a child process that imports Samba's modules.

def _admin_main(dir):
    req = json.loads(sys.stdin.read())
    import secrets
    import ldb
    import samba
    import samba.dckeytab  # noqa: F401  (adds Net.export_keytab)
    from samba import dsdb
    from samba.auth import system_session
    from samba.dcerpc import security
    from samba.ndr import ndr_pack, ndr_unpack
    from samba.net import Net
    from samba.param import LoadParm
    from samba.samdb import SamDB

    lp = LoadParm()
    lp.load(req["smb_conf"])
    samdb = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    flags = {"TRUSTED_TO_AUTH_FOR_DELEGATION": dsdb.UF_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION,
             "NOT_DELEGATED": dsdb.UF_NOT_DELEGATED,
             "ACCOUNTDISABLE": dsdb.UF_ACCOUNTDISABLE}

    def random_pw():
        return "Aa1-" + secrets.token_urlsafe(24)

    def user_dn(name):
        res = samdb.search(base=samdb.domain_dn(), scope=ldb.SCOPE_SUBTREE,
                           expression="(sAMAccountName=%s)" % ldb.binary_encode(name), attrs=["dn"])
        if len(res) != 1:
            raise SystemExit("no account %s" % name)
        return res[0].dn

    def modify(name, attr, values, how):
        m = ldb.Message()
        m.dn = user_dn(name)
        m[attr] = ldb.MessageElement(values, how, attr)
        samdb.modify(m)

    out = []
    for op in req["ops"]:
        kind = op["op"]
        if kind == "user":
            samdb.newuser(op["name"], op.get("password") or random_pw())
            if op.get("spn"):
                modify(op["name"], "servicePrincipalName", [op["spn"]], ldb.FLAG_MOD_ADD)
            if op.get("upn"):
                modify(op["name"], "userPrincipalName", [op["upn"]], ldb.FLAG_MOD_REPLACE)
        elif kind == "upn":
            # the account's userPrincipalName: set, or removed (None), as an
            # AD account made without ktpass has none
            if op["upn"]:
                modify(op["name"], "userPrincipalName", [op["upn"]], ldb.FLAG_MOD_REPLACE)
            else:
                res = samdb.search(base=user_dn(op["name"]), scope=ldb.SCOPE_BASE, attrs=["userPrincipalName"])
                if "userPrincipalName" in res[0]:
                    modify(op["name"], "userPrincipalName", [], ldb.FLAG_MOD_DELETE)
        elif kind == "upn_suffix":
            # the forest's alternative UPN suffixes (AD Domains and Trusts)
            m = ldb.Message()
            m.dn = ldb.Dn(samdb, "CN=Partitions,%s" % samdb.get_config_basedn())
            res = samdb.search(base=m.dn, scope=ldb.SCOPE_BASE, attrs=["uPNSuffixes"])
            if op["suffix"] not in [str(x) for x in res[0].get("uPNSuffixes", [])]:
                m["uPNSuffixes"] = ldb.MessageElement([op["suffix"]], ldb.FLAG_MOD_ADD, "uPNSuffixes")
                samdb.modify(m)
        elif kind == "flag":
            samdb.toggle_userAccountFlags("(sAMAccountName=%s)" % ldb.binary_encode(op["name"]),
                                          flags[op["flag"]], on=op["on"], strict=False)
        elif kind == "delegate_to":
            if op.get("clear"):
                modify(op["name"], "msDS-AllowedToDelegateTo", [], ldb.FLAG_MOD_REPLACE)
            else:
                for v in op.get("add", []):
                    res = samdb.search(base=user_dn(op["name"]), scope=ldb.SCOPE_BASE,
                                       attrs=["msDS-AllowedToDelegateTo"])
                    have = [str(x) for x in res[0].get("msDS-AllowedToDelegateTo", [])]
                    if v not in have:
                        modify(op["name"], "msDS-AllowedToDelegateTo", [v], ldb.FLAG_MOD_ADD)
        elif kind == "attr":
            modify(op["name"], op["attr"], [str(v) for v in op["values"]], ldb.FLAG_MOD_REPLACE)
        elif kind == "rbcd":
            # resource-based constrained delegation: the backend account's
            # msDS-AllowedToActOnBehalfOfOtherIdentity, a security descriptor
            # whose DACL allows each listed account (what `samba-tool delegation
            # add-principal` and Set-ADComputer -PrincipalsAllowedToDelegateToAccount
            # write); an empty list removes the attribute
            attr = "msDS-AllowedToActOnBehalfOfOtherIdentity"
            dn = user_dn(op["name"])
            res = samdb.search(base=dn, scope=ldb.SCOPE_BASE, attrs=[attr])
            m = ldb.Message()
            m.dn = dn
            if not op["allow"]:
                if attr in res[0]:
                    m[attr] = ldb.MessageElement([], ldb.FLAG_MOD_DELETE, attr)
                    samdb.modify(m)
            else:
                sd = security.descriptor()
                sd.revision = security.SD_REVISION
                sd.type = security.SEC_DESC_DACL_PRESENT | security.SEC_DESC_SELF_RELATIVE
                sd.owner_sid = security.dom_sid(security.SID_BUILTIN_ADMINISTRATORS)
                dacl = security.acl()
                dacl.revision = security.SECURITY_ACL_REVISION_ADS
                aces = []
                for who in op["allow"]:
                    sid = samdb.search(base=user_dn(who), scope=ldb.SCOPE_BASE, attrs=["objectSid"])[0]["objectSid"][0]
                    ace = security.ace()
                    ace.type = security.SEC_ACE_TYPE_ACCESS_ALLOWED
                    ace.flags = 0
                    ace.access_mask = security.SEC_ADS_GENERIC_ALL
                    ace.trustee = ndr_unpack(security.dom_sid, sid)
                    aces.append(ace)
                dacl.aces = aces
                dacl.num_aces = len(aces)
                sd.dacl = dacl
                m[attr] = ldb.MessageElement([ndr_pack(sd)], ldb.FLAG_MOD_REPLACE, attr)
                samdb.modify(m)
        elif kind == "reset":
            samdb.setpassword("(sAMAccountName=%s)" % ldb.binary_encode(op["name"]), random_pw(),
                              force_change_at_next_login=False)
        elif kind == "keytab":
            net = Net(None, lp)
            for pr in op["principals"]:
                net.export_keytab(keytab=op["file"], principal=pr)
        else:
            raise SystemExit("unknown op %r" % kind)
        out.append(kind)
    print(json.dumps(out))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_admin"]:
        return _admin_main(argv[1])

    def add_args(ap):
        ap.add_argument("--template", help="a provisioned domain to copy (made there on first use)")
    return kdc_lab.run_cli(argv, make_lab=lambda d, realm: SambaLab(d, realm=realm), default_realm=REALM,
                           description=__doc__.split("\n\n")[0], prog="samba_lab", title="Samba AD lab",
                           add_args=add_args, start_kwargs=lambda a: {"template": a.template})


if __name__ == "__main__":
    sys.exit(main())
