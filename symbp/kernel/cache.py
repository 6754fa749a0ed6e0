"""The verified-kernel cache: the SHA-256 of every kernel text this symbp has checked to be its own output.

Checking that a kernel is what this symbp emits for its recorded spec means deriving and
emitting it again, which imports SymPy and takes about a second.  The answer depends only
on the kernel's text and on the generator (symbp's sources and templates, SymPy's version),
so it is remembered: one empty file per verified text, named by the text's SHA-256, in a
folder named by a fingerprint of the generator.  A later load of the same text by the same
generator is one ``stat`` and never imports SymPy; any change to symbp or SymPy starts a
new, empty folder.

Where: ``$XDG_CACHE_HOME/symbp/verified-kernels`` (default ``~/.cache/symbp/...``), per
user.  An entry there makes symbp run a kernel without ``--trust``, so the cache is used
only when no one else can write to it: the cache folder and the folder holding it must
belong to this user (or root) and must not be writable by group or others (a sticky
folder such as /tmp may hold it).  Otherwise the cache is ignored and every load re-emits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
from functools import cache
from pathlib import Path

__all__ = ["cache_folder", "generator_fingerprint", "is_verified", "remember"]

#: The package's folder: its sources are part of the generator.
_PACKAGE = Path(__file__).resolve().parent.parent


def _cache_root() -> Path | None:
    if os.name != "posix":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) / "symbp" if local else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symbp" if os.path.isabs(base) else None


def _private(path: Path) -> bool:
    """Whether ``path`` is a folder that only this user (or root) can change."""
    if os.name != "posix":
        return path.is_dir()  # a profile folder, protected by its ACL
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid in (os.getuid(), 0) and not info.st_mode & 0o022


def _holder_is_safe(path: Path) -> bool:
    """Whether the folder holding ``path`` lets no one else replace it: private, or sticky (as /tmp is)."""
    if os.name != "posix":
        return True
    try:
        info = os.stat(path.parent)
    except OSError:
        return False
    return _private(path.parent) or bool(info.st_mode & stat.S_ISVTX)


@cache
def generator_fingerprint() -> str:
    """SHA-256 of what decides a kernel's text: symbp's sources and templates, and SymPy's version.

    Returns:
        The hex digest; it names the cache's folder, so a changed generator starts afresh.

    Example:
        >>> len(generator_fingerprint())
        64
    """
    digest = hashlib.sha256()
    # SymPy's version, from its release.py: found without importing SymPy (or importlib.metadata, which is slow to import).
    sympy = importlib.util.find_spec("sympy")
    locations = [] if sympy is None else list(sympy.submodule_search_locations or ())
    release = Path(locations[0]) / "release.py" if locations else None
    digest.update(release.read_bytes() if release is not None and release.is_file() else b"sympy: unknown")
    # The templates as symbp.render finds them (a wheel's copy, or the checkout's), without importing Jinja.
    templates = next((folder for folder in (_PACKAGE / "_templates", _PACKAGE.parent / "templates") if folder.is_dir()), _PACKAGE)
    for base, pattern in ((_PACKAGE, "*.py"), (templates, "*.jinja")):
        for file in sorted(base.rglob(pattern)):
            digest.update(str(file.relative_to(base)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_folder(create: bool = False) -> Path | None:
    """The folder of this generator's entries, or None when there is no safe place for it.

    Args:
        create: make the folders (mode 0700) when they are missing.

    Returns:
        The folder, checked to be private; None if it is missing (and not created) or not private.

    Example:
        >>> folder = cache_folder()   # doctest: +SKIP
    """
    root = _cache_root()
    if root is None:
        return None
    folder = root / "verified-kernels" / generator_fingerprint()[:32]
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return None
    # Every folder from the root down must be private: an entry in any of them could be planted otherwise.
    if not _holder_is_safe(root) or not all(_private(each) for each in (root, root / "verified-kernels", folder)):
        return None
    return folder


def is_verified(text_sha256: str) -> bool:
    """Whether a kernel text with this SHA-256 was verified by this generator before.

    Example:
        >>> is_verified("0" * 64)
        False
    """
    folder = cache_folder()
    if folder is None:
        return False
    try:
        return stat.S_ISREG(os.lstat(folder / text_sha256).st_mode)
    except OSError:
        return False


def remember(text_sha256: str, note: str = "") -> None:
    """Record that the kernel text with this SHA-256 is what this symbp emits; silently skipped without a safe cache.

    Args:
        text_sha256: the hex digest of the whole kernel text.
        note: a line for a person looking into the cache (the kernel's spec).
    """
    folder = cache_folder(create=True)
    if folder is None:
        return
    try:
        descriptor = os.open(folder / text_sha256, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return  # already there, or the cache cannot be written: only slower next time
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(note + "\n")
