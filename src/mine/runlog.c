/* A run's logs: summary.json written at the end of a run, and reading rounds.jsonl and
 * summary.json back for the report. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine.h"

static void put_costs(bm_buf *out, const bm_costs *costs) {
  bm_buf_puts(out, "{\"draw\":");
  bm_buf_json_number(out, costs->draw);
  bm_buf_puts(out, ",\"verify\":");
  bm_buf_json_number(out, costs->verify);
  bm_buf_puts(out, ",\"image\":");
  bm_buf_json_number(out, costs->image);
  bm_buf_puts(out, ",\"adjust\":");
  bm_buf_json_number(out, costs->adjust);
  bm_buf_puts(out, "}");
}

static void put_string_or_null(bm_buf *out, const char *s) {
  if (s) bm_buf_json_string(out, s);
  else bm_buf_puts(out, "null");
}

void bm_run_summary_json(const bm_run_summary *summary, bm_buf *out) {
  bm_buf_puts(out, "{\"strategy\":");
  put_string_or_null(out, summary->strategy);
  bm_buf_puts(out, ",\"oracle\":");
  put_string_or_null(out, summary->oracle);
  bm_buf_printf(out, ",\"seed\":%llu,\"command_line\":", (unsigned long long)summary->seed);
  put_string_or_null(out, summary->command_line);
  bm_buf_puts(out, ",\"stop_reason\":");
  put_string_or_null(out, summary->stop_reason);
  bm_buf_printf(out, ",\"rounds\":%d,\"best_round\":", summary->rounds);
  if (summary->best_round >= 0) bm_buf_printf(out, "%d", summary->best_round);
  else bm_buf_puts(out, "null");
  bm_buf_puts(out, ",\"best_ap\":");
  bm_buf_json_number(out, summary->best_ap);
  bm_buf_puts(out, ",\"ap_metric\":");
  bm_buf_json_string(out, summary->ap_metric);
  bm_buf_puts(out, ",\"costs_seconds\":");
  put_costs(out, &summary->costs);
  bm_buf_puts(out, ",\"final\":");
  bm_buf tmp;
  bm_buf_init(&tmp);
  bm_round_record_json(&summary->final, &tmp);
  if (tmp.failed) out->failed = 1;
  else if (tmp.len > 0) bm_buf_append(out, tmp.data, tmp.len - 1); /* without its newline */
  bm_buf_free(&tmp);
  bm_buf_puts(out, "}\n");
}

/* ---- parsing ---- */
static int type_error(bm_error *err, const bm_json *value, const char *key, const char *want) {
  return bm_fail(err, "line %d, column %d: field '%s' must be %s, not %s", value->line,
                 value->column, key, want, bm_json_type_name(value->type));
}

static int get_double(const bm_json *object, const char *key, double *out, bm_error *err) {
  const bm_json *value = bm_json_get(object, key);
  if (!value || value->type == BM_JSON_NULL) return 0;
  if (value->type != BM_JSON_NUMBER) return type_error(err, value, key, "a number or null");
  *out = value->number;
  return 0;
}

static int get_count(const bm_json *object, const char *key, long *out, bm_error *err) {
  const bm_json *value = bm_json_get(object, key);
  if (!value || value->type == BM_JSON_NULL) return 0;
  if (value->type != BM_JSON_NUMBER || value->number < 0 || value->number > 1e15 ||
      value->number != floor(value->number))
    return type_error(err, value, key, "a count (integer >= 0) or null");
  *out = (long)value->number;
  return 0;
}

