/* The report's pieces: rounds.jsonl records written and read back, summary.json, loading
 * runs (fixtures in tests/fixtures/report, made by hand), tick choice and SVG geometry worked
 * out by hand, and the page's content (self-contained, escaped, one chart per quantity). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "mine/chart.h"
#include "testlib.h"

static int count(const char *haystack, const char *needle) {
  int n = 0;
  for (const char *p = haystack; p && (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

static int same_number(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static void test_record_round_trip(void) {
  bm_round_record rec, back;
  bm_round_record_init(&rec);
  rec.round = 12;
  rec.phase = 2;
  rec.labeled_images = 1500;
  rec.unlabeled_images = 3000;
  rec.queued_images = 0;
  rec.batch_images = 400;
  rec.sl_images = 210;
  rec.al_images = 80;
  rec.sl_boxes = 470;
  rec.human_draws = 790;
  rec.human_seconds = 12055.5;
  rec.human_adjusts = 17;
  rec.human_measured_seconds = 801.25;
  rec.human_measured_images = 40;
  rec.mean_sl_score = 0.4375;
  rec.pseudo_recall = 0.25;
  rec.ap50 = 0.585;
  rec.ap_coco = 0.3;
  strcpy(rec.ap_metric, "ap_coco");
  rec.train_loss = 1.7;
  rec.lr = 0.0035;
  bm_buf line;
  bm_buf_init(&line);
  bm_round_record_json(&rec, &line);
  bm_json object;
  bm_error err = {{0}};
  CHECK_MSG(bm_json_parse(line.data, line.len, &object, &err) == 0, "%s", err.msg);
  CHECK_MSG(bm_round_record_parse(&object, &back, &err) == 0, "%s", err.msg);
  CHECK(back.round == 12 && back.phase == 2);
  CHECK(back.labeled_images == 1500 && back.unlabeled_images == 3000 && back.queued_images == 0);
  CHECK(back.batch_images == 400 && back.sl_images == 210 && back.al_images == 80);
  CHECK(back.sl_boxes == 470 && back.al_boxes == -1); /* null stays unknown */
  CHECK(back.human_draws == 790 && back.human_verifies == -1);
  CHECK(same_number(back.human_seconds, 12055.5));
  CHECK(back.human_adjusts == 17 && back.human_measured_images == 40);
  CHECK(same_number(back.human_measured_seconds, 801.25));
  CHECK(same_number(back.mean_sl_score, 0.4375) && isnan(back.mean_al_ratio));
  CHECK(isnan(back.pseudo_precision) && same_number(back.pseudo_recall, 0.25));
  CHECK(same_number(back.ap50, 0.585) && isnan(back.ap75) && same_number(back.ap_coco, 0.3));
  CHECK(!strcmp(back.ap_metric, "ap_coco"));
  CHECK(same_number(back.train_loss, 1.7) && same_number(back.lr, 0.0035));
  CHECK(isnan(back.seconds) && isnan(back.ap_shift));
  bm_json_free(&object);
  bm_buf_free(&line);
}

static int parse_text(const char *text, bm_round_record *rec, bm_error *err) {
  bm_json object;
  if (bm_json_parse(text, strlen(text), &object, err) != 0) return -1;
  int rc = bm_round_record_parse(&object, rec, err);
  bm_json_free(&object);
  return rc;
}

static void test_record_errors(void) {
  bm_round_record rec;
  bm_error err = {{0}};
  CHECK(parse_text("{\"round\":1,\"ap50\":\"high\"}", &rec, &err) == -1);
  CHECK(strstr(err.msg, "'ap50'") && strstr(err.msg, "string") && strstr(err.msg, "column 19"));
  CHECK(parse_text("{\"round\":1.5}", &rec, &err) == -1 && strstr(err.msg, "round"));
  CHECK(parse_text("{\"ap50\":0.5}", &rec, &err) == -1 && strstr(err.msg, "round"));
  CHECK(parse_text("{\"round\":1,\"human_draws\":-3}", &rec, &err) == -1 &&
        strstr(err.msg, "human_draws"));
  CHECK(parse_text("[1,2]", &rec, &err) == -1);
  /* unknown fields are ignored (newer writers may add some) */
  CHECK(parse_text("{\"round\":3,\"phase\":1,\"extra\":[1]}", &rec, &err) == 0 &&
        rec.round == 3 && rec.phase == 1);
}

