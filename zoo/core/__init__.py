"""The spine of the zoo: the contract, the units, the registry, training and evaluation."""

from zoo.core.contract import ESTIMATES, LikelihoodModel
from zoo.core.spec import DataSpec

__all__ = ["DataSpec", "ESTIMATES", "LikelihoodModel"]
