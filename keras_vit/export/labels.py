"""Class names for the serving signatures' `top_k_labels` output."""

import os
import pathlib


def read_labels(labels, num_classes=None):
    """Class names from a list, or from a text file with one name per line (trailing empty lines ignored).

    Args:
        labels: None, a list of strings, or the path of a text file (UTF-8, line i names class i).
        num_classes: the model's number of classes; the count must match when given.

    Returns:
        A list of strings, or None when `labels` is None.
    """
    if labels is None:
        return None
    if isinstance(labels, (str, os.PathLike)):
        path = os.fspath(labels)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"export: labels file {path!r} not found (a text file, one class name per line).")
        names = pathlib.Path(path).read_text(encoding="utf-8").rstrip().splitlines()  # no trailing empty lines
        source = f"labels file {path!r}"
    else:
        names = list(labels)
        source = "labels"
    names = [str(name).strip() for name in names]
    if not names:
        raise ValueError(f"export: {source} holds no class names.")
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(
            f"export: {source} holds {len(names)} class names but the model has {num_classes} classes; "
            "give one name per class, in class-index order."
        )
    return names
