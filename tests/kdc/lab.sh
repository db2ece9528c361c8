#!/bin/bash
# The private Kerberos lab (MIT KDC + LDAP, Apache with mod_auth_gssapi) for
# certgate's delegation tests and demo. A thin wrapper: the logic is in
# tests/integration/kdc_lab.py, which the Python tests import directly.
#
#   tests/kdc/lab.sh start DIR [--realm EXAMPLE.TEST] [--users N]
#   tests/kdc/lab.sh stop DIR
#   tests/kdc/lab.sh status|verify|env DIR
#   tests/kdc/lab.sh deny-delegation|allow-delegation DIR
#   tests/kdc/lab.sh clear-ok-to-auth|set-ok-to-auth DIR
#   tests/kdc/lab.sh stop-kdc|start-kdc DIR
#   tests/kdc/lab.sh add-user DIR NAME
#   tests/kdc/lab.sh rekey-backend DIR
#   tests/kdc/lab.sh s4u-count DIR [USER]
#
# After start, `. DIR/env` sets KRB5_CONFIG, KRB5_KDC_PROFILE and CG_LAB_*
# (ports, PIDs, keytabs, the backend URL and SPN). See tests/kdc/README.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 "$here/../integration/kdc_lab.py" "$@"
