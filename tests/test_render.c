/* CPU reference renderer, cameras and metrics. */
#include "helpers.h"
#include <math.h>

static gsz_camera simple_camera(int w, int h, float f) {
    gsz_camera c;
    memset(&c, 0, sizeof c);
    c.width = w;
    c.height = h;
    c.fx = c.fy = f;
    c.cx = (float)w / 2;
    c.cy = (float)h / 2;
    c.R[0] = c.R[4] = c.R[8] = 1; /* looking down +z from z = -5 */
    c.t[2] = 5;
    c.center[2] = -5;
    return c;
}

static void test_single_gaussian_analytic(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_scene_alloc(&s, 1, 0), GSZ_OK);
    memset(s.pos, 0, 12);
    for (int k = 0; k < 3; k++) s.scale[k] = logf(0.1f);
    s.rot[0] = 2; s.rot[1] = s.rot[2] = s.rot[3] = 0; /* unnormalised on purpose */
    s.opacity[0] = 0; /* sigmoid(0) = 0.5 */
    float col[3] = {0.9f, 0.4f, 0.1f};
    for (int c = 0; c < 3; c++) s.sh_dc[c] = (col[c] - 0.5f) / 0.28209479177387814f;
    gsz_camera cam = simple_camera(64, 64, 100);
    cam.cx = 32.5f; /* the centre lands exactly on pixel (32,32) */
    cam.cy = 32.5f;
    float img[64 * 64 * 3];
    gsz_render_options ro = {0};
    ro.background[2] = 0.25f;
    assert_int_equal(gsz_render(&s, &cam, &ro, img), GSZ_OK);
    const float *px = img + (32 * 64 + 32) * 3;
    for (int c = 0; c < 3; c++) assert_float_equal(px[c], col[c] * 0.5f + (c == 2 ? 0.25f * 0.5f : 0), 1e-5);
    /* one pixel right: d = 1 px; covariance 20^2*0.01 + 0.3 = 4.3 */
    float a = 0.5f * expf(-0.5f / 4.3f);
    px = img + (32 * 64 + 33) * 3;
    assert_float_equal(px[0], col[0] * a, 1e-5);
    /* far corner: background only */
    assert_float_equal(img[2], 0.25f, 1e-6);
    gsz_scene_free(&s);
}

static void test_alpha_rules(void **state) {
    (void)state;
    /* A stack of opaque Gaussians: alpha clamps at 0.99 and blending stops once T < 1e-4. */
    gsz_scene s;
    assert_int_equal(gsz_scene_alloc(&s, 4, 0), GSZ_OK);
    for (int i = 0; i < 4; i++) {
        s.pos[3 * i] = s.pos[3 * i + 1] = 0;
        s.pos[3 * i + 2] = (float)i * 0.1f;
        for (int k = 0; k < 3; k++) s.scale[3 * i + k] = logf(0.5f);
        s.rot[4 * i] = 1; s.rot[4 * i + 1] = s.rot[4 * i + 2] = s.rot[4 * i + 3] = 0;
        s.opacity[i] = 20; /* sigmoid ~ 1 -> alpha clamped to 0.99 */
        for (int c = 0; c < 3; c++) s.sh_dc[3 * i + c] = 0.5f / 0.28209479177387814f; /* white */
    }
    gsz_camera cam = simple_camera(32, 32, 50);
    cam.cx = cam.cy = 16.5f;
    float img[32 * 32 * 3];
    assert_int_equal(gsz_render(&s, &cam, NULL, img), GSZ_OK);
    /* the front one gives 0.99; the second would bring T to 0.01*0.01 < 1e-4, so blending stops (else 0.9999) */
    assert_float_equal(img[(16 * 32 + 16) * 3], 0.99f, 1e-5);
    gsz_scene_free(&s);
}

static void test_self_compare_and_threads(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(20000, 3, 3, &s), GSZ_OK);
    gsz_camera cams[2];
    assert_int_equal(gsz_cameras_generate(&s, 2, 200, 150, 0, cams), GSZ_OK);
    size_t n = 200 * 150 * 3;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    uint64_t *wa = calloc(s.count, 8), *wb = calloc(s.count, 8);
    gsz_render_accum acc_a = {.weight = wa}, acc_b = {.weight = wb};
    gsz_render_options o1 = {0}, o2 = {0};
    o1.threads = 1;
    o1.accum = &acc_a;
    o2.threads = 2;
    o2.accum = &acc_b;
    for (int v = 0; v < 2; v++) {
        assert_int_equal(gsz_render(&s, &cams[v], &o1, a), GSZ_OK);
        assert_int_equal(gsz_render(&s, &cams[v], &o2, b), GSZ_OK);
        assert_memory_equal(a, b, n * 4);
    }
    assert_memory_equal(wa, wb, s.count * 8);
    assert_true(isinf(gsz_psnr(a, b, n)));
    assert_float_equal(gsz_ssim(a, b, 200, 150), 1.0, 1e-9);
    /* non-trivial image */
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += a[i];
    assert_true(mean / (double)n > 0.02);
    free(a); free(b); free(wa); free(wb);
    gsz_scene_free(&s);
}

/* pixel_step: exactly the full render's pixels on the grid, packed (odd sizes round up); a workspace
 * changes nothing. */
