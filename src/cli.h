/* Shared pieces of the command-line tools (gsz, gszview): progress bar, JSON helpers, size parsing. */
#ifndef GSZ_CLI_H
#define GSZ_CLI_H
#include "gsz.h"
#include <stdio.h>

typedef struct {
    int enabled;  /* TTY and not -q */
    char stage[48];
    int last_pct;
} gsz_progress;

void gsz_progress_init(gsz_progress *p, int quiet);
void gsz_progress_cb(void *user, const char *stage, double fraction); /* gsz_progress_fn */
void gsz_progress_done(gsz_progress *p);

int gsz_parse_size(const char *s, int *w, int *h); /* "WxH" */
int gsz_parse_placement(const char *s, gsz_placement *where); /* "around" or "inside": 1, else 0 */
/* Option opt's value s as a number in [lo, hi] (whole where whole is set): 1, else 0 after saying on
 * stderr, as prog, what the option takes. */
int gsz_parse_number(const char *prog, const char *opt, const char *s, double lo, double hi, int whole, double *v);
void gsz_json_string(FILE *f, const char *s);
/* SIGINT, SIGTERM and SIGHUP (those not ignored) remove the temporaries of outputs being written, then
 * end the process as the signal would have. */
void gsz_cli_catch_interrupts(void);
#endif
