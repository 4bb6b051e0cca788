"""The speed rewrites give the same numbers, bit for bit, as the plain forms they replace:
the picked log-softmax (``categorical_log_prob`` with gradients on) against
``log_softmax(...).gather(...)``, the LSTM's flattened addmm + picked log-softmax against its
``[B, L, hidden]`` linear + log-softmax + gather, the discretised logistic with each
log-sigmoid computed once against the form that computed them twice, and the trainer's
cached epoch permutation against one drawn every step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core.spec import DataSpec
from zoo.models.lstm import LSTMLM
from zoo.nn.discretized import (
    MIN_LOG_SCALE,
    categorical_log_prob,
    discretized_logistic_log_prob,
    levels_to_unit,
    log1mexp,
)


def _value_and_grad(fn, leaf: torch.Tensor, weight: torch.Tensor):
    leaf = leaf.detach().clone().requires_grad_(True)
    out = fn(leaf)
    (out * weight).sum().backward()
    return out.detach(), leaf.grad


@settings(max_examples=30)
@given(
    shape=st.sampled_from([(7, 5), (3, 11, 4), (2, 6, 3, 2, 2), (1, 300)]),
    dim=st.integers(0, 4),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_picked_log_softmax_equals_log_softmax_then_gather_bit_for_bit(shape, dim, dtype, seed):
    dim = dim % len(shape)
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(shape, generator=g) * 4).to(dtype)
    rest = shape[:dim] + shape[dim + 1 :]
    x = torch.randint(0, shape[dim], rest, generator=g)
    w = torch.randn(rest, generator=g).to(dtype)

    def plain(t):
        return F.log_softmax(t, dim=dim).gather(dim, x.unsqueeze(dim)).squeeze(dim)

    v0, g0 = _value_and_grad(plain, logits, w)
    v1, g1 = _value_and_grad(lambda t: categorical_log_prob(t, x, dim=dim), logits, w)
    assert torch.equal(v0, v1)
    assert torch.equal(g0, g1)
    # consume=True: the log-softmax written over a temporary (here t * 1, not the leaf)
    v2, g2 = _value_and_grad(
        lambda t: categorical_log_prob(t * 1, x, dim=dim, consume=True), logits, w
    )
    assert torch.equal(v0, v2)
    assert torch.equal(g0, g2)


def test_picked_log_softmax_without_grad_is_the_plain_path():
    logits = torch.randn(4, 9)
    x = torch.randint(0, 9, (4,))
    with torch.no_grad():
        got = categorical_log_prob(logits, x, dim=-1)
    assert torch.equal(got, F.log_softmax(logits, -1).gather(-1, x[:, None]).squeeze(-1))


def _lstm_reference_loss(model: LSTMLM, seq: torch.Tensor) -> torch.Tensor:
    """The LSTM's training loss as computed before the rewrite ([B, L, H] linear, then
    log_softmax over the full logits, then gather), from a zero state and the start token."""
    prev = torch.full_like(seq[:, 0], model.spec.levels)
    inp = torch.cat([prev[:, None], seq[:, :-1]], dim=1)
    h, _ = model.lstm(model.drop(model.embedding(inp)), None)
    logits = F.linear(model.drop(h), model._out_weight(), model.decoder.bias)
    lp = F.log_softmax(logits, dim=-1).gather(-1, seq[..., None]).squeeze(-1)
    return -lp.sum(1).mean()


@pytest.mark.parametrize("tied", [False, True])
def test_lstm_loss_and_gradients_equal_the_plain_composition_bit_for_bit(tied):
    spec = DataSpec("text", (13,), levels=53)
    torch.manual_seed(0)
    model = LSTMLM(spec, embed=16, hidden=16, layers=2, dropout=0.3, tied=tied, carry_state=False)
    model.train()
    seq = torch.randint(0, 53, (5, 13), generator=torch.Generator().manual_seed(1))
    grads = []
    for fn in (lambda: _lstm_reference_loss(model, seq), lambda: model.loss(seq)[0]):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(7)  # the same dropout masks, drawn in the same order
        loss = fn()
        loss.backward()
        grads.append((loss.detach(), [p.grad for p in model.parameters()]))
    (l0, g0), (l1, g1) = grads
    assert torch.equal(l0, l1)
    assert [a is None for a in g0] == [b is None for b in g1]  # tied: the decoder weight
    assert all(torch.equal(a, b) for a, b in zip(g0, g1) if a is not None)


def _logistic_twice(x, mean, log_scale, levels):
    """The discretised logistic as written before: each log-sigmoid computed twice."""
    log_scale = log_scale.clamp(min=MIN_LOG_SCALE)
    inv_s = torch.exp(-log_scale)
    half = 1.0 / (levels - 1)
    centre = levels_to_unit(x, levels) - mean
    a = (centre + half) * inv_s
    b = (centre - half) * inv_s
    lowest = F.logsigmoid(a)
    highest = F.logsigmoid(-b)
    interior = F.logsigmoid(a) + F.logsigmoid(-b) + log1mexp(a - b)
    return torch.where(x == 0, lowest, torch.where(x == levels - 1, highest, interior))


@settings(max_examples=20)
@given(levels=st.sampled_from([2, 3, 16, 256]), seed=st.integers(0, 2**16))
def test_discretized_logistic_equals_the_twice_computed_form_bit_for_bit(levels, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, levels, (6, 3, 4), generator=g)
    x[0, 0, :2] = torch.tensor([0, levels - 1])  # both edge bins present
    mean = torch.randn(6, 3, 4, generator=g)
    log_scale = torch.randn(6, 3, 4, generator=g) * 3 - 2
    w = torch.randn(6, 3, 4, generator=g)
    out = []
    for fn in (_logistic_twice, discretized_logistic_log_prob):
        m = mean.clone().requires_grad_(True)
        s = log_scale.clone().requires_grad_(True)
        v = fn(x, m, s, levels)
        (v * w).sum().backward()
        out.append((v.detach(), m.grad, s.grad))
    for a, b in zip(*out):
        assert torch.equal(a, b)


@pytest.mark.parametrize("n", [100, 7, 50])
def test_cached_epoch_permutation_gives_the_per_step_batches(n):
    """The trainer draws each epoch's permutation once (cached); every batch is still the
    slice of randperm(seed * 1_000_003 + epoch) it was when drawn per step."""
    import math

    from zoo.engine.trainer import batch_indices

    for step in range(30):
        per_epoch = max(n // 16, 1)
        epoch, pos = divmod(step, per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(3 * 1_000_003 + epoch))
        if n < 16:
            perm = perm.repeat(math.ceil(16 / n))
        got = batch_indices(n, 16, step, seed=3)
        assert torch.equal(got, perm[pos * 16 : (pos + 1) * 16])
        got[:] = -1  # callers own their batch: the cache is not theirs to change
    assert torch.equal(batch_indices(n, 16, 0, seed=3), batch_indices(n, 16, 0, seed=3))
    assert int(batch_indices(n, 16, 0, seed=3).min()) >= 0
