"""Analysis of representations against phone alignments: plain numpy/torch functions.

Nothing here knows about runs, models or files: ``abx`` (ZeroSpeech-style ABX phone
discrimination), ``codes`` (VQ codes against frame phone labels) and ``features`` (MFCC and
log-mel baselines, frame phone labels). Experiments and probes import them.
"""
