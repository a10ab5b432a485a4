/* gsz: 3D Gaussian Splatting compressor — public API.
 *
 * Conventions (zstd / sokol style):
 *  - every name carries the gsz_ / GSZ_ prefix;
 *  - functions return a gsz_error; check it with gsz_isError(), name it with gsz_getErrorName(),
 *    and read the human-readable detail (file name, what is wrong) with gsz_getErrorDetail();
 *  - the caller owns memory: what a function allocates it hands over with a matching *_free();
 *  - option structs are zero-initialised to mean "default".
 */
#ifndef GSZ_H
#define GSZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GSZ_VERSION_MAJOR 1
#define GSZ_VERSION_MINOR 0
#define GSZ_VERSION_STRING "1.0.0"

/* ---------------------------------------------------------------- errors */
typedef enum {
    GSZ_OK = 0,
    GSZ_ERROR_io,          /* cannot open, read or write a file */
    GSZ_ERROR_format,      /* malformed input file (PLY, cameras.json) */
    GSZ_ERROR_corrupt,     /* malformed or truncated .gsz */
    GSZ_ERROR_checksum,    /* .gsz section checksum mismatch */
    GSZ_ERROR_unsupported, /* valid but unsupported (version, required section) */
    GSZ_ERROR_memory,      /* allocation failed or size overflow */
    GSZ_ERROR_argument,    /* bad argument or option */
    GSZ_ERROR_maxCode
} gsz_error;

int gsz_isError(gsz_error code);
const char *gsz_getErrorName(gsz_error code);
/* Detail of the last error raised on the calling thread ("scene.ply: truncated body ..."). */
const char *gsz_getErrorDetail(void);

/* ---------------------------------------------------------------- scene */
/* Structure of arrays, in the units a trained 3DGS .ply stores:
 * log-scales, unnormalised quaternions (w,x,y,z), opacity logits, SH coefficients.
 * sh_rest holds, per Gaussian, gsz_shRestCount(sh_degree) coefficients of 3 channels,
 * coefficient-major: sh_rest[(i*n + k)*3 + c]. */
typedef struct {
    size_t count;
    int sh_degree; /* 0..3 */
    float *pos;     /* 3 per Gaussian */
    float *scale;   /* 3 per Gaussian, log */
    float *rot;     /* 4 per Gaussian, w x y z */
    float *opacity; /* 1 per Gaussian, logit */
    float *sh_dc;   /* 3 per Gaussian */
    float *sh_rest; /* 3*gsz_shRestCount(sh_degree) per Gaussian, NULL at degree 0 */
} gsz_scene;

int gsz_shRestCount(int sh_degree); /* (d+1)^2 - 1: 0, 3, 8, 15 */
gsz_error gsz_scene_alloc(gsz_scene *scene, size_t count, int sh_degree);
void gsz_scene_free(gsz_scene *scene);
/* Keeps the Gaussians whose keep[i] is nonzero, in order. */
void gsz_scene_filter(gsz_scene *scene, const uint8_t *keep);
/* Lowers the SH degree, dropping the higher bands. */
gsz_error gsz_scene_set_sh_degree(gsz_scene *scene, int sh_degree);
/* Smallest and largest position on each axis (+inf and -inf for an empty scene). */
void gsz_scene_bounds(const gsz_scene *scene, float lo[3], float hi[3]);
/* Past these a finite value renders no differently: the scene readers clamp to them (clamped_range
 * below) and gsz_compress refuses values past them, as it refuses NaN and infinite ones. */
#define GSZ_LIMIT_POSITION 1e30f
#define GSZ_LIMIT_LOG_SCALE 100.0f /* e^100 overflows a float, e^-100 squared underflows it (trained scenes reach -48) */
#define GSZ_LIMIT_SH 1e8f         /* a colour that saturates every pixel it reaches */
/* The first attribute of Gaussian i that is NaN, infinite or past those limits ("position", "color",
 * "sh", "opacity", "scale", "rotation"), or NULL. */
const char *gsz_gaussian_invalid(const gsz_scene *scene, size_t i);
/* Clamps Gaussian i's finite values past those limits to them, as the readers do; returns whether any
 * changed. */
