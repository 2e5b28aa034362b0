#!/bin/bash
# boxmine info on the real BCCD dataset (read-only, never written to) and on small fixtures.
# Expected numbers are counted here independently from the XML text with grep/awk, and
# compared with the facts in BCCD's SOURCE.md (364 images, 4888 boxes, 3 classes, splits
# train 205 / val 87 / trainval 292 / test 72, two zero-area boxes in 00338 and 00343).
set -u
BIN=${BM_BINARY:?BM_BINARY not set}
BCCD=${BM_SHARED_DIR:?BM_SHARED_DIR not set}/data/BCCD
if [ ! -d "$BM_SHARED_DIR/data/BCCD" ]; then
  echo "skipped: needs ../shared/data/BCCD (not in a lone clone)"
  exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/cache
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# value of a row "label    N" in the info table
row() { grep -E "^$2 +[0-9]" "$1" | head -1 | awk '{print $NF}'; }
class_row() { awk -v c="$2" '$1 == c {print $2, $3, $4, $5}' "$1"; }

snapshot() { (cd "$BCCD" && find . -printf '%p %s %T@ %m\n' | sort | md5sum); }
before=$(snapshot)

# ---- independent counts from the XML text -------------------------------------------
ann=$BCCD/Annotations
n_xml=$(ls "$ann"/*.xml | wc -l)
n_obj=$(cat "$ann"/*.xml | grep -c '<object>')
n_trunc=$(cat "$ann"/*.xml | grep -c '<truncated>1</truncated>')
# zero-area boxes (xmax <= xmin or ymax <= ymin), per class, with an awk reading of the tags
degenerate() { # files... -> "class count" lines
  awk '/<name>/ {gsub(/.*<name>|<\/name>.*/, ""); name=$0}
       /<xmin>/ {gsub(/[^0-9.]/, ""); x1=$0} /<ymin>/ {gsub(/[^0-9.]/, ""); y1=$0}
       /<xmax>/ {gsub(/[^0-9.]/, ""); x2=$0} /<ymax>/ {gsub(/[^0-9.]/, ""); y2=$0}
       /<\/object>/ {if (x2 + 0 <= x1 + 0 || y2 + 0 <= y1 + 0) {bad[name]++; files[FILENAME]=1}}
       END {for (c in bad) print c, bad[c]; for (f in files) print "file", f}' "$@"
}
deg=$(degenerate "$ann"/*.xml)
n_deg=$(echo "$deg" | awk '$1 != "file" {s += $2} END {print s + 0}')
[ "$n_xml" = 364 ] || fail "BCCD has $n_xml XML files, SOURCE.md says 364"
[ "$n_obj" = 4888 ] || fail "BCCD has $n_obj objects, SOURCE.md says 4888"
[ "$n_deg" = 2 ] || fail "awk found $n_deg zero-area boxes, SOURCE.md says 2"
echo "$deg" | grep -q 'BloodImage_00338.xml' || fail "00338 not among the zero-area files"
echo "$deg" | grep -q 'BloodImage_00343.xml' || fail "00343 not among the zero-area files"

# ---- the whole dataset ------------------------------------------------------------------
"$BIN" info --data "$BCCD" >"$TMP/all.txt" 2>"$TMP/all.err" || fail "info exited $?"
cat "$TMP/all.txt"
[ "$(row "$TMP/all.txt" images)" = "$n_xml" ] || fail "images"
[ "$(row "$TMP/all.txt" 'boxes in the XML files')" = "$n_obj" ] || fail "boxes in files"
[ "$(row "$TMP/all.txt" '  dropped \(zero-area etc.\)')" = "$n_deg" ] || fail "dropped"
[ "$(row "$TMP/all.txt" 'boxes kept')" = "$((n_obj - n_deg))" ] || fail "boxes kept"
[ "$(row "$TMP/all.txt" '  truncated')" = "$n_trunc" ] || fail "truncated"
[ "$(row "$TMP/all.txt" '  difficult')" = 0 ] || fail "difficult (always 0 in BCCD)"
[ "$(row "$TMP/all.txt" '  negatives \(no objects\)')" = 0 ] || fail "negatives"
grep -q '^classes  *3, ' "$TMP/all.txt" || fail "3 classes"
for cls in Platelets RBC WBC; do
  in_files=$(cat "$ann"/*.xml | grep -c "<name>$cls</name>")
  dropped=$(echo "$deg" | awk -v c="$cls" '$1 == c {print $2}')
  kept=$((in_files - ${dropped:-0}))
  imgs=$(grep -l "<name>$cls</name>" "$ann"/*.xml | wc -l)
  trunc=$(awk -v c="$cls" '/<name>/ {n = ($0 ~ "<name>" c "</name>")} n && /<truncated>1</ {t++}
          END {print t + 0}' "$ann"/*.xml)
  got=$(class_row "$TMP/all.txt" "$cls")
  [ "$got" = "$kept $imgs 0 $trunc" ] || fail "class $cls: got '$got', expected '$kept $imgs 0 $trunc'"
done
grep -q 'most common image size *640x480 (364 of 364 images)' "$TMP/all.txt" || fail "image size"
grep -q 'BloodImage_00338.xml:[0-9]*: zero-area box' "$TMP/all.err" || fail "warning for 00338"
grep -q 'BloodImage_00343.xml:[0-9]*: zero-area box' "$TMP/all.err" || fail "warning for 00343"
[ "$(grep -c warning "$TMP/all.err")" = 2 ] || fail "expected exactly 2 warnings: $(cat "$TMP/all.err")"
grep -q 'split lists (ids) *test 72, train 205, trainval 292, val 87' "$TMP/all.txt" ||
  fail "split list sizes"

# ---- each split: images from the list, boxes from the listed files ---------------------
for split in train val trainval test; do
  list=$BCCD/ImageSets/Main/$split.txt
  n_ids=$(grep -c . "$list")
  files=$(sed "s|.*|$ann/&.xml|" "$list")
  n_split_obj=$(cat $files | grep -c '<object>')
  n_split_deg=$(degenerate $files | awk '$1 != "file" {s += $2} END {print s + 0}')
  "$BIN" info --data "$BCCD" --split "$split" >"$TMP/$split.txt" 2>/dev/null || fail "split $split"
  grep -q "^split  *$split\$" "$TMP/$split.txt" || fail "$split: output does not name the split"
  [ "$(row "$TMP/$split.txt" images)" = "$n_ids" ] || fail "$split images"
  [ "$(row "$TMP/$split.txt" 'boxes in the XML files')" = "$n_split_obj" ] || fail "$split boxes"
  [ "$(row "$TMP/$split.txt" 'boxes kept')" = "$((n_split_obj - n_split_deg))" ] ||
    fail "$split boxes kept"
done
[ "$(row "$TMP/train.txt" images)" = 205 ] || fail "train 205"
[ "$(row "$TMP/val.txt" images)" = 87 ] || fail "val 87"
[ "$(row "$TMP/trainval.txt" images)" = 292 ] || fail "trainval 292"
[ "$(row "$TMP/test.txt" images)" = 72 ] || fail "test 72"

# ---- the cache: same answer the second time, read from the cache --------------------------
ls "$XDG_CACHE_HOME"/boxmine/voc-*.cache >/dev/null 2>&1 || fail "no cache written"
"$BIN" info --data "$BCCD" >"$TMP/again.txt" 2>/dev/null || fail "second run"
grep -q 'from the cache' "$TMP/again.txt" || fail "second run did not use the cache"
diff <(sed 's/ (parsed earlier.*//' "$TMP/all.txt") <(sed 's/ (parsed earlier.*//' "$TMP/again.txt") ||
  fail "cached run differs"
"$BIN" info --data "$BCCD" --no-cache --images "$BCCD/JPEGImages" --annotations "$ann" \
  >"$TMP/explicit.txt" 2>/dev/null || fail "explicit folders"
[ "$(row "$TMP/explicit.txt" 'boxes kept')" = "$((n_obj - n_deg))" ] || fail "explicit folders boxes"

# ---- usage and failures --------------------------------------------------------------------
"$BIN" info --help >/dev/null; [ $? = 0 ] || fail "--help should exit 0"
"$BIN" info --help | grep -q -- '--split' || fail "--help lacks --split"
"$BIN" info 2>/dev/null; [ $? = 2 ] || fail "no --data should exit 2"
"$BIN" info --data "$BCCD" --frobnicate 2>/dev/null; [ $? = 2 ] || fail "unknown option exit 2"
"$BIN" info --data 2>/dev/null; [ $? = 2 ] || fail "missing value exit 2"
"$BIN" info --data "$TMP/none" 2>/dev/null; [ $? = 1 ] || fail "missing folder exit 1"
"$BIN" info --data "$BCCD" --split nosuch 2>"$TMP/e.txt"; [ $? = 1 ] || fail "bad split exit 1"
grep -q 'nosuch.txt' "$TMP/e.txt" || fail "bad split message"
mkdir -p "$TMP/broken"
printf '<annotation>\n<object>\n<name>x</name>\n' >"$TMP/broken/b.xml"
"$BIN" info --data "$TMP/broken" 2>"$TMP/e.txt"; [ $? = 1 ] || fail "truncated XML exit 1"
grep -q 'b.xml:4: malformed XML' "$TMP/e.txt" || fail "truncated XML message: $(cat "$TMP/e.txt")"

[ "$(snapshot)" = "$before" ] || fail "BCCD was modified"
if [ "$failures" -ne 0 ]; then echo "cli_info: $failures failures"; exit 1; fi
echo "cli_info: ok"
