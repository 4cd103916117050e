#!/bin/sh
# Builds the libFuzzer targets (every module instrumented with -sanitize=fuzzer) and runs each for a
# bounded time. Usage: Fuzz/run.sh [SECONDS_PER_TARGET]   (default 60)
# Crashes are written to Fuzz/artifacts/ and make the script exit non-zero.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SECONDS_PER_TARGET=${1:-60}
SCRATCH=${SCRATCH:-"$HERE/../.build-attest/fuzz"}
cd "$HERE"
swift build -c release --sanitize=fuzzer --scratch-path "$SCRATCH"
BIN=$(swift build -c release --sanitize=fuzzer --scratch-path "$SCRATCH" --show-bin-path)
mkdir -p artifacts corpus/report corpus/certificate
# Seeds: the real vectors (reports; certificates and roots).
V="$HERE/../Tests/AttestationTests/Fixtures/snp"
for f in "$V"/*/report.bin; do cp "$f" "corpus/report/$(basename "$(dirname "$f")").bin"; done
for f in "$V"/*/vcek.* "$V"/*/vlek.* "$V"/roots/*/*.pem; do
    cp "$f" "corpus/certificate/$(echo "$f" | tr '/' '_' | tail -c 40)"
done
status=0
for target in report certificate; do
    name=Fuzz$(echo "$target" | sed 's/./\U&/')
    echo "== $name for ${SECONDS_PER_TARGET}s"
    "$BIN/$name" "corpus/$target" -max_total_time="$SECONDS_PER_TARGET" -max_len=8192 \
        -artifact_prefix="artifacts/$target-" -print_final_stats=1 || status=1
done
exit $status
