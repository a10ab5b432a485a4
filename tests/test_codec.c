/* Codec: round trips, determinism, fidelity, and the decoder's defences against damaged files. */
#include "helpers.h"
#include "../codec/codec.h"

static void compress_scene(const gsz_scene *s, const gsz_compress_options *o, uint8_t **out, size_t *size) {
    void *p;
    gsz_compress_stats st;
    gsz_error e = gsz_compress(s, o, &p, size, &st);
    if (e) fprintf(stderr, "compress: %s\n", gsz_getErrorDetail());
    assert_int_equal(e, GSZ_OK);
    assert_int_equal(st.bytes, *size);
    *out = p;
}

/* Mean PSNR of b against a on views placed as `where` says. */
static double placed_psnr(const gsz_scene *a, const gsz_scene *b, gsz_placement where, int views) {
    gsz_camera cams[8];
    assert_int_equal(gsz_cameras_place(a, where, (size_t)views, 320, 240, 0, cams), GSZ_OK);
    float *ia = malloc(320 * 240 * 12), *ib = malloc(320 * 240 * 12);
    double sum = 0;
    for (int v = 0; v < views; v++) {
        gsz_render(a, &cams[v], NULL, ia);
        gsz_render(b, &cams[v], NULL, ib);
        sum += gsz_psnr(ia, ib, 320 * 240 * 3);
    }
    free(ia);
    free(ib);
    return sum / views;
}

static double mean_psnr(const gsz_scene *a, const gsz_scene *b, int views) { return placed_psnr(a, b, GSZ_PLACEMENT_AROUND, views); }

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Compresses s (which must keep every Gaussian) and decodes it into d. */
static void round_trip_all(const gsz_scene *s, const gsz_compress_options *o, uint8_t **buf, size_t *size, gsz_scene *d) {
    compress_scene(s, o, buf, size);
    assert_int_equal(gsz_decompress(*buf, *size, d, 2), GSZ_OK);
    assert_int_equal(d->count, s->count);
}

/* The Gaussian of s nearest to position p (decoded files are reordered); *dist2 its squared distance. */
static size_t nearest_original(const gsz_scene *s, const float *p, float *dist2) {
    size_t best = 0;
    float bd = INFINITY;
    for (size_t j = 0; j < s->count; j++) {
        float dx = p[0] - s->pos[3 * j], dy = p[1] - s->pos[3 * j + 1], dz = p[2] - s->pos[3 * j + 2];
        float dd = dx * dx + dy * dy + dz * dz;
        if (dd < bd) { bd = dd; best = j; }
    }
    *dist2 = bd;
    return best;
}

/* Distant points (as in unbounded captures) widen the bounds 1000-fold: the positions go on a grid
 * warped around the dense region (position.warp), whose step there stays under the median Gaussian's
 * largest axis and grows with the distance, within the warp's bound everywhere. */
/* The radix orders against qsort with an index tie-break: Morton-like 64-bit keys with duplicates,
 * significance-like doubles with -0 and +0 (equal, so they tie), and the worst-error selection. */
typedef struct { uint64_t k; uint32_t i; } k64_t;
static int cmp_k64(const void *a, const void *b) {
    const k64_t *x = a, *y = b;
    if (x->k != y->k) return x->k < y->k ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}
typedef struct { double v; uint32_t i; } kd_t;
static int cmp_kd(const void *a, const void *b) {
    const kd_t *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}
static void test_radix_orders(void **state) {
    (void)state;
    enum { N = 5000 };
    gsz_rng r = {12345};
    k64_t *a = malloc(N * sizeof *a);
    kd_t *d = malloc(N * sizeof *d);
    uint32_t *k = malloc(4 * N * sizeof *k), *order = malloc(N * sizeof *order);
    for (uint32_t i = 0; i < N; i++) {
        uint64_t x = gsz_rng_next(&r);
        a[i].k = (x >> 1) & (i % 3 ? ~0ull : 0xFFFF0000FFFFull); /* many equal halves, and duplicates */
        if (i % 7 == 0) a[i].k = a[i / 2].k;
        a[i].i = i;
        k[i] = (uint32_t)a[i].k;
        k[N + i] = (uint32_t)(a[i].k >> 32);
    }
    gsz_radix_order64(k, k + N, N, order, k + 2 * N, k + 3 * N);
    qsort(a, N, sizeof *a, cmp_k64);
    for (uint32_t j = 0; j < N; j++) assert_int_equal(order[j], a[j].i);
    double *sc = malloc(N * sizeof *sc);
    for (uint32_t i = 0; i < N; i++) {
        double v = gsz_rng_normal(&r);
        sc[i] = i % 11 == 0 ? (i % 2 ? -0.0 : 0.0) : i % 5 == 0 ? floor(v) : v;
        d[i].v = sc[i];
        d[i].i = i;
    }
    assert_int_equal(gsz_significance_order(sc, N, order), GSZ_OK);
    qsort(d, N, sizeof *d, cmp_kd);
    for (uint32_t j = 0; j < N; j++) assert_int_equal(order[j], d[j].i);
    float *err = malloc(N * sizeof *err);
    for (uint32_t i = 0; i < N; i++) err[i] = i % 11 == 0 ? (i % 2 ? -0.0f : 0.0f) : (float)fabs(floor(sc[i] * 4));
    assert_int_equal(gsz_worst_points(err, N, N, order), GSZ_OK);
    for (uint32_t j = 0; j < N; j++) { d[j].v = -(double)err[j]; d[j].i = j; } /* largest first, ties by index */
    qsort(d, N, sizeof *d, cmp_kd);
    for (uint32_t j = 0; j < N; j++) assert_int_equal(order[j], d[j].i);
    free(a); free(d); free(k); free(order); free(sc); free(err);
}

static void test_position_bits_far_points(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(3000, 0, 5, &s), GSZ_OK);
    for (size_t i = 0; i < 30; i++)
        for (int k = 0; k < 3; k++) s.pos[3 * i + k] *= 1000.0f;
    gsz_compress_options o = {0};
    o.prune = -1;
    o.refine = -1;
    o.views = 8;
    uint8_t *buf;
    size_t size;
    round_trip_all(&s, &o, &buf, &size, &d);
    gsz_file_info fi;
    assert_int_equal(gsz_file_inspect(buf, size, &fi), GSZ_OK);
    assert_true(fi.warp_radius > 0);
    assert_true(fi.pos_bits > 10 && fi.pos_bits < 10 + 8); /* the balanced preset's 10, not log2(1000) more */
    float *big = malloc(s.count * sizeof(float));
    for (size_t i = 0; i < s.count; i++) big[i] = fmaxf(s.scale[3 * i], fmaxf(s.scale[3 * i + 1], s.scale[3 * i + 2]));
    qsort(big, s.count, sizeof(float), cmp_float);
    float med = expf(big[s.count / 2]);
    /* the grid step on the warped axes; a position moves by half of it times the warp's slope */
    double ustep = 0;
    for (int k = 0; k < 3; k++) {
        double lo = gsz_warp_forward(fi.bounds_min[k], fi.warp_center[k], fi.warp_radius);
        double hi = gsz_warp_forward(fi.bounds_max[k], fi.warp_center[k], fi.warp_radius);
        ustep = fmax(ustep, (hi - lo) / (double)((1u << fi.pos_bits) - 1));
    }
    for (size_t i = 0; i < d.count; i++) {
        float bd;
        size_t best = nearest_original(&s, d.pos + 3 * i, &bd);
        double bound2 = 0;
        for (int k = 0; k < 3; k++) {
            double e = 0.5 * ustep * (1.0 + fabs(s.pos[3 * best + k] - fi.warp_center[k]) / fi.warp_radius) * 1.001 + 1e-6;
            bound2 += e * e;
        }
        assert_true(bd <= bound2);
        if (best >= 30) assert_true(sqrtf(bd) <= 0.5f * med);
    }
    free(big);
    free(buf);
    gsz_scene_free(&s);
    gsz_scene_free(&d);
}

/* The synthetic background of an unbounded capture: warped, and the views frame the subject, not the
 * background; a bounded scene is neither. */
static void test_unbounded_scene(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(4000, 1, 9, &s), GSZ_OK);
    float c0[3], r0, c[3], r;
    assert_int_equal(gsz_scene_core(&s, c0, &r0), 0);
    gsz_scene_focus(&s, c, &r);
    assert_true(r < 5.0f);
    assert_int_equal(gsz_synth_background(&s, 2000, 9), GSZ_OK);
    assert_int_equal(s.count, 6000);
    assert_int_equal(gsz_scene_core(&s, c, &r), 1);
    for (int k = 0; k < 3; k++) assert_true(fabsf(c[k] - c0[k]) < 0.5f * r0);
    assert_true(r < 1.5f * r0);
    float fc[3], fr;
    gsz_scene_focus(&s, fc, &fr);
    assert_true(fr == r && fc[0] == c[0] && fc[1] == c[1] && fc[2] == c[2]);
    gsz_compress_options o = {0};
    o.views = 6;
    o.refine = -1;
    o.prune = -1; /* the same Gaussians: the same core */
    uint8_t *buf;
    size_t size;
    compress_scene(&s, &o, &buf, &size);
    gsz_file_info fi;
    assert_int_equal(gsz_file_inspect(buf, size, &fi), GSZ_OK);
    assert_true(fi.warp_radius == r);
    gsz_scene d;
    assert_int_equal(gsz_decompress(buf, size, &d, 2), GSZ_OK);
    assert_true(mean_psnr(&s, &d, 4) > 25.0);
    free(buf);
    gsz_scene_free(&d);
    gsz_scene_free(&s);
}

/* The SH threshold is scaled per Gaussian by its significance against a reference: the mean, except
 * where a few Gaussians dwarf the rest (an unbounded capture's sky), where the mean would loosen every
 * ordinary Gaussian's threshold to the clamp; there 8x the median. */
static void test_sh_reduce_skewed_significance(void **state) {
    (void)state;
    gsz_scene a, b;
    assert_int_equal(gsz_synth_scene(2000, 3, 12, &a), GSZ_OK);
    assert_int_equal(gsz_synth_scene(2000, 3, 12, &b), GSZ_OK);
    gsz_camera cams[8];
    gsz_cameras_generate(&a, 8, 320, 240, 0, cams);
    double *sig = malloc(a.count * sizeof(double));
    for (size_t i = 0; i < a.count; i++) sig[i] = i % 200 == 7 ? 1e6 : 1.0; /* 0.5% at a million times the rest */
    uint8_t *da = malloc(a.count), *db = malloc(b.count);
    const float thr = 0.015f;
    assert_int_equal(gsz_sh_reduce(&a, a.sh_rest, NULL, cams, 8, 3, thr, sig, 2, da), GSZ_OK);
    assert_int_equal(gsz_sh_reduce(&b, b.sh_rest, NULL, cams, 8, 3, thr * (float)sqrt(8.0), NULL, 2, db), GSZ_OK);
    size_t kept = 0;
    for (size_t i = 0; i < a.count; i++) {
        if (i % 200 == 7) continue;
        assert_int_equal(da[i], db[i]);
        kept += da[i] == 3;
    }
    assert_true(kept > 0);
    free(sig); free(da); free(db);
    gsz_scene_free(&a);
    gsz_scene_free(&b);
}

static void test_round_trip_bounds(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(4000, 0, 21, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.prune = -1; /* keep all: every decoded Gaussian has an original to compare with */
    o.refine = -1; /* the quantisers' bounds: no fine-tuning */
    o.pos_bits = 16;
    o.views = 8;
    uint8_t *buf;
    size_t size;
    round_trip_all(&s, &o, &buf, &size, &d);
    assert_int_equal(d.sh_degree, 0);
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t i = 0; i < s.count; i++)
        for (int k = 0; k < 3; k++) { lo[k] = fminf(lo[k], s.pos[3 * i + k]); hi[k] = fmaxf(hi[k], s.pos[3 * i + k]); }
    float step = 0;
    for (int k = 0; k < 3; k++) step = fmaxf(step, (hi[k] - lo[k]) / 65535.0f);
    /* the balanced preset stores opacity at 4 bits */
    float op_tol = 0.5f / 15.0f + 1e-4f;
    for (size_t i = 0; i < d.count; i++) {
        float bd;
        size_t best = nearest_original(&s, d.pos + 3 * i, &bd);
        assert_true(sqrtf(bd) <= 0.5f * step * 1.7321f * 1.01f + 1e-6f);
        float a = 1.0f / (1.0f + expf(-d.opacity[i])), b = 1.0f / (1.0f + expf(-s.opacity[best]));
        assert_true(fabsf(a - b) <= op_tol);
    }
    free(buf);
    gsz_scene_free(&s);
    gsz_scene_free(&d);
}

/* The max preset quantises every value on its own (a codebook entry per Gaussian, 8 bits over the
 * value's range): each decoded colour, SH coefficient and opacity lies within half a step. */
