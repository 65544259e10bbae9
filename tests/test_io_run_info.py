"""The code URL recorded in dataset_description.json comes from the package's declared URLs."""

from __future__ import annotations

import email.message

import pytest

from mrspipe.io import run_info


def _metadata(*urls: str, home: str | None = None) -> email.message.Message:
    meta = email.message.Message()
    meta["Name"] = "mrspipe"
    for url in urls:
        meta["Project-URL"] = url
    if home:
        meta["Home-page"] = home
    return meta


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (
            _metadata("Documentation, https://d.example/", "Source, https://s.example/m"),
            "https://s.example/m",
        ),
        (_metadata("Homepage, https://h.example/"), "https://h.example/"),
        (_metadata("Documentation, https://d.example/"), None),
        (_metadata(home="https://old.example/"), "https://old.example/"),
        (_metadata(), None),
    ],
)
def test_code_url_is_the_declared_source_or_none(
    monkeypatch: pytest.MonkeyPatch, meta: email.message.Message, expected: str | None
) -> None:
    from importlib import metadata

    monkeypatch.setattr(metadata, "metadata", lambda name: meta)
    assert run_info.code_url() == expected
    entry = run_info.generated_by("1.0", None)
    assert entry.get("CodeURL") == expected and entry["Name"] == "mrspipe"
