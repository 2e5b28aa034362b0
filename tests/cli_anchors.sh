#!/bin/bash
# boxmine anchors: exit statuses, and on BCCD's trainval split (read-only) the one-anchor
# fit, whose k-means centre is simply the mean box shape: worked out here with awk from the
# XML text (inclusive VOC widths x2 - x1 + 1, times 0.5 for 640x480 into 320x240, zero-area
# boxes dropped as the loader drops them, no difficult boxes in BCCD).
set -u
source "$(dirname "$0")/cli_lib.bash"
BCCD=${BM_SHARED_DIR:?BM_SHARED_DIR not set}/data/BCCD
need_shared data/BCCD
export XDG_CACHE_HOME=$TMP/cache

"$BIN" anchors --help >"$TMP/help" 2>&1 || fail "--help exit $?"
grep -q -- "--input WxH" "$TMP/help" || fail "--help does not describe --input"
"$BIN" anchors --data "$BCCD" >/dev/null 2>&1
[ $? = 2 ] || fail "no --input should be a usage error (2)"
"$BIN" anchors --data "$BCCD" --input 320 >/dev/null 2>&1
[ $? = 2 ] || fail "--input 320 should be a usage error (2)"
"$BIN" anchors --data "$BCCD" --input 320x240 --num 0 >/dev/null 2>&1
[ $? = 2 ] || fail "--num 0 should be a usage error (2)"
"$BIN" anchors --data "$TMP/missing" --input 320x240 >/dev/null 2>&1
[ $? = 1 ] || fail "a missing dataset should fail (1)"

if [ -d "$BCCD" ]; then
  expected=$(for id in $(cat "$BCCD/ImageSets/Main/trainval.txt"); do cat "$BCCD/Annotations/$id.xml"; done |
    awk '/<xmin>/ {gsub(/[^0-9.]/, ""); x1=$0} /<ymin>/ {gsub(/[^0-9.]/, ""); y1=$0}
         /<xmax>/ {gsub(/[^0-9.]/, ""); x2=$0} /<ymax>/ {gsub(/[^0-9.]/, ""); y2=$0}
         /<\/object>/ {if (x2 + 0 > x1 + 0 && y2 + 0 > y1 + 0) {n++; w += (x2 - x1 + 1) * 0.5; h += (y2 - y1 + 1) * 0.5}}
         END {printf "%.0f,%.0f %d\n", w / n, h / n, n}')
  "$BIN" anchors --data "$BCCD" --split trainval --input 320x240 --num 1 >"$TMP/one" 2>/dev/null ||
    fail "anchors --num 1 exit $?"
  got=$(sed -n 's/^anchors=//p' "$TMP/one")
  [ "$got" = "${expected% *}" ] || fail "one anchor: got '$got', the mean shape is '${expected% *}'"
  grep -q "for ${expected#* } non-difficult boxes" "$TMP/one" || fail "box count: $(head -1 "$TMP/one")"

  "$BIN" anchors --data "$BCCD" --split trainval --input 320x240 --num 6 >"$TMP/six" 2>/dev/null ||
    fail "anchors --num 6 exit $?"
  pairs=$(sed -n 's/^anchors=//p' "$TMP/six" | tr -d ' ' | tr ',' '\n' | wc -l)
  [ "$pairs" = 12 ] || fail "6 anchors should print 12 numbers, got $pairs"
  # six anchors cover the boxes better than one
  iou1=$(sed -n 's/.*best anchor: //p' "$TMP/one")
  iou6=$(sed -n 's/.*best anchor: //p' "$TMP/six")
  awk -v a="$iou1" -v b="$iou6" 'BEGIN {exit !(b > a && b <= 1 && a > 0)}' ||
    fail "mean IoU with 6 anchors ($iou6) should beat 1 anchor ($iou1)"
fi
finish cli_anchors
