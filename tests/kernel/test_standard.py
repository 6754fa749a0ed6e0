"""The standard specs: the kernels committed in generated/, one file per spec, named by the spec."""

from __future__ import annotations

from symbp.kernel.standard import STANDARD, STANDARD_BEYOND, standard_specs
from tests.helpers import ROOT


def test_every_standard_spec_has_its_file_in_generated() -> None:
    specs = standard_specs()
    assert len(specs) == len(STANDARD) + len(STANDARD_BEYOND) == len({spec.name for spec in specs})
    committed = {path.name for path in (ROOT / "generated").glob("*.py")}
    assert committed == {f"{spec.name}.py" for spec in specs}
