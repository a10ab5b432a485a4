#!/usr/bin/python3
"""An independent .gsz decoder written from docs/FORMAT.md alone (Python: zstd, xxhash, numpy from
Debian), checked against `gsz decompress`: if the document and the C decoder disagree, this fails.

usage: format_reference.py GSZ_BINARY FILE.gsz OUT_DIR
"""
import struct
import subprocess
import sys

import numpy as np
import xxhash
import zstd

MAGIC = b"\x89GSZ\r\n\x1a\n"
F32 = np.float32


def fail(msg):
    sys.exit(f"format_reference: {msg}")


def undo_transform(raw, tx, n, width):
    mask = (1 << (8 * width)) - 1
    if tx == 0:
        return np.frombuffer(raw, dtype=f"<u{width}", count=n).astype(np.uint64)
    if tx in (1, 2):
        planes = np.frombuffer(raw, dtype=np.uint8).reshape(width, n).astype(np.uint64)
        v = np.zeros(n, dtype=np.uint64)
        for b in range(width):
            v |= planes[b] << np.uint64(8 * b)
        if tx == 2:
            out, prev = [], 0
            for d in v.tolist():
                prev = (prev + d) & mask
                out.append(prev)
            v = np.array(out, dtype=np.uint64)
        return v
    if tx == 3:
        out, prev, p = [], 0, 0
        for _ in range(n):
            z, sh = 0, 0
            while True:
                b = raw[p]
                p += 1
                z |= (b & 0x7F) << sh
                sh += 7
                if not b & 0x80:
                    break
            d = (z >> 1) ^ -(z & 1)
            prev = (prev + d) & mask
            out.append(prev)
        if p != len(raw):
            fail("varint stream has trailing bytes")
        return np.array(out, dtype=np.uint64)
    fail(f"unknown transform {tx}")


ENCODINGS = set()  # the codebook encodings decoded, for the test to check what it covered


