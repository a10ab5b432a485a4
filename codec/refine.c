/* Fine-tuning: after vector quantisation, every codebook entry (scale, rotation, colour, SH) and every
 * Gaussian's opacity are fitted to renders of the original scene: the quantisation-aware fine-tuning of
 * Niedermayr et al. (CVPR 2024) in distillation form, so no training images are needed (the targets are
 * renders of the input from the significance views). Adam on one view per step, as in 3DGS training;
 * the renderer's backward pass gives each Gaussian's gradient and an entry gets the sum over the
 * Gaussians that use it. Opacities keep a float latent but render at the file's precision
 * (straight-through), so what was fitted is what the file holds. After a tenth of the steps the scale
 * and rotation indices are chosen again among the fitted entries (see reassign); the other index
 * streams stay as they are; the codebooks and the opacity stream are rewritten. Sums run in Gaussian
 * order and the renderer's are fixed point, so the result is the same for any thread count.
 *
 * With a target PSNR, fine-tuning also prunes: at a quarter, half and three quarters of the steps
 * (large scenes: a quarter) it measures the file's PSNR on 8 of `gsz compare`'s views and, where
 * there is headroom, removes the least significant Gaussians (significance.c's pruning order) as far
 * as the measured PSNR stays near the target (see prune_to_target); the later steps heal what was
 * removed, as LightGaussian fine-tunes after pruning. Bytes follow the Gaussian count, so a scene
 * that is easy to render at the preset's settings gets a smaller file rather than a needlessly high
 * fidelity. Without headroom it still removes what costs
 * almost nothing (FREE_DB): Gaussians no view shows. Codebook entries left without a Gaussian are
 * dropped (drop_unused). */
#include "codec.h"

#include <string.h>
#include <zstd.h>

enum { NPARAM = 7 }; /* six codebooks (scale, rotation, colour, sh1..3), then the opacities */

typedef struct {
    float *val;        /* the values (codebook entries or opacity logits), updated in place */
    size_t count;      /* values */
    int k, dim, bits;  /* codebooks: entries, values per entry, stored bits per value */
    float step;        /* a shared transform-coded codebook's step (bits 0) */
    float lr;
    float *m, *v;      /* Adam moments */
    double *g;         /* gradient of this step, summed over the Gaussians that use an entry, or */
    const float *gf;   /* one read in place (the opacities': the renderer's, 3.6 MB less at 450K) */
} param;

typedef struct {
    gsz_scene *d;             /* geometry and opacity as the file will hold them (SH degree 0) */
    float *colors;            /* this view's colour of every Gaussian */
    const gsz_render_grad *G;
    gsz_indexed *x;
    param *P;
    const gsz_camera *cam;
    int bits;               /* opacity bits of the file */
    int threads;
    float level_logit[256]; /* each stored opacity level as the decoder gives it, as a logit */
    uint16_t *sh16[3];      /* transform-coded SH bands of degree 1..3 as bfloat16, or NULL */
    uint32_t *src;          /* the reassignment's points and weights (gsz_refine_options), or NULL */
    float *vq_w;
} ctx;

/* Transform-coded SH (one entry per Gaussian, not fitted) is only read for the colours: bfloat16
 * halves the largest array of a high-preset fit (playbot-trained: 18 -> 9 MB) at a relative error of
 * 2^-9, far under the coefficients' quantisation step. */
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u); /* round to nearest even (the values are finite) */
    return (uint16_t)(u >> 16);
}
static inline float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void view_dir(const float *pos, const gsz_camera *cam, float dir[3]) {
    for (int k = 0; k < 3; k++) dir[k] = pos[k] - cam->center[k];
    float l = sqrtf(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
    if (l > 0)
        for (int k = 0; k < 3; k++) dir[k] /= l;
}

/* Gaussian i's opacity as the file stores it, as a logit. */
static inline float stored_opacity(const ctx *c, size_t i) { return c->level_logit[gsz_opacity_quantise(c->P[6].val[i], c->bits)]; }

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
        d->opacity[i] = stored_opacity(c, i);
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
        const float *rest = NULL;
        float r16[45];
        if (deg) {
            size_t dim = (size_t)P[2 + deg].dim, at = dim * x->index[3][i];
            if (c->sh16[deg - 1]) {
                for (size_t k = 0; k < dim; k++) r16[k] = from_bf16(c->sh16[deg - 1][at + k]);
                rest = r16;
            } else rest = P[2 + deg].val + at;
        }
        gsz_sh_color(deg, basis, P[2].val + 3 * (size_t)x->index[2][i], rest, c->colors + 3 * i);
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
        if (!P->count || P->gf) continue;
        memset(P->g, 0, P->count * sizeof(double));
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
        float g = P->gf ? P->gf[j] : (float)P->g[j];
        P->m[j] = b1 * P->m[j] + (1 - b1) * g;
        P->v[j] = b2 * P->v[j] + (1 - b2) * g * g;
        P->val[j] -= P->lr * (P->m[j] / c1) / (sqrtf(P->v[j] / c2) + 1e-15f);
    }
}

/* Renders of the input from the views, the fit's targets, at 12 bits (an error of 2^-13, some
 * 80 dB under the signal: far under any fit's error, and the same whether a target is cached or not).
 * Cached for later visits as a zstd frame at level 1 of each value's residual from the median predictor
 * of its left, upper and upper-left neighbours in its channel (LOCO-I, Weinberger et al. 2000),
 * zigzagged and split into a low and a high byte plane: a training view's render is textured, and
 * such frames are half the size of a frame of the 16-bit values themselves (playbot-trained's 32
 * training views: 7.8 against 14.9 MB). Stored bytes are capped at cache_max (a third of the input's
 * floats, at least CACHE_FLOOR: all 32 there, 7 of them with 16-bit frames and a 24th, which took
 * 25 renders more per pass), the views beyond it rendered again at each visit, so that many steps
 * over many training views do not set the encoder's peak memory; views not visited again are not
 * kept. Compressing and expanding use the target's own float buffer (4 bytes a value: the
 * 12-bit values in its first half, the planes in its second) and transient zstd contexts, so that
 * between them the cache holds nothing but its frames. The encoder's significance pass renders the
 * input from the same views and fills the cache (gsz_significance): the fit's first pass then renders
 * nothing of the input. */
enum { CACHE_FLOOR = 3 << 20, TARGET_MAX = 4095 };
typedef struct {
    const gsz_scene *original;
    const gsz_camera *cams;
    const gsz_render_options *ro;
    gsz_target_cache *c;
    double *cover;          /* evaluation views: the fraction of pixels the scene covers (0: not yet counted); else NULL */
} targets;

/* Values of a render from cam at the pixel step (see gsz_render_options): w x h pixels of 3. */
static size_t target_size(const gsz_camera *cam, int step, size_t *w, size_t *h) {
    size_t st = (size_t)GSZ_MAX(step, 1);
    *w = ((size_t)cam->width + st - 1) / st;
    *h = ((size_t)cam->height + st - 1) / st;
    return *w * *h * 3;
}

