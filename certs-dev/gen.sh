#!/usr/bin/env bash
# Development PKI for certgate: root CA, intermediate CA, a rogue root, a
# 4-level chain (root -> sub-CA 1 -> sub-CA 2 -> leaf), a server certificate
# and a set of client certificates (good and bad, one revoked), plus one CRL
# per CA. OpenSSL CLI only; every certificate is issued with `openssl ca`,
# whose databases are kept in OUTDIR/state/ so certificates can be revoked
# later.
#
# Usage:
#   gen.sh OUTDIR [options]
#       (Re)generate the whole PKI into OUTDIR (created if missing). Only the
#       generated subdirectories (ca client server crl state) are wiped first;
#       other files in OUTDIR are left alone.
#   gen.sh OUTDIR --extend [options]
#       Add what a PKI made by an older gen.sh lacks (the sub-CAs, client/deep,
#       client/revoked) and re-issue every CRL, keeping every existing key and
#       certificate.
#   gen.sh OUTDIR --revoke NAME [NAME...] [--reason REASON]
#       Revoke client/NAME.crt, server/NAME.crt or ca/NAME.crt (intermediate,
#       sub1, sub2) in an existing OUTDIR and re-issue every CRL. REASON is an
#       openssl CRL reason (default keyCompromise).
#   gen.sh OUTDIR --crl
#       Re-issue every CRL without changing anything else.
#
# Options:
#   --cdp-base URL        CRL Distribution Point base (default
#                         http://127.0.0.1:8081/crl): each CA's CRL is
#                         published as URL/NAME.crl.
#   --cdp-fallback URL    a second base: every CDP lists URL/NAME.crl after
#                         the first (generate and --extend).
#   --ldap-cdp URL        the certificates Sub-CA 1 issues (sub2) get this
#                         CDP instead of <cdp-base>/sub1.crl, e.g.
#                         "ldap://127.0.0.1:3899/cn=Sub1,dc=example,dc=test?certificateRevocationList;binary"
#   --crl-valid SPEC      validity of the CRLs issued: 30d (default), Nd, Nh,
#                         Ns, or "expired" (nextUpdate a day ago).
#   --client-key-type ec-p256|rsa2048   client keys (generate and --extend).
#
# Keys and certificates made by this script are for development and tests
# only.
set -euo pipefail

CDP_BASE_DEFAULT="http://127.0.0.1:8081/crl"
CRL_DAYS=30
CA_NAMES="root intermediate sub1 sub2"   # the CAs that publish a CRL

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

die() { echo "gen.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; -*) usage ;; esac
OUTDIR=$1; shift

MODE=generate
CDP_BASE=$CDP_BASE_DEFAULT
CDP_FALLBACK=
LDAP_CDP=
CRL_VALID=${CRL_DAYS}d
REASON=keyCompromise
CLIENT_KEY_TYPE=ec-p256
REVOKE=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cdp-base) [ $# -ge 2 ] || usage; CDP_BASE=${2%/}; shift 2 ;;
        --cdp-base=*) CDP_BASE=${1#*=}; CDP_BASE=${CDP_BASE%/}; shift ;;
        --cdp-fallback) [ $# -ge 2 ] || usage; CDP_FALLBACK=${2%/}; shift 2 ;;
        --cdp-fallback=*) CDP_FALLBACK=${1#*=}; CDP_FALLBACK=${CDP_FALLBACK%/}; shift ;;
        --ldap-cdp) [ $# -ge 2 ] || usage; LDAP_CDP=$2; shift 2 ;;
        --ldap-cdp=*) LDAP_CDP=${1#*=}; shift ;;
        --crl-valid) [ $# -ge 2 ] || usage; CRL_VALID=$2; shift 2 ;;
        --crl-valid=*) CRL_VALID=${1#*=}; shift ;;
        --reason) [ $# -ge 2 ] || usage; REASON=$2; shift 2 ;;
        --reason=*) REASON=${1#*=}; shift ;;
        --client-key-type) [ $# -ge 2 ] || usage; CLIENT_KEY_TYPE=$2; shift 2 ;;
        --client-key-type=*) CLIENT_KEY_TYPE=${1#*=}; shift ;;
        --revoke) MODE=revoke; shift
                  while [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; do REVOKE+=("$1"); shift; done
                  [ ${#REVOKE[@]} -gt 0 ] || die "--revoke needs at least one NAME" ;;
        --crl) MODE=crl; shift ;;
        --extend) MODE=extend; shift ;;
        -h|--help) usage ;;
        *) echo "gen.sh: unknown argument: $1" >&2; usage ;;
    esac
