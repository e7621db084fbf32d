#!/usr/bin/env bash
# Generated maps checked by parsers mapflow did not write: the official osu! code (osu-native),
# osu!stable's load rules (fosu) and two more, through ../shared/tools/validate_osz.py --strict.
#
#   scripts/validate-generated.sh [--checkpoint RUN] [SONG...]
#
# For each song (default: the bundled tests/data/reference/song.mp3 and, when present, every
# set's audio in ../shared/real/sets): one --method onsets map, a four-difficulty spread, and with
# --checkpoint a --method model map; then every .osz is validated. Exits non-zero if any map
# fails to parse or has a listed problem. Release binaries are built first.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=../shared/tools
[ -f "$tools/validate_osz.py" ] || { echo "validate-generated: $tools/validate_osz.py not found" >&2; exit 2; }
checkpoint=
if [ "${1:-}" = "--checkpoint" ]; then checkpoint=$2; shift 2; fi
songs=("$@")
if [ ${#songs[@]} -eq 0 ]; then
  songs=(tests/data/reference/song.mp3)
  if [ -d ../shared/real/sets ]; then
    while IFS= read -r -d '' s; do songs+=("$s"); done < <(
      find ../shared/real/sets -maxdepth 2 -type f \( -iname '*.mp3' -o -iname '*.ogg' \) -print0 | sort -z)
  fi
fi
"$tools/setup_validators.sh" >/dev/null
venv=${VALIDATORS_VENV:-${HOME}/.cache/osu-validators}
cargo build --release --quiet -p pipeline -p workbench
mapflow=target/release/mapflow
out=$(mktemp -d)
records=$(mktemp)
trap 'rm -rf "$out" "$records"' EXIT
n=0
for song in "${songs[@]}"; do
  n=$((n + 1))
  "$mapflow" generate "$song" --method onsets --stars 4 -o "$out/$n-onsets.osz" >/dev/null \
    || { echo "validate-generated: generation failed for $song" >&2; exit 1; }
  "$mapflow" generate "$song" --method onsets --stars 2,3.5,5,6.5 -o "$out/$n-spread.osz" >/dev/null \
    || { echo "validate-generated: spread failed for $song" >&2; exit 1; }
  if [ -n "$checkpoint" ]; then
    "$mapflow" generate "$song" --checkpoint "$checkpoint" --stars 4 -o "$out/$n-model.osz" >/dev/null \
      || echo "validate-generated: the model made no map of $song (not validated)" >&2
  fi
done
echo "validate-generated: ${#songs[@]} songs, $(ls "$out" | wc -l) .osz files"
# Records (one JSON line per map) to a file; the summary line comes on stderr.
if ! "$venv/bin/python" "$tools/validate_osz.py" --strict "$out" >"$records"; then
  grep -v '"problems": \[\]' "$records" >&2 || true
  exit 1
fi