static inline uint16_t target_level(float v) { return (uint16_t)lrintf(v * (float)TARGET_MAX); } /* v in [0, 1] */
static inline float target_float(uint16_t u) { return (float)u * (1.0f / (float)TARGET_MAX); }

/* The median predictor (LOCO-I) of value j of a w-pixel-wide image of 3 channels. */
static inline int med_predict(const uint16_t *u, size_t j, size_t x, size_t y, size_t w) {
    int a = x ? u[j - 3] : 0, b = y ? u[j - 3 * w] : 0, c = x && y ? u[j - 3 * w - 3] : 0;
    int hi = GSZ_MAX(a, b), lo = GSZ_MIN(a, b);
    return c >= hi ? lo : c <= lo ? hi : a + b - c;
}

/* The 12-bit image u (n = 3 w h values) to its residuals' byte planes p[0..n) (low) and p[n..2n).
 * Red's and blue's residuals less green's: a render's channels share its edges, and the difference
 * is 10% smaller in the frame (playbot-trained's training views). */
static inline unsigned zigzag(int e) { return e >= 0 ? 2u * (unsigned)e : 2u * (unsigned)-e - 1u; }
static inline int unzigzag(unsigned z) { return z & 1u ? -(int)((z + 1u) >> 1) : (int)(z >> 1); }
static void predict(const uint16_t *u, size_t w, size_t h, uint8_t *p) {
    size_t n = 3 * w * h;
    for (size_t y = 0, j = 0; y < h; y++)
        for (size_t x = 0; x < w; x++, j += 3) {
            int g = (int)u[j + 1] - med_predict(u, j + 1, x, y, w);
            unsigned z[3] = {zigzag((int)u[j] - med_predict(u, j, x, y, w) - g), zigzag(g),
                             zigzag((int)u[j + 2] - med_predict(u, j + 2, x, y, w) - g)}; /* < 2^14 */
            for (int ch = 0; ch < 3; ch++) {
                p[j + ch] = (uint8_t)z[ch];
                p[n + j + ch] = (uint8_t)(z[ch] >> 8);
            }
        }
}

static void unpredict(const uint8_t *p, size_t w, size_t h, uint16_t *u) {
    size_t n = 3 * w * h;
    for (size_t y = 0, j = 0; y < h; y++)
        for (size_t x = 0; x < w; x++, j += 3) {
            int e[3];
            for (int ch = 0; ch < 3; ch++) e[ch] = unzigzag(p[j + ch] | (unsigned)p[n + j + ch] << 8);
            u[j + 1] = (uint16_t)(med_predict(u, j + 1, x, y, w) + e[1]);
            u[j] = (uint16_t)(med_predict(u, j, x, y, w) + e[0] + e[1]);
            u[j + 2] = (uint16_t)(med_predict(u, j + 2, x, y, w) + e[2] + e[1]);
        }
}

/* View v's cached frame into buf (4 bytes a value): its 12-bit values in the first half. */
static gsz_error expand_target(const gsz_target_cache *c, size_t v, size_t w, size_t h, void *buf) {
    size_t n = 3 * w * h;
    uint8_t *planes = (uint8_t *)buf + 2 * n;
    size_t got = ZSTD_decompress(planes, 2 * n, c->frame[v], c->size[v]);
    if (ZSTD_isError(got) || got != 2 * n) return gsz_fail(GSZ_ERROR_memory, "refine: out of memory (a cached target)");
    unpredict(planes, w, h, buf);
    return GSZ_OK;
}

/* The 12-bit values at the start of out's bytes to out's floats: back to front, so that each value is
 * read before its float overwrites it (byte copies: the buffer is floats). */
static void widen_in_place(float *out, size_t nval) {
    const unsigned char *b = (const unsigned char *)out;
    for (size_t j = nval; j-- > 0;) {
        uint16_t u;
        memcpy(&u, b + 2 * j, 2);
        out[j] = target_float(u);
    }
}

/* A render's values to the targets' 12-bit levels, in place (what a cached frame gives back). */
static void to_levels(float *img, size_t nval) {
    for (size_t j = 0; j < nval; j++) img[j] = target_float(target_level(img[j]));
}

gsz_error gsz_target_cache_init(gsz_target_cache *c, const gsz_scene *original, size_t views, size_t max_bytes) {
    size_t floats = original->count * (size_t)(14 + 3 * gsz_shRestCount(original->sh_degree)) * sizeof(float);
    *c = (gsz_target_cache){calloc(views ? views : 1, sizeof(void *)), calloc(views ? views : 1, sizeof(size_t)), views, 0,
                            max_bytes ? max_bytes : GSZ_MAX(floats / 3, (size_t)CACHE_FLOOR), 0};
    if (c->frame && c->size) return GSZ_OK;
    gsz_target_cache_free(c);
    return gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
}

/* Frees view v's frame, if any. */
static void drop_frame(gsz_target_cache *c, size_t v) {
    if (!c->frame || !c->frame[v]) return;
    free(c->frame[v]);
    c->frame[v] = NULL;
    c->bytes -= c->size[v];
}

/* Frees view v's frame once the fit is done with it, unless other fits share it. */
static void release_frame(gsz_target_cache *c, size_t v) {
    if (!c->shared) drop_frame(c, v);
}

void gsz_target_cache_free(gsz_target_cache *c) {
    for (size_t v = 0; c->frame && v < c->views; v++) drop_frame(c, v);
    free(c->frame);
    free(c->size);
    memset(c, 0, sizeof *c);
}

int gsz_target_cache_put(gsz_target_cache *c, size_t v, size_t w, size_t h, float *img) {
    size_t nval = 3 * w * h;
    if (v >= c->views || c->frame[v] || c->bytes >= c->max) {
        to_levels(img, nval);
        return 0;
    }
    unsigned char *b = (unsigned char *)img;
    for (size_t j = 0; j < nval; j++) { /* front to back: value j's bytes end before float j + 1 */
        uint16_t u = target_level(img[j]);
        memcpy(b + 2 * j, &u, 2);
    }
    /* the planes into the buffer's second half, the frame into its first, copied out at its size (a
     * frame allocated at the bound and shrunk would leave holes in the heap that stay resident); the
     * values back from the planes */
    size_t half = 2 * nval;
    predict((const uint16_t *)img, w, h, b + half);
    size_t zs = ZSTD_compress(b, half, b + half, half, 1);
    int kept = !ZSTD_isError(zs) && c->bytes + zs <= c->max && (c->frame[v] = malloc(zs));
    if (kept) {
        memcpy(c->frame[v], b, zs);
        c->size[v] = zs;
        c->bytes += zs;
    } /* else not cached (or not compressible): rendered again at the next visit */
    unpredict(b + half, w, h, (uint16_t *)img);
    widen_in_place(img, nval);
    return kept;
}

