#!/usr/bin/env python3
"""Host self-test of tests/bench/gcbench.py's parsers (run by tests/run_all.py).

No QEMU, no Go: the kernel side reads the hand-written sample
tests/bench/testdata/gcbench-kernel-sample.log, the Go side small traces in
Go 1.19's format written here.  Each case is a named function; run one with
`python3 tests/bench/test_gcbench_parse.py NAME`.  Prints "ok - NAME" /
"not ok - NAME" and a final "N passed, N failed".
"""
import io
import os
import sys
import tempfile
import traceback
from contextlib import redirect_stderr, redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import gcbench  # noqa: E402

SAMPLE = os.path.join(HERE, "testdata", "gcbench-kernel-sample.log")


def sample():
    return open(SAMPLE).read()


def expect_error(fn, *words):
    try:
        fn()
    except gcbench.GcbenchError as e:
        for w in words:
            assert w in str(e), f"error '{e}' does not mention '{w}'"
        return str(e)
    raise AssertionError(f"no error (expected one mentioning {words})")


# ---------------------------------------------------------------- kernel

def kernel_sample_parses():
    rec = gcbench.parse_kernel_log(sample(), "sample")
    assert rec["cpus"] == 2 and rec["warnings"] == [], rec
    k = gcbench.kernel_find({2: rec}, 2, "pause", live_mib=32)
    assert k["mark_us"] == 32100.0 and k["mark_mbps_cpu"] == 520 and k["mode"] == "stw", k
    k = gcbench.kernel_find({2: rec}, 2, "pause", live_mib=8, mode="concurrent")
    assert k["pause_us"] == 1310.0 and k["stw2_us"] == 700.0, k  # a line of each mode
    k = gcbench.kernel_find({2: rec}, 2, "binarytrees", depth=16, gogc=200)
    assert k["cycles_per_gib"] == 67.3 and k["nodes"] == 14985902, k  # extra key kept
    k = gcbench.kernel_find({2: rec}, 2, "stop", others="busy")
    assert k["median_us"] == 120.4
    k = gcbench.kernel_find({2: rec}, 2, "mutator")
    assert k["mallocgc_ns_mark"] == 1000.0 and k["assist_cpu_pct"] == 12.5, k
    # 3 + 1 pause + 2 stop + 4 trees + 3 churn + 1 mutator; the gctrace and boot lines skipped
    assert len(rec["lines"]) == 14, len(rec["lines"])


def kernel_mutator_on_one_cpu_is_a_skip():
    text = sample().replace("cpus=2", "cpus=1")
    text = text[:text.index("gcbench: mutator")] + "gcbench: mutator cpus=1 skipped=1\ngcbench: done\n"
    rec = gcbench.parse_kernel_log(text, "one")
    assert gcbench.kernel_find({1: rec}, 1, "mutator")["skipped"] == 1
    md = gcbench.md_mutator({1: rec}, [1])
    assert "| 1 | — (one CPU: nothing runs beside the mark)" in md[-1], md
    # a two-CPU line without its figures is still an error
    bad = sample().replace(" wb_ns_mark=30.0", "")
    expect_error(lambda: gcbench.parse_kernel_log(bad, "bad"), "missing wb_ns_mark")


def kernel_crlf_and_extra_keys():
    text = sample().replace("\n", "\r\n").replace("max_us=300.9", "max_us=300.9 p99_us=299.0")
    rec = gcbench.parse_kernel_log(text, "crlf")
    k = gcbench.kernel_find({2: rec}, 2, "stop", others="busy")
    assert k["p99_us"] == 299.0 and k["max_us"] == 300.9, k


def kernel_without_done_is_rejected():
    expect_error(lambda: gcbench.parse_kernel_log(sample().replace("gcbench: done\n", ""), "cut"),
                 "cut", "gcbench: done")


def kernel_token_without_equals_is_rejected():
    text = sample().replace("others=idle n=9", "others=idle n 9")
    e = expect_error(lambda: gcbench.parse_kernel_log(text, "bad"), "'n' is not key=value")
    assert "bad:" in e and "others=idle n 9" in e, e  # names the log, line and text


def kernel_missing_key_is_rejected():
    text = sample().replace(" stw2_us=31.0", "")
    expect_error(lambda: gcbench.parse_kernel_log(text, "bad"), "missing stw2_us", "live_mib=32")


