/* Shader compilation: every compute shader is "#version 430" + shaders/common.glsl + its body. */
#include "viewer.h"

#include <stdio.h>

extern const char gszv_src_common_glsl[];

static GLuint compile(GLenum type, const char *const *src, int n, const char *name, char *err, size_t errlen) {
    GLuint s = glCreateShader(type);
    glShaderSource(s, n, src, NULL);
    glCompileShader(s);
    GLint ok = 0;
    glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        char log[2048];
        glGetShaderInfoLog(s, sizeof log, NULL, log);
        snprintf(err, errlen, "shader %s: %s", name, log);
        glDeleteShader(s);
        return 0;
    }
    return s;
}

static GLuint link(GLuint a, GLuint b, const char *name, char *err, size_t errlen) {
    GLuint p = glCreateProgram();
    glAttachShader(p, a);
    if (b) glAttachShader(p, b);
    glLinkProgram(p);
    glDeleteShader(a);
    if (b) glDeleteShader(b);
    GLint ok = 0;
    glGetProgramiv(p, GL_LINK_STATUS, &ok);
    if (!ok) {
        char log[2048];
        glGetProgramInfoLog(p, sizeof log, NULL, log);
        snprintf(err, errlen, "program %s: %s", name, log);
        glDeleteProgram(p);
        return 0;
    }
    return p;
}

GLuint gszv_compute_program(const char *name, const char *body, char *err, size_t errlen) {
    const char *src[3] = {"#version 430 core\n", gszv_src_common_glsl, body};
    GLuint s = compile(GL_COMPUTE_SHADER, src, 3, name, err, errlen);
    return s ? link(s, 0, name, err, errlen) : 0;
}

GLuint gszv_raster_program(const char *vs, const char *fs, char *err, size_t errlen) {
    const char *v[2] = {"#version 430 core\n", vs}, *f[2] = {"#version 430 core\n", fs};
    GLuint a = compile(GL_VERTEX_SHADER, v, 2, "splat.vert", err, errlen);
    if (!a) return 0;
    GLuint b = compile(GL_FRAGMENT_SHADER, f, 2, "splat.frag", err, errlen);
    if (!b) { glDeleteShader(a); return 0; }
    return link(a, b, "splat", err, errlen);
}
