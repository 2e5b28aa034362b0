#!/usr/bin/env bash
# The whole story on the default data set, in about 4 minutes on 2 idle cores (3 min 51 s on a
# fresh clone, build and data included; docs/RESULTS.md):
#   install what is missing, build, synthesise the default data set (4000 trainval / 1000 test
#   images), train a detector on 800 labelled images (phase 1), mine with the default strategy
#   (topk-slscore) and with the random baseline from that same phase 1, and compare the two in
#   an HTML report.
# Settings: see "demo settings" below; docs/MINING.md explains every option. Environment: BM_DEMO_DATA (data folder,
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
# demo settings: seed 1 of the mining comparison in docs/RESULTS.md ("Active sample mining"),
# with 2 threads: 800 initial labelled images (20 % of the pool) trained for 12 epochs, then 16
# rounds of K = 200 images, one cosine schedule over the run, every round evaluated on the
# first 300 test images (all 1000 with `boxmine eval` afterwards).
head -n 300 "$data/ImageSets/Main/test.txt" >"$data/ImageSets/Main/test300.txt"
rounds=${BM_DEMO_ROUNDS:-16}
demo=(--data "$data" --test-split test300 --pre-epochs 12 --ap-range-pre 0 --K 200
  --max-rounds "$rounds" --schedule cosine --schedule-epochs 24 --warmup 100 --seed 1 --threads 2)
read -r -a extra <<<"${BM_DEMO_EXTRA:-}"
demo+=("${extra[@]}")
rm -rf "$runs"
mkdir -p "$runs"

step "4/6 phase 1 + $rounds mining rounds with the default strategy (topk-slscore, oracle trust) -> $runs/topk-slscore"
echo "(demo settings: ${demo[*]})"
$bin mine "${demo[@]}" --out "$runs/topk-slscore"
step "5/6 $rounds rounds of the random baseline from the same phase 1 -> $runs/random"
$bin mine "${demo[@]}" --strategy random --phase1-from "$runs/topk-slscore" --out "$runs/random"

step "6/6 report -> $runs/report/index.html"
$bin report "$runs/topk-slscore" "$runs/random" --out "$runs/report" --title "boxmine demo"

# A short summary from each run's summary.json (the last record's numbers).
field() { grep -o "\"$2\":[^,}]*" "$1" | tail -1 | cut -d: -f2; }
echo
echo "== demo summary after $(($(date +%s) - t0)) s (test300 = first 300 test images) =="
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
echo "The detector trains for minutes on a CPU from scratch, so AP values are modest (docs/RESULTS.md)."
echo "Full-length commands and results: docs/RESULTS.md, section \"Active sample mining\"."
