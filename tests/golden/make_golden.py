#!/usr/bin/python3
"""Writes the golden reference data for tests/test_nn_golden.c (format: docs/GOLDEN.md).

Run by hand from the repository's top folder with Debian's Python (it has torch):
    /usr/bin/python3 tests/golden/make_golden.py
It reads tests/golden/golden.cfg and writes tests/golden/golden.weights (darknet format)
and tests/golden/golden.bin (named float32 tensors). Everything is computed in float64
from a fixed seed and stored as float32; the script also runs the same steps in float32
and prints how far that lands from the float64 reference, which is what the tolerances in
the C test are measured against.

A float32 engine can only match where no decision is on a knife edge: a relu/leaky input
within rounding of 0, or two cells of a max-pool window within rounding of each other,
flips a whole gradient entry (and through batch norm, a whole channel). So the script
measures, in every forward it runs, the smallest such gap in float64 and the largest error
of the same values in PyTorch's float32 run, and moves to the next seed until every gap
exceeds MIN_SAFETY times that error.
"""

import copy
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import torch_cfg  # noqa: E402

# The search began at 20240611; with the Yolo-Fastest layers (golden.cfg layers 18-31) the
# first seed to pass was 20241247, so the search starts there (same data, found at once).
FIRST_SEED = 20241247
MIN_SAFETY = 30.0
SGD_STEPS = 3
SMALL_FILTER_SCALE = 0.003
# The optimiser the golden SGD steps follow (docs/GOLDEN.md, docs/TRAINING.md), per
# parameter p with gradient g and velocity v (zero at the start):
#   g' = g + decay * p   (conv weights only; biases and BN scales get no decay)
#   v  = momentum * v + g'
#   p  = p - learning_rate * v
SGD = {"learning_rate": 0.001, "momentum": 0.9, "decay": 0.0005}


def conv_param_names(layer):
    names = ["biases"]
    if layer.batch_normalize:
        names.append("scales")
    names.append("weights")
    return names


def loss_of(net, outputs, targets):
    """L = sum over yolo layers y of sum(out_y * R_y), R_y stored in the golden file."""
    total = 0
    for i in net.yolo_indices():
        total = total + (outputs[i] * targets[i]).sum()
    return total


def decisions(net):
    """The knife-edge quantities of the last forward, per layer: for relu/leaky convs the
    pre-activation (its distance from 0 matters), for max-pools the input (the gap between
    the two largest cells of each window matters). {layer: (kind, tensor)}."""
    found = {}
    for i, layer in enumerate(net.layers):
        if isinstance(layer, torch_cfg.Conv) and layer.activation in ("relu", "leaky"):
            found[i] = ("zero", layer.pre.detach().clone())
        elif isinstance(layer, torch_cfg.MaxPool):
            found[i] = ("pool", layer.last_input.detach().clone())
    return found


def smallest_gap(kind, values, pool):
    """min |pre-activation|, or the smallest gap between a window's two largest cells."""
    if kind == "zero":
        return values.abs().min().item()
    _, oh, ow = pool.out_shape(values.shape[1], values.shape[2], values.shape[3])
    before = pool.padding // 2
    after_h = max(0, (oh - 1) * pool.stride + pool.size - values.shape[2] - before)
    after_w = max(0, (ow - 1) * pool.stride + pool.size - values.shape[3] - before)
    padded = F.pad(values, (before, after_w, before, after_h), value=-math.inf)
    windows = padded.unfold(2, pool.size, pool.stride).unfold(3, pool.size, pool.stride)
    windows = windows[:, :, :oh, :ow].reshape(-1, pool.size * pool.size)
    top2 = windows.topk(2, dim=1).values
    return (top2[:, 0] - top2[:, 1]).min().item()  # inf where a window has one real cell


def decision_safety(net, ref_decisions, single_decisions):
    """For every forward and decision layer: smallest gap (float64) divided by the largest
    float32 error of the values involved. Returns (worst ratio, forward number, layer)."""
    worst = (math.inf, -1, -1)
    for k, (ref, single) in enumerate(zip(ref_decisions, single_decisions)):
        for layer, (kind, values) in ref.items():
            err = (single[layer][1].to(torch.float64) - values).abs().max().item()
            gap = smallest_gap(kind, values, net.layers[layer])
            ratio = gap / err if err > 0 else math.inf
            worst = min(worst, (ratio, k, layer))
    return worst


