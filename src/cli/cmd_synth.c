/* boxmine synth: placeholder until its issue lands. */
#include "cli/cli.h"

int cmd_synth(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_error("'synth' is not implemented yet");
}
