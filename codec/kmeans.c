/* Importance-weighted k-means (Lloyd) for the vector-quantisation codebooks, as in the compact 3DGS
 * codecs (Niedermayr et al., CVPR 2024; LightGaussian), made fast and exact:
 *  - points are rotated into their PCA basis (distances unchanged), centroids sorted by the first
 *    principal coordinate; the nearest-centroid search scans outward from the query along that axis
 *    and stops once the slab bound (q0-c0)^2 exceeds the best distance, with partial-distance early
 *    exit over coordinates in decreasing variance order;
 *  - Lloyd iterations run on a sample, then one refinement pass on all points;
 *  - empty clusters are reseeded at the points of largest weighted error;
 *  - sums run in point order per centroid, so the result is identical for any thread count. */
#include "codec.h"

#include <string.h>

/* Jacobi eigen-decomposition of a symmetric dim x dim matrix (row-major, destroyed).
 * Eigenvectors go to the columns of V, sorted by decreasing eigenvalue. */
static void jacobi_eigen(double *A, int n, double *V, double *evals) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) V[i * n + j] = i == j;
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
        if (off < 1e-30) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = A[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = V[k * n + p], vkq = V[k * n + q];
                    V[k * n + p] = c * vkp - s * vkq;
                    V[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) evals[i] = A[i * n + i];
    /* selection sort by decreasing eigenvalue (stable, deterministic) */
    for (int i = 0; i < n; i++) {
        int m = i;
        for (int j = i + 1; j < n; j++)
            if (evals[j] > evals[m]) m = j;
        if (m != i) {
            double t = evals[i]; evals[i] = evals[m]; evals[m] = t;
            for (int k = 0; k < n; k++) { t = V[k * n + i]; V[k * n + i] = V[k * n + m]; V[k * n + m] = t; }
        }
    }
}

typedef struct {
    int dim;
    float *mean;  /* dim */
    float *basis; /* dim x dim, row r = r-th principal axis */
} pca_t;

static gsz_error pca_fit(pca_t *p, const float *x, const float *w, size_t n, int dim) {
    p->dim = dim;
    p->mean = calloc((size_t)dim, sizeof(float));
    p->basis = calloc((size_t)dim * (size_t)dim, sizeof(float));
    double *mean = calloc((size_t)dim, sizeof(double)), *cov = calloc((size_t)dim * (size_t)dim, sizeof(double));
    double *V = calloc((size_t)dim * (size_t)dim, sizeof(double)), *ev = calloc((size_t)dim, sizeof(double));
    if (!p->mean || !p->basis || !mean || !cov || !V || !ev) {
        free(mean); free(cov); free(V); free(ev);
        return gsz_fail(GSZ_ERROR_memory, "k-means: out of memory");
    }
    double wsum = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        wsum += wi;
        for (int d = 0; d < dim; d++) mean[d] += wi * x[i * (size_t)dim + (size_t)d];
    }
    if (wsum <= 0) wsum = 1;
    for (int d = 0; d < dim; d++) mean[d] /= wsum;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0, c[64];
        for (int d = 0; d < dim; d++) c[d] = x[i * (size_t)dim + (size_t)d] - mean[d];
        for (int a = 0; a < dim; a++)
            for (int b = a; b < dim; b++) cov[a * dim + b] += wi * c[a] * c[b];
    }
    for (int a = 0; a < dim; a++)
        for (int b = 0; b < a; b++) cov[a * dim + b] = cov[b * dim + a];
    jacobi_eigen(cov, dim, V, ev);
    for (int d = 0; d < dim; d++) p->mean[d] = (float)mean[d];
    for (int r = 0; r < dim; r++)
        for (int d = 0; d < dim; d++) p->basis[r * dim + d] = (float)V[d * dim + r];
    free(mean); free(cov); free(V); free(ev);
    return GSZ_OK;
}

static void pca_free(pca_t *p) { free(p->mean); free(p->basis); }

static void pca_forward(const pca_t *p, const float *x, float *y) {
    int dim = p->dim;
    float c[64];
    for (int d = 0; d < dim; d++) c[d] = x[d] - p->mean[d];
    for (int r = 0; r < dim; r++) {
        float s = 0;
        for (int d = 0; d < dim; d++) s += p->basis[r * dim + d] * c[d];
        y[r] = s;
    }
}

