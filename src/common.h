/* Internal helpers shared by the core, the codec and the tools (not part of the public API). */
#ifndef GSZ_COMMON_H
#define GSZ_COMMON_H

#include "gsz.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define GSZ_PI 3.14159265358979323846
#define GSZ_SH_C0 0.28209479177387814f
#define GSZ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GSZ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GSZ_CLAMP(x, lo, hi) ((x) < (lo) ? (lo) : (x) > (hi) ? (hi) : (x))

/* Records the error detail (printf-style) for gsz_getErrorDetail() and returns code. */
gsz_error gsz_fail(gsz_error code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* 1 when path ends in suffix, in any case (".splat", ".gsz"). */
int gsz_path_has_suffix(const char *path, const char *suffix);

/* Checked allocation helpers: NULL on overflow or failure. */
void *gsz_malloc_array(size_t n, size_t size);
void *gsz_calloc_array(size_t n, size_t size);
/* As gsz_malloc_array, large arrays in whole huge pages (for decoders' outputs, written once end to end). */
void *gsz_malloc_pages(size_t n, size_t size);
/* gsz_scene_alloc with the arrays from gsz_malloc_pages. */
gsz_error gsz_scene_alloc_pages(gsz_scene *s, size_t count, int sh_degree);

static inline float gsz_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float gsz_logit(float p) { return logf(p / (1.0f - p)); }

/* IEEE half precision, round to nearest even. */
uint16_t gsz_float_to_half(float f);
float gsz_half_to_float(uint16_t h);

/* Whole-file read (malloc'd). */
gsz_error gsz_read_file(const char *path, void **data, size_t *size);
/* A scene input as its readers need it: standard input or a pipe (which cannot be peeked, nor read
 * twice) and a .gsz (decoded from memory) read whole into *data, their format from their bytes; any
 * other file left to be read by name (*data NULL), its format from its name and first bytes. A
 * directory is an error. (codec/decompress.c) */
gsz_error gsz_input_read(const char *path, void **data, size_t *size, gsz_format *format);
/* A scene file read whole and parsed by a reader of memory (the .splat and .spz readers). */
typedef gsz_error (*gsz_memory_reader)(const void *data, size_t size, const char *name, gsz_scene *out, gsz_ply_stats *stats);
gsz_error gsz_read_scene_file(const char *path, gsz_memory_reader read, gsz_scene *out, gsz_ply_stats *stats);

/* Atomic output: writes go to a temporary file beside path, renamed on commit; through a symbolic link,
 * beside the file it leads to (the link stays). What is not a regular file (a pipe, a terminal,
 * /dev/null, /dev/stdout when it is one of those) is written directly, and "-" is standard output:
 * renaming over those would replace them with a file. */
typedef struct {
    FILE *f;
    char *path;
    char *target; /* the file renamed over: path, or where its link leads; NULL when written directly */
    char *tmp;    /* NULL when written directly */
    int slot;     /* its entry for gsz_outfile_remove_open, or -1 */
} gsz_outfile;
int gsz_path_is_stdout(const char *path); /* "-", or a name of what standard output is */
const char *gsz_input_name(const char *path); /* path as messages name it: "standard input" for "-" */
int gsz_path_is_stream(const char *path); /* "-" (standard input), or what is neither a file nor a directory (a pipe) */
gsz_error gsz_outfile_open(gsz_outfile *o, const char *path);
gsz_error gsz_outfile_commit(gsz_outfile *o); /* closes, checks, renames */
void gsz_outfile_abort(gsz_outfile *o);       /* closes and removes the temporary */
gsz_error gsz_outfile_write_error(const gsz_outfile *o); /* the error of a failed write to o, naming it */
/* Removes the temporaries of outputs still being written; async-signal-safe, for a handler of an
 * interrupt that would otherwise leave them behind (gsz_cli_catch_interrupts). */
void gsz_outfile_remove_open(void);
gsz_error gsz_write_file(const char *path, const void *data, size_t size);
int gsz_same_file(const char *a, const char *b); /* 1: both exist and are one file (a link or another name included) */

/* Parallel for: fn(ctx, begin, end, worker) over [0,n) in chunks, by up to threads workers.
 * Chunks are handed out dynamically; callers must keep results independent of the split. */
typedef void (*gsz_range_fn)(void *ctx, size_t begin, size_t end, int worker);
void gsz_parallel_for(size_t n, size_t chunk, int threads, gsz_range_fn fn, void *ctx);
/* Workers kept for the parallel fors that the calling thread runs until gsz_pool_end (one each for a
 * loop of at most that many threads), instead of threads started per loop. NULL (nothing to keep, or a
 * pool already active on this thread): the loops start their own. An ended pool's workers sleep until
 * the next pool of as many threads takes them (one such pool is kept per process). */
typedef struct gsz_pool gsz_pool;
gsz_pool *gsz_pool_begin(int threads);
/* keep_scratch: the pool's scratch buffer stays with it for the next to take (else it is freed) */
void gsz_pool_end(gsz_pool *pool, int keep_scratch);
/* A buffer of at least bytes (whole huge pages) that the pool owns until it ends, NULL if out of memory:
 * a decode's streams, so that repeated decodes into a kept scene touch no fresh pages. */
void *gsz_pool_scratch(gsz_pool *pool, size_t bytes);
#define GSZ_THREADS_MAX 256 /* workers of one parallel for */
int gsz_thread_count(int requested); /* 0 => online cores, at most GSZ_THREADS_MAX */

double gsz_now(void); /* monotonic seconds */
size_t gsz_peak_rss_bytes(void); /* peak resident memory of this process so far */

/* Small deterministic PRNG (splitmix64 / xoshiro-style). */
typedef struct { uint64_t s; } gsz_rng;
static inline uint64_t gsz_rng_next(gsz_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline double gsz_rng_uniform(gsz_rng *r) { return (gsz_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
double gsz_rng_normal(gsz_rng *r);

/* Stable LSD radix sort of 32-bit keys, carrying a 32-bit value; tmp buffers of n each. */
void gsz_radix_sort32(uint32_t *keys, uint32_t *vals, size_t n, uint32_t *tmp_keys, uint32_t *tmp_vals);
/* order[0..n): 0..n-1 sorted by key(i) = hi[i] << 32 | lo[i], ties in index order (what qsort with
 * an index tie-break gives, in linear time): two passes of the 32-bit sort. lo and hi are overwritten;
 * tk and tv are scratch of n each. */
void gsz_radix_order64(uint32_t *lo, uint32_t *hi, size_t n, uint32_t *order, uint32_t *tk, uint32_t *tv);
/* order[0..n): 0..n-1 by v descending, ties in index order (-0 as +0); 0, or -1 when out of memory. */
int gsz_order_descending(const float *v, size_t n, uint32_t *order);
/* A double's sort key (hi, lo halves) that orders as the values compare: -0 as +0, so that equal values
 * tie (NaN anywhere). */
static inline void gsz_double_sort_key(double d, uint32_t *hi, uint32_t *lo) {
    union { double d; uint64_t u; } v = {d == 0 ? 0.0 : d};
    uint64_t k = (v.u >> 63) ? ~v.u : (v.u | 0x8000000000000000ull);
    *hi = (uint32_t)(k >> 32);
    *lo = (uint32_t)k;
}
/* Maps a float to a uint32 that sorts in the same order. */
static inline uint32_t gsz_float_sort_key(float f) {
    union { float f; uint32_t u; } v = {f};
    return (v.u & 0x80000000u) ? ~v.u : (v.u | 0x80000000u);
}

/* Little-endian loads and stores of the file formats (.gsz, .splat, .spz). */
static inline uint32_t gsz_le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint64_t gsz_le64(const uint8_t *p) { return (uint64_t)gsz_le32(p) | (uint64_t)gsz_le32(p + 4) << 32; }
static inline void gsz_put_le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
/* v rounded and clamped to an 8-bit level (the .splat and .spz writers). */
static inline uint8_t gsz_level8(double v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)lrint(v); }
/* The opacity logit of an 8-bit level a = 255 sigmoid(logit) (.splat, .spz): levels 0 and 255 (opacity 0
 * and 1 to the format's precision) become -20 and +20, the values the PLY reader gives infinite logits. */
static inline float gsz_logit_level8(uint8_t a) { return a == 0 ? -20.0f : a == 255 ? 20.0f : (float)log((a / 255.0) / (1.0 - a / 255.0)); }

/* Normalised quaternion rotation matrix (row-major) from w,x,y,z. */
void gsz_quat_to_mat(const float q[4], float m[9]);
/* The rotation matrix of the unit quaternion (w, x, y, z): floats, or vectors of lanes (the renderer's
 * preprocess), by the same float operations. */
#define GSZ_QUAT_MAT(w, x, y, z, m)                           \
    do {                                                      \
        (m)[0] = 1.0f - 2.0f * ((y) * (y) + (z) * (z));       \
        (m)[1] = 2.0f * ((x) * (y) - (w) * (z));              \
        (m)[2] = 2.0f * ((x) * (z) + (w) * (y));              \
        (m)[3] = 2.0f * ((x) * (y) + (w) * (z));              \
        (m)[4] = 1.0f - 2.0f * ((x) * (x) + (z) * (z));       \
        (m)[5] = 2.0f * ((y) * (z) - (w) * (x));              \
        (m)[6] = 2.0f * ((x) * (z) - (w) * (y));              \
        (m)[7] = 2.0f * ((y) * (z) + (w) * (x));              \
        (m)[8] = 1.0f - 2.0f * ((x) * (x) + (y) * (y));       \
    } while (0)

/* Scales cam so that its long side is at most side pixels (cameras.c; size rounded, focal lengths and
 * principal point by the same factor): 1 where it was scaled, 0 where it fitted already. */
int gsz_camera_fit_side(gsz_camera *cam, int side);

/* The dense region of a scene (cameras.c): centre (medians weighted towards small Gaussians) and the
 * radius holding 90% of that weight. Returns 1 where the scene reaches beyond GSZ_FAR_REACH such radii
 * from it (an unbounded capture: background far from the subject), 0 where not, -1 out of memory. */
#define GSZ_FAR_REACH 8.0
int gsz_scene_core(const gsz_scene *s, float center[3], float *radius);

/* The renderer's blend with AVX-512 where the CPU has it (the default, on) or in plain C (off): the same
 * images, sums and records either way; for the tests, which compare the two. Not thread-safe. */
void gsz_render_simd(int on);

#endif

/* Real SH basis (the 3DGS constants and sign convention) up to degree 3 for a unit direction;
 * writes (degree+1)^2 values. */
void gsz_sh_basis(int degree, const float dir[3], float *basis);
/* Colour of one Gaussian along dir: basis-weighted DC and rest (coefficient-major RGB) + 0.5, not clamped. */
void gsz_sh_color(int degree, const float *basis, const float dc[3], const float *rest, float rgb[3]);
