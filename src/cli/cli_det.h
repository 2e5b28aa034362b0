/* Helpers shared by the detector's subcommands (train, detect, eval --weights). */
#ifndef BM_CLI_DET_H
#define BM_CLI_DET_H

#include "boxmine/bm_det.h"

/* The default network cfg's file name, looked for next to the program (../cfg/, ../share/
 * boxmine/cfg/, then ./cfg/). */
#define CLI_DEFAULT_CFG "boxmine-tiny.cfg"

/* Reads the cfg at path, or the default cfg when path is NULL. Prints the error; returns 0
 * or -1. *text is freed with bm_free. */
int cli_find_cfg(const char *path, char **text);
/* A file shipped with boxmine (relative: "cfg/x.cfg", "models/yolo-fastest/..."): looked for
 * next to the program (../, ../share/boxmine/), in the installed data folder, in the source
 * tree it was built from, then the working folder. Writes the path found into out and
 * returns 0, or -1 (out: relative). */
int cli_find_data(const char *relative, char *out, size_t size);
/* cli_find_cfg, then (input_w > 0: --input) the network input size set to input_w x input_h.
 * Prints the error; returns 0 or -1. *text is freed with bm_free. */
int cli_load_cfg(const char *path, int input_w, int input_h, char **text);

/* Runs the detector of checkpoint `weights` (boxmine train's or mine's .ckpt) on every image
 * of ds, whose class list must be the detector's, with a progress bar: boxmine eval --weights
 * and boxmine assess. Returns 0 or -1 with the reason in err. */
int cli_detect_dataset(const char *weights, const bm_detect_opts *opts, int threads,
                       const bm_dataset *ds, bm_detections *dets, bm_log *log, bm_error *err);

#endif
