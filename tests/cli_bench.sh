#!/usr/bin/env bash
# boxmine bench: help, usage errors, and a tiny real run whose JSON is checked field by field.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1" >&2; fail=1; fi; }
bin=${BM_BINARY:?}
src=${BM_SOURCE_DIR:?}
tmp=$(mktemp -d /tmp/bm-cli-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$bin" bench --help > "$tmp/help" 2>&1; check '[ $? -eq 0 ]'
check 'grep -q -- "--mode train|infer" "$tmp/help"'
check 'grep -q -- "--sgemm N" "$tmp/help"'
check 'grep -q -- "--gemm auto|blas|own" "$tmp/help"'
check 'grep -q -- "--fast-infer on|off" "$tmp/help"'
check 'grep -q -- "--profile" "$tmp/help"'
"$bin" bench --cfg x.cfg --fast-infer fast > /dev/null 2>&1; check '[ $? -eq 2 ]'
"$bin" bench --cfg x.cfg --gemm fast > /dev/null 2>&1; check '[ $? -eq 2 ]'
BM_GEMM=fast "$bin" bench --cfg x.cfg > /dev/null 2>&1; check '[ $? -eq 2 ]'
"$bin" bench --cfg x.cfg --bogus > /dev/null 2>&1; check '[ $? -eq 2 ]'
"$bin" bench --cfg x.cfg --mode fast > /dev/null 2>&1; check '[ $? -eq 2 ]'
"$bin" bench --cfg x.cfg --batch 0 > /dev/null 2>&1; check '[ $? -eq 2 ]'
"$bin" bench --cfg x.cfg --width 64 > /dev/null 2>&1; check '[ $? -eq 2 ]'
"$bin" bench > /dev/null 2>&1; check '[ $? -eq 2 ]'
"$bin" bench --cfg "$tmp/missing.cfg" > /dev/null 2> "$tmp/err"; check '[ $? -eq 1 ]'
check 'grep -q "missing.cfg" "$tmp/err"'

# a 2-layer network: conv 3x3 (3 -> 4, 8x8) + conv 1x1 (4 -> 2): 2*(27*4 + 4*2)*64 FLOP
cat > "$tmp/t.cfg" <<'CFG'
[net]
width=8
height=8
channels=3
[convolutional]
filters=4
size=3
pad=1
batch_normalize=1
activation=leaky
[convolutional]
filters=2
size=1
activation=linear
CFG
"$bin" bench --cfg "$tmp/t.cfg" --batch 2 --iters 3 --warmup 1 --threads 1 > "$tmp/out" 2> "$tmp/err"
check '[ $? -eq 0 ]'
check '[ $(wc -l < "$tmp/out") -eq 1 ]'
python3 - "$tmp/out" <<'PY' || fail=1
import json, sys
r = json.loads(open(sys.argv[1]).read())
flop = 2 * (27 * 4 + 4 * 2) * 64
assert r["mode"] == "train" and r["batch"] == 2 and r["threads"] == 1, r
assert abs(r["gflop_per_img"] - flop * 1e-9) < 1e-12, r
assert r["ms_per_iter"] > 0 and abs(r["img_per_s"] - 2000.0 / r["ms_per_iter"]) < 1e-4 * r["img_per_s"], r
assert abs(r["gflops"] - 3 * r["gflop_per_img"] * r["img_per_s"]) < 1e-4 * r["gflops"], r
assert r["width"] == 8 and r["height"] == 8 and r["iters"] == 3, r
PY
"$bin" bench --cfg "$tmp/t.cfg" --mode infer --width 16 --height 12 --iters 2 > "$tmp/out" 2>/dev/null
check '[ $? -eq 0 ]'
python3 - "$tmp/out" <<'PY' || fail=1
import json, sys
r = json.loads(open(sys.argv[1]).read())
assert r["mode"] == "infer" and r["width"] == 16 and r["height"] == 12 and r["batch"] == 1, r
assert abs(r["gflop_per_img"] - 2 * (27 * 4 + 4 * 2) * 192 * 1e-9) < 1e-12, r
assert abs(r["gflops"] - r["gflop_per_img"] * r["img_per_s"]) < 1e-4 * r["gflops"], r
PY
"$bin" bench --sgemm 64 --iters 2 --threads 2 > "$tmp/out" 2>/dev/null
check '[ $? -eq 0 ]'
python3 - "$tmp/out" <<'PY' || fail=1
import json, sys
r = json.loads(open(sys.argv[1]).read())
assert r["sgemm_n"] == 64 and r["gflops_median"] > 0 and r["threads"] == 2, r
PY
# the GEMM choice: --gemm over BM_GEMM, reported in the JSON; own needs AVX-512F
if grep -q avx512f /proc/cpuinfo; then own=own; else own=blas; fi
BM_GEMM=blas "$bin" bench --cfg "$tmp/t.cfg" --iters 1 --warmup 0 > "$tmp/out" 2>/dev/null
check '[ $? -eq 0 ] && grep -q "\"gemm\": \"blas\"" "$tmp/out"'
BM_GEMM=blas "$bin" bench --cfg "$tmp/t.cfg" --iters 1 --warmup 0 --gemm own > "$tmp/out" 2>/dev/null
check '[ $? -eq 0 ] && grep -q "\"gemm\": \"$own\"" "$tmp/out"'
"$bin" bench --sgemm 70 --iters 1 --gemm own > "$tmp/out" 2>/dev/null
check '[ $? -eq 0 ] && grep -q "\"gemm\": \"$own\"" "$tmp/out"'
# --fast-infer is reported (true only for infer); --profile: a table of the 2 layers on
# stderr, stdout still one JSON line
"$bin" bench --cfg "$tmp/t.cfg" --mode infer --iters 2 --warmup 0 --fast-infer off > "$tmp/out" 2>/dev/null
check '[ $? -eq 0 ] && grep -q "\"fast_infer\": false" "$tmp/out"'
"$bin" bench --cfg "$tmp/t.cfg" --mode infer --iters 2 --warmup 0 --profile > "$tmp/out" 2> "$tmp/err"
check '[ $? -eq 0 ] && grep -q "\"fast_infer\": true" "$tmp/out" && [ $(wc -l < "$tmp/out") -eq 1 ]'
check 'grep -q "^layer  type" "$tmp/err" && [ $(grep -c "^ *[01]  convolutional" "$tmp/err") -eq 2 ]'
check 'grep -q "sum of layer medians: forward" "$tmp/err"'
"$bin" bench --cfg "$tmp/t.cfg" --iters 2 --warmup 0 --profile > "$tmp/out" 2> "$tmp/err"
check '[ $? -eq 0 ] && grep -q "\"fast_infer\": false" "$tmp/out" && grep -q "bwd ms" "$tmp/err"'
exit $fail
