#!/usr/bin/env python3
"""make gcbench: the collector's benchmarks in the kernel, next to Go's.

For every CPU count (--cpus, default $GCBENCH_CPUS or "1 2 4 8") this boots
the kernel once with `test=none gcbench halt` (QEMU TCG, one boot at a time)
and runs the Go anchor (tests/bench/go/gcbench.go) natively with
GOMAXPROCS = that count and GODEBUG=gctrace=1,gcpacertrace=1.  It writes
build/gcbench/results.md (printed at the end), results.csv and the raw logs
kernel-smpN.log and go-procsN.log.

Absolute times under TCG say little about the collector; the comparison is
in ratios: cycles per GiB allocated and peak heap / goal (how closely each
pacer holds GOGC), and GC CPU %.

The kernel's lines ("gcbench: <workload> key=value ...", kernel/gcbench.c)
are parsed generically: extra keys are kept, other lines (boot log, gctrace)
ignored; a known workload's line without one of the keys the tables use, or
with a non-number where a number belongs, is an error naming the line.  A
log without "gcbench: done", a boot that did not power off cleanly or timed
out, or a log whose cpus= differs from the boot's -smp is a failure: its
last lines are shown and the script exits 1 (after writing what it has).

Go's side: the program brackets each workload with "begin/end ... numgc=N"
lines on stdout; its cycles are the gctrace lines numbered in between, read
from stderr.  Per workload: peak/goal = max over the cycles of heap at mark
termination / goal, to the byte from the pacer trace's "in T B -> L B
(∆goal D" (L = the heap at mark termination, L - D = the goal) when that
line matches the cycle's gctrace MB figures, else from gctrace's MB
(truncated to whole MiB: the ratio is then only good to about 1/goal).
Pauses: gctrace's clock "a+b+c ms": a = sweep termination (includes the
stop), b = mark (concurrent in Go), c = mark termination; Go's pause is
a + c.  The kernel's is the whole cycle (stw1 + mark + stw2: its marking is
not concurrent yet).

Options: --kernel-log FILE (repeatable) parses saved kernel logs instead of
booting (the CPU count comes from the log's cpus=); --no-kernel / --no-go
leave one side out; --go-log-dir DIR reads saved go-procsN.log files
instead of running Go.  Exit status: 0, or 1 when a boot or a Go run failed
or a log could not be parsed, 2 for bad usage.
"""
import argparse
import csv
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
HOST_CORES = os.cpu_count() or 1


class GcbenchError(Exception):
    """A log we cannot use; the message names the log and what is wrong."""


# ---------------------------------------------------------------- kernel log

# the keys each known kernel line must have (the tables use them); every
# other key is kept as it is
KERNEL_KEYS = {
    "pause": ["live_mib", "cpus", "cycles", "stop_us", "stw1_us", "mark_us", "stw2_us",
              "pause_us", "marked_mib", "mark_mbps_cpu"],
    "stop": ["cpus", "others", "n", "median_us", "max_us"],
    "binarytrees": ["depth", "gogc", "cpus", "seconds", "alloc_mib", "cycles", "cycles_per_gib",
                    "gc_cpu_pct", "peak_goal", "max_heap_mib", "pause_total_ms", "pause_max_us"],
    "listchurn": ["live_mib", "gogc", "cpus", "steps", "seconds", "alloc_mib", "cycles",
                  "cycles_per_gib", "gc_cpu_pct", "peak_goal", "max_heap_mib", "pause_total_ms",
                  "pause_max_us"],
    "mutator": ["live_mib", "gogc", "cpus", "cycles", "mallocgc_ns_off", "mallocgc_ns_mark",
                "wb_ns_off", "wb_ns_mark", "assist_cpu_pct", "assist_wait_ms", "peak_goal"],
}
TEXT_KEYS = {"others", "mode"}
# what identifies a measurement within one boot (the rest are its figures)
KERNEL_ID = {"pause": ["live_mib", "mode"], "stop": ["others"], "binarytrees": ["depth", "gogc"],
             "listchurn": ["gogc"], "mutator": []}


def number(s):
    try:
        return int(s)
    except ValueError:
        return float(s)


def parse_kv(tokens, where):
    """key=value tokens -> dict (numbers where they parse); else GcbenchError."""
    kv = {}
    for t in tokens:
        k, eq, v = t.partition("=")
        if not eq or not k or not v:
            raise GcbenchError(f"{where}: '{t}' is not key=value")
        try:
            kv[k] = number(v)
        except ValueError:
            kv[k] = v
    return kv


