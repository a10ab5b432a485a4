/* gsz: command-line interface. */
#include "cli.h"
#include "common.h"
#include "../codec/codec.h"
#include "../scenes/synth.h"

#include <stddef.h>
#include <string.h>
#include <malloc.h>

static const char *usage =
    "gsz " GSZ_VERSION_STRING " - 3D Gaussian Splatting compressor\n"
    "\n"
    "usage:\n"
    "  gsz compress IN.ply -o OUT.gsz [--preset max|high|balanced|small] [--cameras cameras.json]\n"
    "               [--prune F] [--sh-degree N] [--sh-threshold T] [--codebook-sh K] [--codebook-dc K]\n"
    "               [--codebook-geom K] [--sh-step S] [--vq-rate R] [--pos-bits B] [--exact F] [--level L]\n"
    "               [--prune-threshold T] [--views N] [--refine N] [--target-psnr DB] [--max-bytes N]\n"
    "               [--placement around|inside] [-j N] [-q] [--json]\n"
    "               (--views: generated significance views without --cameras; 24; balanced, small: 16 above 262,144 Gaussians)\n"
    "  gsz decompress IN.gsz -o OUT.ply|OUT.splat|OUT.spz [-j N] [-q] [--json]\n"
    "  gsz info FILE [--json]\n"
    "  gsz convert IN -o OUT.ply|OUT.splat|OUT.spz [-j N] [-q]\n"
    "  gsz render SCENE -o OUT.png [--view I [--views N] [--placement P] | --cameras cameras.json --camera I] [--size WxH] [-j N]\n"
    "  gsz compare REF TEST [--views N] [--size WxH] [--placement P | --cameras cameras.json] [--ref-cache DIR] [-j N] [--json]\n"
    "  gsz bench IN.ply [compress options] [--views N] [--size WxH] [--keep OUT.gsz] [--json]\n"
    "  gsz synth COUNT -o OUT.ply|OUT.splat [--sh D] [--seed S] [--palette K | --lattice] [--background F | --room]\n"
    "\n"
    "IN.ply, FILE, SCENE, REF and TEST may be .ply (the INRIA layout, or compressed.ply), .splat, .spz or .gsz;\n"
    "a .splat output keeps SH degree 0. Views are generated around the scene (1280x720) unless --cameras is\n"
    "given, whose views keep their own image sizes unless --size resizes them; --placement inside puts them\n"
    "inside the scene, looking across it, for indoor captures (from around, walls hide a room's contents).\n"
    "--max-bytes caps the file (2.5M, 900KiB, ...): where the preset's file is larger, settings between it\n"
    "and small or more pruning, whichever loses less on the scene.\n"
    "An input - is standard input; -o - writes to standard output (a PLY for decompress/convert) and the\n"
    "report then goes to standard error. A pipe or device is written directly, anything else through a\n"
    "temporary file renamed into place.\n";

typedef struct {
    const char *out, *cameras, *keep, *ref_cache;
    int json, quiet, threads, views, view, camera, width, height, size_set, sh, seed, palette, lattice, room;
    double background;
    gsz_compress_options co;
} args_t;

static int die(gsz_error e) {
    fprintf(stderr, "gsz: error: %s (%s)\n", gsz_getErrorDetail(), gsz_getErrorName(e));
    return 1;
}

/* An output that names the input would replace it once written (outputs are renamed into place). */
static int overwrites_input(const char *out, const char *in) {
    if (!out || !gsz_same_file(out, in)) return 0;
    fprintf(stderr, "gsz: error: %s: the output would overwrite the input %s\n", out, in);
    return 1;
}

/* Commands that write a scene write .ply, .splat or .spz; a .gsz name would get a PLY under it. */
static int scene_output_is_gsz(const char *out) {
    if (!gsz_path_has_suffix(out, ".gsz")) return 0;
    fprintf(stderr, "gsz: error: %s: this command writes .ply, .splat or .spz; 'gsz compress' writes .gsz\n", out);
    return 1;
}

