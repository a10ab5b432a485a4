/* The compression pipeline: significance -> pruning -> SH reduction -> Morton order -> vector
 * quantisation -> entropy coding -> container -> fine-tuning of the codebooks and opacities (refine.c).
 * See docs/FORMAT.md for what each section holds. */
#include "codec.h"

#include <string.h>
#include <xxhash.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

typedef struct {
    float prune, sh_threshold;
    int cb_div, cb_max, pos_bits, cb_bits, opacity_bits;
    float exact;  /* fraction of points given entries of their own (largest weighted VQ error) */
    int refine, refine_min, refine_large; /* fine-tuning steps: refine, or refine_large x STEPS_FULL / n where
                                            fewer (large scenes), at least refine_min (refine_steps) */
    float rate;   /* entropy-constrained VQ of colour (this), scale (half) and rotation (a quarter) */
    float sh_step; /* > 0: SH transform-coded at this step instead of vector-quantised */
    float target_psnr; /* > 0: fine-tuning prunes towards this PSNR (refine.c) */
    int views_large; /* generated significance views above 2 REFINE_FULL Gaussians (24 below; see prepare_views) */
    float sh_cb_step; /* > 0: the SH k-means codebooks transform-coded at this step instead of cb_bits */
    int pos_fine; /* position_bits: the grid step at most the median Gaussian's largest axis over 2^(1 + pos_fine) */
} preset_t;

/* Codebook sizes scale with the scene (entries = Gaussians / cb_div, capped), so that the codebook
 * bytes stay a small share of the file for small scenes and large scenes still get enough entries.
 * cb_div 0: one entry per Gaussian, i.e. scalar quantisation at cb_bits per value with the index
 * streams 0, 1, 2, ... (free after the delta transform): the same format serves near-lossless files.
 * rate: entropy-constrained assignment for colour, scale and rotation, whose k-means codebooks otherwise
 * spend full-length indices on Gaussians that barely show (SH gained too little: docs/BENCHMARKS.md).
 * opacity_bits: few levels suffice because fine-tuning fits every opacity to its level (straight-through).
 * high's 12 position and 5 opacity bits (were 13 and 6): 4.6% smaller for -0.2 dB on playbot-trained,
 * still 1 dB over SPZ there (docs/BENCHMARKS.md). small's 9 (was 10): at its fidelity a step of half
 * the median Gaussian's axis (position_bits) is fine enough: 4-6% smaller on the scenes of larger
 * Gaussians for -0.17 to +0.15 dB (target pruning keeps more), the rule keeping 10 on the dense ones,
 * where 9 lost (docs/BENCHMARKS.md, session 30); balanced at 9 lost everywhere.
 * pos_fine: balanced's step at most a quarter of that axis (small's and high's: half), 11 bits on the
 * dense scenes: there target pruning turns the finer positions into fewer Gaussians (playbot-trained
 * 3.7% and playbot 2.2% smaller at equal PSNR), while on scenes of larger Gaussians, where it keeps 10,
 * 11 cost 4-6% for at most +0.16 dB (docs/BENCHMARKS.md, session 35).
 * sh_threshold: balanced's 0.010 (0.015 before): more Gaussians keep their higher SH bands, which on a
 * trained scene target pruning turns into fewer Gaussians (playbot-trained 3.7% smaller at +0.11 dB,
 * the 1M scene +0.22 dB for +0.8%, the SOG scenes within 1.2% and 0.1 dB); the knobs were priced in
 * session 6, before target pruning. small's 0.04 lost on playbot (docs/BENCHMARKS.md, session 35).
 * sh_step: transform coding of SH where a 45-dimensional codebook saturates
 * (high); at balanced and small rates the fine-tuned codebooks fit better.
 * sh_cb_step: balanced's SH codebooks (a twentieth of playbot-trained's file at 8 bits per value)
 * transform-coded as a whole: 7% smaller for -0.1 dB there; neutral at small's (docs/BENCHMARKS.md).
 * target_psnr: fine-tuning prunes scenes that render far above it at the preset's settings (already-
 * quantised captures at 47-51 dB balanced) down to about it: balanced 1 dB and small half a dB over
 * the floors they are for (38 and 33 dB), the estimate's error on 8 views (docs/BENCHMARKS.md). High's
 * TARGET_FREE: only what costs nothing goes (see TARGET_FREE). */
#define TARGET_FREE 200.0f /* a target no file reaches: fine-tuning prunes only what costs <= 0.05 dB (refine.c) */
#define REFINE_FULL 131072 /* above: a large scene, with fewer views and checkpoints (prepare_views, refine) */
#define STEPS_FULL 262144  /* see refine_steps */
#define VIEW_SIDE 512      /* the significance views' long side (prepare_views) */
static const preset_t presets[4] = {
    [GSZ_PRESET_BALANCED] = {.prune = 0.10f, .sh_threshold = 0.010f, .cb_div = 48, .cb_max = 4096, .pos_bits = 10, .cb_bits = 8,
                             .opacity_bits = 4, .exact = 0.005f, .refine = 96, .refine_min = 16, .refine_large = 64, .rate = 3.0f,
                             .target_psnr = 39.0f, .views_large = 16, .sh_cb_step = 0.03f, .pos_fine = 1},
    [GSZ_PRESET_HIGH] = {.prune = 0.05f, .sh_threshold = 0.005f, .cb_div = 20, .cb_max = 8192, .pos_bits = 12, .cb_bits = 8,
                         .opacity_bits = 5, .exact = 0.01f, .refine = 64, .refine_min = 64, .refine_large = 64, .rate = 1.0f,
                         .sh_step = 0.092f, .target_psnr = TARGET_FREE, .views_large = 24},
    [GSZ_PRESET_SMALL] = {.prune = 0.30f, .sh_threshold = 0.060f, .cb_div = 128, .cb_max = 2048, .pos_bits = 9, .cb_bits = 8,
                          .opacity_bits = 3, .exact = 0.005f, .refine = 192, .refine_min = 16, .refine_large = 128, .rate = 4.0f,
                          .target_psnr = 33.5f, .views_large = 16},
    [GSZ_PRESET_MAX] = {.sh_threshold = -1.0f, .pos_bits = 16, .cb_bits = 8, .opacity_bits = 8, .views_large = 24},
};

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Position bits: the preset's, raised where the grid step over the bounds' largest extent ext would
 * exceed the median Gaussian's largest axis over 2^(1 + fine) (half of it at fine 0), as on scenes
 * whose bounds are far larger than their Gaussians: a step relative to the bounds alone would move
 * every small Gaussian there. With a warp (w, unbounded scenes) ext is the warped one and each
 * Gaussian's axis is measured on the warped grid (divided by the warp's slope 1 + |x - c| / r there),
 * and the dense region keeps the preset's step for a scene of its size (2 r): the bits grow with the
 * warped extent over 2 r; fine does not apply there (bench/unbounded.py's composite, balanced: 15 bits
 * instead of 14, 7% larger at -0.16 dB). */
static int position_bits(const gsz_scene *s, float ext, int bits, int fine, const gsz_warp *w) {
    enum { BINS = 8192 }; /* log2 of the largest axis in 1/64 steps over [-64, 64) */
    uint32_t *hist = calloc(BINS, sizeof *hist);
    if (!hist || !(ext > 0) || !isfinite(ext)) { free(hist); return bits; }
    for (size_t i = 0; i < s->count; i++) {
        const float *l = s->scale + 3 * i;
        double a = GSZ_MAX(l[0], GSZ_MAX(l[1], l[2])) * 1.4426950408889634 + 64; /* log2(e) */
        if (w) {
            const float *p = s->pos + 3 * i;
            double dx = p[0] - w->c[0], dy = p[1] - w->c[1], dz = p[2] - w->c[2];
            a -= log2(1.0 + sqrt(dx * dx + dy * dy + dz * dz) / w->r);
        }
        hist[(size_t)GSZ_CLAMP(floor(a * 64), 0.0, (double)(BINS - 1))]++;
    }
    size_t acc = 0, b = 0;
    while (b + 1 < BINS && (acc += hist[b]) * 2 < s->count) b++;
    free(hist);
    double med = exp2((double)b / 64 - 64), need = ceil(log2((double)ext / med)) + 1 + (w ? 0 : fine);
    if (w) need = GSZ_MAX(need, bits + ceil(log2((double)ext / (2.0 * w->r))));
    return need > bits ? (int)GSZ_MIN(need, 21.0) : bits;
}

/* Fine-tuning's views: on large scenes (over 2 REFINE_FULL Gaussians, bounded in time: 2-3 steps a
 * view) the significance views as they are, whose renders in the significance pass (with every SH band
 * then) are its first targets: playbot balanced 1 s faster and 0.2 dB closer than at 3/4 of their side
 * with targets of its own. Smaller scenes take 3-8 steps a view, where the larger views' cost per step
 * outweighs the renders saved: 3/4 of the side (384) fits as well per second of encode (512 with 64
 * steps instead of 96, in less time: playbot-trained -0.05 dB, playbot-small -0.00), except where the
 * scene covers under GSZ_COVER_MIN of its views: a small object, undersampled at 384 px, whose larger
 * views add few covered pixels to a step (guitar and biker +0.2-0.6 dB or 2.5-6% fewer bytes for 0-25%
 * more time; docs/BENCHMARKS.md, session 28). large_fit: the first case, known before the significance
 * pass (its renders then serve as targets). */
