#!/usr/bin/env python3
"""pprof_check.py — the heap profile of a boot, read by `go tool pprof`.

  pprof_check.py LOG            check a serial log of a boot with
                                `memprofilerate=R pprofwork pprof`
  pprof_check.py --selftest     the checker on made-up pprof output (TAP)

The kernel's workload (kernel/pprof.c) allocates known bytes in known
object sizes from two functions and says so on serial:
  pprof: workload: pprof_alloc_1k B1 bytes in 1024-byte objects, pprof_alloc_64 B2 bytes ...
The profile is extracted (scripts/pprof_extract.py), and
`go tool pprof -top -sample_index=alloc_space -unit=B build/kernel.elf heap.pb`
must show, symbolized from the ELF:
  - pprof_alloc_1k on top (the largest flat alloc_space);
  - each function's alloc_space within NSIGMA standard errors of the bytes
    it allocated;
  - pprof_alloc_1k's share of the two within NSIGMA standard errors of
    B1 / (B1 + B2).
SAMPLING ERROR: an object of s bytes is sampled with probability
p = 1 - exp(-s/R), independently (mprof.c), and the estimate is
(samples / p) * s: for n objects its relative standard error is
sqrt((1 - p) / (n p)).  NSIGMA = 4.5: a false failure about once in
150,000 boots.
"""
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import pprof_extract  # noqa: E402

NSIGMA = 4.5
WORK_RE = re.compile(r"^pprof: workload: pprof_alloc_1k (\d+) bytes in (\d+)-byte objects, "
                     r"pprof_alloc_64 (\d+) bytes in (\d+)-byte objects", re.M)
RATE_RE = re.compile(r"^pprof: heap profile: \d+ buckets, \d+ bytes of profile.proto, rate (\d+)",
                     re.M)
TOP_ROW = re.compile(r"^\s*(\d+)B\s+[\d.]+%\s+[\d.]+%\s+\d+B?\s+[\d.]+%\s+(.+?)\s*$")


def rel_error(total, size, rate):
    """Relative standard error of the alloc_space estimate of total bytes
    allocated in objects of size bytes at sampling rate R."""
    n = total / size
    p = -math.expm1(-size / rate)
    return math.sqrt((1 - p) / (n * p))


def evaluate(top, rate, work):
    """top: pprof -top -unit=B text; work: [(function, bytes, object size)].
    Returns (problems, facts)."""
    rows = [(int(m.group(1)), m.group(2)) for m in map(TOP_ROW.match, top.splitlines()) if m]
    if not rows:
        return ["no rows in the go tool pprof -top output"], []
    flat = {}
    for v, name in rows:
        flat[name] = flat.get(name, 0) + v
    problems, facts = [], []
    top_name = max(rows)[1]
    if top_name != work[0][0]:
        problems.append(f"top of alloc_space is {top_name}, want {work[0][0]}")
    est = []
    for name, total, size in work:
        got = flat.get(name, 0)
        sd = rel_error(total, size, rate) * total
        est.append((got, total, sd))
        facts.append(f"{name}: {got} B estimated, {total} allocated "
                     f"({(got - total) / sd:+.2f} standard errors of {sd:.0f} B)")
        if abs(got - total) > NSIGMA * sd:
            problems.append(f"{name}: alloc_space {got} B, allocated {total} B: "
                            f"off by {abs(got - total) / sd:.1f} standard errors (> {NSIGMA})")
    (a, ta, sa), (b, tb, sb) = est[0], est[1]
    if a + b:
        share, want = a / (a + b), ta / (ta + tb)
        sd = math.hypot(tb * sa, ta * sb) / (ta + tb) ** 2
        facts.append(f"{work[0][0]} share {100 * share:.2f}% of the two, expected "
                     f"{100 * want:.2f}% +- {100 * sd:.2f}% (one standard error)")
        if abs(share - want) > NSIGMA * sd:
            problems.append(f"{work[0][0]}: share {100 * share:.2f}%, expected {100 * want:.2f}% "
                            f"+- {100 * NSIGMA * sd:.2f}%")
    return problems, facts


def pprof_top(elf, pb):
    """go tool pprof -top of alloc_space in bytes, or raise RuntimeError."""
    try:
        p = subprocess.run(["go", "tool", "pprof", "-top", "-sample_index=alloc_space", "-unit=B",
                            elf, pb], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"cannot run go tool pprof ({e}): install golang-go "
                           "(bash scripts/install-deps.sh)")
    out = p.stdout.decode(errors="replace")
    if p.returncode:
        raise RuntimeError(f"go tool pprof failed (exit {p.returncode}): {out.strip()[-300:]}")
    return out


