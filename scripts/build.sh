#!/usr/bin/env bash
# Configures and builds boxmine. usage: scripts/build.sh [release|sanitize|fuzz]
# (fuzz: the libFuzzer targets of fuzz/ with clang, ASan and UBSan; see fuzz/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
case "$kind" in
  release)  dir=build;      flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  sanitize) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DBM_SANITIZE=ON) ;;
  fuzz)     dir=build-fuzz; flags=(-DCMAKE_BUILD_TYPE=Debug -DBM_FUZZ=ON -DCMAKE_C_COMPILER=clang) ;;
  *) echo "usage: $0 [release|sanitize|fuzz]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
