"""LoRA (keras_vit.lora) and DeiT's hard distillation (keras_vit.models.HardDistillation) on tiny models."""

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.lora import enable_lora, load_adapters, merge_lora, save_adapters
from keras_vit.models import HardDistillation
from keras_vit.quantization import quantize
from keras_vit.testing import randomize_weights

D, LAYERS, MLP_DIM, CLASSES = 32, 2, 64, 5
TINY = dict(image_size=32, patch_size=8, hidden_dim=D, num_layers=LAYERS, num_heads=2, intermediate_dim=MLP_DIM,
            num_classes=CLASSES)
IMAGES = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")


def base_model(seed=0, name="vit_ti16", **kwargs):
    return randomize_weights(keras_vit.create(name, **{**TINY, **kwargs}), seed=seed)


def lora_model(seed=0, **lora):
    """A base model with adapters set to random values (fresh ones are zero in B and change nothing)."""
    model = enable_lora(base_model(seed), **{"rank": 4, "alpha": 8, **lora})
    rng = np.random.default_rng(seed + 10)
    for variable in model.trainable_weights:
        variable.assign(rng.normal(scale=0.1, size=variable.shape))
    return model


def count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


@pytest.mark.parametrize("targets, train_norms, adapted", [
    (("qkv",), False, LAYERS * 4 * (D + 3 * D)),
    (("qkv", "mlp/fc1"), False, LAYERS * 4 * ((D + 3 * D) + (D + MLP_DIM))),
    # norms: two per block and the final one, a scale and an offset of width D each
    (("attention/projection",), True, LAYERS * 4 * (D + D) + (2 * LAYERS + 1) * 2 * D),
    # timm's name for the attention output projection, as in keras_vit.enable_lora(model, targets=("qkv", "proj"))
    (("qkv", "proj"), False, LAYERS * 4 * ((D + 3 * D) + (D + D))),
])
def test_trainable_parameters_are_the_adapters_and_the_head(targets, train_norms, adapted):
    model = enable_lora(base_model(), rank=4, targets=targets, train_norms=train_norms)
    head = D * CLASSES + CLASSES
    assert count(model.trainable_weights) == adapted + head
    assert count(model.weights) == count(base_model().weights) + sum(
        LAYERS * 4 * w for t, w in (("qkv", D + 3 * D), ("mlp/fc1", D + MLP_DIM), ("attention/projection", 2 * D))
        if t in targets or (t == "attention/projection" and "proj" in targets))


def test_a_training_step_moves_only_the_adapters_and_the_head_and_fresh_adapters_change_nothing():
    model = base_model()
    before = model.predict(IMAGES, verbose=0)
    enable_lora(model, rank=2)
    np.testing.assert_allclose(model.predict(IMAGES, verbose=0), before, atol=1e-6)
    frozen = {v.path: np.array(v) for v in model.weights if "lora" not in v.path and "head" not in v.path}
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(IMAGES, np.array([0, 1, 2]), epochs=2, verbose=0)
    for variable in model.weights:
        if variable.path in frozen:
            np.testing.assert_array_equal(np.array(variable), frozen[variable.path], err_msg=variable.path)
    assert np.abs(np.array(model.get_layer("block_1").attention.qkv.lora_kernel_b)).max() > 0


def test_adapters_save_alone_and_load_onto_the_base_model(tmp_path):
    model = lora_model()
    save_adapters(model, tmp_path / "adapters.npz")
    assert (tmp_path / "adapters.npz").stat().st_size < 4 * count(model.weights) / 4
    restored = load_adapters(base_model(), tmp_path / "adapters.npz")
    assert dict(restored.lora_config) == {"rank": 4, "alpha": 8, "targets": ["qkv"], "train_norms": False}
    np.testing.assert_allclose(restored.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0), atol=1e-6)
    # the file holds adapters, not the base weights: another base gives another function
    other = load_adapters(base_model(seed=1), tmp_path / "adapters.npz")
    assert np.abs(other.predict(IMAGES, verbose=0) - model.predict(IMAGES, verbose=0)).max() > 1e-3


def test_merged_model_equals_the_lora_model_and_its_kernels_are_w_plus_scaled_ab():
    model = lora_model(targets=("qkv", "mlp/fc2"))
    merged = merge_lora(model)
    assert not any("lora" in v.path for v in merged.weights) and len(merged.trainable_weights) == len(merged.weights)
    np.testing.assert_allclose(merged.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0), atol=1e-5)
    assert np.abs(merged.predict(IMAGES, verbose=0) - base_model().predict(IMAGES, verbose=0)).max() > 1e-3
    source = model.get_layer("block_0").mlp.fc2
    a, b = np.array(source.lora_kernel_a), np.array(source.lora_kernel_b)
    expected = np.array(base_model().get_layer("block_0").mlp.fc2.kernel) + 8 / 4 * a @ b  # alpha / rank = 2
    np.testing.assert_allclose(np.array(merged.get_layer("block_0").mlp.fc2.kernel), expected, atol=1e-5)


