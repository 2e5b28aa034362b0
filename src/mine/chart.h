/* Line charts as inline SVG for the HTML report: axes with "nice" ticks and labels, one
 * polyline (solid or dashed) plus point markers with tooltips per series, and a legend.
 * Private to src/mine. */
#ifndef BM_MINE_CHART_H
#define BM_MINE_CHART_H

#include "boxmine/bm_core.h"

typedef struct chart_series {
  const char *label; /* legend text */
  const char *color; /* CSS colour */
  int dashed;
  int n;
  const double *x; /* NaN in x or y: the point is skipped and the line broken there */
  const double *y;
} chart_series;

typedef struct chart_spec {
  const char *title;
  const char *x_label; /* with the unit, e.g. "human labelling time (hours)" */
  const char *y_label;
  int x_from_zero; /* axis starts at 0 even when the data does not */
  int y_from_zero;
  int x_integer; /* x counts something (rounds): ticks at whole numbers only */
  int width, height; /* pixels */
} chart_spec;

/* Tick positions for [lo, hi]: a step of 1, 2 or 5 x 10^k giving about `target` intervals
 * (at least min_step when min_step > 0), the first tick at or below lo and the last at or
 * above hi. *decimals: digits after the point needed to print the ticks exactly. Returns the
 * number of ticks (>= 2). */
int chart_ticks(double lo, double hi, int target, double min_step, double *first, double *step,
                int *decimals);

/* Appends one <svg> element. */
void chart_svg(bm_buf *out, const chart_spec *spec, const chart_series *series, int n_series);

/* Appends text with &, <, >, " escaped for HTML and SVG. */
void chart_escape(bm_buf *out, const char *text);

#endif
