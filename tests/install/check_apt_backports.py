#!/usr/bin/env python3
"""scripts/apt-backports --show against fake apt configurations: the
backports suite is derived from the machine's own Debian source (deb822 or
one-line, comments, Enabled: no, Signed-By paths and inline keys), nothing is
added when the suite is already there, and a machine without a usable source
is told so. Never touches /etc/apt (CG_APT_ETC, CG_OS_RELEASE).

    check_apt_backports.py SOURCE_ROOT
"""
import os
import subprocess
import sys
import tempfile

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "apt-backports")
failures = []


def show(files, os_release="VERSION_CODENAME=bookworm\n"):
    with tempfile.TemporaryDirectory() as d:
        etc = os.path.join(d, "apt")
        os.makedirs(os.path.join(etc, "sources.list.d"))
        os.makedirs(os.path.join(etc, "preferences.d"))
        for rel, text in files.items():
            with open(os.path.join(etc, rel), "w") as f:
                f.write(text)
        rel_path = os.path.join(d, "os-release")
        with open(rel_path, "w") as f:
            f.write(os_release)
        env = dict(os.environ, CG_APT_ETC=etc, CG_OS_RELEASE=rel_path)
        p = subprocess.run(["bash", SCRIPT, "--show", "samba"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr


def check(name, cond, detail):
    print("%s %s" % ("ok  " if cond else "FAIL", name))
    if not cond:
        failures.append(name)
        print("    " + detail.replace("\n", "\n    "))


DEB822 = """Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.one.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.one.example/debian-security
Suites: bookworm-security
Components: main
"""

rc, out, err = show({"sources.list.d/debian.sources": DEB822})
check("deb822: the configured URI and Signed-By, suite bookworm-backports",
      rc == 0 and "URIs: http://mirror.one.example/debian\n" in out and "Suites: bookworm-backports" in out
      and "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in out and "snapshot" not in out
      and "Package: src:" in out and "Pin-Priority: 100" in out, out + err)

rc, out, err = show({"sources.list": "# deb http://old.example/debian bookworm main\n"
                                     "deb [arch=amd64 signed-by=/etc/k.gpg] http://mirror.two.example/debian bookworm main contrib\n"})
check("one-line: options and signed-by",
      rc == 0 and "URIs: http://mirror.two.example/debian\n" in out and "Signed-By: /etc/k.gpg" in out
      and "old.example" not in out, out + err)

rc, out, err = show({"sources.list.d/a.sources": "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\n"
                                                 "Components: main\nEnabled: no\n\n"
                                                 "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n"
                                                 "Components: main\n\n"
                                                 "Types: deb\nURIs: http://on.example/debian\nSuites: bookworm\n"
                                                 "Components: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n"})
check("Enabled: no and deb-src skipped; an inline key is not copied",
      rc == 0 and "URIs: http://on.example/debian\n" in out and "off.example" not in out
      and "src.example" not in out and "Signed-By" not in out, out + err)

rc, out, err = show({"sources.list.d/debian.sources": DEB822,
                     "sources.list.d/bp.list": "deb http://mirror.one.example/debian bookworm-backports main\n"})
check("backports already configured: only the pin", rc == 0 and "URIs:" not in out and "Pin-Priority: 500" in out,
      out + err)

rc, out, err = show({"sources.list.d/s.sources": "Types: deb\nURIs: http://x.example/debian-security\n"
                                                 "Suites: bookworm-security\nComponents: main\n"})
check("no source for bookworm main: refused with the reason",
      rc == 1 and "no configured Debian source for 'bookworm main'" in err, out + err)

rc, out, err = show({"sources.list.d/debian.sources": DEB822}, os_release="ID=debian\n")
check("no VERSION_CODENAME: refused", rc == 1 and "VERSION_CODENAME" in err, out + err)

rc, out, err = show({"sources.list.d/debian.sources": DEB822.replace("bookworm", "trixie")},
                    os_release="VERSION_CODENAME=trixie\n")
check("Debian 13 (the codename from os-release): nothing to do, nothing written",
      rc == 0 and out == "" and "nothing to do on trixie" in err, out + err)

p = subprocess.run(["bash", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
check("no package named: usage error", p.returncode == 2 and "name the packages" in p.stderr, p.stderr)

print("%d passed, %d failed" % (8 - len(failures), len(failures)))
sys.exit(1 if failures else 0)
