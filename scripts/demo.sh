#!/usr/bin/env bash
# The whole story on the default data set, in about 10 minutes on 2 cores (measured: 238 s for
# steps 4-6 with the program built and the data made, on 2 cores shared with other jobs):
#   install what is missing, build, synthesise the default data set (4000 trainval / 1000 test
#   images), train a detector on 300 labelled images (phase 1), mine with the default strategy
#   (topk-slscore) and with the random baseline from that same phase 1, and compare the two in
#   an HTML report.
# The mining runs are cut short to fit the time (see "demo settings" below); docs/MINING.md and
# docs/RESULTS.md have the full-length commands. Environment: BM_DEMO_DATA (data folder,
# default data/fmnist-det), BM_DEMO_RUNS (run folder, default runs/demo), BM_DEMO_ROUNDS,
# BM_DEMO_EXTRA (more `boxmine mine` options, appended; e.g. "--init 50 --pre-epochs 1" for a
# quick check of the script itself).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { echo; echo "== demo [$(($(date +%s) - t0)) s] $* =="; }

step "1/6 installing missing Debian packages"
bash scripts/install-deps.sh
step "2/6 building build/boxmine (Release)"
bash scripts/build.sh release
bin=./build/boxmine

data=${BM_DEMO_DATA:-data/fmnist-det}
runs=${BM_DEMO_RUNS:-runs/demo}
step "3/6 the default data set in $data"
if [ ! -f "$data/ImageSets/Main/test.txt" ]; then
  $bin synth --out "$data" --seed 1
fi
$bin info --data "$data" --split trainval
# demo settings: evaluation on the first 200 test images (all 1000 with the full commands),
# 300 initial labelled images trained for 6 epochs, then 4 rounds of K = 100 images.
head -n 200 "$data/ImageSets/Main/test.txt" >"$data/ImageSets/Main/test200.txt"
rounds=${BM_DEMO_ROUNDS:-4}
demo=(--data "$data" --test-split test200 --init 300 --pre-epochs 6 --K 100 --warmup 30
  --max-rounds "$rounds" --seed 1 --threads 2)
read -r -a extra <<<"${BM_DEMO_EXTRA:-}"
demo+=("${extra[@]}")
rm -rf "$runs"
mkdir -p "$runs"

step "4/6 phase 1 + $rounds mining rounds with the default strategy (topk-slscore, oracle trust) -> $runs/topk-slscore"
echo "(demo settings, shortened to fit ~10 minutes: ${demo[*]})"
$bin mine "${demo[@]}" --out "$runs/topk-slscore"
step "5/6 $rounds rounds of the random baseline from the same phase 1 -> $runs/random"
$bin mine "${demo[@]}" --strategy random --phase1-from "$runs/topk-slscore" --out "$runs/random"

step "6/6 report -> $runs/report/index.html"
$bin report "$runs/topk-slscore" "$runs/random" --out "$runs/report" --title "boxmine demo"

# A short summary from each run's summary.json (the last record's numbers).
field() { grep -o "\"$2\":[^,}]*" "$1" | tail -1 | cut -d: -f2; }
echo
echo "== demo summary after $(($(date +%s) - t0)) s (test200 = first 200 test images) =="
printf '%-14s %12s %12s %14s %12s %12s\n' strategy "test AP50" "COCO AP" "human seconds" "boxes drawn" "verified"
for r in topk-slscore random; do
  s=$runs/$r/summary.json
  printf '%-14s %12.4f %12.4f %14.0f %12s %12s\n' "$r" "$(field "$s" ap50)" "$(field "$s" ap_coco)" \
    "$(field "$s" human_seconds)" "$(field "$s" human_draws)" "$(field "$s" human_verifies)"
done
# images the machine labelled by itself (SL side) over the rounds
machine=$(grep -o '"phase":2,[^}]*"sl_images":[0-9]*' "$runs/topk-slscore/rounds.jsonl" |
  sed 's/.*"sl_images"://' | awk '{n += $1} END {print n + 0}')
echo
echo "topk-slscore: $machine batch images were sure enough for the machine to label by itself."
if [ "$machine" = 0 ]; then
  echo "With no such image, topk-slscore sends people exactly the images random takes (both take U"
  echo "in the same seeded order), so the two runs are identical here: the detector needs far more"
  echo "training before mining pays off (docs/RESULTS.md)."
fi
echo
echo "runs:   $runs/topk-slscore, $runs/random (rounds.jsonl, summary.json, annotations/, checkpoints)"
echo "report: $runs/report/index.html"
echo "These are short demo runs: the detector is far from trained, so the AP values are low."
echo "Full-length commands and results: docs/RESULTS.md, section \"Active sample mining\"."
