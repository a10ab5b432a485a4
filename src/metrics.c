/* Image fidelity: PSNR, and SSIM (Wang et al. 2004) with the 11x11 Gaussian window (sigma 1.5) and
 * zero padding, averaged over the whole map and the three channels — the figure 3DGS papers report. */
#include "common.h"

#include <string.h>

double gsz_psnr(const float *a, const float *b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        se += d * d;
    }
    if (se == 0 || n == 0) return INFINITY;
    return 10.0 * log10(1.0 / (se / (double)n));
}

typedef struct {
    const double *in, *k;
    double *out, *tmp;
    int w, h;
} blur_ctx;

/* Separable Gaussian blur with zero padding ("same" size), by rows: first pass. Every output sums
 * its in-range taps in tap order, so interior and border loops give the same values. */
static void blur_rows(void *p, size_t b, size_t e, int worker) {
    (void)worker;
    blur_ctx *c = p;
    int w = c->w;
    for (size_t y = b; y < e; y++) {
        const double *in = c->in + y * (size_t)w;
        double *o = c->tmp + y * (size_t)w;
        for (int x = 0; x < w; x++) {
            double s = 0;
            if (x >= 5 && x + 5 < w)
                for (int i = -5; i <= 5; i++) s += c->k[i + 5] * in[x + i];
            else
                for (int i = -5; i <= 5; i++)
                    if (x + i >= 0 && x + i < w) s += c->k[i + 5] * in[x + i];
            o[x] = s;
        }
    }
}

/* Second pass: whole rows at a time (contiguous, vectorisable), taps in the same order. */
static void blur_cols(void *p, size_t b, size_t e, int worker) {
    (void)worker;
    blur_ctx *c = p;
    size_t w = (size_t)c->w;
    for (size_t y = b; y < e; y++) {
        double *o = c->out + y * w;
        memset(o, 0, w * sizeof(double));
        for (int i = -5; i <= 5; i++) {
            long yy = (long)y + i;
            if (yy < 0 || yy >= c->h) continue;
            const double *t = c->tmp + (size_t)yy * w;
            double k = c->k[i + 5];
            for (size_t x = 0; x < w; x++) o[x] += k * t[x];
        }
    }
}

/* Rows are independent, so the result does not depend on the thread count. */
static void blur(const double *in, double *out, double *tmp, int w, int h, const double *k) {
    blur_ctx c = {in, k, out, tmp, w, h};
    gsz_parallel_for((size_t)h, 16, 0, blur_rows, &c);
    gsz_parallel_for((size_t)h, 16, 0, blur_cols, &c);
}

double gsz_ssim(const float *a, const float *b, int w, int h) {
    double k[11], ks = 0;
    for (int i = 0; i < 11; i++) { k[i] = exp(-((i - 5) * (i - 5)) / (2.0 * 1.5 * 1.5)); ks += k[i]; }
    for (int i = 0; i < 11; i++) k[i] /= ks;
    size_t n = (size_t)w * (size_t)h;
    double *buf = gsz_malloc_array(n, 11 * sizeof(double));
    if (!buf) return NAN;
    double *x = buf, *y = buf + n, *xx = buf + 2 * n, *yy = buf + 3 * n, *xy = buf + 4 * n;
    double *mx = buf + 5 * n, *my = buf + 6 * n, *sxx = buf + 7 * n, *syy = buf + 8 * n, *sxy = buf + 9 * n, *tmp = buf + 10 * n;
    const double C1 = 0.01 * 0.01, C2 = 0.03 * 0.03;
    double total = 0;
    for (int ch = 0; ch < 3; ch++) {
        for (size_t i = 0; i < n; i++) {
            x[i] = a[i * 3 + (size_t)ch];
            y[i] = b[i * 3 + (size_t)ch];
            xx[i] = x[i] * x[i];
            yy[i] = y[i] * y[i];
            xy[i] = x[i] * y[i];
        }
        blur(x, mx, tmp, w, h, k);
        blur(y, my, tmp, w, h, k);
        blur(xx, sxx, tmp, w, h, k);
        blur(yy, syy, tmp, w, h, k);
        blur(xy, sxy, tmp, w, h, k);
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            double m1 = mx[i], m2 = my[i];
            double v1 = sxx[i] - m1 * m1, v2 = syy[i] - m2 * m2, cv = sxy[i] - m1 * m2;
            s += ((2 * m1 * m2 + C1) * (2 * cv + C2)) / ((m1 * m1 + m2 * m2 + C1) * (v1 + v2 + C2));
        }
        total += s / (double)n;
    }
    free(buf);
    return total / 3.0;
}
