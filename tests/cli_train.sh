#!/usr/bin/env bash
# boxmine train / detect end to end on a tiny synthesised dataset with a tiny network:
# usage errors, run folder contents, refusing to overwrite a run, an interrupted-and-resumed
# run equal byte for byte to an uninterrupted one, damaged checkpoints refused, detection
# output files (VOC devkit, COCO JSON, drawings) for a split and for loose images.
set -u
BM=${BM_BINARY:?BM_BINARY not set}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check "description" command...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fail=1; fi
}
status_of() { "$@" >"$T/out" 2>"$T/err"; echo $?; }

# ---- usage -----------------------------------------------------------------------------
check "train --help exits 0" test "$(status_of "$BM" train --help)" = 0
check "train --help mentions --resume" grep -q -- "--resume" "$T/out"
for opt in --batch --optimizer --nesterov --lr --momentum --weight-decay --schedule --warmup --clip \
  --no-augment --threads --thresh --nms --max-dets; do
  check "train --help documents $opt" grep -q -- "$opt" "$T/out"
done
check "train --help gives the cosine schedule as default" grep -q -- "--schedule NAME .*(default cosine)" "$T/out"
check "train without --out is a usage error" test "$(status_of "$BM" train --data "$T")" = 2
check "train with an unknown option is a usage error" test "$(status_of "$BM" train --out "$T/x" --data "$T" --bogus)" = 2
check "train --optimizer foo is a usage error" test "$(status_of "$BM" train --out "$T/x" --data "$T" --optimizer foo)" = 2
check "train --lr 0 is a usage error" test "$(status_of "$BM" train --out "$T/x" --data "$T" --lr 0)" = 2
check "the error names --lr and its range" grep -q -- "--lr: 0 is outside" "$T/err"
check "detect --help exits 0" test "$(status_of "$BM" detect --help)" = 0
check "detect without --weights is a usage error" test "$(status_of "$BM" detect --out "$T/d" --image a.jpg)" = 2
check "resume of a missing run fails" test "$(status_of "$BM" train --out "$T/nothing" --resume)" = 1

# ---- data and a tiny network -----------------------------------------------------------
"$BM" synth --out "$T/data" --trainval 24 --test 8 --size 64 --seed 3 >/dev/null 2>&1 || { echo "FAILED: synth"; exit 1; }
cat >"$T/tiny.cfg" <<'EOF'
[net]
width=64
height=64
channels=3
batch=4

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
filters=16
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=45
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=8,8, 14,14, 22,24
classes=10
num=3
ignore_thresh=0.5
EOF
TRAIN=("$BM" train --data "$T/data" --cfg "$T/tiny.cfg" --batch 4 --eval-every 1 --threads 2 --seed 5 --deterministic --checkpoint-minutes 0)

# ---- a run and its folder ---------------------------------------------------------------
check "train 3 epochs" test "$(status_of "${TRAIN[@]}" --out "$T/a" --epochs 3)" = 0
for f in last.ckpt best.ckpt last.weights best.weights model.cfg classes.txt; do
  check "run folder has $f" test -s "$T/a/$f"
done
has_events() { compgen -G "$1/events.out.tfevents.*" >/dev/null; }
check "run folder has a TensorBoard event file" has_events "$T/a"
for tag in Train/loss Train/loss_box Train/loss_obj Train/loss_cls Train/lr Accuracy/AP_50 Accuracy/AP_75; do
  check "event file has $tag" grep -q -a "$tag" "$T"/a/events.out.tfevents.*
done
check "stdout names the metric and split" grep -q "best test AP50 (VOC all-point)" "$T/out"
check "model.cfg has the dataset's 10 classes" grep -q "classes=10" "$T/a/model.cfg"
check "classes.txt lists 10 classes" test "$(wc -l <"$T/a/classes.txt")" = 10
check "a second run into the same folder is refused" test "$(status_of "${TRAIN[@]}" --out "$T/a" --epochs 3)" = 1
check "the refusal says to use --resume" grep -q -- "--resume" "$T/err"
# a run folder in use by another process (here flock(1) holds RUN/.lock) is refused
flock -o "$T/a/.lock" sleep 30 &
locker=$!
for _ in $(seq 100); do flock -n "$T/a/.lock" true || break; sleep 0.05; done
check "a resume of a folder in use is refused" test "$(status_of "$BM" train --out "$T/a" --resume)" = 1
check "the refusal says the folder is in use" grep -q "a is in use by" "$T/err"
kill $(pgrep -P "$locker") "$locker" 2>/dev/null
wait "$locker" 2>/dev/null
check "once free, the folder resumes again (it is complete: nothing to do)" test "$(status_of "$BM" train --out "$T/a" --resume)" = 0

