"""The manifest of published checkpoints (weights/*.yaml): well-formed, about zoo models, usable offline."""

from pathlib import Path

import numpy as np
import pytest
import yaml

import keras_vit
from keras_vit.weights import get_weights_entry, list_weights

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
FIELDS = {"url", "source", "format", "sha256", "image_size", "num_classes", "mean", "std", "accuracy"}
OPTIONAL = {"crop_pct", "interpolation", "overrides", "license", "timm"}
FORMATS = ("vit_npz", "bit_npz", "safetensors", "torch", "timm_vit", "timm_tnt", "timm_resnetv2")


@pytest.mark.parametrize("file", sorted(WEIGHTS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_manifest_files_are_well_formed(file):
    data = yaml.safe_load(file.read_text())
    assert data["model"] == file.stem and data["model"] in keras_vit.list_models(include_aliases=False)
    spec = keras_vit.get_spec(data["model"])
    for tag, entry in data["weights"].items():
        assert FIELDS <= set(entry) <= FIELDS | OPTIONAL, (tag, set(entry) ^ FIELDS)
        assert entry["url"].startswith("https://") and entry["format"] in FORMATS
        if entry.get("timm"):  # timm's files, where timm itself downloads them from; tags as timm's (docs/weights.md)
            assert entry["url"] == f"https://huggingface.co/timm/{entry['timm']}/resolve/main/model.safetensors"
            assert tag.removesuffix("_timm").startswith(entry["timm"].split(".", 1)[1])
        assert entry["sha256"] is None or len(entry["sha256"]) == 64
        assert len(entry["mean"]) == len(entry["std"]) == spec.model.get("num_channels", 3)
        patch = spec.model.get("patch_size", 16)
        assert entry["image_size"] % patch == 0
        if entry["accuracy"] is not None:
            assert 0 < entry["accuracy"]["imagenet_top1"] < 100 and entry["accuracy"]["note"]


# The values, from timm's results-imagenet.csv (huggingface/pytorch-image-models, results/)
PUBLISHED_TOP1 = {"vit_base_patch16_224.augreg2_in21k_ft_in1k": 85.11, "deit_base_patch16_224.fb_in1k": 81.98,
                  "deit_base_distilled_patch16_224.fb_in1k": 83.38, "deit3_base_patch16_224.fb_in1k": 83.80,
                  "tnt_s_patch16_224.in1k": 81.51}


@pytest.mark.parametrize("timm_name", sorted(PUBLISHED_TOP1))
def test_timm_tags_carry_timm_published_top1(timm_name):
    entry = get_weights_entry(timm_name)
    assert entry.timm == timm_name and round(entry.accuracy["imagenet_top1"], 2) == PUBLISHED_TOP1[timm_name]
    assert entry.tag.split(".")[1] == timm_name.split(".")[1] and entry.num_classes == 1000


def test_every_zoo_model_with_timm_weights_lists_them():
    with_timm = {get_weights_entry(t).model for t in list_weights() if get_weights_entry(t).timm}
    # every family timm publishes weights for; vit_b16_reg4_gap has none in timm (vit_base_patch16_reg4_gap_256)
    assert set(keras_vit.list_models(include_aliases=False)) - with_timm == {"vit_b16_reg4_gap"}


def test_preprocessing_from_a_tag_crops_as_timm_evaluates():
    prep = keras_vit.preprocessing("vit_base_patch16_224.augreg2_in21k_ft_in1k")  # 224, crop_pct 0.9, bicubic
    images = np.random.default_rng(0).uniform(0, 255, (1, 248, 248, 3)).astype("float32")  # floor(224 / 0.9) = 248
    np.testing.assert_allclose(np.asarray(prep(images)), (images[:, 12:236, 12:236] / 255 - 0.5) / 0.5, atol=1e-5)
    assert prep.interpolation == "bicubic" and np.asarray(prep(images[:, :100])).shape == (1, 224, 224, 3)


def test_tags_resolve_and_preprocessing_follows_the_checkpoint():
    tags = list_weights("vit_b16")
    assert "vit_b16.orig_in21k_ft_in1k" in tags
    entry = get_weights_entry("vit_b16.orig_in21k_ft_in1k")
    assert entry.image_size == 384 and entry.num_classes == 1000
    prep = keras_vit.weights.preprocessing_for("vit_b16.orig_in21k_ft_in1k")
    out = np.asarray(prep(np.full((1, 100, 80, 3), 255, "uint8")))
    assert out.shape == (1, 384, 384, 3) and np.allclose(out, 1.0)  # (1 - 0.5) / 0.5
    with pytest.raises(KeyError, match="Did you mean"):
        get_weights_entry("vit_b16.orig_in21k_ft_in1")


def test_local_paths_pass_through(tmp_path):
    path = tmp_path / "ViT-B_16.npz"
    path.write_bytes(b"")
    assert keras_vit.weights.resolve(str(path)) == str(path)


def test_a_mistyped_tag_gets_the_closest_tags_not_a_missing_file_error(tmp_path):
    # The user's inputs (issue 27), both reported as "Checkpoint file ... does not exist" before.
    with pytest.raises(keras_vit.weights.CheckpointError,
                       match=r"'vit_b16.orig_in21k_ft_in1kk' is neither a checkpoint file nor a published checkpoint "
                             r"\(name.tag\). Did you mean 'vit_b16.orig_in21k_ft_in1k'"):
        keras_vit.create("vit_b16", weights="vit_b16.orig_in21k_ft_in1kk")
    with pytest.raises(keras_vit.weights.CheckpointError, match=r"'imagenet' is neither.*list_weights\(\) lists"):
        keras_vit.create("vit_b16", weights="imagenet")
    # Shaped like a file path (a folder or a checkpoint suffix): a missing file is reported as missing.
    for missing in ("ViT-B_16.npz", str(tmp_path / "run" / "model")):
        with pytest.raises(keras_vit.weights.CheckpointError, match=f"Checkpoint file '{missing}' does not exist"):
            keras_vit.create("vit_b16", weights=missing)