int gsz_gaussian_clamp(gsz_scene *scene, size_t i);

typedef struct {
    size_t rows_in_file;    /* vertex count in the header */
    size_t dropped_nonfinite; /* rows removed because a used property was NaN or Inf */
    size_t clamped_opacity;   /* rows whose opacity logit was +-Inf (opacity exactly 1 or 0): clamped to +-20 */
    size_t clamped_range;     /* rows with a finite value past the GSZ_LIMIT_* (which render no differently), clamped */
    int baked_filter_3d;      /* 1: a filter_3D property (Mip-Splatting) was baked into the scales and opacities */
    int surfels;              /* 1: 2D Gaussian splatting's surfels (two scales), read as flat 3D Gaussians */
    size_t stream_bytes;      /* bytes read from standard input or a pipe (gsz_scene_load), else 0 */
} gsz_ply_stats;

gsz_error gsz_ply_read(const char *path, gsz_scene *out, gsz_ply_stats *stats);
/* Same, from memory; name is used in error messages. */
gsz_error gsz_ply_read_memory(const void *data, size_t size, const char *name, gsz_scene *out,
                              gsz_ply_stats *stats);
/* Writes the INRIA layout (x y z nx ny nz f_dc_* f_rest_* opacity scale_* rot_*), binary LE,
 * atomically (temporary file, then rename). */
gsz_error gsz_ply_write(const char *path, const gsz_scene *scene);

/* antimatter15's .splat (32 bytes a Gaussian, SH degree 0; src/splat.c). Readers fill stats as the PLY
 * reader does (rows with a non-finite position or a scale <= 0 are dropped); the writer keeps only the
 * DC colour of higher-degree scenes and writes atomically. */
int gsz_path_is_splat(const char *path); /* the name ends in .splat (any case) */
gsz_error gsz_splat_read(const char *path, gsz_scene *out, gsz_ply_stats *stats);
gsz_error gsz_splat_read_memory(const void *data, size_t size, const char *name, gsz_scene *out, gsz_ply_stats *stats);
/* Niantic's .spz, versions 2 and 3 (gzip) and 4 (zstd streams), turned from its right-up-back axes into
 * the PLY's right-down-front (as splat-transform reads it). */
int gsz_path_is_spz(const char *path); /* the name ends in .spz (any case) */
gsz_error gsz_spz_read(const char *path, gsz_scene *out, gsz_ply_stats *stats);
gsz_error gsz_spz_read_memory(const void *data, size_t size, const char *name, gsz_scene *out, gsz_ply_stats *stats);
/* Writes version 3 (gzip), as the reference writer quantises (temp file, then rename). */
gsz_error gsz_spz_write(const char *path, const gsz_scene *scene);
gsz_error gsz_splat_write(const char *path, const gsz_scene *scene);

/* ---------------------------------------------------------------- cameras */
/* OpenCV convention: x right, y down, z forward. World to camera: p_cam = R p + t. */
typedef struct {
    int width, height;
    float fx, fy, cx, cy;
    float R[9]; /* row-major world->camera rotation */
    float t[3];
    float center[3]; /* camera position in world space */
    char name[64];
} gsz_camera;

/* Reads a 3DGS cameras.json. *cameras is malloc'd; free() it. */
gsz_error gsz_cameras_read(const char *path, gsz_camera **cameras, size_t *count);
/* The same from size bytes of JSON in memory; name is used in error messages. */
gsz_error gsz_cameras_read_memory(const void *data, size_t size, const char *name, gsz_camera **cameras, size_t *count);
/* Where generated views stand. AROUND (the default): on a sphere around the robust centre of the
 * scene (median of the opaque Gaussians), looking at it, as an object or an outdoor capture is seen.
 * INSIDE: within the scene's dense region, halfway out from its centre, looking back across it, as an
 * indoor capture is seen: from around, a room's walls hide everything in it (docs/BENCHMARKS.md). */
typedef enum { GSZ_PLACEMENT_AROUND = 0, GSZ_PLACEMENT_INSIDE } gsz_placement;
/* count deterministic views placed as `where` says; vertical_fov_deg 0 = 50 degrees around, 70 inside. */
gsz_error gsz_cameras_place(const gsz_scene *scene, gsz_placement where, size_t count, int width, int height,
                            float vertical_fov_deg, gsz_camera *out);
