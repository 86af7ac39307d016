"""The TF Serving folder layout: BASE/<integer version>/, each version written whole and renamed into place."""

from __future__ import annotations

import os
import shutil
import uuid


def existing_versions(base):
    """The integer version folders under `base` (TF Serving serves only folders named by an integer), sorted."""
    if not os.path.isdir(base):
        return []
    return sorted(int(name) for name in os.listdir(base) if name.isdigit() and os.path.isdir(os.path.join(base, name)))


def next_version(base):
    """One more than the largest version under `base`; 1 for a new model folder."""
    versions = existing_versions(base)
    return versions[-1] + 1 if versions else 1


def check_version(base, version):
    """The version folder to write (the next free number when `version` is None); raises if it exists already."""
    if version is None:
        version = next_version(base)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"export: `version` must be a non-negative int (TF Serving's folder name); received {version!r}.")
    if os.path.exists(os.path.join(base, str(version))):
        raise FileExistsError(
            f"export: {os.path.join(base, str(version))} exists already; an export never overwrites a version. "
            f"Pass version={next_version(base)} (the next free number) or version=None, or delete that folder yourself."
        )
    if os.path.exists(base) and not os.path.isdir(base):
        raise NotADirectoryError(f"export: the model folder {base} is a file; pass a folder path (e.g. models/vit_b16).")
    return version


def write_version(base, version, write):
    """Calls `write(temporary_folder)`, then renames that folder to BASE/<version> in one step.

    The temporary folder is a hidden sibling (`BASE/.tmp-<version>-<random>`), so that a model server polling BASE
    never sees a half-written version (it ignores names that are not integers), and the rename stays on one file
    system. On any error the temporary folder is removed; nothing else under BASE is touched.
    """
    os.makedirs(base, exist_ok=True)
    final = os.path.join(base, str(version))
    temporary = os.path.join(base, f".tmp-{version}-{uuid.uuid4().hex[:8]}")
    try:
        write(temporary)
        if os.path.exists(final):  # another writer took this version meanwhile
            raise FileExistsError(f"export: {final} appeared while exporting; the export was not moved into place.")
        os.rename(temporary, final)
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
    return final
