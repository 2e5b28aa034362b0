#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, clang + ASan + UBSan) and runs each for SECONDS
# (default 30) on its seed corpus (fuzz/seeds.sh, from the test data); exits non-zero when a
# target finds a crash, leak, timeout or sanitizer report. Needs build/boxmine for the seeds
# (scripts/build.sh release). New inputs accumulate in build-fuzz/corpus/<target>/; findings
# are written to build-fuzz/findings/. fuzz/README.md describes the long run.
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: fuzz_voc fuzz_cfg ...)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
bash scripts/build.sh fuzz
[ -x build/boxmine ] || bash scripts/build.sh release
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
rm -rf build-fuzz/seeds
bash fuzz/seeds.sh build/boxmine build-fuzz/seeds
mkdir -p build-fuzz/findings
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  echo "== $t: ${seconds} s"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a bounded memory promise
  if ! "build-fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$t-" \
      "build-fuzz/corpus/$t" "build-fuzz/seeds/$t" >"build-fuzz/$t.log" 2>&1; then
    failed+=("$t")
    tail -40 "build-fuzz/$t.log"
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ *DONE" "build-fuzz/$t.log" | tr '\n' ' '
  echo
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs in build-fuzz/findings/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no findings"
