#!/usr/bin/env python3
"""make bench: every workload × every allocator, round-robin, median of reps.

Allocators: glibc (nothing preloaded), jemalloc, tcmalloc (gperftools'
tcmalloc_minimal), mimalloc (Debian packages) and ours (build/libgomalloc.so),
preloaded in turn; the order rotates every repetition.  Each workload prints
the allocator it found in /proc/self/maps; a mismatch is an error.  Peak RSS
is the child's ru_maxrss (os.wait4).  Then callgrind instruction counts per
malloc and per free (tests/bench/cg_fastpath.c, pair and batch-64 shapes)
for every allocator, and the Go anchor (go_alloc vs gc_anchor: mallocgc).
W10 (larson-style server churn, tests/bench/w10_larson.c) runs only in the
first --larson-reps repetitions (default 3) and gets its own table:
million operations per second per thread count and allocator, median, and
ours / best peer (> 1 is better there).
Writes build/bench/results.md, results.csv and chart.png (gnuplot).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBDIR = "/usr/lib/x86_64-linux-gnu"

CELLS = [
    ("W1 pair 16 B", ["w1_pair", "16"]),
    ("W1 pair 64 B", ["w1_pair", "64"]),
    ("W1 pair 256 B", ["w1_pair", "256"]),
    ("W1 pair 2048 B", ["w1_pair", "2048"]),
] + [
    ("W2 batch %s×%d B %s" % (b, s, o), ["w2_batch", str(s), str(b), o])
    for s in (16, 256) for b in (64, 1024, 100000) for o in ("lifo", "fifo")
] + [
    ("W3 working set 1T", ["w3_workset", "1"]),
    ("W3 working set 2T", ["w3_workset", "2"]),
    ("W4 server churn 2T", ["w4_server"]),
    ("W5 prod/cons 1P 64 B", ["w5_prodcons", "1", "64"]),
    ("W5 prod/cons 1P mix", ["w5_prodcons", "1", "mix"]),
    ("W5 prod/cons 2P 64 B", ["w5_prodcons", "2", "64"]),
    ("W5 prod/cons 2P mix", ["w5_prodcons", "2", "mix"]),
    ("W6 false sharing 1T", ["w6_falseshare", "1"]),
    ("W6 false sharing 2T", ["w6_falseshare", "2"]),
    ("W7 fragmentation", ["w7_frag"]),
    ("W8 large", ["w8_large"]),
    ("W9 thread churn", ["w9_thread_churn"]),
] + [
    ("W10 larson %dT" % t, ["w10_larson", str(t)]) for t in (1, 2, 4)
]
LARSON = re.compile(r"^W10 larson (\d+)T$")


def allocators(build):
    al = [("glibc", None), ("jemalloc", LIBDIR + "/libjemalloc.so.2"),
          ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4"), ("mimalloc", LIBDIR + "/libmimalloc.so.2"),
          ("gomalloc", os.path.join(build, "libgomalloc.so"))]
    have, missing = [], []
    for name, lib in al:
        (have if lib is None or os.path.exists(lib) else missing).append((name, lib))
    return have, [m[0] for m in missing]


def run_one(argv, lib, timeout=300):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    t0 = time.time()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = p.communicate(timeout=timeout)
    # communicate reaped the child; use RUSAGE_CHILDREN deltas instead of wait4
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace"), time.time() - t0


def maxrss_of(argv, lib):
    """Run and return (rc, stdout, stderr, maxrss KiB) using os.wait4."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    r, w = os.pipe()
    re_, we = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        os.dup2(we, 2)
        os.close(r)
        os.close(re_)
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(w)
    os.close(we)
    out = b""
    with os.fdopen(r, "rb") as f:
        out = f.read()
    with os.fdopen(re_, "rb") as f:
        err = f.read()
    _, status, ru = os.wait4(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    return rc, out.decode(errors="replace"), err.decode(errors="replace"), ru.ru_maxrss


LINE = re.compile(r"^(\S+) alloc=(\S+) threads=(\d+) ops=(\d+) seconds=([\d.]+) ops/s=(\d+)(.*)$", re.M)


def callgrind(wdir, allocs, outdir):
    res = {}
    if not shutil.which("valgrind"):
        return res, "valgrind not installed"
    exe = os.path.join(wdir, "cg_fastpath")
    for name, lib in allocs:
        for shape in ("pair", "batch64"):
            for fn in ("cg_malloc", "cg_free"):
                of = os.path.join(outdir, "cg.%s.%s.%s.out" % (name, shape, fn))
                env = dict(os.environ)
                if lib:
                    env["LD_PRELOAD"] = lib
                p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + of,
                                    "--toggle-collect=" + fn, exe, shape],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=600)
                m = re.search(r"calls (\d+)", p.stdout.decode())
                tot = None
                if os.path.exists(of):
                    for l in open(of):
                        if l.startswith("summary:") or l.startswith("totals:"):
                            tot = int(l.split()[1])
                if m and tot is not None:
                    res[(name, shape, fn)] = tot / int(m.group(1))
    return res, ""


