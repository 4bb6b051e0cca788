"""Image and text data: deterministic splits, levels, the <unk> rule, clear errors."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.data import DatasetNotFound, load_dataset
from zoo.data.base import has_data as shared_data_available
from zoo.data.images import load_binarized_mnist, load_mnist
from zoo.data.text import build_vocab, encode, load_textfile, make_text_dataset, read_lines


def test_digits_is_embedded_with_17_levels_and_disjoint_splits():
    ds = load_dataset("digits")
    assert ds.spec.shape == (1, 8, 8) and ds.spec.levels == 17
    sizes = {k: len(v) for k, v in ds.splits.items()}
    assert sum(sizes.values()) == 1797
    for split in ds.splits.values():
        ds.spec.validate(split.x)
        assert int(split.labels["class"].max()) <= 9
    # deterministic: the same split every time
    again = zoo.data.images.load_digits()
    assert torch.equal(again["test"].x, ds["test"].x)


@pytest.mark.skipif(not shared_data_available("mnist/raw"), reason="shared MNIST not present")
def test_mnist_is_the_official_set_split_50k_10k_10k_and_binarised_with_a_fixed_seed():
    m = load_mnist()
    assert [len(m[s]) for s in ("train", "valid", "test")] == [50_000, 10_000, 10_000]
    assert "60k/10k" in m.source and "last of train" in m.source
    b1, b2 = load_binarized_mnist(), load_binarized_mnist()
    assert b1.spec.levels == 2 and torch.equal(b1["test"].x, b2["test"].x)
    assert "seed 0" in b1.source and "Larochelle's fixed binarisation is not used" in b1.source
    # binarisation samples Bernoulli(intensity): mean bit ~ mean intensity / 255
    frac = float(b1["test"].x.float().mean())
    assert frac == pytest.approx(float(m["test"].x.float().mean()) / 255, abs=0.005)


@pytest.mark.skipif(not shared_data_available("mnist/raw"), reason="shared MNIST not present")
def test_dynamic_binarisation_redraws_training_bits_per_seed_and_keeps_the_test_bits():
    fixed, dyn = load_binarized_mnist(), load_binarized_mnist(dynamic=True)
    assert torch.equal(fixed["test"].x, dyn["test"].x) and fixed["train"].resample is None
    idx = torch.arange(64)
    a, b = dyn["train"].resample(idx, 1), dyn["train"].resample(idx, 2)
    assert torch.equal(a, dyn["train"].resample(idx, 1))  # a pure function of (idx, seed)
    assert not torch.equal(a, b) and set(a.unique().tolist()) <= {0, 1}
    assert "dynamic" in dyn.source


def test_mnist_without_the_training_files_says_which_are_missing(tmp_path):
    raw = tmp_path / "mnist" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"")
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(DatasetNotFound, match="train-images-idx3-ubyte.*missing"):
        load_mnist(root=str(tmp_path))


def test_missing_data_set_says_where_it_looked(tmp_path):
    with pytest.raises(DatasetNotFound, match=f"{tmp_path}.*mnist"):
        load_mnist(root=str(tmp_path))
    with pytest.raises(DatasetNotFound, match="ptb.train.txt"):
        zoo.data.text.load_ptb_word(root=str(tmp_path))


def test_text_streams_end_sentences_with_eos_and_chunks_are_consecutive():
    splits = {"train": [["a", "b"], ["b"]], "valid": [["a"]], "test": [["c", "a"]]}
    ds = make_text_dataset("toy", splits, seq_len=2)
    vocab = ds.spec.vocab
    assert vocab[:2] == ("</s>", "<unk>") and set(vocab[2:]) == {"a", "b"}
    stream = ds.meta["streams"]["train"].tolist()
    assert [vocab[i] for i in stream] == ["a", "b", "</s>", "b", "</s>"]
    assert ds["train"].x.flatten().tolist() == stream[:4]  # consecutive chunks
    assert ds.meta["tail_dropped"]["train"] == 1
    # 'c' never occurs in training: mapped to <unk> and counted
    assert [vocab[i] for i in ds.meta["streams"]["test"].tolist()] == ["<unk>", "a", "</s>"]
    assert ds.meta["oov"]["test"] == 1


def test_unseen_token_without_unk_policy_is_an_error():
    vocab = build_vocab([["a"]])
    with pytest.raises(ValueError, match="'z' on line 1 is not in the training vocabulary"):
        encode([["z"]], vocab, unk="error", where="f")


def test_non_utf8_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nalso fine\n\xff\xfe broken\n")
    with pytest.raises(ValueError, match=r"bad.txt: not valid UTF-8 at line 3"):
        read_lines(path)


def test_empty_training_text_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    with pytest.raises(ValueError, match="empty"):
        load_textfile(str(path))


def test_pydoc_text_is_embedded():
    ds = load_dataset("pydoc_char")
    assert ds.spec.modality == "text" and ds.spec.eos == 0 and len(ds["train"]) > 1000
    assert "CPython" in ds.source


@pytest.mark.skipif(not shared_data_available("ptb/ptb.train.txt"), reason="PTB not present")
def test_ptb_word_has_the_10k_vocabulary_with_its_own_unk():
    ds = load_dataset("ptb_word")
    assert ds.spec.levels == 10000  # 9,999 words incl. <unk> + </s>
    assert ds.meta["oov"]["test"] == 0
    # 82,430 test tokens = words + one </s> per sentence (as KenLM counts them)
    assert len(ds.meta["streams"]["test"]) == 82430


def test_ptb_chars_spells_a_word_line_as_the_character_files_do():
    from zoo.data.text import ptb_chars

    assert ptb_chars(" the <unk> fell \n") == list("the") + ["_"] + list("<unk>") + ["_"] + list(
        "fell"
    )
    assert ptb_chars("   ") == []


@pytest.mark.skipif(not shared_data_available("ptb/ptb.char.valid.txt"), reason="PTB not present")
def test_ptb_char_trains_on_the_whole_ptb_train_file_rendered_as_its_char_files_are():
    from zoo.data import data_root
    from zoo.data.text import ptb_chars, tokenize

    folder = data_root() / "ptb"
    # the rendering reproduces the distributed character file line for line
    words = read_lines(folder / "ptb.valid.txt")
    chars = tokenize(read_lines(folder / "ptb.char.valid.txt"), "char", spaced=True)
    assert [ptb_chars(line) for line in words] == chars
    ds = load_dataset("ptb_char")
    streams = ds.meta["streams"]
    # Mikolov's split: ~5M training characters; test = 438,662 characters + 3,761 </s>
    assert len(streams["train"]) == 4_975_414 + len(read_lines(folder / "ptb.train.txt"))
    assert len(streams["test"]) == 442_423 and ds.meta["oov"]["test"] == 0
