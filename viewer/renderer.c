/* The splat renderer: compact per-splat records (48 bytes: position, half-float scale, opacity and
 * quaternion, colour and SH indices) with colour and SH tables — for a .gsz these are its codebooks,
 * decoded in the shaders, never expanded per Gaussian. A frame: preprocess (compute), GPU radix sort,
 * one instanced draw of quads, back to front. */
#include "viewer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char gszv_src_preprocess_comp[], gszv_src_splat_vert[], gszv_src_splat_frag[], gszv_src_tile_scan_comp[],
    gszv_src_tile_emit_comp[], gszv_src_tile_ranges_comp[], gszv_src_tile_blend_comp[];

struct gszv_renderer {
    GLuint preprocess, raster, vao, tile_scan, tile_emit, tile_ranges, tile_blend;
    GLuint splats, dc, sh, projected, counter, keys, vals;
    gszv_sort sort;
    /* compute rasteriser: per-splat tile offsets, (tile, splat) pairs and their sort, tile ranges */
    GLuint block_sums, offsets, pair_counter, pair_keys, pair_vals, ranges, tile_count;
    gszv_sort pair_sort;
    size_t pair_capacity, ranges_size;
    size_t count, gpu_bytes;
    int sh_degree, sh_offset[3];
    GLuint queries[3];
};

gszv_renderer *gszv_renderer_create(char *err, size_t errlen) {
    gszv_renderer *r = calloc(1, sizeof *r);
    if (!r) { snprintf(err, errlen, "out of memory"); return NULL; }
    r->preprocess = gszv_compute_program("preprocess.comp", gszv_src_preprocess_comp, err, errlen);
    r->raster = r->preprocess ? gszv_raster_program(gszv_src_splat_vert, gszv_src_splat_frag, err, errlen) : 0;
    r->tile_scan = r->raster ? gszv_compute_program("tile_scan.comp", gszv_src_tile_scan_comp, err, errlen) : 0;
    r->tile_emit = r->tile_scan ? gszv_compute_program("tile_emit.comp", gszv_src_tile_emit_comp, err, errlen) : 0;
    r->tile_ranges = r->tile_emit ? gszv_compute_program("tile_ranges.comp", gszv_src_tile_ranges_comp, err, errlen) : 0;
    r->tile_blend = r->tile_ranges ? gszv_compute_program("tile_blend.comp", gszv_src_tile_blend_comp, err, errlen) : 0;
    if (!r->tile_blend) { gszv_renderer_destroy(r); return NULL; }
    glCreateVertexArrays(1, &r->vao);
    glGenQueries(3, r->queries);
    return r;
}

static void free_pairs(gszv_renderer *r) {
    GLuint b[2] = {r->pair_keys, r->pair_vals};
    glDeleteBuffers(2, b);
    r->pair_keys = r->pair_vals = 0;
    if (r->pair_sort.hist) gszv_sort_free(&r->pair_sort);
    r->pair_capacity = 0;
}

static void free_scene(gszv_renderer *r) {
    GLuint b[12] = {r->splats, r->dc, r->sh, r->projected, r->counter, r->keys, r->vals, r->block_sums, r->offsets, r->pair_counter, r->ranges, r->tile_count};
    glDeleteBuffers(12, b);
    r->splats = r->dc = r->sh = r->projected = r->counter = r->keys = r->vals = 0;
    r->block_sums = r->offsets = r->pair_counter = r->ranges = r->tile_count = 0;
    r->ranges_size = 0;
    if (r->sort.hist) gszv_sort_free(&r->sort);
    free_pairs(r);
    r->count = r->gpu_bytes = 0;
}

void gszv_renderer_destroy(gszv_renderer *r) {
    if (!r) return;
    free_scene(r);
    if (r->preprocess) glDeleteProgram(r->preprocess);
    if (r->raster) glDeleteProgram(r->raster);
    GLuint progs[4] = {r->tile_scan, r->tile_emit, r->tile_ranges, r->tile_blend};
    for (int i = 0; i < 4; i++)
        if (progs[i]) glDeleteProgram(progs[i]);
    if (r->vao) glDeleteVertexArrays(1, &r->vao);
    if (r->queries[0]) glDeleteQueries(3, r->queries);
    free(r);
}

