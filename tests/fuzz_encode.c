/* libFuzzer harness: the encoder on arbitrary scenes through the library API (any float: NaN, Inf,
 * 1e38 included; any preset and SH degree, with or without fine-tuning and target pruning: bits of the
 * first byte). gsz_compress either refuses with an error or writes a file that decodes, and (bit 6)
 * the same file on two threads as on one; (bit 7, without the two-thread check) a --max-bytes cap
 * from the last byte, which the file meets; else the last byte's bit 0 places the generated views
 * inside the scene and its bit 1 asks for 8 geometry entries (k-means codebooks, whose indices
 * fine-tuning chooses again). */
#include "gsz.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int degree = data[0] >> 2 & 3;
    size_t row = (size_t)(14 + 3 * gsz_shRestCount(degree)) * sizeof(float), n = (size - 1) / row;
    if (n == 0) return 0;
    if (n > 48) n = 48; /* a few renders of a small scene per input */
    gsz_scene s;
    if (gsz_scene_alloc(&s, n, degree) != GSZ_OK) return 0;
    const uint8_t *p = data + 1;
    size_t nr = 3 * (size_t)gsz_shRestCount(degree);
    for (size_t i = 0; i < n; i++) {
        memcpy(s.pos + 3 * i, p, 12); p += 12;
        memcpy(s.sh_dc + 3 * i, p, 12); p += 12;
        if (nr) { memcpy(s.sh_rest + nr * i, p, nr * 4); p += nr * 4; }
        memcpy(&s.opacity[i], p, 4); p += 4;
        memcpy(s.scale + 3 * i, p, 12); p += 12;
        memcpy(s.rot + 4 * i, p, 16); p += 16;
    }
    gsz_compress_options o = {0};
    o.preset = (gsz_preset)(data[0] & 3);
    o.views = 2;
    o.threads = 1;
    o.refine = data[0] >> 4 & 1 ? 3 : -1;
    o.target_psnr = data[0] >> 5 & 1 ? 0 : -1; /* the preset's target pruning: its 1280x720 renders cost seconds here */
    o.zstd_level = 3;
    if (data[0] >> 7) { /* these scenes' files: 200-3,000 bytes; up to 8 encodes, so without target pruning's renders */
        o.max_bytes = 150 + 8 * (size_t)data[size - 1];
        o.target_psnr = -1;
    } else {
        if (data[size - 1] & 1) o.placement = GSZ_PLACEMENT_INSIDE;
        if (data[size - 1] & 2) o.codebook_geom = 8; /* fewer entries than Gaussians: fine-tuning reassigns them */
    }
    void *buf = NULL;
    size_t bytes = 0;
    if (gsz_compress(&s, &o, &buf, &bytes, NULL) == GSZ_OK) {
        if (o.max_bytes && bytes > o.max_bytes) {
            fprintf(stderr, "a file of %zu bytes over --max-bytes %zu\n", bytes, o.max_bytes);
            abort();
        }
        if (data[0] >> 6 & 1 && !o.max_bytes) { /* the same bytes on two threads (capped: test_max_bytes; its
                                                    measuring renders make a run here take a minute) */
            void *buf2 = NULL;
            size_t bytes2 = 0;
            o.threads = 2;
            if (gsz_compress(&s, &o, &buf2, &bytes2, NULL) != GSZ_OK || bytes2 != bytes || memcmp(buf, buf2, bytes)) {
                fprintf(stderr, "two threads gave another file (%zu bytes against %zu)\n", bytes2, bytes);
                abort();
            }
            free(buf2);
        }
        gsz_scene d;
        gsz_error e = gsz_decompress(buf, bytes, &d, 1);
        if (e) { /* the encoder wrote a file its decoder refuses */
            fprintf(stderr, "decode of the encoder's file: %s\n", gsz_getErrorDetail());
            abort();
        }
        gsz_scene_free(&d);
        free(buf);
    }
    gsz_scene_free(&s);
    return 0;
}
