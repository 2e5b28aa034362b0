/* Anchor fitting: k-means of box shapes under the distance 1 - IoU (bm_anchors.h). */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_anchors.h"

double bm_shape_iou(float aw, float ah, float bw, float bh) {
  if (!(aw > 0 && ah > 0 && bw > 0 && bh > 0)) return 0;
  double inter = (double)(aw < bw ? aw : bw) * (double)(ah < bh ? ah : bh);
  return inter / ((double)aw * ah + (double)bw * bh - inter);
}

/* Index of the anchor with the highest shape IoU (first on ties), its IoU in *best_iou. */
static int nearest_anchor(float w, float h, const float *anchors, int k, double *best_iou) {
  int best = 0;
  double best_value = -1;
  for (int j = 0; j < k; j++) {
    double iou = bm_shape_iou(w, h, anchors[2 * j], anchors[2 * j + 1]);
    if (iou > best_value) best_value = iou, best = j;
  }
  if (best_iou) *best_iou = best_value;
  return best;
}

double bm_anchors_mean_iou(const float *wh, int n, const float *anchors, int k) {
  if (n <= 0 || k <= 0) return 0;
  double sum = 0;
  for (int i = 0; i < n; i++) {
    double iou;
    nearest_anchor(wh[2 * i], wh[2 * i + 1], anchors, k, &iou);
    sum += iou;
  }
  return sum / n;
}

/* k-means++ seeding: the first centre is a uniformly drawn shape, each next one a shape
 * drawn with probability proportional to its squared distance (1 - IoU) to the nearest
 * centre so far. dist[n] is scratch. */
static void seed_centres(const float *wh, int n, int k, bm_rng *rng, float *centres,
                         double *dist) {
  int first = (int)bm_rng_below(rng, (uint32_t)n);
  centres[0] = wh[2 * first], centres[1] = wh[2 * first + 1];
  for (int j = 1; j < k; j++) {
    double total = 0;
    for (int i = 0; i < n; i++) {
      double iou;
      nearest_anchor(wh[2 * i], wh[2 * i + 1], centres, j, &iou);
      dist[i] = (1 - iou) * (1 - iou);
      total += dist[i];
    }
    int pick = n - 1;
    if (total > 0) {
      double target = bm_rng_uniform(rng) * total, run = 0;
      for (int i = 0; i < n; i++) {
        run += dist[i];
        if (run > target && dist[i] > 0) {
          pick = i;
          break;
        }
      }
    } else {
      pick = (int)bm_rng_below(rng, (uint32_t)n); /* every shape already is a centre */
    }
    centres[2 * j] = wh[2 * pick], centres[2 * j + 1] = wh[2 * pick + 1];
  }
}

/* Lloyd iterations from the seeded centres until no shape changes cluster (or 300 rounds).
 * assign[n], sums[3k] are scratch. */
static void lloyd(const float *wh, int n, int k, float *centres, int *assign, double *sums) {
  for (int i = 0; i < n; i++) assign[i] = -1;
  for (int round = 0; round < 300; round++) {
    int changed = 0;
    for (int i = 0; i < n; i++) {
      int j = nearest_anchor(wh[2 * i], wh[2 * i + 1], centres, k, NULL);
      if (j != assign[i]) assign[i] = j, changed = 1;
    }
    if (!changed) break;
    memset(sums, 0, 3 * (size_t)k * sizeof *sums);
    for (int i = 0; i < n; i++) {
      sums[3 * assign[i]] += wh[2 * i];
      sums[3 * assign[i] + 1] += wh[2 * i + 1];
      sums[3 * assign[i] + 2] += 1;
    }
    for (int j = 0; j < k; j++) {
      if (sums[3 * j + 2] > 0) {
        centres[2 * j] = (float)(sums[3 * j] / sums[3 * j + 2]);
        centres[2 * j + 1] = (float)(sums[3 * j + 1] / sums[3 * j + 2]);
        continue;
      }
      /* an empty cluster moves to the shape the other centres cover worst */
      int worst = 0;
      double worst_iou = 2;
      for (int i = 0; i < n; i++) {
        double iou;
        nearest_anchor(wh[2 * i], wh[2 * i + 1], centres, k, &iou);
        if (iou < worst_iou) worst_iou = iou, worst = i;
      }
      centres[2 * j] = wh[2 * worst], centres[2 * j + 1] = wh[2 * worst + 1];
    }
  }
}

