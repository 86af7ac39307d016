"""The example plugin package examples/keras_vit_talking_heads: its attention layer against NumPy, and the package
pip-installed into a folder, found through its entry point, trained, saved and loaded in fresh processes."""

import importlib
import importlib.metadata
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from keras_vit.registry import registry
from keras_vit.testing import check_layer
from tests import numpy_reference as ref
from tests.test_plugins import run

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "keras_vit_talking_heads"
PACKAGE = "keras_vit_talking_heads"


@pytest.fixture
def plugin(monkeypatch):
    """The example's layer module imported from its source folder; afterwards the attention registry and
    sys.modules are as before (other tests expect only keras_vit's own layers to be registered)."""
    entries = registry("attention")._entries
    before_entries, before_modules = dict(entries), set(sys.modules)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield importlib.import_module(f"{PACKAGE}.talking_heads")
    entries.clear()
    entries.update(before_entries)
    for name in set(sys.modules) - before_modules:
        if name.split(".")[0] == PACKAGE:
            del sys.modules[name]


def talking_heads_reference(x, w_qkv, b_qkv, w_o, b_o, pre, post, num_heads, relative_keys=None):
    """Talking-heads attention from the paper's equations. x: (B, N, D); w_qkv: (D, 3D) holding [q | k | v];
    pre, post: (H, H) mixing matrices; relative_keys: (N, N, d_h). Returns (B, N, D)."""
    batch, n, d = x.shape
    dh = d // num_heads
    q, k, v = (t.reshape(batch, n, num_heads, dh) for t in np.split(x @ w_qkv + b_qkv, 3, axis=-1))
    logits = np.einsum("bihd,bjhd->bhij", q, k)
    if relative_keys is not None:
        logits = logits + np.einsum("bihd,ijd->bhij", q, relative_keys)
    weights = np.einsum("bhij,hg->bgij", ref.softmax(np.einsum("bhij,hg->bgij", logits / np.sqrt(dh), pre)), post)
    return np.einsum("bhij,bjhd->bihd", weights, v).reshape(batch, n, d) @ w_o + b_o


def test_identity_mixing_is_plain_attention_and_learned_mixing_matches_numpy(plugin):
    rng = np.random.default_rng(0)
    layer = plugin.TalkingHeadsAttention(hidden_dim=8, num_heads=2)
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    keys = rng.normal(scale=0.3, size=(5, 5, 4)).astype("float32")
    layer.build(x.shape)
    # Random projections (Dense biases start at zero and would hide a misplaced bias).
    for variable in (layer.qkv.kernel, layer.qkv.bias, layer.projection.kernel, layer.projection.bias):
        variable.assign(rng.normal(scale=0.5, size=variable.shape))
    w, b = layer.qkv.kernel.numpy(), layer.qkv.bias.numpy()
    w_o, b_o = layer.projection.kernel.numpy(), layer.projection.bias.numpy()
    (w_q, w_k, w_v), (b_q, b_k, b_v) = np.split(w, 3, axis=1), np.split(b, 3)
    np.testing.assert_array_equal(layer.pre_softmax_mixing.numpy(), np.eye(2))
    np.testing.assert_array_equal(layer.post_softmax_mixing.numpy(), np.eye(2))
    for relative_keys in (None, keys):
        plain = ref.msa(x, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, num_heads=2, relative_keys=relative_keys)
        np.testing.assert_allclose(layer(x, relative_keys=relative_keys), plain, atol=1e-5)

    pre, post = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    layer.pre_softmax_mixing.assign(pre)
    layer.post_softmax_mixing.assign(post)
    for relative_keys in (None, keys):
        expected = talking_heads_reference(x, w, b, w_o, b_o, pre, post, 2, relative_keys)
        np.testing.assert_allclose(layer(x, relative_keys=relative_keys), expected, atol=1e-5)
        assert not np.allclose(expected, ref.msa(x, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, 2, relative_keys))

    logits_only = plugin.TalkingHeadsAttention(hidden_dim=8, num_heads=2, use_post_softmax_mixing=False)
    logits_only.build(x.shape)
    targets = (logits_only.pre_softmax_mixing, *logits_only.qkv.weights, *logits_only.projection.weights)
    for variable, value in zip(targets, (pre, w, b, w_o, b_o), strict=True):
        variable.assign(value)
    assert logits_only.post_softmax_mixing is None and len(logits_only.weights) == 5
    np.testing.assert_allclose(logits_only(x), talking_heads_reference(x, w, b, w_o, b_o, pre, np.eye(2), 2), atol=1e-5)


def test_the_plugin_layer_passes_keras_vits_shared_layer_check(plugin):
    non_default = {"num_heads": 4, "attention_dropout_rate": 0.1, "use_qkv_bias": False, "use_pre_softmax_mixing": False}
    check_layer(plugin.TalkingHeadsAttention, (2, 5, 8), {"hidden_dim": 8, "num_heads": 2}, non_default)
    with pytest.raises(ValueError, match="divisible"):
        plugin.TalkingHeadsAttention(hidden_dim=8, num_heads=3)


