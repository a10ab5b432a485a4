/* PLY reader and writer for 3DGS scenes.
 * Reader: binary little/big endian and ASCII, properties in any order and of any scalar type,
 * other elements skipped, header checked against the file size before anything is allocated; also
 * PlayCanvas's compressed.ply (chunk-quantised, as SuperSplat saves).
 * Writer: the exact INRIA layout that SIBR, SuperSplat and splat-transform read. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"
#include "../codec/codec.h" /* compressed.ply: its lattice (lattice.c) */

#include <errno.h>
#include <string.h>
#include <strings.h> /* strcasecmp */

enum { T_NONE, T_I8, T_U8, T_I16, T_U16, T_I32, T_U32, T_F32, T_F64 };
static const int type_size[] = {0, 1, 1, 2, 2, 4, 4, 4, 8};
enum { FMT_ASCII, FMT_LE, FMT_BE };

#define MAX_PROPS 256
#define MAX_ELEMS 16
/* Destination slots of a row: 0-2 pos, 3-5 dc, 6-50 rest (file order), 51 opacity, 52-54 scale, 55-58 rot. */
enum { S_POS = 0, S_DC = 3, S_REST = 6, S_OPA = 51, S_SCALE = 52, S_ROT = 55, S_FILTER = 59, S_COUNT = 60 };

typedef struct {
    char name[48];
    int type, list_count_type; /* list_count_type != T_NONE for list properties */
    int slot;                  /* -1 = ignored */
} ply_prop;

typedef struct {
    char name[48];
    uint64_t count;
    int nprops, has_list;
    size_t stride;
    ply_prop props[MAX_PROPS];
} ply_elem;

typedef struct {
    int format;
    int nelems, vertex;
    ply_elem elems[MAX_ELEMS];
    size_t header_len;
} ply_header;

/* Byte source over a FILE or a memory block, buffered. */
typedef struct {
    FILE *f;
    const uint8_t *mem;
    uint64_t size, pos; /* total bytes and current offset */
    uint8_t *buf;
    size_t buf_cap, buf_len, buf_pos;
} ply_src;

static uint64_t src_left(const ply_src *s) { return s->size - s->pos; }

/* Returns a pointer to n contiguous bytes, or NULL at end of data. */
static const uint8_t *src_get(ply_src *s, size_t n) {
    if (n > src_left(s)) return NULL;
    if (s->mem) {
        const uint8_t *p = s->mem + s->pos;
        s->pos += n;
        return p;
    }
    if (s->buf_len - s->buf_pos < n) {
        size_t keep = s->buf_len - s->buf_pos;
        if (n > s->buf_cap) {
            uint8_t *nb = malloc(n);
            if (!nb) return NULL;
            memcpy(nb, s->buf + s->buf_pos, keep);
            free(s->buf);
            s->buf = nb;
            s->buf_cap = n;
        } else memmove(s->buf, s->buf + s->buf_pos, keep);
        s->buf_pos = 0;
        s->buf_len = keep;
        s->buf_len += fread(s->buf + keep, 1, s->buf_cap - keep, s->f);
        if (s->buf_len < n) return NULL;
    }
    const uint8_t *p = s->buf + s->buf_pos;
    s->buf_pos += n;
    s->pos += n;
    return p;
}

static int parse_type(const char *t) {
    static const struct { const char *n; int t; } map[] = {
        {"char", T_I8}, {"int8", T_I8}, {"uchar", T_U8}, {"uint8", T_U8}, {"short", T_I16}, {"int16", T_I16},
        {"ushort", T_U16}, {"uint16", T_U16}, {"int", T_I32}, {"int32", T_I32}, {"uint", T_U32}, {"uint32", T_U32},
        {"float", T_F32}, {"float32", T_F32}, {"double", T_F64}, {"float64", T_F64}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(t, map[i].n)) return map[i].t;
    return T_NONE;
}

static int slot_of(const char *n) {
    static const char *fixed[] = {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(n, fixed[i])) return i;
    if (!strcmp(n, "opacity")) return S_OPA;
    if (!strcasecmp(n, "filter_3D")) return S_FILTER; /* Mip-Splatting's 3D smoothing filter (and its descendants') */
    if (!strncmp(n, "scale_", 6) && n[6] >= '0' && n[6] <= '2' && !n[7]) return S_SCALE + n[6] - '0';
    if (!strncmp(n, "rot_", 4) && n[4] >= '0' && n[4] <= '3' && !n[5]) return S_ROT + n[4] - '0';
    if (!strncmp(n, "f_rest_", 7) && n[7]) {
        char *end;
        long k = strtol(n + 7, &end, 10);
        if (!*end && k >= 0 && k < 45 && (k == 0 || n[7] != '0')) return S_REST + (int)k;
        return -2; /* f_rest index we cannot hold */
    }
    return -1;
}

