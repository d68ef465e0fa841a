"""Every capability package states its public surface in ``__all__``, and every name in it resolves; the
offline certificate verifier imports no database code."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import hutong

PACKAGES = sorted(m.name for m in pkgutil.iter_modules(hutong.__path__, "hutong.") if m.ispkg)


def test_the_capability_packages_are_all_checked():
    expected = {
        "api",
        "claims",
        "cli",
        "compliance",
        "distribute",
        "fingerprint",
        "index",
        "match",
        "media",
        "platform",
        "rights",
        "store",
    }
    assert expected <= {name.split(".")[1] for name in PACKAGES}


@pytest.mark.parametrize("name", PACKAGES)
def test_package_exports_resolve(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    for attr in exported:
        assert not attr.startswith("_"), f"{name} exports private {attr}"
        assert getattr(module, attr, None) is not None, f"{name}.{attr} does not resolve"


def test_offline_verifier_imports_no_database_or_recognition_code():
    code = "import sys, hutong.compliance.certificate; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    # the media digests need PyAV (the verifier hashes the clip's streams); nothing else heavy may come along
    heavy = [m for m in loaded if m.split(".")[0] in ("sqlalchemy", "faiss", "alembic")
             or m.startswith(("hutong.store", "hutong.match", "hutong.fingerprint", "hutong.rights"))]  # fmt: skip
    assert heavy == [], heavy
