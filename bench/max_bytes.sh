#!/bin/sh
# --max-bytes against pruning alone, side by side: for each case, the preset's file with --prune F
# (pruning alone to some size), then --max-bytes at that file's size (the search over mixed presets).
# Fidelity by `gsz compare` (24 generated views at 1280x720, the reference renders cached):
#   sh bench/max_bytes.sh [-b GSZ] "SCENE.ply[:cameras.json] PRESET F" ...
# Prints one Markdown table row per case.
set -u
B=build/gsz
while getopts b: o; do
    case $o in b) B=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-b gsz] \"SCENE.ply[:cameras.json] PRESET F\" ..." >&2; exit 2; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
REFS=bench/cache/refs
mkdir -p "$REFS"
psnr() { "$B" compare "$1" "$2" --ref-cache "$REFS" --json | python3 -c 'import json,sys; print("%.2f" % float(json.load(sys.stdin)["mean_psnr"]))'; }
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])' "$1" "$2"; }
echo "| scene | preset | pruned alone: --prune F | bytes | PSNR dB | --max-bytes (that size) | bytes | PSNR dB | level | encodes | seconds |"
echo "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
for c in "$@"; do
    set -- $c
    arg=$1 preset=$2 f=$3
    ply=${arg%%:*}
    cams=""
    [ "$ply" != "$arg" ] && cams="--cameras ${arg#*:}"
    # shellcheck disable=SC2086
    "$B" compress "$ply" -o "$W/p.gsz" --preset "$preset" --prune "$f" $cams -q || exit 1
    cap=$(stat -c %s "$W/p.gsz")
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$B" compress "$ply" -o "$W/m.gsz" --preset "$preset" --max-bytes "$cap" $cams -q --json >"$W/m.json" || exit 1
    t1=$(date +%s.%N)
    echo "| $(basename "$ply") | $preset | $f | $cap | $(psnr "$ply" "$W/p.gsz") | $cap | $(stat -c %s "$W/m.gsz") | $(psnr "$ply" "$W/m.gsz") |" \
         "$(field "$W/m.json" budget_level) | $(field "$W/m.json" budget_encodes) | $(python3 -c "print('%.1f' % ($t1 - $t0))") |"
done
