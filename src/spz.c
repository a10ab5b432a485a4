/* Niantic's .spz, what Scaniverse exports and splat-transform writes (spec: github.com/nianticlabs/spz):
 * per Gaussian a 24-bit fixed-point position (fractional bits in the header), 8-bit opacity (sigmoid),
 * colour (c/255 = 0.5 + 0.15 f_dc), log-scale (s/16 - 10) and SH ((b - 128)/128, coefficient-major,
 * colour fastest, as gsz_scene holds them), and a rotation: three 8-bit components (version 2) or the
 * smallest three of 10 bits with the largest one's index (3 and 4). Arrays follow one another in that
 * order. Versions 2 and 3 are one gzip stream of a 16-byte header and the arrays; version 4 is a 32-byte
 * header, a table of (stored, raw) sizes and one zstd frame per array. The format's axes are right, up,
 * back; a 3DGS PLY's right, down, front: reading turns the scene half a turn about x, as splat-transform
 * does (y and z negated, in the rotations too, and the SH coefficients odd in y and z), and writing
 * turns it back. Written as version 3, the one gzip stream every SPZ reader takes, quantised as the
 * reference writer does (SH of degree 1 to 5 bits, higher degrees to 4). */
#include "common.h"

#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define SPZ_MAGIC 0x5053474eu /* "NGSP" */
enum { SPZ_ARRAYS = 6, SPZ_PER_BYTE = 64 };

int gsz_path_is_spz(const char *path) { return gsz_path_has_suffix(path, ".spz"); }


typedef struct {
    uint32_t version, n;
    int degree, frac;
    size_t size[SPZ_ARRAYS]; /* bytes of each array: positions, alphas, colours, scales, rotations, SH */
    size_t total;
} spz_layout;

/* The header's fields checked and the arrays' sizes; bytes: the file's (bounds the count). */
static gsz_error layout(const uint8_t *h, size_t bytes, const char *name, spz_layout *L) {
    if (gsz_le32(h) != SPZ_MAGIC) return gsz_fail(GSZ_ERROR_format, "%s: not a .spz file (no NGSP magic)", name);
    L->version = gsz_le32(h + 4);
    L->n = gsz_le32(h + 8);
    L->degree = h[12];
    L->frac = h[13];
    if (L->version < 2 || L->version > 4)
        return gsz_fail(GSZ_ERROR_unsupported, "%s: .spz version %u (versions 2 to 4 are read)", name, L->version);
    if (L->degree > 3) return gsz_fail(GSZ_ERROR_format, "%s: SH degree %d (0 to 3)", name, L->degree);
    if (L->frac > 24) return gsz_fail(GSZ_ERROR_format, "%s: %d fractional position bits (at most 24)", name, L->frac);
    /* a count the file cannot plausibly hold (compressed to under 1/64 byte a Gaussian) is refused before
     * anything that size is allocated */
    if (L->n == 0 || (uint64_t)L->n > (uint64_t)bytes * SPZ_PER_BYTE)
        return gsz_fail(GSZ_ERROR_format, "%s: %u Gaussians in %zu bytes", name, L->n, bytes);
    size_t n = L->n;
    size_t per[SPZ_ARRAYS] = {9, 1, 3, 3, L->version == 2 ? 3 : 4, (size_t)gsz_shRestCount(L->degree) * 3};
    L->total = 0;
    for (int a = 0; a < SPZ_ARRAYS; a++) L->total += L->size[a] = n * per[a];
    return GSZ_OK;
}

/* A gzip stream inflated in pieces: zlib counts in 32 bits, so input and output go at most 1 GB at a time. */
typedef struct {
    z_stream z;
    const uint8_t *data;
    size_t size, in; /* the input, and how much of it was handed to zlib */
} gunzip;

