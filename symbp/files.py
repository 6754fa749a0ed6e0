"""Writing files: atomically, so that an interrupted write never leaves a truncated file.

:func:`write_bytes_atomic` writes to a temporary file next to the target,
``.NAME.PID.RANDOM.partial``, flushes it to disk (fsync), and renames it over
the target, which POSIX and Windows both do atomically within one folder.  A
reader, or a process killed at any moment (even by SIGKILL), therefore sees
either the previous complete file or the new complete file, never a mix or a
truncated one.

What a SIGKILL can leave behind is the temporary file of the write it cut
short.  The next write to the same target removes such leftovers: those whose
PID names a process that no longer exists (on POSIX; a live writer's temporary
file is never touched).  So at most the files of writes still in progress, or
cut short since the last write, lie next to a target.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from symbp.errors import UserError

__all__ = ["writable_folder", "write_bytes_atomic", "write_text_atomic"]

_SUFFIX = ".partial"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process, perhaps another thread writing
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


def _remove_stale_partials(folder: Path, name: str) -> None:
    """Remove temporary files left next to ``name`` by writers that were killed."""
    if os.name != "posix":  # os.kill(pid, 0) means something else on Windows
        return
    pattern = re.compile(re.escape(f".{name}.") + r"(\d+)\..*" + re.escape(_SUFFIX) + "$")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            try:
                os.unlink(entry.path)
            except OSError:
                pass  # another writer removed it first, or we may not: harmless


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable across a power cut; POSIX only (Windows cannot open folders).
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename has happened anyway
    finally:
        os.close(fd)


def writable_folder(path: str | os.PathLike[str]) -> Path:
    """The folder ``path`` would be written into, or a UserError when that folder does not exist."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {target}: the folder {folder} does not exist")
    return folder


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync, then rename.

    At every moment ``path`` is absent, its previous complete content, or
    ``data``; see the module docstring for the temporary files.

    Raises:
        UserError: the folder does not exist or cannot be written.

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
        >>> write_bytes_atomic(target, b"hello").read_bytes()
        b'hello'
    """
    target = Path(path)
    folder = writable_folder(target)
    _remove_stale_partials(folder, target.name)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=_SUFFIX, dir=folder)
    except OSError as err:
        raise UserError(f"cannot write {target}: {err.strerror}") from err
    try:
        if hasattr(os, "fchmod"):
            # mkstemp creates 0600; give the file the mode an ordinary open() would (0666 less the umask).
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException as err:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(err, OSError):  # e.g. the disk is full: the target is untouched
            raise UserError(f"cannot write {target}: {err.strerror or err}") from err
        raise
    _fsync_folder(folder)
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`write_bytes_atomic` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))