static GLuint make_buffer(const void *data, size_t bytes, size_t *total) {
    GLuint b;
    glCreateBuffers(1, &b);
    glNamedBufferStorage(b, (GLsizeiptr)(bytes ? bytes : 16), data, GL_DYNAMIC_STORAGE_BIT);
    *total += bytes;
    return b;
}

static uint32_t pack_half2(float a, float b) { return (uint32_t)gsz_float_to_half(a) | (uint32_t)gsz_float_to_half(b) << 16; }

/* Per-splat record: u0 = position bits + degree; u1 = halfs (scale xy, scale z + opacity, q wx, q yz);
 * u2 = colour index, SH index. */
static void pack_splat(uint32_t *o, const float *pos, int degree, const float *log_scale, float opacity, const float *q,
                       uint32_t dc_index, uint32_t sh_index) {
    memcpy(o, pos, 12);
    o[3] = (uint32_t)degree;
    o[4] = pack_half2(log_scale[0], log_scale[1]);
    o[5] = pack_half2(log_scale[2], opacity);
    o[6] = pack_half2(q[0], q[1]);
    o[7] = pack_half2(q[2], q[3]);
    o[8] = dc_index;
    o[9] = sh_index;
    o[10] = o[11] = 0;
}

static int finish_upload(gszv_renderer *r, size_t n, uint32_t *rec, uint32_t *dc, size_t ndc, uint16_t *sh, size_t nsh_halfs,
                         char *err, size_t errlen) {
    r->splats = make_buffer(rec, n * 48, &r->gpu_bytes);
    r->dc = make_buffer(dc, ndc * 8, &r->gpu_bytes);
    r->sh = make_buffer(sh, ((nsh_halfs + 1) / 2 + 1) * 4, &r->gpu_bytes); /* sh holds nsh_halfs + 4 halfs */
    /* per-frame work buffers: projected splats, sort keys and values */
    size_t dummy = 0;
    r->projected = make_buffer(NULL, n * 64, &dummy);
    r->counter = make_buffer(NULL, 64, &dummy);
    r->keys = make_buffer(NULL, n * 4, &dummy);
    r->vals = make_buffer(NULL, n * 4, &dummy);
    r->block_sums = make_buffer(NULL, (n / 4096 + 2) * 4, &dummy);
    r->offsets = make_buffer(NULL, n * 4, &dummy);
    r->tile_count = make_buffer(NULL, n * 4, &dummy);
    r->pair_counter = make_buffer(NULL, 64, &dummy);
    r->count = n;
    if (!gszv_sort_init(&r->sort, n, err, errlen)) return 0;
    GLenum e = glGetError();
    if (e != GL_NO_ERROR) { snprintf(err, errlen, "GPU upload failed (GL error 0x%x; out of GPU memory?)", e); return 0; }
    return 1;
}

int gszv_renderer_upload_indexed(gszv_renderer *r, const gsz_indexed *x, char *err, size_t errlen) {
    free_scene(r);
    size_t n = x->count;
    uint32_t *rec = gsz_malloc_array(n, 48), *dc = gsz_malloc_array((size_t)x->codebook_size[2], 8);
    size_t halfs = 0;
    for (int d = 1; d <= 3; d++) {
        r->sh_offset[d - 1] = (int)halfs;
        halfs += (size_t)x->codebook_size[2 + d] * (size_t)gsz_shRestCount(d) * 3;
    }
    uint16_t *sh = calloc(halfs + 4, 2); /* finish_upload rounds up to whole words, plus one */
    if (!rec || !dc || !sh) { free(rec); free(dc); free(sh); snprintf(err, errlen, "out of memory"); return 0; }
    for (size_t i = 0; i < n; i++)
        pack_splat(rec + 12 * i, x->pos + 3 * i, x->degree[i], x->codebook[0] + 3 * (size_t)x->index[0][i], x->opacity[i],
                   x->codebook[1] + 4 * (size_t)x->index[1][i], x->index[2][i], x->index[3][i]);
    for (int j = 0; j < x->codebook_size[2]; j++) {
        const float *c = x->codebook[2] + 3 * j;
        dc[2 * j] = pack_half2(c[0], c[1]);
        dc[2 * j + 1] = pack_half2(c[2], 0);
    }
    for (int d = 1; d <= 3; d++) {
        size_t m = (size_t)x->codebook_size[2 + d] * (size_t)gsz_shRestCount(d) * 3;
        for (size_t k = 0; k < m; k++) sh[(size_t)r->sh_offset[d - 1] + k] = gsz_float_to_half(x->codebook[2 + d][k]);
    }
    r->sh_degree = x->sh_degree;
    int ok = finish_upload(r, n, rec, dc, (size_t)x->codebook_size[2], sh, halfs, err, errlen);
    free(rec); free(dc); free(sh);
    return ok;
}