def run(net, x, targets, dtype):
    """Every quantity the golden file holds, computed with net (already holding the
    initial parameters) in dtype. Returns ({name: tensor}, [decisions() of each forward])."""
    result = {}
    net = net.to(dtype)
    x = x.to(dtype).clone()
    targets = {k: v.to(dtype) for k, v in targets.items()}
    conv = net.conv_indices()
    net.set_keep(True)

    # Inference mode first: it must not touch the rolling statistics.
    net.eval()
    with torch.no_grad():
        outputs = net(x)
    seen = [decisions(net)]
    for i, out in enumerate(outputs):
        result["infer.out.%d" % i] = out
    result["infer.loss"] = loss_of(net, outputs, targets).reshape(1)

    # One training step: forward with batch statistics, loss, backward. Training forward
    # number s (0, 1, 2: this one and the SGD steps) uses dropout key s + 1 (docs/GOLDEN.md).
    net.train()
    net.set_dropout_key(1)
    net.zero_grad()
    outputs = net(x)
    seen.append(decisions(net))
    for out in outputs:
        out.retain_grad()
    loss = loss_of(net, outputs, targets)
    loss.backward()
    result["train.loss"] = loss.detach().reshape(1)
    for i, out in enumerate(outputs):
        result["train.out.%d" % i] = out.detach()
        # Layers nothing reads from (none here) would have no gradient.
        grad = out.grad if out.grad is not None else torch.zeros_like(out)
        result["train.grad_out.%d" % i] = grad.clone()
    for i in conv:
        layer = net.layers[i]
        result["train.grad_z.%d" % i] = layer.z.grad.clone()
        for name in conv_param_names(layer):
            result["grad.%d.%s" % (i, name)] = getattr(layer, name).grad.clone()
        if layer.batch_normalize:
            result["train.%d.rolling_mean" % i] = layer.rolling_mean.clone()
            result["train.%d.rolling_variance" % i] = layer.rolling_variance.clone()

    # SGD: the step above is step 1 (its gradients are in .grad); SGD_STEPS in all.
    velocity = {}
    for step in range(SGD_STEPS):
        if step > 0:
            net.set_dropout_key(step + 1)
            net.zero_grad()
            loss_of(net, net(x), targets).backward()
            seen.append(decisions(net))
        with torch.no_grad():
            for i in conv:
                layer = net.layers[i]
                for name in conv_param_names(layer):
                    p = getattr(layer, name)
                    g = p.grad.clone()
                    if name == "weights":
                        g += SGD["decay"] * p
                    key = (i, name)
                    velocity[key] = SGD["momentum"] * velocity.get(key, 0) + g
                    p -= SGD["learning_rate"] * velocity[key]
    for i in conv:
        layer = net.layers[i]
        for name in conv_param_names(layer):
            result["sgd.%d.%s" % (i, name)] = getattr(layer, name).detach().clone()
        if layer.batch_normalize:
            result["sgd.%d.rolling_mean" % i] = layer.rolling_mean.clone()
            result["sgd.%d.rolling_variance" % i] = layer.rolling_variance.clone()
    net.set_keep(False)
    return {k: v.detach() for k, v in result.items()}, seen


def setup(cfg, seed):
    """Network with random parameters, input and loss weights, all float32 values held in
    float64 (so the float32 files are exactly the reference's starting point)."""
    gen = torch.Generator().manual_seed(seed)
    net = torch_cfg.Network(cfg).to(torch.float64)
    net.init_random(gen)
    with torch.no_grad():
        # Filter 0 of every BN conv gets tiny weights, so its batch variance is of the
        # order of eps and training-mode outputs tell an eps of 1e-5 from other choices.
        for i in net.conv_indices():
            if net.layers[i].batch_normalize:
                net.layers[i].weights[0] *= SMALL_FILTER_SCALE
    x = torch.rand(net.batch, net.channels, net.height, net.width, generator=gen,
                   dtype=torch.float64).to(torch.float32).to(torch.float64)
    # Their running statistics too, layer by layer in inference mode: running variance
    # 1.5 x the channel's actual variance, which is of the order of eps as well.
    net.eval()
    net.set_keep(True)
    with torch.no_grad():
        for i in net.conv_indices():
            layer = net.layers[i]
            if layer.batch_normalize:
                net(x)
                layer.rolling_mean[0] = layer.z[:, 0].mean()
                layer.rolling_variance[0] = 1.5 * layer.z[:, 0].var()
        net.set_keep(False)
        for p in list(net.parameters()) + list(net.buffers()):
            p.copy_(p.to(torch.float32).to(torch.float64))
    targets = {}
    for i in net.yolo_indices():
        r = torch.randn((net.batch,) + net.shapes[i], generator=gen, dtype=torch.float64)
        targets[i] = r.to(torch.float32).to(torch.float64)
    return net, x, targets


