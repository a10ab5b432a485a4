/* Internal interfaces between the codec stages. Each stage lives in its own file:
 *   significance.c  LightGaussian global significance and pruning
 *   sh_reduce.c     per-Gaussian SH degree reduction
 *   kmeans.c        importance-weighted k-means (vector quantisation codebooks)
 *   quantize.c      Morton order, fixed-point positions, codebook quantisation
 *   entropy.c       stream transforms + zstd
 *   container.c     the .gsz section container
 *   refine.c        codebooks and opacities fine-tuned to renders of the original
 *   compress.c / decompress.c   the pipelines */
#ifndef GSZ_CODEC_H
#define GSZ_CODEC_H

#include "../src/common.h"

/* ---- refine.c: fine-tuning's targets, renders of the input kept as compressed frames */
typedef struct {
    void **frame;    /* per view: its zstd frame, or NULL */
    size_t *size;    /* per view: the frame's bytes */
    size_t views;    /* views (frame and size entries) */
    size_t bytes, max; /* bytes in frames, and the cap on them */
    int shared;        /* frames stay after use: several fits read them (--max-bytes' encodes) */
} gsz_target_cache;
/* A cache for the fit's targets of `views` views of `original`, capped at max_bytes (0: the default,
 * see refine.c). */
gsz_error gsz_target_cache_init(gsz_target_cache *c, const gsz_scene *original, size_t views, size_t max_bytes);
/* View v's render (w x h pixels of 3 floats in [0, 1]) into the cache where it fits under the cap; img
 * is scratch afterwards (its floats are left at the target's 12-bit levels). 1: cached, 0: not. */
int gsz_target_cache_put(gsz_target_cache *c, size_t v, size_t w, size_t h, float *img);
void gsz_target_cache_free(gsz_target_cache *c);

/* ---- significance.c */
/* A scene "covers" a pixel it renders at transmittance under 1/2; under this share of its views'
 * pixels it is a small object in them (target pruning's PSNR, the fit's views: refine.c, compress.c). */
#define GSZ_COVER_MIN (1.0 / 6.0)
/* score[i] = sum over pixels of alpha*T (LightGaussian), times (V_i/V90)^0.1; prune_score[i] (may be
 * NULL) = sum over pixels of |the change were Gaussian i removed| + 0.1 alpha*T, the same weight: the
 * pruning order (a Gaussian no view shows scores 0 in both). With targets (may be
 * NULL) each view is rendered with all of its SH bands and put into that cache: fine-tuning's targets
 * are renders of the input from the same views, so the significance renders serve as them. With
 * coverage (may be NULL), the mean over the views of the share of pixels the scene covers. */
gsz_error gsz_significance(const gsz_scene *s, const gsz_camera *cams, size_t ncams, int threads,
                           gsz_progress_fn progress, void *user, double *score, double *prune_score,
                           gsz_target_cache *targets, double *coverage);
/* keep[i] = 1 for all but the `fraction` least significant (ties broken by index) and those under
 * `threshold` times the mean score. Returns the number kept. */
size_t gsz_prune_mask(const double *score, size_t n, double fraction, double threshold, uint8_t *keep);
/* The scores from the renders' sums (gsz_render_accum's weight and removal; either output may be NULL):
 * the volume weight of each Gaussian's log-scales applied. */
gsz_error gsz_significance_scores(const float *scale, size_t n, const uint64_t *acc, const uint64_t *rem,
                                  double *score, double *prune_score);
/* order[0..n) = the Gaussians from the least significant up, ties by index: the pruning order. */
gsz_error gsz_significance_order(const double *score, size_t n, uint32_t *order);

/* ---- sh_reduce.c */
/* Picks per Gaussian the lowest SH degree (<= cap) whose colour stays within the threshold (mean absolute
 * RGB difference over the views) of the full colour and folds the mean of the dropped bands into DC.
 * Gaussian i's SH rest coefficients are row rows[i] of rest (rows may be NULL: row i; the encoder's
 * pruned copy of a scene reads the input's instead of copying its largest array), s->sh_rest is not
 * used. With significance (may be NULL), Gaussian i's threshold is scaled by sqrt(mean /
 * significance[i]) within [1/4, 4]: what covers few pixels may change more. degree_out[i] receives
 * the kept degree. */
