/* Global significance and pruning, after LightGaussian (Fan et al., NeurIPS 2024): render the scene
 * from every view, accumulate per Gaussian the sum of alpha*T over the pixels it contributes to, and
 * weight it by (V / V90)^0.1 where V is the Gaussian's volume and V90 the volume at 90% of the
 * descending order. That weighs the codebooks' k-means and the SH reduction.
 *
 * The pruning order differs: alpha*T counts a Gaussian in front of a lookalike, or of anything of its
 * colour, as fully as one that alone makes an edge. Instead each Gaussian is scored by how much every
 * pixel would change were it removed alone (exact for one removal: w rgb - alpha / (1 - alpha) times
 * what lies behind it, see the renderer's removal pass), plus a tenth of its alpha*T, so that of a
 * stack of lookalikes the ones behind still go first and no stack goes whole; same volume weight. At
 * the same pruning it loses less (docs/BENCHMARKS.md, session 31). It orders the preset's pruning
 * here; fine-tuning's target pruning measures it again on the scene as fitted (refine.c). */
#include "codec.h"

#include <string.h>

#define PRUNE_ALPHA_T 0.1 /* alpha*T's share in the pruning score */

gsz_error gsz_significance(const gsz_scene *s, const gsz_camera *cams, size_t ncams, int threads,
                           gsz_progress_fn progress, void *user, double *score, double *prune_score,
                           gsz_target_cache *targets, double *coverage) {
    size_t n = s->count;
    uint64_t *acc = gsz_calloc_array(n, (prune_score ? 2 : 1) * sizeof(uint64_t)); /* alpha*T, removal */
    uint64_t *rem = acc && prune_score ? acc + n : NULL;
    float *img = NULL;
    size_t maxpx = 0;
    for (size_t v = 0; v < ncams; v++) maxpx = GSZ_MAX(maxpx, (size_t)cams[v].width * (size_t)cams[v].height);
    img = gsz_malloc_array(maxpx, 3 * sizeof(float));
    float *trans = coverage ? gsz_malloc_array(maxpx, sizeof(float)) : NULL;
    if (!acc || !img || (coverage && !trans)) { free(acc); free(img); free(trans); return gsz_fail(GSZ_ERROR_memory, "significance: out of memory"); }
    double covered = 0;
    gsz_render_accum ra = {.weight = acc, .removal = rem};
    gsz_render_options ro = {0};
    ro.threads = threads;
    ro.accum = &ra;
    ro.transmittance = trans;
    ro.max_sh_degree = targets ? 0 : 1; /* colour does not enter alpha*T: DC is enough but for targets */
    ro.workspace = gsz_render_workspace_create(); /* NULL: per-render buffers */
    for (size_t v = 0; v < ncams; v++) {
        gsz_error e = gsz_render(s, &cams[v], &ro, img);
        if (e) { free(acc); free(img); free(trans); gsz_render_workspace_free(ro.workspace); return e; }
        size_t px = (size_t)cams[v].width * (size_t)cams[v].height, in = 0;
        for (size_t j = 0; trans && j < px; j++) in += trans[j] < 0.5f;
        covered += px ? (double)in / (double)px : 0.0;
        if (targets) gsz_target_cache_put(targets, v, (size_t)cams[v].width, (size_t)cams[v].height, img);
        if (progress) progress(user, "significance", (double)(v + 1) / (double)ncams);
    }
    gsz_render_workspace_free(ro.workspace);
    free(img);
    free(trans);
    if (coverage) *coverage = ncams ? covered / (double)ncams : 0.0;
    gsz_error e = gsz_significance_scores(s->scale, n, acc, rem, score, prune_score);
    free(acc);
    return e;
}

gsz_error gsz_significance_scores(const float *scale, size_t n, const uint64_t *acc, const uint64_t *rem,
                                  double *score, double *prune_score) {
    /* volume term */
    float *vol = gsz_malloc_array(n, sizeof(float));
    uint32_t *keys = gsz_malloc_array(n, sizeof(uint32_t)), *ids = gsz_malloc_array(n, sizeof(uint32_t));
    uint32_t *tk = gsz_malloc_array(n, sizeof(uint32_t)), *tv = gsz_malloc_array(n, sizeof(uint32_t));
    if (!vol || !keys || !ids || !tk || !tv) {
        free(vol); free(keys); free(ids); free(tk); free(tv);
        return gsz_fail(GSZ_ERROR_memory, "significance: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        /* log-volume keeps the order without overflow */
        vol[i] = scale[3 * i] + scale[3 * i + 1] + scale[3 * i + 2];
        keys[i] = ~gsz_float_sort_key(vol[i]); /* descending */
        ids[i] = (uint32_t)i;
    }
    gsz_radix_sort32(keys, ids, n, tk, tv);
    float logv90 = n ? vol[ids[(size_t)(0.9 * (double)n) < n ? (size_t)(0.9 * (double)n) : n - 1]] : 0;
    for (size_t i = 0; i < n; i++) {
        double v = exp(0.1 * (double)(vol[i] - logv90)) / (double)GSZ_ACCUM_ONE;
        if (score) score[i] = (double)acc[i] * v;
        if (prune_score) prune_score[i] = ((double)rem[i] + PRUNE_ALPHA_T * (double)acc[i]) * v;
    }
    free(vol); free(keys); free(ids); free(tk); free(tv);
    return GSZ_OK;
}

gsz_error gsz_significance_order(const double *score, size_t n, uint32_t *order) {
    uint32_t *k = gsz_malloc_array(n ? n : 1, 4 * sizeof *k); /* low and high key halves, sort scratch */
    if (!k) return gsz_fail(GSZ_ERROR_memory, "significance: out of memory");
    for (size_t i = 0; i < n; i++) gsz_double_sort_key(score[i], &k[n + i], &k[i]);
    gsz_radix_order64(k, k + n, n, order, k + 2 * n, k + 3 * n);
    free(k);
    return GSZ_OK;
}

size_t gsz_prune_mask(const double *score, size_t n, double fraction, double threshold, uint8_t *keep) {
    memset(keep, 1, n);
    if (n == 0) return 0;
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += score[i];
    mean /= (double)n;
    size_t kept = n;
    if (threshold > 0)
        for (size_t i = 0; i < n; i++)
            if (score[i] < threshold * mean) { keep[i] = 0; kept--; }
    if (fraction > 0) {
        uint32_t *order = gsz_malloc_array(n, sizeof *order);
        if (!order || gsz_significance_order(score, n, order)) { free(order); return kept; }
        size_t drop = (size_t)(fraction * (double)n);
        if (drop >= n) drop = n - 1; /* always keep one */
        for (size_t j = 0; j < drop; j++)
            if (keep[order[j]]) { keep[order[j]] = 0; kept--; }
        free(order);
    }
    return kept;
}
