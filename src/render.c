/* CPU reference renderer: the forward pass of 3D Gaussian Splatting (Kerbl et al., SIGGRAPH 2023,
 * diff-gaussian-rasterization). EWA projection with the 1.3 frustum clamp and 0.3 px dilation,
 * 16x16 tiles with depth-ordered lists, alpha = min(0.99, o*exp(power)), skip alpha < 1/255,
 * stop at T < 1e-4. Tiles are independent, so the image does not depend on the thread count. */
#include "common.h"

#include <string.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#define TILE 16
/* Splats are visited in depth order, scattered through the splat array: fetching the one this many
 * ahead hides most of the cache misses (a fifth of the blend's time, half the binning's otherwise;
 * binning does little per splat, so it looks further ahead). */
#define PREFETCH 4
#define BIN_PREFETCH 16

/* The basis for x, y, z of type T: a float, or one direction per vector lane (preprocess_block), by the
 * same float operations. */
#define SH_BASIS(T, degree, x, y, z, b)                                                                  \
    do {                                                                                                 \
        (b)[0] = (T){0} + GSZ_SH_C0;                                                                     \
        if ((degree) < 1) break;                                                                         \
        (b)[1] = -0.4886025119029199f * (y);                                                             \
        (b)[2] = 0.4886025119029199f * (z);                                                              \
        (b)[3] = -0.4886025119029199f * (x);                                                             \
        if ((degree) < 2) break;                                                                         \
        T xx = (x) * (x), yy = (y) * (y), zz = (z) * (z), xy = (x) * (y), yz = (y) * (z), xz = (x) * (z); \
        (b)[4] = 1.0925484305920792f * xy;                                                               \
        (b)[5] = -1.0925484305920792f * yz;                                                              \
        (b)[6] = 0.31539156525252005f * (2.0f * zz - xx - yy);                                           \
        (b)[7] = -1.0925484305920792f * xz;                                                              \
        (b)[8] = 0.5462742152960396f * (xx - yy);                                                        \
        if ((degree) < 3) break;                                                                         \
        (b)[9] = -0.5900435899266435f * (y) * (3.0f * xx - yy);                                          \
        (b)[10] = 2.890611442640554f * xy * (z);                                                         \
        (b)[11] = -0.4570457994644658f * (y) * (4.0f * zz - xx - yy);                                    \
        (b)[12] = 0.3731763325901154f * (z) * (2.0f * zz - 3.0f * xx - 3.0f * yy);                       \
        (b)[13] = -0.4570457994644658f * (x) * (4.0f * zz - xx - yy);                                    \
        (b)[14] = 1.445305721320277f * (z) * (xx - yy);                                                  \
        (b)[15] = -0.5900435899266435f * (x) * (xx - 3.0f * yy);                                         \
    } while (0)

void gsz_sh_basis(int degree, const float d[3], float *b) { SH_BASIS(float, degree, d[0], d[1], d[2], b); }

void gsz_sh_color(int degree, const float *b, const float dc[3], const float *rest, float rgb[3]) {
    int n = (degree + 1) * (degree + 1) - 1;
    for (int c = 0; c < 3; c++) {
        float v = b[0] * dc[c];
        for (int k = 0; k < n; k++) v += b[k + 1] * rest[k * 3 + c];
        rgb[c] = v + 0.5f;
    }
}

typedef struct {
    float x, y;           /* pixel position (pixel centres at integers) */
    float cx, cy, cz;     /* conic */
    float opacity;
    float hx, hy;         /* half-widths of the box outside which alpha < 1/255 (see preprocess) */
    float pmin;           /* power below which alpha < 1/255 for sure: no exponential needed */
    float rgb[3];
    int16_t rect[4];      /* tile rect [x0,y0,x1,y1) */
} splat;

/* A blended (splat, pixel) as a first pass records it for a second (blend_tiles_grad, the removal pass). */
typedef struct {
    float alpha, G;
    uint8_t k;
} contrib;

/* a worker's records of a blend (contribs; per list entry their count), kept in a workspace */
typedef struct {
    void *rec, *per;
    size_t rcap, pcap;
} blend_scratch;

/* Room for per-entry counts of pn entries (contents not kept) and rn records (kept); 0 when out of
 * memory (then the scratch holds nothing). */
static int grow_scratch(blend_scratch *sc, size_t pn, size_t rn) {
    if (pn > sc->pcap) {
        free(sc->per);
        sc->pcap = pn * 2;
        if (!(sc->per = malloc(sc->pcap * sizeof(uint32_t)))) goto fail;
    }
    if (rn > sc->rcap) {
        size_t cap = GSZ_MAX(rn, 2 * sc->rcap);
        contrib *r = realloc(sc->rec, cap * sizeof *r);
        if (!r) goto fail;
        sc->rec = r;
        sc->rcap = cap;
    }
    return 1;
fail:
    free(sc->per);
    free(sc->rec);
    *sc = (blend_scratch){0};
    return 0;
}

/* the per-render buffers (see wbuf) */
enum { W_SP, W_VISIBLE, W_KEYS, W_IDS, W_TK, W_TV, W_OFFSETS, W_COUNTS, W_LISTS, W_G2D, W_TILE_LOSS, W_COUNT };

/* Per-render buffers: from the caller's workspace (grown as needed, kept between renders: a loop of
 * renders such as fine-tuning faults no fresh pages) or allocated for this render alone. */
struct gsz_render_workspace {
    void *p[W_COUNT];
    size_t cap[W_COUNT];
    blend_scratch scratch[GSZ_THREADS_MAX]; /* the blends' records (gradient, removal), per worker */
};

typedef struct {
    const gsz_scene *s;
    const gsz_camera *cam;
    int degree, grid_x, grid_y;
    splat *sp;
    uint8_t *visible;
    uint32_t *depth_key; /* per Gaussian: its depth's sort key (preprocess; valid where visible) */
    /* blending */
    const uint32_t *offsets, *lists;
    float *rgb;
    float *trans; /* gsz_render_options.transmittance */
    float bg[3];
    gsz_render_accum *acc;
    /* gradient mode (gsz_render_gradient) */
    const float *target;
    double *tile_loss;
    int failed; /* a worker ran out of memory */
    int64_t *g2d; /* g2d_n values per Gaussian, fixed point */
    int g2d_n;    /* G2D, or G2D_NOPOS without a position gradient */
    const gsz_render_grad *grad;
    const float *colors;
    int step; /* blend only pixels with x and y multiples of it (1: all) */
    gsz_render_workspace *ws; /* buffers kept between renders, or NULL */
    void *own[W_COUNT];       /* buffers of this render alone (no workspace) */
} rctx;

/* Per-Gaussian image-space gradient: conic x, y, z; opacity; rgb; mean x, y. The mean's come last and
 * only when a position gradient is asked for: fine-tuning fits no positions, and its sums are the
 * largest per-Gaussian buffer of an encode (72 B a Gaussian with them, 56 without). */
#define G2D 9
#define G2D_NOPOS 7
#define G2D_ONE 1048576.0

/* Camera-space position t of world point m: floats, or one point per vector lane (preprocess_block),
 * by the same float operations. */
#define TO_CAMERA(cam, m, t)                                                                                    \
    do {                                                                                                        \
        const float *R_ = (cam)->R;                                                                             \
        for (int r_ = 0; r_ < 3; r_++)                                                                          \
            (t)[r_] = R_[3 * r_] * (m)[0] + R_[3 * r_ + 1] * (m)[1] + R_[3 * r_ + 2] * (m)[2] + (cam)->t[r_];   \
    } while (0)

/* EWA: the rows T0, T1 of T = J W, with the Jacobian J at t clamped to 1.3x the frustum; T is float or a
 * vector of lanes, CLAMP its GSZ_CLAMP (the backward pass recomputes what the forward pass projected). */
