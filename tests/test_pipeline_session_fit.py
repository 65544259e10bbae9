"""The fit stage reads a session's water reference once (preprocessing and water scaling)."""

from __future__ import annotations

from pathlib import Path

from mrspipe.pipeline.session_fit import _ReadOnce


def test_the_water_reference_is_read_once_and_the_data_every_time():
    reads: list[str] = []

    def load(path):
        reads.append(str(path))
        return object()  # a new object per reading

    once = _ReadOnce(load, Path("ref.nii.gz"))
    water = once(Path("ref.nii.gz"))
    assert once("ref.nii.gz") is water  # str or Path: the same file
    first, second = once(Path("svs.nii.gz")), once(Path("svs.nii.gz"))
    assert first is not second  # the data are overwritten by preprocessing: never shared
    assert reads == ["ref.nii.gz", "svs.nii.gz", "svs.nii.gz"]
