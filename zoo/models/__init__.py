"""One file per family; each class is a zoo.core.LikelihoodModel. Build them through the
registry (``zoo.create_model``) or import them directly."""