int bm_round_record_parse(const bm_json *object, bm_round_record *rec, bm_error *err) {
  bm_round_record_init(rec);
  if (!object || object->type != BM_JSON_OBJECT)
    return bm_fail(err, "a round record must be a JSON object");
  long round = 0, phase = 2;
  if (bm_json_get_int(object, "round", -1000000, 1000000, &round, err) != 0) return -1;
  rec->round = (int)round;
  const bm_json *phase_value = bm_json_get(object, "phase");
  if (phase_value && phase_value->type != BM_JSON_NULL) {
    if (bm_json_get_int(object, "phase", 0, 100, &phase, err) != 0) return -1;
    rec->phase = (int)phase;
  }
  struct {
    const char *key;
    long *out;
  } counts[] = {{"labeled_images", &rec->labeled_images}, {"unlabeled_images", &rec->unlabeled_images},
                {"queued_images", &rec->queued_images},   {"batch_images", &rec->batch_images},
                {"sl_images", &rec->sl_images},           {"al_images", &rec->al_images},
                {"sl_boxes", &rec->sl_boxes},             {"al_boxes", &rec->al_boxes},
                {"human_draws", &rec->human_draws},       {"human_verifies", &rec->human_verifies},
                {"human_images", &rec->human_images},     {"human_adjusts", &rec->human_adjusts},
                {"human_measured_images", &rec->human_measured_images}};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    if (get_count(object, counts[i].key, counts[i].out, err) != 0) return -1;
  struct {
    const char *key;
    double *out;
  } numbers[] = {{"mean_sl_score", &rec->mean_sl_score}, {"mean_al_ratio", &rec->mean_al_ratio},
                 {"human_seconds", &rec->human_seconds}, {"pseudo_precision", &rec->pseudo_precision},
                 {"pseudo_recall", &rec->pseudo_recall}, {"ap50", &rec->ap50},
                 {"ap75", &rec->ap75},                   {"ap_coco", &rec->ap_coco},
                 {"ap_shift", &rec->ap_shift},           {"train_loss", &rec->train_loss},
                 {"lr", &rec->lr},                       {"seconds", &rec->seconds},
                 {"human_measured_seconds", &rec->human_measured_seconds}};
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
    if (get_double(object, numbers[i].key, numbers[i].out, err) != 0) return -1;
  const bm_json *metric = bm_json_get(object, "ap_metric");
  if (metric && metric->type == BM_JSON_STRING)
    snprintf(rec->ap_metric, sizeof rec->ap_metric, "%s", metric->string);
  else if (metric && metric->type != BM_JSON_NULL)
    return type_error(err, metric, "ap_metric", "a string or null");
  return 0;
}

void bm_run_log_free(bm_run_log *run) {
  bm_free(run->dir);
  bm_free(run->name);
  bm_free(run->strategy);
  bm_free(run->oracle);
  bm_free(run->command_line);
  bm_free(run->stop_reason);
  bm_free(run->rounds);
  memset(run, 0, sizeof *run);
}

static int parse_rounds(const char *path, const char *text, size_t len, bm_run_log *run,
                        bm_log *log, bm_error *err) {
  int cap = 0, line_no = 0;
  size_t pos = 0;
  while (pos < len) {
    size_t end = pos;
    while (end < len && text[end] != '\n') end++;
    line_no++;
    int last_unterminated = end == len;
    size_t start = pos;
    pos = end + 1;
    int blank = 1;
    for (size_t i = start; i < end && blank; i++)
      blank = text[i] == ' ' || text[i] == '\t' || text[i] == '\r';
    if (blank) continue;
    bm_json object;
    if (bm_json_parse(text + start, end - start, &object, err) != 0) {
      if (last_unterminated) {
        bm_warn(log, "%s: line %d is incomplete (run interrupted while writing?), skipped",
                path, line_no);
        return 0;
      }
      return bm_fail_prefix(err, "%s: line %d", path, line_no);
    }
    if (run->n_rounds == cap) {
      cap = cap ? 2 * cap : 64;
      bm_round_record *grown = bm_realloc(run->rounds, (size_t)cap * sizeof *grown);
      if (!grown) {
        bm_json_free(&object);
        return bm_fail(err, "%s: out of memory", path);
      }
      run->rounds = grown;
    }
    int rc = bm_round_record_parse(&object, &run->rounds[run->n_rounds], err);
    bm_json_free(&object);
    if (rc != 0) return bm_fail_prefix(err, "%s: line %d", path, line_no);
    run->n_rounds++;
  }
  return 0;
}

static char *dup_string(const bm_json *object, const char *key) {
  const char *s = bm_json_string(bm_json_get(object, key));
  return s ? bm_strdup(s) : NULL;
}

