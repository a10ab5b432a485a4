/* PLY reader/writer: round trips, layouts, types, and every malformed-input error. */
#include "helpers.h"
#include "../codec/codec.h"

#include <zlib.h>
#include <zstd.h>

static void round_trip_degree(int deg) {
    gsz_scene s, r;
    assert_int_equal(gsz_synth_scene(777, deg, 5 + (uint64_t)deg, &s), GSZ_OK);
    const char *p = tmp_path("rt.ply");
    assert_int_equal(gsz_ply_write(p, &s), GSZ_OK);
    gsz_ply_stats st;
    assert_int_equal(gsz_ply_read(p, &r, &st), GSZ_OK);
    assert_int_equal(st.dropped_nonfinite, 0);
    assert_scenes_equal(&s, &r);
    gsz_scene_free(&s);
    gsz_scene_free(&r);
}

static void test_round_trip_all_degrees(void **state) {
    (void)state;
    for (int d = 0; d <= 3; d++) round_trip_degree(d);
}

/* Writes a PLY of 2 Gaussians at SH degree 1 in a given format, shuffled property order and types. */
static const char *props_shuffled[] = {"rot_3", "f_rest_8", "opacity", "x", "f_dc_2", "scale_1", "f_rest_0", "f_rest_1",
                                       "f_rest_2", "f_rest_3", "f_rest_4", "f_rest_5", "f_rest_6", "f_rest_7", "y", "z",
                                       "nx", "f_dc_0", "f_dc_1", "scale_0", "scale_2", "rot_0", "rot_1", "rot_2"};
#define NPROP (sizeof props_shuffled / sizeof props_shuffled[0])

static double value_of(const char *name, int row) {
    /* deterministic distinct values per property */
    unsigned h = 0;
    for (const char *c = name; *c; c++) h = h * 31u + (unsigned char)*c;
    return (double)(h % 1000) / 250.0 - 2.0 + row * 0.5;
}

static void write_ascii(const char *path) {
    FILE *f = fopen(path, "w");
    fprintf(f, "ply\r\nformat ascii 1.0\r\ncomment made by a test\r\nelement camera 1\r\nproperty float k\r\nelement vertex 2\r\n");
    for (size_t i = 0; i < NPROP; i++) fprintf(f, "property %s %s\r\n", i % 3 == 0 ? "double" : "float", props_shuffled[i]);
    fprintf(f, "element face 1\r\nproperty list uchar int vertex_indices\r\nend_header\r\n3.5\r\n");
    for (int r = 0; r < 2; r++) {
        for (size_t i = 0; i < NPROP; i++) fprintf(f, "%.17g ", value_of(props_shuffled[i], r));
        fprintf(f, "\r\n");
    }
    fprintf(f, "3 0 1 2\r\n");
    fclose(f);
}

static void write_binary(const char *path, int big_endian) {
    FILE *f = fopen(path, "wb");
    fprintf(f, "ply\nformat %s 1.0\nelement vertex 2\n", big_endian ? "binary_big_endian" : "binary_little_endian");
    for (size_t i = 0; i < NPROP; i++) fprintf(f, "property %s %s\n", i % 3 == 0 ? "double" : "float", props_shuffled[i]);
    fprintf(f, "element face 1\nproperty list uchar int vertex_indices\nend_header\n");
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < NPROP; i++) {
            unsigned char b[8];
            int n;
            if (i % 3 == 0) { double v = value_of(props_shuffled[i], r); memcpy(b, &v, 8); n = 8; }
            else { float v = (float)value_of(props_shuffled[i], r); memcpy(b, &v, 4); n = 4; }
            if (big_endian)
                for (int k = 0; k < n / 2; k++) { unsigned char t = b[k]; b[k] = b[n - 1 - k]; b[n - 1 - k] = t; }
            fwrite(b, 1, (size_t)n, f);
        }
    unsigned char face[13] = {3};
    fwrite(face, 1, 13, f);
    fclose(f);
}

static void check_shuffled(const gsz_scene *s) {
    assert_int_equal(s->count, 2);
    assert_int_equal(s->sh_degree, 1);
    for (int r = 0; r < 2; r++) {
        assert_float_equal(s->pos[3 * r + 1], (float)value_of("y", r), 0);
        assert_float_equal(s->opacity[r], (float)value_of("opacity", r), 0);
        assert_float_equal(s->rot[4 * r + 3], (float)value_of("rot_3", r), 0);
        assert_float_equal(s->scale[3 * r + 1], (float)value_of("scale_1", r), 0);
        /* f_rest_k: channel-major in the file (k = c*3 + coef), coefficient-major in memory */
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 3; k++) {
                char nm[16];
                snprintf(nm, sizeof nm, "f_rest_%d", c * 3 + k);
                assert_float_equal(s->sh_rest[(r * 3 + k) * 3 + c], (float)value_of(nm, r), 0);
            }
    }
}

