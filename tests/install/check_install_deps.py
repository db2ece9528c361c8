#!/usr/bin/env python3
"""scripts/install-deps --list against fake os-release files and package
lists: a "name|name13" entry gives the first name on Debian 12 and the second
from Debian 13 on, "-" gives none, the "backports" mark is accepted on both,
and a malformed entry is refused with file:line. Lists only: never installs
(CG_OS_RELEASE, CG_PACKAGES_FILE).

    check_install_deps.py SOURCE_ROOT
"""
import os
import subprocess
import sys
import tempfile

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "install-deps")
failures = []
count = 0


def listing(roles, os_release, packages=None):
    with tempfile.TemporaryDirectory() as d:
        rel = os.path.join(d, "os-release")
        with open(rel, "w") as f:
            f.write(os_release)
        env = dict(os.environ, CG_OS_RELEASE=rel)
        if packages is not None:
            path = os.path.join(d, "packages.txt")
            with open(path, "w") as f:
                f.write(packages)
            env["CG_PACKAGES_FILE"] = path
        p = subprocess.run(["bash", SCRIPT, "--list"] + roles, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        return p.returncode, p.stdout.split(), p.stderr


def check(name, cond, detail):
    global count
    count += 1
    print("%s %s" % ("ok  " if cond else "FAIL", name))
    if not cond:
        failures.append(name)
        print("    " + str(detail).replace("\n", "\n    "))


BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
TRIXIE = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n'
FAKE = """# a comment
plain            build,test
old|new          runtime
-|only13         build
only12|-         build
samba            test backports
"""

rc, pk, err = listing(["build", "runtime", "test"], BOOKWORM, FAKE)
check("Debian 12: first names, '-' gives none", rc == 0 and pk == ["plain", "old", "only12", "samba"], (rc, pk, err))
rc, pk, err = listing(["build", "runtime", "test"], TRIXIE, FAKE)
check("Debian 13: second names, '-' gives none", rc == 0 and pk == ["plain", "new", "only13", "samba"], (rc, pk, err))
rc, pk, err = listing(["runtime"], "ID=debian\n", FAKE)
check("no codename: the first names (as before)", rc == 0 and pk == ["old"], (rc, pk, err))
rc, pk, err = listing(["build"], TRIXIE, "a|b|c build\n")
check("two '|': refused with file:line", rc == 1 and "packages.txt:1:" in err, (rc, pk, err))
rc, pk, err = listing(["build"], TRIXIE, "a| build\n")
check("empty name after '|': refused", rc == 1 and "packages.txt:1:" in err, (rc, pk, err))

# The real list: the renamed runtime libraries and the system mbedTLS.
rc, pk12, err = listing(["build", "runtime"], BOOKWORM)
rc2, pk13, err2 = listing(["build", "runtime"], TRIXIE)
check("packages.txt on Debian 12: libuv1, libcurl4, no libmbedtls-dev",
      rc == 0 and "libuv1" in pk12 and "libcurl4" in pk12 and "libmbedtls-dev" not in pk12, (rc, pk12, err))
check("packages.txt on Debian 13: libuv1t64, libcurl4t64, libmbedtls-dev",
      rc2 == 0 and "libuv1t64" in pk13 and "libcurl4t64" in pk13 and "libmbedtls-dev" in pk13
      and "libuv1" not in pk13, (rc2, pk13, err2))
rc, pk, err = listing(["ci"], BOOKWORM)
check("role ci: debootstrap", rc == 0 and pk == ["debootstrap"], (rc, pk, err))

print("%d passed, %d failed" % (count - len(failures), len(failures)))
sys.exit(1 if failures else 0)