static int bad_usage(const char *msg, const char *arg) {
    fprintf(stderr, "gsz: %s%s%s\n(run 'gsz --help' for usage)\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* A number in [lo, hi] (whole where whole is set): 0, else a usage error (2) that says what is allowed. */
static int num_arg(const char *opt, const char *s, double lo, double hi, int whole, double *v) {
    if (gsz_parse_number("gsz", opt, s, lo, hi, whole, v)) return 0;
    fputs("(run 'gsz --help' for usage)\n", stderr);
    return 2;
}

/* A size in bytes: a number with an optional unit, k M G (powers of 1000) or KiB MiB GiB (of 1024), a
 * B after either optional ("2.5M", "900KiB", "1200000"). 0 where it is none or under 1 byte. */
static size_t parse_bytes(const char *s) {
    char *e;
    double v = strtod(s, &e);
    static const struct { const char *unit; double f; } units[] = {
        {"", 1}, {"B", 1}, {"k", 1e3}, {"K", 1e3}, {"kB", 1e3}, {"KB", 1e3}, {"M", 1e6}, {"MB", 1e6}, {"G", 1e9}, {"GB", 1e9},
        {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
    if (e == s) return 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(e, units[i].unit)) return v * units[i].f >= 1 && v * units[i].f < 1e15 ? (size_t)(v * units[i].f) : 0;
    return 0;
}

/* Parses options; positional arguments go to pos[]. Returns 0 on success, else an exit code. */
static int parse(int argc, char **argv, args_t *a, const char **pos, int *npos, int maxpos) {
    memset(a, 0, sizeof *a);
    a->views = 0;
    a->width = 1280;
    a->height = 720;
    a->camera = -1;
    a->view = -1;
    a->sh = -1;
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
#define NEED() do { if (!v) return bad_usage("missing value for", o); i++; } while (0)
#define NUMW(lo, hi, whole) do { NEED(); int bad_ = num_arg(o, v, lo, hi, whole, &x); if (bad_) return bad_; } while (0)
#define NUM(lo, hi) NUMW(lo, hi, 0)
#define INT(lo, hi) NUMW(lo, hi, 1)
        if (!strcmp(o, "-o") || !strcmp(o, "--output")) { NEED(); a->out = v; }
        else if (!strcmp(o, "--json")) a->json = 1;
        else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) a->quiet = 1;
        else if (!strcmp(o, "-j") || !strcmp(o, "--threads")) { INT(1, 256); a->threads = (int)x; }
        else if (!strcmp(o, "--cameras")) { NEED(); a->cameras = v; }
        else if (!strcmp(o, "--keep")) { NEED(); a->keep = v; }
        else if (!strcmp(o, "--ref-cache")) { NEED(); a->ref_cache = v; }
        else if (!strcmp(o, "--views")) { INT(1, 10000); a->views = (int)x; }
        else if (!strcmp(o, "--view")) { INT(0, 1e9); a->view = (int)x; }
        else if (!strcmp(o, "--camera")) { INT(0, 1e9); a->camera = (int)x; }
        else if (!strcmp(o, "--size")) { NEED(); if (!gsz_parse_size(v, &a->width, &a->height)) return bad_usage("bad --size (WxH)", v); a->size_set = 1; }
        else if (!strcmp(o, "--sh")) { INT(0, 3); a->sh = (int)x; }
        else if (!strcmp(o, "--seed")) { INT(0, 1e9); a->seed = (int)x; }
        else if (!strcmp(o, "--palette")) { INT(1, 16777216); a->palette = (int)x; }
        else if (!strcmp(o, "--lattice")) a->lattice = 1;
        else if (!strcmp(o, "--room")) a->room = 1;
        else if (!strcmp(o, "--background")) { NUM(0, 10); a->background = x; }
        else if (!strcmp(o, "--placement")) { NEED(); if (!gsz_parse_placement(v, &a->co.placement)) return bad_usage("unknown placement (around, inside)", v); }
        else if (!strcmp(o, "--preset")) {
            NEED();
            if (!strcmp(v, "balanced")) a->co.preset = GSZ_PRESET_BALANCED;
            else if (!strcmp(v, "high")) a->co.preset = GSZ_PRESET_HIGH;
            else if (!strcmp(v, "small")) a->co.preset = GSZ_PRESET_SMALL;
            else if (!strcmp(v, "max")) a->co.preset = GSZ_PRESET_MAX;
            else return bad_usage("unknown preset (max, high, balanced, small)", v);
        } else if (!strcmp(o, "--prune")) { NUM(0, 0.99); a->co.prune = x == 0 ? -1.0f : (float)x; }
        else if (!strcmp(o, "--prune-threshold")) { NUM(0, 1e6); a->co.prune_threshold = (float)x; }
        else if (!strcmp(o, "--sh-degree")) { INT(0, 3); a->co.max_sh_degree = (int)x + 1; }
        else if (!strcmp(o, "--sh-threshold")) { NUM(0, 10); a->co.sh_threshold = x == 0 ? -1.0f : (float)x; }
        else if (!strcmp(o, "--codebook-sh")) { INT(1, 16777216); a->co.codebook_sh = (int)x; }
        else if (!strcmp(o, "--codebook-dc")) { INT(1, 16777216); a->co.codebook_dc = (int)x; }
        else if (!strcmp(o, "--codebook-geom")) { INT(1, 16777216); a->co.codebook_geom = (int)x; }
        else if (!strcmp(o, "--sh-step")) { NUM(0, 10); a->co.sh_step = x == 0 ? -1.0f : (float)x; }
        else if (!strcmp(o, "--vq-rate")) { NUM(0, 100); a->co.vq_rate = x == 0 ? -1.0f : (float)x; }
        else if (!strcmp(o, "--pos-bits")) { INT(8, 21); a->co.pos_bits = (int)x; }
        else if (!strcmp(o, "--level")) { INT(1, 22); a->co.zstd_level = (int)x; }
        else if (!strcmp(o, "--refine")) { INT(0, 100000); a->co.refine = x ? (int)x : -1; }
        else if (!strcmp(o, "--target-psnr")) { NUM(0, 200); a->co.target_psnr = x ? (float)x : -1.0f; }
        else if (!strcmp(o, "--max-bytes")) {
            NEED();
            if (!(a->co.max_bytes = parse_bytes(v))) return bad_usage("bad --max-bytes (bytes, or with k, M, G, KiB, MiB or GiB)", v);
        } else if (!strcmp(o, "--exact")) { NUM(0, 1); a->co.exact = x == 0 ? -1.0f : (float)x; }
        else if (o[0] == '-' && o[1]) return bad_usage("unknown option", o);
        else {
            if (*npos >= maxpos) return bad_usage("unexpected argument", o);
            pos[(*npos)++] = o;
        }
#undef NEED
#undef NUMW
#undef NUM
#undef INT
    }
    a->co.threads = a->threads;
    return 0;
}

/* The arguments of a command that reads one input (*in) and writes a.out: a usage error (2) without
 * both, 1 where the output would replace the input, else 0. */
static int parse_in_out(int argc, char **argv, args_t *a, const char **in, const char *usage) {
    int np, r = parse(argc, argv, a, in, &np, 1);
    if (r) return r;
    if (np != 1 || !a->out) return bad_usage(usage, NULL);
    return overwrites_input(a->out, *in);
}

/* Loads a scene; rows dropped from the input are reported even with -q (data left out is not progress). */
static gsz_error load(const char *path, gsz_scene *s, int threads, int quiet, gsz_ply_stats *stats) {
    gsz_ply_stats local, *st = stats ? stats : &local;
    gsz_error e = gsz_scene_load(path, s, threads, st);
    if (!e && st->dropped_nonfinite)
        fprintf(stderr, "gsz: warning: %s: dropped %zu of %zu rows with NaN or Inf values\n", path, st->dropped_nonfinite, st->rows_in_file);
    if (!e && st->clamped_opacity && !quiet)
        fprintf(stderr, "gsz: note: %s: %zu rows have an infinite opacity logit (opacity 0 or 1), clamped to +-20\n", path, st->clamped_opacity);
    if (!e && st->surfels && !quiet)
        fprintf(stderr, "gsz: note: %s: 2DGS surfels (two scales), read as flat 3D Gaussians\n", path);
    if (!e && st->baked_filter_3d && !quiet)
        fprintf(stderr, "gsz: note: %s: Mip-Splatting's filter_3D baked into the scales and opacities\n", path);
    if (!e && st->clamped_range)
        fprintf(stderr, "gsz: warning: %s: %zu of %zu rows have values past any that renders differently (log-scale +-%g, SH +-%g, "
                        "position +-%g), clamped\n", path, st->clamped_range, st->rows_in_file, (double)GSZ_LIMIT_LOG_SCALE,
                (double)GSZ_LIMIT_SH, (double)GSZ_LIMIT_POSITION);
    return e;
}

/* A decoded or generated scene to PLY, or by its name to .spz or .splat (which keeps only the DC colour). */
static gsz_error save(const char *path, const gsz_scene *s, int quiet) {
    if (gsz_path_is_spz(path)) return gsz_spz_write(path, s);
    if (!gsz_path_is_splat(path)) return gsz_ply_write(path, s);
    if (s->sh_degree > 0 && !quiet)
        fprintf(stderr, "gsz: note: %s: .splat has no SH bands; degree %d written as degree 0\n", path, s->sh_degree);
    return gsz_splat_write(path, s);
}

static gsz_error get_cameras(const args_t *a, const gsz_scene *ref, int default_views, gsz_camera **cams, size_t *n) {
    if (a->cameras) {
        gsz_camera *all;
        size_t na;
        gsz_error e = gsz_cameras_read(a->cameras, &all, &na);
        if (e) return e;
        if (a->views > 0 && (size_t)a->views < na) {
            for (size_t i = 0; i < (size_t)a->views; i++) all[i] = all[i * na / (size_t)a->views];
            na = (size_t)a->views;
        }
        for (size_t i = 0; a->size_set && i < na; i++) gsz_camera_resize(&all[i], a->width, a->height);
        *cams = all;
        *n = na;
        return GSZ_OK;
    }
    size_t nv = (size_t)(a->views > 0 ? a->views : default_views);
    *cams = gsz_calloc_array(nv, sizeof(gsz_camera));
    if (!*cams) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    *n = nv;
    return gsz_cameras_place(ref, a->co.placement, nv, a->width, a->height, 0, *cams);
}

/* Compresses scene s read from in, with the cameras of a->cameras when given; an error of the codec
 * names in (the cameras' name their file). Cameras that leave much of the scene unseen are named: their
 * significance would prune what they miss first. */
static gsz_error compress_scene(const args_t *a, const char *in, const gsz_scene *s, gsz_progress *pg, void **out, size_t *size, gsz_compress_stats *st) {
    gsz_compress_options co = a->co;
    gsz_camera *cams = NULL;
    size_t n = 0;
    if (a->cameras) {
        gsz_error e = gsz_cameras_read(a->cameras, &cams, &n);
        if (e) return e;
        co.cameras = cams;
        co.camera_count = n;
    }
    co.progress = gsz_progress_cb;
    co.progress_user = pg;
    gsz_error e = gsz_compress(s, &co, out, size, st);
    gsz_progress_done(pg);
    free(cams);
    if (e) return gsz_fail(e, "%s: %s", in, gsz_getErrorDetail());
    if (a->cameras && st->unseen_count * 10 > st->input_count) /* training views leave well under 1% unseen */
        fprintf(stderr, "gsz: warning: %s: %.0f%% of the Gaussians are in none of %s's views: are they this scene's cameras?\n", in,
                100.0 * (double)st->unseen_count / (double)st->input_count, a->cameras);
    return GSZ_OK;
}

/* The opening of a command's JSON report: {"input":IN,"output":OUT (no input where in is NULL). */
static void json_in_out(FILE *f, const char *in, const char *out) {
    fputc('{', f);
    if (in) { fprintf(f, "\"input\":"); gsz_json_string(f, in); fputc(',', f); }
    fprintf(f, "\"output\":");
    gsz_json_string(f, out);
}

/* "1 Gaussian", "2 Gaussians" in the reports */
static const char *gaussians(size_t n) { return n == 1 ? "Gaussian" : "Gaussians"; }

static void print_compress_stats(FILE *f, const char *in, const char *out, size_t in_bytes, const gsz_ply_stats *ps, const gsz_compress_stats *st, double secs, int json) {
    double bpg = (double)st->bytes / (double)st->input_count;
    if (json) {
        json_in_out(f, in, out ? out : "");
        if (ps) fprintf(f, ",\"input_rows\":%zu,\"dropped_nonfinite_rows\":%zu,\"clamped_opacities\":%zu,\"clamped_range_rows\":%zu", ps->rows_in_file, ps->dropped_nonfinite, ps->clamped_opacity, ps->clamped_range);
        fprintf(f, ",\"input_bytes\":%zu,\"output_bytes\":%zu,\"ratio\":%.3f,\"bytes_per_gaussian\":%.4f,"
                   "\"input_gaussians\":%zu,\"output_gaussians\":%zu,\"sh_degree\":%d,\"count_by_degree\":[%zu,%zu,%zu,%zu],"
                   "\"psnr_estimate\":%.3f,\"unseen_gaussians\":%zu,\"peak_rss_bytes\":%zu,\"seconds\":%.3f,\"seconds_significance\":%.3f,\"seconds_sh\":%.3f,\"seconds_vq\":%.3f,\"seconds_encode\":%.3f,\"seconds_refine\":%.3f,\"budget_encodes\":%d,\"budget_level\":%.4f,\"budget_prune\":%.4f,\"lattice\":%s,\"views_inside\":%s,\"sections\":{",
                in_bytes, st->bytes, (double)in_bytes / (double)st->bytes, bpg, st->input_count, st->output_count, st->sh_degree,
                st->count_by_degree[0], st->count_by_degree[1], st->count_by_degree[2], st->count_by_degree[3], st->psnr_estimate, st->unseen_count, gsz_peak_rss_bytes(), secs,
                st->seconds_significance, st->seconds_sh, st->seconds_vq, st->seconds_encode, st->seconds_refine, st->budget_encodes, st->budget_level, st->budget_prune, st->lattice ? "true" : "false", st->views_inside ? "true" : "false");
        int first = 1;
        for (int t = 1; t < 32; t++)
            if (st->section_bytes[t]) { fprintf(f, "%s\"%s\":%zu", first ? "" : ",", gsz_section_name((uint32_t)t), st->section_bytes[t]); first = 0; }
        fprintf(f, "}}");
        return;
    }
    fprintf(f, "%s -> %s: %zu -> %zu bytes (%.1fx, %.2f B/Gaussian), %zu -> %zu %s, SH degree by Gaussian [0:%zu 1:%zu 2:%zu 3:%zu], %.2f s\n",
            in, out ? out : "(memory)", in_bytes, st->bytes, (double)in_bytes / (double)st->bytes, bpg, st->input_count, st->output_count,
            gaussians(st->output_count), st->count_by_degree[0], st->count_by_degree[1], st->count_by_degree[2], st->count_by_degree[3], secs);
    fprintf(f, "  stages: significance %.2f s, SH %.2f s, VQ %.2f s, entropy %.2f s, fine-tuning %.2f s\n", st->seconds_significance,
            st->seconds_sh, st->seconds_vq, st->seconds_encode, st->seconds_refine);
    if (st->psnr_estimate > 0)
        fprintf(f, "  target pruning: %.2f dB on gsz compare's%s views (estimate)\n", st->psnr_estimate, st->views_inside ? " --placement inside" : "");
    else if (st->views_inside) fprintf(f, "  views: generated inside the scene (--placement inside)\n");
    if (st->budget_encodes > 1) {
        static const char *names[] = {"small", "balanced", "high", "max"};
        double l = st->budget_level;
        if (l <= 0 || l == floor(l))
            fprintf(f, "  --max-bytes: %s's settings, %.1f%% pruned up front (%d encodes)\n", names[l <= 0 ? 0 : (int)l], 100.0 * st->budget_prune, st->budget_encodes);
        else
            fprintf(f, "  --max-bytes: settings between %s and %s (%.2f), %.1f%% pruned up front (%d encodes)\n", names[(int)l], names[(int)l + 1],
                    l - floor(l), 100.0 * st->budget_prune, st->budget_encodes);
    }
    if (st->lattice) fprintf(f, "  compressed.ply's lattice kept exactly (the input was decoded from that format)\n");
}

static size_t file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n < 0 ? 0 : (size_t)n;
}