def check_log(log, elf, pb):
    """Problems with the heap profile in a boot's serial log, and facts."""
    work, rate = WORK_RE.search(log), RATE_RE.findall(log)
    if not work:
        return ["no 'pprof: workload' line: the pprofwork word did not run"], []
    if not rate:
        return ["no 'pprof: heap profile' line: the pprof word did not dump"], []
    try:
        data = pprof_extract.extract(log)
        with open(pb, "wb") as f:
            f.write(data)
        top = pprof_top(elf, pb)
    except (ValueError, RuntimeError, OSError) as e:
        return [f"heap profile: {e}"], []
    g = [int(x) for x in work.groups()]
    return evaluate(top, int(rate[-1]),
                    [("pprof_alloc_1k", g[0], g[1]), ("pprof_alloc_64", g[2], g[3])])


def check_boot(cfg, log):
    """run.py's post-check of a configuration with pprof=True."""
    pb = os.path.join(ROOT, "build", "test", f"{cfg['name']}-heap.pb")
    problems, facts = check_log(log, os.path.join(ROOT, "build", "kernel.elf"), pb)
    with open(os.path.join(ROOT, "build", "test", f"{cfg['name']}-pprof.txt"), "w") as f:
        f.write("\n".join(facts + problems) + "\n")
    return problems


# ---------------------------------------------------------------- self-test
GOOD_TOP = """\
File: kernel.elf
Type: alloc_space
Showing nodes accounting for 67506458B, 100% of 67506458B total
      flat  flat%   sum%        cum   cum%
 50606053B 74.96% 74.96%  50606053B 74.96%  pprof_alloc_1k
 16900405B 25.04%   100%  16900405B 25.04%  pprof_alloc_64
         0     0%   100%  67506458B   100%  kmain
"""
WORK = [("pprof_alloc_1k", 50331648, 1024), ("pprof_alloc_64", 16777216, 64)]


def selftest():
    swapped = GOOD_TOP.replace("pprof_alloc_1k", "X").replace("pprof_alloc_64", "pprof_alloc_1k") \
        .replace("X", "pprof_alloc_64")
    cases = [
        ("a good profile", GOOD_TOP, True),
        ("the 64-byte function on top", swapped, False),
        ("1 KiB estimate 10% high", GOOD_TOP.replace("50606053B 74.96%", "55666658B 74.96%"), False),
        ("64-byte estimate halved", GOOD_TOP.replace("16900405B 25.04%", " 8450202B 25.04%"), False),
        ("a function missing", GOOD_TOP.replace(" 16900405B 25.04%   100%  16900405B 25.04%  pprof_alloc_64\n", ""), False),
        ("no rows at all", "File: kernel.elf\n", False),
    ]
    failed = 0
    for i, (what, top, good) in enumerate(cases, 1):
        problems, _ = evaluate(top, 8192, WORK)
        ok = (not problems) == good
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {i} - pprof checker, {what}: "
              f"{'passes' if not problems else 'caught: ' + problems[0]}")
    logs = [("a log with the kernel's no-samples line",
             "pprof: no samples (memprofilerate=0: profiling is off; ...)\n", "no samples"),
            ("a profile cut short", "-----BEGIN HEAP PROFILE-----\nAAAA\n", "cut short"),
            ("bad base64", "-----BEGIN HEAP PROFILE-----\nA*A\n-----END HEAP PROFILE-----\n",
             "not valid base64"),
            ("an empty profile", "-----BEGIN HEAP PROFILE-----\n-----END HEAP PROFILE-----\n",
             "empty")]
    n = len(cases)
    for what, log, want in logs:
        n += 1
        try:
            pprof_extract.extract(log)
            ok, said = False, "accepted"
        except ValueError as e:
            ok, said = want in str(e), str(e)
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {n} - pprof_extract, {what}: {said}")
    n += 1
    data = pprof_extract.extract("x\n-----BEGIN HEAP PROFILE-----\r\nAAEC\r\nAw==\r\n"
                                 "-----END HEAP PROFILE-----\r\n")
    ok = data == bytes([0, 1, 2, 3])
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - pprof_extract, a good profile over CRLF lines")
    print(f"{n - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    if argv[1:] == ["--selftest"]:
        return selftest()
    if len(argv) != 2:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    log = open(argv[1], errors="replace").read().replace("\r", "")
    problems, facts = check_log(log, os.path.join(ROOT, "build", "kernel.elf"),
                                os.path.join(ROOT, "build", "heap.pb"))
    for line in facts:
        print(line)
    for line in problems:
        print("problem: " + line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
