"""Every converter on checkpoints written in the published layout (tests/weights/layouts.py, derived from the
architectures, not from keras_vit.weights) with random values: each Keras variable must equal its source tensor
after the documented transposes, and the model's logits must equal a NumPy forward pass of the source tensors."""

import importlib.util
import logging

import numpy as np
import pytest

import keras_vit
from keras_vit.weights import CheckpointError
from tests.weights import layouts, numpy_models

TINY_VIT = dict(image_size=32, patch_size=8, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64)
IMAGES = np.random.default_rng(7).normal(size=(2, 32, 32, 3)).astype("float32")


def write_npz(path, tensors):
    np.savez(path, **tensors)
    return path


def write_safetensors(path, tensors):
    from safetensors.numpy import save_file

    save_file(tensors, str(path))
    return path


def assert_variables(model, expected):
    """Every model variable has an expected value, and equals it."""
    variables = {v.path: np.asarray(v) for v in model.weights}
    assert set(variables) == set(expected), (set(variables) ^ set(expected))
    for path, value in expected.items():
        np.testing.assert_array_equal(variables[path], np.asarray(value, "float32"), err_msg=path)


def assert_logits(model, expected):
    logits = np.asarray(model(IMAGES))
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


# ---- the original ViT release (.npz) ----


def flax_expected(t, hidden, layers, stem=None):
    e = {
        "patch_embed/projection/kernel": t["embedding/kernel"],
        "patch_embed/projection/bias": t["embedding/bias"],
        "class_token/token": t["cls"],
        "position_embedding/embeddings": t["Transformer/posembed_input/pos_embedding"],
        "encoder_norm/gamma": t["Transformer/encoder_norm/scale"],
        "encoder_norm/beta": t["Transformer/encoder_norm/bias"],
        "head/classifier/kernel": t["head/kernel"],
        "head/classifier/bias": t["head/bias"],
    }
    if "pre_logits/kernel" in t:
        e["head/pre_logits/kernel"], e["head/pre_logits/bias"] = t["pre_logits/kernel"], t["pre_logits/bias"]
    for i in range(layers):
        b, k = f"Transformer/encoderblock_{i}/", f"block_{i}/"
        a = b + "MultiHeadDotProductAttention_1/"
        e[k + "norm1/gamma"], e[k + "norm1/beta"] = t[b + "LayerNorm_0/scale"], t[b + "LayerNorm_0/bias"]
        e[k + "norm2/gamma"], e[k + "norm2/beta"] = t[b + "LayerNorm_2/scale"], t[b + "LayerNorm_2/bias"]
        # (D, heads, D/heads) kernels flatten to (D, D); q, k, v side by side.
        e[k + "attention/qkv/kernel"] = np.concatenate(
            [t[a + p + "/kernel"].reshape(hidden, hidden) for p in ("query", "key", "value")], axis=1
        )
        e[k + "attention/qkv/bias"] = np.concatenate([t[a + p + "/bias"].ravel() for p in ("query", "key", "value")])
        e[k + "attention/projection/kernel"] = t[a + "out/kernel"].reshape(hidden, hidden)
        e[k + "attention/projection/bias"] = t[a + "out/bias"]
        for fc, dense in (("fc1", "Dense_0"), ("fc2", "Dense_1")):
            e[k + f"mlp/{fc}/kernel"] = t[b + f"MlpBlock_3/{dense}/kernel"]
            e[k + f"mlp/{fc}/bias"] = t[b + f"MlpBlock_3/{dense}/bias"]
    if stem is not None:
        e["stem/root/conv_root/kernel"] = t["conv_root/kernel"]
        e["stem/root/gn_root/gamma"], e["stem/root/gn_root/beta"] = t["gn_root/scale"], t["gn_root/bias"]
        for stage, unit, *_ in layouts.bit_stages(stem):
            src, dst = f"block{stage}/unit{unit}/", f"stem/block{stage}_unit{unit}/"
            for name in ("conv1", "conv2", "conv3", "conv_proj"):
                if src + name + "/kernel" in t:
                    e[dst + name + "/kernel"] = t[src + name + "/kernel"]
            for name in ("gn1", "gn2", "gn3", "gn_proj"):
                if src + name + "/scale" in t:
                    e[dst + name + "/gamma"], e[dst + name + "/beta"] = t[src + name + "/scale"], t[src + name + "/bias"]
    return e


