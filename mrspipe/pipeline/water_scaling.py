"""Water scaling of one session's fit: the water reference's amplitude, tissue fractions.

The session runner (:mod:`.session`) calls :func:`water_scale` after the fit when the session
has a water reference and ``[quantify] water_scaling`` is on; the numerics are
:mod:`mrspipe.quantify`'s.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from ..errors import StudyLayoutError
from ..quantify import QuantifyOptions
from .steps import Steps

__all__ = ["water_scale", "tissue_fractions"]

logger = logging.getLogger("mrspipe")


def water_scale(
    fits: Any,
    session: Any,
    frames: Any,
    acquisition: dict[str, Any],
    options: QuantifyOptions,
    steps: Steps,
) -> Any:
    """``fits`` with concentration columns from the session's water reference (mrspipe.quantify).

    The reference's frames are averaged and fitted as one Voigt line; tissue fractions come from
    ``options.tissue_tsv`` or the session's participants/sessions columns (none: no tissue
    correction). Records the water amplitude and fractions in ``acquisition``.
    """
    import numpy as np

    from ..data import GAMMA_1H_MHZ_PER_T
    from ..quantify import concentration_table, fit_water

    water = steps.load_mrs(session.ref_path)
    if any(d not in ("dyn",) for d in getattr(water, "dims", ())):
        logger.warning(
            "%s: water reference has dimensions %s; only a coil-combined reference is scaled",
            session.ref_path,
            water.dims,
        )
        return fits
    area = float(np.nanmean(fit_water(water)))
    if not np.isfinite(area) or area <= 0:
        logger.warning("%s: the water peak could not be fitted; no mM", session.ref_path)
        return fits
    fractions = tissue_fractions(session, options)
    field_t = frames.spectrometer_frequency / GAMMA_1H_MHZ_PER_T
    columns = concentration_table(
        fits,
        area,
        te=frames.echo_time or 0.0,
        tr=frames.repetition_time or None,
        water_te=water.echo_time if water.echo_time is not None else frames.echo_time,
        water_tr=water.repetition_time or frames.repetition_time or None,
        field_t=field_t,
        fractions=fractions,
        options=options,
    )
    acquisition["water_amplitude"] = area
    acquisition["tissue_fractions"] = fractions
    return fits.assign(**columns)


def tissue_fractions(session: Any, options: QuantifyOptions) -> dict[str, float] | None:
    """GM/WM/CSF volume fractions of a session (sum 1; percentages are divided by 100).

    From ``options.tissue_tsv`` (rows by ``participant_id`` and, if present, ``session_id``)
    else from the session's ``participants.tsv``/``sessions.tsv`` columns; None when absent.
    """
    names = options.tissue_columns
    row: dict[str, Any] = dict(getattr(session, "extra", {}) or {})
    if options.tissue_tsv:
        from ..io.tables import read_table

        table = read_table(Path(options.tissue_tsv))
        if "participant_id" not in table:
            raise StudyLayoutError("tissue_tsv has no participant_id column", options.tissue_tsv)
        hit = table[table["participant_id"].map(_label) == _label(session.participant_id)]
        if "session_id" in hit and session.session_id is not None:
            hit = hit[hit["session_id"].map(_label) == _label(session.session_id)]
        row = hit.iloc[0].to_dict() if len(hit) else {}
    values = [row.get(n) for n in names]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return None
    fr = [float(v) for v in values]  # type: ignore[arg-type]
    total = sum(fr)
    if 90.0 < total < 110.0:  # percentages
        fr = [v / 100.0 for v in fr]
        total /= 100.0
    fr = [v / total for v in fr] if abs(total - 1.0) < 0.05 else fr
    return dict(zip(("gm", "wm", "csf"), fr, strict=True))


def _label(value: Any) -> str:
    """``sub-01``/``01``/``1`` -> ``'1'`` (a TSV reader may have made the label a number)."""
    text = str(value).removeprefix("sub-").removeprefix("ses-")
    return (text.lstrip("0") or "0") if text.isdigit() else text
