/* Per-Gaussian spherical-harmonic degree reduction, in the spirit of Reduced3DGS (Papantonakis et al.,
 * 2024): for each Gaussian, evaluate its colour from every view that sees it with all bands and with
 * the higher bands dropped (their mean over the views folded into DC); keep the lowest degree whose
 * mean absolute colour change stays under the threshold. */
#include "codec.h"

#include <string.h>

typedef struct {
    gsz_scene *s;
    const float *rest;
    const uint32_t *rows;
    const gsz_camera *cams;
    size_t ncams;
    int cap;
    float thr;
    const double *sig;
    double sig_mean;
    uint8_t *deg;
} shr_ctx;

#define MAXV 256
#define SIG_SPREAD 8.0

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void reduce_range(void *p, size_t b, size_t e, int worker) {
    (void)worker;
    shr_ctx *c = p;
    gsz_scene *s = c->s;
    int D = s->sh_degree, nr = gsz_shRestCount(D);
    size_t nv = GSZ_MIN(c->ncams, (size_t)MAXV);
    static const int band_start[4] = {0, 1, 4, 9};
    for (size_t i = b; i < e; i++) {
        const float *m = s->pos + 3 * i;
        const float *rest = c->rest + (size_t)nr * 3 * (c->rows ? c->rows[i] : i);
        float *dc = s->sh_dc + 3 * i;
        /* basis of every view that sees the Gaussian (all views if none does) */
        float basis[MAXV][16];
        size_t used = 0;
        for (int pass = 0; pass < 2 && used == 0; pass++)
            for (size_t v = 0; v < nv; v++) {
                const gsz_camera *cam = &c->cams[v * c->ncams / nv];
                const float *R = cam->R;
                float tx = R[0] * m[0] + R[1] * m[1] + R[2] * m[2] + cam->t[0];
                float ty = R[3] * m[0] + R[4] * m[1] + R[5] * m[2] + cam->t[1];
                float tz = R[6] * m[0] + R[7] * m[1] + R[8] * m[2] + cam->t[2];
                if (!pass && (tz <= 0.2f || fabsf(tx * cam->fx) > 1.3f * tz * (float)cam->width * 0.5f ||
                              fabsf(ty * cam->fy) > 1.3f * tz * (float)cam->height * 0.5f))
                    continue;
                float dir[3] = {m[0] - cam->center[0], m[1] - cam->center[1], m[2] - cam->center[2]};
                float l = sqrtf(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
                if (l > 0) { dir[0] /= l; dir[1] /= l; dir[2] /= l; }
                gsz_sh_basis(D, dir, basis[used++]);
            }
        if (!used) { c->deg[i] = 0; continue; }
        /* per-view contribution of each band, per channel */
        float full[MAXV][3];
        float band[4][MAXV][3];
        for (size_t v = 0; v < used; v++)
            for (int ch = 0; ch < 3; ch++) {
                float tot = basis[v][0] * dc[ch];
                for (int l = 1; l <= D; l++) {
                    float sum = 0;
                    for (int k = band_start[l]; k < band_start[l] + 2 * l + 1; k++) sum += basis[v][k] * rest[(k - 1) * 3 + ch];
                    band[l][v][ch] = sum;
                    tot += sum;
                }
                full[v][ch] = GSZ_MAX(tot + 0.5f, 0.0f);
            }
        int keep = D;
        float shift[3] = {0, 0, 0};
        float thr = c->thr;
        if (c->sig && thr > 0) thr *= (float)GSZ_CLAMP(sqrt(c->sig_mean / GSZ_MAX(c->sig[i], 1e-30)), 0.25, 4.0);
        for (int d = 0; d < D; d++) {
            float mean[3] = {0, 0, 0};
            for (size_t v = 0; v < used; v++)
                for (int ch = 0; ch < 3; ch++)
                    for (int l = d + 1; l <= D; l++) mean[ch] += band[l][v][ch];
            for (int ch = 0; ch < 3; ch++) mean[ch] /= (float)used;
            double err = 0;
            for (size_t v = 0; v < used; v++)
                for (int ch = 0; ch < 3; ch++) {
                    float col = basis[v][0] * dc[ch] + mean[ch];
                    for (int l = 1; l <= d; l++) col += band[l][v][ch];
                    err += fabsf(GSZ_MAX(col + 0.5f, 0.0f) - full[v][ch]);
                }
            err /= (double)(used * 3);
            if (d == c->cap || (thr >= 0 && err <= thr)) {
                keep = d;
                memcpy(shift, mean, sizeof shift);
                break;
            }
        }
        if (keep < D)
            for (int ch = 0; ch < 3; ch++) dc[ch] += shift[ch] / GSZ_SH_C0;
        c->deg[i] = (uint8_t)keep;
    }
}

gsz_error gsz_sh_reduce(gsz_scene *s, const float *rest, const uint32_t *rows, const gsz_camera *cams, size_t ncams, int cap,
                        float threshold, const double *significance, int threads, uint8_t *deg) {
    if (cap < 0 || cap > s->sh_degree) cap = s->sh_degree;
    if (s->sh_degree == 0 || ncams == 0) {
        memset(deg, 0, s->count);
        return GSZ_OK;
    }
    double mean = 0;
    if (significance && s->count) {
        for (size_t i = 0; i < s->count; i++) mean += significance[i];
        mean /= (double)s->count;
        /* the mean, unless a few Gaussians dwarf the rest (an unbounded capture's sky, seen in every
         * view: the mean at 710x the median, against 1.8-3.3x in the captured scenes): then SIG_SPREAD
         * times the median, where the mean would loosen nearly every threshold to the clamp */
        double *v = gsz_malloc_array(s->count, sizeof(double));
        if (!v) return gsz_fail(GSZ_ERROR_memory, "sh reduction: out of memory");
        memcpy(v, significance, s->count * sizeof(double));
        qsort(v, s->count, sizeof(double), cmp_double);
        mean = GSZ_MIN(mean, SIG_SPREAD * v[s->count / 2]);
        free(v);
    }
    shr_ctx c = {s, rest, rows, cams, ncams, cap, threshold < 0 ? -1.0f : threshold, mean > 0 ? significance : NULL, mean, deg};
    gsz_parallel_for(s->count, 2048, threads, reduce_range, &c);
    return GSZ_OK;
}
