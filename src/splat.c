/* antimatter15's .splat, the format web splat viewers load: no header, 32 bytes a Gaussian, little-endian.
 *   position 3 x f32 | scale 3 x f32, linear (not log) | colour RGB u8, c/255 = 0.5 + SH_C0 * f_dc |
 *   opacity u8, a/255 = sigmoid(logit) | rotation 4 x u8, q = (r - 128) / 128, w first, then normalised.
 * SH degree 0 only: writing one drops the higher bands. Values are rounded to the nearest level on
 * writing (the reference converter truncates; the levels decode the same), and Gaussians go largest
 * and most opaque first, as that converter orders them: viewers that draw a .splat while it downloads
 * show the whole scene coarsely first. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SPLAT_BYTES 32

int gsz_path_is_splat(const char *path) { return gsz_path_has_suffix(path, ".splat"); }

static float f32_le(const uint8_t *p) {
    uint32_t u = gsz_le32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put_f32_le(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    gsz_put_le32(p, u);
}


gsz_error gsz_splat_read_memory(const void *data, size_t size, const char *name, gsz_scene *out, gsz_ply_stats *st) {
    memset(out, 0, sizeof *out);
    if (st) memset(st, 0, sizeof *st);
    if (size == 0) return gsz_fail(GSZ_ERROR_format, "%s: empty .splat file", name);
    if (size % SPLAT_BYTES)
        return gsz_fail(GSZ_ERROR_format, "%s: %zu bytes is not a whole number of 32-byte .splat records (%zu bytes left over)",
                        name, size, size % SPLAT_BYTES);
    size_t n = size / SPLAT_BYTES, j = 0, dropped = 0, ranged = 0;
    gsz_error e = gsz_scene_alloc(out, n, 0);
    if (e) return gsz_fail(e, "%s: %s", name, gsz_getErrorDetail());
    const uint8_t *b = data;
    for (size_t i = 0; i < n; i++, b += SPLAT_BYTES) {
        float p[3], l[3], q[4];
        int finite = 1;
        for (int k = 0; k < 3; k++) {
            p[k] = f32_le(b + 4 * k);
            float s = f32_le(b + 12 + 4 * k);
            l[k] = s > 0 ? logf(s) : NAN; /* a scale of zero or less has no log-scale */
            finite &= isfinite(p[k]) && isfinite(l[k]);
        }
        if (!finite) { dropped++; continue; }
        double len2 = 0;
        for (int k = 0; k < 4; k++) {
            q[k] = ((float)b[28 + k] - 128.0f) / 128.0f;
            len2 += (double)q[k] * q[k];
        }
        if (len2 > 0) {
            float inv = (float)(1.0 / sqrt(len2));
            for (int k = 0; k < 4; k++) q[k] *= inv;
        } else {
            q[0] = 1; q[1] = q[2] = q[3] = 0;
        }
        memcpy(out->pos + 3 * j, p, sizeof p);
        memcpy(out->scale + 3 * j, l, sizeof l);
        memcpy(out->rot + 4 * j, q, sizeof q);
        for (int c = 0; c < 3; c++) out->sh_dc[3 * j + (size_t)c] = (b[24 + c] / 255.0f - 0.5f) / GSZ_SH_C0;
        out->opacity[j] = gsz_logit_level8(b[27]);
        ranged += gsz_gaussian_clamp(out, j); /* float positions and scales past any that render differently */
        j++;
    }
    out->count = j;
    if (st) { memset(st, 0, sizeof *st); st->rows_in_file = n; st->dropped_nonfinite = dropped; st->clamped_range = ranged; }
    return GSZ_OK;
}

gsz_error gsz_splat_read(const char *path, gsz_scene *out, gsz_ply_stats *st) { return gsz_read_scene_file(path, gsz_splat_read_memory, out, st); }

/* The write order: volume x opacity descending, ties in scene order. NULL on failure. */
static uint32_t *importance_order(const gsz_scene *sc) {
    size_t n = sc->count;
    float *v = gsz_malloc_array(n ? n : 1, sizeof *v);
    uint32_t *idx = gsz_malloc_array(n ? n : 1, sizeof *idx);
    if (v && idx)
        for (size_t i = 0; i < n; i++)
            v[i] = expf(sc->scale[3 * i] + sc->scale[3 * i + 1] + sc->scale[3 * i + 2]) * gsz_sigmoid(sc->opacity[i]);
    if (!v || !idx || gsz_order_descending(v, n, idx)) { free(idx); idx = NULL; }
    free(v);
    return idx;
}

gsz_error gsz_splat_write(const char *path, const gsz_scene *sc) {
    uint32_t *order = importance_order(sc);
    if (!order) return gsz_fail(GSZ_ERROR_memory, "%s: out of memory", path);
    gsz_outfile o;
    gsz_error e = gsz_outfile_open(&o, path);
    if (e) { free(order); return e; }
    enum { CHUNK = 16384 };
    uint8_t *buf = malloc((size_t)CHUNK * SPLAT_BYTES);
    if (!buf) { free(order); gsz_outfile_abort(&o); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    for (size_t b0 = 0; b0 < sc->count; b0 += CHUNK) {
        size_t n = GSZ_MIN((size_t)CHUNK, sc->count - b0);
        for (size_t i = 0; i < n; i++) {
            size_t g = order[b0 + i];
            uint8_t *r = buf + i * SPLAT_BYTES;
            for (int k = 0; k < 3; k++) {
                put_f32_le(r + 4 * k, sc->pos[3 * g + (size_t)k]);
                float sv = expf(sc->scale[3 * g + (size_t)k]); /* kept positive and finite, so that it reads back */
                put_f32_le(r + 12 + 4 * k, sv > FLT_MAX ? FLT_MAX : sv < FLT_MIN ? FLT_MIN : sv);
                r[24 + k] = gsz_level8((0.5 + GSZ_SH_C0 * (double)sc->sh_dc[3 * g + (size_t)k]) * 255.0);
            }
            r[27] = gsz_level8(255.0 / (1.0 + exp(-(double)sc->opacity[g])));
            const float *q = sc->rot + 4 * g;
            double len = sqrt((double)q[0] * q[0] + (double)q[1] * q[1] + (double)q[2] * q[2] + (double)q[3] * q[3]);
            for (int k = 0; k < 4; k++) r[28 + k] = len > 0 ? gsz_level8(q[k] / len * 128.0 + 128.0) : (k == 0 ? 255 : 128);
        }
        if (fwrite(buf, SPLAT_BYTES, n, o.f) != n) {
            free(buf);
            free(order);
            e = gsz_outfile_write_error(&o);
            gsz_outfile_abort(&o);
            return e;
        }
    }
    free(buf);
    free(order);
    return gsz_outfile_commit(&o);
}
