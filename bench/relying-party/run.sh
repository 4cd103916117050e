#!/bin/sh
# The relying party's attestation sessions per second (auth -> attest -> resource, a real AMD-signed
# Milan report, its VCEK in the certificate table, the chain cached after the first session):
#   in process: RelyingPartyBench (release) beside kbs_peer.py (Python cryptography) in the same run
#   over HTTP:  cvm's server (RelyingPartyBench serve: Hummingbird) and the peer's ThreadingHTTPServer, both
#               driven by the same client (load.py: CLIENTS threads with keep-alive)
# Usage: bench/relying-party/run.sh   knobs: N (in-process sessions, 2000), PYN (1000), HTTPN (2000),
# CLIENTS (20), PYTHON (python3 with cryptography).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
V="$ROOT/Tests/RelyingPartyTests/Fixtures/snp/milan-v2"
PY=${PYTHON:-python3}
N=${N:-2000}
PYN=${PYN:-1000}
HTTPN=${HTTPN:-2000}
CLIENTS=${CLIENTS:-20}
(cd "$ROOT" && swift build -c release --scratch-path .build-attest --product RelyingPartyBench >/dev/null)
BENCH="$ROOT/.build-attest/release/RelyingPartyBench"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(swift --version 2>/dev/null | head -1) ; $($PY -c 'import sys, cryptography; print("Python", sys.version.split()[0], "cryptography", cryptography.__version__)')"
echo "tool,mode,sessions,result"
echo "cvm,in-process,$N,$("$BENCH" in-process "$V/report.bin" "$V/vcek.der" "$N")"
echo "python-cryptography,in-process,$PYN,$("$PY" "$ROOT/bench/relying-party/kbs_peer.py" in-process "$V/report.bin" "$V/vcek.der" "$PYN")"

# Starts a server on a free port, runs the load against it, stops it.
over_http() {
    tool=$1; shift
    out=$(mktemp)
    "$@" > "$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q '^listening' "$out" && break; sleep 0.1; done
    port=$(sed -n 's/^listening \([0-9]*\).*/\1/p' "$out")
    echo "$tool,http-$CLIENTS-clients,$HTTPN,$("$PY" "$ROOT/bench/relying-party/load.py" "$port" "$V/report.bin" "$V/vcek.der" "$HTTPN" "$CLIENTS")"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -f "$out"
}
over_http cvm "$BENCH" serve "$V/report.bin" "$V/vcek.der" 0
over_http python-cryptography "$PY" "$ROOT/bench/relying-party/kbs_peer.py" serve "$V/report.bin" "$V/vcek.der" 0
