"""A third-party package adds a position encoding and a model spec through the `keras_vit.plugins` entry point; a
model using them is built from YAML, saved in one process and loaded in another."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

PLUGIN_CODE = '''
import keras
import keras_vit
from keras_vit.layers import AbsolutePosition


@keras_vit.register("position", "demo_checkerboard")
class Checkerboard(AbsolutePosition):
    """A learned scalar times a fixed +-1 checkerboard over the patch grid."""

    def build(self, input_shape):
        super().build(input_shape)
        self.strength = self.add_weight(shape=(), initializer="ones", name="strength")

    def position_table(self):
        rows, cols = self.grid_size
        signs = [[(-1.0) ** (r + c) for c in range(cols)] for r in range(rows)]
        grid = keras.ops.reshape(keras.ops.convert_to_tensor(signs), (rows * cols, 1))
        table = keras.ops.concatenate([keras.ops.zeros((self.num_prefix_tokens, 1)), grid], axis=0)
        return self.strength * keras.ops.broadcast_to(table, (self.num_tokens, self.hidden_dim))[None]


def register():
    import pathlib
    keras_vit.add_spec_dir(pathlib.Path(__file__).parent / "specs")
'''

SPEC = """
name: demo_vit
extends: vit_ti16
description: a tiny ViT with the plugin's position encoding
expected_num_params: 23460
num_params_source: hand count in tests/test_plugins.py
model:
  image_size: 32
  patch_size: 8
  hidden_dim: 32
  num_layers: 2
  num_heads: 2
  intermediate_dim: 64
  num_classes: 3
  position_encoding: demo_checkerboard
"""


def make_plugin(root):
    package = root / "kv_demo_plugin"
    (package / "specs").mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_CODE)
    (package / "specs" / "demo_vit.yaml").write_text(SPEC)
    dist = root / "kv_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kv-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[keras_vit.plugins]\ndemo = kv_demo_plugin:register\n")


def run(root, code):
    """Runs `code` in a fresh Python with `root` and the repository first on PYTHONPATH and returns the JSON of its
    last printed line (shared with tests/test_example_plugin.py)."""
    env = dict(os.environ)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([str(root), repo, env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plugin_layer_and_spec_work_from_yaml_and_survive_keras_save_load(tmp_path):
    make_plugin(tmp_path)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    saved = run(tmp_path, f"""
        import json, numpy as np, keras_vit
        model = keras_vit.create("demo_vit")
        layer = model.get_layer("position_embedding")
        layer.strength.assign(0.5)
        model.save(r"{tmp_path / 'demo.keras'}")
        np.save(r"{tmp_path / 'y.npy'}", np.asarray(model(np.load(r"{tmp_path / 'x.npy'}"))))
        print(json.dumps({{"listed": keras_vit.list_models("demo_*"), "params": model.count_params(),
                          "class": type(layer).__name__, "expected": keras_vit.get_spec("demo_vit").expected_num_params}}))
    """)
    assert saved["listed"] == ["demo_vit"]
    assert saved["class"] == "Checkerboard"
    # By hand: patch embedding 8*8*3*32 + 32 = 6,176; class token 32; per block LayerNorms 2*64, qkv 32*96 + 96,
    # projection 32*32 + 32, fc1 32*64 + 64, fc2 64*32 + 32 = 8,544, two blocks 17,088; final norm 64;
    # head 32*3 + 3 = 99; the plugin's strength 1: 23,460.
    assert saved["params"] == saved["expected"] == 23_460
    loaded = run(tmp_path, f"""
        import json, numpy as np, keras, keras_vit
        model = keras.saving.load_model(r"{tmp_path / 'demo.keras'}")
        y = np.asarray(model(np.load(r"{tmp_path / 'x.npy'}")))
        print(json.dumps({{"diff": float(np.abs(y - np.load(r"{tmp_path / 'y.npy'}")).max()),
                          "strength": float(model.get_layer("position_embedding").strength.numpy())}}))
    """)
    assert loaded["strength"] == 0.5
    assert loaded["diff"] < 1e-6


def test_a_broken_plugin_warns_and_the_zoo_still_works(tmp_path):
    dist = tmp_path / "kv_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kv-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[keras_vit.plugins]\nbroken = kv_missing_module:register\n")
    result = run(tmp_path, """
        import json, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import keras_vit
        print(json.dumps({"warnings": [str(w.message) for w in caught], "zoo": len(keras_vit.list_models())}))
    """)
    assert any("broken" in w and "kv_missing_module" in w for w in result["warnings"])
    assert result["zoo"] >= 9