int gszv_renderer_upload_scene(gszv_renderer *r, const gsz_scene *s, char *err, size_t errlen) {
    free_scene(r);
    size_t n = s->count, nr3 = (size_t)gsz_shRestCount(s->sh_degree) * 3;
    uint32_t *rec = gsz_malloc_array(n, 48), *dc = gsz_malloc_array(n, 8);
    uint16_t *sh = gsz_calloc_array(n * nr3 + 4, 2); /* see finish_upload */
    if (!rec || !dc || !sh) { free(rec); free(dc); free(sh); snprintf(err, errlen, "out of memory"); return 0; }
    for (int d = 0; d < 3; d++) r->sh_offset[d] = 0; /* one table, of the scene's degree */
    for (size_t i = 0; i < n; i++) {
        float q[4];
        gsz_quat_canonical(s->rot + 4 * i, q);
        pack_splat(rec + 12 * i, s->pos + 3 * i, s->sh_degree, s->scale + 3 * i, gsz_sigmoid(s->opacity[i]), q, (uint32_t)i, (uint32_t)i);
        dc[2 * i] = pack_half2(s->sh_dc[3 * i], s->sh_dc[3 * i + 1]);
        dc[2 * i + 1] = pack_half2(s->sh_dc[3 * i + 2], 0);
    }
    for (size_t k = 0; k < n * nr3; k++) sh[k] = gsz_float_to_half(s->sh_rest[k]);
    r->sh_degree = s->sh_degree;
    int ok = finish_upload(r, n, rec, dc, n, sh, n * nr3, err, errlen);
    free(rec); free(dc); free(sh);
    return ok;
}

size_t gszv_renderer_gpu_bytes(const gszv_renderer *r) { return r->gpu_bytes; }
size_t gszv_renderer_count(const gszv_renderer *r) { return r->count; }
int gszv_renderer_sh_degree(const gszv_renderer *r) { return r->sh_degree; }

static int ensure_pairs(gszv_renderer *r, size_t need) {
    if (need <= r->pair_capacity) return 1;
    free_pairs(r);
    size_t cap = need + need / 2 + 65536, dummy = 0;
    if (cap > ((size_t)1 << 30)) cap = (size_t)1 << 30;
    r->pair_keys = make_buffer(NULL, cap * 4, &dummy);
    r->pair_vals = make_buffer(NULL, cap * 4, &dummy);
    char err[256];
    if (!gszv_sort_init(&r->pair_sort, cap, err, sizeof err)) return 0;
    r->pair_capacity = cap;
    return 1;
}

static void set_uniforms(GLuint p, const gszv_renderer *r, const gsz_camera *cam, int max_degree) {
    glUniform1ui(glGetUniformLocation(p, "u_count"), (GLuint)r->count);
    glUniformMatrix3fv(glGetUniformLocation(p, "u_R"), 1, GL_TRUE, cam->R);
    glUniform3fv(glGetUniformLocation(p, "u_t"), 1, cam->t);
    glUniform3fv(glGetUniformLocation(p, "u_campos"), 1, cam->center);
    glUniform4f(glGetUniformLocation(p, "u_intr"), cam->fx, cam->fy, cam->cx, cam->cy);
    glUniform2f(glGetUniformLocation(p, "u_size"), (float)cam->width, (float)cam->height);
    glUniform1i(glGetUniformLocation(p, "u_max_degree"), max_degree < 0 ? 3 : max_degree);
    glUniform4i(glGetUniformLocation(p, "u_sh_offset"), r->sh_offset[0], r->sh_offset[1], r->sh_offset[2], 0);
}

