#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus-NAME/).

    python3 tests/fuzz/make_corpus.py [NAME...]     # default: every target

Run from anywhere; needs openssl. The corpora are committed: run this again
only to change the seeds (crashing inputs found later are committed next to
them by hand, named crash-*, leak-*...). Each target's input format is
described at the top of its fuzz_NAME.c. Mapping: 'C' + DER maps a
certificate with the built-in mapping, 'G' pattern NUL value, 'D' a DN, and
anything else is a mapping file optionally followed by "\\n#%%DER%%\\n" + DER.
"""
import base64
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus-mapping")
SEP = b"\n#%%DER%%\n"


def der_of(pem_path):
    return subprocess.run(["openssl", "x509", "-in", pem_path, "-outform", "DER"],
                          check=True, capture_output=True).stdout


def spki_of(pem_path):
    pub = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    return subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                          check=True, capture_output=True).stdout


def tlv(tag, *parts):
    body = b"".join(parts)
    n = len(body)
    if n < 0x80:
        head = bytes([tag, n])
    elif n < 0x100:
        head = bytes([tag, 0x81, n])
    else:
        head = bytes([tag, 0x82, n >> 8, n & 0xFF])
    return head + body


OID = {"CN": b"\x55\x04\x03", "O": b"\x55\x04\x0a", "OU": b"\x55\x04\x0b", "C": b"\x55\x04\x06",
       "DC": b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x19", "UID": b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x01",
       "E": b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01", "SN": b"\x55\x04\x05"}
UPN = b"\x2b\x06\x01\x04\x01\x82\x37\x14\x02\x03"


def attr(t, value, tag=0x0C):
    return tlv(0x30, tlv(0x06, OID[t]), tlv(tag, value))


def name(*rdns):
    return tlv(0x30, *[tlv(0x31, *r) for r in rdns])


def san(*gns):
    return tlv(0x30, tlv(0x06, b"\x55\x1d\x11"), tlv(0x04, tlv(0x30, *gns)))


def cert(subject, exts=(), serial=b"\x11"):
    alg = tlv(0x30, tlv(0x06, b"\x2a\x86\x48\xce\x3d\x04\x03\x02"))
    issuer = name([attr("C", b"US", 0x13)], [attr("O", b"Example")], [attr("CN", b"Example Dev Intermediate CA")])
    validity = tlv(0x30, tlv(0x17, b"250101000000Z"), tlv(0x17, b"350101000000Z"))
    spki = spki_of(os.path.join(ROOT, "certs-dev", "client", "alice.crt"))
    ext = tlv(0xA3, tlv(0x30, *exts)) if exts else b""
    tbs = tlv(0x30, tlv(0xA0, tlv(0x02, b"\x02")), tlv(0x02, serial), alg, issuer, validity, subject, spki, ext)
    sig = tlv(0x03, b"\x00" + tlv(0x30, tlv(0x02, b"\x01"), tlv(0x02, b"\x01")))
    return tlv(0x30, tbs, alg, sig)


def write(fname, data):
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(data)


def mapping():
    global OUT
    OUT = os.path.join(HERE, "corpus-mapping")
    os.makedirs(OUT, exist_ok=True)
    alice = der_of(os.path.join(ROOT, "certs-dev", "client", "alice.crt"))
    bob = der_of(os.path.join(ROOT, "certs-dev", "client", "bob.crt"))
    odd = {
        "nul-cn": cert(name([attr("O", b"Example")], [attr("CN", b"alice\x00@evil")])),
        "bmp-cn": cert(name([attr("CN", "Zoë".encode("utf-16-be"), 0x1E)])),
        "multi-rdn": cert(name([attr("O", b"Example")], [attr("OU", b"Sales"), attr("CN", b"bob")])),
        "two-ous": cert(name([attr("OU", b"Sales")], [attr("OU", b"Contractors")], [attr("CN", b"carol")])),
        "special": cert(name([attr("CN", b"Smith, John+Jr \"x\" <y>;z\\")])),
        "bad-utf8": cert(name([attr("CN", b"b\xc3\x28")])),
        "control": cert(name([attr("CN", b"bob\x1b[31m")])),
        "all-fields": cert(name([attr("DC", b"test", 0x16)], [attr("DC", b"example", 0x16)],
                                [attr("C", b"DE", 0x13)], [attr("UID", b"dave42")], [attr("SN", b"*EMP", 0x13)],
                                [attr("E", b"dave@example.test", 0x16)], [attr("CN", b"Dave")]),
                           [san(tlv(0x82, b"Dave.example.test"), tlv(0x86, b"https://id.example.test/dave"),
                                tlv(0x81, b"carol@example.test"),
                                tlv(0xA0, tlv(0x06, UPN), tlv(0xA0, tlv(0x0C, b"dave@EXAMPLE.TEST"))))]),
        "upn-nul": cert(name([attr("CN", b"u")]),
                        [san(tlv(0xA0, tlv(0x06, UPN), tlv(0xA0, tlv(0x0C, b"a\x00@EXAMPLE.TEST"))))]),
    }
    write("cert-alice", b"C" + alice)
    write("cert-bob", b"C" + bob)
    for k, v in odd.items():
        write("cert-" + k, b"C" + v)
    demo = open(os.path.join(ROOT, "conf", "demo-mapping.yaml"), "rb").read()
    write("yaml-demo", demo)
    write("yaml-demo-alice", demo + SEP + alice)
    write("yaml-demo-nul", demo + SEP + odd["nul-cn"])
    example = os.path.join(ROOT, "conf", "mapping.example.yaml")
    if os.path.exists(example):
        write("yaml-example", open(example, "rb").read())
    write("yaml-strong", b"default_realm: EXAMPLE.TEST\none_to_one:\n"
          b"  - issuer: \"CN=Example Dev Intermediate CA, O=Example, C=US\"\n    serial: \"11\"\n"
          b"    principal: \"{subject.CN}\"\n  - rfc822: carol@example.test\n    principal: carol\n"
          b"  - ski: 0102\n    principal: x\n    enabled: false\n" + SEP + odd["all-fields"])
    write("yaml-errors", b"one_to_one:\n  - certificate: \"MIIFwjDwAwggEKAo...O5U=\"\n    principal: a\n"
          b"many_to_one:\n  - name: m\n    action: deny\n    principal: x@Y\n"
          b"    rules: [{field: subject, sub_field: upn, pattern: \"a\\\\b\"}]\nbogus: &a 1\n")
    write("yaml-shadow", b"many_to_one:\n  - name: a\n    principal: a@X\n    rules: [{field: subject, sub_field: OU, pattern: \"Sa*\"}]\n"
          b"  - name: b\n    principal: \"{subject.OU|upper}@X\"\n    rules: [{field: subject, sub_field: OU, pattern: Sales},"
          b" {field: subject, sub_field: CN, pattern: \"?o?\", case_sensitive: false}]\n" + SEP + odd["multi-rdn"])
    write("glob-1", b"Ga*b?c\\*d\x00aXXbYc*d")
    write("glob-2", b"G*?*\\\\?\x00\xc3\xa9\xc3\xa9\\x")
    write("dn-1", b"DCN=a\\,b + OU=x,O=Ex\\41mple, 2.5.4.65=p")
    write("dn-2", b"DC=US,O=Example,CN=Example CA")


# ---- crl: DER and PEM CRLs, LDAP answers ----

def crl_der(issuer, entries=(), exts=(), next_update=True, version=True):
    """A CRL with a dummy signature (the parser does not verify it)."""
    alg = tlv(0x30, tlv(0x06, b"\x2a\x86\x48\xce\x3d\x04\x03\x02"))
    parts = [tlv(0x02, b"\x01")] if version else []
    parts += [alg, issuer, tlv(0x17, b"250101000000Z")]
    if next_update:
        parts.append(tlv(0x18, b"20350101000000Z"))
    if entries:
        parts.append(tlv(0x30, *entries))
    if exts:
        parts.append(tlv(0xA0, tlv(0x30, *exts)))
    sig = tlv(0x03, b"\x00" + tlv(0x30, tlv(0x02, b"\x01"), tlv(0x02, b"\x01")))
    return tlv(0x30, tlv(0x30, *parts), alg, sig)


def ext(oid, value, critical=False):
    return tlv(0x30, tlv(0x06, oid), *([tlv(0x01, b"\xff")] if critical else []), tlv(0x04, value))


def entry(serial, reason=None):
    exts = [ext(b"\x55\x1d\x15", tlv(0x0A, bytes([reason])))] if reason is not None else []
    return tlv(0x30, tlv(0x02, serial), tlv(0x17, b"250102000000Z"), *([tlv(0x30, *exts)] if exts else []))


def dps(*urls, crl_issuer=False):
    gn = tlv(0xA0, tlv(0xA0, *[tlv(0x86, u) for u in urls]))
    extra = [tlv(0xA2, tlv(0xA4, name([attr("CN", b"other")])))] if crl_issuer else []
    return tlv(0x30, tlv(0x30, gn, *extra))


def pem(der, label=b"X509 CRL"):
    b64 = base64.encodebytes(der).replace(b"\n", b"")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return b"-----BEGIN " + label + b"-----\n" + b"\n".join(lines) + b"\n-----END " + label + b"-----\n"


def crl():
    crl_dir = os.path.join(ROOT, "certs-dev", "crl")
    for f in sorted(os.listdir(crl_dir)):  # made by certs-dev/gen.sh with openssl
        write(f.replace(".", "-"), open(os.path.join(crl_dir, f), "rb").read())
    issuer = name([attr("C", b"US", 0x13)], [attr("O", b"Example")], [attr("CN", b"Example Dev Intermediate CA")])
    full = crl_der(issuer, [entry(b"\x01"), entry(b"\x00\x80", 1), entry(b"\x2b\xd2\xf8\x90\x2b\xfd\x90\xd0\xf1", 6)],
                   [ext(b"\x55\x1d\x14", tlv(0x02, b"\x10")),
                    ext(b"\x55\x1d\x23", tlv(0x30, tlv(0x80, bytes(range(20))))),
                    ext(b"\x55\x1d\x2e", dps(b"http://127.0.0.1:9/delta.crl", b"ldap://h/cn=x?deltaRevocationList")),
                    ext(b"\x55\x1d\x1c", tlv(0x30, tlv(0x81, b"\xff")), True)])
    write("ext-all", full)
    write("ext-all-pem", pem(full))
    write("delta", crl_der(issuer, [entry(b"\x05", 8)], [ext(b"\x55\x1d\x14", tlv(0x02, b"\x11")),
                                                          ext(b"\x55\x1d\x1b", tlv(0x02, b"\x10"), True)]))
    write("idp-scopes", crl_der(issuer, [], [ext(b"\x55\x1d\x1c", tlv(0x30, tlv(0x82, b"\xff"), tlv(0x83, b"\x07\x80"),
                                                                        tlv(0x84, b"\xff"), tlv(0x85, b"\xff")), True)]))
    write("no-next-update-v1", crl_der(issuer, [entry(b"\x07")], next_update=False, version=False))
    write("unknown-critical", crl_der(issuer, [], [ext(b"\x2b\x06\x01\x04\x01\x82\x37\x63\x01", b"\x05\x00", True)]))
    write("indirect-entry", crl_der(issuer, [tlv(0x30, tlv(0x02, b"\x09"), tlv(0x17, b"250102000000Z"),
                                                 tlv(0x30, ext(b"\x55\x1d\x1d", tlv(0x30, tlv(0x86, b"x")), True)))]))
    write("freshest-cut", crl_der(issuer, [], [ext(b"\x55\x1d\x2e", tlv(0x30, tlv(0x30, tlv(0xA0, tlv(0xA0,
          tlv(0x86, b"http://a/1.crl"), tlv(0x86, b"http://a/2.crl"))), b"\x05\x00\x01")))]))
    write("ldap", b"DN: cn=Example Dev Intermediate CA,o=Example\n\tcertificateRevocationList;binary:: " +
          base64.b64encode(full) + b"\n\n")
    write("ldap-empty", b"DN: cn=x\n\tcn: x\n")
    write("html", b"<html><body>404</body></html>")
    write("pem-other", pem(b"\x30\x03\x02\x01\x01", b"CERTIFICATE"))


# ---- cert_ext: records [selector][length 2 bytes][extension value], or 'D' + DER ----

def rec(sel, value):
    return bytes([sel, len(value) >> 8, len(value) & 0xFF]) + value


CDP, FRESHEST, SAN, SKI, AIA, AKI, BC, KU, EKU, POLICIES, IAN, IDP, TEMPLATE, CDP2, SAN2, PRIVATE = range(16)


def cert_ext():
    for d in ("client", "ca", "server"):  # made by certs-dev/gen.sh with openssl
        for f in sorted(os.listdir(os.path.join(ROOT, "certs-dev", d))):
            if f.endswith(".crt"):
                write("der-" + d + "-" + f[:-4], b"D" + der_of(os.path.join(ROOT, "certs-dev", d, f)))
    upn = tlv(0xA0, tlv(0x06, UPN), tlv(0xA0, tlv(0x0C, b"alice@EXAMPLE.TEST")))
    write("cdp-one", rec(CDP, dps(b"http://127.0.0.1:8081/crl/intermediate.crl")))
    write("cdp-two-urls", rec(CDP, dps(b"http://127.0.0.1:9/int.crl", b"ldap://127.0.0.1:9/cn=x?crl")))
    write("cdp-two-dps", rec(CDP, tlv(0x30, tlv(0x30, tlv(0xA0, tlv(0xA0, tlv(0x86, b"http://a/1.crl")))),
                                      tlv(0x30, tlv(0xA0, tlv(0xA0, tlv(0x86, b"http://b/2.crl"))),
                                              tlv(0x81, b"\x05\x60")))))
    write("cdp-crl-issuer", rec(CDP, dps(b"http://a/1.crl", crl_issuer=True)))
    write("cdp-name-relative", rec(CDP, tlv(0x30, tlv(0x30, tlv(0xA0, tlv(0xA1, attr("CN", b"crl")))))))
    write("cdp-dirname", rec(CDP, tlv(0x30, tlv(0x30, tlv(0xA0, tlv(0xA0, tlv(0xA4, name([attr("CN", b"x")]))))))))
    # A valid URI, then a distribution point cut short: what the leak report describes.
    write("cdp-then-cut", rec(CDP, tlv(0x30, tlv(0x30, tlv(0xA0, tlv(0xA0, tlv(0x86, b"http://a/1.crl"))),
                                                 b"\x81\x05\x00"))))
    write("freshest", rec(FRESHEST, dps(b"http://127.0.0.1:9/delta.crl")) + rec(CDP, dps(b"http://a/base.crl")))
    write("san-all", rec(SAN, tlv(0x30, upn, tlv(0x81, b"alice@example.test"), tlv(0x82, b"alice.example.test"),
                                  tlv(0x86, b"https://id.example.test/alice"), tlv(0x87, b"\x7f\x00\x00\x01"),
                                  tlv(0xA4, name([attr("CN", b"alice")])))))
    write("san-upn-bmp", rec(SAN, tlv(0x30, tlv(0xA0, tlv(0x06, UPN), tlv(0xA0, tlv(0x1E, "bø@X".encode("utf-16-be")))))))
    write("san-other-name", rec(SAN, tlv(0x30, tlv(0xA0, tlv(0x06, b"\x2b\x06\x01\x05\x05\x07\x08\x04"),
                                                     tlv(0xA0, tlv(0x30, tlv(0x06, b"\x2b\x06\x01"), tlv(0x04, b"x")))))))
    write("ski", rec(SKI, tlv(0x04, bytes.fromhex("802dadf3fe00a0467f9c451d8cd23f57b022b751"))) +
          rec(SAN, tlv(0x30, upn)))
    write("aia", rec(AIA, tlv(0x30, tlv(0x30, tlv(0x06, b"\x2b\x06\x01\x05\x05\x07\x30\x01"), tlv(0x86, b"http://ocsp/")),
                                    tlv(0x30, tlv(0x06, b"\x2b\x06\x01\x05\x05\x07\x30\x02"), tlv(0x86, b"http://ca/i.crt")))))
    write("aki-bc-ku-eku", rec(AKI, tlv(0x30, tlv(0x80, bytes(20)))) + rec(BC | 0x80, tlv(0x30)) +
          rec(KU | 0x80, tlv(0x03, b"\x07\x80")) + rec(EKU, tlv(0x30, tlv(0x06, b"\x2b\x06\x01\x05\x05\x07\x03\x02"))))
    write("ca-with-cdp", rec(BC | 0x80, tlv(0x30, tlv(0x01, b"\xff"))) + rec(CDP, dps(b"http://127.0.0.1:9/root.crl")))
    write("policies-template", rec(POLICIES, tlv(0x30, tlv(0x30, tlv(0x06, b"\x55\x1d\x20\x00")))) +
          rec(TEMPLATE, tlv(0x1E, "User".encode("utf-16-be"))) + rec(PRIVATE | 0x80, b"\x05\x00"))


# ---- http_request / http_body / http_response ----

def crlf(s):
    return s.replace(b"\n", b"\r\n")


REQUESTS = {
    "get": b"GET /index.html?q=1 HTTP/1.1\nHost: app.example.test\nUser-Agent: curl/7.88\nAccept: */*\n\n",
    "post-length": b"POST /api/items HTTP/1.1\nHost: a\nContent-Type: application/json\nContent-Length: 11\n\n{\"a\":12345}",
    "post-chunked": b"POST /up HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n5;ext=1\nhello\n6\n world\n0\nX-Trailer: t\n\n",
    "http10": b"GET / HTTP/1.0\nConnection: keep-alive\n\n",
    "hop-by-hop": b"GET / HTTP/1.1\nHost: a\nConnection: close, X-Secret\nX-Secret: s\nKeep-Alive: 5\nTE: trailers\n"
                  b"Upgrade: h2c\nProxy-Authorization: Basic x\nAuthorization: Basic y\nX-Client-Cert-Subject: CN=evil\n"
                  b"X-Certgate-Principal: admin\nX_Client_Cert_Serial: 1\nForwarded: for=1.2.3.4\n"
                  b"X-Forwarded-For: 6.6.6.6\nX-Request-Id: mine\n\n",
    "expect": b"PUT /f HTTP/1.1\nHost: a\nExpect: 100-continue\nContent-Length: 3\n\nabc",
    "options-star": b"OPTIONS * HTTP/1.1\nHost: a\n\n",
    "pipelined": b"GET /1 HTTP/1.1\nHost: a\n\nGET /2 HTTP/1.1\nHost: a\n\n",
    "cl-and-te": b"POST / HTTP/1.1\nHost: a\nContent-Length: 4\nTransfer-Encoding: chunked\n\n0\n\n",
    "two-cl": b"POST / HTTP/1.1\nHost: a\nContent-Length: 4\nContent-Length: 5\n\nabcde",
    "te-gzip": b"POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, chunked\n\n0\n\n",
    "obs-fold": b"GET / HTTP/1.1\nHost: a\nX-A: 1\n  2\n\n",
    "absolute": b"GET http://a/ HTTP/1.1\nHost: a\n\n",
    "connect": b"CONNECT a:443 HTTP/1.1\nHost: a:443\n\n",
    "two-hosts-10": b"GET / HTTP/1.0\nHost: a\nHost: b\n\n",
    "space-colon": b"GET / HTTP/1.1\nHost : a\n\n",
    "big-chunk": b"POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n10\n0123456789abcdef\n0\n\n",
}

RESPONSES = {
    "length": b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello",
    "chunked": b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n",
    "until-close": b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n<html>body</html>",
    "http10": b"HTTP/1.0 200 OK\nContent-Length: 2\n\nok",
    "no-content": b"HTTP/1.1 204 No Content\nContent-Length: 3\n\n",
    "not-modified": b"HTTP/1.1 304 Not Modified\nContent-Length: 100\nETag: \"x\"\n\n",
    "continue": b"HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 0\n\n",
    "hop-by-hop": b"HTTP/1.1 401 Unauthorized\nConnection: X-Drop, keep-alive\nX-Drop: 1\nKeep-Alive: timeout=5\n"
                  b"WWW-Authenticate: Negotiate\nProxy-Authenticate: Basic\nUpgrade: h2\nTrailer: X\nContent-Length: 0\n\n",
    "cl-and-te": b"HTTP/1.1 200 OK\nContent-Length: 3\nTransfer-Encoding: chunked\n\n0\n\n",
    "switching": b"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n",
    "no-reason": b"HTTP/1.1 299 \nContent-Length: 1\n\nx",
    "chunk-ext-trailer": b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n4;a=b\nwxyz\n0\nX-T: 1\n\n",
}


def http_request():
    for k, v in REQUESTS.items():
        write(k, crlf(v))


def http_body():
    for k, v in REQUESTS.items():
        if b"Content-Length" in v or b"chunked" in v:
            write(k, b"\x00" + crlf(v))          # all at once
            write(k + "-bytewise", b"\x41" + crlf(v))  # one byte at a time, every write blocking
            write(k + "-7", b"\x07" + crlf(v))


def http_response():
    for k, v in RESPONSES.items():
        write(k, b"\x04" + crlf(v))              # GET from an HTTP/1.1 client, kept open
        write(k + "-http10-client", b"\x02" + crlf(v))
        write(k + "-head", b"\x05" + crlf(v))
        write(k + "-pieces", b"\x0c" + crlf(v))  # 1-byte pieces


# ---- config ----

def config():
    for f in ("certgate.yaml", "demo.yaml"):
        write("conf-" + f.replace(".", "-"), open(os.path.join(ROOT, "conf", f), "rb").read())
    for f in sorted(os.listdir(os.path.join(ROOT, "tests", "data"))):
        if f.startswith("config-") and f.endswith(".yaml"):
            write("data-" + f.replace(".", "-"), open(os.path.join(ROOT, "tests", "data", f), "rb").read())
    dev = (b"workers: 2\nlogging: {level: debug, file: stderr}\n"
           b"limits: {max_request_head: 8k, max_header_line: 4k, max_headers: 50}\n"
           b"timeouts: {handshake: 5s, request_header: 500ms, backend_response: 2m}\n"
           b"revocation: {fetch_timeout: 2s, max_crl_size: 1m, allowed_schemes: [http], refresh_before: 0s}\n"
           b"backends:\n  - {name: app, url: \"http://127.0.0.1:8080\", max_idle: 4}\n"
           b"  - name: k\n    url: http://[::1]:8090\n    kerberos: {spn: HTTP/k.example.test, send: always}\n"
           b"listeners:\n  - name: dev\n    address: 127.0.0.1\n    port: 8443\n    tls:\n"
           b"      certificate: certs-dev/server/server.crt\n      key: certs-dev/server/server.key\n"
           b"      client_ca: certs-dev/ca/root.crt\n      max_chain_depth: 4\n"
           b"    revocation: {mode: cache_only, crl_files: [certs-dev/crl], stale_grace: 1h}\n"
           b"    mapping: conf/demo-mapping.yaml\n    forward_client_cert: true\n"
           b"    routes:\n      - {path: /, backend: app}\n      - {path: /k/, backend: k, client_cert: optional}\n"
           b"      - {path: /k/x, backend: app}\n")
    write("dev", dev)
    write("dev-tls", b"#tls\n" + dev)


TARGETS = {"mapping": mapping, "crl": crl, "cert_ext": cert_ext, "http_request": http_request,
           "http_body": http_body, "http_response": http_response, "config": config}


def main(names):
    global OUT
    for n in names or TARGETS:
        if n not in TARGETS:
            sys.exit("make_corpus.py: unknown target %s (targets: %s)" % (n, " ".join(TARGETS)))
        OUT = os.path.join(HERE, "corpus-" + n)
        os.makedirs(OUT, exist_ok=True)
        TARGETS[n]()


if __name__ == "__main__":
    main(sys.argv[1:])
