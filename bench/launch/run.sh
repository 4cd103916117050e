#!/usr/bin/env bash
# cvm run overhead over the bare QEMU command for the same guest, whole-process, same run.
# The guest is the 64 KiB test BIOS (prints one line, exits through isa-debug-exit), so the figure is
# cvm's own cost: argument parsing, the host gate, firmware planning, supervision and tear-down.
# Usage: bench/launch/run.sh [RUNS]   (default 20); needs a release build: swift build -c release
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
cvm=.build/release/cvm
[ -x "$cvm" ] || swift build -c release --product cvm >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$work/guest.bios" <<'PY'
import sys
code = bytes([0xBA, 0xF8, 0x03]) + b"".join(bytes([0xB0, c, 0xEE]) for c in b"bench\n") + bytes([0xB0, 0, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])
img = bytearray(b"\xF4" * 0x10000); img[:len(code)] = code; img[0xFFF0:0xFFF3] = bytes([0xE9, 0x0D, 0x00])
open(sys.argv[1], "wb").write(img)
PY
bare=(qemu-system-x86_64 -machine q35 -accel tcg -m 32M -nodefaults -display none -no-user-config -bios "$work/guest.bios"
      -chardev stdio,id=console0,signal=off -serial chardev:console0 -device isa-debug-exit,iobase=0xf4,iosize=0x04)
time_runs() { # prints the median wall time in ms of "$@"
  local samples=()
  for _ in $(seq "$runs"); do
    local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
    samples+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f", m}'
}
q=$(time_runs "${bare[@]}")
c=$(time_runs "$cvm" run --firmware "bios:$work/guest.bios" --accel tcg --quiet)
a=$(time_runs "$cvm" run --firmware "bios:$work/guest.bios" --accel auto --quiet)
echo "runs=$runs qemu=$(qemu-system-x86_64 --version | head -1)"
echo "bare QEMU (TCG)                 median ${q} ms"
echo "cvm run --accel tcg             median ${c} ms  (overhead $((c - q)) ms)"
echo "cvm run --accel auto (KVM probe) median ${a} ms  (overhead $((a - q)) ms)"
