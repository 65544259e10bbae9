"""Options of the report: :class:`ReportOptions`."""

from __future__ import annotations

from dataclasses import dataclass

from .._options import check_fields, option

__all__ = ["ReportOptions"]


@dataclass(frozen=True, kw_only=True)
class ReportOptions:
    """``[report]`` of ``study.toml``.

    Attributes
    ----------
    title : str
        Title of ``report.html``.
    """

    title: str = option("mrspipe study report", "title of report.html")

    def __post_init__(self) -> None:
        check_fields(self)
