#!/usr/bin/env bash
# Launch-measurement benchmark: `cvm measure` vs sev-snp-measure (PyPI), whole-process wall time,
# both measured in the same run on the same firmware.
#   1. one SNP measurement: cvm vs sev-snp-measure (median of REPS runs each);
#   2. a 1,024-row table (vCPUs 1-64 x 16 vCPU types): one `cvm measure` call (median of REPS) vs
#      1,024 sev-snp-measure processes (one pass); every row is checked against the peer's output.
# Usage: bench/measure/run.sh [OVMF image]   (env: REPS=5, SKIP_BUILD=1, CVM=binary, SEV_SNP_MEASURE=path)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
ovmf="${1:-/usr/share/ovmf/OVMF.fd}"
reps="${REPS:-5}"
peer="${SEV_SNP_MEASURE:-$root/.venv-oracle/bin/sev-snp-measure}"
if [ ! -x "$peer" ]; then
  echo "sev-snp-measure not found; install: python3 -m venv $root/.venv-oracle && $root/.venv-oracle/bin/pip install sev-snp-measure" >&2
  exit 2
fi
if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$root" && swift build -c release --scratch-path .build-measure --product cvm >/dev/null)
fi
cvm="${CVM:-$root/.build-measure/release/cvm}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }

types="EPYC EPYC-v1 EPYC-v2 EPYC-IBPB EPYC-v3 EPYC-v4 EPYC-Rome EPYC-Rome-v1 EPYC-Rome-v2 EPYC-Rome-v3 EPYC-Milan EPYC-Milan-v1 EPYC-Milan-v2 EPYC-Genoa EPYC-Genoa-v1 EPYC-Turin"

# 1. Single measurement.
for _ in $(seq "$reps"); do
  t0=$(now); "$cvm" measure --mode sev-snp --ovmf "$ovmf" --vcpus 4 --vcpu-type EPYC-Milan >"$work/ours1"; t1=$(now)
  ms "$t0" "$t1" >>"$work/single-cvm"
  t0=$(now); "$peer" --mode snp --ovmf "$ovmf" --vcpus 4 --vcpu-type EPYC-Milan >"$work/peer1"; t1=$(now)
  ms "$t0" "$t1" >>"$work/single-peer"
done
cmp -s "$work/ours1" "$work/peer1" || { echo "single measurement differs from sev-snp-measure" >&2; exit 1; }

# 2. 1,024-row table.
for _ in $(seq "$reps"); do
  t0=$(now)
  "$cvm" measure --mode sev-snp --ovmf "$ovmf" --vcpus 1-64 --vcpu-type "$(echo $types | tr ' ' ,)" >"$work/table.csv"
  t1=$(now)
  ms "$t0" "$t1" >>"$work/table-cvm"
done
rows=$(($(wc -l <"$work/table.csv") - 1))
t0=$(now)
for type in $types; do
  for n in $(seq 64); do
    echo "$type,$n,$("$peer" --mode snp --ovmf "$ovmf" --vcpus "$n" --vcpu-type "$type")"
  done
done >"$work/peer-table"
t1=$(now)
peer_table=$(ms "$t0" "$t1")
# cvm CSV columns: mode,vmm_type,vcpu_type,vcpu_signature,guest_features,vcpus,measurement
tail -n +2 "$work/table.csv" | awk -F, '{print $3","$6","$7}' >"$work/ours-table"
if ! diff -q <(sort "$work/ours-table") <(sort "$work/peer-table") >/dev/null; then
  echo "table differs from sev-snp-measure" >&2; exit 1
fi

single_cvm=$(median <"$work/single-cvm"); single_peer=$(median <"$work/single-peer")
table_cvm=$(median <"$work/table-cvm")
echo "firmware: $ovmf ($(stat -c %s "$ovmf") bytes); sev-snp-measure $("$peer" --version 2>&1 | awk '{print $2}'); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| case | cvm (ms) | sev-snp-measure (ms) | speed-up |"
echo "|---|---|---|---|"
echo "| one SNP measurement, 4 vCPUs (median of $reps) | $single_cvm | $single_peer | $(echo "scale=1; $single_peer / $single_cvm" | bc)x |"
echo "| $rows-row table, vCPUs 1-64 x 16 types (cvm: 1 process, median of $reps; peer: $rows processes) | $table_cvm | $peer_table | $(echo "scale=0; $peer_table / $table_cvm" | bc)x |"
echo "all $rows rows identical to sev-snp-measure"
