"""``mrspipe fit DATA... --basis BASIS --out DIR``: fit every frame of each file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import echo

FITS_SIDECAR = {
    "source": {"Description": "Input file the frame comes from"},
    "frame": {"Description": "Frame index (leading axes of the data flattened, C order)"},
    "metabolite": {
        "Description": "Basis metabolite, or a sum: tNAA = NAA+NAAG, tCr = Cr+PCr, "
        "tCho = GPC+PCho, Glx = Glu+Gln"
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
}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``fit`` subcommand."""
    p = sub.add_parser(
        "fit",
        help="fit every frame of MRS files with a basis set",
        description="Linear-combination fit of every frame (batched), with CRLBs, sums "
        "(tNAA, tCr, tCho, Glx) and QC. Writes DIR/fits.tsv, DIR/qc.tsv (with JSON sidecars) "
        "and a fit figure per input file.",
    )
    p.add_argument("data", metavar="DATA", nargs="+", help="NIfTI-MRS file(s)")
    p.add_argument("--basis", required=True, help="basis set (.BASIS, .RAW folder, FSL JSON)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--backend",
        choices=("numpy", "lmfit"),
        default="numpy",
        help="numpy: batched (default); lmfit: one frame at a time (slow cross-check)",
    )
    p.add_argument(
        "--ppm-range",
        nargs=2,
        type=float,
        metavar=("A", "B"),
        default=(0.2, 4.2),
        help="fitted range in ppm (default 0.2 4.2)",
    )
    p.add_argument(
        "--baseline",
        choices=("spline", "poly"),
        default="spline",
        help="baseline model (default spline)",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the fit figures")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit each file; 0 all fitted, 1 some file failed (named on stderr), 2 input error."""
    import pandas as pd

    from ..errors import FitError
    from ..fit import fit_spectra
    from ..io.basis import load_basis
    from ..io.nifti_mrs import load_mrs
    from ..io.tables import write_table
    from ..report.fit_figure import plot_fit

    out = Path(args.out)
    targets = [out / "fits.tsv", out / "qc.tsv"]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} exist; use --overwrite to replace them")
    lo, hi = sorted(args.ppm_range)
    basis = load_basis(args.basis)
    inputs = [(Path(p), load_mrs(p)) for p in args.data]  # input errors stop before any work
    fits, qcs, failed = [], [], []
    for path, data in inputs:
        try:
            res = fit_spectra(
                data, basis, backend=args.backend, ppm_range=(lo, hi), baseline=args.baseline
            )
        except FitError as exc:
            echo(f"mrspipe fit: {path}: {exc}", err=True)
            failed.append(path)
            continue
        fits.append(res.table(source=path.name))
        qcs.append(res.qc_table(source=path.name))
        if not args.no_figures:
            stem = path.name.removesuffix(".gz").removesuffix(".nii")
            plot_fit(res, out / f"{stem}_fit.png", title=path.name)
        n_ok = int(res.converged.sum())
        echo(f"{path.name}: {n_ok}/{res.n_frames} frames fitted")
    if fits:
        write_table(pd.concat(fits, ignore_index=True), targets[0], sidecar=FITS_SIDECAR)
        write_table(pd.concat(qcs, ignore_index=True), targets[1], sidecar=QC_SIDECAR)
    return 1 if failed else 0