gsz_error gsz_sh_reduce(gsz_scene *s, const float *rest, const uint32_t *rows, const gsz_camera *cams, size_t ncams, int cap,
                        float threshold, const double *significance, int threads, uint8_t *degree_out);

/* ---- kmeans.c */
typedef struct {
    int k;
    int iterations;   /* Lloyd iterations on the training sample; 0 = 10 */
    size_t sample;    /* training sample size; 0 = max(32768, 16*k) */
    int threads;
    float rate;       /* > 0: entropy-constrained assignment, index bits traded against error at this
                         multiple of the quantiser's own slope (fewer, more popular entries); 0 = off */
    int rate_passes;  /* its assignment/update passes on all points; 0 = 4 */
} gsz_kmeans_options;

/* Weighted k-means over n points of dim floats (weights may be NULL). Writes k*dim centroids and,
 * if assign is non-NULL, the nearest centroid of every point. Deterministic for any thread count. */
gsz_error gsz_kmeans(const float *data, const float *weights, size_t n, int dim, const gsz_kmeans_options *opt,
                     float *centroids, uint32_t *assign);
/* The same, with data as scratch: the points are turned into their principal coordinates in place
 * instead of in a copy (playbot-trained's SH3 codebook: 15 MB less at the encoder's peak); its
 * contents are undefined afterwards. */
gsz_error gsz_kmeans_scratch(float *data, const float *weights, size_t n, int dim, const gsz_kmeans_options *opt,
                             float *centroids, uint32_t *assign);

/* Points first .. first + count - 1 of a set, dim floats each, into out (see gsz_kmeans_reassign). */
typedef void (*gsz_points_fn)(void *user, size_t first, size_t count, float *out);

/* Each of n points (from get, in chunks: the caller need not hold them all) moved to the entry of a
 * fixed codebook (k entries) that minimises its weighted squared error plus lambda times the entry's
 * code length under the use counts in assign, which holds each point's entry (below k) and gets the
 * new one; lambda is `rate` times the quantiser's slope at the current distortion, as in gsz_kmeans's
 * entropy-constrained passes (0: the nearest entry). Deterministic for any thread count. */
gsz_error gsz_kmeans_reassign(gsz_points_fn get, void *user, const float *weights, size_t n, int dim, const float *centroids,
                              int k, float rate, int threads, uint32_t *assign);

/* The m indices of the largest err values, largest first, ties by index. */
gsz_error gsz_worst_points(const float *err, size_t n, size_t m, uint32_t *out);

/* ---- quantize.c */
#define GSZ_CODEBOOK_MAX (1 << 24) /* entries a codebook may have (docs/FORMAT.md) */
uint64_t gsz_morton3(uint32_t x, uint32_t y, uint32_t z); /* 21 bits each */
/* Inline: the decoder runs it once per Gaussian. */
static inline uint32_t gsz_compact3(uint64_t x) {
    x &= 0x1249249249249249ull;
    x = (x ^ (x >> 2)) & 0x10C30C30C30C30C3ull;
    x = (x ^ (x >> 4)) & 0x100F00F00F00F00Full;
    x = (x ^ (x >> 8)) & 0x1F0000FF0000FFull;
    x = (x ^ (x >> 16)) & 0x1F00000000FFFFull;
    x = (x ^ (x >> 32)) & 0x1FFFFFull;
    return (uint32_t)x;
}
/* Tests only: the decoder's Morton split by pext (on, where the CPU has it fast) or by compaction. */
void gsz_morton_pext(int on);
static inline void gsz_morton3_decode(uint64_t m, uint32_t *x, uint32_t *y, uint32_t *z) {
    *x = gsz_compact3(m);
    *y = gsz_compact3(m >> 1);
    *z = gsz_compact3(m >> 2);
}
/* Codebook stored with per-dimension ranges and `bits` (8 or 16) per value; quantises cb in place to
 * what the decoder will see and serialises it to a malloc'd buffer. At 8 bits with a dimension of
 * triplets (colour, SH; scale), each triplet's R and B planes less its G (encodings 5 and 6) where that
 * pays (gsz_diff_pays): a colour's channels move together (playbot-trained max's SH3 codebook 10%
 * smaller, playbot-small max's colour 18%). */
