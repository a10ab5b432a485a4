#!/bin/sh
# The main job end to end: installs what is missing, builds, makes the bundled demo scene (a synthetic
# SH3 scene from scenes/ — generated, not stored), compresses it, reports size and fidelity, decodes
# it to a standard PLY, and shows it: in gszview when a display exists, else as a headless screenshot.
#   demo.sh [SCENE.ply]   use your own scene instead of the bundled one
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
OUT=build/demo
mkdir -p "$OUT"
SCENE=${1:-}
if [ -z "$SCENE" ]; then
    SCENE=$OUT/demo-scene.ply
    [ -f "$SCENE" ] || ./build/gsz synth 200000 --sh 3 --seed 1 -o "$SCENE"
fi
echo "== compress, decode, and measure fidelity (24 generated views, 1280x720)"
./build/gsz bench "$SCENE" --keep "$OUT/demo.gsz"
./build/gsz decompress "$OUT/demo.gsz" -o "$OUT/demo-decoded.ply"
./build/gsz info "$OUT/demo.gsz" | tail -n +2
if [ -x build/viewer/gszview ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    ./build/viewer/gszview "$OUT/demo.gsz"
elif ./build/viewer/gszview-headless --screenshot "$OUT/demo.png" --view 16 --size 1280x720 "$OUT/demo.gsz" 2>/dev/null; then
    echo "no display: wrote a headless OpenGL screenshot to $OUT/demo.png"
else
    ./build/gsz render "$OUT/demo.gsz" --view 16 --size 1280x720 -o "$OUT/demo.png" -q
    echo "no display and no OpenGL: wrote a CPU-rendered screenshot to $OUT/demo.png"
fi