static int by_area(const void *pa, const void *pb) {
  const float *a = pa, *b = pb;
  double area_a = (double)a[0] * a[1], area_b = (double)b[0] * b[1];
  if (area_a != area_b) return area_a < area_b ? -1 : 1;
  return (a[0] > b[0]) - (a[0] < b[0]);
}

int bm_anchors_kmeans(const float *wh, int n, int k, int restarts, bm_rng *rng, float *anchors,
                      bm_error *err) {
  if (k < 1 || n < k) return bm_fail(err, "anchors: %d anchors need at least as many boxes, got %d", k, n);
  if (restarts < 1) return bm_fail(err, "anchors: restarts must be at least 1, got %d", restarts);
  for (int i = 0; i < n; i++)
    if (!(wh[2 * i] > 0 && wh[2 * i + 1] > 0))
      return bm_fail(err, "anchors: box %d has size %g x %g (needs > 0)", i, wh[2 * i], wh[2 * i + 1]);
  float *centres = bm_malloc(2 * (size_t)k * sizeof *centres);
  double *dist = bm_malloc((size_t)n * sizeof *dist);
  double *sums = bm_malloc(3 * (size_t)k * sizeof *sums);
  int *assign = bm_malloc((size_t)n * sizeof *assign);
  if (!centres || !dist || !sums || !assign) {
    bm_free(centres), bm_free(dist), bm_free(sums), bm_free(assign);
    return bm_fail(err, "anchors: out of memory for %d boxes", n);
  }
  double best = -1;
  for (int r = 0; r < restarts; r++) {
    seed_centres(wh, n, k, rng, centres, dist);
    lloyd(wh, n, k, centres, assign, sums);
    double mean_iou = bm_anchors_mean_iou(wh, n, centres, k);
    if (mean_iou > best) {
      best = mean_iou;
      memcpy(anchors, centres, 2 * (size_t)k * sizeof *anchors);
    }
  }
  qsort(anchors, (size_t)k, 2 * sizeof *anchors, by_area);
  bm_free(centres), bm_free(dist), bm_free(sums), bm_free(assign);
  return 0;
}

int bm_anchor_shapes(const bm_dataset *ds, int net_w, int net_h, float **wh_out, int *n_out,
                     bm_error *err) {
  *wh_out = NULL;
  *n_out = 0;
  if (net_w <= 0 || net_h <= 0) return bm_fail(err, "anchors: bad network size %dx%d", net_w, net_h);
  float *wh = bm_malloc(2 * (size_t)(ds->n_objects > 0 ? ds->n_objects : 1) * sizeof *wh);
  if (!wh) return bm_fail(err, "anchors: out of memory for %d boxes", ds->n_objects);
  int n = 0;
  for (int im = 0; im < ds->n_images; im++) {
    const bm_image_info *info = &ds->images[im];
    if (info->width <= 0 || info->height <= 0) continue;
    double scale_x = (double)net_w / info->width, scale_y = (double)net_h / info->height;
    double scale = scale_x < scale_y ? scale_x : scale_y; /* the letterbox's */
    for (int o = info->first_object; o < info->first_object + info->n_objects; o++) {
      const bm_object *obj = &ds->objects[o];
      float w = (float)((obj->x2 - obj->x1 + 1) * scale), h = (float)((obj->y2 - obj->y1 + 1) * scale);
      if (obj->difficult || !(w > 0 && h > 0)) continue;
      wh[2 * n] = w, wh[2 * n + 1] = h;
      n++;
    }
  }
  if (n == 0) {
    bm_free(wh);
    return bm_fail(err, "anchors: the dataset has no non-difficult box with a known image size");
  }
  *wh_out = wh;
  *n_out = n;
  return 0;
}