/* GSZV_PROFILE=1: stage times (glFinish between stages, so slower overall) on stderr, every 50th frame. */
static double prof_t[8];
static int prof_n, prof_frame;
static void prof_mark(int stage) {
    static const char *on;
    if (!on) on = getenv("GSZV_PROFILE") ? "1" : "0";
    if (on[0] != '1') return;
    glFinish();
    prof_t[stage] = gsz_now();
    if (stage > prof_n) prof_n = stage;
}
static void prof_report(void) {
    if (!prof_n || ++prof_frame % 50) { prof_n = 0; return; }
    static const char *names[] = {"start", "preprocess", "depth sort", "tile scan", "emit", "pair sort", "ranges", "blend"};
    for (int i = 1; i <= prof_n; i++) fprintf(stderr, "%s %.3f ms%s", names[i], (prof_t[i] - prof_t[i - 1]) * 1e3, i < prof_n ? ", " : "\n");
    prof_n = 0;
}

/* The tile rasteriser of the 3DGS paper: offsets of each depth-sorted splat's tiles, (tile, splat)
 * pairs in depth order, a stable sort by tile, tile ranges, then one work group per tile. */
static void draw_compute(gszv_renderer *r, const gsz_camera *cam, const float bg[3], const gszv_target *t) {
    GLuint grid_x = (GLuint)(cam->width + 15) / 16, grid_y = (GLuint)(cam->height + 15) / 16;
    size_t ntiles = (size_t)grid_x * grid_y;
    if (ntiles > r->ranges_size) {
        size_t dummy = 0;
        glDeleteBuffers(1, &r->ranges);
        r->ranges = make_buffer(NULL, ntiles * 8, &dummy);
        r->ranges_size = ntiles;
    }
    if (!r->pair_capacity && !ensure_pairs(r, r->count * 4)) return;
    GLuint groups = (GLuint)((r->count + 4095) / 4096);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 4, r->counter);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 12, r->block_sums);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 13, r->offsets);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 14, r->pair_counter);
    glUseProgram(r->tile_scan);
    glUniform1ui(glGetUniformLocation(r->tile_scan, "u_capacity"), (GLuint)r->pair_capacity);
    for (GLuint phase = 0; phase < 3; phase++) {
        glUniform1ui(glGetUniformLocation(r->tile_scan, "u_phase"), phase);
        glDispatchCompute(phase == 1 ? 1 : groups, 1, 1);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
    }
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 15, r->pair_keys);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 16, r->pair_vals);
    glUseProgram(r->tile_emit);
    glUniform1ui(glGetUniformLocation(r->tile_emit, "u_grid_x"), grid_x);
    glUniform1ui(glGetUniformLocation(r->tile_emit, "u_capacity"), (GLuint)r->pair_capacity);
    prof_mark(3);
    glDispatchCompute((GLuint)((r->count + 255) / 256), 1, 1);
    glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
    prof_mark(4);
    int passes = ntiles <= 65536 ? 2 : 4;
    gszv_sort_run(&r->pair_sort, r->pair_counter, r->pair_keys, r->pair_vals, passes);
    prof_mark(5);
    glClearNamedBufferSubData(r->ranges, GL_RG32UI, 0, (GLsizeiptr)(ntiles * 8), GL_RG_INTEGER, GL_UNSIGNED_INT, NULL);
    /* the sort rebinds only 4 and 7-11: the pair buffers (14-16) and projected splats (3) stay bound */
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 17, r->ranges);
    glUseProgram(r->tile_ranges);
    glUniform1ui(glGetUniformLocation(r->tile_ranges, "u_ntiles"), (GLuint)ntiles);
    glUniform1ui(glGetUniformLocation(r->tile_ranges, "u_block"), GSZV_SORT_BLOCK);
    glBindBuffer(GL_DISPATCH_INDIRECT_BUFFER, r->pair_counter);
    glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT | GL_COMMAND_BARRIER_BIT);
    glDispatchComputeIndirect(16);
    glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
    prof_mark(6);
    glUseProgram(r->tile_blend);
    glUniform2i(glGetUniformLocation(r->tile_blend, "u_isize"), cam->width, cam->height);
    glUniform1ui(glGetUniformLocation(r->tile_blend, "u_grid_x"), grid_x);
    glUniform3fv(glGetUniformLocation(r->tile_blend, "u_bg"), 1, bg);
    glBindImageTexture(0, t->color, 0, GL_FALSE, 0, GL_WRITE_ONLY, GL_RGBA8);
    glDispatchCompute(grid_x, grid_y, 1);
    glMemoryBarrier(GL_SHADER_IMAGE_ACCESS_BARRIER_BIT | GL_TEXTURE_FETCH_BARRIER_BIT | GL_FRAMEBUFFER_BARRIER_BIT);
    prof_mark(7);
    prof_report();
}

