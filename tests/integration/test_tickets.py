"""Shared session-ticket keys (tls.session_ticket_keys, src/net/ticket_keys.c):
a TLS session (1.2; the *TLS13 classes: 1.3) from one certgate resumes on another that shares the key
file; rotation (a new key on top) with and without SIGHUP (the file is
checked every few seconds); a corrupt or missing file keeps the keys in
force; refusals survive resumption across instances; without the setting,
each process has keys of its own (unchanged behaviour). Sessions are carried
between processes by `openssl s_client -sess_out/-sess_in`."""

import base64
import os
import re
import signal
import subprocess
import unittest

import harness as H

TMP = H.module_tmp(__name__)
CHECK_S = 5  # server.c TICKET_KEYS_CHECK_MS


def tearDownModule():
    H.cleanup_module_tmp(__name__)


def new_key():
    p = H.run_certgate(["ticket-key", "generate"])
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip()
    assert len(base64.b64decode(line)) == 48, line
    return line


def key_name(line):
    return base64.b64decode(line)[:16].hex()


def write_keys(path, lines):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write("# written by test_tickets.py\n" + "".join(l + "\n" for l in lines))
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)  # as an operator's `mv`: a new inode


def ticket_name(sess_file):
    """The first 16 bytes of the session ticket in an s_client session file:
    the key name certgate sealed it under."""
    out = H.run_checked(["openssl", "sess_id", "-in", sess_file, "-noout", "-text"]).stdout.decode()
    m = re.search(r"TLS session ticket:\n((?:\s*[0-9a-f]{4} - .*\n)+)", out)
    assert m, "no ticket in the session:\n" + out
    hexbytes = []
    for line in m.group(1).splitlines():
        part = line.split(" - ", 1)[1][:48]
        hexbytes += part.replace("-", " ").split()
    return "".join(hexbytes[:16])


class TicketCase(H.Base):

    def start(self, name, keys_file=None, **kw):
        be = getattr(self, "backend", None)
        if be is None:
            self.backend = be = H.Backend(TMP, name=H.unique("backend")).start()
            self.addCleanup(be.stop)
        cg = H.Certgate(TMP, name=H.unique(name))
        tls = dict(kw.pop("tls_extra", {}))
        if keys_file:
            tls["session_ticket_keys"] = keys_file
        cg.configure(H.pki(), backends={"app": be.port}, tls_extra=tls, **kw)
        cg.start()
        self.addCleanup(cg.stop)
        return cg

    def session(self, cg, cert="alice"):
        sess = TMP.join(H.unique(cert) + ".sess")
        out, reused, r = H.s_client(cg.port, cert, sess_out=sess)
        self.assertFalse(reused, out[-3000:])
        self.assertTrue(os.path.exists(sess) and os.path.getsize(sess) > 0, "no session saved:\n" + out[-3000:])
        return sess, r, out

    def resume(self, cg, sess, cert="alice"):
        out, reused, r = H.s_client(cg.port, cert, sess_in=sess)
        self.assertIsNotNone(r, "no HTTP response:\n" + out[-3000:] + "\n" + cg.log_tail())
        return reused, r, out

    def keys(self, *lines):
        path = TMP.join(H.unique("ticket") + ".keys")
        write_keys(path, lines)
        return path


