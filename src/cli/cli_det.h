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

#endif
