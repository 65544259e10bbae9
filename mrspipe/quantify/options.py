"""Options of the quantification (``[quantify]``) and the report's sentence on them."""

from __future__ import annotations

from dataclasses import dataclass

from .._options import check_fields, option
from ..errors import ConfigError

__all__ = ["UNITS", "QuantifyOptions", "describe"]

#: concentration units: molality (mmol per kg tissue water) and molarity (mmol per L tissue)
UNITS = ("molality", "molarity")


@dataclass(frozen=True, kw_only=True)
class QuantifyOptions:
    """Water scaling: whether, in which units, with which tissue fractions and relaxation.

    Attributes
    ----------
    water_scaling : bool
        Write concentrations in mM when a session has a water reference.
    units : {'both', 'molality', 'molarity'}
    tissue_columns : (str, str, str)
        GM, WM and CSF volume-fraction columns of ``participants.tsv``/``sessions.tsv`` (or of
        ``tissue_tsv``); sessions without them are scaled without tissue correction.
    tissue_tsv : str or None
        TSV with ``participant_id`` (and optionally ``session_id``) and the fraction columns.
    metabolite_t1, metabolite_t2 : float or None, s
        One value for every metabolite; unset = the per-metabolite literature table
        (:mod:`mrspipe.relaxation`, nearest field).
    water_concentration : float or None, mM
    water_content : float
    water_protons : float
    """

    water_scaling: bool = option(
        True, "write concentrations (mM) beside the estimates when there is a water reference"
    )
    units: str = option(
        "both",
        "molality (mmol/kg tissue water, Gasparovic eq. 5-7), molarity (mmol/L tissue) or both",
        choices=("both", *UNITS),
    )
    tissue_columns: tuple[str, ...] = option(
        ("gm", "wm", "csf"),
        "GM, WM, CSF volume-fraction columns of participants.tsv/sessions.tsv or tissue_tsv",
    )
    tissue_tsv: str | None = option(
        None,
        "TSV of tissue fractions (participant_id, optional session_id, the tissue_columns); "
        "unset = the columns of participants.tsv/sessions.tsv",
        off="",
    )
    metabolite_t1: float | None = option(
        None,
        "metabolite T1 for every metabolite, s; unset = literature table per metabolite",
        minimum=0.0,
    )
    metabolite_t2: float | None = option(
        None,
        "metabolite T2 for every metabolite, s; unset = literature table per metabolite",
        minimum=0.0,
    )
    water_concentration: float | None = option(
        None,
        "NMR-visible water concentration with relaxation included, mM; unset = tissue model",
        minimum=0.0,
    )
    water_content: float = option(
        0.7, "relative water density of the tissue (no fractions given)", minimum=0.0
    )
    water_protons: float = option(2.0, "protons per water molecule", minimum=1.0, config=False)

    def __post_init__(self) -> None:
        check_fields(self)
        if len(self.tissue_columns) != 3:
            raise ConfigError(
                f"[quantify] tissue_columns needs 3 names (GM, WM, CSF), got {self.tissue_columns}"
            )


_DEFAULT = QuantifyOptions()


def describe(options: QuantifyOptions = _DEFAULT) -> str:
    """One sentence for the report (MRSinMRS 3d): how concentrations were quantified."""
    if not options.water_scaling:
        return "ratios to tCr/tNAA (basis-unit estimates); no water scaling"
    units = "molality and molarity" if options.units == "both" else options.units
    relax = (
        f"metabolite T1 {options.metabolite_t1} s, T2 {options.metabolite_t2} s"
        if options.metabolite_t1 is not None and options.metabolite_t2 is not None
        else "per-metabolite T1/T2 at 3 T (Mlynarik 2001, Wyss 2018; water Wansapura 1999)"
    )
    tissue = (
        f"tissue fractions from {options.tissue_tsv}"
        if options.tissue_tsv
        else f"tissue fractions from columns {', '.join(options.tissue_columns)} when present"
    )
    return (
        f"ratios to tCr/tNAA; with a water reference, water-scaled {units} "
        f"(Gasparovic et al. 2006), {relax}, {tissue}"
    )