def parse_kernel_log(text, name="kernel log"):
    """The gcbench lines of one boot's serial log.

    Returns {"lines": [(workload, kv)], "done": bool, "cpus": N, "warnings": [...]}.
    Raises GcbenchError when the log is unusable (no "gcbench: done", a bad
    line, CPU counts that disagree)."""
    lines, warnings, done = [], [], False
    seen = {}
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.startswith("gcbench: "):
            continue
        where = f"{name}:{no}: '{line}'"
        words = line[len("gcbench: "):].split()
        if not words:
            raise GcbenchError(f"{where}: nothing after 'gcbench:'")
        what = words[0]
        if what == "done" and len(words) == 1:
            done = True
            continue
        if "=" in what:
            raise GcbenchError(f"{where}: no workload name before the key=value pairs")
        kv = parse_kv(words[1:], where)
        if what == "pause":  # logs from before the concurrent mark: stop-the-world
            kv.setdefault("mode", "stw")
        need = KERNEL_KEYS.get(what)
        if what == "mutator" and kv.get("skipped") == 1:  # one CPU: nothing beside the mark
            need = ["cpus"]
        if need is None:
            warnings.append(f"{where}: unknown workload '{what}' (kept in the CSV only)")
        else:
            missing = [k for k in need if k not in kv]
            if missing:
                raise GcbenchError(f"{where}: missing {', '.join(missing)}")
            bad = [k for k in need if k not in TEXT_KEYS and isinstance(kv[k], str)]
            if bad:
                raise GcbenchError(f"{where}: not a number: " +
                                   ", ".join(f"{k}={kv[k]}" for k in bad))
            ident = (what,) + tuple(kv[k] for k in KERNEL_ID[what])
            if ident in seen:
                warnings.append(f"{where}: repeats line {seen[ident]}; the later one is used")
                lines = [l for l in lines if l[2] != ident]
            seen[ident] = no
        lines.append((what, kv, (what,) + tuple(kv.get(k) for k in KERNEL_ID.get(what, []))))
    if not done:
        raise GcbenchError(f"{name}: no 'gcbench: done' line (the benchmark did not finish)")
    cpus = {kv["cpus"] for _, kv, _ in lines if "cpus" in kv}
    if len(cpus) > 1:
        raise GcbenchError(f"{name}: lines from different CPU counts ({sorted(cpus)}): one log per boot")
    if not lines:
        raise GcbenchError(f"{name}: 'gcbench: done' but no measurement lines")
    return {"lines": [(w, kv) for w, kv, _ in lines], "done": True,
            "cpus": cpus.pop() if cpus else None, "warnings": warnings}


def tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


def boot_command(cpus, mem, cmdline):
    return [sys.executable, os.path.join(ROOT, "tests", "qemu", "run.py"), "--run", "--cpus",
            str(cpus), "--mem", mem, "--cmdline", cmdline]


def boot_kernel(cmd, timeout, log_path):
    """One QEMU boot (cmd: boot_command's tests/qemu/run.py --run); the
    console goes to log_path as it arrives.  Returns (log text, problem or
    None)."""
    # its own process group: on a timeout we end run.py and its QEMU together
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)

    def copy():
        with open(log_path, "wb") as log:
            for chunk in iter(lambda: p.stdout.read1(65536), b""):
                log.write(chunk)
                log.flush()

    reader = threading.Thread(target=copy)
    reader.start()
    timed_out = False
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
    reader.join()
    rc = p.wait()
    text = open(log_path, "rb").read().decode(errors="replace")
    if timed_out:
        return text, f"no power-off within {timeout}s (killed)"
    if rc != 0:
        return text, f"tests/qemu/run.py exited {rc} (the kernel did not power off cleanly)"
    return text, None


# ---------------------------------------------------------------- Go anchor

GCTRACE = re.compile(
    r"^gc (\d+) @([\d.]+)s (\d+)%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock, "
    r"([\d.]+)\+([\d.]+)/([\d.]+)/([\d.]+)\+([\d.]+) ms cpu, (\d+)->(\d+)->(\d+) MB, "
    r"(\d+) MB goal, .*?(\d+) P( \(forced\))?\s*$")
# gcpacertrace's end-of-cycle line (Go 1.19 runtime/mgcpacer.go endCycle)
PACER = re.compile(r"^pacer: \d+% CPU .* in (\d+) B -> (\d+) B \(\S*goal (-?\d+),")
GO_LINE = re.compile(r"^gcbench-go: (.*)$")
GO_DEBUG = "gctrace=1,gcpacertrace=1"
GO_LOG_OUT = "# gcbench-go stdout:"
GO_LOG_ERR = "# gcbench-go stderr (runtime traces):"


