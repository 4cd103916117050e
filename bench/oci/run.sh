#!/usr/bin/env bash
# OCI image read + flatten: `cvm image inspect` (verify digests, decompress, apply layers in memory)
# against the shell peer that extracts the same layer to disk (`tar -x`, with `gzip -dc` for the
# compressed form), measured in the same run. Wall time and peak RSS from /usr/bin/time -v.
#
#   bench/oci/run.sh                     # input: a Debian bookworm minbase root (mmdebstrap, cached)
#   LAYER_TAR=/path/rootfs.tar bench/oci/run.sh   # any tar as the single layer
#   MINBASE=0 DIRS="usr/lib" bench/oci/run.sh     # a tar of host directories instead
#   CVM=/path/to/cvm RUNS=5 bench/oci/run.sh      # skip the build, more runs
#
# The minbase root is built once with `mmdebstrap --variant=minbase bookworm` (needs root and the
# Debian mirror) into ${CVM_CACHE:-$HOME/.cache/cvmkit}/oci-bench/minbase.tar.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRATCH=${SCRATCH:-.build-oci}
RUNS=${RUNS:-3}
DIRS=${DIRS:-"usr/bin usr/lib/python3.11 usr/share/doc"}
MINBASE=${MINBASE:-1}
CACHE="${CVM_CACHE:-$HOME/.cache/cvmkit}/oci-bench"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvm-oci-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if [ -z "${CVM:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product cvm >&2
    CVM="$SCRATCH/release/cvm"
fi

# The input: one layer made from host directories, as an OCI archive (gzip layer) and a docker
# archive (plain layer). Digests are computed here with Python's hashlib.
if [ -z "${LAYER_TAR:-}" ] && [ "$MINBASE" = 1 ]; then
    LAYER_TAR="$CACHE/minbase.tar"
    if [ ! -f "$LAYER_TAR" ]; then
        mkdir -p "$CACHE"
        mmdebstrap --variant=minbase --mode=root --format=tar bookworm "$LAYER_TAR.tmp" "${CVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
        mv "$LAYER_TAR.tmp" "$LAYER_TAR"
    fi
fi
if [ -n "${LAYER_TAR:-}" ]; then
    cp "$LAYER_TAR" "$WORK/layer.tar"
    DESCRIPTION="$(basename "$LAYER_TAR")"
else
    # shellcheck disable=SC2086
    tar --sort=name --numeric-owner -C / -cf "$WORK/layer.tar" $DIRS 2>/dev/null || true
    DESCRIPTION="a tar of $DIRS from this host"
fi
gzip -c "$WORK/layer.tar" > "$WORK/layer.tar.gz"
python3 - "$WORK" <<'PY'
import hashlib, json, os, sys, tarfile
work = sys.argv[1]
def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
plain, gz = f"{work}/layer.tar", f"{work}/layer.tar.gz"
diff_id, gz_digest = sha(plain), sha(gz)
config = json.dumps({"architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]}}).encode()
config_digest = hashlib.sha256(config).hexdigest()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + config_digest, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + gz_digest, "size": os.path.getsize(gz)}]}).encode()
manifest_digest = hashlib.sha256(manifest).hexdigest()
index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + manifest_digest, "size": len(manifest)}]}).encode()
def add_bytes(t, name, data):
    import io
    info = tarfile.TarInfo(name); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
with tarfile.open(f"{work}/oci.tar", "w", format=tarfile.PAX_FORMAT) as t:
    add_bytes(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add_bytes(t, "index.json", index)
    add_bytes(t, "blobs/sha256/" + manifest_digest, manifest)
    add_bytes(t, "blobs/sha256/" + config_digest, config)
    t.add(gz, "blobs/sha256/" + gz_digest)
with tarfile.open(f"{work}/docker.tar", "w", format=tarfile.PAX_FORMAT) as t:
    add_bytes(t, "manifest.json", json.dumps([{"Config": config_digest + ".json", "RepoTags": ["bench:1"], "Layers": [diff_id + ".tar"]}]).encode())
    add_bytes(t, config_digest + ".json", config)
    t.add(plain, diff_id + ".tar")
with open(f"{work}/layer-digest", "w") as f:
    f.write(gz_digest)
PY
GZ_DIGEST=$(cat "$WORK/layer-digest")

# measure NAME COMMAND...: best wall time and its peak RSS over $RUNS runs; extraction target wiped each time.
measure() {
    local name=$1; shift
    local best="" best_rss=""
    for _ in $(seq "$RUNS"); do
        rm -rf "$WORK/x"; mkdir "$WORK/x"; sync
        /usr/bin/time -v "$@" >/dev/null 2>"$WORK/time.txt"
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$WORK/time.txt")
        rss=$(awk -F': ' '/Maximum resident set size/ { print int($2 / 1024) }' "$WORK/time.txt")
        if [ -z "$best" ] || awk "BEGIN { exit !($wall < $best) }"; then best=$wall; best_rss=$rss; fi
    done
    printf '| %s | %.2f s | %s MiB |\n' "$name" "$best" "$best_rss"
}

LAYER_MB=$(( $(stat -c %s "$WORK/layer.tar") / 1048576 ))
GZ_MB=$(( $(stat -c %s "$WORK/layer.tar.gz") / 1048576 ))
ENTRIES=$(tar -tf "$WORK/layer.tar" | wc -l)
echo "input: one layer, $DESCRIPTION: $LAYER_MB MiB tar ($GZ_MB MiB gzip), $ENTRIES entries; best of $RUNS runs"
echo "$("$CVM" --version) / $(tar --version | head -1) / $(gzip --version | head -1) / $(nproc) cores"
echo
echo "| what | wall | peak RSS |"
echo "| --- | --- | --- |"
measure "cvm image inspect oci-archive (gzip layer: verify, gzip -dc, flatten)" "$CVM" image inspect "oci-archive:$WORK/oci.tar"
measure "peer: tar -xOf blob \\| gzip -dc \\| tar -x (extract to disk)" bash -c "tar -xOf '$WORK/oci.tar' blobs/sha256/$GZ_DIGEST | gzip -dc | tar -x -C '$WORK/x'"
measure "cvm image inspect docker-archive (plain layer: verify, flatten)" "$CVM" image inspect "docker-archive:$WORK/docker.tar"
measure "peer: tar -xf layer.tar (extract to disk)" tar -xf "$WORK/layer.tar" -C "$WORK/x"