/* Parses the header at the start of data (size bytes available). */
static gsz_error parse_header(const char *name, const char *data, size_t size, ply_header *h) {
    memset(h, 0, sizeof *h);
    h->vertex = -1;
    h->format = -1;
    if (size < 4 || memcmp(data, "ply", 3) != 0 || (data[3] != '\n' && data[3] != '\r'))
        return gsz_fail(GSZ_ERROR_format, "%s: not a PLY file (missing 'ply' magic)", name);
    size_t pos = 0;
    int line_no = 0, ended = 0;
    char line[512];
    while (pos < size) {
        size_t e = pos;
        while (e < size && data[e] != '\n') e++;
        if (e >= size) break;
        size_t len = e - pos;
        if (len && data[pos + len - 1] == '\r') len--;
        line_no++;
        if (len >= sizeof line) return gsz_fail(GSZ_ERROR_format, "%s: header line %d too long", name, line_no);
        memcpy(line, data + pos, len);
        line[len] = 0;
        pos = e + 1;
        char *tok[8];
        int nt = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \t", &save); t && nt < 8; t = strtok_r(NULL, " \t", &save)) tok[nt++] = t;
        if (nt == 0) continue;
        if (line_no == 1) continue; /* "ply" */
        if (!strcmp(tok[0], "comment") || !strcmp(tok[0], "obj_info")) continue;
        if (!strcmp(tok[0], "end_header")) { ended = 1; break; }
        if (!strcmp(tok[0], "format")) {
            if (nt < 3) return gsz_fail(GSZ_ERROR_format, "%s: header line %d: bad format line", name, line_no);
            if (!strcmp(tok[1], "ascii")) h->format = FMT_ASCII;
            else if (!strcmp(tok[1], "binary_little_endian")) h->format = FMT_LE;
            else if (!strcmp(tok[1], "binary_big_endian")) h->format = FMT_BE;
            else return gsz_fail(GSZ_ERROR_format, "%s: unknown PLY format '%s'", name, tok[1]);
            if (strcmp(tok[2], "1.0") != 0) return gsz_fail(GSZ_ERROR_format, "%s: unsupported PLY version '%s'", name, tok[2]);
        } else if (!strcmp(tok[0], "element")) {
            if (nt != 3) return gsz_fail(GSZ_ERROR_format, "%s: header line %d: bad element line", name, line_no);
            if (h->nelems == MAX_ELEMS) return gsz_fail(GSZ_ERROR_format, "%s: too many elements", name);
            ply_elem *el = &h->elems[h->nelems++];
            snprintf(el->name, sizeof el->name, "%s", tok[1]);
            char *end;
            errno = 0;
            unsigned long long c = strtoull(tok[2], &end, 10);
            if (*end || errno || tok[2][0] == '-')
                return gsz_fail(GSZ_ERROR_format, "%s: header line %d: bad element count '%s'", name, line_no, tok[2]);
            el->count = c;
            if (!strcmp(el->name, "vertex")) {
                if (h->vertex >= 0) return gsz_fail(GSZ_ERROR_format, "%s: two vertex elements", name);
                h->vertex = h->nelems - 1;
            }
        } else if (!strcmp(tok[0], "property")) {
            if (!h->nelems) return gsz_fail(GSZ_ERROR_format, "%s: header line %d: property before any element", name, line_no);
            ply_elem *el = &h->elems[h->nelems - 1];
            if (el->nprops == MAX_PROPS) return gsz_fail(GSZ_ERROR_format, "%s: too many properties in element '%s'", name, el->name);
            ply_prop *p = &el->props[el->nprops];
            memset(p, 0, sizeof *p);
            if (nt == 5 && !strcmp(tok[1], "list")) {
                p->list_count_type = parse_type(tok[2]);
                p->type = parse_type(tok[3]);
                if (!p->list_count_type || !p->type || p->list_count_type == T_F32 || p->list_count_type == T_F64)
                    return gsz_fail(GSZ_ERROR_format, "%s: header line %d: bad list property", name, line_no);
                snprintf(p->name, sizeof p->name, "%s", tok[4]);
                el->has_list = 1;
            } else if (nt == 3) {
                p->type = parse_type(tok[1]);
                if (!p->type) return gsz_fail(GSZ_ERROR_format, "%s: header line %d: unknown property type '%s'", name, line_no, tok[1]);
                snprintf(p->name, sizeof p->name, "%s", tok[2]);
                el->stride += (size_t)type_size[p->type];
            } else return gsz_fail(GSZ_ERROR_format, "%s: header line %d: bad property line", name, line_no);
            for (int i = 0; i < el->nprops; i++)
                if (!strcmp(el->props[i].name, p->name))
                    return gsz_fail(GSZ_ERROR_format, "%s: duplicate property '%s'", name, p->name);
            el->nprops++;
        } else return gsz_fail(GSZ_ERROR_format, "%s: header line %d: unknown keyword '%s'", name, line_no, tok[0]);
    }
    if (!ended) return gsz_fail(GSZ_ERROR_format, "%s: header has no end_header line", name);
    if (h->format < 0) return gsz_fail(GSZ_ERROR_format, "%s: header has no format line", name);
    if (h->vertex < 0) return gsz_fail(GSZ_ERROR_format, "%s: no 'vertex' element", name);
    h->header_len = pos;
    return GSZ_OK;
}

