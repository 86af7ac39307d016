"""Recipes, schedules, optimizers and strategies, without training."""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.testing import randomize_weights
from keras_vit.train import (
    RecipeError,
    StrategyError,
    WarmupConstant,
    WarmupCosine,
    layer_decay_scales,
    list_recipes,
    load_recipe,
    make_optimizer,
    make_strategy,
    no_weight_decay,
)
from tests.layout_model import laid_out_model
from tests.train.processes import ROOT, environment


def tiny_vit(**overrides):
    return keras_vit.create("vit_ti16", image_size=16, patch_size=8, hidden_dim=8, num_layers=2, num_heads=2,
                            intermediate_dim=16, num_classes=3, **overrides)


def test_warmup_cosine_matches_the_formula():
    schedule = WarmupCosine(learning_rate=0.1, total_steps=110, warmup_steps=10, end_learning_rate=0.01)
    expected = {0: 0.0, 5: 0.05, 10: 0.1, 60: 0.01 + 0.5 * 0.09 * (1 + math.cos(math.pi * 0.5)), 110: 0.01,
                200: 0.01, 35: 0.01 + 0.5 * 0.09 * (1 + math.cos(math.pi * 25 / 100))}
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, rel=1e-5, abs=1e-7), step
    assert WarmupCosine.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_warmup_constant_ramps_then_holds():
    schedule = WarmupConstant(learning_rate=0.2, warmup_steps=4)
    expected = {0: 0.0, 1: 0.05, 3: 0.15, 4: 0.2, 5: 0.2, 1000: 0.2}  # 0.2 * min(1, step / 4)
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, rel=1e-6, abs=1e-9), step
    assert schedule.get_config() == {"learning_rate": 0.2, "warmup_steps": 4}
    assert float(WarmupConstant.from_config(schedule.get_config())(2)) == pytest.approx(0.1)
    assert float(WarmupConstant(0.3)(0)) == pytest.approx(0.3)  # no warm-up: the rate from the first step


def test_weight_decay_skips_norms_biases_positions_and_tokens():
    model = tiny_vit()
    excluded = no_weight_decay(model)
    assert "class_token/token" in excluded and "position_embedding/embeddings" in excluded
    assert "block_0/norm1/gamma" in excluded and "block_1/mlp/fc1/bias" in excluded
    assert "block_0/attention/qkv/kernel" not in excluded and "patch_embed/projection/kernel" not in excluded
    # AdamW with zero gradients: only the decay moves weights, w <- w - lr * wd * w
    optimizer = make_optimizer({"name": "adamw", "weight_decay": 0.5}, 1.0, model)
    randomize_weights(model)
    before = {v.path: np.array(v) for v in model.trainable_variables}
    optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_variables], model.trainable_variables)
    for v in model.trainable_variables:
        factor = 1.0 if v.path in excluded else 0.5
        np.testing.assert_allclose(np.array(v), before[v.path] * factor, rtol=1e-6, err_msg=v.path)


def test_layer_wise_learning_rate_decay():
    model = tiny_vit()
    scales = layer_decay_scales(model, 0.5)
    # 2 blocks: stem 0.5^3, block_0 0.5^2, block_1 0.5, final norm and head 1
    assert scales["patch_embed/projection/kernel"] == scales["class_token/token"] == 0.125
    assert scales["block_0/mlp/fc1/kernel"] == 0.25 and scales["block_1/norm2/beta"] == 0.5
    assert scales["encoder_norm/gamma"] == scales["head/classifier/kernel"] == 1.0
    # plain SGD, gradient 1 everywhere: each variable moves by -lr * its scale
    optimizer = make_optimizer({"name": "sgd", "momentum": 0.0, "layer_decay": 0.5}, 0.1, model)
    before = {v.path: np.array(v) for v in model.trainable_variables}
    optimizer.apply([keras.ops.ones_like(v) for v in model.trainable_variables], model.trainable_variables)
    for v in model.trainable_variables:
        np.testing.assert_allclose(np.array(v), before[v.path] - 0.1 * scales[v.path], atol=1e-7, err_msg=v.path)


