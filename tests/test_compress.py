"""Lossless compression (zoo.coding): every exact family's stepper reproduces its log_prob,
round trips are bit-exact, archives carry what decompressing needs and refuse bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import DataSpec
from zoo.cli import main
from zoo.coding import compress, container, decompress
from zoo.coding.coder import Decoder, Encoder, Recorder, coding_probs, normalised
from zoo.coding.conditionals import code_batch, code_lanes
from zoo.models.independent import Independent
from zoo.models.ngram import NGram
from zoo.models.pixelcnn import GatedPixelCNN, PixelCNN
from zoo.models.pixelcnn_pp import PixelCNNPlusPlus
from zoo.models.pixelrnn import DiagonalBiLSTM, RowLSTM
from zoo.models.wavenet import WaveNet

IMAGE_FAMILIES = {
    "pixelcnn": lambda s: PixelCNN(s, channels=6, blocks=1, head_channels=6),
    "gated": lambda s: GatedPixelCNN(s, channels=6, layers=2, head_channels=6),
    "pixelcnn_logistic": lambda s: PixelCNN(  # one logistic per value: no mixture weights
        s, channels=6, blocks=1, head_channels=6, head="logistic"
    ),
    "pixelcnn_pp": lambda s: PixelCNNPlusPlus(
        s, filters=4, resnets=1, stages=2, dropout=0.0, mixtures=2
    ),  # fmt: skip
    "rowlstm": lambda s: RowLSTM(s, channels=6, layers=1, head_channels=6),
    "diagbilstm": lambda s: DiagonalBiLSTM(s, channels=6, layers=1, head_channels=6),
    "independent": lambda s: Independent(s),
}
SEQ_FAMILIES = {
    "wavenet": lambda s: WaveNet(
        s, layers=3, stacks=1, residual_channels=4, gate_channels=8, skip_channels=4
    ),  # fmt: skip
    "wavenet_mixture": lambda s: WaveNet(
        s,
        layers=3,
        stacks=1,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        head="logistic_mixture",
        mixtures=2,
    ),  # fmt: skip
    "independent": lambda s: Independent(s),
}


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 5),
    K=st.integers(2, 300),
    scale=st.floats(1e-3, 2000.0),
    offset=st.floats(-2000.0, 2000.0),
    seed=st.integers(0, 10_000),
)
def test_coding_tables_are_one_function_of_the_scores_whatever_their_layout(
    n, K, scale, offset, seed
):
    """The coder's table is a float64 multiple of each row's softmax with a finite, normal
    row sum (what constriction accepts without overflow), whatever the scores' range, type
    and memory layout (the encoder and the decoder may hold them differently). Scores whose
    row maxima all lie in [-600, 600] give exp(score) itself; others, exp(score - row max)."""
    scores = (torch.randn(n, K, generator=torch.Generator().manual_seed(seed)) * scale).float()
    scores += offset
    p = coding_probs(scores.numpy())
    assert p.dtype == np.float64 and p.flags.c_contiguous and p.shape == (n, K)
    sums = p.sum(axis=1)
    assert np.all(np.isfinite(sums)) and np.all(sums >= np.finfo(np.float64).tiny * 1e40)
    s64, rowmax = scores.double().numpy(), scores.double().numpy().max(axis=1)
    if np.all(np.abs(rowmax) <= 600):
        np.testing.assert_array_equal(p, np.exp(s64))
    else:
        np.testing.assert_array_equal(p, np.exp(s64 - rowmax[:, None]))
    as_columns = scores.numpy().T.copy().T  # [n, K] viewed from a [K, n] array (a WaveNet's)
    for other in (scores, scores.double(), as_columns, torch.from_numpy(as_columns)):
        np.testing.assert_array_equal(coding_probs(other), p)
        buf = np.full((n, K), np.nan)  # the in-place table of a step-by-step loop
        assert coding_probs(other, out=buf) is buf
        np.testing.assert_array_equal(buf, p)
    want = torch.softmax(scores.double(), dim=1).numpy()
    np.testing.assert_allclose(normalised(p), want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("rows", [1, 2])
def test_a_row_with_nan_gives_a_table_the_coder_refuses(rows):
    """One row's maximum is found with argmax, several rows' with a reduction: both see a NaN
    (which argmax returns first) and take the shifted branch, so the table is NaN and the
    coder refuses it, rather than quantising a row the other side might read otherwise."""
    scores = np.tile(np.array([1.0, np.nan, 2.0], np.float32), (rows, 1))
    p = coding_probs(scores)
    assert np.isnan(p).all()
    with pytest.raises(ValueError, match="not normalizable"):
        Encoder()(p, np.zeros(rows, np.int64))


def test_a_wrong_table_buffer_is_refused():
    scores = np.zeros((2, 3), np.float32)
    for bad in (np.empty((2, 3), np.float32), np.empty((1, 3)), np.empty((3, 2)).T):
        with pytest.raises(ValueError, match="C-ordered float64 array of shape"):
            coding_probs(scores, out=bad)


@pytest.mark.parametrize(
    "logits", [[900.0, 899.0, 880.0], [-900.0, -901.0, -950.0], [600.0, 0.0, 100.0]]
)
def test_tables_out_of_exp_range_still_round_trip(logits):
    """Logits where an unshifted exp overflows (900) or a whole row underflows (-900) take
    the shifted table on both sides, and a row max of exactly 600 the unshifted one: every
    symbol codes and decodes, none reaches the coder's refusal or its scale overflow."""
    scores = np.tile(np.asarray(logits), (2, 1))
    enc = Encoder()
    for v in range(3):
        enc(coding_probs(scores), np.array([v, 2 - v]))
    dec = Decoder(enc.finish())
    for v in range(3):
        np.testing.assert_array_equal(dec(coding_probs(scores), None), [v, 2 - v])