def test_original_vit_npz_with_pre_logits(tmp_path):
    t = layouts.fill(layouts.flax_vit(32, 2, 2, 64, patch=8, grid=4, classes=10, representation=16))
    path = write_npz(tmp_path / "ViT-Ti_8.npz", t)
    model = keras_vit.create("vit_ti16", weights=path, **TINY_VIT)  # num_classes and pre-logits from the file
    assert model.get_config()["num_classes"] == 10 and model.get_config()["representation_dim"] == 16
    assert_variables(model, flax_expected(t, 32, 2))
    assert_logits(model, numpy_models.flax_vit(t, IMAGES, num_heads=2))


def test_original_hybrid_npz(tmp_path):
    t = layouts.fill(layouts.flax_vit(32, 2, 2, 64, patch=2, grid=4, classes=10, stem=[1]), seed=1)
    path = write_npz(tmp_path / "R50+ViT.npz", t)
    model = keras_vit.create("vit_r50_b16", weights=path, stem={"stage_sizes": [1]}, **dict(TINY_VIT, patch_size=2))
    assert_variables(model, flax_expected(t, 32, 2, stem=[1]))
    assert_logits(model, numpy_models.flax_vit(t, IMAGES, num_heads=2, stem=[1]))


def relative_error(got, expected):
    return np.abs(np.asarray(got, "float64") - expected).max() / np.abs(expected).max()


@pytest.mark.parametrize("hybrid", [False, True])
def test_original_release_npz_loads_with_its_tanh_gelu(tmp_path, hybrid):
    # The release's MlpBlock calls Flax's nn.gelu (tanh approximation), in the hybrid's transformer too.
    stem = [1] if hybrid else None
    t = layouts.fill(layouts.flax_vit(32, 2, 2, 64, patch=2 if hybrid else 8, grid=4, classes=10, stem=stem), seed=3)
    path = write_npz(tmp_path / "release.npz", t)
    name, spec = ("vit_ti16", TINY_VIT)
    if hybrid:
        name, spec = "vit_r50_b16", dict(TINY_VIT, patch_size=2, stem={"stage_sizes": [1]})
    tanh = numpy_models.flax_vit(t, IMAGES, num_heads=2, stem=stem)
    exact = numpy_models.flax_vit(t, IMAGES, num_heads=2, stem=stem, gelu="exact")
    assert relative_error(exact, tanh) > 1e-4  # the two GELUs are told apart at the tolerance below

    model = keras_vit.create(name, weights=path, **spec)
    assert model.get_config()["use_approximate_gelu"] is True
    assert relative_error(model(IMAGES), tanh) < 1e-5
    assert "uses the tanh-approximated GELU" in str(model.weights_report)
    assert "the model does too (use_approximate_gelu=True)" in str(model.weights_report)

    exact_model = keras_vit.create(name, weights=path, use_approximate_gelu=False, **spec)  # the caller's choice wins
    assert exact_model.get_config()["use_approximate_gelu"] is False
    assert relative_error(exact_model(IMAGES), exact) < 1e-5
    assert "the model has the exact GELU (use_approximate_gelu=False)" in str(exact_model.weights_report)

    # a converted file keeps it: the stored config says use_approximate_gelu=True
    converted = keras_vit.weights.write_weights_file(model, tmp_path / "converted.weights.h5")
    assert keras_vit.create(name, weights=converted).get_config()["use_approximate_gelu"] is True


def test_loading_the_release_into_an_exact_gelu_model_says_how_to_match_it(tmp_path, caplog):
    t = layouts.fill(layouts.flax_vit(32, 2, 2, 64, patch=8, grid=4, classes=10), seed=4)
    path = write_npz(tmp_path / "release.npz", t)
    model = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)  # the zoo's default: exact GELU
    with caplog.at_level(logging.WARNING, logger="keras_vit.weights"):
        report = keras_vit.weights.load(model, path)
    assert "the model has the exact GELU (use_approximate_gelu=False)" in caplog.text
    assert "build it with use_approximate_gelu=True" in str(report)
    assert relative_error(model(IMAGES), numpy_models.flax_vit(t, IMAGES, num_heads=2, gelu="exact")) < 1e-5


def test_only_the_flax_layout_declares_the_tanh_gelu():
    from keras_vit.weights.load import CONVERTERS

    declared = {c.format: c.architecture_overrides({}) for c in CONVERTERS}
    assert declared.pop("vit_npz") == {"use_approximate_gelu": True}
    assert all(value == {} for value in declared.values()), declared  # timm (exact nn.GELU), BiT (no GELU), TNT


