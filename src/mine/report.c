/* The HTML report of one or more mining runs: accuracy against human effort, what the
 * machine and the people labelled per round, training loss and learning rate, and a table
 * of final numbers. One self-contained page: inline CSS and SVG, no scripts, no fetches. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "mine/chart.h"

/* Tableau 10: distinct, colour-blind-friendlier than the default rainbow. */
static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define PALETTE_SIZE ((int)(sizeof palette / sizeof palette[0]))
enum { CHART_WIDTH = 540, CHART_HEIGHT = 350 };

typedef double (*field_fn)(const bm_round_record *rec);
static double f_ap50(const bm_round_record *r) { return r->ap50 * 100.0; }
static double f_seconds(const bm_round_record *r) { return r->human_seconds; }
static double f_draws(const bm_round_record *r) {
  return r->human_draws < 0 ? NAN : (double)r->human_draws;
}
static double f_round(const bm_round_record *r) { return r->round; }
static double f_sl_images(const bm_round_record *r) { return r->sl_images < 0 ? NAN : r->sl_images; }
static double f_al_images(const bm_round_record *r) { return r->al_images < 0 ? NAN : r->al_images; }
static double f_sl_boxes(const bm_round_record *r) { return r->sl_boxes < 0 ? NAN : r->sl_boxes; }
static double f_al_boxes(const bm_round_record *r) { return r->al_boxes < 0 ? NAN : r->al_boxes; }
static double f_loss(const bm_round_record *r) { return r->train_loss; }
static double f_lr(const bm_round_record *r) { return r->lr; }

/* Which records a chart shows. */
enum {
  ROWS_ALL,    /* every record, x = position in the file (phase 1 then 2) */
  ROWS_MINING, /* phase-2 records */
  ROWS_EFFORT, /* the last phase-1 record (the starting point) and the phase-2 records */
};

static int row_selected(const bm_run_log *run, int i, int rows) {
  if (rows == ROWS_ALL) return 1;
  const bm_round_record *rec = &run->rounds[i];
  if (rec->phase == 2) return 1;
  if (rows == ROWS_MINING) return 0;
  /* a phase-1 record is the start of the effort curve when the next one is phase 2, or it
   * is the last record of a run that never got to mine */
  return i + 1 == run->n_rounds || run->rounds[i + 1].phase == 2;
}

typedef struct series_set {
  chart_series series[2 * 64];
  int n;
  int failed;
} series_set;

/* Adds a series for one run; x_scale divides x (unit conversion). fx NULL: x = position. */
static void add_series(series_set *set, const bm_run_log *run, int run_index, const char *label,
                       int dashed, int rows, field_fn fx, double x_scale, field_fn fy) {
  if (set->n >= (int)(sizeof set->series / sizeof set->series[0])) return;
  double *x = bm_malloc((size_t)(run->n_rounds + 1) * sizeof *x);
  double *y = bm_malloc((size_t)(run->n_rounds + 1) * sizeof *y);
  if (!x || !y) {
    bm_free(x);
    bm_free(y);
    set->failed = 1;
    return;
  }
  int n = 0;
  for (int i = 0; i < run->n_rounds; i++) {
    if (!row_selected(run, i, rows)) continue;
    x[n] = fx ? fx(&run->rounds[i]) / x_scale : (double)(i + 1);
    y[n] = fy(&run->rounds[i]);
    n++;
  }
  chart_series *s = &set->series[set->n++];
  s->label = label;
  s->color = palette[run_index % PALETTE_SIZE];
  s->dashed = dashed;
  s->n = n;
  s->x = x;
  s->y = y;
}

static void free_series(series_set *set) {
  for (int i = 0; i < set->n; i++) {
    bm_free((void *)set->series[i].x);
    bm_free((void *)set->series[i].y);
  }
  set->n = 0;
}

static void chart_card(bm_buf *out, const chart_spec *spec, series_set *set, const char *note) {
  bm_buf_puts(out, "<figure>");
  chart_svg(out, spec, set->series, set->n);
  if (note) {
    bm_buf_puts(out, "<figcaption>");
    chart_escape(out, note);
    bm_buf_puts(out, "</figcaption>");
  }
  bm_buf_puts(out, "</figure>\n");
  if (set->failed) out->failed = 1;
  free_series(set);
}

/* One chart with one series per run. */
static void run_chart(bm_buf *out, const bm_run_log *runs, int n_runs, const chart_spec *spec,
                      int rows, field_fn fx, double x_scale, field_fn fy, const char *note) {
  series_set set;
  set.n = 0;
  set.failed = 0;
  for (int r = 0; r < n_runs && r < 64; r++)
    add_series(&set, &runs[r], r, runs[r].name, 0, rows, fx, x_scale, fy);
  chart_card(out, spec, &set, note);
}