/* View v's target into out (at 12 bits, whether cached or not: the fit does not depend on what was
 * cached). keep: cache it if it is not yet (a view that will be visited again); else a cached frame
 * goes once it is read. Where T counts coverage and this call renders the view, the fraction of its
 * pixels the scene covers goes to T->cover[v] (see eval_psnr). */
static gsz_error load_target(targets *T, size_t v, float *out, int keep) {
    size_t w, h, nval = target_size(&T->cams[v], T->ro->pixel_step, &w, &h);
    double *cover = T->cover ? &T->cover[v] : NULL;
    gsz_error err;
    if (T->c->frame[v]) {
        if ((err = expand_target(T->c, v, w, h, out))) return err;
        widen_in_place(out, nval);
        if (!keep) release_frame(T->c, v);
        return GSZ_OK;
    }
    gsz_render_options ro = *T->ro;
    if (cover && !(ro.transmittance = gsz_malloc_array(w * h, sizeof(float)))) return gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
    if ((err = gsz_render(T->original, &T->cams[v], &ro, out))) { free(ro.transmittance); return err; }
    if (cover) { /* covered: lighter by under half on white (T < 1/2), against the target's levels */
        size_t n = 0;
        for (size_t j = 0; j < nval; j += 3) {
            double lift = 0;
            for (int ch = 0; ch < 3; ch++) /* on white: the render on black (the targets') plus T, clamped */
                lift += (double)GSZ_CLAMP(out[j + ch] + ro.transmittance[j / 3], 0.0f, 1.0f) - (double)target_level(out[j + ch]) * (1.0 / TARGET_MAX);
            n += lift < 1.5;
        }
        *cover = (double)GSZ_MAX(n, (size_t)1) / (double)(nval / 3);
        free(ro.transmittance);
    }
    if (keep) gsz_target_cache_put(T->c, v, w, h, out);
    else to_levels(out, nval);
    return GSZ_OK;
}

/* Mean PSNR (capped at 100 dB) over views first, first + stride, ... of E's EVAL_VIEWS of the scene as
 * the file would decode now, against E's cached targets (rendered into img at the first visit); img is
 * the only float image. Each view's PSNR into each[e] where each is not NULL.
 * A full-frame PSNR flatters a scene that covers little of its views: the generated views frame a
 * scene by its bounding sphere, and guitar covers 3.7% of their pixels (playbot 21%), so the 39 dB
 * the balanced preset aims at was 25 dB on guitar's own pixels and smeared its details. Where the
 * views' mean coverage (pixels the input renders at transmittance under 1/2, counted on a white
 * background at the first visit) is under GSZ_COVER_MIN, every PSNR is lowered by 10 log10 of
 * GSZ_COVER_MIN over it: the error is measured as if spread over GSZ_COVER_MIN of the frame. On the scene's
 * mean, not per view: per view it also moved playbot's balanced file 7% past its byte target. */
enum { EVAL_VIEWS = 8 };
#define FREE_DB 0.05 /* pruning that costs less is taken even without headroom (prune_to_target) */

static gsz_error eval_psnr(ctx *cx, targets *E, size_t first, size_t stride, float *img, double *out, double *each) {
    double sum = 0;
    size_t nv = 0;
    for (size_t e = first; e < EVAL_VIEWS; e += stride, nv++) {
        const gsz_camera *cam = &E->cams[e];
        size_t w, h, nval = target_size(cam, E->ro->pixel_step, &w, &h);
        uint16_t *t = gsz_malloc_array(nval, 2 * sizeof(uint16_t)); /* expand_target's planes after the values */
        if (!t) return gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
        gsz_error err = GSZ_OK;
        if (E->c->frame[e]) err = expand_target(E->c, e, w, h, t);
        else if (!(err = load_target(E, e, img, 1))) /* cached from now on where the frames fit */
            for (size_t j = 0; j < nval; j++) t[j] = target_level(img[j]);
        cx->cam = cam;
        gsz_parallel_for(cx->x->count, 16384, cx->threads, color_range, cx);
        gsz_render_options ro = *E->ro;
        ro.colors = cx->colors;
        if (!err) err = gsz_render(cx->d, cam, &ro, img);
        double se = 0;
        for (size_t j = 0; !err && j < nval; j++) {
            double d = (double)img[j] - (double)t[j] * (1.0 / TARGET_MAX);
            se += d * d;
        }
        free(t);
        if (err) return err;
        double p = se > 0 ? GSZ_MIN(10 * log10((double)nval / se), 100.0) : 100.0;
        if (each) each[e] = p;
        sum += p;
    }
    /* over every view counted so far (all of them after the first call, which sees them all), so
     * that a probe on some views is lowered as much as the full measurement it is compared with */
    double covered = 0;
    size_t nc = 0;
    for (size_t e = 0; E->cover && e < EVAL_VIEWS; e++)
        if (E->cover[e]) {
            covered += E->cover[e];
            nc++;
        }
    double off = nc && covered < GSZ_COVER_MIN * (double)nc ? 10 * log10(GSZ_COVER_MIN * (double)nc / covered) : 0;
    for (size_t e = first; each && e < EVAL_VIEWS; e += stride) each[e] -= off;
    *out = sum / (double)nv - off;
    return GSZ_OK;
}

/* Drops the Gaussians with drop[i] set from every per-Gaussian array of the fit and clears them in
 * live (file order: the fit's Gaussians are its set entries, in order). */
static void compact(ctx *cx, param *op, uint8_t *live, const uint8_t *drop) {
    gsz_indexed *x = cx->x;
    gsz_scene *d = cx->d;
    for (size_t i = 0, f = 0; i < x->count; i++, f++) {
        while (!live[f]) f++;
        if (drop[i]) live[f] = 0;
    }
    size_t j = 0;
    for (size_t i = 0; i < x->count; i++) {
        if (drop[i]) continue;
        memmove(x->pos + 3 * j, x->pos + 3 * i, 12); /* also d's */
        memmove(d->scale + 3 * j, d->scale + 3 * i, 12);
        memmove(d->rot + 4 * j, d->rot + 4 * i, 16);
        d->opacity[j] = d->opacity[i];
        x->degree[j] = x->degree[i];
        for (int a = 0; a < 4; a++) x->index[a][j] = x->index[a][i];
        op->val[j] = op->val[i]; op->m[j] = op->m[i]; op->v[j] = op->v[i];
        if (cx->src) {
            cx->src[j] = cx->src[i];
            cx->vq_w[j] = cx->vq_w[i];
        }
        j++;
    }
    x->count = d->count = op->count = j;
}