static void test_formats_and_order(void **state) {
    (void)state;
    gsz_scene s;
    const char *p = tmp_path("ascii.ply");
    write_ascii(p);
    assert_int_equal(gsz_ply_read(p, &s, NULL), GSZ_OK);
    check_shuffled(&s);
    gsz_scene_free(&s);
    for (int be = 0; be < 2; be++) {
        p = tmp_path(be ? "be.ply" : "le.ply");
        write_binary(p, be);
        assert_int_equal(gsz_ply_read(p, &s, NULL), GSZ_OK);
        check_shuffled(&s);
        gsz_scene_free(&s);
    }
}

/* Returns the error of reading text (header + optional body bytes) and checks the detail names the file. */
static gsz_error read_text(const char *name, const char *text, size_t body_bytes) {
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    for (size_t i = 0; i < body_bytes; i++) fputc(0, f);
    fclose(f);
    gsz_scene s;
    gsz_error e = gsz_ply_read(p, &s, NULL);
    if (e) assert_non_null(strstr(gsz_getErrorDetail(), name));
    else gsz_scene_free(&s);
    return e;
}

#define HDR_PROPS                                                                                                   \
    "property float x\nproperty float y\nproperty float z\nproperty float f_dc_0\nproperty float f_dc_1\n"          \
    "property float f_dc_2\nproperty float opacity\nproperty float scale_0\nproperty float scale_1\n"               \
    "property float scale_2\nproperty float rot_0\nproperty float rot_1\nproperty float rot_2\nproperty float rot_3\n"

static void test_malformed(void **state) {
    (void)state;
    /* well-formed baseline: 2 vertices of 14 floats */
    assert_int_equal(read_text("ok.ply", "ply\nformat binary_little_endian 1.0\nelement vertex 2\n" HDR_PROPS "end_header\n", 112), GSZ_OK);
    /* truncated body */
    assert_int_equal(read_text("trunc.ply", "ply\nformat binary_little_endian 1.0\nelement vertex 2\n" HDR_PROPS "end_header\n", 100), GSZ_ERROR_format);
    assert_non_null(strstr(gsz_getErrorDetail(), "truncated"));
    /* lying huge count: refused before allocating */
    assert_int_equal(read_text("huge.ply", "ply\nformat binary_little_endian 1.0\nelement vertex 999999999999\n" HDR_PROPS "end_header\n", 112), GSZ_ERROR_format);
    /* not a PLY, no end_header, unknown format, unknown type, bad count */
    assert_int_equal(read_text("magic.ply", "plx\nformat ascii 1.0\n", 0), GSZ_ERROR_format);
    assert_int_equal(read_text("noend.ply", "ply\nformat binary_little_endian 1.0\nelement vertex 2\n" HDR_PROPS, 0), GSZ_ERROR_format);
    assert_int_equal(read_text("fmt.ply", "ply\nformat binary_middle_endian 1.0\nelement vertex 0\n" HDR_PROPS "end_header\n", 0), GSZ_ERROR_format);
    assert_int_equal(read_text("type.ply", "ply\nformat ascii 1.0\nelement vertex 0\nproperty float128 x\nend_header\n", 0), GSZ_ERROR_format);
    assert_int_equal(read_text("count.ply", "ply\nformat ascii 1.0\nelement vertex -3\n" HDR_PROPS "end_header\n", 0), GSZ_ERROR_format);
    /* wrong f_rest count names the count */
    assert_int_equal(read_text("rest.ply", "ply\nformat binary_little_endian 1.0\nelement vertex 0\n" HDR_PROPS
                                           "property float f_rest_0\nproperty float f_rest_1\nend_header\n", 0), GSZ_ERROR_format);
    assert_non_null(strstr(gsz_getErrorDetail(), "2 f_rest"));
    /* a missing required property is named */
    assert_int_equal(read_text("miss.ply", "ply\nformat binary_little_endian 1.0\nelement vertex 0\nproperty float x\nend_header\n", 0), GSZ_ERROR_format);
    assert_non_null(strstr(gsz_getErrorDetail(), "'y'"));
    /* ASCII with too few values */
    assert_int_equal(read_text("short.ply", "ply\nformat ascii 1.0\nelement vertex 1\n" HDR_PROPS "end_header\n1 2 3 4 5 6 7 8 9 10 11 12 13\n", 0), GSZ_ERROR_format);
    /* missing file */
    gsz_scene s;
    assert_int_equal(gsz_ply_read(tmp_path("does-not-exist.ply"), &s, NULL), GSZ_ERROR_io);
    assert_non_null(strstr(gsz_getErrorDetail(), "does-not-exist.ply"));
}

static void test_nan_rows_dropped(void **state) {
    (void)state;
    gsz_scene s, r;
    assert_int_equal(gsz_synth_scene(50, 2, 9, &s), GSZ_OK);
    s.pos[3 * 7] = NAN;
    s.sh_rest[20 * 24 + 5] = INFINITY;
    s.opacity[33] = NAN;
    s.opacity[40] = INFINITY; /* opacity exactly 1: kept, clamped */
    const char *p = tmp_path("nan.ply");
    assert_int_equal(gsz_ply_write(p, &s), GSZ_OK);
    gsz_ply_stats st;
    assert_int_equal(gsz_ply_read(p, &r, &st), GSZ_OK);
    assert_int_equal(st.rows_in_file, 50);
    assert_int_equal(st.dropped_nonfinite, 3);
    assert_int_equal(st.clamped_opacity, 1);
    assert_int_equal(r.count, 47);
    assert_float_equal(r.opacity[37], 20.0f, 0); /* row 40, three rows up */
    assert_float_equal(r.pos[3 * 7], s.pos[3 * 8], 0); /* row 8 moved up */
    gsz_scene_free(&s);
    gsz_scene_free(&r);
}

