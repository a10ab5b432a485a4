#!/bin/sh
# Runs every test: installs what is missing, builds (Release), runs ctest, then the sanitizer build
# (ASan + UBSan + float-cast-overflow) of the same tests and the libFuzzer harnesses (the decoders, the
# encoder) for a bounded time.
#   GSZ_FUZZ_SECONDS  seconds per fuzzer (default 45; 0 skips fuzzing)
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
JOBS=$(nproc 2>/dev/null || echo 2)

echo "== build (Release) and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"
ctest --test-dir build --output-on-failure -j "$JOBS"

echo "== sanitizer build (clang, ASan + UBSan + float-cast-overflow, fuzz harnesses) and tests"
CC=clang cmake -S . -B build-fuzz -DGSZ_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-fuzz --output-on-failure -j "$JOBS"

SECS=${GSZ_FUZZ_SECONDS:-45}
if [ "$SECS" -gt 0 ]; then
    echo "== fuzzing ${SECS}s per harness"
    C=build-fuzz/corpus
    mkdir -p "$C/ply" "$C/gsz" "$C/codebook" "$C/cameras"
    ./build/gsz synth 40 --sh 1 -o "$C/ply/seed.ply" -q
    ./build/gsz synth 40 --sh 0 -o "$C/ply/seed.splat" -q # fuzz_ply also reads every input as a .splat
    ./build/gsz compress "$C/ply/seed.ply" -o "$C/gsz/seed.gsz" -q --views 4
    ./build/gsz compress "$C/ply/seed.ply" -o "$C/gsz/seed-high.gsz" -q --views 4 --preset high --refine 0 # transform-coded SH, zeros split off (encoding 3)
    ./build/gsz synth 400 --sh 1 --palette 4 -o "$C/palette.ply" -q
    ./build/gsz compress "$C/palette.ply" -o "$C/gsz/seed-table.gsz" -q --preset max # value tables, an SH palette
    ./build/gsz synth 300 --sh 1 --lattice -o "$C/lattice.ply" -q
    ./build/gsz compress "$C/lattice.ply" -o "$C/gsz/seed-lattice.gsz" -q --preset max # compressed.ply's lattice
    /usr/bin/python3 - "$C/gsz/seed-lattice.gsz" <<'PY' # the same with its colour words as lattice.color.diff (24)
import struct, sys, xxhash
b = bytearray(open(sys.argv[1], "rb").read())
nsec = struct.unpack_from("<H", b, 26)[0]
for i in range(nsec):
    if struct.unpack_from("<I", b, 64 + 40 * i)[0] == 21:
        struct.pack_into("<I", b, 64 + 40 * i, 24)
struct.pack_into("<Q", b, 56, xxhash.xxh64(bytes(b[:56] + b[64:64 + 40 * nsec]), seed=0).intdigest())
open(sys.argv[1].replace(".gsz", "-diff.gsz"), "wb").write(b)
PY
    ./build/gsz synth 400 --sh 1 --background 0.5 -o "$C/unbounded.ply" -q
    ./build/gsz compress "$C/unbounded.ply" -o "$C/gsz/seed-warp.gsz" -q --views 4 --refine 0 --pos-bits 8 # a warped grid, through its table
    # codebooks with their planes differenced (encodings 5 and 6: ranges, a value table), colour-sized
    /usr/bin/python3 - "$C/codebook" <<'PY'
import struct, sys
planes = bytes((7 * i) % 256 for i in range(24))
open(sys.argv[1] + "/seed5", "wb").write(bytes([2]) + struct.pack("<IHBB3f3f", 8, 3, 8, 5, -1, 0, 0, 1, 2, 0.5) + planes)
open(sys.argv[1] + "/seed6", "wb").write(bytes([2]) + struct.pack("<IHBBH4f", 8, 3, 8, 6, 4, -1, 0, 0.25, 3) + bytes(8) + bytes(i % 4 for i in range(8)) + bytes(8))
PY
    # a compressed.ply (chunk ranges, packed words, 8-bit SH), random but well-formed
    /usr/bin/python3 - "$C/ply/seed-compressed.ply" <<'PY'
import random, struct, sys
random.seed(7)
n, names = 300, ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z", "min_scale_x", "min_scale_y", "min_scale_z",
                 "max_scale_x", "max_scale_y", "max_scale_z", "min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