static void test_pixel_step(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(5000, 2, 4, &s), GSZ_OK);
    gsz_camera cam;
    assert_int_equal(gsz_cameras_generate(&s, 1, 201, 151, 0, &cam), GSZ_OK);
    float *full = malloc(201 * 151 * 12), *part = malloc(101 * 76 * 12);
    gsz_render_options o = {0};
    assert_int_equal(gsz_render(&s, &cam, &o, full), GSZ_OK);
    o.pixel_step = 2;
    assert_int_equal(gsz_render(&s, &cam, &o, part), GSZ_OK);
    for (int y = 0; y < 151; y += 2)
        for (int x = 0; x < 201; x += 2) assert_memory_equal(full + (y * 201 + x) * 3, part + (y / 2 * 101 + x / 2) * 3, 12);
    /* a workspace reused across renders of other sizes gives the same images */
    float *again = malloc(201 * 151 * 12);
    o.workspace = gsz_render_workspace_create();
    assert_int_equal(gsz_render(&s, &cam, &o, again), GSZ_OK);
    assert_memory_equal(part, again, 101 * 76 * 12);
    o.pixel_step = 0;
    assert_int_equal(gsz_render(&s, &cam, &o, again), GSZ_OK);
    assert_memory_equal(full, again, 201 * 151 * 12);
    gsz_render_workspace_free(o.workspace);
    free(full); free(part); free(again);
    gsz_scene_free(&s);
}

static void test_metrics(void **state) {
    (void)state;
    enum { W = 64, H = 48 };
    float a[W * H * 3], b[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) { a[i] = (float)((i * 7919) % 1000) / 1000.0f; b[i] = a[i] + (i % 2 ? 0.01f : -0.01f); }
    assert_float_equal(gsz_psnr(a, b, W * H * 3), 40.0, 1e-3); /* MSE 1e-4 */
    double s1 = gsz_ssim(a, b, W, H);
    for (int i = 0; i < W * H * 3; i++) b[i] = a[i] + (i % 2 ? 0.1f : -0.1f);
    double s2 = gsz_ssim(a, b, W, H);
    assert_true(s1 < 1.0 && s1 > s2 && s2 > 0);
}

static void test_cameras_json(void **state) {
    (void)state;
    const char *p = tmp_path("cams.json");
    FILE *f = fopen(p, "w");
    fputs("[{\"id\":0,\"img_name\":\"a\",\"width\":100,\"height\":80,\"position\":[1,2,3],"
          "\"rotation\":[[1,0,0],[0,1,0],[0,0,1]],\"fx\":90,\"fy\":91}]", f);
    fclose(f);
    gsz_camera *c;
    size_t n;
    assert_int_equal(gsz_cameras_read(p, &c, &n), GSZ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].width, 100);
    assert_float_equal(c[0].t[0], -1, 0);
    assert_float_equal(c[0].t[2], -3, 0);
    assert_string_equal(c[0].name, "a");
    free(c);
    f = fopen(p, "w");
    fputs("[{\"width\":100}]", f);
    fclose(f);
    assert_int_equal(gsz_cameras_read(p, &c, &n), GSZ_ERROR_format);
    assert_non_null(strstr(gsz_getErrorDetail(), "cams.json"));
    f = fopen(p, "w");
    fputs("{not json", f);
    fclose(f);
    assert_int_equal(gsz_cameras_read(p, &c, &n), GSZ_ERROR_format);
}

/* The trained scene, rendered from its training cameras, is close to the renders of the scene it was
 * trained on: checks the camera convention end to end (the README of shared/ gives ~35.8 dB). */
static void test_real_scene_training_view(void **state) {
    (void)state;
    const char *pt = shared_scene("playbot-trained.ply"), *pg = shared_scene("playbot-small.ply");
    const char *pc = shared_scene("playbot-trained.cameras.json");
    if (!pt || !pg || !pc) { skip(); return; }
    gsz_scene t, g;
    gsz_camera *c;
    size_t n;
    assert_int_equal(gsz_ply_read(pt, &t, NULL), GSZ_OK);
    assert_int_equal(gsz_ply_read(pg, &g, NULL), GSZ_OK);
    assert_int_equal(gsz_cameras_read(pc, &c, &n), GSZ_OK);
    assert_int_equal(n, 160);
    size_t px = (size_t)c[0].width * (size_t)c[0].height * 3;
    float *a = malloc(px * 4), *b = malloc(px * 4);
    assert_int_equal(gsz_render(&t, &c[40], NULL, a), GSZ_OK);
    assert_int_equal(gsz_render(&g, &c[40], NULL, b), GSZ_OK);
    double covered = 0;
    for (size_t i = 0; i < px; i++) covered += a[i] > 0.05f;
    assert_true(covered / (double)px > 0.05); /* a non-trivial image */
    double p = gsz_psnr(a, b, px);
    fprintf(stderr, "trained vs coarse LOD, training view 40: %.2f dB\n", p);
    assert_true(p > 25.0);
    free(a); free(b); free(c);
    gsz_scene_free(&t);
    gsz_scene_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_gaussian_analytic), cmocka_unit_test(test_alpha_rules),
        cmocka_unit_test(test_self_compare_and_threads), cmocka_unit_test(test_pixel_step), cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_cameras_json), cmocka_unit_test(test_real_scene_training_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