void gszv_renderer_draw(gszv_renderer *r, const gsz_camera *cam, int max_degree, const float bg[3], const gszv_target *t,
                        gszv_mode mode, gszv_stats *stats) {
    glBindFramebuffer(GL_FRAMEBUFFER, t->fbo);
    glViewport(0, 0, cam->width, cam->height);
    glClearColor(bg[0], bg[1], bg[2], 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    if (!r->count) return;
    if (stats) glBeginQuery(GL_TIME_ELAPSED, r->queries[0]);
    static const uint32_t zero[16] = {0};
    glNamedBufferSubData(r->counter, 0, sizeof zero, zero);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 0, r->splats);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 1, r->dc);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 2, r->sh);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 3, r->projected);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 4, r->counter);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 5, r->keys);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 6, r->vals);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 18, r->tile_count);
    glUseProgram(r->preprocess);
    set_uniforms(r->preprocess, r, cam, max_degree);
    glUniform1i(glGetUniformLocation(r->preprocess, "u_tiles"), mode == GSZV_COMPUTE);
    prof_mark(0);
    glDispatchCompute((GLuint)((r->count + 255) / 256), 1, 1);
    glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
    prof_mark(1);
    gszv_sort_run(&r->sort, r->counter, r->keys, r->vals, 4);
    prof_mark(2);
    if (stats) { glEndQuery(GL_TIME_ELAPSED); glBeginQuery(GL_TIME_ELAPSED, r->queries[1]); }
    glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT | GL_COMMAND_BARRIER_BIT);
    if (mode == GSZV_COMPUTE) {
        draw_compute(r, cam, bg, t);
    } else {
        glUseProgram(r->raster);
        glUniform2f(glGetUniformLocation(r->raster, "u_size"), (float)cam->width, (float)cam->height);
        glBindVertexArray(r->vao);
        glEnable(GL_BLEND);
        glBlendFunc(GL_ONE, GL_ONE_MINUS_SRC_ALPHA);
        glDisable(GL_DEPTH_TEST);
        glDisable(GL_CULL_FACE);
        glBindBuffer(GL_DRAW_INDIRECT_BUFFER, r->counter);
        glDrawArraysIndirect(GL_TRIANGLE_STRIP, (const void *)(uintptr_t)32);
        glDisable(GL_BLEND);
    }
    if (stats) {
        stats->pairs = 0;
        glEndQuery(GL_TIME_ELAPSED);
        GLuint64 a = 0, b = 0;
        glGetQueryObjectui64v(r->queries[0], GL_QUERY_RESULT, &a);
        glGetQueryObjectui64v(r->queries[1], GL_QUERY_RESULT, &b);
        stats->preprocess_sort_ms = (double)a * 1e-6;
        stats->draw_ms = (double)b * 1e-6;
        glGetNamedBufferSubData(r->counter, 0, 4, &stats->visible);
    }
    if (mode == GSZV_COMPUTE && (stats || r->pair_capacity < r->count * 4 + 1)) {
        /* grow the pair buffers when the last frame needed more (read back only on timed frames) */
        uint32_t total[2] = {0, 0};
        glGetNamedBufferSubData(r->pair_counter, 0, 8, total);
        if (stats) stats->pairs = total[1];
        if (total[1] > r->pair_capacity) ensure_pairs(r, total[1]);
    }
}

/* Renders until the pair buffers fit (a few frames at most); used before timing and for screenshots. */
void gszv_renderer_settle(gszv_renderer *r, const gsz_camera *cam, int max_degree, const float bg[3], const gszv_target *t, gszv_mode mode) {
    for (int i = 0; i < 4; i++) {
        gszv_renderer_draw(r, cam, max_degree, bg, t, mode, NULL);
        if (mode != GSZV_COMPUTE) return;
        uint32_t total[2] = {0, 0};
        glGetNamedBufferSubData(r->pair_counter, 0, 8, total);
        if (total[1] <= r->pair_capacity) return;
        ensure_pairs(r, total[1]);
    }
}

