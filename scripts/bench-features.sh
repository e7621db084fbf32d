#!/usr/bin/env bash
# `mapflow bench features` with librosa measured in the same run: installs librosa 0.11.0 into a
# throwaway virtualenv (outside the repository) the first time, then runs the bench in release.
#   scripts/bench-features.sh [extra args for `mapflow bench features`]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${MAPFLOW_LIBROSA_VENV:-${TMPDIR:-/tmp}/mapflow-librosa-venv}
if ! "$venv/bin/python" -c 'import librosa, soxr, soundfile' 2>/dev/null; then
  echo "bench: installing librosa 0.11.0 into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check librosa==0.11.0 soundfile soxr
fi
cd "$root"
"$root/scripts/setup.sh"
cargo build --release --quiet -p pipeline -p workbench
exec target/release/mapflow bench features --python "$venv/bin/python" "$@"
