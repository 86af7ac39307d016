"""Runs in its own process (importing timm after TensorFlow can crash the process): a tiny timm ViT made with
dynamic_img_size=True and random weights, its state dict and its logits at several image sizes, and torch's
antialiased bicubic resize of random grids (what timm's resample_abs_pos_embed calls).

    python tests/dynamic_size_worker.py OUT_DIR
"""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

SIZES = [(32, 32), (48, 24), (16, 40), (64, 64)]  # (height, width); the model is made for 32x32
RESIZES = [((4, 4), (6, 3)), ((14, 14), (24, 24)), ((14, 14), (7, 9)), ((5, 7), (5, 2)), ((24, 24), (14, 14))]


def main(out_dir):
    torch.manual_seed(0)
    model = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
                              num_classes=5, dynamic_img_size=True).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # every weight random, the position table and the head included
            parameter.normal_(0.0, 0.2)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out_dir}/vit.safetensors")
    rng = np.random.default_rng(0)
    arrays = {}
    for height, width in SIZES:
        images = rng.normal(size=(2, height, width, 3)).astype("float32")
        with torch.no_grad():
            logits = model(torch.from_numpy(images).permute(0, 3, 1, 2))
        arrays[f"images_{height}x{width}"], arrays[f"logits_{height}x{width}"] = images, logits.numpy()
    for index, (old, new) in enumerate(RESIZES):
        grid = rng.normal(size=(1, 3, *old)).astype("float32")
        resized = F.interpolate(torch.from_numpy(grid), size=new, mode="bicubic", align_corners=False, antialias=True)
        arrays[f"grid_{index}"], arrays[f"resized_{index}"] = grid, resized.numpy()
    np.savez(f"{out_dir}/reference.npz", **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