static void pca_inverse(const pca_t *p, const float *y, float *x) {
    int dim = p->dim;
    for (int d = 0; d < dim; d++) {
        float s = p->mean[d];
        for (int r = 0; r < dim; r++) s += p->basis[r * dim + d] * y[r];
        x[d] = s;
    }
}

typedef struct {
    const float *x;
    float *y;
    const pca_t *p;
} rot_ctx;

static void rotate_range(void *c_, size_t b, size_t e, int w) {
    (void)w;
    rot_ctx *c = c_;
    size_t dim = (size_t)c->p->dim;
    for (size_t i = b; i < e; i++) pca_forward(c->p, c->x + i * dim, c->y + i * dim);
}

/* Centroids sorted along the first principal coordinate. */
typedef struct {
    int dim, k;
    float *c;     /* sorted centroids, k*dim */
    uint32_t *id; /* original index of sorted entry */
    uint32_t *pos_of; /* sorted position of an original index */
} searcher;

typedef struct { float v; uint32_t i; } key_t_;
static int cmp_key(const void *a, const void *b) {
    const key_t_ *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static gsz_error searcher_build(searcher *s, const float *cent, int k, int dim) {
    s->dim = dim;
    s->k = k;
    s->c = gsz_malloc_array((size_t)k * (size_t)dim, sizeof(float));
    s->id = malloc((size_t)k * sizeof(uint32_t));
    s->pos_of = malloc((size_t)k * sizeof(uint32_t));
    key_t_ *keys = malloc((size_t)k * sizeof *keys);
    if (!s->c || !s->id || !s->pos_of || !keys) { free(keys); return gsz_fail(GSZ_ERROR_memory, "k-means: out of memory"); }
    for (int i = 0; i < k; i++) { keys[i].v = cent[(size_t)i * (size_t)dim]; keys[i].i = (uint32_t)i; }
    qsort(keys, (size_t)k, sizeof *keys, cmp_key);
    for (int j = 0; j < k; j++) {
        s->id[j] = keys[j].i;
        s->pos_of[keys[j].i] = (uint32_t)j;
        memcpy(s->c + (size_t)j * (size_t)dim, cent + (size_t)keys[j].i * (size_t)dim, (size_t)dim * sizeof(float));
    }
    free(keys);
    return GSZ_OK;
}

static void searcher_free(searcher *s) { free(s->c); free(s->id); free(s->pos_of); }

/* Squared distance with early exit once above bound. */
static inline float dist_pds(const float *q, const float *c, int dim, float bound) {
    float s = 0;
    int d = 0;
    for (; d + 4 <= dim; d += 4) {
        float a = q[d] - c[d], b = q[d + 1] - c[d + 1], e = q[d + 2] - c[d + 2], f = q[d + 3] - c[d + 3];
        s += a * a + b * b + e * e + f * f;
        if (s > bound) return s;
    }
    for (; d < dim; d++) { float a = q[d] - c[d]; s += a * a; }
    return s;
}

/* Exact nearest centroid (ties: lowest original id); hint = an original id to start from or UINT32_MAX.
 */
static uint32_t search(const searcher *s, const float *q, uint32_t hint, float *out_d) {
    int dim = s->dim, k = s->k;
    int lo = 0, hi = k; /* first sorted index with c0 >= q0 */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s->c[(size_t)mid * (size_t)dim] < q[0]) lo = mid + 1; else hi = mid;
    }
    int start = hint != UINT32_MAX ? (int)s->pos_of[hint] : (lo < k ? lo : k - 1);
    float best = dist_pds(q, s->c + (size_t)start * (size_t)dim, dim, INFINITY);
    uint32_t best_id = s->id[start];
    for (int dir = 0; dir < 2; dir++) {
        for (int j = dir ? lo - 1 : lo; dir ? j >= 0 : j < k; j += dir ? -1 : 1) {
            if (j == start) continue;
            float d0 = s->c[(size_t)j * (size_t)dim] - q[0];
            if (d0 * d0 > best) break;
            float d = dist_pds(q, s->c + (size_t)j * (size_t)dim, dim, best);
            if (d < best || (d == best && s->id[j] < best_id)) { best = d; best_id = s->id[j]; }
        }
    }
    if (out_d) *out_d = best;
    return best_id;
}

typedef struct {
    const searcher *s;
    const float *y;
    uint32_t *assign;
    float *dist;
    int use_hint; /* 0: none, 1: assign[i] holds the previous centroid, 2: the predecessor's */
} assign_ctx;

