#!/bin/bash
# boxmine mine --oracle human end to end on a tiny synthesised data set (40 pool images of
# 64 x 64, a 4-layer network): the run stops after detection and fusion, awaiting review, with
# the batch exported in RUN/review/round-1/; --resume with no answer keeps waiting; people
# answer 3 of the 5 images (a VOC folder and a Label Studio file: one image drawn from the
# truth, one accepted as it is, one emptied in 7.5 s); --resume applies them, charges the
# ledger from the verdicts, puts the 2 unanswered images first in the next batch, trains, and
# stops again at round 2's review.
set -u
source "$(dirname "$0")/cli_lib.bash"

sed -n '/^cat >"$TMP\/tiny.cfg"/,/^EOF$/p' "$(dirname "$0")/cli_mine.sh" >"$TMP/cfg.sh"
source "$TMP/cfg.sh"
[ -s "$TMP/tiny.cfg" ] || fail "could not take the tiny network from cli_mine.sh"
expect_status 0 "$BIN" synth --out "$TMP/data" --trainval 40 --test 20 --size 64 --seed 3
common=(--data "$TMP/data" --cfg "$TMP/tiny.cfg" --init 10 --K 5 --pre-epochs 1 --batch 8
  --warmup 4 --threads 1 --deterministic --seed 4 --strategy topk-slscore --oracle human
  --uncertain-thre 0.05 --max-rounds 3)
expect_status 2 "$BIN" mine "${common[@]}" --out "$TMP/x" --strategy random
grep -q "oracle human needs a strategy that fuses" "$TMP/err" || fail "random + human not explained"

R="$TMP/run"
expect_status 0 "$BIN" mine "${common[@]}" --out "$R"
grep -q "awaiting review: round 1's 5 images are in $R/review/round-1/" "$TMP/out" ||
  fail "no awaiting-review message: $(cat "$TMP/out") $(tail -3 "$TMP/err")"
D="$R/review/round-1"
for f in manifest.json label-studio-tasks.json cvat-annotations.xml; do
  [ -s "$D/$f" ] || fail "round 1's review folder lacks $f"
done
grep -q '"stop_reason":"awaiting review' "$R/summary.json" || fail "summary.json: stop reason"
[ "$(grep -c '"phase":2' "$R/rounds.jsonl")" = 0 ] || fail "a mining record before any review"

# resuming with nothing answered keeps waiting, and changes nothing
cp "$R/last.ckpt" "$TMP/before.ckpt"
expect_status 0 "$BIN" mine --out "$R" --resume
grep -q "none of the 5 images of round 1 is answered yet" "$TMP/out" || fail "resume without answers: $(cat "$TMP/out")"
cmp -s "$R/last.ckpt" "$TMP/before.ckpt" || fail "a resume without answers changed last.ckpt"

# people answer 3 images: ids in batch order from the manifest
mapfile -t ids < <(grep -o '{"id":"[^"]*","index"' "$D/manifest.json" | sed 's/{"id":"//; s/","index"//')
[ "${#ids[@]}" = 5 ] || fail "the manifest lists ${#ids[@]} images, not 5"
mkdir -p "$TMP/voc"
cp "$TMP/data/Annotations/${ids[0]}.xml" "$TMP/voc/"   # drawn from the truth
cp "$D/voc/${ids[1]}.xml" "$TMP/voc/"                  # accepted as the machine had it
expect_status 0 "$BIN" review import "$R" "$TMP/voc"
cat >"$TMP/ls.json" <<JSON
[{"data": {"bm_id": "${ids[2]}"}, "annotations": [{"lead_time": 7.5, "result": []}]}]
JSON
expect_status 0 "$BIN" review import "$R" "$TMP/ls.json"
grep -q "3 of 5 images answered, 2 still queued" "$TMP/out" || fail "import: $(cat "$TMP/out")"
A="$D/answers.json"
added=$(grep -o '"verdict":"added"' "$A" | wc -l)
adjusted=$(grep -o '"verdict":"adjusted"' "$A" | wc -l)
verified=$(grep -o '"verdict":"\(accepted\|deleted\)"' "$A" | wc -l)
truth=$(grep -c '<object>' "$TMP/data/Annotations/${ids[0]}.xml")
[ "$added" -ge 1 ] && [ "$((added + adjusted))" -le "$((truth + 1))" ] || fail "verdicts: $added added"

expect_status 0 "$BIN" mine --out "$R" --resume
grep -q "people answered 3 of 5 images; the others go back to the front of Q" "$TMP/err" ||
  fail "resume with answers: $(tail -5 "$TMP/err")"
grep -q "awaiting review: round 2's 5 images are in $R/review/round-2/" "$TMP/out" ||
  fail "round 2 not exported: $(cat "$TMP/out")"
rec=$(grep '"phase":2' "$R/rounds.jsonl")
[ "$(echo "$rec" | wc -l)" = 1 ] || fail "expected one mining record: $rec"
field() { echo "$rec" | grep -o "\"$1\":[^,}]*" | cut -d: -f2; }
[ "$(field human_images)" = 3 ] || fail "human_images $(field human_images), expected 3"
[ "$(field human_draws)" = "$added" ] || fail "human_draws $(field human_draws), answers add $added"
[ "$(field human_verifies)" = "$verified" ] || fail "human_verifies $(field human_verifies), answers $verified"
[ "$(field human_adjusts)" = "$adjusted" ] || fail "human_adjusts $(field human_adjusts), answers $adjusted"
[ "$(field human_measured_seconds)" = 7.5 ] || fail "measured $(field human_measured_seconds), expected 7.5"
[ "$(field human_measured_images)" = 1 ] || fail "measured images $(field human_measured_images)"
# the two unanswered images come first in round 2's batch
mapfile -t next < <(grep -o '{"id":"[^"]*","index"' "$R/review/round-2/manifest.json" | sed 's/{"id":"//; s/","index"//')
[ "${next[0]:-}" = "${ids[3]}" ] && [ "${next[1]:-}" = "${ids[4]}" ] ||
  fail "round 2 starts with ${next[0]:-} ${next[1]:-}, expected ${ids[3]} ${ids[4]}"
# the image drawn from the truth carries the people's boxes, not the machine's
expect_status 0 "$BIN" report "$R" --out "$TMP/report"
grep -q "1 images timed" "$TMP/report/index.html" || fail "the report does not show measured time"
finish cli_mine_human