/* Where a command reports: standard error when its output goes to standard output (-o -, -o /dev/stdout),
 * so that the report does not run into the data. */
static FILE *report_stream(const char *out) { return gsz_path_is_stdout(out) ? stderr : stdout; }

/* The report of a command that wrote a scene: a line, or with --json one object (input NULL: none);
 * what: "" or an adjective before "Gaussians". */
static void report_scene(const args_t *a, const char *in, const char *what, size_t count, int sh_degree, double secs) {
    if (a->quiet && !a->json) return;
    FILE *f = report_stream(a->out);
    const char *fmt = gsz_path_is_spz(a->out) ? "spz" : gsz_path_is_splat(a->out) ? "splat" : "ply";
    if (!a->json) {
        if (in) fprintf(f, "%s -> %s: %zu %s%s, SH degree %d\n", in, a->out, count, what, gaussians(count), sh_degree);
        else fprintf(f, "%s: %zu %s%s, SH degree %d\n", a->out, count, what, gaussians(count), sh_degree);
        return;
    }
    json_in_out(f, in, a->out);
    fprintf(f, ",\"format\":\"%s\",\"gaussians\":%zu,\"sh_degree\":%d,\"seconds\":%.3f}\n", fmt, count, sh_degree, secs);
}

static int cmd_compress(int argc, char **argv) {
    args_t a;
    const char *in;
    int r = parse_in_out(argc, argv, &a, &in, "compress needs IN.ply and -o OUT.gsz");
    if (r) return r;
    a.co.views = a.views;
    double t0 = gsz_now();
    gsz_scene s;
    gsz_ply_stats ps;
    gsz_error e = load(in, &s, a.threads, a.quiet, &ps);
    if (e) return die(e);
    gsz_progress pg;
    gsz_progress_init(&pg, a.quiet || a.json);
    void *data;
    size_t size;
    gsz_compress_stats st;
    e = compress_scene(&a, in, &s, &pg, &data, &size, &st);
    gsz_scene_free(&s);
    if (e) return die(e);
    e = gsz_write_file(a.out, data, size);
    free(data);
    if (e) return die(e);
    FILE *rep = report_stream(a.out);
    if (!a.quiet || a.json) print_compress_stats(rep, in, a.out, ps.stream_bytes ? ps.stream_bytes : file_size(in), &ps, &st, gsz_now() - t0, a.json);
    if (a.json) fputc('\n', rep);
    return 0;
}

