#!/bin/sh
# Image size and whole-process boot-to-exit time of a no-op workload: the unikernel through PVH and
# through OVMF beside a Linux guest running the same workload code (cvm-workloads as /init), same
# QEMU, same run. Prints a Markdown table; raw per-run times go to OUT/raw.txt.
#
#   bench/unikernel/run.sh [--runs N] [--ovmf-runs N] [--out DIR] [--linux-kernel VMLINUZ] [--no-kvm]
#
# Without --linux-kernel the Debian kernel is fetched once with `apt-get download` into OUT/linux.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=10
ovmf_runs=3
out=$root/.build-uk/bench
linux_kernel=""
kvm=1
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --ovmf-runs) ovmf_runs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --linux-kernel) linux_kernel=$2; shift 2 ;;
        --no-kvm) kvm=0; shift ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
bundle=$out/bundle
"$root/Unikernel/build.sh" --linux-workloads "$bundle" >/dev/null

qemu=qemu-system-x86_64
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd
common="-M q35 -m 256 -smp 1 -nodefaults -nographic -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04"

# The Linux guest: a stock Debian kernel and an initramfs whose /init is cvm-workloads.
if [ -z "$linux_kernel" ]; then
    linux_kernel=$(ls "$out"/linux/boot/vmlinuz-* 2>/dev/null | head -1 || true)
    if [ -z "$linux_kernel" ]; then
        mkdir -p "$out/linux"
        package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
        (cd "$out/linux" && apt-get download "$package" >/dev/null && dpkg-deb -x ./*.deb .)
        linux_kernel=$(ls "$out"/linux/boot/vmlinuz-* | head -1)
    fi
fi
python3 - "$bundle/cvm-workloads" "$out/initrd" <<'PY'
# newc cpio (the kernel's initramfs format): /dev/console for init's stdio and /init; fixed
# metadata so the archive is reproducible.
import sys
def entry(name, mode, data=b"", rdev=(0, 0), ino=1):
    name_bytes = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_bytes), 0]
    header = b"070701" + b"".join(b"%08x" % f for f in fields)
    pad = lambda n: b"\0" * ((4 - n % 4) % 4)
    return header + name_bytes + pad(len(header) + len(name_bytes)) + data + pad(len(data))
init = open(sys.argv[1], "rb").read()
archive = (entry("dev", 0o040755, ino=1) + entry("dev/console", 0o020600, rdev=(5, 1), ino=2)
           + entry("init", 0o100755, init, ino=3) + entry("TRAILER!!!", 0, ino=0))
open(sys.argv[2], "wb").write(archive)
PY

. "$here/timing.sh"
# time_run NAME ARGS...: one QEMU process, start to exit, seconds appended to raw.txt.
time_run() {
    name=$1; shift
    timed_qemu "$name" "$@"
    echo "$name $seconds status=$status" >> "$out/raw.txt"
}
median() { median_of "$out/raw.txt" "$1" 2 %.3f; }

: > "$out/raw.txt"
i=0
while [ $i -lt "$runs" ]; do
    time_run uk-pvh-tcg -accel tcg $common -kernel "$bundle/kernel" -append "run=noop"
    time_run linux-tcg -accel tcg $common -kernel "$linux_kernel" -initrd "$out/initrd" -append "console=ttyS0 quiet panic=-1 -- run=noop"
    i=$((i + 1))
done
i=0
while [ $i -lt "$ovmf_runs" ]; do
    time_run uk-ovmf-tcg -accel tcg $common -drive if=pflash,format=raw,unit=0,readonly=on,file=$ovmf_code \
        -drive if=pflash,format=raw,unit=1,snapshot=on,file=$ovmf_vars -kernel "$bundle/kernel.efi" -append "run=noop"
    i=$((i + 1))
done
kvm_note="not run"
if [ "$kvm" = 1 ] && [ -w /dev/kvm ]; then
    time_run uk-pvh-kvm -accel kvm -cpu host,-arch-capabilities $common -kernel "$bundle/kernel" -append "run=noop"
    if grep -q "cvmuk exit status=0" "$out/uk-pvh-kvm.log"; then kvm_note=$(median uk-pvh-kvm); else kvm_note="failed (see uk-pvh-kvm.log)"; fi
fi

size() { wc -c < "$1" | tr -d ' '; }
pvh=$(median uk-pvh-tcg); linux=$(median linux-tcg); ovmf=$(median uk-ovmf-tcg)
ok_pvh=$(grep -c "status=1$" "$out/raw.txt" | tr -d ' ')
echo "| guest | image bytes | boot-to-exit, median (s) |"
echo "|---|---|---|"
echo "| unikernel, PVH, TCG ($runs runs) | $(size "$bundle/kernel") | $pvh |"
echo "| unikernel, OVMF -kernel, TCG ($ovmf_runs runs) | $(size "$bundle/kernel.efi") | $ovmf |"
echo "| Linux $(basename "$linux_kernel" | sed 's/vmlinuz-//') + cvm-workloads initramfs, TCG ($runs runs) | $(size "$linux_kernel") + $(size "$out/initrd") | $linux |"
echo "| unikernel, PVH, KVM (-cpu host,-arch-capabilities, 1 run) | $(size "$bundle/kernel") | $kvm_note |"
echo
echo "PVH speed-up over Linux: $(echo "scale=1; $linux / $pvh" | bc)x; unikernel runs that exited with guest status 0: $ok_pvh"
echo "QEMU: $($qemu --version | head -1); host: $(nproc) CPUs, $(uname -r); raw times: $out/raw.txt"
