#!/bin/bash
# boxmine eval end to end on a tiny VOC folder built here, with numbers worked out by hand.
#
# Classes (sorted names): bird, cat, dog. Split "test" = 000001, 000002, 000003.
#   000001: cat A [1,1,10,10], cat B [21,1,30,10]
#   000002: cat [1,1,10,10] difficult, dog [41,41,60,60]
#   000003: bird [50,50,70,70] difficult          -> bird has no positives
# Detections (cat only):
#   d0 000001 .9 on A -> TP;  d1 000001 .8 on A again -> FP (A used);
#   d2 000002 .8 on the difficult cat -> ignored;  d3 000003 .7 -> FP (no cat there);
#   d4 000001 .6 on B -> TP.
# VOC, cat (npos 2): ranking T F I F T: precision 1 .5 .5 1/3 .5, recall .5 .5 .5 .5 1.
#   VOC12 = .5 * 1 + .5 * .5 = .75; VOC07 = (6 * 1 + 5 * .5) / 11 = .772727...
#   dog: npos 1, no detections: 0.  Mean over cat and dog: .375 and .386364; bird left out.
# COCO, cat: the tie d1/d2 is ranked by image id (1 before 2): T F I F T, recall .5 at rank 1,
#   1 at rank 5 with precision .5: 51 recall points at 1, 50 at .5: AP = 76/101 = .752475
#   at every IoU threshold. dog 0, bird (crowd only) left out: AP = 38/101 = .376238.
set -u
BIN=${BM_BINARY:-build/boxmine}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { # description, command...
  local what=$1
  shift
  if ! "$@"; then
    echo "FAIL: $what"
    fail=1
  fi
}

D=$TMP/ds
mkdir -p "$D/Annotations" "$D/ImageSets/Main" "$D/JPEGImages"
xml() { # id, then "name x1 y1 x2 y2 difficult" per object
  local id=$1
  shift
  {
    echo "<annotation><filename>$id.jpg</filename>"
    echo "<size><width>100</width><height>100</height><depth>3</depth></size>"
    for o in "$@"; do
      set -- $o
      echo "<object><name>$1</name><difficult>$6</difficult><bndbox><xmin>$2</xmin><ymin>$3</ymin><xmax>$4</xmax><ymax>$5</ymax></bndbox></object>"
    done
    echo "</annotation>"
  } >"$D/Annotations/$id.xml"
  : >"$D/JPEGImages/$id.jpg"
}
xml 000001 "cat 1 1 10 10 0" "cat 21 1 30 10 0"
xml 000002 "cat 1 1 10 10 1" "dog 41 41 60 60 0"
xml 000003 "bird 50 50 70 70 1"
printf '000001\n000002\n000003\n' >"$D/ImageSets/Main/test.txt"
printf '000001\n' >"$D/ImageSets/Main/one.txt"

R=$TMP/results
mkdir -p "$R"
cat >"$R/comp4_det_test_cat.txt" <<'EOF'
000001 0.9 1 1 10 10
000001 0.8 1 1 10 10
000002 0.8 1 1 10 10
000003 0.7 1 1 10 10
000001 0.6 21 1 30 10
EOF
: >"$R/comp4_det_test_dog.txt"
: >"$R/comp4_det_test_bird.txt"

# help and usage errors
check "--help exits 0" "$BIN" eval --help >"$TMP/help"
check "help names --dets" grep -q -- "--dets PATH" "$TMP/help"
check "help names --metric" grep -q -- "--metric" "$TMP/help"
"$BIN" eval --data "$D" --dets "$R" --no-cache >/dev/null 2>"$TMP/err"
check "missing --split exits 2" test $? -eq 2
"$BIN" eval --data "$D" --split test --no-cache >/dev/null 2>&1
check "neither --dets nor --weights exits 2" test $? -eq 2
"$BIN" eval --data "$D" --split test --dets "$R" --metric voc2007 --no-cache >/dev/null 2>&1
check "bad --metric exits 2" test $? -eq 2
"$BIN" eval --data "$D" --split test --dets "$R" --frobnicate --no-cache >/dev/null 2>&1
check "unknown option exits 2" test $? -eq 2
"$BIN" eval --data "$D" --split test --weights x.ckpt --no-cache >/dev/null 2>"$TMP/err"
check "--weights with a missing checkpoint exits 1" test $? -eq 1
check "--weights names the missing checkpoint" grep -q "x.ckpt" "$TMP/err"