def pip_install(source, target):
    """Installs the example package into `target` as a user would (a built wheel with its entry point). Offline
    when setuptools>=61 is installed here; otherwise pip fetches the build backend from PyPI."""
    try:
        offline = int(importlib.metadata.version("setuptools").split(".")[0]) >= 61
    except importlib.metadata.PackageNotFoundError:
        offline = False
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--target", str(target), str(source)]
    result = subprocess.run(
        command + (["--no-build-isolation"] if offline else []), capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def test_the_slot_table_of_docs_plugins_md_matches_the_vit_family():
    """The table tells plugin authors which hyperparameters each slot passes; it must follow the code."""
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| ([^|]*) \| ([^|]*) \|", (REPO / "docs" / "plugins.md").read_text(), re.M)
    slots = registry("model").get("vit").SLOTS
    assert sorted(row[0] for row in rows) == sorted(slots)
    for slot, kind, default, provided in rows:
        default = re.findall(r"`(\w+)`", default)[0]
        assert (kind, None if default == "null" else default) == (slots[slot].kind, slots[slot].default), slot
        assert sorted(re.findall(r"`(\w+)`", provided)) == sorted(slots[slot].provided), slot


TINY = "image_size=32, patch_size=8, num_classes=3, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64"


def test_installed_example_plugin_trains_saves_loads_and_counts_its_parameters(tmp_path):
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = tmp_path / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    target = tmp_path / "site"
    pip_install(source, target)
    assert (target / PACKAGE / "specs" / "vit_ti16_talking_heads.yaml").is_file()

    saved = run(target, f"""
        import json, numpy as np, keras, keras_vit
        from keras_vit.testing import randomize_weights
        from keras_vit_talking_heads import TalkingHeadsAttention

        def error_of(function):
            try:
                function()
            except Exception as error:
                return str(error)

        model = keras_vit.create("vit_ti16_talking_heads", {TINY})
        attentions = [model.get_layer(f"block_{{i}}").attention for i in range(2)]
        mixings = lambda: [m.numpy().copy() for a in attentions for m in (a.pre_softmax_mixing, a.post_softmax_mixing)]
        starts_as_identity = all(np.array_equal(m, np.eye(2)) for m in mixings())
        # Zoo classifiers start at zero, which would stop every gradient below the head; at the default scale
        # (0.05) the attention logits are so small that the logit mixing barely moves in one step.
        randomize_weights(model, scale=0.3, seed=1)
        before = mixings()
        rng = np.random.default_rng(0)
        x = rng.normal(size=(4, 32, 32, 3)).astype("float32")
        model.compile(optimizer=keras.optimizers.SGD(0.1),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, np.array([0, 1, 2, 0]), batch_size=4, epochs=1, verbose=0)
        model.save(r"{tmp_path / 'th.keras'}")
        np.save(r"{tmp_path / 'x.npy'}", x)
        np.save(r"{tmp_path / 'y.npy'}", np.asarray(model(x, training=False)))
        print(json.dumps({{
            "listed": keras_vit.list_models("*talking*"),
            "plugin_class": all(type(a) is TalkingHeadsAttention for a in attentions),
            "starts_as_identity": starts_as_identity,
            "loss": float(np.ravel(history.history["loss"])[-1]),
            "mixing_changed": all(not np.allclose(b, a) for b, a in zip(before, mixings())),
            "params": keras_vit.create("vit_ti16_talking_heads").count_params(),
            "expected": keras_vit.get_spec("vit_ti16_talking_heads").expected_num_params,
            # The slot's mapping form: the component's own arguments, checked when the spec is made.
            "logits_only": keras_vit.create("vit_ti16_talking_heads", {TINY},
                attention={{"name": "talking_heads", "use_post_softmax_mixing": False}}).count_params(),
            "tiny": model.count_params(),
            "provided_error": error_of(lambda: keras_vit.get_spec("vit_ti16_talking_heads").with_overrides(
                attention={{"name": "talking_heads", "num_heads": 4}})),
        }}))
    """)
    assert saved["listed"] == ["vit_ti16_talking_heads"]
    assert saved["plugin_class"] and saved["starts_as_identity"]
    assert np.isfinite(saved["loss"]) and saved["mixing_changed"]
    # vit_ti16 (5,717,416) + 12 blocks x 2 mixing matrices x 3 x 3 heads = 5,717,632.
    assert saved["params"] == saved["expected"] == 5_717_632
    assert saved["tiny"] - saved["logits_only"] == 2 * 2 * 2  # 2 blocks without a 2 x 2 matrix
    assert "num_heads" in saved["provided_error"] and "set by the model" in saved["provided_error"]

    loaded = run(target, f"""
        import json, numpy as np, keras, keras_vit
        model = keras.saving.load_model(r"{tmp_path / 'th.keras'}")
        y = np.asarray(model(np.load(r"{tmp_path / 'x.npy'}"), training=False))
        print(json.dumps({{"close": bool(np.allclose(y, np.load(r"{tmp_path / 'y.npy'}"), atol=1e-6)),
                          "class": type(model.get_layer("block_1").attention).__module__}}))
    """)
    assert loaded == {"close": True, "class": f"{PACKAGE}.talking_heads"}
