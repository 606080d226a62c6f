#!/bin/bash
# mkesp.sh OUT.img BOOTX64.EFI kernel.elf cmdline.txt
# Builds the EFI system partition image: a FAT filesystem (mtools, no root,
# no loop devices) holding \EFI\BOOT\BOOTX64.EFI, \kernel.elf, \cmdline.txt.
set -euo pipefail
out=$1 efi=$2 kernel=$3 cmdline=$4
size_kb=$(( ( $(stat -c %s "$efi") + $(stat -c %s "$kernel") ) / 1024 + 2048 ))
[ $size_kb -lt 4096 ] && size_kb=4096
tmp=$out.tmp
rm -f "$tmp"
dd if=/dev/zero of="$tmp" bs=1k count=$size_kb status=none
mformat -i "$tmp" -v GOKERNEL ::
mmd -i "$tmp" ::/EFI ::/EFI/BOOT
mcopy -i "$tmp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$tmp" "$kernel" ::/kernel.elf
mcopy -i "$tmp" "$cmdline" ::/cmdline.txt
mv "$tmp" "$out"
echo "  ESP     $out ($size_kb KiB)"
