/* Scalar quantisation helpers: 63-bit Morton codes (21 bits per axis) for the spatial order,
 * codebooks stored with per-dimension ranges at 8 or 16 bits, canonical quaternions. */
#include "codec.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static uint64_t spread3(uint32_t v) {
    uint64_t x = v & 0x1FFFFFu;
    x = (x | x << 32) & 0x1F00000000FFFFull;
    x = (x | x << 16) & 0x1F0000FF0000FFull;
    x = (x | x << 8) & 0x100F00F00F00F00Full;
    x = (x | x << 4) & 0x10C30C30C30C30C3ull;
    x = (x | x << 2) & 0x1249249249249249ull;
    return x;
}

uint64_t gsz_morton3(uint32_t x, uint32_t y, uint32_t z) { return spread3(x) | spread3(y) << 1 | spread3(z) << 2; }

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void putf(uint8_t *p, float f) { uint32_t u; memcpy(&u, &f, 4); put32(p, u); }
static float getf(const uint8_t *p) { uint32_t u = get32(p); float f; memcpy(&f, &u, 4); return f; }

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}
static int cmp_float_bits(const void *a, const void *b) {
    float x, y;
    memcpy(&x, a, 4); memcpy(&y, b, 4);
    if (x != y) return x < y ? -1 : 1;
    return cmp_u32(a, b); /* -0 and +0 apart: the table keeps bit patterns */
}

/* The distinct values of cb (as bit patterns, ascending by value) when there are at most
 * GSZ_TABLE_MAX of them, all finite; else 0. A small hash set gives up at the 257th value. */
static int value_table(const float *cb, size_t count, uint32_t table[GSZ_TABLE_MAX]) {
    enum { SLOTS = 1024 };
    uint32_t slot[SLOTS];
    uint8_t used[SLOTS] = {0};
    int t = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, cb + i, 4);
        if (!isfinite(cb[i])) return 0;
        uint32_t h = (u * 2654435761u) >> 22;
        while (used[h] && slot[h] != u) h = (h + 1) & (SLOTS - 1);
        if (used[h]) continue;
        if (t == GSZ_TABLE_MAX) return 0;
        used[h] = 1;
        slot[h] = u;
        table[t++] = u;
    }
    if (t > 1) qsort(table, (size_t)t, 4, cmp_float_bits);
    return t;
}

/* Encodings 5 and 6 store plane d less the middle plane of its triplet (G of the colour, of each SH
 * coefficient), modulo 256; the middle plane itself as it is. */
static size_t diff_ref(size_t d) { return d - d % 3 + 1; }

/* The M one-byte planes of K entries at p differenced as encodings 5 and 6 store them, where that pays
 * (gsz_diff_pays, on the planes' summed order-0 entropy). Returns whether it did. */
static int diff_planes(uint8_t *p, size_t K, size_t M) {
    if (M % 3 || !K) return 0;
    double plain = 0, diff = 0;
    for (size_t d = 0; d < M; d++) {
        if (diff_ref(d) == d) continue;
        uint32_t h[256] = {0}, hd[256] = {0};
        const uint8_t *v = p + d * K, *r = p + diff_ref(d) * K;
        for (size_t j = 0; j < K; j++) { h[v[j]]++; hd[(uint8_t)(v[j] - r[j])]++; }
        plain += gsz_hist_bits(h);
        diff += gsz_hist_bits(hd);
    }
    if (!gsz_diff_pays(plain, diff)) return 0;
    for (size_t d = 0; d < M; d++) {
        if (diff_ref(d) == d) continue;
        uint8_t *v = p + d * K;
        const uint8_t *r = p + diff_ref(d) * K;
        for (size_t j = 0; j < K; j++) v[j] = (uint8_t)(v[j] - r[j]);
    }
    return 1;
}

/* Encoding 2: values drawn from at most 256 distinct floats (inputs decoded from formats that
 * quantise to palettes, e.g. SOG) are kept exactly: u32 k, u16 dim, u8 8, u8 2, u16 T, f32 table[T]
 * ascending, then dim planes of k one-byte table indices. */
static gsz_error pack_table(const float *cb, size_t K, size_t M, const uint32_t *table, int T, uint8_t **out, size_t *out_size) {
    size_t size = 10 + 4 * (size_t)T + K * M;
    uint8_t *p = malloc(size);
    if (!p) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    put32(p, (uint32_t)K);
    p[4] = (uint8_t)M; p[5] = (uint8_t)(M >> 8); p[6] = 8; p[7] = 2;
    p[8] = (uint8_t)T; p[9] = (uint8_t)(T >> 8);
    for (int t = 0; t < T; t++) put32(p + 10 + 4 * (size_t)t, table[t]);
    uint8_t *plane = p + 10 + 4 * (size_t)T;
    for (size_t j = 0; j < K; j++)
        for (size_t d = 0; d < M; d++) {
            uint32_t u;
            memcpy(&u, cb + j * M + d, 4);
            const uint32_t *at = bsearch(&u, table, (size_t)T, 4, cmp_float_bits);
            plane[d * K + j] = (uint8_t)(at - table);
        }
    if (diff_planes(plane, K, M)) p[7] = 6;
    *out = p;
    *out_size = size;
    return GSZ_OK;
}

/* Encoding 4 of a rotation codebook: the three smallest components of each unit quaternion at 8 bits
 * over [-1/sqrt 2, 1/sqrt 2] and which one was largest (its sign made positive, q and -q being the same
 * rotation; it is recovered from the unit norm): 26 bits an entry against encoding 0's 32, at a finer
 * step (playbot-trained max: 31.4 -> 24.9 bits a Gaussian after zstd). */
#define QUAT_R 0.70710678118654752
static void quat_decode(uint8_t big, const uint8_t q[3], float out[4]) {
    double v[4], ss = 0;
    for (int i = 0, o = 0; i < 4; i++) {
        if (i == big) continue;
        v[i] = ((double)q[o++] / 255.0 - 0.5) * (2 * QUAT_R);
        ss += v[i] * v[i];
    }
    v[big] = sqrt(ss < 1 ? 1 - ss : 0);
    double sg = v[0] < 0 ? -1 : 1; /* w >= 0, as every rotation codebook holds them */
    for (int i = 0; i < 4; i++) out[i] = (float)(sg * v[i]);
}

static gsz_error pack_quat(float *cb, size_t K, uint8_t **out, size_t *out_size) {
    size_t size = 8 + 4 * K;
    uint8_t *p = malloc(size);
    if (!p) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    put32(p, (uint32_t)K);
    p[4] = 4; p[5] = 0; p[6] = 8; p[7] = 4;
    for (size_t j = 0; j < K; j++) {
        float *e = cb + 4 * j;
        double n = 0, v[4] = {1, 0, 0, 0}; /* the identity for a zero or non-finite entry */
        for (int i = 0; i < 4; i++) n += (double)e[i] * e[i];
        n = sqrt(n);
        int big = 0;
        for (int i = 0; n > 0 && isfinite(n) && i < 4; i++) {
            v[i] = e[i] / n;
            if (fabs(v[i]) > fabs(v[big])) big = i;
        }
        double sg = v[big] < 0 ? -1 : 1;
        uint8_t q[3];
        for (int i = 0, o = 0; i < 4; i++) {
            if (i == big) continue;
            long t = lround((sg * v[i] / (2 * QUAT_R) + 0.5) * 255.0);
            q[o++] = (uint8_t)GSZ_CLAMP(t, 0, 255);
        }
        p[8 + j] = (uint8_t)big;
        for (int o = 0; o < 3; o++) p[8 + (size_t)(o + 1) * K + j] = q[o];
        quat_decode((uint8_t)big, q, e); /* what the decoder gives */
    }
    *out = p;
    *out_size = size;
    return GSZ_OK;
}

