/* gszview's GL paths under whatever OpenGL EGL offers (Mesa llvmpipe in CI): the GPU radix sort, and
 * images against the CPU reference renderer. */
#include "helpers.h"
#include "viewer.h"

static gszv_headless ctx;
static int have_gl;

static int setup(void **state) {
    (void)state;
    char err[1024];
    have_gl = gszv_headless_create(&ctx, err, sizeof err);
    if (!have_gl) fprintf(stderr, "SKIP: no OpenGL 4.5 through EGL: %s\n", err);
    else fprintf(stderr, "GL: %s\n", ctx.renderer);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (have_gl) gszv_headless_destroy(&ctx);
    return 0;
}

static void test_sort(void **state) {
    (void)state;
    if (!have_gl) { skip(); return; }
    char err[1024];
    gszv_sort s;
    assert_true(gszv_sort_init(&s, 1234567, err, sizeof err));
    const size_t sizes[] = {1, 255, 4097, 12345, 100000, 1234567}; /* the last: more blocks than a scan round */
    gsz_rng r = {99};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        size_t n = sizes[t];
        uint32_t *k = malloc(n * 4), *ok = malloc(n * 4), *ov = malloc(n * 4);
        for (size_t i = 0; i < n; i++) k[i] = t % 2 ? (uint32_t)(gsz_rng_next(&r) % 50) /* many equal keys */ : (uint32_t)gsz_rng_next(&r);
        assert_true(gszv_sort_host(&s, k, ok, ov, n));
        for (size_t i = 0; i < n; i++) {
            assert_true(ov[i] < n);
            assert_int_equal(ok[i], k[ov[i]]);
            if (i) {
                assert_true(ok[i - 1] <= ok[i]);
                if (ok[i - 1] == ok[i]) assert_true(ov[i - 1] < ov[i]); /* stable */
            }
        }
        free(k); free(ok); free(ov);
    }
    gszv_sort_free(&s);
}

/* PSNR of a GL render against the CPU reference: generated view `view`, or *cam where given. */
static double gl_vs_cpu_cam(const char *path_or_null, const gsz_scene *scene, int w, int h, int view, const gsz_camera *cam, gszv_mode mode) {
    char err[1024];
    gszv_renderer *r = gszv_renderer_create(err, sizeof err);
    if (!r) fprintf(stderr, "%s\n", err);
    assert_non_null(r);
    gsz_scene s = {0};
    if (path_or_null) assert_true(gszv_load_file(r, path_or_null, 0, &s, 1, err, sizeof err));
    else assert_true(gszv_renderer_upload_scene(r, scene, err, sizeof err));
    const gsz_scene *ref = path_or_null ? &s : scene;
    gsz_camera cams[8];
    gsz_cameras_generate(ref, 8, w, h, 0, cams);
    if (cam) cams[view] = *cam;
    gszv_target t;
    assert_true(gszv_target_create(&t, w, h));
    const float bg[3] = {0, 0, 0};
    gszv_renderer_settle(r, &cams[view], -1, bg, &t, mode);
    float *gl = malloc((size_t)w * h * 12), *cpu = malloc((size_t)w * h * 12);
    gszv_target_read(&t, gl);
    assert_int_equal(gsz_render(ref, &cams[view], NULL, cpu), GSZ_OK);
    double p = gsz_psnr(gl, cpu, (size_t)w * h * 3);
    free(gl); free(cpu);
    gszv_target_free(&t);
    gszv_renderer_destroy(r);
    gsz_scene_free(&s);
    return p;
}

static double gl_vs_cpu(const char *path_or_null, const gsz_scene *scene, int w, int h, int view, gszv_mode mode) {
    return gl_vs_cpu_cam(path_or_null, scene, w, h, view, NULL, mode);
}

static void test_matches_cpu_real(void **state) {
    (void)state;
    if (!have_gl) { skip(); return; }
    const char *p = shared_scene("playbot-small.ply");
    if (!p) { skip(); return; }
    for (int v = 1; v < 8; v += 3) {
        double raster = gl_vs_cpu(p, NULL, 320, 240, v, GSZV_RASTER), compute = gl_vs_cpu(p, NULL, 320, 240, v, GSZV_COMPUTE);
        fprintf(stderr, "playbot-small view %d: GL vs CPU: raster %.2f dB, compute %.2f dB\n", v, raster, compute);
        assert_true(raster >= 30.0);
        assert_true(compute >= 40.0);
    }
}