#define EWA_ROWS(T, CLAMP, cam, t, T0, T1)                                                                      \
    do {                                                                                                        \
        const float *R_ = (cam)->R;                                                                             \
        float limx_ = 1.3f * ((float)(cam)->width / (2.0f * (cam)->fx));                                        \
        float limy_ = 1.3f * ((float)(cam)->height / (2.0f * (cam)->fy));                                       \
        T tz_ = (t)[2], cxv_ = CLAMP((t)[0] / tz_, -limx_, limx_) * tz_, cyv_ = CLAMP((t)[1] / tz_, -limy_, limy_) * tz_; \
        T j00_ = (cam)->fx / tz_, j02_ = -((cam)->fx * cxv_) / (tz_ * tz_);                                     \
        T j11_ = (cam)->fy / tz_, j12_ = -((cam)->fy * cyv_) / (tz_ * tz_);                                     \
        for (int k_ = 0; k_ < 3; k_++) {                                                                        \
            (T0)[k_] = j00_ * R_[k_] + j02_ * R_[6 + k_];                                                       \
            (T1)[k_] = j11_ * R_[3 + k_] + j12_ * R_[6 + k_];                                                   \
        }                                                                                                       \
    } while (0)
static inline float clamp1(float x, float lo, float hi) { return GSZ_CLAMP(x, lo, hi); }

/* preprocess works on GSZ_PB Gaussians at a time, one per vector lane: each lane runs the per-Gaussian
 * formulas' float operations in their order (TO_CAMERA, gsz_quat_to_mat, EWA_ROWS, gsz_sigmoid,
 * gsz_sh_color; no contraction: -ffp-contract=off) and selects where they branch, so the splats are bit
 * for bit those of a loop over single Gaussians; libm's exp and log and the roundings run lane by lane.
 * Divisions and square roots dominated that loop (a sixth of an encode's time). */
#define GSZ_PB 4
typedef float gsz_v4f __attribute__((vector_size(16)));
typedef int32_t gsz_v4i __attribute__((vector_size(16)));
static inline gsz_v4f v4(float x) { return (gsz_v4f){x, x, x, x}; }
static inline gsz_v4i v4i(int32_t x) { return (gsz_v4i){x, x, x, x}; }
static inline gsz_v4f sel4(gsz_v4i m, gsz_v4f a, gsz_v4f b) { return (gsz_v4f)((m & (gsz_v4i)a) | (~m & (gsz_v4i)b)); }
static inline gsz_v4i sel4i(gsz_v4i m, gsz_v4i a, gsz_v4i b) { return (m & a) | (~m & b); }
static inline gsz_v4f max4(gsz_v4f a, gsz_v4f b) { return sel4(a > b, a, b); }                          /* GSZ_MAX */
static inline gsz_v4f clamp4(gsz_v4f x, float lo, float hi) { return sel4(x < lo, v4(lo), sel4(x > hi, v4(hi), x)); } /* GSZ_CLAMP */
static inline gsz_v4i maxi4(gsz_v4i a, gsz_v4i b) { return sel4i(a > b, a, b); }
static inline gsz_v4i mini4(gsz_v4i a, gsz_v4i b) { return sel4i(a < b, a, b); }
static inline gsz_v4f sqrt4(gsz_v4f x) {
#ifdef __SSE__
    return (gsz_v4f)_mm_sqrt_ps((__m128)x); /* IEEE, as sqrtf */
#else
    for (int l = 0; l < GSZ_PB; l++) x[l] = sqrtf(x[l]);
    return x;
#endif
}
#define LANES4(x, f) do { for (int l_ = 0; l_ < GSZ_PB; l_++) (x)[l_] = f((x)[l_]); } while (0)

/* A tile coordinate as an int, saturated (a float out of int range, as from an infinite radius, has no
 * defined conversion); the same value for every coordinate a view can hold. */
static inline gsz_v4i tile_int(gsz_v4f v) {
    v = sel4(v != v, v4(0.0f), sel4(v <= -1e8f, v4(-1e8f), sel4(v >= 1e8f, v4(1e8f), v)));
    return __builtin_convertvector(v, gsz_v4i);
}

