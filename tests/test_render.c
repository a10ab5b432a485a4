/* CPU reference renderer, cameras and metrics. */
#include "helpers.h"
#include "common.h" /* gsz_render_simd */
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

/* Gaussians many times the view's size (a log-scale of 30: pixel extents out of int range) render as
 * the long lines they are, like ones whose extent still fits (log-scale 12), and the backward pass
 * runs on them: they had vanished from renders and failed the gradient pass for lack of memory. */
static void test_huge_gaussians(void **state) {
    (void)state;
    enum { N = 24, W = 96, H = 64 };
    float img[2][W * H * 3], grad_rgb[N * 3], grad_op[N];
    for (int v = 0; v < 2; v++) {
        gsz_scene s;
        assert_int_equal(gsz_scene_alloc(&s, N, 0), GSZ_OK);
        for (int i = 0; i < N; i++) {
            s.pos[3 * i] = 0.1f * (float)(i % 5);
            s.pos[3 * i + 1] = -1.2f + 0.1f * (float)i;
            s.pos[3 * i + 2] = 0.05f * (float)(i % 7);
            s.scale[3 * i] = v ? 30.0f : 12.0f; /* along x: a line across the view */
            s.scale[3 * i + 1] = s.scale[3 * i + 2] = logf(0.02f);
            s.rot[4 * i] = 1; s.rot[4 * i + 1] = s.rot[4 * i + 2] = s.rot[4 * i + 3] = 0;
            s.opacity[i] = 1.0f;
            for (int c = 0; c < 3; c++) s.sh_dc[3 * i + c] = (float)((i + c) % 3) - 1.0f;
        }
        gsz_camera cam = simple_camera(W, H, 60);
        assert_int_equal(gsz_render(&s, &cam, NULL, img[v]), GSZ_OK);
        float target[W * H * 3] = {0};
        gsz_render_grad g = {0};
        g.rgb = grad_rgb;
        g.opacity = grad_op;
        double loss = 0;
        assert_int_equal(gsz_render_gradient(&s, &cam, NULL, target, &g, &loss), GSZ_OK);
        assert_true(loss > 0);
        gsz_scene_free(&s);
    }
    double covered = 0;
    for (size_t k = 0; k < (size_t)W * H * 3; k++) covered += img[1][k] > 0;
    assert_true(covered > 0.5 * W * H * 3 / 3); /* lines, not an empty view */
    assert_true(gsz_psnr(img[0], img[1], (size_t)W * H * 3) > 60);
}

/* The removal accumulation (the codec's pruning order) against removing each Gaussian for real: a
 * Gaussian's sum over pixels of |the pixel's change| equals that of the images with and without it.
 * Colours stay within 0..1 so that no clamp hides a change, opacities at most 1/2 so that no pixel
 * fills (T under 1e-4 stops a pixel: removing a splat in front would let one more through). */
static void test_removal_effect(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(3000, 0, 11, &s), GSZ_OK);
    for (size_t i = 0; i < 3 * s.count; i++) s.sh_dc[i] = fminf(fmaxf(s.sh_dc[i], -1.5f), 1.5f);
    for (size_t i = 0; i < s.count; i++) s.opacity[i] = fminf(s.opacity[i], 0.0f);
    gsz_camera cam;
    assert_int_equal(gsz_cameras_generate(&s, 1, 160, 120, 0, &cam), GSZ_OK);
    size_t n = 160 * 120 * 3;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    uint64_t *w = calloc(s.count, 8), *rem = calloc(s.count, 8);
    gsz_render_accum acc = {.weight = w, .removal = rem};
    gsz_render_options o = {0};
    o.threads = 2;
    o.accum = &acc;
    assert_int_equal(gsz_render(&s, &cam, &o, a), GSZ_OK);
    o.accum = NULL;
    int checked = 0, stacked = 0;
    for (size_t i = 0; i < s.count && checked < 40; i += 37) {
        if (!w[i]) continue;
        float keep = s.opacity[i];
        s.opacity[i] = -40.0f; /* alpha far under 1/255: gone */
        assert_int_equal(gsz_render(&s, &cam, &o, b), GSZ_OK);
        s.opacity[i] = keep;
        double d = 0;
        for (size_t k = 0; k < n; k++) d += fabs((double)a[k] - (double)b[k]);
        double r = (double)rem[i] / (double)GSZ_ACCUM_ONE;
        assert_true(fabs(r - d) <= 1e-3 * d + 1e-4);
        stacked += r < 0.5 * (double)w[i] / (double)GSZ_ACCUM_ONE; /* changes less than its alpha*T */
        checked++;
    }
    assert_true(checked >= 20);
    assert_true(stacked > 0); /* the two measures differ */
    /* the backward pass sums both as well (fine-tuning's pruning order), alike for any thread count */
    uint64_t *acc2[2];
    for (int t = 0; t < 2; t++) {
        acc2[t] = calloc(2 * s.count, 8);
        gsz_render_accum ga = {.weight = acc2[t], .removal = acc2[t] + s.count};
        gsz_render_grad none = {0};
        o.threads = t + 1;
        o.accum = &ga;
        assert_int_equal(gsz_render_gradient(&s, &cam, &o, a, &none, NULL), GSZ_OK);
    }
    assert_memory_equal(acc2[0], acc2[1], 2 * s.count * 8);
    for (size_t i = 0; i < s.count; i++) {
        double w1 = (double)w[i], w2 = (double)acc2[0][i], r1 = (double)rem[i], r2 = (double)acc2[0][s.count + i];
        assert_true(fabs(w1 - w2) <= 1e-5 * w1 + 16);
        assert_true(fabs(r1 - r2) <= 1e-4 * r1 + 16);
    }
    free(acc2[0]); free(acc2[1]);
    free(a); free(b); free(w); free(rem);
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