/* Layout: u32 k, u16 dim, u8 bits, u8 0, f32 min[dim], f32 max[dim], then dim planes of k values;
 * encoding 2 (above), exact, where at most 256 values repeat or its table costs no more. */
gsz_error gsz_codebook_pack(float *cb, int k, int dim, int bits, uint8_t **out, size_t *out_size) {
    if (bits != 8 && bits != 16) return gsz_fail(GSZ_ERROR_argument, "codebook: %d bits", bits);
    if (k < 1 || k > GSZ_CODEBOOK_MAX) return gsz_fail(GSZ_ERROR_argument, "codebook: %d entries (the format allows 1 to 2^24)", k);
    /* a table where values repeat (a few thousand points over 256 levels) or it costs no more: a
     * small k-means codebook has as many distinct values as it has, and 4 bytes each would swell it */
    uint32_t table[GSZ_TABLE_MAX];
    size_t count = (size_t)k * (size_t)dim, vb = (size_t)bits / 8;
    int T = value_table(cb, count, table);
    if (T && (4 * (size_t)T <= count || 2 + 4 * (size_t)T + count <= 8 * (size_t)dim + count * vb))
        return pack_table(cb, (size_t)k, (size_t)dim, table, T, out, out_size);
    if (dim == 4 && bits == 8) return pack_quat(cb, (size_t)k, out, out_size);
    size_t size = 8 + 8 * (size_t)dim + count * vb;
    uint8_t *p = malloc(size);
    if (!p) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    put32(p, (uint32_t)k);
    p[4] = (uint8_t)dim; p[5] = (uint8_t)(dim >> 8); p[6] = (uint8_t)bits; p[7] = 0;
    double levels = bits == 8 ? 255.0 : 65535.0;
    uint8_t *plane = p + 8 + 8 * (size_t)dim;
    for (int d = 0; d < dim; d++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int j = 0; j < k; j++) { float v = cb[(size_t)j * (size_t)dim + (size_t)d]; lo = GSZ_MIN(lo, v); hi = GSZ_MAX(hi, v); }
        if (!(hi > lo)) hi = lo;
        putf(p + 8 + 4 * (size_t)d, lo);
        putf(p + 8 + 4 * (size_t)dim + 4 * (size_t)d, hi);
        for (int j = 0; j < k; j++) {
            float *v = &cb[(size_t)j * (size_t)dim + (size_t)d];
            uint32_t q = hi > lo ? (uint32_t)lround((double)(*v - lo) / (double)(hi - lo) * levels) : 0;
            if (q > (uint32_t)levels) q = (uint32_t)levels;
            *v = hi > lo ? (float)((double)lo + ((double)hi - (double)lo) * (double)q / levels) : lo;
            size_t at = ((size_t)d * (size_t)k + (size_t)j) * vb;
            plane[at] = (uint8_t)q;
            if (vb == 2) plane[at + 1] = (uint8_t)(q >> 8);
        }
    }
    if (vb == 1 && diff_planes(plane, (size_t)k, (size_t)dim)) p[7] = 5;
    *out = p;
    *out_size = size;
    return GSZ_OK;
}

/* Transform-coded SH codebooks (encoding 1), for one entry per Gaussian where a k-means codebook
 * saturates (the error of a 45-dimensional codebook of a few thousand entries falls slowly with its
 * size): each coefficient's RGB triplet in an orthonormal opponent-colour basis, which takes out most
 * of the correlation a full PCA finds, then uniform quantisation with step `step * 2^class[j]`
 * (coarser for the entries of less significant Gaussians). Layout: u32 k, u16 dim, u8 16, u8 1,
 * f32 step, dim plane widths (1 or 2 bytes), k class bytes, then dim planes of k zigzagged integers
 * (a 2-byte plane: its low bytes, then its high bytes). One-byte planes halve the memory the decoder
 * touches; a plane is wide only where a value needs it. */
#define OPP_A 0.57735026918962576 /* 1/sqrt(3) */
#define OPP_B 0.70710678118654752 /* 1/sqrt(2) */
#define OPP_C 0.40824829046386302 /* 1/sqrt(6) */

static void opp_inverse(double y0, double y1, double y2, float *e) {
    e[0] = (float)(OPP_A * y0 + OPP_B * y1 + OPP_C * y2);
    e[1] = (float)(OPP_A * y0 - 2 * OPP_C * y2);
    e[2] = (float)(OPP_A * y0 - OPP_B * y1 + OPP_C * y2);
}

/* Rounding offset of the SH quantiser: below one half, a dead zone around zero. The coefficients are
 * mostly small, so zeros get more frequent and cheaper; at equal bytes +0.2-0.3 dB over plain rounding
 * (docs/BENCHMARKS.md). The decoder is unchanged: it reconstructs q * step. */
#define SH_ROUND 0.4

/* Entry j's opponent components quantised at its step (q[M]); writes the decoded values back to e. */
static void quantise_sh(float *e, size_t M, double s, int32_t *q, int write_back) {
    for (size_t t = 0; t < M; t += 3) {
        double r = e[t], g = e[t + 1], b = e[t + 2];
        double y[3] = {(r + g + b) * OPP_A, (r - b) * OPP_B, (r - 2 * g + b) * OPP_C};
        for (int u = 0; u < 3; u++) {
            double a = floor(fabs(y[u]) / s + SH_ROUND);
            int32_t v = a < 32767.0 ? (int32_t)a : 32767; /* saturated before the conversion (absurd inputs reach 1e38) */
            q[t + (size_t)u] = y[u] < 0 ? -v : v;
        }
        if (write_back) opp_inverse(s * q[t], s * q[t + 1], s * q[t + 2], e + t);
    }
}

static uint32_t zigzag(int32_t q) { uint32_t u = (uint32_t)q; return (u << 1) ^ (0u - (u >> 31)); } /* no signed shift */
static int32_t unzigzag(uint32_t z) { return (int32_t)(z >> 1) ^ -(int32_t)(z & 1); }

/* Entry j's integer in an encoding-1 plane at p (K entries; wide: its low bytes, then its high bytes). */
static uint32_t plane_z(const uint8_t *p, size_t K, int wide, size_t j) { return p[j] | (wide ? (uint32_t)p[K + j] << 8 : 0); }

/* Bit i of an encoding-3 entry's flags is component sh_flag_component(i, M): the opponent components'
 * first (luminance) of every coefficient, then the second, then the third, so that the flags of the
 * components most often nonzero share bytes. */
static size_t sh_flag_component(size_t i, size_t M) { return 3 * (i % (M / 3)) + i / (M / 3); }

