#!/usr/bin/env bash
# Times Debian's darknet (the 2018 pjreddie code in the `darknet` package) on one network's
# inference, without any weights file: `darknet speed CFG N` builds the network from the
# cfg alone (random weights), sets batch 1 and times N forward passes on a blank image.
# Debian builds darknet without OpenMP or BLAS, so it always runs on one thread with its
# own GEMM.
#
#   bash bench/darknet_bench.sh [--cfg /usr/share/darknet/cfg/yolov3-tiny.cfg]
#        [--width 416 --height 416] [--evals 10] [--reps 5]
#
# Prints one JSON line: ms_per_img and img_per_s are medians over --reps runs, each run
# timing --evals forward passes (darknet's own "sec/eval" figure); gflop_per_img is
# darknet's own "Floating Point Operations" figure (2 per multiply-add).
set -euo pipefail

darknet=${DARKNET:-/usr/bin/darknet}
cfg=/usr/share/darknet/cfg/yolov3-tiny.cfg
width="" height="" evals=10 reps=5
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --cfg) cfg=$2; shift 2 ;;
    --width) width=$2; shift 2 ;;
    --height) height=$2; shift 2 ;;
    --evals) evals=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "darknet_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$darknet" ] || { echo "darknet_bench.sh: no darknet at $darknet (apt-get install darknet)" >&2; exit 1; }
[ -r "$cfg" ] || { echo "darknet_bench.sh: cannot read $cfg" >&2; exit 1; }

work=$(mktemp -d /tmp/bm-darknet-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A private copy of the cfg with the requested input size.
sed -e "${width:+s/^width *=.*/width=$width/}" -e "${height:+s/^height *=.*/height=$height/}" \
    "$cfg" > "$work/net.cfg"

: > "$work/ms"
gflop=""
for ((rep = 1; rep <= reps; rep++)); do
  (cd "$work" && "$darknet" speed net.cfg "$evals") > "$work/log" 2>&1 || {
    cat "$work/log" >&2; echo "darknet_bench.sh: darknet failed" >&2; exit 1; }
  sec=$(awk '/sec\/eval/ {print $2}' "$work/log")
  [ -n "$sec" ] || { cat "$work/log" >&2; echo "darknet_bench.sh: no timing in darknet's output" >&2; exit 1; }
  awk -v s="$sec" 'BEGIN {printf "%.3f\n", s * 1000}' >> "$work/ms"
  gflop=$(awk '/Floating Point Operations/ {print $4}' "$work/log")
done
w=$(awk -F= '/^width/ {print $2; exit}' "$work/net.cfg" | tr -d ' ')
h=$(awk -F= '/^height/ {print $2; exit}' "$work/net.cfg" | tr -d ' ')
sort -n "$work/ms" | awk -v cfg="$cfg" -v w="$w" -v h="$h" -v evals="$evals" -v reps="$reps" \
  -v gflop="$gflop" '
  { v[NR] = $1 }
  END {
    med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "{\"tool\": \"darknet\", \"cfg\": \"%s\", \"mode\": \"infer\", \"width\": %d, \"height\": %d, \"batch\": 1, \"threads\": 1, \"evals_per_rep\": %d, \"reps\": %d, \"ms_per_img\": %.3f, \"ms_per_img_min\": %.3f, \"img_per_s\": %.3f, \"gflop_per_img\": %s}\n", cfg, w, h, evals, reps, med, v[1], 1000 / med, gflop
  }'