/* Up to want bytes into dst (*got of them); zlib's last result (Z_OK where want was reached). */
static int gunzip_into(gunzip *g, uint8_t *dst, size_t want, size_t *got) {
    const size_t piece = (size_t)1 << 30;
    int r = Z_OK;
    *got = 0;
    while (*got < want && r == Z_OK) {
        if (!g->z.avail_in && g->in < g->size) {
            g->z.next_in = (Bytef *)(uintptr_t)(g->data + g->in);
            g->z.avail_in = (uInt)GSZ_MIN(piece, g->size - g->in);
            g->in += g->z.avail_in;
        }
        g->z.next_out = dst + *got;
        g->z.avail_out = (uInt)GSZ_MIN(piece, want - *got);
        uInt before = g->z.avail_out;
        r = inflate(&g->z, Z_NO_FLUSH);
        *got += before - g->z.avail_out;
        if (r == Z_BUF_ERROR && g->in < g->size) r = Z_OK; /* the piece is used up, not the input */
    }
    return r;
}

/* Versions 2 and 3: the gzip stream into *raw (the arrays after the 16-byte header), which must end
 * exactly there. */
static gsz_error inflate_all(const uint8_t *data, size_t size, const char *name, spz_layout *L, uint8_t **raw) {
    *raw = NULL;
    gunzip g;
    memset(&g, 0, sizeof g);
    g.data = data;
    g.size = size;
    if (inflateInit2(&g.z, 16 + MAX_WBITS) != Z_OK) return gsz_fail(GSZ_ERROR_memory, "%s: out of memory", name);
    uint8_t head[16], *b = NULL, extra;
    size_t got;
    gsz_error e = GSZ_OK;
    int r = gunzip_into(&g, head, sizeof head, &got);
    if (got < sizeof head)
        e = gsz_fail(GSZ_ERROR_format, "%s: gzip stream %s before the .spz header's end", name, r == Z_STREAM_END || r == Z_BUF_ERROR ? "ends" : "corrupt");
    else if (!(e = layout(head, size, name, L))) {
        if (L->version == 4) e = gsz_fail(GSZ_ERROR_format, "%s: version 4 inside gzip (version 4 is not gzipped)", name);
        else if (!(b = malloc(L->total))) e = gsz_fail(GSZ_ERROR_memory, "%s: out of memory for %u Gaussians", name, L->n);
    }
    if (!e) {
        if (r == Z_OK) r = gunzip_into(&g, b, L->total, &got);
        else got = 0; /* the stream ended with the header */
        if (got < L->total)
            e = gsz_fail(GSZ_ERROR_format, r == Z_STREAM_END || r == Z_BUF_ERROR ? "%s: gzip stream ends early (%zu of %zu bytes of arrays)" : "%s: corrupt gzip stream (%zu of %zu bytes of arrays)", name, got, L->total);
    }
    if (!e && r == Z_OK) { /* every array read: the stream must end here */
        r = gunzip_into(&g, &extra, 1, &got);
        if (got) e = gsz_fail(GSZ_ERROR_format, "%s: gzip stream longer than its header says", name);
        else if (r != Z_STREAM_END) e = gsz_fail(GSZ_ERROR_format, "%s: gzip stream %s", name, r == Z_BUF_ERROR ? "cut short" : "corrupt");
    }
    if (!e && (g.z.avail_in || g.in < size)) e = gsz_fail(GSZ_ERROR_format, "%s: data after the gzip stream", name);
    inflateEnd(&g.z);
    if (e) { free(b); return e; }
    *raw = b;
    return GSZ_OK;
}

