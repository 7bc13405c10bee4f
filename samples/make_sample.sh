#!/usr/bin/env bash
# Rebuilds samples/meeting.mp4 from samples/meeting.json: three espeak-ng passages with
# 1 s lead-in, 2 s pauses between passages and a 1 s tail, over a plain H.264 video track.
# Needs espeak-ng and python3 with kscribe installed (for the bundled ffmpeg).
set -euo pipefail
cd "$(dirname "$0")"
ff=$(python3 -c "import kscribe.media.ffmpeg_bin as f; print(f.ffmpeg_executable())")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import json, sys
for i, p in enumerate(json.load(open("meeting.json"))["passages"], 1):
    open(f"{sys.argv[1]}/p{i}.txt", "w").write(p["text"] + "\n")
PY
for i in 1 2 3; do espeak-ng -v en-us -s 150 -w "$tmp/p$i.wav" -f "$tmp/p$i.txt"; done
sil() { echo "-f lavfi -t $1 -i anullsrc=r=22050:cl=mono"; }
$ff -hide_banner -loglevel error -y $(sil 1) -i "$tmp/p1.wav" $(sil 2) -i "$tmp/p2.wav" $(sil 2) -i "$tmp/p3.wav" $(sil 1) \
  -filter_complex "concat=n=7:v=0:a=1[a]" -map "[a]" "$tmp/speech.wav"
$ff -hide_banner -loglevel error -y -f lavfi -i "color=c=0x203040:s=320x180:r=10" -i "$tmp/speech.wav" -t 30.77 \
  -map 0:v -map 1:a -c:v libx264 -preset veryslow -crf 35 -pix_fmt yuv420p \
  -c:a aac -b:a 48k -ac 1 -ar 22050 -movflags +faststart meeting.mp4
