/* Inline SVG line charts (see chart.h). Layout, top to bottom: title, legend rows, plot area
 * with y ticks on the left and x ticks below, axis labels. */
#include "mine/chart.h"

#include <math.h>
#include <string.h>

void chart_escape(bm_buf *out, const char *text) {
  for (const char *p = text; p && *p; p++) {
    switch (*p) {
      case '&': bm_buf_puts(out, "&amp;"); break;
      case '<': bm_buf_puts(out, "&lt;"); break;
      case '>': bm_buf_puts(out, "&gt;"); break;
      case '"': bm_buf_puts(out, "&quot;"); break;
      default: bm_buf_append(out, p, 1);
    }
  }
}

int chart_ticks(double lo, double hi, int target, double min_step, double *first, double *step,
                int *decimals) {
  if (!(hi > lo)) { /* one value (or none): show a unit-wide range around it */
    double mid = isfinite(lo) ? lo : 0;
    lo = mid - (mid == 0 ? 1 : fabs(mid) * 0.1);
    hi = mid + (mid == 0 ? 1 : fabs(mid) * 0.1);
    if (lo < 0 && mid >= 0) lo = 0;
  }
  double raw = (hi - lo) / (target > 0 ? target : 5);
  double magnitude = pow(10.0, floor(log10(raw)));
  double fraction = raw / magnitude;
  double nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  *step = nice * magnitude;
  if (min_step > 0 && *step < min_step) *step = min_step;
  /* the small epsilon keeps 0.30000000000000004 / 0.1 from becoming 4 intervals */
  double start = floor(lo / *step + 1e-9) * *step;
  double end = ceil(hi / *step - 1e-9) * *step;
  *first = start;
  int digits = (int)-floor(log10(*step) + 1e-9);
  *decimals = digits > 0 ? digits : 0;
  int n = (int)floor((end - start) / *step + 0.5) + 1;
  return n < 2 ? 2 : n;
}

static void data_range(const chart_series *series, int n_series, int axis, double *lo,
                       double *hi, long *n_points) {
  *lo = INFINITY;
  *hi = -INFINITY;
  *n_points = 0;
  for (int s = 0; s < n_series; s++)
    for (int i = 0; i < series[s].n; i++) {
      double x = series[s].x[i], y = series[s].y[i];
      if (!isfinite(x) || !isfinite(y)) continue;
      double v = axis == 0 ? x : y;
      if (v < *lo) *lo = v;
      if (v > *hi) *hi = v;
      (*n_points)++;
    }
}

/* Legend entries flow left to right and wrap; returns the number of rows. */
static int legend(bm_buf *out, const chart_series *series, int n_series, double left,
                  double top, double width, int draw) {
  double x = left, y = top;
  int rows = n_series > 0 ? 1 : 0;
  for (int s = 0; s < n_series; s++) {
    double entry = 34 + 6.6 * (double)strlen(series[s].label ? series[s].label : "") + 16;
    if (x > left && x + entry > left + width) {
      x = left;
      y += 18;
      rows++;
    }
    if (draw) {
      bm_buf_printf(out,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2.5\"%s/>",
                    x, y - 4, x + 26, y - 4, series[s].color,
                    series[s].dashed ? " stroke-dasharray=\"6 4\"" : "");
      bm_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\">", x + 32, y);
      chart_escape(out, series[s].label);
      bm_buf_puts(out, "</text>");
    }
    x += entry;
  }
  return rows;
}

