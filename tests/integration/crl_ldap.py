"""A private OpenLDAP server (slapd) publishing CRLs, for the revocation tests.

    ldap = Slapd(tmpdir).start()        # ldap://127.0.0.1:<ldap.port>
    ldap.publish("Sub1", der_bytes)     # cn=Sub1,dc=example,dc=test
    ldap.url("Sub1")                    # the CDP URL for that entry
    ldap.stop()

Each entry is a cRLDistributionPoint (core schema) holding the CRL in
certificateRevocationList;binary, as an Active Directory CA publishes it.
slapd runs in the foreground with its own slapd.conf and database in tmpdir;
it needs the slapd and ldap-utils packages. Standard library only.
"""

import base64
import os
import shutil
import socket
import subprocess
import time

SUFFIX = "dc=example,dc=test"
ROOTDN = "cn=admin," + SUFFIX
ROOTPW = "certgate-test"
MODULE_DIRS = ("/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap", "/usr/lib64/openldap",
               "/usr/lib/openldap")
SCHEMA_DIRS = ("/etc/ldap/schema", "/etc/openldap/schema", "/usr/share/openldap/schema")


def slapd_binary():
    for p in ("/usr/sbin/slapd", "/usr/libexec/slapd", shutil.which("slapd") or ""):
        if p and os.path.exists(p):
            return p
    return None


def available():
    """None when slapd and ldapmodify are usable, else why not."""
    if not slapd_binary():
        return "slapd not installed (apt-get install slapd)"
    if not shutil.which("ldapmodify"):
        return "ldapmodify not installed (apt-get install ldap-utils)"
    if not any(os.path.exists(os.path.join(d, "core.schema")) for d in SCHEMA_DIRS):
        return "the OpenLDAP core schema was not found"
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Slapd:
    def __init__(self, tmpdir, port=None):
        self.dir = os.path.join(tmpdir, "slapd")
        self.port = port or _free_port()
        self.proc = None
        self.log_path = os.path.join(self.dir, "slapd.log")

    def url(self, cn, attr="certificateRevocationList;binary"):
        return "ldap://127.0.0.1:%d/cn=%s,%s?%s" % (self.port, cn, SUFFIX, attr)

    def _conf(self):
        schema = next(d for d in SCHEMA_DIRS if os.path.exists(os.path.join(d, "core.schema")))
        modules = next((d for d in MODULE_DIRS if os.path.exists(os.path.join(d, "back_mdb.la"))
                        or os.path.exists(os.path.join(d, "back_mdb.so"))), None)
        lines = ["include %s/core.schema" % schema]
        if modules:
            lines += ["modulepath %s" % modules, "moduleload back_mdb"]
        lines += ["pidfile %s/slapd.pid" % self.dir,
                  "database mdb",
                  "maxsize 67108864",
                  'suffix "%s"' % SUFFIX,
                  'rootdn "%s"' % ROOTDN,
                  "rootpw %s" % ROOTPW,
                  "directory %s/db" % self.dir,
                  "access to * by * read"]
        return "\n".join(lines) + "\n"

    def start(self, timeout=10):
        """Starts slapd (the database is made on the first start and kept:
        stop() then start() again is a restart with the same entries)."""
        conf = os.path.join(self.dir, "slapd.conf")
        if not os.path.exists(conf):
            os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
            with open(conf, "w") as f:
                f.write(self._conf())
            ldif = os.path.join(self.dir, "base.ldif")
            with open(ldif, "w") as f:
                f.write("dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\n"
                        "dc: example\n" % SUFFIX)
            slapadd = shutil.which("slapadd") or os.path.join(os.path.dirname(slapd_binary()), "slapadd")
            p = subprocess.run([slapadd, "-f", conf, "-l", ldif], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            if p.returncode != 0:
                raise AssertionError("slapadd failed:\n%s" % p.stdout.decode(errors="replace"))
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([slapd_binary(), "-f", conf, "-h",
                                      "ldap://127.0.0.1:%d/" % self.port, "-d", "0"],
                                     stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("slapd exited with %d:\n%s" % (self.proc.returncode,
                                                                   self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.3):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("slapd not listening on 127.0.0.1:%d after %ds\n%s" % (
            self.port, timeout, self.log_tail()))

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def publish(self, cn, der):
        """Creates or replaces the entry cn=CN holding the CRL der."""
        b64 = base64.b64encode(der).decode()
        add = ("dn: cn=%s,%s\nchangetype: add\nobjectClass: cRLDistributionPoint\ncn: %s\n"
               "certificateRevocationList;binary:: %s\n" % (cn, SUFFIX, cn, b64))
        if self._modify(add) == 68:  # already exists
            mod = ("dn: cn=%s,%s\nchangetype: modify\nreplace: certificateRevocationList;binary\n"
                   "certificateRevocationList;binary:: %s\n" % (cn, SUFFIX, b64))
            rc = self._modify(mod)
            if rc != 0:
                raise AssertionError("ldapmodify (replace) failed with %d" % rc)

    def remove(self, cn):
        self._modify("dn: cn=%s,%s\nchangetype: delete\n" % (cn, SUFFIX))

    def _modify(self, ldif):
        p = subprocess.run(["ldapmodify", "-x", "-H", "ldap://127.0.0.1:%d/" % self.port, "-D", ROOTDN,
                            "-w", ROOTPW], input=ldif.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        if p.returncode not in (0, 68):
            raise AssertionError("ldapmodify failed (%d):\n%s" % (p.returncode,
                                                                 p.stdout.decode(errors="replace")))
        return p.returncode

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