def parse_gctrace(err_text):
    """gctrace lines -> {cycle number: dict}; a pacer end-of-cycle line is
    attached to the next trace line if its bytes agree with that line's MB."""
    cycles, pending = {}, None
    for line in err_text.splitlines():
        m = PACER.match(line)
        if m:
            pending = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            continue
        m = GCTRACE.match(line)
        if not m:
            continue
        g = m.groups()
        c = dict(n=int(g[0]), clock=[float(x) for x in g[3:6]], cpu=[float(x) for x in g[6:11]],
                 h0=int(g[11]), h1=int(g[12]), h2=int(g[13]), goal=int(g[14]), procs=int(g[15]),
                 forced=bool(g[16]))
        if pending:
            trig, live, dgoal = pending
            if live >> 20 == c["h1"] and (live - dgoal) >> 20 == c["goal"]:
                c["h1_bytes"], c["goal_bytes"], c["trigger_bytes"] = live, live - dgoal, trig
        pending = None
        cycles[c["n"]] = c
    return cycles


def parse_go_output(out_text, err_text, name="Go anchor"):
    """The Go program's stdout (markers, result lines) and stderr (traces).

    Returns {"windows": [dict(workload, params, kv, cycles=[trace dicts])],
    "procs": P, "warnings": [...]}; raises GcbenchError on a malformed or
    unfinished run."""
    traces = parse_gctrace(err_text)
    windows, warnings, cur, done = [], [], None, False
    for no, line in enumerate(out_text.splitlines(), 1):
        m = GO_LINE.match(line)
        if not m:
            continue
        where = f"{name}:{no}: '{line}'"
        words = m.group(1).split()
        if not words:
            raise GcbenchError(f"{where}: nothing after 'gcbench-go:'")
        if words == ["done"]:
            done = True
            continue
        if words[0] in ("begin", "end"):
            if len(words) < 3:
                raise GcbenchError(f"{where}: marker without a workload")
            kv = parse_kv(words[2:], where)
            if "numgc" not in kv:
                raise GcbenchError(f"{where}: marker without numgc=")
            n = kv.pop("numgc")
            if words[0] == "begin":
                if cur:
                    raise GcbenchError(f"{where}: begin inside '{cur['workload']}'")
                cur = dict(workload=words[1], params=kv, n0=n)
            else:
                if not cur or cur["workload"] != words[1] or cur["params"] != kv or "n1" in cur:
                    raise GcbenchError(f"{where}: end without its begin")
                cur["n1"] = n
            continue
        if not cur or "n1" not in cur or cur["workload"] != words[0]:
            raise GcbenchError(f"{where}: result line without its begin/end markers")
        cur["kv"] = parse_kv(words[1:], where)
        windows.append(cur)
        cur = None
    if not done:
        raise GcbenchError(f"{name}: no 'gcbench-go: done' line (the program did not finish)")
    if not traces:
        raise GcbenchError(f"{name}: no gctrace lines on stderr (was GODEBUG=gctrace=1 set?)")
    procs = set()
    for w in windows:
        w["cycles"] = [traces[n] for n in range(w["n0"] + 1, w["n1"] + 1) if n in traces]
        if len(w["cycles"]) != w["n1"] - w["n0"]:
            warnings.append(f"{name}: {w['workload']} {w['params']}: {len(w['cycles'])} gctrace "
                            f"lines for {w['n1'] - w['n0']} cycles")
        procs.add(w["kv"].get("gomaxprocs"))
        derive_go(w)
    return {"windows": windows, "procs": procs.pop() if len(procs) == 1 else None,
            "warnings": warnings}


def med(xs):
    return statistics.median(xs) if xs else None


