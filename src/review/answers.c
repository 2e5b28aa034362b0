/* answers.json: the verdicts of a round as imported so far. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_review.h"
#include "review/review_internal.h"

void bm_review_answers_json(const bm_review_queue *q, const bm_review_answers *a, bm_buf *out) {
  bm_buf_printf(out, "{\"format\":\"boxmine-review-answers\",\"version\":1,\"round\":%d,"
                     "\"answers\":[", q->round);
  for (int i = 0; i < a->n; i++) {
    const bm_review_answer *ans = &a->items[i];
    bm_buf_puts(out, i ? ",\n" : "\n");
    bm_buf_puts(out, "{\"id\":");
    bm_buf_json_string(out, ans->id);
    bm_buf_puts(out, ",\"source\":");
    bm_buf_json_string(out, bm_review_source_name(ans->source));
    bm_buf_puts(out, ",\"lead_time\":");
    bm_buf_json_number(out, ans->lead_time);
    bm_buf_puts(out, ",\"verdicts\":[");
    for (int k = 0; k < ans->n_verdicts; k++) {
      const bm_review_verdict *v = &ans->verdicts[k];
      if (k) bm_buf_puts(out, ",");
      bm_buf_puts(out, "{\"verdict\":");
      bm_buf_json_string(out, bm_review_verdict_name(v->kind));
      bm_buf_printf(out, ",\"machine\":%d,\"class\":", v->machine);
      bm_buf_json_string(out, q->class_names[v->class_id]);
      bm_buf_puts(out, ",\"box\":");
      bm_review_put_box(out, v->x1, v->y1, v->x2, v->y2);
      bm_buf_printf(out, ",\"difficult\":%s}", v->difficult ? "true" : "false");
    }
    bm_buf_puts(out, "]}");
  }
  bm_buf_puts(out, "\n]}\n");
}

static int source_parse(const char *s) {
  for (int k = 0; k <= BM_REVIEW_FROM_PAGE; k++)
    if (!strcmp(s, bm_review_source_name(k))) return k;
  return -1;
}

static int kind_parse(const char *s) {
  for (int k = 0; k < BM_REVIEW_KIND_COUNT; k++)
    if (!strcmp(s, bm_review_verdict_name(k))) return k;
  return -1;
}

static int load_answer(const bm_review_queue *q, const bm_json *o, bm_review_answer *ans,
                       bm_error *err) {
  const char *id, *source;
  if (o->type != BM_JSON_OBJECT) return bm_fail(err, "line %d: an answer is not an object", o->line);
  if (bm_json_get_string(o, "id", &id, err) != 0 ||
      bm_json_get_string(o, "source", &source, err) != 0)
    return -1;
  int pos = bm_review_queue_find(q, id);
  if (pos < 0) return bm_fail(err, "line %d: image '%s' is not in the queue", o->line, id);
  ans->source = source_parse(source);
  if (ans->source < 0) return bm_fail(err, "line %d: unknown source '%s'", o->line, source);
  ans->lead_time = bm_json_number(bm_json_get(o, "lead_time"), NAN);
  ans->id = bm_strdup(id);
  const bm_json *vs = bm_json_get_typed(o, "verdicts", BM_JSON_ARRAY, err);
  if (!ans->id || !vs) return ans->id ? -1 : bm_fail(err, "out of memory");
  int n = bm_json_len(vs);
  ans->verdicts = n ? bm_calloc((size_t)n, sizeof *ans->verdicts) : NULL;
  if (n && !ans->verdicts) return bm_fail(err, "out of memory");
  const bm_review_image *img = &q->images[pos];
  for (int k = 0; k < n; k++) {
    const bm_json *v = bm_json_at(vs, k);
    bm_review_verdict *out = &ans->verdicts[k];
    const char *kind, *cls;
    long machine;
    if (v->type != BM_JSON_OBJECT)
      return bm_fail(err, "line %d: a verdict is not an object", v->line);
    if (bm_json_get_string(v, "verdict", &kind, err) != 0 ||
        bm_json_get_int(v, "machine", -1, img->n_boxes - 1, &machine, err) != 0 ||
        bm_json_get_string(v, "class", &cls, err) != 0 ||
        bm_review_get_box(v, "box", &out->x1, &out->y1, &out->x2, &out->y2, err) != 0 ||
        bm_json_get_bool(v, "difficult", &out->difficult, err) != 0)
      return -1;
    out->kind = kind_parse(kind);
    out->machine = (int)machine;
    out->class_id = bm_review_class_index(q, cls);
    if (out->kind < 0) return bm_fail(err, "line %d: unknown verdict '%s'", v->line, kind);
    if (out->class_id < 0) return bm_fail(err, "line %d: unknown class '%s'", v->line, cls);
    if ((out->kind == BM_REVIEW_ADDED) != (out->machine < 0))
      return bm_fail(err, "line %d: verdict '%s' with machine box %d", v->line, kind,
                     out->machine);
    ans->n_verdicts++;
    ans->counts[out->kind]++;
  }
  return 0;
}

int bm_review_answers_load(const char *path, const bm_review_queue *q, bm_review_answers *out,
                           bm_error *err) {
  memset(out, 0, sizeof *out);
  bm_json root;
  if (bm_json_parse_file(path, &root, err) != 0) return -1;
  int status = 0;
  const char *format;
  long round;
  if (root.type != BM_JSON_OBJECT) status = bm_fail(err, "not a JSON object");
  if (status == 0 && bm_json_get_string(&root, "format", &format, err) != 0) status = -1;
  if (status == 0 && strcmp(format, "boxmine-review-answers") != 0)
    status = bm_fail(err, "format is '%s', not 'boxmine-review-answers'", format);
  if (status == 0 && bm_json_get_int(&root, "round", 0, 1000000, &round, err) != 0) status = -1;
  if (status == 0 && round != q->round)
    status = bm_fail(err, "answers of round %ld, the queue is round %d", round, q->round);
  const bm_json *list = status == 0 ? bm_json_get_typed(&root, "answers", BM_JSON_ARRAY, err) : NULL;
  if (status == 0 && !list) status = -1;
  for (int i = 0; status == 0 && i < bm_json_len(list); i++) {
    bm_review_answer ans;
    memset(&ans, 0, sizeof ans);
    status = load_answer(q, bm_json_at(list, i), &ans, err);
    if (status == 0) status = bm_review_answers_take(out, &ans, err);
    else {
      bm_free(ans.id);
      bm_free(ans.verdicts);
    }
  }
  bm_json_free(&root);
  if (status != 0) {
    bm_review_answers_free(out);
    return bm_fail_prefix(err, "%s", path);
  }
  return 0;
}
