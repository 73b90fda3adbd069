"""Write outputs all-or-nothing: to a temporary name beside the target, then move into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from avatar3d.utils.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def check_output_dir(target: str | Path, overwrite: bool = False) -> Path:
    """Refuse an output path that is a file, or a non-empty directory unless ``overwrite``.

    Call it before long work, so a user learns about the problem at once, not after it."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise UserError(f"output path {target} exists and is not a directory", "choose another -o/--output path")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise UserError(
            f"output directory {target} already exists and is not empty",
            "pass --overwrite to replace it, or choose another -o/--output path",
        )
    return target


@contextlib.contextmanager
def atomic_output_dir(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; on success it replaces ``target``.

    On any exception the temporary directory is removed and ``target`` is left as it was, so
    an output directory never looks like a success when it is not.  An existing non-empty
    ``target`` is refused unless ``overwrite`` is set.
    """
    target = check_output_dir(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, backup)
    os.replace(staging, target)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
