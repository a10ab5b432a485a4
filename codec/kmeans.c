/* Importance-weighted k-means (Lloyd) for the vector-quantisation codebooks, as in the compact 3DGS
 * codecs (Niedermayr et al., CVPR 2024; LightGaussian), made fast and exact:
 *  - points are rotated into their PCA basis (distances unchanged); the exact nearest-centroid search
 *    prunes with a k-d tree in up to 4 dimensions and a slab along the first principal axis above
 *    (see searcher); a block's 8 distances are computed lane-wise (vectorised) with an early exit
 *    over coordinates in decreasing variance order;
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

/* Nearest-centroid search. Centroids sit in blocks of SB, stored dimension-major so that one point's
 * distances to a block's SB centroids are computed lane-wise, indexed one of two ways:
 *  - up to KD_DIMS coordinates (scale, rotation, colour), the leaves of a k-d tree (median splits
 *    along the widest coordinate), searched depth first, nearer child first, skipping every subtree
 *    whose cell (Arya and Mount's incremental distance) is farther than the best so far;
 *  - above (SH), sorted along the first principal coordinate, scanned outward from the query until
 *    the slab bound (q0 - c0)^2 exceeds the best, where the early exit inside a block does most of
 *    the work and a tree's cells in 9 and more dimensions prune too little for their cost; the slab
 *    visits most blocks there (45-dimensional SH: 420 of 512), so it takes them 8 at a time
 *    (eval_group).
 * On playbot's 450K scales against 4096 entries the tree evaluates 3.3 blocks a search, the slab 123
 * (of 512): k-means of scale, rotation and colour 4.2 -> 2.0 s; the slab is 1.4x faster for 9- and
 * 24-dimensional SH (docs/BENCHMARKS.md). */
#define SB 8
#define KD_DIMS 4
typedef float vec_t __attribute__((vector_size(SB * sizeof(float))));

typedef struct {
    int child[2];     /* children, or -1 for a leaf */
    int block, dim;   /* a leaf's block; a split's coordinate */
    float lmax, rmin; /* the split coordinate's largest value on the left, smallest on the right */
} kd_node;

typedef struct {
    int dim, k, nb, nn;
    float *c;          /* nb blocks of dim x SB floats: block b, coordinate d, lane l at (b*dim + d)*SB + l */
    uint32_t *id;      /* original index of the entry in a block lane; UINT32_MAX for padding */
    uint32_t *pos_of;  /* block lane (b*SB + l) of an original index */
    float *len;        /* entropy-constrained search: per block lane its code length in bits (NULL: plain) */
    /* the tree (node: nn nodes, the root first, children after their parent), or NULL ... */
    kd_node *node;
    float *len_min_n;  /* per node: the shortest code length under it */
    /* ... the slab: blocks in order of the first coordinate */
    float *lo0, *hi0;  /* per block: range of the first coordinate */
    float *len_min_b;  /* per block: the shortest code length in it */
    float len_min;
} searcher;

