"""Random back-off models as ARPA tables (a hypothesis strategy) and their writer, shared by
the n-gram scoring tests (hashed tables, the compiled path)."""

from __future__ import annotations

from hypothesis import strategies as st

from zoo import DataSpec

WORDS = ("</s>", "<unk>", "a", "b", "c", "d")


def spec_of(V: int) -> DataSpec:
    return DataSpec("text", (4,), levels=V, vocab=WORDS[:V], eos=0, unk=1, name="tiny")


@st.composite
def arpa_models(draw, max_vocab: int = 5, max_order: int = 4):
    """A random back-off model: every unigram, then at each order a random subset of the
    n-grams whose prefix is stored (suffixes are often missing: not suffix-closed; ``<s>`` may
    sit anywhere, even last). Returns ``(V, tables)``, tables[n-1]: n-gram -> (log10 p, bo)."""
    V, order = draw(st.integers(2, max_vocab)), draw(st.integers(1, max_order))
    symbols = [*WORDS[:V], "<s>"]
    lp, bo = st.floats(-4.0, -0.01), st.floats(-2.0, 1.0)
    tables = [{(w,): (draw(lp), draw(bo)) for w in symbols}]
    for _ in range(2, order + 1):
        grams = [(*g, w) for g in tables[-1] for w in symbols]
        keep = draw(st.lists(st.booleans(), min_size=len(grams), max_size=len(grams)))
        tables.append({g: (draw(lp), draw(bo)) for g, k in zip(grams, keep) if k})
    return V, tables


def write(path, tables) -> None:
    """The tables as an ARPA file at ``path``."""
    order = len(tables)
    lines = ["\\data\\", *[f"ngram {n}={len(t)}" for n, t in enumerate(tables, 1)]]
    for n, t in enumerate(tables, 1):
        lines += ["", f"\\{n}-grams:"]
        for g, (p, b) in t.items():
            lines.append(f"{p!r}\t{' '.join(g)}" + (f"\t{b!r}" if n < order else ""))
    path.write_text("\n".join([*lines, "", "\\end\\", ""]))
