#!/usr/bin/env bash
# One-time, idempotent setup of a fresh Debian machine for mapflow.
#
#   scripts/setup.sh          Debian build packages + CPU libtorch (torch 2.13.0 wheel) in .libtorch/
#   scripts/setup.sh --cuda   the same with the full CUDA wheel set (for GPU machines, ~4.7 GB)
#
# libtorch comes from PyPI's torch wheel: tch 0.26 needs exactly PyTorch 2.13.0. The CPU path
# installs the wheel without its dependencies plus the two small CUDA runtime wheels that
# libtorch_cpu.so links against. `.libtorch/torch` is a stable symlink to the wheel's `torch/`
# directory; `.cargo/config.toml` points `LIBTORCH` at it, and the crates' build scripts add an
# rpath so binaries run without `LD_LIBRARY_PATH`. A second run does nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.libtorch"
torch_version=2.13.0
flavour=cpu
[[ "${1:-}" == "--cuda" ]] && flavour=cuda

say() { printf 'setup: %s\n' "$*" >&2; }

# --- Debian packages the build needs -------------------------------------------------------
# build-essential: gcc/g++ for torch-sys's C++ shim, zstd and aws-lc; cmake: bundled libopus;
# ca-certificates: TLS to the Hugging Face hub; python3-venv: the libtorch virtualenv.
packages=(build-essential cmake pkg-config ca-certificates python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- libtorch from the PyPI torch wheel ----------------------------------------------------
stamp="$dir/installed-$flavour-$torch_version"
if [[ -f "$stamp" && -e "$dir/torch/lib/libtorch_cpu.so" ]]; then
  exit 0
fi
say "installing libtorch $torch_version ($flavour) into $dir"
python=${PYTHON:-python3}
rm -rf "$dir"
mkdir -p "$dir"
"$python" -m venv "$dir/venv"
pip=("$dir/venv/bin/pip" install --quiet --disable-pip-version-check)
if [[ $flavour == cpu ]]; then
  "${pip[@]}" --no-deps "torch==$torch_version" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
else
  "${pip[@]}" "torch==$torch_version"
fi
site=$("$dir/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn "$site/torch" "$dir/torch"
touch "$stamp"
say "libtorch ready: $dir/torch"
