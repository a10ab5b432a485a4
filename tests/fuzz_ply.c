/* libFuzzer harness: the scene readers on arbitrary bytes: PLY (and compressed.ply), .splat, .spz. */
#include "gsz.h"
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gsz_scene s;
    if (gsz_ply_read_memory(data, size, "fuzz.ply", &s, NULL) == GSZ_OK) gsz_scene_free(&s);
    if (gsz_splat_read_memory(data, size, "fuzz.splat", &s, NULL) == GSZ_OK) gsz_scene_free(&s);
    if (gsz_spz_read_memory(data, size, "fuzz.spz", &s, NULL) == GSZ_OK) gsz_scene_free(&s);
    return 0;
}