static int large_fit(size_t n) { return n > 2 * (size_t)REFINE_FULL; }
static int fit_side(size_t n, double coverage) { return large_fit(n) || coverage < GSZ_COVER_MIN ? VIEW_SIDE : VIEW_SIDE * 3 / 4; }

/* A fine-tuning step costs time in proportion to the Gaussians: a preset takes its refine steps, or
 * refine_large at STEPS_FULL Gaussians and proportionally fewer above (at least refine_min), so that
 * encode time stays bounded on large scenes. Session 15's renderer, 1.5x faster, paid for more: steps
 * in full up to 262,144 Gaussians instead of 131,072 (playbot's 450K balanced 37 steps, not 18: +0.2 dB
 * at equal bytes), and on smaller scenes balanced's 96 steps instead of 64 and small's 192 instead of
 * 128, within session 14's encode times (balanced: playbot-trained +0.1 dB, biker +0.3 dB and 0.8%
 * smaller; 128 gave +0.18 dB there for 14.4 s instead of 11.8; docs/BENCHMARKS.md). High's 64 stay: 96
 * gave it +0.03 dB. */
static int refine_steps(const preset_t *p, size_t n) {
    double large = (double)p->refine_large * STEPS_FULL / (double)GSZ_MAX(n, (size_t)1);
    return large >= p->refine ? p->refine : GSZ_MAX(p->refine_min, (int)large);
}

static int cb_size(int requested, size_t n, const preset_t *p) {
    if (requested > 0) return requested;
    if (p->cb_div == 0) return (int)GSZ_MIN(n, (size_t)GSZ_CODEBOOK_MAX);
    return clampi((int)(n / (size_t)p->cb_div), 64, p->cb_max);
}

/* A position's 63-bit Morton code on the header's grid of qmax + 1 points per axis. */
static uint64_t morton_code(const gsz_header *h, const float *p, uint32_t qmax) {
    uint32_t q[3];
    for (int k = 0; k < 3; k++) {
        float ext = h->bmax[k] - h->bmin[k];
        double t = ext > 0 ? (double)(p[k] - h->bmin[k]) / (double)ext : 0.0;
        long v = lround(t * qmax);
        q[k] = (uint32_t)GSZ_CLAMP(v, 0, (long)qmax);
    }
    return gsz_morton3(q[0], q[1], q[2]);
}

/* Cameras for significance and SH reduction: at most 32, at most VIEW_SIDE px on the long side. Generated:
 * 24, or the preset's views_large above 2 REFINE_FULL Gaussians: balanced and small, bounded in time,
 * take 16 there (playbot, 500K: 3 s faster for -0.07 dB at equal bytes), high keeps 24 (with 16 it
 * lost 0.7-1.0 dB on playbot and 1M: its exact entries follow the significance; docs/BENCHMARKS.md). */
static gsz_error prepare_views(const gsz_scene *s, const gsz_compress_options *o, const preset_t *P, gsz_camera **out, size_t *n_out) {
    size_t gen = o->views > 0 ? (size_t)o->views : s->count > 2 * (size_t)REFINE_FULL ? (size_t)P->views_large : 24;
    size_t n = o->cameras && o->camera_count ? GSZ_MIN(o->camera_count, (size_t)32) : gen;
    gsz_camera *c = gsz_calloc_array(n, sizeof *c);
    if (!c) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    if (o->cameras && o->camera_count) {
        for (size_t i = 0; i < n; i++) c[i] = o->cameras[i * o->camera_count / n];
    } else {
        gsz_error e = gsz_cameras_place(s, o->placement, n, VIEW_SIDE, VIEW_SIDE * 3 / 4, 0, c);
        if (e) { free(c); return e; }
    }
    for (size_t i = 0; i < n; i++) gsz_camera_fit_side(&c[i], VIEW_SIDE);
    *out = c;
    *n_out = n;
    return GSZ_OK;
}

/* A required section of C for the n elements of raw, to be entropy-coded as jobs[*nj]. */
static void add_job(gsz_container *C, gsz_encode_job *jobs, size_t *nj, uint32_t type, const void *raw, size_t n, int width) {
    C->s[C->n] = (gsz_section){.type = type, .flags = GSZ_SECF_REQUIRED};
    jobs[(*nj)++] = (gsz_encode_job){&C->s[C->n++], raw, n, width, NULL, GSZ_OK};
}

/* Entropy-codes the jobs' streams (gsz_encode_jobs: in parallel; the jobs keep their payloads, the
 * caller frees them) and writes the container file. */
static gsz_error write_streams(gsz_container *C, gsz_encode_job *jobs, size_t nj, int level, int threads, uint8_t **file, size_t *fsize) {
    gsz_error err = gsz_encode_jobs(jobs, nj, level, threads);
    return err ? err : gsz_container_write(C, file, fsize);
}

/* What the final file holds: Gaussians, SH degrees, bytes in all and by section. */
static gsz_error file_stats(const uint8_t *file, size_t fsize, gsz_compress_stats *st) {
    gsz_file_info fi;
    gsz_error err = gsz_file_inspect(file, fsize, &fi);
    if (err) return err;
    for (size_t i = 0; i < fi.section_count; i++)
        if (fi.sections[i].type < 32) st->section_bytes[fi.sections[i].type] += (size_t)fi.sections[i].stored_size;
    for (int d = 0; d < 4; d++) st->count_by_degree[d] = (size_t)fi.count_by_degree[d];
    st->output_count = (size_t)fi.count;
    st->sh_degree = fi.sh_degree;
    st->bytes = fsize;
    return GSZ_OK;
}

typedef struct {
    size_t count;
    uint32_t entry;
} use_t;

static int cmp_use(const void *a, const void *b) {
    const use_t *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->entry > y->entry) - (x->entry < y->entry);
}

/* Renumbers codebook entries by how many Gaussians use them (most used first) and drops unused ones:
 * index bytes then skew towards small values, which zstd's byte-wise Huffman coding exploits (the
 * high byte of a 16-bit index becomes mostly 0). Returns the new entry count; on allocation failure
 * leaves everything as it is. */
static int order_by_use(float *cent, int k, int dim, uint32_t *as, size_t n) {
    use_t *u = calloc((size_t)k, sizeof *u);
    uint32_t *remap = malloc((size_t)k * sizeof *remap);
    uint8_t *done = calloc((size_t)k, 1);
    if (!u || !remap || !done || dim > 64) { free(u); free(remap); free(done); return k; }
    for (int j = 0; j < k; j++) u[j].entry = (uint32_t)j;
    for (size_t i = 0; i < n; i++) u[as[i]].count++;
    qsort(u, (size_t)k, sizeof *u, cmp_use);
    int used = 0;
    while (used < k && u[used].count) used++;
    for (int j = 0; j < k; j++) remap[u[j].entry] = (uint32_t)j;
    for (size_t i = 0; i < n; i++) as[i] = remap[as[i]];
    /* entries moved in place along the permutation's cycles (no copy of the codebook: the palette of a
     * SOG scene's SH is 1.6 MB at 31K Gaussians) */
    size_t row = (size_t)dim * sizeof(float);
    float tmp[64];
    for (int j = 0; j < k; j++) {
        if (done[j]) continue;
        memcpy(tmp, cent + (size_t)j * (size_t)dim, row);
        int at = j;
        for (;;) {
            done[at] = 1;
            int from = (int)u[at].entry;
            if (from == j) break;
            memcpy(cent + (size_t)at * (size_t)dim, cent + (size_t)from * (size_t)dim, row);
            at = from;
        }
        memcpy(cent + (size_t)at * (size_t)dim, tmp, row);
    }
    free(u);
    free(remap);
    free(done);
    return used;
}

static gsz_error vq_indices(uint32_t *as, size_t n, int k, void **idx_out, int *idx_width);
static gsz_error identity_indices(size_t n, uint8_t **cb, void **idx_out, int *idx_width);

/* SH points first .. first + count - 1 of a degree (vq's get): their rows of the input */
typedef struct {
    const float *rest;
    size_t stride, dim;
    const uint32_t *src;
} sh_points;
static void sh_get(void *user, size_t first, size_t count, float *out) {
    const sh_points *p = user;
    for (size_t j = 0; j < count; j++) memcpy(out + j * p->dim, p->rest + p->stride * (size_t)p->src[first + j], p->dim * sizeof(float));
}

/* Vector-quantises n vectors: trains the codebook, gives the `exact` fraction of points with the
 * largest weighted error entries of their own (their values at the codebook's precision), numbers
 * entries by use and stores them at `bits`, or transform-coded at `step` where it is > 0 (SH). With
 * get (the same points again), x is the k-means' scratch and the points are read back through get. */
