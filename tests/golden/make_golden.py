#!/usr/bin/python3
"""Writes the golden reference data for tests/test_nn_golden.c (format: docs/GOLDEN.md).

Run by hand from the repository's top folder with Debian's Python (it has torch):
    /usr/bin/python3 tests/golden/make_golden.py
It reads tests/golden/golden.cfg and writes tests/golden/golden.weights (darknet format)
and tests/golden/golden.bin (named float32 tensors). Everything is computed in float64
from a fixed seed and stored as float32; the script also runs the same steps in float32
and prints how far that lands from the float64 reference, which is what the tolerances in
the C test are measured against.
"""

import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import torch_cfg  # noqa: E402

SEED = 20240611
SGD_STEPS = 3
SMALL_FILTER_SCALE = 0.003
# The optimiser the golden SGD steps follow (docs/GOLDEN.md), per parameter p with
# gradient g and velocity v (zero at the start):
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


def run(net, x, targets, dtype):
    """Every quantity the golden file holds, computed with net (already holding the
    initial parameters) in dtype. Returns {name: tensor}."""
    result = {}
    net = net.to(dtype)
    x = x.to(dtype).clone().requires_grad_(True)
    targets = {k: v.to(dtype) for k, v in targets.items()}
    conv = net.conv_indices()

    # Inference mode first: it must not touch the rolling statistics.
    net.eval()
    with torch.no_grad():
        outputs = net(x)
    for i, out in enumerate(outputs):
        result["infer.out.%d" % i] = out
    result["infer.loss"] = loss_of(net, outputs, targets).reshape(1)

    # One training step: forward with batch statistics, loss, backward.
    net.train()
    net.zero_grad()
    outputs = net(x)
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
    result["train.grad_input"] = x.grad.clone()
    for i in conv:
        layer = net.layers[i]
        for name in conv_param_names(layer):
            result["grad.%d.%s" % (i, name)] = getattr(layer, name).grad.clone()
        if layer.batch_normalize:
            result["train.rolling_mean.%d" % i] = layer.rolling_mean.clone()
            result["train.rolling_variance.%d" % i] = layer.rolling_variance.clone()

    # SGD: the step above is step 1 (its gradients are in .grad); SGD_STEPS in all.
    velocity = {}
    for step in range(SGD_STEPS):
        if step > 0:
            net.zero_grad()
            loss_of(net, net(x), targets).backward()
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
    return {k: v.detach() for k, v in result.items()}


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
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    net = torch_cfg.Network(cfg).to(torch.float64)
    net.init_random(gen)
    # Filter 0 of every BN conv gets tiny weights, so its batch variance is of the order of
    # eps and the training-mode outputs tell an eps of 1e-5 from other choices.
    with torch.no_grad():
        for i in net.conv_indices():
            if net.layers[i].batch_normalize:
                net.layers[i].weights[0] *= SMALL_FILTER_SCALE
    # Parameters as float32 values, so the .weights file (float32) is exactly the start
    # point of the float64 reference.
    with torch.no_grad():
        for p in list(net.parameters()) + list(net.buffers()):
            p.copy_(p.to(torch.float32).to(torch.float64))
    batch, c, h, w = net.batch, net.channels, net.height, net.width
    x = torch.rand(batch, c, h, w, generator=gen, dtype=torch.float64)
    x = x.to(torch.float32).to(torch.float64)
    targets = {}
    for i in net.yolo_indices():
        shape = (batch,) + net.shapes[i]
        targets[i] = torch.randn(shape, generator=gen, dtype=torch.float64)
        targets[i] = targets[i].to(torch.float32).to(torch.float64)

    tensors = [("input", x),
               ("meta.flops_per_image", torch.tensor([net.flops_per_image]))]
    for i in net.conv_indices():
        layer = net.layers[i]
        for name, t in zip(
                ["biases", "scales", "rolling_mean", "rolling_variance", "weights"]
                if layer.batch_normalize else ["biases", "weights"],
                net.conv_tensors(layer)):
            tensors.append(("param.%d.%s" % (i, name), t.detach().clone()))
    for i in net.yolo_indices():
        tensors.append(("loss.R.%d" % i, targets[i]))
    weights_path = os.path.join(HERE, "golden.weights")
    net.save_darknet_weights(weights_path)

    import copy
    ref = run(copy.deepcopy(net), x, targets, torch.float64)
    single = run(copy.deepcopy(net), x, targets, torch.float32)
    tensors += list(ref.items())

    # How far float32 arithmetic (PyTorch's) lands from the float64 reference, by group.
    worst = {}
    for name, value in ref.items():
        group = name.split(".")[0] + "." + name.split(".")[1] if name.startswith(
            ("train", "infer")) else name.split(".")[0] + "." + name.split(".")[-1]
        err = relative_error(single[name].to(torch.float64), value)
        if err > worst.get(group, (0, ""))[0]:
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
