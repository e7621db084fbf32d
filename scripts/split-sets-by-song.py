#!/usr/bin/env python3
"""Splits a folder of osu! sets into song-disjoint folds of symlinks (nothing is copied).

    scripts/split-sets-by-song.py SETS OUT --folds 3 --fold 0

writes OUT/train/ and OUT/test/, each holding links to whole set folders: the sets of fold
`--fold` (by song: artist + title from the first .osu of each set, so two sets of one song stay
together) in test/, the others in train/. For `mapflow bench real --sets OUT/test --train OUT/train`.
"""
import argparse
import hashlib
import os
import re
import sys


def song_key(set_dir):
    for name in sorted(os.listdir(set_dir)):
        if not name.lower().endswith(".osu"):
            continue
        fields = {}
        with open(os.path.join(set_dir, name), encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("Artist", "Title"):
                    fields[key.strip()] = value.strip()
        if fields:
            raw = f"{fields.get('Artist', '')} - {fields.get('Title', '')}".lower()
            return " ".join(w for w in re.split(r"[^0-9a-z]+", raw) if w)
    return os.path.basename(set_dir)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sets")
    p.add_argument("out")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--fold", type=int, default=0)
    a = p.parse_args()
    if not 0 <= a.fold < a.folds:
        sys.exit(f"--fold must be in 0..{a.folds - 1}")
    sets = sorted(d for d in os.listdir(a.sets) if os.path.isdir(os.path.join(a.sets, d)))
    songs = sorted({song_key(os.path.join(a.sets, d)) for d in sets},
                   key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    fold_of = {k: i % a.folds for i, k in enumerate(songs)}
    for side in ("train", "test"):
        os.makedirs(os.path.join(a.out, side), exist_ok=True)
    counts = {"train": 0, "test": 0}
    for d in sets:
        side = "test" if fold_of[song_key(os.path.join(a.sets, d))] == a.fold else "train"
        link = os.path.join(a.out, side, d)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(os.path.join(a.sets, d)), link)
        counts[side] += 1
    print(f"{counts['train']} sets in {a.out}/train, {counts['test']} in {a.out}/test "
          f"({len(songs)} songs, fold {a.fold} of {a.folds})")


if __name__ == "__main__":
    main()