static double load_scalar(const uint8_t *p, int type, int swap) {
    uint8_t b[8];
    int n = type_size[type];
    if (swap) for (int i = 0; i < n; i++) b[i] = p[n - 1 - i];
    else memcpy(b, p, (size_t)n);
    switch (type) {
    case T_I8: return (double)(int8_t)b[0];
    case T_U8: return (double)b[0];
    case T_I16: { int16_t v; memcpy(&v, b, 2); return v; }
    case T_U16: { uint16_t v; memcpy(&v, b, 2); return v; }
    case T_I32: { int32_t v; memcpy(&v, b, 4); return v; }
    case T_U32: { uint32_t v; memcpy(&v, b, 4); return v; }
    case T_F32: { float v; memcpy(&v, b, 4); return v; }
    default: { double v; memcpy(&v, b, 8); return v; }
    }
}

static int host_is_be(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 0;
}

/* ASCII tokens: returns the next number; *ok cleared at end of data or on a bad token. */
static double ascii_next(ply_src *s, int *ok) {
    const char *p = (const char *)s->mem + s->pos, *end = (const char *)s->mem + s->size;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p >= end) { *ok = 0; s->pos = s->size; return 0; }
    char tmp[64];
    size_t n = 0;
    while (p + n < end && n < sizeof tmp - 1 && p[n] != ' ' && p[n] != '\t' && p[n] != '\n' && p[n] != '\r') { tmp[n] = p[n]; n++; }
    tmp[n] = 0;
    char *e;
    double v = strtod(tmp, &e);
    if (e == tmp || *e) *ok = 0;
    s->pos = (uint64_t)((p + n) - (const char *)s->mem);
    return v;
}

/* A binary element of fixed-size rows against the bytes left for it. */
static gsz_error rows_fit(const char *name, const ply_elem *el, uint64_t left) {
    if (el->stride && el->count > left / el->stride)
        return gsz_fail(GSZ_ERROR_format, "%s: truncated body: element '%s' declares %llu rows of %zu bytes, %llu bytes left", name,
                        el->name, (unsigned long long)el->count, el->stride, (unsigned long long)left);
    return GSZ_OK;
}

static gsz_error skip_element(const char *name, ply_src *s, const ply_header *h, const ply_elem *el) {
    int swap = (h->format == FMT_BE) != host_is_be();
    if (h->format != FMT_ASCII && !el->has_list) {
        gsz_error err = rows_fit(name, el, src_left(s));
        if (err) return err;
        for (uint64_t left = el->count * el->stride; left;) {
            size_t n = left > (1u << 20) ? (1u << 20) : (size_t)left;
            if (!src_get(s, n)) return gsz_fail(GSZ_ERROR_io, "%s: read failed in element '%s'", name, el->name);
            left -= n;
        }
        return GSZ_OK;
    }
    for (uint64_t r = 0; r < el->count; r++) {
        for (int i = 0; i < el->nprops; i++) {
            const ply_prop *p = &el->props[i];
            int ok = 1;
            if (h->format == FMT_ASCII) {
                double c = ascii_next(s, &ok);
                if (p->list_count_type) {
                    if (!ok || c < 0 || c > 1e9) return gsz_fail(GSZ_ERROR_format, "%s: element '%s': bad list length", name, el->name);
                    for (long k = 0; k < (long)c && ok; k++) ascii_next(s, &ok);
                }
            } else if (p->list_count_type) {
                const uint8_t *b = src_get(s, (size_t)type_size[p->list_count_type]);
                double c = b ? load_scalar(b, p->list_count_type, swap) : 0;
                if (!b || c < 0) ok = 0;
                else {
                    uint64_t bytes = (uint64_t)c * (uint64_t)type_size[p->type];
                    ok = bytes <= src_left(s) && (bytes == 0 || src_get(s, (size_t)bytes) != NULL);
                }
            } else ok = src_get(s, (size_t)type_size[p->type]) != NULL;
            if (!ok) return gsz_fail(GSZ_ERROR_format, "%s: truncated or bad body in element '%s'", name, el->name);
        }
    }
    return GSZ_OK;
}

