"""Writes timm's reference numbers for the hybrid and BiT specs (run where torch and timm are installed).

    python tools/timm_reference.py OUT_DIR

OUT_DIR/timm_counts.json: parameter counts of timm's models at 224 with 1000 classes; timm_flops.json: MACs that
torch's FlopCounterMode measures for a few of them; parity_stem.npz and parity_bit.npz: weights (in Keras layouts and
keras_vit's variable paths), inputs and outputs of small timm ResNetV2 networks with TF-style SAME padding, which
tests/test_timm_parity.py compares with keras_vit's layers.
"""

import json
import sys
from functools import partial

import numpy as np
import timm
import torch
from timm.layers import StdConv2dSame
from timm.models.resnetv2 import ResNetV2

OUT = sys.argv[1]
NAMES = [
    "vit_base_r50_s16_224", "vit_large_r50_s32_224", "vit_small_r26_s32_224", "vit_tiny_r_s16_p8_224",
    "resnetv2_50x1_bit", "resnetv2_50x3_bit", "resnetv2_101x1_bit", "resnetv2_101x3_bit", "resnetv2_152x2_bit",
    "resnetv2_152x4_bit", "vit_base_patch16_224",
]
counts = {}
for name in NAMES:
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, num_classes=1000)
    counts[name] = sum(p.numel() for p in model.parameters())
    print(name, counts[name], flush=True)
json.dump({"timm": timm.__version__, "counts": counts}, open(f"{OUT}/timm_counts.json", "w"), indent=1)

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

flops = {}
for name in ["vit_base_patch16_224", "vit_base_r50_s16_224", "resnetv2_50x1_bit", "vit_tiny_r_s16_p8_224"]:
    model = timm.create_model(name, pretrained=False, num_classes=1000).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    flops[name] = counter.get_total_flops() // 2
    print(name, "MACs", flops[name], flush=True)
json.dump({"timm": timm.__version__, "torch": torch.__version__, "macs": flops}, open(f"{OUT}/timm_flops.json", "w"), indent=1)


def keras_path(key, ndim):
    """A timm ResNetV2 state-dict key -> the keras_vit variable path of the same weight."""
    parts = key.split(".")
    if parts[0] == "stem":
        layer = {"conv": "root/conv_root", "norm": "root/gn_root"}[parts[1]]
    elif parts[0] == "stages":
        sub = parts[4]
        if sub == "downsample":
            sub = {"conv": "conv_proj", "norm": "gn_proj"}[parts[5]]
        else:
            sub = sub.replace("norm", "gn")
        layer = f"block{int(parts[1]) + 1}_unit{int(parts[3]) + 1}/{sub}"
    elif parts[0] in ("norm", "head"):
        layer = parts[0]
    else:
        raise KeyError(key)
    if layer == "head":
        return "head/" + ("kernel" if ndim > 1 else "bias")
    if ndim == 1:
        return layer + "/" + ("gamma" if parts[-1] == "weight" else "beta")
    return layer + "/kernel"


def keras_value(rng, path, shape):
    """The value both sides generate for a weight, in Keras layout (the same rule in tests/test_timm_parity.py)."""
    value = rng.standard_normal(shape).astype("float32")
    if path.endswith("gamma"):
        return value * 0.3 + 1.0
    if path.endswith(("beta", "bias")):
        return value * 0.3
    return value * (0.05 if path.startswith("head") else 0.1)


def to_torch(value, torch_shape):
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)  # HWIO -> OIHW
    if value.ndim == 2:
        value = value.T  # (in, out) -> (out, in)
        return value.reshape(torch_shape)  # a 1x1 conv head keeps (out, in, 1, 1)
    return value


def keras_shape(torch_shape):
    if len(torch_shape) == 4:
        return (torch_shape[2], torch_shape[3], torch_shape[1], torch_shape[0])
    if len(torch_shape) == 2:
        return (torch_shape[1], torch_shape[0])
    return tuple(torch_shape)


conv = partial(StdConv2dSame, eps=1e-8)
for tag, preact, classes in (("stem", False, 0), ("bit", True, 10)):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 45, 37, 3)).astype("float32")
    net = ResNetV2(layers=[2, 1], num_classes=classes, global_pool="avg" if classes else "", preact=preact,
                   stem_type="same", conv_layer=conv).eval()
    paths, shapes = [], []
    with torch.no_grad():
        for key, param in net.state_dict().items():
            torch_shape = tuple(param.shape)
            shape = keras_shape(torch_shape)
            if key.startswith("head") and len(torch_shape) == 4:
                shape = (torch_shape[1], torch_shape[0])  # 1x1 conv head == dense layer
            path = keras_path(key, len(shape))
            value = keras_value(rng, path, shape)
            param.copy_(torch.from_numpy(np.ascontiguousarray(to_torch(value, torch_shape))))
            paths.append(path)
            shapes.append(",".join(map(str, shape)))
        x = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
        y = net(x) if classes else net.forward_features(x)
    if y.ndim == 4:
        y = y.permute(0, 2, 3, 1)
    np.savez(f"{OUT}/parity_{tag}.npz", outputs=y.numpy(), paths=np.array(paths), shapes=np.array(shapes),
             timm=np.array(timm.__version__))
    print(tag, tuple(y.shape), len(paths), flush=True)
