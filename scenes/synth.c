/* Synthetic scene generator: Gaussians on a few surfaces with trained-scene-like statistics. */
#include "synth.h"
#include "../src/common.h"

#include <string.h>

typedef struct {
    int kind; /* 0 sphere, 1 box, 2 plane */
    float c[3], r, hue;
} surface;

static void quat_from_normal(const float n[3], float twist, float q[4]) {
    /* rotation taking +z to n, then a twist about n */
    float w = 1.0f + n[2], x = -n[1], y = n[0], z = 0.0f;
    if (w < 1e-6f) { w = 0; x = 1; y = 0; z = 0; }
    float l = sqrtf(w * w + x * x + y * y + z * z);
    w /= l; x /= l; y /= l; z /= l;
    float cw = cosf(0.5f * twist), sw = sinf(0.5f * twist);
    q[0] = w * cw - z * sw;
    q[1] = x * cw + y * sw;
    q[2] = y * cw - x * sw;
    q[3] = z * cw + w * sw;
}

/* Gaussian i at p on a surface of normal n and hue: log-normal scales around mean_scale, flat along n,
 * a bimodal opacity (opaque_share of them opaque), a smooth colour pattern with noise, SH rest decaying
 * by band (a third strongly view-dependent). */
static void surface_gaussian(gsz_scene *s, size_t i, const float p[3], const float n[3], float hue, double mean_scale,
                             float opaque_share, gsz_rng *r) {
    int nr = gsz_shRestCount(s->sh_degree);
    memcpy(s->pos + 3 * i, p, 12);
    float base = (float)(mean_scale + 0.6 * gsz_rng_normal(r));
    s->scale[3 * i] = base + 0.3f * (float)gsz_rng_normal(r);
    s->scale[3 * i + 1] = base + 0.3f * (float)gsz_rng_normal(r);
    s->scale[3 * i + 2] = base - 1.5f + 0.5f * (float)gsz_rng_normal(r);
    float q[4];
    quat_from_normal(n, (float)(gsz_rng_uniform(r) * 6.2831853), q);
    float qs = (float)(0.5 + gsz_rng_uniform(r)); /* trained quaternions are not unit */
    for (int k = 0; k < 4; k++) s->rot[4 * i + (size_t)k] = qs * (q[k] + 0.02f * (float)gsz_rng_normal(r));
    s->opacity[i] = gsz_rng_uniform(r) < opaque_share ? (float)(3.0 + 1.2 * gsz_rng_normal(r)) : (float)(-2.5 + 1.5 * gsz_rng_normal(r));
    for (int c = 0; c < 3; c++) {
        float col = 0.5f + 0.35f * sinf(6.2831853f * (hue + (float)c / 3.0f)) + 0.15f * sinf(3.0f * p[0] + 2.0f * p[2] + (float)c) +
                    0.03f * (float)gsz_rng_normal(r);
        s->sh_dc[3 * i + (size_t)c] = (col - 0.5f) / GSZ_SH_C0;
    }
    float amp = gsz_rng_uniform(r) < 0.33 ? 0.25f : 0.03f;
    for (int k = 0; k < nr; k++) {
        int band = k < 3 ? 1 : k < 8 ? 2 : 3;
        for (int c = 0; c < 3; c++) s->sh_rest[(i * (size_t)nr + (size_t)k) * 3 + (size_t)c] = amp / (float)band * (float)gsz_rng_normal(r);
    }
}

/* A point on surface S (sphere or box), before the noise, and its outward normal. */
static void surface_point(const surface *S, gsz_rng *r, float p[3], float n[3]) {
    if (S->kind == 0) {
        float v[3] = {(float)gsz_rng_normal(r), (float)gsz_rng_normal(r), (float)gsz_rng_normal(r)};
        float l = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) + 1e-9f;
        for (int k = 0; k < 3; k++) { n[k] = v[k] / l; p[k] = S->c[k] + S->r * n[k]; }
    } else {
        int face = (int)(gsz_rng_next(r) % 6), ax = face / 2;
        float sg = face % 2 ? 1.0f : -1.0f;
        for (int k = 0; k < 3; k++) { p[k] = S->c[k] + S->r * (float)(gsz_rng_uniform(r) * 2 - 1); n[k] = 0; }
        p[ax] = S->c[ax] + sg * S->r;
        n[ax] = sg;
    }
}

