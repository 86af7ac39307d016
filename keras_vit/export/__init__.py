"""SavedModel export for TF Serving: `keras_vit.export(model, "models/vit_b16")`.

`keras_vit.export` is this package and, for convenience, also callable: `keras_vit.export(...)` is
`keras_vit.export.export(...)`. See docs/export.md for the layout, the signatures and client examples.
"""

import sys
import types

from keras_vit.export.check import ExportCheckError, check_export
from keras_vit.export.exporter import ExportResult, docker_command, export
from keras_vit.export.labels import read_labels
from keras_vit.export.layout import existing_versions, next_version
from keras_vit.export.signatures import (
    BYTES_KEY,
    BYTES_SIGNATURE,
    DEFAULT_SIGNATURE,
    IMAGES_KEY,
    ServingSignatures,
)


class _CallableModule(types.ModuleType):
    """Lets `keras_vit.export(model, path)` call `export` while `keras_vit.export.check_export` stays reachable."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "BYTES_KEY", "BYTES_SIGNATURE", "DEFAULT_SIGNATURE", "IMAGES_KEY", "ExportCheckError", "ExportResult",
    "ServingSignatures", "check_export", "docker_command", "existing_versions", "export", "next_version",
    "read_labels",
]