/* The pruning order at a checkpoint, measured on the scene as the fit has it (its codebooks,
 * opacities and colours, the Gaussians left) over every fit view: the score of the significance pass
 * (significance.c: the change each Gaussian's removal would make, a tenth of its alpha*T, the volume
 * weight). The input's own score, which ordered this pruning before, misses what quantisation and the
 * fit did: Gaussians the fit faded or made redundant, others that now carry an edge; at the same target
 * it leaves smaller files at the same PSNR or more (docs/BENCHMARKS.md, session 32). The fit's steps
 * since the last checkpoint summed them in acc (2n: alpha*T, removal) for the views in seen; the others
 * are rendered here. */
static gsz_error prune_order_score(ctx *cx, const gsz_camera *cams, size_t nviews, const uint8_t *seen, const gsz_render_options *ro,
                                   float *img, uint64_t *acc, size_t nacc, double **out) {
    size_t n = cx->x->count;
    double *sig = gsz_malloc_array(n ? n : 1, sizeof(double));
    if (!sig) return gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
    gsz_render_accum ra = {.weight = acc, .removal = acc + nacc};
    gsz_render_options o = *ro;
    o.accum = &ra;
    o.colors = cx->colors;
    gsz_error err = GSZ_OK;
    for (size_t v = 0; v < nviews && !err; v++) {
        if (seen[v]) continue;
        cx->cam = &cams[v];
        gsz_parallel_for(n, 16384, cx->threads, color_range, cx);
        err = gsz_render(cx->d, &cams[v], &o, img);
    }
    if (!err) err = gsz_significance_scores(cx->d->scale, n, acc, acc + nacc, NULL, sig);
    if (err) free(sig);
    else *out = sig;
    return err;
}

/* The first pruning checkpoint after step t (at j/4 of the steps, j = 1 .. ncp), 0 where none is
 * left; *prev the last one at or before t (0 where none). */
static size_t next_checkpoint(size_t t, int steps, int ncp, size_t *prev) {
    *prev = 0;
    for (int j = 1; j <= ncp; j++) {
        size_t c = (size_t)j * (size_t)steps / 4;
        if (c > t) return c;
        *prev = c;
    }
    return 0;
}

/* One pruning checkpoint: removes the most of the least significant Gaussians (down to keep_min) that
 * keeps the PSNR at an aim under the goal, as the later steps heal part of what was removed. The
 * first checkpoint (*after < 0) aims 1 dB under; the next expects the healing seen since the last
 * (from *after, the PSNR it left) to go on with the square root of the steps (biker: +2.5 dB in 16
 * steps, +3.5 in the next 32) and aims under by half of that, at most 2 dB. *after gets the PSNR this
 * one leaves. The PSNR falls about linearly with the count removed, so the search interpolates
 * (regula falsi), from a first guess of 1/16 of the Gaussians per dB of headroom, to within n/64 or
 * `probes` renders.
 * The PSNR is measured on all EVAL_VIEWS views first, the probes (where renders cost more) on every
 * stride-th only, shifted by the difference the first measurement saw between the two: the views
 * differ by up to 7 dB, and two of them alone were 0.4-1.6 dB over the mean of 24 on the large
 * scenes (docs/BENCHMARKS.md), which let pruning go that far under its aim. `ratio`: the steps left
 * over the steps since the last checkpoint. */
static gsz_error prune_to_target(ctx *cx, targets *E, size_t stride, float *img, const double *sig,
                                 uint8_t *live, float goal, double ratio, int probes, size_t keep_min, double *after) {
    size_t n = cx->x->count, most = n > keep_min ? n - keep_min : 0;
    double now = 0, each[EVAL_VIEWS], sub = 0;
    gsz_error err = eval_psnr(cx, E, 0, 1, img, &now, each);
    double target = goal - (*after < 0 ? 1.0 : GSZ_CLAMP(0.5 * (now - *after) * sqrt(ratio), 0.0, 2.0));
    *after = now;
    /* without headroom (or little), what costs at most FREE_DB: Gaussians nothing shows (a scene's
     * hidden insides: the demo scene loses 49% of them for 0.02 dB), in two probes on two views (a
     * drop, not a level, to tell) */
    double hold = GSZ_MIN(target, now - FREE_DB), aim = hold + GSZ_MIN(0.2, 0.5 * (now - hold));
    int headroom = now - aim >= 0.25;
    if (err || most == 0) return err;
    if (!headroom) {
        stride = GSZ_MAX(stride, (size_t)4);
        probes = GSZ_MIN(probes, 2);
    }
    size_t first = stride / 2, nsub = 0;
    for (size_t e = first; e < EVAL_VIEWS; e += stride, nsub++) sub += each[e];
    double shift = now - sub / (double)nsub;
    uint32_t *k = gsz_malloc_array(n, sizeof *k); /* the pruning order */
    uint8_t *drop = calloc(n, 1);
    if (!k || !drop || (err = gsz_significance_order(sig, n, k))) {
        free(k); free(drop);
        return err ? err : gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
    }
    /* lo: a removal known to hold the target (PSNR plo); hi: one known not to (phi), most + 1 if none */
    size_t lo = 0, hi = most + 1;
    double plo = now, phi = 0;
    /* with headroom a linear first guess; without, the least significant holding 1% of the
     * significance (the PSNR is flat, then falls: free Gaussians are those nothing sees), then a
     * quarter of that if it did not hold, or a quarter of the rest further if it did */
    double guess = (double)n / 16 * (now - aim);
    if (!headroom) {
        double total = 0, mass = 0;
        for (size_t j = 0; j < n; j++) total += sig[j];
        size_t m = 0;
        while (m < most && mass + sig[k[m]] <= 0.01 * total) mass += sig[k[m++]];
        guess = (double)m;
    }
    for (int it = 0; it < probes && hi - lo > GSZ_MAX((size_t)1, n / 64); it++) {
        /* interpolated to 0.2 dB over what must hold (half the way to it where less), so that probes
         * tend to land on the side that holds */
        if (!headroom) { if (it) guess = (double)lo + (double)(GSZ_MIN(hi, most) - lo) / 4; }
        else if (hi <= most) guess = plo <= aim ? (double)lo + (double)(hi - lo) / 2 : (double)lo + (double)(hi - lo) * (plo - aim) / (plo - phi);
        else if (lo) guess = plo < now ? (double)lo * (now - aim) / (now - plo) : (double)most; /* no fall yet: all of it */
        size_t probe = (size_t)GSZ_CLAMP(guess, (double)lo + 1, (double)GSZ_MIN(hi - 1, most));
        for (size_t j = 0; j < n; j++) cx->d->opacity[k[j]] = j < probe ? -1e30f : stored_opacity(cx, k[j]);
        double p = 0;
        if ((err = eval_psnr(cx, E, first, stride, img, &p, NULL))) break;
        p += shift;
        if (p >= hold) { lo = probe; plo = p; }
        else { hi = probe; phi = p; }
    }
    gsz_parallel_for(n, 16384, cx->threads, apply_range, cx); /* the opacities back */
    for (size_t j = 0; j < lo; j++) drop[k[j]] = 1;
    if (!err && lo) compact(cx, &cx->P[6], live, drop);
    *after = plo;
    free(k);
    free(drop);
    return err;
}

