#!/usr/bin/env python3
"""`meson install` puts every file where an operator expects it.

usage: check_layout.py BUILD_DIR SOURCE_ROOT

Installs the build into a temporary DESTDIR (meson install --no-rebuild) and
checks, each a case of the "N passed, N failed" last line:
  - the binary, man pages, unit, sysusers.d and tmpfiles.d entries, example
    configuration and documentation are where meson's options say;
  - every docs/*.md is installed (a new document cannot be forgotten);
  - the unit's ExecStart/ExecReload name the installed binary and
    configuration, and the sysusers/tmpfiles entries name user certgate;
  - installing again over an edited configuration keeps it and puts the new
    one beside it as .dist;
  - `systemd-analyze verify` accepts the unit (skipped, with the reason,
    without systemd-analyze).
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile


def meson_dirs(build):
    opts = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", build], check=True,
                                     capture_output=True, text=True).stdout)
    return {o["name"]: o["value"] for o in opts}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    build, root = (os.path.abspath(a) for a in sys.argv[1:])
    opt = meson_dirs(build)
    prefix = opt["prefix"]

    def under(d):
        return os.path.join(prefix, d) if not os.path.isabs(d) else d

    sbindir, sysconfdir = under(opt["sbindir"]), under(opt["sysconfdir"])
    mandir, datadir = under(opt["mandir"]), under(opt["datadir"])
    results = []  # (name, status: True/False/None for skipped, detail)

    def check(name, ok, detail=""):
        results.append((name, ok, detail))

    with tempfile.TemporaryDirectory(prefix="cg-install-") as dest:
        def staged(p):
            return dest + p

        r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest],
                           capture_output=True, text=True)
        check("meson install into a DESTDIR", r.returncode == 0, (r.stdout + r.stderr)[-2000:] if r.returncode else dest)
        if r.returncode:
            return report(results)

        # Where the systemd files went: the unit is the one installed file named so.
        units = glob.glob(staged("/**/certgate.service"), recursive=True)
        sysusers = glob.glob(staged("/**/sysusers.d/certgate.conf"), recursive=True)
        tmpfiles = glob.glob(staged("/**/tmpfiles.d/certgate.conf"), recursive=True)
        confdir = sysconfdir + "/certgate"
        docdir = datadir + "/doc/certgate"
        expected = [
            (sbindir + "/certgate", 0o755),
            (mandir + "/man8/certgate.8", 0o644),
            (mandir + "/man5/certgate.yaml.5", 0o644),
            (confdir + "/certgate.yaml", 0o644),
            (confdir + "/mapping.example.yaml", 0o644),
            (docdir + "/README.md", 0o644),
            (docdir + "/examples/certgate.yaml", 0o644),
            (docdir + "/examples/mapping.example.yaml", 0o644),
        ] + [(docdir + "/" + os.path.basename(d), 0o644) for d in sorted(glob.glob(root + "/docs/*.md"))]
        wrong = []
        for path, mode in expected:
            try:
                m = os.stat(staged(path)).st_mode & 0o7777
                if m != mode:
                    wrong.append(f"{path} mode {m:o}, want {mode:o}")
            except FileNotFoundError:
                wrong.append(f"{path} missing")
        check("files installed with their modes (docs/*.md included)", not wrong,
              "; ".join(wrong) or f"{len(expected)} files")
        check("unit, sysusers.d and tmpfiles.d entries installed",
              len(units) == 1 and len(sysusers) == 1 and len(tmpfiles) == 1,
              ", ".join(p[len(dest):] for p in units + sysusers + tmpfiles) or "none found")
        if len(units) != 1 or not sysusers or not tmpfiles:
            return report(results)

        unit = open(units[0], encoding="utf-8").read()
        config = confdir + "/certgate.yaml"
        want = [f"ExecStart={sbindir}/certgate run -c {config}",
                f"ExecReload={sbindir}/certgate reload -c {config}",
                "Type=notify", "User=certgate", "Group=certgate"]
        absent = [w for w in want if w + "\n" not in unit]
        leftover = re.findall(r"@[A-Z_]+@", unit)
        check("unit runs the installed binary with the installed configuration", not absent and not leftover,
              "missing: " + "; ".join(absent) if absent else f"unsubstituted {leftover}" if leftover else want[0])
        su = open(sysusers[0], encoding="utf-8").read()
        tf = open(tmpfiles[0], encoding="utf-8").read()
        check("sysusers.d: system user certgate, no login",
              any(l.split()[:2] == ["u", "certgate"] and l.rstrip().endswith("/usr/sbin/nologin")
                  for l in su.splitlines()), su.strip().splitlines()[-1])
        check("tmpfiles.d: /var/cache/certgate 0750 certgate:certgate",
              "d /var/cache/certgate 0750 certgate certgate" in tf, tf.strip().splitlines()[-1])

        # An operator's edit survives `meson install` (Debian: conffiles).
        cfg = staged(config)
        with open(cfg, "a", encoding="utf-8") as fh:
            fh.write("# edited by the operator\n")
        r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest],
                           capture_output=True, text=True)
        kept = "# edited by the operator\n" in open(cfg, encoding="utf-8").read()
        dist = os.path.exists(cfg + ".dist")
        check("installing again keeps an edited configuration (new one as .dist)",
              r.returncode == 0 and kept and dist,
              f"exit {r.returncode}, kept={kept}, .dist={dist}")

        # systemd-analyze verify checks every directive and that ExecStart is
        # executable: point it at the staged binary (the only change).
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            check("systemd-analyze verify certgate.service", None, "skipped: no systemd-analyze (package systemd)")
        else:
            vdir = os.path.join(dest, "verify")
            os.mkdir(vdir)
            with open(os.path.join(vdir, "certgate.service"), "w", encoding="utf-8") as fh:
                fh.write(unit.replace(f"={sbindir}/certgate ", f"={staged(sbindir)}/certgate "))
            r = subprocess.run([analyze, "verify", "--man=no", os.path.join(vdir, "certgate.service")],
                               capture_output=True, text=True, timeout=60)
            out = (r.stdout + r.stderr).strip()
            check("systemd-analyze verify certgate.service", r.returncode == 0 and not out, out or "clean")
    return report(results)


def report(results):
    passed = sum(1 for _, ok, _ in results if ok is True)
    failed = sum(1 for _, ok, _ in results if ok is False)
    skipped = sum(1 for _, ok, _ in results if ok is None)
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'skip' if ok is None else 'FAIL'} {name}: {detail}")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