def jittered(model, seed: int, scale: float = 0.5):
    """Random weights far from uniform distributions (the hard case for exactness)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model.eval()


def check_exact_round_trip(model, x: torch.Tensor, cond=None) -> None:
    n = x.shape[0]
    rec = Recorder()
    code_batch(model, n, rec, x=x, cond=cond)
    summed = sum(lp.reshape(n, -1).sum(1) for lp in rec.log_probs)
    want = model.log_prob(x, cond=cond).detach().double().numpy()
    np.testing.assert_allclose(summed, want, rtol=1e-5, atol=1e-4)
    enc = Encoder()
    code_batch(model, n, enc, x=x, cond=cond)
    payload = enc.finish()
    assert len(payload) * 8 <= enc.model_bits + 64  # range coding: within two words
    back = code_batch(model, n, Decoder(payload), cond=cond)
    assert torch.equal(back, x.long())
    # a chooser that is not a Decoder takes the steppers' generic path (the WaveNet's decode
    # has its own, with int32 values and a reused table): both must read the same tables
    plain = Decoder(payload)
    back = code_batch(model, n, lambda probs, known: plain(probs, known), cond=cond)
    assert torch.equal(back, x.long())


@settings(max_examples=12)
@given(
    family=st.sampled_from(sorted(IMAGE_FAMILIES)),
    C=st.sampled_from([1, 3]),
    H=st.integers(1, 3),
    W=st.integers(1, 3),
    K=st.sampled_from([2, 3, 7]),
    n=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_image_steppers_match_log_prob_and_round_trip_bit_exactly(family, C, H, W, K, n, seed):
    spec = DataSpec("image", (C, H, W), levels=K)
    model = jittered(IMAGE_FAMILIES[family](spec), seed)
    torch.manual_seed(seed + 1)
    check_exact_round_trip(model, model.sample(n))


@settings(max_examples=8)
@given(
    family=st.sampled_from(sorted(SEQ_FAMILIES)),
    T=st.integers(1, 12),
    K=st.sampled_from([2, 5, 16]),
    n=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_sequence_steppers_match_log_prob_and_round_trip_bit_exactly(family, T, K, n, seed):
    spec = DataSpec("audio", (T,), levels=K, sample_rate=8000)
    model = jittered(SEQ_FAMILIES[family](spec), seed)
    torch.manual_seed(seed + 1)
    check_exact_round_trip(model, model.sample(n))


@settings(max_examples=8)
@given(
    smoothing=st.sampled_from(["mkn", "kn", "addk"]),
    order=st.integers(1, 4),
    K=st.integers(2, 6),
    seed=st.integers(0, 10_000),
)
def test_ngram_steppers_match_log_prob_for_every_smoothing(smoothing, order, K, seed):
    g = torch.Generator().manual_seed(seed)
    spec = DataSpec("image", (1, 2, 3), levels=K)
    train = torch.randint(0, K, (40, 1, 2, 3), generator=g)
    model = NGram(spec, order=order, smoothing=smoothing).fit([train])
    check_exact_round_trip(model, torch.randint(0, K, (3, 1, 2, 3), generator=g))


@settings(max_examples=6)
@given(seed=st.integers(0, 10_000), lanes=st.integers(1, 4), order=st.integers(2, 4))
def test_ngram_lanes_of_a_text_stream_cost_exactly_its_stream_log_prob(seed, lanes, order):
    rng = np.random.default_rng(seed)
    V = 5
    spec = DataSpec("text", (8,), levels=V, vocab=tuple("</s> <unk> a b c".split()), eos=0, unk=1)
    stream = rng.integers(0, V, 60)
    stream[-1] = 0
    model = NGram(spec, order=order).fit_stream(rng.integers(0, V, 300))
    from zoo.coding.api import _lanes

    lengths = _lanes(stream, 0, lanes)
    bounds = np.cumsum([0, *lengths])
    parts = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
    rec = Recorder()
    code_lanes(model, lengths, rec, parts)
    total, _ = model.stream_log_prob(stream)
    assert sum(float(v.sum()) for v in rec.log_probs) == pytest.approx(total, abs=1e-6)
    enc = Encoder()
    code_lanes(model, lengths, enc, parts)
    back = code_lanes(model, lengths, Decoder(enc.finish()))
    assert np.array_equal(np.concatenate(back), stream)


def test_class_conditional_model_round_trips_with_its_labels():
    spec = DataSpec("image", (1, 2, 2), levels=3, labels={"class": 4})
    model = jittered(PixelCNN(spec, channels=4, blocks=1, head_channels=4, conditional=True), 0)
    cond = {"class": torch.tensor([0, 3, 1])}
    check_exact_round_trip(model, model.sample(3, cond=cond), cond=cond)


# ---------------------------------------------------------------------- runs and archives
def make_run(path: Path, entry: str, model, dataset: str) -> Path:
    """A run folder as `zoo train` leaves it, for a model built in the test."""
    path.mkdir(parents=True)
    config = {"entry": entry, "family": model.family, "dataset": dataset, "data_options": {},
              "hparams": model.hparams, "spec": model.spec.to_dict(), "train": {}}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    (path / "checkpoints").mkdir()
    torch.save({"model": model.state_dict(), "step": 0}, path / "checkpoints" / "last.pt")
    return path


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    from zoo.data import load_dataset

    ds = load_dataset("pydoc_char")
    model = NGram(ds.spec, order=3).fit_stream(ds.meta["streams"]["train"])
    model.hparams = {"order": 3, "smoothing": "mkn"}
    return make_run(tmp_path_factory.mktemp("runs") / "ng", "ngram_mkn3_pydoc", model, "pydoc_char")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    spec = DataSpec("image", (1, 8, 8), levels=17, labels={"class": 10}, name="digits")
    model = jittered(PixelCNN(spec, channels=4, blocks=1, head_channels=4), 0)
    model.hparams = {"channels": 4, "blocks": 1, "head_channels": 4}
    return make_run(tmp_path_factory.mktemp("runs") / "pc", "pixelcnn_digits", model, "digits")


def test_split_archive_is_within_a_tenth_of_a_percent_of_the_model_bits(text_run, tmp_path):
    r = compress(text_run, [], tmp_path / "a.zc", split="test")
    assert 8 * r["payload_bytes"] <= r["model_bits"] * 1.001 + 64
    out = tmp_path / "test.npz"
    decompress(tmp_path / "a.zc", out)
    from zoo.data import load_dataset

    want = load_dataset("pydoc_char").meta["streams"]["test"].numpy()
    assert np.array_equal(np.load(out)["stream"], want)


def test_text_file_round_trips_byte_for_byte(text_run, tmp_path):
    src = tmp_path / "doc.txt"
    src.write_text("The list is mutable.\n\nA tuple is not.\n")
    code = main(["compress", str(text_run), str(src), "-o", str(tmp_path / "doc.zc")])
    assert code == 0
    assert main(["decompress", str(tmp_path / "doc.zc"), "-o", str(tmp_path / "back.txt")]) == 0
    assert (tmp_path / "back.txt").read_bytes() == src.read_bytes()


def _text_bits(model, path) -> float:
    """-log2 p of a text file's token stream (escapes as <unk>) under an n-gram."""
    from zoo.coding.inputs import read_text

    stream, _, _ = read_text(path, model.spec, "char", False)
    return -model.stream_log_prob(stream)[0] / np.log(2)


