"""study.toml parsing and validation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mrspipe.config import REGISTRY, config_from_dict, defaults, load_config
from mrspipe.dynamic.options import Windows
from mrspipe.errors import ConfigError


def test_defaults_fill_every_registered_key() -> None:
    cfg = defaults()
    assert set(cfg.as_dict()) == set(REGISTRY)
    for section, options in REGISTRY.items():
        assert set(cfg.as_dict()[section]) == set(options)
    assert cfg.preprocess.block == 16 and cfg.fit.ppm_range == (0.2, 4.2)
    assert cfg.windows.baseline == (None, 0.0)  # = every frame before the onset
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
    assert cfg.preprocess.block == 16 and cfg.preprocess.align is False
    assert cfg.windows == Windows(
        event="ketamine", baseline=(-600.0, 0.0), response=(300.0, 2400.5)
    )
    assert cfg.stats.contrast == ("naltrexone", "placebo")
    assert cfg.stats.analyse == ("Glx", "tNAA")
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
        ({"preprocess": {"window": -1}}, "[preprocess] window: expected an integer >= 1"),
        ({"preprocess": {"linewidth_match": "voigt"}}, "expected one of 'lorentz', 'gauss'"),
        ({"windows": {"baseline": [0, -600]}}, "start must be before end"),
        ({"windows": {"response": [1, 2, 3]}}, "expected two numbers"),
        ({"conditions": {"contrast": ["naltrexone"]}}, "[conditions] contrast: expected two names"),
        ({"metabolites": {"analyse": ["Glu", "Glu"]}}, "names repeat"),
        ({"stats": {"ci_level": 1.5}}, "[stats] ci_level"),
        ({"fit": "numpy"}, "[fit] must be a table"),
        ({"fit": {"lineshape": "gauss"}}, "[fit] lineshape: expected one of 'voigt', 'lorentz'"),
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
    assert cfg.preprocess.block == 8 and cfg.windows.baseline == (None, 0.0)
    assert cfg.windows.response == (60.0, 600.0)
    assert defaults().preprocess.block == 16  # the original is unchanged
    with pytest.raises(ConfigError, match="command line: .windows. baseline"):
        defaults().with_overrides({"windows.baseline": (5.0, 1.0)})


DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def _documented(value: object) -> str:
    """How docs/config.md writes a default (TOML, with unset and open ends spelled out)."""
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        inner = ", ".join(
            "-inf" if (v is None and i == 0) else "inf" if v is None else _documented(v)
            for i, v in enumerate(value)
        )
        return f"[{inner}]"
    if isinstance(value, bool | str):
        return json.dumps(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_every_key_is_documented_with_its_default() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for section, options in REGISTRY.items():
        start = text.index(f"## `[{section}]`")
        end = text.find("\n## ", start + 1)
        part = text[start:end]
        for key, option in options.items():
            row = re.search(rf"^\| `{key}` \| `([^`]*)` \|", part, flags=re.M)
            assert row, f"[{section}] {key} is not in docs/config.md"
            assert row.group(1) == _documented(option.default), (section, key)


def test_documented_examples_are_valid() -> None:
    import tomllib

    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    for block in blocks:
        config_from_dict(tomllib.loads(block))


def test_every_key_is_a_field_of_its_layers_options() -> None:
    """The registry is the options classes' fields: same defaults, nothing dropped."""
    import dataclasses

    from mrspipe.config import OWNERS

    cfg = defaults()
    for section, options in REGISTRY.items():
        for key, option in options.items():
            owner = getattr(cfg, option.owner)
            assert isinstance(owner, OWNERS[option.owner])
            fields = {f.name: f for f in dataclasses.fields(owner)}
            assert fields[option.name].default == option.default, (section, key)
            assert getattr(owner, option.name) == option.default
    cfg = config_from_dict({"preprocess": {"water_model": "per_transient", "window": 0}})
    assert cfg.preprocess.water_model == "per_transient" and cfg.preprocess.window is None
    cfg = config_from_dict({"windows": {"baseline": [float("-inf"), -60]}})
    assert cfg.windows.baseline == (None, -60.0)


def test_python_api_checks_like_the_config() -> None:
    from mrspipe.fit import FitOptions
    from mrspipe.preprocess import PreprocessOptions

    with pytest.raises(ConfigError, match="block: expected an integer >= 1"):
        PreprocessOptions(block=0)
    with pytest.raises(ConfigError, match="backend: expected one of"):
        FitOptions(backend="scipy")
    assert FitOptions(ppm_range=[0.5, 4]).ppm_range == (0.5, 4.0)
    with pytest.raises(ConfigError, match="start must be before end"):
        Windows(baseline=(0, -600))


def test_cli_help_shows_the_one_default(capsys: pytest.CaptureFixture[str]) -> None:
    from mrspipe.cli import main
    from mrspipe.preprocess import PreprocessOptions

    for command in ("run", "preproc"):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert f"(default {PreprocessOptions().block})" in text


def test_fit_defaults_are_one() -> None:
    """fit_spectra, fit_dynamic and the config share the fit defaults (FitOptions)."""
    import inspect

    from mrspipe.fit import FitOptions, fit_spectra
    from mrspipe.fit.dynamic import fit_dynamic

    default = FitOptions()
    for func in (fit_spectra, fit_dynamic):
        params = inspect.signature(func).parameters
        for name, value in default.spectra_kwargs().items():
            if name in params:
                assert params[name].default == value, (func.__name__, name)
    assert defaults().fit == default
