"""Lossless compression with the zoo's exact models: a log-likelihood made a file size.

``compress(run, inputs, out)`` / ``decompress(archive, out)`` (the ``zoo compress`` and
``zoo decompress`` commands); :mod:`zoo.coding.conditionals` holds every exact family's
stepper, :mod:`zoo.coding.coder` the entropy coder and the one function that turns model
outputs into coder input, :mod:`zoo.coding.container` the archive format.
"""

from zoo.coding.api import compress, decompress

__all__ = ["compress", "decompress"]
