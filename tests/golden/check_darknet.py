#!/usr/bin/python3
"""Checks bench/torch_cfg.py's inference forward against Debian's darknet, layer by layer.

    cc -O2 -I/usr/lib/darknet/include tests/golden/darknet_dump.c \
       -L/usr/lib/darknet -Wl,-rpath,/usr/lib/darknet -ldarknet -o /tmp/darknet_dump
    /usr/bin/python3 tests/golden/check_darknet.py [NET.cfg [NET.weights]] [--width W --height H]

Defaults to tests/golden/golden.cfg. Without a weights file, random parameters are written
to a temporary one. darknet (2018) has no mish or swish and replaces unknown activations by
relu, so the PyTorch side does the same for this check. It has no route groups either: those
are dropped from both sides' cfg (and random weights used, as the weight count changes).
darknet's inference BN divides by sqrt(var) + 1e-6 rather than sqrt(var + eps); with
rolling variances near 1 that is far below the tolerance used here (1e-4 relative).
"""

import argparse
import os
import struct
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import torch_cfg  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cfg", nargs="?", default=os.path.join(HERE, "golden.cfg"))
    ap.add_argument("weights", nargs="?")
    ap.add_argument("--dump", default="/tmp/darknet_dump", help="built darknet_dump.c")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bm-darknet-check-")
    # The cfg darknet reads (no route groups), and the one PyTorch reads with darknet's relu
    # fallback for activations it does not know.
    lines, section, dropped = [], "", 0
    with open(args.cfg) as f:
        for line in f:
            bare = "".join(line.split())
            if bare.startswith("["):
                section = bare
            if section == "[route]" and bare.startswith(("groups=", "group_id=")):
                dropped += 1
                continue
            lines.append(line)
    text = "".join(lines)
    if dropped:
        print("route groups dropped (darknet has none); using random weights")
        args.weights = None
    cfg_darknet = os.path.join(work, "darknet.cfg")
    with open(cfg_darknet, "w") as f:
        f.write(text)
    cfg_torch = os.path.join(work, "torch.cfg")
    with open(cfg_torch, "w") as f:
        f.write(text.replace("activation=mish", "activation=relu")
                .replace("activation=swish", "activation=relu"))
    net = torch_cfg.Network(cfg_torch).to(torch.float64)
    gen = torch.Generator().manual_seed(7)
    weights = args.weights
    if weights is None:
        net.init_random(gen)
        weights = os.path.join(work, "random.weights")
        net.save_darknet_weights(weights)
    net.load_darknet_weights(weights)
    net.eval()

    x = torch.rand(args.batch, net.channels, net.height, net.width, generator=gen,
                   dtype=torch.float32)
    input_path = os.path.join(work, "input.f32")
    x.numpy().tofile(input_path)
    out_path = os.path.join(work, "out.f32")
    run = subprocess.run([args.dump, cfg_darknet, weights, input_path, str(args.batch), out_path],
                         capture_output=True, text=True)
    log = run.stderr
    if run.returncode != 0:
        sys.exit("darknet_dump failed:\n" + log)
    print("darknet said:", "; ".join(l.strip() for l in log.splitlines()
                                    if "Loading weights" in l or "Done" in l or "Couldn't" in l))

    with torch.no_grad():
        outputs = net(x.to(torch.float64))
    data = open(out_path, "rb").read()
    (n_layers,) = struct.unpack_from("<i", data, 0)
    if n_layers != len(outputs):
        sys.exit("darknet has %d layers, PyTorch %d" % (n_layers, len(outputs)))
    offset = 4
    worst = 0.0
    for i in range(n_layers):
        _, c, h, w = struct.unpack_from("<4i", data, offset)
        offset += 16
        count = args.batch * c * h * w
        theirs = torch.frombuffer(bytearray(data[offset:offset + 4 * count]),
                                  dtype=torch.float32).to(torch.float64)
        offset += 4 * count
        ours = outputs[i].reshape(-1)
        if ours.numel() != count:
            sys.exit("layer %d: darknet %dx%dx%d, PyTorch %s" % (i, c, h, w,
                                                               tuple(outputs[i].shape)))
        err = (ours - theirs).abs().max().item() / max(ours.abs().max().item(), 1e-30)
        worst = max(worst, err)
        print("layer %2d %-14s %4d x %4d x %4d  max|diff|/max|out| = %.2e"
              % (i, net.kinds[i], w, h, c, err))
    verdict = "OK" if worst <= args.tolerance else "MISMATCH"
    print("%s: worst %.2e (tolerance %.0e)" % (verdict, worst, args.tolerance))
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