/* The tiled renderer (culling, tile lists, pixel masks, the early outs of the blend) against the 3DGS
 * formulas evaluated plainly, in double, every Gaussian at every pixel. Opacities stay under 0.35, so
 * alpha = o exp(-q/2) falls under 1/255 inside the 3-sigma radius the tiles are culled at, and the two
 * must agree up to float rounding. */
static void naive_render(const gsz_scene *s, const gsz_camera *cam, const float bg[3], float *img) {
    size_t n = s->count;
    double *g = calloc(n, 9 * sizeof(double)); /* px, py, conic a b c, opacity, rgb */
    double *depth = malloc(n * sizeof(double));
    size_t *order = malloc(n * sizeof(size_t)), nv = 0;
    for (size_t i = 0; i < n; i++) {
        const float *m = s->pos + 3 * i, *R = cam->R;
        double t[3];
        for (int r = 0; r < 3; r++) t[r] = R[3 * r] * m[0] + R[3 * r + 1] * m[1] + R[3 * r + 2] * m[2] + cam->t[r];
        if (t[2] <= 0.2) continue;
        const float *q = s->rot + 4 * i;
        double qn = sqrt((double)q[0] * q[0] + (double)q[1] * q[1] + (double)q[2] * q[2] + (double)q[3] * q[3]);
        double w = q[0] / qn, x = q[1] / qn, y = q[2] / qn, z = q[3] / qn;
        double Rq[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)};
        double S[9] = {0}, M[9];
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3; k++) M[3 * r + k] = Rq[3 * r + k] * exp(s->scale[3 * i + (size_t)k]);
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 3; l++) S[3 * r + k] += M[3 * r + l] * M[3 * k + l];
        double limx = 1.3 * cam->width / (2.0 * cam->fx), limy = 1.3 * cam->height / (2.0 * cam->fy);
        double cx = fmin(fmax(t[0] / t[2], -limx), limx) * t[2], cy = fmin(fmax(t[1] / t[2], -limy), limy) * t[2];
        double J[6] = {cam->fx / t[2], 0, -cam->fx * cx / (t[2] * t[2]), 0, cam->fy / t[2], -cam->fy * cy / (t[2] * t[2])};
        double T[6] = {0}, C[4] = {0};
        for (int r = 0; r < 2; r++)
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 3; l++) T[3 * r + k] += J[3 * r + l] * R[3 * l + k];
        for (int r = 0; r < 2; r++)
            for (int k = 0; k < 2; k++)
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++) C[2 * r + k] += T[3 * r + a] * S[3 * a + b] * T[3 * k + b];
        C[0] += 0.3;
        C[3] += 0.3;
        double det = C[0] * C[3] - C[1] * C[1];
        if (!(det > 0)) continue;
        double *o = g + 9 * i;
        o[0] = cam->fx * t[0] / t[2] + cam->cx - 0.5;
        o[1] = cam->fy * t[1] / t[2] + cam->cy - 0.5;
        o[2] = C[3] / det; o[3] = -C[1] / det; o[4] = C[0] / det;
        o[5] = 1.0 / (1.0 + exp(-(double)s->opacity[i]));
        for (int c = 0; c < 3; c++) o[6 + c] = fmax(0.0, 0.5 + 0.28209479177387814 * s->sh_dc[3 * i + (size_t)c]);
        depth[i] = t[2];
        order[nv++] = i;
    }
    for (size_t a = 1; a < nv; a++) /* stable insertion sort by depth */
        for (size_t b = a; b > 0 && depth[order[b - 1]] > depth[order[b]]; b--) { size_t t = order[b]; order[b] = order[b - 1]; order[b - 1] = t; }
    for (int py = 0; py < cam->height; py++)
        for (int px = 0; px < cam->width; px++) {
            double Tr = 1, col[3] = {0};
            for (size_t v = 0; v < nv; v++) {
                const double *o = g + 9 * order[v];
                double dx = o[0] - px, dy = o[1] - py;
                double power = -0.5 * (o[2] * dx * dx + o[4] * dy * dy) - o[3] * dx * dy;
                if (power > 0) continue;
                double alpha = fmin(0.99, o[5] * exp(power));
                if (alpha < 1.0 / 255.0) continue;
                double next = Tr * (1 - alpha);
                if (next < 1e-4) break;
                for (int c = 0; c < 3; c++) col[c] += o[6 + c] * alpha * Tr;
                Tr = next;
            }
            for (int c = 0; c < 3; c++) img[(py * cam->width + px) * 3 + c] = (float)fmin(1.0, fmax(0.0, col[c] + Tr * bg[c]));
        }
    free(g); free(depth); free(order);
}