uint8_t *gsz_codebook_sh_split(const uint8_t *p, size_t *out_size) {
    size_t K = get32(p), M = (size_t)(p[4] | p[5] << 8), G = (M + 7) / 8, nz[255] = {0}, wide[255] = {0}, at[255], o = 12 + M + K;
    const uint8_t *w = p + 12;
    for (size_t m = 0; m < M; m++) {
        at[m] = o;
        for (size_t j = 0; j < K; j++) {
            uint32_t z = plane_z(p + o, K, w[m] == 2, j);
            nz[m] += z != 0;
            wide[m] |= z > 256;
        }
        o += K * w[m];
    }
    size_t total = 12 + M + K + G * K;
    for (size_t m = 0; m < M; m++) total += nz[m] * (wide[m] ? 2 : 1);
    uint8_t *q = calloc(total, 1);
    if (!q) return NULL;
    memcpy(q, p, 12 + M + K);
    q[7] = 3;
    for (size_t m = 0; m < M; m++) q[12 + m] = wide[m] ? 2 : 1;
    uint8_t *flags = q + 12 + M + K, *v = flags + G * K;
    for (size_t m = 0; m < M; m++) {
        size_t n = 0, i = (m % 3) * (M / 3) + m / 3; /* its flag index (sh_flag_component's inverse) */
        for (size_t j = 0; j < K; j++) {
            uint32_t z = plane_z(p + at[m], K, w[m] == 2, j);
            if (!z) continue;
            flags[(i / 8) * K + j] |= (uint8_t)(1u << (i % 8));
            v[n] = (uint8_t)(z - 1);
            if (wide[m]) v[nz[m] + n] = (uint8_t)((z - 1) >> 8);
            n++;
        }
        v += nz[m] * (wide[m] ? 2 : 1);
    }
    *out_size = total;
    return q;
}

gsz_error gsz_codebook_pack_sh(float *cb, int k, int dim, float step, const uint8_t *cls, uint8_t **out, size_t *out_size) {
    if (dim % 3 || dim > 255 || !(step > 0) || !isfinite(step)) return gsz_fail(GSZ_ERROR_argument, "SH codebook: dimension %d, step %g", dim, (double)step);
    if (k < 1 || k > GSZ_CODEBOOK_MAX) return gsz_fail(GSZ_ERROR_argument, "codebook: %d entries (the format allows 1 to 2^24)", k);
    size_t K = (size_t)k, M = (size_t)dim;
    int32_t q[255];
    uint8_t wide[255] = {0};
    /* two passes, widths first, so no quantised copy of the codebook is kept */
    for (size_t j = 0; j < K; j++) {
        quantise_sh(cb + j * M, M, (double)step * (double)(1u << (cls ? GSZ_MIN(cls[j], 7) : 0)), q, 0);
        for (size_t m = 0; m < M; m++) wide[m] |= zigzag(q[m]) > 255;
    }
    size_t size = 12 + M + K, at[255];
    for (size_t m = 0; m < M; m++) { at[m] = size; size += K * (wide[m] ? 2 : 1); }
    uint8_t *p = malloc(size);
    if (!p) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    put32(p, (uint32_t)k);
    p[4] = (uint8_t)dim; p[5] = (uint8_t)(dim >> 8); p[6] = 16; p[7] = 1;
    putf(p + 8, step);
    for (size_t m = 0; m < M; m++) p[12 + m] = wide[m] ? 2 : 1;
    for (size_t j = 0; j < K; j++) {
        uint8_t c = cls ? GSZ_MIN(cls[j], 7) : 0;
        p[12 + M + j] = c;
        quantise_sh(cb + j * M, M, (double)step * (double)(1u << c), q, 1);
        for (size_t m = 0; m < M; m++) {
            uint32_t z = zigzag(q[m]);
            p[at[m] + j] = (uint8_t)z;
            if (wide[m]) p[at[m] + K + j] = (uint8_t)(z >> 8);
        }
    }
    *out = p;
    *out_size = size;
    return GSZ_OK;
}

/* Nonzero values per component of an encoding-3 codebook among entries [b, e), from its G = ceil(M/8)
 * flag planes of K bytes: 8 entries' flags at a time, summed per bit position by a multiply. */
static void sh_nonzero(const uint8_t *flags, size_t K, size_t M, size_t b, size_t e, size_t *nz) {
    for (size_t m = 0; m < M; m++) nz[m] = 0;
    for (size_t g = 0; g < (M + 7) / 8; g++) {
        const uint8_t *f = flags + g * K;
        size_t c[8] = {0}, j = b;
        for (; j + 8 <= e; j += 8) {
            uint64_t x;
            memcpy(&x, f + j, 8);
            for (int t = 0; t < 8; t++) c[t] += (size_t)((((x >> t) & 0x0101010101010101ull) * 0x0101010101010101ull) >> 56);
        }
        for (; j < e; j++)
            for (int t = 0; t < 8; t++) c[t] += (f[j] >> t) & 1;
        for (size_t t = 0; t < 8 && 8 * g + t < M; t++) nz[sh_flag_component(8 * g + t, M)] = c[t];
    }
}

size_t gsz_codebook_cuts(const uint8_t *p, size_t size, size_t *cut, size_t max) {
    if (size < 8) return 0;
    size_t K = get32(p), M = (size_t)(p[4] | p[5] << 8), at, piece = K, pieces = M, n = 0;
    switch (p[7]) {
    case 0: case 5: at = 8 + 8 * M; piece = K * (p[6] == 16 ? 2 : 1); break;
    case 2: case 6: if (size < 10) return 0; at = 10 + 4 * (size_t)(p[8] | p[9] << 8); break;
    case 4: at = 8; break; /* the largest components' plane, then the other three */
    case 1: /* the class bytes, then each plane's byte planes */
        if (size < 12 + M) return 0;
        at = 12 + M;
        pieces = 1;
        for (size_t m = 0; m < M; m++) pieces += p[12 + m];
        break;
    case 3: /* the class bytes, the flag planes, then each plane's nonzero values (as byte planes) */
        if (size < 12 + M + K * (1 + (M + 7) / 8) || M > 255) return 0;
        at = 12 + M;
        pieces = 1 + (M + 7) / 8;
        break;
    default: return 0;
    }
    for (size_t i = 0; i < pieces && at < size && n < max; i++, at += piece) cut[n++] = at;
    if (p[7] == 3) { /* the value planes' lengths from the flags */
        size_t nz[255];
        sh_nonzero(p + 12 + M + K, K, M, 0, K, nz);
        for (size_t m = 0; m < M; m++)
            for (int b = 0; b < p[12 + m] && at < size && n < max; b++, at += nz[m]) cut[n++] = at;
    }
    return n;
}

gsz_error gsz_codebook_keep(uint8_t *p, size_t *size, const uint8_t *keep) {
    /* the planes gsz_codebook_cuts finds, each K entries of one byte (two for encoding 0 at 16 bits) */
    size_t cut[GSZ_CODEBOOK_CUTS], planes = gsz_codebook_cuts(p, *size, cut, GSZ_CODEBOOK_CUTS);
    if (!planes || p[7] == 3) return gsz_fail(GSZ_ERROR_argument, "codebook: no planes of fixed entry size");
    size_t K = get32(p), unit = p[7] == 0 && p[6] == 16 ? 2 : 1, kn = 0, out = cut[0];
    if (*size - cut[0] != planes * K * unit) return gsz_fail(GSZ_ERROR_argument, "codebook: inconsistent size");
    for (size_t j = 0; j < K; j++) kn += keep[j] != 0;
    if (!kn) return gsz_fail(GSZ_ERROR_argument, "codebook: no entry kept");
    for (size_t i = 0; i < planes; i++)
        for (size_t j = 0; j < K; j++)
            if (keep[j]) { memmove(p + out, p + cut[i] + j * unit, unit); out += unit; }
    put32(p, (uint32_t)kn);
    *size = out;
    return GSZ_OK;
}

float gsz_codebook_shared_step(const uint8_t *p, size_t size) {
    if (size < 12 || (p[7] != 1 && p[7] != 3)) return 0;
    size_t K = get32(p), M = (size_t)(p[4] | p[5] << 8);
    if (size < 12 + M + K) return 0;
    for (size_t j = 0; j < K; j++)
        if (p[12 + M + j]) return 0;
    return getf(p + 8);
}

