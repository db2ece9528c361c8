#!/usr/bin/env python3
"""scripts/fetch-mbedtls against a fake Debian source package "mbedtls" made
here (dpkg-source -b) and a local apt repository signed with a key made here:
no network, never /etc/apt (CG_APT_ETC, CG_OS_RELEASE, CG_MBEDTLS_PIN,
CG_MBEDTLS_CACHE, CG_MBEDTLS_PATCHES).

Checked: a download through apt from a correctly signed repository is cached,
verified, unpacked with Debian's and certgate's patches; a repository signed
by another key is refused; from the cache it works offline and a second run
with a stamped tree needs not even the cache; a tampered tarball, a .dsc
rewritten to match it, a missing cache with --offline, a patch that does not
apply and a malformed pin are refused with the reason; --show derives the
private deb-src line from the machine's source (URI, Signed-By, default
keyring).

    check_fetch_mbedtls.py SOURCE_ROOT
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "fetch-mbedtls")
VERSION = "3.6.6-0.1~test1"
failures = []
count = 0


def check(name, cond, detail=""):
    global count
    count += 1
    print("%s %s" % ("ok  " if cond else "FAIL", name))
    if not cond:
        failures.append(name)
        print("    " + detail.replace("\n", "\n    "))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, **kw)


def make_source_package(work):
    """mbedtls_VERSION.dsc, .orig.tar.gz, .debian.tar.xz in work/pkg."""
    pkg = os.path.join(work, "pkg")
    tree = os.path.join(pkg, "mbedtls-3.6.6")
    write(os.path.join(tree, "library", "hello.c"), "int hello(void) { return 1; }\n")
    write(os.path.join(tree, "README"), "upstream\n")
    subprocess.run(["tar", "-czf", os.path.join(pkg, "mbedtls_3.6.6.orig.tar.gz"), "-C", pkg, "mbedtls-3.6.6"],
                   check=True)
    deb = os.path.join(tree, "debian")
    write(os.path.join(deb, "source", "format"), "3.0 (quilt)\n")
    write(os.path.join(deb, "control"), "Source: mbedtls\nMaintainer: Test <test@example.invalid>\n"
          "Build-Depends: debhelper-compat (= 13)\n\nPackage: libmbedtls-dev\nArchitecture: any\n"
          "Description: test\n test\n")
    write(os.path.join(deb, "changelog"), "mbedtls (%s) trixie; urgency=medium\n\n  * Test.\n\n"
          " -- Test <test@example.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n" % VERSION)
    write(os.path.join(deb, "rules"), "#!/usr/bin/make -f\n%:\n\tdh $@\n")
    write(os.path.join(deb, "patches", "series"), "debian-change.patch\n")
    write(os.path.join(deb, "patches", "debian-change.patch"),
          "--- a/README\n+++ b/README\n@@ -1 +1,2 @@\n upstream\n+patched by Debian\n")
    p = run(["dpkg-source", "-b", "mbedtls-3.6.6"], cwd=pkg)
    if p.returncode != 0:
        raise SystemExit("dpkg-source -b failed:\n" + p.stdout + p.stderr)
    shutil.rmtree(tree)
    return pkg


def make_repo(work, pkg, key_home, name):
    """A local apt repository (file:) with suite trixie holding the package,
    its InRelease clear-signed with the key in key_home."""
    repo = os.path.join(work, name)
    pool = os.path.join(repo, "pool", "main", "m", "mbedtls")
    os.makedirs(pool)
    files = sorted(f for f in os.listdir(pkg) if f.startswith("mbedtls_"))
    for f in files:
        shutil.copy(os.path.join(pkg, f), pool)
    md5 = "".join(" %s %d %s\n" % (hashlib.md5(open(os.path.join(pool, f), "rb").read()).hexdigest(),
                                   os.path.getsize(os.path.join(pool, f)), f) for f in files)
    s256 = "".join(" %s %d %s\n" % (sha256(os.path.join(pool, f)), os.path.getsize(os.path.join(pool, f)), f)
                   for f in files)
    sources = ("Package: mbedtls\nBinary: libmbedtls-dev\nVersion: %s\nMaintainer: Test <test@example.invalid>\n"
               "Architecture: any\nFormat: 3.0 (quilt)\nDirectory: pool/main/m/mbedtls\nFiles:\n%s"
               "Checksums-Sha256:\n%s\n" % (VERSION, md5, s256))
    src_index = os.path.join(repo, "dists", "trixie", "main", "source", "Sources")
    write(src_index, sources)
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(time.time() - 86400))
    release = ("Origin: Test\nLabel: Test\nSuite: trixie\nCodename: trixie\nDate: %s\n"
               "Architectures: amd64\nComponents: main\nSHA256:\n %s %d main/source/Sources\n"
               % (date, sha256(src_index), os.path.getsize(src_index)))
    write(os.path.join(repo, "dists", "trixie", "Release"), release)
    p = run(["gpg", "--homedir", key_home, "--batch", "--yes", "--clearsign", "-o",
             os.path.join(repo, "dists", "trixie", "InRelease"), os.path.join(repo, "dists", "trixie", "Release")])
    if p.returncode != 0:
        raise SystemExit("gpg --clearsign failed:\n" + p.stderr)
    os.chmod(work, 0o755)
    for d, _, _ in os.walk(repo):
        os.chmod(d, 0o755)
    return repo


def make_key(work, name):
    home = os.path.join(work, "gpg-" + name)
    os.makedirs(home, mode=0o700)
    p = run(["gpg", "--homedir", home, "--batch", "--passphrase", "", "--quick-gen-key",
             "certgate test %s <test@example.invalid>" % name, "ed25519", "sign", "never"])
    if p.returncode != 0:
        raise SystemExit("gpg --quick-gen-key failed:\n" + p.stderr)
    keyring = os.path.join(work, name + ".gpg")
    with open(keyring, "wb") as f:
        f.write(subprocess.run(["gpg", "--homedir", home, "--export"], stdout=subprocess.PIPE, check=True).stdout)
    os.chmod(keyring, 0o644)
    return home, keyring


def setup(work, dsc_sha, apt_sources="", codename="bookworm"):
    env = dict(os.environ)
    etc = os.path.join(work, "apt")
    os.makedirs(os.path.join(etc, "sources.list.d"), exist_ok=True)
    if apt_sources:
        write(os.path.join(etc, "sources.list.d", "debian.sources"), apt_sources)
    write(os.path.join(work, "os-release"), "VERSION_CODENAME=%s\n" % codename)
    write(os.path.join(work, "source.pin"), "# test\nsuite=trixie\nversion=%s\ndsc_sha256=%s\n" % (VERSION, dsc_sha))
    patches = os.path.join(work, "patches")
    write(os.path.join(patches, "0001-certgate.patch"),
          "Description: test\n\n--- a/library/hello.c\n+++ b/library/hello.c\n@@ -1 +1 @@\n"
          "-int hello(void) { return 1; }\n+int hello(void) { return 2; }\n")
    env.update(CG_APT_ETC=etc, CG_OS_RELEASE=os.path.join(work, "os-release"),
               CG_MBEDTLS_PIN=os.path.join(work, "source.pin"), CG_MBEDTLS_CACHE=os.path.join(work, "cache"),
               CG_MBEDTLS_PATCHES=patches)
    env.pop("CG_MBEDTLS_OFFLINE", None)
    return env


def machine_with_repo(top, name, dsc_sha, repo, keyring):
    """A machine whose Debian source for bookworm is the local repository,
    trusted with KEYRING."""
    work = os.path.join(top, name)
    os.makedirs(work)
    env = setup(work, dsc_sha, "Types: deb\nURIs: file:%s\nSuites: bookworm\nComponents: main\n"
                "Signed-By: %s\n" % (repo, keyring))
    return work, env


def fetch(env, *args):
    return run(["bash", SCRIPT] + list(args), env=env)


def read(path):
    with open(path) as f:
        return f.read()


def fill_cache(work, pkg):
    d = os.path.join(work, "cache", "mbedtls_" + VERSION)
    os.makedirs(d)
    for f in os.listdir(pkg):
        shutil.copy(os.path.join(pkg, f), d)
    return d


def main():
    top = tempfile.mkdtemp(prefix="cg-fetch-mbedtls.")
    try:
        pkg = make_source_package(top)
        dsc = "mbedtls_%s.dsc" % VERSION
        dsc_sha = sha256(os.path.join(pkg, dsc))

        # --- online, through apt, from a repository signed by the trusted key
        home, keyring = make_key(top, "archive")
        repo = make_repo(top, pkg, home, "repo")
        work, env = machine_with_repo(top, "online", dsc_sha, repo, keyring)
        out = os.path.join(work, "tree")
        p = fetch(env, "--extract", out)
        check("download through apt from a signed repository: verified, unpacked, patched",
              p.returncode == 0 and p.stdout.strip() == "3.6.6"
              and read(os.path.join(out, "README")) == "upstream\npatched by Debian\n"
              and "return 2" in read(os.path.join(out, "library", "hello.c"))
              and os.path.isfile(os.path.join(work, "cache", "mbedtls_" + VERSION, dsc)),
              p.stdout + p.stderr)
        shutil.rmtree(repo)            # the network is gone: the stamp and the cache suffice
        p = fetch(env, "--extract", out)
        check("a second run with the stamped tree fetches nothing", p.returncode == 0 and p.stdout.strip() == "3.6.6",
              p.stdout + p.stderr)
        shutil.rmtree(out, ignore_errors=True)
        p = fetch(env, "--offline", "--extract", out)
        check("offline from the cache", p.returncode == 0 and os.path.isfile(os.path.join(out, "README")),
              p.stdout + p.stderr)

        # --- a repository signed by a key the machine does not trust
        home2, _ = make_key(top, "stranger")
        repo2 = make_repo(top, pkg, home2, "repo2")
        work, env = machine_with_repo(top, "badsig", dsc_sha, repo2, keyring)
        p = fetch(env, "--extract", os.path.join(work, "tree"))
        check("an index signed by an untrusted key is refused",
              p.returncode != 0 and "could not read or verify" in p.stderr
              and ("NO_PUBKEY" in p.stderr or "is not signed" in p.stderr)
              and not os.path.exists(os.path.join(work, "tree"))
              and not os.path.exists(os.path.join(work, "cache", "mbedtls_" + VERSION)),
              p.stdout + p.stderr)

        # --- cached copies, offline
        work = os.path.join(top, "tamper-tar")
        os.makedirs(work)
        env = setup(work, dsc_sha)
        cache = fill_cache(work, pkg)
        orig = os.path.join(cache, "mbedtls_3.6.6.orig.tar.gz")
        data = bytearray(open(orig, "rb").read())
        data[len(data) // 2] ^= 0x01                      # same size, one bit
        open(orig, "wb").write(data)
        p = fetch(env, "--offline", "--extract", os.path.join(work, "tree"))
        check("a tampered tarball is refused", p.returncode == 1 and "REFUSED" in p.stderr
              and "against its .dsc" in p.stderr and not os.path.exists(os.path.join(work, "tree")),
              p.stdout + p.stderr)

        # the attacker also rewrites the .dsc's hashes for the tampered tarball
        text = read(os.path.join(cache, dsc))
        old = sha256(os.path.join(pkg, "mbedtls_3.6.6.orig.tar.gz"))
        write(os.path.join(cache, dsc), text.replace(old, sha256(orig)))
        p = fetch(env, "--offline", "--extract", os.path.join(work, "tree"))
        check("a .dsc rewritten to match the tampered tarball is refused (not the pinned .dsc)",
              p.returncode == 1 and "REFUSED" in p.stderr and "the pin" in p.stderr
              and not os.path.exists(os.path.join(work, "tree")), p.stdout + p.stderr)

        work = os.path.join(top, "empty")
        os.makedirs(work)
        env = setup(work, dsc_sha)
        p = fetch(env, "--offline")
        check("--offline without a cached copy is refused", p.returncode == 1 and "not in the cache" in p.stderr,
              p.stdout + p.stderr)

        work = os.path.join(top, "badpatch")
        os.makedirs(work)
        env = setup(work, dsc_sha)
        fill_cache(work, pkg)
        write(os.path.join(work, "patches", "0002-stale.patch"),
              "--- a/README\n+++ b/README\n@@ -1 +1 @@\n-not there\n+x\n")
        p = fetch(env, "--offline", "--extract", os.path.join(work, "tree"))
        check("a certgate patch that does not apply is refused",
              p.returncode == 1 and "0002-stale.patch does not apply" in p.stderr
              and not os.path.exists(os.path.join(work, "tree")), p.stdout + p.stderr)

        work = os.path.join(top, "pin")
        os.makedirs(work)
        env = setup(work, dsc_sha)
        write(env["CG_MBEDTLS_PIN"], "suite=trixie\nversion=%s\ndsc_sha256=abc\n" % VERSION)
        p = fetch(env, "--offline")
        check("a malformed pin is refused with file:line", p.returncode == 1 and "source.pin:3: dsc_sha256" in p.stderr,
              p.stderr)

        # --- --show: the private source derived from the machine's
        work = os.path.join(top, "show")
        os.makedirs(work)
        env = setup(work, dsc_sha, "Types: deb\n# http://snapshot.example/\nURIs: http://mirror.one.example/debian\n"
                    "Suites: bookworm bookworm-updates\nComponents: main\nSigned-By: /etc/k.gpg\n")
        p = fetch(env, "--show")
        check("--show: the machine's URI and Signed-By, suite trixie, deb-src",
              p.returncode == 0 and p.stdout == "deb-src [signed-by=/etc/k.gpg] http://mirror.one.example/debian "
              "trixie main\n", p.stdout + p.stderr)
        os.remove(os.path.join(work, "apt", "sources.list.d", "debian.sources"))
        write(os.path.join(work, "apt", "sources.list"), "deb http://mirror.two.example/debian bookworm main\n")
        p = fetch(env, "--show")
        check("--show: without Signed-By, debian-archive-keyring's keyring",
              p.returncode == 0 and p.stdout == "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
              "http://mirror.two.example/debian trixie main\n", p.stdout + p.stderr)
        os.remove(os.path.join(work, "apt", "sources.list"))
        p = fetch(env, "--show")
        check("--show: no configured Debian source is refused with the reason",
              p.returncode == 1 and "no configured Debian source" in p.stderr, p.stdout + p.stderr)
    finally:
        for d in os.listdir(top):           # gpg started an agent per key home: stop them
            if d.startswith("gpg-"):
                run(["gpgconf", "--homedir", os.path.join(top, d), "--kill", "gpg-agent"])
        shutil.rmtree(top, ignore_errors=True)
    print("%d passed, %d failed" % (count - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
