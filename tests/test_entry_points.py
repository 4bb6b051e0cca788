"""Installed packages add models through the ``zoo.models`` entry-point group: a registry
path, or a callable returning one; a broken plug-in is a clear error naming it."""

from __future__ import annotations

import sys

import pytest

import zoo
from zoo.engine import registry

EXTRA = """
models:
  plugin_independent:
    class: zoo.models.independent:Independent
    dataset: digits
"""


def _install(site, name: str, value: str, module: str) -> None:
    """A minimal installed distribution: dist-info with an entry point, and its module."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[zoo.models]\n{name} = {value}\n")
    (site / f"{name}.py").write_text(module)


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._entry_point_files.cache_clear()
    yield tmp_path
    registry._entry_point_files.cache_clear()
    for m in [m for m in sys.modules if m.startswith("zooplug")]:
        del sys.modules[m]


def test_an_entry_point_naming_a_registry_file_adds_its_models(site):
    (site / "extra.yaml").write_text(EXTRA)
    path = str(site / "extra.yaml")
    _install(site, "zooplug_a", "zooplug_a:REGISTRY", f"REGISTRY = {path!r}\n")
    names = registry.entries()
    assert "plugin_independent" in names and "vae_digits" in names
    model = zoo.create_model("plugin_independent")
    assert model.spec.levels == 17  # built on its data set's spec


def test_an_entry_point_callable_is_called(site):
    (site / "extra.yaml").write_text(EXTRA)
    src = (
        "from pathlib import Path\n"
        f"def registry():\n    return Path({str(site)!r}) / 'extra.yaml'\n"
    )
    _install(site, "zooplug_b", "zooplug_b:registry", src)
    assert "plugin_independent" in registry.entries()


def test_a_broken_entry_point_names_itself(site):
    _install(site, "zooplug_c", "zooplug_c:registry", "def registry():\n    raise OSError('no')\n")
    with pytest.raises(zoo.ZooInputError, match="zooplug_c.*failed: no"):
        registry.entries()
