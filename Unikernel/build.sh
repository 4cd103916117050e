#!/bin/sh
# Builds the CVMKit unikernel bundle with the Swift toolchain alone (swiftc, clang, ld.lld, lld-link).
#
#   Unikernel/build.sh [--cmdline "run=noop"] [--linux-workloads] [OUT_DIR]
#
# OUT_DIR (default .build-uk/bundle) receives:
#   kernel.elf     PVH kernel for `qemu-system-x86_64 -kernel` without firmware
#   kernel.efi     the same kernel inside an EFI application, for OVMF's `-kernel`
#   cmdline        default kernel command line
#   manifest.json  size, SHA-256 and SHA-384 of each part
# With --linux-workloads also `cvm-workloads`, the same workloads as a static Linux x86_64 binary.
# Same sources and toolchain give the same bytes: no timestamps, no build paths in the outputs.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
toolchain=${CVM_SWIFT_TOOLCHAIN:-/opt/swift/usr/bin}
cmdline="run=noop"
linux=0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --cmdline) cmdline=$2; shift 2 ;;
        --linux-workloads) linux=1; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
out=${out:-$root/.build-uk/bundle}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cvmuk.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

export LC_ALL=C
core_sources=$(ls "$root"/Sources/UnikernelCore/*.swift | sort)
kernel_sources=$(ls "$here"/Kernel/*.swift | sort)

# Embedded Swift, one module, whole-module optimised for size. -file-compilation-dir and the
# prefix map keep the build directory out of the object file.
swift_common="-enable-experimental-feature Embedded -wmo -parse-as-library -Osize -swift-version 6
    -Xfrontend -function-sections -file-compilation-dir . -file-prefix-map $root=."
cd "$work"
"$toolchain/swiftc" -target x86_64-unknown-none-elf $swift_common -module-name Kernel \
    -Xcc -I"$here/include" -Xcc -ffreestanding -Xcc -mno-red-zone \
    -c $core_sources $kernel_sources -o kernel-swift.o

clang_kernel="--target=x86_64-unknown-none-elf -ffreestanding -fno-pic -mno-red-zone -I$here/Boot"
for part in boot isr runtime; do
    "$toolchain/clang" $clang_kernel -c "$here/Boot/$part.S" -o "$part.o"
done
"$toolchain/ld.lld" -T "$here/Boot/kernel.ld" --gc-sections --build-id=none -nostdlib -static \
    -z noexecstack -o kernel.full.elf boot.o isr.o runtime.o kernel-swift.o
"$toolchain/llvm-objcopy" --strip-all kernel.full.elf kernel.elf
"$toolchain/llvm-objcopy" -O binary --only-section=.head --only-section=.note.Xen --only-section=.text \
    --only-section=.rodata --only-section=.data kernel.full.elf kernel.bin

# The EFI application: a PE/COFF stub with the flat kernel image inside.
printf '\t.section .rdata,"dr"\n\t.p2align 12\n\t.globl uk_kernel_blob, uk_kernel_blob_end\nuk_kernel_blob:\n\t.incbin "kernel.bin"\nuk_kernel_blob_end:\n' > blob.S
clang_efi="--target=x86_64-unknown-windows-msvc -ffreestanding -fno-stack-protector -mno-red-zone -fno-builtin -O2 -std=c11"
"$toolchain/clang" $clang_efi -c "$here/EFI/stub.c" -o stub.obj
"$toolchain/clang" --target=x86_64-unknown-windows-msvc -c blob.S -o blob.obj
"$toolchain/lld-link" -subsystem:efi_application -entry:efi_main -nodefaultlib -Brepro -debug:none \
    -out:kernel.efi stub.obj blob.obj >/dev/null

cp kernel.elf kernel.efi "$out/"
printf '%s\n' "$cmdline" > "$out/cmdline"

parts="kernel.elf kernel.efi cmdline"
if [ "$linux" = 1 ]; then
    linux_sources=$(ls "$here"/workloads-linux/*.swift | sort)
    "$toolchain/swiftc" -target x86_64-unknown-linux-gnu $swift_common -module-name Workloads \
        -Xcc -I"$here/workloads-linux" -Xcc -ffreestanding \
        -c $core_sources $linux_sources -o workloads-swift.o
    "$toolchain/clang" --target=x86_64-unknown-linux-gnu -ffreestanding -c "$here/workloads-linux/start.S" -o start.o
    "$toolchain/ld.lld" --gc-sections --build-id=none -nostdlib -static -z noexecstack -e _start \
        -o cvm-workloads start.o runtime.o workloads-swift.o
    "$toolchain/llvm-objcopy" --strip-all cvm-workloads
    cp cvm-workloads "$out/"
    parts="$parts cvm-workloads"
fi

{
    printf '{\n  "format": "cvmkit-bundle-1",\n  "kind": "unikernel",\n'
    printf '  "boot": {"pvh": "kernel.elf", "efi": "kernel.efi", "cmdline": "cmdline"},\n'
    printf '  "parts": [\n'
    sep=""
    for part in $parts; do
        size=$(wc -c < "$out/$part" | tr -d ' ')
        sha256=$(sha256sum "$out/$part" | cut -d' ' -f1)
        sha384=$(sha384sum "$out/$part" | cut -d' ' -f1)
        printf '%s    {"name": "%s", "bytes": %s, "sha256": "%s", "sha384": "%s"}' "$sep" "$part" "$size" "$sha256" "$sha384"
        sep=",
"
    done
    printf '\n  ]\n}\n'
} > "$out/manifest.json"
echo "$out"