/* Encoding 3 decoded directly: entries in blocks of SPLIT_BLOCK (the parallel chunks, so a range starts
 * a block), each block starting from its values' offsets in every plane (the flags counted before it). */
#define SPLIT_BLOCK 4096
struct split_ctx {
    const uint8_t *flags, *vals[255], *width;
    size_t *first;       /* per block, per component: the values before the block */
    uint8_t comp[256];   /* flag bit i's component */
    const size_t *nz;
};

typedef struct {
    const uint8_t *cls;
    const uint8_t *plane[256]; /* start of each plane */
    const uint8_t *width;
    size_t K, M;
    float step;
    float *cb;            /* entry j's values at cb + row[j] * stride (row NULL: j * stride) */
    size_t stride;        /* M, or a scene's SH rest row (the values past M zeroed) */
    const uint32_t *row;
    const struct split_ctx *split; /* encoding 3, else NULL */
    int simd;             /* unpack_run_simd */
} unpack_sh_ctx;

/* Entry j's row in the output, and its step (the shared step times its class's power of two). */
static inline float *sh_row(const unpack_sh_ctx *c, size_t j) { return c->cb + (c->row ? c->row[j] : j) * c->stride; }
static inline double sh_step(const unpack_sh_ctx *c, size_t j) { return (double)c->step * (double)(1u << c->cls[j]); }

/* The flags of entries r0 .. r0+n-1 (n <= 64) in one flag byte plane as 8 words: bit i of bm[j] is
 * entry r0+i's flag bit j. */
static void flag_words(const uint8_t *fp, size_t n, uint64_t bm[8]) {
    size_t i = 0;
    memset(bm, 0, 8 * sizeof *bm);
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) { /* bit 7 of each byte after a shift by j is its bit 7 - j */
        __m128i w = _mm_loadu_si128((const __m128i *)(fp + i));
        for (int j = 0; j < 8; j++) bm[7 - j] |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_slli_epi64(w, j)) << i;
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, fp + i, 8);
        for (int j = 0; j < 8; j++) bm[j] |= (((w >> j) & 0x0101010101010101ull) * 0x0102040810204080ull >> 56) << i;
    }
    for (; i < n; i++)
        for (int j = 0; j < 8; j++) bm[j] |= (uint64_t)(fp[i] >> j & 1) << i;
}

/* Entries [b, e): encoding 3 in runs of 64 entries, one flag bit (component) at a time over the run's
 * set flags, each value's share of its coefficient's opponent inverse added into double sums: the
 * sums opp_inverse takes, in its order (flag bits go by opponent component, so a coefficient's three
 * arrive in order), and a zero term adds nothing. Entry by entry, the loops over an entry's few
 * values and coefficients (7 and 6 of 45 on playbot-trained's high SH3) mispredicted their exits
 * each time: 1.3-1.5x slower. Encoding 1 in runs of SUB, each plane's integers of the run first.
 * Then each entry's opponent inverse. */
#define SUB 256
#define RUN 64
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The same decode with AVX-512 (VBMI2's byte expand places a run's values at its set flags): each
 * component's 64 integers as a vector, each coefficient's inverse eight entries at a time in double
 * (the same products and sums, in the same order, as opp_inverse), then 16x16 transposes into rows.
 * Dense: a zero costs what a value does, but without a branch per value it is 3-4x faster. */
#define UNPACK_SIMD 1
#include <immintrin.h>
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi2,popcnt")))

/* z (low bytes lo, high bytes hi; plus one where set, for encoding 3) unzigzagged into y[0..63] */
AVX512_TARGET static inline void simd_unzigzag(int16_t *y, __m512i lo, __m512i hi, __mmask64 set, int plus1) {
    for (int h = 0; h < 2; h++) {
        __m512i z = _mm512_or_si512(_mm512_cvtepu8_epi16(h ? _mm512_extracti64x4_epi64(lo, 1) : _mm512_castsi512_si256(lo)),
                                    _mm512_slli_epi16(_mm512_cvtepu8_epi16(h ? _mm512_extracti64x4_epi64(hi, 1) : _mm512_castsi512_si256(hi)), 8));
        if (plus1) z = _mm512_mask_add_epi16(z, (__mmask32)(set >> (32 * h)), z, _mm512_set1_epi16(1));
        __m512i v = _mm512_xor_si512(_mm512_srli_epi16(z, 1), _mm512_sub_epi16(_mm512_setzero_si512(), _mm512_and_si512(z, _mm512_set1_epi16(1))));
        _mm512_store_si512((void *)(y + 32 * h), v);
    }
}

/* Rows r[0..15] (16 floats each) transposed in place: r[j] becomes column j. */
AVX512_TARGET static inline void simd_transpose16(__m512 r[16]) {
    __m512 a[16], b[16];
    for (int k = 0; k < 8; k++) {
        a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {
        b[4 * k + 0] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
        b[4 * k + 1] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
        b[4 * k + 2] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
        b[4 * k + 3] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) { /* b[c + 4q] holds rows 4q..4q+3 of columns c, 4+c, 8+c, 12+c, one per lane */
        __m512 w0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44), w1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xEE);
        __m512 w2 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44), w3 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(w0, w2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(w0, w2, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(w1, w3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(w1, w3, 0xDD);
    }
}

static inline __mmask64 low_mask64(size_t n) { return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1); } /* n <= 64 */

