"""Live parity with timm (marker `parity`: needs torch and timm, `pip install keras-vit[parity]`): timm builds the
released architectures with random weights (in a subprocess, tests/weights/timm_worker.py), keras_vit converts
the state dict (from a .pth or a .safetensors file) and the logits must agree to 1e-4."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras_vit

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(
        importlib.util.find_spec("timm") is None or importlib.util.find_spec("torch") is None,
        reason="needs torch and timm (pip install keras-vit[parity])",
    ),
]
WORKER = Path(__file__).resolve().parent / "timm_worker.py"
# timm's hybrids standardize weights by sqrt(var + 1e-8) and use GroupNorm epsilon 1e-5 (the zoo's hybrid specs
# use the original release's constants).
TIMM_STEM = {"std_conv_epsilon": 1e-8, "std_conv_epsilon_mode": "variance", "group_norm_epsilon": 1e-5}


@pytest.mark.parametrize(
    "zoo_name,case,overrides,file_type",
    [
        ("vit_ti16", "vit_tiny_patch16_224", {}, "pth"),
        ("vit_r_ti16", "vit_tiny_r_s16_p8_224", {"stem": TIMM_STEM}, "safetensors"),
        ("vit_r50_b16", "vit_base_r50_small", {"stem": dict(TIMM_STEM, stage_sizes=[1, 1]), "num_layers": 2}, "pth"),
        ("tnt_s16", "tnt_s_patch16_224", {}, "safetensors"),
        # timm's ResNetV2 with stem_type="same" and StdConv2dSame pads as TensorFlow does.
        ("bit_r50x1", "resnetv2_50x1_same", {"std_conv_epsilon": 1e-8, "padding": "same"}, "safetensors"),
        # timm's resnetv2_*_bit (like the BiT release) pads symmetrically: the zoo's BiT specs' padding.
        ("bit_r50x1", "resnetv2_50x1_bit", {"std_conv_epsilon": 1e-8}, "safetensors"),
        ("dinov2_s14_reg4", "vit_small_patch14_reg4_dinov2", {}, "safetensors"),
        ("siglip_b16_224", "vit_base_patch16_siglip_224", {}, "safetensors"),
        ("eva02_ti14", "eva02_tiny_patch14_224", {}, "safetensors"),
        ("eva02_b14", "eva02_base_patch14_224", {}, "pth"),
    ],
)
def test_logits_equal_timm(tmp_path, zoo_name, case, overrides, file_type):
    subprocess.run([sys.executable, str(WORKER), case, str(tmp_path), file_type], check=True, timeout=600)
    reference = np.load(tmp_path / "reference.npz")
    model = keras_vit.create(zoo_name, weights=tmp_path / f"model.{file_type}", **overrides)
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 10)
    logits = np.asarray(model.predict(reference["images"], verbose=0))
    expected = reference["logits"]
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


# Published checkpoints of the manifest, one per kind of entry (a size suffix, DeiT's statistics and distillation,
# DeiT-III, registers, TNT, hybrids and BiT with timm's constants, a headless one): timm's architecture with random
# weights is put where the download would go, and keras_vit.create(timm's name) must give timm's outputs.
@pytest.mark.slow
@pytest.mark.parametrize("timm_name", [
    "vit_tiny_patch16_384.augreg_in21k_ft_in1k", "deit_tiny_distilled_patch16_224.fb_in1k",
    "deit3_small_patch16_224.fb_in1k", "vit_medium_patch16_reg4_gap_256.sbb_in1k", "tnt_s_patch16_224.in1k",
    "vit_tiny_r_s16_p8_224.augreg_in21k_ft_in1k", "vit_small_r26_s32_224.augreg_in21k_ft_in1k",
    "resnetv2_50x1_bit.goog_in21k_ft_in1k", "vit_small_patch16_224.dino",
])
def test_manifest_entries_give_timm_outputs(tmp_path, monkeypatch, timm_name):
    monkeypatch.setenv("KERAS_VIT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # no download: the file is in the cache
    place = tmp_path / "cache" / "timm" / timm_name
    place.mkdir(parents=True)
    subprocess.run([sys.executable, str(WORKER), timm_name, str(place), "safetensors"], check=True, timeout=900)
    reference = np.load(place / "reference.npz")
    model = keras_vit.create(timm_name)
    logits, expected = np.asarray(model.predict(reference["images"], verbose=0)), reference["logits"]
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
