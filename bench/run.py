#!/usr/bin/env python3
"""Rate-distortion benchmark of gsz against the deployed splat formats (SPZ, SOG, compressed.ply).

For every scene: gsz presets, points between high and max (transform-coded SH and 12-bit positions on
the max preset; real scenes only) and the peers through @playcanvas/splat-transform (pinned in bench/package.json); for every result the
bytes, ratio, bytes per input Gaussian, fidelity (gsz compare: same generated cameras, 1280x720, 24
views), encode and decode wall time and the encoder's peak memory. Peer results are cached by input hash
and peer version (SOG on the CPU takes tens of minutes to hours: run it once with --sog, or encode it on
a GPU with bench/sog_device.py and import it with --sog-import). Writes results.json,
results.md and one rate-distortion plot per scene.
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GSZ = os.path.join(ROOT, "build", "gsz")
ST = os.path.join(ROOT, "bench", "node_modules", ".bin", "splat-transform")
PEER_VERSION = json.load(open(os.path.join(ROOT, "bench", "package.json")))["dependencies"]["@playcanvas/splat-transform"]
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "scenes")

GSZ_CONFIGS = [  # (label, extra args): the presets, then points between high and max (real scenes only)
    ("gsz max", ["--preset", "max"]),
    ("gsz high", ["--preset", "high"]),
    ("gsz balanced", ["--preset", "balanced"]),
    ("gsz small", ["--preset", "small"]),
    ("gsz max SH step 0.03", ["--preset", "max", "--sh-step", "0.03"]),
    # the peers' re-encodes of already-quantised scenes lie between high and max, where interpolating
    # across 30-40 dB overstated gsz's margin by up to 1.4x: these measure that stretch of the curve
    ("gsz max 12-bit positions", ["--preset", "max", "--pos-bits", "12"]),
    ("gsz max 12-bit positions SH step 0.06", ["--preset", "max", "--pos-bits", "12", "--sh-step", "0.06"]),
]
SWEEP = 4  # GSZ_CONFIGS from here on are curve points, not presets
PEERS = [("SPZ", ".spz"), ("compressed.ply", ".compressed.ply"), ("SOG", ".sog")]


def run(cmd):
    """Runs cmd; returns (seconds, stdout). Raises on failure."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-400:]}")
    return time.monotonic() - t0, p.stdout


