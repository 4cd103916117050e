#!/usr/bin/env bash
# TD measurement benchmark: whole-process wall time of `cvm measure --mode tdx` beside peers doing the
# same hashing in the same run, on Debian's OVMF.fd (a TDVF) and Debian's kernel:
#   1. MRTD alone: cvm vs the hashlib oracle of the tests (Tests/MeasurementTests/Oracles/tdx_mrtd.py),
#      whose output must be equal;
#   2. the kernel's Authenticode digest: `cvm measure --mode tdx --kernel K --unpatched-kernel` (MRTD,
#      Authenticode SHA-384 and the RTMR events) vs `osslsigncode verify` (Authenticode SHA-256 and the
#      PKCS#7 check) vs `sha384sum` of the kernel file (plain hashing, the floor).
# Usage: bench/measure/tdx.sh [KERNEL]   (env: REPS=5, SKIP_BUILD=1, CVM=binary, OVMF=/usr/share/ovmf/OVMF.fd)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
ovmf="${OVMF:-/usr/share/ovmf/OVMF.fd}"
reps="${REPS:-5}"
if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$root" && swift build -c release --scratch-path .build-measure --product cvm >/dev/null)
fi
cvm="${CVM:-$root/.build-measure/release/cvm}"
kernel="${1:-$(ls -S "${CVM_CACHE:-$HOME/.cache/cvmkit}"/unpacked/linux-image-*/boot/vmlinuz-* 2>/dev/null | head -1)}"
[ -f "$kernel" ] || { echo "give a kernel (bench/measure/tdx.sh /boot/vmlinuz-...), or run the tests once to cache Debian's" >&2; exit 2; }
command -v osslsigncode >/dev/null || { echo "osslsigncode is needed (scripts/install-deps)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
time_of() { local out=$1; shift; for _ in $(seq "$reps"); do t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); ms "$t0" "$t1" >>"$work/$out"; done; median <"$work/$out"; }

"$cvm" measure --mode tdx --firmware "$ovmf" >"$work/ours"
python3 "$root/Tests/MeasurementTests/Oracles/tdx_mrtd.py" "$ovmf" >"$work/peer"
cmp -s "$work/ours" "$work/peer" || { echo "MRTD differs from the hashlib oracle" >&2; exit 1; }
echo "firmware $ovmf ($(stat -c %s "$ovmf") bytes), kernel $kernel ($(stat -c %s "$kernel") bytes), median of $reps"
echo "| case | time |"
echo "|---|---|"
echo "| MRTD, cvm | $(time_of mrtd-cvm "$cvm" measure --mode tdx --firmware "$ovmf") ms |"
echo "| MRTD, hashlib oracle (Python 3) | $(time_of mrtd-py python3 "$root/Tests/MeasurementTests/Oracles/tdx_mrtd.py" "$ovmf") ms |"
echo "| MRTD + kernel Authenticode SHA-384 + RTMR events, cvm | $(time_of rtmr-cvm "$cvm" measure --mode tdx --firmware "$ovmf" --kernel "$kernel" --unpatched-kernel) ms |"
echo "| kernel Authenticode SHA-256 + PKCS#7 check, osslsigncode verify | $(time_of ossl osslsigncode verify -in "$kernel") ms |"
echo "| kernel file SHA-384, sha384sum | $(time_of sum sha384sum "$kernel") ms |"
