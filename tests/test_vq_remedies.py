"""Codebook-collapse remedies of the vector quantiser (issue 31): k-means initialisation,
restarts of idle codes, EMA updates, and the code-usage figures the trainer logs."""

from __future__ import annotations

import pytest
import torch

from zoo.core.spec import DataSpec
from zoo.models.vqvae import VQVAE
from zoo.nn.quantizer import VectorQuantizer


def _clusters(n_clusters: int, per: int, dim: int = 2, seed: int = 0) -> torch.Tensor:
    """``[n_clusters * per, dim]`` points around well-separated centres far from the origin."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_clusters, dim, generator=g) * 20 + 50
    return centres.repeat_interleave(per, 0) + 0.1 * torch.randn(n_clusters * per, dim, generator=g)


def _train_codes_used(vq: VectorQuantizer, z: torch.Tensor, steps: int, lr: float = 0.1) -> int:
    """Train ``vq``'s gradient codebook on the fixed vectors ``z: [N, D]``; distinct codes used."""
    params = [p for p in vq.parameters()]
    opt = torch.optim.SGD(params, lr=lr) if params else None
    vq.train()
    for _ in range(steps):
        out = vq(z.t()[None].clone().requires_grad_())
        if opt is not None:
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    with torch.no_grad():
        codes = vq.eval()(z.t()[None]).codes
    return int(codes.unique().numel())


def test_a_badly_initialised_codebook_collapses_and_each_remedy_recovers_it():
    z = _clusters(16, 8)  # 16 clusters far from the initial codes in [-1/K, 1/K]
    torch.manual_seed(0)
    plain = VectorQuantizer(16, 2, dead_code_threshold=0.0)
    assert _train_codes_used(plain, z, 30) <= 2  # one code wins everything: collapse
    torch.manual_seed(0)
    kmeans = VectorQuantizer(16, 2, dead_code_threshold=0.0, kmeans_init=10)
    assert _train_codes_used(kmeans, z, 30) >= 12
    torch.manual_seed(0)
    restarts = VectorQuantizer(16, 2, dead_code_threshold=0.0, dead_code_steps=2)
    assert _train_codes_used(restarts, z, 60) >= 12
    torch.manual_seed(0)
    ema = VectorQuantizer(16, 2, ema=True, dead_code_threshold=0.0, kmeans_init=10)
    assert _train_codes_used(ema, z, 30) >= 12


def test_kmeans_init_finds_the_cluster_means_on_a_hand_case():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 2, dead_code_threshold=0.0, kmeans_init=5).train()
    z = torch.tensor([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0], [10.0, 11.0]])
    out = vq(z.t()[None].requires_grad_())
    book = sorted(vq.codebook.detach().tolist())
    assert book == [[0.0, 0.5], [10.0, 10.5]]
    assert bool(vq.initialised)
    assert out.codes[0, 0] == out.codes[0, 1] != out.codes[0, 2] == out.codes[0, 3]
    before = vq.codebook.detach().clone()
    with torch.no_grad():
        vq(z.t()[None] + 100)  # no gradient: no update, and the initialisation runs once only
    assert torch.equal(vq.codebook.detach(), before)


def test_kmeans_init_runs_only_in_training_and_survives_a_checkpoint():
    vq = VectorQuantizer(4, 2, kmeans_init=3)
    before = vq.codebook.detach().clone()
    vq.eval()(torch.randn(1, 2, 9) + 5)
    assert torch.equal(vq.codebook.detach(), before) and not bool(vq.initialised)
    vq.train()(torch.randn(1, 2, 9).requires_grad_() + 5)
    assert bool(vq.initialised)
    again = VectorQuantizer(4, 2, kmeans_init=3)
    again.load_state_dict(vq.state_dict())
    assert bool(again.initialised) and torch.equal(again.codebook, vq.codebook)