/* One chart with an SL series (solid) and an AL series (dashed) per run. */
static void sl_al_chart(bm_buf *out, const bm_run_log *runs, int n_runs, const chart_spec *spec,
                        field_fn f_sl, field_fn f_al, char (*labels)[2][160], const char *note) {
  series_set set;
  set.n = 0;
  set.failed = 0;
  for (int r = 0; r < n_runs && r < 64; r++) {
    add_series(&set, &runs[r], r, labels[r][0], 0, ROWS_MINING, f_round, 1.0, f_sl);
    add_series(&set, &runs[r], r, labels[r][1], 1, ROWS_MINING, f_round, 1.0, f_al);
  }
  chart_card(out, spec, &set, note);
}

static const bm_round_record *last_with_ap(const bm_run_log *run) {
  for (int i = run->n_rounds - 1; i >= 0; i--)
    if (isfinite(run->rounds[i].ap50)) return &run->rounds[i];
  return NULL;
}

static void cell_number(bm_buf *out, double value, int decimals, const char *suffix) {
  if (!isfinite(value)) bm_buf_puts(out, "<td class=\"na\">n/a</td>");
  else bm_buf_printf(out, "<td>%.*f%s</td>", decimals, value, suffix);
}

static void cell_count(bm_buf *out, long value) {
  if (value < 0) bm_buf_puts(out, "<td class=\"na\">n/a</td>");
  else bm_buf_printf(out, "<td>%ld</td>", value);
}

static void cell_text(bm_buf *out, const char *text) {
  if (!text) {
    bm_buf_puts(out, "<td class=\"na\">n/a</td>");
    return;
  }
  bm_buf_puts(out, "<td>");
  chart_escape(out, text);
  bm_buf_puts(out, "</td>");
}

/* note: an extra line under the seconds, or NULL */
static void cell_duration_note(bm_buf *out, double seconds, const char *note) {
  if (!isfinite(seconds)) {
    bm_buf_puts(out, "<td class=\"na\">n/a</td>");
    return;
  }
  long s = (long)(seconds + 0.5);
  bm_buf_printf(out, "<td>%ld h %02ld min<br><small>%.0f s%s%s</small></td>", s / 3600,
                (s / 60) % 60, seconds, note ? "<br>" : "", note ? note : "");
}

static void cell_duration(bm_buf *out, double seconds) { cell_duration_note(out, seconds, NULL); }

/* The folder's last component tells runs apart in the table (the Runs list has the full
 * paths); a path ending in '/' is shown whole. */
static const char *last_component(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash && slash[1] != '\0' ? slash + 1 : path;
}