# VOC results folder: table and JSON
"$BIN" eval --data "$D" --split test --dets "$R" --no-cache --json "$TMP/m.json" >"$TMP/out" 2>"$TMP/err"
check "eval exits 0" test $? -eq 0
check "table names the split" grep -q "split 'test'" "$TMP/out"
check "cat VOC07/VOC12" grep -Eq "^cat +2 +1 +5 +77\.27 +77\.27 +75\.00 +75\.00$" "$TMP/out"
check "dog AP 0" grep -Eq "^dog +1 +0 +0 +0\.00 +0\.00 +0\.00 +0\.00$" "$TMP/out"
check "bird has no AP" grep -Eq "^bird +0 +1 +0 +- +- +- +-$" "$TMP/out"
check "mean over 2 classes" grep -Eq "^mAP \(2 classes\) +3 +2 +5 +38\.64 +38\.64 +37\.50 +37\.50$" "$TMP/out"
check "no-positive classes named" grep -q "classes with no positives (no AP, left out of the mean): bird" "$TMP/out"
check "COCO AP line" grep -q "IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.376" "$TMP/out"
check "JSON split" grep -q '"split": "test", "images": 3' "$TMP/m.json"
check "JSON voc12 mean" grep -q '"voc12": {"ap50": 0.375, "ap75": 0.375, "classes_in_mean": 2' "$TMP/m.json"
check "JSON voc07 cat" grep -q '{"name": "cat", "npos": 2, "difficult": 1, "detections": 5, "ap50": 0.772727272727272' "$TMP/m.json"
check "JSON bird null" grep -q '{"name": "bird", "npos": 0, "difficult": 1, "detections": 0, "ap50": null, "ap75": null, "in_mean": false}' "$TMP/m.json"
check "JSON coco ap" grep -q '"coco": {"ap": 0.3762376237623' "$TMP/m.json"

