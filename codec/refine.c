/* Colour refinement: after vector quantisation, the colour (DC) and SH codebook entries are fitted to
 * renders of the original scene, a distillation form of the codebook fine-tuning of Niedermayr et al.
 * (CVPR 2024) that needs no training images. With geometry and opacity fixed as decoded, a rendered
 * pixel is linear in each Gaussian's colour (C = sum_i alpha_i T_i c_i + T bg), and c_i is linear in the
 * entries its indices select, so half the squared image error has the gradient
 *   dL/d(entry) = sum_views sum_{i using it} basis(view, i) * sum_pixels alpha_i T_i error,
 * accumulated by the renderer's per-Gaussian hook. Entries take steps scaled by a diagonal bound on
 * the curvature (taken 6x larger, as that bound is loose by about the overlap of the splats); a step
 * that raises the error is undone and the step halved. Everything sums in fixed point or in Gaussian
 * order, so the result is the same for any thread count. */
#include "codec.h"

#include <string.h>

typedef struct {
    float *cb;      /* codebook_size * dim floats (the decoded entries, updated in place) */
    int k, dim, bits;
    double *g, *h;  /* gradient and diagonal Hessian per value */
    float *saved;   /* entries before the last step */
} book;

/* Bits per value of a stored codebook (its header: u32 k, u16 dim, u8 bits). */
static int codebook_bits(const gsz_section *sec, int *bits) {
    uint8_t *raw = malloc((size_t)sec->elements ? (size_t)sec->elements : 1);
    if (!raw) return 0;
    int ok = sec->width == 1 && sec->elements >= 8 &&
             !gsz_entropy_decode(sec->payload, (size_t)sec->stored_size, sec->transform, (size_t)sec->elements, 1, raw);
    if (ok) *bits = raw[6];
    free(raw);
    return ok;
}

/* Colours of the decoded scene from the current entries. */
static void apply(gsz_scene *d, const gsz_indexed *x, book *books) {
    size_t nr3 = (size_t)gsz_shRestCount(x->sh_degree) * 3;
    for (size_t i = 0; i < x->count; i++) {
        memcpy(d->sh_dc + 3 * i, books[0].cb + 3 * (size_t)x->index[2][i], 12);
        int deg = x->degree ? x->degree[i] : 0;
        if (deg) memcpy(d->sh_rest + nr3 * i, books[deg].cb + (size_t)books[deg].dim * x->index[3][i], (size_t)books[deg].dim * sizeof(float));
    }
}

static double image_error(const float *a, const float *b, size_t n, float *err) {
    double s = 0;
    for (size_t j = 0; j < n; j++) {
        err[j] = a[j] - b[j];
        s += (double)err[j] * (double)err[j];
    }
    return s;
}