static void count_warning(void *user, const char *msg) {
  (void)msg;
  (*(int *)user)++;
}

static void test_load_fixtures(void) {
  char dir[512];
  bm_run_log run;
  bm_error err = {{0}};
  int warnings = 0;
  bm_log log = {count_warning, &warnings, 0};

  CHECK_MSG(bm_run_log_load(bm_test_source("tests/fixtures/report/slscore", dir, sizeof dir),
                            &run, &log, &err) == 0, "%s", err.msg);
  CHECK(run.n_rounds == 7 && run.has_summary && warnings == 0);
  CHECK(run.strategy && !strcmp(run.strategy, "topk-slscore"));
  CHECK(run.oracle && !strcmp(run.oracle, "verify") && run.seed == 7);
  CHECK(run.best_round == 4 && same_number(run.best_ap, 0.6));
  CHECK(run.name && !strcmp(run.name, "slscore: topk-slscore (verify)"));
  CHECK(run.stop_reason && strstr(run.stop_reason, "AP shift"));
  CHECK(run.rounds[3].phase == 2 && run.rounds[3].round == 1 && run.rounds[3].human_draws == 300);
  CHECK(run.costs.verify == 1.5);
  bm_run_log_free(&run);

  /* the blank line in random/rounds.jsonl is skipped */
  CHECK(bm_run_log_load(bm_test_source("tests/fixtures/report/random", dir, sizeof dir), &run,
                        &log, &err) == 0);
  CHECK(run.n_rounds == 4 && warnings == 0);
  bm_run_log_free(&run);

  /* trust: no summary.json (1 warning), last line cut off (1 warning); the best round is
   * the best mining round: phase-2 round 1 with AP50 0.515 (phase-1's 0.5 is not a round) */
  CHECK(bm_run_log_load(bm_test_source("tests/fixtures/report/trust", dir, sizeof dir), &run,
                        &log, &err) == 0);
  CHECK(run.n_rounds == 2 && !run.has_summary && warnings == 2);
  CHECK(run.best_round == 1 && same_number(run.best_ap, 0.515));
  CHECK(run.strategy == NULL && run.seed == -1 && !strcmp(run.name, "trust"));
  CHECK(same_number(run.rounds[1].pseudo_precision, 0.91));
  bm_run_log_free(&run);

  CHECK(bm_run_log_load("/nonexistent/run", &run, &log, &err) == -1 &&
        strstr(err.msg, "rounds.jsonl"));
}

static void write_text(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  bm_error err;
  CHECK(bm_write_file_atomic(path, text, strlen(text), &err) == 0);
}