/* Gaussians i0 .. i0+nb-1 (nb <= GSZ_PB; the other lanes repeat the last and are dropped). */
static void preprocess_block(rctx *c, size_t i0, int nb) {
    const gsz_scene *s = c->s;
    const gsz_camera *cam = c->cam;
    /* the lanes' inputs, and libm's functions first: no vector is live across their calls */
    gsz_v4f m[3], q[4], e[3], opacity, lg;
    for (int l = 0; l < GSZ_PB; l++) {
        size_t i = i0 + (size_t)(l < nb ? l : nb - 1);
        for (int k = 0; k < 3; k++) { m[k][l] = s->pos[3 * i + k]; e[k][l] = expf(s->scale[3 * i + k]); }
        for (int k = 0; k < 4; k++) q[k][l] = s->rot[4 * i + k];
        opacity[l] = gsz_sigmoid(s->opacity[i]);
        lg[l] = logf(255.0f * opacity[l]);
    }
    memset(c->visible + i0, 0, (size_t)nb);
    /* camera space */
    gsz_v4f t[3];
    TO_CAMERA(cam, m, t);
    gsz_v4f tx = t[0], ty = t[1], tz = t[2];
    gsz_v4i live = tz > 0.2f; /* also not NaN (a camera or position out of float range) */
    if (!(live[0] | live[1] | live[2] | live[3])) return;
    /* 3D covariance: (Rq S)(Rq S)^T, Rq as gsz_quat_to_mat */
    gsz_v4f w = q[0], x = q[1], y = q[2], z = q[3];
    gsz_v4f n = sqrt4(w * w + x * x + y * y + z * z);
    gsz_v4i pos = n > 0.0f;
    w = sel4(pos, w / n, v4(1.0f)); x = sel4(pos, x / n, v4(0.0f)); y = sel4(pos, y / n, v4(0.0f)); z = sel4(pos, z / n, v4(0.0f));
    gsz_v4f Q[9];
    GSZ_QUAT_MAT(w, x, y, z, Q);
    gsz_v4f M[9];
    for (int r = 0; r < 3; r++) { M[r * 3] = Q[r * 3] * e[0]; M[r * 3 + 1] = Q[r * 3 + 1] * e[1]; M[r * 3 + 2] = Q[r * 3 + 2] * e[2]; }
    gsz_v4f S[6]; /* xx xy xz yy yz zz */
    S[0] = M[0] * M[0] + M[1] * M[1] + M[2] * M[2];
    S[1] = M[0] * M[3] + M[1] * M[4] + M[2] * M[5];
    S[2] = M[0] * M[6] + M[1] * M[7] + M[2] * M[8];
    S[3] = M[3] * M[3] + M[4] * M[4] + M[5] * M[5];
    S[4] = M[3] * M[6] + M[4] * M[7] + M[5] * M[8];
    S[5] = M[6] * M[6] + M[7] * M[7] + M[8] * M[8];
    gsz_v4f T0[3], T1[3];
    EWA_ROWS(gsz_v4f, clamp4, cam, t, T0, T1);
    gsz_v4f ST0[3] = {S[0] * T0[0] + S[1] * T0[1] + S[2] * T0[2], S[1] * T0[0] + S[3] * T0[1] + S[4] * T0[2],
                      S[2] * T0[0] + S[4] * T0[1] + S[5] * T0[2]};
    gsz_v4f ST1[3] = {S[0] * T1[0] + S[1] * T1[1] + S[2] * T1[2], S[1] * T1[0] + S[3] * T1[1] + S[4] * T1[2],
                      S[2] * T1[0] + S[4] * T1[1] + S[5] * T1[2]};
    gsz_v4f a = T0[0] * ST0[0] + T0[1] * ST0[1] + T0[2] * ST0[2] + 0.3f;
    gsz_v4f b = T0[0] * ST1[0] + T0[1] * ST1[1] + T0[2] * ST1[2];
    gsz_v4f cc = T1[0] * ST1[0] + T1[1] * ST1[1] + T1[2] * ST1[2] + 0.3f;
    gsz_v4f det = a * cc - b * b;
    live &= det != 0.0f;
    gsz_v4f inv = 1.0f / det;
    gsz_v4f mid = 0.5f * (a + cc);
    gsz_v4f disc = sqrt4(max4(v4(0.1f), mid * mid - det));
    gsz_v4f radius = 3.0f * sqrt4(max4(mid + disc, mid - disc));
    LANES4(radius, ceilf);
    gsz_v4f px = cam->fx * tx / tz + cam->cx - 0.5f, py = cam->fy * ty / tz + cam->cy - 0.5f;
    live &= (px == px) & (py == py) & (radius == radius) & (inv == inv); /* infinite covariances stay: they cover the view */
    gsz_v4i gx = v4i(c->grid_x), gy = v4i(c->grid_y), zero = v4i(0);
    const float tile = (float)TILE;
    gsz_v4i x0 = mini4(gx, maxi4(zero, tile_int((px - radius) / tile)));
    gsz_v4i y0 = mini4(gy, maxi4(zero, tile_int((py - radius) / tile)));
    gsz_v4i x1 = mini4(gx, maxi4(zero, tile_int((px + radius + tile - 1.0f) / tile)));
    gsz_v4i y1 = mini4(gy, maxi4(zero, tile_int((py + radius + tile - 1.0f) / tile)));
    /* Tighter, same image: alpha = o exp(-q/2) reaches 1/255 only where q <= 2 ln(255 o) (and the
     * blend skips q > 12), an ellipse whose box has half-widths sqrt(qmax cov), plus a pixel for
     * rounding; tiles outside it get nothing from this splat. */
    live &= opacity >= 1.0f / 255.0f; /* alpha <= opacity stays under 1/255 */
    gsz_v4f qmax = clamp4(2.0f * lg, 0.0f, 12.0f);
    gsz_v4f hx = sqrt4(qmax * a) + 1.0f, hy = sqrt4(qmax * cc) + 1.0f;
    gsz_v4f fx0 = (px - hx) / tile, fx1 = (px + hx) / tile, fy0 = (py - hy) / tile, fy1 = (py + hy) / tile;
    LANES4(fx0, floorf); LANES4(fx1, floorf); LANES4(fy0, floorf); LANES4(fy1, floorf);
    x0 = maxi4(x0, tile_int(fx0)); x1 = mini4(x1, tile_int(fx1) + 1);
    y0 = maxi4(y0, tile_int(fy0)); y1 = mini4(y1, tile_int(fy1) + 1);
    live &= (x1 > x0) & (y1 > y0);
    /* o exp(power) < 1/255 below -ln(255 o) = -qmax / 2; a margin far above the float error of the
     * logarithm, the exponential and the product, so that exactly the pixels the full test would
     * skip are skipped */
    gsz_v4f pmin = max4(v4(-6.0f), -0.5f * qmax - 1e-3f);
    gsz_v4f cx = cc * inv, cy = -b * inv, cz = a * inv;
    hx = sel4(det > 0.0f, hx, v4(INFINITY)); /* not positive definite: blend the whole tile, as before */
    hy = sel4(det > 0.0f, hy, v4(INFINITY));
    gsz_v4f rgb[3];
    if (!c->colors) { /* gsz_sh_color along the view direction, lane by lane in its order */
        gsz_v4f dir[3];
        for (int k = 0; k < 3; k++) dir[k] = m[k] - cam->center[k];
        gsz_v4f dl = sqrt4(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
        for (int k = 0; k < 3; k++) dir[k] = sel4(dl > 0.0f, dir[k] / dl, dir[k]);
        gsz_v4f basis[16];
        SH_BASIS(gsz_v4f, c->degree, dir[0], dir[1], dir[2], basis);
        /* rest coefficients of degree d are a prefix of the stored ones */
        int nrest = gsz_shRestCount(s->sh_degree), ncoef = (c->degree + 1) * (c->degree + 1) - 1; /* rest coefficients used */
        const float *dc[GSZ_PB], *rest[GSZ_PB];
        for (int l = 0; l < GSZ_PB; l++) {
            size_t i = i0 + (size_t)(l < nb ? l : nb - 1);
            dc[l] = s->sh_dc + 3 * i;
            rest[l] = s->sh_rest ? s->sh_rest + (size_t)nrest * 3 * i : NULL;
        }
        for (int ch = 0; ch < 3; ch++) {
            gsz_v4f v = basis[0] * (gsz_v4f){dc[0][ch], dc[1][ch], dc[2][ch], dc[3][ch]};
            for (int k = 0; k < ncoef; k++) v += basis[k + 1] * (gsz_v4f){rest[0][k * 3 + ch], rest[1][k * 3 + ch], rest[2][k * 3 + ch], rest[3][k * 3 + ch]};
            rgb[ch] = v + 0.5f;
        }
    }
    for (int l = 0; l < nb; l++) {
        if (!live[l]) continue;
        size_t i = i0 + (size_t)l;
        splat *o = &c->sp[i];
        o->x = px[l]; o->y = py[l];
        o->cx = cx[l]; o->cy = cy[l]; o->cz = cz[l];
        o->opacity = opacity[l];
        o->pmin = pmin[l];
        o->hx = hx[l]; o->hy = hy[l];
        c->depth_key[i] = gsz_float_sort_key(tz[l]);
        o->rect[0] = (int16_t)x0[l]; o->rect[1] = (int16_t)y0[l]; o->rect[2] = (int16_t)x1[l]; o->rect[3] = (int16_t)y1[l];
        for (int ch = 0; ch < 3; ch++) { /* clamped here, stored once (reading back a just-stored splat stalled) */
            float v = c->colors ? c->colors[3 * i + (size_t)ch] : rgb[ch][l];
            o->rgb[ch] = GSZ_MAX(v, 0.0f);
        }
        c->visible[i] = 1;
    }
}

static void preprocess(void *p, size_t begin, size_t end, int worker) {
    (void)worker;
    for (size_t i = begin; i < end; i += GSZ_PB) preprocess_block(p, i, (int)GSZ_MIN((size_t)GSZ_PB, end - i));
}

/* A tile-relative pixel coordinate clamped to -1..TILE in float before the conversion: a splat many
 * times the view's size (a huge scale) has coordinates out of int range, whose conversion is undefined
 * (x86 gave INT_MIN: such splats vanished from renders and broke the gradient pass's sizes). */
static inline int box_int(float v) { return v >= (float)TILE ? TILE : v > -1.0f ? (int)v : -1; }

/* The box of tile pixels [kx0..kx1] x [ky0..ky1] where a splat can reach alpha >= 1/255 (empty where
 * kx1 < kx0 or ky1 < ky0). */
static inline void splat_box(const splat *g, int tx0, int ty0, int box[4]) {
    if (!isfinite(g->hx) || !isfinite(g->hy)) { box[0] = box[1] = 0; box[2] = box[3] = TILE - 1; return; }
    box[0] = GSZ_MAX(0, box_int(floorf(g->x - g->hx) - (float)tx0)); box[2] = GSZ_MIN(TILE - 1, box_int(ceilf(g->x + g->hx) - (float)tx0));
    box[1] = GSZ_MAX(0, box_int(floorf(g->y - g->hy) - (float)ty0)); box[3] = GSZ_MIN(TILE - 1, box_int(ceilf(g->y + g->hy) - (float)ty0));
}

/* The pixels of row ky among bits box[0]..box[2] whose exponent passes the blend's power test, four at
 * a time: the 3DGS formula's float operations in its order per lane, so exactly the pixels a per-pixel
 * test would not reject (NaN included). Most pixels of a splat's box fail that test (72% of the live
 * ones on playbot); they then cost a vector lane instead of a visit. Each lane's exponent goes to pw[x],
 * which the blend takes instead of computing it again (forward renders 12-20% faster, same bits). */
static inline uint32_t row_candidates(const splat *g, int tx0, int ty0, int ky, const int box[4], float pw[TILE]) {
    const gsz_v4f lane = {0.0f, 1.0f, 2.0f, 3.0f};
    float dy = g->y - (float)(ty0 + ky), czdy = g->cz * dy * dy;
    uint32_t bits = 0;
    for (int x4 = box[0] & ~3; x4 <= box[2]; x4 += 4) {
        gsz_v4f dx = g->x - ((float)(tx0 + x4) + lane);
        gsz_v4f power = -0.5f * (g->cx * dx * dx + czdy) - g->cy * dx * dy;
        memcpy(pw + x4, &power, sizeof power);
        gsz_v4i skip = (power > 0.0f) | (power < g->pmin);
        bits |= (uint32_t)((~skip[0] & 1) | (~skip[1] & 2) | (~skip[2] & 4) | (~skip[3] & 8)) << x4;
    }
    return bits;
}

/* The pixels of row ky a splat's blend visits: live, in the box (span = box_bits), past the power test. */
static inline uint32_t row_pixels(const splat *g, const uint16_t *live_row, uint32_t span, int tx0, int ty0, int ky, const int box[4],
                                  float pw[TILE]) {
    uint32_t m = live_row[ky] & span;
    return m ? m & row_candidates(g, tx0, ty0, ky, box, pw) : 0;
}

/* Bits box[0]..box[2] of a tile row (none for an empty box). */
static inline uint32_t box_bits(const int box[4]) {
    return box[0] >= 0 && box[0] <= box[2] && box[2] < TILE ? (2u << box[2]) - (1u << box[0]) : 0;
}

/* A fresh tile: T = 1, no colour, pixels outside the image done. Returns the live pixels; bit x of
 * live_row[y] is pixel (x, y) of the tile, set while it is not done, so that a splat's rows visit only
 * live pixels (a third of the box's pixels were done ones on playbot). */
static int tile_start(int tx0, int ty0, int W, int H, int step, float *T, float (*C)[3], uint16_t *live_row) {
    int live = 0;
    for (int k = 0; k < TILE * TILE; k++) {
        int x = tx0 + k % TILE, y = ty0 + k / TILE;
        T[k] = 1.0f;
        C[k][0] = C[k][1] = C[k][2] = 0;
        int on = x < W && y < H && !(x % step) && !(y % step);
        if (k % TILE == 0) live_row[k / TILE] = 0;
        live_row[k / TILE] |= (uint16_t)(on << (k % TILE));
        live += on;
    }
    return live;
}

/* Blends splat g into tile pixel k, whose exponent (power) passed row_candidates' test (front to back):
 * returns 0 where the splat is skipped (alpha = min(0.99, o exp(power)) under 1/255) or the pixel is full
 * (T would fall under 1e-4: then it is done), else 1 with its alpha, G = exp(power) and weight w =
 * alpha T before the blend. */
static inline int blend_pixel(const splat *g, int k, float power, float *T, float (*C)[3], uint16_t *live_row, int *live,
                              float *alpha, float *G, float *w) {
    *G = expf(power);
    *alpha = GSZ_MIN(0.99f, g->opacity * *G);
    if (*alpha < 1.0f / 255.0f) return 0;
    float test_T = T[k] * (1.0f - *alpha);
    if (test_T < 0.0001f) { live_row[k / TILE] &= (uint16_t)~(1u << (k % TILE)); (*live)--; return 0; }
    *w = *alpha * T[k];
    for (int ch = 0; ch < 3; ch++) C[k][ch] += g->rgb[ch] * *w;
    T[k] = test_T;
    return 1;
}

/* A non-negative per-pixel term (alpha*T, a removal's change) as gsz_render_accum's fixed point, capped
 * so that sums stay in range for any input's colours; both blends sum through it, alike. */
static inline uint64_t accum_fixed(double v) { return (uint64_t)(fmin(v, 1e4) * (double)GSZ_ACCUM_ONE + 0.5); }

/* Both blends' set-up of a tile's records: with rs, per[] takes each list entry's record count (0 when
 * out of memory); without, *per is NULL. */
static inline int records_begin(blend_scratch *rs, uint32_t j0, uint32_t j1, uint32_t **per) {
    *per = NULL;
    if (!rs) return 1;
    if (!grow_scratch(rs, j1 - j0, 0)) return 0;
    *per = rs->per;
    return 1;
}

/* List entry j's splat, the one PREFETCH entries on fetched ahead. */
static inline const splat *list_splat(const rctx *c, uint32_t j, uint32_t j1) {
    if (j + PREFETCH < j1) __builtin_prefetch(&c->sp[c->lists[j + PREFETCH]]);
    return &c->sp[c->lists[j]];
}

/* Both blends' per-splat bookkeeping (blend_pass, blend_pass_simd). Room in rs for a record per pixel of
 * the splat's box (0 when out of memory). */
static inline int splat_records(blend_scratch *rs, size_t nrec, const int box[4], contrib **rec) {
    if (!rs) return 1;
    if (!grow_scratch(rs, 0, nrec + (size_t)GSZ_MAX(0, box[2] - box[0] + 1) * (size_t)GSZ_MAX(0, box[3] - box[1] + 1))) return 0;
    *rec = rs->rec;
    return 1;
}

/* The colour gradient's terms of a blended pixel (x, y) of weight w, in gsum. */
static inline void grad_terms(const gsz_render_accum *acc, int W, int x, int y, float w, int64_t gsum[3]) {
    const float *e = acc->error + ((size_t)y * (size_t)W + (size_t)x) * 3;
    for (int ch = 0; ch < 3; ch++) gsum[ch] += (int64_t)llround((double)w * (double)e[ch] * (double)GSZ_ACCUM_ONE);
}

/* A splat's sums over the tile, into the shared totals (one atomic add each). */
static inline void splat_sums(const gsz_render_accum *acc, uint32_t gi, uint64_t wsum, uint32_t psum, const int64_t gsum[3]) {
    if (!psum) return;
    if (acc->weight) __atomic_fetch_add(&acc->weight[gi], wsum, __ATOMIC_RELAXED);
    if (acc->pixels) __atomic_fetch_add(&acc->pixels[gi], psum, __ATOMIC_RELAXED);
    if (acc->grad)
        for (int ch = 0; ch < 3; ch++) __atomic_fetch_add(&acc->grad[3 * (size_t)gi + (size_t)ch], gsum[ch], __ATOMIC_RELAXED);
}

/* One front-to-back pass of a tile's splats: blends them into T and C (a fresh tile) and, with acc,
 * sums each splat's contributions. With rs it records the blend for a second pass (removal_replay,
 * blend_tiles_grad's), the list entries it reached: up to *jend; 0 when out of memory for that. */
static int blend_pass(rctx *c, int tx0, int ty0, size_t tile, float *T, float (*C)[3], const gsz_render_accum *acc, blend_scratch *rs,
                      uint32_t *jend) {
    int W = c->cam->width;
    uint16_t live_row[TILE];
    int live = tile_start(tx0, ty0, W, c->cam->height, c->step, T, C, live_row);
    uint32_t j0 = c->offsets[tile], j1 = c->offsets[tile + 1];
    contrib *rec = NULL;
    uint32_t *per; /* with rs a second pass follows: record the blend for it (contribs, their count per entry) */
    size_t nrec = 0;
    if (!records_begin(rs, j0, j1, &per)) return 0;
    *jend = j0;
    for (uint32_t j = j0; j < j1 && live > 0; j++) {
        uint32_t gi = c->lists[j];
        const splat *g = list_splat(c, j, j1);
        uint64_t wsum = 0;
        uint32_t psum = 0;
        int64_t gsum[3] = {0, 0, 0};
        /* only the pixels of the box around the ellipse where alpha >= 1/255 */
        int box[4];
        splat_box(g, tx0, ty0, box);
        uint32_t span = box_bits(box);
        float pw[TILE];
        size_t first = nrec;
        if (!splat_records(rs, nrec, box, &rec)) return 0;
        for (int ky = box[1]; ky <= box[3]; ky++)
        for (uint32_t m = row_pixels(g, live_row, span, tx0, ty0, ky, box, pw); m; m &= m - 1) {
            int k = ky * TILE + __builtin_ctz(m);
            float alpha, G, w;
            if (!blend_pixel(g, k, pw[k % TILE], T, C, live_row, &live, &alpha, &G, &w)) continue;
            if (rec) rec[nrec++] = (contrib){alpha, G, (uint8_t)k};
            if (acc) {
                wsum += accum_fixed(w);
                psum++;
                if (acc->grad) grad_terms(acc, W, tx0 + k % TILE, ty0 + k / TILE, w, gsum);
            }
        }
        splat_sums(acc, gi, wsum, psum, gsum);
        if (per) per[j - j0] = (uint32_t)(nrec - first);
        *jend = j + 1;
    }
    return 1;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* blend_pass with AVX-512: a tile row (16 pixels) is one vector, so a splat's row is tested and blended
 * in all its pixels at once instead of pixel by pixel, each pixel by the same float operations in the
 * same order as row_candidates and blend_pixel (libm's expf lane by lane: a vector exponential would
 * not give its bits), so the images, sums and records are the same. */
#define BLEND_SIMD 1
#include <immintrin.h>
#define AVX512_BLEND __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,popcnt")))

AVX512_BLEND static int blend_pass_simd(rctx *c, int tx0, int ty0, size_t tile, float *T, float (*C)[3], const gsz_render_accum *acc,
                                        blend_scratch *rs, uint32_t *jend) {
    int W = c->cam->width;
    uint16_t live_row[TILE];
    int live = tile_start(tx0, ty0, W, c->cam->height, c->step, T, C, live_row);
    _Alignas(64) float Cs[3][TILE * TILE];
    memset(Cs, 0, sizeof Cs);
    const __m512 lanes = _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 colx = _mm512_add_ps(_mm512_set1_ps((float)tx0), lanes); /* (float)(tx0 + x): exact */
    uint32_t j0 = c->offsets[tile], j1 = c->offsets[tile + 1];
    contrib *rec = NULL;
    uint32_t *per;
    size_t nrec = 0;
    if (!records_begin(rs, j0, j1, &per)) return 0;
    *jend = j0;
    for (uint32_t j = j0; j < j1 && live > 0; j++) {
        uint32_t gi = c->lists[j];
        const splat *g = list_splat(c, j, j1);
        uint64_t wsum = 0;
        uint32_t psum = 0;
        int64_t gsum[3] = {0, 0, 0};
        int box[4];
        splat_box(g, tx0, ty0, box);
        uint32_t span = box_bits(box);
        size_t first = nrec;
        if (!splat_records(rs, nrec, box, &rec)) return 0;
        __m512 dx = _mm512_sub_ps(_mm512_set1_ps(g->x), colx);
        __m512 cxdxdx = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(g->cx), dx), dx), cydx = _mm512_mul_ps(_mm512_set1_ps(g->cy), dx);
        for (int ky = box[1]; ky <= box[3]; ky++) {
            __mmask16 m = (__mmask16)(live_row[ky] & span);
            if (!m) continue;
            float dy = g->y - (float)(ty0 + ky), czdy = g->cz * dy * dy;
            /* row_candidates' power and test, 16 lanes */
            __m512 power = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_add_ps(cxdxdx, _mm512_set1_ps(czdy))),
                                         _mm512_mul_ps(cydx, _mm512_set1_ps(dy)));
            m &= (__mmask16)~(_mm512_cmp_ps_mask(power, _mm512_setzero_ps(), _CMP_GT_OQ) | _mm512_cmp_ps_mask(power, _mm512_set1_ps(g->pmin), _CMP_LT_OQ));
            if (!m) continue;
            /* blend_pixel */
            _Alignas(64) float pw[TILE], gv[TILE];
            _mm512_store_ps(pw, power);
            for (uint32_t b = m; b; b &= b - 1) gv[__builtin_ctz(b)] = expf(pw[__builtin_ctz(b)]);
            __m512 G = _mm512_maskz_load_ps(m, gv);
            __m512 alpha = _mm512_min_ps(_mm512_set1_ps(0.99f), _mm512_mul_ps(_mm512_set1_ps(g->opacity), G));
            m &= (__mmask16)~_mm512_cmp_ps_mask(alpha, _mm512_set1_ps(1.0f / 255.0f), _CMP_LT_OQ);
            if (!m) continue;
            float *Tr = T + ky * TILE;
            __m512 Tk = _mm512_loadu_ps(Tr), test = _mm512_mul_ps(Tk, _mm512_sub_ps(_mm512_set1_ps(1.0f), alpha));
            __mmask16 full = m & _mm512_cmp_ps_mask(test, _mm512_set1_ps(0.0001f), _CMP_LT_OQ);
            if (full) {
                live_row[ky] &= (uint16_t)~full;
                live -= __builtin_popcount(full);
                m &= (__mmask16)~full;
                if (!m) continue;
            }
            __m512 w = _mm512_mul_ps(alpha, Tk);
            for (int ch = 0; ch < 3; ch++) {
                float *Cr = Cs[ch] + ky * TILE;
                _mm512_store_ps(Cr, _mm512_mask_add_ps(_mm512_load_ps(Cr), m, _mm512_load_ps(Cr), _mm512_mul_ps(_mm512_set1_ps(g->rgb[ch]), w)));
            }
            _mm512_storeu_ps(Tr, _mm512_mask_mov_ps(Tk, m, test));
            if (rec || (acc && acc->grad)) {
                _Alignas(64) float al[TILE], Gs[TILE], ws[TILE];
                _mm512_store_ps(al, alpha);
                _mm512_store_ps(Gs, G);
                _mm512_store_ps(ws, w);
                for (uint32_t b = m; b; b &= b - 1) {
                    int x = __builtin_ctz(b), k = ky * TILE + x;
                    if (rec) rec[nrec++] = (contrib){al[x], Gs[x], (uint8_t)k};
                    if (acc && acc->grad) grad_terms(acc, W, tx0 + x, ty0 + ky, ws[x], gsum);
                }
            }
            if (acc) { /* accum_fixed of each lane's w, summed */
                for (int h = 0; h < 2; h++) {
                    __m512d v = _mm512_cvtps_pd(h ? _mm512_extractf32x8_ps(w, 1) : _mm512_castps512_ps256(w));
                    v = _mm512_add_pd(_mm512_mul_pd(_mm512_min_pd(v, _mm512_set1_pd(1e4)), _mm512_set1_pd((double)GSZ_ACCUM_ONE)), _mm512_set1_pd(0.5));
                    wsum += (uint64_t)_mm512_reduce_add_epi64(_mm512_maskz_cvttpd_epu64((__mmask8)(m >> (8 * h)), v));
                }
                psum += (uint32_t)__builtin_popcount(m);
            }
        }
        splat_sums(acc, gi, wsum, psum, gsum);
        if (per) per[j - j0] = (uint32_t)(nrec - first);
        *jend = j + 1;
    }
    for (int k = 0; k < TILE * TILE; k++)
        for (int ch = 0; ch < 3; ch++) C[k][ch] = Cs[ch][k];
    return 1;
}

