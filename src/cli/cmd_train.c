/* boxmine train: placeholder until its issue lands. */
#include "cli/cli.h"

int cmd_train(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_error("'train' is not implemented yet");
}
