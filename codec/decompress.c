/* The decoder: container -> streams (decoded in parallel) -> scene. Every count, width and index is
 * checked against the header before use; a damaged file gives an error, never a partial scene. */
#include "codec.h"

#include <string.h>
#include <sys/stat.h>

typedef struct {
    const gsz_section *sec;
    size_t n;
    int width;
    void *out;
    uint8_t *scratch; /* as many bytes as out, for the stream's transform */
    gsz_error err;
    char detail[256];
    float *cb;        /* a codebook section not transform-coded: unpacked in the job (cbk, cbb) */
    int cbk, cbb;
    float *cbdst;     /* its room in the kept buffer (cbcap floats), or NULL: cb is cbdst or malloc'd */
    size_t cbcap;
} dec_job;

/* The stream jobs, then (a fresh float decode) one task per 2 MiB page of the scene's arrays: a thread
 * that runs out of streams faults pages in, so that the kernel clears them while the other thread still
 * decodes, not during the fill. A header's count could be forged to fault in gigabytes before any stream
 * fails, so this only happens once the position stream has decoded, and for scenes of at most
 * PREFAULT_RATIO times the file's bytes (the bench's files reach 52). */
#define PREFAULT_RATIO 128
typedef struct {
    dec_job *jobs;
    size_t nj;
    int pos_ok;          /* set once the position stream decoded (atomic) */
    char *arr[6];
    size_t bytes[6];
    size_t first[7];     /* task nj + first[a]: array a's first page */
} dec_batch;

static void decode_range(void *p, size_t b, size_t e, int w) {
    (void)w;
    dec_batch *B = p;
    for (size_t i = b; i < e; i++) {
        if (i >= B->nj) {
            if (!__atomic_load_n(&B->pos_ok, __ATOMIC_ACQUIRE)) continue; /* the fill faults it in instead */
            size_t t = i - B->nj;
            int a = 0;
            while (t >= B->first[a + 1]) a++;
            size_t at = (t - B->first[a]) << 21, end = GSZ_MIN(B->bytes[a], at + ((size_t)2 << 20));
            for (size_t o = at; o < end; o += 4096) B->arr[a][o] = 0;
            continue;
        }
        dec_job *j = &B->jobs[i];
        j->err = gsz_section_verify(j->sec);
        if (!j->err)
            j->err = gsz_entropy_decode_with(j->sec->payload, (size_t)j->sec->stored_size, j->sec->transform, j->n, j->width, j->out,
                                         j->scratch, j->n * (size_t)j->width);
        int slot = gsz_codebook_slot(j->sec->type); /* the transform-coded SH ones (large) wait for every thread */
        if (!j->err && slot >= 0 && !gsz_codebook_transform_entries(j->out, j->n))
            j->err = gsz_codebook_unpack_into(j->out, j->n, gsz_codebook_dim(slot), 1, j->cbdst, j->cbcap, &j->cb, &j->cbk, &j->cbb);
        if (j->err) snprintf(j->detail, sizeof j->detail, "%s: %s", gsz_section_name(j->sec->type), gsz_getErrorDetail());
        else if (j->sec->type == GSZ_SEC_POSITION) __atomic_store_n(&B->pos_ok, 1, __ATOMIC_RELEASE);
    }
}

/* A stream's bytes, rounded to a cache line (the streams share one allocation). */
static size_t job_bytes(const dec_job *j) { return (j->n * (size_t)j->width + 63) & ~(size_t)63; }

static int cmp_job_size_desc(const void *a, const void *b) {
    const dec_job *x = a, *y = b;
    size_t sx = x->n * (size_t)x->width, sy = y->n * (size_t)y->width;
    return (sx < sy) - (sx > sy);
}

/* Whether the n indices of width w are 0, 1, 2, ... (an SH entry of its own per Gaussian): a loop per
 * width without an exit per index, so that it vectorises. */
static int is_identity(const void *p, int w, size_t n) {
    for (size_t b = 0; b < n; b += 4096) {
        size_t e = GSZ_MIN(n, b + 4096);
        uint32_t bad = 0;
        if (w == 1) for (size_t i = b; i < e; i++) bad |= ((const uint8_t *)p)[i] ^ (uint32_t)i;
        else if (w == 2) for (size_t i = b; i < e; i++) bad |= ((const uint16_t *)p)[i] ^ (uint32_t)i;
        else for (size_t i = b; i < e; i++) bad |= ((const uint32_t *)p)[i] ^ (uint32_t)i;
        if (bad) return 0;
    }
    return 1;
}

#define FILL_CHUNK 4096 /* small enough that the last chunks balance the threads */
#define CB_KEPT_MAX ((size_t)1 << 19) /* codebook sections up to this many bytes unpack into the kept buffer */

/* A codebook job's room in the kept buffer, in bytes (at most a float a byte of its section), or 0: not
 * a codebook, or a large one (transform-coded SH: decoded into the scene's rows, or malloc'd). */
static size_t cb_room(const dec_job *j) {
    return gsz_codebook_slot(j->sec->type) >= 0 && j->n <= CB_KEPT_MAX ? (j->n * sizeof(float) + 63) & ~(size_t)63 : 0;
}

/* n floats, n one of the codebook dimensions: copies of a constant size, which compile to a few vector
 * moves instead of a library call per value set (the float fill's largest cost) */
static inline void copy_floats(float *dst, const float *src, size_t n) {
    switch (n) {
    case 3: memcpy(dst, src, 3 * sizeof(float)); break;
    case 4: memcpy(dst, src, 4 * sizeof(float)); break;
    case 9: memcpy(dst, src, 9 * sizeof(float)); break;
    case 24: memcpy(dst, src, 24 * sizeof(float)); break;
    case 45: memcpy(dst, src, 45 * sizeof(float)); break;
    default: memcpy(dst, src, n * sizeof(float));
    }
}

/* Gaussian i's codebook values into a float scene (indices already checked). Attribute a: scale,
 * rotation, colour; the SH bands of degree d (dim values of the nr3 per Gaussian), the rest zero. */
static void put_entry(gsz_scene *s, size_t i, float *const *cb, int a, uint32_t v) {
    float *dst = a == 0 ? s->scale + 3 * i : a == 1 ? s->rot + 4 * i : s->sh_dc + 3 * i;
    size_t dim = (size_t)gsz_codebook_dim(a);
    copy_floats(dst, cb[a] + dim * v, dim);
}
static void put_sh(gsz_scene *s, size_t i, float *const *cb, size_t nr3, int d, size_t dim, uint32_t v) {
    float *dst = s->sh_rest + nr3 * i;
    if (dim) copy_floats(dst, cb[2 + d] + dim * v, dim);
    if (dim < nr3) memset(dst + dim, 0, (nr3 - dim) * sizeof(float));
}

