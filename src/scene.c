/* The scene model: allocation, filtering, SH degree changes, and the limits past which a value renders
 * no differently (what the readers clamp and the encoder refuses). */
#include "common.h"
#include <math.h>
#include <string.h>

int gsz_shRestCount(int d) { return d <= 0 ? 0 : (d + 1) * (d + 1) - 1; }

static gsz_error scene_alloc(gsz_scene *s, size_t count, int sh_degree, void *(*alloc)(size_t, size_t)) {
    memset(s, 0, sizeof *s);
    if (sh_degree < 0 || sh_degree > 3) return gsz_fail(GSZ_ERROR_argument, "SH degree %d out of range 0..3", sh_degree);
    s->count = count;
    s->sh_degree = sh_degree;
    size_t nr = (size_t)gsz_shRestCount(sh_degree) * 3;
    s->pos = alloc(count, 3 * sizeof(float));
    s->scale = alloc(count, 3 * sizeof(float));
    s->rot = alloc(count, 4 * sizeof(float));
    s->opacity = alloc(count, sizeof(float));
    s->sh_dc = alloc(count, 3 * sizeof(float));
    if (nr) s->sh_rest = alloc(count, nr * sizeof(float));
    if (!s->pos || !s->scale || !s->rot || !s->opacity || !s->sh_dc || (nr && !s->sh_rest)) {
        gsz_scene_free(s);
        return gsz_fail(GSZ_ERROR_memory, "cannot allocate a scene of %zu Gaussians", count);
    }
    return GSZ_OK;
}

gsz_error gsz_scene_alloc(gsz_scene *s, size_t count, int sh_degree) { return scene_alloc(s, count, sh_degree, gsz_malloc_array); }
gsz_error gsz_scene_alloc_pages(gsz_scene *s, size_t count, int sh_degree) { return scene_alloc(s, count, sh_degree, gsz_malloc_pages); }

void gsz_scene_free(gsz_scene *s) {
    if (!s) return;
    free(s->pos); free(s->scale); free(s->rot); free(s->opacity); free(s->sh_dc); free(s->sh_rest);
    memset(s, 0, sizeof *s);
}

void gsz_scene_filter(gsz_scene *s, const uint8_t *keep) {
    size_t nr = (size_t)gsz_shRestCount(s->sh_degree) * 3, j = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (!keep[i]) continue;
        if (i != j) {
            memcpy(s->pos + 3 * j, s->pos + 3 * i, 3 * sizeof(float));
            memcpy(s->scale + 3 * j, s->scale + 3 * i, 3 * sizeof(float));
            memcpy(s->rot + 4 * j, s->rot + 4 * i, 4 * sizeof(float));
            s->opacity[j] = s->opacity[i];
            memcpy(s->sh_dc + 3 * j, s->sh_dc + 3 * i, 3 * sizeof(float));
            if (nr) memcpy(s->sh_rest + nr * j, s->sh_rest + nr * i, nr * sizeof(float));
        }
        j++;
    }
    s->count = j;
}

gsz_error gsz_scene_set_sh_degree(gsz_scene *s, int d) {
    if (d < 0 || d > 3) return gsz_fail(GSZ_ERROR_argument, "SH degree %d out of range 0..3", d);
    if (d >= s->sh_degree) return GSZ_OK;
    size_t from = (size_t)gsz_shRestCount(s->sh_degree) * 3, to = (size_t)gsz_shRestCount(d) * 3;
    for (size_t i = 0; i < s->count; i++) memmove(s->sh_rest + to * i, s->sh_rest + from * i, to * sizeof(float));
    if (!to) { free(s->sh_rest); s->sh_rest = NULL; }
    s->sh_degree = d;
    return GSZ_OK;
}

void gsz_scene_bounds(const gsz_scene *s, float lo[3], float hi[3]) {
    for (int k = 0; k < 3; k++) { lo[k] = INFINITY; hi[k] = -INFINITY; }
    for (size_t i = 0; i < s->count; i++)
        for (int k = 0; k < 3; k++) { lo[k] = GSZ_MIN(lo[k], s->pos[3 * i + (size_t)k]); hi[k] = GSZ_MAX(hi[k], s->pos[3 * i + (size_t)k]); }
}

/* Gaussian i's attributes with their limits, in the order gsz_gaussian_invalid names them: one list
 * for the check and the clamp, so that what the readers clamp passes the encoder's check. lim 0: no
 * limit but finiteness (opacity, rotation). Writes through v only in gsz_gaussian_clamp. */
typedef struct { float *v; size_t n; float lim; const char *name; } attr_span;
enum { ATTR_SPANS = 6 };
static void attr_spans(const gsz_scene *s, size_t i, attr_span a[ATTR_SPANS]) {
    size_t nr = 3 * (size_t)gsz_shRestCount(s->sh_degree);
    a[0] = (attr_span){s->pos + 3 * i, 3, GSZ_LIMIT_POSITION, "position"};
    a[1] = (attr_span){s->sh_dc + 3 * i, 3, GSZ_LIMIT_SH, "color"};
    a[2] = (attr_span){nr ? s->sh_rest + nr * i : NULL, nr, GSZ_LIMIT_SH, "sh"};
    a[3] = (attr_span){s->opacity + i, 1, 0, "opacity"};
    a[4] = (attr_span){s->scale + 3 * i, 3, GSZ_LIMIT_LOG_SCALE, "scale"};
    a[5] = (attr_span){s->rot + 4 * i, 4, 0, "rotation"};
}

const char *gsz_gaussian_invalid(const gsz_scene *s, size_t i) {
    attr_span a[ATTR_SPANS];
    attr_spans(s, i, a);
    for (int t = 0; t < ATTR_SPANS; t++)
        for (size_t k = 0; k < a[t].n; k++)
            if (a[t].lim > 0 ? !(fabsf(a[t].v[k]) <= a[t].lim) : !isfinite(a[t].v[k])) return a[t].name;
    return NULL;
}

int gsz_gaussian_clamp(gsz_scene *s, size_t i) {
    attr_span a[ATTR_SPANS];
    attr_spans(s, i, a);
    int changed = 0;
    for (int t = 0; t < ATTR_SPANS; t++)
        for (size_t k = 0; a[t].lim > 0 && k < a[t].n; k++) {
            float *v = &a[t].v[k];
            if (*v > a[t].lim) { *v = a[t].lim; changed = 1; }
            else if (*v < -a[t].lim) { *v = -a[t].lim; changed = 1; }
        }
    return changed;
}
