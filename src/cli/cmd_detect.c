/* boxmine detect: placeholder until its issue lands. */
#include "cli/cli.h"

int cmd_detect(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_error("'detect' is not implemented yet");
}