/* Entries r0 .. r0+n-1 (n <= 64); at[]: encoding 3's value offsets, advanced past the run. */
AVX512_TARGET static void unpack_run_simd(const unpack_sh_ctx *c, size_t r0, size_t n, size_t *at) {
    const struct split_ctx *x = c->split;
    size_t K = c->K, M = c->M, Mp = (M + 15) & ~(size_t)15;
    _Alignas(64) int16_t y[45][64];
    _Alignas(64) float f[48][64];
    _Alignas(64) double s[64];
    __mmask64 live = low_mask64(n);
    if (x)
        for (size_t g = 0; g < (M + 7) / 8; g++) {
            __m512i fl = _mm512_maskz_loadu_epi8(live, x->flags + g * K + r0);
            _mm_prefetch((const char *)(x->flags + g * K + r0) + 4 * RUN, _MM_HINT_T0);
            for (size_t j = 0; j < 8 && 8 * g + j < M; j++) {
                __mmask64 set = _mm512_test_epi8_mask(fl, _mm512_set1_epi8((char)(1 << j)));
                size_t m = x->comp[8 * g + j], cnt = (size_t)__builtin_popcountll(set);
                __mmask64 got = low_mask64(cnt);
                __m512i lo = _mm512_maskz_expand_epi8(set, _mm512_maskz_loadu_epi8(got, x->vals[m] + at[m])), hi = _mm512_setzero_si512();
                if (x->width[m] == 2) hi = _mm512_maskz_expand_epi8(set, _mm512_maskz_loadu_epi8(got, x->vals[m] + x->nz[m] + at[m]));
                at[m] += cnt;
                /* 45 planes read side by side are more streams than the hardware prefetcher follows */
                _mm_prefetch((const char *)(x->vals[m] + at[m]) + 128, _MM_HINT_T0);
                simd_unzigzag(y[m], lo, hi, set, 1);
            }
        }
    else
        for (size_t m = 0; m < M; m++) {
            __m512i lo = _mm512_maskz_loadu_epi8(live, c->plane[m] + r0), hi = _mm512_setzero_si512();
            if (c->width[m] == 2) hi = _mm512_maskz_loadu_epi8(live, c->plane[m] + K + r0);
            simd_unzigzag(y[m], lo, hi, 0, 0);
        }
    for (size_t i = 0; i < 64; i++) s[i] = i < n ? sh_step(c, r0 + i) : 0.0;
    for (size_t m = M; m < Mp; m++) _mm512_store_ps(f[m], _mm512_setzero_ps()), _mm512_store_ps(f[m] + 16, _mm512_setzero_ps()),
                                     _mm512_store_ps(f[m] + 32, _mm512_setzero_ps()), _mm512_store_ps(f[m] + 48, _mm512_setzero_ps());
    const __m512d A = _mm512_set1_pd(OPP_A), B = _mm512_set1_pd(OPP_B), C = _mm512_set1_pd(OPP_C), C2 = _mm512_set1_pd(2 * OPP_C);
    for (size_t q = 0; q < n; q += 16) /* two halves of 8 joined: the transposes load whole stored vectors */
        for (size_t t = 0; t < M; t += 3) {
            __m256 o[2][3];
            for (int h = 0; h < 2; h++) {
                __m512d sv = _mm512_load_pd(s + q + 8 * h); /* entries past n: never stored */
                __m512d y0 = _mm512_mul_pd(sv, _mm512_cvtepi32_pd(_mm256_cvtepi16_epi32(_mm_load_si128((const __m128i *)(y[t] + q + 8 * h)))));
                __m512d y1 = _mm512_mul_pd(sv, _mm512_cvtepi32_pd(_mm256_cvtepi16_epi32(_mm_load_si128((const __m128i *)(y[t + 1] + q + 8 * h)))));
                __m512d y2 = _mm512_mul_pd(sv, _mm512_cvtepi32_pd(_mm256_cvtepi16_epi32(_mm_load_si128((const __m128i *)(y[t + 2] + q + 8 * h)))));
                __m512d a0 = _mm512_mul_pd(A, y0), b1 = _mm512_mul_pd(B, y1), c2 = _mm512_mul_pd(C, y2);
                o[h][0] = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_add_pd(a0, b1), c2));
                o[h][1] = _mm512_cvtpd_ps(_mm512_sub_pd(a0, _mm512_mul_pd(C2, y2)));
                o[h][2] = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_sub_pd(a0, b1), c2));
            }
            for (int u = 0; u < 3; u++)
                _mm512_store_ps(f[t + (size_t)u] + q, _mm512_insertf32x8(_mm512_castps256_ps512(o[0][u]), o[1][u], 1));
        }
    /* rows that follow each other (every entry's, or a degree's run of Gaussians) are staged and
     * streamed out whole: the scene's SH rows are the decode's largest output (18.7 MB on
     * playbot-trained's high) and would otherwise be read in before they are overwritten */
    size_t st = c->stride, row0 = c->row ? c->row[r0] : r0;
    int staged = st <= 48;
    for (size_t i = 1; i < n && staged && c->row; i++) staged = c->row[r0 + i] == row0 + i;
    _Alignas(64) float stage[64 * 48];
    for (size_t e0 = 0; e0 < n; e0 += 16)
        for (size_t m0 = 0; m0 < Mp; m0 += 16) {
            __m512 r[16];
            for (int k = 0; k < 16; k++) r[k] = _mm512_load_ps(f[m0 + (size_t)k] + e0);
            simd_transpose16(r);
            __mmask16 keep = M - m0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (M - m0)) - 1);
            for (size_t i = e0; i < GSZ_MIN(n, e0 + 16); i++)
                _mm512_mask_storeu_ps((staged ? stage + i * st : sh_row(c, r0 + i)) + m0, keep, r[i - e0]);
        }
    for (size_t i = 0; i < n && st > M; i++)
        memset((staged ? stage + i * st : sh_row(c, r0 + i)) + M, 0, (st - M) * sizeof(float));
    if (!staged) return;
    char *d = (char *)sh_row(c, r0), *end = d + n * st * sizeof(float);
    const char *from = (const char *)stage;
    size_t head = GSZ_MIN((size_t)(end - d), (size_t)(-(uintptr_t)d & 63));
    memcpy(d, from, head); /* the partial lines at either end as plain stores: a neighbouring run shares them */
    for (d += head, from += head; d + 64 <= end; d += 64, from += 64) _mm512_stream_si512((void *)d, _mm512_loadu_si512(from));
    memcpy(d, from, (size_t)(end - d));
}

/* sh_nonzero with AVX-512: a flag byte plane's 64 entries at a time, each bit's count a popcount. */
AVX512_TARGET static void sh_nonzero_simd(const uint8_t *flags, size_t K, size_t M, size_t b, size_t e, size_t *nz) {
    for (size_t m = 0; m < M; m++) nz[m] = 0;
    for (size_t g = 0; g < (M + 7) / 8; g++) {
        const uint8_t *f = flags + g * K;
        size_t c[8] = {0};
        for (size_t j = b; j < e; j += 64) {
            __m512i v = _mm512_maskz_loadu_epi8(low_mask64(e - j), f + j);
            for (int t = 0; t < 8; t++) c[t] += (size_t)__builtin_popcountll(_mm512_test_epi8_mask(v, _mm512_set1_epi8((char)(1 << t))));
        }
        for (size_t t = 0; t < 8 && 8 * g + t < M; t++) nz[sh_flag_component(8 * g + t, M)] = c[t];
    }
}

static int simd_off; /* set by tests only: the plain unpack, to compare with */
static int unpack_simd(void) {
    return !simd_off && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi2");
}
void gsz_codebook_simd(int on) { simd_off = !on; }
#else
static int unpack_simd(void) { return 0; }
void gsz_codebook_simd(int on) { (void)on; }
#endif

static void unpack_sh_range(void *c_, size_t b, size_t e_, int w) {
    (void)w;
    const unpack_sh_ctx *c = c_;
    size_t K = c->K, M = c->M, G = (M + 7) / 8, at[45];
    const struct split_ctx *x = c->split;
    if (x) memcpy(at, x->first + (b / SPLIT_BLOCK) * M, M * sizeof *at); /* the values' offsets at block b */
#ifdef UNPACK_SIMD
    if (c->simd) {
        for (size_t r0 = b; r0 < e_; r0 += RUN) unpack_run_simd(c, r0, GSZ_MIN((size_t)RUN, e_ - r0), at);
        _mm_sfence(); /* the streamed stores, before the join that publishes them */
        return;
    }
#endif
    if (x) {
        /* W[u]: opponent component u's weight in a coefficient's R, G and B (opp_inverse's terms) */
        static const double W[3][3] = {{OPP_A, OPP_A, OPP_A}, {OPP_B, 0.0, -OPP_B}, {OPP_C, -2 * OPP_C, OPP_C}};
        double sum[RUN * 45], s[RUN];
        for (size_t r0 = b; r0 < e_; r0 += RUN) {
            size_t n = GSZ_MIN((size_t)RUN, e_ - r0);
            memset(sum, 0, n * M * sizeof *sum);
            for (size_t i = 0; i < n; i++) s[i] = sh_step(c, r0 + i);
            for (size_t g = 0; g < G; g++) {
                uint64_t bm[8];
                flag_words(x->flags + g * K + r0, n, bm);
                for (size_t j = 0; j < 8 && 8 * g + j < M; j++) {
                    size_t m = x->comp[8 * g + j], hi = x->width[m] == 2 ? x->nz[m] : 0;
                    uint32_t mask = x->width[m] == 2 ? 0xFF00u : 0;
                    const double *wt = W[m % 3];
                    const uint8_t *v0 = x->vals[m] + at[m], *v = v0;
                    double *col = sum + (m - m % 3);
                    for (uint64_t f = bm[j]; f; f &= f - 1, v++) {
                        size_t i = (size_t)__builtin_ctzll(f);
                        double y = s[i] * unzigzag(1u + (v[0] | ((uint32_t)v[hi] << 8 & mask)));
                        double *d = col + i * M;
                        d[0] += wt[0] * y;
                        d[1] += wt[1] * y;
                        d[2] += wt[2] * y;
                    }
                    at[m] += (size_t)(v - v0);
                }
            }
            for (size_t i = 0; i < n; i++) {
                float *e = sh_row(c, r0 + i);
                for (size_t m = 0; m < M; m++) e[m] = (float)sum[i * M + m];
                if (c->stride > M) memset(e + M, 0, (c->stride - M) * sizeof *e);
            }
        }
        return;
    }
    int32_t y[45 * SUB];
    for (size_t r = b; r < e_; r += SUB) {
        size_t n = GSZ_MIN((size_t)SUB, e_ - r);
        for (size_t m = 0; m < M; m++) {
            const uint8_t *pl = c->plane[m] + r, *ph = c->width[m] == 2 ? pl + K : NULL;
            for (size_t i = 0; i < n; i++) y[m * SUB + i] = unzigzag(pl[i] | (ph ? (uint32_t)ph[i] << 8 : 0));
        }
        for (size_t i = 0; i < n; i++) {
            double s = sh_step(c, r + i);
            float *e = sh_row(c, r + i);
            if (c->stride > M) memset(e + M, 0, (c->stride - M) * sizeof *e);
            for (size_t t = 0; t < M; t += 3) opp_inverse(s * y[t * SUB + i], s * y[(t + 1) * SUB + i], s * y[(t + 2) * SUB + i], e + t);
        }
    }
}

