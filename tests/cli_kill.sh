#!/bin/bash
# Kill anywhere (issue 16, docs/RELIABILITY.md): `boxmine mine` is SIGKILLed at seeded random
# moments (inside epochs, during detection, while files are written, not only between
# rounds) and continued with --resume (or started again when no checkpoint exists yet) until
# it finishes; several trials, each in a fresh run folder. Its rounds.jsonl (all but the wall-clock "seconds"), its labelled set and its
# weights must equal byte for byte those of a run never interrupted.
set -u
source "$(dirname "$0")/cli_lib.bash"
export XDG_CACHE_HOME=$TMP/cache
RANDOM=${BM_KILL_SEED:-16} # the kill moments are reproducible
KILLS=${BM_KILLS:-8} # at least this many SIGKILLs landed, over up to 8 trials

write_tiny_cfg "$TMP/tiny.cfg"
expect_status 0 "$BIN" synth --out "$TMP/data" --trainval 24 --test 6 --size 48 --seed 3
MINE=(mine --data "$TMP/data" --cfg "$TMP/tiny.cfg" --init 6 --K 6 --pre-epochs 2 --batch 4
  --warmup 2 --threads 1 --deterministic --seed 4 --max-rounds 3 --checkpoint-minutes 0.001)

start=$(date +%s%N)
expect_status 0 "$BIN" "${MINE[@]}" --out "$TMP/ref"
# kill moments: uniform in [0, half the uninterrupted run's duration) after each start
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -gt 0 ] || ms=1

# one trial: a fresh run folder, SIGKILLs after each start at a random moment until one
# misses (the run had finished) or 3 landed, then --resume to the end
kills=0 starts=0
trial() {
  local dir=$1 landed=0 pid status
  while :; do
    starts=$((starts + 1))
    if [ -e "$dir/last.ckpt" ]; then
      "$BIN" mine --out "$dir" --resume >"$TMP/out" 2>"$TMP/err" &
    else
      "$BIN" "${MINE[@]}" --out "$dir" >"$TMP/out" 2>"$TMP/err" &
    fi
    pid=$!
    if [ "$landed" -lt 3 ]; then
      local at=$(((RANDOM * 32768 + RANDOM) % (ms / 2 + 1)))
      sleep "$(printf '%d.%03d' $((at / 1000)) $((at % 1000)))"
      if kill -KILL "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        landed=$((landed + 1))
        kills=$((kills + 1))
        continue
      fi
    fi
    wait "$pid"
    status=$?
    [ "$status" = 0 ] || fail "$dir: the last run exited $status: $(tail -3 "$TMP/err")"
    return
  done
}
trials=0
while [ "$kills" -lt "$KILLS" ] && [ "$trials" -lt 8 ]; do
  trials=$((trials + 1))
  trial "$TMP/run$trials"
done
echo "cli_kill: $kills SIGKILLs in $trials trials, $starts starts (uninterrupted run: $ms ms)"
[ "$kills" -ge 1 ] || fail "no kill landed"

strip() { sed -E 's/,"seconds":[^,}]*//' "$1"; }
for t in $(seq "$trials"); do
  run=$TMP/run$t
  diff <(strip "$TMP/ref/rounds.jsonl") <(strip "$run/rounds.jsonl") >"$TMP/diff" ||
    fail "trial $t: rounds.jsonl differs: $(head -5 "$TMP/diff")"
  for f in last.weights best.weights; do
    cmp -s "$TMP/ref/$f" "$run/$f" || fail "trial $t: $f differs from the uninterrupted run"
  done
  # a kill inside an atomic write leaves its temporary file (never a torn target): ignored
  diff -r -x "*.tmp.*" "$TMP/ref/annotations" "$run/annotations" >"$TMP/diff" ||
    fail "trial $t: the labelled set differs: $(head -5 "$TMP/diff")"
done
echo "cli_kill: $(find "$TMP"/run* -name '*.tmp.*' | wc -l) temporary files left by kills"

finish cli_kill.sh
