/* Cameras: the 3DGS training run's cameras.json, and generated views for scenes without one. */
#include "common.h"

#include <cjson/cJSON.h>
#include <string.h>

/* A finite number: 1 and *v, else 0. */
static int json_finite(const cJSON *it, double *v) {
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) return 0;
    *v = it->valuedouble;
    return 1;
}
static int json_num(const cJSON *o, const char *key, double *v) { return json_finite(cJSON_GetObjectItemCaseSensitive(o, key), v); }

/* Fills R (world->camera) and t from a camera centre and a camera->world rotation (columns = camera axes). */
static void set_pose(gsz_camera *c, const double c2w[9], const double center[3]) {
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 3; k++) c->R[r * 3 + k] = (float)c2w[k * 3 + r]; /* transpose */
    for (int r = 0; r < 3; r++) {
        c->center[r] = (float)center[r];
        c->t[r] = -(float)(c2w[0 * 3 + r] * center[0] + c2w[1 * 3 + r] * center[1] + c2w[2 * 3 + r] * center[2]);
    }
}

gsz_error gsz_cameras_read(const char *path, gsz_camera **out, size_t *count) {
    *out = NULL;
    *count = 0;
    void *data;
    size_t size;
    gsz_error e = gsz_read_file(path, &data, &size);
    if (e) return e;
    e = gsz_cameras_read_memory(data, size, path, out, count);
    free(data);
    return e;
}

