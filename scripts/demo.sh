#!/usr/bin/env bash
# The whole story on the default data set: install, build, synthesise, show statistics.
# (Training and mining are added here as they land.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
data=${BM_DEMO_DATA:-data/fmnist-det}
if [ ! -f "$data/ImageSets/Main/test.txt" ]; then
  ./build/boxmine synth --out "$data" --seed 1
fi
./build/boxmine info --data "$data" --split trainval
./build/boxmine info --data "$data" --split test
