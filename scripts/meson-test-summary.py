#!/usr/bin/env python3
"""Count test cases from a meson test log (used by scripts/test).

usage: meson-test-summary.py LABEL BUILDDIR

Reads BUILDDIR/meson-logs/testlog.json (the structured twin of testlog.txt:
one JSON object per meson test with its result, stdout and stderr) and counts
test *cases*, not meson tests:
  - cmocka binaries: "[  PASSED  ] N test(s)." and
    "[  FAILED  ] N test(s), listed below:" lines, summed (a binary may run
    several groups);
  - the integration runner: its last "N passed, N failed" line;
  - a test printing neither counts as one case, passed or failed as meson says.
A meson test that meson counts as failed (non-zero exit, signal, timeout, a
sanitizer report at exit after all cases passed...) adds one failure when its
output shows none, so it can never look green.

Prints one line per suite, then as the last line "TOTAL <passed> <failed>".
"""
import json
import os
import re
import sys

CMOCKA_PASSED = re.compile(r"^\[\s*PASSED\s*\]\s+(\d+)\s+test\(s\)\.", re.M)
CMOCKA_FAILED = re.compile(r"^\[\s*FAILED\s*\]\s+(\d+)\s+test\(s\),\s+listed below", re.M)
PLAIN = re.compile(r"^\s*(?:\w+:\s*)?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$", re.M)
BAD = {"FAIL", "TIMEOUT", "UNEXPECTEDPASS", "ERROR", "INTERRUPT"}


def count(test):
    """(passed, failed, skipped, note) for one meson test."""
    out = (test.get("stdout") or "") + "\n" + (test.get("stderr") or "")
    result = test.get("result", "ERROR")
    bad = result in BAD
    p_m, f_m = CMOCKA_PASSED.findall(out), CMOCKA_FAILED.findall(out)
    plain = PLAIN.findall(out)
    note = ""
    if p_m or f_m:
        p, f, s = sum(map(int, p_m)), sum(map(int, f_m)), 0
    elif plain:
        p, f, s = int(plain[-1][0]), int(plain[-1][1]), int(plain[-1][2] or 0)
    elif result == "SKIP":
        return 0, 0, 1, "skipped"
    else:
        return (0, 1, 0, result) if bad else (1, 0, 0, "")
    if bad and f == 0:
        f, note = 1, f"{result} (exit {test.get('returncode')}) after its cases passed"
    elif bad:
        note = result
    return p, f, s, note


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    label, builddir = sys.argv[1], sys.argv[2]
    path = os.path.join(builddir, "meson-logs", "testlog.json")
    suites = {}  # suite -> [passed, failed, skipped, [notes]]
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = [l for l in fh if l.strip()]
    except OSError:
        lines = []
    for line in lines:
        try:
            test = json.loads(line)
        except ValueError:
            continue
        name = test.get("name", "?")
        # "project:suite / test"
        suite = name.split(" / ")[0].split(":", 1)[-1] if " / " in name else "other"
        p, f, s, note = count(test)
        acc = suites.setdefault(suite, [0, 0, 0, []])
        acc[0] += p
        acc[1] += f
        acc[2] += s
        if note:
            acc[3].append(f"{name.split(' / ')[-1]}: {note}")
    if not suites:
        print(f"  {label}: no test results in {path}")
        print("TOTAL 0 1")
        return
    tp = tf = 0
    order = sorted(suites, key=lambda k: ({"unit": 0, "integration": 1}.get(k, 2), k))
    for suite in order:
        p, f, s, notes = suites[suite]
        tp, tf = tp + p, tf + f
        extra = f", {s} skipped" if s else ""
        why = f"  [{'; '.join(notes)}]" if notes else ""
        print(f"  {label:<11s}{suite + ':':<13s}{p} passed, {f} failed{extra}{why}")
    print(f"TOTAL {tp} {tf}")


if __name__ == "__main__":
    main()
