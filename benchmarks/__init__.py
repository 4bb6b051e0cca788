"""Speed, size and accuracy benchmarks: ``python -m benchmarks.<name>``.

Each prints ours, the peer's figure and the ratio, with a one-line summary last, and writes
``benchmarks/results/<name>.json``. Absolute speeds are from the machine they ran on (stated
in the JSON); ratios are measured in one run.
"""
