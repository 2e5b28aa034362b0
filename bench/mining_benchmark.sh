#!/usr/bin/env bash
# The mining benchmark of docs/MINING.md ("The benchmark protocol"): does mining save human
# seconds on real data? For every data set, start and seed it runs each strategy with the
# same initial labelled set, the same phase-1 model and the same training per round, then
# bench/mining_analysis.py turns the runs' rounds.jsonl into the tables of docs/RESULTS.md.
#
# usage: bench/mining_benchmark.sh OUT [options]
#   --datasets "aquarium BCCD synth"   which data sets (default: the first two)
#   --starts "xl tiny"                 xl: yolo-fastest-1.1-xl pretrained; tiny: boxmine-tiny
#                                      from scratch (default: xl)
#   --seeds "1 2 3 4 5"                seeds (default 1..5)
#   --strategies "..."                 default: full random random-verify uncertainty
#                                      asm-trust asm-verify
#   --rounds N                         mining rounds (default 10: 10 % + 10 x 5 % of the pool)
#   --epochs-per-round N               (default 3)
#   --pre-epochs N                     phase 1 at most (default 15)
#   --jobs N                           runs side by side, 1 thread each (default 2)
#   --shared DIR                       the shared folder (default ../shared)
#   --dry-run                          print the commands only
# Runs that finished (summary.json present) are skipped, so the script can be re-run after an
# interruption; a run interrupted midway is resumed with --resume.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BIN=${BM_BINARY:-$root/build/boxmine}
out=${1:?usage: bench/mining_benchmark.sh OUT [options]}
shift
datasets="aquarium BCCD" starts="xl" seeds="1 2 3 4 5"
strategies="full random random-verify uncertainty asm-trust asm-verify"
rounds=10 epochs=3 pre_epochs=15 jobs=2 shared=$root/../shared dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --datasets) datasets=$2; shift 2 ;;
    --starts) starts=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --epochs-per-round) epochs=$2; shift 2 ;;
    --pre-epochs) pre_epochs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --shared) shared=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "mining_benchmark: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$BIN" ] || { echo "mining_benchmark: build boxmine first ($BIN)" >&2; exit 1; }
mkdir -p "$out"

# data set -> "root pool-split eval-split"
data_args() {
  case "$1" in
    aquarium) echo "$shared/data/aquarium train valtest" ;;
    BCCD) echo "$shared/data/BCCD trainval test" ;;
    synth)
      # the synthetic set of docs/SYNTH.md, made once (1000 pool images, 300 test images)
      local d=$out/data/synth
      [ -f "$d/ImageSets/Main/trainval.txt" ] || [ "$dry" = 1 ] ||
        "$BIN" synth --out "$d" --trainval 1000 --test 300 --seed 1 >/dev/null
      echo "$d trainval test" ;;
    *) echo "mining_benchmark: unknown data set $1" >&2; exit 2 ;;
  esac
}

# strategy label -> mine options
strategy_args() {
  case "$1" in
    full) echo "--strategy full" ;;
    random) echo "--strategy random" ;;
    random-verify) echo "--strategy random-verify" ;;
    uncertainty) echo "--strategy uncertainty --uncertainty least" ;;
    asm-trust) echo "--strategy topk-slscore --oracle trust" ;;
    asm-verify) echo "--strategy topk-slscore --oracle verify" ;;
    *) echo "mining_benchmark: unknown strategy $1" >&2; exit 2 ;;
  esac
}

start_args() {
  case "$1" in
    xl) echo "--pretrained yolo-fastest-1.1-xl" ;;
    tiny) echo "--cfg $root/cfg/boxmine-tiny.cfg" ;;
    *) echo "mining_benchmark: unknown start $1" >&2; exit 2 ;;
  esac
}

pool_size() { # root split
  grep -c . "$1/ImageSets/Main/$2.txt"
}

# One run: the first strategy of a (data set, start, seed) trains phase 1; the others start
# from its phase1.ckpt, so all of them share the initial set and the phase-1 model.
run_one() { # dataset start seed strategy first_run
  local ds=$1 start=$2 seed=$3 strategy=$4 first=$5
  read -r droot pool eval <<<"$(data_args "$ds")"
  local n k dir=$out/runs/$ds/$start/seed-$seed/$strategy
  n=$(pool_size "$droot" "$pool")
  k=$(( (n + 10) / 20 )) # 5 % of the pool per round
  [ -f "$dir/summary.json" ] && return 0
  local cmd=("$BIN" mine --data "$droot" --split "$pool" --test-split "$eval" --out "$dir"
             --seed "$seed" --threads 1 --init-frac 0.1 --K "$k" --max-rounds "$rounds"
             --epochs-per-round "$epochs" --pre-epochs "$pre_epochs")
  # equal training: each round trains its new images plus K images of L (full, the upper
  # bound, keeps its default: all of L every round)
  [ "$strategy" = full ] || cmd+=(--train-from-labeled "$k")
  # shellcheck disable=SC2207
  cmd+=($(strategy_args "$strategy") $(start_args "$start"))
  [ "$first" = "$dir" ] || cmd+=(--phase1-from "$first")
  if [ -f "$dir/last.ckpt" ]; then cmd=("$BIN" mine --out "$dir" --resume --threads 1); fi
  if [ "$dry" = 1 ]; then echo "${cmd[*]}"; return 0; fi
  mkdir -p "$(dirname "$dir")"
  echo "$(date -u +%H:%M:%S) start $ds $start seed $seed $strategy"
  "${cmd[@]}" >"$dir.log" 2>&1 || { echo "FAILED: $ds $start seed $seed $strategy (see $dir.log)"; return 1; }
  echo "$(date -u +%H:%M:%S) done  $ds $start seed $seed $strategy"
}
export -f run_one data_args strategy_args start_args pool_size
export BIN out rounds epochs pre_epochs shared dry root

# Phase-1 runs first (one per data set, start and seed, side by side), then the rest.
first_strategy=${strategies%% *}
jobs_file=$out/jobs.txt
: >"$jobs_file"
for ds in $datasets; do for start in $starts; do for seed in $seeds; do
  echo "$ds $start $seed $first_strategy $out/runs/$ds/$start/seed-$seed/$first_strategy" >>"$jobs_file"
done; done; done
xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _ <"$jobs_file"
: >"$jobs_file"
for ds in $datasets; do for start in $starts; do for seed in $seeds; do
  for strategy in ${strategies#"$first_strategy"}; do
    echo "$ds $start $seed $strategy $out/runs/$ds/$start/seed-$seed/$first_strategy" >>"$jobs_file"
  done
done; done; done
xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _ <"$jobs_file"
[ "$dry" = 1 ] && exit 0
/usr/bin/python3 "$here/mining_analysis.py" "$out/runs" | tee "$out/analysis.md"