def big_vision_as_original(t):
    """The same model in the original release's names: big_vision's table gets a zero class-token row."""
    out = {}
    for key, value in t.items():
        key = key.removeprefix("params/")
        for new, old in (("MultiHeadDotProductAttention_0", "MultiHeadDotProductAttention_1"),
                         ("LayerNorm_1", "LayerNorm_2"), ("MlpBlock_0", "MlpBlock_3")):
            key = key.replace(new, old)
        if key == "pos_embedding":
            key, value = "Transformer/posembed_input/pos_embedding", np.concatenate([np.zeros_like(value[:, :1]), value], 1)
        out[key] = value
    return out


@pytest.mark.parametrize("scanned", [False, True])
def test_big_vision_npz(tmp_path, scanned):
    t = layouts.fill(layouts.flax_vit(32, 2, 2, 64, patch=8, grid=4, classes=10, big_vision=True), seed=2)
    stored = dict(t)
    if scanned:  # a scanned encoder stores the blocks stacked along a leading depth axis
        prefix = "params/Transformer/encoderblock_"
        stored = {k: v for k, v in t.items() if not k.startswith(prefix)}
        for key in [k for k in t if k.startswith(prefix + "0/")]:
            rest = key.removeprefix(prefix + "0/")
            stored[f"params/Transformer/encoderblock/{rest}"] = np.stack([t[f"{prefix}{i}/{rest}"] for i in range(2)])
    path = write_npz(tmp_path / "big_vision.npz", stored)
    model = keras_vit.create("vit_ti16", weights=path, **TINY_VIT)
    original = big_vision_as_original(t)
    assert_variables(model, flax_expected(original, 32, 2))
    assert_logits(model, numpy_models.flax_vit(original, IMAGES, num_heads=2))


# ---- timm ----


def conv(w):
    return w.transpose(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)


def timm_resnet_expected(t, stage_sizes, src_prefix, dst_prefix, preact=False):
    e = {dst_prefix + "root/conv_root/kernel": conv(t[src_prefix + "stem.conv.weight"])}
    if not preact:
        e[dst_prefix + "root/gn_root/gamma"] = t[src_prefix + "stem.norm.weight"]
        e[dst_prefix + "root/gn_root/beta"] = t[src_prefix + "stem.norm.bias"]
    for stage, unit, *_ in layouts.bit_stages(stage_sizes):
        s, d = f"{src_prefix}stages.{stage - 1}.blocks.{unit - 1}.", f"{dst_prefix}block{stage}_unit{unit}/"
        for n in (1, 2, 3):
            e[d + f"conv{n}/kernel"] = conv(t[s + f"conv{n}.weight"])
            e[d + f"gn{n}/gamma"], e[d + f"gn{n}/beta"] = t[s + f"norm{n}.weight"], t[s + f"norm{n}.bias"]
        if unit == 1:
            e[d + "conv_proj/kernel"] = conv(t[s + "downsample.conv.weight"])
            if not preact:
                e[d + "gn_proj/gamma"] = t[s + "downsample.norm.weight"]
                e[d + "gn_proj/beta"] = t[s + "downsample.norm.bias"]
    return e


def timm_block_expected(t, src, dst, names):
    e = {}
    for keras_norm, timm_norm in (("norm1", names["norm1"]), ("norm2", names["norm2"])):
        e[dst + keras_norm + "/gamma"], e[dst + keras_norm + "/beta"] = t[src + timm_norm + ".weight"], t[src + timm_norm + ".bias"]
    attn = src + names["attn"]
    if attn + ".qkv.weight" in t:
        e[dst + "attention/qkv/kernel"], e[dst + "attention/qkv/bias"] = t[attn + ".qkv.weight"].T, t[attn + ".qkv.bias"]
    else:
        e[dst + "attention/qkv/kernel"] = np.concatenate([t[attn + ".qk.weight"].T, t[attn + ".v.weight"].T], axis=1)
    e[dst + "attention/projection/kernel"] = t[attn + ".proj.weight"].T
    e[dst + "attention/projection/bias"] = t[attn + ".proj.bias"]
    for fc in ("fc1", "fc2"):
        e[dst + f"mlp/{fc}/kernel"] = t[src + names["mlp"] + f".{fc}.weight"].T
        e[dst + f"mlp/{fc}/bias"] = t[src + names["mlp"] + f".{fc}.bias"]
    return e