typedef struct { float v; uint32_t i; } key_t_;
static int cmp_key(const void *a, const void *b) {
    const key_t_ *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Entries ids[0..n) (n <= SB) into the next block; padding lanes sit far away (squared distances ~1e36
 * stay finite) and are never chosen. */
static int put_block(searcher *s, const float *cent, const uint32_t *ids, int n) {
    int b = s->nb++, D = s->dim;
    for (int l = 0; l < SB; l++) {
        int real = l < n;
        s->id[(size_t)b * SB + (size_t)l] = real ? ids[l] : UINT32_MAX;
        if (real) s->pos_of[ids[l]] = (uint32_t)(b * SB + l);
        for (int d = 0; d < D; d++) s->c[((size_t)b * (size_t)D + (size_t)d) * SB + (size_t)l] = real ? cent[(size_t)ids[l] * (size_t)D + (size_t)d] : 1e18f;
    }
    return b;
}

/* Sorts ids[0..n) by coordinate d (ties by id); keys is scratch of n. */
static void sort_by(const float *cent, int D, int d, uint32_t *ids, key_t_ *keys, int n) {
    for (int j = 0; j < n; j++) { keys[j].v = cent[(size_t)ids[j] * (size_t)D + (size_t)d]; keys[j].i = ids[j]; }
    qsort(keys, (size_t)n, sizeof *keys, cmp_key);
    for (int j = 0; j < n; j++) ids[j] = keys[j].i;
}

/* Node over the entries ids[0..n) (reordered in place); returns its index. */
static int kd_build(searcher *s, const float *cent, uint32_t *ids, key_t_ *keys, int n) {
    int me = s->nn++, D = s->dim;
    if (n <= SB) {
        s->node[me] = (kd_node){{-1, -1}, put_block(s, cent, ids, n), 0, 0.0f, 0.0f};
        return me;
    }
    int split = 0;
    float widest = -1;
    for (int d = 0; d < D; d++) {
        float mn = INFINITY, mx = -INFINITY;
        for (int j = 0; j < n; j++) {
            float v = cent[(size_t)ids[j] * (size_t)D + (size_t)d];
            mn = GSZ_MIN(mn, v);
            mx = GSZ_MAX(mx, v);
        }
        if (mx - mn > widest) { widest = mx - mn; split = d; }
    }
    sort_by(cent, D, split, ids, keys, n);
    int nl = (n / 2 + SB - 1) / SB * SB; /* whole blocks on the left, so only the last leaf is partial */
    float lmax = keys[nl - 1].v, rmin = keys[nl].v;
    int l = kd_build(s, cent, ids, keys, nl);
    int r = kd_build(s, cent, ids + nl, keys + nl, n - nl);
    s->node[me] = (kd_node){{l, r}, -1, split, lmax, rmin};
    return me;
}

static gsz_error searcher_build(searcher *s, const float *cent, int k, int dim) {
    s->dim = dim;
    s->k = k;
    int tree = dim <= KD_DIMS;
    size_t nb = ((size_t)k + SB - 1) / SB, D = (size_t)dim;
    s->c = gsz_malloc_array(nb * D, SB * sizeof(float));
    s->id = malloc(nb * SB * sizeof(uint32_t));
    s->pos_of = malloc((size_t)k * sizeof(uint32_t));
    if (tree) s->node = malloc(2 * nb * sizeof(kd_node));
    else {
        s->lo0 = malloc(nb * sizeof(float));
        s->hi0 = malloc(nb * sizeof(float));
    }
    uint32_t *ids = malloc((size_t)k * sizeof *ids);
    key_t_ *keys = malloc((size_t)k * sizeof *keys);
    if (!s->c || !s->id || !s->pos_of || (tree ? !s->node : !s->lo0 || !s->hi0) || !ids || !keys) {
        free(ids); free(keys);
        return gsz_fail(GSZ_ERROR_memory, "k-means: out of memory");
    }
    for (int i = 0; i < k; i++) ids[i] = (uint32_t)i;
    if (tree) kd_build(s, cent, ids, keys, k);
    else {
        sort_by(cent, dim, 0, ids, keys, k);
        for (size_t b = 0; b < nb; b++) {
            size_t e = GSZ_MIN(b * SB + SB, (size_t)k);
            put_block(s, cent, ids + b * SB, (int)(e - b * SB));
            s->lo0[b] = keys[b * SB].v;
            s->hi0[b] = keys[e - 1].v;
        }
    }
    free(ids);
    free(keys);
    return GSZ_OK;
}

static void searcher_free(searcher *s) {
    free(s->c); free(s->id); free(s->pos_of); free(s->len);
    free(s->node); free(s->len_min_n); free(s->lo0); free(s->hi0); free(s->len_min_b);
}

/* Code lengths -log2(count/n) per entry, laid out like the centroids (an unused entry costs as much
 * as one used once in 2n, padding lanes infinitely much), and their minima per node or block. */
static gsz_error searcher_set_lengths(searcher *s, const uint32_t *assign, size_t n) {
    size_t nl = (size_t)s->nb * SB;
    s->len = malloc(nl * sizeof(float));
    if (s->node) s->len_min_n = malloc((size_t)s->nn * sizeof(float));
    else s->len_min_b = malloc((size_t)s->nb * sizeof(float));
    size_t *cnt = calloc((size_t)s->k, sizeof *cnt);
    if (!s->len || (s->node ? !s->len_min_n : !s->len_min_b) || !cnt) { free(cnt); return gsz_fail(GSZ_ERROR_memory, "k-means: out of memory"); }
    for (size_t i = 0; i < n; i++) cnt[assign[i]]++;
    s->len_min = INFINITY;
    for (size_t j = 0; j < nl; j++) {
        if (s->id[j] == UINT32_MAX) { s->len[j] = 1e30f; continue; }
        double c = cnt[s->id[j]] ? (double)cnt[s->id[j]] : 0.5;
        s->len[j] = (float)-log2(c / (double)n);
        s->len_min = GSZ_MIN(s->len_min, s->len[j]);
    }
    for (int v = s->node ? s->nn - 1 : -1; v >= 0; v--) { /* children come after their parent */
        const kd_node *nd = &s->node[v];
        float m = INFINITY;
        if (nd->block >= 0)
            for (size_t l = 0; l < SB; l++) m = GSZ_MIN(m, s->len[(size_t)nd->block * SB + l]);
        else m = GSZ_MIN(s->len_min_n[nd->child[0]], s->len_min_n[nd->child[1]]);
        s->len_min_n[v] = m;
    }
    for (size_t b = 0; !s->node && b < (size_t)s->nb; b++) {
        s->len_min_b[b] = s->len[b * SB];
        for (size_t l = 1; l < SB; l++) s->len_min_b[b] = GSZ_MIN(s->len_min_b[b], s->len[b * SB + l]);
    }
    free(cnt);
    return GSZ_OK;
}

/* The smallest of a block's SB values, by halving (a minimum does not round: the same value as a
 * scalar scan); pointers, not vector arguments, for the clone without AVX. */
typedef int ivec_t __attribute__((vector_size(SB * sizeof(int))));
_Static_assert(SB == 8, "lane_min's shuffles are written for 8 lanes");
#define VMIN(a, b) ((vec_t)(((ivec_t)(a) & ((a) < (b))) | ((ivec_t)(b) & ~((a) < (b)))))
#ifdef __clang__
#define SHUF(a, ...) __builtin_shufflevector(a, a, __VA_ARGS__)
#else
#define SHUF(a, ...) __builtin_shuffle(a, (ivec_t){__VA_ARGS__})
#endif
static inline __attribute__((always_inline)) float lane_min(const vec_t *v) {
    vec_t a = *v, t;
    t = SHUF(a, 4, 5, 6, 7, 0, 1, 2, 3); a = VMIN(a, t);
    t = SHUF(a, 2, 3, 0, 1, 6, 7, 4, 5); a = VMIN(a, t);
    t = SHUF(a, 1, 0, 3, 2, 5, 4, 7, 6); a = VMIN(a, t);
    return a[0];
}

/* Block b's SB costs folded into (best, best_id), ties to the lowest id: the result does not depend
 * on the order blocks are folded in. */
static inline __attribute__((always_inline)) void fold(const searcher *s, int b, const vec_t *acc, float *best, uint32_t *best_id) {
    const uint32_t *ids = s->id + (size_t)b * SB;
    for (int l = 0; l < SB; l++)
        if (ids[l] != UINT32_MAX && ((*acc)[l] < *best || ((*acc)[l] == *best && ids[l] < *best_id))) { *best = (*acc)[l]; *best_id = ids[l]; }
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
            if (lane_min(&acc) > *best) return;
        }
    }
    fold(s, b, &acc, best, best_id);
}

