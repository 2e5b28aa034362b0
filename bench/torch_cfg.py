"""A PyTorch model built from a darknet .cfg file, with darknet's layer semantics.

Used two ways: as the float64 reference behind tests/golden (make_golden.py) and as the
PyTorch side of the speed comparison (torch_bench.py). Run with /usr/bin/python3.

Layers and the darknet rules they follow (docs/GOLDEN.md lists the same):
  [convolutional]  filters, size, stride, pad (pad=1 means padding = size/2, otherwise the
                   `padding` option, default 0), groups, batch_normalize, activation.
                   Without BN the bias is added to the convolution; with BN the bias is BN's
                   shift (beta) and BN's scale (gamma) is darknet's `scales`.
  [maxpool]        size, stride, padding (default size-1, the total over both sides):
                   out = (w + padding - size) / stride + 1, window starts at -padding/2,
                   cells outside the image never win. size=2 stride=1 thus keeps the size
                   and pads one column/row on the right/bottom.
  [upsample]       nearest neighbour by `stride`, output multiplied by `scale` (default 1).
  [route]          layers = a list (negative = relative to this layer); concatenation along
                   channels. groups/group_id take channel slice group_id of each input.
  [shortcut]       from = a layer; output = previous layer's output + that layer's output
                   (same shape only), then `activation` (default linear).
  [dropout]        probability (default 0.5): the identity in inference; in training
                   boxmine's inverted dropout, element i (NHWC order over the batch) of
                   layer l zeroed when a hash of (key, l, i) falls below the probability,
                   the others scaled by 1 / (1 - probability) (src/nn/dropout.c, bm_nn.h);
                   the key is set with Network.set_dropout_key.
  [yolo]           copy of the input with the logistic applied to x, y (entries 0, 1) and
                   objectness + class scores (entries 4 ...) of each anchor in `mask`; w, h
                   stay raw. Channel layout: anchor-major, (4 + 1 + classes) planes each.
Activations: linear, leaky (slope 0.1), relu, logistic, mish, swish.

Batch normalisation follows BN_CONFIG below, which must equal the engine's choice in
include/boxmine/bm_nn.h (see docs/GOLDEN.md).
"""

import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

# Batch normalisation as boxmine's engine does it (include/boxmine/bm_nn.h, "Batch
# normalisation"). Training mode normalises with the batch mean and the BIASED batch
# variance over (batch, y, x): y = gamma * (x - mean) / sqrt(var + eps) + beta. The rolling
# statistics then move towards the batch ones, rolling = (1 - momentum) * rolling +
# momentum * batch, the variance entering them being the UNBIASED one (n / (n - 1)).
# Inference mode normalises with the rolling statistics. These are exactly the semantics of
# torch's F.batch_norm with momentum 0.01, which the fast path (torch_bench.py) uses.
BN_CONFIG = {
    "eps": 1e-5,
    "momentum": 0.01,
    "rolling_var_unbiased": True,
}

ACTIVATIONS = ("linear", "leaky", "relu", "logistic", "mish", "swish")


def activate(x, name):
    if name == "linear":
        return x
    if name == "leaky":
        return F.leaky_relu(x, 0.1)
    if name == "relu":
        return F.relu(x)
    if name == "logistic":
        return torch.sigmoid(x)
    if name == "mish":
        return x * torch.tanh(F.softplus(x))
    if name == "swish":
        return x * torch.sigmoid(x)
    raise ValueError("unknown activation '%s'" % name)


def parse_cfg(path):
    """Returns [(section_name, {key: value_string}, line_number)] in file order."""
    sections = []
    with open(path, "r") as f:
        for line_number, raw in enumerate(f, 1):
            # darknet drops every whitespace character, then comments.
            line = "".join(raw.split())
            if not line or line[0] in "#;":
                continue
            if line[0] == "[":
                if not line.endswith("]"):
                    raise ValueError("%s:%d: bad section header" % (path, line_number))
                sections.append((line[1:-1], {}, line_number))
                continue
            if "=" not in line or not sections:
                raise ValueError("%s:%d: expected key=value" % (path, line_number))
            key, value = line.split("=", 1)
            sections[-1][1][key] = value
    if not sections or sections[0][0] not in ("net", "network"):
        raise ValueError("%s: the first section must be [net]" % path)
    return sections


