#!/usr/bin/env python3
"""Writes the seed corpus of the mapping fuzz target (tests/fuzz/corpus-mapping/).

    python3 tests/fuzz/make_corpus.py

Run from anywhere; needs openssl. The corpus is committed: run this again only
to change the seeds. Inputs are described in fuzz_mapping.c: 'C' + DER maps a
certificate with the built-in mapping, 'G' pattern NUL value, 'D' a DN, and
anything else is a mapping file optionally followed by "\\n#%%DER%%\\n" + DER.
"""
import os
import subprocess

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


def main():
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


if __name__ == "__main__":
    main()
