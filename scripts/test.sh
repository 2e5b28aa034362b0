#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and runs every test twice,
# once optimised and once under AddressSanitizer + UndefinedBehaviorSanitizer, then a short
# run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
echo "== tests (Release)"
(cd build && ctest --output-on-failure -j2)
bash scripts/build.sh sanitize
echo "== tests (ASan + UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j2 -LE slow)
echo "== fuzz (short run: 20 s per target; fuzz/README.md)"
bash scripts/fuzz.sh 20