head = "ply\nformat binary_little_endian 1.0\nelement chunk 2\n" + "".join("property float %s\n" % p for p in names)
head += "element vertex %d\n" % n + "".join("property uint packed_%s\n" % p for p in ("position", "rotation", "scale", "color"))
head += "element sh %d\n" % n + "".join("property uchar f_rest_%d\n" % k for k in range(9)) + "end_header\n"
body = b"".join(struct.pack("<18f", *[-1, -1, -1, 1, 1, 1, -6, -6, -6, -2, -2, -2, 0, 0, 0, 1, 1, 1]) for _ in range(2))
body += b"".join(struct.pack("<4I", *[random.getrandbits(32) for _ in range(4)]) for _ in range(n))
body += bytes(random.getrandbits(8) for _ in range(9 * n))
open(sys.argv[1], "wb").write(head.encode() + body)
PY
    # a harness's exit status is the test's (a pipe into tail would hide a crash from sh, which has no pipefail)
    fuzz() {
        h=$1; shift
        if ! ./build-fuzz/tests/fuzz_$h -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$C/" "$@" > "$C/$h.log" 2>&1; then
            tail -40 "$C/$h.log"
            echo "fuzz_$h failed (its input is in $C/)"
            exit 1
        fi
        tail -3 "$C/$h.log"
    }
    # .spz seeds for the scene readers' fuzzer: 40 Gaussians with SH degree 1 as version 3 (one gzip
    # stream) and version 4 (a table and a zstd frame per array)
    /usr/bin/python3 - "$C/ply" <<'PY'
import gzip, random, struct, sys, zstd
random.seed(5)
n = 40
arrays = [bytes(random.getrandbits(8) for _ in range(n * k)) for k in (9, 1, 3, 3, 4, 9)]
head = lambda v: struct.pack("<IIIBBBB", 0x5053474E, v, n, 1, 12, 0, 0)
open(sys.argv[1] + "/seed3.spz", "wb").write(gzip.compress(head(3) + b"".join(arrays)))
frames = [zstd.compress(a, 3) for a in arrays]
v4 = head(4)[:15] + bytes([6]) + struct.pack("<I12x", 32) + b"".join(struct.pack("<QQ", len(f), len(a)) for f, a in zip(frames, arrays))
open(sys.argv[1] + "/seed4.spz", "wb").write(v4 + b"".join(frames))
PY
    # cameras.json: two well-formed cameras as the seed (the training run's file too where ../shared has it)
    printf '[{"id":0,"img_name":"a","width":800,"height":600,"position":[0.5,-1,3],"rotation":[[1,0,0],[0,0.6,-0.8],[0,0.8,0.6]],"fy":700,"fx":700},{"id":1,"img_name":"b","width":64,"height":64,"position":[0,0,-4],"rotation":[[0,-1,0],[1,0,0],[0,0,1]],"fy":50,"fx":50}]' >"$C/cameras/seed.json"
    [ -f ../shared/scenes/playbot-trained.cameras.json ] && cp ../shared/scenes/playbot-trained.cameras.json "$C/cameras/"
    # the encoder on arbitrary scenes through the library: it must refuse, or write a file that decodes
    # and that two threads write alike. Seeds: 20 plain Gaussians for each preset and SH degree, half of
    # them with fine-tuning, half checked on two threads, half with 8 geometry entries (fine-tuning
    # reassigns them), four more with a --max-bytes cap (a last byte)
    mkdir -p "$C/encode"
    /usr/bin/python3 - "$C/encode" <<'PY'
import random, struct, sys
random.seed(3)
for k in range(12):
    deg, vals = k % 4, []
    for i in range(20):
        vals += [random.gauss(0, 1) for _ in range(6)] + [random.gauss(0, 0.2) for _ in range(3 * ((deg + 1) ** 2 - 1))]
        vals += [random.uniform(-2, 4)] + [random.gauss(-3, 0.5) for _ in range(3)] + [1, 0, 0, 0]
    flags = k % 4 | deg << 2 | (k // 4 & 1) << 4 | (k % 2) << 6 | (k >= 8) << 7  # preset, degree, fine-tuning, two threads, cap
    cap = bytes([30 + 40 * (k - 8)]) if k >= 8 else bytes([k // 2 & 1 | k & 2])  # else: views around or inside, 8 geometry entries
    open("%s/seed%d" % (sys.argv[1], k), "wb").write(bytes([flags]) + struct.pack("<%df" % len(vals), *vals) + cap)
PY
    # each harness is one process on one core: $JOBS of them at a time (the oldest awaited first; they
    # all run for the same time)
    running=""
    await() { wait "$1" || { kill $running 2>/dev/null; exit 1; }; } # a failure stops the others too
    spawn() {
        fuzz "$@" &
        running="$running $!"
        set -- $running
        if [ $# -ge "$JOBS" ]; then
            await "$1"
            shift
            running="$*"
        fi
    }
    spawn ply -max_len=65536 "$C/ply"
    spawn gsz -max_len=65536 "$C/gsz"
    spawn codebook -max_len=8192 "$C/codebook" # the codebook decoder on its own: no zstd frame in the way
    spawn cameras -max_len=65536 "$C/cameras"
    spawn encode -max_len=65536 "$C/encode"
    for p in $running; do await "$p"; done
fi
echo "all tests passed"