static gsz_error vq(float *x, gsz_points_fn get, void *user, const float *w, float exact, float rate, size_t n, int dim, int k,
                    int bits, float step, int threads, uint8_t **cb_out, size_t *cb_size_out, void **idx_out, int *idx_width) {
    if (k > (int)n) k = (int)n;
    if (k > GSZ_CODEBOOK_MAX) k = GSZ_CODEBOOK_MAX;
    if (k < 1) k = 1;
    /* one entry per point (scalar quantisation): the points are the codebook, packed in place (x is
     * scratch), the indices 0, 1, 2, ...; what k-means and the ordering by use would give, without a
     * copy of the largest array of the encode */
    if ((size_t)k >= n) {
        gsz_error e = gsz_codebook_pack(x, k, dim, bits, cb_out, cb_size_out);
        return e ? e : identity_indices(n, cb_out, idx_out, idx_width);
    }
    size_t ne = exact <= 0 ? 0 : GSZ_MIN((size_t)ceil((double)exact * (double)n), n - (size_t)k);
    ne = GSZ_MIN(ne, (size_t)(GSZ_CODEBOOK_MAX - k));
    float *cent = gsz_malloc_array((size_t)k + ne, (size_t)dim * sizeof(float));
    uint32_t *as = gsz_malloc_array(n, sizeof(uint32_t));
    if (!cent || !as) { free(cent); free(as); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    gsz_kmeans_options ko = {0};
    ko.k = k;
    ko.threads = threads;
    ko.rate = rate;
    gsz_error e = get ? gsz_kmeans_scratch(x, w, n, dim, &ko, cent, as) : gsz_kmeans(x, w, n, dim, &ko, cent, as);
    if (!e && ne) {
        enum { CHUNK = 4096 };
        float *err = gsz_malloc_array(n, sizeof(float));
        uint32_t *worst = gsz_malloc_array(ne, sizeof(uint32_t));
        if (!err || !worst) e = gsz_fail(GSZ_ERROR_memory, "out of memory");
        for (size_t b = 0; !e && b < n; b += CHUNK) { /* x, or the points read back a chunk at a time into it */
            size_t c = GSZ_MIN((size_t)CHUNK, n - b);
            const float *p = x + b * (size_t)dim;
            if (get) {
                get(user, b, c, x);
                p = x;
            }
            for (size_t i = b; i < b + c; i++) {
                double d2 = 0;
                for (int d = 0; d < dim; d++) {
                    double t = (double)p[(i - b) * (size_t)dim + (size_t)d] - (double)cent[(size_t)as[i] * (size_t)dim + (size_t)d];
                    d2 += t * t;
                }
                err[i] = (float)(d2 * (w ? w[i] : 1.0f));
            }
        }
        if (!e) e = gsz_worst_points(err, n, ne, worst);
        for (size_t j = 0; !e && j < ne; j++) {
            float *to = cent + ((size_t)k + j) * (size_t)dim;
            if (get) get(user, worst[j], 1, to);
            else memcpy(to, x + (size_t)worst[j] * (size_t)dim, (size_t)dim * sizeof(float));
            as[worst[j]] = (uint32_t)((size_t)k + j);
        }
        if (!e) k += (int)ne;
        free(err);
        free(worst);
    }
    if (!e) k = order_by_use(cent, k, dim, as, n);
    if (!e) e = step > 0 ? gsz_codebook_pack_sh(cent, k, dim, step, NULL, cb_out, cb_size_out) : gsz_codebook_pack(cent, k, dim, bits, cb_out, cb_size_out);
    free(cent);
    if (e) { free(as); return e; }
    return vq_indices(as, n, k, idx_out, idx_width);
}

/* Step classes of transform-coded SH entries (see gsz_codebook_pack_sh): step ~ 1/sqrt(weight), the
 * equal-slope rule for weighted squared error, in powers of two: class 1 (the preset's step) at weight
 * ref, class 0 (half of it) from twice ref, up to class 4 (8x it). */
static void sh_classes(const float *w, size_t k, double ref, uint8_t *cls) {
    for (size_t j = 0; j < k; j++) {
        double c = ref > 0 ? 0.5 * log2(ref / GSZ_MAX((double)w[j], 1e-30 * ref)) : 0.0;
        cls[j] = (uint8_t)GSZ_CLAMP(lround(c) + 1, 0, 4);
    }
}

/* The input's own SH palette: where the n vectors repeat (at most `limit` distinct; scenes decoded
 * from vector-quantised formats such as SOG, whose SH come from a 64K-entry palette), the distinct
 * vectors are the codebook, each point indexing its own: exact where the values fit a table (see
 * gsz_codebook_pack), else at the 8 bits of the other SH codebooks; or, with a step (high), transform-
 * coded like one entry per Gaussian, an entry's weight being its Gaussians' (w): most entries serve
 * several, so they get the finer classes. Returns 0 (nothing done) where they do not repeat enough. */
static int palette(float *x, const float *w, size_t n, int dim, size_t limit, float step, uint8_t **cb_out, size_t *cb_size_out,
                   void **idx_out, int *idx_width, gsz_error *err) {
    size_t row = (size_t)dim * sizeof(float), slots = 64;
    limit = GSZ_MIN(limit, (size_t)GSZ_CODEBOOK_MAX);
    if (limit < 1) return 0;
    while (slots < 2 * limit) slots *= 2;
    uint32_t *slot = gsz_malloc_array(slots, sizeof(uint32_t)), *first = gsz_malloc_array(limit, sizeof(uint32_t));
    uint32_t *as = gsz_malloc_array(n, sizeof(uint32_t));
    if (!slot || !first || !as) { free(slot); free(first); free(as); return 0; }
    memset(slot, 0xFF, slots * sizeof(uint32_t));
    size_t k = 0; /* distinct vectors so far; first[j]: the point where vector j first occurs */
    for (size_t i = 0; i < n; i++) {
        const float *v = x + i * (size_t)dim;
        size_t h = (size_t)XXH3_64bits(v, row) & (slots - 1);
        while (slot[h] != UINT32_MAX && memcmp(x + (size_t)first[slot[h]] * (size_t)dim, v, row)) h = (h + 1) & (slots - 1);
        if (slot[h] == UINT32_MAX) {
            if (k == limit) { k++; break; }
            first[k] = (uint32_t)i;
            slot[h] = (uint32_t)k++;
        }
        as[i] = slot[h];
    }
    free(slot);
    if (k > limit) { free(first); free(as); return 0; }
    for (size_t j = 0; j < k; j++) memmove(x + j * (size_t)dim, x + (size_t)first[j] * (size_t)dim, row); /* first[j] >= j */
    free(first);
    int kk = order_by_use(x, (int)k, dim, as, n);
    if (step > 0) {
        float *ew = calloc((size_t)kk, sizeof *ew);
        uint8_t *cls = malloc((size_t)kk);
        double sum = 0;
        if (ew && cls) {
            for (size_t i = 0; i < n; i++) { ew[as[i]] += w[i]; sum += w[i]; }
            sh_classes(ew, (size_t)kk, sum / (double)n, cls);
            *err = gsz_codebook_pack_sh(x, kk, dim, 0.5f * step, cls, cb_out, cb_size_out);
        } else *err = gsz_fail(GSZ_ERROR_memory, "out of memory");
        free(ew);
        free(cls);
    } else *err = gsz_codebook_pack(x, kk, dim, 8, cb_out, cb_size_out);
    if (*err) free(as);
    else *err = vq_indices(as, n, kk, idx_out, idx_width);
    return 1;
}

/* SH rest coefficients transform-coded, one codebook entry per Gaussian (see gsz_codebook_pack_sh),
 * the step class from the Gaussian's significance against the mean (sh_classes; docs/BENCHMARKS.md:
 * the finer class 0 gained 2% at equal PSNR). */
static gsz_error sh_transform(float *x, const float *w, size_t n, int dim, float step,
                              uint8_t **cb_out, size_t *cb_size_out, void **idx_out, int *idx_width) {
    uint8_t *cls = calloc(n ? n : 1, 1);
    if (!cls) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += w[i];
    sh_classes(w, n, mean / (double)n, cls);
    gsz_error e = gsz_codebook_pack_sh(x, (int)n, dim, 0.5f * step, cls, cb_out, cb_size_out);
    free(cls);
    return e ? e : identity_indices(n, cb_out, idx_out, idx_width);
}

/* The index stream 0, 1, 2, ... of a codebook with an entry per point (free after the delta
 * transform); on failure the codebook already packed into *cb is freed too. */
static gsz_error identity_indices(size_t n, uint8_t **cb, void **idx_out, int *idx_width) {
    uint32_t *as = gsz_malloc_array(n, sizeof(uint32_t));
    gsz_error e = as ? GSZ_OK : gsz_fail(GSZ_ERROR_memory, "out of memory");
    for (size_t i = 0; as && i < n; i++) as[i] = (uint32_t)i;
    if (!e) e = vq_indices(as, n, (int)n, idx_out, idx_width);
    if (e) { free(*cb); *cb = NULL; }
    return e;
}

/* The index stream as tightly sized integers (takes over `as`). */
static gsz_error vq_indices(uint32_t *as, size_t n, int k, void **idx_out, int *idx_width) {
    int iw = gsz_index_width((size_t)k);
    if (iw == 4) { *idx_out = as; *idx_width = 4; return GSZ_OK; }
    void *o = malloc(n * (size_t)iw + 1);
    if (!o) { free(as); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    for (size_t i = 0; i < n; i++) gsz_index_put(o, iw, i, as[i]);
    free(as);
    *idx_out = o;
    *idx_width = iw;
    return GSZ_OK;
}

/* max on a scene that sits on compressed.ply's chunk lattice (lattice.c): the lattice itself, in the
 * input's order (its chunks; the colour words with R and B less G where that pays, in place), and the
 * SH as max stores them, an entry per Gaussian. */
static gsz_error compress_lattice(const gsz_scene *in, const float *ranges, uint32_t *words, int level, int threads,
                                  gsz_compress_stats *stats, void **out, size_t *out_size) {
    size_t n = in->count, nchunks = (n + GSZ_LATTICE_CHUNK - 1) / GSZ_LATTICE_CHUNK;
    size_t dim = (size_t)gsz_shRestCount(in->sh_degree) * 3;
    gsz_container C;
    memset(&C, 0, sizeof C);
    C.h.count = n;
    C.h.sh_degree = (uint8_t)in->sh_degree;
    C.h.pos_bits = 11;
    C.h.opacity_bits = 8;
    gsz_scene_bounds(in, C.h.bmin, C.h.bmax);
    gsz_encode_job jobs[8];
    size_t nj = 0;
    uint32_t lat[4] = {GSZ_SEC_LAT_POS, GSZ_SEC_LAT_SCALE, GSZ_SEC_LAT_COLOR, GSZ_SEC_LAT_ROT};
    if (gsz_lattice_color_pays(words + 2 * n, n)) { /* R and B less G */
        gsz_lattice_color_diff(words + 2 * n, n, 0);
        lat[2] = GSZ_SEC_LAT_COLOR_DIFF;
    }
    add_job(&C, jobs, &nj, GSZ_SEC_LAT_RANGES, ranges, nchunks * GSZ_LATTICE_RANGES, 4);
    for (int k = 0; k < 4; k++) add_job(&C, jobs, &nj, lat[k], words + (size_t)k * n, n, 4);
    uint8_t *degs = NULL, *cb = NULL;
    void *idx = NULL;
    gsz_error err = GSZ_OK;
    if (dim) {
        float *sh = gsz_malloc_array(n, dim * sizeof(float));
        degs = malloc(n);
        size_t cbs;
        int iw;
        if (!sh || !degs) err = gsz_fail(GSZ_ERROR_memory, "out of memory");
        if (!err) {
            memcpy(sh, in->sh_rest, n * dim * sizeof(float));
            memset(degs, in->sh_degree, n);
            err = gsz_codebook_pack(sh, (int)n, (int)dim, 8, &cb, &cbs);
        }
        free(sh);
        if (!err) err = identity_indices(n, &cb, &idx, &iw);
        if (!err) {
            add_job(&C, jobs, &nj, GSZ_SEC_SH_DEGREE, degs, n, 1);
            add_job(&C, jobs, &nj, (uint32_t)(GSZ_SEC_SH1_CB + in->sh_degree - 1), cb, cbs, 1);
            add_job(&C, jobs, &nj, (uint32_t)(GSZ_SEC_SH1_IDX + in->sh_degree - 1), idx, n, iw);
        }
    }
    uint8_t *file = NULL;
    size_t fsize = 0;
    if (!err) err = write_streams(&C, jobs, nj, level, threads, &file, &fsize);
    for (size_t i = 0; i < nj; i++) free(jobs[i].stored);
    free(degs); free(cb); free(idx);
    if (!err) err = file_stats(file, fsize, stats);
    if (err) { free(file); return err; }
    stats->lattice = 1;
    *out = file;
    *out_size = fsize;
    return GSZ_OK;
}

/* Significance kept between the encodes of compress_to_budget (it depends on neither the pruning nor
 * the codebooks): score has twice the input's count, the significance then the pruning score; valid
 * once computed. So are fine-tuning's targets
 * where the significance renders gave them (large scenes: 16-24 renders of the input fewer an encode). */
typedef struct {
    double *score;
    size_t views; /* of the significance in score; 0: none yet */
    double coverage; /* the scene's coverage of those views (gsz_significance) */
    gsz_target_cache targets; /* of those views, shared by the encodes' fits; empty where none */
} sig_cache;

/* One encode of in (checked by gsz_compress) with the settings of P (a preset, or a mix of two for
 * --max-bytes) and opt. */
static gsz_error compress_once(const gsz_scene *in, const gsz_compress_options *opt, const preset_t *P, sig_cache *sc, void **out,
                               size_t *out_size, gsz_compress_stats *st) {
    *out = NULL;
    *out_size = 0;
    float prune = opt->prune < 0 ? 0 : opt->prune > 0 ? opt->prune : P->prune;
    if (prune >= 1) return gsz_fail(GSZ_ERROR_argument, "--prune must be below 1");
    float exact = opt->exact < 0 ? 0 : opt->exact > 0 ? opt->exact : P->exact;
    float rate = opt->vq_rate < 0 ? 0 : opt->vq_rate > 0 ? opt->vq_rate : P->rate;
    float sh_step = opt->sh_step > 0 ? opt->sh_step : opt->sh_step < 0 || opt->codebook_sh > 0 ? 0 : P->sh_step; /* an explicit codebook size asks for one */
    float sh_thr = opt->sh_threshold < 0 ? -1 : opt->sh_threshold > 0 ? opt->sh_threshold : P->sh_threshold;
    int pos_bits = opt->pos_bits ? opt->pos_bits : P->pos_bits;
    if (pos_bits < 8 || pos_bits > 21) return gsz_fail(GSZ_ERROR_argument, "position bits %d out of range 8..21", pos_bits);
    if (opt->max_sh_degree < 0 || opt->max_sh_degree > 4) return gsz_fail(GSZ_ERROR_argument, "SH degree cap %d out of range 0..3", opt->max_sh_degree - 1);
    int cap = opt->max_sh_degree > 0 ? GSZ_MIN(opt->max_sh_degree - 1, in->sh_degree) : in->sh_degree;
    int level = opt->zstd_level ? GSZ_CLAMP(opt->zstd_level, 1, 22) : 19;
    int threads = gsz_thread_count(opt->threads);
    gsz_compress_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.input_count = in->count;
    gsz_error err = GSZ_OK;
    double t0 = gsz_now();

    /* max keeps a scene decoded from compressed.ply on that format's own lattice, exactly */
    if (P == &presets[GSZ_PRESET_MAX] && prune <= 0 && opt->prune_threshold <= 0 && cap == in->sh_degree && !opt->pos_bits) {
        size_t nchunks = (in->count + GSZ_LATTICE_CHUNK - 1) / GSZ_LATTICE_CHUNK;
        float *ranges = gsz_malloc_array(nchunks, GSZ_LATTICE_RANGES * sizeof(float));
        uint32_t *words = gsz_malloc_array(in->count, 4 * sizeof(uint32_t));
        int on = ranges && words && gsz_lattice_detect(in, ranges, words);
        if (on) err = compress_lattice(in, ranges, words, level, threads, &stats, out, out_size);
        free(ranges);
        free(words);
        if (on) {
            stats.seconds_encode = gsz_now() - t0;
            if (!err && st) *st = stats;
            return err;
        }
    }

    gsz_camera *views = NULL;
    size_t nviews = 0;
    gsz_target_cache own_targets = {0}; /* fine-tuning's targets from the significance renders */
    gsz_target_cache *targets = sc ? &sc->targets : &own_targets;
    double *score = gsz_malloc_array(in->count, 2 * sizeof(double)); /* significance, then pruning score */
    uint8_t *keep = malloc(in->count);
    gsz_scene s = {0};
    uint8_t *deg = NULL;
    uint32_t *rows = NULL; /* kept Gaussian -> the input's */
    float *buf = NULL, *wts = NULL;
    gsz_encode_job jobs[GSZ_MAX_SECTIONS];
    size_t njobs = 0;
    void *owned[GSZ_MAX_SECTIONS];
    size_t nowned = 0;
    uint32_t *vq_src = NULL; /* fine-tuning's reassignment: see gsz_refine_options */
    float *vq_w = NULL;
    if (!score || !keep) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    if ((err = prepare_views(in, opt, P, &views, &nviews))) goto done;

    /* 1. significance and pruning; skipped when nothing uses it (no pruning, no SH drop, every
     * codebook as large as the scene) */
    size_t cnt = in->count;
    int need_sig = prune > 0 || opt->prune_threshold > 0 || (sh_thr >= 0 && cap > 0) || (size_t)cb_size(opt->codebook_geom, cnt, P) < cnt ||
                   (size_t)cb_size(opt->codebook_dc, cnt, P) < cnt || (cap > 0 && (size_t)cb_size(opt->codebook_sh, cnt, P) < cnt);
    /* where fine-tuning follows on these views as they are, the significance renders are its first targets */
    int fit_targets = (opt->refine > 0 || (opt->refine == 0 && P->refine > 0)) && large_fit(in->count);
    double coverage = 1.0; /* unmeasured without significance: as if the scene filled its views */
    float target_psnr = opt->target_psnr < 0 ? 0 : opt->target_psnr > 0 ? opt->target_psnr : P->target_psnr;
    /* the preset's pruning of what costs nothing (high: guitar and biker 11% and 5% smaller for -0.07
     * and -0.03 dB) not on large scenes, whose fit is bounded in time: its checkpoint's renders took
     * playbot high 5 s longer and its sums (16 B a Gaussian) its peak past 3x the PLY, for nothing
     * found (docs/BENCHMARKS.md, session 33) */
    if (opt->target_psnr == 0 && P->target_psnr >= TARGET_FREE && large_fit(in->count)) target_psnr = 0;
    /* the pruning score's second blend pass only where something prunes (a budget's encodes all may) */
    int prunes = prune > 0 || opt->prune_threshold > 0 || target_psnr > 0 || sc;
    double *pscore = score + cnt;
    if (!need_sig) for (size_t i = 0; i < 2 * cnt; i++) score[i] = 1.0;
    else if (sc && sc->views == nviews) {
        memcpy(score, sc->score, 2 * cnt * sizeof *score);
        coverage = sc->coverage;
    } else {
        gsz_target_cache_free(targets); /* an earlier encode's, of other views */
        if (fit_targets && (err = gsz_target_cache_init(targets, in, nviews, 0))) goto done;
        targets->shared = sc != NULL;
        if ((err = gsz_significance(in, views, nviews, threads, opt->progress, opt->progress_user, score, prunes ? pscore : NULL,
                                    fit_targets ? targets : NULL, &coverage)))
            goto done;
        if (!prunes) memcpy(pscore, score, cnt * sizeof *score); /* read by nothing that prunes */
        if (sc) { memcpy(sc->score, score, 2 * cnt * sizeof *score); sc->views = nviews; sc->coverage = coverage; }
    }
    if (need_sig) for (size_t i = 0; i < cnt; i++) stats.unseen_count += !(score[i] > 0);
    stats.views_inside = opt->placement == GSZ_PLACEMENT_INSIDE;
    size_t n = gsz_prune_mask(pscore, in->count, prune, opt->prune_threshold, keep);
    if (n == 0) { err = gsz_fail(GSZ_ERROR_argument, "pruning removed every Gaussian (lower --prune-threshold)"); goto done; }
    /* the kept Gaussians, copied but for their SH rest coefficients (the largest array): those are read
     * from the input through rows (playbot max: 48 MB less at the peak) */
    if ((err = gsz_scene_alloc(&s, n, 0))) goto done;
    s.sh_degree = in->sh_degree;
    if (!(rows = gsz_malloc_array(n, sizeof(uint32_t)))) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    for (size_t i = 0, j = 0; i < in->count; i++) {
        if (!keep[i]) continue;
        memcpy(s.pos + 3 * j, in->pos + 3 * i, 12);
        memcpy(s.scale + 3 * j, in->scale + 3 * i, 12);
        memcpy(s.rot + 4 * j, in->rot + 4 * i, 16);
        s.opacity[j] = in->opacity[i];
        memcpy(s.sh_dc + 3 * j, in->sh_dc + 3 * i, 12);
        rows[j] = (uint32_t)i;
        score[j] = score[i];
        pscore[j] = pscore[i];
        j++;
    }
    free(keep);
    keep = NULL;
    stats.seconds_significance = gsz_now() - t0;
    t0 = gsz_now();

    /* 2. SH reduction */
    deg = calloc(n ? n : 1, 1);
    if (!deg) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    if (s.sh_degree > 0) {
        if ((err = gsz_sh_reduce(&s, in->sh_rest, rows, views, nviews, cap, sh_thr, score, threads, deg))) goto done;
        if (opt->progress) opt->progress(opt->progress_user, "sh reduction", 1.0);
    }
    /* Axes thinner than 1e-7 of the scene are invisible (the 0.3 px dilation dominates), but their
     * log-scales reach -50 and would stretch the scale codebook's range: clamped */
    float floor_log;
    {
        float c[3], r;
        gsz_scene_focus(&s, c, &r);
        floor_log = logf(r) - 16.0f;
        for (size_t i = 0; i < n; i++) gsz_geometry_vq(s.scale + 3 * i, s.rot + 4 * i, floor_log);
    }
    int maxdeg = 0;
    for (size_t i = 0; i < n; i++) maxdeg = GSZ_MAX(maxdeg, deg[i]);
    stats.seconds_sh = gsz_now() - t0;
    t0 = gsz_now();

    /* 3. Morton order on quantised positions */
    gsz_container C;
    memset(&C, 0, sizeof C);
    C.h.count = n;
    C.h.sh_degree = (uint8_t)maxdeg;
    C.h.opacity_bits = (uint8_t)P->opacity_bits;
    /* unbounded scenes: the grid on warped positions (the dense region's step where it is, coarser
     * with the distance from it), the warp in a section of its own */
    gsz_warp warp;
    float warp_raw[4];
    int warped = gsz_scene_core(&s, warp.c, &warp.r);
    if (warped < 0) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    gsz_scene_bounds(&s, C.h.bmin, C.h.bmax);
    if (warped)
        for (int k = 0; k < 3; k++) {
            C.h.bmin[k] = gsz_warp_forward(C.h.bmin[k], warp.c[k], warp.r);
            C.h.bmax[k] = gsz_warp_forward(C.h.bmax[k], warp.c[k], warp.r);
        }
    if (!opt->pos_bits) {
        float ext = 0;
        for (int k = 0; k < 3; k++) ext = GSZ_MAX(ext, C.h.bmax[k] - C.h.bmin[k]);
        pos_bits = position_bits(&s, ext, pos_bits, P->pos_fine, warped ? &warp : NULL);
    }
    if (warped) {
        for (size_t i = 0; i < 3 * n; i++) s.pos[i] = gsz_warp_forward(s.pos[i], warp.c[i % 3], warp.r);
        memcpy(warp_raw, warp.c, 12);
        warp_raw[3] = warp.r;
        add_job(&C, jobs, &njobs, GSZ_SEC_POS_WARP, warp_raw, 4, 4);
    }
    C.h.pos_bits = (uint8_t)pos_bits;
    uint32_t qmax = (1u << pos_bits) - 1;
    /* the codes' halves and the sort's scratch, then the codes again in Morton order (a radix sort,
     * ties in index order; qsort of (code, index) pairs took 1.5% of a playbot encode) */
    uint32_t *ks = gsz_malloc_array(n ? n : 1, 4 * sizeof *ks);
    uint32_t *perm = gsz_malloc_array(n, sizeof(uint32_t));
    uint64_t *codes = gsz_malloc_array(n, sizeof(uint64_t));
    if (!ks || !perm || !codes) { free(ks); free(perm); free(codes); err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    owned[nowned++] = codes;
    owned[nowned++] = perm;
    for (size_t i = 0; i < n; i++) {
        codes[i] = morton_code(&C.h, s.pos + 3 * i, qmax);
        ks[i] = (uint32_t)codes[i];
        ks[n + i] = (uint32_t)(codes[i] >> 32);
    }
    gsz_radix_order64(ks, ks + n, n, perm, ks + 2 * n, ks + 3 * n);
    free(ks);
    for (size_t i = 0; i < n; i++) codes[i] = morton_code(&C.h, s.pos + 3 * (size_t)perm[i], qmax);

    /* 4. attribute streams in Morton order */
    uint8_t *opac = malloc(n ? n : 1), *degs = malloc(n ? n : 1);
    if (!opac || !degs) { free(opac); free(degs); err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    owned[nowned++] = opac;
    owned[nowned++] = degs;
    wts = gsz_malloc_array(n, sizeof(float));
    size_t nr = (size_t)gsz_shRestCount(s.sh_degree);
    buf = gsz_malloc_array(n, GSZ_MAX((size_t)4, nr * 3) * sizeof(float));
    if (!wts || !buf) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    double mean_score = 0;
    for (size_t i = 0; i < n; i++) mean_score += score[i];
    mean_score = n ? mean_score / (double)n : 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t g = perm[i];
        opac[i] = gsz_opacity_quantise(s.opacity[g], C.h.opacity_bits);
        degs[i] = deg[g];
        wts[i] = (float)(score[g] + 1e-3 * mean_score);
    }
    int fit_steps = opt->refine < 0 ? 0 : opt->refine > 0 ? opt->refine : refine_steps(P, n);
    if (fit_steps > 0) {
        vq_src = gsz_malloc_array(n, sizeof *vq_src);
        vq_w = gsz_malloc_array(n, sizeof *vq_w);
        if (!vq_src || !vq_w) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
        for (size_t i = 0; i < n; i++) vq_src[i] = rows[perm[i]];
        memcpy(vq_w, wts, n * sizeof *vq_w);
    }
    add_job(&C, jobs, &njobs, GSZ_SEC_POSITION, codes, n, 8);
    add_job(&C, jobs, &njobs, GSZ_SEC_OPACITY, opac, n, 1);
    if (maxdeg > 0) add_job(&C, jobs, &njobs, GSZ_SEC_SH_DEGREE, degs, n, 1);

    /* 5. vector quantisation */
    struct { int cb_type, idx_type, dim; } attrs[3] = {
        {GSZ_SEC_SCALE_CB, GSZ_SEC_SCALE_IDX, 3}, {GSZ_SEC_ROT_CB, GSZ_SEC_ROT_IDX, 4}, {GSZ_SEC_DC_CB, GSZ_SEC_DC_IDX, 3}};
    for (int a = 0; a < 3; a++) {
        for (size_t i = 0; i < n; i++) {
            uint32_t g = perm[i];
            if (a == 0) memcpy(buf + 3 * i, s.scale + 3 * (size_t)g, 12);
            else if (a == 1) memcpy(buf + 4 * i, s.rot + 4 * (size_t)g, 16);
            else memcpy(buf + 3 * i, s.sh_dc + 3 * (size_t)g, 12);
        }
        int req = a == 2 ? opt->codebook_dc : opt->codebook_geom;
        int k = cb_size(req, n, P);
        if (a == 2 && req == 0 && P->cb_div) k = GSZ_MAX(64, k / 2); /* colour tolerates a coarser codebook than geometry */
        uint8_t *cb;
        size_t cbs;
        void *idx;
        int iw;
        if (opt->progress) opt->progress(opt->progress_user, a == 0 ? "vq scale" : a == 1 ? "vq rotation" : "vq color", 0.0);
        err = vq(buf, NULL, NULL, wts, exact, a == 2 ? rate : a == 0 ? 0.5f * rate : 0.25f * rate, n, attrs[a].dim, k, P->cb_bits, 0.0f, threads, &cb, &cbs, &idx, &iw);
        if (err) goto done;
        owned[nowned++] = cb;
        owned[nowned++] = idx;
        add_job(&C, jobs, &njobs, (uint32_t)attrs[a].cb_type, cb, cbs, 1);
        add_job(&C, jobs, &njobs, (uint32_t)attrs[a].idx_type, idx, n, iw);
        if (opt->progress) opt->progress(opt->progress_user, a == 0 ? "vq scale" : a == 1 ? "vq rotation" : "vq color", 1.0);
    }
    gsz_scene_free(&s); /* the copy is all in streams now; the SH come from the input (a SOG scene's max: -1.7 MB at 31K) */
#ifdef __GLIBC__
    /* the copy's arrays and the VQ's buffers, freed, mostly sat in the heap under the mmap threshold:
     * their pages go back before the SH stage gathers its rows (playbot-small max 3.00 -> 2.87x the PLY) */
    malloc_trim(0);
#endif
    /* each SH point's input row, where the k-means may read them again (not max's nor transform coding's) */
    int sh_kmeans = maxdeg > 0 && (P->cb_div || opt->codebook_sh > 0) && sh_step <= 0;
    uint32_t *sh_src = sh_kmeans ? gsz_malloc_array(n, sizeof(uint32_t)) : NULL;
    if (sh_kmeans && !sh_src) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    if (sh_src) owned[nowned++] = sh_src;
    for (int d = 1; d <= maxdeg; d++) {
        size_t m = 0, dim = (size_t)gsz_shRestCount(d) * 3;
        for (size_t i = 0; i < n; i++) {
            if (degs[i] != d) continue;
            uint32_t g = perm[i];
            if (sh_src) sh_src[m] = rows[g];
            memcpy(buf + m * dim, in->sh_rest + nr * 3 * (size_t)rows[g], dim * sizeof(float));
            wts[m] = (float)(score[g] + 1e-3 * mean_score);
            m++;
        }
        sh_points sp = {in->sh_rest, nr * 3, dim, sh_src};
        if (!m) continue;
        int k = cb_size(opt->codebook_sh, m, P);
        uint8_t *cb;
        size_t cbs;
        void *idx;
        int iw;
        if (opt->progress) opt->progress(opt->progress_user, "vq sh", 0.0);
        /* a palette where it costs no more than the preset's coding: with transform coding (high,
         * --sh-step) up to m / 6 entries (about its bytes there: docs/BENCHMARKS.md), with one entry
         * per Gaussian (max) up to where entries and indices reach its bytes, with k-means up to its k */
        size_t pal = sh_step > 0 ? m / 6 : !P->cb_div ? m * (dim - 2) / dim : (size_t)k;
        if (palette(buf, wts, m, (int)dim, pal, sh_step, &cb, &cbs, &idx, &iw, &err)) ;
        else if (sh_step > 0) err = sh_transform(buf, wts, m, (int)dim, sh_step, &cb, &cbs, &idx, &iw);
        else /* buf as the k-means' scratch, the rows read again from the input: one copy fewer */
            err = vq(buf, sh_src ? sh_get : NULL, &sp, wts, exact, 0.0f, m, (int)dim, k, 8, P->sh_cb_step, threads, &cb, &cbs, &idx, &iw);
        if (err) goto done;
        owned[nowned++] = cb;
        owned[nowned++] = idx;
        add_job(&C, jobs, &njobs, (uint32_t)(GSZ_SEC_SH1_CB + d - 1), cb, cbs, 1);
        add_job(&C, jobs, &njobs, (uint32_t)(GSZ_SEC_SH1_IDX + d - 1), idx, m, iw);
        if (opt->progress) opt->progress(opt->progress_user, "vq sh", 1.0);
    }
    stats.seconds_vq = gsz_now() - t0;
    t0 = gsz_now();

    /* 6. entropy coding (streams are independent: parallel and deterministic) and the container; the
     * working copies go first, zstd's high levels need memory of their own */
    free(buf); free(wts); free(deg); free(score); free(rows);
    buf = wts = NULL; deg = NULL; score = NULL; rows = NULL;

    if (opt->progress) opt->progress(opt->progress_user, "entropy coding", 0.0);
    uint8_t *file;
    size_t fsize;
    if ((err = write_streams(&C, jobs, njobs, level, threads, &file, &fsize))) goto done;
    if (opt->progress) opt->progress(opt->progress_user, "entropy coding", 1.0);
    stats.seconds_encode = gsz_now() - t0;
    t0 = gsz_now();
    /* 7. codebooks and opacities fine-tuned to renders of the input (the significance views); the raw
     * and coded streams go first, as fine-tuning needs memory of its own */
    for (size_t i = 0; i < njobs; i++) { free(jobs[i].stored); jobs[i].stored = NULL; }
    for (size_t i = 0; i < nowned; i++) free(owned[i]);
    nowned = 0;
    gsz_refine_options ro = {0};
    ro.steps = fit_steps;
    ro.threads = threads;
    ro.level = level;
    ro.target_psnr = target_psnr;
    ro.keep_min = (size_t)ceil(0.125 * (double)in->count); /* pruning in all removes at most 7/8 */
    /* each costs a few renders at 1280x720: one above; three below since the pruning order is measured
     * on the fitted scene (two before: the third took playbot-small and playbot-trained small 5% smaller
     * at -0.03 dB, guitar balanced 17% along its curve; docs/BENCHMARKS.md, session 32) */
    ro.checkpoints = n > REFINE_FULL ? 1 : 3;
    ro.placement = opt->placement;
    ro.fit_side = fit_side(in->count, coverage);
    ro.targets = targets->frame ? targets : NULL; /* made for these views (refine.c checks) */
    ro.progress = opt->progress;
    ro.user = opt->progress_user;
    ro.vq_src = vq_src;
    ro.vq_weight = vq_w;
    ro.vq_rate = rate;
    ro.scale_floor = floor_log;
    gsz_refine_result rr = {n, 0};
    if (ro.steps && (err = gsz_refine(in, views, nviews, &ro, &file, &fsize, &rr))) {
        free(file);
        goto done;
    }
    stats.psnr_estimate = rr.psnr;
    stats.seconds_refine = gsz_now() - t0;
    if ((err = file_stats(file, fsize, &stats))) { free(file); goto done; }
    *out = file;
    *out_size = fsize;
    if (st) *st = stats;
done:
    for (size_t i = 0; i < njobs; i++) free(jobs[i].stored);
    for (size_t i = 0; i < nowned; i++) free(owned[i]);
    free(views); free(score); free(keep); free(deg); free(buf); free(wts); free(rows);
    free(vq_src); free(vq_w);
    gsz_target_cache_free(&own_targets);
    gsz_scene_free(&s);
    return err;
}

/* The presets from smallest to largest files, as levels 0 (small), 1 (balanced) and 2 (high); level
 * L between two of them mixes their settings: values interpolated (codebook divisors and caps
 * geometrically, counts rounded), and a setting one of them leaves off (balanced's SH codebook step,
 * a target PSNR) taken from the nearer; high's transform-coded SH see SH_STEP_SPAN. */
static const gsz_preset level_preset[3] = {GSZ_PRESET_SMALL, GSZ_PRESET_BALANCED, GSZ_PRESET_HIGH};

/* Between balanced and high, high's transform-coded SH from halfway up, its step growing to this
 * multiple there: the bytes then rise smoothly from balanced's SH codebooks (playbot-trained 0.75 to
 * 0.77 MB at the switch; with high's own step there 0.74 to 1.09 MB, a range no mix reached, and
 * high pruned into it lost 2.4-3.5 dB: docs/BENCHMARKS.md). 2.7: the step (0.25) at which playbot-
 * trained's transform-coded file is about as small as the codebook one at the same fidelity. */
#define SH_STEP_SPAN 2.7

static preset_t preset_level(double level) {
    int i = (int)GSZ_CLAMP(floor(level), 0.0, 1.0);
    double t = GSZ_CLAMP(level - i, 0.0, 1.0);
    const preset_t *a = &presets[level_preset[i]], *b = &presets[level_preset[i + 1]];
    if (t == 0) return *a;
    if (t == 1) return *b;
#define LIN(f) ((float)(a->f + t * (b->f - a->f)))
#define INT(f) ((int)lround(a->f + t * (b->f - a->f)))
#define GEO(f) ((int)lround(a->f * pow((double)b->f / a->f, t)))
#define NEAR(f) (a->f > 0 && b->f > 0 ? LIN(f) : t < 0.5 ? a->f : b->f)
    preset_t p = {.prune = LIN(prune), .sh_threshold = LIN(sh_threshold), .cb_div = GEO(cb_div), .cb_max = GEO(cb_max),
                  .pos_bits = INT(pos_bits), .cb_bits = INT(cb_bits), .opacity_bits = INT(opacity_bits), .exact = LIN(exact),
                  .refine = INT(refine), .refine_min = INT(refine_min), .refine_large = INT(refine_large), .rate = LIN(rate),
                  .sh_step = NEAR(sh_step), .target_psnr = NEAR(target_psnr), .views_large = INT(views_large),
                  .sh_cb_step = NEAR(sh_cb_step), .pos_fine = INT(pos_fine)};
#undef LIN
#undef INT
#undef GEO
#undef NEAR
    if (a->sh_step == 0 && b->sh_step > 0) p.sh_step = t >= 0.5 ? (float)(b->sh_step * pow(SH_STEP_SPAN, (1.0 - t) / 0.5)) : 0.0f;
    /* towards high's target (TARGET_FREE: nothing but the free Gaussians) the target's squared error
     * shrinks to 0 (balanced to high: 39 dB, 42 halfway, 49 at 0.9): switched off halfway, playbot's
     * bytes jumped 2.5 -> 4.1 MB */
    if (a->target_psnr > 0 && b->target_psnr >= TARGET_FREE) p.target_psnr = (float)(a->target_psnr - 10.0 * log10(1.0 - t));
    return p;
}

/* --max-bytes. Two ways to a smaller file, searched over one coordinate each, 0 at the way's top file
 * and lower for smaller files:
 * - mix: the preset levels (above) from the caller's preset (max: from high) down to small, then
 *   small with more of the least significant Gaussians pruned (its kept fraction halved per unit
 *   down, to --prune's limit of 99% pruned);
 * - prune: the preset's own file's Gaussians (max's too), halved per unit down, pruned up front
 *   (least significant first) instead of by target pruning, whose choices jump with the count it is
 *   left (biker: more pruned up front, the same file size).
 * Which costs less depends on the scene: at the same bytes mixing kept 2.4-3.5 dB more than pruning
 * from high on the SH scenes, pruning more on biker from balanced, whose captured Gaussians are many
 * and redundant (docs/BENCHMARKS.md). So the first guess along each is measured (budget_fidelity)
 * and the way that loses less per byte saved from its top is searched on. Bytes fall about twofold
 * per unit along both (playbot-trained with its cameras: high, balanced, small 1.20, 0.64, 0.35 MB),
 * so each guess interpolates log bytes over the coordinate: between the encodes that fitted and those
 * that did not where there are both (halving where that crawls), else from the last two (slope
 * bounded), else by that twofold prior. Each encode is a whole one; a way ends at its largest file
 * that fitted within BUDGET_TOL under the cap, or short of that where its bytes jump (target
 * pruning's choices; settings 0.03 apart that fit and do not) or it has nothing larger (high, from
 * max), and then the other way is searched too. Where both ways have a file that fits, the one closer
 * to the input is kept. At most BUDGET_ENCODES encodes. The cap is a cap: the preset's own file,
 * where it fits, is kept as it is. */
#define BUDGET_TOL 0.03
#define BUDGET_ENCODES 8
#define BUDGET_SLOPE 0.65 /* ln 2 */
#define BUDGET_VIEWS 24
#define BUDGET_STEP 8
static const double BUDGET_KEEP_MIN = 0.01;

typedef struct {
    const gsz_scene *in;
    const gsz_compress_options *opt;
    double u_top;    /* mix: the caller's preset's level (2 high, 1 balanced, 0 small; max: 2, tried after max) */
    double keep_top;   /* prune: the fraction of the input the preset's own file kept */
    double prune_level; /* prune: the preset's level (3: max) */
    double keep_small; /* mix below 0: what small keeps up front (its pruning, or the caller's) */
    sig_cache sc;
    gsz_camera cams[BUDGET_VIEWS];
    float *ref; /* the input's renders of cams, at every BUDGET_STEP-th pixel, once needed */
    size_t view_values;
    double c[2][BUDGET_ENCODES], lb[2][BUDGET_ENCODES]; /* per way its encodes' coordinates and log bytes */
    int n[2], k;                                       /* encodes per way, in all */
    size_t smallest, smallest_count;                   /* the smallest file's bytes and Gaussians */
} budget;

enum { WAY_MIX, WAY_PRUNE };

/* One encode along a way at coordinate c (<= 0). */
static gsz_error budget_encode(budget *B, int way, double c, void **f, size_t *fs, gsz_compress_stats *st) {
    gsz_compress_options o = *B->opt;
    o.max_bytes = 0;
    preset_t P = presets[B->opt->preset];
    double level = B->u_top + c, prune = -1;
    if (way == WAY_PRUNE) { /* up front only: target pruning's choices jump with the count it is left */
        prune = 1.0 - B->keep_top * exp2(c);
        o.target_psnr = -1;
    }
    else if (level < 0) { P = presets[GSZ_PRESET_SMALL]; prune = 1.0 - B->keep_small * exp2(level); }
    else P = preset_level(level);
    if (prune >= 0) o.prune = prune > 0 ? (float)prune : -1.0f;
    gsz_error e = compress_once(B->in, &o, &P, &B->sc, f, fs, st);
    if (!e) {
        st->budget_level = way == WAY_PRUNE ? B->prune_level : level;
        st->budget_prune = o.prune > 0 ? o.prune : o.prune < 0 ? 0 : P.prune;
    }
    return e;
}

/* A file of fs bytes and count Gaussians at coordinate c of way w. */
static void budget_record(budget *B, int w, double c, size_t fs, size_t count) {
    if (fs < B->smallest) { B->smallest = fs; B->smallest_count = count; }
    B->c[w][B->n[w]] = c;
    B->lb[w][B->n[w]++] = log((double)fs);
}

/* One encode along way w at coordinate c, recorded; the file in *f. */
static gsz_error budget_step(budget *B, int w, double c, void **f, size_t *fs, gsz_compress_stats *st) {
    if (B->opt->progress && B->k) B->opt->progress(B->opt->progress_user, "fitting --max-bytes", (double)B->k / BUDGET_ENCODES);
    gsz_error e = budget_encode(B, w, c, f, fs, st);
    if (e) return e;
    B->k++;
    budget_record(B, w, c, *fs, st->output_count);
    return GSZ_OK;
}

/* Mean PSNR (capped at 100 dB) of a file against the input on gsz compare's 24 views, at every 8th
 * pixel: all of them, as a file's PSNR differs by up to 7 dB from view to view. */
static gsz_error budget_fidelity(budget *B, const void *file, size_t size, int threads, double *psnr) {
    gsz_render_options ro = {0};
    ro.threads = threads;
    ro.pixel_step = BUDGET_STEP;
    gsz_error e = GSZ_OK;
    if (!B->ref) {
        if ((e = gsz_cameras_place(B->in, B->opt->placement, BUDGET_VIEWS, 1280, 720, 0, B->cams))) return e; /* gsz compare's */
        B->view_values = (size_t)3 * ((1280 + BUDGET_STEP - 1) / BUDGET_STEP) * ((720 + BUDGET_STEP - 1) / BUDGET_STEP);
        if (!(B->ref = gsz_malloc_array(BUDGET_VIEWS * B->view_values, sizeof(float)))) return gsz_fail(GSZ_ERROR_memory, "out of memory");
        for (int v = 0; v < BUDGET_VIEWS && !e; v++) e = gsz_render(B->in, &B->cams[v], &ro, B->ref + v * B->view_values);
        if (e) { free(B->ref); B->ref = NULL; return e; }
    }
    gsz_scene d = {0};
    float *img = gsz_malloc_array(B->view_values, sizeof(float));
    if (!img) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    if (!(e = gsz_decompress(file, size, &d, threads))) {
        double sum = 0;
        for (int v = 0; v < BUDGET_VIEWS && !e; v++) {
            if ((e = gsz_render(&d, &B->cams[v], &ro, img))) break;
            sum += GSZ_MIN(gsz_psnr(B->ref + v * B->view_values, img, B->view_values), 100.0);
        }
        *psnr = sum / BUDGET_VIEWS;
    }
    gsz_scene_free(&d);
    free(img);
    return e;
}

/* The next coordinate along a way from its encodes so far (c, log bytes lb; n of them, the preset's
 * own file first), aiming at log bytes aim under cap; 1 where there is nothing left to try. */
static int budget_next(const double *c, const double *lb, int n, double cap, double aim, double c_min, double *next) {
    int lo = -1, hi = -1; /* the largest coordinate that fitted, the smallest that did not */
    for (int i = 0; i < n; i++) {
        if (exp(lb[i]) <= cap && (lo < 0 || c[i] > c[lo])) lo = i;
        if (exp(lb[i]) > cap && (hi < 0 || c[i] < c[hi])) hi = i;
    }
    if (lo >= 0 && (hi < 0 || c[hi] - c[lo] < 0.03)) return 1; /* settings that would barely differ */
    if (lo < 0 && c[hi] <= c_min) return 1;                        /* as far as this way goes */
    double nc;
    if (lo >= 0) { /* regula falsi, halving where the last two landed on one side (it crawls there) */
        int same = n >= 3 && (exp(lb[n - 1]) <= cap) == (exp(lb[n - 2]) <= cap);
        double t = lb[hi] > lb[lo] && !same ? (aim - lb[lo]) / (lb[hi] - lb[lo]) : 0.5;
        nc = c[lo] + GSZ_CLAMP(t, 0.02, 0.98) * (c[hi] - c[lo]);
    } else {
        double slope = n >= 2 && c[n - 1] != c[n - 2] ? (lb[n - 2] - lb[n - 1]) / (c[n - 2] - c[n - 1]) : BUDGET_SLOPE;
        nc = c[n - 1] + (aim - lb[n - 1]) / GSZ_CLAMP(slope, 0.3 * BUDGET_SLOPE, 3.0 * BUDGET_SLOPE);
    }
    *next = GSZ_CLAMP(nc, c_min, 0.0);
    return 0;
}

static gsz_error compress_to_budget(const gsz_scene *in, const gsz_compress_options *opt, void **out, size_t *out_size,
                                    gsz_compress_stats *st) {
    const double cap = (double)opt->max_bytes, aim = log(cap * (1.0 - BUDGET_TOL / 3));
    const int threads = gsz_thread_count(opt->threads);
    budget B;
    memset(&B, 0, sizeof B);
    B.in = in;
    B.opt = opt;
    B.smallest = SIZE_MAX;
    if (!(B.sc.score = gsz_malloc_array(in->count, 2 * sizeof(double)))) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    gsz_preset top = opt->preset == GSZ_PRESET_MAX ? GSZ_PRESET_HIGH : opt->preset;
    B.u_top = top == GSZ_PRESET_SMALL ? 0 : top == GSZ_PRESET_BALANCED ? 1 : 2;
    B.keep_small = 1.0 - (opt->prune > 0 ? opt->prune : opt->prune < 0 ? 0 : presets[GSZ_PRESET_SMALL].prune);
    const int ways = top == GSZ_PRESET_SMALL ? 1 : 2; /* from small both ways are the same */
    double q0[2] = {0, 0}, q[2] = {0, 0}, c_min[2];
    int way = WAY_MIX;
    void *best[2] = {NULL, NULL}, *f = NULL;
    size_t best_size[2] = {0, 0}, fs;
    gsz_compress_stats best_st[2], s;
    double best_q[2] = {NAN, NAN}; /* the kept files' fidelity where it was measured */
    gsz_error err = GSZ_OK;
#define FITS(w) (best[w] && (double)best_size[w] >= cap * (1.0 - BUDGET_TOL))
#define KEEP_IF_FITS(w, qv) do { \
        if ((double)fs <= cap && fs > best_size[w]) { free(best[w]); best[w] = f; best_size[w] = fs; best_st[w] = s; best_q[w] = (qv); f = NULL; } \
        free(f); \
        f = NULL; \
    } while (0)

    B.prune_level = B.u_top;
    if (opt->preset == GSZ_PRESET_MAX) { /* max as it is: the top of the prune way, high that of mixing */
        gsz_compress_options o = *opt;
        o.max_bytes = 0;
        if ((err = compress_once(in, &o, &presets[GSZ_PRESET_MAX], &B.sc, &f, &fs, &s))) goto done;
        B.k++;
        budget_record(&B, WAY_PRUNE, 0.0, fs, s.output_count);
        s.budget_level = B.prune_level = 3;
        B.keep_top = (double)s.output_count / (double)in->count;
        if ((double)fs > cap && (err = budget_fidelity(&B, f, fs, threads, &q0[WAY_PRUNE]))) goto done;
        way = WAY_PRUNE;
        KEEP_IF_FITS(WAY_PRUNE, NAN);
        if (best[WAY_PRUNE]) goto done;
    }
    if ((err = budget_step(&B, WAY_MIX, 0.0, &f, &fs, &s))) goto done;
    if ((double)fs > cap && ways == 2 && (err = budget_fidelity(&B, f, fs, threads, &q0[WAY_MIX]))) goto done;
    if (opt->preset != GSZ_PRESET_MAX) { /* the preset's own file, the top of both ways */
        budget_record(&B, WAY_PRUNE, 0.0, fs, s.output_count);
        B.keep_top = (double)s.output_count / (double)in->count;
        q0[WAY_PRUNE] = q0[WAY_MIX];
    }
    c_min[WAY_MIX] = GSZ_MIN(0.0, -B.u_top - log2(B.keep_small / BUDGET_KEEP_MIN));
    c_min[WAY_PRUNE] = GSZ_MIN(0.0, -log2(B.keep_top / BUDGET_KEEP_MIN));
    way = WAY_MIX;
    KEEP_IF_FITS(WAY_MIX, NAN);
    if (best[WAY_MIX] && opt->preset != GSZ_PRESET_MAX) goto done; /* from max, high fitting: max pruned may be closer */
    /* a first guess along each way, measured where there are two */
    for (int w = 0; w < ways; w++) {
        double nc;
        if (budget_next(B.c[w], B.lb[w], B.n[w], cap, aim, c_min[w], &nc)) continue;
        if ((err = budget_step(&B, w, nc, &f, &fs, &s))) goto done;
        if (ways == 2 && (err = budget_fidelity(&B, f, fs, threads, &q[w]))) goto done;
        KEEP_IF_FITS(w, ways == 2 ? q[w] : NAN);
    }
    if (ways == 2 && B.n[WAY_MIX] > 1 && B.n[WAY_PRUNE] > 1) { /* dB lost per log byte saved */
        double cost[2];
        for (int w = 0; w < 2; w++) cost[w] = B.lb[w][0] > B.lb[w][1] ? (q0[w] - q[w]) / (B.lb[w][0] - B.lb[w][1]) : HUGE_VAL;
        way = cost[WAY_PRUNE] < cost[WAY_MIX] ? WAY_PRUNE : WAY_MIX;
    } else way = B.n[WAY_PRUNE] > B.n[WAY_MIX] ? WAY_PRUNE : WAY_MIX;
    /* along that way; where it ends short of the cap (a jump in its bytes, or its end), along the other */
    for (int switched = ways == 1; B.k < BUDGET_ENCODES && !FITS(way);) {
        double nc;
        if (budget_next(B.c[way], B.lb[way], B.n[way], cap, aim, c_min[way], &nc)) {
            if (switched) break;
            way = !way;
            switched = 1;
            continue;
        }
        if ((err = budget_step(&B, way, nc, &f, &fs, &s))) goto done;
        KEEP_IF_FITS(way, NAN);
    }
    if (best[!way]) { /* files of both ways fit: the one closer to the input */
        for (int w = 0; w < 2 && !err; w++)
            if (best[w] && isnan(best_q[w])) err = budget_fidelity(&B, best[w], best_size[w], threads, &best_q[w]);
        if (err) goto done;
        if (!best[way] || best_q[!way] > best_q[way]) way = !way;
    }
done:
#undef FITS
#undef KEEP_IF_FITS
    free(f);
    free(B.sc.score);
    gsz_target_cache_free(&B.sc.targets);
    free(B.ref);
    if (err) { free(best[0]); free(best[1]); return err; }
    if (!best[way]) {
        free(best[!way]);
        return gsz_fail(GSZ_ERROR_argument, "cannot fit in %zu bytes: the smallest of %d encodes has %zu bytes (%zu of the %zu Gaussians); "
                        "fewer SH bands (--sh-degree) go further", opt->max_bytes, B.k, B.smallest, B.smallest_count, in->count);
    }
    free(best[!way]);
    best_st[way].budget_encodes = B.k;
    *out = best[way];
    *out_size = best_size[way];
    if (st) *st = best_st[way];
    return GSZ_OK;
}

gsz_error gsz_compress(const gsz_scene *in, const gsz_compress_options *opt, void **out, size_t *out_size, gsz_compress_stats *st) {
    gsz_compress_options def = {0};
    if (!opt) opt = &def;
    *out = NULL;
    *out_size = 0;
    if (opt->preset < 0 || opt->preset > GSZ_PRESET_MAX) return gsz_fail(GSZ_ERROR_argument, "unknown preset %d", (int)opt->preset);
    if (opt->placement < 0 || opt->placement > GSZ_PLACEMENT_INSIDE) return gsz_fail(GSZ_ERROR_argument, "unknown view placement %d", (int)opt->placement);
    if (in->count == 0) return gsz_fail(GSZ_ERROR_argument, "the scene has no Gaussians");
    if (in->count > UINT32_MAX) return gsz_fail(GSZ_ERROR_argument, "too many Gaussians (%zu)", in->count);
    for (size_t i = 0; i < in->count; i++) { /* the readers drop or clamp such values; the library's callers get told */
        const char *bad = gsz_gaussian_invalid(in, i);
        if (bad) return gsz_fail(GSZ_ERROR_argument, "Gaussian %zu: its %s has a NaN, infinite or out-of-range value (see GSZ_LIMIT_* in gsz.h)", i, bad);
    }
    if (opt->max_bytes) return compress_to_budget(in, opt, out, out_size, st);
    return compress_once(in, opt, &presets[opt->preset], NULL, out, out_size, st);
}
