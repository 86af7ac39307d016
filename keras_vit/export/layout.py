"""The TF Serving folder layout: BASE/<integer version>/, each version written whole and renamed into place.

Also the file locks that let several exports share one server root: `locked(path)` serializes the read-modify-write
of models.config, and each version being written holds a lock on a hidden `.lock` file beside its temporary folder,
so that a later export can tell the leftovers of a killed export (no process holds their lock: the system releases a
dead process's locks) from the folder of an export still running. This module uses the standard library only.
"""

import contextlib
import os
import shutil
import uuid

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here; exports there must not run concurrently
    fcntl = None

TEMPORARY_PREFIX = ".tmp-"
LOCK_SUFFIX = ".lock"


@contextlib.contextmanager
def locked(lock_path, blocking=True):
    """Holds an exclusive advisory lock (flock) on `lock_path` (created if missing) for the `with` block.

    Yields True when the lock is held; with blocking=False, yields False at once if another process (or another
    open of the file in this process) holds it. Without fcntl (Windows) it yields True and locks nothing.
    """
    if fcntl is None:
        yield True
        return
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # closing releases the lock


def existing_versions(base):
    """The integer version folders under `base` (TF Serving serves only folders named by an integer), sorted."""
    if not os.path.isdir(base):
        return []
    return sorted(int(name) for name in os.listdir(base) if name.isdigit() and os.path.isdir(os.path.join(base, name)))


def next_version(base):
    """One more than the largest version under `base`; 1 for a new model folder."""
    return max(existing_versions(base), default=0) + 1


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


def remove_stale_temporaries(base):
    """Removes the hidden temporary folders (and their lock files) of exports to `base` that died while writing.

    A temporary folder counts as stale when no process holds the lock on its `.lock` file (a running export holds it
    until its folder is renamed into place or removed). Returns the names removed.
    """
    if fcntl is None or not os.path.isdir(base):
        return []
    removed = []
    # Each temporary folder's name, also from a lock file whose folder is gone (an export killed before making it).
    names = {name.removesuffix(LOCK_SUFFIX) for name in os.listdir(base) if name.startswith(TEMPORARY_PREFIX)}
    for name in sorted(names):
        folder = os.path.join(base, name)
        with locked(folder + LOCK_SUFFIX, blocking=False) as free:
            if free:
                if os.path.exists(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(name)
                os.remove(folder + LOCK_SUFFIX)  # still held by us, so no export can be using it
    return removed


def write_version(base, version, write):
    """Calls `write(temporary_folder)`, then renames that folder to BASE/<version> in one step.

    The temporary folder is a hidden sibling (`BASE/.tmp-<version>-<random>`), so that a model server polling BASE
    never sees a half-written version (it ignores names that are not integers), and the rename stays on one file
    system. On any error the temporary folder is removed; a folder left by an export that was killed is removed by
    the next export to BASE. Nothing else under BASE is touched.
    """
    os.makedirs(base, exist_ok=True)
    remove_stale_temporaries(base)
    final = os.path.join(base, str(version))
    temporary = os.path.join(base, f"{TEMPORARY_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    with locked(temporary + LOCK_SUFFIX):
        try:
            write(temporary)
            if os.path.exists(final):  # another writer took this version meanwhile
                raise FileExistsError(f"export: {final} appeared while exporting; the export was not moved into place.")
            os.rename(temporary, final)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary + LOCK_SUFFIX)
    return final