/* Version 4: each array's zstd frame into *raw, in order. */
static gsz_error unzstd_all(const uint8_t *data, size_t size, const char *name, spz_layout *L, uint8_t **raw) {
    *raw = NULL;
    if (size < 32) return gsz_fail(GSZ_ERROR_format, "%s: %zu bytes, shorter than a .spz header", name, size);
    gsz_error e = layout(data, size, name, L);
    if (e) return e;
    int streams = data[15];
    uint64_t toc = gsz_le32(data + 16);
    if (streams < SPZ_ARRAYS - 1 || streams > SPZ_ARRAYS || toc < 32 || toc > size || (uint64_t)streams * 16 > size - toc)
        return gsz_fail(GSZ_ERROR_format, "%s: bad stream table (%d streams at offset %llu)", name, streams, (unsigned long long)toc);
    uint8_t *b = malloc(L->total ? L->total : 1);
    if (!b) return gsz_fail(GSZ_ERROR_memory, "%s: out of memory for %u Gaussians", name, L->n);
    uint64_t at = toc + (uint64_t)streams * 16;
    size_t out = 0;
    for (int a = 0; a < SPZ_ARRAYS && !e; a++) {
        if (a == streams) { /* only the SH array may be left out, where there is none */
            if (L->size[a]) e = gsz_fail(GSZ_ERROR_format, "%s: no SH stream for degree %d", name, L->degree);
            break;
        }
        uint64_t stored = gsz_le64(data + toc + 16 * (uint64_t)a), rawsz = gsz_le64(data + toc + 16 * (uint64_t)a + 8);
        if (rawsz != L->size[a]) { e = gsz_fail(GSZ_ERROR_format, "%s: stream %d holds %llu bytes, %zu expected", name, a, (unsigned long long)rawsz, L->size[a]); break; }
        if (stored > size - at) { e = gsz_fail(GSZ_ERROR_format, "%s: stream %d runs past the end of the file", name, a); break; }
        if (rawsz) {
            size_t got = ZSTD_decompress(b + out, L->size[a], data + at, (size_t)stored);
            if (ZSTD_isError(got) || got != L->size[a])
                e = gsz_fail(GSZ_ERROR_format, "%s: stream %d: %s", name, a, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
        }
        at += stored;
        out += L->size[a];
    }
    if (e) { free(b); return e; }
    *raw = b;
    return GSZ_OK;
}

/* SH coefficients (the 3DGS order, degrees 1 to 3) whose basis function changes sign when y and z do. */
static const uint8_t odd_yz[15] = {1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0};

/* The smallest-three rotation: the largest component's index (of x, y, z, w) in the top 2 bits, then
 * the others from w down to x, each a sign and 9 bits of magnitude in units of sqrt(1/2)/511. */
static void rotation_st3(uint32_t c, float q[4]) {
    float xyzw[4];
    int big = (int)(c >> 30);
    double sum = 0;
    for (int i = 3; i >= 0; i--) {
        if (i == big) continue;
        float v = (float)(0.70710678118654752 * (double)(c & 511u) / 511.0);
        xyzw[i] = (c >> 9) & 1u ? -v : v;
        sum += (double)xyzw[i] * xyzw[i];
        c >>= 10;
    }
    xyzw[big] = (float)sqrt(GSZ_MAX(0.0, 1.0 - sum));
    q[0] = xyzw[3]; q[1] = xyzw[0]; q[2] = xyzw[1]; q[3] = xyzw[2]; /* w first, as PLY */
}

gsz_error gsz_spz_read_memory(const void *data, size_t size, const char *name, gsz_scene *out, gsz_ply_stats *st) {
    memset(out, 0, sizeof *out);
    if (st) memset(st, 0, sizeof *st);
    const uint8_t *d = data;
    spz_layout L;
    uint8_t *raw = NULL; /* the arrays, one after another */
    gsz_error e;
    if (size >= 2 && d[0] == 0x1f && d[1] == 0x8b) e = inflate_all(d, size, name, &L, &raw);
    else if (size >= 8 && gsz_le32(d) == SPZ_MAGIC && gsz_le32(d + 4) >= 4) e = unzstd_all(d, size, name, &L, &raw);
    else e = gsz_fail(GSZ_ERROR_format, "%s: not a .spz file (neither gzip nor an NGSP version 4 header)", name);
    if (e) return e;
    if ((e = gsz_scene_alloc(out, L.n, L.degree))) { free(raw); return gsz_fail(e, "%s: %s", name, gsz_getErrorDetail()); }
    const uint8_t *pos = raw, *alpha = pos + L.size[0], *col = alpha + L.size[1], *scl = col + L.size[2], *rot = scl + L.size[3], *sh = rot + L.size[4];
    size_t n = L.n, nsh = (size_t)gsz_shRestCount(L.degree) * 3;
    float unit = ldexpf(1.0f, -L.frac);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            const uint8_t *p = pos + 9 * i + 3 * (size_t)k;
            int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16);
            if (v & 0x800000) v -= 0x1000000; /* 24-bit two's complement */
            out->pos[3 * i + (size_t)k] = k ? -(float)v * unit : (float)v * unit; /* up, back -> down, front */
            out->sh_dc[3 * i + (size_t)k] = ((float)col[3 * i + (size_t)k] / 255.0f - 0.5f) / 0.15f;
            out->scale[3 * i + (size_t)k] = (float)scl[3 * i + (size_t)k] / 16.0f - 10.0f;
        }
        out->opacity[i] = gsz_logit_level8(alpha[i]);
        float *q = out->rot + 4 * i;
        if (L.version == 2) {
            float x = rot[3 * i] / 127.5f - 1.0f, y = rot[3 * i + 1] / 127.5f - 1.0f, z = rot[3 * i + 2] / 127.5f - 1.0f;
            q[0] = sqrtf(GSZ_MAX(0.0f, 1.0f - x * x - y * y - z * z));
            q[1] = x; q[2] = y; q[3] = z;
        } else rotation_st3(gsz_le32(rot + 4 * i), q);
        q[2] = -q[2]; /* the half turn about x: (w, x, y, z) -> (w, x, -y, -z) */
        q[3] = -q[3];
        for (size_t k = 0; k < nsh; k++) {
            float v = ((float)sh[nsh * i + k] - 128.0f) / 128.0f;
            out->sh_rest[nsh * i + k] = odd_yz[k / 3] ? -v : v;
        }
    }
    free(raw);
    if (st) st->rows_in_file = n;
    return GSZ_OK;
}

