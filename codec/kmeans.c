/* Importance-weighted k-means (Lloyd) for the vector-quantisation codebooks, as in the compact 3DGS
 * codecs (Niedermayr et al., CVPR 2024; LightGaussian), made fast and exact:
 *  - points are rotated into their PCA basis (distances unchanged), centroids sorted by the first
 *    principal coordinate in blocks of 8; the nearest-centroid search scans blocks outward from the
 *    query along that axis and stops once the slab bound (q0-c0)^2 exceeds the best distance; a
 *    block's 8 distances are computed lane-wise (vectorised) with an early exit over coordinates in
 *    decreasing variance order;
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

/* Centroids sorted along the first principal coordinate, stored in blocks of SB (dimension-major
 * inside a block) so that one point's distances to a block's SB centroids are computed lane-wise. */
#define SB 8
typedef float vec_t __attribute__((vector_size(SB * sizeof(float))));

typedef struct {
    int dim, k, nb;
    float *c;          /* nb blocks of dim x SB floats: block b, coordinate d, lane l at (b*dim + d)*SB + l */
    float *lo0, *hi0;  /* per block: range of the first coordinate */
    uint32_t *id;      /* original index of sorted entry; UINT32_MAX for padding */
    uint32_t *pos_of;  /* sorted position of an original index */
    float *len;        /* entropy-constrained search: per sorted entry its code length in bits (NULL: plain) */
    float *len_min_b;  /* per block: the shortest code length in it */
    float len_min;
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
    s->nb = (k + SB - 1) / SB;
    size_t nb = (size_t)s->nb, D = (size_t)dim;
    s->c = gsz_malloc_array(nb * D, SB * sizeof(float));
    s->lo0 = malloc(nb * sizeof(float));
    s->hi0 = malloc(nb * sizeof(float));
    s->id = malloc(nb * SB * sizeof(uint32_t));
    s->pos_of = malloc((size_t)k * sizeof(uint32_t));
    key_t_ *keys = malloc((size_t)k * sizeof *keys);
    if (!s->c || !s->lo0 || !s->hi0 || !s->id || !s->pos_of || !keys) { free(keys); return gsz_fail(GSZ_ERROR_memory, "k-means: out of memory"); }
    for (int i = 0; i < k; i++) { keys[i].v = cent[(size_t)i * D]; keys[i].i = (uint32_t)i; }
    qsort(keys, (size_t)k, sizeof *keys, cmp_key);
    for (size_t j = 0; j < nb * SB; j++) {
        size_t b = j / SB, l = j % SB;
        int real = j < (size_t)k;
        s->id[j] = real ? keys[j].i : UINT32_MAX;
        if (real) s->pos_of[keys[j].i] = (uint32_t)j;
        /* padding lanes sit far away (squared distances ~1e36 stay finite) and are never chosen */
        for (size_t d = 0; d < D; d++) s->c[(b * D + d) * SB + l] = real ? cent[(size_t)keys[j].i * D + d] : 1e18f;
    }
    for (size_t b = 0; b < nb; b++) {
        s->lo0[b] = keys[b * SB].v;
        s->hi0[b] = keys[GSZ_MIN(b * SB + SB, (size_t)k) - 1].v;
    }
    free(keys);
    return GSZ_OK;
}

static void searcher_free(searcher *s) { free(s->c); free(s->lo0); free(s->hi0); free(s->id); free(s->pos_of); free(s->len); free(s->len_min_b); }

/* Code lengths -log2(count/n) per entry, laid out like the centroids (an unused entry costs as much
 * as one used once in 2n, padding lanes infinitely much). */
static gsz_error searcher_set_lengths(searcher *s, const uint32_t *assign, size_t n) {
    size_t nl = (size_t)s->nb * SB;
    s->len = malloc(nl * sizeof(float));
    s->len_min_b = malloc((size_t)s->nb * sizeof(float));
    size_t *cnt = calloc((size_t)s->k, sizeof *cnt);
    if (!s->len || !s->len_min_b || !cnt) { free(cnt); return gsz_fail(GSZ_ERROR_memory, "k-means: out of memory"); }
    for (size_t i = 0; i < n; i++) cnt[assign[i]]++;
    s->len_min = INFINITY;
    for (size_t j = 0; j < nl; j++) {
        if (s->id[j] == UINT32_MAX) { s->len[j] = 1e30f; continue; }
        double c = cnt[s->id[j]] ? (double)cnt[s->id[j]] : 0.5;
        s->len[j] = (float)-log2(c / (double)n);
        s->len_min = GSZ_MIN(s->len_min, s->len[j]);
    }
    for (size_t b = 0; b < (size_t)s->nb; b++) {
        s->len_min_b[b] = s->len[b * SB];
        for (size_t l = 1; l < SB; l++) s->len_min_b[b] = GSZ_MIN(s->len_min_b[b], s->len[b * SB + l]);
    }
    free(cnt);
    return GSZ_OK;
}

