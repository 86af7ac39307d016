"""keras_vit.weights.save(model, path, layout="timm"): checkpoints in timm's layout (tests/weights/layouts.py, written
from timm's modules, not from keras_vit.weights) go through the converter, the writer and the converter again and
come back exactly, key by key and variable by variable; timm itself loads the written files (marker `parity`)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras_vit
from tests.layout_model import laid_out_model
from tests.test_backbones import FIXTURES, TIMM_FIXTURES
from tests.weights import layouts
from tests.weights.test_converters import TINY_VIT, TNT_TINY, write_safetensors
from tests.weights.test_timm_live import TIMM_STEM

HYBRID = dict(TINY_VIT, patch_size=1, stem={"stage_sizes": [1, 1]})
ROOT_ONLY = dict(TINY_VIT, patch_size=2)  # vit_r_ti16's stem: the ResNet root alone (stride 4)
BIT = dict(image_size=32, stage_sizes=[1, 1], num_groups=8)


def timm_root_only_hybrid():
    """timm's vit_tiny_r_s16_p8 layout: the root's conv and norm directly under patch_embed.backbone (no `stem.`)."""
    keys = layouts.timm_vit(32, 2, 2, 64, patch=2, grid=4, classes=10)
    keys["patch_embed.proj.weight"] = (32, 64, 2, 2)
    keys.update({"patch_embed.backbone." + k.removeprefix("stem."): v for k, v in layouts.timm_resnet([]).items()})
    return keys


VIT_KEYS = dict(hidden=32, layers=2, heads=2, mlp=64, patch=8, grid=4, classes=10)
ROUND_TRIP = {  # zoo name, timm keys -> shapes, create() arguments
    "vit": ("vit_ti16", layouts.timm_vit(**VIT_KEYS), TINY_VIT),
    "deit_distilled": ("deit_ti16_distilled", layouts.timm_vit(**VIT_KEYS, distilled=True), TINY_VIT),
    "deit3": ("deit3_s16", layouts.timm_vit(**VIT_KEYS, embed_prefix=False, layer_scale=True), TINY_VIT),
    "registers": ("vit_medium_patch16_reg4_gap_256", layouts.timm_vit(
        **VIT_KEYS, class_token=False, registers=4, embed_prefix=False, fc_norm=True, layer_scale=True), TINY_VIT),
    "hybrid": ("vit_r50_b16", layouts.timm_vit(**dict(VIT_KEYS, patch=1), stem=[1, 1]), HYBRID),
    "hybrid_root_only": ("vit_r_ti16", timm_root_only_hybrid(), ROOT_ONLY),
    "tnt": ("tnt_s16", layouts.timm_tnt(32, 2, 8, 64, 32, patch_grid=4, word_grid=2, classes=10), TNT_TINY),
    "bit": ("bit_r50x1", layouts.timm_bit([1, 1], classes=10), BIT),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIP))
def test_converter_writer_converter_round_trip_is_exact(tmp_path, case):
    name, keys, kwargs = ROUND_TRIP[case]
    tensors = layouts.fill(keys, seed=11)
    assert_round_trip(tmp_path, name, write_safetensors(tmp_path / "timm.safetensors", tensors), tensors, kwargs)


@pytest.mark.parametrize("fixture", sorted(TIMM_FIXTURES))
def test_round_trip_of_timms_own_backbone_state_dicts_is_exact(tmp_path, fixture):
    # DINOv2 (registers, LayerScale), SigLIP (MAP pooling), EVA-02 Tiny (fused qkv, packed SwiGLU) and Base
    # (q/k/v_proj, fc1_g/fc1_x, inner norm): state dicts timm wrote (tests/weights/make_timm_fixtures.py --backbones)
    name, mlp_width = TIMM_FIXTURES[fixture]
    config = json.loads((FIXTURES / f"{fixture}.json").read_text())
    kwargs = dict(image_size=config["img_size"], hidden_dim=config["embed_dim"], num_layers=config["depth"],
                  num_heads=config["num_heads"], intermediate_dim=mlp_width, num_classes=config["num_classes"])
    path = FIXTURES / f"{fixture}.safetensors"
    assert_round_trip(tmp_path, name, path, keras_vit.weights.read_checkpoint(path).tensors, kwargs)


def assert_round_trip(tmp_path, name, path, tensors, kwargs):
    """The model loaded from `path` (timm's `tensors`) writes exactly those tensors, and reads its file back."""
    model = keras_vit.create(name, weights=path, **kwargs)
    written = keras_vit.weights.save(model, tmp_path / "written.safetensors", layout="timm")

    back = keras_vit.weights.read_checkpoint(written).tensors
    assert sorted(back) == sorted(tensors)  # timm's keys: none missing, none extra
    for key, value in tensors.items():  # PyTorch shapes and the very values
        assert back[key].dtype == np.float32 and back[key].shape == value.shape, key
        np.testing.assert_array_equal(back[key], value, err_msg=key)

    again = keras_vit.create(name, weights=written, **kwargs)
    assert [v.path for v in again.weights] == [v.path for v in model.weights]
    for variable, reloaded in zip(model.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(reloaded), np.asarray(variable), err_msg=variable.path)


def test_bad_input_is_named(tmp_path):
    model = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)
    with pytest.raises(ValueError, match=r"Unknown layout 'hf'.*layout='timm'"):
        keras_vit.weights.save(model, tmp_path / "m.safetensors", layout="hf")
    with pytest.raises(ValueError, match=r"is a folder: give the file to write, e\.g\. .*model\.safetensors"):
        keras_vit.weights.save(model, tmp_path)
    with pytest.raises(ValueError, match=r"family 'Functional', which has no timm converter") as error:
        keras_vit.weights.save(laid_out_model(), tmp_path / "m.safetensors")
    assert all(family in str(error.value) for family in ("resnet_v2", "tnt", "vit"))
    # a position table timm's ViT has no tensor for: the variables are named, nothing is written
    learned_2d = keras_vit.create("vit_ti16", num_classes=10, position_encoding="learned_2d", **TINY_VIT)
    with pytest.raises(ValueError, match=r"no tensor for: position_embedding/"):
        keras_vit.weights.save(learned_2d, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_a_transform_without_an_inverse_is_named(tmp_path, monkeypatch):
    from keras_vit.weights import protocol

    monkeypatch.delitem(protocol.INVERSES, protocol.linear)  # as a converter's new transform would be
    model = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)
    expected = r"block_0/mlp/fc2/kernel \(64, 32\) \(transpose: no working inverse in protocol\.INVERSES\)"
    with pytest.raises(ValueError, match=expected):
        keras_vit.weights.save(model, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


# ---- timm loads the written files (parity extra) ----

WORKER = Path(__file__).resolve().parent / "timm_load_worker.py"
TIMM_VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2)
PARITY = {  # zoo name, create() arguments, timm name, timm arguments
    "vit": ("vit_ti16", TINY_VIT, "vit_tiny_patch16_224", TIMM_VIT),
    "deit_distilled": ("deit_ti16_distilled", TINY_VIT, "deit_tiny_distilled_patch16_224", TIMM_VIT),
    "registers": ("vit_base_patch16_reg4_gap_256", TINY_VIT, "vit_base_patch16_reg4_gap_256", TIMM_VIT),
    "hybrid_root_only": ("vit_r_ti16", dict(ROOT_ONLY, stem=TIMM_STEM), "vit_tiny_r_s16_p8_224",
                         dict(TIMM_VIT, patch_size=2)),
    "tnt": ("tnt_s16", TNT_TINY, "tnt_s_patch16_224", dict(img_size=32, patch_size=8, embed_dim=32, inner_dim=8,
                                                            depth=2, num_heads_inner=2, num_heads_outer=2, mlp_ratio=2)),
    # timm's BiT names fix their stages: the full R50x1 (on 32x32 images)
    "bit": ("bit_r50x1", dict(image_size=32, std_conv_epsilon=1e-8), "resnetv2_50x1_bit", {}),
}
# timm's backbones by name (the zoo's aliases), shrunk as in make_timm_fixtures.py --backbones: name, size, MLP width
BACKBONES = {"dinov2": ("vit_small_patch14_reg4_dinov2", 42, 128), "siglip": ("vit_base_patch16_siglip_224", 48, 128),
             "eva02_tiny": ("eva02_tiny_patch14_224", 42, 85), "eva02_base": ("eva02_base_patch14_224", 42, 85)}
