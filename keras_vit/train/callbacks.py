"""The callbacks of a training run: checkpoints, backup for resuming, NaN stop, TensorBoard and a JSON-lines log.

Under MultiWorkerMirroredStrategy every worker runs every callback (saving reads variables, which is local), but
only the chief writes into the output folder; the other workers write into a temporary folder that is removed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import keras


def _jsonable(logs):
    return {k: float(v) for k, v in (logs or {}).items()}


class EpochLog(keras.callbacks.Callback):
    """Appends one JSON line per epoch to `path`: epoch (1-based), logs, seconds and images per second."""

    def __init__(self, path, global_batch_size, steps_per_epoch):
        super().__init__()
        self.path = Path(path)
        self.images_per_epoch = global_batch_size * steps_per_epoch
        self.epoch_seconds = []
        self.first_epoch = None

    def on_train_begin(self, logs=None):
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch
            self._write({"event": "start", "epoch": epoch + 1, "resumed": epoch > 0})
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.epoch_seconds.append(seconds)
        self._write({"event": "epoch", "epoch": epoch + 1, "seconds": round(seconds, 3),
                     "images_per_second": round(self.images_per_epoch / seconds, 1), **_jsonable(logs)})

    def _write(self, record):
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class WorkerDirs:
    """Folders for checkpoints, backup and logs: the real ones on the chief, throw-away ones on other workers."""

    def __init__(self, output_dir, chief):
        self.chief = chief
        self.root = Path(output_dir) if chief else Path(tempfile.mkdtemp(prefix="keras_vit_worker_"))
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def checkpoints(self):
        return self.root / "checkpoints"

    @property
    def backup(self):
        return self.root / "backup"

    @property
    def logs(self):
        return self.root / "logs"

    def cleanup(self):
        if not self.chief:
            shutil.rmtree(self.root, ignore_errors=True)


class KeepLastCheckpoints(keras.callbacks.Callback):
    """Deletes all but the newest `keep` `epoch_NNN.keras` files after each epoch (runs after ModelCheckpoint)."""

    def __init__(self, folder, keep):
        super().__init__()
        self.folder, self.keep = Path(folder), keep

    def on_epoch_end(self, epoch, logs=None):
        if self.keep:
            for old in sorted(self.folder.glob("epoch_*.keras"))[: -self.keep]:
                old.unlink(missing_ok=True)


def last_checkpoint(folder):
    """The newest `epoch_NNN.keras` in `folder`, or None."""
    found = sorted(Path(folder).glob("epoch_*.keras"))
    return found[-1] if found else None


def make_callbacks(dirs, *, tensorboard=True, global_batch_size, steps_per_epoch, keep_checkpoints=3):
    """ModelCheckpoint (every epoch, a loadable `.keras`), BackupAndRestore (resume after a kill),
    TerminateOnNaN(raise_error=True) (stop before NaN weights are checkpointed), TensorBoard, and the epoch log.
    Only the newest `keep_checkpoints` epoch files are kept (0 or None: all)."""
    dirs.checkpoints.mkdir(parents=True, exist_ok=True)
    callbacks = [
        # First: a NaN loss raises before any later callback can save the broken weights.
        keras.callbacks.TerminateOnNaN(raise_error=True),
        keras.callbacks.BackupAndRestore(str(dirs.backup), save_freq="epoch", delete_checkpoint=True),
        keras.callbacks.ModelCheckpoint(str(dirs.checkpoints / "epoch_{epoch:03d}.keras"), save_freq="epoch"),
        KeepLastCheckpoints(dirs.checkpoints, keep_checkpoints),
        EpochLog(dirs.root / "train_log.jsonl", global_batch_size, steps_per_epoch),
    ]
    if tensorboard:
        try:
            import tensorboard as _  # noqa: F401  (tf.summary needs it)
        except ImportError:
            warnings.warn("TensorBoard logs are off: pip install tensorboard (or set run.tensorboard: false).",
                          stacklevel=2)
        else:
            callbacks.append(keras.callbacks.TensorBoard(str(dirs.logs), update_freq="epoch"))
    return callbacks