/* gsz_cameras_place with AROUND. */
gsz_error gsz_cameras_generate(const gsz_scene *scene, size_t count, int width, int height,
                               float vertical_fov_deg, gsz_camera *out);
/* A camera at eye looking at target; up is the world direction that appears up in the image. */
void gsz_camera_look_at(gsz_camera *cam, const float eye[3], const float target[3], const float up[3], int width,
                        int height, float vertical_fov_deg);
/* The camera with its image resized to width x height, as resizing its image would: the focal lengths
 * and principal point scaled per axis. */
void gsz_camera_resize(gsz_camera *cam, int width, int height);
/* Robust centre and radius of the dense part of the scene (reads positions, opacities and scales):
 * the median of the opaque Gaussians and the radius holding 90% of them, or, where the scene reaches
 * far beyond its subject (an unbounded capture), that subject's region. */
void gsz_scene_focus(const gsz_scene *scene, float center[3], float *radius);

/* ---------------------------------------------------------------- renderer */
/* Per-Gaussian accumulation during blending (the codec's significance uses it).
 * For every pixel where Gaussian i contributes with w = alpha*T: weight[i] += w, pixels[i] += 1 and,
 * given a per-pixel error image, grad[3i+c] += w*error[c] (the gradient of half the squared image
 * error with respect to the Gaussian's colour). Fixed point (GSZ_ACCUM_ONE = 1.0) integer sums keep
 * the result identical for any thread count. Each pointer may be NULL. gsz_render_gradient sums
 * weight and removal only. */
#define GSZ_ACCUM_ONE ((uint64_t)1 << 24)
typedef struct {
    uint64_t *weight;    /* count entries */
    uint32_t *pixels;    /* count entries */
    const float *error;  /* width*height*3, with grad */
    int64_t *grad;       /* count*3 entries */
    uint64_t *removal;   /* count entries: sum over its pixels of |the pixel's change were it removed| */
} gsz_render_accum;

/* Buffers a renderer reuses across renders (a loop of renders then allocates nothing after the first);
 * one per concurrent caller. */
typedef struct gsz_render_workspace gsz_render_workspace;
gsz_render_workspace *gsz_render_workspace_create(void); /* NULL when out of memory */
void gsz_render_workspace_free(gsz_render_workspace *ws);

typedef struct {
    int threads;        /* 0 = all cores */
    float background[3];
    int max_sh_degree;  /* 0 = scene degree; otherwise degree+1 (1 => DC only) */
    gsz_render_accum *accum;
    const float *colors; /* per Gaussian RGB for this view (3 each, before the clamp at 0) used instead of
                            the SH, or NULL (the colors_precomp of the 3DGS rasteriser) */
    int pixel_step;      /* > 1: only pixels whose x and y are multiples of it are rendered, and rgb holds
                            just those, ceil(width/step) x ceil(height/step): a sample of the image at its
                            full resolution (forward pass only) */
    gsz_render_workspace *workspace; /* NULL: buffers allocated for each render */
    float *transmittance; /* NULL, or one value per pixel of rgb: the transmittance T left after the last
                             splat (1 - the image's alpha; the background adds T x background) */
} gsz_render_options;

/* The 3DGS forward pass (Kerbl et al. 2023) on the CPU; rgb is width*height*3 floats in [0,1] (fewer
 * with pixel_step). */
gsz_error gsz_render(const gsz_scene *scene, const gsz_camera *camera,
                     const gsz_render_options *options, float *rgb);

/* Gradients of the backward pass, per Gaussian; any pointer may be NULL. */
typedef struct {
    float *pos, *scale, *rot, *opacity; /* 3, 3 (log-scale), 4 (quaternion), 1 (logit) */
    float *rgb;                         /* 3: the view's colour (0 where it was clamped at 0) */
} gsz_render_grad;

/* Backward pass: the gradient of half the squared error between the rendered image and target
 * (width*height*3), written to grad (zero for what the view does not see); that error in *loss (may be
 * NULL). SH gradients follow from rgb: d/dcoef_l = basis_l(view direction) * rgb. Identical for any
 * thread count. grad->rgb may be options->colors: those are read before any gradient is written; and
 * grad->pos, scale, rot and opacity may be the scene's own arrays, which then hold the gradients: each
 * Gaussian's values are read before its gradients are written. */
