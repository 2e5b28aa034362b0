#!/usr/bin/python3
"""Exports a darknet .cfg network (bench/torch_cfg.py's PyTorch model) to ONNX for the
ONNX Runtime side of the speed comparison (bench/ort_bench.js, bench/infer_compare.sh).

    /usr/bin/python3 bench/onnx_export.py --cfg NET.cfg --out build/NET.onnx \
        [--weights NET.weights] [--width W --height H] [--batch 1]

Inference mode: batch norm as torch's F.batch_norm with the rolling statistics (exported as
BatchNormalization, which ONNX Runtime folds into the convolution), dropout the identity,
the [yolo] layers' logistic on x, y, objectness and classes as in the engine. The graph's
outputs are the [yolo] layers' outputs (or the last layer's, without any). Parameters come
from --weights (darknet format) or are random (speed does not depend on them). Write the
.onnx file outside the repository (build/ or /work/ort): it is not committed.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_cfg  # noqa: E402


class Heads(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.heads = net.yolo_indices() or [len(net.layers) - 1]

    def forward(self, x):
        outputs = self.net(x)
        return tuple(outputs[i] for i in self.heads)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--out", required=True, help="the .onnx file to write")
    ap.add_argument("--weights", help="darknet .weights (default: random parameters)")
    ap.add_argument("--width", type=int)
    ap.add_argument("--height", type=int)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--opset", type=int, default=13)
    args = ap.parse_args()
    net = torch_cfg.Network(args.cfg, width=args.width, height=args.height)
    if args.weights:
        net.load_darknet_weights(args.weights)
    else:
        net.init_random(torch.Generator().manual_seed(1))
    net.set_fast_bn(True)
    net.eval()
    model = Heads(net).eval()
    x = torch.rand(args.batch, net.channels, net.height, net.width)
    tmp = args.out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, x, tmp, opset_version=args.opset, input_names=["input"],
                          output_names=["out%d" % i for i in model.heads],
                          do_constant_folding=True)
    os.replace(tmp, args.out)
    print("wrote %s: %s, input %dx%dx%dx%d, outputs of layers %s, %.4f GFLOP per image"
          % (args.out, args.cfg, args.batch, net.channels, net.height, net.width,
             model.heads, net.flops_per_image / 1e9))
    return 0


if __name__ == "__main__":
    sys.exit(main())
