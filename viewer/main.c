/* gszview: opens a .gsz, .ply or .splat and splats it with OpenGL. Interactive in a GLFW window, or headless
 * through EGL: --headless renders a camera path and reports frame times, or --screenshot one view. */
#define _POSIX_C_SOURCE 200809L
#include "viewer.h"
#include "cli.h"
#include "common.h"

#include <string.h>
#include <time.h>
#ifdef GSZV_WITH_GLFW
#include <GLFW/glfw3.h>
#include <pthread.h>
#endif

enum { INSIDE_VIEWS = 9 }; /* --placement inside: the window's starting views */

typedef struct {
    const char *file, *screenshot, *path, *cameras;
    int headless, width, height, size_set, frames, view, views, json, threads, sh, up_sign, up_axis, quiet;
    int renderer; /* -1 auto, else gszv_mode */
    gsz_placement placement; /* of generated views (--screenshot; inside: the window's starting views too) */
} opts_t;

static int usage(int code) {
    fprintf(code ? stderr : stdout,
            "usage: gszview [options] SCENE.gsz|SCENE.ply|SCENE.splat|SCENE.spz|-   (-: standard input)\n"
            "  --headless                 no window: EGL, render a camera path and report frame times\n"
            "  --size WxH                 frame size (default 1920x1080 headless, 1280x720 window)\n"
            "  --frames N --path orbit|inside   headless benchmark path (default 300 frames; inside: through inside\n"
            "                             views, for indoor scenes)\n"
            "  --screenshot OUT.png       render one view and exit: --view I of --views N generated, as 'gsz render',\n"
            "                             or with --cameras its camera I, at its own image size unless --size\n"
            "  --cameras cameras.json     training cameras (window: number keys / PageUp / PageDown)\n"
            "  --placement around|inside  where generated views stand (inside: indoor captures; the window starts\n"
            "                             at the first of 9 inside views, on the number keys)\n"
            "  --sh N                     cap the SH degree (0-3)\n"
            "  --renderer raster|compute|auto   hardware quads or the compute tile rasteriser (auto: the faster;\n"
            "                             the headless benchmark times both unless one is named)\n"
            "  --up -y|+y|-z|+z|-x|+x     world up axis (default -y: COLMAP scenes are y-down)\n"
            "  -j N --json -q --version\n"
            "window keys: left drag orbit, right/middle drag pan, wheel zoom, WASD/QE fly (Shift faster), R reset,\n"
            "  0-3 SH degree (H cycles), C renderer, V vsync, P screenshot, U cycle up axis,\n"
            "  1-9/PageUp/PageDown training cameras,\n"
            "  drop a file to open it, Esc quit\n");
    return code;
}

static int parse_up(const char *s, opts_t *o) {
    if (strlen(s) != 2 || (s[0] != '-' && s[0] != '+') || s[1] < 'x' || s[1] > 'z') return 0;
    o->up_sign = s[0] == '-' ? -1 : 1;
    o->up_axis = s[1] - 'x';
    return 1;
}

static int parse(int argc, char **argv, opts_t *o) {
    memset(o, 0, sizeof *o);
    o->frames = 300;
    o->view = 0;
    o->views = 24;
    o->sh = -1;
    o->up_sign = -1;
    o->up_axis = 1;
    o->path = "orbit";
    o->renderer = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!v) { fprintf(stderr, "gszview: %s needs a value\n", a); return 0; } i++; } while (0)