static void first_range(void *c_, size_t b, size_t e, int w) {
    (void)w;
    unpack_sh_ctx *c = c_;
    const struct split_ctx *x = c->split;
    for (size_t k = b; k < e; k++) {
        size_t lo = k * SPLIT_BLOCK, hi = GSZ_MIN(c->K, (k + 1) * SPLIT_BLOCK);
#ifdef UNPACK_SIMD
        if (c->simd) { sh_nonzero_simd(x->flags, c->K, c->M, lo, hi, x->first + k * c->M); continue; }
#endif
        sh_nonzero(x->flags, c->K, c->M, lo, hi, x->first + k * c->M);
    }
}

/* Whole-array checks without an exit per byte, so that they vectorise (the entry to name is looked
 * for only once one fails): the OR of n bytes; whether some a[i] & b[i] is 255. */
static uint8_t or_bytes(const uint8_t *a, size_t n) {
    uint8_t r = 0;
    for (size_t i = 0; i < n; i++) r |= a[i];
    return r;
}
static int any_both_255(const uint8_t *a, const uint8_t *b, size_t n) {
    uint8_t r = 0;
    for (size_t i = 0; i < n; i++) r |= (uint8_t)((a[i] & b[i]) == 255);
    return r;
}

/* A transform-coded codebook checked and ready to decode block by block (gsz_sh_rows_*). */
struct gsz_sh_rows {
    unpack_sh_ctx c;
    struct split_ctx x;
    size_t nz[255];
    size_t *first;
};

/* Checks p and, for encoding 3, counts each block's values' offsets; into dst (rows as unpack_sh_ctx's)
 * or, dst NULL, a new codebook (u->c.cb, the caller's once taken). */
static gsz_error sh_begin(const uint8_t *p, size_t size, uint32_t k, int dim, int threads, float *dst, size_t stride,
                          const uint32_t *row, gsz_sh_rows **out) {
    size_t K = k, M = (size_t)dim, G = (M + 7) / 8;
    int split = p[7] == 3;
    *out = NULL;
    if (dim % 3 || dim > 45) return gsz_fail(GSZ_ERROR_corrupt, "transform-coded codebook of dimension %d", dim);
    if (size < 12 + M + K + (split ? G * K : 0)) return gsz_fail(GSZ_ERROR_corrupt, "codebook truncated");
    gsz_sh_rows *u = calloc(1, sizeof *u);
    if (!u) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    unpack_sh_ctx *c = &u->c;
    *c = (unpack_sh_ctx){p + 12 + M, {0}, p + 12, K, M, getf(p + 8), dst, dst ? stride : M, dst ? row : NULL, NULL, unpack_simd()};
    gsz_error e = GSZ_OK;
    if (!(c->step > 0) || !isfinite(c->step) || !isfinite(c->step * 128.0f * 32768.0f)) { e = gsz_fail(GSZ_ERROR_corrupt, "codebook step invalid"); goto fail; }
    if (or_bytes(c->cls, K) & 0xF8)
        for (size_t j = 0; j < K; j++)
            if (c->cls[j] > 7) { e = gsz_fail(GSZ_ERROR_corrupt, "codebook entry %zu: step class %u above 7", j, c->cls[j]); goto fail; }
    size_t at = 12 + M + K;
    if (split) {
        struct split_ctx *x = &u->x;
        x->flags = p + at;
        if (M % 8 && or_bytes(x->flags + (G - 1) * K, K) >> (M % 8))
            for (size_t j = 0; j < K; j++)
                if (x->flags[(G - 1) * K + j] >> (M % 8)) { e = gsz_fail(GSZ_ERROR_corrupt, "codebook entry %zu: flag beyond the dimension", j); goto fail; }
        size_t nb = (K + SPLIT_BLOCK - 1) / SPLIT_BLOCK;
        if (!(u->first = malloc((nb + 1) * M * sizeof *u->first))) { e = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto fail; }
        x->first = u->first;
        x->width = c->width;
        x->nz = u->nz;
        for (size_t i = 0; i < M; i++) x->comp[i] = (uint8_t)sh_flag_component(i, M);
        c->split = x;
        gsz_parallel_for(nb, 8, threads, first_range, c); /* counts per block, then their running sums */
        for (size_t m = 0; m < M; m++) {
            size_t acc = 0;
            for (size_t b = 0; b < nb; b++) { size_t v = u->first[b * M + m]; u->first[b * M + m] = acc; acc += v; }
            u->nz[m] = acc;
        }
        at += G * K;
        for (size_t m = 0; m < M && at <= size; m++) {
            if (c->width[m] != 1 && c->width[m] != 2) { e = gsz_fail(GSZ_ERROR_corrupt, "codebook plane %zu: width %u", m, c->width[m]); goto fail; }
            x->vals[m] = p + at;
            at += u->nz[m] * c->width[m];
            if (c->width[m] == 2 && at <= size && any_both_255(x->vals[m], x->vals[m] + u->nz[m], u->nz[m])) /* z = value + 1 must fit two bytes */
                { e = gsz_fail(GSZ_ERROR_corrupt, "codebook plane %zu: value out of range", m); goto fail; }
        }
    } else
        for (size_t m = 0; m < M; m++) {
            if (c->width[m] != 1 && c->width[m] != 2) { e = gsz_fail(GSZ_ERROR_corrupt, "codebook plane %zu: width %u", m, c->width[m]); goto fail; }
            c->plane[m] = p + at;
            at += K * c->width[m];
        }
    if (size != at) { e = gsz_fail(GSZ_ERROR_corrupt, "codebook size mismatch"); goto fail; }
    if (!dst && !(c->cb = gsz_malloc_array(K, M * sizeof(float)))) { e = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto fail; }
    *out = u;
    return GSZ_OK;
fail:
    gsz_sh_rows_end(u);
    return e;
}

