/* Using libgsz from your own program: load a scene, compress it in memory, decode it again and measure
 * what the compression cost on one generated view. Built against an installed gsz:
 *
 *   cmake --install build --prefix ~/.local
 *   cc example.c $(PKG_CONFIG_PATH=~/.local/lib/pkgconfig pkg-config --cflags --libs gsz) -o example
 *   ./example scene.ply [out.gsz]
 */
#include <gsz.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, gsz_error e) {
    fprintf(stderr, "example: %s: %s (%s)\n", what, gsz_getErrorDetail(), gsz_getErrorName(e));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: example SCENE [OUT.gsz]\n"); return 2; }
    gsz_scene scene = {0}, decoded = {0};
    gsz_error e = gsz_scene_load(argv[1], &scene, 0, NULL); /* .ply, .splat, .spz or .gsz */
    if (gsz_isError(e)) return fail("load", e);

    gsz_compress_options opt = {0}; /* zero: the balanced preset's defaults, all cores */
    opt.preset = GSZ_PRESET_BALANCED;
    void *file = NULL;
    size_t size = 0;
    gsz_compress_stats st;
    if (gsz_isError(e = gsz_compress(&scene, &opt, &file, &size, &st))) return fail("compress", e);
    printf("%zu Gaussians -> %zu bytes (%.2f B/Gaussian), %zu kept\n", st.input_count, size,
           (double)size / (double)st.input_count, st.output_count);
    if (argc > 2) {
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(file, 1, size, f) != size || fclose(f)) { fprintf(stderr, "example: cannot write %s\n", argv[2]); return 1; }
    }

    if (gsz_isError(e = gsz_decompress(file, size, &decoded, 0))) return fail("decompress", e);
    free(file);

    /* one 640x480 view of each, as gsz compare renders them */
    gsz_camera cam;
    if (gsz_isError(e = gsz_cameras_generate(&scene, 1, 640, 480, 0, &cam))) return fail("cameras", e);
    size_t n = (size_t)cam.width * (size_t)cam.height * 3;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b) { fprintf(stderr, "example: out of memory\n"); return 1; }
    gsz_render_options ro = {0};
    if (gsz_isError(e = gsz_render(&scene, &cam, &ro, a)) || gsz_isError(e = gsz_render(&decoded, &cam, &ro, b))) return fail("render", e);
    printf("decoded: %zu Gaussians, SH degree %d; PSNR %.2f dB, SSIM %.4f on one view\n", decoded.count, decoded.sh_degree,
           gsz_psnr(a, b, n), gsz_ssim(a, b, cam.width, cam.height));
    free(a);
    free(b);
    gsz_scene_free(&scene);
    gsz_scene_free(&decoded);
    return 0;
}