def kernel_non_number_is_rejected():
    text = sample().replace("cycles_per_gib=117.5", "cycles_per_gib=lots")
    expect_error(lambda: gcbench.parse_kernel_log(text, "bad"), "not a number: cycles_per_gib=lots")


def kernel_mixed_cpu_counts_are_rejected():
    text = sample().replace("stop cpus=2 others=busy", "stop cpus=4 others=busy")
    expect_error(lambda: gcbench.parse_kernel_log(text, "mixed"), "different CPU counts")


def kernel_done_without_lines_is_rejected():
    expect_error(lambda: gcbench.parse_kernel_log("boot\ngcbench: done\n", "empty"),
                 "no measurement lines")


def kernel_repeat_and_unknown_warn():
    text = sample().replace("gcbench: done",
                            "gcbench: stop cpus=2 others=idle n=9 median_us=1.0 max_us=2.0\n"
                            "gcbench: newthing cpus=2 x=1\ngcbench: done")
    rec = gcbench.parse_kernel_log(text, "rep")
    assert len(rec["warnings"]) == 2, rec["warnings"]
    assert gcbench.kernel_find({2: rec}, 2, "stop", others="idle")["median_us"] == 1.0
    assert sum(1 for w, kv in rec["lines"] if w == "stop" and kv["others"] == "idle") == 1


# ---------------------------------------------------------------- Go

def trace(n, a, b, c, h0, h1, h2, goal, forced=False):
    return (f"gc {n} @1.{n:03d}s 5%: {a}+{b}+{c} ms clock, 0.1+0.5/1.0/0.2+0.02 ms cpu, "
            f"{h0}->{h1}->{h2} MB, {goal} MB goal, 0 MB stacks, 0 MB globals, 2 P"
            + (" (forced)" if forced else ""))


def pacer(trigger, live, dgoal):
    return (f"pacer: 30% CPU (25 exp.) for 1+2+3 B work (4 B exp.) in {trigger} B -> {live} B "
            f"(\u2206goal {dgoal}, cons/mark +1.0e-001)")


GO_OUT = """gcbench-go: begin listchurn live_mib=4 gogc=100 steps=1000000 numgc=10
gcbench-go: end listchurn live_mib=4 gogc=100 steps=1000000 numgc=12
gcbench-go: listchurn live_mib=4 gogc=100 steps=1000000 gomaxprocs=2 seconds=0.100 cycles=2 alloc_mib=65.0 cycles_per_gib=31.5 gc_cpu_pct=10.0 pause_total_ms=0.2 pause_max_us=150.0
gcbench-go: begin pause live_mib=8 depth=18 numgc=13
gcbench-go: end pause live_mib=8 depth=18 numgc=16
gcbench-go: pause live_mib=8 depth=18 gomaxprocs=2 seconds=0.05 cycles=3 heap_mib=8.000 pause_total_ms=0.1 pause_max_us=40.0
gcbench-go: done
"""
GO_ERR = "\n".join([
    pacer(1, 2, 3), trace(10, 1, 1, 1, 9, 9, 9, 9),           # the window's opening GC: not its
    pacer(8000000, 9437184, 9437184 - 8388608),               # 9 MiB over an 8 MiB goal
    trace(11, 0.1, 2, 0.01, 7, 9, 4, 8),
    "scvg: 0 MB released",                                    # other runtime lines: skipped
    pacer(8000000, 7340032, 7340032 - 6291456),               # bytes disagree with the MB below
    trace(12, 0.2, 3, 0.02, 6, 8, 4, 6),                      # → MB fallback: 8/6
    trace(13, 7.0, 1, 1, 8, 8, 8, 16, True),                  # the pause window's opening GC
    trace(14, 0.3, 10, 0.01, 8, 8, 8, 99999, True),
    trace(15, 0.5, 12, 0.03, 8, 8, 8, 99999, True),
    trace(16, 0.4, 11, 0.02, 8, 8, 8, 99999, True),
    trace(17, 5.0, 1, 1, 8, 8, 0, 16, True),                  # after the pause window: not its
]) + "\n"


