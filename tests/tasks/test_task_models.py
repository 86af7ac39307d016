"""Task models on zoo backbones: the pyramid's shapes for every backbone family, prefix tokens dropped, DETR's and
the segmenter's outputs, backbone weights, a task plugin from YAML, and bad input."""

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.tasks.backbone import build_backbone
from keras_vit.tasks.neck import SimpleFeaturePyramid, SingleScaleProjection
from keras_vit.testing import randomize_weights

# Tiny backbones of every family with patch tokens: (overrides, image side, pixels per patch-grid step).
BACKBONES = {
    "vit_ti16": 8,
    "deit_ti16_distilled": 8,   # class and distillation tokens
    "vit_b16_reg4_gap": 8,      # registers, no class token
    "vit_r_ti16": None,         # hybrid: a ResNet stem before the patches
    "tnt_s16": None,
}


def _tiny_backbone(name):
    return dict(keras_vit.get_spec(name).tiny_spec().model, name=name)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_simple_feature_pyramid_levels_for_every_backbone_family(name):
    tokens_model, layout = build_backbone(_tiny_backbone(name))
    rows, columns = layout.grid_size
    image = tokens_model.inputs[0].shape[1]
    neck = SimpleFeaturePyramid(output_dim=8, num_prefix_tokens=layout.num_prefix_tokens, grid_size=layout.grid_size)
    x = np.random.default_rng(0).normal(size=(2, *tokens_model.inputs[0].shape[1:])).astype("float32")
    levels = neck(keras.tree.flatten(tokens_model(x))[0])
    # 4x, 2x, 1x and 0.5x the patch grid: strides of a quarter, half, one and two patch-grid steps
    assert [tuple(level.shape) for level in levels] == [
        (2, 4 * rows, 4 * columns, 8), (2, 2 * rows, 2 * columns, 8), (2, rows, columns, 8),
        (2, rows // 2, columns // 2, 8)]
    assert image // rows == layout.patch_size[0] * layout.stem_stride


def test_prefix_tokens_do_not_reach_the_maps():
    neck = SingleScaleProjection(output_dim=4, num_prefix_tokens=2, grid_size=(2, 3))
    tokens = np.random.default_rng(0).normal(size=(1, 2 + 6, 5)).astype("float32")
    changed = tokens.copy()
    changed[:, :2] = 100.0
    np.testing.assert_allclose(neck(tokens)[0], neck(changed)[0])
    changed[:, 2] += 1.0  # the first patch token: row 0, column 0 of the map
    difference = np.abs(np.asarray(neck(changed)[0]) - np.asarray(neck(tokens)[0])).sum(axis=-1)[0]
    assert difference[0, 0] > 0  # the 3x3 conv spreads it to its neighbours only
    assert difference[:, 2].max() == pytest.approx(0, abs=1e-6) and difference[1, 1] > 0


def test_detr_outputs_every_decoder_layer_and_round_trips(tmp_path):
    spec = keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec()
    model = keras_vit.create(spec)
    randomize_weights(model)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    outputs = model(x)
    # 2 decoder layers, 4 queries, 10 digits + "no object"
    assert tuple(outputs["logits"].shape) == (2, 2, 4, 11) and tuple(outputs["boxes"].shape) == (2, 2, 4, 4)
    boxes = np.asarray(outputs["boxes"])
    assert boxes.min() >= 0 and boxes.max() <= 1
    model.save(tmp_path / "detr.keras")
    loaded = keras.saving.load_model(tmp_path / "detr.keras")
    np.testing.assert_allclose(loaded(x)["boxes"], boxes, atol=1e-6)


def test_segmenter_returns_logits_at_the_image_size():
    model = keras_vit.create(keras_vit.get_spec("seg_vit_ti16_digits").tiny_spec())
    assert tuple(model(np.zeros((2, 32, 32, 3), "float32")).shape) == (2, 32, 32, 11)


def test_backbone_weights_come_from_a_classifier_of_ours(tmp_path):
    spec = keras_vit.get_spec("seg_vit_ti16_digits").tiny_spec()
    backbone = dict(spec.model["backbone"])
    classifier = keras_vit.create(backbone.pop("name"), num_classes=10, **backbone)
    randomize_weights(classifier)
    classifier.save(tmp_path / "classifier.keras")
    model = keras_vit.create(spec, backbone_weights=str(tmp_path / "classifier.keras"))
    tokens = model.get_layer(model.layout.backbone)
    reference = keras_vit.feature_extractor(classifier, block_indices=[-1])
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.tree.flatten(tokens(x))[0], keras.tree.flatten(reference(x))[0], atol=1e-5)
    assert model.get_config()["backbone_weights"] is None  # a saved task model holds its weights itself


def test_a_backbone_without_a_patch_grid_is_a_clear_error():
    with pytest.raises(ValueError, match="no patch grid"):
        keras_vit.create("seg_vit_ti16_digits", backbone="bit_r50x1")  # a string replaces the whole backbone


def test_an_unknown_task_component_names_the_known_ones():
    with pytest.raises(keras_vit.SpecError, match="simple_feature_pyramid"):
        keras_vit.create("seg_vit_ti16_digits", neck="simple_feature_pyramdi")


def test_a_task_plugin_replaces_a_slot_from_yaml(tmp_path, monkeypatch):
    # The registry is the process's: this test's neck leaves it when the test ends.
    necks = keras_vit.registry("neck")
    monkeypatch.setattr(necks, "_entries", dict(necks._entries))

    @keras_vit.register("neck", "test_mean_pyramid")
    class MeanPyramid(SimpleFeaturePyramid):
        """The simple pyramid with its levels' mean subtracted (a stand-in for a plugin's neck)."""

        def call(self, tokens):
            return [level - keras.ops.mean(level) for level in super().call(tokens)]

    spec = tmp_path / "my_segmenter.yaml"
    spec.write_text("name: my_segmenter\nfamily: segmenter\nmodel:\n  backbone: {name: vit_ti16, image_size: 32, "
                    "patch_size: 8, hidden_dim: 16, num_layers: 1, num_heads: 2, intermediate_dim: 32}\n"
                    "  hidden_dim: 8\n  neck: test_mean_pyramid\n")
    model = keras_vit.create(str(spec))
    assert isinstance(model.get_layer("neck"), MeanPyramid)
    assert tuple(model(np.zeros((1, 32, 32, 3), "float32")).shape) == (1, 32, 32, 11)


def test_detr_trains_with_model_fit_on_digit_scenes():
    from keras_vit.tasks.boxes import xyxy_to_cxcywh
    from keras_vit.tasks.data.digit_scenes import digit_scenes

    scenes = digit_scenes("train", num_scenes=4, seed=0, image_size=32, min_height=8, max_height=14,
                          max_objects=2)
    y = np.full((4, 2, 5), -1.0, "float32")
    for i, (boxes, labels) in enumerate(zip(scenes.boxes, scenes.labels)):
        ymin, xmin, ymax, xmax = np.asarray(boxes).T
        y[i, : len(labels), :4] = np.asarray(xyxy_to_cxcywh(np.stack([xmin, ymin, xmax, ymax], -1)))
        y[i, : len(labels), 4] = labels
    model = keras_vit.create(keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec())
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=False)
    losses = model.fit(scenes.images.astype("float32") / 255, y, batch_size=4, epochs=5, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses


def test_detr_refuses_a_loss_other_than_its_set_loss():
    model = keras_vit.create(keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec())
    model.compile("adam", loss="mse", jit_compile=False)
    targets = np.full((2, 2, 5), -1.0, "float32")
    with pytest.raises(ValueError, match="DETRSetLoss"):
        model.fit(np.zeros((2, 32, 32, 3), "float32"), targets, verbose=0)