static int simd_off; /* set by tests only: the plain blend, to compare with */
static int blend_simd(void) {
    return !simd_off && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}
void gsz_render_simd(int on) { simd_off = !on; }
#else
static int blend_simd(void) { return 0; }
void gsz_render_simd(int on) { (void)on; }
#endif

/* blend_pass, or the same blend with AVX-512 where the CPU has it */
static int blend_run(rctx *c, int tx0, int ty0, size_t tile, float *T, float (*C)[3], const gsz_render_accum *acc, blend_scratch *rs,
                     uint32_t *jend) {
#ifdef BLEND_SIMD
    if (blend_simd()) return blend_pass_simd(c, tx0, ty0, tile, T, C, acc, rs, jend);
#endif
    return blend_pass(c, tx0, ty0, tile, T, C, acc, rs, jend);
}

/* The removal pass: with F each pixel's final colour (background included), sums for every splat and
 * pixel the change the pixel would see without it: with w = alpha T and A the colour up to and
 * including it, what lies behind it is (F - A) / (T (1 - alpha)), so removing it changes the pixel by
 * w rgb - alpha / (1 - alpha) (F - A), exactly for one removal. It replays blend_pass's records (the
 * contributions blend_pixel took, in order) rather than testing the splats' boxes and taking their
 * exponentials again: the same T, C and sums. */