gsz_error gsz_codebook_pack(float *cb, int k, int dim, int bits, uint8_t **out, size_t *out_size);
/* Decodes any encoding; *bits gets the stored bits per value, 0 for a transform-coded codebook and
 * GSZ_CODEBOOK_EXACT for an exact value table (not re-fitted by fine-tuning; a transform-coded one is
 * only where it is shared, see gsz_codebook_shared_step). */
#define GSZ_TABLE_MAX 256
#define GSZ_CODEBOOK_EXACT (-1)
gsz_error gsz_codebook_unpack(const uint8_t *in, size_t size, int expect_dim, int threads, float **cb, int *k, int *bits);
/* The same into dst where its entries fit in cap floats (a codebook not transform-coded: at most a float a
 * byte of the section), else into a malloc'd array; *cb is dst or that array. */
gsz_error gsz_codebook_unpack_into(const uint8_t *in, size_t size, int expect_dim, int threads, float *dst, size_t cap, float **cb,
                                   int *k, int *bits);
/* The entries of a transform-coded SH codebook (encodings 1 and 3: one entry per Gaussian where the
 * high preset and --sh-step code each Gaussian's SH on its own), 0 for any other codebook. */
uint32_t gsz_codebook_transform_entries(const uint8_t *in, size_t size);
/* Such a codebook of k entries decoded straight into rows of a float array: entry j to
 * dst + row[j] * stride (row NULL: j * stride), the values past its dimension zeroed. Decoding into a
 * scene's SH rest instead of a codebook saves a copy and the codebook's fresh pages. */
gsz_error gsz_codebook_unpack_sh_rows(const uint8_t *in, size_t size, int expect_dim, int threads, float *dst, size_t stride,
                                      const uint32_t *row, uint32_t k);
/* The same in steps, so that a caller can run the blocks among other work: begin checks the codebook
 * (threads: for its counts), then each of the blocks decodes in any order on any thread, then end. */
typedef struct gsz_sh_rows gsz_sh_rows;
gsz_error gsz_sh_rows_begin(const uint8_t *in, size_t size, int expect_dim, int threads, float *dst, size_t stride,
                            const uint32_t *row, uint32_t k, gsz_sh_rows **out);
size_t gsz_sh_rows_blocks(const gsz_sh_rows *u);
void gsz_sh_rows_block(const gsz_sh_rows *u, size_t j);
void gsz_sh_rows_end(gsz_sh_rows *u);
/* SH codebook transform-coded at `step * 2^cls[j]` (cls may be NULL: 0): one entry per Gaussian, or a
 * k-means codebook; cb is replaced by the decoded values. */
gsz_error gsz_codebook_pack_sh(float *cb, int k, int dim, float step, const uint8_t *cls, uint8_t **out, size_t *out_size);
/* Encoding 3 of an encoding-1 codebook p (as gsz_codebook_pack_sh writes it): the same integers with
 * the zeros split off, a flag per value (byte planes of 8 flags) and then each plane's nonzero values
 * less one; malloc'd, NULL when out of memory. Most values of a fine transform-coded codebook are zero
 * (83% in playbot-trained's high), and a byte plane of mostly zeros costs zstd's Huffman coding at
 * least a bit a value; the entropy stage keeps whichever of the two codes smaller. */
uint8_t *gsz_codebook_sh_split(const uint8_t *p, size_t *out_size);
/* Transform-coded SH decodes with AVX-512 where the CPU has it (the default, on) or in plain C (off):
 * the same floats either way; for the tests, which compare the two. Not thread-safe. */
void gsz_codebook_simd(int on);
/* Order-0 entropy of a byte histogram, in bits for all its bytes. */
double gsz_hist_bits(const uint32_t h[256]);
/* Whether colour bytes stored less G (codebook encodings 5 and 6, lattice.color.diff) pay: their
 * order-0 entropy (bits) at least 2% under that of the bytes as they are. */
