"""Properties of the vector quantiser (zoo.nn.quantizer)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.nn.quantizer import VectorQuantizer, code_perplexity


def _brute_force_sq_dist(z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    # z: [N, D], e: [K, D] -> [N, K] exact squared distances in float64
    return ((z.double()[:, None, :] - e.double()[None, :, :]) ** 2).sum(-1)


@settings(deadline=None, max_examples=40)
@given(
    k=st.integers(2, 24),
    d=st.integers(1, 8),
    n=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([1e-2, 1.0, 30.0]),
)
def test_quantizer_returns_nearest_prototype(k, d, n, seed, scale):
    g = torch.Generator().manual_seed(seed)
    vq = VectorQuantizer(k, d).eval()
    with torch.no_grad():
        vq.codebook.copy_(torch.randn(k, d, generator=g) * scale)
    z = torch.randn(n, d, 1, generator=g) * scale  # [B, D, L=1]
    codes = vq(z).codes[:, 0]
    dist = _brute_force_sq_dist(z[..., 0], vq.codebook.detach())
    chosen = dist.gather(1, codes[:, None])[:, 0]
    # float32 expansion |e|^2 - 2 z.e may differ from the exact distance by rounding only
    tol = 1e-5 * (dist.max(1).values + 1e-12)
    assert torch.all(chosen <= dist.min(1).values + tol)


@settings(deadline=None, max_examples=40)
@given(
    k=st.integers(2, 12),
    d=st.integers(1, 4),
    n=st.integers(1, 20),
    seed=st.integers(0, 2**31 - 1),
)
def test_ties_go_to_the_lowest_index(k, d, n, seed):
    # Small integers: every distance is exact in float32, so ties are real ties; duplicated
    # prototypes and inputs half-way between prototypes make many of them.
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(-2, 3, (k, d), generator=g).float()
    base[k // 2 :] = base[: k - k // 2].clone()  # duplicate the first half onto the second
    vq = VectorQuantizer(k, d).eval()
    with torch.no_grad():
        vq.codebook.copy_(base)
    z = torch.randint(-3, 4, (n, d), generator=g).float()
    codes = vq(z[:, :, None]).codes[:, 0]
    dist = _brute_force_sq_dist(z, base)
    is_min = dist == dist.min(1, keepdim=True).values
    first = is_min.float().argmax(1)  # first True
    assert torch.equal(codes, first)


def test_straight_through_gradient_equals_gradient_at_quantised_point():
    torch.manual_seed(0)
    vq = VectorQuantizer(6, 3).eval()
    z_e = torch.randn(4, 3, 5, requires_grad=True)
    w = torch.randn(4, 3, 5)

    def f(z):  # a non-linear downstream function
        return (w * z**2).sum() + torch.sin(z).sum()

    out = vq(z_e)
    f(out.z_q).backward()
    at_quantised = vq.lookup(out.codes).detach().requires_grad_(True)
    f(at_quantised).backward()
    assert torch.allclose(out.z_q, at_quantised)
    assert torch.allclose(z_e.grad, at_quantised.grad)


def test_losses_are_codebook_plus_beta_commitment_with_the_right_gradients():
    torch.manual_seed(0)
    beta = 0.25
    vq = VectorQuantizer(5, 2, beta=beta).eval()
    z_e = torch.randn(3, 2, 4, requires_grad=True)
    out = vq(z_e)
    e = vq.lookup(out.codes).detach()
    mse = ((z_e.detach() - e) ** 2).mean()
    assert torch.allclose(out.loss, (1 + beta) * mse)
    out.loss.backward()
    # commitment pulls the encoder towards its code; the codebook loss pulls codes to the data
    assert torch.allclose(z_e.grad, beta * 2 * (z_e.detach() - e) / z_e.numel(), atol=1e-7)
    expected = torch.zeros_like(vq.codebook)
    flat_z = z_e.detach().movedim(1, -1).reshape(-1, 2)
    flat_e = e.movedim(1, -1).reshape(-1, 2)
    expected.index_add_(0, out.codes.reshape(-1), 2 * (flat_e - flat_z) / z_e.numel())
    assert torch.allclose(vq.codebook.grad, expected, atol=1e-7)


def test_ema_update_moves_prototype_to_the_mean_of_its_vectors():
    torch.manual_seed(0)
    vq = VectorQuantizer(3, 2, ema=True, decay=0.0, eps=1e-9, dead_code_threshold=0.0)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]]))
        vq.ema_sum.copy_(vq.codebook)
    z = torch.tensor([[0.5, 0.2], [-0.3, 0.4], [9.0, 11.0], [12.0, 9.5], [11.0, 10.0]])
    out = vq.train()(z.t()[None])  # [1, D=2, L=5]
    assert out.codes.tolist() == [[0, 0, 1, 1, 1]]
    assert torch.allclose(vq.codebook[0], z[:2].mean(0), atol=1e-6)
    assert torch.allclose(vq.codebook[1], z[2:].mean(0), atol=1e-6)
    assert vq.codebook.requires_grad is False  # a buffer, not optimised by gradient


def test_ema_with_decay_converges_to_the_mean_of_assigned_vectors():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 3, ema=True, decay=0.9, dead_code_threshold=0.0).train()
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]))
        vq.ema_sum.copy_(vq.codebook)
    z = torch.cat([torch.randn(50, 3) * 0.1 + 2.0, torch.randn(30, 3) * 0.1 - 3.0])
    for _ in range(300):
        codes = vq(z.t()[None]).codes[0]
    assert torch.equal(codes, torch.tensor([0] * 50 + [1] * 30))
    assert torch.allclose(vq.codebook[0], z[:50].mean(0), atol=1e-3)
    assert torch.allclose(vq.codebook[1], z[50:].mean(0), atol=1e-3)
    assert torch.allclose(vq(z.t()[None]).loss, 0.25 * ((z - vq.codebook[codes]) ** 2).mean())


def test_no_updates_outside_training_or_without_grad():
    vq = VectorQuantizer(4, 2, ema=True)
    before = vq.codebook.clone()
    z = torch.randn(2, 2, 7) + 5
    vq.eval()(z)
    with torch.no_grad():
        vq.train()(z)
    assert torch.equal(vq.codebook, before)
    vq.train()(z)
    assert not torch.equal(vq.codebook, before)


def test_dead_codes_restart_from_batch_outputs_deterministically():
    def run() -> torch.Tensor:
        torch.manual_seed(123)
        vq = VectorQuantizer(8, 2, dead_code_threshold=0.5).train()
        with torch.no_grad():
            vq.codebook.zero_()
        z = torch.randn(1, 2, 16) + 100.0  # far from every code; all go to code 0
        out = vq(z)
        assert out.codes.eq(0).all()
        return vq.codebook.detach().clone(), z

    book, z = run()
    flat = z[0].t()
    # code 0 was used (kept at 0); the 7 unused ones are now copies of batch vectors
    assert torch.equal(book[0], torch.zeros(2))
    for row in book[1:]:
        assert (flat == row).all(1).any()
    book2, _ = run()
    assert torch.equal(book, book2)


def test_perplexity_counts_codebook_usage():
    assert float(code_perplexity(torch.zeros(10, dtype=torch.long), 8)) == pytest.approx(1.0)
    assert float(code_perplexity(torch.arange(8).repeat(3), 8)) == pytest.approx(8.0)
    p = torch.tensor([0.5, 0.25, 0.25])
    codes = torch.tensor([0, 0, 1, 2])
    assert float(code_perplexity(codes, 5)) == pytest.approx(math.exp(-(p * p.log()).sum()))


def test_lookup_round_trips_the_quantised_vectors():
    vq = VectorQuantizer(7, 3).eval()
    z = torch.randn(2, 3, 4, 5)
    out = vq(z)
    assert out.z_q.shape == z.shape and out.codes.shape == (2, 4, 5)
    assert out.codes.dtype == torch.int64
    assert torch.equal(vq.lookup(out.codes), out.z_q)


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="num_codes"):
        VectorQuantizer(1, 4)
    with pytest.raises(ValueError, match="code_dim"):
        VectorQuantizer(8, 0)
    with pytest.raises(ValueError, match="decay"):
        VectorQuantizer(8, 4, ema=True, decay=1.0)
    vq = VectorQuantizer(8, 4)
    with pytest.raises(ValueError, match="dimension 3 .*code_dim is 4"):
        vq(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        vq.lookup(torch.tensor([[8]]))
    with pytest.raises(ValueError, match="16 codes x 4 dims .* 8 x 4"):
        vq.load_state_dict(VectorQuantizer(16, 4).state_dict())
    with pytest.raises(ValueError, match="8 codes x 5 dims"):
        vq.load_state_dict(VectorQuantizer(8, 5).state_dict())
    with pytest.raises(ValueError, match="ema=False"):
        VectorQuantizer(8, 4, ema=True).load_state_dict(vq.state_dict())
    VectorQuantizer(8, 4).load_state_dict(vq.state_dict())  # the right size loads
