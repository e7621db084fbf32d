#!/usr/bin/env bash
# Regenerates the codec fixtures from one deterministic 2 s stereo 48 kHz signal: a quiet 440 Hz
# tone with a sharp click every 0.5 s starting at 0.25 s (the clicks let tests check alignment).
# Plus a stereo song whose channels differ (left: a 440 Hz tone; right: the clicks over a 660 Hz
# tone), kept stereo in Opus: checks that a stereo stream decodes to the mean of its channels.
# Needs python3, sox, flac, opusenc (opus-tools), oggenc (vorbis-tools), lame.
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import math, struct, wave
sr, n = 48000, 96000
mono, stereo = bytearray(), bytearray()
pcm = lambda *vs: struct.pack('<hh', *(max(-32768, min(32767, int(round(v * 32767)))) for v in vs))
for i in range(n):
    t = i / sr
    click = 0.0
    k = (i - 12000) % 24000          # clicks at 0.25, 0.75, 1.25, 1.75 s
    if i >= 12000 and k < 48:
        click = 0.7 * math.exp(-k / 8.0) * (1 if k % 2 == 0 else -1)
    v = 0.2 * math.sin(2 * math.pi * 440 * t) + click
    mono += pcm(v, v)
    stereo += pcm(0.3 * math.sin(2 * math.pi * 440 * t), 0.2 * math.sin(2 * math.pi * 660 * t) + click)
for name, frames in [('clicks-s16.wav', mono), ('stereo-s16.wav', stereo)]:
    with wave.open(name, 'wb') as w:
        w.setnchannels(2); w.setsampwidth(2); w.setframerate(sr); w.writeframes(bytes(frames))
PY
sox clicks-s16.wav -e floating-point -b 32 clicks-f32.wav
flac --silent --force -o clicks.flac clicks-s16.wav
opusenc --quiet --bitrate 64 --downmix-mono clicks-s16.wav clicks.opus
oggenc --quiet -q 4 -o clicks.ogg clicks-s16.wav
lame --quiet -b 192 clicks-s16.wav clicks.mp3
sox clicks-s16.wav -r 44100 clicks-44k-s16.wav
lame --quiet -b 128 clicks-44k-s16.wav clicks-44k.mp3
rm clicks-44k-s16.wav
flac --silent --force -o stereo.flac stereo-s16.wav
opusenc --quiet --bitrate 128 stereo-s16.wav stereo.opus
rm stereo-s16.wav
