/* Headless OpenGL through EGL: the NVIDIA device platform first (no X, no window), then Mesa's
 * surfaceless platform (llvmpipe in CI), then the default display. */
#include "viewer.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <stdio.h>
#include <string.h>

static EGLDisplay open_display(void) {
    PFNEGLGETPLATFORMDISPLAYEXTPROC get_platform = (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
    PFNEGLQUERYDEVICESEXTPROC query_devices = (PFNEGLQUERYDEVICESEXTPROC)eglGetProcAddress("eglQueryDevicesEXT");
    EGLint major, minor;
    if (get_platform && query_devices) {
        EGLDeviceEXT devs[8];
        EGLint n = 0;
        if (query_devices(8, devs, &n))
            for (EGLint i = 0; i < n; i++) {
                EGLDisplay d = get_platform(EGL_PLATFORM_DEVICE_EXT, devs[i], NULL);
                if (d != EGL_NO_DISPLAY && eglInitialize(d, &major, &minor)) return d;
            }
    }
    if (get_platform) {
        EGLDisplay d = get_platform(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
        if (d != EGL_NO_DISPLAY && eglInitialize(d, &major, &minor)) return d;
    }
    EGLDisplay d = eglGetDisplay(EGL_DEFAULT_DISPLAY);
    if (d != EGL_NO_DISPLAY && eglInitialize(d, &major, &minor)) return d;
    return EGL_NO_DISPLAY;
}

int gszv_headless_create(gszv_headless *h, char *err, size_t errlen) {
    memset(h, 0, sizeof *h);
    EGLDisplay d = open_display();
    if (d == EGL_NO_DISPLAY) { snprintf(err, errlen, "no EGL display (no GPU driver or Mesa EGL found)"); return 0; }
    if (!eglBindAPI(EGL_OPENGL_API)) { snprintf(err, errlen, "EGL cannot bind the OpenGL API"); eglTerminate(d); return 0; }
    EGLConfig cfg = NULL;
    EGLint n = 0;
    const EGLint attrs_pb[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_NONE};
    const EGLint attrs_any[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_SURFACE_TYPE, 0, EGL_NONE};
    if (!eglChooseConfig(d, attrs_pb, &cfg, 1, &n) || n == 0) eglChooseConfig(d, attrs_any, &cfg, 1, &n);
    EGLContext ctx = EGL_NO_CONTEXT;
    static const int versions[][2] = {{4, 6}, {4, 5}};
    for (int v = 0; v < 2 && ctx == EGL_NO_CONTEXT; v++) {
        const EGLint cattrs[] = {EGL_CONTEXT_MAJOR_VERSION, versions[v][0], EGL_CONTEXT_MINOR_VERSION, versions[v][1],
                                 EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, EGL_NONE};
        ctx = eglCreateContext(d, n ? cfg : NULL, EGL_NO_CONTEXT, cattrs);
    }
    if (ctx == EGL_NO_CONTEXT) { snprintf(err, errlen, "EGL: no OpenGL 4.5 core context"); eglTerminate(d); return 0; }
    if (!eglMakeCurrent(d, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx)) {
        snprintf(err, errlen, "EGL: cannot make a surfaceless context current");
        eglDestroyContext(d, ctx);
        eglTerminate(d);
        return 0;
    }
    int ver = gladLoadGL((GLADloadfunc)eglGetProcAddress);
    if (!ver || GLAD_VERSION_MAJOR(ver) * 10 + GLAD_VERSION_MINOR(ver) < 45) {
        snprintf(err, errlen, "OpenGL 4.5 needed (got %d.%d)", GLAD_VERSION_MAJOR(ver), GLAD_VERSION_MINOR(ver));
        eglMakeCurrent(d, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
        eglDestroyContext(d, ctx);
        eglTerminate(d);
        return 0;
    }
    h->display = d;
    h->context = ctx;
    snprintf(h->renderer, sizeof h->renderer, "%s | OpenGL %s", (const char *)glGetString(GL_RENDERER), (const char *)glGetString(GL_VERSION));
    return 1;
}

void gszv_headless_destroy(gszv_headless *h) {
    if (!h->display) return;
    eglMakeCurrent(h->display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    eglDestroyContext(h->display, h->context);
    eglTerminate(h->display);
    memset(h, 0, sizeof *h);
}