static void assign_range(void *c_, size_t b, size_t e, int w) {
    (void)w;
    assign_ctx *c = c_;
    size_t dim = (size_t)c->s->dim;
    for (size_t i = b; i < e; i++) {
        float d;
        /* hints only speed the search up (the result is the exact nearest either way): the point's
         * previous centroid, or its predecessor's (points come in Morton order, neighbours are alike) */
        uint32_t hint = c->use_hint == 1 ? c->assign[i] : c->use_hint == 2 && i > b ? c->assign[i - 1] : UINT32_MAX;
        c->assign[i] = search(c->s, c->y + i * dim, hint, &d);
        if (c->dist) c->dist[i] = d;
    }
}

typedef struct {
    const float *y, *w;
    const uint32_t *assign;
    size_t n;
    int dim;
    double *sum, *wsum; /* k*dim, k */
    int k;
} update_ctx;

/* Each worker owns a range of centroids and scans all points in order: deterministic sums. */
static void update_range(void *c_, size_t b, size_t e, int w) {
    (void)w;
    update_ctx *c = c_;
    size_t dim = (size_t)c->dim;
    memset(c->sum + b * dim, 0, (e - b) * dim * sizeof(double));
    memset(c->wsum + b, 0, (e - b) * sizeof(double));
    for (size_t i = 0; i < c->n; i++) {
        size_t a = c->assign[i];
        if (a < b || a >= e) continue;
        double wi = c->w ? c->w[i] : 1.0;
        c->wsum[a] += wi;
        for (size_t d = 0; d < dim; d++) c->sum[a * dim + d] += wi * c->y[i * dim + d];
    }
}