done
case "$CLIENT_KEY_TYPE" in
    ec-p256|rsa2048) ;;
    *) die "--client-key-type must be ec-p256 or rsa2048, not '$CLIENT_KEY_TYPE'" ;;
esac
case "$CRL_VALID" in
    expired|[1-9]*d|[1-9]*h|[1-9]*s) ;;
    *) die "--crl-valid must be Nd, Nh, Ns or expired, not '$CRL_VALID'" ;;
esac
case "$REASON" in
    unspecified|keyCompromise|CACompromise|affiliationChanged|superseded|cessationOfOperation|certificateHold) ;;
    *) die "--reason must be an openssl CRL reason (keyCompromise, superseded, ...), not '$REASON'" ;;
esac
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

# The openssl ca configs use paths relative to OUTDIR: work from there.
mkdir -p "$OUTDIR"
cd "$OUTDIR"
OUTDIR_ABS=$(pwd)

# Keep openssl from reading a user or system config that could change defaults.
export OPENSSL_CONF=/dev/null
unset RANDFILE || true

# YYYYMMDDHHMMSSZ, for `openssl ca -startdate/-enddate`.
when() { date -u -d "$1" +%Y%m%d%H%M%SZ; }

genkey() { # genkey FILE ec-p256|rsa2048
    case "$2" in
        ec-p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
        rsa2048) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
    esac
    chmod 600 "$1"
}

# The [cdp_NAME] sections: where the CRL of CA NAME is published (every
# base), for the crlDistributionPoints of the certificates NAME issues. The
# section form keeps commas in URLs (LDAP DNs) intact.
cdp_sections() {
    local ca i url
    for ca in $CA_NAMES; do
        printf '[ cdp_%s ]\nfullname = @cdp_%s_uris\n[ cdp_%s_uris ]\n' "$ca" "$ca" "$ca"
        if [ "$ca" = sub1 ] && [ -n "$LDAP_CDP" ]; then
            printf 'URI.0 = %s\n' "$LDAP_CDP"
            continue
        fi
        i=0
        for url in "$CDP_BASE" ${CDP_FALLBACK:+"$CDP_FALLBACK"}; do
            printf 'URI.%d = %s/%s.crl\n' "$i" "$url" "$ca"
            i=$((i + 1))
        done
    done
}

# An empty database in state/NAME/.
init_ca_db() { # init_ca_db NAME
    local name=$1
    mkdir -p "state/$name/newcerts"
    : > "state/$name/index.txt"
    echo "unique_subject = no" > "state/$name/index.txt.attr"
    # Random 72-bit starting serial (first byte 0x10-0x7f: positive, no
    # leading zero), so that certificates of different generated PKIs never
    # share a serial.
    printf '%02x%s\n' $((RANDOM % 112 + 16)) "$(openssl rand -hex 8)" > "state/$name/serial"
    echo 1000 > "state/$name/crlnumber"
}

# Writes state/NAME.cnf and an empty database in state/NAME/.
write_ca_config() { # write_ca_config NAME CERT KEY
    init_ca_db "$1"
    write_ca_cnf "$@"
}