def codebook(raw, dim):
    k, m, bits, enc = struct.unpack_from("<IHBB", raw, 0)
    ENCODINGS.add(enc)
    if m != dim:
        fail(f"codebook dimension {m}, expected {dim}")
    if enc in (1, 3):
        step = np.float64(np.frombuffer(raw, dtype="<f4", count=1, offset=8)[0])
        width = np.frombuffer(raw, dtype=np.uint8, count=m, offset=12).astype(np.int64)
        cls = np.frombuffer(raw, dtype=np.uint8, count=k, offset=12 + m).astype(np.int64)
        if cls.max() > 7 or not set(width) <= {1, 2}:
            fail("transform-coded codebook malformed")
        z = np.zeros((k, m), dtype=np.int64)
        at = 12 + m + k
        if enc == 1:
            if len(raw) != at + k * int(width.sum()):
                fail("transform-coded codebook size")
            for c in range(m):
                b = np.frombuffer(raw, dtype=np.uint8, count=k * width[c], offset=at).astype(np.int64)
                z[:, c] = b[:k] | ((b[k:] << 8) if width[c] == 2 else 0)
                at += k * width[c]
        else:
            g = (m + 7) // 8
            if len(raw) < at + g * k:
                fail("transform-coded codebook truncated")
            fl = np.frombuffer(raw, dtype=np.uint8, count=g * k, offset=at).reshape(g, k)
            at += g * k
            flag = np.unpackbits(fl[:, :, None], axis=2, bitorder="little").transpose(1, 0, 2).reshape(k, 8 * g)
            if flag[:, m:].any():
                fail("flag beyond the dimension")
            t = m // 3
            comp = [3 * (i % t) + i // t for i in range(m)]  # flag bit i: component comp[i]
            nz = np.zeros((k, m), dtype=bool)
            nz[:, comp] = flag[:, :m].astype(bool)
            for c in range(m):
                cnt = int(nz[:, c].sum())
                b = np.frombuffer(raw, dtype=np.uint8, count=cnt * width[c], offset=at).astype(np.int64)
                if len(b) != cnt * width[c]:
                    fail("transform-coded codebook truncated")
                v = b[:cnt] | ((b[cnt:] << 8) if width[c] == 2 else 0)
                if (v > 65534).any():
                    fail("value out of range")
                z[nz[:, c], c] = v + 1
                at += cnt * width[c]
            if at != len(raw):
                fail("transform-coded codebook size")
        y = np.where(z & 1, -((z + 1) >> 1), z >> 1).astype(np.float64) * (step * 2.0 ** cls)[:, None]
        a, bb, c = 0.57735026918962576, 0.70710678118654752, 0.40824829046386302
        out = np.empty((k, m), dtype=F32)
        y0, y1, y2 = y[:, 0::3], y[:, 1::3], y[:, 2::3]
        out[:, 0::3] = a * y0 + bb * y1 + c * y2
        out[:, 1::3] = a * y0 - (2 * c) * y2
        out[:, 2::3] = a * y0 - bb * y1 + c * y2
        return out
    diff = enc in (5, 6)  # each triplet's first and third planes stored less its middle one, mod 256
    if diff:
        if m % 3 or bits != 8:
            fail("differenced codebook not of triplets or not 8-bit")
        enc -= 5 if enc == 5 else 4

    def undiff(q):  # q: (m, k) planes
        if diff:
            q = q.copy()
            mid = q[1::3].copy()
            q[0::3] = (q[0::3] + mid) & 255
            q[2::3] = (q[2::3] + mid) & 255
        return q

    if enc == 2:
        (t,) = struct.unpack_from("<H", raw, 8)
        if bits != 8 or not 1 <= t <= 256 or len(raw) != 10 + 4 * t + k * m:
            fail("codebook table malformed")
        table = np.frombuffer(raw, dtype="<f4", count=t, offset=10)
        q = undiff(np.frombuffer(raw, dtype=np.uint8, count=k * m, offset=10 + 4 * t).astype(np.int64).reshape(m, k))
        if not np.isfinite(table).all() or q.max() >= t:
            fail("codebook table value or index invalid")
        return table[q.T].astype(F32)
    if enc == 4:
        if m != 4 or bits != 8 or len(raw) != 8 + 4 * k:
            fail("quaternion codebook malformed")
        pl = np.frombuffer(raw, dtype=np.uint8, count=4 * k, offset=8).reshape(4, k)
        big = pl[0].astype(np.int64)
        if big.max() > 3:
            fail("largest component above 3")
        v = np.zeros((k, 4))
        ss = np.zeros(k)
        o = np.zeros(k, dtype=np.int64)  # which of the three stored values comes next
        for i in range(4):
            use = big != i
            val = (pl[1:][np.minimum(o, 2), np.arange(k)].astype(np.float64) / 255.0 - 0.5) * (2 * 0.70710678118654752)
            v[use, i] = val[use]
            ss[use] += val[use] * val[use]
            o += use
        v[np.arange(k), big] = np.sqrt(np.where(ss < 1, 1 - ss, 0.0))
        v[v[:, 0] < 0] *= -1
        return v.astype(F32)
    if enc != 0:
        fail(f"codebook encoding {enc}")
    lo = np.frombuffer(raw, dtype="<f4", count=m, offset=8).astype(np.float64)
    hi = np.frombuffer(raw, dtype="<f4", count=m, offset=8 + 4 * m).astype(np.float64)
    levels = 255.0 if bits == 8 else 65535.0
    q = np.frombuffer(raw, dtype=np.uint8 if bits == 8 else "<u2", count=k * m, offset=8 + 8 * m).astype(np.int64)
    q = undiff(q.reshape(m, k)).T.astype(np.float64)  # planes: component-major
    return (lo + (hi - lo) * q / levels).astype(F32)


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != MAGIC:
        fail("bad magic")
    version, hsize, flags, count, deg, pbits, nsec = struct.unpack_from("<HHIQBBH", data, 8)
    bmin = np.frombuffer(data, dtype="<f4", count=3, offset=28)
    bmax = np.frombuffer(data, dtype="<f4", count=3, offset=40)
    obits = data[52]
    table = data[64:64 + 40 * nsec]
    if xxhash.xxh64(data[:56] + table, seed=0).intdigest() != struct.unpack_from("<Q", data, 56)[0]:
        fail("header checksum")
    streams, pos = {}, 64 + 40 * nsec
    for i in range(nsec):
        typ, sflags, tx, width = struct.unpack_from("<IIBB", table, 40 * i)
        elems, stored, check = struct.unpack_from("<QQQ", table, 40 * i + 16)
        payload = data[pos:pos + stored]
        pos += stored
        if xxhash.xxh64(payload, seed=0).intdigest() != check:
            fail(f"section {typ} checksum")
        streams[typ] = undo_transform(zstd.decompress(payload), tx, elems, width) if typ not in (3, 5, 7, 10, 11, 12) else \
            bytes(undo_transform(zstd.decompress(payload), tx, elems, width).astype(np.uint8))
    if pos != len(data):
        fail("trailing bytes")
    n = count
    if 19 in streams:
        xyz, op, scale, rot, dc = lattice(streams, n)
    else:
        xyz, op, scale, rot, dc = quantised(streams, n, pbits, obits, bmin, bmax)
        if 23 in streams:  # position.warp: the grid is on warped positions
            w = streams[23].astype(np.uint32).view("<f4")
            c, r = w[:3].astype(np.float64), np.float64(w[3])
            if not (np.isfinite(w).all() and r > 0):
                fail("position.warp")
            v = xyz.astype(np.float64) - c
            xyz = (c + np.sign(v) * r * (np.exp(np.abs(v) / r) - 1.0)).astype(F32)
    nrest = (deg + 1) ** 2 - 1
    rest = np.zeros((n, nrest * 3), dtype=F32)
    if deg > 0:
        degs = streams[9].astype(np.int64)
        for d in range(1, deg + 1):
            sel = np.nonzero(degs == d)[0]
            if len(sel):
                cb = codebook(streams[9 + d], 3 * ((d + 1) ** 2 - 1))
                rest[sel, :cb.shape[1]] = cb[streams[12 + d].astype(np.int64)]
    return dict(n=n, deg=deg, xyz=xyz, opacity=op, scale=scale, rot=rot, dc=dc, rest=rest)


def quantised(streams, n, pbits, obits, bmin, bmax):
    codes = streams[1]
    q = np.zeros((n, 3), dtype=np.uint64)
    for k in range(3):
        for bit in range(21):
            q[:, k] |= ((codes >> np.uint64(3 * bit + k)) & np.uint64(1)) << np.uint64(bit)
    qmax = F32((1 << pbits) - 1)
    xyz = np.empty((n, 3), dtype=F32)
    for k in range(3):
        ext = F32(bmax[k]) - F32(bmin[k])
        xyz[:, k] = F32(bmin[k]) + ext * (q[:, k].astype(F32) / qmax)
    omax = F32((1 << obits) - 1)
    op = np.clip(streams[2].astype(F32) / omax, F32(0.25) / omax, F32(1) - F32(0.25) / omax)
    scale = codebook(streams[3], 3)[streams[4].astype(np.int64)]
    rot = codebook(streams[5], 4)[streams[6].astype(np.int64)]
    dc = codebook(streams[7], 3)[streams[8].astype(np.int64)]
    return xyz, op, scale, rot, dc


def lattice(streams, n):
    r = streams[18].astype(np.uint32).view("<f4").reshape(-1, 18).astype(np.float64)
    if r.shape[0] != (n + 255) // 256 or not np.isfinite(r).all():
        fail("lattice ranges malformed")
    r = r[np.arange(n) // 256]
    if (21 in streams) == (24 in streams):
        fail("a lattice file holds exactly one of lattice.color and lattice.color.diff")
    if 24 in streams:  # R and B stored less G, modulo 256
        c = streams[24].astype(np.uint64)
        g = (c >> np.uint64(16)) & np.uint64(255)
        rr = ((c >> np.uint64(24)) + g) & np.uint64(255)
        bb = (((c >> np.uint64(8)) & np.uint64(255)) + g) & np.uint64(255)
        streams[21] = (rr << np.uint64(24)) | (c & np.uint64(0x00FF00FF)) | (bb << np.uint64(8))
    w = [streams[t].astype(np.uint64) for t in (19, 20, 21, 22)]

    def unorm(v, shift, bits):
        m = (1 << bits) - 1
        return ((v >> np.uint64(shift)) & np.uint64(m)).astype(np.float64) / m

    def lerp(a, b, t):
        return (a * (1.0 - t) + b * t).astype(F32)

    fields = ((21, 11), (11, 10), (0, 11))
    xyz = np.stack([lerp(r[:, k], r[:, 3 + k], unorm(w[0], *fields[k])) for k in range(3)], axis=1)
    scale = np.stack([lerp(r[:, 6 + k], r[:, 9 + k], unorm(w[1], *fields[k])) for k in range(3)], axis=1)
    dc = np.stack([((lerp(r[:, 12 + k], r[:, 15 + k], unorm(w[2], 24 - 8 * k, 8)).astype(np.float64) - 0.5)
                    / 0.28209479177387814).astype(F32) for k in range(3)], axis=1)
    qo = (w[2] & np.uint64(255)).astype(np.int64)
    with np.errstate(divide="ignore"):
        logit = np.where(qo == 0, -20.0, np.where(qo == 255, 20.0, -np.log(1.0 / (qo / 255.0) - 1.0)))
    op = 1.0 / (1.0 + np.exp(-logit.astype(F32).astype(np.float64)))
    abc = [(unorm(w[3], 20 - 10 * k, 10) - 0.5) * (1.0 / (np.sqrt(2.0) * 0.5)) for k in range(3)]
    s = np.sqrt(np.maximum(0.0, 1.0 - (abc[0] * abc[0] + abc[1] * abc[1] + abc[2] * abc[2])))
    m = (w[3] >> np.uint64(30)).astype(np.int64)
    rot = np.empty((n, 4), dtype=F32)
    for which in range(4):
        sel = m == which
        comps = list(abc)
        comps.insert(which, s)
        for k in range(4):
            rot[sel, k] = comps[k][sel]
    return xyz, op, scale, rot, dc


def read_ply(path, n, deg):
    data = open(path, "rb").read()
    head = data.index(b"end_header\n") + len(b"end_header\n")
    nrest = (deg + 1) ** 2 - 1
    per = 3 + 3 + 3 + 3 * nrest + 1 + 3 + 4
    rows = np.frombuffer(data, dtype="<f4", offset=head).reshape(n, per)
    rest_channel_major = rows[:, 9:9 + 3 * nrest]
    rest = rest_channel_major.reshape(n, 3, nrest).transpose(0, 2, 1).reshape(n, 3 * nrest)  # coefficient-major
    t = 9 + 3 * nrest
    return dict(xyz=rows[:, 0:3], dc=rows[:, 6:9], rest=rest, opacity_logit=rows[:, t], scale=rows[:, t + 1:t + 4], rot=rows[:, t + 4:t + 8])


def main():
    gsz, path, out = sys.argv[1:4]
    ref = decode(path)
    ply = f"{out}/format_reference.ply"
    subprocess.run([gsz, "decompress", path, "-o", ply, "-q"], check=True)
    c = read_ply(ply, ref["n"], ref["deg"])
    for key in ("xyz", "dc", "rest", "scale", "rot"):
        if not np.array_equal(ref[key], c[key]):
            bad = np.argwhere(ref[key] != c[key])[:3]
            fail(f"{key} differs from gsz decompress at {bad.tolist()}: {ref[key][tuple(bad[0])]} vs {c[key][tuple(bad[0])]}")
    p = 1.0 / (1.0 + np.exp(-c["opacity_logit"].astype(np.float64)))
    if np.max(np.abs(p - ref["opacity"])) > 1e-5:
        fail("opacity differs")
    encs = ", ".join(str(e) for e in sorted(ENCODINGS)) or "none"
    print(f"format_reference: {ref['n']} Gaussians, SH degree {ref['deg']}, codebook encodings {encs}: "
          "the document's decoder agrees with gsz decompress")


if __name__ == "__main__":
    main()
