#!/bin/bash
# Makes the OCSP fixtures of tests/unit/revocation/test_ocsp.c with `openssl ocsp`, the
# responder the tests compare certgate with. The files are committed; rerun this only to change
# them (their times move: the tests read thisUpdate from the responses, never from the clock).
#
#   ca.crt            an EC P-256 CA (its key is deleted at the end: the responses signed by it are made here)
#   good.crt          serial 0x1001, valid in the index
#   revoked.crt       serial 0x1002, revoked (keyCompromise) in the index
#   unknown.crt       serial 0x1003, not in the index
#   responder.crt     an RSA delegated responder issued by the CA: id-kp-OCSPSigning, ocsp-nocheck
#   noeku.crt         issued by the CA, no id-kp-OCSPSigning
#   rogue-ca.crt      a self-signed CA with the CA's very name and another key
#   rogue-resp.crt    a responder with id-kp-OCSPSigning issued by the rogue CA
#   responder.key, rogue.key, index.txt: what tests/unit/revocation/test_ocsp_fetch.c's responder
#                     (openssl ocsp -reqin/-respout behind a loopback HTTP server) signs and reads
#   req-*.der         `openssl ocsp -no_nonce` requests (SHA-1 and SHA-256 CertIDs)
#   resp-*.der        responses, named for who signed them and what they say
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

cat >"$tmp/ext.cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityInfoAccess = OCSP;URI:http://127.0.0.1:9/ocsp
[responder]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
[noeku]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF

ec ca.key
openssl req -x509 -new -key ca.key -subj "/O=Test/CN=OCSP Test CA" -days $days -sha256 \
    -extensions ca -config "$tmp/ext.cnf" -out ca.crt 2>/dev/null
issue() { # name serial subject ext keyfile ca ca_key
    openssl req -new -key "$5" -subj "$3" -out "$tmp/$1.csr" 2>/dev/null
    openssl x509 -req -in "$tmp/$1.csr" -CA "$6" -CAkey "$7" -set_serial "$2" -days $days -sha256 \
        -extfile "$tmp/ext.cnf" -extensions "$4" -out "$1.crt" 2>/dev/null
}
ec "$tmp/leaf.key"
issue good 0x1001 "/O=Test/CN=good" leaf "$tmp/leaf.key" ca.crt ca.key
issue revoked 0x1002 "/O=Test/CN=revoked" leaf "$tmp/leaf.key" ca.crt ca.key
issue unknown 0x1003 "/O=Test/CN=unknown" leaf "$tmp/leaf.key" ca.crt ca.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out responder.key 2>/dev/null
issue responder 0x2001 "/O=Test/CN=OCSP Responder" responder responder.key ca.crt ca.key
ec "$tmp/noeku.key"
issue noeku 0x2002 "/O=Test/CN=Not A Responder" noeku "$tmp/noeku.key" ca.crt ca.key
ec rogue.key
openssl req -x509 -new -key rogue.key -subj "/O=Test/CN=OCSP Test CA" -days $days -sha256 \
    -extensions ca -config "$tmp/ext.cnf" -out rogue-ca.crt 2>/dev/null
issue rogue-resp 0x3001 "/O=Test/CN=OCSP Responder" responder rogue.key rogue-ca.crt rogue.key

# index.txt: V/R, expiry, revocation time[,reason], serial, file, subject
{
    printf 'V\t21250101000000Z\t\t1001\tunknown\t/O=Test/CN=good\n'
    printf 'R\t21250101000000Z\t240102030405Z,keyCompromise\t1002\tunknown\t/O=Test/CN=revoked\n'
} >index.txt

for who in good revoked unknown; do
    openssl ocsp -issuer ca.crt -cert $who.crt -no_nonce -reqout req-$who.der >/dev/null
done
openssl ocsp -issuer ca.crt -sha256 -cert good.crt -no_nonce -reqout req-good-sha256.der >/dev/null
openssl ocsp -issuer ca.crt -cert good.crt -reqout req-good-nonce.der >/dev/null
openssl ocsp -issuer ca.crt -cert unknown.crt -cert good.crt -no_nonce -reqout req-two.der >/dev/null

respond() { # out req signer key [options]
    local out=$1 req=$2 signer=$3 key=$4
    shift 4
    openssl ocsp -index index.txt -CA ca.crt -rsigner "$signer" -rkey "$key" -reqin "$req" \
        -respout "$out" "$@" >/dev/null 2>&1
}
# Signed by the CA itself, responderID by name, no certs.
respond resp-ca-good.der req-good.der ca.crt ca.key -ndays $days -resp_no_certs
respond resp-ca-revoked.der req-revoked.der ca.crt ca.key -ndays $days -resp_no_certs
respond resp-ca-unknown.der req-unknown.der ca.crt ca.key -ndays $days -resp_no_certs
respond resp-ca-good-sha256.der req-good-sha256.der ca.crt ca.key -ndays $days -resp_no_certs
respond resp-ca-good-nonce.der req-good-nonce.der ca.crt ca.key -ndays $days -resp_no_certs
respond resp-ca-good-no-next.der req-good.der ca.crt ca.key -resp_no_certs
respond resp-ca-good-sha1sig.der req-good.der ca.crt ca.key -ndays $days -resp_no_certs -rmd sha1
respond resp-ca-two.der req-two.der ca.crt ca.key -ndays $days -resp_no_certs
# By the delegated responder (RSA), its certificate included; by key id too.
respond resp-delegated-good.der req-good.der responder.crt responder.key -ndays $days
respond resp-delegated-revoked-keyid.der req-revoked.der responder.crt responder.key -ndays $days -resp_key_id
# Signed by a certificate of the CA without id-kp-OCSPSigning (included).
respond resp-noeku-good.der req-good.der noeku.crt "$tmp/noeku.key" -ndays $days
# Forged: another key under the CA's name (no certs), and a responder of the rogue CA (included).
respond resp-forged-name.der req-revoked.der rogue-ca.crt rogue.key -ndays $days -resp_no_certs
respond resp-forged-delegated.der req-revoked.der rogue-resp.crt rogue.key -ndays $days
# Not successful: tryLater is what a responder says when it cannot answer.
printf '\x30\x03\x0a\x01\x03' >resp-trylater.der
rm -f ca.key
echo "fixtures written to $(pwd)"
