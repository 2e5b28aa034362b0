#!/usr/bin/python3
"""Splits a `boxmine bench --profile` table by kind of layer: the share of the time (forward
and backward) in depthwise convolutions (groups = channels), 1x1 convolutions, other
convolutions and the other layer types, with each kind's GFLOP/s.

    build/boxmine bench --cfg NET.cfg --mode infer --batch 1 --threads 2 --profile \\
        2> profile.txt
    /usr/bin/python3 bench/profile_share.py --cfg NET.cfg profile.txt
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_cfg  # noqa: E402  (its cfg parser only)


def kinds_of(cfg):
    """Per layer index: depthwise / 1x1 / conv / the section name."""
    kinds = []
    for name, options, _ in torch_cfg.parse_cfg(cfg)[1:]:
        if name in ("convolutional", "conv"):
            groups, size = int(options.get("groups", 1)), int(options.get("size", 1))
            filters = int(options.get("filters", 1))
            if groups > 1 and groups == filters:
                kinds.append("depthwise %dx%d" % (size, size))
            elif size == 1:
                kinds.append("conv 1x1")
            else:
                kinds.append("conv %dx%d" % (size, size))
        else:
            kinds.append(name)
    return kinds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True)
    ap.add_argument("profile", help="the stderr of boxmine bench --profile")
    args = ap.parse_args()
    kinds = kinds_of(args.cfg)
    rows, header = [], None
    for line in open(args.profile):
        parts = line.split()
        if parts[:2] == ["layer", "type"]:
            header = line
            continue
        if header and parts and parts[0].isdigit() and len(parts) >= 6:
            rows.append(parts)
    if not rows:
        sys.exit("profile_share.py: no profile table in %s" % args.profile)
    train = "bwd" in header
    totals = {}
    for p in rows:
        i = int(p[0])
        gflop, fwd = float(p[3]), float(p[4])
        bwd = float(p[6]) if train else 0.0
        k = kinds[i] if i < len(kinds) else p[1]
        t = totals.setdefault(k, [0.0, 0.0, 0.0, 0])
        t[0] += fwd
        t[1] += bwd
        t[2] += gflop
        t[3] += 1
    all_ms = sum(t[0] + t[1] for t in totals.values())
    print("%-16s %6s %10s %10s %7s %9s" % ("kind", "layers", "fwd ms", "bwd ms", "share",
                                           "GFLOP/s"))
    for k, (fwd, bwd, gflop, n) in sorted(totals.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
        ms = fwd + bwd
        rate = gflop * (3 if train else 1) / (ms / 1e3) if gflop and ms else 0.0
        print("%-16s %6d %10.3f %10.3f %6.1f%% %9.1f" % (k, n, fwd, bwd, 100 * ms / all_ms, rate))
    print("sum of layer medians: %.3f ms" % all_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
