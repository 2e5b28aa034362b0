#!/usr/bin/env bash
# Inference of one darknet network at batch 1: boxmine against ONNX Runtime, PyTorch and
# darknet, interleaved (one run of each engine per round, --reps rounds), so that a busy
# machine slows all of them alike; prints each engine's median over rounds of its per-run
# median ms per image, the ratios to boxmine, and one JSON line.
#
#   bash bench/infer_compare.sh --cfg NET.cfg [--weights NET.weights] [--threads 2]
#        [--reps 5] [--iters 20] [--ort /work/ort] [--no-darknet] [--passive]
#        [--boxmine build/boxmine]
#
# ONNX Runtime: the model is exported by bench/onnx_export.py into build/onnx/ (not
# committed) and timed by bench/ort_bench.js with npm's onnxruntime-node installed under
# --ort (`mkdir -p /work/ort && cd /work/ort && npm install --ignore-scripts
# onnxruntime-node`). PyTorch: bench/torch_bench.py --mode infer (Debian's python3-torch).
# darknet: Debian's package through bench/darknet_bench.sh; it runs on one thread (built
# without OpenMP or BLAS), the others on --threads threads. --passive: idle threads sleep
# at once instead of spinning (OMP_WAIT_POLICY=passive for boxmine and PyTorch, ONNX
# Runtime's allow_spinning=0): on a machine with more runnable threads than cores a spinning
# thread burns the time slice its partner needs, and a 2-thread OpenMP run at load 16 took
# 3.7 s per image spinning against 0.25 s passive.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
boxmine=$here/../build/boxmine
cfg="" weights="" threads=2 reps=5 iters=20 warmup=3 ort=/work/ort darknet=1 nospin=()
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --cfg) cfg=$2; shift 2 ;;
    --weights) weights=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --ort) ort=$2; shift 2 ;;
    --no-darknet) darknet=0; shift ;;
    --passive) export OMP_WAIT_POLICY=passive; nospin=(--no-spin); shift ;;
    --boxmine) boxmine=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "infer_compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$cfg" ] || { echo "infer_compare.sh: --cfg is required (see --help)" >&2; exit 2; }
[ -r "$cfg" ] || { echo "infer_compare.sh: cannot read $cfg" >&2; exit 1; }
[ -x "$boxmine" ] || { echo "infer_compare.sh: no boxmine program at $boxmine" >&2; exit 1; }
[ -d "$ort/node_modules/onnxruntime-node" ] || {
  echo "infer_compare.sh: no onnxruntime-node under $ort (see --help)" >&2; exit 1; }

mkdir -p "$here/../build/onnx"
onnx="$here/../build/onnx/$(basename "${cfg%.cfg}").onnx"
"$python" "$here/onnx_export.py" --cfg "$cfg" ${weights:+--weights "$weights"} --out "$onnx" \
  2>/dev/null | tail -n 1
work=$(mktemp -d /tmp/bm-infer-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
for ((rep = 1; rep <= reps; rep++)); do
  echo "round $rep/$reps" >&2
  "$boxmine" bench --cfg "$cfg" --mode infer --batch 1 --threads "$threads" --iters "$iters" \
    --warmup "$warmup" 2>/dev/null | grep '^{' | tail -n 1 >> "$work/boxmine.json"
  NODE_PATH="$ort/node_modules" node "$here/ort_bench.js" --model "$onnx" --threads "$threads" \
    --iters "$iters" --warmup "$warmup" "${nospin[@]}" >> "$work/ort.json"
  "$python" "$here/torch_bench.py" --cfg "$cfg" --mode infer --batch 1 --threads "$threads" \
    --iters "$iters" --warmup "$warmup" >> "$work/torch.json"
  if [ "$darknet" = 1 ]; then
    bash "$here/darknet_bench.sh" --cfg "$cfg" --evals "$iters" --reps 1 >> "$work/darknet.json"
  fi
done

"$python" - "$work" "$cfg" "$threads" <<'PY'
import json, os, statistics, sys
work, cfg, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
def runs(name, key):
    path = os.path.join(work, name + ".json")
    if not os.path.exists(path):
        return None
    values = [json.loads(l)[key] for l in open(path) if l.strip()]
    return values or None
engines = [("boxmine", runs("boxmine", "ms_per_iter")), ("onnxruntime", runs("ort", "ms_per_iter")),
           ("pytorch", runs("torch", "ms_per_iter")), ("darknet", runs("darknet", "ms_per_img"))]
ours = statistics.median(engines[0][1])
print("%s, inference, batch 1, %d threads (darknet: 1), %d rounds, median of per-run medians%s:"
      % (cfg, threads, len(engines[0][1]),
         ", OMP_WAIT_POLICY=" + os.environ["OMP_WAIT_POLICY"] if "OMP_WAIT_POLICY" in os.environ else ""))
summary = {"cfg": cfg, "threads": threads, "rounds": len(engines[0][1]),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}
for name, values in engines:
    if not values:
        continue
    ms = statistics.median(values)
    print("  %-12s %9.2f ms/img  %7.2f img/s  %6.2fx boxmine's time   (runs: %s)"
          % (name, ms, 1000 / ms, ms / ours, ", ".join("%.1f" % v for v in values)))
    summary[name + "_ms"] = round(ms, 3)
    if name != "boxmine":
        summary["speedup_over_" + name] = round(ms / ours, 3)
print(json.dumps(summary))
PY