/* A .gsz decoded into *s, timed (seconds into td): to floats (what a PLY needs); with all, then
 * separately to the indexed form (what gszview uploads, ti) and once more into the scene already decoded
 * (gsz_decompress_into, tw: what a caller that keeps its buffers between files pays, without the kernel
 * clearing fresh pages). With the fixed mmap threshold (main) every large array of the first two is
 * fresh memory, so the second is not flattered by pages the first faulted in. *s is freed on error. */
static gsz_error decode_timed(const void *data, size_t size, int threads, int all, gsz_scene *s, double *td, double *ti, double *tw) {
    double t0 = gsz_now();
    gsz_error e = gsz_decompress(data, size, s, threads);
    *td = gsz_now() - t0;
    if (e || !all) return e;
    gsz_indexed x;
    t0 = gsz_now();
    e = gsz_decode_indexed(data, size, threads, &x);
    *ti = gsz_now() - t0;
    if (e) { gsz_scene_free(s); return e; }
    gsz_indexed_free(&x);
    t0 = gsz_now();
    e = gsz_decompress_into(data, size, s, threads);
    *tw = gsz_now() - t0;
    return e;
}

static int cmd_decompress(int argc, char **argv) {
    args_t a;
    const char *in;
    int r = parse_in_out(argc, argv, &a, &in, "decompress needs IN.gsz and -o OUT.ply");
    if (r) return r;
    if (scene_output_is_gsz(a.out)) return 1;
    void *data;
    size_t size;
    gsz_error e = gsz_read_file(in, &data, &size);
    if (e) return die(e);
    gsz_scene s = {0};
    double td, ti = 0, tw = 0;
    e = decode_timed(data, size, a.threads, a.json || !a.quiet, &s, &td, &ti, &tw); /* the other timings where reported */
    free(data);
    if (e) { gsz_fail(e, "%s: %s", in, gsz_getErrorDetail()); return die(e); }
    e = save(a.out, &s, a.quiet || a.json);
    if (e) { gsz_scene_free(&s); return die(e); }
    FILE *rep = report_stream(a.out);
    if (a.json) {
        json_in_out(rep, in, a.out);
        fprintf(rep, ",\"gaussians\":%zu,\"sh_degree\":%d,\"decode_seconds\":%.4f,\"gaussians_per_second\":%.0f,"
               "\"decode_indexed_seconds\":%.4f,\"indexed_gaussians_per_second\":%.0f,\"decode_into_seconds\":%.4f,"
               "\"into_gaussians_per_second\":%.0f}\n",
               s.count, s.sh_degree, td, (double)s.count / td, ti, (double)s.count / ti, tw, (double)s.count / tw);
    } else if (!a.quiet)
        fprintf(rep, "%s -> %s: %zu %s, SH degree %d, decoded in %.3f s (%.1f M Gaussians/s; %.1f M/s to the indexed form, "
               "%.1f M/s into a kept scene)\n", in, a.out, s.count, gaussians(s.count), s.sh_degree, td, (double)s.count / td / 1e6,
               (double)s.count / ti / 1e6, (double)s.count / tw / 1e6);
    gsz_scene_free(&s);
    return 0;
}

