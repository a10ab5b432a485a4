/* compressed.ply's chunk lattice (PlayCanvas/SuperSplat), kept exactly. Scenes decoded from that format
 * still sit on it: per chunk of 256 Gaussians (file order) the ranges of position, log-scale and
 * colour, and per Gaussian four 32-bit words. Re-quantising such a scene misses the lattice (68-70 dB at
 * max's 8 bits per value, 84-91 dB at 16 bits in 25 B/G); storing the words loses nothing in 15 B/G.
 * Decoding follows splat-transform's reader: lerp(lo, hi, q / (2^b - 1)) in double, rounded to f32;
 * colour (c - 0.5) / C0; opacity -log(1/t - 1); rotation by smallest three. This file is built with
 * floating-point contraction off, so that the arithmetic is the same everywhere. */
#include "codec.h"

#include <string.h>

#define SH_C0 0.28209479177387814

static double unorm(uint32_t v, int bits) {
    uint32_t m = (1u << bits) - 1;
    return (double)(v & m) / (double)m;
}
static float lerp(float lo, float hi, double t) { return (float)((double)lo * (1.0 - t) + (double)hi * t); }

float gsz_lattice_opacity(uint32_t q) {
    if (q == 0) return -20.0f;
    if (q == 255) return 20.0f;
    return (float)-log(1.0 / unorm(q, 8) - 1.0);
}

void gsz_lattice_gaussian(const float *r, uint32_t wp, uint32_t ws, uint32_t wc, uint32_t wr, float pos[3], float scale[3],
                          float rot[4], float dc[3]) {
    pos[0] = lerp(r[0], r[3], unorm(wp >> 21, 11));
    pos[1] = lerp(r[1], r[4], unorm(wp >> 11, 10));
    pos[2] = lerp(r[2], r[5], unorm(wp, 11));
    scale[0] = lerp(r[6], r[9], unorm(ws >> 21, 11));
    scale[1] = lerp(r[7], r[10], unorm(ws >> 11, 10));
    scale[2] = lerp(r[8], r[11], unorm(ws, 11));
    for (int k = 0; k < 3; k++) {
        float c = lerp(r[12 + k], r[15 + k], unorm(wc >> (24 - 8 * k), 8));
        dc[k] = (float)(((double)c - 0.5) / SH_C0);
    }
    double norm = 1.0 / (sqrt(2.0) * 0.5), v[3];
    for (int k = 0; k < 3; k++) v[k] = (unorm(wr >> (20 - 10 * k), 10) - 0.5) * norm;
    double m = sqrt(GSZ_MAX(0.0, 1.0 - (v[0] * v[0] + v[1] * v[1] + v[2] * v[2])));
    int which = (int)(wr >> 30);
    for (int k = 0, j = 0; k < 4; k++) rot[k] = (float)(k == which ? m : v[j++]);
}

/* q for value v on the b-bit lattice of [lo, hi] (0 where the range is empty). */
static uint32_t level(float v, float lo, float hi, int bits) {
    if (!(hi > lo)) return 0;
    double t = ((double)v - (double)lo) / ((double)hi - (double)lo);
    return (uint32_t)GSZ_CLAMP(lround(t * (double)((1u << bits) - 1)), 0L, (long)((1u << bits) - 1));
}

/* The colour a DC coefficient shows, as the format stores it (not clamped: the chunk ranges hold it). */
static float color_of(float dc) { return (float)((double)dc * SH_C0 + 0.5); }

/* Ranges of the chunk [c0, c1): what that format stores as the chunk's bounds. */
static void chunk_ranges(const gsz_scene *s, size_t c0, size_t c1, float *r) {
    for (int k = 0; k < 3; k++) {
        r[k] = r[6 + k] = r[12 + k] = INFINITY;
        r[3 + k] = r[9 + k] = r[15 + k] = -INFINITY;
    }
    for (size_t i = c0; i < c1; i++)
        for (int k = 0; k < 3; k++) {
            float p = s->pos[3 * i + (size_t)k], l = s->scale[3 * i + (size_t)k], c = color_of(s->sh_dc[3 * i + (size_t)k]);
            r[k] = GSZ_MIN(r[k], p); r[3 + k] = GSZ_MAX(r[3 + k], p);
            r[6 + k] = GSZ_MIN(r[6 + k], l); r[9 + k] = GSZ_MAX(r[9 + k], l);
            r[12 + k] = GSZ_MIN(r[12 + k], c); r[15 + k] = GSZ_MAX(r[15 + k], c);
        }
}

/* Gaussian i's position, scale and colour + opacity words within its chunk's ranges r. */
static void words_of(const gsz_scene *s, size_t i, const float *r, uint32_t w[3]) {
    const float *p = s->pos + 3 * i, *l = s->scale + 3 * i, *d = s->sh_dc + 3 * i;
    w[0] = level(p[0], r[0], r[3], 11) << 21 | level(p[1], r[1], r[4], 10) << 11 | level(p[2], r[2], r[5], 11);
    w[1] = level(l[0], r[6], r[9], 11) << 21 | level(l[1], r[7], r[10], 10) << 11 | level(l[2], r[8], r[11], 11);
    double sig = 1.0 / (1.0 + exp(-(double)s->opacity[i]));
    w[2] = (uint32_t)GSZ_CLAMP(lround(sig * 255.0), 0L, 255L);
    for (int k = 0; k < 3; k++) w[2] |= level(color_of(d[k]), r[12 + k], r[15 + k], 8) << (24 - 8 * k);
}