void chart_svg(bm_buf *out, const chart_spec *spec, const chart_series *series, int n_series) {
  const double width = spec->width, height = spec->height;
  const double margin_left = 64, margin_right = 18, title_height = 26;
  double plot_width = width - margin_left - margin_right;
  int legend_rows = legend(out, series, n_series, margin_left, 0, plot_width, 0);
  double margin_top = title_height + 18.0 * legend_rows + 8;
  double margin_bottom = 50;
  double plot_height = height - margin_top - margin_bottom;

  bm_buf_printf(out,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\" "
                "role=\"img\"><rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>",
                spec->width, spec->height, spec->width, spec->height);
  bm_buf_printf(out, "<text x=\"%.1f\" y=\"18\" font-size=\"14\" font-weight=\"bold\">",
                margin_left);
  chart_escape(out, spec->title);
  bm_buf_puts(out, "</text>");
  legend(out, series, n_series, margin_left, title_height + 12, plot_width, 1);

  double x_lo, x_hi, y_lo, y_hi;
  long n_points;
  data_range(series, n_series, 0, &x_lo, &x_hi, &n_points);
  data_range(series, n_series, 1, &y_lo, &y_hi, &n_points);
  if (n_points == 0) {
    bm_buf_printf(out,
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">no data "
                  "in these runs</text></svg>",
                  margin_left + plot_width / 2, margin_top + plot_height / 2);
    return;
  }
  if (spec->x_from_zero && x_lo > 0) x_lo = 0;
  if (spec->y_from_zero && y_lo > 0) y_lo = 0;
  double x_first, x_step, y_first, y_step;
  int x_decimals, y_decimals;
  int n_x = chart_ticks(x_lo, x_hi, 6, spec->x_integer ? 1 : 0, &x_first, &x_step, &x_decimals);
  int n_y = chart_ticks(y_lo, y_hi, 5, 0, &y_first, &y_step, &y_decimals);
  double x_min = x_first, x_max = x_first + (n_x - 1) * x_step;
  double y_min = y_first, y_max = y_first + (n_y - 1) * y_step;
#define PX(v) (margin_left + ((v) - x_min) / (x_max - x_min) * plot_width)
#define PY(v) (margin_top + plot_height - ((v) - y_min) / (y_max - y_min) * plot_height)

  /* grid and ticks */
  for (int i = 0; i < n_y; i++) {
    double v = y_first + i * y_step, py = PY(v);
    bm_buf_printf(out,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>",
                  margin_left, py, margin_left + plot_width, py, margin_left - 6, py + 4,
                  y_decimals, v);
  }
  for (int i = 0; i < n_x; i++) {
    double v = x_first + i * x_step, px = PX(v);
    bm_buf_printf(out,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>",
                  px, margin_top, px, margin_top + plot_height, px,
                  margin_top + plot_height + 16, x_decimals, v);
  }
  bm_buf_printf(out,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                "stroke=\"#444\"/>",
                margin_left, margin_top, plot_width, plot_height);
  bm_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                margin_left + plot_width / 2, height - 10);
  chart_escape(out, spec->x_label);
  bm_buf_printf(out,
                "</text><text transform=\"translate(16 %.1f) rotate(-90)\" "
                "text-anchor=\"middle\">",
                margin_top + plot_height / 2);
  chart_escape(out, spec->y_label);
  bm_buf_puts(out, "</text>");

  /* series: lines broken at missing points, then markers with tooltips */
  for (int s = 0; s < n_series; s++) {
    const chart_series *ser = &series[s];
    int open = 0;
    for (int i = 0; i < ser->n; i++) {
      int ok = isfinite(ser->x[i]) && isfinite(ser->y[i]);
      if (!ok) {
        if (open) bm_buf_puts(out, "\"/>");
        open = 0;
        continue;
      }
      if (!open)
        bm_buf_printf(out,
                      "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                      ser->color, ser->dashed ? " stroke-dasharray=\"6 4\"" : "");
      bm_buf_printf(out, "%s%.1f,%.1f", open ? " " : "", PX(ser->x[i]), PY(ser->y[i]));
      open = 1;
    }
    if (open) bm_buf_puts(out, "\"/>");
    for (int i = 0; i < ser->n; i++) {
      if (!isfinite(ser->x[i]) || !isfinite(ser->y[i])) continue;
      bm_buf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>",
                    PX(ser->x[i]), PY(ser->y[i]), ser->color);
      chart_escape(out, ser->label);
      bm_buf_puts(out, "\n");
      chart_escape(out, spec->x_label);
      bm_buf_printf(out, ": %.*f\n", x_decimals + 1, ser->x[i]);
      chart_escape(out, spec->y_label);
      bm_buf_printf(out, ": %.*f</title></circle>", y_decimals + 1, ser->y[i]);
    }
  }
#undef PX
#undef PY
  bm_buf_puts(out, "</svg>");
}
