"""``mrspipe simulate {basis,spectra,study}``: basis sets, synthetic spectra, synthetic studies."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import echo

SEQUENCE_CHOICES = ("pulse-acquire", "spin-echo", "press", "steam", "slaser")


def _acquisition_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sequence", choices=SEQUENCE_CHOICES, default="press")
    p.add_argument("--te", type=float, default=0.030, help="echo time, s (default 0.030)")
    p.add_argument("--te1", type=float, default=None, help="PRESS first echo time, s")
    p.add_argument("--tm", type=float, default=None, help="STEAM mixing time, s")
    p.add_argument("--field-mhz", type=float, default=123.2, help="1H frequency, MHz")
    p.add_argument("--dwell", type=float, default=2.5e-4, help="dwell time, s")
    p.add_argument("--points", type=int, default=2048, help="points per FID")
    p.add_argument("--metabolites", default=None, help="comma-separated names (default: all known)")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``simulate`` and its three subcommands."""
    p = sub.add_parser(
        "simulate",
        help="simulate basis sets, spectra or whole studies",
        description="Density-matrix basis simulation (ideal pulses), synthetic "
        "spectra and synthetic crossover fMRS studies with known truth.",
    )
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    b = what.add_parser("basis", help="simulate a basis set and write it")
    _acquisition_args(b)
    b.add_argument("--linewidth", type=float, default=0.0, help="Lorentzian FWHM, Hz")
    b.add_argument(
        "--macromolecules",
        action="store_true",
        help="also write the Gaussian macromolecule components",
    )
    b.add_argument("--format", choices=("fsl", "lcmodel"), default="fsl")
    b.add_argument("--out", required=True, help="output folder (fsl) or .BASIS file")
    b.add_argument("--overwrite", action="store_true")
    b.set_defaults(func=run_basis)

    s = what.add_parser("spectra", help="simulate synthetic spectra (NIfTI-MRS + truth JSON)")
    _acquisition_args(s)
    s.add_argument("--frames", type=int, default=1, help="number of frames (transients)")
    s.add_argument(
        "--conc", default=None, help="concentrations NAME=mM,... (default: typical brain values)"
    )
    s.add_argument("--lorentz", type=float, default=4.0, help="Lorentzian FWHM, Hz")
    s.add_argument("--gauss", type=float, default=4.0, help="Gaussian FWHM, Hz")
    s.add_argument("--shift-sd", type=float, default=0.0, help="per-frame shift sd, Hz")
    s.add_argument("--phase-sd", type=float, default=0.0, help="per-frame phase sd, rad")
    s.add_argument("--noise-sd", type=float, default=0.0, help="time-domain noise sd")
    s.add_argument("--water", type=float, default=None, help="residual water amplitude")
    s.add_argument("--macromolecules", action="store_true", help="add a macromolecule baseline")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--out", required=True, help="output FILE.nii.gz (truth: FILE_truth.json)")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=run_spectra)

    st = what.add_parser("study", help="simulate a crossover fMRS study in MRS-BIDS layout")
    st.add_argument("--out", required=True, help="study folder")
    st.add_argument("--participants", type=int, default=20)
    st.add_argument("--transients", type=int, default=640)
    st.add_argument("--tr", type=float, default=3.0, help="time between transients, s")
    st.add_argument("--points", type=int, default=2048)
    st.add_argument("--dwell", type=float, default=2.5e-4, help="dwell time, s")
    st.add_argument("--field-mhz", type=float, default=123.2)
    st.add_argument("--sequence", choices=SEQUENCE_CHOICES, default="press")
    st.add_argument("--te", type=float, default=0.030, help="echo time, s")
    st.add_argument("--onset", type=float, default=None, help="infusion onset, s")
    st.add_argument("--snr", type=float, default=15.0, help="single-transient NAA SNR")
    st.add_argument("--no-phenotype", action="store_true", help="skip phenotype/madrs.tsv")
    st.add_argument("--seed", type=int, default=None)
    st.add_argument("--overwrite", action="store_true")
    st.set_defaults(func=run_study)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def _basis(args: argparse.Namespace):  # noqa: ANN202
    from ..simulate import simulate_basis

    return simulate_basis(
        _names(args.metabolites),
        sequence=args.sequence,
        field_mhz=args.field_mhz,
        te=args.te,
        te1=args.te1,
        tm=args.tm,
        dwell_time=args.dwell,
        n_points=args.points,
        linewidth_hz=getattr(args, "linewidth", 0.0),
    )