int gsz_diff_pays(double plain_bits, double diff_bits);
/* Offsets in a packed codebook (any encoding) where its byte planes start (at most max): the entropy
 * coder starts a zstd block at each, so that each plane gets a Huffman table of its own. */
#define GSZ_CODEBOOK_CUTS 128 /* more than any codebook has: 1 + 6 flag planes + 45 planes of 2 bytes */
size_t gsz_codebook_cuts(const uint8_t *cb, size_t size, size_t *cut, size_t max);
/* Keeps the entries j with keep[j] set of a codebook as the packers write it (encodings 0-2 and 4-6),
 * in their order, in place, *size updated: the kept entries decode as before (encoding 0 keeps its
 * ranges). For entries pruning left unused. */
gsz_error gsz_codebook_keep(uint8_t *p, size_t *size, const uint8_t *keep);
/* A transform-coded codebook's step where every entry has class 0 (a k-means codebook coded as a
 * whole, which fine-tuning fits and stores again at this step); 0 for any other codebook. For a
 * codebook that gsz_codebook_unpack accepted. */
float gsz_codebook_shared_step(const uint8_t *in, size_t size);
/* Position warp of unbounded scenes (captures with distant background, as Mip-NeRF 360's): per axis,
 * u = c + sign(d) r log(1 + |d| / r) with d = x - c, so the grid step grows with the distance from the
 * dense region (centre c, radius r: gsz_scene_core, where it finds the scene unbounded) as the
 * Gaussians' sizes do there; near c it is x itself. */
typedef struct { float c[3], r; } gsz_warp;
/* A warp as a file may hold it: finite centre, finite positive radius. */
static inline int gsz_warp_valid(const gsz_warp *w) {
    return isfinite(w->c[0]) && isfinite(w->c[1]) && isfinite(w->c[2]) && w->r > 0 && isfinite(w->r);
}
static inline float gsz_warp_forward(float x, float c, float r) {
    double d = (double)x - (double)c;
    return (float)((double)c + copysign((double)r * log1p(fabs(d) / (double)r), d));
}
/* The decoder's inverse (docs/FORMAT.md): in double, rounded to f32 once. */
static inline float gsz_warp_inverse(float u, float c, float r) {
    double v = (double)u - (double)c;
    return (float)((double)c + copysign((double)r * (exp(fabs(v) / (double)r) - 1.0), v));
}
void gsz_quat_canonical(const float in[4], float out[4]); /* normalised, w >= 0 */
/* Same ellipsoid, canonical form: scales descending, axis signs fixed, quaternion w >= 0. */
void gsz_geometry_canonical(float scale[3], float q[4]);
/* What the geometry codebooks quantise of a Gaussian, in place: its log-scales clamped at floor_log
 * (axes that thin are invisible, and would stretch the codebook's range), the canonical ellipsoid, the
 * quaternion normalised once more (compress.c, and refine.c's reassignment alike). */
void gsz_geometry_vq(float scale[3], float q[4], float floor_log);

/* ---- lattice.c: compressed.ply's chunk lattice, kept exactly (docs/FORMAT.md, "lattice") */
#define GSZ_LATTICE_CHUNK 256
#define GSZ_LATTICE_RANGES 18 /* per chunk: min xyz, max xyz, min and max log-scale, min and max colour */
/* One Gaussian from its chunk's ranges r and its words: position, log-scale, colour + opacity, rotation
 * (the opacity, a logarithm, apart: decoders take it from a table of the 256 levels). */
void gsz_lattice_gaussian(const float *r, uint32_t wp, uint32_t ws, uint32_t wc, uint32_t wr, float pos[3], float scale[3],
                          float rot[4], float dc[3]);
/* Logit of an 8-bit opacity level q, clamped at +-20 as the PLY reader clamps infinite logits. */
float gsz_lattice_opacity(uint32_t q);
/* 1 when every Gaussian of s (in its order) reproduces from the lattice: ranges (18 per chunk) and
 * words filled (4 planes of count words: position, scale, colour, rotation); else 0. */
int gsz_lattice_detect(const gsz_scene *s, float *ranges, uint32_t *words);
/* Colour words (n) with R and B stored less G, modulo 256 (section lattice.color.diff), or back
 * (undo); gsz_lattice_color_pays: whether that pays (gsz_diff_pays; biker: 29.3 -> 23.6 bits a
 * Gaussian under zstd, a colour's channels moving together). */