def test_the_merged_savedmodel_serves_what_the_lora_model_computes(tmp_path):
    model = lora_model()
    result = keras_vit.export(merge_lora(model), tmp_path / "served", outputs="logits", write_config=False,
                            verbose=False, jit_compile=False)
    import tensorflow as tf

    served = tf.saved_model.load(result.path).signatures["serving_default"]
    pixels = np.random.default_rng(1).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    logits = model.predict(keras_vit.preprocessing(model)(pixels), verbose=0)
    got = served(images=tf.constant(pixels))["probabilities"].numpy()
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)  # the signature's softmax of the logits
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("name", ["deit_ti16_distilled", "tnt_s16", "vit_r_ti16"])
def test_every_family_with_attention_takes_adapters_and_merges(name):
    model = keras_vit.build(keras_vit.get_spec(name).tiny_spec())
    enable_lora(model, rank=2, targets=("qkv",))
    for variable in model.trainable_weights:
        variable.assign(np.random.default_rng(0).normal(scale=0.1, size=variable.shape))
    images = np.random.default_rng(1).normal(size=(2, *model.inputs[0].shape[1:])).astype("float32")
    np.testing.assert_allclose(merge_lora(model).predict(images, verbose=0), model.predict(images, verbose=0),
                               atol=1e-5)


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"match no layer.*'attention/projection', 'attention/qkv', 'mlp/fc1'"):
        enable_lora(base_model(), targets=("out_proj",))
    for rank in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="`rank` must be an integer > 0"):
            enable_lora(base_model(), rank=rank)
    with pytest.raises(ValueError, match="is quantized"):
        enable_lora(quantize(base_model()))
    with pytest.raises(ValueError, match="match no layer"):  # a ResNet's blocks hold convolutions only
        enable_lora(keras_vit.build(keras_vit.get_spec("bit_r50x1").tiny_spec()))
    save_adapters(lora_model(), tmp_path / "a.npz")
    with pytest.raises(ValueError, match=r"another architecture.*hidden_dim: 32 in the file, 16 here"):
        load_adapters(base_model(hidden_dim=16), tmp_path / "a.npz")
    with pytest.raises(ValueError, match="has no LoRA adapters"):
        save_adapters(base_model(), tmp_path / "b.npz")


def log_softmax_cross_entropy(logits, labels):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -log_probabilities[np.arange(len(labels)), labels].mean()


def test_a_distillation_step_logs_the_label_and_teacher_losses_of_the_two_heads():
    student = keras_vit.create("deit_ti16_distilled", **TINY)
    randomize_weights(student, scale=0.3, seed=2)
    teacher = base_model(seed=3)
    labels = np.array([0, 3, 4])
    heads = keras_vit.models.distillation_outputs(student)
    logits, distillation_logits = (np.asarray(t, dtype="float64") for t in heads(IMAGES))
    teacher_labels = np.asarray(teacher(IMAGES)).argmax(-1)
    assert (teacher_labels != labels).any()  # the two targets differ, so the losses tell the heads apart
    teacher_weights = [np.array(w) for w in teacher.weights]
    trainer = HardDistillation(student, teacher)
    trainer.compile(optimizer=keras.optimizers.SGD(0.5), loss=keras.losses.SparseCategoricalCrossentropy(True))
    logs = trainer.train_on_batch(IMAGES, labels, return_dict=True)
    label_loss = log_softmax_cross_entropy(logits, labels)
    distillation_loss = log_softmax_cross_entropy(distillation_logits, teacher_labels)
    np.testing.assert_allclose(logs["label_loss"], label_loss, rtol=1e-5)
    np.testing.assert_allclose(logs["distillation_loss"], distillation_loss, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], (label_loss + distillation_loss) / 2, rtol=1e-5)
    for before, after in zip(teacher_weights, teacher.weights):
        np.testing.assert_array_equal(before, np.array(after))  # the teacher is frozen
    assert not np.allclose(np.asarray(heads(IMAGES)[1]), distillation_logits, atol=1e-4)  # the student learned


def test_distillation_refuses_a_teacher_with_other_classes_and_a_student_without_a_distilled_head():
    with pytest.raises(ValueError, match="student 'deit_ti16_distilled' has 5 classes"):
        HardDistillation(keras_vit.create("deit_ti16_distilled", **TINY), base_model(num_classes=3))
    with pytest.raises(ValueError, match="no distilled head"):
        HardDistillation(base_model(), base_model())
