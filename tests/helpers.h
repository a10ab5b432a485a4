/* Shared test helpers: temporary paths, shared-scene lookup, scene equality. */
#ifndef GSZ_TEST_HELPERS_H
#define GSZ_TEST_HELPERS_H
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsz.h"
#include "synth.h"

/* A path in a per-process temporary directory. */
static inline const char *tmp_path(const char *name) {
    static char dir[256] = "";
    static char buf[8][512];
    static int slot = 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/gsz-test-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    char *b = buf[slot++ % 8];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

/* ../shared/scenes/NAME relative to the source tree, or NULL when absent (tests then skip, loudly). */
static inline const char *shared_scene(const char *name) {
    static char buf[4][1024];
    static int slot = 0;
    char *b = buf[slot++ % 4];
    const char *env = getenv("GSZ_SHARED_SCENES");
    snprintf(b, 1024, "%s/%s", env ? env : GSZ_SOURCE_DIR "/../shared/scenes", name);
    if (access(b, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s not found (shared scenes absent)\n", b);
        return NULL;
    }
    return b;
}

static inline int file_exists(const char *p) { return access(p, F_OK) == 0; }

static inline void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static inline void assert_scenes_equal(const gsz_scene *a, const gsz_scene *b) {
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->sh_degree, b->sh_degree);
    size_t n = a->count, nr = (size_t)gsz_shRestCount(a->sh_degree) * 3;
    assert_memory_equal(a->pos, b->pos, n * 3 * sizeof(float));
    assert_memory_equal(a->scale, b->scale, n * 3 * sizeof(float));
    assert_memory_equal(a->rot, b->rot, n * 4 * sizeof(float));
    assert_memory_equal(a->opacity, b->opacity, n * sizeof(float));
    assert_memory_equal(a->sh_dc, b->sh_dc, n * 3 * sizeof(float));
    if (nr) assert_memory_equal(a->sh_rest, b->sh_rest, n * nr * sizeof(float));
}
#endif
