"""The engine: what turns a model class into results. registry (registry.yaml ->
create_model), checkpoint (run folders, zoo.load), trainer, evaluator, runs (train / eval /
sample a run folder) and device (devices, torchrun). Above zoo.models and zoo.data; nothing
below imports it."""