def fmt_t(s):
    return "%.3f" % s if s < 10 else "%.1f" % s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="", help="regex on cell names")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--larson-reps", type=int, default=3, help="repetitions of the W10 larson cells")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build) if not os.path.isabs(args.build) else args.build
    wdir = os.path.join(build, "bench", "w")
    outdir = os.path.join(build, "bench")
    os.makedirs(outdir, exist_ok=True)
    allocs, missing = allocators(build)
    cells = [c for c in CELLS if not args.only or re.search(args.only, c[0])]
    names = [a[0] for a in allocs]
    times = {}  # (cell, alloc) -> [seconds]
    rss = {}
    rate = {}  # (cell, alloc) -> [ops/s]
    extra = {}
    errors = []
    t_start = time.time()
    for rep in range(args.reps):
        order = allocs[rep % len(allocs):] + allocs[:rep % len(allocs)]
        for cname, argv in cells:
            if LARSON.match(cname) and rep >= args.larson_reps:
                continue
            for aname, lib in order:
                rc, out, err, maxrss = maxrss_of([os.path.join(wdir, argv[0])] + argv[1:], lib)
                m = LINE.search(out)
                if rc != 0 or not m:
                    errors.append("%s / %s: exit %d: %s" % (cname, aname, rc, (out + err)[-300:]))
                    continue
                if m.group(2) != aname:
                    errors.append("%s / %s: workload saw allocator %s" % (cname, aname, m.group(2)))
                    continue
                times.setdefault((cname, aname), []).append(float(m.group(5)))
                rss.setdefault((cname, aname), []).append(maxrss)
                rate.setdefault((cname, aname), []).append(float(m.group(6)))
                if m.group(7).strip():
                    extra[(cname, aname)] = m.group(7).strip()
        print("bench: repetition %d/%d done (%.0fs)" % (rep + 1, args.reps, time.time() - t_start), flush=True)

    cg, cg_note = ({}, "skipped (--no-callgrind)") if args.no_callgrind else callgrind(wdir, allocs, outdir)

    # Go anchor
    anchor = {}
    go_exe = os.path.join(wdir, "go_alloc")
    ga_exe = os.path.join(wdir, "gc_anchor")
    for exe, who, argv in ((go_exe, "go", ["2000000"]), (ga_exe, "mallocgc", ["500000"])):
        if not os.path.exists(exe):
            continue
        samples = {}
        for _ in range(3):
            p = subprocess.run([exe] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            for m in re.finditer(r"^(GO-\S+) .* ns/op=([\d.]+)", p.stdout.decode(), re.M):
                samples.setdefault(m.group(1), []).append(float(m.group(2)))
        for k, v in samples.items():
            anchor[(k, who)] = statistics.median(v)

    # ---- report
    peers = [n for n in names if n != "gomalloc"]
    md = []
    md.append("# Allocator benchmarks (%s)\n" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    cpu = "?"
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
    md.append("Machine: %d CPUs, %s. Median of %d runs (round-robin), seconds; peak RSS MiB "
              "(ru_maxrss, median). *ratio* = gomalloc / best peer (< 1 is better).\n"
              % (os.cpu_count(), cpu, args.reps))
    if missing:
        md.append("Missing allocators (not installed): %s\n" % ", ".join(missing))
    hdr = "| workload | " + " | ".join(names) + " | ratio | best peer |"
    md.append(hdr)
    md.append("|" + "---|" * (len(names) + 3))
    csv = ["cell," + ",".join(names)]
    for cname, _ in cells:
        row = []
        med = {}
        for n in names:
            v = times.get((cname, n))
            if v:
                med[n] = statistics.median(v)
                row.append("%s s / %.0f MiB" % (fmt_t(med[n]), statistics.median(rss[(cname, n)]) / 1024))
            else:
                row.append("—")
        pm = {n: med[n] for n in peers if n in med}
        best = min(pm, key=pm.get) if pm else None
        ratio = "%.2f" % (med["gomalloc"] / pm[best]) if best and "gomalloc" in med else "—"
        md.append("| %s | %s | %s | %s |" % (cname, " | ".join(row), ratio, best or "—"))
        if med:
            bestall = min(med.values())
            csv.append('"%s",' % cname + ",".join("%.4f" % (med[n] / bestall) if n in med else "" for n in names))
    md.append("")
    # RSS ratio rows for W3, W4, W7
    md.append("Peak RSS, gomalloc / best peer: " + ", ".join(
        "%s %.2f" % (c, statistics.median(rss[(c, "gomalloc")]) / min(statistics.median(rss[(c, n)]) for n in peers if (c, n) in rss))
        for c, _ in cells if re.match(r"W([347]|10) ", c) and (c, "gomalloc") in rss and any((c, n) in rss for n in peers)))
    md.append("")
    w7 = [(n, extra[(c, n)]) for c, _ in cells for n in names if c.startswith("W7") and (c, n) in extra]
    if w7:
        md.append("W7 resident KiB after: start / 2M×64 B / free 90 % / 150k×1 KiB / free all (last run):\n")
        md.append("| allocator | RSS phases (KiB) | falls after free |")
        md.append("|---|---|---|")
        for n, e in w7:
            m = re.search(r"rss_kib=(\S+) falls=(\S+)", e)
            if m:
                md.append("| %s | %s | %s |" % (n, m.group(1).replace("/", " / "), m.group(2)))
        md.append("")
    w6 = [(n, extra[(c, n)]) for c, _ in cells for n in names if c.startswith("W6") and "2T" in c and (c, n) in extra]
    if w6:
        md.append("W6: distance in bytes between the two workers' first objects: " +
                  ", ".join("%s %s" % (n, e.replace("dist=", "")) for n, e in w6) + "\n")
    md += larson_table(cells, names, peers, rate, rss, min(args.reps, args.larson_reps))
    md.append("## Instructions per call on the fast path (callgrind, 64 B, incl. ~3 for the call)\n")
    if cg:
        md.append("| allocator | pair malloc | pair free | batch-64 malloc | batch-64 free |")
        md.append("|---|---|---|---|---|")
        for n in names:
            md.append("| %s | %s |" % (n, " | ".join(
                "%.1f" % cg[(n, s, f)] if (n, s, f) in cg else "—"
                for s in ("pair", "batch64") for f in ("cg_malloc", "cg_free"))))
    else:
        md.append("(%s)" % (cg_note or "no data"))
    md.append("")
    md.append("## Go anchor: ns per allocation (Go: new(T) into a global sink, GC on; "
              "ours: mallocgc(size, type, zeroed) in the Linux library, which never collects)\n")
    if anchor:
        md.append("| shape | Go | mallocgc | ratio |")
        md.append("|---|---|---|---|")
        for k in sorted({k for k, _ in anchor}, key=lambda s: (s.split("-")[2], int(s.split("-")[1]))):
            g, o = anchor.get((k, "go")), anchor.get((k, "mallocgc"))
            md.append("| %s | %s | %s | %s |" % (k[3:], "%.2f" % g if g else "—", "%.2f" % o if o else "—",
                                                   "%.2f" % (o / g) if g and o else "—"))
    else:
        md.append("(no Go anchor: go not installed)")
    md.append("")
    if errors:
        md.append("## Errors\n")
        md += ["- " + e.replace("\n", " ") for e in errors[:50]]
        md.append("")
    md.append("Total benchmark time: %.0f s." % (time.time() - t_start))
    text = "\n".join(md) + "\n"
    open(os.path.join(outdir, "results.md"), "w").write(text)
    open(os.path.join(outdir, "results.csv"), "w").write("\n".join(csv) + "\n")
    chart(outdir, names)
    print(text)
    return 1 if errors else 0


def larson_table(cells, names, peers, rate, rss, reps):
    """W10: threads x allocator, Mops/s (median) and peak RSS."""
    rows = [(int(LARSON.match(c).group(1)), c) for c, _ in cells if LARSON.match(c)]
    if not rows:
        return []
    md = ["## Larson-style server churn (W10): million operations per second, median of %d\n" % reps,
          "5000 slots per thread, 8..1000 B, threads replaced every 250000 operations (each "
          "generation frees the previous one's blocks); peak RSS MiB in brackets; "
          "*ours ÷ best* > 1 is better.\n",
          "| threads | " + " | ".join(names) + " | ours ÷ best | best peer |",
          "|" + "---|" * (len(names) + 3)]
    for t, c in rows:
        med = {n: statistics.median(rate[(c, n)]) for n in names if (c, n) in rate}
        cellv = ["%.1f (%.0f)" % (med[n] / 1e6, statistics.median(rss[(c, n)]) / 1024) if n in med else "—"
                 for n in names]
        pm = {n: med[n] for n in peers if n in med}
        best = max(pm, key=pm.get) if pm else None
        ratio = "%.2f" % (med["gomalloc"] / pm[best]) if best and "gomalloc" in med else "—"
        md.append("| %d | %s | %s | %s |" % (t, " | ".join(cellv), ratio, best or "—"))
    md.append("")
    return md


def chart(outdir, names):
    if not shutil.which("gnuplot"):
        print("bench: gnuplot not installed, no chart")
        return
    gp = os.path.join(outdir, "chart.gp")
    cols = " ".join("'%s' using %d:xtic(1) title '%s'," % ("results.csv", i + 2, n) for i, n in enumerate(names))
    plot = ", ".join("'results.csv' using %d:xtic(1) title '%s'" % (i + 2, n) for i, n in enumerate(names))
    open(gp, "w").write("""set terminal png size 1600,700
set output 'chart.png'
set datafile separator ','
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set ylabel 'time / best allocator (1 = best)'
set logscale y 2
set yrange [0.8:*]
set xtics rotate by -45 font ',8'
set title 'Median time per workload relative to the fastest allocator'
plot %s
""" % plot)
    subprocess.run(["gnuplot", "chart.gp"], cwd=outdir)
    del cols


if __name__ == "__main__":
    sys.exit(main())
