"""HTML tables for the report: formatted numbers, p-values, escaped text."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["fmt_number", "fmt_p", "html_table", "dataframe_table", "condition_sex_summary"]

MISSING = "–"


def fmt_number(value: Any, *, digits: int = 3) -> str:
    """Format a number: integers as is, floats to ``digits`` significant figures, ``–`` if NaN."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return MISSING
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    if abs(x) >= 1000:
        return f"{x:.1f}"
    if abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def fmt_p(value: Any) -> str:
    """Format a p-value: ``<0.001``, otherwise three decimals; ``–`` when missing."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        return MISSING
    if not math.isfinite(p):
        return MISSING
    return "&lt;0.001" if p < 0.001 else f"{p:.3f}"


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    cls: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """Build a table from already formatted (and escaped) cell strings.

    Parameters
    ----------
    header : sequence of str
        Column titles (escaped here).
    rows : sequence of sequence of str
        Cell HTML, one inner sequence per row.
    cls : str
        CSS class of the table.
    row_classes : sequence of str, optional
        CSS class of each row (e.g. ``'failed'``).
    """
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        rc = row_classes[i] if row_classes is not None and row_classes[i] else ""
        attr = f' class="{rc}"' if rc else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    attr = f' class="{cls}"' if cls else ""
    return (
        f"<table{attr}><thead><tr>{head}</tr></thead><tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>"
    )


def dataframe_table(
    df: Any,
    *,
    columns: Sequence[str] | None = None,
    p_columns: Sequence[str] = ("p_value",),
    cls: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """Render a DataFrame as an HTML table with formatted numbers and p-values.

    Columns absent from ``df`` are skipped; text is escaped; numbers go through
    :func:`fmt_number`, the ``p_columns`` through :func:`fmt_p`.
    """
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    rows = []
    for rec in df[cols].itertuples(index=False, name=None):
        cells = []
        for col, value in zip(cols, rec, strict=True):
            if col in p_columns:
                cells.append(fmt_p(value))
            elif isinstance(value, str):
                cells.append(html.escape(value))
            else:
                cells.append(html.escape(fmt_number(_py(value))))
        rows.append(cells)
    return html_table(cols, rows, cls=cls, row_classes=row_classes)


def _py(value: Any) -> Any:
    """Convert numpy scalars to Python scalars (so integers print as integers)."""
    return value.item() if hasattr(value, "item") else value


def condition_sex_summary(responses: Any, *, value: str = "percent_change") -> Any:
    """Mean, SD and n of the responses by metabolite, condition and sex (plus all).

    Returns
    -------
    pandas.DataFrame
        Columns ``metabolite, condition, sex, mean, sd, n``.
    """
    import pandas as pd

    cols = ["metabolite", "condition", "sex", "mean", "sd", "n"]
    if responses is None or responses.empty:
        return pd.DataFrame(columns=cols)
    by_sex = responses.dropna(subset=["sex"]).assign(sex=lambda d: d["sex"].astype(str))
    stacked = pd.concat([responses.assign(sex="all"), by_sex], ignore_index=True)
    out = (
        stacked.groupby(["metabolite", "condition", "sex"])[value]
        .agg(mean="mean", sd="std", n="count")
        .reset_index()
    )
    return out[cols]
