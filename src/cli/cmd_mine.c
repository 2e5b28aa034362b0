/* boxmine mine: placeholder until its issue lands. */
#include "cli/cli.h"

int cmd_mine(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_error("'mine' is not implemented yet");
}
