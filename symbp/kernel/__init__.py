"""The kernel stage: the derivation lowered, scheduled and printed as a standalone NumPy module, and loaded back.

Importing this package imports nothing else: :mod:`symbp.kernel.load` works without SymPy.
"""