def timm_vit_expected(t, layers, stem=None):
    e = {
        "patch_embed/projection/kernel": conv(t["patch_embed.proj.weight"]),
        "patch_embed/projection/bias": t["patch_embed.proj.bias"],
        "position_embedding/embeddings": t["pos_embed"],
    }
    for dst, src in (("class_token/token", "cls_token"), ("distillation_token/token", "dist_token"),
                     ("register_tokens/token", "reg_token"), ("encoder_norm/gamma", "norm.weight"),
                     ("encoder_norm/beta", "norm.bias"), ("fc_norm/gamma", "fc_norm.weight"),
                     ("fc_norm/beta", "fc_norm.bias"), ("head/classifier/bias", "head.bias"),
                     ("head/distillation_classifier/bias", "head_dist.bias")):
        if src in t:
            e[dst] = t[src]
    for dst, src in (("head/classifier/kernel", "head.weight"),
                     ("head/distillation_classifier/kernel", "head_dist.weight")):
        if src in t:
            e[dst] = t[src].T
    for i in range(layers):
        e.update(timm_block_expected(t, f"blocks.{i}.", f"block_{i}/",
                                     {"norm1": "norm1", "attn": "attn", "norm2": "norm2", "mlp": "mlp"}))
        for n in (1, 2):
            if f"blocks.{i}.ls{n}.gamma" in t:
                e[f"block_{i}/layer_scale_{n}/gamma"] = t[f"blocks.{i}.ls{n}.gamma"]
    if stem is not None:
        e.update(timm_resnet_expected(t, stem, "patch_embed.backbone.", "stem/"))
    return e


@pytest.mark.parametrize("stem", [None, [1, 1]])
def test_timm_vit_and_hybrid_safetensors(tmp_path, stem):
    patch, grid = (8, 4) if stem is None else (1, 4)
    t = layouts.fill(layouts.timm_vit(32, 2, 2, 64, patch=patch, grid=grid, classes=10, stem=stem), seed=3)
    path = write_safetensors(tmp_path / "model.safetensors", t)
    if stem is None:
        model = keras_vit.create("vit_ti16", weights=path, **TINY_VIT)
    else:
        model = keras_vit.create("vit_r50_b16", weights=path, stem={"stage_sizes": stem}, **dict(TINY_VIT, patch_size=1))
    assert_variables(model, timm_vit_expected(t, 2, stem))


# timm's DeiT (distillation token, two heads), DeiT-III (LayerScale, positions on the patches only) and the
# register-token models (no class token, fc_norm after averaging the patches), at a tiny size.
TIMM_VARIANTS = {
    "deit_tiny_distilled_patch16_224": dict(distilled=True),
    "deit3_small_patch16_224": dict(embed_prefix=False, layer_scale=True),
    "vit_base_patch16_reg4_gap_256": dict(class_token=False, registers=4, embed_prefix=False, fc_norm=True),
    "vit_medium_patch16_reg4_gap_256": dict(class_token=False, registers=4, embed_prefix=False, fc_norm=True,
                                            layer_scale=True),
}


def timm_variant(tmp_path, name, grid=4, classes=10, seed=8):
    t = layouts.fill(layouts.timm_vit(32, 2, 2, 64, patch=8, grid=grid, classes=classes, **TIMM_VARIANTS[name]), seed)
    return write_safetensors(tmp_path / f"{name}.safetensors", t), t


@pytest.mark.parametrize("name", sorted(TIMM_VARIANTS))
def test_timm_deit_deit3_and_register_models(tmp_path, name):
    path, t = timm_variant(tmp_path, name)
    model = keras_vit.create(name, weights=path, **TINY_VIT)
    assert model.get_config()["num_classes"] == 10
    assert_variables(model, timm_vit_expected(t, 2))
    assert_logits(model, numpy_models.timm_vit(t, IMAGES, num_heads=2))
    fresh = keras_vit.create(name, num_classes=10, **TINY_VIT)  # the same through weights.load
    keras_vit.weights.load(fresh, path)
    assert_variables(fresh, timm_vit_expected(t, 2))