size_t gsz_sh_rows_blocks(const gsz_sh_rows *u) { return (u->c.K + SPLIT_BLOCK - 1) / SPLIT_BLOCK; }

void gsz_sh_rows_block(const gsz_sh_rows *u, size_t j) {
    unpack_sh_range((void *)&u->c, j * SPLIT_BLOCK, GSZ_MIN(u->c.K, (j + 1) * SPLIT_BLOCK), 0);
}

void gsz_sh_rows_end(gsz_sh_rows *u) {
    if (!u) return;
    free(u->first);
    free(u);
}

static void blocks_range(void *p, size_t b, size_t e, int w) {
    (void)w;
    for (size_t j = b; j < e; j++) gsz_sh_rows_block(p, j);
}

/* Every block of u on threads, then u ended; its new codebook (dst NULL) to *cb_out. */
static void sh_run(gsz_sh_rows *u, int threads, float **cb_out) {
    gsz_parallel_for(gsz_sh_rows_blocks(u), 1, threads, blocks_range, u);
    if (cb_out) *cb_out = u->c.cb;
    gsz_sh_rows_end(u);
}

/* Into dst (rows as unpack_sh_ctx's) or, dst NULL, a new codebook *cb_out. */
static gsz_error unpack_sh(const uint8_t *p, size_t size, uint32_t k, int dim, int threads, float *dst, size_t stride,
                           const uint32_t *row, float **cb_out) {
    gsz_sh_rows *u;
    gsz_error e = sh_begin(p, size, k, dim, threads, dst, stride, row, &u);
    if (!e) sh_run(u, threads, cb_out);
    return e;
}

/* The header checks gsz_codebook_unpack makes for a transform-coded codebook, for gsz_codebook_unpack_sh_rows; its entries in *k. */
static gsz_error sh_header(const uint8_t *p, size_t size, int expect_dim, uint32_t *k) {
    if (size < 12) return gsz_fail(GSZ_ERROR_corrupt, "codebook truncated");
    *k = get32(p);
    int dim = p[4] | p[5] << 8;
    if (dim != expect_dim) return gsz_fail(GSZ_ERROR_corrupt, "codebook dimension %d, expected %d", dim, expect_dim);
    if (*k == 0 || *k > (uint32_t)GSZ_CODEBOOK_MAX) return gsz_fail(GSZ_ERROR_corrupt, "codebook size %u", *k);
    if (expect_dim < 9 || p[6] != 16) return gsz_fail(GSZ_ERROR_corrupt, "transform-coded codebook outside the SH sections, or not marked 16-bit");
    return GSZ_OK;
}

uint32_t gsz_codebook_transform_entries(const uint8_t *p, size_t size) {
    return size >= 12 && (p[7] == 1 || p[7] == 3) ? get32(p) : 0;
}

gsz_error gsz_sh_rows_begin(const uint8_t *p, size_t size, int expect_dim, int threads, float *dst, size_t stride,
                            const uint32_t *row, uint32_t k, gsz_sh_rows **out) {
    uint32_t kk = 0;
    *out = NULL;
    gsz_error e = gsz_codebook_transform_entries(p, size) ? sh_header(p, size, expect_dim, &kk) : gsz_fail(GSZ_ERROR_argument, "not a transform-coded codebook");
    if (!e && (kk != k || stride < (size_t)expect_dim)) e = gsz_fail(GSZ_ERROR_corrupt, "codebook of %u entries, %u rows to fill", kk, k);
    return e ? e : sh_begin(p, size, k, expect_dim, threads, dst, stride, row, out);
}

gsz_error gsz_codebook_unpack_sh_rows(const uint8_t *p, size_t size, int expect_dim, int threads, float *dst, size_t stride,
                                      const uint32_t *row, uint32_t k) {
    gsz_sh_rows *u;
    gsz_error e = gsz_sh_rows_begin(p, size, expect_dim, threads, dst, stride, row, k, &u);
    if (!e) sh_run(u, threads, NULL);
    return e;
}

/* Entry j's byte q of plane d among one-byte planes of k entries (diff: encodings 5 and 6). */
static inline uint8_t plane_q(const uint8_t *plane, size_t k, int d, size_t j, int diff) {
    uint8_t q = plane[(size_t)d * k + j];
    return diff && diff_ref((size_t)d) != (size_t)d ? (uint8_t)(q + plane[diff_ref((size_t)d) * k + j]) : q;
}

/* A codebook's k entries of dim floats: in dst where they fit in its cap floats, else malloc'd. */
static float *cb_alloc(uint32_t k, int dim, float *dst, size_t cap) {
    return dst && (size_t)k * (size_t)dim <= cap ? dst : gsz_malloc_array(k, (size_t)dim * sizeof(float));
}
static void cb_free(float *cb, const float *dst) {
    if (cb != dst) free(cb);
}

gsz_error gsz_codebook_unpack(const uint8_t *p, size_t size, int expect_dim, int threads, float **cb_out, int *k_out, int *bits_out) {
    return gsz_codebook_unpack_into(p, size, expect_dim, threads, NULL, 0, cb_out, k_out, bits_out);
}

