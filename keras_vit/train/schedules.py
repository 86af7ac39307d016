"""Learning-rate schedules: linear warm-up followed by cosine decay (or a constant rate)."""

import math

import keras
from keras import ops

from keras_vit.schema import one_of

SCHEDULE = one_of("warmup_cosine", "warmup_constant", "constant")  # the recipe's schedule.name checks through it
SCHEDULES = SCHEDULE.choices


@keras.saving.register_keras_serializable(package="keras_vit")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `learning_rate` over `warmup_steps`, then cosine decay to `end_learning_rate` at
    `total_steps` (held there afterwards). The original ViT fine-tuning schedule.

    Args:
        learning_rate: float, the peak rate.
        total_steps: int, optimizer steps of the whole run (warm-up included).
        warmup_steps: int, 0 for none.
        end_learning_rate: float, the rate at and after `total_steps`.

    Call arguments:
        step: scalar int, the optimizer's iteration count.

    Returns:
        A float32 scalar.
    """

    def __init__(self, learning_rate, total_steps, warmup_steps=0, end_learning_rate=0.0):
        if not total_steps or total_steps <= 0:
            raise ValueError(f"total_steps must be a positive integer; received {total_steps!r}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}]; received {warmup_steps!r}.")
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.end_learning_rate = float(end_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak, end = self.learning_rate, self.end_learning_rate
        warmup = peak * step / max(self.warmup_steps, 1)
        progress = (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1)
        progress = ops.clip(progress, 0.0, 1.0)
        cosine = end + 0.5 * (peak - end) * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {key: getattr(self, key) for key in ("learning_rate", "total_steps", "warmup_steps", "end_learning_rate")}


@keras.saving.register_keras_serializable(package="keras_vit")
class WarmupConstant(WarmupCosine):
    """Linear warm-up from 0 to `learning_rate` over `warmup_steps`, then constant: a `WarmupCosine` that ends at
    its peak, so the cosine part is flat.

    Args:
        learning_rate: float.
        warmup_steps: int, 0 for none.

    Returns:
        A float32 scalar per step.
    """

    def __init__(self, learning_rate, warmup_steps=0):
        super().__init__(learning_rate, max(warmup_steps, 1), warmup_steps, end_learning_rate=learning_rate)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps}


def make_schedule(name, *, learning_rate, total_steps, warmup_steps=0, end_learning_rate=0.0):
    """A schedule by name: "warmup_cosine", "warmup_constant" or "constant" (returns the float itself)."""
    SCHEDULE.check("schedule.name", name)
    if name == "warmup_cosine":
        return WarmupCosine(learning_rate, total_steps, min(warmup_steps, total_steps), end_learning_rate)
    if name == "warmup_constant":
        return WarmupConstant(learning_rate, warmup_steps)
    return float(learning_rate)
