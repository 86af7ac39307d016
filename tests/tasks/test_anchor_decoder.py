"""The anchor decoder (DAB-DETR anchors, iterative refinement, SMCA's box prior) and DETR's decoder figure."""

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.tasks.anchor_decoder import BoxCrossAttention
from keras_vit.testing import randomize_weights

ANCHOR = {"decoder": {"name": "anchor_decoder", "num_layers": 2, "num_heads": 2, "intermediate_dim": 32,
                      "anchor_size": 0.3}, "head": "class_head"}


def _anchor_detr():
    return keras_vit.create(keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec(), **ANCHOR)


def test_first_layer_starts_from_the_anchor_grid_and_round_trips(tmp_path):
    model = _anchor_detr()
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    outputs = model(x)
    assert tuple(outputs["logits"].shape) == (2, 2, 4, 11) and tuple(outputs["boxes"].shape) == (2, 2, 4, 4)
    # 4 queries: a 2x2 grid of centres (0.25, 0.75) row-major, sides 0.3; the box correction starts at zero
    grid = [[0.25, 0.25, 0.3, 0.3], [0.75, 0.25, 0.3, 0.3], [0.25, 0.75, 0.3, 0.3], [0.75, 0.75, 0.3, 0.3]]
    np.testing.assert_allclose(outputs["boxes"][0, 0], grid, atol=1e-5)
    randomize_weights(model)
    boxes = np.asarray(model(x)["boxes"])
    assert boxes.min() >= 0 and boxes.max() <= 1 and not np.allclose(boxes[:, 0], grid, atol=1e-3)
    model.save(tmp_path / "anchor.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "anchor.keras")(x)["boxes"], boxes, atol=1e-6)


def test_box_prior_is_a_gaussian_around_the_box():
    # zero query weights: the content logits vanish and the attention is the prior's softmax alone
    layer = BoxCrossAttention(8, 2, use_box_prior=True)
    layer.build((1, 1, 8), (1, 12, 8))
    randomize_weights(layer)
    layer.query_dense.kernel.assign(np.zeros((8, 8)))
    layer.query_dense.bias.assign(np.zeros(8))
    rng = np.random.default_rng(1)
    box = np.array([[[0.3, 0.6, 0.5, 0.2]]], "float32")  # cx, cy, w, h
    _, scores = layer(rng.normal(size=(1, 1, 8)).astype("float32"), rng.normal(size=(1, 12, 8)).astype("float32"),
                      rng.normal(size=(1, 12, 8)).astype("float32"), box, grid_size=(3, 4))
    # cell centres of a 3 x 4 grid, row-major; prior -2((x - cx) / w)^2 - 2((y - cy) / h)^2, with h = 0.2 raised
    # to one cell's height, 1 / 3
    y, x = np.meshgrid((np.arange(3) + 0.5) / 3, (np.arange(4) + 0.5) / 4, indexing="ij")
    prior = -2 * ((x - 0.3) / 0.5) ** 2 - 2 * ((y - 0.6) / (1 / 3)) ** 2
    expected = np.exp(prior.ravel()) / np.exp(prior.ravel()).sum()
    np.testing.assert_allclose(scores[0, 0, 0], expected, atol=1e-6)
    np.testing.assert_allclose(scores[0, 1, 0], expected, atol=1e-6)


def test_anchor_decoder_and_detr_head_do_not_pair():
    spec = keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec()
    with pytest.raises(ValueError, match="pair 'anchor_decoder' with 'class_head'"):
        keras_vit.create(spec, decoder=ANCHOR["decoder"])


@pytest.mark.slow  # two minutes on the shared 2-core machine (tracing the step); test_task_models fits DETR by default
def test_anchor_detr_trains_with_model_fit():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(4, 32, 32, 3)).astype("float32")
    y = np.full((4, 2, 5), -1.0, "float32")
    y[:, 0] = [0.4, 0.5, 0.3, 0.4, 3]
    y[:2, 1] = [0.7, 0.2, 0.2, 0.2, 7]
    model = _anchor_detr()
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=False)
    losses = model.fit(x, y, batch_size=4, epochs=6, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses


@pytest.mark.parametrize("decoder", ["detr_decoder", "anchor_decoder"])
def test_decoder_attention_maps_each_query_over_the_grid(decoder):
    spec = keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec()
    model = _anchor_detr() if decoder == "anchor_decoder" else keras_vit.create(spec)
    randomize_weights(model)
    x = np.random.default_rng(2).normal(size=(3, 32, 32, 3)).astype("float32")
    result = keras_vit.tasks.decoder_attention(model, x)
    # tiny spec: 32 px, patch 8 -> a 4 x 4 grid; 4 queries, 10 digits + "no object"
    assert result["attention"].shape == (3, 4, 4, 4)
    np.testing.assert_allclose(result["attention"].sum(axis=(2, 3)), 1.0, atol=1e-5)
    assert result["logits"].shape == (3, 4, 11) and result["boxes"].shape == (3, 4, 4)
    np.testing.assert_allclose(result["boxes"], np.asarray(model(x)["boxes"])[:, -1], atol=1e-5)
    scores = result["logits"][0, :, :-1].max(-1)
    figure = keras_vit.tasks.plot_decoder_attention(x[0], result["attention"][0], result["boxes"][0],
                                                      result["logits"][0, :, :-1].argmax(-1), scores, max_queries=2)
    assert len(figure.axes) == 3


def test_decoder_attention_refuses_a_classifier():
    model = keras_vit.create(keras_vit.get_spec("vit_ti16").tiny_spec())
    with pytest.raises(ValueError, match="needs a DETR"):
        keras_vit.tasks.decoder_attention(model, np.zeros((1, 32, 32, 3), "float32"))


def test_query_selection_starts_from_the_best_proposals():
    model = keras_vit.create(keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec(),
                             decoder=dict(ANCHOR["decoder"], use_query_selection=True), head="class_head")
    randomize_weights(model)
    decoder = model.get_layer("decoder")
    for layer in (decoder.box_mlp[-1], decoder.proposal_box_mlp[-1]):  # corrections back to zero
        layer.kernel.assign(np.zeros(layer.kernel.shape))
        layer.bias.assign(np.zeros(layer.bias.shape))
    x = np.random.default_rng(3).normal(size=(2, 32, 32, 3)).astype("float32")
    outputs = {k: np.asarray(v) for k, v in model(x).items()}
    # one proposal per cell of the 4 x 4 grid: at the cell's centre, sides anchor_size (no correction yet)
    assert outputs["proposal_logits"].shape == (2, 16, 11) and outputs["proposal_boxes"].shape == (2, 16, 4)
    centres = (np.arange(4) + 0.5) / 4
    cells = np.stack([np.tile(centres, 4), np.repeat(centres, 4), np.full(16, 0.3), np.full(16, 0.3)], -1)
    np.testing.assert_allclose(outputs["proposal_boxes"][0], cells, atol=1e-5)
    # the first layer starts from the 4 proposals with the highest object-class probability, best first
    logits = outputs["proposal_logits"]
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    best = np.argsort(-probabilities[..., :-1].max(-1), axis=1)[:, :4]
    np.testing.assert_allclose(outputs["boxes"][:, 0], np.take_along_axis(outputs["proposal_boxes"], best[..., None], 1),
                               atol=1e-5)
    # the set loss trains the proposals as one more auxiliary output
    from keras_vit.tasks.detr import set_predictions

    predictions = set_predictions(model(x))
    assert len(predictions["aux_outputs"]) == 2 and predictions["aux_outputs"][-1]["logits"].shape == (2, 16, 11)


@pytest.mark.parametrize("use_query_selection", [False, True])
def test_query_groups_train_apart_and_inference_runs_the_first(use_query_selection):
    from keras_vit.tasks.anchor_decoder import AnchorDecoder

    decoder = AnchorDecoder(num_queries=3, num_layers=2, hidden_dim=8, num_heads=2, intermediate_dim=16,
                            dropout_rate=0.0, use_query_selection=use_query_selection, num_classes=4, num_groups=3)
    feature_map = np.random.default_rng(4).normal(size=(2, 3, 4, 8)).astype("float32")
    decoder.build(feature_map.shape)
    randomize_weights(decoder)
    trained, inferred = decoder(feature_map, training=True), decoder(feature_map, training=False)
    assert tuple(trained["queries"].shape) == (2, 2, 9, 8) and tuple(inferred["boxes"].shape) == (2, 2, 3, 4)
    # the first group in training is the inference pass: it never sees the other groups' queries
    for key in ("queries", "boxes"):
        np.testing.assert_allclose(np.asarray(trained[key])[:, :, :3], inferred[key], atol=1e-5)
    # the other groups start elsewhere: their own anchors (the grid shifted), or their own content queries
    differs = "queries" if use_query_selection else "boxes"
    assert np.abs(np.asarray(trained[differs])[:, :, 3:6] - inferred[differs]).max() > 1e-3
    # changing the third group's queries leaves the first two groups as they were
    weights = decoder.content if use_query_selection else decoder.anchors
    changed = np.asarray(weights).copy()
    changed[6:] += 1.0
    weights.assign(changed)
    again = decoder(feature_map, training=True)
    np.testing.assert_allclose(np.asarray(again["queries"])[:, :, :6], np.asarray(trained["queries"])[:, :, :6],
                               atol=1e-5)
    assert np.abs(np.asarray(again[differs])[:, :, 6:] - np.asarray(trained[differs])[:, :, 6:]).max() > 1e-3


@pytest.mark.parametrize("num_groups", [0, 2.5])
def test_num_groups_must_be_a_positive_integer(num_groups):
    from keras_vit.tasks.anchor_decoder import AnchorDecoder

    with pytest.raises(ValueError, match=f"num_groups is a positive number of query groups .*received {num_groups}"):
        AnchorDecoder(num_queries=3, num_layers=1, hidden_dim=8, num_heads=2, num_groups=num_groups)


def test_set_predictions_match_every_group_on_its_own():
    from keras_vit.tasks.detr import set_predictions

    rng = np.random.default_rng(5)
    outputs = {"logits": rng.normal(size=(2, 3, 8, 5)), "boxes": rng.uniform(size=(2, 3, 8, 4))}
    predictions = set_predictions(outputs, num_queries=4)
    # the first group's last layer, then 2 + 3 auxiliary outputs: the first group's other layers, the second's all
    np.testing.assert_array_equal(predictions["logits"], outputs["logits"][:, 2, :4])
    aux = predictions["aux_outputs"]
    assert len(aux) == 5
    np.testing.assert_array_equal(aux[1]["boxes"], outputs["boxes"][:, 1, :4])
    np.testing.assert_array_equal(aux[4]["logits"], outputs["logits"][:, 2, 4:])
    # without groups, as before: the last layer and the earlier layers
    assert len(set_predictions(outputs)["aux_outputs"]) == 2


def test_a_detr_with_query_groups_sums_each_groups_set_loss():
    from keras_vit.tasks.detr import set_predictions
    from keras_vit.tasks.set_loss import DETRSetLoss

    model = keras_vit.create(keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec(),
                             decoder={**ANCHOR["decoder"], "num_groups": 2}, head="class_head")
    randomize_weights(model)
    x = np.random.default_rng(6).normal(size=(2, 32, 32, 3)).astype("float32")
    y = np.full((2, 4, 5), -1.0, "float32")
    y[:, 0] = [0.4, 0.5, 0.3, 0.4, 3]
    y[0, 1] = [0.7, 0.2, 0.2, 0.2, 7]
    outputs = model(x, training=True)
    assert tuple(outputs["logits"].shape) == (2, 2, 8, 11)  # 2 groups of the 4 queries
    assert tuple(model(x)["logits"].shape) == (2, 2, 4, 11)
    total = model.compute_loss(x, y, outputs)
    # each group on its own is a plain DETR's output, with its own Hungarian matching
    groups = [{key: value[:, :, g * 4:(g + 1) * 4] for key, value in outputs.items()} for g in (0, 1)]
    expected = sum(float(DETRSetLoss()(y, set_predictions(group))) for group in groups)
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)


def test_the_digits_detr_recipe_scales_the_scenes_to_its_input():
    from keras_vit.train.recipe import load_recipe

    recipe = load_recipe("digits_detr")
    assert recipe.model["decoder"]["name"] == "anchor_decoder" and recipe.model["head"] == "class_head"
    # the 128 px scenes' 20-48 px digits at the 96 px input: 20 * 96 / 128 = 15, 48 * 96 / 128 = 36
    source, side = recipe.data["source"], recipe.model["backbone"]["image_size"]
    assert side == 96 and (source["min_height"], source["max_height"]) == (15, 36)
    assert side % recipe.model["backbone"]["patch_size"] == 0
