#!/usr/bin/python3
"""Times PyTorch on a darknet .cfg doing the same steps as `boxmine bench`.

    /usr/bin/python3 bench/torch_bench.py --cfg cfg/boxmine-tiny.cfg --width 160 --height 160 \
        --batch 16 --threads 2 --mode train

mode infer: one forward pass in inference mode (rolling BN statistics) under no_grad.
mode train: forward in training mode (batch BN statistics), the synthetic loss
            L = sum over yolo layers (or the last layer, without any) of sum(out * R) with
            a fixed random R, backward, and
            one SGD step (momentum 0.9, weight decay 0.0005 on conv weights only).
The input is a fixed random batch; parameters are random (speed does not depend on them).
After --warmup untimed iterations, --iters iterations are timed one by one; the median is
reported. Prints one line of JSON:
  {"tool": "pytorch", ..., "ms_per_iter": median ms per iteration (whole batch),
   "img_per_s": batch / median seconds, "gflop_per_img": forward convolution GFLOP per image
   (2 per multiply-add, as darknet counts), ...}
BN uses torch's fused F.batch_norm here (same normalisation as the engine; torch's own
rolling-variance update), which is what a PyTorch user would run.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_cfg  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--width", type=int, help="input width (default: the cfg's)")
    ap.add_argument("--height", type=int, help="input height (default: the cfg's)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=("train", "infer"), default="infer")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.batch < 1 or args.threads < 1 or args.iters < 1 or args.warmup < 0:
        ap.error("batch, threads and iters must be positive, warmup not negative")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    net = torch_cfg.Network(args.cfg, width=args.width, height=args.height)
    net.init_random(gen)
    net.set_fast_bn(True)
    x = torch.rand(args.batch, net.channels, net.height, net.width, generator=gen)
    # The synthetic loss reads the [yolo] outputs, or the last layer's without any.
    heads = net.yolo_indices() or [len(net.layers) - 1]
    targets = {i: torch.randn((args.batch,) + net.shapes[i], generator=gen) for i in heads}

    if args.mode == "train":
        net.train()
        weights = [net.layers[i].weights for i in net.conv_indices()]
        others = [p for p in net.parameters() if all(p is not w for w in weights)]
        optimiser = torch.optim.SGD([{"params": weights, "weight_decay": 0.0005},
                                     {"params": others, "weight_decay": 0.0}],
                                    lr=0.001, momentum=0.9)

        def step():
            optimiser.zero_grad(set_to_none=False)
            outputs = net(x)
            loss = sum((outputs[i] * r).sum() for i, r in targets.items())
            loss.backward()
            optimiser.step()
    else:
        net.eval()

        def step():
            with torch.no_grad():
                net(x)

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(json.dumps({
        "tool": "pytorch",
        "torch": torch.__version__,
        "cfg": args.cfg,
        "mode": args.mode,
        "width": net.width,
        "height": net.height,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "warmup": args.warmup,
        "iters": args.iters,
        "ms_per_iter": round(median * 1e3, 3),
        "ms_per_iter_min": round(min(times) * 1e3, 3),
        "img_per_s": round(args.batch / median, 3),
        "gflop_per_img": float("%.6g" % (net.flops_per_image / 1e9)),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