gsz_error gsz_render_gradient(const gsz_scene *scene, const gsz_camera *camera, const gsz_render_options *options,
                              const float *target, const gsz_render_grad *grad, double *loss);

/* ---------------------------------------------------------------- metrics */
double gsz_psnr(const float *a, const float *b, size_t n_values); /* +inf when equal */
/* SSIM: 11x11 Gaussian window (sigma 1.5), C1=0.01^2, C2=0.03^2, per channel, mean. */
double gsz_ssim(const float *a, const float *b, int width, int height);

/* PNG output of float RGB in [0,1], atomic. */
gsz_error gsz_png_write(const char *path, const float *rgb, int width, int height);

/* ---------------------------------------------------------------- codec */
typedef enum {
    GSZ_PRESET_BALANCED = 0,
    GSZ_PRESET_HIGH,
    GSZ_PRESET_SMALL,
    GSZ_PRESET_MAX /* near-lossless: no pruning or SH drop, one codebook entry per Gaussian (scalar 8-bit) */
} gsz_preset;

typedef void (*gsz_progress_fn)(void *user, const char *stage, double fraction);

/* Every numeric field: 0 = the preset's default. */
typedef struct {
    gsz_preset preset;
    float prune;          /* fraction of Gaussians to remove; <0 = none */
    float prune_threshold; /* remove those whose pruning score over the mean is below; 0 = off */
    int max_sh_degree;    /* global cap: 0 = keep all bands, otherwise degree+1 (1 => DC only) */
    float sh_threshold;   /* per-Gaussian band drop threshold (mean colour change); <0 = off */
    int codebook_sh;      /* entries of each SH codebook (at least the Gaussian count: scalar quantisation) */
    int codebook_dc;      /* entries of the colour codebook */
    int codebook_geom;    /* entries of the scale+rotation codebook */
    float sh_step;        /* > 0: SH rest coefficients transform-coded at this step (one entry per Gaussian)
                             instead of a codebook; 0 = preset's, <0 = codebook */
    float vq_rate;        /* entropy-constrained VQ of colour (R), scale (R/2) and rotation (R/4): index bits
                             traded against error at this multiple of the codebook's own slope; 0 = preset's,
                             <0 = plain k-means */
    int pos_bits;         /* bits per position axis, 8..21 */
    int refine;           /* fine-tuning steps (one view each) against renders of the input; 0 = preset's, <0 = none */
    float target_psnr;    /* fine-tuning also prunes the least significant Gaussians while the PSNR (on 8 of
                             gsz compare's 24 generated 1280x720 views) stays near this (dB), and below it
                             those that cost under 0.05 dB (ones no view shows); 0 = preset's, <0 = off */
    float exact;          /* per codebook, the fraction of Gaussians with the largest weighted quantisation
                             error given entries of their own (values kept at the codebook's precision); <0 = none */
    size_t max_bytes;     /* > 0: the file's size at most this: where the preset's file is larger, a few whole
                             encodes search the settings between it and small (then small with more pruned)
                             or the preset with more pruned, whichever loses less fidelity on this scene;
                             an error where 99% pruned does not fit */
    int zstd_level;       /* 1..22 */
    int threads;          /* 0 = all cores */
    int views;            /* generated significance views when no cameras; 0 = 24 (balanced, small: 16 above 262,144 Gaussians) */
    gsz_placement placement; /* of the generated views: significance without cameras, and the measures of
                                target pruning and max_bytes (gsz compare's views); 0 = around */
    const gsz_camera *cameras; /* significance cameras (e.g. training views), or NULL */
    size_t camera_count;
    gsz_progress_fn progress;
    void *progress_user;
} gsz_compress_options;

