#!/bin/sh
# Builds the CVMKit unikernel bundle with the Swift toolchain alone (swiftc, clang, ld.lld, lld-link).
#
#   Unikernel/build.sh [--cmdline "run=noop"] [--linux-workloads] [OUT_DIR]
#
# OUT_DIR (default .build-uk/bundle) receives:
#   kernel         PVH ELF kernel for `qemu-system-x86_64 -kernel` without firmware
#   kernel.efi     the same kernel inside an EFI application, for OVMF's `-kernel`
#   firmware.fd    the same kernel as its own firmware, for `-bios` (command line through fw_cfg)
#   cmdline        default kernel command line (no trailing newline)
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

# The firmware image runs its code from the ROM below 4 GiB and its data at 1 MiB, farther apart than
# the default code model reaches: the same module as IR, compiled by clang with -mcmodel=large
# (swiftc has no code-model option).
"$toolchain/swiftc" -target x86_64-unknown-none-elf $swift_common -module-name Kernel \
    -Xcc -I"$here/include" -Xcc -ffreestanding -Xcc -mno-red-zone \
    -emit-ir $core_sources $kernel_sources -o kernel-swift.ll
"$toolchain/clang" --target=x86_64-unknown-none-elf -mcmodel=large -mno-red-zone -Os -ffunction-sections \
    -Wno-override-module -c kernel-swift.ll -o kernel-swift-large.o

clang_kernel="--target=x86_64-unknown-none-elf -ffreestanding -fno-pic -mno-red-zone -I$here/Boot"
for part in boot isr runtime reset; do
    "$toolchain/clang" $clang_kernel -c "$here/Boot/$part.S" -o "$part.o"
done
"$toolchain/ld.lld" -T "$here/Boot/kernel.ld" --gc-sections --build-id=none -nostdlib -static \
    -z noexecstack -o kernel.full.elf boot.o isr.o runtime.o kernel-swift.o
"$toolchain/llvm-objcopy" --strip-all kernel.full.elf kernel.elf
"$toolchain/llvm-objcopy" -O binary --only-section=.head --only-section=.note.Xen --only-section=.text \
    --only-section=.rodata --only-section=.data kernel.full.elf kernel.bin

# The firmware image: the smallest multiple of 64 KiB (QEMU's -bios rule) the linker fits it into.
rom_size=""
for kib in 64 128 192 256 320 384 448 512; do
    if "$toolchain/ld.lld" -T "$here/Boot/firmware.ld" --defsym=UK_ROM_SIZE=$((kib * 1024)) --gc-sections \
        --build-id=none -nostdlib -static -z noexecstack -o firmware.elf boot.o isr.o runtime.o reset.o kernel-swift-large.o 2>ld.err; then
        rom_size=$((kib * 1024))
        break
    fi
    grep -q "UK_ROM_SIZE too small" ld.err || { cat ld.err >&2; exit 1; }
done
[ -n "$rom_size" ] || { echo "build.sh: the firmware image does not fit 512 KiB" >&2; exit 1; }
"$toolchain/llvm-objcopy" -O binary firmware.elf firmware.fd
[ "$(wc -c < firmware.fd | tr -d ' ')" = "$rom_size" ] || { echo "build.sh: firmware.fd is not $rom_size bytes" >&2; exit 1; }

# The EFI application: a PE/COFF stub with the flat kernel image inside.
printf '\t.section .rdata,"dr"\n\t.p2align 12\n\t.globl uk_kernel_blob, uk_kernel_blob_end\nuk_kernel_blob:\n\t.incbin "kernel.bin"\nuk_kernel_blob_end:\n' > blob.S
clang_efi="--target=x86_64-unknown-windows-msvc -ffreestanding -fno-stack-protector -mno-red-zone -fno-builtin -O2 -std=c11"
"$toolchain/clang" $clang_efi -c "$here/EFI/stub.c" -o stub.obj
"$toolchain/clang" --target=x86_64-unknown-windows-msvc -c blob.S -o blob.obj
"$toolchain/lld-link" -subsystem:efi_application -entry:efi_main -nodefaultlib -Brepro -debug:none \
    -out:kernel.efi stub.obj blob.obj >/dev/null

cp kernel.elf "$out/kernel"
cp kernel.efi "$out/kernel.efi"
cp firmware.fd "$out/firmware.fd"
printf '%s' "$cmdline" > "$out/cmdline"

