#!/bin/sh
# Rate-distortion benchmark (see bench/run.py --help): builds gsz, installs the pinned peer encoder when
# node is present, and runs every scene. Results: bench/out/results.md, results.json, rd-*.png.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
sh bench/install-peers.sh || echo "bench: peers unavailable (no node/npm)"
exec python3 bench/run.py "$@"
