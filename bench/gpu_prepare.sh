#!/bin/sh
# Prepares what bench/gpu_run.sh needs on the GPU machine (which has no package registry and no GLFW):
#   .gl/      the GL loader .debs (the device README's recipe)
#   .devrun/  bin/gsz and bin/gszview-headless from build/, their non-GL libraries, and the scenes:
#             playbot-500k.gsz (playbot.ply, --preset high --prune 0: all 500K splats), playbot-balanced.gsz
#             (the default preset), synth-1m.gsz (balanced codebooks, nothing pruned: 1M splats), room-1m.gsz
#             (a synthetic 1M room, balanced with --placement inside) and, where bench/unbounded.py has run,
#             unbounded-balanced.gsz (its composite, balanced)
# Both folders are git-ignored (.git/info/exclude); carry them: run(carry=[".gl", ".devrun"]).
set -eu
cd "$(dirname "$0")/.."
grep -qx "/.gl/" .git/info/exclude 2>/dev/null || printf "/.gl/\n/.devrun/\n" >> .git/info/exclude
if [ ! -d .gl ]; then
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update -qq
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
mkdir -p .devrun/bin .devrun/lib
cp build/gsz build/viewer/gszview-headless .devrun/bin/
for l in libcjson.so.1 libxxhash.so.0 libzstd.so.1 libpng16.so.16; do cp -L "/lib/x86_64-linux-gnu/$l" .devrun/lib/; done
[ -f .devrun/playbot-500k.gsz ] || ./build/gsz compress ../shared/scenes/playbot.ply -o .devrun/playbot-500k.gsz --preset high --prune 0 -q
[ -f .devrun/playbot-balanced.gsz ] || ./build/gsz compress ../shared/scenes/playbot.ply -o .devrun/playbot-balanced.gsz -q
if [ ! -f .devrun/synth-1m.gsz ]; then
    ./build/gsz synth 1000000 --sh 3 -o /tmp/gsz-synth-1m.ply -q
    ./build/gsz compress /tmp/gsz-synth-1m.ply -o .devrun/synth-1m.gsz --prune 0 --target-psnr 0 -q # all 1M splats
fi
# an indoor scene (a synthetic 1M SH3 room, balanced with its views inside), seen from inside
if [ ! -f .devrun/room-1m.gsz ]; then
    ./build/gsz synth 1000000 --sh 3 --room -o /tmp/gsz-room-1m.ply -q
    ./build/gsz compress /tmp/gsz-room-1m.ply -o .devrun/room-1m.gsz --placement inside -q
fi
# an unbounded capture (bench/unbounded.py's composite, balanced), where it was built
[ -f bench/out/unbounded/balanced.gsz ] && cp bench/out/unbounded/balanced.gsz .devrun/unbounded-balanced.gsz
du -sh .gl .devrun
