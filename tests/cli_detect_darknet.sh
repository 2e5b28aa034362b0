#!/usr/bin/env bash
# boxmine detect with darknet models (cfg + .weights) against what the original darknet
# implementation detects (models/yolo-fastest/reference/*.detections.json, SOURCE.md there).
# The rules are in tests/darknet_reference_check.py: the same (class, box) pairs scoring
# >= 0.25, box edges within 1 pixel on the original image, scores within 0.01.
source "$(dirname "$0")/cli_lib.bash"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODELS=$ROOT/models/yolo-fastest
IMAGES=/usr/share/darknet/data
if [ ! -f "$IMAGES/dog.jpg" ]; then
  echo "skipped: needs the seven images of Debian's darknet package in $IMAGES (apt-get install darknet)"
  exit 0
fi
if ! command -v python3 >/dev/null; then
  echo "skipped: needs python3 to compare the JSON files"
  exit 0
fi
mkdir -p "$TMP/images"
for n in dog eagle giraffe horses kite person scream; do cp "$IMAGES/$n.jpg" "$TMP/images/"; done

for model in yolo-fastest-1.1 yolo-fastest-1.1-xl; do
  expect_status 0 "$BIN" detect --cfg "$MODELS/$model.cfg" --weights "$MODELS/$model.weights" \
    --names "$MODELS/coco.names" --images "$TMP/images" --out "$TMP/$model" --thresh 0.2 \
    --threads 2
  grep -q "on 7 images" "$TMP/out" || fail "$model: not 7 images: $(cat "$TMP/out")"
  grep -q "input stretched" "$TMP/out" || fail "$model: the input was not stretched"
  python3 "$ROOT/tests/darknet_reference_check.py" "$MODELS/reference/$model.detections.json" \
    "$TMP/$model/boxes.json" "$model" || fail "$model differs from darknet's detections"
done

# --data: a VOC folder whose classes (dog, person, horse) are not the model's 80; the comp4
# files carry the model's names, so the dataset's classes evaluate directly
V=$TMP/voc
mkdir -p "$V/JPEGImages" "$V/Annotations" "$V/ImageSets/Main"
for n in dog person; do cp "$IMAGES/$n.jpg" "$V/JPEGImages/"; done
xml() { # id width height objects...
  local id=$1 w=$2 h=$3
  shift 3
  {
    echo "<annotation><filename>$id.jpg</filename><size><width>$w</width><height>$h</height><depth>3</depth></size>"
    for o in "$@"; do
      read -r name x1 y1 x2 y2 <<<"$o"
      echo "<object><name>$name</name><difficult>0</difficult><bndbox><xmin>$x1</xmin><ymin>$y1</ymin><xmax>$x2</xmax><ymax>$y2</ymax></bndbox></object>"
    done
    echo "</annotation>"
  } >"$V/Annotations/$id.xml"
}
xml dog 768 576 "dog 124 223 320 541" "bicycle 133 127 566 425"
xml person 640 424 "person 190 98 274 379" "horse 396 137 612 343" "dog 61 263 204 346"
printf 'dog\nperson\n' >"$V/ImageSets/Main/test.txt"
expect_status 0 "$BIN" detect --cfg "$MODELS/yolo-fastest-1.1-xl.cfg" \
  --weights "$MODELS/yolo-fastest-1.1-xl.weights" --names "$MODELS/coco.names" \
  --data "$V" --split test --out "$TMP/vocdet"
for c in dog person horse; do
  [ -s "$TMP/vocdet/comp4_det_test_$c.txt" ] || fail "no detections in comp4_det_test_$c.txt"
done
[ "$(wc -l <"$TMP/vocdet/classes.txt")" = 80 ] || fail "classes.txt is not the model's 80 classes"
expect_status 0 "$BIN" eval --data "$V" --split test --dets "$TMP/vocdet" --metric voc12
grep -q "dog" "$TMP/out" || fail "eval of the model's comp4 files against the folder: $(cat "$TMP/out" "$TMP/err")"

# a checkpoint-free run on one file, and the errors a user can make
expect_status 0 "$BIN" detect --cfg "$MODELS/yolo-fastest-1.1.cfg" \
  --weights "$MODELS/yolo-fastest-1.1.weights" --images "$TMP/images/dog.jpg" --out "$TMP/one"
grep -q '"class": "16"' "$TMP/one/boxes.json" || fail "without --names classes are not numbered"
printf 'a\nb\n' >"$TMP/two.names"
expect_status 1 "$BIN" detect --cfg "$MODELS/yolo-fastest-1.1.cfg" \
  --weights "$MODELS/yolo-fastest-1.1.weights" --names "$TMP/two.names" --images "$TMP/images" --out "$TMP/x"
grep -q "80 classes but 2 names" "$TMP/err" || fail "names count: $(cat "$TMP/err")"
expect_status 1 "$BIN" detect --cfg "$MODELS/yolo-fastest-1.1.cfg" \
  --weights "$MODELS/yolo-fastest-1.1-xl.weights" --images "$TMP/images" --out "$TMP/x"
grep -q "yolo-fastest-1.1-xl.weights" "$TMP/err" || fail "wrong weights file: $(cat "$TMP/err")"
mkdir -p "$TMP/empty"
expect_status 1 "$BIN" detect --cfg "$MODELS/yolo-fastest-1.1.cfg" \
  --weights "$MODELS/yolo-fastest-1.1.weights" --images "$TMP/empty" --out "$TMP/x"
grep -q "no .jpg" "$TMP/err" || fail "empty folder: $(cat "$TMP/err")"
finish cli_detect_darknet