class TestSharedKeys(TicketCase):

    def test_session_from_one_instance_resumes_on_another(self):
        k1 = new_key()
        path = self.keys(k1)
        a, b = self.start("a", path), self.start("b", path)
        sess, r1, out1 = self.session(a)
        self.assertEqual(r1.status, 200, out1[-3000:])
        self.assertEqual(ticket_name(sess), key_name(k1))
        reused, r2, out2 = self.resume(b, sess)
        self.assertTrue(reused, "B did not resume A's session:\n" + out2[-3000:] + b.log_tail())
        self.assertEqual(r2.status, 200, out2[-3000:])
        # The identity and the backend headers come from the resumed session's leaf.
        info = H.pki().cert_info("alice")
        self.assertIn(info["sha256"], out2, out2[-3000:])
        # B knew nothing of alice's chain: it was rebuilt from the intermediate the
        # ticket carries, and revocation was checked (cache-only CRLs of the PKI).
        line = b.wait_log(event="tls_handshake", resumed="true")[0]
        self.assertEqual(H.normalize_serial(line.get("cert", "")), info["serial"], line)
        self.assertFalse(b.find_log(event="request", status="403"), b.log_tail())

    def test_refusals_survive_resumption_on_another_instance(self):
        path = self.keys(new_key())
        a, b = self.start("a", path), self.start("b", path)
        for name, status, code in [("untrusted", "403.16", "client_cert_untrusted"),
                                   ("expired", "403.17", "client_cert_expired"),
                                   ("noeku", "403.16", "client_cert_eku")]:
            with self.subTest(cert=name):
                sess, r1, out1 = self.session(a, name)
                self.assertEqual((r1.header("X-Certgate-Status"), r1.header("X-Certgate-Error")), (status, code),
                                 out1[-3000:])
                reused, r2, out2 = self.resume(b, sess, name)
                self.assertTrue(reused, out2[-3000:])
                self.assertEqual((r2.status, r2.header("X-Certgate-Status"), r2.header("X-Certgate-Error")),
                                 (403, status, code), out2[-3000:])

    def test_chain_limit_refusal_survives_resumption_on_another_instance(self):
        # alice sends leaf + intermediate: over max_client_certificates 1, refused
        # before verification; the session carries mbedTLS's "skipped" flag.
        path = self.keys(new_key())
        opts = {"tls_extra": {"max_client_certificates": 1}}
        a, b = self.start("a", path, **opts), self.start("b", path, **opts)
        sess, r1, out1 = self.session(a)
        self.assertEqual((r1.status, r1.header("X-Certgate-Status")), (403, "403.16"), out1[-3000:])
        reused, r2, out2 = self.resume(b, sess)
        self.assertTrue(reused, out2[-3000:])
        self.assertEqual((r2.status, r2.header("X-Certgate-Status")), (403, "403.16"), out2[-3000:])

    def test_another_listener_policy_does_not_resume(self):
        # Same keys, but B judges certificates differently (another depth limit):
        # the ticket is sealed for A's policy and B does a full handshake.
        path = self.keys(new_key())
        a = self.start("a", path)
        b = self.start("b", path, tls_extra={"max_chain_depth": 5})
        sess, _, _ = self.session(a)
        reused, r, out = self.resume(b, sess)
        self.assertFalse(reused, out[-3000:])
        self.assertEqual(r.status, 200, out[-3000:])

    def test_rotation(self):
        old, new = new_key(), new_key()
        path = self.keys(old)
        a, b = self.start("a", path), self.start("b", path)
        sess_old, _, _ = self.session(a)
        self.assertEqual(ticket_name(sess_old), key_name(old))

        # A new key on top; A is told at once (SIGHUP), B finds it by itself.
        write_keys(path, [new, old])
        a.signal(signal.SIGHUP)
        a.wait_log(event="reload", result="ok")
        sess_new, _, _ = self.session(a)
        self.assertEqual(ticket_name(sess_new), key_name(new), "new tickets must use the first key")
        b.wait_log(timeout=CHECK_S * 3, event="ticket_keys", keys="2")
        for cg in (a, b):
            for sess in (sess_old, sess_new):
                reused, r, out = self.resume(cg, sess)
                self.assertTrue(reused, "%s did not resume (%s):\n%s" % (cg.name, sess, out[-3000:]))
                self.assertEqual(r.status, 200, out[-3000:])

        # The old key retired (no signal: the periodic check): its tickets no
        # longer resume (a full handshake, still served), the new key's do.
        write_keys(path, [new])
        for cg in (a, b):
            cg.wait_log(timeout=CHECK_S * 3, event="ticket_keys", keys="1")
            reused, r, out = self.resume(cg, sess_old)
            self.assertFalse(reused, "a retired key's ticket resumed on %s:\n%s" % (cg.name, out[-3000:]))
            self.assertEqual(r.status, 200, out[-3000:])
            reused, r, out = self.resume(cg, sess_new)
            self.assertTrue(reused, out[-3000:])

    def test_corrupt_or_missing_file_keeps_the_keys(self):
        k = new_key()
        path = self.keys(k)
        a = self.start("a", path)
        sess, _, _ = self.session(a)

        with open(path, "w") as f:
            f.write(k[:40] + "\n")  # cut short
        line = a.wait_log(timeout=CHECK_S * 3, event="ticket_keys", level="error")[0]
        self.assertIn("line 1", line.get("detail", ""), line)
        self.assertEqual(line.get("keys"), "1", line)
        reused, r, out = self.resume(a, sess)
        self.assertTrue(reused, "the keys in force were dropped:\n" + out[-3000:])

        # A reload with the corrupt file is refused whole: the keys stay too.
        a.signal(signal.SIGHUP)
        a.wait_log(event="reload", result="failed")
        reused, r, out = self.resume(a, sess)
        self.assertTrue(reused, out[-3000:])

        os.unlink(path)
        a.wait_log(timeout=CHECK_S * 3, event="ticket_keys", level="error",
                   detail=lambda d: "cannot read" in d)
        reused, r, out = self.resume(a, sess)
        self.assertTrue(reused, out[-3000:])
        self.assertEqual(r.status, 200, out[-3000:])


