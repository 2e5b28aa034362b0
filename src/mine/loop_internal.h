/* Helpers shared by the mining loop's files (src/mine/loop*.c). */
#ifndef BM_LOOP_INTERNAL_H
#define BM_LOOP_INTERNAL_H

#include "boxmine/bm_mine_loop.h"

/* A round record as a fixed list of doubles (25 record fields + E_new's AP50). */
#define LOOP_RECORD_VALUES 26
void loop_record_to_values(const bm_round_record *rec, double extra_ap50_new, double *values);
void loop_record_from_values(const double *values, int ap_metric, bm_round_record *rec,
                             double *extra_ap50_new);
/* The rounds.jsonl line of a record; "ap50_new" is added when with_new. */
void loop_record_line(const bm_round_record *rec, double ap50_new, int with_new, bm_buf *out);
/* RUN/annotations: the labelled set as a VOC folder (see loop_io.c). */
int loop_write_annotations(const char *run_dir, const bm_mine_state *st, const bm_dataset *ds,
                           bm_error *err);

#endif
