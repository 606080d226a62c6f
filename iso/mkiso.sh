#!/bin/bash
# mkiso.sh OUT.iso esp.img
# A hybrid ISO: the same file boots from a CD (El Torito) and from a disk
# or USB stick it was written to (GPT).
#
# The FAT ESP image (iso/mkesp.sh) is stored once, appended after the
# ISO 9660 filesystem as GPT partition 2 of type "EFI System"
# (-append_partition, -appended_part_as_gpt).  The El Torito EFI entry
# (-e --interval:appended_partition_2:all::) points at those same blocks, so
# a CD boot and a disk boot load one copy of \EFI\BOOT\BOOTX64.EFI.
# -partition_offset 16 starts partition 1 (the ISO 9660 tree) at 32 KiB, as
# a partition of its own, so that a disk reader can mount it.  On a disk,
# firmware reads the protective MBR + GPT and boots the ESP by the removable
# media path; tests/qemu/run.py checks that layout and boots it both ways.
set -euo pipefail
out=$1 esp=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
xorriso -as mkisofs -quiet -R -J -V GOKERNEL -o "$out.tmp" \
    -partition_offset 16 \
    -append_partition 2 C12A7328-F81F-11D2-BA4B-00A0C93EC93B "$esp" \
    -appended_part_as_gpt \
    -e --interval:appended_partition_2:all:: -no-emul-boot "$dir"
mv "$out.tmp" "$out"
echo "  ISO     $out (hybrid: El Torito EFI + GPT with the EFI system partition)"
