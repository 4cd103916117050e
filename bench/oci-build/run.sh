#!/usr/bin/env bash
# `cvm image build oci` on a large image against the shell pipeline that does the same packing the
# traditional way (extract the layer to disk, then find | sort | cpio -o -H newc | gzip), on the same
# input in the same run. Wall time and peak RSS from /usr/bin/time -v; best of $RUNS.
#
#   bench/oci-build/run.sh                          # input: a Debian bookworm minbase root (mmdebstrap, cached)
#   LAYER_TAR=/path/rootfs.tar bench/oci-build/run.sh   # any root file system tar as the single layer
#   CVM=/path/to/cvm RUNS=5 bench/oci-build/run.sh      # skip the release build, more runs
#
# The minbase root is built once with `mmdebstrap --variant=minbase bookworm` (needs root and the
# Debian mirror) into ${CVM_CACHE:-$HOME/.cache/cvmkit}/oci-bench/minbase.tar, shared with bench/oci.
# cvm's build also resolves and copies the Debian kernel and compiles cvm-init: that fixed cost is
# measured on its own with the 2 MB hello image from the test fixtures.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRATCH=${SCRATCH:-.build-oci}
RUNS=${RUNS:-3}
LEVEL=6
CACHE="${CVM_CACHE:-$HOME/.cache/cvmkit}/oci-bench"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvm-oci-build-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if [ -z "${CVM:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product cvm >&2
    CVM="$SCRATCH/release/cvm"
fi
if [ -z "${LAYER_TAR:-}" ]; then
    LAYER_TAR="$CACHE/minbase.tar"
    if [ ! -f "$LAYER_TAR" ]; then
        mkdir -p "$CACHE"
        mmdebstrap --variant=minbase --mode=root --format=tar bookworm "$LAYER_TAR.tmp" "${CVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
        mv "$LAYER_TAR.tmp" "$LAYER_TAR"
    fi
fi

# A docker archive (`docker save` layout, plain layer) around the root tar; digests by sha256sum.
mkdir "$WORK/archive"
DIFF_ID=$(sha256sum "$LAYER_TAR" | cut -d' ' -f1)
cp "$LAYER_TAR" "$WORK/archive/$DIFF_ID.tar"
printf '{"architecture":"amd64","os":"linux","config":{"Env":["GREETING=bench"],"Cmd":["/bin/sh","-c","echo $GREETING"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$DIFF_ID" > "$WORK/config.json"
CONFIG=$(sha256sum "$WORK/config.json" | cut -d' ' -f1)
mv "$WORK/config.json" "$WORK/archive/$CONFIG.json"
printf '[{"Config":"%s.json","RepoTags":["bench:1"],"Layers":["%s.tar"]}]' "$CONFIG" "$DIFF_ID" > "$WORK/archive/manifest.json"
tar -C "$WORK/archive" -cf "$WORK/image.tar" manifest.json "$CONFIG.json" "$DIFF_ID.tar"
rm -rf "$WORK/archive"

# measure NAME COMMAND...: best wall time and its peak RSS over $RUNS runs (outputs wiped each time).
measure() {
    local name=$1; shift
    local best="" best_rss=""
    for _ in $(seq "$RUNS"); do
        rm -rf "$WORK/x" "$WORK/out" "$WORK/peer.cpio.gz"; mkdir "$WORK/x"; sync
        /usr/bin/time -v "$@" >/dev/null 2>"$WORK/time.txt" || { cat "$WORK/time.txt" >&2; exit 1; }
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$WORK/time.txt")
        rss=$(awk -F': ' '/Maximum resident set size/ { print int($2 / 1024) }' "$WORK/time.txt")
        if [ -z "$best" ] || awk "BEGIN { exit !($wall < $best) }"; then best=$wall; best_rss=$rss; fi
    done
    printf '| %s | %.2f s | %s MiB |\n' "$name" "$best" "$best_rss"
}

HELLO="docker-archive:Tests/GuestImageTests/Fixtures/hello-docker-archive.tar"
LAYER_MB=$(( $(stat -c %s "$LAYER_TAR") / 1048576 ))
ENTRIES=$(tar -tf "$LAYER_TAR" | wc -l)
echo "input: $(basename "$LAYER_TAR") as a docker archive with one plain layer: $LAYER_MB MiB, $ENTRIES entries; best of $RUNS runs"
echo "$("$CVM" --version) / $(tar --version | head -1) / $(cpio --version | head -1) / $(gzip --version | head -1) / $(nproc) cores / $(date -u +%Y-%m-%d)"
echo
echo "| what | wall | peak RSS |"
echo "| --- | --- | --- |"
measure "cvm image build oci, hello image (2 MB): fixed cost (apt-cache, init compile, kernel copy)" "$CVM" image build oci "$HELLO" --out "$WORK/out"
measure "cvm image build oci, large image (verify, flatten in memory, cpio + gzip -$LEVEL streamed, bundle)" "$CVM" image build oci "docker-archive:$WORK/image.tar" --out "$WORK/out"
measure "peer: tar -x layer to disk; find \\| sort \\| cpio -o -H newc --reproducible \\| gzip -n -$LEVEL" bash -c \
    "tar -xOf '$WORK/image.tar' '$DIFF_ID.tar' | tar -x --numeric-owner -C '$WORK/x' && cd '$WORK/x' && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet | gzip -n -$LEVEL > '$WORK/peer.cpio.gz'"

"$CVM" image build oci "docker-archive:$WORK/image.tar" --out "$WORK/out" >/dev/null 2>&1
tar -xOf "$WORK/image.tar" "$DIFF_ID.tar" | tar -x --numeric-owner -C "$WORK/x"
(cd "$WORK/x" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet | gzip -n -$LEVEL > "$WORK/peer.cpio.gz")
echo
echo "initrd: cvm $(stat -c %s "$WORK/out/initrd") bytes ($(gzip -dc "$WORK/out/initrd" | cpio -t --quiet | wc -l) members, image root + /.cvm), peer $(stat -c %s "$WORK/peer.cpio.gz") bytes ($(gzip -dc "$WORK/peer.cpio.gz" | cpio -t --quiet | wc -l) members)"
"$CVM" image build oci "docker-archive:$WORK/image.tar" --out "$WORK/out2" >/dev/null 2>&1
if cmp -s "$WORK/out/initrd" "$WORK/out2/initrd"; then echo "reproducible: two builds give byte-identical initrds ($(sha256sum "$WORK/out/initrd" | cut -c1-16)…)"; else echo "NOT reproducible: initrds differ"; fi
