#!/usr/bin/env python3
"""The QEMU harness's choice of accelerator (tests/qemu/run.py), without KVM.

run.py decides in choose_accel(requested, source, kvm_path, open_fn, probe):
the device path, the open call and the KVM start probe are parameters, so
each case here fakes one of them: a /dev/kvm that does not exist (a path in
an empty directory), one that cannot be opened (a directory: a real EISDIR;
an open that raises EACCES, since root opens any file whatever its mode), one
that opens (a regular file) with a QEMU that starts or refuses KVM, and the
ACCEL values tcg, kvm, auto, empty and garbage.  probe_kvm runs fake QEMU
scripts (one that starts, one that prints QEMU's real KVM error, one that
hangs, none at all).  Nothing here starts a virtual machine or measures time.

A negative control runs the same decision cases against a choose_accel that
ignores the device and the probe (always KVM); those cases must fail.

Prints "ok N - ..." lines and "N passed, N failed"; exit 1 on any failure.
"""
import errno
import importlib.util
import os
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("qemu_run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)

# QEMU 7.2's own words when /dev/kvm is missing (seen on this machine)
KVM_ERROR = ("Could not access KVM kernel module: No such file or directory\n"
             "qemu-system-x86_64: -accel kvm: failed to initialize kvm: No such file or directory\n")


def probe_ok():
    return None


def probe_refuses():
    return "KVM refused to start: Could not access KVM kernel module: Permission denied"


def eacces_open(path, flags):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)


class Recorder:
    """A probe that counts its calls (tcg must not start QEMU with KVM)."""
    def __init__(self, result=None):
        self.calls, self.result = 0, result

    def __call__(self):
        self.calls += 1
        return self.result


def decision_cases(tmp):
    """(name, kwargs for choose_accel, expected (accel, reason) or AccelError text)."""
    missing = os.path.join(tmp, "no-such-dir", "kvm")
    device = os.path.join(tmp, "kvm")  # a regular file stands for a usable device
    open(device, "w").close()
    return [
        ("auto, /dev/kvm missing: TCG, saying so",
         dict(requested=None, kvm_path=missing, probe=probe_ok),
         ("tcg", f"{missing} does not exist")),
        ("auto, /dev/kvm cannot be opened (EACCES): TCG, permission denied",
         dict(requested="auto", kvm_path=device, open_fn=eacces_open, probe=probe_ok),
         ("tcg", f"{device}: permission denied")),
        ("auto, /dev/kvm is a directory (a real EISDIR): TCG with the OS's reason",
         dict(requested="", kvm_path=tmp, probe=probe_ok),
         ("tcg", f"{tmp}: {os.strerror(errno.EISDIR)}")),
        ("auto, /dev/kvm opens and QEMU starts with KVM: KVM",
         dict(requested="auto", kvm_path=device, probe=probe_ok), ("kvm", None)),
        ("auto, /dev/kvm opens but QEMU refuses KVM: TCG with QEMU's reason",
         dict(requested="auto", kvm_path=device, probe=probe_refuses), ("tcg", probe_refuses())),
        ("ACCEL=tcg with a usable KVM: TCG, because ACCEL says so",
         dict(requested="tcg", kvm_path=device, probe=probe_ok), ("tcg", "ACCEL=tcg")),
        ("ACCEL=kvm with a usable KVM: KVM",
         dict(requested="kvm", kvm_path=device, probe=probe_ok), ("kvm", None)),
        ("ACCEL=KVM (upper case) is kvm",
         dict(requested="KVM", kvm_path=device, probe=probe_ok), ("kvm", None)),
        ("ACCEL=kvm with no /dev/kvm: refused with the reason, no fallback",
         dict(requested="kvm", kvm_path=missing, probe=probe_ok),
         run.AccelError(f"ACCEL=kvm but KVM is unusable: {missing} does not exist")),
        ("ACCEL=kvm when QEMU refuses KVM: refused with QEMU's reason",
         dict(requested="kvm", kvm_path=device, probe=probe_refuses),
         run.AccelError(f"ACCEL=kvm but KVM is unusable: {probe_refuses()}")),
        ("ACCEL=bogus: refused, naming the value and the choices",
         dict(requested="bogus", kvm_path=device, probe=probe_ok),
         run.AccelError("ACCEL=bogus: not an accelerator (want one of auto, kvm, tcg)")),
        ("--accel tcg: the reason names the option",
         dict(requested="tcg", source="--accel ", kvm_path=device, probe=probe_ok),
         ("tcg", "--accel tcg")),
    ]


def outcome(choose, kwargs):
    try:
        return choose(**kwargs)
    except run.AccelError as e:
        return run.AccelError(str(e))


def same(got, want):
    if isinstance(want, run.AccelError):
        return isinstance(got, run.AccelError) and str(got) == str(want)
    return got == want


def check_decisions(choose, tmp):
    """[(name, ok, got)] for every decision case under CHOOSE."""
    return [(name, same(got, want), got)
            for name, kwargs, want in decision_cases(tmp)
            for got in [outcome(choose, kwargs)]]