PARITY.update({case: (name, dict(image_size=size, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=mlp),
                      name, dict(img_size=size, embed_dim=32, depth=2, num_heads=2))
               for case, (name, size, mlp) in BACKBONES.items()})


def randomize(model, seed=0):
    """Every variable drawn at random (norm and LayerScale scales around 1), the classifier included."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        value = rng.normal(0.0, 0.2, variable.shape) + variable.path.endswith("gamma")
        variable.assign(value.astype("float32"))


@pytest.mark.parity
@pytest.mark.skipif(importlib.util.find_spec("timm") is None or importlib.util.find_spec("torch") is None,
                    reason="needs torch and timm (pip install keras-vit[parity])")
@pytest.mark.parametrize("case", sorted(PARITY))
def test_timm_loads_the_written_file_and_gives_our_logits(tmp_path, case):
    name, kwargs, timm_name, timm_kwargs = PARITY[case]
    model = keras_vit.create(name, num_classes=10, **kwargs)
    randomize(model)
    size = model.input_shape[1]
    images = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    written = keras_vit.weights.save(model, tmp_path / "model.safetensors", layout="timm")
    arguments = json.dumps(dict(timm_kwargs, num_classes=10))
    subprocess.run([sys.executable, str(WORKER), timm_name, str(written), arguments, str(tmp_path / "images.npy"),
                    str(tmp_path / "logits.npy")], check=True, timeout=600)
    expected = np.load(tmp_path / "logits.npy")
    np.testing.assert_allclose(np.asarray(model(images)), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
