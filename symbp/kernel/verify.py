"""Is a kernel text what this symbp emits for the spec it records?  Re-emit it and compare.

A kernel's body hash only tells an accidental edit from the emitted text: anyone can
recompute it.  What makes a kernel safe to run without ``--trust`` is that it is, byte for
byte, what this symbp emits for the spec it records.  :func:`check_emitted` reads that spec
(and the ``--name`` it was emitted with) from the text without running any of it (Python's
parser, literals only), emits the kernel again and compares.  A text found equal is
remembered in the verified-kernel cache (:mod:`symbp.kernel.cache`), so the next load of it
needs neither SymPy nor the second of work.

SymPy is imported only here, and only when the cache does not know the text.
"""

from __future__ import annotations

import ast
import shlex
import time
from typing import Any

from symbp.errors import KernelError, UserError
from symbp.kernel.format import REGENERATE_PREFIX, SPEC_PREFIX
from symbp.limits import COMMAND_SECONDS, TimeLimitExceeded, time_limit

__all__ = ["VERIFY_SECONDS", "RecordedSpec", "check_emitted", "recorded_spec"]

#: The time re-emitting a kernel's recorded spec may take: what ``symbp emit`` may take by default.
#: The spec is read from a file, so without a bound a forged one could keep a command busy for ever.
VERIFY_SECONDS = COMMAND_SECONDS

#: The keywords of ``make_spec`` a kernel's SPEC may hold.
_SPEC_KEYS = frozenset({"hidden", "sigma", "g", "inputs", "outputs", "loss", "l2", "reduction", "dtype"})

RecordedSpec = tuple[dict[str, Any], str | None]


def recorded_spec(text: str, source: str) -> RecordedSpec:
    """The spec a kernel records (its ``SPEC`` line) and the ``--name`` of its regeneration command.

    Nothing of the text is run: the SPEC line is read by ``ast.literal_eval`` (literals only) and
    the command by ``shlex``.

    Args:
        text: the kernel's text.
        source: the kernel's path, for messages.

    Returns:
        The keywords of :func:`symbp.spec.network.make_spec`, and the module name or None.

    Raises:
        KernelError: either line is missing or is not what symbp writes.

    Example:
        >>> recorded_spec("# Regenerate with: symbp emit --hidden 3\\nSPEC = {'hidden': 3}\\n", "k.py")
        ({'hidden': 3}, None)
    """
    spec_line = _line(text, SPEC_PREFIX, source)
    try:
        spec = ast.literal_eval(spec_line)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError) as err:
        raise KernelError(f"kernel {source}: its SPEC line is not a literal dictionary; regenerate it with 'symbp emit'") from err
    if not isinstance(spec, dict) or not set(spec) <= _SPEC_KEYS:
        raise KernelError(f"kernel {source}: its SPEC is not a spec symbp writes; regenerate it with 'symbp emit'")
    try:
        words = shlex.split(_line(text, REGENERATE_PREFIX, source))
    except ValueError as err:
        raise KernelError(f"kernel {source}: its regeneration command is malformed; regenerate it with 'symbp emit'") from err
    name = words[words.index("--name") + 1] if "--name" in words[:-1] else None
    return spec, name


def _line(text: str, prefix: str, source: str) -> str:
    for line in text.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):]
    raise KernelError(f"kernel {source} has no line starting {prefix.strip()!r}; regenerate it with 'symbp emit'")


def check_emitted(text: str, source: str) -> None:
    """Refuse a kernel text that is not, byte for byte, what this symbp emits for its recorded spec.

    Derives and emits the recorded spec again (SymPy is imported here; the derivation's own
    time limit applies).  Callers consult the verified-kernel cache first.

    Args:
        text: the kernel's whole text, as read once from the file.
        source: the kernel's path, for messages.

    Raises:
        KernelError: the spec cannot be read or made, or the text differs from the emitted one.

    Example:
        >>> from symbp.kernel.emit import render_kernel            # doctest: +SKIP
        >>> check_emitted(render_kernel(derive(hidden=3)), "k.py")  # doctest: +SKIP
    """
    from symbp.kernel.emit import kernel_name, render_kernel
    from symbp.spec.network import make_spec
    from symbp.symbolic.derivation import derive

    keywords, name = recorded_spec(text, source)
    started = time.monotonic()
    try:
        with time_limit(VERIFY_SECONDS) as limit:
            spec = make_spec(**keywords)
            kernel_name(spec, name)
            emitted = render_kernel(derive(spec=spec), name)
    except TimeLimitExceeded as err:
        if err.limit is not limit:
            raise  # an outer limit (a whole command's): its own message
        raise _too_slow(source, keywords) from err
    except UserError as err:
        if time.monotonic() - started >= VERIFY_SECONDS:  # a stage that words the expiry itself
            raise _too_slow(source, keywords) from err
        raise KernelError(f"kernel {source} records a spec this symbp cannot emit ({err}); pass --trust (trust=True) to run it anyway") from err
    if emitted != text:
        raise KernelError(
            f"kernel {source} is not what this symbp emits for the spec it records ({spec.describe()}): it was changed, or "
            f"emitted by another version; regenerate it with '{_regenerate(spec, name)}', or pass --trust (trust=True) to run it anyway"
        )


def _too_slow(source: str, keywords: dict[str, Any]) -> KernelError:
    """The refusal of a kernel whose recorded spec could not be emitted again within :data:`VERIFY_SECONDS`."""
    return KernelError(
        f"kernel {source} could not be verified within {VERIFY_SECONDS:g} s (emitting again the spec it records, "
        f"hidden={keywords.get('hidden')!r:.60}, took longer); emit it on this machine with 'symbp emit' (a kernel emitted "
        f"here is known at once), or pass --trust (trust=True) to run it anyway"
    )


def _regenerate(spec: Any, name: str | None) -> str:
    from symbp.kernel.context import command_for

    return command_for(spec, name)
