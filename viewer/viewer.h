/* gszview internals: GL context (EGL headless or GLFW window), GPU sort, splat renderer. */
#ifndef GSZV_VIEWER_H
#define GSZV_VIEWER_H

#include <glad/gl.h>
#include <stddef.h>
#include "gsz.h"
#include "../codec/codec.h"

/* ---- context.c */
typedef struct {
    void *display, *context; /* EGL */
    char renderer[256];
} gszv_headless;
/* Creates a surfaceless OpenGL 4.5 core context (NVIDIA EGL device, Mesa surfaceless, or the default
 * display) and loads GL. Returns 0 and fills err on failure. */
int gszv_headless_create(gszv_headless *h, char *err, size_t errlen);
void gszv_headless_destroy(gszv_headless *h);

/* ---- shader.c */
GLuint gszv_compute_program(const char *name, const char *body, char *err, size_t errlen);
GLuint gszv_raster_program(const char *vs, const char *fs, char *err, size_t errlen);

/* ---- sort.c: stable LSD radix sort of (key, value) pairs on the GPU, 8 bits a pass.
 * The count lives in a GPU buffer (the Counter block of shaders/common.glsl), so no CPU round trip. */
#define GSZV_SORT_BLOCK 4096u /* keys per work group (1024 and 2048 measured no faster on the H200) */
typedef struct {
    GLuint hist, scan, scatter, indirect;
    GLuint keys_b, vals_b, hist_buf;
    size_t capacity;
} gszv_sort;
int gszv_sort_init(gszv_sort *s, size_t capacity, char *err, size_t errlen);
void gszv_sort_free(gszv_sort *s);
/* Sorts keys_a/vals_a in place over counter.visible entries on the low 8*passes bits (passes even);
 * sizes the indirect arguments first. */
void gszv_sort_run(gszv_sort *s, GLuint counter, GLuint keys_a, GLuint vals_a, int passes);
/* Test helper: sorts n host keys (values = original positions) and reads them back. */
int gszv_sort_host(gszv_sort *s, const uint32_t *keys, uint32_t *out_keys, uint32_t *out_vals, size_t n);

/* ---- renderer.c */
typedef struct {
    double preprocess_sort_ms, draw_ms; /* GPU time of the last frame, when timing is on */
    uint32_t visible, pairs; /* pairs: (tile, splat) pairs of the compute rasteriser */
} gszv_stats;

typedef struct gszv_renderer gszv_renderer;
gszv_renderer *gszv_renderer_create(char *err, size_t errlen);
void gszv_renderer_destroy(gszv_renderer *r);
/* Uploads a scene: a decoded .gsz in indexed form (codebooks stay codebooks) or a plain scene. */
int gszv_renderer_upload_indexed(gszv_renderer *r, const gsz_indexed *x, char *err, size_t errlen);
int gszv_renderer_upload_scene(gszv_renderer *r, const gsz_scene *s, char *err, size_t errlen);
size_t gszv_renderer_gpu_bytes(const gszv_renderer *r);
size_t gszv_renderer_count(const gszv_renderer *r);
int gszv_renderer_sh_degree(const gszv_renderer *r);
/* An offscreen RGBA8 target and its readback as float RGB (top row first). */
typedef struct { GLuint fbo, color; int width, height; } gszv_target;

/* Two ways to form the image: instanced quads through the hardware rasteriser, or the 3DGS tile
 * rasteriser in compute shaders (exactly the reference's blending; faster where the rasteriser is weak). */
typedef enum { GSZV_RASTER = 0, GSZV_COMPUTE = 1 } gszv_mode;

/* Renders into target t (the camera's size). max_degree < 0 = all. With stats non-NULL, measures GPU
 * time with timer queries (waits for them). */
void gszv_renderer_draw(gszv_renderer *r, const gsz_camera *cam, int max_degree, const float bg[3], const gszv_target *t,
                        gszv_mode mode, gszv_stats *stats);
/* Draws until the compute rasteriser's pair buffers fit this view (reads the pair count back). */
void gszv_renderer_settle(gszv_renderer *r, const gsz_camera *cam, int max_degree, const float bg[3], const gszv_target *t, gszv_mode mode);
int gszv_target_create(gszv_target *t, int width, int height);
void gszv_target_free(gszv_target *t);
void gszv_target_read(const gszv_target *t, float *rgb);

/* Loading in two halves, so that a window can decode on a worker thread and upload on its GL thread.
 * x is filled for a .gsz (uploaded as codebooks); scene always, but for a .gsz without `full` only its
 * count, positions and opacities (what framing the view needs: no second, expanded decode). */
typedef struct {
    int is_gsz;
    gsz_indexed x;
    gsz_scene scene;
} gszv_loaded;
int gszv_load_cpu(const char *path, int threads, int full, gszv_loaded *out, char *err, size_t errlen); /* no GL */
int gszv_upload_loaded(gszv_renderer *r, const gszv_loaded *l, char *err, size_t errlen);
void gszv_loaded_free(gszv_loaded *l);
/* Both halves: loads .gsz (indexed upload) or .ply into the renderer; keep_scene receives the scene
 * (complete with `full`). */
int gszv_load_file(gszv_renderer *r, const char *path, int threads, gsz_scene *keep_scene, int full, char *err, size_t errlen);
#endif
