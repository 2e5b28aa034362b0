#!/bin/bash
# boxmine review on a tiny synthesised data set: export a detector's boxes for review (the
# files and the manifest), import a Label Studio export and a CVAT file back (verdict counts,
# answers.json merged, images without an answer left queued), and the errors that name an
# unknown image or a missing manifest.
set -u
source "$(dirname "$0")/cli_lib.bash"

expect_status 0 "$BIN" synth --out "$TMP/data" --trainval 3 --test 1 --size 64 --seed 5
mapfile -t ids <"$TMP/data/ImageSets/Main/trainval.txt"
[ "${#ids[@]}" = 3 ] || fail "synth wrote ${#ids[@]} trainval ids, expected 3"
a=${ids[0]} b=${ids[1]} c=${ids[2]}

# three boxes on image a (0.9, 0.5 and 0.1: the last is below --uncertain-thre), one on b
cat >"$TMP/dets.json" <<JSON
[{"image_id": "$a", "category_id": 1, "bbox": [9, 19, 20, 30], "score": 0.9},
 {"image_id": "$a", "category_id": 2, "bbox": [39, 9, 20, 20], "score": 0.5},
 {"image_id": "$a", "category_id": 2, "bbox": [1, 1, 5, 5], "score": 0.1},
 {"image_id": "$b", "category_id": 3, "bbox": [4, 4, 30, 30], "score": 0.95}]
JSON
expect_status 2 "$BIN" review export --data "$TMP/data" --split trainval --out "$TMP/r"
expect_status 0 "$BIN" review export --data "$TMP/data" --split trainval --dets "$TMP/dets.json" --no-cache \
  --out "$TMP/r" --round 4
grep -q "3 images, 3 machine boxes (of 4 detections" "$TMP/out" || fail "export summary: $(cat "$TMP/out")"
for f in manifest.json label-studio-tasks.json label-studio-config.xml cvat-annotations.xml \
  cvat-labels.json "voc/$a.xml" "voc/$c.xml"; do
  [ -s "$TMP/r/$f" ] || fail "export did not write $f"
done
grep -q "\"bm_id\":\"$a\"" "$TMP/r/label-studio-tasks.json" || fail "tasks lack data.bm_id $a"
grep -q '"model_version":"round-4"' "$TMP/r/label-studio-tasks.json" || fail "tasks lack model_version"
[ "$(grep -c '<box ' "$TMP/r/cvat-annotations.xml")" = 3 ] || fail "CVAT file should hold 3 boxes"

# Label Studio: image a keeps box 0 (untouched: the exported percentages of the box
# x 10..29, y 20..49 in a 64 x 64 image), deletes box 1 and gets a new box (20 s); b is not done
class0=$(grep -o '"classes":\["[^"]*"' "$TMP/r/manifest.json" | sed 's/.*\["//; s/"$//')
[ -n "$class0" ] || fail "no class list in the manifest"
cat >"$TMP/ls.json" <<JSON
[{"id": 1, "data": {"bm_id": "$a"}, "annotations": [{"lead_time": 20, "result": [
  {"id": "0", "type": "rectanglelabels", "origin": "prediction", "from_name": "label",
   "to_name": "image", "original_width": 64, "original_height": 64,
   "value": {"x": 15.625, "y": 31.25, "width": 29.6875, "height": 45.3125,
             "rectanglelabels": ["$class0"]}},
  {"id": "n1", "type": "rectanglelabels", "origin": "manual", "from_name": "label",
   "to_name": "image", "original_width": 64, "original_height": 64,
   "value": {"x": 50, "y": 50, "width": 10, "height": 10, "rectanglelabels": ["$class0"]}}]}]},
 {"id": 2, "data": {"bm_id": "$b"}, "annotations": []}]
JSON
expect_status 0 "$BIN" review import "$TMP/r" "$TMP/ls.json"
grep -q "1 images answered .*1 accepted, 0 adjusted, 1 deleted, 1 added; 20.0 s measured on 1 images" \
  "$TMP/out" || fail "LS import summary: $(cat "$TMP/out" "$TMP/err")"
grep -q "1 of 3 images answered, 2 still queued" "$TMP/out" || fail "LS queue summary: $(cat "$TMP/out")"
grep -q "\"verdict\":\"accepted\",\"machine\":0,\"class\":\"$class0\",\"box\":\[10,20,29,49\]" \
  "$TMP/r/answers.json" || fail "answers.json lacks image a's accepted box: $(cat "$TMP/r/answers.json")"

# CVAT: the exported file as it is, for image b only (a later job): accepted, merged
sed -n '1,/<\/meta>/p' "$TMP/r/cvat-annotations.xml" >"$TMP/cvat.xml"
sed -n "/<image [^>]*name=\"$b\./,/<\/image>/p" "$TMP/r/cvat-annotations.xml" >>"$TMP/cvat.xml"
echo "</annotations>" >>"$TMP/cvat.xml"
expect_status 0 "$BIN" review import "$TMP/r" "$TMP/cvat.xml"
grep -q "1 images answered .*(0 replace earlier answers): 1 accepted, 0 adjusted, 0 deleted, 0 added" \
  "$TMP/out" || fail "CVAT import summary: $(cat "$TMP/out" "$TMP/err")"
grep -q "2 of 3 images answered, 1 still queued" "$TMP/out" || fail "CVAT queue summary: $(cat "$TMP/out")"
grep -q "\"id\":\"$a\"" "$TMP/r/answers.json" && grep -q "\"id\":\"$b\"" "$TMP/r/answers.json" ||
  fail "answers.json lost an image: $(cat "$TMP/r/answers.json")"

# errors: an image the round does not know, a folder with nothing exported
sed "s/\"bm_id\": \"$a\"/\"bm_id\": \"no_such_image\"/" "$TMP/ls.json" >"$TMP/bad.json"
expect_status 1 "$BIN" review import "$TMP/r" "$TMP/bad.json"
grep -q "no_such_image" "$TMP/err" || fail "unknown image not named: $(cat "$TMP/err")"
mkdir -p "$TMP/empty"
expect_status 1 "$BIN" review import "$TMP/empty" "$TMP/ls.json"
grep -q "manifest.json" "$TMP/err" || fail "missing manifest not explained: $(cat "$TMP/err")"
finish cli_review