static int prop_index(const ply_elem *el, const char *n) {
    for (int i = 0; i < el->nprops; i++)
        if (!strcmp(el->props[i].name, n)) return i;
    return -1;
}

static int elem_index(const ply_header *h, const char *n) {
    for (int e = 0; e < h->nelems; e++)
        if (!strcmp(h->elems[e].name, n)) return e;
    return -1;
}

/* compressed.ply (PlayCanvas, SuperSplat): a 'chunk' element of float ranges per 256 Gaussians (12, or
 * 18 with colour), 'vertex' rows of four packed uint words, an optional 'sh' element of 9, 24 or 45
 * uchar f_rest. Decoded as splat-transform's reader does (codec/lattice.c), so that the max preset
 * finds the lattice and keeps it exactly. */
static int is_compressed(const ply_header *h) {
    const ply_elem *v = &h->elems[h->vertex];
    return elem_index(h, "chunk") >= 0 && prop_index(v, "packed_position") >= 0 && prop_index(v, "x") < 0;
}

static gsz_error read_compressed(const char *name, ply_src *s, const ply_header *h, gsz_scene *out, gsz_ply_stats *st) {
    static const char *rn[18] = {"min_x", "min_y", "min_z", "max_x", "max_y", "max_z", "min_scale_x", "min_scale_y", "min_scale_z",
                                 "max_scale_x", "max_scale_y", "max_scale_z", "min_r", "min_g", "min_b", "max_r", "max_g", "max_b"};
    static const char *wn[4] = {"packed_position", "packed_scale", "packed_color", "packed_rotation"};
    if (h->format == FMT_ASCII) return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply in ASCII is not supported", name);
    const ply_elem *v = &h->elems[h->vertex], *ch = &h->elems[elem_index(h, "chunk")];
    int si = elem_index(h, "sh");
    const ply_elem *sh = si >= 0 ? &h->elems[si] : NULL;
    uint64_t n = v->count, nchunks = (n + 255) / 256;
    int rp[18], wp[4], ncol = 0;
    for (int k = 0; k < 18; k++) {
        rp[k] = prop_index(ch, rn[k]);
        if (rp[k] >= 0 && ch->props[rp[k]].type != T_F32) return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply: chunk property '%s' is not float", name, rn[k]);
        if (k < 12 && rp[k] < 0) return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply: chunk property '%s' missing", name, rn[k]);
        ncol += k >= 12 && rp[k] >= 0;
    }
    if (ncol != 0 && ncol != 6) return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply: chunk colour ranges incomplete", name);
    for (int k = 0; k < 4; k++) {
        wp[k] = prop_index(v, wn[k]);
        if (wp[k] < 0 || v->props[wp[k]].type != T_U32) return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply: vertex property '%s' missing or not uint", name, wn[k]);
    }
    if (ch->count != nchunks)
        return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply: %llu chunks for %llu Gaussians (%llu expected)", name, (unsigned long long)ch->count,
                        (unsigned long long)n, (unsigned long long)nchunks);
    int nsh = sh ? sh->nprops : 0, degree = nsh == 0 ? 0 : nsh == 9 ? 1 : nsh == 24 ? 2 : nsh == 45 ? 3 : -1;
    if (degree < 0 || (sh && sh->count != n)) return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply: 'sh' element of %d properties and %llu rows", name, nsh, (unsigned long long)(sh ? sh->count : 0));
    int shp[45];
    for (int k = 0; k < nsh; k++) {
        char pn[16];
        snprintf(pn, sizeof pn, "f_rest_%d", k);
        shp[k] = prop_index(sh, pn);
        if (shp[k] < 0 || sh->props[shp[k]].type != T_U8) return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply: sh property '%s' missing or not uchar", name, pn);
    }
    /* every element's rows must be in the file before anything is allocated */
    uint64_t left = src_left(s);
    for (int e = 0; e < h->nelems; e++) {
        const ply_elem *el = &h->elems[e];
        if (el->has_list) return gsz_fail(GSZ_ERROR_format, "%s: compressed.ply: list property in element '%s'", name, el->name);
        gsz_error err = rows_fit(name, el, left);
        if (err) return err;
        left -= el->count * el->stride;
    }
    if (n > ((uint64_t)1 << 32)) return gsz_fail(GSZ_ERROR_format, "%s: vertex count %llu too large", name, (unsigned long long)n);
    float *ranges = gsz_malloc_array((size_t)nchunks + 1, 18 * sizeof(float));
    uint32_t *words = gsz_malloc_array((size_t)n + 1, 4 * sizeof(uint32_t));
    gsz_error err = ranges && words ? gsz_scene_alloc(out, (size_t)n, degree) : gsz_fail(GSZ_ERROR_memory, "out of memory");
    int swap = (h->format == FMT_BE) != host_is_be(), nr = gsz_shRestCount(degree);
    for (int e = 0; !err && e < h->nelems; e++) {
        const ply_elem *el = &h->elems[e];
        if (el != ch && el != v && el != sh) { err = skip_element(name, s, h, el); continue; }
        size_t off[MAX_PROPS];
        for (int i = 0, o = 0; i < el->nprops; i++) { off[i] = (size_t)o; o += type_size[el->props[i].type]; }
        for (uint64_t r = 0; r < el->count; r++) {
            const uint8_t *b = src_get(s, el->stride);
            if (!b) { err = gsz_fail(GSZ_ERROR_io, "%s: read failed in element '%s'", name, el->name); break; }
            if (el == ch)
                for (int k = 0; k < 18; k++) /* without colour ranges the colour is the stored fraction itself */
                    ranges[18 * r + (size_t)k] = rp[k] >= 0 ? (float)load_scalar(b + off[rp[k]], T_F32, swap) : k < 15 ? 0.0f : 1.0f;
            else if (el == v)
                for (int k = 0; k < 4; k++) words[4 * r + (size_t)k] = (uint32_t)load_scalar(b + off[wp[k]], T_U32, swap);
            else
                for (int k = 0; k < nsh; k++) { /* splat-transform's reading of the 8-bit SH */
                    unsigned q = b[off[shp[k]]];
                    double t = q == 0 ? 0.0 : q == 255 ? 1.0 : (q + 0.5) / 256.0;
                    out->sh_rest[(r * (uint64_t)nr + (uint64_t)(k % nr)) * 3 + (uint64_t)(k / nr)] = (float)((t - 0.5) * 8.0);
                }
        }
    }
    size_t j = 0, dropped = 0, clamped = 0, ranged = 0;
    for (size_t i = 0; !err && i < n; i++) {
        const uint32_t *w = words + 4 * i;
        float p[3], l[3], q[4], d[3], o = gsz_lattice_opacity(w[2] & 0xFF);
        gsz_lattice_gaussian(ranges + 18 * (i / 256), w[0], w[1], w[2], w[3], p, l, q, d);
        int finite = 1;
        for (int k = 0; k < 3; k++) finite &= isfinite(p[k]) && isfinite(l[k]) && isfinite(d[k]);
        if (!finite) { dropped++; continue; }
        clamped += (w[2] & 0xFF) == 0 || (w[2] & 0xFF) == 255;
        memcpy(out->pos + 3 * j, p, sizeof p);
        memcpy(out->scale + 3 * j, l, sizeof l);
        memcpy(out->rot + 4 * j, q, sizeof q);
        memcpy(out->sh_dc + 3 * j, d, sizeof d);
        out->opacity[j] = o;
        if (nr && j != i) memmove(out->sh_rest + j * (size_t)nr * 3, out->sh_rest + i * (size_t)nr * 3, (size_t)nr * 3 * sizeof(float));
        ranged += gsz_gaussian_clamp(out, j); /* absurd chunk ranges */
        j++;
    }
    free(ranges);
    free(words);
    if (err) { gsz_scene_free(out); return err; }
    out->count = j;
    if (st) { st->rows_in_file = (size_t)n; st->dropped_nonfinite = dropped; st->clamped_opacity = clamped; st->clamped_range = ranged; }
    return GSZ_OK;
}