static void removal_replay(rctx *c, int tx0, int ty0, size_t tile, float *T, float (*C)[3], const float (*F)[3], const blend_scratch *rs,
                           uint32_t jend) {
    int W = c->cam->width;
    uint16_t live_row[TILE];
    tile_start(tx0, ty0, W, c->cam->height, c->step, T, C, live_row);
    uint32_t j0 = c->offsets[tile];
    const contrib *r = rs->rec;
    const uint32_t *per = rs->per;
    for (uint32_t j = j0; j < jend; j++) {
        uint32_t gi = c->lists[j], m = per[j - j0];
        if (!m) continue;
        const splat *g = &c->sp[gi];
        uint64_t rsum = 0;
        for (uint32_t q = 0; q < m; q++, r++) {
            int k = r->k;
            float alpha = r->alpha, w = alpha * T[k];
            for (int ch = 0; ch < 3; ch++) C[k][ch] += g->rgb[ch] * w;
            T[k] = T[k] * (1.0f - alpha);
            double rr = (double)alpha / (1.0 - (double)alpha), d = 0;
            for (int ch = 0; ch < 3; ch++) d += fabs((double)w * (double)g->rgb[ch] - rr * ((double)F[k][ch] - (double)C[k][ch]));
            rsum += accum_fixed(d);
        }
        if (rsum) __atomic_fetch_add(&c->acc->removal[gi], rsum, __ATOMIC_RELAXED);
    }
}

