"""The bottom layer: what a model is. DataSpec (spec), the LikelihoodModel contract and its hooks
(contract), argument checks (validation) and units (metrics); imports nothing above it."""

from zoo.core.contract import ESTIMATES, LikelihoodModel
from zoo.core.spec import DataSpec

__all__ = ["DataSpec", "ESTIMATES", "LikelihoodModel"]