class TestDefaults(TicketCase):

    def test_without_the_setting_keys_are_per_process(self):
        a, b = self.start("a"), self.start("b")
        sess, _, _ = self.session(a)
        reused, r, out = self.resume(b, sess)
        self.assertFalse(reused, "another process resumed a session without shared keys:\n" + out[-3000:])
        self.assertEqual(r.status, 200, out[-3000:])
        reused, r, out = self.resume(a, sess)
        self.assertTrue(reused, out[-3000:])


class TestKeyFileChecks(H.Base):

    def config(self, keys_text, mode=0o600, extra_tls=None):
        path = TMP.join(H.unique("check") + ".keys")
        with open(path, "w") as f:
            f.write(keys_text)
        os.chmod(path, mode)
        cfg = TMP.join(H.unique("check") + ".yaml")
        tls = {"session_ticket_keys": path}
        tls.update(extra_tls or {})
        with open(cfg, "w") as f:
            f.write(H.config_yaml(pki=H.pki(), port=H.free_port(), log_file=TMP.join("check.log"),
                                  backends={"app": 1}, tls_extra=tls))
        return cfg, path

    def test_check_reports_a_bad_file_at_its_key(self):
        cfg, path = self.config("# no key here\nnot-a-key\n")
        p = H.run_certgate(["check", "-c", cfg])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r"%s:\d+:\d+: .*session_ticket_keys .*line 2: not a key" % re.escape(cfg))
        # Refused at start too.
        p = subprocess.run([H.CERTGATE, "run", "-c", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=H.t(20))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("line 2: not a key", p.stderr)

    def test_readable_by_everyone_is_a_warning(self):
        cfg, path = self.config(new_key() + "\n", mode=0o644)
        p = H.run_certgate(["check", "-c", cfg])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("tls.session_ticket_keys %s is readable by every user" % path, p.stderr)
        cfg, path = self.config(new_key() + "\n", mode=0o600)
        p = H.run_certgate(["check", "-c", cfg])
        self.assertNotIn("session_ticket_keys", p.stderr)

    def test_unused_file_is_a_warning(self):
        cfg, _ = self.config(new_key() + "\n", extra_tls={"session_tickets": "false"})
        p = H.run_certgate(["check", "-c", cfg])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("session_tickets is false", p.stderr)

    def test_generate(self):
        a, b = new_key(), new_key()
        self.assertNotEqual(a, b)
        self.assertEqual(len(a), 64)
        p = H.run_certgate(["ticket-key"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: certgate ticket-key generate", p.stderr)


if __name__ == "__main__":
    unittest.main()


# The same cases with TLS 1.3 clients (harness.tls13): the verdicts, pages and
# resumption rules do not depend on the version.
TestSharedKeysTLS13 = H.tls13(TestSharedKeys)
TestDefaultsTLS13 = H.tls13(TestDefaults)