static void blend_tiles(void *p, size_t begin, size_t end, int worker) {
    rctx *c = p;
    int W = c->cam->width, H = c->cam->height;
    blend_scratch none = {0}, *sc = c->ws ? &c->ws->scratch[worker] : &none; /* the removal pass's records */
    for (size_t tile = begin; tile < end; tile++) {
        int tx0 = (int)(tile % (size_t)c->grid_x) * TILE, ty0 = (int)(tile / (size_t)c->grid_x) * TILE;
        float T[TILE * TILE], C[TILE * TILE][3];
        int removal = c->acc && c->acc->removal;
        uint32_t jend;
        if (!blend_run(c, tx0, ty0, tile, T, C, c->acc, removal ? sc : NULL, &jend)) { __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED); break; }
        if (removal) { /* the same blend again (the same T and C after it) */
            float F[TILE * TILE][3];
            for (int k = 0; k < TILE * TILE; k++)
                for (int ch = 0; ch < 3; ch++) F[k][ch] = C[k][ch] + T[k] * c->bg[ch];
            removal_replay(c, tx0, ty0, tile, T, C, (const float (*)[3])F, sc, jend);
        }
        int st = c->step, ws = (W + st - 1) / st; /* the output's width: sampled pixels only */
        for (int k = 0; k < TILE * TILE; k++) {
            int x = tx0 + k % TILE, y = ty0 + k / TILE;
            if (x >= W || y >= H || x % st || y % st) continue;
            size_t at = (size_t)(y / st) * (size_t)ws + (size_t)(x / st);
            float *o = c->rgb + at * 3;
            for (int ch = 0; ch < 3; ch++) o[ch] = GSZ_CLAMP(C[k][ch] + T[k] * c->bg[ch], 0.0f, 1.0f);
            if (c->trans) c->trans[at] = T[k];
        }
    }
    if (!c->ws) { free(none.rec); free(none.per); }
}

/* Backward pass of the blend for half the squared error against the target. Front to back, twice: the
 * first pass gives each pixel's final colour F (background included) and its error E; the second sums
 * E . dF, where, with A the colour accumulated up to and including splat i,
 * dF/dalpha_i = c_i T_i - (F - A) / (1 - alpha_i). Per splat and tile the sums are in double and reach
 * the shared fixed-point totals with one integer add each, so the result does not depend on the
 * thread count. */
static void blend_tiles_grad(void *p, size_t begin, size_t end, int worker) {
    rctx *c = p;
    int W = c->cam->width, H = c->cam->height;
    /* pass 0 (blend_pass, with c->acc's weight sums) records every blended (splat, pixel) in order,
     * so pass 1 replays them without the box scan, the exponential and the thresholds; in a
     * workspace, the worker's records stay between calls (a call is two tiles: freeing them each time
     * had glibc trim their pages and fault them in again, most of an encode's page faults) */
    blend_scratch none = {0}, *sc = c->ws ? &c->ws->scratch[worker] : &none;
    gsz_render_accum weight = {.weight = c->acc ? c->acc->weight : NULL};
    for (size_t tile = begin; tile < end; tile++) {
        int tx0 = (int)(tile % (size_t)c->grid_x) * TILE, ty0 = (int)(tile / (size_t)c->grid_x) * TILE;
        float T[TILE * TILE], A[TILE * TILE][3], F[TILE * TILE][3], E[TILE * TILE][3];
        uint32_t j0 = c->offsets[tile], jend;
        if (!blend_run(c, tx0, ty0, tile, T, A, weight.weight ? &weight : NULL, sc, &jend)) { __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED); break; }
        const uint32_t *per = sc->per; /* contributions of each list entry */
        /* the error of the rendered (clamped) image */
        double loss = 0;
        for (int k = 0; k < TILE * TILE; k++) {
            int x = tx0 + k % TILE, y = ty0 + k / TILE;
            if (x < W && y < H) {
                const float *t = c->target + ((size_t)y * (size_t)W + (size_t)x) * 3;
                for (int ch = 0; ch < 3; ch++) {
                    F[k][ch] = A[k][ch] + T[k] * c->bg[ch];
                    E[k][ch] = GSZ_CLAMP(F[k][ch], 0.0f, 1.0f) - t[ch];
                    loss += 0.5 * (double)E[k][ch] * (double)E[k][ch];
                }
            }
            T[k] = 1.0f;
            A[k][0] = A[k][1] = A[k][2] = 0;
        }
        c->tile_loss[tile] = loss;
        const contrib *r = sc->rec;
        for (uint32_t j = j0; j < jend; j++) {
            uint32_t gi = c->lists[j], m = per[j - j0];
            if (j + PREFETCH < jend) { /* the splat, and its sums' line for the atomic adds */
                uint32_t ahead = c->lists[j + PREFETCH];
                __builtin_prefetch(&c->sp[ahead]);
                __builtin_prefetch(&c->g2d[(size_t)ahead * (size_t)c->g2d_n], 1);
            }
            if (!m) continue;
            const splat *g = &c->sp[gi];
            double acc[G2D] = {0};
            uint64_t rsum = 0; /* c->acc's, as removal_replay sums them */
            for (uint32_t q = 0; q < m; q++, r++) {
                int k = r->k;
                float alpha = r->alpha, G = r->G;
                float dx = g->x - (float)(tx0 + k % TILE), dy = g->y - (float)(ty0 + k / TILE);
                float w = alpha * T[k];
                double dalpha = 0, dabs = 0;
                for (int ch = 0; ch < 3; ch++) {
                    A[k][ch] += g->rgb[ch] * w;
                    acc[4 + ch] += (double)E[k][ch] * w;
                    /* dF/dalpha: alpha times it is the change were the splat removed */
                    double d = (double)g->rgb[ch] * T[k] - ((double)F[k][ch] - A[k][ch]) / (1.0 - alpha);
                    dalpha += (double)E[k][ch] * d;
                    dabs += fabs(d);
                }
                if (c->acc) rsum += accum_fixed(alpha * dabs);
                if (g->opacity * G < 0.99f) { /* clamped alpha: no gradient to the splat's shape */
                    double dpow = dalpha * alpha;
                    acc[0] -= 0.5 * dpow * dx * dx;
                    acc[1] -= dpow * dx * dy;
                    acc[2] -= 0.5 * dpow * dy * dy;
                    acc[3] += dalpha * G;
                    acc[7] -= dpow * (g->cx * dx + g->cy * dy);
                    acc[8] -= dpow * (g->cz * dy + g->cy * dx);
                }
                T[k] = T[k] * (1.0f - alpha);
            }
            for (int v = 0; v < c->g2d_n; v++) {
                int64_t q = llround(acc[v] * G2D_ONE);
                if (q) __atomic_fetch_add(&c->g2d[(size_t)gi * (size_t)c->g2d_n + (size_t)v], q, __ATOMIC_RELAXED);
            }
            if (rsum && c->acc->removal) __atomic_fetch_add(&c->acc->removal[gi], rsum, __ATOMIC_RELAXED);
        }
    }
    if (!c->ws) { free(none.rec); free(none.per); }
}

