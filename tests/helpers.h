/* Shared test helpers: temporary paths, shared-scene lookup, scene equality. */
#ifndef GSZ_TEST_HELPERS_H
#define GSZ_TEST_HELPERS_H
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
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

static char gsz_test_dir[256] = "";

static int gsz_test_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The temporary directory goes at exit; GSZ_KEEP_TEST_FILES=1 keeps it to look into a failure. */
static void gsz_test_cleanup(void) {
    const char *keep = getenv("GSZ_KEEP_TEST_FILES");
    if (gsz_test_dir[0] && !(keep && *keep && strcmp(keep, "0") != 0))
        nftw(gsz_test_dir, gsz_test_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path in a per-process temporary directory. */
static inline const char *tmp_path(const char *name) {
    char *dir = gsz_test_dir;
    static char buf[8][512];
    static int slot = 0;
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof gsz_test_dir, "%s/gsz-test-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
        atexit(gsz_test_cleanup);
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