static void final_table(bm_buf *out, const bm_run_log *runs, int n_runs) {
  bm_buf_puts(out,
              "<table><thead><tr><th>run</th><th>strategy</th><th>oracle</th><th>seed</th>"
              "<th>rounds<br><small>mining</small></th><th>best round<br><small>mining, by AP "
              "metric</small></th><th>best AP<br><small>%</small></th>"
              "<th>final mAP@0.5<br><small>%</small></th><th>final AP@0.75<br><small>%</small></th>"
              "<th>final COCO AP<br><small>@[.5:.95], %</small></th>"
              "<th>labelled images<br><small>|L|</small></th><th>boxes drawn<br><small>by "
              "people</small></th><th>boxes verified</th><th>boxes adjusted</th><th>images opened</th>"
              "<th>human time<br><small>cost model</small></th><th>human time<br><small>measured"
              "</small></th><th>stopped because</th></tr></thead><tbody>\n");
  for (int r = 0; r < n_runs; r++) {
    const bm_run_log *run = &runs[r];
    const bm_round_record *last = run->n_rounds > 0 ? &run->rounds[run->n_rounds - 1] : NULL;
    const bm_round_record *ap = last_with_ap(run);
    int mining_rounds = 0;
    for (int i = 0; i < run->n_rounds; i++) mining_rounds += run->rounds[i].phase == 2;
    bm_buf_printf(out, "<tr><td><span class=\"swatch\" style=\"background:%s\"></span>",
                  palette[r % PALETTE_SIZE]);
    chart_escape(out, last_component(run->dir));
    bm_buf_puts(out, "</td>");
    cell_text(out, run->strategy);
    cell_text(out, run->oracle);
    if (run->seed >= 0) bm_buf_printf(out, "<td>%lld</td>", run->seed);
    else bm_buf_puts(out, "<td class=\"na\">n/a</td>");
    bm_buf_printf(out, "<td>%d</td>", mining_rounds);
    if (run->best_round >= 0) {
      bm_buf_printf(out, "<td>%d<br><small>", run->best_round);
      chart_escape(out, run->ap_metric);
      bm_buf_puts(out, "</small></td>");
    } else {
      bm_buf_puts(out, "<td class=\"na\">n/a</td>");
    }
    cell_number(out, run->best_ap * 100.0, 1, "");
    cell_number(out, ap ? ap->ap50 * 100.0 : NAN, 1, "");
    cell_number(out, ap ? ap->ap75 * 100.0 : NAN, 1, "");
    cell_number(out, ap ? ap->ap_coco * 100.0 : NAN, 1, "");
    cell_count(out, last ? last->labeled_images : -1);
    cell_count(out, last ? last->human_draws : -1);
    cell_count(out, last ? last->human_verifies : -1);
    cell_count(out, last ? last->human_adjusts : -1);
    cell_count(out, last ? last->human_images : -1);
    cell_duration(out, last ? last->human_seconds : NAN);
    if (last && last->human_measured_images > 0) {
      /* measured seconds cover only the images people were timed on: say how many */
      char note[48];
      snprintf(note, sizeof note, "%ld images timed", last->human_measured_images);
      cell_duration_note(out, last->human_measured_seconds, note);
    } else {
      cell_duration(out, NAN);
    }
    cell_text(out, run->stop_reason ? run->stop_reason : run->has_summary ? NULL : "still running?");
    bm_buf_puts(out, "</tr>\n");
  }
  bm_buf_puts(out, "</tbody></table>\n");
}

static void run_details(bm_buf *out, const bm_run_log *runs, int n_runs) {
  bm_buf_puts(out, "<h2>Runs</h2><ul class=\"runs\">\n");
  for (int r = 0; r < n_runs; r++) {
    const bm_run_log *run = &runs[r];
    bm_buf_printf(out, "<li><span class=\"swatch\" style=\"background:%s\"></span><b>",
                  palette[r % PALETTE_SIZE]);
    chart_escape(out, run->name);
    bm_buf_puts(out, "</b> &mdash; ");
    chart_escape(out, run->dir);
    bm_buf_printf(out, ", %d records; costs: draw %g s, verify %g s, image %g s, adjust %g s",
                  run->n_rounds, run->costs.draw, run->costs.verify, run->costs.image,
                  run->costs.adjust);
    if (run->command_line) {
      bm_buf_puts(out, "<br><code>");
      chart_escape(out, run->command_line);
      bm_buf_puts(out, "</code>");
    }
    bm_buf_puts(out, "</li>\n");
  }
  bm_buf_puts(out, "</ul>\n");
}

static const char *page_style =
    "body{font-family:sans-serif;margin:20px;color:#222;max-width:1220px}"
    "h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:26px 0 8px}"
    "p.lead{color:#444;margin:4px 0 14px;line-height:1.45}"
    ".grid{display:flex;flex-wrap:wrap;gap:14px}"
    "figure{margin:0;border:1px solid #ddd;border-radius:4px;padding:4px;background:#fff}"
    "figcaption{font-size:12px;color:#555;max-width:530px;padding:2px 4px 4px}"
    "table{border-collapse:collapse;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:4px 7px;text-align:right;vertical-align:top}"
    "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
    "td.na{color:#999}small{color:#666}"
    ".swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;"
    "vertical-align:-1px}ul.runs{font-size:13px;line-height:1.5}code{font-size:12px}";