gsz_error gsz_codebook_unpack_into(const uint8_t *p, size_t size, int expect_dim, int threads, float *dst, size_t cap, float **cb_out,
                                   int *k_out, int *bits_out) {
    *cb_out = NULL;
    if (size < 8) return gsz_fail(GSZ_ERROR_corrupt, "codebook truncated");
    uint32_t k = get32(p);
    int dim = p[4] | p[5] << 8, bits = p[6];
    if (dim != expect_dim) return gsz_fail(GSZ_ERROR_corrupt, "codebook dimension %d, expected %d", dim, expect_dim);
    if (k == 0 || k > (uint32_t)GSZ_CODEBOOK_MAX) return gsz_fail(GSZ_ERROR_corrupt, "codebook size %u", k);
    if (p[7] == 1 || p[7] == 3) { /* transform-coded (SH), 3: with the zeros split off */
        if (size < 12) return gsz_fail(GSZ_ERROR_corrupt, "codebook truncated");
        if (expect_dim < 9 || bits != 16) return gsz_fail(GSZ_ERROR_corrupt, "transform-coded codebook outside the SH sections, or not marked 16-bit");
        gsz_error e = unpack_sh(p, size, k, dim, threads, NULL, 0, NULL, cb_out); /* dimension and size checked above */
        if (!e) { *k_out = (int)k; *bits_out = 0; }
        return e;
    }
    int diff = p[7] == 5 || p[7] == 6; /* planes stored against their triplet's middle one */
    if (diff && (dim % 3 || bits != 8)) return gsz_fail(GSZ_ERROR_corrupt, "codebook encoding %u: dimension %d not of triplets, or not marked 8-bit", p[7], dim);
    if (p[7] == 2 || p[7] == 6) { /* exact value table */
        size_t T = size >= 10 ? (size_t)(p[8] | p[9] << 8) : 0;
        if (bits != 8 || T < 1 || T > GSZ_TABLE_MAX) return gsz_fail(GSZ_ERROR_corrupt, "codebook table of %zu values, or not marked 8-bit", T);
        if (size != 10 + 4 * T + (size_t)k * (size_t)dim) return gsz_fail(GSZ_ERROR_corrupt, "codebook size mismatch");
        float table[GSZ_TABLE_MAX];
        for (size_t t = 0; t < T; t++)
            if (!isfinite(table[t] = getf(p + 10 + 4 * t))) return gsz_fail(GSZ_ERROR_corrupt, "codebook table value not finite");
        float *cb = cb_alloc(k, dim, dst, cap);
        if (!cb) return gsz_fail(GSZ_ERROR_memory, "out of memory");
        const uint8_t *plane = p + 10 + 4 * T;
        for (int d = 0; d < dim; d++)
            for (uint32_t j = 0; j < k; j++) {
                uint8_t q = plane_q(plane, k, d, j, diff);
                if (q >= T) { cb_free(cb, dst); return gsz_fail(GSZ_ERROR_corrupt, "codebook table index %u of %zu", q, T); }
                cb[(size_t)j * (size_t)dim + (size_t)d] = table[q];
            }
        *cb_out = cb;
        *k_out = (int)k;
        *bits_out = GSZ_CODEBOOK_EXACT;
        return GSZ_OK;
    }
    if (p[7] == 4) { /* a rotation's three smallest components */
        if (dim != 4 || bits != 8) return gsz_fail(GSZ_ERROR_corrupt, "quaternion codebook outside the rotation section, or not marked 8-bit");
        if (size != 8 + 4 * (size_t)k) return gsz_fail(GSZ_ERROR_corrupt, "codebook size mismatch");
        float *cb = cb_alloc(k, 4, dst, cap);
        if (!cb) return gsz_fail(GSZ_ERROR_memory, "out of memory");
        for (uint32_t j = 0; j < k; j++) {
            uint8_t q[3] = {p[8 + (size_t)k + j], p[8 + 2 * (size_t)k + j], p[8 + 3 * (size_t)k + j]};
            if (p[8 + j] > 3) { cb_free(cb, dst); return gsz_fail(GSZ_ERROR_corrupt, "codebook entry %u: largest component %u", j, p[8 + j]); }
            quat_decode(p[8 + j], q, cb + 4 * (size_t)j);
        }
        *cb_out = cb;
        *k_out = (int)k;
        *bits_out = 8;
        return GSZ_OK;
    }
    /* past the checksums an encoding this reader does not know is a newer writer's, not damage */
    if (p[7] > 6) return gsz_fail(GSZ_ERROR_unsupported, "codebook encoding %u unknown (written by a newer gsz?)", p[7]);
    if (bits != 8 && bits != 16) return gsz_fail(GSZ_ERROR_corrupt, "codebook precision %d bits", bits);
    size_t vb = (size_t)bits / 8;
    if (size != 8 + 8 * (size_t)dim + (size_t)k * (size_t)dim * vb) return gsz_fail(GSZ_ERROR_corrupt, "codebook size mismatch");
    float *cb = cb_alloc(k, dim, dst, cap);
    if (!cb) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    double levels = bits == 8 ? 255.0 : 65535.0;
    const uint8_t *plane = p + 8 + 8 * (size_t)dim;
    for (int d = 0; d < dim; d++) {
        float lo = getf(p + 8 + 4 * (size_t)d), hi = getf(p + 8 + 4 * (size_t)dim + 4 * (size_t)d);
        if (!isfinite(lo) || !isfinite(hi) || hi < lo) { cb_free(cb, dst); return gsz_fail(GSZ_ERROR_corrupt, "codebook range invalid"); }
        for (uint32_t j = 0; j < k; j++) {
            size_t at = ((size_t)d * k + j) * vb;
            uint32_t q = vb == 2 ? plane[at] | (uint32_t)plane[at + 1] << 8 : plane_q(plane, k, d, j, diff);
            cb[(size_t)j * (size_t)dim + (size_t)d] = (float)((double)lo + ((double)hi - (double)lo) * (double)q / levels);
        }
    }
    *cb_out = cb;
    *k_out = (int)k;
    *bits_out = bits;
    return GSZ_OK;
}

void gsz_quat_canonical(const float in[4], float out[4]) {
    float n = sqrtf(in[0] * in[0] + in[1] * in[1] + in[2] * in[2] + in[3] * in[3]);
    if (!(n > 0)) { out[0] = 1; out[1] = out[2] = out[3] = 0; return; }
    float s = in[0] < 0 ? -1.0f / n : 1.0f / n;
    for (int i = 0; i < 4; i++) out[i] = in[i] * s;
}

static void mat_to_quat(const float m[9], float q[4]) {
    /* m row-major, columns = rotated axes */
    float tr = m[0] + m[4] + m[8];
    if (tr > 0) {
        float s = sqrtf(tr + 1.0f) * 2;
        q[0] = 0.25f * s; q[1] = (m[7] - m[5]) / s; q[2] = (m[2] - m[6]) / s; q[3] = (m[3] - m[1]) / s;
    } else if (m[0] > m[4] && m[0] > m[8]) {
        float s = sqrtf(1.0f + m[0] - m[4] - m[8]) * 2;
        q[0] = (m[7] - m[5]) / s; q[1] = 0.25f * s; q[2] = (m[1] + m[3]) / s; q[3] = (m[2] + m[6]) / s;
    } else if (m[4] > m[8]) {
        float s = sqrtf(1.0f + m[4] - m[0] - m[8]) * 2;
        q[0] = (m[2] - m[6]) / s; q[1] = (m[1] + m[3]) / s; q[2] = 0.25f * s; q[3] = (m[5] + m[7]) / s;
    } else {
        float s = sqrtf(1.0f + m[8] - m[0] - m[4]) * 2;
        q[0] = (m[3] - m[1]) / s; q[1] = (m[2] + m[6]) / s; q[2] = (m[5] + m[7]) / s; q[3] = 0.25f * s;
    }
    gsz_quat_canonical(q, q);
}

/* An ellipsoid R diag(s) is unchanged by permuting its axes together with the scales and by flipping
 * axis signs; picking one representative (scales descending, axis signs fixed) shrinks the space the
 * scale and rotation codebooks must cover by up to 24x, at no cost in fidelity. */
void gsz_geometry_canonical(float scale[3], float q[4]) {
    float m[9];
    gsz_quat_to_mat(q, m);
    int o[3] = {0, 1, 2};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2 - i; j++)
            if (scale[o[j]] < scale[o[j + 1]]) { int t = o[j]; o[j] = o[j + 1]; o[j + 1] = t; }
    float ax[3][3], s[3];
    for (int c = 0; c < 3; c++) {
        s[c] = scale[o[c]];
        for (int r = 0; r < 3; r++) ax[c][r] = m[r * 3 + o[c]];
    }
    /* sign: the largest-magnitude component of the first two axes positive; third = first x second */
    for (int c = 0; c < 2; c++) {
        int big = 0;
        for (int r = 1; r < 3; r++)
            if (fabsf(ax[c][r]) > fabsf(ax[c][big])) big = r;
        if (ax[c][big] < 0)
            for (int r = 0; r < 3; r++) ax[c][r] = -ax[c][r];
    }
    ax[2][0] = ax[0][1] * ax[1][2] - ax[0][2] * ax[1][1];
    ax[2][1] = ax[0][2] * ax[1][0] - ax[0][0] * ax[1][2];
    ax[2][2] = ax[0][0] * ax[1][1] - ax[0][1] * ax[1][0];
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 3; r++) m[r * 3 + c] = ax[c][r];
    mat_to_quat(m, q);
    memcpy(scale, s, sizeof s);
}

void gsz_geometry_vq(float scale[3], float q[4], float floor_log) {
    for (int k = 0; k < 3; k++) scale[k] = GSZ_MAX(scale[k], floor_log);
    gsz_geometry_canonical(scale, q);
    gsz_quat_canonical(q, q);
}
