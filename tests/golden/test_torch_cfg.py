#!/usr/bin/python3
"""Hand-worked checks of bench/torch_cfg.py's layer rules (run by hand, exits 1 on failure):
    /usr/bin/python3 tests/golden/test_torch_cfg.py
The darknet comparison (check_darknet.py) covers the rest; these cover what darknet 2018
cannot (route groups) and the edge rules, on values small enough to work out on paper."""

import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import torch_cfg  # noqa: E402

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAILED:", what)


def net_from(text):
    path = os.path.join(tempfile.mkdtemp(), "t.cfg")
    with open(path, "w") as f:
        f.write(text)
    return torch_cfg.Network(path)


# maxpool size 2 stride 1 keeps 3x3: the last row/column only sees itself and the padding.
x = torch.tensor([[1., 5., 2.], [4., 3., 9.], [0., 8., 6.]]).view(1, 1, 3, 3)
pool = torch_cfg.MaxPool({"size": "2", "stride": "1"})
check(pool(x).view(3, 3).tolist() == [[5, 9, 9], [8, 9, 9], [8, 8, 6]], "maxpool 2/1")
# maxpool 2/2 on 3x3 (odd): padding 1, out = (3 + 1 - 2)/2 + 1 = 2, windows at 0 and 2.
pool = torch_cfg.MaxPool({"size": "2", "stride": "2"})
check(pool(x).view(2, 2).tolist() == [[5, 9], [8, 6]], "maxpool 2/2 odd size")
# maxpool 3/2, padding 2: windows start at -1: out = (4 + 2 - 3)/2 + 1 = 2.
y = torch.arange(16.).view(1, 1, 4, 4)
pool = torch_cfg.MaxPool({"size": "3", "stride": "2"})
check(pool(y).view(2, 2).tolist() == [[5, 7], [13, 15]], "maxpool 3/2")

# upsample stride 2, scale 0.5.
up = torch_cfg.Upsample({"stride": "2", "scale": "0.5"})
check(up(torch.tensor([[[[2., 4.]]]])).tolist() == [[[[1, 1, 2, 2], [1, 1, 2, 2]]]], "upsample")

# route groups=2 group_id=1 takes the second half of each input's channels.
net = net_from("[net]\nwidth=2\nheight=1\nchannels=4\n[maxpool]\nsize=1\nstride=1\n"
               "[route]\nlayers=0\ngroups=2\ngroup_id=1\n")
inp = torch.arange(8.).view(1, 4, 1, 2)
out = net(inp)[1]
check(out.shape == (1, 2, 1, 2) and out.flatten().tolist() == [4, 5, 6, 7], "route groups")
check(net.shapes[1] == (2, 1, 2), "route groups shape")

# yolo: logistic on x, y, obj, classes; w, h raw. 1 anchor, 1 class: 6 channels.
yolo = torch_cfg.Yolo(6, {"classes": "1", "mask": "0", "num": "1", "anchors": "1,1"})
z = torch.zeros(1, 6, 1, 1)
z[0, 2] = 3.0
z[0, 3] = -2.0
check(yolo(z).flatten().tolist() == [0.5, 0.5, 3.0, -2.0, 0.5, 0.5], "yolo logistic entries")

# conv padding: pad=1 gives size/2; without pad, `padding`.
conv = torch_cfg.Conv(1, {"filters": "1", "size": "3", "pad": "1"})
check(conv.out_shape(1, 5, 5) == (1, 5, 5), "conv pad=1")
conv = torch_cfg.Conv(1, {"filters": "1", "size": "3", "stride": "2"})
check(conv.out_shape(1, 5, 5) == (1, 2, 2), "conv no pad stride 2")

# activations at hand-checked points.
t = torch.tensor([-2.0, 0.5])
check(torch.allclose(torch_cfg.activate(t, "leaky"), torch.tensor([-0.2, 0.5])), "leaky")
mish = torch_cfg.activate(torch.tensor([1.0], dtype=torch.float64), "mish").item()
check(abs(mish - 0.8650983882673103) < 1e-12, "mish(1) = tanh(log(1 + e))")
swish = torch_cfg.activate(torch.tensor([1.0], dtype=torch.float64), "swish").item()
check(abs(swish - 0.7310585786300049) < 1e-12, "swish(1) = 1/(1 + 1/e)")

# BN in training mode on one channel [1, 2, 3, 4]: mean 2.5, biased var 1.25,
# unbiased 5/3; rolling var 1 -> 0.99 + 0.01 * 5/3.
conv = torch_cfg.Conv(1, {"filters": "1", "size": "1", "batch_normalize": "1",
                          "activation": "linear"}).double()
with torch.no_grad():
    conv.weights.fill_(1.0)
out = conv(torch.tensor([1., 2., 3., 4.], dtype=torch.float64).view(1, 1, 2, 2)).flatten()
want = (torch.tensor([1., 2., 3., 4.], dtype=torch.float64) - 2.5) / (1.25 + 1e-5) ** 0.5
check(torch.allclose(out, want, rtol=0, atol=1e-12), "BN batch normalisation")
check(abs(conv.rolling_mean.item() - 0.025) < 1e-12, "BN rolling mean")
check(abs(conv.rolling_variance.item() - (0.99 + 0.01 * 5 / 3)) < 1e-12, "BN rolling variance")

print("test_torch_cfg: %s" % ("all passed" if failures == 0 else "%d FAILED" % failures))
sys.exit(1 if failures else 0)
