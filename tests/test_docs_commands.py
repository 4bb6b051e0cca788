"""Every command in the docs' and README's shell blocks is one that exists (issue 29: "code
blocks in the docs run in a test"). The tutorial and the README's Python example run in full
(tests/test_docs.py, tests/test_readme.py); the other pages' shell blocks name placeholders
(RUN, DIR) or long benchmarks, so each of their lines is checked instead: a `zoo ...` line
parses with the real command-line parser (its command and options exist), a `python -m M`
line names a module of this checkout, a `make T` line a target of the Makefile."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from zoo.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = re.compile(r"^```(?:bash|sh|console)\n(.*?)^```", re.S | re.M)


def shell_lines(path: Path) -> list[str]:
    """The command lines of a page's shell blocks, comments and blank lines left out."""
    lines = []
    for block in SHELL.findall(path.read_text()):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


COMMANDS = [(p.name, line) for p in PAGES for line in shell_lines(p)]


def check(line: str, targets: set[str]) -> None:
    words = shlex.split(line)
    if words[0] == "torchrun" and "zoo.cli" in words:
        words = ["zoo", *words[words.index("zoo.cli") + 1 :]]
    if words[0] == "zoo":
        try:
            build_parser().parse_args(words[1:])
        except SystemExit as e:
            raise AssertionError(f"`{line}` does not parse: exit {e.code}") from None
    elif words[:2] == ["python", "-m"]:
        assert importlib.util.find_spec(words[2]) is not None, f"`{line}`: no module {words[2]}"
    elif words[0] == "make":
        assert set(words[1:]) <= targets, f"`{line}`: not a Makefile target"


@pytest.mark.parametrize(("page", "line"), COMMANDS)
def test_every_documented_command_exists(page, line, capsys):
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    check(line, targets)


def test_the_check_catches_a_renamed_option():
    with pytest.raises(AssertionError, match="does not parse"):
        check("zoo train vae_digits --max-stepz 3", set())
    with pytest.raises(AssertionError, match="no module"):
        check("python -m benchmarks.no_such_benchmark", set())
    with pytest.raises(AssertionError, match="Makefile"):
        check("make no-such-target", {"test"})
    assert len(COMMANDS) >= 20  # the README's and the pages' blocks were found
