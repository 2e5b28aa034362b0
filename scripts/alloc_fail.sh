#!/usr/bin/env bash
# Allocation-failure injection (docs/RELIABILITY.md): builds build-allocfail/ (ASan + UBSan
# and the BM_ALLOC_FAIL option: the library's allocator fails allocation number
# $BM_ALLOC_FAIL_AT), counts the allocations of a few small runs (info, train, detect, eval,
# mine on a tiny synthesised dataset), then reruns each with allocation N failing for N = 1,
# 1 + STRIDE, ... up to the count. Every run must exit 0 or 1 (1 with a "boxmine: error:"
# line), with no sanitizer report and no leak.
# usage: scripts/alloc_fail.sh [STRIDE]   (STRIDE 1 = every allocation; default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
stride=${1:-1}
cmake -S . -B build-allocfail -DCMAKE_BUILD_TYPE=Debug -DBM_SANITIZE=ON -DBM_ALLOC_FAIL=ON >/dev/null
cmake --build build-allocfail -j2 --target boxmine >/dev/null
bin=$PWD/build-allocfail/boxmine
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME=$work/cache OMP_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:exitcode=66 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=66
cat >"$work/tiny.cfg" <<'EOF'
[net]
width=32
height=32
channels=3
batch=2

[convolutional]
batch_normalize=1
filters=4
size=3
stride=2
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
anchors=8,8, 14,14, 22,24
classes=10
num=3
EOF
"$bin" synth --out "$work/data" --trainval 6 --test 2 --size 32 --seed 3 --max-objects 2 >/dev/null 2>&1
"$bin" train --data "$work/data" --cfg "$work/tiny.cfg" --out "$work/model" --epochs 1 --batch 2 \
  --threads 1 --checkpoint-minutes 0 --eval-every 0 >/dev/null 2>&1
"$bin" detect --weights "$work/model/last.ckpt" --data "$work/data" --split test --out "$work/dets" >/dev/null 2>&1

commands=(
  "info|info --data $work/data --check-images --no-cache"
  "train|train --data $work/data --cfg $work/tiny.cfg --out @OUT --epochs 1 --batch 2 --threads 1 --checkpoint-minutes 0 --eval-every 1 --val-split test"
  "detect|detect --weights $work/model/last.ckpt --data $work/data --split test --out @OUT"
  "eval|eval --dets $work/dets --data $work/data --split test"
  "mine|mine --data $work/data --cfg $work/tiny.cfg --out @OUT --init 2 --K 2 --pre-epochs 1 --batch 2 --threads 1 --max-rounds 1"
)
bad=0 total_runs=0
for entry in "${commands[@]}"; do
  name=${entry%%|*}
  cmd=${entry#*|}
  rm -rf "$work/out"
  BM_ALLOC_COUNT_FILE=$work/count $bin ${cmd//@OUT/$work/out} >/dev/null 2>"$work/err" ||
    { echo "$name: fails without injection: $(tail -2 "$work/err")"; exit 1; }
  count=$(cat "$work/count")
  runs=0 clean=0 ok=0
  for ((n = 1; n <= count; n += stride)); do
    rm -rf "$work/out"
    set +e
    BM_ALLOC_FAIL_AT=$n $bin ${cmd//@OUT/$work/out} >/dev/null 2>"$work/err"
    status=$?
    set -e
    runs=$((runs + 1))
    if [ "$status" = 0 ]; then
      ok=$((ok + 1))
    elif [ "$status" = 1 ] && grep -q "boxmine: error:" "$work/err"; then
      clean=$((clean + 1))
    else
      bad=$((bad + 1))
      echo "$name: allocation $n of $count: exit $status"
      grep -E "ERROR|SUMMARY|runtime error|error:" "$work/err" | head -5
    fi
  done
  total_runs=$((total_runs + runs))
  echo "$name: $count allocations; $runs runs (every ${stride}): $clean clean errors, $ok succeeded anyway"
done
if [ "$bad" != 0 ]; then
  echo "alloc_fail: $bad of $total_runs runs did not end cleanly"
  exit 1
fi
echo "alloc_fail: $total_runs runs, every one clean"
