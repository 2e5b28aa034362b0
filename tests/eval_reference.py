#!/usr/bin/python3
"""Reference numbers for boxmine's VOC and COCO evaluators (run by hand, not by CTest).

pycocotools is not packaged for Debian 12, so this is an independent NumPy re-implementation
of the two reference evaluators' semantics, written array-style and independently of the C
code:
  - voc_eval as in py-faster-rcnn (pixel-inclusive IoU, argmax box, "used" flags, difficult
    ignored), with two changes the boxmine issue asks for: the ranking is a stable sort
    (np.argsort kind='mergesort'; the devkit's MATLAB sort is stable too) and the 11-point
    thresholds are the devkit's exact 0, 0.1, ..., 1 (compared as fractions). The
    np.arange(0, 1.1, 0.1) variant of py-faster-rcnn is computed too, for docs/METRICS.md.
  - COCOeval.evaluate / accumulate / summarize for iouType 'bbox', structured like
    pycocotools (per image-category evaluateImg, then accumulate over images).
VOC data go to COCO as docs/METRICS.md says: [x1-1, y1-1, x2-x1+1, y2-y1+1], area w*h,
difficult -> iscrowd 1.

Random cases are generated with a fixed seed and written with their expected numbers to
tests/golden/eval_reference.json, which tests/test_eval_reference.c reads.
Usage: /usr/bin/python3 tests/eval_reference.py [OUTPUT]
"""
import json
import re
import sys
from collections import defaultdict
from fractions import Fraction

import numpy as np

# ---------------------------------------------------------------------------------------------
# VOC (py-faster-rcnn voc_eval semantics)


def voc_eval_class(images, dets, cls, ovthresh):
    """Returns (npos, tp, fp) cumulative arrays for one class, ranking by score (stable)."""
    class_recs = {}
    npos = 0
    for img in images:
        objs = [o for o in img["objects"] if o[0] == cls]
        bbox = np.array([o[1:5] for o in objs], dtype=float).reshape(-1, 4)
        difficult = np.array([bool(o[5]) for o in objs], dtype=bool)
        npos += int(np.sum(~difficult))
        class_recs[img["id"]] = {"bbox": bbox, "difficult": difficult, "det": [False] * len(objs)}
    mine = [d for d in dets if d[1] == cls]
    image_ids = [images[d[0]]["id"] for d in mine]
    confidence = np.array([d[2] for d in mine], dtype=float)
    boxes = np.array([d[3:7] for d in mine], dtype=float).reshape(-1, 4)
    order = np.argsort(-confidence, kind="mergesort")
    boxes = boxes[order, :]
    image_ids = [image_ids[i] for i in order]
    nd = len(image_ids)
    tp = np.zeros(nd)
    fp = np.zeros(nd)
    for d in range(nd):
        rec = class_recs[image_ids[d]]
        bb = boxes[d, :]
        ovmax = -np.inf
        gt = rec["bbox"]
        if gt.size > 0:
            ixmin = np.maximum(gt[:, 0], bb[0])
            iymin = np.maximum(gt[:, 1], bb[1])
            ixmax = np.minimum(gt[:, 2], bb[2])
            iymax = np.minimum(gt[:, 3], bb[3])
            iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
            ih = np.maximum(iymax - iymin + 1.0, 0.0)
            inters = iw * ih
            uni = ((bb[2] - bb[0] + 1.0) * (bb[3] - bb[1] + 1.0) +
                   (gt[:, 2] - gt[:, 0] + 1.0) * (gt[:, 3] - gt[:, 1] + 1.0) - inters)
            overlaps = inters / uni
            ovmax = np.max(overlaps)
            jmax = int(np.argmax(overlaps))
        if ovmax > ovthresh:
            if not rec["difficult"][jmax]:
                if not rec["det"][jmax]:
                    tp[d] = 1.0
                    rec["det"][jmax] = True
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    return npos, np.cumsum(tp), np.cumsum(fp)


