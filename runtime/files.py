"""Atomic file writes: a reader (or a crash) never sees half a file at the path a caller asked for.

    with atomic_path(path) as tmp:   # a unique temporary name beside `path`
        write_somehow(tmp)           # on success tmp is renamed onto path; on failure it is removed

Every writer in facegan (pictures, checkpoints, caches, metrics rewinds, FID statistics, exported
artifacts) goes through this one function (and whole folders, the web export, through `atomic_folder`): same folder (so the rename is atomic on one file
system), a unique name per call (concurrent writers never share a temp file), the usual file mode
instead of mkstemp's 0600, fsync of the file and its folder, and errors naming the real path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def default_file_mode() -> int:
    """0o666 minus the umask: the mode `open()` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: Path | str, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except OSError as e:  # name the file the caller asked for, not the temporary one
        if e.filename not in (None, str(tmp)):  # an error about another file (a nested write): as it is
            raise
        if e.errno is None:  # e.g. pillow's own errors ("cannot write mode RGB as XBM") carry none
            raise OSError(f"cannot write {path}: {e}") from e
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
    finally:
        tmp.unlink(missing_ok=True)
    if fsync:
        _fsync(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_folder(path: Path, build: Callable[[Path], None]) -> None:
    """Run `build(staging)` on an empty folder beside `path`, then rename it onto `path`: a whole
    folder written all or nothing, with the usual file modes (a static host must read it).

    On any failure the staging folder goes, with every parent folder this call made; an existing
    folder at `path` (checked by the caller) is swapped out only after the new one is complete.
    """
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        build(staging)
        file_mode = default_file_mode()  # mkdtemp makes 0700; a static host must read the folder
        folder_mode = file_mode | ((file_mode >> 2) & 0o111)  # x wherever r: 0o755 under umask 022
        for file in (*staging.rglob("*"), staging):
            os.chmod(file, folder_mode if file.is_dir() else file_mode)
            _fsync(file)
        old = staging.with_suffix(".old")
        if path.exists():
            os.rename(path, old)
        try:
            os.rename(staging, path)
        except OSError:
            if old.exists():
                os.rename(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
        _fsync(path.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in made:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk; a no-op where the platform cannot (folders on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["atomic_folder", "atomic_path", "atomic_write_bytes", "atomic_write_text", "default_file_mode"]