def derive_go(w):
    """Trace-derived figures of one Go window, into w["kv"]."""
    kv, cyc = w["kv"], w["cycles"]
    if not cyc:
        return
    if w["workload"] in ("binarytrees", "listchurn"):
        ratios, exact = [], True
        for c in cyc:
            if "goal_bytes" in c:
                ratios.append(c["h1_bytes"] / c["goal_bytes"])
            else:
                exact = False
                ratios.append(c["h1"] / c["goal"] if c["goal"] else 0.0)
        kv["peak_goal"] = max(ratios)
        kv["peak_goal_median"] = med(ratios)
        kv["peak_goal_exact"] = int(exact)
        kv["max_heap_mib"] = max(c.get("h1_bytes", c["h1"] << 20) for c in cyc) / (1 << 20)
        # the same CPU time GCCPUFraction counts (idle marking left out)
        cpu_ms = sum(c["cpu"][0] + c["cpu"][1] + c["cpu"][2] + c["cpu"][4] for c in cyc)
        if kv.get("seconds") and kv.get("gomaxprocs"):
            kv["gc_cpu_pct_trace"] = 100 * cpu_ms / 1000 / (kv["seconds"] * kv["gomaxprocs"])
        # assists' share of the marking CPU time (assist / assist+background+idle)
        mark_ms = sum(c["cpu"][1] + c["cpu"][2] + c["cpu"][3] for c in cyc)
        if mark_ms > 0:
            kv["assist_pct"] = 100 * sum(c["cpu"][1] for c in cyc) / mark_ms
    elif w["workload"] == "pause":
        kv["stw1_ms"] = med([c["clock"][0] for c in cyc])
        kv["mark_ms"] = med([c["clock"][1] for c in cyc])
        kv["stw2_ms"] = med([c["clock"][2] for c in cyc])
        kv["pause_ms"] = med([c["clock"][0] + c["clock"][2] for c in cyc])
        marked = kv.get("heap_mib", med([c["h2"] for c in cyc])) * (1 << 20)
        rates = [marked / 1e6 / ((c["cpu"][1] + c["cpu"][2] + c["cpu"][3]) / 1000)
                 for c in cyc if c["cpu"][1] + c["cpu"][2] + c["cpu"][3] > 0]
        kv["mark_mbps_cpu"] = med(rates)
    elif w["workload"] == "stop":
        a = sorted(c["clock"][0] for c in cyc)
        kv["stw1_median_ms"], kv["stw1_max_ms"] = med(a), a[-1]


def go_binary(path):
    """The anchor's binary, built if missing and `go` is installed; None when
    there is no Go."""
    if os.path.exists(path):
        return path
    if not shutil.which("go"):
        return None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOCACHE=os.path.join(BUILD, "bench", "gocache"))
    subprocess.run(["go", "build", "-o", path, os.path.join(ROOT, "tests", "bench", "go", "gcbench.go")],
                   check=True, env=env, cwd=ROOT)
    return path


def run_go(exe, procs, out_dir, timeout=600):
    env = dict(os.environ, GOMAXPROCS=str(procs), GODEBUG=GO_DEBUG)
    env.pop("GOGC", None)
    p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       timeout=timeout)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    # the log: the program's lines, then the runtime's traces (two streams,
    # kept apart: see gcbench.go)
    with open(os.path.join(out_dir, f"go-procs{procs}.log"), "w") as f:
        f.write(f"{GO_LOG_OUT} GOMAXPROCS={procs} GODEBUG={GO_DEBUG}\n{out}{GO_LOG_ERR}\n{err}")
    if p.returncode != 0:
        raise GcbenchError(f"Go anchor (GOMAXPROCS={procs}) exited {p.returncode}:\n{tail(err)}")
    return out, err


def split_go_log(text, name):
    """A saved go-procsN.log -> (stdout, stderr)."""
    if not text.startswith(GO_LOG_OUT) or "\n" + GO_LOG_ERR + "\n" not in text:
        raise GcbenchError(f"{name}: not a go-procsN.log written by gcbench.py")
    out, err = text.split("\n" + GO_LOG_ERR + "\n", 1)
    return out.split("\n", 1)[1] + "\n", err


# ---------------------------------------------------------------- tables

def fmt(x, nd=1):
    if x is None or x == "":
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:.{nd}f}"


def fmt_us(x):
    """Microseconds: one decimal below a millisecond, whole ones above."""
    return fmt(x, 1 if x is not None and x < 1000 else 0)


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.{nd}f}"


def cpus_label(n):
    return f"{n}*" if n > HOST_CORES else str(n)


def kernel_find(kern, cpus, workload, **ident):
    for w, kv in (kern.get(cpus) or {}).get("lines", []):
        if w == workload and all(kv.get(k) == v for k, v in ident.items()):
            return kv
    return None


def go_find(gos, cpus, workload, **ident):
    for w in (gos.get(cpus) or {}).get("windows", []):
        if w["workload"] == workload and all(w["params"].get(k) == v for k, v in ident.items()):
            return w["kv"]
    return None


def paced_ids(kern, gos, workload, key):
    ids = set()
    for src in (kern, gos):
        for cpus, rec in src.items():
            if "lines" in rec:
                ids |= {tuple(kv[k] for k in key) for w, kv in rec["lines"] if w == workload}
            else:
                ids |= {tuple(w["params"][k] for k in key) for w in rec["windows"]
                        if w["workload"] == workload and all(k in w["params"] for k in key)}
    return sorted(ids)


def md_header(info, problems):
    md = ["# gcbench: our collector (QEMU TCG) vs Go (host)", ""]
    md += [f"- {line}" for line in info]
    md += [f"- CPU counts marked * exceed this host's {HOST_CORES} cores: QEMU's vCPUs and "
           "Go's Ps share them (time-sliced), so their times are not parallel times.",
           "- Compare ratios (cycles per GiB allocated, peak/goal, GC CPU %); absolute times under "
           "TCG are an emulator's, Go's are native.", ""]
    if problems:
        md += ["**Problems:**", ""] + [f"- {p}" for p in problems] + [""]
    return md


