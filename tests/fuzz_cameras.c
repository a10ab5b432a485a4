/* libFuzzer harness: the cameras.json reader on arbitrary bytes (cJSON parses; the walk over what it
 * gives, the checks of every field and the rotation are ours). */
#include "gsz.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gsz_camera *c;
    size_t n;
    if (gsz_cameras_read_memory(data, size, "fuzz.json", &c, &n) == GSZ_OK) free(c);
    return 0;
}
