"""Writes tests/weights/fixtures/timm_{vit,hybrid,tnt}.{safetensors,npz,json} and, with --backbones, the
DINOv2, SigLIP and EVA-02 fixtures timm_{dinov2,siglip,eva02_tiny,eva02_base}.* (run where torch and timm are
installed; not collected by pytest):

    python tests/weights/make_timm_fixtures.py OUT_DIR [--backbones]

Each timm model is built at 32x32 with 2 blocks of width 32, every state-dict tensor is redrawn from normal(0, 0.2)
(torch.manual_seed(0)), and the logits of two random images are saved with the images (NHWC). The committed
fixtures came from this code (timm 1.0.29, torch 2.11.0, on the project's GPU machine, run as a one-off command);
the backbones' (timm's own architectures by name, at 42x42 or 48x48) from timm 1.0.31, torch 2.14.1 on a CPU machine.
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


# timm's architectures by name, shrunk: eva02_base keeps its 16x16 rotary reference grid on a 3x3 patch grid.
SMALL = dict(embed_dim=32, depth=2, num_heads=2, num_classes=10)
BACKBONES = {
    "timm_dinov2": ("vit_small_patch14_reg4_dinov2", dict(SMALL, img_size=42)),
    "timm_siglip": ("vit_base_patch16_siglip_224", dict(SMALL, img_size=48)),
    "timm_eva02_tiny": ("eva02_tiny_patch14_224", dict(SMALL, img_size=42)),
    "timm_eva02_base": ("eva02_base_patch14_448", dict(SMALL, img_size=42)),
}


def write(out, name, make, config):
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.normal_(0, 0.2)
        size = config["img_size"]
        images = torch.randn(2, 3, size, size)
        logits = model(images)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, name + ".safetensors"))
    np.savez(os.path.join(out, name + ".npz"), images=images.permute(0, 2, 3, 1).numpy(), logits=logits.numpy())
    config = dict(config, timm=timm.__version__, torch=torch.__version__)
    with open(os.path.join(out, name + ".json"), "w") as handle:
        json.dump(config, handle)


if __name__ == "__main__":
    out = sys.argv[1]
    if "--backbones" in sys.argv:
        for name, (timm_name, config) in BACKBONES.items():
            make = partial(timm.create_model, timm_name, pretrained=False, **config)
            write(out, name, make, dict(config, name=timm_name))
        sys.exit()
    write(out, "timm_vit", lambda: VisionTransformer(**VIT), VIT)
    write(out, "timm_hybrid", hybrid, dict(VIT, patch_size=2, stem_layers=[1]))
    write(out, "timm_tnt", lambda: tnt.TNT(**TNT), TNT)