static void test_against_plain_formulas(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(400, 0, 11, &s), GSZ_OK);
    for (size_t i = 0; i < s.count; i++) /* opacities 0.35 and below, a third of them faint (0.02) */
        s.opacity[i] = i % 3 ? fminf(s.opacity[i], -0.62f) : -3.9f;
    enum { W = 97, H = 71 }; /* partial tiles at the right and bottom edges */
    gsz_camera cams[3];
    assert_int_equal(gsz_cameras_generate(&s, 3, W, H, 0, cams), GSZ_OK);
    float *img = malloc(W * H * 12), *ref = malloc(W * H * 12);
    gsz_render_options o = {0};
    o.background[0] = 0.2f;
    o.background[2] = 0.7f;
    double worst = 0, sum = 0;
    for (int v = 0; v < 3; v++) {
        assert_int_equal(gsz_render(&s, &cams[v], &o, img), GSZ_OK);
        naive_render(&s, &cams[v], o.background, ref);
        for (int k = 0; k < W * H * 3; k++) {
            worst = fmax(worst, fabs((double)img[k] - ref[k]));
            sum += ref[k];
        }
    }
    assert_true(sum / (3.0 * W * H * 3) > 0.05); /* the Gaussians are in view */
    assert_true(worst < 2e-5);
    free(img); free(ref);
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

/* The transmittance output: the render on any background is the render on black plus T times it
 * (the codec counts a scene's coverage this way instead of rendering it again on white). */
static void test_transmittance(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(5000, 1, 7, &s), GSZ_OK);
    gsz_camera cam;
    assert_int_equal(gsz_cameras_generate(&s, 1, 160, 120, 0, &cam), GSZ_OK);
    for (int step = 1; step <= 3; step += 2) {
        int w = (160 + step - 1) / step, h = (120 + step - 1) / step, covered = 0, open = 0;
        float *black = malloc((size_t)w * h * 12), *white = malloc((size_t)w * h * 12), *t = malloc((size_t)w * h * 4);
        gsz_render_options o = {0};
        o.pixel_step = step;
        o.transmittance = t;
        assert_int_equal(gsz_render(&s, &cam, &o, black), GSZ_OK);
        o.transmittance = NULL;
        o.background[0] = o.background[1] = o.background[2] = 1.0f;
        assert_int_equal(gsz_render(&s, &cam, &o, white), GSZ_OK);
        for (int p = 0; p < w * h; p++) {
            assert_true(t[p] >= 0.0f && t[p] <= 1.0f);
            covered += t[p] < 0.5f;
            open += t[p] == 1.0f;
            for (int ch = 0; ch < 3; ch++) {
                float v = black[3 * p + ch] + t[p];
                assert_true(white[3 * p + ch] == (v > 1.0f ? 1.0f : v));
            }
        }
        assert_true(covered > 0 && open > 0); /* the view holds both */
        free(black); free(white); free(t);
    }
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

