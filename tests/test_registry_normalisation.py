"""Every registry entry is a normalised distribution: on tiny spaces, sum_x p(x) = 1.

Each entry is built on tiny specs of every modality its class models (a 2x3 binary image, a
length-4 sequence over 3 symbols), with the entry's tiny-build overrides (tests/tiny_builds.py),
and log_prob is evaluated on every possible input: exact models must sum to 1, bounds to at
most 1.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from tiny_builds import TINY_BUILDS, tiny_overrides

import zoo
from zoo.engine.registry import check_hparams, entries

TINY = {
    "image": zoo.DataSpec("image", (1, 2, 3), levels=2, labels={"class": 2}, name="tiny"),
    "text": zoo.DataSpec(
        "text", (4,), levels=3, vocab=("</s>", "<unk>", "a"), eos=0, unk=1, name="tiny"
    ),
    "audio": zoo.DataSpec(
        "audio", (4,), levels=3, sample_rate=8000, labels={"speaker": 2}, name="tiny"
    ),
}


def _cases():
    for name, entry in sorted(entries().items()):
        try:
            cls = entry.model_class()
        except Exception as e:  # noqa: BLE001 - reported as a failing case below
            yield pytest.param(
                name,
                None,
                id=f"{name}-import",
                marks=pytest.mark.xfail(reason=f"class does not import: {e}", strict=True),
            )
            continue
        for modality in cls.modalities:
            yield pytest.param(name, modality, id=f"{name}-{modality}")


def test_every_registry_entry_has_a_tiny_build_and_every_tiny_build_an_entry():
    names = set(entries())
    assert names - set(TINY_BUILDS) == set(), "add them to tests/tiny_builds.py"
    assert set(TINY_BUILDS) - names == set(), "entries gone from registry.yaml"
    for name, overrides in TINY_BUILDS.items():  # overrides name real hyper-parameters
        check_hparams(entries()[name].model_class(), overrides, name)


def all_inputs(spec: zoo.DataSpec) -> torch.Tensor:
    values = list(itertools.product(range(spec.levels), repeat=spec.D))
    return torch.tensor(values, dtype=torch.long).reshape(-1, *spec.shape)


@pytest.mark.parametrize("name, modality", list(_cases()))
def test_entry_sums_to_one_over_a_tiny_space(name, modality):
    torch.manual_seed(0)
    spec = TINY[modality]
    model = zoo.create_model(name, spec, **tiny_overrides(name))
    x = all_inputs(spec)
    if model.count_based:
        model.fit([(x[torch.randperm(len(x))[:20]], {})])
    model.eval()
    cond = {label: torch.zeros(len(x), dtype=torch.long) for label in spec.labels}
    with torch.no_grad():
        lp = model.log_prob(x, cond=cond).double()
    assert lp.shape == (len(x),)
    assert torch.isfinite(lp).all()
    total = float(torch.logsumexp(lp, 0).exp())
    if model.estimate == "exact":
        assert total == pytest.approx(1.0, abs=2e-4), f"{name}: sum_x p(x) = {total}"
    else:
        assert total <= 1.0 + 2e-3, f"{name}: a lower bound summed to {total} > 1"
