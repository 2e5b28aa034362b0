#!/bin/bash
# boxmine mine on a tiny synthesised data set (40 pool / 20 test images of 64 x 64, a
# 4-layer network): usage errors, a run stopped by --max-rounds and resumed gives the same
# rounds.jsonl numbers (all but "seconds") and the same weight bytes as an uninterrupted run,
# the run folder is complete, --phase1-from starts another strategy from it, the labelled set
# loads as a VOC data set, and boxmine report reads the runs.
set -u
BIN=${BM_BINARY:?BM_BINARY not set}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_status() { # expected command...
  local want=$1
  shift
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want: $(tail -3 "$TMP/err")"
}

cat >"$TMP/tiny.cfg" <<'EOF'
[net]
width=64
height=64
channels=3
batch=8

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=32
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=45
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 16,22, 24,30
classes=10
num=3
ignore_thresh=0.5
truth_thresh=1
EOF

expect_status 0 "$BIN" mine --help
for opt in --strategy --oracle --init --init-frac --K --certain-thre --uncertain-thre --judge-iou \
  --gt-iou --sl-hi --sl-lo --al-hi --al-lo --epochs-per-round --max-rounds --budget-seconds \
  --ap-range-pre --ap-shift-pre --ap-range-asm --ap-shift-asm --ap-thre --eval-update \
  --cost-draw --cost-verify --cost-image --seed --threads --resume --lr --batch --phase1-from \
  --optimizer --nesterov --momentum --weight-decay --schedule --schedule-epochs --warmup --clip \
  --no-augment --thresh --nms --max-dets --input --deterministic --checkpoint-minutes; do
  grep -q -- "$opt" "$TMP/out" || fail "--help does not document $opt"
done
grep -q -- '--schedule NAME .*(default const)' "$TMP/out" || fail "--help: schedule default is not const"
expect_status 2 "$BIN" mine --out "$TMP/x"
grep -q -- '--data' "$TMP/err" || fail "missing --data not explained"
expect_status 2 "$BIN" mine --data "$TMP/data" --out "$TMP/x" --strategy best
expect_status 2 "$BIN" mine --data "$TMP/data" --out "$TMP/x" --K 0
expect_status 2 "$BIN" mine --data "$TMP/data" --out "$TMP/x" --frobnicate
expect_status 2 "$BIN" mine --data "$TMP/data" --out "$TMP/x" --optimizer foo
grep -q -- "--optimizer: 'foo' is not sgd, adam or adamw" "$TMP/err" || fail "--optimizer foo not explained"
expect_status 2 "$BIN" mine --data "$TMP/data" --out "$TMP/x" --lr 0
expect_status 1 "$BIN" mine --out "$TMP/nothing" --resume
grep -q 'nothing to resume' "$TMP/err" || fail "resume without a run not explained"

expect_status 0 "$BIN" synth --out "$TMP/data" --trainval 40 --test 20 --size 64 --seed 3
common=(--data "$TMP/data" --cfg "$TMP/tiny.cfg" --init 10 --K 8 --pre-epochs 2 --batch 8
  --warmup 4 --threads 1 --deterministic --seed 4)
expect_status 2 "$BIN" mine "${common[@]}" --out "$TMP/x" --init 41
expect_status 0 "$BIN" mine "${common[@]}" --out "$TMP/straight" --max-rounds 3
grep -q 'round 3: L' "$TMP/err" || fail "no progress line for round 3"
grep -q 'phase 1 epoch 2' "$TMP/err" || fail "no progress line for phase 1"
grep -q 'human effort' "$TMP/out" || fail "no summary printed"
expect_status 0 "$BIN" mine "${common[@]}" --out "$TMP/broken" --max-rounds 1
expect_status 1 "$BIN" mine "${common[@]}" --out "$TMP/broken" --max-rounds 1
grep -q 'already holds a run' "$TMP/err" || fail "an existing run was not protected"
expect_status 0 "$BIN" mine --out "$TMP/broken" --resume --max-rounds 3

