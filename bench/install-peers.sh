#!/bin/sh
# Installs the pinned peer encoder (@playcanvas/splat-transform, bench/package.json) into bench/node_modules.
set -eu
cd "$(dirname "$0")"
command -v npm >/dev/null 2>&1 || { echo "install-peers: npm not found"; exit 1; }
[ -x node_modules/.bin/splat-transform ] && exit 0
npm install --no-audit --no-fund --silent
