"""Attack suite, user text in the report: HTML and mathtext in condition names (real run).

A condition called ``<script>alert(1)</script>`` must reach ``report.html`` escaped wherever it
appears, and one called ``$\\frac{x$`` (broken mathtext) must be drawn as typed instead of
killing the figures. The check parses the HTML, so it holds whatever renders the report.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from attack_helpers import snapshot

pytest.importorskip("mrspipe.simulate")

from mrspipe.cli import main  # noqa: E402

SCRIPT = "<script>alert(1)</script>"
MATHTEXT = r"$\frac{x$ <b>bold</b>"


class _Scan(HTMLParser):
    """Collect the tags and the text of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def hostile_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from mrspipe.io.basis import save_basis
    from mrspipe.simulate import simulate_basis, simulate_study

    root = tmp_path_factory.mktemp("hostile")
    truth = simulate_study(root / "study", n_participants=2, n_transients=32, n_points=512, rng=3)
    d = truth["design"]
    basis = simulate_basis(
        sequence=d["sequence"],
        field_mhz=d["field_mhz"],
        te=d["te"],
        dwell_time=d["dwell_time"],
        n_points=512,
    )
    save_basis(basis, root / "basis", format="fsl")
    for table in (root / "study").glob("sub-*/sub-*_sessions.tsv"):
        df = pd.read_csv(table, sep="\t", dtype=str)
        df["condition"] = df["condition"].map({"naltrexone": SCRIPT, "placebo": MATHTEXT})
        df.to_csv(table, sep="\t", index=False)
    return root / "study", root / "basis"


def test_html_and_mathtext_in_condition_names(
    hostile_study: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = hostile_study
    out = tmp_path / "out"
    before, inputs = snapshot(tmp_path, exclude=out), snapshot(study)
    code = main(["run", str(study), str(out), "--basis", str(basis), "--block", "8"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    page = (out / "report.html").read_text(encoding="utf-8")
    assert SCRIPT not in page and "<b>bold</b>" not in page
    scan = _Scan()
    scan.feed(page)
    assert "script" not in scan.tags  # the page has no script element at all
    text = "".join(scan.text)
    assert SCRIPT in text and MATHTEXT in text  # shown, as typed
    assert snapshot(tmp_path, exclude=out) == before and snapshot(study) == inputs


def test_mathtext_in_user_text_is_drawn_as_typed() -> None:
    """The report's figures never parse user text as mathtext."""
    pytest.importorskip("matplotlib")
    from mrspipe.report.figures import new_figure, to_png

    fig, axes = new_figure(1, 1, width=3, height=2)
    ax = axes[0, 0]
    ax.plot([0, 1], [0, 1], label=MATHTEXT)
    ax.set_title(r"$\undefinedmacro$")
    ax.set_xticks([0, 1], [r"$\bad{", "a$b"])
    ax.legend()
    assert to_png(fig).startswith(b"\x89PNG")