#define INT(lo, hi, dst) do { NEED(); double x_; if (!gsz_parse_number("gszview", a, v, lo, hi, 1, &x_)) return 0; dst = (int)x_; } while (0)
        if (!strcmp(a, "--headless")) o->headless = 1;
        else if (!strcmp(a, "--size")) { NEED(); if (!gsz_parse_size(v, &o->width, &o->height)) { fprintf(stderr, "gszview: bad --size %s\n", v); return 0; } }
        else if (!strcmp(a, "--frames")) INT(1, 1e7, o->frames);
        else if (!strcmp(a, "--path")) {
            NEED();
            o->path = v;
            if (strcmp(v, "orbit") && strcmp(v, "inside")) { fprintf(stderr, "gszview: unknown path %s (orbit, inside)\n", v); return 0; }
        }
        else if (!strcmp(a, "--screenshot")) { NEED(); o->screenshot = v; }
        else if (!strcmp(a, "--view")) INT(0, 1e6, o->view);
        else if (!strcmp(a, "--views")) INT(1, 1e6, o->views);
        else if (!strcmp(a, "--cameras")) { NEED(); o->cameras = v; }
        else if (!strcmp(a, "--placement")) {
            NEED();
            if (!gsz_parse_placement(v, &o->placement)) { fprintf(stderr, "gszview: unknown placement %s (around, inside)\n", v); return 0; }
        }
        else if (!strcmp(a, "--renderer")) {
            NEED();
            if (!strcmp(v, "raster")) o->renderer = GSZV_RASTER;
            else if (!strcmp(v, "compute")) o->renderer = GSZV_COMPUTE;
            else if (!strcmp(v, "auto")) o->renderer = -1;
            else { fprintf(stderr, "gszview: unknown renderer %s (raster, compute, auto)\n", v); return 0; }
        } else if (!strcmp(a, "--sh")) INT(0, 3, o->sh);
        else if (!strcmp(a, "--up")) { NEED(); if (!parse_up(v, o)) { fprintf(stderr, "gszview: bad --up %s\n", v); return 0; } }
        else if (!strcmp(a, "-j")) INT(1, 256, o->threads);
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "-q")) o->quiet = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(0); exit(0); }
        else if (!strcmp(a, "--version")) { puts("gszview " GSZ_VERSION_STRING); exit(0); }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "gszview: unknown option %s\n", a); return 0; }
        else if (!o->file) o->file = a;
        else { fprintf(stderr, "gszview: one scene at a time\n"); return 0; }
