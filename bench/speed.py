"""Speed of the study pipeline against the floor: reading every file and FFT-ing every transient.

Run from the repository root (on a simulated study, e.g. from ``bench.study_recovery``)::

    PYTHONPATH=$PWD python -m bench.speed STUDY BASIS [--sessions 2]

``read_fft_seconds`` is the time to load every session's NIfTI-MRS file and FFT all its
transients once, serially: no analysis can be faster than that by much. ``stage_seconds``
times the real pipeline steps (the defaults of :mod:`mrspipe.pipeline.steps`) one after the
other on a few sessions in this process, to show where the time goes. Wall-clock on a shared
machine: noisy.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

__all__ = ["read_fft_seconds", "stage_seconds"]


def read_fft_seconds(study: Path) -> dict[str, float]:
    """Load every session's svs file and FFT every transient once (serially).

    Returns
    -------
    dict
        ``seconds`` (total), ``n_sessions``, ``n_transients``.
    """
    from mrspipe.io.bids import find_sessions
    from mrspipe.io.nifti_mrs import load_mrs

    sessions = find_sessions(study)
    start = time.perf_counter()
    n_tr = 0
    for s in sessions:
        data = load_mrs(s.svs_path)
        spec = np.fft.fft(data.fids, axis=-1)
        n_tr += int(np.prod(spec.shape[:-1]))
    return {
        "seconds": time.perf_counter() - start,
        "n_sessions": float(len(sessions)),
        "n_transients": float(n_tr),
    }


def stage_seconds(
    study: Path, basis_path: Path, *, n_sessions: int = 2, block: int = 16
) -> dict[str, float]:
    """Mean wall time per session of each pipeline stage, run serially in this process.

    Stages: ``load`` (svs + water reference), ``preprocess``, ``fit`` (every frame, the
    default numpy backend), ``dynamic`` (time course and windows), each with the default
    options except ``block``; ``fit_figure`` (the per-session fit PNG the pipeline draws,
    written to a temporary folder).
    """
    from mrspipe.config import defaults
    from mrspipe.io.bids import find_sessions, read_events
    from mrspipe.pipeline import steps as st

    config = defaults().with_overrides({"preprocess.block": block})
    basis = st.default_load_basis(basis_path)
    sessions = find_sessions(study)[:n_sessions]
    totals: dict[str, float] = {
        "load": 0.0,
        "preprocess": 0.0,
        "fit": 0.0,
        "dynamic": 0.0,
        "fit_figure": 0.0,
    }
    tmp = tempfile.TemporaryDirectory()

    def timed(name: str, fn: Any) -> Any:
        start = time.perf_counter()
        out = fn()
        totals[name] += time.perf_counter() - start
        return out

    for s in sessions:
        data = timed("load", lambda s=s: st.default_load_mrs(s.svs_path))
        water = (
            None
            if s.ref_path is None
            else timed("load", lambda s=s: st.default_load_mrs(s.ref_path))
        )
        pre = timed(
            "preprocess",
            lambda data=data, water=water: st.default_preprocess(
                data, water=water, options=config.preprocess
            ),
        )
        frames = pre.frames
        b = st.default_resample_basis(basis, frames)
        fit = timed("fit", lambda frames=frames, b=b: st.default_fit(frames, b, options=config.fit))
        onset, _ = st.default_infusion(read_events(s.events_path), event=None)

        def dyn(s: Any = s, fit: Any = fit, frames: Any = frames, onset: float = onset) -> Any:
            return st.default_dynamics(
                fit.table(),
                frame_times=frames.transient_times(),
                onset=onset,
                session=s,
                windows=config.windows,
            )

        timed("dynamic", dyn)
        timed(
            "fit_figure",
            lambda fit=fit, frames=frames: st.default_fit_figure(
                frames, fit, path=Path(tmp.name) / "fit.png", title="fit"
            ),
        )
    tmp.cleanup()
    return {k: v / len(sessions) for k, v in totals.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("basis", type=Path)
    parser.add_argument("--sessions", type=int, default=2)
    args = parser.parse_args(argv)
    floor = read_fft_seconds(args.study)
    print(
        f"read + FFT every transient: {floor['seconds']:.1f} s for "
        f"{floor['n_sessions']:.0f} sessions, {floor['n_transients']:.0f} transients"
    )
    for name, sec in stage_seconds(args.study, args.basis, n_sessions=args.sessions).items():
        print(f"{name:12s} {sec:7.2f} s per session")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
