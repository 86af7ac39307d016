"""keras_vit.compat's workarounds are still needed and still hook into Keras: these tests fail when a private name
they use disappears, or when the upstream behaviour they work around is fixed (then delete the workaround)."""

import inspect
import json
import subprocess
import sys

import keras
import pytest

from tests.train.processes import ROOT, environment, free_ports, run_all, tail, tf_config

FIXED_UPSTREAM = "Keras no longer shows the bug that keras_vit/compat.py works around ({}): delete the workaround."


def test_private_keras_names_that_compat_overrides_or_calls_exist():
    assert list(inspect.signature(keras.Model._maybe_symbolic_build).parameters) == ["self", "iterator", "data_batch"]
    for name in ("_clip_gradients", "_all_reduce_sum_gradients", "_get_variable_index"):
        assert callable(getattr(keras.optimizers.Optimizer, name, None)), f"keras.optimizers.Optimizer.{name} is gone"
    variable = keras.Variable([1.0, 2.0])
    optimizer = keras.optimizers.SGD()
    optimizer.build([variable])
    assert optimizer._trainable_variables[optimizer._get_variable_index(variable.value)] is variable
    outer = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="inner")])
    assert "inner" in [layer.name for layer in outer._flatten_layers(include_self=False, recursive=True)]


CLIP_JOB = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras_vit.train.optimizers import LayerScaledSGD

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
results = {}
for name, cls in (("keras", keras.optimizers.SGD), ("keras_vit", LayerScaledSGD)):
    with strategy.scope():
        variable = keras.Variable([0.0, 0.0])
        optimizer = cls(learning_rate=1.0, global_clipnorm=1.0)
        optimizer.build([variable])

    def replica_step():
        # gradients [1, 0] and [0, 1]: each of norm 1, their sum [1, 1] of norm sqrt(2)
        index = tf.distribute.get_replica_context().replica_id_in_sync_group
        optimizer.apply([tf.one_hot(index, 2)], [variable])

    tf.function(lambda: strategy.run(replica_step))()
    results[name] = keras.ops.convert_to_numpy(variable).tolist()
print(json.dumps(results))
"""


def test_keras_still_clips_before_the_cross_replica_sum():
    result = subprocess.run([sys.executable, "-c", CLIP_JOB], cwd=ROOT, env=environment(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, tail(result.stderr)
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results["keras"] == pytest.approx([-1.0, -1.0]), FIXED_UPSTREAM.format("clipping before the sum")
    assert results["keras_vit"] == pytest.approx([-(0.5**0.5)] * 2, rel=1e-6)  # the sum, clipped to norm 1


MULTI_WORKER_JOB = """
import json
import numpy as np
import tensorflow as tf
import keras
from keras_vit.compat import DistributedStepsMixin

strategy = tf.distribute.MultiWorkerMirroredStrategy()


class BuildFixOnly(DistributedStepsMixin, keras.Sequential):
    train_step = keras.Sequential.train_step  # without the logs' reduction axis


errors = {}
for cls in (keras.Sequential, BuildFixOnly):
    with strategy.scope():
        model = cls([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    dataset = tf.data.Dataset.from_tensor_slices((np.ones((16, 4), "float32"), np.arange(16) % 3)).batch(4)
    try:
        model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
        errors[cls.__name__] = None
    except Exception as error:
        errors[cls.__name__] = str(error)[:300]
print(json.dumps(errors))
"""


@pytest.mark.slow  # two worker processes; the fix itself is covered by tests/train/test_multi_worker.py
def test_keras_multi_worker_fit_still_fails_without_the_workaround(tmp_path):
    # keras-team/keras#20585, both halves: the build step's all-reduce of the first batch, then the logs' axis 0.
    ports = free_ports(2)
    envs = [environment(TF_CONFIG=tf_config(ports, i)) for i in range(2)]
    results = run_all([[sys.executable, "-c", MULTI_WORKER_JOB]] * 2, envs, cwd=tmp_path, timeout=300)
    for code, output in results:
        assert code == 0, tail(output)
        errors = json.loads(output.strip().splitlines()[-1])
        assert errors["Sequential"] and "PerReplica" in errors["Sequential"], FIXED_UPSTREAM.format("#20585, build")
        assert errors["BuildFixOnly"] and "reduction dimension 0" in errors["BuildFixOnly"], FIXED_UPSTREAM.format(
            "#20585, logs")
