#!/bin/sh
# Attestation verification throughput: `cvm attest verify` (release build) against verify_snp.py, a
# Python `cryptography` implementation of the same checks, measured in the same run on the same vectors.
#   whole process: N runs of each command (chain + report + policy, process start included)
#   in process:    chain checked once, then the report parsed and verified M times
# Usage: bench/attest/run.sh [CVM_BINARY]   (default: builds .build-attest release)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
V="$ROOT/Tests/AttestationTests/Fixtures/snp"
CVM=${1:-}
if [ -z "$CVM" ]; then
    (cd "$ROOT" && swift build -c release --scratch-path .build-attest --product cvm >/dev/null)
    CVM="$ROOT/.build-attest/release/cvm"
fi
PY=${PYTHON:-python3}
RUNS=${RUNS:-20}
ITER=${ITER:-2000}
PYITER=${PYITER:-1000}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $($CVM --version 2>/dev/null || echo cvm) ; $(swift --version 2>/dev/null | head -1) ; $($PY -c 'import sys, cryptography; print("Python", sys.version.split()[0], "cryptography", cryptography.__version__)')"
echo "case,tool,mode,runs_or_iterations,median_ms_per_process,reports_per_second,reports_per_cpu_second"

# Median wall time (ms) of RUNS executions of a command.
median_ms() {
    $PY - "$RUNS" "$@" <<'PYEOF'
import statistics, subprocess, sys, time
runs = int(sys.argv[1]); cmd = sys.argv[2:]
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times.append((time.perf_counter() - start) * 1000)
print(f"{statistics.median(times):.1f}")
PYEOF
}

for spec in "milan-v2 vcek.der milan" "genoa-v3 vcek.pem genoa" "turin-v5 vcek.pem turin" "milan-vlek-v3 vlek.der milan"; do
    set -- $spec
    case=$1 cert="$V/$1/$2" product=$3
    at_cvm="" at_py=""
    if [ "$case" = milan-vlek-v3 ]; then at_cvm="--at 2025-05-01T00:00:00Z"; at_py="--at 1746057600"; fi
    m=$(median_ms "$CVM" attest verify "$V/$case/report.bin" --vcek "$cert" $at_cvm)
    echo "$case,cvm,whole-process,$RUNS,$m,"
    m=$(median_ms "$PY" "$ROOT/bench/attest/verify_snp.py" "$V/$case/report.bin" "$cert" "$V/roots" "$product" $at_py)
    echo "$case,python-cryptography,whole-process,$RUNS,$m,"
    r=$("$CVM" attest verify "$V/$case/report.bin" --vcek "$cert" $at_cvm --bench-iterations "$ITER" | sed -n 's/.* per_second=\([0-9.]*\).*per_cpu_second=\([0-9.]*\).*/\1,\2/p')
    echo "$case,cvm,in-process,$ITER,,$r"
    r=$("$PY" "$ROOT/bench/attest/verify_snp.py" "$V/$case/report.bin" "$cert" "$V/roots" "$product" $at_py --bench "$PYITER" | sed -n 's/.* per_second=\([0-9.]*\).*per_cpu_second=\([0-9.]*\).*/\1,\2/p')
    echo "$case,python-cryptography,in-process,$PYITER,,$r"
done

# Intel DCAP quotes: `cvm attest verify QUOTE --collateral` (signatures, collateral, TCB level; the collateral
# parsed once) beside dcap-qvl (PyPI, Rust, through its Python binding) on the same quotes and collateral.
T="$ROOT/Tests/TDXTests/Fixtures"
QITER=${QITER:-1000}
for spec in "tdx_quote tdx_quote_collateral.json 1751624191 2025-07-04T10:16:31Z" \
            "quote_v5_sample.dat tdx_quote_outdated_collateral.json 1772707803 2026-03-05T10:50:03Z"; do
    set -- $spec
    out=$("$CVM" attest verify "$T/$1" --collateral "$T/$2" --at "$4" --bench-iterations "$QITER" 2>/dev/null)
    for mode in every-quote cached; do
        r=$(printf '%s\n' "$out" | grep "collateral=$mode " | sed -n 's/.* per_second=\([0-9.]*\).*per_cpu_second=\([0-9.]*\).*/\1,\2/p')
        echo "$1,cvm,in-process collateral $mode,$QITER,,$r"
    done
    if "$PY" -c 'import dcap_qvl' 2>/dev/null; then
        r=$("$PY" "$ROOT/bench/attest/verify_tdx.py" "$T/$1" "$T/$2" "$3" "$QITER" | sed -n 's/.* per_second=\([0-9.]*\).*per_cpu_second=\([0-9.]*\).*/\1,\2/p')
        echo "$1,dcap-qvl,in-process,$QITER,,$r"
    fi
done