/* The block's SB squared distances (each summed over coordinates in order, so the value does not
 * depend on the vector width), folded into (best, best_id) with ties to the lowest id. Stops early
 * once every lane exceeds the best. */
static inline void eval_block(const searcher *s, int b, const float *q, float mu, float *best, uint32_t *best_id) {
    int dim = s->dim;
    const float *cb = s->c + (size_t)b * (size_t)dim * SB;
    vec_t acc = {0};
    if (mu > 0) { /* entropy-constrained: the cost starts at mu times the entry's code length */
        vec_t l;
        memcpy(&l, s->len + (size_t)b * SB, sizeof l);
        acc = l * mu;
    }
    for (int d = 0; d < dim; d++) {
        vec_t cv;
        memcpy(&cv, cb + (size_t)d * SB, sizeof cv);
        vec_t diff = cv - q[d];
        acc += diff * diff;
        if ((d & 7) == 7 && d + 1 < dim) {
            float m = acc[0];
            for (int l = 1; l < SB; l++) m = acc[l] < m ? acc[l] : m;
            if (m > *best) return;
        }
    }
    const uint32_t *ids = s->id + (size_t)b * SB;
    for (int l = 0; l < SB; l++)
        if (ids[l] != UINT32_MAX && (acc[l] < *best || (acc[l] == *best && ids[l] < *best_id))) { *best = acc[l]; *best_id = ids[l]; }
}

/* Exact nearest centroid (ties: lowest original id); hint = an original id to start from or
 * UINT32_MAX. Blocks are visited outward from the start along the first coordinate; the slab bound
 * (q0 - c0)^2 > best ends each direction. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
static uint32_t search(const searcher *s, const float *q, uint32_t hint, float mu, float *out_d) {
    int nb = s->nb;
    int start;
    if (hint != UINT32_MAX) start = (int)(s->pos_of[hint] / SB);
    else {
        int lo = 0, hi = nb; /* first block whose range reaches q0 */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (s->hi0[mid] < q[0]) lo = mid + 1; else hi = mid;
        }
        start = lo < nb ? lo : nb - 1;
    }
    float best = INFINITY, base = mu > 0 ? mu * s->len_min : 0.0f;
    uint32_t best_id = UINT32_MAX;
    eval_block(s, start, q, mu, &best, &best_id);
    /* past the slab bound with the shortest code anywhere: stop; with the block's shortest: skip it */
    for (int b = start + 1; b < nb; b++) {
        float gap = GSZ_MAX(0.0f, s->lo0[b] - q[0]);
        if (gap * gap + base > best) break;
        if (mu > 0 && gap * gap + mu * s->len_min_b[b] > best) continue;
        eval_block(s, b, q, mu, &best, &best_id);
    }
    for (int b = start - 1; b >= 0; b--) {
        float gap = GSZ_MAX(0.0f, q[0] - s->hi0[b]);
        if (gap * gap + base > best) break;
        if (mu > 0 && gap * gap + mu * s->len_min_b[b] > best) continue;
        eval_block(s, b, q, mu, &best, &best_id);
    }
    if (out_d) *out_d = mu > 0 ? GSZ_MAX(0.0f, best - mu * s->len[s->pos_of[best_id]]) : best;
    return best_id;
}

typedef struct {
    const searcher *s;
    const float *y, *w;
    uint32_t *assign;
    float *dist;
    int use_hint; /* 0: none, 1: assign[i] holds the previous centroid, 2: the predecessor's */
    float lambda; /* entropy-constrained: point i minimises d^2 + lambda / w_i * length (0: nearest) */
    float w_floor;
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
        /* capped so that mu times a code length stays finite and some entry always wins */
        float mu = c->lambda > 0 ? GSZ_MIN(c->lambda / GSZ_MAX(c->w ? c->w[i] : 1.0f, c->w_floor), 1e30f) : 0.0f;
        c->assign[i] = search(c->s, c->y + i * dim, hint, mu, &d);
        if (c->dist) c->dist[i] = d;
    }
}

/* Assignment of n points to the k centroids (and each one's squared distance, if dist): the nearest,
 * or with lambda > 0 the entropy-constrained choice (Chou, Lookabaugh and Gray, 1989): each point
 * minimises its weighted squared error plus lambda times the entry's code length under the use
 * counts in assign (which then also seeds the search). */
static gsz_error assign_points(const float *cent, int k, int dim, const float *y, size_t n, uint32_t *assign, float *dist,
                               int use_hint, const float *w, float lambda, float w_floor, int threads) {
    searcher s = {0};
    gsz_error err = searcher_build(&s, cent, k, dim);
    if (!err && lambda > 0) err = searcher_set_lengths(&s, assign, n);
    if (!err) {
        assign_ctx ac = {&s, y, w, assign, dist, use_hint, lambda, w_floor};
        gsz_parallel_for(n, 1024, threads, assign_range, &ac);
    }
    searcher_free(&s);
    return err;
}

