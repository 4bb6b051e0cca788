"""The layering of zoo/: imports point down the page, never up, and never round in a circle.

Every module under zoo/ is parsed with ``ast`` and every import is read, those inside
functions and ``if TYPE_CHECKING:`` blocks included (an import hidden in a function is an edge
all the same). An import climbs when its target sits in a higher layer than the importing
module; docs/architecture.md ("How it fits together") draws the same order.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom first. A module belongs to the layer of the longest prefix that names it (the bare
# package name "zoo" names only zoo/__init__.py); modules of one layer may import each other
# (without a cycle), never a module of a layer above.
LAYERS: tuple[tuple[str, ...], ...] = (
    # what a model is: errors, DataSpec, the contract and its hooks, argument checks, units;
    # and the package itself (its __init__ holds __version__ and imports nothing eagerly: an
    # import of one of its lazy exports counts as one of the module that defines it)
    ("zoo.errors", "zoo.core", "zoo"),
    # building blocks of the families; data sets (-> DataSpec + integer tensors); analysis of
    # representations against alignments (plain array functions: ABX, code statistics)
    ("zoo.nn", "zoo.data", "zoo.analysis"),
    # the families, each a LikelihoodModel
    ("zoo.models",),
    # the engine: the catalogue and devices, then run folders, then training and evaluation,
    # then whole runs
    ("zoo.engine.registry", "zoo.engine.device", "zoo.engine.compiling"),
    ("zoo.engine.checkpoint",),
    ("zoo.engine.trainer", "zoo.engine.evaluator"),
    ("zoo.engine.runs", "zoo.engine"),
    # what is done with trained runs: the results store, compression, probing
    ("zoo.leaderboard", "zoo.coding", "zoo.probing"),
    # the suites: train, evaluate, record and report
    ("zoo.bench",),
    # whole experiments: several models trained, analysed and reported together
    ("zoo.experiments",),
    # the command line
    ("zoo.cli",),
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str, layers=LAYERS) -> int | None:
    """The index of the layer whose longest prefix names ``module`` (None: undeclared)."""
    best, best_len = None, -1
    for i, prefixes in enumerate(layers):
        for prefix in prefixes:
            inside = module.startswith(prefix + ".") and "." in prefix  # "zoo": only itself
            if (module == prefix or inside) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def lazy_exports(root: Path, package: str) -> dict[str, str]:
    """The package's ``_EXPORTS`` (name -> the module it is loaded from), if it has one."""
    tree = ast.parse((root / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return {}


def imports_of(path: Path, root: Path, package: str) -> list[tuple[int, str]]:
    """(line, module) for every import of ``package``'s modules in ``path``, at any depth.
    ``from a.b import c`` names the module ``a.b.c`` when that is a module, else ``a.b``;
    ``from zoo import create_model`` names the module the lazy export comes from."""
    exports = lazy_exports(root, package)
    me = module_name(path, root)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                anchor = me.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                sub_path = root.joinpath(*sub.split("."))
                is_module = (
                    sub_path.with_suffix(".py").is_file() or (sub_path / "__init__.py").is_file()
                )
                if base == package and alias.name in exports:
                    found.append((node.lineno, exports[alias.name]))
                else:
                    found.append((node.lineno, sub if is_module else base))
    found = list(dict.fromkeys(found))  # one entry per (line, module)
    return [(line, m) for line, m in found if m == package or m.startswith(package + ".")]


def import_graph(root: Path, package: str = "zoo") -> dict[str, list[tuple[str, int, str]]]:
    """module -> [(target module, line, file)] for every module under ``root/package``."""
    graph: dict[str, list[tuple[str, int, str]]] = {}
    for path in sorted((root / package).rglob("*.py")):
        me = module_name(path, root)
        rel = str(path.relative_to(root))
        graph[me] = [(target, line, rel) for line, target in imports_of(path, root, package)]
    return graph


def climbing_imports(root: Path, package: str = "zoo", layers=LAYERS) -> list[str]:
    """Every import that points up the layer order, and every module of no declared layer."""
    problems = []
    for me, edges in import_graph(root, package).items():
        mine = layer_of(me, layers)
        if mine is None:
            problems.append(f"{me} belongs to no layer: declare it in LAYERS")
            continue
        for target, line, rel in edges:
            theirs = layer_of(target, layers)
            if theirs is not None and theirs > mine:
                problems.append(
                    f"{rel}:{line}: {me} (layer {mine}) imports {target} (layer {theirs}), "
                    "which climbs the layer order"
                )
    return problems


def import_cycles(root: Path, package: str = "zoo") -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): each is a cycle
    of imports. Importing a module also runs its package's __init__; that is not counted."""
    graph = {
        m: sorted({t for t, _, _ in edges if t != m})
        for m, edges in import_graph(root, package).items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_climbs_the_layer_order():
    problems = climbing_imports(ROOT)
    assert not problems, "\n".join(problems)


def test_no_modules_import_each_other_in_a_circle():
    cycles = import_cycles(ROOT)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_declared_layers_name_existing_packages():
    modules = set(import_graph(ROOT))
    for prefixes in LAYERS:
        for prefix in prefixes:
            assert any(m == prefix or m.startswith(prefix + ".") for m in modules), prefix


def write(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture()
def fake_zoo(tmp_path: Path) -> Path:
    """A miniature zoo package: core at the bottom, models above it, the engine on top."""
    for rel in ("zoo/__init__.py", "zoo/core/__init__.py", "zoo/models/__init__.py"):
        write(tmp_path, rel)
    write(tmp_path, "zoo/engine/__init__.py")
    write(tmp_path, "zoo/core/spec.py", "X = 1\n")
    write(tmp_path, "zoo/engine/registry.py", "from zoo.models.m import M\n")
    write(tmp_path, "zoo/models/m.py", "from zoo.core.spec import X\n\nM = X\n")
    return tmp_path


FAKE_LAYERS = (("zoo.core", "zoo"), ("zoo.models",), ("zoo.engine",))


def test_a_clean_miniature_passes(fake_zoo):
    assert climbing_imports(fake_zoo, layers=FAKE_LAYERS) == []
    assert import_cycles(fake_zoo) == []


def test_an_import_hidden_in_a_function_that_climbs_is_named(fake_zoo):
    write(
        fake_zoo,
        "zoo/models/m.py",
        "from zoo.core.spec import X\n\n\ndef build():\n"
        "    from zoo.engine.registry import M  # dodges the cycle at import time\n"
        "    return M\n",
    )
    problems = climbing_imports(fake_zoo, layers=FAKE_LAYERS)
    assert problems == [
        "zoo/models/m.py:5: zoo.models.m (layer 1) imports zoo.engine.registry (layer 2), "
        "which climbs the layer order"
    ]
    assert import_cycles(fake_zoo) == [["zoo.engine.registry", "zoo.models.m"]]


def test_relative_type_checking_and_package_imports_are_read(fake_zoo):
    write(
        fake_zoo,
        "zoo/core/contract.py",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from ..models import m\n",
    )
    write(fake_zoo, "zoo/core/__init__.py", "from . import engine_alias\n")
    write(fake_zoo, "zoo/core/engine_alias.py", "import zoo.engine\n")
    problems = climbing_imports(fake_zoo, layers=FAKE_LAYERS)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "zoo/core/contract.py:4",
        "zoo/core/engine_alias.py:1",
    ]
    assert "imports zoo.models.m (layer 1)" in problems[0]
    assert "imports zoo.engine (layer 2)" in problems[1]


def test_a_lazy_export_of_the_package_counts_as_its_module(fake_zoo):
    write(
        fake_zoo, "zoo/__init__.py", '__version__ = "1"\n_EXPORTS = {"M": "zoo.engine.registry"}\n'
    )
    write(fake_zoo, "zoo/core/spec.py", "from zoo import __version__\n")
    assert climbing_imports(fake_zoo, layers=FAKE_LAYERS) == []
    write(fake_zoo, "zoo/core/spec.py", "from zoo import M, __version__\n")
    assert climbing_imports(fake_zoo, layers=FAKE_LAYERS) == [
        "zoo/core/spec.py:1: zoo.core.spec (layer 0) imports zoo.engine.registry (layer 2), "
        "which climbs the layer order"
    ]


def test_an_undeclared_package_is_reported(fake_zoo):
    write(fake_zoo, "zoo/extras/thing.py", "from zoo.core.spec import X\n")
    problems = climbing_imports(fake_zoo, layers=FAKE_LAYERS)
    assert "zoo.extras.thing belongs to no layer: declare it in LAYERS" in problems


# ---------------------------------------------------------------------- the contract's hooks
ENGINE = ("zoo/engine/trainer.py", "zoo/engine/evaluator.py", "zoo/engine/runs.py")


def model_uses(path: Path) -> tuple[set[str], list[str]]:
    """The attributes ``path`` reads on a model (``model.X``, ``self.model.X``) and its
    ``hasattr``/``getattr`` calls on one (probing for hooks the contract does not declare)."""
    names, probes = set(), []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            v = node.value
            if (isinstance(v, ast.Name) and v.id == "model") or (
                isinstance(v, ast.Attribute) and v.attr == "model"
            ):
                names.add(node.attr)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("hasattr", "getattr")
            and "model" in ast.unparse(node.args[0])
        ):
            probes.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return names, probes


def test_the_engine_calls_only_hooks_the_contract_declares():
    import torch

    from zoo.core.contract import LikelihoodModel
    from zoo.core.spec import DataSpec

    class Bare(LikelihoodModel):  # implements nothing: every hook has its default
        pass

    model = Bare(DataSpec("text", (3,), levels=4))
    used: set[str] = set()
    for rel in ENGINE:
        names, probes = model_uses(ROOT / rel)
        assert not probes, probes
        used |= names
    assert {"set_step", "set_phase", "stream_log_prob", "extra_metrics", "num_codes"} <= used
    assert not [n for n in sorted(used) if not hasattr(model, n)]
    # the defaults: no schedule, no stream, no diagnostics, no codebook, one phase
    model.set_step(7)
    model.set_phase("main")
    assert model.stream_log_prob([1, 2, 3]) is None
    assert model.extra_metrics(torch.zeros(2, 3, dtype=torch.long)) == {}
    assert model.num_codes is None and model.phases == ("main",) and not model.count_based
    assert model.default_cond(2) is None and model.cond_labels == ()


# ---------------------------------------------------------------------- the docs' drawing
def test_the_docs_draw_every_directory_of_zoo_in_the_layer_order():
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## How it fits together\n", 1)[1].split("\n## ", 1)[0]
    drawn = re.findall(r"^    (zoo/\S+)", section, re.M)
    modules = list(import_graph(ROOT))
    spans = []
    for rel in drawn:
        prefix = rel.removesuffix("/").removesuffix(".py").replace("/", ".")
        layers = [layer_of(m) for m in modules if m == prefix or m.startswith(prefix + ".")]
        assert layers, f"docs/architecture.md draws {rel}, which is no module of zoo/"
        spans.append((rel, min(layers), max(layers)))
    for (above, low, _), (below, _, high) in zip(spans, spans[1:]):
        assert low >= high, (
            f"docs/architecture.md draws {above} above {below}, but {below} is higher"
        )
    tops = {
        p.name
        for p in (ROOT / "zoo").iterdir()
        if p.name not in ("__init__.py", "__pycache__") and (p.is_dir() or p.suffix == ".py")
    }
    assert tops == {rel.split("/")[1] for rel in drawn}