def test_distilled_checkpoint_for_other_classes_drops_both_heads(tmp_path):
    path, t = timm_variant(tmp_path, "deit_tiny_distilled_patch16_224")
    model = keras_vit.create("deit_ti16_distilled", weights=path, num_classes=5, **TINY_VIT)
    report = model.weights_report
    assert set(report.dropped) == {"head.weight", "head.bias", "head_dist.weight", "head_dist.bias"}
    assert "model has 5 classes" in str(report)
    expected = {k: v for k, v in timm_vit_expected(t, 2).items() if not k.startswith("head/")}
    variables = {v.path: np.asarray(v) for v in model.weights}
    for path_, value in expected.items():
        np.testing.assert_array_equal(variables[path_], value, err_msg=path_)
    for head in model.layout.head_variables:  # both classifiers stay the model's own (zero-initialized)
        assert variables[head].shape[-1] == 5 and not variables[head].any(), head


def test_deit3_positions_without_prefix_rows_resample(tmp_path):
    # A table that is linear in (row, col) over a 16x16 grid: align-corners bilinear resampling to 4x4 must give the
    # same function at rows/cols 0, 5, 10, 15, which holds only if no row is taken for a class token.
    path, t = timm_variant(tmp_path, "deit3_small_patch16_224", grid=16)
    a, b, c = np.random.default_rng(9).normal(size=(3, 32))
    t["pos_embed"] = np.array([[r * a + col * b + c for r in range(16) for col in range(16)]], "float32")
    write_safetensors(path, t)
    inferred = keras_vit.create("deit3_s16", weights=path, **{k: v for k, v in TINY_VIT.items() if k != "image_size"})
    assert inferred.input_shape[1:3] == (128, 128)  # 16x16 patches of 8 pixels: the table has no prefix rows
    assert_variables(inferred, timm_vit_expected(t, 2))
    model = keras_vit.create("deit3_s16", weights=path, **TINY_VIT)
    assert model.layout.position_tables[0].num_prefix_tokens == 0
    assert model.weights_report.resampled == ["position_embedding/embeddings"]
    table = np.asarray(model.get_layer("position_embedding").embeddings)
    expected = [5 * r * a + 5 * col * b + c for r in range(4) for col in range(4)]
    np.testing.assert_allclose(table, np.array([expected]), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(model.get_layer("class_token").token), t["cls_token"])


def test_timm_bit_resnet(tmp_path):
    t = layouts.fill(layouts.timm_bit([1, 1], classes=10), seed=4)
    path = write_safetensors(tmp_path / "resnetv2.safetensors", t)
    model = keras_vit.create("bit_r50x1", weights=path, image_size=32, stage_sizes=[1, 1], num_groups=8)
    e = timm_resnet_expected(t, [1, 1], "", "", preact=True)
    e.update({"norm/gamma": t["norm.weight"], "norm/beta": t["norm.bias"],
              "head/kernel": t["head.fc.weight"][:, :, 0, 0].T, "head/bias": t["head.fc.bias"]})
    assert_variables(model, e)


TNT_TINY = dict(image_size=32, patch_size=8, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64,
                inner_dim=8, inner_num_heads=2, inner_intermediate_dim=32, pixel_stride=4, pixel_kernel_size=7)


def test_timm_tnt(tmp_path):
    t = layouts.fill(layouts.timm_tnt(32, 2, 8, 64, 32, patch_grid=4, word_grid=2, classes=10), seed=5)
    path = write_safetensors(tmp_path / "tnt.safetensors", t)
    model = keras_vit.create("tnt_s16", weights=path, **TNT_TINY)
    e = {
        "pixel_embed/projection/kernel": conv(t["pixel_embed.proj.weight"]),
        "pixel_embed/projection/bias": t["pixel_embed.proj.bias"],
        # (1, d, rows, cols) -> (rows * cols, d): word (r, c) is row r * cols + c.
        "pixel_position/embeddings": np.stack([t["pixel_pos"][0, :, r, c] for r in range(2) for c in range(2)]),
        "class_token/token": t["cls_token"],
        "patch_position/embeddings": t["patch_pos"],
        "encoder_norm/gamma": t["norm.weight"], "encoder_norm/beta": t["norm.bias"],
        "head/classifier/kernel": t["head.weight"].T, "head/classifier/bias": t["head.bias"],
    }

    def projection(src, dst, bias):
        e[dst + "norm1/gamma"], e[dst + "norm1/beta"] = t[src + "norm1_proj.weight"], t[src + "norm1_proj.bias"]
        e[dst + "projection/kernel"] = t[src + "proj.weight"].T
        if bias:
            e[dst + "projection/bias"] = t[src + "proj.bias"]
        e[dst + "norm2/gamma"], e[dst + "norm2/beta"] = t[src + "norm2_proj.weight"], t[src + "norm2_proj.bias"]

    projection("", "patch_projection/", True)
    for i in range(2):
        b = f"blocks.{i}."
        e.update(timm_block_expected(t, b, f"block_{i}/inner_block/",
                                     {"norm1": "norm_in", "attn": "attn_in", "norm2": "norm_mlp_in", "mlp": "mlp_in"}))
        e.update(timm_block_expected(t, b, f"block_{i}/outer_block/",
                                     {"norm1": "norm_out", "attn": "attn_out", "norm2": "norm_mlp", "mlp": "mlp"}))
        projection(b, f"block_{i}/pixel_projection/", False)
    assert_variables(model, e)
    assert_logits(model, numpy_models.timm_tnt(t, IMAGES, patch=8, stride=4, num_heads=2, inner_num_heads=2))


