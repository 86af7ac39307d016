"""LoRA against full fine-tuning: the main job's ViT (trained on upright digits) fine-tuned to digits rotated by 90
degrees, the same recipe for both but for model.lora and the learning rate; one run per mode and seed.

    taskset -c 1 python benchmarks/lora_digits.py runs/teacher_s{seed}/model.keras 0 1 2

The base model of seed s is the one `keras-vit train --recipe mnist_vit --set run.seed=s` wrote (its path, with
{seed} in it). The rotated task is every offline digit turned 90 degrees (runs/digits_rot90, one folder per class),
split per class 90/10 by the same seed. The base saw about 80% of the rotated held-out digits upright (with their
labels) during its own training; both modes start from that same base. Results: docs/training.md.
"""

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

import keras_vit

FOLDER = Path("runs/digits_rot90")
MODES = {"full": {"lora": None, "learning_rate": 5e-4},
         "lora": {"lora": {"rank": 8, "alpha": 16, "targets": ["qkv", "attention/projection", "mlp/fc1", "mlp/fc2"]},
                  "learning_rate": 2e-3}}


def write_rotated_digits():
    if FOLDER.is_dir():
        return
    data = keras_vit.data.load_dataset("offline", split="all")
    for i, (image, label) in enumerate(data.dataset.as_numpy_iterator()):
        path = FOLDER / str(label) / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tf.io.encode_png(np.rot90(image).copy()).numpy())


def main(base, seeds):
    write_rotated_digits()
    for seed in seeds:
        for mode, setting in MODES.items():
            model = {"weights": base.format(seed=seed), "num_channels": 1, "lora": setting["lora"]}
            summary = keras_vit.train(
                "mnist_vit", model=model, source=f"folder:{FOLDER}", seed=seed, epochs=10, warmup_epochs=1,
                learning_rate=setting["learning_rate"], output_dir=f"runs/lora_digits/{mode}_s{seed}", verbose=2,
                tensorboard=False, random_crop=False)
            print(json.dumps({"mode": mode, "seed": seed, **{k: summary[k] for k in (
                "eval_accuracy", "trainable_parameters", "parameters", "wall_seconds")}}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2:]])