void gsz_lattice_color_diff(uint32_t *wc, size_t n, int undo);
int gsz_lattice_color_pays(const uint32_t *wc, size_t n);
/* Puts s on the lattice in place (its SH on that format's 8-bit grid), as compressed.ply's encoder and
 * splat-transform's reader would: scenes for tests. */
void gsz_lattice_quantise(gsz_scene *s);

/* ---- entropy.c */
/* Stream of n elements of width bytes (1,2,4,8). The encoder tries the transforms and keeps the smallest;
 * streams of at least GSZ_ZSTD_MT_MIN bytes use up to `threads` zstd workers (same bytes for any count).
 * cut: where a 1-byte stream's planes start (a codebook's, gsz_codebook_cuts), or NULL. out NULL: only
 * ranks the transforms (zstd level 3 at most) and gives the smallest size and its transform. */
enum { GSZ_TX_RAW = 0, GSZ_TX_PLANES = 1, GSZ_TX_DELTA_PLANES = 2, GSZ_TX_DELTA_VARINT = 3, GSZ_TX_COUNT };
#define GSZ_ZSTD_MT_MIN ((size_t)8 << 20)
gsz_error gsz_entropy_encode(const void *data, size_t n, int width, int level, int threads, const size_t *cut, size_t ncut,
                             uint8_t **out, size_t *out_size, int *transform);
/* Decodes into out (n*width bytes, allocated by the caller); every size is checked. */
gsz_error gsz_entropy_decode(const uint8_t *in, size_t in_size, int transform, size_t n, int width, void *out);
/* The same with scratch_size bytes of scratch the transforms use when they fit (else a buffer of their own);
 * none is needed where gsz_entropy_in_place (the stream's zstd frame is the elements themselves). Each
 * thread decodes with a zstd context of its own, kept until the thread exits. */
gsz_error gsz_entropy_decode_with(const uint8_t *in, size_t in_size, int transform, size_t n, int width, void *out,
                                  uint8_t *scratch, size_t scratch_size);
int gsz_entropy_in_place(int transform, int width);

/* ---- refine.c */
typedef struct {
    int steps, threads, level;
    float target_psnr;         /* > 0: also prune towards this PSNR (dB) on the views; see refine.c */
    int checkpoints;           /* pruning checkpoints, at j/4 of the steps for j = 1 .. checkpoints (1-3) */
    gsz_placement placement;   /* of the pruning's evaluation views (gsz compare's) */
    size_t keep_min;           /* pruning keeps at least this many Gaussians */
    size_t cache_bytes;        /* the cache of the fit's targets: 0 the default (see refine.c); the
                                  file is the same whatever it holds */
    int fit_side;              /* the fit's views: the given ones scaled to at most this long side (0: 384) */
    gsz_target_cache *targets; /* the fit's targets already rendered (gsz_significance) from the views
                                  as the fit takes them, or NULL; its frames are used and freed (kept
                                  where shared), the caller frees the rest */
    gsz_progress_fn progress;
    void *user;
    /* the geometry indices' reassignment (see refine.c), off where vq_src is NULL: for each of the
     * file's Gaussians, in file order, the input's Gaussian and its k-means weight; refine reorders
     * them in place as it prunes */
    uint32_t *vq_src;
    float *vq_weight;
    float vq_rate;             /* the colour codebook's entropy-constrained rate (scale half, rotation a quarter) */
    float scale_floor;         /* gsz_geometry_vq's floor */
} gsz_refine_options;

typedef struct {
    size_t count;  /* Gaussians in the file */
    double psnr;   /* the file's mean PSNR on the evaluation views when pruning removed any; else 0 */
} gsz_refine_result;

/* Fine-tunes the codebook entries and opacities of a finished .gsz (*file, replaced) to renders of the
 * original scene from the given views: `steps` Adam steps of one view each; see refine.c. */
gsz_error gsz_refine(const gsz_scene *original, const gsz_camera *views, size_t nviews, const gsz_refine_options *opt,
                     uint8_t **file, size_t *size, gsz_refine_result *res);

