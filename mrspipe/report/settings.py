"""Settings and acquisition as readable tables: option, value, meaning.

The options come from the report design (``design['options']``: section -> key -> value, as
:meth:`mrspipe.config.StudyConfig.as_dict` gives them); their meanings and defaults are the
configuration registry's, handed in by the pipeline (``design['option_docs']``,
``design['option_defaults']``: the report does not import the configuration layer). Values are
written as words and numbers, never as Python reprs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..data import GAMMA_1H_MHZ_PER_T

__all__ = ["format_value", "settings_tables", "acquisition_rows", "GAMMA_1H_MHZ_PER_T"]

#: section headings of the settings tables
_SECTION_TITLES = {
    "preprocess": "Preprocessing",
    "fit": "Fitting",
    "windows": "Windows",
    "conditions": "Conditions",
    "metabolites": "Metabolites",
    "stats": "Statistics",
    "glm": "Per-session GLM",
    "pooling": "Pooled neighbour responses",
    "clinical": "Clinical scores",
    "report": "Report",
}


def format_value(value: Any) -> str:
    """Words for an option value: ``yes``/``no``, ``4.5 – 4.9``, ``Glu, Gln``, ``not set``."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "open" if math.isinf(value) else f"{value:g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {format_value(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        if not value:
            return "none (default)"
        if len(value) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            return f"{format_value(value[0])} to {format_value(value[1])}"
        return ", ".join(format_value(v) for v in value)
    return str(value)


def settings_tables(
    options: Mapping[str, Any] | None,
    *,
    docs: Mapping[str, Mapping[str, str]] | None = None,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One table per configuration section.

    Parameters
    ----------
    options : mapping or None
        ``section -> {key: value}``.
    docs : mapping, optional
        ``section -> {key: one-line meaning}`` (the configuration registry's descriptions;
        the pipeline passes them as ``design['option_docs']``).
    defaults : mapping, optional
        ``section -> {key: default}``, to mark changed values (``design['option_defaults']``).

    Returns
    -------
    list of dict
        ``{"title", "rows": [{"option", "value", "meaning", "changed"}]}``; ``changed`` is True
        where the value differs from the default.
    """
    if not options:
        return []
    docs, defaults = docs or {}, defaults or {}
    tables = []
    for section, values in options.items():
        if not isinstance(values, Mapping):
            values = {"value": values}
        rows = []
        for key, value in values.items():
            default = defaults.get(str(section), {}).get(str(key), value)
            same = _norm(default) == _norm(value)
            rows.append(
                {
                    "option": str(key),
                    "value": format_value(value),
                    "meaning": docs.get(str(section), {}).get(str(key), ""),
                    "changed": not same,
                }
            )
        tables.append(
            {
                "id": f"settings-{section}",
                "title": _SECTION_TITLES.get(str(section), str(section).capitalize()),
                "section": str(section),
                "rows": rows,
            }
        )
    return tables


def _norm(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value


def acquisition_rows(design: Mapping[str, Any]) -> list[dict[str, str]]:
    """Sequence, TE, TR, field and the sampling, with where each value came from.

    Returns
    -------
    list of dict
        ``{"item", "value", "source"}``; a missing value says ``not recorded``.
    """

    def get(key: str) -> Any:
        value = design.get(key)
        return None if value in (None, "", [], ()) else value

    source = str(design.get("acquisition_source") or "data headers (NIfTI-MRS / sidecar)")
    rows: list[dict[str, str]] = []

    def add(item: str, value: Any, src: str = source) -> None:
        rows.append(
            {
                "item": item,
                "value": "not recorded" if value is None else str(value),
                "source": "" if value is None else src,
            }
        )

    add("Sequence", get("sequence"))
    te, tr = get("echo_time_s"), get("repetition_time_s")
    add("Echo time (TE)", None if te is None else f"{float(te) * 1e3:.4g} ms ({float(te):g} s)")
    add("Repetition time (TR)", None if tr is None else f"{float(tr):g} s")
    mhz, field = get("spectrometer_frequency_mhz"), get("field_strength_t")
    if field is None and mhz is not None:
        field = float(mhz) / GAMMA_1H_MHZ_PER_T
    add(
        "Field strength",
        None
        if field is None
        else f"{float(field):.3g} T" + (f" ({float(mhz):.4g} MHz 1H)" if mhz is not None else ""),
    )
    for key, label in (
        ("manufacturer", "Scanner manufacturer"),
        ("scanner_model", "Scanner model"),
        ("water_suppression", "Water suppression"),
    ):
        if get(key) is not None:
            add(label, get(key))
    sw, npts = get("spectral_width_hz"), get("n_points")
    if sw is not None or npts is not None:
        add(
            "Sampling",
            ", ".join(
                p
                for p in (
                    None if npts is None else f"{int(npts)} points",
                    None if sw is None else f"spectral width {float(sw):g} Hz",
                )
                if p
            ),
        )
    per = get("transients_per_frame")
    if per is not None:
        add("Transients per frame", f"{float(per):g}")
    return rows
