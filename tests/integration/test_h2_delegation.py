"""HTTP/2 streams with Kerberos delegation (issue 15), against both labs of
test_delegation.py (MIT krb5 and Samba AD, each with Apache and
mod_auth_gssapi as the Negotiate backend): one body, one class per lab
(TestH2DelegationMIT, TestH2DelegationSamba).

  - alice and bob at once, each over one HTTP/2 connection with many
    parallel streams (nghttp) and with curl --http2: every backend request
    carries its own user's token (Apache's REMOTE_USER, echoed by /whoami,
    is that stream's user; the URI is that stream's);
  - a backend 401 (the backend's key changed: our cached ticket is refused)
    is answered with one fresh ticket per user and the stream succeeds,
    a small POST body replayed; parallel streams refused at once share that
    one fresh ticket (one S4U2Proxy);
  - an unknown user's Kerberos streams are refused (403 principal_unknown)
    while the other streams of the same connection (an open route) go on;
  - a connection-bound backend (GssapiConnectionBound): streams of one
    identity share its authenticated connections (later streams send no
    token), alice's and bob's streams at once each see their own user.
"""

import concurrent.futures
import html
import json
import shutil
import subprocess
import unittest

import harness as H
import test_delegation as TD


def tearDownModule():
    H.cleanup_module_tmp(__name__)
    H.cleanup_module_tmp(TD.__name__)  # the labs (and the Samba template) live there


def with_http2_and_open_route(yaml_text, lab):
    """test_delegation's configuration with http2 on its listener and a route
    /public to a backend without Kerberos (the lab's open file)."""
    out = yaml_text.replace("listeners:\n", "  - name: open\n    url: %s\nlisteners:\n" % lab.backend_url, 1)
    out = out.replace("    routes:\n", "    http2: true\n    routes:\n      - path: /public\n        backend: open\n", 1)
    assert "http2: true" in out and "name: open" in out
    return out