def voc_ap_values(npos, tp, fp):
    """(ap07 devkit thresholds, ap07 np.arange thresholds, ap12)."""
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    ap07 = 0.0
    for k in range(11):
        reached = np.array([Fraction(int(t), npos) >= Fraction(k, 10) for t in tp], dtype=bool)
        p = 0 if np.sum(reached) == 0 else np.max(prec[reached])
        ap07 = ap07 + p / 11.0
    ap07_arange = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
        ap07_arange = ap07_arange + p / 11.0
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    ap12 = np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])
    return float(ap07), float(ap07_arange), float(ap12)


def voc_reference(images, dets, n_classes):
    per_class = []
    sums = {"ap07": [0.0, 0.0], "ap12": [0.0, 0.0]}
    n_in_mean = 0
    for c in range(n_classes):
        entry = {"ap07": [], "ap12": [], "ap07_arange": []}
        for ti, thresh in enumerate((0.5, 0.75)):
            npos, tp, fp = voc_eval_class(images, dets, c, thresh)
            entry["npos"] = npos
            if npos == 0:
                entry["ap07"].append(None)
                entry["ap12"].append(None)
                entry["ap07_arange"].append(None)
                continue
            a07, a07r, a12 = voc_ap_values(npos, tp, fp)
            entry["ap07"].append(a07)
            entry["ap12"].append(a12)
            entry["ap07_arange"].append(a07r)
            sums["ap07"][ti] += a07
            sums["ap12"][ti] += a12
        if entry["npos"] > 0:
            n_in_mean += 1
        per_class.append(entry)
    mean = {k: [v / n_in_mean if n_in_mean else None for v in vals] for k, vals in sums.items()}
    return {"per_class": per_class, "map07": mean["ap07"], "map12": mean["ap12"]}


# ---------------------------------------------------------------------------------------------
# COCO (pycocotools COCOeval semantics, iouType 'bbox')

IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = [1, 10, 100]
AREA_RNG = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]


def coco_ids(images):
    ids = [img["id"] for img in images]
    numeric = all(re.fullmatch(r"[0-9_]+", i) and 1 <= len(i.replace("_", "")) <= 15 for i in ids)
    if numeric:
        numbers = [int(i.replace("_", "")) for i in ids]
        if len(set(numbers)) == len(numbers):
            return numbers
    return ids


def to_xywh(x1, y1, x2, y2):
    return [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1]


def bb_iou(dt_boxes, gt_boxes, iscrowd):
    """maskApi bbIou, one pair at a time as the C original loops."""
    out = np.zeros((len(dt_boxes), len(gt_boxes)))
    for g, G in enumerate(gt_boxes):
        ga = G[2] * G[3]
        for d, D in enumerate(dt_boxes):
            da = D[2] * D[3]
            w = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
            if w <= 0:
                continue
            h = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
            if h <= 0:
                continue
            i = w * h
            u = da if iscrowd[g] else da + ga - i
            out[d, g] = i / u
    return out


def coco_reference(images, dets, n_classes):
    ids = coco_ids(images)
    gts, dts = [], []
    for img_index, img in enumerate(images):
        for o in img["objects"]:
            box = to_xywh(*o[1:5])
            gts.append({"id": len(gts) + 1, "image_id": ids[img_index], "category_id": o[0] + 1,
                        "bbox": box, "area": box[2] * box[3], "iscrowd": int(o[5])})
    for d in dets:
        box = to_xywh(*d[3:7])
        dts.append({"id": len(dts) + 1, "image_id": ids[d[0]], "category_id": d[1] + 1,
                    "bbox": box, "area": box[2] * box[3], "score": d[2], "iscrowd": 0})
    return coco_evaluate(gts, dts, list(np.unique(ids)), list(range(1, n_classes + 1)))


