/* boxmine convert: placeholder until its issue lands. */
#include "cli/cli.h"

int cmd_convert(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_error("'convert' is not implemented yet");
}