/* Finite values past any that renders differently are clamped (the encoder failed on them), and every
 * preset compresses the scene. */
static void test_absurd_values_clamped(void **state) {
    (void)state;
    gsz_scene s, r;
    assert_int_equal(gsz_synth_scene(3000, 2, 4, &s), GSZ_OK);
    for (size_t i = 0; i < s.count; i += 50) {
        s.sh_dc[3 * i] = 3e38f;
        s.sh_rest[24 * i + 5] = -3e38f;
        s.scale[3 * i + 1] = (i / 50) % 2 ? 1e30f : -1e30f;
        s.pos[3 * i + 2] = -3e38f;
    }
    const char *p = tmp_path("absurd.ply");
    assert_int_equal(gsz_ply_write(p, &s), GSZ_OK);
    gsz_ply_stats st;
    assert_int_equal(gsz_ply_read(p, &r, &st), GSZ_OK);
    assert_int_equal(st.clamped_range, 60);
    assert_int_equal(r.count, s.count);
    assert_float_equal(r.sh_dc[0], 1e8f, 0);
    assert_float_equal(r.sh_rest[5], -1e8f, 0);
    assert_float_equal(r.scale[1], -GSZ_LIMIT_LOG_SCALE, 0);
    assert_float_equal(r.scale[3 * 50 + 1], GSZ_LIMIT_LOG_SCALE, 0);
    assert_float_equal(r.pos[2], -1e30f, 0);
    assert_float_equal(r.sh_dc[3], s.sh_dc[3], 0); /* the others as they were */
    assert_null(gsz_gaussian_invalid(&r, 0));
    /* through the library: refused, with the Gaussian and its attribute named */
    gsz_compress_options o0 = {0};
    void *b0 = NULL;
    size_t n0 = 0;
    assert_int_equal(gsz_compress(&s, &o0, &b0, &n0, NULL), GSZ_ERROR_argument);
    assert_non_null(strstr(gsz_getErrorDetail(), "Gaussian 0: its position"));
    assert_null(b0);
    s.pos[3 * 50 + 2] = NAN;
    assert_string_equal(gsz_gaussian_invalid(&s, 50), "position");
    assert_int_equal(gsz_gaussian_clamp(&s, 50), 1);
    assert_string_equal(gsz_gaussian_invalid(&s, 50), "position"); /* NaN is no range */
    for (int preset = 0; preset <= GSZ_PRESET_MAX; preset++) {
        gsz_compress_options o = {0};
        o.preset = (gsz_preset)preset;
        o.views = 4;
        void *buf;
        size_t size;
        assert_int_equal(gsz_compress(&r, &o, &buf, &size, NULL), GSZ_OK);
        gsz_scene d;
        assert_int_equal(gsz_decompress(buf, size, &d, 1), GSZ_OK);
        free(buf);
        gsz_scene_free(&d);
    }
    gsz_scene_free(&s);
    gsz_scene_free(&r);
}

/* Mip-Splatting's filter_3D is baked into the scales and opacities (its fused export's formula); 2DGS's
 * surfels are read as flat 3D Gaussians. */
static void test_other_trainers(void **state) {
    (void)state;
    const char *p = tmp_path("mip.ply");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("ply\nformat binary_little_endian 1.0\nelement vertex 2\n" HDR_PROPS "property float filter_3D\nend_header\n", f);
    const float rows[2][15] = {{0, 0, 0, 0.1f, 0.2f, 0.3f, 1.5f, -3, -4, -5, 1, 0, 0, 0, 0.02f},
                               {1, 2, 3, 0, 0, 0, -1, -2, -2, -2, 1, 0, 0, 0, 0}};
    assert_int_equal(fwrite(rows, sizeof rows, 1, f), 1);
    fclose(f);
    gsz_scene s;
    gsz_ply_stats st;
    assert_int_equal(gsz_ply_read(p, &s, &st), GSZ_OK);
    assert_int_equal(st.baked_filter_3d, 1);
    double ratio = 1;
    for (int k = 0; k < 3; k++) {
        double v = exp(2.0 * rows[0][7 + k]), t = v + 0.02 * 0.02;
        ratio *= v / t;
        assert_float_equal(s.scale[k], 0.5 * log(t), 1e-5);
    }
    double o = 1 / (1 + exp(-1.5)) * sqrt(ratio);
    assert_float_equal(s.opacity[0], log(o / (1 - o)), 1e-4);
    for (int k = 0; k < 3; k++) assert_float_equal(s.scale[3 + k], -2.0f, 1e-6); /* a filter of 0 changes nothing */
    assert_float_equal(s.opacity[1], -1.0f, 1e-5);
    gsz_scene_free(&s);
    /* 2DGS surfels: two scales, read as flat along the rotation's third axis */
    p = tmp_path("surfels.ply");
    f = fopen(p, "wb");
    assert_non_null(f);
    fputs("ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\n"
          "property float f_dc_0\nproperty float f_dc_1\nproperty float f_dc_2\nproperty float opacity\nproperty float scale_0\n"
          "property float scale_1\nproperty float rot_0\nproperty float rot_1\nproperty float rot_2\nproperty float rot_3\nend_header\n", f);
    const float surfel[13] = {0, 0, 0, 0.5f, 0.5f, 0.5f, 2, -3, -4, 1, 0, 0, 0};
    assert_int_equal(fwrite(surfel, sizeof surfel, 1, f), 1);
    fclose(f);
    assert_int_equal(gsz_ply_read(p, &s, &st), GSZ_OK);
    assert_int_equal(st.surfels, 1);
    assert_float_equal(s.scale[0], -3.0f, 0);
    assert_float_equal(s.scale[1], -4.0f, 0);
    assert_float_equal(s.scale[2], -20.0f, 0);
    gsz_scene_free(&s);
}