/* GROUP blocks as eval_block evaluates each (the same additions in the same order: the same sums, so
 * the same result), their chains interleaved. A block's sum is one dependent add per coordinate, so
 * one block at a time waits on the adder's latency at every coordinate, and in 24 and 45 dimensions
 * the slab visits most blocks (docs/BENCHMARKS.md, session 38). A block stops counting at the
 * checkpoint where every lane exceeds the best as it stood before the group (a staler bound than
 * eval_block's, never a wrong one); the group stops when all have. */
#define GROUP 8
static inline __attribute__((always_inline)) void eval_group(const searcher *s, const int *blk, int n, const float *q, float mu, float *best, uint32_t *best_id) {
    if (n < GROUP) { /* a direction's last few: one at a time */
        for (int g = 0; g < n; g++) eval_block(s, blk[g], q, mu, best, best_id);
        return;
    }
    int dim = s->dim;
    const float *cb[GROUP];
    vec_t a[GROUP];
    for (int g = 0; g < GROUP; g++) {
        cb[g] = s->c + (size_t)blk[g] * (size_t)dim * SB;
        a[g] = (vec_t){0};
        if (mu > 0) { vec_t l; memcpy(&l, s->len + (size_t)blk[g] * SB, sizeof l); a[g] = l * mu; }
    }
    unsigned live = (1u << GROUP) - 1;
    for (int d = 0; d < dim; d++) {
        float qd = q[d];
        for (int g = 0; g < GROUP; g++) {
            vec_t cv;
            memcpy(&cv, cb[g] + (size_t)d * SB, sizeof cv);
            vec_t diff = cv - qd;
            a[g] += diff * diff;
        }
        if ((d & 7) == 7 && d + 1 < dim) {
            for (int g = 0; g < GROUP; g++)
                if (lane_min(&a[g]) > *best) live &= ~(1u << g);
            if (!live) return;
        }
    }
    for (int g = 0; g < GROUP; g++)
        if (live >> g & 1) fold(s, blk[g], &a[g], best, best_id);
}