def test_characters_outside_the_vocabulary_are_escaped_counted_and_round_trip(
    text_run, tmp_path, capsys
):
    from zoo.engine.checkpoint import load_model

    src = tmp_path / "doc.txt"
    src.write_text("fine \u263a\n\u263a \u2665 \u263a\n", encoding="utf-8")
    code = main(["compress", str(text_run), str(src), "-o", str(tmp_path / "doc.zc")])
    out = capsys.readouterr().out
    assert code == 0 and "4 tokens outside the vocabulary (2 distinct) coded as escapes" in out
    r = compress(text_run, [str(src)], tmp_path / "doc2.zc")
    e = r["escapes"]
    assert (e["count"], e["distinct"]) == (4, 2)
    # the texts' cost, exactly. 1: U+263A, new without a choice: its 3 UTF-8 bytes (E2 98 BA)
    # and the end mark, each count 1 of 257, 258, ... 2: a repeat, count 1 against new's 1.
    # 3: U+2665 new (1 of 3): E2 (count 2 now) 99 A5, end (count 2). 4: U+263A, 2 of 5.
    want = (np.log2(257 * 258 * 259 * 260) + 1 + np.log2(3)
            + np.log2(261 / 2 * 262 * 263 * 264 / 2) + np.log2(5 / 2))  # fmt: skip
    assert e["text_bits"] == pytest.approx(want, abs=1e-9)
    # size accounting: the model's bits of the stream with <unk> at each escape, plus the texts
    model = load_model(text_run)
    assert r["model_bits"] == pytest.approx(_text_bits(model, src) + e["text_bits"], rel=1e-9)
    assert 0 < e["unk_bits"] < r["model_bits"]
    assert 8 * r["payload_bytes"] <= r["model_bits"] + 64
    header, _ = container.read(tmp_path / "doc2.zc")
    assert header["counts"]["escapes"] == 4
    assert main(["decompress", str(tmp_path / "doc.zc"), "-o", str(tmp_path / "back.txt")]) == 0
    assert (tmp_path / "back.txt").read_bytes() == src.read_bytes()


