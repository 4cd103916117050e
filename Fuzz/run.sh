#!/bin/sh
# Builds the libFuzzer targets (every module instrumented with -sanitize=fuzzer) and runs each for a
# bounded time. Usage: Fuzz/run.sh [SECONDS_PER_TARGET [TARGET...]]   (default 60 s, every target)
# Targets: report certificate policy bench-config relying-party quote kernel. FUZZ_CONFIG=debug builds without optimisation (about
# half the build time; CI runs `FUZZ_CONFIG=debug Fuzz/run.sh 20`, 80 s of fuzzing after the build); the
# default, release, executes several times more inputs per second. Crashes, traps and inputs slower than 25 s are written to Fuzz/artifacts/ and make
# the script exit non-zero.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SECONDS_PER_TARGET=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-report certificate policy bench-config relying-party quote kernel}
SCRATCH=${SCRATCH:-"$HERE/../.build-attest/fuzz"}
cd "$HERE"
CONFIG=${FUZZ_CONFIG:-release}
swift build -c "$CONFIG" --sanitize=fuzzer --scratch-path "$SCRATCH"
BIN=$(swift build -c "$CONFIG" --sanitize=fuzzer --scratch-path "$SCRATCH" --show-bin-path)
mkdir -p artifacts corpus/report corpus/certificate corpus/policy corpus/bench-config corpus/relying-party corpus/quote corpus/kernel
# Seeds: the real vectors (reports; certificates and roots), and the policy and bench-config examples.
V="$HERE/../Tests/AttestationTests/Fixtures/snp"
for f in "$V"/*/report.bin; do cp "$f" "corpus/report/$(basename "$(dirname "$f")").bin"; done
for f in "$V"/*/vcek.* "$V"/*/vlek.* "$V"/roots/*/*.pem; do
    cp "$f" "corpus/certificate/$(echo "$f" | tr '/' '_' | tail -c 40)"
done
cp seeds/policy/* corpus/policy/
cp seeds/bench-config/* corpus/bench-config/
cp seeds/relying-party/* corpus/relying-party/
T="$HERE/../Tests/TDXTests/Fixtures"
for f in tdx_quote sgx_quote quote_v5_sample.dat tdx_quote_4.dat; do cp "$T/$f" "corpus/quote/$f"; done
head -c 8192 "$T/ccel/ccel_data.dat" > corpus/quote/ccel-head.bin
cp seeds/kernel/* corpus/kernel/
head -c 8192 "$HERE/../Tests/HostProbeTests/Fixtures/tdvf_IntelTdx_suffix.bin" > corpus/kernel/tdvf-tail.bin
status=0
for target in $TARGETS; do
    case $target in
        report) name=FuzzReport ;;
        certificate) name=FuzzCertificate ;;
        policy) name=FuzzPolicy ;;
        bench-config) name=FuzzBenchConfig ;;
        relying-party) name=FuzzRelyingParty ;;
        quote) name=FuzzQuote ;;
        kernel) name=FuzzKernel ;;
        *) echo "unknown fuzz target '$target' (report certificate policy bench-config relying-party quote kernel)" >&2; exit 2 ;;
    esac
    echo "== $name for ${SECONDS_PER_TARGET}s"
    "$BIN/$name" "corpus/$target" -max_total_time="$SECONDS_PER_TARGET" -max_len=8192 -timeout=25 \
        -artifact_prefix="artifacts/$target-" -print_final_stats=1 || status=1
done
exit $status
