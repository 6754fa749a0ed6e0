"""How wide a piece of display math comes out, estimated from its LaTeX, in points.

Line breaking (:mod:`symbp.latex.layout`) needs the width of a formula before TeX sets it.
:func:`width` reads the LaTeX symbp's printers write (fractions, sums with limits,
sub- and superscripts, ``\\left( \\right)``, Greek letters, operators with their math
spacing) and adds up the widths of Computer Modern at 11 pt, a little generously: a
line the estimate fits also fits on the page.  ``tests/latex/test_width.py`` measures
a corpus of printed formulas with a real pdflatex and checks that the estimate is never
below the true width and not far above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: Font size of the document (pt); every width below is for this size.
EM = 10.95
#: Math spacing at 11 pt: thin (3 mu), medium (4 mu, around + −), thick (5 mu, around =).
THIN, MEDIUM, THICK = EM * 3 / 18, EM * 4 / 18, EM * 5 / 18
#: Size of script and scriptscript style relative to text (cmr 8 and 6 pt against 11 pt).
SCRIPT, SCRIPTSCRIPT = 0.73, 0.55

_NARROW = set("ijlt")
_WIDE = set("mw")
_UPPER_WIDE = set("MWNH")
#: Widths (pt at 11 pt) of the characters and commands symbp's LaTeX contains; a binary operator or
#: relation gets its spacing in :func:`_token_width`.
_COMMANDS = {
    "sigma": 6.6, "delta": 5.3, "lambda": 7.0, "gamma": 6.2, "partial": 6.4, "Delta": 10.0, "nabla": 10.0,
    "pi": 6.6, "alpha": 7.0, "beta": 6.8, "mu": 6.9, "xi": 5.6, "epsilon": 4.9, "infty": 11.0,
    "dots": 14.6, "cdots": 14.6, "ldots": 14.6, "prime": 3.3, "mathbb": 8.8, "ell": 4.8,
}
_BINARY = {"odot": 9.0, "times": 9.0, "cdot": 3.3, "pm": 9.0, "circ": 5.5}
_RELATION = {"leq": 8.9, "geq": 8.9, "in": 7.3, "to": 11.0, "neq": 8.9, "approx": 8.9}
_SPACES = {",": THIN, ":": MEDIUM, ";": THICK, "quad": EM, "qquad": 2 * EM, " ": 4.0, "!": -THIN}
_OPERATORS = {"log", "exp", "tanh", "sinh", "cosh", "sin", "cos", "tan", "atan", "operatorname", "max", "min", "sign"}
#: Delimiters: \left( and friends are as wide as the content is tall; a generous width for each.
_DELIMITER = {"(": 5.0, ")": 5.0, "[": 4.0, "]": 4.0, ".": 1.2, "|": 3.5, "\\{": 6.0, "\\}": 6.0}
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_&]|[^\\{}^_&]")


@dataclass
class _Reader:
    """A cursor over the tokens of one piece of LaTeX."""

    tokens: list[str]
    position: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def group(self) -> list[str]:
        """The tokens of the next argument: a {…} group or a single token."""
        token = self.take()
        if token != "{":
            return [token]
        depth, out = 1, []
        while True:
            token = self.take()
            depth += {"{": 1, "}": -1}.get(token, 0)
            if depth == 0:
                return out
            out.append(token)


#: The estimate is this much above the sum of the widths above, so that it is never below TeX's width.
MARGIN = 1.09


@lru_cache(maxsize=8192)
def width(tex: str, style: str = "display") -> float:
    """The estimated width (pt) of ``tex`` set as math in ``style`` (display, text, script, scriptscript).

    Args:
        tex: LaTeX math as symbp's printers write it (no ``$``).
        style: the math style it is set in; a display's rows are in display style.

    Returns:
        Points at 11 pt, at least TeX's width for the constructs symbp prints.

    Example:
        >>> round(width(r"a + b"), 1) > 0
        True
        >>> width(r"\\frac{\\partial R}{\\partial W^{2}_{mj}}") < width(r"\\partial R \\partial W^{2}_{mj}")
        True
    """
    return MARGIN * _width(_Reader(_TOKEN.findall(tex)), style)


def _size(style: str) -> float:
    return {"display": 1.0, "text": 1.0, "script": SCRIPT, "scriptscript": SCRIPTSCRIPT}[style]


def _smaller(style: str) -> str:
    return {"display": "script", "text": "script", "script": "scriptscript", "scriptscript": "scriptscript"}[style]


def _inner(style: str) -> str:
    """The style of a fraction's numerator and denominator."""
    return {"display": "text", "text": "script", "script": "scriptscript", "scriptscript": "scriptscript"}[style]


def _width(reader: _Reader, style: str) -> float:
    total = 0.0
    previous_atom = False  # a binary operator after nothing (a leading minus) is unary: no spacing
    while reader.peek() is not None:
        token = reader.take()
        if token in ("^", "_"):
            total += _scripts(reader, token, style)
            continue
        added, atom = _token_width(token, reader, style, previous_atom)
        total += added
        previous_atom = atom
    return total


