"""WaveNet: causality, receptive field, exact normalisation, fast == naive sampling, bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core.spec import DataSpec
from zoo.models import wavenet
from zoo.models.wavenet import NOISE_BLOCK, WaveNet

AUDIO = DataSpec("audio", (64,), levels=5, sample_rate=8000, labels={"speaker": 3})


def small(spec: DataSpec = AUDIO, **kw) -> WaveNet:
    torch.manual_seed(kw.pop("seed", 0))
    kw = {"layers": 3, "stacks": 2, "residual_channels": 8, "gate_channels": 12,
          "skip_channels": 16, **kw}  # fmt: skip
    return WaveNet(spec, **kw).eval()


def input_grad(model: WaveNet, T: int, t: int) -> torch.Tensor:
    """|d params[t] / d input| per input position ``[T]`` (input p = embedding of x[p-1])."""
    e = torch.randn(1, model.residual_channels, T, dtype=torch.float64, requires_grad=True)
    out = model.double()._stack(e, None, None, 0.0)
    out[:, :, t].sum().backward()
    return e.grad.abs().sum(dim=(0, 1))


@settings(deadline=None, max_examples=25)
@given(
    layers=st.integers(1, 4),
    stacks=st.integers(1, 2),
    kernel=st.integers(2, 3),
    T=st.integers(1, 40),
    data=st.data(),
)
def test_output_at_t_never_depends_on_input_at_t_or_later(layers, stacks, kernel, T, data):
    model = small(layers=layers, stacks=stacks, kernel_size=kernel)
    t = data.draw(st.integers(0, T - 1))
    # gradient: params[t] reads embedded positions <= t, i.e. samples x[< t]: exact zeros after
    assert torch.all(input_grad(model, T, t)[t + 1 :] == 0)
    # perturbation on the discrete input: changing x[t:] leaves params[<= t] bit for bit equal
    spec = AUDIO.with_(shape=(T,))
    model = small(spec, layers=layers, stacks=stacks, kernel_size=kernel)
    g = torch.Generator().manual_seed(T)
    x = torch.randint(0, spec.levels, (2, T), generator=g)
    y = x.clone()
    y[:, t:] = torch.randint(0, spec.levels, (2, T - t), generator=g)
    with torch.no_grad():
        a, b = model.logits_given(x), model.logits_given(y)
    assert torch.equal(a[:, :, : t + 1], b[:, :, : t + 1])


@settings(deadline=None, max_examples=20)
@given(layers=st.integers(1, 4), stacks=st.integers(1, 2), kernel=st.integers(2, 3))
def test_receptive_field_equals_formula_and_is_tight(layers, stacks, kernel):
    """params[t] depends on exactly the RF samples x[t-RF .. t-1], not on x[t-RF-1]."""
    model = small(layers=layers, stacks=stacks, kernel_size=kernel)
    dilations = [2**i for i in range(layers)] * stacks
    rf = (kernel - 1) * sum(dilations) + 1
    assert model.receptive_field == rf
    T = rf + 6
    t = T - 1
    grad = input_grad(model, T, t)  # input position p carries x[p - 1]
    seen = torch.nonzero(grad).flatten()
    assert seen.min().item() == t - rf + 1 and seen.max().item() == t
    assert len(seen) == rf  # every sample inside the field matters (generic weights)


def all_sequences(levels: int, T: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(levels), repeat=T)))


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "head": "logistic_mixture", "mixtures": 3},
        {"local_channels": 2, "global_labels": ("speaker",)},
    ],
    ids=["categorical", "logistic_mixture", "local+global"],
)
def test_log_prob_sums_to_one_over_all_sequences(kw):
    spec = DataSpec("audio", (4,), levels=3, sample_rate=8000, labels={"speaker": 3})
    model = small(spec, **kw).double()
    x = all_sequences(3, 4)  # 81 sequences
    local = torch.randn(1, 2, 4, dtype=torch.float64).expand(len(x), 2, 4)
    cond = {"speaker": torch.full((len(x),), 2)}
    with torch.no_grad():
        lp = model.log_prob_given(
            x,
            local if model.local_channels else None,
            cond if model.global_labels else None,
        )
    assert lp.shape == (81,)
    assert torch.logsumexp(lp, 0).exp().item() == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("K", [2, 17])
def test_wavenet_over_text_normalises_for_any_levels(K):
    spec = DataSpec("text", (3,), levels=K)
    model = small(spec).double()
    with torch.no_grad():
        lp = model.log_prob(all_sequences(K, 3))
    assert torch.logsumexp(lp, 0).exp().item() == pytest.approx(1.0, abs=1e-10)


FAST_CASES = [
    ({"kernel_size": 2}, 2, 120),
    ({"kernel_size": 3, "layers": 4}, 3, NOISE_BLOCK + 37),  # ring (32 slots) wraps
    ({"kernel_size": 2, "head": "logistic_mixture", "mixtures": 4}, 2, 150),
    ({"kernel_size": 3, "local_channels": 3, "global_labels": ("speaker",)}, 3, NOISE_BLOCK + 9),
    ({"kernel_size": 2, "stacks": 1, "layers": 1}, 1, 40),
]


@pytest.mark.parametrize("kw,n,T", FAST_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_fast_generation_equals_naive_sample_for_sample(kw, n, T, dtype, backend, monkeypatch):
    monkeypatch.setattr(wavenet, "FAST_CPU_BACKEND", backend)
    model = small(**kw).to(dtype)
    local = torch.randn(n, 3, T, dtype=dtype) if model.local_channels else None
    cond = {"speaker": torch.arange(n) % 3} if model.global_labels else None

    def draw(fast: bool, temperature: float = 1.0) -> torch.Tensor:
        g = torch.Generator().manual_seed(7)
        return model.sample_given(
            n, T, local=local, cond=cond, generator=g, fast=fast, temperature=temperature
        )

    fast = draw(True)
    assert fast.shape == (n, T) and fast.dtype == torch.long
    assert 0 <= fast.min() and fast.max() < model.levels
    assert torch.equal(fast, draw(False))
    assert torch.equal(draw(True, 0.7), draw(False, 0.7))
    # the naive path is plain ancestral sampling: its samples are in the model's support
    assert torch.isfinite(model.log_prob_given(fast, local, cond)).all()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_moderate_config_fast_equals_naive(backend, monkeypatch):
    monkeypatch.setattr(wavenet, "FAST_CPU_BACKEND", backend)
    """2 x 6 layers, kernel 3, 32 channels: receptive field 253, 300 steps."""
    spec = DataSpec("audio", (300,), levels=256, sample_rate=16000)
    torch.manual_seed(3)
    model = WaveNet(spec, layers=6, stacks=2, kernel_size=3, residual_channels=32,
                    gate_channels=64, skip_channels=32).eval()  # fmt: skip
    a = model.sample(2, generator=torch.Generator().manual_seed(1))
    b = model.sample(2, generator=torch.Generator().manual_seed(1), fast=False)
    c = model.sample(2, generator=torch.Generator().manual_seed(1))  # reuses nothing
    assert torch.equal(a, b) and torch.equal(a, c)


def test_sample_follows_generator_seed_and_contract_shape():
    model = small(layers=2)
    a = model.sample(3, generator=torch.Generator().manual_seed(0))
    b = model.sample(3, generator=torch.Generator().manual_seed(0))
    c = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 64) and torch.equal(a, b) and not torch.equal(a, c)
    assert model.log_prob(a).shape == (3,)


def test_local_conditioning_is_differentiable_for_the_autoencoder():
    model = small(local_channels=4)
    x = torch.randint(0, 5, (2, 64))
    local = torch.randn(2, 4, 64, requires_grad=True)
    model.log_prob_given(x, local).sum().backward()
    assert local.grad is not None and local.grad.abs().sum() > 0


def test_bad_local_conditioning_and_speaker_ids_raise_clear_errors():
    model = small(local_channels=4, global_labels=("speaker",))
    x = torch.randint(0, 5, (2, 64))
    spk = {"speaker": torch.tensor([0, 2])}
    good = torch.randn(2, 4, 64)
    model.log_prob_given(x, good, spk)  # fine
    for bad in (torch.randn(2, 4, 63), torch.randn(2, 3, 64), torch.randn(1, 4, 64), None):
        with pytest.raises(ValueError, match="local conditioning"):
            model.log_prob_given(x, bad, spk)
    with pytest.raises(ValueError, match="local conditioning"):
        model.sample_given(2, 10, local=torch.randn(2, 4, 9), cond=spk)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.log_prob_given(x, good, {"speaker": torch.tensor([0, 3])})
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        bad_speaker = {"speaker": torch.tensor([5, 0])}
        model.sample_given(2, 10, local=torch.randn(2, 4, 10), cond=bad_speaker)
    with pytest.raises(ValueError, match="speaker"):
        model.log_prob_given(x, good, None)
    with pytest.raises(ValueError, match="local_channels=0"):
        small().log_prob_given(x, good)
    with pytest.raises(ValueError, match=r"must lie in \[0, 5\)"):
        model.log_prob_given(torch.full((2, 64), 5), good, spk)


@pytest.mark.parametrize(
    "kw",
    [
        {"gate_channels": 7},
        {"kernel_size": 1},
        {"layers": 0},
        {"head": "gaussian"},
        {"global_labels": ("digit",)},
        {"dropout": 1.0},
    ],
)
def test_bad_hyperparameters_raise_value_error(kw):
    with pytest.raises(ValueError, match="WaveNet"):
        small(**kw)


def test_image_spec_is_refused():
    with pytest.raises(ValueError, match="audio, text"):
        WaveNet(DataSpec("image", (1, 2, 2), levels=2))