@settings(max_examples=10, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(["a", "b", " ", "\n", "\u263a", "\u2665", "\U0001f600", "</s>"]),
        max_size=30,
    ).map("".join)
)
def test_any_text_with_escapes_round_trips_byte_for_byte(text_run, tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("esc")
    (tmp / "t.txt").write_bytes(text.encode("utf-8"))
    r = compress(text_run, [str(tmp / "t.txt")], tmp / "t.zc")
    assert r["escapes"]["count"] == sum(text.count(c) for c in "\u263a\u2665\U0001f600")
    decompress(tmp / "t.zc", tmp / "back.txt")
    assert (tmp / "back.txt").read_bytes() == text.encode("utf-8")


def test_without_unk_an_outside_character_is_refused_with_its_place(tmp_path, capsys):
    spec = DataSpec("text", (8,), levels=4, vocab=("</s>", "a", "b", " "), eos=0, name="tiny")
    model = NGram(spec, order=2).fit_stream(np.random.default_rng(0).integers(0, 4, 200))
    model.hparams = {"order": 2, "smoothing": "mkn"}
    run = make_run(tmp_path / "ng", "ngram_mkn3_pydoc", model, "pydoc_char")
    src = tmp_path / "doc.txt"
    src.write_text("ab\nab \u263a b\n", encoding="utf-8")
    code = main(["compress", str(run), str(src), "-o", str(tmp_path / "x.zc")])
    err = capsys.readouterr().err
    assert code == 2 and "U+263A" in err and "line 2, column 4" in err and "no <unk>" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.zc").exists()


def test_png_and_npy_images_round_trip(image_run, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    a = rng.integers(0, 17, (8, 8)).astype(np.uint8)
    Image.fromarray(a, mode="L").save(tmp_path / "one.png")
    arr = rng.integers(0, 17, (3, 1, 8, 8)).astype(np.int16)
    np.save(tmp_path / "many.npy", arr)
    compress(image_run, [str(tmp_path / "one.png"), str(tmp_path / "many.npy")], tmp_path / "i.zc")
    r = decompress(tmp_path / "i.zc", tmp_path / "out")
    assert sorted(Path(p).name for p in r["written"]) == ["many.npy", "one.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "one.png")), a)
    back = np.load(tmp_path / "out" / "many.npy")
    assert back.dtype == arr.dtype and np.array_equal(back, arr)


def test_wav_is_quantised_once_then_round_trips_losslessly(tmp_path):
    import soundfile as sf

    spec = DataSpec("audio", (16,), levels=16, sample_rate=8000, name="tiny")
    model = jittered(SEQ_FAMILIES["wavenet"](spec), 1)
    model.hparams = dict(layers=3, stacks=1, residual_channels=4, gate_channels=8,
                         skip_channels=4)  # fmt: skip
    run = make_run(tmp_path / "wn", "wavenet_fsdd", model, "fsdd")
    t = np.arange(1600) / 16000
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 16000)
    compress(run, [str(tmp_path / "tone.wav")], tmp_path / "a.zc")
    decompress(tmp_path / "a.zc", tmp_path / "back.wav")
    wave, rate = sf.read(tmp_path / "back.wav")
    assert rate == 8000 and len(wave) == 800
    # compressing the decoded file again gives the same levels: only the first step was lossy
    compress(run, [str(tmp_path / "back.wav")], tmp_path / "b.zc")
    decompress(tmp_path / "b.zc", tmp_path / "back2.wav")
    assert (tmp_path / "back2.wav").read_bytes() == (tmp_path / "back.wav").read_bytes()


@pytest.mark.parametrize(
    "damage", ["not_archive", "truncated", "wrong_model", "format_1", "format_2", "newer_format"]
)
def test_bad_archives_are_refused_with_one_line_and_nothing_written(
    damage, image_run, tmp_path, capsys
):
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.uint8))
    archive = tmp_path / "x.zc"
    compress(image_run, [str(tmp_path / "x.npy")], archive)
    argv = ["decompress", str(archive), "-o", str(tmp_path / "out.npy")]
    if damage == "not_archive":
        archive.write_bytes(b"hello world")
    elif damage == "truncated":
        archive.write_bytes(archive.read_bytes()[:-3])
    elif damage in ("format_1", "format_2", "newer_format"):  # byte 4: the format version
        versions = {"format_1": 1, "format_2": 2, "newer_format": container.FORMAT_VERSION + 1}
        data = bytearray(archive.read_bytes())
        data[4] = versions[damage]
        archive.write_bytes(bytes(data))
    else:
        spec = DataSpec("image", (1, 8, 8), levels=17, labels={"class": 10}, name="digits")
        other = jittered(PixelCNN(spec, channels=4, blocks=1, head_channels=4), 99)
        other.hparams = {"channels": 4, "blocks": 1, "head_channels": 4}
        argv += ["--run", str(make_run(tmp_path / "other", "pixelcnn_digits", other, "digits"))]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert {"not_archive": "not a zoo archive", "truncated": "truncated",
            "wrong_model": "made with model", "format_1": "at commit cfa2397",
            "format_2": "at commit 5ce7285",
            "newer_format": "upgrade zoo"}[damage] in err  # fmt: skip
    assert not (tmp_path / "out.npy").exists()