/* ---- container.c */
#define GSZ_MAGIC "\x89GSZ\r\n\x1a\n"
#define GSZ_FORMAT_VERSION 1
#define GSZ_HEADER_SIZE 64
#define GSZ_SECTION_ENTRY_SIZE 40
#define GSZ_MAX_SECTIONS 64
enum {
    GSZ_SEC_POSITION = 1, GSZ_SEC_OPACITY, GSZ_SEC_SCALE_CB, GSZ_SEC_SCALE_IDX, GSZ_SEC_ROT_CB, GSZ_SEC_ROT_IDX,
    GSZ_SEC_DC_CB, GSZ_SEC_DC_IDX, GSZ_SEC_SH_DEGREE,
    GSZ_SEC_SH1_CB, GSZ_SEC_SH2_CB, GSZ_SEC_SH3_CB, GSZ_SEC_SH1_IDX, GSZ_SEC_SH2_IDX, GSZ_SEC_SH3_IDX,
    GSZ_SEC_EXACT_IDS, GSZ_SEC_EXACT_ATTR,
    GSZ_SEC_LAT_RANGES, GSZ_SEC_LAT_POS, GSZ_SEC_LAT_SCALE, GSZ_SEC_LAT_COLOR, GSZ_SEC_LAT_ROT, /* lattice.c */
    GSZ_SEC_POS_WARP, /* gsz_warp: c[3], r */
    GSZ_SEC_LAT_COLOR_DIFF, /* lattice.color with R and B less G (gsz_lattice_color_diff) */
    GSZ_SEC_TYPE_COUNT
};
#define GSZ_SECF_REQUIRED 1u

typedef struct {
    uint64_t count;
    uint8_t sh_degree, pos_bits, opacity_bits;
    uint32_t flags;
    float bmin[3], bmax[3];
} gsz_header;

typedef struct {
    uint32_t type, flags;
    uint8_t transform, width; /* entropy transform and element width */
    uint64_t elements;        /* number of elements (raw size = elements*width) */
    const uint8_t *payload;   /* stored bytes (zstd) */
    uint64_t stored_size;
    uint64_t checksum;        /* XXH64 of the payload, as the table gives it */
} gsz_section;

typedef struct {
    gsz_header h;
    size_t n;
    gsz_section s[GSZ_MAX_SECTIONS];
} gsz_container;

/* Serialises header + sections (payloads already entropy-coded). */
gsz_error gsz_container_write(const gsz_container *c, uint8_t **out, size_t *out_size);
/* Parses and validates the layout and the checksums; payload pointers refer into data. */
gsz_error gsz_container_read(const void *data, size_t size, gsz_container *c);
/* The same, the sections' checksums left to gsz_section_verify (the decoder checks each in its stream's
 * job, in parallel, instead of all of them first on one thread). */
gsz_error gsz_container_open(const void *data, size_t size, gsz_container *c);
gsz_error gsz_section_verify(const gsz_section *s);
const gsz_section *gsz_container_find(const gsz_container *c, uint32_t type);

/* Attribute slot (scale, rotation, colour, sh1, sh2, sh3: gsz_indexed's order) of an index or codebook
 * section, or -1. */
static inline int gsz_index_slot(uint32_t t) {
    return t == GSZ_SEC_SCALE_IDX ? 0 : t == GSZ_SEC_ROT_IDX ? 1 : t == GSZ_SEC_DC_IDX ? 2 : t >= GSZ_SEC_SH1_IDX && t <= GSZ_SEC_SH3_IDX ? 3 + (int)(t - GSZ_SEC_SH1_IDX) : -1;
}
/* Bytes per index into a codebook of k entries, as the encoder stores index streams. */
static inline int gsz_index_width(size_t k) { return k <= 256 ? 1 : k <= 65536 ? 2 : 4; }
/* Index i of a stream of w-byte indices (1, 2 or 4), read and written. */
static inline uint32_t gsz_index_get(const void *p, int w, size_t i) {
    return w == 1 ? ((const uint8_t *)p)[i] : w == 2 ? ((const uint16_t *)p)[i] : ((const uint32_t *)p)[i];
}
static inline void gsz_index_put(void *p, int w, size_t i, uint32_t v) {
    if (w == 1) ((uint8_t *)p)[i] = (uint8_t)v;
    else if (w == 2) ((uint16_t *)p)[i] = (uint16_t)v;
    else ((uint32_t *)p)[i] = v;
}
static inline int gsz_codebook_slot(uint32_t t) {
    return t == GSZ_SEC_SCALE_CB ? 0 : t == GSZ_SEC_ROT_CB ? 1 : t == GSZ_SEC_DC_CB ? 2 : t >= GSZ_SEC_SH1_CB && t <= GSZ_SEC_SH3_CB ? 3 + (int)(t - GSZ_SEC_SH1_CB) : -1;
}

