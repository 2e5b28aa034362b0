/* The review folder of a round (docs/REVIEW.md): DIR itself when it holds manifest.json, else
 * the newest DIR/review/round-R/ that holds one (a mining run). NULL when there is none (or
 * out of memory); bm_free the result. */
#ifndef BM_CLI_REVIEW_DIR_H
#define BM_CLI_REVIEW_DIR_H

#include "boxmine/bm_core.h"

char *cli_find_review_dir(const char *dir);

#endif
