#!/usr/bin/python3
"""COCOeval (iouType 'bbox') on a COCO ground-truth JSON and a COCO results JSON, as
pycocotools would run it, with the NumPy re-implementation of tests/eval_reference.py
(pycocotools is not packaged for Debian 12). Prints the twelve summarize() numbers as a JSON
object with boxmine eval's key names (-1 = no ground truth in that range).

Used by tests/cli_eval.sh and tests/eval_crosscheck_bccd.py to check that the files
`boxmine convert --format coco` writes evaluate exactly like `boxmine eval --metric coco`.
Usage: /usr/bin/python3 tests/cocoeval_files.py GT.json RESULTS.json
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_reference as ref  # noqa: E402

STATS = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
         "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large"]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cocoeval_files.py GT.json RESULTS.json")
    result = ref.coco_files(sys.argv[1], sys.argv[2])
    print(json.dumps(dict(zip(STATS, result["stats"]))))


if __name__ == "__main__":
    main()