/* The tree's search after the block `first` (-1: none): a subtree is skipped where its cell's squared
 * distance plus mu times its shortest code length exceeds the best by more than rounding (1e-5
 * relative: exact ties and near-ties are always evaluated, so the result is the exact nearest). */
#define KD_STACK 64 /* pending far children: one per level at most, 22 levels at the largest codebook */
static __attribute__((noinline)) void kd_search(const searcher *s, const float *q, int first, float mu, float *best, uint32_t *best_id) {
    int dim = s->dim;
    /* off: per coordinate the query's distance to the cell; each pending far child keeps its own */
    float off[KD_DIMS] = {0}, stack_off[KD_STACK][KD_DIMS], stack_rd[KD_STACK], rd = 0.0f;
    int stack_v[KD_STACK], top = 0, v = 0;
    for (;;) {
        const kd_node *nd = &s->node[v];
        if ((mu > 0 ? rd + mu * s->len_min_n[v] : rd) <= *best * 1.00001f) {
            if (nd->block < 0) {
                int d = nd->dim;
                float x = q[d], old = off[d];
                float gl = x > nd->lmax ? x - nd->lmax : 0.0f, gr = x < nd->rmin ? nd->rmin - x : 0.0f;
                int near = gr < gl; /* 1: the right child is nearer */
                float gn = GSZ_MAX(near ? gr : gl, old), gf = GSZ_MAX(near ? gl : gr, old);
                float rf = rd - old * old + gf * gf;
                int far = nd->child[!near];
                if (top < KD_STACK && (mu > 0 ? rf + mu * s->len_min_n[far] : rf) <= *best * 1.00001f) {
                    memcpy(stack_off[top], off, (size_t)dim * sizeof(float));
                    stack_off[top][d] = gf;
                    stack_rd[top] = rf;
                    stack_v[top++] = far;
                }
                off[d] = gn;
                rd = rd - old * old + gn * gn;
                v = nd->child[near];
                continue;
            }
            if (nd->block != first) eval_block(s, nd->block, q, mu, best, best_id);
        }
        if (!top) return;
        top--;
        v = stack_v[top];
        rd = stack_rd[top];
        memcpy(off, stack_off[top], (size_t)dim * sizeof(float));
    }
}

/* The slab's search after the block `first` (-1: none): blocks outward from the first (or from the
 * query's place along the first coordinate); past the slab bound with the shortest code anywhere each
 * direction stops, with the block's shortest that block is skipped. */
static inline __attribute__((always_inline)) void slab_search(const searcher *s, const float *q, int first, float mu, float *best, uint32_t *best_id) {
    int nb = s->nb, start = first;
    if (start < 0) {
        int lo = 0, hi = nb; /* first block whose range reaches q0 */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (s->hi0[mid] < q[0]) lo = mid + 1; else hi = mid;
        }
        start = lo < nb ? lo : nb - 1;
        eval_block(s, start, q, mu, best, best_id);
    }
    float base = mu > 0 ? mu * s->len_min : 0.0f;
    int grp[GROUP], n = 0;
    for (int b = start + 1; b < nb; b++) {
        float gap = GSZ_MAX(0.0f, s->lo0[b] - q[0]);
        if (gap * gap + base > *best) break;
        if (mu > 0 && gap * gap + mu * s->len_min_b[b] > *best) continue;
        grp[n++] = b;
        if (n == GROUP) { eval_group(s, grp, n, q, mu, best, best_id); n = 0; }
    }
    if (n) eval_group(s, grp, n, q, mu, best, best_id);
    n = 0;
    for (int b = start - 1; b >= 0; b--) {
        float gap = GSZ_MAX(0.0f, q[0] - s->hi0[b]);
        if (gap * gap + base > *best) break;
        if (mu > 0 && gap * gap + mu * s->len_min_b[b] > *best) continue;
        grp[n++] = b;
        if (n == GROUP) { eval_group(s, grp, n, q, mu, best, best_id); n = 0; }
    }
    if (n) eval_group(s, grp, n, q, mu, best, best_id);
}