typedef struct {
    const gsz_header *h;
    const uint64_t *codes;
    const uint8_t *opac, *degs;
    gsz_indexed *x;       /* fill the indexed form, or */
    gsz_scene *s;         /* the float scene straight away (what decompress returns) */
    const void *idx[6];
    int iw[6];
    const int *cbk;
    float *const *cb;     /* codebooks, for s */
    const size_t *starts; /* per chunk: its first position in each degree's SH index stream */
    size_t first_bad;     /* lowest Gaussian with an invalid value (atomic min), SIZE_MAX if none */
    float opacity[256];   /* each stored opacity level as the value to write (sigmoid, or logit for s) */
    const uint32_t *lat[5]; /* a lattice file's ranges and words (lattice.c), else NULL */
    int sh_in_place;        /* s's SH rest is the SH codebook itself: nothing to copy */
    int sh_direct[4];       /* degree d's rows already decoded into s's SH rest (sh_rows) */
    const gsz_warp *warp;   /* unbounded scenes: the grid's positions are warped (position.warp), or NULL */
    const float *grid[3];   /* with a warp: each axis's 2^P positions, where fewer than the Gaussians' coordinates, or NULL */
} fill_ctx;

/* Gaussian i of a lattice file: its codebook entries are its own (indices 0, 1, 2, ...). */
static void fill_lattice(const fill_ctx *f, size_t i) {
    float p[3], l[3], r[4], d[3];
    const float *ranges = (const float *)(const void *)f->lat[0] + GSZ_LATTICE_RANGES * (i / GSZ_LATTICE_CHUNK);
    gsz_lattice_gaussian(ranges, f->lat[1][i], f->lat[2][i], f->lat[3][i], f->lat[4][i], p, l, r, d);
    float o = f->opacity[f->lat[3][i] & 255];
    if (f->x) {
        memcpy(f->x->pos + 3 * i, p, sizeof p);
        f->x->opacity[i] = o;
        memcpy(f->cb[0] + 3 * i, l, sizeof l);
        memcpy(f->cb[1] + 4 * i, r, sizeof r);
        memcpy(f->cb[2] + 3 * i, d, sizeof d);
        for (int a = 0; a < 3; a++) f->x->index[a][i] = (uint32_t)i;
    } else {
        memcpy(f->s->pos + 3 * i, p, sizeof p);
        memcpy(f->s->scale + 3 * i, l, sizeof l);
        memcpy(f->s->rot + 4 * i, r, sizeof r);
        memcpy(f->s->sh_dc + 3 * i, d, sizeof d);
        f->s->opacity[i] = o;
    }
}

/* Grid point q of axis k as the header's bounds place it (a warped coordinate in a warped file). */
static inline float grid_u(const gsz_header *h, int k, uint32_t q, float qmax) {
    return h->bmin[k] + (h->bmax[k] - h->bmin[k]) * ((float)q / qmax);
}

/* Each axis's positions, grid point by grid point: the same values fill_range computes, a division
 * (and for a warped axis an exponential) per grid point instead of per coordinate (playbot-sized
 * unbounded scenes: 3 x 2^14 against a million). */
typedef struct {
    const gsz_header *h;
    const gsz_warp *w;
    float *grid; /* 3 x 2^P */
} grid_ctx;

static void grid_range(void *p, size_t b, size_t e, int wk) {
    (void)wk;
    const grid_ctx *g = p;
    size_t m = (size_t)1 << g->h->pos_bits;
    float qmax = (float)(m - 1);
    for (size_t j = b; j < e; j++) {
        int k = (int)(j / m);
        float u = grid_u(g->h, k, (uint32_t)(j % m), qmax);
        g->grid[j] = g->w ? gsz_warp_inverse(u, g->w->c[k], g->w->r) : u;
    }
}

/* Morton codes c[0, m) split into their three coordinates, q[3j + k]: by BMI2's pext where it is fast
 * (a CPU with AVX-512 has it fast; Zen 1 and 2 microcode it), else by the magic-number compaction
 * (the fill's largest compute: 5% of a high file's one-thread decode). */
#define MORTON_RUN 256
static void morton_split(const uint64_t *c, size_t m, uint32_t *q) {
    for (size_t j = 0; j < m; j++) gsz_morton3_decode(c[j], q + 3 * j, q + 3 * j + 1, q + 3 * j + 2);
}
static int pext_off; /* set by tests only: the compaction, to compare with */
void gsz_morton_pext(int on) { pext_off = !on; }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
__attribute__((target("bmi2"))) static void morton_split_pext(const uint64_t *c, size_t m, uint32_t *q) {
    for (size_t j = 0; j < m; j++) {
        q[3 * j] = (uint32_t)_pext_u64(c[j], 0x1249249249249249ull);
        q[3 * j + 1] = (uint32_t)_pext_u64(c[j], 0x2492492492492492ull);
        q[3 * j + 2] = (uint32_t)_pext_u64(c[j], 0x4924924924924924ull);
    }
}
static int pext_fast(void) { return !pext_off && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("avx512f"); }
#else
#define morton_split_pext morton_split
static int pext_fast(void) { return 0; }
#endif
typedef void (*morton_split_fn)(const uint64_t *c, size_t m, uint32_t *q);
static morton_split_fn morton_splitter(void) { return pext_fast() ? morton_split_pext : morton_split; }

/* fill_range's Gaussians [b, e) of a float scene with a grid table (every file but lattice ones and
 * 17+-bit positions): runs of MORTON_RUN, their indices widened first, no branch per attribute; a
 * Gaussian with an invalid value is left unwritten (the decode fails). The lowest such, or SIZE_MAX. */
