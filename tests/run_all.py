#!/usr/bin/env python3
"""make test: host unit tests, generator check, the LD_PRELOAD library, the
harness's log checkers (run.py --check-selftest), the benchmark log parsers
(tests/bench/test_gcbench_parse.py), the harness's accelerator choice
(tests/qemu/test_accel.py), the heap-profile checker (tests/qemu/pprof_check.py
--selftest), Go's append capacities (tests/host/go), the USB/ISO image checks
(tests/qemu/test_images.py), then the QEMU matrix.

Prints each part's results and ends with one aggregate line
"N passed, N failed" (every host test case, the size-class generator check
and every QEMU configuration count once).  Exit status 1 on any failure.
Environment: KTEST_FAIL=1 adds the deliberately failing self-test to every
boot (proves a failure turns the run red); TEST_CONFIGS=a,b limits the
QEMU matrix; SKIP_QEMU=1 runs the host part only (without the image checks,
whose tools come with QEMU's in scripts/install-deps.sh).
"""
import glob
import os
import re
import shutil
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


def run_append_golden():
    """tests/host/go/appendcaps.golden is what a real Go prints: regenerate
    it with the installed Go (skipped without one) and compare.  The host
    test test_goruntime compares our growslice with the golden file."""
    golden = os.path.join(ROOT, "tests", "host", "go", "appendcaps.golden")
    go = shutil.which("go")
    if not go:
        print("ok - appendcaps.golden vs Go # SKIP no Go toolchain (scripts/install-deps.sh installs golang-go)")
        return 0, 0
    env = dict(os.environ, GOCACHE=os.path.join(BUILD, "gocache"), GOPATH=os.path.join(BUILD, "gopath"),
               GOFLAGS="-mod=mod", GO111MODULE="off", HOME=os.environ.get("HOME", BUILD))
    p = subprocess.run([go, "run", os.path.join(ROOT, "tests", "host", "go", "appendcaps.go")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=BUILD)
    want = open(golden).read().split("\n", 1)[1]
    got = p.stdout.decode(errors="replace")
    ver = subprocess.run([go, "version"], stdout=subprocess.PIPE).stdout.decode().strip()
    if p.returncode == 0 and got == want:
        print(f"ok - appendcaps.golden is what {ver} prints ({len(want.splitlines())} capacity changes)")
        return 1, 0
    diff = next((f"ours {a!r} Go {b!r}" for a, b in zip(want.splitlines(), got.splitlines()) if a != b),
                f"exit {p.returncode}, {len(got.splitlines())} lines")
    print(f"not ok - appendcaps.golden differs from {ver}: {diff}")
    return 0, 1


def run_pictures():
    """make heapmap/gcplot's drawing on a real boot: the smp4-3G log has the
    `heapmap` word's map and the `stat gc` records; both PNGs must be real
    pictures (scripts/heappics.py check), and the checker must refuse a blank
    one (its self-test)."""
    script = os.path.join(ROOT, "scripts", "heappics.py")
    p, f = run_tap_script([script, "--selftest"], " (heappics.py)")
    log = os.path.join(BUILD, "test", "smp4-3G.log")
    if not os.path.exists(log):
        print("ok - pictures # SKIP no smp4-3G boot in this run (TEST_CONFIGS)")
        return p, f
    for kind in ("heapmap", "gcplot"):
        png = os.path.join(BUILD, "test", kind + ".png")
        if os.path.exists(png):
            os.remove(png)
        r = subprocess.run([sys.executable, script, kind, log, png], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        c = subprocess.run([sys.executable, script, "check", png], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT) if r.returncode == 0 else r
        out = (r.stdout + (c.stdout if c is not r else b"")).decode(errors="replace").strip()
        ok = r.returncode == 0 and c.returncode == 0
        print(f"{'ok' if ok else 'not ok'} - pictures: {kind} from the smp4-3G boot: " + out.replace("\n", "; "))
        p, f = p + ok, f + (not ok)
    return p, f


def run_checker_selftest():
    """The QEMU harness's log checkers on made-up logs (no QEMU needed)."""
    return run_tap_script([os.path.join(ROOT, "tests", "qemu", "run.py"), "--check-selftest"])


def run_accel_test():
    """The harness's choice of accelerator, with a faked /dev/kvm (no QEMU boot)."""
    return run_tap_script([os.path.join(ROOT, "tests", "qemu", "test_accel.py")])


def run_images_test():
    """make usb's refusals and the disk-image layout checker (sfdisk, mtools, xorriso)."""
    return run_tap_script([os.path.join(ROOT, "tests", "qemu", "test_images.py")])


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
             ("benchmark log parsers", run_bench_parsers), ("QEMU accelerator choice", run_accel_test),
             ("heap profile checker", run_pprof_selftest), ("append capacities vs Go", run_append_golden)]
    if not os.environ.get("SKIP_QEMU"):  # the image tools come with the QEMU dependencies
        parts += [("USB and ISO images", run_images_test), ("QEMU boot matrix", run_qemu),
                  ("pictures (make heapmap, make gcplot)", run_pictures)]
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
