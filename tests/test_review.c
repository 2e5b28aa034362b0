/* Review rounds: export a queue for Label Studio, CVAT and VOC, edit the files as each tool
 * would return them, import them back and check the exact verdicts. Also the manifest and
 * answers.json round trips and the errors that name an unknown image or class. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "boxmine/bm_review.h"
#include "testlib.h"

static char *classes[3] = {"cat", "dog", "bird"};

/* img_a 640x480 with three machine boxes, img_b 320x240 with one, img_c 100x100 with none. */
static void make_queue(bm_review_queue *q) {
  bm_error err;
  CHECK(bm_review_queue_init(q, 2, "round-2", classes, 3, "{\"certain_thre\":0.8}", &err) == 0);
  bm_review_box a[3] = {{0, 0.95f, 10, 20, 110, 220, 0},
                        {1, 0.5f, 200, 50, 300, 150, 1},
                        {2, 0.4f, 400, 300, 500, 400, 1}};
  bm_review_box b[1] = {{1, 0.9f, 5, 5, 100, 100, 0}};
  CHECK(bm_review_queue_add(q, "img_a", 7, "/data/pics/img_a.jpg", 640, 480, a, 3, &err) == 0);
  CHECK(bm_review_queue_add(q, "img_b", 3, "/data/pics/img_b.jpg", 320, 240, b, 1, &err) == 0);
  CHECK(bm_review_queue_add(q, "img_c", 9, "/data/pics/img_c.png", 100, 100, NULL, 0, &err) == 0);
  /* refused: a repeated id, a repeated file name, a class out of range */
  CHECK(bm_review_queue_add(q, "img_a", 1, "/x/other.jpg", 10, 10, NULL, 0, &err) == -1);
  CHECK(bm_review_queue_add(q, "img_d", 1, "/x/img_a.jpg", 10, 10, NULL, 0, &err) == -1);
  bm_review_box bad = {3, 0.5f, 0, 0, 1, 1, 0};
  CHECK(bm_review_queue_add(q, "img_e", 1, "/x/e.jpg", 10, 10, &bad, 1, &err) == -1);
  CHECK(q->n_images == 3);
}

