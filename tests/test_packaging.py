"""The specs ship inside the wheel: after a plain (non-editable) install, create() works from any folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_contains_specs_and_create_works_from_elsewhere(tmp_path):
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(REPO), "--no-deps", "-w", str(wheels)], check=True, timeout=600)
    (wheel,) = wheels.glob("keras_vit-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=600)
    assert (site / "keras_vit" / "_registry" / "models" / "vit_b16.yaml").is_file()
    code = (
        "import json, keras_vit\n"
        "m = keras_vit.create('vit_s16', image_size=32, patch_size=8, num_layers=1)\n"
        "print(json.dumps({'file': keras_vit.__file__, 'models': keras_vit.list_models('vit_*'),"
        " 'shape': list(m.output_shape), 'recipe': keras_vit.train.load_recipe('mnist_vit').name,"
        " 'weights': len(keras_vit.weights.list_weights())}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().is_relative_to(site.resolve())
    assert len(out["models"]) >= 9 and out["shape"] == [None, 1000]
    # recipes and the weights manifest ship inside the wheel too
    assert out["recipe"] == "mnist_vit" and out["weights"] > 0
