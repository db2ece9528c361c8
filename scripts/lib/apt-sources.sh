# shellcheck shell=bash
# The machine's own configured Debian sources, read (never written) for the
# scripts that derive another suite from them: scripts/apt-backports (the
# <codename>-backports suite) and scripts/fetch-mbedtls (trixie's deb-src).
# Sourced, not run. No mirror host is named here: the URI is the machine's.
#
#   cg_apt_find_source APT_ETC SUITE [SKIP_FILE]
#
# Prints "URI<TAB>SIGNED_BY" of the first configured "deb" source whose suites
# include SUITE and whose components include main (SIGNED_BY: a keyring path,
# or empty when none or an inline key); prints nothing if none. Reads
# APT_ETC/sources.list and APT_ETC/sources.list.d/*.list|*.sources; comments,
# Enabled: no and deb-src entries are skipped, and so is SKIP_FILE (a file the
# caller writes itself).
cg_apt_find_source() {
    local apt_etc=$1 want=$2 skip=${3:-} f
    {
        for f in "$apt_etc"/sources.list "$apt_etc"/sources.list.d/*.list; do
            if [ ! -r "$f" ] || [ "$f" = "$skip" ]; then continue; fi
            awk -v want="$want" '
                /^[[:space:]]*deb[[:space:]]/ {
                    line = $0; sub(/^[[:space:]]*deb[[:space:]]+/, "", line)
                    signed = ""
                    if (line ~ /^\[/) {
                        opts = substr(line, 2, index(line, "]") - 2)
                        line = substr(line, index(line, "]") + 1)
                        n = split(opts, o, /[[:space:]]+/)
                        for (i = 1; i <= n; i++) if (o[i] ~ /^signed-by=/) signed = substr(o[i], 11)
                    }
                    n = split(line, w, /[[:space:]]+/)
                    k = 0; for (i = 1; i <= n; i++) if (w[i] != "") v[++k] = w[i]
                    if (k < 3 || v[2] != want) next
                    for (i = 3; i <= k; i++) if (v[i] == "main") { print v[1] "\t" signed; exit }
                }' "$f"
        done
        for f in "$apt_etc"/sources.list.d/*.sources; do
            if [ ! -r "$f" ] || [ "$f" = "$skip" ]; then continue; fi
            awk -v want="$want" '
                function flush() {
                    if (types ~ /(^|[[:space:]])deb([[:space:]]|$)/ && enabled != "no" &&
                        (" " suites " ") ~ (" " want " ") && (" " comps " ") ~ / main /) {
                        split(uris, u, /[[:space:]]+/); print u[1] "\t" signed; found = 1
                    }
                    types = uris = suites = comps = signed = enabled = ""
                }
                /^[[:space:]]*#/ { next }
                /^[[:space:]]*$/ { flush(); if (found) exit; next }
                {
                    key = tolower($1); val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
                    if (key == "types:") types = val
                    else if (key == "uris:") uris = val
                    else if (key == "suites:") suites = val
                    else if (key == "components:") comps = val
                    else if (key == "signed-by:") signed = (val ~ /^\//) ? val : ""  # a path; not an inline key
                    else if (key == "enabled:") enabled = tolower(val)
                }
                END { if (!found) flush() }' "$f"
        done
    } | head -n 1
}

# The codename of the running system (VERSION_CODENAME of OS_RELEASE); empty
# if it names none.
cg_os_codename() {
    # shellcheck disable=SC1090
    ( . "$1" 2>/dev/null && echo "${VERSION_CODENAME:-}" ) || true
}