def run_measured(cmd):
    """Runs cmd and returns (seconds, peak RSS MiB, stdout), the peak from wait4: it also counts what the
    child carried from this process until its exec, so gsz's own figure (peak_rss_bytes) replaces it."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    secs = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode(errors='replace').strip()[-400:]}")
    return secs, ru.ru_maxrss / 1024.0, out.decode()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def has_sh(path):
    with open(path, "rb") as f:
        return b"property float f_rest_0" in f.read(65536)


def gaussian_count(path):
    with open(path, "rb") as f:
        head = f.read(65536)
    for line in head.split(b"\n"):
        if line.startswith(b"element vertex"):
            return int(line.split()[2])
    raise RuntimeError(f"{path}: no vertex count")


def compare(ref, test, args, cache_dir, cameras=None):
    cmd = [GSZ, "compare", ref, test, "--json", "-q", "--views", str(args.views), "--size", args.size, "--ref-cache", cache_dir]
    if cameras:
        cmd += ["--cameras", cameras]
    _, out = run(cmd)
    d = json.loads(out)
    p = d["mean_psnr"]
    return (math.inf if p == "inf" else float(p)), float(d["mean_ssim"])


def gsz_result(scene, label, extra, work, args, cache_dir, cameras, seen):
    out = os.path.join(work, label.replace(" ", "_") + ".gsz")
    dec = out + ".ply"
    cmd = [GSZ, "compress", scene, "-o", out, "-q", "--json"] + extra
    if cameras:
        cmd += ["--cameras", cameras]
    enc_s, mem, out_json = run_measured(cmd)
    # gsz's own high-water mark: wait4's maxrss also counts this Python process, which the child
    # carried until its exec (about 21 MiB, above the whole encode of the smallest scenes)
    mem = json.loads(out_json).get("peak_rss_bytes", mem * 1048576.0) / 1048576.0
    dec_wall, dout = run([GSZ, "decompress", out, "-o", dec, "--json"])
    dec_s = json.loads(dout)["decode_seconds"]
    digest = sha256(out)  # a configuration that gave a file already measured (e.g. max and its SH step on a palette scene)
    psnr, ssim = seen[digest] if digest in seen else compare(scene, dec, args, cache_dir)
    seen[digest] = (psnr, ssim)
    r = {"method": label, "bytes": os.path.getsize(out), "encode_s": enc_s, "decode_s": dec_s, "peak_mb": mem,
         "psnr": psnr, "ssim": ssim, "decoded": dec}
    return r


def peer_result(scene, name, ext, work, args, cache_dir, hash_):
    cache = os.path.join(args.cache, "peers", f"{hash_[:16]}-{name}-{PEER_VERSION}.json")
    if name == "SOG" and args.sog_results and not os.path.exists(cache):
        old = json.load(open(args.sog_results))
        for sc in old["scenes"] if (old.get("views"), old.get("size")) == (args.views, args.size) else []:
            for r in sc["results"] if sc["sha256"] == hash_ else []:
                if r["method"] == name and r.get("peer_version") == PEER_VERSION:
                    r = {k: v for k, v in r.items() if k not in ("ratio", "bytes_per_gaussian", "gsz_smaller_by")}
                    ps = sc.get("paper_style", {})
                    if name in ps:  # its decoded file is gone: keep its paper-style figures with their camera count
                        r["paper_style"] = dict(ps[name], cameras=ps["cameras"])
                    os.makedirs(os.path.dirname(cache), exist_ok=True)
                    json.dump(dict(r, reused_from=args.sog_results), open(cache, "w"), indent=1)
    if os.path.exists(cache):
        r = json.load(open(cache))
        if r.get("views") == args.views and r.get("size") == args.size:
            return r
    out = os.path.join(work, "peer" + ext)
    dec = os.path.join(work, f"peer-{name}.ply")
    extra = {}
    stem = os.path.basename(scene)[:-4]
    imported = os.path.join(args.sog_import or "", stem + ".sog")
    if name == "SOG" and args.sog_import and os.path.exists(imported):
        # encoded on the GPU machine by bench/sog_device.py: its time and memory come from there
        meta = json.load(open(imported[:-4] + ".json"))
        shutil.copyfile(imported, out)
        enc_s, mem = meta["encode_s"], meta["peak_mb"]
        extra = {"encoded_on": meta["machine"]}
    elif name == "SOG" and not args.sog:
        return None
    else:
        enc_cmd = [ST, "-q", "-w"] + (["-g", "cpu"] if name == "SOG" else []) + [scene, out]
        enc_s, mem, _ = run_measured(enc_cmd)
    dec_s, _, _ = run_measured([ST, "-q", "-w", out, dec])
    psnr, ssim = compare(scene, dec, args, cache_dir)
    r = {"method": name, "bytes": os.path.getsize(out), "encode_s": enc_s, "decode_s": dec_s, "peak_mb": mem,
         "psnr": psnr, "ssim": ssim, "views": args.views, "size": args.size, "peer_version": PEER_VERSION, "decoded": dec, **extra}
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    json.dump(r, open(cache, "w"), indent=1)
    return r


def gsz_bytes_at(points, psnr):
    """gsz bytes at a given PSNR by log-linear interpolation along the gsz curve (None outside it)."""
    pts = sorted((p["psnr"], p["bytes"]) for p in points if math.isfinite(p["psnr"]))
    for (p0, b0), (p1, b1) in zip(pts, pts[1:]):
        if p0 <= psnr <= p1 and p1 > p0:
            t = (psnr - p0) / (p1 - p0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None


def plot(scene_name, rows, n, path):
    if not shutil.which("gnuplot"):
        return False
    data = path + ".dat"
    with open(data, "w") as f:
        gsz = sorted((r for r in rows if r["method"].startswith("gsz")), key=lambda r: r["bytes"])
        f.write("# gsz\n")
        for r in gsz:
            f.write(f"{r['bytes'] / n:.4f} {min(r['psnr'], 99):.3f} \"{r['method'][4:]}\"\n")
        for r in rows:
            if not r["method"].startswith("gsz"):
                f.write(f"\n\n# {r['method']}\n{r['bytes'] / n:.4f} {min(r['psnr'], 99):.3f} \"{r['method']}\"\n")
    peers = [r for r in rows if not r["method"].startswith("gsz")]
    series = [f"'{data}' index 0 using 1:2 with linespoints lw 2 pt 7 title 'gsz', '' index 0 using 1:2:3 with labels offset 1,0.8 font ',8' notitle"]
    for i, r in enumerate(peers):
        series.append(f"'' index {i + 1} using 1:2 with points pt {5 + 2 * i} ps 2 title '{r['method']}'")
    script = f"""set terminal pngcairo size 900,600 font ',11'
set output '{path}'
set title '{scene_name}: rate-distortion (fidelity vs the uncompressed scene, {len(rows)} encodings)'
set xlabel 'bytes per input Gaussian (log scale)'
set ylabel 'PSNR (dB)'
set logscale x
set grid
set key bottom right
plot {', '.join(series)}
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        # pngcairo may be missing from gnuplot-nox: fall back to the plain png terminal
        r = subprocess.run(["gnuplot"], input=script.replace("pngcairo size 900,600 font ',11'", "png size 900,600"), text=True, capture_output=True)
    os.remove(data)
    return r.returncode == 0


