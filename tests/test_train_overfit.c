/* Training works end to end: a small network overfits a handful of images and then finds
 * every object on them (same class, IoU >= 0.5, confident), with AP50 near 1 on them. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_augment.h"
#include "boxmine/bm_det.h"
#include "det_fixture.h"
#include "testlib.h"

int main(void) {
  char dir[512], root[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(root, sizeof root, "%s/fixture", dir);
  CHECK(fixture_write(root, 8, 96, 96, 33) == 0);
  bm_dataset ds;
  bm_error err;
  CHECK(fixture_load(root, &ds, &err) == 0);

  bm_train_opts o = bm_train_defaults();
  o.batch = 4;
  o.threads = 2;
  o.seed = 3;
  o.optimizer = BM_OPTIM_ADAM;
  o.lr = 0.003f;
  o.weight_decay = 0;
  o.schedule = BM_LR_COSINE;
  o.schedule_epochs = 150;
  o.warmup_iters = 20;
  o.jitter = 0;
  o.hue = 0;
  o.saturation = o.exposure = 1;
  o.flip = 1;
  bm_trainer *tr;
  CHECK_MSG(bm_trainer_create(&tr, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o,
                              ds.n_images, NULL, &err) == 0, "%s", err.msg);
  bm_train_sample samples[8];
  for (int k = 0; k < 8; k++) samples[k] = (bm_train_sample){k, NULL, 0};
  bm_epoch_summary first, last;
  CHECK(bm_trainer_train_epochs(tr, &ds, samples, 8, 1, NULL, &first, &err) == 0);
  CHECK_MSG(bm_trainer_train_epochs(tr, &ds, samples, 8, 149, NULL, &last, &err) == 0, "%s", err.msg);
  printf("loss: first epoch %.3f, epoch 150 %.3f (box %.3f obj %.3f cls %.3f)\n", first.loss, last.loss,
         last.box, last.obj, last.cls);
  CHECK(last.loss < first.loss / 5);

  /* every object found by a box of its class with IoU >= 0.5 and score >= 0.5 */
  bm_detections dets = {0};
  bm_detect_opts dopt = bm_detect_defaults();
  CHECK(bm_detector_detect_dataset(bm_trainer_detector(tr), &ds, NULL, 0, &dopt, NULL, NULL, &dets, &err) == 0);
  int found = 0;
  for (int i = 0; i < ds.n_images; i++) {
    const bm_image_info *info = &ds.images[i];
    for (int k = 0; k < info->n_objects; k++) {
      const bm_object *obj = &ds.objects[info->first_object + k];
      bm_box g = bm_box_from_voc((bm_box){obj->x1, obj->y1, obj->x2, obj->y2});
      double best = 0;
      for (long d = 0; d < dets.n; d++) {
        const bm_detection *x = &dets.items[d];
        if (x->image != i || x->class_id != obj->class_id || x->score < 0.5f) continue;
        bm_box b = bm_box_from_voc((bm_box){x->x1, x->y1, x->x2, x->y2});
        double iw = fmin(b.x2, g.x2) - fmax(b.x1, g.x1), ih = fmin(b.y2, g.y2) - fmax(b.y1, g.y1);
        if (iw <= 0 || ih <= 0) continue;
        double inter = iw * ih;
        double iou = inter / ((b.x2 - b.x1) * (b.y2 - b.y1) + (g.x2 - g.x1) * (g.y2 - g.y1) - inter);
        if (iou > best) best = iou;
      }
      CHECK_MSG(best >= 0.5, "image %s object %d (class %d): best IoU %.2f", info->id, k, obj->class_id, best);
      found += best >= 0.5;
    }
  }
  printf("found %d of %d objects\n", found, ds.n_objects);
  bm_eval_summary eval;
  CHECK(bm_trainer_evaluate(tr, &ds, NULL, 0, NULL, &eval, NULL, &err) == 0);
  printf("AP50 %.3f AP75 %.3f on the training images\n", eval.ap50, eval.ap75);
  CHECK(eval.ap50 >= 0.95);
  bm_detections_free(&dets);
  bm_trainer_free(tr);
  bm_dataset_free(&ds);
  return bm_test_finish("test_train_overfit");
}
