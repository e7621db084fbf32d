#!/usr/bin/env bash
# A smoke test of the hub source against the real Hugging Face hub, for a machine with network:
# run it before a long run. It resolves the data set's revision to a commit, lists the config's
# shards there (sizes and SHA-256 from the tree API), then reads shard 0 end to end through the
# code path the mock-hub tests exercise (download at the pinned commit, size + SHA-256 check,
# tar read, features, tokens), and prints what it got. Shard 0 of `compressed` is ~1.07 GB: the
# download is the slow part. Nothing is kept: the output and the cache are temporary.
#
#   scripts/hub-smoke.sh [REVISION] [CONFIG]        (default: main compressed; HF_TOKEN honoured)
set -euo pipefail

revision="${1:-main}"
config="${2:-compressed}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release -p pipeline --manifest-path "$root/Cargo.toml" --quiet
target="${CARGO_TARGET_DIR:-$root/target}"
mapflow="$target/release/mapflow"
source="hf://datasets/project-riz/osu-beatmaps@${revision}/${config}?shards=0..1"

echo "== plan: $source (nothing downloaded)"
"$mapflow" preprocess --source "$source" --output "$work/out" --cache-dir "$work/cache" --plan

echo "== reading shard 0"
"$mapflow" preprocess --source "$source" --output "$work/out" --cache-dir "$work/cache" --quiet --json \
  > "$work/summary.json"
cat "$work/summary.json"
echo

echo "== what the output recorded"
python3 - "$work/out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
manifest = json.loads((out / "manifest.json").read_text())
print("source:", manifest["configs"].get("source"))
print("tracks:", manifest["tracks"], "chunks:", len(manifest["chunks"]), "rejects by kind:", manifest["rejects_by_kind"])
for marker in sorted((out / "shards-done").glob("*.json")):
    print("done:", marker.name, json.loads(marker.read_text()))
first = next(iter(manifest["chunks"]), None)
if first:
    print("first chunk:", first["chunk"], "tracks file:", first["tracks"])
PY
leftover="$(find "$work/cache" -path '*blobs*' -type f | wc -l)"
echo "cache blobs left after the run: $leftover (expected 0: read shards are deleted)"
