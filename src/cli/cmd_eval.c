/* boxmine eval: placeholder until its issue lands. */
#include "cli/cli.h"

int cmd_eval(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_error("'eval' is not implemented yet");
}