def write_tensors(path, tensors):
    """docs/GOLDEN.md: "BMGT", u32 version 1, u32 count, then per tensor u32 name length,
    name bytes, u32 ndim, u32 dims[ndim], float32 values (little-endian, C order)."""
    blob = bytearray(b"BMGT")
    blob += struct.pack("<II", 1, len(tensors))
    for name, t in tensors:
        encoded = name.encode("ascii")
        blob += struct.pack("<I", len(encoded)) + encoded
        blob += struct.pack("<I", t.dim()) + struct.pack("<%dI" % t.dim(), *t.shape)
        blob += t.to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
    return len(blob)


def relative_error(a, ref):
    scale = ref.abs().max().item()
    return (a - ref).abs().max().item() / scale if scale > 0 else (a - ref).abs().max().item()


def main():
    cfg = os.path.join(HERE, "golden.cfg")
    for seed in range(FIRST_SEED, FIRST_SEED + 1000):
        net, x, targets = setup(cfg, seed)
        ref, ref_decisions = run(copy.deepcopy(net), x, targets, torch.float64)
        single, single_decisions = run(copy.deepcopy(net), x, targets, torch.float32)
        safety = decision_safety(net, ref_decisions, single_decisions)
        if safety[0] >= MIN_SAFETY:
            break
        print("seed %d: forward %d, layer %d: decision gap only %.1f x the float32 error"
              % (seed, safety[1], safety[2], safety[0]))
    else:
        sys.exit("no seed with every decision gap above %g x the float32 error" % MIN_SAFETY)
    print("seed %d: every decision gap >= %.0f x PyTorch's float32 error (forward %d, layer %d)"
          % (seed, safety[0], safety[1], safety[2]))

    tensors = [("input", x),
               ("meta.seed", torch.tensor([float(seed)])),
               ("meta.flops_per_image", torch.tensor([net.flops_per_image]))]
    for i in net.conv_indices():
        layer = net.layers[i]
        names = (["biases", "scales", "rolling_mean", "rolling_variance", "weights"]
                 if layer.batch_normalize else ["biases", "weights"])
        for name, t in zip(names, net.conv_tensors(layer)):
            tensors.append(("param.%d.%s" % (i, name), t.detach().clone()))
    for i in net.yolo_indices():
        tensors.append(("loss.R.%d" % i, targets[i]))
    tensors += list(ref.items())
    weights_path = os.path.join(HERE, "golden.weights")
    net.save_darknet_weights(weights_path)

    # How far float32 arithmetic (PyTorch's) lands from the float64 reference, by group.
    worst = {}
    for name, value in ref.items():
        parts = name.split(".")
        group = parts[0] + "." + (parts[1] if parts[0] in ("train", "infer")
                                  and not parts[1].isdigit() else parts[-1])
        err = relative_error(single[name].to(torch.float64), value)
        if err >= worst.get(group, (-1, ""))[0]:
            worst[group] = (err, name)
    print("float32 vs float64 reference, max |diff| / max |ref| per group:")
    for group in sorted(worst):
        print("  %-28s %.2e  (%s)" % (group, worst[group][0], worst[group][1]))

    size = write_tensors(os.path.join(HERE, "golden.bin"), tensors)
    print("wrote golden.bin: %d tensors, %d bytes; golden.weights: %d bytes"
          % (len(tensors), size, os.path.getsize(weights_path)))
    print("train.loss = %.9g   infer.loss = %.9g"
          % (ref["train.loss"].item(), ref["infer.loss"].item()))


if __name__ == "__main__":
    main()