int bm_report_html(const bm_run_log *runs, int n_runs, const char *title, bm_buf *out,
                   bm_error *err) {
  if (n_runs < 1) return bm_fail(err, "report: no runs");
  if (n_runs > 64) return bm_fail(err, "report: at most 64 runs on one page (got %d)", n_runs);
  if (!title) title = "boxmine mining report";
  /* the time axis unit follows the largest human time among the runs */
  double max_seconds = 0;
  for (int r = 0; r < n_runs; r++)
    for (int i = 0; i < runs[r].n_rounds; i++)
      if (isfinite(runs[r].rounds[i].human_seconds) && runs[r].rounds[i].human_seconds > max_seconds)
        max_seconds = runs[r].rounds[i].human_seconds;
  double time_scale = max_seconds >= 7200 ? 3600 : max_seconds >= 120 ? 60 : 1;
  const char *time_label = time_scale == 3600 ? "human labelling time (hours)"
                           : time_scale == 60 ? "human labelling time (minutes)"
                                              : "human labelling time (seconds)";
  char (*labels)[2][160] = bm_calloc((size_t)n_runs, sizeof *labels);
  if (!labels) return bm_fail(err, "report: out of memory");
  for (int r = 0; r < n_runs; r++) {
    snprintf(labels[r][0], sizeof labels[r][0], "%s SL", runs[r].name);
    snprintf(labels[r][1], sizeof labels[r][1], "%s AL", runs[r].name);
  }

  bm_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
  chart_escape(out, title);
  bm_buf_printf(out, "</title><style>%s</style></head><body>\n<h1>", page_style);
  chart_escape(out, title);
  bm_buf_printf(out,
                "</h1><p class=\"lead\">%d run%s. mAP@0.5 is the PASCAL VOC mean average "
                "precision at IoU 0.5 on each run's evaluation set, in percent. Human time "
                "is the ledger's count of boxes drawn, machine boxes verified and images "
                "opened, weighted by each run's costs (listed under Runs); the initial "
                "labelled set is not counted. SL = labelled by the machine (self-learning), "
                "AL = sent to people (active learning).</p>\n",
                n_runs, n_runs == 1 ? "" : "s");

  const char *ap_label = "mAP@0.5 on the evaluation set (%)";
  const char *all_rounds = "round (phase 1 training on L, then mining), in file order";
  bm_buf_puts(out, "<h2>Accuracy against human effort</h2><div class=\"grid\">\n");
  chart_spec spec = {.title = "mAP@0.5 against human labelling time", .x_label = time_label,
                     .y_label = ap_label, .x_from_zero = 1, .width = CHART_WIDTH,
                     .height = CHART_HEIGHT};
  run_chart(out, runs, n_runs, &spec, ROWS_EFFORT, f_seconds, time_scale, f_ap50,
            "One point per mining round; the first point is the model trained on the initial "
            "labelled set (no human time counted yet). Up and to the left is better.");
  spec.title = "mAP@0.5 against boxes drawn by people";
  spec.x_label = "boxes drawn by people (cumulative count)";
  run_chart(out, runs, n_runs, &spec, ROWS_EFFORT, f_draws, 1.0, f_ap50,
            "Draws only (verifying a machine box is cheaper and not counted here).");
  bm_buf_puts(out, "</div>\n<h2>What the machine and the people labelled</h2>"
                   "<div class=\"grid\">\n");
  spec = (chart_spec){.title = "Images per mining round", .x_label = "mining round",
                      .y_label = "images in the round", .y_from_zero = 1, .x_integer = 1,
                      .width = CHART_WIDTH, .height = CHART_HEIGHT};
  sl_al_chart(out, runs, n_runs, &spec, f_sl_images, f_al_images, labels,
              "Solid: SL images (the strategy's certain side); dashed: AL images (its "
              "uncertain side). docs/MINING.md defines both per strategy.");
  spec.title = "Boxes per mining round";
  spec.y_label = "boxes in the round";
  sl_al_chart(out, runs, n_runs, &spec, f_sl_boxes, f_al_boxes, labels,
              "Solid: boxes made by the machine (accepted or pseudo-labels); dashed: boxes "
              "drawn by people, in the annotations the round keeps or trains on.");
  bm_buf_puts(out, "</div>\n<h2>Training</h2><div class=\"grid\">\n");
  spec = (chart_spec){.title = "mAP@0.5 per round", .x_label = all_rounds, .y_label = ap_label,
                      .x_integer = 1, .width = CHART_WIDTH, .height = CHART_HEIGHT};
  run_chart(out, runs, n_runs, &spec, ROWS_ALL, NULL, 1.0, f_ap50, NULL);
  spec.title = "Training loss per round";
  spec.y_label = "mean training loss";
  spec.y_from_zero = 1;
  run_chart(out, runs, n_runs, &spec, ROWS_ALL, NULL, 1.0, f_loss, NULL);
  spec.title = "Learning rate per round";
  spec.y_label = "learning rate at the end of the round";
  run_chart(out, runs, n_runs, &spec, ROWS_ALL, NULL, 1.0, f_lr, NULL);
  bm_buf_puts(out, "</div>\n<h2>Final numbers</h2>\n");
  final_table(out, runs, n_runs);
  run_details(out, runs, n_runs);
  bm_buf_puts(out, "</body></html>\n");
  bm_free(labels);
  if (out->failed) return bm_fail(err, "report: out of memory");
  return 0;
}