def test_ema_step_with_decay_zero_is_the_closed_form_mean():
    torch.manual_seed(3)
    vq = VectorQuantizer(5, 3, ema=True, decay=0.0, eps=1e-12, dead_code_threshold=0.0).train()
    z = torch.randn(1, 3, 40) * 2
    codes = vq.nearest(z[0].t())
    before = vq.codebook.clone()
    vq(z)
    flat = z[0].t()
    for k in range(5):
        mine = codes == k
        want = flat[mine].mean(0) if mine.any() else torch.zeros(3)  # empty: sum 0, count 0
        if mine.any():
            assert torch.allclose(vq.codebook[k], want, atol=1e-5)
    assert not torch.equal(vq.codebook, before)


def test_idle_codes_restart_after_exactly_n_steps():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 2, dead_code_threshold=0.0, dead_code_steps=3).train()
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [50.0, 50.0], [60.0, 60.0]]))
    z = torch.tensor([[0.1, 0.0], [0.9, 1.0]]).t()[None]  # only codes 0 and 1 win
    for step in range(1, 4):
        vq(z.clone().requires_grad_())
        moved = (vq.codebook[2:].detach() < 10).all()
        assert bool(moved) == (step == 3)  # idle for 3 steps: moved to a batch vector
    for row in vq.codebook[2:].detach():
        assert (z[0].t() == row).all(1).any()
    assert vq.idle_steps.tolist() == [0, 0, 0, 0]


def test_remedies_off_leave_output_and_gradients_as_before():
    torch.manual_seed(7)
    z = torch.randn(2, 4, 6, requires_grad=True)
    outs = []
    for kw in ({}, {"dead_code_steps": 0, "kmeans_init": 0}):
        torch.manual_seed(1)
        vq = VectorQuantizer(8, 4, dead_code_threshold=0.0, **kw).train()
        out = vq(z)
        (out.z_q.square().sum() + out.loss).backward()
        outs.append(
            (out.z_q.detach(), out.codes, out.loss.detach(), z.grad.clone(), vq.codebook.grad)
        )
        z.grad = None
    for a, b in zip(*outs):
        assert torch.equal(a, b)
    e = vq.codebook.detach()[outs[0][1]].movedim(-1, 1)  # the prototypes, straight through
    assert torch.equal(outs[0][0], e)


def test_an_old_checkpoint_without_the_new_buffers_loads():
    vq = VectorQuantizer(4, 2, kmeans_init=2)
    state = {k: v for k, v in vq.state_dict().items() if k not in ("idle_steps", "initialised")}
    vq.load_state_dict(state)
    assert bool(vq.initialised)  # a trained codebook is not re-initialised


def test_code_usage_counts_used_and_dead_codes():
    vq = VectorQuantizer(4, 2, dead_code_threshold=0.0, dead_code_steps=2)
    vq.idle_steps.copy_(torch.tensor([0, 1, 2, 5]))
    use = vq.code_usage(torch.tensor([[0, 0, 1, 0]]))
    assert float(use["codes_used"]) == 2 and float(use["used_fraction"]) == 0.5
    assert float(use["dead_codes"]) == 2
    p = torch.tensor([0.75, 0.25])
    assert float(use["perplexity"]) == pytest.approx(float(torch.exp(-(p * p.log()).sum())))


@pytest.mark.parametrize("bad", [{"kmeans_init": -1}, {"dead_code_steps": 1.5}])
def test_bad_options_are_refused(bad):
    with pytest.raises(ValueError, match="0 disables"):
        VectorQuantizer(4, 2, **bad)


def test_the_vqvae_logs_code_usage_and_reports_the_fraction():
    torch.manual_seed(0)
    spec = DataSpec("image", (1, 8, 8), levels=2)
    model = VQVAE(
        spec,
        num_codes=8,
        code_dim=4,
        hidden=8,
        res_channels=4,
        res_blocks=1,
        downsample=1,
        kmeans_init=3,
        dead_code_steps=5,
    )
    x = torch.randint(2, (4, 1, 8, 8))
    _, parts = model.train().loss(x)
    assert {"perplexity", "codes_used", "dead_codes"} <= set(parts)
    m = model.eval().extra_metrics(x)
    assert m["codes_used_fraction"] == m["codes_used"] / 8
