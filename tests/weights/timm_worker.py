"""Runs in its own process (importing timm's torchvision after TensorFlow crashes the process): builds a timm model
with random weights, saves its state dict and its logits on fixed images.

    python tests/weights/timm_worker.py CASE OUT_DIR FILE_TYPE      (FILE_TYPE: pth or safetensors)

A CASE with a tag ("vit_base_patch16_224.augreg2_in21k_ft_in1k") builds that published checkpoint's model as timm
does (its number of classes) and gives it images of the tag's input size.
"""

import sys
from functools import partial

import numpy as np
import timm
import torch


def build(case):
    if case == "vit_base_r50_small":  # R50-style hybrid with a shallow stem and encoder, to stay small
        from timm.models import vision_transformer_hybrid as hybrid
        from timm.models.vision_transformer import VisionTransformer

        backbone = hybrid._resnetv2(layers=(1, 1))
        return VisionTransformer(img_size=224, patch_size=1, embed_dim=768, depth=2, num_heads=12, num_classes=10,
                                 embed_layer=partial(hybrid.HybridEmbed, backbone=backbone))
    if case == "resnetv2_50x1_same":  # timm's ResNetV2 with TF "SAME" padding (as its hybrids' stems)
        from timm.layers import StdConv2dSame
        from timm.models.resnetv2 import ResNetV2

        return ResNetV2(layers=[3, 4, 6, 3], num_classes=10, stem_type="same",
                        conv_layer=partial(StdConv2dSame, eps=1e-8))
    if "." in case:  # a manifest entry: timm's own configuration of that checkpoint
        return timm.create_model(case, pretrained=False)
    if "dinov2" in case:  # DINOv2 at 224x224 instead of 518x518, as the other cases
        return timm.create_model(case, pretrained=False, num_classes=10, img_size=224)
    return timm.create_model(case, pretrained=False, num_classes=10)


def randomized(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            noise = torch.randn(tensor.shape, generator=generator)
            tensor.copy_(1.0 + 0.1 * noise if "norm" in key and key.endswith("weight") else 0.05 * noise)
    return model.eval()


def main(case, out, file_type):
    model = randomized(build(case))
    size = model.pretrained_cfg["input_size"][-1] if "." in case else 224
    images = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    with torch.no_grad():
        logits = model(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy()
    np.savez(f"{out}/reference.npz", images=images, logits=logits)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if file_type == "pth":
        torch.save(state, f"{out}/model.pth")
    else:
        from safetensors.torch import save_file

        save_file(state, f"{out}/model.safetensors")


if __name__ == "__main__":
    main(*sys.argv[1:4])
