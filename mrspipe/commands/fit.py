"""``mrspipe fit DATA... --basis BASIS --out DIR``: fit every frame of each file."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ..cli import echo
from ..config import help_text
from ..fit.lipids import LIPID_RECORD, lipid_record
from ..io.derivative_tables import sidecar

FITS_SIDECAR = {
    "source": {"Description": "Input file the frame comes from"},
    "frame": {"Description": "Frame index (leading axes of the data flattened, C order)"},
    "metabolite": {
        "Description": "Basis metabolite, or a sum: tNAA = NAA+NAAG, tCr = Cr+PCr, "
        "tCho = GPC+PCho, Glx = Glu+Gln; <lipid>_90: the 90-degree part of a lipid component "
        "with a phase of its own (lipid_phase; both parts free in sign)"
    },
    "estimate": {
        "Description": "Fitted amplitude of the basis spectrum (basis units; "
        "multiply by a water scaling factor for mM)"
    },
    "crlb_sd": {
        "Description": "Cramer-Rao lower bound (SD) from the Fisher information at the "
        "solution; noise SD estimated from the fit residual; sums include "
        "the covariances",
        "Units": "same as estimate",
    },
    "crlb_percent": {"Description": "100 * crlb_sd / estimate", "Units": "%"},
}

QC_SIDECAR = {
    "source": FITS_SIDECAR["source"],
    "frame": FITS_SIDECAR["frame"],
    "snr": {
        "Description": "Peak height of the fitted NAA component (real, phased) divided by "
        "the noise SD of the real part of the spectrum (from the residual)"
    },
    "fwhm_hz": {
        "Description": "FWHM of the fitted Voigt broadening of the metabolites",
        "Units": "Hz",
    },
    "shift_hz": {"Description": "Fitted frequency shift of the metabolites", "Units": "Hz"},
    "phase_rad": {"Description": "Fitted zero-order phase", "Units": "rad"},
    "residual_rel": {"Description": "|data - fit - baseline| / |data| over the fitted range"},
    "converged": {"Description": "Whether the fit of this frame converged (False: not fitted)"},
    "reference_at_bound": {
        "Description": "tCr fitted as 0: implausible (wrong local optimum or basis); ratios to "
        "tCr are NaN"
    },
    # the lipid model's columns: the descriptions of the pipeline's session tables
    **{
        k: v
        for k, v in sidecar(["lipid_phase_rad", "lipid_out_of_phase", *LIPID_RECORD], "").items()
        if k != "Description"
    },
}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``fit`` subcommand."""
    p = sub.add_parser(
        "fit",
        help="fit every frame of MRS files with a basis set",
        description="Linear-combination fit of every frame (batched: inputs sharing points, "
        "dwell time and field are fitted together), with CRLBs, sums (tNAA, tCr, tCho, Glx) "
        "and QC. The same fit as `mrspipe run` with the same options. Writes DIR/fits.tsv, "
        f"DIR/qc.tsv (with JSON sidecars) and, for up to {AUTO_FIGURES} inputs or with "
        "--figures, a fit figure per input file.",
    )
    p.add_argument("data", metavar="DATA", nargs="+", help="NIfTI-MRS file(s)")
    p.add_argument("--basis", required=True, help="basis set (.BASIS, .RAW folder, FSL JSON)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--config", metavar="TOML", help="study.toml: its [fit] section is used")
    p.add_argument(
        "--backend",
        choices=("numpy", "lmfit"),
        help=help_text(
            "fit", "backend", "numpy: batched; lmfit: one frame at a time (slow cross-check)"
        ),
    )
    p.add_argument(
        "--ppm-range",
        nargs=2,
        type=float,
        metavar=("A", "B"),
        help=help_text("fit", "ppm_range", "fitted range in ppm"),
    )
    p.add_argument(
        "--baseline",
        choices=("spline", "poly"),
        help=help_text("fit", "baseline", "baseline model"),
    )
    figures = p.add_mutually_exclusive_group()
    figures.add_argument("--figures", action="store_true", help="a fit figure for every input file")
    figures.add_argument("--no-figures", action="store_true", help="no fit figures")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


#: inputs up to which the fit figures are drawn without --figures (a figure costs more than a fit)
AUTO_FIGURES = 4


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Map the command-line options to configuration overrides (``section.key -> value``)."""
    ppm_range = None if args.ppm_range is None else sorted(args.ppm_range)
    return {"fit.backend": args.backend, "fit.ppm_range": ppm_range, "fit.baseline": args.baseline}


class _SpectraOnce:
    """A fit result whose spectra are computed once for all the figures drawn from it."""

    def __init__(self, result: Any) -> None:
        self._result = result
        self._cache: dict[str, Any] = {}

    def _once(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = getattr(self._result, name)()
        return self._cache[name]

    def data_spectra(self) -> Any:
        """All frames' data spectra (computed once)."""
        return self._once("data_spectra")

    def model_spectra(self) -> Any:
        """All frames' model spectra (computed once)."""
        return self._once("model_spectra")

    def baseline_spectra(self) -> Any:
        """All frames' baseline spectra (computed once)."""
        return self._once("baseline_spectra")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)