def test_torch_files_need_torch(tmp_path):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    path = tmp_path / "model.pth"
    path.write_bytes(b"\x80\x02" + b"\x00" * 32)  # a pickle protocol marker: a legacy torch.save file
    with pytest.raises(CheckpointError, match="needs torch"):
        keras_vit.weights.read_checkpoint(path)


def test_bit_release_npz(tmp_path):
    t = layouts.fill(layouts.bit_npz([2, 1], classes=10), seed=6)
    path = write_npz(tmp_path / "BiT-M-R50x1.npz", t)
    model = keras_vit.create("bit_r50x1", weights=path, image_size=32, stage_sizes=[2, 1], num_groups=8)
    e = {"root/conv_root/kernel": t["resnet/root_block/standardized_conv2d/kernel"],
         "norm/gamma": t["resnet/group_norm/gamma"], "norm/beta": t["resnet/group_norm/beta"],
         "head/kernel": t["resnet/head/conv2d/kernel"][0, 0], "head/bias": t["resnet/head/conv2d/bias"]}
    for stage, unit, *_ in layouts.bit_stages([2, 1]):
        src, dst = f"resnet/block{stage}/unit{unit:02d}/", f"block{stage}_unit{unit}/"
        for n, group in ((1, "a"), (2, "b"), (3, "c")):
            e[dst + f"conv{n}/kernel"] = t[src + group + "/standardized_conv2d/kernel"]
            e[dst + f"gn{n}/gamma"] = t[src + group + "/group_norm/gamma"]
            e[dst + f"gn{n}/beta"] = t[src + group + "/group_norm/beta"]
        if unit == 1:
            e[dst + "conv_proj/kernel"] = t[src + "a/proj/standardized_conv2d/kernel"]
    assert_variables(model, e)


def test_converters_take_block_indices_from_the_layout():
    from types import SimpleNamespace

    from keras_vit.models.layout import ModelLayout
    from keras_vit.weights.bit_npz import BiTNpz
    from keras_vit.weights.timm_resnet_v2 import TimmResNetV2
    from keras_vit.weights.timm_vit import TimmViT
    from keras_vit.weights.vit_npz import FlaxViT

    # blocks named unlike the zoo's: the index is the block's place in layout.blocks, not a number in its name
    # (get_layer: timm_vit reads each block's MLP config, to choose EVA-02's layout)
    vit = SimpleNamespace(layout=ModelLayout(blocks=("enc_7", "enc_3"), stem=("embed",)),
                          get_layer=lambda name: SimpleNamespace(mlp=None))
    assert TimmViT().rule("enc_3/norm1/gamma", vit).sources == ("blocks.1.norm1.weight",)
    assert FlaxViT().rule("enc_7/mlp/fc2/bias", vit).sources == ("Transformer/encoderblock_0/MlpBlock_3/Dense_1/bias",)
    assert TimmViT().rule("block_0/norm1/gamma", vit) is None
    resnet = SimpleNamespace(layout=ModelLayout(blocks=("u_a", "u_b", "u_c"), block_stages=((0, 0), (0, 1), (1, 0))))
    assert BiTNpz().rule("u_c/gn1/gamma", resnet).sources == ("resnet/block2/unit01/a/group_norm/gamma",)
    assert BiTNpz().rule("u_b/conv_proj/kernel", resnet).sources == ("resnet/block1/unit02/a/proj/standardized_conv2d/kernel",)
    assert TimmResNetV2().rule("u_c/conv_proj/kernel", resnet).sources == ("stages.1.blocks.0.downsample.conv.weight",)