#undef NEED
#undef INT
    }
    if (!o->file) { fprintf(stderr, "gszview: no scene given\n"); return 0; }
    if (!o->cameras && o->view >= o->views) { fprintf(stderr, "gszview: --view %d out of range (%d views)\n", o->view, o->views); return 0; }
    o->size_set = o->width > 0;
    if (!o->width) { o->width = o->headless ? 1920 : 1280; o->height = o->headless ? 1080 : 720; }
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* An orbit around c (the scene's focus, computed once by the caller) at radius-derived distance. */
static void orbit_camera(const float c[3], float r, const opts_t *o, double angle, double elev_deg, gsz_camera *cam) {
    float up[3] = {0, 0, 0};
    up[o->up_axis] = (float)o->up_sign;
    double fov = 50.0 * GSZ_PI / 180.0, half = 0.5 * fov;
    if (o->width < o->height) half = atan(tan(half) * o->width / o->height);
    double dist = r / sin(half) * 1.05, el = elev_deg * GSZ_PI / 180.0;
    /* orbit in the plane orthogonal to up */
    int a1 = (o->up_axis + 1) % 3, a2 = (o->up_axis + 2) % 3;
    float eye[3];
    eye[a1] = c[a1] + (float)(dist * cos(el) * cos(angle));
    eye[a2] = c[a2] + (float)(dist * cos(el) * sin(angle));
    eye[o->up_axis] = c[o->up_axis] + (float)(dist * sin(el)) * up[o->up_axis];
    gsz_camera_look_at(cam, eye, c, up, o->width, o->height, 50);
}

typedef struct {
    double mean, median, p99, fps, sort_ms, draw_ms;
    uint64_t visible, pairs;
} timing;

/* Frame f of the benchmark's path: an orbit around the focus, or the inside views (path, npath of them,
 * in turn). */
static void path_camera(const opts_t *o, const gsz_camera *path, int npath, const float focus[3], float radius, int f, gsz_camera *cam) {
    if (path) *cam = path[f % npath];
    else orbit_camera(focus, radius, o, 2.0 * GSZ_PI * f / o->frames, 20, cam);
}

/* Renders the path twice. First waiting for each frame: wall-clock frame times (mean, median, p99) and
 * the GPU split from timer queries on every tenth frame. Then as a window does with vsync off, up to
 * two frames in flight (fences, like a double-buffered swap chain): frames per second. */

static timing time_path(gszv_renderer *r, const opts_t *o, const gszv_target *t, gszv_mode mode, const gsz_camera *path, int npath,
                        const float focus[3], float radius) {
    const float bg[3] = {0, 0, 0};
    gsz_camera cam;
    path_camera(o, path, npath, focus, radius, 0, &cam);
    gszv_renderer_settle(r, &cam, o->sh, bg, t, mode);
    for (int i = 0; i < 5; i++) gszv_renderer_draw(r, &cam, o->sh, bg, t, mode, NULL);
    glFinish();
    double *ft = malloc((size_t)o->frames * sizeof(double));
    timing tm = {0};
    int timed = 0;
    double start = gsz_now();
    for (int f = 0; f < o->frames; f++) {
        path_camera(o, path, npath, focus, radius, f, &cam);
        double a = gsz_now();
        gszv_stats st;
        int sample = f % 10 == 5;
        gszv_renderer_draw(r, &cam, o->sh, bg, t, mode, sample ? &st : NULL);
        glFinish();
        ft[f] = (gsz_now() - a) * 1000.0;
        if (sample) { tm.sort_ms += st.preprocess_sort_ms; tm.draw_ms += st.draw_ms; tm.visible += st.visible; tm.pairs += st.pairs; timed++; }
    }
    double total = gsz_now() - start;
    qsort(ft, (size_t)o->frames, sizeof(double), cmp_double);
    tm.mean = total * 1000.0 / o->frames;
    tm.median = ft[o->frames / 2];
    tm.p99 = ft[(int)(0.99 * (o->frames - 1))];
    if (timed) { tm.sort_ms /= timed; tm.draw_ms /= timed; tm.visible /= (uint64_t)timed; tm.pairs /= (uint64_t)timed; }
    free(ft);
    GLsync fence[2] = {0, 0};
    start = gsz_now();
    for (int f = 0; f < o->frames; f++) {
        if (fence[f & 1]) {
            glClientWaitSync(fence[f & 1], GL_SYNC_FLUSH_COMMANDS_BIT, (GLuint64)10e9);
            glDeleteSync(fence[f & 1]);
        }
        path_camera(o, path, npath, focus, radius, f, &cam);
        gszv_renderer_draw(r, &cam, o->sh, bg, t, mode, NULL);
        fence[f & 1] = glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
    }
    glFinish();
    for (int k = 0; k < 2; k++)
        if (fence[k]) glDeleteSync(fence[k]);
    tm.fps = o->frames / (gsz_now() - start);
    return tm;
}

static int run_headless(const opts_t *o) {
    char err[2048];
    gszv_headless h;
    if (!gszv_headless_create(&h, err, sizeof err)) { fprintf(stderr, "gszview: no OpenGL: %s\n", err); return 1; }
    int rc = 1;
    gsz_scene s = {0};
    gszv_target t = {0};
    double t0 = gsz_now();
    gszv_renderer *r = gszv_renderer_create(err, sizeof err);
    if (!r) { fprintf(stderr, "gszview: %s\n", err); goto out; }
    if (!gszv_load_file(r, o->file, o->threads, &s, 0, err, sizeof err)) { fprintf(stderr, "gszview: %s\n", err); goto out; }
    const float bg[3] = {0, 0, 0};
    if (o->screenshot) {
        gszv_mode mode = o->renderer == GSZV_RASTER ? GSZV_RASTER : GSZV_COMPUTE; /* auto: the exact one */
        gsz_camera *cams = NULL, cam;
        size_t n = (size_t)o->views;
        int v = o->view;
        gsz_error e = GSZ_OK;
        if (o->cameras) {
            if (!(e = gsz_cameras_read(o->cameras, &cams, &n)) && (size_t)v >= n) e = gsz_fail(GSZ_ERROR_argument, "--view %d out of range (%zu cameras in %s)", v, n, o->cameras);
        } else {
            cams = calloc(n, sizeof *cams);
            e = cams ? gsz_cameras_place(&s, o->placement, n, o->width, o->height, 0, cams) : gsz_fail(GSZ_ERROR_memory, "out of memory");
        }
        if (!e) {
            cam = cams[v];
            if (o->size_set) gsz_camera_resize(&cam, o->width, o->height);
        }
        free(cams);
        float *img = e ? NULL : malloc((size_t)cam.width * (size_t)cam.height * 12);
        if (!e && !img) e = gsz_fail(GSZ_ERROR_memory, "out of memory");
        if (!e && !gszv_target_create(&t, cam.width, cam.height)) e = gsz_fail(GSZ_ERROR_memory, "cannot create a %dx%d framebuffer", cam.width, cam.height);
        if (!e) {
            gszv_renderer_settle(r, &cam, o->sh, bg, &t, mode);
            gszv_target_read(&t, img);
            e = gsz_png_write(o->screenshot, img, cam.width, cam.height);
        }
        free(img);
        if (e) { fprintf(stderr, "gszview: %s\n", gsz_getErrorDetail()); goto out; }
        if (!o->quiet) printf("%s: view %d (%dx%d, %s) -> %s [%s]\n", gsz_input_name(o->file), v, cam.width, cam.height, mode ? "compute" : "raster", o->screenshot, h.renderer);
        rc = 0;
        goto out;
    }
    if (!gszv_target_create(&t, o->width, o->height)) { fprintf(stderr, "gszview: cannot create a %dx%d framebuffer\n", o->width, o->height); goto out; }
    /* launch to first frame: load + upload + one frame */
    float focus[3], radius;
    gsz_scene_focus(&s, focus, &radius);
    /* --path inside: the frames go through inside views (an indoor scene, seen as it is meant to be) */
    int npath = strcmp(o->path, "inside") ? 0 : GSZ_MIN(o->frames, 600);
    gsz_camera *path = npath ? calloc((size_t)npath, sizeof *path) : NULL;
    if (npath && (!path || gsz_cameras_place(&s, GSZ_PLACEMENT_INSIDE, (size_t)npath, o->width, o->height, 0, path))) {
        fprintf(stderr, "gszview: cannot place the inside views\n");
        free(path);
        goto out;
    }
    {
        gsz_camera cam;
        path_camera(o, path, npath, focus, radius, 0, &cam);
        gszv_renderer_draw(r, &cam, o->sh, bg, &t, o->renderer == GSZV_RASTER ? GSZV_RASTER : GSZV_COMPUTE, NULL);
        glFinish();
    }
    double t_first = gsz_now() - t0;
    timing tm[2];
    int run[2] = {o->renderer != GSZV_COMPUTE, o->renderer != GSZV_RASTER};
    for (int m = 0; m < 2; m++)
        if (run[m]) tm[m] = time_path(r, o, &t, (gszv_mode)m, path, npath, focus, radius);
    free(path);
    size_t bytes = gszv_renderer_gpu_bytes(r), n = gszv_renderer_count(r);
    double per_splat = n ? (double)bytes / (double)n : 0; /* an empty scene: 0, not inf (JSON has none) */
    static const char *names[2] = {"raster", "compute"};
    if (o->json) {
        printf("{\"file\":");
        gsz_json_string(stdout, o->file);
        printf(",\"renderer\":");
        gsz_json_string(stdout, h.renderer);
        printf(",\"width\":%d,\"height\":%d,\"frames\":%d,\"path\":\"%s\",\"splats\":%zu,\"first_frame_s\":%.3f,\"gpu_bytes\":%zu,\"gpu_bytes_per_splat\":%.1f",
               o->width, o->height, o->frames, npath ? "inside" : "orbit", n, t_first, bytes, per_splat);
        for (int m = 0; m < 2; m++)
            if (run[m])
                printf(",\"%s\":{\"fps\":%.1f,\"mean_ms\":%.3f,\"median_ms\":%.3f,\"p99_ms\":%.3f,\"sync_fps\":%.1f,\"preprocess_sort_ms\":%.3f,\"draw_ms\":%.3f,\"visible\":%llu,\"pairs\":%llu}",
                       names[m], tm[m].fps, tm[m].mean, tm[m].median, tm[m].p99, 1000.0 / tm[m].mean, tm[m].sort_ms, tm[m].draw_ms, (unsigned long long)tm[m].visible, (unsigned long long)tm[m].pairs);
        if (run[0] && run[1] && tm[0].fps > 0) printf(",\"compute_over_raster\":%.2f", tm[1].fps / tm[0].fps);
        printf("}\n");
    } else {
        printf("%s on %s\n  %zu splats, %dx%d, %d frames of %s; first frame %.2f s after launch; GPU memory %.1f MB (%.1f bytes/splat)\n",
               gsz_input_name(o->file), h.renderer, n, o->width, o->height, o->frames, npath ? "inside views" : "an orbit", t_first,
               (double)bytes / 1e6, per_splat);
        for (int m = 0; m < 2; m++)
            if (run[m])
                printf("  %-8s %.1f FPS (two frames in flight); waiting for each frame: mean %.3f ms, median %.3f ms, p99 %.3f ms "
                       "(preprocess+sort %.3f ms, %s %.3f ms, %llu visible, %llu tile pairs)\n", names[m], tm[m].fps,
                       tm[m].mean, tm[m].median, tm[m].p99, tm[m].sort_ms, m ? "tiles+blend" : "draw", tm[m].draw_ms,
                       (unsigned long long)tm[m].visible, (unsigned long long)tm[m].pairs);
        if (run[0] && run[1]) printf("  compute / raster frame rate: %.2fx\n", tm[1].fps / tm[0].fps);
    }
    rc = 0;
out:
    if (t.fbo) gszv_target_free(&t);
    gszv_renderer_destroy(r);
    gsz_scene_free(&s);
    gszv_headless_destroy(&h);
    return rc;
}

#ifdef GSZV_WITH_GLFW
/* ---- interactive window */
typedef struct {
    opts_t o;
    gszv_renderer *r;
    gsz_scene s;
    gsz_camera *train;
    size_t ntrain;
    float target[3], radius;
    double yaw, pitch, dist;
    float eye_offset[3]; /* fly mode: camera position = orbit eye + offset */
    int dragging, sh, vsync, train_idx, use_train, width, height;
    gszv_mode mode;
    int auto_pending; /* frames left before auto mode picks the faster renderer */
    double auto_ms[2];
    gszv_target fb;
    double lx, ly;
    char msg[256];
    const char *pending_drop;
    char drop_path[4096];
} app_t;

static void up_vec(const app_t *a, float up[3]) {
    up[0] = up[1] = up[2] = 0;
    up[a->o.up_axis] = (float)a->o.up_sign;
}

static void reset_view(app_t *a) {
    gsz_scene_focus(&a->s, a->target, &a->radius);
    a->yaw = 0;
    a->pitch = 0.35;
    a->dist = a->radius * 2.6;
    a->eye_offset[0] = a->eye_offset[1] = a->eye_offset[2] = 0;
    a->use_train = 0;
    if (a->o.placement == GSZ_PLACEMENT_INSIDE && !a->o.cameras && a->ntrain) { /* an indoor scene: back to its first inside view */
        a->train_idx = 0;
        a->use_train = 1;
    }
}

static void current_camera(app_t *a, gsz_camera *cam) {
    if (a->use_train && a->ntrain) {
        *cam = a->train[a->train_idx];
        /* keep the training camera's field of view, fit it to the window */
        float sx = (float)a->width / (float)cam->width;
        cam->fx *= sx; cam->fy *= sx;
        cam->width = a->width; cam->height = a->height;
        cam->cx = 0.5f * (float)a->width; cam->cy = 0.5f * (float)a->height;
        return;
    }
    float up[3];
    up_vec(a, up);
    int u = a->o.up_axis, a1 = (u + 1) % 3, a2 = (u + 2) % 3;
    float eye[3], tgt[3];
    eye[a1] = a->target[a1] + (float)(a->dist * cos(a->pitch) * cos(a->yaw));
    eye[a2] = a->target[a2] + (float)(a->dist * cos(a->pitch) * sin(a->yaw));
    eye[u] = a->target[u] + (float)(a->dist * sin(a->pitch)) * up[u];
    for (int k = 0; k < 3; k++) { eye[k] += a->eye_offset[k]; tgt[k] = a->target[k] + a->eye_offset[k]; }
    gsz_camera_look_at(cam, eye, tgt, up, a->width, a->height, 50);
}

static void on_scroll(GLFWwindow *w, double dx, double dy) {
    (void)dx;
    app_t *a = glfwGetWindowUserPointer(w);
    a->dist *= pow(0.9, dy);
    a->use_train = 0;
}

static void on_drop(GLFWwindow *w, int n, const char **paths) {
    app_t *a = glfwGetWindowUserPointer(w);
    if (n > 0) { snprintf(a->drop_path, sizeof a->drop_path, "%s", paths[0]); a->pending_drop = a->drop_path; }
}

static void screenshot(app_t *a) {
    float *img = malloc((size_t)a->width * (size_t)a->height * 12);
    gszv_target_read(&a->fb, img);
    char name[64];
    snprintf(name, sizeof name, "gszview-%ld.png", (long)time(NULL));
    if (gsz_png_write(name, img, a->width, a->height)) snprintf(a->msg, sizeof a->msg, "screenshot failed: %s", gsz_getErrorDetail());
    else snprintf(a->msg, sizeof a->msg, "saved %s", name);
    free(img);
}

static void on_key(GLFWwindow *w, int key, int sc, int action, int mods) {
    (void)sc; (void)mods;
    if (action != GLFW_PRESS) return;
    app_t *a = glfwGetWindowUserPointer(w);
    if (key == GLFW_KEY_ESCAPE) glfwSetWindowShouldClose(w, 1);
    else if (key == GLFW_KEY_R) reset_view(a);
    else if (key >= GLFW_KEY_0 && key <= GLFW_KEY_3 && !a->ntrain) a->sh = key - GLFW_KEY_0;
    else if (key >= GLFW_KEY_1 && key <= GLFW_KEY_9 && a->ntrain) { a->train_idx = (int)((size_t)(key - GLFW_KEY_1) % a->ntrain); a->use_train = 1; }
    else if (key == GLFW_KEY_PAGE_UP && a->ntrain) { a->train_idx = (int)((a->train_idx + 1) % (int)a->ntrain); a->use_train = 1; }
    else if (key == GLFW_KEY_PAGE_DOWN && a->ntrain) { a->train_idx = (int)((a->train_idx + (int)a->ntrain - 1) % (int)a->ntrain); a->use_train = 1; }
    else if (key == GLFW_KEY_V) { a->vsync = !a->vsync; glfwSwapInterval(a->vsync); }
    else if (key == GLFW_KEY_P) screenshot(a);
    else if (key == GLFW_KEY_H) a->sh = (a->sh + 1) % 4;
    else if (key == GLFW_KEY_C) { a->mode = a->mode == GSZV_RASTER ? GSZV_COMPUTE : GSZV_RASTER; a->auto_pending = 0; }
    else if (key == GLFW_KEY_U) {
        int k = a->o.up_axis * 2 + (a->o.up_sign > 0);
        k = (k + 1) % 6;
        a->o.up_axis = k / 2;
        a->o.up_sign = k % 2 ? 1 : -1;
    }
}

typedef struct {
    const char *path;
    int threads, done, ok;
    gszv_loaded loaded;
    char err[2048];
} load_job;

static void *load_main(void *p) {
    load_job *j = p;
    j->ok = gszv_load_cpu(j->path, j->threads, 0, &j->loaded, j->err, sizeof j->err);
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Decodes on a worker thread while the window shows a loading bar (a sweeping block drawn with
 * scissored clears: nothing to compile), then uploads on this thread. */
static int load_into(app_t *a, GLFWwindow *w, const char *path) {
    load_job j;
    memset(&j, 0, sizeof j);
    j.path = path;
    j.threads = a->o.threads;
    pthread_t tid;
    int threaded = pthread_create(&tid, NULL, load_main, &j) == 0;
    if (!threaded) load_main(&j);
    double t0 = gsz_now();
    char title[600];
    snprintf(title, sizeof title, "gszview - loading %s", gsz_input_name(path));
    glfwSetWindowTitle(w, title);
    while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE)) {
        glfwPollEvents();
        int fw, fh;
        glfwGetFramebufferSize(w, &fw, &fh);
        glBindFramebuffer(GL_FRAMEBUFFER, 0);
        glDisable(GL_SCISSOR_TEST);
        glClearColor(0.08f, 0.08f, 0.1f, 1);
        glClear(GL_COLOR_BUFFER_BIT);
        glEnable(GL_SCISSOR_TEST);
        int bw = fw / 2, bh = fh / 40 + 4, bx = fw / 4, by = fh / 2 - bh / 2;
        glScissor(bx, by, bw, bh);
        glClearColor(0.25f, 0.25f, 0.3f, 1);
        glClear(GL_COLOR_BUFFER_BIT);
        double ph = fmod((gsz_now() - t0) * 0.8, 1.0);
        glScissor(bx + (int)(ph * (bw - bw / 5)), by, bw / 5, bh);
        glClearColor(0.9f, 0.55f, 0.15f, 1);
        glClear(GL_COLOR_BUFFER_BIT);
        glDisable(GL_SCISSOR_TEST);
        glfwSwapBuffers(w);
        struct timespec ts = {0, 15000000};
        nanosleep(&ts, NULL);
    }
    if (threaded) pthread_join(tid, NULL);
    char err[2048];
    if (!j.ok || !gszv_upload_loaded(a->r, &j.loaded, err, sizeof err)) {
        const char *why = j.ok ? err : j.err;
        fprintf(stderr, "gszview: %s\n", why);
        snprintf(a->msg, sizeof a->msg, "cannot open: %.200s", why);
        gszv_loaded_free(&j.loaded);
        return 0;
    }
    gsz_scene_free(&a->s);
    a->s = j.loaded.scene;
    memset(&j.loaded.scene, 0, sizeof j.loaded.scene);
    gszv_loaded_free(&j.loaded);
    a->sh = gszv_renderer_sh_degree(a->r);
    snprintf(a->msg, sizeof a->msg, "opened in %.2f s", gsz_now() - t0);
    reset_view(a);
    if (a->o.placement == GSZ_PLACEMENT_INSIDE && !a->o.cameras) { /* an indoor scene: start inside, its views on the number keys */
        free(a->train);
        a->ntrain = 0;
        if ((a->train = calloc(INSIDE_VIEWS, sizeof *a->train)) && !gsz_cameras_place(&a->s, GSZ_PLACEMENT_INSIDE, INSIDE_VIEWS, 1280, 720, 0, a->train)) {
            a->ntrain = INSIDE_VIEWS;
            a->train_idx = 0;
            a->use_train = 1;
        }
    }
    return 1;
}

