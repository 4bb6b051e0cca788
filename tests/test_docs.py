"""The docs: the tutorial's code runs as written, the README is short and its board block is
what docs/gen.py generates, and the site builds with `mkdocs build --strict`."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _gen():
    spec = importlib.util.spec_from_file_location("docs_gen", DOCS / "gen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blocks(path: Path) -> list[tuple[str, str]]:
    """(language, code) of every fenced block of a markdown file, in order."""
    return FENCE.findall(path.read_text())


def run_blocks(path: Path, where: Path) -> None:
    """Run a page's blocks in order in ``where``: a block starting ``# file: NAME`` is written
    to NAME, bash blocks run in one shell session (exports carry on), python blocks each in a
    fresh interpreter; the `zoo` command is this checkout's."""
    bin_dir = where / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "zoo"
    shim.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}:$PYTHONPATH" exec "{sys.executable}" -m zoo.cli "$@"\n'
    )
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        PYTHONPATH=f"{ROOT}{os.pathsep}{where}",
        XDG_CACHE_HOME=str(where / ".cache"),  # the default leaderboard lands here
        OMP_NUM_THREADS="1",
    )
    saved = where / ".env.sh"
    for lang, code in blocks(path):
        first = code.splitlines()[0] if code.strip() else ""
        if first.startswith("# file: "):
            (where / first.removeprefix("# file: ").strip()).write_text(code)
            continue
        if lang == "bash":
            script = (f". {saved}\n" if saved.exists() else "") + code + f"\nexport -p > {saved}\n"
            cmd = ["bash", "-euo", "pipefail", "-c", script]
        elif lang == "python":
            cmd = [sys.executable, "-c", code]
        else:
            continue
        done = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{path.name} block failed:\n{code}\n{output}"


@pytest.mark.slow
def test_the_tutorial_runs_from_a_users_file_to_a_row_and_an_archive(tmp_path):
    run_blocks(DOCS / "tutorial.md", tmp_path)
    assert (tmp_path / "runs" / "mixture" / "eval_test.json").exists()
    from zoo.leaderboard import Leaderboard

    rows = Leaderboard(tmp_path / ".cache" / "zoo" / "leaderboard.db", create=False).rows()
    assert [(r["model"], r["family"], r["estimate"]) for r in rows] == [
        ("mixture_digits", "mixture", "exact")
    ]


def test_zoo_check_fails_a_model_that_sees_the_value_it_predicts(tmp_path, monkeypatch, capsys):
    (tmp_path / "peeking.py").write_text(
        "import torch, zoo\n"
        "class Peek(zoo.LikelihoodModel):\n"
        "    family = 'peek'\n"
        "    def __init__(self, spec):\n"
        "        super().__init__(spec)\n"
        "        self.w = torch.nn.Parameter(torch.zeros(()))\n"
        "    def _log_prob(self, x, *, cond, k):  # p(x_d | x_d) = 0.9: it knows the answer\n"
        "        per_value = torch.tensor(0.9).log() + 0 * self.w\n"
        "        return (self.spec.D * per_value).expand(len(x))\n"
    )
    (tmp_path / "extra.yaml").write_text(
        "models:\n  peek_digits:\n    class: peeking:Peek\n    dataset: digits\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "extra.yaml"))
    from zoo.cli import main

    assert main(["check", "peek_digits"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "must sum to 1" in out and "checks failed" in out


def test_the_readme_is_short_and_its_board_is_generated():
    gen = _gen()
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert gen.current_block(text, "quick", tag="board") == gen.readme_block().strip("\n")
    assert gen.current_block(text, "chart", tag="board") == gen.chart_block("docs/")
    assert gen.main(["--check"]) == 0
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).exists(), f"the README links {link}, which is not there"


def test_the_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    gen = _gen()
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    gen.generate(docs=tmp_path / "docs", readme=None, config=tmp_path / "mkdocs.yml")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "tutorial" / "index.html").exists()
    assert (tmp_path / "site" / "boards-quick" / "index.html").exists()


def test_generated_pages_say_they_are_generated_and_from_what(tmp_path):
    gen = _gen()
    for page in ("boards-quick.md", "boards-standard.md", "boards-paper.md", "families.md"):
        assert (DOCS / page).read_text().startswith("<!-- generated by `python docs/gen.py`")
    for name in ("peers", "compression"):
        block = gen.current_block((DOCS / f"{name}.md").read_text(), name)
        assert block.startswith("<!-- generated by") and "benchmarks/results/" in block


def test_zoo_check_of_a_builtin_entry_passes_and_a_bad_override_is_exit_2(capsys):
    from zoo.cli import main

    assert main(["check", "independent_digits"]) == 0
    assert "all 9 checks passed" in capsys.readouterr().out
    assert main(["check", "independent_digits", "--set", "nosuch=1"]) == 2
    assert "nosuch" in capsys.readouterr().err