static void test_max_preset_scalar(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(3000, 2, 5, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.preset = GSZ_PRESET_MAX;
    uint8_t *buf;
    size_t size;
    round_trip_all(&s, &o, &buf, &size, &d);
    assert_int_equal(d.sh_degree, 2);
    size_t nr3 = (size_t)gsz_shRestCount(2) * 3;
    float lo[27], hi[27];
    for (size_t k = 0; k < 3 + nr3; k++) { lo[k] = INFINITY; hi[k] = -INFINITY; }
    for (size_t i = 0; i < s.count; i++)
        for (size_t k = 0; k < 3 + nr3; k++) {
            float v = k < 3 ? s.sh_dc[3 * i + k] : s.sh_rest[nr3 * i + k - 3];
            lo[k] = fminf(lo[k], v);
            hi[k] = fmaxf(hi[k], v);
        }
    for (size_t i = 0; i < d.count; i++) {
        float bd;
        size_t best = nearest_original(&s, d.pos + 3 * i, &bd);
        for (size_t k = 0; k < 3 + nr3; k++) {
            float a = k < 3 ? d.sh_dc[3 * i + k] : d.sh_rest[nr3 * i + k - 3];
            float b = k < 3 ? s.sh_dc[3 * best + k] : s.sh_rest[nr3 * best + k - 3];
            assert_true(fabsf(a - b) <= 0.5f * (hi[k] - lo[k]) / 255.0f * 1.001f + 1e-6f);
        }
        float a = 1.0f / (1.0f + expf(-d.opacity[i])), b = 1.0f / (1.0f + expf(-s.opacity[best]));
        assert_true(fabsf(a - b) <= 0.5f / 255.0f + 1e-4f);
    }
    double psnr = mean_psnr(&s, &d, 4);
    fprintf(stderr, "max preset: %.2f B/G, %.2f dB\n", (double)size / (double)s.count, psnr);
    assert_true(psnr > 45.0);
    free(buf);
    gsz_scene_free(&s);
    gsz_scene_free(&d);
}

static int cmp_float3(const float *a, const float *b) {
    float x[3] = {a[0], a[1], a[2]}, y[3] = {b[0], b[1], b[2]};
    qsort(x, 3, sizeof(float), cmp_float);
    qsort(y, 3, sizeof(float), cmp_float);
    return memcmp(x, y, sizeof x);
}

/* A scene decoded from a palette format (values from 256-entry tables, SH from 200 vectors): max keeps
 * scales, colours and SH exactly; high keeps the palette (Gaussians that shared an SH vector share one)
 * at its transform coding's precision (at most 0.6 of the coarsest step per opponent component). */
static void test_palette_exact(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(3000, 3, 11, &s), GSZ_OK);
    assert_int_equal(gsz_synth_palettize(&s, 200, 11), GSZ_OK);
    size_t nr = (size_t)gsz_shRestCount(3) * 3;
    for (int preset = 0; preset < 2; preset++) {
        gsz_compress_options o = {0};
        o.preset = preset ? GSZ_PRESET_HIGH : GSZ_PRESET_MAX;
        o.views = 6;
        uint8_t *buf;
        size_t size;
        compress_scene(&s, &o, &buf, &size);
        assert_int_equal(gsz_decompress(buf, size, &d, 2), GSZ_OK);
        size_t off = 0, pal = 0, split = 0;
        const float *in_vec[256], *out_vec[256];
        double worst = 0;
        for (size_t i = 0; i < d.count; i++) {
            float bd;
            size_t j = nearest_original(&s, d.pos + 3 * i, &bd);
            if (!preset) {
                assert_int_equal(cmp_float3(d.scale + 3 * i, s.scale + 3 * j), 0);
                assert_memory_equal(d.sh_dc + 3 * i, s.sh_dc + 3 * j, 12);
            }
            /* the Gaussians that keep degree 3 (their group's palette fits high's limit, m / 6) */
            int full = 0;
            for (size_t k = 24; k < nr; k++) full |= d.sh_rest[nr * i + k] != 0.0f;
            if (!full) continue;
            const float *a = d.sh_rest + nr * i, *b = s.sh_rest + nr * j;
            if (!preset) {
                for (size_t k = 0; k < nr; k++) off += a[k] != b[k];
                continue;
            }
            for (size_t k = 0; k < nr; k++) worst = fmax(worst, fabs((double)a[k] - (double)b[k]));
            size_t p = 0;
            while (p < pal && memcmp(in_vec[p], b, nr * sizeof(float))) p++;
            if (p == pal) { assert_true(pal < 256); in_vec[pal] = b; out_vec[pal++] = a; }
            else split += memcmp(out_vec[p], a, nr * sizeof(float)) != 0;
        }
        fprintf(stderr, "palette, %s: %.2f B/G, %zu SH values off, %zu of %zu palette vectors split, largest error %.4f\n",
                preset ? "high" : "max", (double)size / (double)s.count, off, split, pal, worst);
        assert_int_equal(off, 0);
        assert_int_equal(split, 0);
        /* coarsest class 4: 8 x the preset's step 0.092; opponent components back to RGB by a + b + c */
        assert_true(worst <= 0.6 * 8 * 0.092 * (0.57735 + 0.70711 + 0.40825));
        free(buf);
        gsz_scene_free(&d);
    }
    gsz_scene_free(&s);
}

/* Codebook encoding 2: at most 256 distinct values are stored exactly as a table and byte indices;
 * a damaged table or index is an error. */
static void test_codebook_table(void **state) {
    (void)state;
    enum { K = 500, M = 2 }; /* not triplets: never differenced (encoding 6, test_codebook_rgb_diff) */
    float cb[K * M], want[K * M];
    for (int i = 0; i < K * M; i++) want[i] = cb[i] = ldexpf((float)((i * 37) % 200) - 100.0f, -7);
    want[0] = cb[0] = -0.0f; /* kept apart from +0 */
    uint8_t *p;
    size_t sz;
    assert_int_equal(gsz_codebook_pack(cb, K, M, 16, &p, &sz), GSZ_OK);
    assert_int_equal(p[7], 2);
    float *back, *none;
    int k, bits;
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &back, &k, &bits), GSZ_OK);
    assert_int_equal(k, K);
    assert_int_equal(bits, GSZ_CODEBOOK_EXACT);
    assert_memory_equal(back, want, sizeof want);
    free(back);
    size_t T = (size_t)(p[8] | p[9] << 8);
    assert_true(T <= 256);
    assert_int_equal(gsz_codebook_unpack(p, sz - 1, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt); /* size */
    p[sz - 1] = (uint8_t)T; /* an index past the table */
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    p[sz - 1] = 0;
    float inf = INFINITY;
    memcpy(p + 10, &inf, 4);
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    p[8] = 0; p[9] = 0;
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    free(p);
    /* 257 distinct values: ranges, as before */
    float many[257 * 1];
    for (int i = 0; i < 257; i++) many[i] = (float)i;
    assert_int_equal(gsz_codebook_pack(many, 257, 1, 8, &p, &sz), GSZ_OK);
    assert_int_equal(p[7], 0);
    free(p);
}

/* Codebook encodings 5 and 6: where a triplet's channels move together, gsz_codebook_pack stores the
 * outer planes less the middle one (ranges and value tables alike), and they decode to exactly what
 * it left in cb; independent channels and 16-bit ranges are left as they were; a
 * damaged differenced codebook is an error. */
static void test_codebook_rgb_diff(void **state) {
    (void)state;
    enum { K = 400 };
    uint64_t rng = 12345;
    for (int c = 0; c < 8; c++) {
        int M = c % 4 < 2 ? 3 : c % 4 == 2 ? 9 : 24, table = c % 2, together = c < 4; /* ranges, a table, SH ranges, an SH table */
        float *cb = malloc(sizeof(float) * K * (size_t)M), *back, *none;
        assert_non_null(cb);
        for (int j = 0; j < K; j++)
            for (int m = 0; m < M; m++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                float noise = (float)(rng >> 40) / 16777216.0f;
                float v = together ? sinf(0.05f * (float)j + (float)(m / 3)) + 0.02f * noise : 2.0f * noise * noise * noise;
                cb[j * M + m] = table ? ldexpf(roundf(ldexpf(v, 6)), -6) : v;
            }
        uint8_t *p;
        size_t sz;
        assert_int_equal(gsz_codebook_pack(cb, K, M, 8, &p, &sz), GSZ_OK);
        assert_int_equal(p[7], (table ? 2 : 0) + (together ? (table ? 4 : 5) : 0));
        int k, bits;
        assert_int_equal(gsz_codebook_unpack(p, sz, M, 1, &back, &k, &bits), GSZ_OK);
        assert_int_equal(k, K);
        assert_int_equal(bits, table ? GSZ_CODEBOOK_EXACT : 8);
        assert_memory_equal(back, cb, sizeof(float) * K * (size_t)M);
        size_t cut[GSZ_CODEBOOK_CUTS];
        assert_int_equal(gsz_codebook_cuts(p, sz, cut, GSZ_CODEBOOK_CUTS), M);
        if (together && table) { /* a restored index past the table */
            size_t at = sz - (size_t)K * (size_t)M, T = (size_t)(p[8] | p[9] << 8);
            p[at] = (uint8_t)(T - p[at + K]); /* plane 0, entry 0: q = T */
            assert_int_equal(gsz_codebook_unpack(p, sz, M, 1, &none, &k, &bits), GSZ_ERROR_corrupt);
        } else if (together) { /* marked 16-bit */
            p[6] = 16;
            assert_int_equal(gsz_codebook_unpack(p, sz, M, 1, &none, &k, &bits), GSZ_ERROR_corrupt);
        }
        free(back); free(p);
        if (!table) { /* 16-bit ranges are left as they are */
            assert_int_equal(gsz_codebook_pack(cb, K, M, 16, &p, &sz), GSZ_OK);
            assert_int_equal(p[7], 0);
            free(p);
        }
        free(cb);
    }
    /* only codebooks of triplets: one of dimension 1 marked 5 is refused */
    float one[300];
    for (int i = 0; i < 300; i++) one[i] = (float)i;
    uint8_t *o;
    size_t os;
    float *none;
    int k, bits;
    assert_int_equal(gsz_codebook_pack(one, 300, 1, 8, &o, &os), GSZ_OK);
    assert_int_equal(o[7], 0);
    o[7] = 5;
    assert_int_equal(gsz_codebook_unpack(o, os, 1, 1, &none, &k, &bits), GSZ_ERROR_corrupt);
    free(o);
}

/* gsz_codebook_keep: the kept entries of every encoding it takes decode exactly as in the whole
 * codebook (encoding 0 keeps its ranges, though the kept entries span less); none kept is refused. */