typedef struct {
    size_t input_count, output_count;
    int sh_degree;
    size_t count_by_degree[4];
    size_t bytes;
    size_t section_bytes[32]; /* by section type */
    int lattice; /* 1: max kept a scene decoded from compressed.ply on that format's lattice, exactly */
    double psnr_estimate; /* the file's mean PSNR on those views when target pruning removed any, else 0 */
    size_t unseen_count;  /* Gaussians no significance view shows (0 where significance was not computed) */
    int views_inside;     /* 1: generated views were placed inside the scene (GSZ_PLACEMENT_INSIDE) */
    double seconds_significance, seconds_sh, seconds_vq, seconds_encode, seconds_refine; /* of the encode kept */
    int budget_encodes;   /* with max_bytes: the encodes it took (1: the preset's file fitted) */
    double budget_level;  /* with max_bytes: the settings of the file: 3 max, 2 high, 1 balanced, 0 small, between
                             two a mix of them, under 0 small with half as many Gaussians kept for each unit */
    double budget_prune;  /* with max_bytes: the fraction pruned up front in that encode */
} gsz_compress_stats;

/* Compresses scene into a malloc'd buffer (*out, *out_size; free() it). */
gsz_error gsz_compress(const gsz_scene *scene, const gsz_compress_options *options,
                       void **out, size_t *out_size, gsz_compress_stats *stats);
gsz_error gsz_decompress(const void *data, size_t size, gsz_scene *out, int threads);
/* The same into a scene the caller keeps between decodes (zeroed, or from a previous decode or
 * gsz_scene_alloc): its arrays are reused when the file has the same count and SH degree, replaced
 * otherwise; freed on error. Decoding a sequence of same-sized files this way touches no fresh memory. */
gsz_error gsz_decompress_into(const void *data, size_t size, gsz_scene *scene, int threads);
/* Between decodes the library keeps one set of worker threads (asleep once idle) and, after
 * gsz_decompress_into, that decode's stream buffer (about 30-40 bytes a Gaussian), for the next decode to
 * reuse. This frees them (the workers have exited when it returns); a later decode starts them afresh.
 * Each thread that has decoded also keeps a zstd context of 96 KB until it exits. Unloading the library
 * (dlclose) stops the workers itself. */
void gsz_release_kept(void);

/* Describes a .gsz without decoding the streams. */
typedef struct {
    uint32_t type;
    uint32_t flags;
    uint64_t raw_size, stored_size;
    char name[24];
} gsz_section_info;

typedef struct {
    uint32_t version;
    uint64_t count;
    int sh_degree;
    float bounds_min[3], bounds_max[3];
    uint64_t count_by_degree[4];
    size_t section_count;
    gsz_section_info sections[64];
    int pos_bits, opacity_bits; /* quantisation of positions (per axis) and opacities */
    float warp_center[3], warp_radius; /* positions on a warped grid (unbounded scenes: docs/FORMAT.md); radius 0: none */
} gsz_file_info;

gsz_error gsz_file_inspect(const void *data, size_t size, gsz_file_info *info);
const char *gsz_section_name(uint32_t type); /* "position", "sh2.index", ... */

/* 1 when the file starts with the .gsz magic. */
int gsz_file_is_gsz(const char *path);
/* 1 when the name ends in .splat and the file does not start with the PLY magic. */
int gsz_file_is_splat(const char *path);
/* 1 when the file is a .spz: named so and not a PLY, or starting with the NGSP magic (version 4). */
int gsz_file_is_spz(const char *path);
/* Reads a .gsz (by magic), a .spz, a .splat (by name) or a .ply into a scene; "-" is standard input,
 * which, like a pipe, is read whole and told apart by its first bytes (gsz_scene_load_memory). */
gsz_error gsz_scene_load(const char *path, gsz_scene *out, int threads, gsz_ply_stats *stats);
/* A scene file held in memory, its format from its first bytes: the .gsz, PLY or .spz magic (NGSP, or
 * gzip's), else a .splat when name ends so or the size is a multiple of its 32-byte records. */
typedef enum { GSZ_FORMAT_UNKNOWN, GSZ_FORMAT_GSZ, GSZ_FORMAT_PLY, GSZ_FORMAT_SPZ, GSZ_FORMAT_SPLAT } gsz_format;
gsz_format gsz_format_of(const void *data, size_t size, const char *name);
gsz_error gsz_scene_load_memory(const void *data, size_t size, const char *name, int threads, gsz_scene *out, gsz_ply_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