static void attr_stats(FILE *f, const char *name, const float *v, size_t n, int stride, int comps, int json, int *first) {
    for (int c = 0; n && c < comps; c++) { /* none without Gaussians (JSON has no infinities) */
        double lo = INFINITY, hi = -INFINITY, mean = 0;
        for (size_t i = 0; i < n; i++) {
            double x = v[i * (size_t)stride + (size_t)c];
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
            mean += x;
        }
        mean = n ? mean / (double)n : 0;
        if (json) fprintf(f, "%s\"%s_%d\":{\"min\":%.6g,\"mean\":%.6g,\"max\":%.6g}", *first ? "" : ",", name, c, lo, mean, hi);
        else fprintf(f, "  %-10s[%d] min %12.5g  mean %12.5g  max %12.5g\n", name, c, lo, mean, hi);
        *first = 0;
    }
}

/* What info's statistics read of a .gsz (positions, log-scales, rotations, opacity logits, SH DC),
 * from the indexed decode: no SH rest floats (a 1M SH3 file: 56 bytes a Gaussian instead of 248). */
static gsz_error info_scene(const void *data, size_t size, int threads, gsz_scene *s) {
    gsz_indexed x;
    gsz_error e = gsz_decode_indexed(data, size, threads, &x);
    if (e) return e;
    if (!(e = gsz_scene_alloc(s, x.count, 0))) {
        gsz_indexed_gather(&x, s);
        s->sh_degree = x.sh_degree; /* for the header line; the SH rest is not held */
    }
    gsz_indexed_free(&x);
    return e;
}