def run_basis(args: argparse.Namespace) -> int:
    """Simulate a basis and write it with :func:`mrspipe.io.basis.save_basis`."""
    import dataclasses

    import numpy as np

    from ..errors import ConfigError
    from ..simulate import macromolecule_basis

    out = Path(args.out)
    if out.exists() and (out.is_file() or any(out.iterdir())) and not args.overwrite:
        raise ConfigError("output exists; pass --overwrite to replace it", out)
    basis = _basis(args)
    try:
        from ..io.basis import save_basis
    except ImportError:
        raise ConfigError("basis writing (mrspipe.io.basis) is not available") from None
    if args.macromolecules:
        mm = macromolecule_basis(
            field_mhz=args.field_mhz, dwell_time=args.dwell, n_points=args.points
        )
        basis = dataclasses.replace(
            basis, names=basis.names + mm.names, fids=np.concatenate([basis.fids, mm.fids])
        )
    save_basis(basis, out, format=args.format)
    echo(f"wrote {basis.n_metabolites} basis spectra ({args.sequence}, TE {args.te} s) to {out}")
    return 0


def _parse_conc(text: str | None) -> dict[str, float]:
    from ..errors import ConfigError
    from ..simulate.study import DEFAULT_CONCENTRATIONS

    if text is None:
        return dict(DEFAULT_CONCENTRATIONS)
    conc = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            conc[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--conc expects NAME=number, got {item!r}") from None
        if not sep:
            raise ConfigError(f"--conc expects NAME=number, got {item!r}")
    return conc


def run_spectra(args: argparse.Namespace) -> int:
    """Simulate spectra and write NIfTI-MRS plus the truth JSON."""
    import numpy as np

    from ..errors import ConfigError
    from ..io.nifti_mrs import save_mrs
    from ..io.tables import write_json
    from ..simulate import simulate_spectra
    from ..simulate.macromolecules import DEFAULT_MM_AMPLITUDES

    out = Path(args.out)
    truth_path = out.with_name(out.name.split(".nii")[0] + "_truth.json")
    if out.exists() and not args.overwrite:
        raise ConfigError("output exists; pass --overwrite to replace it", out)
    if args.frames < 1:
        raise ConfigError(f"--frames must be >= 1, got {args.frames}")
    conc = _parse_conc(args.conc)
    if args.metabolites is None:
        args.metabolites = ",".join(conc)
    basis = _basis(args)
    rng = np.random.default_rng(args.seed)
    n = args.frames
    data, truth = simulate_spectra(
        basis,
        {k: np.full(n, v) for k, v in conc.items()},
        lorentz_hz=args.lorentz,
        gauss_hz=args.gauss,
        shift_hz=rng.normal(0, args.shift_sd, n) if args.shift_sd else 0.0,
        phase0=rng.normal(0, args.phase_sd, n) if args.phase_sd else 0.0,
        macromolecules=DEFAULT_MM_AMPLITUDES if args.macromolecules else None,
        water=args.water,
        noise_sd=args.noise_sd,
        rng=rng,
    )
    save_mrs(data, out)
    write_json(truth_path, truth)
    echo(f"wrote {n} frame(s) to {out} and the truth to {truth_path}")
    return 0


def run_study(args: argparse.Namespace) -> int:
    """Simulate a crossover study."""
    from ..simulate import simulate_study

    truth = simulate_study(
        args.out,
        n_participants=args.participants,
        n_transients=args.transients,
        tr=args.tr,
        n_points=args.points,
        dwell_time=args.dwell,
        field_mhz=args.field_mhz,
        sequence=args.sequence,
        te=args.te,
        infusion_onset=args.onset,
        snr=args.snr,
        phenotype=not args.no_phenotype,
        overwrite=args.overwrite,
        rng=args.seed,
    )
    echo(
        f"wrote {len(truth['sessions'])} sessions of {args.participants} participants to "
        f"{args.out} (truth in {Path(args.out) / 'truth.json'})"
    )
    return 0
