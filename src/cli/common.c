/* Helpers shared by the subcommands: errors, warnings, number parsing, progress. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_error(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  fputs("boxmine: error: ", stderr);
  vfprintf(stderr, fmt, args);
  fputc('\n', stderr);
  va_end(args);
  return 1;
}

static void warn_to_stderr(void *user, const char *msg) {
  (void)user;
  fprintf(stderr, "boxmine: warning: %s\n", msg);
}

bm_log cli_log(void) {
  bm_log log = {warn_to_stderr, NULL, 0};
  return log;
}

void cli_warn_shared_images(const char *learn_what, const bm_dataset *learn,
                            const char *eval_what, const bm_dataset *eval) {
  int shared = bm_dataset_shared_images(learn, eval);
  if (shared > 0)
    fprintf(stderr, "boxmine: warning: %s shares %d of its %d images with %s: the AP it reports "
            "is measured on images the model learns from and overstates what it would reach on "
            "new images\n", eval_what, shared, eval->n_images, learn_what);
}

int cli_parse_int(const char *name, const char *text, long lo, long hi, long *out) {
  if (!text) return cli_error("%s needs a value", name), -1;
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end) return cli_error("%s: '%s' is not an integer", name, text), -1;
  if (v < lo || v > hi) return cli_error("%s: %ld is outside [%ld, %ld]", name, v, lo, hi), -1;
  *out = v;
  return 0;
}

int cli_parse_float(const char *name, const char *text, double lo, double hi, double *out) {
  if (!text) return cli_error("%s needs a value", name), -1;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !isfinite(v))
    return cli_error("%s: '%s' is not a number", name, text), -1;
  if (v < lo || v > hi) return cli_error("%s: %g is outside [%g, %g]", name, v, lo, hi), -1;
  *out = v;
  return 0;
}

int cli_number_arg(const cli_number_opt *table, size_t n_table, int argc, char **argv, int *i,
                   const char **not_on_resume) {
  const char *value = *i + 1 < argc ? argv[*i + 1] : NULL;
  for (size_t k = 0; k < n_table; k++) {
    const cli_number_opt *o = &table[k];
    if (strcmp(argv[*i], o->name)) continue;
    long whole;
    double real;
    if (o->kind == CLI_NUMBER_FLOAT || o->kind == CLI_NUMBER_DOUBLE) {
      if (cli_parse_float(o->name, value, o->lo, o->hi, &real)) return -1;
      if (o->kind == CLI_NUMBER_FLOAT) *o->to.f = (float)real;
      else *o->to.d = real;
    } else {
      if (cli_parse_int(o->name, value, (long)o->lo, (long)o->hi, &whole)) return -1;
      if (o->kind == CLI_NUMBER_INT) *o->to.i = (int)whole;
      else if (o->kind == CLI_NUMBER_LONG) *o->to.l = whole;
      else *o->to.u64 = (uint64_t)whole;
    }
    if (o->given) *o->given = 1;
    if (!o->on_resume && not_on_resume) *not_on_resume = o->name;
    (*i)++;
    return 1;
  }
  return 0;
}

static void format_duration(char *out, size_t size, double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) {
    snprintf(out, size, "--:--");
    return;
  }
  long s = (long)(seconds + 0.5);
  if (s >= 3600) snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else snprintf(out, size, "%02ld:%02ld", s / 60, s % 60);
}

void cli_progress_start(cli_progress *p, const char *label, long total) {
  p->label = label;
  p->total = total;
  p->done = 0;
  p->start = bm_now();
  p->last_draw = 0;
  p->is_tty = isatty(STDERR_FILENO);
}

static void draw(cli_progress *p, const char *extra, int final) {
  double now = bm_now();
  double elapsed = now - p->start;
  double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
  if (frac > 1) frac = 1;
  char spent[32], eta[32];
  format_duration(spent, sizeof spent, elapsed);
  format_duration(eta, sizeof eta, frac > 0 ? elapsed * (1 - frac) / frac : -1);
  if (p->is_tty) {
    char bar[31];
    int filled = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %ld/%ld %s<%s %s", p->label, bar, p->done, p->total, spent,
            eta, extra ? extra : "");
    if (final) fputc('\n', stderr);
  } else {
    fprintf(stderr, "%s: %ld/%ld (%.0f%%) elapsed %s eta %s %s\n", p->label, p->done, p->total,
            100 * frac, spent, eta, extra ? extra : "");
  }
  fflush(stderr);
  p->last_draw = now;
}

void cli_progress_update(cli_progress *p, long done, const char *extra) {
  p->done = done;
  double interval = p->is_tty ? 0.2 : 10.0;
  if (bm_now() - p->last_draw >= interval) draw(p, extra, 0);
}

void cli_progress_finish(cli_progress *p, const char *extra) {
  p->done = p->total;
  draw(p, extra, 1);
}

void cli_progress_report(void *user, long done, long total) {
  if (done >= total) cli_progress_finish(user, NULL);
  else cli_progress_update(user, done, NULL);
}