static int cmd_info(int argc, char **argv) {
    args_t a;
    const char *pos[1];
    int np, r = parse(argc, argv, &a, pos, &np, 1);
    if (r) return r;
    if (np != 1) return bad_usage("info needs one FILE", NULL);
    /* a .gsz, standard input or a pipe read once (its format from its first bytes) */
    void *held;
    size_t hsize;
    gsz_format hf;
    gsz_error e = gsz_input_read(pos[0], &held, &hsize, &hf);
    if (e) return die(e);
    size_t fbytes = held ? hsize : file_size(pos[0]);
    int is_gsz = hf == GSZ_FORMAT_GSZ, is_splat = hf == GSZ_FORMAT_SPLAT, is_spz = hf == GSZ_FORMAT_SPZ;
    const char *name = gsz_input_name(pos[0]);
    gsz_file_info fi;
    memset(&fi, 0, sizeof fi);
    gsz_scene s;
    if (is_gsz) {
        e = gsz_file_inspect(held, hsize, &fi);
        if (!e) e = info_scene(held, hsize, a.threads, &s);
        free(held);
        if (e) { gsz_fail(e, "%s: %s", name, gsz_getErrorDetail()); return die(e); }
    } else {
        e = held ? gsz_scene_load_memory(held, hsize, name, a.threads, &s, NULL) : load(pos[0], &s, a.threads, a.quiet, NULL);
        free(held);
        if (e) return die(e);
    }
    float lo[3], hi[3];
    gsz_scene_bounds(&s, lo, hi);
    float *op = gsz_malloc_array(s.count, sizeof(float));
    for (size_t i = 0; op && i < s.count; i++) op[i] = gsz_sigmoid(s.opacity[i]);
    int first = 1;
    const char *format = is_gsz ? "gsz" : is_splat ? "splat" : is_spz ? "spz" : "ply";
    if (a.json) {
        printf("{\"file\":");
        gsz_json_string(stdout, pos[0]);
        printf(",\"format\":\"%s\",\"bytes\":%zu,\"gaussians\":%zu,\"sh_degree\":%d,\"bytes_per_gaussian\":%.4f,"
               "\"bounds\":",
               format, fbytes, s.count, s.sh_degree, s.count ? (double)fbytes / (double)s.count : 0.0);
        if (s.count) printf("{\"min\":[%g,%g,%g],\"max\":[%g,%g,%g]}", lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
        else printf("null");
        printf(",\"attributes\":{");
    } else {
        printf("%s: %s%s, %zu bytes, %zu %s, SH degree %d, %.2f bytes/Gaussian\n", pos[0], is_gsz || is_splat || is_spz ? "." : "",
               is_gsz || is_splat || is_spz ? format : "PLY", fbytes, s.count, gaussians(s.count),
               s.sh_degree, s.count ? (double)fbytes / (double)s.count : 0.0);
        if (s.count) printf("  bounds  min (%g, %g, %g)  max (%g, %g, %g)\n", lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
    }
    attr_stats(stdout, "position", s.pos, s.count, 3, 3, a.json, &first);
    attr_stats(stdout, "log_scale", s.scale, s.count, 3, 3, a.json, &first);
    attr_stats(stdout, "rotation", s.rot, s.count, 4, 4, a.json, &first);
    if (op) attr_stats(stdout, "opacity", op, s.count, 1, 1, a.json, &first);
    attr_stats(stdout, "sh_dc", s.sh_dc, s.count, 3, 3, a.json, &first);
    if (a.json) printf("}");
    if (is_gsz) {
        int lattice = 0; /* positions and opacities then come from the lattice: the header's bits do not apply */
        for (size_t i = 0; i < fi.section_count; i++) lattice |= fi.sections[i].type == GSZ_SEC_LAT_RANGES;
        if (a.json && lattice) printf(",\"lattice\":true");
        else if (a.json) printf(",\"lattice\":false,\"pos_bits\":%d,\"opacity_bits\":%d", fi.pos_bits, fi.opacity_bits);
        else if (lattice) printf("  quantisation: compressed.ply's chunk lattice, kept as the input had it\n");
        else printf("  quantisation: positions %d bits per axis, opacity %d bits\n", fi.pos_bits, fi.opacity_bits);
        if (fi.warp_radius > 0) {
            if (a.json) printf(",\"warp\":{\"center\":[%g,%g,%g],\"radius\":%g}", fi.warp_center[0], fi.warp_center[1], fi.warp_center[2], fi.warp_radius);
            else printf("  unbounded scene: positions on a grid warped around (%g, %g, %g), radius %g\n", fi.warp_center[0], fi.warp_center[1],
                        fi.warp_center[2], fi.warp_radius);
        }
        if (a.json) printf(",\"count_by_degree\":[%llu,%llu,%llu,%llu],\"sections\":[", (unsigned long long)fi.count_by_degree[0],
                           (unsigned long long)fi.count_by_degree[1], (unsigned long long)fi.count_by_degree[2], (unsigned long long)fi.count_by_degree[3]);
        else printf("  Gaussians by kept SH degree: 0:%llu 1:%llu 2:%llu 3:%llu\n  %-20s %12s %12s %10s\n", (unsigned long long)fi.count_by_degree[0],
                    (unsigned long long)fi.count_by_degree[1], (unsigned long long)fi.count_by_degree[2], (unsigned long long)fi.count_by_degree[3],
                    "section", "raw bytes", "stored", "bits/G");
        for (size_t i = 0; i < fi.section_count; i++) {
            const gsz_section_info *si = &fi.sections[i];
            double bits = fi.count ? 8.0 * (double)si->stored_size / (double)fi.count : 0;
            if (a.json) printf("%s{\"name\":\"%s\",\"raw_bytes\":%llu,\"stored_bytes\":%llu,\"bits_per_gaussian\":%.3f}", i ? "," : "", si->name,
                               (unsigned long long)si->raw_size, (unsigned long long)si->stored_size, bits);
            else printf("  %-20s %12llu %12llu %10.3f\n", si->name, (unsigned long long)si->raw_size, (unsigned long long)si->stored_size, bits);
        }
        if (a.json) printf("]");
    }
    if (a.json) printf("}\n");
    free(op);
    gsz_scene_free(&s);
    return 0;
}

static int cmd_render(int argc, char **argv) {
    args_t a;
    const char *in;
    int r = parse_in_out(argc, argv, &a, &in, "render needs SCENE and -o OUT.png");
    if (r) return r;
    gsz_scene s;
    gsz_error e = load(in, &s, a.threads, a.quiet, NULL);
    if (e) return die(e);
    gsz_camera *cams = NULL;
    size_t n = 0;
    /* with --cameras, --view names a camera too (as in gszview) */
    int idx = a.cameras && a.camera >= 0 ? a.camera : a.view < 0 ? 0 : a.view;
    if (!a.cameras && a.views == 0) a.views = 24;
    e = get_cameras(&a, &s, 24, &cams, &n);
    if (!e && (size_t)idx >= n) {
        if (a.cameras) e = gsz_fail(GSZ_ERROR_argument, "camera %d out of range: %s has %zu camera%s", idx, a.cameras, n, n == 1 ? "" : "s");
        else e = gsz_fail(GSZ_ERROR_argument, "view %d out of range (%zu generated views)", idx, n);
    }
    float *img = NULL;
    if (!e) {
        img = gsz_malloc_array((size_t)cams[idx].width * (size_t)cams[idx].height, 3 * sizeof(float));
        if (!img) e = gsz_fail(GSZ_ERROR_memory, "out of memory");
    }
    gsz_render_options ro = {0};
    ro.threads = a.threads;
    double t0 = gsz_now();
    if (!e) e = gsz_render(&s, &cams[idx], &ro, img);
    double tr = gsz_now() - t0;
    if (!e) e = gsz_png_write(a.out, img, cams[idx].width, cams[idx].height);
    FILE *rep = report_stream(a.out);
    if (!e && a.json) {
        json_in_out(rep, in, a.out);
        fprintf(rep, ",\"camera\":");
        gsz_json_string(rep, cams[idx].name);
        fprintf(rep, ",\"view\":%d,\"width\":%d,\"height\":%d,\"render_seconds\":%.4f}\n", idx, cams[idx].width, cams[idx].height, tr);
    } else if (!e && !a.quiet) fprintf(rep, "%s: view %d (%dx%d) rendered in %.3f s -> %s\n", in, idx, cams[idx].width, cams[idx].height, tr, a.out);
    free(img);
    free(cams);
    gsz_scene_free(&s);
    return e ? die(e) : 0;
}

typedef struct { double psnr, ssim; } fidelity;

/* Reference renders cached as half floats (precision floor ~70 dB), keyed by the camera: benchmarks
 * compare many encodings against the same reference and need render it only once. */
static uint64_t camera_key(const gsz_camera *c) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)c;
    for (size_t i = 0; i < offsetof(gsz_camera, name); i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int cache_load(const char *dir, size_t view, const gsz_camera *c, float *img) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ref%04zu.f16", dir, view);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint64_t hdr[2];
    size_t n = (size_t)c->width * (size_t)c->height * 3;
    uint16_t *h = malloc(n * 2);
    int ok = h && fread(hdr, 8, 2, f) == 2 && hdr[0] == camera_key(c) && hdr[1] == n && fread(h, 2, n, f) == n;
    fclose(f);
    if (ok)
        for (size_t i = 0; i < n; i++) img[i] = gsz_half_to_float(h[i]);
    free(h);
    return ok;
}

static void cache_store(const char *dir, size_t view, const gsz_camera *c, const float *img) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ref%04zu.f16", dir, view);
    size_t n = (size_t)c->width * (size_t)c->height * 3;
    uint8_t *buf = malloc(16 + n * 2);
    if (!buf) return;
    uint64_t hdr[2] = {camera_key(c), n};
    memcpy(buf, hdr, 16);
    for (size_t i = 0; i < n; i++) {
        uint16_t v = gsz_float_to_half(img[i]);
        memcpy(buf + 16 + 2 * i, &v, 2);
    }
    gsz_write_file(path, buf, 16 + n * 2); /* best effort */
    free(buf);
}