static void test_codebook_keep(void **state) {
    (void)state;
    enum { K = 300 };
    uint8_t keep[K];
    int kept = 0;
    for (int j = 0; j < K; j++) kept += keep[j] = j % 3 != 1 && j != 0 && j != K - 1; /* the extremes go */
    for (int c = 0; c < 6; c++) {
        int M = c < 4 ? 3 : c == 4 ? 4 : 9; /* ranges at 8 and 16 bits, a value table, ranges again, quaternions, SH */
        float *cb = malloc(sizeof(float) * K * (size_t)M), *full, *part;
        assert_non_null(cb);
        for (int i = 0; i < K * M; i++) cb[i] = c == 2 ? (float)(i % 7) : sinf(0.37f * (float)i) * (1.0f + (float)(i % M));
        if (c == 4)
            for (int j = 0; j < K; j++) {
                float *q = cb + 4 * j, l = sqrtf(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
                for (int m = 0; m < 4; m++) q[m] /= l;
            }
        uint8_t *p;
        size_t sz;
        if (c == 5) assert_int_equal(gsz_codebook_pack_sh(cb, K, M, 0.01f, NULL, &p, &sz), GSZ_OK);
        else assert_int_equal(gsz_codebook_pack(cb, K, M, c == 1 ? 16 : 8, &p, &sz), GSZ_OK);
        int want = c == 2 ? 2 : c == 4 ? 4 : c == 5 ? 1 : 0;
        assert_true(p[7] == want || (want == 0 && p[7] == 5) || (want == 2 && p[7] == 6)); /* 5, 6: planes differenced */
        int k, bits;
        assert_int_equal(gsz_codebook_unpack(p, sz, M, 1, &full, &k, &bits), GSZ_OK);
        assert_int_equal(gsz_codebook_keep(p, &sz, keep), GSZ_OK);
        assert_int_equal(gsz_codebook_unpack(p, sz, M, 1, &part, &k, &bits), GSZ_OK);
        assert_int_equal(k, kept);
        for (int j = 0, o = 0; j < K; j++)
            if (keep[j]) assert_memory_equal(part + (size_t)(o++) * (size_t)M, full + (size_t)j * (size_t)M, sizeof(float) * (size_t)M);
        uint8_t none[K] = {0};
        assert_int_equal(gsz_codebook_keep(p, &sz, none), GSZ_ERROR_argument);
        free(full); free(part); free(p); free(cb);
    }
}

/* Entries of their own for the points the codebooks fit worst: a larger file and a closer image. */
static void test_exact_entries(void **state) {
    (void)state;
    gsz_scene s, d0, d1;
    assert_int_equal(gsz_synth_scene(20000, 3, 9, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.views = 8;
    o.exact = -1;
    uint8_t *a, *b;
    size_t na, nb;
    compress_scene(&s, &o, &a, &na);
    o.exact = 0.05f;
    compress_scene(&s, &o, &b, &nb);
    assert_int_equal(gsz_decompress(a, na, &d0, 2), GSZ_OK);
    assert_int_equal(gsz_decompress(b, nb, &d1, 2), GSZ_OK);
    double p0 = mean_psnr(&s, &d0, 4), p1 = mean_psnr(&s, &d1, 4);
    fprintf(stderr, "exact 0: %zu bytes %.2f dB; exact 0.05: %zu bytes %.2f dB\n", na, p0, nb, p1);
    assert_true(nb > na);
    assert_true(p1 > p0 + 0.3);
    free(a);
    free(b);
    gsz_scene_free(&s);
    gsz_scene_free(&d0);
    gsz_scene_free(&d1);
}

static void test_presets_fidelity_and_determinism(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(30000, 3, 7, &s), GSZ_OK);
    const gsz_preset presets[4] = {GSZ_PRESET_MAX, GSZ_PRESET_HIGH, GSZ_PRESET_BALANCED, GSZ_PRESET_SMALL};
    size_t prev = SIZE_MAX;
    for (int p = 0; p < 4; p++) {
        gsz_compress_options o = {0};
        o.preset = presets[p];
        o.views = 12;
        o.threads = 1;
        uint8_t *a, *b;
        size_t na, nb;
        compress_scene(&s, &o, &a, &na);
        o.threads = 2;
        compress_scene(&s, &o, &b, &nb);
        assert_int_equal(na, nb); /* byte-identical whatever the thread count */
        assert_memory_equal(a, b, na);
        assert_true(na < prev); /* max > high > balanced > small */
        prev = na;
        assert_int_equal(gsz_decompress(a, na, &d, 2), GSZ_OK);
        assert_true(d.sh_degree <= 3);
        double psnr = mean_psnr(&s, &d, 4);
        fprintf(stderr, "preset %d: %zu bytes (%.2f B/G), %.2f dB\n", p, na, (double)na / (double)s.count, psnr);
        assert_true(psnr > (p == 0 ? 45.0 : p == 3 ? 26.0 : 30.0));
        gsz_scene_free(&d);
        free(a);
        free(b);
    }
    gsz_scene_free(&s);
}

/* Streams large enough for two entropy-coding workers (one per 4 MB: ENCODE_WORKER_BYTES) still give
 * the bytes of one: the max preset of 100K SH3 Gaussians (about 6 MB of streams). */
static void test_parallel_entropy_determinism(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(100000, 3, 11, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.preset = GSZ_PRESET_MAX;
    uint8_t *a, *b;
    size_t na, nb;
    o.threads = 1;
    compress_scene(&s, &o, &a, &na);
    o.threads = 2;
    compress_scene(&s, &o, &b, &nb);
    assert_true(na > ((size_t)4 << 20));
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    gsz_scene_free(&s);
}

/* The renderer's colour gradient: nudging one Gaussian's DC colour changes the image by w_ip * dc,
 * so sum_p error_p * dimage_p must equal grad_i * dc. */
static double half_sq_error(const gsz_scene *s, const gsz_camera *cam, const float *target, size_t px) {
    float *img = malloc(px * 4);
    gsz_render(s, cam, NULL, img);
    double e = 0;
    for (size_t j = 0; j < px; j++) e += 0.5 * ((double)img[j] - target[j]) * ((double)img[j] - target[j]);
    free(img);
    return e;
}

/* Two backward passes' gradients, bit for bit (positions where a has them). */
static void grads_equal(const gsz_render_grad *a, const gsz_render_grad *b, size_t n) {
    if (a->pos) assert_memory_equal(a->pos, b->pos, n * 12);
    assert_memory_equal(a->scale, b->scale, n * 12);
    assert_memory_equal(a->rot, b->rot, n * 16);
    assert_memory_equal(a->opacity, b->opacity, n * 4);
    assert_memory_equal(a->rgb, b->rgb, n * 12);
}

/* The backward pass against central finite differences, for the largest gradients of each kind. */
static void test_render_gradient(void **state) {
    (void)state;
    gsz_scene s, t;
    assert_int_equal(gsz_synth_scene(2000, 0, 3, &s), GSZ_OK);
    assert_int_equal(gsz_synth_scene(2000, 0, 4, &t), GSZ_OK);
    gsz_camera cam;
    gsz_cameras_generate(&s, 1, 96, 64, 0, &cam);
    size_t px = 96 * 64 * 3, n = s.count;
    float *target = malloc(px * 4);
    gsz_render(&t, &cam, NULL, target);
    gsz_render_grad g = {malloc(n * 12), malloc(n * 12), malloc(n * 16), malloc(n * 4), malloc(n * 12)};
    double loss;
    assert_int_equal(gsz_render_gradient(&s, &cam, NULL, target, &g, &loss), GSZ_OK);
    assert_true(fabs(loss - half_sq_error(&s, &cam, target, px)) <= 1e-6 * loss);
    /* without a position gradient (fine-tuning's case, fewer sums kept) the others are the same */
    gsz_render_grad g2 = {NULL, malloc(n * 12), malloc(n * 16), malloc(n * 4), malloc(n * 12)};
    double loss2;
    assert_int_equal(gsz_render_gradient(&s, &cam, NULL, target, &g2, &loss2), GSZ_OK);
    assert_true(loss2 == loss);
    grads_equal(&g2, &g, n);
    free(g2.scale); free(g2.rot); free(g2.opacity); free(g2.rgb);
    /* the gradients written over the scene's own arrays (fine-tuning's case): the same values */
    gsz_scene c;
    assert_int_equal(gsz_synth_scene(2000, 0, 3, &c), GSZ_OK);
    gsz_render_grad g3 = {c.pos, c.scale, c.rot, c.opacity, malloc(n * 12)};
    double loss3;
    assert_int_equal(gsz_render_gradient(&c, &cam, NULL, target, &g3, &loss3), GSZ_OK);
    assert_true(loss3 == loss);
    grads_equal(&g3, &g, n);
    free(g3.rgb);
    gsz_scene_free(&c);
    for (size_t i = 0; i < n; i++) g.rgb[3 * i + 1] *= GSZ_SH_C0; /* to the DC coefficient */
    struct { float *p, *gp; size_t count; float h; } T[] = {
        {s.pos, g.pos, 3 * n, 1e-3f}, {s.scale, g.scale, 3 * n, 1e-2f}, {s.rot, g.rot, 4 * n, 2e-3f},
        {s.opacity, g.opacity, n, 1e-2f}, {s.sh_dc, g.rgb, 3 * n, 1e-2f}};
    for (int k = 0; k < 5; k++) {
        int good = 0;
        for (int r = 0; r < 5; r++) { /* the five largest; a splat at a tile or alpha threshold may jump */
            size_t best = k == 4 ? 1 : 0;
            for (size_t j = best; j < T[k].count; j += k == 4 ? 3 : 1)
                if (fabsf(T[k].gp[j]) > fabsf(T[k].gp[best])) best = j;
            float v = T[k].p[best];
            T[k].p[best] = v + T[k].h;
            double ep = half_sq_error(&s, &cam, target, px);
            T[k].p[best] = v - T[k].h;
            double em = half_sq_error(&s, &cam, target, px);
            T[k].p[best] = v;
            double fd = (ep - em) / (2 * T[k].h);
            good += fabs(fd - T[k].gp[best]) <= 0.03 * fabs(T[k].gp[best]) + 1e-5;
            T[k].gp[best] = 0;
        }
        fprintf(stderr, "gradient check, kind %d: %d of 5 within 3%%\n", k, good);
        assert_true(good >= 4);
    }
    free(target); free(g.pos); free(g.scale); free(g.rot); free(g.opacity); free(g.rgb);
    gsz_scene_free(&s);
    gsz_scene_free(&t);
}

/* Target pruning: fewer Gaussians where the PSNR allows, the estimate near the target, a file the
 * decoder reads (every SH degree's streams cut to match), the same bytes for any thread count. */
static void test_target_prune(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(20000, 2, 5, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.views = 8;
    o.threads = 1;
    o.refine = 16;
    o.target_psnr = -1;
    gsz_compress_stats st0, st1, st2;
    void *p0, *p1, *p2;
    size_t n0, n1, n2;
    assert_int_equal(gsz_compress(&s, &o, &p0, &n0, &st0), GSZ_OK);
    o.target_psnr = 28;
    assert_int_equal(gsz_compress(&s, &o, &p1, &n1, &st1), GSZ_OK);
    o.threads = 2;
    assert_int_equal(gsz_compress(&s, &o, &p2, &n2, &st2), GSZ_OK);
    fprintf(stderr, "target pruning: %zu -> %zu Gaussians, %zu -> %zu bytes, %.2f dB on the evaluation views\n", st0.output_count,
            st1.output_count, n0, n1, st1.psnr_estimate);
    assert_true(st1.output_count < st0.output_count);
    assert_true(n1 < n0);
    assert_true(st1.psnr_estimate >= 28 - 2);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, n1);
    assert_int_equal(gsz_decompress(p1, n1, &d, 2), GSZ_OK);
    assert_int_equal(d.count, st1.output_count);
    gsz_file_info fi;
    assert_int_equal(gsz_file_inspect(p1, n1, &fi), GSZ_OK);
    assert_int_equal(fi.count_by_degree[0] + fi.count_by_degree[1] + fi.count_by_degree[2], st1.output_count);
    gsz_scene_free(&d);
    free(p0); free(p1); free(p2);
    gsz_scene_free(&s);
}

/* A scene that covers little of its views (a thin post, 2-3% of the pixels, as guitar's 4%): target
 * pruning measures its PSNR as if the error were spread over a sixth of the frame, so the estimate sits
 * well under the full-frame PSNR of the file and pruning keeps the detail on the object itself. */
static void test_target_prune_small_object(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(20000, 1, 5, &s), GSZ_OK);
    /* the significance pass's coverage (which sets the fit's views, compress.c): the whole scene
     * against the post */
    gsz_camera cams[8];
    double *score = malloc(s.count * sizeof *score), cover[2];
    assert_non_null(score);
    assert_int_equal(gsz_cameras_generate(&s, 8, 512, 384, 0, cams), GSZ_OK);
    assert_int_equal(gsz_significance(&s, cams, 8, 2, NULL, NULL, score, NULL, NULL, &cover[0]), GSZ_OK);
    float lo[3], hi[3];
    gsz_scene_bounds(&s, lo, hi);
    for (size_t i = 0; i < s.count; i++) {
        for (int k = 0; k < 3; k += 2) { /* x and z to 3% about the centre, y kept */
            float c = 0.5f * (lo[k] + hi[k]);
            s.pos[3 * i + k] = c + 0.03f * (s.pos[3 * i + k] - c);
        }
        for (int k = 0; k < 3; k++) s.scale[3 * i + k] += logf(0.03f);
    }
    assert_int_equal(gsz_cameras_generate(&s, 8, 512, 384, 0, cams), GSZ_OK);
    assert_int_equal(gsz_significance(&s, cams, 8, 2, NULL, NULL, score, NULL, NULL, &cover[1]), GSZ_OK);
    fprintf(stderr, "coverage: scene %.3f, post %.3f\n", cover[0], cover[1]);
    assert_true(cover[1] < 0.25 * cover[0] && cover[1] < GSZ_COVER_MIN);
    free(score);
    gsz_compress_options o = {0};
    o.views = 8;
    o.threads = 2;
    o.refine = 16;
    o.target_psnr = 20;
    gsz_compress_stats st;
    void *p;
    size_t n;
    assert_int_equal(gsz_compress(&s, &o, &p, &n, &st), GSZ_OK);
    assert_int_equal(gsz_decompress(p, n, &d, 2), GSZ_OK);
    double full = mean_psnr(&s, &d, 8);
    fprintf(stderr, "small object: %zu -> %zu Gaussians, %.2f dB estimated (coverage-weighted), %.2f dB full frame\n", s.count,
            st.output_count, st.psnr_estimate, full);
    assert_true(st.output_count < s.count);
    assert_true(st.psnr_estimate > 0);
    assert_true(full > st.psnr_estimate + 3);
    gsz_scene_free(&d);
    free(p);
    gsz_scene_free(&s);
}

/* An indoor scene: views around it see only the outside of its walls, so an encode that measures them
 * prunes and simplifies the furniture inside for free; views placed inside stand within the walls and
 * keep it. Around placement is the default and gsz_cameras_generate's. */
static void test_inside_views(void **state) {
    (void)state;
    gsz_scene s, d[2];
    assert_int_equal(gsz_synth_room(20000, 1, 3, &s), GSZ_OK);
    gsz_camera in[16], a[16], g[16];
    assert_int_equal(gsz_cameras_place(&s, GSZ_PLACEMENT_INSIDE, 16, 320, 240, 0, in), GSZ_OK);
    assert_int_equal(gsz_cameras_place(&s, GSZ_PLACEMENT_AROUND, 16, 320, 240, 0, a), GSZ_OK);
    assert_int_equal(gsz_cameras_generate(&s, 16, 320, 240, 0, g), GSZ_OK);
    assert_memory_equal(a, g, sizeof a);
    static const float half[3] = {4.0f, 1.5f, 5.0f}; /* the room's walls */
    for (int v = 0; v < 16; v++) {
        int outside = 0;
        for (int k = 0; k < 3; k++) {
            assert_true(fabsf(in[v].center[k]) < half[k]);
            outside |= fabsf(a[v].center[k]) > half[k];
        }
        assert_true(outside);
        assert_true(strncmp(in[v].name, "inside", 6) == 0);
    }
    void *p[2];
    size_t n[2];
    gsz_compress_stats st[2];
    for (int i = 0; i < 2; i++) {
        gsz_compress_options o = {0};
        o.views = 8;
        o.threads = 2;
        o.refine = 16;
        o.placement = i ? GSZ_PLACEMENT_INSIDE : GSZ_PLACEMENT_AROUND;
        assert_int_equal(gsz_compress(&s, &o, &p[i], &n[i], &st[i]), GSZ_OK);
        assert_int_equal(st[i].views_inside, i);
        assert_int_equal(gsz_decompress(p[i], n[i], &d[i], 2), GSZ_OK);
    }
    double q0 = placed_psnr(&s, &d[0], GSZ_PLACEMENT_INSIDE, 8), q1 = placed_psnr(&s, &d[1], GSZ_PLACEMENT_INSIDE, 8);
    fprintf(stderr, "room seen from inside: encoded around %zu B, %zu Gaussians, %.2f dB; inside %zu B, %zu Gaussians, %.2f dB\n", n[0],
            st[0].output_count, q0, n[1], st[1].output_count, q1);
    assert_true(q1 > q0 + 3.0);
    gsz_compress_options bad = {0};
    bad.placement = (gsz_placement)7;
    void *pb;
    size_t nb;
    assert_int_equal(gsz_compress(&s, &bad, &pb, &nb, NULL), GSZ_ERROR_argument);
    for (int i = 0; i < 2; i++) { gsz_scene_free(&d[i]); free(p[i]); }
    gsz_scene_free(&s);
}

/* Free Gaussians (ones no view shows) go even where the scene has no headroom over the target: a
 * scene with 4,000 invisible Gaussians (alpha under 1/255 everywhere) among 20,000, and a target it
 * cannot reach, keeps fewer Gaussians than without target pruning, at the same fidelity. */
static void test_free_prune(void **state) {
    (void)state;
    gsz_scene s, t, d0, d1;
    enum { N = 20000, HIDDEN = 4000 };
    assert_int_equal(gsz_synth_scene(N, 2, 5, &s), GSZ_OK);
    assert_int_equal(gsz_scene_alloc(&t, N + HIDDEN, 2), GSZ_OK);
    size_t nr = (size_t)gsz_shRestCount(2) * 3;
    memcpy(t.pos, s.pos, N * 12); memcpy(t.scale, s.scale, N * 12); memcpy(t.rot, s.rot, N * 16);
    memcpy(t.opacity, s.opacity, N * 4); memcpy(t.sh_dc, s.sh_dc, N * 12); memcpy(t.sh_rest, s.sh_rest, N * nr * 4);
    for (size_t i = N; i < N + HIDDEN; i++) { /* a copy of a visible one, all but transparent */
        size_t j = (i * 7919) % N;
        memcpy(t.pos + 3 * i, s.pos + 3 * j, 12); memcpy(t.scale + 3 * i, s.scale + 3 * j, 12);
        memcpy(t.rot + 4 * i, s.rot + 4 * j, 16); memcpy(t.sh_dc + 3 * i, s.sh_dc + 3 * j, 12);
        memcpy(t.sh_rest + nr * i, s.sh_rest + nr * j, nr * 4);
        t.opacity[i] = -8.0f; /* alpha 3.4e-4 */
    }
    gsz_compress_options o = {0};
    o.views = 8;
    o.threads = 2;
    o.refine = 16;
    o.prune = -1; /* none up front: only fine-tuning's */
    o.target_psnr = -1;
    gsz_compress_stats st0, st1;
    void *p0, *p1;
    size_t n0, n1;
    assert_int_equal(gsz_compress(&t, &o, &p0, &n0, &st0), GSZ_OK);
    o.target_psnr = 99;
    assert_int_equal(gsz_compress(&t, &o, &p1, &n1, &st1), GSZ_OK);
    assert_int_equal(gsz_decompress(p0, n0, &d0, 2), GSZ_OK);
    assert_int_equal(gsz_decompress(p1, n1, &d1, 2), GSZ_OK);
    double q0 = mean_psnr(&t, &d0, 4), q1 = mean_psnr(&t, &d1, 4);
    fprintf(stderr, "free pruning: %zu -> %zu Gaussians, %zu -> %zu bytes, %.2f -> %.2f dB\n", st0.output_count, st1.output_count,
            n0, n1, q0, q1);
    assert_int_equal(st0.output_count, N + HIDDEN);
    assert_true(st1.output_count < N + HIDDEN / 2);
    /* visible ones the fit makes redundant may go too, within the free pruning's 0.05 dB (the pruning
     * order is measured on the fitted scene: 18,493 left here, 19,704 with the input's order) */
    assert_true(st1.output_count >= N - N / 10);
    assert_true(q1 >= q0 - 0.1);
    /* the fitted codebooks lost the entries whose Gaussians all went */
    gsz_indexed x;
    assert_int_equal(gsz_decode_indexed(p1, n1, 2, &x), GSZ_OK);
    for (int c = 0; c < 6; c++) {
        if (!x.codebook_size[c]) continue;
        uint8_t *used = calloc((size_t)x.codebook_size[c], 1);
        assert_non_null(used);
        for (size_t i = 0; i < x.count; i++)
            if (c < 3 || x.degree[i] == c - 2) used[x.index[c < 3 ? c : 3][i]] = 1;
        int unused = 0;
        for (int j = 0; j < x.codebook_size[c]; j++) unused += !used[j];
        assert_int_equal(unused, 0);
        free(used);
    }
    gsz_indexed_free(&x);
    gsz_scene_free(&d0); gsz_scene_free(&d1);
    free(p0); free(p1);
    /* high prunes what costs nothing, where its SH is not one transform-coded entry a Gaussian (here
     * no SH at all) */
    gsz_scene t0;
    assert_int_equal(gsz_scene_alloc(&t0, N + HIDDEN, 0), GSZ_OK);
    memcpy(t0.pos, t.pos, (N + HIDDEN) * 12); memcpy(t0.scale, t.scale, (N + HIDDEN) * 12); memcpy(t0.rot, t.rot, (N + HIDDEN) * 16);
    memcpy(t0.opacity, t.opacity, (N + HIDDEN) * 4); memcpy(t0.sh_dc, t.sh_dc, (N + HIDDEN) * 12);
    o.preset = GSZ_PRESET_HIGH;
    o.target_psnr = 0;
    assert_int_equal(gsz_compress(&t0, &o, &p0, &n0, &st0), GSZ_OK);
    fprintf(stderr, "high: %zu -> %zu Gaussians\n", (size_t)(N + HIDDEN), st0.output_count);
    assert_true(st0.output_count < N + HIDDEN / 2);
    free(p0);
    gsz_scene_free(&t0);
    gsz_scene_free(&s); gsz_scene_free(&t);
}

/* --max-bytes: a cap above the preset's file changes nothing; one under it is met within a few
 * encodes, with the same bytes from one thread as from two; from max, max pruned or high's own file;
 * one that nothing reaches is refused, saying how small the file got. */
static void test_max_bytes(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(12000, 1, 9, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.views = 4;
    o.threads = 2;
    o.refine = 8;
    gsz_compress_stats st0, st1, st2;
    void *p0, *p1, *p2;
    size_t n0, n1, n2;
    assert_int_equal(gsz_compress(&s, &o, &p0, &n0, &st0), GSZ_OK);
    o.max_bytes = n0 + 1;
    assert_int_equal(gsz_compress(&s, &o, &p1, &n1, &st1), GSZ_OK);
    assert_int_equal(st1.budget_encodes, 1);
    assert_true(n1 == n0 && !memcmp(p0, p1, n0));
    free(p1);
    o.max_bytes = n0 * 6 / 10;
    assert_int_equal(gsz_compress(&s, &o, &p1, &n1, &st1), GSZ_OK);
    fprintf(stderr, "max bytes: %zu -> %zu (cap %zu), %zu -> %zu Gaussians, %d encodes, level %.3f, %.1f%% pruned\n", n0, n1,
            o.max_bytes, st0.output_count, st1.output_count, st1.budget_encodes, st1.budget_level, 100 * st1.budget_prune);
    assert_true(n1 <= o.max_bytes);
    assert_true(n1 >= o.max_bytes * 8 / 10);
    assert_true(st1.budget_encodes >= 2 && st1.budget_encodes <= 8);
    assert_true(st1.budget_level < 1 || st1.budget_prune > 0.1); /* mixed with small's settings, or pruned */
    assert_true(st1.bytes == n1);
    assert_int_equal(gsz_decompress(p1, n1, &d, 2), GSZ_OK);
    assert_int_equal(d.count, st1.output_count);
    gsz_scene_free(&d);
    o.threads = 1;
    assert_int_equal(gsz_compress(&s, &o, &p2, &n2, &st2), GSZ_OK);
    assert_true(n2 == n1 && !memcmp(p1, p2, n1));
    o.max_bytes = n0 / 5; /* under small's file */
    free(p2);
    assert_int_equal(gsz_compress(&s, &o, &p2, &n2, &st2), GSZ_OK);
    fprintf(stderr, "max bytes: %zu (cap %zu), %zu Gaussians, %d encodes, level %.3f, %.1f%% pruned\n", n2, o.max_bytes,
            st2.output_count, st2.budget_encodes, st2.budget_level, 100 * st2.budget_prune);
    assert_true(n2 <= o.max_bytes && st2.output_count < st1.output_count);
    free(p2);
    o.preset = GSZ_PRESET_MAX; /* between high and max: max pruned, or high */
    o.max_bytes = 0;
    assert_int_equal(gsz_compress(&s, &o, &p2, &n2, &st2), GSZ_OK);
    void *p3;
    size_t n3;
    o.max_bytes = n2 * 3 / 4;
    free(p2);
    assert_int_equal(gsz_compress(&s, &o, &p2, &n2, &st2), GSZ_OK);
    fprintf(stderr, "max bytes from max: %zu (cap %zu), %d encodes, level %.3f, %.1f%% pruned\n", n2, o.max_bytes,
            st2.budget_encodes, st2.budget_level, 100 * st2.budget_prune);
    assert_true(n2 <= o.max_bytes && (st2.budget_level == 3 || st2.budget_level == 2));
    o.preset = GSZ_PRESET_HIGH;
    o.max_bytes = 0;
    assert_int_equal(gsz_compress(&s, &o, &p3, &n3, NULL), GSZ_OK);
    if (st2.budget_level == 2) assert_true(n2 == n3); /* high's own file where max pruned was not closer */
    free(p3);
    free(p2);
    o.preset = GSZ_PRESET_BALANCED;
    o.max_bytes = 300; /* under the container and codebooks alone */
    assert_int_equal(gsz_compress(&s, &o, &p2, &n2, &st2), GSZ_ERROR_argument);
    assert_non_null(strstr(gsz_getErrorDetail(), "cannot fit in 300 bytes"));
    free(p0); free(p1); free(p2);
    gsz_scene_free(&s);
}

/* Fine-tuning: deterministic for any thread count and closer to the original. */
static void test_refine(void **state) {
    (void)state;
    gsz_scene s, d0, d1;
    assert_int_equal(gsz_synth_scene(20000, 2, 11, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.views = 8;
    o.threads = 1;
    o.refine = -1;
    uint8_t *plain, *a, *b;
    size_t np, na, nb;
    compress_scene(&s, &o, &plain, &np);
    o.refine = 16;
    compress_scene(&s, &o, &a, &na);
    o.threads = 2;
    compress_scene(&s, &o, &b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    assert_int_equal(gsz_decompress(plain, np, &d0, 2), GSZ_OK);
    assert_int_equal(gsz_decompress(a, na, &d1, 2), GSZ_OK);
    double p0 = mean_psnr(&s, &d0, 6), p1 = mean_psnr(&s, &d1, 6);
    fprintf(stderr, "fine-tuning: %.2f -> %.2f dB (%zu -> %zu bytes)\n", p0, p1, np, na);
    assert_true(p1 > p0);
    /* the fit's targets cached (coded as 12-bit residuals), rendered again at every visit, or put into
     * the cache by the significance pass (shared by two fits, or for views the fit scales: then its
     * own): the same file, with views visited three times or some not again */
    gsz_camera views[4], large[4];
    assert_int_equal(gsz_cameras_generate(&s, 4, 320, 240, 0, views), GSZ_OK);
    assert_int_equal(gsz_cameras_generate(&s, 4, 640, 480, 0, large), GSZ_OK);
    double *score = malloc(s.count * sizeof *score);
    assert_non_null(score);
    for (int steps = 12; steps > 0; steps -= 9) {
        enum { RUNS = 7 };
        uint8_t *f[RUNS];
        size_t nf[RUNS];
        gsz_target_cache tc = {0};
        for (int c = 0; c < RUNS; c++) {
            /* 0 default cache, 1 none fits, 2 the significance's, 3 and 4 it shared, 5 the large views
             * scaled with the significance's, 6 without */
            const gsz_camera *cams = c >= 5 ? large : views;
            gsz_refine_options ro = {0};
            ro.steps = steps;
            ro.threads = 2;
            ro.level = 3;
            ro.cache_bytes = c == 1 ? 1 : 0;
            ro.fit_side = c >= 5 ? 320 : 0;
            if (c == 2 || c == 3 || c == 5) {
                assert_int_equal(gsz_target_cache_init(&tc, &s, 4, 0), GSZ_OK);
                double cover = -1;
                assert_int_equal(gsz_significance(&s, cams, 4, 2, NULL, NULL, score, NULL, &tc, &cover), GSZ_OK);
                assert_true(cover > 0 && cover <= 1);
                assert_true(tc.bytes > 0);
                tc.shared = c == 3;
            }
            if (c >= 2 && c <= 5) ro.targets = &tc;
            f[c] = malloc(np);
            assert_non_null(f[c]);
            memcpy(f[c], plain, np);
            nf[c] = np;
            gsz_refine_result rr;
            assert_int_equal(gsz_refine(&s, cams, 4, &ro, &f[c], &nf[c], &rr), GSZ_OK);
            if (c == 2) assert_int_equal(tc.bytes, 0); /* every frame used and freed */
            if (c == 3) assert_true(tc.bytes > 0);     /* kept for the next fit */
            if (c != 3) gsz_target_cache_free(&tc);
        }
        for (int c = 1; c < RUNS; c++) {
            int r = c < 5 ? 0 : 6;
            assert_int_equal(nf[r], nf[c]);
            assert_memory_equal(f[r], f[c], nf[r]);
        }
        for (int c = 0; c < RUNS; c++) free(f[c]);
    }
    free(score);
    gsz_scene_free(&d0);
    gsz_scene_free(&d1);
    free(plain); free(a); free(b);
    gsz_scene_free(&s);
}

static void test_real_scene(void **state) {
    (void)state;
    const char *p = shared_scene("playbot-small.ply");
    if (!p) { skip(); return; }
    gsz_scene s, d;
    assert_int_equal(gsz_ply_read(p, &s, NULL), GSZ_OK);
    gsz_compress_options o = {0};
    o.views = 16;
    uint8_t *buf;
    size_t size;
    compress_scene(&s, &o, &buf, &size);
    assert_int_equal(gsz_decompress(buf, size, &d, 0), GSZ_OK);
    double psnr = mean_psnr(&s, &d, 4);
    fprintf(stderr, "playbot-small: %zu -> %zu bytes, %.2f dB\n", s.count, size, psnr);
    assert_true(psnr > 32.0);
    assert_true((double)size / (double)s.count < 16.0);
    /* the decoded scene survives a PLY round trip */
    const char *out = tmp_path("decoded.ply");
    assert_int_equal(gsz_ply_write(out, &d), GSZ_OK);
    gsz_scene r;
    assert_int_equal(gsz_ply_read(out, &r, NULL), GSZ_OK);
    assert_scenes_equal(&d, &r);
    gsz_scene_free(&r);
    free(buf);
    gsz_scene_free(&s);
    gsz_scene_free(&d);
}

static void small_file(uint8_t **buf, size_t *size) {
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(3000, 2, 13, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.views = 6;
    compress_scene(&s, &o, buf, size);
    gsz_scene_free(&s);
}

static void test_truncated_and_flipped(void **state) {
    (void)state;
    uint8_t *buf;
    size_t size;
    small_file(&buf, &size);
    gsz_scene d;
    for (size_t cut = 0; cut < size; cut += 1 + cut / 7) {
        gsz_error e = gsz_decompress(buf, cut, &d, 1);
        assert_true(e == GSZ_ERROR_corrupt || e == GSZ_ERROR_checksum);
    }
    uint8_t *copy = malloc(size);
    for (size_t pos = 0; pos < size; pos += 1 + pos / 13) {
        memcpy(copy, buf, size);
        copy[pos] ^= (uint8_t)(1u << (pos % 8));
        gsz_error e = gsz_decompress(copy, size, &d, 1);
        if (!e) gsz_scene_free(&d);
        assert_true(gsz_isError(e));
    }
    free(copy);
    free(buf);
}

/* Files with valid checksums but lying counts, widths or indices: the decoder's own checks catch them. */
static void test_lying_sections(void **state) {
    (void)state;
    uint8_t *buf, *out;
    size_t size, osz;
    small_file(&buf, &size);
    gsz_container c;
    assert_int_equal(gsz_container_read(buf, size, &c), GSZ_OK);
    gsz_scene d;
    for (size_t i = 0; i < c.n; i++) {
        gsz_container m = c;
        m.s[i].elements = c.s[i].elements * 3 + 1000000; /* oversized length */
        assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
        assert_true(gsz_isError(gsz_decompress(out, osz, &d, 1)));
        free(out);
        m = c;
        m.s[i].width = m.s[i].width == 1 ? 2 : 1;
        assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
        assert_true(gsz_isError(gsz_decompress(out, osz, &d, 1)));
        free(out);
    }
    /* header count that disagrees with the streams */
    gsz_container m = c;
    m.h.count += 1;
    assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &d, 1), GSZ_ERROR_corrupt);
    free(out);
    /* an index outside its codebook */
    const gsz_section *sec = gsz_container_find(&c, GSZ_SEC_DC_IDX);
    size_t n = (size_t)sec->elements;
    uint8_t *idx = malloc(n * sec->width);
    assert_int_equal(gsz_entropy_decode(sec->payload, (size_t)sec->stored_size, sec->transform, n, sec->width, idx), GSZ_OK);
    assert_true(sec->width <= 2);
    memset(idx + (n / 2) * sec->width, 0xFF, sec->width); /* 255 or 65535: past this small codebook */
    uint8_t *enc;
    size_t esz;
    int tx;
    assert_int_equal(gsz_entropy_encode(idx, n, sec->width, 3, 1, NULL, 0, &enc, &esz, &tx), GSZ_OK);
    m = c;
    for (size_t i = 0; i < m.n; i++)
        if (m.s[i].type == GSZ_SEC_DC_IDX) { m.s[i].payload = enc; m.s[i].stored_size = esz; m.s[i].transform = (uint8_t)tx; }
    assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &d, 1), GSZ_ERROR_corrupt);
    assert_non_null(strstr(gsz_getErrorDetail(), "outside the codebook"));
    assert_non_null(strstr(gsz_getErrorDetail(), "Gaussian"));
    free(out);
    free(enc);
    free(idx);
    /* unknown optional section: skipped; unknown required section: refused */
    m = c;
    static const uint8_t extra[4] = {1, 2, 3, 4};
    m.s[m.n] = (gsz_section){200, 0, 0, 1, 4, extra, 4, 0};
    m.n++;
    assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &d, 1), GSZ_OK);
    gsz_scene_free(&d);
    free(out);
    m.s[m.n - 1].flags = GSZ_SECF_REQUIRED;
    assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &d, 1), GSZ_ERROR_unsupported);
    assert_string_equal(gsz_getErrorDetail(), "required section of unknown type 200");
    /* a detail wrapped in another (the CLI names the file) keeps its text */
    gsz_fail(GSZ_ERROR_unsupported, "%s: %s", "f.gsz", gsz_getErrorDetail());
    assert_string_equal(gsz_getErrorDetail(), "f.gsz: required section of unknown type 200");
    free(out);
    /* a position warp with a radius that is not positive and finite, or of the wrong length: refused */
    static const float warps[3][4] = {{0, 0, 0, 0}, {0, 0, 0, -1}, {0, NAN, 0, 1}};
    for (int w = 0; w < 4; w++) {
        size_t cnt = w < 3 ? 4 : 3;
        assert_int_equal(gsz_entropy_encode(warps[w < 3 ? w : 0], cnt, 4, 3, 1, NULL, 0, &enc, &esz, &tx), GSZ_OK);
        m = c;
        m.s[m.n] = (gsz_section){GSZ_SEC_POS_WARP, GSZ_SECF_REQUIRED, (uint8_t)tx, 4, cnt, enc, esz, 0};
        m.n++;
        assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
        assert_int_equal(gsz_decompress(out, osz, &d, 1), GSZ_ERROR_corrupt);
        assert_non_null(strstr(gsz_getErrorDetail(), "position.warp"));
        free(out);
        free(enc);
    }
    free(buf);
}