static void jitter(float p[3], gsz_rng *r) {
    for (int k = 0; k < 3; k++) p[k] += 0.004f * (float)gsz_rng_normal(r);
}

gsz_error gsz_synth_scene(size_t count, int deg, uint64_t seed, gsz_scene *s) {
    gsz_error e = gsz_scene_alloc(s, count, deg);
    if (e) return e;
    gsz_rng r = {seed * 0x2545F4914F6CDD1Dull + 1};
    enum { NS = 12 };
    surface sf[NS];
    for (int i = 0; i < NS; i++) {
        sf[i].kind = i == 0 ? 2 : (int)(gsz_rng_next(&r) % 2);
        for (int k = 0; k < 3; k++) sf[i].c[k] = (float)(gsz_rng_uniform(&r) * 4.0 - 2.0);
        sf[i].c[1] = i == 0 ? 1.0f : (float)(gsz_rng_uniform(&r) * 1.5 - 0.5);
        sf[i].r = (float)(0.2 + 0.6 * gsz_rng_uniform(&r));
        sf[i].hue = (float)gsz_rng_uniform(&r);
    }
    for (size_t i = 0; i < count; i++) {
        const surface *S = &sf[i % 5 == 0 ? 0 : 1 + gsz_rng_next(&r) % (NS - 1)];
        float p[3], n[3];
        if (S->kind == 2) { /* ground plane y = c, extent 3, y-down world: plane below objects */
            p[0] = (float)(gsz_rng_uniform(&r) * 6 - 3);
            p[2] = (float)(gsz_rng_uniform(&r) * 6 - 3);
            p[1] = S->c[1];
            n[0] = 0; n[1] = -1; n[2] = 0;
        } else surface_point(S, &r, p, n);
        jitter(p, &r);
        surface_gaussian(s, i, p, n, S->hue, -4.6, 0.7f, &r);
    }
    return GSZ_OK;
}

/* An indoor capture, seen from inside: a closed room 8 x 3 x 10 units (floor at y = 1.5, y down) whose
 * walls, floor and ceiling hold 60% of the Gaussians, opaque and overlapping (nothing shows through
 * from outside), and 12 pieces of furniture (boxes and spheres) standing inside with the rest. */
