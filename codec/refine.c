/* Fine-tuning: after vector quantisation, every codebook entry (scale, rotation, colour, SH) and every
 * Gaussian's opacity are fitted to renders of the original scene: the quantisation-aware fine-tuning of
 * Niedermayr et al. (CVPR 2024) in distillation form, so no training images are needed (the targets are
 * renders of the input from the significance views). Adam on one view per step, as in 3DGS training;
 * the renderer's backward pass gives each Gaussian's gradient and an entry gets the sum over the
 * Gaussians that use it. Opacities keep a float latent but render at the file's precision
 * (straight-through), so what was fitted is what the file holds. The index streams stay as they are;
 * the codebooks and the opacity stream are rewritten. Sums run in Gaussian order and the renderer's are
 * fixed point, so the result is the same for any thread count. */
#include "codec.h"

#include <string.h>

enum { NPARAM = 7 }; /* six codebooks (scale, rotation, colour, sh1..3), then the opacities */

typedef struct {
    float *val;        /* the values (codebook entries or opacity logits), updated in place */
    size_t count;      /* values */
    int k, dim, bits;  /* codebooks: entries, values per entry, stored bits per value */
    float lr;
    float *m, *v;      /* Adam moments */
    double *g;         /* gradient of this step */
} param;

typedef struct {
    gsz_scene *d;             /* geometry and opacity as the file will hold them (SH degree 0) */
    float *colors;            /* this view's colour of every Gaussian */
    const gsz_render_grad *G;
    const gsz_indexed *x;
    param *P;
    const gsz_camera *cam;
    int bits;               /* opacity bits of the file */
    float level_logit[256]; /* each stored opacity level as the decoder gives it, as a logit */
} ctx;

