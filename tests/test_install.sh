#!/bin/sh
# cmake --install gives a usable library: docs/example.c builds against the installed gsz.h, libgsz.a
# and gsz.pc alone (pkg-config, a prefix chosen at install time) and round-trips a scene.
set -u
B=${BUILD:?set BUILD to the build directory}
S=${SRC:?set SRC to the source directory}
CC=${CC:-cc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cmake --install "$B" --prefix "$T/p" >"$T/log" 2>&1 || fail "install: $(cat "$T/log")"
PC=$(dirname "$(find "$T/p" -name gsz.pc | head -1)")
[ -f "$PC/gsz.pc" ] || fail "no gsz.pc installed"
[ -x "$T/p/bin/gsz" ] && [ -f "$T/p/include/gsz.h" ] || fail "gsz or gsz.h not installed"
FLAGS=$(PKG_CONFIG_PATH="$PC" pkg-config --cflags --libs gsz) || fail "pkg-config gsz"
# only the installed header: the source tree's include directories are not on the line
$CC -std=c11 -Wall -Wextra -Werror "$S/docs/example.c" $FLAGS -o "$T/example" 2>"$T/err" || fail "example does not build: $(cat "$T/err")"
"$T/p/bin/gsz" synth 3000 --sh 2 -o "$T/s.ply" -q || fail "installed gsz"
"$T/example" "$T/s.ply" "$T/s.gsz" >"$T/out" || fail "example: $(cat "$T/out")"
grep -q "3000 Gaussians -> " "$T/out" && grep -q "PSNR" "$T/out" || fail "example's report: $(cat "$T/out")"
"$T/p/bin/gsz" compress "$T/s.ply" -o "$T/cli.gsz" -q || fail "compress"
cmp -s "$T/s.gsz" "$T/cli.gsz" || fail "the library's default file differs from gsz compress's"
"$T/example" "$T/missing.ply" 2>"$T/err"; [ $? -eq 1 ] || fail "example on a missing file"
grep -q "missing.ply" "$T/err" || fail "no error naming the file: $(cat "$T/err")"
echo "install: all checks passed"