def _grid(data: Any) -> tuple[Any, ...]:
    return (
        data.nucleus,
        data.n_points,
        data.dwell_time,
        data.spectrometer_frequency,
        data.ppm_reference,
    )


def _stem(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".nii")


def _batches(
    inputs: list[tuple[Path, Any]],
    groups: dict[tuple[Any, ...], list[int]],
    basis: Any,
    options: Any,
) -> list[tuple[list[int], str | None, list[dict[str, float]]]]:
    """Return the files fitted together: ``(members, lipid model or None, their tests)``.

    Files sharing a grid are fitted together. With ``lipid_phase='auto'`` each file's lipid is
    tested on its own (:func:`~mrspipe.pipeline.lipid_test_frames`) and the files are batched
    by the model their own test chose: a file's model never depends on the other inputs.
    """
    from ..pipeline import lipid_test_frames

    if options.lipid_phase != "auto":
        return [(members, None, []) for members in groups.values()]
    out: list[tuple[list[int], str | None, list[dict[str, float]]]] = []
    for members in groups.values():
        by_model: dict[str, tuple[list[int], list[dict[str, float]]]] = {}
        for i in members:
            model, test = lipid_test_frames(inputs[i][1], basis, options=options)
            chosen = by_model.setdefault(model, ([], []))
            chosen[0].append(i)
            chosen[1].append(test)
        out += [(m, model, tests) for model, (m, tests) in by_model.items()]
    return out


def run(args: argparse.Namespace) -> int:
    """Fit the files; 0 all fitted, 1 some group failed (named on stderr), 2 input error."""
    import numpy as np
    import pandas as pd

    from ..config import load_config
    from ..errors import FitError
    from ..io.basis import load_basis
    from ..io.nifti_mrs import load_mrs
    from ..io.tables import write_table
    from ..pipeline import fit_frames, select_metabolites

    out = Path(args.out)
    targets = [out / "fits.tsv", out / "qc.tsv"]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} exist; use --overwrite to replace them")
    options = load_config(args.config).with_overrides(overrides(args)).fit
    basis = select_metabolites(load_basis(args.basis), options, args.config)
    inputs = [(Path(p), load_mrs(p)) for p in args.data]  # input errors stop before any work
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (_, data) in enumerate(inputs):
        groups.setdefault(_grid(data), []).append(i)
    draw = not args.no_figures and (args.figures or len(inputs) <= AUTO_FIGURES)
    fits: list[Any] = []
    qcs: list[Any] = []
    failed: list[str] = []
    for members, model, tests in _batches(inputs, groups, basis, options):
        parts = [inputs[i][1].fids.reshape(-1, inputs[i][1].n_points) for i in members]
        sizes = [len(part) for part in parts]
        first = inputs[members[0]][1]
        stacked = first.with_fids(np.concatenate(parts), dims=("dyn",), frame_times=None)
        names = [inputs[i][0].name for i in members]
        fitted = options if model is None else dataclasses.replace(options, lipid_phase=model)
        try:
            res = fit_frames(stacked, basis, options=fitted)
        except FitError as exc:
            echo(f"mrspipe fit: {', '.join(names)}: {exc}", err=True)
            failed += names
            continue
        source = np.repeat(names, sizes)
        local = np.concatenate([np.arange(n) for n in sizes])
        qc = res.qc_table()
        if model is not None:  # each file's own decision, as if fitted alone
            owner = np.repeat(np.arange(len(members)), sizes)[qc["frame"].to_numpy()]
            records = pd.DataFrame([lipid_record(model, "data", t) for t in tests])
            for column in records:
                qc[column] = records[column].to_numpy()[owner]
        for table, bucket in ((res.table(), fits), (qc, qcs)):
            frame = table["frame"].to_numpy()
            table["source"], table["frame"] = source[frame], local[frame]
            bucket.append(table)
        stops = np.cumsum(sizes)
        drawn = _SpectraOnce(res)
        for name, path, stop, n in zip(
            names, (inputs[i][0] for i in members), stops, sizes, strict=True
        ):
            rows = slice(stop - n, stop)
            if draw:
                from ..report.fit_figure import plot_fit

                plot_fit(drawn, out / f"{_stem(path)}_fit.png", frames=rows, title=name)
            n_ok = int(res.converged[rows].sum())
            echo(f"{name}: {n_ok}/{n} frames fitted")
    if fits:
        # rows in the order of the inputs (batches by grid and lipid model may interleave them)
        rank = {
            name: i for i, (path, _) in reversed(list(enumerate(inputs))) for name in [path.name]
        }

        def ordered(tables: list[Any]) -> Any:
            table = pd.concat(tables, ignore_index=True)
            key = table["source"].map(rank).to_numpy()
            return table.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)

        write_table(ordered(fits), targets[0], sidecar=FITS_SIDECAR)
        write_table(ordered(qcs), targets[1], sidecar=QC_SIDECAR)
    return 1 if failed else 0
