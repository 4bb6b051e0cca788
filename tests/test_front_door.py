"""The front door: extra registries add to the catalogue, zoo.register, CLI defects of issue 29."""

from __future__ import annotations

import json
import os

import pytest

import zoo
from zoo.cli import build_parser, main
from zoo.engine.registry import entries
from zoo.leaderboard import Leaderboard

EXTRA = """
models:
  my_independent:
    class: zoo.models.independent:Independent
    dataset: digits
"""


def _builtin_count() -> int:
    return len(entries())


def test_zoo_registry_adds_to_the_builtin_catalogue(tmp_path, monkeypatch):
    n = _builtin_count()
    extra = tmp_path / "extra.yaml"
    extra.write_text(EXTRA)
    monkeypatch.setenv("ZOO_REGISTRY", str(extra))
    names = entries()
    assert len(names) == n + 1 and "my_independent" in names and "vae_digits" in names


def test_several_extra_files_and_a_clash_is_a_clear_error(tmp_path, monkeypatch):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(EXTRA)
    b.write_text(EXTRA)
    monkeypatch.setenv("ZOO_REGISTRY", f"{a}{os.pathsep}{b}")
    with pytest.raises(zoo.ZooInputError, match="my_independent.*already in the catalogue"):
        entries()


def test_zoo_registry_only_replaces_the_catalogue(tmp_path, monkeypatch):
    only = tmp_path / "only.yaml"
    only.write_text(EXTRA)
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(only))
    assert list(entries()) == ["my_independent"]


def test_register_from_python_then_create_and_clash():
    from zoo.models.independent import Independent

    try:
        entry = zoo.register("my_indep_py", Independent, dataset="digits", suites=["mine"])
        assert entry.family == Independent.family and "my_indep_py" in zoo.list_models("my_")
        spec = zoo.DataSpec("image", (1, 2, 3), levels=2)
        assert isinstance(zoo.create_model("my_indep_py", spec), Independent)
        with pytest.raises(zoo.ZooInputError, match="already in the catalogue"):
            zoo.register("vae_digits", Independent, dataset="digits")
    finally:
        zoo.unregister("my_indep_py")
    assert "my_indep_py" not in entries()


def test_decompress_of_a_missing_file_is_one_line_exit_2(tmp_path, capsys):
    assert main(["decompress", str(tmp_path / "missing.zc"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error: no archive at") and "\n" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and zoo.__version__ in capsys.readouterr().out


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    missing = [
        f"{name} {action.dest}"
        for name, p in sub.choices.items()
        for action in p._actions
        if action.dest != "help" and not action.help
    ]
    assert not missing, missing


def test_the_built_wheel_works_from_another_directory(tmp_path):
    """Build the wheel offline, install it into a --target folder, import it from elsewhere."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         str(root), "-w", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    assert "Warning" not in build.stderr, build.stderr
    (wheel,) = (tmp_path / "w").glob("zoo-*.whl")
    target = tmp_path / "site"
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert inst.returncode == 0, inst.stderr
    code = (
        f"import zoo; assert zoo.__file__.startswith({str(target)!r}); "
        "assert 'vae_digits' in zoo.list_models(); "
        "zoo.create_model('pixelcnn_digits', zoo.DataSpec('image', (1, 2, 3), levels=2))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("ZOO_REGISTRY", None)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    # the installed console script, from an unrelated directory: `zoo list`, a quick smoke
    zoo = [sys.executable, str(target / "bin" / "zoo")]
    env["ZOO_HOME"] = str(tmp_path / "home")  # the user locations, under one folder
    for name in ("ZOO_LEADERBOARD", "ZOO_RUNS", "ZOO_REGISTRY_ONLY"):
        env.pop(name, None)
    listed = subprocess.run(
        [*zoo, "list", "--format", "names"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert "vae_digits" in json.loads(listed.stdout)
    smoke = ["bench", "quick", "--only", "independent_digits", "--max-steps", "2"]
    smoke += ["--max-eval", "16", "--samples", "0", "-q"]
    bench = subprocess.run([*zoo, *smoke], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bench.returncode == 0, bench.stderr
    [row] = Leaderboard(tmp_path / "home" / "leaderboard.db", create=False).rows()
    assert row["model"] == "independent_digits" and row["split"] == "test[:16]"
    assert row["extra"]["command"] == "zoo " + " ".join(smoke)
    assert (tmp_path / "home" / "reports" / "quick" / "index.html").exists()
    assert not list(target.glob("zoo/**/leaderboard.db"))  # nothing written into the package