# Writes state/NAME.cnf (the database is left alone).
# All certificate extensions live in every config; `openssl ca -extensions`
# picks one section per certificate.
write_ca_cnf() { # write_ca_cnf NAME CERT KEY
    local name=$1 cert=$2 key=$3
    cat > "state/$name.cnf" <<EOF
# openssl ca configuration for the "$name" CA of the certgate dev PKI.
# Generated by certs-dev/gen.sh; paths are relative to the PKI directory
# ($(basename "$OUTDIR_ABS")/), so run openssl from there.
[ ca ]
default_ca = ca_$name

[ ca_$name ]
dir              = state/$name
database         = \$dir/index.txt
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
new_certs_dir    = \$dir/newcerts
certificate      = $cert
private_key      = $key
default_md       = sha256
default_days     = 3650
default_crl_days = $CRL_DAYS
policy           = policy_any
preserve         = yes
email_in_dn      = no
unique_subject   = no
copy_extensions  = none
crl_extensions   = crl_ext

[ policy_any ]
countryName            = optional
stateOrProvinceName    = optional
localityName           = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied
emailAddress           = optional

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = placeholder

[ ext_root ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ ext_intermediate ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_root

[ ext_server ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_intermediate

[ ext_client ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_intermediate

[ ext_client_alice ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectAltName         = @san_alice
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_intermediate
[ san_alice ]
otherName.1 = 1.3.6.1.4.1.311.20.2.3;UTF8:alice@EXAMPLE.TEST
email.1     = alice@example.test

[ ext_client_bob ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectAltName         = email:bob@example.test
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_intermediate

[ ext_client_noeku ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = emailProtection
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_intermediate

[ ext_sub1 ]
basicConstraints       = critical, CA:true, pathlen:1
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_root

[ ext_sub2 ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_sub1

[ ext_client_deep ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = cdp_sub2

$(cdp_sections)
EOF
}

# issue CA EXT SUBJECT KEY OUT [openssl ca options...]
# Signs a CSR for KEY with the CA's openssl ca config; writes the bare
# certificate (PEM) to OUT.
issue() {
    local ca=$1 ext=$2 subj=$3 key=$4 out=$5; shift 5
    local csr="state/tmp.csr"
    openssl req -new -config "state/$ca.cnf" -key "$key" -subj "$subj" -out "$csr"
    openssl ca -batch -notext -config "state/$ca.cnf" -extensions "$ext" \
        -subj "$subj" -in "$csr" -out "$out" "$@" 2>state/tmp.log \
        || { cat state/tmp.log >&2; die "openssl ca failed for $out"; }
    rm -f "$csr" state/tmp.log
}

# openssl ca options for the CRL validity (--crl-valid).
crl_validity() {
    case "$CRL_VALID" in
        expired) echo "-crl_lastupdate $(when '2 days ago') -crl_nextupdate $(when '1 day ago')" ;;
        *d) echo "-crldays ${CRL_VALID%d}" ;;
        *h) echo "-crlhours ${CRL_VALID%h}" ;;
        *s) echo "-crlsec ${CRL_VALID%s}" ;;
    esac
}

gencrl() { # gencrl CA OUTBASE
    # shellcheck disable=SC2046  # word splitting of the options is intended
    openssl ca -batch -config "state/$1.cnf" -gencrl $(crl_validity) -out "crl/$2.crl" \
        2>state/tmp.log || { cat state/tmp.log >&2; die "openssl ca -gencrl failed for $1"; }
    openssl crl -in "crl/$2.crl" -outform DER -out "crl/$2.crl.der"
    rm -f state/tmp.log
}

tidy() { # openssl ca leaves backups of its database files behind
    rm -f state/*/*.old state/tmp.csr state/tmp.log
}

gen_crls() {
    local ca
    mkdir -p crl
    for ca in $CA_NAMES; do
        if [ -f "state/$ca.cnf" ]; then gencrl "$ca" "$ca"; fi
    done
    tidy
}

crl_list() {
    local ca out=
    for ca in $CA_NAMES; do
        if [ -f "crl/$ca.crl" ]; then out="$out crl/$ca.crl"; fi
    done
    echo "${out# }"
}

revoke_cert() { # revoke_cert CA CERTFILE
    # openssl ca -revoke reads the first certificate in the file (the leaf).
    openssl ca -batch -config "state/$1.cnf" -revoke "$2" -crl_reason "$REASON" \
        2>state/tmp.log || { cat state/tmp.log >&2; die "revoking $2 failed"; }
    rm -f state/tmp.log
}

# client NAME CA EXT SUBJECT [openssl ca options...]
# The .crt holds the leaf, then its CA certificates up to (not including) the root.
client() {
    local name=$1 ca=$2 ext=$3 subj=$4; shift 4
    genkey "client/$name.key" "$CLIENT_KEY_TYPE"
    issue "$ca" "$ext" "$subj" "client/$name.key" state/leaf.pem "$@"
    case "$ca" in
        sub2) cat state/leaf.pem ca/sub2.crt ca/sub1.crt > "client/$name.crt" ;;
        *) cat state/leaf.pem "ca/$ca.crt" > "client/$name.crt" ;;
    esac
    rm -f state/leaf.pem
}

# The 4-level chain: Sub-CA 1 (by the root), Sub-CA 2 (by Sub-CA 1), deep.
make_chain() {
    genkey ca/sub1.key ec-p256
    write_ca_config sub1 ca/sub1.crt ca/sub1.key
    issue root ext_sub1 "/C=US/O=Example/CN=Example Dev Sub CA 1" ca/sub1.key ca/sub1.crt -days 5475
    genkey ca/sub2.key ec-p256
    write_ca_config sub2 ca/sub2.crt ca/sub2.key
    issue sub1 ext_sub2 "/C=US/O=Example/CN=Example Dev Sub CA 2" ca/sub2.key ca/sub2.crt -days 5110
    client deep sub2 ext_client_deep "/C=US/O=Example/OU=Engineering/CN=deep" -days 3650
}

# client/revoked: issued by the intermediate like alice, revoked in its CRL.
make_revoked() {
    client revoked intermediate ext_client "/C=US/O=Example/OU=Engineering/CN=revoked" -days 3650
    revoke_cert intermediate client/revoked.crt
}

if [ "$MODE" = crl ]; then
    if [ ! -f state/root.cnf ] || [ ! -f state/intermediate.cnf ]; then
        die "$OUTDIR_ABS has no generated PKI (state/ missing)"
    fi
    gen_crls
    echo "Re-issued $(crl_list) (validity $CRL_VALID) in $OUTDIR_ABS"
    exit 0
fi

if [ "$MODE" = extend ]; then
    if [ ! -f state/root.cnf ] || [ ! -f state/intermediate.cnf ]; then
        die "$OUTDIR_ABS has no generated PKI (state/ missing): run gen.sh without --extend"
    fi
    # Rewrite the configs (new extension sections), keeping every database.
    for c in root intermediate rogue; do
        if [ -f "state/$c.cnf" ]; then write_ca_cnf "$c" "ca/$c.crt" "ca/$c.key"; fi
    done
    added=
    if [ ! -f ca/sub1.crt ]; then make_chain; added="$added ca/sub1 ca/sub2 client/deep"; fi
    for c in sub1 sub2; do write_ca_cnf "$c" "ca/$c.crt" "ca/$c.key"; done
    if [ ! -f client/revoked.crt ]; then make_revoked; added="$added client/revoked"; fi
    gen_crls
    chmod 644 ca/*.crt client/*.crt crl/*
    echo "Extended $OUTDIR_ABS:${added:- nothing was missing}; re-issued $(crl_list)"
    exit 0
fi

if [ "$MODE" = revoke ]; then
    if [ ! -f state/root.cnf ] || [ ! -f state/intermediate.cnf ]; then
        die "$OUTDIR_ABS has no generated PKI (state/ missing)"
    fi
    for name in "${REVOKE[@]}"; do
        case "$name" in
            intermediate|sub1|sub2) crt=ca/$name.crt ;;
            *) if [ -f "client/$name.crt" ]; then crt=client/$name.crt
               elif [ -f "server/$name.crt" ]; then crt=server/$name.crt
               else die "no certificate named '$name' (looked in client/, server/ and ca/)"; fi ;;
        esac
        [ -f "$crt" ] || die "no $crt in $OUTDIR_ABS (gen.sh DIR --extend adds the sub-CAs)"
        # The issuing CA: the one whose subject is the certificate's issuer.
        issuer=$(openssl x509 -in "$crt" -noout -issuer -nameopt RFC2253)
        ca=
        for c in $CA_NAMES; do
            [ -f "ca/$c.crt" ] || continue
            if [ "${issuer#issuer=}" = "$(openssl x509 -in "ca/$c.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" ]; then
                ca=$c
            fi
        done
        [ -n "$ca" ] || die "$crt is not issued by a CA of this PKI that publishes a CRL"
        serial=$(openssl x509 -in "$crt" -noout -serial); serial=${serial#serial=}
        if awk -F'\t' -v s="$serial" '$1 == "R" && toupper($4) == toupper(s) { f = 1 } END { exit !f }' \
               "state/$ca/index.txt"; then
            echo "Already revoked: $crt"; continue
        fi
        revoke_cert "$ca" "$crt"
        echo "Revoked $crt ($REASON, in crl/$ca.crl)"
    done
    gen_crls
    echo "Re-issued $(crl_list) in $OUTDIR_ABS"
    exit 0
fi

# ---- generate -------------------------------------------------------------
start_ts=$(date +%s%N)
rm -rf ca client server crl state
mkdir -p ca client server crl state

NOW_MINUS_2Y=$(when '2 years ago')
NOW_MINUS_1Y=$(when '1 year ago')
NOW_PLUS_1Y=$(when '1 year')
NOW_PLUS_11Y=$(when '11 years')

# Root CA (self-signed, 20 years) and the rogue root (same shape, not trusted).
genkey ca/root.key ec-p256
write_ca_config root ca/root.crt ca/root.key
issue root ext_root "/C=US/O=Example/CN=Example Dev Root CA" ca/root.key ca/root.crt \
    -selfsign -days 7300

genkey ca/rogue.key ec-p256
write_ca_config rogue ca/rogue.crt ca/rogue.key
issue rogue ext_root "/C=US/O=Rogue/CN=Rogue Dev Root CA" ca/rogue.key ca/rogue.crt \
    -selfsign -days 7300

# Intermediate CA (15 years), issued by the root.
genkey ca/intermediate.key ec-p256
write_ca_config intermediate ca/intermediate.crt ca/intermediate.key
issue root ext_intermediate "/C=US/O=Example/CN=Example Dev Intermediate CA" \
    ca/intermediate.key ca/intermediate.crt -days 5475

# Server: leaf + intermediate.
genkey server/server.key ec-p256
issue intermediate ext_server "/C=US/O=Example/CN=localhost" server/server.key \
    state/leaf.pem -days 3650
cat state/leaf.pem ca/intermediate.crt > server/server.crt

client alice     intermediate ext_client_alice "/C=US/O=Example/OU=Engineering/CN=alice" -days 3650
client bob       intermediate ext_client_bob   "/C=US/O=Example/OU=Sales/CN=bob" -days 3650
client expired   intermediate ext_client       "/C=US/O=Example/OU=Engineering/CN=expired" \
    -startdate "$NOW_MINUS_2Y" -enddate "$NOW_MINUS_1Y"
client notyet    intermediate ext_client       "/C=US/O=Example/OU=Engineering/CN=notyet" \
    -startdate "$NOW_PLUS_1Y" -enddate "$NOW_PLUS_11Y"
client noeku     intermediate ext_client_noeku "/C=US/O=Example/OU=Engineering/CN=noeku" -days 3650
client untrusted rogue        ext_client       "/C=US/O=Example/OU=Engineering/CN=untrusted" -days 3650
make_chain
make_revoked

gen_crls
chmod 644 ca/*.crt server/*.crt client/*.crt crl/*

end_ts=$(date +%s%N)
ms=$(( (end_ts - start_ts) / 1000000 ))
cat <<EOF
certgate dev PKI in $OUTDIR_ABS (${ms} ms; client keys: $CLIENT_KEY_TYPE; CDP base: $CDP_BASE${CDP_FALLBACK:+, then $CDP_FALLBACK}${LDAP_CDP:+; Sub-CA 1: $LDAP_CDP})
  ca/root.crt            trust anchor (configure as client_ca)
  ca/intermediate.crt    issues server and client certs
  ca/sub1.crt, sub2.crt  the 4-level chain: root -> sub1 -> sub2 -> client/deep
  ca/rogue.crt           untrusted root
  server/server.crt|key  localhost, 127.0.0.1 (leaf + intermediate)
  client/*.crt|key       alice bob deep (good); expired notyet noeku untrusted revoked (bad)
  crl/{root,intermediate,sub1,sub2}.crl[.der]  validity $CRL_VALID; revoke: gen.sh DIR --revoke NAME
EOF
