"""``mrspipe run --dynamic``: the joint fit feeds the same time courses, responses and stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrspipe.config import config_from_dict
from mrspipe.io.tables import read_table
from mrspipe.pipeline import run_study

N_TRANSIENTS, N_POINTS, BLOCK = 32, 1024, 4


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from mrspipe.io.basis import save_basis
    from mrspipe.simulate import simulate_basis, simulate_study

    root = tmp_path_factory.mktemp("dyn")
    truth = simulate_study(
        root / "study", n_participants=2, n_transients=N_TRANSIENTS, n_points=N_POINTS, rng=7
    )
    d = truth["design"]
    basis = simulate_basis(
        sequence=d["sequence"],
        field_mhz=d["field_mhz"],
        te=d["te"],
        dwell_time=d["dwell_time"],
        n_points=N_POINTS,
    )
    save_basis(basis, root / "basis", format="fsl")
    return root / "study", root / "basis"


def test_run_dynamic_feeds_responses_and_stats(study: tuple[Path, Path], tmp_path: Path) -> None:
    config = config_from_dict(
        {"preprocess": {"block": BLOCK}, "fit": {"dynamic": True}, "stats": {"mixed_model": False}}
    )
    out = tmp_path / "out"
    result = run_study(study[0], out, basis=study[1], config=config)
    assert result.errors == [] and result.exit_status == 0
    tc = read_table(out / "group" / "timecourses.tsv")
    glu = tc[tc["metabolite"] == "Glu"]
    assert len(glu) == 4 * N_TRANSIENTS // BLOCK
    # the time course is the design's: constant before the onset (ramp = 0 there)
    for _, sess in glu.groupby(["participant_id", "session_id"]):
        pre = sess[sess["time_s"] < 0]["estimate"].to_numpy()
        assert pre.size >= 2 and np.ptp(pre) < 1e-6 * abs(pre.mean())
    responses = read_table(out / "group" / "responses.tsv")
    glu_resp = responses[responses["metabolite"] == "Glu"]
    assert len(glu_resp) == 4 and np.isfinite(glu_resp["percent_change"]).all()
    stats = read_table(out / "group" / "stats.tsv")
    assert ((stats["analysis"] == "paired") & (stats["metabolite"] == "Glu")).any()


def test_dynamic_tables_stand_in_for_a_frame_fit() -> None:
    from mrspipe.fit import fit_dynamic
    from mrspipe.pipeline.steps import DynamicFitTables
    from mrspipe.simulate import simulate_basis, simulate_spectra

    basis = simulate_basis(["NAA", "Cr", "Glu"], n_points=512)
    data, _ = simulate_spectra(
        basis, {"NAA": 10.0, "Cr": 8.0, "Glu": np.linspace(9, 10, 12)}, noise_sd=0.2, rng=0
    )
    tables = DynamicFitTables(fit_dynamic(data, basis, {"ramp": np.linspace(0, 1, 12)}))
    assert len(tables.table(source="s")) == 12 * len(tables.result.names + tables.result.sum_names)
    assert list(tables.qc_table(source="s")["frame"]) == list(range(12))
    assert tables.n_frames == 12 and tables.model_spectra().shape == (12, 512)
    with pytest.raises(AttributeError):
        _ = tables.no_such_attribute
