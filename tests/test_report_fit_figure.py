"""The fit figure: data, fit, baseline, residual and the main components, drawn from the fit."""

from __future__ import annotations

import dataclasses

import numpy as np
from fit_helpers import make_basis, simulate, truth_vector

from mrspipe import fit_spectra
from mrspipe.report.fit_figure import component_weights, plot_fit

NAMES = ["NAA", "NAAG", "Cr", "PCr", "Glu", "Gln", "Ins", "GPC", "Mac"]


def _fit():
    basis = make_basis(NAMES)
    conc = np.tile(truth_vector(basis), (3, 1))
    data = simulate(basis, conc, noise_sd=0.02, rng=1)
    return fit_spectra(data, basis)


def test_components_are_the_fitted_parts_of_the_model(tmp_path):
    result = _fit()
    comps = dict(component_weights(result))
    assert list(comps) == ["Glu", "Gln", "tNAA", "tCr", "MM"]
    np.testing.assert_array_equal(comps["tCr"], [0, 0, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(comps["MM"], [0, 0, 0, 0, 0, 0, 0, 0, 1])
    # a component is the model with only its metabolites: the parts add up to the model
    parts = sum(
        dataclasses.replace(result, estimates=result.estimates * w[None, :]).model_spectra(
            baseline=False
        )
        for w in np.eye(len(NAMES))
    )
    np.testing.assert_allclose(parts, result.model_spectra(baseline=False), atol=1e-9)
    path = plot_fit(result, tmp_path / "fit.png", title="sub-$01$ fit", dpi=40)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_components_absent_from_the_basis_are_left_out():
    basis = make_basis(["NAA", "Cr", "Glu"])
    data = simulate(basis, np.array([[10.0, 8.0, 9.0]]), noise_sd=0.02, rng=2)
    result = fit_spectra(data, basis)
    labels = [label for label, _ in component_weights(result)]
    assert labels[0] == "Glu" and "Gln" not in labels
    # MM only when the fit has macromolecule spectra (the fitter may add default ones)
    has_mm = any(n.lower().startswith(("mm", "mac", "lip")) for n in result.names)
    assert ("MM" in labels) == has_mm


def test_component_spectra_equal_the_weighted_models_for_any_frames():
    result = _fit()
    comps = component_weights(result)
    weights = np.array([np.ones(len(result.names))] + [w for _, w in comps])
    every = result.component_spectra(weights)
    assert every.shape == (len(weights), result.n_frames, len(result.ppm))
    np.testing.assert_allclose(every[0], result.model_spectra(baseline=False), atol=1e-12)
    for (_, w), spectra in zip(comps, every[1:], strict=True):
        one = dataclasses.replace(result, estimates=result.estimates * w[None, :])
        np.testing.assert_allclose(spectra, one.model_spectra(baseline=False), atol=1e-12)
    np.testing.assert_allclose(
        result.component_spectra(weights, np.array([2, 0])), every[:, [2, 0]]
    )


def test_summed_component_fids_are_the_frames_models_before_their_phase():
    result = _fit()
    comps = component_weights(result)
    weights = np.array([np.ones(len(result.names))] + [w for _, w in comps])
    rows = np.array([2, 0])
    spectra = result.component_spectra(weights, rows)  # each frame's fitted phase applied
    freq = np.fft.fftshift(np.fft.fftfreq(len(result.ppm), result._dwell_time))
    phi = (
        result.params["phase0"][rows, None] + 2 * np.pi * freq * result.params["phase1"][rows, None]
    )
    unphased = (spectra * np.exp(-1j * phi)).sum(axis=1)
    summed = np.fft.fftshift(np.fft.fft(result.summed_component_fids(weights, rows)), axes=-1)
    assert summed.shape == (len(weights), len(result.ppm))
    np.testing.assert_allclose(summed, unphased, rtol=0, atol=1e-10 * np.abs(unphased).max())


def test_fit_figure_is_an_opaque_rgb_png_at_its_dpi(tmp_path):
    from PIL import Image

    path = plot_fit(_fit(), tmp_path / "fit.png", title="fit", dpi=50)
    with Image.open(path) as image:
        assert image.mode == "RGB"  # the figure is opaque: no alpha channel to encode
        assert image.size == (400, round(50 * (5.0 + 0.6 * 5)))
        assert round(image.info["dpi"][0]) == 50


def test_fit_figure_drawn_on_its_template_equals_a_full_draw(tmp_path):
    """Only the curves, labels and title are drawn on the cached background: the pixels are
    those of drawing the whole figure again, for a second result on the same template."""
    from PIL import Image

    from mrspipe.report import fit_figure

    first, second = _fit(), _fit()
    second = dataclasses.replace(second, estimates=second.estimates * 0.5)
    plot_fit(first, tmp_path / "a.png", title="first", dpi=50)
    path = plot_fit(second, tmp_path / "b.png", title="second <b>", dpi=50)
    template = next(t for k, t in fit_figure._TEMPLATES.items() if k[2] == 50)
    template.canvas.draw()  # everything, in matplotlib's own order
    full = np.asarray(template.canvas.buffer_rgba())[..., :3]
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image), full)
    with Image.open(tmp_path / "a.png") as a, Image.open(path) as b:
        assert (np.asarray(a) != np.asarray(b)).any()  # the curves did change


def test_fit_figure_without_converged_frames_is_drawn(tmp_path):
    result = _fit()
    result = dataclasses.replace(result, converged=np.zeros(result.n_frames, bool))
    path = plot_fit(result, tmp_path / "none.png", title="none", dpi=40)
    assert path.stat().st_size > 500
