/* The files a mining run leaves in its folder besides checkpoints and rounds.jsonl
 * (loop_internal.h): model.cfg and classes.txt, last/best.weights, annotations/ (the labelled
 * set as a VOC folder with each box's provenance) and summary.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxmine/bm_mine_loop.h"
#include "mine/loop_internal.h"

/* ---- the labelled set as a VOC folder ---------------------------------------------------- */
static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* dir/annotations: Annotations/<id>.xml for every image of L (and E_new), with each box's
 * provenance; ImageSets/Main/labeled.txt (and eval_new.txt); classes.txt; JPEGImages as a
 * symbolic link to the pool's image folder. */
static int write_annotations(const char *run_dir, const bm_mine_state *st, const bm_dataset *ds,
                           bm_error *err) {
  char *root = bm_path_join(run_dir, "annotations");
  char *ann_dir = root ? bm_path_join(root, "Annotations") : NULL;
  char *sets_dir = root ? bm_path_join(root, BM_VOC_SETS_DIR) : NULL;
  bm_buf list, list_eval, classes, path, extra;
  bm_buf_init(&list);
  bm_buf_init(&list_eval);
  bm_buf_init(&classes);
  bm_buf_init(&path);
  bm_buf_init(&extra);
  int rc = -1;
  const char **fragments = NULL;
  char **owned = NULL;
  if (!root || !ann_dir || !sets_dir) {
    bm_fail(err, "out of memory");
    goto done;
  }
  if (bm_mkdir_p(ann_dir, err) || bm_mkdir_p(sets_dir, err)) goto done;
  const bm_index_list *lists[2] = {&st->labeled, &st->eval_new};
  for (int l = 0; l < 2; l++)
    for (int i = 0; i < lists[l]->n; i++) {
      int image = lists[l]->items[i];
      const bm_image_info *info = &ds->images[image];
      const bm_mine_image *rec = &st->images[image];
      const bm_object *gt = ds->objects + info->first_object;
      bm_sa_box *boxes = rec->boxes;
      int n = rec->n_boxes;
      bm_sa_box *made = NULL;
      if (rec->annotation == BM_ANN_GROUND_TRUTH) { /* initial L: people's boxes, round 0 */
        if (bm_annotation_from_gt(gt, info->n_objects, 0, &made, err)) goto done;
        boxes = made;
        n = info->n_objects;
      }
      bm_object *objects = bm_malloc((size_t)(n > 0 ? n : 1) * sizeof *objects);
      fragments = bm_calloc((size_t)(n > 0 ? n : 1), sizeof *fragments);
      owned = bm_calloc((size_t)(n > 0 ? n : 1), sizeof *owned);
      if (!objects || !fragments || !owned) {
        bm_free(objects);
        bm_free(made);
        bm_fail(err, "out of memory");
        goto done;
      }
      int ok = 1;
      for (int b = 0; b < n && ok; b++) {
        objects[b] = boxes[b].object;
        extra.len = 0;
        bm_sa_box_provenance_xml(&boxes[b], &extra);
        owned[b] = extra.failed ? NULL : bm_strdup(extra.data ? extra.data : "");
        fragments[b] = owned[b];
        ok = owned[b] != NULL;
      }
      path.len = 0;
      bm_buf_printf(&path, "%s/%s.xml", ann_dir, info->id);
      if (ok && !path.failed)
        ok = bm_voc_write_xml(path.data, "boxmine-mined", base_name(info->image_path), info->width,
                              info->height, info->depth > 0 ? info->depth : 3, objects, n,
                              ds->class_names, fragments, err) == 0;
      else
        bm_fail(err, "out of memory");
      for (int b = 0; b < n; b++) bm_free(owned[b]);
      bm_free(owned);
      bm_free(fragments);
      owned = NULL;
      fragments = NULL;
      bm_free(objects);
      bm_free(made);
      if (!ok) goto done;
      bm_buf_printf(l == 0 ? &list : &list_eval, "%s\n", info->id);
    }
  for (int c = 0; c < ds->n_classes; c++) bm_buf_printf(&classes, "%s\n", ds->class_names[c]);
  if (list.failed || list_eval.failed || classes.failed) {
    bm_fail(err, "out of memory");
    goto done;
  }
  path.len = 0;
  bm_buf_printf(&path, "%s/labeled.txt", sets_dir);
  if (path.failed) {
    bm_fail(err, "out of memory");
    goto done;
  }
  if (bm_write_file_atomic(path.data, list.data ? list.data : "", list.len, err)) goto done;
  if (st->eval_new.n > 0) {
    path.len = 0;
    bm_buf_printf(&path, "%s/eval_new.txt", sets_dir);
    if (path.failed) {
      bm_fail(err, "out of memory");
      goto done;
    }
    if (bm_write_file_atomic(path.data, list_eval.data, list_eval.len, err)) goto done;
  }
  path.len = 0;
  bm_buf_printf(&path, "%s/classes.txt", root);
  if (path.failed) {
    bm_fail(err, "out of memory");
    goto done;
  }
  if (bm_write_file_atomic(path.data, classes.data ? classes.data : "", classes.len, err)) goto done;
  /* the images stay where they are: a link makes the folder a complete VOC root */
  if (ds->n_images > 0) {
    char *images_dir = bm_strdup(ds->images[0].image_path);
    char *slash = images_dir ? strrchr(images_dir, '/') : NULL;
    if (slash) {
      *slash = '\0';
      char real[4096];
      path.len = 0;
      bm_buf_printf(&path, "%s/JPEGImages", root);
      if (realpath(images_dir, real) && !path.failed) {
        unlink(path.data);
        if (symlink(real, path.data) != 0) {
          bm_free(images_dir);
          bm_fail(err, "%s: cannot link to %s: %s", path.data, real, strerror(errno));
          goto done;
        }
      }
    }
    bm_free(images_dir);
  }
  rc = 0;
done:
  bm_free(owned), bm_free(fragments); /* set when an allocation of the three failed */
  bm_buf_free(&list);
  bm_buf_free(&list_eval);
  bm_buf_free(&classes);
  bm_buf_free(&path);
  bm_buf_free(&extra);
  bm_free(root);
  bm_free(ann_dir);
  bm_free(sets_dir);
  return rc;
}

