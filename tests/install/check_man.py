#!/usr/bin/env python3
"""The man pages cannot drift from the configuration and the CLI.

usage: check_man.py SOURCE_ROOT [CERTGATE]

Checks, each a case of the "N passed, N failed" last line:
  - every key of conf/certgate.yaml (by its full path, listeners[].tls.key)
    has an entry in man/certgate.yaml.5 (a .TP whose tag is that path);
  - every command `certgate --help` lists has a subsection in
    man/certgate.8 (needs CERTGATE, the built binary);
  - each page renders without a groff warning (groff -man -ww -z), and
    man-db's lexgrog can read its NAME line (what whatis and apropos use).
Standard library only.
"""
import os
import re
import shutil
import subprocess
import sys

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?:\s|$)(?P<rest>.*)$")


def config_key_paths(text):
    """Full paths of every key of a YAML configuration written in block style:
    'workers', 'logging.level', 'listeners[].tls.key'. Comments, blank lines
    and plain list items are skipped; '- key:' opens a list entry."""
    paths = []
    stack = []  # (indent, path): open mappings; a list entry is path + "[]"
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = KEY_LINE.match(line.split(" #", 1)[0].rstrip())
        if not m:
            continue
        indent = len(m.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if m.group("dash"):
            # The entry's keys sit after the dash: its own level, just before them.
            indent += len(m.group("dash"))
            stack.append((indent - 0.5, (stack[-1][1] if stack else "") + "[]"))
        parent = stack[-1][1] if stack else ""
        path = f"{parent}.{m.group('key')}" if parent else m.group("key")
        paths.append(path)
        stack.append((indent, path))
    return paths


def man_tags(text):
    """Tags of the .TP entries of a man page, first word of the line after .TP,
    with the font macro and quotes removed."""
    tags = set()
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            tag = re.sub(r"^\.(B|I|BR|BI|IR|RB)\s+", "", lines[i + 1].strip())
            tag = tag.strip('"').split()[0] if tag.strip('"').split() else ""
            tags.add(tag.replace("\\-", "-"))
    return tags


def man_headings(text):
    """Titles of the .SH and .SS headings, lower case."""
    return {re.sub(r'^\.S[HS]\s+"?|"?\s*$', "", l).replace("\\-", "-").lower()
            for l in text.splitlines() if l.startswith((".SH", ".SS"))}


def help_commands(certgate):
    out = subprocess.run([certgate, "--help"], capture_output=True, text=True, timeout=10).stdout
    cmds, in_cmds = [], False
    for line in out.splitlines():
        if line.strip() == "commands:":
            in_cmds = True
            continue
        if in_cmds:
            m = re.match(r"^  ([a-z][a-z-]*)(\s|$)", line)
            if m:
                cmds.append(m.group(1))
            elif not line.strip():
                break
    return cmds


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    root = sys.argv[1]
    certgate = sys.argv[2] if len(sys.argv) == 3 else None
    results = []  # (name, ok, detail)

    with open(os.path.join(root, "conf", "certgate.yaml"), encoding="utf-8") as fh:
        keys = config_key_paths(fh.read())
    page5 = os.path.join(root, "man", "certgate.yaml.5")
    page8 = os.path.join(root, "man", "certgate.8")
    with open(page5, encoding="utf-8") as fh:
        text5 = fh.read()
    # A key is an entry (.TP tagged with its path); a section may instead be a
    # heading of that name (".SS listeners[].tls").
    documented = man_tags(text5) | man_headings(text5)
    missing = [k for k in keys if k.lower() not in documented]
    results.append(("conf/certgate.yaml keys in certgate.yaml(5)", not missing and len(keys) > 50,
                    f"{len(keys)} keys; not documented: {', '.join(missing)}" if missing
                    else f"only {len(keys)} keys parsed" if len(keys) <= 50 else f"{len(keys)} keys"))

    if certgate:
        cmds = help_commands(certgate)
        with open(page8, encoding="utf-8") as fh:
            subs = man_headings(fh.read())
        missing = [c for c in cmds if c not in subs]
        results.append(("commands of certgate --help in certgate(8)", bool(cmds) and not missing,
                        f"no commands parsed from {certgate} --help" if not cmds
                        else f"not documented: {', '.join(missing)}" if missing else ", ".join(cmds)))

    for page in (page8, page5):
        name = os.path.basename(page)
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True, text=True,
                           env=dict(os.environ, LC_ALL="C.UTF-8"), timeout=30)
        results.append((f"{name} renders without groff warnings", r.returncode == 0 and not r.stderr.strip(),
                        r.stderr.strip() or f"exit {r.returncode}"))
        if shutil.which("lexgrog"):
            r = subprocess.run(["lexgrog", page], capture_output=True, text=True, timeout=30)
            results.append((f"{name} NAME line (lexgrog)", r.returncode == 0 and " - " in r.stdout,
                            (r.stdout + r.stderr).strip()))

    passed = sum(1 for _, ok, _ in results if ok)
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
