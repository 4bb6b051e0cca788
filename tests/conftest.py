"""Shared test set-up: a private leaderboard and runs folder per test session, few threads."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)  # tests are many and small: avoid oversubscribing 2 cores
# train.compile="auto" would compile the conv families' objectives (a slow start per model):
# the suite trains eagerly; tests/test_compiling.py checks the compiled path on its own
os.environ["ZOO_COMPILE"] = "0"

settings.register_profile("zoo", deadline=None, max_examples=25, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "zoo"))

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("ZOO_LEADERBOARD", str(base / "leaderboard.db"))
    monkeypatch.setenv("ZOO_RUNS", str(base / "runs"))
    monkeypatch.setenv(
        "XDG_CACHE_HOME", os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    )
    yield


@pytest.fixture
def free_port() -> str:
    """A TCP port nothing listens on now, for a gloo rendezvous (a fixed one clashes with
    another suite running on the same host)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])