def coco_files(gt_path, results_path):
    """COCOeval on files, read as pycocotools reads them: the ground truth's annotations as
    written (bbox, area, iscrowd, category_id, image_id), image and category ids from the
    ground truth; results get id = position + 1, area = w * h and iscrowd 0 (COCO.loadRes)."""
    gt = json.load(open(gt_path))
    results = json.load(open(results_path))
    gts = [dict(a) for a in gt["annotations"]]
    img_ids = [im["id"] for im in gt["images"]]
    if len(set(img_ids)) != len(img_ids) or len({type(i) for i in img_ids}) > 1:
        raise ValueError("%s: image ids repeat or mix numbers and strings" % gt_path)
    if len({a["id"] for a in gts}) != len(gts) or any(a["id"] == 0 for a in gts):
        raise ValueError("%s: annotation ids must be distinct and non-zero" % gt_path)
    known = set(img_ids)
    dts = []
    for k, r in enumerate(results):
        if r["image_id"] not in known:  # loadRes asserts this
            raise ValueError("%s: image_id %r is not in %s" % (results_path, r["image_id"], gt_path))
        box = list(r["bbox"])
        dts.append({"id": k + 1, "image_id": r["image_id"], "category_id": r["category_id"],
                    "bbox": box, "area": box[2] * box[3], "score": r["score"], "iscrowd": 0})
    cat_ids = sorted(c["id"] for c in gt["categories"])
    return coco_evaluate(gts, dts, list(np.unique(img_ids)), cat_ids)


