/* GPU radix sort of 32-bit keys with 32-bit values (Merrill & Grimshaw style LSD, 4 passes of 8 bits):
 * per-block digit histograms (digit totals by atomics), one work group per digit row to scan them, and
 * a stable scatter that ranks keys inside a work group with a shared bit matrix. Dispatch sizes come
 * from the GPU-side count (indirect). */
#include "viewer.h"

#include <stdio.h>
#include <string.h>

extern const char gszv_src_radix_hist_comp[], gszv_src_radix_scan_comp[], gszv_src_radix_scatter_comp[], gszv_src_indirect_comp[];

static GLuint buffer(size_t bytes) {
    GLuint b;
    glCreateBuffers(1, &b);
    glNamedBufferStorage(b, (GLsizeiptr)(bytes ? bytes : 16), NULL, GL_DYNAMIC_STORAGE_BIT);
    return b;
}

int gszv_sort_init(gszv_sort *s, size_t capacity, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->hist = gszv_compute_program("radix_hist.comp", gszv_src_radix_hist_comp, err, errlen);
    s->scan = s->hist ? gszv_compute_program("radix_scan.comp", gszv_src_radix_scan_comp, err, errlen) : 0;
    s->scatter = s->scan ? gszv_compute_program("radix_scatter.comp", gszv_src_radix_scatter_comp, err, errlen) : 0;
    s->indirect = s->scatter ? gszv_compute_program("indirect.comp", gszv_src_indirect_comp, err, errlen) : 0;
    if (!s->indirect) return 0;
    s->capacity = capacity;
    s->keys_b = buffer(capacity * 4);
    s->vals_b = buffer(capacity * 4);
    s->hist_buf = buffer(4 * (1024 + 256 * ((capacity + GSZV_SORT_BLOCK - 1) / GSZV_SORT_BLOCK + 1)));
    return 1;
}

void gszv_sort_free(gszv_sort *s) {
    glDeleteProgram(s->hist); glDeleteProgram(s->scan); glDeleteProgram(s->scatter); glDeleteProgram(s->indirect);
    GLuint b[3] = {s->keys_b, s->vals_b, s->hist_buf};
    glDeleteBuffers(3, b);
    memset(s, 0, sizeof *s);
}

void gszv_sort_run(gszv_sort *s, GLuint counter, GLuint keys_a, GLuint vals_a, int passes) {
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 4, counter);
    glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 7, s->hist_buf);
    glUseProgram(s->indirect);
    glUniform1ui(glGetUniformLocation(s->indirect, "u_block"), GSZV_SORT_BLOCK);
    glDispatchCompute(1, 1, 1);
    glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT | GL_COMMAND_BARRIER_BIT);
    glBindBuffer(GL_DISPATCH_INDIRECT_BUFFER, counter);
    GLuint kin = keys_a, vin = vals_a, kout = s->keys_b, vout = s->vals_b;
    for (unsigned shift = 0; shift < 8u * (unsigned)passes; shift += 8) {
        glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 8, kin);
        glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 9, vin);
        glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 10, kout);
        glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 11, vout);
        glUseProgram(s->hist);
        glUniform1ui(glGetUniformLocation(s->hist, "u_shift"), shift);
        glUniform1ui(glGetUniformLocation(s->hist, "u_block"), GSZV_SORT_BLOCK);
        glDispatchComputeIndirect(16);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        glUseProgram(s->scan);
        glUniform1ui(glGetUniformLocation(s->scan, "u_shift"), shift);
        glDispatchCompute(256, 1, 1);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        glUseProgram(s->scatter);
        glUniform1ui(glGetUniformLocation(s->scatter, "u_shift"), shift);
        glUniform1ui(glGetUniformLocation(s->scatter, "u_block"), GSZV_SORT_BLOCK);
        glDispatchComputeIndirect(16);
        glMemoryBarrier(GL_SHADER_STORAGE_BARRIER_BIT);
        GLuint t = kin; kin = kout; kout = t;
        t = vin; vin = vout; vout = t;
    }
    /* an even number of passes: the result is back in keys_a / vals_a */
}

int gszv_sort_host(gszv_sort *s, const uint32_t *keys, uint32_t *out_keys, uint32_t *out_vals, size_t n) {
    if (n > s->capacity) return 0;
    GLuint ka = buffer(n * 4), va = buffer(n * 4), counter = buffer(64);
    glNamedBufferSubData(ka, 0, (GLsizeiptr)(n * 4), keys);
    uint32_t *v = malloc(n * 4 + 4);
    for (size_t i = 0; i < n; i++) v[i] = (uint32_t)i;
    glNamedBufferSubData(va, 0, (GLsizeiptr)(n * 4), v);
    uint32_t c[16] = {(uint32_t)n};
    glNamedBufferSubData(counter, 0, sizeof c, c);
    gszv_sort_run(s, counter, ka, va, 4);
    glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
    glGetNamedBufferSubData(ka, 0, (GLsizeiptr)(n * 4), out_keys);
    glGetNamedBufferSubData(va, 0, (GLsizeiptr)(n * 4), out_vals);
    free(v);
    GLuint b[3] = {ka, va, counter};
    glDeleteBuffers(3, b);
    return 1;
}
