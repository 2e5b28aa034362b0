#!/usr/bin/env bash
# Before/after check of a change to the run folder code: the same small `boxmine train` and
# `boxmine mine` commands, run by two binaries, must leave the same last.ckpt.
#
# usage: bench/run_cmp.sh BASE_BINARY NEW_BINARY [WORKDIR]
#
# For each command and --threads 1 and 2 it makes, with each binary: a straight run, and a run
# interrupted by SIGINT in the middle (as Ctrl-C: the state is saved, status 130) then
# continued with --resume; and a run interrupted by BASE and resumed by NEW (an old run
# folder continued by the new binary). Every last.ckpt is compared with BASE's straight run
# by bench/ckpt_diff.py: train checkpoints must be byte-identical; a mining checkpoint also
# records wall-clock seconds and its command line, which ckpt_diff.py reports separately.
# The data set is synthesised (240 + 60 images of 64x64), the network is the 4-layer one of
# tests/cli_train.sh; the whole script takes a few minutes on 2 cores.
set -u
BASE=${1:?usage: bench/run_cmp.sh BASE_BINARY NEW_BINARY [WORKDIR]}
NEW=${2:?usage: bench/run_cmp.sh BASE_BINARY NEW_BINARY [WORKDIR]}
W=${3:-$(mktemp -d)}
HERE=$(cd "$(dirname "$0")" && pwd)
DIFF="python3 $HERE/ckpt_diff.py"
mkdir -p "$W"
BASE=$(readlink -f "$BASE")
NEW=$(readlink -f "$NEW")

# the network of tests/cli_train.sh
sed -n '/^cat >"\$T\/tiny.cfg"/,/^EOF/p' "$HERE/../tests/cli_train.sh" | sed '1d;$d' >"$W/tiny.cfg"
[ -d "$W/data" ] || "$BASE" synth --out "$W/data" --trainval 240 --test 60 --size 64 --seed 3 >/dev/null 2>&1 ||
  { echo "synth failed"; exit 2; }

train_args() { # threads
  echo train --data "$W/data" --cfg "$W/tiny.cfg" --epochs 2 --batch 8 --warmup 4 --eval-every 1 \
    --threads "$1" --seed 5 --deterministic --checkpoint-minutes 0
}
mine_args() { # threads
  echo mine --data "$W/data" --cfg "$W/tiny.cfg" --init 60 --K 40 --pre-epochs 2 --max-rounds 2 \
    --batch 8 --warmup 4 --threads "$1" --seed 4 --deterministic --checkpoint-minutes 0
}

# straight DIR BINARY ARGS...: a run from start to end in DIR/run (run from DIR, so the
# command line a mining checkpoint keeps is the same for both binaries).
straight() {
  local dir=$1 bin=$2
  shift 2
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && "$bin" "$@" --out run >out.txt 2>err.txt) || echo "  ($dir: status $?)"
}

# interrupt DIR BINARY WAIT_FOR ARGS...: starts the run, sends SIGINT as soon as WAIT_FOR
# (a file of the run folder) exists and is not empty, waits for status 130.
interrupt() {
  local dir=$1 bin=$2 wait_for=$3
  shift 3
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && exec "$bin" "$@" --out run >out.txt 2>err.txt) &
  local pid=$! n=0
  while [ ! -s "$dir/run/$wait_for" ] && [ $n -lt 6000 ]; do sleep 0.01; n=$((n + 1)); done
  sleep 0.2
  kill -INT "$pid" 2>/dev/null
  wait "$pid"
  local status=$?
  [ "$status" = 130 ] || echo "  ($dir: interrupted run ended with status $status, not 130: too late?)"
}

resume() { # DIR BINARY COMMAND
  (cd "$1" && "$2" "$3" --out run --resume >>out.txt 2>>err.txt) || echo "  ($1: resume status $?)"
}

report() { # LABEL REFERENCE CANDIDATE
  local verdict
  verdict=$($DIFF "$2" "$3" | tail -1)
  printf '%-52s %s\n' "$1" "$verdict"
  if [ "$verdict" != identical ]; then $DIFF "$2" "$3" | sed '$d' | sed 's/^/      /'; fi
}

# one command (train or mine) with t threads; WAIT_FOR: the file whose appearance means the
# run is under way (SIGINT is sent then)
compare() { # COMMAND THREADS WAIT_FOR
  local cmd=$1 t=$2 wait_for=$3 args
  # shellcheck disable=SC2207
  args=($("${cmd}_args" "$t"))
  straight "$W/base-$cmd-t$t" "$BASE" "${args[@]}"
  straight "$W/new-$cmd-t$t" "$NEW" "${args[@]}"
  interrupt "$W/new-$cmd-int-t$t" "$NEW" "$wait_for" "${args[@]}"
  resume "$W/new-$cmd-int-t$t" "$NEW" "$cmd"
  interrupt "$W/old-$cmd-int-t$t" "$BASE" "$wait_for" "${args[@]}"
  resume "$W/old-$cmd-int-t$t" "$NEW" "$cmd"
  local ref="$W/base-$cmd-t$t/run/last.ckpt"
  report "$cmd, $t thread(s): new binary" "$ref" "$W/new-$cmd-t$t/run/last.ckpt"
  report "$cmd, $t thread(s): new, SIGINT + --resume" "$ref" "$W/new-$cmd-int-t$t/run/last.ckpt"
  report "$cmd, $t thread(s): base SIGINT, new --resume" "$ref" "$W/old-$cmd-int-t$t/run/last.ckpt"
}

for t in 1 2; do
  compare train "$t" last.ckpt
  compare mine "$t" rounds.jsonl
done
# where the interruptions landed (they depend on timing)
grep -h "interrupted\|resuming" "$W"/*-int-t*/err.txt | sed 's/^/  /'
echo "work folder: $W"