def coco_evaluate(gts, dts, img_ids, cat_ids):
    """evaluate / accumulate / summarize on ground-truth and detection records (COCO dicts)."""
    gts_by = defaultdict(list)
    dts_by = defaultdict(list)
    for g in gts:
        g["ignore"] = g["iscrowd"]
        gts_by[g["image_id"], g["category_id"]].append(g)
    for d in dts:
        dts_by[d["image_id"], d["category_id"]].append(d)

    def compute_iou(img, cat):
        gt, dt = gts_by[img, cat], dts_by[img, cat]
        if len(gt) == 0 and len(dt) == 0:
            return []
        inds = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in inds][: MAX_DETS[-1]]
        if len(gt) == 0 or len(dt) == 0:
            return []
        return bb_iou([d["bbox"] for d in dt], [g["bbox"] for g in gt],
                      [int(g["iscrowd"]) for g in gt])

    ious = {(i, c): compute_iou(i, c) for i in img_ids for c in cat_ids}

    def evaluate_img(img, cat, area, max_det):
        gt, dt = gts_by[img, cat], dts_by[img, cat]
        if len(gt) == 0 and len(dt) == 0:
            return None
        for g in gt:
            g["_ignore"] = 1 if (g["ignore"] or g["area"] < area[0] or g["area"] > area[1]) else 0
        gtind = np.argsort([g["_ignore"] for g in gt], kind="mergesort")
        gt = [gt[i] for i in gtind]
        dtind = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in dtind[0:max_det]]
        iscrowd = [int(o["iscrowd"]) for o in gt]
        iou = ious[img, cat][:, gtind] if len(ious[img, cat]) > 0 else ious[img, cat]
        T, G, D = len(IOU_THRS), len(gt), len(dt)
        gtm = np.zeros((T, G))
        dtm = np.zeros((T, D))
        gt_ig = np.array([g["_ignore"] for g in gt])
        dt_ig = np.zeros((T, D))
        if not len(iou) == 0:
            for tind, t in enumerate(IOU_THRS):
                for dind, d in enumerate(dt):
                    best = min([t, 1 - 1e-10])
                    m = -1
                    for gind, g in enumerate(gt):
                        if gtm[tind, gind] > 0 and not iscrowd[gind]:
                            continue
                        if m > -1 and gt_ig[m] == 0 and gt_ig[gind] == 1:
                            break
                        if iou[dind, gind] < best:
                            continue
                        best = iou[dind, gind]
                        m = gind
                    if m == -1:
                        continue
                    dt_ig[tind, dind] = gt_ig[m]
                    dtm[tind, dind] = gt[m]["id"]
                    gtm[tind, m] = d["id"]
        outside = np.array([d["area"] < area[0] or d["area"] > area[1] for d in dt]).reshape((1, len(dt)))
        dt_ig = np.logical_or(dt_ig, np.logical_and(dtm == 0, np.repeat(outside, T, 0)))
        return {"dtMatches": dtm, "dtScores": [d["score"] for d in dt], "gtIgnore": gt_ig,
                "dtIgnore": dt_ig}

    evals = {(c, a, i): evaluate_img(i, c, AREA_RNG[a], MAX_DETS[-1])
             for c in cat_ids for a in range(len(AREA_RNG)) for i in img_ids}

    T, R, K, A, M = len(IOU_THRS), len(REC_THRS), len(cat_ids), len(AREA_RNG), len(MAX_DETS)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for k, cat in enumerate(cat_ids):
        for a in range(A):
            for m, max_det in enumerate(MAX_DETS):
                E = [evals[cat, a, i] for i in img_ids]
                E = [e for e in E if e is not None]
                if len(E) == 0:
                    continue
                scores = np.concatenate([e["dtScores"][0:max_det] for e in E])
                inds = np.argsort(-scores, kind="mergesort")
                dtm = np.concatenate([e["dtMatches"][:, 0:max_det] for e in E], axis=1)[:, inds]
                dt_ig = np.concatenate([e["dtIgnore"][:, 0:max_det] for e in E], axis=1)[:, inds]
                gt_ig = np.concatenate([e["gtIgnore"] for e in E])
                npig = np.count_nonzero(gt_ig == 0)
                if npig == 0:
                    continue
                tps = np.logical_and(dtm, np.logical_not(dt_ig))
                fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
                tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
                fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
                for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
                    nd = len(tp)
                    rc = tp / npig
                    pr = tp / (fp + tp + np.spacing(1))
                    q = np.zeros((R,))
                    recall[t, k, a, m] = rc[-1] if nd else 0
                    pr = pr.tolist()
                    q = q.tolist()
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    found = np.searchsorted(rc, REC_THRS, side="left")
                    try:
                        for ri, pi in enumerate(found):
                            q[ri] = pr[pi]
                    except IndexError:
                        pass
                    precision[t, :, k, a, m] = np.array(q)

    def summarize(ap, iou_thr=None, area=0, max_dets=100):
        m = MAX_DETS.index(max_dets)
        if ap:
            s = precision
            if iou_thr is not None:
                s = s[np.where(iou_thr == IOU_THRS)[0]]
            s = s[:, :, :, area, m]
        else:
            s = recall
            if iou_thr is not None:
                s = s[np.where(iou_thr == IOU_THRS)[0]]
            s = s[:, :, area, m]
        return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

    stats = [summarize(1), summarize(1, 0.5), summarize(1, 0.75), summarize(1, area=1),
             summarize(1, area=2), summarize(1, area=3), summarize(0, max_dets=1),
             summarize(0, max_dets=10), summarize(0), summarize(0, area=1), summarize(0, area=2),
             summarize(0, area=3)]
    per_class = []
    for k in range(K):
        row = []
        for t_sel in (None, 0, 5):
            s = precision[:, :, k, 0, 2] if t_sel is None else precision[t_sel, :, k, 0, 2]
            row.append(-1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1])))
        per_class.append(row)
    return {"stats": stats, "per_class": per_class}


# ---------------------------------------------------------------------------------------------
# Random cases