/* The reassignment: once the first steps have moved the entries, each Gaussian's scale and rotation
 * index is chosen again, by the k-means' own entropy-constrained cost (at half its rate) against the
 * values the k-means quantised, among the fitted entries (gsz_kmeans_reassign): a Lloyd step whose
 * centroids the renders moved; the later steps fit the entries to their new Gaussians. At equal bytes
 * +0.07 to +0.38 dB on four captured scenes without target pruning; reassigning again later in the
 * fit or more often did worse, and the colour indices gained nothing (docs/BENCHMARKS.md, session 45). */
enum { REASSIGN_AT = 10 /* at a tenth of the steps */ };
#define REASSIGN_RATE 0.5f

typedef struct {
    const gsz_scene *in;
    const uint32_t *src;
    float floor_log;
    int a; /* 0 scale, 1 rotation */
} vq_points;

/* The points the k-means of codebook a quantised, as compress.c gave them. */
static void vq_points_get(void *u, size_t first, size_t m, float *out) {
    const vq_points *p = u;
    for (size_t i = 0; i < m; i++) {
        size_t g = p->src[first + i];
        float sc[3], q[4];
        memcpy(sc, p->in->scale + 3 * g, 12);
        memcpy(q, p->in->rot + 4 * g, 16);
        gsz_geometry_vq(sc, q, p->floor_log);
        if (p->a == 0) memcpy(out + 3 * i, sc, 12);
        else memcpy(out + 4 * i, q, 16);
    }
}

/* *fitted gets the codebooks whose indices it chose (bit a). */
static gsz_error reassign(ctx *cx, const gsz_scene *in, const gsz_refine_options *opt, unsigned *fitted) {
    size_t n = cx->x->count;
    for (int a = 0; a < 2; a++) {
        const param *P = &cx->P[a];
        /* fitted k-means codebooks only (not one entry per Gaussian) */
        if (!P->count || !P->bits || (size_t)P->k >= n) continue;
        float *cent = P->val, *canon = NULL;
        if (a == 1) { /* the fit keeps rotations unit, not in the k-means' hemisphere */
            if (!(canon = gsz_malloc_array((size_t)P->k, 4 * sizeof(float)))) return gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
            for (int j = 0; j < P->k; j++) gsz_quat_canonical(P->val + 4 * (size_t)j, canon + 4 * (size_t)j);
            cent = canon;
        }
        vq_points vp = {in, cx->src, opt->scale_floor, a};
        float rate = REASSIGN_RATE * opt->vq_rate * (a == 0 ? 0.5f : 0.25f);
        gsz_error err = gsz_kmeans_reassign(vq_points_get, &vp, cx->vq_w, n, P->dim, cent, P->k, rate, cx->threads, cx->x->index[a]);
        free(canon);
        if (err) return err;
        *fitted |= 1u << a;
    }
    gsz_parallel_for(n, 16384, cx->threads, apply_range, cx);
    return GSZ_OK;
}

/* Jobs that keep the Gaussians with live[i] set (n in the file) in every per-Gaussian section of C
 * except the opacities (rewritten by the caller) and the index streams of the slots in `fitted`
 * (index_jobs): positions, degrees, the index streams, their streams in raws[] (the caller frees
 * them). *gone gets the SH degrees left without Gaussians (bit d), whose sections drop_degrees removes
 * once the jobs are done. */
static gsz_error subset_jobs(gsz_container *C, const uint8_t *live, size_t n, unsigned fitted, gsz_encode_job *jobs, size_t *nj,
                             uint8_t **raws, uint32_t *gone) {
    uint8_t *degs = NULL, *raw = NULL;
    gsz_error err = GSZ_OK;
    const gsz_section *ds = gsz_container_find(C, GSZ_SEC_SH_DEGREE);
    if (ds) {
        if (!(degs = malloc(n ? n : 1))) return gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
        if ((err = gsz_entropy_decode(ds->payload, (size_t)ds->stored_size, ds->transform, n, 1, degs))) { free(degs); return err; }
    }
    *gone = 0;
    for (size_t s = 0; s < C->n; s++) {
        gsz_section *sec = &C->s[s];
        uint32_t t = sec->type;
        int slot = gsz_index_slot(t); /* SH indices: one per Gaussian of their degree (grp) */
        int grp = slot >= 3 ? slot - 2 : slot >= 0 || t == GSZ_SEC_POSITION || t == GSZ_SEC_SH_DEGREE ? 0 : -1;
        if (grp < 0 || (slot >= 0 && fitted >> slot & 1)) continue;
        size_t m = (size_t)sec->elements, w = sec->width, j = 0, at = 0;
        if (!(raw = raws[*nj] = gsz_malloc_array(m + 1, w))) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); break; }
        if ((err = gsz_entropy_decode(sec->payload, (size_t)sec->stored_size, sec->transform, m, (int)w, raw))) break;
        for (size_t i = 0; i < n && at < m; i++) {
            if (grp && (!degs || degs[i] != grp)) continue;
            if (live[i]) memmove(raw + w * j++, raw + w * at, w);
            at++;
        }
        if (grp && !j) *gone |= 1u << grp;
        jobs[(*nj)++] = (gsz_encode_job){sec, raw, j, (int)w, NULL, GSZ_OK};
    }
    free(degs);
    return err;
}

/* Jobs for the index streams of the slots in `fitted` (bit a: 0 scale, 1 rotation) from the fit's
 * indices, at their sections' widths. */
static gsz_error index_jobs(gsz_container *C, const gsz_indexed *x, unsigned fitted, gsz_encode_job *jobs, size_t *nj, uint8_t **raws) {
    static const uint32_t type[2] = {GSZ_SEC_SCALE_IDX, GSZ_SEC_ROT_IDX};
    size_t n = x->count;
    for (int a = 0; a < 2; a++) {
        gsz_section *sec = fitted >> a & 1 ? (gsz_section *)gsz_container_find(C, type[a]) : NULL;
        if (!sec) continue;
        int w = (int)sec->width; /* for the codebook's k, which the fit keeps */
        uint8_t *raw = raws[*nj] = gsz_malloc_array(n + 1, (size_t)w);
        if (!raw) return gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
        for (size_t i = 0; i < n; i++) gsz_index_put(raw, w, i, x->index[a][i]);
        jobs[(*nj)++] = (gsz_encode_job){sec, raw, n, w, NULL, GSZ_OK};
    }
    return GSZ_OK;
}

/* A fitted codebook's entries whose Gaussians pruning (or the reassignment) removed all go: *keep
 * (malloc'd, NULL where every entry is used) flags the entries left, for gsz_codebook_keep once the
 * codebook is packed as it was (the kept entries then decode exactly as they would have), and the index stream J is
 * renumbered in place, one byte a value where the entries then fit. Where pruning removed most of a
 * scene, many entries lost their users (the synthetic 1M scene's: 85% of sh1's). Numbering the rest by
 * their use after pruning as well made playbot balanced's scale indices 1% larger. */
