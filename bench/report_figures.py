"""CPU time of the report's group figures (issue 17), and a hash of each PNG.

Run from the repository root, on a finished study's output folder (e.g. ``mrspipe demo``)::

    PYTHONPATH=$PWD MPLBACKEND=Agg python -m bench.report_figures OUT [--repeat 3]
        [--metabolites Glx Glu ...]

reads ``OUT/group/{timecourses,responses,stats}.tsv``, builds a per-session QC table from the
time courses (constant made-up SNR and linewidth: only the drawing is timed), then draws every
group figure :func:`mrspipe.report.study.make_figures` draws, ``--repeat`` times. It prints the
process CPU time per repeat (the first includes matplotlib's import and font cache) and an
MD5 of each PNG, so a change meant to leave the figures alone can be checked byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from mrspipe.report.answer import find_answer
    from mrspipe.report.study import Tables, make_figures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--metabolites", nargs="+", help="metabolites drawn (default: chosen from the data)"
    )
    args = parser.parse_args(argv)
    read = {
        n: pd.read_csv(args.out / "group" / f"{n}.tsv", sep="\t")
        for n in ("timecourses", "responses", "stats")
    }
    tc = read["timecourses"]
    qc = tc.groupby(["participant_id", "session_id"], as_index=False).first()
    qc = qc[["participant_id", "session_id", "condition", "sex"]].assign(
        n_transients=64,
        n_rejected=2,
        snr_median=20.0,
        fwhm_hz_median=6.0,
        shift_hz_range=1.5,
        status="ok",
        message="",
    )
    for i in range(args.repeat):
        start = time.process_time()
        tables = Tables.build(
            timecourses=tc,
            responses=read["responses"],
            stats=read["stats"],
            sessions_qc=qc,
            design={"metabolites": args.metabolites} if args.metabolites else {},
        )
        answer = find_answer(tables.stats, conditions=tables.conditions, design=tables.design)
        figures = make_figures(tables, answer=answer, dpi=110)
        print(f"repeat {i}: {len(figures)} figures, {time.process_time() - start:.2f} s CPU")
    for name, png, _ in figures:
        print(f"{hashlib.md5(png).hexdigest()}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