/* A surfel's thickness: e^-20 of the scene's units is far under the 0.3 px dilation in any view, and
 * its square is still a normal float (subnormals slow the renderer's arithmetic). */
#define SURFEL_LOG_SCALE -20.0f

/* Mip-Splatting's 3D filter (Yu et al. 2024) baked in, as its own fused export does: each axis's
 * variance grows by filter^2 and the opacity falls by sqrt(det before / det after), so that a standard
 * 3DGS renderer draws what the training renderer drew (but for its 2D filter, which replaces the 0.3 px
 * dilation). */
static void bake_filter_3d(float *row) {
    double f2 = (double)row[S_FILTER] * (double)row[S_FILTER], ratio = 1;
    for (int k = 0; k < 3; k++) {
        double v = exp(2.0 * (double)row[S_SCALE + k]), t = v + f2;
        ratio *= t > 0 ? v / t : 1;
        row[S_SCALE + k] = (float)(0.5 * log(t));
    }
    double o = 1.0 / (1.0 + exp(-(double)row[S_OPA])) * sqrt(ratio);
    row[S_OPA] = o >= 1 ? 20.0f : o > 0 ? (float)GSZ_MAX(-20.0, log(o / (1.0 - o))) : -20.0f;
}

static gsz_error read_body(const char *name, ply_src *s, ply_header *h, gsz_scene *out, gsz_ply_stats *st) {
    if (is_compressed(h)) return read_compressed(name, s, h, out, st);
    ply_elem *v = &h->elems[h->vertex];
    /* Map properties to slots and find the SH degree. */
    int have[S_COUNT] = {0}, nrest = 0;
    for (int i = 0; i < v->nprops; i++) {
        ply_prop *p = &v->props[i];
        p->slot = slot_of(p->name);
        if (p->slot == -2) return gsz_fail(GSZ_ERROR_format, "%s: property '%s': SH coefficient index out of range", name, p->name);
        if (p->list_count_type) {
            if (p->slot >= 0) return gsz_fail(GSZ_ERROR_format, "%s: property '%s' is a list", name, p->name);
            return gsz_fail(GSZ_ERROR_format, "%s: list property '%s' in the vertex element is not supported", name, p->name);
        }
        if (p->slot >= 0) {
            have[p->slot] = 1;
            if (p->slot >= S_REST && p->slot < S_OPA) nrest++;
        }
    }
    static const char *req[] = {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2"};
    for (int i = 0; i < 6; i++)
        if (!have[i]) return gsz_fail(GSZ_ERROR_format, "%s: missing required vertex property '%s'", name, req[i]);
    if (!have[S_OPA]) return gsz_fail(GSZ_ERROR_format, "%s: missing required vertex property 'opacity'", name);
    /* 2D Gaussian splatting (Huang et al. 2024) stores surfels: two scales, the rotation's third axis
     * their normal. They are read as 3D Gaussians flat along it, as 3DGS renderers draw them. */
    int surfels = have[S_SCALE] && have[S_SCALE + 1] && !have[S_SCALE + 2];
    for (int i = 0; i < 3 - surfels; i++)
        if (!have[S_SCALE + i]) return gsz_fail(GSZ_ERROR_format, "%s: missing required vertex property 'scale_%d'", name, i);
    for (int i = 0; i < 4; i++)
        if (!have[S_ROT + i]) return gsz_fail(GSZ_ERROR_format, "%s: missing required vertex property 'rot_%d'", name, i);
    int degree = nrest == 0 ? 0 : nrest == 9 ? 1 : nrest == 24 ? 2 : nrest == 45 ? 3 : -1;
    if (degree < 0) return gsz_fail(GSZ_ERROR_format, "%s: %d f_rest properties; expected 0, 9, 24 or 45 (SH degree 0-3)", name, nrest);
    for (int k = 0; k < nrest; k++)
        if (!have[S_REST + k]) return gsz_fail(GSZ_ERROR_format, "%s: f_rest properties are not f_rest_0..f_rest_%d (f_rest_%d missing)", name, nrest - 1, k);

    /* Skip elements before the vertex element, then check the size before allocating. */
    for (int e = 0; e < h->vertex; e++) {
        gsz_error err = skip_element(name, s, h, &h->elems[e]);
        if (err) return err;
    }
    uint64_t n = v->count;
    if (h->format != FMT_ASCII) {
        if (v->stride == 0 || n > src_left(s) / v->stride)
            return gsz_fail(GSZ_ERROR_format, "%s: truncated body: header declares %llu vertices of %zu bytes (%llu bytes) but only %llu bytes follow",
                            name, (unsigned long long)n, v->stride, (unsigned long long)n * v->stride, (unsigned long long)src_left(s));
    } else if (n > (src_left(s) + 1) / (2 * (uint64_t)v->nprops)) {
        return gsz_fail(GSZ_ERROR_format, "%s: truncated body: header declares %llu vertices but only %llu bytes of text follow",
                        name, (unsigned long long)n, (unsigned long long)src_left(s));
    }
    if (n > ((uint64_t)1 << 34)) return gsz_fail(GSZ_ERROR_format, "%s: vertex count %llu too large", name, (unsigned long long)n);
    gsz_error err = gsz_scene_alloc(out, (size_t)n, degree);
    if (err) return err;

    int swap = (h->format == FMT_BE) != host_is_be();
    int nr = gsz_shRestCount(degree);
    size_t j = 0, dropped = 0, clamped = 0, ranged = 0;
    float row[S_COUNT];
    size_t offs[MAX_PROPS];
    {
        size_t o = 0;
        for (int i = 0; i < v->nprops; i++) { offs[i] = o; o += (size_t)type_size[v->props[i].type]; }
    }
    const int fast_f32 = !swap;
    for (uint64_t r = 0; r < n; r++) {
        for (int k = 0; k < S_COUNT; k++) row[k] = 0;
        if (h->format == FMT_ASCII) {
            for (int i = 0; i < v->nprops; i++) {
                int ok = 1;
                double x = ascii_next(s, &ok);
                if (!ok) {
                    gsz_scene_free(out);
                    return gsz_fail(GSZ_ERROR_format, "%s: bad or missing value in vertex %llu, property '%s'", name, (unsigned long long)r, v->props[i].name);
                }
                if (v->props[i].slot >= 0) row[v->props[i].slot] = (float)x;
            }
        } else {
            const uint8_t *b = src_get(s, v->stride);
            if (!b) {
                gsz_scene_free(out);
                return gsz_fail(GSZ_ERROR_io, "%s: read failed at vertex %llu", name, (unsigned long long)r);
            }
            for (int i = 0; i < v->nprops; i++) {
                const ply_prop *p = &v->props[i];
                if (p->slot < 0) continue;
                if (p->type == T_F32 && fast_f32) memcpy(&row[p->slot], b + offs[i], 4);
                else row[p->slot] = (float)load_scalar(b + offs[i], p->type, swap);
            }
        }
        /* an infinite opacity logit is a valid opacity of exactly 1 or 0 (other tools write them) */
        if (isinf(row[S_OPA])) { row[S_OPA] = row[S_OPA] > 0 ? 20.0f : -20.0f; clamped++; }
        int finite = 1;
        for (int k = 0; k < S_COUNT; k++) finite &= isfinite(row[k]) != 0;
        if (!finite) { dropped++; continue; }
        if (surfels) row[S_SCALE + 2] = SURFEL_LOG_SCALE;
        if (have[S_FILTER]) bake_filter_3d(row);
        memcpy(out->pos + 3 * j, row + S_POS, 3 * sizeof(float));
        memcpy(out->sh_dc + 3 * j, row + S_DC, 3 * sizeof(float));
        out->opacity[j] = row[S_OPA];
        memcpy(out->scale + 3 * j, row + S_SCALE, 3 * sizeof(float));
        memcpy(out->rot + 4 * j, row + S_ROT, 4 * sizeof(float));
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < nr; k++) out->sh_rest[(j * (size_t)nr + (size_t)k) * 3 + (size_t)c] = row[S_REST + c * nr + k];
        ranged += gsz_gaussian_clamp(out, j); /* so that the codec's float arithmetic on them stays finite */
        j++;
    }
    out->count = j;
    if (st) {
        st->rows_in_file = (size_t)n; st->dropped_nonfinite = dropped; st->clamped_opacity = clamped; st->clamped_range = ranged;
        st->baked_filter_3d = have[S_FILTER];
        st->surfels = surfels;
    }
    return GSZ_OK;
}