/* Image-space gradients to the Gaussian's parameters (the chain rule through preprocess). */
static void backprop(void *p, size_t begin, size_t end, int worker) {
    (void)worker;
    rctx *c = p;
    const gsz_scene *s = c->s;
    const gsz_render_grad *gr = c->grad;
    const gsz_camera *cam = c->cam;
    const float *R = cam->R;
    for (size_t i = begin; i < end; i++) {
        /* read before the gradients are written: those may be the scene's own arrays (gsz.h) */
        const float ls[3] = {s->scale[3 * i], s->scale[3 * i + 1], s->scale[3 * i + 2]};
        const float qq[4] = {s->rot[4 * i], s->rot[4 * i + 1], s->rot[4 * i + 2], s->rot[4 * i + 3]};
        const float m[3] = {s->pos[3 * i], s->pos[3 * i + 1], s->pos[3 * i + 2]};
        float *gp = gr->pos ? gr->pos + 3 * i : NULL, *gsc = gr->scale ? gr->scale + 3 * i : NULL;
        float *gq = gr->rot ? gr->rot + 4 * i : NULL, *go = gr->opacity ? gr->opacity + i : NULL, *gc = gr->rgb ? gr->rgb + 3 * i : NULL;
        if (gp) memset(gp, 0, 3 * sizeof(float));
        if (gsc) memset(gsc, 0, 3 * sizeof(float));
        if (gq) memset(gq, 0, 4 * sizeof(float));
        if (go) *go = 0;
        if (gc) memset(gc, 0, 3 * sizeof(float));
        if (!c->visible[i]) continue;
        double g[G2D] = {0};
        int any = 0;
        for (int v = 0; v < c->g2d_n; v++) { g[v] = (double)c->g2d[i * (size_t)c->g2d_n + (size_t)v] / G2D_ONE; any |= g[v] != 0; }
        if (!any) continue;
        const splat *o = &c->sp[i];
        /* the colour, where it was not clamped at zero (splat rgb 0 then: clamped or exactly 0) */
        if (gc)
            for (int ch = 0; ch < 3; ch++) gc[ch] = o->rgb[ch] > 0 ? (float)g[4 + ch] : 0.0f;
        if (go) *go = (float)(g[3] * o->opacity * (1.0 - o->opacity));
        /* recompute the projection */
        float t[3], T0f[3], T1f[3];
        TO_CAMERA(cam, m, t);
        EWA_ROWS(float, clamp1, cam, t, T0f, T1f);
        float tx = t[0], ty = t[1], tz = t[2];
        float q[9], sc[3];
        gsz_quat_to_mat(qq, q);
        for (int k = 0; k < 3; k++) sc[k] = expf(ls[k]);
        double M[9];
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3; k++) M[r * 3 + k] = (double)q[r * 3 + k] * sc[k];
        double T0[3] = {T0f[0], T0f[1], T0f[2]}, T1[3] = {T1f[0], T1f[1], T1f[2]};
        /* conic (A, B, C) = (c, -b, a) / det of the 2D covariance [[a, b], [b, c]] */
        double S[9];
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3; k++) S[r * 3 + k] = M[r * 3] * M[k * 3] + M[r * 3 + 1] * M[k * 3 + 1] + M[r * 3 + 2] * M[k * 3 + 2];
        double a = 0.3, b = 0, cc = 0.3;
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3; k++) { a += T0[r] * S[r * 3 + k] * T0[k]; b += T0[r] * S[r * 3 + k] * T1[k]; cc += T1[r] * S[r * 3 + k] * T1[k]; }
        double det = a * cc - b * b;
        if (det > 0) {
            double i2 = 1.0 / (det * det), gA = g[0], gB = g[1], gC = g[2];
            double ga = (-cc * cc * gA + b * cc * gB - b * b * gC) * i2;
            double gb = (2 * b * cc * gA - (det + 2 * b * b) * gB + 2 * a * b * gC) * i2;
            double gc = (-b * b * gA + a * b * gB - a * a * gC) * i2;
            /* d/dS of a, b, c (S symmetric, taken as a full matrix), then S = M M^T: dM = (G + G^T) M */
            double Gs[9];
            for (int r = 0; r < 3; r++)
                for (int k = 0; k < 3; k++)
                    Gs[r * 3 + k] = 2 * ga * T0[r] * T0[k] + gb * (T0[r] * T1[k] + T1[r] * T0[k]) + 2 * gc * T1[r] * T1[k];
            double gM[9], gR[9];
            for (int r = 0; r < 3; r++)
                for (int k = 0; k < 3; k++) gM[r * 3 + k] = Gs[r * 3] * M[k] + Gs[r * 3 + 1] * M[3 + k] + Gs[r * 3 + 2] * M[6 + k];
            for (int k = 0; k < 3; k++) {
                double gs_k = gM[k] * q[k] + gM[3 + k] * q[3 + k] + gM[6 + k] * q[6 + k];
                if (gsc) gsc[k] = (float)(gs_k * sc[k]); /* log-scale */
                for (int r = 0; r < 3; r++) gR[r * 3 + k] = gM[r * 3 + k] * sc[k];
            }
            double qn = sqrt((double)qq[0] * qq[0] + (double)qq[1] * qq[1] + (double)qq[2] * qq[2] + (double)qq[3] * qq[3]);
            if (qn > 0 && gq) {
                double w = qq[0] / qn, x = qq[1] / qn, y = qq[2] / qn, z = qq[3] / qn, d[4];
                d[0] = 2 * (-z * gR[1] + y * gR[2] + z * gR[3] - x * gR[5] - y * gR[6] + x * gR[7]);
                d[1] = 2 * (y * gR[1] + z * gR[2] + y * gR[3] - 2 * x * gR[4] - w * gR[5] + z * gR[6] + w * gR[7] - 2 * x * gR[8]);
                d[2] = 2 * (-2 * y * gR[0] + x * gR[1] + w * gR[2] + x * gR[3] + z * gR[5] - w * gR[6] + z * gR[7] - 2 * y * gR[8]);
                d[3] = 2 * (-2 * z * gR[0] - w * gR[1] + x * gR[2] + w * gR[3] - 2 * z * gR[4] + y * gR[5] + x * gR[6] + y * gR[7]);
                double dot = w * d[0] + x * d[1] + y * d[2] + z * d[3], u[4] = {w, x, y, z}; /* through the normalisation */
                for (int k = 0; k < 4; k++) gq[k] = (float)((d[k] - u[k] * dot) / qn);
            }
        }
        /* mean: pixel position from the camera-space point (the Jacobian's and the view direction's
         * dependence on the mean are left out: second order for the small steps of fine-tuning) */
        double gt0 = g[7] * cam->fx / tz, gt1 = g[8] * cam->fy / tz;
        double gt2 = -(g[7] * cam->fx * tx + g[8] * cam->fy * ty) / ((double)tz * tz);
        if (gp)
            for (int k = 0; k < 3; k++) gp[k] = (float)(R[k] * gt0 + R[3 + k] * gt1 + R[6 + k] * gt2);
    }
}

gsz_render_workspace *gsz_render_workspace_create(void) { return calloc(1, sizeof(gsz_render_workspace)); }

static void scratch_free(gsz_render_workspace *ws) {
    for (int i = 0; ws && i < GSZ_THREADS_MAX; i++) {
        free(ws->scratch[i].rec);
        free(ws->scratch[i].per);
        ws->scratch[i] = (blend_scratch){0};
    }
}

void gsz_render_workspace_free(gsz_render_workspace *ws) {
    if (!ws) return;
    for (int i = 0; i < W_COUNT; i++) free(ws->p[i]);
    scratch_free(ws);
    free(ws);
}

/* n elements of size bytes in buffer slot, zeroed if asked; NULL when out of memory. */
static void *wbuf(rctx *c, int slot, size_t n, size_t size, int zero) {
    size_t bytes = (n ? n : 1) * size;
    if (size && bytes / size != (n ? n : 1)) return NULL;
    void *p;
    if (!c->ws) {
        p = c->own[slot] = zero ? calloc(1, bytes) : malloc(bytes);
        return p;
    }
    if (c->ws->cap[slot] < bytes) {
        free(c->ws->p[slot]);
        c->ws->cap[slot] = 0;
        if (!(c->ws->p[slot] = malloc(bytes))) return NULL;
        c->ws->cap[slot] = bytes;
    }
    p = c->ws->p[slot];
    if (zero) memset(p, 0, bytes);
    return p;
}

static void release(rctx *c) {
    for (int i = 0; i < W_COUNT; i++) free(c->own[i]);
}

/* Shared set-up of both passes: project every Gaussian, order by depth, bin into tiles. */
typedef struct {
    uint32_t *keys, *ids, *tk, *tv, *offsets, *lists;
} bins;

