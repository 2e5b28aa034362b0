#!/usr/bin/python3
"""Cross-check `boxmine eval` against tests/eval_reference.py on the real BCCD data.

Reads a BCCD split's XML files directly (boxes exactly as written, as the VOC devkit and
pycocotools read them), makes jittered detections (plus false positives) with a fixed seed,
writes them as VOC devkit results files, runs `boxmine eval --json`, and prints the largest
difference between boxmine's numbers and the reference's. Exits 1 when it exceeds 1e-9.

With --via-convert the COCO reference does not build its ground truth itself: it reads the
instances JSON that `boxmine convert --format coco --boxes-as-written` writes for the split,
and the detections as a COCO results JSON (tests/cocoeval_files.py's reading, as pycocotools
would), so the check also covers convert's COCO conventions (ids, crowd, bbox, area).

Usage: /usr/bin/python3 tests/eval_crosscheck_bccd.py BOXMINE [SPLIT] [--via-convert]
(tests/cli_eval_bccd.sh runs it on trainval both ways.)
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_reference as ref  # noqa: E402

SHARED = os.environ.get("BM_SHARED_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
ROOT = os.path.join(SHARED, "data", "BCCD")
NAMES = ["Platelets", "RBC", "WBC"]  # bm_dataset_load's sorted list for BCCD
STATS = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
         "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large"]


def load_split(split):
    ids = [line.strip() for line in open(os.path.join(ROOT, "ImageSets", "Main", split + ".txt")) if line.strip()]
    images = []
    for image_id in ids:
        root = ET.parse(os.path.join(ROOT, "Annotations", image_id + ".xml")).getroot()
        objects = []
        for obj in root.findall("object"):
            box = [float(obj.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
            difficult = obj.find("difficult")
            flag = int(difficult.text) if difficult is not None and difficult.text else 0
            objects.append([NAMES.index(obj.find("name").text.strip())] + box + [flag])
        images.append({"id": image_id, "objects": objects})
    return images


def make_detections(images, rng):
    dets = []
    for i, img in enumerate(images):
        for o in img["objects"]:
            for _ in range(int(rng.integers(0, 3))):
                w, h = o[3] - o[1], o[4] - o[2]
                box = [o[1] + rng.normal() * w * 0.1, o[2] + rng.normal() * h * 0.1,
                       o[3] + rng.normal() * w * 0.1, o[4] + rng.normal() * h * 0.1]
                box = [float(np.float32(round(v, 1))) for v in box]
                box[2], box[3] = max(box[2], box[0]), max(box[3], box[1])
                c = o[0] if rng.random() < 0.9 else int(rng.integers(0, 3))
                dets.append([i, c, float(np.float32(rng.random()))] + box)
        for _ in range(3):
            x, y = int(rng.integers(1, 500)), int(rng.integers(1, 400))
            dets.append([i, int(rng.integers(0, 3)), float(np.float32(rng.random() * 0.5)),
                         float(x), float(y), float(x + rng.integers(10, 100)), float(y + rng.integers(10, 100))])
    # results files are per class: that is the list order boxmine will see
    return [d for c in range(3) for d in dets if d[1] == c]


def write_coco_results(path, images, dets):
    """COCO results JSON with the image ids of the evaluator's rule (coco_ids)."""
    ids = ref.coco_ids(images)
    with open(path, "w") as f:
        json.dump([{"image_id": ids[d[0]], "category_id": d[1] + 1,
                    "bbox": ref.to_xywh(*d[3:7]), "score": d[2]} for d in dets], f)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    via_convert = "--via-convert" in sys.argv
    binary, split = args[0], (args[1] if len(args) > 1 else "test")
    images = load_split(split)
    dets = make_detections(images, np.random.default_rng(7))
    voc = ref.voc_reference(images, dets, 3)
    with tempfile.TemporaryDirectory() as tmp:
        for c, name in enumerate(NAMES):
            with open(os.path.join(tmp, "comp4_det_%s_%s.txt" % (split, name)), "w") as f:
                for d in dets:
                    if d[1] == c:
                        f.write("%s %r %r %r %r %r\n" % (images[d[0]]["id"], d[2], *d[3:7]))
        out = os.path.join(tmp, "m.json")
        subprocess.run([binary, "eval", "--data", ROOT, "--split", split, "--dets", tmp,
                        "--no-cache", "--json", out], check=True, stdout=subprocess.DEVNULL)
        metrics = json.load(open(out))["metrics"]
        if via_convert:
            conv = os.path.join(tmp, "conv")
            subprocess.run([binary, "convert", "--data", ROOT, "--split", split, "--out", conv,
                            "--format", "coco", "--image-mode", "none", "--boxes-as-written",
                            "--no-cache"], check=True, stdout=subprocess.DEVNULL)
            results = os.path.join(tmp, "results.json")
            write_coco_results(results, images, dets)
            coco = ref.coco_files(os.path.join(conv, "coco", "instances_%s.json" % split), results)
        else:
            coco = ref.coco_reference(images, dets, 3)
    worst, where = 0.0, ""
    for key, field in (("voc07", "ap07"), ("voc12", "ap12")):
        for t, name in enumerate(("ap50", "ap75")):
            pairs = [(metrics[key][name], voc["map" + field[2:]][t], key + " m" + name)]
            pairs += [(metrics[key]["per_class"][c][name], voc["per_class"][c][field][t],
                       "%s %s %s" % (key, NAMES[c], name)) for c in range(3)]
            for got, want, label in pairs:
                if abs(got - want) > worst:
                    worst, where = abs(got - want), label
    worst_coco = 0.0
    for k, name in enumerate(STATS):
        got = metrics["coco"][name]
        got = -1.0 if got is None else got
        worst_coco = max(worst_coco, abs(got - coco["stats"][k]))
        if abs(got - coco["stats"][k]) > worst:
            worst, where = abs(got - coco["stats"][k]), "coco " + name
    print("BCCD %s%s: %d images, %d detections; max |boxmine - reference| = %.3g %s; "
          "COCO numbers alone: %.3g" % (
              split, " (COCO ground truth from boxmine convert)" if via_convert else "",
              len(images), len(dets), worst, ("(" + where + ")") if where else "", worst_coco))
    print("  VOC12 mAP50 %.6f, COCO AP %.6f, COCO AR-small %.6f" % (
        metrics["voc12"]["ap50"], metrics["coco"]["ap"], metrics["coco"]["ar_small"]))
    sys.exit(0 if worst <= 1e-9 else 1)


if __name__ == "__main__":
    main()
