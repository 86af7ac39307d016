"""`.keras` files that the previous release (commit 7f48d88, before zoo models became plain Keras models) wrote still
load, with the outputs that release computed. tests/fixtures/release_7f48d88/ holds one tiny model per family and
prefix-token variant, saved by that commit's code with randomized weights, and its outputs on two images."""

from pathlib import Path

import keras
import numpy as np
import pytest

import keras_vit  # noqa: F401  (registers the zoo's classes)

FIXTURES = Path(__file__).parent / "fixtures" / "release_7f48d88"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.keras"))


def test_every_family_has_a_file():
    assert {"vit_ti16", "tnt_s16", "vit_r_ti16", "bit_r50x1", "deit_ti16_distilled", "vit_b16_reg4_gap"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_previous_release_file_loads_with_its_outputs(name):
    saved = np.load(FIXTURES / f"{name}.npz")
    model = keras.saving.load_model(FIXTURES / f"{name}.keras", compile=False)
    assert np.std(saved["outputs"]) > 1e-3
    np.testing.assert_allclose(np.asarray(model(saved["images"])), saved["outputs"], atol=1e-5)
    assert model.layout.blocks, "a loaded zoo model publishes its layout"