static gsz_error assign_all(const float *cent, int k, int dim, const float *y, size_t n, uint32_t *assign, float *dist,
                            int use_hint, int threads) {
    return assign_points(cent, k, dim, y, n, assign, dist, use_hint, NULL, 0.0f, 0.0f, threads);
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

gsz_error gsz_worst_points(const float *err, size_t n, size_t m, uint32_t *out) {
    err_t_ *e = gsz_malloc_array(n, sizeof *e);
    if (!e) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    for (size_t i = 0; i < n; i++) { e[i].v = err[i]; e[i].i = (uint32_t)i; }
    qsort(e, n, sizeof *e, cmp_err_desc);
    for (size_t j = 0; j < m && j < n; j++) out[j] = e[j].i;
    free(e);
    return GSZ_OK;
}

/* Centroid update that leaves unused entries where they are (the entropy-constrained passes empty
 * entries on purpose). */
static void lloyd_update_keep(const float *y, const float *w, size_t n, int dim, int k, const uint32_t *assign,
                                   float *cent, double *sum, double *wsum, int threads) {
    update_ctx uc = {y, w, assign, n, dim, sum, wsum, k};
    gsz_parallel_for((size_t)k, ((size_t)k + 15) / 16, threads, update_range, &uc);
    for (int j = 0; j < k; j++)
        if (wsum[j] > 0)
            for (int d = 0; d < dim; d++) cent[(size_t)j * (size_t)dim + (size_t)d] = (float)(sum[(size_t)j * (size_t)dim + (size_t)d] / wsum[j]);
}

/* One Lloyd update; empty clusters reseeded at the largest weighted errors. */
static gsz_error lloyd_update(const float *y, const float *w, size_t n, int dim, int k, const uint32_t *assign,
                              const float *dist, float *cent, double *sum, double *wsum, int threads) {
    lloyd_update_keep(y, w, n, dim, k, assign, cent, sum, wsum, threads);
    int dead = 0;
    for (int j = 0; j < k; j++) dead += !(wsum[j] > 0);
    if (!dead) return GSZ_OK;
    float *e = gsz_malloc_array(n, sizeof(float));
    uint32_t *worst = gsz_malloc_array((size_t)dead, sizeof(uint32_t));
    gsz_error err = e && worst ? GSZ_OK : gsz_fail(GSZ_ERROR_memory, "k-means: out of memory");
    if (!err) {
        for (size_t i = 0; i < n; i++) e[i] = dist[i] * (w ? w[i] : 1.0f);
        err = gsz_worst_points(e, n, (size_t)dead, worst);
    }
    size_t next = 0;
    for (int j = 0; !err && j < k && next < GSZ_MIN(n, (size_t)dead); j++)
        if (!(wsum[j] > 0)) memcpy(cent + (size_t)j * (size_t)dim, y + (size_t)worst[next++] * (size_t)dim, (size_t)dim * sizeof(float));
    free(e);
    free(worst);
    return err;
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
        if ((err = assign_all(cy, k, dim, ys, m, as, dist, it > 0 ? 1 : 2, threads))) goto done;
        if ((err = lloyd_update(ys, ws, m, dim, k, as, dist, cy, sum, wsum, threads))) goto done;
    }
    {
        /* refinement on every point */
        if ((err = assign_all(cy, k, dim, y, n, as, dist, 2, threads))) goto done;
        if ((err = lloyd_update(y, w, n, dim, k, as, dist, cy, sum, wsum, threads))) goto done;
    }
    if (opt->rate > 0) {
        /* entropy-constrained passes: lambda at the quantiser's own slope, -dD/dR = (2 ln 2 / dim) D
         * per point (high-rate theory), scaled by opt->rate; the assignment is the final one */
        double wd = 0, ws_ = 0;
        for (size_t i = 0; i < n; i++) { double wi = w ? w[i] : 1.0; wd += wi * dist[i]; ws_ += wi; }
        float lambda = (float)(opt->rate * 2.0 * log(2.0) / dim * wd / (double)n);
        float w_floor = (float)(1e-3 * ws_ / (double)n);
        int passes = opt->rate_passes ? opt->rate_passes : 4;
        if ((err = assign_all(cy, k, dim, y, n, as, NULL, 1, threads))) goto done; /* the counts to start from */
        for (int it = 0; it < passes; it++) {
            if ((err = assign_points(cy, k, dim, y, n, as, dist, 1, w, lambda, w_floor, threads))) goto done;
            if (it + 1 < passes) lloyd_update_keep(y, w, n, dim, k, as, cy, sum, wsum, threads);
        }
        if (assign_out) memcpy(assign_out, as, n * sizeof(uint32_t));
    } else if (assign_out) { /* nearest of the final centroids, starting from each point's last one */
        if ((err = assign_all(cy, k, dim, y, n, as, NULL, 1, threads))) goto done;
        memcpy(assign_out, as, n * sizeof(uint32_t));
    }
    for (int j = 0; j < k; j++) pca_inverse(&pca, cy + (size_t)j * D, cent + (size_t)j * D);
done:
    pca_free(&pca);
    free(y); free(ys); free(ws); free(dist); free(as); free(sum); free(wsum); free(cy);
    return err;
}