def test_layer_decay_depths_come_from_the_layout():
    model = laid_out_model()  # stem embed, blocks unit_a and unit_b, head top: no name says "block"
    scales = layer_decay_scales(model, 0.5)
    assert scales == {"embed/kernel": 0.125, "embed/bias": 0.125, "unit_a/kernel": 0.25, "unit_a/bias": 0.25,
                      "unit_b/kernel": 0.5, "unit_b/bias": 0.5, "top/kernel": 1.0, "top/bias": 1.0}
    make_optimizer({"name": "sgd"}, 0.1, keras.Model(model.inputs, model.outputs))  # no layer decay: any model
    with pytest.raises(ValueError, match=r"layer-wise learning-rate decay needs a keras_vit zoo model \(model.layout\)"):
        make_optimizer({"name": "sgd", "layer_decay": 0.5}, 0.1, keras.Model(model.inputs, model.outputs))


@pytest.mark.parametrize("name, block, depth", [("tnt_s16", "block_1/", 2), ("bit_r50x1", "block2_unit1/", 2)])
def test_layer_decay_of_tnt_and_resnet_units(name, block, depth):
    model = keras_vit.create(name, **keras_vit.get_spec(name).tiny)
    scales = layer_decay_scales(model, 0.5)
    num_blocks = len(model.layout.blocks)
    assert {scales[p] for p in scales if p.startswith(block)} == {0.5 ** (num_blocks + 1 - depth)}
    assert {scales[p] for p in scales if p.startswith("head/")} == {1.0}
    assert {scales[v.path] for layer in model.layout.stem for v in model.get_layer(layer).trainable_weights} == {
        0.5 ** (num_blocks + 1)}


def test_shipped_recipes_load_and_extend():
    assert {"mnist_vit", "vit_finetune_sgd", "deit_adamw"} <= set(list_recipes())
    sgd, deit = load_recipe("vit_finetune_sgd"), load_recipe("deit_adamw")
    assert (sgd.optimizer["name"], sgd.optimizer["momentum"], sgd.optimizer["global_clipnorm"]) == ("sgd", 0.9, 1.0)
    assert sgd.schedule["warmup_steps"] == 500 and sgd.run["steps_per_epoch"] * sgd.run["epochs"] == 10_000
    assert deit.data["source"] == sgd.data["source"]  # inherited through `extends`
    assert (deit.optimizer["name"], deit.data["label_smoothing"], deit.model["drop_path_rate"]) == ("adamw", 0.1, 0.1)
    recipe = load_recipe("mnist_vit", {"optimizer.learning_rate": 0.5, "run.epochs": 2}, batch_size=128)
    assert (recipe.optimizer["learning_rate"], recipe.run["epochs"], recipe.run["batch_size"]) == (0.5, 2, 128)
    assert load_recipe("mnist_vit").run["epochs"] == 40  # the file itself is unchanged


def test_a_dotted_override_sets_one_key_of_a_nested_mapping():
    recipe = load_recipe("digits_detr", {"data.source.min_height": 15, "model.backbone.image_size": 128})
    assert dict(recipe.data["source"]) == {**load_recipe("digits_detr").data["source"], "min_height": 15}
    assert dict(recipe.model["backbone"]) == {"name": "vit_ti16", "image_size": 128, "patch_size": 8}
    with pytest.raises(RecipeError, match=r"'data\.source\.min_height': data\.source is 'offline', not a mapping"):
        load_recipe("mnist_vit", {"data.source.min_height": 15})