gsz_error gsz_spz_read(const char *path, gsz_scene *out, gsz_ply_stats *st) { return gsz_read_scene_file(path, gsz_spz_read_memory, out, st); }

/* ---- writing (version 3) */

/* An SH coefficient to 8 bits, on a grid of `bucket` levels (8: 5 bits, 16: 4 bits). */
static uint8_t sh_level(float v, int bucket) {
    long q = lrint((double)v * 128.0) + 128;
    q = (q + bucket / 2) / bucket * bucket;
    return (uint8_t)GSZ_CLAMP(q, 0, 255);
}

/* A unit quaternion (x, y, z, w) as the smallest three: the largest component's index in the top 2
 * bits, made positive (q and -q are one rotation), the others from x up, each a sign and 9 bits. */
static uint32_t pack_st3(const float xyzw[4]) {
    int big = 0;
    for (int i = 1; i < 4; i++)
        if (fabsf(xyzw[i]) > fabsf(xyzw[big])) big = i;
    float sign = xyzw[big] < 0 ? -1.0f : 1.0f;
    uint32_t c = 0;
    for (int i = 0; i < 4; i++) {
        if (i == big) continue;
        float v = sign * xyzw[i];
        long mag = lrint(fabs((double)v) / 0.70710678118654752 * 511.0);
        c = c << 10 | (v < 0 ? 1u << 9 : 0u) | (uint32_t)GSZ_MIN(mag, 511L);
    }
    return c | (uint32_t)big << 30;
}