static void test_matches_cpu_synthetic_and_gsz(void **state) {
    (void)state;
    if (!have_gl) { skip(); return; }
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(20000, 3, 4, &s), GSZ_OK);
    double psnr = gl_vs_cpu(NULL, &s, 320, 240, 2, GSZV_RASTER), pc = gl_vs_cpu(NULL, &s, 333, 251, 2, GSZV_COMPUTE);
    fprintf(stderr, "synthetic SH3: GL vs CPU: raster %.2f dB, compute %.2f dB (odd size)\n", psnr, pc);
    assert_true(psnr >= 30.0);
    assert_true(pc >= 40.0);
    /* the .gsz path uploads codebooks and indices: compare with the CPU render of the decoded scene */
    gsz_compress_options o = {0};
    o.views = 6;
    void *buf;
    size_t size;
    assert_int_equal(gsz_compress(&s, &o, &buf, &size, NULL), GSZ_OK);
    const char *path = tmp_path("v.gsz");
    write_bytes(path, buf, size);
    free(buf);
    psnr = gl_vs_cpu(path, NULL, 320, 240, 5, GSZV_RASTER);
    pc = gl_vs_cpu(path, NULL, 320, 240, 5, GSZV_COMPUTE);
    fprintf(stderr, "synthetic SH3 .gsz (indexed upload): GL vs CPU: raster %.2f dB, compute %.2f dB\n", psnr, pc);
    assert_true(psnr >= 30.0);
    assert_true(pc >= 40.0);
    gsz_scene_free(&s);
}

/* Lines far longer than the view (log-scale 19: pixel extents past int range, squared eigenvalues past
 * float range) render as the CPU reference draws them, on both paths: the compute path's tile
 * coordinates are clamped before their conversion, the raster quad's axes come from cancellation-free
 * eigenvalues and its major axis is cut to the image (both paths drew nothing here before). */
static void test_huge_splats(void **state) {
    (void)state;
    if (!have_gl) { skip(); return; }
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(3000, 0, 7, &s), GSZ_OK);
    for (size_t i = 0; i < 40; i++) { /* lines along x, across the view below */
        s.scale[3 * i * 50] = 19.0f;
        s.scale[3 * i * 50 + 1] = s.scale[3 * i * 50 + 2] = logf(0.01f);
        float *q = s.rot + 4 * i * 50;
        q[0] = 1; q[1] = q[2] = q[3] = 0;
        s.opacity[i * 50] = 3;
    }
    float ctr[3], rad;
    gsz_scene_focus(&s, ctr, &rad);
    const float eye[3] = {ctr[0], ctr[1], ctr[2] - 3 * rad}, up[3] = {0, -1, 0};
    gsz_camera c; /* looking along z: the lines run across the image */
    gsz_camera_look_at(&c, eye, ctr, up, 320, 240, 50);
    double raster = gl_vs_cpu_cam(NULL, &s, 320, 240, 0, &c, GSZV_RASTER), compute = gl_vs_cpu_cam(NULL, &s, 320, 240, 0, &c, GSZV_COMPUTE);
    /* the lines show: the CPU image against the scene without them */
    float *img = malloc(320 * 240 * 12), *plain = malloc(320 * 240 * 12);
    assert_int_equal(gsz_render(&s, &c, NULL, img), GSZ_OK);
    for (size_t i = 0; i < 40; i++) s.opacity[i * 50] = -20;
    assert_int_equal(gsz_render(&s, &c, NULL, plain), GSZ_OK);
    double lines = gsz_psnr(img, plain, 320 * 240 * 3);
    free(img); free(plain);
    fprintf(stderr, "huge splats: GL vs CPU: raster %.2f dB, compute %.2f dB; with and without them %.2f dB apart\n", raster, compute, lines);
    assert_true(lines < 20.0);
    assert_true(raster >= 30.0);
    assert_true(compute >= 40.0);
    gsz_scene_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort), cmocka_unit_test(test_matches_cpu_real), cmocka_unit_test(test_matches_cpu_synthetic_and_gsz),
        cmocka_unit_test(test_huge_splats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
