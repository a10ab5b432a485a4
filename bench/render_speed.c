/* The CPU renderer's speed on a scene: the forward pass on 8 generated 1280x720 views, 8 fitting
 * steps' worth of work (a 512x384 render as the target, then the gradient pass of the neighbouring
 * view), and the forward pass on 8 views of 160x90, where the per-Gaussian projection outweighs the
 * pixels; each the best of REPS repetitions. Renderer changes are measured with it side by side, two
 * builds alternating (docs/BENCHMARKS.md, session 29).
 * usage: build/render_speed SCENE [REPS] [THREADS] */
#include "common.h" /* gsz.h, gsz_now, GSZ_MIN */

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s SCENE [REPS] [THREADS]\n", argv[0]); return 2; }
    int reps = argc > 2 ? atoi(argv[2]) : 5, threads = argc > 3 ? atoi(argv[3]) : 2;
    gsz_scene s = {0};
    gsz_error e = gsz_scene_load(argv[1], &s, threads, NULL);
    gsz_camera big[8], fit[8], tiny[8];
    if (!e) e = gsz_cameras_generate(&s, 8, 1280, 720, 0, big);
    if (!e) e = gsz_cameras_generate(&s, 8, 160, 90, 0, tiny);
    if (!e) e = gsz_cameras_generate(&s, 8, 512, 384, 0, fit);
    if (e) { fprintf(stderr, "%s: %s\n", argv[1], gsz_getErrorDetail()); return 1; }
    size_t n = s.count;
    float *img = malloc((size_t)1280 * 720 * 3 * sizeof *img), *target = malloc((size_t)512 * 384 * 3 * sizeof *target);
    gsz_render_grad G = {NULL, malloc(n * 3 * sizeof(float)), malloc(n * 4 * sizeof(float)), malloc(n * sizeof(float)),
                         malloc(n * 3 * sizeof(float))};
    gsz_render_options o = {0};
    o.threads = threads;
    o.workspace = gsz_render_workspace_create();
    if (!img || !target || !G.scale || !G.rot || !G.opacity || !G.rgb || !o.workspace) { fprintf(stderr, "out of memory\n"); return 1; }
    double best_fwd = 1e30, best_fit = 1e30, best_tiny = 1e30;
    for (int r = 0; r < reps && !e; r++) {
        double t = gsz_now();
        for (int v = 0; v < 8 && !e; v++) e = gsz_render(&s, &big[v], &o, img);
        best_fwd = GSZ_MIN(best_fwd, gsz_now() - t);
        t = gsz_now();
        for (int v = 0; v < 8 && !e; v++) {
            e = gsz_render(&s, &fit[(v + 1) % 8], &o, target);
            if (!e) e = gsz_render_gradient(&s, &fit[v], &o, target, &G, NULL);
        }
        best_fit = GSZ_MIN(best_fit, gsz_now() - t);
        t = gsz_now();
        for (int v = 0; v < 8 && !e; v++) e = gsz_render(&s, &tiny[v], &o, img);
        best_tiny = GSZ_MIN(best_tiny, gsz_now() - t);
    }
    if (e) { fprintf(stderr, "%s: %s\n", argv[1], gsz_getErrorDetail()); return 1; }
    printf("%s: %zu Gaussians, %d threads: forward 8 x 1280x720 %.1f ms, 8 x (render + gradient) at 512x384 %.1f ms, "
           "forward 8 x 160x90 %.1f ms\n", argv[1], n, threads, 1e3 * best_fwd, 1e3 * best_fit, 1e3 * best_tiny);
    gsz_render_workspace_free(o.workspace);
    gsz_scene_free(&s);
    free(img); free(target); free(G.scale); free(G.rot); free(G.opacity); free(G.rgb);
    return 0;
}