/* A scene decoded from compressed.ply (gsz synth --lattice): max stores its lattice; position,
 * scale, rotation and SH come back bit for bit, colour and opacity within 1e-6, in the input's order,
 * through both decoders; a plain scene is not taken for one; damaged lattice files are refused. */
static void test_lattice(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(3000, 2, 17, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.preset = GSZ_PRESET_MAX;
    uint8_t *buf;
    size_t size;
    void *p;
    gsz_compress_stats st;
    assert_int_equal(gsz_compress(&s, &o, &p, &size, &st), GSZ_OK);
    assert_int_equal(st.lattice, 0);
    free(p);
    gsz_lattice_quantise(&s);
    assert_int_equal(gsz_compress(&s, &o, &p, &size, &st), GSZ_OK);
    assert_int_equal(st.lattice, 1);
    buf = p;
    assert_int_equal(gsz_decompress(buf, size, &d, 2), GSZ_OK);
    assert_int_equal(d.count, s.count);
    size_t nr = (size_t)gsz_shRestCount(2) * 3;
    assert_memory_equal(d.pos, s.pos, s.count * 12);
    assert_memory_equal(d.scale, s.scale, s.count * 12);
    assert_memory_equal(d.rot, s.rot, s.count * 16);
    assert_memory_equal(d.sh_rest, s.sh_rest, s.count * nr * sizeof(float));
    for (size_t i = 0; i < s.count; i++) {
        assert_true(fabsf(d.opacity[i] - s.opacity[i]) <= 1e-6f * fmaxf(1.0f, fabsf(s.opacity[i])));
        for (int k = 0; k < 3; k++) assert_true(fabsf(d.sh_dc[3 * i + k] - s.sh_dc[3 * i + k]) <= 1e-6f * fmaxf(1.0f, fabsf(s.sh_dc[3 * i + k])));
    }
    gsz_indexed x;
    assert_int_equal(gsz_decode_indexed(buf, size, 2, &x), GSZ_OK);
    assert_memory_equal(x.pos, d.pos, s.count * 12);
    for (size_t i = 0; i < s.count; i += 97) {
        assert_memory_equal(x.codebook[0] + 3 * (size_t)x.index[0][i], d.scale + 3 * i, 12);
        assert_memory_equal(x.codebook[1] + 4 * (size_t)x.index[1][i], d.rot + 4 * i, 16);
        assert_memory_equal(x.codebook[2] + 3 * (size_t)x.index[2][i], d.sh_dc + 3 * i, 12);
    }
    gsz_indexed_free(&x);
    gsz_scene_free(&d);

    gsz_container c, m;
    uint8_t *out;
    size_t osz;
    gsz_scene e;
    assert_int_equal(gsz_container_read(buf, size, &c), GSZ_OK);
    for (size_t i = 0; i < c.n; i++) { /* each lattice section missing */
        if (c.s[i].type < GSZ_SEC_LAT_RANGES || c.s[i].type > GSZ_SEC_LAT_ROT) continue;
        m = c;
        m.s[i] = m.s[--m.n];
        assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
        assert_int_equal(gsz_decompress(out, osz, &e, 1), GSZ_ERROR_corrupt);
        free(out);
    }
    /* a quantised attribute beside the lattice */
    uint8_t *plain;
    size_t psz;
    small_file(&plain, &psz);
    gsz_container pc;
    assert_int_equal(gsz_container_read(plain, psz, &pc), GSZ_OK);
    m = c;
    m.s[m.n++] = *gsz_container_find(&pc, GSZ_SEC_OPACITY);
    assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &e, 1), GSZ_ERROR_corrupt);
    free(out);
    free(plain);
    /* a range that is not finite */
    const gsz_section *rs = gsz_container_find(&c, GSZ_SEC_LAT_RANGES);
    size_t nrng = (size_t)rs->elements;
    uint32_t *rng = malloc(nrng * 4);
    assert_int_equal(gsz_entropy_decode(rs->payload, (size_t)rs->stored_size, rs->transform, nrng, 4, rng), GSZ_OK);
    float inf = INFINITY;
    memcpy(rng + nrng / 2, &inf, 4);
    uint8_t *enc;
    size_t esz;
    int tx;
    assert_int_equal(gsz_entropy_encode(rng, nrng, 4, 3, 1, NULL, 0, &enc, &esz, &tx), GSZ_OK);
    m = c;
    for (size_t i = 0; i < m.n; i++)
        if (m.s[i].type == GSZ_SEC_LAT_RANGES) { m.s[i].payload = enc; m.s[i].stored_size = esz; m.s[i].transform = (uint8_t)tx; }
    assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &e, 1), GSZ_ERROR_corrupt);
    free(out);
    free(enc);
    free(rng);
    /* the colour words as lattice.color.diff (R and B less G) instead: the same scene; with both, or
     * beside a quantised file's sections, an error */
    const gsz_section *cs = gsz_container_find(&c, GSZ_SEC_LAT_COLOR);
    uint32_t *wc = malloc(s.count * 4), *back = malloc(s.count * 4);
    assert_int_equal(gsz_entropy_decode(cs->payload, (size_t)cs->stored_size, cs->transform, s.count, 4, wc), GSZ_OK);
    memcpy(back, wc, s.count * 4);
    gsz_lattice_color_diff(wc, s.count, 0);
    assert_memory_not_equal(wc, back, s.count * 4);
    gsz_section ds = *cs;
    ds.type = GSZ_SEC_LAT_COLOR_DIFF;
    assert_int_equal(gsz_section_encode(&ds, wc, s.count, 4, 3, 1, &enc), GSZ_OK);
    gsz_lattice_color_diff(wc, s.count, 1);
    assert_memory_equal(wc, back, s.count * 4);
    gsz_scene d0, d1;
    assert_int_equal(gsz_decompress(buf, size, &d0, 1), GSZ_OK);
    m = c;
    for (size_t i = 0; i < m.n; i++)
        if (m.s[i].type == GSZ_SEC_LAT_COLOR) m.s[i] = ds;
    assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &d1, 2), GSZ_OK);
    assert_memory_equal(d1.sh_dc, d0.sh_dc, s.count * 12);
    assert_memory_equal(d1.opacity, d0.opacity, s.count * 4);
    assert_memory_equal(d1.pos, d0.pos, s.count * 12);
    free(out);
    gsz_scene_free(&d0);
    gsz_scene_free(&d1);
    m.s[m.n++] = *cs; /* both */
    assert_int_equal(gsz_container_write(&m, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &e, 1), GSZ_ERROR_corrupt);
    free(out);
    small_file(&plain, &psz);
    assert_int_equal(gsz_container_read(plain, psz, &pc), GSZ_OK);
    pc.s[pc.n++] = ds; /* a quantised file with it */
    assert_int_equal(gsz_container_write(&pc, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &e, 1), GSZ_ERROR_corrupt);
    free(out);
    free(plain);
    free(enc);
    free(wc);
    free(back);
    free(buf);
    gsz_scene_free(&s);
}

