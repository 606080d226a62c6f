#!/bin/bash
# mkusb.sh OUT.img esp.img
# A whole-disk image for a USB stick: a GPT whose one partition is an EFI
# system partition holding esp.img (iso/mkesp.sh's FAT image with
# \EFI\BOOT\BOOTX64.EFI, \kernel.elf, \cmdline.txt).  A PC's UEFI firmware
# boots removable media by that path, so no boot entry is needed.
#
# Layout (512-byte sectors): the protective MBR and primary GPT in the first
# MiB, the ESP from 1 MiB (sector 2048: the usual alignment for flash), the
# backup GPT in the last MiB.  sfdisk (util-linux, package fdisk) writes the
# tables into the file; the FAT image goes to the partition's offset with
# dd conv=notrunc.  No root, no loop device.
#
# OUT must lie under the project's build/ directory, after resolving
# symlinks and "..": this script never writes a device or a file elsewhere.
# Writing the image to a stick is a separate, deliberate dd (README.md).
set -euo pipefail
prog=mkusb.sh
[ $# -eq 2 ] || { echo "usage: $prog OUT.img esp.img" >&2; exit 2; }
out=$1 esp=$2
root=$(cd "$(dirname "$0")/.." && pwd -P)
build=$root/build

# -m: the path need not exist; symlinks in it are resolved
real=$(realpath -m -- "$out")
shown="'$out'"
[ "$real" = "$(realpath -ms -- "$out")" ] || shown="'$out' (a link to $real)"
case $real in
    "$build"/?*) ;;
    *) echo "$prog: error: refusing to write $shown: not under the project's build/" \
            "directory (to write a stick, run dd yourself: see README.md)" >&2
       exit 2 ;;
esac
if [ -e "$real" ] && [ ! -f "$real" ]; then
    echo "$prog: error: refusing to write $shown: it exists and is not a regular file" >&2
    exit 2
fi
[ -f "$esp" ] || { echo "$prog: error: $esp: no such file (run make first)" >&2; exit 2; }

mib=$((1024 * 1024))
esp_bytes=$(stat -c %s "$esp")
esp_sectors=$(( (esp_bytes + mib - 1) / mib * mib / 512 ))   # whole MiB
total_sectors=$(( 2048 + esp_sectors + 2048 ))

mkdir -p "$(dirname "$real")"
tmp=$real.tmp
rm -f "$tmp"
truncate -s $((total_sectors * 512)) "$tmp"
sfdisk --quiet --no-reread --no-tell-kernel "$tmp" >/dev/null <<EOF
label: gpt
first-lba: 2048
start=2048, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"
EOF
dd if="$esp" of="$tmp" bs=512 seek=2048 conv=notrunc status=none
mv "$tmp" "$real"
echo "  USB     $out ($((total_sectors / 2048)) MiB: GPT, EFI system partition at 1 MiB)"