#define BIN_CHUNKS 16
typedef struct {
    rctx *c;
    const uint32_t *ids;
    size_t nv;
    uint32_t *counts; /* BIN_CHUNKS x tiles */
    uint32_t *lists;
} bin_ctx;

/* One slice of the depth-sorted splats: counts its entries per tile (lists NULL) or, once counts holds
 * the slice's first slot in every tile, writes them. */
static void bin_slices(void *p, size_t b, size_t e, int w) {
    (void)w;
    bin_ctx *bc = p;
    size_t ntiles = (size_t)bc->c->grid_x * (size_t)bc->c->grid_y;
    for (size_t k = b; k < e; k++) {
        uint32_t *slot = bc->counts + k * ntiles;
        for (size_t v = bc->nv * k / BIN_CHUNKS, v1 = bc->nv * (k + 1) / BIN_CHUNKS; v < v1; v++) {
            const splat *g = &bc->c->sp[bc->ids[v]];
            if (v + BIN_PREFETCH < v1) __builtin_prefetch(&bc->c->sp[bc->ids[v + BIN_PREFETCH]].rect);
            for (int y = g->rect[1]; y < g->rect[3]; y++)
                for (int x = g->rect[0]; x < g->rect[2]; x++) {
                    uint32_t *t = &slot[(size_t)y * (size_t)bc->c->grid_x + (size_t)x];
                    if (bc->lists) bc->lists[*t] = bc->ids[v];
                    (*t)++;
                }
        }
    }
}

static gsz_error setup(rctx *c, const gsz_scene *s, const gsz_camera *cam, const gsz_render_options *opt, bins *b) {
    memset(b, 0, sizeof *b);
    if (cam->width < 1 || cam->height < 1 || cam->width > 32768 || cam->height > 32768)
        return gsz_fail(GSZ_ERROR_argument, "bad image size %dx%d", cam->width, cam->height);
    c->s = s;
    c->cam = cam;
    c->degree = s->sh_degree;
    if (opt->max_sh_degree > 0) c->degree = GSZ_MIN(c->degree, opt->max_sh_degree - 1);
    c->grid_x = (cam->width + TILE - 1) / TILE;
    c->grid_y = (cam->height + TILE - 1) / TILE;
    memcpy(c->bg, opt->background, sizeof c->bg);
    size_t n = s->count, ntiles = (size_t)c->grid_x * (size_t)c->grid_y;
    int threads = gsz_thread_count(opt->threads);
    c->sp = wbuf(c, W_SP, n, sizeof(splat), 0);
    c->visible = wbuf(c, W_VISIBLE, n, 1, 0);
    b->keys = wbuf(c, W_KEYS, n, sizeof(uint32_t), 0);
    b->ids = wbuf(c, W_IDS, n, sizeof(uint32_t), 0);
    b->tk = wbuf(c, W_TK, n, sizeof(uint32_t), 0);
    b->tv = wbuf(c, W_TV, n, sizeof(uint32_t), 0);
    b->offsets = wbuf(c, W_OFFSETS, ntiles + 1, sizeof(uint32_t), 1);
    if (!c->sp || !c->visible || !b->keys || !b->ids || !b->tk || !b->tv || !b->offsets) return gsz_fail(GSZ_ERROR_memory, "renderer: out of memory");
    if (n > UINT32_MAX) return gsz_fail(GSZ_ERROR_argument, "renderer: too many Gaussians");
    c->depth_key = b->keys;
    gsz_parallel_for(n, 4096, threads, preprocess, c);
    /* Depth order once (stable, so ties keep index order), then bucket by tile: lists come out sorted. */
    size_t nv = 0;
    uint32_t *offsets = b->offsets, *ids = b->ids;
    for (size_t i = 0; i < n; i++)
        if (c->visible[i]) { b->keys[nv] = b->keys[i]; ids[nv] = (uint32_t)i; nv++; } /* nv <= i: in place */
    gsz_radix_sort32(b->keys, ids, nv, b->tk, b->tv);
    /* Tile lists in parallel: the depth-sorted splats in BIN_CHUNKS slices, each slice's entries of a
     * tile placed after the earlier slices' (the same lists for any thread count). */
    bin_ctx bc = {c, ids, nv, wbuf(c, W_COUNTS, (size_t)BIN_CHUNKS * ntiles, sizeof(uint32_t), 1), NULL};
    if (!bc.counts) return gsz_fail(GSZ_ERROR_memory, "renderer: out of memory");
    gsz_parallel_for(BIN_CHUNKS, 1, threads, bin_slices, &bc);
    uint64_t pairs = 0;
    for (size_t t = 0; t < ntiles; t++) {
        offsets[t] = (uint32_t)pairs;
        for (size_t k = 0; k < BIN_CHUNKS; k++) {
            uint32_t n_k = bc.counts[k * ntiles + t];
            bc.counts[k * ntiles + t] = (uint32_t)pairs; /* now this slice's first slot in the tile */
            pairs += n_k;
        }
        if (pairs > UINT32_MAX) return gsz_fail(GSZ_ERROR_memory, "renderer: too many tile pairs");
    }
    offsets[ntiles] = (uint32_t)pairs;
    b->lists = bc.lists = wbuf(c, W_LISTS, (size_t)pairs, sizeof(uint32_t), 0);
    if (!b->lists) { return gsz_fail(GSZ_ERROR_memory, "renderer: out of memory for %llu tile pairs", (unsigned long long)pairs); }
    gsz_parallel_for(BIN_CHUNKS, 1, threads, bin_slices, &bc);
    c->offsets = offsets;
    c->lists = b->lists;
    return GSZ_OK;
}

gsz_error gsz_render(const gsz_scene *s, const gsz_camera *cam, const gsz_render_options *opt, float *rgb) {
    gsz_render_options def = {0};
    if (!opt) opt = &def;
    rctx c = {0};
    bins b;
    c.rgb = rgb;
    c.trans = opt->transmittance;
    c.acc = opt->accum;
    c.colors = opt->colors;
    c.step = opt->pixel_step > 1 ? opt->pixel_step : 1;
    c.ws = opt->workspace;
    if (c.acc && c.acc->grad && !c.acc->error) return gsz_fail(GSZ_ERROR_argument, "renderer: a gradient needs an error image");
    scratch_free(c.ws); /* the gradient's records go before another scene's splats come (no higher peak) */
    gsz_error err = setup(&c, s, cam, opt, &b);
    if (!err) gsz_parallel_for((size_t)c.grid_x * (size_t)c.grid_y, 2, gsz_thread_count(opt->threads), blend_tiles, &c);
    if (!err && c.failed) err = gsz_fail(GSZ_ERROR_memory, "renderer: out of memory");
    release(&c);
    return err;
}

gsz_error gsz_render_gradient(const gsz_scene *s, const gsz_camera *cam, const gsz_render_options *opt, const float *target,
                              const gsz_render_grad *grad, double *loss) {
    gsz_render_options def = {0};
    if (!opt) opt = &def;
    rctx c = {0};
    bins b;
    c.target = target;
    c.grad = grad;
    c.acc = opt->accum; /* its weight and removal sums */
    c.colors = opt->colors;
    c.step = 1;
    c.ws = opt->workspace;
    gsz_error err = setup(&c, s, cam, opt, &b);
    int threads = gsz_thread_count(opt->threads);
    size_t ntiles = (size_t)c.grid_x * (size_t)c.grid_y;
    c.g2d_n = grad && grad->pos ? G2D : G2D_NOPOS;
    if (!err && (!(c.g2d = wbuf(&c, W_G2D, s->count, (size_t)c.g2d_n * sizeof(int64_t), 1)) || !(c.tile_loss = wbuf(&c, W_TILE_LOSS, ntiles, sizeof(double), 0))))
        err = gsz_fail(GSZ_ERROR_memory, "renderer: out of memory");
    if (!err) {
        gsz_parallel_for(ntiles, 2, threads, blend_tiles_grad, &c);
        if (c.failed) err = gsz_fail(GSZ_ERROR_memory, "renderer: out of memory");
    }
    if (!err) {
        gsz_parallel_for(s->count, 4096, threads, backprop, &c);
        double l = 0;
        for (size_t t = 0; t < ntiles; t++) l += c.tile_loss[t];
        if (loss) *loss = l;
    }
    release(&c);
    return err;
}
