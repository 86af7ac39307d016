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


def keras_weights(model, preact):
    """timm ResNetV2 state -> {keras_vit variable path: array}."""
    out = {}
    for key, value in model.state_dict().items():
        value = value.detach().numpy()
        if value.ndim == 4:
            value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        parts = key.split(".")
        if parts[0] == "stem":
            layer = {"conv": "root/conv_root", "norm": "root/gn_root"}[parts[1]]
        elif parts[0] == "stages":
            unit = f"block{int(parts[1]) + 1}_unit{int(parts[3]) + 1}"
            sub = parts[4]
            if sub == "downsample":
                sub = {"conv": "conv_proj", "norm": "gn_proj"}[parts[5]]
            else:
                sub = sub.replace("norm", "gn")
            layer = f"{unit}/{sub}"
        elif parts[0] == "norm":
            layer = "norm"
        elif parts[0] == "head":
            layer = "head"
            if value.ndim == 4:
                value = value[0, 0]
            elif value.ndim == 2:
                value = value.T
        else:
            raise KeyError(key)
        leaf = parts[-1]
        if layer.startswith("head"):
            name = {"weight": "kernel", "bias": "bias"}[leaf]
        elif "gn" in layer or layer == "norm":
            name = {"weight": "gamma", "bias": "beta"}[leaf]
        else:
            name = "kernel"
        out[f"{layer}/{name}"] = value
    return out


torch.manual_seed(0)
conv = partial(StdConv2dSame, eps=1e-8)
x = torch.randn(2, 3, 45, 37)
for tag, preact, classes in (("stem", False, 0), ("bit", True, 10)):
    net = ResNetV2(layers=[2, 1], num_classes=classes, global_pool="avg" if classes else "", preact=preact,
                   stem_type="same", conv_layer=conv).eval()
    with torch.no_grad():  # random affine parameters so that no part is an identity
        for name, p in net.named_parameters():
            if p.ndim == 1:
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if name.endswith("weight") else 0.0))
            elif "head" in name:
                p.copy_(torch.randn_like(p) * 0.05)
        y = net(x) if classes else net.forward_features(x)
    if y.ndim == 4:
        y = y.permute(0, 2, 3, 1)
    arrays = {f"weight:{k}": v for k, v in keras_weights(net, preact).items()}
    np.savez(f"{OUT}/parity_{tag}.npz", images=x.permute(0, 2, 3, 1).numpy(), outputs=y.numpy(), **arrays)
    print(tag, y.shape, len(arrays), flush=True)
