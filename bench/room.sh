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
psnr() { f=$1; shift; "$B" compare "$W/room.ply" "$f" -j 2 --json "$@" | python3 -c 'import json,sys; print("%.2f" % float(json.load(sys.stdin)["mean_psnr"]))'; }
bpg() { python3 -c "print('%.2f' % ($(stat -c %s "$1") / $N))"; }
timed() { t0=$(date +%s.%N); "$@" || exit 1; t1=$(date +%s.%N); secs=$(python3 -c "print('%.1f' % ($t1 - $t0))"); }
row() { # name file (secs: its encode's)
    echo "| $1 | $(stat -c %s "$2") | $(bpg "$2") | $(psnr "$2" --placement inside) | $(psnr "$2" --placement around) | $secs |"
}
echo "| room $N Gaussians, SH $D | bytes | B/Gaussian | PSNR inside, dB | PSNR around, dB | encode s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for preset in max high balanced small; do
    for place in around inside; do
        timed "$B" compress "$W/room.ply" -o "$W/$preset-$place.gsz" --preset "$preset" --placement "$place" -q
        row "gsz $preset, views $place" "$W/$preset-$place.gsz"
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
    f=$W/cam-$place.gsz
    timed "$B" compress "$W/room.ply" -o "$f" --cameras "$W/walk.json" --placement "$place" -q
    echo "| gsz balanced, --cameras (32 inside), placement $place | $(stat -c %s "$f") | $(bpg "$f") | $(psnr "$f" --cameras "$W/walk.json") (its cameras) | | $secs |"
done
ST=bench/node_modules/.bin/splat-transform
if [ -x "$ST" ]; then
    timed "$ST" -q -w "$W/room.ply" "$W/room.spz"
    row "SPZ (splat-transform)" "$W/room.spz"
fi