gsz_error gsz_cameras_read_memory(const void *data, size_t size, const char *path, gsz_camera **out, size_t *count) {
    *out = NULL;
    *count = 0;
    cJSON *root = cJSON_ParseWithLength(data, size);
    if (!root) return gsz_fail(GSZ_ERROR_format, "%s: not valid JSON", path);
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        return gsz_fail(GSZ_ERROR_format, "%s: expected a non-empty array of cameras", path);
    }
    size_t n = (size_t)cJSON_GetArraySize(root), i = 0;
    gsz_camera *cams = gsz_calloc_array(n, sizeof *cams);
    if (!cams) { cJSON_Delete(root); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        gsz_camera *c = &cams[i];
        double w, h, fx, fy, pos[3], rot[9];
        const char *bad = NULL, *why = "missing or bad";
        if (!json_num(it, "width", &w) || !json_num(it, "height", &h) || w < 1 || h < 1 || w > 65536 || h > 65536) bad = "width/height";
        else if (!json_num(it, "fx", &fx) || !json_num(it, "fy", &fy) || fx <= 0 || fy <= 0) bad = "fx/fy";
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "position");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "rotation");
        if (!bad && (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 3)) bad = "position";
        if (!bad && (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 3)) bad = "rotation";
        for (int k = 0; !bad && k < 3; k++) {
            const cJSON *pk = cJSON_GetArrayItem(p, k), *rk = cJSON_GetArrayItem(r, k);
            if (!json_finite(pk, &pos[k])) { bad = "position"; break; }
            if (!cJSON_IsArray(rk) || cJSON_GetArraySize(rk) != 3) { bad = "rotation"; break; }
            for (int m = 0; m < 3 && !bad; m++)
                if (!json_finite(cJSON_GetArrayItem(rk, m), &rot[k * 3 + m])) bad = "rotation";
        }
        if (!bad) { /* a rotation: orthonormal (to the few digits exporters write) and no reflection */
            double worst = 0, det = rot[0] * (rot[4] * rot[8] - rot[5] * rot[7]) - rot[1] * (rot[3] * rot[8] - rot[5] * rot[6]) +
                                   rot[2] * (rot[3] * rot[7] - rot[4] * rot[6]);
            for (int r = 0; r < 3; r++)
                for (int q = 0; q < 3; q++) {
                    double d = rot[r] * rot[q] + rot[3 + r] * rot[3 + q] + rot[6 + r] * rot[6 + q] - (r == q);
                    worst = GSZ_MAX(worst, fabs(d));
                }
            if (worst > 1e-2 || det <= 0) { bad = "rotation"; why = "not a rotation matrix:"; }
        }
        if (bad) {
            free(cams);
            cJSON_Delete(root);
            return gsz_fail(GSZ_ERROR_format, "%s: camera %zu: %s '%s'", path, i, why, bad);
        }
        c->width = (int)w;
        c->height = (int)h;
        c->fx = (float)fx;
        c->fy = (float)fy;
        c->cx = (float)w * 0.5f;
        c->cy = (float)h * 0.5f;
        set_pose(c, rot, pos);
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "img_name");
        if (cJSON_IsString(nm)) snprintf(c->name, sizeof c->name, "%s", nm->valuestring);
        else snprintf(c->name, sizeof c->name, "camera%zu", i);
        i++;
    }
    cJSON_Delete(root);
    *out = cams;
    *count = n;
    return GSZ_OK;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Sorting buffers of n entries (gsz_radix_sort32's keys, values and their temporaries). */
typedef struct {
    uint32_t *key, *id, *tk, *tv;
} sorter;

/* The value below which a fraction q of the weight w lies: v[i] (with key[i] its sort key) in order. */
static double weighted_quantile(const double *v, const double *w, size_t n, double q, sorter *t) {
    for (size_t i = 0; i < n; i++) t->id[i] = (uint32_t)i;
    gsz_radix_sort32(t->key, t->id, n, t->tk, t->tv);
    double total = 0, acc = 0;
    for (size_t i = 0; i < n; i++) total += w[t->id[i]];
    for (size_t i = 0; i < n; i++)
        if ((acc += w[t->id[i]]) >= q * total) return v[t->id[i]];
    return v[t->id[n - 1]];
}

/* Weights 1/s^3 (s: a Gaussian's largest axis, clamped to the 5th..95th percentile) count Gaussians
 * by the volume they stand for: the dense region, where the detail is, outweighs a background of
 * large Gaussians however many there are (a plain median lands in the background where that holds
 * most Gaussians). Radix sorts: the encoder asks for this a few times per scene. */
int gsz_scene_core(const gsz_scene *s, float center[3], float *radius) {
    center[0] = center[1] = center[2] = 0;
    *radius = 0;
    if (s->count < 16 || !s->scale) return 0;
    size_t step = s->count / 200000 + 1, n = (s->count + step - 1) / step;
    sorter t = {malloc(n * 4), malloc(n * 4), malloc(n * 4), malloc(n * 4)};
    double *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
    int far = -1;
    if (!t.key || !t.id || !t.tk || !t.tv || !v || !w) goto done;
    far = 0;
    for (size_t j = 0; j < n; j++) {
        const float *l = s->scale + 3 * j * step;
        float m = GSZ_MAX(l[0], GSZ_MAX(l[1], l[2]));
        w[j] = m;
        t.key[j] = gsz_float_sort_key(m);
        t.id[j] = (uint32_t)j;
    }
    gsz_radix_sort32(t.key, t.id, n, t.tk, t.tv);
    double lo = w[t.id[(size_t)(0.05 * (double)(n - 1))]], hi = w[t.id[(size_t)(0.95 * (double)(n - 1))]];
    for (size_t j = 0; j < n; j++) w[j] = exp(-3.0 * (GSZ_CLAMP(w[j], lo, hi) - hi)); /* (s_95 / s)^3 >= 1 */
    double c[3];
    for (int k = 0; k < 3; k++) {
        for (size_t j = 0; j < n; j++) {
            float x = s->pos[3 * j * step + (size_t)k];
            v[j] = x;
            t.key[j] = gsz_float_sort_key(x);
        }
        c[k] = weighted_quantile(v, w, n, 0.5, &t);
    }
    for (size_t j = 0; j < n; j++) {
        const float *p = s->pos + 3 * j * step;
        double dx = p[0] - c[0], dy = p[1] - c[1], dz = p[2] - c[2];
        v[j] = sqrt(dx * dx + dy * dy + dz * dz);
        t.key[j] = gsz_float_sort_key((float)v[j]);
    }
    double r = weighted_quantile(v, w, n, 0.9, &t);
    if (!(r > 0) || !isfinite(r)) goto done;
    float bmin[3], bmax[3];
    gsz_scene_bounds(s, bmin, bmax);
    double reach = 0;
    for (int k = 0; k < 3; k++) {
        center[k] = (float)c[k];
        reach = GSZ_MAX(reach, GSZ_MAX(fabs(bmin[k] - c[k]), fabs(bmax[k] - c[k])));
    }
    *radius = (float)r;
    far = reach > GSZ_FAR_REACH * r;
done:
    free(t.key); free(t.id); free(t.tk); free(t.tv); free(v); free(w);
    return far;
}

/* The positions of the opaque Gaussians (logit > 0: opacity over 0.5), within r of c where c is given,
 * or of all of them where fewer than 16 are; subsampled deterministically to bound the cost. Axis k's
 * values at v + k * cap in a new array of columns x cap floats (columns >= 3, the rest the caller's);
 * NULL when out of memory. */
static float *sample_positions(const gsz_scene *s, const float *c, float r, int columns, size_t *n, size_t *cap) {
    size_t step = s->count / 200000 + 1;
    *cap = s->count / step + 1;
    *n = 0;
    float *v = malloc(*cap * (size_t)columns * sizeof(float));
    if (!v) return NULL;
    double r2 = (double)r * (double)r;
    for (int pass = 0; pass < 2 && (pass == 0 || *n < 16); pass++) {
        *n = 0;
        for (size_t i = 0; i < s->count; i += step) {
            const float *p = s->pos + 3 * i;
            if (!pass && !(s->opacity[i] > 0.0f)) continue;
            if (!pass && c) {
                double dx = p[0] - c[0], dy = p[1] - c[1], dz = p[2] - c[2];
                if (!(dx * dx + dy * dy + dz * dz <= r2)) continue;
            }
            for (int k = 0; k < 3; k++) v[(size_t)k * *cap + *n] = p[k];
            (*n)++;
        }
    }
    return v;
}

void gsz_scene_focus(const gsz_scene *s, float center[3], float *radius) {
    center[0] = center[1] = center[2] = 0;
    *radius = 1;
    if (!s->count) return;
    size_t n, cap;
    float *v = sample_positions(s, NULL, 0, 4, &n, &cap);
    if (!v) return;
    for (int k = 0; k < 3; k++) {
        float *a = v + k * cap;
        float *tmp = malloc(n * sizeof(float));
        if (!tmp) break;
        memcpy(tmp, a, n * sizeof(float));
        qsort(tmp, n, sizeof(float), cmp_float);
        center[k] = tmp[n / 2];
        free(tmp);
    }
    float *d = v + 3 * cap;
    for (size_t i = 0; i < n; i++) {
        float dx = v[i] - center[0], dy = v[cap + i] - center[1], dz = v[2 * cap + i] - center[2];
        d[i] = sqrtf(dx * dx + dy * dy + dz * dz);
    }
    qsort(d, n, sizeof(float), cmp_float);
    *radius = d[(size_t)(0.9 * (double)(n - 1))];
    if (!(*radius > 1e-6f)) *radius = 1;
    free(v);
    float cc[3], cr;
    if (gsz_scene_core(s, cc, &cr) > 0 && cr > 1e-6f) { /* unbounded: the views frame the dense region, not the background */
        memcpy(center, cc, sizeof cc);
        *radius = cr;
    }
}

static void normalize3(double v[3]) {
    double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (n > 0) { v[0] /= n; v[1] /= n; v[2] /= n; }
}

static void cross3(const double a[3], const double b[3], double o[3]) {
    o[0] = a[1] * b[2] - a[2] * b[1];
    o[1] = a[2] * b[0] - a[0] * b[2];
    o[2] = a[0] * b[1] - a[1] * b[0];
}

void gsz_camera_look_at(gsz_camera *cam, const float eye[3], const float target[3], const float up_in[3], int width,
                        int height, float fov_deg) {
    if (fov_deg <= 0) fov_deg = 50;
    double fwd[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]}, up[3] = {up_in[0], up_in[1], up_in[2]};
    double right[3], down[3];
    normalize3(fwd);
    cross3(fwd, up, right); /* forward x up points right in a y-down image */
    if (right[0] * right[0] + right[1] * right[1] + right[2] * right[2] < 1e-12) {
        double alt[3] = {up[1], up[2], up[0]}; /* looking along up: any perpendicular will do */
        cross3(fwd, alt, right);
    }
    normalize3(right);
    cross3(fwd, right, down);
    normalize3(down);
    double c2w[9] = {right[0], down[0], fwd[0], right[1], down[1], fwd[1], right[2], down[2], fwd[2]};
    double pos[3] = {eye[0], eye[1], eye[2]};
    memset(cam, 0, sizeof *cam);
    cam->width = width;
    cam->height = height;
    cam->fx = cam->fy = (float)(0.5 * height / tan(0.5 * fov_deg * GSZ_PI / 180.0));
    cam->cx = 0.5f * (float)width;
    cam->cy = 0.5f * (float)height;
    set_pose(cam, c2w, pos);
}

