#!/usr/bin/env python3
"""make test: host unit tests, generator check, the LD_PRELOAD library, the
harness's log checkers (run.py --check-selftest), the benchmark log parsers
(tests/bench/test_gcbench_parse.py), the heap-profile checker
(tests/qemu/pprof_check.py --selftest), then the QEMU matrix.

Prints each part's results and ends with one aggregate line
"N passed, N failed" (every host test case, the size-class generator check
and every QEMU configuration count once).  Exit status 1 on any failure.
Environment: KTEST_FAIL=1 adds the deliberately failing self-test to every
boot (proves a failure turns the run red); TEST_CONFIGS=a,b limits the
QEMU matrix; SKIP_QEMU=1 runs the host part only.
"""
import glob
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed", re.M)


def run_host():
    passed = failed = 0
    # one binary per tests/host/test_*.c (and the fuzz replay): a binary
    # left in build/host by a test file that no longer exists is not run
    # (nor is a missing one skipped: it is a failure)
    names = [os.path.basename(src)[:-2]
             for src in glob.glob(os.path.join(ROOT, "tests", "host", "test_*.c"))]
    if os.path.exists(os.path.join(ROOT, "tests", "fuzz", "replay_main.c")):
        names.append("test_fuzz_replay")  # the fuzz harness's corpus replay
    for name in sorted(names):
        exe = os.path.join(BUILD, "host", name)
        if not os.path.exists(exe):
            print(f"not ok - host {name}: not built ({os.path.relpath(exe, ROOT)} is missing)")
            failed += 1
            continue
        t0 = time.time()
        p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
        out = p.stdout.decode(errors="replace")
        m = SUMMARY.findall(out)
        if not m:
            print(f"not ok - host {name}: no summary line (exit {p.returncode})")
            print("\n".join("#   " + l for l in out.splitlines()[-30:]))
            failed += 1
            continue
        np_, nf = int(m[-1][0]), int(m[-1][1])
        if p.returncode != 0 and nf == 0:
            nf = 1  # crashed or sanitizer error after the summary
        passed += np_
        failed += nf
        status = "ok" if nf == 0 else "not ok"
        print(f"{status} - host {name}: {np_} passed, {nf} failed ({time.time() - t0:.1f}s)")
        if nf:
            for line in out.splitlines():
                if line.startswith("not ok") or line.startswith("#") or "ERROR" in line or "runtime error" in line:
                    print("#   " + line)
    return passed, failed


def run_generator_check():
    gen = os.path.join(BUILD, "mksizeclasses")
    if not os.path.exists(gen):
        return 0, 0
    p = subprocess.run([gen, "--check", os.path.join(ROOT, "alloc", "sizeclasses.h")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ok = p.returncode == 0
    print(f"{'ok' if ok else 'not ok'} - alloc/sizeclasses.h equals mksizeclasses output: "
          f"{p.stdout.decode().strip()}")
    return (1, 0) if ok else (0, 1)


def run_tap_script(argv, suffix=""):
    """Run a script that prints TAP-ish lines and ends with 'N passed, N failed';
    print its lines (tagged with suffix) but its summary; a missing summary or
    a non-zero exit with no failure counted is one failure."""
    p = subprocess.run([sys.executable] + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       cwd=ROOT)
    out = p.stdout.decode(errors="replace")
    m = SUMMARY.findall(out)
    lines = out.splitlines()
    print("\n".join(l + suffix if suffix and l.startswith(("ok ", "not ok ")) else l
                    for l in (lines[:-1] if m else lines)))
    if not m:
        return 0, 1
    np_, nf = int(m[-1][0]), int(m[-1][1])
    return np_, max(nf, 1 if p.returncode else 0)


def run_preload():
    """The allocator as LD_PRELOAD malloc: API tests and real programs."""
    script = os.path.join(ROOT, "tests", "preload", "run.py")
    if not os.path.exists(script):
        return 0, 0
    return run_tap_script([script, "--build", BUILD])


def run_bench_parsers():
    """tests/bench/gcbench.py's log parsers (python only: no QEMU, no Go)."""
    script = os.path.join(ROOT, "tests", "bench", "test_gcbench_parse.py")
    if not os.path.exists(script):
        return 0, 0
    return run_tap_script([script], " (gcbench.py)")


def run_checker_selftest():
    """The QEMU harness's log checkers on made-up logs (no QEMU needed)."""
    return run_tap_script([os.path.join(ROOT, "tests", "qemu", "run.py"), "--check-selftest"])


def run_pprof_selftest():
    """The heap-profile checker and extractor on made-up input (no QEMU, no Go)."""
    return run_tap_script([os.path.join(ROOT, "tests", "qemu", "pprof_check.py"), "--selftest"])


def run_qemu():
    """The boot matrix; its summary is its last line."""
    argv = [os.path.join(ROOT, "tests", "qemu", "run.py"), "--matrix",
            os.environ.get("TEST_CONFIGS") or "all"]
    if os.environ.get("KTEST_FAIL"):
        argv.append("--inject-failure")
    return run_tap_script(argv)


def main():
    t0 = time.time()
    totals = [0, 0]
    parts = [("host unit tests", run_host), ("size-class generator", run_generator_check),
             ("LD_PRELOAD library", run_preload), ("harness checkers", run_checker_selftest),
             ("benchmark log parsers", run_bench_parsers),
             ("heap profile checker", run_pprof_selftest)]
    if not os.environ.get("SKIP_QEMU"):
        parts.append(("QEMU boot matrix", run_qemu))
    for title, fn in parts:
        print(f"== {title}", flush=True)
        p, f = fn()
        totals[0] += p
        totals[1] += f
        sys.stdout.flush()
    print(f"== done in {time.time() - t0:.0f}s")
    print(f"{totals[0]} passed, {totals[1]} failed")
    return 0 if totals[1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
