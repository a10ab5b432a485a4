#!/bin/sh
# Indoor scenes: the presets with views generated around the scene (the default) and inside it
# (--placement inside), side by side on a synthetic room (`gsz synth N --sh D --room`: walls, floor and
# ceiling closed around furniture), with SPZ (splat-transform) where it is installed. Fidelity by
# `gsz compare` (24 views at 1280x720) placed inside, as an indoor capture is seen, and around; then
# with training cameras standing inside, the generated measuring views around and inside:
#   sh bench/room.sh [-b GSZ] [-n COUNT] [-d SH_DEGREE]
# Prints one Markdown table row per encode.
set -u
B=build/gsz N=100000 D=3
while getopts b:n:d: o; do
    case $o in b) B=$OPTARG ;; n) N=$OPTARG ;; d) D=$OPTARG ;; *) exit 2 ;; esac
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$B" synth "$N" --sh "$D" --room -o "$W/room.ply" -q || exit 1
psnr() { "$B" compare "$W/room.ply" "$1" --placement "$2" -j 2 --json | python3 -c 'import json,sys; print("%.2f" % float(json.load(sys.stdin)["mean_psnr"]))'; }
row() { # name file seconds
    b=$(stat -c %s "$2")
    echo "| $1 | $b | $(python3 -c "print('%.2f' % ($b / $N))") | $(psnr "$2" inside) | $(psnr "$2" around) | $3 |"
}
echo "| room $N Gaussians, SH $D | bytes | B/Gaussian | PSNR inside, dB | PSNR around, dB | encode s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for preset in max high balanced small; do
    for place in around inside; do
        t0=$(date +%s.%N)
        "$B" compress "$W/room.ply" -o "$W/$preset-$place.gsz" --preset "$preset" --placement "$place" -q || exit 1
        t1=$(date +%s.%N)
        row "gsz $preset, views $place" "$W/$preset-$place.gsz" "$(python3 -c "print('%.1f' % ($t1 - $t0))")"
    done
done
# with training cameras: 32 walking through the room at eye height, looking about; the views compress
# generates for its measures (target pruning) around (the default) or inside, measured on those cameras
python3 - "$W/walk.json" <<'PY'
import json, math, random, sys
random.seed(11)
cams = []
for i in range(32):
    eye = [random.uniform(-3, 3), 0.2 + random.uniform(-0.3, 0.3), random.uniform(-4, 4)]
    yaw, tilt = random.uniform(0, 2 * math.pi), random.uniform(0, 0.3)
    f = [math.sin(yaw), tilt, math.cos(yaw)]
    n = math.sqrt(sum(x * x for x in f)); f = [x / n for x in f]
    r = [-f[2], 0.0, f[0]]  # forward x up (0, -1, 0)
    n = math.sqrt(sum(x * x for x in r)); r = [x / n for x in r]
    d = [f[1] * r[2] - f[2] * r[1], f[2] * r[0] - f[0] * r[2], f[0] * r[1] - f[1] * r[0]]
    cams.append({"id": i, "img_name": "walk%02d" % i, "width": 800, "height": 600, "position": eye,
                 "rotation": [[r[k], d[k], f[k]] for k in range(3)], "fx": 500.0, "fy": 500.0})
json.dump(cams, open(sys.argv[1], "w"))
PY
for place in around inside; do
    t0=$(date +%s.%N)
    "$B" compress "$W/room.ply" -o "$W/cam-$place.gsz" --cameras "$W/walk.json" --placement "$place" -q || exit 1
    t1=$(date +%s.%N)
    b=$(stat -c %s "$W/cam-$place.gsz")
    q=$("$B" compare "$W/room.ply" "$W/cam-$place.gsz" --cameras "$W/walk.json" -j 2 --json | python3 -c 'import json,sys; print("%.2f" % float(json.load(sys.stdin)["mean_psnr"]))')
    echo "| gsz balanced, --cameras (32 inside), placement $place | $b | $(python3 -c "print('%.2f' % ($b / $N))") | $q (its cameras) | | $(python3 -c "print('%.1f' % ($t1 - $t0))") |"
done
ST=bench/node_modules/.bin/splat-transform
if [ -x "$ST" ]; then
    t0=$(date +%s.%N)
    "$ST" -w "$W/room.ply" "$W/room.spz" >/dev/null 2>&1 || exit 1
    t1=$(date +%s.%N)
    row "SPZ (splat-transform)" "$W/room.spz" "$(python3 -c "print('%.1f' % ($t1 - $t0))")"
fi
