#!/bin/bash
# mkiso.sh OUT.iso esp.img
# An El Torito CD image whose EFI boot entry is the FAT ESP image
# (-e ... -no-emul-boot); UEFI firmware boots \EFI\BOOT\BOOTX64.EFI from it.
set -euo pipefail
out=$1 esp=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$esp" "$dir/esp.img"
xorriso -as mkisofs -quiet -R -J -V GOKERNEL -o "$out.tmp" \
    -e esp.img -no-emul-boot "$dir"
mv "$out.tmp" "$out"
echo "  ISO     $out"
