#!/bin/sh
# Installs every Debian package gsz needs to build, test and benchmark.
# Idempotent: installs only what is missing. Run as root (or with sudo on PATH).
set -eu
PKGS="build-essential cmake pkg-config git ca-certificates
libzstd-dev zlib1g-dev libxxhash-dev libcjson-dev libpng-dev libcmocka-dev
libglfw3-dev libcglm-dev python3-glad
libegl-dev libgl-dev libgles-dev libegl-mesa0 libgl1-mesa-dri
clang libclang-rt-14-dev gnuplot-nox
python3 python3-numpy python3-zstd python3-xxhash"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "gsz setup: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
