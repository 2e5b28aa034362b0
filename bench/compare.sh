#!/usr/bin/env bash
# boxmine's engine against PyTorch on the same network, batch, threads and mode.
#
#   bash bench/compare.sh --cfg cfg/boxmine-tiny.cfg [--width 160 --height 160] --batch 16 \
#        --threads 2 --mode train [--reps 5] [--iters 10] [--warmup 2] [--sgemm 1024]
#        [--boxmine build/boxmine]
#
# First the engine's GEMM rate (`boxmine bench --sgemm N`, 0 skips it). Then runs
# `boxmine bench` and bench/torch_bench.py alternately, --reps times each (each run a
# separate process timing --iters iterations after --warmup), and prints the median over
# runs of each tool's per-run median ms per iteration, img/s, and the ratio
# boxmine time / PyTorch time (below 1 = boxmine faster). Ends with one JSON line.
# Both tools print one JSON line with ms_per_iter, img_per_s and gflop_per_img.
# OpenBLAS picks its kernels from OPENBLAS_CORETYPE, which passes through: on AVX-512 CPUs that
# it does not know it falls back to slow generic ones ("Prescott"), so run e.g.
# `OPENBLAS_CORETYPE=SkylakeX bash bench/compare.sh ...` there (the summary names the core).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
boxmine=${BOXMINE:-$here/../build/boxmine}
cfg="" width="" height="" batch=1 threads=2 mode=infer reps=5 iters=10 warmup=2 sgemm=1024
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --cfg) cfg=$2; shift 2 ;;
    --width) width=$2; shift 2 ;;
    --height) height=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --sgemm) sgemm=$2; shift 2 ;;
    --boxmine) boxmine=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$cfg" ] || { echo "compare.sh: --cfg is required (see --help)" >&2; exit 2; }
case "$mode" in train|infer) ;; *) echo "compare.sh: --mode is train or infer" >&2; exit 2 ;; esac
[ -r "$cfg" ] || { echo "compare.sh: cannot read $cfg" >&2; exit 1; }
[ -x "$boxmine" ] || { echo "compare.sh: no boxmine program at $boxmine (build first or pass --boxmine)" >&2; exit 1; }

common=(--cfg "$cfg" --batch "$batch" --threads "$threads" --mode "$mode" --iters "$iters"
        --warmup "$warmup")
[ -n "$width" ] && common+=(--width "$width")
[ -n "$height" ] && common+=(--height "$height")

work=$(mktemp -d /tmp/bm-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ "$sgemm" -gt 0 ]; then
  "$boxmine" bench --sgemm "$sgemm" --threads "$threads" --iters 5 > "$work/sgemm" 2> "$work/err" || {
    cat "$work/sgemm" "$work/err" >&2; echo "compare.sh: boxmine bench --sgemm failed" >&2; exit 1; }
  "$python" -c '
import json, sys
r = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
print("sgemm %dx%dx%d on %d threads (OpenBLAS core %s): %.1f GFLOP/s median, %.1f best"
      % (r["sgemm_n"], r["sgemm_n"], r["sgemm_n"], r["threads"], r.get("blas_core", "?"),
         r["gflops_median"], r["gflops_best"]))' "$work/sgemm"
fi
: > "$work/boxmine.json"
: > "$work/torch.json"
for ((rep = 1; rep <= reps; rep++)); do
  "$boxmine" bench "${common[@]}" > "$work/out" 2> "$work/err" || {
    cat "$work/out" "$work/err" >&2; echo "compare.sh: boxmine bench failed" >&2; exit 1; }
  grep '^{' "$work/out" | tail -n 1 >> "$work/boxmine.json"
  "$python" "$here/torch_bench.py" "${common[@]}" >> "$work/torch.json" || {
    echo "compare.sh: torch_bench.py failed" >&2; exit 1; }
done

"$python" - "$work/boxmine.json" "$work/torch.json" "$cfg" "$mode" "$batch" "$threads" <<'EOF'
import json, statistics, sys
def load(path):
    runs = [json.loads(line) for line in open(path) if line.strip()]
    if not runs:
        sys.exit("compare.sh: no JSON result in %s" % path)
    return runs
ours, theirs = load(sys.argv[1]), load(sys.argv[2])
cfg, mode, batch, threads = sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
def summary(runs):
    ms = statistics.median(r["ms_per_iter"] for r in runs)
    return ms, batch * 1000.0 / ms, runs[0].get("gflop_per_img")
b_ms, b_ips, b_gf = summary(ours)
t_ms, t_ips, t_gf = summary(theirs)
print("%s, mode %s, batch %d, %d threads, %d runs each (median of per-run medians):"
      % (cfg, mode, batch, threads, len(ours)))
print("  boxmine  %9.3f ms/iter  %9.2f img/s   (runs: %s; OpenBLAS core %s)"
      % (b_ms, b_ips, ", ".join("%.1f" % r["ms_per_iter"] for r in ours),
         ours[0].get("blas_core", "?")))
print("  pytorch  %9.3f ms/iter  %9.2f img/s   (runs: %s)"
      % (t_ms, t_ips, ", ".join("%.1f" % r["ms_per_iter"] for r in theirs)))
print("  ratio boxmine/pytorch time: %.3f  (below 1: boxmine faster)" % (b_ms / t_ms))
if b_gf is not None and t_gf is not None and abs(b_gf - t_gf) > 5e-3 * max(b_gf, t_gf):
    print("  WARNING: the tools count different GFLOP per image: %s vs %s" % (b_gf, t_gf))
print(json.dumps({"cfg": cfg, "mode": mode, "batch": batch, "threads": threads,
                  "runs": len(ours), "boxmine_ms_per_iter": round(b_ms, 3),
                  "pytorch_ms_per_iter": round(t_ms, 3),
                  "boxmine_img_per_s": round(b_ips, 3), "pytorch_img_per_s": round(t_ips, 3),
                  "ratio_boxmine_over_pytorch": round(b_ms / t_ms, 4),
                  "gflop_per_img": t_gf, "blas_core": ours[0].get("blas_core")}))
EOF
