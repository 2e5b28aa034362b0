#!/bin/bash
# boxmine assess: usage errors, a missing checkpoint named, and on a tiny synthesised data set
# (24 trainval images of 64 x 64) with the default network at 64 x 64 trained for one epoch:
# the printed summary and the --json numbers, which must add up (trust sides and verify sides
# each sum to the image count, SL + AL objects to the object count, drawing everything = one
# open per image + one draw per object, verify mode opens every image, seconds = the costs'
# sums). Thresholds near its scores (~0.001) make the barely trained network produce machine
# boxes.
set -u
source "$(dirname "$0")/cli_lib.bash"

expect_status 0 "$BIN" assess --help
for opt in --weights --data --split --certain-thre --uncertain-thre --judge-iou --gt-iou --sl-hi \
  --sl-lo --cost-draw --cost-verify --cost-image --threads --json; do
  grep -q -- "$opt" "$TMP/out" || fail "--help does not document $opt"
done
"$BIN" --help | grep -q '^  assess ' || fail "boxmine --help does not list assess"
expect_status 2 "$BIN" assess --data "$TMP/data"
grep -q -- '--weights' "$TMP/err" || fail "missing --weights not explained"
expect_status 2 "$BIN" assess --weights x.ckpt --data "$TMP/data" --frobnicate
expect_status 2 "$BIN" assess --weights x.ckpt --data "$TMP/data" --gt-iou 2
expect_status 2 "$BIN" assess --weights x.ckpt --data "$TMP/data" --sl-hi 0.2 --sl-lo 0.4
expect_status 1 "$BIN" assess --weights "$TMP/none.ckpt" --data "$TMP/data"
grep -q 'none.ckpt' "$TMP/err" || fail "the missing checkpoint is not named"

expect_status 0 "$BIN" synth --out "$TMP/data" --trainval 24 --test 8 --size 64 --seed 3
expect_status 0 "$BIN" train --data "$TMP/data" --input 64x64 --batch 8 --epochs 1 --threads 1 \
  --seed 2 --checkpoint-minutes 0 --out "$TMP/run"
expect_status 1 "$BIN" assess --weights "$TMP/run/last.ckpt" --data "$TMP/data" --split nosuch
expect_status 0 "$BIN" assess --weights "$TMP/run/last.ckpt" --data "$TMP/data" --threads 1 \
  --certain-thre 0.00104 --uncertain-thre 0.001 --gt-iou 0.3 --sl-hi 0.00004 --sl-lo 0.00002 \
  --cost-draw 10 --json "$TMP/a.json"
for line in "split 'trainval': 24 images" "trust mode" "verify mode" "pseudo-labelled" \
  "sent to people" "accepted machine boxes (SL)" "people draw (AL)" "draw every object" \
  "every image reviewed"; do
  grep -q "$line" "$TMP/out" || fail "the summary lacks '$line'"
done
grep -q "detect" "$TMP/err" || fail "no detection progress"
[ -s "$TMP/a.json" ] || fail "no --json file"

/usr/bin/python3 - "$TMP/a.json" <<'PY' || fail "JSON numbers do not add up"
import json, sys
a = json.load(open(sys.argv[1]))
t, v, f = a["trust"], a["verify"], a["full_cost"]
n, objs = a["images"], a["objects"]
errors = []
def need(cond, what):
    if not cond: errors.append(what)
need(n == 24, "24 images")
need(a["split"] == "trainval" and a["cost_draw"] == 10 and a["sl_hi"] == 0.00004, "settings")
need(t["certain_images"] + t["people_images"] + t["between_images"] == n, "trust sides")
need(t["certain_objects"] + t["people_objects"] + t["between_objects"] == objs, "trust objects")
need(v["certain_images"] + v["uncertain_images"] + v["between_images"] == n, "verify sides")
need(v["sl_objects"] + v["al_objects"] == objs, "SL + AL objects")
need(f["image_opens"] == n and f["draws"] == objs and f["verifies"] == 0, "full cost counts")
need(v["cost"]["image_opens"] == n and v["cost"]["draws"] == v["al_objects"], "verify counts")
need(v["cost"]["verifies"] == v["sl_objects"] + v["rejected_boxes"], "verify = SL + rejected")
need(t["people_cost"]["image_opens"] == t["people_images"], "trust opens")
need(t["people_cost"]["draws"] <= t["people_objects"], "trust draws")
need(t["pseudo_correct"] <= min(t["pseudo_labels"], t["certain_objects"]), "pseudo counts")
for c in (f, v["cost"], t["people_cost"]):
    s = 10 * c["draws"] + 1.5 * c["verifies"] + 2 * c["image_opens"]
    need(abs(c["seconds"] - s) < 1e-6, "seconds")
if t["pseudo_labels"] > 0:
    need(abs(t["pseudo_precision"] - t["pseudo_correct"] / t["pseudo_labels"]) < 1e-9, "precision")
else:
    need(t["pseudo_precision"] is None, "precision null")
for e in errors: print("JSON:", e)
sys.exit(1 if errors else 0)
PY

finish cli_assess
