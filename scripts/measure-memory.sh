#!/usr/bin/env bash
# Peak RSS of `mapflow eval` on a split 1× and 4× as large, and of `mapflow retokenize` adding
# one config to an output that holds 1 and 4 configs already (issue 31: memory must grow with
# the work at hand, not with the data set). Release build; synthetic corpora (renders), so no
# data is needed.
#
#   scripts/measure-memory.sh [SONGS]     # SONGS for 1× (default 4); 4× is 4 × SONGS
set -euo pipefail
cd "$(dirname "$0")/.."
songs=${1:-4}
bin=target/release/mapflow
[ -x "$bin" ] || { echo "measure-memory: build first: cargo build --release -p pipeline -p workbench" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Peak resident MiB of a command (GNU time's maximum resident set size).
peak() { /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
         echo $(( $(cat "$work/rss") / 1024 )); }

# A tokenizer config that differs from the default in one field (another hash).
variant() { sed "s/^repeat_bins = 16/repeat_bins = $1/" configs/tokenizer/default.toml >"$work/tok-$1.toml"
            echo "$work/tok-$1.toml"; }

for scale in 1 4; do
  n=$((songs * scale))
  "$bin" synth --songs "$n" --songs-per-shard 4 --seconds 30 --seed 11 -o "$work/corpus-$scale" >/dev/null
  "$bin" preprocess --source "$work/corpus-$scale" -o "$work/data-$scale" >/dev/null 2>&1
done
# One checkpoint for both (same tokenizer and features): a few steps of the tiny model.
"$bin" train --data "$work/data-1" --model configs/model/tiny.toml --max-steps 2 -o "$work/run" >/dev/null 2>&1
for scale in 1 4; do
  windows=$("$bin" eval --split all --checkpoint "$work/run" --data "$work/data-$scale" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["windows"])')
  echo "eval ${scale}x: $windows windows, peak RSS $(peak "$bin" eval --split all --checkpoint "$work/run" --data "$work/data-$scale") MiB"
done

# retokenize on the 4× output: one new config beside 1, then beside 4 existing ones.
data="$work/data-4"
echo "retokenize with 1 config on disk: peak RSS $(peak "$bin" retokenize -o "$data" --tokenizer "$(variant 17)") MiB"
"$bin" retokenize -o "$data" --tokenizer "$(variant 18)" --tokenizer "$(variant 19)" >/dev/null 2>&1
echo "retokenize with 4 configs on disk: peak RSS $(peak "$bin" retokenize -o "$data" --tokenizer "$(variant 20)") MiB"