static void test_bad_and_written_runs(void) {
  char tmp[512];
  bm_test_tmpdir(tmp, sizeof tmp);
  bm_run_log run;
  bm_error err = {{0}};
  /* a bad line in the middle is an error naming file and line (not skipped) */
  write_text(tmp, "rounds.jsonl", "{\"round\":1}\n{\"round\":2,\n{\"round\":3}\n");
  CHECK(bm_run_log_load(tmp, &run, NULL, &err) == -1);
  CHECK(strstr(err.msg, "rounds.jsonl: line 2") != NULL);
  /* a summary that is not an object is an error */
  write_text(tmp, "rounds.jsonl", "{\"round\":1}\n");
  write_text(tmp, "summary.json", "[]");
  CHECK(bm_run_log_load(tmp, &run, NULL, &err) == -1 && strstr(err.msg, "summary.json"));

  /* what the loop will write, read back */
  bm_run_summary summary;
  memset(&summary, 0, sizeof summary);
  summary.strategy = "topk-alratio-thre";
  summary.oracle = "trust";
  summary.seed = 42;
  summary.command_line = "boxmine mine --oracle trust \"quoted\"";
  summary.stop_reason = "pool exhausted";
  summary.rounds = 2;
  summary.best_round = 2;
  summary.best_ap = 0.25;
  strcpy(summary.ap_metric, "ap75");
  summary.costs = (bm_costs){3.0, 1.0, 0.5, 2.0};
  bm_round_record_init(&summary.final);
  summary.final.round = 2;
  bm_buf text;
  bm_buf_init(&text);
  bm_run_summary_json(&summary, &text);
  write_text(tmp, "summary.json", text.data);
  bm_buf_free(&text);
  bm_buf_init(&text);
  bm_round_record rec;
  for (int r = 1; r <= 2; r++) {
    bm_round_record_init(&rec);
    rec.round = r;
    rec.ap75 = 0.1 * r;
    bm_round_record_json(&rec, &text);
  }
  write_text(tmp, "rounds.jsonl", text.data);
  bm_buf_free(&text);
  CHECK_MSG(bm_run_log_load(tmp, &run, NULL, &err) == 0, "%s", err.msg);
  CHECK(run.n_rounds == 2 && run.has_summary && run.seed == 42);
  CHECK(!strcmp(run.strategy, "topk-alratio-thre") && !strcmp(run.oracle, "trust"));
  CHECK(!strcmp(run.command_line, "boxmine mine --oracle trust \"quoted\""));
  CHECK(run.best_round == 2 && same_number(run.best_ap, 0.25) && !strcmp(run.ap_metric, "ap75"));
  CHECK(run.costs.draw == 3.0 && run.costs.verify == 1.0 && run.costs.image == 0.5);
  CHECK(run.costs.adjust == 2.0);
  CHECK(same_number(run.rounds[1].ap75, 0.2));
  bm_run_log_free(&run);
}

static void test_ticks(void) {
  double first, step;
  int decimals;
  /* [0, 7.66], ~6 intervals: raw 1.28 -> step 2; ticks 0 2 4 6 8 */
  int n = chart_ticks(0, 7.66, 6, 0, &first, &step, &decimals);
  CHECK(n == 5 && first == 0 && step == 2 && decimals == 0);
  /* [50, 60], ~5: raw 2 -> step 2; ticks 50 .. 60 */
  n = chart_ticks(50, 60, 5, 0, &first, &step, &decimals);
  CHECK(n == 6 && first == 50 && step == 2);
  /* [0, 0.005], ~5: raw 0.001 -> step 0.001, 3 decimals, 6 ticks */
  n = chart_ticks(0, 0.005, 5, 0, &first, &step, &decimals);
  CHECK(n == 6 && fabs(step - 0.001) < 1e-15 && decimals == 3);
  /* rounds 1..4, ~6: raw 0.5, but whole numbers only -> step 1, ticks 1 2 3 4 */
  n = chart_ticks(1, 4, 6, 1, &first, &step, &decimals);
  CHECK(n == 4 && first == 1 && step == 1 && decimals == 0);
  /* one value: a range around it that contains it */
  n = chart_ticks(5, 5, 5, 0, &first, &step, &decimals);
  CHECK(n >= 2 && first <= 5 && first + (n - 1) * step >= 5);
}

static void test_svg_geometry(void) {
  /* 400 x 300 chart, one legend row: top margin 26 + 18 + 8 = 52, bottom 50, left 64,
   * right 18 -> plot 318 x 198 pixels. Axes 0..10 both ways (ticks of 2).
   * (0, 0) -> (64, 52 + 198) = (64.0, 250.0); (10, 10) -> (64 + 318, 52) = (382.0, 52.0);
   * (5, 2.5) -> (64 + 159, 250 - 49.5) = (223.0, 200.5). */
  double x[] = {0, 5, 10}, y[] = {0, 2.5, 10};
  chart_series series = {"run <a>", "#123456", 0, 3, x, y};
  chart_spec spec = {.title = "T", .x_label = "x (s)", .y_label = "y (%)", .width = 400,
                     .height = 300};
  bm_buf out;
  bm_buf_init(&out);
  chart_svg(&out, &spec, &series, 1);
  CHECK(out.data && strstr(out.data, "points=\"64.0,250.0 223.0,200.5 382.0,52.0\""));
  CHECK(count(out.data, "<circle") == 3);
  CHECK(strstr(out.data, "run &lt;a&gt;") && !strstr(out.data, "run <a>"));
  CHECK(strstr(out.data, ">x (s)</text>") && strstr(out.data, ">y (%)</text>"));
  bm_buf_free(&out);
  /* a missing middle value breaks the line: two one-point polylines, two markers */
  double y_gap[] = {0, NAN, 10};
  series.y = y_gap;
  bm_buf_init(&out);
  chart_svg(&out, &spec, &series, 1);
  CHECK(count(out.data, "<polyline") == 2 && count(out.data, "<circle") == 2);
  bm_buf_free(&out);
  /* nothing to draw */
  double all_nan[] = {NAN, NAN, NAN};
  series.y = all_nan;
  bm_buf_init(&out);
  chart_svg(&out, &spec, &series, 1);
  CHECK(strstr(out.data, "no data") && count(out.data, "<polyline") == 0);
  bm_buf_free(&out);
}

