#!/usr/bin/env python3
"""make preload-test: build/libgomalloc.so under real programs.

1. build/preload/test_api (linked with -lgomalloc): its TAP cases count.
2. Real programs run twice — plain and with LD_PRELOAD=build/libgomalloc.so
   GOMALLOC_STATS=1 — and their stdout must be identical; the preloaded run
   must write "gomalloc: stats:" at exit (GOMALLOC_STATS=file) (proof the library was
   loaded and served the process) and nothing else from gomalloc.
   python3 (tests/preload/alloc_heavy.py), sort on a generated 4 MB file,
   gcc -O2 -S on a C file (driver, cc1, as all preloaded), the threaded C
   program build/preload/threads, and build/preload/cxx_new when g++ exists.
3. Library checks, run only under the preload (each must exit 0, and
   prints one summary line, shown in the test name):
   build/preload/stress (threads, cross-thread frees, content patterns,
   gomalloc_heap_verify at quiescent points; also with more threads than
   exclusive slots), build/preload/fork_churn (fork while threads
   allocate and free; each child verifies its heap and starts threads) and
   build/preload/larson_churn (larson-style generations of threads freeing
   each other's blocks, tags checked, heap verified between generations;
   with `break` it corrupts a block itself and must fail: the control).
4. Bad input as a process's first allocator call (build/preload/first_call):
   the exact stderr, exit status and GOMALLOC_ABORT behaviour.
5. Under `ulimit -v` 256 MB, 1 GB and 8 GB (bash -c 'ulimit -v N; ...'):
   ls / and python3 -c give glibc's output; build/preload/oom (malloc
   until NULL) and oom_cxx (new until bad_alloc) must get at least
   OOM_MIN_RATIO of the bytes glibc gets (the ratio is in the test name);
   the API unit tests and stress pass in that mode too (at 8 GB); ls /
   at 8192 KiB and python3 at 16384 KiB behave as with glibc; oom --raise
   keeps 6 x 500 MiB live after starting under a 256 MB soft limit and
   raising it (the window and page map are not sized by the first limit).
Prints TAP and ends with "N passed, N failed"; exit 1 on any failure.
Arguments after the options select tests whose name contains one of them
(e.g. `run.py --build build fork stress`).
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def library_checks(build, lib, env_c, want):
    """Programs that test the library itself, run only preloaded: exit 0,
    their last stdout line is the summary; no gomalloc message but stats."""
    pre = os.path.join(build, "preload")
    checks = [
        ("stress 4 threads", [os.path.join(pre, "stress"), "4", "8", "100000"]),
        ("stress 70 threads (shared slots)", [os.path.join(pre, "stress"), "70", "3", "3000"]),
        ("fork while 4 threads churn", [os.path.join(pre, "fork_churn"), "40", "4"]),
        ("larson churn 4 threads (cross-thread frees)", [os.path.join(pre, "larson_churn"), "4"]),
        ("larson churn 2 threads (cross-thread frees)", [os.path.join(pre, "larson_churn"), "2"]),
    ]
    results = []
    for name, argv in checks:
        if not want("check " + name):
            continue
        if not os.path.exists(argv[0]):
            results.append((False, "check " + name, "%s not built" % argv[0]))
            continue
        t0 = time.time()
        env = dict(env_c, LD_PRELOAD=lib)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=300)
        dt = time.time() - t0
        out = p.stdout.decode(errors="replace").strip().splitlines()
        err = p.stderr.decode(errors="replace")
        summary = out[-1] if out else "(no output)"
        problems = []
        if p.returncode != 0:
            problems.append("exit %d" % p.returncode)
        if "[no heap_verify]" in summary:
            problems.append("gomalloc_heap_verify not found: library not loaded")
        if "gomalloc:" in err:
            problems.append("allocator messages")
        results.append((not problems, "check %s: %s (%.1fs)" % (name, summary, dt),
                        "; ".join(problems) + ("\n" + err[-1500:] if problems else "")))
    return results + larson_break_check(pre, lib, env_c, want)


def larson_break_check(pre, lib, env_c, want):
    """Negative control of larson_churn's content check: with `break` it
    corrupts one live block itself and must stop with exit 1 naming it."""
    name = "check larson churn catches a corrupted block (break)"
    exe = os.path.join(pre, "larson_churn")
    if not want(name):
        return []
    if not os.path.exists(exe):
        return [(False, name, "%s not built" % exe)]
    p = subprocess.run([exe, "2", "3", "2", "500", "200", "break"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=dict(env_c, LD_PRELOAD=lib), timeout=60)
    err = p.stderr.decode(errors="replace")
    ok = p.returncode == 1 and re.search(r"larson_churn: lane 0 slot 100: .*pattern broken", err)
    return [(bool(ok), "%s: exit %d, %s" % (name, p.returncode, err.strip()[:60]), err[-800:])]


# Bad input as the first allocator call of a process (before the library
# initialised itself): (mode, GOMALLOC_ABORT, stderr regex, exit status,
# stdout).  The same treatment as later: "gomalloc: " prefix, abort on
# request, exhaustion silent.
FIRST_CALL = [
    ("free", "0", r"gomalloc: kfree: 0x[0-9a-f]+ is not in the heap\n", 0, "first_call: free returned\n"),
    ("free", "1", r"gomalloc: kfree: 0x[0-9a-f]+ is not in the heap\n", -6, ""),
    ("max", "0", r"", 0, "first_call: max returned\n"),
    ("max", "1", r"", 0, "first_call: max returned\n"),
]


def first_call_checks(build, lib, env_c, want):
    exe = os.path.join(build, "preload", "first_call")
    results = []
    for mode, abrt, err_re, rc, out in FIRST_CALL:
        name = "first call %s, GOMALLOC_ABORT=%s" % (mode, abrt)
        if not want(name):
            continue
        if not os.path.exists(exe):
            results.append((False, name, "%s not built" % exe))
            continue
        env = dict(env_c, LD_PRELOAD=lib, GOMALLOC_ABORT=abrt)
        p = subprocess.run([exe, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
        err, got = p.stderr.decode(errors="replace"), p.stdout.decode(errors="replace")
        problems = []
        if not re.fullmatch(err_re, err):
            problems.append("stderr %r, want /%s/" % (err, err_re))
        if p.returncode != rc:
            problems.append("exit %d, want %d" % (p.returncode, rc))
        if got != out:
            problems.append("stdout %r, want %r" % (got, out))
        results.append((not problems, "%s: exit %d, stderr %r" % (name, p.returncode, err.strip()),
                        "; ".join(problems)))
    return results


# Under `ulimit -v` (RLIMIT_AS): (limit in KiB, its name, oom block sizes).
ULIMITS = [(256 << 10, "256 MB", [1 << 20, 200]), (1 << 20, "1 GB", [1 << 20]),
           (8 << 20, "8 GB", [1 << 20])]
OOM_MIN_RATIO = 0.85  # ours / glibc's total before malloc returns NULL
PY_SNIPPET = "x=[str(i)*3 for i in range(300000)]; print(len(x), sum(map(len,x)))"


def ulimited(kib, preload, argv, env_c):
    """argv run by bash after `ulimit -v kib`, with LD_PRELOAD=preload ("" = glibc)."""
    cmd = ["bash", "-c", 'ulimit -v %d && LD_PRELOAD="$GM_PRELOAD" exec "$@"' % kib, "bash"] + argv
    env = dict(env_c, GM_PRELOAD=preload)
    env.pop("LD_PRELOAD", None)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=300)


def oom_mib(out):
    m = re.search(r"(\d+) MiB until (NULL|bad_alloc)", out)
    return int(m.group(1)) if m else None


def ulimit_checks(build, lib, env_c, want):
    """ls and python3 behave as with glibc; malloc until NULL (and C++ new
    until bad_alloc) gets at least OOM_MIN_RATIO of what glibc gets."""
    pre = os.path.join(build, "preload")
    cxx = os.path.join(pre, "oom_cxx")
    results = []
    for kib, lname, blocks in ULIMITS:
        progs = [("ls /", ["ls", "/"]), ("python3 -c", [sys.executable, "-c", PY_SNIPPET])]
        for pname, argv in progs:
            name = "ulimit -v %s: %s" % (lname, pname)
            if not want(name):
                continue
            plain, ours = ulimited(kib, "", argv, env_c), ulimited(kib, lib, argv, env_c)
            err = ours.stderr.decode(errors="replace")
            problems = []
            if plain.returncode != 0 or ours.returncode != 0:
                problems.append("exit %d (glibc %d)" % (ours.returncode, plain.returncode))
            if plain.stdout != ours.stdout:
                problems.append("stdout differs from glibc's")
            if "gomalloc" in err:
                problems.append("allocator messages")
            results.append((not problems, name + " as with glibc", "; ".join(problems) + "\n" + err[-800:]))
        ooms = [("malloc(%d) until NULL" % b, [os.path.join(pre, "oom"), str(b)]) for b in blocks]
        if kib == 1 << 20 and os.path.exists(cxx):
            ooms.append(("new char[1 MiB] until bad_alloc", [cxx, str(1 << 20)]))
        for oname, argv in ooms:
            name = "ulimit -v %s: %s" % (lname, oname)
            if not want(name):
                continue
            plain, ours = ulimited(kib, "", argv, env_c), ulimited(kib, lib, argv, env_c)
            g = oom_mib(plain.stdout.decode(errors="replace"))
            o = oom_mib(ours.stdout.decode(errors="replace"))
            problems = []
            if plain.returncode != 0 or ours.returncode != 0 or not g or o is None:
                problems.append("exit %d (glibc %d): %s %s" % (
                    ours.returncode, plain.returncode, ours.stdout.decode(errors="replace").strip(),
                    ours.stderr.decode(errors="replace")[-500:]))
            ratio = (o or 0) / g if g else 0
            if ratio < OOM_MIN_RATIO:
                problems.append("ratio %.3f < %.2f" % (ratio, OOM_MIN_RATIO))
            results.append((not problems, "%s: %s MiB, glibc %s MiB, ratio %.3f" % (name, o, g, ratio),
                            "; ".join(problems)))
    # a freed block's address space serves a larger one (chunks unmapped
    # when alloc/ scavenges after a failed back)
    name = "ulimit -v 1 GB: malloc 500 MiB, free, malloc 900 MiB"
    if want(name):
        argv = [os.path.join(pre, "oom"), "--sequence", "500", "900", "100", "900"]
        plain, ours = ulimited(1 << 20, "", argv, env_c), ulimited(1 << 20, lib, argv, env_c)
        out = ours.stdout.decode(errors="replace").strip()
        ok = ours.returncode == 0 and ours.stdout == plain.stdout
        results.append((ok, "%s: %s" % (name, out), "glibc: " + plain.stdout.decode(errors="replace")))
    # tiny limits: ls and python3 still start (the flat page map is backed
    # per arena, not for the whole window)
    for kib, pname, argv in [(8192, "ls /", ["ls", "/"]),
                             (16384, "python3 -c 'print(1)'", [sys.executable, "-c", "print(1)"])]:
        name = "ulimit -v %d KiB: %s as with glibc" % (kib, pname)
        if not want(name):
            continue
        plain, ours = ulimited(kib, "", argv, env_c), ulimited(kib, lib, argv, env_c)
        ok = plain.returncode == 0 and ours.returncode == 0 and plain.stdout == ours.stdout
        results.append((ok, name, "exit %d (glibc %d) %s" % (ours.returncode, plain.returncode,
                                                            ours.stderr.decode(errors="replace")[-500:])))
    # a limit raised after the first malloc is the limit (the window is not
    # sized by the first one): 6 x 500 MiB after starting under 256 MB
    name = "soft ulimit -v 256 MB raised at run time: 6 x 500 MiB"
    if want(name):
        argv = [os.path.join(pre, "oom"), "--raise", "500", "6"]
        cmd = ["bash", "-c", 'ulimit -S -v %d && LD_PRELOAD="$GM_PRELOAD" exec "$@"' % (256 << 10),
               "bash"] + argv
        env = dict(env_c, GM_PRELOAD=lib)
        env.pop("LD_PRELOAD", None)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=300)
        out = p.stdout.decode(errors="replace").strip()
        results.append((p.returncode == 0, "%s: %s" % (name, out),
                        p.stderr.decode(errors="replace")[-500:]))
    # the rest of the library in the on-demand window mode
    for name, argv, pre_lib in [
            ("ulimit -v 8 GB: API unit tests", [os.path.join(pre, "test_api")], ""),
            ("ulimit -v 8 GB: stress", [os.path.join(pre, "stress"), "4", "4", "50000"], lib)]:
        if not want(name):
            continue
        p = ulimited(8 << 20, pre_lib, argv, env_c)
        out = p.stdout.decode(errors="replace")
        last = out.strip().splitlines()[-1] if out.strip() else "(no output)"
        ok = p.returncode == 0 and ("verifies ok" in last or re.match(r"\d+ passed, 0 failed", last))
        results.append((bool(ok), "%s: %s" % (name, last), out[-1500:] + p.stderr.decode(errors="replace")[-500:]))
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--lib", help="the library to preload (default BUILD/libgomalloc.so), e.g. an "
                    "older build to show that a check fails there")
    ap.add_argument("select", nargs="*", help="run only tests whose name contains one of these")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build)
    lib = os.path.abspath(args.lib) if args.lib else os.path.join(build, "libgomalloc.so")
    tmp = os.path.join(build, "preload", "tmp")
    os.makedirs(tmp, exist_ok=True)
    results = []  # (ok, name, detail)
    want = lambda name: not args.select or any(w in name for w in args.select)

    # 1. API unit tests
    exe = os.path.join(build, "preload", "test_api")
    if want("api"):
        p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, timeout=120)
        out = p.stdout.decode(errors="replace")
        for m in re.finditer(r"^(ok|not ok) \d+ - (.*)$", out, re.M):
            results.append((m.group(1) == "ok", "api " + m.group(2), ""))
        if not re.search(r"^\d+ passed, \d+ failed", out, re.M) or p.returncode != 0:
            results.append((False, "api summary", out[-2000:]))

    # 2. real programs
    sortfile = os.path.join(tmp, "sort_input.txt")
    if not os.path.exists(sortfile):
        rng = random.Random(42)
        with open(sortfile, "w") as f:
            for i in range(200000):
                f.write("%08x %s %d\n" % (rng.getrandbits(32), "w" * rng.randrange(1, 20), i))
    env_c = dict(os.environ, LC_ALL="C")
    progs = [
        ("python3 alloc_heavy.py", [sys.executable, os.path.join(ROOT, "tests/preload/alloc_heavy.py")]),
        ("sort 4 MB file", ["sort", "-k2,2", "-k1,1", sortfile]),
        ("gcc -O2 -S alloc/mpagealloc.c", ["gcc", "-O2", "-S", "-I" + os.path.join(ROOT, "alloc"), "-o", "-", os.path.join(ROOT, "alloc/mpagealloc.c")]),
        ("threads (C, pthreads)", [os.path.join(build, "preload", "threads")]),
    ]
    cxx = os.path.join(build, "preload", "cxx_new")
    if os.path.exists(cxx):
        progs.append(("C++ new/delete", [cxx]))
    for name, argv in progs:
        if not want("preload " + name):
            continue
        t0 = time.time()
        plain = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_c, timeout=120)
        statsf = os.path.join(tmp, "stats.txt")
        if os.path.exists(statsf):
            os.unlink(statsf)
        env = dict(env_c, LD_PRELOAD=lib, GOMALLOC_STATS=statsf)
        pre = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120)
        dt = time.time() - t0
        err = pre.stderr.decode(errors="replace")
        other = [l for l in err.splitlines() if l.startswith("gomalloc:") and "gomalloc: stats:" not in l]
        problems = []
        if plain.returncode != 0:
            problems.append("plain run exit %d" % plain.returncode)
        if pre.returncode != plain.returncode:
            problems.append("preloaded exit %d (plain %d)" % (pre.returncode, plain.returncode))
        if pre.stdout != plain.stdout:
            problems.append("stdout differs (%d vs %d bytes)" % (len(pre.stdout), len(plain.stdout)))
        stats = open(statsf).read() if os.path.exists(statsf) else ""
        if "gomalloc: stats:" not in stats:
            problems.append("library not loaded (no gomalloc stats line)")
        if other:
            problems.append("allocator messages: " + "; ".join(other[:3]))
        results.append((not problems, "preload %s (%d bytes of output, %.1fs)" % (name, len(plain.stdout), dt),
                        "; ".join(problems) + ("\n" + err[-1500:] if problems else "")))

    # 3. library checks
    results += library_checks(build, lib, env_c, want)
    results += first_call_checks(build, lib, env_c, want)
    results += ulimit_checks(build, lib, env_c, want)

    n = 0
    print("TAP version 13")
    for ok, name, detail in results:
        n += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
        if not ok and detail:
            for l in detail.splitlines():
                print("#   " + l)
    passed = sum(1 for r in results if r[0])
    failed = len(results) - passed
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
