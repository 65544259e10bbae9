"""Tables for the report templates: formatted numbers and p-values as plain text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["fmt_number", "fmt_p", "cell", "text_table", "frame_table", "condition_sex_summary"]

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
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _py(value: Any) -> Any:
    """Convert numpy scalars to Python scalars (so integers print as integers)."""
    return value.item() if hasattr(value, "item") else value


def cell(value: Any, *, p: bool = False) -> dict[str, str]:
    """One table cell for the template: ``{"text", "cls"}`` (numbers right-aligned).

    The text is plain (the template escapes it).
    """
    if p:
        return {"text": fmt_p(value), "cls": "num"}
    value = _py(value)
    if isinstance(value, str) or value is None:
        return {"text": "" if value is None else value, "cls": ""}
    if isinstance(value, bool):
        return {"text": "yes" if value else "no", "cls": ""}
    return {"text": fmt_number(value), "cls": "num"}


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Build a template table from plain values (strings as is, numbers formatted)."""
    return {
        "header": [str(h) for h in header],
        "rows": [{"cells": [cell(v) for v in row], "cls": ""} for row in rows],
    }


def frame_table(
    df: Any,
    *,
    columns: Sequence[str] | None = None,
    p_columns: Sequence[str] = ("p_value", "p_perm", "p_holm", "q_bh"),
    row_classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Build a template table from a DataFrame.

    Numbers go through :func:`fmt_number`, p-values through :func:`fmt_p`; columns absent
    from ``df`` are skipped.

    Returns
    -------
    dict
        ``{"header": [...], "rows": [{"cells": [{"text", "cls"}], "cls"}]}``.
    """
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    rows = []
    for i, rec in enumerate(df[cols].itertuples(index=False, name=None)):
        cls = row_classes[i] if row_classes is not None else ""
        cells = [cell(v, p=c in p_columns) for c, v in zip(cols, rec, strict=True)]
        rows.append({"cells": cells, "cls": cls or ""})
    return {"header": cols, "rows": rows}


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