def go_cycles_by_number():
    r = gcbench.parse_go_output(GO_OUT, GO_ERR, "go")
    assert r["procs"] == 2 and r["warnings"] == [], r["warnings"]
    churn = gcbench.go_find({2: r}, 2, "listchurn", gogc=100)
    w = [w for w in r["windows"] if w["workload"] == "listchurn"][0]
    assert [c["n"] for c in w["cycles"]] == [11, 12]
    # cycle 11 exact (9 MiB / 8 MiB), cycle 12 from MB (8/6): the max is 8/6
    assert abs(churn["peak_goal"] - 8 / 6) < 1e-9, churn
    assert churn["peak_goal_exact"] == 0
    assert w["cycles"][0]["goal_bytes"] == 8388608 and "goal_bytes" not in w["cycles"][1]
    assert churn["max_heap_mib"] == 9.0, churn
    # trace CPU: 2 cycles x (0.1+0.5+1.0+0.02) ms over 0.1 s x 2 Ps
    assert abs(churn["gc_cpu_pct_trace"] - 100 * 2 * 1.62 / 1000 / 0.2) < 1e-9
    p = gcbench.go_find({2: r}, 2, "pause", live_mib=8)
    assert p["stw1_ms"] == 0.4 and p["mark_ms"] == 11 and p["stw2_ms"] == 0.02, p
    assert abs(p["pause_ms"] - 0.42) < 1e-9, p  # median of a + c: 0.31, 0.42, 0.53
    # 8 MiB marked over (0.5 + 1.0 + 0.2) ms of mark CPU
    assert abs(p["mark_mbps_cpu"] - 8 * 1048576 / 1e6 / 0.0017) < 1e-6, p


def go_missing_trace_lines_warn():
    err = GO_ERR.replace(trace(12, 0.2, 3, 0.02, 6, 8, 4, 6) + "\n", "")
    r = gcbench.parse_go_output(GO_OUT, err, "go")
    assert any("1 gctrace lines for 2 cycles" in w for w in r["warnings"]), r["warnings"]


def go_without_done_is_rejected():
    expect_error(lambda: gcbench.parse_go_output(GO_OUT.replace("gcbench-go: done\n", ""), GO_ERR,
                                                 "go"), "gcbench-go: done")


def go_without_traces_is_rejected():
    expect_error(lambda: gcbench.parse_go_output(GO_OUT, "", "go"), "GODEBUG=gctrace=1")


def go_result_without_markers_is_rejected():
    out = GO_OUT.replace("gcbench-go: end listchurn live_mib=4 gogc=100 steps=1000000 numgc=12\n", "")
    expect_error(lambda: gcbench.parse_go_output(out, GO_ERR, "go"), "without its begin/end")


def go_log_round_trip():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "go-procs2.log")
        with open(path, "w") as f:
            f.write(f"{gcbench.GO_LOG_OUT} GOMAXPROCS=2\n{GO_OUT}{gcbench.GO_LOG_ERR}\n{GO_ERR}")
        out, err = gcbench.split_go_log(open(path).read(), path)
        assert out == GO_OUT and err == GO_ERR
        expect_error(lambda: gcbench.split_go_log("something else\n", "x.log"), "x.log", "not a go")


# ---------------------------------------------------------------- the script

def run_main(args):
    o, e = io.StringIO(), io.StringIO()
    with redirect_stdout(o), redirect_stderr(e):
        rc = gcbench.main(args)
    return rc, o.getvalue(), e.getvalue()


def script_writes_tables():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "go-procs2.log"), "w") as f:
            f.write(f"{gcbench.GO_LOG_OUT}\n{GO_OUT}{gcbench.GO_LOG_ERR}\n{GO_ERR}")
        rc, out, err = run_main(["--kernel-log", SAMPLE, "--go-log-dir", d, "--out", d])
        assert rc == 0, (rc, err)
        md = open(os.path.join(d, "results.md")).read()
        assert "| 2 | 8 | stop-the-world | 410.2 | 520.0 | 8100 | 30.1 | 8651 | 512 | 8.0 | — |" \
            in md, md
        assert "| 2 | 8 | concurrent | 400.1 | 610.0 | 9000 | 700.0 | 1310 | 480 | 8.0 | 400.0 | 11000 | 20.0 |" \
            in md, md
        assert "gcbench: pause chart: " in out, out
        # ours 117.5 cycles/GiB vs Go 31.5: ratio 3.73; peak/goal 1.000 vs 8/6
        assert "| listchurn 4 MiB | 100 | 2 | 117.5 | 31.5 | 3.73 | 1.000 | 1.333 | 0.75 |" in md, md
        # the mutator table: 1000 / 250 = 4.00x, 30 / 2 = 15.00x
        assert "| 2 | 6 | 250.0 | 1000.0 | 4.00 | 2.0 | 30.0 | 15.00 | 12.5 | 3.2 | 1.004 |" in md, md
        assert md in out
        csv = open(os.path.join(d, "results.csv")).read()
        assert "ours,2,pause,live_mib=128 mode=stw,mark_us,128400\n" in csv, csv[:500]
        assert "go,2,listchurn,live_mib=4 gogc=100 steps=1000000,peak_goal_exact,0" in csv


