"""The web page of a derivation: the document's sections, self-contained, and rendered by a real headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from symbp.html.page import render_page
from tests.helpers import SLOW, chromium, cli, derive

#: Chromium without a sandbox (tests run as root), a GPU, the network or a profile of its own.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
WINDOW = (1000, 1400)

#: Appended to a copy of the page: the layout box of every math element, and how MathML was taken.
PROBE = """<script>
const maths = Array.from(document.querySelectorAll("math"));
const boxes = maths.map(m => m.getBoundingClientRect());
const fractions = Array.from(document.querySelectorAll("mfrac")).map(f => f.getBoundingClientRect().height);
const result = {
  count: maths.length,
  empty: boxes.filter(b => !(b.width > 0 && b.height > 0)).length,
  displays: maths.map(m => getComputedStyle(m).display),
  mathml: maths.every(m => m instanceof MathMLElement),
  fraction: Math.max(0, ...fractions),
  font: parseFloat(getComputedStyle(document.body).fontSize),
  errors: document.querySelectorAll("merror, parsererror").length,
};
const out = document.createElement("pre");
out.id = "symbp-probe";
out.textContent = JSON.stringify(result);
document.body.appendChild(out);
</script>
"""


def _browse(page: str, folder: Path) -> tuple[Path, dict]:
    """Open the page in headless Chromium: a screenshot of its first screen, and what the probe measured.

    The probe is appended to a copy of the page, after everything the page shows: its first screen is the page's.
    """
    probe = folder / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    shot = folder / "page.png"
    dom = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={folder / 'profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    found = re.search(r'<pre id="symbp-probe">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    return shot, json.loads(found.group(1).replace("&quot;", '"'))


def _assert_rendered(page: str, folder: Path) -> None:
    from PIL import Image

    shot, probe = _browse(page, folder)
    # Every math element of the page was laid out as MathML, with a size, and none is an error.
    assert probe["count"] == page.count("<math") > 20
    assert probe["mathml"] and probe["empty"] == 0 and probe["errors"] == 0
    assert set(probe["displays"]) == {"block math", "math"}  # displayed and inline math, laid out by the MathML engine
    assert probe["fraction"] > 1.5 * probe["font"]  # a displayed fraction is stacked, not a line of text
    image = Image.open(shot).convert("L")
    assert image.size == WINDOW
    ink = sum(image.histogram()[:128])  # pixels darker than mid-grey
    assert 0.01 < ink / (WINDOW[0] * WINDOW[1]) < 0.5  # text and math on a white page, not a blank or black one


def test_the_page_has_the_documents_sections_and_needs_nothing_else() -> None:
    d = derive(hidden=3, sigma="tanh", l2=0.01)
    page = render_page(d, view="matrix")
    document = d.document(view="matrix")
    sections = [re.sub(r"\$.*?\$", "", title).strip() for title in re.findall(r"\\section\{(.*)\}", document)]
    headings = [re.sub(r"<math>.*?</math>", "", title).strip() for title in re.findall(r"<h2>(.*)</h2>", page)]
    assert headings == sections and len(headings) == 2 + 4 + 2
    # Self-contained: no script, no style sheet or font fetched, no link anywhere.
    assert "<script" not in page and "http://" not in page and "https://" not in page and "@import" not in page and "src=" not in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


@pytest.mark.browser
def test_the_page_renders_its_math_in_a_real_browser(tmp_path) -> None:
    page = render_page(derive(hidden=3, sigma="tanh", l2=0.01), view="matrix")
    _assert_rendered(page, tmp_path)


@SLOW
@pytest.mark.browser
def test_the_page_of_a_deep_network_renders_in_a_real_browser(tmp_path) -> None:
    page = render_page(derive(hidden=(3,) * 12, sigma="max(u, 0.01*u)", g="sigmoid", loss="bce", outputs=2, l2=0.01), view="matrix")
    _assert_rendered(page, tmp_path)


def test_derive_html_writes_the_page(tmp_path) -> None:
    result = cli("derive", "--hidden", "2,2,2", "--html", "page.html", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "page.html\n"
    assert (tmp_path / "page.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    both = cli("derive", "--hidden", "2,2,2", "-o", "d.tex", "--html", "d.html", cwd=tmp_path)
    assert both.returncode == 0 and both.stdout == "d.tex\nd.html\n" and (tmp_path / "d.tex").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--html", "page.htm"], "--html page.htm: the page's file must end in .html"),
        (["--html", "folder.html"], "--html folder.html: folder.html is a folder"),
        (["--html", "page.html", "--sigma", "x^2"], "the operator '^' (a power is written **, as in x**2) is not allowed"),
    ],
)
def test_a_bad_html_option_is_one_line_and_writes_nothing(tmp_path, args: list[str], message: str) -> None:
    (tmp_path / "folder.html").mkdir()
    result = cli("derive", "--hidden", "2", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.html"]


@SLOW
@pytest.mark.browser
def test_a_page_whose_math_is_not_laid_out_fails_the_check(tmp_path) -> None:
    # The check can fail: the same page with its math hidden has math elements of no size.
    page = render_page(derive(hidden=3, sigma="tanh", l2=0.01), view="matrix").replace("</style>", "math { display: none; }\n</style>")
    with pytest.raises(AssertionError):
        _assert_rendered(page, tmp_path)


def test_the_page_states_the_mean() -> None:
    page = render_page(derive(hidden=2, reduction="mean"))
    assert "(divided by <math><mi>n</mi></math>: their mean)" in page
    assert "<mfrac><mn>1</mn><mi>n</mi></mfrac>" in page
    assert "their mean" not in render_page(derive(hidden=2))