static gsz_error drop_unused(int k, gsz_encode_job *J, uint8_t **keep) {
    uint8_t *raw = (uint8_t *)(uintptr_t)J->raw;
    int w = J->width;
    uint32_t *remap = gsz_calloc_array((size_t)k, sizeof *remap); /* 1 + the new number, 0: unused */
    *keep = NULL;
    if (!remap) return gsz_fail(GSZ_ERROR_memory, "refine: out of memory");
    for (size_t i = 0; i < J->n; i++) remap[gsz_index_get(raw, w, i)] = 1; /* below k: the decoder checked */
    uint32_t used = 0;
    for (int j = 0; j < k; j++)
        if (remap[j]) remap[j] = ++used;
    if (used == (uint32_t)k || !used) { free(remap); return GSZ_OK; } /* none used: its degree's sections go */
    if (!(*keep = malloc((size_t)k))) { free(remap); return gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); }
    for (int j = 0; j < k; j++) (*keep)[j] = remap[j] != 0;
    int nw = gsz_index_width(used);
    for (size_t i = 0; i < J->n; i++) { /* narrowing in place: element i never lies past where it was */
        gsz_index_put(raw, nw, i, remap[gsz_index_get(raw, w, i)] - 1);
    }
    J->width = nw;
    free(remap);
    return GSZ_OK;
}

/* Removes the sections of the SH degrees in gone (bit d). */
static void drop_degrees(gsz_container *C, uint32_t gone) {
    size_t out = 0;
    for (size_t s = 0; s < C->n; s++) {
        int slot = GSZ_MAX(gsz_index_slot(C->s[s].type), gsz_codebook_slot(C->s[s].type));
        if (!(slot >= 3 && gone >> (slot - 2) & 1)) C->s[out++] = C->s[s];
    }
    C->n = out;
}

/* The fitting's buffers (Adam moments and gradients, cached targets, the rendered scene's arrays, the
 * render workspace), freed and cleared: before storing, as zstd's high levels need memory of their
 * own, and on the way out. d's positions are the file's (borrowed), not freed here. */
static void release_fit(param *P, targets *T, targets *E, gsz_render_grad *G, gsz_scene *d, float **colors,
                        float **target, gsz_render_workspace **ws) {
    for (int p = 0; p < NPARAM; p++) { free(P[p].m); free(P[p].v); free(P[p].g); P[p].m = P[p].v = NULL; P[p].g = NULL; }
    for (size_t v = 0; v < T->c->views; v++) release_frame(T->c, v);
    for (size_t e = 0; e < EVAL_VIEWS; e++) drop_frame(E->c, e);
    memset(G, 0, sizeof *G); /* d's arrays and *colors */
    free(d->scale); free(d->rot); free(d->opacity);
    memset(d, 0, sizeof *d);
    free(*colors); free(*target);
    *colors = *target = NULL;
    gsz_render_workspace_free(*ws);
    *ws = NULL;
}