/* The rotation word of quaternion q (any norm and sign) with component `which` left out. */
static uint32_t rotation_word(const float q[4], int which) {
    double nq = sqrt((double)q[0] * q[0] + (double)q[1] * q[1] + (double)q[2] * q[2] + (double)q[3] * q[3]);
    double f = nq > 0 ? (q[which] < 0 ? -1.0 : 1.0) / nq : 0.0;
    uint32_t wr = (uint32_t)which << 30;
    for (int k = 0, j = 0; k < 4; k++)
        if (k != which) {
            double t = (double)q[k] * f * (sqrt(2.0) * 0.5) + 0.5;
            wr |= (uint32_t)GSZ_CLAMP(lround(t * 1023.0), 0L, 1023L) << (20 - 10 * j++);
        }
    return wr;
}

void gsz_lattice_color_diff(uint32_t *wc, size_t n, int undo) {
    for (size_t i = 0; i < n; i++) {
        uint32_t w = wc[i], g = (w >> 16) & 255, r = w >> 24, b = (w >> 8) & 255;
        r = (undo ? r + g : r - g) & 255;
        b = (undo ? b + g : b - g) & 255;
        wc[i] = r << 24 | (w & 0x00FF00FFu) | b << 8;
    }
}

int gsz_lattice_color_pays(const uint32_t *wc, size_t n) {
    uint32_t h[4][256] = {{0}}; /* R, B, R - G, B - G */
    for (size_t i = 0; i < n; i++) {
        uint32_t w = wc[i], g = (w >> 16) & 255, r = w >> 24, b = (w >> 8) & 255;
        h[0][r]++; h[1][b]++; h[2][(r - g) & 255]++; h[3][(b - g) & 255]++;
    }
    return gsz_diff_pays(gsz_hist_bits(h[0]) + gsz_hist_bits(h[1]), gsz_hist_bits(h[2]) + gsz_hist_bits(h[3]));
}

/* Opacity goes through a logarithm (JavaScript's and libm's may differ in the last place), and the
 * colour ranges come back from (c - 0.5) / C0 to within a few units in the last place of c: these
 * two are kept to within 1e-6 rather than bit for bit (far beyond what a render shows: ~130 dB). */
static int close(float a, float b) { return fabsf(a - b) <= 1e-6f * GSZ_MAX(fabsf(b), 1.0f); }

int gsz_lattice_detect(const gsz_scene *s, float *ranges, uint32_t *words) {
    size_t n = s->count;
    for (size_t c0 = 0; c0 < n; c0 += GSZ_LATTICE_CHUNK) {
        size_t c1 = GSZ_MIN(n, c0 + GSZ_LATTICE_CHUNK);
        float *r = ranges + GSZ_LATTICE_RANGES * (c0 / GSZ_LATTICE_CHUNK);
        chunk_ranges(s, c0, c1, r);
        for (int k = 0; k < GSZ_LATTICE_RANGES; k++)
            if (!isfinite(r[k])) return 0;
        for (size_t i = c0; i < c1; i++) {
            uint32_t w[3], wr = 0;
            words_of(s, i, r, w);
            float P[3], L[3], R[4], D[3], O = gsz_lattice_opacity(w[2] & 255);
            int ok = 0;
            for (int which = 0; which < 4 && !ok; which++) { /* the component left out: any that reproduces */
                wr = rotation_word(s->rot + 4 * i, which);
                gsz_lattice_gaussian(r, w[0], w[1], w[2], wr, P, L, R, D);
                ok = !memcmp(R, s->rot + 4 * i, sizeof R);
            }
            if (!ok || memcmp(P, s->pos + 3 * i, sizeof P) || memcmp(L, s->scale + 3 * i, sizeof L) || !close(O, s->opacity[i]))
                return 0;
            for (int k = 0; k < 3; k++)
                if (!close(D[k], s->sh_dc[3 * i + (size_t)k])) return 0;
            words[i] = w[0];
            words[n + i] = w[1];
            words[2 * n + i] = w[2];
            words[3 * n + i] = wr;
        }
    }
    return 1;
}

void gsz_lattice_quantise(gsz_scene *s) {
    size_t n = s->count;
    for (size_t c0 = 0; c0 < n; c0 += GSZ_LATTICE_CHUNK) {
        size_t c1 = GSZ_MIN(n, c0 + GSZ_LATTICE_CHUNK);
        float r[GSZ_LATTICE_RANGES];
        chunk_ranges(s, c0, c1, r);
        for (size_t i = c0; i < c1; i++) {
            uint32_t w[3];
            words_of(s, i, r, w);
            float *q = s->rot + 4 * i;
            int which = 0; /* smallest three: the largest component left out */
            for (int k = 1; k < 4; k++)
                if (fabsf(q[k]) > fabsf(q[which])) which = k;
            gsz_lattice_gaussian(r, w[0], w[1], w[2], rotation_word(q, which), s->pos + 3 * i, s->scale + 3 * i, q, s->sh_dc + 3 * i);
            s->opacity[i] = gsz_lattice_opacity(w[2] & 255);
        }
    }
    /* SH coefficients: 8 bits over [-4, 4], as that format stores them */
    for (size_t i = 0, m = n * (size_t)gsz_shRestCount(s->sh_degree) * 3; i < m; i++) {
        long q = GSZ_CLAMP((long)floor(((double)s->sh_rest[i] / 8.0 + 0.5) * 256.0), 0L, 255L);
        double t = q == 0 ? 0.0 : q == 255 ? 1.0 : ((double)q + 0.5) / 256.0;
        s->sh_rest[i] = (float)((t - 0.5) * 8.0);
    }
}
