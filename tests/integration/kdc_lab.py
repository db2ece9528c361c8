#!/usr/bin/env python3
"""A private Kerberos lab for certgate's delegation tests and demo.

Everything lives inside one folder DIR and listens on loopback only:

  slapd        private slapd.conf (core, cosine, kerberos schemas; back_mdb),
               on an ldapi:// socket only (no TCP port)
  krb5kdc      MIT KDC with the LDAP database (kdb5_ldap_util), on
               127.0.0.1:<free port> (UDP and TCP); it can do S4U2Self and
               S4U2Proxy (constrained delegation via krbAllowedToDelegateTo)
  apache2      mod_auth_gssapi on 127.0.0.1:<free port>: the Negotiate backend
               for HTTP/backend.example.test; /whoami shows REMOTE_USER,
               /bound/whoami the same with GssapiConnectionBound On;
               /public (no authentication) and /bound/public (connection-
               bound Kerberos) serve the same 7-byte file

Principals: alice, bob (+ user001..userNNN with --users N), the proxy
HTTP/proxy.example.test (+ok_to_auth_as_delegate, krbAllowedToDelegateTo
HTTP/backend.example.test@REALM) and the backend HTTP/backend.example.test;
keytabs DIR/proxy.keytab and DIR/backend.keytab.

    python3 tests/integration/kdc_lab.py start DIR [--realm R] [--users N]
    python3 tests/integration/kdc_lab.py stop DIR
    python3 tests/integration/kdc_lab.py status DIR
    python3 tests/integration/kdc_lab.py verify DIR      # kinit -k, kvno -U, curl --negotiate
    python3 tests/integration/kdc_lab.py deny-delegation|allow-delegation DIR
    python3 tests/integration/kdc_lab.py clear-ok-to-auth|set-ok-to-auth DIR
    python3 tests/integration/kdc_lab.py stop-kdc|start-kdc DIR
    python3 tests/integration/kdc_lab.py add-user DIR NAME
    python3 tests/integration/kdc_lab.py rekey-backend DIR
    python3 tests/integration/kdc_lab.py s4u-count DIR [USER]   # S4U2Proxy / TGS per user

DIR/env (shell syntax, `. DIR/env`) holds KRB5_CONFIG, KRB5_KDC_PROFILE, the
ports, the PIDs and the keytab paths. `start` on a running lab returns at once;
on a stale one (a process gone) it stops what is left and starts afresh.
`stop` kills by PID (SIGTERM, then SIGKILL) and leaves the files.

Standard library only. Needs root or an ordinary user: as root, Apache's
workers run as www-data, so DIR and its parents are made traversable
(o+x) and backend.keytab is given to group www-data (0640).
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

SUFFIX = "dc=example,dc=test"
ROOTDN = "cn=admin," + SUFFIX
ROOTPW = "lab-ldap-secret"       # a throwaway lab; nothing here is a real secret
MASTERPW = "lab-master-secret"
USER_PW = "password"             # alice and bob can kinit with it (by hand)
PROXY_HOST = "proxy.example.test"
BACKEND_HOST = "backend.example.test"
PROXY_SVC = "HTTP/" + PROXY_HOST
BACKEND_SVC = "HTTP/" + BACKEND_HOST
APACHE_MODULES = "/usr/lib/apache2/modules"


class LabError(Exception):
    pass


def _pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _kill(pid, timeout=5.0):
    """SIGTERM, wait, SIGKILL. Only the given PID (and what it reaps itself)."""
    if not _pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _pid_alive(pid):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(100):
        _reap(pid)
        if not _pid_alive(pid):
            return
        time.sleep(0.02)


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _free_port_udp_tcp():
    """A port free for both TCP and UDP on 127.0.0.1 (the KDC takes both)."""
    for _ in range(200):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    raise LabError("no free port for the KDC")


def _free_port_tcp(avoid=()):
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in avoid:
            return port
    raise LabError("no free TCP port")


def _tcp_accepts(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _unix_accepts(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(0.2)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Lab:
    """One lab in one folder. Lab(dir).start(users=N); Lab(dir).stop()."""

    kind = "mit"
    proxy_name = PROXY_SVC  # certgate's kerberos.principal

    def __init__(self, dir, realm="EXAMPLE.TEST"):
        self.dir = os.path.abspath(dir)
        self.realm = realm
        self.kdc_port = 0
        self.http_port = 0
        self.pids = {"slapd": 0, "kdc": 0, "apache": 0}
        self.users = 0
        self.timings = {}
        if os.path.exists(self.path("env")):
            self._load_env()

    # -- paths -----------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def krb5_conf(self):
        return self.path("krb5.conf")

    @property
    def kdc_conf(self):
        return self.path("kdc.conf")

    @property
    def proxy_keytab(self):
        return self.path("proxy.keytab")

    @property
    def backend_keytab(self):
        return self.path("backend.keytab")

    @property
    def kdc_log_path(self):
        return self.path("kdc.log")

    @property
    def ldapi_path(self):
        return self.path("ldapi")

    @property
    def ldapi_url(self):
        return "ldapi://" + urllib.parse.quote(self.ldapi_path, safe="")

    @property
    def proxy_principal(self):
        return "%s@%s" % (PROXY_SVC, self.realm)

    @property
    def backend_principal(self):
        return "%s@%s" % (BACKEND_SVC, self.realm)

    @property
    def backend_spn(self):
        return BACKEND_SVC

    @property
    def proxy_dn(self):
        return "krbPrincipalName=%s,cn=%s,cn=krbContainer,%s" % (self.proxy_principal, self.realm, SUFFIX)

    @property
    def backend_url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def env(self, extra=None):
        """os.environ plus the lab's Kerberos settings, for subprocesses."""
        e = dict(os.environ)
        e.update(self.krb5_env())
        if extra:
            e.update(extra)
        return e

    def krb5_env(self):
        return {
            "KRB5_CONFIG": self.krb5_conf,
            "KRB5_KDC_PROFILE": self.kdc_conf,
            "KRB5CCNAME": "FILE:" + self.path("ccache", "default"),
            "KRB5_KTNAME": "FILE:" + self.path("none.keytab"),
            "KRB5_CLIENT_KTNAME": "FILE:" + self.path("none.keytab"),
            "KRB5RCACHEDIR": self.path("rcache"),
            "KRB5_TRACE": os.environ.get("KRB5_TRACE_LAB", "") or "/dev/null",
        }

    # -- state file --------------------------------------------------------

    def _write_env(self):
        vals = {
            "CG_LAB_DIR": self.dir,
            "CG_LAB_REALM": self.realm,
            "KRB5_CONFIG": self.krb5_conf,
            "KRB5_KDC_PROFILE": self.kdc_conf,
            "CG_LAB_KDC_PORT": str(self.kdc_port),
            "CG_LAB_HTTP_PORT": str(self.http_port),
            "CG_LAB_BACKEND_URL": self.backend_url,
            "CG_LAB_BACKEND_SPN": self.backend_spn,
            "CG_LAB_PROXY_PRINCIPAL": self.proxy_principal,
            "CG_LAB_PROXY_KEYTAB": self.proxy_keytab,
            "CG_LAB_BACKEND_KEYTAB": self.backend_keytab,
            "CG_LAB_KDC_LOG": self.kdc_log_path,
            "CG_LAB_LDAPI": self.ldapi_url,
            "CG_LAB_SLAPD_PID": str(self.pids["slapd"]),
            "CG_LAB_KDC_PID": str(self.pids["kdc"]),
            "CG_LAB_APACHE_PID": str(self.pids["apache"]),
            "CG_LAB_USERS": str(self.users),
        }
        tmp = self.path("env.tmp")
        with open(tmp, "w") as f:
            f.write("# written by kdc_lab.py; source it: . %s\n" % self.path("env"))
            for k, v in vals.items():
                f.write("export %s=%s\n" % (k, shlex.quote(v)))
        os.replace(tmp, self.path("env"))

    def _load_env(self):
        vals = {}
        with open(self.path("env")) as f:
            for line in f:
                line = line.strip()
                if line.startswith("export "):
                    k, _, v = line[len("export "):].partition("=")
                    vals[k] = shlex.split(v)[0] if v else ""
        self.realm = vals.get("CG_LAB_REALM", self.realm)
        self.kdc_port = int(vals.get("CG_LAB_KDC_PORT", "0") or 0)
        self.http_port = int(vals.get("CG_LAB_HTTP_PORT", "0") or 0)
        self.users = int(vals.get("CG_LAB_USERS", "0") or 0)
        for k, key in (("slapd", "CG_LAB_SLAPD_PID"), ("kdc", "CG_LAB_KDC_PID"), ("apache", "CG_LAB_APACHE_PID")):
            self.pids[k] = int(vals.get(key, "0") or 0)

    # -- running commands ----------------------------------------------------

    def run(self, cmd, input=None, check=True, timeout=30, env=None):
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env or self.env(), timeout=timeout, text=True, errors="replace")
        if check and p.returncode != 0:
            raise LabError("%s failed (exit %d):\n%s%s" % (" ".join(shlex.quote(c) for c in cmd),
                                                           p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def kadmin(self, *queries, check=True):
        """kadmin.local, all queries in one process (fast)."""
        p = self.run(["kadmin.local", "-r", self.realm], input="\n".join(queries) + "\nquit\n", check=check)
        # kadmin.local does not fail its exit status on a failing command: look at stderr
        if check and re.search(r"^(add_principal|modify_principal|ktadd|delete_principal|kadmin\.local): .*"
                               r"(error|not|failed|denied|exists|Cannot)", p.stderr, re.M | re.I):
            raise LabError("kadmin.local: %s" % p.stderr.strip())
        return p

    def ldapmodify(self, ldif, check=True):
        return self.run(["ldapmodify", "-x", "-H", self.ldapi_url, "-D", ROOTDN, "-w", ROOTPW],
                        input=ldif, check=check)

    def ldapsearch(self, base, filt="(objectClass=*)", *attrs):
        return self.run(["ldapsearch", "-LLL", "-x", "-H", self.ldapi_url, "-D", ROOTDN, "-w", ROOTPW,
                         "-b", base, filt] + list(attrs)).stdout

    # -- status --------------------------------------------------------------

    def running(self):
        """True when all three processes are alive and answer."""
        return (all(_pid_alive(self.pids[k]) for k in ("slapd", "kdc", "apache"))
                and _unix_accepts(self.ldapi_path) and _tcp_accepts(self.kdc_port)
                and _tcp_accepts(self.http_port))

    def kdc_running(self):
        return _pid_alive(self.pids["kdc"]) and _tcp_accepts(self.kdc_port)

    # -- start / stop --------------------------------------------------------

    def start(self, users=0, kdc_port=0, http_port=0):
        """Brings the lab up (or returns at once when it already runs).
        Ports default to free ones; the demo asks for fixed ones."""
        if os.path.exists(self.path("env")):
            self._load_env()
            if self.running():
                if users > self.users:
                    for i in range(self.users + 1, users + 1):
                        self.add_user("user%03d" % i)
                    self.users = users
                    self._write_env()
                return self
            self.stop()
        t0 = time.monotonic()
        self._check_tools()
        self._wipe()
        os.makedirs(self.dir, exist_ok=True)
        for d in ("ldapdb", "ccache", "rcache", "apache", "apache/htdocs", "apache/htdocs/bound",
                  "apache/run", "apache/logs"):
            os.makedirs(self.path(d), exist_ok=True)
        self.users = users
        self.kdc_port = kdc_port or _free_port_udp_tcp()
        self.http_port = http_port or _free_port_tcp(avoid=(self.kdc_port,))
        self._write_configs()
        try:
            self._start_slapd()
            self.timings["slapd"] = time.monotonic() - t0
            self._create_realm()
            self.timings["realm"] = time.monotonic() - t0
            self._create_principals(users)
            self.timings["principals"] = time.monotonic() - t0
            self.start_kdc()
            self.timings["kdc"] = time.monotonic() - t0
            self._start_apache()
            self.timings["apache"] = time.monotonic() - t0
        except BaseException:
            self._write_env()
            self.stop()
            raise
        self._write_env()
        self.timings["total"] = time.monotonic() - t0
        return self

    def stop(self):
        """Kills the lab's processes by PID; the files stay."""
        for k in ("apache", "kdc", "slapd"):
            pid = self.pids.get(k) or self._pidfile_pid(k)
            if pid:
                _kill(pid)
            self.pids[k] = 0
        if os.path.exists(self.path("env")):
            self._write_env()

    def _pidfile_pid(self, k):
        f = {"slapd": "slapd.pid", "kdc": "kdc.pid", "apache": "apache/run/httpd.pid"}[k]
        try:
            with open(self.path(f)) as fh:
                return int(fh.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _check_tools(self):
        missing = [t for t in ("slapd", "krb5kdc", "kdb5_ldap_util", "kadmin.local", "ldapmodify",
                               "apache2", "kvno", "kinit")
                   if not shutil.which(t, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")]
        if not os.path.exists(os.path.join(APACHE_MODULES, "mod_auth_gssapi.so")):
            missing.append("mod_auth_gssapi (libapache2-mod-auth-gssapi)")
        if missing:
            raise LabError("the Kerberos lab needs: %s (scripts/packages.txt: krb5-kdc krb5-admin-server "
                           "krb5-user krb5-kdc-ldap slapd ldap-utils apache2 libapache2-mod-auth-gssapi)"
                           % ", ".join(missing))

    def _wipe(self):
        """Removes what a previous lab left in DIR (only the lab's own files)."""
        for name in ("ldapdb", "ccache", "rcache", "apache"):
            shutil.rmtree(self.path(name), ignore_errors=True)
        for name in ("slapd.conf", "kerberos.schema", "krb5.conf", "kdc.conf", "kadm5.acl", "stash",
                     "ldap.stash", "proxy.keytab", "backend.keytab", "kdc.log", "slapd.log", "kdc.stderr",
                     "slapd.pid", "slapd.args", "kdc.pid", "env", "ldapi"):
            try:
                os.unlink(self.path(name))
            except FileNotFoundError:
                pass

    # -- configuration files ---------------------------------------------------

    def _write_configs(self):
        import gzip
        with gzip.open("/usr/share/doc/krb5-kdc-ldap/kerberos.schema.gz", "rt") as f:
            schema = f.read()
        with open(self.path("kerberos.schema"), "w") as f:
            f.write(schema)
        with open(self.path("slapd.conf"), "w") as f:
            f.write("""# private slapd for the certgate Kerberos lab (ldapi:// only)
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include {dir}/kerberos.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 268435456
suffix "{suffix}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {dir}/ldapdb
index objectClass eq
index krbPrincipalName eq,pres,sub
dbnosync
""".format(dir=self.dir, suffix=SUFFIX, rootdn=ROOTDN, rootpw=ROOTPW))
        with open(self.krb5_conf, "w") as f:
            f.write("""# certgate Kerberos lab: no DNS anywhere
[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    forwardable = true
    udp_preference_limit = 1
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
""".format(realm=self.realm, port=self.kdc_port, backend=BACKEND_HOST, proxy=PROXY_HOST))
        with open(self.kdc_conf, "w") as f:
            f.write("""# certgate Kerberos lab KDC: MIT krb5 with the LDAP database
[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {realm} = {{
        database_module = ldapconf
        key_stash_file = {dir}/stash
        acl_file = {dir}/kadm5.acl
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}

[dbmodules]
    ldapconf = {{
        db_library = kldap
        ldap_servers = {ldapi}
        ldap_kerberos_container_dn = cn=krbContainer,{suffix}
        ldap_kdc_dn = {rootdn}
        ldap_kadmind_dn = {rootdn}
        ldap_service_password_file = {dir}/ldap.stash
        ldap_conns_per_server = 2
    }}

[logging]
    kdc = FILE:{dir}/kdc.log
    admin_server = FILE:{dir}/kadmin.log
    default = FILE:{dir}/kdc.log
""".format(realm=self.realm, port=self.kdc_port, dir=self.dir, ldapi=self.ldapi_url,
           suffix=SUFFIX, rootdn=ROOTDN))
        with open(self.path("kadm5.acl"), "w") as f:
            f.write("*/admin@%s *\n" % self.realm)

    # -- slapd -------------------------------------------------------------------

    def _start_slapd(self):
        log = open(self.path("slapd.log"), "ab")
        # -d 0: stay in the foreground (the PID is ours) with no debug output
        p = subprocess.Popen(["slapd", "-d", "0", "-f", self.path("slapd.conf"), "-h", self.ldapi_url],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                             env=self.env())
        log.close()
        self.pids["slapd"] = p.pid
        self._write_env()
        deadline = time.monotonic() + 10
        while not _unix_accepts(self.ldapi_path):
            if p.poll() is not None:
                raise LabError("slapd exited (%s); its log:\n%s" % (p.returncode, self._tail("slapd.log")))
            if time.monotonic() > deadline:
                raise LabError("slapd did not listen on %s within 10 s" % self.ldapi_path)
            time.sleep(0.01)
        self.run(["ldapadd", "-x", "-H", self.ldapi_url, "-D", ROOTDN, "-w", ROOTPW],
                 input="dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: certgate lab\ndc: example\n"
                 % SUFFIX)

    def _create_realm(self):
        base = ["kdb5_ldap_util", "-D", ROOTDN, "-w", ROOTPW, "-H", self.ldapi_url]
        self.run(base + ["create", "-subtrees", SUFFIX, "-r", self.realm, "-s", "-P", MASTERPW])
        # stashsrvpw prompts twice for the bind password (read from stdin)
        self.run(base + ["stashsrvpw", "-f", self.path("ldap.stash"), ROOTDN], input="%s\n%s\n" % (ROOTPW, ROOTPW))

    def _create_principals(self, users):
        q = ["addprinc -pw %s alice" % USER_PW,
             "addprinc -pw %s bob" % USER_PW,
             "addprinc -randkey +ok_to_auth_as_delegate %s" % PROXY_SVC,
             "addprinc -randkey %s" % BACKEND_SVC]
        q += ["addprinc -randkey user%03d" % i for i in range(1, users + 1)]
        q += ["ktadd -k %s %s" % (self.proxy_keytab, PROXY_SVC),
              "ktadd -k %s %s" % (self.backend_keytab, BACKEND_SVC)]
        self.kadmin(*q)
        self.allow_delegation()
        self._backend_keytab_perms(self.backend_keytab)
        os.chmod(self.proxy_keytab, 0o600)

    def _backend_keytab_perms(self, path):
        if os.geteuid() == 0:
            import grp
            os.chown(path, 0, grp.getgrnam("www-data").gr_gid)
        os.chmod(path, 0o640)

    # -- KDC -----------------------------------------------------------------------

    def start_kdc(self):
        """Starts the KDC (only it) on the lab's port; returns when it answers."""
        if self.kdc_running():
            return
        err = open(self.path("kdc.stderr"), "ab")
        p = subprocess.Popen(["krb5kdc", "-n", "-r", self.realm, "-P", self.path("kdc.pid")],
                             stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True,
                             env=self.env())
        err.close()
        self.pids["kdc"] = p.pid
        self._write_env()
        deadline = time.monotonic() + 10
        while not _tcp_accepts(self.kdc_port):
            if p.poll() is not None:
                raise LabError("krb5kdc exited (%s):\n%s\n%s" % (p.returncode, self._tail("kdc.stderr"),
                                                                  self._tail("kdc.log")))
            if time.monotonic() > deadline:
                raise LabError("krb5kdc did not listen on 127.0.0.1:%d within 10 s" % self.kdc_port)
            time.sleep(0.01)

    def stop_kdc(self):
        """Stops the KDC only (the port stays the lab's: start_kdc reuses it)."""
        _kill(self.pids["kdc"])
        self.pids["kdc"] = 0
        self._write_env()

    # -- Apache ----------------------------------------------------------------------

    def _make_traversable(self):
        """As root, Apache's workers (www-data) read backend.keytab, krb5.conf and
        the pages inside DIR: DIR and its parents need o+x."""
        if os.geteuid() != 0:
            return
        d = self.dir
        while True:
            st = os.stat(d)
            if not st.st_mode & 0o001:
                os.chmod(d, (st.st_mode & 0o7777) | 0o001)
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
        for f in ("krb5.conf",):
            os.chmod(self.path(f), 0o644)
        import grp
        gid = grp.getgrnam("www-data").gr_gid
        os.chown(self.path("rcache"), 0, gid)
        os.chmod(self.path("rcache"), 0o770)

    def _write_apache_conf(self):
        root = self.path("apache")
        user = ""
        if os.geteuid() == 0:
            user = "User www-data\nGroup www-data\n"
        mods = ["mpm_event", "authn_core", "authz_core", "authz_user", "auth_gssapi", "include", "mime",
                "headers", "env", "setenvif", "alias"]
        tls = ""
        if self.https:
            mods += ["ssl", "socache_shmcb"]
            tls = ("Listen 127.0.0.1:{0} https\nSSLSessionCache shmcb:{1}/run/ssl_scache(512000)\n"
                   "<VirtualHost 127.0.0.1:{0}>\n    SSLEngine on\n    SSLCertificateFile {2}\n"
                   "    SSLCertificateKeyFile {3}\n</VirtualHost>\n").format(self.https[0], root, *self.https[1:])
        load = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m) for m in mods)
        conf = """# certgate Kerberos lab: the Negotiate backend HTTP/{backend}
ServerRoot {root}
{load}
{user}ServerName {backend}
Listen 127.0.0.1:{port}
{tls}PidFile {root}/run/httpd.pid
DefaultRuntimeDir {root}/run
Mutex file:{root}/run default
ErrorLog {root}/logs/error.log
{header_limit}LogLevel warn auth_gssapi:info
LogFormat "%h %{{remote}}p \\"%r\\" %>s user=\\"%u\\" conn=%{{c}}L keepalive=%k" lab
CustomLog {root}/logs/access.log lab
StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
Timeout 30
TypesConfig /etc/mime.types
DocumentRoot {root}/htdocs
PassEnv KRB5_CONFIG KRB5RCACHEDIR

<Directory />
    AllowOverride None
    Require all denied
</Directory>

<Directory {root}/htdocs>
    Options +IncludesNoExec
    AllowOverride None
    AuthType GSSAPI
    AuthName "certgate lab backend"
    GssapiCredStore keytab:{keytab}
    GssapiAllowedMech krb5
    GssapiBasicAuth Off
    Require valid-user
    <Files "whoami">
        ForceType application/json
        SetOutputFilter INCLUDES
    </Files>
    Header always set X-Remote-User "%{{REMOTE_USER}}e" env=REMOTE_USER
</Directory>

<Directory {root}/htdocs/bound>
    # mod_auth_gssapi does not merge its settings into nested directories:
    # repeat them, or it falls back to a default keytab that does not exist.
    GssapiCredStore keytab:{keytab}
    GssapiAllowedMech krb5
    GssapiBasicAuth Off
    GssapiConnectionBound On
</Directory>

<Location /public>
    Require all granted
</Location>
""".format(root=root, load=load, user=user, backend=BACKEND_HOST, port=self.http_port, tls=tls,
           keytab=self.backend_keytab,
           header_limit=("LimitRequestFieldSize %d\n" % self.header_limit) if self.header_limit else "")
        with open(os.path.join(root, "httpd.conf"), "w") as f:
            f.write(conf)
        page = ('{"remote_user": "<!--#echo var="REMOTE_USER" encoding="none" -->", '
                '"auth_type": "<!--#echo var="AUTH_TYPE" encoding="none" -->", '
                '"uri": "<!--#echo var="REQUEST_URI" encoding="none" -->", '
                '"authorization_sent": "<!--#if expr="-n %{HTTP:Authorization}" -->yes<!--#else -->no<!--#endif -->"}\n')
        for sub in ("htdocs", "htdocs/bound"):
            with open(os.path.join(root, sub, "whoami"), "w") as f:
                f.write(page)
            with open(os.path.join(root, sub, "index.html"), "w") as f:
                f.write("lab backend\n")
        # The same 7-byte file, open to all at /public and behind connection-bound
        # Kerberos at /bound/public: the benchmark compares a proxy delegating
        # to one with a proxy that does not, for the very same response.
        for rel in ("public", "bound/public"):
            with open(os.path.join(root, "htdocs", rel), "w") as f:
                f.write("public\n")

    header_limit = None  # Apache's LimitRequestFieldSize, None: its default (8190)
    https = None         # (port, certificate chain, key): also serve HTTPS (mod_ssl) there

    def enable_https(self, cert, key):
        """Restarts Apache serving the same pages over HTTPS too (mod_ssl) on
        a free port, with cert (leaf and chain, PEM) and key: the HTTPS-only
        IIS case. Returns the https:// URL."""
        self.https = (_free_port_tcp(avoid=(self.kdc_port, self.http_port)), cert, key)
        pid = self.pids.get("apache") or self._pidfile_pid("apache")
        if pid:
            _kill(pid)
        self.pids["apache"] = 0
        self._start_apache()
        deadline = time.monotonic() + 10
        while not _tcp_accepts(self.https[0]):
            if time.monotonic() > deadline:
                raise LabError("apache2 did not listen on 127.0.0.1:%d (https) within 10 s\n%s" % (
                    self.https[0], self._tail("apache/logs/error.log")))
            time.sleep(0.01)
        return "https://127.0.0.1:%d" % self.https[0]

    def set_backend_header_limit(self, limit):
        """Restarts Apache with LimitRequestFieldSize limit (None: the
        default): a backend whose header limit a large Kerberos token
        exceeds, as IIS's MaxFieldLength or a lowered Apache limit."""
        self.header_limit = limit
        pid = self.pids.get("apache") or self._pidfile_pid("apache")
        if pid:
            _kill(pid)
        self.pids["apache"] = 0
        self._start_apache()

    def _start_apache(self):
        self._write_apache_conf()
        self._make_traversable()
        root = self.path("apache")
        err = open(os.path.join(root, "logs", "stderr.log"), "ab")
        env = self.env()
        env.pop("KRB5_TRACE", None)
        p = subprocess.Popen(["apache2", "-f", os.path.join(root, "httpd.conf"), "-DFOREGROUND"],
                             stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True, env=env)
        err.close()
        self.pids["apache"] = p.pid
        self._write_env()
        deadline = time.monotonic() + 10
        while not _tcp_accepts(self.http_port):
            if p.poll() is not None:
                raise LabError("apache2 exited (%s):\n%s\n%s" % (
                    p.returncode, self._tail("apache/logs/stderr.log"), self._tail("apache/logs/error.log")))
            if time.monotonic() > deadline:
                raise LabError("apache2 did not listen on 127.0.0.1:%d within 10 s" % self.http_port)
            time.sleep(0.01)

    # -- KDC-side settings (the broken setups doctor and the tests need) ---------------

    def allow_delegation(self, target=None):
        """krbAllowedToDelegateTo on the proxy (what AD's Delegation tab sets)."""
        target = target or self.backend_principal
        self.ldapmodify("dn: %s\nchangetype: modify\nadd: krbAllowedToDelegateTo\nkrbAllowedToDelegateTo: %s\n"
                        % (self.proxy_dn, target), check=False)
        if target not in self.ldapsearch(self.proxy_dn, "(objectClass=*)", "krbAllowedToDelegateTo"):
            raise LabError("could not add krbAllowedToDelegateTo %s to %s" % (target, self.proxy_dn))

    def deny_delegation(self):
        """Removes every krbAllowedToDelegateTo from the proxy."""
        out = self.ldapsearch(self.proxy_dn, "(objectClass=*)", "krbAllowedToDelegateTo")
        if "krbAllowedToDelegateTo" in out:
            self.ldapmodify("dn: %s\nchangetype: modify\ndelete: krbAllowedToDelegateTo\n" % self.proxy_dn)

    def clear_ok_to_auth_as_delegate(self):
        self.kadmin("modprinc -ok_to_auth_as_delegate %s" % PROXY_SVC)

    def set_ok_to_auth_as_delegate(self):
        self.kadmin("modprinc +ok_to_auth_as_delegate %s" % PROXY_SVC)

    def add_user(self, name, password=None):
        if password:
            self.kadmin("addprinc -pw %s %s" % (password, name))
        else:
            self.kadmin("addprinc -randkey %s" % name)

    def disable_user(self, name):
        self.kadmin("modprinc -allow_tix %s" % name)

    def expire_user(self, name, expired):
        """The account's expiry date in the past (MIT -expire), or never."""
        self.kadmin('modprinc -expire %s %s' % ('"2020-01-01"' if expired else "never", name))

    def add_aes_only_service(self, spn, password):
        """A service principal whose only key is AES-256 (made from
        password). Returns the principal to use."""
        self.kadmin("addprinc -e aes256-cts:normal -pw %s %s" % (password, spn))
        return spn

    def password_keytab(self, path, principal, password, enctype, kvno=1):
        """A keytab with one key derived from password (ktutil addent
        -password): e.g. an RC4-only keytab made on a host that still
        allows RC4, for an account that has only AES keys."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.run(["ktutil"], input="addent -password -p %s@%s -k %d -e %s\n%s\nwkt %s\nquit\n"
                 % (principal, self.realm, kvno, enctype, password, path))
        os.chmod(path, 0o600)
        return path

    def set_user_delegable(self, name, delegable):
        """MIT's counterpart of AD's "Account is sensitive and cannot be delegated"."""
        self.kadmin("modprinc %sallow_forwardable %s" % ("+" if delegable else "-", name))

    def add_users(self, names):
        self.kadmin(*("addprinc -randkey %s" % n for n in names))

    def enable_user(self, name):
        self.kadmin("modprinc +allow_tix %s" % name)

    def rekey_backend(self):
        """New key for HTTP/backend; backend.keytab then holds only the new key
        (as after a service-account password change): tickets cached with the
        old key get 401 from Apache."""
        new = self.path("backend.keytab.new")
        try:
            os.unlink(new)
        except FileNotFoundError:
            pass
        self.kadmin("ktadd -k %s %s" % (new, BACKEND_SVC))
        self._backend_keytab_perms(new)
        os.replace(new, self.backend_keytab)

    def rekey_proxy_keytab_only(self, path):
        """Writes a keytab for the proxy whose key is stale (the KDC's key
        changed after it was exported): the kvno mismatch case."""
        shutil.copy(self.proxy_keytab, path)
        self.kadmin("ktadd -k %s %s" % (self.proxy_keytab, PROXY_SVC))
        # path has the old key only; proxy_keytab has both (old kvno and new)

    # -- KDC log ------------------------------------------------------------------------

    def kdc_log(self):
        try:
            with open(self.kdc_log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def s4u_counts(self, text=None):
        """{user: {"s4u2self": n, "s4u2proxy": n, "s4u2self_failed": n,
        "s4u2proxy_failed": n}} from the KDC log.

        MIT 1.20 logs a TGS_REQ line ("... ISSUE: ..." or the error), then for
        S4U requests a line "... PROTOCOL-TRANSITION s4u-client=USER@REALM"
        (S4U2Self) or "... CONSTRAINED-DELEGATION s4u-client=USER@REALM"
        (S4U2Proxy). An S4U2Proxy refused for a non-forwardable evidence
        ticket logs "TGS_REQ ... EVIDENCE_TKT_NOT_FORWARDABLE" without the user;
        MIT 1.20 (Debian 12) logs nothing more, and the refusal is counted for
        the user of the S4U2Self before it (the exchange's own, when requests
        do not interleave); MIT 1.21 (Debian 13) follows it with the
        "CONSTRAINED-DELEGATION s4u-client=USER" line of the same request,
        which then names the user (the one count moves there, never two)."""
        text = self.kdc_log() if text is None else text
        out = {}
        issued = False
        last_self = None
        not_forwardable = None  # user counted for this TGS_REQ's EVIDENCE_TKT_NOT_FORWARDABLE

        def counts(user):
            return out.setdefault(user, {"s4u2self": 0, "s4u2proxy": 0, "s4u2self_failed": 0,
                                         "s4u2proxy_failed": 0})
        for line in text.splitlines():
            if "TGS_REQ" in line:
                issued = ": ISSUE:" in line
                not_forwardable = None
                if ": EVIDENCE_TKT_NOT_FORWARDABLE:" in line and last_self:
                    counts(last_self)["s4u2proxy_failed"] += 1
                    not_forwardable = last_self
                continue
            m = re.search(r"\.\.\. (PROTOCOL-TRANSITION|CONSTRAINED-DELEGATION|RESOURCE-BASED-CONSTRAINED-DELEGATION)"
                          r" s4u-client=(\S+?)(?:@\S+)?$", line)
            if not m:
                continue
            kind = "s4u2self" if m.group(1) == "PROTOCOL-TRANSITION" else "s4u2proxy"
            if not_forwardable is not None and kind == "s4u2proxy":
                counts(not_forwardable)["s4u2proxy_failed"] -= 1   # MIT 1.21: the same refusal, now named
                not_forwardable = None
            counts(m.group(2))[kind if issued else kind + "_failed"] += 1
            last_self = m.group(2) if kind == "s4u2self" else None
        return out

    def mark_kdc_log(self):
        """The current size of the KDC log: pass it to s4u_counts_since()."""
        try:
            return os.path.getsize(self.kdc_log_path)
        except FileNotFoundError:
            return 0

    def s4u_counts_since(self, mark):
        with open(self.kdc_log_path, errors="replace") as f:
            f.seek(mark)
            return self.s4u_counts(f.read())

    def _tail(self, rel, n=30):
        try:
            with open(self.path(rel), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no %s)" % rel

    # -- checks by hand ---------------------------------------------------------------------

    def service_ticket(self, user, ccache):
        """kvno -U user: S4U2Self + S4U2Proxy to the backend with the proxy
        keytab, into the FILE ccache ccache (for curl --negotiate)."""
        env = self.env({"KRB5CCNAME": "FILE:" + ccache})
        self.run(["kinit", "-k", "-t", self.proxy_keytab, PROXY_SVC], env=env)
        return self.run(["kvno", "-k", self.proxy_keytab, "-U", user, "--out-cache", "FILE:" + ccache + ".s4u",
                         "-P", BACKEND_SVC], env=env)

    def curl_negotiate(self, ccache, path="/whoami"):
        """curl --negotiate with the tickets in ccache, to Apache at
        127.0.0.1:PORT while curl asks for HTTP@backend.example.test
        (--connect-to keeps DNS out of it)."""
        env = self.env({"KRB5CCNAME": "FILE:" + ccache})
        return self.run(["curl", "-sS", "--negotiate", "-u", ":", "--connect-to",
                         "%s:%d:127.0.0.1:%d" % (BACKEND_HOST, self.http_port, self.http_port),
                         "http://%s:%d%s" % (BACKEND_HOST, self.http_port, path)], env=env, check=False)

    def verify(self, user="alice"):
        """The by-hand check of KERBEROS-LAB.md; returns lines of what it saw."""
        out = []
        cc = self.path("ccache", "verify-" + user)
        for f in (cc, cc + ".s4u"):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
        p = self.service_ticket(user, cc)
        out.append("kvno -U %s -P %s: %s" % (user, BACKEND_SVC, (p.stdout + p.stderr).strip()))
        r = self.curl_negotiate(cc + ".s4u")
        out.append("curl --negotiate /whoami: %s" % (r.stdout.strip() or r.stderr.strip()))
        if ('"remote_user": "%s@%s"' % (user, self.realm)) not in r.stdout:
            raise LabError("the backend did not see %s@%s:\n%s" % (user, self.realm, "\n".join(out)))
        return out


COMMANDS = ["start", "stop", "status", "verify", "deny-delegation", "allow-delegation", "clear-ok-to-auth",
            "set-ok-to-auth", "stop-kdc", "start-kdc", "add-user", "rekey-backend", "s4u-count", "env",
            "set-rbcd", "clear-rbcd"]


def run_cli(argv, *, make_lab, default_realm, description, prog, title, add_args=None, start_kwargs=None):
    """The command line both labs share (this one and samba_lab.py): make_lab(dir,
    realm) gives the lab; add_args(parser) and start_kwargs(args) add a lab's
    own start options."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("command", choices=COMMANDS)
    ap.add_argument("dir")
    ap.add_argument("name", nargs="?")
    ap.add_argument("--realm", default=default_realm)
    ap.add_argument("--users", type=int, default=0)
    ap.add_argument("--kdc-port", type=int, default=0, help="fixed KDC port (default: a free one)")
    ap.add_argument("--http-port", type=int, default=0, help="fixed Apache port (default: a free one)")
    if add_args:
        add_args(ap)
    a = ap.parse_args(argv)
    lab = make_lab(a.dir, a.realm)
    try:
        if a.command == "start":
            t0 = time.monotonic()
            lab.start(users=a.users, kdc_port=a.kdc_port, http_port=a.http_port,
                      **(start_kwargs(a) if start_kwargs else {}))
            print("%s up in %.2f s: realm %s, KDC 127.0.0.1:%d, backend %s (SPN %s), env in %s"
                  % (title, time.monotonic() - t0, lab.realm, lab.kdc_port, lab.backend_url, lab.backend_spn,
                     lab.path("env")))
            if lab.timings:
                print("  " + ", ".join("%s %.2fs" % kv for kv in lab.timings.items()))
        elif a.command == "stop":
            lab.stop()
            print("lab stopped")
        elif a.command == "status":
            print("running" if lab.running() else "not running")
            return 0 if lab.running() else 1
        elif a.command == "env":
            sys.stdout.write(open(lab.path("env")).read())
        elif a.command == "verify":
            for line in lab.verify(a.name or "alice"):
                print(line)
        elif a.command == "deny-delegation":
            lab.deny_delegation()
        elif a.command == "allow-delegation":
            lab.allow_delegation()
        elif a.command == "clear-ok-to-auth":
            lab.clear_ok_to_auth_as_delegate()
        elif a.command == "set-ok-to-auth":
            lab.set_ok_to_auth_as_delegate()
        elif a.command in ("set-rbcd", "clear-rbcd"):
            if not hasattr(lab, "set_rbcd"):
                raise LabError("%s: this lab's KDC has no resource-based constrained delegation" % a.command)
            lab.set_rbcd(() if a.command == "clear-rbcd" else (a.name,) if a.name else None)
        elif a.command == "stop-kdc":
            lab.stop_kdc()
        elif a.command == "start-kdc":
            lab.start_kdc()
        elif a.command == "add-user":
            if not a.name:
                ap.error("add-user needs a NAME")
            lab.add_user(a.name)
        elif a.command == "rekey-backend":
            lab.rekey_backend()
        elif a.command == "s4u-count":
            for user, d in sorted(lab.s4u_counts().items()):
                if not a.name or a.name == user:
                    failed = ""
                    if "s4u2self_failed" in d:
                        failed = " (failed: s4u2self=%d s4u2proxy=%d)" % (d["s4u2self_failed"], d["s4u2proxy_failed"])
                    print("%-12s s4u2self=%d s4u2proxy=%d%s" % (user, d["s4u2self"], d["s4u2proxy"], failed))
    except LabError as e:
        print("%s: %s" % (prog, e), file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    return run_cli(argv, make_lab=lambda d, realm: Lab(d, realm=realm), default_realm="EXAMPLE.TEST",
                   description=__doc__.split("\n\n")[0], prog="kdc_lab", title="lab")


if __name__ == "__main__":
    sys.exit(main())
