#!/usr/bin/env python3
"""The disk images for a USB stick, checked on the host (no QEMU).

iso/mkusb.sh (make usb) must refuse every output outside build/: another
directory, a path that climbs out with "..", a link under build/ to a file
elsewhere (whose content must stay as it was), a device, a directory; and
say what was wrong.  From a small made-up ESP (mtools) it must build a GPT
image whose EFI system partition starts at 1 MiB and holds the ESP's files.

run.py's check_disk_layout (what the usb-img and iso-disk boots check first)
must accept that image and the hybrid ISO from iso/mkiso.sh, and reject:
the bare FAT image, a GPT whose only partition is not an EFI system
partition, an ESP without kernel.elf, an ESP with a different kernel.elf, and
an ISO with an El Torito entry only (the ISO iso/mkiso.sh made before it was
hybrid) -- the negative controls: a real PC needs the GPT, QEMU's OVMF does
not, so only this check tells the two apart.

Prints "ok N - ..." lines and "N passed, N failed"; exit 1 on any failure.
Needs sfdisk (fdisk), mtools and xorriso: scripts/install-deps.sh.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "build")
MKUSB = os.path.join(ROOT, "iso", "mkusb.sh")
MKISO = os.path.join(ROOT, "iso", "mkiso.sh")
spec = importlib.util.spec_from_file_location("qemu_run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)


def sh(*argv):
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def make_esp(tmp, name, files):
    """A 2 MiB FAT image holding FILES (ESP path -> bytes); returns its path
    and the host copies of the files (ESP path -> host path)."""
    img = os.path.join(tmp, name + ".fat")
    subprocess.check_call(["dd", "if=/dev/zero", f"of={img}", "bs=1k", "count=2048", "status=none"])
    subprocess.check_call(["mformat", "-i", img, "::"])
    subprocess.check_call(["mmd", "-i", img, "::/EFI", "::/EFI/BOOT"])
    hosts = {}
    for esp_path, data in files.items():
        host = os.path.join(tmp, name + "." + esp_path.replace("/", "_"))
        open(host, "wb").write(data)
        subprocess.check_call(["mcopy", "-i", img, host, "::/" + esp_path])
        hosts[esp_path] = host
    return img, hosts


CLEANUP = []  # directories outside build/ that the cases made
FILES = {"EFI/BOOT/BOOTX64.EFI": b"MZ a made-up loader\n" * 100,
         "kernel.elf": b"\x7fELF a made-up kernel\n" * 3000,
         "cmdline.txt": b"test=quick stats halt\n"}


def refusal_cases(tmp, esp):
    """(name, output path, text the message must contain, check that nothing was written)."""
    outside = os.path.join(tempfile.gettempdir(), f"gokernel-test-{os.getpid()}.img")
    escape = os.path.join(BUILD, "..", f"gokernel-test-{os.getpid()}.img")
    victim = os.path.join(tempfile.mkdtemp(), "victim")
    CLEANUP.append(os.path.dirname(victim))
    open(victim, "w").write("keep me\n")
    link = os.path.join(tmp, "link.img")
    os.symlink(victim, link)
    directory = os.path.join(tmp, "dir.img")
    os.mkdir(directory)
    return [
        ("a path outside build/", outside, "not under", lambda: not os.path.exists(outside)),
        ("build/../x.img (climbs out of build/)", escape, "not under",
         lambda: not os.path.exists(escape)),
        ("a link under build/ to a file elsewhere", link, f"(a link to {victim}): not under",
         lambda: open(victim).read() == "keep me\n"),
        ("a device (/dev/null)", "/dev/null", "not under", lambda: os.path.exists("/dev/null")),
        ("a directory under build/", directory, "exists and is not a regular file",
         lambda: os.listdir(directory) == []),
    ]


def mkusb_cases(tmp):
    esp, hosts = make_esp(tmp, "good", FILES)
    results = []
    for what, out, text, untouched in refusal_cases(tmp, esp):
        p = sh("bash", MKUSB, out, esp)
        msg = p.stderr.decode(errors="replace").strip()
        ok = p.returncode == 2 and "mkusb.sh: error: refusing to write" in msg and text in msg \
            and untouched()
        results.append((f"mkusb.sh refuses {what}", ok, msg))
    p = sh("bash", MKUSB, os.path.join(tmp, "x.img"))
    results.append(("mkusb.sh with one argument: usage, exit 2",
                    p.returncode == 2 and b"usage: mkusb.sh OUT.img esp.img" in p.stderr, ""))
    p = sh("bash", MKUSB, os.path.join(tmp, "x.img"), os.path.join(tmp, "none.fat"))
    results.append(("mkusb.sh with a missing ESP image: says so, writes nothing",
                    p.returncode == 2 and b"no such file" in p.stderr
                    and not os.path.exists(os.path.join(tmp, "x.img")), p.stderr.decode()))
    img = os.path.join(tmp, "usb.img")
    p = sh("bash", MKUSB, img, esp)
    table = sh("sfdisk", "--json", img).stdout.decode()
    results.append(("mkusb.sh builds a GPT image, the ESP at sector 2048",
                    p.returncode == 0 and '"label": "gpt"' in table and '"start": 2048' in table,
                    p.stderr.decode() + table))
    problems = run.check_disk_layout(img, hosts)
    results.append(("check_disk_layout accepts mkusb.sh's image", problems == [], "; ".join(problems)))
    return results, esp, hosts


def layout_rejections(tmp, esp, hosts):
    """Images check_disk_layout must reject, and the words it must say."""
    linux = os.path.join(tmp, "linux.img")
    shutil.copyfile(os.path.join(tmp, "usb.img"), linux)
    subprocess.check_call(["sfdisk", "--quiet", "--part-type", linux, "1",
                           "0FC63DAF-8483-4772-8E79-3D69D8477DE4"], stdout=subprocess.DEVNULL)
    nokernel, _ = make_esp(tmp, "nokernel", {k: v for k, v in FILES.items() if k != "kernel.elf"})
    other, _ = make_esp(tmp, "other", dict(FILES, **{"kernel.elf": b"\x7fELF another kernel\n"}))
    # (sfdisk reads a FAT boot sector as a dos label; another version may find none)
    cases = [("the bare FAT image (no GPT)", esp, ("want gpt", "no partition table")),
             ("a GPT whose one partition is Linux data", linux, "0 EFI system partitions, want 1")]
    for what, fat, words in [("an ESP without kernel.elf", nokernel, "has no \\kernel.elf"),
                             ("an ESP with another kernel.elf", other, "\\kernel.elf in the EFI "
                                                                       "system partition differs")]:
        img = os.path.join(tmp, os.path.basename(fat) + ".img")
        subprocess.check_call(["bash", MKUSB, img, fat], stdout=subprocess.DEVNULL)
        cases.append((what, img, words))
    # the ISO as iso/mkiso.sh made it before it was hybrid: El Torito only
    tree = tempfile.mkdtemp(dir=tmp)
    shutil.copyfile(esp, os.path.join(tree, "esp.img"))
    eltorito = os.path.join(tmp, "eltorito-only.iso")
    subprocess.check_call(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", eltorito,
                           "-e", "esp.img", "-no-emul-boot", tree], stderr=subprocess.DEVNULL)
    cases.append(("an El Torito-only ISO", eltorito, "no partition table"))
    results = []
    for what, img, words in cases:
        problems = run.check_disk_layout(img, hosts)
        results.append((f"check_disk_layout rejects {what}",
                        any(w in pr for pr in problems for w in
                            (words if isinstance(words, tuple) else (words,))),
                        "; ".join(problems) or "accepted"))
    return results


def hybrid_iso_case(tmp, esp, hosts):
    iso = os.path.join(tmp, "hybrid.iso")
    p = sh("bash", MKISO, iso, esp)
    problems = run.check_disk_layout(iso, hosts) if p.returncode == 0 else [p.stderr.decode()]
    report = sh("xorriso", "-indev", iso, "-report_el_torito", "plain").stdout.decode()
    eltorito = "El Torito boot img :   1  UEFI" in report
    return [("iso/mkiso.sh's ISO has a GPT with the ESP (check_disk_layout accepts it)",
             problems == [], "; ".join(problems)),
            ("iso/mkiso.sh's ISO keeps its El Torito UEFI entry (for a CD)", eltorito, report)]


def main():
    missing = [t for t in ("sfdisk", "mformat", "xorriso") if shutil.which(t) is None]
    if missing:
        print(f"not ok 1 - images: {', '.join(missing)} not installed (run scripts/install-deps.sh)")
        print("0 passed, 1 failed")
        return 1
    os.makedirs(BUILD, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="images-", dir=BUILD)  # mkusb.sh writes only under build/
    try:
        results, esp, hosts = mkusb_cases(tmp)
        results += layout_rejections(tmp, esp, hosts)
        results += hybrid_iso_case(tmp, esp, hosts)
    finally:
        for d in [tmp] + CLEANUP:
            shutil.rmtree(d, ignore_errors=True)
    failed = 0
    for i, (name, ok, detail) in enumerate(results, 1):
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {i} - images: {name}")
        if not ok and detail:
            print("\n".join("#   " + l for l in detail.splitlines()[-10:]))
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