def make_case(rng, name, n_images, n_classes, id_style, score_levels, crowd_rate, max_size,
              flood=0, empty_classes=()):
    images = []
    dets = []
    for i in range(n_images):
        if id_style == "voc07":
            image_id = "%06d" % (3 * i + 5)
        elif id_style == "voc12":
            image_id = "20%02d_%06d" % (7 + i % 3, 11 * i + 1)
        else:
            image_id = "img_%s" % "".join(rng.choice(list("abcdefgh"), size=4))
        objects = []
        n_objects = int(rng.integers(0, 5))  # some images have no objects
        for _ in range(n_objects):
            c = int(rng.integers(0, n_classes))
            if c in empty_classes:
                continue
            w = int(rng.integers(3, max_size))
            h = int(rng.integers(3, max_size))
            x1 = int(rng.integers(1, 400))
            y1 = int(rng.integers(1, 300))
            objects.append([c, x1, y1, x1 + w, y1 + h, int(rng.random() < crowd_rate)])
        images.append({"id": image_id, "objects": objects})

    def score():
        if score_levels:
            return float(np.float32(rng.integers(1, score_levels + 1) / score_levels))
        return float(np.float32(rng.random()))

    for i, img in enumerate(images):
        for o in img["objects"]:
            for _ in range(int(rng.integers(0, 4))):  # 0: missed; 2, 3: duplicates
                w, h = o[3] - o[1], o[4] - o[2]
                jx = max(1, w // 4)
                jy = max(1, h // 4)
                box = [o[1] + int(rng.integers(-jx, jx + 1)), o[2] + int(rng.integers(-jy, jy + 1)),
                       o[3] + int(rng.integers(-jx, jx + 1)), o[4] + int(rng.integers(-jy, jy + 1))]
                if rng.random() < 0.3:  # half-pixel coordinates
                    box = [v + 0.5 for v in box]
                box[2] = max(box[2], box[0])
                box[3] = max(box[3], box[1])
                c = o[0] if rng.random() < 0.85 else int(rng.integers(0, n_classes))
                dets.append([i, c, score()] + box)
        for _ in range(int(rng.integers(0, 3))):  # false positives anywhere
            x1, y1 = int(rng.integers(1, 400)), int(rng.integers(1, 300))
            w, h = int(rng.integers(2, max_size)), int(rng.integers(2, max_size))
            dets.append([i, int(rng.integers(0, n_classes)), score(), x1, y1, x1 + w, y1 + h])
    for _ in range(flood):  # many detections on one image: exercises the 100-per-image limit
        i = 0
        x1, y1 = int(rng.integers(1, 100)), int(rng.integers(1, 100))
        w, h = int(rng.integers(20, 150)), int(rng.integers(20, 150))
        dets.append([i, 0, score(), x1, y1, x1 + w, y1 + h])
    if flood:
        images[0]["objects"].extend([[0, 10, 10, 90, 80, 0], [0, 50, 40, 160, 140, 0]])
    # shuffle detection order so ties depend on list order, not on image order
    order = rng.permutation(len(dets))
    dets = [dets[k] for k in order]
    classes = ["class%d" % c for c in range(n_classes)]
    return {"name": name, "classes": classes, "images": images, "detections": dets}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/eval_reference.json"
    rng = np.random.default_rng(20240601)
    specs = [
        dict(name="small_voc07_ids", n_images=12, n_classes=3, id_style="voc07", score_levels=0,
             crowd_rate=0.15, max_size=120, empty_classes=(2,)),
        dict(name="coarse_score_ties", n_images=15, n_classes=2, id_style="voc12", score_levels=4,
             crowd_rate=0.1, max_size=60),
        dict(name="flood_maxdets", n_images=6, n_classes=2, id_style="voc07", score_levels=0,
             crowd_rate=0.0, max_size=200, flood=140),
        dict(name="string_ids_difficult", n_images=10, n_classes=3, id_style="string",
             score_levels=10, crowd_rate=0.35, max_size=150),
        dict(name="larger_mixed_sizes", n_images=30, n_classes=4, id_style="voc07", score_levels=0,
             crowd_rate=0.1, max_size=180),
    ]
    cases = []
    for spec in specs:
        case = make_case(rng, **spec)
        n_classes = len(case["classes"])
        case["voc"] = voc_reference(case["images"], case["detections"], n_classes)
        case["coco"] = coco_reference(case["images"], case["detections"], n_classes)
        cases.append(case)
        print("%-22s images %3d dets %4d  voc12 mAP50 %.6f  coco AP %.6f" % (
            case["name"], len(case["images"]), len(case["detections"]),
            case["voc"]["map12"][0], case["coco"]["stats"][0]))
    doc = {"generator": "tests/eval_reference.py (NumPy re-implementation of voc_eval and COCOeval)",
           "cases": cases}
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
