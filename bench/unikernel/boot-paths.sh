#!/bin/sh
# The unikernel's three boot paths side by side under TCG, one run: firmware.fd as -bios (the kernel
# is the firmware), PVH -kernel (SeaBIOS's PVH option ROM) and the EFI application through OVMF.
# For each: whole-process boot-to-exit time of run=noop, and the kernel's own stages (`cvmuk stage`
# lines: entry, memory-ready, workload-start, in microseconds from entry). Prints a Markdown table;
# raw lines go to OUT/boot-paths-raw.txt.
#
#   bench/unikernel/boot-paths.sh [--runs N] [--ovmf-runs N] [--out DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=10
ovmf_runs=3
out=$root/.build-uk/bench
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --ovmf-runs) ovmf_runs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "boot-paths.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
bundle=$out/bundle
"$root/Unikernel/build.sh" "$bundle" >/dev/null
raw=$out/boot-paths-raw.txt
: > "$raw"

qemu=qemu-system-x86_64
common="-accel tcg -M q35 -m 256 -smp 1 -nodefaults -nographic -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04"

. "$here/timing.sh"
# run_path NAME ARGS...: one QEMU process; appends "NAME seconds entry_to_memory_us workload_start_us status".
run_path() {
    name=$1; shift
    timed_qemu "$name" "$@"
    memory=$(sed -n 's/.*cvmuk stage name=memory-ready .* us=\([0-9]*\).*/\1/p' "$out/$name.log")
    workload=$(sed -n 's/.*cvmuk stage name=workload-start .* us=\([0-9]*\).*/\1/p' "$out/$name.log")
    echo "$name $seconds ${memory:-na} ${workload:-na} status=$status" >> "$raw"
}
median() { median_of "$raw" "$1" "$2" "$3"; }
list() { grep "^$1 " "$raw" | awk '{printf "%s%.2f", sep, $2; sep=", "}'; }

i=0
while [ $i -lt "$runs" ]; do
    run_path firmware $common -bios "$bundle/firmware.fd" -fw_cfg name=opt/org.cvmkit/cmdline,string=run=noop
    run_path pvh $common -kernel "$bundle/kernel" -append run=noop
    if [ $i -lt "$ovmf_runs" ]; then
        run_path efi $common -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
            -drive if=pflash,format=raw,unit=1,snapshot=on,file=/usr/share/OVMF/OVMF_VARS_4M.fd \
            -kernel "$bundle/kernel.efi" -append run=noop
    fi
    i=$((i + 1))
done
# isa-debug-exit: QEMU exits 2 * status + 1, so 1 is the guest's success.
if grep -v "status=1$" "$raw" >/dev/null; then echo "boot-paths.sh: a run did not end in the guest's success (see $raw)" >&2; exit 1; fi

echo "| boot path | image bytes | boot-to-exit, median (s) | runs (s) | entry → memory ready (µs) | entry → workload start (µs) |"
echo "|---|---|---|---|---|---|"
for path in firmware pvh efi; do
    case $path in firmware) file=firmware.fd ;; pvh) file=kernel ;; efi) file=kernel.efi ;; esac
    echo "| $path | $(wc -c < "$bundle/$file" | tr -d ' ') | $(median $path 2 %.3f) | $(list $path) | $(median $path 3 %d) | $(median $path 4 %d) |"
done
echo
echo "$(qemu-system-x86_64 --version | head -1), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
