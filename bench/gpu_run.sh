#!/bin/sh
# Frame-rate benchmark on the GPU machine (docs/BENCHMARKS.md records the results); bench/gpu_prepare.sh
# makes what it needs here first. Run from the repo
# root there, with .gl/ (the GL loader .debs, device README's recipe) and .devrun/ (bin/gsz,
# bin/gszview-headless built here, lib/ with their non-GL libraries, and the .gsz scenes) carried.
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export LD_LIBRARY_PATH="$PWD/.devrun/lib"
B=.devrun/bin
O=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
run() { name=$1; shift; echo "== $name: $*"; "$@" >"$O/$name.json" 2>"$O/$name.err"; echo "rc=$?"; cat "$O/$name.json"; tail -3 "$O/$name.err"; }
run playbot500k $B/gszview-headless --headless --size 1920x1080 --frames 300 --json .devrun/playbot-500k.gsz
# the default preset's file (balanced: 340K splats after pruning), what a user opens most
[ -f .devrun/playbot-balanced.gsz ] && run playbot_balanced $B/gszview-headless --headless --size 1920x1080 --frames 300 --json .devrun/playbot-balanced.gsz
# an unbounded capture: a sky dome of splats each covering much of the frame, and a distant background
[ -f .devrun/unbounded-balanced.gsz ] && run unbounded_balanced $B/gszview-headless --headless --size 1920x1080 --frames 300 --json .devrun/unbounded-balanced.gsz
# an indoor scene from inside (splats close to the camera, walls all around) and, for scale, its orbit
[ -f .devrun/room-1m.gsz ] && run room_inside $B/gszview-headless --headless --size 1920x1080 --frames 300 --path inside --json .devrun/room-1m.gsz
[ -f .devrun/room-1m.gsz ] && run room_orbit $B/gszview-headless --headless --size 1920x1080 --frames 300 --json .devrun/room-1m.gsz
$B/gsz synth 3000000 --sh 3 --seed 1 -o /tmp/s3m.ply -q
run synth3m_ply $B/gszview-headless --headless --size 1920x1080 --frames 200 --json /tmp/s3m.ply
t0=$(date +%s.%N)
run open1m $B/gszview-headless --headless --size 1920x1080 --frames 1 --json .devrun/synth-1m.gsz
t1=$(date +%s.%N)
echo "launch to exit after the first frames (1M .gsz): $(echo "$t1 - $t0" | bc 2>/dev/null || python3 -c "print($t1-$t0)") s"
run synth1m_gsz $B/gszview-headless --headless --size 1920x1080 --frames 200 --json .devrun/synth-1m.gsz
if [ -n "${GSZV_PROFILE_RUN:-}" ]; then # stage split of the compute path (glFinish between stages)
    GSZV_PROFILE=1 $B/gszview-headless --headless --renderer compute --size 1920x1080 --frames 100 /tmp/s3m.ply 2>&1 | grep "^preprocess" | tail -1
fi