static void write_text(const char *dir, const char *name, const char *text, char *path,
                       size_t size) {
  snprintf(path, size, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static const bm_review_answer *answer_of(const bm_review_answers *a, const char *id) {
  int at = bm_review_answers_find(a, id);
  return at >= 0 ? &a->items[at] : NULL;
}

static int verdict_is(const bm_review_verdict *v, int kind, int machine, int class_id, float x1,
                      float y1, float x2, float y2) {
  return v->kind == kind && v->machine == machine && v->class_id == class_id &&
         fabsf(v->x1 - x1) < 1e-3f && fabsf(v->y1 - y1) < 1e-3f && fabsf(v->x2 - x2) < 1e-3f &&
         fabsf(v->y2 - y2) < 1e-3f;
}

/* The exported tasks: one prediction per image, ids = machine box index, percentages of the
 * original size. Checked against numbers worked out by hand. */
static void test_label_studio_tasks(const bm_review_queue *q) {
  bm_buf buf;
  bm_buf_init(&buf);
  bm_review_label_studio_tasks(q, NULL, &buf);
  bm_json root;
  bm_error err;
  CHECK(bm_json_parse(buf.data, buf.len, &root, &err) == 0);
  CHECK(root.type == BM_JSON_ARRAY && root.n == 3);
  const bm_json *t0 = bm_json_at(&root, 0);
  CHECK(!strcmp(bm_json_string(bm_json_get(bm_json_get(t0, "data"), "bm_id")), "img_a"));
  CHECK(!strcmp(bm_json_string(bm_json_get(bm_json_get(t0, "data"), "image")),
                "/data/local-files/?d=data/pics/img_a.jpg"));
  const bm_json *pred = bm_json_at(bm_json_get(t0, "predictions"), 0);
  CHECK(!strcmp(bm_json_string(bm_json_get(pred, "model_version")), "round-2"));
  const bm_json *result = bm_json_get(pred, "result");
  CHECK(bm_json_len(result) == 3);
  const bm_json *r1 = bm_json_at(result, 1);
  CHECK(!strcmp(bm_json_string(bm_json_get(r1, "id")), "1"));
  CHECK(!strcmp(bm_json_string(bm_json_get(r1, "type")), "rectanglelabels"));
  CHECK(bm_json_number(bm_json_get(r1, "original_width"), 0) == 640);
  CHECK(bm_json_number(bm_json_get(r1, "original_height"), 0) == 480);
  CHECK_NEAR(bm_json_number(bm_json_get(r1, "score"), 0), 0.5, 1e-7);
  const bm_json *v = bm_json_get(r1, "value");
  CHECK_NEAR(bm_json_number(bm_json_get(v, "x"), 0), 31.25, 1e-12);      /* 200 / 640 */
  CHECK_NEAR(bm_json_number(bm_json_get(v, "y"), 0), 10.416666666666666, 1e-12); /* 50/480 */
  CHECK_NEAR(bm_json_number(bm_json_get(v, "width"), 0), 15.625, 1e-12); /* 100 / 640 */
  CHECK(!strcmp(bm_json_string(bm_json_at(bm_json_get(v, "rectanglelabels"), 0)), "dog"));
  /* img_c: a prediction with an empty result */
  CHECK(bm_json_len(bm_json_get(bm_json_at(bm_json_get(bm_json_at(&root, 2), "predictions"), 0),
                                "result")) == 0);
  bm_json_free(&root);
  buf.len = 0;
  bm_review_label_studio_config(q, &buf);
  CHECK(strstr(buf.data, "<Label value=\"bird\"/>") != NULL);
  CHECK(strstr(buf.data, "name=\"label\" toName=\"image\"") != NULL);
  bm_buf_free(&buf);
}

/* What Label Studio exports after a person worked on the tasks: img_a keeps region 0, moves
 * region 1, deletes region 2 and draws a bird marked difficult (12.5 s), then a later skipped
 * annotation that must not count; img_b was not labelled; img_c was submitted empty (3 s). */
static const char *ls_export =
    "[{\"id\":11,\"data\":{\"image\":\"/data/local-files/?d=data/pics/img_a.jpg\","
    "\"bm_id\":\"img_a\"},\"annotations\":[{\"id\":1,\"lead_time\":12.5,\"was_cancelled\":false,"
    "\"result\":["
    "{\"id\":\"0\",\"type\":\"rectanglelabels\",\"from_name\":\"label\",\"to_name\":\"image\","
    "\"origin\":\"prediction\",\"original_width\":640,\"original_height\":480,"
    "\"value\":{\"x\":1.5625,\"y\":4.166666666666667,\"width\":15.625,"
    "\"height\":41.66666666666667,\"rotation\":0,\"rectanglelabels\":[\"cat\"]}},"
    "{\"id\":\"1\",\"type\":\"rectanglelabels\",\"from_name\":\"label\",\"to_name\":\"image\","
    "\"origin\":\"prediction-changed\",\"original_width\":640,\"original_height\":480,"
    "\"value\":{\"x\":32.8125,\"y\":12.5,\"width\":15.625,\"height\":25,\"rotation\":0,"
    "\"rectanglelabels\":[\"dog\"]}},"
    "{\"id\":\"Xk2P9qLm0a\",\"type\":\"rectanglelabels\",\"from_name\":\"label\","
    "\"to_name\":\"image\",\"origin\":\"manual\",\"original_width\":640,\"original_height\":480,"
    "\"value\":{\"x\":50,\"y\":50,\"width\":10,\"height\":20,\"rotation\":0,"
    "\"rectanglelabels\":[\"bird\"]}},"
    "{\"id\":\"Xk2P9qLm0a\",\"type\":\"choices\",\"from_name\":\"difficult\",\"to_name\":\"image\","
    "\"value\":{\"choices\":[\"difficult\"]}}]},"
    "{\"id\":2,\"lead_time\":4,\"was_cancelled\":true,\"result\":[]}]},"
    "{\"id\":12,\"data\":{\"image\":\"x\",\"bm_id\":\"img_b\"},\"annotations\":[],"
    "\"predictions\":[]},"
    "{\"id\":13,\"data\":{\"image\":\"x\",\"bm_id\":\"img_c\"},\"annotations\":[{\"id\":3,"
    "\"lead_time\":3,\"result\":[]}]}]";

/* The answer as the loop's oracle: box 0 (certain, 0.95) accepted, 1 adjusted, 2 deleted,
 * a difficult bird added. Kept non-difficult: 2 (n), accepted 1: sl_score 0.95 / 2,
 * al_ratio 1 / 2. Machine side: 1 certain, 2 uncertain: estimates 0.95 / 3 and 2 / 3. Then
 * bm_mine_apply with oracle human places the image (reviewed: it joins L with the people's
 * boxes) and charges nobody. */
static void test_oracle(const bm_review_queue *q, const bm_review_answer *ia) {
  bm_fusion_opts fopts;
  bm_fusion_opts_default(&fopts);
  bm_fusion_result res;
  bm_object *gt = NULL;
  bm_error err;
  CHECK_MSG(bm_review_fusion_result(&q->images[0], ia, &fopts, 0, 1, &gt, &res, &err) == 0, "%s",
            err.msg);
  CHECK(res.n_gt == 2 && res.n_accepted == 1 && res.n_al == 1 && res.n_difficult == 1);
  CHECK(res.n_rejected == 0 && res.boxes[0].verdict == BM_VERDICT_ACCEPTED);
  CHECK(res.boxes[1].verdict == BM_VERDICT_NONE); /* uncertain boxes get no oracle verdict */
  CHECK_NEAR(res.sl_score, 0.95f / 2, 1e-6);
  CHECK_NEAR(res.al_ratio, 0.5, 1e-6);
  CHECK_NEAR(res.sl_score_est, 0.95f / 3, 1e-6);
  CHECK_NEAR(res.al_ratio_est, 2.0 / 3, 1e-6);
  CHECK(res.n_sa == 3 && res.sa[0].source == BM_SOURCE_MACHINE && res.sa[0].score == 0.95f);
  CHECK(res.sa[1].source == BM_SOURCE_HUMAN && res.sa[1].object.x2 == 310);
  CHECK(res.sa[2].source == BM_SOURCE_DIFFICULT && res.sa[2].object.difficult == 1);

  bm_mine_state st;
  bm_mine_opts mopts;
  bm_mine_opts_default(&mopts);
  mopts.oracle = BM_ORACLE_HUMAN;
  mopts.K = 1;
  int pool[1] = {0};
  CHECK(bm_mine_state_init(&st, 1, pool, 1, 0, 7, NULL, &err) == 0);
  bm_round_plan plan;
  memset(&plan, 0, sizeof plan);
  CHECK(bm_mine_take_batch(&st, &mopts, &plan, &err) == 0 && plan.batch.n == 1);
  res.round = plan.round;
  CHECK_MSG(bm_mine_apply(&st, &mopts, &res, &plan, &err) == 0, "%s", err.msg);
  CHECK(st.images[0].pool == BM_POOL_LABELED); /* reviewed once, it joins L (as verify) */
  CHECK(st.images[0].n_boxes == 3 && st.images[0].boxes[0].source == BM_SOURCE_MACHINE);
  CHECK(st.ledger.n_entries == 0 && plan.charged.n == 1);
  bm_round_plan_free(&plan);
  bm_mine_state_free(&st);
  /* the baselines that draw from scratch have nothing for people to review */
  mopts.strategy = BM_STRATEGY_RANDOM;
  CHECK(bm_mine_opts_check(&mopts, &err) == -1 && strstr(err.msg, "human"));
  bm_fusion_result_free(&res);
  bm_free(gt);
}

/* Unanswered images go back to the front of Q, in order, ahead of what was queued. */
static void test_requeue_front(void) {
  bm_mine_state st;
  bm_mine_opts mopts;
  bm_error err;
  bm_mine_opts_default(&mopts);
  mopts.oracle = BM_ORACLE_HUMAN;
  mopts.K = 3;
  int pool[5] = {0, 1, 2, 3, 4};
  CHECK(bm_mine_state_init(&st, 5, pool, 5, 0, 11, NULL, &err) == 0);
  bm_round_plan plan;
  memset(&plan, 0, sizeof plan);
  CHECK(bm_mine_take_batch(&st, &mopts, &plan, &err) == 0 && plan.batch.n == 3);
  int later[2] = {plan.batch.items[2], plan.batch.items[0]};
  CHECK(bm_mine_requeue_front(&st, later, 2, &err) == 0);
  CHECK(st.queue.n == 2 && st.queue.items[0] == later[0] && st.queue.items[1] == later[1]);
  CHECK(st.images[later[0]].pool == BM_POOL_QUEUED);
  CHECK(bm_mine_requeue_front(&st, later, 1, &err) == -1); /* no longer in the batch */
  CHECK(bm_mine_requeue_front(&st, NULL, 0, &err) == 0 && st.queue.n == 2);
  /* the answered one still waits in the batch; the state is consistent once it is placed */
  CHECK(st.images[plan.batch.items[1]].pool == BM_POOL_BATCH);
  bm_round_plan_free(&plan);
  bm_mine_state_free(&st);
}

static void test_label_studio_round_trip(const bm_review_queue *q, const char *dir) {
  char path[512];
  write_text(dir, "ls-export.json", ls_export, path, sizeof path);
  bm_review_answers a;
  bm_error err;
  bm_log log = {0};
  CHECK_MSG(bm_review_import(q, path, &a, &log, &err) == 0, "%s", err.msg);
  CHECK(a.n == 2); /* img_b stays queued */
  CHECK(answer_of(&a, "img_b") == NULL);
  const bm_review_answer *ia = answer_of(&a, "img_a");
  CHECK(ia != NULL);
  if (ia) {
    CHECK(ia->source == BM_REVIEW_FROM_LABEL_STUDIO);
    CHECK(ia->lead_time == 12.5);
    CHECK(ia->n_verdicts == 4);
    CHECK(verdict_is(&ia->verdicts[0], BM_REVIEW_ACCEPTED, 0, 0, 10, 20, 110, 220));
    CHECK(verdict_is(&ia->verdicts[1], BM_REVIEW_ADJUSTED, 1, 1, 210, 60, 310, 180));
    CHECK(verdict_is(&ia->verdicts[2], BM_REVIEW_DELETED, 2, 2, 400, 300, 500, 400));
    CHECK(verdict_is(&ia->verdicts[3], BM_REVIEW_ADDED, -1, 2, 320, 240, 384, 336));
    CHECK(ia->verdicts[3].difficult == 1 && ia->verdicts[0].difficult == 0);
    CHECK(ia->counts[BM_REVIEW_ACCEPTED] == 1 && ia->counts[BM_REVIEW_ADJUSTED] == 1 &&
          ia->counts[BM_REVIEW_DELETED] == 1 && ia->counts[BM_REVIEW_ADDED] == 1);
    /* the ledger: 1 image, 2 verifies (accepted 0, deleted 2), 1 adjust, 1 draw, 12.5 s */
    bm_ledger ledger;
    CHECK(bm_ledger_init(&ledger, 10, NULL, &err) == 0);
    CHECK(bm_review_charge(&ledger, 2, 7, ia, &err) == 0);
    CHECK(ledger.total.images == 1 && ledger.total.verifies == 2 && ledger.total.adjusts == 1 &&
          ledger.total.draws == 1);
    CHECK(ledger.n_entries == 5 && ledger.entries[1].accepted == 1 && ledger.entries[3].accepted == 0);
    long timed;
    CHECK(bm_ledger_measured_through(&ledger, 2, &timed) == 12.5 && timed == 1);
    bm_ledger_free(&ledger);
    test_oracle(q, ia);
  }
  const bm_review_answer *ic = answer_of(&a, "img_c");
  CHECK(ic != NULL && ic->n_verdicts == 0 && ic->lead_time == 3);

  /* answers.json round trip */
  bm_buf buf;
  bm_buf_init(&buf);
  bm_review_answers_json(q, &a, &buf);
  write_text(dir, "answers.json", buf.data, path, sizeof path);
  bm_review_answers back;
  CHECK_MSG(bm_review_answers_load(path, q, &back, &err) == 0, "%s", err.msg);
  CHECK(back.n == a.n);
  for (int i = 0; i < a.n && i < back.n; i++) {
    CHECK(!strcmp(a.items[i].id, back.items[i].id));
    CHECK(a.items[i].n_verdicts == back.items[i].n_verdicts);
    CHECK(a.items[i].lead_time == back.items[i].lead_time);
    for (int k = 0; k < a.items[i].n_verdicts && k < back.items[i].n_verdicts; k++)
      CHECK(!memcmp(&a.items[i].verdicts[k], &back.items[i].verdicts[k],
                    sizeof(bm_review_verdict)));
  }
  bm_review_answers_free(&back);
  bm_buf_free(&buf);
  bm_review_answers_free(&a);
}

/* Without origin (older Label Studio): the same class and IoU >= 0.99 is accepted, a
 * relabelled box is adjusted; a rotated box is read as its upright envelope. */
static void test_label_studio_no_origin(const bm_review_queue *q, const char *dir) {
  const char *text =
      "[{\"data\":{\"bm_id\":\"img_b\"},\"annotations\":[{\"result\":["
      "{\"id\":\"0\",\"type\":\"rectanglelabels\",\"from_name\":\"label\",\"to_name\":\"image\","
      "\"value\":{\"x\":1.5625,\"y\":2.0833333333333335,\"width\":29.6875,"
      "\"height\":39.583333333333336,\"rectanglelabels\":[\"dog\"]}},"
      "{\"id\":\"Qw\",\"type\":\"rectanglelabels\",\"from_name\":\"label\",\"to_name\":\"image\","
      "\"original_width\":320,\"original_height\":240,"
      "\"value\":{\"x\":50,\"y\":50,\"width\":10,\"height\":10,\"rotation\":90,"
      "\"rectanglelabels\":[\"cat\"]}}]}]},"
      "{\"data\":{\"bm_id\":\"img_a\"},\"annotations\":[{\"result\":["
      "{\"id\":\"0\",\"type\":\"rectanglelabels\",\"from_name\":\"label\",\"to_name\":\"image\","
      "\"value\":{\"x\":1.5625,\"y\":4.166666666666667,\"width\":15.625,"
      "\"height\":41.66666666666667,\"rectanglelabels\":[\"dog\"]}}]}]}]";
  char path[512];
  write_text(dir, "ls-no-origin.json", text, path, sizeof path);
  bm_review_answers a;
  bm_error err;
  bm_log log = {0};
  CHECK_MSG(bm_review_import_label_studio(q, path, &a, &log, &err) == 0, "%s", err.msg);
  const bm_review_answer *ib = answer_of(&a, "img_b");
  CHECK(ib && ib->n_verdicts == 2 && isnan(ib->lead_time));
  if (ib && ib->n_verdicts == 2) {
    CHECK(verdict_is(&ib->verdicts[0], BM_REVIEW_ACCEPTED, 0, 1, 5, 5, 100, 100));
    /* 90 degrees about (160,120): a 32x24 box becomes x 136..160, y 120..152 */
    CHECK(verdict_is(&ib->verdicts[1], BM_REVIEW_ADDED, -1, 0, 136, 120, 160, 152));
  }
  CHECK(log.n_warnings == 1); /* the rotation */
  const bm_review_answer *ia = answer_of(&a, "img_a");
  CHECK(ia && ia->n_verdicts == 3);
  if (ia && ia->n_verdicts == 3) {
    CHECK(verdict_is(&ia->verdicts[0], BM_REVIEW_ADJUSTED, 0, 1, 10, 20, 110, 220));
    CHECK(ia->verdicts[1].kind == BM_REVIEW_DELETED && ia->verdicts[2].kind == BM_REVIEW_DELETED);
  }
  bm_review_answers_free(&a);
}

/* CVAT for images 1.1 as CVAT writes it back: its own task meta, every image of the task,
 * boxes with their attributes; a moved box keeps its bm_box attribute, a new box gets the
 * default (empty) value and source="manual". img_c is not in this file (another job). */
static const char *cvat_export =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<annotations>\n  <version>1.1</version>\n"
    "  <meta><task><id>5</id><name>boxmine round 2</name></task>"
    "<dumped>2026-12-08 03:00:00+00:00</dumped></meta>\n"
    "  <image id=\"0\" name=\"img_a.jpg\" width=\"640\" height=\"480\">\n"
    "    <box label=\"cat\" source=\"auto\" occluded=\"0\" xtl=\"10.00\" ytl=\"20.00\" "
    "xbr=\"110.00\" ybr=\"220.00\" z_order=\"0\">\n"
    "      <attribute name=\"score\">0.95</attribute>\n"
    "      <attribute name=\"bm_box\">0</attribute>\n"
    "      <attribute name=\"difficult\">true</attribute>\n    </box>\n"
    "    <box label=\"dog\" source=\"auto\" occluded=\"0\" xtl=\"200.00\" ytl=\"50.00\" "
    "xbr=\"330.00\" ybr=\"150.00\" z_order=\"0\">\n"
    "      <attribute name=\"score\">0.5</attribute>\n"
    "      <attribute name=\"bm_box\">1</attribute>\n"
    "      <attribute name=\"difficult\">false</attribute>\n    </box>\n"
    "    <box label=\"bird\" source=\"manual\" occluded=\"0\" xtl=\"1.50\" ytl=\"2.50\" "
    "xbr=\"30.00\" ybr=\"40.00\" z_order=\"0\">\n"
    "      <attribute name=\"score\">0</attribute>\n"
    "      <attribute name=\"bm_box\"></attribute>\n"
    "      <attribute name=\"difficult\">false</attribute>\n    </box>\n"
    "    <polygon label=\"cat\" source=\"manual\" points=\"1,1;5,5;1,5\" z_order=\"0\"/>\n"
    "  </image>\n"
    "  <image id=\"1\" name=\"img_b.jpg\" width=\"320\" height=\"240\">\n"
    "    <box label=\"cat\" source=\"auto\" occluded=\"0\" xtl=\"5\" ytl=\"5\" xbr=\"100\" "
    "ybr=\"100\" z_order=\"0\"/>\n"
    "  </image>\n</annotations>\n";

static void test_cvat_round_trip(const bm_review_queue *q, const char *dir) {
  char path[512];
  write_text(dir, "cvat-back.xml", cvat_export, path, sizeof path);
  bm_review_answers a;
  bm_error err;
  bm_log log = {0};
  CHECK_MSG(bm_review_import(q, path, &a, &log, &err) == 0, "%s", err.msg);
  CHECK(a.n == 2 && answer_of(&a, "img_c") == NULL);
  CHECK(log.n_warnings == 1); /* the polygon */
  const bm_review_answer *ia = answer_of(&a, "img_a");
  CHECK(ia && ia->n_verdicts == 4 && ia->source == BM_REVIEW_FROM_CVAT && isnan(ia->lead_time));
  if (ia && ia->n_verdicts == 4) {
    CHECK(verdict_is(&ia->verdicts[0], BM_REVIEW_ACCEPTED, 0, 0, 10, 20, 110, 220));
    CHECK(ia->verdicts[0].difficult == 1);
    CHECK(verdict_is(&ia->verdicts[1], BM_REVIEW_ADJUSTED, 1, 1, 200, 50, 330, 150));
    CHECK(verdict_is(&ia->verdicts[2], BM_REVIEW_DELETED, 2, 2, 400, 300, 500, 400));
    CHECK(verdict_is(&ia->verdicts[3], BM_REVIEW_ADDED, -1, 2, 1.5f, 2.5f, 30, 40));
  }
  /* img_b: no bm_box attribute (boxes re-imported without attributes): the same place with
   * another class is a relabel */
  const bm_review_answer *ib = answer_of(&a, "img_b");
  CHECK(ib && ib->n_verdicts == 1);
  if (ib && ib->n_verdicts == 1)
    CHECK(verdict_is(&ib->verdicts[0], BM_REVIEW_ADJUSTED, 0, 0, 5, 5, 100, 100));
  bm_review_answers_free(&a);

  /* the exported file itself, untouched, reads back as all accepted */
  snprintf(path, sizeof path, "%s/export/cvat-annotations.xml", dir);
  CHECK_MSG(bm_review_import_cvat(q, path, &a, &log, &err) == 0, "%s", err.msg);
  CHECK(a.n == 3);
  for (int i = 0; i < a.n; i++)
    CHECK(a.items[i].counts[BM_REVIEW_ACCEPTED] == a.items[i].n_verdicts);
  CHECK(answer_of(&a, "img_a") && answer_of(&a, "img_a")->n_verdicts == 3);
  bm_review_answers_free(&a);
}

/* VOC: the exported folder reads back as all accepted; an edited copy (img_a: box 1
 * relabelled, box 2 removed, one drawn; img_b's file removed) gives exact verdicts. */
static void test_voc_round_trip(const bm_review_queue *q, const char *dir) {
  char path[512], voc[512];
  bm_review_answers a;
  bm_error err;
  bm_log log = {0};
  snprintf(voc, sizeof voc, "%s/export/voc", dir);
  CHECK_MSG(bm_review_import(q, voc, &a, &log, &err) == 0, "%s", err.msg);
  CHECK(a.n == 3);
  for (int i = 0; i < a.n; i++)
    CHECK(a.items[i].counts[BM_REVIEW_ACCEPTED] == a.items[i].n_verdicts);
  bm_review_answers_free(&a);

  snprintf(voc, sizeof voc, "%s/voc-back", dir);
  CHECK(bm_mkdir_p(voc, &err) == 0);
  bm_object objs[3] = {{0, 10, 20, 110, 220, 0, 0, ""},
                       {2, 200, 50, 300, 150, 0, 0, ""},
                       {1, 40, 40, 80, 90, 1, 0, ""}};
  snprintf(path, sizeof path, "%s/img_a.xml", voc);
  CHECK(bm_voc_write_xml(path, "x", "img_a.jpg", 640, 480, 3, objs, 3, classes, NULL, &err) == 0);
  snprintf(path, sizeof path, "%s/img_c.xml", voc);
  CHECK(bm_voc_write_xml(path, "x", "img_c.png", 100, 100, 3, NULL, 0, classes, NULL, &err) == 0);
  CHECK_MSG(bm_review_import(q, voc, &a, &log, &err) == 0, "%s", err.msg);
  CHECK(a.n == 2 && answer_of(&a, "img_b") == NULL);
  const bm_review_answer *ia = answer_of(&a, "img_a");
  CHECK(ia && ia->n_verdicts == 4 && ia->source == BM_REVIEW_FROM_VOC);
  if (ia && ia->n_verdicts == 4) {
    CHECK(verdict_is(&ia->verdicts[0], BM_REVIEW_ACCEPTED, 0, 0, 10, 20, 110, 220));
    CHECK(verdict_is(&ia->verdicts[1], BM_REVIEW_ADJUSTED, 1, 2, 200, 50, 300, 150));
    CHECK(verdict_is(&ia->verdicts[2], BM_REVIEW_DELETED, 2, 2, 400, 300, 500, 400));
    CHECK(verdict_is(&ia->verdicts[3], BM_REVIEW_ADDED, -1, 1, 40, 40, 80, 90));
    CHECK(ia->verdicts[3].difficult == 1);
  }
  bm_review_answers_free(&a);
  /* an unknown class in a VOC file is an error naming it and the file */
  bm_object odd = {0, 1, 1, 5, 5, 0, 0, ""};
  char *names[1] = {"zebra"};
  snprintf(path, sizeof path, "%s/img_c.xml", voc);
  CHECK(bm_voc_write_xml(path, "x", "img_c.png", 100, 100, 3, &odd, 1, names, NULL, &err) == 0);
  CHECK(bm_review_import(q, voc, &a, &log, &err) == -1);
  CHECK(strstr(err.msg, "zebra") && strstr(err.msg, "img_c.xml"));
  /* an unknown image */
  snprintf(path, sizeof path, "%s/img_zz.xml", voc);
  CHECK(bm_voc_write_xml(path, "x", "img_zz.png", 100, 100, 3, NULL, 0, classes, NULL, &err) == 0);
  snprintf(path, sizeof path, "%s/img_c.xml", voc);
  remove(path);
  CHECK(bm_review_import(q, voc, &a, &log, &err) == -1);
  CHECK(strstr(err.msg, "img_zz") != NULL);
}

static void test_errors(const bm_review_queue *q, const char *dir) {
  char path[512];
  bm_review_answers a;
  bm_error err;
  bm_log log = {0};
  write_text(dir, "bad-id.json",
             "[{\"data\":{\"bm_id\":\"img_nowhere\"},\"annotations\":[{\"result\":[]}]}]", path,
             sizeof path);
  CHECK(bm_review_import(q, path, &a, &log, &err) == -1);
  CHECK(strstr(err.msg, "img_nowhere") && strstr(err.msg, "bad-id.json"));
  write_text(dir, "bad-class.json",
             "[{\"data\":{\"bm_id\":\"img_c\"},\"annotations\":[{\"result\":[{\"id\":\"a\","
             "\"type\":\"rectanglelabels\",\"value\":{\"x\":1,\"y\":1,\"width\":1,\"height\":1,"
             "\"rectanglelabels\":[\"unicorn\"]}}]}]}]",
             path, sizeof path);
  CHECK(bm_review_import(q, path, &a, &log, &err) == -1);
  CHECK(strstr(err.msg, "unicorn") && strstr(err.msg, "img_c"));
  write_text(dir, "no-bm-id.json", "[{\"data\":{\"image\":\"x.jpg\"},\"annotations\":[]}]", path,
             sizeof path);
  CHECK(bm_review_import(q, path, &a, &log, &err) == -1);
  CHECK(strstr(err.msg, "bm_id") != NULL);
  write_text(dir, "twice.json",
             "[{\"data\":{\"bm_id\":\"img_c\"},\"annotations\":[{\"result\":[]}]},"
             "{\"data\":{\"bm_id\":\"img_c\"},\"annotations\":[{\"result\":[]}]}]",
             path, sizeof path);
  CHECK(bm_review_import(q, path, &a, &log, &err) == -1);
  CHECK(strstr(err.msg, "twice") != NULL);
  write_text(dir, "bad-image.xml",
             "<annotations><version>1.1</version><image id=\"0\" name=\"zz.jpg\" width=\"1\" "
             "height=\"1\"/></annotations>",
             path, sizeof path);
  CHECK(bm_review_import(q, path, &a, &log, &err) == -1);
  CHECK(strstr(err.msg, "zz.jpg") != NULL);
  /* an external entity is never loaded: the label stays unresolved and is no known class */
  char secret[512];
  write_text(dir, "secret.txt", "cat", secret, sizeof secret);
  char xml[2048];
  snprintf(xml, sizeof xml,
           "<?xml version=\"1.0\"?>\n<!DOCTYPE annotations [<!ENTITY x SYSTEM \"file://%s\">]>\n"
           "<annotations><image id=\"0\" name=\"img_c.png\" width=\"100\" height=\"100\">"
           "<box label=\"&x;\" xtl=\"1\" ytl=\"1\" xbr=\"5\" ybr=\"5\"/></image></annotations>",
           secret);
  write_text(dir, "xxe.xml", xml, path, sizeof path);
  int status = bm_review_import(q, path, &a, &log, &err);
  if (status == 0) {
    /* accepted only if the entity was not expanded into the class "cat" */
    const bm_review_answer *ic = answer_of(&a, "img_c");
    CHECK(!(ic && ic->n_verdicts == 1 && ic->verdicts[0].class_id == 0));
    bm_review_answers_free(&a);
  }
  CHECK(status == -1);
}

static void test_manifest_and_merge(const bm_review_queue *q, const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/export/manifest.json", dir);
  bm_review_queue back;
  bm_error err;
  CHECK_MSG(bm_review_manifest_load(path, &back, &err) == 0, "%s", err.msg);
  CHECK(back.round == 2 && back.n_images == 3 && back.n_classes == 3);
  CHECK(!strcmp(back.model_version, "round-2"));
  for (int i = 0; i < q->n_images && i < back.n_images; i++) {
    CHECK(!strcmp(q->images[i].id, back.images[i].id));
    CHECK(!strcmp(q->images[i].file, back.images[i].file));
    CHECK(q->images[i].index == back.images[i].index);
    CHECK(q->images[i].n_boxes == back.images[i].n_boxes);
    for (int b = 0; b < q->images[i].n_boxes && b < back.images[i].n_boxes; b++)
      CHECK(!memcmp(&q->images[i].boxes[b], &back.images[i].boxes[b], sizeof(bm_review_box)));
  }
  bm_review_queue_free(&back);

  /* merge: a later import replaces an image's answer and keeps the others */
  bm_review_returned r = {1, 5, 5, 100, 100, 0, 0, BM_REVIEW_ORIGIN_PREDICTION};
  bm_review_answers older = {0}, newer = {0};
  bm_review_answer ans;
  CHECK(bm_review_match(&q->images[1], NULL, 0, &ans, &err) == 0); /* img_b: all deleted */
  CHECK(ans.counts[BM_REVIEW_DELETED] == 1);
  CHECK(bm_review_answers_merge(&older, &(bm_review_answers){1, 1, &ans}, &err) == 0);
  bm_free(ans.id);
  bm_free(ans.verdicts);
  CHECK(bm_review_match(&q->images[1], &r, 1, &ans, &err) == 0);
  CHECK(bm_review_answers_merge(&newer, &(bm_review_answers){1, 1, &ans}, &err) == 0);
  bm_free(ans.id);
  bm_free(ans.verdicts);
  CHECK(bm_review_match(&q->images[2], NULL, 0, &ans, &err) == 0);
  CHECK(bm_review_answers_merge(&older, &(bm_review_answers){1, 1, &ans}, &err) == 0);
  bm_free(ans.id);
  bm_free(ans.verdicts);
  CHECK(bm_review_answers_merge(&older, &newer, &err) == 0);
  CHECK(older.n == 2);
  const bm_review_answer *ib = answer_of(&older, "img_b");
  CHECK(ib && ib->counts[BM_REVIEW_ACCEPTED] == 1 && ib->counts[BM_REVIEW_DELETED] == 0);
  bm_review_answers_free(&older);
  bm_review_answers_free(&newer);
}

int main(void) {
  char dir[512], exp[600];
  bm_error err;
  bm_review_queue q;
  make_queue(&q);
  CHECK(bm_test_tmpdir(dir, sizeof dir) != NULL);
  snprintf(exp, sizeof exp, "%s/export", dir);
  CHECK_MSG(bm_review_export_dir(&q, NULL, exp, &err) == 0, "%s", err.msg);
  const char *files[] = {"manifest.json", "label-studio-tasks.json", "label-studio-config.xml",
                         "cvat-annotations.xml", "cvat-labels.json", "voc/img_a.xml",
                         "voc/img_c.xml"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", exp, files[i]);
    CHECK_MSG(bm_file_exists(path), "%s", path);
  }
  test_label_studio_tasks(&q);
  test_label_studio_round_trip(&q, dir);
  test_label_studio_no_origin(&q, dir);
  test_cvat_round_trip(&q, dir);
  test_voc_round_trip(&q, dir);
  test_errors(&q, dir);
  test_manifest_and_merge(&q, dir);
  test_requeue_front();
  bm_review_queue_free(&q);
  return bm_test_finish("test_review");
}
