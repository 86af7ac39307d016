"""The callbacks of a training run: checkpoints, backup for resuming, NaN stop, TensorBoard and a JSON-lines log.

Under MultiWorkerMirroredStrategy every worker runs every callback (saving reads variables, which is local), but
only the chief writes into the output folder; the other workers write into a temporary folder that is removed.
"""

import importlib.util
import json
import math
import os
import time
import warnings
from pathlib import Path

import keras
import numpy as np


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; `keras_vit.train`'s message names the last good checkpoint."""


class StopOnNaN(keras.callbacks.Callback):
    """Raises TrainingDiverged after the first batch whose loss is NaN or infinite (Keras's TerminateOnNaN raises a
    plain RuntimeError, which the run could tell from other errors only by its text)."""

    def on_train_batch_end(self, batch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            raise TrainingDiverged(f"the loss became {float(logs['loss'])} at batch {batch}")


class EpochLog(keras.callbacks.Callback):
    """Appends one JSON line per epoch to `path`: epoch (1-based), logs, seconds and images per second."""

    def __init__(self, path, global_batch_size, steps_per_epoch):
        super().__init__()
        self.path = Path(path)
        self.images_per_epoch = global_batch_size * steps_per_epoch
        self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        if not self.epoch_seconds:  # the first epoch of this run
            self._write({"event": "start", "epoch": epoch + 1, "resumed": epoch > 0})
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.epoch_seconds.append(seconds)
        self._write({"event": "epoch", "epoch": epoch + 1, "seconds": round(seconds, 3),
                     "images_per_second": round(self.images_per_epoch / seconds, 1),
                     **{k: float(v) for k, v in (logs or {}).items()}})

    def _write(self, record):
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class EpochFiles(keras.callbacks.Callback):
    """After every epoch, writes into `output_dir` a loadable model `checkpoints/epoch_NNN.keras` (keeping the
    newest `keep_checkpoints`; 0 or None: all), then, in `backup/`, what a killed run needs to go on exactly where it
    stopped: the model's weights with the optimizer's state (`model.save_weights`), the random-seed states of dropout
    and drop-path layers, and the number of finished epochs. `read_backup` reads it back and `restore_backup` loads
    it into a compiled model.

    The backup folder is updated so that a kill at any moment leaves the previous backup or the new one, never a mix:
    `state_NNN.weights.h5` and `seeds_NNN.npz` are written first, then `backup.json` (written to a temporary name and
    renamed) points at them, and only then are older files removed.
    """

    def __init__(self, output_dir, keep_checkpoints):
        super().__init__()
        self.checkpoints, self.folder = Path(output_dir) / "checkpoints", Path(output_dir) / "backup"
        self.keep = keep_checkpoints

    def on_epoch_end(self, epoch, logs=None):
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.model.save(self.checkpoints / f"epoch_{epoch + 1:03d}.keras")
        for old in sorted(self.checkpoints.glob("epoch_*.keras"))[: -self.keep] if self.keep else ():
            old.unlink(missing_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        weights, seeds = f"state_{epoch + 1:03d}.weights.h5", f"seeds_{epoch + 1:03d}.npz"
        self.model.save_weights(self.folder / weights, overwrite=True)
        with (self.folder / seeds).open("wb") as f:
            np.savez(f, *[np.asarray(v.numpy()) for v in _seed_states(self.model)])
        for name in (weights, seeds):
            _sync(self.folder / name)  # on disk before backup.json names them, even if the machine goes down
        _write_atomically(self.folder / "backup.json", json.dumps(
            {"epochs_done": epoch + 1, "weights": weights, "seed_states": seeds}) + "\n")
        for old in self.folder.iterdir():
            if old.name not in (weights, seeds, "backup.json"):
                old.unlink(missing_ok=True)


def _seed_states(model):
    """The random-seed state variables of the model's layers (in `model.variables`, not in `model.weights`), in the
    model's order (their names carry process-wide counters, so a backup stores them by position)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _sync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_atomically(path, text):
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    _sync(partial)
    os.replace(partial, path)


def read_backup(folder):
    """What `EpochFiles` last wrote in `folder`: {"epochs_done": int, "weights": path, "seed_states": path}, or
    None when there is no backup."""
    folder = Path(folder)
    try:
        state = json.loads((folder / "backup.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return {**state, "weights": folder / state["weights"], "seed_states": folder / state["seed_states"]}


def restore_backup(model, state):
    """Loads a backup (`read_backup`) into a compiled model: weights, optimizer state and seed states."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # its variables must exist before they are loaded
    model.load_weights(state["weights"])
    variables = _seed_states(model)
    with np.load(state["seed_states"]) as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if [v.shape for v in values] != [tuple(v.shape) for v in variables]:
        raise ValueError(f"The backup {state['seed_states']} holds {len(values)} random-seed states, but the model has "
                         f"{len(variables)} ({', '.join(v.path for v in variables)}): it was written by another model.")
    for variable, value in zip(variables, values):
        variable.assign(value)


def last_checkpoint(folder):
    """The newest `epoch_NNN.keras` in `folder`, or None."""
    found = sorted(Path(folder).glob("epoch_*.keras"))
    return found[-1] if found else None


def make_callbacks(output_dir, *, tensorboard=True, global_batch_size, steps_per_epoch, keep_checkpoints=3):
    """The callbacks of a run that writes into `output_dir`: StopOnNaN (stop before NaN
    weights are saved), EpochFiles (a loadable `checkpoints/epoch_NNN.keras` every epoch, the newest
    `keep_checkpoints` kept, 0 or None: all; and `backup/` to resume after a kill: `keras_vit.train` restores it
    before `model.fit`), the epoch log (`train_log.jsonl`) and TensorBoard (`logs/`)."""
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    callbacks = [
        # First: a NaN loss raises before any later callback can save the broken weights.
        StopOnNaN(),
        EpochFiles(output_dir, keep_checkpoints),
        EpochLog(Path(output_dir) / "train_log.jsonl", global_batch_size, steps_per_epoch),
    ]
    if tensorboard and importlib.util.find_spec("tensorboard") is None:  # tf.summary needs it
        warnings.warn("TensorBoard logs are off: pip install tensorboard (or set run.tensorboard: false).", stacklevel=2)
    elif tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(Path(output_dir) / "logs"), update_freq="epoch"))
    return callbacks