gsz_error gsz_refine_colours(const gsz_scene *original, const gsz_camera *views, size_t nviews, int iterations, int threads,
                             int level, gsz_progress_fn progress, void *user, uint8_t **file, size_t *size) {
    if (iterations <= 0 || nviews == 0) return GSZ_OK;
    gsz_indexed x;
    gsz_error err = gsz_decode_indexed(*file, *size, threads, &x);
    if (err) return err;
    gsz_scene d = {0};
    gsz_container C;
    book books[4] = {{0}};
    float **targets = calloc(nviews, sizeof *targets);
    float *img = NULL, *e = NULL;
    int64_t *grad = NULL;
    uint64_t *wsum = NULL;
    uint8_t *newfile = NULL;
    uint8_t *stored[4] = {0};
    gsz_camera *scaled = NULL;
    size_t n = x.count, maxpx = 0;
    if ((err = gsz_indexed_expand(&x, &d, threads))) goto done;
    if ((err = gsz_container_read(*file, *size, &C))) goto done;
    /* half the significance views' resolution (long side <= 256): nearly the same fit at a third less time */
    scaled = malloc(nviews * sizeof *scaled);
    if (!scaled) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    for (size_t v = 0; v < nviews; v++) {
        gsz_camera c = views[v];
        int side = GSZ_MAX(c.width, c.height);
        float f = side > 256 ? 256.0f / (float)side : 1.0f;
        c.width = GSZ_MAX(1, (int)lroundf((float)c.width * f));
        c.height = GSZ_MAX(1, (int)lroundf((float)c.height * f));
        c.fx *= f; c.fy *= f; c.cx *= f; c.cy *= f;
        scaled[v] = c;
    }
    views = scaled;
    for (size_t v = 0; v < nviews; v++) maxpx = GSZ_MAX(maxpx, (size_t)views[v].width * (size_t)views[v].height);
    img = gsz_malloc_array(maxpx, 3 * sizeof(float));
    e = gsz_malloc_array(maxpx, 3 * sizeof(float));
    grad = gsz_malloc_array(n, 3 * sizeof(int64_t));
    wsum = gsz_malloc_array(n, sizeof(uint64_t));
    if (!targets || !img || !e || !grad || !wsum) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    for (int b = 0; b <= x.sh_degree && b < 4; b++) {
        book *B = &books[b];
        B->cb = x.codebook[2 + b];
        B->k = x.codebook_size[2 + b];
        B->dim = b ? gsz_shRestCount(b) * 3 : 3;
        const gsz_section *sec = gsz_container_find(&C, b ? (uint32_t)(GSZ_SEC_SH1_CB + b - 1) : GSZ_SEC_DC_CB);
        if (!B->k || !sec) { B->k = 0; continue; }
        if (!codebook_bits(sec, &B->bits)) { err = gsz_fail(GSZ_ERROR_corrupt, "refine: unreadable codebook"); goto done; }
        size_t vals = (size_t)B->k * (size_t)B->dim;
        B->g = gsz_malloc_array(vals, sizeof(double));
        B->h = gsz_malloc_array(vals, sizeof(double));
        B->saved = gsz_malloc_array(vals, sizeof(float));
        if (!B->g || !B->h || !B->saved) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
    }
    gsz_render_options ro = {0};
    ro.threads = threads;
    for (size_t v = 0; v < nviews; v++) {
        targets[v] = gsz_malloc_array((size_t)views[v].width * (size_t)views[v].height, 3 * sizeof(float));
        if (!targets[v]) { err = gsz_fail(GSZ_ERROR_memory, "refine: out of memory"); goto done; }
        if ((err = gsz_render(original, &views[v], &ro, targets[v]))) goto done;
    }
    /* the bound counts every overlap as total, so it is loose by about the overlap: start at 6x it */
    double step = 6.0, prev_loss = INFINITY;
    for (int it = 0; it <= iterations; it++) {
        /* error and gradient of the current entries over all views */
        double loss = 0;
        for (int b = 0; b < 4; b++)
            if (books[b].k) {
                memset(books[b].g, 0, (size_t)books[b].k * (size_t)books[b].dim * sizeof(double));
                memset(books[b].h, 0, (size_t)books[b].k * (size_t)books[b].dim * sizeof(double));
            }
        for (size_t v = 0; v < nviews; v++) {
            const gsz_camera *cam = &views[v];
            size_t px = (size_t)cam->width * (size_t)cam->height * 3;
            ro.accum = NULL;
            if ((err = gsz_render(&d, cam, &ro, img))) goto done;
            loss += image_error(img, targets[v], px, e);
            if (it == iterations) continue; /* the last pass only measures */
            memset(grad, 0, n * 3 * sizeof(int64_t));
            memset(wsum, 0, n * sizeof(uint64_t));
            gsz_render_accum acc = {.weight = wsum, .error = e, .grad = grad};
            ro.accum = &acc;
            err = gsz_render(&d, cam, &ro, img);
            ro.accum = NULL;
            if (err) goto done;
            size_t nr3 = (size_t)gsz_shRestCount(x.sh_degree) * 3;
            for (size_t i = 0; i < n; i++) {
                if (!wsum[i]) continue;
                const float *p = d.pos + 3 * i;
                float dir[3] = {p[0] - cam->center[0], p[1] - cam->center[1], p[2] - cam->center[2]};
                float len = sqrtf(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
                if (len > 0) { dir[0] /= len; dir[1] /= len; dir[2] /= len; }
                int deg = x.degree ? x.degree[i] : 0;
                float basis[16], rgb[3];
                gsz_sh_basis(deg, dir, basis);
                gsz_sh_color(deg, basis, d.sh_dc + 3 * i, d.sh_rest ? d.sh_rest + nr3 * i : NULL, rgb);
                /* Curvature bound: at a pixel the blend weights sum to at most 1, so the image error's
                 * Hessian is at most diag(sum_p w_ip) per Gaussian colour; a colour sums entries times
                 * basis values b, and (sum_k b_k t_k)^2 <= (sum_j |b_j|)(sum_k |b_k| t_k^2). Steps of
                 * gradient / bound can only lower the error (a majorise-minimise iteration). */
                double bsum = 0;
                for (int l = 0; l < (deg + 1) * (deg + 1); l++) bsum += fabs((double)basis[l]);
                double hw = (double)wsum[i] / (double)GSZ_ACCUM_ONE * bsum;
                book *D0 = &books[0], *S = &books[deg];
                size_t a = (size_t)x.index[2][i] * 3, sb = deg ? (size_t)x.index[3][i] * (size_t)S->dim : 0;
                for (int ch = 0; ch < 3; ch++) {
                    if (rgb[ch] <= 0) continue; /* clamped at zero: the colour has no gradient */
                    double gw = (double)grad[3 * i + (size_t)ch] / (double)GSZ_ACCUM_ONE;
                    D0->g[a + (size_t)ch] += basis[0] * gw;
                    D0->h[a + (size_t)ch] += fabs((double)basis[0]) * hw;
                    if (!deg) continue;
                    for (int l = 0; l < S->dim / 3; l++) {
                        S->g[sb + (size_t)l * 3 + (size_t)ch] += basis[l + 1] * gw;
                        S->h[sb + (size_t)l * 3 + (size_t)ch] += fabs((double)basis[l + 1]) * hw;
                    }
                }
            }
        }
        if (progress) progress(user, "refine colours", (double)(it + 1) / (iterations + 1));
        if (loss > prev_loss) { /* overshot: back to the saved entries, half the step */
            for (int b = 0; b < 4; b++)
                if (books[b].k) memcpy(books[b].cb, books[b].saved, (size_t)books[b].k * (size_t)books[b].dim * sizeof(float));
            apply(&d, &x, books);
            step *= 0.5;
            if (it == iterations) break;
            /* the gradient just computed belongs to the rejected entries: recompute next round */
            prev_loss = INFINITY;
            continue;
        }
        prev_loss = loss;
        if (it == iterations) break;
        for (int b = 0; b < 4; b++) {
            book *B = &books[b];
            if (!B->k) continue;
            size_t vals = (size_t)B->k * (size_t)B->dim;
            memcpy(B->saved, B->cb, vals * sizeof(float));
            for (size_t j = 0; j < vals; j++)
                if (B->h[j] > 0) B->cb[j] -= (float)(step * B->g[j] / B->h[j]);
        }
        apply(&d, &x, books);
    }
    /* store the refined entries: re-quantise, re-encode those sections, rewrite the container */
    for (int b = 0; b < 4; b++) {
        book *B = &books[b];
        if (!B->k) continue;
        uint8_t *raw;
        size_t rsize, ssize;
        int tx;
        if ((err = gsz_codebook_pack(B->cb, B->k, B->dim, B->bits, &raw, &rsize))) goto done;
        err = gsz_entropy_encode(raw, rsize, 1, level, &stored[b], &ssize, &tx);
        free(raw);
        if (err) goto done;
        for (size_t s = 0; s < C.n; s++)
            if (C.s[s].type == (b ? (uint32_t)(GSZ_SEC_SH1_CB + b - 1) : (uint32_t)GSZ_SEC_DC_CB)) {
                C.s[s].payload = stored[b];
                C.s[s].stored_size = ssize;
                C.s[s].elements = rsize;
                C.s[s].transform = (uint8_t)tx;
            }
    }
    size_t newsize;
    if ((err = gsz_container_write(&C, &newfile, &newsize))) goto done;
    free(*file);
    *file = newfile;
    *size = newsize;
done:
    for (int b = 0; b < 4; b++) { free(books[b].g); free(books[b].h); free(books[b].saved); free(stored[b]); }
    if (targets)
        for (size_t v = 0; v < nviews; v++) free(targets[v]);
    free(targets); free(img); free(e); free(grad); free(wsum); free(scaled);
    gsz_scene_free(&d);
    gsz_indexed_free(&x);
    return err;
}
