"""The report's text samples (issue 27 item 7): per text data set, the n-grams' samples beside
the neural models' (Transformer, LSTM, WaveNet over characters) in readable blocks."""

from __future__ import annotations

import shutil

import pytest

from zoo.leaderboard import Leaderboard

ENTRIES = [  # (model, family, data set, bits/dim, sample text)
    ("ngram_kn5_shakespeare", "ngram", "shakespeare_char", 2.50, "ROMEO: counted <b>words"),
    ("transformer_shakespeare", "transformer", "shakespeare_char", 2.30, "JULIET: attended"),
    ("lstm_shakespeare", "lstm", "shakespeare_char", 2.40, "NURSE: " + "recurrent" * 80),
    ("wavenet_char_shakespeare", "wavenet", "shakespeare_char", 2.64, "MERCUTIO: dilated"),
    ("independent_shakespeare", "independent", "shakespeare_char", 4.80, "eothsa"),
    ("ngram_mkn3_pydoc", "ngram", "pydoc_char", 2.90, "def counted():"),
    ("lstm_pydoc", "lstm", "pydoc_char", 2.10, "def recurrent():"),
    ("pixelcnn_digits", "pixelcnn", "digits", 1.00, None),  # an image entry: no text card
]


@pytest.fixture
def report(tmp_path):
    from zoo.bench.report import write_report

    lb = Leaderboard(tmp_path / "lb.db")
    for model, family, dataset, bpd, text in ENTRIES:
        run = tmp_path / "runs" / model
        (run / "samples").mkdir(parents=True)
        if text is not None:
            (run / "samples" / "samples.txt").write_text(text + "\n")
        lb.add(
            {
                "model": model,
                "family": family,
                "estimate": "exact",
                "dataset": dataset,
                "split": "test",
                "bits_per_dim": bpd,
                "suite": "quick",
                "run_dir": str(run),
            }
        )
    return write_report("quick", tmp_path / "runs", tmp_path / "report", db=str(lb.path))


def _section(page: str) -> str:
    start = page.index('<h2 id="text-samples">')
    return page[start : page.index("<h2", start + 1)]


def test_text_samples_show_the_ngrams_beside_the_neural_models_per_data_set(report):
    page = report.read_text()
    assert '<a href="#text-samples">' in page
    section = _section(page)
    shakespeare = section[section.index('id="text-shakespeare_char"') :]
    pydoc = section[section.index('id="text-pydoc_char"') :]
    shakespeare = shakespeare[: shakespeare.find('id="text-', 10)]
    order = [shakespeare.index(f"<h3>{m}</h3>") for m in (
        "ngram_kn5_shakespeare",
        "transformer_shakespeare",
        "lstm_shakespeare",
        "wavenet_char_shakespeare",
        "independent_shakespeare",
    )]  # fmt: skip
    assert order == sorted(order)  # the n-gram first, then the neural models, then the rest
    assert shakespeare.count('<pre class="text">') == 5
    assert "ngram_mkn3_pydoc" in pydoc and "lstm_pydoc" in pydoc
    assert "ngram_mkn3_pydoc" not in shakespeare
    assert "pixelcnn_digits" not in section and 'id="text-digits"' not in section
    assert "n-gram (counting), ngram: 2.5000 bits/dim" in section
    assert "neural, transformer: 2.3000 bits/dim" in section
    assert "counted &lt;b&gt;words" in section and "<b>words" not in section  # escaped


def test_no_text_entry_no_text_section(tmp_path):
    from zoo.bench.report import write_report

    lb = Leaderboard(tmp_path / "lb.db")
    row = {"family": "independent", "estimate": "exact", "split": "test", "suite": "quick"}
    lb.add({**row, "model": "a", "dataset": "digits", "bits_per_dim": 3.0, "run_dir": "/gone"})
    page = write_report("quick", tmp_path / "runs", tmp_path / "r", db=str(lb.path)).read_text()
    assert 'id="text-samples"' not in page and "#text-samples" not in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium not installed")
def test_the_text_samples_fit_1280_px_in_chromium(report):
    from zoo.bench.report import browser_check

    measured = browser_check(report, width=1280)
    assert measured["scrollWidth"] <= 1280, "a long sample line made the page scroll sideways"
    assert all(width > 0 for _, width in measured["images"])