static void test_write_is_atomic(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(10, 0, 1, &s), GSZ_OK);
    /* a directory that does not exist: error, nothing written */
    assert_int_equal(gsz_ply_write("/nonexistent-dir/x.ply", &s), GSZ_ERROR_io);
    assert_false(file_exists("/nonexistent-dir/x.ply"));
    gsz_scene_free(&s);
}

static void test_filter_and_degree(void **state) {
    (void)state;
    gsz_scene s, r;
    assert_int_equal(gsz_synth_scene(40, 3, 2, &s), GSZ_OK);
    assert_int_equal(gsz_synth_scene(40, 3, 2, &r), GSZ_OK);
    uint8_t keep[40];
    for (int i = 0; i < 40; i++) keep[i] = i % 3 == 1;
    gsz_scene_filter(&s, keep);
    assert_int_equal(s.count, 13);
    assert_memory_equal(s.pos + 3 * 4, r.pos + 3 * 13, 12);           /* the 5th kept is row 13 */
    assert_memory_equal(s.sh_rest + 45 * 4, r.sh_rest + 45 * 13, 45 * 4);
    assert_int_equal(gsz_scene_set_sh_degree(&s, 1), GSZ_OK);
    assert_int_equal(s.sh_degree, 1);
    assert_memory_equal(s.sh_rest + 9 * 4, r.sh_rest + 45 * 13, 9 * 4); /* band 1 is a prefix */
    assert_int_equal(gsz_scene_set_sh_degree(&s, 0), GSZ_OK);
    assert_null(s.sh_rest);
    assert_int_equal(gsz_scene_set_sh_degree(&s, 4), GSZ_ERROR_argument);
    gsz_scene_free(&s);
    gsz_scene_free(&r);
}

/* compressed.ply (PlayCanvas's chunk-quantised PLY, with its 'sh' element) reads as splat-transform
 * decodes it: a scene on that lattice comes back bit for bit; a chunk count that does not match the
 * Gaussians, or a missing word, is refused. */
static void write_compressed(const char *path, const gsz_scene *s, const float *ranges, const uint32_t *words, long chunks) {
    size_t n = s->count, nr = (size_t)gsz_shRestCount(s->sh_degree);
    static const char *rn[18] = {"min_x", "min_y", "min_z", "max_x", "max_y", "max_z", "min_scale_x", "min_scale_y", "min_scale_z",
                                 "max_scale_x", "max_scale_y", "max_scale_z", "min_r", "min_g", "min_b", "max_r", "max_g", "max_b"};
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "ply\nformat binary_little_endian 1.0\ncomment made by gsz's tests\nelement chunk %ld\n", chunks);
    for (int k = 0; k < 18; k++) fprintf(f, "property float %s\n", rn[k]);
    fprintf(f, "element vertex %zu\nproperty uint packed_position\nproperty uint packed_rotation\nproperty uint packed_scale\n"
               "property uint packed_color\nelement sh %zu\n", n, n);
    for (size_t k = 0; k < 3 * nr; k++) fprintf(f, "property uchar f_rest_%zu\n", k);
    fprintf(f, "end_header\n");
    fwrite(ranges, sizeof(float), 18 * ((n + 255) / 256), f);
    for (size_t i = 0; i < n; i++) {
        uint32_t w[4] = {words[i], words[3 * n + i], words[n + i], words[2 * n + i]}; /* position, rotation, scale, colour */
        fwrite(w, 4, 4, f);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < 3; c++)
            for (size_t k = 0; k < nr; k++) {
                double v = s->sh_rest[(i * nr + k) * 3 + c];
                long q = (long)floor((v / 8.0 + 0.5) * 256.0);
                uint8_t b = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
                fwrite(&b, 1, 1, f);
            }
    fclose(f);
}