static int run_window(const opts_t *o) {
    if (!glfwInit()) { fprintf(stderr, "gszview: no display (GLFW cannot initialise); try --headless\n"); return 1; }
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 4);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 5);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    GLFWwindow *w = glfwCreateWindow(o->width, o->height, "gszview", NULL, NULL);
    if (!w) { fprintf(stderr, "gszview: cannot open an OpenGL 4.5 window\n"); glfwTerminate(); return 1; }
    glfwMakeContextCurrent(w);
    if (!gladLoadGL((GLADloadfunc)glfwGetProcAddress)) { fprintf(stderr, "gszview: cannot load OpenGL\n"); glfwTerminate(); return 1; }
    app_t a;
    memset(&a, 0, sizeof a);
    a.o = *o;
    char err[2048];
    a.r = gszv_renderer_create(err, sizeof err);
    if (!a.r) { fprintf(stderr, "gszview: %s\n", err); glfwTerminate(); return 1; }
    if (o->cameras && gsz_cameras_read(o->cameras, &a.train, &a.ntrain)) fprintf(stderr, "gszview: %s\n", gsz_getErrorDetail());
    if (!load_into(&a, w, o->file)) { gszv_renderer_destroy(a.r); glfwTerminate(); return 1; }
    if (o->sh >= 0) a.sh = o->sh;
    glfwSetWindowUserPointer(w, &a);
    glfwSetScrollCallback(w, on_scroll);
    glfwSetKeyCallback(w, on_key);
    glfwSetDropCallback(w, on_drop);
    glfwSwapInterval(a.vsync = 0);
    a.mode = o->renderer < 0 ? GSZV_RASTER : (gszv_mode)o->renderer;
    a.auto_pending = o->renderer < 0 ? 20 : 0; /* auto: 10 frames of each, then keep the faster */
    double last = gsz_now(), fps_t = last;
    int frames = 0;
    gszv_stats st = {0};
    while (!glfwWindowShouldClose(w)) {
        glfwPollEvents();
        if (a.pending_drop) { load_into(&a, w, a.pending_drop); a.pending_drop = NULL; }
        glfwGetFramebufferSize(w, &a.width, &a.height);
        if (a.width < 1 || a.height < 1) { glfwWaitEvents(); continue; }
        double now = gsz_now(), dt = now - last;
        last = now;
        /* mouse: orbit / pan */
        double x, y;
        glfwGetCursorPos(w, &x, &y);
        int left = glfwGetMouseButton(w, GLFW_MOUSE_BUTTON_LEFT), right = glfwGetMouseButton(w, GLFW_MOUSE_BUTTON_RIGHT) || glfwGetMouseButton(w, GLFW_MOUSE_BUTTON_MIDDLE);
        if ((left || right) && a.dragging) {
            double dx = x - a.lx, dy = y - a.ly;
            if (left) { a.yaw -= dx * 0.005; a.pitch = GSZ_CLAMP(a.pitch + dy * 0.005, -1.5, 1.5); }
            else {
                gsz_camera c;
                current_camera(&a, &c);
                float s = (float)(a.dist / c.fx);
                for (int k = 0; k < 3; k++) a.target[k] += (float)(-dx * s) * c.R[k] + (float)(-dy * s) * c.R[3 + k];
            }
            a.use_train = 0;
        }
        a.dragging = left || right;
        a.lx = x;
        a.ly = y;
        /* keys: fly */
        gsz_camera cam;
        current_camera(&a, &cam);
        float speed = (float)(a.radius * dt * (glfwGetKey(w, GLFW_KEY_LEFT_SHIFT) ? 2.0 : 0.5));
        float mv[3] = {(float)(glfwGetKey(w, GLFW_KEY_D) - glfwGetKey(w, GLFW_KEY_A)), (float)(glfwGetKey(w, GLFW_KEY_E) - glfwGetKey(w, GLFW_KEY_Q)),
                       (float)(glfwGetKey(w, GLFW_KEY_W) - glfwGetKey(w, GLFW_KEY_S))};
        if (mv[0] || mv[1] || mv[2]) {
            for (int k = 0; k < 3; k++) a.eye_offset[k] += speed * (mv[0] * cam.R[k] + mv[1] * cam.R[3 + k] + mv[2] * cam.R[6 + k]);
            a.use_train = 0;
            current_camera(&a, &cam);
        }
        if (a.fb.width != a.width || a.fb.height != a.height) {
            if (a.fb.fbo) gszv_target_free(&a.fb);
            gszv_target_create(&a.fb, a.width, a.height);
        }
        const float bg[3] = {0, 0, 0};
        int sample = frames % 30 == 0 || a.auto_pending > 0;
        if (a.auto_pending > 0) a.mode = a.auto_pending > 10 ? GSZV_RASTER : GSZV_COMPUTE;
        gszv_renderer_draw(a.r, &cam, a.sh, bg, &a.fb, a.mode, sample ? &st : NULL);
        if (a.auto_pending > 0) {
            a.auto_ms[a.mode] += st.preprocess_sort_ms + st.draw_ms;
            if (--a.auto_pending == 0) {
                a.mode = a.auto_ms[GSZV_COMPUTE] < a.auto_ms[GSZV_RASTER] ? GSZV_COMPUTE : GSZV_RASTER;
                snprintf(a.msg, sizeof a.msg, "auto: %s renderer (C switches)", a.mode ? "compute" : "raster");
            }
        }
        glBlitNamedFramebuffer(a.fb.fbo, 0, 0, 0, a.width, a.height, 0, 0, a.width, a.height, GL_COLOR_BUFFER_BIT, GL_NEAREST);
        glfwSwapBuffers(w);
        frames++;
        if (now - fps_t > 0.5) {
            char title[512];
            size_t n = gszv_renderer_count(a.r);
            snprintf(title, sizeof title, "gszview %s | %s | %.0f FPS %.2f ms | sort %.2f ms draw %.2f ms | %zu splats (%u visible) | SH %d | GPU %.0f MB | %s",
                     gsz_input_name(o->file), a.mode ? "compute" : "raster", frames / (now - fps_t), 1000.0 * (now - fps_t) / frames, st.preprocess_sort_ms, st.draw_ms, n, st.visible, a.sh,
                     (double)gszv_renderer_gpu_bytes(a.r) / 1e6, a.msg);
            glfwSetWindowTitle(w, title);
            fps_t = now;
            frames = 0;
        }
    }
    if (a.fb.fbo) gszv_target_free(&a.fb);
    gszv_renderer_destroy(a.r);
    gsz_scene_free(&a.s);
    free(a.train);
    glfwDestroyWindow(w);
    glfwTerminate();
    return 0;
}
#endif

int main(int argc, char **argv) {
    opts_t o;
    if (!parse(argc, argv, &o)) return usage(2);
    int stream = gsz_path_is_stream(o.file); /* "-": standard input */
    FILE *f = stream ? NULL : fopen(o.file, "rb");
    if (!stream && !f) { fprintf(stderr, "gszview: %s: cannot open\n", o.file); return 1; }
    if (f) fclose(f);
    gsz_cli_catch_interrupts(); /* a screenshot being written */
    if (o.headless || o.screenshot) return run_headless(&o);
#ifdef GSZV_WITH_GLFW
    return run_window(&o);
#else
    fprintf(stderr, "gszview: built without GLFW: use --headless or --screenshot\n");
    return 1;
#endif
}