/* Entropy-codes n elements of width bytes as section sec's payload (*stored, the caller's to free):
 * sets its transform, width, element count and stored size. */
gsz_error gsz_section_encode(gsz_section *sec, const void *raw, size_t n, int width, int level, int threads, uint8_t **stored);
/* A batch of sections to encode (gsz_section_encode) in parallel: the same bytes for any thread count;
 * stored gets each payload (the caller frees them, also on error). Returns the first job's error. */
typedef struct {
    gsz_section *sec;
    const void *raw;
    size_t n;
    int width;
    uint8_t *stored;
    gsz_error err;
} gsz_encode_job;
gsz_error gsz_encode_jobs(gsz_encode_job *jobs, size_t count, int level, int threads);

/* The stored level of an opacity logit at `bits`, and the opacity (after the sigmoid) a stored level
 * decodes to: level / (2^bits - 1), kept a quarter step off 0 and 1 so that its logit is finite. */
static inline uint8_t gsz_opacity_quantise(float logit, int bits) {
    long omax = (1L << bits) - 1, o = lround((double)gsz_sigmoid(logit) * (double)omax);
    return (uint8_t)GSZ_CLAMP(o, 0, omax);
}
static inline float gsz_opacity_level(unsigned level, int bits) {
    float omax = (float)((1u << bits) - 1);
    return GSZ_CLAMP((float)level / omax, 0.25f / omax, 1.0f - 0.25f / omax);
}

/* Values per entry of the codebooks in gsz_indexed's order: scale 3, rotation 4, colour 3, SH bands of
 * degree 1, 2, 3: 9, 24, 45. */
static inline int gsz_codebook_dim(int slot) { return slot == 1 ? 4 : slot < 3 ? 3 : gsz_shRestCount(slot - 2) * 3; }

/* ---- decompress.c: a decoded file before expansion (the viewer uploads this form as is) */
typedef struct {
    size_t count;
    int sh_degree;
    float *pos;        /* 3 per Gaussian */
    float *opacity;    /* 1 per Gaussian: the sigmoid value */
    uint8_t *degree;   /* kept SH degree per Gaussian */
    uint32_t *index[4]; /* per Gaussian: scale, rotation, colour, SH (into the codebook of its degree) */
    float *codebook[6]; /* scale (3), rotation (4), colour (3), sh1 (9), sh2 (24), sh3 (45) floats per entry */
    int codebook_size[6];
    int codebook_bits[6]; /* stored bits per value (8 or 16); 0: transform-coded, GSZ_CODEBOOK_EXACT: a value table */
    float codebook_step[6]; /* transform-coded as a whole: gsz_codebook_shared_step, else 0 */
} gsz_indexed;

gsz_error gsz_decode_indexed(const void *data, size_t size, int threads, gsz_indexed *out);
/* The same without whole huge pages (gsz_malloc_pages): for the encoder, whose peak memory counts more
 * than a millisecond of page faults. */
gsz_error gsz_decode_indexed_lean(const void *data, size_t size, int threads, gsz_indexed *out);
/* The per-Gaussian values of x into whichever of s's pos, scale, rot, sh_dc and opacity (as logits)
 * the caller allocated (NULL: skipped), for x->count Gaussians: a scene without SH rest for what needs
 * no more (framing a view, attribute statistics). */
void gsz_indexed_gather(const gsz_indexed *x, gsz_scene *s);
void gsz_indexed_free(gsz_indexed *x);

#endif