# ---- a 3-epoch run stopped after 2 and resumed: the same bytes ----------------------------
check "train 3 epochs, stop after 2" test "$(status_of "${TRAIN[@]}" --out "$T/b" --epochs 3 --stop-after 2)" = 0
check "the stop says how to continue" grep -q -- "--resume" "$T/out"
check "resume to the end" test "$(status_of "$BM" train --out "$T/b" --resume)" = 0
check "resume says where it starts" grep -q "resuming .* at epoch 2" "$T/err"
check "resumed weights equal uninterrupted weights" cmp -s "$T/a/last.weights" "$T/b/last.weights"
check "resumed checkpoint weights equal too" cmp -s "$T/a/best.weights" "$T/b/best.weights"

# ---- early stop: any AP above 0 and a shift between 0 and 1 over 2 evaluations stops ----
check "train with early stop" test "$(status_of "${TRAIN[@]}" --out "$T/es" --epochs 10 --lr 0.05 --warmup 5 --val-split trainval --ap-range 2 --ap-shift 1 --ap-thre 0)" = 0
check "early stop is reported" grep -q "stopped early" "$T/out"
check "early stop happened before the last epoch" grep -q "^trained [2-9] epochs" "$T/out"

# ---- damaged checkpoints ----------------------------------------------------------------
cp "$T/a/last.ckpt" "$T/bad.ckpt"
size=$(stat -c %s "$T/bad.ckpt")
printf '\x55' | dd of="$T/bad.ckpt" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
check "detect refuses a damaged checkpoint" test "$(status_of "$BM" detect --weights "$T/bad.ckpt" --image "$T/data/JPEGImages/test_000001.jpg" --out "$T/d0")" = 1
check "the refusal names the file" grep -q "bad.ckpt" "$T/err"
head -c 1000 "$T/a/last.ckpt" >"$T/short.ckpt"
check "detect refuses a truncated checkpoint" test "$(status_of "$BM" detect --weights "$T/short.ckpt" --image "$T/data/JPEGImages/test_000001.jpg" --out "$T/d0")" = 1
mkdir -p "$T/c"
cp "$T/bad.ckpt" "$T/c/last.ckpt"
check "resume refuses a damaged checkpoint" test "$(status_of "$BM" train --out "$T/c" --resume)" = 1

# ---- detection ------------------------------------------------------------------------------
check "detect on the test split" test "$(status_of "$BM" detect --weights "$T/a/best.ckpt" --data "$T/data" --split test --out "$T/d" --draw --draw-thresh 0)" = 0
n_files=$(ls "$T/d"/comp4_det_test_*.txt 2>/dev/null | wc -l)
check "one VOC results file per class" test "$n_files" = 10
check "COCO results JSON parses" python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d, list)" "$T/d/detections.json"
check "a drawing per test image" test "$(ls "$T/d/draw" | wc -l)" = 8
check "VOC lines have 6 fields with ids of the split" awk 'NF != 6 || $1 !~ /^test_/ { bad = 1 } END { exit bad }' "$T"/d/comp4_det_test_*.txt
check "eval --weights runs" test "$(status_of "$BM" eval --weights "$T/a/best.ckpt" --data "$T/data" --split test --metric voc12)" = 0
grep "^mAP" "$T/out" >"$T/map_weights"
check "eval --dets of detect's files runs" test "$(status_of "$BM" eval --dets "$T/d" --data "$T/data" --split test --metric voc12)" = 0
grep "^mAP" "$T/out" >"$T/map_dets"
check "eval --weights equals detect + eval --dets" cmp -s "$T/map_weights" "$T/map_dets"
check "eval --weights with a wrong class list is refused" test "$(printf 'a\nb\n' >"$T/two.txt"; status_of "$BM" eval --weights "$T/a/best.ckpt" --data "$T/data" --split test --classes "$T/two.txt" --skip-unknown-classes)" = 1
check "detect on loose images" test "$(status_of "$BM" detect --weights "$T/a/best.ckpt" --image "$T/data/JPEGImages/test_000001.jpg" "$T/data/JPEGImages/test_000002.jpg" --out "$T/e")" = 0
check "loose images use split 'images'" test -f "$T/e/comp4_det_images_tshirt.txt"
check "detect on a missing image fails" test "$(status_of "$BM" detect --weights "$T/a/best.ckpt" --image "$T/none.jpg" --out "$T/f")" = 1

exit $fail
