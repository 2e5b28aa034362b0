/* boxmine: entry point and subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"synth", cmd_synth, "compose the default detection dataset from Fashion-MNIST"},
    {"info", cmd_info, "print a dataset's statistics"},
    {"convert", cmd_convert, "write a dataset as VOC XML, COCO JSON or YOLO txt"},
    {"bench", cmd_bench, "time training steps or inference of a .cfg network"},
    {"train", cmd_train, "train a detector"},
    {"detect", cmd_detect, "run a trained detector on a dataset split or on images"},
    {"eval", cmd_eval, "PASCAL VOC and COCO evaluation of detections"},
    {"anchors", cmd_anchors, "fit anchor boxes to a dataset's box shapes (k-means by IoU)"},
    {"assess", cmd_assess, "what mining would save on a labelled split with a given model"},
    {"mine", cmd_mine, "active sample mining: label a pool with the fewest human boxes"},
    {"report", cmd_report, "HTML report of one or more mining runs"},
    {"serve", cmd_serve, "the review page: people label a round in the browser"},
    {"review", cmd_review, "export a round for Label Studio/CVAT/VOC and import the answers"},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *out) {
  fprintf(out,
          "boxmine %s: active sample mining for object detection\n\n"
          "usage: boxmine COMMAND [OPTIONS]   (boxmine COMMAND --help for its options)\n\n"
          "commands:\n",
          "0.1.0");
  for (int i = 0; i < n_commands; i++) fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("boxmine 0.1.0\n");
    return 0;
  }
  for (int i = 0; i < n_commands; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "boxmine: error: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
