#!/bin/sh
# Builds the test kernels with the Swift toolchain's clang, ld.lld and lld-link.
#
#   testkernels/build.sh OUT_DIR KIND MESSAGE EXIT_CODE [rdseed]
#
# KIND is multiboot (32-bit ELF), pvh (64-bit ELF with a PVH note), efi (PE/COFF EFI application) or
# bootsector (a raw disk whose MBR does the same). Writes OUT_DIR/KIND.elf, OUT_DIR/efi.efi or
# OUT_DIR/disk.img. With "rdseed", the multiboot and pvh kernels also hold an RDSEED instruction that
# never runs. Exit 77 when the toolchain is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1 kind=$2 message=$3 code=$4
defines=
[ "${5:-}" = rdseed ] && defines=-DWITH_RDSEED
toolchain=${CVM_SWIFT_TOOLCHAIN:-/opt/swift/usr/bin}
clang=$toolchain/clang lld=$toolchain/ld.lld lldlink=$toolchain/lld-link
for tool in "$clang" "$lld" "$lldlink"; do
    [ -x "$tool" ] || { echo "build.sh: $tool not found (set CVM_SWIFT_TOOLCHAIN)" >&2; exit 77; }
done
mkdir -p "$out"
case "$message" in *\"*|*\\*) echo "build.sh: MESSAGE must not contain quotes or backslashes" >&2; exit 2 ;; esac
case "$kind" in
multiboot)
    "$clang" --target=i386-unknown-none-elf -ffreestanding -c $defines -DEXIT_CODE="$code" "-DMESSAGE=\"$message\"" \
        "$here/multiboot.S" -o "$out/multiboot.o"
    "$lld" -m elf_i386 -T "$here/kernel.ld" -nostdlib -static --build-id=none -z max-page-size=0x1000 \
        -o "$out/multiboot.elf" "$out/multiboot.o" ;;
pvh)
    "$clang" --target=x86_64-unknown-none-elf -ffreestanding -c $defines -DEXIT_CODE="$code" "-DMESSAGE=\"$message\"" \
        "$here/pvh.S" -o "$out/pvh.o"
    "$lld" -m elf_x86_64 -T "$here/kernel.ld" -nostdlib -static --build-id=none -z max-page-size=0x1000 \
        -o "$out/pvh.elf" "$out/pvh.o" ;;
efi)
    "$clang" --target=x86_64-unknown-windows-msvc -ffreestanding -fno-stack-protector -mno-red-zone -O2 -c \
        -DEXIT_CODE="$code" "-DMESSAGE=\"$message\"" "$here/efi.c" -o "$out/efi.obj"
    "$lldlink" -subsystem:efi_application -entry:efi_main -nodefaultlib -Brepro -debug:none \
        -out:"$out/efi.efi" "$out/efi.obj" >/dev/null ;;
bootsector)
    "$clang" --target=i386-unknown-none-elf -ffreestanding -c -DEXIT_CODE="$code" "-DMESSAGE=\"$message\"" \
        "$here/bootsector.S" -o "$out/bootsector.o"
    "$lld" -m elf_i386 -Ttext=0x7c00 --image-base=0 --oformat binary -nostdlib -static -o "$out/bootsector.bin" "$out/bootsector.o"
    # A 1 MiB raw disk: the boot sector, then zeros.
    dd if=/dev/zero of="$out/disk.img" bs=1024 count=1024 2>/dev/null
    dd if="$out/bootsector.bin" of="$out/disk.img" conv=notrunc 2>/dev/null ;;
*) echo "build.sh: unknown kind $kind" >&2; exit 2 ;;
esac