static void view_dir(const float *pos, const gsz_camera *cam, float dir[3]) {
    for (int k = 0; k < 3; k++) dir[k] = pos[k] - cam->center[k];
    float l = sqrtf(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
    if (l > 0)
        for (int k = 0; k < 3; k++) dir[k] /= l;
}

/* The decoded scene from the current parameters. */
static void apply_range(void *p, size_t b, size_t e, int w) {
    (void)w;
    ctx *c = p;
    const gsz_indexed *x = c->x;
    const param *P = c->P;
    gsz_scene *d = c->d;
    for (size_t i = b; i < e; i++) {
        memcpy(d->scale + 3 * i, P[0].val + 3 * (size_t)x->index[0][i], 12);
        memcpy(d->rot + 4 * i, P[1].val + 4 * (size_t)x->index[1][i], 16);
        d->opacity[i] = c->level_logit[gsz_opacity_quantise(P[6].val[i], c->bits)];
    }
}

/* Every Gaussian's colour in the current view, from its colour and SH entries. */
static void color_range(void *p, size_t b, size_t e, int w) {
    (void)w;
    ctx *c = p;
    const gsz_indexed *x = c->x;
    const param *P = c->P;
    for (size_t i = b; i < e; i++) {
        int deg = x->degree ? x->degree[i] : 0;
        float dir[3], basis[16];
        view_dir(x->pos + 3 * i, c->cam, dir);
        gsz_sh_basis(deg, dir, basis);
        gsz_sh_color(deg, basis, P[2].val + 3 * (size_t)x->index[2][i], deg ? P[2 + deg].val + (size_t)P[2 + deg].dim * x->index[3][i] : NULL,
                     c->colors + 3 * i);
    }
}

/* Per-Gaussian gradients summed into the entries their indices select, one parameter group per task
 * (each in Gaussian order, so the sums do not depend on the threads). */
static void gather_range(void *p, size_t b, size_t e, int w) {
    (void)w;
    ctx *c = p;
    const gsz_indexed *x = c->x;
    const gsz_render_grad *G = c->G;
    size_t n = x->count;
    for (size_t q = b; q < e; q++) {
        param *P = &c->P[q];
        if (!P->count) continue;
        memset(P->g, 0, P->count * sizeof(double));
        if (q == 6) {
            for (size_t i = 0; i < n; i++) P->g[i] = G->opacity[i];
            continue;
        }
        size_t dim = (size_t)P->dim;
        const uint32_t *idx = x->index[q < 3 ? q : 3];
        for (size_t i = 0; i < n; i++) {
            double *g = P->g + dim * idx[i];
            if (q == 0) for (int k = 0; k < 3; k++) g[k] += G->scale[3 * i + (size_t)k];
            else if (q == 1) for (int k = 0; k < 4; k++) g[k] += G->rot[4 * i + (size_t)k];
            else if (q == 2) for (int k = 0; k < 3; k++) g[k] += GSZ_SH_C0 * G->rgb[3 * i + (size_t)k];
            else {
                const float *gc = G->rgb + 3 * i;
                if (!x->degree || x->degree[i] != (int)q - 2 || (gc[0] == 0 && gc[1] == 0 && gc[2] == 0)) continue;
                float dir[3], basis[16];
                view_dir(x->pos + 3 * i, c->cam, dir);
                gsz_sh_basis((int)q - 2, dir, basis);
                for (size_t l = 0; l < dim / 3; l++)
                    for (int ch = 0; ch < 3; ch++) g[l * 3 + (size_t)ch] += basis[l + 1] * gc[ch];
            }
        }
    }
}

static void adam(param *P, int t) {
    const float b1 = 0.9f, b2 = 0.999f;
    float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    for (size_t j = 0; j < P->count; j++) {
        float g = (float)P->g[j];
        P->m[j] = b1 * P->m[j] + (1 - b1) * g;
        P->v[j] = b2 * P->v[j] + (1 - b2) * g * g;
        P->val[j] -= P->lr * (P->m[j] / c1) / (sqrtf(P->v[j] / c2) + 1e-15f);
    }
}

gsz_error gsz_refine(const gsz_scene *original, const gsz_camera *views, size_t nviews, int steps, int threads, int level,
                     gsz_progress_fn progress, void *user, uint8_t **file, size_t *size) {
    if (steps <= 0 || nviews == 0) return GSZ_OK;
    gsz_indexed x;
    gsz_error err = gsz_decode_indexed(*file, *size, threads, &x);
    if (err) return err;
    gsz_scene d = {0};
    gsz_render_grad G = {0};
    float *colors = NULL;
    gsz_container C;
    param P[NPARAM];
    memset(P, 0, sizeof P);
    /* Targets (renders of the input) are kept as unorm16 (error 2^-17) up to an eighth of the input
     * scene's bytes and rendered again at each later visit beyond that, so that with many steps they do
     * not dominate the encoder's peak memory (playbot-trained balanced 124 -> 73 MB: docs/BENCHMARKS.md). */
    uint16_t **targets = calloc(nviews, sizeof *targets);
    size_t cached = 0, cache_max = original->count * (size_t)(14 + 3 * gsz_shRestCount(original->sh_degree)) * sizeof(float) / 8;
    float *target = NULL; /* this step's target as floats */
    float *opac_lat = NULL;
    uint8_t *newfile = NULL, *opac = NULL;
    uint8_t *stored[NPARAM] = {0};
    gsz_camera *scaled = NULL;
    size_t n = x.count;
    if ((err = gsz_scene_alloc(&d, n, 0))) goto done;
    memcpy(d.pos, x.pos, n * 3 * sizeof(float));
    colors = gsz_malloc_array(n, 3 * sizeof(float));
    G.scale = gsz_malloc_array(n, 3 * sizeof(float));
    G.rot = gsz_malloc_array(n, 4 * sizeof(float));
    G.opacity = gsz_malloc_array(n, sizeof(float));
    G.rgb = gsz_malloc_array(n, 3 * sizeof(float));
    if (!colors || !G.scale || !G.rot || !G.opacity || !G.rgb) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    if ((err = gsz_container_read(*file, *size, &C))) goto done;
    /* the significance views at 3/4 resolution (long side <= 384): per second of encode the best fit
     * among 256, 384 and 512 (docs/BENCHMARKS.md) */
    scaled = malloc(nviews * sizeof *scaled);
    if (!scaled || !targets) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    size_t maxpx = 0;
    for (size_t v = 0; v < nviews; v++) {
        gsz_camera c = views[v];
        int side = GSZ_MAX(c.width, c.height);
        float f = side > 384 ? 384.0f / (float)side : 1.0f;
        c.width = GSZ_MAX(1, (int)lroundf((float)c.width * f));
        c.height = GSZ_MAX(1, (int)lroundf((float)c.height * f));
        c.fx *= f; c.fy *= f; c.cx *= f; c.cy *= f;
        scaled[v] = c;
        maxpx = GSZ_MAX(maxpx, (size_t)c.width * (size_t)c.height);
    }
    target = gsz_malloc_array(maxpx, 3 * sizeof(float));
    if (!target) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    opac_lat = gsz_malloc_array(n, sizeof(float));
    if (!opac_lat) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    /* the learning rates of 3DGS training (Kerbl et al.), constant: twice, thrice or decaying to a tenth
     * all fitted worse in the same steps (docs/BENCHMARKS.md) */
    static const float lr[NPARAM] = {0.005f, 0.001f, 0.0025f, 0.0025f / 20, 0.0025f / 20, 0.0025f / 20, 0.05f};
    static const uint32_t cb_sec[6] = {GSZ_SEC_SCALE_CB, GSZ_SEC_ROT_CB, GSZ_SEC_DC_CB, GSZ_SEC_SH1_CB, GSZ_SEC_SH2_CB, GSZ_SEC_SH3_CB};
    for (int p = 0; p < 6; p++) {
        if (!x.codebook_size[p]) continue; /* no such section */
        P[p].val = x.codebook[p];
        P[p].k = x.codebook_size[p];
        P[p].dim = gsz_codebook_dim(p);
        /* a transform-coded codebook (one entry per Gaussian) is rendered but not fitted */
        P[p].count = x.codebook_bits[p] ? (size_t)P[p].k * (size_t)P[p].dim : 0;
        P[p].bits = x.codebook_bits[p];
    }
    /* a latent logit per opacity (the decoder keeps opacities off 0 and 1) */
    for (size_t i = 0; i < n; i++) opac_lat[i] = gsz_logit(x.opacity[i]);
    P[6].val = opac_lat;
    P[6].count = n;
    for (int p = 0; p < NPARAM; p++) {
        P[p].lr = lr[p];
        if (!P[p].count) continue;
        P[p].m = gsz_calloc_array(P[p].count, sizeof(float));
        P[p].v = gsz_calloc_array(P[p].count, sizeof(float));
        P[p].g = gsz_malloc_array(P[p].count, sizeof(double));
        if (!P[p].m || !P[p].v || !P[p].g) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    }
    gsz_render_options ro = {0};
    ro.threads = threads;
    ctx cx = {&d, colors, &G, &x, P, NULL, C.h.opacity_bits, {0}};
    for (unsigned l = 0; l < 256; l++) cx.level_logit[l] = gsz_logit(gsz_opacity_level(l, C.h.opacity_bits));
    gsz_parallel_for(n, 16384, threads, apply_range, &cx);
    size_t *order = gsz_malloc_array(nviews, sizeof(size_t));
    if (!order) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    for (size_t v = 0; v < nviews; v++) order[v] = v;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (size_t t = 0; t < (size_t)steps; t++) {
        if (t % nviews == 0) /* every view once per pass, in a fixed pseudo-random order */
            for (size_t v = nviews - 1; v > 0; v--) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t j = (size_t)(rng >> 33) % (v + 1), tmp = order[v];
                order[v] = order[j];
                order[j] = tmp;
            }
        size_t v = order[t % nviews];
        const gsz_camera *cam = &scaled[v];
        size_t nval = (size_t)cam->width * (size_t)cam->height * 3;
        if (targets[v]) {
            for (size_t j = 0; j < nval; j++) target[j] = (float)targets[v][j] * (1.0f / 65535.0f);
        } else {
            if ((err = gsz_render(original, cam, &ro, target))) { free(order); goto done; }
            if (cached + nval * sizeof(uint16_t) <= cache_max && (targets[v] = gsz_malloc_array(nval, sizeof(uint16_t)))) {
                cached += nval * sizeof(uint16_t);
                for (size_t j = 0; j < nval; j++) targets[v][j] = (uint16_t)lrintf(target[j] * 65535.0f); /* in [0, 1] */
                for (size_t j = 0; j < nval; j++) target[j] = (float)targets[v][j] * (1.0f / 65535.0f); /* as when revisited */
            }
        }
        cx.cam = cam;
        gsz_parallel_for(n, 16384, threads, color_range, &cx);
        ro.colors = colors;
        err = gsz_render_gradient(&d, cam, &ro, target, &G, NULL);
        ro.colors = NULL;
        if (err) { free(order); goto done; }
        gsz_parallel_for(NPARAM, 1, threads, gather_range, &cx);
        for (int p = 0; p < NPARAM; p++)
            if (P[p].count) adam(&P[p], (int)t + 1);
        for (int j = 0; j < P[1].k; j++) { /* rotations stay unit quaternions */
            float *q = P[1].val + 4 * (size_t)j, l = sqrtf(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
            if (l > 0) for (int k = 0; k < 4; k++) q[k] /= l;
        }
        gsz_parallel_for(n, 16384, threads, apply_range, &cx);
        if (progress && (t % 8 == 0 || t + 1 == (size_t)steps)) progress(user, "fine-tune", (double)(t + 1) / (double)steps);
    }
    free(order);
    /* store: re-quantise the codebooks and the opacities, re-encode those sections, rewrite the container */
    opac = malloc(n ? n : 1);
    if (!opac) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    for (size_t i = 0; i < n; i++) opac[i] = gsz_opacity_quantise(opac_lat[i], C.h.opacity_bits);
    for (int p = 0; p < NPARAM; p++) {
        if (!P[p].count) continue;
        uint8_t *raw = opac;
        size_t rsize = n, ssize;
        int tx;
        if (p < 6 && (err = gsz_codebook_pack(P[p].val, P[p].k, P[p].dim, P[p].bits, &raw, &rsize))) goto done;
        err = gsz_entropy_encode(raw, rsize, 1, level, threads, &stored[p], &ssize, &tx);
        if (raw != opac) free(raw);
        if (err) goto done;
        uint32_t type = p < 6 ? cb_sec[p] : (uint32_t)GSZ_SEC_OPACITY;
        for (size_t s = 0; s < C.n; s++)
            if (C.s[s].type == type) {
                C.s[s].payload = stored[p];
                C.s[s].stored_size = ssize;
                C.s[s].elements = rsize;
                C.s[s].transform = (uint8_t)tx;
            }
    }
    size_t newsize;
    if ((err = gsz_container_write(&C, &newfile, &newsize))) goto done;
    free(*file);
    *file = newfile;
    *size = newsize;
done:
    for (int p = 0; p < NPARAM; p++) { free(P[p].m); free(P[p].v); free(P[p].g); free(stored[p]); }
    if (targets)
        for (size_t v = 0; v < nviews; v++) free(targets[v]);
    free(targets); free(target); free(opac_lat); free(opac); free(scaled);
    gsz_scene_free(&d);
    free(G.scale); free(G.rot); free(G.opacity); free(G.rgb); free(colors);
    gsz_indexed_free(&x);
    return err;
}