def _scripts(reader: _Reader, first: str, style: str) -> float:
    """A sub- and/or superscript: they stack, so the wider one counts."""
    widths = {first: _width(_Reader(reader.group()), _smaller(style))}
    if reader.peek() in ("^", "_") and reader.peek() != first:
        second = reader.take()
        widths[second] = _width(_Reader(reader.group()), _smaller(style))
    return max(widths.values()) + 0.6


def _token_width(token: str, reader: _Reader, style: str, previous_atom: bool) -> tuple[float, bool]:
    """(width, whether it is an atom an operator after it binds to) of one token and its arguments."""
    size = _size(style)
    if token == "{":
        reader.position -= 1
        return _width(_Reader(reader.group()), style), True
    if token == "&":
        return 0.0, False
    if token.startswith("\\"):
        return _command_width(token[1:], reader, style, previous_atom)
    if token in "+-*" and token != "":
        spacing = 2 * MEDIUM if previous_atom and style in ("display", "text") else 0.0
        return 8.6 * size + spacing, False
    if token in "=<>":
        return 8.6 * size + (2 * THICK if style in ("display", "text") else 0.0), False
    if token == ",":
        return 3.1 * size + THIN * (style in ("display", "text")), False
    if token == " ":
        return 0.0, previous_atom
    return _character(token) * size, True


def _character(char: str) -> float:
    if char.isdigit():
        return 5.5
    if char.islower():
        return 3.9 if char in _NARROW else (9.6 if char in _WIDE else 6.0)
    if char.isupper():
        return 11.4 if char in _UPPER_WIDE else 8.7
    return {"(": 4.3, ")": 4.3, "[": 3.1, "]": 3.1, ".": 3.1, "'": 3.3, "/": 5.5, "|": 3.1, ":": 3.1, ";": 3.1, "!": 3.1}.get(char, 6.0)


def _command_width(name: str, reader: _Reader, style: str, previous_atom: bool) -> tuple[float, bool]:
    size = _size(style)
    if name == "frac":
        numerator, denominator = reader.group(), reader.group()
        inner = _inner(style)
        return max(_width(_Reader(numerator), inner), _width(_Reader(denominator), inner)) + 2.4 * size, True
    if name in ("sum", "prod"):
        return _big_operator(reader, style), False
    if name in ("left", "right"):
        delimiter = reader.take()
        # A delimiter grows with what it encloses: wider around a fraction or a sum with limits.
        grows = _growth(reader) if name == "left" else 1.0
        return _DELIMITER.get(delimiter, 5.0) * max(size, 0.8) * grows, name == "right"
    if name in ("bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "Biggl", "Biggr"):
        delimiter = reader.take()
        return _DELIMITER.get(delimiter, 5.0) * max(size, 0.8) * (1.0 if name.startswith("big") and not name.startswith("bigg") else 1.5), name.endswith("r")
    if name in ("text", "mathrm", "textrm"):
        return sum(5.5 if c != " " else 3.7 for c in "".join(reader.group())) * size, True
    if name in ("mathbf", "boldsymbol", "mathbb", "mathcal", "mathit"):
        return _width(_Reader(reader.group()), style) * 1.2, True
    if name == "substack":
        lines: list[list[str]] = [[]]
        for token in reader.group():
            if token == "\\\\":
                lines.append([])
            else:
                lines[-1].append(token)
        return max(_width(_Reader(line), style) for line in lines), True
    if name in ("mathbin", "mathrel", "mathop"):
        return _width(_Reader(reader.group()), style) + 2 * MEDIUM, False
    if name in _SPACES:
        return _SPACES[name] * (1.0 if name in ("quad", "qquad") else size), previous_atom
    if name in _BINARY:
        return _BINARY[name] * size + (2 * MEDIUM if previous_atom and style in ("display", "text") else 0.0), False
    if name in _RELATION:
        return _RELATION[name] * size + (2 * THICK if style in ("display", "text") else 0.0), False
    if name in _OPERATORS:
        return (len(name) * 5.6 + THIN) * size, True
    if name in ("phantom", "vphantom"):
        content = reader.group()
        return (0.0 if name == "vphantom" else _width(_Reader(content), style)), previous_atom
    if name == "\\":
        return 0.0, False
    return _COMMANDS.get(name, 8.0) * size, True


def _growth(reader: _Reader) -> float:
    """How much wider the delimiters of the \\left just read are: with a fraction inside, and more with a sum's limits."""
    depth, grows = 1, 1.0
    for token in reader.tokens[reader.position :]:
        depth += {"\\left": 1, "\\right": -1}.get(token, 0)
        if depth == 0:
            break
        if token in ("\\sum", "\\prod"):
            return 2.0
        if token == "\\frac":
            grows = 1.5
    return grows


def _big_operator(reader: _Reader, style: str) -> float:
    """Σ with its limits: below and above it in display style, beside it otherwise."""
    limits = {}
    while reader.peek() in ("^", "_"):
        mark = reader.take()
        limits[mark] = _width(_Reader(reader.group()), _smaller(style))
    if style == "display":
        return max([14.7, *limits.values()]) + THIN
    return 10.8 * _size(style) + max(limits.values(), default=0.0) + THIN
