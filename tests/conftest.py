import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's oneDNN build keeps freed memory in its own pool for the life of the process, and the suite builds
# full-size models (ViT-H/14 alone holds 2.5 GB) in two worker processes on a 24 GB CI machine. The system
# allocator gives that memory back (slower training steps do not matter here; docs/speed.md).
os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolate_keras_state():
    """Each test starts from float32, a fixed seed and a fresh name scope."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()


if os.environ.get("KERAS_VIT_TEST_PROFILE"):
    # A line per test with its seconds and the process's resident memory after it (MB), for sizing the suite:
    # KERAS_VIT_TEST_PROFILE=profile.tsv python -m pytest -q
    import time

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        start = time.perf_counter()
        yield
        with open("/proc/self/statm") as statm:
            resident_mb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        with open(os.environ["KERAS_VIT_TEST_PROFILE"], "a") as out:
            out.write(f"{item.nodeid}\t{time.perf_counter() - start:.2f}\t{resident_mb:.0f}\n")
