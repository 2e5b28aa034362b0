/* Private helpers shared by the files of src/review. */
#ifndef BM_REVIEW_INTERNAL_H
#define BM_REVIEW_INTERNAL_H

#include "boxmine/bm_review.h"

/* The part of path after its last '/'. */
const char *bm_review_base_name(const char *path);
/* Index of a class name in the queue, or -1. */
int bm_review_class_index(const bm_review_queue *q, const char *name);
/* [x1,y1,x2,y2] with the shortest exact floats. */
void bm_review_put_box(bm_buf *out, float x1, float y1, float x2, float y2);
int bm_review_get_box(const bm_json *object, const char *key, float *x1, float *y1,
                      float *x2, float *y2, bm_error *err);
/* Appends s with the five XML special characters escaped. */
void bm_review_put_xml(bm_buf *out, const char *s);

/* Appends (or replaces, by id) an answer, taking ownership of *ans's contents. */
int bm_review_answers_take(bm_review_answers *a, bm_review_answer *ans, bm_error *err);

#endif