def test_header_records_the_model_checksum_and_counts(image_run, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 1, 8, 8), np.uint8))
    compress(image_run, [str(tmp_path / "x.npy")], tmp_path / "x.zc")
    header, _ = container.read(tmp_path / "x.zc")
    assert header["counts"]["symbols"] == 128 and len(header["model"]["checksum"]) == 64
    assert header["spec"]["levels"] == 17


@settings(max_examples=6)
@given(
    prior=st.sampled_from(["uniform", "vqvae_lstm_prior", "pixelcnn_prior"]),
    likelihood=st.sampled_from(["auto", "categorical", "logistic"]),
    seed=st.integers(0, 10_000),
)
def test_vqvae_file_costs_its_declared_bound_and_round_trips(prior, likelihood, seed):
    from zoo.engine.registry import resolve_nested
    from zoo.models.vqvae import VQVAE

    spec = DataSpec("image", (1, 4, 4), levels=5)
    hp = {
        "vqvae_lstm_prior": {"embed": 4, "hidden": 8},
        "pixelcnn_prior": {"channels": 4, "layers": 1, "head_channels": 4},
    }.get(prior, {})
    model = VQVAE(spec, num_codes=6, code_dim=4, hidden=8, res_channels=4, res_blocks=1,
                  downsample=1, head=likelihood,
                  **resolve_nested(VQVAE, {"prior": prior, "prior_hparams": hp}))  # fmt: skip
    model = jittered(model, seed, scale=0.1)  # (larger weights give probabilities below 1e-300)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 5, (3, 1, 4, 4), generator=g)
    check_exact_round_trip(model, x)