/* ---- the end of a run ------------------------------------------------------------------- */

static int write_summary(bm_loop *loop, const char *reason, bm_error *err) {
  bm_run_summary s;
  memset(&s, 0, sizeof s);
  s.strategy = bm_strategy_name(loop->opts.mine.strategy);
  s.oracle = bm_oracle_name(loop->opts.mine.oracle);
  s.seed = loop->opts.seed;
  s.command_line = loop->command_line;
  s.stop_reason = reason;
  s.rounds = loop->rounds_done;
  s.best_round = (int)loop->best.at;
  s.best_ap = loop->best.value;
  snprintf(s.ap_metric, sizeof s.ap_metric, "%s", bm_ap_metric_name(loop->opts.ap_metric));
  s.costs = loop->opts.costs;
  if (loop->n_records > 0)
    loop_record_from_values(loop->records + (size_t)(loop->n_records - 1) * LOOP_RECORD_VALUES,
                            loop->opts.ap_metric, &s.final, NULL);
  if (loop->n_records > 0) loop_record_human(loop, &s.final);
  else
    bm_round_record_init(&s.final);
  bm_buf text;
  bm_buf_init(&text);
  bm_run_summary_json(&s, &text);
  int rc = text.failed ? bm_fail(err, "out of memory")
                       : bm_run_write(loop->run, "summary.json", text.data, text.len, err);
  bm_buf_free(&text);
  return rc;
}

int loop_write_run_files(bm_loop *loop, bm_error *err) {
  return bm_detector_write_run_files(bm_trainer_detector(loop->tr), bm_run_dir(loop->run), err);
}

/* Files written when the run returns: weights, annotations, summary. */
int loop_write_outputs(bm_loop *loop, const char *reason, bm_error *err) {
  char *last_weights = bm_path_join(bm_run_dir(loop->run), "last.weights");
  int rc = last_weights ? 0 : bm_fail(err, "out of memory");
  if (rc == 0) rc = bm_detector_export_darknet(bm_trainer_detector(loop->tr), last_weights, NULL, err);
  bm_free(last_weights);
  if (rc == 0 && loop->best.at >= 0 && bm_file_exists(bm_run_best_ckpt(loop->run))) {
    bm_detector *best = NULL;
    char *best_weights = bm_path_join(bm_run_dir(loop->run), "best.weights");
    rc = best_weights ? bm_detector_load(&best, bm_run_best_ckpt(loop->run), 1, NULL, err)
                      : bm_fail(err, "out of memory");
    if (rc == 0) rc = bm_detector_export_darknet(best, best_weights, NULL, err);
    bm_detector_free(best);
    bm_free(best_weights);
  }
  if (rc == 0) rc = write_annotations(bm_run_dir(loop->run), &loop->st, loop->pool, err);
  if (rc == 0) rc = write_summary(loop, reason, err);
  return rc;
}