gsz_error gsz_refine(const gsz_scene *original, const gsz_camera *views, size_t nviews, const gsz_refine_options *opt,
                     uint8_t **file, size_t *size, gsz_refine_result *res) {
    int steps = opt->steps, threads = opt->threads, fit_side = opt->fit_side > 0 ? opt->fit_side : 384;
    if (steps <= 0 || nviews == 0) return GSZ_OK;
    gsz_indexed x;
    gsz_error err = gsz_decode_indexed_lean(*file, *size, threads, &x);
    if (err) return err;
    gsz_scene d = {0};
    gsz_render_grad G = {0};
    float *colors = NULL;
    gsz_container C;
    param P[NPARAM];
    memset(P, 0, sizeof P);
    gsz_target_cache own; /* the targets' cache unless the caller's serves (below) */
    if ((err = gsz_target_cache_init(&own, original, nviews, opt->cache_bytes))) { gsz_indexed_free(&x); return err; }
    targets T = {original, NULL, NULL, &own, NULL};
    float *target = NULL; /* this step's target as floats, or an evaluation render */
    float *opac_lat = NULL;
    uint8_t *newfile = NULL, *opac = NULL, *live = NULL, *seen = NULL; /* seen: the fit views since the last checkpoint */
    uint64_t *pacc = NULL; /* the pruning order's sums since the last checkpoint: alpha*T, then removal */
    gsz_render_accum pra = {0};
    gsz_encode_job jobs[GSZ_MAX_SECTIONS];
    uint8_t *raws[GSZ_MAX_SECTIONS] = {0};
    size_t nj = 0;
    gsz_camera *scaled = NULL;
    size_t *order = NULL;
    gsz_render_workspace *ws = NULL;
    uint16_t *sh16[3] = {NULL, NULL, NULL}; /* see to_bf16 */
    uint8_t *keep[6] = {NULL}; /* the codebook entries pruning left used (drop_unused) */
    gsz_camera ecams[EVAL_VIEWS];
    void *ecache[EVAL_VIEWS] = {0};
    size_t ecsize[EVAL_VIEWS] = {0};
    double ecover[EVAL_VIEWS] = {0};
    gsz_target_cache ec = {ecache, ecsize, EVAL_VIEWS, 0, SIZE_MAX, 0};
    targets E = {original, ecams, NULL, &ec, ecover}; /* its options below */
    size_t stride = opt->checkpoints > 1 ? 1 : 4; /* pruning's probes on fewer views where a render costs more */
    size_t n = x.count, nfile = x.count;
    double after = -1; /* the PSNR after the last pruning checkpoint */
    int prune = opt->target_psnr > 0 && n > opt->keep_min;
    int ncp = GSZ_CLAMP(opt->checkpoints, 1, 3);
    /* the rendered scene: the file's positions as they are, colours per view (no SH arrays) */
    d.count = n;
    d.pos = x.pos;
    d.scale = gsz_malloc_array(n, 3 * sizeof(float));
    d.rot = gsz_malloc_array(n, 4 * sizeof(float));
    d.opacity = gsz_malloc_array(n, sizeof(float));
    colors = gsz_malloc_array(n, 3 * sizeof(float));
    /* the gradients overwrite the rendered scene's arrays and the colours (the renderer reads each
     * Gaussian's before it writes: gsz.h), which apply_range and color_range make again for the next
     * step: 32 bytes a Gaussian less (playbot: 14 MB) */
    G.scale = d.scale;
    G.rot = d.rot;
    G.opacity = d.opacity;
    G.rgb = colors;
    if (!d.scale || !d.rot || !d.opacity || !colors) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    if ((err = gsz_container_read(*file, *size, &C))) goto done;
    /* the significance views, scaled to the fit's side (see compress.c) */
    scaled = malloc(nviews * sizeof *scaled);
    if (!scaled) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    size_t maxpx = 0;
    int as_given = 1; /* every view unscaled: the caller's frames are these targets */
    for (size_t v = 0; v < nviews; v++) {
        scaled[v] = views[v];
        as_given &= !gsz_camera_fit_side(&scaled[v], fit_side);
        maxpx = GSZ_MAX(maxpx, (size_t)scaled[v].width * (size_t)scaled[v].height);
    }
    T.cams = scaled;
    if (opt->targets && opt->targets->views == nviews && as_given) T.c = opt->targets;
    /* the learning rates of 3DGS training (Kerbl et al.), constant: twice, thrice or decaying to a tenth
     * all fitted worse in the same steps (docs/BENCHMARKS.md) */
    static const float lr[NPARAM] = {0.005f, 0.001f, 0.0025f, 0.0025f / 20, 0.0025f / 20, 0.0025f / 20, 0.05f};
    static const uint32_t cb_sec[6] = {GSZ_SEC_SCALE_CB, GSZ_SEC_ROT_CB, GSZ_SEC_DC_CB, GSZ_SEC_SH1_CB, GSZ_SEC_SH2_CB, GSZ_SEC_SH3_CB};
    size_t users[6] = {n, n, n, 0, 0, 0}; /* Gaussians indexing each codebook */
    for (size_t i = 0; x.degree && i < n; i++)
        if (x.degree[i]) users[2 + x.degree[i]]++;
    for (int p = 0; p < 6; p++) {
        if (!x.codebook_size[p]) continue; /* no such section */
        P[p].val = x.codebook[p];
        P[p].k = x.codebook_size[p];
        P[p].dim = gsz_codebook_dim(p);
        /* a transform-coded codebook of one entry per Gaussian is rendered but not fitted (its Adam
         * moments would be the largest arrays of the encode), nor pruned; a shared one (k-means) is
         * fitted and stored again at its step; an exact value table (the input's palette) is rendered */
        P[p].bits = x.codebook_bits[p];
        P[p].step = x.codebook_step[p] > 0 && (size_t)P[p].k < users[p] ? x.codebook_step[p] : 0;
        P[p].count = P[p].bits > 0 || P[p].step > 0 ? (size_t)P[p].k * (size_t)P[p].dim : 0;
        if (!P[p].count && !P[p].bits) prune = 0;
    }
    /* evaluation views: EVAL_VIEWS of the 24 generated 1280x720 views of `gsz compare` (its default
     * protocol, also with training cameras), whole: PSNR depends on resolution and framing, and
     * neither the fitting's views (pruned small Gaussians average away: playbot pruned to 39.4 dB on
     * them at 384 px measured 36.2) nor crops (all detail and no background, or the reverse) track it */
    if (prune) {
        gsz_camera gen[24];
        if ((err = gsz_cameras_place(original, opt->placement, 24, 1280, 720, 0, gen))) goto done;
        for (size_t e = 0; e < EVAL_VIEWS; e++) ecams[e] = gen[e * 24 / EVAL_VIEWS + 24 / EVAL_VIEWS / 2];
        maxpx = GSZ_MAX(maxpx, (size_t)427 * 240); /* sampled at pixel step 3 */
    }
    target = gsz_malloc_array(maxpx, 3 * sizeof(float));
    opac_lat = gsz_malloc_array(n, sizeof(float));
    if (!target || !opac_lat) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    if (prune) {
        live = malloc(n); /* which of the file's Gaussians the fit still has */
        pacc = gsz_calloc_array(n, 2 * sizeof *pacc);
        seen = calloc(nviews, 1);
        if (!live || !pacc || !seen) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
        memset(live, 1, n);
        pra = (gsz_render_accum){.weight = pacc, .removal = pacc + n};
    }
    /* a latent logit per opacity (the decoder keeps opacities off 0 and 1) */
    for (size_t i = 0; i < n; i++) opac_lat[i] = gsz_logit(x.opacity[i]);
    free(x.opacity); /* the latents hold them from here */
    x.opacity = NULL;
    P[6].val = opac_lat;
    P[6].count = n;
    P[6].gf = G.opacity;
    for (int p = 0; p < NPARAM; p++) {
        P[p].lr = lr[p];
        if (!P[p].count) continue;
        P[p].m = gsz_calloc_array(P[p].count, sizeof(float));
        P[p].v = gsz_calloc_array(P[p].count, sizeof(float));
        if (!P[p].gf) P[p].g = gsz_malloc_array(P[p].count, sizeof(double));
        if (!P[p].m || !P[p].v || (!P[p].gf && !P[p].g)) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    }
    gsz_render_options ro = {0};
    ro.threads = threads;
    ro.workspace = ws = gsz_render_workspace_create(); /* NULL: per-render buffers */
    T.ro = &ro;
    for (int p = 3; p < 6; p++) {
        if (!x.codebook_size[p] || P[p].count || x.codebook_bits[p]) continue;
        size_t m = (size_t)P[p].k * (size_t)P[p].dim;
        if (!(sh16[p - 3] = gsz_malloc_array(m, sizeof(uint16_t)))) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
        for (size_t j = 0; j < m; j++) sh16[p - 3][j] = to_bf16(x.codebook[p][j]);
        free(x.codebook[p]);
        x.codebook[p] = NULL;
        P[p].val = NULL;
    }
    ctx cx = {&d, colors, &G, &x, P, NULL, C.h.opacity_bits, threads, {0}, {sh16[0], sh16[1], sh16[2]},
              opt->vq_src && opt->vq_weight ? opt->vq_src : NULL, opt->vq_weight};
    unsigned fitted = 0; /* the index streams the reassignment rewrites (bit a) */
    size_t reassign_at = cx.src && steps >= 2 ? (size_t)GSZ_MAX(1, steps / REASSIGN_AT) : SIZE_MAX;
    for (unsigned l = 0; l < 256; l++) cx.level_logit[l] = gsz_logit(gsz_opacity_level(l, C.h.opacity_bits));
    gsz_parallel_for(n, 16384, threads, apply_range, &cx);
    gsz_render_options eo = ro; /* a ninth of the pixels: blending is most of a 1280x720 render */
    eo.pixel_step = 3;
    E.ro = &eo;
    order = gsz_malloc_array(nviews, sizeof(size_t));
    if (!order) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    for (size_t v = 0; v < nviews; v++) order[v] = v;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (size_t t = 0; t < (size_t)steps; t++) {
        size_t prev, cp = next_checkpoint(t, steps, ncp, &prev);
        if (prune && t && t == prev) {
            size_t before;
            next_checkpoint(t - 1, steps, ncp, &before);
            double ratio = before ? (double)(steps - (int)t) / (double)(t - before) : 0;
            /* the evaluation renders (1280x720) in a workspace of their own, the fitting's (its gradients)
             * freed meanwhile: at 450K they would otherwise add 15 MB to the encoder's peak */
            gsz_render_workspace_free(ws);
            ro.workspace = eo.workspace = ws = gsz_render_workspace_create();
            double *sig = NULL;
            err = prune_order_score(&cx, scaled, nviews, seen, &ro, target, pacc, nfile, &sig);
            if (!err) err = prune_to_target(&cx, &E, stride, target, sig, live, opt->target_psnr, ratio, opt->checkpoints > 1 ? 4 : 3, opt->keep_min, &after);
            free(sig);
            gsz_render_workspace_free(ws);
            ro.workspace = eo.workspace = ws = gsz_render_workspace_create();
            if (err) goto done;
            n = x.count;
        }
        /* the pruning order's sums, from the fit's steps over the last 3/4 pass of views before each
         * checkpoint (or since the one before): summed over a pass and more, the first views' were the
         * scene of many steps ago (playbot-trained small 17% larger at +0.18 dB), and the views left
         * out are rendered at the checkpoint; rendering every view there instead (as good) cost
         * playbot-trained balanced 2.5 s more with two checkpoints (docs/BENCHMARKS.md, session 32) */
        size_t h = (3 * nviews + 3) / 4;
        int sums = prune && cp && t + h >= cp;
        if (sums && (t == prev || t + h == cp)) { /* where they start */
            memset(pacc, 0, 2 * nfile * sizeof *pacc);
            memset(seen, 0, nviews);
        }
        if (t % nviews == 0) /* every view once per pass, in a fixed pseudo-random order */
            for (size_t v = nviews - 1; v > 0; v--) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t j = (size_t)(rng >> 33) % (v + 1), tmp = order[v];
                order[v] = order[j];
                order[j] = tmp;
            }
        if (t == reassign_at && (err = reassign(&cx, original, opt, &fitted))) goto done;
        size_t v = order[t % nviews];
        const gsz_camera *cam = &scaled[v];
        /* cached only where a later pass visits the view again (not at all with fewer steps than views) */
        if ((err = load_target(&T, v, target, (t / nviews + 1) * nviews < (size_t)steps))) goto done;
        cx.cam = cam;
        gsz_parallel_for(n, 16384, threads, color_range, &cx);
        ro.colors = colors;
        ro.accum = sums ? &pra : NULL;
        err = gsz_render_gradient(&d, cam, &ro, target, &G, NULL);
        ro.colors = NULL;
        ro.accum = NULL;
        if (sums) seen[v] = 1;
        if (err) goto done;
        gsz_parallel_for(NPARAM, 1, threads, gather_range, &cx);
        for (int p = 0; p < NPARAM; p++)
            if (P[p].count) adam(&P[p], (int)t + 1);
        for (int j = 0; j < P[1].k; j++) { /* rotations stay unit quaternions */
            float *q = P[1].val + 4 * (size_t)j, l = sqrtf(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
            if (l > 0) for (int k = 0; k < 4; k++) q[k] /= l;
        }
        gsz_parallel_for(n, 16384, threads, apply_range, &cx);
        if (opt->progress && (t % 8 == 0 || t + 1 == (size_t)steps)) opt->progress(opt->user, "fine-tune", (double)(t + 1) / (double)steps);
    }
    if (res) {
        res->count = n;
        res->psnr = 0;
        /* with one checkpoint (large scenes) the PSNR it left, which the later steps raise */
        if (n < nfile && opt->checkpoints < 2) res->psnr = after;
        else if (n < nfile && (err = eval_psnr(&cx, &E, 0, 1, target, &res->psnr, NULL))) goto done;
    }
    /* store: drop the pruned Gaussians from the other streams, re-quantise the codebooks and the
     * opacities, re-encode those sections (in parallel), rewrite the container; the fitting's buffers go
     * first, as zstd's high levels need memory of their own */
    release_fit(P, &T, &E, &G, &d, &colors, &target, &ws);
    free(pacc);
    pacc = NULL;
    /* of the indexed scene only the codebooks are left to store */
    free(x.pos); free(x.degree);
    x.pos = NULL;
    x.degree = NULL;
    for (int a = 0; a < 4; a++)
        if (!(fitted >> a & 1)) { free(x.index[a]); x.index[a] = NULL; }
    uint32_t gone = 0;
    if (n < nfile && (err = subset_jobs(&C, live, nfile, fitted, jobs, &nj, raws, &gone))) goto done;
    if ((err = index_jobs(&C, &x, fitted, jobs, &nj, raws))) goto done;
    for (int a = 0; a < 2; a++) { free(x.index[a]); x.index[a] = NULL; }
    opac = malloc(n ? n : 1);
    if (!opac) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    for (size_t i = 0; i < n; i++) opac[i] = gsz_opacity_quantise(opac_lat[i], C.h.opacity_bits);
    for (size_t j = 0; (n < nfile || fitted) && j < nj; j++) { /* the indices left unused where any moved */
        int p = gsz_index_slot(jobs[j].sec->type);
        if (p >= 0 && P[p].count && (err = drop_unused(P[p].k, &jobs[j], &keep[p]))) goto done;
    }
    for (int p = 0; p < NPARAM; p++) {
        if (!P[p].count) continue;
        uint32_t type = p < 6 ? cb_sec[p] : (uint32_t)GSZ_SEC_OPACITY;
        gsz_section *sec = (gsz_section *)gsz_container_find(&C, type);
        if (!sec || (p >= 3 && gone >> (p - 2) & 1)) continue; /* an SH degree pruning left without Gaussians */
        uint8_t *raw = opac;
        size_t rsize = n;
        if (p < 6 && (err = P[p].bits ? gsz_codebook_pack(P[p].val, P[p].k, P[p].dim, P[p].bits, &raw, &rsize)
                                       : gsz_codebook_pack_sh(P[p].val, P[p].k, P[p].dim, P[p].step, NULL, &raw, &rsize))) goto done;
        if (raw != opac) raws[nj] = raw;
        if (p < 6 && keep[p] && (err = gsz_codebook_keep(raw, &rsize, keep[p]))) goto done;
        jobs[nj++] = (gsz_encode_job){sec, raw, rsize, 1, NULL, GSZ_OK};
    }
    if ((err = gsz_encode_jobs(jobs, nj, opt->level, threads))) goto done;
    drop_degrees(&C, gone);
    C.h.count = n;
    size_t newsize;
    if ((err = gsz_container_write(&C, &newfile, &newsize))) goto done;
    free(*file);
    *file = newfile;
    *size = newsize;
done:
    release_fit(P, &T, &E, &G, &d, &colors, &target, &ws);
    for (size_t j = 0; j < nj; j++) free(jobs[j].stored);
    for (size_t j = 0; j < GSZ_MAX_SECTIONS; j++) free(raws[j]);
    for (int p = 0; p < 3; p++) free(sh16[p]);
    for (int p = 0; p < 6; p++) free(keep[p]);
    gsz_target_cache_free(&own);
    free(opac_lat); free(opac); free(scaled); free(order);
    free(live); free(seen); free(pacc);
    gsz_indexed_free(&x);
    return err;
}