/* Exact nearest centroid (ties: lowest original id); hint = an original id whose block is evaluated
 * first (a close entry makes the bounds prune early), or UINT32_MAX. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
static uint32_t search(const searcher *s, const float *q, uint32_t hint, float mu, float *out_d) {
    int first = hint != UINT32_MAX ? (int)(s->pos_of[hint] / SB) : -1;
    float best = INFINITY;
    uint32_t best_id = UINT32_MAX;
    if (first >= 0) eval_block(s, first, q, mu, &best, &best_id);
    if (s->node) kd_search(s, q, first, mu, &best, &best_id);
    else slab_search(s, q, first, mu, &best, &best_id);
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

/* The m largest errors, ties in index order. */
gsz_error gsz_worst_points(const float *err, size_t n, size_t m, uint32_t *out) {
    uint32_t *order = gsz_malloc_array(n ? n : 1, sizeof *order);
    if (!order || gsz_order_descending(err, n, order)) { free(order); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    memcpy(out, order, GSZ_MIN(m, n) * sizeof *out);
    free(order);
    return GSZ_OK;
}

/* The entropy-constrained cost's lambda at rate times the quantiser's slope, -dD/dR = (2 ln 2 / dim) D
 * per point (high-rate theory), and the weight floor under which a point's length term stops growing:
 * from the n points' weighted squared distances d (wd, their sum) and weights (ws). */
static void rate_lambda(float rate, int dim, double wd, double ws, size_t n, float *lambda, float *w_floor) {
    *lambda = (float)(rate * 2.0 * log(2.0) / dim * wd / (double)n);
    *w_floor = (float)(1e-3 * ws / (double)n);
}

/* gsz_kmeans_reassign's chunk of points: small enough to stay in cache, large enough to share out */
enum { REASSIGN_CHUNK = 16384 };

gsz_error gsz_kmeans_reassign(gsz_points_fn get, void *user, const float *w, size_t n, int dim, const float *cent, int k,
                              float rate, int threads, uint32_t *assign) {
    if (dim < 1 || dim > 64 || k < 1) return gsz_fail(GSZ_ERROR_argument, "k-means: %d entries of dimension %d", k, dim);
    if (n == 0) return GSZ_OK;
    size_t D = (size_t)dim;
    threads = gsz_thread_count(threads);
    float *buf = gsz_malloc_array(REASSIGN_CHUNK, D * sizeof(float)), *cy = gsz_malloc_array((size_t)k, D * sizeof(float));
    pca_t pca = {0};
    searcher s = {0};
    gsz_error err = buf && cy ? GSZ_OK : gsz_fail(GSZ_ERROR_memory, "k-means: out of memory");
    float lambda = 0, w_floor = 0;
    if (!err && rate > 0) { /* the current distortion, in point order */
        double wd = 0, ws = 0;
        for (size_t b = 0; b < n; b += REASSIGN_CHUNK) {
            size_t m = GSZ_MIN((size_t)REASSIGN_CHUNK, n - b);
            get(user, b, m, buf);
            for (size_t i = 0; i < m; i++) {
                const float *x = buf + i * D, *c = cent + (size_t)assign[b + i] * D;
                double d2 = 0, wi = w ? w[b + i] : 1.0;
                for (size_t d = 0; d < D; d++) d2 += ((double)x[d] - c[d]) * ((double)x[d] - c[d]);
                wd += wi * d2;
                ws += wi;
            }
        }
        rate_lambda(rate, dim, wd, ws, n, &lambda, &w_floor);
    }
    /* the search in the codebook's principal axes (distances unchanged) */
    if (!err) err = pca_fit(&pca, cent, NULL, (size_t)k, dim);
    if (!err) {
        for (int j = 0; j < k; j++) pca_forward(&pca, cent + (size_t)j * D, cy + (size_t)j * D);
        err = searcher_build(&s, cy, k, dim);
    }
    if (!err && lambda > 0) err = searcher_set_lengths(&s, assign, n); /* the counts before any point moves */
    for (size_t b = 0; !err && b < n; b += REASSIGN_CHUNK) {
        size_t m = GSZ_MIN((size_t)REASSIGN_CHUNK, n - b);
        get(user, b, m, buf);
        for (size_t i = 0; i < m; i++) pca_forward(&pca, buf + i * D, buf + i * D); /* in place: it copies first */
        assign_ctx ac = {&s, buf, w ? w + b : NULL, assign + b, NULL, 1, lambda, w_floor};
        gsz_parallel_for(m, 1024, threads, assign_range, &ac);
    }
    searcher_free(&s);
    pca_free(&pca);
    free(buf);
    free(cy);
    return err;
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

/* in_place: x is the caller's scratch and becomes the points' principal coordinates (y) */
static gsz_error kmeans(float *in_place, const float *x, const float *w, size_t n, int dim, const gsz_kmeans_options *opt,
                        float *cent, uint32_t *assign_out) {
    if (dim < 1 || dim > 64) return gsz_fail(GSZ_ERROR_argument, "k-means: dimension %d out of range", dim);
    int k = opt->k;
    if (k < 1 || n == 0) return gsz_fail(GSZ_ERROR_argument, "k-means: k=%d with %zu points", k, n);
    /* a NaN would match no centroid (and an infinity every one): refused, not assigned out of range */
    for (size_t i = 0; i < n * (size_t)dim; i++)
        if (!isfinite(x[i])) return gsz_fail(GSZ_ERROR_argument, "k-means: point %zu has a value that is not finite", i / (size_t)dim);
    for (size_t i = 0; w && i < n; i++)
        if (!(w[i] >= 0 && w[i] < INFINITY)) return gsz_fail(GSZ_ERROR_argument, "k-means: point %zu has a weight that is not finite and >= 0", i);
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
    float *y = in_place ? in_place : gsz_malloc_array(n, D * sizeof(float));
    /* the sample: the points themselves where it is all of them (one copy of the vectors fewer) */
    float *ys = m < n ? gsz_malloc_array(m, D * sizeof(float)) : y, *ws = gsz_malloc_array(m, sizeof(float));
    float *dist = gsz_malloc_array(n, sizeof(float));
    uint32_t *as = gsz_malloc_array(n, sizeof(uint32_t));
    double *sum = gsz_malloc_array((size_t)k, D * sizeof(double)), *wsum = gsz_malloc_array((size_t)k, sizeof(double));
    float *cy = gsz_malloc_array((size_t)k, D * sizeof(float));
    size_t *pick = gsz_malloc_array(m, sizeof(size_t)); /* deterministic strided sample */
    if (!y || !ys || !ws || !dist || !as || !sum || !wsum || !cy || !pick) { err = gsz_fail(GSZ_ERROR_memory, "k-means: out of memory"); goto done; }
    for (size_t i = 0; i < m; i++) pick[i] = (size_t)(((double)i + 0.5) * (double)n / (double)m);
    /* the sample in the original space, for the PCA, in the buffer its rotation fills next (with
     * every point sampled: the points as they are) */
    const float *xs = x;
    if (m < n) {
        for (size_t i = 0; i < m; i++) memcpy(ys + i * D, x + pick[i] * D, D * sizeof(float));
        xs = ys;
    }
    for (size_t i = 0; i < m; i++) ws[i] = w ? GSZ_MAX(w[pick[i]], 0.0f) : 1.0f;
    err = pca_fit(&pca, xs, ws, m, dim);
    if (err) goto done;
    {
        rot_ctx rc = {x, y, &pca};
        gsz_parallel_for(n, 8192, threads, rotate_range, &rc);
    }
    if (m < n)
        for (size_t i = 0; i < m; i++) memcpy(ys + i * D, y + pick[i] * D, D * sizeof(float));
    free(pick);
    pick = NULL;
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
        /* entropy-constrained passes (rate_lambda); the assignment is the final one */
        double wd = 0, ws_ = 0;
        for (size_t i = 0; i < n; i++) { double wi = w ? w[i] : 1.0; wd += wi * dist[i]; ws_ += wi; }
        float lambda, w_floor;
        rate_lambda(opt->rate, dim, wd, ws_, n, &lambda, &w_floor);
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
    if (ys != y) free(ys);
    if (y != in_place) free(y);
    free(pick); free(ws); free(dist); free(as); free(sum); free(wsum); free(cy);
    return err;
}

gsz_error gsz_kmeans(const float *x, const float *w, size_t n, int dim, const gsz_kmeans_options *opt, float *cent,
                     uint32_t *assign_out) {
    return kmeans(NULL, x, w, n, dim, opt, cent, assign_out);
}

gsz_error gsz_kmeans_scratch(float *x, const float *w, size_t n, int dim, const gsz_kmeans_options *opt, float *cent,
                             uint32_t *assign_out) {
    return kmeans(x, x, w, n, dim, opt, cent, assign_out);
}
