"""Where zoo keeps what it writes: one user folder, each part overridable.

=======================  ===========================================  =====================
what                     default                                      override
=======================  ===========================================  =====================
zoo's home               ``$XDG_CACHE_HOME/zoo`` (``~/.cache/zoo``)   ``$ZOO_HOME``
run folders              ``HOME/runs/NAME-TIME-ID``                   ``$ZOO_RUNS``,
                                                                      ``--run-dir``
a suite's runs           ``HOME/runs/bench-SUITE``                    ``zoo bench --runs``
a suite's report         ``HOME/reports/SUITE``                       ``zoo bench --report``
the leaderboard          ``HOME/leaderboard.db``                      ``$ZOO_LEADERBOARD``,
                                                                      ``--db``
caches (synthesised      ``HOME`` itself (``spoken_digits_*.npz``)    ``$ZOO_CACHE``
speech)
real data sets           a checkout's ``../shared/datasets``, else    ``$ZOO_DATA``
                         ``$XDG_DATA_HOME/zoo/datasets``
                         (``~/.local/share/zoo/datasets``)
=======================  ===========================================  =====================

``HOME`` is zoo's home. A specific override wins over ``$ZOO_HOME``, which wins over the XDG
default, so ``ZOO_HOME=/scratch/zoo`` moves everything but the data sets at once. Nothing
here makes a folder: the code that writes a file makes its folder when it writes.
"""

from __future__ import annotations

import os
from pathlib import Path


def _env(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def zoo_home() -> Path:
    """``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    home = _env("ZOO_HOME")
    if home is not None:
        return home
    return (_env("XDG_CACHE_HOME") or Path.home() / ".cache") / "zoo"


def runs_root() -> Path:
    """The folder new run folders go in: ``$ZOO_RUNS``, else ``HOME/runs``."""
    return _env("ZOO_RUNS") or zoo_home() / "runs"


def reports_root() -> Path:
    """The folder suite reports go in: ``HOME/reports``."""
    return zoo_home() / "reports"


def leaderboard_path() -> Path:
    """The default leaderboard: ``$ZOO_LEADERBOARD``, else ``HOME/leaderboard.db``."""
    return _env("ZOO_LEADERBOARD") or zoo_home() / "leaderboard.db"


def cache_dir() -> Path:
    """Caches (synthesised data sets): ``$ZOO_CACHE``, else ``HOME``."""
    return _env("ZOO_CACHE") or zoo_home()