static void test_compressed_ply(void **state) {
    (void)state;
    gsz_scene s, r;
    assert_int_equal(gsz_synth_scene(600, 2, 3, &s), GSZ_OK); /* three chunks, the last one short */
    gsz_lattice_quantise(&s);
    size_t n = s.count, nc = (n + 255) / 256;
    float *ranges = malloc(nc * 18 * sizeof(float));
    uint32_t *words = malloc(n * 4 * sizeof(uint32_t));
    assert_true(gsz_lattice_detect(&s, ranges, words));
    const char *p = tmp_path("c.compressed.ply");
    write_compressed(p, &s, ranges, words, (long)nc);
    gsz_ply_stats st;
    assert_int_equal(gsz_ply_read(p, &r, &st), GSZ_OK);
    assert_scenes_equal(&s, &r);
    gsz_scene_free(&r);
    write_compressed(p, &s, ranges, words, (long)nc + 1);
    assert_int_equal(gsz_ply_read(p, &r, NULL), GSZ_ERROR_format);
    assert_non_null(strstr(gsz_getErrorDetail(), "chunks"));
    free(ranges);
    free(words);
    gsz_scene_free(&s);
}

static void test_real_scene_reads(void **state) {
    (void)state;
    const char *p = shared_scene("playbot-trained.ply");
    if (!p) { skip(); return; }
    gsz_scene s;
    assert_int_equal(gsz_ply_read(p, &s, NULL), GSZ_OK);
    assert_int_equal(s.count, 109180);
    assert_int_equal(s.sh_degree, 3);
    gsz_scene_free(&s);
}

/* One .splat record, little-endian as the format is. */
static void splat_record(uint8_t *r, const float p[3], const float sc[3], const uint8_t rgba[4], const uint8_t q[4]) {
    for (int k = 0; k < 3; k++) {
        memcpy(r + 4 * k, &p[k], 4);
        memcpy(r + 12 + 4 * k, &sc[k], 4);
    }
    memcpy(r + 24, rgba, 4);
    memcpy(r + 28, q, 4);
}

static const gsz_scene *importance_scene;
static double importance(size_t i) {
    const gsz_scene *s = importance_scene;
    return exp((double)s->scale[3 * i] + s->scale[3 * i + 1] + s->scale[3 * i + 2]) / (1 + exp(-(double)s->opacity[i]));
}
static int cmp_importance(const void *a, const void *b) { /* descending, ties by index */
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    double x = importance(i), y = importance(j);
    return x > y ? -1 : x < y ? 1 : (i > j) - (i < j);
}

