// Times ONNX Runtime (npm's onnxruntime-node, CPU execution provider) on one .onnx model:
// inference of a fixed random input, --warmup untimed runs, then --iters timed runs; prints
// one JSON line with the median (and best) ms per run.
//
//   NODE_PATH=/work/ort/node_modules node bench/ort_bench.js --model M.onnx [--threads 2]
//        [--iters 20] [--warmup 3] [--no-spin] [--shape NxCxHxW]
//
// The session uses all graph optimisations (ONNX Runtime folds batch norm into the
// convolutions and fuses activations), intra-op threads = --threads, one inter-op thread,
// sequential execution. Install the runtime outside the repository:
//   mkdir -p /work/ort && cd /work/ort && npm install --ignore-scripts onnxruntime-node
'use strict';
const ort = require('onnxruntime-node');

function option(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function main() {
  const model = option('model', null);
  if (!model) {
    console.error('ort_bench.js: --model FILE.onnx is required');
    process.exit(2);
  }
  const threads = parseInt(option('threads', '2'), 10);
  const iters = parseInt(option('iters', '20'), 10);
  const warmup = parseInt(option('warmup', '3'), 10);
  const options = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  // --no-spin: idle pool threads block at once instead of spinning (what OMP_WAIT_POLICY=
  // passive does for the OpenMP engines; see bench/infer_compare.sh --passive)
  const spin = process.argv.indexOf('--no-spin') < 0;
  if (!spin) options.extra = {session: {intra_op: {allow_spinning: '0'}, inter_op: {allow_spinning: '0'}}};
  const session = await ort.InferenceSession.create(model, options);
  const name = session.inputNames[0];
  // the input's shape is fixed by the export (bench/onnx_export.py)
  const meta = session.inputMetadata ? session.inputMetadata : null;
  let dims = option('shape', null);
  dims = dims ? dims.split('x').map(Number) : null;
  if (!dims && meta && meta[0] && meta[0].shape) dims = meta[0].shape;
  if (!dims) {
    console.error('ort_bench.js: pass --shape NxCxHxW (this runtime does not report it)');
    process.exit(2);
  }
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 8) / 16777216;
  }
  const feeds = {[name]: new ort.Tensor('float32', data, dims)};
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const sorted = times.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  console.log(JSON.stringify({
    tool: 'onnxruntime', model, threads, iters, warmup, shape: dims, spin,
    ms_per_iter: +median.toFixed(3), ms_per_iter_min: +sorted[0].toFixed(3),
    img_per_s: +(dims[0] * 1000 / median).toFixed(3),
  }));
}

main().catch((e) => {
  console.error('ort_bench.js: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
