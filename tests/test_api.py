import importlib
import subprocess
import sys

import mrspipe


def test_every_public_name_resolves():
    for name in mrspipe.__all__:
        if name == "__version__":
            continue
        module = importlib.import_module(mrspipe._API[name])
        assert getattr(mrspipe, name) is (
            module if name == module.__name__.rsplit(".", 1)[-1] else getattr(module, name)
        )


def test_import_is_cheap():
    """``import mrspipe`` must not pull in matplotlib, pandas or scipy."""
    heavy = "('matplotlib', 'pandas', 'scipy')"
    code = f"import sys, mrspipe; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