int gsz_camera_fit_side(gsz_camera *cam, int side) {
    int m = GSZ_MAX(cam->width, cam->height);
    if (m <= side) return 0;
    float f = (float)side / (float)m;
    cam->width = GSZ_MAX(1, (int)lroundf((float)cam->width * f));
    cam->height = GSZ_MAX(1, (int)lroundf((float)cam->height * f));
    cam->fx *= f; cam->fy *= f; cam->cx *= f; cam->cy *= f;
    return 1;
}

void gsz_camera_resize(gsz_camera *cam, int width, int height) {
    float sx = (float)width / (float)cam->width, sy = (float)height / (float)cam->height;
    cam->fx *= sx; cam->cx *= sx;
    cam->fy *= sy; cam->cy *= sy;
    cam->width = width;
    cam->height = height;
}

/* The box of the scene's dense region: per axis the 10th to 90th percentiles of its opaque Gaussians
 * (all where too few are) within 2r of the focus c (an unbounded capture's background left out),
 * sampled by sample_positions. mid: the box's centre, half: its half-extents (1 where empty). */
static void dense_box(const gsz_scene *s, const float c[3], float r, float mid[3], float half[3]) {
    for (int k = 0; k < 3; k++) { mid[k] = c[k]; half[k] = 1; }
    if (!s->count) return;
    size_t n, cap;
    float *v = sample_positions(s, c, 2 * r, 3, &n, &cap);
    if (!v) return;
    for (int k = 0; k < 3; k++) {
        float *a = v + (size_t)k * cap;
        qsort(a, n, sizeof(float), cmp_float);
        float lo = a[(size_t)(0.1 * (double)(n - 1))], hi = a[(size_t)(0.9 * (double)(n - 1))];
        if (hi - lo > 2e-6f && isfinite(hi - lo)) { mid[k] = 0.5f * (lo + hi); half[k] = 0.5f * (hi - lo); }
    }
    free(v);
}