static void test_splat(void **state) {
    (void)state;
    /* write and read back: positions exact, log-scales to float rounding, colour, opacity and rotation
     * within half a level of the format's 8-bit steps; higher SH bands dropped; largest and most opaque
     * first, as the reference converter writes them */
    gsz_scene s, r;
    assert_int_equal(gsz_synth_scene(3000, 2, 11, &s), GSZ_OK);
    const char *p = tmp_path("rt.splat");
    assert_int_equal(gsz_splat_write(p, &s), GSZ_OK);
    gsz_ply_stats st;
    assert_int_equal(gsz_splat_read(p, &r, &st), GSZ_OK);
    assert_int_equal(r.count, s.count);
    assert_int_equal(r.sh_degree, 0);
    assert_int_equal(st.dropped_nonfinite, 0);
    size_t *order = malloc(s.count * sizeof *order);
    for (size_t i = 0; i < s.count; i++) order[i] = i;
    importance_scene = &s;
    qsort(order, s.count, sizeof *order, cmp_importance);
    for (size_t j = 0; j < s.count; j++) {
        size_t i = order[j];
        assert_true(r.pos[3 * j] == s.pos[3 * i]); /* the order, then every value */
    }
    gsz_scene t; /* s in that order, to compare row by row */
    assert_int_equal(gsz_scene_alloc(&t, s.count, 0), GSZ_OK);
    for (size_t j = 0; j < s.count; j++) {
        size_t i = order[j];
        memcpy(t.pos + 3 * j, s.pos + 3 * i, 12);
        memcpy(t.scale + 3 * j, s.scale + 3 * i, 12);
        memcpy(t.rot + 4 * j, s.rot + 4 * i, 16);
        memcpy(t.sh_dc + 3 * j, s.sh_dc + 3 * i, 12);
        t.opacity[j] = s.opacity[i];
    }
    free(order);
    gsz_scene_free(&s);
    s = t;
    for (size_t i = 0; i < s.count; i++) {
        for (int k = 0; k < 3; k++) {
            assert_true(r.pos[3 * i + k] == s.pos[3 * i + k]);
            assert_float_equal(r.scale[3 * i + k], s.scale[3 * i + k], 1e-5);
            float c = 0.5f + GSZ_SH_C0 * s.sh_dc[3 * i + k];
            if (c >= 0 && c <= 1) assert_float_equal(0.5f + GSZ_SH_C0 * r.sh_dc[3 * i + k], c, 0.5f / 255 + 1e-6f);
        }
        float o = 1 / (1 + expf(-s.opacity[i])), ro = 1 / (1 + expf(-r.opacity[i]));
        if (o > 0.5f / 255 && o < 254.5f / 255) assert_float_equal(ro, o, 0.5f / 255 + 1e-5f);
        double dot = 0, n = 0;
        for (int k = 0; k < 4; k++) { dot += (double)r.rot[4 * i + k] * s.rot[4 * i + k]; n += (double)s.rot[4 * i + k] * s.rot[4 * i + k]; }
        assert_true(fabs(dot) / sqrt(n) > 0.999); /* about 2.5 degrees at most */
    }
    gsz_scene_free(&r);
    /* the loader reads it by its name; a PLY named .splat stays a PLY */
    assert_true(gsz_file_is_splat(p));
    assert_int_equal(gsz_scene_load(p, &r, 1, NULL), GSZ_OK);
    assert_int_equal(r.count, s.count);
    gsz_scene_free(&r);
    const char *q = tmp_path("really-a-ply.splat");
    gsz_scene u;
    assert_int_equal(gsz_synth_scene(100, 2, 12, &u), GSZ_OK);
    assert_int_equal(gsz_ply_write(q, &u), GSZ_OK);
    assert_false(gsz_file_is_splat(q));
    assert_int_equal(gsz_scene_load(q, &r, 1, NULL), GSZ_OK);
    assert_int_equal(r.sh_degree, 2);
    gsz_scene_free(&r);
    gsz_scene_free(&u);
    assert_int_equal(gsz_splat_write("/nonexistent-dir/x.splat", &s), GSZ_ERROR_io);
    /* log-scales beyond a float's range still read back (as its smallest and largest values) */
    s.scale[0] = -200;
    s.scale[4] = 200;
    assert_int_equal(gsz_splat_write(p, &s), GSZ_OK);
    assert_int_equal(gsz_splat_read(p, &r, &st), GSZ_OK);
    assert_int_equal(st.dropped_nonfinite, 0);
    assert_int_equal(r.count, s.count);
    gsz_scene_free(&r);
    gsz_scene_free(&s);

    /* odd records: a NaN position and a zero scale are dropped, a zero quaternion is the identity,
     * opacity levels 0 and 255 are the PLY reader's clamped logits */
    uint8_t buf[4 * 32];
    const float p0[3] = {1, 2, 3}, pn[3] = {NAN, 0, 0}, s0[3] = {0.5f, 0.25f, 2}, sz[3] = {0.5f, 0, 1};
    const uint8_t c0[4] = {255, 0, 128, 255}, c1[4] = {10, 20, 30, 0}, q0[4] = {128, 128, 128, 128}, q1[4] = {255, 128, 0, 128};
    splat_record(buf, p0, s0, c0, q0);
    splat_record(buf + 32, pn, s0, c0, q1);
    splat_record(buf + 64, p0, sz, c0, q1);
    splat_record(buf + 96, p0, s0, c1, q1);
    assert_int_equal(gsz_splat_read_memory(buf, sizeof buf, "odd.splat", &r, &st), GSZ_OK);
    assert_int_equal(st.rows_in_file, 4);
    assert_int_equal(st.dropped_nonfinite, 2);
    assert_int_equal(r.count, 2);
    assert_float_equal(r.rot[0], 1, 0);
    assert_float_equal(r.rot[1], 0, 0);
    assert_float_equal(r.scale[1], logf(0.25f), 1e-6);
    assert_float_equal(r.opacity[0], 20, 0);
    assert_float_equal(r.opacity[1], -20, 0);
    assert_float_equal(0.5f + GSZ_SH_C0 * r.sh_dc[0], 1, 1e-6);
    assert_float_equal(r.rot[4], 127.0f / sqrtf(127.0f * 127 + 128 * 128), 1e-6); /* (127, 0, -128, 0) normalised */
    assert_float_equal(r.rot[6], -128.0f / sqrtf(127.0f * 127 + 128 * 128), 1e-6);
    gsz_scene_free(&r);

    /* sizes that are not whole records, and empty files: errors that name the file */
    assert_int_equal(gsz_splat_read_memory(buf, 33, "short.splat", &r, NULL), GSZ_ERROR_format);
    assert_non_null(strstr(gsz_getErrorDetail(), "short.splat"));
    assert_non_null(strstr(gsz_getErrorDetail(), "32-byte"));
    assert_int_equal(gsz_splat_read_memory(buf, 0, "empty.splat", &r, NULL), GSZ_ERROR_format);
    assert_non_null(strstr(gsz_getErrorDetail(), "empty"));
}

/* .spz: three Gaussians with SH degree 1 packed by hand, as version 2 and 3 (gzip) and 4 (zstd frames). */
static size_t spz_arrays(int version, uint8_t *b) {
    size_t o = 0;
    for (int i = 0; i < 3; i++) { /* x = 1 + i, y = -1, z = 0.5 at 8 fractional bits */
        int32_t v[3] = {256 * (1 + i), -256, 128};
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 3; j++) b[o++] = (uint8_t)((uint32_t)v[k] >> (8 * j));
    }
    for (int i = 0; i < 3; i++) b[o++] = (uint8_t)(64 + 64 * i);     /* alpha */
    for (int i = 0; i < 9; i++) b[o++] = (uint8_t)(100 + 10 * i);    /* colour */
    for (int i = 0; i < 9; i++) b[o++] = (uint8_t)(144 + 8 * i);     /* log-scale (s - 160) / 16 */
    for (int i = 0; i < 3; i++) {
        if (version == 2) { /* x = 0.6: 0.6 = b / 127.5 - 1 -> b = 204; y = z = 0 -> 127.5, the nearest 128 */
            b[o++] = 204; b[o++] = 128; b[o++] = 128;
        } else { /* x = 0.6 (bits 20-29), y = z = 0, w the largest (index 3) */
            uint32_t c = 3u << 30 | 434u << 20;
            for (int j = 0; j < 4; j++) b[o++] = (uint8_t)(c >> (8 * j));
        }
    }
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 9; k++) b[o++] = (uint8_t)(128 + 10 * (k / 3) + k % 3); /* coefficient k/3, channel k%3 */
    return o;
}

