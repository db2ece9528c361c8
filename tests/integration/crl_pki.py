"""Dev PKIs for the revocation tests, made with certs-dev/gen.sh, and the
CRL variants the tests serve: expired CRLs, CRLs signed by the wrong key,
CRLs that revoke something.

    p = make(tmp.join("pki"), "--cdp-base", "http://127.0.0.1:%d/crl" % port)
    p.crt("deep"), p.key("deep"), p.crl("sub2"), p.crl_der("sub1")
    q = p.copy(tmp.join("pki-revoked")); q.revoke("sub2")
    r = p.copy(tmp.join("pki-expired")); r.reissue("expired")
    p.forged_crl("intermediate", out_path)

Standard library only; needs the openssl command.
"""

import os
import shutil
import subprocess

import harness as H

GEN = os.path.join(H.SOURCE_ROOT, "certs-dev", "gen.sh")


def _run(cmd, cwd=None):
    env = dict(os.environ, OPENSSL_CONF="/dev/null")
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=H.t(120))
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode,
                                                      p.stdout.decode(errors="replace")))
    return p.stdout.decode(errors="replace")


class PKI(H.PKI):
    """A gen.sh PKI. The server certificate is the run's (H.pki()), so the
    harness's clients verify certgate as usual; client CAs are this PKI's."""

    def __init__(self, root):
        super().__init__(root)
        run = H.pki()
        self.own_server_crt, self.own_server_key = self.server_crt, self.server_key
        self.server_crt, self.server_key = run.server_crt, run.server_key

    def crt(self, name):
        return os.path.join(self.dir, "client", name + ".crt")

    def key(self, name):
        return os.path.join(self.dir, "client", name + ".key")

    def ca(self, name):
        return os.path.join(self.dir, "ca", name + ".crt")

    def crl(self, ca):
        return os.path.join(self.dir, "crl", ca + ".crl")

    def crl_der(self, ca):
        with open(os.path.join(self.dir, "crl", ca + ".crl.der"), "rb") as f:
            return f.read()

    def serial(self, path):
        out = _run(["openssl", "x509", "-in", path, "-noout", "-serial"])
        return out.strip().split("=", 1)[1].upper()

    def copy(self, dest):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(self.dir, dest)
        return PKI(dest)

    def revoke(self, *names, reason="keyCompromise", valid=None):
        """gen.sh --revoke; reason in openssl's words (keyCompromise, CACompromise, ...)."""
        args = ["bash", GEN, self.dir, "--revoke", *names, "--reason", reason]
        if valid:
            args += ["--crl-valid", valid]
        return _run(args)

    def reissue(self, valid):
        """Every CRL again, with validity valid (30d, 4s, expired, ...)."""
        return _run(["bash", GEN, self.dir, "--crl", "--crl-valid", valid])

    def forged_crl(self, ca, out):
        """A CRL with the name of CA ca but signed by another key (the rogue
        root's), as an attacker or a misconfigured CDP would serve it."""
        subject = _run(["openssl", "x509", "-in", self.ca(ca), "-noout", "-subject", "-nameopt",
                        "compat"]).strip().split("=", 1)[1]
        fake = os.path.join(self.dir, "state", "forged-%s.crt" % ca)
        _run(["openssl", "req", "-new", "-x509", "-key", "ca/rogue.key", "-subj", subject, "-days", "30",
              "-config", "state/%s.cnf" % ca, "-addext", "subjectKeyIdentifier=hash",
              "-addext", "basicConstraints=critical,CA:true",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", fake], cwd=self.dir)
        _run(["openssl", "ca", "-batch", "-config", "state/%s.cnf" % ca, "-gencrl", "-crldays", "30",
              "-cert", fake, "-keyfile", "ca/rogue.key", "-out", out], cwd=self.dir)
        for f in os.listdir(os.path.join(self.dir, "state", ca)):
            if f.endswith(".old"):
                os.unlink(os.path.join(self.dir, "state", ca, f))
        return out


def make(root, *args):
    """A fresh PKI in root (gen.sh ROOT ARGS...)."""
    _run(["bash", GEN, root, *args])
    return PKI(root)