gsz_error gsz_cameras_place(const gsz_scene *s, gsz_placement where, size_t count, int width, int height, float fov_deg,
                            gsz_camera *out) {
    if (width < 1 || height < 1) return gsz_fail(GSZ_ERROR_argument, "bad view size %dx%d", width, height);
    int inside = where == GSZ_PLACEMENT_INSIDE;
    if (fov_deg <= 0) fov_deg = inside ? 70 : 50;
    float c[3], r, mid[3], half[3];
    gsz_scene_focus(s, c, &r);
    if (inside) dense_box(s, c, r, mid, half);
    double half_min = 0.5 * fov_deg * GSZ_PI / 180.0;
    if (width < height) half_min = atan(tan(half_min) * width / height);
    double dist = r / sin(half_min) * 1.05;
    const float up[3] = {0, -1, 0}; /* COLMAP scenes are y-down */
    for (size_t i = 0; i < count; i++) {
        /* golden-angle spiral over elevations -35..+65 degrees */
        double t = count > 1 ? (double)i / (double)(count - 1) : 0.5;
        double elev = (-35.0 + 100.0 * t) * GSZ_PI / 180.0;
        double azim = (double)i * 2.399963229728653;
        float eye[3] = {(float)(c[0] + dist * cos(elev) * sin(azim)), (float)(c[1] - dist * sin(elev)), (float)(c[2] + dist * cos(elev) * cos(azim))};
        float target[3] = {c[0], c[1], c[2]};
        if (inside) { /* halfway out from the dense box's centre, per axis (a room is low), looking back across
                       * it to the far side */
            double d[3] = {cos(elev) * sin(azim), -sin(elev), cos(elev) * cos(azim)};
            for (int k = 0; k < 3; k++) {
                eye[k] = (float)(mid[k] + 0.5 * half[k] * d[k]);
                target[k] = (float)(mid[k] - half[k] * d[k]);
            }
        }
        gsz_camera_look_at(&out[i], eye, target, up, width, height, fov_deg);
        snprintf(out[i].name, sizeof out[i].name, "%s%03zu", inside ? "inside" : "view", i);
    }
    return GSZ_OK;
}

gsz_error gsz_cameras_generate(const gsz_scene *s, size_t count, int width, int height, float fov_deg, gsz_camera *out) {
    return gsz_cameras_place(s, GSZ_PLACEMENT_AROUND, count, width, height, fov_deg, out);
}
