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
