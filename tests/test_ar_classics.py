"""FVSBN, NADE and MADE: autoregressive for every mask and ordering, NADE's running sum equal
to its naive form, MADE's ensemble the mixture of its joints, samples from the model's own
distribution, and clear errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.models.fvsbn import FVSBN
from zoo.models.made import MADE
from zoo.models.nade import NADE

BIN = zoo.DataSpec("image", (1, 2, 3), 2)  # D = 6
TRI = zoo.DataSpec("image", (3, 1, 1), 3)  # D = 3, three levels


def _dependencies(model, mask_index: int) -> torch.Tensor:
    """``[D_out, D_in]`` bool: does output column d depend on input j (Jacobian nonzero)?"""
    u = torch.randn(1, model.D)
    jac = torch.autograd.functional.jacobian(lambda v: model.params(v, mask_index)[0], u)
    return (jac[:, :, 0, :].abs() > 0).any(0)  # [P, D, 1, D] -> [D, D]


@settings(max_examples=25)
@given(
    seed=st.integers(0, 10**6),
    hidden=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    order=st.sampled_from(["natural", "random"]),
    masks=st.integers(1, 4),
    head=st.sampled_from(["auto", "logistic"]),
    direct=st.booleans(),
)
def test_every_made_mask_is_autoregressive_in_its_ordering(
    seed, hidden, order, masks, head, direct
):
    torch.manual_seed(seed)
    model = MADE(
        TRI, hidden=hidden, num_masks=masks, order=order, seed=seed, head=head, direct=direct
    )
    if direct:  # the direct map starts at zero: give it weights to see through
        with torch.no_grad():
            model.direct.weight.normal_()
    for m in range(masks):
        pos = torch.empty(model.D, dtype=torch.long)
        pos[model.order(m)] = torch.arange(model.D)  # position of each dimension
        allowed = pos[None, :] < pos[:, None]  # [d, j]: j comes before d
        dep = _dependencies(model, m)
        assert not (dep & ~allowed).any(), f"mask {m}: an output sees a later input"


def test_fvsbn_and_nade_are_autoregressive_in_raster_order():
    torch.manual_seed(0)
    for model in (FVSBN(BIN), NADE(BIN, hidden=5)):
        with torch.no_grad():
            for p in model.parameters():
                p.normal_()
        dep = _dependencies(model, 0)
        assert torch.equal(dep, torch.tril(torch.ones(6, 6, dtype=torch.bool), -1))


@settings(max_examples=20)
@given(
    seed=st.integers(0, 10**6), hidden=st.integers(1, 9), head=st.sampled_from(["auto", "logistic"])
)
def test_nade_running_sum_equals_the_naive_forward(seed, hidden, head):
    torch.manual_seed(seed)
    model = NADE(TRI, hidden=hidden, head=head)
    u = torch.rand(4, 3) * 2 - 1
    torch.testing.assert_close(model.params(u), model.params_naive(u), atol=1e-5, rtol=1e-5)


@settings(max_examples=20)
@given(
    seed=st.integers(0, 10**6),
    hidden=st.integers(1, 9),
    block=st.integers(1, 8),
    head=st.sampled_from(["auto", "logistic"]),
    levels=st.sampled_from([2, 3]),
)
def test_nade_block_fast_path_equals_the_running_sum_values_and_gradients(
    seed, hidden, block, head, levels
):
    """The blocked forward with its hand-written backward (what training uses) gives the
    running sum's log-probabilities to 1e-6 and the same gradients, for every block size
    (including ones that do not divide D) and in the inputs too."""
    from zoo.nn.nade import nade_params

    torch.manual_seed(seed)
    spec = zoo.DataSpec("image", (1, 1, 7), levels)
    model = NADE(spec, hidden=hidden, head=head).double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    x = torch.randint(levels, (5, 1, 1, 7))
    u = model.inputs(x).double().requires_grad_()

    def grads(fn):
        out = fn()
        nll = -model.head.log_prob(out, x.reshape(5, 1, -1)).flatten(1).sum(1)
        gs = torch.autograd.grad(nll.sum(), [u, *model.parameters()])
        return nll.detach(), gs

    fast = grads(lambda: nade_params(u, model.W, model.c, model.V, model.b, block=block))
    slow = grads(lambda: model.params_running_sum(u))
    torch.testing.assert_close(fast[0], slow[0], atol=1e-6, rtol=0)
    for a, b in zip(fast[1], slow[1]):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(model.log_prob(x), slow[0].neg(), atol=1e-6, rtol=1e-6)


def test_nade_default_block_above_a_batch_of_256_is_the_running_sum_too():
    from zoo.nn.nade import nade_params

    torch.manual_seed(0)
    m = NADE(zoo.DataSpec("image", (1, 1, 11), 2), hidden=5).double()
    u = (torch.rand(257, 11) < 0.5).double()  # the default takes blocks of 4 here
    torch.testing.assert_close(
        nade_params(u, m.W, m.c, m.V, m.b), m.params_running_sum(u), atol=1e-9, rtol=0
    )


def test_nade_block_fast_path_rejects_a_bad_block():
    from zoo.nn.nade import nade_params

    m = NADE(TRI, hidden=3)
    with pytest.raises(ValueError, match="block"):
        nade_params(torch.zeros(1, 3), m.W, m.c, m.V, m.b, block=0)


def _all(spec):
    return torch.tensor(list(itertools.product(range(spec.levels), repeat=spec.D))).reshape(
        -1, *spec.shape
    )


def test_made_ensemble_is_the_mixture_of_the_joints_never_averaged_conditionals():
    torch.manual_seed(1)
    model = MADE(TRI, hidden=[7], num_masks=3, order="random", seed=3).eval()
    x = _all(TRI)
    joints = torch.stack([model.joint(x, m) for m in range(3)])
    want = torch.logsumexp(joints, 0) - math.log(3)
    torch.testing.assert_close(model.log_prob(x), want)
    with torch.no_grad():
        total = float(torch.logsumexp(model.log_prob(x).double(), 0).exp())
    assert total == pytest.approx(1, abs=1e-5)
    # averaging the conditionals across orderings would not even be normalised
    avg = joints.mean(0)
    assert float(torch.logsumexp(avg.double(), 0).exp()) < 1 - 1e-3
    one = MADE(TRI, hidden=[7], num_masks=3, ensemble=1, order="random", seed=3)
    one.load_state_dict(model.state_dict())
    torch.testing.assert_close(one.log_prob(x), joints[0])


def test_made_trains_its_masks_in_turn():
    model = MADE(TRI, hidden=[5], num_masks=3, order="random", seed=0)
    x = _all(TRI)[:5]
    for step in range(6):
        model.set_step(step)
        loss, _ = model.loss(x)
        torch.testing.assert_close(loss, -model.joint(x, step % 3).mean())


@pytest.mark.parametrize(
    "model",
    [
        lambda: NADE(TRI, hidden=4),
        lambda: FVSBN(TRI),
        lambda: MADE(TRI, hidden=[6], num_masks=2, order="random", seed=5),
        lambda: MADE(TRI, hidden=[6], num_masks=2, order="random", seed=5, direct=True),
    ],
    ids=["nade", "fvsbn", "made-ensemble", "made-direct"],
)
def test_samples_follow_the_models_own_distribution(model):
    torch.manual_seed(0)
    m = model()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 1.5)
    x = _all(TRI)
    p = m.log_prob(x).exp()
    n = 6000
    draws = m.sample(n, generator=torch.Generator().manual_seed(0))
    index = (draws.reshape(n, 3) * torch.tensor([9, 3, 1])).sum(1)
    freq = torch.bincount(index, minlength=27).double() / n
    # every cell within 4.5 standard errors of its probability
    se = (p * (1 - p) / n).sqrt().double() + 1e-4
    assert ((freq - p.double()).abs() <= 4.5 * se).all()


def test_bad_options_are_clear():
    with pytest.raises(zoo.ZooInputError, match="ensemble"):
        MADE(TRI, hidden=[4], num_masks=2, ensemble=3)
    with pytest.raises(zoo.ZooInputError, match="order"):
        MADE(TRI, hidden=[4], order="backwards")
    with pytest.raises(zoo.ZooInputError, match="direct"):
        MADE(TRI, hidden=[4], direct="yes")
    with pytest.raises(zoo.ZooInputError, match="hidden layer"):
        MADE(TRI, hidden=[])
    with pytest.raises(ValueError, match="head"):
        NADE(TRI, head="logistic_mixture")


def test_an_unknown_sampling_option_is_a_zoo_input_error():
    from zoo.core.spec import DataSpec
    from zoo.errors import ZooInputError
    from zoo.models.fvsbn import FVSBN

    model = FVSBN(DataSpec("image", (1, 2, 2), levels=2))
    with pytest.raises(ZooInputError, match="unknown sampling options"):
        model.sample(1, top_k=3)