static void spz_header(uint8_t *h, uint32_t version, uint32_t n) {
    uint32_t w[3] = {0x5053474eu, version, n};
    for (int i = 0; i < 12; i++) h[i] = (uint8_t)(w[i / 4] >> (8 * (i % 4)));
    h[12] = 1; h[13] = 8; h[14] = 0; h[15] = 0;
}

static size_t gzip_bytes(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    return got;
}

static void check_spz_scene(const gsz_scene *r, int version) {
    assert_int_equal(r->count, 3);
    assert_int_equal(r->sh_degree, 1);
    for (size_t i = 0; i < 3; i++) {
        /* right, up, back -> right, down, front: y and z negated */
        assert_float_equal(r->pos[3 * i], 1.0f + (float)i, 0);
        assert_float_equal(r->pos[3 * i + 1], 1.0f, 0);
        assert_float_equal(r->pos[3 * i + 2], -0.5f, 0);
        double a = (64 + 64 * i) / 255.0;
        assert_float_equal(r->opacity[i], (float)log(a / (1 - a)), 1e-5);
        for (int k = 0; k < 3; k++) {
            assert_float_equal(r->sh_dc[3 * i + (size_t)k], ((100 + 10 * (3 * i + (size_t)k)) / 255.0f - 0.5f) / 0.15f, 1e-5);
            assert_float_equal(r->scale[3 * i + (size_t)k], (float)((144 + 8 * (3 * (int)i + k)) - 160) / 16.0f, 0);
        }
        const float *q = r->rot + 4 * i; /* w, x = 0.6 and 0.8 (0.600, 0.800 to the format's steps) */
        assert_float_equal(q[0], 0.8f, 3e-3);
        assert_float_equal(q[1], 0.6f, 3e-3);
        assert_float_equal(q[2], 0.0f, version == 2 ? 5e-3 : 0);
        assert_float_equal(q[3], 0.0f, version == 2 ? 5e-3 : 0);
        for (int k = 0; k < 9; k++) { /* degree 1: the first two basis functions are odd in y and z */
            float v = (float)(10 * (k / 3) + k % 3) / 128.0f;
            assert_float_equal(r->sh_rest[9 * i + (size_t)k], k / 3 < 2 ? -v : v, 0);
        }
    }
}

static void test_spz(void **state) {
    (void)state;
    uint8_t raw[512], file[1024];
    gsz_scene r;
    for (int version = 2; version <= 3; version++) {
        spz_header(raw, (uint32_t)version, 3);
        size_t n = 16 + spz_arrays(version, raw + 16);
        size_t fn = gzip_bytes(raw, n, file, sizeof file);
        assert_int_equal(gsz_spz_read_memory(file, fn, "t.spz", &r, NULL), GSZ_OK);
        check_spz_scene(&r, version);
        gsz_scene_free(&r);
        /* cut short, one byte more, a header claiming more Gaussians than the file can hold */
        assert_int_equal(gsz_spz_read_memory(file, fn - 9, "cut.spz", &r, NULL), GSZ_ERROR_format);
        assert_non_null(strstr(gsz_getErrorDetail(), "cut.spz"));
        file[fn] = 0;
        assert_int_equal(gsz_spz_read_memory(file, fn + 1, "long.spz", &r, NULL), GSZ_ERROR_format);
        spz_header(raw, (uint32_t)version, 1u << 30);
        fn = gzip_bytes(raw, n, file, sizeof file);
        assert_int_equal(gsz_spz_read_memory(file, fn, "huge.spz", &r, NULL), GSZ_ERROR_format);
        assert_non_null(strstr(gsz_getErrorDetail(), "1073741824 Gaussians"));
    }
    /* version 4: a 32-byte header, the table at 32, then one zstd frame per array */
    uint8_t arrays[512];
    size_t na = spz_arrays(4, arrays), sizes[6] = {27, 3, 9, 9, 12, 27}, at = 32 + 6 * 16, from = 0;
    assert_int_equal(na, 87);
    memset(file, 0, sizeof file);
    spz_header(file, 4, 3);
    file[15] = 6;
    file[16] = 32;
    for (int a = 0; a < 6; a++) {
        size_t z = ZSTD_compress(file + at, sizeof file - at, arrays + from, sizes[a], 3);
        assert_false(ZSTD_isError(z));
        for (int j = 0; j < 8; j++) {
            file[32 + 16 * a + j] = (uint8_t)((uint64_t)z >> (8 * j));
            file[32 + 16 * a + 8 + j] = (uint8_t)((uint64_t)sizes[a] >> (8 * j));
        }
        at += z;
        from += sizes[a];
    }
    assert_int_equal(gsz_spz_read_memory(file, at, "v4.spz", &r, NULL), GSZ_OK);
    check_spz_scene(&r, 4);
    gsz_scene_free(&r);
    assert_int_equal(gsz_spz_read_memory(file, at - 1, "cut4.spz", &r, NULL), GSZ_ERROR_format);
    file[32 + 16 * 2 + 8]++; /* the colour stream's raw size off by one */
    assert_int_equal(gsz_spz_read_memory(file, at, "bad4.spz", &r, NULL), GSZ_ERROR_format);
    assert_non_null(strstr(gsz_getErrorDetail(), "stream 2"));
    file[32 + 16 * 2 + 8]--;
    file[4] = 9; /* a version not read */
    assert_int_equal(gsz_spz_read_memory(file, at, "v9.spz", &r, NULL), GSZ_ERROR_unsupported);
    assert_int_equal(gsz_spz_read_memory("ply\n", 4, "no.spz", &r, NULL), GSZ_ERROR_format);
}

