"""The normalising flow (zoo.models.flow, zoo.nn.coupling): invertible layers with exact
log-determinants, a density that integrates to 1 over [0, K)^D, and dequantisation bounds
below the discrete log P(x), checked against numerical integration on tiny spaces."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd.functional import jacobian

import zoo
from zoo.engine.evaluator import evaluate  # noqa: F401 - the evaluator's seeding is used below
from zoo.models.flow import Flow, _logistic_log_prob
from zoo.nn.coupling import (
    ActNorm,
    AffineCoupling,
    FlowSequence,
    InvConv1x1,
    channel_mask,
    checkerboard_mask,
    squeeze,
    unsqueeze,
)


def _randomise(module: torch.nn.Module, scale: float = 0.3, seed: int = 0) -> None:
    """Move every parameter off its initial value (couplings start as the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


def _layers(c: int = 2, h: int = 2, w: int = 3) -> dict[str, torch.nn.Module]:
    return {
        "actnorm": ActNorm(c),
        "invconv": InvConv1x1(c),
        "checkerboard": AffineCoupling(checkerboard_mask(c, h, w, 0), 8),
        "checkerboard_odd": AffineCoupling(checkerboard_mask(c, h, w, 1), 8, blocks=2),
        "channel": AffineCoupling(channel_mask(c, h, w, 1), 8),
        "sequence": FlowSequence(
            [ActNorm(c), InvConv1x1(c), AffineCoupling(checkerboard_mask(c, h, w, 0), 8)]
        ),
    }


@pytest.mark.parametrize("name", list(_layers()))
def test_layer_inverts_and_its_logdet_is_the_jacobians(name):
    torch.manual_seed(0)
    layer = _layers()[name].double().eval()
    _randomise(layer)
    x = torch.randn(3, 2, 2, 3, dtype=torch.double)
    z, logdet = layer(x)
    assert logdet.shape == (3,)
    assert torch.allclose(layer.inverse(z), x, atol=1e-5)
    for i in range(3):
        jac = jacobian(lambda v: layer(v.reshape(1, 2, 2, 3))[0].reshape(-1), x[i].reshape(-1))
        assert float(logdet[i]) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-6)


def test_conditional_coupling_inverts_given_the_same_condition():
    layer = AffineCoupling(checkerboard_mask(1, 4, 4, 0), 8, cond_channels=3).double()
    _randomise(layer)
    x, cond = torch.randn(2, 1, 4, 4).double(), torch.randn(2, 3, 4, 4).double()
    z, _ = layer(x, cond)
    assert torch.allclose(layer.inverse(z, cond), x, atol=1e-6)


def test_squeeze_round_trips_and_is_a_permutation():
    x = torch.arange(2 * 3 * 4 * 6).reshape(2, 3, 4, 6).float()
    s = squeeze(x)
    assert s.shape == (2, 12, 2, 3)
    assert torch.equal(unsqueeze(s), x)
    assert torch.equal(s.flatten().sort().values, x.flatten())  # log-det 0
    assert torch.equal(s[0, :4, 0, 0], torch.tensor([0.0, 1.0, 6.0, 7.0]))  # one 2x2 block


def test_actnorm_initialises_from_the_first_training_batch():
    layer = ActNorm(3)
    x = torch.randn(64, 3, 4, 4) * torch.tensor([0.5, 2.0, 7.0])[:, None, None] + 3.0
    z, logdet = layer.train()(x)
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)
    assert bool(layer.initialized)
    z2, _ = layer(x * 10)  # initialised once only
    assert torch.allclose(z2, (x * 10 + layer.bias) * layer.log_scale.exp())
    assert float(logdet[0]) == pytest.approx(16 * float(layer.log_scale.sum()), rel=1e-6)


def _model(shape=(1, 1, 2), levels=3, **kw) -> Flow:
    spec = zoo.DataSpec("image", shape, levels=levels, name="tiny")
    torch.manual_seed(0)
    model = Flow(spec, **{"scales": 2, "steps": 2, "hidden": 8, **kw}).double().eval()
    _randomise(model, 0.4)
    return model


@pytest.mark.parametrize("invconv", [False, True])
def test_whole_flow_inverts_and_its_density_is_base_plus_jacobian(invconv):
    model = _model((2, 4, 4), levels=5, invconv=invconv)
    t = torch.rand(2, 2, 4, 4, dtype=torch.double) * 4.9 + 0.05
    z0 = torch.log(t) - torch.log(5 - t)
    outs, _ = model.flow(z0)
    assert torch.allclose(model.flow.inverse(outs), z0, atol=1e-5)
    for i in range(2):

        def latents(v):
            o, _ = model.flow(torch.log(v) - torch.log(5 - v))
            return torch.cat([a.reshape(-1) for a in o])

        jac = jacobian(lambda v: latents(v.reshape(1, 2, 4, 4)), t[i].reshape(-1))
        base = _logistic_log_prob(latents(t[i : i + 1]).reshape(1, -1))
        want = float(base) + float(torch.linalg.slogdet(jac)[1])
        assert float(model.density_log_prob(t[i : i + 1])) == pytest.approx(want, abs=1e-6)


def _integrate(model: Flow, x: torch.Tensor, grid: int = 120) -> tuple[torch.Tensor, ...]:
    """Midpoint rule over the unit cell of each x (D = 2): P(x) and E_u log p(x + u)."""
    mid = (torch.arange(grid, dtype=torch.double) + 0.5) / grid
    u = torch.cartesian_prod(mid, mid).reshape(-1, *x.shape[1:])  # [G^2, 1, 1, 2]
    probs, means = [], []
    with torch.no_grad():
        for xi in x:
            lp = model.density_log_prob(xi.double() + u)
            probs.append(torch.logsumexp(lp, 0) - math.log(len(lp)))
            means.append(lp.mean())
    return torch.stack(probs), torch.stack(means)