gsz_error gsz_spz_write(const char *path, const gsz_scene *sc) {
    size_t n = sc->count, nsh = (size_t)gsz_shRestCount(sc->sh_degree) * 3;
    if (n == 0 || n > UINT32_MAX) return gsz_fail(GSZ_ERROR_argument, "%s: a .spz holds 1 to 2^32 - 1 Gaussians, not %zu", path, n);
    /* the most fractional bits (at most 12, the reference writer's) that keep every coordinate in 24 bits */
    double ext = 0;
    for (size_t i = 0; i < 3 * n; i++) ext = GSZ_MAX(ext, fabs((double)sc->pos[i]));
    int frac = 12;
    while (frac > 0 && ext * (double)(1 << frac) > 8388607.0) frac--;
    size_t per = 9 + 1 + 3 + 3 + 4 + nsh, total = 16 + n * per;
    uint8_t *b = malloc(total);
    if (!b) return gsz_fail(GSZ_ERROR_memory, "%s: out of memory", path);
    gsz_put_le32(b, SPZ_MAGIC);
    gsz_put_le32(b + 4, 3);
    gsz_put_le32(b + 8, (uint32_t)n);
    b[12] = (uint8_t)sc->sh_degree;
    b[13] = (uint8_t)frac;
    b[14] = b[15] = 0;
    uint8_t *pos = b + 16, *alpha = pos + 9 * n, *col = alpha + n, *scl = col + 3 * n, *rot = scl + 3 * n, *sh = rot + 4 * n;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            double x = (double)sc->pos[3 * i + (size_t)k] * (k ? -1.0 : 1.0); /* down, front -> up, back */
            long v = GSZ_CLAMP(lrint(x * (double)(1 << frac)), -8388608L, 8388607L);
            for (int j = 0; j < 3; j++) pos[9 * i + 3 * (size_t)k + (size_t)j] = (uint8_t)((uint32_t)v >> (8 * j));
            col[3 * i + (size_t)k] = gsz_level8(((double)sc->sh_dc[3 * i + (size_t)k] * 0.15 + 0.5) * 255.0);
            scl[3 * i + (size_t)k] = gsz_level8(((double)sc->scale[3 * i + (size_t)k] + 10.0) * 16.0);
        }
        alpha[i] = gsz_level8(255.0 / (1.0 + exp(-(double)sc->opacity[i])));
        const float *q = sc->rot + 4 * i; /* w, x, y, z; the half turn negates y and z */
        double len = sqrt((double)q[0] * q[0] + (double)q[1] * q[1] + (double)q[2] * q[2] + (double)q[3] * q[3]);
        float xyzw[4] = {0, 0, 0, 1};
        if (len > 0) {
            xyzw[0] = (float)(q[1] / len);
            xyzw[1] = (float)(-q[2] / len);
            xyzw[2] = (float)(-q[3] / len);
            xyzw[3] = (float)(q[0] / len);
        }
        gsz_put_le32(rot + 4 * i, pack_st3(xyzw));
        for (size_t k = 0; k < nsh; k++) {
            float v = sc->sh_rest[nsh * i + k];
            sh[nsh * i + k] = sh_level(odd_yz[k / 3] ? -v : v, k / 3 < 3 ? 8 : 16);
        }
    }
    /* gzip through zlib, fed in pieces of at most 1 GB (its counts are 32-bit) */
    gsz_outfile o;
    gsz_error e = gsz_outfile_open(&o, path);
    if (e) { free(b); return e; }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(b);
        gsz_outfile_abort(&o);
        return gsz_fail(GSZ_ERROR_memory, "%s: out of memory", path);
    }
    uint8_t chunk[1 << 16];
    size_t in = 0;
    int r = Z_OK;
    while (!e && r != Z_STREAM_END) {
        if (!z.avail_in && in < total) {
            z.next_in = b + in;
            z.avail_in = (uInt)GSZ_MIN(total - in, (size_t)1 << 30);
            in += z.avail_in;
        }
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        r = deflate(&z, in == total ? Z_FINISH : Z_NO_FLUSH);
        if (r == Z_STREAM_ERROR) { e = gsz_fail(GSZ_ERROR_memory, "%s: gzip failed", path); break; }
        size_t have = sizeof chunk - z.avail_out;
        if (have && fwrite(chunk, 1, have, o.f) != have) e = gsz_outfile_write_error(&o);
    }
    deflateEnd(&z);
    free(b);
    if (e) { gsz_outfile_abort(&o); return e; }
    return gsz_outfile_commit(&o);
}