def fmt_db(v):
    return "inf" if not math.isfinite(v) else f"{v:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="*", help="PLY scenes (default: ../shared/scenes/*.ply and a synthetic 1M SH3 scene)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    ap.add_argument("--cache", default=os.path.join(ROOT, "bench", "cache"))
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--sog", action="store_true", help="also encode SOG (slow on the CPU; the result is cached)")
    ap.add_argument("--sog-import", metavar="DIR", help="take uncached SOG files (NAME.sog + NAME.json) encoded by bench/sog_device.py on a GPU")
    ap.add_argument("--sog-results", metavar="RESULTS.json", help="take uncached SOG results from an earlier run's results.json "
                    "(same input hash, peer version, views and size), e.g. docs/bench/results.json on a fresh checkout")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="one preset, few small views (CI)")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--gt-every", type=int, default=4, help="paper-style check: every Nth training camera")
    args = ap.parse_args()

    if not os.access(GSZ, os.X_OK):
        sys.exit(f"bench: {GSZ} not built (run scripts/test.sh or cmake --build build)")
    configs = [GSZ_CONFIGS[2]] if args.smoke else GSZ_CONFIGS
    have_peers = not args.no_peers and os.access(ST, os.X_OK)
    if not args.no_peers and not have_peers:
        print("bench: peers skipped: splat-transform not installed (needs node; run bench/install-peers.sh)", flush=True)
    scenes = args.scenes
    if not scenes:
        scenes = sorted(os.path.join(SHARED, f) for f in os.listdir(SHARED) if f.endswith(".ply")) if os.path.isdir(SHARED) else []
        if not args.no_synthetic:
            syn = os.path.join(args.cache, "synthetic-1M-sh3.ply")
            if not os.path.exists(syn):
                os.makedirs(args.cache, exist_ok=True)
                run([GSZ, "synth", "1000000", "--sh", "3", "--seed", "1", "-o", syn, "-q"])
            scenes.append(syn)
    os.makedirs(args.out, exist_ok=True)
    results = {"peer_version": PEER_VERSION, "views": args.views, "size": args.size, "scenes": []}
    t_start = time.monotonic()
    for scene in scenes:
        name = os.path.basename(scene)
        hash_ = sha256(scene)
        n = gaussian_count(scene)
        in_bytes = os.path.getsize(scene)
        cache_dir = os.path.join(args.cache, "refs", f"{hash_[:16]}-{args.views}-{args.size}")
        os.makedirs(cache_dir, exist_ok=True)
        work = os.path.join(args.out, "work", name)
        os.makedirs(work, exist_ok=True)
        cams = os.path.join(os.path.dirname(scene), name.replace(".ply", ".cameras.json"))
        cams = cams if os.path.exists(cams) else None
        print(f"== {name}: {n} Gaussians, {in_bytes} bytes", flush=True)
        rows, seen = [], {}
        for label, extra in configs:
            sweep = GSZ_CONFIGS.index((label, extra)) >= SWEEP
            if sweep and (name.startswith("synthetic-") or ("--sh-step" in extra and not has_sh(scene))):
                continue  # the synthetic scene is there for scale (presets only); SH steps need SH
            r = gsz_result(scene, label, extra, work, args, cache_dir, cams, seen)
            rows.append(r)
            print(f"  {label:24s} {r['bytes'] / n:7.2f} B/G  {fmt_db(r['psnr'])} dB  enc {r['encode_s']:.1f}s", flush=True)
        if have_peers:
            for pname, ext in PEERS:
                r = peer_result(scene, pname, ext, work, args, cache_dir, hash_)
                if r is None:
                    print(f"  {pname:24s} not cached: run bench/run.sh --sog once (slow on the CPU), or bench/sog_device.py on a GPU", flush=True)
                    continue
                rows.append(r)
                print(f"  {pname:24s} {r['bytes'] / n:7.2f} B/G  {fmt_db(r['psnr'])} dB  enc {r['encode_s']:.1f}s", flush=True)
        gszs = [r for r in rows if r["method"].startswith("gsz")]
        for r in rows:
            r["ratio"] = in_bytes / r["bytes"]
            r["bytes_per_gaussian"] = r["bytes"] / n
            if not r["method"].startswith("gsz"):
                b = gsz_bytes_at(gszs, r["psnr"])
                r["gsz_smaller_by"] = (r["bytes"] / b) if b else None
        entry = {"scene": name, "sha256": hash_, "gaussians": n, "bytes": in_bytes, "results": rows}
        if cams and name == "playbot-trained.ply" and os.path.exists(os.path.join(SHARED, "playbot.ply")):
            # paper-style: against the ground-truth images (renders of playbot.ply from the training cameras)
            gt = os.path.join(SHARED, "playbot.ply")
            gt_cache = os.path.join(args.cache, "refs", f"gt-{hash_[:16]}-{args.gt_every}")
            os.makedirs(gt_cache, exist_ok=True)
            ncam = len(json.load(open(cams)))
            views = max(1, ncam // args.gt_every)
            gt_args = argparse.Namespace(**vars(args))
            gt_args.views = views
            gt_args.size = "800x800"
            paper = {"cameras": views, "of": ncam}
            p0, s0 = compare(gt, scene, gt_args, gt_cache, cams)
            paper["uncompressed"] = {"psnr": p0, "ssim": s0}
            for r in rows:
                if "decoded" in r and os.path.exists(r["decoded"]):
                    p, s = compare(gt, r["decoded"], gt_args, gt_cache, cams)
                    paper[r["method"]] = {"psnr": p, "ssim": s, "drop_db": p0 - p}
                elif r.get("paper_style", {}).get("cameras") == views:  # reused with --sog-results
                    q = r["paper_style"]
                    paper[r["method"]] = {"psnr": q["psnr"], "ssim": q["ssim"], "drop_db": p0 - q["psnr"]}
            entry["paper_style"] = paper
            print(f"  paper-style vs ground truth ({views} training views): uncompressed {p0:.2f} dB", flush=True)
        png = os.path.join(args.out, f"rd-{name.replace('.ply', '')}.png")
        entry["plot"] = os.path.basename(png) if plot(name, rows, n, png) else None
        results["scenes"].append(entry)
    results["seconds"] = time.monotonic() - t_start
    for s in results["scenes"]:
        for r in s["results"]:
            r.pop("decoded", None)
            r.pop("paper_style", None)
    json.dump(results, open(os.path.join(args.out, "results.json"), "w"), indent=1, default=lambda x: None)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(write_markdown(results))
    print(f"bench: wrote {args.out}/results.md, results.json and plots in {results['seconds']:.0f} s", flush=True)


def write_markdown(results):
    lines = [f"Fidelity: `gsz compare` against the uncompressed scene, {results['views']} generated views at {results['size']}. "
             f"Peers: @playcanvas/splat-transform {results['peer_version']}. 'gsz smaller by' = the peer's bytes over gsz's bytes at the "
             "peer's PSNR (interpolated along the gsz curve; '-' where the peer's PSNR lies outside it).", ""]
    for s in results["scenes"]:
        lines.append(f"### {s['scene']} ({s['gaussians']:,} Gaussians, {s['bytes']:,} bytes)")
        lines.append("")
        lines.append("| method | bytes | ratio | B/Gaussian | PSNR dB | SSIM | encode s | decode s | encoder peak MiB | gsz smaller by |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        gpu = sorted({r["encoded_on"] for r in s["results"] if r.get("encoded_on")})
        for r in s["results"]:
            smaller = r.get("gsz_smaller_by")
            smaller = "" if r["method"].startswith("gsz") else (f"{smaller:.2f}x" if smaller else "-")
            lines.append(f"| {r['method']} | {r['bytes']:,} | {r['ratio']:.1f} | {r['bytes_per_gaussian']:.2f} | {fmt_db(r['psnr'])} | "
                         f"{r['ssim']:.4f} | {r['encode_s']:.2f}{' *' if r.get('encoded_on') else ''} | {r['decode_s']:.3f} | {r['peak_mb']:.0f} | {smaller} |")
        if gpu:
            lines.append("")
            lines.append(f"\\* encoded on {', '.join(gpu)} (its CPU encoder does not finish here); encode time and peak memory from there, decode here.")
        reused = sorted({r["reused_from"] for r in s["results"] if r.get("reused_from")})
        if reused:
            lines.append("")
            lines.append(f"SOG's row is the measurement recorded in {', '.join(reused)} (same input, peer version and views; `--sog-results`).")
        if "paper_style" in s:
            p = s["paper_style"]
            lines.append("")
            lines.append(f"Paper-style check against the ground-truth images ({p['cameras']} of {p['of']} training cameras, 800x800): "
                         f"uncompressed {p['uncompressed']['psnr']:.2f} dB / SSIM {p['uncompressed']['ssim']:.4f}.")
            lines.append("")
            lines.append("| method | PSNR dB | SSIM | drop dB |")
            lines.append("| --- | ---: | ---: | ---: |")
            for k, v in p.items():
                if isinstance(v, dict) and "drop_db" in v:
                    lines.append(f"| {k} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['drop_db']:.2f} |")
        if s.get("plot"):
            lines.append("")
            lines.append(f"![{s['scene']}]({s['plot']})")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
