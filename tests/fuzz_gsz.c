/* libFuzzer harness: the .gsz decoder on arbitrary bytes. The fuzz build defines
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which skips checksum verification so that mutations reach
 * the decoder's own length, count and index checks. */
#include "gsz.h"
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gsz_scene s;
    if (gsz_decompress(data, size, &s, 1) == GSZ_OK) {
        /* once more into the decoded scene: the reuse path, which must free it on error */
        if (gsz_decompress_into(data, size, &s, 2) == GSZ_OK) gsz_scene_free(&s);
    }
    return 0;
}
