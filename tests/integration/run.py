#!/usr/bin/env python3
"""Runs certgate's integration tests: every test_*.py beside this file.

    python3 run.py [-k SUBSTRING]... [--list] [-x]

meson runs it as the `integration` test with CERTGATE (the binary) and
CG_SOURCE_ROOT (the repository) in the environment; see README.md.

Prints one line per test (ok / FAIL / ERROR / skip, the name, seconds), the
details of each failure, and as its last line "N passed, N failed" (with
", N skipped" when some were skipped). Exit status 0 only when none failed.

A whole-run guard (CG_RUN_TIMEOUT seconds, default 600, 900 on sanitized
builds) kills the processes the tests started and fails the run instead of
hanging; each test also has its own limit (CG_TEST_TIMEOUT, default 120 s, x3
on sanitized builds) after which it is interrupted and reported as an ERROR.
"""

import argparse
import faulthandler
import importlib
import io
import os
import signal
import sys
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


class TestTimeout(Exception):
    pass


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = self.xfailed = 0
        self.details = []  # (label, name, text)
        self.lock = threading.Lock()

    def line(self, word, name, seconds, note=""):
        print("%-5s %s (%.2fs)%s" % (word, name, seconds, ("  " + note) if note else ""), flush=True)

    def summary(self):
        s = "%d passed, %d failed" % (self.passed, self.failed)
        if self.skipped:
            s += ", %d skipped" % self.skipped
        return s


class Result(unittest.TestResult):
    """Collects the outcome of one test (TestCase.run) without printing."""

    def __init__(self):
        super().__init__()
        self.outcome = "ok"
        self.texts = []
        self.skip_reason = ""

    def _fmt(self, test, err):
        return self._exc_info_to_string(err, test)

    def addError(self, test, err):
        super().addError(test, err)
        if self.outcome != "FAIL":
            self.outcome = "ERROR"
        self.texts.append(self._fmt(test, err))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcome = "FAIL"
        self.texts.append(self._fmt(test, err))

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            if issubclass(err[0], test.failureException):
                self.outcome = "FAIL"
            elif self.outcome != "FAIL":
                self.outcome = "ERROR"
            self.texts.append("[%s]\n%s" % (subtest._subDescription(), self._fmt(test, err)))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self.outcome == "ok":
            self.outcome = "skip"
        self.skip_reason = reason

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.outcome = "FAIL"
        self.texts.append("unexpected success: %s (remove the expected-failure mark)"
                          % (xfail_reason(test) or "marked as an expected failure"))

    def addExpectedFailure(self, test, err):
        # A known, documented breakage (e.g. what Active Directory still
        # breaks, marked on the Samba variant of a test): counted as passed,
        # printed as "xfail" with the reason and the first line of the error.
        super().addExpectedFailure(test, err)
        self.outcome = "xfail"
        first = (str(err[1]).strip().splitlines() or [""])[0]
        self.skip_reason = "%s; got %s: %s" % (xfail_reason(test), err[0].__name__, first[:200])


def xfail_reason(test):
    """The reason a test was marked as an expected failure with (its method's
    _xfail_reason attribute), or ""."""
    return getattr(getattr(test, test._testMethodName, None), "_xfail_reason", "")


def test_name(test):
    cls = type(test)
    return "%s.%s.%s" % (cls.__module__, cls.__qualname__, test._testMethodName)


def discover(patterns):
    """[(module, [(class, [tests])])] for every test_*.py, filtered."""
    out = []
    loader = unittest.TestLoader()
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        modname = fn[:-3]
        try:
            mod = importlib.import_module(modname)
        except Exception:
            out.append((modname, None, traceback.format_exc()))
            continue
        classes = []
        for name in sorted(dir(mod)):
            obj = getattr(mod, name)
            if (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                    and obj.__module__ == mod.__name__):
                tests = [obj(m) for m in loader.getTestCaseNames(obj)]
                tests = [tc for tc in tests
                         if not patterns or any(p in test_name(tc) for p in patterns)]
                if tests:
                    classes.append((obj, tests))
        if classes:
            out.append((mod, classes, None))
    return out


def call_fixture(fn):
    """Runs a class/module fixture; returns None, ("skip", reason) or ("error", text)."""
    try:
        fn()
        return None
    except unittest.SkipTest as e:
        return ("skip", str(e))
    except BaseException:  # noqa: B902 - TestTimeout too
        return ("error", traceback.format_exc())


class Alarm:
    """Interrupts the main thread with TestTimeout after `seconds`."""

    def __init__(self, seconds, what):
        self.seconds, self.what = seconds, what

    def _fire(self, signum, frame):
        raise TestTimeout("%s took longer than %gs; interrupted (where it was is in the "
                          "traceback)" % (self.what, self.seconds))

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)


def long_seconds(tc):
    """The extra time a test marked harness.long_running needs (0 if unmarked)."""
    return getattr(getattr(tc, tc._testMethodName, None), "cg_seconds", 0)


