/* PNG output through libpng, written atomically. */
#include "common.h"

#include <png.h>
#include <setjmp.h>
#include <string.h>

gsz_error gsz_png_write(const char *path, const float *rgb, int w, int h) {
    if (w < 1 || h < 1) return gsz_fail(GSZ_ERROR_argument, "%s: bad image size", path);
    uint8_t *row8 = malloc((size_t)w * 3);
    if (!row8) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    gsz_outfile o;
    gsz_error e = gsz_outfile_open(&o, path);
    if (e) { free(row8); return e; }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row8);
        gsz_outfile_abort(&o);
        return gsz_fail(GSZ_ERROR_io, "%s: PNG encoding failed", path);
    }
    png_init_io(png, o.f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) {
        const float *src = rgb + (size_t)y * (size_t)w * 3;
        for (size_t i = 0; i < (size_t)w * 3; i++) {
            float v = src[i];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            row8[i] = (uint8_t)(v * 255.0f + 0.5f);
        }
        png_write_row(png, row8);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row8);
    return gsz_outfile_commit(&o);
}