int gszv_target_create(gszv_target *t, int w, int h) {
    memset(t, 0, sizeof *t);
    t->width = w;
    t->height = h;
    glCreateTextures(GL_TEXTURE_2D, 1, &t->color);
    /* 8 bits a channel, like a window's framebuffer: the raster path blends 17% faster than at 16F on
     * the H200 (docs/BENCHMARKS.md) and the compute path writes each pixel once */
    glTextureStorage2D(t->color, 1, GL_RGBA8, w, h);
    glCreateFramebuffers(1, &t->fbo);
    glNamedFramebufferTexture(t->fbo, GL_COLOR_ATTACHMENT0, t->color, 0);
    return glCheckNamedFramebufferStatus(t->fbo, GL_FRAMEBUFFER) == GL_FRAMEBUFFER_COMPLETE;
}

void gszv_target_free(gszv_target *t) {
    glDeleteFramebuffers(1, &t->fbo);
    glDeleteTextures(1, &t->color);
    memset(t, 0, sizeof *t);
}

void gszv_target_read(const gszv_target *t, float *rgb) {
    size_t w = (size_t)t->width, h = (size_t)t->height;
    float *rgba = malloc(w * h * 16);
    if (!rgba) return;
    glGetTextureImage(t->color, 0, GL_RGBA, GL_FLOAT, (GLsizei)(w * h * 16), rgba);
    for (size_t y = 0; y < h; y++) /* GL rows go bottom-up */
        for (size_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float v = rgba[((h - 1 - y) * w + x) * 4 + (size_t)c];
                rgb[(y * w + x) * 3 + (size_t)c] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
    free(rgba);
}

int gszv_load_cpu(const char *path, int threads, int full, gszv_loaded *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    void *data;
    size_t size;
    gsz_format f; /* a .gsz, standard input or a pipe read whole */
    if (gsz_input_read(path, &data, &size, &f)) { snprintf(err, errlen, "%s", gsz_getErrorDetail()); return 0; }
    if (f == GSZ_FORMAT_GSZ) {
        gsz_error e = gsz_decode_indexed(data, size, threads, &out->x);
        if (!e && full) e = gsz_decompress(data, size, &out->scene, threads);
        free(data);
        if (e) { gszv_loaded_free(out); snprintf(err, errlen, "%s: %s", gsz_input_name(path), gsz_getErrorDetail()); return 0; }
        out->is_gsz = 1;
        if (!full) { /* positions, opacity logits and log-scales: all that framing the view needs (gsz_scene_focus) */
            size_t n = out->x.count;
            out->scene.pos = gsz_malloc_array(n, 3 * sizeof(float));
            out->scene.opacity = gsz_malloc_array(n, sizeof(float));
            out->scene.scale = gsz_malloc_array(n, 3 * sizeof(float));
            if (!out->scene.pos || !out->scene.opacity || !out->scene.scale) { gszv_loaded_free(out); snprintf(err, errlen, "out of memory"); return 0; }
            gsz_indexed_gather(&out->x, &out->scene);
        }
        return 1;
    }
    gsz_error e = data ? gsz_scene_load_memory(data, size, gsz_input_name(path), threads, &out->scene, NULL)
                       : gsz_scene_load(path, &out->scene, threads, NULL); /* .ply, .splat or .spz */
    free(data);
    if (e) { snprintf(err, errlen, "%s", gsz_getErrorDetail()); return 0; }
    return 1;
}

int gszv_upload_loaded(gszv_renderer *r, const gszv_loaded *l, char *err, size_t errlen) {
    return l->is_gsz ? gszv_renderer_upload_indexed(r, &l->x, err, errlen) : gszv_renderer_upload_scene(r, &l->scene, err, errlen);
}

void gszv_loaded_free(gszv_loaded *l) {
    if (l->is_gsz) gsz_indexed_free(&l->x);
    gsz_scene_free(&l->scene);
    memset(l, 0, sizeof *l);
}

int gszv_load_file(gszv_renderer *r, const char *path, int threads, gsz_scene *keep, int full, char *err, size_t errlen) {
    gszv_loaded l;
    if (!gszv_load_cpu(path, threads, full, &l, err, errlen)) return 0;
    int ok = gszv_upload_loaded(r, &l, err, errlen);
    if (ok && keep) {
        *keep = l.scene;
        memset(&l.scene, 0, sizeof l.scene);
    }
    gszv_loaded_free(&l);
    return ok;
}