# The same detections as COCO results JSON give the same numbers.
cat >"$TMP/r.json" <<'EOF'
[{"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.9},
 {"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.8},
 {"image_id": 2, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.8},
 {"image_id": 3, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.7},
 {"image_id": 1, "category_id": 2, "bbox": [20, 0, 10, 10], "score": 0.6}]
EOF
"$BIN" eval --data "$D" --split test --dets "$TMP/r.json" --no-cache --metric voc12 >"$TMP/out2" 2>&1
check "COCO JSON input exits 0" test $? -eq 0
check "COCO JSON input: same VOC12" grep -Eq "^cat +2 +1 +5 +75\.00 +75\.00$" "$TMP/out2"
check "--metric voc12 hides VOC07" bash -c "! grep -q VOC07@ '$TMP/out2'"
check "--metric voc12 hides COCO" bash -c "! grep -q 'Average Precision' '$TMP/out2'"

# Detections on an image outside the split: an error, not a false positive.
mkdir -p "$TMP/r1"
cp "$R"/comp4_det_test_cat.txt "$TMP/r1/comp4_det_one_cat.txt"
"$BIN" eval --data "$D" --split one --dets "$TMP/r1" --no-cache >/dev/null 2>"$TMP/err"
check "image outside split exits 1" test $? -eq 1
check "image outside split is named" grep -q "comp4_det_one_cat.txt:3: image '000002' is not in the evaluated split" "$TMP/err"
"$BIN" eval --data "$D" --split test --dets "$TMP/r1" --no-cache >/dev/null 2>"$TMP/err"
check "no results files for the split exits 1" test $? -eq 1
check "no results files named" grep -q "comp4_det_test_<class>.txt" "$TMP/err"

# boxmine convert --format coco writes ground truth that pycocotools evaluates like boxmine
# eval: tests/cocoeval_files.py (pycocotools' COCOeval re-implemented, reading the files as
# pycocotools does) on the converted test split and r.json must give m.json's twelve numbers.
# This needs the difficult boxes as crowd (iscrowd 1) and the image ids 000001 -> 1.
PY=/usr/bin/python3
SRC=${BM_SOURCE_DIR:-.}
"$BIN" convert --data "$D" --split test --out "$TMP/conv" --format coco --image-mode none \
  --no-check-images --boxes-as-written --no-cache >/dev/null 2>"$TMP/err"
check "convert exits 0" test $? -eq 0
"$PY" "$SRC/tests/cocoeval_files.py" "$TMP/conv/coco/instances_test.json" "$TMP/r.json" >"$TMP/ref.json" 2>"$TMP/err"
check "cocoeval_files.py runs: $(cat "$TMP/err")" test $? -eq 0
check "converted ground truth: reference COCOeval = boxmine eval" "$PY" -c '
import json, sys
ref = json.load(open(sys.argv[1]))
got = json.load(open(sys.argv[2]))["metrics"]["coco"]
bad = [(k, ref[k], got[k]) for k in ref if abs(ref[k] - (-1 if got[k] is None else got[k])) > 1e-12]
print("; ".join("%s: reference %r, boxmine %r" % b for b in bad))
sys.exit(1 if bad or abs(ref["ap"] - 38 / 101) > 1e-12 else 0)' "$TMP/ref.json" "$TMP/m.json"

# --class-agnostic: every box is one class "object". A dog box on cat A (.9), a cat box on
# the dog (.8) and a cat box on cat B (.7): with classes, cat has T at .7 after F at .8
# (VOC12 = .5 * .5 = .25) and dog only an F (0); as one class all three are true positives
# of the 3 non-difficult objects (the difficult cat and bird stay difficult): AP 1.
mkdir -p "$TMP/r3"
printf '000001 0.9 1 1 10 10\n' >"$TMP/r3/comp4_det_test_dog.txt"
printf '000002 0.8 41 41 60 60\n000001 0.7 21 1 30 10\n' >"$TMP/r3/comp4_det_test_cat.txt"
: >"$TMP/r3/comp4_det_test_bird.txt"
"$BIN" eval --data "$D" --split test --dets "$TMP/r3" --no-cache --metric voc12 >"$TMP/out4" 2>&1
check "with classes: cat AP 25" grep -Eq "^cat +2 +1 +2 +25\.00 +25\.00$" "$TMP/out4"
"$BIN" eval --data "$D" --split test --dets "$TMP/r3" --no-cache --metric voc12 --class-agnostic \
  --json "$TMP/ag.json" >"$TMP/out5" 2>&1
check "class-agnostic: exits 0" test $? -eq 0
check "class-agnostic: one class, AP 100" grep -Eq "^object +3 +2 +3 +100\.00 +100\.00$" "$TMP/out5"
check "class-agnostic: said in the JSON" grep -q '"class_agnostic": true' "$TMP/ag.json"
check "help names --class-agnostic" grep -q -- "--class-agnostic" "$TMP/help"

# Ground truth is evaluated as written: a zero-area box (a single-pixel click, 1 x 1 pixel in
# VOC's inclusive rule) stays a positive, and a detection on it is a true positive (IoU 1):
# AP 100. A training load would drop the box and leave cat without positives ("-").
D2=$TMP/ds2
mkdir -p "$D2/Annotations" "$D2/ImageSets/Main" "$D2/JPEGImages"
D=$D2 # xml() writes into $D
xml 000001 "cat 5 5 5 5 0" "dog 41 41 60 60 0"
xml 000002 "cat 95 95 110 110 0"
printf '000001\n000002\n' >"$D2/ImageSets/Main/test.txt"
mkdir -p "$TMP/r2"
printf '000001 0.9 5 5 5 5\n000002 0.8 95 95 110 110\n' >"$TMP/r2/comp4_det_test_cat.txt"
printf '000001 0.9 41 41 60 60\n' >"$TMP/r2/comp4_det_test_dog.txt"
"$BIN" eval --data "$D2" --split test --dets "$TMP/r2" --no-cache --metric voc12 >"$TMP/out3" 2>"$TMP/err3"
check "as written: exits 0" test $? -eq 0
check "as written: zero-area cat is a positive matched" grep -Eq "^cat +2 +0 +2 +100\.00 +100\.00$" "$TMP/out3"
check "as written: warned, kept" grep -q "zero-area box (5,5)-(5,5) of class 'cat'; kept as written" "$TMP/err3"
check "as written: box outside the image kept" grep -q "reaches outside the 100x100 image; kept as written" "$TMP/err3"
check "as written: no dropped-boxes warning" bash -c "! grep -q 'were dropped while loading' '$TMP/err3'"

exit $fail