static void test_geometry_canonical_same_image(void **state) {
    (void)state;
    gsz_scene s, t;
    assert_int_equal(gsz_synth_scene(5000, 0, 17, &s), GSZ_OK);
    assert_int_equal(gsz_synth_scene(5000, 0, 17, &t), GSZ_OK);
    for (size_t i = 0; i < t.count; i++) {
        gsz_geometry_canonical(t.scale + 3 * i, t.rot + 4 * i);
        assert_true(t.scale[3 * i] >= t.scale[3 * i + 1] && t.scale[3 * i + 1] >= t.scale[3 * i + 2]);
        assert_true(t.rot[4 * i] >= 0);
    }
    assert_true(mean_psnr(&s, &t, 3) > 70.0);
    gsz_scene_free(&s);
    gsz_scene_free(&t);
}

/* k-means gives the same result for any thread count, and its pruned search (a k-d tree up to 4
 * coordinates, a slab along the first principal axis above, its blocks 8 at a time) the nearest
 * centroid (ties: lowest index). */
static void kmeans_exact_check(int D, int K, int iso) {
    enum { N = 5000 };
    float *x = malloc((size_t)N * D * 4), *w = malloc(N * 4), *c1 = malloc((size_t)K * D * 4), *c2 = malloc((size_t)K * D * 4);
    gsz_rng r = {42};
    for (int i = 0; i < N; i++) {
        w[i] = (float)gsz_rng_uniform(&r);
        for (int d = 0; d < D; d++) x[i * D + d] = iso ? (float)gsz_rng_normal(&r) : (float)gsz_rng_normal(&r) * (d < 3 ? 3.0f : 0.3f) + (float)(i % 5);
        if (i % 7 == 3) memcpy(x + i * D, x + (i - 1) * D, (size_t)D * 4); /* repeated points: ties */
    }
    gsz_kmeans_options o = {0};
    o.k = K;
    o.threads = 1;
    uint32_t *a1 = malloc(N * 4), *a2 = malloc(N * 4);
    assert_int_equal(gsz_kmeans(x, w, N, D, &o, c1, a1), GSZ_OK);
    o.threads = 2;
    assert_int_equal(gsz_kmeans(x, w, N, D, &o, c2, a2), GSZ_OK);
    assert_memory_equal(c1, c2, (size_t)K * D * 4);
    assert_memory_equal(a1, a2, N * 4);
    /* with the points as scratch (turned in place), the same result; also from a sample of them */
    float *xs = malloc((size_t)N * D * 4);
    for (size_t sample = 0; sample <= 1000; sample += 1000) {
        o.sample = sample;
        assert_int_equal(gsz_kmeans(x, w, N, D, &o, c2, a2), GSZ_OK);
        memcpy(xs, x, (size_t)N * D * 4);
        float *c3 = malloc((size_t)K * D * 4);
        uint32_t *a3 = malloc(N * 4);
        assert_int_equal(gsz_kmeans_scratch(xs, w, N, D, &o, c3, a3), GSZ_OK);
        assert_memory_equal(c3, c2, (size_t)K * D * 4);
        assert_memory_equal(a3, a2, N * 4);
        free(c3); free(a3);
    }
    free(xs);
    o.sample = 0;
    for (int i = 0; i < N; i++) {
        float best = INFINITY;
        uint32_t bi = 0;
        for (int j = 0; j < K; j++) {
            float s = 0;
            for (int d = 0; d < D; d++) { float t = x[i * D + d] - c1[j * D + d]; s += t * t; }
            if (s < best) { best = s; bi = (uint32_t)j; }
        }
        float got = 0;
        for (int d = 0; d < D; d++) { float t = x[i * D + d] - c1[a1[i] * D + d]; got += t * t; }
        assert_true(a1[i] == bi || fabsf(got - best) <= 1e-5f * (1 + best));
    }
    free(x); free(w); free(c1); free(c2); free(a1); free(a2);
}

