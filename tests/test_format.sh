#!/bin/sh
# docs/FORMAT.md is enough to write a decoder: tests/format_reference.py (written from the document,
# Debian's python3 with zstd/xxhash/numpy) must decode our files exactly as gsz does.
set -eu
GSZ=${GSZ:?}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
D=$(dirname "$0")
for deg in 0 1 3; do
    $GSZ synth 4000 --sh $deg --seed $deg -o "$T/s.ply" -q
    $GSZ compress "$T/s.ply" -o "$T/s.gsz" -q --views 6
    $PY "$D/format_reference.py" "$GSZ" "$T/s.gsz" "$T"
done
$GSZ compress "$T/s.ply" -o "$T/h.gsz" -q --views 6 --preset high --pos-bits 21
$PY "$D/format_reference.py" "$GSZ" "$T/h.gsz" "$T"
# an unbounded scene: its positions on a warped grid (section 23)
$GSZ synth 3000 --sh 1 --seed 6 --background 0.5 -o "$T/u.ply" -q
$GSZ compress "$T/u.ply" -o "$T/u.gsz" -q --views 6 --preset max
$GSZ info "$T/u.gsz" | grep -q "unbounded scene"
$PY "$D/format_reference.py" "$GSZ" "$T/u.gsz" "$T"
# more Gaussians than grid points: gsz decodes through a per-axis table of the grid's positions
$GSZ compress "$T/u.ply" -o "$T/u.gsz" -q --views 6 --preset max --pos-bits 12
$PY "$D/format_reference.py" "$GSZ" "$T/u.gsz" "$T"
# a scene from a palette format: exact value tables (codebook encoding 2) in max and high
$GSZ synth 4000 --sh 3 --seed 4 --palette 200 -o "$T/p.ply" -q
for preset in max high; do
    $GSZ compress "$T/p.ply" -o "$T/p.gsz" -q --views 6 --preset $preset
    $PY "$D/format_reference.py" "$GSZ" "$T/p.gsz" "$T"
done
# a scene decoded from compressed.ply: its lattice (sections 18-22) in max
$GSZ synth 3000 --sh 1 --seed 5 --lattice -o "$T/l.ply" -q
$GSZ compress "$T/l.ply" -o "$T/l.gsz" -q --preset max
$PY "$D/format_reference.py" "$GSZ" "$T/l.gsz" "$T"
# captured scenes, whose colour channels move together: codebook encodings 5 and 6 (planes
# differenced) in max, a value table (playbot-small's palettes) and ranges (playbot-trained); biker's
# lattice colour words differenced (section 24)
S=${GSZ_SHARED_SCENES:-$D/../../shared/scenes}
for se in playbot-small:6 playbot-trained:5 biker:-; do
    scene=${se%:*}
    if [ -f "$S/$scene.ply" ]; then
        $GSZ compress "$S/$scene.ply" -o "$T/c.gsz" -q --preset max
        $PY "$D/format_reference.py" "$GSZ" "$T/c.gsz" "$T" | tee "$T/out"
        if [ "${se#*:}" = - ]; then $GSZ info "$T/c.gsz" | grep -q "lattice.color.diff"
        else grep -Eq "encodings [0-9, ]*${se#*:}" "$T/out"; fi
    else
        echo "SKIP: $S/$scene.ply not found (shared scenes absent)" >&2
    fi
done