/* Renders both scenes from the cameras; per-view and mean PSNR/SSIM. */
static gsz_error compare_scenes(const gsz_scene *ref, const gsz_scene *test, const gsz_camera *cams, size_t n, int threads,
                                const char *cache, gsz_progress *pg, fidelity *per_view, fidelity *mean) {
    size_t maxpx = 0;
    for (size_t i = 0; i < n; i++) maxpx = GSZ_MAX(maxpx, (size_t)cams[i].width * (size_t)cams[i].height);
    float *ia = gsz_malloc_array(maxpx, 3 * sizeof(float)), *ib = gsz_malloc_array(maxpx, 3 * sizeof(float));
    if (!ia || !ib) { free(ia); free(ib); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    gsz_render_options ro = {0};
    ro.threads = threads;
    ro.workspace = gsz_render_workspace_create(); /* NULL: per-render buffers */
    mean->psnr = mean->ssim = 0;
    gsz_error e = GSZ_OK;
    for (size_t i = 0; i < n && !e; i++) {
        if (!cache || !cache_load(cache, i, &cams[i], ia)) {
            e = gsz_render(ref, &cams[i], &ro, ia);
            if (!e && cache) {
                cache_store(cache, i, &cams[i], ia);
                cache_load(cache, i, &cams[i], ia); /* compare against exactly what later runs will read */
            }
        }
        if (!e) e = gsz_render(test, &cams[i], &ro, ib);
        if (e) break;
        size_t px = (size_t)cams[i].width * (size_t)cams[i].height;
        per_view[i].psnr = gsz_psnr(ia, ib, px * 3);
        per_view[i].ssim = gsz_ssim(ia, ib, cams[i].width, cams[i].height);
        mean->psnr += per_view[i].psnr;
        mean->ssim += per_view[i].ssim;
        gsz_progress_cb(pg, "compare", (double)(i + 1) / (double)n);
    }
    gsz_progress_done(pg);
    mean->psnr /= (double)n;
    mean->ssim /= (double)n;
    gsz_render_workspace_free(ro.workspace);
    free(ia);
    free(ib);
    return e;
}

/* A PSNR in dB; identical images give infinity, which JSON has no number for: the string "inf". */
static void print_db(FILE *f, double v, int json) {
    if (isinf(v)) fprintf(f, "%s", json ? "\"inf\"" : "inf");
    else fprintf(f, "%.3f", v);
}

static void print_fidelity(const char *ref, const char *test, const gsz_camera *cams, const fidelity *pv, size_t n, fidelity mean, int json) {
    if (json) {
        printf("{\"reference\":");
        gsz_json_string(stdout, ref);
        printf(",\"test\":");
        gsz_json_string(stdout, test);
        printf(",\"views\":[");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"camera\":", i ? "," : "");
            gsz_json_string(stdout, cams[i].name);
            printf(",\"width\":%d,\"height\":%d,\"psnr\":", cams[i].width, cams[i].height);
            print_db(stdout, pv[i].psnr, 1);
            printf(",\"ssim\":%.6f}", pv[i].ssim);
        }
        printf("],\"mean_psnr\":");
        print_db(stdout, mean.psnr, 1);
        printf(",\"mean_ssim\":%.6f}\n", mean.ssim);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        printf("  %-16s PSNR ", cams[i].name);
        print_db(stdout, pv[i].psnr, 0);
        printf(" dB  SSIM %.5f\n", pv[i].ssim);
    }
    printf("mean over %zu views (%dx%d): PSNR ", n, cams[0].width, cams[0].height);
    print_db(stdout, mean.psnr, 0);
    printf(" dB  SSIM %.5f\n", mean.ssim);
}

static int cmd_compare(int argc, char **argv) {
    args_t a;
    const char *pos[2];
    int np, r = parse(argc, argv, &a, pos, &np, 2);
    if (r) return r;
    if (np != 2) return bad_usage("compare needs REF and TEST", NULL);
    gsz_scene ref, test;
    gsz_error e = load(pos[0], &ref, a.threads, a.quiet, NULL);
    if (e) return die(e);
    e = load(pos[1], &test, a.threads, a.quiet, NULL);
    if (e) { gsz_scene_free(&ref); return die(e); }
    gsz_camera *cams = NULL;
    size_t n = 0;
    e = get_cameras(&a, &ref, 24, &cams, &n);
    fidelity *pv = e ? NULL : gsz_calloc_array(n, sizeof *pv), mean = {0, 0};
    if (!e && !pv) e = gsz_fail(GSZ_ERROR_memory, "out of memory");
    gsz_progress pg;
    gsz_progress_init(&pg, a.quiet || a.json);
    if (!e) e = compare_scenes(&ref, &test, cams, n, a.threads, a.ref_cache, &pg, pv, &mean);
    if (!e) print_fidelity(pos[0], pos[1], cams, pv, n, mean, a.json);
    free(pv);
    free(cams);
    gsz_scene_free(&ref);
    gsz_scene_free(&test);
    return e ? die(e) : 0;
}