static size_t fill_floats(const fill_ctx *f, size_t b, size_t e) {
    gsz_scene *s = f->s;
    uint32_t lim = (1u << f->h->pos_bits) - 1, k[3], qs[3 * MORTON_RUN], v[3][MORTON_RUN];
    for (int a = 0; a < 3; a++) k[a] = (uint32_t)f->cbk[a];
    unsigned ob = f->h->opacity_bits;
    size_t bad = SIZE_MAX;
    morton_split_fn split = morton_splitter();
    for (size_t r0 = b; r0 < e; r0 += MORTON_RUN) {
        size_t m = GSZ_MIN((size_t)MORTON_RUN, e - r0);
        split(f->codes + r0, m, qs);
        for (int a = 0; a < 3; a++) {
            const void *ip = f->idx[a];
            if (f->iw[a] == 1) for (size_t j = 0; j < m; j++) v[a][j] = ((const uint8_t *)ip)[r0 + j];
            else if (f->iw[a] == 2) for (size_t j = 0; j < m; j++) v[a][j] = ((const uint16_t *)ip)[r0 + j];
            else memcpy(v[a], (const uint32_t *)ip + r0, m * sizeof(uint32_t));
        }
        for (size_t j = 0; j < m; j++) {
            size_t i = r0 + j;
            const uint32_t *q = qs + 3 * j;
            if ((q[0] | q[1] | q[2]) > lim || f->codes[i] >> 63 || f->opac[i] >> ob || v[0][j] >= k[0] || v[1][j] >= k[1] || v[2][j] >= k[2]) {
                if (i < bad) bad = i;
                continue;
            }
            for (int c = 0; c < 3; c++) s->pos[3 * i + (size_t)c] = f->grid[c][q[c]];
            s->opacity[i] = f->opacity[f->opac[i]];
            memcpy(s->scale + 3 * i, f->cb[0] + 3 * (size_t)v[0][j], 3 * sizeof(float));
            memcpy(s->rot + 4 * i, f->cb[1] + 4 * (size_t)v[1][j], 4 * sizeof(float));
            memcpy(s->sh_dc + 3 * i, f->cb[2] + 3 * (size_t)v[2][j], 3 * sizeof(float));
        }
    }
    return bad;
}

