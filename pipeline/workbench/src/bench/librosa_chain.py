"""librosa's feature chain, timed per stage on one core (baseline of `mapflow bench features`).

    python librosa_chain.py AUDIO REPEAT   ->  one JSON line of best-of-REPEAT seconds per stage
"""
import json
import sys
import time

import numpy as np
import librosa

path, repeat = sys.argv[1], int(sys.argv[2])
best = {}


def timed(name, fn):
    start = time.perf_counter()
    out = fn()
    best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    return out


for _ in range(repeat):
    y, sr = timed("load", lambda: librosa.load(path, sr=None, mono=True))
    y22 = timed("resample", lambda: librosa.resample(y, orig_sr=sr, target_sr=22050, res_type="soxr_hq"))
    mel = timed("melspectrogram", lambda: librosa.feature.melspectrogram(
        y=y22, sr=22050, n_fft=2048, hop_length=441, n_mels=128))
    timed("onset", lambda: librosa.onset.onset_strength(
        S=librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0), sr=22050, aggregate=np.mean))
best["seconds"] = len(y) / sr
best["librosa"] = librosa.__version__
print(json.dumps(best))
