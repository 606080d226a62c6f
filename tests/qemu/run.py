#!/usr/bin/env python3
"""QEMU harness for gokernel.

  run.py --run [--debug] [--display 1|gtk|sdl|0] --cpus N --mem SIZE --cmdline '...'
                                                  (make run [DISPLAY=1] / make debug)
  run.py --matrix all|NAME[,NAME] [--inject-failure] [--json OUT]   (make test)
  run.py --list
  --accel auto|kvm|tcg (default: $ACCEL, else auto) with --run and --matrix

Before booting, run.py chooses the accelerator and prints it as its first
line: `qemu: accelerator kvm`, or `qemu: accelerator tcg (REASON)`.  auto
takes KVM (-accel kvm -cpu host) when /dev/kvm opens read-write and QEMU
starts with it, and falls back to TCG (-accel tcg: QEMU's multi-threaded
TCG, one host thread per vCPU) saying why; kvm insists and fails with the
reason when KVM is unusable; tcg never tries KVM.

Every boot uses q35 + OVMF, -no-reboot, isa-debug-exit (the kernel writes
0x10 → exit 33 = pass, 0x11 → exit 35 = fail), the serial port captured to
build/test/<config>.log, and the per-boot kernel command line through
-fw_cfg name=opt/gokernel/cmdline.  A configuration passes only when the exit
status is 33 AND the log has a summary line "N passed, 0 failed" with N > 0
AND every extra expectation of the configuration holds.  A timeout is a
failure that names the configuration and shows the last 40 log lines.

--display (make run DISPLAY=1) replaces -display none with QEMU's gtk (else
sdl) window, whose screen repeats the serial lines (kernel/fbcon.c); with no
window system ($DISPLAY unset or not an X display, no $WAYLAND_DISPLAY) or
no such backend in QEMU it says so and runs headless (choose_display).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
PASS_EXIT, FAIL_EXIT = 33, 35
SMP_RE = re.compile(r"^smp: (\d+) of (\d+) CPUs started", re.M)
SUMMARY_RE = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$", re.M)

# name, cpus, mem, cmdline, boot ("disk" | "cdrom" | "debug" | a DISK_IMAGES key |
# a build/neg/ image), expectations
DISK_IMAGES = {"usb-img": "gokernel.img", "iso-disk": "gokernel.iso"}
DEFAULT_CMDLINE = "test=all stats halt"
CONFIGS = [
    dict(name="smp1-128M", cpus=1, mem="128M"),
    dict(name="smp1-512M", cpus=1, mem="512M"),
    # the reference collector: every test with the world stopped for the mark
    dict(name="smp2-1G", cpus=2, mem="1G", cmdline="test=all gcstoptheworld=1 stats halt",
         expect=[r"gc: debug modes: gcstoptheworld=1"]),
    # every GC test on 4 CPUs with gctrace=1: the harness checks each trace
    # line's format and numbers against the `stat gc` records (GC.md T10)
    dict(name="smp4-3G", cpus=4, mem="3G", cmdline="test=all gctrace=1 heapmap stats halt", gctrace=True,
         expect=[r"range[s]? above 4 GiB \([1-9]\d* MiB\)", r"(?m)^gc \d+ @"]),
    # TCG runs more virtual CPUs than the host has cores: slow, but every one must start.
    # (every stop of the world waits for 8 vCPUs sharing the host's cores:
    # 80-220 s here, hence 2.5 times the timeout)
    dict(name="smp8-2G", cpus=8, mem="2G", slow=2.5),
    # ... with Go's GODEBUG checks on: every cycle of every test is marked a
    # second time from all roots (a missed object is fatal), and collected
    # objects are overwritten at once (a use after collection reads garbage)
    dict(name="smp2-1G-segmented", cpus=2, mem="1G",
         cmdline="test=all stack=segmented gccheckmark=1 gcclobber=1 halt",
         expect=[r"default mode segmented", r"gc: debug modes: gccheckmark=1 gcclobber=1"]),
    dict(name="iso-smp2-512M", cpus=2, mem="512M", boot="cdrom"),
    # The images for a USB stick, attached as plain disks: build/gokernel.img
    # (make usb) and the hybrid ISO.  Before booting, the harness checks each
    # has a GPT whose EFI system partition holds this build's loader, kernel
    # and cmdline.txt (check_disk_layout): OVMF would also boot the ISO's
    # El Torito entry from a disk, a real PC's firmware need not.
    dict(name="usb-img-smp2-512M", cpus=2, mem="512M", boot="usb-img", layout=True,
         cmdline="test=quick stats halt"),
    dict(name="iso-disk-smp2-512M", cpus=2, mem="512M", boot="iso-disk", layout=True,
         cmdline="test=quick stats halt"),
    # the forced GC in real time: a 5 s period on an idle kernel (the LAPIC
    # timer's idle loop runs sysmon); cycles must come 5-7 s apart
    dict(name="smp2-gc-forced", cpus=2, mem="512M", gctrace=True, forced_gap=(5.0, 7.0),
         cmdline="test=gc_command_is_runtime_gc gctrace=1 forcegc=5 gc idle=12 stats halt"),
    # the heap profile (kernel/pprof.c): a known workload's alloc_space read back
    # with go tool pprof, within the sampling error (tests/qemu/pprof_check.py)
    dict(name="smp2-pprof", cpus=2, mem="512M", pprof=True,
         cmdline="test=pprof_* memprofilerate=8192 pprofwork pprof halt"),
    # alloc/'s debug level (alloc/debug.h): span recounts and poisoned free
    # slots checked at every allocation and by heap_verify after each test.
    dict(name="smp2-1G-debug", cpus=2, mem="1G", boot="debug",
         expect=[r"alloc: debug level 1"]),
    # The harness proves it sees failures: a deliberately failing self-test
    # must turn this boot red (exit 35, "not ok ... selftest_must_fail").
    dict(name="failtest-detected", cpus=1, mem="256M", cmdline="test=quick failtest halt",
         negative=True, expect=[r"not ok \d+ - selftest_must_fail"]),
    # Loader bad input: the loader must say what is wrong (it then returns to
    # the firmware, which waits in its shell: we stop QEMU when we see it).
    # The screen console (kernel/fbcon.c): a screendump (QMP) taken while the
    # kernel waits at its shell prompt must show exactly the lines of the
    # serial log (tests/qemu/test_screen.py); with fbcon=off the same check
    # must fail (the kernel leaves the firmware's picture alone).
    dict(name="screen-fbcon", cpus=1, mem="256M", cmdline="test=quick shell", screen="on",
         expect=[r"(?m)^fbcon: \d+x\d+ \(\d+x\d+ chars\) at 0x[0-9a-f]+, (write-combining|uncached)$"]),
    dict(name="screen-fbcon-off", cpus=1, mem="256M", cmdline="test=quick fbcon=off shell",
         screen="off", expect=[r"(?m)^fbcon: off \(fbcon=off\)$"]),
    # A panic reaches the screen: the shell's `cpus panic 1` panics CPU 1.
    # Without isa-debug-exit the kernel halts after its last line ("PANIC on
    # cpu 1: ..."), the harness takes the screendump and quits QEMU itself.
    dict(name="screen-panic", cpus=2, mem="256M", cmdline="test=fbcon_* shell", screen="panic",
         expect=[r"(?m)^PANIC on cpu 1: requested by `cpus panic` \(cpu 1, APIC id \d+\)$"]),
    # no display device, so OVMF has no GOP: the loader and the kernel say so
    dict(name="screen-no-gop", cpus=1, mem="256M", cmdline="test=fbcon_* halt",
         qemu_args=["-vga", "none"],
         expect=[r"boot: gop: no Graphics Output Protocol \(Not Found\): the kernel has no screen",
                 r"(?m)^fbcon: no framebuffer \(the firmware has no Graphics Output Protocol\)$"]),
    dict(name="loader-missing-kernel", cpus=1, mem="256M", boot="esp-nokernel", loader_error=True,
         expect=[r"boot: error: cannot open \\kernel\.elf"]),
    dict(name="loader-corrupt-kernel", cpus=1, mem="256M", boot="esp-corrupt", loader_error=True,
         expect=[r"boot: error: kernel\.elf: (not an ELF file|.*extends past end of file|truncated)"]),
    dict(name="loader-wrong-arch", cpus=1, mem="256M", boot="esp-arm", loader_error=True,
         expect=[r"boot: error: kernel\.elf: wrong machine 183"]),
]


def qemu_cmd(cpus, mem, cmdline, vars_path, boot="disk", serial="stdio", debug=False, accel="tcg"):
    cmd = ["qemu-system-x86_64"] + ACCEL_FLAGS[accel] + [
           "-machine", "q35", "-m", str(mem), "-smp", str(cpus),
           "-no-reboot", "-display", "none", "-net", "none",
           "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
           "-drive", f"if=pflash,format=raw,file={vars_path}",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if serial is not None:  # None: the caller attaches the serial port itself
        cmd += ["-serial", serial]
    if cmdline is not None:
        cmd += ["-fw_cfg", "name=opt/gokernel/cmdline,string=" + cmdline.replace(",", ",,")]
    if boot == "cdrom":
        cmd += ["-cdrom", os.path.join(BUILD, "gokernel.iso")]
    elif boot == "disk":
        cmd += ["-drive", f"format=raw,file={os.path.join(BUILD, 'esp.img')},snapshot=on"]
    elif boot == "debug":
        cmd += ["-drive", f"format=raw,file={os.path.join(BUILD, 'esp-debug.img')},snapshot=on"]
    elif boot in DISK_IMAGES:  # a whole-disk image (GPT), attached as a plain disk
        cmd += ["-drive", f"format=raw,file={os.path.join(BUILD, DISK_IMAGES[boot])},snapshot=on"]
    else:
        cmd += ["-drive", f"format=raw,file={os.path.join(BUILD, 'neg', boot + '.img')},snapshot=on"]
    if debug:
        cmd += ["-s", "-S"]
    return cmd


EFI_SYSTEM_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"


def esp_files():
    """What the ESP of every image must hold: this build's files."""
    return {"EFI/BOOT/BOOTX64.EFI": os.path.join(BUILD, "BOOTX64.EFI"),
            "kernel.elf": os.path.join(BUILD, "kernel.elf"),
            "cmdline.txt": os.path.join(BUILD, "cmdline.txt")}


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def check_disk_layout(path, files):
    """Problems with PATH as a UEFI-bootable disk: it must have a GPT (read by
    sfdisk) with exactly one EFI system partition, inside the file, whose FAT
    (read by mtools at the partition's offset) holds each of FILES (ESP path
    -> host file) with the same bytes.  [] when it is right."""
    rel = os.path.relpath(path, ROOT)
    if not os.path.exists(path):
        return [f"{rel}: missing"]
    try:
        p = subprocess.run(["sfdisk", "--json", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    except FileNotFoundError:
        return ["sfdisk not found (scripts/install-deps.sh installs the fdisk package)"]
    if p.returncode != 0:
        return [f"{rel}: no partition table ({p.stdout.decode(errors='replace').strip()})"]
    table = json.loads(p.stdout)["partitiontable"]
    if table.get("label") != "gpt":
        return [f"{rel}: a {table.get('label')} partition table, want gpt"]
    esps = [q for q in table.get("partitions", []) if q.get("type", "").upper() == EFI_SYSTEM_GUID]
    if len(esps) != 1:
        return [f"{rel}: {len(esps)} EFI system partitions, want 1"]
    sector = table.get("sectorsize", 512)
    start, size = esps[0]["start"] * sector, esps[0]["size"] * sector
    if start + size > os.path.getsize(path):
        return [f"{rel}: the EFI system partition ends past the end of the file"]
    problems = []
    for name, host in files.items():
        got = subprocess.run(["mcopy", "-n", "-i", f"{path}@@{start}", "::/" + name, "-"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if got.returncode != 0:
            problems.append(f"{rel}: the EFI system partition has no \\{name.replace('/', chr(92))} "
                            f"({got.stderr.decode(errors='replace').strip()})")
        elif got.stdout != read_bytes(host):
            problems.append(f"{rel}: \\{name.replace('/', chr(92))} in the EFI system partition "
                            f"differs from {os.path.relpath(host, ROOT)}")
    return problems


def fresh_vars(name):
    os.makedirs(os.path.join(BUILD, "test"), exist_ok=True)
    path = os.path.join(BUILD, "test", f"{name}.vars.fd")
    shutil.copyfile(OVMF_VARS, path)
    return path


# ---------------------------------------------------------------- accelerator
# QEMU flags per accelerator.  TCG: QEMU's default for an x86-64 guest on an
# x86-64 host is multi-threaded TCG (one host thread per vCPU), the flags the
# harness always used; -accel tcg only says it.  KVM: the host CPU model (the
# guest sees the host's CPUID; QEMU's default model would hide features).
ACCEL_FLAGS = {"kvm": ["-accel", "kvm", "-cpu", "host"], "tcg": ["-accel", "tcg"]}
ACCEL_CHOICES = ("auto", "kvm", "tcg")
KVM_DEV = "/dev/kvm"


class AccelError(Exception):
    """A request that cannot be met (a bad value, or kvm when KVM is unusable)."""


def kvm_unusable(path=KVM_DEV, open_fn=os.open):
    """None when PATH opens read-write (what QEMU needs), else why not."""
    try:
        fd = open_fn(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return f"{path} does not exist"
    except PermissionError:
        return f"{path}: permission denied"
    except OSError as e:
        return f"{path}: {e.strerror or e}"
    os.close(fd)
    return None


def kvm_refusal(output):
    """QEMU's complaint when it would not start with KVM: its first line
    naming KVM or the accelerator, else its first line; None if it said nothing."""
    lines = [l.strip() for l in output.splitlines() if l.strip()]
    for l in lines:
        if re.search(r"kvm|accel", l, re.I):
            return l
    return lines[0] if lines else None


def probe_kvm(qemu="qemu-system-x86_64", timeout=30):
    """Start QEMU with KVM, paused (-S), and quit it through its monitor:
    None when it started, else QEMU's reason.  KVM init errors (no module,
    no permission, nested virtualisation off, a QEMU built without KVM) end
    QEMU here, before any boot."""
    cmd = [qemu] + ACCEL_FLAGS["kvm"] + ["-machine", "q35", "-nodefaults", "-display", "none",
                                         "-S", "-monitor", "stdio"]
    try:
        p = subprocess.run(cmd, input=b"quit\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except FileNotFoundError:
        return f"{qemu} not found"
    except subprocess.TimeoutExpired:
        return f"QEMU with KVM did not start within {timeout}s"
    if p.returncode == 0:
        return None
    why = kvm_refusal(p.stdout.decode(errors="replace"))
    return f"KVM refused to start: {why}" if why else f"KVM refused to start: QEMU exit {p.returncode}"


def choose_accel(requested, source="ACCEL=", kvm_path=KVM_DEV, open_fn=os.open, probe=probe_kvm):
    """(accelerator, reason) for REQUESTED (auto/kvm/tcg; None or "" is auto),
    which came from SOURCE (what messages put before the value: "ACCEL=" or
    "--accel ").  reason is
    None for KVM and says why for TCG.  auto falls back to TCG when KVM is
    unusable; kvm raises AccelError instead (someone asked for it: running
    under TCG would quietly change what they measure); a value that is none
    of the three raises AccelError."""
    req = (requested or "auto").strip().lower()
    if req not in ACCEL_CHOICES:
        raise AccelError(f"{source}{requested}: not an accelerator (want one of "
                         f"{', '.join(ACCEL_CHOICES)})")
    if req == "tcg":
        return "tcg", f"{source}tcg"
    why = kvm_unusable(kvm_path, open_fn) or probe()
    if why is None:
        return "kvm", None
    if req == "kvm":
        raise AccelError(f"{source}kvm but KVM is unusable: {why}")
    return "tcg", why


def accel_line(accel, reason):
    return f"qemu: accelerator {accel}" + (f" ({reason})" if reason else "")


def kvm_start_failure(accel, rc, seconds, output):
    """The reason to re-run a boot under TCG: QEMU with KVM ended within 10 s
    with QEMU's own error status (1) and a complaint naming KVM (the probe
    passed but the real machine would not start).  None otherwise: a kernel
    verdict (33/35), a later end or a complaint that is not KVM's stays the
    boot's own result."""
    if accel != "kvm" or rc != 1 or seconds > 10:
        return None
    why = kvm_refusal(output)
    if why and re.search(r"kvm", why, re.I):
        return f"KVM refused to start: {why}"
    return None


def accel_from_args(a):
    """choose_accel for --accel (else $ACCEL); prints the first line."""
    source = "--accel " if a.accel is not None else "ACCEL="
    requested = a.accel if a.accel is not None else os.environ.get("ACCEL")
    accel, reason = choose_accel(requested, source)
    print(accel_line(accel, reason), flush=True)
    return accel


# ---------------------------------------------------------------- display
# --display (make run DISPLAY=1): QEMU opens a window showing the VGA screen,
# where the kernel's screen console (kernel/fbcon.c) repeats the serial
# lines.  Without it (and always in the test matrix) QEMU runs -display none.
DISPLAY_CHOICES = ("1", "yes", "auto", "gtk", "sdl", "0", "no", "none")


def qemu_displays(qemu="qemu-system-x86_64"):
    """The display backends this QEMU lists in `-display help` (Debian's
    gtk and sdl come with the qemu-system-gui package)."""
    try:
        out = subprocess.run([qemu, "-display", "help"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30).stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if "display backend types" in l), None)
    return [] if start is None else [l.strip() for l in lines[start + 1:] if l.strip()]


def choose_display(requested, env, available):
    """(backend or None, message) for --display REQUESTED: 1/yes/auto take
    gtk, else sdl; gtk or sdl insist on that one; 0/no/none is headless.
    None (headless, with the reason in message) when there is no window
    system (neither an X display such as ':0' in env's DISPLAY or
    GOK_X_DISPLAY, nor WAYLAND_DISPLAY) or QEMU lacks the backend."""
    req = (requested or "").strip().lower()
    if req not in DISPLAY_CHOICES:
        raise ValueError(f"--display {requested}: want 1 (gtk or sdl), gtk, sdl or 0")
    if req in ("0", "no", "none"):
        return None, "qemu: display none (serial only)"
    # make run DISPLAY=1 puts "1" in $DISPLAY; the Makefile keeps the X
    # display it had in GOK_X_DISPLAY (present, maybe empty, under make)
    named = env["GOK_X_DISPLAY"] if "GOK_X_DISPLAY" in env else env.get("DISPLAY", "")
    xdisp = named if ":" in named else None
    if not xdisp and not env.get("WAYLAND_DISPLAY"):
        why = f"$DISPLAY is {named!r}, not an X display such as :0" if named else "$DISPLAY is not set"
        return None, f"qemu: no display ({why}, and no $WAYLAND_DISPLAY): running headless, serial only"
    want = ["gtk", "sdl"] if req in ("1", "yes", "auto") else [req]
    have = [b for b in want if b in available]
    if not have:
        return None, (f"qemu: no display (this QEMU has no {' or '.join(want)} display; Debian's "
                      f"qemu-system-gui package adds them): running headless, serial only")
    where = xdisp or "Wayland " + env["WAYLAND_DISPLAY"]
    return have[0], (f"qemu: display {have[0]} on {where}: its window shows the screen console "
                     f"(the same lines as serial); the keyboard is serial-only, type here")


# ---------------------------------------------------------------- make run
def run_interactive(a):
    vars_path = fresh_vars("run")
    cmd = qemu_cmd(a.cpus, a.mem, a.cmdline, vars_path, debug=a.debug, accel=a.accel_chosen)
    if a.display is not None:
        try:
            backend, msg = choose_display(a.display, os.environ, qemu_displays())
        except ValueError as e:
            print(f"run.py: error: {e}", file=sys.stderr)
            return 2
        print(msg, flush=True)
        if backend:
            cmd[cmd.index("-display") + 1] = backend
            if os.environ.get("GOK_X_DISPLAY"):
                os.environ["DISPLAY"] = os.environ["GOK_X_DISPLAY"]  # make's DISPLAY=1 hid it
    if a.debug:
        print("QEMU is paused with a GDB stub on localhost:1234. In another terminal:\n"
              "  gdb -x tests/qemu/gdbinit build/kernel.elf\n"
              "(tests/qemu/gdbinit connects, sets a breakpoint on kmain and continues.)",
              flush=True)
    print("qemu: " + " ".join(cmd[:12]) + " ... (serial console below; Ctrl-D or 'poweroff' "
          "ends the shell, Ctrl-A X kills QEMU)", flush=True)
    if sys.stdin.isatty():
        # -serial mon:stdio puts the terminal in raw mode and keeps Ctrl-A X.
        cmd[cmd.index("-serial") + 1] = "mon:stdio"
        rc = subprocess.call(cmd)
    else:
        # Non-interactive: the firmware also reads the serial port, so hold
        # stdin back until the kernel's shell prompt appears, then pass it
        # through followed by end-of-input (0x04) so the shell powers off.
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        data = sys.stdin.buffer.read()
        seen = b""
        fed = False
        while True:
            chunk = p.stdout.read1(4096)
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            if not fed:
                seen = (seen + chunk)[-4096:]
                if b"gokernel shell:" in seen:
                    fed = True
                    try:
                        p.stdin.write(data + b"\x04")
                        p.stdin.flush()
                    except (BrokenPipeError, OSError):
                        pass
        rc = p.wait()
    if rc == PASS_EXIT:
        return 0
    if rc == FAIL_EXIT:
        print("make run: the kernel reported failure (QEMU exit 35)", file=sys.stderr)
        return 1
    print(f"make run: QEMU ended with status {rc} (a triple fault or a kill; "
          "the kernel did not power off)", file=sys.stderr)
    return 2


# ---------------------------------------------------------------- negative images
def make_negative_images():
    neg = os.path.join(BUILD, "neg")
    os.makedirs(neg, exist_ok=True)
    efi = os.path.join(BUILD, "BOOTX64.EFI")
    kernel = open(os.path.join(BUILD, "kernel.elf"), "rb").read()
    arm = bytearray(kernel)
    arm[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    variants = {"esp-nokernel": None, "esp-corrupt": kernel[:0x1100],  # cut inside the first segment
                "esp-arm": bytes(arm)}
    for name, content in variants.items():
        img = os.path.join(neg, name + ".img")
        if os.path.exists(img) and os.path.getmtime(img) > os.path.getmtime(efi) and \
                os.path.getmtime(img) > os.path.getmtime(os.path.join(BUILD, "kernel.elf")):
            continue
        subprocess.check_call(["dd", "if=/dev/zero", f"of={img}", "bs=1k", "count=4096",
                               "status=none"])
        subprocess.check_call(["mformat", "-i", img, "::"])
        subprocess.check_call(["mmd", "-i", img, "::/EFI", "::/EFI/BOOT"])
        subprocess.check_call(["mcopy", "-i", img, efi, "::/EFI/BOOT/BOOTX64.EFI"])
        if content is not None:
            k = os.path.join(neg, name + ".elf")
            open(k, "wb").write(content)
            subprocess.check_call(["mcopy", "-i", img, k, "::/kernel.elf"])


# ---------------------------------------------------------------- matrix
GC_LINE_RE = re.compile(
    r"^gc (\d+) @(\d+\.\d{3})s (\d+)%: [\d.]+\+[\d.]+\+[\d.]+ ms clock, "
    r"[\d.]+\+[\d.]+/[\d.]+/[\d.]+\+[\d.]+ ms cpu, (\d+)->(\d+)->(\d+) MB, (\d+) MB goal, "
    r"\d+ MB stacks, \d+ MB globals, (\d+) P( \(forced\))?$")
STAT_GC_RE = re.compile(r"^stat gc n (\d+) trigger (\w+) forced (\d) ncpu \d+ gogc -?\d+ "
                        r"start_ns \d+ heap0 (\d+) heap1 (\d+) marked (\d+) goal (\d+) ", re.M)


def check_gctrace(cfg, log):
    """GC.md T10: every gctrace line in Go's exact format, cycles numbered
    1, 2, 3..., P == the CPU count, h2 <= h1, and each line's heap figures
    and goal equal its `stat gc` record's bytes >> 20; `GC forced` exactly
    before time-forced cycles; with forced_gap, those come 5-7 s apart."""
    problems, cycles = [], []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("gc ") or line.startswith("gc: "):
            continue
        m = GC_LINE_RE.match(line)
        if not m:
            problems.append(f"gctrace line not in Go's format: {line!r}")
            continue
        after_forced = i > 0 and lines[i - 1] == "GC forced"
        cycles.append((int(m.group(1)), float(m.group(2)), [int(m.group(k)) for k in (4, 5, 6, 7)],
                       int(m.group(8)), bool(m.group(9)), after_forced))
    if not cycles:
        return problems + ["no gctrace lines"]
    records = {int(r.group(1)): r for r in STAT_GC_RE.finditer(log)}
    for k, (n, at, (h0, h1, h2, goal), p, forced, after_forced) in enumerate(cycles):
        if n != k + 1:
            problems.append(f"gctrace: cycle {n} where {k + 1} was due")
        if p != cfg["cpus"]:
            problems.append(f"gctrace: cycle {n}: {p} P, want {cfg['cpus']}")
        if h2 > h1:
            problems.append(f"gctrace: cycle {n}: live after ({h2} MB) > heap at mark end ({h1} MB)")
        r = records.get(n)
        if r is None:  # the kernel keeps the last 256 records
            if n > len(cycles) - 256:
                problems.append(f"gctrace: cycle {n} has no `stat gc` record")
            continue
        want = [int(r.group(k)) >> 20 for k in (4, 5, 6, 7)]
        if want != [h0, h1, h2, goal]:
            problems.append(f"gctrace: cycle {n}: {h0}->{h1}->{h2} MB, {goal} MB goal; "
                            f"stat gc says {want[0]}->{want[1]}->{want[2]}, {want[3]}")
        if forced != (r.group(3) == "1") or after_forced != (r.group(2) == "time"):
            problems.append(f"gctrace: cycle {n} (trigger {r.group(2)}): ' (forced)' {forced}, "
                            f"'GC forced' line before it {after_forced}")
    if "forced_gap" in cfg:
        lo, hi = cfg["forced_gap"]
        timed = [k for k, c in enumerate(cycles) if c[5]]
        if len(timed) < 2:
            problems.append(f"{len(timed)} time-forced cycles during the idle time, want >= 2")
        for k in timed:
            gap = cycles[k][1] - cycles[k - 1][1] if k else None
            if gap is None:
                problems.append(f"time-forced cycle {cycles[k][0]} is the first cycle")
            elif not lo <= gap <= hi:
                problems.append(f"time-forced cycle {cycles[k][0]} came {gap:.3f} s after the "
                                f"previous, want {lo}-{hi} s")
    return problems


GOOD_TRACE = """\
gc 1 @0.071s 30%: 16+14+0.16 ms clock, 32+0/0.45/0+0.32 ms cpu, 0->0->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
GC forced
gc 2 @5.120s 1%: 4.6+18+0.008 ms clock, 9.3+0/0.26/0+0.017 ms cpu, 0->0->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P
GC forced
gc 3 @10.150s 0%: 5.2+7.3+0.29 ms clock, 10+0/0.55/0+0.59 ms cpu, 0->0->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P
stat gc n 1 trigger cycle forced 1 ncpu 2 gogc 100 start_ns 71000000 heap0 0 heap1 0 marked 0 goal 4194304 next_goal 4194304 stacks 912 globals 243624
stat gc n 2 trigger time forced 0 ncpu 2 gogc 100 start_ns 5120000000 heap0 0 heap1 0 marked 0 goal 4194304 next_goal 4194304 stacks 912 globals 243624
stat gc n 3 trigger time forced 0 ncpu 2 gogc 100 start_ns 10150000000 heap0 0 heap1 0 marked 0 goal 4194304 next_goal 4194304 stacks 912 globals 243624
"""


def checker_selftest():
    """The gctrace checker must pass a good log and catch each kind of bad one."""
    cfg = dict(cpus=2, forced_gap=(5.0, 7.0))
    cases = [("a good log", GOOD_TRACE, True),
             ("a line not in Go's format", GOOD_TRACE.replace("0 MB globals, 2 P\nGC", "0 MB globals\nGC", 1), False),
             ("the wrong P", GOOD_TRACE.replace("2 P (forced)", "3 P (forced)"), False),
             ("a goal that is not the record's", GOOD_TRACE.replace("4 MB goal", "5 MB goal", 1), False),
             ("' (forced)' on a time-forced cycle", GOOD_TRACE.replace("0 MB globals, 2 P\nGC forced\ngc 3", "0 MB globals, 2 P (forced)\nGC forced\ngc 3"), False),
             ("no 'GC forced' before a time-forced cycle", GOOD_TRACE.replace("GC forced\ngc 3", "gc 3"), False),
             ("a skipped cycle number", GOOD_TRACE.replace("gc 3 @", "gc 4 @"), False),
             ("forced cycles too close", GOOD_TRACE.replace("@10.150s", "@6.150s"), False)]
    failed = 0
    for i, (what, log, good) in enumerate(cases, 1):
        problems = check_gctrace(cfg, log)
        ok = (not problems) == good
        failed += not ok
        detail = "passes" if not problems else "caught: " + problems[0]
        print(f"{'ok' if ok else 'not ok'} {i} - gctrace checker, {what}: {detail}")
    log = ("ok 1 - a\n# said by b\nnot ok 2 - b\n# b.c:3: want 4\n# more\nok 3 - c\n"
           "not ok 4 - d\nok 5 - e\n")
    details = failed_test_details(log)
    want = ["not ok 2 - b: b.c:3: want 4 / more", "  it printed first: said by b",
            "not ok 4 - d: (no message)"]
    ok = details == want
    failed += not ok
    cases.append(("failed self-tests' messages", log, None))
    print(f"{'ok' if ok else 'not ok'} {len(cases)} - failed self-tests' messages are reported"
          + ("" if ok else f": {details}"))
    import test_screen  # the screen checker (tests/qemu/test_screen.py) on made-up screens
    screen = test_screen.selftest_cases()
    for i, (what, ok, detail) in enumerate(screen, len(cases) + 1):
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {i} - {what}" + ("" if ok else f": {detail}"))
    print(f"{len(cases) + len(screen) - failed} passed, {failed} failed")
    return 1 if failed else 0


def tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


def screen_path(cfg):
    return os.path.join(BUILD, "test", f"{cfg['name']}.ppm")


def boot_once(cfg, cmdline, accel, timeout, log_path, expect):
    """One QEMU run of CFG: (exit status, timed out, QEMU's own output, seconds).
    A loader_error configuration is stopped once its messages are in the log."""
    if os.path.exists(log_path):
        os.remove(log_path)
    if cfg.get("screen"):  # serial on a socket, a screendump at the shell prompt
        import test_screen  # tests/qemu/test_screen.py
        cmd = qemu_cmd(cfg["cpus"], cfg["mem"], cmdline, fresh_vars(cfg["name"]),
                       cfg.get("boot", "disk"), serial=None, accel=accel)
        if cfg["screen"] == "panic":  # no exit device: the kernel halts after the panic
            i = cmd.index("isa-debug-exit,iobase=0xf4,iosize=0x04")
            del cmd[i - 1:i + 1]
        rc, timed_out, out, secs, problem = test_screen.boot_and_dump(
            cmd, log_path, screen_path(cfg), timeout, cfg["screen"])
        return rc, timed_out, out + (f"\nscreen: {problem}" if problem else ""), secs
    cmd = qemu_cmd(cfg["cpus"], cfg["mem"], cmdline, fresh_vars(cfg["name"]), cfg.get("boot", "disk"),
                   serial=f"file:{log_path}", accel=accel) + cfg.get("qemu_args", [])
    t0 = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    timed_out = False
    while p.poll() is None:
        if time.time() - t0 > timeout:
            timed_out = True
            break
        if cfg.get("loader_error") and os.path.exists(log_path):
            text = open(log_path, errors="replace").read()
            if all(e.search(text) for e in expect):
                break
        time.sleep(0.2)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    return p.returncode, timed_out, p.stdout.read().decode(errors="replace"), time.time() - t0


def judge(cfg, rc, timed_out, log, expect, timeout):
    """The verdict on one boot: (problems, kernel summary or None)."""
    problems = []
    summary = None
    if cfg.get("screen") == "panic":  # the harness ended QEMU after the screendump
        problems += [f"expected /{e.pattern}/ in the serial log" for e in expect if not e.search(log)]
        if timed_out:
            problems.append(f"timed out after {timeout}s")
        m = list(SUMMARY_RE.finditer(log))
        summary = (int(m[-1].group(1)), int(m[-1].group(2))) if m else None
        if summary is None or summary[1] != 0 or summary[0] == 0:
            problems.append(f"kernel summary before the panic: {summary or 'none'}")
        problems += check_screen(cfg)
    elif cfg.get("loader_error"):
        for e in expect:
            if not e.search(log):
                problems.append(f"expected loader message /{e.pattern}/ not seen")
        if timed_out:
            problems.append(f"timed out after {timeout}s without the expected loader message")
    else:
        m = list(SUMMARY_RE.finditer(log))
        summary = (int(m[-1].group(1)), int(m[-1].group(2))) if m else None
        if timed_out:
            problems.append(f"hung: no power-off within {timeout}s")
        for e in expect:
            if not e.search(log):
                problems.append(f"expected /{e.pattern}/ in the serial log")
        if cfg.get("negative"):
            if rc != FAIL_EXIT and not timed_out:
                problems.append(f"a failing self-test went unnoticed: exit {rc}, want 35")
            if summary and summary[1] == 0:
                problems.append("summary says 0 failed although a test must fail")
        else:
            if not timed_out and rc != PASS_EXIT:
                what = {FAIL_EXIT: "kernel reported failure", 0: "triple fault or reset"}.get(
                    rc, "unexpected exit")
                problems.append(f"QEMU exit {rc} ({what})")
            if summary is None:
                problems.append("no 'N passed, N failed' summary line")
            elif summary[1] != 0 or summary[0] == 0:
                problems.append(f"kernel summary: {summary[0]} passed, {summary[1]} failed")
            # Every CPU QEMU was given must have started ("smp: N of M CPUs started").
            started = SMP_RE.search(log)
            if not started:
                problems.append("no 'smp: N of M CPUs started' line")
            elif int(started.group(1)) != int(cfg["cpus"]):
                problems.append(f"{started.group(1)} of {started.group(2)} CPUs started; QEMU was given -smp {cfg['cpus']}")
            if cfg.get("gctrace"):
                problems += check_gctrace(cfg, log)
            if cfg.get("pprof"):
                import pprof_check  # tests/qemu/pprof_check.py (needs go tool pprof)
                problems += pprof_check.check_boot(cfg, log)
            if cfg.get("screen"):
                problems += check_screen(cfg)
            failed_tests = re.findall(r"^not ok \d+ - (\S+)", log, re.M)
            if failed_tests:
                problems.append("failed self-tests: " + ", ".join(failed_tests))
                problems += failed_test_details(log)
    return problems, summary


def failed_test_details(log, most=8):
    """What each failed self-test said: the '# ' lines after its 'not ok'
    line (at most `most` per test), and the last `most` '# ' lines it
    printed while it ran (since the result line before it: a report such
    as gccheckmark's comes out before the test fails on it), so that a
    failure far from the log's tail is still diagnosable from the
    harness's report alone."""
    out, lines, start = [], log.splitlines(), 0
    for i, line in enumerate(lines):
        if line.startswith("ok ") or line.startswith("not ok "):
            before = [l[2:] for l in lines[start:i] if l.startswith("# ")]
            start = i + 1
        if not line.startswith("not ok "):
            continue
        said = []
        for nxt in lines[i + 1:i + 1 + most]:
            if not nxt.startswith("# "):
                break
            said.append(nxt[2:])
            start += 1
        out.append(f"{line}: " + (" / ".join(said) if said else "(no message)"))
        if before:
            out.append("  it printed first: " + " / ".join(before[-most:]))
    return out


def check_screen(cfg):
    """tests/qemu/test_screen.py on the boot's screendump; the facts it
    measured are kept in cfg["screen_facts"] for the report."""
    import test_screen
    ppm, log = screen_path(cfg), os.path.join(BUILD, "test", f"{cfg['name']}.log")
    if not os.path.exists(ppm):
        return [f"no screendump ({os.path.relpath(ppm, ROOT)})"]
    problems, facts = test_screen.check_files(ppm, log, cfg["screen"])
    cfg["screen_facts"] = facts
    return problems


def run_config(cfg, inject_failure, timeout, accel="tcg"):
    name = cfg["name"]
    cmdline = cfg.get("cmdline", DEFAULT_CMDLINE)
    timeout = int(timeout * cfg.get("slow", 1))  # more vCPUs than host cores: slower
    if inject_failure and not cfg.get("negative") and not cfg.get("loader_error"):
        cmdline += " failtest"
    log_path = os.path.join(BUILD, "test", f"{name}.log")
    expect = [re.compile(e) for e in cfg.get("expect", [])]
    problems, notes = [], []
    if cfg.get("layout"):  # a whole-disk image: its GPT and ESP before it boots
        problems += check_disk_layout(os.path.join(BUILD, DISK_IMAGES[cfg["boot"]]), esp_files())
    rc, timed_out, qemu_out, elapsed = boot_once(cfg, cmdline, accel, timeout, log_path, expect)
    why = kvm_start_failure(accel, rc, elapsed, qemu_out)
    if why:
        notes.append(f"{why}; booted again under TCG")
        accel = "tcg"
        rc, timed_out, qemu_out, elapsed = boot_once(cfg, cmdline, accel, timeout, log_path, expect)
    log = open(log_path, errors="replace").read() if os.path.exists(log_path) else ""
    log = log.replace("\r", "")
    found, summary = judge(cfg, rc, timed_out, log, expect, timeout)
    problems += found
    if qemu_out.strip() and problems:
        problems.append("qemu said: " + qemu_out.strip()[-500:])
    if cfg.get("screen_facts"):
        import test_screen
        notes.append(test_screen.describe(cfg["screen_facts"]) +
                     (f"; the check caught: {cfg['screen_facts']['caught']}"
                      if "caught" in cfg["screen_facts"] else ""))
    return dict(name=name, ok=not problems, problems=problems, notes=notes, accel=accel,
                seconds=round(elapsed, 1), exit=rc, summary=summary, log=log_path, tail=tail(log) if problems else "")


def unknown_configs(matrix):
    """Says which names in MATRIX are no configuration; True if any."""
    names = [c["name"] for c in CONFIGS]
    bad = [w for w in ([] if matrix == "all" else matrix.split(",")) if w not in names]
    for w in bad:
        print(f"run.py: unknown configuration '{w}' (known: {', '.join(names)})", file=sys.stderr)
    return bool(bad)


def run_matrix(a):
    names = [c["name"] for c in CONFIGS]
    wanted = names if a.matrix == "all" else a.matrix.split(",")
    configs = [c for c in CONFIGS if c["name"] in wanted]
    if any(c.get("loader_error") for c in configs):
        make_negative_images()
    results = [None] * len(configs)
    lock = threading.Lock()
    nxt = [0]

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(configs):
                return
            results[i] = run_config(configs[i], a.inject_failure, a.timeout, a.accel_chosen)
            r = results[i]
            with lock:
                s = f", kernel: {r['summary'][0]} passed, {r['summary'][1]} failed" if r["summary"] else ""
                print(f"{'ok' if r['ok'] else 'not ok'} - qemu {r['name']} ({r['seconds']}s, exit {r['exit']}{s})",
                      flush=True)
                for pr in r["problems"]:
                    print(f"#   {pr}")
                for note in r["notes"]:
                    print(f"#   note: {note}")
                if not r["ok"]:
                    print(f"#   last 40 lines of {os.path.relpath(r['log'], ROOT)}:")
                    for line in r["tail"].splitlines():
                        print("#   | " + line)

    threads = [threading.Thread(target=worker) for _ in range(a.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    passed = sum(1 for r in results if r["ok"])
    failed = len(results) - passed
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="store_true")
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--display", metavar="1|gtk|sdl|0",
                    help="with --run: show QEMU's screen in a window (1: gtk, else sdl)")
    ap.add_argument("--cpus", default="4")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--cmdline", default="test=quick stats shell")
    ap.add_argument("--matrix")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--inject-failure", action="store_true")
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("QEMU_TIMEOUT", "240")))
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("QEMU_JOBS", "2")))
    ap.add_argument("--json")
    ap.add_argument("--accel", help="auto, kvm or tcg (default: $ACCEL, else auto)")
    ap.add_argument("--check-selftest", action="store_true",
                    help="test the harness's gctrace and screen checkers on made-up input")
    a = ap.parse_args()
    if a.check_selftest:
        return checker_selftest()
    if a.list:
        for c in CONFIGS:
            print(c["name"])
        return 0
    if a.run or a.matrix:
        if a.matrix and unknown_configs(a.matrix):
            return 2
        try:
            a.accel_chosen = accel_from_args(a)
        except AccelError as e:
            print(f"run.py: error: {e}", file=sys.stderr)
            return 2
    if a.run:
        return run_interactive(a)
    if a.matrix:
        return run_matrix(a)
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