static int parse_summary(const char *path, bm_run_log *run, bm_error *err) {
  bm_json root;
  if (bm_json_parse_file(path, &root, err) != 0) return -1;
  int rc = -1;
  if (root.type != BM_JSON_OBJECT) {
    bm_fail(err, "%s: must hold a JSON object", path);
    goto done;
  }
  run->strategy = dup_string(&root, "strategy");
  run->oracle = dup_string(&root, "oracle");
  run->command_line = dup_string(&root, "command_line");
  run->stop_reason = dup_string(&root, "stop_reason");
  const bm_json *seed = bm_json_get(&root, "seed");
  if (seed && seed->type == BM_JSON_NUMBER && seed->number >= 0) run->seed = (long long)seed->number;
  const bm_json *best = bm_json_get(&root, "best_round");
  if (best && best->type == BM_JSON_NUMBER) run->best_round = (int)best->number;
  double best_ap = NAN;
  if (get_double(&root, "best_ap", &best_ap, err) != 0) {
    bm_fail_prefix(err, "%s", path);
    goto done;
  }
  run->best_ap = best_ap;
  const char *metric = bm_json_string(bm_json_get(&root, "ap_metric"));
  if (metric) snprintf(run->ap_metric, sizeof run->ap_metric, "%s", metric);
  const bm_json *costs = bm_json_get(&root, "costs_seconds");
  run->costs.draw = bm_json_number(bm_json_get(costs, "draw"), run->costs.draw);
  run->costs.verify = bm_json_number(bm_json_get(costs, "verify"), run->costs.verify);
  run->costs.image = bm_json_number(bm_json_get(costs, "image"), run->costs.image);
  run->costs.adjust = bm_json_number(bm_json_get(costs, "adjust"), run->costs.adjust);
  run->has_summary = 1;
  rc = 0;
done:
  bm_json_free(&root);
  return rc;
}

/* The AP field a run's early stop watched, for picking the best round. */
static double metric_value(const bm_round_record *rec, const char *metric) {
  if (!strcmp(metric, "ap75")) return rec->ap75;
  if (!strcmp(metric, "ap_coco")) return rec->ap_coco;
  return rec->ap50;
}

/* The best mining round; a run that never mined reports its best phase-1 round. */
static void find_best(bm_run_log *run) {
  int any_mining = 0;
  for (int i = 0; i < run->n_rounds; i++) any_mining |= run->rounds[i].phase == 2;
  for (int i = 0; i < run->n_rounds; i++) {
    if (any_mining && run->rounds[i].phase != 2) continue;
    double v = metric_value(&run->rounds[i], run->ap_metric);
    if (isfinite(v) && (!isfinite(run->best_ap) || v > run->best_ap)) {
      run->best_ap = v;
      run->best_round = run->rounds[i].round;
    }
  }
}

static char *base_name(const char *dir) {
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/') len--;
  size_t start = len;
  while (start > 0 && dir[start - 1] != '/') start--;
  char *name = bm_malloc(len - start + 1);
  if (!name) return NULL;
  memcpy(name, dir + start, len - start);
  name[len - start] = '\0';
  return name;
}

int bm_run_log_load(const char *dir, bm_run_log *run, bm_log *log, bm_error *err) {
  memset(run, 0, sizeof *run);
  run->seed = -1;
  run->best_round = -1;
  run->best_ap = NAN;
  bm_costs_default(&run->costs);
  run->dir = bm_strdup(dir);
  char *rounds_path = bm_path_join(dir, "rounds.jsonl");
  char *summary_path = bm_path_join(dir, "summary.json");
  char *text = NULL;
  size_t len = 0;
  int rc = -1;
  if (!run->dir || !rounds_path || !summary_path) {
    bm_fail(err, "%s: out of memory", dir);
    goto done;
  }
  if (bm_read_file(rounds_path, &text, &len, err) != 0 ||
      parse_rounds(rounds_path, text, len, run, log, err) != 0)
    goto done;
  if (run->n_rounds == 0) bm_warn(log, "%s: no rounds yet", rounds_path);
  if (bm_file_exists(summary_path)) {
    if (parse_summary(summary_path, run, err) != 0) goto done;
  } else {
    bm_warn(log, "%s: missing (run still going?); numbers come from rounds.jsonl only",
            summary_path);
  }
  if (!run->ap_metric[0]) {
    const char *metric = run->n_rounds > 0 ? run->rounds[run->n_rounds - 1].ap_metric : "ap50";
    snprintf(run->ap_metric, sizeof run->ap_metric, "%s", metric[0] ? metric : "ap50");
  }
  if (run->best_round < 0) find_best(run);
  char *base = base_name(dir);
  bm_buf name;
  bm_buf_init(&name);
  bm_buf_puts(&name, base ? base : dir);
  if (run->strategy) {
    bm_buf_printf(&name, ": %s", run->strategy);
    if (run->oracle) bm_buf_printf(&name, " (%s)", run->oracle);
  }
  bm_free(base);
  if (name.failed || !name.data) {
    bm_buf_free(&name);
    bm_fail(err, "%s: out of memory", dir);
    goto done;
  }
  run->name = name.data; /* the buffer's storage becomes the string */
  rc = 0;
done:
  bm_free(text);
  bm_free(rounds_path);
  bm_free(summary_path);
  if (rc != 0) bm_run_log_free(run);
  return rc;
}