def broken_choose(requested=None, source="ACCEL=", kvm_path=None, open_fn=None, probe=None):
    """The negative control: trusts KVM blindly (no device check, no probe)."""
    req = (requested or "auto").lower()
    if req not in run.ACCEL_CHOICES:
        raise run.AccelError(f"{source}{requested}: not an accelerator "
                             f"(want one of {', '.join(run.ACCEL_CHOICES)})")
    return ("tcg", f"{source}tcg") if req == "tcg" else ("kvm", None)


def fake_qemu(tmp, name, body):
    """An executable shell script standing in for qemu-system-x86_64; it
    records its arguments in NAME.args."""
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\necho "$@" > "{path}.args"\n{body}\n')
    os.chmod(path, stat.S_IRWXU)
    return path


def probe_cases(tmp):
    starts = fake_qemu(tmp, "qemu-starts", 'read cmd; [ "$cmd" = quit ] && exit 0; exit 3')
    refuses = fake_qemu(tmp, "qemu-refuses", f"printf '{KVM_ERROR}' >&2; exit 1")
    hangs = fake_qemu(tmp, "qemu-hangs", "exec sleep 30")
    args_ok = lambda q: open(q + ".args").read().split()[:4] == ["-accel", "kvm", "-cpu", "host"]
    return [
        ("probe: a QEMU that starts with KVM and quits on 'quit': usable, asked for -accel kvm -cpu host",
         lambda: run.probe_kvm(starts) is None and args_ok(starts)),
        ("probe: a QEMU that prints the KVM init error: refused with QEMU's line",
         lambda: run.probe_kvm(refuses) ==
         "KVM refused to start: Could not access KVM kernel module: No such file or directory"),
        ("probe: a QEMU that never answers: refused after the timeout",
         lambda: run.probe_kvm(hangs, timeout=1) == "QEMU with KVM did not start within 1s"),
        ("probe: no QEMU at that path: refused, saying so",
         lambda: run.probe_kvm(os.path.join(tmp, "none")) == f"{os.path.join(tmp, 'none')} not found"),
    ]


def retry_cases():
    """kvm_start_failure: when a boot under KVM is run again under TCG."""
    f = run.kvm_start_failure
    return [
        ("boot retry: KVM, exit 1 at once with KVM's error: again under TCG",
         f("kvm", 1, 0.3, KVM_ERROR) == "KVM refused to start: Could not access KVM kernel "
                                       "module: No such file or directory"),
        ("boot retry: not for a kernel verdict (exit 35)", f("kvm", 35, 0.3, KVM_ERROR) is None),
        ("boot retry: not for a QEMU error that is not KVM's",
         f("kvm", 1, 0.3, "qemu-system-x86_64: -drive file=x: Could not open 'x'") is None),
        ("boot retry: not after the first 10 s", f("kvm", 1, 60.0, KVM_ERROR) is None),
        ("boot retry: never under TCG", f("tcg", 1, 0.3, KVM_ERROR) is None),
    ]


def command_cases():
    tcg = run.qemu_cmd(1, "128M", None, "vars.fd", accel="tcg")
    kvm = run.qemu_cmd(1, "128M", None, "vars.fd", accel="kvm")
    return [
        ("QEMU flags: tcg is -accel tcg (multi-threaded TCG) and no -cpu",
         tcg[1:3] == ["-accel", "tcg"] and "-cpu" not in tcg and "kvm" not in tcg),
        ("QEMU flags: kvm is -accel kvm -cpu host", kvm[1:5] == ["-accel", "kvm", "-cpu", "host"]),
        ("first line: 'qemu: accelerator kvm'", run.accel_line("kvm", None) == "qemu: accelerator kvm"),
        ("first line: 'qemu: accelerator tcg (REASON)'",
         run.accel_line("tcg", "/dev/kvm does not exist") ==
         "qemu: accelerator tcg (/dev/kvm does not exist)"),
    ]


def cli_cases():
    """run.py itself refuses a bad ACCEL before starting any QEMU."""
    def call(env_accel, *args):
        env = dict(os.environ, ACCEL=env_accel)
        return subprocess.run([sys.executable, os.path.join(HERE, "run.py")] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    p = call("bogus", "--matrix", "smp1-128M")
    q = call("tcg", "--matrix", "smp1-128M", "--accel", "sideways")
    return [
        ("run.py with ACCEL=bogus: exit 2, the message, no boot",
         p.returncode == 2 and b"run.py: error: ACCEL=bogus: not an accelerator" in p.stderr
         and b"ok - qemu" not in p.stdout),
        ("run.py --accel sideways (over ACCEL=tcg): exit 2, naming the option",
         q.returncode == 2 and b"run.py: error: --accel sideways: not an accelerator" in q.stderr),
    ]


def main():
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ok, got in check_decisions(run.choose_accel, tmp):
            results.append((name, ok, f"got {got!r}"))
        caught = [name for name, ok, _ in check_decisions(broken_choose, tmp) if not ok]
        results.append((f"negative control: a choose_accel that ignores /dev/kvm and the probe "
                        f"fails {len(caught)} cases", len(caught) >= 5, "; ".join(caught)))
        for name, fn in probe_cases(tmp):
            results.append((name, fn(), ""))
    results += [(name, ok, "") for name, ok in retry_cases() + command_cases() + cli_cases()]
    failed = 0
    for i, (name, ok, detail) in enumerate(results, 1):
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {i} - accel: {name}")
        if not ok and detail:
            print(f"#   {detail}")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