def md_stop(kern, gos, all_cpus):
    md = ["## Time to stop the world (µs, median / max of the forced cycles)", "",
          "Ours: the stop alone. Go 1.19 does not report its time to stop; its column is the "
          "sweep-termination pause (gctrace's first clock figure), which contains the stop.", "",
          "| CPUs | ours, others idle | ours, others busy | Go stw1, others idle | Go stw1, others busy |",
          "|---|---|---|---|---|"]
    for n in all_cpus:
        cells = []
        for o in ("idle", "busy"):
            k = kernel_find(kern, n, "stop", others=o)
            cells.append(f"{fmt_us(k['median_us'])} / {fmt_us(k['max_us'])}" if k else "—")
        for o in ("idle", "busy"):
            g = go_find(gos, n, "stop", others=o)
            cells.append(f"{fmt_us(g['stw1_median_ms'] * 1000)} / {fmt_us(g['stw1_max_ms'] * 1000)}"
                         if g and g.get("stw1_median_ms") is not None else "—")
        md.append(f"| {cpus_label(n)} | " + " | ".join(cells) + " |")
    return md


PAUSE_MODES = (("stw", "stop-the-world"), ("concurrent", "concurrent"))


def md_pause(kern, gos, all_cpus):
    md = ["## Pause versus live heap (µs, median of 3 forced cycles)", "",
          "Ours in two modes. stop-the-world (gcstoptheworld=1): pause = stw1 (with the stop) + "
          "mark + stw2. concurrent (gcstoptheworld=0): pause = stw1 (the stop and the root scan) "
          "+ stw2 (the second stop, the roots scanned again, mark termination); the mark runs "
          "with the world. Go marks concurrently: its pause is stw1 + stw2 (its columns sit on "
          "the concurrent rows). "
          "Mark rate: bytes marked / markers' CPU time, MB/s (10^6 B) per CPU. Marked MiB: what "
          "the cycle found reachable (the tree plus whatever else is live; more than the tree "
          "means garbage kept alive).", "",
          "| CPUs | live MiB | mode | ours stop | ours stw1 | ours mark | ours stw2 | ours pause | "
          "ours MB/s/CPU | ours marked MiB | Go stw1 | Go mark | Go stw2 | Go pause | "
          "Go MB/s/CPU | Go marked MiB |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in all_cpus:
        for mib in (8, 32, 128):
          for mode, label in PAUSE_MODES:
            k = kernel_find(kern, n, "pause", live_mib=mib, mode=mode)
            g = go_find(gos, n, "pause", live_mib=mib) if mode == "concurrent" else None
            if not k and not g:
                continue
            kc = ["—"] * 7
            if k:
                kc = [fmt_us(k[x]) for x in ("stop_us", "stw1_us", "mark_us", "stw2_us", "pause_us")]
                kc += [fmt(k["mark_mbps_cpu"], 0), fmt(k["marked_mib"])]
            gc = ["—"] * 6
            if g:
                gc = [fmt_us(g[x] * 1000 if g.get(x) is not None else None)
                      for x in ("stw1_ms", "mark_ms", "stw2_ms", "pause_ms")]
                gc += [fmt(g.get("mark_mbps_cpu"), 0), fmt(g.get("heap_mib"))]
            md.append(f"| {cpus_label(n)} | {mib} | {label} | " + " | ".join(kc + gc) + " |")
    return md


def pause_series(kern, gos, all_cpus):
    """[(title, [(live MiB, pause µs)])]: ours per CPU count and mode, Go per CPU count."""
    series = []
    for n in all_cpus:
        for mode, label in PAUSE_MODES:
            pts = [(mib, k["pause_us"]) for mib in (8, 32, 128)
                   for k in [kernel_find(kern, n, "pause", live_mib=mib, mode=mode)] if k]
            if pts:
                series.append((f"ours {label}, {n} CPUs", pts))
        pts = [(mib, g["pause_ms"] * 1000) for mib in (8, 32, 128)
               for g in [go_find(gos, n, "pause", live_mib=mib)] if g and g.get("pause_ms") is not None]
        if pts:
            series.append((f"Go, GOMAXPROCS={n}", pts))
    return series


def plot_pause(series, out):
    """The pause-versus-heap chart (gnuplot, PNG) at out; a reason when it cannot be drawn."""
    if not series:
        return "no pause measurements"
    if not shutil.which("gnuplot"):
        return "gnuplot is not installed (make gcbench installs it)"
    with tempfile.TemporaryDirectory() as d:
        plots = []
        for i, (title, pts) in enumerate(series):
            with open(os.path.join(d, f"s{i}.dat"), "w") as f:
                f.writelines(f"{x} {y}\n" for x, y in pts)
            plots.append(f"'s{i}.dat' using 1:2 with linespoints lw 2 pt 7 title '{title}'")
        script = (f"set terminal pngcairo size 900,520 font ',10'\nset output '{os.path.abspath(out)}'\n"
                  "set title 'gokernel: GC pause versus live heap (median of 3 forced cycles)'\n"
                  "set xlabel 'live heap (MiB)'\nset ylabel 'pause (µs)'\nset logscale xy\n"
                  "set xtics (8, 32, 128)\nset key top left\nset grid\n"
                  "plot " + ", ".join(plots) + "\n")
        p = subprocess.run(["gnuplot"], input=script.encode(), cwd=d, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode:
            return "gnuplot failed: " + p.stdout.decode(errors="replace").strip()
    return None


PACED_ROWS = [("binarytrees", ("depth", "gogc"), lambda i: f"binarytrees {i[0]}"),
              ("listchurn", ("gogc",), lambda i: "listchurn 4 MiB")]


def paced_cells(k, g):
    def get(d, x):
        return d.get(x) if d else None
    return [fmt(get(k, "cycles_per_gib")), fmt(get(g, "cycles_per_gib")),
            ratio(get(k, "cycles_per_gib"), get(g, "cycles_per_gib")),
            fmt(get(k, "peak_goal"), 3), fmt(get(g, "peak_goal"), 3),
            ratio(get(k, "peak_goal"), get(g, "peak_goal")), fmt(get(g, "peak_goal_median"), 3),
            fmt(get(k, "gc_cpu_pct")), fmt(get(g, "gc_cpu_pct")),
            fmt(get(k, "max_heap_mib")), fmt(get(g, "max_heap_mib")),
            fmt(get(k, "pause_max_us"), 0), fmt(get(g, "pause_max_us"), 0),
            fmt(get(k, "assist_pct")), fmt(get(g, "assist_pct"))]


def md_paced(kern, gos, all_cpus):
    md = ["## Paced workloads: ours vs Go", "",
          "cycles/GiB = collections per GiB allocated; peak/goal = the largest heap a cycle "
          "reached over its goal (ours: the larger of the heap at the cycle's start and at mark "
          "termination — a concurrent mark lets other CPUs allocate; Go: heap at mark termination, "
          "exact bytes from gcpacertrace); GC CPU % = collector CPU time / (elapsed × CPUs) "
          "(ours: pauses on every CPU plus the mark workers' and assists' time; Go: "
          "GCCPUFraction over the run, idle-time marking left out); assist % = the assists' "
          "share of the marking CPU time (assist / (assist + workers + idle); Go: gctrace's "
          "cpu figures). ours/Go < 1: fewer cycles / a heap held "
          "closer below its goal. Peak/goal is the maximum over the run's cycles (the kernel "
          "prints only that); Go's median cycle is shown beside it: Go's maximum is often "
          "the run's first cycle, where the heap grows from the collected start faster than "
          "the concurrent mark ends.", "",
          "| workload | GOGC | CPUs | cycles/GiB ours | Go | ours/Go | peak/goal ours | Go | "
          "ours/Go | Go median | GC CPU % ours | Go | max heap MiB ours | Go | "
          "longest pause µs ours | Go | assist % ours | Go |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for wl, key, label in PACED_ROWS:
        for ident in paced_ids(kern, gos, wl, key):
            sel = dict(zip(key, ident))
            for n in all_cpus:
                k = kernel_find(kern, n, wl, **sel)
                g = go_find(gos, n, wl, **sel)
                if k or g:
                    md.append("| " + " | ".join([label(ident), str(sel["gogc"]), cpus_label(n)] +
                                                paced_cells(k, g)) + " |")
    return md


def md_mutator(kern, all_cpus):
    md = ["## The mutator beside a concurrent mark (ours only)", "",
          "A 32 MiB live tree, GOGC 100; a collector task forces 5 cycles while a task on another "
          "CPU times batches of 256 newobject(64 B) calls and 256 GC_WB stores, each counted as "
          "off (no cycle across it) or mark (inside one concurrent mark; mallocgc then includes "
          "its mark assists). Assist CPU: the assists' time over all CPUs' time during the marks. "
          "Go reports no per-call figures; its gctrace assist times are in the paced runs' logs.",
          "", "| CPUs | cycles | mallocgc ns off | mallocgc ns mark | × | GC_WB ns off | "
          "GC_WB ns mark | × | assist CPU % | parked ms | peak/goal |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in all_cpus:
        k = kernel_find(kern, n, "mutator")
        if not k or k.get("skipped") == 1:
            md.append(f"| {cpus_label(n)} | — (one CPU: nothing runs beside the mark) "
                      "| | | | | | | | | |")
            continue
        md.append(f"| {cpus_label(n)} | {k['cycles']} | {fmt(k['mallocgc_ns_off'])} | "
                  f"{fmt(k['mallocgc_ns_mark'])} | {ratio(k['mallocgc_ns_mark'], k['mallocgc_ns_off'])} | "
                  f"{fmt(k['wb_ns_off'])} | {fmt(k['wb_ns_mark'])} | "
                  f"{ratio(k['wb_ns_mark'], k['wb_ns_off'])} | {fmt(k['assist_cpu_pct'])} | "
                  f"{fmt(k['assist_wait_ms'])} | {k['peak_goal']:.3f} |")
    return md


def markdown(kern, gos, all_cpus, info, problems):
    md = md_header(info, problems) + md_stop(kern, gos, all_cpus) + [""] + \
        md_pause(kern, gos, all_cpus) + [""] + md_paced(kern, gos, all_cpus) + [""] + \
        md_mutator(kern, all_cpus)
    return "\n".join(md) + "\n"


def csv_rows(kern, gos):
    rows = []
    for cpus, rec in sorted(kern.items()):
        for w, kv in rec["lines"]:
            ident = " ".join(f"{k}={kv[k]}" for k in KERNEL_ID.get(w, []))
            rows += [("ours", cpus, w, ident, k, v) for k, v in kv.items()
                     if k not in KERNEL_ID.get(w, []) and k != "cpus"]
    for procs, rec in sorted(gos.items()):
        for w in rec["windows"]:
            ident = " ".join(f"{k}={v}" for k, v in w["params"].items())
            rows += [("go", procs, w["workload"], ident, k, v) for k, v in w["kv"].items()
                     if k not in w["params"] and k != "gomaxprocs"]
    return rows


def write_results(out_dir, kern, gos, all_cpus, info, problems):
    md = markdown(kern, gos, all_cpus, info, problems)
    open(os.path.join(out_dir, "results.md"), "w").write(md)
    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["source", "cpus", "workload", "params", "metric", "value"])
        for r in csv_rows(kern, gos):
            wr.writerow(r[:5] + (f"{r[5]:.6g}" if isinstance(r[5], float) else r[5],))
    return md


# ---------------------------------------------------------------- main

def host_info(go_exe, go_log_dir):
    info = []
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info.append(f"host: {HOST_CORES} cores{', ' + model if model else ''}")
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
        if rev:
            info.append(f"kernel: gokernel {rev}")
    except OSError:
        pass
    if go_log_dir:
        info.append(f"Go anchor: saved logs in {go_log_dir}")
    elif go_exe and shutil.which("go"):
        v = subprocess.run(["go", "version"], stdout=subprocess.PIPE).stdout.decode().strip()
        info.append(f"Go anchor: {v}, tests/bench/go/gcbench.go, GOMAXPROCS = CPUs")
    return info


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpus", default=os.environ.get("GCBENCH_CPUS") or "1 2 4 8",
                    help="CPU counts, space or comma separated (default $GCBENCH_CPUS or '1 2 4 8')")
    ap.add_argument("--kernel-log", action="append", default=[], metavar="FILE",
                    help="parse this saved serial log instead of booting (repeatable)")
    ap.add_argument("--no-kernel", action="store_true", help="the Go anchor only")
    ap.add_argument("--no-go", action="store_true", help="the kernel only")
    ap.add_argument("--go-log-dir", metavar="DIR",
                    help="read saved go-procsN.log files from DIR instead of running Go")
    ap.add_argument("--go-bin", default=os.path.join(BUILD, "gcbench", "gcbench-go"))
    ap.add_argument("--out", default=os.path.join(BUILD, "gcbench"))
    ap.add_argument("--mem", default="2G")
    ap.add_argument("--cmdline", default="test=none gcbench halt")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per boot (default 1800)")
    a = ap.parse_args(argv)
    try:
        a.cpus_list = [int(x) for x in a.cpus.replace(",", " ").split()]
    except ValueError:
        raise GcbenchError(f"--cpus/GCBENCH_CPUS must be numbers: '{a.cpus}'")
    if not a.cpus_list or any(n < 1 or n > 64 for n in a.cpus_list):
        raise GcbenchError(f"CPU counts must be 1..64: '{a.cpus}'")
    a.out = os.path.abspath(a.out)
    return a


def kernel_from_logs(paths, problems):
    kern = {}
    for path in paths:
        try:
            rec = parse_kernel_log(open(path, errors="replace").read(), path)
        except (OSError, GcbenchError) as e:
            problems.append(str(e))
            continue
        if rec["cpus"] is None:
            problems.append(f"{path}: no cpus= in its lines")
            continue
        kern[rec["cpus"]] = rec
    return kern


def kernel_boots(a, problems):
    """One boot per CPU count, one at a time; stops at the first failure."""
    kern = {}
    for n in a.cpus_list:
        log_path = os.path.join(a.out, f"kernel-smp{n}.log")
        rel = os.path.relpath(log_path, ROOT)
        print(f"gcbench: booting the kernel on {n} CPU(s), {a.mem}, '{a.cmdline}' (log: {rel})",
              flush=True)
        t0 = time.time()
        text, problem = boot_kernel(boot_command(n, a.mem, a.cmdline), a.timeout, log_path)
        if problem is None:
            try:
                rec = parse_kernel_log(text, rel)
                if rec["cpus"] is not None and rec["cpus"] != n:
                    problem = f"the log says cpus={rec['cpus']}; QEMU was given -smp {n}"
            except GcbenchError as e:
                problem = str(e)
        if problem:
            problems.append(f"kernel boot on {n} CPU(s): {problem}")
            print(f"gcbench: kernel boot on {n} CPU(s) failed: {problem}\n"
                  f"gcbench: last 40 lines of {rel}:\n" +
                  "\n".join("  | " + l for l in tail(text).splitlines()), file=sys.stderr)
            break  # a broken kernel would fail (slowly) on every count
        kern[n] = rec
        print(f"gcbench: {n} CPU(s) done in {time.time() - t0:.0f}s", flush=True)
    return kern


def go_side(a, cpus_list, problems, info):
    gos = {}
    if a.go_log_dir:
        for n in cpus_list:
            path = os.path.join(a.go_log_dir, f"go-procs{n}.log")
            try:
                gos[n] = parse_go_output(*split_go_log(open(path).read(), path), path)
            except (OSError, GcbenchError) as e:
                problems.append(str(e))
        return gos, None
    try:
        go_exe = go_binary(a.go_bin)
    except subprocess.CalledProcessError as e:
        problems.append(f"building the Go anchor failed: {e}")
        return gos, None
    if go_exe is None:
        print("gcbench: no Go anchor: golang-go not installed", flush=True)
        info.append("no Go anchor: golang-go not installed")
    for n in (cpus_list if go_exe else []):
        print(f"gcbench: Go anchor, GOMAXPROCS={n}", flush=True)
        try:
            out, err = run_go(go_exe, n, a.out)
            gos[n] = parse_go_output(out, err, f"go-procs{n}")
        except (GcbenchError, subprocess.TimeoutExpired) as e:
            problems.append(str(e))
    return gos, go_exe


def main(argv=None):
    try:
        a = parse_args(argv)
    except GcbenchError as e:
        print(f"gcbench: {e}", file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    problems, info, kern, gos, go_exe = [], [], {}, {}, None
    cpus_list = a.cpus_list
    if a.kernel_log:
        kern = kernel_from_logs(a.kernel_log, problems)
        cpus_list = sorted(kern)  # the logs say which counts
    elif not a.no_kernel:
        if not os.path.exists(os.path.join(BUILD, "esp.img")):
            print("gcbench: build/esp.img is missing: run make first", file=sys.stderr)
            return 1
        kern = kernel_boots(a, problems)
    if not a.no_go:
        gos, go_exe = go_side(a, cpus_list, problems, info)
    for src in (kern, gos):
        for n, rec in sorted(src.items()):
            for w in rec["warnings"]:
                print(f"gcbench: warning: {w}", file=sys.stderr)
    for n, rec in gos.items():
        if rec["procs"] not in (None, n):
            problems.append(f"Go anchor for {n} CPUs ran with GOMAXPROCS={rec['procs']}")
    info = host_info(go_exe, a.go_log_dir) + info
    if kern:
        info.append("kernel boots: " + ("saved logs " + ", ".join(a.kernel_log) if a.kernel_log
                                        else f"QEMU TCG, -m {a.mem}, '{a.cmdline}'"))
    md = write_results(a.out, kern, gos, sorted(set(cpus_list)), info, problems)
    print(md)
    why = plot_pause(pause_series(kern, gos, sorted(set(cpus_list))), os.path.join(a.out, "pause.png"))
    print("gcbench: pause chart: " + (why or os.path.relpath(os.path.join(a.out, "pause.png"), ROOT)))
    print(f"gcbench: wrote {os.path.relpath(os.path.join(a.out, 'results.md'), ROOT)}, results.csv "
          "and the logs", flush=True)
    for p in problems:
        print(f"gcbench: error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
