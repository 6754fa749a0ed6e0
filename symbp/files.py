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

Several files that belong together (a run's parameters, history and plot) are
written as one unit by :func:`write_files_atomic`: every file is first written
aside in full, then a journal names them (the commit point), the previous files
of those names are removed, and the new ones are renamed into place.  At no
moment does a new file lie beside an old one of the same unit; a writer killed
after its journal is complete has its renames finished by the next write into
that folder.  :func:`check_outputs` refuses, before any work, outputs that would
replace an input, each other, a folder, or land in a folder that cannot be written.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from symbp.errors import UserError

__all__ = ["check_outputs", "writable_folder", "write_bytes_atomic", "write_files_atomic", "write_text_atomic"]

_SUFFIX = ".partial"
#: The journal of a unit of files being renamed into place: ``.symbp-commit.PID.RANDOM.journal``.
_JOURNAL = re.compile(r"\.symbp-commit\.(\d+)\..*\.journal$")


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
    """Remove temporary files left next to ``name`` by writers that were killed (after finishing their commits)."""
    if os.name != "posix":  # os.kill(pid, 0) means something else on Windows
        return
    _finish_commits(folder)
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


# --- several files as one unit ----------------------------------------------------------------


def _write_aside(target: Path, data: bytes) -> Path:
    """``data`` written in full and fsynced to a temporary file next to ``target``; its path."""
    folder = writable_folder(target)
    _remove_stale_partials(folder, target.name)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=_SUFFIX, dir=folder)
    except OSError as err:
        raise UserError(f"cannot write {target}: {err.strerror}") from err
    try:
        if hasattr(os, "fchmod"):
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException as err:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise UserError(f"cannot write {target}: {err.strerror or err}") from err
        raise
    return Path(temporary)


def write_files_atomic(files: Mapping[str | os.PathLike[str], bytes]) -> list[Path]:
    """Write several files as one unit: all of them, or (when a write fails) none and the previous ones untouched.

    Every file is written aside and fsynced first; then a journal naming them is written (the
    commit point), the previous files of those names are removed and the new ones renamed into
    place.  So a new file never lies beside an old file of the same unit.  A process killed after
    the journal leaves it beside the new files' temporary copies; the next write into that
    folder finishes the renames.

    Args:
        files: the targets and their bytes; the journal lives in the first target's folder.

    Returns:
        The paths written, in the order given.

    Raises:
        UserError: a folder does not exist or a file cannot be written (the disk is full, say);
            then nothing of the unit was written.

    Example:
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> [p.name for p in write_files_atomic({os.path.join(folder, "a.txt"): b"1", os.path.join(folder, "b.txt"): b"2"})]
        ['a.txt', 'b.txt']
    """
    targets = [Path(path) for path in files]
    written: list[tuple[Path, Path]] = []
    try:
        for target, data in zip(targets, files.values()):
            written.append((_write_aside(target, data), target))
        journal = _write_aside(targets[0].parent / "symbp-commit", json.dumps(
            [[str(temporary.resolve()), str(target.resolve())] for temporary, target in written]).encode())
        committed = journal.with_name(f".symbp-commit.{os.getpid()}.{journal.name.split('.')[-2]}.journal")
        os.replace(journal, committed)  # the commit point: from here on the unit is finished, if need be by another process
    except BaseException:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        raise
    _apply(written)
    committed.unlink(missing_ok=True)
    for folder in {target.parent for target in targets}:
        _fsync_folder(folder if str(folder) else Path("."))
    return targets


def _apply(pairs: list[tuple[Path, Path]]) -> None:
    """Remove the previous files of a committed unit, then rename the new ones into place."""
    for temporary, target in pairs:
        if temporary.exists():
            target.unlink(missing_ok=True)
    for temporary, target in pairs:
        if temporary.exists():
            os.replace(temporary, target)


def _finish_commits(folder: Path) -> None:
    """Finish the renames of units whose writer was killed after committing (their journals are in ``folder``)."""
    try:
        entries = [entry for entry in os.scandir(folder) if _JOURNAL.match(entry.name)]
    except OSError:
        return
    for entry in entries:
        if _pid_alive(int(_JOURNAL.match(entry.name).group(1))):
            continue
        try:
            with open(entry.path, "rb") as stream:
                pairs = json.loads(stream.read(1 << 20))
            # Only renames a genuine commit makes: a temporary file of this writer next to its own target.
            checked = [(Path(temporary), Path(target)) for temporary, target in pairs
                       if Path(temporary).parent == Path(target).parent
                       and Path(temporary).name.startswith(f".{Path(target).name}.") and temporary.endswith(_SUFFIX)]
            _apply(checked)
            os.unlink(entry.path)
        except (OSError, ValueError, TypeError):
            continue  # unreadable or already finished by another process: left as it is


# --- checking outputs before any work -----------------------------------------------------------


def _same_file(first: Path, second: Path) -> bool:
    try:
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
    except OSError:
        pass
    return os.path.realpath(first) == os.path.realpath(second)


def _probe(target: Path, folder: Path) -> None:
    """Create and remove a file in ``folder``: the one check of writability that holds for root and read-only mounts too."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".symbp-probe.", dir=folder)
    except OSError as err:
        raise UserError(f"cannot write {target}: the folder {folder} is not writable ({err.strerror or err})") from err
    os.close(fd)
    os.unlink(probe)


def check_outputs(
    outputs: Mapping[str, str | os.PathLike[str]],
    inputs: Mapping[str, str | os.PathLike[str]],
    may_replace: frozenset[tuple[str, str]] = frozenset(),
) -> None:
    """Refuse, before any work, outputs that would destroy an input or each other, or cannot be written.

    Args:
        outputs: what will be written, by how the user named it (``"--checkpoint"``, ...).
        inputs: what is read, by how the user named it (``"--data"``, ...).
        may_replace: (output, input) pairs that are meant to be the same file (a resumed run's checkpoint).

    Raises:
        UserError: an output is a folder, its folder is missing or not writable, it is the same
            file as an input or as another output.

    Example:
        >>> check_outputs({"-o": "run.params.npz"}, {"--data": "run.params.npz"})
        Traceback (most recent call last):
        ...
        symbp.errors.UserError: -o run.params.npz is the same file as --data run.params.npz: writing it would destroy that input; give another name
    """
    named = [(label, Path(path)) for label, path in outputs.items()]
    for label, path in named:
        for input_label, input_path in inputs.items():
            if (label, input_label) not in may_replace and _same_file(path, Path(input_path)):
                raise UserError(f"{label} {path} is the same file as {input_label} {input_path}: writing it would destroy that input; give another name")
    for position, (label, path) in enumerate(named):
        for other_label, other in named[position + 1:]:
            if _same_file(path, other):
                raise UserError(f"{label} {path} and {other_label} {other} are the same file; give them different names")
    for label, path in named:
        if path.is_dir():
            raise UserError(f"{label} {path} is a folder; give the name of a file to write")
        _probe(path, writable_folder(path))


def make_folder(path: str | os.PathLike[str], what: str) -> Path:
    """Create the folder ``path`` (and its parents) if missing, or say in one line why it cannot be.

    Args:
        path: the folder.
        what: what is to be written into it, for the message (``"the kernel"``).

    Raises:
        UserError: it is a file, or it cannot be created (a read-only parent, say).
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cannot write {what} into {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write {what} into {folder}: cannot create the folder ({err.strerror or err})") from err
    return folder
