"""Writes tests/weights/fixtures/timm_{vit,hybrid,tnt}.{safetensors,npz,json} (run where torch and timm are
installed; not collected by pytest):

    python tests/weights/make_timm_fixtures.py OUT_DIR

Each timm model is built at 32x32 with 2 blocks of width 32, every state-dict tensor is redrawn from normal(0, 0.2)
(torch.manual_seed(0)), and the logits of two random images are saved with the images (NHWC). The committed
fixtures came from this code (timm 1.0.29, torch 2.11.0, on the project's GPU machine, run as a one-off command).
"""

import json
import os
import sys
from functools import partial

import numpy as np
import timm
import torch
from safetensors.torch import save_file
from timm.models import tnt, vision_transformer_hybrid
from timm.models.vision_transformer import VisionTransformer

VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0, num_classes=10)
TNT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_classes=10, mlp_ratio=2.0, qkv_bias=False,
           inner_dim=8, num_heads_inner=2, num_heads_outer=2)


def hybrid():
    backbone = vision_transformer_hybrid._resnetv2(layers=(1,))
    return VisionTransformer(**dict(VIT, patch_size=2),
                             embed_layer=partial(vision_transformer_hybrid.HybridEmbed, backbone=backbone))


def write(out, name, make, config):
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.normal_(0, 0.2)
        images = torch.randn(2, 3, 32, 32)
        logits = model(images)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, name + ".safetensors"))
    np.savez(os.path.join(out, name + ".npz"), images=images.permute(0, 2, 3, 1).numpy(), logits=logits.numpy())
    config = dict(config, timm=timm.__version__, torch=torch.__version__)
    with open(os.path.join(out, name + ".json"), "w") as handle:
        json.dump(config, handle)


if __name__ == "__main__":
    out = sys.argv[1]
    write(out, "timm_vit", lambda: VisionTransformer(**VIT), VIT)
    write(out, "timm_hybrid", hybrid, dict(VIT, patch_size=2, stem_layers=[1]))
    write(out, "timm_tnt", lambda: tnt.TNT(**TNT), TNT)