gsz_error gsz_synth_room(size_t count, int deg, uint64_t seed, gsz_scene *s) {
    gsz_error e = gsz_scene_alloc(s, count, deg);
    if (e) return e;
    gsz_rng r = {seed * 0x2545F4914F6CDD1Dull + 3};
    static const float half[3] = {4.0f, 1.5f, 5.0f};
    float area[6], total = 0, hue[6];
    for (int f = 0; f < 6; f++) {
        int ax = f / 2;
        area[f] = 4.0f * half[(ax + 1) % 3] * half[(ax + 2) % 3];
        total += area[f];
        hue[f] = (float)gsz_rng_uniform(&r);
    }
    enum { NF = 12 };
    surface fu[NF];
    for (int j = 0; j < NF; j++) {
        fu[j].kind = (int)(gsz_rng_next(&r) % 2);
        fu[j].r = (float)(0.25 + 0.45 * gsz_rng_uniform(&r));
        fu[j].c[0] = (float)((gsz_rng_uniform(&r) * 2 - 1) * (half[0] - 1.0));
        fu[j].c[2] = (float)((gsz_rng_uniform(&r) * 2 - 1) * (half[2] - 1.0));
        fu[j].c[1] = half[1] - fu[j].r - (float)(gsz_rng_uniform(&r) * 0.8); /* on or a little above the floor */
        fu[j].hue = (float)gsz_rng_uniform(&r);
    }
    size_t walls = count * 3 / 5;
    for (size_t i = 0; i < count; i++) {
        float p[3], n[3];
        if (i < walls) { /* faces in proportion to their area, normals pointing into the room */
            float u = (float)gsz_rng_uniform(&r) * total;
            int f = 0;
            while (f < 5 && u > area[f]) u -= area[f++];
            int ax = f / 2;
            float sg = f % 2 ? 1.0f : -1.0f;
            for (int k = 0; k < 3; k++) { p[k] = half[k] * (float)(gsz_rng_uniform(&r) * 2 - 1); n[k] = 0; }
            p[ax] = sg * half[ax];
            n[ax] = -sg;
            jitter(p, &r);
            /* about six overlap anywhere (sized by the spacing): opaque from both sides, as trained walls are */
            surface_gaussian(s, i, p, n, hue[f], log(sqrt(total / (double)walls)) - 0.7, 1.0f, &r);
        } else {
            const surface *S = &fu[gsz_rng_next(&r) % NF];
            surface_point(S, &r, p, n);
            jitter(p, &r);
            surface_gaussian(s, i, p, n, S->hue, -4.0, 0.7f, &r);
        }
    }
    return GSZ_OK;
}

/* The unit vector at azimuth az about y and elevation el (y down: negative el is up). */
static void unit_dir(double az, double el, float d[3]) {
    d[0] = (float)(cos(el) * sin(az));
    d[1] = (float)sin(el);
    d[2] = (float)(cos(el) * cos(az));
}

/* An unbounded capture's background: patches of Gaussians (distant surfaces: hills, buildings, trees)
 * at distances log-uniform in [15, 400] scene units from the origin, above and around the scene, each
 * Gaussian about 1/100 of its distance wide, as training leaves them where each covers a few pixels
 * of the cameras in the middle; plus a sky dome of large smooth ones. */