def test_vae_bits_back_round_trips_and_pays_the_seed_once(tmp_path):
    from zoo.models.vae import VAE

    spec = DataSpec("image", (1, 5, 5), levels=2, name="tiny")
    model = jittered(VAE(spec, encoder="mlp", hidden=[12], latent_dim=3), 0, scale=0.2)
    model.hparams = {"encoder": "mlp", "hidden": [12], "latent_dim": 3}
    run = make_run(tmp_path / "vae", "vae_bmnist", model, "binarized_mnist")
    x = torch.rand(60, 1, 5, 5, generator=torch.Generator().manual_seed(0)) < 0.3
    np.save(tmp_path / "x.npy", x.numpy().astype(np.uint8))
    r = compress(run, [str(tmp_path / "x.npy")], tmp_path / "x.zc")
    c = r["coding"]
    assert c["coder"] == "bits-back-ans" and c["batches"][0] == 1 and sum(c["batches"]) == 60
    # the file is the seed plus the net rate of every batch (ANS flushes whole words)
    assert 8 * r["payload_bytes"] <= c["seed_bits"] + c["net_bits"] + 32
    decompress(tmp_path / "x.zc", tmp_path / "back.npy")
    assert np.array_equal(np.load(tmp_path / "back.npy"), x.numpy().astype(np.uint8))


def test_benchmark_target_check_reads_each_target_from_the_results():
    from benchmarks.compression import targets

    def model(name, over, exact=True):
        return {"model": name, "payload_over_model_bits_pct": over, "round_trip_exact": exact,
                "header_bytes": 500, "bits_per_symbol": 1.0}  # fmt: skip

    base = {"xz -9e": {"bits_per_symbol": 2.0}, "zstd -19": {"bits_per_symbol": 2.1}}
    vae = {"model": "vae", "net_bits": 1010.0, "model_bits": 1000.0, "net_vs_neg_elbo_pct": 1.0,
           "initial_bits_in_file": 1024}  # fmt: skip
    record = {
        "datasets": {
            "a": {"data": "a test split", "models": [model("m", 0.05), vae], "baselines": base,
                  "best_model": "m", "best_beats_xz_and_zstd": True},
            "b": {"data": "b (SUBSET: ...)", "models": [model("m", 0.2, exact=False)],
                  "baselines": base, "best_model": "m", "best_beats_xz_and_zstd": False},
        },  # fmt: skip
        "wavenet_decode_vs_sample": {"decode_seconds": 2.0, "sample_seconds": 1.0,
                                     "decode_over_sample": 2.0, "round_trip_exact": True},
    }  # fmt: skip
    lines = targets(record)
    assert [line.split(":")[0] for line in lines] == ["met", "met", "met"] + ["NOT met"] * 3
    assert "+1.000%" in lines[1] and "SUBSET" in lines[3] and "ratio 2.00" in lines[5]


def test_coding_overhead_benchmark_decodes_exactly_and_restores_threads():
    """The per-sample overhead benchmark (three interleaved kinds of run) on a tiny budget:
    its decodes are checked against the coded audio, and torch's thread count survives."""
    from benchmarks.compression import wavenet_coding_overhead

    threads = torch.get_num_threads()
    r = wavenet_coding_overhead(steps=8, rounds=2)
    assert r["round_trip_exact"] and r["steps"] == 8 and r["rounds"] == 2
    assert r["bare_us_per_sample"] > 0 and np.isfinite(r["decode_over_sample"])
    assert np.isfinite(r["coder_call_alone_over_bare_us"])
    assert torch.get_num_threads() == threads
