"""What a generated kernel file records about itself, shared by the emitter and the loader.

Kept apart from :mod:`symbp.kernel.emit` so that loading a kernel never imports SymPy.
"""

from __future__ import annotations

#: Bumped whenever the kernel interface changes; load_kernel refuses other formats.
KERNEL_FORMAT = 1
#: The last line of every kernel: this prefix and the SHA-256 of everything above it.
BODY_HASH_PREFIX = "# symbp-body-sha256: "
#: The line that records the spec as a literal dictionary (read back without running the kernel).
SPEC_PREFIX = "SPEC = "
#: The header line with the ``symbp emit`` command that regenerates the kernel (it names ``--name``).
REGENERATE_PREFIX = "# Regenerate with: "
#: Largest kernel file read: emitted kernels are tens of kilobytes; more is not a kernel of symbp.
MAX_KERNEL_BYTES = 4 * 2**20
