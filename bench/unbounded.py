#!/usr/bin/python3
"""Unbounded-capture benchmark: none of ../shared/scenes has a distant background (Mip-NeRF 360-style
captures do), so this builds one from them. playbot-trained.ply stays the subject; playbot-small, guitar
and biker, scaled 12-20x, stand 45-120 units away as background objects (their Gaussians 12-20x larger,
as training leaves distant ones), with a sky dome of 6000 large Gaussians at 300-500 units. 64 training-
style cameras orbit the subject at 3 units, looking at it, with the background behind it. Runs gsz's
presets (with those cameras) and SPZ (splat-transform, if installed by bench/install-peers.sh), and
compares each decoded scene with the input on 8 of the cameras at 640x640.

    /usr/bin/python3 bench/unbounded.py [--gsz BUILD/gsz] [--work DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENES = os.path.join(os.path.dirname(ROOT), "shared", "scenes")
ST = os.path.join(ROOT, "bench", "node_modules", ".bin", "splat-transform")


def read_ply(path):
    with open(path, "rb") as f:
        head = b""
        while not head.endswith(b"end_header\n"):
            head += f.readline()
        names = [l.split()[-1].decode() for l in head.split(b"\n") if l.startswith(b"property")]
        n = int([l for l in head.split(b"\n") if l.startswith(b"element vertex")][0].split()[-1])
        return head, names, np.frombuffer(f.read(), dtype="<f4").reshape(n, len(names))


def composite(out):
    head, fn, fg = read_ply(os.path.join(SCENES, "playbot-trained.ply"))
    parts = [fg.copy()]

    def col(names, a, k):
        return a[:, names.index(k)] if k in names else np.zeros(len(a), dtype="f4")

    def place(name, scale, dist, azim, lift):
        _, nm, a = read_ply(os.path.join(SCENES, name))
        b = np.zeros((len(a), len(fn)), dtype="f4")
        p = np.stack([col(nm, a, k) for k in "xyz"], 1)
        c, th = np.median(p, 0), azim
        rot = np.array([[np.cos(th), 0, np.sin(th)], [0, 1, 0], [-np.sin(th), 0, np.cos(th)]])
        p = (p - c) @ rot.T * scale + np.array([dist * np.sin(azim), lift, dist * np.cos(azim)])
        for i, k in enumerate("xyz"):
            b[:, fn.index(k)] = p[:, i]
        for k in range(3):
            b[:, fn.index("scale_%d" % k)] = col(nm, a, "scale_%d" % k) + np.log(scale)
            b[:, fn.index("f_dc_%d" % k)] = col(nm, a, "f_dc_%d" % k)
        qw, qy = np.cos(th / 2), np.sin(th / 2)  # the rotation about y, composed with each Gaussian's
        w, x, y, z = [col(nm, a, "rot_%d" % k) for k in range(4)]
        for k, v in enumerate([qw * w - qy * y, qw * x + qy * z, qw * y + qy * w, qw * z - qy * x]):
            b[:, fn.index("rot_%d" % k)] = v
        b[:, fn.index("opacity")] = col(nm, a, "opacity")
        nr = sum(1 for k in nm if k.startswith("f_rest")) // 3
        for ch in range(3):
            for j in range(nr):
                b[:, fn.index("f_rest_%d" % (ch * 15 + j))] = a[:, nm.index("f_rest_%d" % (ch * nr + j))]
        parts.append(b)

    place("playbot-small.ply", 12, 45, 0.5, -3)  # y is down in these scenes
    place("guitar.ply", 15, 80, 2.6, -6)
    place("biker.ply", 20, 120, 4.4, -6)
    rng = np.random.default_rng(5)
    m = 6000
    d = rng.normal(size=(m, 3))
    d[:, 1] = -np.abs(d[:, 1])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    b = np.zeros((m, len(fn)), dtype="f4")
    r = rng.uniform(300, 500, m)
    for i, k in enumerate("xyz"):
        b[:, fn.index(k)] = d[:, i] * r
    for k in range(3):
        b[:, fn.index("scale_%d" % k)] = np.log(25 + rng.uniform(0, 15, m))
    b[:, fn.index("rot_0")] = 1
    b[:, fn.index("opacity")] = 2
    up = -d[:, 1]
    for k, v in enumerate([0.2, 0.5, 1.2]):
        b[:, fn.index("f_dc_%d" % k)] = (v * up + 0.3 * (1 - up)) / 0.282 + rng.normal(0, 0.03, m) - 1.5
    parts.append(b)
    a = np.vstack(parts)
    with open(out, "wb") as f:
        f.write(head.replace(b"element vertex %d" % len(fg), b"element vertex %d" % len(a)))
        f.write(a.astype("<f4").tobytes())
    return len(a)


def cameras(out, n=64):
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n
        eye = np.array([3 * np.sin(a), -1.2 - 0.5 * np.sin(3 * a), 3 * np.cos(a)])
        fwd = np.array([0, -0.5, 0]) - eye
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0, -1.0, 0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        f = 0.5 * 800 / np.tan(np.radians(30))
        cams.append({"id": i, "img_name": "v%d" % i, "width": 800, "height": 800, "position": eye.tolist(),
                     "rotation": np.stack([right, down, fwd], 1).tolist(), "fy": f, "fx": f})
    json.dump(cams, open(out, "w"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gsz", default=os.path.join(ROOT, "build", "gsz"))
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "out", "unbounded"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    scene, cams = os.path.join(args.work, "unbounded.ply"), os.path.join(args.work, "unbounded.cameras.json")
    n = composite(scene)
    cameras(cams)

    def compare(test):
        out = subprocess.run([args.gsz, "compare", scene, test, "--cameras", cams, "--views", "8", "--size", "640x640", "--json", "-q"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["mean_psnr"]

    print(f"unbounded composite: {n} Gaussians, {os.path.getsize(scene)} bytes; 8 of 64 cameras at 640x640")
    print("| method | bytes | B/Gaussian | PSNR dB | encode s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for preset in ("max", "high", "balanced", "small"):
        out = os.path.join(args.work, preset + ".gsz")
        t = time.time()
        subprocess.run([args.gsz, "compress", scene, "-o", out, "-q", "--preset", preset, "--cameras", cams], check=True,
                       stderr=subprocess.DEVNULL)
        t = time.time() - t
        size = os.path.getsize(out)
        print(f"| gsz {preset} | {size:,} | {size / n:.2f} | {compare(out):.2f} | {t:.1f} |", flush=True)
    if os.access(ST, os.X_OK):
        spz, dec = os.path.join(args.work, "peer.spz"), os.path.join(args.work, "peer-spz.ply")
        t = time.time()
        subprocess.run([ST, scene, spz, "-w"], check=True, capture_output=True)
        t = time.time() - t
        subprocess.run([ST, spz, dec, "-w"], check=True, capture_output=True)
        size = os.path.getsize(spz)
        print(f"| SPZ | {size:,} | {size / n:.2f} | {compare(dec):.2f} | {t:.1f} |")
    else:
        print("(SPZ skipped: run bench/install-peers.sh)", file=sys.stderr)


if __name__ == "__main__":
    main()