class H2DelegationCases:
    USERS = ["retry1", "retry2", "h2user1"]
    LAB = None

    @classmethod
    def setUpClass(cls):
        if not shutil.which("nghttp"):
            raise unittest.SkipTest("nghttp (nghttp2-client) is not installed")
        cls.lab = TD.start_lab(cls.LAB, "h2")
        try:
            cls.lab.add_users(cls.USERS)
            tmp = H.module_tmp(__name__)
            cls.pki = H.pki()
            cls.certs = TD.make_user_certs(cls.pki, tmp.join("usercerts-" + cls.LAB.name.lower()),
                                           cls.USERS + ["ghost"])
            realm = cls.lab.realm
            entries = {n: (c[2], "%s@%s" % (n, realm)) for n, c in cls.certs.items()}
            entries["alice"] = (cls.pki.cert_info("alice")["sha256"], "alice@" + realm)
            entries["bob"] = (cls.pki.cert_info("bob")["sha256"], "bob@" + realm)
            mapping = tmp.join("h2-mapping-%s.yaml" % cls.LAB.name.lower())
            with open(mapping, "w") as f:
                f.write(TD.mapping_yaml(entries, realm))
            cls.cg = H.Certgate(tmp, name="h2-delegation-" + cls.LAB.name.lower())
            cls.cg.write_config(with_http2_and_open_route(TD.certgate_yaml(cls.pki, cls.cg, cls.lab, mapping),
                                                          cls.lab))
            cls.cg.start()
        except BaseException:
            cls.lab.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.__dict__.get("cg") is not None:
                cls.cg.stop(check=True)
        finally:
            cls.lab.stop()

    # -- clients --

    def cert(self, user):
        if user in ("alice", "bob"):
            return self.pki.client(user)
        return self.certs[user][0], self.certs[user][1]

    def url(self, path):
        return "https://localhost:%d%s" % (self.cg.port, path)

    def nghttp(self, user, paths, timeout=30):
        """Popen of nghttp: every path a stream of one HTTP/2 connection, all at once."""
        crt, key = self.cert(user)
        return subprocess.Popen(["nghttp", "--cert", crt, "--key", key, "-t", str(H.t(timeout))] +
                                [self.url(p) for p in paths],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def curl_h2(self, user, paths, extra=(), timeout=30):
        """Popen of curl --http2: the paths one after the other on one connection."""
        crt, key = self.cert(user)
        cmd = ["curl", "-sS", "--http2", "--resolve", "localhost:%d:127.0.0.1" % self.cg.port,
               "--cacert", self.pki.root_crt, "--cert", crt, "--key", key, "--max-time", str(H.t(timeout))]
        cmd += list(extra) + [self.url(p) for p in paths]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def whoami_lines(self, proc, timeout=60):
        """The /whoami bodies (one JSON line each) a client printed."""
        out, err = proc.communicate(timeout=H.t(timeout))
        self.assertEqual(proc.returncode, 0, H.Explain(lambda: "%s\n%s\n%s" % (
            err.decode(errors="replace"), out[:2000], self.cg.diagnostics(30))))
        lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
        try:
            return [json.loads(line) for line in lines]
        except ValueError:
            self.fail("not one JSON line per stream: %r" % out[:3000])

    def principal(self, user):
        return "%s@%s" % (user, self.lab.realm)

    # -- tests --

    def test_alice_and_bob_at_once_each_stream_its_own_token(self):
        m = H.unique("")
        paths = {u: ["/whoami?%s-%s-%d" % (m, u, i) for i in range(20)] for u in ("alice", "bob")}
        curl_paths = {u: ["/whoami?%s-curl-%s-%d" % (m, u, i) for i in range(5)] for u in ("alice", "bob")}
        before = len(self.cg.log_entries())
        procs = {("nghttp", u): self.nghttp(u, paths[u]) for u in ("alice", "bob")}
        procs.update({("curl", u): self.curl_h2(u, curl_paths[u]) for u in ("alice", "bob")})
        for (tool, u), p in procs.items():
            seen = self.whoami_lines(p)
            sent = paths[u] if tool == "nghttp" else curl_paths[u]
            msg = H.Explain(lambda: "%s as %s: %r\n%s" % (tool, u, seen[:5], self.cg.diagnostics(20)))
            self.assertEqual(sorted(d["uri"] for d in seen), sorted(sent), msg)
            self.assertEqual({d["remote_user"] for d in seen}, {self.principal(u)}, msg)
            self.assertEqual({d["authorization_sent"] for d in seen}, {"yes"}, msg)
        # One connection per client, every stream its own line with http=2
        # (the log redacts queries: the lines are told apart by principal).
        lines = self.cg.log_entries()[before:]
        for u in ("alice", "bob"):
            mine = [e for e in lines if e.get("event") == "request" and e.get("principal") == self.principal(u)
                    and e.get("user_agent", "").startswith("nghttp2")]
            self.assertEqual(len(mine), 20, mine[:3])
            self.assertEqual({e.get("http") for e in mine}, {"2"})
            self.assertEqual({e.get("status") for e in mine}, {"200"})
            self.assertEqual(len({e["client"] for e in mine}), 1, "one connection")
            self.assertEqual(len({e["id"] for e in mine}), 20)

    def test_backend_401_one_fresh_ticket_per_user_body_replayed(self):
        for u in ("retry1", "retry2"):
            self.assertEqual({d["remote_user"] for d in self.whoami_lines(self.curl_h2(u, ["/whoami"]))},
                             {self.principal(u)})  # tickets cached
        mark = self.lab.mark_kdc_log()
        self.lab.rekey_backend()  # Apache no longer decrypts the cached tickets
        seen = self.whoami_lines(self.nghttp("retry1", ["/whoami"]))
        msg = H.Explain(lambda: "%r\n%s" % (seen, self.cg.diagnostics(30)))
        self.assertEqual([d["remote_user"] for d in seen], [self.principal("retry1")], msg)
        self.cg.wait_log(event="backend_401", principal=self.principal("retry1"))
        # A POST whose small body is kept and sent again with the fresh ticket.
        body = H.module_tmp(__name__).join("post-%s.txt" % self.LAB.name)
        with open(body, "w") as f:
            f.write("a=1&b=" + "x" * 2000)
        p = self.curl_h2("retry2", ["/whoami"], extra=["-o", "/dev/null", "-D", "-", "--data-binary", "@" + body])
        out, err = p.communicate(timeout=H.t(60))
        head = out.decode(errors="replace").lower()
        msg = H.Explain(lambda: "%s\n%s\n%s" % (head, err, self.cg.diagnostics(30)))
        self.assertIn("http/2", head, msg)
        self.assertNotIn("http/2 401", head, msg)
        self.assertIn("x-remote-user: " + self.principal("retry2").lower(), head, msg)
        self.cg.wait_log(event="backend_401", principal=self.principal("retry2"))
        counts = self.lab.s4u_counts_since(mark)
        for u in ("retry1", "retry2"):
            self.assertEqual(counts.get(u, {}).get("s4u2proxy"), 1, H.Explain(lambda: "%r\n%s" % (
                counts, self.cg.diagnostics(30))))

    def test_backend_401_parallel_streams_each_retried_once(self):
        self.whoami_lines(self.curl_h2("retry1", ["/whoami"]))  # a ticket cached
        mark = self.lab.mark_kdc_log()
        self.lab.rekey_backend()
        before = len(self.cg.log_entries())
        m = H.unique("")
        paths = ["/whoami?%s-%d" % (m, i) for i in range(6)]
        seen = self.whoami_lines(self.nghttp("retry1", paths))
        msg = H.Explain(lambda: "%r\n%s" % (seen, self.cg.diagnostics(30)))
        self.assertEqual(sorted(d["uri"] for d in seen), sorted(paths), msg)
        self.assertEqual({d["remote_user"] for d in seen}, {self.principal("retry1")}, msg)
        # Each refused stream is retried once, and they share one fresh
        # ticket: the first flushes the refused one, the others join its exchange.
        refused = [e for e in self.cg.log_entries()[before:]
                   if e.get("event") == "backend_401" and e.get("principal") == self.principal("retry1")]
        self.assertGreaterEqual(len(refused), 1, msg)
        self.assertLessEqual(len(refused), len(paths), msg)
        self.assertEqual(self.lab.s4u_counts_since(mark).get("retry1", {}).get("s4u2proxy"), 1, msg)

    def test_unknown_user_refused_per_stream_others_go_on(self):
        m = H.unique("")
        paths = ["/whoami?%s-a" % m, "/public?%s-b" % m, "/whoami?%s-c" % m, "/public?%s-d" % m]
        before = len(self.cg.log_entries())
        p = self.nghttp("ghost", paths)
        out, err = p.communicate(timeout=H.t(60))
        text = out.decode(errors="replace")
        self.assertNotIn("ghost@", text)
        self.assertNotIn(self.lab.realm, text)
        lines = {}
        for e in self.cg.log_entries()[before:]:
            if e.get("event") == "request" and e.get("principal") == "ghost@" + self.lab.realm:
                lines.setdefault(e["path"].split("?")[0], []).append(e)
        msg = H.Explain(lambda: "%r\n%s\n%s" % (lines, err, self.cg.diagnostics(30)))
        self.assertEqual(sorted(lines), ["/public", "/whoami"], msg)
        self.assertEqual([e["status"] for e in lines["/whoami"]], ["403", "403"], msg)
        self.assertEqual([e["status"] for e in lines["/public"]], ["200", "200"], msg)
        self.assertEqual(len({e["client"] for v in lines.values() for e in v}), 1, "one connection")
        for e in lines["/whoami"]:
            refused = self.cg.wait_log(event="refused", id_=e["id"])[0]
            self.assertEqual(refused["code"], "principal_unknown", msg)
            self.assertIn("ghost@" + self.lab.realm, refused["detail"], msg)
        # Both refusal pages, in the user's words, in what the client printed.
        self.assertEqual(html.unescape(text).count("linked to an account that does not exist"), 2, msg)

    def test_connection_bound_idle_connection_lost_next_stream_gets_a_token(self):
        """HTTP/2's side of test_delegation's
        test_connection_bound_idle_connection_lost_next_request_gets_a_token:
        alice's authenticated idle backend connection ends (ss -K on Apache's
        side) while certgate is stopped and her next stream arrives; that
        stream goes on a new connection with a token (h2_backend.c's
        CG_BACKEND_ESTALE path), no 401 round trip."""
        from urllib.parse import urlsplit
        from test_http2 import DATA, END_HEADERS, END_STREAM, HEADERS, H2Client, field_block, frame, request_fields
        apache_port = urlsplit(self.lab.backend_url).port
        principal = "alice@" + self.lab.realm
        c = H2Client(self.cg.port, "alice")
        self.addCleanup(c.close)
        self.assertEqual(c.alpn, "h2")

        def send_stream(sid):
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, field_block(request_fields("/bound/whoami"))))

        def whoami(sid):
            got = c.until(lambda fs: any(f[0] == DATA and f[2] == sid and f[1] & END_STREAM for f in fs),
                          timeout=15)
            body = b"".join(f[3] for f in got if f[0] == DATA and f[2] == sid)
            try:
                return json.loads(body)
            except ValueError:
                raise AssertionError("stream %d: %r\n%s" % (sid, body[:300], self.cg.diagnostics(30)))

        sid = 1
        for request_first in (True, False, True, False):
            send_stream(sid)
            self.assertEqual(whoami(sid)["remote_user"], principal)  # an authenticated connection, idle again
            sid += 2
            before = len(self.cg.find_log(event="backend_401", principal=principal))
            TD.lose_backend_connections_while_stopped(self, self.cg, apache_port, lambda: send_stream(sid),
                                                      request_first)
            got = whoami(sid)
            sid += 2
            msg = H.Explain(lambda: "request_first=%s %r\n%s" % (request_first, got, self.cg.diagnostics(30)))
            self.assertEqual(got["remote_user"], principal, msg)
            self.assertEqual(got["authorization_sent"], "yes", msg)
            self.assertEqual(len(self.cg.find_log(event="backend_401", principal=principal)), before, msg)

    def test_connection_bound_backend_streams_share_the_identity_connection(self):
        # One after the other on one HTTP/2 connection: the first stream's
        # backend connection authenticates, later streams reuse it without a token.
        seen = self.whoami_lines(self.curl_h2("h2user1", ["/bound/whoami"] * 5))
        msg = H.Explain(lambda: "%r\n%s" % (seen, self.cg.diagnostics(30)))
        self.assertEqual({d["remote_user"] for d in seen}, {self.principal("h2user1")}, msg)
        sent = [d["authorization_sent"] for d in seen]
        self.assertEqual(sent[0], "yes", msg)
        self.assertIn("no", sent[1:], msg)
        # alice and bob at once, streams in parallel: each identity's backend
        # connections are its own (Apache would name the first user otherwise).
        m = H.unique("")
        paths = {u: ["/bound/whoami?%s-%s-%d" % (m, u, i) for i in range(8)] for u in ("alice", "bob")}
        sent = set()
        for _ in range(6):  # a later round finds authenticated idle connections (on its worker)
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
                got = dict(zip(("alice", "bob"), ex.map(lambda u: self.whoami_lines(self.nghttp(u, paths[u])),
                                                        ("alice", "bob"))))
            for u, lines in got.items():
                msg = H.Explain(lambda: "%s: %r\n%s" % (u, lines[:4], self.cg.diagnostics(30)))
                self.assertEqual(sorted(d["uri"] for d in lines), sorted(paths[u]), msg)
                self.assertEqual({d["remote_user"] for d in lines}, {self.principal(u)}, msg)
                sent |= {d["authorization_sent"] for d in lines}
            if "no" in sent:
                break
        self.assertIn("no", sent)


class TestH2DelegationMIT(H2DelegationCases, H.Base):
    LAB = TD.MIT


class TestH2DelegationSamba(H2DelegationCases, H.Base):
    LAB = TD.SAMBA
