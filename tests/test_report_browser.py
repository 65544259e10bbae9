"""The report in a real browser: headless Chromium renders it with no console error, every
image decodes, and the answer comes first.

No CDP: a small check script is injected into a copy of the report; it writes its findings
into the DOM, which Chromium dumps (``--dump-dom``); console messages go to stderr
(``--enable-logging=stderr``). Skipped, with the reason, only when no Chromium is installed
(``.ci/run`` installs the Debian package ``chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report_summaries import make_study

from mrspipe.report import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var sections = Array.prototype.slice.call(document.querySelectorAll("body > section"));
  document.body.setAttribute("data-check", JSON.stringify({
    images: imgs.length,
    decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    sections: sections.map(function (s) { return s.id; }),
    text: document.body.innerText.slice(0, 1500)
  }));
});
</script>"""


def _browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def render_in_browser(report: Path, work: Path) -> tuple[dict, str]:
    """Open a copy of ``report`` with the check script; return (findings, browser stderr)."""
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium installed (.ci/run installs the Debian package 'chromium')")
    page = report.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>")
    probe = report.with_name("report_browser_check.html")
    probe.write_text(page, encoding="utf-8")
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={work / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
        "--dump-dom",
        probe.as_uri(),
    ]
    env = dict(os.environ, HOME=str(work))
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    match = re.search(r'data-check="([^"]*)"', run.stdout)
    assert match, f"the check did not run; browser stderr:\n{run.stderr[-2000:]}"
    import html

    return json.loads(html.unescape(match.group(1))), run.stderr


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    study = make_study(noise=0.01, failed=((2, 1),))
    path = write_report(
        tmp_path / "out",
        timecourses=study["timecourses"],
        responses=study["responses"],
        stats=study["stats"],
        sessions_qc=study["sessions_qc"],
        design={"conditions": ["naltrexone", "placebo"], "primary": "Glx"},
        dpi=40,
    )
    found, stderr = render_in_browser(path, tmp_path)
    console = [line for line in stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    assert found["images"] >= 5 and found["decoded"] == found["images"]
    assert found["sections"][:2] == ["answer", "warnings"]
    text = found["text"]
    assert "naltrexone − placebo" in text and "95 % CI" in text
    assert "males (n = 3)" in text and "females (n = 3)" in text
    assert "Condition × sex interaction" in text
