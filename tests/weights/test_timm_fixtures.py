"""Logits of timm models (timm 1.0.29, random weights) against keras_vit models loaded from their state dicts.

tests/weights/fixtures/timm_{vit,hybrid,tnt}.* were written on a machine with torch and timm (tests/weights/make_timm_fixtures.py): each timm model got normal(0, 0.2) values in every parameter, its state
dict saved as .safetensors, and its logits on two random 32x32 images saved with the images (NHWC) in the .npz.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import keras_vit

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TIMM_STEM = {"std_conv_epsilon": 1e-8, "std_conv_epsilon_mode": "variance", "group_norm_epsilon": 1e-5}


def keras_model(name):
    config = json.loads((FIXTURES / f"timm_{name}.json").read_text())
    common = dict(
        image_size=config["img_size"],
        patch_size=config["patch_size"],
        hidden_dim=config["embed_dim"],
        num_layers=config["depth"],
        intermediate_dim=int(config["embed_dim"] * config["mlp_ratio"]),
        num_classes=config["num_classes"],
    )
    if name == "vit":
        return keras_vit.create("vit_ti16", num_heads=config["num_heads"], **common)
    if name == "hybrid":
        stem = {"stage_sizes": config["stem_layers"], **TIMM_STEM}
        return keras_vit.create("vit_r50_b16", num_heads=config["num_heads"], stem=stem, **common)
    # timm's TNT fixes the inner MLP ratio at 4 and the word convolution at 7x7, stride 4.
    return keras_vit.create(
        "tnt_s16",
        num_heads=config["num_heads_outer"],
        inner_dim=config["inner_dim"],
        inner_num_heads=config["num_heads_inner"],
        inner_intermediate_dim=4 * config["inner_dim"],
        pixel_stride=4,
        pixel_kernel_size=7,
        **common,
    )


@pytest.mark.parametrize("name", ["vit", "hybrid", "tnt"])
def test_logits_equal_timm(name):
    model = keras_model(name)
    report = keras_vit.weights.load(model, FIXTURES / f"timm_{name}.safetensors")
    assert report.num_assigned == len(model.weights) and not report.dropped and not report.resampled
    data = np.load(FIXTURES / f"timm_{name}.npz")
    logits = np.asarray(model(data["images"]))
    np.testing.assert_allclose(logits, data["logits"], rtol=1e-4, atol=1e-4 * np.abs(data["logits"]).max())