static void fill_range(void *p, size_t b, size_t e, int w) {
    (void)w;
    fill_ctx *f = p;
    const gsz_header *h = f->h;
    gsz_indexed *x = f->x;
    gsz_scene *s = f->s;
    float *pos = x ? x->pos : s->pos;
    float qmax = (float)((1u << h->pos_bits) - 1);
    uint32_t lim = (1u << h->pos_bits) - 1;
    size_t bad = SIZE_MAX;
    uint32_t qs[3 * MORTON_RUN];
    morton_split_fn split = morton_splitter();
    int fast = s && !f->lat[0] && f->grid[0];
    if (fast) bad = fill_floats(f, b, e);
    for (size_t i = b; i < e && !fast; i++) {
        if (f->lat[0]) { fill_lattice(f, i); continue; }
        if ((i - b) % MORTON_RUN == 0) split(f->codes + i, GSZ_MIN((size_t)MORTON_RUN, e - i), qs);
        const uint32_t *q = qs + 3 * ((i - b) % MORTON_RUN);
        int ok = q[0] <= lim && q[1] <= lim && q[2] <= lim && !(f->codes[i] >> 63) && !(f->opac[i] >> h->opacity_bits);
        for (int k = 0; k < 3; k++)
            pos[3 * i + (size_t)k] = f->grid[0] ? f->grid[k][q[k] & lim] /* q > lim fails the decode */
                                     : f->warp ? gsz_warp_inverse(grid_u(h, k, q[k], qmax), f->warp->c[k], f->warp->r)
                                               : grid_u(h, k, q[k], qmax);
        (x ? x->opacity : s->opacity)[i] = f->opacity[f->opac[i]]; /* an out-of-range level fails the decode */
        for (int a = 0; a < 3; a++) {
            uint32_t v = gsz_index_get(f->idx[a], f->iw[a], i);
            int valid = v < (uint32_t)f->cbk[a];
            ok &= valid;
            if (x) x->index[a][i] = v;
            else if (valid) put_entry(s, i, f->cb, a, v); /* an invalid index fails the decode */
        }
        if (!ok && i < bad) bad = i;
    }
    if (f->degs) { /* required whenever the file's SH degree is above 0 */
        size_t at[4], nr3 = s && !f->sh_in_place ? (size_t)gsz_shRestCount(s->sh_degree) * 3 : 0, dim[4] = {0};
        for (int d = 1; d < 4; d++) dim[d] = (size_t)gsz_codebook_dim(2 + d);
        memcpy(at, f->starts + 4 * (b / FILL_CHUNK), sizeof at);
        if (x) memcpy(x->degree + b, f->degs + b, e - b);
        for (size_t i = b; i < e; i++) {
            int d = f->degs[i];
            uint32_t v = 0;
            int valid = 1;
            if (d && !x && (f->sh_direct[d] || f->sh_in_place)) continue; /* its row written or in place, its indices 0, 1, 2, ... */
            if (d) {
                v = gsz_index_get(f->idx[2 + d], f->iw[2 + d], at[d]++);
                valid = v < (uint32_t)f->cbk[2 + d];
                if (!valid && i < bad) bad = i;
            }
            if (x) x->index[3][i] = v;
            else if (valid && nr3 && !f->sh_direct[d]) put_sh(s, i, f->cb, nr3, d, dim[d], v); /* nr3 0: a degree-0 file (which may still carry an all-zero sh.degree stream) */
        }
    } else if (x) {
        memset(x->degree + b, 0, e - b);
        memset(x->index[3] + b, 0, (e - b) * sizeof(uint32_t));
    }
    if (bad != SIZE_MAX) {
        size_t cur = __atomic_load_n(&f->first_bad, __ATOMIC_RELAXED);
        while (bad < cur && !__atomic_compare_exchange_n(&f->first_bad, &cur, bad, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    }
}

/* Tasks [first[d], first[d + 1]): degree d's SH row blocks (first[1] = 0), then the fill's chunks. */
typedef struct {
    fill_ctx *fc;
    size_t first[5];
    size_t n;
    gsz_sh_rows *shr[4];
} scene_tasks;

static void scene_range(void *p, size_t b, size_t e, int w) {
    scene_tasks *t = p;
    for (size_t i = b; i < e; i++) {
        int d = 1;
        while (d < 4 && i >= t->first[d + 1]) d++;
        if (d < 4) { gsz_sh_rows_block(t->shr[d], i - t->first[d]); continue; }
        size_t c = (i - t->first[4]) * FILL_CHUNK;
        fill_range(t->fc, c, GSZ_MIN(t->n, c + FILL_CHUNK), w);
    }
}

void gsz_indexed_gather(const gsz_indexed *x, gsz_scene *s) {
    s->count = x->count;
    if (s->pos) memcpy(s->pos, x->pos, x->count * 3 * sizeof(float));
    for (size_t i = 0; i < x->count; i++) {
        if (s->scale) memcpy(s->scale + 3 * i, x->codebook[0] + 3 * (size_t)x->index[0][i], 3 * sizeof(float));
        if (s->rot) memcpy(s->rot + 4 * i, x->codebook[1] + 4 * (size_t)x->index[1][i], 4 * sizeof(float));
        if (s->sh_dc) memcpy(s->sh_dc + 3 * i, x->codebook[2] + 3 * (size_t)x->index[2][i], 3 * sizeof(float));
        if (s->opacity) s->opacity[i] = gsz_logit(x->opacity[i]);
    }
}

void gsz_indexed_free(gsz_indexed *x) {
    free(x->pos); free(x->opacity); free(x->degree);
    for (int i = 0; i < 4; i++) free(x->index[i]);
    for (int i = 0; i < 6; i++) free(x->codebook[i]);
    memset(x, 0, sizeof *x);
}

/* Which Gaussian each degree's SH entries belong to (entry j of degree d: the j-th Gaussian of that
 * degree), per fill chunk from its first position in each degree's stream. */
typedef struct {
    const uint8_t *degs;
    const size_t *starts;
    uint32_t *rows[4]; /* per degree, or NULL where not wanted */
    size_t n;
} rows_ctx;

static void rows_range(void *p, size_t b, size_t e, int w) {
    (void)w;
    const rows_ctx *r = p;
    uint32_t sink, *dst[4];
    size_t keep[4]; /* unwanted degrees write to the sink: no branch on a degree (mixed ones mispredict) */
    for (int d = 0; d < 4; d++) {
        dst[d] = r->rows[d] ? r->rows[d] : &sink;
        keep[d] = r->rows[d] ? SIZE_MAX : 0;
    }
    for (size_t c = b; c < e; c++) {
        size_t at[4];
        memcpy(at, r->starts + 4 * c, sizeof at);
        for (size_t i = c * FILL_CHUNK, end = GSZ_MIN(r->n, (c + 1) * FILL_CHUNK); i < end; i++) {
            unsigned d = r->degs[i];
            dst[d][at[d] & keep[d]] = (uint32_t)i;
            at[d]++;
        }
    }
}

/* Decodes into the indexed form (xo) or straight into floats (so); exactly one is non-NULL. With
 * reuse, so's arrays are kept when they fit the file (count and SH degree). With pages, the outputs
 * take whole huge pages (gsz_malloc_pages). */
static gsz_error decode(const void *data, size_t size, int threads, gsz_indexed *xo, gsz_scene *so, int reuse, int pages) {
    void *(*alloc)(size_t, size_t) = pages ? gsz_malloc_pages : gsz_malloc_array;
    if (xo) memset(xo, 0, sizeof *xo);
    if (so && !reuse) memset(so, 0, sizeof *so);
    gsz_container *C = malloc(sizeof *C);
    gsz_error err = C ? gsz_container_open(data, size, C) : gsz_fail(GSZ_ERROR_memory, "out of memory"); /* checksums: in the jobs */
    if (err) { free(C); if (so) gsz_scene_free(so); return err; }
    size_t n = (size_t)C->h.count;
    int D = C->h.sh_degree;
    threads = gsz_thread_count(threads);
    gsz_pool *pool = n >= 4 * FILL_CHUNK ? gsz_pool_begin(threads) : NULL; /* a dozen loops below: workers started once */
    dec_job jobs[GSZ_MAX_SECTIONS];
    size_t nj = 0;
    memset(jobs, 0, sizeof jobs);
    float *cbs[6] = {0}, cstep[6] = {0};
    const dec_job *sh_tc[6] = {0}; /* transform-coded SH codebooks, left packed until the scene exists */
    uint32_t *rows = NULL; /* their rows in the scene */
    gsz_sh_rows *shr[4] = {0}; /* those decoded into the rows, alongside the fill */
    int fc_direct[4] = {0};
    int cbk[6] = {0}, cbb[6] = {0}, cb_kept[6] = {0}; /* cb_kept: cbs[k] in the kept buffer */
    uint64_t count_d[4] = {n, 0, 0, 0};
    gsz_indexed x;
    memset(&x, 0, sizeof x);
    size_t *starts = NULL; /* per fill chunk: its first position in each degree's SH index stream */
    uint8_t *streams = NULL; /* every job's output and scratch */
    int kept = 0;            /* streams (and rows) in the pool's scratch, which keeps them */
    float *grid = NULL;      /* a warped file's grid positions (fill_ctx.grid) */

    /* position, opacity, scale, rotation and colour come either from their quantised sections or, in a
     * lattice file, from the lattice sections (lattice.c): one set, complete */
    const uint32_t need[] = {GSZ_SEC_POSITION, GSZ_SEC_OPACITY, GSZ_SEC_SCALE_CB, GSZ_SEC_SCALE_IDX, GSZ_SEC_ROT_CB,
                             GSZ_SEC_ROT_IDX, GSZ_SEC_DC_CB, GSZ_SEC_DC_IDX};
    const uint32_t need_lat[] = {GSZ_SEC_LAT_RANGES, GSZ_SEC_LAT_POS, GSZ_SEC_LAT_SCALE, GSZ_SEC_LAT_COLOR, GSZ_SEC_LAT_ROT};
    const size_t nneed = sizeof need / sizeof need[0], nlat = sizeof need_lat / sizeof need_lat[0];
    int lattice = 0, color_diff = gsz_container_find(C, GSZ_SEC_LAT_COLOR_DIFF) != NULL; /* lattice.color, differenced */
    for (size_t i = 0; i < nlat; i++) lattice |= gsz_container_find(C, need_lat[i]) != NULL;
    lattice |= color_diff;
    if (color_diff && gsz_container_find(C, GSZ_SEC_LAT_COLOR)) { err = gsz_fail(GSZ_ERROR_corrupt, "sections lattice.color and lattice.color.diff both present"); goto done; }
    for (size_t i = 0; i < (lattice ? nlat : nneed); i++) {
        uint32_t t = lattice ? need_lat[i] : need[i];
        if (t == GSZ_SEC_LAT_COLOR && color_diff) continue;
        if (!gsz_container_find(C, t)) { err = gsz_fail(GSZ_ERROR_corrupt, "missing section %s", gsz_section_name(t)); goto done; }
    }
    for (size_t i = 0; lattice && i < nneed; i++)
        if (gsz_container_find(C, need[i])) { err = gsz_fail(GSZ_ERROR_corrupt, "section %s in a lattice file", gsz_section_name(need[i])); goto done; }
    if (D > 0 && !gsz_container_find(C, GSZ_SEC_SH_DEGREE)) { err = gsz_fail(GSZ_ERROR_corrupt, "missing section sh.degree"); goto done; }

    /* every stream in one parallel batch, largest first (positions are several times any other);
     * SH index counts are checked against the degrees once those are decoded */
    const void *idx[6] = {0};
    int iw[6] = {0};
    size_t idx_n[6] = {0};
    for (size_t i = 0; i < C->n; i++) {
        const gsz_section *sec = &C->s[i];
        size_t elems = (size_t)sec->elements;
        int w = sec->width;
        switch (sec->type) {
        case GSZ_SEC_POSITION: if (elems != n || w != 8) goto bad; break;
        case GSZ_SEC_POS_WARP:
            if (lattice) { err = gsz_fail(GSZ_ERROR_corrupt, "section position.warp in a lattice file"); goto done; }
            if (elems != 4 || w != 4) { err = gsz_fail(GSZ_ERROR_corrupt, "section position.warp: %zu elements of %d bytes (4 of 4 expected)", elems, w); goto done; }
            break;
        case GSZ_SEC_OPACITY: case GSZ_SEC_SH_DEGREE: if (elems != n || w != 1) goto bad; break;
        case GSZ_SEC_SCALE_CB: case GSZ_SEC_ROT_CB: case GSZ_SEC_DC_CB: case GSZ_SEC_SH1_CB: case GSZ_SEC_SH2_CB: case GSZ_SEC_SH3_CB:
            if (w != 1 || elems > ((size_t)1 << 30)) goto bad;
            break;
        case GSZ_SEC_SCALE_IDX: case GSZ_SEC_ROT_IDX: case GSZ_SEC_DC_IDX:
            if (elems != n || (w != 1 && w != 2 && w != 4)) goto bad;
            break;
        case GSZ_SEC_LAT_RANGES:
            if (w != 4 || elems != GSZ_LATTICE_RANGES * ((n + GSZ_LATTICE_CHUNK - 1) / GSZ_LATTICE_CHUNK)) goto bad;
            break;
        case GSZ_SEC_LAT_POS: case GSZ_SEC_LAT_SCALE: case GSZ_SEC_LAT_COLOR: case GSZ_SEC_LAT_ROT: case GSZ_SEC_LAT_COLOR_DIFF:
            if (elems != n || w != 4) goto bad;
            break;
        case GSZ_SEC_SH1_IDX: case GSZ_SEC_SH2_IDX: case GSZ_SEC_SH3_IDX:
            if ((int)(sec->type - GSZ_SEC_SH1_IDX) + 1 > D) { err = gsz_fail(GSZ_ERROR_corrupt, "section %s above the file's SH degree", gsz_section_name(sec->type)); goto done; }
            if (elems > n || (w != 1 && w != 2 && w != 4)) goto bad;
            break;
        default: continue; /* optional sections of unknown type */
        }
        jobs[nj++] = (dec_job){sec, elems, w, NULL, NULL, GSZ_OK, {0}, NULL, 0, 0, NULL, 0};
        continue;
    bad:
        err = gsz_fail(GSZ_ERROR_corrupt, "section %s: %zu elements of %d bytes do not match %zu Gaussians", gsz_section_name(sec->type), elems, w, n);
        goto done;
    }
    /* the streams, then the scratch of those whose transform needs one, in one allocation: a few huge
     * pages instead of a fresh small mapping each (n <= 2^30 or the count, width <= 8: no overflow) */
    size_t nout = 0, nscratch = 0;
    for (size_t j = 0; j < nj; j++) {
        nout += job_bytes(&jobs[j]);
        if (!gsz_entropy_in_place(jobs[j].sec->transform, jobs[j].width)) nscratch += job_bytes(&jobs[j]);
    }
    /* into a kept scene, the pool's buffer, with room for the SH rows' table and the codebooks unpacked
     * in the jobs after the streams: no fresh pages to fault in, none to give back (4% of a decode here,
     * each; the codebooks' 2.5%) */
    kept = pool && so && reuse;
    size_t rows_at = (nout + nscratch + 63) & ~(size_t)63;
    size_t cb_at = (rows_at + (D > 0 ? n * sizeof *rows : 0) + 63) & ~(size_t)63, end = cb_at;
    for (size_t j = 0; kept && j < nj; j++) end += cb_room(&jobs[j]);
    streams = kept ? gsz_pool_scratch(pool, end + 1) : alloc(nout + nscratch + 1, 1);
    if (!streams) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    for (size_t j = 0, at = cb_at, r; kept && j < nj; j++)
        if ((r = cb_room(&jobs[j]))) {
            jobs[j].cbdst = (float *)(void *)(streams + at);
            jobs[j].cbcap = jobs[j].n;
            at += r;
        }
    for (size_t j = 0, o = 0, t = nout; j < nj; j++) {
        jobs[j].out = streams + o;
        o += job_bytes(&jobs[j]);
        if (gsz_entropy_in_place(jobs[j].sec->transform, jobs[j].width)) continue;
        jobs[j].scratch = streams + t;
        t += job_bytes(&jobs[j]);
    }
    qsort(jobs, nj, sizeof *jobs, cmp_job_size_desc); /* jobs are independent: their order only balances threads */
    dec_batch batch = {jobs, nj, 0, {0}, {0}, {0}};
    int fresh = 0; /* so allocated here, before its arrays are filled */
    /* the float scene's arrays (gsz_scene_alloc's), n <= 2^32 Gaussians: no overflow */
    size_t bytes[6] = {12 * n, 12 * n, 16 * n, 4 * n, 12 * n, 4 * (size_t)gsz_shRestCount(D) * 3 * n}, total = 0;
    for (int a = 0; a < 6; a++) total += bytes[a];
    if (so && !reuse && !lattice && (uint64_t)total <= (uint64_t)PREFAULT_RATIO * size && gsz_scene_alloc_pages(so, n, D) == GSZ_OK) { /* else allocated below */
        fresh = 1;
        const gsz_section *shi = D > 0 ? gsz_container_find(C, GSZ_SEC_SH1_IDX + (uint32_t)(D - 1)) : NULL;
        /* the SH rest, unless the codebook may become it in place (below: every Gaussian at degree D) */
        if (!(D > 0 && shi && (size_t)shi->elements < n)) bytes[5] = 0;
        char *arr[6] = {(char *)so->pos, (char *)so->scale, (char *)so->rot, (char *)so->opacity, (char *)so->sh_dc, (char *)so->sh_rest};
        for (int a = 0; a < 6; a++) {
            batch.arr[a] = arr[a];
            batch.bytes[a] = bytes[a];
            batch.first[a + 1] = batch.first[a] + ((bytes[a] + ((size_t)2 << 20) - 1) >> 21);
        }
    }
    gsz_parallel_for(nj + batch.first[6], 1, threads, decode_range, &batch);
    for (size_t j = 0; j < nj; j++)
        if (jobs[j].err) { err = gsz_fail(jobs[j].err, "%s", jobs[j].detail); goto done; }
    const uint64_t *codes = NULL;
    const uint8_t *opac = NULL, *degs = NULL;
    const uint32_t *lat[5] = {0};
    gsz_warp warp;
    int warped = 0;
    for (size_t j = 0; j < nj; j++) {
        uint32_t t = jobs[j].sec->type;
        if (t >= GSZ_SEC_LAT_RANGES && t <= GSZ_SEC_LAT_ROT) lat[t - GSZ_SEC_LAT_RANGES] = jobs[j].out;
        else if (t == GSZ_SEC_LAT_COLOR_DIFF) { /* G added back to R and B, in the decoded stream */
            gsz_lattice_color_diff(jobs[j].out, n, 1);
            lat[GSZ_SEC_LAT_COLOR - GSZ_SEC_LAT_RANGES] = jobs[j].out;
        }
        else if (t == GSZ_SEC_POSITION) codes = jobs[j].out;
        else if (t == GSZ_SEC_OPACITY) opac = jobs[j].out;
        else if (t == GSZ_SEC_POS_WARP) {
            memcpy(&warp, jobs[j].out, sizeof warp); /* c[3], r: f32 bit patterns, little-endian */
            if (!gsz_warp_valid(&warp)) {
                err = gsz_fail(GSZ_ERROR_corrupt, "position.warp: centre or radius not finite and positive");
                goto done;
            }
            warped = 1;
        }
        else if (t == GSZ_SEC_SH_DEGREE) degs = jobs[j].out;
        else if (gsz_index_slot(t) >= 0) {
            int slot = gsz_index_slot(t);
            idx[slot] = jobs[j].out;
            iw[slot] = jobs[j].width;
            idx_n[slot] = jobs[j].n;
        } else {
            int slot = gsz_codebook_slot(t);
            if (jobs[j].cb) { /* unpacked in its job */
                cbs[slot] = jobs[j].cb;
                cb_kept[slot] = jobs[j].cb == jobs[j].cbdst;
                cbk[slot] = jobs[j].cbk;
                cbb[slot] = jobs[j].cbb;
                jobs[j].cb = NULL;
                continue;
            }
            if (so && slot >= 3 && (cbk[slot] = (int)gsz_codebook_transform_entries(jobs[j].out, jobs[j].n))) {
                sh_tc[slot] = &jobs[j]; /* decoded below, into the scene's rows where it can be */
                continue;
            }
            if ((err = gsz_codebook_unpack(jobs[j].out, jobs[j].n, gsz_codebook_dim(slot), threads, &cbs[slot], &cbk[slot], &cbb[slot]))) {
                err = gsz_fail(err, "%s: %s", gsz_section_name(t), gsz_getErrorDetail());
                goto done;
            }
            if (xo && !cbb[slot]) cstep[slot] = gsz_codebook_shared_step(jobs[j].out, jobs[j].n); /* for fine-tuning (the indexed form) only */
        }
    }
    /* degrees: checked and counted per fill chunk, so each chunk knows where its SH indices start */
    size_t nchunks = (n + FILL_CHUNK - 1) / FILL_CHUNK;
    starts = gsz_calloc_array(nchunks * 4 + 4, sizeof(size_t));
    if (!starts) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
    if (degs) {
        count_d[0] = 0;
        for (size_t c = 0; c < nchunks; c++) {
            for (int d = 0; d < 4; d++) starts[4 * c + (size_t)d] = (size_t)count_d[d];
            size_t b = c * FILL_CHUNK, e = GSZ_MIN(n, (c + 1) * FILL_CHUNK), k[4] = {0};
            unsigned over = 0;
            for (size_t i = b; i < e; i++) { /* branch-free sums: the loop vectorises */
                unsigned g = degs[i];
                k[1] += g == 1;
                k[2] += g == 2;
                k[3] += g == 3;
                over |= g > (unsigned)D;
            }
            for (size_t i = b; over && i < e; i++)
                if (degs[i] > D) { err = gsz_fail(GSZ_ERROR_corrupt, "Gaussian %zu has SH degree %u above the file's %d", i, degs[i], D); goto done; }
            count_d[0] += e - b - k[1] - k[2] - k[3];
            for (int d = 1; d < 4; d++) count_d[d] += k[d];
        }
    }
    if (lattice) /* the words are all valid; the ranges must be finite */
        for (size_t k = 0, m = GSZ_LATTICE_RANGES * ((n + GSZ_LATTICE_CHUNK - 1) / GSZ_LATTICE_CHUNK); k < m; k++) {
            float r;
            memcpy(&r, lat[0] + k, 4);
            if (!isfinite(r)) { err = gsz_fail(GSZ_ERROR_corrupt, "lattice.ranges: value %zu not finite", k); goto done; }
        }
    for (int slot = lattice ? 3 : 0; slot < 6; slot++) {
        size_t expect = slot < 3 ? n : (size_t)count_d[slot - 2];
        if (slot >= 3 && !expect && !idx[slot]) continue;
        if (!idx[slot] || idx_n[slot] != expect || !(cbs[slot] || sh_tc[slot])) {
            err = gsz_fail(GSZ_ERROR_corrupt, "%s: %zu indices, expected %zu (or the stream or its codebook is missing)",
                           gsz_section_name((uint32_t)(slot < 3 ? GSZ_SEC_SCALE_IDX + 2 * slot : GSZ_SEC_SH1_IDX + slot - 3)), idx_n[slot], expect);
            goto done;
        }
    }

    /* the indexed scene (or the floats); SH indices are gathered per chunk from the chunk's first
     * position in each degree's stream */
    if (xo) {
        x.count = n;
        x.sh_degree = D;
        x.pos = alloc(n, 3 * sizeof(float));
        x.opacity = alloc(n, sizeof(float));
        x.degree = alloc(n, 1);
        for (int a = 0; a < 4; a++) x.index[a] = alloc(n, sizeof(uint32_t));
        for (int a = 0; lattice && a < 3; a++) { /* a lattice file's entries, one per Gaussian */
            cbk[a] = (int)n;
            cbb[a] = GSZ_CODEBOOK_EXACT;
            if (!(cbs[a] = alloc(n, (size_t)gsz_codebook_dim(a) * sizeof(float)))) break;
        }
        if (!x.pos || !x.opacity || !x.degree || !x.index[0] || !x.index[1] || !x.index[2] || !x.index[3] ||
            (lattice && (!cbs[0] || !cbs[1] || !cbs[2]))) {
            err = gsz_fail(GSZ_ERROR_memory, "out of memory");
            goto done;
        }
    } else if (!fresh && !(reuse && so->pos && so->count == n && so->sh_degree == D && (D == 0 || so->sh_rest))) {
        if (reuse) gsz_scene_free(so);
        if ((err = gsz_scene_alloc_pages(so, n, D))) goto done;
    }
    /* transform-coded SH with an entry of its own for each Gaussian of its degree, in order (high,
     * --sh-step): decoded straight into the scene's rows, not into a codebook that fill_range copies
     * (playbot-trained high: 18.7 MB less fresh memory); otherwise unpacked as any codebook */
    if (so) {
        rows_ctx rc = {degs, starts, {NULL, NULL, NULL, NULL}, n};
        size_t nrows = 0, nr3 = (size_t)gsz_shRestCount(D) * 3;
        for (int slot = 3; slot < 6; slot++) {
            if (!sh_tc[slot]) continue;
            int d = slot - 2, direct = (uint64_t)cbk[slot] == count_d[d];
            direct = direct && is_identity(idx[slot], iw[slot], idx_n[slot]);
            if (direct) {
                fc_direct[d] = 1;
                if (count_d[d] < n) nrows += (size_t)count_d[d];
            } else if ((err = gsz_codebook_unpack(sh_tc[slot]->out, sh_tc[slot]->n, gsz_codebook_dim(slot), threads, &cbs[slot], &cbk[slot], &cbb[slot]))) {
                err = gsz_fail(err, "%s: %s", gsz_section_name(sh_tc[slot]->sec->type), gsz_getErrorDetail());
                goto done;
            }
        }
        if (nrows) {
            rows = kept ? (uint32_t *)(void *)(streams + rows_at) : gsz_malloc_array(nrows, sizeof *rows); /* nrows <= n */
            if (!rows) { err = gsz_fail(GSZ_ERROR_memory, "out of memory"); goto done; }
            size_t at = 0;
            for (int d = 1; d < 4; d++)
                if (fc_direct[d] && count_d[d] < n) { rc.rows[d] = rows + at; at += (size_t)count_d[d]; }
            gsz_parallel_for(nchunks, 4, threads, rows_range, &rc);
        }
        for (int d = 1; d < 4; d++) {
            if (!fc_direct[d]) continue;
            const dec_job *jb = sh_tc[2 + d];
            if ((err = gsz_sh_rows_begin(jb->out, jb->n, gsz_codebook_dim(2 + d), threads, so->sh_rest, nr3, rc.rows[d], (uint32_t)count_d[d], &shr[d]))) {
                err = gsz_fail(err, "%s: %s", gsz_section_name(jb->sec->type), gsz_getErrorDetail());
                goto done;
            }
        }
    }
    /* every Gaussian at the file's degree with an SH entry of its own, in order (max, and the per-Gaussian
     * SH of --sh-step without band dropping): the codebook is the scene's SH rest, row for row, and is
     * handed over instead of copied (1M SH3: 180 MB less, and no copy) */
    int sh_in_place = 0;
    if (so && !reuse && D > 0 && count_d[D] == n && idx_n[2 + D] == n && (size_t)cbk[2 + D] == n && cbs[2 + D]) {
        sh_in_place = is_identity(idx[2 + D], iw[2 + D], n);
        if (sh_in_place) {
            free(so->sh_rest); /* never touched: no pages to give back */
            so->sh_rest = cbs[2 + D];
            cbs[2 + D] = NULL;
        }
    }
    fill_ctx fc = {&C->h, codes, opac, degs, xo ? &x : NULL, so, {0}, {0}, cbk, cbs, starts, SIZE_MAX, {0}, {0}, sh_in_place,
                   {0, fc_direct[1], fc_direct[2], fc_direct[3]}, warped ? &warp : NULL, {0}};
    size_t gm = (size_t)1 << C->h.pos_bits;
    /* a table where it has fewer points than the Gaussians (a plain axis's up to 2^16: 768 KB), else per coordinate */
    if (!lattice && gm < n && (warped || C->h.pos_bits <= 16) && (grid = gsz_malloc_array(3 * gm, sizeof(float)))) {
        grid_ctx gc = {&C->h, warped ? &warp : NULL, grid};
        gsz_parallel_for(3 * gm, 16384, threads, grid_range, &gc);
        for (int k = 0; k < 3; k++) fc.grid[k] = grid + (size_t)k * gm;
    }
    for (unsigned l = 0; l < 256; l++) { /* opacity levels: a table instead of a logarithm per Gaussian */
        if (lattice) { /* the lattice's levels are logits */
            float g = gsz_lattice_opacity(l);
            fc.opacity[l] = fc.x ? gsz_sigmoid(g) : g;
        } else {
            float o = gsz_opacity_level(l, C->h.opacity_bits);
            fc.opacity[l] = fc.x ? o : gsz_logit(o);
        }
    }
    memcpy(fc.idx, idx, sizeof idx);
    memcpy(fc.lat, lat, sizeof lat);
    memcpy(fc.iw, iw, sizeof iw);
    /* the SH rows' blocks (the larger tasks) first, then the fill's chunks, in one loop: they write
     * disjoint rows and arrays, and one loop balances both threads where two left each one's tail */
    scene_tasks st = {&fc, {0}, n, {NULL}};
    for (int d = 1; d < 4; d++) st.first[d + 1] = st.first[d] + (shr[d] ? gsz_sh_rows_blocks(shr[d]) : 0);
    memcpy(st.shr, shr, sizeof shr);
    gsz_parallel_for(st.first[4] + (n + FILL_CHUNK - 1) / FILL_CHUNK, 1, threads, scene_range, &st);
    if (fc.first_bad != SIZE_MAX) {
        size_t i = fc.first_bad;
        err = gsz_fail(GSZ_ERROR_corrupt, "Gaussian %zu: position outside the %u-bit grid, opacity outside %u bits, or an index outside the codebook",
                       i, C->h.pos_bits, C->h.opacity_bits);
        goto done;
    }
    if (xo) {
        for (int k = 0; k < 6; k++) { x.codebook[k] = cbs[k]; x.codebook_size[k] = cbk[k]; x.codebook_bits[k] = cbb[k]; x.codebook_step[k] = cstep[k]; cbs[k] = NULL; }
        *xo = x;
        memset(&x, 0, sizeof x);
    }
done:
    for (int d = 1; d < 4; d++) gsz_sh_rows_end(shr[d]);
    for (size_t j = 0; j < nj; j++)
        if (jobs[j].cb != jobs[j].cbdst) free(jobs[j].cb); /* those an error left unclaimed */
    if (!kept) {
        free(streams);
        free(rows);
    }
    free(grid);
    for (int k = 0; k < 6; k++)
        if (!cb_kept[k]) free(cbs[k]);
    free(starts);
    gsz_indexed_free(&x);
    if (err && so) gsz_scene_free(so);
    free(C);
    gsz_pool_end(pool, kept);
    return err;
}

gsz_error gsz_decode_indexed(const void *data, size_t size, int threads, gsz_indexed *out) {
    return decode(data, size, threads, out, NULL, 0, 1);
}

gsz_error gsz_decode_indexed_lean(const void *data, size_t size, int threads, gsz_indexed *out) {
    return decode(data, size, threads, out, NULL, 0, 0);
}

/* Straight to floats: the indexed form would be as many bytes again of fresh memory to fault in. */
gsz_error gsz_decompress(const void *data, size_t size, gsz_scene *out, int threads) {
    return decode(data, size, threads, NULL, out, 0, 1);
}

/* Fresh pages cost the kernel a clearing each, most of a cold decode: a scene that already holds
 * arrays of the right size is decoded into as it is. */
gsz_error gsz_decompress_into(const void *data, size_t size, gsz_scene *scene, int threads) {
    return decode(data, size, threads, NULL, scene, 1, 1);
}

gsz_error gsz_file_inspect(const void *data, size_t size, gsz_file_info *info) {
    memset(info, 0, sizeof *info);
    gsz_container *C = malloc(sizeof *C);
    if (!C) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    gsz_error err = gsz_container_read(data, size, C);
    if (!err) {
        info->version = GSZ_FORMAT_VERSION;
        info->count = C->h.count;
        info->sh_degree = C->h.sh_degree;
        info->pos_bits = C->h.pos_bits;
        info->opacity_bits = C->h.opacity_bits;
        memcpy(info->bounds_min, C->h.bmin, sizeof info->bounds_min);
        memcpy(info->bounds_max, C->h.bmax, sizeof info->bounds_max);
        info->section_count = C->n;
        for (size_t i = 0; i < C->n; i++) {
            gsz_section_info *si = &info->sections[i];
            si->type = C->s[i].type;
            si->flags = C->s[i].flags;
            si->raw_size = C->s[i].elements * C->s[i].width;
            si->stored_size = C->s[i].stored_size;
            snprintf(si->name, sizeof si->name, "%s", gsz_section_name(si->type));
            if (si->type >= GSZ_SEC_SH1_IDX && si->type <= GSZ_SEC_SH3_IDX) info->count_by_degree[si->type - GSZ_SEC_SH1_IDX + 1] = C->s[i].elements;
        }
        info->count_by_degree[0] = info->count - info->count_by_degree[1] - info->count_by_degree[2] - info->count_by_degree[3];
        const gsz_section *ws = gsz_container_find(C, GSZ_SEC_POS_WARP);
        gsz_warp w;
        if (ws && ws->elements == 4 && ws->width == 4 && !gsz_entropy_decode(ws->payload, (size_t)ws->stored_size, ws->transform, 4, 4, &w) &&
            gsz_warp_valid(&w)) { /* the bounds as positions, not as the warped grid's */
            memcpy(info->warp_center, w.c, sizeof w.c);
            info->warp_radius = w.r;
            for (int k = 0; k < 3; k++) {
                info->bounds_min[k] = gsz_warp_inverse(C->h.bmin[k], w.c[k], w.r);
                info->bounds_max[k] = gsz_warp_inverse(C->h.bmax[k], w.c[k], w.r);
            }
        }
    }
    free(C);
    return err;
}

static int file_starts_with(const char *path, const char *magic, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char head[8] = {0};
    size_t got = fread(head, 1, n, f);
    fclose(f);
    return got == n && !memcmp(head, magic, n);
}

int gsz_file_is_gsz(const char *path) { return file_starts_with(path, GSZ_MAGIC, 8); }

/* .splat has no magic: its name says it, unless the file is a PLY after all */
int gsz_file_is_splat(const char *path) { return gsz_path_is_splat(path) && !file_starts_with(path, "ply", 3); }
int gsz_file_is_spz(const char *path) { return (gsz_path_is_spz(path) && !file_starts_with(path, "ply", 3)) || file_starts_with(path, "NGSP", 4); }

gsz_format gsz_format_of(const void *data, size_t size, const char *name) {
    const unsigned char *b = data;
    if (size >= 8 && !memcmp(b, GSZ_MAGIC, 8)) return GSZ_FORMAT_GSZ;
    if (size >= 3 && !memcmp(b, "ply", 3)) return GSZ_FORMAT_PLY;
    if ((size >= 4 && !memcmp(b, "NGSP", 4)) || (size >= 2 && b[0] == 0x1f && b[1] == 0x8b)) return GSZ_FORMAT_SPZ;
    if (gsz_path_is_splat(name) || (size && size % 32 == 0)) return GSZ_FORMAT_SPLAT;
    return GSZ_FORMAT_UNKNOWN;
}

gsz_error gsz_scene_load_memory(const void *data, size_t size, const char *name, int threads, gsz_scene *out, gsz_ply_stats *stats) {
    gsz_error e;
    switch (gsz_format_of(data, size, name)) {
    case GSZ_FORMAT_GSZ:
        if (stats) memset(stats, 0, sizeof *stats);
        if ((e = gsz_decompress(data, size, out, threads))) return gsz_fail(e, "%s: %s", name, gsz_getErrorDetail());
        if (stats) stats->rows_in_file = out->count;
        return GSZ_OK;
    case GSZ_FORMAT_PLY: return gsz_ply_read_memory(data, size, name, out, stats);
    case GSZ_FORMAT_SPZ: return gsz_spz_read_memory(data, size, name, out, stats);
    case GSZ_FORMAT_SPLAT: return gsz_splat_read_memory(data, size, name, out, stats);
    default: memset(out, 0, sizeof *out); return gsz_fail(GSZ_ERROR_format, "%s: not a .gsz, PLY, .spz or .splat scene", name);
    }
}

gsz_error gsz_input_read(const char *path, void **data, size_t *size, gsz_format *format) {
    *data = NULL;
    *size = 0;
    struct stat st;
    if (strcmp(path, "-") && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return gsz_fail(GSZ_ERROR_io, "%s: is a directory", path);
    if (gsz_path_is_stream(path) || gsz_file_is_gsz(path)) {
        gsz_error e = gsz_read_file(path, data, size);
        if (!e) *format = gsz_format_of(*data, *size, path);
        return e;
    }
    *format = gsz_file_is_splat(path) ? GSZ_FORMAT_SPLAT : gsz_file_is_spz(path) ? GSZ_FORMAT_SPZ : GSZ_FORMAT_PLY;
    return GSZ_OK;
}

gsz_error gsz_scene_load(const char *path, gsz_scene *out, int threads, gsz_ply_stats *stats) {
    memset(out, 0, sizeof *out);
    if (stats) memset(stats, 0, sizeof *stats);
    void *data;
    size_t size;
    gsz_format f;
    gsz_error e = gsz_input_read(path, &data, &size, &f);
    if (e) return e;
    if (data) {
        e = gsz_scene_load_memory(data, size, gsz_input_name(path), threads, out, stats);
        free(data);
        if (!e && stats && gsz_path_is_stream(path)) stats->stream_bytes = size; /* not for a .gsz file */
        return e;
    }
    if (f == GSZ_FORMAT_SPLAT) return gsz_splat_read(path, out, stats);
    if (f == GSZ_FORMAT_SPZ) return gsz_spz_read(path, out, stats);
    return gsz_ply_read(path, out, stats);
}