static void test_kmeans_exact_and_deterministic(void **state) {
    (void)state;
    kmeans_exact_check(3, 300, 0); /* the tree, 38 leaves */
    kmeans_exact_check(4, 61, 0);  /* a partial last leaf */
    kmeans_exact_check(9, 64, 0);  /* the slab */
    kmeans_exact_check(45, 300, 1); /* isotropic: the slab visits most blocks, 8 at a time */
}

/* A NaN point (it would match no centroid) or a negative or infinite weight is refused, not assigned. */
static void test_kmeans_refuses_non_finite(void **state) {
    (void)state;
    float x[40], w[20], c[8];
    uint32_t a[20];
    for (int i = 0; i < 40; i++) x[i] = (float)(i % 7);
    for (int i = 0; i < 20; i++) w[i] = 1;
    gsz_kmeans_options o = {0};
    o.k = 4;
    assert_int_equal(gsz_kmeans(x, w, 20, 2, &o, c, a), GSZ_OK);
    x[13] = NAN;
    assert_int_equal(gsz_kmeans(x, w, 20, 2, &o, c, a), GSZ_ERROR_argument);
    x[13] = INFINITY;
    assert_int_equal(gsz_kmeans(x, w, 20, 2, &o, c, a), GSZ_ERROR_argument);
    x[13] = 1;
    w[5] = -1;
    assert_int_equal(gsz_kmeans(x, w, 20, 2, &o, c, a), GSZ_ERROR_argument);
    w[5] = NAN;
    assert_int_equal(gsz_kmeans(x, w, 20, 2, &o, c, a), GSZ_ERROR_argument);
}

/* Entropy-constrained k-means: fewer bits in the indices for a bounded rise in weighted error, the
 * same for any thread count. */
static double index_entropy(const uint32_t *a, size_t n, int k) {
    size_t *c = calloc((size_t)k, sizeof *c);
    for (size_t i = 0; i < n; i++) c[a[i]]++;
    double h = 0;
    for (int j = 0; j < k; j++)
        if (c[j]) h -= (double)c[j] / (double)n * log2((double)c[j] / (double)n);
    free(c);
    return h;
}

static double weighted_error(const float *x, const float *w, const float *c, const uint32_t *a, size_t n, int dim) {
    double e = 0;
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < dim; d++) {
            double t = (double)x[i * (size_t)dim + (size_t)d] - c[a[i] * (size_t)dim + (size_t)d];
            e += w[i] * t * t;
        }
    return e;
}

static void test_kmeans_rate(void **state) {
    (void)state;
    enum { N = 20000, D = 3, K = 256 };
    float *x = malloc(N * D * 4), *w = malloc(N * 4), c0[K * D], c1[K * D], c2[K * D];
    gsz_rng r = {5};
    for (int i = 0; i < N; i++) {
        double u = gsz_rng_uniform(&r);
        w[i] = (float)(u * u * u * u); /* heavy-tailed, as significance is */
        for (int d = 0; d < D; d++) x[i * D + d] = (float)gsz_rng_normal(&r);
    }
    gsz_kmeans_options o = {0};
    o.k = K;
    o.threads = 2;
    uint32_t *a0 = malloc(N * 4), *a1 = malloc(N * 4), *a2 = malloc(N * 4);
    assert_int_equal(gsz_kmeans(x, w, N, D, &o, c0, a0), GSZ_OK);
    o.rate = 1.0f;
    assert_int_equal(gsz_kmeans(x, w, N, D, &o, c1, a1), GSZ_OK);
    o.threads = 1;
    assert_int_equal(gsz_kmeans(x, w, N, D, &o, c2, a2), GSZ_OK);
    assert_memory_equal(c1, c2, sizeof c1);
    assert_memory_equal(a1, a2, N * 4);
    double h0 = index_entropy(a0, N, K), h1 = index_entropy(a1, N, K);
    double e0 = weighted_error(x, w, c0, a0, N, D), e1 = weighted_error(x, w, c1, a1, N, D);
    fprintf(stderr, "entropy-constrained k-means: %.2f -> %.2f bits per index, weighted error x%.2f\n", h0, h1, e1 / e0);
    assert_true(h1 < h0 - 0.5);
    assert_true(e1 < 2.0 * e0);
    free(x); free(w); free(a0); free(a1); free(a2);
}

/* Reassignment to a fixed (fitted) codebook, its points in chunks from a callback: at rate 0 every point
 * gets its nearest entry; entropy-constrained, each point's cost (weighted error plus lambda times the
 * code length under the counts before) is the least of any entry's, the indices' entropy falls; the
 * same for any thread count. */
typedef struct { const float *x; int dim; } reassign_pts;
static void reassign_get(void *u, size_t first, size_t m, float *out) {
    const reassign_pts *p = u;
    memcpy(out, p->x + first * (size_t)p->dim, m * (size_t)p->dim * sizeof(float));
}

static void kmeans_reassign_check(int D) {
    enum { N = 40000, K = 256 }; /* two chunks and a part */
    float *x = malloc((size_t)N * D * 4), *w = malloc(N * 4), *c = malloc((size_t)K * D * 4);
    uint32_t *a0 = malloc(N * 4), *a1 = malloc(N * 4), *a2 = malloc(N * 4), *near = malloc(N * 4);
    gsz_rng r = {17};
    for (int i = 0; i < N; i++) {
        double u = gsz_rng_uniform(&r);
        w[i] = (float)(u * u * u);
        for (int d = 0; d < D; d++) x[i * D + d] = (float)gsz_rng_normal(&r) * (d ? 1.0f : 2.0f);
    }
    gsz_kmeans_options o = {0};
    o.k = K;
    o.threads = 2;
    o.rate = 1.0f;
    assert_int_equal(gsz_kmeans(x, w, N, D, &o, c, a0), GSZ_OK);
    for (int j = 0; j < K * D; j++) c[j] += 0.2f * (float)gsz_rng_normal(&r); /* what a fit might do */
    reassign_pts p = {x, D};
    memcpy(near, a0, N * 4);
    assert_int_equal(gsz_kmeans_reassign(reassign_get, &p, w, N, D, c, K, 0.0f, 2, near), GSZ_OK);
    for (int i = 0; i < N; i++) {
        float best = INFINITY, got = 0;
        for (int j = 0; j < K; j++) {
            float s = 0;
            for (int d = 0; d < D; d++) { float t = x[i * D + d] - c[j * D + d]; s += t * t; }
            best = fminf(best, s);
        }
        for (int d = 0; d < D; d++) { float t = x[i * D + d] - c[near[i] * D + d]; got += t * t; }
        assert_true(got <= best + 1e-5f * (1 + best));
    }
    memcpy(a1, a0, N * 4);
    memcpy(a2, a0, N * 4);
    assert_int_equal(gsz_kmeans_reassign(reassign_get, &p, w, N, D, c, K, 1.0f, 1, a1), GSZ_OK);
    assert_int_equal(gsz_kmeans_reassign(reassign_get, &p, w, N, D, c, K, 1.0f, 2, a2), GSZ_OK);
    assert_memory_equal(a1, a2, N * 4);
    /* the cost as documented: lambda = rate (2 ln 2 / dim) times the mean weighted error before, the
     * lengths from the counts before, weights floored at 1e-3 of their mean */
    size_t *cnt = calloc(K, sizeof *cnt);
    double wd = weighted_error(x, w, c, a0, N, D), ws = 0;
    for (int i = 0; i < N; i++) { cnt[a0[i]]++; ws += w[i]; }
    double lambda = 2.0 * log(2.0) / D * wd / N, floor_w = 1e-3 * ws / N;
    int moved = 0;
    for (int i = 0; i < N; i++) {
        double mu = lambda / fmax(w[i], floor_w), best = INFINITY, got = 0;
        for (int j = 0; j < K; j++) {
            double s = 0;
            for (int d = 0; d < D; d++) { double t = (double)x[i * D + d] - c[j * D + d]; s += t * t; }
            double cost = s + mu * -log2((cnt[j] ? (double)cnt[j] : 0.5) / N);
            best = fmin(best, cost);
            if ((uint32_t)j == a1[i]) got = cost;
        }
        assert_true(got <= best + 1e-4 * (1 + best));
        moved += a1[i] != a0[i];
    }
    assert_true(moved > N / 20); /* the perturbation moved some */
    assert_true(index_entropy(a1, N, K) < index_entropy(near, N, K) - 0.2);
    free(cnt);
    free(x); free(w); free(c); free(a0); free(a1); free(a2); free(near);
}

static void test_kmeans_reassign(void **state) {
    (void)state;
    kmeans_reassign_check(3); /* the tree */
    kmeans_reassign_check(9); /* the slab */
}

/* Transform-coded SH codebooks: the decoder gives exactly what the encoder wrote back, within 0.6 of a
 * step per opponent component (dead-zone rounding); damaged payloads are refused. */