/* compress -> decompress -> compare, in memory: the numbers a user picks a format by. */
static int cmd_bench(int argc, char **argv) {
    args_t a;
    const char *pos[1];
    int np, r = parse(argc, argv, &a, pos, &np, 1);
    if (r) return r;
    if (np != 1) return bad_usage("bench needs IN.ply", NULL);
    if (overwrites_input(a.keep, pos[0])) return 1;
    gsz_scene s;
    gsz_ply_stats ps;
    double t0 = gsz_now();
    gsz_error e = load(pos[0], &s, a.threads, a.quiet, &ps);
    if (e) return die(e);
    double t_load = gsz_now() - t0;
    gsz_progress pg;
    gsz_progress_init(&pg, a.quiet || a.json);
    void *data;
    size_t size;
    gsz_compress_stats st;
    t0 = gsz_now();
    /* bench compares against generated views; --cameras feeds significance only */
    e = compress_scene(&a, pos[0], &s, &pg, &data, &size, &st);
    double t_enc = gsz_now() - t0;
    if (e) { gsz_scene_free(&s); return die(e); }
    if (a.keep && (e = gsz_write_file(a.keep, data, size))) { free(data); gsz_scene_free(&s); return die(e); }
    gsz_scene d = {0};
    double t_dec, t_idx = 0, t_into = 0;
    e = decode_timed(data, size, a.threads, 1, &d, &t_dec, &t_idx, &t_into);
    free(data);
    if (e) { gsz_scene_free(&s); return die(e); }
    args_t va = a;
    va.cameras = NULL;
    gsz_camera *cams = NULL;
    size_t n = 0;
    e = get_cameras(&va, &s, 24, &cams, &n);
    fidelity *pv = e ? NULL : gsz_calloc_array(n, sizeof *pv), mean = {0, 0};
    if (!e && !pv) e = gsz_fail(GSZ_ERROR_memory, "out of memory");
    if (!e) e = compare_scenes(&s, &d, cams, n, a.threads, a.ref_cache, &pg, pv, &mean);
    if (!e) {
        size_t in_bytes = ps.stream_bytes ? ps.stream_bytes : file_size(pos[0]);
        if (a.json) {
            printf("{\"compress\":");
            print_compress_stats(stdout, pos[0], a.keep, in_bytes, &ps, &st, t_enc, 1);
            printf(",\"load_seconds\":%.3f,\"decode_seconds\":%.4f,\"decode_gaussians_per_second\":%.0f,\"decode_indexed_seconds\":%.4f,"
                   "\"decode_into_seconds\":%.4f,\"views\":%zu,\"width\":%d,\"height\":%d,\"psnr\":",
                   t_load, t_dec, (double)d.count / t_dec, t_idx, t_into, n, cams[0].width, cams[0].height);
            print_db(stdout, mean.psnr, 1);
            printf(",\"ssim\":%.6f}\n", mean.ssim);
        } else {
            print_compress_stats(stdout, pos[0], a.keep, in_bytes, &ps, &st, t_enc, 0);
            printf("  decode %.3f s (%.1f M Gaussians/s; %.1f M/s to the indexed form, %.1f M/s into a kept scene)\n", t_dec,
                   (double)d.count / t_dec / 1e6, (double)d.count / t_idx / 1e6, (double)d.count / t_into / 1e6);
            printf("  fidelity over %zu %s views at %dx%d: PSNR ", n, a.cameras ? "camera" : a.co.placement == GSZ_PLACEMENT_INSIDE ? "generated inside" : "generated",
                   cams[0].width, cams[0].height);
            print_db(stdout, mean.psnr, 0);
            printf(" dB, SSIM %.5f\n", mean.ssim);
        }
    }
    free(pv);
    free(cams);
    gsz_scene_free(&d);
    gsz_scene_free(&s);
    return e ? die(e) : 0;
}

/* Any scene the loader reads (.ply, compressed.ply, .splat, .spz, .gsz) to .ply, .splat or .spz. */
static int cmd_convert(int argc, char **argv) {
    args_t a;
    const char *in;
    int r = parse_in_out(argc, argv, &a, &in, "convert needs IN and -o OUT.ply|OUT.splat|OUT.spz");
    if (r) return r;
    if (scene_output_is_gsz(a.out)) return 1;
    gsz_scene s;
    double t0 = gsz_now();
    gsz_error e = load(in, &s, a.threads, a.quiet, NULL);
    if (e) return die(e);
    e = save(a.out, &s, a.quiet || a.json);
    if (!e) report_scene(&a, in, "", s.count, gsz_path_is_splat(a.out) ? 0 : s.sh_degree, gsz_now() - t0);
    gsz_scene_free(&s);
    return e ? die(e) : 0;
}

static int cmd_synth(int argc, char **argv) {
    args_t a;
    const char *pos[1];
    int np, r = parse(argc, argv, &a, pos, &np, 1);
    if (r) return r;
    double cnt;
    if (np != 1 || !a.out) return bad_usage("synth needs COUNT and -o OUT.ply", NULL);
    if ((r = num_arg("COUNT", pos[0], 1, 1e9, 1, &cnt))) return r;
    if (scene_output_is_gsz(a.out)) return 1;
    gsz_scene s;
    double t0 = gsz_now();
    if (a.room && a.background > 0) return bad_usage("--room and --background are two kinds of scene", NULL);
    gsz_error e = (a.room ? gsz_synth_room : gsz_synth_scene)((size_t)cnt, a.sh < 0 ? 3 : a.sh, (uint64_t)a.seed, &s);
    if (!e && a.background > 0) e = gsz_synth_background(&s, (size_t)(a.background * cnt), (uint64_t)a.seed);
    if (!e && a.palette) e = gsz_synth_palettize(&s, (size_t)a.palette, (uint64_t)a.seed);
    if (!e && a.lattice) gsz_lattice_quantise(&s); /* as if decoded from compressed.ply */
    if (!e) e = save(a.out, &s, a.quiet || a.json);
    if (!e) report_scene(&a, NULL, "synthetic ", s.count, gsz_path_is_splat(a.out) ? 0 : s.sh_degree, gsz_now() - t0);
    gsz_scene_free(&s);
    return e ? die(e) : 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { puts("gsz " GSZ_VERSION_STRING); return 0; }
#ifdef M_MMAP_THRESHOLD
    /* Arrays of 1 MB and more get pages of their own, returned when freed: glibc's adaptive threshold
     * otherwise moves them into the heap after the first free, where the encoder's stages leave it
     * fragmented (playbot-trained small peaked at 71-87 MB from run to run, now 64; playbot balanced
     * 250 -> 222 MB, encode +2%; docs/BENCHMARKS.md) */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    gsz_cli_catch_interrupts();
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"compress", cmd_compress}, {"decompress", cmd_decompress}, {"info", cmd_info}, {"render", cmd_render},
        {"compare", cmd_compare}, {"bench", cmd_bench}, {"synth", cmd_synth}, {"convert", cmd_convert}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 2, argv + 2);
    return bad_usage("unknown command", argv[1]);
}
