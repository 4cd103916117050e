#!/usr/bin/env bash
# Guest image benchmark: `cvm image build linux` build time (warm package cache) and reproducibility
# (two builds, same SHA-256), with the initramfs packing step compared to the shell pipeline
# `find | sort | cpio -o -H newc --reproducible | gzip -n -9` on the same file tree, same run.
#
# Usage: bench/image/run.sh [CVM_BINARY]   (default: builds cvm with --scratch-path .build-img)
# Output: a Markdown table on stdout, raw numbers in bench/image/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CVM=${1:-}
if [[ -z "$CVM" ]]; then
    swift build --scratch-path .build-img -c release --product cvm >/dev/null
    CVM=$ROOT/.build-img/release/cvm
fi
RUNS=${RUNS:-3}
WORK=$(mktemp -d /tmp/cvm-bench-image.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS=$ROOT/bench/image/results
mkdir -p "$RESULTS"

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }

# Warm the package cache (download + unpack happen once, outside the timings).
"$CVM" image build linux --out "$WORK/warm" >/dev/null 2>"$WORK/warm.log"

declare -a totals packs
for i in $(seq 1 "$RUNS"); do
    start=$(now)
    # Timestamp each progress line to split out the packing step.
    "$CVM" image build linux --out "$WORK/b$i" 2> >(while IFS= read -r line; do echo "$(now) $line"; done > "$WORK/b$i.log") >/dev/null
    end=$(now)
    sleep 0.2
    pack_start=$(grep 'packing initramfs' "$WORK/b$i.log" | cut -d' ' -f1)
    pack_end=$(grep 'writing bundle' "$WORK/b$i.log" | cut -d' ' -f1)
    totals+=("$(elapsed "$start" "$end")")
    packs+=("$(elapsed "$pack_start" "$pack_end")")
done

# Peer: the same tree (our initrd unpacked) packed by GNU cpio + gzip.
mkdir "$WORK/tree"
(cd "$WORK/tree" && gzip -dc "$WORK/b1/initrd" | cpio -idm --quiet)
declare -a peers
for i in $(seq 1 "$RUNS"); do
    start=$(now)
    (cd "$WORK/tree" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet | gzip -n -9 > "$WORK/peer$i.gz")
    end=$(now)
    peers+=("$(elapsed "$start" "$end")")
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
sha() { sha256sum "$1" | cut -c1-64; }
same=yes
for f in kernel initrd cmdline manifest.json; do
    for i in $(seq 2 "$RUNS"); do
        [[ $(sha "$WORK/b1/$f") == $(sha "$WORK/b$i/$f") ]] || same=no
    done
done
ours_listing=$(gzip -dc "$WORK/b1/initrd" | cpio -it --quiet | LC_ALL=C sort | sha256sum | cut -c1-16)
peer_listing=$(gzip -dc "$WORK/peer1.gz" | cpio -it --quiet | LC_ALL=C sort | sha256sum | cut -c1-16)
kernel=$(grep -o '"kernel" : "[^"]*"' "$WORK/b1/manifest.json" | cut -d'"' -f4)
members=$(gzip -dc "$WORK/b1/initrd" | cpio -it --quiet | wc -l)

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(nproc) cores, $(uname -r)  kernel in bundle: $kernel  runs: $RUNS"
    echo "build_total_s: ${totals[*]}"
    echo "pack_ours_s: ${packs[*]}"
    echo "pack_peer_s: ${peers[*]}"
    echo "initrd_sha256: $(sha "$WORK/b1/initrd")  bytes: $(stat -c %s "$WORK/b1/initrd")  members: $members"
    echo "peer_initrd_bytes: $(stat -c %s "$WORK/peer1.gz")  same member list: $([[ $ours_listing == "$peer_listing" ]] && echo yes || echo no)"
    echo "reproducible: $same"
} | tee "$RESULTS/latest.txt" >&2

cat <<MD
| measurement (median of $RUNS) | seconds |
|---|---|
| \`cvm image build linux\`, warm cache (resolve, compile init, pack, digest, write) | $(median "${totals[@]}") |
| of which initramfs packing: cvm (cpio writer + \`gzip -n -9\`) | $(median "${packs[@]}") |
| peer: \`find \| sort \| cpio -o -H newc --reproducible \| gzip -n -9\`, same tree | $(median "${peers[@]}") |

Initrd: $members members, $(stat -c %s "$WORK/b1/initrd") bytes, SHA-256 \`$(sha "$WORK/b1/initrd")\`.
All $RUNS builds byte-identical (kernel, initrd, cmdline, manifest.json): **$same**.
MD
