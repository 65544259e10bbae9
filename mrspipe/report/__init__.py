"""Figures and the self-contained HTML study report.

>>> from mrspipe.report import write_report
>>> write_report("out", timecourses=tc, responses=resp, stats=stats,
...              sessions_qc=qc, design={"conditions": ["naltrexone", "placebo"]})  # doctest: +SKIP

Nothing heavy is imported here: matplotlib and pandas load when a report is written.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it
_API = {
    "write_report": "mrspipe.report.html",
    "build_checklist": "mrspipe.report.checklist",
    "timecourse_summary": "mrspipe.report.summaries",
    "paired_responses": "mrspipe.report.summaries",
    "forest_rows": "mrspipe.report.summaries",
    "ReportOptions": "mrspipe.report.options",
}

__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'mrspipe.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