def test_density_integrates_to_one_and_the_uniform_bound_is_below_log_p():
    model = _model()
    x = torch.tensor(list(itertools.product(range(3), repeat=2))).reshape(9, 1, 1, 2)
    log_p, jensen = _integrate(model, x)
    assert float(torch.logsumexp(log_p, 0).exp()) == pytest.approx(1.0, abs=2e-3)
    assert (jensen < log_p - 1e-3).all()  # a strict gap: the density is not flat in a cell
    torch.manual_seed(1)
    with torch.no_grad():
        draws = torch.stack([model.log_prob(x) for _ in range(400)])  # [400, 9]
    se = draws.std(0) / 20
    assert ((draws.mean(0) - jensen).abs() < 4 * se).all()  # log_prob estimates E_u log p
    assert float(torch.logsumexp(jensen, 0).exp()) <= 1.0


def test_untrained_flow_is_the_uniform_distribution():
    spec = zoo.DataSpec("image", (1, 4, 4), levels=7, name="tiny")
    for dq in ("uniform", "variational"):
        model = Flow(spec, scales=2, steps=2, hidden=8, invconv=True, dequantization=dq).eval()
        x = torch.randint(0, 7, (5, 1, 4, 4))
        assert torch.allclose(model.log_prob(x), torch.full((5,), -16 * math.log(7)), atol=1e-4)


def test_variational_bound_is_below_log_p_and_importance_weighting_tightens_it():
    model = _model(dequantization="variational", dq_hidden=8)
    x = torch.tensor(list(itertools.product(range(3), repeat=2))).reshape(9, 1, 1, 2)
    log_p, _ = _integrate(model, x)
    torch.manual_seed(2)
    with torch.no_grad():
        k1 = torch.stack([model.log_prob(x) for _ in range(300)]).mean(0)
        k16 = torch.stack([model.log_prob(x, k=16) for _ in range(60)]).mean(0)
    assert (k1 < log_p).all()
    assert (k16 < log_p + 2e-3).all()
    assert (k16 > k1).all()
    assert float((log_p - k16).mean()) < float((log_p - k1).mean()) / 2


def test_importance_weighting_tightens_the_uniform_bound():
    model = _model()
    x = torch.tensor(list(itertools.product(range(3), repeat=2))).reshape(9, 1, 1, 2)
    log_p, _ = _integrate(model, x)
    torch.manual_seed(3)
    with torch.no_grad():
        k1 = torch.stack([model.log_prob(x) for _ in range(300)]).mean(0)
        k32 = torch.stack([model.log_prob(x, k=32) for _ in range(60)]).mean(0)
    assert (k1 < k32).all() and (k32 < log_p + 2e-3).all()


def test_log_prob_is_reproducible_under_the_evaluators_seeding():
    model = _model((1, 4, 4), levels=17, dequantization="variational")
    x = torch.randint(0, 17, (6, 1, 4, 4))
    torch.manual_seed(5)
    a = model.log_prob(x, k=3)
    torch.manual_seed(5)
    b = model.log_prob(x, k=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, model.log_prob(x, k=3))  # a fresh draw differs


@settings(max_examples=15)
@given(
    c=st.integers(1, 3),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    levels=st.sampled_from([2, 5, 256]),
    scales=st.integers(1, 3),
    invconv=st.booleans(),
)
def test_any_image_shape_scores_finitely_inverts_and_samples_in_range(
    c, h, w, levels, scales, invconv
):
    spec = zoo.DataSpec("image", (c, h, w), levels=levels, name="tiny")
    torch.manual_seed(0)
    model = Flow(spec, scales=scales, steps=2, hidden=4, invconv=invconv).eval()
    _randomise(model, 0.2)
    x = torch.randint(0, levels, (3, c, h, w))
    assert torch.isfinite(model.log_prob(x)).all()
    z0 = torch.randn(3, c, h, w)
    assert torch.allclose(model.flow.inverse(model.flow(z0)[0]), z0, atol=1e-5)
    s = model.sample(7, generator=torch.Generator().manual_seed(1))
    assert s.shape == (7, c, h, w) and s.dtype == torch.long
    assert int(s.min()) >= 0 and int(s.max()) < levels


def test_samples_follow_the_model_on_a_tiny_space():
    model = _model().float()
    x = torch.tensor(list(itertools.product(range(3), repeat=2))).reshape(9, 1, 1, 2)
    log_p, _ = _integrate(model.double(), x)
    s = model.float().sample(20000, generator=torch.Generator().manual_seed(0))
    index = (s[:, 0, 0, 0] * 3 + s[:, 0, 0, 1]).bincount(minlength=9).double() / len(s)
    assert torch.allclose(index, log_p.exp(), atol=0.015)


def test_training_lowers_the_bound_and_bad_input_is_refused():
    spec = zoo.DataSpec("image", (1, 4, 4), levels=4, name="tiny")
    torch.manual_seed(0)
    model = Flow(spec, scales=2, steps=2, hidden=16)
    x = (torch.arange(16).reshape(1, 1, 4, 4) % 4).repeat(32, 1, 1, 1)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = float(model.loss(x)[0])
    for _ in range(60):
        loss, _ = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < first - 5.0
    with pytest.raises(zoo.ZooInputError):
        model.log_prob(torch.full((1, 1, 4, 4), 4))
    with pytest.raises(ValueError, match="dequantization"):
        Flow(spec, dequantization="gaussian")
