/* libFuzzer harness: the codebook decoder (every encoding) on arbitrary bytes, which the whole-file
 * harness reaches only through valid zstd frames. The first byte picks the section (its dimension). */
#include "../codec/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    float *cb = NULL;
    int k = 0, bits = 0;
    if (gsz_codebook_unpack(data + 1, size - 1, gsz_codebook_dim(data[0] % 6), 1, &cb, &k, &bits) == GSZ_OK) free(cb);
    return 0;
}