static gsz_error read_src(const char *name, ply_src *s, const char *head, size_t head_size, gsz_scene *out, gsz_ply_stats *st) {
    ply_header *h = malloc(sizeof *h);
    if (!h) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    gsz_error e = parse_header(name, head, head_size, h);
    if (!e) {
        s->pos = h->header_len;
        if (!s->mem && s->f) {
            /* restart the buffered reader right after the header */
            s->buf_len = s->buf_pos = 0;
            if (fseek(s->f, (long)h->header_len, SEEK_SET) != 0) e = gsz_fail(GSZ_ERROR_io, "%s: cannot seek", name);
        }
    }
    if (!e) e = read_body(name, s, h, out, st);
    free(h);
    return e;
}

gsz_error gsz_ply_read_memory(const void *data, size_t size, const char *name, gsz_scene *out, gsz_ply_stats *st) {
    memset(out, 0, sizeof *out);
    if (st) memset(st, 0, sizeof *st);
    ply_src s = {0};
    s.mem = data;
    s.size = size;
    return read_src(name, &s, data, size, out, st);
}

gsz_error gsz_ply_read(const char *path, gsz_scene *out, gsz_ply_stats *st) {
    memset(out, 0, sizeof *out);
    if (st) memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "rb");
    if (!f) return gsz_fail(GSZ_ERROR_io, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return gsz_fail(GSZ_ERROR_io, "%s: cannot seek (not a regular file?)", path); }
    long len = ftell(f);
    rewind(f);
    if (len < 0) { fclose(f); return gsz_fail(GSZ_ERROR_io, "%s: cannot size", path); }
    /* Peek at the header (limited to 64 KiB); ASCII bodies are read whole. */
    size_t peek = (size_t)len < 65536 ? (size_t)len : 65536;
    char *head = malloc(peek + 1);
    if (!head) { fclose(f); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    if (fread(head, 1, peek, f) != peek) { free(head); fclose(f); return gsz_fail(GSZ_ERROR_io, "%s: read failed", path); }
    head[peek] = 0;
    gsz_error e;
    if (peek > 20 && strstr(head, "format ascii")) {
        free(head);
        fclose(f);
        void *all;
        size_t sz;
        e = gsz_read_file(path, &all, &sz);
        if (e) return e;
        e = gsz_ply_read_memory(all, sz, path, out, st);
        free(all);
        return e;
    }
    ply_src s = {0};
    s.f = f;
    s.size = (uint64_t)len;
    s.buf_cap = 1u << 22;
    s.buf = malloc(s.buf_cap);
    if (!s.buf) { free(head); fclose(f); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    e = read_src(path, &s, head, peek, out, st);
    free(head);
    free(s.buf);
    fclose(f);
    return e;
}

gsz_error gsz_ply_write(const char *path, const gsz_scene *sc) {
    gsz_outfile o;
    gsz_error e = gsz_outfile_open(&o, path);
    if (e) return e;
    int nr = gsz_shRestCount(sc->sh_degree);
    fprintf(o.f, "ply\nformat binary_little_endian 1.0\nelement vertex %zu\n", sc->count);
    fputs("property float x\nproperty float y\nproperty float z\nproperty float nx\nproperty float ny\nproperty float nz\n", o.f);
    for (int i = 0; i < 3; i++) fprintf(o.f, "property float f_dc_%d\n", i);
    for (int i = 0; i < 3 * nr; i++) fprintf(o.f, "property float f_rest_%d\n", i);
    fputs("property float opacity\n", o.f);
    for (int i = 0; i < 3; i++) fprintf(o.f, "property float scale_%d\n", i);
    for (int i = 0; i < 4; i++) fprintf(o.f, "property float rot_%d\n", i);
    fputs("end_header\n", o.f);
    size_t per = (size_t)(3 + 3 + 3 + 3 * nr + 1 + 3 + 4);
    size_t chunk = 16384;
    float *buf = malloc(chunk * per * sizeof(float));
    if (!buf) { gsz_outfile_abort(&o); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    int swap = host_is_be();
    for (size_t b = 0; b < sc->count; b += chunk) {
        size_t n = GSZ_MIN(chunk, sc->count - b);
        for (size_t i = 0; i < n; i++) {
            size_t g = b + i;
            float *r = buf + i * per;
            memcpy(r, sc->pos + 3 * g, 3 * sizeof(float));
            r[3] = r[4] = r[5] = 0;
            memcpy(r + 6, sc->sh_dc + 3 * g, 3 * sizeof(float));
            for (int c = 0; c < 3; c++)
                for (int k = 0; k < nr; k++) r[9 + c * nr + k] = sc->sh_rest[(g * (size_t)nr + (size_t)k) * 3 + (size_t)c];
            float *t = r + 9 + 3 * nr;
            t[0] = sc->opacity[g];
            memcpy(t + 1, sc->scale + 3 * g, 3 * sizeof(float));
            memcpy(t + 4, sc->rot + 4 * g, 4 * sizeof(float));
        }
        if (swap)
            for (size_t i = 0; i < n * per; i++) {
                uint8_t *p = (uint8_t *)&buf[i], t0 = p[0], t1 = p[1];
                p[0] = p[3]; p[1] = p[2]; p[2] = t1; p[3] = t0;
            }
        if (fwrite(buf, sizeof(float) * per, n, o.f) != n) {
            free(buf);
            e = gsz_outfile_write_error(&o);
            gsz_outfile_abort(&o);
            return e;
        }
    }
    free(buf);
    return gsz_outfile_commit(&o);
}