def main():
    ap = argparse.ArgumentParser(description="certgate integration tests")
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTRING",
                    help="run only tests whose name (module.Class.method) contains it")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("-x", "--failfast", action="store_true", help="stop at the first failure")
    args = ap.parse_args()

    tally = Tally()
    run_timeout = float(os.environ.get("CG_RUN_TIMEOUT") or (900 if harness.SANITIZED else 600))
    test_timeout = float(os.environ.get("CG_TEST_TIMEOUT") or 120) * harness.SLOW

    def guard():
        sys.stdout.flush()
        print("\nFATAL: the integration run exceeded %ds; killing its processes." % run_timeout,
              flush=True)
        faulthandler.dump_traceback(file=sys.stdout, all_threads=True)
        harness.kill_all()
        left = [d.path for d in harness._module_tmps.values()]
        if left:
            print("temp dirs left for inspection: %s" % " ".join(left), flush=True)
        with tally.lock:
            tally.failed += 1
            print(tally.summary(), flush=True)
        os._exit(1)

    modules = discover(args.k)
    # Tests marked long_running bring their own time to the whole run's guard.
    if not harness.SKIP_LONG:
        run_timeout += sum(long_seconds(tc) * harness.SLOW for _, classes, err in modules if not err
                           for _, tests in classes for tc in tests)
    timer = threading.Timer(run_timeout, guard)
    timer.daemon = True

    if args.list:
        for mod, classes, err in modules:
            if err:
                print("cannot import %s:\n%s" % (mod, err))
                continue
            for cls, tests in classes:
                for tc in tests:
                    print(test_name(tc))
        return 0

    print("certgate integration tests: CERTGATE=%s%s" % (
        harness.CERTGATE, " (sanitized build: timeouts x%d)" % harness.SLOW if harness.SANITIZED
        else ""), flush=True)
    timer.start()
    t_start = time.monotonic()
    stop = False

    def record(word, name, secs, texts=(), note="", count=True):
        with tally.lock:
            tally.line(word, name, secs, note)
            if word in ("ok", "xfail"):
                tally.passed += count
                tally.xfailed += count * (word == "xfail")
            elif word == "skip":
                tally.skipped += count
            else:
                tally.failed += count
                for tx in texts:
                    tally.details.append((word, name, tx))

    for mod, classes, err in modules:
        if stop:
            break
        if err:
            record("ERROR", "%s (import)" % mod, 0, [err])
            continue
        t0 = time.monotonic()
        fx = None
        if hasattr(mod, "setUpModule"):
            with Alarm(test_timeout, "%s.setUpModule" % mod.__name__):
                fx = call_fixture(mod.setUpModule)
        if fx:
            for cls, tests in classes:
                for tc in tests:
                    if fx[0] == "skip":
                        record("skip", test_name(tc), 0, note=fx[1])
                    else:
                        record("ERROR", test_name(tc), 0,
                               note="setUpModule failed (details below)")
            if fx[0] == "error":
                # its tests are counted as failed already
                record("ERROR", "%s.setUpModule" % mod.__name__, time.monotonic() - t0, [fx[1]],
                       count=False)
        else:
            for cls, tests in classes:
                if stop:
                    break
                cname = "%s.%s" % (mod.__name__, cls.__qualname__)
                harness.use_client_tls(getattr(cls, "client_tls", None))
                t0 = time.monotonic()
                with Alarm(test_timeout, cname + ".setUpClass"):
                    fx = call_fixture(cls.setUpClass)
                if fx:
                    for tc in tests:
                        if fx[0] == "skip":
                            record("skip", test_name(tc), 0, note=fx[1])
                        else:
                            record("ERROR", test_name(tc), 0,
                                   note="%s.setUpClass failed (details below)" % cname)
                    if fx[0] == "error":
                        record("ERROR", cname + ".setUpClass", time.monotonic() - t0, [fx[1]],
                               count=False)
                        # the class may have started processes before failing
                        call_fixture(cls.tearDownClass)
                    continue
                for tc in tests:
                    name = test_name(tc)
                    res = Result()
                    t0 = time.monotonic()
                    try:
                        with Alarm(test_timeout + long_seconds(tc) * harness.SLOW, name):
                            tc.run(res)
                    except TestTimeout:
                        res.outcome = "ERROR"
                        res.texts.append(traceback.format_exc())
                    secs = time.monotonic() - t0
                    record(res.outcome, name, secs, res.texts,
                           note=res.skip_reason if res.outcome in ("skip", "xfail") else "")
                    if args.failfast and res.outcome in ("FAIL", "ERROR"):
                        stop = True
                        break
                t0 = time.monotonic()
                with Alarm(test_timeout, cname + ".tearDownClass"):
                    fx = call_fixture(cls.tearDownClass)
                if fx and fx[0] == "error":
                    record("ERROR", cname + ".tearDownClass", time.monotonic() - t0, [fx[1]])
        if hasattr(mod, "tearDownModule"):
            t0 = time.monotonic()
            with Alarm(test_timeout, "%s.tearDownModule" % mod.__name__):
                fx = call_fixture(mod.tearDownModule)
            if fx and fx[0] == "error":
                record("ERROR", "%s.tearDownModule" % mod.__name__, time.monotonic() - t0, [fx[1]])

    timer.cancel()
    harness.kill_all()
    with tally.lock:
        if tally.details:
            print("\n" + "=" * 70, flush=True)
            for word, name, text in tally.details:
                print("%s: %s\n%s\n%s" % (word, name, "-" * 70, text.rstrip()))
                print("=" * 70)
        print("\ntotal %.1fs" % (time.monotonic() - t_start))
        if tally.xfailed:
            print("(%d of the passed are expected failures: \"xfail\" above)" % tally.xfailed)
        print(tally.summary(), flush=True)
        return 0 if tally.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
