/* libFuzzer harness: the PLY reader on arbitrary bytes. */
#include "gsz.h"
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gsz_scene s;
    if (gsz_ply_read_memory(data, size, "fuzz.ply", &s, NULL) == GSZ_OK) gsz_scene_free(&s);
    return 0;
}
