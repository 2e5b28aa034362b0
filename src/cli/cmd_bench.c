/* boxmine bench: placeholder until its issue lands. */
#include "cli/cli.h"

int cmd_bench(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_error("'bench' is not implemented yet");
}