strip() { sed -E 's/,"seconds":[^,}]*//' "$1"; }
[ "$(wc -l <"$TMP/straight/rounds.jsonl")" = 5 ] || fail "straight run: expected 2 phase-1 + 3 mining records"
diff <(strip "$TMP/straight/rounds.jsonl") <(strip "$TMP/broken/rounds.jsonl") >/dev/null ||
  fail "resumed rounds.jsonl differs from the uninterrupted run"
cmp -s "$TMP/straight/last.weights" "$TMP/broken/last.weights" ||
  fail "resumed weights differ from the uninterrupted run"
for f in last.ckpt best.ckpt phase1.ckpt rounds.jsonl summary.json model.cfg classes.txt \
  last.weights best.weights annotations/ImageSets/Main/labeled.txt annotations/classes.txt; do
  [ -s "$TMP/straight/$f" ] || fail "run folder lacks $f"
done
ls "$TMP/straight"/events.out.tfevents.* >/dev/null 2>&1 || fail "no TensorBoard events"
grep -q '"stop_reason":"--max-rounds 3 reached"' "$TMP/straight/summary.json" || fail "summary: stop reason"
grep -q '"seed":4' "$TMP/straight/summary.json" || fail "summary: seed"
grep -q '"command_line":"boxmine mine' "$TMP/straight/summary.json" || fail "summary: command line"
# provenance of every box in the mined annotations
xml=$(ls "$TMP/straight/annotations/Annotations" | head -1)
grep -q '<provenance>' "$TMP/straight/annotations/Annotations/$xml" || fail "no provenance in $xml"
n_listed=$(wc -l <"$TMP/straight/annotations/ImageSets/Main/labeled.txt")
n_xml=$(ls "$TMP/straight/annotations/Annotations" | wc -l)
[ "$n_listed" = "$n_xml" ] || fail "labeled.txt lists $n_listed images, $n_xml XML files"
expect_status 0 "$BIN" info --data "$TMP/straight/annotations" --split labeled
# another strategy from the same phase 1: its phase-1 records are the same
expect_status 0 "$BIN" mine "${common[@]}" --out "$TMP/random" --strategy random --max-rounds 2 \
  --phase1-from "$TMP/straight"
diff <(strip "$TMP/straight/rounds.jsonl" | head -2) <(strip "$TMP/random/rounds.jsonl" | head -2) \
  >/dev/null || fail "--phase1-from: phase-1 records differ"
expect_status 1 "$BIN" mine "${common[@]}" --out "$TMP/wrong" --seed 5 --phase1-from "$TMP/straight"
expect_status 0 "$BIN" report "$TMP/straight" "$TMP/random" --out "$TMP/report"
[ -s "$TMP/report/index.html" ] || fail "no report page"

# Ctrl-C: once the run has written a record, SIGINT saves the state and exits 130; --resume
# then continues (here with a limit already reached, so it only writes the run's files)
"$BIN" mine "${common[@]}" --out "$TMP/ctrlc" --max-rounds 100000 >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 600); do
  [ -s "$TMP/ctrlc/rounds.jsonl" ] && break
  sleep 0.1
done
kill -INT "$pid"
wait "$pid"
status=$?
[ "$status" = 130 ] || fail "Ctrl-C: exit status $status, expected 130: $(tail -2 "$TMP/err")"
grep -q 'continue with --resume' "$TMP/err" || fail "Ctrl-C: no word on how to resume"
expect_status 0 "$BIN" mine --out "$TMP/ctrlc" --resume --max-rounds 1
grep -q '"stop_reason":"--max-rounds 1 reached"' "$TMP/ctrlc/summary.json" || fail "resumed after Ctrl-C: summary"

if [ "$failures" -ne 0 ]; then
  echo "cli_mine.sh: $failures failure(s)"
  exit 1
fi
echo "cli_mine.sh: ok"