/* The AVX-512 blend against the plain one (where the CPU has AVX-512; else both are the plain one): the
 * same images and transmittance, the same significance sums (weight, pixels, colour gradients, removal)
 * and the same backward pass, at a size with partial tiles, with pixel_step, and with huge and faint
 * Gaussians among them. */
static void test_blend_simd(void **state) {
    (void)state;
    gsz_scene s;
    assert_int_equal(gsz_synth_scene(20000, 3, 5, &s), GSZ_OK);
    for (size_t i = 0; i < s.count; i += 97) s.scale[3 * i] = s.scale[3 * i + 1] = 2.0f; /* huge */
    for (size_t i = 1; i < s.count; i += 7) s.opacity[i] = -5.0f;                        /* faint */
    enum { W = 203, H = 151 };
    gsz_camera cams[3];
    assert_int_equal(gsz_cameras_generate(&s, 3, W, H, 0, cams), GSZ_OK);
    size_t n = s.count, px = (size_t)W * H;
    float *err = malloc(px * 12), *target = malloc(px * 12);
    for (size_t i = 0; i < px * 3; i++) {
        err[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
        target[i] = (float)((i * 40503u) % 1000) / 1000.0f;
    }
    for (int v = 0; v < 3; v++) {
        float *img[2], *tr[2], *sub[2], *g[2][5];
        uint64_t *wt[2], *rm[2];
        uint32_t *pix[2];
        int64_t *gc[2];
        double loss[2];
        for (int k = 0; k < 2; k++) {
            gsz_render_simd(k);
            img[k] = malloc(px * 12), tr[k] = malloc(px * 4), sub[k] = calloc(px, 12); /* pixel_step 2 fills a quarter */
            wt[k] = calloc(n, 8), rm[k] = calloc(n, 8), pix[k] = calloc(n, 4), gc[k] = calloc(n, 24);
            gsz_render_options o = {0};
            o.background[1] = 0.3f;
            o.transmittance = tr[k];
            assert_int_equal(gsz_render(&s, &cams[v], &o, img[k]), GSZ_OK);
            gsz_render_accum acc = {wt[k], pix[k], err, gc[k], rm[k]};
            gsz_render_options oa = {0};
            oa.accum = &acc;
            oa.pixel_step = v == 2 ? 2 : 1;
            assert_int_equal(gsz_render(&s, &cams[v], &oa, sub[k]), GSZ_OK);
            gsz_render_grad gr = {g[k][0] = malloc(n * 12), g[k][1] = malloc(n * 12), g[k][2] = malloc(n * 16), g[k][3] = malloc(n * 4), g[k][4] = malloc(n * 12)};
            assert_int_equal(gsz_render_gradient(&s, &cams[v], &o, target, &gr, &loss[k]), GSZ_OK);
        }
        gsz_render_simd(1);
        assert_memory_equal(img[0], img[1], px * 12);
        assert_memory_equal(tr[0], tr[1], px * 4);
        assert_memory_equal(sub[0], sub[1], px * 12);
        assert_memory_equal(wt[0], wt[1], n * 8);
        assert_memory_equal(pix[0], pix[1], n * 4);
        assert_memory_equal(gc[0], gc[1], n * 24);
        assert_memory_equal(rm[0], rm[1], n * 8);
        size_t gb[5] = {12, 12, 16, 4, 12};
        for (int a = 0; a < 5; a++) assert_memory_equal(g[0][a], g[1][a], n * gb[a]);
        assert_true(loss[0] == loss[1] && loss[0] > 0);
        uint64_t any = 0;
        for (size_t i = 0; i < n; i++) any |= rm[0][i];
        assert_true(any != 0);
        for (int k = 0; k < 2; k++) {
            free(img[k]); free(tr[k]); free(sub[k]); free(wt[k]); free(rm[k]); free(pix[k]); free(gc[k]);
            for (int a = 0; a < 5; a++) free(g[k][a]);
        }
    }
    free(err); free(target);
    gsz_scene_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_gaussian_analytic), cmocka_unit_test(test_alpha_rules), cmocka_unit_test(test_huge_gaussians),
        cmocka_unit_test(test_self_compare_and_threads), cmocka_unit_test(test_removal_effect), cmocka_unit_test(test_pixel_step), cmocka_unit_test(test_transmittance), cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_against_plain_formulas), cmocka_unit_test(test_blend_simd),
        cmocka_unit_test(test_cameras_json), cmocka_unit_test(test_real_scene_training_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