def script_rejects_log_without_done():
    """The negative control: a kernel log without 'gcbench: done' fails the run."""
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "kernel-smp2.log")
        open(bad, "w").write(sample().replace("gcbench: done\n", ""))
        rc, out, err = run_main(["--kernel-log", bad, "--no-go", "--out", d])
        assert rc == 1, (rc, out, err)
        assert "no 'gcbench: done'" in err and bad in err, err
        assert "no 'gcbench: done'" in open(os.path.join(d, "results.md")).read()


def script_without_go_says_so():
    with tempfile.TemporaryDirectory() as d:
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = d  # no `go` here
        try:
            rc, out, err = run_main(["--kernel-log", SAMPLE, "--go-bin", os.path.join(d, "none"),
                                     "--out", d])
        finally:
            os.environ["PATH"] = path
        assert rc == 0, (rc, err)
        assert "no Go anchor: golang-go not installed" in out
        assert "- no Go anchor: golang-go not installed" in open(os.path.join(d, "results.md")).read()


def script_rejects_bad_cpu_list():
    rc, out, err = run_main(["--cpus", "1 two", "--no-kernel", "--no-go"])
    assert rc == 2 and "must be numbers" in err, (rc, err)


def boot_failure_and_timeout():
    """boot_kernel on stand-in commands: a non-zero exit and a hang."""
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "k.log")
        text, problem = gcbench.boot_kernel(
            [py, "-c", "import sys; print('gcbench: stop'); sys.exit(2)"], 60, log)
        assert "gcbench: stop" in text and "exited 2" in problem, (text, problem)
        text, problem = gcbench.boot_kernel(
            [py, "-c", "import time; print('booting', flush=True); time.sleep(60)"], 1, log)
        assert "booting" in text and "no power-off within 1s" in problem, (text, problem)
        text, problem = gcbench.boot_kernel([py, "-c", "print('gcbench: done')"], 60, log)
        assert problem is None and open(log).read() == "gcbench: done\n"


CASES = [kernel_sample_parses, kernel_mutator_on_one_cpu_is_a_skip, kernel_crlf_and_extra_keys, kernel_without_done_is_rejected,
         kernel_token_without_equals_is_rejected, kernel_missing_key_is_rejected,
         kernel_non_number_is_rejected, kernel_mixed_cpu_counts_are_rejected,
         kernel_done_without_lines_is_rejected, kernel_repeat_and_unknown_warn,
         go_cycles_by_number, go_missing_trace_lines_warn, go_without_done_is_rejected,
         go_without_traces_is_rejected, go_result_without_markers_is_rejected, go_log_round_trip,
         script_writes_tables, script_rejects_log_without_done, script_without_go_says_so,
         script_rejects_bad_cpu_list,
         boot_failure_and_timeout]


def main():
    wanted = sys.argv[1:]
    names = [c.__name__ for c in CASES]
    for w in wanted:
        if w not in names:
            print(f"unknown case '{w}' (known: {', '.join(names)})", file=sys.stderr)
            return 2
    passed = failed = 0
    for case in CASES:
        if wanted and case.__name__ not in wanted:
            continue
        try:
            case()
            print(f"ok - {case.__name__}")
            passed += 1
        except Exception:  # a failed assert or a crash: both fail the case
            print(f"not ok - {case.__name__}")
            print("\n".join("# " + l for l in traceback.format_exc().splitlines()))
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
