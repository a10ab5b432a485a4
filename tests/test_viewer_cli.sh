#!/bin/sh
# gszview exits cleanly with a message on a missing file, a corrupt .gsz, no GL context or bad options; a headless
# benchmark run prints its JSON.
set -u
V=${GSZVIEW:?}
G=${GSZ:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
$V --headless "$T/missing.gsz" 2>"$T/err"; [ $? -ne 0 ] || fail "missing file accepted"
grep -q "missing.gsz" "$T/err" || fail "no message naming the file: $(cat "$T/err")"
$G synth 2000 --sh 2 -o "$T/s.ply" -q && $G compress "$T/s.ply" -o "$T/s.gsz" -q --views 4 || fail "setup"
head -c 300 "$T/s.gsz" >"$T/bad.gsz"
$V --headless --frames 2 "$T/bad.gsz" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "corrupt .gsz: exit $rc"
grep -q "bad.gsz" "$T/err" || grep -q "OpenGL" "$T/err" || fail "no message: $(cat "$T/err")"
$V --bogus 2>/dev/null; [ $? -eq 2 ] || fail "bad option not refused"
[ "$($V --version)" = "gszview $($G --version | cut -d' ' -f2)" ] || fail "--version: $($V --version)"
# values out of range are refused with what the option takes (--view -1 once read cams[-1])
$V --screenshot "$T/x.png" --view -1 "$T/s.ply" 2>"$T/err"; [ $? -eq 2 ] || fail "--view -1 not refused"
grep -q "whole number from 0" "$T/err" || fail "no range for --view: $(cat "$T/err")"
$V --screenshot "$T/x.png" --views 4 --view 4 "$T/s.ply" 2>"$T/err"; [ $? -eq 2 ] || fail "--view past --views not refused"
$V --headless --frames x "$T/s.ply" 2>/dev/null; [ $? -eq 2 ] || fail "--frames x not refused"
# no GL context: glvnd finds no EGL vendor library
__EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent.json $V --headless --frames 2 "$T/s.ply" >/dev/null 2>"$T/err"; rc=$?
if [ $rc -eq 0 ]; then
    echo "SKIP no-GL check: this EGL loader is not glvnd (ignores __EGL_VENDOR_LIBRARY_FILENAMES)"
else
    [ $rc -lt 128 ] || fail "no GL context: exit $rc"
    grep -q "OpenGL" "$T/err" || fail "no GL context: no message: $(cat "$T/err")"
fi
if $V --headless --frames 3 --size 160x120 --json "$T/s.gsz" >"$T/out.json" 2>"$T/err"; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["frames"]==3 and d["raster"]["fps"]>0 and d["compute"]["fps"]>0 and d["gpu_bytes_per_splat"]>0' "$T/out.json" || fail "bad JSON"
else
    grep -q "OpenGL" "$T/err" && echo "SKIP: no OpenGL here: $(cat "$T/err")" || fail "headless run: $(cat "$T/err")"
fi
# a .splat opens too (the same loader as gsz's)
$G convert "$T/s.ply" -o "$T/s.splat" -q || fail "convert to .splat"
if $V --headless --frames 2 --size 160x120 --json "$T/s.splat" >"$T/out.json" 2>"$T/err"; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["frames"]==2' "$T/out.json" || fail "bad JSON for a .splat"
else
    grep -q "OpenGL" "$T/err" && echo "SKIP: no OpenGL here" || fail "headless run of a .splat: $(cat "$T/err")"
fi
# standard input ("-") and a pipe: the same image as the file (a .gsz and a PLY, told apart by their bytes)
if $V --screenshot "$T/f.png" --size 96x64 --view 2 "$T/s.gsz" -q 2>"$T/err"; then
    $V --screenshot "$T/in.png" --size 96x64 --view 2 - -q <"$T/s.gsz" || fail "screenshot of a .gsz from standard input"
    cat "$T/s.gsz" | $V --screenshot "$T/pipe.png" --size 96x64 --view 2 - -q || fail "screenshot of a .gsz from a pipe"
    cmp -s "$T/f.png" "$T/in.png" && cmp -s "$T/f.png" "$T/pipe.png" || fail "standard input renders another image"
    $V --screenshot "$T/p1.png" --size 96x64 --view 2 "$T/s.ply" -q && $V --screenshot "$T/p2.png" --size 96x64 --view 2 - -q <"$T/s.ply" || fail "a PLY from standard input"
    cmp -s "$T/p1.png" "$T/p2.png" || fail "a PLY from standard input renders another image"
    echo junk | $V --screenshot "$T/j.png" - 2>"$T/err"; [ $? -eq 1 ] || fail "junk on standard input accepted"
    grep -q "standard input" "$T/err" || fail "no message naming standard input: $(cat "$T/err")"
else
    grep -q "OpenGL" "$T/err" && echo "SKIP: no OpenGL here" || fail "screenshot: $(cat "$T/err")"
fi
# the headless benchmark through inside views (an indoor scene); an unknown path refused
$V --headless --frames 2 --path sideways "$T/s.ply" 2>/dev/null; [ $? -eq 2 ] || fail "bad --path accepted"
if $V --headless --frames 3 --size 96x64 --path inside --json "$T/s.ply" >"$T/out.json" 2>"$T/err"; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["path"] == "inside" and d["frames"] == 3 and d["raster"]["fps"] > 0, d' "$T/out.json" || fail "--path inside JSON"
else
    grep -q "OpenGL" "$T/err" && echo "SKIP: no OpenGL here" || fail "--path inside: $(cat "$T/err")"
fi
# --placement inside: the same view as gsz render's
$G synth 3000 --room -o "$T/room.ply" -q || fail "synth --room"
$V --screenshot "$T/x.png" --placement nowhere "$T/room.ply" 2>/dev/null; [ $? -eq 2 ] || fail "bad --placement accepted"
if $V --screenshot "$T/vi.png" --placement inside --view 2 --size 96x64 "$T/room.ply" -q 2>"$T/err"; then
    $G render "$T/room.ply" --placement inside --view 2 --size 96x64 -o "$T/ri.png" -q || fail "gsz render --placement inside"
    python3 - "$T/vi.png" "$T/ri.png" <<'PY' || fail "gszview and gsz render disagree on an inside view"
import sys, zlib, struct
def pixels(p):  # 8-bit RGB PNG rows, unfiltered
    d = open(p, 'rb').read(); i = 8; idat = b''
    w, h = struct.unpack('>II', d[16:24])
    while i < len(d):
        n, t = struct.unpack('>I4s', d[i:i + 8]); idat += d[i + 8:i + 8 + n] if t == b'IDAT' else b''; i += 12 + n
    raw, out, prev, bpp = zlib.decompress(idat), [], bytearray(3 * w), 3
    for y in range(h):
        f, row = raw[y * (3 * w + 1)], bytearray(raw[y * (3 * w + 1) + 1:(y + 1) * (3 * w + 1)])
        for x in range(3 * w):
            a = row[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
            row[x] = (row[x] + (0, a, b, (a + b) // 2, pr)[f]) & 255
        out += row; prev = row
    return out
a, b = pixels(sys.argv[1]), pixels(sys.argv[2])
assert len(a) == len(b)
mse = sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)
assert mse < 10, mse  # the GL path against the CPU reference: far apart only if the views differ
PY
else
    grep -q "OpenGL" "$T/err" && echo "SKIP: no OpenGL here" || fail "inside screenshot: $(cat "$T/err")"
fi
# a screenshot from a training camera: its own image size, or --size; a camera past the file's refused
printf '[{"width":64,"height":48,"fx":50,"fy":50,"position":[0,0,-5],"rotation":[[1,0,0],[0,1,0],[0,0,1]]},
{"width":40,"height":30,"fx":30,"fy":30,"position":[0,0,-5],"rotation":[[1,0,0],[0,1,0],[0,0,1]]}]' >"$T/cam.json"
if $V --screenshot "$T/c.png" --cameras "$T/cam.json" --view 1 "$T/s.ply" >"$T/out" 2>"$T/err"; then
    grep -q "view 1 (40x30" "$T/out" || fail "screenshot of camera 1: $(cat "$T/out")"
    $V --screenshot "$T/c.png" --cameras "$T/cam.json" --view 0 --size 32x24 "$T/s.ply" >"$T/out" || fail "screenshot of a resized camera"
    grep -q "view 0 (32x24" "$T/out" || fail "screenshot: --size ignored with --cameras: $(cat "$T/out")"
    $V --screenshot "$T/c.png" --cameras "$T/cam.json" --view 2 "$T/s.ply" 2>"$T/err"; [ $? -eq 1 ] || fail "camera 2 of 2 accepted"
    grep -q "out of range (2 cameras in" "$T/err" || fail "no message for camera 2 of 2: $(cat "$T/err")"
else
    grep -q "OpenGL" "$T/err" && echo "SKIP: no OpenGL here" || fail "screenshot of a training camera: $(cat "$T/err")"
fi
echo "viewer_cli: all checks passed"
