#!/usr/bin/python3
"""Compares boxmine detect's boxes.json with a darknet reference detections.json.

usage: darknet_reference_check.py REFERENCE.json BOXES.json LABEL
Rules (tests/cli_detect_darknet.sh): every reference (class, box) with confidence >= 0.25 has
a boxmine box of the same class whose four edges are within 1 pixel of it (on the original
image) and whose score is within 0.01; every boxmine box scoring >= 0.25 is matched that way;
a pair scoring below 0.26 may be missing on either side. Reference boxes are clipped to the
image first (darknet writes them as decoded; boxmine clips its boxes). Prints one line per image and exits
1 on any difference."""
import json
import sys

THRESH, SCORE_TOL, PIXEL_TOL = 0.25, 0.01, 1.0

ref_path, ours_path, label = sys.argv[1:4]
reference = json.load(open(ref_path))
ours = {entry["id"]: entry for entry in json.load(open(ours_path))}
failures = 0
for frame in reference:
    image = frame["filename"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if image not in ours:
        print(f"{label}: {image}: no boxmine entry")
        failures += 1
        continue
    entry = ours[image]
    w, h = entry["width"], entry["height"]
    refs = []
    for obj in frame["objects"]:
        r = obj["relative_coordinates"]
        # darknet writes boxes as decoded; boxmine clips them to the image
        box = (max(r["center_x"] - r["width"] / 2, 0) * w, max(r["center_y"] - r["height"] / 2, 0) * h,
               min(r["center_x"] + r["width"] / 2, 1) * w, min(r["center_y"] + r["height"] / 2, 1) * h)
        refs.append((obj["name"], obj["confidence"], box))
    mine = [(b["class"], b["score"], (b["x1"], b["y1"], b["x2"], b["y2"]))
            for b in entry["boxes"] if b["score"] >= THRESH - SCORE_TOL]
    used = set()
    worst_px = worst_score = 0.0
    for name, conf, box in refs:
        best, best_err = None, None
        for k, (mname, mscore, mbox) in enumerate(mine):
            if mname != name or k in used:
                continue
            err = max(abs(a - b) for a, b in zip(box, mbox))
            if best is None or err < best_err:
                best, best_err = k, err
        if best is None or best_err > PIXEL_TOL or abs(mine[best][1] - conf) > SCORE_TOL:
            if best is None and conf < THRESH + SCORE_TOL:
                continue
            got = "nothing" if best is None else f"{mine[best][1]:.4f} {tuple(round(v, 1) for v in mine[best][2])}"
            print(f"{label}: {image}: reference {name} {conf:.4f} "
                  f"{tuple(round(v, 1) for v in box)}, boxmine {got}")
            failures += 1
            continue
        used.add(best)
        worst_px = max(worst_px, best_err)
        worst_score = max(worst_score, abs(mine[best][1] - conf))
    for k, (mname, mscore, mbox) in enumerate(mine):
        if k not in used and mscore >= THRESH + SCORE_TOL:
            print(f"{label}: {image}: boxmine {mname} {mscore:.4f} has no reference box")
            failures += 1
    print(f"{label}: {image}: {len(used)} of {len(refs)} reference boxes matched, largest edge "
          f"difference {worst_px:.2f} px, largest score difference {worst_score:.4f}")
sys.exit(1 if failures else 0)