static void test_page(void) {
  const char *names[] = {"slscore", "random", "trust"};
  bm_run_log runs[3];
  bm_error err = {{0}};
  for (int r = 0; r < 3; r++) {
    char rel[128], dir[512];
    snprintf(rel, sizeof rel, "tests/fixtures/report/%s", names[r]);
    CHECK_MSG(bm_run_log_load(bm_test_source(rel, dir, sizeof dir), &runs[r], NULL, &err) == 0,
              "%s", err.msg);
  }
  /* a run labelled by real people: measured seconds beside the cost model's */
  bm_round_record *last = &runs[0].rounds[runs[0].n_rounds - 1];
  last->human_measured_seconds = 3725;
  last->human_measured_images = 12;
  last->human_adjusts = 5;
  bm_buf page;
  bm_buf_init(&page);
  CHECK_MSG(bm_report_html(runs, 3, "My <report>", &page, &err) == 0, "%s", err.msg);
  /* 3725 s = 1 h 02 min 05 s, over the 12 images people were timed on */
  CHECK(page.data && strstr(page.data, "1 h 02 min<br><small>3725 s<br>12 images timed</small>"));
  CHECK(page.data && strstr(page.data, "<th>boxes adjusted</th>"));
  CHECK(page.data && strstr(page.data, "<td>5</td>"));
  const char *html = page.data ? page.data : "";
  CHECK(!strncmp(html, "<!DOCTYPE html>", 15) && strstr(html, "</html>"));
  CHECK(count(html, "<svg") == 7);
  CHECK(strstr(html, "<title>My &lt;report&gt;</title>"));
  /* the largest human time is 27600 s (random, round 3) >= 2 h: the axis is in hours */
  CHECK(strstr(html, "human labelling time (hours)"));
  CHECK(strstr(html, "boxes drawn by people (cumulative count)"));
  CHECK(strstr(html, "slscore: topk-slscore (verify)") && strstr(html, "random: random (verify) AL"));
  /* self-contained: nothing fetched; the command line's "<&>" is escaped */
  CHECK(!strstr(html, "src=") && !strstr(html, "href=") && !strstr(html, "<script"));
  CHECK(strstr(html, "--seed 7 &lt;&amp;&gt;") && !strstr(html, "<&>"));
  /* table: slscore's human time 15825 s = 4 h 23 min (15825 = 4 x 3600 + 23 x 60 + 45) */
  CHECK(strstr(html, "4 h 23 min<br><small>15825 s</small>"));
  /* random: final AP50 0.57 -> 57.0 %; trust has no summary -> "still running?" */
  CHECK(strstr(html, "<td>57.0</td>") && strstr(html, "still running?"));
  /* three distinct colours, in run order */
  CHECK(strstr(html, "#4e79a7") && strstr(html, "#f28e2b") && strstr(html, "#e15759"));
  bm_buf_free(&page);
  for (int r = 0; r < 3; r++) bm_run_log_free(&runs[r]);
  CHECK(bm_report_html(runs, 0, NULL, &page, &err) == -1);
}

int main(void) {
  test_record_round_trip();
  test_record_errors();
  test_load_fixtures();
  test_bad_and_written_runs();
  test_ticks();
  test_svg_geometry();
  test_page();
  return bm_test_finish("test_report");
}