static void test_sh_transform_codebook(void **state) {
    (void)state;
    enum { K = 500, M = 45 };
    float *cb = malloc(K * M * 4), *orig = malloc(K * M * 4), *back;
    uint8_t cls[K];
    gsz_rng r = {11};
    for (int j = 0; j < K; j++) {
        cls[j] = (uint8_t)(j % 4);
        for (int m = 0; m < M; m++) orig[j * M + m] = (float)(gsz_rng_normal(&r) * (j == 0 && m < 3 ? 1e4 : 0.3)); /* clamps */
    }
    memcpy(cb, orig, K * M * 4);
    uint8_t *p;
    size_t sz;
    const float step = 0.05f;
    assert_int_equal(gsz_codebook_pack_sh(cb, K, M, step, cls, &p, &sz), GSZ_OK);
    assert_true(sz > 12 + M + K + K * M && sz < 12 + M + K + 2 * K * M); /* planes 0-2 wide (entry 0), the rest not */
    int k = 0, bits = -1;
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &back, &k, &bits), GSZ_OK);
    assert_int_equal(k, K);
    assert_int_equal(bits, 0); /* transform-coded */
    assert_memory_equal(back, cb, K * M * 4);
    for (int j = 0; j < K; j++)
        for (int t = j ? 0 : 3; t < M; t += 3) {
            double e = 0;
            for (int u = 0; u < 3; u++) e += pow((double)back[j * M + t + u] - orig[j * M + t + u], 2);
            /* each opponent component within 0.6 steps (dead-zone rounding, offset 0.4) */
            assert_true(sqrt(e) <= step * (1 << cls[j]) * sqrt(3.0) * 0.6 * 1.0001 + 1e-6);
        }
    /* encoding 3 (the zeros split off): the same entries; its planes as block starts for zstd */
    size_t qs = 0, cut[GSZ_CODEBOOK_CUTS];
    uint8_t *q = gsz_codebook_sh_split(p, &qs);
    assert_non_null(q);
    assert_int_equal(q[7], 3);
    assert_int_equal(q[12], 2); /* entry 0's clamped values: a wide plane */
    assert_int_equal(gsz_codebook_cuts(q, qs, cut, GSZ_CODEBOOK_CUTS), 1 + (M + 7) / 8 + M + 3);
    assert_int_equal(gsz_codebook_cuts(p, sz, cut, GSZ_CODEBOOK_CUTS), 1 + M + 3);
    float *back3;
    assert_int_equal(gsz_codebook_unpack(q, qs, M, 2, &back3, &k, &bits), GSZ_OK);
    assert_int_equal(k, K);
    assert_memory_equal(back3, back, K * M * 4);
    free(back3);
    /* straight into rows of a wider array, in any order, the rest of each row zeroed (either encoding) */
    enum { W = 48 };
    uint32_t row[K];
    for (int j = 0; j < K; j++) row[j] = (uint32_t)(K - 1 - j);
    float *rows = malloc(K * W * 4);
    for (int e = 0; e < 2; e++) {
        for (int j = 0; j < K * W; j++) rows[j] = 7.0f;
        assert_int_equal(gsz_codebook_transform_entries(e ? q : p, e ? qs : sz), K);
        assert_int_equal(gsz_codebook_unpack_sh_rows(e ? q : p, e ? qs : sz, M, 2, rows, W, row, K), GSZ_OK);
        for (int j = 0; j < K; j++) {
            assert_memory_equal(rows + row[j] * W, back + j * M, M * 4);
            for (int t = M; t < W; t++) assert_true(rows[row[j] * W + t] == 0.0f);
        }
        assert_int_equal(gsz_codebook_unpack_sh_rows(e ? q : p, e ? qs : sz, M, 2, rows, W, row, K - 1), GSZ_ERROR_corrupt);
        assert_int_equal(gsz_codebook_unpack_sh_rows(e ? q : p, e ? qs : sz, M, 2, rows, M - 1, row, K), GSZ_ERROR_corrupt);
    }
    free(rows);
    free(back);
    float *none;
    size_t flags = 12 + M + K;
    assert_int_equal(gsz_codebook_unpack(q, qs - 1, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt); /* size */
    assert_int_equal(gsz_codebook_unpack(q, flags + 5, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt); /* no room for the flags */
    q[flags + 5 * K + 9] ^= 0x80; /* flag 47 of entry 9: beyond the 45 components */
    assert_int_equal(gsz_codebook_unpack(q, qs, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    q[flags + 5 * K + 9] ^= 0x80;
    q[flags + 3] ^= 0x01; /* one flag more or less: the value planes no longer add up */
    assert_int_equal(gsz_codebook_unpack(q, qs, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    q[flags + 3] ^= 0x01;
    size_t v0 = flags + (M + 7) / 8 * K, n0 = 0; /* plane 0 (wide): its first value's low and high bytes */
    for (int j = 0; j < K; j++) n0 += q[flags + j] & 1;
    q[v0] = q[v0 + n0] = 0xFF; /* v = 65535: z would not fit */
    assert_int_equal(gsz_codebook_unpack(q, qs, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    free(q);
    assert_int_equal(gsz_codebook_unpack(p, sz, 24, 2, &none, &k, &bits), GSZ_ERROR_corrupt); /* dimension */
    assert_int_equal(gsz_codebook_unpack(p, sz - 1, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt); /* size */
    assert_int_equal(gsz_codebook_unpack(p, 11, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    p[12 + M + 7] = 8; /* a step class above 7 */
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    p[12 + M + 7] = 0;
    p[12 + 5] = 3; /* a plane width other than 1 or 2 */
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    p[12 + 5] = 2;
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt); /* sizes then disagree */
    p[12 + 5] = 1;
    assert_int_equal(p[12], 2);
    p[7] = 2; /* marked a value table: its sizes disagree */
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    p[7] = 7; /* an encoding this reader does not know: a newer writer's */
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_unsupported);
    p[7] = 1;
    float bad = NAN;
    memcpy(p + 8, &bad, 4);
    assert_int_equal(gsz_codebook_unpack(p, sz, M, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    free(p);
    /* only SH codebooks may be transform-coded */
    memcpy(cb, orig, 3 * 4 * 4);
    assert_int_equal(gsz_codebook_pack_sh(cb, 4, 3, step, NULL, &p, &sz), GSZ_OK);
    assert_int_equal(gsz_codebook_unpack(p, sz, 3, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    free(p);
    free(cb);
    free(orig);
}

/* Encoding 3 decodes in runs of 64 entries from per-component flag words: every run length and tail
 * (1, 8, 63, 64, 77 and a split block and a half), every SH dimension, sparse entries with a few wide
 * values, against encoding 1 (each entry's opponent inverse on its own), as a codebook and into rows. */
static void test_sh_split_runs(void **state) {
    (void)state;
    const int dims[3] = {9, 24, 45}, ks[6] = {1, 8, 63, 64, 77, 6221};
    gsz_rng r = {5};
    for (int di = 0; di < 3; di++)
        for (int ki = 0; ki < 6; ki++) {
            int M = dims[di], K = ks[ki];
            float *cb = malloc((size_t)K * M * 4), *a, *b, *rows = malloc((size_t)K * 48 * 4);
            uint8_t *cls = malloc((size_t)K), *p, *q;
            uint32_t *row = malloc((size_t)K * 4);
            for (int j = 0; j < K; j++) {
                cls[j] = (uint8_t)((uint32_t)gsz_rng_next(&r) % 5);
                row[j] = (uint32_t)(K - 1 - j);
                for (int m = 0; m < M; m++) {
                    uint32_t u = (uint32_t)gsz_rng_next(&r) % 100;
                    cb[(size_t)j * M + m] = u < 70 ? 0.0f : (float)(gsz_rng_normal(&r) * (u == 99 ? 40.0 : 0.3));
                }
            }
            size_t sz, qs;
            assert_int_equal(gsz_codebook_pack_sh(cb, K, M, 0.02f, cls, &p, &sz), GSZ_OK);
            assert_non_null(q = gsz_codebook_sh_split(p, &qs));
            int k = 0, bits = -1;
            assert_int_equal(gsz_codebook_unpack(p, sz, M, 1, &a, &k, &bits), GSZ_OK);
            assert_int_equal(gsz_codebook_unpack(q, qs, M, 3, &b, &k, &bits), GSZ_OK);
            assert_int_equal(k, K);
            assert_memory_equal(a, b, (size_t)K * M * 4);
            for (int j = 0; j < K * 48; j++) rows[j] = 7.0f;
            assert_int_equal(gsz_codebook_unpack_sh_rows(q, qs, M, 2, rows, 48, row, (uint32_t)K), GSZ_OK);
            for (int j = 0; j < K; j++) {
                assert_memory_equal(rows + (size_t)row[j] * 48, a + (size_t)j * M, (size_t)M * 4);
                for (int t = M; t < 48; t++) assert_true(rows[(size_t)row[j] * 48 + t] == 0.0f);
            }
            free(a); free(b); free(p); free(q); free(cb); free(cls); free(row); free(rows);
        }
}

/* The AVX-512 unpack (where the CPU has it) gives the plain C one's floats bit for bit: both
 * encodings, runs cut short, wide planes, rows in and out of order, strides it stages and not. */
static void test_sh_simd(void **state) {
    (void)state;
    const int dims[3] = {9, 24, 45}, ks[5] = {1, 63, 65, 130, 4099}, strides[3] = {0, 45, 52};
    gsz_rng r = {9};
    for (int di = 0; di < 3; di++)
        for (int ki = 0; ki < 5; ki++) {
            int M = dims[di], K = ks[ki];
            float *cb = malloc((size_t)K * M * 4);
            uint8_t *cls = malloc((size_t)K), *p[2];
            size_t sz[2];
            uint32_t *row = malloc((size_t)K * 4);
            for (int j = 0; j < K; j++) {
                cls[j] = (uint8_t)((uint32_t)gsz_rng_next(&r) % 8);
                for (int m = 0; m < M; m++) {
                    uint32_t u = (uint32_t)gsz_rng_next(&r) % 100;
                    cb[(size_t)j * M + m] = u < 75 ? 0.0f : (float)(gsz_rng_normal(&r) * (u >= 97 ? 300.0 : 0.5));
                }
            }
            assert_int_equal(gsz_codebook_pack_sh(cb, K, M, 0.01f, cls, &p[0], &sz[0]), GSZ_OK);
            assert_non_null(p[1] = gsz_codebook_sh_split(p[0], &sz[1]));
            for (int e = 0; e < 2; e++) {
                float *a = NULL, *b = NULL;
                int k = 0, bits = 0;
                gsz_codebook_simd(0);
                assert_int_equal(gsz_codebook_unpack(p[e], sz[e], M, 2, &a, &k, &bits), GSZ_OK);
                gsz_codebook_simd(1);
                assert_int_equal(gsz_codebook_unpack(p[e], sz[e], M, 2, &b, &k, &bits), GSZ_OK);
                assert_memory_equal(a, b, (size_t)K * M * 4);
                for (int si = 0; si < 3; si++)
                    for (int order = 0; order < 2; order++) { /* rows from 3 on in order, or reversed */
                        size_t st = strides[si] ? (size_t)strides[si] : (size_t)M, n = ((size_t)K + 3) * st;
                        float *x = malloc(n * 4), *y = malloc(n * 4);
                        for (int j = 0; j < K; j++) row[j] = order ? (uint32_t)(K + 2 - j) : (uint32_t)(j + 3);
                        for (size_t t = 0; t < n; t++) x[t] = y[t] = 5.0f;
                        gsz_codebook_simd(0);
                        assert_int_equal(gsz_codebook_unpack_sh_rows(p[e], sz[e], M, 2, x, st, row, (uint32_t)K), GSZ_OK);
                        gsz_codebook_simd(1);
                        assert_int_equal(gsz_codebook_unpack_sh_rows(p[e], sz[e], M, 2, y, st, row, (uint32_t)K), GSZ_OK);
                        assert_memory_equal(x, y, n * 4);
                        /* in steps, the blocks last first (as a caller's loop may take them) */
                        gsz_sh_rows *u;
                        for (size_t t = 0; t < n; t++) y[t] = 5.0f;
                        assert_int_equal(gsz_sh_rows_begin(p[e], sz[e], M, 2, y, st, row, (uint32_t)K, &u), GSZ_OK);
                        for (size_t b = gsz_sh_rows_blocks(u); b-- > 0;) gsz_sh_rows_block(u, b);
                        gsz_sh_rows_end(u);
                        assert_memory_equal(x, y, n * 4);
                        for (int j = 0; j < K; j++) assert_memory_equal(x + row[j] * st, a + (size_t)j * M, (size_t)M * 4);
                        free(x); free(y);
                    }
                free(a); free(b);
            }
            free(p[0]); free(p[1]); free(cb); free(cls); free(row);
        }
}

/* A worker pool: every index of every loop run once, worker numbers below the loop's thread count,
 * loops of fewer threads than the pool and loops inside a loop (which start their own threads). */
typedef struct {
    int *hits;
    int threads, bad, nested;
} pool_probe;
static void pool_inner(void *p, size_t b, size_t e, int w) {
    pool_probe *q = p;
    if (w >= 2) __atomic_store_n(&q->bad, 1, __ATOMIC_RELAXED);
    for (size_t i = b; i < e; i++) __atomic_add_fetch(&q->hits[i], 1, __ATOMIC_RELAXED);
}
static void pool_outer(void *p, size_t b, size_t e, int w) {
    pool_probe *q = p;
    if (w >= q->threads) __atomic_store_n(&q->bad, 1, __ATOMIC_RELAXED);
    for (size_t i = b; i < e; i++) __atomic_add_fetch(&q->hits[i], 1, __ATOMIC_RELAXED);
    if (q->nested && b == 0) {
        pool_probe in = {q->hits + 5000, 2, 0, 0};
        gsz_parallel_for(1000, 7, 2, pool_inner, &in);
        if (in.bad) __atomic_store_n(&q->bad, 1, __ATOMIC_RELAXED);
    }
}
static void test_pool(void **state) {
    (void)state;
    assert_null(gsz_pool_begin(1));
    gsz_pool *P = gsz_pool_begin(3);
    assert_non_null(P);
    assert_null(gsz_pool_begin(2)); /* one pool per thread */
    int *hits = calloc(6000, sizeof *hits);
    for (int round = 0; round < 2; round++) { /* in the pool, then after it */
        for (int k = 0; k < 300; k++) {
            size_t n = 1 + (size_t)(k * 37 % 4999);
            pool_probe q = {hits, 1 + k % 4, 0, k % 5 == 0};
            memset(hits, 0, 6000 * sizeof *hits);
            gsz_parallel_for(n, 1 + (size_t)(k % 13), q.threads, pool_outer, &q);
            assert_false(q.bad);
            for (size_t i = 0; i < 5000; i++) assert_int_equal(hits[i], i < n);
            for (size_t i = 5000; i < 6000; i++) assert_int_equal(hits[i], q.nested);
        }
        if (!round) gsz_pool_end(P, 0);
    }
    P = gsz_pool_begin(2); /* a new one once the last has ended */
    assert_non_null(P);
    uint8_t *sc = gsz_pool_scratch(P, 1000);
    assert_non_null(sc);
    memset(sc, 1, 1000);
    assert_ptr_equal(gsz_pool_scratch(P, 500), sc); /* large enough: the same */
    gsz_pool_end(P, 1);
    P = gsz_pool_begin(2); /* the kept pool, its scratch with it */
    assert_non_null(P);
    assert_ptr_equal(gsz_pool_scratch(P, 1000), sc);
    sc = gsz_pool_scratch(P, (size_t)5 << 20); /* larger: replaced */
    assert_non_null(sc);
    memset(sc, 2, (size_t)5 << 20);
    gsz_pool_end(P, 0);
    gsz_release_kept();
    free(hits);
}

/* Rotation codebooks at 8 bits (encoding 4): the three smallest components and which was largest;
 * the decoder gives what the encoder wrote back, unit quaternions with w >= 0 within half a step of the
 * input per component; damaged payloads are refused. */
static void test_quat_codebook(void **state) {
    (void)state;
    enum { K = 1000 };
    float *cb = malloc(K * 16), *orig = malloc(K * 16), *back;
    gsz_rng r = {5};
    for (int j = 0; j < K; j++) {
        float q[4];
        for (int i = 0; i < 4; i++) q[i] = (float)gsz_rng_normal(&r) * (j % 7 == 0 && i ? 0.01f : 1.0f); /* some near identity */
        gsz_quat_canonical(q, orig + 4 * j);
    }
    memcpy(cb, orig, K * 16);
    uint8_t *p;
    size_t sz, cut[GSZ_CODEBOOK_CUTS];
    assert_int_equal(gsz_codebook_pack(cb, K, 4, 8, &p, &sz), GSZ_OK);
    assert_int_equal(p[7], 4);
    assert_int_equal(sz, 8 + 4 * K);
    assert_int_equal(gsz_codebook_cuts(p, sz, cut, GSZ_CODEBOOK_CUTS), 4);
    int k = 0, bits = 0;
    assert_int_equal(gsz_codebook_unpack(p, sz, 4, 2, &back, &k, &bits), GSZ_OK);
    assert_int_equal(k, K);
    assert_int_equal(bits, 8);
    assert_memory_equal(back, cb, K * 16);
    for (int j = 0; j < K; j++) {
        const float *a = back + 4 * j, *o = orig + 4 * j;
        assert_true(a[0] >= 0);
        assert_float_equal(a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + a[3] * a[3], 1.0, 1e-5);
        float sg = a[0] * o[0] + a[1] * o[1] + a[2] * o[2] + a[3] * o[3] < 0 ? -1.0f : 1.0f; /* w = 0 is either sign */
        /* half a step 2^0.5/255 on the stored components; the largest (>= 1/2) from the unit norm: 3 of those * 2^-0.5 / (1/2) */
        for (int i = 0; i < 4; i++) assert_true(fabsf(a[i] - sg * o[i]) <= 0.012f);
    }
    free(back);
    float *none;
    assert_int_equal(gsz_codebook_unpack(p, sz - 1, 4, 2, &none, &k, &bits), GSZ_ERROR_corrupt); /* size */
    p[8 + 17] = 4; /* no fifth component */
    assert_int_equal(gsz_codebook_unpack(p, sz, 4, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    p[8 + 17] = 0;
    p[6] = 16; /* marked 16-bit */
    assert_int_equal(gsz_codebook_unpack(p, sz, 4, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    free(p);
    /* only the rotation codebook may be: a 3-dimensional payload marked encoding 4 */
    memcpy(cb, orig, K * 16);
    assert_int_equal(gsz_codebook_pack(cb, K / 4, 3, 8, &p, &sz), GSZ_OK);
    assert_int_equal(p[7], 0);
    p[7] = 4;
    assert_int_equal(gsz_codebook_unpack(p, sz, 3, 2, &none, &k, &bits), GSZ_ERROR_corrupt);
    free(p);
    free(cb);
    free(orig);
}

/* Decoding into a kept scene: the same values as a fresh decode, arrays reused when the sizes match,
 * replaced when not, freed on error; scenes large enough for the kept workers and their stream buffer,
 * which grows for a larger file (high after balanced) and survives an error and gsz_release_kept. */
static void assert_same_scene(const gsz_scene *x, const gsz_scene *ref) {
    assert_int_equal(x->count, ref->count);
    assert_int_equal(x->sh_degree, ref->sh_degree);
    assert_memory_equal(x->pos, ref->pos, ref->count * 12);
    assert_memory_equal(x->scale, ref->scale, ref->count * 12);
    assert_memory_equal(x->rot, ref->rot, ref->count * 16);
    assert_memory_equal(x->opacity, ref->opacity, ref->count * 4);
    assert_memory_equal(x->sh_dc, ref->sh_dc, ref->count * 12);
    assert_memory_equal(x->sh_rest, ref->sh_rest, ref->count * (size_t)gsz_shRestCount(ref->sh_degree) * 12);
}
static void test_decompress_into(void **state) {
    (void)state;
    gsz_scene a, b, ref, refc, into;
    assert_int_equal(gsz_synth_scene(20000, 2, 3, &a), GSZ_OK);
    assert_int_equal(gsz_synth_scene(2000, 1, 4, &b), GSZ_OK);
    gsz_compress_options o = {0};
    o.views = 4;
    o.refine = -1;
    o.prune = -1; /* every Gaussian kept: fa and fc of one count */
    uint8_t *fa, *fb, *fc;
    size_t na, nb, nc;
    compress_scene(&a, &o, &fa, &na);
    compress_scene(&b, &o, &fb, &nb);
    o.preset = GSZ_PRESET_HIGH;
    compress_scene(&a, &o, &fc, &nc);
    assert_int_equal(gsz_decompress(fa, na, &ref, 2), GSZ_OK);
    assert_int_equal(gsz_decompress(fc, nc, &refc, 2), GSZ_OK);
    assert_true(nc > na);
    gsz_morton_pext(0); /* positions by the compaction where the CPU has a fast pext: the same */
    assert_int_equal(gsz_decompress(fc, nc, &into, 2), GSZ_OK);
    gsz_morton_pext(1);
    assert_same_scene(&into, &refc);
    gsz_scene_free(&into);
    memset(&into, 0, sizeof into);
    for (int round = 0; round < 5; round++) {
        const float *kept = into.pos;
        int high = round == 2 || round == 3;
        assert_int_equal(gsz_decompress_into(high ? fc : fa, high ? nc : na, &into, 2), GSZ_OK);
        if (round > 0 && into.count == ref.count && refc.count == ref.count) assert_ptr_equal(into.pos, kept); /* reused */
        assert_same_scene(&into, high ? &refc : &ref);
        if (round == 3) gsz_release_kept(); /* a later decode starts afresh */
    }
    assert_int_equal(gsz_decompress_into(fb, nb, &into, 2), GSZ_OK); /* another size: replaced */
    assert_true(into.count < ref.count && into.sh_degree == 1);
    fb[nb / 2] ^= 0x55; /* damaged: an error, and the scene freed */
    assert_int_not_equal(gsz_decompress_into(fb, nb, &into, 2), GSZ_OK);
    assert_null(into.pos);
    fc[nc / 2] ^= 0x55;
    assert_int_not_equal(gsz_decompress_into(fc, nc, &into, 2), GSZ_OK);
    assert_null(into.pos);
    assert_int_equal(gsz_decompress_into(fa, na, &into, 2), GSZ_OK);
    assert_same_scene(&into, &ref);
    gsz_scene_free(&into);
    gsz_scene_free(&ref);
    gsz_scene_free(&refc);
    gsz_scene_free(&a);
    gsz_scene_free(&b);
    free(fa);
    free(fb);
    free(fc);
}

/* The float scene's SH rest is the indexed form's: each Gaussian's entry of its degree, zeros after. */
static void assert_sh_matches_indexed(const gsz_scene *d, const gsz_indexed *x) {
    size_t nr3 = (size_t)gsz_shRestCount(d->sh_degree) * 3;
    assert_int_equal(x->count, d->count);
    for (size_t i = 0; i < d->count; i++) {
        size_t dim = x->degree[i] ? (size_t)gsz_shRestCount(x->degree[i]) * 3 : 0;
        if (dim) assert_memory_equal(d->sh_rest + nr3 * i, x->codebook[2 + x->degree[i]] + dim * x->index[3][i], dim * 4);
        for (size_t t = dim; t < nr3; t++) assert_true(d->sh_rest[nr3 * i + t] == 0.0f);
    }
}

/* Transform-coded SH (high) decodes into the scene's rows: the same values as through its codebook,
 * also where a (hand-made) file's entries are not in the Gaussians' order. */
static void test_sh_rows_decode(void **state) {
    (void)state;
    gsz_scene s, d;
    assert_int_equal(gsz_synth_scene(6000, 3, 21, &s), GSZ_OK);
    gsz_compress_options o = {0};
    o.preset = GSZ_PRESET_HIGH;
    o.views = 4;
    o.refine = -1;
    uint8_t *f;
    size_t n;
    compress_scene(&s, &o, &f, &n);
    gsz_indexed x;
    assert_int_equal(gsz_decode_indexed(f, n, 2, &x), GSZ_OK);
    int degrees = 0, transform = 0;
    size_t per[4] = {0};
    for (size_t i = 0; i < x.count; i++) per[x.degree[i]]++;
    for (int k = 1; k < 4; k++) degrees += per[k] > 0;
    gsz_container c;
    assert_int_equal(gsz_container_read(f, n, &c), GSZ_OK);
    for (size_t i = 0; i < c.n; i++) transform += gsz_codebook_slot(c.s[i].type) >= 3 && x.codebook_bits[gsz_codebook_slot(c.s[i].type)] == 0;
    assert_true(degrees >= 2 && transform >= 2); /* mixed degrees, each its own transform-coded entries */
    for (int t = 1; t <= 2; t++) {
        assert_int_equal(gsz_decompress(f, n, &d, t), GSZ_OK);
        assert_sh_matches_indexed(&d, &x);
        gsz_scene_free(&d);
    }
    gsz_indexed_free(&x);
    /* degree 3's indices reversed: no longer one entry per Gaussian in order */
    const gsz_section *si = gsz_container_find(&c, GSZ_SEC_SH3_IDX);
    assert_non_null(si);
    size_t m = (size_t)si->elements;
    int w = si->width;
    uint8_t *v = malloc(m * (size_t)w), *r = malloc(m * (size_t)w), *enc, *out;
    assert_int_equal(gsz_entropy_decode(si->payload, (size_t)si->stored_size, si->transform, m, w, v), GSZ_OK);
    for (size_t i = 0; i < m; i++) memcpy(r + i * (size_t)w, v + (m - 1 - i) * (size_t)w, (size_t)w);
    size_t esz, osz;
    int tx;
    assert_int_equal(gsz_entropy_encode(r, m, w, 3, 1, NULL, 0, &enc, &esz, &tx), GSZ_OK);
    gsz_container mc = c;
    for (size_t i = 0; i < mc.n; i++)
        if (mc.s[i].type == GSZ_SEC_SH3_IDX) { mc.s[i].payload = enc; mc.s[i].stored_size = esz; mc.s[i].transform = (uint8_t)tx; }
    assert_int_equal(gsz_container_write(&mc, &out, &osz), GSZ_OK);
    assert_int_equal(gsz_decode_indexed(out, osz, 2, &x), GSZ_OK);
    assert_int_equal(gsz_decompress(out, osz, &d, 2), GSZ_OK);
    assert_sh_matches_indexed(&d, &x);
    gsz_scene_free(&d);
    gsz_indexed_free(&x);
    free(out); free(enc); free(r); free(v); free(f);
    gsz_scene_free(&s);
}

static void test_entropy_round_trip(void **state) {
    (void)state;
    enum { N = 3001 };
    static uint64_t data[N], back[N];
    gsz_rng r = {7};
    for (int pattern = 0; pattern < 3; pattern++)
        for (int w = 1; w <= 8; w *= 2) {
            uint64_t acc = 0, mask = w == 8 ? ~0ull : ((1ull << (8 * w)) - 1);
            for (int i = 0; i < N; i++) {
                uint64_t v = pattern == 0 ? gsz_rng_next(&r) : pattern == 1 ? (acc += gsz_rng_next(&r) % 1000) : 12345;
                v &= mask;
                memcpy((uint8_t *)data + (size_t)i * w, &v, (size_t)w); /* little-endian host */
            }
            uint8_t *enc;
            size_t esz;
            int tx;
            assert_int_equal(gsz_entropy_encode(data, N, w, 5, 1, NULL, 0, &enc, &esz, &tx), GSZ_OK);
            memset(back, 0, sizeof back);
            assert_int_equal(gsz_entropy_decode(enc, esz, tx, N, w, back), GSZ_OK);
            assert_memory_equal(data, back, (size_t)N * w);
            assert_int_equal(gsz_entropy_decode(enc, esz, tx, N + 1, w, back), GSZ_ERROR_corrupt);
            free(enc);
        }
    /* a stream large enough for zstd's workers: the same bytes for 1 and 3 of them */
    size_t big = GSZ_ZSTD_MT_MIN + 12345;
    uint8_t *src = malloc(big);
    for (size_t i = 0; i < big; i++) src[i] = (uint8_t)(gsz_rng_next(&r) % 7 == 0 ? gsz_rng_next(&r) : 0);
    uint8_t *e1, *e3;
    size_t n1, n3;
    int t1, t3;
    assert_int_equal(gsz_entropy_encode(src, big, 1, 3, 1, NULL, 0, &e1, &n1, &t1), GSZ_OK);
    assert_int_equal(gsz_entropy_encode(src, big, 1, 3, 3, NULL, 0, &e3, &n3, &t3), GSZ_OK);
    assert_int_equal(n1, n3);
    assert_int_equal(t1, t3);
    assert_memory_equal(e1, e3, n1);
    uint8_t *back_big = malloc(big);
    assert_int_equal(gsz_entropy_decode(e1, n1, t1, big, 1, back_big), GSZ_OK);
    assert_memory_equal(src, back_big, big);
    free(src); free(e1); free(e3); free(back_big);
}

/* Two shards of about equal time (argument 1 or 2; none: both), which ctest runs as codec_1 and
 * codec_2 side by side: one process was the longest test by far, and CI's two cores sat half idle. */
int main(int argc, char **argv) {
    const struct CMUnitTest shard1[] = {
        cmocka_unit_test(test_round_trip_bounds), cmocka_unit_test(test_position_bits_far_points), cmocka_unit_test(test_unbounded_scene), cmocka_unit_test(test_sh_reduce_skewed_significance),
        cmocka_unit_test(test_presets_fidelity_and_determinism), cmocka_unit_test(test_max_preset_scalar), cmocka_unit_test(test_exact_entries),
        cmocka_unit_test(test_lying_sections), cmocka_unit_test(test_geometry_canonical_same_image),
        cmocka_unit_test(test_kmeans_exact_and_deterministic), cmocka_unit_test(test_kmeans_refuses_non_finite), cmocka_unit_test(test_entropy_round_trip),
        cmocka_unit_test(test_radix_orders), cmocka_unit_test(test_render_gradient),
        cmocka_unit_test(test_kmeans_rate), cmocka_unit_test(test_kmeans_reassign), cmocka_unit_test(test_sh_transform_codebook), cmocka_unit_test(test_sh_split_runs), cmocka_unit_test(test_sh_simd), cmocka_unit_test(test_pool), cmocka_unit_test(test_quat_codebook),
        cmocka_unit_test(test_sh_rows_decode), cmocka_unit_test(test_palette_exact), cmocka_unit_test(test_codebook_table), cmocka_unit_test(test_codebook_rgb_diff), cmocka_unit_test(test_codebook_keep), cmocka_unit_test(test_lattice),
    };
    const struct CMUnitTest shard2[] = {
        cmocka_unit_test(test_parallel_entropy_determinism), cmocka_unit_test(test_real_scene), cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_refine), cmocka_unit_test(test_target_prune), cmocka_unit_test(test_target_prune_small_object), cmocka_unit_test(test_free_prune),
        cmocka_unit_test(test_max_bytes), cmocka_unit_test(test_decompress_into), cmocka_unit_test(test_inside_views),
    };
    int shard = argc > 1 ? atoi(argv[1]) : 0, failed = 0;
    if (shard != 2) failed |= cmocka_run_group_tests_name("codec, shard 1", shard1, NULL, NULL);
    if (shard != 1) failed |= cmocka_run_group_tests_name("codec, shard 2", shard2, NULL, NULL);
    return failed;
}