def _int(options, key, default):
    return int(options.get(key, default))


def _float(options, key, default):
    return float(options.get(key, default))


def _ints(options, key):
    return [int(v) for v in options[key].split(",") if v != ""]


class Conv(nn.Module):
    def __init__(self, in_c, options):
        super().__init__()
        self.filters = _int(options, "filters", 1)
        self.size = _int(options, "size", 1)
        self.stride = _int(options, "stride", 1)
        self.padding = self.size // 2 if _int(options, "pad", 0) else _int(options, "padding", 0)
        self.groups = _int(options, "groups", 1)
        self.batch_normalize = _int(options, "batch_normalize", 0) != 0
        self.activation = options.get("activation", "logistic")
        if self.activation not in ACTIVATIONS:
            raise ValueError("unsupported activation '%s'" % self.activation)
        if in_c % self.groups or self.filters % self.groups:
            raise ValueError("channels %d / filters %d not divisible by groups %d"
                             % (in_c, self.filters, self.groups))
        self.in_c = in_c
        n = self.filters
        self.weights = nn.Parameter(torch.zeros(n, in_c // self.groups, self.size, self.size))
        self.biases = nn.Parameter(torch.zeros(n))
        if self.batch_normalize:
            self.scales = nn.Parameter(torch.ones(n))
            self.register_buffer("rolling_mean", torch.zeros(n))
            self.register_buffer("rolling_variance", torch.ones(n))
        self.fast_bn = False  # torch_bench.py: F.batch_norm instead of the exact formula
        self.keep = False  # make_golden.py: keep z and the pre-activation of the last forward
        self.z = None
        self.pre = None

    def out_shape(self, c, h, w):
        oh = (h + 2 * self.padding - self.size) // self.stride + 1
        ow = (w + 2 * self.padding - self.size) // self.stride + 1
        return self.filters, oh, ow

    def flops(self, c, h, w):
        """Multiply-adds counted as 2 flops, for one image (bias, BN, activation left out)."""
        _, oh, ow = self.out_shape(c, h, w)
        return 2.0 * self.filters * (c // self.groups) * self.size * self.size * oh * ow

    def forward(self, x):
        has_bias = not self.batch_normalize
        y = F.conv2d(x, self.weights, self.biases if has_bias else None,
                     stride=self.stride, padding=self.padding, groups=self.groups)
        if self.keep:
            if y.requires_grad:
                y.retain_grad()  # make_golden.py reads dL/dz, z = convolution (+ bias) before BN
            self.z = y
        if self.batch_normalize:
            y = self.batch_norm(y)
        if self.keep:
            self.pre = y.detach()
        return activate(y, self.activation)

    def batch_norm(self, y):
        eps = BN_CONFIG["eps"]
        if self.fast_bn:
            # torch's fused kernel: the same rules when rolling_var_unbiased is set.
            return F.batch_norm(y, self.rolling_mean, self.rolling_variance, self.scales,
                                self.biases, self.training, BN_CONFIG["momentum"], eps)
        if self.training:
            mean = y.mean(dim=(0, 2, 3))
            centred = y - mean.view(1, -1, 1, 1)
            var = (centred * centred).mean(dim=(0, 2, 3))
            with torch.no_grad():
                m = BN_CONFIG["momentum"]
                count = y.shape[0] * y.shape[2] * y.shape[3]
                batch_var = var * count / (count - 1) if BN_CONFIG["rolling_var_unbiased"] else var
                self.rolling_mean.mul_(1 - m).add_(m * mean)
                self.rolling_variance.mul_(1 - m).add_(m * batch_var)
        else:
            mean = self.rolling_mean
            var = self.rolling_variance
            centred = y - mean.view(1, -1, 1, 1)
        inv_std = 1.0 / torch.sqrt(var + eps)
        return (centred * (self.scales * inv_std).view(1, -1, 1, 1)
                + self.biases.view(1, -1, 1, 1))


class MaxPool(nn.Module):
    def __init__(self, options):
        super().__init__()
        self.size = _int(options, "size", 1)
        self.stride = _int(options, "stride", self.size)
        self.padding = _int(options, "padding", self.size - 1)
        self.keep = False  # make_golden.py: keep the last input
        self.last_input = None

    def out_shape(self, c, h, w):
        return (c, (h + self.padding - self.size) // self.stride + 1,
                (w + self.padding - self.size) // self.stride + 1)

    def forward(self, x):
        if self.keep:
            self.last_input = x.detach()
        _, oh, ow = self.out_shape(x.shape[1], x.shape[2], x.shape[3])
        before = self.padding // 2
        # Pad enough for the last window; -inf never wins (every window holds a real cell).
        after_h = max(0, (oh - 1) * self.stride + self.size - x.shape[2] - before)
        after_w = max(0, (ow - 1) * self.stride + self.size - x.shape[3] - before)
        if before or after_h or after_w:
            x = F.pad(x, (before, after_w, before, after_h), value=-math.inf)
        y = F.max_pool2d(x, self.size, self.stride)
        return y[:, :, :oh, :ow]


class Upsample(nn.Module):
    def __init__(self, options):
        super().__init__()
        self.stride = _int(options, "stride", 2)
        self.scale = _float(options, "scale", 1.0)
        if self.stride < 1:
            raise ValueError("upsample: only positive strides are supported")

    def out_shape(self, c, h, w):
        return c, h * self.stride, w * self.stride

    def forward(self, x):
        y = x.repeat_interleave(self.stride, dim=2).repeat_interleave(self.stride, dim=3)
        return y * self.scale if self.scale != 1.0 else y


class Route(nn.Module):
    def __init__(self, index, options):
        super().__init__()
        self.sources = [v if v >= 0 else index + v for v in _ints(options, "layers")]
        for s in self.sources:
            if not 0 <= s < index:
                raise ValueError("route: layer %d out of range" % s)
        self.groups = _int(options, "groups", 1)
        self.group_id = _int(options, "group_id", 0)

    def forward(self, outputs):
        parts = []
        for s in self.sources:
            x = outputs[s]
            part = x.shape[1] // self.groups
            parts.append(x[:, self.group_id * part:(self.group_id + 1) * part])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class Shortcut(nn.Module):
    def __init__(self, index, options):
        super().__init__()
        v = _int(options, "from", -1)
        self.source = v if v >= 0 else index + v
        if not 0 <= self.source < index:
            raise ValueError("shortcut: layer %d out of range" % self.source)
        self.activation = options.get("activation", "linear")

    def forward(self, previous, outputs):
        other = outputs[self.source]
        if other.shape != previous.shape:
            raise ValueError("shortcut: shapes differ %s vs %s" % (tuple(other.shape),
                                                                   tuple(previous.shape)))
        return activate(previous + other, self.activation)


MASK64 = (1 << 64) - 1


def _mix64(x):
    """splitmix64's finaliser, as src/nn/dropout.c."""
    x ^= x >> 30
    x = (x * 0xbf58476d1ce4e5b9) & MASK64
    x ^= x >> 27
    x = (x * 0x94d049bb133111eb) & MASK64
    x ^= x >> 31
    return x


class Dropout(nn.Module):
    def __init__(self, index, options):
        super().__init__()
        self.index = index
        # the engine keeps the probability as a float32
        self.probability = struct.unpack("<f", struct.pack("<f", _float(options, "probability",
                                                                         0.5)))[0]
        if not 0 <= self.probability < 1:
            raise ValueError("dropout: probability must be in [0, 1)")
        self.key = 0
        self._cache = None  # (key, shape) -> mask

    def keep_mask(self, shape):
        """1 where element (b, c, y, x) survives, for the current key (NCHW, float64)."""
        if self._cache and self._cache[0] == (self.key, shape):
            return self._cache[1]
        b, c, h, w = shape
        layer_key = _mix64(self.key ^ _mix64((0x64726f706f7574 + self.index) & MASK64))
        cut = int(self.probability * 16777216.0)
        keep = []
        for i in range(b * h * w * c):  # NHWC order, as the engine numbers elements
            u = _mix64((layer_key + 0x9e3779b97f4a7c15 * (i + 1)) & MASK64) >> 40
            keep.append(1.0 if u >= cut else 0.0)
        mask = torch.tensor(keep, dtype=torch.float64).view(b, h, w, c).permute(0, 3, 1, 2)
        self._cache = ((self.key, shape), mask.contiguous())
        return self._cache[1]

    def forward(self, x):
        if not self.training or self.probability == 0:
            return x
        mask = self.keep_mask(tuple(x.shape)).to(x.dtype)
        return x * mask / (1.0 - self.probability)


class Yolo(nn.Module):
    def __init__(self, c, options):
        super().__init__()
        self.classes = _int(options, "classes", 20)
        n_total = _int(options, "num", 1)
        self.mask = _ints(options, "mask") if "mask" in options else list(range(n_total))
        self.anchors = [float(v) for v in options.get("anchors", "").split(",") if v != ""]
        self.n_anchors = len(self.mask)
        if c != self.n_anchors * (5 + self.classes):
            raise ValueError("yolo: input has %d channels, expected %d"
                             % (c, self.n_anchors * (5 + self.classes)))
        # 1 where the logistic applies: x, y, objectness, classes of every anchor.
        entry = torch.ones(5 + self.classes)
        entry[2:4] = 0
        self.register_buffer("logistic_mask", entry.repeat(self.n_anchors).view(1, -1, 1, 1))

    def forward(self, x):
        m = self.logistic_mask.to(x.dtype)
        return m * torch.sigmoid(x) + (1 - m) * x


class Network(nn.Module):
    """layers[i] is darknet layer i; forward returns the list of every layer's output."""

    def __init__(self, cfg_path, width=None, height=None, channels=None):
        super().__init__()
        sections = parse_cfg(cfg_path)
        net = sections[0][1]
        self.batch = _int(net, "batch", 1)
        self.width = width or _int(net, "width", 0)
        self.height = height or _int(net, "height", 0)
        self.channels = channels or _int(net, "channels", 3)
        self.learning_rate = _float(net, "learning_rate", 0.001)
        self.momentum = _float(net, "momentum", 0.9)
        self.decay = _float(net, "decay", 0.0001)
        if self.width <= 0 or self.height <= 0:
            raise ValueError("%s: [net] needs width and height" % cfg_path)
        self.kinds = []
        self.shapes = []  # (c, h, w) of each layer's output
        self.flops_per_image = 0.0
        layers = []
        c, h, w = self.channels, self.height, self.width
        for index, (kind, options, line) in enumerate(sections[1:]):
            try:
                if kind in ("convolutional", "conv"):
                    layer = Conv(c, options)
                    self.flops_per_image += layer.flops(c, h, w)
                    c, h, w = layer.out_shape(c, h, w)
                    kind = "convolutional"
                elif kind in ("maxpool", "max"):
                    layer = MaxPool(options)
                    c, h, w = layer.out_shape(c, h, w)
                    kind = "maxpool"
                elif kind == "upsample":
                    layer = Upsample(options)
                    c, h, w = layer.out_shape(c, h, w)
                elif kind == "route":
                    layer = Route(index, options)
                    c = sum(self.shapes[s][0] // layer.groups for s in layer.sources)
                    h, w = self.shapes[layer.sources[0]][1:]
                    for s in layer.sources:
                        if self.shapes[s][1:] != (h, w):
                            raise ValueError("route: inputs differ in size")
                elif kind == "shortcut":
                    layer = Shortcut(index, options)
                elif kind == "dropout":
                    layer = Dropout(index, options)
                elif kind == "yolo":
                    layer = Yolo(c, options)
                else:
                    raise ValueError("unsupported section [%s]" % kind)
            except (ValueError, KeyError) as e:
                raise ValueError("%s:%d: [%s]: %s" % (cfg_path, line, kind, e)) from None
            self.kinds.append(kind)
            self.shapes.append((c, h, w))
            layers.append(layer)
        self.layers = nn.ModuleList(layers)

    def conv_indices(self):
        return [i for i, k in enumerate(self.kinds) if k == "convolutional"]

    def yolo_indices(self):
        return [i for i, k in enumerate(self.kinds) if k == "yolo"]

    def set_keep(self, on):
        for layer in self.layers:
            if isinstance(layer, (Conv, MaxPool)):
                layer.keep = on
                for name in ("z", "pre", "last_input"):
                    if not on and hasattr(layer, name):
                        setattr(layer, name, None)

    def set_dropout_key(self, key):
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.key = key & MASK64

    def set_fast_bn(self, on):
        for layer in self.layers:
            if isinstance(layer, Conv):
                layer.fast_bn = on

    def forward(self, x):
        outputs = []
        for layer in self.layers:
            if isinstance(layer, Route):
                x = layer(outputs)
            elif isinstance(layer, Shortcut):
                x = layer(x, outputs)
            else:
                x = layer(x)
            outputs.append(x)
        return outputs

    # --- darknet .weights ---------------------------------------------------------------
    def conv_tensors(self, layer):
        """The tensors of one conv layer in .weights file order."""
        if layer.batch_normalize:
            return [layer.biases, layer.scales, layer.rolling_mean, layer.rolling_variance,
                    layer.weights]
        return [layer.biases, layer.weights]

    def save_darknet_weights(self, path, seen=0):
        with open(path, "wb") as f:
            f.write(struct.pack("<iiiq", 0, 2, 0, seen))  # major 0, minor 2: seen is int64
            for i in self.conv_indices():
                for t in self.conv_tensors(self.layers[i]):
                    f.write(t.detach().to(torch.float32).contiguous().numpy().tobytes())

    def load_darknet_weights(self, path):
        with open(path, "rb") as f:
            data = f.read()
        major, minor, revision = struct.unpack_from("<iii", data, 0)
        offset = 12 + (8 if major * 10 + minor >= 2 and major < 1000 and minor < 1000 else 4)
        for i in self.conv_indices():
            for t in self.conv_tensors(self.layers[i]):
                n = t.numel()
                if offset + 4 * n > len(data):
                    raise ValueError("%s: ends inside layer %d" % (path, i))
                values = torch.frombuffer(bytearray(data[offset:offset + 4 * n]),
                                          dtype=torch.float32)
                with torch.no_grad():
                    t.copy_(values.view(t.shape).to(t.dtype))
                offset += 4 * n
        if offset != len(data):
            raise ValueError("%s: %d bytes left after the last layer" % (path, len(data) - offset))

    def init_random(self, generator):
        """Random parameters with He-scaled weights and non-trivial BN state."""
        with torch.no_grad():
            for i in self.conv_indices():
                layer = self.layers[i]
                fan_in = layer.weights[0].numel()
                std = math.sqrt(2.0 / fan_in)
                dtype = layer.weights.dtype
                layer.weights.copy_(torch.randn(layer.weights.shape, generator=generator,
                                                dtype=torch.float64).to(dtype) * std)
                layer.biases.copy_(0.1 * torch.randn(layer.filters, generator=generator,
                                                     dtype=torch.float64).to(dtype))
                if layer.batch_normalize:
                    u = torch.rand(layer.filters, generator=generator, dtype=torch.float64)
                    layer.scales.copy_((0.5 + u).to(dtype))
                    layer.rolling_mean.copy_(0.1 * torch.randn(
                        layer.filters, generator=generator, dtype=torch.float64).to(dtype))
                    u = torch.rand(layer.filters, generator=generator, dtype=torch.float64)
                    layer.rolling_variance.copy_((0.5 + u).to(dtype))


def describe(net):
    """darknet-like one line per layer, for eyeballing."""
    lines = []
    for i, (kind, shape) in enumerate(zip(net.kinds, net.shapes)):
        lines.append("%3d %-14s -> %4d x %4d x %4d" % (i, kind, shape[2], shape[1], shape[0]))
    return "\n".join(lines)


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 2:
        sys.exit("usage: torch_cfg.py NET.cfg   (prints the layers and forward flops)")
    model = Network(sys.argv[1])
    print(describe(model))
    print("forward conv GFLOP per image: %.4f" % (model.flops_per_image / 1e9))