typedef struct { float v; uint32_t i; } err_t_;
static int cmp_err_desc(const void *a, const void *b) {
    const err_t_ *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* One Lloyd update; empty clusters reseeded at the largest weighted errors. */
static gsz_error lloyd_update(const float *y, const float *w, size_t n, int dim, int k, const uint32_t *assign,
                              const float *dist, float *cent, double *sum, double *wsum, int threads) {
    update_ctx uc = {y, w, assign, n, dim, sum, wsum, k};
    gsz_parallel_for((size_t)k, ((size_t)k + 15) / 16, threads, update_range, &uc);
    int dead = 0;
    for (int j = 0; j < k; j++) {
        if (wsum[j] > 0) {
            for (int d = 0; d < dim; d++) cent[(size_t)j * (size_t)dim + (size_t)d] = (float)(sum[(size_t)j * (size_t)dim + (size_t)d] / wsum[j]);
        } else dead++;
    }
    if (!dead) return GSZ_OK;
    err_t_ *e = gsz_malloc_array(n, sizeof *e);
    if (!e) return gsz_fail(GSZ_ERROR_memory, "k-means: out of memory");
    for (size_t i = 0; i < n; i++) { e[i].v = dist[i] * (w ? w[i] : 1.0f); e[i].i = (uint32_t)i; }
    qsort(e, n, sizeof *e, cmp_err_desc);
    size_t next = 0;
    for (int j = 0; j < k && next < n; j++)
        if (!(wsum[j] > 0)) memcpy(cent + (size_t)j * (size_t)dim, y + (size_t)e[next++].i * (size_t)dim, (size_t)dim * sizeof(float));
    free(e);
    return GSZ_OK;
}

gsz_error gsz_kmeans(const float *x, const float *w, size_t n, int dim, const gsz_kmeans_options *opt, float *cent,
                     uint32_t *assign_out) {
    if (dim < 1 || dim > 64) return gsz_fail(GSZ_ERROR_argument, "k-means: dimension %d out of range", dim);
    int k = opt->k;
    if (k < 1 || n == 0) return gsz_fail(GSZ_ERROR_argument, "k-means: k=%d with %zu points", k, n);
    int threads = gsz_thread_count(opt->threads);
    size_t D = (size_t)dim;
    if ((size_t)k >= n) { /* every point its own centroid */
        for (int j = 0; j < k; j++) memcpy(cent + (size_t)j * D, x + ((size_t)j % n) * D, D * sizeof(float));
        if (assign_out)
            for (size_t i = 0; i < n; i++) assign_out[i] = (uint32_t)i;
        return GSZ_OK;
    }
    size_t m = opt->sample ? opt->sample : GSZ_MAX((size_t)32768, (size_t)k * 16);
    if (m > n) m = n;
    int iters = opt->iterations ? opt->iterations : 10;
    gsz_error err = GSZ_OK;
    pca_t pca = {0};
    float *y = gsz_malloc_array(n, D * sizeof(float));
    float *ys = gsz_malloc_array(m, D * sizeof(float)), *ws = gsz_malloc_array(m, sizeof(float));
    float *dist = gsz_malloc_array(n, sizeof(float));
    uint32_t *as = gsz_malloc_array(n, sizeof(uint32_t));
    double *sum = gsz_malloc_array((size_t)k, D * sizeof(double)), *wsum = gsz_malloc_array((size_t)k, sizeof(double));
    float *cy = gsz_malloc_array((size_t)k, D * sizeof(float));
    if (!y || !ys || !ws || !dist || !as || !sum || !wsum || !cy) { err = gsz_fail(GSZ_ERROR_memory, "k-means: out of memory"); goto done; }
    /* deterministic strided sample */
    size_t *pick = gsz_malloc_array(m, sizeof(size_t));
    if (!pick) { err = gsz_fail(GSZ_ERROR_memory, "k-means: out of memory"); goto done; }
    for (size_t i = 0; i < m; i++) pick[i] = (size_t)(((double)i + 0.5) * (double)n / (double)m);
    float *xs = (float *)dist; /* scratch: sample in original space needs m*D floats */
    float *xs_buf = NULL;
    if (m * D > n) { xs_buf = gsz_malloc_array(m, D * sizeof(float)); xs = xs_buf; }
    if (!xs) { free(pick); err = gsz_fail(GSZ_ERROR_memory, "k-means: out of memory"); goto done; }
    for (size_t i = 0; i < m; i++) {
        memcpy(xs + i * D, x + pick[i] * D, D * sizeof(float));
        ws[i] = w ? GSZ_MAX(w[pick[i]], 0.0f) : 1.0f;
    }
    err = pca_fit(&pca, xs, ws, m, dim);
    free(xs_buf);
    free(pick);
    if (err) goto done;
    {
        rot_ctx rc = {x, y, &pca};
        gsz_parallel_for(n, 8192, threads, rotate_range, &rc);
    }
    for (size_t i = 0; i < m; i++) memcpy(ys + i * D, y + (size_t)(((double)i + 0.5) * (double)n / (double)m) * D, D * sizeof(float));
    /* init: systematic sampling proportional to weight */
    {
        double tot = 0;
        for (size_t i = 0; i < m; i++) tot += ws[i] + 1e-12;
        double step = tot / k, acc = 0, target = 0.5 * step;
        size_t i = 0;
        for (int j = 0; j < k; j++) {
            while (i + 1 < m && acc + ws[i] + 1e-12 < target) { acc += ws[i] + 1e-12; i++; }
            memcpy(cy + (size_t)j * D, ys + i * D, D * sizeof(float));
            target += step;
        }
    }
    for (int it = 0; it < iters; it++) {
        searcher s = {0};
        if ((err = searcher_build(&s, cy, k, dim))) { searcher_free(&s); goto done; }
        assign_ctx ac = {&s, ys, as, dist, it > 0 ? 1 : 2};
        gsz_parallel_for(m, 1024, threads, assign_range, &ac);
        searcher_free(&s);
        if ((err = lloyd_update(ys, ws, m, dim, k, as, dist, cy, sum, wsum, threads))) goto done;
    }
    {
        /* refinement on every point */
        searcher s = {0};
        if ((err = searcher_build(&s, cy, k, dim))) { searcher_free(&s); goto done; }
        assign_ctx ac = {&s, y, as, dist, 2};
        gsz_parallel_for(n, 1024, threads, assign_range, &ac);
        searcher_free(&s);
        if ((err = lloyd_update(y, w, n, dim, k, as, dist, cy, sum, wsum, threads))) goto done;
    }
    if (assign_out) { /* nearest of the final centroids, starting from each point's last one */
        searcher s = {0};
        if ((err = searcher_build(&s, cy, k, dim))) { searcher_free(&s); goto done; }
        assign_ctx ac = {&s, y, as, NULL, 1};
        gsz_parallel_for(n, 1024, threads, assign_range, &ac);
        searcher_free(&s);
        memcpy(assign_out, as, n * sizeof(uint32_t));
    }
    for (int j = 0; j < k; j++) pca_inverse(&pca, cy + (size_t)j * D, cent + (size_t)j * D);
done:
    pca_free(&pca);
    free(y); free(ys); free(ws); free(dist); free(as); free(sum); free(wsum); free(cy);
    return err;
}