def test_recipe_files_are_validated(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nextends: mnist_vit\noptimizer: {name: adamw, learning_rate: 0.001, wd: 0.1}\n")
    with pytest.raises(RecipeError, match=r"mine.yaml: unknown key optimizer.wd"):
        load_recipe(str(path))
    path.write_text("name: mine\nextends: mnist_vit\nrun: {epochs: 2, strategy: mirrored, devices: [/cpu:0]}\n")
    assert load_recipe(str(path)).run["devices"] == ("/cpu:0",)
    with pytest.raises(RecipeError, match="Unknown recipe 'mnist_vt'.*mnist_vit"):
        load_recipe("mnist_vt")
    with pytest.raises(RecipeError, match="unknown section 'optimiser'.*Did you mean 'optimizer'"):
        load_recipe("mnist_vit", {"optimiser.learning_rate": 0.1})


def test_recipe_values_are_checked_by_the_glossary(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nextends: mnist_vit\noptimizer: {name: sgd, learning_rate: 0.1, momentum: 1.5}\n")
    with pytest.raises(RecipeError, match=r"mine.yaml: optimizer.momentum \(SGD momentum\): must be a number "
                                          r"in \[0, 1\]; received 1.5\.$"):
        load_recipe(str(path))
    for overrides, match in [
        ({"optimizer.name": "sdg"}, r"optimizer.name \(.*\): must be one of .*received 'sdg'.*'sgd'"),
        ({"schedule.name": "cosine"}, r"schedule.name .*received 'cosine'.*Did you mean 'warmup_cosine'"),
        ({"jit_compile": "yes"}, r"run.jit_compile .*must be one of 'auto', True, False; received 'yes'"),
        ({"crop_scale": [0.5, 0.2]}, r"data.crop_scale .*0 < low <= high <= 1; received \[0.5, 0.2\]"),
        ({"train_split": None}, r"data.train_split .*must be a string; received None"),
        ({"warmup_steps": -1}, r"schedule.warmup_steps .*non-negative integer; received -1"),
        ({"label_smoothing": 1.0}, r"data.label_smoothing .*\[0, 1\); received 1.0"),
    ]:
        with pytest.raises(RecipeError, match=match):
            load_recipe("mnist_vit", overrides)
    # A learning rate is not a rate in [0, 1), and NaN passes on purpose (it tests failure handling); null passes
    # where the default is null, and for eval_split (no held-out split).
    recipe = load_recipe("mnist_vit", learning_rate=math.nan, eval_split=None, global_clipnorm=None)
    assert math.isnan(recipe.optimizer["learning_rate"]) and recipe.data["eval_split"] is None
    assert load_recipe("mnist_vit", learning_rate=2.0, warmup_epochs=0.5).optimizer["learning_rate"] == 2.0


def test_every_recipe_key_has_a_field_and_a_documented_meaning():
    from keras_vit.schema import Field
    from keras_vit.train.optimizers import OPTIMIZERS
    from keras_vit.train.recipe import REQUIRED, SCHEMA
    from keras_vit.train.schedules import SCHEDULES
    from keras_vit.train.strategy import STRATEGIES

    # The choices are the names the train modules implement, not a copy.
    choices = [SCHEMA[section][key][1].choices for section, key in
               [("optimizer", "name"), ("schedule", "name"), ("run", "strategy")]]
    assert choices == [OPTIMIZERS, SCHEDULES, STRATEGIES]
    for section, keys in SCHEMA.items():
        for key, (default, field, _) in keys.items():
            assert isinstance(field, Field), (section, key)
            with pytest.raises(ValueError, match=f"^{section}.{key}: must be .*; received <object"):
                field.check(f"{section}.{key}", object())
            if default is not REQUIRED:
                field.check(f"{section}.{key}", default)
    rows = [f"| `{section}.{key}` | {'required' if default is REQUIRED else f'`{json.dumps(default)}`'} | {meaning} |"
            for section, keys in SCHEMA.items() for key, (default, _, meaning) in keys.items()]
    docs = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    table = docs.split("| key | default | meaning |\n|---|---|---|\n")[1].split("\n\n")[0].splitlines()
    assert table == rows, "docs/training.md's table of recipe keys differs from keras_vit.train.recipe.SCHEMA"


def test_strategies_and_their_errors(monkeypatch):
    import tensorflow as tf

    assert make_strategy("default") is tf.distribute.get_strategy()
    assert make_strategy("auto").num_replicas_in_sync >= 1
    with pytest.raises(StrategyError, match="Unknown strategy 'mirorred'"):
        make_strategy("mirorred")
    with pytest.raises(StrategyError, match="Device '/gpu:7' does not exist"):
        make_strategy("mirrored", devices=["/gpu:7"])
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(StrategyError, match="TF_CONFIG environment variable, which is not set"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(StrategyError, match="TF_CONFIG is not a valid cluster description"):
        make_strategy("multi_worker")


def test_cli_dry_run_prints_the_resolved_recipe():
    result = subprocess.run(
        [sys.executable, "-m", "keras_vit.cli", "train", "--recipe", "deit_adamw", "--epochs", "3",
         "--set", "optimizer.layer_decay=0.65", "--dry_run"],
        cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "layer_decay: 0.65" in result.stdout and "epochs: 3" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "keras_vit.cli", "train", "--recipe", "mnist_vit", "--set", "run.epochs=0"],
                         cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "run.epochs (training epochs): must be a positive integer; received 0" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_training(tmp_path, policy):
    summary = keras_vit.train("mnist_vit", epochs=1, steps_per_epoch=2, eval_steps=1, batch_size=16,
                              mixed_precision=policy, output_dir=str(tmp_path), tensorboard=False, verbose=0,
                              jit_compile=False, model={"hidden_dim": 16, "num_layers": 1, "num_heads": 2,
                                                         "intermediate_dim": 32})
    # loss scaling for float16 only (bfloat16 has float32's exponent range)
    loss_scaled = isinstance(summary.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert loss_scaled == (policy == "mixed_float16") and summary["optimizer_steps"] == 2
    assert summary.model.get_layer("block_0").compute_dtype == policy.removeprefix("mixed_")
    assert summary.model.get_layer("block_0").variable_dtype == "float32"
    assert all(np.isfinite(w).all() for w in summary.model.get_weights())


def test_cli_trains_then_exports_for_serving(tmp_path):
    # The README's main job in miniature: train, then --export writes a checked, versioned SavedModel.
    serving = tmp_path / "serving" / "digits"
    result = subprocess.run(
        [sys.executable, "-m", "keras_vit.cli", "train", "--recipe", "mnist_vit", "--epochs", "1",
         "--steps_per_epoch", "2", "--batch_size", "16", "--output_dir", str(tmp_path / "run"),
         "--set", "run.eval_steps=1", "--set", "model.num_layers=1", "--set", "run.tensorboard=false",
         "--export", str(serving)],
        cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout[result.stdout.index("{\n"):])
    assert summary["export_path"] == str(serving / "1")
    assert (serving / "1" / "saved_model.pb").is_file() and (tmp_path / "serving" / "models.config").is_file()
    assert "Check passed" in result.stdout
    served = tf.saved_model.load(str(serving / "1")).signatures["serving_default"]
    probabilities = served(images=tf.zeros((2, 28, 28, 1)))["probabilities"].numpy()
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_recipe_extends_cycle_is_a_recipe_error(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\nextends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("name: b\nextends: a.yaml\n")
    with pytest.raises(RecipeError, match=r"Recipe file .*b\.yaml: `extends` forms a cycle .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        keras_vit.train.load_recipe(str(tmp_path / "a.yaml"))


VIT_BLOCK_NO_DECAY = {f"block_0/{name}" for name in (
    "norm1/gamma", "norm1/beta", "attention/qkv/bias", "attention/projection/bias", "norm2/gamma", "norm2/beta",
    "mlp/fc1/bias", "mlp/fc2/bias")}
TRANSFORMER_NO_DECAY = {"patch_embed/projection/bias", "class_token/token", "position_embedding/embeddings",
                        "encoder_norm/gamma", "encoder_norm/beta", "head/classifier/bias"} | VIT_BLOCK_NO_DECAY


def test_no_decay_variables_of_a_tiny_vit_tnt_and_hybrid_are_the_published_ones():
    size = {"image_size": 16, "hidden_dim": 8, "num_layers": 1, "num_heads": 2, "intermediate_dim": 16,
            "num_classes": 3}
    vit = keras_vit.create("vit_ti16", patch_size=8, use_distillation_token=True, num_register_tokens=1, **size)
    assert no_weight_decay(vit) == TRANSFORMER_NO_DECAY | {"distillation_token/token", "register_tokens/token"}
    stem = {**keras_vit.get_spec("vit_r_ti16").model["stem"], "stage_sizes": [1]}
    hybrid = keras_vit.create("vit_r_ti16", patch_size=1, stem=stem, **size)
    unit_norms = {f"stem/block1_unit1/{gn}/{p}" for gn in ("gn1", "gn2", "gn3", "gn_proj") for p in ("gamma", "beta")}
    assert no_weight_decay(hybrid) == TRANSFORMER_NO_DECAY | unit_norms | {"stem/root/gn_root/gamma",
                                                                           "stem/root/gn_root/beta"}
    tnt = keras_vit.create("tnt_s16", patch_size=8, inner_dim=4, inner_num_heads=1, inner_intermediate_dim=8, **size)
    norms = {f"{layer}/{norm}/{p}" for layer in ("patch_projection", "block_0/pixel_projection", "block_0/inner_block",
                                                 "block_0/outer_block") for norm in ("norm1", "norm2")
             for p in ("gamma", "beta")}
    biases = {f"block_0/{side}/{name}/bias" for side in ("inner_block", "outer_block")
              for name in ("attention/projection", "mlp/fc1", "mlp/fc2")}
    assert no_weight_decay(tnt) == norms | biases | {
        "pixel_embed/projection/bias", "pixel_position/embeddings", "patch_projection/projection/bias",
        "class_token/token", "patch_position/embeddings", "encoder_norm/gamma", "encoder_norm/beta",
        "head/classifier/bias"}
    # a plain Keras model has no layout: its biases and norms (rank <= 1) are skipped
    plain = keras.Model(vit.inputs, vit.outputs)
    assert no_weight_decay(plain) == {v.path for v in vit.weights if len(v.shape) <= 1}
    assert "class_token/token" not in no_weight_decay(plain)


def test_a_trained_model_file_loads_after_only_import_keras_vit(tmp_path):
    """model.keras of `keras-vit train` holds our optimizer and schedule; keras.saving.load_model must find them
    after `import keras_vit` alone (they live in keras_vit.train, which loads lazily)."""
    from keras_vit.train.optimizers import make_optimizer
    from keras_vit.train.schedules import make_schedule

    model = keras_vit.create(keras_vit.get_spec("vit_ti16").tiny_spec(), num_classes=3)
    config = {"name": "adamw", "momentum": 0.9, "nesterov": False, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
              "weight_decay": 0.05, "global_clipnorm": None, "layer_decay": 0.75}
    schedule = make_schedule("warmup_cosine", learning_rate=1e-3, total_steps=10, warmup_steps=2)
    model.compile(make_optimizer(config, schedule, model), loss="sparse_categorical_crossentropy")
    x = np.zeros((2, *model.inputs[0].shape[1:]), "float32")
    model.fit(x, np.array([0, 1]), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    code = ("import keras, keras_vit; m = keras.saving.load_model({!r}); "
            "print(type(m.optimizer).__name__, type(m.optimizer.learning_rate).__name__)").format(str(tmp_path / "model.keras"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert type(model.optimizer).__name__ in out.stdout
