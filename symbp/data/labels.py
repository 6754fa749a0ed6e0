"""Class labels: a target column of names (or integers) one-hot encoded, the classes in a fixed order.

A classifier's targets may be given as one column of labels (``setosa``, ``versicolor``, …, or
``0, 1, 2``).  The classes are the distinct labels in sorted order — by value when every label is
an integer, else as text — and sample i's target row is 1 in its class's column, 0 elsewhere.  Data
to evaluate a trained network on are encoded with the classes it was trained with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from symbp.data.messages import data_error, quote

__all__ = ["one_hot"]

_INTEGER = re.compile(r"[+-]?\d+")


def one_hot(labels: Sequence[str], lines: Sequence[int], source: str, classes: Sequence[str] | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """The classes and the one-hot targets of a column of labels.

    Args:
        labels: one label per sample, as read (surrounding spaces are dropped).
        lines: the 1-based line of each sample, for messages.
        source: the file, for messages.
        classes: the classes to encode with (those a network was trained with); None: the labels' own.

    Returns:
        The classes, and targets of shape (n, number of classes).

    Raises:
        DataError: an empty label, fewer than two classes, or a label outside ``classes``.

    Example:
        >>> one_hot(["b", "a", "b"], [2, 3, 4], "d.csv")
        (('a', 'b'), array([[0., 1.],
               [1., 0.],
               [0., 1.]]))
    """
    texts = [label.strip() for label in labels]
    for text, line in zip(texts, lines):
        if not text:
            raise data_error(f"{source} line {line}: the class label is empty; give every sample its class")
    if classes is None:
        distinct = set(texts)
        numeric = all(_INTEGER.fullmatch(text) for text in distinct)
        classes = tuple(sorted(distinct, key=(lambda t: (int(t), t)) if numeric else None))
        if len(classes) < 2:
            raise data_error(f"{source}: every sample has the class {quote(texts[0])}; a classifier needs at least two classes")
    position = {name: column for column, name in enumerate(classes)}
    Y = np.zeros((len(texts), len(classes)))
    for row, (text, line) in enumerate(zip(texts, lines)):
        if text not in position:
            raise data_error(
                f"{source} line {line}: the class {quote(text)} is not one the network was trained on "
                f"({', '.join(classes)}); give data with those classes"
            )
        Y[row, position[text]] = 1.0
    return tuple(classes), Y
