"""study.toml parsing and validation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mrspipe.config import REGISTRY, config_from_dict, defaults, load_config
from mrspipe.errors import ConfigError


def test_defaults_fill_every_registered_key() -> None:
    cfg = defaults()
    for section, options in REGISTRY.items():
        assert set(getattr(cfg, section)) == set(options)
    assert cfg.preprocess["block"] == 16 and cfg.fit["ppm_range"] == (0.2, 4.2)
    assert cfg.windows["baseline"] is None  # = every frame before the onset
    json.dumps(cfg.as_dict())  # provenance is JSON-serialisable


def test_load_toml(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text(
        "[preprocess]\nblock = 16\nalign = false\n"
        "[windows]\nbaseline = [-600, 0]\nresponse = [300, 2400.5]\nevent = 'ketamine'\n"
        "[conditions]\ncontrast = ['naltrexone', 'placebo']\n"
        "[metabolites]\nanalyse = ['Glx', 'tNAA']\n"
    )
    cfg = load_config(path)
    assert cfg.preprocess["block"] == 16 and cfg.preprocess["align"] is False
    assert cfg.windows == {
        "event": "ketamine",
        "baseline": (-600.0, 0.0),
        "response": (300.0, 2400.5),
    }
    assert cfg.conditions["contrast"] == ("naltrexone", "placebo")
    assert cfg.metabolites["analyse"] == ("Glx", "tNAA")
    assert cfg.source == str(path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"fitting": {"backend": "numpy"}}, "unknown section [fitting]"),
        ({"fit": {"bakend": "numpy"}}, "unknown key 'bakend' in [fit]"),
        ({"fit": {"backend": "scipy"}}, "[fit] backend: expected one of 'numpy', 'lmfit'"),
        ({"preprocess": {"block": 0}}, "[preprocess] block: expected an integer >= 1"),
        ({"preprocess": {"block": 2.5}}, "[preprocess] block: expected an integer"),
        ({"preprocess": {"align": "yes"}}, "[preprocess] align: expected true or false"),
        ({"preprocess": {"window": -1}}, "[preprocess] window: expected an integer >= 0"),
        ({"preprocess": {"linewidth_match": "voigt"}}, "expected one of 'none', 'lorentz'"),
        ({"windows": {"baseline": [0, -600]}}, "start must be before end"),
        ({"windows": {"response": [1, 2, 3]}}, "expected two numbers"),
        ({"conditions": {"contrast": ["naltrexone"]}}, "expected two condition names"),
        ({"metabolites": {"analyse": ["Glu", "Glu"]}}, "names repeat"),
        ({"stats": {"ci_level": 1.5}}, "[stats] ci_level"),
        ({"fit": "numpy"}, "[fit] must be a table"),
    ],
)
def test_bad_values_are_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_dict(values, source="study.toml")


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text("[fit]\nbakend = 'numpy'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(str(path))
    path.write_text("[fit\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.toml")


def test_overrides_are_checked_and_none_ignored() -> None:
    cfg = defaults().with_overrides(
        {"preprocess.block": 8, "windows.baseline": None, "windows.response": (60, 600)}
    )
    assert cfg.preprocess["block"] == 8 and cfg.windows["baseline"] is None
    assert cfg.windows["response"] == (60.0, 600.0)
    assert defaults().preprocess["block"] == 16  # the original is unchanged
    with pytest.raises(ConfigError, match="command line: .windows. baseline"):
        defaults().with_overrides({"windows.baseline": (5.0, 1.0)})


DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_every_key_is_documented_with_its_default() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for section, options in REGISTRY.items():
        start = text.index(f"## `[{section}]`")
        end = text.find("\n## ", start + 1)
        part = text[start:end]
        for key, option in options.items():
            row = re.search(rf"^\| `{key}` \| `([^`]*)` \|", part, flags=re.M)
            assert row, f"[{section}] {key} is not in docs/config.md"
            documented = row.group(1)
            if option.default is None:
                assert documented == "unset"
            elif isinstance(option.default, bool | str):
                assert documented == json.dumps(option.default)
            elif isinstance(option.default, tuple):
                assert json.loads(documented) == list(option.default)
            else:
                assert float(documented) == option.default


def test_documented_examples_are_valid() -> None:
    import tomllib

    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    for block in blocks:
        config_from_dict(tomllib.loads(block))


def test_every_preprocess_key_reaches_preprocess_options() -> None:
    """Each [preprocess] key is a PreprocessOptions keyword (none silently dropped)."""
    import dataclasses

    from mrspipe.pipeline.steps import preprocess_kwargs
    from mrspipe.preprocess import PreprocessOptions

    fields = {f.name for f in dataclasses.fields(PreprocessOptions)}
    assert set(REGISTRY["preprocess"]) <= fields
    PreprocessOptions(**preprocess_kwargs(defaults().preprocess))
    cfg = config_from_dict({"preprocess": {"water_model": "per_transient"}})
    options = PreprocessOptions(**preprocess_kwargs(cfg.preprocess))
    assert options.water_model == "per_transient"