parts="cmdline firmware.fd kernel kernel.efi"
if [ "$linux" = 1 ]; then
    linux_sources=$(ls "$here"/workloads-linux/*.swift | sort)
    "$toolchain/swiftc" -target x86_64-unknown-linux-gnu $swift_common -module-name Workloads \
        -Xcc -I"$here/workloads-linux" -Xcc -I"$here/include" -Xcc -ffreestanding \
        -c $core_sources $linux_sources -o workloads-swift.o
    "$toolchain/clang" --target=x86_64-unknown-linux-gnu -ffreestanding -c "$here/workloads-linux/start.S" -o start.o
    "$toolchain/clang" --target=x86_64-unknown-linux-gnu -ffreestanding -c "$here/Boot/runtime.S" -o runtime-linux.o
    "$toolchain/ld.lld" --gc-sections --build-id=none -nostdlib -static -z noexecstack -e _start \
        -o cvm-workloads start.o runtime-linux.o workloads-swift.o
    "$toolchain/llvm-objcopy" --strip-all cvm-workloads
    cp cvm-workloads "$out/"
    parts="$parts cvm-workloads"
fi

# manifest.json in the shape of the other bundles (GuestImage's BundleManifest): sorted keys, no
# timestamps, no host paths.
json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
sources_digest=$(cd "$root" && for f in $(ls Sources/UnikernelCore/*.swift Unikernel/Kernel/*.swift Unikernel/Boot/* \
    Unikernel/EFI/* Unikernel/include/* Unikernel/workloads-linux/* Unikernel/build.sh 2>/dev/null | sort); do
    sha256sum "$f"; done | sha256sum | cut -d' ' -f1)
swift_version=$("$toolchain/swiftc" --version 2>/dev/null | head -1)
{
    printf '{\n'
    printf '  "annotations" : {\n'
    printf '    "bootEFI" : "kernel.efi: EFI application for OVMF -kernel",\n'
    printf '    "bootFirmware" : "firmware.fd: the kernel as its own firmware for -bios, command line in fw_cfg file opt/org.cvmkit/cmdline",\n'
    printf '    "bootPVH" : "kernel: PVH ELF for qemu -kernel without firmware",\n'
    printf '    "exitStatus" : "guest status s via isa-debug-exit, QEMU exits 2s+1: 0 success, 1 verification failed, 2 bad command line, 3 CPU exception, 4 out of memory, 5 panic, 6 bad memory map, 7 bad fw_cfg, 8 bad footer table",\n'
    printf '    "results" : "serial lines starting with cvmuk"\n'
    printf '  },\n'
    printf '  "boot" : {\n'
    printf '    "appConsole" : "console",\n'
    printf '    "console" : "ttyS0",\n'
    printf '    "exitDevice" : "isa-debug-exit",\n'
    printf '    "exitPort" : 244,\n'
    printf '    "minimumMemoryMiB" : 64,\n'
    printf '    "protocol" : "pvh"\n'
    printf '  },\n'
    printf '  "build" : {\n'
    printf '    "command" : "cvm image build unikernel",\n'
    printf '    "inputs" : [\n'
    printf '      {\n'
    printf '        "name" : "unikernel-sources",\n'
    printf '        "origin" : "Sources/UnikernelCore, Unikernel",\n'
    printf '        "sha256" : "%s"\n' "$sources_digest"
    printf '      }\n'
    printf '    ],\n'
    printf '    "steps" : [\n'
    printf '      "swiftc -target x86_64-unknown-none-elf -enable-experimental-feature Embedded -Osize",\n'
    printf '      "clang boot.S isr.S runtime.S reset.S; ld.lld -T kernel.ld; ld.lld -T firmware.ld",\n'
    printf '      "clang --target=x86_64-unknown-windows-msvc stub.c; lld-link -subsystem:efi_application -Brepro"\n'
    printf '    ],\n'
    printf '    "tool" : "Unikernel/build.sh"\n'
    printf '  },\n'
    printf '  "cmdline" : "%s",\n' "$(json_escape "$cmdline")"
    printf '  "format" : "cvmkit-guest-bundle",\n'
    printf '  "formatVersion" : 1,\n'
    printf '  "kind" : "unikernel",\n'
    printf '  "modules" : [\n\n  ],\n'
    printf '  "modulesUnavailable" : [\n\n  ],\n'
    printf '  "parts" : {\n'
    sep=""
    for part in $parts; do
        size=$(wc -c < "$out/$part" | tr -d ' ')
        sha256=$(sha256sum "$out/$part" | cut -d' ' -f1)
        sha384=$(sha384sum "$out/$part" | cut -d' ' -f1)
        printf '%s    "%s" : {\n      "file" : "%s",\n      "sha256" : "%s",\n      "sha384" : "%s",\n      "size" : %s\n    }' \
            "$sep" "$part" "$part" "$sha256" "$sha384" "$size"
        sep=",
"
    done
    printf '\n  },\n'
    printf '  "versions" : {\n    "swiftc" : "%s"\n  }\n' "$(json_escape "$swift_version")"
    printf '}\n'
} > "$out/manifest.json"
echo "$out"