gsz_error gsz_synth_background(gsz_scene *s, size_t count, uint64_t seed) {
    gsz_scene o;
    size_t n0 = s->count;
    gsz_error e = gsz_scene_alloc(&o, n0 + count, s->sh_degree);
    if (e) return e;
    int nr = gsz_shRestCount(s->sh_degree);
    memcpy(o.pos, s->pos, n0 * 12);
    memcpy(o.scale, s->scale, n0 * 12);
    memcpy(o.rot, s->rot, n0 * 16);
    memcpy(o.opacity, s->opacity, n0 * 4);
    memcpy(o.sh_dc, s->sh_dc, n0 * 12);
    if (nr) memcpy(o.sh_rest, s->sh_rest, n0 * (size_t)nr * 12);
    gsz_rng r = {seed * 0x9E3779B97F4A7C15ull + 7};
    enum { NP = 24 };
    float pd[NP][3], pr[NP], ps[NP], hue[NP];
    for (int j = 0; j < NP; j++) {
        double az = 6.283185307 * gsz_rng_uniform(&r), el = -0.05 - 0.5 * gsz_rng_uniform(&r); /* y-down: above the horizon */
        unit_dir(az, el, pd[j]);
        pr[j] = (float)exp(log(15.0) + (log(400.0) - log(15.0)) * gsz_rng_uniform(&r));
        ps[j] = (float)(0.1 + 0.25 * gsz_rng_uniform(&r)); /* angular size */
        hue[j] = (float)gsz_rng_uniform(&r);
    }
    for (size_t i = n0; i < n0 + count; i++) {
        int sky = gsz_rng_uniform(&r) < 0.1, j = 0;
        float p[3], n[3], d;
        if (sky) {
            double az = 6.283185307 * gsz_rng_uniform(&r), el = -asin(gsz_rng_uniform(&r));
            unit_dir(az, el, n);
            d = (float)(500.0 + 100.0 * gsz_rng_uniform(&r));
        } else {
            j = (int)(gsz_rng_next(&r) % NP);
            float v[3];
            for (int k = 0; k < 3; k++) v[k] = pd[j][k] + ps[j] * (float)gsz_rng_normal(&r);
            float l = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) + 1e-9f;
            for (int k = 0; k < 3; k++) n[k] = v[k] / l;
            d = pr[j] * (float)(1.0 + 0.05 * gsz_rng_normal(&r));
        }
        for (int k = 0; k < 3; k++) p[k] = d * n[k];
        memcpy(o.pos + 3 * i, p, sizeof p);
        float base = logf(d * (sky ? 0.08f : 0.01f)) + 0.4f * (float)gsz_rng_normal(&r);
        o.scale[3 * i] = base + 0.3f * (float)gsz_rng_normal(&r);
        o.scale[3 * i + 1] = base + 0.3f * (float)gsz_rng_normal(&r);
        o.scale[3 * i + 2] = base - 1.0f + 0.5f * (float)gsz_rng_normal(&r);
        float q[4], in[3] = {-n[0], -n[1], -n[2]}; /* facing the scene */
        quat_from_normal(in, (float)(gsz_rng_uniform(&r) * 6.2831853), q);
        memcpy(o.rot + 4 * i, q, sizeof q);
        o.opacity[i] = (float)(2.5 + 1.0 * gsz_rng_normal(&r));
        for (int c = 0; c < 3; c++) {
            float col = sky ? 0.35f + 0.4f * (float)c / 2.0f * (0.6f - 0.4f * n[1]) + 0.01f * (float)gsz_rng_normal(&r)
                            : 0.45f + 0.3f * sinf(6.2831853f * (hue[j] + (float)c / 3.0f)) + 0.1f * sinf(40.0f * n[0] + 25.0f * n[1] + (float)c) +
                                  0.04f * (float)gsz_rng_normal(&r);
            o.sh_dc[3 * i + (size_t)c] = (col - 0.5f) / GSZ_SH_C0;
        }
        for (int k = 0; k < 3 * nr; k++) o.sh_rest[i * (size_t)nr * 3 + (size_t)k] = (sky ? 0.002f : 0.01f) * (float)gsz_rng_normal(&r);
    }
    gsz_scene_free(s);
    *s = o;
    return GSZ_OK;
}

/* 256 evenly spaced values over [lo, hi] of v (n values): each value replaced by its nearest. */
static void snap256(float *v, size_t n) {
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) { lo = GSZ_MIN(lo, v[i]); hi = GSZ_MAX(hi, v[i]); }
    if (!(hi > lo)) return;
    for (size_t i = 0; i < n; i++) {
        double q = floor((double)(v[i] - lo) / (double)(hi - lo) * 255.0 + 0.5);
        v[i] = (float)((double)lo + (double)(hi - lo) * q / 255.0);
    }
}

gsz_error gsz_synth_palettize(gsz_scene *s, size_t entries, uint64_t seed) {
    size_t n = s->count, nr = (size_t)gsz_shRestCount(s->sh_degree) * 3;
    snap256(s->scale, 3 * n);
    snap256(s->sh_dc, 3 * n);
    if (!nr || !entries) return GSZ_OK;
    snap256(s->sh_rest, nr * n);
    /* every Gaussian takes the SH of one of `entries` Gaussians picked at random */
    gsz_rng r = {seed * 0x9E3779B97F4A7C15ull + 7};
    size_t *pick = gsz_malloc_array(entries, sizeof(size_t));
    if (!pick) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    for (size_t j = 0; j < entries; j++) pick[j] = (size_t)(gsz_rng_next(&r) % n);
    for (size_t i = 0; i < n; i++) {
        size_t src = pick[gsz_rng_next(&r) % entries];
        if (src != i) memmove(s->sh_rest + i * nr, s->sh_rest + src * nr, nr * sizeof(float));
    }
    free(pick);
    return GSZ_OK;
}
