/* Progress bar (TTY only, quiet with -q), small parsing helpers and interrupt clean-up of the
 * command-line tools. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "common.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gsz_progress_init(gsz_progress *p, int quiet) {
    memset(p, 0, sizeof *p);
    p->enabled = !quiet && isatty(fileno(stderr));
    p->last_pct = -1;
}

void gsz_progress_cb(void *user, const char *stage, double f) {
    gsz_progress *p = user;
    if (!p || !p->enabled) return;
    int pct = (int)(f * 100.0 + 0.5);
    if (pct > 100) pct = 100;
    if (pct == p->last_pct && !strcmp(stage, p->stage)) return;
    if (strcmp(stage, p->stage) != 0 && p->stage[0]) fputc('\n', stderr);
    snprintf(p->stage, sizeof p->stage, "%s", stage);
    p->last_pct = pct;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%-22s [%s] %3d%%", stage, bar, pct);
    fflush(stderr);
}

void gsz_progress_done(gsz_progress *p) {
    if (p->enabled && p->stage[0]) fputc('\n', stderr);
    p->stage[0] = 0;
}

int gsz_parse_size(const char *s, int *w, int *h) {
    char *e;
    long a = strtol(s, &e, 10);
    if (*e != 'x' && *e != 'X') return 0;
    long b = strtol(e + 1, &e, 10);
    if (*e || a < 1 || b < 1 || a > 16384 || b > 16384) return 0;
    *w = (int)a;
    *h = (int)b;
    return 1;
}

int gsz_parse_placement(const char *s, gsz_placement *where) {
    if (!strcmp(s, "around")) *where = GSZ_PLACEMENT_AROUND;
    else if (!strcmp(s, "inside")) *where = GSZ_PLACEMENT_INSIDE;
    else return 0;
    return 1;
}

int gsz_parse_number(const char *prog, const char *opt, const char *s, double lo, double hi, int whole, double *v) {
    char *e;
    *v = strtod(s, &e);
    if (*e == 0 && e != s && *v >= lo && *v <= hi && (!whole || *v == floor(*v))) return 1;
    fprintf(stderr, "%s: bad value for %s: '%s' (%s from %.12g to %.12g)\n", prog, opt, s, whole ? "a whole number" : "a number", lo, hi);
    return 0;
}

void gsz_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void on_interrupt(int sig) {
    gsz_outfile_remove_open();
    signal(sig, SIG_DFL);
    raise(sig);
}

void gsz_cli_catch_interrupts(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) { /* one the caller ignores (a shell's background job: SIGINT) stays ignored */
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sigs[i], &sa, NULL);
    }
}
