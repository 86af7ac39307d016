"""Imports run one way: every import inside keras_vit (lazy ones in functions included) points from a first-level
part to a part of a lower layer (docs/layering.md), so no cycle can form; no `import keras_vit` inside the package;
`import keras_vit` loads no command module and, on another Keras backend, no TensorFlow."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "keras_vit"
DOC = PACKAGE.parent / "docs" / "layering.md"

# Lowest first; a part may import only parts of lower layers.
LAYERS = [
    ["registry", "compat", "_startup", "testing"],
    ["schema"],
    ["spec"],
    ["layers"],
    ["models", "preprocessing"],
    ["weights", "quantization", "explain"],
    ["lora"],
    ["zoo"],
    ["macs", "data", "export"],
    ["train", "tasks"],
    ["commands"],
    ["cli", "__init__"],
]
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def _part(path):
    relative = path.relative_to(PACKAGE).parts
    return "__init__" if relative == ("__init__.py",) else relative[0].removesuffix(".py")


def _imports(path):
    """(line, imported first-level part or "keras_vit" for the package itself) of every keras_vit import."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in modules:
            parts = module.split(".")
            if parts[0] != "keras_vit":
                continue
            if len(parts) > 1:
                yield node.lineno, parts[1]
            elif name is not None and ((PACKAGE / name).exists() or (PACKAGE / f"{name}.py").exists()):
                yield node.lineno, name  # from keras_vit import weights: the part `weights`
            else:
                yield node.lineno, "keras_vit"


def _edges():
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _part(path)
        for line, target in _imports(path):
            if target != source:
                yield f"{path.relative_to(PACKAGE.parent)}:{line}", source, target


def test_every_part_has_a_layer():
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert parts == set(LEVEL), f"parts without a layer: {parts - set(LEVEL)}; layers without a part: {set(LEVEL) - parts}"


def test_imports_point_down_the_layers():
    upward = [f"{where}: {source} (layer {LEVEL[source]}) imports {target} (layer {LEVEL.get(target)})"
              for where, source, target in _edges() if target == "keras_vit" or LEVEL[target] >= LEVEL[source]]
    assert not upward, "imports that point up or sideways (or `import keras_vit` inside the package):\n" + "\n".join(upward)


def test_the_checker_sees_lazy_and_from_imports(tmp_path):
    # The AST walk must see an import inside a function and `from keras_vit import part`, or the test above is vacuous.
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from keras_vit import weights\n    import keras_vit.train.fit\n    import keras_vit\n")
    assert list(_imports(module)) == [(2, "weights"), (3, "train"), (4, "keras_vit")]


def test_docs_draw_the_same_layers():
    text = DOC.read_text()
    for parts in LAYERS:
        line = " ".join(parts)
        assert line in text, f"docs/layering.md lacks the layer line {line!r}"


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_import_keras_vit_loads_no_command_and_on_jax_no_tensorflow(backend):
    code = ("import sys, keras_vit; keras_vit.create('vit_ti16', num_layers=1);"
            "print(sorted(m for m in sys.modules if m.startswith('keras_vit.commands')), 'tensorflow' in sys.modules)")
    env = {**os.environ, "KERAS_BACKEND": backend}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == ["[]", str(backend == "tensorflow")], out.stdout
