#!/bin/sh
# Byte-identical output whatever the thread count, on real scenes and many cores (the unit test checks
# 1 against 2 threads on a synthetic scene; this runs where more cores are, e.g. the GPU machine's 16):
#   sh bench/determinism.sh [-b GSZ] [-t "1 2 3 8 16"] [-p "max high balanced small"] SCENE.ply[:cameras.json] ...
# Each preset's file for each thread count is compared with the first; prints one line per scene and
# preset with the file's hash and encode times, exits 1 on any difference.
set -u
B=build/gsz
THREADS="1 2 3 $(nproc 2>/dev/null || echo 4)"
PRESETS="max high balanced small"
while getopts b:t:p: o; do
    case $o in b) B=$OPTARG ;; t) THREADS=$OPTARG ;; p) PRESETS=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-b gsz] [-t threads] [-p presets] SCENE.ply[:cameras.json] ..." >&2; exit 2; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
bad=0
for arg in "$@"; do
    ply=${arg%%:*}
    cams=""
    [ "$ply" != "$arg" ] && cams="--cameras ${arg#*:}"
    for p in $PRESETS; do
        ref="" line="$(basename "$ply") $p:"
        for t in $THREADS; do
            t0=$(date +%s.%N)
            # shellcheck disable=SC2086
            if ! "$B" compress "$ply" -o "$W/$t.gsz" --preset "$p" $cams -j "$t" -q; then
                echo "$line compress failed at -j $t"; bad=1; continue
            fi
            t1=$(date +%s.%N)
            line="$line -j $t $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"
            if [ -z "$ref" ]; then ref=$t; continue; fi
            if ! cmp -s "$W/$ref.gsz" "$W/$t.gsz"; then line="$line DIFFERS"; bad=1; fi
        done
        echo "$line; $(stat -c %s "$W/$ref.gsz") bytes, sha256 $(sha256sum "$W/$ref.gsz" | cut -c1-16)"
    done
done
[ $bad -eq 0 ] && echo "identical for every thread count" || echo "DIFFERENCES FOUND"
exit $bad