/* Writing .spz (version 3): read back within the format's steps, and written again from what was read,
 * the same values (they are on its grid). */
static void test_spz_write(void **state) {
    (void)state;
    gsz_scene s, r, r2;
    assert_int_equal(gsz_synth_scene(2000, 3, 21, &s), GSZ_OK);
    s.pos[5] = 3000.0f; /* beyond 12 fractional bits' 2048: the writer takes fewer */
    const char *p = tmp_path("w.spz"), *p2 = tmp_path("w2.spz");
    assert_int_equal(gsz_spz_write(p, &s), GSZ_OK);
    assert_int_equal(gsz_spz_read(p, &r, NULL), GSZ_OK);
    assert_int_equal(r.count, s.count);
    assert_int_equal(r.sh_degree, 3);
    for (size_t i = 0; i < s.count; i++) {
        for (int k = 0; k < 3; k++) {
            size_t j = 3 * i + (size_t)k;
            assert_float_equal(r.pos[j], s.pos[j], 1.0 / 512 + 1e-6); /* 9 fractional bits for 3000 */
            assert_float_equal(r.scale[j], GSZ_CLAMP(s.scale[j], -10.0f, 5.9375f), 1.0 / 32 + 1e-6);
            assert_float_equal(r.sh_dc[j], GSZ_CLAMP(s.sh_dc[j], -0.5f / 0.15f, 0.5f / 0.15f), 0.5 / 255 / 0.15 + 1e-5);
        }
        float o = gsz_sigmoid(s.opacity[i]), ro = gsz_sigmoid(r.opacity[i]);
        assert_float_equal(ro, o, 0.5 / 255 + 1e-5);
        double dot = 0, ls = 0;
        for (int k = 0; k < 4; k++) { dot += (double)s.rot[4 * i + (size_t)k] * r.rot[4 * i + (size_t)k]; ls += (double)s.rot[4 * i + (size_t)k] * s.rot[4 * i + (size_t)k]; }
        assert_true(fabs(dot) / sqrt(ls) > 0.9999); /* 9 bits a component: within a degree */
        for (int k = 0; k < 45; k++) { /* 5 bits for degree 1 (steps of 8/128), 4 above (16/128) */
            float v = s.sh_rest[45 * i + (size_t)k], got = r.sh_rest[45 * i + (size_t)k];
            assert_float_equal(got, GSZ_CLAMP(v, -1.0f, 127.0f / 128), (k / 3 < 3 ? 4.5 : 8.5) / 128);
        }
    }
    assert_int_equal(gsz_spz_write(p2, &r), GSZ_OK);
    assert_int_equal(gsz_spz_read(p2, &r2, NULL), GSZ_OK);
    /* on the grid, everything but rotations comes back bit for bit; a rotation whose two largest
     * components are about equal may name the other one largest the second time */
    assert_memory_equal(r.pos, r2.pos, 12 * r.count);
    assert_memory_equal(r.scale, r2.scale, 12 * r.count);
    assert_memory_equal(r.sh_dc, r2.sh_dc, 12 * r.count);
    assert_memory_equal(r.opacity, r2.opacity, 4 * r.count);
    assert_memory_equal(r.sh_rest, r2.sh_rest, 180 * r.count);
    for (size_t i = 0; i < r.count; i++) {
        double dot = 0;
        for (int k = 0; k < 4; k++) dot += (double)r.rot[4 * i + (size_t)k] * r2.rot[4 * i + (size_t)k];
        assert_true(fabs(dot) > 0.99999);
    }
    gsz_scene_free(&s); gsz_scene_free(&r); gsz_scene_free(&r2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_degrees), cmocka_unit_test(test_formats_and_order),
        cmocka_unit_test(test_malformed), cmocka_unit_test(test_nan_rows_dropped), cmocka_unit_test(test_absurd_values_clamped), cmocka_unit_test(test_other_trainers),
        cmocka_unit_test(test_write_is_atomic), cmocka_unit_test(test_filter_and_degree),
        cmocka_unit_test(test_real_scene_reads), cmocka_unit_test(test_compressed_ply),
        cmocka_unit_test(test_splat), cmocka_unit_test(test_spz), cmocka_unit_test(test_spz_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
